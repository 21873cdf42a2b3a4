"""Authentication as the LMS and the MFEs use it (edx-exams.md §3; checklist items 1-6).

An LMS JWT in ``Authorization: JWT <token>`` or in the two split cookies; users provisioned from the
claims; CSRF for cookie-authenticated writes. Every refused request leaves the database as it was.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
from jwcrypto import jwk, jwt
from sqlalchemy import select
from webtest import TestApp

from exams.adapters.sql import tables
from exams.app import main
from tests.conftest import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, app_settings, auth, make_token
from tests.functional.dbstate import snapshot

COURSE = "course-v1:edx+test+f19"
LATEST = "/api/v1/exams/attempt/latest"
NOT_PROVIDED = {"detail": "Authentication credentials were not provided."}
NOT_PERMITTED = {"detail": "You do not have permission to perform this action."}
CONFIG = f"/api/v1/configs/course_id/{COURSE}"
REGISTRATION = f"/api/v1/exams/course_id/{COURSE}"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def claims(username="learner", **extra) -> dict:
    now = int(time.time())
    return {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "iat": now, "exp": now + 600, "preferred_username": username,
            "administrator": False, "email": f"{username}@example.com", "user_id": 10, "version": "1.2.0",
            "is_restricted": False, **extra}


def hmac_signed(header: dict, payload: dict, secret: str = JWT_SECRET) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def user_row(engine, username):
    with engine.connect() as conn:
        return conn.execute(select(tables.users).where(tables.users.c.username == username)).first()


def jwt_header(token: str) -> dict:
    return {"Authorization": f"JWT {token}"}


@pytest.fixture(scope="module")
def lms_key():
    """The LMS's RSA signing key (JWT_PUBLIC_SIGNING_JWK_SET holds its public half)."""
    return jwk.JWK.generate(kty="RSA", size=2048, kid="lms-key-1")


@pytest.fixture(scope="module")
def rsa_wsgi(database_url, lms_key):
    """A second app that also trusts the LMS's public keys (exams.jwt.public_jwks)."""
    jwks = {"keys": [lms_key.export_public(as_dict=True)]}
    return main({}, **app_settings(database_url, **{"exams.jwt.public_jwks": json.dumps(jwks)}))


@pytest.fixture
def rsa_app(rsa_wsgi, db):
    return TestApp(rsa_wsgi)


def rs256(key, payload: dict, alg="RS256") -> str:
    token = jwt.JWT(header={"alg": alg, "kid": key.export_public(as_dict=True)["kid"], "typ": "JWT"},
                    claims=payload)
    token.make_signed_token(key)
    return token.serialize()


# -- refusals ----------------------------------------------------------------------------------
def assert_not_provided(response):
    assert response.status_int == 401
    assert response.headers["WWW-Authenticate"] == 'JWT realm="api"'
    assert response.json == NOT_PROVIDED


def test_registering_exams_without_credentials_is_401_with_the_jwt_challenge(testapp, db):
    before = snapshot(db)
    response = testapp.patch_json(REGISTRATION, [], status=401)
    assert_not_provided(response)
    assert response.content_type == "application/json"
    assert snapshot(db) == before


def test_a_bearer_token_is_not_an_lms_jwt(testapp, db):
    before = snapshot(db)
    response = testapp.get(LATEST, headers={"Authorization": f"Bearer {make_token('alice')}"}, status=401)
    assert_not_provided(response)
    assert snapshot(db) == before


def test_an_expired_token_is_401_token_has_expired(testapp, db):
    before = snapshot(db)
    response = testapp.get(LATEST, headers=auth("alice", ttl=-60), status=401)
    assert response.json == {"detail": "Token has expired."}
    assert response.headers["WWW-Authenticate"] == 'JWT realm="api"'
    assert snapshot(db) == before


@pytest.mark.parametrize("token", [
    pytest.param(f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}."
                 f"{b64(json.dumps(claims('mallory')).encode())}.", id="alg-none"),
    pytest.param(make_token("mallory", secret="a-secret-that-is-not-the-lms-one"), id="foreign-secret"),
    pytest.param(hmac_signed({"alg": "RS256", "typ": "JWT"}, claims("mallory")), id="hmac-declared-rs256"),
    pytest.param(hmac_signed({"alg": "HS512", "typ": "JWT"}, claims("mallory")), id="unsupported-alg"),
    pytest.param(hmac_signed({"alg": "HS256", "jku": "http://evil.test/keys"}, claims("mallory")), id="jku-header"),
    pytest.param(make_token("mallory", iss="http://other-lms.test/oauth2"), id="wrong-issuer"),
    pytest.param(make_token("mallory", aud="another-service"), id="wrong-audience"),
    pytest.param(hmac_signed({"alg": "HS256"}, {**claims("mallory"), "exp": "tomorrow"}), id="exp-not-a-number"),
    pytest.param(hmac_signed({"alg": "HS256"}, {k: v for k, v in claims("mallory").items() if k != "exp"}),
                 id="no-exp"),
    pytest.param("not-a-jwt", id="garbage"),
    pytest.param("a.b.c", id="three-garbage-segments"),
    pytest.param("", id="empty"),
])
def test_an_untrustworthy_token_is_refused_with_401(testapp, db, token):
    before = snapshot(db)
    response = testapp.get(LATEST, headers=jwt_header(token), status=401)
    assert response.headers["WWW-Authenticate"] == 'JWT realm="api"'
    assert isinstance(response.json["detail"], str) and response.json["detail"]
    assert snapshot(db) == before
    assert user_row(db, "mallory") is None


def test_a_token_without_a_username_claim_is_401(testapp, db):
    payload = {k: v for k, v in claims().items() if k != "preferred_username"}
    response = testapp.get(LATEST, headers=jwt_header(hmac_signed({"alg": "HS256"}, payload)), status=401)
    assert response.json == {"detail": "JWT must include a preferred_username or username claim!"}
    assert snapshot(db)["users"] == []


def test_a_restricted_token_is_403_on_every_jwt_view_and_provisions_nobody(testapp, db):
    headers = auth("restricted", staff=True, is_restricted=True)
    before = snapshot(db)
    for method, url, body in [("GET", LATEST, None), ("GET", CONFIG, None), ("PATCH", CONFIG,
                              {"provider": None, "escalation_email": None}), ("PATCH", REGISTRATION, []),
                              ("GET", REGISTRATION, None)]:
        response = testapp.request(url, method=method, headers={**headers, "Content-Type": "application/json"},
                                   body=json.dumps(body).encode() if body is not None else b"", expect_errors=True)
        assert response.status_int == 403, (method, url)
        assert response.json == NOT_PERMITTED
    assert snapshot(db) == before


# -- RS256 / RS512 tokens signed by the LMS's private key --------------------------------------
@pytest.mark.parametrize("alg", ["RS256", "RS512"])
def test_a_token_signed_by_the_configured_lms_key_is_accepted(rsa_app, db, lms_key, alg):
    rsa_app.get(LATEST, headers=jwt_header(rs256(lms_key, claims("rsa-learner", user_id=33), alg)), status=200)
    assert user_row(db, "rsa-learner").lms_user_id == 33


def test_the_shared_secret_still_works_next_to_the_public_keys(rsa_app):
    rsa_app.get(LATEST, headers=auth("hs-learner"), status=200)


def test_a_token_signed_with_the_hmac_secret_but_declared_rs256_is_refused(rsa_app, db, lms_key):
    before = snapshot(db)
    for header in ({"alg": "RS256", "typ": "JWT", "kid": "lms-key-1"}, {"alg": "RS256", "typ": "JWT"}):
        response = rsa_app.get(LATEST, headers=jwt_header(hmac_signed(header, claims("mallory"))), status=401)
        assert response.headers["WWW-Authenticate"] == 'JWT realm="api"'
    assert snapshot(db) == before


def test_a_token_hmac_signed_with_the_lms_public_key_is_refused(rsa_app, db, lms_key):
    # The classic algorithm confusion: the public key used as an HMAC secret.
    public_pem = lms_key.export_to_pem().decode()
    before = snapshot(db)
    rsa_app.get(LATEST, headers=jwt_header(hmac_signed({"alg": "HS256"}, claims("mallory"), public_pem)), status=401)
    assert snapshot(db) == before


@pytest.fixture(scope="module")
def stranger_key():
    """Somebody else's RSA key."""
    return jwk.JWK.generate(kty="RSA", size=2048)


def test_a_token_signed_by_another_rsa_key_is_refused(rsa_app, db, stranger_key):
    impostor = jwk.JWK(**{**stranger_key.export(as_dict=True), "kid": "lms-key-1"})
    before = snapshot(db)
    rsa_app.get(LATEST, headers=jwt_header(rs256(impostor, claims("mallory"))), status=401)
    assert snapshot(db) == before


def test_a_token_naming_an_unknown_key_id_is_refused(rsa_app, db, stranger_key):
    unknown = jwk.JWK(**{**stranger_key.export(as_dict=True), "kid": "not-a-known-kid"})
    rsa_app.get(LATEST, headers=jwt_header(rs256(unknown, claims("mallory"))), status=401)
    assert snapshot(db)["users"] == []


def test_an_rs256_token_is_refused_when_no_public_keys_are_configured(testapp, db, lms_key):
    testapp.get(LATEST, headers=jwt_header(rs256(lms_key, claims("mallory"))), status=401)
    assert snapshot(db)["users"] == []


# -- provisioning from the claims -------------------------------------------------------------
def test_the_first_request_provisions_a_user_from_the_claims(testapp, db):
    testapp.get(LATEST, headers=auth("alice", user_id=7, email="alice@school.test", full_name="Alice Liddell"))
    user = user_row(db, "alice")
    assert (user.username, user.lms_user_id, user.email, user.full_name, user.is_staff, user.is_active) == \
        ("alice", 7, "alice@school.test", "Alice Liddell", False, True)
    assert uuid.UUID(user.anonymous_user_id).version == 4


def test_the_username_claim_is_used_when_there_is_no_preferred_username(testapp, db):
    payload = {k: v for k, v in claims(user_id=8).items() if k != "preferred_username"}
    payload["username"] = "bob"
    testapp.get(LATEST, headers=jwt_header(hmac_signed({"alg": "HS256"}, payload)))
    assert user_row(db, "bob").lms_user_id == 8


def test_the_anonymous_user_id_is_stable_across_requests_and_claim_changes(testapp, db):
    testapp.get(LATEST, headers=auth("alice", user_id=7))
    first = user_row(db, "alice")
    testapp.get(LATEST, headers=auth("alice", user_id=7, email="new@example.com"))
    second = user_row(db, "alice")
    assert second.anonymous_user_id == first.anonymous_user_id
    assert second.id == first.id
    assert second.email == "new@example.com"
    testapp.get(LATEST, headers=auth("zoe", user_id=8))
    assert user_row(db, "zoe").anonymous_user_id != first.anonymous_user_id


def test_administrator_makes_global_staff_and_a_later_false_demotes(testapp, db):
    testapp.get(REGISTRATION, headers=auth("admin", user_id=1, staff=True), status=200)
    assert user_row(db, "admin").is_staff is True
    testapp.get(LATEST, headers=auth("admin", user_id=1, staff=False), status=200)
    assert user_row(db, "admin").is_staff is False
    testapp.get(REGISTRATION, headers=auth("admin", user_id=1, staff=False), status=403)


def test_a_demoted_administrator_is_refused_at_once_even_before_the_demotion_is_stored(testapp, db):
    testapp.get(REGISTRATION, headers=auth("admin", user_id=1, staff=True), status=200)
    # The refusal writes nothing, so the row still says staff; the token's claim decides the request.
    testapp.get(REGISTRATION, headers=auth("admin", user_id=1, staff=False), status=403)
    testapp.patch_json(REGISTRATION, [], headers=auth("admin", user_id=1, staff=False), status=403)


def test_absent_or_null_claims_leave_the_profile_alone(testapp, db):
    testapp.get(LATEST, headers=auth("alice", user_id=7, staff=True, full_name="Alice"))
    payload = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "exp": int(time.time()) + 60, "preferred_username": "alice",
               "email": None, "administrator": None}
    testapp.get(LATEST, headers=jwt_header(hmac_signed({"alg": "HS256"}, payload)))
    user = user_row(db, "alice")
    assert (user.lms_user_id, user.email, user.full_name, user.is_staff) == (7, "alice@example.com", "Alice", True)


def test_claims_of_the_wrong_type_are_ignored_rather_than_stored(testapp, db):
    testapp.get(LATEST, headers=auth("alice", user_id="7", staff="yes", email=["a@b.c"]))
    user = user_row(db, "alice")
    assert (user.lms_user_id, user.is_staff, user.email) == (None, False, "")


# -- split cookies and CSRF ------------------------------------------------------------------
def set_jwt_cookies(app: TestApp, token: str) -> None:
    header_payload, _, signature = token.rpartition(".")
    app.set_cookie("edx-jwt-cookie-header-payload", header_payload)
    app.set_cookie("edx-jwt-cookie-signature", signature)


@pytest.fixture
def provider(wsgi):
    from exams.units import run_in_transaction
    from exams.domain.exams import Provider

    return run_in_transaction(wsgi.container, lambda s: s.exams.add_provider(Provider(
        id=None, name="test_provider", verbose_name="testing provider", lti_configuration_id="123456789")))


def test_split_cookies_authenticate_a_get(testapp, db):
    set_jwt_cookies(testapp, make_token("cookie-learner", user_id=21))
    assert testapp.get(CONFIG).json == {"provider": None, "escalation_email": None}
    assert user_row(db, "cookie-learner").lms_user_id == 21


def test_one_cookie_alone_is_no_credentials(testapp, db):
    testapp.set_cookie("edx-jwt-cookie-header-payload", make_token("cookie-learner").rpartition(".")[0])
    assert_not_provided(testapp.get(CONFIG, status=401))


def test_a_bad_cookie_token_counts_as_no_credentials(testapp, db):
    set_jwt_cookies(testapp, make_token("cookie-learner", ttl=-60))
    assert_not_provided(testapp.get(CONFIG, status=401))
    set_jwt_cookies(testapp, make_token("cookie-learner", secret="another-secret"))
    assert_not_provided(testapp.get(CONFIG, status=401))
    assert snapshot(db)["users"] == []


def test_the_csrf_endpoint_returns_a_token_and_sets_the_cookie(testapp):
    response = testapp.get("/csrf/api/v1/token")
    token = response.json["csrfToken"]
    assert len(token) >= 32
    assert testapp.cookies["edx_exams_csrftoken"] == token
    # Asking again keeps the same token (the MFE may ask more than once).
    assert testapp.get("/csrf/api/v1/token").json["csrfToken"] == token


def test_a_cookie_authenticated_patch_needs_the_csrf_token(testapp, db, provider):
    set_jwt_cookies(testapp, make_token("cookie-admin", user_id=2, staff=True))
    body = {"provider": "test_provider", "escalation_email": "help@example.com"}
    before = snapshot(db)
    assert_not_provided(testapp.patch_json(CONFIG, body, status=401))
    assert snapshot(db) == before

    csrf = testapp.get("/csrf/api/v1/token").json["csrfToken"]
    assert_not_provided(testapp.patch_json(CONFIG, body, headers={"X-CSRFToken": "forged" + csrf}, status=401))
    assert snapshot(db) == before

    testapp.patch_json(CONFIG, body, headers={"X-CSRFToken": csrf}, status=204)
    assert testapp.get(CONFIG).json == {"provider": "test_provider", "escalation_email": "help@example.com"}


def test_a_csrf_header_without_the_cookie_is_refused(testapp, db, provider):
    set_jwt_cookies(testapp, make_token("cookie-admin", user_id=2, staff=True))
    before = snapshot(db)
    testapp.patch_json(CONFIG, {"provider": None, "escalation_email": None},
                       headers={"X-CSRFToken": "made-up-token"}, status=401)
    assert snapshot(db) == before


def test_a_cookie_authenticated_put_from_an_untrusted_origin_is_refused(testapp, db):
    set_jwt_cookies(testapp, make_token("cookie-admin", user_id=2, staff=True))
    csrf = testapp.get("/csrf/api/v1/token").json["csrfToken"]
    before = snapshot(db)
    testapp.patch_json(CONFIG, {"provider": None, "escalation_email": None},
                       headers={"X-CSRFToken": csrf, "Origin": "http://evil.test"}, status=401)
    assert snapshot(db) == before
    for origin in ("null", "http://[", "http://learning.test.evil.test"):
        testapp.patch_json(CONFIG, {"provider": None, "escalation_email": None},
                           headers={"X-CSRFToken": csrf, "Origin": origin}, status=401)
    assert snapshot(db) == before
    testapp.patch_json(CONFIG, {"provider": None, "escalation_email": None},
                       headers={"X-CSRFToken": csrf, "Origin": "http://learning.test"}, status=204)


def test_a_learner_puts_an_attempt_action_with_cookies_and_the_csrf_token(testapp, db):
    staff = auth("staff", user_id=1, staff=True)
    testapp.patch_json(REGISTRATION, [{
        "content_id": "block-v1:edx+test+f19+type@sequential+block@timed", "exam_name": "Quiz",
        "exam_type": "timed", "time_limit_mins": 30, "due_date": None, "hide_after_due": False,
        "is_active": True}], headers=staff)
    exam_id = testapp.get(REGISTRATION, headers=staff).json[0]["id"]
    token = make_token("cookie-learner", user_id=21)
    attempt_id = testapp.post_json("/api/v1/exams/attempt", {"exam_id": exam_id},
                                   headers=jwt_header(token)).json["exam_attempt_id"]

    set_jwt_cookies(testapp, token)
    before = snapshot(db)
    assert_not_provided(testapp.put_json(f"/api/v1/exams/attempt/{attempt_id}", {"action": "start"}, status=401))
    assert snapshot(db) == before
    csrf = testapp.get("/csrf/api/v1/token").json["csrfToken"]
    response = testapp.put_json(f"/api/v1/exams/attempt/{attempt_id}", {"action": "start"},
                                headers={"X-CSRFToken": csrf})
    assert response.json == {"exam_attempt_id": attempt_id}
    assert testapp.get(LATEST).json["attempt_status"] == "started"


def test_the_header_token_wins_over_the_cookies(testapp, db):
    set_jwt_cookies(testapp, make_token("cookie-user", user_id=1))
    testapp.get(LATEST, headers=auth("header-user", user_id=2))
    assert user_row(db, "header-user") is not None
    assert user_row(db, "cookie-user") is None


def test_a_header_token_needs_no_csrf_for_writes(testapp, provider):
    testapp.patch_json(CONFIG, {"provider": "test_provider", "escalation_email": None},
                       headers=auth("admin", user_id=1, staff=True), status=204)


@pytest.mark.parametrize("username", ["nul\x00name", "tab\tname", "lone\ud800surrogate", "x" * 151, ""])
def test_a_username_no_account_can_have_is_refused_with_401(testapp, db, username):
    payload = claims()
    payload["preferred_username"] = username
    token = hmac_signed({"alg": "HS256"}, payload)
    response = testapp.get(LATEST, headers=jwt_header(token), status=401)
    assert response.json["detail"]
    assert snapshot(db)["users"] == []


def test_profile_claims_the_database_cannot_hold_are_ignored(testapp, db):
    testapp.get(LATEST, headers=auth("alice", user_id=2**40, email="a\x00@example.com",
                                     full_name="Alice \ud800"), status=200)
    user = user_row(db, "alice")
    assert (user.lms_user_id, user.email, user.full_name) == (None, "", "")


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + "\xe9\xe9",
    lambda t: t.replace(".", ".\xe9", 1),
    lambda t: "\xe9" + t,
    lambda t: t + "." + t,
    lambda t: t.replace(".", "..", 1),
    lambda t: "x" * 20000,
], ids=["latin1-signature", "latin1-payload", "latin1-header", "five-segments", "empty-segment", "huge"])
def test_a_mangled_token_is_a_401_never_a_500(testapp, db, mangle):
    token = mangle(make_token("mallory"))
    response = testapp.get(LATEST, headers={"Authorization": f"JWT {token}"}, status=401)
    assert response.json["detail"]
    assert snapshot(db)["users"] == []


def test_mangled_cookies_count_as_no_credentials(testapp, db):
    testapp.set_cookie("edx-jwt-cookie-header-payload", "\xe9.\xe9")
    testapp.set_cookie("edx-jwt-cookie-signature", "\xe9")
    assert_not_provided(testapp.get(LATEST, status=401))


def test_a_foreign_cookie_that_is_not_utf8_does_not_break_cookie_authentication(testapp, db):
    set_jwt_cookies(testapp, make_token("cookie-admin", user_id=2, staff=True))
    testapp.set_cookie("another_apps_cookie", "caf\xe9")
    assert testapp.get(CONFIG).json == {"provider": None, "escalation_email": None}
    csrf = testapp.get("/csrf/api/v1/token").json["csrfToken"]
    testapp.patch_json(CONFIG, {"provider": None, "escalation_email": None}, headers={"X-CSRFToken": csrf},
                       status=204)


@pytest.fixture(scope="module")
def studio_wsgi(database_url):
    """An app that trusts one more origin for cookie-authenticated writes (exams.csrf.trusted_origins)."""
    return main({}, **app_settings(database_url, **{"exams.csrf.trusted_origins": "http://studio.test"}))


def test_a_trusted_csrf_origin_replaces_the_cors_origins_for_writes(studio_wsgi, db):
    app = TestApp(studio_wsgi)
    set_jwt_cookies(app, make_token("cookie-admin", user_id=2, staff=True))
    csrf = app.get("/csrf/api/v1/token").json["csrfToken"]
    body = {"provider": None, "escalation_email": None}
    app.patch_json(CONFIG, body, headers={"X-CSRFToken": csrf, "Origin": "http://studio.test"}, status=204)
    app.patch_json(CONFIG, body, headers={"X-CSRFToken": csrf, "Origin": "http://learning.test"}, status=401)
    app.patch_json(CONFIG, body, headers={"X-CSRFToken": csrf, "Origin": "http://localhost:80"}, status=204)
