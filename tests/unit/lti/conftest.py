"""Fixtures for the LTI adapter tests: keys are generated once per session, everything else is cheap."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import pytest
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS

from exams.adapters.lti import JwcryptoLtiPlatform
from exams.ports.lti import LaunchRejected, RejectionCode, ToolRegistration

ISSUER = "https://exams.example.org"
NOW = 1_800_000_000.0
START_ASSESSMENT_URL = ISSUER + "/lti/lti_consumer/v1/start_proctoring_assessment"
TOKEN_URL = ISSUER + "/lti/lti_consumer/v1/token/8a3c1b0e-2f6e-4f4c-9b57-0c6f7f1f0a11"
TOOL_A_JWKS_URL = "https://tool-a.example/.well-known/jwks.json"
TOOL_B_JWKS_URL = "https://tool-b.example/.well-known/jwks.json"


class FixedClock:
    """Epoch seconds that only move when a test says so."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class PlatformClock:
    """The clock port (exams.ports.clock) reading a FixedClock's epoch seconds."""

    def __init__(self, fixed: FixedClock) -> None:
        self.fixed = fixed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.fixed.now, tz=timezone.utc)


class FakeNonceStore:
    """In-memory `NonceStore`."""

    def __init__(self) -> None:
        self.used: dict[str, datetime] = {}

    def use(self, nonce: str, expires_at: datetime) -> bool:
        if nonce in self.used:
            return False
        self.used[nonce] = expires_at
        return True


class FakeKeysetFetcher:
    """`KeysetFetcher` serving fixed documents by URL; records calls."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]]) -> None:
        self.documents = dict(documents)
        self.calls: list[tuple[str, bool]] = []

    def fetch(self, url: str, *, refresh: bool = False) -> Mapping[str, Any]:
        self.calls.append((url, refresh))
        if url not in self.documents:
            raise LaunchRejected(RejectionCode.KEYSET_UNAVAILABLE, "no such keyset")
        return self.documents[url]


class ToolKey:
    """A tool's RSA key pair with its thumbprint kid, and helpers to sign JWTs the way tools do."""

    def __init__(self) -> None:
        self.key = JWK.generate(kty="RSA", size=2048)
        self.kid = self.key.thumbprint()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(self.key.export_public())
        public.update(kid=self.kid, alg="RS256", use="sig")
        return {"keys": [public]}

    def pem(self) -> str:
        return self.key.export_to_pem().decode()

    def sign(self, claims: Mapping[str, Any], *, alg: str = "RS256", kid: str | None | object = ..., **header: Any) -> str:
        protected = {"alg": alg, **header}
        if kid is ...:
            protected["kid"] = self.kid
        elif kid is not None:
            protected["kid"] = kid
        jws = JWS(json.dumps(dict(claims)).encode())
        jws.add_signature(self.key, alg=alg, protected=json.dumps(protected))
        return jws.serialize(compact=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: Mapping[str, Any], claims: Mapping[str, Any], signature: str = "") -> str:
    return f"{b64url(json.dumps(dict(header)).encode())}.{b64url(json.dumps(dict(claims)).encode())}.{signature}"


def decode_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture(scope="session")
def tool_a_key() -> ToolKey:
    return ToolKey()


@pytest.fixture(scope="session")
def tool_b_key() -> ToolKey:
    return ToolKey()


@pytest.fixture(scope="session")
def platform_keys() -> list[tuple[str, str]]:
    """Two platform keys (private JWK JSON, kid), one per registration."""
    platform = JwcryptoLtiPlatform(ISSUER)
    return [(k.private_jwk_json, k.kid) for k in (platform.generate_platform_key(), platform.generate_platform_key())]


@pytest.fixture(scope="session")
def registration_a(platform_keys) -> ToolRegistration:
    private, kid = platform_keys[0]
    return ToolRegistration(
        registration_id=str(uuid.UUID(int=0xA)),
        client_id="client-a",
        oidc_login_url="https://tool-a.example/login",
        launch_url="https://tool-a.example/launch",
        platform_private_key=private,
        platform_kid=kid,
        redirect_uris=("https://tool-a.example/launch",),
        tool_jwks_url=TOOL_A_JWKS_URL,
    )


@pytest.fixture(scope="session")
def registration_b(platform_keys) -> ToolRegistration:
    private, kid = platform_keys[1]
    return ToolRegistration(
        registration_id=str(uuid.UUID(int=0xB)),
        client_id="client-b",
        oidc_login_url="https://tool-b.example/login?tenant=7",
        launch_url="https://tool-b.example/launch",
        platform_private_key=private,
        platform_kid=kid,
        tool_jwks_url=TOOL_B_JWKS_URL,
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def nonces() -> FakeNonceStore:
    return FakeNonceStore()


@pytest.fixture
def fetcher(tool_a_key, tool_b_key) -> FakeKeysetFetcher:
    return FakeKeysetFetcher({TOOL_A_JWKS_URL: tool_a_key.jwks(), TOOL_B_JWKS_URL: tool_b_key.jwks()})


@pytest.fixture
def platform(clock, fetcher) -> JwcryptoLtiPlatform:
    return JwcryptoLtiPlatform(ISSUER, platform_name="Open edX Exams", clock=PlatformClock(clock), keyset_fetcher=fetcher)


def rejected_with(excinfo: pytest.ExceptionInfo[LaunchRejected], code: RejectionCode) -> bool:
    return excinfo.value.code == code
