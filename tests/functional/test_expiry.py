"""Abandoned attempts are submitted at their deadline even when nobody reads them: ``exams -c INI expire``
(cron) and the in-process sweeper (``exams.expiry.sweep_interval``)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from exams import cli
from exams.adapters.sql import tables
from exams.app import start_sweeper
from tests.conftest import JWT_SECRET, auth
from tests.functional.attempt_world import World, setup_course


@pytest.fixture
def world(testapp, wsgi, clock):
    world, world.exams = setup_course(testapp, wsgi, clock, timed={"exam_type": "timed", "minutes": 30},
                                      long={"exam_type": "timed", "minutes": 240},
                                      proctored={"exam_type": "proctored", "minutes": 30})
    return world


def cli_ini(tmp_path, database_url: str) -> str:
    """An operator's ini for the test database, with an event bus so that outcomes land in the outbox."""
    path = tmp_path / "operator.ini"
    path.write_text(f"""[app:main]
use = egg:exams
sqlalchemy.url = {database_url}
exams.jwt.secret_key = {JWT_SECRET}
exams.access_token.key_file = var/key.json
exams.event_bus.backend = redis
exams.event_bus.redis_url = redis://127.0.0.1:9/0
""")
    return str(path)


def test_the_expire_command_submits_every_abandoned_attempt_past_its_deadline(world: World, tmp_path, capsys,
                                                                              database_url, engine):
    # Started two hours ago by the real clock the command uses.
    world.clock.set(datetime.now(timezone.utc) - timedelta(hours=2))
    abandoned = world.start(world.exams["timed"])
    stopped = world.start(world.exams["timed"], headers=auth("stopper", user_id=21))
    world.act(stopped, "stop", headers=auth("stopper", user_id=21))
    running = world.start(world.exams["long"], headers=auth("slow", user_id=22))
    untouched = world.create(world.exams["proctored"], headers=auth("waiting", user_id=23))["exam_attempt_id"]
    world.clock.reset()

    assert cli.main(["-c", cli_ini(tmp_path, database_url), "expire"]) == 0
    assert json.loads(capsys.readouterr().out) == {"submitted": 2}

    for attempt_id in (abandoned, stopped):
        attempt = world.attempt(attempt_id)
        assert attempt.status.value == "submitted"
        assert abs(attempt.end_time - datetime.now(timezone.utc)) < timedelta(minutes=1)
        assert world.history(attempt_id)[-1][:3] == (
            "started" if attempt_id == abandoned else "ready_to_submit", "submitted", None)
    assert world.attempt(running).status.value == "started"
    assert world.attempt(untouched).status.value == "created"
    with engine.connect() as conn:
        events = conn.execute(select(tables.event_outbox.c.event_type)).scalars().all()
    assert events.count("org.openedx.learning.exam.attempt.submitted.v1") == 2

    assert cli.main(["-c", cli_ini(tmp_path, database_url), "expire"]) == 0
    assert json.loads(capsys.readouterr().out) == {"submitted": 0}


def test_the_in_process_sweeper_submits_an_abandoned_attempt(world: World, outcomes):
    abandoned = world.start(world.exams["timed"])
    running = world.start(world.exams["long"], headers=auth("slow", user_id=22))
    world.later(minutes=31)
    sweeper = start_sweeper(world.container, 1)
    try:
        deadline = time.monotonic() + 10
        while world.attempt(abandoned).status.value != "submitted" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sweeper.stop.set()
        sweeper.join(timeout=5)
    attempt = world.attempt(abandoned)
    assert (attempt.status.value, attempt.end_time) == ("submitted", world.now)
    assert world.history(abandoned)[-1] == ("started", "submitted", None, world.now)
    assert [c for c in outcomes.changes if c[0] == abandoned and c[1] == "submitted"] == [
        (abandoned, "submitted", "learner", "learner")]
    assert world.attempt(running).status.value == "started"
    # After the sweep, the learner's read shows what happened.
    assert world.latest(content_id=world.learner_exam("timed")["exam"]["content_id"])["attempt_status"] == "submitted"

