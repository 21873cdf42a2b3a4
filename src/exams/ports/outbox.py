"""Ports for the event outbox (attempt events waiting for the bus) and the inbox (role events already applied).

The outbox is written in the transaction of the attempt change, so an event exists if and only if the change was
committed; the relay publishes it afterwards. The inbox remembers which incoming role events were applied, so a
redelivered event changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping, Protocol

from exams.ports.events import WireMessage


@dataclass(frozen=True)
class UnencodedEvent:
    """The facts of an attempt event that could not be encoded when it happened (a user without
    ``lms_user_id``): enough to build it again later, with the users as they are then."""

    event_type: str
    event_id: str
    time: datetime
    course_key: str
    usage_key: str
    exam_type: str
    student_id: int  # local user ids
    requesting_user_id: int | None
    attempt_id: int | None = None


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox row. ``message`` is None for an event that could not be encoded (``unencoded`` says what it was)."""

    seq: int
    event_id: str
    event_type: str
    partition_key: str
    message: WireMessage | None
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    published_at: datetime | None = None
    broker_msg_id: str | None = None
    dead: bool = False
    unencoded: UnencodedEvent | None = None


@dataclass(frozen=True)
class OutboxStats:
    unpublished: int  # waiting for the relay (not dead)
    dead: int  # refused by the broker, waiting for an operator
    unencodable: int  # could not be encoded, waiting for an operator
    published: int  # published and kept for replay until purged
    oldest_unpublished_at: datetime | None


@dataclass(frozen=True)
class Lease:
    name: str
    owner: str | None
    expires_at: datetime | None


class Outbox(Protocol):
    """The outbox table of one unit of work. Never commits."""

    def append(self, message: WireMessage, created_at: datetime) -> int:
        """Store an encoded event for the relay; return its sequence number (the publishing order)."""

    def append_unencoded(self, event: UnencodedEvent, topic: str, headers: Mapping[str, str], reason: str,
                         created_at: datetime) -> int:
        """Store an event that could not be encoded, held for an operator (the relay skips it).

        ``headers`` are the intended metadata (``time, source, sourcehost, sourcelib, minorversion``)."""

    def unpublished(self, limit: int) -> list[OutboxEntry]:
        """Encoded events not yet published, dead ones included (they hold back their course), by ``seq``."""

    def mark_published(self, seq: int, broker_msg_id: str, at: datetime) -> None:
        """Record a successful publish."""

    def mark_failed(self, seq: int, error: str, next_attempt_at: datetime) -> None:
        """Record a failed publish that will be retried at ``next_attempt_at`` (counts the attempt)."""

    def mark_dead(self, seq: int, error: str) -> None:
        """Record a publish the broker refused for good: nothing retries it until an operator does."""

    def get(self, event_id: str) -> OutboxEntry | None:
        """The row of this event, if kept."""

    def requeue(self, seq: int, message: WireMessage | None = None) -> None:
        """Make a row publishable again from scratch (not dead, no attempts, not published); ``message``
        replaces what is stored (an event rebuilt after it could not be encoded; same event id)."""

    def published_since(self, since: datetime, limit: int) -> list[OutboxEntry]:
        """Published rows created at or after ``since``, by ``seq``."""

    def held(self, limit: int) -> list[OutboxEntry]:
        """Rows waiting for an operator (dead or unencodable), by ``seq``."""

    def stats(self) -> OutboxStats:
        """Counts for monitoring."""

    def purge_published(self, before: datetime) -> int:
        """Delete rows published before ``before``; return how many."""

    def delete(self, seq: int) -> None:
        """Drop one row (an operator giving up on an event)."""


class RelayLease(Protocol):
    """Who is the one active relay. Each call is meant to run in its own short transaction."""

    def acquire_lease(self, name: str, owner: str, now: datetime, ttl_seconds: float) -> bool:
        """Take or renew the lease ``name`` for ``owner`` until ``now + ttl``; False if another owner holds it."""

    def release_lease(self, name: str, owner: str) -> None:
        """Give the lease up (only if ``owner`` holds it)."""

    def lease(self, name: str) -> Lease | None:
        """The lease as it stands."""


class EventInbox(Protocol):
    """Incoming events already applied, and those that could not be. Never commits."""

    def record(self, event_id: str, event_type: str, message_id: str, at: datetime) -> bool:
        """Remember the event as applied; False if it already was (the caller must then change nothing)."""

    def set_outcome(self, event_id: str, outcome: str) -> None:
        """What applying the event did (``added``, ``removed``, ``ignored``, ...)."""

    def dead_letter(self, message_id: str, event_id: str | None, event_type: str | None, error: str,
                    raw: Mapping[str, bytes], times_delivered: int, at: datetime) -> None:
        """Keep a message that could not be applied, with the reason, for an operator."""

    def dead_count(self) -> int:
        """How many messages were dead-lettered."""
