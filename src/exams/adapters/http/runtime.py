"""What the composition root hands the HTTP adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from exams.settings import Settings

RUNTIME = "exams.http_runtime"  # the Pyramid setting holding the HttpRuntime


@dataclass(frozen=True)
class HttpRuntime:
    """What the composition root hands the HTTP adapter (as the ``exams.http_runtime`` Pyramid setting).

    ``includeme`` turns each into a request method: views read ``request.settings``, ``request.services``,
    ``request.jwt_verifier``, ``request.lti_cookies``... and never the container or the registry.
    """

    settings: Settings
    services: Callable[[Any], Any]  # request -> the use cases of its unit of work (exams.units.Services)
    jwt_verifier: Any  # exams.ports.auth.JwtVerifier
    lti_cookie_secret: str
    lti_form_renderer: Callable[..., str]
    database_reachable: Callable[[], bool]
    legacy_forwarding: bool = False  # edx-proctoring is configured: its forwarding views are registered
    event_bus_reachable: Callable[[], bool] | None = None  # /health/ready checks the bus too (Redis backend)
    operational_status: Callable[[], dict] | None = None  # outbox and mail gauges of /metrics (metrics enabled)
    clock: Any = None  # exams.ports.clock.Clock (the console's sessions and one-time links)
    console_session_secret: str = ""  # signs the console's session cookies
    access_token_jwks: Callable[[], dict] | None = None  # the exam access-token keys (console keys page)
