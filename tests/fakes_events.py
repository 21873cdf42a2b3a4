"""In-memory fakes of the event ports (exams.ports.events, exams.ports.outbox) for unit tests of the services.

``FakeEventUnits.transact`` runs the work in one unit of work over the fake repositories, inbox and outbox,
and rolls all of them back when the work raises, as the SQL transaction does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from exams.domain.errors import Conflict
from exams.ports.events import BusUnavailable, RoleEventDelivery, WireMessage
from exams.ports.outbox import Lease, OutboxEntry, OutboxStats
from exams.services.events import EventUnit
from tests.fakes import rolled_back_on_error
from tests.fakes_repositories import FakeRepositories


class FakeEventInbox:
    """``EventInbox``: applied events by id, dead letters in order."""

    def __init__(self):
        self.applied: dict[str, dict] = {}
        self.dead: list[dict] = []

    def record(self, event_id, event_type, message_id, at):
        if event_id in self.applied:
            return False
        self.applied[event_id] = {"event_type": event_type, "message_id": message_id, "at": at, "outcome": None}
        return True

    def set_outcome(self, event_id, outcome):
        if event_id in self.applied:
            self.applied[event_id]["outcome"] = outcome

    def dead_letter(self, message_id, event_id, event_type, error, raw: Mapping[str, bytes], times_delivered, at):
        self.dead.append({"message_id": message_id, "event_id": event_id, "event_type": event_type,
                          "error": error[:2000], "raw": dict(raw), "times_delivered": times_delivered, "at": at})

    def dead_count(self):
        return len(self.dead)


@dataclass
class FakeEventUnits:
    """The fake stores of the event use cases, and the ``Transact`` over them."""

    repos: FakeRepositories
    inbox: FakeEventInbox
    outbox: object = None
    fail_next: Exception | None = None  # raised inside the next unit of work, after the work ran

    @classmethod
    def new(cls, outbox=None) -> "FakeEventUnits":
        return cls(FakeRepositories(), FakeEventInbox(), outbox)

    def transact(self, work):
        stores = [self.repos, self.inbox] + ([self.outbox] if self.outbox is not None else [])
        with rolled_back_on_error(*stores):
            result = work(EventUnit(outbox=self.outbox, inbox=self.inbox, repos=self.repos))
            if self.fail_next is not None:
                error, self.fail_next = self.fail_next, None
                raise error
            return result


class FakeRoleEventSource:
    """``RoleEventSource``: a delivery that was read and not acknowledged comes back first on the next read,
    counted as one more delivery (as a consumer group's pending entries do)."""

    def __init__(self, deliveries: Sequence[RoleEventDelivery] = ()):
        self.new: list[RoleEventDelivery] = list(deliveries)
        self.pending: dict[str, RoleEventDelivery] = {}
        self.acked: list[str] = []
        self.unavailable = 0  # how many reads raise BusUnavailable first

    def read(self, max_count=10, block_ms=None):
        if self.unavailable:
            self.unavailable -= 1
            raise BusUnavailable("the broker is down")
        again = [replace(d, times_delivered=d.times_delivered + 1) for d in self.pending.values()]
        batch = (again + self.new)[:max_count]
        self.new = self.new[max(0, len(batch) - len(again)):]
        for delivery in batch:
            self.pending[delivery.message_id] = delivery
        return batch

    def ack(self, message_id):
        self.pending.pop(message_id, None)
        self.acked.append(message_id)


class FakeOutbox:
    """``Outbox`` and ``RelayLease`` in memory (``OutboxStore``); tests/contract/test_outbox.py runs the same
    tests on it and on the SQL outbox. Rows are ``OutboxEntry`` values by ``seq``; a seq is never reused."""

    def __init__(self):
        self.rows: dict[int, OutboxEntry] = {}
        self.last_seq = 0
        self.leases: dict[str, Lease] = {}

    def _insert(self, entry_fields: dict) -> int:
        if any(r.event_id == entry_fields["event_id"] for r in self.rows.values()):
            raise Conflict(f"event {entry_fields['event_id']} is already in the outbox")
        self.last_seq += 1
        self.rows[self.last_seq] = OutboxEntry(seq=self.last_seq, **entry_fields)
        return self.last_seq

    def _set(self, seq: int, **values) -> None:
        if seq in self.rows:
            self.rows[seq] = replace(self.rows[seq], **values)

    @staticmethod
    def _wire(message: WireMessage) -> WireMessage:
        # As the SQL outbox reads it back: the metadata headers in their wire order.
        h = message.headers
        return WireMessage(topic=message.topic, key=message.key, value=bytes(message.value), headers={
            "type": h["type"], "id": h["id"], "source": h["source"], "time": h["time"],
            "minorversion": str(h["minorversion"]), "sourcehost": h["sourcehost"], "sourcelib": h["sourcelib"]})

    def append(self, message, created_at):
        return self._insert(dict(event_id=message.headers["id"], event_type=message.headers["type"],
                                 partition_key=message.key.decode("utf-8"), message=self._wire(message),
                                 created_at=created_at))

    def append_unencoded(self, event, topic, headers, reason, created_at):
        return self._insert(dict(event_id=event.event_id, event_type=event.event_type, partition_key=event.course_key,
                                 message=None, created_at=created_at, dead=True, last_error=reason, unencoded=event))

    def unpublished(self, limit):
        found = [r for r in self.rows.values() if r.published_at is None and r.message is not None]
        return sorted(found, key=lambda r: r.seq)[:limit]

    def mark_published(self, seq, broker_msg_id, at):
        self._set(seq, published_at=at, broker_msg_id=broker_msg_id, next_attempt_at=None)

    def mark_failed(self, seq, error, next_attempt_at):
        if seq in self.rows:
            self._set(seq, attempts=self.rows[seq].attempts + 1, last_error=error[:2000],
                      next_attempt_at=next_attempt_at)

    def mark_dead(self, seq, error):
        if seq in self.rows:
            self._set(seq, attempts=self.rows[seq].attempts + 1, last_error=error[:2000], dead=True)

    def get(self, event_id):
        return next((r for r in self.rows.values() if r.event_id == event_id), None)

    def requeue(self, seq, message=None):
        values = dict(dead=False, attempts=0, next_attempt_at=None, published_at=None, broker_msg_id=None)
        if message is not None:
            values.update(message=self._wire(message), partition_key=message.key.decode("utf-8"), unencoded=None,
                          last_error=None)
        self._set(seq, **values)

    def published_since(self, since, limit):
        found = [r for r in self.rows.values() if r.published_at is not None and r.created_at >= since]
        return sorted(found, key=lambda r: r.seq)[:limit]

    def held(self, limit):
        found = [r for r in self.rows.values() if r.published_at is None and r.dead]
        return sorted(found, key=lambda r: r.seq)[:limit]

    def stats(self):
        waiting = [r for r in self.rows.values() if r.published_at is None and not r.dead]
        return OutboxStats(
            unpublished=len(waiting),
            dead=sum(1 for r in self.rows.values() if r.published_at is None and r.dead and r.message is not None),
            unencodable=sum(1 for r in self.rows.values() if r.published_at is None and r.message is None),
            published=sum(1 for r in self.rows.values() if r.published_at is not None),
            oldest_unpublished_at=min((r.created_at for r in waiting), default=None))

    def purge_published(self, before):
        gone = [s for s, r in self.rows.items() if r.published_at is not None and r.published_at < before]
        for seq in gone:
            del self.rows[seq]
        return len(gone)

    def delete(self, seq):
        self.rows.pop(seq, None)

    def acquire_lease(self, name, owner, now, ttl_seconds):
        held = self.leases.get(name)
        if held is not None and held.owner not in (None, owner) and held.expires_at is not None \
                and held.expires_at >= now:
            return False
        self.leases[name] = Lease(name, owner, now + timedelta(seconds=ttl_seconds))
        return True

    def release_lease(self, name, owner):
        held = self.leases.get(name)
        if held is not None and held.owner == owner:
            self.leases[name] = Lease(name, None, None)

    def lease(self, name):
        return self.leases.get(name)
