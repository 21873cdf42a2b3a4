"""Every response the tests get from the app is checked against the OpenAPI description (test-only).

``install()`` wraps WebTest's ``TestApp.do_request``: the request is matched to a Pyramid route the way the
router matches it, the route and method name the described operation (``x-route``), and the response must
have a declared status, a declared media type and a body valid against the declared JSON schema. A method
the operation does not have must be refused (405, or 401 first for a route that needs credentials), with a
JSON error. Nothing of this runs in the application itself.
"""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator
from pyramid.interfaces import IRoutesMapper

from exams.adapters.http.openapi import document

ERROR_STATUSES_ANY_ROUTE = {400, 413}  # the body-limit tween (too large, undecodable query string)


class ResponseMismatch(AssertionError):
    pass


class Description:
    def __init__(self, doc: dict | None = None):
        self.doc = doc or document()
        self.operations: dict[tuple[str, str], dict] = {}
        for path, item in self.doc["paths"].items():
            for method, operation in item.items():
                self.operations.setdefault((operation["x-route"], method.upper()), operation)
        self._validators: dict[str, Draft202012Validator] = {}

    def validator(self, schema: dict) -> Draft202012Validator:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            root = {"allOf": [schema], "components": self.doc["components"]}
            self._validators[key] = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
        return self._validators[key]

    def error_validator(self) -> Draft202012Validator:
        return self.validator({"$ref": "#/components/schemas/Error"})

    # -- the check ----------------------------------------------------------------------------------------
    def check(self, registry, method: str, path: str, status: int, content_type: str | None, body: bytes) -> None:
        route = match_route(registry, path)
        if method == "OPTIONS":
            return  # CORS preflight, answered by the CORS tween before any route
        head = method == "HEAD"
        if head:
            method = "GET"
        where = f"{method} {path} -> {status}"
        if route is None:
            if status not in (400, 404):
                raise ResponseMismatch(f"{where}: no route matches, yet the status is not 404")
            self._json_error(where, content_type, body)
            return
        operation = self.operations.get((route, method))
        if operation is None:
            if not any(name == route for name, _ in self.operations):
                raise ResponseMismatch(f"{where}: route {route!r} has no description in the OpenAPI document")
            if status not in (405, 401, *ERROR_STATUSES_ANY_ROUTE):
                raise ResponseMismatch(f"{where}: {method} is not described for route {route!r}, yet not refused")
            self._json_error(where, content_type, body)
            return
        responses = operation["responses"]
        declared = responses.get(str(status)) or responses.get("default")
        if declared is None:
            if status in ERROR_STATUSES_ANY_ROUTE or status >= 500:  # 5xx: the fuzzer finds them; here, JSON
                self._json_error(where, content_type, body)
                return
            raise ResponseMismatch(f"{where}: status {status} is not declared for {operation['operationId']} "
                                   f"(declared: {', '.join(responses)})")
        content = declared.get("content")
        if head or (not body and declared is responses.get("default")):
            return  # no body to check (a forwarded answer may have none)
        if not content:
            if body and not 300 <= status < 400:
                raise ResponseMismatch(f"{where}: {operation['operationId']} declares no body, got {body[:80]!r}")
            return
        media = (content_type or "").split(";")[0].strip()
        if media not in content:
            raise ResponseMismatch(f"{where}: media type {media!r} not declared ({', '.join(content)})")
        schema = content[media].get("schema")
        if media.endswith("json") and schema is not None:
            try:
                value = json.loads(body)
            except ValueError:
                raise ResponseMismatch(f"{where}: body is not JSON: {body[:80]!r}") from None
            self._validate(where, schema, value)

    def _json_error(self, where: str, content_type: str | None, body: bytes) -> None:
        if (content_type or "").split(";")[0] != "application/json":
            raise ResponseMismatch(f"{where}: an error answered with {content_type!r}, not JSON with a detail")
        self._validate(where, {"$ref": "#/components/schemas/Error"}, json.loads(body))

    def _validate(self, where: str, schema: dict, value) -> None:
        found = sorted(self.validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
        if found:
            first = found[0]
            raise ResponseMismatch(f"{where}: body does not match its declared schema at "
                                   f"{'/'.join(map(str, first.absolute_path)) or '(root)'}: {first.message}\n"
                                   f"body: {json.dumps(value)[:500]}")


def match_route(registry, path: str) -> str | None:
    """The name of the route Pyramid's router would pick for ``path`` (routes have no other predicates)."""
    mapper = registry.queryUtility(IRoutesMapper)
    for route in mapper.get_routes():
        if route.match(path) is not None:
            return route.name
    return None


def decoded_path(environ) -> str:
    return environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")


_description: Description | None = None


def description() -> Description:
    global _description
    if _description is None:
        _description = Description()
    return _description


def install():
    """Check every TestApp response against the description; returns the function that undoes it."""
    from webtest.app import TestApp

    original = TestApp.do_request

    def do_request(self, req, status=None, expect_errors=None):
        response = original(self, req, status, expect_errors)
        registry = getattr(self.app, "registry", None)
        if registry is not None and getattr(registry, "exams_settings", None) is not None:
            description().check(registry, req.method, decoded_path(req.environ), response.status_int,
                                response.headers.get("Content-Type"), response.body)
        return response

    TestApp.do_request = do_request

    def undo():
        TestApp.do_request = original

    return undo
