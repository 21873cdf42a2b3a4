"""``exams -c INI relay`` as a real process: killed mid-batch (kill -9), then replaced; stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exams import cli
from exams.adapters.lms.wire import LmsEventEncoder, decode_exam_attempt_entry
from exams.adapters.sql import tables
from exams.adapters.sql.outbox import SqlOutbox
from exams.ports.events import EXAM_ATTEMPT_SUBMITTED, EventUser, ExamAttemptEvent
from tests.integration.events.conftest import EXAM_STREAM, PREFIX
from tests.integration.events.flows import course_key, usage_key

COUNT = 600


def enqueue(engine, count: int) -> list[str]:
    """``count`` submitted events in the outbox, over three courses; return their ids in seq order."""
    encoder = LmsEventEncoder()
    now = datetime.now(timezone.utc)
    ids = []
    with Session(engine) as session, session.begin():
        outbox = SqlOutbox(session)
        for n in range(count):
            course = course_key(f"C{n % 3}")
            student = EventUser(lms_user_id=n + 1, is_active=True, username=f"u{n}", email=f"u{n}@example.com")
            event = ExamAttemptEvent(EXAM_ATTEMPT_SUBMITTED, student, course, usage_key(course), "timed",
                                     requesting_user=student, time=now)
            outbox.append(encoder.encode(event), now)
            ids.append(str(event.event_id))
    return ids


def write_ini(tmp_path, database_url: str, redis_url: str):
    ini = tmp_path / "relay.ini"
    ini.write_text(f"[app:main]\nuse = egg:exams\nsqlalchemy.url = {database_url}\n"
                   f"exams.event_bus.backend = redis\nexams.event_bus.redis_url = {redis_url}\n"
                   f"exams.event_bus.topic_prefix = {PREFIX}\nexams.event_bus.relay_interval = 0.05\n")
    return ini


def start_relay(ini) -> subprocess.Popen:
    log = open(ini.with_suffix(".log"), "wb")
    process = subprocess.Popen([sys.executable, "-m", "exams.cli", "-c", str(ini), "relay"],
                               stdout=subprocess.DEVNULL, stderr=log, env=os.environ.copy())
    log.close()
    process.log = ini.with_suffix(".log")
    return process


def published_count(engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(tables.event_outbox.c.seq)
                                .where(tables.event_outbox.c.published_at.is_not(None))).all())


def test_a_relay_process_killed_mid_batch_is_replaced_without_loss_or_duplicates(db, engine, database_url,
                                                                                   redis_server, redis_client,
                                                                                   tmp_path, capsys):
    ids = enqueue(engine, COUNT)
    ini = write_ini(tmp_path, database_url, redis_server)
    process = start_relay(ini)
    deadline = time.monotonic() + 30
    while redis_client.xlen(EXAM_STREAM) == 0:
        assert process.poll() is None, process.log.read_text()
        assert time.monotonic() < deadline, "the relay published nothing"
    process.kill()  # SIGKILL: no cleanup, the lease stays taken
    process.wait(10)
    on_stream, marked = redis_client.xlen(EXAM_STREAM), published_count(engine)

    assert on_stream < COUNT or marked < COUNT, "the relay finished before it was killed: nothing was tested"
    with engine.begin() as conn:  # its lease runs out (30 s, shortened here)
        conn.execute(update(tables.event_relay_lease).values(expires_at=datetime.now(timezone.utc)
                                                             - timedelta(seconds=1)))
    assert cli.main(["-c", str(ini), "relay", "--once"]) == 0
    summary = json.loads(capsys.readouterr().out)

    assert summary["leader"] and summary["failed"] == summary["dead"] == 0
    entries = redis_client.xrange(EXAM_STREAM, "-", "+")
    got = [str(decode_exam_attempt_entry({k.decode(): v for k, v in f.items()}).event_id) for _, f in entries]
    assert got == ids  # every event once, in the order it was enqueued
    assert published_count(engine) == COUNT


def test_a_relay_process_stops_on_sigterm_and_hands_the_lease_back(db, engine, database_url, redis_server,
                                                                  redis_client, tmp_path):
    enqueue(engine, 5)
    process = start_relay(write_ini(tmp_path, database_url, redis_server))
    deadline = time.monotonic() + 30
    while published_count(engine) < 5:
        assert process.poll() is None, process.log.read_text()
        assert time.monotonic() < deadline, "the relay did not publish"
        time.sleep(0.02)

    process.send_signal(signal.SIGTERM)

    assert process.wait(10) == 0
    with Session(engine) as session:
        lease = SqlOutbox(session).lease("event-outbox-relay")
    assert lease.owner is None
    assert redis_client.xlen(EXAM_STREAM) == 5
