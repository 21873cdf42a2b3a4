#!/usr/bin/env python3
"""The service's own cost per request, without a server: WSGI calls in one thread, on the bench's database.

    .venv/bin/python bench/inprocess.py                         # SQLite, latest, 1,000 learners
    .venv/bin/python bench/inprocess.py --scenario student_exam --requests 20000
    .venv/bin/python bench/inprocess.py --url postgresql+psycopg://...  # an empty database of yours (it is reset)
    .venv/bin/python bench/inprocess.py --profile out.pstats    # cProfile of the timed loop

What bench/run.py calls "the service" minus the HTTP server: the same ini settings (production.ini's, as
bench/run.py writes them), the same seed and the same learners' tokens, each request another learner's.
It prints CPU microseconds per request for the service and for the floor app (bench/floor.py) measured
the same way, so that the in-process gap can be compared with the gap over HTTP.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import run  # noqa: E402  (bench/run.py: seed, ini, paths)


def environ_for(path: str, token: str) -> dict:
    from webob import Request

    return Request.blank(path, headers={"Authorization": f"JWT {token}", "Origin": "http://apps.bench"}).environ


def timed(app, environs: list[dict], requests: int) -> float:
    """CPU seconds per request of ``requests`` WSGI calls cycling through ``environs``."""
    def start_response(status, headers, exc_info=None):
        if not status.startswith("2"):
            raise RuntimeError(status)

    n = len(environs)
    began = time.process_time()
    for i in range(requests):
        environ = dict(environs[i % n])
        for _ in app(environ, start_response):
            pass
    return (time.process_time() - began) / requests


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=tuple(run.PATHS), default="latest")
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                        help="a SQLite file, or a throwaway PostgreSQL server as bench/run.py starts one")
    parser.add_argument("--url", help="a database URL to reset and seed instead")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the service's timed loop")
    args = parser.parse_args(argv)

    os.environ["EXAMS_EXPIRY_SWEEP_INTERVAL"] = "0"
    workdir = Path(tempfile.mkdtemp(prefix="exams-inprocess."))
    postgres = None
    if args.url:
        url = args.url
    elif args.backend == "postgresql":
        postgres = run.PostgresServer(workdir)
        postgres.start()
        url = postgres.url
    else:
        url = f"sqlite:///{workdir / 'exams.db'}"
    try:
        return measure(args, workdir, url)
    finally:
        if postgres is not None:
            postgres.stop()


def measure(args, workdir: Path, url: str) -> int:
    run.reset_database(url)
    data = run.seed(url, total_attempts=args.learners, learners=args.learners, idle_exams=0)
    ini = workdir / "bench.ini"
    server_args = argparse.Namespace(server="gunicorn", workers=1, threads=1, worker_class="sync")
    run.write_ini(ini, url, 8000, server_args)

    from pyramid.paster import get_app

    from floor import main as floor_main

    app = get_app(str(ini), "main")
    floor = floor_main({})
    environs = [environ_for(run.PATHS[args.scenario], token) for token in data["held_tokens"]]
    # Every learner once: the steady state after it (users known, tokens verified). What that first pass
    # costs is a learner's first request to a process (the token's signature checked, the user looked up).
    cold_cost = timed(app, environs, len(environs))
    timed(floor, environs, 1000)
    floor_cost = timed(floor, environs, args.requests)
    if args.profile:
        profiler = cProfile.Profile(time.process_time)  # CPU time: waiting for the database is not ours
        profiler.enable()
    service_cost = timed(app, environs, args.requests)
    if args.profile:
        profiler.disable()
        profiler.dump_stats(args.profile)
    print(f"{args.scenario}: service {service_cost * 1e6:.0f} us/request, floor {floor_cost * 1e6:.0f} us/request "
          f"(in-process, one thread, {args.requests:,} requests, {len(environs):,} learners, {url.split(':')[0]}); "
          f"a learner's first request {cold_cost * 1e6:.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
