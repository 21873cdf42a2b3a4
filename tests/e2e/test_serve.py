"""The pre-forking runner (``python -m exams.serve``): real worker processes on a loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from exams.adapters.sql.migrate import upgrade
from exams.serve import bind, parse_listen

pytestmark = pytest.mark.e2e
SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_listen_setting_names_host_and_port():
    assert parse_listen({"listen": "127.0.0.1:18740"}) == ("127.0.0.1", 18740)
    assert parse_listen({"listen": "[::1]:9000"}) == ("::1", 9000)
    assert parse_listen({"host": "0.0.0.0", "port": "6543"}) == ("0.0.0.0", 6543)


def test_a_bad_or_double_listen_setting_stops_the_runner():
    with pytest.raises(SystemExit):
        parse_listen({"listen": "127.0.0.1:http"})
    with pytest.raises(SystemExit):
        parse_listen({"listen": "127.0.0.1:1 127.0.0.1:2"})


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_workers_can_each_listen_on_the_same_port():
    port = free_port()
    first = bind("127.0.0.1", port, 8, reuse_port=True)
    second = bind("127.0.0.1", port, 8, reuse_port=True)
    try:
        assert first.getsockname() == second.getsockname()
    finally:
        first.close()
        second.close()


def write_ini(tmp_path: Path, port: int) -> Path:
    from exams.adapters.tokens.access_tokens import generate_private_jwk

    db = tmp_path / "exams.db"
    upgrade(f"sqlite:///{db}")
    ini = tmp_path / "serve.ini"
    ini.write_text(f"""
[app:main]
use = egg:exams
sqlalchemy.url = sqlite:///{db}
exams.jwt.secret_key = secret
exams.access_token.private_jwk = {json.dumps(generate_private_jwk())}

[server:main]
use = egg:waitress#main
listen = 127.0.0.1:{port}
threads = 2
""")
    return ini


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status


def wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_the_runner_serves_with_several_workers_replaces_a_dead_one_and_stops_on_sigterm(tmp_path):
    port = free_port()
    ini = write_ini(tmp_path, port)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    runner = subprocess.Popen([sys.executable, "-m", "exams.serve", str(ini), "--workers", "2"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        health = f"http://127.0.0.1:{port}/health/"
        assert wait_until(lambda: len(children_of(runner.pid)) == 2 and get(health) == 200)
        first, _ = children_of(runner.pid)
        os.kill(first, signal.SIGKILL)
        assert wait_until(lambda: first not in children_of(runner.pid) and len(children_of(runner.pid)) == 2)
        assert wait_until(lambda: all(get(health) == 200 for _ in range(10)))
        workers = children_of(runner.pid)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(15) == 0
        assert not any(Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
                       for pid in workers)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
