"""The sandbox: stand-ins for Studio, the LMS and the Learning MFE, so the flow runs without Open edX.

A real learner reaches ``/lti/start_proctoring/<attempt>`` from the Learning MFE, signed in by the LMS's
JWT cookies, for an exam that Studio registered in a course whose provider is this tool. The sandbox does
those parts through the service's public API, with LMS-style JWTs signed with the development secret
(``exams.jwt.secret_key``): it configures a demo course with the provider ``devtool``, registers one
proctored exam, creates the learner's attempt, sets the learner's JWT cookies for ``localhost`` (cookies
ignore ports, so the service on another port receives them) and sends the browser to start proctoring.
Its page then plays the Learning MFE's buttons: start the exam, end it, reset it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

from webob import Request, Response
from webob.exc import HTTPSeeOther

from .pages import ToolError, page

COURSE = "course-v1:exams+devtool+sandbox"
CONTENT = "block-v1:exams+devtool+sandbox+type@sequential+block@proctored_exam"
EXAM = {"content_id": CONTENT, "exam_name": "Proctored exam (development tool)", "exam_type": "proctored",
        "time_limit_mins": 30, "due_date": None, "hide_after_due": False, "is_active": True}
USERNAME = re.compile(r"[A-Za-z0-9_.-]{1,30}")


@dataclass(frozen=True)
class LmsIdentity:
    """How the LMS signs the JWTs the service accepts (development settings only)."""

    secret: str = field(repr=False)
    issuer: str
    audience: str

    def token(self, username: str, *, staff: bool = False, ttl: int = 3600) -> str:
        now = int(time.time())
        # A stable local LMS user id per username, as the LMS would have.
        user_id = 1_000_000 + int(hashlib.sha256(username.encode()).hexdigest()[:6], 16)
        claims = {"iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + ttl,
                  "preferred_username": username, "user_id": user_id, "administrator": staff,
                  "email": f"{username}@example.com", "version": "1.2.0", "is_restricted": False,
                  "scopes": ["user_id", "email", "profile"], "filters": []}
        # Plain HMAC (as the LMS's PyJWT does): development secrets are often shorter than jwcrypto accepts.
        signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{_b64(json.dumps(claims))}"
        signature = hmac.new(self.secret.encode(), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


class Sandbox:
    """Pages under /sandbox. ``http(url, data=, headers=, method=)`` returns (status, body bytes)."""

    def __init__(self, service_url: str, identity: LmsIdentity, http: Callable[..., tuple[int, bytes]]):
        self.service_url = service_url
        self.identity = identity
        self._http = http

    def routes(self) -> dict[str, tuple[tuple[str, ...], Callable[[Request], Response]]]:
        return {"/sandbox": (("GET",), self.home), "/sandbox/start": (("POST",), self.start),
                "/sandbox/act": (("POST",), self.act)}

    # -- the service's API, as Studio, the LMS and the MFE call it ------------------------------------
    def _api(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        status, raw = self._http(self.service_url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"JWT {token}", "Content-Type": "application/json"})
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw[:300].decode("utf-8", "replace")

    def _checked(self, method: str, path: str, token: str, body: Any = None) -> Any:
        status, answer = self._api(method, path, token, body)
        if status >= 300:
            raise ToolError(f"The service answered {status} to {method} {path}: {answer}")
        return answer

    def _exam_id(self) -> int:
        staff = self.identity.token("devtool_staff", staff=True)
        course = urllib.parse.quote(COURSE, safe=":+")
        self._checked("PATCH", f"/api/v1/configs/course_id/{course}", staff,
                      {"provider": "devtool", "escalation_email": "proctoring@example.com"})
        self._checked("PATCH", f"/api/v1/exams/course_id/{course}", staff, [EXAM])
        exams = self._checked("GET", f"/api/v1/exams/course_id/{course}", staff)
        return next(e["id"] for e in exams if e["content_id"] == CONTENT)

    def _latest(self, token: str) -> dict:
        status, answer = self._api("GET", f"/api/v1/exams/attempt/latest?content_id={urllib.parse.quote(CONTENT)}",
                                   token)
        return answer if status == 200 and isinstance(answer, dict) else {}

    # -- pages ------------------------------------------------------------------------------------------
    @staticmethod
    def _username(request: Request) -> str:
        username = request.params.get("learner", "learner")
        if not USERNAME.fullmatch(username):
            raise ToolError("A learner name is 1 to 30 letters, digits, '.', '_' or '-'.")
        return username

    def home(self, request: Request) -> Response:
        username = self._username(request)
        attempt = self._latest(self.identity.token(username))
        e = html.escape
        status = (f"<p>Attempt <code id='attempt-id'>{attempt['attempt_id']}</code> of <code>{e(username)}</code>: "
                  f"<strong id='attempt-status'>{e(attempt['attempt_status'])}</strong></p>") if attempt else \
            f"<p id='attempt-status'>{e(username)} has no attempt yet.</p>"

        def button(action: str, label: str) -> str:
            return (f"<form method='post' action='/sandbox/act' style='display:inline'>"
                    f"<input type='hidden' name='learner' value='{e(username, quote=True)}'>"
                    f"<button name='action' value='{action}' id='{action}'>{e(label)}</button></form> ")

        buttons = (button("start", "Start the exam (Learning MFE)") + button("end", "End the exam")
                   + button("reset", "Reset the attempt")) if attempt else ""
        return page("Sandbox: the learner's side", f"""
<p>Stand-ins for Studio, the LMS and the Learning MFE (development only). The demo course
<code>{e(COURSE)}</code> is proctored by this tool.</p>
<form method="post" action="/sandbox/start">
<label>Learner <input name="learner" value="{e(username, quote=True)}" id="learner"></label>
<button type="submit" id="take">Take the proctored exam</button>
</form>
{status}{buttons}
<p>After "Start the assessment" at the tool, the service sends the learner to the Learning MFE
(<code>exams.learning_mfe_url</code>); without one running, come back here to start and end the exam.
The <a href="/proctor">proctor console</a> reports on the attempt.</p>""")

    def start(self, request: Request) -> Response:
        """Register the exam, create the learner's attempt, sign the learner in, start proctoring."""
        username = self._username(request)
        exam_id = self._exam_id()
        token = self.identity.token(username)
        attempt = self._latest(token)
        if not attempt or attempt.get("attempt_status") not in ("created", "download_software_clicked"):
            if attempt:
                self._checked("DELETE", f"/api/v1/exams/attempt/{attempt['attempt_id']}", token)
            attempt = {"attempt_id": self._checked("POST", "/api/v1/exams/attempt", token,
                                                   {"exam_id": exam_id})["exam_attempt_id"]}
        response = HTTPSeeOther(location=f"{self.service_url}/lti/start_proctoring/{attempt['attempt_id']}")
        header_payload, signature = token.rsplit(".", 1)
        # The LMS's two JWT cookies; host-only cookies for "localhost" reach the service's port too.
        response.set_cookie("edx-jwt-cookie-header-payload", header_payload, path="/", samesite="Lax")
        response.set_cookie("edx-jwt-cookie-signature", signature, path="/", httponly=True, samesite="Lax")
        return response

    def act(self, request: Request) -> Response:
        username = self._username(request)
        token = self.identity.token(username)
        attempt = self._latest(token)
        action = request.POST.get("action")
        back = f"/sandbox?learner={urllib.parse.quote(username)}"
        if not attempt:
            return HTTPSeeOther(location=back)
        attempt_id = attempt["attempt_id"]
        if action == "start":
            self._checked("PUT", f"/api/v1/exams/attempt/{attempt_id}", token, {"action": "start"})
        elif action == "end":
            # What the Learning MFE does on "End my exam": the browser goes to the service.
            return HTTPSeeOther(location=f"{self.service_url}/lti/end_assessment/{attempt_id}")
        elif action == "reset":
            self._checked("DELETE", f"/api/v1/exams/attempt/{attempt_id}", token)
        return HTTPSeeOther(location=back)
