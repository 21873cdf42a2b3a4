"""Forwarding to edx-proctoring for courses with no provider here (edx-exams.md §6.7 step 4, §6.9;
checklist items 19, 45, 46, 51, 60, 61), against a stub LMS on loopback."""

from __future__ import annotations

import time

import pytest
from dependency_injector import providers
from sqlalchemy import select

from exams.adapters.lms_http import LmsLegacyProctoring
from exams.adapters.sql import tables
from exams.units import run_in_transaction
from exams.domain.exams import Provider
from exams.ports.legacy import LegacyUnavailable
from tests.conftest import app_settings, auth
from tests.stub_lms import API, RunningStub, StubLms, unused_loopback_url

C = "course-v1:edx+test+f19"
CONTENT = "block-v1:edx+test+f19+type@sequential+block@midterm"
STAFF = auth("staff", user_id=1, staff=True)
LEARNER = auth("learner", user_id=10)
LEARNER_LMS_ID = 10
EXAMS = f"/api/v1/exams/course_id/{C}"
STUDENT_EXAM = f"/api/v1/student/exam/attempt/course_id/{C}/content_id/{CONTENT}"
SETTINGS = f"/api/v1/exam/provider_settings/course_id/{C}/exam_id/5"
ONBOARDING = f"/api/v1/student/course_id/{C}/onboarding"
LATEST = "/api/v1/exams/attempt/latest"


@pytest.fixture(scope="module")
def lms():
    running = RunningStub(StubLms())
    yield running
    running.close()


@pytest.fixture(scope="module")
def forwarding_app(database_url, lms):
    """The app from main(), with forwarding to the stub LMS configured."""
    from exams import settings as settings_module
    from exams.app import main
    from exams.container import build_container

    raw = app_settings(database_url, **{"exams.lms_root_url": lms.url, "exams.lms.oauth_client_id": "exams-client",
                                        "exams.lms.oauth_client_secret": "exams-secret", "exams.lms.timeout": "2"})
    container = build_container(settings_module.load(raw, environ={}))
    app = main({}, container=container, **raw)
    app.container = container
    return app


@pytest.fixture
def app(forwarding_app, db, lms):
    from webtest import TestApp

    lms.stub.reset()
    # A fresh client each test: no token carried over from another test.
    forwarding_app.container.legacy_proctoring.reset()
    yield TestApp(forwarding_app)
    forwarding_app.container.legacy_proctoring.reset_override()


def use_client(app, client) -> None:
    app.app.container.legacy_proctoring.override(providers.Object(client))


def configure(app, provider_name: str | None) -> None:
    """Give course C a configuration: with a provider here (not forwarded) or with none (forwarded)."""
    if provider_name is not None:
        run_in_transaction(app.app.container, lambda s: s.exams.add_provider(Provider(
            id=None, name=provider_name, verbose_name="Test provider", lti_configuration_id="1")))
    app.patch_json(f"/api/v1/configs/course_id/{C}", {"provider": provider_name, "escalation_email": None},
                   headers=STAFF, status=204)


def studio_item(name: str, exam_type: str) -> dict:
    return {"course_id": C, "content_id": f"block-v1:edx+test+f19+type@sequential+block@{name}",
            "exam_name": name, "time_limit_mins": 30, "due_date": None, "exam_type": exam_type,
            "hide_after_due": False, "is_active": True, "backend": "proctortrack"}


def local_exams(app) -> list:
    with app.app.container.engine().connect() as conn:
        return conn.execute(select(tables.exams)).all()


# -- the four forwarded views -----------------------------------------------------------------------
def test_studio_registration_of_an_unconfigured_course_goes_to_edx_proctoring_with_the_type_flags(app, lms):
    lms.stub.answer(f"proctored_exam/exam_registration/course_id/{C}", 422, "some error")
    items = [studio_item("a", "proctored"), studio_item("b", "timed"), studio_item("c", "practice"),
             studio_item("d", "onboarding"), studio_item("e", "bogus")]
    response = app.patch_json(EXAMS, items, headers=STAFF, status=422)
    assert response.json == "some error"
    (call,) = lms.stub.api_requests
    assert call.method == "PATCH"
    assert call.path == f"{API}proctored_exam/exam_registration/course_id/{C}"
    assert call.headers["Authorization"] == "JWT token-1"
    assert call.headers["Content-Type"] == "application/json"
    sent = call.json()
    assert [(i.get("is_proctored"), i.get("is_practice_exam")) for i in sent] == [
        (True, False), (False, False), (True, True), (True, True), (None, None)]
    assert [{k: v for k, v in i.items() if k not in ("is_proctored", "is_practice_exam")} for i in sent] == items
    assert local_exams(app) == []


def test_a_course_whose_provider_was_removed_is_forwarded_too(app, lms):
    configure(app, None)
    lms.stub.answer(f"proctored_exam/exam_registration/course_id/{C}", 200, {})
    assert app.patch_json(EXAMS, [studio_item("a", "proctored")], headers=STAFF).json == {}
    assert len(lms.stub.api_requests) == 1
    assert local_exams(app) == []


def test_the_exam_list_of_a_forwarded_course_is_404_with_an_empty_list_and_asks_nothing(app, lms):
    response = app.get(EXAMS, headers=STAFF, status=404)
    assert response.json == []
    assert lms.stub.requests == []


def test_the_learners_exam_view_is_forwarded_without_edx_proctorings_active_attempt(app, lms):
    body = {"exam": {"id": 3, "exam_name": "Midterm", "attempt": {"attempt_status": "started"}},
            "active_attempt": {"attempt_id": 9}}
    lms.stub.answer(f"proctored_exam/attempt/course_id/{C}", 200, body)
    response = app.get(STUDENT_EXAM, headers=LEARNER)
    assert response.json == {"exam": body["exam"]}
    (call,) = lms.stub.api_requests
    assert call.query == {"content_id": [CONTENT], "user_id": [str(LEARNER_LMS_ID)]}


def test_edx_proctorings_error_status_and_body_are_passed_through(app, lms):
    lms.stub.answer(f"proctored_exam/attempt/course_id/{C}", 500, {"detail": "boom", "active_attempt": {}})
    response = app.get(STUDENT_EXAM, headers=LEARNER, status=500)
    assert response.json == {"detail": "boom"}


def test_provider_settings_are_forwarded_by_exam_id(app, lms):
    body = {"platform_name": "Open edX", "provider_name": "Proctortrack", "proctoring_escalation_email": None}
    lms.stub.answer("proctored_exam/settings/exam_id/5/", 200, body)
    assert app.get(SETTINGS, headers=LEARNER).json == body
    assert [c.path for c in lms.stub.api_requests] == [f"{API}proctored_exam/settings/exam_id/5/"]


def test_onboarding_is_forwarded_with_the_course_and_the_username_asked_for(app, lms):
    lms.stub.answer("user_onboarding/status", 404, {"detail": "no onboarding exam"})
    response = app.get(ONBOARDING, {"username": "learner two"}, headers=LEARNER, status=404)
    assert response.json == {"detail": "no onboarding exam"}
    (call,) = lms.stub.api_requests
    assert call.query == {"is_learning_mfe": ["true"], "course_id": [C], "username": ["learner two"]}


def test_json_that_edx_proctoring_cannot_produce_is_answered_as_edx_exams_does(app, lms):
    lms.stub.answer("proctored_exam/settings/exam_id/5/", 503, raw=b"<html>maintenance</html>")
    response = app.get(SETTINGS, headers=LEARNER, status=503)
    assert response.json == {"data": "Invalid JSON response received from edx-proctoring"}


def test_an_answer_without_content_is_passed_through_without_a_body(app, lms):
    lms.stub.answer(f"proctored_exam/exam_registration/course_id/{C}", 204, raw=b"")
    response = app.patch_json(EXAMS, [studio_item("a", "proctored")], headers=STAFF, status=204)
    assert response.body == b""


def test_a_configured_course_is_never_forwarded(app, lms):
    configure(app, "test_provider")
    assert app.patch_json(EXAMS, [studio_item("a", "proctored")], headers=STAFF).json == {}
    assert [e["exam_name"] for e in app.get(EXAMS, headers=STAFF).json] == ["a"]
    assert app.get(STUDENT_EXAM, headers=LEARNER).json == {"exam": {}}
    assert app.get(SETTINGS, headers=LEARNER).json == {"proctoring_escalation_email": None}
    assert app.get(ONBOARDING, headers=LEARNER, status=404).json["code"] == "no_onboarding"
    assert lms.stub.requests == []


def test_nothing_is_forwarded_for_callers_the_view_refuses(app, lms):
    app.patch_json(EXAMS, [studio_item("a", "proctored")], headers=LEARNER, status=403)
    app.get(STUDENT_EXAM, status=401)
    app.get(SETTINGS, status=401)
    app.get(ONBOARDING, status=401)
    assert lms.stub.requests == []


def test_without_oauth_credentials_unconfigured_courses_are_answered_locally(testapp):
    # The shared app has no exams.lms.oauth_client_id.
    assert testapp.get(STUDENT_EXAM, headers=LEARNER).json == {"exam": {}}
    assert testapp.get(ONBOARDING, headers=LEARNER, status=404).json["code"] == "no_onboarding"
    assert testapp.get(EXAMS, headers=STAFF).json == []


# -- the token --------------------------------------------------------------------------------------
def test_the_client_credentials_token_is_fetched_once_and_reused(app, lms):
    lms.stub.answer("proctored_exam/settings/exam_id/5/", 200, {})
    for _ in range(3):
        app.get(SETTINGS, headers=LEARNER)
    (fetch,) = lms.stub.token_requests
    assert fetch.method == "POST"
    assert fetch.form() == {"grant_type": "client_credentials", "client_id": "exams-client",
                            "client_secret": "exams-secret", "token_type": "jwt"}
    assert {c.headers["Authorization"] for c in lms.stub.api_requests} == {"JWT token-1"}


def test_the_token_is_used_until_it_expires_then_fetched_again(lms):
    now = [1000.0]
    client = LmsLegacyProctoring(lms.url, "exams-client", "exams-secret", timeout=2, monotonic=lambda: now[0])
    lms.stub.reset()
    lms.stub.token_lifetime = 600
    lms.stub.answer("proctored_exam/active_attempt", 200, {})
    client.active_attempt(7)
    now[0] += 569  # the last 30 seconds of a token's life are not used
    client.active_attempt(7)
    assert len(lms.stub.token_requests) == 1
    now[0] += 2
    client.active_attempt(7)
    assert len(lms.stub.token_requests) == 2
    assert [c.headers["Authorization"] for c in lms.stub.api_requests] == ["JWT token-1", "JWT token-1",
                                                                          "JWT token-2"]


def test_a_token_the_lms_no_longer_accepts_is_replaced_once(lms):
    client = LmsLegacyProctoring(lms.url, "exams-client", "exams-secret", timeout=2)
    lms.stub.reset()
    lms.stub.answer("proctored_exam/active_attempt", 401, {"detail": "token revoked"})
    answer = client.active_attempt(7)
    assert (answer.status, answer.body) == (401, {"detail": "token revoked"})
    assert len(lms.stub.token_requests) == 2
    assert len(lms.stub.api_requests) == 2


# -- an LMS that is down, slow or refuses us -----------------------------------------------------------
def test_an_lms_that_cannot_be_reached_gives_503_with_a_detail(app):
    use_client(app, LmsLegacyProctoring(unused_loopback_url(), "exams-client", "exams-secret", timeout=2))
    response = app.get(STUDENT_EXAM, headers=LEARNER, status=503)
    assert response.json["code"] == "lms_unavailable"
    assert "could not be reached" in response.json["detail"]
    assert response.headers["Retry-After"] == "30"
    app.patch_json(EXAMS, [studio_item("a", "proctored")], headers=STAFF, status=503)
    app.get(SETTINGS, headers=LEARNER, status=503)
    app.get(ONBOARDING, headers=LEARNER, status=503)


def test_an_lms_that_refuses_our_credentials_gives_502_with_a_detail(app, lms):
    lms.stub.token_status = 401
    response = app.get(SETTINGS, headers=LEARNER, status=502)
    assert response.json["code"] == "lms_bad_answer"
    assert response.json["detail"]
    assert lms.stub.api_requests == []


def test_a_slow_lms_is_given_up_on_within_the_timeout(app, lms):
    use_client(app, LmsLegacyProctoring(lms.url, "exams-client", "exams-secret", timeout=0.5))
    lms.stub.answer("proctored_exam/settings/exam_id/5/", 200, {}, delay=3)
    started = time.monotonic()
    response = app.get(SETTINGS, headers=LEARNER, status=503)
    assert time.monotonic() - started < 1.5
    assert response.json["code"] == "lms_unavailable"


def test_the_client_reports_an_unreachable_lms_as_not_reachable():
    client = LmsLegacyProctoring(unused_loopback_url(), "id", "secret", timeout=1)
    with pytest.raises(LegacyUnavailable) as caught:
        client.proctoring_settings(5)
    assert caught.value.reachable is False


# -- exams/attempt/latest: edx-proctoring's active attempt as a fallback --------------------------------
MID = "block-v1:edx+test+f19+type@sequential+block@mid"


def start_local_attempt(app, *, submit: bool = False) -> int:
    configure(app, "test_provider")
    app.patch_json(EXAMS, [studio_item("mid", "timed")], headers=STAFF)
    exam_id = app.get(EXAMS, headers=STAFF).json[0]["id"]
    attempt_id = app.post_json("/api/v1/exams/attempt", {"exam_id": exam_id, "start_clock": "true"},
                               headers=LEARNER).json["exam_attempt_id"]
    if submit:
        app.put_json(f"/api/v1/exams/attempt/{attempt_id}", {"action": "submit"}, headers=LEARNER)
    return attempt_id


def test_with_no_local_attempt_edx_proctorings_active_attempt_is_the_answer(app, lms):
    lms.stub.answer("proctored_exam/active_attempt", 200, {"attempt_id": 123, "attempt_status": "started"})
    assert app.get(LATEST, headers=LEARNER).json == {"attempt_id": 123, "attempt_status": "started"}
    (call,) = lms.stub.api_requests
    assert call.query == {"user_id": [str(LEARNER_LMS_ID)]}


def test_an_empty_legacy_answer_leaves_the_empty_local_answer(app, lms):
    lms.stub.answer("proctored_exam/active_attempt", 200, {})
    assert app.get(LATEST, headers=LEARNER).json == {}


def test_an_attempt_in_progress_here_is_answered_without_asking_the_lms(app, lms):
    attempt_id = start_local_attempt(app)
    lms.stub.requests.clear()
    assert app.get(LATEST, headers=LEARNER).json["attempt_id"] == attempt_id
    assert lms.stub.requests == []


def test_a_finished_local_attempt_loses_to_an_active_legacy_attempt(app, lms):
    start_local_attempt(app, submit=True)
    lms.stub.answer("proctored_exam/active_attempt", 200, {"attempt_id": 123})
    assert app.get(LATEST, {"content_id": MID}, headers=LEARNER).json == {"attempt_id": 123}


@pytest.mark.parametrize("status, body", [(500, {"detail": "boom"}), (200, ["not", "a", "dict"]), (200, {})])
def test_a_finished_local_attempt_stands_when_the_lms_has_no_active_attempt(app, lms, status, body):
    attempt_id = start_local_attempt(app, submit=True)
    lms.stub.answer("proctored_exam/active_attempt", status, body)
    answer = app.get(LATEST, {"content_id": MID}, headers=LEARNER).json
    assert (answer["attempt_id"], answer["attempt_status"]) == (attempt_id, "submitted")


def test_an_unreachable_lms_leaves_the_local_answer_instead_of_an_error(app):
    use_client(app, LmsLegacyProctoring(unused_loopback_url(), "exams-client", "exams-secret", timeout=2))
    assert app.get(LATEST, headers=LEARNER).json == {}
