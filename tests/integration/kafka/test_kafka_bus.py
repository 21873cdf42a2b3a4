"""The Kafka event bus against librdkafka's mock cluster and a fake Schema Registry on loopback: what the LMS's
edx-event-bus-kafka consumer would read (event-bus.md §1.5), and how failures reach the relay (§4.4)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from exams.ports.events import (EXAM_ATTEMPT_SUBMITTED, EXAM_ATTEMPT_VERIFIED, BusUnavailable, EventUser,
                                ExamAttemptEvent, PublishRejected)
from exams.settings import SettingsError, load
from tests.conftest import app_settings
from tests.integration.kafka.conftest import confluent_kafka

if confluent_kafka is not None:
    from exams.adapters.lms.kafka_bus import KEY_SCHEMA, KafkaEventBus, producer_config
    from exams.adapters.lms.schemas import schema_string
    from exams.adapters.lms.wire import LmsEventEncoder

TOPIC = "dev-learning-exam-attempt-lifecycle"
COURSE = "course-v1:edX+DemoX+Demo_Course"
USAGE = "block-v1:edX+DemoX+Demo_Course+type@sequential+block@exam1"
# event-bus.md §1.3: the VERIFIED golden vector (openedx-events 10.5.0 serialize_event_data_to_bytes).
VERIFIED_BODY = bytes.fromhex(
    "54010e6c6561726e65721a6c406578616d706c652e636f6d124cc3a92041726e65723e636f757273652d76313a6564582b44656d6f58"
    "2b44656d6f5f436f7572736574626c6f636b2d76313a6564582b44656d6f582b44656d6f5f436f757273652b7479706540736571756"
    "56e7469616c2b626c6f636b406578616d311270726f63746f72656400")
STUDENT = EventUser(42, True, "learner", "l@example.com", "Lé Arner")
EVENT_ID = uuid.UUID("d227395a-e8dc-11f1-a3b7-02fc00000001")
TIME = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


def verified_message(event_id=EVENT_ID, course=COURSE):
    return LmsEventEncoder().encode(ExamAttemptEvent(
        EXAM_ATTEMPT_VERIFIED, STUDENT, course, USAGE.replace(COURSE.removeprefix("course-v1:"),
                                                              course.removeprefix("course-v1:")),
        "proctored", event_id=event_id, time=TIME, source="openedx/edx-exams/web", sourcehost="exams-host-1"))


def frame(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


@pytest.fixture
def bus(kafka_cluster, registry):
    bus = KafkaEventBus(kafka_cluster.bootstrap_servers, registry.url, topic_prefix="dev")
    yield bus
    bus.close()


def read_back(kafka_cluster, position: str, topic: str = TOPIC):
    partition, offset = map(int, position.split(":"))
    return kafka_cluster.read(topic, partition, offset)


def test_key_and_value_are_the_registry_id_framing_around_the_exact_avro_bytes(bus, kafka_cluster, registry):
    message = verified_message()
    assert message.value == VERIFIED_BODY

    position = bus.publish(message)

    record = read_back(kafka_cluster, position)
    key_id = registry.subjects[f"{TOPIC}-string"][0]
    value_id = registry.subjects[f"{TOPIC}-{EXAM_ATTEMPT_VERIFIED}.CloudEvent"][0]
    assert key_id != value_id
    # the course key as an Avro string: zig-zag length (31 -> 0x3e), then UTF-8
    assert record.key() == frame(key_id, b"\x3e" + COURSE.encode())
    assert record.value() == frame(value_id, VERIFIED_BODY)
    assert record.topic() == TOPIC and position == f"{record.partition()}:{record.offset()}"


def test_headers_are_exactly_the_ones_edx_event_bus_kafka_sends_in_its_order(bus, kafka_cluster):
    record = read_back(kafka_cluster, bus.publish(verified_message()))

    assert record.headers() == [
        ("ce_specversion", b"1.0"),
        ("content-type", b"application/avro"),
        ("ce_datacontenttype", b"application/avro"),
        ("ce_type", EXAM_ATTEMPT_VERIFIED.encode()),
        ("ce_id", b"d227395a-e8dc-11f1-a3b7-02fc00000001"),
        ("ce_source", b"openedx/edx-exams/web"),
        ("ce_time", b"2026-01-02T03:04:05.678901+00:00"),
        ("ce_minorversion", b"0"),
        ("sourcehost", b"exams-host-1"),
        ("sourcelib", b"10.5.0"),
    ]


def test_schemas_are_registered_under_topic_record_subjects_as_openedx_events_writes_them(bus, registry):
    bus.publish(verified_message())

    value_subject = f"{TOPIC}-{EXAM_ATTEMPT_VERIFIED}.CloudEvent"
    assert set(registry.subjects) == {f"{TOPIC}-string", value_subject}
    assert registry.schema_of(value_subject) == schema_string(EXAM_ATTEMPT_VERIFIED)
    assert json.loads(registry.schema_of(f"{TOPIC}-string")) == json.loads(KEY_SCHEMA)


def test_a_second_event_type_registers_its_own_subject_and_schemas_are_registered_once(bus, registry):
    bus.publish(verified_message())
    bus.publish(verified_message(event_id=uuid.uuid4(), course="course-v1:edX+Other+2026"))
    submitted = LmsEventEncoder().encode(ExamAttemptEvent(EXAM_ATTEMPT_SUBMITTED, STUDENT, COURSE, USAGE,
                                                          "timed", requesting_user=STUDENT))
    bus.publish(submitted)

    assert sorted(registry.subjects) == sorted([f"{TOPIC}-string", f"{TOPIC}-{EXAM_ATTEMPT_SUBMITTED}.CloudEvent",
                                                f"{TOPIC}-{EXAM_ATTEMPT_VERIFIED}.CloudEvent"])
    assert [p for m, p in registry.requests if m == "POST"] == [
        f"/subjects/{TOPIC}-string/versions", f"/subjects/{TOPIC}-{EXAM_ATTEMPT_VERIFIED}.CloudEvent/versions",
        f"/subjects/{TOPIC}-{EXAM_ATTEMPT_SUBMITTED}.CloudEvent/versions"]


def test_the_same_event_is_produced_once_unless_an_operator_forces_it(bus, kafka_cluster):
    first = bus.publish(verified_message())
    again = bus.publish(verified_message())
    forced = bus.publish(verified_message(), force=True)

    assert again == first
    assert forced != first
    assert read_back(kafka_cluster, forced).headers()[4] == ("ce_id", str(EVENT_ID).encode())


def test_a_registry_outage_is_a_transient_failure_and_nothing_is_produced(kafka_cluster, registry):
    registry.outage = True
    produced = []

    class RecordingProducer:
        def __init__(self, config):
            pass

        def produce(self, *args, **kw):
            produced.append((args, kw))

    bus = KafkaEventBus(kafka_cluster.bootstrap_servers, registry.url, topic_prefix="dev",
                        producer_factory=RecordingProducer)
    with pytest.raises(BusUnavailable, match="schema registry"):
        bus.publish(verified_message())
    assert produced == []


def test_an_unreachable_registry_is_a_transient_failure(kafka_cluster):
    from tests.integration.redis.conftest import free_port

    bus = KafkaEventBus(kafka_cluster.bootstrap_servers, f"http://127.0.0.1:{free_port()}", topic_prefix="dev")
    with pytest.raises(BusUnavailable, match="unreachable"):
        bus.publish(verified_message())


def test_a_schema_the_registry_finds_incompatible_is_refused_for_good(bus, registry):
    registry.refuse.add(f"{TOPIC}-{EXAM_ATTEMPT_VERIFIED}.CloudEvent")

    with pytest.raises(PublishRejected, match="incompatible"):
        bus.publish(verified_message())


def test_unreachable_brokers_are_a_transient_failure_within_the_delivery_timeout(registry):
    from tests.integration.redis.conftest import free_port

    bus = KafkaEventBus(f"127.0.0.1:{free_port()}", registry.url, topic_prefix="dev", delivery_timeout=1.0)
    with pytest.raises(BusUnavailable, match="kafka"):
        bus.publish(verified_message())


def test_api_keys_switch_the_producer_to_sasl_ssl_plain_like_edx_event_bus_kafka():
    assert producer_config("b:9092", "key", "secret") == {
        "bootstrap.servers": "b:9092", "client.id": "edx-exams", "enable.idempotence": True, "acks": "all",
        "message.timeout.ms": 10000, "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
        "sasl.username": "key", "sasl.password": "secret"}
    assert "security.protocol" not in producer_config("b:9092")


@pytest.mark.parametrize("missing", ["exams.event_bus.kafka.bootstrap_servers",
                                     "exams.event_bus.kafka.schema_registry_url"])
def test_the_kafka_backend_needs_brokers_and_a_schema_registry(missing):
    raw = app_settings("sqlite://", **{"exams.event_bus.backend": "kafka",
                                       "exams.event_bus.kafka.bootstrap_servers": "kafka:9092",
                                       "exams.event_bus.kafka.schema_registry_url": "http://registry:8081",
                                       missing: ""})
    with pytest.raises(SettingsError, match=missing.replace(".", r"\.")):
        load(raw, environ={})
