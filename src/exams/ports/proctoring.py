"""Proctoring vendors as the core sees them when they call us: the vendor-facing service protocol.

A vendor obtains a service token from our token endpoint, then reports on attempts through the
Assessment Control Service (ACS) with that token as its credential. How the token is requested and
what proves the vendor's identity is the vendor protocol's business (production: LTI Advantage
client credentials with a signed JWT assertion, `exams.adapters.lti.vendor.LtiProctoringVendor`);
what a report does to an attempt is the core's (`exams.services.acs`, `exams.domain.reviews`).

A vendor adapter is stateless: per-request state (the registration, the single-use value store)
is passed in by the caller. Swap it in `exams.container.Container.proctoring_vendor`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from exams.ports.lti import NonceStore, ToolRegistration


class TokenError(enum.StrEnum):
    """The OAuth 2.0 error codes of a refused token request (RFC 6749 §5.2)."""

    INVALID_REQUEST = "invalid_request"
    INVALID_CLIENT = "invalid_client"
    INVALID_GRANT = "invalid_grant"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_SCOPE = "invalid_scope"


class ServiceTokenRefused(Exception):
    """A token request was refused. ``description`` names the failed rule and is safe to show."""

    def __init__(self, error: TokenError, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = TokenError(error)
        self.description = description


class BearerProblem(enum.StrEnum):
    """Why a bearer credential was refused at the ACS (RFC 6750 §3.1, plus our registration rule)."""

    INVALID_TOKEN = "invalid_token"  # unreadable, forged, expired, or not a service token: 401
    INSUFFICIENT_SCOPE = "insufficient_scope"  # genuine, but not granted the control scope: 403
    OTHER_REGISTRATION = "other_registration"  # genuine, but issued to another registration: 403


class BearerRefused(Exception):
    """A bearer token was refused at the ACS. ``description`` is safe to show to the vendor."""

    def __init__(self, problem: BearerProblem, description: str, *, scope: str | None = None) -> None:
        super().__init__(f"{problem}: {description}")
        self.problem = BearerProblem(problem)
        self.description = description
        self.scope = scope  # the scope the ACS needs, for an insufficient_scope answer


@dataclass(frozen=True)
class ServiceToken:
    """A service token we issued, shaped for the RFC 6749 §4.4.3 response."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int
    scope: str

    def as_token_response(self) -> dict[str, Any]:
        """The JSON body of a successful token response."""
        return {"access_token": self.access_token, "token_type": self.token_type,
                "expires_in": self.expires_in, "scope": self.scope}


class ProctoringVendor(Protocol):
    """The protocol a proctoring vendor speaks when it calls us (token endpoint and ACS credentials)."""

    def grant_service_token(self, registration: ToolRegistration, form: Mapping[str, Sequence[str]],
                            token_url: str, nonces: NonceStore) -> ServiceToken:
        """Answer a token request posted to ``token_url`` (form fields, each with all its values).

        Authenticates the vendor as ``registration`` and grants only the control scope. Single-use
        values (assertion ids) are consumed through ``nonces`` after every other check passed.
        Raises `ServiceTokenRefused` with the RFC 6749 error code.
        """

    def authorize_control(self, registration: ToolRegistration, bearer: str) -> None:
        """Accept ``bearer`` as ``registration``'s credential for ACS reports, or raise `BearerRefused`.

        A token issued to another registration is refused as INVALID_TOKEN here (this registration
        cannot verify it); the caller may tell it apart with `claimed_registration`.
        """

    def claimed_registration(self, bearer: str) -> str | None:
        """The registration id a bearer token claims, read WITHOUT verification (None if unreadable).

        Only to find which registration's keys to try next; never trust it otherwise.
        """
