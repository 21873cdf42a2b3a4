from tests.conftest import auth


def test_health_reports_the_database_ok(testapp):
    assert testapp.get("/health/").json == {"overall_status": "OK", "detailed_status": {"database_status": "OK"}}


def test_a_learner_creates_starts_and_submits_a_timed_attempt(testapp):
    staff = auth("staff", staff=True, user_id=1)
    course = "course-v1:edx+test+f19"
    testapp.patch_json(f"/api/v1/exams/course_id/{course}/", [
        {"content_id": "block-v1:edx+test+f19+type@sequential+block@1", "exam_name": "Midterm",
         "exam_type": "timed", "time_limit_mins": 30, "due_date": None, "hide_after_due": False, "is_active": True},
    ], headers=staff)
    exams = testapp.get(f"/api/v1/exams/course_id/{course}", headers=staff).json
    exam_id = exams[0]["id"]
    learner = auth("alice", user_id=7)
    created = testapp.post_json("/api/v1/exams/attempt", {"exam_id": exam_id, "start_clock": "true"}, headers=learner)
    attempt_id = created.json["exam_attempt_id"]
    latest = testapp.get("/api/v1/exams/attempt/latest", headers=learner).json
    assert latest["attempt_status"] == "started"
    assert 1790 < latest["time_remaining_seconds"] <= 1800
    testapp.put_json(f"/api/v1/exams/attempt/{attempt_id}", {"action": "submit"}, headers=learner)
    view = testapp.get(f"/api/v1/student/exam/attempt/course_id/{course}/content_id/"
                       "block-v1:edx+test+f19+type@sequential+block@1", headers=learner).json
    assert view["exam"]["attempt"]["attempt_status"] == "submitted"
    assert view["exam"]["total_time"] == 30
