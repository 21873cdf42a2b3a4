"""Invariants of AttemptService over random sequences of requests (hypothesis, in-memory repositories).

Learners create (with or without the clock), act (any action, junk included), read, reset; staff review;
time passes; the sweeper runs. Each request is one unit of work, rolled back when it is refused.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from exams.domain.attempts import IN_PROGRESS, AttemptStatus
from exams.domain.errors import DomainError

from .test_attempt_service import World

S = AttemptStatus
OWNER_ACTIONS = ["start", "stop", "submit", "click_download_software", "error", "verify", "junk", None]


class ServiceLifecycle(RuleBasedStateMachine):
    @initialize()
    def begin(self):
        self.w = World()
        self.learners = [self.w.learner, self.w.other]
        self.exams = [self.w.timed, self.w.proctored, self.w.practice]
        self.ever_finished: set[int] = set()
        self.last_remaining: dict[int, float] = {}

    def request(self, work):
        try:
            self.w.run(work)
        except DomainError:
            pass

    def attempt_of(self, learner, exam):
        return self.w.repos.attempts.latest_for(learner.id, exam.id)

    @rule(learner=st.integers(0, 1), exam=st.integers(0, 2), start_clock=st.booleans())
    def create(self, learner, exam, start_clock):
        self.request(lambda: self.w.service.create(self.learners[learner], self.exams[exam].id, start_clock))

    def act(self, pick, action, caller):
        attempts = sorted(self.stored(), key=lambda a: a.id)
        if not attempts:
            return
        attempt = attempts[pick % len(attempts)]
        owner = self.w.repos.users.get(attempt.user_id)
        who = {"owner": owner, "cstaff": self.w.cstaff,
               "stranger": next(u for u in self.learners if u.id != owner.id)}[caller]
        self.request(lambda: self.w.service.act(who, attempt.id, action))

    @rule(pick=st.integers(0, 5), action=st.sampled_from(OWNER_ACTIONS))
    def owner_acts(self, pick, action):
        self.act(pick, action, "owner")

    @rule(pick=st.integers(0, 5), action=st.sampled_from(["verify", "reject", "start"]))
    def staff_reviews(self, pick, action):
        self.act(pick, action, "cstaff")

    @rule(pick=st.integers(0, 5), action=st.sampled_from(OWNER_ACTIONS))
    def stranger_acts(self, pick, action):
        self.act(pick, action, "stranger")

    @rule(learner=st.integers(0, 1), exam=st.integers(0, 2))
    def reset(self, learner, exam):
        attempt = self.attempt_of(self.learners[learner], self.exams[exam])
        if attempt is not None:
            self.request(lambda: self.w.service.reset(self.learners[learner], attempt.id))

    @rule(learner=st.integers(0, 1), content=st.sampled_from([None, 0, 1, 2]))
    def read(self, learner, content):
        content_id = self.exams[content].content_id if content is not None else None
        self.request(lambda: self.w.service.latest(self.learners[learner], content_id))

    @rule(seconds=st.integers(0, 45 * 60))
    def time_passes(self, seconds):
        self.w.later(seconds=seconds)

    @rule()
    def sweep(self):
        self.request(lambda: self.w.service.expire_overdue())

    def stored(self):
        return list(self.w.repos.attempts.table.rows.values()) if hasattr(self, "w") else []

    @invariant()
    def a_learner_never_has_two_active_attempts(self):
        active = Counter(a.user_id for a in self.stored() if a.status in IN_PROGRESS)
        assert all(n <= 1 for n in active.values()), active

    @invariant()
    def a_completed_attempt_never_returns_to_an_incomplete_status(self):
        for attempt in self.stored():
            if attempt.id in self.ever_finished:
                assert not attempt.status.is_incomplete, attempt
            if not attempt.status.is_incomplete:
                self.ever_finished.add(attempt.id)

    @invariant()
    def time_remaining_is_never_negative_and_never_grows(self):
        for attempt in self.stored():
            remaining = attempt.time_remaining_seconds(self.w.clock.now())
            assert remaining >= 0
            if attempt.start_time is not None:
                assert remaining <= self.last_remaining.get(attempt.id, remaining)
                self.last_remaining[attempt.id] = remaining

    @invariant()
    def the_lms_hears_of_a_submission_at_most_once_per_attempt(self):
        if hasattr(self, "w"):
            submitted = Counter(attempt_id for attempt_id, status, _, _ in self.w.outcomes.changes
                                if status == "submitted")
            assert all(n == 1 for n in submitted.values()), submitted

    @invariant()
    def every_stored_status_is_the_end_of_its_history(self):
        for attempt in self.stored():
            history = self.w.repos.attempts.history(attempt.id)
            assert history[0].from_status is None and history[-1].to_status is attempt.status
            assert all(a.to_status is b.from_status for a, b in zip(history, history[1:]))


ServiceLifecycle.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
TestServiceLifecycle = ServiceLifecycle.TestCase
