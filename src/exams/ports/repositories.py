"""Persistence ports. Repositories load and save domain objects; they never commit.

A write that would break a uniqueness rule the database enforces raises ``domain.errors.Conflict``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Protocol

from exams.domain.allowances import Allowance
from exams.domain.attempts import Attempt, StatusChange
from exams.domain.exams import CourseConfig, Exam, Provider
from exams.domain.reviews import ControlResult
from exams.domain.users import User


class UserRepository(Protocol):
    def get(self, user_id: int) -> User | None:
        """The user with this local id."""

    def get_by_username(self, username: str) -> User | None:
        """The user with this username."""

    def get_by_email(self, email: str) -> User | None:
        """The first user with this email (emails are not unique)."""

    def get_by_anonymous_id(self, anonymous_user_id: str) -> User | None:
        """The user whose LTI ``sub`` this is."""

    def ensure(self, user: User) -> User:
        """Insert the user unless the username exists (concurrency safe); return the stored user."""

    def save(self, user: User) -> None:
        """Persist profile changes of an existing user."""


class StaffRoleRepository(Protocol):
    def has_course_role(self, user_id: int, course_id: str) -> bool:
        """Whether any course role row exists for (user, course) (``domain.users.is_course_staff`` decides)."""

    def add(self, user_id: int, course_id: str, role: str | None) -> bool:
        """Grant a role; False when it was already granted."""

    def remove(self, user_id: int, course_id: str, role: str | None) -> bool:
        """Revoke a role; False when there was none."""

    def roles(self, user_id: int, course_id: str) -> list[str | None]:
        """The roles the user holds in the course."""

    def listing(self, course_id: str | None = None) -> list[tuple[str, str, str | None]]:
        """Every role as (username, course_id, role), or those of one course; by course, username, role."""


class ProviderRepository(Protocol):
    def get(self, provider_id: int) -> Provider | None: ...

    def get_by_name(self, name: str) -> Provider | None: ...

    def list(self, org: str | None = None, include_disabled: bool = False) -> list[Provider]:
        """The enabled providers (every one with ``include_disabled``), or those available to ``org``
        (its own and org-less ones)."""

    def add(self, provider: Provider) -> Provider: ...

    def save(self, provider: Provider) -> None:
        """Persist every field of an existing provider but its name (``is_active`` included)."""

    def courses_using(self, provider_id: int) -> list[str]:
        """The courses whose configuration or exams (active or not) name the provider, sorted."""

    def remove(self, provider_id: int) -> bool:
        """Delete the provider unless a course configuration or an exam names it; False when nothing was deleted."""


class ExamRepository(Protocol):
    def get(self, exam_id: int) -> Exam | None: ...

    def active_for_content(self, content_id: str) -> Exam | None:
        """The active exam registered for this subsection."""

    def active_in_course(self, course_id: str) -> list[Exam]: ...

    def add(self, exam: Exam) -> Exam:
        """Insert; raises Conflict when another exam is active for the same content."""

    def save(self, exam: Exam) -> None: ...


class CourseConfigRepository(Protocol):
    def get(self, course_id: str) -> CourseConfig | None: ...

    def put(self, config: CourseConfig) -> None:
        """Create or replace the configuration of ``config.course_id``."""


class AttemptRepository(Protocol):
    def get(self, attempt_id: int, for_update: bool = False) -> Attempt | None:
        """The attempt; with ``for_update`` locked until the end of the transaction."""

    def latest_for(self, user_id: int, exam_id: int) -> Attempt | None:
        """The learner's current attempt at the exam."""

    def active_for_user(self, user_id: int) -> Attempt | None:
        """The learner's attempt in ``started``/``ready_to_submit``, if any."""

    def active_with_exam(self, user_id: int) -> tuple[Attempt, Exam] | None:
        """The learner's active attempt with its exam (one read: the timer asks for it every minute)."""

    def at_content(self, user_id: int, content_id: str) -> tuple[Exam, Attempt | None] | None:
        """The active exam of a subsection with the learner's latest attempt at it, if any (one read)."""

    def exam_screen(self, user_id: int, content_id: str) -> tuple[Exam, Attempt | None, Provider | None, int] | None:
        """What the learner's exam screen shows of a subsection, in one read: its active exam, the learner's latest
        attempt at it, the exam's provider and the learner's extra minutes (their allowance, else 0)."""

    def add(self, attempt: Attempt) -> Attempt:
        """Insert; raises Conflict when the learner already has an attempt at the exam."""

    def save(self, attempt: Attempt) -> None:
        """Persist status and clock fields and record ``attempt.changes`` in the history.

        Raises Conflict when the learner would have two active attempts.
        """

    def delete(self, attempt: Attempt) -> None: ...

    def find(self, anonymous_user_id: str, resource_id: str, attempt_number: int,
             registration_id: str) -> Attempt | None:
        """The attempt a proctoring vendor names by (LTI ``sub``, resource link id, attempt number).

        Only attempts of exams whose provider uses the LTI registration ``registration_id`` (the
        provider's ``lti_configuration_id``); None when no attempt or more than one matches.
        """

    def list_for_exam(self, exam_id: int, limit: int, offset: int) -> tuple[int, list[tuple[Attempt, User]]]:
        """Total count and one page of the exam's attempts, newest first, with their learners."""

    def users_with_attempts(self, exam_id: int) -> list[User]:
        """Every learner with an attempt at the exam, once each, by user id (the vendor's roster)."""

    def expired_ids(self, now: datetime, limit: int) -> list[int]:
        """Ids of in-progress attempts whose deadline has passed."""

    def history(self, attempt_id: int) -> list[StatusChange]: ...


class AllowanceRepository(Protocol):
    def get(self, allowance_id: int) -> Allowance | None: ...

    def for_user_exam(self, user_id: int, exam_id: int) -> Allowance | None: ...

    def list_for_course(self, course_id: str) -> list[tuple[Allowance, User, Exam]]: ...

    def upsert(self, allowances: Iterable[Allowance]) -> None:
        """Create or update by (user, exam)."""

    def delete(self, allowance: Allowance) -> None: ...


class ControlResultRepository(Protocol):
    def add(self, result: ControlResult) -> ControlResult: ...

    def first_for_attempts(self, attempt_ids: list[int]) -> dict[int, ControlResult]:
        """The first recorded ``terminate`` result of each attempt: the review the dashboard shows.

        Flags are kept but are not reviews, so a flag sent before the terminate does not hide it.
        """

    def for_attempt(self, attempt_id: int) -> list[ControlResult]: ...


class Repositories(Protocol):
    """Everything one unit of work can load and save."""

    users: UserRepository
    staff_roles: StaffRoleRepository
    providers: ProviderRepository
    exams: ExamRepository
    configs: CourseConfigRepository
    attempts: AttemptRepository
    allowances: AllowanceRepository
    control_results: ControlResultRepository

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
