"""The exams service, the development proctoring tool and a stand-in Learning MFE, served on loopback.

All three are real WSGI servers (waitress) in threads of the test process, on ``localhost`` with
their own ports: one site, as on a developer's laptop (localhost:18740 and localhost:18741), so the
service's Lax launch cookie comes along on the tool's form posts, and the JWT cookies the tool's
sandbox sets for ``localhost`` reach the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from exams import settings as settings_module
from exams.adapters.sql.migrate import upgrade
from exams.adapters.sql.repositories import SqlRepositories
from exams.adapters.sql.session import make_engine
from exams.devtool.sandbox import CONTENT as SANDBOX_CONTENT
from exams.domain.attempts import Attempt
from tests.served import ServedApp
from tests.conftest import app_settings


class Served(ServedApp):
    """A WSGI app on a free loopback port (named localhost: one site, as on a laptop), until ``close()``."""

    def __init__(self):
        super().__init__(threads=6, url_host="localhost", name="e2e")


def learning_mfe(environ, start_response):
    body = f"<!DOCTYPE html><title>Learning MFE</title><h1 id='mfe'>Learning MFE {environ['PATH_INFO']}</h1>"
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body.encode()]


@dataclass
class Stack:
    service: Served
    tool: Served
    mfe: Served
    engine: object
    container: object
    devtool: object

    def attempt_of(self, username: str) -> Attempt | None:
        """The learner's attempt at the sandbox's exam, as the database has it."""
        with Session(self.engine) as session:
            repos = SqlRepositories(session)
            user = repos.users.get_by_username(username)
            exam = repos.exams.active_for_content(SANDBOX_CONTENT)
            return repos.attempts.latest_for(user.id, exam.id) if user and exam else None

    def status(self, username: str) -> str | None:
        attempt = self.attempt_of(username)
        return attempt.status.value if attempt else None

    def results(self, username: str) -> list:
        with Session(self.engine) as session:
            return SqlRepositories(session).control_results.for_attempt(self.attempt_of(username).id)

    def review(self, username: str):
        attempt = self.attempt_of(username)
        with Session(self.engine) as session:
            return SqlRepositories(session).control_results.first_for_attempts([attempt.id]).get(attempt.id)

    def close(self) -> None:
        for served in (self.service, self.tool, self.mfe):
            served.close()
        self.engine.dispose()


def start_stack(tmp: Path) -> Stack:
    """Migrate a fresh SQLite database, serve the three apps, register the tool as ``exams devtool`` does."""
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
    devtool = make_app(ensure_registered(container, settings, base_url=tool.url))
    tool.start(devtool)
    return Stack(service, tool, mfe, make_engine(url), container, devtool)
