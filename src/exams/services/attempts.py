"""The learner's and the instructor's use cases around exam attempts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from exams.domain.allowances import Allowance
from exams.domain.attempts import (ExamAccess, Attempt, AttemptStatus, StatusChange, check_can_create,
                                   decide_exam_access, other_attempt_active_error, resolve_action,
                                   resume_errored, total_minutes)
from exams.domain.errors import Conflict, Forbidden, NotFound, Rejected
from exams.domain.exams import CourseConfig, Exam, Provider
from exams.domain.reviews import ControlResult
from exams.domain.users import User
from exams.ports.auth import AccessTokenSigner
from exams.ports.clock import Clock
from exams.ports.outcomes import NullOutcomeSink, OutcomeSink
from exams.ports.repositories import Repositories
from exams.services.users import is_course_staff, require_course_staff

S = AttemptStatus


@dataclass(frozen=True)
class LearnerExam:
    """What the learner's exam screen needs about one subsection."""

    exam: Exam
    provider: Provider | None
    attempt: Attempt | None
    total_time: int
    passed_due_date: bool


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: float


@dataclass(frozen=True)
class AttemptPage:
    exam: Exam
    count: int
    rows: list[tuple[Attempt, User, ControlResult | None]]


@dataclass(frozen=True)
class AllowanceRequest:
    exam_id: int
    username: str | None
    email: str | None
    extra_time_mins: int


class AttemptService:
    def __init__(self, repos: Repositories, clock: Clock, outcomes: OutcomeSink | None = None,
                 access_tokens: AccessTokenSigner | None = None):
        self.repos = repos
        self.clock = clock
        self.outcomes = outcomes or NullOutcomeSink()
        self.access_tokens = access_tokens

    # -- learner actions ----------------------------------------------------------------------
    def create(self, student: User, exam_id: int, start_clock: bool) -> Attempt:
        """Create the learner's attempt, and start it at once when asked (both or neither)."""
        exam = self.repos.exams.get(exam_id)
        if exam is None:
            raise Rejected(f"Exam with exam_id={exam_id} does not exist.", code="exam_not_found")
        now = self.clock.now()
        existing = self.repos.attempts.latest_for(student.id, exam.id)
        check_can_create(exam, student.id, now, has_attempt=existing is not None)
        attempt = Attempt(id=None, user_id=student.id, exam_id=exam.id, created=now, modified=now)
        attempt.changes.append(StatusChange(None, None, S.CREATED, student.id, now))
        try:
            attempt = self.repos.attempts.add(attempt)
        except Conflict:
            # A concurrent request created it first: answer as the rule does.
            check_can_create(exam, student.id, now, has_attempt=True)
        if start_clock:
            self._move(attempt, exam, student, S.STARTED, actor=student)
        return attempt

    def act(self, caller: User, attempt_id: int, action: object) -> Attempt:
        """Apply a learner or staff action (start, stop, submit, verify, ...) to an attempt."""
        attempt = self.repos.attempts.get(attempt_id, for_update=True)
        if attempt is None:
            # "exit" (sic): the text edx-exams answers and clients may match on.
            raise Rejected(f"Attempt with attempt_id={attempt_id} does not exit.", code="attempt_not_found")
        exam = self.repos.exams.get(attempt.exam_id)
        target = resolve_action(action, attempt, exam, caller_id=caller.id,
                                caller_is_course_staff=is_course_staff(self.repos, caller, exam.course_id))
        student = caller if caller.id == attempt.user_id else self.repos.users.get(attempt.user_id)
        self._move(attempt, exam, student, target, actor=caller)
        return attempt

    def move(self, attempt: Attempt, to: AttemptStatus, actor: User | None) -> StatusChange | None:
        """Move an attempt for a trusted caller (the LTI flow, a vendor's review).

        Returns None when the attempt already had that status (nothing is recorded or sent).
        """
        exam = self.repos.exams.get(attempt.exam_id)
        student = self.repos.users.get(attempt.user_id)
        return self._move(attempt, exam, student, to, actor=actor)

    def reset(self, caller: User, attempt_id: int) -> None:
        """Delete an attempt (owner or course staff); the LMS learns it as a reset."""
        attempt = self.repos.attempts.get(attempt_id, for_update=True)
        if attempt is None:
            raise Rejected(f"Attempt with attempt_id={attempt_id} does not exist.", code="attempt_not_found")
        exam = self.repos.exams.get(attempt.exam_id)
        if caller.id != attempt.user_id and not is_course_staff(self.repos, caller, exam.course_id):
            raise Forbidden(f"user_id={attempt.user_id} attempted to delete attempt_id={attempt.id} in "
                            f"course_id={exam.course_id} but does not have access to it.")
        student = caller if caller.id == attempt.user_id else self.repos.users.get(attempt.user_id)
        self.outcomes.attempt_reset(attempt, exam, student, caller)
        self.repos.attempts.delete(attempt)

    def resume(self, caller: User, attempt_id: int) -> Attempt:
        """Course staff resume an errored attempt with the time it had left (``domain.attempts.resume_errored``)."""
        attempt = self.repos.attempts.get(attempt_id, for_update=True)
        if attempt is None:
            raise NotFound(f"Attempt with attempt_id={attempt_id} does not exist.", code="attempt_not_found")
        exam = self.repos.exams.get(attempt.exam_id)
        require_course_staff(self.repos, caller, exam.course_id)
        active = self.repos.attempts.active_for_user(attempt.user_id)
        change = resume_errored(attempt, self.repos.attempts.history(attempt.id), self.clock.now(),
                                actor_id=caller.id, other_attempt_active=active is not None and active.id != attempt.id)
        try:
            self.repos.attempts.save(attempt)
        except Conflict:
            raise other_attempt_active_error(attempt, AttemptStatus.STARTED) from None
        self.outcomes.status_changed(attempt, exam, self.repos.users.get(attempt.user_id), change, None)
        return attempt

    def _move(self, attempt: Attempt, exam: Exam, student: User, to: AttemptStatus,
              actor: User | None) -> StatusChange | None:
        now = self.clock.now()
        allowance_mins = 0
        other_active = False
        if to is S.STARTED:
            allowance_mins = self._extra_minutes(attempt.user_id, attempt.exam_id)
        if to.is_in_progress:
            active = self.repos.attempts.active_for_user(attempt.user_id)
            other_active = active is not None and active.id != attempt.id
        change = attempt.transition(to, now, exam, actor_id=actor.id if actor else None,
                                    allowance_mins=allowance_mins, other_attempt_active=other_active)
        if change is None:
            return None
        try:
            self.repos.attempts.save(attempt)
        except Conflict:
            # Lost a race against a concurrent start of another attempt of this learner.
            raise other_attempt_active_error(attempt, to) from None
        # The LMS learns a submission as the learner's own act; reviews come from no user.
        requesting = student if to is S.SUBMITTED else None
        self.outcomes.status_changed(attempt, exam, student, change, requesting)
        return change

    # -- clocks -------------------------------------------------------------------------------
    def expire_if_due(self, attempt: Attempt, exam: Exam, student: User) -> Attempt:
        """Submit an in-progress attempt whose time is up; return the attempt as it now is."""
        if not attempt.is_expired(self.clock.now()):
            return attempt
        locked = self.repos.attempts.get(attempt.id, for_update=True)
        if locked is None or not locked.is_expired(self.clock.now()):
            return locked or attempt
        self._move(locked, exam, student, S.SUBMITTED, actor=None)
        return locked

    def expire_overdue(self, batch: int = 500) -> int:
        """Submit every abandoned attempt past its deadline (the sweeper); return how many."""
        count = 0
        for attempt_id in self.repos.attempts.expired_ids(self.clock.now(), batch):
            attempt = self.repos.attempts.get(attempt_id, for_update=True)
            if attempt is None or not attempt.is_expired(self.clock.now()):
                continue
            exam = self.repos.exams.get(attempt.exam_id)
            student = self.repos.users.get(attempt.user_id)
            self._move(attempt, exam, student, S.SUBMITTED, actor=None)
            count += 1
        return count

    # -- learner reads ------------------------------------------------------------------------
    def latest(self, student: User, content_id: str | None) -> tuple[Attempt | None, Exam | None]:
        """The attempt the learner's timer follows: that exam's latest attempt, else the active one."""
        found = self.repos.attempts.at_content(student.id, content_id) if content_id else None
        if found is not None:
            exam, attempt = found
        else:
            exam, attempt = None, None
            active = self.repos.attempts.active_with_exam(student.id)
            if active is not None:
                attempt, exam = active
        if attempt is None:
            return None, exam
        return self.expire_if_due(attempt, exam, student), exam

    def learner_exam(self, student: User, content_id: str) -> LearnerExam | None:
        found = self.repos.attempts.exam_screen(student.id, content_id)
        if found is None:
            return None
        exam, attempt, provider, extra_minutes = found
        if attempt is not None:
            attempt = self.expire_if_due(attempt, exam, student)
        return LearnerExam(exam=exam, provider=provider, attempt=attempt,
                           total_time=total_minutes(exam, extra_minutes),
                           passed_due_date=exam.is_past_due(self.clock.now()))

    def _extra_minutes(self, user_id: int, exam_id: int) -> int:
        allowance = self.repos.allowances.for_user_exam(user_id, exam_id)
        return allowance.extra_time_mins if allowance else 0

    def provider_settings(self, course_id: str, exam_id: int) -> tuple[Provider | None, CourseConfig | None]:
        exam = self.repos.exams.get(exam_id)
        config = self.repos.configs.get(course_id)
        provider = self.repos.providers.get(exam.provider_id) if exam and exam.provider_id else None
        return provider, config

    def access_token(self, caller: User, exam_id: int) -> AccessToken:
        """A short-lived token that lets the LMS render the exam's content for this caller."""
        exam = self.repos.exams.get(exam_id)
        if exam is None:
            raise NotFound("Exam does not exist", code="exam_not_found")
        attempt = self.repos.attempts.latest_for(caller.id, exam.id)
        grant: ExamAccess | None = decide_exam_access(
            exam, attempt, self.clock.now(), is_course_staff=is_course_staff(self.repos, caller, exam.course_id))
        if grant is None:
            raise Forbidden("Exam access token not granted", code="access_denied")
        token = self.access_tokens.sign(caller.lms_user_id, grant.expires_in,
                                        {"course_id": exam.course_id, "content_id": exam.content_id})
        return AccessToken(token, grant.expires_in)

    # -- instructor ---------------------------------------------------------------------------
    def attempts_for_exam(self, caller: User, course_id: str, exam_id: int, limit: int, offset: int) -> AttemptPage:
        require_course_staff(self.repos, caller, course_id)
        exam = self.repos.exams.get(exam_id)
        if exam is None or exam.course_id != course_id:
            raise NotFound("Exam does not exist in course", code="exam_not_found")
        count, rows = self.repos.attempts.list_for_exam(exam.id, limit, offset)
        reviews = self.repos.control_results.first_for_attempts([a.id for a, _ in rows])
        return AttemptPage(exam, count, [(a, u, reviews.get(a.id)) for a, u in rows])

    def allowances(self, caller: User, course_id: str) -> list[tuple[Allowance, User, Exam]]:
        require_course_staff(self.repos, caller, course_id)
        return self.repos.allowances.list_for_course(course_id)

    def grant_allowances(self, caller: User, course_id: str, requests: list[AllowanceRequest]) -> None:
        """Create or update extra time for each (learner, exam); all or nothing."""
        require_course_staff(self.repos, caller, course_id)
        allowances = []
        for req in requests:
            user = (self.repos.users.get_by_username(req.username) if req.username
                    else self.repos.users.get_by_email(req.email))
            if user is None:
                raise Rejected("Learner with username/email not found", code="learner_not_found")
            exam = self.repos.exams.get(req.exam_id)
            if exam is None or exam.course_id != course_id:
                raise Rejected("Exam does not exist", code="exam_not_found")
            allowances.append(Allowance(None, user.id, exam.id, req.extra_time_mins))
        self.repos.allowances.upsert(allowances)

    def revoke_allowance(self, caller: User, course_id: str, allowance_id: int) -> None:
        require_course_staff(self.repos, caller, course_id)
        allowance = self.repos.allowances.get(allowance_id)
        exam = self.repos.exams.get(allowance.exam_id) if allowance else None
        if exam is None or exam.course_id != course_id:
            raise NotFound(f"Allowance with id={allowance_id} does not exist.", code="allowance_not_found")
        self.repos.allowances.delete(allowance)

    def now(self) -> datetime:
        return self.clock.now()
