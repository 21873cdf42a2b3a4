"""A real, throw-away ``redis-server`` on a free loopback port for the Redis event-bus tests.

Started once per session in a temp dir with persistence off and stopped (by its pid) at the end. If the
``redis-server`` binary is missing, every test here is skipped with a loud reason; install it with
``apt-get install -y redis-server`` (or set ``REDIS_SERVER_BIN``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

REDIS_SERVER_BIN = os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server")
MISSING_MESSAGE = (
    "!!! redis-server NOT FOUND: the Redis event-bus integration tests were SKIPPED. "
    "Install it (apt-get install -y redis-server) or set REDIS_SERVER_BIN. !!!"
)


def pytest_report_header(config):
    if not REDIS_SERVER_BIN:
        return MISSING_MESSAGE
    return f"redis-server: {REDIS_SERVER_BIN}"


def pytest_terminal_summary(terminalreporter):
    if not REDIS_SERVER_BIN:
        terminalreporter.write_sep("!", MISSING_MESSAGE, red=True, bold=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """Yield the ``redis://`` URL of a fresh server; stop it afterwards."""
    if not REDIS_SERVER_BIN:
        pytest.skip(MISSING_MESSAGE)
    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [REDIS_SERVER_BIN, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--logfile", str(workdir / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)
    deadline = time.monotonic() + 15
    try:
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (workdir / "redis.log").read_text() if (workdir / "redis.log").exists() else ""
                    raise RuntimeError(f"redis-server did not start on port {port}:\n{log}")
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def redis_client(redis_server):
    """A binary-safe client on an emptied database."""
    client = redis.Redis.from_url(redis_server, socket_timeout=10, decode_responses=False)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def closed_port_client():
    """A client pointing at a port nothing listens on."""
    client = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5,
                         retry=Retry(NoBackoff(), 0))  # fail at once instead of redis-py's default retries
    yield client
    client.close()
