"""The LTI Advantage token endpoint and the ACS with real tokens (the production LTI vendor adapter)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from exams.ports.lti import ACS_SCOPE, ProctoringLaunch
from tests.functional.acs_world import ROOT, VND, World
from tests.functional.dbstate import snapshot

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LTI_AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
AGS_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


@pytest.fixture
def world(testapp, engine):
    world = World(engine)
    world.add_tool("proctorio")
    world.add_tool("examity")
    return world


@pytest.fixture
def tool(world):
    return world.tools[0]


@pytest.fixture
def platform(wsgi):
    return wsgi.container.lti_platform()


def request_token(testapp, tool, form=None, *, status=200, path=None, content_type=None):
    form = tool.token_form() if form is None else form
    if content_type:
        return testapp.post(path or tool.token_path, json.dumps(form), status=status,
                            headers={"Content-Type": content_type})
    return testapp.post(path or tool.token_path, form, status=status)


def token_refused(testapp, world, tool, form, status, error, **kw):
    before = snapshot(world.engine)
    response = request_token(testapp, tool, form, status=status, **kw)
    assert response.json["error"] == error
    assert response.json["error_description"] == response.json["detail"] != ""
    assert response.headers["Cache-Control"] == "no-store"
    assert snapshot(world.engine) == before
    return response


def report(testapp, tool, learner, token, *, status=200, path=None, **changes):
    return testapp.post(path or tool.acs_path, json.dumps(learner.message(**changes)), status=status,
                        headers={"Content-Type": VND, "Authorization": f"Bearer {token}"})


def acs_refused(testapp, world, tool, learner, token, status, **kw):
    before = snapshot(world.engine)
    response = report(testapp, tool, learner, token, status=status, **kw)
    assert response.json["detail"]
    assert snapshot(world.engine) == before
    return response


# -- the grant ------------------------------------------------------------------------------------
def test_a_tool_obtains_a_service_token_with_its_client_assertion_and_reports_with_it(testapp, world, tool):
    response = request_token(testapp, tool)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("bearer", 3600, ACS_SCOPE)
    learner = world.add_learner(tool)
    assert report(testapp, tool, learner, body["access_token"]).json == {"status": "terminated"}
    assert world.status(learner) == "verified"


@pytest.mark.parametrize("aud", [ROOT, [ROOT + "/lti/lti_consumer/v1/token/{id}", "https://other.example"]])
def test_the_assertion_may_name_the_issuer_or_a_list_holding_the_token_url(testapp, world, tool, aud):
    aud = [a.format(id=tool.id) for a in aud] if isinstance(aud, list) else aud
    request_token(testapp, tool, tool.token_form(client_assertion=tool.assertion(aud=aud)))


@pytest.mark.parametrize("missing", ["grant_type", "client_assertion_type", "client_assertion", "scope"])
def test_a_missing_parameter_is_invalid_request(testapp, world, tool, missing):
    token_refused(testapp, world, tool, tool.token_form(**{missing: None}), 400, "invalid_request")


def test_a_repeated_parameter_or_a_json_body_is_invalid_request(testapp, world, tool):
    form = list(tool.token_form().items()) + [("scope", ACS_SCOPE)]
    token_refused(testapp, world, tool, form, 400, "invalid_request")
    token_refused(testapp, world, tool, tool.token_form(), 400, "invalid_request", content_type="application/json")


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded; charset=latin-1",
                                          "application/x-www-form-urlencoded"])
def test_a_form_that_is_not_utf_8_is_invalid_request(testapp, world, tool, content_type):
    before = snapshot(world.engine)
    response = testapp.post(tool.token_path, b"grant_type=client_credentials&scope=\xe9", status=400,
                            headers={"Content-Type": content_type})
    assert response.json["error"] == "invalid_request"
    assert snapshot(world.engine) == before


def test_another_assertion_type_is_invalid_request(testapp, world, tool):
    form = tool.token_form(client_assertion_type="urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
    token_refused(testapp, world, tool, form, 400, "invalid_request")


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"])
def test_another_grant_type_is_unsupported_grant_type(testapp, world, tool, grant_type):
    token_refused(testapp, world, tool, tool.token_form(grant_type=grant_type), 400, "unsupported_grant_type")


@pytest.mark.parametrize("scope", [AGS_SCOPE, f"{ACS_SCOPE} {AGS_SCOPE}", f"{ACS_SCOPE} {ACS_SCOPE}", " " + ACS_SCOPE])
def test_any_scope_but_exactly_the_control_scope_is_invalid_scope(testapp, world, tool, scope):
    token_refused(testapp, world, tool, tool.token_form(scope=scope), 400, "invalid_scope")


def test_an_assertion_signed_by_another_key_is_invalid_client(testapp, world, tool):
    other = world.tools[1]
    forged = other.sign({**json.loads(_payload(tool.assertion()))})
    token_refused(testapp, world, tool, tool.token_form(client_assertion=forged), 401, "invalid_client")


def test_an_assertion_of_tool_a_at_tool_b_token_endpoint_is_invalid_client(testapp, world, tool):
    other = world.tools[1]
    token_refused(testapp, world, other, tool.token_form(), 401, "invalid_client", path=other.token_path)
    token_refused(testapp, world, other, tool.token_form(client_assertion=tool.assertion(aud=ROOT + other.token_path)),
                  401, "invalid_client", path=other.token_path)


def test_an_lti_start_assessment_message_is_not_a_client_assertion(testapp, world, tool):
    now = int(time.time())
    message = tool.sign({
        "iss": tool.registration.client_id, "sub": tool.registration.client_id, "aud": [ROOT, ROOT + tool.token_path],
        "iat": now, "exp": now + 60, "nonce": uuid.uuid4().hex, "jti": uuid.uuid4().hex,
        LTI + "message_type": "LtiStartAssessment", LTI + "version": "1.3.0", LTI + "deployment_id": "1",
        LTI + "resource_link": {"id": "link"}, LTI_AP + "attempt_number": 1, LTI_AP + "session_data": "x"})
    response = token_refused(testapp, world, tool, tool.token_form(client_assertion=message), 401, "invalid_client")
    assert "LTI message" in response.json["detail"]


def test_a_client_assertion_is_single_use(testapp, world, tool):
    assertion = tool.assertion()
    request_token(testapp, tool, tool.token_form(client_assertion=assertion))
    token_refused(testapp, world, tool, tool.token_form(client_assertion=assertion), 401, "invalid_client")


def test_an_expired_assertion_is_invalid_grant(testapp, world, tool):
    stale = tool.assertion(iat=time.time() - 600)
    token_refused(testapp, world, tool, tool.token_form(client_assertion=stale), 400, "invalid_grant")


@pytest.mark.parametrize("claims", [{"aud": "https://canvas.example/login/oauth2/token"}, {"sub": "someone"},
                                    {"exp": None}, {"jti": None}, {"iss": ROOT}])
def test_assertions_with_a_wrong_audience_subject_lifetime_or_no_jti_are_invalid_client(testapp, world, tool, claims):
    payload = json.loads(_payload(tool.assertion()))
    payload.update(claims)
    bad = tool.sign({k: v for k, v in payload.items() if v is not None})
    token_refused(testapp, world, tool, tool.token_form(client_assertion=bad), 401, "invalid_client")


def test_an_unknown_registration_is_invalid_client(testapp, world, tool):
    for path in ("/lti/lti_consumer/v1/token/999", "/lti/lti_consumer/v1/token/8a3c1b0e-2f6e-4f4c-9b57-0c6f7f1f0a11"):
        token_refused(testapp, world, tool, tool.token_form(), 401, "invalid_client", path=path)


def test_the_token_endpoint_answers_only_post(testapp, world, tool):
    assert testapp.get(tool.token_path, status=405).headers["Allow"] == "POST"


# -- the token at the ACS ----------------------------------------------------------------------------
def test_a_token_of_registration_a_at_registration_b_acs_is_a_403(testapp, world, tool):
    other = world.tools[1]
    learner = world.add_learner(other)
    token = request_token(testapp, tool).json["access_token"]
    response = acs_refused(testapp, world, other, learner, token, 403)
    assert response.json["code"] == "other_registration"


def test_an_expired_service_token_is_a_401(testapp, world, tool, clock):
    learner = world.add_learner(tool)
    token = request_token(testapp, tool).json["access_token"]
    clock.advance(hours=2)
    response = acs_refused(testapp, world, tool, learner, token, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_with_another_scope_is_a_403_insufficient_scope(testapp, world, tool, platform):
    learner = world.add_learner(tool)
    token = platform.issue_access_token(tool.registration, [AGS_SCOPE]).access_token
    response = acs_refused(testapp, world, tool, learner, token, 403)
    assert response.headers["WWW-Authenticate"] == f'Bearer realm="exams", error="insufficient_scope", scope="{ACS_SCOPE}"'


def test_other_jwts_are_not_service_tokens(testapp, world, tool, platform):
    learner = world.add_learner(tool)
    id_token = platform.sign_id_token(tool.registration, platform.build_start_proctoring_claims(
        tool.registration, ProctoringLaunch(sub=learner.sub, nonce="n", resource_link_id=learner.exam.resource_id,
                                            attempt_number=1, start_assessment_url=ROOT + "/x", session_data="s")))
    genuine = request_token(testapp, tool).json["access_token"]
    header, payload, signature = genuine.split(".")
    tampered = json.loads(_payload(genuine))
    tampered["scope"] = ACS_SCOPE + " more"
    altered = ".".join([header, _b64(json.dumps(tampered)), signature])
    for token in (id_token, tool.assertion(), altered, "not-a-jwt", "a.b.c", genuine + "x"):
        response = acs_refused(testapp, world, tool, learner, token, 401)
        assert response.json["code"] == "invalid_token"


def _payload(token: str) -> str:
    segment = token.split(".")[1]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)).decode()


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()
