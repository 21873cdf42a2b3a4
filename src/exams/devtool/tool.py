"""The development proctoring tool: a small LTI 1.3 Proctoring Services *tool*, as a vendor runs one.

It talks to the exams service only over HTTP, as a real vendor does:

* ``/login`` (OIDC third-party login initiation) sends the browser to the platform's auth endpoint;
* ``/launch`` receives the platform's id_token, verifies it with the platform's JWKS, and shows
  - for ``LtiStartProctoring``: the learner's page, where the "proctor" starts the assessment (a form
    posting a signed ``LtiStartAssessment`` to the platform's start_assessment_url);
  - for ``LtiEndAssessment``: a goodbye page linking back to the exam;
  - for the instructor's ``LtiResourceLinkRequest``: the review dashboard;
* ``/proctor`` is the proctor's console: per proctored attempt, buttons that report to the platform's
  Assessment Control Service with a client-credentials token (terminate clean / suspicious / with an
  error code, flag);
* ``/.well-known/jwks.json`` publishes the tool's public key.

State (pending logins, proctored sessions, the service token) lives in memory: this is a development
tool, never to be exposed beyond localhost.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from jwcrypto import jwk, jws
from jwcrypto.common import JWException
from webob import Request, Response
from webob.exc import HTTPException, HTTPMethodNotAllowed, HTTPNotFound, HTTPSeeOther

from .pages import ToolError, page as _page
from .sandbox import LmsIdentity, Sandbox

log = logging.getLogger(__name__)

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LTI_AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
ACS_SCOPE = "https://purl.imsglobal.org/spec/lti-ap/scope/control.all"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ACS_MEDIA_TYPE = "application/vnd.ims.lti-ap.v1.control+json"
LOGIN_TTL = 600
START_ASSESSMENT_TTL = 600
LEEWAY = 60

# The proctor's buttons: what each reports through the ACS.
REPORTS: dict[str, dict[str, Any]] = {
    "clean": {"label": "Terminate: clean (severity 0.1)", "action": "terminate", "reason_code": "1",
              "incident_severity": 0.1},
    "suspicious": {"label": "Terminate: suspicious (severity 0.9)", "action": "terminate", "reason_code": "1",
                   "incident_severity": 0.9},
    "flag": {"label": "Flag an incident (extra monitor, 0.5)", "action": "flag", "reason_code": "15",
             "incident_severity": 0.5},
    "error": {"label": "Terminate with an error (code 2: navigated away)", "action": "terminate",
              "reason_code": "2", "incident_severity": 1.0},
}


@dataclass(frozen=True)
class DevtoolConfig:
    """Where the tool lives and what it knows of its registration at the platform."""

    base_url: str  # this tool, e.g. http://localhost:18741
    platform_issuer: str  # the platform's iss (exams.root_url)
    client_id: str
    deployment_id: str
    auth_url: str  # the platform's OIDC authentication endpoint
    jwks_url: str  # the platform's public keys for this registration
    token_url: str  # the platform's token endpoint for this registration
    key: jwk.JWK = field(repr=False)  # the tool's private RSA key
    sandbox: LmsIdentity | None = None  # signs LMS-style JWTs for the sandbox pages; None: no sandbox

    @property
    def launch_url(self) -> str:
        return f"{self.base_url}/launch"

    @property
    def login_url(self) -> str:
        return f"{self.base_url}/login"

    def public_jwks(self) -> dict[str, Any]:
        public = json.loads(self.key.export_public())
        public.update(kid=self.key.thumbprint(), alg="RS256", use="sig")
        return {"keys": [public]}


@dataclass
class ProctoredSession:
    """One LtiStartProctoring launch the tool received: an attempt it proctors."""

    id: str
    sub: str
    attempt_number: int
    resource_link_id: str
    resource_link_title: str | None
    context_label: str | None
    session_data: str
    start_assessment_url: str
    acs_url: str | None
    acs_actions: list[str]
    return_url: str | None
    started_assessment: bool = False
    reports: list[str] = field(default_factory=list)


# -- JWT helpers ------------------------------------------------------------------------------------
def sign(key: jwk.JWK, claims: dict[str, Any]) -> str:
    token = jws.JWS(json.dumps(claims).encode("utf-8"))
    token.add_signature(key, alg="RS256", protected=json.dumps({"alg": "RS256", "typ": "JWT",
                                                                "kid": key.thumbprint()}))
    return token.serialize(compact=True)


def verify(token: str, keys: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact RS256 JWS against a JWKS (by the header kid); return (header, claims)."""
    try:
        parsed = jws.JWS()
        parsed.deserialize(token)
        header = parsed.jose_header
        if header.get("alg") != "RS256":
            raise ToolError("The id_token is not RS256.")
        candidates = [k for k in keys.get("keys", []) if k.get("kid") == header.get("kid")]
        if len(candidates) != 1:
            raise ToolError("The id_token kid is not in the platform's JWKS.")
        parsed.verify(jwk.JWK(**candidates[0]), alg="RS256")
        claims = json.loads(parsed.payload)
    except (JWException, ValueError, TypeError, KeyError) as exc:
        raise ToolError(f"The id_token does not verify: {type(exc).__name__}.") from None
    if not isinstance(claims, dict):
        raise ToolError("The id_token payload is not an object.")
    return header, claims


def _http(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None, method: str | None = None,
          timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {},
                                     method=method or ("POST" if data else "GET"))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URLs)
            return response.status, response.read(1_000_000)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(1_000_000)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return 502, f"cannot reach {url}: {reason} (is the exams service running?)".encode()


# -- the tool ---------------------------------------------------------------------------------------
class DevTool:
    """The WSGI application. ``http`` and ``clock`` are injectable for tests."""

    def __init__(self, config: DevtoolConfig, *, http: Callable[..., tuple[int, bytes]] = _http,
                 clock: Callable[[], float] = time.time):
        self.config = config
        self._http = http
        self._clock = clock
        self._lock = threading.Lock()
        self._logins: dict[str, tuple[str, float]] = {}  # state -> (nonce, expires)
        self.sessions: dict[str, ProctoredSession] = {}
        self._token: tuple[str, float] | None = None
        self._routes: dict[str, tuple[tuple[str, ...], Callable[[Request], Response]]] = {
            "/": (("GET",), self.index),
            "/.well-known/jwks.json": (("GET",), self.jwks),
            "/login": (("GET", "POST"), self.login),
            "/launch": (("POST",), self.launch),
            "/proctor": (("GET",), self.proctor),
            "/proctor/report": (("POST",), self.report),
        }
        if config.sandbox is not None:
            self._routes.update(Sandbox(config.platform_issuer, config.sandbox, self._http).routes())

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            route = self._routes.get(request.path_info)
            if route is None:
                raise HTTPNotFound()
            methods, handler = route
            if request.method not in methods:
                raise HTTPMethodNotAllowed(headers={"Allow": ", ".join(methods)})
            response = handler(request)
        except ToolError as exc:
            response = _page("Refused", f"<p class='error'>{html.escape(str(exc))}</p>", status=400)
        except HTTPException as exc:
            response = exc
        except Exception:  # a development tool: show the failure, keep serving
            log.exception("devtool failed on %s %s", request.method, request.path_info)
            response = _page("Error", "<p class='error'>The tool failed; see its log.</p>", status=500)
        return response(environ, start_response)

    # -- pages --------------------------------------------------------------------------------
    def index(self, request: Request) -> Response:
        c = self.config
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td><code>{html.escape(v)}</code></td></tr>" for k, v in (
            ("Platform issuer", c.platform_issuer), ("Client id", c.client_id), ("Deployment id", c.deployment_id),
            ("OIDC login URL", c.login_url), ("Launch URL", c.launch_url), ("JWKS", f"{c.base_url}/.well-known/jwks.json"),
            ("Platform token URL", c.token_url)))
        return _page("Development proctoring tool",
                     f"<p>An LTI 1.3 proctoring tool for development. Start a proctored exam in the Learning MFE "
                     f"(or open <code>/lti/start_proctoring/&lt;attempt id&gt;</code> on the exams service) to be "
                     f"sent here.</p><table>{rows}</table><p><a href='/proctor'>Proctor console</a>"
                     + (" &middot; <a href='/sandbox' id='sandbox'>Sandbox: take a proctored exam as a learner</a>"
                        if self.config.sandbox else "") + "</p>")

    def jwks(self, request: Request) -> Response:
        return Response(json_body=self.config.public_jwks(), cache_control="max-age=60")

    def login(self, request: Request) -> Response:
        """OIDC third-party login initiation (step 1): answer with the authentication request (step 2)."""
        params = request.params
        if params.get("iss") != self.config.platform_issuer:
            raise ToolError("The login comes from an unknown platform (iss).")
        if params.get("client_id") not in (None, self.config.client_id):
            raise ToolError("The login names another client_id.")
        login_hint = params.get("login_hint")
        if not login_hint:
            raise ToolError("The login has no login_hint.")
        if params.get("target_link_uri") not in (None, self.config.launch_url):
            raise ToolError("The target_link_uri is not this tool's launch URL.")
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        with self._lock:
            now = self._clock()
            self._logins = {s: v for s, v in self._logins.items() if v[1] > now}
            self._logins[state] = (nonce, now + LOGIN_TTL)
        query = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
                 "client_id": self.config.client_id, "redirect_uri": self.config.launch_url,
                 "login_hint": login_hint, "state": state, "nonce": nonce}
        if params.get("lti_message_hint"):
            query["lti_message_hint"] = params["lti_message_hint"]
        return HTTPSeeOther(location=f"{self.config.auth_url}?{urllib.parse.urlencode(query)}")

    def launch(self, request: Request) -> Response:
        """The platform's form post (step 5): verify the id_token, then act on its message type."""
        if request.POST.get("error"):
            raise ToolError(f"The platform refused the launch: {request.POST.get('error')} "
                            f"{request.POST.get('error_description', '')}")
        state, token = request.POST.get("state"), request.POST.get("id_token")
        if not state or not token:
            raise ToolError("The launch has no state or no id_token.")
        with self._lock:
            pending = self._logins.pop(state, None)
        if pending is None or pending[1] < self._clock():
            raise ToolError("Unknown or expired state: start the launch again from the platform.")
        claims = self._verified_launch(token, expected_nonce=pending[0])
        message_type = claims.get(LTI + "message_type")
        if message_type == "LtiStartProctoring":
            return self._start_page(self._remember(claims))
        if message_type == "LtiEndAssessment":
            return self._end_page(claims)
        if message_type == "LtiResourceLinkRequest":
            return self._instructor_page(claims)
        raise ToolError("This tool does not handle that message type.")

    def _verified_launch(self, token: str, expected_nonce: str) -> dict[str, Any]:
        status, body = self._http(self.config.jwks_url)
        if status != 200:
            raise ToolError(f"The platform's JWKS answered {status}.")
        _, claims = verify(token, json.loads(body))
        now = self._clock()
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        checks = [
            (claims.get("iss") == self.config.platform_issuer, "iss is not the platform"),
            (self.config.client_id in audiences, "aud does not name this tool"),
            (isinstance(claims.get("exp"), (int, float)) and claims["exp"] + LEEWAY > now, "the id_token expired"),
            (isinstance(claims.get("iat"), (int, float)) and claims["iat"] - LEEWAY < now, "iat is in the future"),
            (claims.get("nonce") == expected_nonce, "the nonce is not the one this tool sent"),
            (claims.get(LTI + "version") == "1.3.0", "not LTI 1.3.0"),
            (claims.get(LTI + "deployment_id") == self.config.deployment_id, "unknown deployment_id"),
            (isinstance(claims.get("sub"), str) and claims["sub"], "no sub"),
        ]
        for ok, why in checks:
            if not ok:
                raise ToolError(f"The id_token is refused: {why}.")
        return claims

    def _remember(self, claims: dict[str, Any]) -> ProctoredSession:
        link = claims.get(LTI + "resource_link") or {}
        acs = claims.get(LTI_AP + "acs") or {}
        context = claims.get(LTI + "context") or {}
        presentation = claims.get(LTI + "launch_presentation") or {}
        start_url = claims.get(LTI_AP + "start_assessment_url")
        session_data = claims.get(LTI_AP + "session_data")
        attempt_number = claims.get(LTI_AP + "attempt_number")
        if not isinstance(start_url, str) or not isinstance(session_data, str) or not link.get("id"):
            raise ToolError("The LtiStartProctoring message lacks start_assessment_url, session_data or resource_link.")
        session = ProctoredSession(
            id=uuid.uuid4().hex, sub=claims["sub"], attempt_number=int(attempt_number),
            resource_link_id=link["id"], resource_link_title=link.get("title"), context_label=context.get("label"),
            session_data=session_data, start_assessment_url=start_url, acs_url=acs.get("assessment_control_url"),
            acs_actions=list(acs.get("actions") or []), return_url=presentation.get("return_url"))
        with self._lock:
            self.sessions[session.id] = session
        return session

    def start_assessment_jwt(self, session: ProctoredSession) -> str:
        """The tool's LtiStartAssessment (§1.4): the platform's values returned, signed with our key."""
        now = int(self._clock())
        return sign(self.config.key, {
            "iss": self.config.client_id, "aud": [self.config.platform_issuer], "iat": now,
            "exp": now + START_ASSESSMENT_TTL, "nonce": secrets.token_urlsafe(24),
            LTI + "message_type": "LtiStartAssessment", LTI + "version": "1.3.0",
            LTI + "deployment_id": self.config.deployment_id,
            LTI + "resource_link": {"id": session.resource_link_id},
            LTI_AP + "attempt_number": session.attempt_number, LTI_AP + "session_data": session.session_data,
            LTI_AP + "end_assessment_return": True,
        })

    def _start_page(self, session: ProctoredSession) -> Response:
        e = html.escape
        return _page("Proctoring: ready to start", f"""
<p>The platform launched proctoring for learner <code>{e(session.sub)}</code>, attempt
{session.attempt_number} of <code>{e(session.context_label or session.resource_link_id)}</code>.</p>
<p>A real vendor would now check the learner's identity and environment. Here the proctor just starts.</p>
<form method="post" action="{e(session.start_assessment_url, quote=True)}" id="start-assessment">
<input type="hidden" name="JWT" value="{e(self.start_assessment_jwt(session), quote=True)}">
<button type="submit" id="start">Start the assessment</button>
</form>
<p><a href="/proctor#{e(session.id, quote=True)}" target="_blank" rel="noopener" id="console">Open the proctor
console</a> to report on this attempt.</p>""")

    def _end_page(self, claims: dict[str, Any]) -> Response:
        presentation = claims.get(LTI + "launch_presentation") or {}
        return_url = presentation.get("return_url")
        back = ""
        if isinstance(return_url, str) and urllib.parse.urlsplit(return_url).scheme in ("http", "https"):
            back = f"<p><a id='return' href='{html.escape(return_url, quote=True)}'>Back to the exam</a></p>"
        return _page("Proctoring: assessment ended",
                     f"<p id='ended'>The platform ended attempt {html.escape(str(claims.get(LTI_AP + 'attempt_number')))}"
                     f" of learner <code>{html.escape(str(claims.get('sub')))}</code>.</p>{back}")

    def _instructor_page(self, claims: dict[str, Any]) -> Response:
        custom = claims.get(LTI + "custom") or {}
        roster = custom.get("roster_url") if isinstance(custom, dict) else None
        return _page("Proctoring: review dashboard",
                     "<p>The instructor's review dashboard of this tool. Reports are made from the "
                     "<a href='/proctor'>proctor console</a>.</p>"
                     + (f"<p>Roster: <code>{html.escape(str(roster))}</code></p>" if roster else ""))

    def proctor(self, request: Request) -> Response:
        with self._lock:
            sessions = list(self.sessions.values())
        if not sessions:
            return _page("Proctor console", "<p id='no-sessions'>No proctored attempt yet.</p>")
        blocks = []
        for s in reversed(sessions):
            e = html.escape
            buttons = "".join(
                f"<button type='submit' name='report' value='{kind}' id='{kind}-{s.id}'>{e(r['label'])}</button> "
                for kind, r in REPORTS.items())
            reports = "".join(f"<li>{e(line)}</li>" for line in s.reports) or "<li>none yet</li>"
            blocks.append(f"""
<section id="{e(s.id, quote=True)}">
<h2>Learner <code>{e(s.sub)}</code>, attempt {s.attempt_number}</h2>
<p>Resource link <code>{e(s.resource_link_id)}</code>; ACS <code>{e(s.acs_url or "not offered")}</code>.</p>
<form method="post" action="/proctor/report"><input type="hidden" name="session" value="{e(s.id, quote=True)}">
{buttons}</form>
<ol class="reports">{reports}</ol>
</section>""")
        return _page("Proctor console", "".join(blocks))

    def report(self, request: Request) -> Response:
        session = self.sessions.get(request.POST.get("session", ""))
        kind = request.POST.get("report", "")
        if session is None or kind not in REPORTS:
            raise ToolError("Unknown session or report.")
        line = self.send_report(session, kind)
        with self._lock:
            session.reports.append(line)
        return HTTPSeeOther(location=f"/proctor#{session.id}")

    # -- the Assessment Control Service, as a vendor calls it -----------------------------------
    def service_token(self) -> str:
        """A client-credentials token for the ACS scope (cached until shortly before it expires)."""
        now = self._clock()
        if self._token and self._token[1] > now + 30:
            return self._token[0]
        assertion = sign(self.config.key, {
            "iss": self.config.client_id, "sub": self.config.client_id, "aud": self.config.token_url,
            "iat": int(now), "exp": int(now) + 60, "jti": f"devtool-{uuid.uuid4()}"})
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                                       "client_assertion": assertion, "scope": ACS_SCOPE}).encode()
        status, body = self._http(self.config.token_url, data=form,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise ToolError(f"The token endpoint answered {status}: {body[:300].decode('utf-8', 'replace')}")
        answer = json.loads(body)
        self._token = (answer["access_token"], now + int(answer.get("expires_in", 60)))
        return self._token[0]

    def control_message(self, session: ProctoredSession, kind: str) -> dict[str, Any]:
        report = REPORTS[kind]
        return {"user": {"iss": self.config.platform_issuer, "sub": session.sub},
                "resource_link": {"id": session.resource_link_id}, "attempt_number": session.attempt_number,
                "action": report["action"], "incident_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._clock())),
                "incident_severity": report["incident_severity"], "reason_code": report["reason_code"],
                "reason_msg": report["label"]}

    def send_report(self, session: ProctoredSession, kind: str) -> str:
        """Post one report to the ACS; return a line saying what the platform answered."""
        if not session.acs_url:
            return f"{REPORTS[kind]['label']}: the platform offered no ACS."
        try:
            token = self.service_token()
        except ToolError as exc:
            return f"{REPORTS[kind]['label']}: {exc}"
        status, body = self._http(session.acs_url, data=json.dumps(self.control_message(session, kind)).encode(),
                                  headers={"Content-Type": ACS_MEDIA_TYPE, "Authorization": f"Bearer {token}"})
        text = body[:300].decode("utf-8", "replace")
        log.info("ACS %s for attempt %s of %s: %s %s", kind, session.attempt_number, session.sub, status, text)
        return f"{REPORTS[kind]['label']}: {status} {text}"


def load_or_create_key(path: str) -> jwk.JWK:
    """The tool's private RSA key, kept in ``path`` (created, readable by the owner only, when missing)."""
    import os

    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            return jwk.JWK.from_json(fh.read())
    key = jwk.JWK.generate(kty="RSA", size=2048)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key.export_private())
    return key
