"""Done when: an attempt reaching submitted/verified/rejected/error/reset produces exactly one event on the Redis
stream, which the real openedx-events / edx-event-bus-redis consumer (the LMS's ``consume_events``) accepts with
equal data, even across a broker outage and a relay crash.

The Open edX code runs in its own venv (built by scripts/test, ``$EXAMS_COMPAT_VENV``) through the harness of
tests/integration/redis; without that venv this test is skipped with a loud reason.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from exams.adapters.sql import tables
from exams.adapters.sql.outbox import outbox_entry
from exams.units import build_relay
from tests.integration.events.conftest import EXAM_STREAM
from tests.integration.events.flows import course_key, learner, reach, register, usage_key
from tests.integration.events.test_relay import Crash, ScriptedBus
from tests.integration.redis.test_openedx_compat import COMPAT_PYTHON, HERE as HARNESS_DIR, MISSING

USERS = {"learner1": 101, "learner2": 102, "learner3": 103, "learner4": 104, "learner5": 105, "staff": 1}


def outbox_rows(engine):
    with Session(engine) as session:
        return [outbox_entry(r) for r in session.execute(select(tables.event_outbox).order_by(tables.event_outbox.c.seq))]


def lms_consumes(redis_url: str, expected: int) -> dict:
    """Run the LMS's consumer (consume_events with check_backlog) on our stream; return what its signals got."""
    proc = subprocess.run(
        [str(COMPAT_PYTHON), str(HARNESS_DIR / "compat_harness.py"), redis_url, str(expected)],
        input=json.dumps({"payloads": {}, "role_events": []}), capture_output=True, text=True, timeout=180,
        cwd=str(HARNESS_DIR))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("COMPAT-REPORT ")]
    assert proc.returncode == 0 and lines, f"compat harness failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return json.loads(lines[-1][len("COMPAT-REPORT "):])


def test_every_outcome_reaches_the_real_lms_consumer_once_with_equal_data_across_an_outage_and_a_crash(
        broker_app, broker, engine, clock):
    if not COMPAT_PYTHON.exists():
        pytest.skip(MISSING)
    app = broker_app
    clock.freeze()
    proctored, timed = register(app, course_key("A")), register(app, course_key("B"), exam_type="timed")
    relay = build_relay(app.app.container, owner="first")

    reach(app, "submitted", proctored, learner(1))
    reach(app, "verified", proctored, learner(2))
    assert relay.tick().published == 3
    broker.stop()  # the broker goes away; learners and staff carry on
    reach(app, "rejected", timed, learner(3))
    reach(app, "error", timed, learner(4))
    assert relay.tick().bus_unavailable
    broker.start()
    reach(app, "reset", proctored, learner(5))
    clock.advance(minutes=10)
    crashing = build_relay(app.app.container, owner="first")  # the same relay, now dying after 2 publishes
    crashing.bus = ScriptedBus(crashing.bus, crash_after=2)
    with pytest.raises(Crash):
        crashing.tick()
    clock.advance(seconds=31)  # its lease runs out; another relay takes over
    assert build_relay(app.app.container, owner="second").tick().published == 5  # 2 again (no-ops), 3 new

    rows = outbox_rows(engine)
    assert len(rows) == 8 and all(r.published_at for r in rows)
    client = broker.client()
    assert client.xlen(EXAM_STREAM) == 8  # exactly one entry per event
    report = lms_consumes(broker.url, expected=8)

    received = report["received"]
    assert [r["metadata"]["id"] for r in received] == [r.event_id for r in rows]
    for row, got in zip(rows, received):
        assert got["signal"] == row.event_type and got["from_event_bus"] is True
        assert got["metadata"] == {
            "event_type": row.event_type, "id": row.event_id, "time": row.message.headers["time"],
            "time_is_utc": True, "source": "openedx/edx-exams/web", "sourcehost": row.message.headers["sourcehost"],
            "sourcelib": [10, 5, 0], "minorversion": 0}
        attempt = got["exam_attempt"]
        course = row.partition_key
        assert attempt["course_key"] == {"class": "CourseLocator", "str": course}
        assert attempt["usage_key"] == {"class": "BlockUsageLocator", "str": usage_key(course)}
        assert attempt["exam_type"] == ("proctored" if course == course_key("A") else "timed")
        student = attempt["student_user"]
        assert student == {"id": USERS[student["pii"]["username"]], "is_active": True,
                           "pii": {"username": student["pii"]["username"],
                                   "email": f"{student['pii']['username']}@example.com", "name": ""}}
        requester = attempt["requesting_user"]
        if row.event_type.endswith(".submitted.v1"):
            assert requester == student
        elif row.event_type.endswith(".reset.v1"):
            assert requester["id"] == 1 and requester["pii"]["username"] == "staff"
        else:
            assert requester is None
    assert sorted(r["signal"].split(".")[-2] for r in received) == sorted(
        ["submitted"] * 4 + ["verified", "rejected", "errored", "reset"])
