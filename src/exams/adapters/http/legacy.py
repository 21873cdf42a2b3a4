"""Forwarding to edx-proctoring in the LMS for courses with no proctoring provider here (edx-exams.md §6.9).

The views call these helpers after their own authentication and permission checks (as edx-exams'
legacy views check the same permissions). Each returns None when the request is answered locally:
forwarding is not configured (no OAuth2 client), or the course has a provider here. Otherwise the
response carries edx-proctoring's status and JSON. An LMS that is down or refuses our credentials gives
503 or 502 with a ``detail``, never a 500.
"""

from __future__ import annotations

import logging

from exams.domain.attempts import Attempt
from exams.domain.exams import ExamType
from exams.domain.users import User
from exams.ports.legacy import INVALID_JSON, LegacyProctoring, LegacyResponse, LegacyUnavailable

from .errors import ApiError

log = logging.getLogger(__name__)

LMS_DOWN = "edx-proctoring in the LMS could not be reached; try again later."
LMS_REFUSED = "edx-proctoring in the LMS did not give a usable answer."


def _client(request) -> LegacyProctoring | None:
    return request.services.legacy_proctoring


def _forwarded_course(request, course_id: str) -> LegacyProctoring | None:
    """The client, when forwarding is on and the course has no configuration or no provider here."""
    client = _client(request)
    if client is None or request.services.exams.is_configured(course_id):
        return None
    return client


def _unavailable(exc: LegacyUnavailable) -> ApiError:
    log.warning("edx-proctoring forwarding failed: %s", exc.reason)
    if exc.reachable:
        return ApiError(502, {"detail": LMS_REFUSED, "code": "lms_bad_answer"})
    return ApiError(503, {"detail": LMS_DOWN, "code": "lms_unavailable"}, {"Retry-After": "30"})


def _passthrough(request, answer: LegacyResponse, *, strip: tuple[str, ...] = ()):
    if not 200 <= answer.status <= 599:
        raise _unavailable(LegacyUnavailable(f"edx-proctoring answered HTTP {answer.status}", reachable=True))
    body = answer.body
    if strip and isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in strip}
    response = request.response
    response.status_int = answer.status
    if answer.status in (204, 304):  # no body allowed
        response.content_type = None
        return response
    response.content_type = "application/json"
    response.charset = "utf-8"
    response.body = request.registry.json_dumps(body)
    return response


def _call(request, client_call, *args, strip: tuple[str, ...] = ()):
    try:
        answer = client_call(*args)
    except LegacyUnavailable as exc:
        raise _unavailable(exc) from None
    return _passthrough(request, answer, strip=strip)


def exam_list(request, course_id: str):
    """GET of the course's exams: edx-exams answers 404 ``[]`` for a forwarded course (nothing is asked)."""
    if _forwarded_course(request, course_id) is None:
        return None
    response = request.response
    response.status_int = 404
    response.content_type = "application/json"
    response.body = b"[]"
    return response


def exam_registration(request, course_id: str, items: list):
    """Studio's PATCH, with ``is_proctored``/``is_practice_exam`` added to items of a known exam type."""
    client = _forwarded_course(request, course_id)
    if client is None:
        return None
    forwarded = []
    for item in items:
        if isinstance(item, dict):
            try:
                exam_type = ExamType(item.get("exam_type"))
            except ValueError:
                pass
            else:
                item = {**item, "is_proctored": exam_type.is_proctored, "is_practice_exam": exam_type.is_practice}
        forwarded.append(item)
    return _call(request, client.register_exams, course_id, forwarded)


def student_exam(request, user: User, course_id: str, content_id: str):
    """The learner's exam view; edx-proctoring's ``active_attempt`` is left out, as edx-exams does."""
    client = _forwarded_course(request, course_id)
    if client is None or user.lms_user_id is None:
        # Without an LMS user id edx-proctoring cannot tell whose attempt to give: answer locally.
        return None
    return _call(request, client.student_exam_attempt, course_id, content_id, user.lms_user_id,
                 strip=("active_attempt",))


def provider_settings(request, course_id: str, exam_id: int):
    client = _forwarded_course(request, course_id)
    if client is None:
        return None
    return _call(request, client.proctoring_settings, exam_id)


def onboarding(request, course_id: str):
    """The course-home onboarding panel; the ``username`` query parameter is passed on."""
    client = _forwarded_course(request, course_id)
    if client is None:
        return None
    return _call(request, client.onboarding_status, course_id, request.GET.get("username") or None)


def active_attempt(request, user: User, attempt: Attempt | None) -> dict | None:
    """edx-proctoring's active attempt of the learner, when there is no local attempt in progress.

    Asked for every course (the learner's timer does not say which), as edx-exams does (§6.7 step 4);
    a non-empty dict answered with 200 wins. Unlike edx-exams, an LMS that cannot be reached (or that
    answers something other than a JSON object) leaves the local answer standing instead of a 500:
    an edx-proctoring answer with an error status is already ignored the same way.
    """
    client = _client(request)
    if client is None or user.lms_user_id is None or (attempt is not None and attempt.status.is_in_progress):
        return None
    try:
        answer = client.active_attempt(user.lms_user_id)
    except LegacyUnavailable as exc:
        log.warning("edx-proctoring active attempt not asked: %s", exc.reason)
        return None
    if answer.status == 200 and isinstance(answer.body, dict) and answer.body and answer.body != INVALID_JSON:
        return answer.body
    return None
