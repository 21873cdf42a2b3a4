"""Tweens: credentialed CORS for the MFE origins, and a cap on request bodies (and an undecodable query)."""

from __future__ import annotations

import json

from pyramid.response import Response

from .runtime import RUNTIME

ALLOWED_HEADERS = "accept, authorization, content-type, use-jwt-cookie, x-csrftoken, x-requested-with"
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


def cors_tween_factory(handler, registry):
    origins = frozenset(registry.settings[RUNTIME].settings["exams.cors.origins"])

    def cors_tween(request):
        origin = request.headers.get("Origin")
        allowed = origin in origins
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response = Response(status=200 if allowed else 403)
            if allowed:
                response.headers.update({
                    "Access-Control-Allow-Methods": ALLOWED_METHODS,
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": "86400",
                })
        else:
            response = handler(request)
        headers = response.headerlist  # appended to directly: no view sets these (and WebOb's setter scans the list)
        if allowed:
            headers.append(("Access-Control-Allow-Origin", origin))
            headers.append(("Access-Control-Allow-Credentials", "true"))
        if any(name.lower() == "vary" for name, _ in headers):
            response.vary = tuple(sorted(set(response.vary or ()) | {"Origin"}))
        else:
            headers.append(("Vary", "Origin"))
        return response

    return cors_tween


def body_limit_tween_factory(handler, registry):
    limit = registry.settings[RUNTIME].settings["exams.max_body_bytes"]

    def too_large():
        return Response(status=413, content_type="application/json",
                        body=json.dumps({"detail": f"Request body larger than {limit} bytes."}).encode())

    def body_limit_tween(request):
        try:
            request.GET  # decoded once here, so that no view meets an undecodable query string
        except UnicodeDecodeError:
            return Response(status=400, content_type="application/json",
                            body=json.dumps({"detail": "The query string is not valid UTF-8."}).encode())
        length = request.content_length
        if length is not None and length > limit:
            return too_large()
        if length is None and request.method in ("POST", "PUT", "PATCH", "DELETE") and request.is_body_readable:
            # Chunked or unsized body: read at most one byte past the limit.
            data = request.body_file.read(limit + 1)
            if len(data) > limit:
                return too_large()
            request.body = data
        return handler(request)

    return body_limit_tween
