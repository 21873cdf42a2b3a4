"""The development proctoring tool on its own: it checks the platform's messages as a vendor must.

The platform here is played by the test: it signs id_tokens with its own key and answers the tool's
JWKS, token and ACS requests through the injected ``http`` function.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from jwcrypto import jwk, jws
from webtest import TestApp

from exams.devtool import DevTool, DevtoolConfig
from exams.devtool.sandbox import LmsIdentity
from exams.devtool.tool import sign, verify

ISSUER = "http://exams.test"
TOOL = "http://tool.test"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LTI_AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
PLATFORM_KEY = jwk.JWK.generate(kty="RSA", size=2048)
TOOL_KEY = jwk.JWK.generate(kty="RSA", size=2048)


def platform_jwks(key=PLATFORM_KEY):
    public = json.loads(key.export_public())
    public.update(kid=key.thumbprint(), alg="RS256", use="sig")
    return {"keys": [public]}


class FakePlatform:
    """Answers the tool's HTTP calls; records them."""

    def __init__(self):
        self.calls = []
        self.acs_answer = (200, b'{"status":"terminated"}')

    def __call__(self, url, *, data=None, headers=None, method=None, timeout=10):
        self.calls.append((url, data, headers or {}))
        if url.endswith("/jwks"):
            return 200, json.dumps(platform_jwks()).encode()
        if url.endswith("/token"):
            return 200, json.dumps({"access_token": "service-token", "token_type": "bearer", "expires_in": 3600,
                                    "scope": "x"}).encode()
        if url.endswith("/acs"):
            return self.acs_answer
        return 404, b""


@pytest.fixture
def platform():
    return FakePlatform()


@pytest.fixture
def tool(platform):
    config = DevtoolConfig(base_url=TOOL, platform_issuer=ISSUER, client_id="exams-devtool", deployment_id="1",
                           auth_url=ISSUER + "/auth", jwks_url=ISSUER + "/jwks", token_url=ISSUER + "/token",
                           key=TOOL_KEY)
    return DevTool(config, http=platform)


def login(app) -> dict:
    response = app.get("/login", {"iss": ISSUER, "login_hint": "sub-1", "lti_message_hint": "hint",
                                   "client_id": "exams-devtool", "target_link_uri": TOOL + "/launch"}, status=303)
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.location).query).items()}
    assert response.location.startswith(ISSUER + "/auth?")
    return query


def id_token(nonce, key=PLATFORM_KEY, **changes):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "exams-devtool", "sub": "5d3f0b7e-8a8b-4c41-9b0e-0a8f2c9d1e77", "iat": now,
              "exp": now + 300, "nonce": nonce, LTI + "message_type": "LtiStartProctoring",
              LTI + "version": "1.3.0", LTI + "deployment_id": "1", LTI + "resource_link": {"id": "link-1"},
              LTI_AP + "attempt_number": 1, LTI_AP + "session_data": "secret-session",
              LTI_AP + "start_assessment_url": ISSUER + "/start",
              LTI_AP + "acs": {"assessment_control_url": ISSUER + "/acs", "actions": ["terminate"]}}
    claims.update(changes)
    token = jws.JWS(json.dumps({k: v for k, v in claims.items() if v is not None}).encode())
    token.add_signature(key, alg="RS256", protected=json.dumps({"alg": "RS256", "kid": PLATFORM_KEY.thumbprint()}))
    return token.serialize(compact=True)


def test_the_login_sends_the_oidc_authentication_request_lti_asks_for(tool):
    query = login(TestApp(tool))
    assert {k: query[k] for k in ("scope", "response_type", "response_mode", "prompt", "client_id", "redirect_uri",
                                  "login_hint", "lti_message_hint")} == {
        "scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
        "client_id": "exams-devtool", "redirect_uri": TOOL + "/launch", "login_hint": "sub-1",
        "lti_message_hint": "hint"}
    assert query["state"] and query["nonce"]


def test_a_login_from_another_platform_is_refused(tool):
    TestApp(tool).get("/login", {"iss": "http://evil.test", "login_hint": "x"}, status=400)


def test_a_verified_start_proctoring_launch_shows_the_start_form_with_a_signed_start_assessment(tool):
    app = TestApp(tool)
    query = login(app)
    page = app.post("/launch", {"state": query["state"], "id_token": id_token(query["nonce"])})
    form = page.forms["start-assessment"]
    assert form.action == ISSUER + "/start"
    _, claims = verify(form["JWT"].value, {"keys": [dict(json.loads(TOOL_KEY.export_public()),
                                                         kid=TOOL_KEY.thumbprint())]})
    assert claims["iss"] == "exams-devtool" and claims["aud"] == [ISSUER]
    assert claims[LTI + "message_type"] == "LtiStartAssessment"
    assert claims[LTI_AP + "session_data"] == "secret-session"
    assert claims[LTI_AP + "attempt_number"] == 1 and claims[LTI + "resource_link"] == {"id": "link-1"}
    assert claims[LTI_AP + "end_assessment_return"] is True


@pytest.mark.parametrize("changes", [{"iss": "http://evil.test"}, {"aud": "someone-else"}, {"nonce": "replayed"},
                                     {"exp": 1}, {LTI + "deployment_id": "2"}, {LTI + "version": "1.1"}])
def test_launches_that_do_not_check_out_are_refused(tool, changes):
    app = TestApp(tool)
    query = login(app)
    changes = {**changes, "nonce": changes.get("nonce", query["nonce"])}
    app.post("/launch", {"state": query["state"], "id_token": id_token(**changes)}, status=400)
    assert tool.sessions == {}


def test_a_forged_id_token_and_an_unknown_or_reused_state_are_refused(tool):
    app = TestApp(tool)
    query = login(app)
    app.post("/launch", {"state": query["state"], "id_token": id_token(query["nonce"], key=TOOL_KEY)}, status=400)
    app.post("/launch", {"state": query["state"], "id_token": id_token(query["nonce"])}, status=400)  # state spent
    app.post("/launch", {"state": "made-up", "id_token": id_token(query["nonce"])}, status=400)
    assert tool.sessions == {}


@pytest.mark.parametrize("report, action, code, severity", [
    ("clean", "terminate", "1", 0.1), ("suspicious", "terminate", "1", 0.9), ("flag", "flag", "15", 0.5),
    ("error", "terminate", "2", 1.0)])
def test_each_console_button_posts_its_report_to_the_acs_with_a_client_credentials_token(
        tool, platform, report, action, code, severity):
    app = TestApp(tool)
    query = login(app)
    app.post("/launch", {"state": query["state"], "id_token": id_token(query["nonce"])})
    [session] = tool.sessions.values()
    app.post("/proctor/report", {"session": session.id, "report": report}, status=303)
    (token_url, form, _), (acs_url, body, headers) = [c for c in platform.calls if not c[0].endswith("/jwks")]
    fields = {k: v[0] for k, v in parse_qs(form.decode()).items()}
    assert fields["grant_type"] == "client_credentials"
    assert fields["scope"] == "https://purl.imsglobal.org/spec/lti-ap/scope/control.all"
    _, assertion = verify(fields["client_assertion"], {"keys": [dict(json.loads(TOOL_KEY.export_public()),
                                                                     kid=TOOL_KEY.thumbprint())]})
    assert (assertion["iss"], assertion["sub"], assertion["aud"]) == ("exams-devtool", "exams-devtool", token_url)
    assert headers["Authorization"] == "Bearer service-token"
    assert headers["Content-Type"] == "application/vnd.ims.lti-ap.v1.control+json"
    message = json.loads(body)
    assert (message["action"], message["reason_code"], message["incident_severity"]) == (action, code, severity)
    assert message["user"]["sub"] == session.sub and message["resource_link"] == {"id": "link-1"}
    assert "200" in app.get("/proctor").text


def test_the_console_escapes_what_the_platform_answers(tool, platform):
    platform.acs_answer = (400, b'{"detail":"<script>alert(1)</script>"}')
    app = TestApp(tool)
    query = login(app)
    app.post("/launch", {"state": query["state"], "id_token": id_token(query["nonce"])})
    [session] = tool.sessions.values()
    app.post("/proctor/report", {"session": session.id, "report": "clean"})
    page = app.get("/proctor").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_the_sandbox_signs_lms_jwts_the_service_accepts():
    from exams.adapters.tokens.lms_jwt import JwcryptoJwtVerifier

    identity = LmsIdentity("short-dev-secret", "http://lms.test/oauth2", "lms-key")
    verifier = JwcryptoJwtVerifier(issuer="http://lms.test/oauth2", audience="lms-key", secret_key="short-dev-secret",
                                   public_jwks=None, leeway=1)
    claims = verifier.verify(identity.token("alice"))
    assert claims["preferred_username"] == "alice" and claims["administrator"] is False


def test_sign_and_verify_round_trip_and_refuse_other_keys():
    token = sign(TOOL_KEY, {"a": 1})
    assert verify(token, {"keys": [dict(json.loads(TOOL_KEY.export_public()), kid=TOOL_KEY.thumbprint())]})[1] == \
        {"a": 1}
    with pytest.raises(Exception):
        verify(token, platform_jwks())
