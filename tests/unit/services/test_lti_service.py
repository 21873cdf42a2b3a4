"""LtiService over in-memory fakes: the learner's launch (start, OIDC authentication, LtiStartAssessment, end),
the instructor's launch and roster, and tool registration."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from exams.domain.attempts import Attempt, AttemptStatus
from exams.domain.errors import Conflict, Forbidden, NotFound, Rejected
from exams.domain.exams import Exam, ExamType, Provider
from exams.domain.users import User
from exams.ports.lti import MESSAGE_START_PROCTORING, LaunchRejected, RejectionCode
from exams.services.attempts import AttemptService
from exams.services.lti import AuthenticationRequest, Browser, LtiConfig, LtiService
from tests.fakes import FakeClock, RecordingOutcomes
from tests.fakes_lti import FakeLtiPlatform, FakeLtiStore
from tests.fakes_repositories import FakeRepositories

S = AttemptStatus
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
C = "course-v1:edx+test+f19"
ROOT = "https://exams.example.org"
MFE = "https://learning.example.org"
REDIRECT = "https://tool.example/launch"


class World:
    def __init__(self):
        self.repos = FakeRepositories()
        self.clock = FakeClock(NOW)
        self.store = FakeLtiStore(now=self.clock.now)
        self.platform = FakeLtiPlatform(ROOT)
        self.outcomes = RecordingOutcomes()
        self.attempts = AttemptService(self.repos, self.clock, self.outcomes)
        self.service = LtiService(self.repos, self.store, self.platform, self.attempts, self.clock,
                                  LtiConfig(root_url=ROOT, learning_mfe_url=MFE, launch_ttl=600, session_ttl=7200))
        self.registration = self.service.register_tool(
            client_id="tool-1", oidc_login_url="https://tool.example/login", launch_url=REDIRECT,
            tool_jwks_url="https://tool.example/jwks")
        provider = self.repos.providers.add(Provider(None, "vendor", "Vendor",
                                                     lti_configuration_id=self.registration.registration_id))
        self.exam = self.repos.exams.add(Exam(None, C, "block-a", "Final", ExamType.PROCTORED, 60,
                                              provider_id=provider.id))
        self.learner = self.repos.users.ensure(User(None, "learner"))
        self.other = self.repos.users.ensure(User(None, "other"))
        self.attempt = self.repos.attempts.add(Attempt(None, self.learner.id, self.exam.id, created=NOW,
                                                       modified=NOW))
        self.browser = Browser(self.learner.id, "browser-secret")

    def run(self, work):
        with self.repos.unit_of_work(), self.store.unit_of_work():
            return work()

    def start(self, attempt=None, browser=None) -> dict:
        url = self.run(lambda: self.service.start_proctoring(self.learner, (attempt or self.attempt).id,
                                                             browser or self.browser))
        return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}

    def auth_request(self, login: dict, **overrides) -> AuthenticationRequest:
        values = dict(client_id="tool-1", redirect_uri=REDIRECT, scope="openid", response_type="id_token",
                      response_mode="form_post", prompt="none", login_hint=login["login_hint"],
                      lti_message_hint=login["lti_message_hint"], state="state-1", nonce="nonce-1")
        values.update(overrides)
        return AuthenticationRequest(**values)

    def authenticate(self, request, browser=None, signed_in=None):
        return self.run(lambda: self.service.authenticate(request, browser or self.browser, signed_in))

    def launched(self) -> dict:
        """Start and authenticate; the claims of the id_token."""
        form = self.authenticate(self.auth_request(self.start()))
        return self.platform.signed[form.fields["id_token"]][1]

    def assessment_token(self, claims, **overrides) -> str:
        launch = claims["launch"]
        values = dict(resource_link_id=launch.resource_link_id, attempt_number=launch.attempt_number,
                      session_data=launch.session_data)
        values.update(overrides)
        return self.platform.start_assessment_token("tool-1", **values)

    def status(self, attempt=None):
        return self.repos.attempts.get((attempt or self.attempt).id).status


@pytest.fixture
def w():
    return World()


def refusal(kind, work):
    with pytest.raises(kind) as caught:
        work()
    return caught.value


# -- start ----------------------------------------------------------------------------------------------
def test_starting_moves_the_attempt_and_sends_the_browser_to_the_tools_login_with_a_bound_hint(w):
    login = w.start()
    assert w.status() is S.DOWNLOAD_SOFTWARE_CLICKED
    assert login["login_hint"] == w.learner.anonymous_user_id
    launch = w.store.launches.get_by_hint(login["lti_message_hint"])
    assert (launch.message_type, launch.user_id, launch.attempt_id, launch.browser_binding) == \
        (MESSAGE_START_PROCTORING, w.learner.id, w.attempt.id, w.browser.binding)
    assert launch.hint_expires_at == NOW + timedelta(seconds=600) and launch.session_data


def test_only_the_owner_of_a_proctored_attempt_still_open_can_start(w):
    other_attempt = w.repos.attempts.add(Attempt(None, w.other.id, w.exam.id, created=NOW, modified=NOW))
    assert refusal(Forbidden, lambda: w.start(other_attempt)).code == "forbidden"
    timed = w.repos.exams.add(Exam(None, C, "block-t", "Timed", ExamType.TIMED, 30))
    timed_attempt = w.repos.attempts.add(Attempt(None, w.learner.id, timed.id, created=NOW, modified=NOW))
    assert refusal(Rejected, lambda: w.start(timed_attempt)).code == "no_lti_registration"
    done = w.repos.attempts.get(w.attempt.id)
    done.status = S.SUBMITTED
    w.repos.attempts.save(done)
    assert refusal(Forbidden, lambda: w.start()).code == "illegal_transition"
    assert w.store.launches.rows == {}


# -- the tool's OIDC authentication request ---------------------------------------------------------------
def test_a_valid_authentication_request_gets_the_signed_start_proctoring_form_once(w):
    login = w.start()
    form = w.authenticate(w.auth_request(login))
    assert form.action == REDIRECT and form.fields["state"] == "state-1"
    registration, claims = w.platform.signed[form.fields["id_token"]]
    launch = claims["launch"]
    assert claims["message"] == "LtiStartProctoring" and registration == w.registration
    assert (launch.sub, launch.nonce, launch.resource_link_id, launch.attempt_number) == \
        (w.learner.anonymous_user_id, "nonce-1", w.exam.resource_id, 1)
    assert launch.return_url == f"{MFE}/course/{C}/block-a"
    assert launch.acs_url == f"{ROOT}/lti/{w.registration.registration_id}/acs"
    assert launch.start_assessment_url == f"{ROOT}/lti/lti_consumer/v1/start_proctoring_assessment"
    again = refusal(Forbidden, lambda: w.authenticate(w.auth_request(login)))
    assert again.code == "access_denied"


@pytest.mark.parametrize("overrides, code", [
    ({"client_id": "nobody"}, "unauthorized_client"),
    ({"redirect_uri": "https://tool.example/launch/"}, "invalid_redirect_uri"),
    ({"scope": "openid profile"}, "invalid_scope"),
    ({"response_type": "code"}, "unsupported_response_type"),
    ({"response_mode": "query"}, "invalid_request"),
    ({"prompt": "login"}, "invalid_request"),
    ({"nonce": None}, "invalid_request"),
    ({"state": "x\x00"}, "invalid_request"),
    ({"lti_message_hint": "unknown"}, "invalid_request"),
])
def test_authentication_requests_that_break_the_oidc_rules_are_refused_and_spend_nothing(w, overrides, code):
    login = w.start()
    assert refusal(Rejected, lambda: w.authenticate(w.auth_request(login, **overrides))).code == code
    assert w.authenticate(w.auth_request(login)).fields["id_token"]


def test_an_expired_hint_is_refused(w):
    login = w.start()
    w.clock.advance(seconds=601)
    assert refusal(Rejected, lambda: w.authenticate(w.auth_request(login))).code == "invalid_request"


@pytest.mark.parametrize("who", ["other browser", "other user's browser", "signed in as other", "login_hint"])
def test_a_launch_is_bound_to_its_browser_its_user_and_its_login_hint(w, who):
    login = w.start()
    request, browser, signed_in = w.auth_request(login), None, None
    if who == "other browser":
        browser = Browser(w.learner.id, "another-secret")
    elif who == "other user's browser":
        browser = Browser(w.other.id, "browser-secret")
    elif who == "signed in as other":
        signed_in = w.other
    else:
        request = w.auth_request(login, login_hint=w.other.anonymous_user_id)
    assert refusal(Forbidden, lambda: w.authenticate(request, browser, signed_in)).code == "login_required"
    assert w.platform.signed == {}


# -- the tool's LtiStartAssessment -----------------------------------------------------------------------
def test_the_tools_start_assessment_readies_the_attempt_and_sends_the_learner_to_the_exam(w):
    token = w.assessment_token(w.launched())
    assert w.run(lambda: w.service.start_assessment(token, w.browser)) == f"{MFE}/course/{C}/block-a"
    assert w.status() is S.READY_TO_START
    assert w.outcomes.changes[-1] == (w.attempt.id, "ready_to_start", "learner", None)
    replay = refusal(Rejected, lambda: w.run(lambda: w.service.start_assessment(token, w.browser)))
    assert replay.code == "no_pending_launch"


def test_a_start_assessment_is_refused_without_the_launch_browser_or_with_other_session_data(w):
    claims = w.launched()
    token = w.assessment_token(claims)
    assert refusal(Forbidden, lambda: w.service.start_assessment(token, None)).code == "login_required"
    stranger = Browser(w.learner.id, "another-secret")
    assert refusal(Rejected, lambda: w.service.start_assessment(token, stranger)).code == "no_pending_launch"
    forged = w.assessment_token(claims, session_data="guessed")
    mismatch = refusal(LaunchRejected, lambda: w.run(lambda: w.service.start_assessment(forged, w.browser)))
    assert mismatch.code is RejectionCode.SESSION_DATA_MISMATCH
    assert w.status() is S.DOWNLOAD_SOFTWARE_CLICKED


def test_a_start_assessment_answers_whichever_of_the_browsers_launches_it_names(w):
    second_exam = w.repos.exams.add(Exam(None, C, "block-b", "Quiz", ExamType.PROCTORED, 30,
                                         provider_id=w.exam.provider_id))
    second = w.repos.attempts.add(Attempt(None, w.learner.id, second_exam.id, created=NOW, modified=NOW))
    first_claims = w.launched()
    form = w.authenticate(w.auth_request(w.start(second), nonce="nonce-2"))
    assert w.platform.signed[form.fields["id_token"]][1]["launch"].resource_link_id == second_exam.resource_id
    w.run(lambda: w.service.start_assessment(w.assessment_token(first_claims), w.browser))
    assert (w.status(), w.status(second)) == (S.READY_TO_START, S.DOWNLOAD_SOFTWARE_CLICKED)


# -- end --------------------------------------------------------------------------------------------------
def test_ending_submits_and_returns_to_the_exam_unless_the_tool_asked_for_an_end_assessment(w):
    w.run(lambda: w.service.start_assessment(w.assessment_token(w.launched()), w.browser))
    url = w.run(lambda: w.service.end_assessment(w.learner, w.attempt.id, w.browser))
    assert url == f"{MFE}/course/{C}/block-a"
    assert w.status() is S.SUBMITTED


def test_ending_launches_lti_end_assessment_when_the_tool_asked_for_it(w):
    w.run(lambda: w.service.start_assessment(w.assessment_token(w.launched(), end_assessment_return=True),
                                             w.browser))
    login = {k: v[0] for k, v in parse_qs(urlsplit(
        w.run(lambda: w.service.end_assessment(w.learner, w.attempt.id, w.browser))).query).items()}
    assert w.status() is S.SUBMITTED
    claims = w.platform.signed[w.authenticate(w.auth_request(login)).fields["id_token"]][1]
    assert claims["message"] == "LtiEndAssessment" and claims["launch"].return_url == f"{MFE}/course/{C}/block-a"


# -- instructor -------------------------------------------------------------------------------------------
def test_the_instructor_tool_and_roster_are_for_course_staff_only(w):
    staff = w.repos.users.ensure(User(None, "instructor"))
    w.repos.staff_roles.add(staff.id, C, "instructor")
    w.repos.attempts.add(Attempt(None, w.other.id, w.exam.id, created=NOW, modified=NOW))
    assert w.service.roster(staff, w.exam.id) == [[w.learner.anonymous_user_id, "learner"],
                                                  [w.other.anonymous_user_id, "other"]]
    url = w.run(lambda: w.service.instructor_launch(staff, w.exam.id, Browser(staff.id, "staff-browser")))
    assert parse_qs(urlsplit(url).query)["login_hint"] == [staff.anonymous_user_id]
    assert refusal(Forbidden, lambda: w.service.roster(w.learner, w.exam.id)).code == "not_course_staff"
    assert refusal(Forbidden, lambda: w.service.instructor_launch(w.learner, w.exam.id, w.browser)).code == \
        "not_course_staff"
    assert refusal(Rejected, lambda: w.service.roster(staff, w.exam.id + 100)).code == "exam_not_found"


# -- registration -----------------------------------------------------------------------------------------
def test_a_registered_tool_gets_its_own_platform_key_and_the_urls_to_configure(w):
    assert w.registration.platform_kid and w.registration.registration_id == "1"
    info = w.service.vendor_info(w.registration)
    assert info["acs_url"] == f"{ROOT}/lti/1/acs"
    assert info["token_url"] == f"{ROOT}/lti/lti_consumer/v1/token/1"
    assert info["jwks_url"] == f"{ROOT}/lti/lti_consumer/v1/public_keysets/1"
    assert info["tool_redirect_uris"] == [REDIRECT]
    assert w.service.jwks("1") == {"keys": [{"kid": w.registration.platform_kid, "kty": "RSA"}]}
    assert refusal(NotFound, lambda: w.service.jwks("2")).code == "registration_not_found"
    assert w.service.registration("") is None


@pytest.mark.parametrize("overrides", [
    {"client_id": ""}, {"client_id": " padded"}, {"deployment_id": ""},
    {"tool_jwks_url": None}, {"tool_public_key": "{}"},
    {"oidc_login_url": "http://tool.example/login"}, {"launch_url": "https://tool.example/launch#x"},
    {"redirect_uris": ("not a url",)},
])
def test_a_registration_with_bad_values_is_refused(w, overrides):
    values = dict(client_id="tool-2", oidc_login_url="https://tool.example/login", launch_url=REDIRECT,
                  tool_jwks_url="https://tool.example/jwks")
    values.update(overrides)
    assert refusal(Rejected, lambda: w.service.register_tool(**values)).code == "invalid_registration"
    assert len(w.store.registrations.list()) == 1


def test_a_taken_client_id_is_a_conflict(w):
    with pytest.raises(Conflict):
        w.service.register_tool(client_id="tool-1", oidc_login_url="https://tool.example/login",
                                launch_url=REDIRECT, tool_public_key='{"kty": "RSA"}')


def test_a_tool_key_that_is_not_a_key_is_refused(w):
    refused = refusal(Rejected, lambda: w.service.register_tool(
        client_id="tool-2", oidc_login_url="https://tool.example/login", launch_url=REDIRECT,
        tool_public_key="hello world"))
    assert refused.code == "invalid_tool_key"
    assert len(w.store.registrations.list()) == 1
