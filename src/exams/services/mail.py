"""Learner emails: which outcomes email the learner and what the email says.

``LearnerEmails`` is an outcome sink: when a proctored attempt is submitted, verified or rejected it
renders the email and writes it to the outbox, inside the unit of work of the attempt change. Sending
what the outbox holds is ``exams.delivery.mail``.
"""

from __future__ import annotations

import html
import logging
import uuid
from dataclasses import dataclass
from typing import Callable

from exams.domain.attempts import Attempt, AttemptStatus, StatusChange
from exams.domain.exams import Exam
from exams.domain.users import User
from exams.ports.clock import Clock
from exams.ports.mail import MailMessage, MailOutbox
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
