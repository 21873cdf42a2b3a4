"""Consuming course access role events from the bus (``exams consume-roles``): read, apply once, acknowledge
after commit, dead-letter what cannot be applied."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from exams.ports.clock import Clock
from exams.ports.events import BusUnavailable, RoleEventDelivery, RoleEventSource
from exams.services.events import Transact
from exams.services.roles import apply_role_event

from .relay import Stop, backoff_seconds

log = logging.getLogger(__name__)


@dataclass
class RoleConsumer:
    """Reads role events from the bus and applies them; acknowledges each only after its transaction committed.

    A message that cannot be decoded is dead-lettered (``event_inbox_dead``) and acknowledged. A message whose
    transaction fails stays unacknowledged and comes back; after ``max_deliveries`` it is dead-lettered too.
    """

    source: RoleEventSource
    transact: Transact
    clock: Clock
    max_deliveries: int = 10
    counts: dict[str, int] = field(default_factory=dict)

    def handle(self, delivery: RoleEventDelivery) -> str:
        """Process one delivery; return its outcome (``retry`` when it was left for a later delivery)."""
        if delivery.event is None:
            outcome = self._dead_letter(delivery, delivery.error or "undecodable")
        else:
            try:
                outcome = self.transact(lambda u: apply_role_event(u, delivery.event, delivery.message_id,
                                                                   self.clock))
            except Exception as exc:
                if delivery.times_delivered < self.max_deliveries:
                    log.exception("role event %s not applied (delivery %d), left for a retry",
                                  delivery.message_id, delivery.times_delivered)
                    outcome = "retry"
                else:
                    outcome = self._dead_letter(delivery, f"failed {delivery.times_delivered} times: "
                                                          f"{type(exc).__name__}: {exc}")
        if outcome != "retry":
            self.source.ack(delivery.message_id)
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        return outcome

    def _dead_letter(self, delivery: RoleEventDelivery, error: str) -> str:
        event = delivery.event
        log.warning("role event message %s dead-lettered: %s", delivery.message_id, error)
        self.transact(lambda u: u.inbox.dead_letter(
            delivery.message_id, str(event.event_id) if event else None, event.event_type if event else None,
            error, delivery.raw, delivery.times_delivered, self.clock.now()))
        return "dead"

    def drain(self, block_ms: int = 100) -> dict[str, int]:
        """Process everything available now (pending first), then return the counts (``--once``)."""
        while True:
            deliveries = self.source.read(max_count=10, block_ms=block_ms)
            if not deliveries:
                return dict(self.counts)
            for delivery in deliveries:
                self.handle(delivery)

    def run(self, stop: Stop, block_ms: int | None = None) -> None:
        """Consume until ``stop`` is set; waits and retries while the bus is unavailable."""
        failures = 0
        while not stop.is_set():
            try:
                deliveries = self.source.read(max_count=10, block_ms=block_ms)
                failures = 0
            except BusUnavailable as exc:
                failures += 1
                wait = backoff_seconds(failures, base=1.0, cap=30.0, jitter=0.5)
                log.warning("role events: bus unavailable, retrying in %.0fs: %s", wait, exc)
                stop.wait(wait)
                continue
            for delivery in deliveries:
                if stop.is_set():
                    break  # unacknowledged ones come back on the next start
                try:
                    self.handle(delivery)
                except BusUnavailable as exc:  # the ack failed: the event comes back and is a duplicate then
                    log.warning("role event %s applied but not acknowledged: %s", delivery.message_id, exc)
