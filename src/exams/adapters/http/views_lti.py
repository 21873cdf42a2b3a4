"""LTI 1.3 Proctoring Services endpoints, at the URLs edx-exams and xblock-lti-consumer 9.14.3 have.

The learner's browser reaches these by top-level navigations carrying the LMS JWT cookie. A launch is
bound to that browser by the launch cookie (signed, HttpOnly, path /lti/, SameSite=None; Secure when
``exams.cookies.secure``, else Lax), set by the views that start a launch, and to the server-side launch
state named by the single-use ``lti_message_hint``. The browser-facing protocol endpoints (OIDC
authentication, LtiStartAssessment) answer refusals with a short HTML page; the others with JSON.
"""

from __future__ import annotations

import html
import secrets

from pyramid.httpexceptions import HTTPFound, HTTPSeeOther
from pyramid.response import Response
from pyramid.view import exception_view_config, view_config
from webob.cookies import SignedSerializer

from exams.domain.errors import DomainError
from exams.domain.users import User
from exams.ports.lti import LaunchRejected
from exams.services.lti import AuthenticationRequest, Browser

from .auth import require_user
from .errors import NO_STORE, ApiError, method_not_allowed, status_for
from .request_data import form_params, path_int
from .runtime import RUNTIME

LAUNCH_COOKIE = "exams_lti_launch"
COOKIE_PATH = "/lti/"

# (route name, pattern, methods). The OIDC endpoint takes an optional suffix, as xblock-lti-consumer's does.
LTI_ROUTES = [
    ("lti_start_proctoring", r"/lti/start_proctoring/{attempt_id:\d+}", ("GET",)),
    ("lti_end_assessment", r"/lti/end_assessment/{attempt_id:\d+}", ("GET",)),
    ("lti_instructor_tool", r"/lti/exam/{exam_id:\d+}/instructor_tool", ("GET",)),
    ("lti_roster", r"/lti/exam/{exam_id:\d+}/instructor_tool/roster", ("GET",)),
    ("lti_authenticate", r"/lti/lti_consumer/v1/launch{suffix:(/[^?#]*)?}", ("GET", "POST")),
    ("lti_start_assessment", r"/lti/lti_consumer/v1/start_proctoring_assessment{slash:/?}", ("POST",)),
    ("lti_jwks", r"/lti/lti_consumer/v1/public_keysets/{registration_id:[^/]+}{slash:/?}", ("GET",)),
    ("browser_lock", r"/browser_lock/", ("GET",)),
]

OIDC_PARAMETERS = ("client_id", "redirect_uri", "scope", "response_type", "response_mode", "prompt",
                   "login_hint", "lti_message_hint", "state", "nonce")


class LaunchCookies:
    """Reads and writes the launch cookie: ``{"u": user id, "b": browser secret}``, signed."""

    def __init__(self, secret: str, *, secure: bool, max_age: int):
        self._serializer = SignedSerializer(secret, salt="exams.lti.launch-cookie", hashalg="sha256")
        self._secure = secure
        self._max_age = max_age

    def read(self, request) -> Browser | None:
        raw = request.cookies.get(LAUNCH_COOKIE)
        if not raw or len(raw) > 512:
            return None
        try:
            value = self._serializer.loads(raw.encode("ascii"))
        except (ValueError, TypeError, UnicodeError):
            return None
        if not isinstance(value, dict):
            return None
        user_id, secret = value.get("u"), value.get("b")
        if not isinstance(user_id, int) or isinstance(user_id, bool) or not isinstance(secret, str) or not secret:
            return None
        return Browser(user_id=user_id, secret=secret)

    def for_user(self, request, user: User) -> Browser:
        """This browser's launch identity for ``user``: kept if it is theirs, so earlier launches stay valid."""
        current = self.read(request)
        if current is not None and current.user_id == user.id:
            return current
        return Browser(user_id=user.id, secret=secrets.token_urlsafe(32))

    def set(self, response: Response, browser: Browser) -> None:
        value = self._serializer.dumps({"u": browser.user_id, "b": browser.secret}).decode("ascii")
        response.set_cookie(LAUNCH_COOKIE, value, max_age=self._max_age, path=COOKIE_PATH, httponly=True,
                            secure=self._secure, samesite="None" if self._secure else "Lax")


class LtiPageError(Exception):
    """A refused browser-facing LTI request: a short HTML page with this status."""

    def __init__(self, status: int, message: str, code: str):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def includeme(config) -> None:
    for name, pattern, methods in LTI_ROUTES:
        config.add_route(name, pattern)
        config.add_view(method_not_allowed(methods), route_name=name)
    runtime = config.registry.settings[RUNTIME]
    settings = runtime.settings
    cookies = LaunchCookies(runtime.lti_cookie_secret, secure=settings["exams.cookies.secure"],
                            max_age=max(settings["exams.lti.session_ttl"], settings["exams.lti.launch_ttl"]))
    config.add_request_method(lambda request: cookies, "lti_cookies", reify=True)
    config.add_request_method(lambda request: runtime.lti_form_renderer, "lti_render_form", reify=True)


def _page(status: int, title: str, body_html: str, headers: dict | None = None) -> Response:
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="robots" content="noindex">\n<title>{html.escape(title)}</title>\n</head>\n'
            f'<body>\n{body_html}\n</body>\n</html>\n')
    response = Response(page, status=status, content_type="text/html", charset="utf-8")
    response.headers.update({**NO_STORE, "Content-Security-Policy": "default-src 'none'; base-uri 'none'",
                             "X-Content-Type-Options": "nosniff", **(headers or {})})
    return response


@exception_view_config(LtiPageError)
def lti_page_error(exc, request):
    return _page(exc.status, "Proctoring launch refused",
                 f"<h1>Proctoring launch refused</h1>\n<p>{html.escape(exc.message)}</p>\n"
                 f"<p><small>{html.escape(exc.code)}</small></p>")


def _as_page_error(exc: Exception) -> LtiPageError:
    if isinstance(exc, LaunchRejected):
        return LtiPageError(400, exc.reason, str(exc.code))
    if isinstance(exc, ApiError):
        detail = exc.body.get("detail") if isinstance(exc.body, dict) else None
        return LtiPageError(exc.status, detail or "Refused.", "refused")
    assert isinstance(exc, DomainError)
    return LtiPageError(status_for(exc), exc.detail, exc.code)


def _redirect(request, location: str, browser: Browser | None = None) -> Response:
    response = HTTPFound(location=location, headers={**NO_STORE, "Referrer-Policy": "no-referrer"})
    if browser is not None:
        request.lti_cookies.set(response, browser)
    return response


# -- learner and instructor navigations (JWT cookie) ---------------------------------------------------
def _navigate(request, use_case, id_name: str) -> Response:
    """A signed-in learner's or instructor's navigation: run the launch use case, redirect, bind the browser."""
    user = require_user(request)
    browser = request.lti_cookies.for_user(request, user)
    location = use_case(user, path_int(request, id_name), browser)
    return _redirect(request, location, browser)


@view_config(route_name="lti_start_proctoring", request_method="GET")
def start_proctoring(request):
    return _navigate(request, request.services.lti.start_proctoring, "attempt_id")


@view_config(route_name="lti_end_assessment", request_method="GET")
def end_assessment(request):
    return _navigate(request, request.services.lti.end_assessment, "attempt_id")


@view_config(route_name="lti_instructor_tool", request_method="GET")
def instructor_tool(request):
    return _navigate(request, request.services.lti.instructor_launch, "exam_id")


@view_config(route_name="lti_roster", request_method="GET", renderer="json")
def roster(request):
    # The tool's instructor page may call this from its own origin: the launch cookie, set by the
    # instructor_tool launch, identifies the instructor when the LMS JWT cookie does not come along.
    user = request.user
    if user is None:
        browser = request.lti_cookies.read(request)
        user = request.services.repos.users.get(browser.user_id) if browser else None
    if user is None:
        user = require_user(request)
    return request.services.lti.roster(user, path_int(request, "exam_id"))


# -- the tool's messages, through the browser -------------------------------------------------------
def _oidc_request(request) -> AuthenticationRequest:
    try:
        params = form_params(request, query=request.method != "POST")
    except ApiError as exc:
        raise _as_page_error(exc) from None
    values = {}
    for name in OIDC_PARAMETERS:
        found = params.getall(name)
        if len(found) > 1:
            raise LtiPageError(400, f"The parameter {name} is repeated.", "invalid_request")
        values[name] = found[0] if found else None
    return AuthenticationRequest(**values)


@view_config(route_name="lti_authenticate", request_method=("GET", "POST"))
def authenticate(request):
    """The OIDC authentication endpoint: answers the id_token as an auto-submitting form (never a redirect)."""
    oidc = _oidc_request(request)
    browser = request.lti_cookies.read(request)
    try:
        signed_in = request.user
    except ApiError:
        signed_in = None
    try:
        form = request.services.lti.authenticate(oidc, browser, signed_in)
    except (DomainError, LaunchRejected) as exc:
        raise _as_page_error(exc) from None
    script_nonce = secrets.token_urlsafe(16)
    page = request.lti_render_form(form.action, form.fields, script_nonce=script_nonce)
    response = Response(page, status=200, content_type="text/html", charset="utf-8")
    response.headers.update({
        **NO_STORE,
        "Content-Security-Policy": f"default-src 'none'; script-src 'nonce-{script_nonce}'; base-uri 'none'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    })
    return response


@view_config(route_name="lti_start_assessment", request_method="POST")
def start_assessment(request):
    """The tool's LtiStartAssessment (form field JWT): the attempt becomes ready_to_start."""
    try:
        tokens = form_params(request).getall("JWT")
    except ApiError as exc:
        raise _as_page_error(exc) from None
    if len(tokens) > 1:
        raise LtiPageError(400, "The parameter JWT is repeated.", "invalid_request")
    browser = request.lti_cookies.read(request)
    try:
        location = request.services.lti.start_assessment(tokens[0] if tokens else None, browser)
    except (DomainError, LaunchRejected) as exc:
        raise _as_page_error(exc) from None
    return HTTPSeeOther(location=location, headers={**NO_STORE, "Referrer-Policy": "no-referrer"})


# -- public -----------------------------------------------------------------------------------------------
@view_config(route_name="lti_jwks", request_method="GET", renderer="json")
def jwks(request):
    keyset = request.services.lti.jwks(request.matchdict["registration_id"])
    request.response.headers["Cache-Control"] = "public, max-age=300"
    return keyset


BROWSER_LOCK_PAGE = (
    "<h1>Starting your proctoring software</h1>\n"
    "<p>Your proctoring software takes over from here. If nothing happens, check that it is installed and "
    "enabled, then start again from the exam page.</p>"
)


@view_config(route_name="browser_lock", request_method="GET")
def browser_lock(request):
    """The page the tool opens through the ``custom_url`` claim; the proctoring extension takes it over."""
    return _page(200, "Proctoring", BROWSER_LOCK_PAGE, {"Cache-Control": "public, max-age=3600"})
