"""Studio's exam registration, course configuration and the provider list."""

from __future__ import annotations

from pyramid.view import view_config

from exams.domain.errors import Rejected
from exams.domain.exams import ExamSpec

from . import presenters
from .auth import require_user
from .errors import ApiError, forbidden, invalid_data
from .request_data import json_body, path_text, query_text
from .schemas import course_config_schema, deserialize_each, exam_item_schema


def course_staff(request, course_id: str):
    user = require_user(request)
    if not request.services.users.is_course_staff(user, course_id):
        raise forbidden()
    return user


def exam_items(request) -> list:
    """Studio's exam list: the body must be a JSON list."""
    items = json_body(request)
    if not isinstance(items, list):
        kind = "null" if items is None else type(items).__name__
        raise invalid_data({"non_field_errors": [f'Expected a list of items but got type "{kind}".']})
    return items


@view_config(route_name="course_exams", request_method="GET", renderer="json")
def list_course_exams(request):
    course_id = path_text(request, "course_id")
    course_staff(request, course_id)
    return [presenters.exam(e) for e in request.services.exams.active_exams(course_id)]


@view_config(route_name="course_exams", request_method="PATCH", renderer="json")
def register_course_exams(request):
    course_id = path_text(request, "course_id")
    course_staff(request, course_id)
    items = exam_items(request)
    schema = exam_item_schema()
    errors, specs, seen = [], [], set()
    for data, error in deserialize_each(schema, items):
        if data is None:
            errors.append(error)
            continue
        if data["content_id"] in seen:
            errors.append({"content_id": ["This content_id appears more than once in the list."]})
            continue
        seen.add(data["content_id"])
        errors.append({})
        specs.append(ExamSpec(content_id=data["content_id"], exam_name=data["exam_name"],
                              exam_type=data["exam_type"], time_limit_mins=data["time_limit_mins"],
                              due_date=data["due_date"], hide_after_due=data["hide_after_due"],
                              is_active=data["is_active"]))
    if any(errors):
        raise invalid_data(errors)
    request.services.exams.register(course_id, specs)
    return {}


@view_config(route_name="course_config", request_method="GET", renderer="json")
def get_course_config(request):
    require_user(request)
    provider, config = request.services.exams.config(path_text(request, "course_id"))
    return {"provider": provider.name if provider else None,
            "escalation_email": config.escalation_email if config and provider else None}


@view_config(route_name="course_config", request_method="PATCH", renderer="json")
def update_course_config(request):
    course_id = path_text(request, "course_id")
    course_staff(request, course_id)
    # A colander.Invalid becomes the 400 (errors.validation_error).
    values = course_config_schema().deserialize(json_body(request))
    try:
        request.services.exams.configure(course_id, values["provider"], values["escalation_email"])
    except Rejected as exc:
        field = "provider" if exc.code == "unknown_provider" else "non_field_errors"
        raise ApiError(400, {"detail": exc.detail, "code": exc.code, field: [exc.detail]}) from None
    request.response.status_int = 204
    request.response.content_type = None
    return request.response


@view_config(route_name="providers", request_method="GET", renderer="json")
def list_providers(request):
    org = query_text(request, "org")
    return [presenters.provider(p) for p in request.services.exams.providers(org)]
