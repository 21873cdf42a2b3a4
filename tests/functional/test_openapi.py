"""The OpenAPI description (src/exams/adapters/http/openapi.py) against the application's route table.

A route, or a method of a route, without a description fails here: to describe it, add an ``op(...)`` to
``OPERATIONS`` naming the route (``x-route``), with the OpenAPI path, parameters (path values with an
``example`` the route matches), request body and every status it answers.
"""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from exams.adapters.http.openapi import NOT_DESCRIBED, OPERATIONS, document
from tests.openapi_check import Description, ResponseMismatch, match_route


def route_table(registry) -> dict[str, set[str]]:
    """Every route of the app and the methods its views answer (the 405 fallback answers none)."""
    table: dict[str, set[str]] = {}
    for entry in registry.introspector.get_category("routes"):
        name = entry["introspectable"]["name"]
        methods: set[str] = set()
        for view in entry["related"]:
            if view.category_name != "views":
                continue
            declared = view["request_methods"]
            if declared:
                methods |= {declared} if isinstance(declared, str) else set(declared)
            elif getattr(view["callable"], "__name__", "") != "view":  # a view for any method (the 405 fallbacks are "view")
                methods.add("*")
        table[name] = methods
    return table


def test_the_document_is_valid_openapi_3_1():
    doc = document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def undescribed(registry) -> list[str]:
    described = {(entry["operation"]["x-route"], entry["method"].upper()) for entry in OPERATIONS}
    missing = []
    for route, methods in route_table(registry).items():
        if route in NOT_DESCRIBED:  # the console's HTML pages (docs/console.md), not part of the API
            continue
        if not methods:
            missing.append(f"{route}: no view answers any method")
        for method in methods:
            if method == "*":  # a view for every method (e.g. static files): at least one method described
                if not any(name == route for name, _ in described):
                    missing.append(f"{route} (any method)")
            elif method != "HEAD" and (route, method) not in described:
                missing.append(f"{route} {method}")
    return missing


def test_every_route_and_method_of_the_app_is_described(wsgi):
    missing = undescribed(wsgi.registry)
    assert not missing, "routes without an OpenAPI description (exams.adapters.http.openapi.OPERATIONS):\n" + \
        "\n".join(missing)


def test_a_route_added_without_a_description_fails_the_route_table_check(monkeypatch, tmp_path):
    from pyramid.config import Configurator

    from exams.app import main
    from tests.conftest import app_settings

    def views(config):
        config.add_route("undescribed", "/undescribed")
        config.add_view(lambda request: {}, route_name="undescribed", request_method="GET", renderer="json")

    original = Configurator.make_wsgi_app
    monkeypatch.setattr(Configurator, "make_wsgi_app", lambda self: (views(self), original(self))[1])
    app = main({}, **app_settings(f"sqlite:///{tmp_path / 'x.db'}"))
    assert undescribed(app.registry) == ["undescribed GET"]  # the real app's routes, plus this one


def test_every_description_names_a_route_and_method_the_app_has(wsgi):
    table = route_table(wsgi.registry)
    stale = [f"{e['operation']['operationId']}: {e['operation']['x-route']} {e['method'].upper()}"
             for e in OPERATIONS if e["method"].upper() not in table.get(e["operation"]["x-route"], set())]
    assert not stale


def example_path(entry) -> str:
    values = {p["name"]: str(p["example"]) for p in entry["operation"].get("parameters", []) if p["in"] == "path"}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], entry["path"])


@pytest.mark.parametrize("entry", OPERATIONS, ids=lambda e: e["operation"]["operationId"])
def test_each_described_path_reaches_the_route_it_names(wsgi, entry):
    assert match_route(wsgi.registry, example_path(entry)) == entry["operation"]["x-route"]


def test_operation_ids_are_unique_and_every_operation_declares_its_errors():
    ids = [e["operation"]["operationId"] for e in OPERATIONS]
    assert len(ids) == len(set(ids))
    for entry in OPERATIONS:
        responses = entry["operation"]["responses"]
        assert any(s.startswith(("2", "3")) or s == "default" for s in responses), entry["operation"]["operationId"]
        if entry["operation"].get("security"):
            assert "401" in responses, f"{entry['operation']['operationId']} needs credentials but declares no 401"


def test_the_description_is_served_at_api_schema(testapp):
    response = testapp.get("/api/schema", status=200)
    assert response.content_type == "application/json"
    assert response.json == document()
    testapp.post("/api/schema", status=405)


def test_the_browsable_description_and_its_assets_are_served_by_the_app(testapp):
    page = testapp.get("/api-docs/", status=200)
    assert page.content_type == "text/html"
    for asset in re.findall(r'(?:src|href)="(assets/[^"]+)"', page.text):
        assert testapp.get(f"/api-docs/{asset}", status=200).body
    assert "http" not in re.sub(r"<!DOCTYPE html>", "", page.text)  # nothing from another host
    testapp.get("/api-docs/assets/..%2Fsetup.py", status=404)
    testapp.get("/api-docs/assets/index.html", status=404)


# -- the response checker itself --------------------------------------------------------------------------
def test_the_checker_refuses_a_response_outside_its_declared_shape(wsgi):
    checker = Description()
    good = b'{"exam_attempt_id": 3}'
    checker.check(wsgi.registry, "POST", "/api/v1/exams/attempt", 200, "application/json", good)
    with pytest.raises(ResponseMismatch, match="exam_attempt_id"):
        checker.check(wsgi.registry, "POST", "/api/v1/exams/attempt", 200, "application/json",
                      b'{"exam_attempt_id": "3"}')
    with pytest.raises(ResponseMismatch, match="not declared"):
        checker.check(wsgi.registry, "POST", "/api/v1/exams/attempt", 202, "application/json", good)
    with pytest.raises(ResponseMismatch, match="media type"):
        checker.check(wsgi.registry, "POST", "/api/v1/exams/attempt", 200, "text/html", b"<p>")
    with pytest.raises(ResponseMismatch, match="detail"):
        checker.check(wsgi.registry, "POST", "/api/v1/exams/attempt", 400, "application/json", b"{}")
    with pytest.raises(ResponseMismatch, match="not refused"):
        checker.check(wsgi.registry, "GET", "/api/v1/exams/attempt", 200, "application/json", good)


def test_a_route_missing_from_the_description_fails_the_checker(wsgi):
    doc = document()
    del doc["paths"]["/health/"]
    with pytest.raises(ResponseMismatch, match="no description"):
        Description(doc).check(wsgi.registry, "GET", "/health/", 200, "application/json", b"{}")
