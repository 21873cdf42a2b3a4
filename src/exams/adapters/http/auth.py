"""Authentication as the LMS and the MFEs do it: an LMS JWT in a header or in two split cookies.

* ``Authorization: JWT <token>``: a bad token is a 401 with its reason.
* cookies ``edx-jwt-cookie-header-payload`` + ``edx-jwt-cookie-signature``: the token is the two joined.
  Unsafe methods also need ``X-CSRFToken`` equal to the CSRF cookie. A failed cookie authentication is
  treated as no credentials at all (401 "not provided"), as edx-drf-extensions does.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict
from urllib.parse import urlsplit

from webob.cookies import parse_cookie

from exams.domain.users import User, UserClaims
from exams.domain.values import is_storable, is_username
from exams.ports.auth import InvalidToken

from .errors import forbidden, unauthenticated

HEADER_PAYLOAD_COOKIE = "edx-jwt-cookie-header-payload"
SIGNATURE_COOKIE = "edx-jwt-cookie-signature"
CSRF_COOKIE = "edx_exams_csrftoken"
CSRF_HEADER = "X-CSRFToken"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


MAX_LMS_USER_ID = 2**31 - 1  # the lms_user_id column is a 32-bit integer, as in edx-exams


def claims_to_identity(claims: dict) -> UserClaims:
    username = claims.get("preferred_username") or claims.get("username")
    if not is_username(username):
        raise unauthenticated("JWT must include a preferred_username or username claim!")

    def text(name, limit):
        value = claims.get(name)
        return value[:limit] if isinstance(value, str) and is_storable(value) else None

    user_id = claims.get("user_id")
    if isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 <= user_id <= MAX_LMS_USER_ID:
        user_id = None
    administrator = claims.get("administrator")
    return UserClaims(
        username=username,
        email=text("email", 254),
        full_name=text("full_name", 255),
        lms_user_id=user_id,
        is_staff=administrator if isinstance(administrator, bool) else None,
        is_restricted=claims.get("is_restricted") is True,
    )


class _IdentitiesByToken:
    """``claims_to_identity`` of the tokens seen lately: a verified token's claims never change.

    Consulted only once the token is verified (its signature and, on every request, its expiry), so an
    entry never stands for a token that would be refused; bounded, the least recently used going first.
    """

    def __init__(self, size: int = 20000):
        self._entries: OrderedDict[str, UserClaims] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def of(self, token: str, claims: dict) -> UserClaims:
        with self._lock:
            identity = self._entries.get(token)
            if identity is not None:
                self._entries.move_to_end(token)
                return identity
        identity = claims_to_identity(claims)  # a 401 for a token without a username: not remembered
        with self._lock:
            self._entries[token] = identity
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return identity


_identities = _IdentitiesByToken()


def cookie_value(request, name: str) -> str | None:
    """A cookie of ours (ASCII), even when another cookie of the domain is not UTF-8.

    WebOb decodes every cookie as UTF-8 at once and fails on any that is not; browsers send the cookies
    of the whole domain, so one foreign cookie must not make every request a 500.
    """
    try:
        return request.cookies.get(name)
    except UnicodeDecodeError:
        wanted = name.encode("ascii")
        for key, value in parse_cookie(request.environ.get("HTTP_COOKIE", "")):
            if key == wanted:
                return value.decode("ascii") if value.isascii() else None
        return None


def _csrf_ok(request) -> bool:
    cookie = cookie_value(request, CSRF_COOKIE) or ""
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not hmac.compare_digest(cookie.encode(), header.encode()):
        return False
    origin = request.headers.get("Origin")
    if origin:
        trusted = request.settings["exams.csrf.trusted_origins"] or \
            request.settings["exams.cors.origins"]
        own = f"{request.scheme}://{request.host}"
        try:
            parts = urlsplit(origin)
        except ValueError:  # e.g. "http://[" (a broken IPv6 literal)
            return False
        if f"{parts.scheme}://{parts.netloc}" not in (*trusted, own):
            return False
    return True


def token_from(request) -> tuple[str | None, bool]:
    """The raw JWT and whether it came from the cookies."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme == "JWT":
        return value.strip(), False
    payload = cookie_value(request, HEADER_PAYLOAD_COOKIE)
    signature = cookie_value(request, SIGNATURE_COOKIE)
    if payload and signature:
        return f"{payload}.{signature}", True
    return None, False


def authenticate(request) -> User | None:
    """The calling user, or None for an anonymous request; raises 401/403 for bad credentials."""
    token, from_cookie = token_from(request)
    if token is None:
        return None
    try:
        claims = request.jwt_verifier.verify(token)
    except InvalidToken as exc:
        if from_cookie:
            return None
        raise unauthenticated(exc.detail) from None
    if from_cookie and request.method not in SAFE_METHODS and not _csrf_ok(request):
        return None
    identity = _identities.of(token, claims)
    if identity.is_restricted:
        raise forbidden()
    return request.services.users.provision(identity)


def require_user(request) -> User:
    user = request.user
    if user is None:
        raise unauthenticated()
    return user


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)
