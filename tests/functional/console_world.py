"""A console app (sign-in with a stub LMS OAuth2 provider) over each backend, and a small world in it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit
from urllib.request import HTTPRedirectHandler, build_opener

import pytest
from dependency_injector import providers

from exams import settings as settings_module
from exams.units import run_in_transaction
from exams.domain.attempts import Attempt, AttemptStatus, StatusChange
from exams.domain.exams import CourseConfig, Exam, ExamType, Provider
from exams.domain.users import User
from tests.conftest import app_settings
from tests.stub_oauth2 import CLIENT_ID, CLIENT_SECRET, StubOAuth2

COURSE = "course-v1:edx+console+2026"
OTHER = "course-v1:other+console+2026"
SCRIPT_NAME = "<script>alert(1)</script>"


def console_settings(database_url: str, lms_url: str, **extra) -> dict:
    return app_settings(database_url, **{"exams.lms_root_url": lms_url, "exams.console.oauth_client_id": CLIENT_ID,
                                         "exams.console.oauth_client_secret": CLIENT_SECRET,
                                         "exams.demo.enabled": "true", "exams.console.session_ttl": "3600",
                                         **extra})


@pytest.fixture(scope="session")
def oauth_stub():
    stub = StubOAuth2().start()
    yield stub
    stub.close()


@pytest.fixture(scope="session")
def console_wsgi(database_url, clock, oauth_stub):
    from exams.app import main
    from exams.container import build_container

    raw = console_settings(database_url, oauth_stub.url)
    container = build_container(settings_module.load(raw, environ={}))
    container.clock.override(providers.Object(clock))
    app = main({}, container=container, **raw)
    app.container = container
    return app


@dataclass
class World:
    app: object
    container: object
    clock: object
    ids: dict

    def tx(self, work):
        return run_in_transaction(self.container, work)

    @property
    def cookies(self):
        """The console's session cookies as the app signs them (same secret, same settings)."""
        from exams.adapters.http.console.session import SessionCookies

        s = self.container.settings()
        return SessionCookies(self.container.console_session_secret(), secure=s["exams.cookies.secure"],
                              ttl=s["exams.console.session_ttl"])

    def sign_in(self, username: str) -> None:
        """A session cookie for the user, as the sign-in leaves it (the sign-in itself has its own tests)."""
        from webob import Response

        user_id = self.ids[username]
        response = Response()
        self.cookies.start(response, user_id, self.clock.now())
        value = re.search(r"exams_console=([^;]+)", response.headers["Set-Cookie"]).group(1)
        self.app.set_cookie("exams_console", value)

    def csrf(self, page) -> str:
        return page.html.find("input", {"name": "csrf_token"})["value"]

    def status(self, attempt_id: int) -> str | None:
        attempt = self.tx(lambda s: s.repos.attempts.get(attempt_id))
        return attempt.status.value if attempt else None

    def audit(self) -> list:
        return self.tx(lambda s: s.console.store.audit(None, 100))


@pytest.fixture
def world(console_wsgi, db, clock):
    """Global staff "admin", "cstaff" (staff of COURSE), "ostaff" (staff of OTHER), a learner named <script>,
    and learner attempts: one submitted, one errored 20 minutes into a 60-minute exam."""
    from webtest import TestApp

    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc))
    container = console_wsgi.container

    def seed(s):
        ids = {}
        for name, staff in (("admin", True), ("cstaff", False), ("ostaff", False), (SCRIPT_NAME, False),
                            ("plain", False)):
            ids[name] = s.repos.users.ensure(User(None, name, email=f"{len(ids)}@example.com", is_staff=staff,
                                                  lms_user_id=100 + len(ids))).id
        s.repos.staff_roles.add(ids["cstaff"], COURSE, "staff")
        s.repos.staff_roles.add(ids["ostaff"], OTHER, "staff")
        provider = s.repos.providers.add(Provider(None, "stubproctor", "Stub Proctor"))
        s.repos.configs.put(CourseConfig(COURSE, provider.id, escalation_email="help@example.com"))
        exam = s.repos.exams.add(Exam(None, COURSE, "block-v1:edx+console+2026+type@sequential+block@final",
                                      "Final <exam>", ExamType.PROCTORED, 60, provider_id=provider.id))
        other_exam = s.repos.exams.add(Exam(None, OTHER, "block-v1:other+console+2026+type@sequential+block@x",
                                            "Other final", ExamType.TIMED, 30))
        t0 = clock.now()
        from datetime import timedelta

        submitted = s.repos.attempts.add(Attempt(None, ids[SCRIPT_NAME], exam.id, status=AttemptStatus.SUBMITTED,
                                                 start_time=t0 - timedelta(hours=2), allowed_time_limit_mins=60,
                                                 end_time=t0 - timedelta(hours=1, minutes=30),
                                                 created=t0 - timedelta(hours=2), modified=t0))
        errored = Attempt(None, ids["plain"], exam.id, status=AttemptStatus.ERROR, start_time=t0 - timedelta(hours=1),
                          allowed_time_limit_mins=60, created=t0 - timedelta(hours=1), modified=t0)
        errored.changes += [StatusChange(None, None, AttemptStatus.CREATED, ids["plain"], t0 - timedelta(hours=1)),
                            StatusChange(None, AttemptStatus.CREATED, AttemptStatus.STARTED, ids["plain"],
                                         t0 - timedelta(hours=1)),
                            StatusChange(None, AttemptStatus.STARTED, AttemptStatus.ERROR, ids["plain"],
                                         t0 - timedelta(minutes=40))]
        errored = s.repos.attempts.add(errored)
        other = s.repos.attempts.add(Attempt(None, ids["plain"], other_exam.id, status=AttemptStatus.SUBMITTED,
                                             start_time=t0 - timedelta(minutes=30), allowed_time_limit_mins=30,
                                             end_time=t0, created=t0 - timedelta(minutes=30), modified=t0))
        ids.update(exam=exam.id, other_exam=other_exam.id, submitted=submitted.id, errored=errored.id,
                   other_attempt=other.id, provider=provider.id)
        return ids

    ids = container_tx(container, seed)
    app = TestApp(console_wsgi)
    yield World(app, container, clock, ids)
    clock.reset()


def container_tx(container, work):
    return run_in_transaction(container, work)


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def follow_lms(location: str) -> str:
    """The browser at the LMS's authorize URL: the (stub) LMS approves and sends it back; the callback URL."""
    from urllib.error import HTTPError

    try:
        build_opener(_NoRedirect).open(location, timeout=10)
    except HTTPError as exc:
        assert exc.code == 302, exc.code
        return exc.headers["Location"]
    raise AssertionError("the LMS did not redirect")


def callback_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
