"""Bad input on the LTI launch, one test per pitfall of issue 4 §4 (reference lti-proctoring.md §5).

Every refusal answers a short 4xx page (never a 500, never an id_token) and leaves the attempt's status
and the launch state as they were: the genuine learner can still go on afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from jwcrypto.jwe import JWE
from jwcrypto.jwk import JWK
from webtest import TestApp

from tests.functional.test_lti_support import (  # noqa: F401 (fixtures)
    AUTH_PATH, LTI, LTI_AP, OTHER_LEARNER, ROOT, TOOL_LAUNCH, add_exam, attempt_status, auth_params,
    create_attempt, launch, other_tool_key, platform_keys, parse_form, post_start_assessment, start,
    start_assessment_claims, tool_key, unverified, verified_claims, world)

DSC = "download_software_clicked"


def refused(response, status: int):
    assert response.status_int == status
    assert response.content_type == "text/html"
    assert "<form" not in response.text and "eyJ" not in response.text
    assert len(response.text) < 2000
    return response


def genuine_learner_can_still_finish(testapp, world, login):
    """The refused request spent nothing: the learner's own browser completes the launch."""
    page = testapp.get(AUTH_PATH, params=auth_params(login), status=200)
    action, fields = parse_form(page.text)
    assert action == TOOL_LAUNCH and fields["id_token"]


# -- P1: the authentication request is bound to the learner's browser and to a single-use hint ------
def test_p1_a_browser_without_the_launch_cookie_gets_no_id_token(testapp, wsgi, world):
    login = start(testapp, world)
    stranger = TestApp(wsgi)
    refused(stranger.get(AUTH_PATH, params=auth_params(login), status=403), 403)
    assert attempt_status(wsgi, world.attempt_id) == DSC
    genuine_learner_can_still_finish(testapp, world, login)


def test_p1_another_learners_browser_replaying_the_hint_gets_no_id_token(testapp, wsgi, world):
    login = start(testapp, world)
    mallory = TestApp(wsgi)
    other_exam = add_exam(wsgi, "proctorio", content_id="block-v1:edx+lti+2026+type@sequential+block@other")
    mallory_attempt = create_attempt(mallory, other_exam.id, headers=OTHER_LEARNER)
    mallory.get(f"/lti/start_proctoring/{mallory_attempt}", headers=OTHER_LEARNER, status=302)
    assert "exams_lti_launch" in mallory.cookies
    refused(mallory.get(AUTH_PATH, params=auth_params(login), headers=OTHER_LEARNER, status=403), 403)
    refused(mallory.get(AUTH_PATH, params=auth_params(login), status=403), 403)
    genuine_learner_can_still_finish(testapp, world, login)


def test_p1_a_login_hint_naming_someone_else_is_refused(testapp, wsgi, world):
    login = start(testapp, world)
    refused(testapp.get(AUTH_PATH, params=auth_params(login, login_hint="b" * 32), status=403), 403)
    genuine_learner_can_still_finish(testapp, world, login)


def test_p1_a_signed_in_user_other_than_the_launchs_is_refused(testapp, wsgi, world):
    login = start(testapp, world)
    refused(testapp.get(AUTH_PATH, params=auth_params(login), headers=OTHER_LEARNER, status=403), 403)
    genuine_learner_can_still_finish(testapp, world, login)


def test_p1_a_forged_launch_cookie_is_refused(testapp, wsgi, world):
    login = start(testapp, world)
    cookie = testapp.cookies["exams_lti_launch"]
    raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    forged = base64.urlsafe_b64encode(raw[:-8] + b'"forged"').decode().rstrip("=")
    testapp.set_cookie("exams_lti_launch", forged)
    refused(testapp.get(AUTH_PATH, params=auth_params(login), status=403), 403)


def test_p1_the_hint_is_single_use(testapp, wsgi, world):
    login = start(testapp, world)
    genuine_learner_can_still_finish(testapp, world, login)
    refused(testapp.get(AUTH_PATH, params=auth_params(login), status=403), 403)


def test_p1_the_hint_expires(testapp, wsgi, world, clock):
    login = start(testapp, world)
    clock.freeze()
    clock.advance(minutes=11)
    refused(testapp.get(AUTH_PATH, params=auth_params(login), status=400), 400)


def test_p1_the_hint_is_random_and_unknown_hints_are_refused(testapp, wsgi, world):
    first = start(testapp, world)
    second = start(testapp, world)
    assert first["lti_message_hint"] != second["lti_message_hint"]
    assert len(first["lti_message_hint"]) >= 43  # 256 random bits
    guessed = hashlib.md5(f"{world.attempt_id}{world.resource_id}".encode()).hexdigest()
    refused(testapp.get(AUTH_PATH, params=auth_params(first, lti_message_hint=guessed), status=400), 400)


def test_p1_a_hint_of_one_tool_is_refused_for_another_client_id(testapp, wsgi, world):
    login = start(testapp, world)
    refused(testapp.get(AUTH_PATH, params=auth_params(login, client_id="tool-2",
                                                      redirect_uri="https://other.test/launch"), status=400), 400)
    genuine_learner_can_still_finish(testapp, world, login)


# -- P2: redirect_uri matched exactly ------------------------------------------------------------------
@pytest.mark.parametrize("redirect_uri", [
    TOOL_LAUNCH + "/", TOOL_LAUNCH + "?x=1", TOOL_LAUNCH + "#", "https://tool.test.evil.com/launch",
    "http://tool.test/launch", "HTTPS://tool.test/launch", "javascript:alert(1)", "", "https://other.test/launch",
])
def test_p2_a_redirect_uri_that_is_not_registered_exactly_gets_an_error_page_and_no_form(
        testapp, wsgi, world, redirect_uri):
    login = start(testapp, world)
    response = refused(testapp.get(AUTH_PATH, params=auth_params(login, redirect_uri=redirect_uri), status=400), 400)
    assert "<form" not in response.text
    genuine_learner_can_still_finish(testapp, world, login)


def test_p2_an_unknown_client_id_gets_an_error_page(testapp, wsgi, world):
    login = start(testapp, world)
    refused(testapp.get(AUTH_PATH, params=auth_params(login, client_id="nobody"), status=400), 400)


# -- P3: the OIDC parameters LTI allows, and nothing else ---------------------------------------------
@pytest.mark.parametrize("override", [
    {"response_type": "code"}, {"response_type": None}, {"response_mode": "query"}, {"response_mode": "fragment"},
    {"scope": "profile"}, {"scope": "openid profile"}, {"scope": None}, {"nonce": None}, {"nonce": ""},
    {"state": None}, {"prompt": "login"}, {"login_hint": None}, {"lti_message_hint": None},
])
def test_p3_a_wrong_or_missing_oidc_parameter_is_refused(testapp, wsgi, world, override):
    login = start(testapp, world)
    refused(testapp.get(AUTH_PATH, params=auth_params(login, **override), status=400), 400)
    assert attempt_status(wsgi, world.attempt_id) == DSC
    genuine_learner_can_still_finish(testapp, world, login)


def test_p3_a_repeated_parameter_is_refused(testapp, wsgi, world):
    login = start(testapp, world)
    params = list(auth_params(login).items()) + [("redirect_uri", "https://evil.test/launch")]
    refused(testapp.get(AUTH_PATH, params=params, status=400), 400)


def test_p3_the_authentication_request_may_be_a_post(testapp, wsgi, world):
    login = start(testapp, world)
    page = testapp.post(AUTH_PATH, auth_params(login), status=200)
    assert parse_form(page.text)[0] == TOOL_LAUNCH


# -- P4: every value of the auto-post page is escaped ------------------------------------------------
def test_p4_a_hostile_state_is_escaped_in_the_form(testapp, wsgi, world):
    login = start(testapp, world)
    state = '"><script>alert(1)</script>'
    page = testapp.get(AUTH_PATH, params=auth_params(login, state=state), status=200)
    assert "<script>alert(1)" not in page.text
    assert parse_form(page.text)[1]["state"] == state
    assert "script-src 'nonce-" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_p4_an_oversized_nonce_is_refused(testapp, wsgi, world):
    login = start(testapp, world)
    refused(testapp.get(AUTH_PATH, params=auth_params(login, nonce="n" * 10_000), status=400), 400)


def test_p5_the_nonce_is_echoed_byte_for_byte(testapp, wsgi, world):
    login = start(testapp, world)
    page = testapp.get(AUTH_PATH, params=auth_params(login, nonce="a+b/c=d%20é"), status=200)
    assert verified_claims(testapp, world.registration_id, parse_form(page.text)[1]["id_token"])["nonce"] == \
        "a+b/c=d%20é"


# -- LtiStartAssessment: P6-P12, P17, P18 -------------------------------------------------------------------
@pytest.fixture
def launched(testapp, world):
    """The learner's browser after the OIDC round trip: the id_token claims the tool received."""
    return launch(testapp, world)


def refused_start(testapp, wsgi, world, token, status=400, expected_status=DSC):
    response = refused(testapp.post("/lti/lti_consumer/v1/start_proctoring_assessment", {"JWT": token},
                                    status=status), status)
    assert attempt_status(wsgi, world.attempt_id) == expected_status
    return response


def b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_p6_alg_none_is_refused(testapp, wsgi, world, launched):
    token = f'{b64({"alg": "none", "kid": world.tool_key.kid})}.{b64(start_assessment_claims(launched))}.'
    refused_start(testapp, wsgi, world, token)
    post_start_assessment(testapp, world.tool_key.sign(start_assessment_claims(launched)))  # still open


def test_p6_hs256_keyed_with_the_tools_public_key_is_refused(testapp, wsgi, world, launched):
    header = b64({"alg": "HS256", "kid": world.tool_key.kid})
    payload = b64(start_assessment_claims(launched))
    signature = hmac.new(world.tool_key.pem().encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    refused_start(testapp, wsgi, world, f"{header}.{payload}.{b64(signature)}")


def test_p6_an_unregistered_algorithm_is_refused(testapp, wsgi, world, launched):
    key = JWK.generate(kty="EC", crv="P-256")
    from jwcrypto.jws import JWS
    jws = JWS(json.dumps(start_assessment_claims(launched)).encode())
    jws.add_signature(key, alg="ES256", protected=json.dumps({"alg": "ES256", "kid": world.tool_key.kid}))
    refused_start(testapp, wsgi, world, jws.serialize(compact=True))


def test_p7_a_jwe_is_refused(testapp, wsgi, world, launched):
    published = testapp.get(f"/lti/lti_consumer/v1/public_keysets/{world.registration_id}").json["keys"]
    public = JWK(**{k: v for k, v in published[0].items() if k in ("kty", "n", "e", "kid")})
    jwe = JWE(json.dumps(start_assessment_claims(launched)).encode(),
              protected=json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": public.kid}))
    jwe.add_recipient(public)
    refused_start(testapp, wsgi, world, jwe.serialize(compact=True))


def test_p8_a_message_signed_by_another_tools_key_is_refused(testapp, wsgi, world, launched):
    token = world.other_tool_key.sign(start_assessment_claims(launched),
                                      header={"alg": "RS256", "kid": world.other_tool_key.kid})
    refused_start(testapp, wsgi, world, token)


def test_p8_a_key_offered_in_the_header_is_ignored(testapp, wsgi, world, launched):
    attacker = JWK.generate(kty="RSA", size=2048)
    from jwcrypto.jws import JWS
    jws = JWS(json.dumps(start_assessment_claims(launched)).encode())
    jws.add_signature(attacker, alg="RS256", protected=json.dumps({
        "alg": "RS256", "kid": world.tool_key.kid, "jwk": json.loads(attacker.export_public()),
        "jku": "https://attacker.test/jwks.json"}))
    refused_start(testapp, wsgi, world, jws.serialize(compact=True))


@pytest.mark.parametrize("override", [
    {"aud": "https://other-platform.example"}, {"aud": ["https://other-platform.example"]}, {"aud": None},
    {"azp": "tool-2"},
])
def test_p9_a_message_not_addressed_to_us_is_refused(testapp, wsgi, world, launched, override):
    refused_start(testapp, wsgi, world, world.tool_key.sign(start_assessment_claims(launched, **override)))


def test_p9_a_message_issued_by_the_platform_is_refused(testapp, wsgi, world, launched):
    refused_start(testapp, wsgi, world, world.tool_key.sign(start_assessment_claims(launched, iss=ROOT)))


def test_p10_a_replayed_message_is_refused(testapp, wsgi, world, launched):
    token = world.tool_key.sign(start_assessment_claims(launched))
    post_start_assessment(testapp, token)
    refused_start(testapp, wsgi, world, token, expected_status="ready_to_start")


def test_p10_a_replayed_nonce_is_refused_even_in_a_new_launch(testapp, wsgi, world, launched):
    post_start_assessment(testapp, world.tool_key.sign(start_assessment_claims(launched, nonce="same")))
    again = launch(testapp, world)
    assert attempt_status(wsgi, world.attempt_id) == DSC
    refused_start(testapp, wsgi, world, world.tool_key.sign(start_assessment_claims(again, nonce="same")))


# Each override is made when the test runs (times taken at collection went stale on a slow machine).
@pytest.mark.parametrize("override", [
    lambda now: {"exp": None}, lambda now: {"iat": None}, lambda now: {"exp": now + 365 * 24 * 3600},
    lambda now: {"iat": now + 600, "exp": now + 900}, lambda now: {"exp": now - 600},
    lambda now: {"nonce": None}, lambda now: {"nonce": ""}, lambda now: {"nonce": 12},
], ids=["no-exp", "no-iat", "exp-a-year-ahead", "iat-in-the-future", "expired", "no-nonce", "empty-nonce",
        "numeric-nonce"])
def test_p10_exp_iat_and_nonce_are_required_and_bounded(testapp, wsgi, world, launched, override):
    claims = start_assessment_claims(launched, **override(int(time.time())))
    refused_start(testapp, wsgi, world, world.tool_key.sign(claims))


@pytest.mark.parametrize("session_data", ["wrong", "", None, 42])
def test_p11_a_wrong_or_missing_session_data_is_refused(testapp, wsgi, world, launched, session_data):
    claims = start_assessment_claims(launched)
    claims[LTI_AP + "session_data"] = session_data
    if session_data is None:
        del claims[LTI_AP + "session_data"]
    refused_start(testapp, wsgi, world, world.tool_key.sign(claims))


def test_p11_session_data_of_one_learner_posted_from_another_learners_browser_is_refused(testapp, wsgi, world,
                                                                                         launched):
    mallory = TestApp(wsgi)
    other_exam = add_exam(wsgi, "proctorio", content_id="block-v1:edx+lti+2026+type@sequential+block@other")
    mallory_attempt = create_attempt(mallory, other_exam.id, headers=OTHER_LEARNER)
    login = mallory.get(f"/lti/start_proctoring/{mallory_attempt}", headers=OTHER_LEARNER, status=302)
    from tests.functional.test_lti_support import query
    mallory.get(AUTH_PATH, params=auth_params(query(login.location)), status=200)
    response = mallory.post("/lti/lti_consumer/v1/start_proctoring_assessment",
                            {"JWT": world.tool_key.sign(start_assessment_claims(launched))}, status=400)
    refused(response, 400)
    assert attempt_status(wsgi, world.attempt_id) == DSC
    assert attempt_status(wsgi, mallory_attempt) == DSC


def test_p11_a_valid_message_after_the_session_expired_is_refused(testapp, wsgi, world, launched, clock):
    clock.freeze()
    clock.advance(hours=2, minutes=1)
    claims = start_assessment_claims(launched, iat=int(clock.now().timestamp()),
                                     exp=int(clock.now().timestamp()) + 300)
    refused_start(testapp, wsgi, world, world.tool_key.sign(claims))


@pytest.mark.parametrize("claim, value", [
    (LTI_AP + "attempt_number", 2), (LTI_AP + "attempt_number", "abc"), (LTI_AP + "attempt_number", None),
    (LTI + "resource_link", {"id": "another-exam"}), (LTI + "resource_link", None),
    (LTI + "message_type", "LtiDeepLinkingResponse"), (LTI + "message_type", "LtiStartProctoring"),
    (LTI + "version", "1.1"), (LTI + "deployment_id", "2"),
])
def test_p12_a_claim_that_does_not_match_the_launch_is_refused(testapp, wsgi, world, launched, claim, value):
    claims = start_assessment_claims(launched)
    claims[claim] = value
    if value is None:
        del claims[claim]
    refused_start(testapp, wsgi, world, world.tool_key.sign(claims))


def test_p12_attempt_number_as_a_numeric_string_is_accepted(testapp, wsgi, world, launched):
    post_start_assessment(testapp, world.tool_key.sign(start_assessment_claims(
        launched, **{LTI_AP + "attempt_number": "1"})))
    assert attempt_status(wsgi, world.attempt_id) == "ready_to_start"


def test_p17_our_own_id_token_is_not_accepted_as_a_start_assessment(testapp, wsgi, world):
    login = start(testapp, world)
    page = testapp.get(AUTH_PATH, params=auth_params(login), status=200)
    id_token = parse_form(page.text)[1]["id_token"]
    refused_start(testapp, wsgi, world, id_token)


def test_p17_an_access_token_is_not_accepted_as_a_start_assessment(testapp, wsgi, world, launched):
    registration = run_registration(wsgi, world.registration_id)
    access = wsgi.container.lti_platform().issue_access_token(
        registration, ["https://purl.imsglobal.org/spec/lti-ap/scope/control.all"]).access_token
    refused_start(testapp, wsgi, world, access)


def run_registration(wsgi, registration_id):
    from exams.units import run_in_transaction
    return run_in_transaction(wsgi.container, lambda s: s.lti.registration(registration_id))


def test_p18_a_start_assessment_without_the_launch_cookie_is_refused(testapp, wsgi, world, launched):
    token = world.tool_key.sign(start_assessment_claims(launched))
    refused(TestApp(wsgi).post("/lti/lti_consumer/v1/start_proctoring_assessment", {"JWT": token}, status=403), 403)
    assert attempt_status(wsgi, world.attempt_id) == DSC
    post_start_assessment(testapp, token)  # the nonce was not spent by the refusal


@pytest.mark.parametrize("body", [{}, {"JWT": ""}, {"JWT": "not.a.jwt"}, {"JWT": "x" * 70_000},
                                  [("JWT", "a"), ("JWT", "b")]])
def test_a_malformed_start_assessment_body_is_refused(testapp, wsgi, world, launched, body):
    refused(testapp.post("/lti/lti_consumer/v1/start_proctoring_assessment", body, status=400), 400)
    assert attempt_status(wsgi, world.attempt_id) == DSC


def test_a_start_assessment_of_an_unknown_tool_is_refused(testapp, wsgi, world, launched):
    refused_start(testapp, wsgi, world, world.tool_key.sign(start_assessment_claims(launched, iss="nobody")))


def test_the_id_token_is_signed_with_the_registrations_own_key(testapp, wsgi, world):
    login = start(testapp, world)
    page = testapp.get(AUTH_PATH, params=auth_params(login), status=200)
    header = unverified(parse_form(page.text)[1]["id_token"], 0)
    assert header["alg"] == "RS256"
    assert header["kid"] == run_registration(wsgi, world.registration_id).platform_kid
    other_kid = run_registration(wsgi, world.other_registration_id).platform_kid
    assert header["kid"] != other_kid


@pytest.mark.parametrize("override", [{"client_id": "tool-1\x00"}, {"lti_message_hint": "a\x00b"},
                                      {"state": "s\x00"}, {"login_hint": "\x00"}])
def test_nul_characters_in_the_authentication_request_are_refused_without_a_500(testapp, wsgi, world, override):
    login = start(testapp, world)
    response = testapp.get(AUTH_PATH, params=auth_params(login, **override), expect_errors=True)
    assert response.status_int in (400, 403)
    genuine_learner_can_still_finish(testapp, world, login)


def test_a_start_assessment_naming_an_issuer_with_a_nul_is_refused(testapp, wsgi, world, launched):
    refused_start(testapp, wsgi, world, world.tool_key.sign(start_assessment_claims(launched, iss="tool-1\x00")))
