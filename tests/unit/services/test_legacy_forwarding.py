"""LegacyForwarding over a fake edx-proctoring and in-memory repositories: which courses it owns, what it asks."""

from __future__ import annotations

import pytest

from exams.domain.attempts import Attempt, AttemptStatus
from exams.domain.exams import CourseConfig
from exams.domain.users import User
from exams.ports.legacy import INVALID_JSON, LegacyResponse, LegacyUnavailable
from exams.services.exams import ExamService
from exams.services.legacy import LegacyForwarding
from tests.fakes_repositories import FakeRepositories

C = "course-v1:edx+legacy+f19"
LEARNER = User(1, "learner", lms_user_id=70)


class FakeEdxProctoring:
    """Records each call and answers what the test set."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.answer = LegacyResponse(200, {})
        self.down = False

    def _call(self, *call):
        self.calls.append(call)
        if self.down:
            raise LegacyUnavailable("connection refused", reachable=False)
        return self.answer

    def register_exams(self, course_id, exams):
        return self._call("register_exams", course_id, exams)

    def student_exam_attempt(self, course_id, content_id, lms_user_id):
        return self._call("student_exam_attempt", course_id, content_id, lms_user_id)

    def proctoring_settings(self, exam_id):
        return self._call("proctoring_settings", exam_id)

    def onboarding_status(self, course_id, username):
        return self._call("onboarding_status", course_id, username)

    def active_attempt(self, lms_user_id):
        return self._call("active_attempt", lms_user_id)


@pytest.fixture
def world():
    repos = FakeRepositories()
    client = FakeEdxProctoring()
    return repos, client, LegacyForwarding(ExamService(repos), client)


def test_without_a_client_nothing_is_forwarded_and_nothing_is_asked():
    legacy = LegacyForwarding(ExamService(FakeRepositories()), None)
    assert not legacy.enabled and not legacy.owns_course(C)
    assert legacy.active_attempt(LEARNER, None) is None


def test_a_course_without_a_provider_here_belongs_to_edx_proctoring(world):
    repos, _client, legacy = world
    assert legacy.owns_course(C)
    repos.configs.put(CourseConfig(C, None))
    assert legacy.owns_course(C)
    repos.configs.put(CourseConfig(C, 3))
    assert not legacy.owns_course(C)


def test_registration_adds_the_type_flags_to_items_of_a_known_type_only(world):
    _repos, client, legacy = world
    items = [{"content_id": "a", "exam_type": "proctored"}, {"content_id": "b", "exam_type": "practice"},
             {"content_id": "c", "exam_type": "bogus"}, "not an item"]
    legacy.register_exams(C, items)
    (_, course, sent), = client.calls
    assert course == C
    assert sent[0] == {**items[0], "is_proctored": True, "is_practice_exam": False}
    assert sent[1] == {**items[1], "is_proctored": True, "is_practice_exam": True}
    assert sent[2:] == items[2:]


def test_the_learners_exam_leaves_out_edx_proctorings_active_attempt(world):
    _repos, client, legacy = world
    client.answer = LegacyResponse(200, {"exam": {"id": 3}, "active_attempt": {"attempt_id": 9}})
    assert legacy.student_exam(LEARNER, C, "block").body == {"exam": {"id": 3}}
    assert client.calls == [("student_exam_attempt", C, "block", 70)]


def test_a_learner_without_an_lms_id_is_answered_here(world):
    _repos, client, legacy = world
    assert legacy.student_exam(User(2, "nolms"), C, "block") is None
    assert legacy.active_attempt(User(2, "nolms"), None) is None
    assert client.calls == []


def test_an_attempt_in_progress_here_is_not_asked_about(world):
    _repos, client, legacy = world
    client.answer = LegacyResponse(200, {"attempt_id": 9})
    assert legacy.active_attempt(LEARNER, Attempt(1, 1, 1, status=AttemptStatus.STARTED)) is None
    assert client.calls == []
    assert legacy.active_attempt(LEARNER, Attempt(1, 1, 1, status=AttemptStatus.SUBMITTED)) == {"attempt_id": 9}


@pytest.mark.parametrize("answer", [LegacyResponse(200, {}), LegacyResponse(404, {"attempt_id": 9}),
                                    LegacyResponse(200, INVALID_JSON), LegacyResponse(200, ["x"])])
def test_only_a_non_empty_object_answered_with_200_is_an_active_attempt(world, answer):
    _repos, client, legacy = world
    client.answer = answer
    assert legacy.active_attempt(LEARNER, None) is None


def test_an_lms_that_cannot_be_asked_is_reported_to_the_caller(world):
    _repos, client, legacy = world
    client.down = True
    with pytest.raises(LegacyUnavailable):
        legacy.provider_settings(5)
    with pytest.raises(LegacyUnavailable):
        legacy.onboarding(C, "learner")
