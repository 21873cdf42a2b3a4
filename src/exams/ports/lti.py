"""LTI 1.3 Proctoring Services, platform side: the port the core uses.

We are the LTI *platform*: we sign the id_tokens the proctoring tool receives (LtiStartProctoring,
LtiEndAssessment, LtiResourceLinkRequest for the instructor dashboard), verify the messages and client
assertions the tool signs (LtiStartAssessment, the LTI Advantage token request), and issue and check the
access tokens that protect the Assessment Control Service (ACS).

Only plain values cross this port: strings, ints, frozen dataclasses. Every rejection of tool-supplied
input is a `LaunchRejected` with a stable `code`; its message is safe to show to a learner or a tool.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

LTI_VERSION = "1.3.0"
DEFAULT_DEPLOYMENT_ID = "1"

MESSAGE_START_PROCTORING = "LtiStartProctoring"
MESSAGE_START_ASSESSMENT = "LtiStartAssessment"
MESSAGE_END_ASSESSMENT = "LtiEndAssessment"
MESSAGE_RESOURCE_LINK = "LtiResourceLinkRequest"

ACS_SCOPE = "https://purl.imsglobal.org/spec/lti-ap/scope/control.all"
ACS_ACTIONS = frozenset({"pause", "resume", "terminate", "update", "flag"})

ROLE_INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"


class RejectionCode(enum.StrEnum):
    """Stable, machine-readable reasons for refusing a tool message or token."""

    MALFORMED_TOKEN = "malformed_token"
    TOKEN_TOO_LARGE = "token_too_large"
    ENCRYPTED_TOKEN = "encrypted_token"  # a JWE where a JWS was expected (P7)
    DISALLOWED_ALGORITHM = "disallowed_algorithm"  # alg none, HS*, ES*, ... (P6)
    MISSING_KID = "missing_kid"
    UNKNOWN_KID = "unknown_kid"  # kid not among the registration's keys (P8)
    BAD_SIGNATURE = "bad_signature"
    KEYSET_UNAVAILABLE = "keyset_unavailable"  # tool JWKS unreachable, too large, not a JWKS (P20)
    INVALID_ISSUER = "invalid_issuer"
    INVALID_SUBJECT = "invalid_subject"
    INVALID_AUDIENCE = "invalid_audience"
    INVALID_AZP = "invalid_azp"
    MISSING_EXPIRY = "missing_expiry"
    MISSING_ISSUED_AT = "missing_issued_at"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"  # iat or nbf in the future beyond the leeway
    LIFETIME_TOO_LONG = "lifetime_too_long"
    MISSING_NONCE = "missing_nonce"
    INVALID_NONCE = "invalid_nonce"  # not a string, or unreasonably long
    NONCE_REUSED = "nonce_reused"
    MISSING_JTI = "missing_jti"
    JTI_REUSED = "jti_reused"
    INVALID_MESSAGE_TYPE = "invalid_message_type"
    INVALID_VERSION = "invalid_version"
    INVALID_DEPLOYMENT = "invalid_deployment"
    ATTEMPT_MISMATCH = "attempt_mismatch"
    RESOURCE_LINK_MISMATCH = "resource_link_mismatch"
    SESSION_DATA_MISMATCH = "session_data_mismatch"
    INVALID_CLAIM = "invalid_claim"  # a claim of the wrong type or shape
    LTI_MESSAGE_AS_ASSERTION = "lti_message_as_assertion"  # an LTI message used as client assertion (P13)
    WRONG_TOKEN_KIND = "wrong_token_kind"  # e.g. an id_token presented as an access token (P17)
    WRONG_REGISTRATION = "wrong_registration"  # a token of registration A presented for B (P14)


class LaunchRejected(Exception):
    """A tool message, assertion or token was refused.

    `code` is a `RejectionCode` (a `str`), stable across releases. `reason` is a short English sentence
    that names the failed rule without echoing attacker-controlled input, so it is safe to show.
    """

    def __init__(self, code: RejectionCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = RejectionCode(code)
        self.reason = reason


class LtiConfigurationError(Exception):
    """Our own registration data is unusable (e.g. a corrupt platform private key). A server fault."""


@dataclass(frozen=True)
class ToolRegistration:
    """One proctoring tool registered at this platform (edx-exams: an `LtiConfiguration` row).

    `registration_id` is our stable id for the row (edx-exams `config_id` UUID); access tokens are bound to it.
    The tool's keys come from `tool_jwks_url` when set, otherwise from `tool_public_key` (a PEM public key,
    a single JWK or a JWKS, as JSON). `platform_private_key` is our RSA signing key for this registration,
    as a private JWK (JSON) or PEM; `platform_kid` is the `kid` we publish and put in every header
    (edx-exams used a uuid4 string; keys we generate use the RFC 7638 thumbprint).
    An empty `redirect_uris` means only `launch_url` is accepted.
    """

    registration_id: str
    client_id: str
    oidc_login_url: str
    launch_url: str
    platform_private_key: str = field(repr=False)
    platform_kid: str
    deployment_id: str = DEFAULT_DEPLOYMENT_ID
    redirect_uris: tuple[str, ...] = ()
    tool_jwks_url: str | None = None
    tool_public_key: str | None = None
    # After a key rotation: the previous key's public JWK (JSON, with its kid), still published in the JWKS
    # until `retiring_until` so that tools which cached it keep verifying what they already hold.
    retiring_public_jwk: str | None = None
    retiring_until: datetime | None = None

    def allowed_redirect_uris(self) -> tuple[str, ...]:
        """The redirect URIs an OIDC authentication request may name for this tool."""
        return self.redirect_uris or (self.launch_url,)

    def allows_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact, case-sensitive string match against the registered list (OIDC Core 3.1.2.1, P2)."""
        return redirect_uri in self.allowed_redirect_uris()


@dataclass(frozen=True)
class PlatformKey:
    """A freshly generated platform signing key, ready to store on a `ToolRegistration`."""

    private_jwk_json: str = field(repr=False)
    kid: str


@dataclass(frozen=True)
class ProctoringLaunch:
    """Everything, besides the registration, that an LtiStartProctoring id_token says (§1.3).

    `sub` is the learner's anonymous_user_id (also the `login_hint` and the ACS `user.sub`); `nonce` is the
    tool's value from the OIDC authentication request, copied byte for byte. `session_data` is the
    platform's anti-CSRF secret the tool must return in LtiStartAssessment. `acs_url=None` omits the ACS claim.
    Identity claims (`given_name`, ...) are PII: leave them None unless the tool needs them.
    """

    sub: str
    nonce: str
    resource_link_id: str
    attempt_number: int
    start_assessment_url: str
    session_data: str
    context_id: str | None = None
    context_label: str | None = None
    context_title: str | None = None
    resource_link_title: str | None = None
    acs_url: str | None = None
    acs_actions: tuple[str, ...] = ("terminate",)
    custom: Mapping[str, str] = field(default_factory=dict)
    roles: tuple[str, ...] = ()
    return_url: str | None = None
    proctoring_settings_data: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class EndAssessmentLaunch:
    """What an LtiEndAssessment id_token says (§1.5). Sent only if the tool asked with end_assessment_return.

    `return_url` is where the tool sends the learner afterwards (ours: the exam page). `errormsg` (shown
    to the learner) and `errorlog` (logged) report an error the platform did not handle itself.
    """

    sub: str
    nonce: str
    resource_link_id: str
    attempt_number: int
    context_id: str | None = None
    context_label: str | None = None
    return_url: str | None = None
    errormsg: str | None = None
    errorlog: str | None = None
    custom: Mapping[str, str] = field(default_factory=dict)
    roles: tuple[str, ...] = ()
    given_name: str | None = None
    family_name: str | None = None
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class InstructorLaunch:
    """What the instructor dashboard's LtiResourceLinkRequest says (edx-exams `launch_instructor_tool`).

    `roster_url` is sent as the custom parameter `roster_url`; `roles` defaults to the institution
    Instructor role, as xblock-lti-consumer 9.14.3 sends it.
    """

    sub: str
    nonce: str
    resource_link_id: str
    roster_url: str
    context_id: str | None = None
    context_label: str | None = None
    custom: Mapping[str, str] = field(default_factory=dict)
    roles: tuple[str, ...] = (ROLE_INSTRUCTOR,)
    return_url: str | None = None


@dataclass(frozen=True)
class StartAssessmentExpectation:
    """The launch an LtiStartAssessment must answer: the values we issued in LtiStartProctoring.

    `session_data` is the server-side value issued for this learner, attempt and registration; it must
    not be empty (an empty expectation is a bug in the caller, never "skip the check", P11).
    """

    resource_link_id: str
    attempt_number: int
    session_data: str


@dataclass(frozen=True)
class StartAssessmentClaims:
    """A verified LtiStartAssessment (§1.4). Its nonce has already been consumed."""

    client_id: str
    deployment_id: str
    resource_link_id: str
    attempt_number: int
    session_data: str
    nonce: str
    expires_at: datetime
    end_assessment_return: bool = False
    verified_user: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ClientAssertion:
    """A verified LTI Advantage client assertion (§2.2). Its jti has already been consumed."""

    client_id: str
    jti: str
    expires_at: datetime


@dataclass(frozen=True)
class IssuedAccessToken:
    """An access token we issued, shaped for the RFC 6749 §4.4.3 token response."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    scope: str  # granted scopes, space separated

    def as_token_response(self) -> dict[str, Any]:
        """The JSON body of a successful token endpoint response."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class AccessGrant:
    """What a verified access token allows: which registration, which scopes, until when."""

    registration_id: str
    client_id: str
    scopes: frozenset[str]
    expires_at: datetime

    def allows(self, scope: str) -> bool:
        """True if the token was granted `scope`."""
        return scope in self.scopes


class NonceStore(Protocol):
    """Remembers single-use values (LtiStartAssessment nonces, client assertion jtis) until they expire."""

    def use(self, nonce: str, expires_at: datetime) -> bool:
        """Record `nonce` as used until `expires_at` (UTC, aware).

        Return True the first time a value is seen and False if it was already used and has not expired.
        Must be atomic: of two concurrent calls with the same value, exactly one returns True.
        The value is an opaque ASCII string of at most 100 characters (callers namespace and hash it).
        """
        ...


class KeysetFetcher(Protocol):
    """Fetches a tool's JWKS document from its registered URL."""

    def fetch(self, url: str, *, refresh: bool = False) -> Mapping[str, Any]:
        """Return the JWKS at `url` as a parsed JSON object (may come from a cache).

        `refresh=True` asks for a fresh copy (a tool rotated its keys); implementations may rate-limit it and
        return the cached copy instead. Raises `LaunchRejected(KEYSET_UNAVAILABLE)` if the keyset cannot be
        obtained (timeout, too large, not JSON, not a JWKS).
        """
        ...


class LtiPlatform(Protocol):
    """The platform half of LTI 1.3 Proctoring Services: keys, id_tokens, tool messages, ACS tokens.

    The platform issuer (`iss` of our id_tokens, `aud` of tool messages; edx-exams `LTI_API_BASE`) is
    fixed when the implementation is built, as is the clock.
    """

    issuer: str

    def generate_platform_key(self) -> PlatformKey:
        """Generate a new RSA-2048 signing key for a registration; its kid is the RFC 7638 thumbprint."""
        ...

    def tool_key_problem(self, material: str) -> str | None:
        """Why `material` cannot be a registration's `tool_public_key` (PEM, JWK or JWKS), or None if it can."""
        ...

    def public_jwks(self, registrations: Iterable[ToolRegistration]) -> dict[str, Any]:
        """The JWKS document (public keys only, `kid`, `alg`=RS256, `use`=sig) for the given registrations,
        with each one's retiring key (after a rotation) until its `retiring_until`."""
        ...

    def public_jwk(self, registration: ToolRegistration) -> dict[str, Any]:
        """The public JWK (with kid, alg, use) of the registration's current signing key."""
        ...

    def login_initiation_url(
        self,
        registration: ToolRegistration,
        *,
        login_hint: str,
        lti_message_hint: str,
    ) -> str:
        """The tool's OIDC third-party login initiation URL (step 1, §1.1), for a 302 redirect.

        Carries iss, login_hint, target_link_uri (the registration's launch URL, the same value every
        id_token carries), lti_message_hint, client_id and lti_deployment_id.
        """
        ...

    def build_start_proctoring_claims(
        self, registration: ToolRegistration, launch: ProctoringLaunch
    ) -> dict[str, Any]:
        """The LtiStartProctoring id_token claims (§1.3), with iat/exp from our clock.

        Raises `LaunchRejected(INVALID_NONCE)` if the tool's nonce is empty or oversized.
        """
        ...

    def build_end_assessment_claims(
        self, registration: ToolRegistration, launch: EndAssessmentLaunch
    ) -> dict[str, Any]:
        """The LtiEndAssessment id_token claims (§1.5). No session_data, no ACS claim."""
        ...

    def build_resource_link_claims(
        self, registration: ToolRegistration, launch: InstructorLaunch
    ) -> dict[str, Any]:
        """The LtiResourceLinkRequest claims for the instructor dashboard (custom `roster_url`)."""
        ...

    def sign_id_token(self, registration: ToolRegistration, claims: Mapping[str, Any]) -> str:
        """Sign `claims` as a compact JWS, RS256, header `kid` = the registration's platform kid, `typ`=JWT."""
        ...

    def unverified_client_id(self, token: str) -> str:
        """The `iss` of a tool-signed JWT, read WITHOUT verification, only to pick the registration.

        Raises `LaunchRejected` if the token is not a well-formed compact JWS with a string `iss`.
        Never trust anything else from an unverified token.
        """
        ...

    def verify_start_assessment(
        self,
        registration: ToolRegistration,
        token: str,
        expected: StartAssessmentExpectation,
        nonces: NonceStore,
    ) -> StartAssessmentClaims:
        """Verify an LtiStartAssessment the tool posted (form field `JWT`, §1.4) and consume its nonce.

        Checks: compact JWS only; alg RS256/RS384/RS512; kid resolved only among this registration's tool
        keys; signature; iss == client_id; aud contains our issuer; azp (if present) == client_id;
        exp/iat present, within leeway and a bounded lifetime; message_type; version; deployment_id;
        attempt_number, resource_link.id and session_data equal to `expected` (constant-time for
        session_data); and finally the nonce is single use through `nonces`.
        The caller must then consume its server-side session_data. Raises `LaunchRejected`.
        """
        ...

    def verify_client_assertion(
        self,
        registration: ToolRegistration,
        assertion: str,
        token_url: str,
        nonces: NonceStore,
    ) -> ClientAssertion:
        """Verify an LTI Advantage client assertion at the token endpoint (§2.2) and consume its jti.

        iss == sub == client_id; aud (string or list) contains `token_url` or our issuer; exp/iat bounded;
        jti required and single use; a token carrying LTI message claims is refused (P13). Raises
        `LaunchRejected`; the token endpoint answers `invalid_client` (or `invalid_grant` for expiry).
        """
        ...

    def issue_access_token(
        self, registration: ToolRegistration, scopes: Iterable[str], ttl_seconds: int = 3600
    ) -> IssuedAccessToken:
        """Issue a bearer token for the ACS, bound to the registration, the granted scopes and an expiry.

        The caller decides which scopes to grant (for proctoring: `ACS_SCOPE` only).
        """
        ...

    def verify_access_token(self, registration: ToolRegistration, token: str) -> AccessGrant:
        """Verify a bearer token presented to the ACS of `registration`.

        Refuses tokens of any other kind (id_tokens, tool messages, client assertions), of another
        registration, or expired ones. Raises `LaunchRejected`; the ACS answers 401 invalid_token.
        """
        ...
