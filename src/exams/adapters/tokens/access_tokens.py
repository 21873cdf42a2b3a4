"""Exam access tokens: short-lived RS512 JWTs the LMS checks before rendering exam content."""

from __future__ import annotations

import json
import os
from typing import Any

from jwcrypto import jwk, jws

from exams.ports.clock import SYSTEM_CLOCK, Clock

TOKEN_VERSION = "1.2.0"


def generate_private_jwk() -> dict:
    key = jwk.JWK.generate(kty="RSA", size=2048)
    key["kid"] = key.thumbprint()
    return json.loads(key.export_private())


def load_or_create_key(path: str) -> dict:
    """Development convenience: a key generated once and kept in a file (mode 0600)."""
    if os.path.exists(path):
        with open(path) as fh:
            return json.load(fh)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    private = generate_private_jwk()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(private, fh)
    return private


class JwcryptoAccessTokenSigner:
    def __init__(self, private_jwk: dict, issuer: str, clock: Clock = SYSTEM_CLOCK):
        self._key = jwk.JWK(**private_jwk)
        if not self._key.has_private or self._key["kty"] != "RSA":
            raise ValueError("the exam access token key must be a private RSA JWK")
        self._kid = private_jwk.get("kid") or self._key.thumbprint()
        self._issuer = issuer
        self._clock = clock

    def sign(self, lms_user_id: int | None, expires_in: float, claims: dict[str, Any]) -> str:
        issued = int(self._clock.now().timestamp())
        payload = {"lms_user_id": lms_user_id, "exp": issued + expires_in, "iat": issued, "iss": self._issuer,
                   "version": TOKEN_VERSION, **claims}
        token = jws.JWS(json.dumps(payload).encode())
        token.add_signature(self._key, alg="RS512",
                            protected=json.dumps({"alg": "RS512", "typ": "JWT", "kid": self._kid}))
        return token.serialize(compact=True)

    def public_jwks(self) -> dict[str, Any]:
        public = json.loads(self._key.export_public())
        public["kid"] = self._kid
        return {"keys": [public]}
