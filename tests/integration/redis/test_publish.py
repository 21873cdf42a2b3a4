"""Publishing exam attempt events to a real Redis, read back as the LMS consumer reads them (event-bus.md §4.8)."""

import io
import uuid
from datetime import datetime, timezone

import fastavro
import pytest

from exams.adapters.lms.avro import parsed_schema
from exams.adapters.lms.redis_bus import RedisEventBus, dedupe_key, stream_name
from exams.adapters.lms.wire import LmsEventEncoder, decode_exam_attempt_entry
from exams.ports.events import (
    EXAM_ATTEMPT_ERRORED,
    EXAM_ATTEMPT_REJECTED,
    EXAM_ATTEMPT_RESET,
    EXAM_ATTEMPT_SUBMITTED,
    EXAM_ATTEMPT_VERIFIED,
    BusUnavailable,
    EventUser,
    ExamAttemptEvent,
    PublishRejected,
)

STREAM = "dev-learning-exam-attempt-lifecycle"
STUDENT = EventUser(lms_user_id=42, is_active=True, username="learner", email="l@example.com", full_name="Lé Arner")
STAFF = EventUser(lms_user_id=7, is_active=True, username="staff", email="s@example.com", full_name="Sam Staff")
FIELD_ORDER = [b"type", b"id", b"source", b"time", b"minorversion", b"sourcehost", b"sourcelib", b"event_data"]


def exam_event(event_type=EXAM_ATTEMPT_SUBMITTED, course="edX+DemoX+Demo_Course", **overrides):
    requester = {EXAM_ATTEMPT_SUBMITTED: STUDENT, EXAM_ATTEMPT_RESET: STAFF}.get(event_type)
    values = dict(
        event_type=event_type, student=STUDENT, course_key=f"course-v1:{course}",
        usage_key=f"block-v1:{course}+type@sequential+block@exam1", exam_type="proctored",
        requesting_user=requester, time=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc),
        source="openedx/edx-exams/web", sourcehost="exams-host-1",
    )
    values.update(overrides)
    return ExamAttemptEvent(**values)


@pytest.fixture
def bus(redis_client):
    return RedisEventBus(redis_client, topic_prefix="dev")


def publish(bus, event):
    return bus.publish(LmsEventEncoder().encode(event))


def test_a_published_event_is_one_xadd_with_the_lms_fields_in_order(bus, redis_client):
    event = exam_event()

    entry_id = publish(bus, event)

    entries = redis_client.xrange(STREAM, "-", "+")
    assert len(entries) == 1
    got_id, fields = entries[0]
    assert got_id.decode() == entry_id
    assert list(fields) == FIELD_ORDER
    assert fields[b"type"] == EXAM_ATTEMPT_SUBMITTED.encode()
    assert uuid.UUID(fields[b"id"].decode()) == event.event_id
    assert datetime.fromisoformat(fields[b"time"].decode()).utcoffset().total_seconds() == 0
    assert fields[b"minorversion"] == b"0"
    record = fastavro.schemaless_reader(io.BytesIO(fields[b"event_data"]),
                                        parsed_schema(EXAM_ATTEMPT_SUBMITTED), None)
    assert record["exam_attempt"]["student_user"]["id"] == 42
    assert record["exam_attempt"]["requesting_user"] == record["exam_attempt"]["student_user"]


def test_all_five_types_share_the_stream_in_order_and_decode_to_equal_events(bus, redis_client):
    events = [exam_event(t) for t in (EXAM_ATTEMPT_SUBMITTED, EXAM_ATTEMPT_VERIFIED, EXAM_ATTEMPT_REJECTED,
                                      EXAM_ATTEMPT_ERRORED, EXAM_ATTEMPT_RESET)]
    ids = [publish(bus, e) for e in events]

    reply = redis_client.xread({STREAM: "0"}, count=10)
    assert reply[0][0] == STREAM.encode()
    entries = reply[0][1]
    assert [i.decode() for i, _ in entries] == ids
    assert [decode_exam_attempt_entry(fields) for _, fields in entries] == events
    for event, (_, fields) in zip(events, entries):
        null_requester = event.event_type in (EXAM_ATTEMPT_VERIFIED, EXAM_ATTEMPT_REJECTED, EXAM_ATTEMPT_ERRORED)
        assert (fields[b"event_data"][-1:] == b"\x00") is null_requester


def test_the_lms_consumer_group_reads_and_acks_what_we_publish(bus, redis_client):
    entry_id = publish(bus, exam_event(EXAM_ATTEMPT_VERIFIED))
    redis_client.xgroup_create(STREAM, "lms", id="0")

    reply = redis_client.xreadgroup("lms", "c1", {STREAM: ">"}, count=1)

    (got_id, fields), = reply[0][1]
    assert got_id.decode() == entry_id
    assert decode_exam_attempt_entry(fields).event_type == EXAM_ATTEMPT_VERIFIED
    assert redis_client.xpending(STREAM, "lms")["pending"] == 1
    redis_client.xack(STREAM, "lms", got_id)
    assert redis_client.xpending(STREAM, "lms")["pending"] == 0


def test_republishing_the_same_event_returns_the_same_entry_and_appends_nothing(bus, redis_client):
    message = LmsEventEncoder().encode(exam_event())

    first = bus.publish(message)
    second = bus.publish(message)

    assert first == second
    assert redis_client.xlen(STREAM) == 1
    key = dedupe_key(STREAM, message.event_id)
    assert redis_client.get(key).decode() == first
    assert 0 < redis_client.ttl(key) <= 14 * 24 * 3600


def test_a_second_bus_instance_also_sees_the_earlier_publish(redis_client):
    message = LmsEventEncoder().encode(exam_event())

    first = RedisEventBus(redis_client, topic_prefix="dev").publish(message)
    second = RedisEventBus(redis_client, topic_prefix="dev").publish(message)

    assert first == second and redis_client.xlen(STREAM) == 1


def test_a_forced_replay_appends_a_second_entry_with_the_same_event_id(bus, redis_client):
    message = LmsEventEncoder().encode(exam_event())
    first = bus.publish(message)

    replayed = bus.publish(message, force=True)

    assert replayed != first
    entries = redis_client.xrange(STREAM)
    assert [fields[b"id"] for _, fields in entries] == [message.event_id.encode()] * 2
    assert bus.publish(message) == replayed


def test_distinct_events_are_all_appended(bus, redis_client):
    for _ in range(3):
        publish(bus, exam_event())
    assert redis_client.xlen(STREAM) == 3


def test_maxlen_trims_the_stream_approximately(redis_client):
    bus = RedisEventBus(redis_client, topic_prefix="dev", maxlen=10)

    for _ in range(200):
        publish(bus, exam_event())

    assert redis_client.xlen(STREAM) < 200


def test_without_maxlen_nothing_is_trimmed(redis_client):
    bus = RedisEventBus(redis_client, topic_prefix="dev", maxlen=None)
    for _ in range(150):
        publish(bus, exam_event())
    assert redis_client.xlen(STREAM) == 150


def test_stream_names_follow_the_topic_prefix_rule(redis_client):
    assert stream_name("dev", "learning-exam-attempt-lifecycle") == STREAM
    assert stream_name("", "learning-exam-attempt-lifecycle") == "learning-exam-attempt-lifecycle"
    publish(RedisEventBus(redis_client), exam_event())
    assert redis_client.xlen("learning-exam-attempt-lifecycle") == 1


def test_an_unreachable_server_raises_bus_unavailable(closed_port_client):
    bus = RedisEventBus(closed_port_client, topic_prefix="dev")
    with pytest.raises(BusUnavailable):
        publish(bus, exam_event())


def test_a_stream_key_of_another_type_is_a_permanent_rejection(bus, redis_client):
    redis_client.set(STREAM, "oops")
    with pytest.raises(PublishRejected, match="WRONGTYPE"):
        publish(bus, exam_event())


def test_a_server_that_comes_back_accepts_the_retried_publish(redis_server, redis_client, closed_port_client):
    message = LmsEventEncoder().encode(exam_event())
    with pytest.raises(BusUnavailable):
        RedisEventBus(closed_port_client, topic_prefix="dev").publish(message)

    entry_id = RedisEventBus(redis_client, topic_prefix="dev").publish(message)

    assert redis_client.xrange(STREAM)[0][0].decode() == entry_id
