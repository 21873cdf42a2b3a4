"""The attempt lifecycle rules, one by one: statuses, transitions, clocks, expiry and who may act."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from exams.domain.attempts import (COMPLETED, IN_PROGRESS, INCOMPLETE, LEARNER_ACTIONS, STAFF_ACTIONS, Attempt,
                                   AttemptStatus, allowed_minutes, check_can_create, resolve_action)
from exams.domain.errors import Forbidden, IllegalTransition, Rejected
from exams.domain.exams import Exam, ExamType

S = AttemptStatus
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
COURSE = "course-v1:edx+test+f19"


def make_exam(exam_type: ExamType = ExamType.TIMED, time_limit_mins: int = 30, due_date=None, **kw) -> Exam:
    return Exam(id=5, course_id=COURSE, content_id="block-v1:edx+test+f19+type@sequential+block@a",
                exam_name="Midterm", exam_type=exam_type, time_limit_mins=time_limit_mins, due_date=due_date, **kw)


def make_attempt(status: AttemptStatus = S.CREATED, **kw) -> Attempt:
    return Attempt(id=3, user_id=7, exam_id=5, status=status, **kw)


def started(at: datetime = NOW, minutes: int = 30) -> Attempt:
    return make_attempt(S.STARTED, start_time=at, allowed_time_limit_mins=minutes)


# -- statuses and exam types --------------------------------------------------------------------
def test_there_are_the_twelve_statuses_edx_exams_knows():
    assert [s.value for s in AttemptStatus] == [
        "created", "download_software_clicked", "ready_to_start", "started", "ready_to_submit", "timed_out",
        "submitted", "verified", "rejected", "expired", "second_review_required", "error"]


def test_the_status_buckets_are_those_of_edx_exams():
    assert IN_PROGRESS == {S.STARTED, S.READY_TO_SUBMIT}
    assert COMPLETED == {S.TIMED_OUT, S.SUBMITTED, S.VERIFIED, S.REJECTED, S.ERROR, S.SECOND_REVIEW_REQUIRED}
    assert INCOMPLETE == {S.CREATED, S.DOWNLOAD_SOFTWARE_CLICKED, S.READY_TO_START, S.STARTED, S.READY_TO_SUBMIT}


def test_expired_is_neither_completed_nor_incomplete():
    assert not S.EXPIRED.is_completed and not S.EXPIRED.is_incomplete and not S.EXPIRED.is_in_progress


def test_the_status_properties_follow_the_buckets():
    for status in AttemptStatus:
        assert status.is_in_progress == (status in IN_PROGRESS)
        assert status.is_completed == (status in COMPLETED)
        assert status.is_incomplete == (status in INCOMPLETE)


@pytest.mark.parametrize("exam_type, proctored, practice, emails", [
    (ExamType.PROCTORED, True, False, True),
    (ExamType.TIMED, False, False, False),
    (ExamType.PRACTICE, True, True, False),
    (ExamType.ONBOARDING, True, True, False),
])
def test_each_exam_type_has_the_flags_of_edx_exams(exam_type, proctored, practice, emails):
    assert exam_type.is_proctored is proctored
    assert exam_type.is_timed is True
    assert exam_type.is_practice is practice
    assert exam_type.sends_learner_emails is emails


def test_an_unknown_exam_type_is_refused_with_the_text_studio_knows():
    with pytest.raises(Rejected, match="Must be a valid exam type."):
        ExamType.parse("something_bad")


# -- transitions -------------------------------------------------------------------------------
@pytest.mark.parametrize("completed", sorted(COMPLETED | {S.EXPIRED}, key=lambda s: s.value))
@pytest.mark.parametrize("incomplete", sorted(INCOMPLETE, key=lambda s: s.value))
def test_a_completed_attempt_never_returns_to_an_incomplete_status(completed, incomplete):
    attempt = make_attempt(completed, start_time=NOW, allowed_time_limit_mins=30)
    with pytest.raises(IllegalTransition) as err:
        attempt.transition(incomplete, NOW, make_exam(), actor_id=7)
    assert err.value.detail == (
        f'A status transition from "{completed.value}" to "{incomplete.value}" was attempted on exam_id=5 for '
        f"user_id=7. This is not allowed! (course_id={COURSE})")
    assert attempt.status is completed and attempt.changes == []


@pytest.mark.parametrize("source, target", [
    (S.VERIFIED, S.REJECTED), (S.REJECTED, S.VERIFIED), (S.ERROR, S.VERIFIED), (S.ERROR, S.REJECTED),
    (S.SECOND_REVIEW_REQUIRED, S.VERIFIED), (S.SUBMITTED, S.SECOND_REVIEW_REQUIRED), (S.CREATED, S.SUBMITTED),
    (S.STARTED, S.VERIFIED), (S.EXPIRED, S.VERIFIED), (S.STARTED, S.EXPIRED), (S.CREATED, S.READY_TO_START),
])
def test_every_other_move_is_legal_as_in_edx_exams(source, target):
    attempt = make_attempt(source, start_time=NOW - timedelta(minutes=10), allowed_time_limit_mins=30)
    change = attempt.transition(target, NOW, make_exam(), actor_id=1)
    assert attempt.status is target
    assert (change.from_status, change.to_status, change.actor_id, change.at) == (source, target, 1, NOW)
    assert attempt.changes == [change]


@pytest.mark.parametrize("source", sorted(set(S) - {S.VERIFIED, S.SECOND_REVIEW_REQUIRED}, key=lambda s: s.value))
@pytest.mark.parametrize("target", [S.VERIFIED, S.SECOND_REVIEW_REQUIRED])
def test_an_attempt_that_never_started_can_never_be_verified_or_sent_to_second_review(source, target):
    attempt = make_attempt(source)  # no start time: the learner never started the clock
    assert attempt.never_started
    with pytest.raises(IllegalTransition) as err:
        attempt.transition(target, NOW, make_exam(), actor_id=1)
    assert err.value.code in ("never_started", "illegal_transition") or "never started" in err.value.detail
    assert attempt.status is source and attempt.changes == []


@pytest.mark.parametrize("target", [S.SUBMITTED, S.ERROR, S.REJECTED])
def test_an_attempt_that_never_started_may_still_be_ended_errored_or_rejected(target):
    attempt = make_attempt(S.DOWNLOAD_SOFTWARE_CLICKED)
    attempt.transition(target, NOW, make_exam(), actor_id=1)
    assert attempt.status is target and attempt.start_time is None


def test_a_move_records_who_made_it_when_and_from_where():
    attempt = make_attempt(S.CREATED)
    attempt.transition(S.STARTED, NOW, make_exam(), actor_id=7)
    attempt.transition(S.READY_TO_SUBMIT, NOW + timedelta(minutes=5), make_exam(), actor_id=7)
    attempt.transition(S.SUBMITTED, NOW + timedelta(minutes=6), make_exam(), actor_id=None)
    assert [(c.attempt_id, c.from_status, c.to_status, c.actor_id, c.at) for c in attempt.changes] == [
        (3, S.CREATED, S.STARTED, 7, NOW),
        (3, S.STARTED, S.READY_TO_SUBMIT, 7, NOW + timedelta(minutes=5)),
        (3, S.READY_TO_SUBMIT, S.SUBMITTED, None, NOW + timedelta(minutes=6)),
    ]
    assert attempt.modified == NOW + timedelta(minutes=6)


def test_starting_an_attempt_that_has_already_started_is_refused():
    attempt = started()
    with pytest.raises(IllegalTransition) as err:
        attempt.transition(S.STARTED, NOW + timedelta(minutes=1), make_exam(), actor_id=7)
    assert err.value.detail == ("Cannot start exam attempt for exam_id=5 and user_id=7 because it has already "
                                "started!")
    assert err.value.code == "already_started"


def test_a_started_attempt_without_a_start_time_may_be_started_and_gets_its_clock():
    attempt = make_attempt(S.STARTED)
    attempt.transition(S.STARTED, NOW, make_exam(), actor_id=7)
    assert attempt.start_time == NOW and attempt.allowed_time_limit_mins == 30


def test_starting_while_another_attempt_is_active_is_refused():
    attempt = make_attempt(S.READY_TO_START)
    with pytest.raises(IllegalTransition) as err:
        attempt.transition(S.STARTED, NOW, make_exam(), actor_id=7, other_attempt_active=True)
    assert err.value.detail == ("Cannot start exam attempt for exam_id=5 and user_id=7 because another exam "
                                "attempt is currently active!")
    assert attempt.status is S.READY_TO_START and attempt.start_time is None


def test_stopping_while_another_attempt_is_active_is_refused_too():
    attempt = make_attempt(S.CREATED)
    with pytest.raises(IllegalTransition, match="another exam attempt is currently active!"):
        attempt.transition(S.READY_TO_SUBMIT, NOW, make_exam(), actor_id=7, other_attempt_active=True)
    assert attempt.status is S.CREATED


def test_another_active_attempt_does_not_block_leaving_the_active_statuses():
    attempt = started()
    attempt.transition(S.SUBMITTED, NOW, make_exam(), actor_id=7, other_attempt_active=True)
    assert attempt.status is S.SUBMITTED


def test_resuming_from_ready_to_submit_keeps_the_first_start_time_and_minutes():
    attempt = started(minutes=30)
    attempt.transition(S.READY_TO_SUBMIT, NOW + timedelta(minutes=10), make_exam(), actor_id=7)
    attempt.transition(S.STARTED, NOW + timedelta(minutes=12), make_exam(time_limit_mins=90), actor_id=7,
                       allowance_mins=60)
    assert attempt.start_time == NOW and attempt.allowed_time_limit_mins == 30


def test_every_move_to_submitted_stamps_the_end_time():
    attempt = started()
    attempt.transition(S.SUBMITTED, NOW + timedelta(minutes=20), make_exam(), actor_id=7)
    assert attempt.end_time == NOW + timedelta(minutes=20)
    attempt.transition(S.SECOND_REVIEW_REQUIRED, NOW + timedelta(minutes=25), make_exam(), actor_id=None)
    assert attempt.end_time == NOW + timedelta(minutes=20)


@pytest.mark.parametrize("status", [S.SUBMITTED, S.VERIFIED, S.ERROR, S.READY_TO_SUBMIT, S.CREATED])
def test_moving_to_the_status_an_attempt_already_has_changes_nothing(status):
    attempt = make_attempt(status, start_time=NOW, allowed_time_limit_mins=30, end_time=NOW)
    assert attempt.transition(status, NOW + timedelta(minutes=3), make_exam(), actor_id=7) is None
    assert attempt.end_time == NOW and attempt.changes == [] and attempt.modified is None


# -- allowed minutes ---------------------------------------------------------------------------
def test_the_first_start_fixes_the_time_limit_as_allowed_minutes():
    attempt = make_attempt(S.CREATED)
    attempt.transition(S.STARTED, NOW, make_exam(time_limit_mins=45), actor_id=7)
    assert (attempt.start_time, attempt.allowed_time_limit_mins) == (NOW, 45)


def test_an_allowance_adds_its_minutes_at_the_first_start():
    attempt = make_attempt(S.CREATED)
    attempt.transition(S.STARTED, NOW, make_exam(time_limit_mins=30), actor_id=7, allowance_mins=10)
    assert attempt.allowed_time_limit_mins == 40


def test_the_due_date_cuts_the_allowed_minutes():
    exam = make_exam(time_limit_mins=30, due_date=NOW + timedelta(minutes=10))
    assert allowed_minutes(exam, 0, NOW) == 10


def test_the_due_date_cuts_the_allowance_too():
    exam = make_exam(time_limit_mins=30, due_date=NOW + timedelta(minutes=35))
    assert allowed_minutes(exam, 20, NOW) == 35


def test_the_cut_keeps_whole_minutes_only():
    exam = make_exam(time_limit_mins=30, due_date=NOW + timedelta(minutes=10, seconds=59))
    assert allowed_minutes(exam, 0, NOW) == 10


def test_a_due_date_far_enough_away_cuts_nothing():
    exam = make_exam(time_limit_mins=30, due_date=NOW + timedelta(minutes=30))
    assert allowed_minutes(exam, 0, NOW) == 30


def test_a_start_after_the_due_date_gets_zero_minutes_never_fewer():
    exam = make_exam(exam_type=ExamType.PROCTORED, time_limit_mins=30, due_date=NOW - timedelta(hours=2))
    assert allowed_minutes(exam, 15, NOW) == 0


@pytest.mark.parametrize("exam_type", [ExamType.PRACTICE, ExamType.ONBOARDING])
def test_a_practice_exam_is_not_cut_by_its_due_date(exam_type):
    exam = make_exam(exam_type=exam_type, time_limit_mins=30, due_date=NOW - timedelta(days=1))
    assert allowed_minutes(exam, 5, NOW) == 35


# -- clock -------------------------------------------------------------------------------------
def test_time_remaining_is_a_float_of_seconds_while_time_is_left():
    remaining = started(minutes=30).time_remaining_seconds(NOW + timedelta(seconds=0.5))
    assert isinstance(remaining, float) and remaining == 1799.5


def test_time_remaining_is_the_integer_zero_at_and_past_the_deadline():
    for later in (timedelta(minutes=30), timedelta(minutes=31), timedelta(days=3)):
        remaining = started(minutes=30).time_remaining_seconds(NOW + later)
        assert remaining == 0 and type(remaining) is int


def test_an_attempt_that_never_started_has_no_time_remaining():
    assert make_attempt(S.CREATED).time_remaining_seconds(NOW) == 0
    assert make_attempt(S.STARTED, start_time=NOW).time_remaining_seconds(NOW) == 0


def test_the_clock_keeps_running_while_ready_to_submit():
    attempt = make_attempt(S.READY_TO_SUBMIT, start_time=NOW, allowed_time_limit_mins=30)
    assert attempt.time_remaining_seconds(NOW + timedelta(minutes=20)) == 600.0


def test_the_deadline_is_start_time_plus_allowed_minutes():
    assert started(minutes=40).deadline() == NOW + timedelta(minutes=40)
    assert make_attempt(S.CREATED).deadline() is None


# -- expiry ------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [S.STARTED, S.READY_TO_SUBMIT])
def test_an_in_progress_attempt_past_its_deadline_is_expired(status):
    attempt = make_attempt(status, start_time=NOW, allowed_time_limit_mins=30)
    assert not attempt.is_expired(NOW + timedelta(minutes=29, seconds=59))
    assert attempt.is_expired(NOW + timedelta(minutes=30))


def test_an_in_progress_attempt_without_a_clock_counts_as_expired():
    assert make_attempt(S.READY_TO_SUBMIT).is_expired(NOW)


@pytest.mark.parametrize("status", sorted(set(AttemptStatus) - IN_PROGRESS, key=lambda s: s.value))
def test_only_in_progress_attempts_expire(status):
    attempt = make_attempt(status, start_time=NOW - timedelta(hours=3), allowed_time_limit_mins=30)
    assert not attempt.is_expired(NOW)


# -- creating ----------------------------------------------------------------------------------
def test_a_second_attempt_at_the_same_exam_is_refused():
    with pytest.raises(Rejected) as err:
        check_can_create(make_exam(), 7, NOW, has_attempt=True)
    assert err.value.detail == ("Cannot create attempt for exam_id=5 and user_id=7 because an attempt already "
                                "exists.")


@pytest.mark.parametrize("exam_type", [ExamType.PROCTORED, ExamType.TIMED])
def test_a_graded_exam_past_its_due_date_cannot_be_begun(exam_type):
    exam = make_exam(exam_type=exam_type, due_date=NOW - timedelta(hours=1))
    with pytest.raises(Rejected) as err:
        check_can_create(exam, 7, NOW, has_attempt=False)
    assert err.value.detail == (f"user_id=7 trying to create exam attempt for past due non-practice exam exam_id=5 "
                                f"in course_id={COURSE}. Do not register an exam attempt!")


@pytest.mark.parametrize("exam_type", [ExamType.PRACTICE, ExamType.ONBOARDING])
def test_a_practice_exam_past_its_due_date_can_be_begun(exam_type):
    check_can_create(make_exam(exam_type=exam_type, due_date=NOW - timedelta(hours=1)), 7, NOW, has_attempt=False)


def test_an_exam_due_right_now_can_still_be_begun():
    check_can_create(make_exam(due_date=NOW), 7, NOW, has_attempt=False)


# -- who may act -------------------------------------------------------------------------------
@pytest.mark.parametrize("action, status", sorted(LEARNER_ACTIONS.items()))
def test_the_owner_drives_their_attempt(action, status):
    assert resolve_action(action, make_attempt(), make_exam(), caller_id=7, caller_is_course_staff=False) is status


def test_the_learner_actions_are_those_of_edx_exams():
    assert {a: s.value for a, s in LEARNER_ACTIONS.items()} == {
        "start": "started", "stop": "ready_to_submit", "submit": "submitted",
        "click_download_software": "download_software_clicked", "error": "error"}
    assert {a: s.value for a, s in STAFF_ACTIONS.items()} == {"verify": "verified", "reject": "rejected"}


@pytest.mark.parametrize("caller_id", [7, 99])
@pytest.mark.parametrize("action, status", sorted(STAFF_ACTIONS.items()))
def test_course_staff_may_verify_or_reject_any_attempt(caller_id, action, status):
    assert resolve_action(action, make_attempt(), make_exam(), caller_id=caller_id,
                          caller_is_course_staff=True) is status


@pytest.mark.parametrize("action", sorted(LEARNER_ACTIONS))
def test_course_staff_may_not_drive_even_their_own_attempt(action):
    with pytest.raises(Rejected, match=f'Unrecognized action "{action}"'):
        resolve_action(action, make_attempt(), make_exam(), caller_id=7, caller_is_course_staff=True)


@pytest.mark.parametrize("action", sorted(STAFF_ACTIONS))
def test_the_owner_may_not_review_their_own_attempt(action):
    with pytest.raises(Rejected) as err:
        resolve_action(action, make_attempt(), make_exam(), caller_id=7, caller_is_course_staff=False)
    assert err.value.detail == f'Unrecognized action "{action}"'


def test_someone_else_may_not_touch_the_attempt():
    with pytest.raises(Forbidden) as err:
        resolve_action("submit", make_attempt(), make_exam(), caller_id=8, caller_is_course_staff=False)
    assert err.value.detail == (f"user_id=7 attempted to update attempt_id=3 in course_id={COURSE} but does not "
                                "have access to it. (action=submit)")


@pytest.mark.parametrize("action", [None, "junk", "reset_attempt", "decline", "ping", "", 1, ["start"], {"a": 1}])
def test_an_unknown_action_is_refused_by_name(action):
    with pytest.raises(Rejected) as err:
        resolve_action(action, make_attempt(), make_exam(), caller_id=7, caller_is_course_staff=False)
    assert err.value.detail == f'Unrecognized action "{action}"'
    assert err.value.code == "unrecognized_action"


@pytest.mark.parametrize("status, action", [
    (status, action) for status in sorted(COMPLETED | {S.EXPIRED}, key=lambda s: s.value)
    for action in ("submit", "error") if LEARNER_ACTIONS[action] is not status])
def test_the_owner_may_not_change_a_finished_attempt(status, action):
    target = LEARNER_ACTIONS[action]
    with pytest.raises(IllegalTransition) as err:
        resolve_action(action, make_attempt(status), make_exam(), caller_id=7, caller_is_course_staff=False)
    assert err.value.detail.startswith(f'A status transition from "{status.value}" to "{target.value}"')


@pytest.mark.parametrize("status", [S.SUBMITTED, S.ERROR])
def test_the_owner_may_repeat_the_action_that_finished_the_attempt(status):
    action = {S.SUBMITTED: "submit", S.ERROR: "error"}[status]
    assert resolve_action(action, make_attempt(status), make_exam(), caller_id=7,
                          caller_is_course_staff=False) is status


@pytest.mark.parametrize("status", [S.SUBMITTED, S.ERROR, S.SECOND_REVIEW_REQUIRED, S.VERIFIED, S.REJECTED])
def test_staff_may_review_any_finished_attempt_again(status):
    assert resolve_action("reject", make_attempt(status), make_exam(), caller_id=1,
                          caller_is_course_staff=True) is S.REJECTED
