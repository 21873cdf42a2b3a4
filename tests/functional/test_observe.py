"""Operability over HTTP: request ids, /metrics, /health/ready, JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from tests.conftest import app_settings, auth


def test_a_sane_request_id_is_echoed(testapp):
    response = testapp.get("/health/", headers={"X-Request-ID": "lb-7f3a.42"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.42"


@pytest.mark.parametrize("given", [None, "", "x" * 129, "has space", "new\u00e9line"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(testapp, given):
    headers = {"X-Request-ID": given} if given is not None else {}
    first = testapp.get("/health/", headers=headers).headers["X-Request-ID"]
    second = testapp.get("/health/", headers=headers).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


def test_error_answers_carry_the_request_id_too(testapp):
    response = testapp.get("/api/v1/exams/attempt/latest", headers={"X-Request-ID": "abc"}, status=401)
    assert response.headers["X-Request-ID"] == "abc"


def test_json_log_lines_carry_the_request_id_of_the_request_being_served():
    from pyramid.request import Request
    from pyramid.response import Response

    from exams.adapters.http.observe import request_id_tween_factory
    from exams.logs import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("exams.test.observe")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def view(request):
        logger.info("inside", extra={"n": 1})
        return Response("ok")

    try:
        response = request_id_tween_factory(view, None)(Request.blank("/", headers={"X-Request-ID": "req-123"}))
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    assert response.headers["X-Request-ID"] == "req-123"
    inside, outside = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert inside["request_id"] == "req-123" and inside["message"] == "inside" and inside["n"] == 1
    assert inside["level"] == "INFO" and inside["logger"] == "exams.test.observe" and inside["time"].endswith("Z")
    assert "request_id" not in outside


def metric(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_count_requests_by_route_and_status_with_latency(testapp):
    before = metric(testapp.get("/metrics").text, "exams_http_requests_total", route="health", method="GET",
                    status="200") or 0
    testapp.get("/health/")
    testapp.get("/health/")
    testapp.get("/no/such/page", status=404)
    text = testapp.get("/metrics").text
    assert metric(text, "exams_http_requests_total", route="health", method="GET", status="200") == before + 2
    assert metric(text, "exams_http_requests_total", route="unmatched", method="GET", status="404") >= 1
    assert metric(text, "exams_http_request_duration_seconds_count", route="health", status="200") >= 2
    assert metric(text, "exams_http_request_duration_seconds_bucket", route="health", status="200", le="+Inf") >= 2


def test_metrics_count_attempt_moves_and_read_the_outboxes(testapp):
    text = testapp.get("/metrics").text
    started = metric(text, "exams_attempt_status_changes_total", status="started") or 0
    submitted = metric(text, "exams_attempt_status_changes_total", status="submitted") or 0
    staff = auth("staff", staff=True, user_id=1)
    course = "course-v1:edx+metrics+1"
    testapp.patch_json(f"/api/v1/exams/course_id/{course}/", [
        {"content_id": "block-v1:edx+metrics+1+type@sequential+block@1", "exam_name": "Quiz", "exam_type": "timed",
         "time_limit_mins": 10, "due_date": None, "hide_after_due": False, "is_active": True}], headers=staff)
    exam_id = testapp.get(f"/api/v1/exams/course_id/{course}", headers=staff).json[0]["id"]
    learner = auth("bob", user_id=8)
    attempt = testapp.post_json("/api/v1/exams/attempt", {"exam_id": exam_id, "start_clock": "true"},
                                headers=learner).json["exam_attempt_id"]
    testapp.put_json(f"/api/v1/exams/attempt/{attempt}", {"action": "submit"}, headers=learner)
    text = testapp.get("/metrics").text
    assert metric(text, "exams_attempt_status_changes_total", status="started") == started + 1
    assert metric(text, "exams_attempt_status_changes_total", status="submitted") == submitted + 1
    assert metric(text, "exams_status_up") == 1
    for name in ("exams_event_outbox_unpublished", "exams_event_outbox_oldest_unpublished_age_seconds",
                 "exams_event_outbox_dead", "exams_event_relay_active", "exams_mail_outbox_pending",
                 "exams_mail_outbox_failed", "exams_role_events_dead"):
        assert metric(text, name) is not None, name


def test_readiness_reports_the_database(testapp):
    assert testapp.get("/health/ready").json == {"status": "ready", "checks": {"database": "OK"}}
    down = build_app("postgresql+psycopg://exams@127.0.0.1:1/exams?connect_timeout=2")
    response = down.get("/health/ready", status=503)
    assert response.json == {"status": "unavailable", "checks": {"database": "UNAVAILABLE"}}


def build_app(database_url, **overrides):
    from webtest import TestApp

    from exams.app import main

    return TestApp(main({}, **app_settings(database_url, **overrides)))


def test_readiness_reports_an_unreachable_event_bus(database_url, db):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = build_app(database_url, **{"exams.event_bus.backend": "redis",
                                     "exams.event_bus.redis_url": f"redis://127.0.0.1:{port}/0"})
    response = app.get("/health/ready", status=503)
    assert response.json == {"status": "unavailable", "checks": {"database": "OK", "event_bus": "UNAVAILABLE"}}
    assert app.get("/health/").status_int == 200  # liveness does not depend on the bus


def test_metrics_can_be_turned_off(database_url, db):
    app = build_app(database_url, **{"exams.metrics.enabled": "false"})
    app.get("/metrics", status=404)
