"""A proctored course seeded straight into the database, for the ACS and token endpoint tests.

Each registration gets a real platform key (generated once per test session: RSA generation is the
slow part) and a tool key pair, so the same world serves the fake vendor and the real LTI one.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import lru_cache

from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS
from sqlalchemy.orm import Session

from exams.adapters.lti import JwcryptoLtiPlatform
from exams.adapters.sql.lti_repositories import LtiRepositories
from exams.adapters.sql.repositories import SqlRepositories
from exams.domain.attempts import Attempt, AttemptStatus, StatusChange
from exams.domain.exams import Exam, ExamType, Provider
from exams.domain.users import User
from exams.ports.lti import ACS_SCOPE, ToolRegistration

ROOT = "http://localhost"  # exams.root_url of the test app: the LTI issuer
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
COURSE = "course-v1:edx+acs+2024"
VND = "application/vnd.ims.lti-ap.v1.control+json"


@lru_cache(maxsize=None)
def platform_key(index: int):
    return JwcryptoLtiPlatform(ROOT).generate_platform_key()


@lru_cache(maxsize=None)
def tool_key(index: int) -> JWK:
    return JWK.generate(kty="RSA", size=2048)


@dataclass
class Tool:
    """One registered proctoring tool, with what it needs to sign as itself."""

    registration: ToolRegistration
    key: JWK
    provider_id: int

    @property
    def id(self) -> str:
        return self.registration.registration_id

    @property
    def token_path(self) -> str:
        return f"/lti/lti_consumer/v1/token/{self.id}"

    @property
    def acs_path(self) -> str:
        return f"/lti/{self.id}/acs"

    def sign(self, claims: dict, **header) -> str:
        protected = {"alg": "RS256", "kid": self.key.thumbprint(), **header}
        jws = JWS(json.dumps(claims).encode())
        jws.add_signature(self.key, alg=protected["alg"], protected=json.dumps(protected))
        return jws.serialize(compact=True)

    def assertion(self, *, aud: str | None = None, lifetime: int = 60, iat: float | None = None,
                  jti: str | None = None, **extra) -> str:
        now = time.time() if iat is None else iat
        claims = {"iss": self.registration.client_id, "sub": self.registration.client_id,
                  "aud": aud or ROOT + self.token_path, "iat": int(now), "exp": int(now) + lifetime,
                  "jti": jti or f"lti-service-token-{uuid.uuid4()}"}
        claims.update(extra)
        return self.sign(claims)

    def token_form(self, **overrides) -> dict:
        form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE, "scope": ACS_SCOPE}
        form.update(overrides)
        if "client_assertion" not in overrides:
            form["client_assertion"] = self.assertion()
        return {k: v for k, v in form.items() if v is not None}

    def fake_token(self, scope: str = "control") -> str:
        return f"fake-token:{self.id}:{scope}"


@dataclass
class Learner:
    user: User
    attempt: Attempt
    exam: Exam

    @property
    def sub(self) -> str:
        return self.user.anonymous_user_id

    def message(self, **overrides) -> dict:
        body = {"user": {"sub": self.sub, "iss": ROOT}, "resource_link": {"id": self.exam.resource_id},
                "attempt_number": self.attempt.attempt_number, "action": "terminate",
                "incident_time": "2024-05-01T10:45:33Z", "incident_severity": "0.1", "reason_code": "1"}
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not ...}


@dataclass
class World:
    engine: object
    tools: list[Tool] = field(default_factory=list)

    def add_tool(self, name: str) -> Tool:
        index = len(self.tools)
        key = platform_key(index)
        tool = tool_key(index)
        public = json.loads(tool.export_public())
        public.update(kid=tool.thumbprint(), alg="RS256", use="sig")
        with Session(self.engine) as session:
            registration = LtiRepositories(session).registrations.add(ToolRegistration(
                registration_id="", client_id=f"{name}-client", oidc_login_url=f"http://{name}.test/login",
                launch_url=f"http://{name}.test/launch", platform_private_key=key.private_jwk_json,
                platform_kid=key.kid, tool_public_key=json.dumps({"keys": [public]})))
            provider = SqlRepositories(session).providers.add(Provider(
                id=None, name=name, verbose_name=name.title(), lti_configuration_id=registration.registration_id))
            session.commit()
        self.tools.append(Tool(registration, tool, provider.id))
        return self.tools[-1]

    def add_learner(self, tool: Tool, username: str = "alice", status: AttemptStatus = AttemptStatus.STARTED,
                    *, content: str = "block-v1:edx+acs+2024+type@sequential+block@1") -> Learner:
        now = datetime.now(timezone.utc)
        with Session(self.engine) as session:
            repos = SqlRepositories(session)
            exam = repos.exams.active_for_content(content)
            if exam is None:
                exam = repos.exams.add(Exam(id=None, course_id=COURSE, content_id=content, exam_name="Final",
                                            exam_type=ExamType.PROCTORED, time_limit_mins=60,
                                            provider_id=tool.provider_id))
            user = repos.users.ensure(User(id=None, username=username, email=f"{username}@example.com",
                                           lms_user_id=abs(hash(username)) % 100000))
            attempt = Attempt(id=None, user_id=user.id, exam_id=exam.id, status=status, created=now, modified=now,
                              start_time=now if status is not AttemptStatus.CREATED else None,
                              allowed_time_limit_mins=60 if status is not AttemptStatus.CREATED else None)
            attempt.changes.append(StatusChange(None, None, status, user.id, now))
            attempt = repos.attempts.add(attempt)
            session.commit()
        return Learner(user, replace(attempt, changes=[]), exam)

    def status(self, learner: Learner) -> str:
        with Session(self.engine) as session:
            return SqlRepositories(session).attempts.get(learner.attempt.id).status.value

    def results(self, learner: Learner) -> list:
        with Session(self.engine) as session:
            return SqlRepositories(session).control_results.for_attempt(learner.attempt.id)
