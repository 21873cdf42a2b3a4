"""Learner emails: which outcomes email the learner, what the email says, and its delivery after commit.

* ``LearnerEmails`` is an outcome sink: when a proctored attempt is submitted, verified or rejected it
  renders the email and writes it to the outbox, inside the unit of work of the attempt change.
* ``MailDelivery`` hands due messages to the mailer, each claim and each result in a transaction of its
  own, with exponential backoff; a message leaves the outbox only once the mail server accepted it.
* ``BackgroundMailSender`` runs deliveries in a thread: woken after each commit that enqueued mail,
  and every ``interval`` seconds for retries.
"""

from __future__ import annotations

import html
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from exams.domain.attempts import Attempt, AttemptStatus, StatusChange
from exams.domain.exams import Exam
from exams.domain.users import User
from exams.ports.clock import Clock
from exams.ports.mail import MailDeliveryError, Mailer, MailMessage, MailOutbox, OutboxTransactions, QueuedMail
from exams.ports.repositories import CourseConfigRepository

log = logging.getLogger(__name__)

S = AttemptStatus


# -- what the learner reads ----------------------------------------------------------------------
@dataclass(frozen=True)
class _Template:
    subject: str
    # Paragraphs; "{exam}" is the exam name. The key phrases are the ones edx-exams' own tests look for.
    paragraphs: tuple[str, ...]


TEMPLATES: dict[AttemptStatus, _Template] = {
    S.SUBMITTED: _Template("Proctoring attempt submitted", (
        'Your proctored exam "{exam}" was submitted successfully and will now be reviewed to make sure '
        "that all exam rules were followed.",
        "You will receive another email with the result of the review, usually within a few business days.",
    )),
    S.VERIFIED: _Template("Proctoring attempt verified", (
        'Your proctored exam "{exam}" was reviewed and you met all proctoring requirements.',
        "No further action is needed on your part.",
    )),
    S.REJECTED: _Template("Proctoring attempt rejected", (
        'Your proctored exam "{exam}" was reviewed, and the course team has identified one or more violations '
        "of the proctored exam rules.",
        "As a result, this exam may not count toward your grade or course credit.",
    )),
}


@dataclass(frozen=True)
class Contact:
    url: str
    text: str  # the link text in HTML
    plain: str  # the same in the plain-text part


def contact_for(escalation_email: str | None, lms_root_url: str) -> Contact:
    """The course's escalation email when it has one, else the LMS contact page (as edx-exams)."""
    if escalation_email:
        return Contact(f"mailto:{escalation_email}", escalation_email, escalation_email)
    url = f"{lms_root_url}/support/contact_us"
    return Contact(url, "the support team", f"the support team at {url}")


def render_learner_email(status: AttemptStatus, *, to: str, learner_name: str, exam_name: str, course_url: str,
                         contact: Contact, reference: str = "") -> MailMessage | None:
    """The email a learner gets when their proctored attempt reaches ``status`` (None: no email)."""
    template = TEMPLATES.get(status)
    if template is None:
        return None
    paragraphs = [p.format(exam=exam_name) for p in template.paragraphs]
    text = "\n\n".join([
        f"Hello {learner_name},",
        *paragraphs,
        f"Go to your course: {course_url}",
        f"If you have questions about proctoring, contact {contact.plain}.",
    ]) + "\n"
    e = html.escape
    body = "\n".join([
        f"<p>Hello {e(learner_name)},</p>",
        *(f"<p>{e(p)}</p>" for p in paragraphs),
        f'<p><a href="{e(course_url)}">Go to your course</a></p>',
        f'<p>If you have questions about proctoring, contact <a href="{e(contact.url)}">{e(contact.text)}</a>.</p>',
    ])
    page = (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{e(template.subject)}</title></head>'
            f"<body>\n{body}\n</body></html>\n")
    return MailMessage(to=to, subject=template.subject, text=text, html=page, message_id=uuid.uuid4().hex,
                       reference=reference)


class LearnerEmails:
    """The outcome sink that emails learners about their proctored attempts (written to the outbox)."""

    def __init__(self, outbox: MailOutbox, configs: CourseConfigRepository, clock: Clock, *,
                 learning_mfe_url: str, lms_root_url: str, on_enqueued: Callable[[], None] | None = None):
        self.outbox = outbox
        self.configs = configs
        self.clock = clock
        self.learning_mfe_url = learning_mfe_url
        self.lms_root_url = lms_root_url
        self.on_enqueued = on_enqueued

    def status_changed(self, attempt: Attempt, exam: Exam, student: User, change: StatusChange,
                       requesting_user: User | None) -> None:
        if not exam.exam_type.sends_learner_emails or change.to_status not in TEMPLATES:
            return
        if not student.email:
            log.warning("no email for attempt %s (%s): learner %s has no email address",
                        attempt.id, change.to_status.value, student.username)
            return
        config = self.configs.get(exam.course_id)
        message = render_learner_email(
            change.to_status, to=student.email, learner_name=student.full_name or student.username,
            exam_name=exam.exam_name, course_url=f"{self.learning_mfe_url}/course/{exam.course_id}",
            contact=contact_for(config.escalation_email if config else None, self.lms_root_url),
            reference=f"attempt {attempt.id} {change.to_status.value}")
        self.outbox.enqueue(message, self.clock.now())
        if self.on_enqueued is not None:
            self.on_enqueued()

    def attempt_reset(self, attempt, exam, student, requesting_user) -> None:
        return None


# -- delivery --------------------------------------------------------------------------------------
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
