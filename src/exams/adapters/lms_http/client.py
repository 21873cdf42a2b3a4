"""edx-proctoring calls as edx-exams makes them (edx_rest_api_client's OAuthAPIClient), on urllib.

* The token: ``POST <lms>/oauth2/access_token`` with ``grant_type=client_credentials`` and
  ``token_type=jwt``; sent as ``Authorization: JWT <token>``; kept until shortly before it expires
  (one fetch at a time); fetched again once if the LMS answers 401 to a call made with it.
* Every call (token fetch included) has one total deadline, ``timeout`` seconds; redirects are not
  followed; bodies are capped; a body that is not JSON becomes INVALID_JSON with the LMS's status.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable

from exams.ports.legacy import INVALID_JSON, LegacyResponse, LegacyUnavailable

API = "/api/edx_proctoring/v1/"
TOKEN_PATH = "/oauth2/access_token"
MAX_BODY_BYTES = 1024 * 1024
_CHUNK = 16 * 1024
# A token is not used in its last seconds of life: a call made with it must still reach the LMS in time.
_EXPIRY_MARGIN_SECONDS = 30.0


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx status


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _quote_path(value: str) -> str:
    # Course keys keep their ":" and "+" (and the "/" of old-style keys), as edx-exams puts them in the path.
    return urllib.parse.quote(value, safe=":+/@")


class LmsLegacyProctoring:
    """ports.legacy.LegacyProctoring against ``lms_root_url``. Thread-safe."""

    def __init__(self, lms_root_url: str, client_id: str, client_secret: str, *, timeout: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic, max_body_bytes: int = MAX_BODY_BYTES):
        self.lms_root_url = lms_root_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout
        self.monotonic = monotonic
        self.max_body_bytes = max_body_bytes
        self._opener = urllib.request.build_opener(_RefuseRedirects())
        self._token: tuple[str, float] | None = None  # (token, monotonic time it stops being used)
        self._token_lock = threading.Lock()

    # -- the five calls ------------------------------------------------------------------------
    def register_exams(self, course_id, exams):
        return self._call("PATCH", f"proctored_exam/exam_registration/course_id/{_quote_path(course_id)}",
                          body=exams)

    def student_exam_attempt(self, course_id, content_id, lms_user_id):
        query = urllib.parse.urlencode({"content_id": content_id, "user_id": lms_user_id})
        return self._call("GET", f"proctored_exam/attempt/course_id/{_quote_path(course_id)}?{query}")

    def proctoring_settings(self, exam_id):
        return self._call("GET", f"proctored_exam/settings/exam_id/{int(exam_id)}/")

    def onboarding_status(self, course_id, username):
        params = {"is_learning_mfe": "true", "course_id": course_id}
        if username:
            params["username"] = username
        return self._call("GET", f"user_onboarding/status?{urllib.parse.urlencode(params)}")

    def active_attempt(self, lms_user_id):
        return self._call("GET", f"proctored_exam/active_attempt?{urllib.parse.urlencode({'user_id': lms_user_id})}")

    # -- plumbing ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None) -> LegacyResponse:
        deadline = self.monotonic() + self.timeout
        url = f"{self.lms_root_url}{API}{path}"
        data = json.dumps(body).encode("utf-8") if body is not None else None
        for retry in (False, True):
            token = self._access_token(deadline, refresh=retry)
            headers = {"Authorization": f"JWT {token}", "Accept": "application/json", "User-Agent": "exams"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            status, raw = self._exchange(method, url, data, headers, deadline)
            if status != 401 or retry:
                break
        if 300 <= status < 400:
            raise LegacyUnavailable(f"edx-proctoring answered {method} {path} with a redirect ({status})",
                                    reachable=True)
        try:
            parsed = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            parsed = dict(INVALID_JSON)
        return LegacyResponse(status=status, body=parsed)

    def _access_token(self, deadline: float, *, refresh: bool) -> str:
        with self._token_lock:
            if self._token is not None and not refresh and self.monotonic() < self._token[1]:
                return self._token[0]
            self._token = None
            form = urllib.parse.urlencode({
                "grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self.client_secret, "token_type": "jwt"}).encode("ascii")
            status, raw = self._exchange(
                "POST", f"{self.lms_root_url}{TOKEN_PATH}", form,
                {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
                 "User-Agent": "exams"}, deadline)
            if status != 200:
                raise LegacyUnavailable(f"the LMS refused this service's OAuth2 client credentials (HTTP {status})",
                                        reachable=True)
            try:
                answer = json.loads(raw.decode("utf-8"))
                token, expires_in = answer["access_token"], answer["expires_in"]
                if not isinstance(token, str) or not token or isinstance(expires_in, bool) \
                        or not isinstance(expires_in, (int, float)):
                    raise ValueError("bad token fields")
            except (UnicodeDecodeError, ValueError, KeyError, TypeError):
                raise LegacyUnavailable("the LMS's OAuth2 token answer is not a token", reachable=True) from None
            margin = min(_EXPIRY_MARGIN_SECONDS, expires_in / 2)
            self._token = (token, self.monotonic() + expires_in - margin)
            return token

    def _exchange(self, method: str, url: str, data: bytes | None, headers: dict,
                  deadline: float) -> tuple[int, bytes]:
        """One HTTP exchange within ``deadline``: (status, body). Raises LegacyUnavailable."""
        remaining = deadline - self.monotonic()
        if remaining <= 0:
            raise LegacyUnavailable("the LMS did not answer in time", reachable=False)
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            try:
                response = self._opener.open(request, timeout=remaining)
            except urllib.error.HTTPError as error:  # 3xx, 4xx, 5xx: an answer all the same
                response = error
            with response:
                status = response.status if response.status is not None else response.code
                declared = response.headers.get("Content-Length")
                if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > self.max_body_bytes:
                    raise LegacyUnavailable("the LMS's answer is too large", reachable=True)
                body = bytearray()
                while True:
                    # The socket timeout bounds each read, the deadline a server that drips its answer.
                    if self.monotonic() > deadline:
                        raise LegacyUnavailable("the LMS did not answer in time", reachable=False)
                    chunk = response.read1(_CHUNK) if hasattr(response, "read1") else response.read(_CHUNK)
                    if not chunk:
                        break
                    body.extend(chunk)
                    if len(body) > self.max_body_bytes:
                        raise LegacyUnavailable("the LMS's answer is too large", reachable=True)
        except LegacyUnavailable:
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            # Refused connections, DNS failures, timeouts, resets, malformed responses.
            reason = getattr(exc, "reason", exc)
            raise LegacyUnavailable(f"the LMS could not be reached: {reason}", reachable=False) from None
        return status, bytes(body)
