"""AttemptService over in-memory repositories: the use cases, their atomicity and what they hand to the ports."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from exams.domain.allowances import Allowance
from exams.domain.attempts import AttemptStatus
from exams.domain.errors import Conflict, Forbidden, IllegalTransition, NotFound, Rejected
from exams.domain.exams import CourseConfig, Exam, ExamType, Provider
from exams.domain.reviews import ControlResult
from exams.domain.users import User
from exams.services.attempts import AllowanceRequest, AttemptService
from tests.fakes import FakeClock, RecordingOutcomes
from tests.fakes_repositories import FakeAccessTokenSigner, FakeAttemptRepository, FakeRepositories

S = AttemptStatus
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
COURSE = "course-v1:edx+test+f19"
OTHER_COURSE = "course-v1:edx+other+f19"


class World:
    """One course with a provider, three exams, a learner, another learner, course staff and global staff."""

    def __init__(self):
        self.repos = FakeRepositories()
        self.clock = FakeClock(NOW)
        self.outcomes = RecordingOutcomes()
        self.signer = FakeAccessTokenSigner()
        self.service = AttemptService(self.repos, self.clock, self.outcomes, self.signer)
        self.provider = self.repos.providers.add(Provider(None, "test_provider", "testing provider",
                                                          tech_support_email="help@example.com"))
        self.repos.configs.put(CourseConfig(COURSE, self.provider.id, escalation_email="esc@example.com"))
        self.learner = self.user("learner", lms_user_id=70)
        self.other = self.user("other", lms_user_id=71)
        self.cstaff = self.user("cstaff")
        self.repos.staff_roles.add(self.cstaff.id, COURSE, "staff")
        self.staff = self.user("staff", is_staff=True)
        self.timed = self.exam("timed", ExamType.TIMED, 30)
        self.proctored = self.exam("proctored", ExamType.PROCTORED, 60, provider_id=self.provider.id)
        self.practice = self.exam("practice", ExamType.PRACTICE, 15, provider_id=self.provider.id)

    def user(self, username, **kw) -> User:
        return self.repos.users.ensure(User(None, username, email=f"{username}@example.com", **kw))

    def exam(self, name, exam_type, minutes, course_id=COURSE, **kw) -> Exam:
        return self.repos.exams.add(Exam(None, course_id, f"block-v1:edx+test+f19+type@sequential+block@{name}",
                                         name, exam_type, minutes, **kw))

    def run(self, work):
        """One unit of work: everything it wrote is rolled back if it raises."""
        with self.repos.unit_of_work():
            return work()

    def stored(self, attempt_id):
        return self.repos.attempts.get(attempt_id)

    def later(self, **delta) -> datetime:
        return self.clock.advance(**delta)


@pytest.fixture
def w():
    return World()


# -- create ------------------------------------------------------------------------------------
def test_creating_an_attempt_leaves_it_created_with_attempt_number_one(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=False))
    stored = w.stored(attempt.id)
    assert (stored.status, stored.attempt_number, stored.start_time, stored.created) == (S.CREATED, 1, None, NOW)
    assert [(c.from_status, c.to_status, c.actor_id) for c in w.repos.attempts.history(attempt.id)] == [
        (None, S.CREATED, w.learner.id)]
    assert w.outcomes.changes == []


def test_creating_with_the_clock_started_starts_it_at_once_with_the_time_limit(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    stored = w.stored(attempt.id)
    assert (stored.status, stored.start_time, stored.allowed_time_limit_mins) == (S.STARTED, NOW, 30)
    assert [c.to_status for c in w.repos.attempts.history(attempt.id)] == [S.CREATED, S.STARTED]
    assert w.outcomes.changes == [(attempt.id, "started", "learner", None)]


def test_creating_for_a_missing_exam_is_refused_with_its_id(w):
    with pytest.raises(Rejected) as err:
        w.run(lambda: w.service.create(w.learner, 11111111, start_clock=False))
    assert err.value.detail == "Exam with exam_id=11111111 does not exist."


def test_a_second_attempt_at_the_same_exam_is_refused(w):
    w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=False))
    with pytest.raises(Rejected) as err:
        w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    assert err.value.detail == (f"Cannot create attempt for exam_id={w.timed.id} and user_id={w.learner.id} "
                                "because an attempt already exists.")
    assert w.repos.attempts.latest_for(w.learner.id, w.timed.id).status is S.CREATED


def test_a_graded_exam_past_due_cannot_be_begun_but_a_practice_exam_can(w):
    for exam in (w.timed, w.proctored, w.practice):
        exam.due_date = NOW - timedelta(hours=1)
        w.repos.exams.save(exam)
    for exam in (w.timed, w.proctored):
        with pytest.raises(Rejected, match="trying to create exam attempt for past due non-practice exam"):
            w.run(lambda exam=exam: w.service.create(w.learner, exam.id, start_clock=False))
    attempt = w.run(lambda: w.service.create(w.learner, w.practice.id, start_clock=True))
    assert w.stored(attempt.id).allowed_time_limit_mins == 15


def test_create_and_start_is_all_or_nothing_when_another_attempt_is_active(w):
    w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    with pytest.raises(IllegalTransition, match="another exam attempt is currently active!"):
        w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=True))
    assert w.repos.attempts.latest_for(w.learner.id, w.proctored.id) is None


class BlindAttemptRepository(FakeAttemptRepository):
    """Reads as a concurrent request would have before the other committed: it sees no attempts."""

    def latest_for(self, user_id, exam_id):
        return None

    def active_for_user(self, user_id):
        return None


def test_losing_the_race_to_create_answers_with_the_rule_not_a_crash(w):
    w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=False))
    blind = BlindAttemptRepository(w.repos.users, w.repos.exams)
    blind.table = w.repos.attempts.table
    w.repos.attempts = blind
    with pytest.raises(Rejected) as err:
        w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=False))
    assert "because an attempt already exists." in err.value.detail


def test_losing_the_race_to_start_answers_with_the_rule_not_a_crash(w):
    w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    blind = BlindAttemptRepository(w.repos.users, w.repos.exams)
    blind.table = w.repos.attempts.table
    w.repos.attempts = blind
    with pytest.raises(IllegalTransition) as err:
        w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=True))
    assert err.value.detail == (f"Cannot start exam attempt for exam_id={w.proctored.id} and user_id={w.learner.id} "
                                "because another exam attempt is currently active!")
    assert [a.exam_id for a in w.repos.attempts.table.rows.values()] == [w.timed.id]


def test_an_allowance_granted_before_the_start_extends_the_attempt(w):
    w.repos.allowances.upsert([Allowance(None, w.learner.id, w.timed.id, 10)])
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    assert w.stored(attempt.id).allowed_time_limit_mins == 40


def test_an_allowance_granted_after_the_start_changes_nothing(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    w.repos.allowances.upsert([Allowance(None, w.learner.id, w.timed.id, 10)])
    w.run(lambda: w.service.act(w.learner, attempt.id, "stop"))
    w.run(lambda: w.service.act(w.learner, attempt.id, "start"))
    assert w.stored(attempt.id).allowed_time_limit_mins == 30


# -- act ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("action, status", [
    ("start", S.STARTED), ("stop", S.READY_TO_SUBMIT), ("submit", S.SUBMITTED),
    ("click_download_software", S.DOWNLOAD_SOFTWARE_CLICKED), ("error", S.ERROR)])
def test_the_owner_moves_their_attempt(w, action, status):
    attempt = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=False))
    result = w.run(lambda: w.service.act(w.learner, attempt.id, action))
    assert result.id == attempt.id and w.stored(attempt.id).status is status
    assert attempt.id in w.repos.attempts.locked
    assert w.repos.attempts.history(attempt.id)[-1].actor_id == w.learner.id


@pytest.mark.parametrize("reviewer", ["cstaff", "staff"])
@pytest.mark.parametrize("action, status", [("verify", S.VERIFIED), ("reject", S.REJECTED)])
def test_course_staff_and_global_staff_review_an_attempt(w, reviewer, action, status):
    attempt = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=True))
    w.run(lambda: w.service.act(w.learner, attempt.id, "submit"))
    w.run(lambda: w.service.act(getattr(w, reviewer), attempt.id, action))
    assert w.stored(attempt.id).status is status
    assert w.repos.attempts.history(attempt.id)[-1].actor_id == getattr(w, reviewer).id


def test_staff_of_another_course_are_strangers_to_the_attempt(w):
    w.repos.staff_roles.add(w.other.id, OTHER_COURSE, "instructor")
    attempt = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=False))
    with pytest.raises(Forbidden, match=f"user_id={w.learner.id} attempted to update attempt_id={attempt.id}"):
        w.run(lambda: w.service.act(w.other, attempt.id, "verify"))
    assert w.stored(attempt.id).status is S.CREATED


def test_acting_on_a_missing_attempt_names_it_with_the_edx_exams_typo(w):
    with pytest.raises(Rejected) as err:
        w.run(lambda: w.service.act(w.learner, 404, "start"))
    assert err.value.detail == "Attempt with attempt_id=404 does not exit."


def test_an_illegal_move_changes_nothing_and_sends_nothing(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    w.run(lambda: w.service.act(w.learner, attempt.id, "submit"))
    sent = list(w.outcomes.changes)
    with pytest.raises(IllegalTransition, match='A status transition from "submitted" to "started"'):
        w.run(lambda: w.service.act(w.learner, attempt.id, "start"))
    assert w.stored(attempt.id).status is S.SUBMITTED and w.outcomes.changes == sent


def test_stopping_a_second_attempt_while_one_is_active_is_refused(w):
    w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    second = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=False))
    with pytest.raises(IllegalTransition, match='to "ready_to_submit" because another exam attempt is currently'):
        w.run(lambda: w.service.act(w.learner, second.id, "stop"))


def test_submitting_twice_submits_once(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    w.later(minutes=5)
    w.run(lambda: w.service.act(w.learner, attempt.id, "submit"))
    w.later(minutes=1)
    w.run(lambda: w.service.act(w.learner, attempt.id, "submit"))
    assert w.stored(attempt.id).end_time == NOW + timedelta(minutes=5)
    assert [c[1] for c in w.outcomes.changes] == ["started", "submitted"]
    assert len(w.repos.attempts.history(attempt.id)) == 3


@pytest.mark.parametrize("review", ["verify", "reject"])
@pytest.mark.parametrize("action", ["submit", "error"])
def test_a_learner_cannot_undo_a_review(w, review, action):
    attempt = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=True))
    w.run(lambda: w.service.act(w.learner, attempt.id, "submit"))
    w.run(lambda: w.service.act(w.cstaff, attempt.id, review))
    sent = list(w.outcomes.changes)
    with pytest.raises(IllegalTransition, match="A status transition from"):
        w.run(lambda: w.service.act(w.learner, attempt.id, action))
    assert w.outcomes.changes == sent


# -- outcomes ----------------------------------------------------------------------------------
def test_a_submission_is_sent_as_the_learners_own_act(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=True))
    w.run(lambda: w.service.act(w.learner, attempt.id, "submit"))
    assert w.outcomes.changes[-1] == (attempt.id, "submitted", "learner", "learner")


@pytest.mark.parametrize("action, status", [("verify", "verified"), ("reject", "rejected")])
def test_a_review_is_sent_without_a_requesting_user(w, action, status):
    attempt = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=True))
    w.run(lambda: w.service.act(w.learner, attempt.id, "submit"))
    w.run(lambda: w.service.act(w.cstaff, attempt.id, action))
    assert w.outcomes.changes[-1] == (attempt.id, status, "learner", None)
    assert [c[1] for c in w.outcomes.changes].count(status) == 1


def test_an_error_is_sent_without_a_requesting_user(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=True))
    w.run(lambda: w.service.act(w.learner, attempt.id, "error"))
    assert w.outcomes.changes[-1] == (attempt.id, "error", "learner", None)


def test_a_trusted_move_reports_the_learner_and_no_actor(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=False))
    change = w.run(lambda: w.service.move(w.stored(attempt.id), S.READY_TO_START, actor=None))
    assert (change.from_status, change.to_status, change.actor_id) == (S.CREATED, S.READY_TO_START, None)
    assert w.outcomes.changes[-1] == (attempt.id, "ready_to_start", "learner", None)
    assert w.run(lambda: w.service.move(w.stored(attempt.id), S.READY_TO_START, actor=None)) is None


# -- reset -------------------------------------------------------------------------------------
@pytest.mark.parametrize("caller", ["learner", "cstaff", "staff"])
def test_the_owner_or_staff_reset_an_attempt_and_the_caller_is_sent(w, caller):
    attempt = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=True))
    w.run(lambda: w.service.act(w.learner, attempt.id, "submit"))
    w.run(lambda: w.service.reset(getattr(w, caller), attempt.id))
    assert w.stored(attempt.id) is None
    assert w.outcomes.resets == [(attempt.id, "learner", caller)]


def test_after_a_reset_the_learner_may_begin_again(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    w.run(lambda: w.service.reset(w.learner, attempt.id))
    again = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    assert again.id != attempt.id and w.stored(again.id).status is S.STARTED


def test_another_learner_may_not_reset_an_attempt(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=False))
    with pytest.raises(Forbidden) as err:
        w.run(lambda: w.service.reset(w.other, attempt.id))
    assert err.value.detail == (f"user_id={w.learner.id} attempted to delete attempt_id={attempt.id} in "
                                f"course_id={COURSE} but does not have access to it.")
    assert w.stored(attempt.id) is not None and w.outcomes.resets == []


def test_resetting_a_missing_attempt_is_refused(w):
    with pytest.raises(Rejected) as err:
        w.run(lambda: w.service.reset(w.learner, 404))
    assert err.value.detail == "Attempt with attempt_id=404 does not exist."


# -- expiry ------------------------------------------------------------------------------------
def test_an_attempt_with_time_left_is_not_expired_on_read(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    w.later(minutes=29)
    result = w.run(lambda: w.service.expire_if_due(w.stored(attempt.id), w.timed, w.learner))
    assert result.status is S.STARTED and w.stored(attempt.id).status is S.STARTED


@pytest.mark.parametrize("then", ["started", "ready_to_submit"])
def test_an_attempt_past_its_deadline_is_submitted_when_read(w, then):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    if then == "ready_to_submit":
        w.run(lambda: w.service.act(w.learner, attempt.id, "stop"))
    deadline = NOW + timedelta(minutes=30)
    w.later(minutes=31)
    result = w.run(lambda: w.service.expire_if_due(w.stored(attempt.id), w.timed, w.learner))
    stored = w.stored(attempt.id)
    assert result.status is S.SUBMITTED and stored.status is S.SUBMITTED
    assert stored.end_time == deadline + timedelta(minutes=1)
    assert w.repos.attempts.history(attempt.id)[-1].actor_id is None
    assert w.outcomes.changes[-1] == (attempt.id, "submitted", "learner", "learner")


def test_the_sweeper_submits_every_overdue_attempt_and_nothing_else(w):
    first = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    second = w.run(lambda: w.service.create(w.other, w.timed.id, start_clock=True))
    w.later(minutes=20)
    third = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=False))
    never_started = w.user("never_started")
    fresh = w.run(lambda: w.service.create(never_started, w.proctored.id, start_clock=False))
    w.run(lambda: w.service.act(never_started, fresh.id, "stop"))
    w.later(minutes=11)
    assert w.run(lambda: w.service.expire_overdue()) == 3
    assert [w.stored(a.id).status for a in (first, second, third, fresh)] == [
        S.SUBMITTED, S.SUBMITTED, S.CREATED, S.SUBMITTED]
    assert w.run(lambda: w.service.expire_overdue()) == 0


def test_the_sweeper_works_in_batches(w):
    for i in range(5):
        user = w.user(f"l{i}")
        w.run(lambda user=user: w.service.create(user, w.timed.id, start_clock=True))
    w.later(hours=1)
    assert w.run(lambda: w.service.expire_overdue(batch=2)) == 2
    assert w.run(lambda: w.service.expire_overdue(batch=2)) == 2
    assert w.run(lambda: w.service.expire_overdue(batch=2)) == 1


# -- learner reads -----------------------------------------------------------------------------
def test_latest_without_content_follows_the_active_attempt(w):
    w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=False))
    timed = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    attempt, exam = w.run(lambda: w.service.latest(w.learner, None))
    assert (attempt.id, exam.id) == (timed.id, w.timed.id)


def test_latest_without_content_and_nothing_active_is_nothing(w):
    w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=False))
    assert w.run(lambda: w.service.latest(w.learner, None)) == (None, None)


def test_latest_for_a_subsection_returns_that_exams_attempt_in_any_status(w):
    proctored = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=False))
    w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    attempt, exam = w.run(lambda: w.service.latest(w.learner, w.proctored.content_id))
    assert (attempt.id, attempt.status, exam.id) == (proctored.id, S.CREATED, w.proctored.id)


def test_latest_for_a_subsection_without_attempt_is_nothing(w):
    w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    attempt, exam = w.run(lambda: w.service.latest(w.learner, w.proctored.content_id))
    assert attempt is None and exam.id == w.proctored.id


def test_latest_never_returns_a_started_attempt_without_time(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    w.later(minutes=30)
    latest, _ = w.run(lambda: w.service.latest(w.learner, None))
    assert latest.id == attempt.id and latest.status is S.SUBMITTED


def test_the_learners_exam_view_adds_the_allowance_to_the_total_time(w):
    w.repos.allowances.upsert([Allowance(None, w.learner.id, w.proctored.id, 30)])
    view = w.run(lambda: w.service.learner_exam(w.learner, w.proctored.content_id))
    assert (view.exam.id, view.total_time, view.attempt, view.provider.verbose_name, view.passed_due_date) == (
        w.proctored.id, 90, None, "testing provider", False)


def test_the_learners_exam_view_of_a_timed_exam_has_no_provider(w):
    view = w.run(lambda: w.service.learner_exam(w.learner, w.timed.content_id))
    assert view.provider is None and view.total_time == 30


def test_the_learners_exam_view_knows_the_due_date_has_passed_at_the_due_date(w):
    w.timed.due_date = NOW
    w.repos.exams.save(w.timed)
    assert w.run(lambda: w.service.learner_exam(w.learner, w.timed.content_id)).passed_due_date is True


def test_the_learners_exam_view_of_no_exam_is_none(w):
    assert w.run(lambda: w.service.learner_exam(w.learner, "block-v1:nothing")) is None


def test_the_learners_exam_view_submits_an_overdue_attempt_first(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    w.later(minutes=31)
    view = w.run(lambda: w.service.learner_exam(w.learner, w.timed.content_id))
    assert view.attempt.id == attempt.id and view.attempt.status is S.SUBMITTED


def test_provider_settings_name_the_exams_provider_and_the_courses_escalation_email(w):
    provider, config = w.run(lambda: w.service.provider_settings(COURSE, w.proctored.id))
    assert provider.name == "test_provider" and config.escalation_email == "esc@example.com"
    provider, config = w.run(lambda: w.service.provider_settings(COURSE, 999))
    assert provider is None and config.escalation_email == "esc@example.com"


# -- access tokens -----------------------------------------------------------------------------
def test_an_access_token_is_signed_for_the_learners_lms_id_with_the_exams_keys(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    token = w.run(lambda: w.service.access_token(w.learner, w.timed.id))
    assert token.expires_in == 60 and token.token == f"token-for-70-{w.timed.content_id}"
    assert w.signer.signed == [(70, 60, {"course_id": COURSE, "content_id": w.timed.content_id})]
    assert attempt is not None


def test_an_access_token_lasts_no_longer_than_the_attempt(w):
    w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    w.later(minutes=29, seconds=45)
    assert w.run(lambda: w.service.access_token(w.learner, w.timed.id)).expires_in == 15.0


def test_an_access_token_for_a_missing_exam_is_not_found(w):
    with pytest.raises(NotFound) as err:
        w.run(lambda: w.service.access_token(w.learner, 999))
    assert err.value.detail == "Exam does not exist"


def test_no_access_token_without_a_started_attempt(w):
    w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=False))
    with pytest.raises(Forbidden) as err:
        w.run(lambda: w.service.access_token(w.learner, w.timed.id))
    assert err.value.detail == "Exam access token not granted" and w.signer.signed == []


def test_course_staff_get_an_access_token_without_attempt(w):
    assert w.run(lambda: w.service.access_token(w.cstaff, w.proctored.id)).expires_in == 60


# -- instructor --------------------------------------------------------------------------------
def test_the_instructor_list_pages_newest_first_with_the_first_review(w):
    ids = []
    for i in range(3):
        user = w.user(f"l{i}")
        ids.append(w.run(lambda user=user: w.service.create(user, w.proctored.id, start_clock=False)).id)
        w.later(minutes=1)
    w.repos.control_results.add(ControlResult(None, ids[1], "terminate", NOW, Decimal("0.10"), "1"))
    w.repos.control_results.add(ControlResult(None, ids[1], "terminate", NOW, Decimal("0.90"), "2"))
    page = w.run(lambda: w.service.attempts_for_exam(w.cstaff, COURSE, w.proctored.id, 2, 0))
    assert page.count == 3 and page.exam.id == w.proctored.id
    assert [(a.id, u.username, r.reason_code if r else None) for a, u, r in page.rows] == [
        (ids[2], "l2", None), (ids[1], "l1", "1")]
    page = w.run(lambda: w.service.attempts_for_exam(w.cstaff, COURSE, w.proctored.id, 2, 2))
    assert [a.id for a, _, _ in page.rows] == [ids[0]]


def test_the_instructor_list_is_for_course_staff_only(w):
    with pytest.raises(Forbidden):
        w.run(lambda: w.service.attempts_for_exam(w.learner, COURSE, w.proctored.id, 10, 0))


def test_the_instructor_list_of_an_exam_of_another_course_is_not_found(w):
    foreign = w.exam("foreign", ExamType.TIMED, 10, course_id=OTHER_COURSE)
    for exam_id in (foreign.id, 999):
        with pytest.raises(NotFound) as err:
            w.run(lambda exam_id=exam_id: w.service.attempts_for_exam(w.cstaff, COURSE, exam_id, 10, 0))
        assert err.value.detail == "Exam does not exist in course"


# -- allowances --------------------------------------------------------------------------------
def test_allowances_are_granted_by_username_or_email_and_updated_in_place(w):
    w.run(lambda: w.service.grant_allowances(w.cstaff, COURSE, [
        AllowanceRequest(w.timed.id, "learner", None, 10), AllowanceRequest(w.proctored.id, None, "other@example.com", 20)]))
    w.run(lambda: w.service.grant_allowances(w.cstaff, COURSE, [AllowanceRequest(w.timed.id, "learner", None, 45)]))
    rows = w.run(lambda: w.service.allowances(w.cstaff, COURSE))
    assert [(u.username, e.id, a.extra_time_mins) for a, u, e in rows] == [
        ("learner", w.timed.id, 45), ("other", w.proctored.id, 20)]


@pytest.mark.parametrize("bad, detail", [
    (AllowanceRequest(0, "nobody", None, 10), "Learner with username/email not found"),
    (AllowanceRequest(0, None, "nobody@example.com", 10), "Learner with username/email not found"),
    (AllowanceRequest(-1, "other", None, 10), "Exam does not exist"),
    (AllowanceRequest(999, "other", None, 10), "Exam does not exist"),
])
def test_a_batch_of_allowances_with_one_bad_item_writes_nothing(w, bad, detail):
    foreign = w.exam("foreign", ExamType.TIMED, 10, course_id=OTHER_COURSE)
    bad = AllowanceRequest(foreign.id if bad.exam_id == -1 else bad.exam_id or w.timed.id, bad.username, bad.email,
                           bad.extra_time_mins)
    with pytest.raises(Rejected) as err:
        # No rollback here: the service must refuse before it writes anything.
        w.service.grant_allowances(w.cstaff, COURSE, [AllowanceRequest(w.timed.id, "learner", None, 10), bad])
    assert err.value.detail == detail
    assert w.repos.allowances.table.rows == {}


def test_only_course_staff_manage_allowances(w):
    with pytest.raises(Forbidden):
        w.service.grant_allowances(w.learner, COURSE, [AllowanceRequest(w.timed.id, "learner", None, 10)])
    with pytest.raises(Forbidden):
        w.service.allowances(w.learner, COURSE)
    with pytest.raises(Forbidden):
        w.service.revoke_allowance(w.learner, COURSE, 1)
    assert w.repos.allowances.table.rows == {}


def test_an_allowance_is_revoked_only_through_its_own_course(w):
    foreign = w.exam("foreign", ExamType.TIMED, 10, course_id=OTHER_COURSE)
    w.repos.allowances.upsert([Allowance(None, w.learner.id, foreign.id, 5), Allowance(None, w.learner.id,
                                                                                        w.timed.id, 5)])
    for allowance_id in (1, 999):
        with pytest.raises(NotFound) as err:
            w.run(lambda allowance_id=allowance_id: w.service.revoke_allowance(w.cstaff, COURSE, allowance_id))
        assert err.value.detail == f"Allowance with id={allowance_id} does not exist."
    w.run(lambda: w.service.revoke_allowance(w.cstaff, COURSE, 2))
    assert list(w.repos.allowances.table.rows) == [1]


def test_the_fakes_keep_the_databases_rules(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    with pytest.raises(Conflict):
        w.repos.attempts.add(w.stored(attempt.id))
    other = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=False))
    stored = w.stored(other.id)
    stored.status = S.READY_TO_SUBMIT
    with pytest.raises(Conflict):
        w.repos.attempts.save(stored)
