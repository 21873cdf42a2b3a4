"""What the special-exams library reads: latest attempt, the learner's exam view, provider settings and
onboarding (edx-exams.md §12, 44 and 46-50, 60-61 for courses run here; mfe-client.md §2).

Courses without a provider here are answered locally, as a configured course without a provider: the
test app has no LMS client, so nothing is forwarded to edx-proctoring (tests/functional/test_legacy_forwarding.py
covers forwarding).
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import auth
from tests.functional.attempt_world import (C, CSTAFF, LEARNER, LEARNING_MFE, OTHER_LEARNER, STAFF, UNCONFIGURED,
                                            World, ahead, iso, setup_course, usage)

STUDENT_ATTEMPT_KEYS = {"attempt_id", "attempt_status", "course_id", "exam_type", "exam_display_name",
                        "exam_url_path", "time_remaining_seconds"}


@pytest.fixture
def world(testapp, wsgi, clock):
    world, world.exams = setup_course(testapp, wsgi, clock,
                                      proctored={"exam_type": "proctored", "minutes": 30},
                                      timed={"exam_type": "timed", "minutes": 30},
                                      practice={"exam_type": "practice", "minutes": 10})
    return world


# -- 44, 46, 47: GET /api/v1/exams/attempt/latest -------------------------------------------------
def test_44_the_active_attempt_in_the_shape_the_timer_reads(world: World):
    attempt_id = world.start(world.exams["timed"])
    world.later(seconds=90.5)
    response = world.app.get("/api/v1/exams/attempt/latest", headers=LEARNER)
    assert response.json == {
        "attempt_id": attempt_id, "attempt_status": "started", "course_id": C, "exam_type": "timed",
        "exam_display_name": "timed", "exam_url_path": f"{LEARNING_MFE}/course/{C}/{usage('timed')}",
        "time_remaining_seconds": 1709.5}
    assert isinstance(response.json["time_remaining_seconds"], float)
    assert b'"time_remaining_seconds":1709.5' in response.body


def test_44_a_ready_to_submit_attempt_is_still_the_active_one(world: World):
    attempt_id = world.start(world.exams["proctored"])
    world.act(attempt_id, "stop")
    assert world.latest()["attempt_status"] == "ready_to_submit"


def test_latest_without_an_active_attempt_is_an_empty_object(world: World):
    assert world.latest() == {}
    world.create(world.exams["proctored"])
    assert world.latest() == {}
    assert world.app.get("/api/v1/exams/attempt/latest", headers=LEARNER).body == b"{}"


def test_latest_is_per_learner(world: World):
    world.start(world.exams["timed"])
    assert world.latest(headers=OTHER_LEARNER) == {}


def test_latest_needs_credentials(world: World):
    world.app.get("/api/v1/exams/attempt/latest", status=401)


def test_46_latest_for_a_subsection_is_that_exams_attempt_in_any_status(world: World):
    proctored = world.create(world.exams["proctored"])["exam_attempt_id"]
    world.start(world.exams["timed"])
    latest = world.latest(content_id=usage("proctored"))
    assert set(latest) == STUDENT_ATTEMPT_KEYS
    assert (latest["attempt_id"], latest["attempt_status"], latest["time_remaining_seconds"]) == (proctored,
                                                                                                   "created", 0)


def test_46_the_mfe_poll_url_with_a_percent_encoded_usage_key(world: World):
    attempt_id = world.start(world.exams["timed"])
    world.act(attempt_id, "submit")
    response = world.app.get(f"/api/v1/exams/attempt/latest?content_id={quote(usage('timed'), safe='')}",
                             headers=LEARNER)
    assert (response.json["attempt_id"], response.json["attempt_status"]) == (attempt_id, "submitted")


def test_46_a_subsection_without_an_attempt_of_the_learner_is_an_empty_object(world: World):
    world.start(world.exams["timed"])
    assert world.latest(content_id=usage("proctored")) == {}


def test_46_an_unknown_subsection_falls_back_to_the_active_attempt(world: World):
    attempt_id = world.start(world.exams["timed"])
    assert world.latest(content_id="block-v1:nothing+here")["attempt_id"] == attempt_id
    # A raw "+" in a query string is a space: the key does not match, as in edx-exams.
    raw = world.app.get(f"/api/v1/exams/attempt/latest?content_id={usage('proctored')}", headers=LEARNER).json
    assert raw["attempt_id"] == attempt_id


@pytest.mark.parametrize("query", ["content_id=%ff", "content_id=%", "content_id=%00", "content_id=a%0Ab",
                                   "content_id=" + "x" * 5000, "content_id=&content_id=a", "a=%ZZ"])
def test_a_malformed_query_string_is_not_a_500(world: World, query):
    response = world.app.get(f"/api/v1/exams/attempt/latest?{query}", headers=LEARNER, expect_errors=True)
    assert response.status_int < 500
    if response.status_int >= 400:
        assert response.json["detail"]


@pytest.mark.parametrize("stop_first", [False, True], ids=["started", "ready_to_submit"])
def test_47_an_attempt_out_of_time_is_submitted_when_read(world: World, outcomes, stop_first):
    attempt_id = world.start(world.exams["timed"])
    if stop_first:
        world.act(attempt_id, "stop")
    world.later(minutes=31)
    latest = world.latest()
    assert (latest["attempt_id"], latest["attempt_status"], latest["time_remaining_seconds"]) == (
        attempt_id, "submitted", 0)
    assert b'"time_remaining_seconds":0}' in world.app.get(
        "/api/v1/exams/attempt/latest", params={"content_id": usage("timed")}, headers=LEARNER).body
    attempt = world.attempt(attempt_id)
    assert (attempt.status.value, attempt.end_time) == ("submitted", world.now)
    assert world.history(attempt_id)[-1][1:3] == ("submitted", None)
    assert [c for c in outcomes.changes if c[1] == "submitted"] == [(attempt_id, "submitted", "learner", "learner")]


def test_47_a_started_attempt_is_never_shown_with_no_time_left(world: World):
    attempt_id = world.start(world.exams["timed"])
    world.later(minutes=30)
    reads = (world.latest(), world.latest(content_id=usage("timed")), world.learner_exam("timed")["exam"]["attempt"])
    for latest in reads:
        assert latest["attempt_id"] == attempt_id
        assert latest["attempt_status"] != "started" or latest["time_remaining_seconds"] > 0


def test_47_the_learners_exam_view_submits_an_attempt_out_of_time(world: World):
    attempt_id = world.start(world.exams["proctored"])
    world.later(hours=2)
    attempt = world.learner_exam("proctored")["exam"]["attempt"]
    assert (attempt["attempt_id"], attempt["attempt_status"], attempt["time_remaining_seconds"]) == (
        attempt_id, "submitted", 0)
    assert world.attempt(attempt_id).status.value == "submitted"


# -- 48-50: GET /api/v1/student/exam/attempt/course_id/<c>/content_id/<u> --------------------------
def test_48_a_subsection_that_is_not_an_exam_is_an_empty_exam(world: World):
    response = world.app.get(f"/api/v1/student/exam/attempt/course_id/{C}/content_id/{usage('unknown')}",
                             headers=LEARNER)
    assert response.json == {"exam": {}} and response.body == b'{"exam":{}}'


def test_49_a_proctored_exam_without_attempt_as_edx_exams_shows_it(world: World):
    assert world.learner_exam("proctored") == {"exam": {
        "id": world.exams["proctored"], "exam_name": "proctored", "course_id": C, "content_id": usage("proctored"),
        "time_limit_mins": 30, "due_date": None, "exam_type": "proctored", "hide_after_due": False,
        "is_active": True, "type": "proctored", "is_proctored": True, "is_practice_exam": False,
        "backend": "testing provider", "passed_due_date": False, "total_time": 30, "attempt": {}}}


def test_49_the_due_date_is_utc_with_a_z_and_passed_due_date_follows_it(world: World):
    due = ahead(world, days=3).replace(microsecond=0)
    world.register({"name": "proctored", "exam_type": "proctored"},
                   {"name": "later", "exam_type": "proctored", "due_date": due})
    exam = world.learner_exam("later")["exam"]
    assert (exam["due_date"], exam["passed_due_date"]) == (iso(due), False)
    assert exam["due_date"].endswith("Z")
    world.later(days=3)
    assert world.learner_exam("later")["exam"]["passed_due_date"] is True


def test_50_an_allowance_is_in_the_total_time_as_whole_minutes(world: World):
    world.latest()
    world.app.post_json(f"/api/v1/exams/course_id/{C}/allowances",
                        [{"exam_id": world.exams["proctored"], "username": "learner", "extra_time_mins": 30}],
                        headers=CSTAFF)
    exam = world.learner_exam("proctored")["exam"]
    assert exam["total_time"] == 60 and type(exam["total_time"]) is int
    assert world.learner_exam("proctored", headers=OTHER_LEARNER)["exam"]["total_time"] == 30


def test_50_a_timed_exam_has_no_backend(world: World):
    exam = world.learner_exam("timed")["exam"]
    assert (exam["type"], exam["is_proctored"], exam["is_practice_exam"], exam["backend"]) == (
        "timed", False, False, None)


def test_50_a_practice_exam_is_proctored_practice(world: World):
    exam = world.learner_exam("practice")["exam"]
    assert (exam["is_proctored"], exam["is_practice_exam"], exam["backend"]) == (True, True, "testing provider")


def test_50_with_an_attempt_the_exam_carries_it_in_the_latest_shape(world: World):
    attempt_id = world.start(world.exams["proctored"])
    world.later(minutes=5)
    exam = world.learner_exam("proctored")["exam"]
    assert exam["attempt"] == world.latest() == {
        "attempt_id": attempt_id, "attempt_status": "started", "course_id": C, "exam_type": "proctored",
        "exam_display_name": "proctored", "exam_url_path": f"{LEARNING_MFE}/course/{C}/{usage('proctored')}",
        "time_remaining_seconds": 1500.0}


def test_the_learning_mfe_percent_encoded_path_finds_the_same_exam(world: World):
    path = (f"/api/v1/student/exam/attempt/course_id/{quote(C, safe='')}/content_id/"
            f"{quote(usage('proctored'), safe='')}")
    assert world.app.get(path, headers=LEARNER).json["exam"]["id"] == world.exams["proctored"]


def test_the_exam_view_follows_the_active_exam_of_the_subsection(world: World):
    world.register({"name": "proctored", "exam_type": "timed", "minutes": 20})
    exam = world.learner_exam("proctored")["exam"]
    assert (exam["type"], exam["time_limit_mins"]) == ("timed", 20)
    world.register()
    assert world.learner_exam("proctored") == {"exam": {}}


def test_the_exam_view_needs_credentials(world: World):
    world.app.get(f"/api/v1/student/exam/attempt/course_id/{C}/content_id/{usage('timed')}", status=401)


def test_an_unconfigured_course_is_answered_here_without_a_backend(testapp, wsgi, clock):
    world = World(testapp, wsgi, clock)
    world.add_provider()
    world.register({"name": "quiz", "exam_type": "proctored"}, course=UNCONFIGURED)
    exam = world.learner_exam("quiz", course=UNCONFIGURED)["exam"]
    assert (exam["course_id"], exam["backend"], exam["attempt"]) == (UNCONFIGURED, None, {})
    assert world.learner_exam("nothing", course=UNCONFIGURED) == {"exam": {}}


# -- 60: provider settings ---------------------------------------------------------------------
def test_60_provider_settings_of_a_proctored_exam(world: World):
    world.configure(email="escalation@example.com")
    response = world.app.get(f"/api/v1/exam/provider_settings/course_id/{C}/exam_id/{world.exams['proctored']}",
                             headers=LEARNER)
    assert response.json == {"provider_tech_support_email": "test@example.com",
                             "provider_tech_support_phone": "1118976309",
                             "provider_tech_support_url": "www.example.com", "provider_name": "testing provider",
                             "proctoring_escalation_email": "escalation@example.com"}


@pytest.mark.parametrize("exam", ["unknown", "timed"])
def test_60_an_exam_without_a_provider_gives_only_the_escalation_email(world: World, exam):
    world.configure(email="escalation@example.com")
    exam_id = world.exams.get(exam, 424242)
    response = world.app.get(f"/api/v1/exam/provider_settings/course_id/{C}/exam_id/{exam_id}", headers=LEARNER)
    assert response.json == {"proctoring_escalation_email": "escalation@example.com"}


def test_60_an_unconfigured_course_has_no_escalation_email(testapp, wsgi, clock):
    world = World(testapp, wsgi, clock)
    response = world.app.get(f"/api/v1/exam/provider_settings/course_id/{UNCONFIGURED}/exam_id/1", headers=LEARNER)
    assert response.json == {"proctoring_escalation_email": None}


@pytest.mark.parametrize("exam_id, status", [("abc", 404), ("1.5", 404), ("9" * 11, 400), (str(2**31), 400)])
def test_60_an_exam_id_that_is_not_ours_is_a_4xx(world: World, exam_id, status):
    response = world.app.get(f"/api/v1/exam/provider_settings/course_id/{C}/exam_id/{exam_id}", headers=LEARNER,
                             status=status)
    assert response.json["detail"]


def test_60_provider_settings_need_credentials(world: World):
    world.app.get(f"/api/v1/exam/provider_settings/course_id/{C}/exam_id/{world.exams['proctored']}", status=401)


# -- 61: onboarding ----------------------------------------------------------------------------
def test_61_onboarding_needs_credentials(world: World):
    response = world.app.get(f"/api/v1/student/course_id/{C}/onboarding", status=401)
    assert response.json == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize("course", [C, UNCONFIGURED])
@pytest.mark.parametrize("headers", [LEARNER, STAFF])
def test_61_onboarding_is_not_run_here_a_404_with_a_detail(world: World, course, headers):
    # edx-exams answers an empty 404; the frontends parse every error body, so ours carries a detail.
    response = world.app.get(f"/api/v1/student/course_id/{course}/onboarding?username=learner", headers=headers,
                             status=404)
    assert response.json == {"detail": "This course has no onboarding exam.", "code": "no_onboarding"}


def test_first_sight_of_a_learner_through_a_read(world: World):
    assert world.latest(headers=auth("brand_new", user_id=999)) == {}
    assert world.user_id("brand_new")


def test_reads_after_the_deadline_leave_a_submitted_attempt_alone(world: World, outcomes):
    attempt_id = world.start(world.exams["timed"])
    world.act(attempt_id, "submit")
    submitted_at = world.now
    world.later(hours=1)
    assert world.latest(content_id=usage("timed"))["attempt_status"] == "submitted"
    assert world.learner_exam("timed")["exam"]["attempt"]["attempt_status"] == "submitted"
    assert len(world.history(attempt_id)) == 3 and world.attempt(attempt_id).end_time == submitted_at
    assert [c[1] for c in outcomes.changes].count("submitted") == 1


@pytest.mark.parametrize("path_value", ["a%00b", "a%0Ab", "x" * 300])
def test_a_usage_key_no_exam_can_have_is_a_400(world: World, path_value):
    response = world.app.get(f"/api/v1/student/exam/attempt/course_id/{C}/content_id/{path_value}", headers=LEARNER,
                             status=400)
    assert response.json["detail"].startswith("Invalid content_id")
