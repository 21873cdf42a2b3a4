"""Learner emails: the message, the outbox it waits in until its transaction commits, and the mail server.

A message is written to the outbox in the same unit of work as the attempt change that caused it, and
delivered after the commit by a sender that retries; a mail server that is down delays a message, it
never fails the learner's request and never loses the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class MailMessage:
    """One email, rendered when it is enqueued (later configuration changes do not alter it)."""

    to: str
    subject: str
    text: str
    html: str
    # Stable across retries, so that a mail server or client can recognise a message sent twice.
    message_id: str
    # What caused it, for operators: e.g. "attempt 12 verified".
    reference: str = ""


@dataclass(frozen=True)
class QueuedMail:
    """A message claimed for delivery; ``tries`` counts the delivery attempts including this one."""

    id: int
    message: MailMessage
    tries: int


@dataclass(frozen=True)
class OutboxStatus:
    pending: int
    sent: int
    failed: int
    oldest_pending: datetime | None
    failures: list[tuple[int, str, str, int, str]]  # (id, to, subject, tries, last error) of failed messages


class MailOutbox(Protocol):
    """The table messages wait in. Every method works inside the caller's unit of work."""

    def enqueue(self, message: MailMessage, now: datetime) -> None:
        """Store a message for delivery as soon as the unit of work commits."""

    def claim_due(self, now: datetime, lease_until: datetime, limit: int, *, ignore_backoff: bool = False
                  ) -> list[QueuedMail]:
        """Take up to ``limit`` pending messages due at ``now`` for delivery, oldest first.

        A claimed message is not due again before ``lease_until``; a sender that dies while sending
        therefore only delays it. Two senders never claim the same message at the same time.
        """

    def mark_sent(self, mail: QueuedMail, now: datetime) -> None:
        """The mail server accepted the message."""

    def retry_later(self, mail: QueuedMail, at: datetime, error: str) -> None:
        """Delivery failed for a reason that may pass (server down, busy, misconfigured): try again at ``at``."""

    def mark_failed(self, mail: QueuedMail, error: str) -> None:
        """The mail server refused this message for good (e.g. an unknown recipient). It is kept."""

    def requeue_failed(self, now: datetime) -> int:
        """Make every failed message pending again (after an operator fixed the cause); return how many."""

    def status(self, limit: int = 20) -> OutboxStatus:
        """Counts by state, and the last failed messages."""


class OutboxTransactions(Protocol):
    def __call__(self, work: Callable[[MailOutbox], T]) -> T:
        """Run ``work`` with an outbox in a transaction of its own, committed when ``work`` returns."""


class MailDeliveryError(Exception):
    """The mail server did not take the message. ``permanent``: retrying the same message cannot help."""

    def __init__(self, reason: str, *, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Mailer(Protocol):
    def send(self, message: MailMessage) -> None:
        """Hand one message to the mail server (or the development mailbox); raise MailDeliveryError."""
