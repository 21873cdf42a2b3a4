"""Staff resume an errored attempt with the time the learner had left at the error."""

from datetime import datetime, timedelta, timezone

import pytest

from exams.domain.attempts import Attempt, AttemptStatus as S, StatusChange, resume_errored, time_left_at_error
from exams.domain.errors import IllegalTransition

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


def errored(minutes_in: float, limit: int = 60) -> tuple[Attempt, list[StatusChange]]:
    at_error = T0 + timedelta(minutes=minutes_in)
    attempt = Attempt(id=5, user_id=1, exam_id=2, status=S.ERROR, start_time=T0, allowed_time_limit_mins=limit,
                      modified=at_error)
    history = [StatusChange(5, None, S.CREATED, 1, T0), StatusChange(5, S.CREATED, S.STARTED, 1, T0),
               StatusChange(5, S.STARTED, S.ERROR, 1, at_error)]
    return attempt, history


def test_resume_keeps_the_time_left_at_the_error_however_long_the_attempt_sat_in_error():
    attempt, history = errored(minutes_in=20)
    now = T0 + timedelta(hours=5)  # long past the original deadline
    change = resume_errored(attempt, history, now, actor_id=9, other_attempt_active=False)
    assert attempt.status is S.STARTED
    assert change == StatusChange(5, S.ERROR, S.STARTED, 9, now)
    assert attempt.time_remaining_seconds(now) == 40 * 60
    assert attempt.deadline() == now + timedelta(minutes=40)
    assert attempt.allowed_time_limit_mins == 60
    assert attempt.changes == [change]


def test_time_left_is_read_from_the_last_move_to_error():
    attempt, history = errored(minutes_in=45)
    assert time_left_at_error(attempt, history) == 15 * 60


@pytest.mark.parametrize("status", [s for s in S if s is not S.ERROR])
def test_only_an_errored_attempt_is_resumed(status):
    attempt, history = errored(minutes_in=10)
    attempt.status = status
    with pytest.raises(IllegalTransition) as info:
        resume_errored(attempt, history, T0 + timedelta(hours=1), actor_id=9, other_attempt_active=False)
    assert info.value.code == "not_errored"
    assert attempt.status is status and attempt.start_time == T0


def test_an_attempt_that_never_started_or_had_no_time_left_is_not_resumed():
    attempt = Attempt(id=5, user_id=1, exam_id=2, status=S.ERROR, modified=T0)
    with pytest.raises(IllegalTransition, match="never started"):
        resume_errored(attempt, [], T0, actor_id=9, other_attempt_active=False)
    attempt, history = errored(minutes_in=61)
    with pytest.raises(IllegalTransition) as info:
        resume_errored(attempt, history, T0 + timedelta(hours=2), actor_id=9, other_attempt_active=False)
    assert info.value.code == "no_time_left" and attempt.status is S.ERROR


def test_not_while_another_attempt_of_the_learner_is_active():
    attempt, history = errored(minutes_in=10)
    with pytest.raises(IllegalTransition) as info:
        resume_errored(attempt, history, T0 + timedelta(hours=1), actor_id=9, other_attempt_active=True)
    assert info.value.code == "other_attempt_active" and attempt.status is S.ERROR
