"""The learner's attempt API (special-exams library) and the instructor's (exams dashboard)."""

from __future__ import annotations

import re

from pyramid.view import view_config

from exams.services.attempts import AllowanceRequest

from . import presenters
from .auth import require_user
from .errors import ApiError, bad_request, forbidden, invalid_data
from .request_data import json_body, path_int, path_text, query_text, valid_id
from .responses import json_response
from .schemas import allowance_item_schema, deserialize_each


def _mfe_url(request) -> str:
    return request.settings["exams.learning_mfe_url"]


def _start_clock(value) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad_request('start_clock must be "true" or "false".')


@view_config(route_name="attempts", request_method="POST", renderer="json")
def create_attempt(request):
    user = require_user(request)
    body = json_body(request, allow_form=True) or {}
    if not isinstance(body, dict):
        raise bad_request("Expected a JSON object.")
    raw_exam_id = body.get("exam_id")
    exam_id = valid_id(raw_exam_id)  # outside the column's range no exam can have it
    if exam_id is None:
        raise bad_request(f"Exam with exam_id={raw_exam_id if isinstance(raw_exam_id, (str, int)) else None} "
                          "does not exist.", code="exam_not_found")
    attempt = request.services.attempts.create(user, exam_id, _start_clock(body.get("start_clock")))
    return {"exam_attempt_id": attempt.id}


@view_config(route_name="attempt", request_method="PUT", renderer="json")
def update_attempt(request):
    user = require_user(request)
    body = json_body(request, allow_form=True) or {}
    action = body.get("action") if isinstance(body, dict) else None
    attempt = request.services.attempts.act(user, path_int(request, "attempt_id"), action)
    return {"exam_attempt_id": attempt.id}


@view_config(route_name="attempt", request_method="DELETE", renderer="json")
def delete_attempt(request):
    user = require_user(request)
    request.services.attempts.reset(user, path_int(request, "attempt_id"))
    request.response.status_int = 204
    request.response.content_type = None
    return request.response


@view_config(route_name="latest_attempt", request_method="GET")
def latest_attempt(request):
    user = require_user(request)
    # A percent-encoded usage key (a raw "+" in a query string is a space); control characters are a 400.
    attempt, exam = request.services.attempts.latest(user, query_text(request, "content_id"))
    return json_response(latest_answer(request, attempt, exam))


def latest_answer(request, attempt, exam) -> dict:
    if attempt is None:
        return {}
    return presenters.student_attempt(attempt, exam, request.services.attempts.now(), _mfe_url(request))


@view_config(route_name="student_exam", request_method="GET")
def student_exam(request):
    user = require_user(request)
    path_text(request, "course_id")  # refused when no course key can be (400), as on every course route
    view = request.services.attempts.learner_exam(user, path_text(request, "content_id"))
    if view is None:
        return json_response({"exam": {}})
    e = view.exam
    data = presenters.exam(e)
    data.update({
        "type": e.exam_type.value,
        "is_proctored": e.exam_type.is_proctored,
        "is_practice_exam": e.exam_type.is_practice,
        "backend": view.provider.verbose_name if view.provider else None,
        "passed_due_date": view.passed_due_date,
        "total_time": view.total_time,
        "attempt": presenters.student_attempt(view.attempt, e, request.services.attempts.now(), _mfe_url(request))
        if view.attempt else {},
    })
    return json_response({"exam": data})


@view_config(route_name="provider_settings", request_method="GET", renderer="json")
def provider_settings(request):
    require_user(request)
    provider, config = request.services.attempts.provider_settings(
        path_text(request, "course_id"), path_int(request, "exam_id"))
    data = {}
    if provider is not None:
        data.update({"provider_tech_support_email": provider.tech_support_email,
                     "provider_tech_support_phone": provider.tech_support_phone,
                     "provider_tech_support_url": provider.tech_support_url,
                     "provider_name": provider.verbose_name})
    data["proctoring_escalation_email"] = config.escalation_email if config else None
    return data


@view_config(route_name="onboarding", request_method="GET", renderer="json")
def onboarding(request):
    require_user(request)
    path_text(request, "course_id")  # refused when no course key can be (400), as on every course route
    # Onboarding exams are not run by this service (as in edx-exams, which answers an empty 404);
    # every error body here is JSON with a detail, which the learner frontend parses.
    raise ApiError(404, {"detail": "This course has no onboarding exam.", "code": "no_onboarding"})


@view_config(route_name="access_token", request_method="GET", renderer="json")
def access_token(request):
    user = require_user(request)
    token = request.services.attempts.access_token(user, path_int(request, "exam_id"))
    return {"exam_access_token": token.token, "exam_access_token_expiration": token.expires_in}


def _query_int(request, name: str, default: int | None, *, minimum: int) -> int | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    if not re.fullmatch(r"[0-9]{1,12}", raw) or int(raw) < minimum:
        raise bad_request(f"{name} must be a whole number >= {minimum}.")
    return int(raw)


@view_config(route_name="instructor_attempts", request_method="GET", renderer="json")
def instructor_attempts(request):
    user = require_user(request)
    course_id = path_text(request, "course_id")
    if not request.services.users.is_course_staff(user, course_id):
        raise forbidden()
    exam_id = _query_int(request, "exam_id", None, minimum=1)
    if exam_id is None or exam_id > 2**31 - 1:
        raise bad_request("exam_id is required and must be a whole number.")
    limit = _query_int(request, "limit", 100, minimum=1)
    offset = _query_int(request, "offset", 0, minimum=0)
    page = request.services.attempts.attempts_for_exam(user, course_id, exam_id, limit, offset)
    results = [{
        "username": u.username, "attempt_id": a.id, "attempt_status": a.status.value,
        "start_time": presenters.iso(a.start_time), "end_time": presenters.iso(a.end_time),
        "allowed_time_limit_mins": a.allowed_time_limit_mins, "exam_type": page.exam.exam_type.value,
        "exam_display_name": page.exam.exam_name,
        "proctored_review": presenters.review(r),
    } for a, u, r in page.rows]
    return {
        "count": page.count,
        "next": presenters.page_url(request, limit, offset + limit) if offset + limit < page.count else None,
        "previous": presenters.page_url(request, limit, max(offset - limit, 0)) if offset > 0 else None,
        "results": results,
    }


@view_config(route_name="allowances", request_method="GET", renderer="json")
def list_allowances(request):
    user = require_user(request)
    rows = request.services.attempts.allowances(user, path_text(request, "course_id"))
    return [{"id": a.id, "exam_id": a.exam_id, "user_id": a.user_id, "extra_time_mins": a.extra_time_mins,
             "username": u.username, "exam_name": e.exam_name, "email": u.email} for a, u, e in rows]


@view_config(route_name="allowances", request_method="POST", renderer="json")
def grant_allowances(request):
    user = require_user(request)
    course_id = path_text(request, "course_id")
    request.services.users.require_course_staff(user, course_id)
    items = json_body(request)
    if not isinstance(items, list):
        raise invalid_data({"non_field_errors": ["Expected a list of items."]})
    schema = allowance_item_schema()
    errors, requests = [], []
    for data, error in deserialize_each(schema, items):
        errors.append(error)
        if data is None:
            continue
        requests.append(AllowanceRequest(exam_id=data["exam_id"], username=data["username"], email=data["email"],
                                         extra_time_mins=data["extra_time_mins"]))
    if any(errors):
        raise invalid_data(errors)
    request.services.attempts.grant_allowances(user, course_id, requests)
    request.response.status_int = 200
    request.response.content_type = None
    return request.response


@view_config(route_name="allowance", request_method="DELETE", renderer="json")
def revoke_allowance(request):
    user = require_user(request)
    request.services.attempts.revoke_allowance(user, path_text(request, "course_id"),
                                               path_int(request, "allowance_id"))
    request.response.status_int = 204
    request.response.content_type = None
    return request.response

