"""`LtiProctoringVendor`: the `ProctoringVendor` port spoken as LTI Advantage services (production).

Token requests are the client-credentials grant with a JWT client assertion (IMS Security Framework
§4.1, RFC 7523); the only scope granted is the Assessment Control Service's. Bearer tokens are the
access tokens `LtiPlatform.issue_access_token` signs, bound to one registration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from exams.adapters.lti import jose
from exams.ports.lti import ACS_SCOPE, LaunchRejected, LtiPlatform, NonceStore, RejectionCode, ToolRegistration
from exams.ports.proctoring import (BearerProblem, BearerRefused, ServiceToken, ServiceTokenRefused, TokenError)

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REQUIRED_FIELDS = ("grant_type", "client_assertion_type", "client_assertion", "scope")
ACCESS_TOKEN_TTL = 3600


def _single(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or ()
    if not values or values[0] == "":
        raise ServiceTokenRefused(TokenError.INVALID_REQUEST, f"The request has no {name}.")
    if len(values) > 1:
        # RFC 6749 §3.2: request parameters must not be included more than once.
        raise ServiceTokenRefused(TokenError.INVALID_REQUEST, f"The request repeats {name}.")
    return values[0]


class LtiProctoringVendor:
    """See `exams.ports.proctoring.ProctoringVendor`; ``platform`` signs and verifies every token."""

    def __init__(self, platform: LtiPlatform, *, access_token_ttl: int = ACCESS_TOKEN_TTL) -> None:
        self._platform = platform
        self._ttl = access_token_ttl

    def grant_service_token(self, registration: ToolRegistration, form: Mapping[str, Sequence[str]],
                            token_url: str, nonces: NonceStore) -> ServiceToken:
        grant_type = _single(form, "grant_type")
        if grant_type != GRANT_TYPE:
            raise ServiceTokenRefused(TokenError.UNSUPPORTED_GRANT_TYPE, "Only client_credentials is supported.")
        fields = {name: _single(form, name) for name in REQUIRED_FIELDS[1:]}
        if fields["client_assertion_type"] != ASSERTION_TYPE:
            raise ServiceTokenRefused(TokenError.INVALID_REQUEST, f"client_assertion_type must be {ASSERTION_TYPE}.")
        # Checked before the assertion, so that a refused request consumes no assertion id.
        if fields["scope"].split(" ") != [ACS_SCOPE]:
            raise ServiceTokenRefused(TokenError.INVALID_SCOPE, f"The only scope granted is {ACS_SCOPE}.")
        try:
            self._platform.verify_client_assertion(registration, fields["client_assertion"], token_url, nonces)
        except LaunchRejected as refused:
            error = TokenError.INVALID_GRANT if refused.code is RejectionCode.EXPIRED else TokenError.INVALID_CLIENT
            raise ServiceTokenRefused(error, refused.reason) from None
        issued = self._platform.issue_access_token(registration, [ACS_SCOPE], ttl_seconds=self._ttl)
        return ServiceToken(access_token=issued.access_token, token_type=issued.token_type,
                            expires_in=issued.expires_in, scope=issued.scope)

    def authorize_control(self, registration: ToolRegistration, bearer: str) -> None:
        try:
            grant = self._platform.verify_access_token(registration, bearer)
        except LaunchRejected as refused:
            raise BearerRefused(BearerProblem.INVALID_TOKEN, refused.reason) from None
        if not grant.allows(ACS_SCOPE):
            raise BearerRefused(BearerProblem.INSUFFICIENT_SCOPE, "The token was not granted the control scope.",
                                scope=ACS_SCOPE)

    def claimed_registration(self, bearer: str) -> str | None:
        try:
            claimed = jose.parse_compact_jws(bearer).claims.get("registration_id")
        except LaunchRejected:
            return None
        return claimed if isinstance(claimed, str) and claimed else None
