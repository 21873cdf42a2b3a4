"""The learner's and the reviewer's writes on attempts, through the real HTTP stack (edx-exams.md §12, 28-43).

Every test runs on SQLite and on PostgreSQL (the ``testapp`` fixture is parametrized by backend).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import auth
from tests.functional.attempt_world import (C, CSTAFF, LEARNER, OTHER_LEARNER, STAFF, World, ahead, ago,
                                            setup_course)


@pytest.fixture
def world(testapp, wsgi, clock):
    world, world.exams = setup_course(testapp, wsgi, clock,
                                      proctored={"exam_type": "proctored", "minutes": 30},
                                      timed={"exam_type": "timed", "minutes": 45},
                                      practice={"exam_type": "practice", "minutes": 15})
    return world


# -- 28-32: creating ---------------------------------------------------------------------------
def test_28_creating_an_attempt_answers_its_id_and_leaves_it_created(world: World):
    response = world.app.post_json("/api/v1/exams/attempt", {"exam_id": world.exams["proctored"],
                                                             "start_clock": "false"}, headers=LEARNER)
    attempt_id = response.json["exam_attempt_id"]
    assert response.status_int == 200 and response.content_type == "application/json"
    assert response.body == b'{"exam_attempt_id":%d}' % attempt_id
    attempt = world.attempt(attempt_id)
    assert (attempt.status.value, attempt.attempt_number, attempt.start_time, attempt.allowed_time_limit_mins) == (
        "created", 1, None, None)


@pytest.mark.parametrize("start_clock", ["true", "True", "TRUE", True])
def test_29_creating_with_the_clock_started_starts_the_attempt_now(world: World, start_clock):
    attempt_id = world.create(world.exams["timed"], start_clock)["exam_attempt_id"]
    attempt = world.attempt(attempt_id)
    assert (attempt.status.value, attempt.start_time, attempt.allowed_time_limit_mins) == ("started", world.now, 45)


@pytest.mark.parametrize("body", [{"start_clock": "false"}, {"start_clock": False}, {}, {"start_clock": None}])
def test_the_clock_stays_still_unless_asked(world: World, body):
    response = world.app.post_json("/api/v1/exams/attempt", {"exam_id": world.exams["timed"], **body},
                                   headers=LEARNER)
    assert world.attempt(response.json["exam_attempt_id"]).status.value == "created"


def test_a_form_post_creates_and_starts_as_json_does(world: World):
    response = world.app.post("/api/v1/exams/attempt", {"exam_id": str(world.exams["timed"]), "start_clock": "true"},
                              headers=LEARNER)
    assert world.attempt(response.json["exam_attempt_id"]).status.value == "started"


def test_the_mfe_create_body_with_attempt_proctored_is_accepted(world: World):
    body = {"exam_id": world.exams["proctored"], "start_clock": "false", "attempt_proctored": "true"}
    response = world.app.post_json("/api/v1/exams/attempt", body, headers=LEARNER)
    assert world.attempt(response.json["exam_attempt_id"]).status.value == "created"


@pytest.mark.parametrize("start_clock", ["yes", "1", 1, 0, [], {}, "", "tru"])
def test_an_unreadable_start_clock_is_refused_and_creates_nothing(world: World, start_clock):
    response = world.create(world.exams["timed"], start_clock, status=400)
    assert response["detail"] == 'start_clock must be "true" or "false".'
    assert world.attempts_of("learner") == []


def test_30_a_second_attempt_at_the_same_exam_is_refused(world: World):
    world.create(world.exams["proctored"])
    response = world.create(world.exams["proctored"], status=400)
    assert response["detail"] == (f"Cannot create attempt for exam_id={world.exams['proctored']} and "
                                  f"user_id={world.user_id('learner')} because an attempt already exists.")
    assert len(world.attempts_of("learner")) == 1


@pytest.mark.parametrize("exam_type", ["proctored", "timed"])
def test_31_a_graded_exam_past_its_due_date_cannot_be_begun(testapp, wsgi, clock, exam_type):
    world = World(testapp, wsgi, clock)
    world.add_provider()
    world.configure()
    exam_id = world.register({"name": "late", "exam_type": exam_type, "due_date": ago(world, hours=1)})["late"]
    response = world.create(exam_id, "true", status=400)
    assert "trying to create exam attempt for past due non-practice exam" in response["detail"]
    assert world.attempts_of("learner") == []


@pytest.mark.parametrize("exam_type", ["practice", "onboarding"])
def test_31_a_practice_exam_past_its_due_date_can_be_begun_with_its_full_time(testapp, wsgi, clock, exam_type):
    world = World(testapp, wsgi, clock)
    world.add_provider()
    world.configure()
    exam_id = world.register({"name": "late", "exam_type": exam_type, "minutes": 20,
                              "due_date": ago(world, hours=1)})["late"]
    attempt = world.attempt(world.start(exam_id))
    assert (attempt.status.value, attempt.allowed_time_limit_mins) == ("started", 20)


def test_32_a_missing_exam_is_named_in_the_refusal(world: World):
    assert world.create(11111111, status=400)["detail"] == "Exam with exam_id=11111111 does not exist."


def test_32_a_missing_exam_id_is_named_none(world: World):
    response = world.app.post_json("/api/v1/exams/attempt", {"start_clock": "true"}, headers=LEARNER, status=400)
    assert response.json["detail"] == "Exam with exam_id=None does not exist."


@pytest.mark.parametrize("exam_id", ["abc", "12abc", 1.5, True, [1], {"id": 1}, 10**30, "9" * 40, -1, 2**31])
def test_an_exam_id_that_is_not_an_exam_is_a_400_never_a_500(world: World, exam_id):
    response = world.app.post_json("/api/v1/exams/attempt", {"exam_id": exam_id, "start_clock": "true"},
                                   headers=LEARNER, status=400)
    assert response.json["detail"].startswith("Exam with exam_id=")
    assert world.attempts_of("learner") == []


@pytest.mark.parametrize("body, content_type", [
    (b"[1, 2]", "application/json"), (b'"text"', "application/json"), (b"{nope", "application/json"),
    (b"\xff\xfe", "application/json"), (b"null", "application/json"), (b"1e999999", "application/json"),
    (b"1" * 5000, "application/json"),
])
def test_a_create_body_that_is_not_an_object_is_a_400(world: World, body, content_type):
    response = world.app.post("/api/v1/exams/attempt", body, headers={**LEARNER, "Content-Type": content_type},
                              status=400)
    assert response.json["detail"]
    assert world.attempts_of("learner") == []


@pytest.mark.parametrize("body, content_type", [
    (b"--x\r\nbroken", "multipart/form-data"), (b"\xff\xfe=\xff", "application/x-www-form-urlencoded"),
    (b"exam_id=%ff&start_clock=%ff", "application/x-www-form-urlencoded")])
def test_a_form_body_that_cannot_be_read_is_a_400(world: World, body, content_type):
    for method, path in (("POST", "/api/v1/exams/attempt"), ("PUT", "/api/v1/exams/attempt/1")):
        response = world.app.request(path, method=method, body=body,
                                     headers={**LEARNER, "Content-Type": content_type}, expect_errors=True)
        assert response.status_int == 400 and response.json["detail"]
    assert world.attempts_of("learner") == []


def test_a_form_put_moves_the_attempt(world: World):
    attempt_id = world.create(world.exams["timed"])["exam_attempt_id"]
    world.app.put(f"/api/v1/exams/attempt/{attempt_id}", {"action": "start"}, headers=LEARNER)
    assert world.attempt(attempt_id).status.value == "started"


def test_creating_needs_credentials(world: World):
    response = world.app.post_json("/api/v1/exams/attempt", {"exam_id": world.exams["timed"]}, status=401)
    assert response.json == {"detail": "Authentication credentials were not provided."}


def test_a_learner_seen_for_the_first_time_can_create_at_once(world: World):
    world.start(world.exams["timed"], headers=auth("newcomer", user_id=4242))
    assert world.attempts_of("newcomer") == [(world.exams["timed"], "started")]


def test_creating_and_starting_is_all_or_nothing(world: World):
    world.start(world.exams["timed"])
    response = world.create(world.exams["proctored"], "true", status=400)
    assert response["detail"] == (f"Cannot start exam attempt for exam_id={world.exams['proctored']} and "
                                  f"user_id={world.user_id('learner')} because another exam attempt is currently "
                                  "active!")
    assert world.attempts_of("learner") == [(world.exams["timed"], "started")]


# -- 33-39: moving -----------------------------------------------------------------------------
@pytest.mark.parametrize("action, status", [
    ("start", "started"), ("stop", "ready_to_submit"), ("submit", "submitted"),
    ("click_download_software", "download_software_clicked"), ("error", "error")])
def test_33_the_owner_moves_their_attempt(world: World, action, status):
    attempt_id = world.create(world.exams["proctored"])["exam_attempt_id"]
    assert world.act(attempt_id, action) == {"exam_attempt_id": attempt_id}
    assert world.attempt(attempt_id).status.value == status


def test_33_the_mfe_error_body_with_a_detail_is_accepted(world: World):
    attempt_id = world.start(world.exams["proctored"])
    world.app.put_json(f"/api/v1/exams/attempt/{attempt_id}", {"action": "error", "detail": "exam reentry disallowed"},
                       headers=LEARNER)
    assert world.attempt(attempt_id).status.value == "error"


@pytest.mark.parametrize("reviewer", [CSTAFF, STAFF], ids=["course staff", "global staff"])
@pytest.mark.parametrize("action, status", [("verify", "verified"), ("reject", "rejected")])
def test_34_staff_review_an_attempt(world: World, reviewer, action, status):
    attempt_id = world.start(world.exams["proctored"])
    world.act(attempt_id, "submit")
    assert world.act(attempt_id, action, headers=reviewer) == {"exam_attempt_id": attempt_id}
    assert world.attempt(attempt_id).status.value == status


@pytest.mark.parametrize("from_status, action", [
    ("verify", "reject"), ("reject", "verify"), ("error", "verify"), ("error", "reject")])
def test_34_the_dashboard_may_change_its_mind(world: World, from_status, action):
    attempt_id = world.start(world.exams["proctored"])
    if from_status == "error":
        world.act(attempt_id, "error")
    else:
        world.act(attempt_id, "submit")
        world.act(attempt_id, from_status, headers=CSTAFF)
    world.act(attempt_id, action, headers=CSTAFF)
    assert world.attempt(attempt_id).status.value == {"verify": "verified", "reject": "rejected"}[action]


def test_34_the_owner_may_not_verify_their_own_attempt(world: World):
    attempt_id = world.start(world.exams["proctored"])
    assert world.act(attempt_id, "verify", status=400)["detail"] == 'Unrecognized action "verify"'
    assert world.attempt(attempt_id).status.value == "started"


def test_34_staff_may_not_drive_even_their_own_attempt(world: World):
    attempt_id = world.start(world.exams["timed"], headers=CSTAFF)
    assert world.act(attempt_id, "submit", headers=CSTAFF, status=400)["detail"] == 'Unrecognized action "submit"'


def test_35_another_learner_may_not_touch_the_attempt(world: World):
    attempt_id = world.start(world.exams["timed"])
    response = world.act(attempt_id, "submit", headers=OTHER_LEARNER, status=403)
    assert response["detail"] == (f"user_id={world.user_id('learner')} attempted to update attempt_id={attempt_id} in "
                                  f"course_id={C} but does not have access to it. (action=submit)")
    assert world.attempt(attempt_id).status.value == "started"


def test_35_a_missing_attempt_is_a_400_with_the_edx_exams_wording(world: World):
    assert world.act(999, "start", status=400)["detail"] == "Attempt with attempt_id=999 does not exit."


@pytest.mark.parametrize("action", ["junk", "reset_attempt", "decline", "ping", None, 1, ["start"]])
def test_36_an_unknown_action_is_refused_by_name(world: World, action):
    attempt_id = world.create(world.exams["proctored"])["exam_attempt_id"]
    response = world.act(attempt_id, action, status=400)
    assert response["detail"] == f'Unrecognized action "{action}"'
    assert world.attempt(attempt_id).status.value == "created"


@pytest.mark.parametrize("body", [b"", b"[]", b"{nope", b'"start"', b"\xff"])
def test_a_put_body_without_an_action_is_a_400(world: World, body):
    attempt_id = world.create(world.exams["proctored"])["exam_attempt_id"]
    response = world.app.put(f"/api/v1/exams/attempt/{attempt_id}", body,
                             headers={**LEARNER, "Content-Type": "application/json"}, status=400)
    assert response.json["detail"]
    assert world.attempt(attempt_id).status.value == "created"


@pytest.mark.parametrize("method", ["put_json", "delete"])
@pytest.mark.parametrize("path, status", [("abc", 404), ("1.5", 404), ("-1", 404), ("9" * 11, 400),
                                          (str(2**31), 400), ("99999999999999999999999", 400)])
def test_an_attempt_id_that_is_not_a_number_of_ours_is_a_4xx(world: World, method, path, status):
    call = getattr(world.app, method)
    args = ({"action": "start"},) if method == "put_json" else ()
    response = call(f"/api/v1/exams/attempt/{path}", *args, headers=LEARNER, status=status)
    assert response.json["detail"]


def test_37_starting_an_attempt_that_has_started_is_refused(world: World):
    attempt_id = world.start(world.exams["timed"])
    response = world.act(attempt_id, "start", status=400)
    assert "Cannot start exam attempt" in response["detail"] and "because it has already started!" in response["detail"]


def test_37_starting_while_another_attempt_is_active_is_refused(world: World):
    world.start(world.exams["timed"])
    attempt_id = world.create(world.exams["proctored"])["exam_attempt_id"]
    response = world.act(attempt_id, "start", status=400)
    assert "another exam attempt is currently active!" in response["detail"]
    assert world.attempt(attempt_id).status.value == "created"


@pytest.mark.parametrize("finish", ["submit", "error"])
@pytest.mark.parametrize("action", ["start", "stop", "click_download_software"])
def test_38_a_finished_attempt_does_not_come_back(world: World, finish, action):
    attempt_id = world.start(world.exams["proctored"])
    world.act(attempt_id, finish)
    response = world.act(attempt_id, action, status=400)
    assert response["detail"].startswith("A status transition from")


def test_39_resuming_keeps_the_original_start_time(world: World):
    attempt_id = world.start(world.exams["timed"])
    started_at = world.now
    world.later(minutes=10)
    world.act(attempt_id, "stop")
    world.later(minutes=2)
    world.act(attempt_id, "start")
    attempt = world.attempt(attempt_id)
    assert (attempt.status.value, attempt.start_time, attempt.allowed_time_limit_mins) == ("started", started_at, 45)


# -- 40: allowed minutes -----------------------------------------------------------------------
def test_40_an_allowance_extends_the_attempt_at_its_start(world: World):
    world.app.get("/api/v1/exams/attempt/latest", headers=LEARNER)  # the learner exists once seen
    world.app.post_json(f"/api/v1/exams/course_id/{C}/allowances",
                        [{"exam_id": world.exams["timed"], "username": "learner", "extra_time_mins": 10}],
                        headers=CSTAFF)
    assert world.attempt(world.start(world.exams["timed"])).allowed_time_limit_mins == 55


def test_40_the_due_date_cuts_the_attempt(world: World):
    exam_id = world.register({"name": "soon", "exam_type": "timed", "minutes": 30,
                              "due_date": ahead(world, minutes=10)})["soon"]
    assert world.attempt(world.start(exam_id)).allowed_time_limit_mins == 10


# -- 41: end time and outcomes -----------------------------------------------------------------
def test_41_submitting_stamps_the_end_time_and_tells_the_lms_once_as_the_learner(world: World, outcomes):
    attempt_id = world.start(world.exams["proctored"])
    world.later(minutes=12)
    world.act(attempt_id, "submit")
    assert world.attempt(attempt_id).end_time == world.now
    assert [c for c in outcomes.changes if c[1] == "submitted"] == [(attempt_id, "submitted", "learner", "learner")]


@pytest.mark.parametrize("action, status", [("verify", "verified"), ("reject", "rejected")])
def test_41_a_review_is_told_once_with_no_requesting_user(world: World, outcomes, action, status):
    attempt_id = world.start(world.exams["proctored"])
    world.act(attempt_id, "submit")
    world.act(attempt_id, action, headers=CSTAFF)
    assert [c for c in outcomes.changes if c[1] == status] == [(attempt_id, status, "learner", None)]


def test_41_an_error_is_told_once_with_no_requesting_user(world: World, outcomes):
    attempt_id = world.start(world.exams["proctored"])
    world.act(attempt_id, "error")
    assert [c for c in outcomes.changes if c[1] == "error"] == [(attempt_id, "error", "learner", None)]


def test_a_second_submit_changes_nothing_and_tells_nobody(world: World, outcomes):
    attempt_id = world.start(world.exams["timed"])
    world.act(attempt_id, "submit")
    submitted_at = world.now
    world.later(minutes=1)
    assert world.act(attempt_id, "submit") == {"exam_attempt_id": attempt_id}
    assert world.attempt(attempt_id).end_time == submitted_at
    assert [c[1] for c in outcomes.changes].count("submitted") == 1


@pytest.mark.parametrize("review", ["verify", "reject"])
def test_a_learner_cannot_undo_a_review(world: World, outcomes, review):
    attempt_id = world.start(world.exams["proctored"])
    world.act(attempt_id, "submit")
    world.act(attempt_id, review, headers=CSTAFF)
    for action in ("submit", "error"):
        assert world.act(attempt_id, action, status=400)["detail"].startswith("A status transition from")
    assert world.attempt(attempt_id).status.value == {"verify": "verified", "reject": "rejected"}[review]


def test_a_refused_move_tells_nobody(world: World, outcomes):
    attempt_id = world.start(world.exams["timed"])
    sent = list(outcomes.changes)
    world.act(attempt_id, "start", status=400)
    world.act(attempt_id, "verify", status=400)
    assert outcomes.changes == sent


# -- 43: reset ---------------------------------------------------------------------------------
def test_43_the_owner_resets_their_attempt_and_the_lms_hears_it_from_them(world: World, outcomes):
    attempt_id = world.start(world.exams["timed"])
    response = world.app.delete(f"/api/v1/exams/attempt/{attempt_id}", headers=LEARNER, status=204)
    assert response.body == b""
    assert world.attempt(attempt_id) is None
    assert outcomes.resets == [(attempt_id, "learner", "learner")]


@pytest.mark.parametrize("caller, name", [(CSTAFF, "cstaff"), (STAFF, "staff")])
def test_43_staff_reset_an_attempt_and_the_lms_hears_it_from_them(world: World, outcomes, caller, name):
    attempt_id = world.start(world.exams["proctored"])
    world.act(attempt_id, "submit")
    world.app.delete(f"/api/v1/exams/attempt/{attempt_id}", headers=caller, status=204)
    assert world.attempt(attempt_id) is None
    assert outcomes.resets == [(attempt_id, "learner", name)]


def test_43_another_learner_may_not_reset_the_attempt(world: World, outcomes):
    attempt_id = world.start(world.exams["timed"])
    response = world.app.delete(f"/api/v1/exams/attempt/{attempt_id}", headers=OTHER_LEARNER, status=403)
    assert response.json["detail"] == (f"user_id={world.user_id('learner')} attempted to delete attempt_id="
                                       f"{attempt_id} in course_id={C} but does not have access to it.")
    assert world.attempt(attempt_id) is not None and outcomes.resets == []


def test_43_resetting_a_missing_attempt_is_a_400(world: World):
    response = world.app.delete("/api/v1/exams/attempt/999", headers=LEARNER, status=400)
    assert response.json["detail"] == "Attempt with attempt_id=999 does not exist."


def test_after_a_reset_the_learner_begins_again(world: World):
    first = world.start(world.exams["timed"])
    world.app.delete(f"/api/v1/exams/attempt/{first}", headers=CSTAFF, status=204)
    second = world.start(world.exams["timed"])
    assert second != first and world.attempts_of("learner") == [(world.exams["timed"], "started")]


# -- the attempt history -----------------------------------------------------------------------
def test_every_change_is_recorded_with_from_to_actor_and_time(world: World):
    created_at = world.now
    attempt_id = world.create(world.exams["proctored"])["exam_attempt_id"]
    learner_id, reviewer_id = world.user_id("learner"), world.user_id("cstaff")
    world.later(minutes=1)
    world.act(attempt_id, "click_download_software")
    world.later(minutes=1)
    world.act(attempt_id, "start")
    world.later(minutes=5)
    world.act(attempt_id, "stop")
    world.later(minutes=1)
    world.act(attempt_id, "submit")
    world.later(hours=1)
    world.act(attempt_id, "verify", headers=CSTAFF)
    t = created_at
    assert world.history(attempt_id) == [
        (None, "created", learner_id, t),
        ("created", "download_software_clicked", learner_id, t + timedelta(minutes=1)),
        ("download_software_clicked", "started", learner_id, t + timedelta(minutes=2)),
        ("started", "ready_to_submit", learner_id, t + timedelta(minutes=7)),
        ("ready_to_submit", "submitted", learner_id, t + timedelta(minutes=8)),
        ("submitted", "verified", reviewer_id, t + timedelta(hours=1, minutes=8)),
    ]


def test_create_and_start_records_two_changes_and_refusals_record_none(world: World):
    attempt_id = world.start(world.exams["timed"])
    world.act(attempt_id, "start", status=400)
    world.act(attempt_id, "verify", status=400)
    assert [(f, t) for f, t, _, _ in world.history(attempt_id)] == [(None, "created"), ("created", "started")]


def test_the_history_outlives_a_reset(world: World):
    attempt_id = world.start(world.exams["timed"])
    world.app.delete(f"/api/v1/exams/attempt/{attempt_id}", headers=LEARNER, status=204)
    assert [t for _, t, _, _ in world.history(attempt_id)] == ["created", "started"]
