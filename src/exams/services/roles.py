"""Course staff roles from the LMS: apply course access role events, once each, and acknowledge after commit.

Semantics follow edx-exams (edx-exams.md §8.2): only ``staff``, ``instructor`` and ``limited_staff`` count;
``added`` gets or creates the user by username and grants the role, ``removed`` revokes that one role. A user
created here takes the LMS user id and email from the event (edx-exams leaves them empty), so attempt events
about them can be sent later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from exams.domain.errors import InvalidValue
from exams.domain.users import check_course_role
from exams.ports.clock import Clock
from exams.ports.events import BusUnavailable, CourseAccessRoleEvent, RoleEventDelivery, RoleEventSource
from exams.services.events import EventUnit, Stop, Transact, backoff_seconds
from exams.services.users import UserService

log = logging.getLogger(__name__)


def apply_role_event(unit: EventUnit, event: CourseAccessRoleEvent, message_id: str, clock: Clock) -> str:
    """Apply one event in the caller's transaction; return what it did (``duplicate`` if it was applied before)."""
    event_id = str(event.event_id)
    if not unit.inbox.record(event_id, event.event_type, message_id, clock.now()):
        return "duplicate"
    users = UserService(unit.repos)
    username = event.user.username
    try:
        check_course_role(username, event.course_key, event.role)
        valid = True
    except InvalidValue:
        valid = False
    if not valid:
        outcome = "ignored"
    elif event.added:
        outcome = "added" if users.add_course_role(username, event.course_key, event.role,
                                                   email=event.user.email) else "already_present"
        user = unit.repos.users.get_by_username(username)
        if user is not None and user.lms_user_id is None:
            user.lms_user_id = event.user.lms_user_id
            user.email = user.email or event.user.email
            user.full_name = user.full_name or event.user.full_name
            unit.repos.users.save(user)
    else:
        outcome = "removed" if users.remove_course_role(username, event.course_key, event.role) else "absent"
    unit.inbox.set_outcome(event_id, outcome)
    log.info("role event %s (%s %s %s in %s): %s", event_id, "added" if event.added else "removed", event.role,
             username, event.course_key, outcome)
    return outcome


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
