"""Our payload bytes equal the openedx-events golden vectors of event-bus.md §1.3, and decode back."""

import uuid
from datetime import datetime, timezone

import pytest

from exams.adapters.lms import avro
from exams.adapters.lms.wire import (
    LmsEventEncoder,
    decode_course_access_role_entry,
    decode_message,
    encode_event,
    redis_fields,
)
from exams.ports.events import (
    COURSE_ACCESS_ROLE_ADDED,
    COURSE_ACCESS_ROLE_REMOVED,
    EXAM_ATTEMPT_ERRORED,
    EXAM_ATTEMPT_REJECTED,
    EXAM_ATTEMPT_RESET,
    EXAM_ATTEMPT_SUBMITTED,
    EXAM_ATTEMPT_VERIFIED,
    CourseAccessRoleEvent,
    EventUser,
    ExamAttemptEvent,
)
from tests.unit.lms.vectors import (
    COURSE_KEY,
    RESET_BY_STAFF_HEX,
    ROLE_REMOVED_HEX,
    STAFF,
    STUDENT,
    SUBMITTED_HEX,
    USAGE_KEY,
    VERIFIED_HEX,
)

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
EVENT_ID = uuid.UUID("d227395a-e8dc-11f1-a3b7-02fc00000001")


def exam_event(event_type, requesting_user=None):
    return ExamAttemptEvent(
        event_type=event_type,
        student=EventUser(**STUDENT),
        course_key=COURSE_KEY,
        usage_key=USAGE_KEY,
        exam_type="proctored",
        requesting_user=requesting_user,
        event_id=EVENT_ID,
        time=WHEN,
        source="openedx/edx_exams/web",
        sourcehost="exams-host-1",
    )


def role_event(event_type):
    return CourseAccessRoleEvent(
        event_type=event_type,
        user=EventUser(**STAFF),
        org_key="edX",
        course_key=COURSE_KEY,
        role="limited_staff",
        event_id=EVENT_ID,
        time=WHEN,
    )


EXAM_CASES = [
    pytest.param(EXAM_ATTEMPT_SUBMITTED, STUDENT, SUBMITTED_HEX, 170, id="submitted-by-student"),
    pytest.param(EXAM_ATTEMPT_VERIFIED, None, VERIFIED_HEX, 136, id="verified"),
    pytest.param(EXAM_ATTEMPT_REJECTED, None, VERIFIED_HEX, 136, id="rejected"),
    pytest.param(EXAM_ATTEMPT_ERRORED, None, VERIFIED_HEX, 136, id="errored"),
    pytest.param(EXAM_ATTEMPT_RESET, STAFF, RESET_BY_STAFF_HEX, 168, id="reset-by-staff"),
]
ROLE_CASES = [COURSE_ACCESS_ROLE_ADDED, COURSE_ACCESS_ROLE_REMOVED]


@pytest.mark.parametrize("event_type,requester,expected_hex,length", EXAM_CASES)
def test_each_exam_attempt_event_encodes_to_the_golden_bytes(event_type, requester, expected_hex, length):
    event = exam_event(event_type, None if requester is None else EventUser(**requester))

    message = LmsEventEncoder().encode(event)

    assert message.value.hex() == expected_hex
    assert len(message.value) == length
    assert message.topic == "learning-exam-attempt-lifecycle"
    assert message.key == COURSE_KEY.encode()


@pytest.mark.parametrize("event_type,requester,expected_hex,length", EXAM_CASES)
def test_each_exam_attempt_golden_vector_decodes_to_the_event(event_type, requester, expected_hex, length):
    event = exam_event(event_type, None if requester is None else EventUser(**requester))
    fields = {**redis_fields(encode_event(event)), "event_data": bytes.fromhex(expected_hex)}

    assert decode_message(encode_event(event)) == event
    decoded = avro.decode(event_type, bytes.fromhex(expected_hex))["exam_attempt"]
    assert decoded["student_user"] == {"id": 42, "is_active": True,
                                       "pii": {"username": "learner", "email": "l@example.com", "name": "Lé Arner"}}
    assert fields["type"] == event_type.encode()


def test_verified_vector_ends_in_the_null_branch_and_submitted_repeats_the_student():
    assert bytes.fromhex(VERIFIED_HEX)[-1:] == b"\x00"
    assert bytes.fromhex(SUBMITTED_HEX)[135:136] == b"\x02"


@pytest.mark.parametrize("event_type", ROLE_CASES)
def test_both_role_events_encode_to_the_golden_bytes(event_type):
    message = encode_event(role_event(event_type))

    assert message.value.hex() == ROLE_REMOVED_HEX
    assert len(message.value) == 82
    assert message.topic == "learning-course-access-role-lifecycle"


@pytest.mark.parametrize("event_type", ROLE_CASES)
def test_both_role_golden_vectors_decode_like_the_lms_sent_them(event_type):
    fields = {
        b"type": event_type.encode(),
        b"id": str(EVENT_ID).encode(),
        b"source": b"openedx/lms/web",
        b"time": b"2026-01-02T03:04:05.678901+00:00",
        b"minorversion": b"0",
        b"sourcehost": b"lms-host",
        b"sourcelib": b"10.5.0",
        b"event_data": bytes.fromhex(ROLE_REMOVED_HEX),
    }

    event = decode_course_access_role_entry(fields)

    assert event == CourseAccessRoleEvent(
        event_type=event_type, user=EventUser(**STAFF), org_key="edX", course_key=COURSE_KEY,
        role="limited_staff", event_id=EVENT_ID, time=WHEN, source="openedx/lms/web", sourcehost="lms-host",
    )
    assert event.added is (event_type == COURSE_ACCESS_ROLE_ADDED)
