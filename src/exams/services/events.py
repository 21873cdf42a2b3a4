"""Attempt outcomes to the LMS through the event outbox: enqueue in the request, publish in the relay.

* ``EventOutcomeSink`` (an ``OutcomeSink``) builds the exam attempt event where edx-exams sends it and writes it,
  encoded, to the outbox in the caller's transaction: the event exists if and only if the change is committed.
* ``OutboxRelay`` publishes outbox rows in ``seq`` order per course, retries with backoff, and runs as the one
  holder of a lease so that several started relays publish nothing twice.
* ``OutboxOperator`` is what an operator sees and repairs: status, replay, purge.

An event whose user has no ``lms_user_id`` cannot be sent (the LMS finds the learner by it). The learner's request
still succeeds; the event is kept, held, with its facts (``UnencodedEvent``) and a warning is logged, so that an
operator can see it and send it once the user is known to the LMS (docs/events.md).
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Protocol, TypeVar

from exams.domain.attempts import Attempt, AttemptStatus, StatusChange
from exams.domain.exams import Exam
from exams.domain.users import User
from exams.ports.clock import Clock
from exams.ports.events import (
    DEFAULT_SOURCE,
    DEFAULT_SOURCELIB,
    EXAM_ATTEMPT_ERRORED,
    EXAM_ATTEMPT_REJECTED,
    EXAM_ATTEMPT_RESET,
    EXAM_ATTEMPT_SUBMITTED,
    EXAM_ATTEMPT_TOPIC,
    EXAM_ATTEMPT_VERIFIED,
    BusUnavailable,
    EventBus,
    EventEncoder,
    EventEncodingError,
    EventUser,
    ExamAttemptEvent,
    PublishRejected,
    WireMessage,
)
from exams.ports.outbox import EventInbox, Outbox, OutboxEntry, RelayLease, UnencodedEvent
from exams.ports.repositories import Repositories

log = logging.getLogger(__name__)
T = TypeVar("T")

S = AttemptStatus
# The statuses edx-exams announces (edx-exams.md §2.4); second_review_required and the rest send nothing.
OUTCOME_EVENT_TYPES = {
    S.SUBMITTED: EXAM_ATTEMPT_SUBMITTED,
    S.VERIFIED: EXAM_ATTEMPT_VERIFIED,
    S.REJECTED: EXAM_ATTEMPT_REJECTED,
    S.ERROR: EXAM_ATTEMPT_ERRORED,
}
RELAY_LEASE = "event-outbox-relay"


class OutboxStore(Outbox, RelayLease, Protocol):
    """The outbox and its relay lease, as one unit of work sees them."""


@dataclass
class EventUnit:
    """What the event use cases touch in one transaction."""

    outbox: OutboxStore
    inbox: EventInbox
    repos: Repositories


Transact = Callable[[Callable[[EventUnit], T]], T]
"""Runs the work in its own transaction: commits when it returns, rolls back when it raises."""


def event_user(user: User) -> EventUser:
    """The user as the LMS knows them; refuses a user the LMS cannot identify."""
    if user.lms_user_id is None:
        raise EventEncodingError(f"user {user.username!r} (id {user.id}) has no lms_user_id")
    return EventUser(lms_user_id=user.lms_user_id, is_active=bool(user.is_active), username=user.username,
                     email=user.email or "", full_name=user.full_name or "")


# -- enqueue -------------------------------------------------------------------------------------------------------
class EventOutcomeSink:
    """``OutcomeSink`` writing exam attempt events to the outbox of the caller's unit of work."""

    def __init__(self, outbox: Outbox, encoder: EventEncoder, clock: Clock, *, source: str = DEFAULT_SOURCE,
                 sourcehost: str | None = None, sourcelib: str = DEFAULT_SOURCELIB):
        self.outbox = outbox
        self.encoder = encoder
        self.clock = clock
        self.metadata = {"source": source, "sourcelib": sourcelib}
        if sourcehost:
            self.metadata["sourcehost"] = sourcehost

    def status_changed(self, attempt: Attempt, exam: Exam, student: User, change: StatusChange | None,
                       requesting_user: User | None) -> None:
        event_type = OUTCOME_EVENT_TYPES.get(change.to_status) if change is not None else None
        if event_type is not None:
            self._enqueue(event_type, attempt, exam, student, requesting_user, change.at)

    def attempt_reset(self, attempt: Attempt, exam: Exam, student: User, requesting_user: User) -> None:
        self._enqueue(EXAM_ATTEMPT_RESET, attempt, exam, student, requesting_user, self.clock.now())

    def _enqueue(self, event_type: str, attempt: Attempt, exam: Exam, student: User, requesting_user: User | None,
                 at: datetime) -> None:
        event_id = uuid.uuid4()
        now = self.clock.now()
        try:
            event = ExamAttemptEvent(
                event_type=event_type, student=event_user(student), course_key=exam.course_id,
                usage_key=exam.content_id, exam_type=exam.exam_type.value,
                requesting_user=event_user(requesting_user) if requesting_user is not None else None,
                event_id=event_id, time=at, **self.metadata)
            message = self.encoder.encode(event)
        except EventEncodingError as exc:
            # Never fail the learner's request for it: hold the event where an operator sees it.
            facts = UnencodedEvent(
                event_type=event_type, event_id=str(event_id), time=at, course_key=exam.course_id,
                usage_key=exam.content_id, exam_type=exam.exam_type.value, student_id=student.id,
                requesting_user_id=requesting_user.id if requesting_user is not None else None,
                attempt_id=attempt.id)
            log.warning("exam attempt event %s (%s, attempt %s, course %s) cannot be sent to the LMS: %s; "
                        "held in the outbox for an operator (exams events status)",
                        event_id, event_type, attempt.id, exam.course_id, exc)
            headers = {"time": at.isoformat(), "minorversion": "0", "sourcehost": "", **self.metadata}
            self.outbox.append_unencoded(facts, EXAM_ATTEMPT_TOPIC, headers, str(exc), now)
            return
        self.outbox.append(message, now)


def rebuild(facts: UnencodedEvent, repos: Repositories, encoder: EventEncoder, *, source: str,
            sourcelib: str = DEFAULT_SOURCELIB) -> WireMessage:
    """Encode a held event again with its users as they are now (same id and time). Raises
    ``EventEncodingError`` if it still cannot be encoded."""
    student = repos.users.get(facts.student_id)
    requesting = repos.users.get(facts.requesting_user_id) if facts.requesting_user_id is not None else None
    if student is None or (facts.requesting_user_id is not None and requesting is None):
        raise EventEncodingError("a user of this event no longer exists")
    event = ExamAttemptEvent(
        event_type=facts.event_type, student=event_user(student), course_key=facts.course_key,
        usage_key=facts.usage_key, exam_type=facts.exam_type,
        requesting_user=event_user(requesting) if requesting is not None else None,
        event_id=uuid.UUID(facts.event_id), time=facts.time, source=source, sourcelib=sourcelib)
    return encoder.encode(event)


# -- relay ---------------------------------------------------------------------------------------------------------
def backoff_seconds(attempts: int, *, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff with jitter: ``min(cap, base * 2**(attempts-1))`` scaled by 0.5..1.5 (``jitter`` 0..1)."""
    return min(cap, base * (2 ** min(max(attempts - 1, 0), 32))) * (0.5 + jitter)


@dataclass
class RelayTick:
    """What one pass of the relay did."""

    leader: bool
    published: int = 0
    failed: int = 0  # transient failures, retried later
    dead: int = 0  # refused for good in this pass
    held_back: int = 0  # not due yet, or behind an earlier event of the same course
    purged: int = 0
    bus_unavailable: bool = False
    more: bool = False  # a full batch: more may be waiting


class ReplayingBus(EventBus, Protocol):
    """A bus that can append an event again on purpose (an operator's replay)."""

    def publish(self, message: WireMessage, force: bool = False) -> str:
        """As ``EventBus.publish``; ``force`` appends even if this event id was published before."""


class Stop(Protocol):
    """``threading.Event``-like: set to stop a loop; ``wait`` sleeps until set or timeout."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


@dataclass
class OutboxRelay:
    """Publishes the outbox to the bus. Run ``tick()`` in a loop (``run``), in one process or several.

    Per tick: take or renew the lease (one active relay; the others idle), read up to ``batch_size`` unpublished
    rows by ``seq``, and publish them in order. A row that is not due yet, dead, or fails blocks its course key
    for the rest of the tick, so no later event of that course overtakes it; other courses go on. Results are
    written after the batch: a crash before that republishes the batch, which the bus makes a no-op per event id.
    """

    transact: Transact
    bus: EventBus
    clock: Clock
    owner: str
    lease_ttl: float = 30.0
    batch_size: int = 200
    base_backoff: float = 1.0
    max_backoff: float = 300.0
    max_failures_per_tick: int = 3  # the broker is likely down: stop hammering it
    retention_days: int = 7
    purge_every: timedelta = timedelta(hours=1)
    jitter: Callable[[], float] = random.random
    _next_purge: datetime | None = field(default=None, init=False)

    def tick(self) -> RelayTick:
        now = self.clock.now()
        if not self.transact(lambda u: u.outbox.acquire_lease(RELAY_LEASE, self.owner, now, self.lease_ttl)):
            return RelayTick(leader=False)
        entries: list[OutboxEntry] = self.transact(lambda u: u.outbox.unpublished(self.batch_size))
        result = RelayTick(leader=True, more=len(entries) >= self.batch_size)
        blocked: set[str] = set()
        outcomes: list[tuple] = []
        for entry in entries:
            key = entry.partition_key
            if key in blocked:
                result.held_back += 1
                continue
            if entry.dead or (entry.next_attempt_at is not None and entry.next_attempt_at > now):
                blocked.add(key)
                result.held_back += 1
                continue
            try:
                broker_msg_id = self.bus.publish(entry.message)
            except PublishRejected as exc:
                log.error("event %s (%s) refused by the bus for good, held for an operator: %s",
                          entry.event_id, entry.event_type, exc)
                blocked.add(key)
                outcomes.append(("dead", entry.seq, str(exc)))
                result.dead += 1
            except Exception as exc:  # BusUnavailable, or anything unexpected: retry later, never lose it
                blocked.add(key)
                delay = backoff_seconds(entry.attempts + 1, base=self.base_backoff, cap=self.max_backoff,
                                        jitter=self.jitter())
                outcomes.append(("failed", entry.seq, f"{type(exc).__name__}: {exc}", now + timedelta(seconds=delay)))
                result.failed += 1
                result.bus_unavailable = result.bus_unavailable or isinstance(exc, BusUnavailable)
                log.warning("event %s (%s) not published (attempt %d), retry in %.1fs: %s",
                            entry.event_id, entry.event_type, entry.attempts + 1, delay, exc)
                if result.failed >= self.max_failures_per_tick:
                    break
            else:
                outcomes.append(("published", entry.seq, broker_msg_id, self.clock.now()))
                result.published += 1
        if outcomes:
            self.transact(lambda u: self._record(u.outbox, outcomes))
        result.purged = self._purge_if_due(now)
        return result

    @staticmethod
    def _record(outbox: Outbox, outcomes: list[tuple]) -> None:
        for kind, seq, *rest in outcomes:
            if kind == "published":
                outbox.mark_published(seq, rest[0], rest[1])
            elif kind == "failed":
                outbox.mark_failed(seq, rest[0], rest[1])
            else:
                outbox.mark_dead(seq, rest[0])

    def _purge_if_due(self, now: datetime) -> int:
        if not self.retention_days or (self._next_purge is not None and now < self._next_purge):
            return 0
        self._next_purge = now + self.purge_every
        before = now - timedelta(days=self.retention_days)
        return self.transact(lambda u: u.outbox.purge_published(before))

    def release(self) -> None:
        self.transact(lambda u: u.outbox.release_lease(RELAY_LEASE, self.owner))

    def run(self, stop: Stop, interval: float = 1.0) -> None:
        """Tick until ``stop`` is set; then give the lease up so another relay takes over at once."""
        failures = 0
        while not stop.is_set():
            try:
                result = self.tick()
            except Exception:  # the database is away, most likely: keep going, slower
                log.exception("event relay pass failed")
                result = RelayTick(leader=False, bus_unavailable=True)
            if result.bus_unavailable:
                failures += 1
                wait = backoff_seconds(failures, base=self.base_backoff, cap=min(self.max_backoff, 60.0),
                                       jitter=self.jitter())
            else:
                failures = 0
                wait = 0 if result.more else interval
            if wait:
                stop.wait(wait)
        try:
            self.release()
        except Exception:
            log.exception("could not release the relay lease (it expires by itself)")


# -- the operator --------------------------------------------------------------------------------------------------
def _entry_json(entry: OutboxEntry) -> dict:
    data = {"seq": entry.seq, "event_id": entry.event_id, "event_type": entry.event_type,
            "course_key": entry.partition_key, "created_at": entry.created_at, "attempts": entry.attempts,
            "next_attempt_at": entry.next_attempt_at, "last_error": entry.last_error,
            "published_at": entry.published_at, "broker_msg_id": entry.broker_msg_id, "dead": entry.dead}
    if entry.unencoded is not None:
        data["unencodable"] = {"attempt_id": entry.unencoded.attempt_id, "student_id": entry.unencoded.student_id,
                               "requesting_user_id": entry.unencoded.requesting_user_id}
    return data


class OperatorError(Exception):
    """An operator request that cannot be carried out; the message says why."""


@dataclass
class OutboxOperator:
    """``exams events status|replay|purge``."""

    transact: Transact
    clock: Clock
    encoder: EventEncoder | None = None
    bus: ReplayingBus | None = None
    source: str = DEFAULT_SOURCE
    backend: str = "none"
    stream_status: Callable[[], dict] | None = None  # the bus's view: stream length, the LMS group's lag

    def status(self, limit: int = 50) -> dict:
        def work(u: EventUnit) -> dict:
            stats = u.outbox.stats()
            lease = u.outbox.lease(RELAY_LEASE)
            now = self.clock.now()
            oldest = stats.oldest_unpublished_at
            return {
                "backend": self.backend,
                "unpublished": stats.unpublished,
                "oldest_unpublished_age_seconds": round((now - oldest).total_seconds(), 3) if oldest else 0,
                "dead": stats.dead,
                "unencodable": stats.unencodable,
                "published_kept": stats.published,
                "relay": {"owner": lease.owner, "lease_expires_at": lease.expires_at,
                          "active": bool(lease.owner and lease.expires_at and lease.expires_at > now)}
                if lease else None,
                "held": [_entry_json(e) for e in u.outbox.held(limit)],
                "role_events_dead": u.inbox.dead_count(),
            }
        status = self.transact(work)
        if self.stream_status is not None:
            status["stream"] = self.stream_status()
        return status

    def replay(self, event_id: str | None = None, since: datetime | None = None, force: bool = False,
               limit: int = 10_000) -> dict:
        """Send held events again (dead: retried by the relay; unencodable: rebuilt first) or, with ``force``,
        published ones again (a new stream entry carrying the same event id)."""
        if (event_id is None) == (since is None):
            raise OperatorError("give exactly one of --event-id and --since")
        if event_id is not None:
            entry = self.transact(lambda u: u.outbox.get(event_id))
            if entry is None:
                raise OperatorError(f"no event {event_id} in the outbox (never enqueued, or purged)")
            if entry.published_at is None:
                return {"requeued": [self._requeue(entry)], "republished": []}
            entries = [entry]
        else:
            entries = self.transact(lambda u: u.outbox.published_since(since, limit))
            held = [e for e in self.transact(lambda u: u.outbox.held(limit)) if e.created_at >= since]
            requeued = [self._requeue(e) for e in held]
            if not force:
                return {"requeued": requeued, "republished": [],
                        "note": "published events are sent again only with --force"}
            return {"requeued": requeued, "republished": [self._republish(e) for e in entries]}
        if not force:
            raise OperatorError(f"event {event_id} was published at {entry.published_at} as "
                                f"{entry.broker_msg_id}; use --force to send it again")
        return {"requeued": [], "republished": [self._republish(e) for e in entries]}

    def _requeue(self, entry: OutboxEntry) -> dict:
        def work(u: EventUnit) -> dict:
            message = None
            if entry.message is None:
                if entry.unencoded is None or self.encoder is None:
                    raise OperatorError(f"event {entry.event_id} has nothing to publish")
                try:
                    message = rebuild(entry.unencoded, u.repos, self.encoder, source=self.source)
                except EventEncodingError as exc:
                    raise OperatorError(f"event {entry.event_id} still cannot be encoded: {exc}") from None
            u.outbox.requeue(entry.seq, message)
            return {"event_id": entry.event_id, "rebuilt": message is not None}
        return self.transact(work)

    def _republish(self, entry: OutboxEntry) -> dict:
        if self.bus is None:
            raise OperatorError("no event bus is configured (exams.event_bus.backend = none)")
        broker_msg_id = self.bus.publish(entry.message, force=True)
        self.transact(lambda u: u.outbox.mark_published(entry.seq, broker_msg_id, self.clock.now()))
        return {"event_id": entry.event_id, "broker_msg_id": broker_msg_id}

    def purge(self, older_than_days: int | None = None, event_id: str | None = None) -> dict:
        """Delete published rows older than N days, or one held row (the operator gives up on that event)."""
        if event_id is not None:
            def drop(u: EventUnit) -> dict:
                entry = u.outbox.get(event_id)
                if entry is None:
                    raise OperatorError(f"no event {event_id} in the outbox")
                if entry.published_at is None and not entry.dead:
                    raise OperatorError(f"event {event_id} is still waiting for the relay; only held "
                                        "(dead or unencodable) or published events can be purged")
                u.outbox.delete(entry.seq)
                return {"purged": 1, "event_id": event_id}
            return self.transact(drop)
        days = 0 if older_than_days is None else older_than_days
        before = self.clock.now() - timedelta(days=days)
        return {"purged": self.transact(lambda u: u.outbox.purge_published(before)), "published_before": before}
