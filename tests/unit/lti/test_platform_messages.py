"""Platform keys, JWKS, login initiation and the id_tokens we sign (§1.1, §1.3, §1.5, instructor launch)."""

from __future__ import annotations

import base64
import dataclasses
import json
import urllib.parse
import uuid

import pytest
from jwcrypto.jwk import JWK, JWKSet
from jwcrypto.jwt import JWT

from exams.adapters.lti import JwcryptoLtiPlatform
from exams.ports.lti import (
    ROLE_INSTRUCTOR,
    EndAssessmentLaunch,
    InstructorLaunch,
    LaunchRejected,
    LtiConfigurationError,
    LtiPlatform,
    ProctoringLaunch,
    RejectionCode,
)

from .conftest import ISSUER, NOW, START_ASSESSMENT_URL, decode_part

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LTI_AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"


def proctoring_launch(**changes) -> ProctoringLaunch:
    launch = ProctoringLaunch(
        sub="5c0e8d2a-3c39-4c1a-9d8e-1f2a3b4c5d6e",
        nonce="a+b/c=d%20",
        resource_link_id="7b7f1f2e-0c0b-4c34-9a57-6f7c1f3d2e10",
        attempt_number=1,
        start_assessment_url=START_ASSESSMENT_URL,
        session_data="s3ss10n-d4t4-0123456789abcdefXYZ",
        context_id="course-v1:edX+DemoX+Demo_Course",
        context_label="block-v1:edX+DemoX+Demo_Course+type@sequential+block@exam",
        acs_url=ISSUER + "/lti/3/acs",
        custom={"custom_url": "exams.example.org/browser_lock/"},
    )
    return dataclasses.replace(launch, **changes)


def verify_with_published_jwks(platform, registration, token):
    """What a tool does: verify our id_token with the JWKS we publish."""
    keyset = JWKSet.from_json(json.dumps(platform.public_jwks([registration])))
    return json.loads(JWT(jwt=token, key=keyset, algs=["RS256"], expected_type="JWS").claims)


def test_the_adapter_satisfies_the_port(platform):
    port: LtiPlatform = platform
    assert port.issuer == ISSUER


def test_a_generated_platform_key_is_rsa_2048_with_its_thumbprint_as_kid(platform_keys):
    private, kid = platform_keys[0]
    key = JWK.from_json(private)
    assert key.has_private
    assert key.get("kty") == "RSA"
    n = key.get("n")
    assert len(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))) * 8 == 2048
    assert kid == key.thumbprint()


def test_the_published_jwks_holds_only_public_keys_with_kid_alg_and_use(platform, registration_a, registration_b):
    jwks = platform.public_jwks([registration_a, registration_b, registration_a])
    assert [k["kid"] for k in jwks["keys"]] == [registration_a.platform_kid, registration_b.platform_kid]
    for entry in jwks["keys"]:
        assert set(entry) == {"kty", "n", "e", "kid", "alg", "use"}
        assert (entry["alg"], entry["use"]) == ("RS256", "sig")
        assert not JWK(**entry).has_private


def test_an_edx_exams_pem_key_with_a_uuid_kid_is_usable_for_drop_in(platform, registration_a):
    pem = JWK.from_json(registration_a.platform_private_key).export_to_pem(private_key=True, password=None).decode()
    migrated = dataclasses.replace(registration_a, platform_private_key=pem, platform_kid=str(uuid.uuid4()))
    token = platform.sign_id_token(migrated, {"iss": ISSUER})
    assert decode_part(token, 0)["kid"] == migrated.platform_kid
    assert verify_with_published_jwks(platform, migrated, token) == {"iss": ISSUER}


def test_a_corrupt_platform_key_is_a_configuration_error(platform, registration_a):
    broken = dataclasses.replace(registration_a, platform_private_key='{"kty": "RSA"}')
    with pytest.raises(LtiConfigurationError):
        platform.public_jwks([broken])
    public_only = dataclasses.replace(registration_a, platform_private_key=JWK.from_json(registration_a.platform_private_key).export_public())
    with pytest.raises(LtiConfigurationError):
        platform.sign_id_token(public_only, {})


def test_the_private_key_never_appears_in_a_registration_repr(registration_a):
    assert registration_a.platform_private_key not in repr(registration_a)
    assert '"d"' not in repr(registration_a)


def test_login_initiation_carries_the_six_step_one_parameters(platform, registration_a, registration_b):
    url = platform.login_initiation_url(registration_a, login_hint="anon-1", lti_message_hint="hint&x=1")
    parts = urllib.parse.urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == registration_a.oidc_login_url
    assert dict(urllib.parse.parse_qsl(parts.query)) == {
        "iss": ISSUER,
        "login_hint": "anon-1",
        "target_link_uri": registration_a.launch_url,
        "lti_message_hint": "hint&x=1",
        "client_id": "client-a",
        "lti_deployment_id": "1",
    }
    with_query = platform.login_initiation_url(registration_b, login_hint="h", lti_message_hint="m")
    assert with_query.startswith("https://tool-b.example/login?tenant=7&iss=")


def test_redirect_uris_match_exactly(registration_a, registration_b):
    assert registration_a.allows_redirect_uri("https://tool-a.example/launch")
    for near_miss in ("https://tool-a.example/launch/", "https://tool-a.example/launch?x=1", "http://tool-a.example/launch",
                      "https://tool-a.example/launch#", "https://tool-a.example.evil.com/launch", "javascript:alert(1)"):
        assert not registration_a.allows_redirect_uri(near_miss)
    # No registered list: only the launch URL.
    assert registration_b.allowed_redirect_uris() == ("https://tool-b.example/launch",)


def test_start_proctoring_id_token_has_the_full_claim_set(platform, registration_a):
    token = platform.sign_id_token(registration_a, platform.build_start_proctoring_claims(registration_a, proctoring_launch()))
    assert decode_part(token, 0) == {"alg": "RS256", "kid": registration_a.platform_kid, "typ": "JWT"}
    claims = verify_with_published_jwks(platform, registration_a, token)
    assert claims == {
        "iss": ISSUER,
        "sub": "5c0e8d2a-3c39-4c1a-9d8e-1f2a3b4c5d6e",
        "aud": "client-a",
        "azp": "client-a",
        "iat": int(NOW),
        "exp": int(NOW) + 3600,
        "nonce": "a+b/c=d%20",
        LTI + "message_type": "LtiStartProctoring",
        LTI + "version": "1.3.0",
        LTI + "deployment_id": "1",
        LTI + "target_link_uri": "https://tool-a.example/launch",
        LTI + "roles": [],
        LTI + "resource_link": {"id": "7b7f1f2e-0c0b-4c34-9a57-6f7c1f3d2e10"},
        LTI + "context": {"id": "course-v1:edX+DemoX+Demo_Course",
                          "label": "block-v1:edX+DemoX+Demo_Course+type@sequential+block@exam"},
        LTI + "launch_presentation": {},
        LTI + "tool_platform": {"guid": str(uuid.uuid5(uuid.NAMESPACE_DNS, "Open edX Exams")), "name": "Open edX Exams"},
        LTI + "custom": {"custom_url": "exams.example.org/browser_lock/"},
        LTI_AP + "attempt_number": 1,
        LTI_AP + "start_assessment_url": START_ASSESSMENT_URL,
        LTI_AP + "session_data": "s3ss10n-d4t4-0123456789abcdefXYZ",
        LTI_AP + "acs": {"assessment_control_url": ISSUER + "/lti/3/acs", "actions": ["terminate"]},
    }


def test_optional_start_proctoring_claims_appear_only_when_given(platform, registration_a):
    claims = platform.build_start_proctoring_claims(registration_a, proctoring_launch(
        acs_url=None, context_id=None, custom={}, return_url=ISSUER + "/exam", resource_link_title="Final",
        proctoring_settings_data="opaque", given_name="Ada", family_name="Lovelace", email="ada@example.org",
    ))
    assert ACS_CLAIM not in claims and LTI + "context" not in claims and LTI + "custom" not in claims
    assert claims[LTI + "launch_presentation"] == {"return_url": ISSUER + "/exam"}
    assert claims[LTI + "resource_link"] == {"id": "7b7f1f2e-0c0b-4c34-9a57-6f7c1f3d2e10", "title": "Final"}
    assert claims[LTI_AP + "proctoring_settings"] == {"data": "opaque"}
    assert (claims["given_name"], claims["family_name"], claims["email"]) == ("Ada", "Lovelace", "ada@example.org")
    assert "name" not in claims


ACS_CLAIM = LTI_AP + "acs"


def test_the_tool_nonce_is_copied_byte_for_byte(platform, registration_a):
    nonce = "  ünïcödé+/=%20\"<>'  "
    claims = platform.build_start_proctoring_claims(registration_a, proctoring_launch(nonce=nonce))
    token = platform.sign_id_token(registration_a, claims)
    assert verify_with_published_jwks(platform, registration_a, token)["nonce"] == nonce


@pytest.mark.parametrize("nonce, code", [("", RejectionCode.MISSING_NONCE), ("n" * 10_000, RejectionCode.INVALID_NONCE)])
def test_an_empty_or_huge_oidc_nonce_is_refused(platform, registration_a, nonce, code):
    with pytest.raises(LaunchRejected) as excinfo:
        platform.build_start_proctoring_claims(registration_a, proctoring_launch(nonce=nonce))
    assert excinfo.value.code == code


@pytest.mark.parametrize("changes", [{"attempt_number": 0}, {"attempt_number": True}, {"attempt_number": "1"},
                                     {"session_data": ""}, {"acs_actions": ("explode",)}, {"acs_actions": ()}])
def test_programming_errors_in_a_proctoring_launch_are_value_errors(platform, registration_a, changes):
    with pytest.raises(ValueError):
        platform.build_start_proctoring_claims(registration_a, proctoring_launch(**changes))


def test_end_assessment_id_token(platform, registration_a):
    launch = EndAssessmentLaunch(sub="anon", nonce="n2", resource_link_id="rl", attempt_number=2,
                                 context_id="course-v1:x+y+z", return_url="https://apps.example/learning/course/c/x",
                                 errormsg="Your session ended", errorlog="tool error 17")
    claims = verify_with_published_jwks(platform, registration_a,
                                        platform.sign_id_token(registration_a, platform.build_end_assessment_claims(registration_a, launch)))
    assert claims[LTI + "message_type"] == "LtiEndAssessment"
    assert claims[LTI_AP + "attempt_number"] == 2
    assert claims[LTI + "resource_link"] == {"id": "rl"}
    assert claims[LTI + "context"] == {"id": "course-v1:x+y+z"}
    assert claims[LTI + "launch_presentation"] == {"return_url": "https://apps.example/learning/course/c/x"}
    assert claims[LTI_AP + "errormsg"] == "Your session ended"
    assert claims[LTI_AP + "errorlog"] == "tool error 17"
    assert LTI_AP + "session_data" not in claims and ACS_CLAIM not in claims
    assert (claims["nonce"], claims["sub"], claims["aud"], claims[LTI + "roles"]) == ("n2", "anon", "client-a", [])


def test_instructor_launch_is_a_resource_link_request_with_the_roster_url(platform, registration_a):
    launch = InstructorLaunch(sub="staff-anon", nonce="n3", resource_link_id="rl", context_id="course-v1:x+y+z",
                              roster_url=ISSUER + "/lti/exam/4/instructor_tool/roster")
    claims = platform.build_resource_link_claims(registration_a, launch)
    assert claims[LTI + "message_type"] == "LtiResourceLinkRequest"
    assert claims[LTI + "roles"] == [ROLE_INSTRUCTOR]
    assert claims[LTI + "custom"] == {"roster_url": ISSUER + "/lti/exam/4/instructor_tool/roster"}
    assert LTI_AP + "attempt_number" not in claims


def test_id_tokens_of_one_registration_do_not_verify_with_another_registrations_keys(platform, registration_a, registration_b):
    token = platform.sign_id_token(registration_a, {"iss": ISSUER})
    with pytest.raises(Exception):
        verify_with_published_jwks(platform, registration_b, token)


def test_the_platform_requires_an_issuer():
    with pytest.raises(ValueError):
        JwcryptoLtiPlatform("")
