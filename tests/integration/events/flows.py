"""Learners and staff driving attempts through the HTTP API to each outcome the LMS hears about."""

from __future__ import annotations

from exams.ports.events import (EXAM_ATTEMPT_ERRORED, EXAM_ATTEMPT_REJECTED, EXAM_ATTEMPT_RESET,
                                EXAM_ATTEMPT_SUBMITTED, EXAM_ATTEMPT_VERIFIED)
from tests.conftest import auth

STAFF = auth("staff", user_id=1, staff=True, email="staff@example.com")


def course_key(name: str) -> str:
    return f"course-v1:edX+{name}+2026"


def usage_key(course: str, block: str = "exam1") -> str:
    return course.replace("course-v1:", "block-v1:") + f"+type@sequential+block@{block}"


def learner(n: int) -> dict:
    return auth(f"learner{n}", user_id=100 + n, email=f"learner{n}@example.com")


def register(app, course: str, block: str = "exam1", exam_type: str = "proctored") -> int:
    app.patch_json(f"/api/v1/exams/course_id/{course}", [
        {"content_id": usage_key(course, block), "exam_name": block.title(), "exam_type": exam_type,
         "time_limit_mins": 60, "due_date": None, "hide_after_due": False, "is_active": True}], headers=STAFF)
    exams = app.get(f"/api/v1/exams/course_id/{course}", headers=STAFF).json
    return next(e["id"] for e in exams if e["content_id"] == usage_key(course, block))


def start(app, exam_id: int, who: dict) -> int:
    return app.post_json("/api/v1/exams/attempt", {"exam_id": exam_id, "start_clock": "true"},
                         headers=who).json["exam_attempt_id"]


def act(app, attempt_id: int, action: str, who: dict) -> None:
    app.put_json(f"/api/v1/exams/attempt/{attempt_id}", {"action": action}, headers=who)


def reach(app, outcome: str, exam_id: int, who: dict) -> list[str]:
    """Drive a fresh attempt of ``who`` to ``outcome``; return the event types the LMS must hear, in order."""
    attempt_id = start(app, exam_id, who)
    if outcome == "error":
        act(app, attempt_id, "error", who)
        return [EXAM_ATTEMPT_ERRORED]
    act(app, attempt_id, "submit", who)
    if outcome == "submitted":
        return [EXAM_ATTEMPT_SUBMITTED]
    if outcome in ("verified", "rejected"):
        act(app, attempt_id, "verify" if outcome == "verified" else "reject", STAFF)
        return [EXAM_ATTEMPT_SUBMITTED, EXAM_ATTEMPT_VERIFIED if outcome == "verified" else EXAM_ATTEMPT_REJECTED]
    if outcome == "reset":
        app.delete(f"/api/v1/exams/attempt/{attempt_id}", headers=STAFF)
        return [EXAM_ATTEMPT_SUBMITTED, EXAM_ATTEMPT_RESET]
    raise ValueError(outcome)
