"""Attempt outcomes reach the event outbox in the request's transaction, exactly where edx-exams emits them
(edx-exams.md §2.4, §8.1): one row per outcome, holding the encoded event the LMS will decode."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from dependency_injector import providers
from sqlalchemy import select
from sqlalchemy.orm import Session

from exams.adapters.lms.wire import decode_message
from exams.adapters.sql import tables
from exams.adapters.sql.outbox import SqlOutbox
from exams.units import build_outbox_operator
from exams.ports.events import (EXAM_ATTEMPT_ERRORED, EXAM_ATTEMPT_REJECTED, EXAM_ATTEMPT_RESET,
                                EXAM_ATTEMPT_SUBMITTED, EXAM_ATTEMPT_VERIFIED, EXAM_ATTEMPT_TOPIC, EventUser)
from exams.delivery.operator import OperatorError
from tests.conftest import app_settings, auth
from tests.fakes import FakeProctoringVendor
from tests.functional.acs_world import COURSE as ACS_COURSE
from tests.functional.acs_world import World
from tests.functional.dbstate import snapshot

COURSE = "course-v1:edX+DemoX+Demo_Course"
EXAM_BLOCK = "block-v1:edX+DemoX+Demo_Course+type@sequential+block@exam1"
STAFF = auth("staff", user_id=1, staff=True)
LEARNER = auth("learner", user_id=42, email="l@example.com")
LEARNER_EVENT_USER = EventUser(lms_user_id=42, is_active=True, username="learner", email="l@example.com")
STAFF_EVENT_USER = EventUser(lms_user_id=1, is_active=True, username="staff", email="staff@example.com")


@pytest.fixture(scope="module")
def events_wsgi(database_url, clock):
    """The app as deployed with a Redis event bus (the relay runs elsewhere, so Redis is never contacted here)."""
    from exams import settings as settings_module
    from exams.app import main
    from exams.container import build_container

    raw = app_settings(database_url, **{"exams.event_bus.backend": "redis",
                                        "exams.event_bus.redis_url": "redis://127.0.0.1:9/0",
                                        "exams.event_bus.topic_prefix": "dev",
                                        "exams.event_bus.source": "openedx/edx-exams/web"})
    container = build_container(settings_module.load(raw, environ={}))
    container.clock.override(providers.Object(clock))
    app = main({}, container=container, **raw)
    app.container = container
    return app


@pytest.fixture
def app(events_wsgi, db, clock):
    from webtest import TestApp

    clock.reset()
    return TestApp(events_wsgi)


def outbox(engine):
    with Session(engine) as session:
        return SqlOutbox(session).unpublished(1000) + SqlOutbox(session).held(1000)


def events(engine):
    """The decoded events waiting in the outbox, in order (held, unencodable ones have no message)."""
    return [decode_message(entry.message) for entry in outbox(engine) if entry.message is not None]


def register(app, exam_type="proctored"):
    app.patch_json(f"/api/v1/exams/course_id/{COURSE}", [
        {"content_id": EXAM_BLOCK, "exam_name": "Final", "exam_type": exam_type, "time_limit_mins": 30,
         "due_date": None, "hide_after_due": False, "is_active": True}], headers=STAFF)
    return app.get(f"/api/v1/exams/course_id/{COURSE}", headers=STAFF).json[0]["id"]


def started_attempt(app, exam_type="proctored", headers=LEARNER) -> int:
    exam_id = register(app, exam_type)
    created = app.post_json("/api/v1/exams/attempt", {"exam_id": exam_id, "start_clock": "true"}, headers=headers)
    return created.json["exam_attempt_id"]


def act(app, attempt_id, action, headers=LEARNER, status=200):
    return app.put_json(f"/api/v1/exams/attempt/{attempt_id}", {"action": action}, headers=headers, status=status)


def test_submitting_an_attempt_enqueues_one_submitted_event_requested_by_the_student(app, engine, clock):
    at = clock.freeze()
    attempt_id = started_attempt(app)

    act(app, attempt_id, "submit")

    [event] = events(engine)
    assert event.event_type == EXAM_ATTEMPT_SUBMITTED
    assert event.student == LEARNER_EVENT_USER
    assert event.requesting_user == LEARNER_EVENT_USER
    assert (event.course_key, event.usage_key, event.exam_type) == (COURSE, EXAM_BLOCK, "proctored")
    assert event.time == at.astimezone(timezone.utc)
    assert event.source == "openedx/edx-exams/web" and event.sourcelib == "10.5.0"
    [entry] = outbox(engine)
    assert entry.message.topic == EXAM_ATTEMPT_TOPIC and entry.partition_key == COURSE
    assert entry.event_id == str(event.event_id) and entry.published_at is None and not entry.dead


@pytest.mark.parametrize("action, event_type", [("verify", EXAM_ATTEMPT_VERIFIED),
                                                ("reject", EXAM_ATTEMPT_REJECTED)])
def test_a_review_by_course_staff_enqueues_its_event_with_no_requesting_user(app, engine, action, event_type):
    attempt_id = started_attempt(app)
    act(app, attempt_id, "submit")

    act(app, attempt_id, action, headers=STAFF)

    submitted, reviewed = events(engine)
    assert submitted.event_type == EXAM_ATTEMPT_SUBMITTED
    assert reviewed.event_type == event_type
    assert reviewed.student == LEARNER_EVENT_USER
    assert reviewed.requesting_user is None
    assert (reviewed.course_key, reviewed.usage_key) == (COURSE, EXAM_BLOCK)


def test_an_attempt_in_error_enqueues_one_errored_event_with_no_requesting_user(app, engine):
    attempt_id = started_attempt(app, exam_type="timed")

    act(app, attempt_id, "error")

    [event] = events(engine)
    assert event.event_type == EXAM_ATTEMPT_ERRORED
    assert event.exam_type == "timed"
    assert event.student == LEARNER_EVENT_USER and event.requesting_user is None


def test_a_reset_by_course_staff_enqueues_a_reset_event_carrying_the_staff_member(app, engine):
    attempt_id = started_attempt(app)
    act(app, attempt_id, "submit")

    app.delete(f"/api/v1/exams/attempt/{attempt_id}", headers=STAFF)

    submitted, reset = events(engine)
    assert reset.event_type == EXAM_ATTEMPT_RESET
    assert reset.student == LEARNER_EVENT_USER
    assert reset.requesting_user == STAFF_EVENT_USER
    assert (reset.course_key, reset.usage_key, reset.exam_type) == (COURSE, EXAM_BLOCK, "proctored")
    with engine.connect() as conn:  # the attempt is gone, its event stays
        assert conn.execute(select(tables.attempts)).first() is None


def test_a_learner_resetting_their_own_attempt_is_the_requesting_user(app, engine):
    attempt_id = started_attempt(app)

    app.delete(f"/api/v1/exams/attempt/{attempt_id}", headers=LEARNER)

    [reset] = events(engine)
    assert reset.event_type == EXAM_ATTEMPT_RESET
    assert reset.requesting_user == LEARNER_EVENT_USER


def test_moves_edx_exams_does_not_announce_enqueue_nothing(app, engine):
    attempt_id = started_attempt(app)

    act(app, attempt_id, "stop")
    act(app, attempt_id, "start")

    assert outbox(engine) == []


@pytest.fixture
def vendor(events_wsgi):
    fake = FakeProctoringVendor()
    events_wsgi.container.proctoring_vendor.override(providers.Object(fake))
    yield fake
    events_wsgi.container.proctoring_vendor.reset_override()


@pytest.mark.parametrize("reason_code, severity, event_type", [
    ("1", "1.0", None),  # second_review_required: nothing, as edx-exams
    ("1", "0.1", EXAM_ATTEMPT_VERIFIED),
    ("0", "1.0", EXAM_ATTEMPT_ERRORED),
])
def test_a_vendor_review_through_the_acs_enqueues_what_edx_exams_sends(app, engine, vendor, reason_code, severity,
                                                                      event_type):
    world = World(engine)
    tool = world.add_tool("proctorio")
    learner = world.add_learner(tool)

    app.post(tool.acs_path, json.dumps(learner.message(reason_code=reason_code, incident_severity=severity)),
             headers={"Content-Type": "application/json", "Authorization": f"Bearer {tool.fake_token()}"})

    if event_type is None:
        assert world.status(learner) == "second_review_required"
        assert outbox(engine) == []
        return
    [event] = events(engine)
    assert event.event_type == event_type and event.requesting_user is None
    assert event.student == EventUser(learner.user.lms_user_id, True, "alice", "alice@example.com")
    assert (event.course_key, event.usage_key, event.exam_type) == (ACS_COURSE, learner.exam.content_id, "proctored")


def test_submitting_twice_enqueues_one_event(app, engine):
    attempt_id = started_attempt(app)

    act(app, attempt_id, "submit")
    act(app, attempt_id, "submit")

    assert [e.event_type for e in events(engine)] == [EXAM_ATTEMPT_SUBMITTED]


def test_the_deadline_submitting_an_abandoned_attempt_enqueues_submitted_by_the_student(app, engine, clock):
    clock.freeze()
    started_attempt(app, exam_type="timed")
    clock.advance(minutes=31)

    latest = app.get("/api/v1/exams/attempt/latest", headers=LEARNER).json

    assert latest["attempt_status"] == "submitted"
    [event] = events(engine)
    assert event.event_type == EXAM_ATTEMPT_SUBMITTED
    assert event.requesting_user == LEARNER_EVENT_USER


def test_refused_requests_leave_no_event(app, engine):
    attempt_id = started_attempt(app)
    before = snapshot(engine)

    act(app, attempt_id, "verify", headers=LEARNER, status=400)  # not a learner action
    act(app, attempt_id, "submit", headers=auth("intruder", user_id=99), status=403)
    app.delete(f"/api/v1/exams/attempt/{attempt_id}", headers=auth("intruder", user_id=99), status=403)
    app.delete("/api/v1/exams/attempt/999999", headers=STAFF, status=400)

    assert snapshot(engine) == {**before, "users": snapshot(engine)["users"]}  # intruder provisioned, nothing else
    assert events(engine) == []


def test_a_learner_without_lms_user_id_is_served_and_the_event_is_held_for_an_operator(app, engine):
    anonymous = auth("nolms", user_id=None)
    attempt_id = started_attempt(app, headers=anonymous)

    act(app, attempt_id, "submit", headers=anonymous)  # 200: the learner never pays for it

    assert events(engine) == []
    [held] = outbox(engine)
    assert held.message is None and held.dead
    assert held.event_type == EXAM_ATTEMPT_SUBMITTED and held.partition_key == COURSE
    assert "has no lms_user_id" in held.last_error
    operator = build_outbox_operator(app.app.container)
    status = operator.status()
    assert status["unencodable"] == 1 and status["unpublished"] == 0
    assert status["held"][0]["event_id"] == held.event_id
    with pytest.raises(OperatorError, match="still cannot be encoded"):
        operator.replay(event_id=held.event_id)

    app.get("/api/v1/exams/attempt/latest", headers=auth("nolms", user_id=77))  # the LMS id becomes known
    result = operator.replay(event_id=held.event_id)

    assert result["requeued"] == [{"event_id": held.event_id, "rebuilt": True}]
    [event] = events(engine)
    assert str(event.event_id) == held.event_id
    assert event.student.lms_user_id == 77 and event.requesting_user.lms_user_id == 77
    assert event.time == held.unencoded.time


def test_with_no_event_bus_configured_nothing_is_enqueued(testapp, engine):
    attempt_id = started_attempt(testapp)

    act(testapp, attempt_id, "submit")
    testapp.delete(f"/api/v1/exams/attempt/{attempt_id}", headers=STAFF)

    assert outbox(engine) == []


def test_the_event_time_is_the_moment_of_the_change_in_utc(app, engine, clock):
    clock.set(datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone.utc))
    attempt_id = started_attempt(app)

    act(app, attempt_id, "submit")

    [entry] = outbox(engine)
    assert entry.message.headers["time"] == "2026-03-04T05:06:07.890123+00:00"
