#!/usr/bin/env python3
"""Benchmark the learner hot paths of the exams service over real HTTP.

For each database backend (PostgreSQL, SQLite) and each database size, this script:
  1. creates a fresh database (a throwaway PostgreSQL server of its own, as scripts/test starts one;
     a SQLite file), migrates it and seeds it: N learners holding started attempts at one proctored
     exam, submitted attempts at other exams up to the size asked for, learners for the flows;
  2. starts the service as a real server process on 127.0.0.1 with production-like settings (gunicorn,
     as production.ini runs it), and the floor (bench/floor.py: a bare Pyramid app answering fixed JSON
     of the same shape) with the same server and settings;
  3. drives them with wrk (each request carries another learner's LMS JWT) for a fixed time per scenario,
     floor and service taking turns (--rounds), so that both see the same machine:
       latest        GET /api/v1/exams/attempt/latest
       latest_poll   GET /api/v1/exams/attempt/latest?content_id=<usage key>   (the MFE's once-a-minute poll)
       student_exam  GET /api/v1/student/exam/attempt/course_id/<c>/content_id/<u>
       flow          POST /api/v1/exams/attempt (start_clock=true), then PUT .../<id> {"action": "submit"}
  4. prints requests/s, p50/p99 latency, errors, peak server memory, SQL statements per request and
     CPU per request, then the service/floor ratios of requests/s and of server CPU per request.

It sets itself up (project virtualenv, wrk and PostgreSQL from Debian where missing) and stops by
itself; all traffic stays on the loopback interface.

    python3 bench/run.py                        # everything, defaults below (about 8 minutes)
    python3 bench/run.py --backends postgresql --sizes 100000 --scenarios latest --duration 30
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from urllib.parse import quote
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("EXAMS_VENV", ROOT / ".venv"))
HERE = Path(__file__).resolve().parent

SCENARIOS = ("latest", "latest_poll", "student_exam", "flow")
BACKENDS = ("postgresql", "sqlite")

JWT_SECRET = "bench-secret-shared-with-the-lms"
JWT_ISSUER = "http://lms.bench/oauth2"
JWT_AUDIENCE = "lms-key"
COURSE_ID = "course-v1:bench+B101+2024"
HOT_CONTENT = "block-v1:bench+B101+2024+type@sequential+block@hot0000000000000000000000000"
# production.ini's server model (docs/performance.md: how it was chosen).
DEFAULT_WORKER_CLASS = "gthread"
DEFAULT_THREADS = 2


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        usage="python3 bench/run.py [--backends postgresql sqlite] [--sizes 1000 100000] [--learners 10000] "
              "[--scenarios latest latest_poll student_exam flow] [--duration 15] [--workers 2] [--threads 1] "
              "[--connections 8] [--server gunicorn|pserve] [--worker-class sync|gthread] [--rounds 2] [--json FILE]",
        description="Start the service on PostgreSQL and SQLite, seed learners holding started attempts and drive "
                    "the Learning MFE's hot paths with wrk for a fixed time; print requests/s, p50/p99 latency, "
                    "errors and peak server memory.")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 100000], metavar="ATTEMPTS",
                        help="total attempts in the database, one fresh database each (default: 1000 100000)")
    parser.add_argument("--learners", type=int, default=10000,
                        help="learners holding a started attempt; capped by the size (default: 10000)")
    parser.add_argument("--idle-exams", type=int, default=0,
                        help="extra exams (with no attempts) in other courses, to show the cost of many exams")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--duration", type=float, default=15, help="seconds of load per scenario (default: 15)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of unmeasured load first (default: 3)")
    parser.add_argument("--warmup-passes", type=int, default=6,
                        help="and until each server has answered every learner's token this many times over: its "
                             "workers' caches in the steady state (default: 6; 0: seconds only)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default: 8)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads for the GET scenarios (default: 2)")
    parser.add_argument("--flow-connections", type=int, default=8,
                        help="concurrent learners in the flow scenario (default: 8)")
    parser.add_argument("--server", choices=("gunicorn", "pserve"), default="gunicorn",
                        help="gunicorn: `gunicorn --paste` as production.ini runs it; pserve: one waitress process "
                             "(default: gunicorn)")
    parser.add_argument("--workers", type=int, default=0, help="gunicorn worker processes (default: cores)")
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default=DEFAULT_WORKER_CLASS,
                        help=f"gunicorn worker class (default: {DEFAULT_WORKER_CLASS})")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"threads per server process (default: {DEFAULT_THREADS})")
    parser.add_argument("--rounds", type=int, default=2,
                        help="floor and service take turns this many times per scenario (default: 2)")
    parser.add_argument("--no-floor", action="store_true", help="measure the service only")
    parser.add_argument("--json", metavar="FILE", help="also write every result as JSON lines to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, logs)")
    parser.add_argument("--profile", metavar="DIR",
                        help="record a py-spy flame graph (SVG) of the server during each scenario into DIR")
    parser.add_argument("--profile-format", choices=("flamegraph", "raw", "speedscope"), default="flamegraph",
                        help="py-spy's output: an SVG, or collapsed stacks (raw) to read with bench/stacks.py")
    return parser.parse_args(argv)


# -- set-up -----------------------------------------------------------------------------------
def in_project_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def bootstrap(argv) -> None:
    """Create the virtualenv, install wrk and PostgreSQL where missing, and re-run inside the venv."""
    setup = 'source scripts/lib.sh && ensure_venv && { command -v wrk >/dev/null || apt_install wrk; }'
    if "postgresql" in argv or "--backends" not in argv:
        setup += ' && { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql; }'
    subprocess.run(["bash", "-c", setup], cwd=ROOT, check=True)
    if not in_project_venv():
        python = str(VENV / "bin" / "python")
        os.execv(python, [python, str(Path(__file__).resolve()), *argv])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


class PostgresServer:
    """A throwaway PostgreSQL server in a temporary folder, as an unprivileged user (like scripts/test)."""

    def __init__(self, workdir: Path):
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        if not bins:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = bins[-1]
        self.dir = Path(tempfile.mkdtemp(prefix="exams-bench-pg.", dir=workdir))
        self.port = free_port()
        self.run_as: list[str] = []
        if os.getuid() == 0:
            user = "postgres"
            if subprocess.run(["id", user], capture_output=True).returncode != 0:
                user = "exams-pg"
                if subprocess.run(["id", user], capture_output=True).returncode != 0:
                    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                                   check=True)
            shutil.chown(self.dir, user)
            os.chmod(workdir, 0o755)
            self.run_as = ["runuser", "-u", user, "--"]
        self.url = f"postgresql+psycopg://exams@127.0.0.1:{self.port}/exams_bench"
        # Durable commits as in production (fsync and synchronous_commit on); memory for a 24 GB machine.
        self.options = ("-c listen_addresses=127.0.0.1 -p {port} -k {dir} -c max_connections=200 "
                        "-c shared_buffers=512MB -c effective_cache_size=4GB -c work_mem=8MB "
                        "-c wal_buffers=16MB -c checkpoint_timeout=15min -c max_wal_size=4GB").format(
                            port=self.port, dir=self.dir)

    def _run(self, *args, **kw):
        return subprocess.run([*self.run_as, *args], check=True, stdout=subprocess.DEVNULL, **kw)

    def start(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "exams", "--auth=trust", "-E", "UTF8")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w",
                  "-o", self.options, "start")
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "exams", "exams_bench")

    def version(self) -> str:
        return subprocess.run([str(self.bin / "postgres"), "--version"], capture_output=True, text=True).stdout.strip()

    def settings(self) -> dict:
        names = ("shared_buffers", "effective_cache_size", "work_mem", "max_connections", "fsync",
                 "synchronous_commit", "wal_buffers", "max_wal_size", "checkpoint_timeout")
        from sqlalchemy import create_engine, text
        engine = create_engine(self.url)
        with engine.connect() as conn:
            values = {name: conn.execute(text(f"SHOW {name}")).scalar_one() for name in names}
        engine.dispose()
        return values

    def pids(self) -> list[int]:
        try:
            postmaster = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return process_tree(postmaster)

    def stop(self) -> None:
        subprocess.run([*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -- data -------------------------------------------------------------------------------------
def sign_token(username: str, user_id: int, ttl: int = 6 * 3600) -> str:
    from exams.adapters.tokens.lms_jwt import sign_hs256

    now = int(time.time())
    return sign_hs256({"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "iat": now, "exp": now + ttl,
                       "preferred_username": username, "user_id": user_id, "administrator": False,
                       "email": f"{username}@example.com", "version": "1.2.0", "is_restricted": False},
                      JWT_SECRET)


def reset_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    from exams.adapters.sql.migrate import upgrade

    upgrade(url)


def seed(url: str, *, total_attempts: int, learners: int, idle_exams: int, flow_learners: int = 2000,
         flow_exams: int = 20) -> dict:
    """Fill a migrated database; return what the load needs (tokens, paths, exam ids) and the counts."""
    from sqlalchemy import func, insert, select, text

    from exams.adapters.sql import tables as t
    from exams.adapters.sql.session import make_engine

    rng = random.Random(42)
    now = datetime.now(timezone.utc)
    held = min(learners, total_attempts)
    extra = total_attempts - held
    extra_exams = math.ceil(extra / held) if extra else 0
    engine = make_engine(url)

    def rows(chunked, size=5000):
        for i in range(0, len(chunked), size):
            yield chunked[i:i + size]

    with engine.begin() as conn:
        provider_id = conn.execute(insert(t.providers).values(
            name="bench_lti", verbose_name="Bench Proctoring", lti_configuration_id="1",
            tech_support_email="support@proctor.bench", tech_support_phone="+1 555 0100",
            tech_support_url="https://proctor.bench/help", created=now, modified=now)).inserted_primary_key[0]
        conn.execute(insert(t.course_configs).values(course_id=COURSE_ID, provider_id=provider_id,
                                                     escalation_email="escalate@bench.test", allow_opt_out=False,
                                                     created=now, modified=now))

        def add_exam(course_id, content_id, exam_type, minutes, provider=None):
            return conn.execute(insert(t.exams).values(
                resource_id=str(uuid.UUID(int=rng.getrandbits(128))), course_id=course_id, content_id=content_id,
                provider_id=provider, exam_name=f"Exam {content_id[-6:]}", exam_type=exam_type,
                time_limit_mins=minutes, due_date=None, hide_after_due=False, is_active=True,
                created=now, modified=now)).inserted_primary_key[0]

        hot_exam = add_exam(COURSE_ID, HOT_CONTENT, "proctored", 600, provider_id)
        other_exams = [add_exam(COURSE_ID, f"block-v1:bench+B101+2024+type@sequential+block@old{i:06d}", "timed", 60)
                       for i in range(extra_exams)]
        flow_exam_ids = [add_exam(COURSE_ID, f"block-v1:bench+B101+2024+type@sequential+block@flow{i:05d}",
                                  "timed", 90) for i in range(flow_exams)]
        for i in range(idle_exams):
            course = f"course-v1:other+C{i // 20:04d}+2024"
            add_exam(course, f"block-v1:other+C{i // 20:04d}+2024+type@sequential+block@idle{i:06d}", "timed", 60)

        def user(username, lms_id):
            return dict(username=username, email=f"{username}@example.com", full_name="", lms_user_id=lms_id,
                        is_staff=False, is_active=True, anonymous_user_id=str(uuid.UUID(int=rng.getrandbits(128))),
                        created=now, modified=now)

        learner_rows = [user(f"learner{i:06d}", 100000 + i) for i in range(learners)]
        flow_rows = [user(f"flow{i:06d}", 900000 + i) for i in range(flow_learners)]
        for chunk in rows(learner_rows + flow_rows):
            conn.execute(insert(t.users), chunk)
        ids = dict(conn.execute(select(t.users.c.username, t.users.c.id)).all())

        attempt_rows = []
        for i in range(held):
            start = now - timedelta(minutes=rng.uniform(0, 60))
            attempt_rows.append(dict(user_id=ids[f"learner{i:06d}"], exam_id=hot_exam, attempt_number=1,
                                     status="started", start_time=start, end_time=None, allowed_time_limit_mins=600,
                                     deadline=start + timedelta(minutes=600), created=start, modified=start))
        for j in range(extra):
            exam_id = other_exams[j // held]
            start = now - timedelta(days=rng.uniform(1, 300))
            status = rng.choice(("submitted", "submitted", "verified", "rejected", "timed_out", "created"))
            done = status != "created"
            attempt_rows.append(dict(user_id=ids[f"learner{j % held:06d}"], exam_id=exam_id, attempt_number=1,
                                     status=status, start_time=start if done else None,
                                     end_time=start + timedelta(minutes=50) if done else None,
                                     allowed_time_limit_mins=60 if done else None,
                                     deadline=start + timedelta(minutes=60) if done else None,
                                     created=start, modified=start))
        for chunk in rows(attempt_rows):
            conn.execute(insert(t.attempts), chunk)
        counts = {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                  for name, table in (("learners", t.users), ("exams", t.exams), ("attempts", t.attempts))}
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()
    engine.dispose()
    return {
        "counts": counts,
        "held_tokens": [sign_token(f"learner{i:06d}", 100000 + i) for i in range(held)],
        "flow_tokens": [sign_token(f"flow{i:06d}", 900000 + i) for i in range(flow_learners)],
        "flow_exams": flow_exam_ids,
        "hot_exam": hot_exam,
    }


# -- the server -------------------------------------------------------------------------------
def server_section(args, port: int) -> str:
    if args.server == "pserve":
        return f"""[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{port}
threads = {args.threads}
"""
    return f"""[server:main]
use = egg:gunicorn#main
bind = 127.0.0.1:{port}
workers = {args.workers or os.cpu_count() or 1}
worker_class = {args.worker_class}
threads = {args.threads}
control_socket_disable = true
"""


def write_floor_ini(path: Path, port: int, args) -> None:
    path.write_text(f"""\
# Written by bench/run.py: the floor (bench/floor.py), served as the service is.
[app:main]
use = call:floor:main

{server_section(args, port)}
{LOGGING}""")


def write_ini(path: Path, url: str, port: int, args) -> None:
    from exams.adapters.tokens.access_tokens import generate_private_jwk

    path.write_text(f"""\
# Written by bench/run.py: production.ini's settings, on loopback, with the bench's own secrets.
[app:main]
use = egg:exams
sqlalchemy.url = {url}
exams.root_url = http://127.0.0.1:{port}
exams.lms_root_url = http://lms.bench
exams.learning_mfe_url = http://apps.bench/learning
exams.jwt.issuer = {JWT_ISSUER}
exams.jwt.audience = {JWT_AUDIENCE}
exams.jwt.secret_key = {JWT_SECRET}
exams.cors.origins = http://apps.bench
exams.cookies.secure = true
exams.access_token.issuer = http://127.0.0.1:{port}
exams.access_token.private_jwk = {json.dumps(generate_private_jwk())}
exams.expiry.sweep_interval = 60

{server_section(args, port)}
{LOGGING}""")


LOGGING = """\
[loggers]
keys = root, waitress_queue

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

# waitress warns "Task queue depth is N" whenever a request waits for a thread: under load that is
# one log line per request. (production.ini should silence it too.)
[logger_waitress_queue]
level = ERROR
handlers =
qualname = waitress.queue

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(asctime)s %(levelname)-5.5s [%(name)s:%(lineno)s][%(process)d] %(message)s
"""


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (and of their waited-for children)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:13])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLOCK_TICKS


def machine_cpu() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine since boot (all cores)."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


class Server:
    """The service (url given) or the floor (url None), as a real server process on a loopback port."""

    def __init__(self, workdir: Path, url: str | None, args):
        self.port = free_port()
        self.kind = "service" if url else "floor"
        self.ini = workdir / f"{'bench' if url else 'floor'}-{self.port}.ini"
        self.log = workdir / f"server-{self.port}.log"
        self.workdir = workdir
        if url:
            write_ini(self.ini, url, self.port, args)
        else:
            write_floor_ini(self.ini, self.port, args)
        if args.server == "pserve":
            self.cmd = [str(VENV / "bin" / "pserve"), str(self.ini)]
        else:
            # As production runs it; the bench's settings are in the ini's [server:main] (exams.gunicorn_config).
            self.cmd = [str(VENV / "bin" / "gunicorn"), "--paste", str(self.ini), "-c", "python:exams.gunicorn_config"]
        self.proc = None
        self.peak_rss = 0
        self.served = 0  # requests answered in warm-up runs: warm_up() reads it
        self._sampling = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
        env.pop("WEB_CONCURRENCY", None)
        env.pop("GUNICORN_CMD_ARGS", None)
        self.proc = subprocess.Popen(self.cmd, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=self.workdir, env=env)

        def healthy():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited; see {self.log}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.base + "/health/", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(healthy, 60, "the server to answer /health/")

    @contextmanager
    def measuring(self, others: dict[str, callable]):
        """Peak RSS of the server's processes, and CPU seconds used by it, by ``others`` and by the machine."""
        stop = threading.Event()
        sample = {"peak_rss_kib": 0}

        def loop():
            while not stop.is_set():
                sample["peak_rss_kib"] = max(sample["peak_rss_kib"], rss_kib(process_tree(self.proc.pid)))
                stop.wait(0.2)

        groups = {"server": lambda: process_tree(self.proc.pid), **others}
        before = {name: cpu_seconds(pids()) for name, pids in groups.items()}
        machine_before = machine_cpu()
        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield sample
        finally:
            stop.set()
            thread.join()
            sample["cpu_s"] = {name: cpu_seconds(pids()) - before[name] for name, pids in groups.items()}
            busy, total = (a - b for a, b in zip(machine_cpu(), machine_before))
            sample["cpu_s"]["machine_busy"] = busy
            sample["cpu_s"]["machine_total"] = total
            self.peak_rss = max(self.peak_rss, sample["peak_rss_kib"])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# -- load -------------------------------------------------------------------------------------
def run_wrk(server: Server, workdir: Path, *, mode: str, path: str, tokens: list[str], duration: float,
            threads: int, connections: int, exams: list[int] | None = None) -> dict:
    token_file = workdir / f"tokens-{mode}-{len(tokens)}.txt"
    if not token_file.exists():
        token_file.write_text("\n".join(tokens) + "\n")
    out = workdir / "wrk-out.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_MODE": mode, "BENCH_TOKENS": str(token_file), "BENCH_PATH": path,
           "BENCH_EXAMS": ",".join(map(str, exams or [])), "BENCH_OUT": str(out), "BENCH_THREADS": str(threads)}
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s",
           "--timeout", "5s", "-s", str(HERE / "load.lua"), server.base]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60)
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(f"wrk failed: {result.stdout}\n{result.stderr}")
    return json.loads(out.read_text())


def count_statements(ini: Path, requests: list[tuple[str, str, dict, bytes | None]]) -> list[int]:
    """SQL statements per request, counted in-process on the same database (the server's code path)."""
    from pyramid.paster import get_appsettings
    from sqlalchemy import event
    from webob import Request

    from exams import settings as settings_module
    from exams.app import main
    from exams.container import build_container

    # No expiry sweeper in this process: it would outlive the database.
    os.environ["EXAMS_EXPIRY_SWEEP_INTERVAL"] = "0"
    try:
        raw = dict(get_appsettings(str(ini), "main"))
        global_config = {"here": str(ini.parent), "__file__": str(ini)}
        container = build_container(settings_module.load(settings_module.resolve_paths(raw, str(ini.parent))))
        app = main(global_config, container=container, **raw)
    finally:
        del os.environ["EXAMS_EXPIRY_SWEEP_INTERVAL"]
    engine = container.engine()
    counter = [0]

    def on_execute(*_args):
        counter[0] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    out = []
    try:
        previous = {}
        if all(method == "GET" for method, *_ in requests):
            # Counted as in the steady state: this learner's user row is already known to the process.
            for method, path, headers, body in requests:
                Request.blank(path, method=method, headers=headers).get_response(app)
        for method, path, headers, body in requests:
            counter[0] = 0
            req = Request.blank(path.format(id=previous.get("exam_attempt_id")), method=method, headers=headers,
                                body=body)
            if body is not None:
                req.content_type = "application/json"
            response = req.get_response(app)
            if response.status_int >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {response.text}")
            previous = response.json if response.content_type == "application/json" else {}
            out.append(counter[0])
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        engine.dispose()
    return out


PATHS = {
    "latest": "/api/v1/exams/attempt/latest",
    "latest_poll": f"/api/v1/exams/attempt/latest?content_id={quote(HOT_CONTENT, safe='')}",
    "student_exam": f"/api/v1/student/exam/attempt/course_id/{COURSE_ID}/content_id/{HOT_CONTENT}",
}


def scenario_requests(name: str, data: dict) -> list:
    """One request of the scenario (one flow: its POST and its PUT), for counting statements."""
    if name != "flow":
        return [("GET", PATHS[name], {"Authorization": f"JWT {data['held_tokens'][0]}"}, None)]
    # The last (learner, exam) pair: wrk's flows would need 40,000 flows to reach it.
    headers = {"Authorization": f"JWT {data['flow_tokens'][-1]}"}
    body = json.dumps({"exam_id": data["flow_exams"][-1], "start_clock": "true"}).encode()
    return [("POST", "/api/v1/exams/attempt", headers, body),
            ("PUT", "/api/v1/exams/attempt/{id}", headers, b'{"action": "submit"}')]


@contextmanager
def profiling(server: Server, directory: str | None, label: str, duration: float, fmt: str = "flamegraph"):
    if not directory:
        yield
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    pids = process_tree(server.proc.pid)
    workers = pids[1:] or pids
    suffix = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}[fmt]
    spies = [subprocess.Popen([str(VENV / "bin" / "py-spy"), "record", "-p", str(pid), "-d", str(int(duration)),
                               "-r", "200", "--gil", "-f", fmt, "-o", str(Path(directory) / f"{label}-{pid}.{suffix}"), "--nonblocking"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in workers]
    try:
        yield
    finally:
        for spy in spies:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()


def measure(server: Server, workdir: Path, args, kw: dict, others: dict, label: str, base: dict) -> dict:
    """One wrk run against ``server``: the row that print_row() prints."""
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with server.measuring(others) as sample, profiling(server, args.profile, label, args.duration, args.profile_format):
        result = run_wrk(server, workdir, duration=args.duration, **kw)
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sample["cpu_s"]
    cpu["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
    seconds = result["duration_us"] / 1e6
    row = {
        **base, "requests": result["requests"],
        "rps": result["requests"] / seconds, "p50_ms": result["latency_us"]["p50"] / 1000,
        "p90_ms": result["latency_us"]["p90"] / 1000, "p99_ms": result["latency_us"]["p99"] / 1000,
        "max_ms": result["latency_us"]["max"] / 1000, "errors": sum(result["errors"].values()),
        "error_detail": result["errors"], "peak_rss_mib": sample["peak_rss_kib"] / 1024,
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_ms_per_request": {k: round(1000 * v / max(1, result["requests"]), 3) for k, v in cpu.items()
                               if k != "machine_total"},
        "machine_busy_pct": round(100 * cpu["machine_busy"] / max(cpu["machine_total"], 1e-9), 1),
        "other_cpu_pct": round(100 * (cpu["machine_busy"] - sum(v for k, v in cpu.items()
                                                                   if k not in ("machine_busy", "machine_total")))
                               / max(cpu["machine_total"], 1e-9) * (os.cpu_count() or 1), 1),
        "load_average": round(os.getloadavg()[0], 2),
        "server": args.server, "worker_class": args.worker_class if args.server == "gunicorn" else "waitress",
        "workers": 1 if args.server == "pserve" else (args.workers or os.cpu_count()),
        "threads": args.threads, "connections": kw["connections"], "duration_s": seconds,
    }
    if kw["mode"] == "flow":
        row["flows_per_s"] = result["flows_done"] / seconds
        row["flows_failed"] = result["flows_failed"]
    return row


def ratio_row(service: list[dict], floor: list[dict]) -> dict:
    """Service/floor over all rounds: requests/s and server CPU per request, from the summed counts."""
    def totals(rows):
        requests = sum(r["requests"] for r in rows)
        seconds = sum(r["duration_s"] for r in rows)
        server_cpu = sum(r["cpu_s"]["server"] for r in rows)
        db_cpu = sum(r["cpu_s"].get("postgresql", 0) for r in rows)
        return requests / seconds, 1000 * server_cpu / max(1, requests), 1000 * db_cpu / max(1, requests)

    s_rps, s_cpu, s_db = totals(service)
    f_rps, f_cpu, _ = totals(floor)
    first = service[0]
    return {"backend": first["backend"], "attempts": first["attempts"], "scenario": first["scenario"],
            "kind": "ratio", "service_rps": s_rps, "floor_rps": f_rps, "rps_ratio": s_rps / f_rps,
            "service_cpu_ms": s_cpu, "service_db_cpu_ms": s_db, "floor_cpu_ms": f_cpu, "cpu_ratio": s_cpu / f_cpu,
            "service_p99_ms": max(r["p99_ms"] for r in service), "floor_p99_ms": max(r["p99_ms"] for r in floor),
            "errors": sum(r["errors"] for r in service), "other_cpu_pct": max(r["other_cpu_pct"] for r in service + floor),
            "load_average": first["load_average"], "connections": first["connections"],
            "server": first["server"], "worker_class": first["worker_class"], "workers": first["workers"],
            "threads": first["threads"]}


def warm_up(server: Server, workdir: Path, args, kw: dict) -> None:
    """Unmeasured load before a read scenario: ``--warmup`` seconds, and more until the server has answered
    every learner's token ``--warmup-passes`` times over.

    A learner's first request to a worker costs about twice a later one (its token's signature checked,
    the learner looked up: ``bench/inprocess.py`` prints both), and which worker answers a request depends
    on the connection wrk sends it on, so a worker has seen a given token after a pass over the tokens with
    a probability of about 1 - 1/workers. With seconds alone, at 10,000 learners, some one measured request
    in six was still a worker's first of its learner (our estimate) and counted as the steady state. Each
    wrk run starts again at the first token, so the last warm-up run is long enough for all the passes.
    """
    result = run_wrk(server, workdir, duration=args.warmup, **kw)
    server.served += result["requests"]
    wanted = args.warmup_passes * len(kw["tokens"])
    if server.served < wanted:
        rate = result["requests"] / max(result["duration_us"] / 1e6, 1e-3)
        seconds = min(120.0, wanted / max(rate, 1.0))
        print(f"   warming up the {server.kind} for "
              f"{seconds:.0f} s ({args.warmup_passes} passes over {len(kw['tokens']):,} tokens)",
              file=sys.stderr, flush=True)
        server.served += run_wrk(server, workdir, duration=seconds, **kw)["requests"]


def bench_database(backend: str, url: str, size: int, args, workdir: Path, report, postgres=None) -> None:
    print(f"== {backend}: seeding {size:,} attempts ...", file=sys.stderr, flush=True)
    began = time.monotonic()
    reset_database(url)
    data = seed(url, total_attempts=size, learners=args.learners, idle_exams=args.idle_exams)
    counts = data["counts"]
    print(f"   seeded {counts} in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    server = Server(workdir, url, args)
    floor = None if args.no_floor else Server(workdir, None, args)
    server.start()
    if floor:
        floor.start()
    others = {"postgresql": postgres.pids} if postgres else {}
    try:
        for name in args.scenarios:
            if name == "flow":
                kw = dict(mode="flow", path="", tokens=data["flow_tokens"], exams=data["flow_exams"],
                          threads=args.flow_connections, connections=args.flow_connections)
            else:
                kw = dict(mode="get", path=PATHS[name], tokens=data["held_tokens"], threads=args.wrk_threads,
                          connections=args.connections)
            statements = "+".join(map(str, count_statements(server.ini, scenario_requests(name, data))))
            base = {"backend": backend, "attempts": counts["attempts"], "learners": counts["learners"],
                    "exams": counts["exams"], "scenario": name, "statements": statements}
            # The floor only for the reads (it has no flow), in turns with the service.
            targets = [("service", server)] if name == "flow" or floor is None else [("floor", floor), ("service", server)]
            if args.warmup and name != "flow":
                for _, target in targets:
                    warm_up(target, workdir, args, kw)
            rows: dict[str, list[dict]] = {"floor": [], "service": []}
            for round_ in range(1 if name == "flow" else max(1, args.rounds)):
                for kind, target in targets:
                    row = measure(target, workdir, args, kw, others if kind == "service" else {},
                                  f"{backend}-{size}-{name}-{kind}-{round_}",
                                  {**base, **({"backend": "floor", "statements": "0"} if kind == "floor" else {})})
                    row["kind"] = kind
                    rows[kind].append(row)
                    report(row)
                    if row["other_cpu_pct"] > 25:
                        print(f"   !! other processes used {row['other_cpu_pct']:.0f}% of a core during this run: "
                              "the machine was not quiet", file=sys.stderr, flush=True)
            if rows["floor"]:
                report(ratio_row(rows["service"], rows["floor"]))
    finally:
        server.stop()
        if floor:
            floor.stop()


def print_row(row: dict) -> None:
    if row.get("kind") == "ratio":
        print(f"{'RATIO':<10} {row['attempts']:>8,} attempts  {row['scenario']:<13} {row['backend']}/floor: "
              f"req/s {row['rps_ratio']:.2f}x ({row['service_rps']:,.0f} / {row['floor_rps']:,.0f})  "
              f"server CPU/req {row['cpu_ratio']:.2f}x ({row['service_cpu_ms']:.3f} / {row['floor_cpu_ms']:.3f} ms"
              f"{', db %.3f ms' % row['service_db_cpu_ms'] if row['service_db_cpu_ms'] else ''})  "
              f"p99 {row['service_p99_ms']:.1f} ms (floor {row['floor_p99_ms']:.1f})  errors {row['errors']}  "
              f"load avg {row['load_average']:.1f}", flush=True)
        return
    flows = f"  flows/s {row['flows_per_s']:7.1f}" if "flows_per_s" in row else ""
    statements = f"  sql/req {row['statements']}" if row.get("statements") is not None else ""
    cpu = row["cpu_ms_per_request"]
    statements += (f"  cpu ms/req: server {cpu['server']:.2f} db {cpu.get('postgresql', 0):.2f} wrk {cpu['wrk']:.2f}"
                   f"  others {row['other_cpu_pct']:.0f}% of a core")
    print(f"{row['backend']:<10} {row['attempts']:>8,} attempts  {row['scenario']:<13} "
          f"{row['rps']:8.1f} req/s  p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  "
          f"errors {row['errors']:<4} peak RSS {row['peak_rss_mib']:6.1f} MiB{statements}{flows}", flush=True)


def gunicorn_version() -> str:
    try:
        import gunicorn
        return gunicorn.__version__
    except ImportError:
        return "?"


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 "?")
    mem = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return f"{os.cpu_count()} cores ({model}), {mem / 1024 / 1024:.1f} GiB RAM"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    # Measure the code of this tree (and the server too, which inherits the environment), whatever
    # the virtualenv's editable install points at. A PYTHONPATH given by the caller wins.
    if not os.environ.get("PYTHONPATH"):
        os.environ["PYTHONPATH"] = str(ROOT / "src")
        if in_project_venv():
            os.execv(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv])
    if not in_project_venv() or not shutil.which("wrk"):
        bootstrap(argv)
    workdir = Path(tempfile.mkdtemp(prefix="exams-bench."))
    json_out = open(args.json, "a") if args.json else None
    import exams

    print(f"== code: {Path(exams.__file__).parent}", file=sys.stderr, flush=True)
    workers = 1 if args.server == "pserve" else (args.workers or os.cpu_count())
    model = f"gunicorn {gunicorn_version()} {args.worker_class}" if args.server == "gunicorn" else "pserve (waitress)"
    print(f"== machine: {machine()}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"server: {model}, {workers} process(es) x {args.threads} threads; wrk {args.connections} connections, "
          f"{args.duration:g} s per scenario, {args.rounds} rounds floor/service", file=sys.stderr, flush=True)

    def report(row):
        print_row(row)
        if json_out:
            json_out.write(json.dumps(row) + "\n")
            json_out.flush()

    postgres = None
    try:
        for backend in args.backends:
            if backend == "postgresql":
                postgres = PostgresServer(workdir)
                postgres.start()
                print(f"== {postgres.version()} on 127.0.0.1:{postgres.port}; {postgres.settings()}",
                      file=sys.stderr, flush=True)
                url = postgres.url
            for size in args.sizes:
                if backend == "sqlite":
                    url = f"sqlite:///{workdir / f'exams-{size}.db'}"
                bench_database(backend, url, size, args, workdir, report, postgres)
            if postgres:
                postgres.stop()
                postgres = None
    finally:
        if postgres:
            postgres.stop()
        if json_out:
            json_out.close()
        if args.keep:
            print(f"== kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
