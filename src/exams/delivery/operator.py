"""What an operator sees and repairs in the event outbox: ``exams events status|replay|purge`` (JSON answers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Protocol

from exams.ports.clock import Clock
from exams.ports.events import DEFAULT_SOURCE, EventBus, EventEncoder, EventEncodingError, WireMessage
from exams.ports.outbox import OutboxEntry
from exams.services.events import EventUnit, Transact, rebuild

from .relay import RELAY_LEASE


class ReplayingBus(EventBus, Protocol):
    """A bus that can append an event again on purpose (an operator's replay)."""

    def publish(self, message: WireMessage, force: bool = False) -> str:
        """As ``EventBus.publish``; ``force`` appends even if this event id was published before."""


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
