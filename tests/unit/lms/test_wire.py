"""Metadata, framing and the checks the LMS consumer applies (event-bus.md §1.2, §1.4, §1.5, §2.2, §2.3)."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from exams.adapters.lms.wire import (
    LmsEventEncoder,
    decode_course_access_role_entry,
    decode_exam_attempt_entry,
    encode_event,
    format_time,
    is_course_key,
    is_usage_key,
    kafka_headers,
    parse_metadata,
    redis_fields,
)
from exams.ports.events import (
    COURSE_ACCESS_ROLE_ADDED,
    EXAM_ATTEMPT_RESET,
    EXAM_ATTEMPT_SUBMITTED,
    EXAM_ATTEMPT_VERIFIED,
    EventDecodingError,
    EventEncodingError,
    EventUser,
    ExamAttemptEvent,
)
from tests.unit.lms.vectors import COURSE_KEY, ROLE_REMOVED_HEX, STAFF, STUDENT, USAGE_KEY, VERIFIED_HEX

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
EVENT_ID = uuid.UUID("d227395a-e8dc-11f1-a3b7-02fc00000001")


def event(**overrides):
    values = dict(
        event_type=EXAM_ATTEMPT_SUBMITTED, student=EventUser(**STUDENT), course_key=COURSE_KEY,
        usage_key=USAGE_KEY, exam_type="proctored", requesting_user=EventUser(**STUDENT), event_id=EVENT_ID,
        time=WHEN, source="openedx/edx_exams/web", sourcehost="exams-host-1", sourcelib="10.5.0",
    )
    values.update(overrides)
    return ExamAttemptEvent(**values)


def test_redis_fields_are_the_bare_metadata_names_in_producer_order_then_the_payload():
    fields = redis_fields(encode_event(event()))

    assert list(fields) == ["type", "id", "source", "time", "minorversion", "sourcehost", "sourcelib",
                            "event_data"]
    assert fields["type"] == b"org.openedx.learning.exam.attempt.submitted.v1"
    assert fields["id"] == b"d227395a-e8dc-11f1-a3b7-02fc00000001"
    assert fields["source"] == b"openedx/edx_exams/web"
    assert fields["time"] == b"2026-01-02T03:04:05.678901+00:00"
    assert fields["minorversion"] == b"0"
    assert fields["sourcehost"] == b"exams-host-1"
    assert fields["sourcelib"] == b"10.5.0"
    assert all(isinstance(v, bytes) for v in fields.values())


def test_kafka_headers_are_the_cloudevents_names_in_producer_order():
    headers = kafka_headers(encode_event(event()))

    assert headers == [
        ("ce_specversion", b"1.0"),
        ("content-type", b"application/avro"),
        ("ce_datacontenttype", b"application/avro"),
        ("ce_type", b"org.openedx.learning.exam.attempt.submitted.v1"),
        ("ce_id", b"d227395a-e8dc-11f1-a3b7-02fc00000001"),
        ("ce_source", b"openedx/edx_exams/web"),
        ("ce_time", b"2026-01-02T03:04:05.678901+00:00"),
        ("ce_minorversion", b"0"),
        ("sourcehost", b"exams-host-1"),
        ("sourcelib", b"10.5.0"),
    ]


def test_time_without_microseconds_has_no_fraction_and_other_zones_become_utc():
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)) == "2026-01-02T03:04:05+00:00"
    plus_two = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert encode_event(event(time=plus_two)).headers["time"] == "2026-01-02T03:04:05+00:00"
    assert event(time=plus_two).time.tzinfo is timezone.utc


@pytest.mark.parametrize("field,value", [
    ("lms_user_id", None), ("lms_user_id", "42"), ("lms_user_id", True), ("is_active", 1), ("full_name", None),
])
def test_a_user_the_lms_cannot_use_is_refused(field, value):
    with pytest.raises(EventEncodingError):
        EventUser(**{**STUDENT, field: value})


@pytest.mark.parametrize("field,value", [
    ("course_key", "DemoX"),
    ("course_key", "course-v1:edX+DemoX"),
    ("course_key", "course-v1:edX+Demo X+run"),
    ("usage_key", "block-v1:edX+DemoX+Demo_Course+block@exam1"),
    ("usage_key", COURSE_KEY),
    ("usage_key", "exam1"),
])
def test_the_encoder_refuses_key_strings_the_lms_would_not_parse(field, value):
    with pytest.raises(EventEncodingError, match="invalid"):
        LmsEventEncoder().encode(event(**{field: value}))


def test_reset_without_a_requesting_user_is_refused():
    with pytest.raises(EventEncodingError, match="reset"):
        event(event_type=EXAM_ATTEMPT_RESET, requesting_user=None)


def test_a_naive_time_is_refused():
    with pytest.raises(EventEncodingError, match="timezone-aware"):
        event(time=datetime(2026, 1, 2, 3, 4, 5))


@pytest.mark.parametrize("overrides", [
    {"event_type": COURSE_ACCESS_ROLE_ADDED}, {"event_type": "org.openedx.learning.exam.attempt.bogus.v1"},
    {"sourcelib": "1.2.3rc1"}, {"minorversion": -1}, {"exam_type": ""}, {"event_id": "not-a-uuid"},
])
def test_other_malformed_events_are_refused(overrides):
    with pytest.raises(EventEncodingError):
        event(**overrides)


@pytest.mark.parametrize("key", [
    "course-v1:edX+DemoX+Demo_Course", "course-v1:Org.X+CS-101+2026_T1", "edX/DemoX/Demo_Course",
    "ccx-v1:edX+DemoX+Demo_Course+ccx@3",
])
def test_course_key_shapes_accepted(key):
    assert is_course_key(key)


@pytest.mark.parametrize("key", [
    USAGE_KEY, "block-v1:Org.X+CS-101+2026_T1+type@sequential+block@a1b2c3d4e5f6",
    "i4x://edX/DemoX/sequential/exam1",
])
def test_usage_key_shapes_accepted(key):
    assert is_usage_key(key)


def lms_fields(**overrides):
    fields = {
        b"type": EXAM_ATTEMPT_VERIFIED.encode(), b"id": str(EVENT_ID).encode(), b"source": b"openedx/x/web",
        b"time": b"2026-01-02T03:04:05.678901+00:00", b"minorversion": b"0", b"sourcehost": b"h",
        b"sourcelib": b"10.5.0", b"event_data": bytes.fromhex(VERIFIED_HEX),
    }
    for name, value in overrides.items():
        if value is None:
            fields.pop(name.encode())
        else:
            fields[name.encode()] = value
    return fields


def test_an_lms_style_entry_decodes_with_its_metadata():
    decoded = decode_exam_attempt_entry(lms_fields())

    assert decoded.event_type == EXAM_ATTEMPT_VERIFIED
    assert decoded.event_id == EVENT_ID
    assert decoded.time == WHEN and decoded.time.tzinfo is timezone.utc
    assert decoded.requesting_user is None
    assert (decoded.source, decoded.sourcehost, decoded.sourcelib, decoded.minorversion) == (
        "openedx/x/web", "h", "10.5.0", 0)


@pytest.mark.parametrize("overrides,reason", [
    ({"type": None}, "no 'type'"),
    ({"event_data": None}, "no 'event_data'"),
    ({"type": b"org.openedx.learning.unknown.v1"}, "not an exam attempt"),
    ({"time": b"2026-01-02T05:04:05+02:00"}, "not in UTC"),
    ({"time": b"2026-01-02T03:04:05"}, "no time zone"),
    ({"time": b"yesterday"}, "not ISO"),
    ({"id": b"42"}, "not a UUID"),
    ({"minorversion": b"x"}, "minorversion"),
    ({"sourcelib": b"1.2.3rc1"}, "sourcelib"),
    ({"event_data": bytes.fromhex(VERIFIED_HEX)[:-5]}, "corrupt"),
    ({"event_data": bytes.fromhex(VERIFIED_HEX) + b"\x00"}, "trailing"),
    ({"event_data": b""}, "corrupt"),
    ({"event_data": bytes.fromhex(ROLE_REMOVED_HEX)}, "corrupt"),
    ({"source": b"\xff\xfe"}, "UTF-8"),
])
def test_entries_the_lms_consumer_would_drop_raise_a_clear_decoding_error(overrides, reason):
    with pytest.raises(EventDecodingError, match=reason):
        decode_exam_attempt_entry(lms_fields(**overrides))


def test_missing_id_and_time_are_filled_in_like_the_lms_does_and_minorversion_is_not_compared():
    fallback = uuid.uuid4()
    decoded = decode_exam_attempt_entry(lms_fields(id=None, time=None, minorversion=b"7"), fallback_id=fallback)

    assert decoded.event_id == fallback
    assert decoded.time.tzinfo is timezone.utc
    assert decoded.minorversion == 7


def test_z_suffix_is_accepted_as_utc():
    assert parse_metadata(lms_fields(time=b"2026-01-02T03:04:05Z"))["time"] == WHEN.replace(microsecond=0)


def test_a_role_decoder_refuses_exam_events_and_vice_versa():
    with pytest.raises(EventDecodingError, match="not a course access role"):
        decode_course_access_role_entry(lms_fields())


def test_an_empty_full_name_round_trips_as_empty_string():
    caller = EventUser(**{**STAFF, "full_name": ""})
    original = event(event_type=EXAM_ATTEMPT_RESET, requesting_user=caller)
    fields = redis_fields(encode_event(original))

    assert decode_exam_attempt_entry(fields) == original
