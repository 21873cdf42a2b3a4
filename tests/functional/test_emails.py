"""Learner emails (edx-exams.md §8.4; checklist item 42) through a real SMTP server on loopback.

The app is the one main() builds with exams.email.backend = smtp; its in-process sender is only woken by
the after-commit hook (its retry round is an hour away), so a delivery here proves the hook fired.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from dependency_injector import providers
from sqlalchemy import select

from exams.adapters.sql import tables
from exams.units import run_in_transaction
from exams.domain.exams import Provider
from tests.conftest import LEARNING_MFE, app_settings, auth
from tests.fakes import FakeClock
from tests.mailbox import SmtpServer

C = "course-v1:edx+test+f19"
STAFF = auth("staff", user_id=1, staff=True)
ESCALATION = "escalate@example.com"


@pytest.fixture(scope="module")
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mail_clock():
    return FakeClock()


@pytest.fixture(scope="module")
def email_app(database_url, smtp, mail_clock):
    from exams import settings as settings_module
    from exams.app import main
    from exams.container import build_container

    raw = app_settings(database_url, **{
        "exams.email.backend": "smtp", "exams.email.smtp_host": "127.0.0.1", "exams.email.smtp_port": str(smtp.port),
        "exams.email.smtp_timeout": "5", "exams.email.from_address": "Exams <exams@example.org>",
        "exams.email.send_interval": "3600"})
    container = build_container(settings_module.load(raw, environ={}))
    container.clock.override(providers.Object(mail_clock))
    app = main({}, container=container, **raw)
    app.container = container
    yield app
    container.mail_sender().stop()


@pytest.fixture
def app(email_app, db, smtp, mail_clock):
    from webtest import TestApp

    mail_clock.reset()
    smtp.received.clear()
    if smtp.controller is None:
        smtp.start()
    return TestApp(email_app)


def configure(app, escalation_email: str | None = ESCALATION) -> None:
    run_in_transaction(app.app.container, lambda s: s.exams.add_provider(Provider(
        id=None, name="test_provider", verbose_name="Test provider", lti_configuration_id="1")))
    app.patch_json(f"/api/v1/configs/course_id/{C}", {"provider": "test_provider", "escalation_email": escalation_email},
                   headers=STAFF, status=204)


def register(app, *exams: tuple[str, str]) -> dict[str, int]:
    items = [{"content_id": f"block-v1:edx+test+f19+type@sequential+block@{name}", "exam_name": name.title(),
              "exam_type": exam_type, "time_limit_mins": 60, "due_date": None, "hide_after_due": False,
              "is_active": True} for name, exam_type in exams]
    app.patch_json(f"/api/v1/exams/course_id/{C}", items, headers=STAFF)
    return {e["exam_name"].lower(): e["id"] for e in app.get(f"/api/v1/exams/course_id/{C}", headers=STAFF).json}


def learner(n: int) -> dict:
    return auth(f"learner{n}", user_id=100 + n)


def start(app, exam_id: int, who: dict) -> int:
    return app.post_json("/api/v1/exams/attempt", {"exam_id": exam_id, "start_clock": "true"},
                         headers=who).json["exam_attempt_id"]


def act(app, attempt_id: int, action: str, who: dict) -> None:
    app.put_json(f"/api/v1/exams/attempt/{attempt_id}", {"action": action}, headers=who)


def outbox(app) -> list:
    with app.app.container.engine().connect() as conn:
        return conn.execute(select(tables.mail_outbox).order_by(tables.mail_outbox.c.id)).all()


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_proctored_attempt_emails_the_learner_once_when_submitted_verified_and_rejected(app, smtp):
    configure(app)
    exams = register(app, ("final", "proctored"))
    first = start(app, exams["final"], learner(1))
    act(app, first, "submit", learner(1))
    act(app, first, "verify", STAFF)
    second = start(app, exams["final"], learner(2))
    act(app, second, "submit", learner(2))
    act(app, second, "reject", STAFF)

    received = smtp.wait_for(4)
    assert len(outbox(app)) == 4
    assert [(r.rcpt_tos, r.message["Subject"]) for r in received] == [
        (["learner1@example.com"], "Proctoring attempt submitted"),
        (["learner1@example.com"], "Proctoring attempt verified"),
        (["learner2@example.com"], "Proctoring attempt submitted"),
        (["learner2@example.com"], "Proctoring attempt rejected"),
    ]
    phrases = ["was submitted successfully", "was reviewed and you met all proctoring requirements",
               "was submitted successfully", "the course team has identified one or more violations"]
    for message, phrase in zip(received, phrases):
        assert message.mail_from == "exams@example.org"
        assert message.message["From"] == "Exams <exams@example.org>"
        assert phrase in message.part("plain") and phrase in message.part("html")
        assert f'href="{LEARNING_MFE}/course/{C}"' in message.part("html")
        assert f'href="mailto:{ESCALATION}"' in message.part("html")
        assert ESCALATION in message.part("plain")
        assert 'Your proctored exam "Final"' in message.part("plain")
    # The server has each message a moment before the sender records it as sent.
    wait_until(lambda: {row.state for row in outbox(app)} == {"sent"})


def test_without_an_escalation_email_the_contact_link_is_the_lms_contact_page(app, smtp):
    configure(app, escalation_email=None)
    exams = register(app, ("final", "proctored"))
    act(app, start(app, exams["final"], learner(1)), "submit", learner(1))
    (message,) = smtp.wait_for(1)
    assert 'href="http://lms.test/support/contact_us"' in message.part("html")
    assert "http://lms.test/support/contact_us" in message.part("plain")
    assert "mailto:" not in message.part("html")


def test_timed_practice_and_onboarding_exams_errors_and_starts_send_no_email(app, smtp):
    configure(app)
    exams = register(app, ("quiz", "timed"), ("trial", "practice"), ("onboard", "onboarding"), ("final", "proctored"))
    for n, name in enumerate(("quiz", "trial", "onboard"), start=1):
        attempt_id = start(app, exams[name], learner(n))
        act(app, attempt_id, "submit", learner(n))
    errored = start(app, exams["final"], learner(4))
    act(app, errored, "error", learner(4))
    start(app, exams["final"], learner(5))
    assert outbox(app) == []
    time.sleep(0.2)
    assert smtp.received == []


def test_a_request_that_fails_after_the_change_leaves_no_email(app, smtp):
    configure(app)
    exams = register(app, ("final", "proctored"))
    attempt_id = start(app, exams["final"], learner(1))

    def submit_then_fail(services):
        student = services.repos.users.get_by_username("learner1")
        services.attempts.act(student, attempt_id, "submit")
        raise RuntimeError("the request failed after the attempt change")

    with pytest.raises(RuntimeError):
        run_in_transaction(app.app.container, submit_then_fail)
    assert outbox(app) == []
    time.sleep(0.2)
    assert smtp.received == []


def test_a_mail_server_that_is_down_fails_no_request_and_loses_no_email(app, smtp, mail_clock):
    configure(app)
    exams = register(app, ("final", "proctored"))
    attempt_id = start(app, exams["final"], learner(1))
    mail_clock.freeze()
    smtp.stop()

    app.put_json(f"/api/v1/exams/attempt/{attempt_id}", {"action": "submit"}, headers=learner(1), status=200)
    wait_until(lambda: outbox(app)[0].last_error is not None)
    (row,) = outbox(app)
    assert row.state == "pending"
    assert "Connection refused" in row.last_error
    assert row.next_attempt_at == mail_clock.now() + timedelta(seconds=30)

    smtp.start()
    app.app.container.mail_sender().wake()  # a round before the retry time sends nothing
    time.sleep(0.3)
    assert smtp.received == []
    mail_clock.advance(seconds=31)
    app.app.container.mail_sender().wake()  # as the sender's retry round would
    (message,) = smtp.wait_for(1)
    assert message.message["Subject"] == "Proctoring attempt submitted"
    wait_until(lambda: outbox(app)[0].state == "sent")
    assert outbox(app)[0].tries == 2


def run_cli(capsys, ini, *argv) -> dict:
    import json

    from exams import cli

    assert cli.main(["-c", str(ini), "mail", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_operators_see_the_outbox_and_send_or_requeue_with_the_mail_command(app, smtp, mail_clock, database_url,
                                                                          tmp_path, capsys):
    ini = tmp_path / "ops.ini"
    ini.write_text("[app:main]\nuse = egg:exams\n"
                   f"sqlalchemy.url = {database_url.replace('%', '%%')}\n"
                   "exams.email.backend = smtp\nexams.email.smtp_host = 127.0.0.1\n"
                   f"exams.email.smtp_port = {smtp.port}\nexams.email.from_address = exams@example.org\n")
    configure(app)
    exams = register(app, ("final", "proctored"))
    first, second = start(app, exams["final"], learner(1)), start(app, exams["final"], learner(2))
    mail_clock.freeze()
    smtp.mailbox.refuse["learner2@example.com"] = "550 5.1.1 No such user"
    smtp.stop()
    act(app, first, "submit", learner(1))
    wait_until(lambda: outbox(app)[0].last_error is not None)
    smtp.start()
    act(app, second, "submit", learner(2))
    wait_until(lambda: len(outbox(app)) == 2 and outbox(app)[1].state == "failed")

    status = run_cli(capsys, ini, "status")
    assert (status["pending"], status["sent"], status["failed"]) == (1, 0, 1)
    assert status["failures"][0]["to"] == "learner2@example.com"
    assert "No such user" in status["failures"][0]["error"]
    assert run_cli(capsys, ini, "send") == {"sent": 0, "retrying": 0, "failed": 0}  # its retry is not due yet
    assert run_cli(capsys, ini, "send", "--all") == {"sent": 1, "retrying": 0, "failed": 0}
    assert [r.rcpt_tos for r in smtp.wait_for(1)] == [["learner1@example.com"]]

    smtp.mailbox.refuse.clear()
    assert run_cli(capsys, ini, "retry") == {"requeued": 1}
    assert run_cli(capsys, ini, "send") == {"sent": 1, "retrying": 0, "failed": 0}
    status = run_cli(capsys, ini, "status")
    assert (status["pending"], status["sent"], status["failed"]) == (0, 2, 0)
