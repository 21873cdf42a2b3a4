"""The event outbox over in-memory fakes: what an attempt outcome enqueues (EventOutcomeSink), and how the relay
publishes it (order per course, retries with backoff, dead events, one leader, purge, the loop)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from exams.domain.attempts import Attempt, AttemptStatus, StatusChange
from exams.domain.exams import Exam, ExamType
from exams.domain.users import User
from exams.ports.events import EXAM_ATTEMPT_SUBMITTED, BusUnavailable, PublishRejected, WireMessage
from exams.delivery.relay import RELAY_LEASE, OutboxRelay
from exams.services.events import EventOutcomeSink
from tests.fakes import FakeClock
from tests.fakes_events import FakeEventUnits, FakeOutbox

S = AttemptStatus
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
A = "course-v1:edx+a+f19"
B = "course-v1:edx+b+f19"
EVENT_NUMBERS = itertools.count(1)


class FakeEncoder:
    """``EventEncoder`` whose payload is readable: ``<event type>|<student username>``."""

    def encode(self, event):
        headers = {"type": event.event_type, "id": str(event.event_id), "source": event.source,
                   "time": event.time.isoformat(), "minorversion": str(event.minorversion),
                   "sourcehost": event.sourcehost, "sourcelib": event.sourcelib}
        return WireMessage(topic=event.topic, key=event.course_key.encode(), headers=headers,
                           value=f"{event.event_type}|{event.student.username}".encode())


class FakeBus:
    """``EventBus``: records what it publishes; ``refuse`` and ``down`` name event ids it fails for."""

    def __init__(self):
        self.published: list[str] = []
        self.down: set[str] = set()
        self.refuse: set[str] = set()
        self.all_down = False

    def publish(self, message):
        event_id = message.headers["id"]
        if self.all_down or event_id in self.down:
            raise BusUnavailable("connection refused")
        if event_id in self.refuse:
            raise PublishRejected("message too large")
        if event_id not in self.published:
            self.published.append(event_id)
        return f"{self.published.index(event_id) + 1}-0"


class World:
    def __init__(self, **relay_options):
        self.clock = FakeClock(NOW)
        self.outbox = FakeOutbox()
        self.units = FakeEventUnits.new(outbox=self.outbox)
        self.bus = FakeBus()
        options = dict(lease_ttl=30, batch_size=200, base_backoff=1.0, max_backoff=300.0, jitter=lambda: 0.5)
        options.update(relay_options)
        self.relay = OutboxRelay(transact=self.units.transact, bus=self.bus, clock=self.clock, owner="relay-1",
                                 **options)
        self.encoder = FakeEncoder()

    def event(self, course=A) -> str:
        """Append an encoded event of ``course``; its id."""
        event_id = f"00000000-0000-4000-8000-{next(EVENT_NUMBERS):012d}"
        message = WireMessage(topic="learning-exam-attempt-lifecycle", key=course.encode(), value=b"x",
                              headers={"type": EXAM_ATTEMPT_SUBMITTED, "id": event_id, "source": "s",
                                       "time": NOW.isoformat(), "minorversion": "0", "sourcehost": "h",
                                       "sourcelib": "1"})
        self.outbox.append(message, self.clock.now())
        return event_id

    def entry(self, event_id):
        return self.outbox.get(event_id)


@pytest.fixture
def w():
    return World()


# -- enqueue ----------------------------------------------------------------------------------------------
def sink_world():
    w = World()
    student = User(1, "learner", email="l@example.com", lms_user_id=70)
    exam = Exam(2, A, "block-a", "Final", ExamType.PROCTORED, 60)
    attempt = Attempt(3, student.id, exam.id)
    return w, EventOutcomeSink(w.outbox, w.encoder, w.clock, source="openedx/exams/web"), student, exam, attempt


@pytest.mark.parametrize("status, sent", [(S.SUBMITTED, True), (S.VERIFIED, True), (S.REJECTED, True),
                                          (S.ERROR, True), (S.SECOND_REVIEW_REQUIRED, False), (S.STARTED, False)])
def test_only_the_outcomes_the_lms_knows_are_enqueued(status, sent):
    w, sink, student, exam, attempt = sink_world()
    sink.status_changed(attempt, exam, student, StatusChange(3, S.STARTED, status, 1, NOW), student)
    waiting = w.outbox.unpublished(10)
    assert len(waiting) == (1 if sent else 0)
    if sent:
        assert waiting[0].partition_key == A and waiting[0].created_at == NOW
        assert waiting[0].message.value.decode().endswith("|learner")


def test_a_reset_is_enqueued_with_the_caller_as_requesting_user():
    w, sink, student, exam, attempt = sink_world()
    staff = User(9, "staff", lms_user_id=90)
    sink.attempt_reset(attempt, exam, student, staff)
    [entry] = w.outbox.unpublished(10)
    assert entry.event_type == "org.openedx.learning.exam.attempt.reset.v1"


def test_an_event_about_a_user_the_lms_cannot_identify_is_held_for_an_operator(caplog):
    w, sink, _, exam, attempt = sink_world()
    unknown = User(1, "ghost")  # no lms_user_id
    sink.status_changed(attempt, exam, unknown, StatusChange(3, S.STARTED, S.SUBMITTED, 1, NOW), unknown)
    assert w.outbox.unpublished(10) == []
    [held] = w.outbox.held(10)
    assert (held.unencoded.student_id, held.unencoded.attempt_id, held.unencoded.course_key) == (1, 3, A)
    assert "has no lms_user_id" in held.last_error


# -- the relay --------------------------------------------------------------------------------------------
def test_a_tick_publishes_every_waiting_event_in_order_and_records_the_broker_ids(w):
    ids = [w.event(A), w.event(B), w.event(A)]
    tick = w.relay.tick()
    assert (tick.leader, tick.published, tick.failed, tick.more) == (True, 3, 0, False)
    assert w.bus.published == ids
    assert [w.entry(i).broker_msg_id for i in ids] == ["1-0", "2-0", "3-0"]
    assert w.outbox.unpublished(10) == []
    assert w.relay.tick().published == 0


def test_a_failed_event_holds_back_its_course_only_and_is_retried_after_its_backoff(w, caplog):
    first, later, other = w.event(A), w.event(A), w.event(B)
    w.bus.down = {first}
    tick = w.relay.tick()
    assert (tick.published, tick.failed, tick.held_back, tick.bus_unavailable) == (1, 1, 1, True)
    assert w.bus.published == [other]
    failed = w.entry(first)
    assert failed.attempts == 1 and failed.next_attempt_at == NOW + timedelta(seconds=1)  # base * (0.5 + 0.5)
    assert "BusUnavailable" in failed.last_error
    w.bus.down = set()
    assert w.relay.tick().held_back == 2  # not due yet: the course waits, in order
    w.clock.advance(seconds=1)
    assert w.relay.tick().published == 2
    assert w.bus.published == [other, first, later]


def test_the_backoff_doubles_per_attempt_up_to_its_cap(w, caplog):
    event = w.event()
    w.bus.down = {event}
    delays = []
    for _ in range(11):
        w.relay.tick()
        entry = w.entry(event)
        delays.append((entry.next_attempt_at - w.clock.now()).total_seconds())
        w.clock.set(entry.next_attempt_at)
    assert delays[:4] == [1, 2, 4, 8] and delays[-1] == 300


def test_an_event_the_bus_refuses_for_good_is_dead_and_holds_its_course_until_requeued(w, caplog):
    dead, behind, other = w.event(A), w.event(A), w.event(B)
    w.bus.refuse = {dead}
    tick = w.relay.tick()
    assert (tick.dead, tick.published, tick.held_back) == (1, 1, 1)
    assert w.entry(dead).dead and w.bus.published == [other]
    w.clock.advance(hours=1)
    assert w.relay.tick().published == 0  # dead events are not retried
    w.bus.refuse = set()
    w.outbox.requeue(w.entry(dead).seq)
    assert w.relay.tick().published == 2
    assert w.bus.published == [other, dead, behind]


def test_a_tick_stops_after_a_few_failures_when_the_bus_is_down(w, caplog):
    for course in range(5):
        w.event(f"course-v1:edx+c{course}+f19")
    w.bus.all_down = True
    tick = w.relay.tick()
    assert tick.failed == 3 and tick.bus_unavailable
    assert sum(1 for e in w.outbox.unpublished(10) if e.attempts) == 3


def test_a_full_batch_says_more_may_be_waiting():
    w = World(batch_size=2)
    for _ in range(3):
        w.event()
    assert w.relay.tick().more is True
    assert w.relay.tick().more is False
    assert len(w.bus.published) == 3


def test_one_relay_leads_and_another_takes_over_when_its_lease_expires(w):
    w.event()
    other = OutboxRelay(transact=w.units.transact, bus=w.bus, clock=w.clock, owner="relay-2", lease_ttl=30)
    assert w.relay.tick().leader is True
    w.event()
    assert other.tick().leader is False
    assert len(w.bus.published) == 1
    w.clock.advance(seconds=31)
    assert other.tick().published == 1
    assert w.outbox.lease(RELAY_LEASE).owner == "relay-2"
    other.release()
    assert w.relay.tick().leader is True


def test_published_events_are_purged_after_the_retention_once_per_period():
    w = World(retention_days=7, purge_every=timedelta(hours=1))
    old = w.event()
    w.relay.tick()
    w.clock.advance(days=8)
    w.event()
    tick = w.relay.tick()
    assert tick.purged == 1 and w.entry(old) is None
    w.clock.advance(minutes=30)
    w.event()
    assert w.relay.tick().purged == 0  # not due again yet


class Stop:
    """``Stop`` set after ``ticks`` waits; records how long the loop waited each time."""

    def __init__(self, after: int):
        self.after = after
        self.waits: list[float] = []

    def is_set(self):
        return len(self.waits) >= self.after

    def wait(self, timeout=None):
        self.waits.append(timeout)
        return self.is_set()


def test_the_loop_waits_the_interval_when_idle_backs_off_when_the_bus_is_down_and_releases_the_lease(w, caplog):
    for course in range(6):
        w.event(f"course-v1:edx+c{course}+f19")
    w.bus.all_down = True
    stop = Stop(after=3)
    w.relay.run(stop, interval=5)
    # Two passes fail (three events each): back off 1 s, then 2 s; the third finds nothing due: the interval.
    assert stop.waits == [1.0, 2.0, 5]
    assert w.outbox.lease(RELAY_LEASE).owner is None
    w.bus.all_down = False
    w.clock.advance(minutes=10)
    stop = Stop(after=1)
    w.relay.run(stop, interval=5)
    assert stop.waits == [5] and len(w.bus.published) == 6


def test_the_loop_survives_a_failing_database_pass(w, caplog):
    w.units.fail_next = RuntimeError("database is away")
    stop = Stop(after=2)
    w.relay.run(stop, interval=5)
    assert stop.waits[0] == 1.0 and "event relay pass failed" in caplog.text
