"""End-to-end fixtures: our service and a pylti1p3 proctoring tool, each a real HTTP server on 127.0.0.1.

Both listen on 127.0.0.1 (different ports): one site, so the platform's Lax launch cookie comes along on
the tool's form posts as it does in production with SameSite=None over https. SQLite only: these tests
exercise the protocol, the backends are covered by the functional suite.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import select

from exams import settings as settings_module
from exams.adapters.sql import tables
from exams.adapters.sql.migrate import upgrade
from exams.units import run_in_transaction
from exams.domain.exams import Exam, ExamType, Provider
from tests.browser import headless_chromium
from tests.conftest import app_settings, make_token
from tests.e2e.lti_tool import ProctoringTool, Served

COURSE = "course-v1:edx+e2e+2026"
CONTENT = "block-v1:edx+e2e+2026+type@sequential+block@final"


@dataclass
class Learner:
    username: str
    user_id: int
    attempt_id: int

    @property
    def token(self) -> str:
        return make_token(self.username, user_id=self.user_id)

    @property
    def headers(self) -> dict:
        return {"Authorization": f"JWT {self.token}"}


@dataclass
class LtiStack:
    platform: Served
    tool: ProctoringTool
    container: object
    exam: Exam
    vendor: dict

    def learner(self, username: str, user_id: int) -> Learner:
        """A learner with a fresh attempt at the exam, made through the learner API."""
        headers = {"Authorization": f"JWT {make_token(username, user_id=user_id)}"}
        response = requests.post(f"{self.platform.url}/api/v1/exams/attempt", json={"exam_id": self.exam.id},
                                 headers=headers, timeout=10)
        response.raise_for_status()
        return Learner(username, user_id, response.json()["exam_attempt_id"])

    def status(self, learner: Learner) -> str:
        with self.container.engine().connect() as conn:
            return conn.execute(select(tables.attempts.c.status)
                                .where(tables.attempts.c.id == learner.attempt_id)).scalar()

    def act(self, learner: Learner, action: str) -> None:
        """What the Learning MFE does on a button: PUT the action with the learner's JWT."""
        requests.put(f"{self.platform.url}/api/v1/exams/attempt/{learner.attempt_id}", json={"action": action},
                     headers=learner.headers, timeout=10).raise_for_status()

    @property
    def exam_url(self) -> str:
        return f"{self.tool.mfe_url}/course/{COURSE}/{CONTENT}"


@pytest.fixture(scope="module")
def lti_stack(tmp_path_factory):
    from exams.app import main
    from exams.container import build_container

    tmp = tmp_path_factory.mktemp("lti-e2e")
    url = f"sqlite:///{tmp / 'exams.db'}"
    upgrade(url)
    platform, tool_server = Served(), Served()
    tool = ProctoringTool(tool_server)
    raw = app_settings(url, **{"exams.root_url": platform.url, "exams.access_token.issuer": platform.url,
                               "exams.learning_mfe_url": tool.mfe_url, "exams.lti.allow_http_tool_urls": "true",
                               "exams.lti.platform_name": "Open edX Exams (e2e)"})
    container = build_container(settings_module.load(raw, environ={}))

    def register(services):
        registration = services.lti.register_tool(client_id=tool.client_id, oidc_login_url=tool.login_url,
                                                  launch_url=tool.launch_url, tool_jwks_url=tool.jwks_url)
        provider = services.exams.add_provider(Provider(id=None, name="pylti1p3", verbose_name="pylti1p3 Proctor",
                                                        lti_configuration_id=registration.registration_id))
        exam = services.repos.exams.add(Exam(id=None, course_id=COURSE, content_id=CONTENT, exam_name="Final",
                                             exam_type=ExamType.PROCTORED, time_limit_mins=60,
                                             provider_id=provider.id))
        return exam, services.lti.vendor_info(registration)

    exam, vendor = run_in_transaction(container, register)
    tool.configure(vendor)
    tool_server.start(tool)
    platform.start(main({}, container=container, **raw))
    stack = LtiStack(platform, tool, container, exam, vendor)
    yield stack
    platform.close()
    tool_server.close()
    container.engine().dispose()


@pytest.fixture(scope="module")
def chromium():
    with headless_chromium("exams-lti-chromium-") as driver:
        yield driver


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Each test's report on its node (``item.rep_call``), so that fixtures can save a screenshot on failure."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
