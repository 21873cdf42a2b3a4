"""Courses (configuration, exams, allowances, staff roles) and the audit log."""

from __future__ import annotations

import colander

from exams.domain.errors import DomainError, Forbidden, NotFound
from exams.domain.users import COURSE_STAFF_ROLES
from exams.services.attempts import AllowanceRequest

from ..schemas import Email, StrictInt, Text, WholeMinutes
from .views import console_view, page, redirect

AUDIT_PAGE = 100


def _course_id(request) -> str:
    return request.matchdict["course_id"]


def _validate(fields: dict, form) -> tuple[dict, dict]:
    """``fields``: name -> (colander type, required). Blank optional fields are None. (values, errors)."""
    values, errors = {}, {}
    for name, (typ, required) in fields.items():
        raw = form.get(name, "")
        raw = raw.strip() if isinstance(raw, str) else raw
        if raw == "":
            if required:
                errors[name] = "This field is required."
            values[name] = None
            continue
        try:
            value = typ.deserialize(colander.SchemaNode(typ, name=name), raw)
        except colander.Invalid as exc:
            errors[name] = exc.msg
            continue
        values[name] = None if value is colander.null else value
    return values, errors


def field_of(exc: DomainError, default: str, fields) -> str:
    """The form field a refusal is about (``InvalidValue.field``), else ``default``."""
    field = getattr(exc, "field", None)
    return field if field in fields else default


def course_page(request, operator, status=200, form=None, errors=None, values=None):
    detail = request.services.console.course(operator, _course_id(request))
    current = {"provider": detail.provider.name if detail.provider else "",
               "escalation_email": detail.config.escalation_email if detail.config and detail.provider else ""}
    return page(request, "course.html", status=status, c=detail, current=current, roles=COURSE_STAFF_ROLES,
                form=form, errors=errors or {}, values=values or {})


def _refused(request, operator, form, errors, values):
    """A form with errors: shown again with them; the transaction is doomed, so nothing is written."""
    request.tm.doom()
    return course_page(request, operator, status=400, form=form, errors=errors, values=dict(request.POST))


@console_view("console_courses")
def courses(request, operator):
    return page(request, "courses.html", courses=request.services.console.courses(operator))


@console_view("console_course")
def course(request, operator):
    return course_page(request, operator)


@console_view("console_course_config", method="POST")
def configure(request, operator):
    course_id = _course_id(request)
    request.services.console.course(operator, course_id)  # 404 for a course this operator cannot see
    values, errors = _validate({"provider": (Text(255), False), "escalation_email": (Email(), False)}, request.POST)
    if not errors:
        try:
            request.services.console.configure_course(operator, course_id, values["provider"],
                                                      values["escalation_email"])
        except (NotFound, Forbidden):
            raise
        except DomainError as exc:
            errors = {"provider" if exc.code == "unknown_provider" else "escalation_email"
                      if "email" in exc.detail.lower() else "form": exc.detail}
    if errors:
        return _refused(request, operator, "config", errors, values)
    return redirect(request, "console_course", {"notice": "Course configuration saved."}, course_id=course_id)


@console_view("console_allowances", method="POST")
def grant_allowance(request, operator):
    course_id = _course_id(request)
    request.services.console.course(operator, course_id)
    values, errors = _validate({"username": (Text(150), False), "email": (Text(254), False),
                                "exam_id": (StrictInt(minimum=1), True),
                                # The API's minutes rule: a fraction (a time multiplier) is rounded up.
                                "extra_time_mins": (WholeMinutes(minimum=0, maximum=100000), True)}, request.POST)
    if not errors and not values["username"] and not values["email"]:
        errors["username"] = "username or email must be provided"
    if not errors:
        try:
            request.services.console.grant_allowance(operator, course_id, AllowanceRequest(
                exam_id=values["exam_id"], username=values["username"], email=values["email"],
                extra_time_mins=values["extra_time_mins"]))
        except (NotFound, Forbidden):
            raise
        except DomainError as exc:
            errors = {"exam_id" if exc.code == "exam_not_found" else "username": exc.detail}
    if errors:
        return _refused(request, operator, "allowance", errors, values)
    return redirect(request, "console_course", {"notice": "Allowance saved."}, course_id=course_id)


@console_view("console_allowance_delete", method="POST")
def revoke_allowance(request, operator):
    course_id = _course_id(request)
    request.services.console.revoke_allowance(operator, course_id, int(request.matchdict["allowance_id"]))
    return redirect(request, "console_course", {"notice": "Allowance removed."}, course_id=course_id)


@console_view("console_staff", method="POST")
def add_staff(request, operator):
    course_id = _course_id(request)
    operator.require_global()
    values, errors = _validate({"username": (Text(150), True), "role": (Text(32), True),
                                "email": (Email(), False)}, request.POST)
    if not errors and values["role"] not in COURSE_STAFF_ROLES:
        errors["role"] = f"Choose one of {', '.join(COURSE_STAFF_ROLES)}."
    if not errors:
        try:
            request.services.console.add_staff(operator, course_id, values["username"], values["role"],
                                               values["email"] or "")
        except (NotFound, Forbidden):
            raise
        except DomainError as exc:
            errors = {field_of(exc, "username", ("username", "email", "role")): exc.detail}
    if errors:
        return _refused(request, operator, "staff", errors, values)
    return redirect(request, "console_course", {"notice": "Staff role added."}, course_id=course_id)


@console_view("console_staff_remove", method="POST")
def remove_staff(request, operator):
    course_id = _course_id(request)
    operator.require_global()
    username, role = request.POST.get("username", ""), request.POST.get("role", "")
    if role not in COURSE_STAFF_ROLES or not username:
        return _refused(request, operator, "staff", {"username": "Unknown staff role."}, {})
    request.services.console.remove_staff(operator, course_id, username, role)
    return redirect(request, "console_course", {"notice": "Staff role removed."}, course_id=course_id)


@console_view("console_audit")
def audit(request, operator):
    raw = request.GET.get("page", "1")
    page_no = int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 6 and int(raw) > 0 else 1
    entries = request.services.console.audit(operator, limit=AUDIT_PAGE + 1, offset=(page_no - 1) * AUDIT_PAGE)
    return page(request, "audit.html", audit=entries[:AUDIT_PAGE], more=len(entries) > AUDIT_PAGE, page_no=page_no)
