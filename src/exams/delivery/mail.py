"""Sending the mail outbox: ``MailDelivery`` (also ``exams mail send``) and the in-process sender thread.

* ``MailDelivery`` hands due messages to the mailer, each claim and each result in a transaction of its
  own, with exponential backoff; a message leaves the outbox only once the mail server accepted it.
* ``BackgroundMailSender`` runs deliveries in a thread: woken after each commit that enqueued mail,
  and every ``interval`` seconds for retries.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from exams.ports.clock import Clock
from exams.ports.mail import MailDeliveryError, Mailer, OutboxTransactions, QueuedMail

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def as_dict(self) -> dict:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed}


class MailDelivery:
    """Deliver what the outbox holds. Safe to run from several processes at once (claims are exclusive)."""

    def __init__(self, transactions: OutboxTransactions, mailer: Mailer, clock: Clock, *,
                 lease: timedelta = timedelta(minutes=5), first_retry: timedelta = timedelta(seconds=30),
                 max_retry: timedelta = timedelta(hours=1)):
        self.transactions = transactions
        self.mailer = mailer
        self.clock = clock
        # Longer than one send can take (the mailer's timeouts are far shorter): a sender that dies
        # mid-send leaves its message to be sent again after the lease, never lost.
        self.lease = lease
        self.first_retry = first_retry
        self.max_retry = max_retry

    def backoff(self, tries: int) -> timedelta:
        """The wait after the ``tries``-th failed attempt: 30 s, 1 min, 2 min, ... at most an hour."""
        return min(self.first_retry * (2 ** max(tries - 1, 0)), self.max_retry)

    def send_due(self, *, ignore_backoff: bool = False) -> DeliveryReport:
        """Send every message that is due (or every pending one), one claim at a time.

        Stops at the first failure that may pass: the mail server is likely down or busy, and the next
        round (or the next commit) tries again.
        """
        report = DeliveryReport()
        while True:
            now = self.clock.now()
            claimed = self.transactions(
                lambda box: box.claim_due(now, now + self.lease, 1, ignore_backoff=ignore_backoff))
            if not claimed:
                return report
            if not self._deliver(claimed[0], report):
                return report

    def _deliver(self, mail: QueuedMail, report: DeliveryReport) -> bool:
        try:
            self.mailer.send(mail.message)
        except MailDeliveryError as exc:
            if exc.permanent:
                log.error("email %s to %s refused for good: %s", mail.id, mail.message.to, exc.reason)
                self.transactions(lambda box: box.mark_failed(mail, exc.reason))
                report.failed += 1
                return True
            at = self.clock.now() + self.backoff(mail.tries)
            log.warning("email %s to %s not delivered (try %d), retrying at %s: %s",
                        mail.id, mail.message.to, mail.tries, at.isoformat(), exc.reason)
            self.transactions(lambda box: box.retry_later(mail, at, exc.reason))
            report.retrying += 1
            return False
        self.transactions(lambda box: box.mark_sent(mail, self.clock.now()))
        report.sent += 1
        return True


class BackgroundMailSender:
    """Runs ``delivery.send_due()`` in a daemon thread: at start, on ``wake()``, and every ``interval`` s."""

    def __init__(self, delivery: MailDelivery, interval: float):
        self.delivery = delivery
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Deliver soon (called after a commit that enqueued mail). Never blocks, never raises."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="exams-mail-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                report = self.delivery.send_due()
                if report.sent or report.failed:
                    log.info("mail sender: %s", report.as_dict())
            except Exception:  # the database or the mailer broke unexpectedly; the next round retries
                log.exception("mail sender round failed")
            self._wake.wait(self.interval)
