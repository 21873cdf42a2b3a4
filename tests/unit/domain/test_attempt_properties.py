"""Invariants of the lifecycle over random sequences of moves, clock steps and expiries (hypothesis).

One learner, three exams. Any status may be asked for at any time, as any caller could; the domain
must refuse what breaks a rule and the invariants must hold after every step.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from exams.domain.attempts import Attempt, AttemptStatus, check_can_create
from exams.domain.errors import IllegalTransition, Rejected
from exams.domain.exams import Exam, ExamType

from .test_attempt_rules import COURSE, NOW

S = AttemptStatus
EXAMS = [
    Exam(id=1, course_id=COURSE, content_id="a", exam_name="A", exam_type=ExamType.TIMED, time_limit_mins=30),
    Exam(id=2, course_id=COURSE, content_id="b", exam_name="B", exam_type=ExamType.PROCTORED, time_limit_mins=60,
         due_date=NOW + timedelta(minutes=45)),
    Exam(id=3, course_id=COURSE, content_id="c", exam_name="C", exam_type=ExamType.PRACTICE, time_limit_mins=5,
         due_date=NOW - timedelta(days=1)),
]


class AttemptLifecycle(RuleBasedStateMachine):
    @initialize()
    def begin(self):
        self.now = NOW
        self.attempts: dict[int, Attempt] = {}
        self.ever_completed: set[int] = set()
        self.last_remaining: dict[int, float] = {}
        self.first_clock: dict[int, tuple] = {}

    def _others_active(self, attempt: Attempt) -> bool:
        return any(a.status.is_in_progress for a in self.attempts.values() if a is not attempt)

    @rule(exam=st.sampled_from(EXAMS))
    def create(self, exam):
        try:
            check_can_create(exam, 7, self.now, has_attempt=exam.id in self.attempts)
        except Rejected:
            return
        self.attempts[exam.id] = Attempt(id=exam.id, user_id=7, exam_id=exam.id, created=self.now)

    @rule(exam=st.sampled_from(EXAMS), to=st.sampled_from(list(AttemptStatus)), allowance=st.integers(0, 90))
    def move(self, exam, to, allowance):
        attempt = self.attempts.get(exam.id)
        if attempt is None:
            return
        try:
            attempt.transition(to, self.now, exam, actor_id=7, allowance_mins=allowance,
                               other_attempt_active=self._others_active(attempt))
        except IllegalTransition:
            pass

    @rule(seconds=st.integers(0, 40 * 60))
    def time_passes(self, seconds):
        self.now += timedelta(seconds=seconds)

    @rule()
    def expire(self):
        for exam in EXAMS:
            attempt = self.attempts.get(exam.id)
            if attempt is not None and attempt.is_expired(self.now):
                attempt.transition(S.SUBMITTED, self.now, exam, actor_id=None)

    @invariant()
    def a_completed_attempt_never_returns_to_an_incomplete_status(self):
        for exam_id, attempt in getattr(self, "attempts", {}).items():
            if exam_id in self.ever_completed:
                assert not attempt.status.is_incomplete, attempt
            if attempt.status.is_completed or attempt.status is S.EXPIRED:
                self.ever_completed.add(exam_id)

    @invariant()
    def a_learner_never_has_two_active_attempts(self):
        active = [a for a in getattr(self, "attempts", {}).values() if a.status.is_in_progress]
        assert len(active) <= 1, active

    @invariant()
    def time_remaining_is_never_negative_and_never_grows_once_started(self):
        for exam_id, attempt in getattr(self, "attempts", {}).items():
            remaining = attempt.time_remaining_seconds(self.now)
            assert remaining >= 0
            if attempt.start_time is not None:
                assert remaining <= self.last_remaining.get(exam_id, remaining)
                self.last_remaining[exam_id] = remaining

    @invariant()
    def the_clock_is_fixed_at_the_first_start(self):
        for exam_id, attempt in getattr(self, "attempts", {}).items():
            if attempt.start_time is not None:
                clock = (attempt.start_time, attempt.allowed_time_limit_mins)
                assert self.first_clock.setdefault(exam_id, clock) == clock
                first_start = next(c for c in attempt.changes if c.to_status is S.STARTED)
                assert attempt.start_time == first_start.at

AttemptLifecycle.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
TestAttemptLifecycle = AttemptLifecycle.TestCase
