"""AttemptService.resume: course staff resume an errored attempt with the time it had left."""

from __future__ import annotations

import pytest

from exams.domain.attempts import AttemptStatus
from exams.domain.errors import Forbidden, IllegalTransition, NotFound
from tests.unit.services.test_attempt_service import OTHER_COURSE, World

S = AttemptStatus


@pytest.fixture
def w():
    return World()


def errored_attempt(w, minutes_in=20):
    attempt = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=True))
    w.later(minutes=minutes_in)
    w.run(lambda: w.service.act(w.learner, attempt.id, "error"))
    return attempt


def test_course_staff_resume_an_errored_attempt_with_the_minutes_it_had_left(w):
    attempt = errored_attempt(w)
    now = w.later(hours=3)
    w.run(lambda: w.service.resume(w.cstaff, attempt.id))
    stored = w.stored(attempt.id)
    assert stored.status is S.STARTED
    assert stored.time_remaining_seconds(now) == 40 * 60
    assert [(c.from_status, c.to_status, c.actor_id) for c in w.repos.attempts.history(attempt.id)][-1] == (
        S.ERROR, S.STARTED, w.cstaff.id)
    assert w.outcomes.changes[-1] == (attempt.id, "started", "learner", None)


def test_the_learner_and_staff_of_another_course_cannot_resume(w):
    attempt = errored_attempt(w)
    outsider = w.user("outsider")
    w.repos.staff_roles.add(outsider.id, OTHER_COURSE, "staff")
    for caller in (w.learner, outsider):
        with pytest.raises(Forbidden):
            w.run(lambda: w.service.resume(caller, attempt.id))
    assert w.stored(attempt.id).status is S.ERROR


def test_resume_refuses_what_is_not_errored_and_unknown_attempts(w):
    attempt = w.run(lambda: w.service.create(w.learner, w.proctored.id, start_clock=True))
    with pytest.raises(IllegalTransition):
        w.run(lambda: w.service.resume(w.staff, attempt.id))
    with pytest.raises(NotFound):
        w.run(lambda: w.service.resume(w.staff, 999))


def test_resume_is_refused_while_the_learner_has_another_active_attempt(w):
    attempt = errored_attempt(w)
    w.run(lambda: w.service.create(w.learner, w.timed.id, start_clock=True))
    with pytest.raises(IllegalTransition) as info:
        w.run(lambda: w.service.resume(w.staff, attempt.id))
    assert info.value.code == "other_attempt_active"
    assert w.stored(attempt.id).status is S.ERROR
