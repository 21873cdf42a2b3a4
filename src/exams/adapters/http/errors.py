"""The one place where errors become HTTP responses. Every error body is JSON with a ``detail``."""

from __future__ import annotations

import json
import logging

import colander
from pyramid.exceptions import URLDecodeError
from pyramid.httpexceptions import HTTPException, HTTPMethodNotAllowed
from pyramid.view import exception_view_config, notfound_view_config

from exams.domain.errors import DomainError, Forbidden, NotFound, Rejected
from exams.domain.users import NOT_PERMITTED

log = logging.getLogger(__name__)

NOT_AUTHENTICATED = "Authentication credentials were not provided."
# Responses that carry a credential or a one-time form must not be kept by any cache.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def compact_json(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class ApiError(Exception):
    """A response decided by a view: a status and a JSON body (the shapes edx-exams clients know)."""

    def __init__(self, status: int, body=None, headers: dict | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def bad_request(detail: str, **extra) -> ApiError:
    return ApiError(400, {"detail": detail, **extra})


def unauthenticated(detail: str = NOT_AUTHENTICATED) -> ApiError:
    return ApiError(401, {"detail": detail}, {"WWW-Authenticate": 'JWT realm="api"'})


def forbidden(detail: str = NOT_PERMITTED) -> ApiError:
    return ApiError(403, {"detail": detail})


def _not_allowed(request) -> dict:
    return {"detail": f'Method "{request.method}" not allowed.'}


def method_not_allowed(methods: tuple[str, ...], *, with_options: bool = True, check=None):
    """The view a route falls back to for any other method: a 405 naming the allowed ones.

    ``check(request)`` runs first (the API checks credentials before the method, as Django REST
    framework does); ``with_options`` lists OPTIONS too (routes that answer CORS preflights).
    """
    allow = ", ".join((*methods, "OPTIONS") if with_options else methods)

    def view(request):
        if check is not None:
            check(request)
        raise ApiError(405, _not_allowed(request), {"Allow": allow})

    return view


def describe_errors(errors) -> str:
    """A human ``detail`` naming the fields (the exams dashboard shows only ``detail``):
    ``Invalid data: item 2, extra_time_mins: A valid integer is required.``"""
    parts: list[str] = []

    def add(prefix: str, fields: dict) -> None:
        for field, messages in fields.items():
            text = " ".join(messages) if isinstance(messages, list) else str(messages)
            name = "" if field == "non_field_errors" else f"{field}: "
            parts.append(f"{prefix}{name}{text}")

    if isinstance(errors, dict):
        add("", errors)
    elif isinstance(errors, list):
        for index, item in enumerate(errors, start=1):
            if item:
                add(f"item {index}, ", item)
    shown = "; ".join(parts[:3]) + ("; ..." if len(parts) > 3 else "")
    return f"Invalid data: {shown}" if shown else "Invalid data"


def invalid_data(errors) -> ApiError:
    return ApiError(400, {"detail": describe_errors(errors), "errors": errors})


def colander_errors(exc: colander.Invalid) -> dict:
    """``{"field": ["message", ...]}`` from a colander error tree (DRF's serializer error shape)."""
    out: dict[str, list[str]] = {}
    for path, message in exc.asdict().items():
        field = path.split(".")[-1] if path else "non_field_errors"
        out.setdefault(field, []).append(message)
    return out


_STATUS = ((NotFound, 404), (Forbidden, 403), (Rejected, 400))


def status_for(exc: DomainError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 400


def _json(request, status: int, body, headers=None):
    response = request.response
    response.status_int = status
    if headers:
        response.headers.update(headers)
    if body is None:
        response.content_type = None
        response.body = b""
        return response
    response.content_type = "application/json"
    response.charset = "utf-8"
    response.body = compact_json(body)
    return response


@exception_view_config(ApiError)
def api_error(exc, request):
    return _json(request, exc.status, exc.body, exc.headers)


@exception_view_config(DomainError)
def domain_error(exc, request):
    return _json(request, status_for(exc), {"detail": exc.detail, "code": exc.code})


@exception_view_config(colander.Invalid)
def validation_error(exc, request):
    """A body a view validated with a colander schema: DRF's shape (the fields beside ``detail``), with a
    human ``detail`` naming the fields."""
    errors = colander_errors(exc)
    return _json(request, 400, {"detail": describe_errors(errors), **errors})


@notfound_view_config()
def not_found(exc, request):
    return _json(request, 404, {"detail": "Not found."})


@exception_view_config(HTTPMethodNotAllowed)
def method_not_allowed_error(exc, request):
    return _json(request, 405, _not_allowed(request))


@exception_view_config(HTTPException)
def http_exception(exc, request):
    if exc.status_int < 400:
        return exc
    return _json(request, exc.status_int, {"detail": exc.explanation or exc.title})


@exception_view_config(URLDecodeError)
def undecodable_url(exc, request):
    return _json(request, 400, {"detail": "The URL path is not valid UTF-8."})


@exception_view_config(Exception)
def server_error(exc, request):
    # The raw PATH_INFO: decoding it is one of the things that can have failed.
    log.exception("unhandled error on %s %r", request.method, request.environ.get("PATH_INFO"))
    return _json(request, 500, {"detail": "Internal server error."})
