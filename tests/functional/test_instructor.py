"""The exams dashboard's attempt list (edx-exams.md §6.11, §12 57-59; dashboard-client.md E5)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from exams.domain.reviews import ControlResult
from exams.domain.users import UserClaims
from tests.conftest import auth
from tests.functional.attempt_world import C, CSTAFF, LEARNER, OTHER, STAFF, World, iso, setup_course

ROW_KEYS = {"username", "attempt_id", "attempt_status", "start_time", "end_time", "allowed_time_limit_mins",
            "exam_type", "exam_display_name", "proctored_review"}


@pytest.fixture
def world(testapp, wsgi, clock):
    world, world.exams = setup_course(testapp, wsgi, clock, proctored={"exam_type": "proctored", "minutes": 45},
                                      timed={"exam_type": "timed", "minutes": 30})
    return world


def listing(world: World, exam_id, headers=CSTAFF, status=200, course=C, **params):
    query = "&".join(f"{k}={v}" for k, v in {"exam_id": exam_id, **params}.items() if v is not None)
    return world.app.get(f"/api/v1/instructor_view/course_id/{course}/attempts?{query}", headers=headers,
                         status=status).json


def learners_start(world: World, exam_id: int, count: int) -> list[int]:
    """``count`` learners create an attempt each, one second apart; their ids, oldest first."""
    ids = []
    for i in range(count):
        ids.append(world.create(exam_id, headers=auth(f"learner{i:02d}", user_id=100 + i))["exam_attempt_id"])
        world.later(seconds=1)
    return ids


# -- 57 ----------------------------------------------------------------------------------------
def test_57_learners_may_not_list_attempts(world: World):
    response = listing(world, world.exams["proctored"], headers=LEARNER, status=403)
    assert response == {"detail": "You do not have permission to perform this action."}


def test_57_the_list_needs_credentials(world: World):
    world.app.get(f"/api/v1/instructor_view/course_id/{C}/attempts?exam_id=1", status=401)


@pytest.mark.parametrize("caller", [CSTAFF, STAFF], ids=["course staff", "global staff"])
def test_57_staff_list_an_exams_attempts(world: World, caller):
    attempt_id = world.start(world.exams["proctored"])
    response = listing(world, world.exams["proctored"], headers=caller)
    assert response["count"] == 1 and response["results"][0]["attempt_id"] == attempt_id


def test_57_an_exam_of_another_course_is_not_found(world: World):
    other_exam = world.register({"name": "foreign", "exam_type": "timed"}, course=OTHER)["foreign"]
    for exam_id in (other_exam, 424242):
        assert listing(world, exam_id, status=404)["detail"] == "Exam does not exist in course"


def test_57_course_staff_of_another_course_may_not_list(world: World):
    world.add_course_staff("elsewhere", course=OTHER)
    listing(world, world.exams["proctored"], headers=auth("elsewhere", user_id=77), status=403)


@pytest.mark.parametrize("query", ["", "exam_id=", "exam_id=abc", "exam_id=1.5", "exam_id=-1", "exam_id=0",
                                   "exam_id=%C2%B2", "exam_id=%EF%BC%91", f"exam_id={2**31}", "exam_id=" + "9" * 40,
                                   "exam_id=1&limit=abc", "exam_id=1&limit=0", "exam_id=1&limit=-5",
                                   "exam_id=1&offset=-1", "exam_id=1&offset=x", "exam_id=1&limit=" + "9" * 13])
def test_a_missing_or_unreadable_number_is_a_400_not_a_500(world: World, query):
    response = world.app.get(f"/api/v1/instructor_view/course_id/{C}/attempts?{query}", headers=CSTAFF, status=400)
    assert response.json["detail"]


def test_a_learner_is_refused_before_the_query_is_read(world: World):
    world.app.get(f"/api/v1/instructor_view/course_id/{C}/attempts", headers=LEARNER, status=403)


# -- 58 ----------------------------------------------------------------------------------------
def test_58_each_row_has_exactly_the_fields_the_dashboard_reads(world: World):
    attempt_id = world.start(world.exams["proctored"])
    started_at = world.now
    world.later(minutes=20, microseconds=250)
    world.act(attempt_id, "submit")
    response = listing(world, world.exams["proctored"])
    assert response == {"count": 1, "next": None, "previous": None, "results": [{
        "username": "learner", "attempt_id": attempt_id, "attempt_status": "submitted",
        "start_time": iso(started_at), "end_time": iso(world.now), "allowed_time_limit_mins": 45,
        "exam_type": "proctored", "exam_display_name": "proctored", "proctored_review": None}]}
    assert response["results"][0]["end_time"].endswith("Z")


def test_58_an_attempt_not_started_has_null_times_and_limit(world: World):
    world.create(world.exams["timed"])
    row = listing(world, world.exams["timed"])["results"][0]
    assert set(row) == ROW_KEYS
    assert (row["start_time"], row["end_time"], row["allowed_time_limit_mins"]) == (None, None, None)


def test_58_rows_come_newest_first_and_only_for_that_exam(world: World):
    ids = learners_start(world, world.exams["proctored"], 3)
    world.start(world.exams["timed"])
    assert [r["attempt_id"] for r in listing(world, world.exams["proctored"])["results"]] == ids[::-1]


def test_58_the_first_control_result_is_the_review(world: World):
    attempt_id = world.start(world.exams["proctored"])
    incident = world.now + timedelta(minutes=3)
    world.tx(lambda s: s.repos.control_results.add(ControlResult(None, attempt_id, "terminate", incident,
                                                                 Decimal("0.1"), "1")))
    world.tx(lambda s: s.repos.control_results.add(ControlResult(None, attempt_id, "terminate", incident,
                                                                 Decimal("0.9"), "2")))
    review = listing(world, world.exams["proctored"])["results"][0]["proctored_review"]
    assert review == {"submission_time": iso(incident), "severity": "0.10", "submission_reason": "Submitted by user"}


def test_58_an_unknown_reason_code_is_shown_as_it_came(world: World):
    attempt_id = world.start(world.exams["proctored"])
    world.tx(lambda s: s.repos.control_results.add(ControlResult(None, attempt_id, "terminate", world.now,
                                                                 Decimal("1"), "99")))
    review = listing(world, world.exams["proctored"])["results"][0]["proctored_review"]
    assert (review["severity"], review["submission_reason"]) == ("1.00", "99")


# -- 59 ----------------------------------------------------------------------------------------
def test_59_twelve_attempts_in_pages_of_five(world: World):
    exam_id = world.exams["proctored"]
    ids = learners_start(world, exam_id, 12)[::-1]
    base = f"http://localhost/api/v1/instructor_view/course_id/{C}/attempts?exam_id={exam_id}&limit=5"
    first = listing(world, exam_id, limit=5)
    assert (first["count"], first["next"], first["previous"]) == (12, f"{base}&offset=5", None)
    assert [r["attempt_id"] for r in first["results"]] == ids[:5]
    second = listing(world, exam_id, limit=5, offset=5)
    assert (second["next"], second["previous"]) == (f"{base}&offset=10", base)
    assert [r["attempt_id"] for r in second["results"]] == ids[5:10]
    third = listing(world, exam_id, limit=5, offset=10)
    assert (third["next"], third["previous"]) == (None, f"{base}&offset=5")
    assert [r["attempt_id"] for r in third["results"]] == ids[10:]


def test_the_next_link_follows_as_the_dashboard_would(world: World):
    exam_id = world.exams["proctored"]
    learners_start(world, exam_id, 7)
    seen, url = [], f"/api/v1/instructor_view/course_id/{C}/attempts?exam_id={exam_id}&limit=3"
    while url:
        page = world.app.get(url, headers=CSTAFF).json
        seen += [r["attempt_id"] for r in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 7


def test_the_dashboards_limit_of_a_million_returns_everything_at_once(world: World):
    learners_start(world, world.exams["proctored"], 4)
    response = listing(world, world.exams["proctored"], limit=1000000)
    assert (response["count"], len(response["results"]), response["next"]) == (4, 4, None)


def test_the_default_page_is_a_hundred(world: World):
    def seed(services):  # 101 learners in one transaction: the HTTP path is covered above
        for i in range(101):
            learner = services.users.provision(UserClaims(username=f"bulk{i}", lms_user_id=1000 + i))
            services.attempts.create(learner, world.exams["timed"], start_clock=False)
    world.tx(seed)
    response = listing(world, world.exams["timed"])
    assert (response["count"], len(response["results"])) == (101, 100)
    assert response["next"].endswith("&limit=100&offset=100")


def test_an_offset_past_the_end_is_an_empty_page(world: World):
    learners_start(world, world.exams["timed"], 2)
    response = listing(world, world.exams["timed"], limit=5, offset=10)
    assert (response["count"], response["results"], response["next"]) == (2, [], None)
    assert response["previous"].endswith("&limit=5&offset=5")


def test_other_query_parameters_are_kept_in_the_links_sorted_by_name(world: World):
    exam_id = world.exams["timed"]
    learners_start(world, exam_id, 3)
    response = listing(world, exam_id, limit=1, offset=1, zeta="z", alpha="a")
    assert response["next"].split("?")[1] == f"alpha=a&exam_id={exam_id}&limit=1&offset=2&zeta=z"
    assert response["previous"].split("?")[1] == f"alpha=a&exam_id={exam_id}&limit=1&zeta=z"
