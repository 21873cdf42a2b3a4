"""Regression tests for the eight defects that fuzzing the API found (issue 13), one section each.

Every refusal is checked the same way: the status, a JSON (or, for the browser-facing LTI endpoints,
HTML) body that says what is wrong, and not one row changed in the database.
"""

from __future__ import annotations

import json
import time

import pytest
from dependency_injector import providers

from exams.adapters.tokens.lms_jwt import sign_hs256
from tests.conftest import JWT_AUDIENCE, JWT_ISSUER, JWT_SECRET, auth, make_token
from tests.fakes import FakeProctoringVendor
from tests.functional.dbstate import snapshot
from tests.functional.test_lti_support import (  # noqa: F401 (fixtures)
    LEARNER, attempt_status, other_tool_key, platform_keys, tool_key, world)

STAFF = auth("staff", staff=True, user_id=1)
LTI_FORM_ENDPOINTS = ["/lti/lti_consumer/v1/start_proctoring_assessment", "/lti/lti_consumer/v1/launch/"]


def unchanged(testapp, call):
    engine = testapp.app.container.engine()
    before = snapshot(engine)
    response = call()
    assert snapshot(engine) == before
    return response


# -- 1. any body encoding or form shape is a 400 with a detail ------------------------------------------
@pytest.mark.parametrize("path", LTI_FORM_ENDPOINTS)
@pytest.mark.parametrize("content_type, body", [
    ("multipart/form-data", b"JWT=abc"),  # no boundary
    ("multipart/form-data; boundary=", b"--\r\n"),
    ("application/x-www-form-urlencoded; charset=latin-1", "JWT=caf\xe9".encode("latin-1")),
    ("application/x-www-form-urlencoded; charset=utf-16", "JWT=abc".encode("utf-16")),
    ("application/x-www-form-urlencoded", b"JWT=\xff\xfe"),
    ("application/x-www-form-urlencoded", b"JWT=a%00b"),
], ids=["no-boundary", "empty-boundary", "latin-1", "utf-16", "not-utf-8", "nul"])
def test_1_an_unreadable_form_on_the_lti_views_is_a_400_naming_the_problem(testapp, world, path, content_type, body):
    response = unchanged(testapp, lambda: testapp.post(path, body, headers={"Content-Type": content_type},
                                                       status=400))
    assert response.content_type == "text/html"
    assert "<h1>Proctoring launch refused</h1>\n<p>" in response.text  # the page's detail follows


@pytest.mark.parametrize("content_type, body", [
    ("multipart/form-data", b"exam_id=1"),
    ("application/x-www-form-urlencoded; charset=utf-16", "exam_id=1".encode("utf-16")),
])
def test_1_an_unreadable_form_on_the_json_api_is_a_400_with_detail(testapp, db, content_type, body):
    response = unchanged(testapp, lambda: testapp.post("/api/v1/exams/attempt", body, status=400, headers={
        "Content-Type": content_type, **LEARNER}))
    assert response.json["detail"].startswith("Form")


# -- 2. ids are validated to the column's range ----------------------------------------------------------
@pytest.mark.parametrize("exam_id", [-9223372036854775809, -2147483649, -1, 0, 2**31, 2**63, 10**30, "99999999999"])
def test_2_an_exam_id_outside_the_column_range_is_a_400_not_a_database_error(testapp, db, exam_id):
    response = unchanged(testapp, lambda: testapp.post_json("/api/v1/exams/attempt", {"exam_id": exam_id},
                                                            headers=LEARNER, status=400))
    assert response.json["detail"] == f"Exam with exam_id={exam_id} does not exist."


def test_2_an_allowance_exam_id_outside_the_range_is_named(testapp, db):
    item = {"exam_id": -2147483649, "username": "learner", "extra_time_mins": 5}
    response = testapp.post_json("/api/v1/exams/course_id/course-v1:edx+test+f19/allowances", [item],
                                 headers=STAFF, status=400)
    assert "exam_id" in response.json["detail"]


# -- 3. text the database cannot store is a 400 before SQL, wherever it comes in ------------------------
@pytest.fixture
def vendor(wsgi):
    fake = FakeProctoringVendor()
    wsgi.container.proctoring_vendor.override(providers.Object(fake))
    yield fake
    wsgi.container.proctoring_vendor.reset_override()


def acs_post(testapp, world, body, status):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return testapp.post(f"/lti/{world.registration_id}/acs", raw, status=status, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer fake-token:{world.registration_id}:control"})


@pytest.mark.parametrize("raw_id", ["\\u0000", "a\\u0000", "\\ud800", "x\\udfff"])
def test_3_acs_text_with_nul_or_a_lone_surrogate_is_a_400_naming_the_field(testapp, world, vendor, raw_id):
    body = ('{"user": {"sub": "7f3f8e36-0a4b-4a4e-9a53-000000000001"}, "resource_link": {"id": "%s"}, '
            '"attempt_number": 1, "action": "flag"}' % raw_id).encode()
    response = unchanged(testapp, lambda: acs_post(testapp, world, body, 400))
    assert response.json["detail"].startswith("Invalid resource_link.id: text must not contain NUL")


@pytest.mark.parametrize("value", ["a\\u0000b", "\\ud83d"])
@pytest.mark.parametrize("path, body", [
    ("/api/v1/exams/course_id/course-v1:edx+test+f19", '[{"content_id": "%s", "exam_name": "x"}]'),
    ("/api/v1/configs/course_id/course-v1:edx+test+f19", '{"provider": "%s", "escalation_email": null}'),
    ("/api/v1/exams/course_id/course-v1:edx+test+f19/allowances", '[{"exam_id": 1, "username": "%s"}]'),
])
def test_3_the_same_check_guards_every_json_body(testapp, db, path, body, value):
    method = testapp.post if path.endswith("allowances") else testapp.patch
    response = unchanged(testapp, lambda: method(path, (body % value).encode(), status=400, headers={
        "Content-Type": "application/json", **STAFF}))
    assert "text must not contain NUL" in response.json["detail"]
    assert response.json["code"] == "unstorable_text"


# -- 4 and 5. LMS tokens: nbf, iat and time claims that are numbers -------------------------------------
def token_with(**claims) -> dict:
    now = int(time.time())
    base = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "iat": now, "exp": now + 3600, "preferred_username": "learner",
            "administrator": True, "user_id": 10}
    base.update(claims)
    return {"Authorization": "JWT " + sign_hs256({k: v for k, v in base.items() if v is not ...}, JWT_SECRET)}


def raw_token(payload: str) -> dict:
    """A token whose payload JSON is written by hand (NaN and Infinity are not JSON, but Python reads them)."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(payload.encode())
    signature = hmac.new(JWT_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return {"Authorization": f"JWT {signing_input}.{b64(signature)}"}


WRITES = [
    ("patch", "/api/v1/exams/course_id/course-v1:edx+test+f19", b"[]"),
    ("patch", "/api/v1/configs/course_id/course-v1:edx+test+f19", b'{"provider": null, "escalation_email": null}'),
    ("get", "/api/v1/exams/attempt/latest", None),
    ("get", "/lti/exam/1/instructor_tool", None),
]


@pytest.mark.parametrize("claims", [
    {"nbf": int(time.time()) + 3600}, {"iat": int(time.time()) + 3600}, {"nbf": "0"}, {"iat": "now"},
    {"exp": "9999999999"}, {"exp": True}, {"nbf": None}, {"exp": ...},
], ids=["nbf-ahead", "iat-ahead", "nbf-string", "iat-string", "exp-string", "exp-bool", "nbf-null", "no-exp"])
@pytest.mark.parametrize("method, path, body", WRITES, ids=["exams", "config", "latest", "instructor-tool"])
def test_4_a_token_not_yet_valid_or_with_bad_time_claims_is_refused_for_reads_and_writes(
        testapp, db, claims, method, path, body):
    kwargs = {"headers": {**token_with(**claims), "Content-Type": "application/json"}, "status": 401}
    call = (lambda: getattr(testapp, method)(path, body, **kwargs)) if body is not None else \
        (lambda: testapp.get(path, **kwargs))
    response = unchanged(testapp, call)
    assert response.json["detail"]


def test_4_nbf_and_iat_get_the_same_leeway_as_exp(testapp, db):
    now = int(time.time())
    testapp.get("/api/v1/exams/attempt/latest", headers=token_with(nbf=now, iat=now), status=200)


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_5_a_non_finite_time_claim_is_refused(testapp, db, claim, value):
    now = int(time.time())
    times = {"exp": now + 3600, "iat": now, claim: value}
    payload = (f'{{"iss": "{JWT_ISSUER}", "aud": "{JWT_AUDIENCE}", "preferred_username": "learner", '
               + ", ".join(f'"{k}": {v}' for k, v in times.items()) + "}")
    response = testapp.get("/api/v1/exams/attempt/latest", headers=raw_token(payload), status=401)
    assert response.json["detail"] == f"Invalid {claim} claim: a finite number of seconds is required."


# -- 6. a fractional extra_time_mins is rounded up; every validation detail names the field -------------
def test_6_a_time_multiplier_allowance_is_rounded_up_to_whole_minutes(testapp, db):
    from tests.functional.attempt_world import setup_course

    world, exams = setup_course(testapp, testapp.app, testapp.app.container.clock(), timed={"time_limit_mins": 45})
    testapp.get("/api/v1/exams/attempt/latest", headers=auth("learner", user_id=10))
    path = "/api/v1/exams/course_id/course-v1:edx+test+f19/allowances"
    testapp.post_json(path, [{"exam_id": exams["timed"], "username": "learner", "extra_time_mins": 45 * 1.5}],
                      headers=STAFF, status=200)
    (row,) = testapp.get(path, headers=STAFF).json
    assert row["extra_time_mins"] == 68  # 67.5 rounded up


def test_6_a_refused_allowance_names_the_field_in_the_detail(testapp, db):
    path = "/api/v1/exams/course_id/course-v1:edx+test+f19/allowances"
    response = testapp.post_json(path, [{"exam_id": 1, "username": "learner", "extra_time_mins": "lots"}],
                                 headers=STAFF, status=400)
    assert response.json["detail"] == "Invalid data: item 1, extra_time_mins: A valid integer is required."


# -- 7. the onboarding 404 carries a detail ---------------------------------------------------------------
def test_7_the_onboarding_404_is_json_with_a_detail(testapp, db):
    response = testapp.get("/api/v1/student/course_id/course-v1:edx+test+f19/onboarding", headers=LEARNER,
                           status=404)
    assert response.json["detail"]


# -- 8. an attempt that never started never becomes verifiable -------------------------------------------
def test_8_an_attempt_ended_before_it_started_is_an_error_after_review_and_cannot_be_verified(
        testapp, wsgi, world, vendor):
    assert attempt_status(wsgi, world.attempt_id) == "created"
    testapp.get(f"/lti/end_assessment/{world.attempt_id}", headers=LEARNER, status=302)
    assert attempt_status(wsgi, world.attempt_id) == "submitted"
    from sqlalchemy import select

    from exams.adapters.sql import tables
    with wsgi.container.engine().connect() as conn:
        sub = conn.execute(select(tables.users.c.anonymous_user_id)
                           .where(tables.users.c.username == "learner")).scalar()
    message = {"user": {"sub": sub}, "resource_link": {"id": world.resource_id}, "attempt_number": 1,
               "action": "terminate", "incident_time": "2024-05-01T10:45:33Z", "incident_severity": "0.9",
               "reason_code": "1"}
    assert acs_post(testapp, world, message, 200).json == {"status": "terminated"}
    # A clean-looking review of an exam that was never taken: not second_review_required but error.
    assert attempt_status(wsgi, world.attempt_id) == "error"
    response = unchanged(testapp, lambda: testapp.put_json(f"/api/v1/exams/attempt/{world.attempt_id}",
                                                           {"action": "verify"}, headers=STAFF, status=400))
    assert response.json["code"] == "never_started"
    assert attempt_status(wsgi, world.attempt_id) == "error"


def test_8_a_token_made_by_the_tests_helper_is_still_accepted(testapp, db):
    # make_token sets iat = now: the nbf/iat checks must not lock out the LMS's ordinary tokens.
    testapp.get("/api/v1/exams/attempt/latest", headers={"Authorization": f"JWT {make_token('learner')}"},
                status=200)


# -- found by the fuzzer after the merge: a non-ASCII digit in a registration id --------------------------------------
@pytest.mark.parametrize("registration_id", ["\u00b92", "\u0662", "12\u00b3"])
def test_a_registration_id_with_non_ascii_digits_is_an_unknown_registration_not_a_500(testapp, db, registration_id):
    # "¹2".isdigit() is true but int("¹2") raises: such an id names no registration.
    from urllib.parse import quote

    response = testapp.get(f"/lti/lti_consumer/v1/public_keysets/{quote(registration_id)}", status=404)
    assert response.json["detail"]
