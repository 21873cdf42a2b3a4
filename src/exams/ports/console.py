"""What the operators' console reads and writes beyond the repositories of the learner path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

from exams.domain.attempts import Attempt, AttemptStatus
from exams.domain.console import AuditEntry
from exams.domain.exams import Exam
from exams.domain.users import User


@dataclass(frozen=True)
class AttemptQuery:
    """Filters of the attempt search; empty ones are ignored. Text matches exactly (case-insensitive for email)."""

    username: str = ""
    email: str = ""
    course_id: str = ""
    exam_id: int | None = None
    status: AttemptStatus | None = None

    @property
    def empty(self) -> bool:
        return not (self.username or self.email or self.course_id or self.exam_id or self.status)


@dataclass(frozen=True)
class StaffMember:
    user: User
    course_id: str
    role: str | None


class ConsoleStore(Protocol):
    def record(self, entry: AuditEntry) -> AuditEntry:
        """Append an entry to the audit log (in the caller's transaction)."""

    def audit(self, courses: Iterable[str] | None, limit: int, offset: int = 0) -> list[AuditEntry]:
        """Newest first; ``courses`` None: every entry, else only entries about those courses."""

    def search_attempts(self, query: AttemptQuery, courses: Iterable[str] | None,
                        limit: int) -> list[tuple[Attempt, Exam, User]]:
        """Attempts matching the query, newest first, restricted to ``courses`` unless None."""

    def courses(self, courses: Iterable[str] | None) -> list[str]:
        """Course ids known here (with exams, a configuration or staff), restricted to ``courses`` unless None."""

    def exams_of_course(self, course_id: str) -> list[Exam]:
        """Every exam of the course, active or not, by name."""

    def staff_of_course(self, course_id: str) -> list[StaffMember]:
        """The course staff roles of the course, by username."""

    def staff_courses(self, user_id: int) -> frozenset[str]:
        """The courses in which the user holds a course staff role."""
