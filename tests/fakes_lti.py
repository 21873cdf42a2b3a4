"""In-memory fakes of the LTI ports (exams.ports.lti_store and exams.ports.lti) for unit tests of the services.

The store fakes keep the rules the SQL store keeps (tests/contract/test_lti_store.py runs the same tests on
both): registration ids are the stored numbers as text, a hint is spent once and only before it expires, a
launch completes once, and a nonce is usable once until it expires. ``FakeLtiPlatform`` signs nothing: its
id_tokens and login URLs are readable strings, and the LtiStartAssessment messages a test wants verified are
issued by ``start_assessment_token``.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from urllib.parse import urlencode

from exams.domain.errors import Conflict
from exams.ports.lti import (MESSAGE_START_PROCTORING, LaunchRejected, PlatformKey, RejectionCode,
                             StartAssessmentClaims, ToolRegistration)
from tests.fakes import rolled_back_on_error


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def a_registration(client_id="tool-1", kid="kid-1", **kw) -> ToolRegistration:
    """A tool registration as an operator would store it (``registration_id`` is assigned on ``add``)."""
    values = dict(registration_id="", client_id=client_id, oidc_login_url="https://tool.example/login",
                  launch_url="https://tool.example/launch", platform_private_key='{"kty":"RSA"}',
                  platform_kid=kid, redirect_uris=("https://tool.example/launch", "https://tool.example/other"),
                  tool_jwks_url="https://tool.example/jwks")
    values.update(kw)
    return ToolRegistration(**values)


class FakeRegistrationRepository:
    def __init__(self):
        self.rows: dict[int, object] = {}
        self.last_id = 0

    def get(self, registration_id):
        text = str(registration_id)
        return self.rows.get(int(text)) if text.isascii() and text.isdigit() and len(text) <= 9 else None

    def get_by_client_id(self, client_id):
        return next((r for r in self.rows.values() if r.client_id == client_id), None)

    def add(self, registration):
        if any(r.client_id == registration.client_id or r.platform_kid == registration.platform_kid
               for r in self.rows.values()):
            raise Conflict(f"An LTI registration with client_id {registration.client_id!r} (or its platform kid) "
                           "already exists.", code="registration_exists")
        self.last_id += 1
        stored = replace(registration, registration_id=str(self.last_id))
        self.rows[self.last_id] = stored
        return stored

    def list(self):
        return [self.rows[k] for k in sorted(self.rows)]

    def save_keys(self, registration):
        number = int(registration.registration_id)
        if any(n != number and r.platform_kid == registration.platform_kid for n, r in self.rows.items()):
            raise Conflict("Another registration already uses this platform kid.", code="registration_exists")
        self.rows[number] = replace(self.rows[number], platform_private_key=registration.platform_private_key,
                                    platform_kid=registration.platform_kid,
                                    retiring_public_jwk=registration.retiring_public_jwk,
                                    retiring_until=registration.retiring_until)


class FakeLaunchStateRepository:
    def __init__(self, registrations: FakeRegistrationRepository, now=_utcnow):
        self.registrations = registrations
        self.rows: dict[int, object] = {}
        self.last_id = 0
        self._now = now

    def add(self, state):
        if self.registrations.get(state.registration_id) is None:
            raise ValueError("a launch needs a stored registration")
        self.last_id += 1
        stored = replace(state, id=self.last_id, created=state.created or self._now())
        self.rows[self.last_id] = stored
        return stored

    def get_by_hint(self, message_hint):
        return next((r for r in self.rows.values() if r.message_hint == message_hint), None)

    def _update(self, launch_id, ok, **values) -> bool:
        row = self.rows.get(launch_id)
        if row is None or not ok(row):
            return False
        self.rows[launch_id] = replace(row, **values)
        return True

    def mark_used(self, launch_id, now):
        return self._update(launch_id, lambda r: not r.used and r.hint_expires_at > now, used=True)

    def pending_starts(self, user_id, registration_id, browser_binding, now, limit=5):
        found = [r for r in self.rows.values() if r.user_id == user_id and r.registration_id == str(registration_id)
                 and r.browser_binding == browser_binding and r.message_type == MESSAGE_START_PROCTORING
                 and r.used and not r.completed and r.expires_at > now]
        return sorted(found, key=lambda r: r.id, reverse=True)[:limit]

    def complete(self, launch_id, end_assessment_return, now):
        return self._update(launch_id, lambda r: r.used and not r.completed and r.expires_at > now,
                            completed=True, end_assessment_return=bool(end_assessment_return))

    def last_completed_start(self, attempt_id):
        found = [r for r in self.rows.values() if r.attempt_id == attempt_id
                 and r.message_type == MESSAGE_START_PROCTORING and r.completed]
        return max(found, key=lambda r: r.id) if found else None

    def purge_expired(self, now):
        gone = [k for k, r in self.rows.items() if r.expires_at <= now and not r.completed]
        for key in gone:
            del self.rows[key]
        return len(gone)


class FakeNonceRepository:
    MAX_KEY_LENGTH = 100

    def __init__(self, now=_utcnow):
        self.expiries: dict[str, datetime] = {}
        self._now = now

    def use(self, nonce, expires_at):
        if not isinstance(nonce, str) or not nonce or len(nonce) > self.MAX_KEY_LENGTH:
            raise ValueError("nonce keys are non-empty strings of at most 100 characters")
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        seen = self.expiries.get(nonce)
        if seen is not None and seen > self._now():
            return False
        self.expiries[nonce] = expires_at
        return True

    def purge_expired(self, now):
        gone = [k for k, at in self.expiries.items() if at <= now]
        for key in gone:
            del self.expiries[key]
        return len(gone)


class FakeLtiStore:
    """``LtiStore`` in memory; ``unit_of_work()`` rolls it back when the block raises."""

    def __init__(self, now=_utcnow):
        self.registrations = FakeRegistrationRepository()
        self.launches = FakeLaunchStateRepository(self.registrations, now)
        self.nonces = FakeNonceRepository(now)

    @contextmanager
    def unit_of_work(self):
        with rolled_back_on_error(self):
            yield self


class FakeLtiPlatform:
    """``LtiPlatform`` without cryptography: what would be signed is kept readable."""

    def __init__(self, issuer: str = "https://exams.example.org"):
        self.issuer = issuer
        self._ids = itertools.count(1)
        self.signed: dict[str, tuple[object, dict]] = {}  # id_token -> (registration, claims)
        self.assessments: dict[str, tuple[str, dict]] = {}  # token -> (client_id, fields)

    def generate_platform_key(self):
        n = next(self._ids)
        return PlatformKey(private_jwk_json=f'{{"fake": {n}}}', kid=f"kid-{n}")

    def tool_key_problem(self, material):
        """A JSON object with ``kty`` or ``keys``, or a PEM public key, is a key here; anything else is not."""
        import json

        if material.startswith("-----BEGIN PUBLIC KEY-----"):
            return None
        try:
            document = json.loads(material)
        except ValueError:
            document = None
        if isinstance(document, dict) and ("kty" in document or "keys" in document):
            return None
        return "The tool's public key must be a PEM public key, a JWK or a JWKS."

    def public_jwks(self, registrations):
        return {"keys": [{"kid": r.platform_kid, "kty": "RSA"} for r in registrations]}

    def login_initiation_url(self, registration, *, login_hint, lti_message_hint, **_):
        return f"{registration.oidc_login_url}?" + urlencode(
            {"iss": self.issuer, "client_id": registration.client_id, "login_hint": login_hint,
             "lti_message_hint": lti_message_hint, "target_link_uri": registration.launch_url})

    def build_start_proctoring_claims(self, registration, launch):
        return {"message": "LtiStartProctoring", "launch": launch}

    def build_end_assessment_claims(self, registration, launch):
        return {"message": "LtiEndAssessment", "launch": launch}

    def build_resource_link_claims(self, registration, launch):
        return {"message": "LtiResourceLinkRequest", "launch": launch}

    def sign_id_token(self, registration, claims):
        token = f"id-token-{next(self._ids)}"
        self.signed[token] = (registration, dict(claims))
        return token

    def start_assessment_token(self, client_id, *, resource_link_id, attempt_number, session_data,
                               nonce=None, end_assessment_return=False, expires_at=None) -> str:
        """An LtiStartAssessment message this fake will verify (when its fields match the launch)."""
        token = f"start-assessment-{next(self._ids)}"
        self.assessments[token] = (client_id, dict(
            resource_link_id=resource_link_id, attempt_number=attempt_number, session_data=session_data,
            nonce=nonce or token, end_assessment_return=end_assessment_return,
            expires_at=expires_at or datetime(2100, 1, 1, tzinfo=timezone.utc)))
        return token

    def unverified_client_id(self, token):
        if token not in self.assessments:
            raise LaunchRejected(RejectionCode.MALFORMED_TOKEN, "Not a fake LtiStartAssessment.")
        return self.assessments[token][0]

    def verify_start_assessment(self, registration, token, expected, nonces):
        client_id, fields = self.assessments[token]
        if client_id != registration.client_id:
            raise LaunchRejected(RejectionCode.BAD_SIGNATURE, "Not signed by this tool.")
        for name, code in (("resource_link_id", RejectionCode.RESOURCE_LINK_MISMATCH),
                           ("attempt_number", RejectionCode.ATTEMPT_MISMATCH),
                           ("session_data", RejectionCode.SESSION_DATA_MISMATCH)):
            if fields[name] != getattr(expected, name):
                raise LaunchRejected(code, f"The {name} does not match the launch.")
        if not nonces.use(fields["nonce"], fields["expires_at"]):
            raise LaunchRejected(RejectionCode.NONCE_REUSED, "The nonce was used before.")
        return StartAssessmentClaims(client_id=client_id, deployment_id=registration.deployment_id, **fields)
