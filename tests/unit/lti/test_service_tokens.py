"""The LTI Advantage token endpoint's client assertion (§2.2, P9, P10, P13) and our ACS access tokens (P14, P17)."""

from __future__ import annotations

import dataclasses

import pytest

from exams.ports.lti import ACS_SCOPE, LaunchRejected, RejectionCode

from .conftest import ISSUER, NOW, TOKEN_URL, FakeNonceStore, unsigned_token

LTI = "https://purl.imsglobal.org/spec/lti/claim/"


def assertion_claims(**changes):
    claims = {"iss": "client-a", "sub": "client-a", "aud": TOKEN_URL, "iat": int(NOW) - 5, "exp": int(NOW) + 60,
              "jti": "lti-service-token-6f1c"}
    for name, value in changes.items():
        if value is DROP:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


DROP = object()


def assertion_rejection(platform, registration, assertion, nonces=None) -> RejectionCode:
    with pytest.raises(LaunchRejected) as excinfo:
        platform.verify_client_assertion(registration, assertion, TOKEN_URL, nonces or FakeNonceStore())
    return excinfo.value.code


def access_rejection(platform, registration, token) -> RejectionCode:
    with pytest.raises(LaunchRejected) as excinfo:
        platform.verify_access_token(registration, token)
    return excinfo.value.code


# -- client assertions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("aud", [TOKEN_URL, [TOKEN_URL], ISSUER, [ISSUER, "https://elsewhere.example"]])
def test_a_genuine_client_assertion_verifies(platform, registration_a, tool_a_key, nonces, aud):
    result = platform.verify_client_assertion(registration_a, tool_a_key.sign(assertion_claims(aud=aud)), TOKEN_URL, nonces)
    assert (result.client_id, result.jti) == ("client-a", "lti-service-token-6f1c")
    assert result.expires_at.timestamp() == NOW + 60
    (expires_at,) = nonces.used.values()
    assert expires_at.timestamp() == NOW + 60 + 60


def test_a_reused_jti_is_refused(platform, registration_a, tool_a_key, nonces):
    assertion = tool_a_key.sign(assertion_claims())
    platform.verify_client_assertion(registration_a, assertion, TOKEN_URL, nonces)
    assert assertion_rejection(platform, registration_a, assertion, nonces) == RejectionCode.JTI_REUSED
    # A fresh assertion with the same jti is a replay too.
    again = tool_a_key.sign(assertion_claims(iat=int(NOW)))
    assert assertion_rejection(platform, registration_a, again, nonces) == RejectionCode.JTI_REUSED


@pytest.mark.parametrize("changes, code", [
    ({"jti": DROP}, RejectionCode.MISSING_JTI),
    ({"jti": ""}, RejectionCode.MISSING_JTI),
    ({"jti": 5}, RejectionCode.INVALID_CLAIM),
    ({"sub": DROP}, RejectionCode.INVALID_SUBJECT),
    ({"sub": "learner-anon-id"}, RejectionCode.INVALID_SUBJECT),
    ({"iss": "client-b"}, RejectionCode.INVALID_ISSUER),
    ({"iss": ISSUER}, RejectionCode.INVALID_ISSUER),
    ({"aud": "https://canvas.example/login/oauth2/token"}, RejectionCode.INVALID_AUDIENCE),
    ({"aud": DROP}, RejectionCode.INVALID_AUDIENCE),
    ({"exp": DROP}, RejectionCode.MISSING_EXPIRY),
    ({"iat": DROP}, RejectionCode.MISSING_ISSUED_AT),
    ({"exp": int(NOW) - 100, "iat": int(NOW) - 200}, RejectionCode.EXPIRED),
    ({"iat": int(NOW) + 600, "exp": int(NOW) + 660}, RejectionCode.NOT_YET_VALID),
    ({"exp": int(NOW) + 365 * 24 * 3600}, RejectionCode.LIFETIME_TOO_LONG),
])
def test_p9_p10_bad_client_assertions_are_refused(platform, registration_a, tool_a_key, changes, code):
    assert assertion_rejection(platform, registration_a, tool_a_key.sign(assertion_claims(**changes))) == code


def test_p13_a_genuine_start_assessment_is_not_a_client_assertion(platform, registration_a, tool_a_key):
    message = {"iss": "client-a", "sub": "client-a", "aud": [ISSUER], "iat": int(NOW), "exp": int(NOW) + 60,
               "jti": "j", "nonce": "n", LTI + "message_type": "LtiStartAssessment", LTI + "version": "1.3.0"}
    assert assertion_rejection(platform, registration_a, tool_a_key.sign(message)) == RejectionCode.LTI_MESSAGE_AS_ASSERTION


def test_p13_any_lti_claim_disqualifies_an_assertion(platform, registration_a, tool_a_key):
    claims = assertion_claims(**{"https://purl.imsglobal.org/spec/lti-ap/claim/session_data": "x"})
    assert assertion_rejection(platform, registration_a, tool_a_key.sign(claims)) == RejectionCode.LTI_MESSAGE_AS_ASSERTION


def test_p17_our_own_id_token_is_not_a_client_assertion(platform, registration_a):
    id_token = platform.sign_id_token(registration_a, {"iss": ISSUER, "sub": "client-a", "aud": TOKEN_URL, "jti": "x",
                                                        "iat": int(NOW), "exp": int(NOW) + 60})
    assert assertion_rejection(platform, registration_a, id_token) == RejectionCode.UNKNOWN_KID


def test_p8_an_assertion_signed_by_another_tool_is_refused(platform, registration_a, tool_b_key):
    assert assertion_rejection(platform, registration_a, tool_b_key.sign(assertion_claims())) == RejectionCode.UNKNOWN_KID


def test_p6_an_unsigned_assertion_is_refused(platform, registration_a, tool_a_key):
    token = unsigned_token({"alg": "none", "kid": tool_a_key.kid}, assertion_claims())
    assert assertion_rejection(platform, registration_a, token) == RejectionCode.DISALLOWED_ALGORITHM


def test_a_jti_used_by_another_tool_does_not_block_this_one(platform, registration_a, registration_b, tool_a_key, tool_b_key, nonces):
    platform.verify_client_assertion(registration_a, tool_a_key.sign(assertion_claims()), TOKEN_URL, nonces)
    platform.verify_client_assertion(registration_b, tool_b_key.sign(assertion_claims(iss="client-b", sub="client-b")),
                                     TOKEN_URL, nonces)


# -- access tokens -----------------------------------------------------------------------------------


def test_an_issued_access_token_verifies_for_its_registration(platform, registration_a):
    issued = platform.issue_access_token(registration_a, [ACS_SCOPE, ACS_SCOPE])
    assert issued.as_token_response() == {"access_token": issued.access_token, "token_type": "bearer",
                                          "expires_in": 3600, "scope": ACS_SCOPE}
    assert issued.access_token not in repr(issued)
    grant = platform.verify_access_token(registration_a, issued.access_token)
    assert (grant.registration_id, grant.client_id) == (registration_a.registration_id, "client-a")
    assert grant.scopes == frozenset({ACS_SCOPE}) and grant.allows(ACS_SCOPE)
    assert not grant.allows("https://purl.imsglobal.org/spec/lti-ags/scope/score")
    assert grant.expires_at.timestamp() == NOW + 3600


def test_p14_an_access_token_of_registration_a_is_refused_for_b(platform, registration_a, registration_b):
    token = platform.issue_access_token(registration_a, [ACS_SCOPE]).access_token
    assert access_rejection(platform, registration_b, token) == RejectionCode.UNKNOWN_KID


def test_p14_registrations_sharing_a_migrated_key_still_do_not_share_tokens(platform, registration_a, registration_b):
    same_key_b = dataclasses.replace(registration_b, platform_private_key=registration_a.platform_private_key,
                                     platform_kid=registration_a.platform_kid)
    token = platform.issue_access_token(registration_a, [ACS_SCOPE]).access_token
    assert access_rejection(platform, same_key_b, token) == RejectionCode.WRONG_REGISTRATION


def test_p14_an_expired_access_token_is_refused(platform, registration_a, clock):
    token = platform.issue_access_token(registration_a, [ACS_SCOPE], ttl_seconds=60).access_token
    clock.now = NOW + 60 + 61
    assert access_rejection(platform, registration_a, token) == RejectionCode.EXPIRED


def test_p17_our_id_token_is_not_an_access_token(platform, registration_a):
    from .test_platform_messages import proctoring_launch

    id_token = platform.sign_id_token(registration_a, platform.build_start_proctoring_claims(registration_a, proctoring_launch()))
    assert access_rejection(platform, registration_a, id_token) == RejectionCode.WRONG_TOKEN_KIND


def test_p17_a_platform_signed_jwt_with_at_jwt_typ_but_no_token_use_is_refused(platform, registration_a):
    # e.g. some future platform-signed session_data or hint JWT that borrowed the header
    from exams.adapters.lti import jose

    key = jose.load_platform_key(registration_a.platform_private_key)
    forged = jose.sign_compact(key, registration_a.platform_kid,
                               {"iss": ISSUER, "aud": ISSUER, "sub": "client-a", "client_id": "client-a",
                                "registration_id": registration_a.registration_id, "scope": ACS_SCOPE,
                                "iat": int(NOW), "exp": int(NOW) + 60, "jti": "j"}, "at+jwt")
    assert access_rejection(platform, registration_a, forged) == RejectionCode.WRONG_TOKEN_KIND


def test_p17_a_tool_signed_client_assertion_is_not_an_access_token(platform, registration_a, tool_a_key):
    assertion = tool_a_key.sign(assertion_claims())
    assert access_rejection(platform, registration_a, assertion) == RejectionCode.WRONG_TOKEN_KIND
    forged_typ = tool_a_key.sign(assertion_claims(), typ="at+jwt", kid=registration_a.platform_kid)
    assert access_rejection(platform, registration_a, forged_typ) == RejectionCode.BAD_SIGNATURE


def test_a_tampered_access_token_is_refused(platform, registration_a):
    header, payload, signature = platform.issue_access_token(registration_a, [ACS_SCOPE]).access_token.split(".")
    assert access_rejection(platform, registration_a, f"{header}.{payload}.{signature[::-1]}") in {
        RejectionCode.BAD_SIGNATURE, RejectionCode.MALFORMED_TOKEN}


@pytest.mark.parametrize("token", ["", "Bearer x", "a.b.c", None])
def test_garbage_bearer_tokens_are_rejections(platform, registration_a, token):
    with pytest.raises(LaunchRejected):
        platform.verify_access_token(registration_a, token)


@pytest.mark.parametrize("scopes, ttl", [([], 3600), ([""], 3600), (["a b"], 3600), ([ACS_SCOPE], 0), ([ACS_SCOPE], 10**9)])
def test_issuing_refuses_nonsense_arguments(platform, registration_a, scopes, ttl):
    with pytest.raises(ValueError):
        platform.issue_access_token(registration_a, scopes, ttl_seconds=ttl)
