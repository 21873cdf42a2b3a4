"""Verifying the tool's LtiStartAssessment (§1.4) and the pitfalls P6-P12 at this layer."""

from __future__ import annotations

import dataclasses
import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwcrypto.jwe import JWE
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS

from exams.adapters.lti import JwcryptoLtiPlatform
from exams.adapters.lti.jose import MAX_TOKEN_LENGTH
from exams.ports.lti import LaunchRejected, RejectionCode, StartAssessmentExpectation

from .conftest import ISSUER, NOW, FakeNonceStore, PlatformClock, b64url, unsigned_token

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LTI_AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
SESSION_DATA = "0f3c6a1d9e2b4c58a7d6e5f4c3b2a190"
RESOURCE_LINK_ID = "7b7f1f2e-0c0b-4c34-9a57-6f7c1f3d2e10"
EXPECTED = StartAssessmentExpectation(resource_link_id=RESOURCE_LINK_ID, attempt_number=1, session_data=SESSION_DATA)


def start_assessment_claims(**changes):
    claims = {
        "iss": "client-a",
        "aud": [ISSUER],
        "iat": int(NOW) - 5,
        "exp": int(NOW) + 300,
        "nonce": "tool-nonce-1",
        LTI + "message_type": "LtiStartAssessment",
        LTI + "version": "1.3.0",
        LTI + "deployment_id": "1",
        LTI + "resource_link": {"id": RESOURCE_LINK_ID},
        LTI_AP + "attempt_number": 1,
        LTI_AP + "session_data": SESSION_DATA,
        LTI_AP + "end_assessment_return": True,
        LTI_AP + "verified_user": {"given_name": "Ada"},
    }
    for name, value in changes.items():
        if value is DROP:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


DROP = object()


def rejection(platform, registration, token, nonces=None, expected=EXPECTED) -> RejectionCode:
    with pytest.raises(LaunchRejected) as excinfo:
        platform.verify_start_assessment(registration, token, expected, nonces or FakeNonceStore())
    return excinfo.value.code


def test_a_genuine_start_assessment_verifies(platform, registration_a, tool_a_key, nonces):
    token = tool_a_key.sign(start_assessment_claims())
    result = platform.verify_start_assessment(registration_a, token, EXPECTED, nonces)
    assert (result.client_id, result.deployment_id, result.resource_link_id) == ("client-a", "1", RESOURCE_LINK_ID)
    assert (result.attempt_number, result.session_data, result.nonce) == (1, SESSION_DATA, "tool-nonce-1")
    assert result.end_assessment_return is True
    assert result.verified_user == {"given_name": "Ada"}
    assert result.expires_at.timestamp() == NOW + 300
    assert len(nonces.used) == 1
    (key, expires_at), = nonces.used.items()
    assert "tool-nonce-1" not in key and len(key) <= 100
    assert expires_at.timestamp() == NOW + 300 + 60


def test_the_client_id_can_be_read_before_verification_to_pick_the_registration(platform, tool_a_key):
    assert platform.unverified_client_id(tool_a_key.sign(start_assessment_claims())) == "client-a"
    with pytest.raises(LaunchRejected) as excinfo:
        platform.unverified_client_id(tool_a_key.sign(start_assessment_claims(iss=DROP)))
    assert excinfo.value.code == RejectionCode.INVALID_ISSUER


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
def test_rs384_and_rs512_are_accepted(platform, registration_a, tool_a_key, alg):
    token = tool_a_key.sign(start_assessment_claims(), alg=alg)
    assert platform.verify_start_assessment(registration_a, token, EXPECTED, FakeNonceStore()).attempt_number == 1


@pytest.mark.parametrize("aud", [ISSUER, [ISSUER], ["https://other.example", ISSUER]])
def test_aud_may_be_a_string_or_a_list_containing_our_issuer(platform, registration_a, tool_a_key, aud):
    token = tool_a_key.sign(start_assessment_claims(aud=aud))
    platform.verify_start_assessment(registration_a, token, EXPECTED, FakeNonceStore())


@pytest.mark.parametrize("value, expected", [(False, False), (None, False), (DROP, False), (True, True)])
def test_end_assessment_return_defaults_to_false(platform, registration_a, tool_a_key, value, expected):
    token = tool_a_key.sign(start_assessment_claims(**{LTI_AP + "end_assessment_return": value}))
    assert platform.verify_start_assessment(registration_a, token, EXPECTED, FakeNonceStore()).end_assessment_return is expected


def test_a_string_attempt_number_is_normalised(platform, registration_a, tool_a_key):
    token = tool_a_key.sign(start_assessment_claims(**{LTI_AP + "attempt_number": "1"}))
    assert platform.verify_start_assessment(registration_a, token, EXPECTED, FakeNonceStore()).attempt_number == 1


def test_a_registration_with_a_static_pem_key_verifies_without_a_kid(platform, registration_a, tool_a_key):
    registration = dataclasses.replace(registration_a, tool_jwks_url=None, tool_public_key=tool_a_key.pem())
    platform.verify_start_assessment(registration, tool_a_key.sign(start_assessment_claims(), kid=None), EXPECTED, FakeNonceStore())


def test_a_registration_with_a_static_jwks_resolves_the_kid(platform, registration_a, tool_a_key, tool_b_key):
    both = {"keys": tool_a_key.jwks()["keys"] + tool_b_key.jwks()["keys"]}
    registration = dataclasses.replace(registration_a, tool_jwks_url=None, tool_public_key=json.dumps(both))
    platform.verify_start_assessment(registration, tool_a_key.sign(start_assessment_claims()), EXPECTED, FakeNonceStore())
    assert rejection(platform, registration, tool_a_key.sign(start_assessment_claims(), kid=None)) == RejectionCode.MISSING_KID
    assert rejection(platform, registration, tool_a_key.sign(start_assessment_claims(), kid="nope")) == RejectionCode.UNKNOWN_KID


def test_a_registration_without_any_tool_key_refuses_everything(platform, registration_a, tool_a_key):
    registration = dataclasses.replace(registration_a, tool_jwks_url=None, tool_public_key=None)
    assert rejection(platform, registration, tool_a_key.sign(start_assessment_claims())) == RejectionCode.KEYSET_UNAVAILABLE


def test_a_garbage_static_tool_key_is_a_rejection_not_a_crash(platform, registration_a, tool_a_key):
    registration = dataclasses.replace(registration_a, tool_jwks_url=None, tool_public_key="-----BEGIN PUBLIC KEY-----\nxx")
    assert rejection(platform, registration, tool_a_key.sign(start_assessment_claims())) == RejectionCode.KEYSET_UNAVAILABLE


# -- P6: algorithm confusion ---------------------------------------------------------------------------


def test_p6_alg_none_with_an_empty_signature_is_refused(platform, registration_a, tool_a_key):
    token = unsigned_token({"alg": "none", "kid": tool_a_key.kid}, start_assessment_claims())
    assert rejection(platform, registration_a, token) == RejectionCode.DISALLOWED_ALGORITHM


def test_p6_hs256_signed_with_the_tools_public_key_as_secret_is_refused(platform, registration_a, tool_a_key):
    for secret in (tool_a_key.pem().encode(), json.dumps(tool_a_key.jwks()["keys"][0]).encode()):
        hmac_key = JWK(kty="oct", k=b64url(secret))
        jws = JWS(json.dumps(start_assessment_claims()).encode())
        jws.add_signature(hmac_key, alg="HS256", protected=json.dumps({"alg": "HS256", "kid": tool_a_key.kid}))
        assert rejection(platform, registration_a, jws.serialize(compact=True)) == RejectionCode.DISALLOWED_ALGORITHM


@pytest.mark.parametrize("alg", ["HS512", "ES256", "PS256", "EdDSA", "RS1", "", None, 256])
def test_p6_other_algorithms_are_refused(platform, registration_a, tool_a_key, alg):
    token = unsigned_token({"alg": alg, "kid": tool_a_key.kid}, start_assessment_claims(), signature="c2ln")
    assert rejection(platform, registration_a, token) == RejectionCode.DISALLOWED_ALGORITHM


def test_p6_a_header_alg_that_differs_from_the_signing_alg_fails(platform, registration_a, tool_a_key):
    genuine = tool_a_key.sign(start_assessment_claims(), alg="RS512")
    _, payload, signature = genuine.split(".")
    header = b64url(json.dumps({"alg": "RS256", "kid": tool_a_key.kid}).encode())
    assert rejection(platform, registration_a, f"{header}.{payload}.{signature}") == RejectionCode.BAD_SIGNATURE


# -- P7: JWE instead of JWS ---------------------------------------------------------------------------


def test_p7_a_jwe_encrypted_to_our_platform_key_is_refused(platform, registration_a):
    platform_public = JWK.from_json(registration_a.platform_private_key).public()
    jwe = JWE(json.dumps(start_assessment_claims()).encode(),
              protected=json.dumps({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": registration_a.platform_kid}))
    jwe.add_recipient(platform_public)
    token = jwe.serialize(compact=True)
    assert token.count(".") == 4
    assert rejection(platform, registration_a, token) == RejectionCode.ENCRYPTED_TOKEN


def test_p7_a_jws_header_announcing_encryption_is_refused(platform, registration_a, tool_a_key):
    token = tool_a_key.sign(start_assessment_claims(), enc="A256GCM")
    assert rejection(platform, registration_a, token) == RejectionCode.ENCRYPTED_TOKEN


def test_p7_json_serialization_is_refused(platform, registration_a, tool_a_key):
    header, payload, signature = tool_a_key.sign(start_assessment_claims()).split(".")
    token = json.dumps({"payload": payload, "protected": header, "signature": signature})
    assert rejection(platform, registration_a, token) == RejectionCode.MALFORMED_TOKEN


# -- P8: kid confusion -------------------------------------------------------------------------------


def test_p8_a_missing_kid_is_refused_for_a_jwks_registration(platform, registration_a, tool_a_key):
    assert rejection(platform, registration_a, tool_a_key.sign(start_assessment_claims(), kid=None)) == RejectionCode.MISSING_KID


def test_p8_an_unknown_kid_is_refused_after_one_forced_refresh(platform, registration_a, tool_a_key, fetcher):
    token = tool_a_key.sign(start_assessment_claims(), kid="../../x")
    assert rejection(platform, registration_a, token) == RejectionCode.UNKNOWN_KID
    assert fetcher.calls == [(registration_a.tool_jwks_url, False), (registration_a.tool_jwks_url, True)]


def test_p8_another_tools_key_and_kid_are_not_trusted_for_this_registration(platform, registration_a, tool_b_key):
    # Tool B signs a perfectly formed message naming tool A's client_id: its kid is not in A's keyset.
    assert rejection(platform, registration_a, tool_b_key.sign(start_assessment_claims())) == RejectionCode.UNKNOWN_KID


def test_p8_tool_a_kid_signed_by_tool_b_fails_the_signature(platform, registration_a, tool_a_key, tool_b_key):
    token = tool_b_key.sign(start_assessment_claims(), kid=tool_a_key.kid)
    assert rejection(platform, registration_a, token) == RejectionCode.BAD_SIGNATURE


def test_p8_an_embedded_jwk_or_jku_header_is_ignored(platform, registration_a, tool_b_key):
    attacker_jwk = tool_b_key.jwks()["keys"][0]
    token = tool_b_key.sign(start_assessment_claims(), jwk=attacker_jwk, jku="https://attacker.example/jwks.json", kid="attacker")
    assert rejection(platform, registration_a, token) == RejectionCode.UNKNOWN_KID


def test_p8_a_keyset_with_a_duplicated_kid_uses_neither_key(platform, registration_a, tool_a_key, tool_b_key, fetcher):
    evil = tool_b_key.jwks()["keys"][0] | {"kid": tool_a_key.kid}
    fetcher.documents[registration_a.tool_jwks_url] = {"keys": tool_a_key.jwks()["keys"] + [evil]}
    assert rejection(platform, registration_a, tool_a_key.sign(start_assessment_claims())) == RejectionCode.UNKNOWN_KID


def test_p8_a_rotated_tool_key_is_found_by_the_forced_refresh(clock, registration_a, tool_a_key, tool_b_key):
    class RotatingFetcher:
        def fetch(self, url, *, refresh=False):
            return tool_b_key.jwks() if refresh else tool_a_key.jwks()

    platform = JwcryptoLtiPlatform(ISSUER, clock=PlatformClock(clock), keyset_fetcher=RotatingFetcher())
    platform.verify_start_assessment(registration_a, tool_b_key.sign(start_assessment_claims()), EXPECTED, FakeNonceStore())


# -- P9: iss / aud / azp -----------------------------------------------------------------------------


@pytest.mark.parametrize("changes, code", [
    ({"aud": "https://other-platform.example"}, RejectionCode.INVALID_AUDIENCE),
    ({"aud": ["https://other-platform.example"]}, RejectionCode.INVALID_AUDIENCE),
    ({"aud": DROP}, RejectionCode.INVALID_AUDIENCE),
    ({"aud": []}, RejectionCode.INVALID_AUDIENCE),
    ({"aud": [ISSUER, 7]}, RejectionCode.INVALID_AUDIENCE),
    ({"aud": ISSUER + "/"}, RejectionCode.INVALID_AUDIENCE),
    ({"iss": ISSUER}, RejectionCode.INVALID_ISSUER),  # Blackboard-style iss = platform
    ({"iss": "client-b"}, RejectionCode.INVALID_ISSUER),
    ({"iss": DROP}, RejectionCode.INVALID_ISSUER),
    ({"azp": "client-b"}, RejectionCode.INVALID_AZP),
])
def test_p9_wrong_issuer_audience_or_azp_is_refused(platform, registration_a, tool_a_key, changes, code):
    assert rejection(platform, registration_a, tool_a_key.sign(start_assessment_claims(**changes))) == code


# -- P10: lifetime and replay ------------------------------------------------------------------------


@pytest.mark.parametrize("changes, code", [
    ({"exp": DROP}, RejectionCode.MISSING_EXPIRY),
    ({"iat": DROP}, RejectionCode.MISSING_ISSUED_AT),
    ({"exp": int(NOW) - 61, "iat": int(NOW) - 120}, RejectionCode.EXPIRED),
    ({"iat": int(NOW) + 600, "exp": int(NOW) + 900}, RejectionCode.NOT_YET_VALID),
    ({"nbf": int(NOW) + 600}, RejectionCode.NOT_YET_VALID),
    ({"exp": int(NOW) + 365 * 24 * 3600}, RejectionCode.LIFETIME_TOO_LONG),
    ({"exp": int(NOW) + 10, "iat": int(NOW) + 20}, RejectionCode.INVALID_CLAIM),
    ({"exp": "tomorrow"}, RejectionCode.INVALID_CLAIM),
    ({"exp": True}, RejectionCode.INVALID_CLAIM),
])
def test_p10_bad_token_lifetimes_are_refused(platform, registration_a, tool_a_key, changes, code):
    assert rejection(platform, registration_a, tool_a_key.sign(start_assessment_claims(**changes))) == code


def test_p10_clock_skew_within_the_leeway_is_tolerated(platform, registration_a, tool_a_key, clock):
    token = tool_a_key.sign(start_assessment_claims(iat=int(NOW) + 50, exp=int(NOW) + 100))
    platform.verify_start_assessment(registration_a, token, EXPECTED, FakeNonceStore())
    clock.now = NOW + 150  # 50 s after exp
    token = tool_a_key.sign(start_assessment_claims(exp=int(NOW) + 100, nonce="n3"))
    platform.verify_start_assessment(registration_a, token, EXPECTED, FakeNonceStore())


def test_p10_the_same_start_assessment_posted_twice_is_refused(platform, registration_a, tool_a_key, nonces):
    token = tool_a_key.sign(start_assessment_claims())
    platform.verify_start_assessment(registration_a, token, EXPECTED, nonces)
    assert rejection(platform, registration_a, token, nonces) == RejectionCode.NONCE_REUSED


@pytest.mark.parametrize("nonce, code", [(DROP, RejectionCode.MISSING_NONCE), ("", RejectionCode.MISSING_NONCE),
                                         (None, RejectionCode.MISSING_NONCE), (17, RejectionCode.INVALID_NONCE),
                                         ("n" * 5000, RejectionCode.INVALID_NONCE)])
def test_p10_a_missing_or_invalid_nonce_is_refused(platform, registration_a, tool_a_key, nonce, code):
    assert rejection(platform, registration_a, tool_a_key.sign(start_assessment_claims(nonce=nonce))) == code


def test_p10_an_invalid_message_does_not_spend_its_nonce(platform, registration_a, tool_a_key, nonces):
    bad = tool_a_key.sign(start_assessment_claims(**{LTI_AP + "session_data": "wrong"}))
    assert rejection(platform, registration_a, bad, nonces) == RejectionCode.SESSION_DATA_MISMATCH
    assert nonces.used == {}


def test_p10_nonces_of_two_tools_do_not_collide(platform, registration_a, registration_b, tool_a_key, tool_b_key, nonces):
    platform.verify_start_assessment(registration_a, tool_a_key.sign(start_assessment_claims()), EXPECTED, nonces)
    platform.verify_start_assessment(registration_b, tool_b_key.sign(start_assessment_claims(iss="client-b")), EXPECTED, nonces)
    assert len(nonces.used) == 2


# -- P11: session_data -------------------------------------------------------------------------------


@pytest.mark.parametrize("session_data", ["wrong", "", SESSION_DATA + " ", SESSION_DATA.upper(), None, 12, DROP,
                                          [SESSION_DATA]])
def test_p11_a_wrong_or_missing_session_data_is_refused(platform, registration_a, tool_a_key, session_data):
    token = tool_a_key.sign(start_assessment_claims(**{LTI_AP + "session_data": session_data}))
    assert rejection(platform, registration_a, token) == RejectionCode.SESSION_DATA_MISMATCH


def test_p11_an_expired_server_side_session_data_fails_closed(platform, registration_a, tool_a_key):
    # The caller's store lost the value (expired): an empty expectation must never mean "skip the check".
    token = tool_a_key.sign(start_assessment_claims(**{LTI_AP + "session_data": ""}))
    expired = dataclasses.replace(EXPECTED, session_data="")
    assert rejection(platform, registration_a, token, expected=expired) == RejectionCode.SESSION_DATA_MISMATCH


def test_p11_session_data_of_another_learner_is_refused(platform, registration_a, tool_a_key):
    other = dataclasses.replace(EXPECTED, session_data="another-learners-session-data-0001")
    assert rejection(platform, registration_a, tool_a_key.sign(start_assessment_claims()), expected=other) == RejectionCode.SESSION_DATA_MISMATCH


# -- P12: claim mismatches ---------------------------------------------------------------------------


@pytest.mark.parametrize("changes, code", [
    ({LTI_AP + "attempt_number": 2}, RejectionCode.ATTEMPT_MISMATCH),
    ({LTI_AP + "attempt_number": "2"}, RejectionCode.ATTEMPT_MISMATCH),
    ({LTI_AP + "attempt_number": "abc"}, RejectionCode.INVALID_CLAIM),
    ({LTI_AP + "attempt_number": 1.0}, RejectionCode.INVALID_CLAIM),
    ({LTI_AP + "attempt_number": True}, RejectionCode.INVALID_CLAIM),
    ({LTI_AP + "attempt_number": 0}, RejectionCode.INVALID_CLAIM),
    ({LTI_AP + "attempt_number": "-1"}, RejectionCode.INVALID_CLAIM),
    ({LTI_AP + "attempt_number": DROP}, RejectionCode.INVALID_CLAIM),
    ({LTI + "resource_link": {"id": "another-exam"}}, RejectionCode.RESOURCE_LINK_MISMATCH),
    ({LTI + "resource_link": {}}, RejectionCode.INVALID_CLAIM),
    ({LTI + "resource_link": RESOURCE_LINK_ID}, RejectionCode.INVALID_CLAIM),
    ({LTI + "resource_link": DROP}, RejectionCode.INVALID_CLAIM),
    ({LTI + "message_type": "LtiDeepLinkingResponse"}, RejectionCode.INVALID_MESSAGE_TYPE),
    ({LTI + "message_type": "LtiStartProctoring"}, RejectionCode.INVALID_MESSAGE_TYPE),
    ({LTI + "message_type": DROP}, RejectionCode.INVALID_MESSAGE_TYPE),
    ({LTI + "version": "1.1"}, RejectionCode.INVALID_VERSION),
    ({LTI + "deployment_id": "2"}, RejectionCode.INVALID_DEPLOYMENT),
    ({LTI + "deployment_id": 1}, RejectionCode.INVALID_DEPLOYMENT),
    ({LTI + "deployment_id": DROP}, RejectionCode.INVALID_DEPLOYMENT),
    ({LTI_AP + "end_assessment_return": "yes"}, RejectionCode.INVALID_CLAIM),
    ({LTI_AP + "verified_user": "Ada"}, RejectionCode.INVALID_CLAIM),
])
def test_p12_claims_that_do_not_match_the_launch_are_refused(platform, registration_a, tool_a_key, changes, code):
    assert rejection(platform, registration_a, tool_a_key.sign(start_assessment_claims(**changes))) == code


# -- malformed input never escapes as a raw exception ---------------------------------------------


@pytest.mark.parametrize("token, code", [
    ("", RejectionCode.MALFORMED_TOKEN),
    (None, RejectionCode.MALFORMED_TOKEN),
    (b"a.b.c", RejectionCode.MALFORMED_TOKEN),
    ("a.b", RejectionCode.MALFORMED_TOKEN),
    ("a.b.c.d", RejectionCode.MALFORMED_TOKEN),
    ("!!.??.**", RejectionCode.MALFORMED_TOKEN),
    (b64url(b"[1]") + ".e30.c2ln", RejectionCode.MALFORMED_TOKEN),
    (b64url(b'{"alg":"RS256","alg":"none"}') + ".e30.c2ln", RejectionCode.MALFORMED_TOKEN),
    (b64url(b'{"alg":"RS256","kid":7}') + ".e30.c2ln", RejectionCode.MALFORMED_TOKEN),
    (b64url(b'{"alg":"RS256","crit":["b64"],"b64":false}') + ".e30.c2ln", RejectionCode.MALFORMED_TOKEN),
    (b64url(b'{"alg":"RS256","kid":"k"}') + "." + b64url(b"not json") + ".c2ln", RejectionCode.MALFORMED_TOKEN),
    (b64url(b'{"alg":"RS256","kid":"k"}') + "." + b64url(b'{"exp": NaN}') + ".c2ln", RejectionCode.MALFORMED_TOKEN),
    (b64url(b'{"alg":"RS256","kid":"k"}') + ".e30.", RejectionCode.BAD_SIGNATURE),
    ("a" * (MAX_TOKEN_LENGTH + 1), RejectionCode.TOKEN_TOO_LARGE),
])
def test_malformed_tokens_are_rejections(platform, registration_a, token, code):
    assert rejection(platform, registration_a, token) == code


def test_a_tampered_payload_fails_the_signature(platform, registration_a, tool_a_key):
    header, _, signature = tool_a_key.sign(start_assessment_claims()).split(".")
    forged = b64url(json.dumps(start_assessment_claims(**{LTI_AP + "attempt_number": 2})).encode())
    assert rejection(platform, registration_a, f"{header}.{forged}.{signature}") == RejectionCode.BAD_SIGNATURE


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(noise=st.text(alphabet=string.ascii_letters + string.digits + "-_.=+/ ", max_size=300))
def test_random_input_only_ever_raises_launch_rejected(platform, registration_a, noise):
    with pytest.raises(LaunchRejected):
        platform.verify_start_assessment(registration_a, noise, EXPECTED, FakeNonceStore())


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(position=st.integers(min_value=0), replacement=st.sampled_from("ABQgw_-"))
def test_any_single_character_change_is_refused(platform, registration_a, tool_a_key, position, replacement):
    token = tool_a_key.sign(start_assessment_claims())
    position %= len(token)
    if token[position] == "." or token[position] == replacement:
        return
    tampered = token[:position] + replacement + token[position + 1:]
    with pytest.raises(LaunchRejected):
        platform.verify_start_assessment(registration_a, tampered, EXPECTED, FakeNonceStore())


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(session_data=st.text(min_size=1, max_size=64), attempt=st.integers(min_value=1, max_value=10**6))
def test_any_session_data_and_attempt_round_trip(platform, registration_a, tool_a_key, session_data, attempt):
    expected = StartAssessmentExpectation(RESOURCE_LINK_ID, attempt, session_data)
    token = tool_a_key.sign(start_assessment_claims(**{LTI_AP + "session_data": session_data, LTI_AP + "attempt_number": attempt}))
    result = platform.verify_start_assessment(registration_a, token, expected, FakeNonceStore())
    assert (result.session_data, result.attempt_number) == (session_data, attempt)


def test_a_non_canonical_base64_spelling_of_a_genuine_token_is_refused(platform, registration_a, tool_a_key):
    header, payload, signature = tool_a_key.sign(start_assessment_claims()).split(".")
    # 256 signature bytes take 342 characters; the last one carries 4 unused bits.
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    last = alphabet.index(signature[-1])
    twin = signature[:-1] + alphabet[last ^ 1]
    assert rejection(platform, registration_a, f"{header}.{payload}.{twin}") == RejectionCode.MALFORMED_TOKEN


@pytest.mark.parametrize("claim", ["nonce", "iss", LTI_AP + "session_data"])
def test_a_lone_surrogate_in_a_signed_claim_is_a_rejection(platform, registration_a, tool_a_key, claim):
    payload = json.dumps(start_assessment_claims()).replace(json.dumps(start_assessment_claims()[claim]), '"\\ud800"', 1)
    jws = JWS(payload.encode())
    jws.add_signature(tool_a_key.key, alg="RS256", protected=json.dumps({"alg": "RS256", "kid": tool_a_key.kid}))
    assert rejection(platform, registration_a, jws.serialize(compact=True)) == RejectionCode.MALFORMED_TOKEN
