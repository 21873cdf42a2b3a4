"""`JwcryptoLtiPlatform`: the `LtiPlatform` port on jwcrypto."""

from __future__ import annotations

import hashlib
import json
import hmac
import re
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from jwcrypto.jwk import JWK

from exams.adapters.lti import jose
from exams.adapters.lti.keysets import UrllibKeysetFetcher
from exams.ports.clock import SYSTEM_CLOCK, Clock
from exams.ports.lti import (
    ACS_ACTIONS,
    LTI_VERSION,
    MESSAGE_END_ASSESSMENT,
    MESSAGE_RESOURCE_LINK,
    MESSAGE_START_ASSESSMENT,
    MESSAGE_START_PROCTORING,
    AccessGrant,
    ClientAssertion,
    EndAssessmentLaunch,
    InstructorLaunch,
    IssuedAccessToken,
    KeysetFetcher,
    LaunchRejected,
    LtiConfigurationError,
    NonceStore,
    PlatformKey,
    ProctoringLaunch,
    RejectionCode,
    StartAssessmentClaims,
    StartAssessmentExpectation,
    ToolRegistration,
)

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LTI_AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
LTI_SPEC_PREFIX = "https://purl.imsglobal.org/spec/lti"

MESSAGE_TYPE = LTI + "message_type"
VERSION = LTI + "version"
DEPLOYMENT_ID = LTI + "deployment_id"
TARGET_LINK_URI = LTI + "target_link_uri"
RESOURCE_LINK = LTI + "resource_link"
ROLES = LTI + "roles"
CONTEXT = LTI + "context"
CUSTOM = LTI + "custom"
LAUNCH_PRESENTATION = LTI + "launch_presentation"
TOOL_PLATFORM = LTI + "tool_platform"
ATTEMPT_NUMBER = LTI_AP + "attempt_number"
START_ASSESSMENT_URL = LTI_AP + "start_assessment_url"
SESSION_DATA = LTI_AP + "session_data"
ACS = LTI_AP + "acs"
PROCTORING_SETTINGS = LTI_AP + "proctoring_settings"
END_ASSESSMENT_RETURN = LTI_AP + "end_assessment_return"
VERIFIED_USER = LTI_AP + "verified_user"
ERRORMSG = LTI_AP + "errormsg"
ERRORLOG = LTI_AP + "errorlog"

# Our access tokens: a distinct JOSE `typ` (RFC 9068) and a `token_use` claim, checked on every use, so
# neither an id_token nor any tool-signed JWT can pass as one, nor the reverse (P17).
ACCESS_TOKEN_TYP = "at+jwt"
ACCESS_TOKEN_USE = "lti_access_token"
ID_TOKEN_TYP = "JWT"

MAX_NONCE_LENGTH = 1024
MAX_ACCESS_TOKEN_TTL = 24 * 3600
_ATTEMPT_NUMBER_TEXT = re.compile(r"[0-9]{1,9}")


def _reject(code: RejectionCode, reason: str) -> LaunchRejected:
    return LaunchRejected(code, reason)


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def _single_use_key(kind: str, client_id: str, value: str) -> str:
    # Fixed-size keys for the NonceStore, namespaced by kind and registration so a tool's assertion jti
    # and its message nonce never collide, and so attacker-sized values are never stored verbatim.
    digest = hashlib.sha256(f"{client_id}\x00{value}".encode()).hexdigest()
    return f"{kind}:{digest}"


def _identity_claims(given_name, family_name, name, email) -> dict[str, Any]:
    claims = {"given_name": given_name, "family_name": family_name, "name": name, "email": email}
    return {k: v for k, v in claims.items() if v is not None}


def _normalise_attempt_number(value: Any) -> int:
    """Accept 1 or "1" (the IMS reference platform and some tools send strings); refuse anything else."""
    if isinstance(value, bool):
        raise _reject(RejectionCode.INVALID_CLAIM, "attempt_number is not an integer.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _ATTEMPT_NUMBER_TEXT.fullmatch(value):
        number = int(value)
    else:
        raise _reject(RejectionCode.INVALID_CLAIM, "attempt_number is not an integer.")
    if number < 1:
        raise _reject(RejectionCode.INVALID_CLAIM, "attempt_number must be 1 or more.")
    return number


class JwcryptoLtiPlatform:
    """The LTI 1.3 proctoring platform: see `exams.ports.lti.LtiPlatform` for each method's contract.

    `issuer` is our platform issuer (edx-exams `LTI_API_BASE`, byte-identical for drop-in).
    `platform_name` fills the tool_platform claim (guid = uuid5(DNS, name), as edx-exams); None omits it.
    `clock` is the clock port (exams.ports.clock). `keyset_fetcher` downloads tool JWKS (default: `UrllibKeysetFetcher`).
    `leeway_seconds` tolerates clock skew on exp/iat/nbf; `max_tool_token_lifetime` caps exp - iat of
    tool-signed JWTs (P10).
    """

    def __init__(
        self,
        issuer: str,
        *,
        platform_name: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        keyset_fetcher: KeysetFetcher | None = None,
        id_token_ttl: int = 3600,
        leeway_seconds: int = 60,
        max_tool_token_lifetime: int = 3600,
    ) -> None:
        if not issuer:
            raise ValueError("issuer is required")
        self.issuer = issuer
        self._platform_name = platform_name
        self._clock = clock
        self._fetcher: KeysetFetcher = keyset_fetcher or UrllibKeysetFetcher()
        self._id_token_ttl = id_token_ttl
        self._leeway = leeway_seconds
        self._max_lifetime = max_tool_token_lifetime

    # -- keys -------------------------------------------------------------------------------------

    def _epoch(self) -> float:
        return self._clock.now().timestamp()

    def generate_platform_key(self) -> PlatformKey:
        key, kid = jose.generate_rsa_key()
        return PlatformKey(private_jwk_json=key.export_private(), kid=kid)

    def tool_key_problem(self, material: str) -> str | None:
        # The parse the launches use (``_tool_key``), so a key accepted here is one they can verify with.
        try:
            pinned, by_kid = jose.static_tool_keys(material)
        except LaunchRejected:
            pinned, by_kid = None, {}
        if pinned is None and not by_kid:
            return ("The tool's public key must be an RSA public key as PEM (-----BEGIN PUBLIC KEY-----), "
                    "a JWK or a JWKS whose keys have a kid.")
        return None

    def public_jwks(self, registrations: Iterable[ToolRegistration]) -> dict[str, Any]:
        keys: dict[str, dict[str, Any]] = {}
        for registration in registrations:
            entry = jose.public_jwk_dict(self._platform_key(registration), registration.platform_kid)
            existing = keys.get(registration.platform_kid)
            if existing is not None and existing != entry:
                raise LtiConfigurationError("Two registrations use the same platform kid for different keys.")
            keys[registration.platform_kid] = entry
            retiring = self._retiring_key(registration)
            if retiring is not None and retiring["kid"] not in keys:
                keys[retiring["kid"]] = retiring
        return {"keys": list(keys.values())}

    def public_jwk(self, registration: ToolRegistration) -> dict[str, Any]:
        return jose.public_jwk_dict(self._platform_key(registration), registration.platform_kid)

    def _retiring_key(self, registration: ToolRegistration) -> dict[str, Any] | None:
        """The previous key of a rotated registration, while its grace period lasts."""
        if not registration.retiring_public_jwk or registration.retiring_until is None:
            return None
        if registration.retiring_until.timestamp() <= self._epoch():
            return None
        try:
            entry = json.loads(registration.retiring_public_jwk)
        except ValueError:
            return None
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not entry.get("kid") or "d" in entry:
            return None
        return {k: entry[k] for k in ("kty", "e", "n", "kid", "alg", "use") if k in entry}

    def _platform_key(self, registration: ToolRegistration) -> JWK:
        if not registration.platform_kid:
            raise LtiConfigurationError("A registration has no platform kid.")
        return jose.load_platform_key(registration.platform_private_key)

    # -- platform-originating messages ---------------------------------------------------------------

    def login_initiation_url(
        self, registration: ToolRegistration, *, login_hint: str, lti_message_hint: str
    ) -> str:
        params = urllib.parse.urlencode(
            {
                "iss": self.issuer,
                "login_hint": login_hint,
                "target_link_uri": registration.launch_url,
                "lti_message_hint": lti_message_hint,
                "client_id": registration.client_id,
                "lti_deployment_id": registration.deployment_id,
            }
        )
        separator = "&" if urllib.parse.urlsplit(registration.oidc_login_url).query else "?"
        return f"{registration.oidc_login_url}{separator}{params}"

    def build_start_proctoring_claims(
        self, registration: ToolRegistration, launch: ProctoringLaunch
    ) -> dict[str, Any]:
        if isinstance(launch.attempt_number, bool) or not isinstance(launch.attempt_number, int):
            raise ValueError("attempt_number must be an int")
        if launch.attempt_number < 1:
            raise ValueError("attempt_number starts at 1")
        if not launch.session_data:
            raise ValueError("session_data is required")
        claims = self._base_claims(
            registration,
            message_type=MESSAGE_START_PROCTORING,
            sub=launch.sub,
            nonce=launch.nonce,
            resource_link_id=launch.resource_link_id,
            resource_link_title=launch.resource_link_title,
            roles=launch.roles,
            context_id=launch.context_id,
            context_label=launch.context_label,
            context_title=launch.context_title,
            custom=launch.custom,
            return_url=launch.return_url,
        )
        claims[ATTEMPT_NUMBER] = launch.attempt_number
        claims[START_ASSESSMENT_URL] = launch.start_assessment_url
        claims[SESSION_DATA] = launch.session_data
        if launch.acs_url is not None:
            unknown = set(launch.acs_actions) - ACS_ACTIONS
            if unknown or not launch.acs_actions:
                raise ValueError(f"ACS actions must be a non-empty subset of {sorted(ACS_ACTIONS)}")
            claims[ACS] = {"assessment_control_url": launch.acs_url, "actions": list(launch.acs_actions)}
        if launch.proctoring_settings_data is not None:
            claims[PROCTORING_SETTINGS] = {"data": launch.proctoring_settings_data}
        claims.update(_identity_claims(launch.given_name, launch.family_name, launch.name, launch.email))
        return claims

    def build_end_assessment_claims(
        self, registration: ToolRegistration, launch: EndAssessmentLaunch
    ) -> dict[str, Any]:
        if isinstance(launch.attempt_number, bool) or not isinstance(launch.attempt_number, int) or launch.attempt_number < 1:
            raise ValueError("attempt_number must be an int from 1")
        claims = self._base_claims(
            registration,
            message_type=MESSAGE_END_ASSESSMENT,
            sub=launch.sub,
            nonce=launch.nonce,
            resource_link_id=launch.resource_link_id,
            resource_link_title=None,
            roles=launch.roles,
            context_id=launch.context_id,
            context_label=launch.context_label,
            context_title=None,
            custom=launch.custom,
            return_url=launch.return_url,
        )
        claims[ATTEMPT_NUMBER] = launch.attempt_number
        if launch.errormsg is not None:
            claims[ERRORMSG] = launch.errormsg
        if launch.errorlog is not None:
            claims[ERRORLOG] = launch.errorlog
        claims.update(_identity_claims(launch.given_name, launch.family_name, launch.name, launch.email))
        return claims

    def build_resource_link_claims(
        self, registration: ToolRegistration, launch: InstructorLaunch
    ) -> dict[str, Any]:
        custom = {**launch.custom, "roster_url": launch.roster_url}
        return self._base_claims(
            registration,
            message_type=MESSAGE_RESOURCE_LINK,
            sub=launch.sub,
            nonce=launch.nonce,
            resource_link_id=launch.resource_link_id,
            resource_link_title=None,
            roles=launch.roles,
            context_id=launch.context_id,
            context_label=launch.context_label,
            context_title=None,
            custom=custom,
            return_url=launch.return_url,
        )

    def _base_claims(
        self,
        registration: ToolRegistration,
        *,
        message_type: str,
        sub: str,
        nonce: str,
        resource_link_id: str,
        resource_link_title: str | None,
        roles: Iterable[str],
        context_id: str | None,
        context_label: str | None,
        context_title: str | None,
        custom: Mapping[str, str],
        return_url: str | None,
    ) -> dict[str, Any]:
        if not isinstance(nonce, str) or not nonce:
            raise _reject(RejectionCode.MISSING_NONCE, "The authentication request has no nonce.")
        if len(nonce) > MAX_NONCE_LENGTH:
            raise _reject(RejectionCode.INVALID_NONCE, "The authentication request nonce is too long.")
        if not sub or not resource_link_id:
            raise ValueError("sub and resource_link_id are required")
        now = int(self._epoch())
        resource_link: dict[str, Any] = {"id": resource_link_id}
        if resource_link_title is not None:
            resource_link["title"] = resource_link_title
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": registration.client_id,
            "azp": registration.client_id,
            "iat": now,
            "exp": now + self._id_token_ttl,
            "nonce": nonce,  # copied byte for byte (P5)
            MESSAGE_TYPE: message_type,
            VERSION: LTI_VERSION,
            DEPLOYMENT_ID: registration.deployment_id,
            TARGET_LINK_URI: registration.launch_url,
            ROLES: list(roles),
            RESOURCE_LINK: resource_link,
            LAUNCH_PRESENTATION: {"return_url": return_url} if return_url is not None else {},
        }
        if context_id is not None:
            context: dict[str, Any] = {"id": context_id}
            if context_label is not None:
                context["label"] = context_label
            if context_title is not None:
                context["title"] = context_title
            claims[CONTEXT] = context
        if self._platform_name is not None:
            claims[TOOL_PLATFORM] = {
                "guid": str(uuid.uuid5(uuid.NAMESPACE_DNS, self._platform_name)),
                "name": self._platform_name,
            }
        if custom:
            claims[CUSTOM] = dict(custom)
        return claims

    def sign_id_token(self, registration: ToolRegistration, claims: Mapping[str, Any]) -> str:
        return jose.sign_compact(self._platform_key(registration), registration.platform_kid, claims, ID_TOKEN_TYP)

    # -- tool-originating messages -------------------------------------------------------------------

    def unverified_client_id(self, token: str) -> str:
        issuer = jose.parse_compact_jws(token).claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise _reject(RejectionCode.INVALID_ISSUER, "The token has no issuer.")
        return issuer

    def verify_start_assessment(
        self,
        registration: ToolRegistration,
        token: str,
        expected: StartAssessmentExpectation,
        nonces: NonceStore,
    ) -> StartAssessmentClaims:
        if not expected.session_data:
            # A missing server-side value must fail closed, never mean "skip the check" (xblock B3).
            raise _reject(RejectionCode.SESSION_DATA_MISMATCH, "No proctoring session is waiting for this message.")
        claims = self._verified_tool_claims(registration, token)
        self._check_issuer(claims, registration)
        self._check_audience(claims, registration, (self.issuer,))
        exp = self._check_lifetime(claims)

        nonce = claims.get("nonce")
        if nonce is None or nonce == "":
            raise _reject(RejectionCode.MISSING_NONCE, "The message has no nonce.")
        if not isinstance(nonce, str) or len(nonce) > MAX_NONCE_LENGTH:
            raise _reject(RejectionCode.INVALID_NONCE, "The message nonce is invalid.")

        if claims.get(MESSAGE_TYPE) != MESSAGE_START_ASSESSMENT:
            raise _reject(RejectionCode.INVALID_MESSAGE_TYPE, "The message is not an LtiStartAssessment.")
        if claims.get(VERSION) != LTI_VERSION:
            raise _reject(RejectionCode.INVALID_VERSION, "The message is not LTI 1.3.0.")
        if claims.get(DEPLOYMENT_ID) != registration.deployment_id:
            raise _reject(RejectionCode.INVALID_DEPLOYMENT, "The message names another deployment.")

        attempt_number = _normalise_attempt_number(claims.get(ATTEMPT_NUMBER))
        if attempt_number != expected.attempt_number:
            raise _reject(RejectionCode.ATTEMPT_MISMATCH, "The message is for another attempt.")
        resource_link = claims.get(RESOURCE_LINK)
        if not isinstance(resource_link, dict) or not isinstance(resource_link.get("id"), str):
            raise _reject(RejectionCode.INVALID_CLAIM, "The message has no resource link id.")
        if resource_link["id"] != expected.resource_link_id:
            raise _reject(RejectionCode.RESOURCE_LINK_MISMATCH, "The message is for another exam.")
        session_data = claims.get(SESSION_DATA)
        if not isinstance(session_data, str) or not hmac.compare_digest(
            session_data.encode("utf-8"), expected.session_data.encode("utf-8")
        ):
            raise _reject(RejectionCode.SESSION_DATA_MISMATCH, "The message does not belong to this proctoring session.")

        end_assessment_return = claims.get(END_ASSESSMENT_RETURN, False)
        if end_assessment_return is None:
            end_assessment_return = False
        if not isinstance(end_assessment_return, bool):
            raise _reject(RejectionCode.INVALID_CLAIM, "end_assessment_return is not a boolean.")
        verified_user = claims.get(VERIFIED_USER)
        if verified_user is not None and not isinstance(verified_user, dict):
            raise _reject(RejectionCode.INVALID_CLAIM, "verified_user is not an object.")

        # Last, so that only a message that is otherwise valid can spend a nonce.
        nonce_key = _single_use_key("lti-start-assessment", registration.client_id, nonce)
        if not nonces.use(nonce_key, _utc(exp + self._leeway)):
            raise _reject(RejectionCode.NONCE_REUSED, "This message was already used.")
        return StartAssessmentClaims(
            client_id=registration.client_id,
            deployment_id=registration.deployment_id,
            resource_link_id=resource_link["id"],
            attempt_number=attempt_number,
            session_data=session_data,
            nonce=nonce,
            expires_at=_utc(exp),
            end_assessment_return=end_assessment_return,
            verified_user=verified_user,
        )

    def verify_client_assertion(
        self,
        registration: ToolRegistration,
        assertion: str,
        token_url: str,
        nonces: NonceStore,
    ) -> ClientAssertion:
        claims = self._verified_tool_claims(registration, assertion)
        # A tool-signed LTI message (e.g. an LtiStartAssessment that went through a learner's browser)
        # must never buy an ACS token (xblock B6, P13).
        if any(name.startswith(LTI_SPEC_PREFIX) for name in claims):
            raise _reject(RejectionCode.LTI_MESSAGE_AS_ASSERTION, "An LTI message is not a client assertion.")
        self._check_issuer(claims, registration)
        if claims.get("sub") != registration.client_id:
            raise _reject(RejectionCode.INVALID_SUBJECT, "The assertion subject is not the client_id.")
        self._check_audience(claims, registration, (token_url, self.issuer))
        exp = self._check_lifetime(claims)
        jti = claims.get("jti")
        if jti is None or jti == "":
            raise _reject(RejectionCode.MISSING_JTI, "The assertion has no jti.")
        if not isinstance(jti, str) or len(jti) > MAX_NONCE_LENGTH:
            raise _reject(RejectionCode.INVALID_CLAIM, "The assertion jti is invalid.")
        if not nonces.use(_single_use_key("lti-client-assertion", registration.client_id, jti), _utc(exp + self._leeway)):
            raise _reject(RejectionCode.JTI_REUSED, "This assertion was already used.")
        return ClientAssertion(client_id=registration.client_id, jti=jti, expires_at=_utc(exp))

    def _verified_tool_claims(self, registration: ToolRegistration, token: str) -> Mapping[str, Any]:
        unverified = jose.parse_compact_jws(token)
        jose.verify_signature(unverified, self._tool_key(registration, unverified.kid))
        return unverified.claims

    def _tool_key(self, registration: ToolRegistration, kid: str | None) -> JWK:
        """The tool key for `kid`, looked up ONLY among this registration's keys (P8)."""
        if registration.tool_jwks_url:
            if kid is None:
                raise _reject(RejectionCode.MISSING_KID, "The token header has no kid.")
            keys = jose.tool_keys_from_jwks(self._fetcher.fetch(registration.tool_jwks_url))
            if kid not in keys:
                # The tool may have rotated its keys; the fetcher rate-limits forced refreshes.
                keys = jose.tool_keys_from_jwks(self._fetcher.fetch(registration.tool_jwks_url, refresh=True))
            if kid not in keys:
                raise _reject(RejectionCode.UNKNOWN_KID, "The token kid is not one of this tool's keys.")
            return keys[kid]
        if registration.tool_public_key:
            pinned, by_kid = jose.static_tool_keys(registration.tool_public_key)
            if pinned is not None:
                # One registered key: it is the only key this tool can use, whatever kid it names.
                return pinned
            if kid is None:
                raise _reject(RejectionCode.MISSING_KID, "The token header has no kid.")
            if kid not in by_kid:
                raise _reject(RejectionCode.UNKNOWN_KID, "The token kid is not one of this tool's keys.")
            return by_kid[kid]
        raise _reject(RejectionCode.KEYSET_UNAVAILABLE, "No public key is registered for this tool.")

    def _check_issuer(self, claims: Mapping[str, Any], registration: ToolRegistration) -> None:
        if claims.get("iss") != registration.client_id:
            raise _reject(RejectionCode.INVALID_ISSUER, "The token issuer is not this tool's client_id.")
        azp = claims.get("azp")
        if azp is not None and azp != registration.client_id:
            raise _reject(RejectionCode.INVALID_AZP, "The token azp is not this tool's client_id.")

    def _check_audience(
        self, claims: Mapping[str, Any], registration: ToolRegistration, accepted: tuple[str, ...]
    ) -> None:
        aud = claims.get("aud")
        if isinstance(aud, str):
            audiences = [aud]
        elif isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
            audiences = aud
        else:
            raise _reject(RejectionCode.INVALID_AUDIENCE, "The token has no valid audience.")
        if not any(a in accepted for a in audiences):
            raise _reject(RejectionCode.INVALID_AUDIENCE, "The token is not addressed to this platform.")

    def _check_lifetime(self, claims: Mapping[str, Any], max_lifetime: float | None = None) -> float:
        """exp and iat required; exp not passed, iat/nbf not in the future, exp - iat bounded (P10).

        Returns exp. A single-use value must be remembered until exp + leeway, when the token dies.
        """
        max_lifetime = self._max_lifetime if max_lifetime is None else max_lifetime
        now = self._epoch()
        exp = jose.numeric_date(claims, "exp")
        iat = jose.numeric_date(claims, "iat")
        nbf = jose.numeric_date(claims, "nbf")
        if exp is None:
            raise _reject(RejectionCode.MISSING_EXPIRY, "The token has no exp.")
        if iat is None:
            raise _reject(RejectionCode.MISSING_ISSUED_AT, "The token has no iat.")
        if now > exp + self._leeway:
            raise _reject(RejectionCode.EXPIRED, "The token has expired.")
        if iat > now + self._leeway or (nbf is not None and nbf > now + self._leeway):
            raise _reject(RejectionCode.NOT_YET_VALID, "The token is not valid yet.")
        if exp < iat:
            raise _reject(RejectionCode.INVALID_CLAIM, "The token expires before it was issued.")
        if exp - iat > max_lifetime:
            raise _reject(RejectionCode.LIFETIME_TOO_LONG, "The token lifetime is too long.")
        return exp

    # -- access tokens for the Assessment Control Service --------------------------------------------

    def issue_access_token(
        self, registration: ToolRegistration, scopes: Iterable[str], ttl_seconds: int = 3600
    ) -> IssuedAccessToken:
        if not 0 < ttl_seconds <= MAX_ACCESS_TOKEN_TTL:
            raise ValueError("ttl_seconds out of range")
        granted = sorted(set(scopes))
        if not granted or any(not s or " " in s for s in granted):
            raise ValueError("scopes must be non-empty scope strings")
        scope = " ".join(granted)
        now = int(self._epoch())
        claims = {
            "iss": self.issuer,
            "aud": self.issuer,
            "sub": registration.client_id,
            "client_id": registration.client_id,
            "registration_id": registration.registration_id,
            "token_use": ACCESS_TOKEN_USE,
            "scope": scope,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        token = jose.sign_compact(self._platform_key(registration), registration.platform_kid, claims, ACCESS_TOKEN_TYP)
        return IssuedAccessToken(access_token=token, token_type="bearer", expires_in=ttl_seconds, scope=scope)

    def verify_access_token(self, registration: ToolRegistration, token: str) -> AccessGrant:
        unverified = jose.parse_compact_jws(token)
        if unverified.header.get("typ") != ACCESS_TOKEN_TYP or unverified.alg != jose.PLATFORM_ALGORITHM:
            raise _reject(RejectionCode.WRONG_TOKEN_KIND, "The bearer token is not an access token.")
        if unverified.kid != registration.platform_kid:
            raise _reject(RejectionCode.UNKNOWN_KID, "The bearer token was not issued for this tool.")
        jose.verify_signature(unverified, self._platform_key(registration))
        claims = unverified.claims
        if claims.get("token_use") != ACCESS_TOKEN_USE or claims.get("iss") != self.issuer or claims.get("aud") != self.issuer:
            raise _reject(RejectionCode.WRONG_TOKEN_KIND, "The bearer token is not an access token.")
        if (
            claims.get("registration_id") != registration.registration_id
            or claims.get("client_id") != registration.client_id
            or claims.get("sub") != registration.client_id
        ):
            raise _reject(RejectionCode.WRONG_REGISTRATION, "The bearer token was issued for another tool.")
        exp = self._check_lifetime(claims, max_lifetime=MAX_ACCESS_TOKEN_TTL)
        scope = claims.get("scope")
        if not isinstance(scope, str) or not isinstance(claims.get("jti"), str):
            raise _reject(RejectionCode.INVALID_CLAIM, "The bearer token is malformed.")
        return AccessGrant(
            registration_id=registration.registration_id,
            client_id=registration.client_id,
            scopes=frozenset(scope.split()),
            expires_at=_utc(exp),
        )
