"""AcsService over in-memory fakes: service tokens, bearer checks and the control messages a vendor sends."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from exams.domain.attempts import Attempt, AttemptStatus
from exams.domain.errors import NotFound, Rejected
from exams.domain.exams import Exam, ExamType, Provider
from exams.domain.reviews import ControlRequest
from exams.domain.users import User
from exams.ports.lti import ToolRegistration
from exams.ports.proctoring import BearerProblem, BearerRefused, ServiceTokenRefused, TokenError
from exams.services.acs import AcsService
from exams.services.attempts import AttemptService
from tests.fakes import FakeClock, FakeProctoringVendor, RecordingOutcomes
from tests.fakes_lti import FakeLtiStore
from tests.fakes_repositories import FakeRepositories

S = AttemptStatus
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
C = "course-v1:edx+test+f19"
SUB = "5d3f0b7e-8a8b-4c41-9b0e-0a8f2c9d1e77"
TOKEN_URL = "https://exams.example.org/lti/lti_consumer/v1/token/1"


def tool(client_id: str, kid: str) -> ToolRegistration:
    return ToolRegistration(registration_id="", client_id=client_id, oidc_login_url="https://tool.example/login",
                            launch_url="https://tool.example/launch", platform_private_key="{}", platform_kid=kid)


class World:
    """A learner with a started attempt at an exam proctored through registration "1"; registration "2" is another
    vendor's, with an exam and an attempt of its own."""

    def __init__(self):
        self.repos = FakeRepositories()
        self.store = FakeLtiStore()
        self.clock = FakeClock(NOW)
        self.outcomes = RecordingOutcomes()
        self.vendor = FakeProctoringVendor()
        self.service = AcsService(self.repos, AttemptService(self.repos, self.clock, self.outcomes), self.vendor,
                                  self.store.registrations, self.store.nonces, self.clock,
                                  issuer="https://exams.example.org")
        self.mine = self.store.registrations.add(tool("tool-1", "kid-1"))
        self.theirs = self.store.registrations.add(tool("tool-2", "kid-2"))
        self.learner = self.repos.users.ensure(User(None, "learner", anonymous_user_id=SUB))
        self.exam = self.exam_of(self.mine, "block-a")
        self.attempt = self.started(self.exam)
        self.their_exam = self.exam_of(self.theirs, "block-b")

    def exam_of(self, registration, content) -> Exam:
        provider = self.repos.providers.add(Provider(None, f"vendor-{content}", "Vendor",
                                                     lti_configuration_id=registration.registration_id))
        return self.repos.exams.add(Exam(None, C, content, "Final", ExamType.PROCTORED, 60,
                                         provider_id=provider.id))

    def started(self, exam, status=S.STARTED) -> Attempt:
        return self.repos.attempts.add(Attempt(None, self.learner.id, exam.id, status=status, start_time=NOW,
                                               allowed_time_limit_mins=60, created=NOW, modified=NOW))

    def message(self, exam=None, action="terminate", reason_code="1", severity="0.1",
                incident_time=NOW - timedelta(minutes=5), sub=SUB) -> ControlRequest:
        return ControlRequest(user_sub=sub, resource_link_id=(exam or self.exam).resource_id, attempt_number=1,
                              action=action, incident_time=incident_time, severity=Decimal(severity),
                              reason_code=reason_code)

    def control(self, message, registration=None):
        with self.repos.unit_of_work():
            return self.service.control(registration or self.mine, message)


@pytest.fixture
def w():
    return World()


# -- service tokens and bearer checks ---------------------------------------------------------------------
def test_a_service_token_is_granted_to_a_registered_tool_only(w):
    form = {"client_assertion": ["fake-assertion:tool-1"]}
    token = w.service.grant_token(w.mine.registration_id, form, TOKEN_URL)
    assert token.access_token == "fake-token:1:control"
    assert w.vendor.granted == [("1", TOKEN_URL)]
    with pytest.raises(ServiceTokenRefused) as unknown:
        w.service.grant_token("99", form, TOKEN_URL)
    assert unknown.value.error is TokenError.INVALID_CLIENT


def test_an_unknown_registration_has_no_acs(w):
    assert w.service.registration("1") == w.mine
    with pytest.raises(NotFound) as missing:
        w.service.registration("99")
    assert missing.value.code == "registration_not_found"


@pytest.mark.parametrize("bearer, problem", [
    ("fake-token:2:control", BearerProblem.OTHER_REGISTRATION),  # genuine, but another registration's
    ("fake-token:99:control", BearerProblem.INVALID_TOKEN),  # names a registration that does not exist
    ("garbage", BearerProblem.INVALID_TOKEN),
    ("fake-token:1:other", BearerProblem.INSUFFICIENT_SCOPE),
])
def test_bearer_tokens_are_refused_with_the_reason_the_vendor_needs(w, bearer, problem):
    w.service.authorize(w.mine, "fake-token:1:control")
    with pytest.raises(BearerRefused) as refused:
        w.service.authorize(w.mine, bearer)
    assert refused.value.problem is problem


# -- control messages -------------------------------------------------------------------------------------
def test_a_clean_terminate_verifies_the_attempt_records_the_result_and_tells_the_lms(w):
    outcome = w.control(w.message())
    assert not outcome.replayed and outcome.attempt.status is S.VERIFIED
    assert w.repos.attempts.get(w.attempt.id).status is S.VERIFIED
    [result] = w.repos.control_results.for_attempt(w.attempt.id)
    assert (result.action_type, result.reason_code, result.severity) == ("terminate", "1", Decimal("0.10"))
    assert w.outcomes.changes == [(w.attempt.id, "verified", "learner", None)]


def test_the_same_message_again_is_a_replay_that_changes_nothing(w):
    w.control(w.message())
    again = w.control(w.message())
    assert again.replayed
    assert len(w.repos.control_results.for_attempt(w.attempt.id)) == 1
    assert len(w.outcomes.changes) == 1


def test_a_flag_without_an_incident_time_is_recorded_at_the_time_of_receipt(w):
    outcome = w.control(w.message(action="flag", reason_code="15", severity="0.7", incident_time=None))
    assert outcome.attempt.status is S.STARTED
    [result] = w.repos.control_results.for_attempt(w.attempt.id)
    assert (result.action_type, result.incident_time) == ("flag", NOW)
    assert w.outcomes.changes == []


def test_a_message_about_an_unknown_learner_is_not_found(w):
    with pytest.raises(NotFound) as missing:
        w.control(w.message(sub="00000000-0000-4000-8000-000000000000"))
    assert missing.value.code == "user_not_found"


def test_a_vendor_cannot_name_an_attempt_of_another_vendors_exam(w):
    their_attempt = w.started(w.their_exam, status=S.READY_TO_START)
    with pytest.raises(NotFound) as missing:
        w.control(w.message(exam=w.their_exam))
    assert missing.value.code == "attempt_not_found"
    assert w.repos.attempts.get(their_attempt.id).status is S.READY_TO_START
    assert w.repos.control_results.for_attempt(their_attempt.id) == []
    assert w.control(w.message(exam=w.their_exam), registration=w.theirs).attempt.id == their_attempt.id


def test_an_attempt_the_vendor_may_not_act_on_is_refused_and_nothing_is_recorded(w):
    other = w.exam_of(w.mine, "block-c")
    created = w.started(other, status=S.CREATED)
    with pytest.raises(Rejected) as refused:
        w.control(w.message(exam=other))
    assert refused.value.code == "attempt_not_actionable"
    assert w.repos.control_results.for_attempt(created.id) == []
