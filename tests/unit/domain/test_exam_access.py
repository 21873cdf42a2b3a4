"""Whether the LMS may render an exam's content for a caller (the exam access token decision)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exams.domain.attempts import ACCESS_TOKEN_WINDOW, AttemptStatus, decide_exam_access
from exams.domain.exams import ExamType

from .test_attempt_rules import NOW, make_attempt, make_exam, started

S = AttemptStatus
FUTURE = NOW + timedelta(days=1)
PAST = NOW - timedelta(days=1)


def test_the_window_is_sixty_seconds():
    assert ACCESS_TOKEN_WINDOW == 60


@pytest.mark.parametrize("due_date", [None, FUTURE, PAST])
@pytest.mark.parametrize("attempt", [None, make_attempt(S.CREATED), make_attempt(S.REJECTED)])
def test_course_staff_always_get_sixty_seconds(due_date, attempt):
    grant = decide_exam_access(make_exam(due_date=due_date, hide_after_due=True), attempt, NOW, is_course_staff=True)
    assert grant is not None and grant.expires_in == 60


@pytest.mark.parametrize("due_date", [None, FUTURE])
def test_a_started_attempt_with_time_left_gets_at_most_sixty_seconds(due_date):
    grant = decide_exam_access(make_exam(due_date=due_date), started(minutes=30), NOW + timedelta(minutes=1),
                               is_course_staff=False)
    assert grant.expires_in == 60 and type(grant.expires_in) is int


def test_exactly_a_minute_left_is_the_whole_window_as_an_integer():
    grant = decide_exam_access(make_exam(), started(minutes=30), NOW + timedelta(minutes=29), is_course_staff=False)
    assert grant.expires_in == 60 and type(grant.expires_in) is int


def test_a_started_attempt_with_less_than_a_minute_left_gets_what_is_left():
    grant = decide_exam_access(make_exam(), started(minutes=30), NOW + timedelta(minutes=29, seconds=30),
                               is_course_staff=False)
    assert grant.expires_in == 30.0


def test_a_started_attempt_whose_time_is_up_gets_nothing():
    assert decide_exam_access(make_exam(), started(minutes=30), NOW + timedelta(minutes=30),
                              is_course_staff=False) is None


def test_a_started_attempt_without_a_start_time_gets_nothing():
    assert decide_exam_access(make_exam(), make_attempt(S.STARTED), NOW, is_course_staff=False) is None


@pytest.mark.parametrize("status", sorted(set(AttemptStatus) - {S.STARTED}, key=lambda s: s.value))
def test_before_the_due_date_only_a_started_attempt_gets_access(status):
    attempt = make_attempt(status, start_time=NOW, allowed_time_limit_mins=30)
    assert decide_exam_access(make_exam(due_date=FUTURE), attempt, NOW, is_course_staff=False) is None


def test_before_the_due_date_no_attempt_gets_nothing():
    assert decide_exam_access(make_exam(due_date=FUTURE), None, NOW, is_course_staff=False) is None
    assert decide_exam_access(make_exam(due_date=None), None, NOW, is_course_staff=False) is None


@pytest.mark.parametrize("status", [S.SUBMITTED, S.VERIFIED])
def test_after_the_due_date_a_submitted_or_verified_attempt_may_review_the_content(status):
    grant = decide_exam_access(make_exam(due_date=PAST), make_attempt(status), NOW, is_course_staff=False)
    assert grant.expires_in == 60


@pytest.mark.parametrize("status", sorted(set(AttemptStatus) - {S.SUBMITTED, S.VERIFIED}, key=lambda s: s.value))
def test_after_the_due_date_other_attempts_get_nothing(status):
    attempt = make_attempt(status, start_time=PAST, allowed_time_limit_mins=60 * 48)
    assert decide_exam_access(make_exam(due_date=PAST), attempt, NOW, is_course_staff=False) is None


def test_the_due_date_itself_counts_as_past():
    grant = decide_exam_access(make_exam(due_date=NOW), make_attempt(S.VERIFIED), NOW, is_course_staff=False)
    assert grant is not None


@pytest.mark.parametrize("status", [S.SUBMITTED, S.VERIFIED])
def test_content_hidden_after_the_due_date_stays_hidden_from_finished_attempts(status):
    exam = make_exam(due_date=PAST, hide_after_due=True)
    assert decide_exam_access(exam, make_attempt(status), NOW, is_course_staff=False) is None


def test_after_the_due_date_a_learner_without_attempt_may_see_the_content():
    grant = decide_exam_access(make_exam(exam_type=ExamType.PROCTORED, due_date=PAST), None, NOW,
                               is_course_staff=False)
    assert grant.expires_in == 60


def test_content_hidden_after_the_due_date_stays_hidden_from_learners_without_attempt():
    # edx-exams grants this one; we keep hide_after_due (docs/compatibility.md).
    exam = make_exam(due_date=PAST, hide_after_due=True)
    assert decide_exam_access(exam, None, NOW, is_course_staff=False) is None
