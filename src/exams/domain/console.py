"""The operators' console: who may see what, and the audit entry every console action leaves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .errors import NotFound, Rejected
from .users import User

# Longest reason an operator may give for an action (kept in the audit log).
MAX_REASON = 2000


@dataclass(frozen=True)
class Operator:
    """A signed-in console user: global staff (the LMS ``administrator`` claim) or staff of some courses."""

    user: User
    courses: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_global(self) -> bool:
        return self.user.is_staff

    @property
    def may_enter(self) -> bool:
        return self.is_global or bool(self.courses)

    def sees_course(self, course_id: str | None) -> bool:
        return self.is_global or (course_id is not None and course_id in self.courses)

    def require_course(self, course_id: str | None, what: str = "Course") -> None:
        """Course staff of other courses are told the thing does not exist (ids do not leak)."""
        if not self.sees_course(course_id):
            raise NotFound(f"{what} not found.", code="not_found")

    def require_global(self) -> None:
        if not self.is_global:
            raise NotFound("Not found.", code="not_found")

    @property
    def course_filter(self) -> frozenset[str] | None:
        """None: every course; else the courses this operator may see."""
        return None if self.is_global else self.courses


def check_reason(reason: str | None) -> str:
    """Every console action that changes an attempt needs a reason (it goes to the audit log)."""
    text = (reason or "").strip()
    if not text:
        raise Rejected("Give a reason: it is kept in the audit log.", code="reason_required")
    if len(text) > MAX_REASON:
        raise Rejected(f"The reason is longer than {MAX_REASON} characters.", code="reason_too_long")
    return text


@dataclass(frozen=True)
class AuditEntry:
    id: int | None
    at: datetime
    actor_id: int | None
    actor_username: str
    action: str
    target: str = ""
    course_id: str | None = None
    reason: str = ""
    details: dict = field(default_factory=dict)
