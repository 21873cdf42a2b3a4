"""The production server: ``gunicorn --paste <ini>`` as production.ini documents it, as real processes on loopback.

Each test starts gunicorn from the project folder (so its gunicorn.conf.py reads the ini's
``[server:main]``) on an ini like production.ini, with a filter in front of the app that can hold a
request (tests/e2e/slow_filter.py), and checks what an operator relies on: the worker processes and
threads asked for, a crashed worker replaced, SIGTERM finishing the requests in flight.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from exams import gunicorn_config
from exams.adapters.sql.migrate import upgrade

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")]
ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_ini(tmp_path: Path, port: int, server: str) -> Path:
    from exams.adapters.tokens.access_tokens import generate_private_jwk

    db = tmp_path / "exams.db"
    upgrade(f"sqlite:///{db}")
    ini = tmp_path / "production.ini"
    ini.write_text(f"""
[pipeline:main]
pipeline = hold exams

[filter:hold]
use = call:tests.e2e.slow_filter:make_filter

[app:exams]
use = egg:exams
sqlalchemy.url = sqlite:///{db}
exams.jwt.secret_key = secret
exams.access_token.private_jwk = {json.dumps(generate_private_jwk())}
exams.expiry.sweep_interval = 0

[server:main]
use = egg:gunicorn#main
bind = 127.0.0.1:{port}
control_socket_disable = true
{server}
""")
    return ini


class Gunicorn:
    """``gunicorn --paste <ini>`` run from the project folder, as production.ini says."""

    def __init__(self, tmp_path: Path, server: str, env: dict | None = None):
        self.port = free_port()
        self.ini = write_ini(tmp_path, self.port, server)
        self.log = tmp_path / "gunicorn.log"
        environ = {k: v for k, v in os.environ.items() if k not in ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "PORT")}
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
        self.proc = subprocess.Popen([str(GUNICORN), "--paste", str(self.ini)], cwd=ROOT, env={**environ, **(env or {})},
                                     stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}/health/"

    def workers(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()] if path.exists() else []

    def wait_ready(self, workers: int) -> None:
        assert wait_until(lambda: len(self.workers()) == workers and get(self.url)[0] == 200), self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def get(url: str, hold: float | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"X-Test-Hold": str(hold)} if hold else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return response.status, dict(response.headers)


def wait_until(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def in_parallel(count: int, work) -> list:
    results: list = [None] * count

    def run(i):
        try:
            results[i] = work()
        except Exception as exc:  # reported by the assertion on the results
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.fixture
def gunicorn(tmp_path):
    started = []

    def start(server: str, env: dict | None = None) -> Gunicorn:
        started.append(Gunicorn(tmp_path, server, env))
        return started[-1]

    yield start
    for g in started:
        g.stop()


def test_the_ini_sets_the_workers_and_a_dead_worker_is_replaced(gunicorn):
    server = gunicorn("workers = 2\nworker_class = gthread\nthreads = 2")
    server.wait_ready(workers=2)
    first, second = server.workers()
    os.kill(first, signal.SIGKILL)
    assert wait_until(lambda: first not in server.workers() and len(server.workers()) == 2), server.output()
    assert second in server.workers()
    assert wait_until(lambda: all(get(server.url)[0] == 200 for _ in range(10)))
    served_by = {get(server.url, hold=0.01)[1]["X-Test-Pid"] for _ in range(20)}
    assert served_by <= {str(pid) for pid in server.workers()}


def test_each_worker_serves_as_many_requests_at_once_as_it_has_threads(gunicorn):
    # The environment overrides the ini (GUNICORN_CMD_ARGS, as a container would set it).
    server = gunicorn("workers = 3\nworker_class = gthread\nthreads = 1", env={"GUNICORN_CMD_ARGS": "--workers 1 --threads 3"})
    server.wait_ready(workers=1)
    results = in_parallel(4, lambda: get(server.url, hold=1.5))
    assert all(isinstance(r, tuple) and r[0] == 200 for r in results), results
    assert len({r[1]["X-Test-Thread"] for r in results}) == 3  # three threads, the fourth request waited for one
    assert max(int(r[1]["X-Test-Peak"]) for r in results) == 3


def test_sigterm_finishes_the_requests_in_flight_then_stops(gunicorn):
    server = gunicorn("workers = 2\nworker_class = gthread\nthreads = 2\ngraceful_timeout = 20")
    server.wait_ready(workers=2)
    workers = server.workers()
    results: list = []
    held = threading.Thread(target=lambda: results.append(get(server.url, hold=2)))
    held.start()
    time.sleep(0.7)  # the request is in a worker now
    began = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    held.join(30)
    assert results and results[0][0] == 200, server.output()
    assert server.proc.wait(25) == 0
    assert time.monotonic() - began >= 1.0  # it waited for the request rather than cutting it off
    assert not any(Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
                   for pid in workers)
    with pytest.raises(urllib.error.URLError):
        get(server.url)


def test_production_ini_names_only_gunicorn_settings():
    settings = gunicorn_config._server_settings(["gunicorn", "--paste", str(ROOT / "production.ini")])
    scope: dict = {}
    gunicorn_config._apply(settings, scope, {})
    assert scope["bind"] == "0.0.0.0:18740"
    assert {"workers", "worker_class", "threads", "graceful_timeout"} <= set(scope)


def test_the_environment_wins_over_the_ini_and_a_wrong_key_is_one_clear_line():
    scope: dict = {}
    gunicorn_config._apply({"bind": "0.0.0.0:1", "workers": "4", "threads": "2"}, scope,
                           {"WEB_CONCURRENCY": "8", "PORT": "9000"})
    assert scope == {"threads": "2"}  # gunicorn takes workers and bind from WEB_CONCURRENCY and PORT
    scope = {}
    gunicorn_config._apply({"host": "127.0.0.1", "port": "7000"}, scope, {})
    assert scope == {"bind": "127.0.0.1:7000"}
    with pytest.raises(SystemExit, match="threadz is not a gunicorn setting"):
        gunicorn_config._apply({"threadz": "2"}, {}, {})
    assert gunicorn_config._paste_file(["gunicorn", "--paste=x.ini", "-w", "2"]) == "x.ini"
    assert gunicorn_config._paste_file(["gunicorn", "app:wsgi"]) is None
