"""The operators' console in headless Chromium, on SQLite and PostgreSQL: the real sign-in through a stub LMS
OAuth2 provider on loopback, then every page and action an operator uses. No JavaScript is involved: each
action is a form post with its CSRF token.

A failing test leaves a screenshot of the page it was on in test-artifacts/console/ (see CONSOLE_SHOTS).
With EXAMS_CONSOLE_DOC_SHOTS=<folder>, the tests also save the screenshots docs/console.md shows.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from exams import settings as settings_module
from exams.adapters.sql import tables
from exams.units import run_in_transaction
from exams.domain.attempts import Attempt, AttemptStatus, StatusChange
from exams.domain.exams import CourseConfig, Exam, ExamType, Provider
from exams.domain.users import User
from tests.browser import headless_chromium
from tests.conftest import app_settings, empty_tables
from tests.served import ServedApp
from tests.stub_oauth2 import CLIENT_ID, CLIENT_SECRET, StubOAuth2

pytestmark = pytest.mark.e2e

COURSE = "course-v1:edx+console+2026"
OTHER = "course-v1:other+console+2026"
SCRIPT_NAME = "<script>alert(1)</script>"
CONSOLE_SHOTS = Path(os.environ.get("EXAMS_CONSOLE_FAILURE_SHOTS", "test-artifacts/console"))
DOC_SHOTS = os.environ.get("EXAMS_CONSOLE_DOC_SHOTS")


class Stack:
    def __init__(self, database_url: str, engine):
        from exams.app import main
        from exams.container import build_container

        self.engine = engine
        self.oauth = StubOAuth2().start()
        self.served = ServedApp(name="console-e2e")
        self.url = self.served.url
        raw = app_settings(database_url, **{
            "exams.root_url": self.url, "exams.lms_root_url": self.oauth.url,
            "exams.console.oauth_client_id": CLIENT_ID, "exams.console.oauth_client_secret": CLIENT_SECRET,
            "exams.email.backend": "none"})
        self.container = build_container(settings_module.load(raw, environ={}))
        self.served.start(main({}, container=self.container, **raw))
        self.ids: dict = {}

    def seed(self) -> None:
        empty_tables(self.engine)
        now = datetime.now(timezone.utc).replace(microsecond=0)

        def work(s):
            ids = {}
            for n, (name, staff) in enumerate((("admin", True), ("cstaff", False), ("ostaff", False),
                                               (SCRIPT_NAME, False), ("plain", False))):
                ids[name] = s.repos.users.ensure(User(None, name, email=f"user{n}@example.com", is_staff=staff,
                                                      full_name=name.title(), lms_user_id=500 + n)).id
            s.repos.staff_roles.add(ids["cstaff"], COURSE, "staff")
            s.repos.staff_roles.add(ids["ostaff"], OTHER, "staff")
            provider = s.repos.providers.add(Provider(None, "stubproctor", "Stub Proctor",
                                                      tech_support_email="support@proctor.test"))
            s.repos.configs.put(CourseConfig(COURSE, provider.id, escalation_email="team@example.com"))
            exam = s.repos.exams.add(Exam(None, COURSE, "block-v1:edx+console+2026+type@sequential+block@final",
                                          "Final exam", ExamType.PROCTORED, 60, provider_id=provider.id,
                                          due_date=now + timedelta(days=30)))
            s.repos.exams.add(Exam(None, COURSE, "block-v1:edx+console+2026+type@sequential+block@quiz",
                                   "Timed quiz", ExamType.TIMED, 20))
            other = s.repos.exams.add(Exam(None, OTHER, "block-v1:other+console+2026+type@sequential+block@x",
                                           "Other final", ExamType.TIMED, 30))
            submitted = Attempt(None, ids[SCRIPT_NAME], exam.id, status=AttemptStatus.SUBMITTED,
                                start_time=now - timedelta(hours=2), end_time=now - timedelta(hours=1, minutes=20),
                                allowed_time_limit_mins=60, created=now - timedelta(hours=2), modified=now)
            submitted.changes += [
                StatusChange(None, None, AttemptStatus.CREATED, ids[SCRIPT_NAME], now - timedelta(hours=2)),
                StatusChange(None, AttemptStatus.CREATED, AttemptStatus.STARTED, ids[SCRIPT_NAME],
                             now - timedelta(hours=2)),
                StatusChange(None, AttemptStatus.STARTED, AttemptStatus.SUBMITTED, ids[SCRIPT_NAME],
                             now - timedelta(hours=1, minutes=20))]
            errored = Attempt(None, ids["plain"], exam.id, status=AttemptStatus.ERROR,
                              start_time=now - timedelta(hours=1), allowed_time_limit_mins=60,
                              created=now - timedelta(hours=1), modified=now)
            errored.changes += [
                StatusChange(None, None, AttemptStatus.CREATED, ids["plain"], now - timedelta(hours=1)),
                StatusChange(None, AttemptStatus.CREATED, AttemptStatus.STARTED, ids["plain"],
                             now - timedelta(hours=1)),
                StatusChange(None, AttemptStatus.STARTED, AttemptStatus.ERROR, ids["plain"],
                             now - timedelta(minutes=45))]
            ids.update(exam=exam.id, other_exam=other.id, provider=provider.id,
                       submitted=s.repos.attempts.add(submitted).id, errored=s.repos.attempts.add(errored).id,
                       other_attempt=s.repos.attempts.add(Attempt(None, ids["plain"], other.id,
                                                                  status=AttemptStatus.SUBMITTED, created=now,
                                                                  modified=now)).id)
            return ids

        self.ids = run_in_transaction(self.container, work)

    def status(self, attempt_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(tables.attempts.c.status).where(tables.attempts.c.id == attempt_id)).scalar()

    def close(self) -> None:
        self.served.close()
        self.oauth.close()
        self.container.engine().dispose()


@pytest.fixture(scope="module")
def stack(database_url, engine):
    stack = Stack(database_url, engine)
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def browser():
    with headless_chromium("exams-console-chromium-", window_size="1280,900", page_load_timeout=30) as driver:
        yield driver


@pytest.fixture
def b(stack, browser, request):
    """A fresh world and a browser with no cookies; a screenshot of the page if the test fails."""
    stack.seed()
    stack.oauth.sign_in_as("admin", user_id=500, staff=True)
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    yield browser
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        CONSOLE_SHOTS.mkdir(parents=True, exist_ok=True)
        name = request.node.name.replace("[", "-").replace("]", "").replace("/", "_")
        browser.save_screenshot(str(CONSOLE_SHOTS / f"{name}.png"))


def doc_shot(driver, name: str) -> None:
    """A screenshot for docs/console.md (only when EXAMS_CONSOLE_DOC_SHOTS names a folder)."""
    if DOC_SHOTS:
        Path(DOC_SHOTS).mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(max(height, 500), 1400))
        driver.save_screenshot(str(Path(DOC_SHOTS) / f"{name}.png"))
        driver.set_window_size(1280, 900)


def css(driver, selector: str):
    return driver.find_element("css selector", selector)


def click_to_next_page(driver, element) -> None:
    """Click, then wait until another document has loaded."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.__leaving = true;")
    element.click()
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return !window.__leaving && document.readyState === 'complete';"))


def fill(driver, **fields) -> None:
    for field_id, value in fields.items():
        element = css(driver, f"#{field_id}")
        element.clear()
        element.send_keys(value)


def sign_in(driver, stack, username="admin", staff=True, user_id=500) -> None:
    """The real flow: console -> sign-in page -> the LMS's authorize -> our callback -> the console."""
    stack.oauth.sign_in_as(username, user_id=user_id, staff=staff)
    driver.get(stack.url + "/console/attempts")
    assert "/console/login" in driver.current_url
    doc_shot(driver, "sign-in")
    click_to_next_page(driver, css(driver, "#sign-in"))
    assert driver.current_url == stack.url + "/console/attempts"
    assert css(driver, "#signed-in-as").text == username


def test_sign_in_with_the_lms_and_sign_out(b, stack):
    sign_in(b, stack)
    assert stack.oauth.authorize_requests[-1]["redirect_uri"] == stack.url + "/console/oauth2/callback"
    cookie = b.get_cookie("exams_console")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    click_to_next_page(b, css(b, "#logout-form button"))
    assert b.current_url == stack.url + "/console/login"
    b.get(stack.url + "/console/")
    assert "/console/login" in b.current_url


def test_a_learner_is_turned_away(b, stack):
    stack.oauth.sign_in_as("plain", user_id=504)
    b.get(stack.url + "/console/login")
    click_to_next_page(b, css(b, "#sign-in"))
    assert css(b, "h1").text == "No access"
    assert b.get_cookie("exams_console") is None


def test_find_an_attempt_and_verify_it_with_a_reason(b, stack):
    sign_in(b, stack, "cstaff", staff=False, user_id=501)
    fill(b, **{"f-course_id": COURSE})
    b.find_element("css selector", "#f-status option[value='submitted']").click()
    click_to_next_page(b, css(b, "#search"))
    rows = b.find_elements("css selector", "#results tbody tr")
    assert len(rows) == 1
    # The learner named <script> is text on the page, and no script ran.
    assert rows[0].find_elements("css selector", "td")[1].text == SCRIPT_NAME
    doc_shot(b, "attempts")
    click_to_next_page(b, rows[0].find_element("css selector", "a"))
    assert css(b, "#learner").text.startswith(SCRIPT_NAME)
    history = [[td.text for td in tr.find_elements("css selector", "td")][2:]
               for tr in b.find_elements("css selector", "#history tbody tr")]
    assert history == [["—", "created"], ["created", "started"], ["started", "submitted"]]
    doc_shot(b, "attempt")
    click_to_next_page(b, css(b, "#action-verify"))
    fill(b, **{"f-reason": "Recording reviewed; nothing wrong."})
    doc_shot(b, "confirm")
    click_to_next_page(b, css(b, "#confirm"))
    assert css(b, "#status").text == "verified"
    assert stack.status(stack.ids["submitted"]) == "verified"
    b.get(stack.url + "/console/audit")
    assert "Recording reviewed; nothing wrong." in css(b, "table.audit").text


def test_resume_an_errored_attempt(b, stack):
    sign_in(b, stack)
    b.get(f"{stack.url}/console/attempts/{stack.ids['errored']}")
    click_to_next_page(b, css(b, "#action-resume"))
    fill(b, **{"f-reason": "Proctoring software crashed at 15 minutes."})
    click_to_next_page(b, css(b, "#confirm"))
    assert css(b, "#status").text == "started"
    minutes = int(css(b, "#time-remaining").text.split()[0])
    assert 44 <= minutes <= 45  # it failed 15 minutes into 60
    assert stack.status(stack.ids["errored"]) == "started"


def test_course_configuration_allowances_and_staff(b, stack):
    sign_in(b, stack)
    b.get(f"{stack.url}/console/courses/{COURSE}")
    assert [td.text for td in b.find_elements("css selector", "#exams tbody tr td:nth-child(2)")] == [
        "Final exam", "Timed quiz"]
    fill(b, **{"cfg-escalation_email": "not an email"})
    click_to_next_page(b, css(b, "#save-config"))
    assert css(b, "#cfg-e-escalation_email").text == "Enter a valid email address."
    fill(b, **{"cfg-escalation_email": "proctoring@example.com"})
    click_to_next_page(b, css(b, "#save-config"))
    assert "Course configuration saved." in css(b, ".notice").text
    fill(b, **{"al-username": "plain", "al-extra_time_mins": "30"})
    click_to_next_page(b, css(b, "#add-allowance"))
    assert [td.text for td in b.find_elements("css selector", "#allowances tbody td")][:3] == [
        "plain", "Final exam", "30"]
    fill(b, **{"st-username": "newta", "st-email": "newta@example.com"})
    b.find_element("css selector", "#st-role option[value='limited_staff']").click()
    click_to_next_page(b, css(b, "#add-staff"))
    assert "newta" in css(b, "#staff").text
    doc_shot(b, "course")
    click_to_next_page(b, b.find_element("css selector", "#allowances button"))
    assert b.find_elements("css selector", "#allowances") == []


def test_course_staff_cannot_reach_another_course_by_editing_the_url(b, stack):
    sign_in(b, stack, "ostaff", staff=False, user_id=502)
    for path in (f"/console/attempts/{stack.ids['submitted']}", f"/console/courses/{COURSE}", "/console/providers"):
        b.get(stack.url + path)
        assert css(b, "h1").text == "Not found"
    b.get(f"{stack.url}/console/courses/{OTHER}")
    assert css(b, "h1").text == OTHER


def test_add_a_provider_with_its_lti_registration_then_disable_it(b, stack):
    sign_in(b, stack)
    b.get(stack.url + "/console/providers")
    click_to_next_page(b, css(b, "#new-provider"))
    fill(b, **{"f-name": "acme", "f-verbose_name": "Acme Proctoring", "f-lti_client_id": "acme-client",
               "f-lti_login_url": "https://tool.acme.test/login", "f-lti_launch_url": "https://tool.acme.test/launch"})
    click_to_next_page(b, css(b, "#save-provider"))
    assert "needs the tool's JWKS URL or its public key" in css(b, ".error-summary").text
    fill(b, **{"f-lti_jwks_url": "https://tool.acme.test/jwks"})
    click_to_next_page(b, css(b, "#save-provider"))
    assert css(b, "#v-client_id").text == "acme-client"
    assert css(b, "#v-issuer").text == stack.url
    doc_shot(b, "provider")
    click_to_next_page(b, css(b, "#disable-provider"))
    assert css(b, "#provider-state").text.startswith("disabled")
    b.get(stack.url + "/console/providers")
    assert "disabled" in css(b, "#providers").text


def test_outboxes_retry_failed_mail(b, stack):
    now = datetime.now(timezone.utc)
    with stack.engine.begin() as conn:
        conn.execute(tables.mail_outbox.insert().values(
            message_id="<m1@test>", recipient="learner@example.com", subject="Your exam was reviewed",
            body_text="t", body_html="h", state="failed", tries=5, next_attempt_at=now,
            last_error="550 mailbox unavailable", created=now))
    sign_in(b, stack)
    b.get(stack.url + "/console/outboxes")
    assert css(b, "#mail-failed").text == "1"
    doc_shot(b, "outboxes")
    click_to_next_page(b, css(b, "#mail-retry"))
    assert "1 failed emails queued again." in css(b, ".notice").text
    assert css(b, "#mail-pending").text == "1"


def test_rotate_a_providers_lti_platform_key(b, stack):
    import requests

    def work(s):
        registration = s.lti.register_tool(client_id="rot-tool", oidc_login_url="https://rot.test/login",
                                           launch_url="https://rot.test/launch", tool_jwks_url="https://rot.test/j")
        provider = s.exams.add_provider(Provider(None, "rotproctor", "Rotating Proctor",
                                                 lti_configuration_id=registration.registration_id))
        return provider.id, registration.registration_id

    provider_id, registration_id = run_in_transaction(stack.container, work)
    jwks = f"{stack.url}/lti/lti_consumer/v1/public_keysets/{registration_id}"
    [old] = [k["kid"] for k in requests.get(jwks, timeout=10).json()["keys"]]
    sign_in(b, stack)
    b.get(stack.url + "/console/keys")
    click_to_next_page(b, b.find_element("link text", "rotproctor"))
    assert css(b, "#current-kid").text == old
    fill(b, **{"rk-grace_hours": "48"})
    click_to_next_page(b, css(b, "#rotate-key"))
    new = css(b, "#current-kid").text
    assert new != old and css(b, "#retiring").text.startswith("published until")
    assert [k["kid"] for k in requests.get(jwks, timeout=10).json()["keys"]] == [new, old]
    doc_shot(b, "keys")
    click_to_next_page(b, css(b, "#retire-key"))
    assert css(b, "#retiring").text == "none"
    assert [k["kid"] for k in requests.get(jwks, timeout=10).json()["keys"]] == [new]
