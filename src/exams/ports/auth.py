"""Identity ports: verifying LMS JWTs and signing exam access tokens."""

from __future__ import annotations

from typing import Any, Protocol


class InvalidToken(Exception):
    """The token cannot be trusted. ``detail`` is safe to show to the client."""

    def __init__(self, detail: str = "Error decoding token."):
        super().__init__(detail)
        self.detail = detail


class TokenExpired(InvalidToken):
    def __init__(self):
        super().__init__("Token has expired.")


class JwtVerifier(Protocol):
    def verify(self, token: str) -> dict[str, Any]:
        """Verify an LMS JWT (signature, alg, exp, iss, aud) and return its claims.

        Raises InvalidToken (or TokenExpired).
        """


class AccessTokenSigner(Protocol):
    def sign(self, lms_user_id: int | None, expires_in: float, claims: dict[str, Any]) -> str:
        """An exam access token for the LMS (RS512), valid for ``expires_in`` seconds."""

    def public_jwks(self) -> dict[str, Any]:
        """The public keys the LMS verifies access tokens with."""
