"""Verification of LMS JWTs, as edx-drf-extensions checks them, with jwcrypto."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import threading
from collections import OrderedDict
from typing import Any

from jwcrypto import jwk, jws
from jwcrypto.common import JWException

from exams.ports.auth import InvalidToken, TokenExpired
from exams.ports.clock import SYSTEM_CLOCK, Clock

HMAC_ALGS = ("HS256",)
RSA_ALGS = ("RS256", "RS512")


def _b64json(segment: str) -> dict:
    padded = segment + "=" * (-len(segment) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


class JwcryptoJwtVerifier:
    """Checks signature (HS256 with the shared secret, RS256/RS512 with the LMS JWKS), exp, nbf, iat, iss, aud.

    Verified tokens are remembered until they expire (bounded LRU), so that the learner's once-a-minute
    poll costs a dictionary lookup rather than an HMAC or RSA verification.
    """

    def __init__(self, *, issuer: str, audience: str, secret_key: str = "", public_jwks: dict | None = None,
                 leeway: int = 1, cache_size: int = 20000, clock: Clock = SYSTEM_CLOCK):
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self._clock = clock
        self._hmac_secret = secret_key.encode() if secret_key else None
        self._rsa_keys = jwk.JWKSet.from_json(json.dumps(public_jwks)) if public_jwks else None
        self._cache: OrderedDict[str, tuple[dict, float]] = OrderedDict()  # token: (claims, valid until)
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def verify(self, token: str) -> dict[str, Any]:
        with self._lock:
            found = self._cache.get(token)
            if found is not None:
                self._cache.move_to_end(token)
        if found is not None:
            claims, good_until = found
            if self._clock.now().timestamp() <= good_until:
                # Checked in full when first seen: of its claims only exp can fail later (nbf and iat only
                # pass once time has reached them; iss and aud do not change).
                return claims
            raise TokenExpired()
        claims = self._verify_signature(token)
        self._check_claims(claims)
        with self._lock:
            self._cache[token] = (claims, claims["exp"] + self.leeway)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return claims

    def _key_for(self, header: dict):
        alg = header.get("alg")
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
        if not isinstance(token, str) or not token.isascii() or token.count(".") != 2 or len(token) > 16384:
            raise InvalidToken()  # a JWT is three base64url segments: ASCII only
        try:
            header = _b64json(token.split(".", 1)[0])
        except (ValueError, UnicodeError):
            raise InvalidToken() from None
        if set(header) - {"alg", "typ", "kid"}:
            # No "jku", "x5u", "crit", embedded "jwk"...: nothing in the header may choose the key.
            raise InvalidToken()
        if header.get("alg") in HMAC_ALGS and self._hmac_secret is not None:
            return self._verify_hmac(token)
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

    def _verify_hmac(self, token: str) -> dict:
        # The standard library, not jwcrypto: LMS secrets are often shorter than jwcrypto's minimum
        # HS256 key length, and refusing them would lock out existing installations.
        signing_input, _, signature = token.rpartition(".")
        expected = _b64(hmac.new(self._hmac_secret, signing_input.encode("ascii"), hashlib.sha256).digest())
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
            raise InvalidToken()
        try:
            claims = _b64json(signing_input.split(".", 1)[1])
        except (ValueError, UnicodeError, IndexError):
            raise InvalidToken() from None
        return claims

    def _check_claims(self, claims: dict) -> None:
        """exp (required), nbf and iat (when present) with the same leeway, then iss and aud.

        Time claims must be finite JSON numbers: a NaN ``exp`` would never expire (every comparison with
        NaN is false), a string or an infinity is no time at all.
        """
        now = self._clock.now().timestamp()
        exp = _time_claim(claims, "exp", required=True)
        if exp + self.leeway < now:
            raise TokenExpired()
        nbf = _time_claim(claims, "nbf")
        if nbf is not None and nbf - self.leeway > now:
            raise InvalidToken("Token is not yet valid (nbf).")
        iat = _time_claim(claims, "iat")
        if iat is not None and iat - self.leeway > now:
            raise InvalidToken("Token was issued in the future (iat).")
        if claims.get("iss") != self.issuer:
            raise InvalidToken()
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise InvalidToken()


def _time_claim(claims: dict, name: str, *, required: bool = False) -> float | None:
    """A NumericDate claim (RFC 7519 §2): a finite JSON number. Absent is None unless ``required``."""
    if name not in claims and not required:
        return None
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)):  # NaN, Infinity: Python's json reads them
        raise InvalidToken(f"Invalid {name} claim: a finite number of seconds is required.")
    return value


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_hs256(claims: dict, secret_key: str) -> str:
    """An LMS-style HS256 JWT (for the operator's ``exams token`` command and the tests)."""
    signing_input = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + _b64(json.dumps(claims).encode())
    signature = hmac.new(secret_key.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"
