"""A Kafka cluster and a Confluent Schema Registry the Kafka event-bus tests can run against, all on loopback.

* ``kafka_cluster``: librdkafka's built-in mock cluster (``test.mock.num.brokers``), kept alive by a holder
  producer for the session. Its brokers listen on a loopback port that any other client (our producer, a test
  consumer) reaches through ``bootstrap.servers``, like a real broker. No Kafka broker is packaged for Debian;
  the mock speaks the Kafka protocol, idempotent producers included.
* ``registry``: a fake Schema Registry (``POST /subjects/<subject>/versions``, ``GET /schemas/ids/<id>``,
  ``GET /subjects``) in a thread; it can be switched to answer 503 (an outage) or refuse a subject with 409.

If confluent-kafka is not installed (``pip install -e '.[kafka]'``), every test here is skipped loudly.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from urllib.parse import unquote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

try:
    import confluent_kafka
except ImportError:  # pragma: no cover - the testing extra installs it
    confluent_kafka = None

MISSING_MESSAGE = ("!!! confluent-kafka NOT INSTALLED: the Kafka event-bus tests were SKIPPED. "
                   "Install it with pip install -e '.[kafka]'. !!!")


def pytest_terminal_summary(terminalreporter):
    if confluent_kafka is None:
        terminalreporter.write_sep("!", MISSING_MESSAGE, red=True, bold=True)


class FakeSchemaRegistry:
    """The part of the Confluent Schema Registry REST API a serializer and a deserializer use.

    Like the real one, registering a schema string already known gets its existing id, in any subject.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.schemas: dict[int, dict] = {}  # id -> {"schema": str, "schemaType": ...}
        self.subjects: dict[str, list[int]] = {}  # subject -> ids, by version
        self.requests: list[tuple[str, str]] = []
        self.outage = False
        self.refuse: set[str] = set()  # subjects answered with 409 (incompatible)
        self.next_id = 100  # not 1: a test cannot pass by luck with the first id

    def reset(self) -> None:
        with self.lock:
            self.schemas.clear()
            self.subjects.clear()
            self.requests.clear()
            self.outage = False
            self.refuse.clear()

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        with self.lock:
            self.requests.append((method, path))
            status, body = self._answer(method, path, environ)
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/vnd.schemaregistry.v1+json"),
                                ("Content-Length", str(len(payload)))])
        return [payload]

    def _answer(self, method, path, environ):
        if self.outage:
            return "503 Service Unavailable", {"error_code": 50301, "message": "registry is down"}
        match = re.fullmatch(r"/subjects/([^/]+)/versions", path)
        if method == "POST" and match:
            subject = unquote(match.group(1))
            if subject in self.refuse:
                return "409 Conflict", {"error_code": 409, "message": "Schema being registered is incompatible"}
            length = int(environ.get("CONTENT_LENGTH") or 0)
            request = json.loads(environ["wsgi.input"].read(length))
            schema = {"schema": request["schema"]}
            if request.get("schemaType", "AVRO") != "AVRO":
                schema["schemaType"] = request["schemaType"]
            schema_id = next((i for i, s in self.schemas.items() if s == schema), None)
            if schema_id is None:
                schema_id = self.next_id
                self.next_id += 1
                self.schemas[schema_id] = schema
            versions = self.subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
            return "200 OK", {"id": schema_id}
        match = re.fullmatch(r"/schemas/ids/(\d+)", path)
        if method == "GET" and match and int(match.group(1)) in self.schemas:
            return "200 OK", self.schemas[int(match.group(1))]
        if method == "GET" and path == "/subjects":
            return "200 OK", sorted(self.subjects)
        return "404 Not Found", {"error_code": 40403, "message": f"not found: {method} {path}"}

    def schema_of(self, subject: str) -> str:
        return self.schemas[self.subjects[subject][-1]]["schema"]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadingServer(WSGIServer):
    daemon_threads = True


@pytest.fixture(scope="session")
def registry_server():
    registry = FakeSchemaRegistry()
    server = make_server("127.0.0.1", 0, registry, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    registry.url = f"http://127.0.0.1:{server.server_port}"
    yield registry
    server.shutdown()
    server.server_close()


@pytest.fixture
def registry(registry_server):
    """The fake registry, empty and answering."""
    registry_server.reset()
    return registry_server


class MockCluster:
    """librdkafka's mock cluster, alive as long as its holder producer."""

    def __init__(self):
        found: list[str] = []

        class Catch(logging.Handler):
            def emit(self, record):
                match = re.search(r"Mock cluster enabled.*replaced with (\S+)", record.getMessage())
                if match:
                    found.append(match.group(1))

        logger = logging.getLogger("tests.kafka.mock_cluster")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        logger.addHandler(Catch())
        self._holder = confluent_kafka.Producer({"test.mock.num.brokers": 1, "logger": logger})
        deadline = time.monotonic() + 10
        while not found and time.monotonic() < deadline:
            self._holder.poll(0.05)
        if not found:
            raise RuntimeError("librdkafka did not report the mock cluster's address")
        self.bootstrap_servers = found[0].rstrip(",")

    def read(self, topic: str, partition: int, offset: int, timeout: float = 10.0):
        """The message at ``partition:offset`` of ``topic``, read by a consumer of its own (no group)."""
        consumer = confluent_kafka.Consumer({"bootstrap.servers": self.bootstrap_servers, "group.id": "tests",
                                             "enable.auto.commit": False})
        try:
            consumer.assign([confluent_kafka.TopicPartition(topic, partition, offset)])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                message = consumer.poll(0.2)
                if message is None:
                    continue
                if message.error():
                    raise RuntimeError(message.error().str())
                return message
            raise AssertionError(f"nothing at {topic} {partition}:{offset}")
        finally:
            consumer.close()

    def close(self):
        self._holder.flush(1)
        self._holder = None


@pytest.fixture(scope="session")
def kafka_cluster():
    if confluent_kafka is None:
        pytest.skip(MISSING_MESSAGE)
    cluster = MockCluster()
    yield cluster
    cluster.close()
