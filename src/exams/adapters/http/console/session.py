"""The console's session: a signed cookie, its CSRF token, the OAuth2 state and the one-time sign-in link.

* Session cookie ``exams_console`` (path /console, HttpOnly, SameSite=Lax, Secure with exams.cookies.secure):
  signed (HMAC-SHA512, webob's SignedSerializer), it holds the user id, the CSRF token of the session and the
  time the session ends; the time is read from the service clock, so an expired cookie is refused even if a
  browser keeps it.
* OAuth2 state cookie ``exams_console_oauth`` (path /console/oauth2, 10 minutes): the random ``state`` the
  LMS must send back; the state is also recorded as used (single-use store), so a replayed callback fails.
* One-time sign-in link (``exams console-login``, development only): a signed ``username.expiry.nonce``
  that can be used once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone

from webob.cookies import SignedSerializer

SESSION_COOKIE = "exams_console"
STATE_COOKIE = "exams_console_oauth"
CSRF_FIELD = "csrf_token"
STATE_TTL = 600
LINK_TTL = 600


@dataclass(frozen=True)
class ConsoleSession:
    user_id: int
    csrf: str
    expires: int


class SessionCookies:
    def __init__(self, secret: str, *, secure: bool, ttl: int):
        self.session = SignedSerializer(secret, "exams.console.session")
        self.state = SignedSerializer(secret, "exams.console.oauth-state")
        self.links = secret.encode("utf-8")
        self.secure = secure
        self.ttl = ttl

    def _set(self, response, name: str, value: bytes | None, path: str, max_age: int | None) -> None:
        if value is None:
            response.delete_cookie(name, path=path)
            return
        response.set_cookie(name, value.decode("ascii"), max_age=max_age, path=path, secure=self.secure,
                            httponly=True, samesite="Lax")

    # -- the session ----------------------------------------------------------------------------------
    def read(self, request, now: datetime) -> ConsoleSession | None:
        raw = _cookie(request, SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self.session.loads(raw.encode("ascii"))
            session = ConsoleSession(int(data["u"]), str(data["c"]), int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires <= now.timestamp():
            return None
        return session

    def start(self, response, user_id: int, now: datetime) -> ConsoleSession:
        session = ConsoleSession(user_id, secrets.token_urlsafe(32), int(now.timestamp()) + self.ttl)
        value = self.session.dumps({"u": session.user_id, "c": session.csrf, "e": session.expires})
        self._set(response, SESSION_COOKIE, value, "/console", self.ttl)
        return session

    def end(self, response) -> None:
        self._set(response, SESSION_COOKIE, None, "/console", None)

    # -- OAuth2 state ---------------------------------------------------------------------------------
    def new_state(self, response, now: datetime, next_url: str) -> str:
        state = secrets.token_urlsafe(32)
        value = self.state.dumps({"s": state, "e": int(now.timestamp()) + STATE_TTL, "n": next_url})
        self._set(response, STATE_COOKIE, value, "/console/oauth2", STATE_TTL)
        return state

    def take_state(self, request, response, now: datetime) -> tuple[str, str] | None:
        """The (state, next URL) this browser was sent off with, if still valid; the cookie is cleared."""
        raw = _cookie(request, STATE_COOKIE)
        self._set(response, STATE_COOKIE, None, "/console/oauth2", None)
        if not raw:
            return None
        try:
            data = self.state.loads(raw.encode("ascii"))
            state, expires, next_url = str(data["s"]), int(data["e"]), str(data["n"])
        except (ValueError, KeyError, TypeError):
            return None
        return (state, next_url) if expires > now.timestamp() else None

    # -- one-time sign-in link ------------------------------------------------------------------------
    def link_token(self, username: str, now: datetime) -> str:
        payload = json.dumps({"u": username, "e": int(now.timestamp()) + LINK_TTL, "n": secrets.token_hex(16)},
                             separators=(",", ":")).encode("utf-8")
        body = base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")
        return f"{body}.{self._link_mac(body)}"

    def read_link(self, token: str, now: datetime) -> tuple[str, str, datetime] | None:
        """(username, nonce, expiry) of a well-signed, unexpired link token."""
        body, _, mac = (token or "").partition(".")
        if not body or not hmac.compare_digest(mac.encode("ascii", "replace"), self._link_mac(body).encode()):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            username, expires, nonce = str(data["u"]), int(data["e"]), str(data["n"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires <= now.timestamp():
            return None
        return username, nonce, datetime.fromtimestamp(expires, timezone.utc)

    def _link_mac(self, body: str) -> str:
        return hmac.new(self.links, b"exams.console.link:" + body.encode("ascii"), hashlib.sha256).hexdigest()


def csrf_ok(request, session: ConsoleSession | None) -> bool:
    """The form's token equals the session's, and a browser-sent Origin (if any) is this service."""
    if session is None:
        return False
    try:
        sent = request.POST.get(CSRF_FIELD, "")
    except (UnicodeDecodeError, ValueError):
        return False
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode("utf-8"), session.csrf.encode("utf-8")):
        return False
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin != f"{request.scheme}://{request.host}":
        return False
    return True


def _cookie(request, name: str) -> str | None:
    try:
        value = request.cookies.get(name)
    except UnicodeDecodeError:
        return None
    return value if value and value.isascii() else None


# -- the LMS's OAuth2 provider -----------------------------------------------------------------------
class OAuth2Error(Exception):
    """The LMS did not give us a token (its answer, or why we could not get one)."""


class LmsOAuth2Client:
    """The authorization-code flow with the LMS (Django OAuth Toolkit in edx-platform), JWT access tokens."""

    def __init__(self, lms_root_url: str, client_id: str, client_secret: str, timeout: float = 10):
        self.lms_root_url = lms_root_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout

    @property
    def enabled(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = urllib.parse.urlencode({"response_type": "code", "client_id": self.client_id,
                                        "redirect_uri": redirect_uri, "state": state,
                                        "scope": "user_id profile email"})
        return f"{self.lms_root_url}/oauth2/authorize?{query}"

    def exchange(self, code: str, redirect_uri: str) -> str:
        """The JWT access token for an authorization code."""
        form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code,
                                       "redirect_uri": redirect_uri, "client_id": self.client_id,
                                       "client_secret": self.client_secret, "token_type": "jwt"}).encode("ascii")
        request = urllib.request.Request(f"{self.lms_root_url}/oauth2/access_token", data=form, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                                  "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 - configured URL
                body = json.loads(answer.read(65536))
        except urllib.error.HTTPError as exc:
            raise OAuth2Error(f"the LMS refused the authorization code (HTTP {exc.code})") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise OAuth2Error(f"the LMS could not be reached for a token: {exc}") from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise OAuth2Error("the LMS answered without an access token")
        return token
