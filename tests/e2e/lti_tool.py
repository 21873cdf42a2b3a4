"""A real LTI 1.3 proctoring tool for the end-to-end tests, built on the tool library pylti1p3.

pylti1p3 knows no proctoring messages, so its message validation is subclassed; everything else (OIDC login,
state cookie, nonce, our JWKS fetched and the id_token verified with PyJWT, deployment) is the library's
own code: an independent check of what our platform sends. The tool answers LtiStartProctoring with an
auto-submitting LtiStartAssessment form, and records every launch it validated (and every one it refused).

Also served here: a stand-in Learning MFE (``/mfe/...``), where the platform sends the learner back.
"""

from __future__ import annotations

import html
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwcrypto.jwk import JWK
from pylti1p3.cookie import CookieService
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.message_validators.abstract import MessageValidatorAbstract
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from pylti1p3.registration import Registration
from pylti1p3.request import Request
from pylti1p3.session import SessionService
from pylti1p3.tool_config import ToolConfDict
from webob import Request as WebobRequest
from webob import Response

from tests.served import ServedApp

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LTI_AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
SESSION_COOKIE = "proctor-session"


class Served(ServedApp):
    """A WSGI app on a free port of 127.0.0.1, served by waitress in a thread until ``close()``."""

    def __init__(self):
        super().__init__(threads=4, name="e2e")


# -- pylti1p3 glue for WebOb (the library ships Django and Flask glue only) -----------------------------
class ToolRequest(Request):
    def __init__(self, request: WebobRequest, session: dict):
        self._request = request
        self._session = session

    @property
    def session(self):
        return self._session

    def is_secure(self) -> bool:
        return self._request.scheme == "https"

    def get_param(self, key: str):
        params = self._request.POST if self._request.method == "POST" else self._request.GET
        return params.get(key)

    def get_cookie(self, name: str):
        return self._request.cookies.get(name)


class ToolCookies(CookieService):
    def __init__(self, request: ToolRequest):
        self._request = request
        self._to_set: dict[str, tuple[str, int]] = {}

    def _key(self, name: str) -> str:
        return f"{self._cookie_prefix}-{name}"

    def get_cookie(self, name):
        return self._request.get_cookie(self._key(name))

    def set_cookie(self, name, value, exp=3600):
        self._to_set[self._key(name)] = (str(value), exp)

    def apply(self, response: Response) -> None:
        for key, (value, exp) in self._to_set.items():
            response.set_cookie(key, value, max_age=exp, path="/", httponly=True)


class ToolRedirect(Redirect):
    def __init__(self, location: str, cookies: ToolCookies):
        self._location = location
        self._cookies = cookies

    def do_redirect(self):
        response = Response(status=302, location=self._location)
        self._cookies.apply(response)
        return response

    def do_js_redirect(self):
        return self.do_redirect()

    def set_redirect_url(self, location):
        self._location = location

    def get_redirect_url(self):
        return self._location


class ToolLogin(OIDCLogin):
    def get_redirect(self, url):
        return ToolRedirect(url, self._cookie_service)


class ProctoringValidator(MessageValidatorAbstract):
    """The checks a proctoring tool adds for the messages pylti1p3 does not know."""

    def can_validate(self, jwt_body) -> bool:
        return jwt_body.get(LTI + "message_type") in ("LtiStartProctoring", "LtiEndAssessment")

    def validate(self, jwt_body) -> bool:
        self.run_common_validators(jwt_body)
        if not isinstance((jwt_body.get(LTI + "resource_link") or {}).get("id"), str):
            raise LtiException("Missing resource link id")
        number = jwt_body.get(LTI_AP + "attempt_number")
        if not isinstance(number, int) or number < 1:
            raise LtiException("Missing attempt_number")
        if jwt_body[LTI + "message_type"] == "LtiStartProctoring":
            for claim in ("session_data", "start_assessment_url"):
                if not jwt_body.get(LTI_AP + claim):
                    raise LtiException(f"Missing {claim}")
        return True


class ProctoringLaunch(MessageLaunch):
    """pylti1p3's launch validation, plus the proctoring message types."""

    def _get_request_param(self, key):
        return self._request.get_param(key)

    def validate_message(self):
        validator = ProctoringValidator()
        if validator.can_validate(self._get_jwt_body()):
            if not validator.validate(self._get_jwt_body()):
                raise LtiException("Message validation failed")
            return self
        return super().validate_message()


# -- the tool ------------------------------------------------------------------------------------------
@dataclass
class ProctoringTool:
    """One proctoring vendor: its keys, its registration at our platform, and what it saw."""

    served: Served
    client_id: str = "pylti1p3-proctor"
    end_assessment_return: bool = True
    key: JWK = field(default_factory=lambda: JWK.generate(kty="RSA", size=2048))
    launches: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    config: ToolConfDict | None = None
    platform_issuer: str = ""

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def login_url(self) -> str:
        return self.url + "/login"

    @property
    def launch_url(self) -> str:
        return self.url + "/launch"

    @property
    def jwks_url(self) -> str:
        return self.url + "/jwks"

    @property
    def mfe_url(self) -> str:
        return self.url + "/mfe"

    def private_pem(self) -> str:
        return self.key.export_to_pem(private_key=True, password=None).decode()

    def public_pem(self) -> str:
        return self.key.export_to_pem().decode()

    def configure(self, vendor: dict[str, Any]) -> None:
        """Configure the tool with what the operator gave the vendor (``provider add`` output)."""
        self.platform_issuer = vendor["issuer"]
        self.config = ToolConfDict({vendor["issuer"]: [{
            "default": True, "client_id": vendor["client_id"], "auth_login_url": vendor["oidc_auth_url"],
            "auth_token_url": vendor["token_url"], "key_set_url": vendor["jwks_url"],
            "deployment_ids": [vendor["deployment_id"]]}]})
        self.config.set_public_key(vendor["issuer"], self.public_pem(), client_id=vendor["client_id"])
        self.config.set_private_key(vendor["issuer"], self.private_pem(), client_id=vendor["client_id"])

    def registration(self) -> Registration:
        """The pylti1p3 registration (e.g. for its ``ServiceConnector``)."""
        return self.config.find_registration(self.platform_issuer)

    def last(self, message_type: str) -> dict[str, Any]:
        return [launch for launch in self.launches if launch[LTI + "message_type"] == message_type][-1]

    # -- WSGI ------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = WebobRequest(environ)
        session_id = request.cookies.get(SESSION_COOKIE) or uuid.uuid4().hex
        session = self.sessions.setdefault(session_id, {})
        tool_request = ToolRequest(request, session)
        path = request.path_info
        try:
            if path == "/login":
                response = ToolLogin(tool_request, self.config, SessionService(tool_request),
                                     ToolCookies(tool_request)).redirect(self.launch_url)
            elif path == "/launch" and request.method == "POST":
                response = self._launch(tool_request)
            elif path == "/jwks":
                response = Response(json=self.config.get_jwks())
            elif path.startswith("/mfe/"):
                response = Response(f"<!DOCTYPE html><title>Exam</title><h1 id='exam'>Exam page {html.escape(path)}"
                                    "</h1>", content_type="text/html")
            else:
                response = Response("not found", status=404)
        except (LtiException, OIDCException) as exc:
            self.refusals.append(str(exc))
            response = Response(f"<h1 id='refused'>{html.escape(str(exc))}</h1>", status=400, content_type="text/html")
        response.set_cookie(SESSION_COOKIE, session_id, path="/", httponly=True)
        return response(environ, start_response)

    def _launch(self, tool_request: ToolRequest) -> Response:
        cookies = ToolCookies(tool_request)
        launch = ProctoringLaunch(tool_request, self.config, session_service=SessionService(tool_request),
                                  cookie_service=cookies)
        claims = launch.get_launch_data()  # validates: state, nonce, registration, signature, deployment, message
        self.launches.append(claims)
        message_type = claims[LTI + "message_type"]
        if message_type == "LtiStartProctoring":
            token = self.start_assessment(claims)
            return _autosubmit(claims[LTI_AP + "start_assessment_url"], {"JWT": token}, "Identity verified")
        if message_type == "LtiEndAssessment":
            # Shown long enough for a browser test polling every 0.5 s to see it, then back to the course.
            back = claims[LTI + "launch_presentation"]["return_url"]
            return Response(f"<!DOCTYPE html><title>Ended</title><h1 id='ended'>Proctoring ended</h1>"
                            f"<a id='back' href='{html.escape(back, quote=True)}'>Back to the course</a>"
                            f"<script>setTimeout(function(){{document.getElementById('back').click();}}, 1500);</script>",
                            content_type="text/html")
        return Response("<!DOCTYPE html><title>Review</title><h1 id='dashboard'>Review dashboard</h1>",
                        content_type="text/html")

    def start_assessment(self, launch: dict[str, Any], **overrides) -> str:
        """The LtiStartAssessment this tool signs in answer to ``launch`` (signed like pylti1p3's DeepLink)."""
        now = int(time.time())
        claims = {
            "iss": self.client_id, "aud": [launch["iss"]], "iat": now, "exp": now + 600, "nonce": uuid.uuid4().hex,
            LTI + "message_type": "LtiStartAssessment", LTI + "version": "1.3.0",
            LTI + "deployment_id": launch[LTI + "deployment_id"],
            LTI + "resource_link": launch[LTI + "resource_link"],
            LTI_AP + "attempt_number": launch[LTI_AP + "attempt_number"],
            LTI_AP + "session_data": launch[LTI_AP + "session_data"],
            LTI_AP + "end_assessment_return": self.end_assessment_return,
            LTI_AP + "verified_user": {"given_name": "Ada"},
            **overrides,
        }
        registration = self.registration()
        return jwt.encode(claims, registration.get_tool_private_key(), algorithm="RS256",
                          headers={"kid": registration.get_kid()})


def _autosubmit(action: str, fields: dict[str, str], title: str) -> Response:
    inputs = "".join(f'<input type="hidden" name="{html.escape(k, quote=True)}" value="{html.escape(v, quote=True)}">'
                     for k, v in fields.items())
    page = (f'<!DOCTYPE html><title>{html.escape(title)}</title><form id="next" method="post" '
            f'action="{html.escape(action, quote=True)}">{inputs}</form>'
            '<script>document.getElementById("next").submit();</script>')
    return Response(page, content_type="text/html")
