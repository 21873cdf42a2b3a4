"""Compact JWS handling with jwcrypto: parsing untrusted tokens, loading keys, signing, verifying.

Everything that can fail on tool-supplied input raises `LaunchRejected` with a stable code; problems with
our own stored keys raise `LtiConfigurationError`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS, InvalidJWSSignature

from exams.ports.lti import LaunchRejected, LtiConfigurationError, RejectionCode

# Generous for an LTI message (a few KiB), small enough to keep parsing cheap.
MAX_TOKEN_LENGTH = 64 * 1024
TOOL_ALGORITHMS = frozenset({"RS256", "RS384", "RS512"})
PLATFORM_ALGORITHM = "RS256"

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Header parameters that change how a JWS is processed; no LTI tool needs them, so refuse them.
_REFUSED_HEADER_PARAMETERS = frozenset({"crit", "b64", "zip"})


@dataclass(frozen=True)
class UnverifiedJws:
    """A compact JWS split and decoded, NOT verified. Nothing in it may be trusted yet."""

    token: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]

    @property
    def alg(self) -> str:
        return self.header["alg"]

    @property
    def kid(self) -> str | None:
        return self.header.get("kid")


def _reject(code: RejectionCode, reason: str) -> LaunchRejected:
    return LaunchRejected(code, reason)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers disagreeing on which duplicate wins is a classic JOSE confusion; refuse duplicates.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate member")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError("non-standard JSON constant")


def strict_json_object(data: bytes | str) -> dict[str, Any]:
    """Parse a JSON object, refusing duplicate members and NaN/Infinity. Raises ValueError."""
    value = json.loads(data, object_pairs_hook=_no_duplicate_keys, parse_constant=_refuse_constant)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    # JSON may escape lone surrogates ("\ud800") that no UTF-8 encoder accepts; refuse them here rather
    # than let them reach hashing, comparisons or a database (UnicodeEncodeError is a ValueError).
    json.dumps(value, ensure_ascii=False).encode("utf-8")
    return value


def _b64url_decode(segment: str) -> bytes:
    """Strict, canonical base64url without padding: one token has exactly one spelling."""
    if not _B64URL.fullmatch(segment):
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise ValueError("non-canonical base64url")
    return raw


def _b64url_json(segment: str) -> dict[str, Any]:
    return strict_json_object(_b64url_decode(segment))


def parse_compact_jws(token: object) -> UnverifiedJws:
    """Split a compact JWS and decode its header and payload, checking only the shape and the header.

    Refuses: non-strings, oversized tokens, JWE (5 parts, P7), the JSON serialization, bad base64/JSON,
    algorithms outside RS256/RS384/RS512 (including `none` and HS*, P6), and processing-altering headers.
    """
    if not isinstance(token, str) or not token:
        raise _reject(RejectionCode.MALFORMED_TOKEN, "The token is missing or not a string.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise _reject(RejectionCode.TOKEN_TOO_LARGE, "The token is too large.")
    parts = token.split(".")
    if len(parts) == 5:
        raise _reject(RejectionCode.ENCRYPTED_TOKEN, "Encrypted tokens (JWE) are not accepted; send a signed JWS.")
    if len(parts) != 3:
        raise _reject(RejectionCode.MALFORMED_TOKEN, "The token is not a compact JWS.")
    try:
        header = _b64url_json(parts[0])
    except (ValueError, binascii.Error, UnicodeError):
        raise _reject(RejectionCode.MALFORMED_TOKEN, "The token header is not valid base64url JSON.") from None
    if "enc" in header:
        raise _reject(RejectionCode.ENCRYPTED_TOKEN, "Encrypted tokens (JWE) are not accepted; send a signed JWS.")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in TOOL_ALGORITHMS:
        raise _reject(RejectionCode.DISALLOWED_ALGORITHM, "The token algorithm is not allowed; use RS256.")
    if _REFUSED_HEADER_PARAMETERS & header.keys():
        raise _reject(RejectionCode.MALFORMED_TOKEN, "The token header uses an unsupported parameter.")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise _reject(RejectionCode.MALFORMED_TOKEN, "The token header kid is not a string.")
    if not parts[2]:
        raise _reject(RejectionCode.BAD_SIGNATURE, "The token is not signed.")
    try:
        _b64url_decode(parts[2])
    except (ValueError, binascii.Error):
        raise _reject(RejectionCode.MALFORMED_TOKEN, "The token signature is not valid base64url.") from None
    try:
        claims = _b64url_json(parts[1])
    except (ValueError, binascii.Error, UnicodeError):
        raise _reject(RejectionCode.MALFORMED_TOKEN, "The token payload is not valid base64url JSON.") from None
    return UnverifiedJws(token=token, header=header, claims=claims)


def verify_signature(unverified: UnverifiedJws, key: JWK) -> None:
    """Check the signature of `unverified` with exactly `key` (public) and the token's allowed alg."""
    if key.has_private:
        # Never verify with private material (CVE-2022-3102 class of confusions).
        key = key.public()
    jws = JWS()
    jws.allowed_algs = [unverified.alg]
    try:
        jws.deserialize(unverified.token)
        jws.verify(key, alg=unverified.alg)
    except InvalidJWSSignature:
        raise _reject(RejectionCode.BAD_SIGNATURE, "The token signature does not verify.") from None
    except Exception:  # noqa: BLE001 - untrusted input reaching jwcrypto must never surface as a 500
        raise _reject(RejectionCode.MALFORMED_TOKEN, "The token could not be processed.") from None


def sign_compact(key: JWK, kid: str, claims: Mapping[str, Any], typ: str) -> str:
    """Sign `claims` as a compact JWS, RS256, with `kid` and `typ` in the protected header."""
    header = {"alg": PLATFORM_ALGORITHM, "kid": kid, "typ": typ}
    payload = json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    jws = JWS(payload.encode("utf-8"))
    jws.add_signature(key, alg=PLATFORM_ALGORITHM, protected=json.dumps(header, separators=(",", ":")))
    return jws.serialize(compact=True)


def generate_rsa_key() -> tuple[JWK, str]:
    """A new RSA-2048 key and its RFC 7638 thumbprint (SHA-256), used as the kid."""
    key = JWK.generate(kty="RSA", size=2048)
    kid = key.thumbprint()
    return key, kid


@functools.lru_cache(maxsize=128)
def load_platform_key(material: str) -> JWK:
    """Load one of our private signing keys from a private JWK (JSON) or PEM. Cached: parsing is slow."""
    try:
        if material.lstrip().startswith("-----BEGIN"):
            key = JWK.from_pem(material.encode("utf-8"))
        else:
            key = JWK.from_json(material)
    except Exception as exc:  # noqa: BLE001 - any parse failure means the stored key is corrupt
        raise LtiConfigurationError("The platform private key of a registration cannot be loaded.") from exc
    if key.get("kty") != "RSA" or not key.has_private:
        raise LtiConfigurationError("The platform key of a registration must be an RSA private key.")
    return key


def public_jwk_dict(key: JWK, kid: str) -> dict[str, Any]:
    """The public half of `key` as a JWK dict with our kid, alg and use."""
    public = json.loads(key.export_public())
    return {"kty": public["kty"], "e": public["e"], "n": public["n"], "kid": kid, "alg": "RS256", "use": "sig"}


def _tool_key_from_dict(entry: Mapping[str, Any]) -> JWK | None:
    """An RSA signature-verification key from a JWK dict, or None if the entry is not one."""
    if entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
        return None
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    alg = entry.get("alg")
    if alg is not None and alg not in TOOL_ALGORITHMS:
        return None
    try:
        key = JWK(kty="RSA", n=entry["n"], e=entry["e"])
    except Exception:  # noqa: BLE001 - tool-controlled data
        return None
    return key


def tool_keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, JWK]:
    """The tool's RSA signing keys by kid. Keys without a kid, or with a kid used twice, are unusable."""
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise _reject(RejectionCode.KEYSET_UNAVAILABLE, "The tool keyset is not a JWKS.")
    by_kid: dict[str, JWK] = {}
    ambiguous: set[str] = set()
    for entry in keys:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        key = _tool_key_from_dict(entry)
        if key is None:
            continue
        if kid in by_kid:
            ambiguous.add(kid)
        by_kid[kid] = key
    for kid in ambiguous:
        del by_kid[kid]
    return by_kid


def static_tool_keys(material: str) -> tuple[JWK | None, dict[str, JWK]]:
    """Parse a registration's stored tool key: PEM, one JWK, or a JWKS (JSON).

    Returns (the single pinned key, None if several) and the keys by kid.
    """
    text = material.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = JWK.from_pem(text.encode("utf-8"))
            if key.get("kty") != "RSA":
                raise ValueError("not RSA")
            return (key.public() if key.has_private else key), {}
        document = strict_json_object(text)
    except Exception:  # noqa: BLE001 - the tool supplied this material at registration
        raise _reject(RejectionCode.KEYSET_UNAVAILABLE, "The tool's registered public key is unusable.") from None
    if "keys" in document:
        entries = document["keys"]
        if not (isinstance(entries, list) and len(entries) == 1 and isinstance(entries[0], dict)):
            return None, tool_keys_from_jwks(document)
        document = entries[0]
    key = _tool_key_from_dict(document)
    if key is None:
        raise _reject(RejectionCode.KEYSET_UNAVAILABLE, "The tool's registered public key is unusable.")
    kid = document.get("kid")
    return key, ({kid: key} if isinstance(kid, str) and kid else {})


def numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim (RFC 7519 §2), or None if absent. Raises for a non-number."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _reject(RejectionCode.INVALID_CLAIM, f"The {name} claim is not a number.")
    return float(value)
