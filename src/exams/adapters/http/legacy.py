"""Forwarding to edx-proctoring in the LMS for the courses it still serves (edx-exams.md §6.7, §6.9).

One seam: ``request.services.legacy`` (exams.services.legacy) decides whether a course belongs to
edx-proctoring and asks it; here each forwarded route gets a second view, chosen by the ``edx_proctoring``
view predicate before the local view is tried. The local views know nothing of it. Each forwarding view makes
the same authentication and permission checks as the local one (as edx-exams' legacy views do), then passes
edx-proctoring's status and JSON through. An LMS that is down or refuses our credentials gives 503 or 502
with a ``detail``, never a 500.
"""

from __future__ import annotations

import logging

from exams.ports.legacy import LegacyResponse, LegacyUnavailable

from . import views_attempts, views_courses
from .auth import require_user
from .errors import ApiError, compact_json
from .request_data import path_int, path_text, query_text
from .runtime import RUNTIME

log = logging.getLogger(__name__)

LMS_DOWN = "edx-proctoring in the LMS could not be reached; try again later."
LMS_REFUSED = "edx-proctoring in the LMS did not give a usable answer."


class EdxProctoringPredicate:
    """``edx_proctoring="course"``: the route's course belongs to edx-proctoring.
    ``edx_proctoring="any course"``: forwarding is configured (the learner's timer names no course)."""

    def __init__(self, value: str, config):
        if value not in ("course", "any course"):
            raise ValueError(f"edx_proctoring predicate: {value!r}")
        self.value = value

    def text(self) -> str:
        return f"edx_proctoring = {self.value}"

    phash = text

    def __call__(self, context, request) -> bool:
        legacy = request.services.legacy
        if not legacy.enabled:
            return False
        if self.value == "any course":
            return True
        try:
            course_id = path_text(request, "course_id")
        except ApiError:  # not a course key: the local view refuses it
            return False
        return legacy.owns_course(course_id)


def includeme(config) -> None:
    """The forwarding views, registered only when forwarding is configured (otherwise no request pays for it)."""
    config.add_view_predicate("edx_proctoring", EdxProctoringPredicate)
    if not config.registry.settings[RUNTIME].legacy_forwarding:
        return
    for route, method, view, which in FORWARDED:
        config.add_view(view, route_name=route, request_method=method, edx_proctoring=which, renderer="json")


def _unavailable(exc: LegacyUnavailable) -> ApiError:
    log.warning("edx-proctoring forwarding failed: %s", exc.reason)
    if exc.reachable:
        return ApiError(502, {"detail": LMS_REFUSED, "code": "lms_bad_answer"})
    return ApiError(503, {"detail": LMS_DOWN, "code": "lms_unavailable"}, {"Retry-After": "30"})


def _passthrough(request, ask):
    """edx-proctoring's answer to ``ask()`` as our response: its status and its JSON."""
    try:
        answer: LegacyResponse = ask()
    except LegacyUnavailable as exc:
        raise _unavailable(exc) from None
    if not 200 <= answer.status <= 599:
        raise _unavailable(LegacyUnavailable(f"edx-proctoring answered HTTP {answer.status}", reachable=True))
    response = request.response
    response.status_int = answer.status
    if answer.status in (204, 304):  # no body allowed
        response.content_type = None
        return response
    response.content_type = "application/json"
    response.charset = "utf-8"
    response.body = compact_json(answer.body)
    return response


def exam_list(request):
    """edx-exams answers 404 ``[]`` for a forwarded course (nothing is asked)."""
    views_courses.course_staff(request, path_text(request, "course_id"))
    response = request.response
    response.status_int = 404
    response.content_type = "application/json"
    response.body = b"[]"
    return response


def exam_registration(request):
    """Studio's PATCH, with ``is_proctored``/``is_practice_exam`` added to items of a known exam type."""
    course_id = path_text(request, "course_id")
    views_courses.course_staff(request, course_id)
    items = views_courses.exam_items(request)
    return _passthrough(request, lambda: request.services.legacy.register_exams(course_id, items))


def student_exam(request):
    """The learner's exam view; edx-proctoring's ``active_attempt`` is left out, as edx-exams does."""
    user = require_user(request)
    course_id, content_id = path_text(request, "course_id"), path_text(request, "content_id")
    try:
        answer = request.services.legacy.student_exam(user, course_id, content_id)
    except LegacyUnavailable as exc:
        raise _unavailable(exc) from None
    if answer is None:  # no LMS user id: edx-proctoring cannot tell whose attempt to give
        return views_attempts.student_exam(request)
    return _passthrough(request, lambda: answer)


def provider_settings(request):
    require_user(request)
    path_text(request, "course_id")
    exam_id = path_int(request, "exam_id")
    return _passthrough(request, lambda: request.services.legacy.provider_settings(exam_id))


def onboarding(request):
    """The course-home onboarding panel; the ``username`` query parameter is passed on."""
    require_user(request)
    course_id = path_text(request, "course_id")
    return _passthrough(request, lambda: request.services.legacy.onboarding(
        course_id, request.GET.get("username") or None))


def latest_attempt(request):
    """edx-proctoring's active attempt of the learner wins when there is none in progress here (§6.7 step 4).

    Unlike edx-exams, an LMS that cannot be reached (or that answers something other than a JSON object)
    leaves the local answer standing instead of a 500.
    """
    user = require_user(request)
    attempt, exam = request.services.attempts.latest(user, query_text(request, "content_id"))
    try:
        answer = request.services.legacy.active_attempt(user, attempt)
    except LegacyUnavailable as exc:
        log.warning("edx-proctoring active attempt not asked: %s", exc.reason)
        answer = None
    return answer if answer is not None else views_attempts.latest_answer(request, attempt, exam)


# (route, method, forwarding view, edx_proctoring predicate value)
FORWARDED = [
    ("course_exams", "GET", exam_list, "course"),
    ("course_exams", "PATCH", exam_registration, "course"),
    ("student_exam", "GET", student_exam, "course"),
    ("provider_settings", "GET", provider_settings, "course"),
    ("onboarding", "GET", onboarding, "course"),
    ("latest_attempt", "GET", latest_attempt, "any course"),
]
