"""Learner emails without I/O: which outcomes write an email, what it says, and how delivery retries."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from exams.domain.attempts import Attempt, AttemptStatus, StatusChange
from exams.domain.exams import CourseConfig, Exam, ExamType
from exams.domain.users import User
from exams.ports.mail import MailDeliveryError, MailMessage, OutboxStatus, QueuedMail
from exams.delivery.mail import MailDelivery
from exams.services.mail import LearnerEmails
from tests.fakes import FakeClock

S = AttemptStatus
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
COURSE = "course-v1:edx+test+f19"


class FakeMailOutbox:
    """ports.mail.MailOutbox in memory; each row is [QueuedMail-ish state]."""

    def __init__(self):
        self.rows: dict[int, dict] = {}

    def enqueue(self, message, now):
        self.rows[len(self.rows) + 1] = {"message": message, "state": "pending", "tries": 0, "at": now,
                                         "error": None}

    def claim_due(self, now, lease_until, limit, *, ignore_backoff=False):
        due = [i for i, r in sorted(self.rows.items(), key=lambda kv: (kv[1]["at"], kv[0]))
               if r["state"] == "pending" and (ignore_backoff or r["at"] <= now)][:limit]
        claimed = []
        for i in due:
            self.rows[i]["tries"] += 1
            self.rows[i]["at"] = lease_until
            claimed.append(QueuedMail(i, self.rows[i]["message"], self.rows[i]["tries"]))
        return claimed

    def mark_sent(self, mail, now):
        self.rows[mail.id]["state"] = "sent"

    def retry_later(self, mail, at, error):
        self.rows[mail.id].update(at=at, error=error)

    def mark_failed(self, mail, error):
        self.rows[mail.id].update(state="failed", error=error)

    def requeue_failed(self, now):
        failed = [r for r in self.rows.values() if r["state"] == "failed"]
        for r in failed:
            r.update(state="pending", at=now)
        return len(failed)

    def status(self, limit=20):
        states = [r["state"] for r in self.rows.values()]
        return OutboxStatus(states.count("pending"), states.count("sent"), states.count("failed"), None, [])


class FakeMailer:
    """Accepts messages, or raises what ``failures`` says for a recipient (a list: one per try)."""

    def __init__(self):
        self.sent: list[MailMessage] = []
        self.failures: dict[str, list[MailDeliveryError]] = {}

    def send(self, message):
        queue = self.failures.get(message.to)
        if queue:
            raise queue.pop(0)
        self.sent.append(message)


class FakeConfigs:
    def __init__(self, *configs: CourseConfig):
        self.configs = {c.course_id: c for c in configs}

    def get(self, course_id):
        return self.configs.get(course_id)


def exam(exam_type: ExamType = ExamType.PROCTORED) -> Exam:
    return Exam(id=3, course_id=COURSE, content_id="block-v1:edx+test+f19+type@sequential+block@x",
                exam_name="Final <Exam>", exam_type=exam_type, time_limit_mins=60)


def change(to: AttemptStatus) -> StatusChange:
    return StatusChange(9, S.STARTED, to, 7, NOW)


ATTEMPT = Attempt(id=9, user_id=7, exam_id=3)
LEARNER = User(id=7, username="alice", email="alice@example.com", full_name="Alice Liddell")


def sink(outbox, escalation: str | None = "escalate@example.com", on_enqueued=None) -> LearnerEmails:
    configs = FakeConfigs(CourseConfig(COURSE, 1, escalation_email=escalation))
    return LearnerEmails(outbox, configs, FakeClock(NOW), learning_mfe_url="http://learning.test",
                         lms_root_url="http://lms.test", on_enqueued=on_enqueued)


@pytest.mark.parametrize("to", [S.SUBMITTED, S.VERIFIED, S.REJECTED])
def test_a_proctored_outcome_writes_one_email_and_asks_for_a_wake_up(to):
    outbox, wakes = FakeMailOutbox(), []
    sink(outbox, on_enqueued=lambda: wakes.append(1)).status_changed(ATTEMPT, exam(), LEARNER, change(to), None)
    (row,) = outbox.rows.values()
    message = row["message"]
    assert message.to == "alice@example.com"
    assert message.subject == f"Proctoring attempt {to.value}"
    assert message.reference == f"attempt 9 {to.value}"
    assert wakes == [1]


@pytest.mark.parametrize("exam_type, to", [
    (ExamType.TIMED, S.SUBMITTED), (ExamType.PRACTICE, S.SUBMITTED), (ExamType.ONBOARDING, S.VERIFIED),
    (ExamType.PROCTORED, S.ERROR), (ExamType.PROCTORED, S.STARTED), (ExamType.PROCTORED, S.READY_TO_SUBMIT),
    (ExamType.PROCTORED, S.SECOND_REVIEW_REQUIRED),
])
def test_other_exam_types_and_statuses_write_no_email(exam_type, to):
    outbox = FakeMailOutbox()
    sink(outbox).status_changed(ATTEMPT, exam(exam_type), LEARNER, change(to), None)
    assert outbox.rows == {}


def test_a_learner_without_an_email_address_gets_no_email():
    outbox = FakeMailOutbox()
    sink(outbox).status_changed(ATTEMPT, exam(), replace(LEARNER, email=""), change(S.VERIFIED), None)
    assert outbox.rows == {}


def test_the_email_escapes_names_in_html_and_links_the_course_and_the_contact():
    outbox = FakeMailOutbox()
    sink(outbox).status_changed(ATTEMPT, exam(), LEARNER, change(S.REJECTED), None)
    message = outbox.rows[1]["message"]
    assert "Final &lt;Exam&gt;" in message.html and "<Exam>" not in message.html
    assert 'Your proctored exam "Final <Exam>" was reviewed, and the course team has identified one or more ' \
           "violations" in message.text
    assert f'href="http://learning.test/course/{COURSE}"' in message.html
    assert 'href="mailto:escalate@example.com"' in message.html
    assert message.text.startswith("Hello Alice Liddell,")


def test_without_an_escalation_email_the_lms_contact_page_is_the_contact():
    outbox = FakeMailOutbox()
    sink(outbox, escalation=None).status_changed(ATTEMPT, exam(), LEARNER, change(S.SUBMITTED), None)
    message = outbox.rows[1]["message"]
    assert 'href="http://lms.test/support/contact_us"' in message.html
    assert "http://lms.test/support/contact_us" in message.text


# -- delivery --------------------------------------------------------------------------------------
def delivery_with(*recipients: str):
    outbox, mailer, clock = FakeMailOutbox(), FakeMailer(), FakeClock(NOW)
    for n, to in enumerate(recipients):
        outbox.enqueue(MailMessage(to=to, subject="s", text="t", html="h", message_id=f"m{n}"), NOW)
    return MailDelivery(lambda work: work(outbox), mailer, clock), outbox, mailer, clock


def test_the_backoff_doubles_from_thirty_seconds_up_to_an_hour():
    delivery, *_ = delivery_with()
    assert [delivery.backoff(n).total_seconds() for n in (1, 2, 3, 4, 7, 8, 30)] == [
        30, 60, 120, 240, 1920, 3600, 3600]


def test_due_messages_are_sent_oldest_first():
    delivery, outbox, mailer, _ = delivery_with("a@x.org", "b@x.org")
    assert delivery.send_due().as_dict() == {"sent": 2, "retrying": 0, "failed": 0}
    assert [m.to for m in mailer.sent] == ["a@x.org", "b@x.org"]
    assert {r["state"] for r in outbox.rows.values()} == {"sent"}


def test_a_failure_that_may_pass_reschedules_the_message_and_ends_the_round():
    delivery, outbox, mailer, _ = delivery_with("a@x.org", "b@x.org")
    mailer.failures["a@x.org"] = [MailDeliveryError("connection refused")]
    assert delivery.send_due().as_dict() == {"sent": 0, "retrying": 1, "failed": 0}
    assert outbox.rows[1]["at"] == NOW + timedelta(seconds=30)
    assert outbox.rows[1]["error"] == "connection refused"
    assert outbox.rows[2]["tries"] == 0  # left for the next round


def test_a_rescheduled_message_goes_when_its_time_comes_and_the_server_is_back():
    delivery, outbox, mailer, clock = delivery_with("a@x.org")
    mailer.failures["a@x.org"] = [MailDeliveryError("down"), MailDeliveryError("still down")]
    delivery.send_due()
    clock.advance(seconds=29)
    assert delivery.send_due().as_dict() == {"sent": 0, "retrying": 0, "failed": 0}
    clock.advance(seconds=1)
    delivery.send_due()
    assert outbox.rows[1]["at"] == clock.now() + timedelta(seconds=60)
    clock.advance(seconds=60)
    assert delivery.send_due().sent == 1
    assert outbox.rows[1]["tries"] == 3


def test_a_permanent_refusal_keeps_the_message_as_failed_and_the_round_goes_on():
    delivery, outbox, mailer, _ = delivery_with("gone@x.org", "b@x.org")
    mailer.failures["gone@x.org"] = [MailDeliveryError("550 no such user", permanent=True)]
    assert delivery.send_due().as_dict() == {"sent": 1, "retrying": 0, "failed": 1}
    assert outbox.rows[1]["state"] == "failed"
    assert outbox.requeue_failed(NOW) == 1
    assert delivery.send_due().sent == 1


def test_sending_everything_now_ignores_the_backoff_but_stops_when_the_server_still_fails():
    delivery, outbox, mailer, _ = delivery_with("a@x.org")
    mailer.failures["a@x.org"] = [MailDeliveryError("down")] * 3
    delivery.send_due()
    assert delivery.send_due(ignore_backoff=True).as_dict() == {"sent": 0, "retrying": 1, "failed": 0}
    assert outbox.rows[1]["tries"] == 2
    mailer.failures.clear()
    assert delivery.send_due(ignore_backoff=True).sent == 1
