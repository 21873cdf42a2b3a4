"""What every route shares: methods, slashes, course ids in paths, bodies, CORS, the error envelope and
the health check (edx-exams.md §5, §6.15; checklist items 7-9, 76)."""

from __future__ import annotations

import io
import json
from urllib.parse import quote

import pytest
from webtest import TestApp, TestRequest

from exams.adapters.sql import tables
from exams.app import main
from tests.conftest import app_settings, auth
from tests.functional.dbstate import rows, snapshot

C = "course-v1:edx+test+f19"
STAFF = auth("staff", user_id=1, staff=True)
LEARNER = auth("learner", user_id=10)
MFE = "http://learning.test"


def exam_item(name="a", **overrides):
    return {"content_id": f"block-v1:edx+test+f19+type@sequential+block@{name}", "exam_name": name,
            "exam_type": "timed", "time_limit_mins": 30, "due_date": None, "hide_after_due": False,
            "is_active": True, **overrides}


# -- methods ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, url, allow", [
    ("GET", "/api/v1/exams/attempt/5", "PUT, DELETE, OPTIONS"),
    ("POST", f"/api/v1/exams/course_id/{C}", "GET, PATCH, OPTIONS"),
    ("PUT", f"/api/v1/exams/course_id/{C}/", "GET, PATCH, OPTIONS"),
    ("DELETE", f"/api/v1/configs/course_id/{C}", "GET, PATCH, OPTIONS"),
    ("GET", "/api/v1/exams/attempt", "POST, OPTIONS"),
    ("POST", "/api/v1/exams/attempt/latest", "GET, OPTIONS"),
])
def test_an_unsupported_method_is_405_with_the_allowed_ones(testapp, db, method, url, allow):
    before = snapshot(db)
    response = testapp.request(url, method=method, headers=LEARNER, status=405)
    assert response.json == {"detail": f'Method "{method}" not allowed.'}
    assert response.headers["Allow"] == allow
    assert snapshot(db)["exams"] == before["exams"]


def test_credentials_are_checked_before_the_method(testapp):
    response = testapp.get("/api/v1/exams/attempt/5", status=401)
    assert response.json == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize("method, url", [("POST", "/api/v1/providers"), ("DELETE", "/api/v1/provider"),
                                         ("POST", "/health/"), ("POST", "/csrf/api/v1/token")])
def test_public_routes_answer_405_without_credentials(testapp, method, url):
    response = testapp.request(url, method=method, status=405)
    assert response.json == {"detail": f'Method "{method}" not allowed.'}
    assert "GET" in response.headers["Allow"]


def test_head_of_a_get_route_is_not_a_405(testapp, db):
    assert testapp.head("/api/v1/providers").status_int == 200


# -- slashes, as edx-exams' URL patterns match them -------------------------------------------------
@pytest.mark.parametrize("url", ["/api/v1/providers/", "/api/v1/provider/", "/api/v1/exams/attempt/latest/",
                                 "/api/v1/exams/attempt/", "/api/v1/exams/attempt/5/", "/api/v1/nothing-here",
                                 "/api/v1/exams/course_id/", "/", "/health"])
def test_paths_edx_exams_matches_exactly_are_404_with_a_trailing_slash(testapp, url):
    response = testapp.get(url, headers=STAFF, status=404)
    assert response.content_type == "application/json"
    assert response.json == {"detail": "Not found."}


def test_the_course_routes_take_an_optional_trailing_slash(testapp, db):
    testapp.patch_json(f"/api/v1/exams/course_id/{C}/", [exam_item("a")], headers=STAFF, status=200)
    with_slash = testapp.get(f"/api/v1/exams/course_id/{C}/", headers=STAFF).json
    assert with_slash == testapp.get(f"/api/v1/exams/course_id/{C}", headers=STAFF).json
    assert [e["content_id"] for e in with_slash] == [exam_item("a")["content_id"]]
    testapp.patch_json(f"/api/v1/configs/course_id/{C}/", {"provider": None, "escalation_email": None},
                       headers=STAFF, status=204)
    assert testapp.get(f"/api/v1/configs/course_id/{C}/", headers=LEARNER).json == \
        {"provider": None, "escalation_email": None}


# -- course ids in paths ----------------------------------------------------------------------------
@pytest.mark.parametrize("path_form", [C, quote(C, safe=""), "course-v1%3Aedx%2Btest%2Bf19",
                                       "course-v1:edx%2btest+f19"])
def test_a_course_id_arrives_raw_or_percent_encoded_and_plus_is_never_a_space(testapp, db, path_form):
    testapp.patch_json(f"/api/v1/exams/course_id/{path_form}/", [exam_item("a")], headers=STAFF)
    assert [r.course_id for r in rows(db, tables.exams)] == [C]
    assert [e["course_id"] for e in testapp.get(f"/api/v1/exams/course_id/{path_form}", headers=STAFF).json] == [C]
    assert testapp.get(f"/api/v1/exams/course_id/{C}", headers=STAFF).json[0]["course_id"] == C


def test_an_old_style_course_id_with_slashes_is_one_course(testapp, db):
    testapp.patch_json("/api/v1/configs/course_id/edX/DemoX/Demo_Course", {"provider": None,
                       "escalation_email": None}, headers=STAFF, status=204)
    assert [r.course_id for r in rows(db, tables.course_configs)] == ["edX/DemoX/Demo_Course"]


@pytest.mark.parametrize("course_path", [
    "course-v1:edx+test+f19%00", "course-v1:edx+test+" + "x" * 300, "course-v1:edx+te%0Ast+f19",
    "course-v1:edx+test+f19%ff", "not a course!",
])
def test_an_invalid_course_id_is_a_4xx_and_changes_nothing(testapp, db, course_path):
    before = snapshot(db)
    for method, url, body in [
        ("PATCH", f"/api/v1/exams/course_id/{course_path}", [exam_item("a")]),
        ("PATCH", f"/api/v1/configs/course_id/{course_path}", {"provider": None, "escalation_email": None}),
        ("GET", f"/api/v1/exams/course_id/{course_path}", None),
        ("GET", f"/api/v1/configs/course_id/{course_path}", None),
    ]:
        response = testapp.request(url, method=method, headers={**STAFF, "Content-Type": "application/json"},
                                   body=json.dumps(body).encode() if body is not None else b"",
                                   expect_errors=True)
        assert 400 <= response.status_int < 500, (method, url, response.status)
        assert response.json["detail"]
    assert snapshot(db)["exams"] == before["exams"]
    assert snapshot(db)["course_exam_configurations"] == []
    testapp.get(f"/api/v1/configs/course_id/{C}", headers=STAFF, status=200)


@pytest.mark.parametrize("url", ["/api/v1/providers?org=%ff", "/api/v1/exams/attempt/latest?content_id=%C3%28",
                                 f"/api/v1/configs/course_id/{C}?x=%80"])
def test_a_query_string_that_is_not_utf8_is_a_400(testapp, db, url):
    response = testapp.get(url, headers=LEARNER, status=400)
    assert response.json == {"detail": "The query string is not valid UTF-8."}
    assert snapshot(db)["users"] == []


# -- bodies -------------------------------------------------------------------------------------------
def patch_raw(testapp, url, body: bytes, content_type="application/json", **kw):
    return testapp.request(url, method="PATCH", body=body, headers={**STAFF, "Content-Type": content_type}, **kw)


@pytest.mark.parametrize("body", [
    b"[{", b"{'provider': None}", b"", b"\xff\xfe[]", b"[1,]", b"NaN-ish",
    b"[" * 60000 + b"]" * 60000,
    json.dumps([exam_item("a", exam_name="\ud800")]).encode(),
    b'[{"content_id": "a\\udfff"}]',
])
def test_a_body_that_is_not_json_the_service_can_store_is_a_400(testapp, db, body):
    testapp.patch_json(f"/api/v1/exams/course_id/{C}", [exam_item("a")], headers=STAFF)
    before = snapshot(db)
    response = patch_raw(testapp, f"/api/v1/exams/course_id/{C}", body, status=400)
    assert isinstance(response.json["detail"], str)
    assert snapshot(db) == before


def test_a_form_body_where_json_is_expected_is_a_400(testapp, db):
    response = patch_raw(testapp, f"/api/v1/configs/course_id/{C}", b"provider=&escalation_email=",
                         "application/x-www-form-urlencoded", status=400)
    assert response.json["detail"]
    assert rows(db, tables.course_configs) == []


def test_a_dict_where_a_list_is_expected_is_a_400(testapp, db):
    response = testapp.patch_json(f"/api/v1/exams/course_id/{C}", exam_item("a"), headers=STAFF, status=400)
    assert response.json == {"detail": 'Invalid data: Expected a list of items but got type "dict".', "errors": {
        "non_field_errors": ['Expected a list of items but got type "dict".']}}
    assert rows(db, tables.exams) == []


def test_a_one_megabyte_body_is_413_and_nothing_is_written(testapp, db):
    big = json.dumps([exam_item(f"x{i}", exam_name="n" * 1000) for i in range(1000)]).encode()
    assert len(big) > 1_000_000
    before = snapshot(db)
    response = patch_raw(testapp, f"/api/v1/exams/course_id/{C}", big, status=413)
    assert "larger than" in response.json["detail"]
    assert snapshot(db) == before


def test_an_unsized_chunked_body_over_the_limit_is_413(wsgi, db):
    big = b"[" + b" " * 1_000_000 + b"]"
    request = TestRequest.blank(f"/api/v1/exams/course_id/{C}", method="PATCH", headers=STAFF,
                                content_type="application/json")
    request.environ.pop("CONTENT_LENGTH", None)
    request.environ["wsgi.input"] = io.BytesIO(big)
    request.environ["wsgi.input_terminated"] = True
    response = request.get_response(wsgi)
    assert response.status_int == 413
    assert rows(db, tables.exams) == []


def test_an_unsized_chunked_body_under_the_limit_is_read(wsgi, db):
    body = json.dumps([exam_item("a")]).encode()
    request = TestRequest.blank(f"/api/v1/exams/course_id/{C}", method="PATCH", headers=STAFF,
                                content_type="application/json")
    request.environ.pop("CONTENT_LENGTH", None)
    request.environ["wsgi.input"] = io.BytesIO(body)
    request.environ["wsgi.input_terminated"] = True
    response = request.get_response(wsgi)
    assert response.status_int == 200, response.body
    assert len(rows(db, tables.exams)) == 1


def test_the_service_keeps_serving_after_bad_input(testapp, db):
    patch_raw(testapp, f"/api/v1/exams/course_id/{C}", b"[{", status=400)
    patch_raw(testapp, f"/api/v1/exams/course_id/{C}", b"x" * 1_100_000, status=413)
    testapp.patch_json(f"/api/v1/exams/course_id/{C}", [exam_item("a")], headers=STAFF, status=200)
    assert len(testapp.get(f"/api/v1/exams/course_id/{C}", headers=STAFF).json) == 1


@pytest.mark.parametrize("due_date", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00",
                                      "2025-02-30T00:00:00Z", "2025-01-01T00:00:00+25:00"])
def test_a_due_date_outside_the_calendar_is_a_400(testapp, db, due_date):
    response = testapp.patch_json(f"/api/v1/exams/course_id/{C}", [exam_item("a", due_date=due_date)],
                                  headers=STAFF, status=400)
    assert "due_date" in response.json["errors"][0]
    assert rows(db, tables.exams) == []


def test_every_error_body_is_json_with_a_detail(testapp):
    for response in [testapp.get("/nowhere", status=404), testapp.get("/api/v1/exams/attempt/latest", status=401),
                     testapp.get("/api/v1/exams/attempt/1", headers=LEARNER, status=405)]:
        assert response.content_type == "application/json"
        assert isinstance(response.json["detail"], str)


def test_responses_are_compact_json(testapp):
    assert testapp.get("/health/").body == \
        b'{"overall_status":"OK","detailed_status":{"database_status":"OK"}}'


# -- CORS for the MFEs ----------------------------------------------------------------------------
def preflight(testapp, origin, method="PATCH", headers="content-type, use-jwt-cookie, x-csrftoken", **kw):
    return testapp.options(f"/api/v1/configs/course_id/{C}", headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}, **kw)


def test_a_preflight_from_a_configured_origin_allows_credentials_and_the_edx_headers(testapp, db):
    response = preflight(testapp, MFE)
    assert response.status_int == 200
    assert response.headers["Access-Control-Allow-Origin"] == MFE
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    allowed_headers = {h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"use-jwt-cookie", "x-csrftoken", "content-type", "authorization"} <= allowed_headers
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    assert "Origin" in response.headers["Vary"]
    assert snapshot(db)["users"] == []


def test_a_preflight_from_another_origin_gets_no_cors_headers(testapp):
    response = preflight(testapp, "http://evil.test", status=403)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_credentialed_response_names_a_configured_origin_only(testapp):
    ok = testapp.get(f"/api/v1/configs/course_id/{C}", headers={**LEARNER, "Origin": "http://dashboard.test"})
    assert ok.headers["Access-Control-Allow-Origin"] == "http://dashboard.test"
    assert ok.headers["Access-Control-Allow-Credentials"] == "true"
    other = testapp.get(f"/api/v1/configs/course_id/{C}", headers={**LEARNER, "Origin": "http://evil.test"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Credentials" not in other.headers
    assert "Origin" in other.headers["Vary"]
    assert "Access-Control-Allow-Origin" not in testapp.get("/api/v1/providers").headers


def test_error_responses_carry_cors_headers_so_the_mfe_can_read_them(testapp):
    for response in [
        testapp.get(f"/api/v1/configs/course_id/{C}", headers={"Origin": MFE}, status=401),
        testapp.request(f"/api/v1/exams/course_id/{C}", method="PATCH", body=b"x" * 1_100_000,
                        headers={**STAFF, "Origin": MFE, "Content-Type": "application/json"}, status=413),
    ]:
        assert response.headers["Access-Control-Allow-Origin"] == MFE
        assert response.headers["Access-Control-Allow-Credentials"] == "true"


def test_a_plain_options_request_is_not_a_preflight(testapp):
    response = testapp.options(f"/api/v1/configs/course_id/{C}", headers={**LEARNER}, expect_errors=True)
    assert response.status_int in (200, 204, 405)
    assert "Access-Control-Allow-Origin" not in response.headers


# -- health -------------------------------------------------------------------------------------------
def test_health_reports_ok_when_the_database_answers(testapp):
    assert testapp.get("/health/").json == {"overall_status": "OK", "detailed_status": {"database_status": "OK"}}


def test_health_is_503_when_the_database_is_down():
    down = TestApp(main({}, **app_settings("postgresql+psycopg://exams@127.0.0.1:1/exams?connect_timeout=2")))
    response = down.get("/health/", status=503)
    assert response.json["overall_status"] == "UNAVAILABLE"
    assert response.json["detailed_status"] == {"database_status": "UNAVAILABLE"}
    assert response.json["detail"]
    # The public provider list needs the database too: a JSON error, never an HTML page.
    failed = down.get("/api/v1/providers", expect_errors=True)
    assert failed.status_int >= 500
    assert failed.json["detail"]


def test_a_form_body_in_another_charset_is_refused_without_a_500(testapp):
    from tests.conftest import auth

    response = testapp.post("/api/v1/exams/attempt", b"exam_id=1&start_clock=false",
                            headers={**auth("latin"), "Content-Type": "application/x-www-form-urlencoded; charset=latin-1"},
                            status=400)
    assert "UTF-8" in response.json["detail"]
