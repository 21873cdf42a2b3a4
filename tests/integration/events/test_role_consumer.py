"""Course staff roles from the LMS over a real Redis: entries written exactly as the LMS producer writes them
(event-bus.md §1.4, §4.6), applied once each, acknowledged only after the commit."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from exams import cli
from exams.adapters.lms.wire import encode_event, redis_fields
from exams.adapters.sql import tables
from exams.units import build_role_consumer
from exams.ports.events import COURSE_ACCESS_ROLE_ADDED, COURSE_ACCESS_ROLE_REMOVED, CourseAccessRoleEvent, EventUser
from tests.conftest import auth
from tests.integration.events.conftest import PREFIX, ROLE_STREAM
from tests.integration.events.flows import course_key

COURSE = course_key("Roles")
SAM = EventUser(lms_user_id=7, is_active=True, username="sam", email="sam@example.com", full_name="Sam Staff")
SAM_HEADERS = auth("sam", user_id=7, email="sam@example.com")
ALLOWANCES = f"/api/v1/exams/course_id/{COURSE}/allowances"


def lms_publishes(client, event_type, role="staff", user=SAM, course=COURSE, event_id=None) -> str:
    """XADD a role event the way the LMS's edx-event-bus-redis producer does; return its event id."""
    event = CourseAccessRoleEvent(event_type=event_type, user=user, org_key="edX", course_key=course, role=role,
                                  event_id=event_id or uuid.uuid4())
    client.xadd(ROLE_STREAM, redis_fields(encode_event(event)), maxlen=10000, approximate=True)
    return str(event.event_id)


def consumer(app):
    """A freshly started consumer (a new process, for the reader's state), same group and name as before."""
    return build_role_consumer(app.app.container, block_ms=50)


def roles(engine):
    with engine.connect() as conn:
        return sorted((r.username, r.course_id, r.role) for r in conn.execute(
            select(tables.users.c.username, tables.course_staff_roles.c.course_id, tables.course_staff_roles.c.role)
            .join(tables.users, tables.users.c.id == tables.course_staff_roles.c.user_id)))


def pending(client) -> int:
    return client.xpending(ROLE_STREAM, "edx-exams")["pending"]


def test_an_added_role_makes_the_user_course_staff(broker_app, broker, engine):
    client = broker.client()
    broker_app.get(ALLOWANCES, headers=SAM_HEADERS, status=403)
    lms_publishes(client, COURSE_ACCESS_ROLE_ADDED, role="staff")

    counts = consumer(broker_app).drain()

    assert counts == {"added": 1}
    assert roles(engine) == [("sam", COURSE, "staff")]
    broker_app.get(ALLOWANCES, headers=SAM_HEADERS, status=200)
    assert pending(client) == 0


def test_a_user_first_known_from_a_role_event_gets_the_lms_id_and_email(broker_app, broker, engine):
    lms_publishes(broker.client(), COURSE_ACCESS_ROLE_ADDED, role="instructor")

    consumer(broker_app).drain()

    with engine.connect() as conn:
        user = conn.execute(select(tables.users).where(tables.users.c.username == "sam")).one()
    assert (user.lms_user_id, user.email, user.full_name) == (7, "sam@example.com", "Sam Staff")


def test_a_duplicate_delivery_of_an_added_role_changes_nothing(broker_app, broker, engine):
    client = broker.client()
    event_id = lms_publishes(client, COURSE_ACCESS_ROLE_ADDED, role="limited_staff")
    lms_publishes(client, COURSE_ACCESS_ROLE_ADDED, role="limited_staff", event_id=uuid.UUID(event_id))

    counts = consumer(broker_app).drain()

    assert counts == {"added": 1, "duplicate": 1}
    assert roles(engine) == [("sam", COURSE, "limited_staff")]
    with engine.connect() as conn:
        assert [(r.event_id, r.outcome) for r in conn.execute(select(tables.event_inbox))] == [(event_id, "added")]
    assert pending(client) == 0


def test_a_removed_role_takes_away_that_role_only(broker_app, broker, engine):
    client = broker.client()
    lms_publishes(client, COURSE_ACCESS_ROLE_ADDED, role="staff")
    lms_publishes(client, COURSE_ACCESS_ROLE_ADDED, role="instructor")
    lms_publishes(client, COURSE_ACCESS_ROLE_ADDED, role="staff", course=course_key("Other"))
    lms_publishes(client, COURSE_ACCESS_ROLE_REMOVED, role="staff")

    counts = consumer(broker_app).drain()

    assert counts == {"added": 3, "removed": 1}
    assert roles(engine) == [("sam", course_key("Other"), "staff"), ("sam", COURSE, "instructor")]
    lms_publishes(client, COURSE_ACCESS_ROLE_REMOVED, role="instructor")
    consumer(broker_app).drain()
    broker_app.get(ALLOWANCES, headers=SAM_HEADERS, status=403)


def test_roles_exams_does_not_know_are_acknowledged_and_ignored(broker_app, broker, engine):
    client = broker.client()
    lms_publishes(client, COURSE_ACCESS_ROLE_ADDED, role="beta_testers")
    lms_publishes(client, COURSE_ACCESS_ROLE_REMOVED, role="data_researcher")

    assert consumer(broker_app).drain() == {"ignored": 2}
    assert roles(engine) == []
    assert pending(client) == 0


def test_a_malformed_entry_is_dead_lettered_and_acknowledged(broker_app, broker, engine):
    client = broker.client()
    client.xadd(ROLE_STREAM, {"type": COURSE_ACCESS_ROLE_ADDED, "id": str(uuid.uuid4()), "event_data": b"\x00\x01"})
    lms_publishes(client, COURSE_ACCESS_ROLE_ADDED)

    counts = consumer(broker_app).drain()

    assert counts == {"dead": 1, "added": 1}
    with engine.connect() as conn:
        [dead] = conn.execute(select(tables.event_inbox_dead)).all()
    assert dead.error and json.loads(dead.raw)["event_data"] == "hex:0001"
    assert pending(client) == 0


def test_entries_written_while_the_consumer_was_stopped_are_applied_on_restart(broker_app, broker, engine):
    client = broker.client()
    lms_publishes(client, COURSE_ACCESS_ROLE_ADDED, role="staff")
    consumer(broker_app).drain()

    lms_publishes(client, COURSE_ACCESS_ROLE_ADDED, role="instructor")  # nobody is reading now
    lms_publishes(client, COURSE_ACCESS_ROLE_REMOVED, role="staff")
    counts = consumer(broker_app).drain()  # a new process, same group and name

    assert counts == {"added": 1, "removed": 1}
    assert roles(engine) == [("sam", COURSE, "instructor")]


def test_the_first_start_applies_the_backlog_already_in_the_stream(broker_app, broker, engine):
    client = broker.client()
    for role in ("staff", "instructor", "limited_staff"):
        lms_publishes(client, COURSE_ACCESS_ROLE_ADDED, role=role)

    assert consumer(broker_app).drain() == {"added": 3}


def test_a_failed_transaction_leaves_the_entry_pending_and_it_is_applied_on_retry(broker_app, broker, engine):
    client = broker.client()
    lms_publishes(client, COURSE_ACCESS_ROLE_ADDED, role="staff")
    failing = consumer(broker_app)
    real = failing.transact

    def database_down(work):
        raise ConnectionError("the database went away")

    failing.transact = database_down
    assert failing.drain() == {"retry": 1}
    assert pending(client) == 1 and roles(engine) == []

    failing.transact = real
    assert consumer(broker_app).drain() == {"added": 1}  # the restarted consumer reads its pending entries first
    assert pending(client) == 0 and roles(engine) == [("sam", COURSE, "staff")]


def test_an_entry_failing_on_every_delivery_is_dead_lettered_in_the_end(broker_app, broker, engine):
    client = broker.client()
    lms_publishes(client, COURSE_ACCESS_ROLE_ADDED, role="staff")

    def inbox_broken(*args):
        raise ConnectionError("the inbox table is locked")

    outcomes = []
    for _ in range(4):  # each pass is a restarted consumer: it gets its pending entry again
        stuck = consumer(broker_app)
        stuck.max_deliveries = 3
        real = stuck.transact

        def applying_fails(work, real=real):
            def with_broken_inbox(unit):
                unit.inbox.record = inbox_broken
                return work(unit)
            return real(with_broken_inbox)

        stuck.transact = applying_fails
        outcomes.append(stuck.drain())

    assert outcomes == [{"retry": 1}, {"retry": 1}, {"dead": 1}, {}]
    with engine.connect() as conn:
        [dead] = conn.execute(select(tables.event_inbox_dead)).all()
    assert "failed 3 times" in dead.error and dead.times_delivered == 3
    assert pending(client) == 0 and roles(engine) == []


def test_the_consume_roles_command_applies_what_is_waiting_and_prints_counts(broker_app, broker, engine,
                                                                            database_url, tmp_path, capsys):
    lms_publishes(broker.client(), COURSE_ACCESS_ROLE_ADDED, role="staff")
    ini = tmp_path / "exams.ini"
    ini.write_text(f"[app:main]\nuse = egg:exams\nsqlalchemy.url = {database_url}\n"
                   f"exams.event_bus.backend = redis\nexams.event_bus.redis_url = {broker.url}\n"
                   f"exams.event_bus.topic_prefix = {PREFIX}\n")

    assert cli.main(["-c", str(ini), "consume-roles", "--once"]) == 0

    assert json.loads(capsys.readouterr().out) == {"added": 1}
    assert roles(engine) == [("sam", COURSE, "staff")]
    assert cli.main(["-c", str(ini), "events", "status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["backend"] == "redis" and status["role_events_dead"] == 0
