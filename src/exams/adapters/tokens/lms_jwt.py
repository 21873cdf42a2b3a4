"""Verification of LMS JWTs, as edx-drf-extensions checks them, with jwcrypto."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import OrderedDict
from typing import Any

from jwcrypto import jwk, jws
from jwcrypto.common import JWException

from exams.ports.auth import InvalidToken, TokenExpired

HMAC_ALGS = ("HS256",)
RSA_ALGS = ("RS256", "RS512")


def _b64json(segment: str) -> dict:
    padded = segment + "=" * (-len(segment) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


class JwcryptoJwtVerifier:
    """Checks signature (HS256 with the shared secret, RS256/RS512 with the LMS JWKS), exp, iss, aud.

    Verified tokens are remembered until they expire (bounded LRU), so that the learner's once-a-minute
    poll costs a dictionary lookup rather than an HMAC or RSA verification.
    """

    def __init__(self, *, issuer: str, audience: str, secret_key: str = "", public_jwks: dict | None = None,
                 leeway: int = 1, cache_size: int = 20000, now=time.time):
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self._now = now
        self._hmac_key = jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(secret_key.encode()).rstrip(b"=").decode()) \
            if secret_key else None
        self._rsa_keys = jwk.JWKSet.from_json(json.dumps(public_jwks)) if public_jwks else None
        self._cache: OrderedDict[str, dict] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def verify(self, token: str) -> dict[str, Any]:
        with self._lock:
            claims = self._cache.get(token)
            if claims is not None:
                self._cache.move_to_end(token)
        if claims is None:
            claims = self._verify_signature(token)
        self._check_claims(claims)
        if claims is not None:
            with self._lock:
                self._cache[token] = claims
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return claims

    def _key_for(self, header: dict):
        alg = header.get("alg")
        if alg in HMAC_ALGS and self._hmac_key is not None:
            return self._hmac_key
        if alg in RSA_ALGS and self._rsa_keys is not None:
            kid = header.get("kid")
            if kid is not None:
                key = self._rsa_keys.get_key(kid)
                if key is None:
                    raise InvalidToken()
                return key
            keys = list(self._rsa_keys["keys"])
            if len(keys) == 1:
                return keys[0]
        raise InvalidToken()

    def _verify_signature(self, token: str) -> dict:
        if not isinstance(token, str) or token.count(".") != 2 or len(token) > 16384:
            raise InvalidToken()
        try:
            header = _b64json(token.split(".", 1)[0])
        except (ValueError, UnicodeError):
            raise InvalidToken() from None
        if set(header) - {"alg", "typ", "kid"}:
            # No "jku", "x5u", "crit", embedded "jwk"...: nothing in the header may choose the key.
            raise InvalidToken()
        key = self._key_for(header)
        try:
            signed = jws.JWS()
            signed.deserialize(token)
            signed.verify(key, alg=header["alg"])
            claims = json.loads(signed.payload)
        except (JWException, ValueError, TypeError, KeyError):
            raise InvalidToken() from None
        if not isinstance(claims, dict):
            raise InvalidToken()
        return claims

    def _check_claims(self, claims: dict) -> None:
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise InvalidToken()
        if exp + self.leeway < self._now():
            raise TokenExpired()
        if claims.get("iss") != self.issuer:
            raise InvalidToken()
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise InvalidToken()


def sign_hs256(claims: dict, secret_key: str) -> str:
    """An LMS-style HS256 JWT (for the operator's ``exams token`` command and the tests)."""
    key = jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(secret_key.encode()).rstrip(b"=").decode())
    token = jws.JWS(json.dumps(claims).encode())
    token.add_signature(key, alg="HS256", protected=json.dumps({"alg": "HS256", "typ": "JWT"}))
    return token.serialize(compact=True)
