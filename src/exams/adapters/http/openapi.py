"""The OpenAPI 3.1 description of every route, served at /api/schema and browsable at /api-docs/.

This module is the one place the HTTP contract is written down. Each operation names the Pyramid
route it describes (``x-route``); tests/functional/test_openapi.py holds the document against the
route table (a route or method without a description fails it), checks every response of the
functional tests against it, and fuzzes the API from it with schemathesis.

To describe a new route: add an ``op(...)`` to ``OPERATIONS`` below with the route's name, the
OpenAPI path (``{name}`` for each path value, with an ``example`` that the route matches), the
method, its parameters, request body and every status it answers.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from functools import lru_cache

from pyramid.response import Response

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
HTML = "text/html"
FORM = "application/x-www-form-urlencoded"

# -- components -----------------------------------------------------------------------------------------
NULLABLE_STRING = {"type": ["string", "null"]}
DATE_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
MAX_ID = 2**31 - 1

SCHEMAS: dict[str, dict] = {
    "Error": {
        "type": "object", "required": ["detail"],
        "description": "Every error body: a human ``detail`` (the frontends show it), often a machine ``code``.",
        "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    },
    "ValidationError": {
        "type": "object", "required": ["detail", "errors"],
        "description": "A refused list or object: ``detail`` names the first fields; ``errors`` has one entry "
                       "per list item (``{}`` for a valid one) or per field.",
        "properties": {
            "detail": {"type": "string"},
            "errors": {"anyOf": [
                {"type": "array", "items": {"$ref": "#/components/schemas/FieldErrors"}},
                {"$ref": "#/components/schemas/FieldErrors"}]},
        },
    },
    "FieldErrors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    "ConfigError": {
        "type": "object", "required": ["detail"],
        "description": "A refused course configuration: ``detail`` and, as Django REST framework writes them, "
                       "the messages of each field at the top level.",
        "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
    },
    "TokenError": {
        "type": "object", "required": ["error", "error_description", "detail"],
        "description": "RFC 6749 §5.2.",
        "properties": {"error": {"type": "string", "enum": [
            "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
            "invalid_scope"]}, "error_description": {"type": "string"}, "detail": {"type": "string"}},
    },
    "Exam": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "exam_name", "course_id", "content_id", "time_limit_mins", "due_date", "exam_type",
                     "hide_after_due", "is_active"],
        "properties": {
            "id": {"type": "integer"}, "exam_name": {"type": "string"}, "course_id": {"type": "string"},
            "content_id": {"type": "string"}, "time_limit_mins": {"type": "integer", "minimum": 0},
            "due_date": DATE_TIME_OR_NULL, "exam_type": {"$ref": "#/components/schemas/ExamType"},
            "hide_after_due": {"type": "boolean"}, "is_active": {"type": "boolean"},
        },
    },
    "ExamType": {"type": "string", "enum": ["proctored", "timed", "practice", "onboarding"]},
    "AttemptStatus": {"type": "string", "enum": [
        "created", "download_software_clicked", "ready_to_start", "started", "ready_to_submit", "timed_out",
        "submitted", "verified", "rejected", "expired", "second_review_required", "error"]},
    "ExamItem": {
        "type": "object", "description": "One exam of a course as Studio registers it.",
        "required": ["content_id", "exam_name", "time_limit_mins", "exam_type", "hide_after_due", "is_active"],
        "properties": {
            "content_id": {"type": "string", "minLength": 1, "maxLength": 255},
            "exam_name": {"type": "string", "minLength": 1},
            "time_limit_mins": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
            "due_date": {"type": ["string", "null"], "format": "date-time"},
            "exam_type": {"$ref": "#/components/schemas/ExamType"},
            "hide_after_due": {"type": "boolean"}, "is_active": {"type": "boolean"},
        },
    },
    "StudentAttempt": {
        "type": "object", "additionalProperties": False,
        "required": ["attempt_id", "attempt_status", "course_id", "exam_type", "exam_display_name", "exam_url_path",
                     "time_remaining_seconds"],
        "properties": {
            "attempt_id": {"type": "integer"}, "attempt_status": {"$ref": "#/components/schemas/AttemptStatus"},
            "course_id": {"type": "string"}, "exam_type": {"$ref": "#/components/schemas/ExamType"},
            "exam_display_name": {"type": "string"}, "exam_url_path": {"type": "string"},
            "time_remaining_seconds": {"type": "number", "minimum": 0},
        },
    },
    "EmptyObject": {"type": "object", "maxProperties": 0},
    "LearnerExam": {
        "type": "object", "additionalProperties": False, "required": ["exam"],
        "properties": {"exam": {"anyOf": [
            {"$ref": "#/components/schemas/EmptyObject"},
            {"allOf": [{"$ref": "#/components/schemas/ExamFields"}], "type": "object",
             "required": ["type", "is_proctored", "is_practice_exam", "backend", "passed_due_date", "total_time",
                          "attempt"],
             "properties": {
                 "type": {"$ref": "#/components/schemas/ExamType"}, "is_proctored": {"type": "boolean"},
                 "is_practice_exam": {"type": "boolean"}, "backend": NULLABLE_STRING,
                 "passed_due_date": {"type": "boolean"}, "total_time": {"type": "integer"},
                 "attempt": {"anyOf": [{"$ref": "#/components/schemas/EmptyObject"},
                                       {"$ref": "#/components/schemas/StudentAttempt"}]}}},
        ]}},
    },
    "ExamFields": {
        "type": "object",
        "required": ["id", "exam_name", "course_id", "content_id", "time_limit_mins", "due_date", "exam_type",
                     "hide_after_due", "is_active"],
        "properties": {
            "id": {"type": "integer"}, "exam_name": {"type": "string"}, "course_id": {"type": "string"},
            "content_id": {"type": "string"}, "time_limit_mins": {"type": "integer"}, "due_date": DATE_TIME_OR_NULL,
            "hide_after_due": {"type": "boolean"}, "is_active": {"type": "boolean"},
        },
    },
    "ProviderSettings": {
        "type": "object", "additionalProperties": False, "required": ["proctoring_escalation_email"],
        "properties": {
            "provider_tech_support_email": NULLABLE_STRING, "provider_tech_support_phone": NULLABLE_STRING,
            "provider_tech_support_url": NULLABLE_STRING, "provider_name": {"type": "string"},
            "proctoring_escalation_email": NULLABLE_STRING,
        },
    },
    "AccessToken": {
        "type": "object", "additionalProperties": False,
        "required": ["exam_access_token", "exam_access_token_expiration"],
        "properties": {"exam_access_token": {"type": "string"},
                       "exam_access_token_expiration": {"type": "number", "exclusiveMinimum": 0, "maximum": 60}},
    },
    "AttemptId": {"type": "object", "additionalProperties": False, "required": ["exam_attempt_id"],
                  "properties": {"exam_attempt_id": {"type": "integer"}}},
    "InstructorAttempt": {
        "type": "object", "additionalProperties": False,
        "required": ["username", "attempt_id", "attempt_status", "start_time", "end_time", "allowed_time_limit_mins",
                     "exam_type", "exam_display_name", "proctored_review"],
        "properties": {
            "username": {"type": "string"}, "attempt_id": {"type": "integer"},
            "attempt_status": {"$ref": "#/components/schemas/AttemptStatus"},
            "start_time": DATE_TIME_OR_NULL, "end_time": DATE_TIME_OR_NULL,
            "allowed_time_limit_mins": {"type": ["integer", "null"]},
            "exam_type": {"$ref": "#/components/schemas/ExamType"}, "exam_display_name": {"type": "string"},
            "proctored_review": {"anyOf": [{"type": "null"}, {
                "type": "object", "additionalProperties": False,
                "required": ["submission_time", "severity", "submission_reason"],
                "properties": {"submission_time": {"type": "string", "format": "date-time"},
                               "severity": {"type": "string"}, "submission_reason": {"type": "string"}}}]},
        },
    },
    "InstructorAttemptsPage": {
        "type": "object", "additionalProperties": False, "required": ["count", "next", "previous", "results"],
        "properties": {
            "count": {"type": "integer", "minimum": 0}, "next": NULLABLE_STRING, "previous": NULLABLE_STRING,
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/InstructorAttempt"}},
        },
    },
    "Allowance": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "exam_id", "user_id", "extra_time_mins", "username", "exam_name", "email"],
        "properties": {
            "id": {"type": "integer"}, "exam_id": {"type": "integer"}, "user_id": {"type": "integer"},
            "extra_time_mins": {"type": "integer", "minimum": 0}, "username": {"type": "string"},
            "exam_name": {"type": "string"}, "email": NULLABLE_STRING,
        },
    },
    "AllowanceItem": {
        "type": "object", "required": ["exam_id", "extra_time_mins"],
        "description": "``username`` or ``email`` names the learner. A fractional ``extra_time_mins`` (the "
                       "dashboard's time multiplier) is rounded up to whole minutes.",
        "properties": {
            "exam_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "username": {"type": ["string", "null"], "maxLength": 150},
            "email": {"type": ["string", "null"], "maxLength": 254},
            "extra_time_mins": {"type": "number", "minimum": 0, "maximum": 100000},
        },
    },
    "Provider": {
        "type": "object", "additionalProperties": False, "required": ["name", "verbose_name", "lti_configuration_id"],
        "properties": {"name": {"type": "string"}, "verbose_name": {"type": "string"},
                       "lti_configuration_id": NULLABLE_STRING},
    },
    "CourseConfig": {
        "type": "object", "additionalProperties": False, "required": ["provider", "escalation_email"],
        "properties": {"provider": NULLABLE_STRING, "escalation_email": NULLABLE_STRING},
    },
    "Health": {
        "type": "object", "required": ["overall_status", "detailed_status"],
        "properties": {
            "overall_status": {"type": "string", "enum": ["OK", "UNAVAILABLE"]},
            "detailed_status": {"type": "object", "required": ["database_status"],
                                "properties": {"database_status": {"type": "string", "enum": ["OK", "UNAVAILABLE"]}}},
            "detail": {"type": "string"},
        },
    },
    "ServiceToken": {
        "type": "object", "required": ["access_token", "token_type", "expires_in", "scope"],
        "properties": {"access_token": {"type": "string"}, "token_type": {"type": "string", "pattern": "^[Bb]earer$"},
                       "expires_in": {"type": "integer"}, "scope": {"type": "string"}},
    },
    "ControlMessage": {
        "type": "object", "required": ["user", "resource_link", "attempt_number", "action"],
        "description": "An LTI Proctoring Services Assessment Control message. ``terminate`` also needs "
                       "reason_code, incident_time and incident_severity.",
        "properties": {
            "user": {"type": "object", "required": ["sub"],
                     "properties": {"sub": {"type": "string", "format": "uuid"}, "iss": {"type": "string"}}},
            "resource_link": {"type": "object", "required": ["id"],
                              "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 255}}},
            "attempt_number": {"type": ["integer", "string"]},
            "action": {"type": "string", "enum": ["terminate", "flag"]},
            "incident_time": {"type": "string", "format": "date-time"},
            "incident_severity": {"type": ["number", "string"]},
            "reason_code": {"type": ["string", "integer"]},
            "reason_msg": {"type": "string"},
        },
    },
    "Readiness": {"type": "object", "required": ["status", "checks"], "properties": {
        "status": {"type": "string", "enum": ["ready", "unavailable"]},
        "checks": {"type": "object", "additionalProperties": {"type": "string", "enum": ["OK", "UNAVAILABLE"]}},
    }},
    "Jwks": {"type": "object", "required": ["keys"],
             "properties": {"keys": {"type": "array", "items": {"type": "object", "required": ["kty"]}}}},
}

SECURITY_SCHEMES = {
    "lmsJwt": {"type": "apiKey", "in": "header", "name": "Authorization",
               "description": "``JWT <token>``: an LMS-issued JWT (HS256 with the shared secret, or RS256/RS512 "
                              "from the LMS keyset); exp, nbf and iat are checked with a 1 s leeway."},
    "lmsJwtCookie": {"type": "apiKey", "in": "cookie", "name": "edx-jwt-cookie-header-payload",
                     "description": "The LMS's split JWT cookies (with edx-jwt-cookie-signature); unsafe methods "
                                    "also need the X-CSRFToken header equal to the edx_exams_csrftoken cookie."},
    "serviceToken": {"type": "http", "scheme": "bearer",
                     "description": "An access token from this registration's token endpoint (scope: the "
                                    "LTI Assessment Control scope)."},
}
USER_AUTH = [{"lmsJwt": []}, {"lmsJwtCookie": []}]


# The operators' console serves HTML pages to people (docs/console.md); it is not part of the JSON API, so its
# routes (and its static files) are deliberately left out of this document.
def _console_routes() -> frozenset[str]:
    from .console import CONSOLE_ROUTES

    return frozenset(name for name, _ in CONSOLE_ROUTES) | {"__console/static/"}


NOT_DESCRIBED = _console_routes()


# -- building blocks ---------------------------------------------------------------------------------------
def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(description: str, schema: dict | None = None, headers: dict | None = None) -> dict:
    out = {"description": description, "content": {JSON: {"schema": schema or ref("Error")}}}
    if headers:
        out["headers"] = headers
    return out


def html_response(description: str) -> dict:
    return {"description": description, "content": {HTML: {"schema": {"type": "string"}}}}


def empty(description: str) -> dict:
    return {"description": description}


def redirect(description: str, status_headers: str = "Location") -> dict:
    return {"description": description, "headers": {status_headers: {"schema": {"type": "string"}}}}


ERROR_TEXT = {
    400: "Bad input (body, path, query string or a rule of the domain); nothing changed.",
    401: "No credentials, or credentials that are not valid now.",
    403: "Not allowed to do this.",
    404: "No such thing (or no such route).",
    413: "Request body larger than exams.max_body_bytes.",
    415: "Unsupported media type.",
}


def errors(*statuses: int) -> dict:
    return {str(s): json_response(ERROR_TEXT[s]) for s in statuses}


def path_param(name: str, schema: dict, example, description: str = "") -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema, "example": example,
            "description": description}


def query_param(name: str, schema: dict, description: str = "", example=None) -> dict:
    out = {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
    if example is not None:
        out["example"] = example
    return out


COURSE_ID = path_param(
    "course_id", {"type": "string", "pattern": r"^course-v1:[A-Za-z0-9_.-]+\+[A-Za-z0-9_.-]+\+[A-Za-z0-9_.-]+$",
                  "maxLength": 255}, "course-v1:edx+test+f19",
    "A course key (``course-v1:org+course+run``; old ``org/course/run`` keys are accepted too).")
CONTENT_ID = path_param(
    "content_id", {"type": "string", "pattern": r"^block-v1:[A-Za-z0-9_.+@-]+$", "maxLength": 255},
    "block-v1:edx+test+f19+type@sequential+block@exam1", "The usage key of the exam's subsection.")


def id_param(name: str, what: str) -> dict:
    return path_param(name, {"type": "integer", "minimum": 1, "maximum": MAX_ID}, 1, f"The {what}'s id.")


def json_body(schema: dict, description: str = "", *, form: bool = False) -> dict:
    content = {JSON: {"schema": schema}}
    if form:
        content[FORM] = {"schema": schema}
    return {"required": True, "description": description, "content": content}


FORWARDED = {"default": {
    "description": "For a course this service does not run (no configuration, or no provider) and when forwarding "
                   "to edx-proctoring in the LMS is configured: the LMS's status and JSON body, as edx-exams "
                   "forwards them; 502 or 503 with a detail when the LMS cannot answer.",
    "content": {JSON: {"schema": {}}}}}


def FORWARDED_OR(schema: dict) -> dict:  # noqa: N802 (reads as a schema)
    """A 200 body that is ours, or edx-proctoring's when the course is forwarded to the LMS."""
    return {"anyOf": [schema, {"type": "object", "description": "Forwarded from edx-proctoring in the LMS."}]}


def op(route: str, method: str, path: str, summary: str, *, tag: str, responses: dict, params=(), body=None,
       security=None, description: str = "", operation_id: str | None = None) -> dict:
    # Old-style course keys ("org/course/run") hold slashes, so a path can reach another route, one that
    # may not answer this method: every operation can be a 405.
    # A path value outside its route's pattern reaches no route: every operation can be a 404.
    responses = {"404": json_response("No route matches the path (or no such thing)."), **responses,
                 "405": json_response("The path reaches a route that does not answer this method.")}
    operation = {
        "x-route": route, "operationId": operation_id or f"{route}_{method.lower()}", "summary": summary,
        "tags": [tag], "responses": responses,
    }
    if description:
        operation["description"] = description
    if params:
        operation["parameters"] = list(params)
    if body is not None:
        operation["requestBody"] = body
    if security is not None:
        operation["security"] = security
    return {"path": path, "method": method.lower(), "operation": operation}


LEARNER, INSTRUCTOR, STUDIO, LTI, VENDOR, SERVICE = (
    "Learner (special exams)", "Instructor (exams dashboard)", "Studio", "LTI launches", "Proctoring vendor",
    "Service")

# -- every operation ----------------------------------------------------------------------------------------
OPERATIONS = [
    # Studio
    op("course_exams", "GET", "/api/v1/exams/course_id/{course_id}", "The active exams of a course",
       tag=STUDIO, params=[COURSE_ID], security=USER_AUTH,
       responses={"200": json_response("The active exams.", {"type": "array", "items": ref("Exam")}),
                  **errors(400, 401, 403),
                  "404": json_response("The course is not run by this service (edx-exams answers ``[]``).",
                                       {"anyOf": [ref("Error"), {"type": "array", "maxItems": 0}]}),
                  **FORWARDED}),
    op("course_exams", "PATCH", "/api/v1/exams/course_id/{course_id}",
       "Register the exams of a course (Studio, on publish)", tag=STUDIO, params=[COURSE_ID], security=USER_AUTH,
       description="Exams missing from the list become inactive; a changed exam type makes a new exam row.",
       body=json_body({"type": "array", "items": ref("ExamItem")}),
       responses={"200": json_response("Registered.", ref("EmptyObject")),
                  "400": json_response(ERROR_TEXT[400], {"anyOf": [ref("ValidationError"), ref("Error")]}),
                  **errors(401, 403, 413), **FORWARDED}),
    op("course_config", "GET", "/api/v1/configs/course_id/{course_id}", "A course's proctoring configuration",
       tag=STUDIO, params=[COURSE_ID], security=USER_AUTH,
       responses={"200": json_response("The provider and escalation email (nulls when unconfigured).",
                                       ref("CourseConfig")), **errors(400, 401, 403)}),
    op("course_config", "PATCH", "/api/v1/configs/course_id/{course_id}", "Configure a course's proctoring",
       tag=STUDIO, params=[COURSE_ID], security=USER_AUTH,
       body=json_body({"type": "object", "required": ["provider", "escalation_email"],
                       "properties": {"provider": NULLABLE_STRING,
                                      "escalation_email": {"type": ["string", "null"], "format": "email"}}}),
       responses={"204": empty("Configured; a provider change moves the course's active exams to it."),
                  "400": json_response(ERROR_TEXT[400], {"anyOf": [ref("ConfigError"), ref("Error")]}),
                  **errors(401, 403, 413)}),
    op("providers", "GET", "/api/v1/providers", "The proctoring providers", tag=STUDIO,
       params=[query_param("org", {"type": "string"}, "Only providers for this organisation (or for all).")],
       security=[], responses={"200": json_response("Providers.", {"type": "array", "items": ref("Provider")}),
                               **errors(400)}),
    op("providers", "GET", "/api/v1/provider", "The proctoring providers (singular URL, as edx-exams has it)",
       tag=STUDIO, operation_id="providers_get_singular", security=[],
       params=[query_param("org", {"type": "string"}, "Only providers for this organisation (or for all).")],
       responses={"200": json_response("Providers.", {"type": "array", "items": ref("Provider")}),
                  **errors(400)}),
    # Learner
    op("attempts", "POST", "/api/v1/exams/attempt", "Create the learner's attempt at an exam", tag=LEARNER,
       security=USER_AUTH,
       body=json_body({"type": "object", "required": ["exam_id"], "properties": {
           "exam_id": {"type": ["integer", "string"]},
           "start_clock": {"type": ["boolean", "string"], "enum": [True, False, "true", "false"]}}}, form=True),
       responses={"200": json_response("Created.", ref("AttemptId")), **errors(400, 401, 403, 413)}),
    op("attempt", "PUT", "/api/v1/exams/attempt/{attempt_id}", "Act on an attempt", tag=LEARNER,
       params=[id_param("attempt_id", "attempt")], security=USER_AUTH,
       description="The owner: start, stop, submit, click_download_software, error. Course staff: verify, "
                   "reject. See docs/states.md.",
       body=json_body({"type": "object", "required": ["action"], "properties": {"action": {"type": "string", "enum": [
           "start", "stop", "submit", "click_download_software", "error", "verify", "reject"]}}}, form=True),
       responses={"200": json_response("Done.", ref("AttemptId")), **errors(400, 401, 403, 404, 413)}),
    op("attempt", "DELETE", "/api/v1/exams/attempt/{attempt_id}", "Reset (delete) an attempt", tag=LEARNER,
       params=[id_param("attempt_id", "attempt")], security=USER_AUTH,
       responses={"204": empty("Deleted."), **errors(400, 401, 403, 404)}),
    op("latest_attempt", "GET", "/api/v1/exams/attempt/latest", "The learner's active (or latest) attempt",
       tag=LEARNER, security=USER_AUTH,
       params=[query_param("content_id", {"type": "string"}, "The latest attempt at this exam instead.")],
       responses={"200": json_response("The attempt, ``{}`` when there is none, or edx-proctoring's active "
                                       "attempt when forwarding is configured.",
                                       {"anyOf": [ref("StudentAttempt"), ref("EmptyObject"), {"type": "object"}]}),
                  **errors(400, 401, 403)}),
    op("student_exam", "GET", "/api/v1/student/exam/attempt/course_id/{course_id}/content_id/{content_id}",
       "An exam as the learner sees it, with their attempt", tag=LEARNER, params=[COURSE_ID, CONTENT_ID],
       security=USER_AUTH,
       responses={"200": json_response("``{\"exam\": {}}`` for an unknown exam.", FORWARDED_OR(ref("LearnerExam"))),
                  **errors(400, 401, 403), **FORWARDED}),
    op("provider_settings", "GET", "/api/v1/exam/provider_settings/course_id/{course_id}/exam_id/{exam_id}",
       "The provider's support contacts for an exam", tag=LEARNER, params=[COURSE_ID, id_param("exam_id", "exam")],
       security=USER_AUTH,
       responses={"200": json_response("Contacts.", FORWARDED_OR(ref("ProviderSettings"))), **errors(400, 401, 403),
                  **FORWARDED}),
    op("onboarding", "GET", "/api/v1/student/course_id/{course_id}/onboarding", "Onboarding status", tag=LEARNER,
       params=[COURSE_ID, query_param("username", {"type": "string"})], security=USER_AUTH,
       responses={**errors(400, 401, 403),
                  "404": json_response("Onboarding exams are not run by this service."), **FORWARDED}),
    op("access_token", "GET", "/api/v1/access_tokens/exam_id/{exam_id}", "An exam access token for the LMS",
       tag=LEARNER, params=[id_param("exam_id", "exam")], security=USER_AUTH,
       responses={"200": json_response("A short-lived RS512 JWT.", ref("AccessToken")),
                  **errors(400, 401, 403, 404)}),
    # Instructor
    op("instructor_attempts", "GET", "/api/v1/instructor_view/course_id/{course_id}/attempts",
       "The attempts at an exam, newest first, paginated", tag=INSTRUCTOR, security=USER_AUTH,
       params=[COURSE_ID,
               query_param("exam_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "Required.", 1),
               query_param("limit", {"type": "integer", "minimum": 1}, "Page size (100)."),
               query_param("offset", {"type": "integer", "minimum": 0})],
       responses={"200": json_response("A page.", ref("InstructorAttemptsPage")), **errors(400, 401, 403, 404)}),
    op("allowances", "GET", "/api/v1/exams/course_id/{course_id}/allowances", "The allowances of a course",
       tag=INSTRUCTOR, params=[COURSE_ID], security=USER_AUTH,
       responses={"200": json_response("Allowances.", {"type": "array", "items": ref("Allowance")}),
                  **errors(400, 401, 403)}),
    op("allowances", "POST", "/api/v1/exams/course_id/{course_id}/allowances", "Grant or update allowances",
       tag=INSTRUCTOR, params=[COURSE_ID], security=USER_AUTH,
       body=json_body({"type": "array", "items": ref("AllowanceItem")}),
       responses={"200": empty("Granted (all or nothing)."),
                  "400": json_response(ERROR_TEXT[400], {"anyOf": [ref("ValidationError"), ref("Error")]}),
                  **errors(401, 403, 404, 413)}),
    op("allowance", "DELETE", "/api/v1/exams/course_id/{course_id}/allowances/{allowance_id}",
       "Revoke an allowance", tag=INSTRUCTOR, params=[COURSE_ID, id_param("allowance_id", "allowance")],
       security=USER_AUTH, responses={"204": empty("Revoked."), **errors(400, 401, 403, 404)}),
    # LTI launches (browser navigations with the LMS JWT cookie)
    op("lti_start_proctoring", "GET", "/lti/start_proctoring/{attempt_id}", "Start proctoring (LtiStartProctoring)",
       tag=LTI, params=[id_param("attempt_id", "attempt")], security=USER_AUTH,
       responses={"302": redirect("To the tool's login initiation URL."), **errors(400, 401, 403, 404)}),
    op("lti_end_assessment", "GET", "/lti/end_assessment/{attempt_id}", "End the assessment (LtiEndAssessment)",
       tag=LTI, params=[id_param("attempt_id", "attempt")], security=USER_AUTH,
       description="Submits the attempt. An attempt that never started can be ended, but a vendor's review "
                   "then makes it ``error`` and staff cannot verify it (docs/states.md).",
       responses={"302": redirect("To the tool's login (LtiEndAssessment) or back to the exam."),
                  **errors(400, 401, 403, 404)}),
    op("lti_instructor_tool", "GET", "/lti/exam/{exam_id}/instructor_tool", "The tool's instructor dashboard",
       tag=LTI, params=[id_param("exam_id", "exam")], security=USER_AUTH,
       responses={"302": redirect("To the tool's login initiation URL."), **errors(400, 401, 403, 404)}),
    op("lti_roster", "GET", "/lti/exam/{exam_id}/instructor_tool/roster", "The exam's roster for the tool",
       tag=LTI, params=[id_param("exam_id", "exam")], security=USER_AUTH,
       responses={"200": json_response("``[anonymous_user_id, username]`` pairs.", {
           "type": "array", "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}}),
           **errors(400, 401, 403, 404)}),
    op("lti_authenticate", "GET", "/lti/lti_consumer/v1/launch/", "OIDC authentication request (the tool's login)",
       tag=LTI, security=[],
       params=[query_param(name, {"type": "string"}) for name in (
           "client_id", "redirect_uri", "scope", "response_type", "response_mode", "prompt", "login_hint",
           "lti_message_hint", "state", "nonce")],
       responses={"200": html_response("An auto-submitting form posting the id_token to the tool."),
                  **{str(s): html_response("The launch is refused (a short page saying why).")
                     for s in (400, 401, 403, 404)}}),
    op("lti_authenticate", "POST", "/lti/lti_consumer/v1/launch/", "OIDC authentication request (form post)",
       tag=LTI, security=[],
       body={"required": False, "content": {FORM: {"schema": {"type": "object", "properties": {
           name: {"type": "string"} for name in ("client_id", "redirect_uri", "scope", "response_type",
                                                 "response_mode", "prompt", "login_hint", "lti_message_hint",
                                                 "state", "nonce")}}}}},
       responses={"200": html_response("An auto-submitting form posting the id_token to the tool."),
                  **{str(s): html_response("The launch is refused (a short page saying why).")
                     for s in (400, 401, 403, 404)}, **errors(413)}),
    op("lti_start_assessment", "POST", "/lti/lti_consumer/v1/start_proctoring_assessment",
       "The tool's LtiStartAssessment message", tag=LTI, security=[],
       body={"required": True, "content": {FORM: {"schema": {
           "type": "object", "required": ["JWT"], "properties": {"JWT": {"type": "string"}}}}}},
       responses={"303": redirect("Back to the exam; the attempt is ready_to_start."),
                  **{str(s): html_response("The message is refused (a short page saying why).")
                     for s in (400, 401, 403, 404)}, **errors(413)}),
    op("lti_jwks", "GET", "/lti/lti_consumer/v1/public_keysets/{registration_id}",
       "A registration's public keyset", tag=LTI, security=[],
       params=[path_param("registration_id", {"type": "string", "pattern": "^[^/]+$"}, "1")],
       responses={"200": json_response("The keyset tools verify id_tokens with.", ref("Jwks")), **errors(404)}),
    op("browser_lock", "GET", "/browser_lock/", "The page the proctoring extension takes over", tag=LTI,
       security=[], responses={"200": html_response("A static page.")}),
    # Vendor
    op("lti_token", "POST", "/lti/lti_consumer/v1/token/{registration_id}",
       "Service token (client_credentials with a signed client assertion)", tag=VENDOR, security=[],
       params=[path_param("registration_id", {"type": "string", "pattern": "^[^/]+$"}, "1")],
       body={"required": True, "content": {FORM: {"schema": {"type": "object", "properties": {
           "grant_type": {"type": "string"}, "client_assertion_type": {"type": "string"},
           "client_assertion": {"type": "string"}, "scope": {"type": "string"}}}}}},
       responses={"200": json_response("An access token.", ref("ServiceToken")),
                  "400": json_response("RFC 6749 error.", ref("TokenError")),
                  "401": json_response("invalid_client.", ref("TokenError")),
                  "404": json_response(ERROR_TEXT[404]), **errors(413)}),
    op("lti_acs", "POST", "/lti/{registration_id}/acs", "Assessment Control Service", tag=VENDOR,
       params=[path_param("registration_id", {"type": "string", "pattern": "^[^/]+$"}, "1")],
       security=[{"serviceToken": []}],
       body={"required": True, "content": {
           JSON: {"schema": ref("ControlMessage")},
           "application/vnd.ims.lti-ap.v1.control+json": {"schema": ref("ControlMessage")}}},
       responses={"200": json_response("Applied (or a replay).", {
           "type": "object", "required": ["status"], "properties": {"status": {"const": "terminated"}}}),
                  **errors(400, 401, 403, 404, 413, 415)}),
    # Service
    op("health", "GET", "/health/", "Liveness and database health", tag=SERVICE, security=[],
       responses={"200": json_response("Healthy.", ref("Health")),
                  "503": json_response("The database is unavailable.", ref("Health"))}),
    op("health_ready", "GET", "/health/ready", "Readiness: the database, and Redis when the event bus is on",
       tag=SERVICE, security=[],
       responses={"200": json_response("Ready to serve.", ref("Readiness")),
                  "503": json_response("A dependency is unavailable.", ref("Readiness"))}),
    op("metrics", "GET", "/metrics", "Prometheus metrics (only with exams.metrics.enabled; keep it off the "
       "public routes)", tag=SERVICE, security=[],
       responses={"200": {"description": "The Prometheus text exposition format.",
                          "content": {"text/plain": {"schema": {"type": "string"}}}}}),
    op("csrf_token", "GET", "/csrf/api/v1/token", "A CSRF token (also set as the edx_exams_csrftoken cookie)",
       tag=SERVICE, security=[],
       responses={"200": json_response("The token.", {"type": "object", "required": ["csrfToken"],
                                                      "properties": {"csrfToken": {"type": "string"}}})}),
    op("api_schema", "GET", "/api/schema", "This description (OpenAPI 3.1, JSON)", tag=SERVICE, security=[],
       responses={"200": json_response("The OpenAPI document.", {"type": "object", "required": ["openapi"]})}),
    op("api_docs", "GET", "/api-docs/", "This description, browsable (Swagger UI)", tag=SERVICE, security=[],
       responses={"200": html_response("The Swagger UI page.")}),
    op("api_docs_assets", "GET", "/api-docs/assets/{asset}", "Swagger UI's files (served here, no CDN)",
       tag=SERVICE, security=[],
       params=[path_param("asset", {"type": "string", "pattern": "^[A-Za-z0-9._-]+$"}, "swagger-ui.css")],
       responses={"200": {"description": "The file.", "content": {
           media: {"schema": {"type": "string"}} for media in ("text/css", "application/javascript", "image/png")}},
                  **errors(404)}),
]


@lru_cache(maxsize=1)
def _document() -> str:
    paths: dict[str, dict] = {}
    for entry in OPERATIONS:
        paths.setdefault(entry["path"], {})[entry["method"]] = entry["operation"]
    doc = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "exams",
            "version": "1",
            "description": (
                "An exam and proctoring service for Open edX, a drop-in replacement for edx-exams. "
                "Every error body is JSON with a human ``detail`` (except the browser-facing LTI pages, which "
                "answer a short HTML page). Paths that edx-exams matched with or without a trailing slash "
                "accept both; a method a route does not answer is a 405 with an Allow header. A 5xx (a dependency "
                "that is down) is JSON with a detail too."),
        },
        "tags": [{"name": t} for t in (LEARNER, INSTRUCTOR, STUDIO, LTI, VENDOR, SERVICE)],
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES},
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def document() -> dict:
    """A fresh copy of the OpenAPI document."""
    return copy.deepcopy(json.loads(_document()))


# -- serving -----------------------------------------------------------------------------------------------
ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png",
          "favicon-16x16.png")
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>exams API</title>
<link rel="stylesheet" href="assets/swagger-ui.css">
<link rel="icon" type="image/png" href="assets/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="assets/swagger-ui-bundle.js"></script>
<script src="assets/swagger-ui-standalone-preset.js"></script>
<script src="assets/init.js"></script>
</body>
</html>
"""
INIT_JS = """window.onload = function () {
  window.ui = SwaggerUIBundle({url: "../api/schema", dom_id: "#swagger-ui", deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});
};
"""
CONTENT_TYPES = {".css": "text/css", ".js": "application/javascript", ".png": "image/png"}


def assets_dir() -> str | None:
    """Swagger UI's files, from the swagger-ui-py package (found without importing it)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "static")


def includeme(config) -> None:
    from . import method_not_allowed

    for name, pattern, view in (("api_schema", "/api/schema", schema_view), ("api_docs", "/api-docs/", docs_view),
                                ("api_docs_assets", "/api-docs/assets/{asset}", asset_view)):
        config.add_route(name, pattern)
        config.add_view(view, route_name=name, request_method="GET")
        config.add_view(method_not_allowed(("GET",)), route_name=name)


def schema_view(request):
    response = Response(body=_document().encode("utf-8"), content_type=JSON, charset="utf-8")
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def docs_view(request):
    response = Response(DOCS_PAGE, content_type=HTML, charset="utf-8")
    response.headers.update({
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
        "X-Content-Type-Options": "nosniff"})
    return response


def asset_view(request):
    from .errors import ApiError

    name = request.matchdict["asset"]
    if name == "init.js":
        return Response(INIT_JS, content_type="application/javascript", charset="utf-8")
    folder = assets_dir()
    if name not in ASSETS or folder is None:
        raise ApiError(404, {"detail": "Not found."})
    with open(os.path.join(folder, name), "rb") as fh:
        body = fh.read()
    media = CONTENT_TYPES[os.path.splitext(name)[1]]
    response = Response(body=body, content_type=media, charset="utf-8" if media != "image/png" else None)
    response.headers.update({"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})
    return response
