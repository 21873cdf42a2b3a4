"""The exams service, the development proctoring tool and a stand-in Learning MFE, served on loopback.

All three are real WSGI servers (waitress) in threads of the test process, on ``localhost`` with
their own ports: one site, as on a developer's laptop (localhost:18740 and localhost:18741), so the
service's Lax launch cookie comes along on the tool's form posts.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import waitress
from sqlalchemy.orm import Session

from exams import settings as settings_module
from exams.adapters.sql.migrate import upgrade
from exams.adapters.sql.repositories import SqlRepositories
from exams.adapters.sql.session import make_engine
from exams.domain.attempts import Attempt, AttemptStatus, StatusChange
from exams.domain.exams import Exam, ExamType
from exams.domain.users import User
from tests.conftest import app_settings, make_token

COURSE = "course-v1:edx+devtool+2024"
CONTENT = "block-v1:edx+devtool+2024+type@sequential+block@final"


class Served:
    """A WSGI app on a free loopback port, in a daemon thread, until ``close()``."""

    def __init__(self, app=None):
        self.app = app
        self.server = waitress.create_server(lambda environ, start: self.app(environ, start), host="127.0.0.1",
                                             port=0, threads=6, ident="e2e")
        self.port = self.server.effective_port
        self.url = f"http://localhost:{self.port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, app) -> "Served":
        self.app = app
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.close()
        self.thread.join(timeout=5)


def learning_mfe(environ, start_response):
    body = f"<!DOCTYPE html><title>Learning MFE</title><h1 id='mfe'>Learning MFE {environ['PATH_INFO']}</h1>"
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body.encode()]


@dataclass
class Learner:
    user: User
    attempt_id: int
    token: str

    @property
    def sub(self) -> str:
        return self.user.anonymous_user_id


@dataclass
class Stack:
    service: Served
    tool: Served
    mfe: Served
    engine: object
    container: object
    devtool: object
    exam: Exam | None = None
    learners: list[Learner] = field(default_factory=list)

    def add_learner(self, username: str, user_id: int) -> Learner:
        now = datetime.now(timezone.utc)
        with Session(self.engine) as session:
            repos = SqlRepositories(session)
            user = repos.users.ensure(User(id=None, username=username, email=f"{username}@example.com",
                                           lms_user_id=user_id))
            attempt = Attempt(id=None, user_id=user.id, exam_id=self.exam.id, created=now, modified=now)
            attempt.changes.append(StatusChange(None, None, AttemptStatus.CREATED, user.id, now))
            attempt = repos.attempts.add(attempt)
            session.commit()
        learner = Learner(user, attempt.id, make_token(username, user_id=user_id))
        self.learners.append(learner)
        return learner

    def status(self, learner: Learner) -> str:
        with Session(self.engine) as session:
            return SqlRepositories(session).attempts.get(learner.attempt_id).status.value

    def review(self, learner: Learner):
        with Session(self.engine) as session:
            return SqlRepositories(session).control_results.first_for_attempts([learner.attempt_id]).get(
                learner.attempt_id)

    def results(self, learner: Learner) -> list:
        with Session(self.engine) as session:
            return SqlRepositories(session).control_results.for_attempt(learner.attempt_id)

    def close(self) -> None:
        for served in (self.service, self.tool, self.mfe):
            served.close()
        self.engine.dispose()


def start_stack(tmp: Path) -> Stack:
    """Migrate a fresh SQLite database, serve the three apps, register the tool as ``exams demo`` does."""
    from dependency_injector import providers  # noqa: F401  (the container is built by main())

    from exams.app import main
    from exams.container import build_container
    from exams.devtool import ensure_registered, make_app

    url = f"sqlite:///{tmp / 'exams.db'}"
    upgrade(url)
    service, tool, mfe = Served(), Served(), Served()
    raw = app_settings(url, **{"exams.root_url": service.url, "exams.access_token.issuer": service.url,
                               "exams.learning_mfe_url": mfe.url, "exams.lti.allow_http_tool_urls": "true",
                               "exams.demo.enabled": "true",
                               "exams.access_token.key_file": str(tmp / "access-token-key.json")})
    settings = settings_module.load(raw, environ={})
    container = build_container(settings)
    service.start(main({}, container=container, **raw))
    mfe.start(learning_mfe)
    config = ensure_registered(container, settings, base_url=tool.url)
    devtool = make_app(config)
    tool.start(devtool)
    engine = make_engine(url)
    stack = Stack(service, tool, mfe, engine, container, devtool)
    with Session(engine) as session:
        repos = SqlRepositories(session)
        provider = repos.providers.get_by_name("devtool")
        stack.exam = repos.exams.add(Exam(id=None, course_id=COURSE, content_id=CONTENT, exam_name="Final exam",
                                          exam_type=ExamType.PROCTORED, time_limit_mins=60, provider_id=provider.id))
        session.commit()
    return stack


def api(stack: Stack, learner: Learner, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """Call the service's API as the learner (LMS JWT header)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(stack.service.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"JWT {learner.token}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
