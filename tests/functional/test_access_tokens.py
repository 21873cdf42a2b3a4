"""Exam access tokens the LMS checks before it renders exam content (edx-exams.md §6.10, §12 52-56)."""

from __future__ import annotations

import json

import pytest
from jwcrypto import jwk, jws
from sqlalchemy import update

from exams.adapters.sql import tables
from tests.conftest import ACCESS_KEY, auth
from tests.functional.attempt_world import C, CSTAFF, LEARNER, STAFF, World, ahead, setup_course, usage

NOT_GRANTED = "Exam access token not granted"


@pytest.fixture
def world(testapp, wsgi, clock):
    world, _ = setup_course(testapp, wsgi, clock)
    world.exams = world.register({"name": "proctored", "exam_type": "proctored", "due_date": ahead(world, days=2)},
                                 {"name": "undated", "exam_type": "timed"})
    return world


def token_url(exam_id) -> str:
    return f"/api/v1/access_tokens/exam_id/{exam_id}/"


def get_token(world: World, exam_id, headers=LEARNER, status=200):
    return world.app.get(token_url(exam_id), headers=headers, status=status).json


def unpack(token: str) -> tuple[dict, dict]:
    """Verify as the LMS does (RS512 against the public key) and return (header, claims)."""
    public = jwk.JWK(**ACCESS_KEY).public()
    signed = jws.JWS()
    signed.deserialize(token)
    signed.verify(public, alg="RS512")
    return signed.jose_header, json.loads(signed.payload)


def past_due(world: World, exam: str = "due"):
    """An exam due in an hour; returns its id. Call world.later(hours=2) to be past its due date."""
    return world.register({"name": exam, "exam_type": "proctored", "due_date": ahead(world, hours=1)})[exam]


# -- 52 ----------------------------------------------------------------------------------------
def test_52_a_token_needs_credentials(world: World):
    response = world.app.get(token_url(world.exams["proctored"]), status=401)
    assert response.json == {"detail": "Authentication credentials were not provided."}


def test_52_a_missing_exam_is_a_404(world: World):
    assert get_token(world, 424242, status=404)["detail"] == "Exam does not exist"


def test_52_a_learner_without_attempt_before_the_due_date_is_refused(world: World):
    assert get_token(world, world.exams["proctored"], status=403)["detail"] == NOT_GRANTED
    assert get_token(world, world.exams["undated"], status=403)["detail"] == NOT_GRANTED


@pytest.mark.parametrize("path, status", [("abc/", 404), ("9" * 11 + "/", 400), (f"{2**31}/", 400)])
def test_an_exam_id_that_is_not_ours_is_a_4xx(world: World, path, status):
    response = world.app.get(f"/api/v1/access_tokens/exam_id/{path}", headers=LEARNER, status=status)
    assert response.json["detail"]


# -- 53 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("slash", ["/", ""])
def test_53_a_started_attempt_gets_a_token_the_lms_can_verify(world: World, slash):
    world.start(world.exams["proctored"])
    response = world.app.get(f"/api/v1/access_tokens/exam_id/{world.exams['proctored']}{slash}", headers=LEARNER)
    assert set(response.json) == {"exam_access_token", "exam_access_token_expiration"}
    header, claims = unpack(response.json["exam_access_token"])
    assert header["alg"] == "RS512" and header["kid"] == ACCESS_KEY["kid"]
    assert claims["lms_user_id"] == 10 and claims["course_id"] == C and claims["content_id"] == usage("proctored")
    assert claims["exp"] - claims["iat"] == 60 and claims["version"] == "1.2.0" and claims["iss"] == "http://localhost"


def test_53_a_created_attempt_gets_no_token(world: World):
    world.create(world.exams["proctored"])
    assert get_token(world, world.exams["proctored"], status=403)["detail"] == NOT_GRANTED


@pytest.mark.parametrize("then", ["stop", "submit", "error"])
def test_53_an_attempt_that_is_no_longer_started_gets_no_token(world: World, then):
    attempt_id = world.start(world.exams["proctored"])
    world.act(attempt_id, then)
    get_token(world, world.exams["proctored"], status=403)


def test_a_learner_without_an_lms_user_id_gets_a_token_naming_none(world: World):
    nameless = auth("nameless", user_id=None)
    world.start(world.exams["undated"], headers=nameless)
    _, claims = unpack(get_token(world, world.exams["undated"], headers=nameless)["exam_access_token"])
    assert claims["lms_user_id"] is None


# -- 54 ----------------------------------------------------------------------------------------
def test_54_past_due_a_verified_attempt_may_review_the_content(world: World):
    exam_id = past_due(world)
    attempt_id = world.start(exam_id)
    world.act(attempt_id, "submit")
    world.act(attempt_id, "verify", headers=CSTAFF)
    world.later(hours=2)
    assert get_token(world, exam_id)["exam_access_token_expiration"] == 60


def test_54_past_due_a_submitted_attempt_may_review_the_content(world: World):
    exam_id = past_due(world)
    world.act(world.start(exam_id), "submit")
    world.later(hours=2)
    get_token(world, exam_id)


@pytest.mark.parametrize("then", [None, "reject", "error"])
def test_54_past_due_other_attempts_get_nothing(world: World, then):
    exam_id = past_due(world)
    if then is None:
        world.create(exam_id)
    else:
        attempt_id = world.start(exam_id)
        if then == "reject":
            world.act(attempt_id, "submit")
        world.act(attempt_id, then, headers=CSTAFF if then == "reject" else LEARNER)
    world.later(hours=2)
    assert get_token(world, exam_id, status=403)["detail"] == NOT_GRANTED


def test_54_hide_after_due_keeps_a_verified_attempt_out(world: World):
    exam_id = world.register({"name": "hidden", "exam_type": "proctored", "due_date": ahead(world, hours=1),
                              "hide_after_due": True})["hidden"]
    attempt_id = world.start(exam_id)
    world.act(attempt_id, "submit")
    world.act(attempt_id, "verify", headers=CSTAFF)
    world.later(hours=2)
    get_token(world, exam_id, status=403)


def test_54_past_due_a_learner_without_attempt_may_see_the_content(world: World):
    exam_id = past_due(world)
    world.later(hours=2)
    assert get_token(world, exam_id)["exam_access_token_expiration"] == 60


def test_hide_after_due_keeps_a_learner_without_attempt_out_too(world: World):
    # edx-exams grants this one (its §10 quirk 8); docs/compatibility.md.
    exam_id = world.register({"name": "hidden", "exam_type": "proctored", "due_date": ahead(world, hours=1),
                              "hide_after_due": True})["hidden"]
    world.later(hours=2)
    get_token(world, exam_id, status=403)


# -- 55 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("caller", [STAFF, CSTAFF], ids=["global staff", "course staff"])
def test_55_staff_get_a_token_whatever_the_attempts(world: World, caller):
    assert get_token(world, world.exams["proctored"], headers=caller)["exam_access_token_expiration"] == 60
    exam_id = world.register({"name": "hidden", "exam_type": "proctored", "due_date": ahead(world, hours=1),
                              "hide_after_due": True})["hidden"]
    world.later(hours=2)
    get_token(world, exam_id, headers=caller)


def test_staff_of_another_course_are_learners_here(world: World):
    world.add_course_staff("elsewhere", course="course-v1:edx+other+f19")
    get_token(world, world.exams["proctored"], headers=auth("elsewhere", user_id=55), status=403)


# -- 56 ----------------------------------------------------------------------------------------
def test_56_with_a_minute_or_more_left_the_token_lasts_sixty_seconds(world: World):
    world.start(world.exams["proctored"])
    world.later(minutes=29)
    response = world.app.get(token_url(world.exams["proctored"]), headers=LEARNER)
    assert response.json["exam_access_token_expiration"] == 60
    assert b'"exam_access_token_expiration":60}' in response.body


def test_56_with_less_than_a_minute_left_the_token_lasts_what_is_left(world: World):
    world.start(world.exams["proctored"])
    world.later(minutes=29, seconds=30)
    response = get_token(world, world.exams["proctored"])
    assert response["exam_access_token_expiration"] == 30.0
    _, claims = unpack(response["exam_access_token"])
    assert claims["exp"] - claims["iat"] == 30.0


def test_56_with_no_time_left_there_is_no_token(world: World):
    world.start(world.exams["proctored"])
    world.later(minutes=30)
    get_token(world, world.exams["proctored"], status=403)


def test_56_a_started_attempt_without_a_start_time_gets_no_token(world: World):
    attempt_id = world.start(world.exams["proctored"])
    with world.container.engine().begin() as conn:
        conn.execute(update(tables.attempts).where(tables.attempts.c.id == attempt_id).values(start_time=None))
    get_token(world, world.exams["proctored"], status=403)
