"""The Assessment Control Service over HTTP: what a vendor's report does, and every refusal.

The vendor's credentials are the fake vendor's here (tests/fakes.py): these tests are about the
reports. test_token_endpoint.py covers the real LTI tokens.
"""

from __future__ import annotations

import json

import pytest
from dependency_injector import providers

from exams.domain.attempts import AttemptStatus
from tests.conftest import auth
from tests.fakes import FakeProctoringVendor
from tests.functional.acs_world import COURSE, VND, World
from tests.functional.dbstate import snapshot

S = AttemptStatus


@pytest.fixture
def vendor(wsgi):
    fake = FakeProctoringVendor()
    wsgi.container.proctoring_vendor.override(providers.Object(fake))
    yield fake
    wsgi.container.proctoring_vendor.reset_override()


@pytest.fixture
def world(testapp, engine, vendor):
    world = World(engine)
    world.add_tool("proctorio")
    return world


@pytest.fixture
def tool(world):
    return world.tools[0]


def post(testapp, tool, body, *, token=None, content_type="application/json", status=200, path=None):
    headers = {"Content-Type": content_type}
    if token is not False:
        headers["Authorization"] = f"Bearer {token or tool.fake_token()}"
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return testapp.post(path or tool.acs_path, raw, headers=headers, status=status)


def refused(testapp, world, tool, body, status, **kw):
    """Post and check the refusal: the status, a JSON detail, and nothing changed in the database."""
    before = snapshot(world.engine)
    response = post(testapp, tool, body, status=status, **kw)
    assert response.content_type == "application/json"
    assert isinstance(response.json["detail"], str) and response.json["detail"]
    assert snapshot(world.engine) == before
    return response


# -- outcomes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("code, severity, outcome", [
    ("0", "1.0", "error"), ("1", "1.0", "second_review_required"), ("2", "1.0", "error"), ("25", "1.0", "error"),
    ("1", "0.3", "second_review_required"), ("1", "0.26", "second_review_required"), ("1", "0.25", "verified"),
    ("1", "0.1", "verified"),
])
def test_a_terminate_moves_the_attempt_to_its_outcome_and_records_one_result(
        testapp, world, tool, outcomes, code, severity, outcome):
    learner = world.add_learner(tool)
    response = post(testapp, tool, learner.message(reason_code=code, incident_severity=severity))
    assert response.json == {"status": "terminated"}
    assert world.status(learner) == outcome
    [result] = world.results(learner)
    assert (result.action_type, result.reason_code, str(result.severity)) == ("terminate", code, f"{float(severity):.2f}")
    assert outcomes.changes == [(learner.attempt.id, outcome, "alice", None)]


def test_numbers_for_reason_code_severity_and_attempt_number_are_accepted_and_the_vnd_media_type_too(
        testapp, world, tool):
    learner = world.add_learner(tool)
    post(testapp, tool, learner.message(reason_code=1, incident_severity=0.9, attempt_number="1"),
         content_type=VND + "; charset=utf-8")
    assert world.status(learner) == "second_review_required"


@pytest.mark.parametrize("status", ["ready_to_start", "started", "ready_to_submit", "timed_out", "submitted"])
def test_a_flag_records_a_result_and_leaves_the_status_alone(testapp, world, tool, outcomes, status):
    learner = world.add_learner(tool, status=S(status))
    response = post(testapp, tool, learner.message(action="flag", reason_code="15", incident_severity="0.7"))
    assert response.json == {"status": "terminated"}
    assert world.status(learner) == status
    assert [(r.action_type, r.reason_code) for r in world.results(learner)] == [("flag", "15")]
    assert outcomes.changes == []


def test_a_repeated_identical_terminate_changes_nothing_the_second_time(testapp, world, tool, outcomes):
    learner = world.add_learner(tool)
    post(testapp, tool, learner.message())
    before = snapshot(world.engine)
    assert post(testapp, tool, learner.message(reason_code=1, incident_severity=0.1)).json == {"status": "terminated"}
    assert snapshot(world.engine) == before
    assert len(outcomes.changes) == 1


def test_a_second_different_terminate_is_refused(testapp, world, tool):
    learner = world.add_learner(tool)
    post(testapp, tool, learner.message())
    response = refused(testapp, world, tool, learner.message(incident_severity="0.9"), 400)
    assert response.json["code"] == "attempt_not_actionable"


def test_the_instructor_list_shows_the_terminate_as_proctored_review_even_after_an_earlier_flag(testapp, world, tool):
    learner = world.add_learner(tool)
    url = f"/api/v1/instructor_view/course_id/{COURSE}/attempts?exam_id={learner.exam.id}"
    staff = auth("staff", staff=True, user_id=1)
    post(testapp, tool, learner.message(action="flag", reason_code="15", incident_severity="0.7",
                                        incident_time="2024-05-01T10:00:00Z"))
    assert testapp.get(url, headers=staff).json["results"][0]["proctored_review"] is None
    post(testapp, tool, learner.message(incident_severity="0.2", incident_time="2024-05-01T10:45:33+00:00"))
    row = testapp.get(url, headers=staff).json["results"][0]
    assert row["attempt_status"] == "verified"
    assert row["proctored_review"] == {"submission_time": "2024-05-01T10:45:33Z", "severity": "0.20",
                                       "submission_reason": "Submitted by user"}


# -- which attempt --------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["created", "download_software_clicked", "verified", "rejected", "expired", "error",
                                    "second_review_required"])
@pytest.mark.parametrize("action", ["terminate", "flag"])
def test_attempts_outside_ready_to_start_to_submitted_are_refused_with_400(testapp, world, tool, status, action):
    learner = world.add_learner(tool, status=S(status))
    assert refused(testapp, world, tool, learner.message(action=action), 400).json["code"] == "attempt_not_actionable"


def test_an_unknown_learner_is_a_404(testapp, world, tool):
    learner = world.add_learner(tool)
    body = learner.message(user={"sub": "11111111-2222-4333-8444-555555555555"})
    assert refused(testapp, world, tool, body, 404).json["code"] == "user_not_found"


@pytest.mark.parametrize("change", [{"attempt_number": 2}, {"resource_link": {"id": "another-exam"}}])
def test_an_unknown_attempt_is_a_404(testapp, world, tool, change):
    learner = world.add_learner(tool)
    assert refused(testapp, world, tool, learner.message(**change), 404).json["code"] == "attempt_not_found"


def test_a_tool_cannot_act_on_an_exam_proctored_by_another_tool(testapp, world, tool):
    other = world.add_tool("examity")
    learner = world.add_learner(other, content="block-v1:edx+acs+2024+type@sequential+block@2")
    # A genuine token of the first tool, at its own ACS, naming the other tool's attempt (edx-exams B9).
    assert refused(testapp, world, tool, learner.message(), 404).json["code"] == "attempt_not_found"
    assert world.status(learner) == "started"
    post(testapp, other, learner.message())
    assert world.status(learner) == "verified"


# -- malformed reports ----------------------------------------------------------------------------
@pytest.mark.parametrize("change, code", [
    ({"incident_severity": "NaN"}, "invalid_incident_severity"),
    ({"incident_severity": "1e309"}, "invalid_incident_severity"),
    ({"incident_severity": -1}, "invalid_incident_severity"),
    ({"incident_severity": 2}, "invalid_incident_severity"),
    ({"incident_severity": "abc"}, "invalid_incident_severity"),
    ({"incident_time": "yesterday"}, "invalid_incident_time"),
    ({"user": {"sub": "not-a-uuid"}}, "invalid_user_sub"),
    ({"user": {"sub": "5d3f0b7e-8a8b-4c41-9b0e-0a8f2c9d1e77", "iss": "https://elsewhere"}}, "invalid_user_iss"),
    ({"attempt_number": "one"}, "invalid_attempt_number"),
    ({"action": "update"}, "unsupported_action"),
    ({"action": "pause"}, "unsupported_action"),
    ({"reason_code": ...}, "missing_parameter"),
    ({"user": ...}, "missing_parameter"),
])
def test_malformed_reports_are_refused_with_400_and_change_nothing(testapp, world, tool, change, code):
    learner = world.add_learner(tool)
    assert refused(testapp, world, tool, learner.message(**change), 400).json["code"] == code


def test_severity_nan_as_a_json_constant_and_overflowing_numbers_are_refused(testapp, world, tool):
    learner = world.add_learner(tool)
    for literal in (b"NaN", b"1e309", b"-Infinity"):
        raw = json.dumps(learner.message(incident_severity="X")).encode().replace(b'"X"', literal)
        refused(testapp, world, tool, raw, 400)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"\"terminate\"", b"\xff\xfe", b"[" * 100000 + b"]" * 100000])
def test_bodies_that_are_not_a_json_object_are_refused_with_400(testapp, world, tool, raw):
    refused(testapp, world, tool, raw, 400)


def test_a_one_megabyte_body_is_refused_with_413(testapp, world, tool):
    learner = world.add_learner(tool)
    body = learner.message(reason_msg="x" * 1_000_000)
    assert "larger than" in refused(testapp, world, tool, body, 413).json["detail"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml",
                                          "application/vnd.ims.lti-ap.v1.other+json"])
def test_other_media_types_are_refused_with_415(testapp, world, tool, content_type):
    learner = world.add_learner(tool)
    assert refused(testapp, world, tool, learner.message(), 415, content_type=content_type).json["code"] == \
        "unsupported_media_type"


# -- credentials ------------------------------------------------------------------------------------
def test_a_report_without_a_bearer_token_is_a_401_with_a_bearer_challenge(testapp, world, tool):
    learner = world.add_learner(tool)
    response = refused(testapp, world, tool, learner.message(), 401, token=False)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="exams"'
    response = testapp.post(tool.acs_path, json.dumps(learner.message()),
                            headers={"Content-Type": "application/json", "Authorization": "JWT abc"}, status=401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="exams"'


def test_a_forged_token_is_a_401_invalid_token(testapp, world, tool):
    learner = world.add_learner(tool)
    response = refused(testapp, world, tool, learner.message(), 401, token="fake-token:999:control")
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="exams", error="invalid_token"')


def test_a_token_of_another_registration_is_a_403(testapp, world, tool):
    other = world.add_tool("examity")
    learner = world.add_learner(tool)
    assert refused(testapp, world, tool, learner.message(), 403, token=other.fake_token()).json["code"] == \
        "other_registration"


def test_a_token_without_the_control_scope_is_a_403_insufficient_scope(testapp, world, tool):
    learner = world.add_learner(tool)
    response = refused(testapp, world, tool, learner.message(), 403, token=tool.fake_token(scope="read"))
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="exams", error="insufficient_scope", scope="control"'


def test_the_credentials_are_checked_before_the_body(testapp, world, tool):
    refused(testapp, world, tool, b"not json", 401, token=False, content_type="text/plain")


def test_an_unknown_registration_is_a_404(testapp, world, tool):
    learner = world.add_learner(tool)
    for path in ("/lti/999/acs", "/lti/abc/acs"):
        refused(testapp, world, tool, learner.message(), 404, path=path)


def test_other_methods_are_a_405(testapp, world, tool):
    response = testapp.get(tool.acs_path, status=405)
    assert response.headers["Allow"] == "POST"
    assert response.json["detail"] == 'Method "GET" not allowed.'
