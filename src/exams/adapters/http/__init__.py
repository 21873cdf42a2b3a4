"""The HTTP adapter: routes, request validation, thin views and the error envelope (Pyramid)."""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.interfaces import IRequestExtensions, IRequestFactory
from pyramid.renderers import JSON
from pyramid.request import Request

from .auth import authenticate
from .errors import method_not_allowed
from .runtime import RUNTIME, HttpRuntime
from .views_misc import require_user_unless_public

__all__ = ["HttpRuntime", "RUNTIME", "includeme"]

# Course keys: "course-v1:org+course+run" or the old "org/course/run"; "+" is literal in paths.
COURSE = r"{course_id:(?:[^/+]+(?:/|\+)[^/+]+(?:/|\+)[^/?]+)|(?:[A-Za-z0-9\-_:]+)}"
USAGE = r"{content_id:(?:i4x://?[^/]+/[^/]+/[^/]+/[^@]+(?:@[^/]+)?)|(?:[^/]+)}"
EXAM_ID = r"{exam_id:\d+}"

# (route name, pattern, allowed methods). Patterns that edx-exams matched unanchored take an optional "/".
# Routes are tried in this order: the learner's hot reads first (no other pattern matches their paths).
API_ROUTES = [
    ("latest_attempt", r"/api/v1/exams/attempt/latest", ("GET",)),
    ("student_exam", rf"/api/v1/student/exam/attempt/course_id/{COURSE}/content_id/{USAGE}{{slash:/?}}", ("GET",)),
    ("allowance", rf"/api/v1/exams/course_id/{COURSE}/allowances/{{allowance_id:\d+}}{{slash:/?}}", ("DELETE",)),
    ("allowances", rf"/api/v1/exams/course_id/{COURSE}/allowances{{slash:/?}}", ("GET", "POST")),
    ("course_exams", rf"/api/v1/exams/course_id/{COURSE}{{slash:/?}}", ("GET", "PATCH")),
    ("course_config", rf"/api/v1/configs/course_id/{COURSE}{{slash:/?}}", ("GET", "PATCH")),
    ("providers", r"/api/v1/{which:providers?}", ("GET",)),
    ("access_token", rf"/api/v1/access_tokens/exam_id/{EXAM_ID}{{slash:/?}}", ("GET",)),
    ("attempt", r"/api/v1/exams/attempt/{attempt_id:\d+}", ("PUT", "DELETE")),
    ("attempts", r"/api/v1/exams/attempt", ("POST",)),
    ("instructor_attempts", rf"/api/v1/instructor_view/course_id/{COURSE}/attempts{{slash:/?}}", ("GET",)),
    ("provider_settings", rf"/api/v1/exam/provider_settings/course_id/{COURSE}/exam_id/{EXAM_ID}{{slash:/?}}",
     ("GET",)),
    ("onboarding", rf"/api/v1/student/course_id/{COURSE}/onboarding{{slash:/?}}", ("GET",)),
    ("csrf_token", r"/csrf/api/v1/token", ("GET",)),
    ("health", r"/health/", ("GET",)),
]


def includeme(config: Configurator) -> None:
    runtime: HttpRuntime = config.registry.settings[RUNTIME]
    renderer = JSON(separators=(",", ":"))
    config.add_renderer("json", renderer)
    config.add_request_method(lambda request: runtime.settings, "settings", reify=True)
    config.add_request_method(runtime.services, "services", reify=True)
    config.add_request_method(lambda request: runtime.jwt_verifier, "jwt_verifier", reify=True)
    config.add_request_method(lambda request: runtime.database_reachable(), "database_reachable")
    config.add_request_method(authenticate, "user", reify=True)
    config.add_tween("exams.adapters.http.cors.body_limit_tween_factory")
    config.add_tween("exams.adapters.http.cors.cors_tween_factory")
    for name, pattern, methods in API_ROUTES:
        config.add_route(name, pattern)
        # Tried last (it has no predicates): any other method gets a 405 with an Allow header.
        config.add_view(method_not_allowed(methods, check=require_user_unless_public), route_name=name)
    config.include(".legacy")  # the edx_proctoring view predicate: forwarding to edx-proctoring
    config.include(".views_lti")  # LTI proctoring routes (their own list)
    config.include(".views_acs")
    config.include(".openapi")  # /api/schema and /api-docs/
    config.include(".observe")  # request ids, /metrics, /health/ready
    config.include(".console")  # the operators' console (HTML, docs/console.md)
    config.scan("exams.adapters.http")
    config.action(None, lambda: _request_class(config.registry), order=_AFTER_EVERY_ACTION)


_AFTER_EVERY_ACTION = 1000  # Pyramid's phases are negative, the default order is 0


def _request_class(registry) -> None:
    """Put every request method and property (ours, pyramid_tm's ``tm``) on one request class, made once.

    Pyramid applies them to each request by making a new subclass of its request class for that request:
    ≈ 30 µs, and a class to collect afterwards, per request (docs/performance.md). The same descriptors on
    a class made at start-up behave the same (a reified property is computed once per request and kept on
    it) and cost nothing per request.
    """
    extensions = registry.queryUtility(IRequestExtensions)
    if extensions is None or not (extensions.methods or extensions.descriptors):
        return
    base = registry.queryUtility(IRequestFactory, default=Request)
    attributes = {**extensions.methods, **extensions.descriptors, "__module__": base.__module__}
    registry.registerUtility(type(base.__name__, (base,), attributes), IRequestFactory)
    extensions.methods = {}
    extensions.descriptors = {}

