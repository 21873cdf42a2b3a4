"""Compatibility with the real Open edX code: what we publish is what openedx-events reads, and vice versa.

The Open edX code (openedx-events, edx-event-bus-redis, Django) lives in a separate throw-away venv built by
``make_compat_venv.sh`` (default ``/tmp/oeventsvenv``, or ``$EXAMS_COMPAT_VENV``); ``compat_harness.py`` runs in
it as a subprocess. If that venv is absent the tests here are skipped with a loud reason.
"""

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import redis

from exams.adapters.lms.redis_bus import RedisEventBus, RedisRoleEventReader
from exams.adapters.lms.schemas import SCHEMAS
from exams.adapters.lms.wire import LmsEventEncoder, encode_event
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

HERE = Path(__file__).resolve().parent
COMPAT_VENV = Path(os.environ.get("EXAMS_COMPAT_VENV", "/tmp/oeventsvenv"))
COMPAT_PYTHON = COMPAT_VENV / "bin" / "python"
MISSING = (
    f"!!! openedx-events compat venv NOT FOUND at {COMPAT_VENV}: the Open edX compatibility tests were SKIPPED. "
    f"Build it with tests/integration/redis/make_compat_venv.sh !!!"
)

STUDENT = EventUser(lms_user_id=42, is_active=True, username="learner", email="l@example.com", full_name="Lé Arner")
STAFF = EventUser(lms_user_id=7, is_active=False, username="staff", email="s@example.com", full_name="")
COURSE = "course-v1:edX+DemoX+Demo_Course"
WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


def exam_events():
    requesters = {EXAM_ATTEMPT_SUBMITTED: STUDENT, EXAM_ATTEMPT_RESET: STAFF}
    return [
        ExamAttemptEvent(
            event_type=t, student=STUDENT, course_key=COURSE,
            usage_key="block-v1:edX+DemoX+Demo_Course+type@sequential+block@exam1", exam_type="proctored",
            requesting_user=requesters.get(t), time=WHEN, source="openedx/edx-exams/web", sourcehost="exams-host-1",
        )
        for t in (EXAM_ATTEMPT_SUBMITTED, EXAM_ATTEMPT_VERIFIED, EXAM_ATTEMPT_REJECTED, EXAM_ATTEMPT_ERRORED,
                  EXAM_ATTEMPT_RESET)
    ]


def role_requests():
    return [
        {"event_type": t, "user": {"id": 7, "is_active": True, "username": "staff", "email": "s@example.com",
                                   "name": "Sam Staff"},
         "org_key": "edX", "course_key": COURSE, "role": role, "time": "2026-01-02T03:04:05.678901+00:00"}
        for t, role in ((COURSE_ACCESS_ROLE_ADDED, "limited_staff"), (COURSE_ACCESS_ROLE_REMOVED, "staff"))
    ]


@pytest.fixture(scope="module")
def compat(redis_server):
    if not COMPAT_PYTHON.exists():
        pytest.skip(MISSING)
    client = redis.Redis.from_url(redis_server, socket_timeout=10)
    client.flushdb()
    events = exam_events()
    bus = RedisEventBus(client, topic_prefix="dev")
    for event in events:
        bus.publish(LmsEventEncoder().encode(event))
    role_event = CourseAccessRoleEvent(event_type=COURSE_ACCESS_ROLE_ADDED, user=STAFF, org_key="edX",
                                       course_key=COURSE, role="instructor", time=WHEN)
    payloads = {e.event_type: {"event_type": e.event_type, "hex": encode_event(e).value.hex()} for e in events}
    payloads["role"] = {"event_type": COURSE_ACCESS_ROLE_ADDED, "hex": encode_event(role_event).value.hex()}
    request = {"payloads": payloads, "role_events": role_requests()}

    proc = subprocess.run(
        [str(COMPAT_PYTHON), str(HERE / "compat_harness.py"), redis_server, str(len(events))],
        input=json.dumps(request), capture_output=True, text=True, timeout=180, cwd=str(HERE),
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("COMPAT-REPORT ")]
    assert proc.returncode == 0 and lines, f"compat harness failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    report = json.loads(lines[-1][len("COMPAT-REPORT "):])
    yield {"report": report, "events": events, "payloads": payloads, "client": client}
    client.close()


def test_our_schema_constants_equal_what_openedx_events_derives(compat):
    assert set(compat["report"]["schemas"]) == set(SCHEMAS)
    for event_type, schema in compat["report"]["schemas"].items():
        assert json.dumps(schema, sort_keys=True) == json.dumps(SCHEMAS[event_type], sort_keys=True), event_type


def test_openedx_events_decodes_our_payloads_and_reserializes_them_byte_for_byte(compat):
    for name, payload in compat["payloads"].items():
        decoded = compat["report"]["decoded"][name]
        assert "error" not in decoded, (name, decoded)
        assert decoded["reserialized_hex"] == payload["hex"], name


def test_the_decoded_exam_data_has_the_lms_types_and_values(compat):
    reset = compat["report"]["decoded"][EXAM_ATTEMPT_RESET]["data"]["exam_attempt"]
    assert reset["course_key"] == {"class": "CourseLocator", "str": COURSE}
    assert reset["usage_key"]["class"] == "BlockUsageLocator"
    assert reset["student_user"] == {"id": 42, "is_active": True,
                                     "pii": {"username": "learner", "email": "l@example.com", "name": "Lé Arner"}}
    assert reset["requesting_user"] == {"id": 7, "is_active": False,
                                        "pii": {"username": "staff", "email": "s@example.com", "name": ""}}
    assert compat["report"]["decoded"][EXAM_ATTEMPT_VERIFIED]["data"]["exam_attempt"]["requesting_user"] is None


def test_the_lms_consumer_fires_every_exam_signal_with_our_data_and_metadata(compat):
    received = compat["report"]["received"]
    events = compat["events"]
    assert [r["signal"] for r in received] == [e.event_type for e in events]
    for event, got in zip(events, received):
        assert got["from_event_bus"] is True
        assert got["metadata"] == {
            "event_type": event.event_type, "id": str(event.event_id), "time": WHEN.isoformat(),
            "time_is_utc": True, "source": "openedx/edx-exams/web", "sourcehost": "exams-host-1",
            "sourcelib": [10, 5, 0], "minorversion": 0,
        }
        attempt = got["exam_attempt"]
        assert attempt["student_user"]["id"] == event.student.lms_user_id
        assert attempt["exam_type"] == "proctored"
        requester = attempt["requesting_user"]
        assert (requester and requester["id"]) == (event.requesting_user and event.requesting_user.lms_user_id)


def test_role_events_from_the_real_lms_producer_are_read_by_our_reader(compat):
    reader = RedisRoleEventReader(compat["client"], topic_prefix="dev", group="exams-compat", consumer_name="t",
                                  block_ms=100)

    deliveries = reader.read(max_count=10)

    sent = compat["report"]["role_events_sent"]
    assert len(sent) == 2, "the LMS producer logged an error instead of publishing"
    assert [d.error for d in deliveries] == [None, None]
    events = [d.event for d in deliveries]
    assert [(e.event_type, e.role, e.course_key, e.org_key) for e in events] == [
        (COURSE_ACCESS_ROLE_ADDED, "limited_staff", COURSE, "edX"),
        (COURSE_ACCESS_ROLE_REMOVED, "staff", COURSE, "edX"),
    ]
    assert [str(e.event_id) for e in events] == [s["id"] for s in sent]
    assert all(e.user == EventUser(7, True, "staff", "s@example.com", "Sam Staff") for e in events)
    assert all(e.time == WHEN and e.source == "openedx/lms/web" for e in events)
    for delivery in deliveries:
        reader.ack(delivery.message_id)


def test_the_compat_venv_is_not_ours(compat):
    # Django must never leak into the service's own interpreter.
    assert not any(m == "django" or m.startswith("django.") for m in sys.modules)
