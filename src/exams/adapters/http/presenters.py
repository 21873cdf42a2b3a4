"""Domain objects in the JSON shapes the frontends read (edx-exams' serializers)."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

from exams.domain.attempts import Attempt
from exams.domain.exams import Exam, Provider
from exams.domain.reviews import ControlResult


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with ``Z``; microseconds only when non-zero (as Django REST framework writes)."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def exam(e: Exam) -> dict:
    return {"id": e.id, "exam_name": e.exam_name, "course_id": e.course_id, "content_id": e.content_id,
            "time_limit_mins": e.time_limit_mins, "due_date": iso(e.due_date), "exam_type": e.exam_type.value,
            "hide_after_due": e.hide_after_due, "is_active": e.is_active}


def student_attempt(a: Attempt, e: Exam, now: datetime, learning_mfe_url: str) -> dict:
    return {"attempt_id": a.id, "attempt_status": a.status.value, "course_id": e.course_id,
            "exam_type": e.exam_type.value, "exam_display_name": e.exam_name,
            "exam_url_path": e.page_url(learning_mfe_url),
            "time_remaining_seconds": a.time_remaining_seconds(now)}


def provider(p: Provider) -> dict:
    return {"name": p.name, "verbose_name": p.verbose_name, "lti_configuration_id": p.lti_configuration_id}


def review(r: ControlResult | None) -> dict | None:
    if r is None:
        return None
    return {"submission_time": iso(r.incident_time), "severity": f"{r.severity:.2f}",
            "submission_reason": r.reason_text}


def page_url(request, limit: int, offset: int | None) -> str:
    """The list URL with ``limit``/``offset`` replaced (``offset`` dropped when None or 0).

    Parameters are sorted by name, as Django REST framework's pagination writes them.
    """
    params = [(k, v) for k, v in request.GET.items() if k not in ("limit", "offset")]
    params.append(("limit", str(limit)))
    if offset:
        params.append(("offset", str(offset)))
    params.sort(key=lambda kv: kv[0])
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
    return f"{request.host_url}{request.path}?{query}"
