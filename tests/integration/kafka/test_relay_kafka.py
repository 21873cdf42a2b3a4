"""The relay with exams.event_bus.backend = kafka: outbox rows reach the Kafka topic, and are marked published
with their ``partition:offset``; a registry outage leaves them waiting (event-bus.md §4.4)."""

from __future__ import annotations

import pytest
from dependency_injector import providers
from webtest import TestApp

from exams.units import build_relay
from exams.ports.events import EXAM_ATTEMPT_SUBMITTED
from tests.conftest import app_settings
from tests.integration.events.flows import course_key, learner, reach, register
from tests.integration.events.test_relay import rows
from tests.integration.kafka.conftest import confluent_kafka

if confluent_kafka is not None:
    from exams.adapters.lms.kafka_bus import KafkaEventBus
    from exams.adapters.lms.wire import kafka_headers

TOPIC = "dev-learning-exam-attempt-lifecycle"


@pytest.fixture(scope="module")
def kafka_app(database_url, clock, kafka_cluster, registry_server):
    """The app as deployed with the Kafka backend (no relay thread: the tests drive the relay)."""
    from exams import settings as settings_module
    from exams.app import main
    from exams.container import build_container

    raw = app_settings(database_url, **{
        "exams.event_bus.backend": "kafka", "exams.event_bus.topic_prefix": "dev",
        "exams.event_bus.kafka.bootstrap_servers": kafka_cluster.bootstrap_servers,
        "exams.event_bus.kafka.schema_registry_url": registry_server.url})
    container = build_container(settings_module.load(raw, environ={}))
    container.clock.override(providers.Object(clock))
    app = main({}, container=container, **raw)
    app.container = container
    return app


@pytest.fixture
def app(kafka_app, registry, clock, db):
    clock.reset()
    kafka_app.container.event_bus.reset()  # a fresh bus: nothing registered or remembered
    return TestApp(kafka_app)


def test_the_relay_publishes_outbox_rows_to_kafka_and_records_partition_and_offset(app, engine, kafka_cluster,
                                                                                   registry):
    reach(app, "submitted", register(app, course_key("K")), learner(1))
    relay = build_relay(app.app.container)

    result = relay.tick()

    assert result.leader and result.published == 1
    [row] = rows(engine)
    assert row.published_at is not None and row.event_type == EXAM_ATTEMPT_SUBMITTED
    partition, offset = map(int, row.broker_msg_id.split(":"))
    record = kafka_cluster.read(TOPIC, partition, offset)
    value_id = registry.subjects[f"{TOPIC}-{EXAM_ATTEMPT_SUBMITTED}.CloudEvent"][0]
    assert record.value() == b"\x00" + value_id.to_bytes(4, "big") + row.message.value
    assert record.key()[5:] == bytes([2 * len(course_key("K"))]) + course_key("K").encode()
    assert record.headers() == kafka_headers(row.message)
    assert dict(record.headers())["ce_id"] == row.event_id.encode()
    assert relay.tick().published == 0  # nothing twice


def test_a_registry_outage_leaves_the_row_unpublished_until_the_registry_is_back(app, engine, kafka_cluster,
                                                                                 registry, clock):
    reach(app, "submitted", register(app, course_key("K")), learner(1))
    registry.outage = True
    relay = build_relay(app.app.container)

    result = relay.tick()

    assert result.failed == 1 and result.bus_unavailable and result.published == 0
    [row] = rows(engine)
    assert row.published_at is None and row.broker_msg_id is None and not row.dead
    assert row.attempts == 1 and "schema registry" in row.last_error
    registry.outage = False
    clock.advance(minutes=10)
    assert relay.tick().published == 1
    [row] = rows(engine)
    assert row.published_at is not None and ":" in row.broker_msg_id


def test_the_container_builds_the_kafka_bus_for_backend_kafka(app):
    bus = app.app.container.event_bus()
    assert isinstance(bus, KafkaEventBus) and bus.stream_for("learning-exam-attempt-lifecycle") == TOPIC
