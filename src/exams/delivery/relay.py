"""Publishing the event outbox: the relay, its lease and its loop (``exams relay``, or a thread of the web app).

``OutboxRelay`` publishes outbox rows in ``seq`` order per course, retries with backoff, and runs as the one
holder of a lease so that several started relays publish nothing twice.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Protocol

from exams.ports.clock import Clock
from exams.ports.events import BusUnavailable, EventBus, PublishRejected
from exams.ports.outbox import Outbox, OutboxEntry
from exams.services.events import Transact

log = logging.getLogger(__name__)

RELAY_LEASE = "event-outbox-relay"


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
