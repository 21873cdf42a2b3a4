"""The console's pages and actions. Views stay thin: every rule is in the services (``request.services``).

Every page needs a signed-in operator (global staff, or staff of at least one course); every action is a POST
with the session's CSRF token; a course staff member asking for another course's things gets a 404.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from urllib.parse import urlencode

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.renderers import render_to_response
from pyramid.view import exception_view_config, notfound_view_config, view_config

from exams.domain.attempts import AttemptStatus
from exams.domain.console import Operator
from exams.domain.errors import DomainError, Forbidden, NotFound
from exams.ports.auth import InvalidToken
from exams.ports.console import AttemptQuery

from ..auth import claims_to_identity
from ..errors import ApiError
from .session import STATE_TTL, OAuth2Error, csrf_ok

log = logging.getLogger(__name__)


class ConsoleError(Exception):
    """An HTML error page of the console (the request changes nothing: the transaction is aborted)."""

    def __init__(self, status: int, title: str, message: str = ""):
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


def now(request) -> datetime:
    return request.console_clock.now()


def page(request, template: str, status: int = 200, **context):
    context.setdefault("operator", getattr(request, "_console_operator", None))
    context.setdefault("csrf_token", getattr(request, "_console_csrf", ""))
    context.setdefault("errors", {})
    context.setdefault("values", {})
    context["request"] = request
    response = render_to_response(template, context, request=request)
    response.status_int = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'self'; img-src 'self'; "
                                                   "form-action 'self' " + _lms_origin(request) +
                                                   "; frame-ancestors 'none'; base-uri 'none'")
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _lms_origin(request) -> str:
    return request.settings["exams.lms_root_url"]


def redirect(request, route: str, _query: dict | None = None, **kw):
    url = request.route_url(route, **kw)
    if _query:
        url += "?" + urlencode(_query)
    return HTTPSeeOther(location=url)


def _operator(request) -> Operator | None:
    session = request.console_cookies.read(request, now(request))
    if session is None:
        return None
    operator = request.services.console.operator_by_id(session.user_id)
    if operator is None or not operator.may_enter:
        return None
    request._console_session = session
    request._console_csrf = session.csrf
    request._console_operator = operator
    return operator


def console_view(route: str, template: str | None = None, *, method: str = "GET"):
    """A console page (GET) or action (POST): signed-in operator, CSRF for POST, domain errors as HTML."""

    def wrap(fn):
        @functools.wraps(fn)
        def view(request):
            operator = _operator(request)
            if operator is None:
                if method == "GET":
                    return redirect(request, "console_login", {"next": request.path_qs})
                raise ConsoleError(403, "Sign in again", "Your console session has ended. Nothing was changed.")
            if method == "POST" and not csrf_ok(request, request._console_session):
                raise ConsoleError(403, "Form expired", "The form's security token is missing or wrong. "
                                   "Nothing was changed; go back, reload the page and try again.")
            try:
                return fn(request, operator)
            except NotFound as exc:
                raise ConsoleError(404, "Not found", exc.detail) from None
            except Forbidden:
                # Another course's thing: it does not exist for this operator.
                raise ConsoleError(404, "Not found", "Not found.") from None

        view_config(route_name=route, request_method=method, _depth=1)(view)
        return view
    return wrap


@exception_view_config(ConsoleError)
def console_error(exc, request):
    if getattr(request, "tm", None) is not None:
        request.tm.doom()  # pyramid_tm aborts anyway on an exception view; this makes it explicit
    return page(request, "error.html", status=exc.status, title=exc.title, message=exc.message)


@notfound_view_config(path_info=r"^/console(/|$)")
def console_not_found(exc, request):
    return page(request, "error.html", status=404, title="Not found", message="There is no such page.")


# -- sign-in -------------------------------------------------------------------------------------------------
def _safe_next(value: str | None) -> str:
    """Only a path of the console (no scheme, no host): never an open redirect."""
    if not value or not value.startswith("/console/") or value.startswith("//") or "\\" in value:
        return "/console/"
    return value


@view_config(route_name="console_login", request_method="GET")
def login_page(request):
    oauth = request.console_oauth
    return page(request, "login.html", next=_safe_next(request.GET.get("next")), oauth_enabled=oauth.enabled)


@view_config(route_name="console_login_start", request_method="GET")
def login_start(request):
    oauth = request.console_oauth
    if not oauth.enabled:
        raise ConsoleError(404, "Sign-in with the LMS is not configured",
                           "Set exams.console.oauth_client_id and exams.console.oauth_client_secret.")
    response = HTTPSeeOther()
    state = request.console_cookies.new_state(response, now(request), _safe_next(request.GET.get("next")))
    response.location = oauth.authorize_url(request.route_url("console_oauth_callback"), state)
    return response


def _sign_in(request, user, next_url: str):
    operator = request.services.console.operator(user)
    if not operator.may_enter:
        raise ConsoleError(403, "No access", "The console is for global staff and course teams. "
                           "Ask an administrator to add you to a course team.")
    response = HTTPSeeOther(location=request.application_url + next_url)
    request.console_cookies.start(response, user.id, now(request))
    request.services.console.record(operator, "console.sign_in")
    return response


@view_config(route_name="console_oauth_callback", request_method="GET")
def oauth_callback(request):
    cookies, console = request.console_cookies, request.services.console
    probe = request.response
    taken = cookies.take_state(request, probe, now(request))
    state = request.GET.get("state", "")
    if taken is None or not state or taken[0] != state or \
            not console.use_once("console-oauth:" + state[:80], now(request) + timedelta(seconds=STATE_TTL)):
        raise ConsoleError(400, "Sign-in failed", "This sign-in link was already used or has expired. "
                           "Start again from the sign-in page.")
    if request.GET.get("error") or not request.GET.get("code"):
        raise ConsoleError(400, "Sign-in failed", "The LMS did not authorize the sign-in.")
    try:
        token = request.console_oauth.exchange(request.GET["code"],
                                                        request.route_url("console_oauth_callback"))
        claims = request.jwt_verifier.verify(token)
        identity = claims_to_identity(claims)
    except OAuth2Error as exc:
        log.warning("console sign-in: %s", exc)
        raise ConsoleError(502, "Sign-in failed", "The LMS did not give a token; try again later.") from None
    except (InvalidToken, ApiError):
        raise ConsoleError(400, "Sign-in failed", "The LMS's token could not be verified.") from None
    if identity.is_restricted:
        raise ConsoleError(403, "No access", "This account may not use the console.")
    user = request.services.users.provision(identity)
    response = _sign_in(request, user, taken[1])
    response.headers.extend([(k, v) for k, v in probe.headerlist if k.lower() == "set-cookie"])
    return response


def _link_allowed(request) -> None:
    if not request.settings["exams.demo.enabled"]:
        raise ConsoleError(404, "Not found", "One-time sign-in links are for development (exams.demo.enabled).")


@view_config(route_name="console_link", request_method="GET")
def link_page(request):
    _link_allowed(request)
    found = request.console_cookies.read_link(request.GET.get("token", ""), now(request))
    if found is None:
        raise ConsoleError(400, "Sign-in link not valid", "The link is broken or has expired.")
    return page(request, "link.html", username=found[0], token=request.GET["token"])


@view_config(route_name="console_link", request_method="POST")
def link_use(request):
    _link_allowed(request)
    found = request.console_cookies.read_link(request.POST.get("token", ""), now(request))
    if found is None or not request.services.console.use_once("console-link:" + found[1], found[2]):
        raise ConsoleError(400, "Sign-in link not valid", "The link is broken, has expired or was already used.")
    user = request.services.repos.users.get_by_username(found[0])
    if user is None:
        raise ConsoleError(400, "Sign-in link not valid", "No such user.")
    return _sign_in(request, user, "/console/")


@console_view("console_logout", method="POST")
def logout(request, operator):
    response = redirect(request, "console_login")
    request.console_cookies.end(response)
    request.services.console.record(operator, "console.sign_out")
    return response


@console_view("console_home")
def home(request, operator):
    console = request.services.console
    return page(request, "home.html", courses=console.courses(operator)[:50],
                audit=console.audit(operator, limit=10))


# -- attempts ------------------------------------------------------------------------------------------------
STATUSES = [s.value for s in AttemptStatus]


def _search_query(request) -> tuple[AttemptQuery, dict, dict]:
    values = {k: (request.GET.get(k) or "").strip() for k in ("username", "email", "course_id", "exam_id", "status")}
    errors = {}
    exam_id = None
    if values["exam_id"]:
        if values["exam_id"].isascii() and values["exam_id"].isdigit() and len(values["exam_id"]) < 10:
            exam_id = int(values["exam_id"])
        else:
            errors["exam_id"] = "An exam id is a whole number."
    status = None
    if values["status"]:
        if values["status"] in STATUSES:
            status = AttemptStatus(values["status"])
        else:
            errors["status"] = "Choose a status from the list."
    for key in ("username", "email", "course_id"):
        if len(values[key]) > 255:
            errors[key] = "At most 255 characters."
    return AttemptQuery(values["username"], values["email"], values["course_id"], exam_id, status), values, errors


@console_view("console_attempts")
def attempts(request, operator):
    query, values, errors = _search_query(request)
    rows = []
    if not errors and not query.empty:
        try:
            rows = request.services.console.search(operator, query)
        except NotFound:
            rows = []  # a course this operator cannot see has no attempts for them
    return page(request, "attempts.html", status=400 if errors else 200, rows=rows, values=values, errors=errors,
                searched=not query.empty, statuses=STATUSES, now=now(request))


@console_view("console_attempt")
def attempt(request, operator):
    detail = request.services.console.attempt(operator, int(request.matchdict["attempt_id"]))
    return page(request, "attempt.html", d=detail, now=now(request))


ACTION_TEXT = {
    "verify": ("Verify", "Mark the attempt as verified (the review passed)."),
    "reject": ("Reject", "Mark the attempt as rejected (the review failed)."),
    "reset": ("Reset", "Delete the attempt so that the learner can start again. The history is kept."),
    "resume": ("Resume", "Start the errored attempt again with the time the learner had left when it failed."),
}


@console_view("console_attempt_action")
def attempt_action_confirm(request, operator):
    detail = request.services.console.attempt(operator, int(request.matchdict["attempt_id"]))
    action = request.matchdict["action"]
    return page(request, "confirm.html", d=detail, action=action, action_text=ACTION_TEXT[action])


@console_view("console_attempt_action", method="POST")
def attempt_action(request, operator):
    attempt_id, action = int(request.matchdict["attempt_id"]), request.matchdict["action"]
    console = request.services.console
    reason = request.POST.get("reason", "")
    try:
        after = console.act(operator, attempt_id, action, reason)
    except (NotFound, Forbidden):
        raise
    except DomainError as exc:
        request.tm.doom()
        detail = console.attempt(operator, attempt_id)
        field = "reason" if exc.code in ("reason_required", "reason_too_long") else "form"
        return page(request, "confirm.html", status=400, d=detail, action=action, action_text=ACTION_TEXT[action],
                    errors={field: exc.detail}, values={"reason": reason})
    if after == "reset":
        return redirect(request, "console_attempts", {"notice": f"Attempt {attempt_id} was reset."})
    return redirect(request, "console_attempt", attempt_id=attempt_id)
