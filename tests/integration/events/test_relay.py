"""The relay against a real Redis: what reaches the stream, once, in order per course, whatever fails on the way
(event-bus.md §4.4, §4.8)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from exams.adapters.lms.redis_bus import RedisEventBus
from exams.adapters.lms.wire import LmsEventEncoder, decode_exam_attempt_entry
from exams.adapters.sql import tables
from exams.adapters.sql.outbox import SqlOutbox, outbox_entry
from exams.units import build_outbox_operator, build_relay
from exams.ports.events import EXAM_ATTEMPT_RESET, EXAM_ATTEMPT_SUBMITTED, BusUnavailable, EventUser
from exams.delivery.operator import OperatorError
from exams.delivery.relay import RELAY_LEASE, OutboxRelay
from tests.integration.events.conftest import EXAM_STREAM
from tests.integration.events.flows import course_key, learner, reach, register

FIELD_ORDER = [b"type", b"id", b"source", b"time", b"minorversion", b"sourcehost", b"sourcelib", b"event_data"]


class Crash(BaseException):
    """The relay process dies here (nothing in the relay catches it, as nothing survives a kill -9)."""


class ScriptedBus:
    """The real bus, with failures injected: ``crash_after`` publishes, or a transient failure for chosen events."""

    def __init__(self, bus, crash_after: int | None = None, fail_once: set[str] = frozenset()):
        self.bus = bus
        self.crash_after = crash_after
        self.fail_once = set(fail_once)
        self.calls: list[str] = []

    def publish(self, message, force=False):
        if self.crash_after is not None and len(self.calls) >= self.crash_after:
            raise Crash()
        self.calls.append(message.event_id)
        if message.event_id in self.fail_once:
            self.fail_once.discard(message.event_id)
            raise BusUnavailable("injected: connection reset")
        return self.bus.publish(message, force=force)


def rows(engine):
    """Every outbox row, by seq."""
    with Session(engine) as session:
        return [outbox_entry(r) for r in session.execute(select(tables.event_outbox).order_by(tables.event_outbox.c.seq))]


def stream(client, name=EXAM_STREAM):
    """The stream as the LMS sees it: (entry id, decoded event) in stream order."""
    return [(entry_id.decode(), decode_exam_attempt_entry({k.decode(): v for k, v in fields.items()}))
            for entry_id, fields in client.xrange(name, "-", "+")]


def relay_for(app, bus=None, owner=None, **kw) -> OutboxRelay:
    container = app.app.container
    relay = build_relay(container, owner=owner)
    if bus is not None:
        relay.bus = bus
    for key, value in kw.items():
        setattr(relay, key, value)
    return relay


def drain(relay, clock, ticks=20):
    """Tick (moving the clock past any backoff) until nothing is left to publish."""
    for _ in range(ticks):
        result = relay.tick()
        if not result.failed and not result.held_back and not result.more:
            return
        clock.advance(minutes=10)
    raise AssertionError("the outbox did not drain")


def test_each_outcome_is_published_once_in_the_lms_stream_format(shared_bus_app, engine, redis_client, clock):
    app = shared_bus_app
    exam_id = register(app, course_key("A"))
    expected = []
    for n, outcome in enumerate(["submitted", "verified", "rejected", "error", "reset"]):
        expected += reach(app, outcome, exam_id, learner(n))

    relay = relay_for(app)
    result = relay.tick()

    assert result.leader and result.published == len(expected) == 8
    entries = redis_client.xrange(EXAM_STREAM, "-", "+")
    assert [list(fields) for _, fields in entries] == [FIELD_ORDER] * 8
    published = rows(engine)
    assert [e.event_type for _, e in stream(redis_client)] == expected == [r.event_type for r in published]
    assert [str(e.event_id) for _, e in stream(redis_client)] == [r.event_id for r in published]
    assert [entry_id for entry_id, _ in stream(redis_client)] == [r.broker_msg_id for r in published]
    for row, (_, event) in zip(published, stream(redis_client)):
        assert row.message.value == LmsEventEncoder().encode(event).value  # the bytes we stored are on the wire
        assert event.course_key == course_key("A") and event.time.utcoffset() == timedelta(0)
    again = relay.tick()
    assert again.leader and again.published == 0  # nothing twice
    assert redis_client.xlen(EXAM_STREAM) == 8


def test_the_lms_consumer_group_reads_and_acknowledges_what_the_relay_published(shared_bus_app, redis_client):
    app = shared_bus_app
    reach(app, "submitted", register(app, course_key("A")), learner(1))
    relay = relay_for(app)
    relay.tick()
    redis_client.xgroup_create(EXAM_STREAM, "lms", id="0")

    [[_, [(entry_id, fields)]]] = redis_client.xreadgroup("lms", "c1", {EXAM_STREAM: ">"}, count=1)
    event = decode_exam_attempt_entry({k.decode(): v for k, v in fields.items()})
    redis_client.xack(EXAM_STREAM, "lms", entry_id)

    assert event.event_type == EXAM_ATTEMPT_SUBMITTED
    assert event.student == EventUser(101, True, "learner1", "learner1@example.com")
    assert event.requesting_user == event.student
    assert redis_client.xpending(EXAM_STREAM, "lms")["pending"] == 0
    reach(app, "submitted", register(app, course_key("B")), learner(2))
    relay.tick()
    stream_status = build_outbox_operator(app.app.container).status()["stream"]
    assert stream_status == {"name": EXAM_STREAM, "length": 2, "groups": [
        {"name": "lms", "consumers": 1, "pending": 0, "last_delivered_id": entry_id.decode(), "lag": 1}]}


def test_a_relay_dying_mid_batch_loses_nothing_and_duplicates_nothing(shared_bus_app, engine, redis_client, clock):
    app = shared_bus_app
    clock.freeze()
    exam_id = register(app, course_key("A"))
    for n in range(5):
        reach(app, "reset", exam_id, learner(n))  # 10 events
    dying = relay_for(app, bus=ScriptedBus(app.app.container.event_bus(), crash_after=4), owner="dying")

    with pytest.raises(Crash):
        dying.tick()

    assert redis_client.xlen(EXAM_STREAM) == 4
    assert all(r.published_at is None for r in rows(engine))  # it died before writing down what it sent
    successor = relay_for(app, owner="successor")
    assert not successor.tick().leader  # the dead relay's lease still runs
    clock.advance(seconds=31)
    assert successor.tick().published == 10

    events = stream(redis_client)
    assert [str(e.event_id) for _, e in events] == [r.event_id for r in rows(engine)]  # all, once, in order
    assert all(r.published_at is not None for r in rows(engine))


def test_a_broker_outage_delays_events_and_every_one_arrives_once_in_order_per_course(broker_app, broker, engine,
                                                                                   clock):
    app = broker_app
    clock.freeze()
    exam_a, exam_b = register(app, course_key("A")), register(app, course_key("B"))
    reach(app, "verified", exam_a, learner(1))
    relay = relay_for(app)
    relay.tick()
    broker.stop()

    reach(app, "reset", exam_a, learner(2))  # learners and staff are served while the broker is down
    reach(app, "rejected", exam_b, learner(3))
    down = relay.tick()
    clock.advance(minutes=1)
    reach(app, "error", exam_b, learner(4))
    relay.tick()

    assert down.bus_unavailable and down.failed >= 1 and down.published == 0
    waiting = [r for r in rows(engine) if r.published_at is None]
    assert len(waiting) == 5 and any(r.attempts > 0 and "Unavailable" in r.last_error for r in waiting)
    status = build_outbox_operator(app.app.container).status()
    assert status["unpublished"] == 5 and status["oldest_unpublished_age_seconds"] >= 60
    assert "ConnectionError" in status["stream"]["error"]  # the operator sees the broker is away

    broker.start()
    drain(relay, clock)

    client = broker.client()
    events = stream(client)
    by_seq = rows(engine)
    assert sorted(str(e.event_id) for _, e in events) == sorted(r.event_id for r in by_seq)  # each once
    assert len(events) == 7
    for course in (course_key("A"), course_key("B")):
        assert [str(e.event_id) for _, e in events if e.course_key == course] == \
               [r.event_id for r in by_seq if r.partition_key == course]
    assert build_outbox_operator(app.app.container).status()["oldest_unpublished_age_seconds"] == 0


def test_a_hung_broker_that_applied_a_publish_late_still_gets_each_event_once(broker_app, broker, engine, clock):
    app = broker_app
    clock.freeze()
    exam_id = register(app, course_key("A"))
    reach(app, "verified", exam_id, learner(1))
    impatient = RedisEventBus(broker.client(socket_timeout=0.3, retry=None), topic_prefix="dev")
    relay = relay_for(app, bus=impatient)
    broker.freeze()

    result = relay.tick()  # the XADD waits in the socket while the server sleeps: a timeout, not an answer
    broker.thaw()
    drain(relay, clock)

    assert result.failed >= 1 and result.published == 0
    events = stream(broker.client())
    assert [str(e.event_id) for _, e in events] == [r.event_id for r in rows(engine)]


def test_a_failing_course_holds_back_only_its_own_later_events(shared_bus_app, engine, redis_client, clock):
    app = shared_bus_app
    clock.freeze()
    exam_a, exam_b = register(app, course_key("A")), register(app, course_key("B"))
    reach(app, "reset", exam_a, learner(1))  # A: submitted, reset
    reach(app, "submitted", exam_b, learner(2))  # B: submitted
    a_submitted = rows(engine)[0].event_id
    relay = relay_for(app, bus=ScriptedBus(app.app.container.event_bus(), fail_once={a_submitted}))

    first = relay.tick()

    assert (first.published, first.failed, first.held_back) == (1, 1, 1)
    assert [e.course_key for _, e in stream(redis_client)] == [course_key("B")]
    drain(relay, clock)
    a_events = [e for _, e in stream(redis_client) if e.course_key == course_key("A")]
    assert [(str(e.event_id), e.event_type) for e in a_events] == [(a_submitted, EXAM_ATTEMPT_SUBMITTED),
                                                                   (rows(engine)[1].event_id, EXAM_ATTEMPT_RESET)]


def test_of_two_relays_started_only_one_publishes_and_the_other_takes_over_when_it_stops(shared_bus_app, engine,
                                                                                        redis_client, clock):
    app = shared_bus_app
    clock.freeze()
    exam_id = register(app, course_key("A"))
    bus = app.app.container.event_bus()
    first, second = ScriptedBus(bus), ScriptedBus(bus)
    relay_one, relay_two = relay_for(app, bus=first, owner="one"), relay_for(app, bus=second, owner="two")
    reach(app, "submitted", exam_id, learner(1))

    assert relay_one.tick().leader
    assert not relay_two.tick().leader
    reach(app, "submitted", exam_id, learner(2))
    relay_two.tick()
    relay_one.tick()

    assert len(first.calls) == 2 and second.calls == []
    relay_one.release()  # a relay stopping hands over at once
    reach(app, "submitted", exam_id, learner(3))
    assert relay_two.tick().published == 1
    assert not relay_one.tick().leader
    assert redis_client.xlen(EXAM_STREAM) == 3


def test_relays_running_side_by_side_publish_every_event_exactly_once(shared_bus_app, engine, redis_client, clock):
    app = shared_bus_app
    clock.reset()
    exam_id = register(app, course_key("A"))
    bus = app.app.container.event_bus()
    buses = [ScriptedBus(bus) for _ in range(3)]
    relays = [relay_for(app, bus=b, owner=f"relay-{i}") for i, b in enumerate(buses)]
    stop = threading.Event()
    threads = [threading.Thread(target=r.run, args=(stop, 0.01)) for r in relays]
    for thread in threads:
        thread.start()
    try:
        for n in range(6):
            reach(app, "submitted", exam_id, learner(n))
        deadline = time.monotonic() + 10
        while redis_client.xlen(EXAM_STREAM) < 6 and time.monotonic() < deadline:
            stop.wait(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)

    assert sorted(str(e.event_id) for _, e in stream(redis_client)) == sorted(r.event_id for r in rows(engine))
    assert sum(1 for b in buses if b.calls) == 1  # one leader did all the publishing


def test_a_permanent_refusal_holds_the_event_for_an_operator_who_replays_it(shared_bus_app, engine, redis_client,
                                                                            clock):
    app = shared_bus_app
    clock.freeze()
    reach(app, "submitted", register(app, course_key("A")), learner(1))
    redis_client.set(EXAM_STREAM, b"not a stream")  # XADD now fails with WRONGTYPE
    relay = relay_for(app)
    operator = build_outbox_operator(app.app.container)

    assert relay.tick().dead == 1
    status = operator.status()
    assert (status["dead"], status["unpublished"]) == (1, 0)
    [held] = status["held"]
    assert "WRONGTYPE" in held["last_error"] and held["course_key"] == course_key("A")
    clock.advance(hours=2)
    assert relay.tick().published == 0  # nobody retries it behind the operator's back

    redis_client.delete(EXAM_STREAM)
    assert operator.replay(event_id=held["event_id"]) == {"requeued": [{"event_id": held["event_id"],
                                                                         "rebuilt": False}], "republished": []}
    assert relay.tick().published == 1
    assert [str(e.event_id) for _, e in stream(redis_client)] == [held["event_id"]]


def test_a_forced_replay_appends_the_same_event_again_and_a_plain_one_is_refused(shared_bus_app, engine,
                                                                                 redis_client):
    app = shared_bus_app
    reach(app, "submitted", register(app, course_key("A")), learner(1))
    relay_for(app).tick()
    [row] = rows(engine)
    operator = build_outbox_operator(app.app.container)

    with pytest.raises(OperatorError, match="--force"):
        operator.replay(event_id=row.event_id)
    result = operator.replay(event_id=row.event_id, force=True)

    events = stream(redis_client)
    assert [str(e.event_id) for _, e in events] == [row.event_id, row.event_id]
    assert result["republished"][0]["broker_msg_id"] == events[1][0]


def test_published_events_are_purged_after_the_retention_days_and_never_before(shared_bus_app, engine, clock):
    app = shared_bus_app
    clock.freeze()
    reach(app, "submitted", register(app, course_key("A")), learner(1))
    relay = relay_for(app, retention_days=7)
    relay.tick()
    clock.advance(days=6)
    relay._next_purge = None
    assert relay.tick().purged == 0

    clock.advance(days=2)
    relay._next_purge = None

    assert relay.tick().purged == 1
    assert rows(engine) == []


def test_the_lease_row_is_taken_by_compare_and_set(shared_bus_app, engine, clock):
    transact = shared_bus_app.app.container.event_transactions()
    now = clock.freeze()

    assert transact(lambda u: u.outbox.acquire_lease(RELAY_LEASE, "a", now, 30))
    assert not transact(lambda u: u.outbox.acquire_lease(RELAY_LEASE, "b", now + timedelta(seconds=29), 30))
    assert transact(lambda u: u.outbox.acquire_lease(RELAY_LEASE, "a", now + timedelta(seconds=29), 30))
    assert transact(lambda u: u.outbox.acquire_lease(RELAY_LEASE, "b", now + timedelta(seconds=60), 30))
    assert transact(lambda u: u.outbox.lease(RELAY_LEASE)).owner == "b"


def test_the_relay_in_the_web_process_publishes_after_the_commit(database_url, clock, redis_server, redis_client,
                                                                 db, engine):
    from webtest import TestApp

    from tests.integration.events.conftest import build_app

    clock.reset()
    wsgi = build_app(database_url, clock, redis_server, **{"exams.event_bus.relay_in_process": "true",
                                                           "exams.event_bus.relay_interval": "0.05"})
    [thread] = [t for t in threading.enumerate() if t.name == "exams-event-relay" and not t.stop.is_set()]
    try:
        app = TestApp(wsgi)
        reach(app, "submitted", register(app, course_key("A")), learner(1))
        deadline = time.monotonic() + 10
        while redis_client.xlen(EXAM_STREAM) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        thread.stop.set()
        thread.join(10)

    assert [str(e.event_id) for _, e in stream(redis_client)] == [r.event_id for r in rows(engine)]
    assert not thread.is_alive()
    with Session(engine) as session:
        assert SqlOutbox(session).lease(RELAY_LEASE).owner is None  # handed back on the way out
