"""Extra-time allowances as the exams dashboard manages them (edx-exams.md §6.14, §12 62-64)."""

from __future__ import annotations

import pytest

from tests.conftest import auth
from tests.functional.attempt_world import C, CSTAFF, LEARNER, OTHER, STAFF, World, setup_course

EDX = auth("edx", user_id=20, email="edx@example.com")


@pytest.fixture
def world(testapp, wsgi, clock):
    world, world.exams = setup_course(testapp, wsgi, clock, proctored={"exam_type": "proctored", "minutes": 60},
                                      timed={"exam_type": "timed", "minutes": 30})
    world.other_exam = world.register({"name": "foreign", "exam_type": "timed"}, course=OTHER)["foreign"]
    for headers in (LEARNER, EDX):  # learners exist here once they have called the service
        world.latest(headers=headers)
    return world


def url(course: str = C) -> str:
    return f"/api/v1/exams/course_id/{course}/allowances"


def grant(world: World, items, headers=CSTAFF, status=200, course: str = C):
    return world.app.post_json(url(course), items, headers=headers, status=status)


def stored(world: World, course: str = C) -> list[tuple]:
    return sorted((a["username"], a["exam_id"], a["extra_time_mins"])
                  for a in world.app.get(url(course), headers=STAFF).json)


# -- 62 ----------------------------------------------------------------------------------------
def test_62_allowances_need_credentials(world: World):
    response = world.app.get(url(), status=401)
    assert response.json == {"detail": "Authentication credentials were not provided."}
    world.app.post_json(url(), [], status=401)
    world.app.delete(f"{url()}/1", status=401)


def test_62_learners_may_not_see_or_grant_allowances(world: World):
    world.app.get(url(), headers=LEARNER, status=403)
    grant(world, [{"exam_id": world.exams["timed"], "username": "learner", "extra_time_mins": 5}], headers=LEARNER,
          status=403)
    assert stored(world) == []


def test_62_a_course_without_allowances_lists_none(world: World):
    response = world.app.get(url(), headers=CSTAFF)
    assert response.json == [] and response.body == b"[]"


def test_62_the_list_has_exactly_the_dashboards_fields_and_only_this_course(world: World):
    grant(world, [{"exam_id": world.exams["proctored"], "username": "learner", "extra_time_mins": 15}])
    world.add_course_staff("cstaff", course=OTHER)
    grant(world, [{"exam_id": world.other_exam, "username": "learner", "extra_time_mins": 5}], course=OTHER)
    allowances = world.app.get(url(), headers=CSTAFF).json
    assert allowances == [{"id": allowances[0]["id"], "exam_id": world.exams["proctored"],
                           "user_id": world.user_id("learner"), "extra_time_mins": 15, "username": "learner",
                           "exam_name": "proctored", "email": "learner@example.com"}]


def test_62_allowances_of_an_exam_replaced_by_studio_stay_listed(world: World):
    grant(world, [{"exam_id": world.exams["proctored"], "username": "learner", "extra_time_mins": 15}])
    world.register({"name": "proctored", "exam_type": "timed"})
    assert stored(world) == [("learner", world.exams["proctored"], 15)]


# -- 63 ----------------------------------------------------------------------------------------
def test_63_the_dashboards_bulk_grant_by_username_and_email_upserts(world: World):
    grant(world, [{"exam_id": world.exams["proctored"], "username": "learner", "extra_time_mins": 10}])
    response = grant(world, [
        {"exam_id": world.exams["proctored"], "username": "learner", "extra_time_mins": 45},
        {"exam_id": world.exams["timed"], "username": "learner", "extra_time_mins": 45},
        {"exam_id": world.exams["proctored"], "email": "edx@example.com", "extra_time_mins": 45},
        {"exam_id": world.exams["timed"], "email": "edx@example.com", "extra_time_mins": 45},
    ])
    assert response.status_int == 200 and response.body == b""
    assert stored(world) == [("edx", world.exams["proctored"], 45), ("edx", world.exams["timed"], 45),
                             ("learner", world.exams["proctored"], 45), ("learner", world.exams["timed"], 45)]


def test_63_the_same_learner_named_twice_in_a_batch_gets_the_last_value(world: World):
    grant(world, [{"exam_id": world.exams["timed"], "username": "edx", "extra_time_mins": 30},
                  {"exam_id": world.exams["timed"], "email": "edx@example.com", "extra_time_mins": 15}])
    assert stored(world) == [("edx", world.exams["timed"], 15)]


def test_63_an_empty_list_grants_nothing(world: World):
    assert grant(world, []).body == b""
    assert stored(world) == []


@pytest.mark.parametrize("item, field, message", [
    ({"extra_time_mins": "yyyy"}, "extra_time_mins", "A valid integer is required."),
    ({"extra_time_mins": -5}, "extra_time_mins", "Must be from 0 to 100000 minutes."),
    ({"extra_time_mins": 10**12}, "extra_time_mins", "Must be from 0 to 100000 minutes."),
    ({"extra_time_mins": "1e3"}, "extra_time_mins", "A valid integer is required."),
    ({"extra_time_mins": 100000.5}, "extra_time_mins", "Must be from 0 to 100000 minutes."),
    ({"extra_time_mins": None}, "extra_time_mins", "This field is required."),
    ({"exam_id": "abc"}, "exam_id", "A valid integer is required."),
    ({"exam_id": True}, "exam_id", "A valid integer is required."),
    ({"username": None}, "username", "username or email must be provided"),
    ({"username": 7}, "username", "Not a valid string."),
])
def test_63_an_invalid_item_is_named_and_nothing_is_written(world: World, item, field, message):
    good = {"exam_id": world.exams["timed"], "username": "learner", "extra_time_mins": 10}
    response = grant(world, [good, {**good, **item}], status=400)
    # The dashboard shows only the detail: it names the item and the field.
    assert response.json == {"detail": f"Invalid data: item 2, {field}: {message}", "errors": [{}, {field: [message]}]}
    assert stored(world) == []


@pytest.mark.parametrize("body", [{"exam_id": 1}, "text", 5, None])
def test_63_a_body_that_is_not_a_list_is_a_400(world: World, body):
    response = grant(world, body, status=400)
    assert response.json["detail"] == "Invalid data: Expected a list of items."


@pytest.mark.parametrize("raw", [b"", b"{nope", b"[", b"\xff"])
def test_63_a_missing_or_broken_body_is_a_400(world: World, raw):
    response = world.app.post(url(), raw, headers={**CSTAFF, "Content-Type": "application/json"}, status=400)
    assert response.json["detail"]


def test_63_an_item_that_is_not_an_object_is_named(world: World):
    response = grant(world, [[1, 2]], status=400)
    assert response.json["errors"] == [{"non_field_errors": ["Invalid data. Expected a dictionary."]}]


@pytest.mark.parametrize("who", [{"username": "nobody"}, {"email": "nobody@example.com"}])
def test_63_an_unknown_learner_is_refused_and_nothing_is_written(world: World, who):
    response = grant(world, [{"exam_id": world.exams["timed"], "username": "learner", "extra_time_mins": 10},
                             {"exam_id": world.exams["timed"], **who, "extra_time_mins": 10}], status=400)
    assert response.json["detail"] == "Learner with username/email not found"
    assert stored(world) == []


@pytest.mark.parametrize("exam", ["other course", "missing"])
def test_63_an_exam_of_another_course_in_the_batch_writes_nothing(world: World, exam):
    exam_id = world.other_exam if exam == "other course" else 424242
    response = grant(world, [{"exam_id": world.exams["timed"], "username": "learner", "extra_time_mins": 10},
                             {"exam_id": exam_id, "username": "learner", "extra_time_mins": 10}], status=400)
    assert response.json["detail"] == "Exam does not exist"
    assert stored(world) == [] and stored(world, course=OTHER) == []


def test_63_a_granted_allowance_changes_the_learners_total_time(world: World):
    grant(world, [{"exam_id": world.exams["timed"], "username": "learner", "extra_time_mins": 20}])
    assert world.learner_exam("timed")["exam"]["total_time"] == 50


# -- 64 ----------------------------------------------------------------------------------------
def test_64_revoking_an_allowance_removes_it(world: World):
    grant(world, [{"exam_id": world.exams["timed"], "username": "learner", "extra_time_mins": 20},
                  {"exam_id": world.exams["timed"], "username": "edx", "extra_time_mins": 20}])
    allowance_id = world.app.get(url(), headers=CSTAFF).json[0]["id"]
    response = world.app.delete(f"{url()}/{allowance_id}", headers=CSTAFF, status=204)
    assert response.body == b""
    assert allowance_id not in [a["id"] for a in world.app.get(url(), headers=CSTAFF).json]
    assert len(stored(world)) == 1


def test_64_an_unknown_allowance_is_a_404(world: World):
    response = world.app.delete(f"{url()}/424242", headers=CSTAFF, status=404)
    assert response.json["detail"] == "Allowance with id=424242 does not exist."


def test_64_another_courses_allowance_is_a_404_and_stays(world: World):
    world.add_course_staff("cstaff", course=OTHER)
    grant(world, [{"exam_id": world.other_exam, "username": "learner", "extra_time_mins": 5}], course=OTHER)
    allowance_id = world.app.get(url(OTHER), headers=CSTAFF).json[0]["id"]
    world.app.delete(f"{url()}/{allowance_id}", headers=CSTAFF, status=404)
    assert stored(world, course=OTHER) == [("learner", world.other_exam, 5)]


def test_64_learners_may_not_revoke(world: World):
    grant(world, [{"exam_id": world.exams["timed"], "username": "learner", "extra_time_mins": 20}])
    allowance_id = world.app.get(url(), headers=CSTAFF).json[0]["id"]
    world.app.delete(f"{url()}/{allowance_id}", headers=LEARNER, status=403)
    assert len(stored(world)) == 1


@pytest.mark.parametrize("path, status", [("abc", 404), ("9" * 11, 400), (str(2**31), 400)])
def test_64_an_allowance_id_that_is_not_ours_is_a_4xx(world: World, path, status):
    world.app.delete(f"{url()}/{path}", headers=CSTAFF, status=status)
