"""Fixtures for the event-bus tests end to end: the app wired to a real Redis, and a Redis that can go away.

``redis_server``/``redis_client`` come from tests/integration/redis (one shared server for the session).
``broker`` is a server of the test's own, started with an append-only file so that it can be stopped and
started again on the same port without losing its streams (a broker outage), or frozen (a broker that hangs).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import redis
from dependency_injector import providers
from webtest import TestApp

from tests.conftest import app_settings
from tests.integration.redis.conftest import (MISSING_MESSAGE, REDIS_SERVER_BIN, free_port,  # noqa: F401
                                              redis_client, redis_server)

PREFIX = "dev"
EXAM_STREAM = f"{PREFIX}-learning-exam-attempt-lifecycle"
ROLE_STREAM = f"{PREFIX}-learning-course-access-role-lifecycle"


class RedisProcess:
    """A redis-server of our own on a fixed loopback port; its data survives a stop and start."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER_BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no",
             "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + 15
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.exceptions.BusyLoadingError:
                    time.sleep(0.02)
                except redis.exceptions.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server did not start on port {self.port}")
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Shut down (the append-only file keeps every stream for the next start)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def freeze(self) -> None:
        """The server stops answering but keeps its connections (a hung broker)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)

    def client(self, **kw) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=kw.pop("socket_timeout", 10), **kw)


@pytest.fixture(scope="module")
def broker_server(tmp_path_factory):
    if not REDIS_SERVER_BIN:
        pytest.skip(MISSING_MESSAGE)
    server = RedisProcess(tmp_path_factory.mktemp("broker"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker(broker_server):
    """This module's own Redis, running and empty; the test may stop, start, freeze and thaw it."""
    if broker_server.process is None:
        broker_server.start()
    broker_server.thaw()
    client = broker_server.client()
    client.flushall()
    client.close()
    return broker_server


def build_app(database_url: str, clock, redis_url: str, **overrides):
    """The WSGI app as deployed with a Redis event bus (no relay thread: tests drive the relay)."""
    from exams import settings as settings_module
    from exams.app import main
    from exams.container import build_container

    raw = app_settings(database_url, **{"exams.event_bus.backend": "redis", "exams.event_bus.redis_url": redis_url,
                                        "exams.event_bus.topic_prefix": PREFIX, **overrides})
    container = build_container(settings_module.load(raw, environ={}))
    container.clock.override(providers.Object(clock))
    app = main({}, container=container, **raw)
    app.container = container
    return app


@pytest.fixture(scope="module")
def apps(database_url, clock):
    """One app per Redis URL for the module (building one costs more than most tests here)."""
    built = {}

    def app_for(redis_url: str):
        if redis_url not in built:
            built[redis_url] = build_app(database_url, clock, redis_url)
        return built[redis_url]
    return app_for


@pytest.fixture
def shared_bus_app(apps, clock, redis_server, db):
    """A test app on the session's shared Redis."""
    clock.reset()
    return TestApp(apps(redis_server))


@pytest.fixture
def broker_app(apps, clock, broker, db):
    """A test app on this module's own, stoppable Redis."""
    clock.reset()
    return TestApp(apps(broker.url))
