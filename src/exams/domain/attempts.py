"""The exam attempt lifecycle: statuses, transitions, clocks, actions and exam access.

Everything here is pure: callers pass in the current time and the facts the rules need
(the exam, the learner's allowance, whether another attempt is active).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .errors import Forbidden, IllegalTransition, Rejected
from .exams import Exam


class AttemptStatus(str, enum.Enum):
    CREATED = "created"
    DOWNLOAD_SOFTWARE_CLICKED = "download_software_clicked"
    READY_TO_START = "ready_to_start"
    STARTED = "started"
    READY_TO_SUBMIT = "ready_to_submit"
    TIMED_OUT = "timed_out"
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SECOND_REVIEW_REQUIRED = "second_review_required"
    ERROR = "error"

    @property
    def is_in_progress(self) -> bool:
        return self in IN_PROGRESS

    @property
    def is_completed(self) -> bool:
        return self in COMPLETED

    @property
    def is_incomplete(self) -> bool:
        return self in INCOMPLETE


S = AttemptStatus
IN_PROGRESS = frozenset({S.STARTED, S.READY_TO_SUBMIT})
COMPLETED = frozenset({S.TIMED_OUT, S.SUBMITTED, S.VERIFIED, S.REJECTED, S.ERROR, S.SECOND_REVIEW_REQUIRED})
INCOMPLETE = frozenset({S.CREATED, S.DOWNLOAD_SOFTWARE_CLICKED, S.READY_TO_START, S.STARTED, S.READY_TO_SUBMIT})
# Review outcomes that say the learner took the exam: only an attempt that started (has a start time)
# may reach them. An attempt that never started can be ended (submitted) or errored, never verified.
TAKEN_OUTCOMES = frozenset({S.VERIFIED, S.SECOND_REVIEW_REQUIRED})
# Statuses in which a vendor's ACS message may act on the attempt.
ACS_ACTIONABLE = frozenset({S.READY_TO_START, S.STARTED, S.READY_TO_SUBMIT, S.TIMED_OUT, S.SUBMITTED})

LEARNER_ACTIONS = {
    "start": S.STARTED,
    "stop": S.READY_TO_SUBMIT,
    "submit": S.SUBMITTED,
    "click_download_software": S.DOWNLOAD_SOFTWARE_CLICKED,
    "error": S.ERROR,
}
STAFF_ACTIONS = {"verify": S.VERIFIED, "reject": S.REJECTED}


@dataclass(frozen=True)
class StatusChange:
    """A recorded move of an attempt from one status to another (history and outbox material)."""

    attempt_id: int | None
    from_status: AttemptStatus | None
    to_status: AttemptStatus
    actor_id: int | None
    at: datetime


@dataclass
class Attempt:
    id: int | None
    user_id: int
    exam_id: int
    status: AttemptStatus = S.CREATED
    attempt_number: int = 1
    start_time: datetime | None = None
    end_time: datetime | None = None
    allowed_time_limit_mins: int | None = None
    created: datetime | None = None
    modified: datetime | None = None
    changes: list[StatusChange] = field(default_factory=list, repr=False, compare=False)

    # -- clock ---------------------------------------------------------------------------------
    def deadline(self) -> datetime | None:
        if self.start_time is None or self.allowed_time_limit_mins is None:
            return None
        return self.start_time + timedelta(minutes=self.allowed_time_limit_mins)

    def time_remaining_seconds(self, now: datetime) -> float:
        """Seconds left on the clock; 0 when never started or past the deadline. Never negative.

        The clock does not pause: ``ready_to_submit`` keeps counting.
        """
        end = self.deadline()
        if end is None or now >= end:
            return 0
        return (end - now).total_seconds()

    def is_expired(self, now: datetime) -> bool:
        """An in-progress attempt whose time is up (it must be submitted)."""
        return self.status.is_in_progress and self.time_remaining_seconds(now) <= 0

    @property
    def never_started(self) -> bool:
        """True when the learner never started the exam clock (no start time was ever stamped)."""
        return self.start_time is None

    # -- lifecycle -----------------------------------------------------------------------------
    def transition(self, to: AttemptStatus, now: datetime, exam: Exam, *, actor_id: int | None,
                   allowance_mins: int = 0, other_attempt_active: bool = False) -> StatusChange | None:
        """Move to ``to`` if the lifecycle allows it; record and return the change.

        Rules: a completed (or expired) attempt never returns to an incomplete status; starting needs an attempt
        not already started; moving into ``started`` or ``ready_to_submit`` needs no other active
        attempt of the learner; the allowed minutes are fixed at the first start; a move to
        ``submitted`` stamps the end time. Moving to the status the attempt already has changes
        nothing and returns None (a second "submit" must not submit twice).
        """
        # "expired" is in neither bucket; edx-exams lets it lead anywhere, which would let a completed
        # attempt become incomplete again by way of "expired". Here every finished status is final.
        if not self.status.is_incomplete and to.is_incomplete:
            raise illegal_transition_error(self, to, exam)
        if to is S.STARTED and self.status is S.STARTED and self.start_time is not None:
            raise IllegalTransition(
                f"Cannot start exam attempt for exam_id={self.exam_id} and user_id={self.user_id} "
                "because it has already started!", code="already_started")
        if to is self.status and to is not S.STARTED:
            return None
        if to in TAKEN_OUTCOMES and self.never_started:
            raise never_started_error(self, to, exam)
        if to.is_in_progress and other_attempt_active:
            raise other_attempt_active_error(self, to)
        if to is S.STARTED and self.start_time is None:
            self.start_time = now
            self.allowed_time_limit_mins = allowed_minutes(exam, allowance_mins, now)
        if to is S.SUBMITTED:
            self.end_time = now
        change = StatusChange(self.id, self.status, to, actor_id, now)
        self.status = to
        self.modified = now
        self.changes.append(change)
        return change


def illegal_transition_error(attempt: Attempt, to: AttemptStatus, exam: Exam) -> IllegalTransition:
    return IllegalTransition(
        f'A status transition from "{attempt.status.value}" to "{to.value}" was attempted on '
        f"exam_id={attempt.exam_id} for user_id={attempt.user_id}. This is not allowed! "
        f"(course_id={exam.course_id})")


def never_started_error(attempt: Attempt, to: AttemptStatus, exam: Exam) -> IllegalTransition:
    return IllegalTransition(
        f'Exam attempt for exam_id={attempt.exam_id} and user_id={attempt.user_id} was never started: '
        f'it cannot become "{to.value}". (course_id={exam.course_id})', code="never_started")


def other_attempt_active_error(attempt: Attempt, to: AttemptStatus) -> IllegalTransition:
    """The refusal when a learner would hold two active attempts (the rule, or a lost race)."""
    which = f"exam_id={attempt.exam_id} and user_id={attempt.user_id}"
    action = f"start exam attempt for {which}" if to is S.STARTED else \
        f'move exam attempt for {which} to "{to.value}"'
    return IllegalTransition(f"Cannot {action} because another exam attempt is currently active!",
                             code="other_attempt_active")


def total_minutes(exam: Exam, allowance_mins: int) -> int:
    """The exam's time limit plus the learner's extra time: what the learner is told they will have."""
    return exam.time_limit_mins + allowance_mins


def allowed_minutes(exam: Exam, allowance_mins: int, now: datetime) -> int:
    """`total_minutes`, cut so that the attempt cannot run past the due date.

    Practice exams may be taken after their due date, so their due date cuts nothing (edx-exams
    cuts them too, which gives a practice attempt started after the due date zero minutes).
    """
    minutes = total_minutes(exam, allowance_mins)
    if exam.exam_type.is_practice:
        return minutes
    if exam.due_date is not None and now + timedelta(minutes=minutes) > exam.due_date:
        minutes = max(int((exam.due_date - now).total_seconds() // 60), 0)
    return minutes


def check_can_create(exam: Exam, user_id: int, now: datetime, *, has_attempt: bool) -> None:
    """One attempt per learner and exam; non-practice exams cannot be begun after their due date."""
    if has_attempt:
        raise Rejected(
            f"Cannot create attempt for exam_id={exam.id} and user_id={user_id} because an attempt "
            "already exists.", code="attempt_exists")
    if exam.due_date is not None and now > exam.due_date and not exam.exam_type.is_practice:
        raise Rejected(
            f"user_id={user_id} trying to create exam attempt for past due non-practice exam "
            f"exam_id={exam.id} in course_id={exam.course_id}. Do not register an exam attempt!",
            code="past_due")


def resolve_action(action: object, attempt: Attempt, exam: Exam, *, caller_id: int,
                   caller_is_course_staff: bool) -> AttemptStatus:
    """Who may do what: course staff may only verify or reject; the owner drives their attempt.

    Once an attempt is finished only a review changes it: the owner may repeat the last action
    (a no-op) but not, say, turn a rejected attempt into a submitted one (edx-exams allows that).
    """
    if caller_is_course_staff:
        mapping = STAFF_ACTIONS
    elif caller_id == attempt.user_id:
        mapping = LEARNER_ACTIONS
    else:
        raise Forbidden(
            f"user_id={attempt.user_id} attempted to update attempt_id={attempt.id} in "
            f"course_id={exam.course_id} but does not have access to it. (action={action})")
    target = mapping.get(action) if isinstance(action, str) else None
    if target is None:
        raise Rejected(f'Unrecognized action "{action}"', code="unrecognized_action")
    if not caller_is_course_staff and not attempt.status.is_incomplete and target is not attempt.status:
        raise illegal_transition_error(attempt, target, exam)
    return target


@dataclass(frozen=True)
class ExamAccess:
    """The LMS may render the exam's content for this caller for ``expires_in`` seconds."""

    expires_in: float


ACCESS_TOKEN_WINDOW = 60


def decide_exam_access(exam: Exam, attempt: Attempt | None, now: datetime, *,
                       is_course_staff: bool) -> ExamAccess | None:
    """Whether the LMS may render exam content for this caller now, and for how long.

    Staff always; before the due date only a started attempt with time left (for at most the time
    left); after the due date a submitted or verified attempt unless hidden after due, or no attempt.
    """
    if is_course_staff:
        return ExamAccess(ACCESS_TOKEN_WINDOW)
    past_due = exam.due_date is not None and now >= exam.due_date
    if attempt is not None:
        if not past_due:
            if attempt.status is not S.STARTED:
                return None
            remaining = attempt.time_remaining_seconds(now)
            if remaining <= 0:
                return None
            # The whole window (the integer 60, as edx-exams sends it) unless less time is left.
            return ExamAccess(remaining if remaining < ACCESS_TOKEN_WINDOW else ACCESS_TOKEN_WINDOW)
        if attempt.status in (S.SUBMITTED, S.VERIFIED) and not exam.hide_after_due:
            return ExamAccess(ACCESS_TOKEN_WINDOW)
        return None
    # edx-exams also grants this when the exam is hidden after its due date; we do not.
    if past_due and not exam.hide_after_due:
        return ExamAccess(ACCESS_TOKEN_WINDOW)
    return None


# -- staff: resume an errored attempt ------------------------------------------------------------------
def time_left_at_error(attempt: Attempt, history: list[StatusChange]) -> float:
    """Seconds the learner had left when the attempt went into ``error`` (0 when it never started).

    The moment of the error is the last recorded move to ``error``; without one, the attempt's last change.
    """
    errored_at = next((c.at for c in reversed(history) if c.to_status is S.ERROR), None) or attempt.modified
    if errored_at is None:
        return 0
    return attempt.time_remaining_seconds(errored_at)


def resume_errored(attempt: Attempt, history: list[StatusChange], now: datetime, *, actor_id: int | None,
                   other_attempt_active: bool) -> StatusChange:
    """Staff resume an attempt that went into ``error``: it is ``started`` again with the time it had left.

    The time the learner had left at the moment of the error is kept: the start time moves forward by the
    time spent in ``error``, so the deadline is now plus that time (the allowed minutes do not change).
    Only an errored attempt that had started with time left can be resumed, and not while the learner has
    another active attempt. (edx-proctoring staff can do this; edx-exams cannot.)
    """
    if attempt.status is not S.ERROR:
        raise IllegalTransition(f'Only an attempt in "error" can be resumed; attempt_id={attempt.id} is '
                                f'"{attempt.status.value}".', code="not_errored")
    if attempt.start_time is None or attempt.allowed_time_limit_mins is None:
        raise IllegalTransition(f"attempt_id={attempt.id} never started: there is no time to resume.",
                                code="never_started")
    left = time_left_at_error(attempt, history)
    if left <= 0:
        raise IllegalTransition(f"attempt_id={attempt.id} had no time left when it went into error.",
                                code="no_time_left")
    if other_attempt_active:
        raise other_attempt_active_error(attempt, S.STARTED)
    attempt.start_time = now + timedelta(seconds=left) - timedelta(minutes=attempt.allowed_time_limit_mins)
    attempt.end_time = None
    change = StatusChange(attempt.id, attempt.status, S.STARTED, actor_id, now)
    attempt.status = S.STARTED
    attempt.modified = now
    attempt.changes.append(change)
    return change
