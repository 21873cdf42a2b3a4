"""In-memory fakes of the event ports (exams.ports.events, exams.ports.outbox) for unit tests of the services.

``FakeEventUnits.transact`` runs the work in one unit of work over the fake repositories, inbox and outbox,
and rolls all of them back when the work raises, as the SQL transaction does.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from exams.ports.events import BusUnavailable, RoleEventDelivery
from exams.services.events import EventUnit
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
        saved = copy.deepcopy((self.repos.__dict__, self.inbox.__dict__, getattr(self.outbox, "__dict__", None)))
        try:
            result = work(EventUnit(outbox=self.outbox, inbox=self.inbox, repos=self.repos))
            if self.fail_next is not None:
                error, self.fail_next = self.fail_next, None
                raise error
            return result
        except BaseException:
            self.repos.__dict__.update(saved[0])
            self.inbox.__dict__.update(saved[1])
            if saved[2] is not None:
                self.outbox.__dict__.update(saved[2])
            raise


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
