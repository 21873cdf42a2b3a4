"""Shared set-up of the LTI functional tests (no tests here): a registered tool whose key the tests hold,
an exam it proctors, a learner with an attempt, and helpers that play the browser and the tool."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from jwcrypto.jwk import JWK, JWKSet
from jwcrypto.jws import JWS
from jwcrypto.jwt import JWT
from sqlalchemy import select

from exams.adapters.lti import JwcryptoLtiPlatform
from exams.adapters.sql import tables
from exams.units import run_in_transaction
from exams.domain.exams import Exam, ExamType, Provider
from exams.ports.lti import PlatformKey, ToolRegistration
from tests.conftest import LEARNING_MFE, auth

ROOT = "http://localhost"  # exams.root_url of the functional app: the LTI issuer
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LTI_AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
COURSE = "course-v1:edx+lti+2026"
CONTENT = "block-v1:edx+lti+2026+type@sequential+block@final"
TOOL_LOGIN = "https://tool.test/login"
TOOL_LAUNCH = "https://tool.test/launch"
AUTH_PATH = "/lti/lti_consumer/v1/launch/"
START_ASSESSMENT_PATH = "/lti/lti_consumer/v1/start_proctoring_assessment"
LEARNER = auth("learner", user_id=10)
OTHER_LEARNER = auth("mallory", user_id=11)
STAFF = auth("staff", user_id=1, staff=True)


class ToolKey:
    """A tool's RSA key: it signs tool messages the way tools do (RS256, thumbprint kid)."""

    def __init__(self) -> None:
        self.key = JWK.generate(kty="RSA", size=2048)
        self.kid = self.key.thumbprint()

    def pem(self) -> str:
        return self.key.export_to_pem().decode()

    def sign(self, claims: dict, *, alg: str = "RS256", header: dict | None = None) -> str:
        jws = JWS(json.dumps(claims).encode())
        jws.add_signature(self.key, alg=alg, protected=json.dumps(header or {"alg": alg, "kid": self.kid}))
        return jws.serialize(compact=True)


@pytest.fixture(scope="session")
def tool_key() -> ToolKey:
    return ToolKey()


@pytest.fixture(scope="session")
def other_tool_key() -> ToolKey:
    return ToolKey()


@dataclass
class LtiWorld:
    registration_id: str
    other_registration_id: str
    exam_id: int
    resource_id: str
    attempt_id: int
    tool_key: ToolKey
    other_tool_key: ToolKey


@pytest.fixture(scope="session")
def platform_keys() -> list[PlatformKey]:
    """Two platform keys made once: generating RSA keys for every test would dominate the suite's time."""
    platform = JwcryptoLtiPlatform(ROOT)
    return [platform.generate_platform_key() for _ in range(2)]


def register(wsgi, client_id: str, key: ToolKey, provider_name: str, platform_key: PlatformKey, **kw):
    """Store the tool's registration (with a ready platform key) and a provider using it."""
    def work(services):
        registration = services.lti.store.registrations.add(ToolRegistration(
            registration_id="", client_id=client_id, oidc_login_url=kw.get("login", TOOL_LOGIN),
            launch_url=kw.get("launch", TOOL_LAUNCH), platform_private_key=platform_key.private_jwk_json,
            platform_kid=platform_key.kid, redirect_uris=kw.get("redirect_uris", (TOOL_LAUNCH,)),
            tool_public_key=key.pem()))
        services.exams.add_provider(Provider(id=None, name=provider_name, verbose_name=provider_name.title(),
                                             lti_configuration_id=registration.registration_id))
        return registration
    return run_in_transaction(wsgi.container, work)


def add_exam(wsgi, provider_name: str, content_id: str = CONTENT, exam_type=ExamType.PROCTORED) -> Exam:
    def work(services):
        provider = services.repos.providers.get_by_name(provider_name) if provider_name else None
        return services.repos.exams.add(Exam(
            id=None, course_id=COURSE, content_id=content_id, exam_name="Final", exam_type=exam_type,
            time_limit_mins=60, provider_id=provider.id if provider else None))
    return run_in_transaction(wsgi.container, work)


def create_attempt(testapp, exam_id: int, headers=LEARNER) -> int:
    return testapp.post_json("/api/v1/exams/attempt", {"exam_id": exam_id}, headers=headers).json["exam_attempt_id"]


@pytest.fixture
def world(wsgi, testapp, tool_key, other_tool_key, platform_keys) -> LtiWorld:
    registration = register(wsgi, "tool-1", tool_key, "proctorio", platform_keys[0])
    other = register(wsgi, "tool-2", other_tool_key, "other_vendor", platform_keys[1],
                     login="https://other.test/login", launch="https://other.test/launch",
                     redirect_uris=("https://other.test/launch",))
    exam = add_exam(wsgi, "proctorio")
    attempt_id = create_attempt(testapp, exam.id)
    return LtiWorld(registration.registration_id, other.registration_id, exam.id, exam.resource_id, attempt_id,
                    tool_key, other_tool_key)


def attempt_status(wsgi, attempt_id: int) -> str | None:
    with wsgi.container.engine().connect() as conn:
        return conn.execute(select(tables.attempts.c.status).where(tables.attempts.c.id == attempt_id)).scalar()


def exam_url() -> str:
    return f"{LEARNING_MFE}/course/{COURSE}/{CONTENT}"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def unverified(token: str, part: int = 1) -> dict[str, Any]:
    segment = token.split(".")[part]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def verified_claims(testapp, registration_id: str, token: str) -> dict[str, Any]:
    """Verify an id_token as a tool does: with the keyset our JWKS URL publishes, RS256 only."""
    keyset = JWKSet.from_json(json.dumps(testapp.get(f"/lti/lti_consumer/v1/public_keysets/{registration_id}").json))
    jwt = JWT(jwt=token, key=keyset, algs=["RS256"], expected_type="JWS")
    return json.loads(jwt.claims)


class FormParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.action = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs.get("action")
        if tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value", "")


def parse_form(page: str) -> tuple[str | None, dict[str, str]]:
    parser = FormParser()
    parser.feed(page)
    return parser.action, parser.fields


def start(testapp, world: LtiWorld, headers=LEARNER, status=302) -> dict[str, str]:
    """The learner's "Start System Check": our 302 to the tool's login initiation; its parameters."""
    response = testapp.get(f"/lti/start_proctoring/{world.attempt_id}", headers=headers, status=status)
    return query(response.location) if status == 302 else response


def auth_params(login: dict[str, str], **overrides) -> dict[str, str]:
    """The authentication request a tool sends back after its login step."""
    params = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
              "client_id": login["client_id"], "redirect_uri": TOOL_LAUNCH, "login_hint": login["login_hint"],
              "lti_message_hint": login["lti_message_hint"], "state": "state-" + uuid.uuid4().hex,
              "nonce": "nonce-" + uuid.uuid4().hex}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def launch(testapp, world: LtiWorld) -> dict[str, Any]:
    """Start proctoring and complete the OIDC round trip; the verified LtiStartProctoring claims."""
    login = start(testapp, world)
    page = testapp.get(AUTH_PATH, params=auth_params(login), status=200)
    action, fields = parse_form(page.text)
    assert action == TOOL_LAUNCH
    return verified_claims(testapp, world.registration_id, fields["id_token"])


def start_assessment_claims(launch_claims: dict, **overrides) -> dict[str, Any]:
    """The LtiStartAssessment a well-behaved tool answers to ``launch_claims``."""
    now = int(time.time())
    claims = {
        "iss": launch_claims["aud"], "aud": [launch_claims["iss"]], "iat": now, "exp": now + 300,
        "nonce": uuid.uuid4().hex,
        LTI + "message_type": "LtiStartAssessment", LTI + "version": "1.3.0",
        LTI + "deployment_id": launch_claims[LTI + "deployment_id"],
        LTI + "resource_link": launch_claims[LTI + "resource_link"],
        LTI_AP + "attempt_number": launch_claims[LTI_AP + "attempt_number"],
        LTI_AP + "session_data": launch_claims[LTI_AP + "session_data"],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def post_start_assessment(testapp, token: str, status=303):
    return testapp.post(START_ASSESSMENT_PATH, {"JWT": token}, status=status)
