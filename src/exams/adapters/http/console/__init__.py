"""The operators' console: server-rendered pages under /console/ over the same services as the API and the CLI.

Jinja2 templates (pyramid_jinja2, autoescaped), a signed session cookie, a CSRF token in every form, sign-in with
the LMS's OAuth2 provider. No JavaScript. docs/console.md describes it.
"""

from __future__ import annotations

from pyramid.config import Configurator

from ..runtime import RUNTIME
from .session import LmsOAuth2Client, SessionCookies

COURSE = r"{course_id:(?:[^/+]+(?:/|\+)[^/+]+(?:/|\+)[^/?]+)|(?:[A-Za-z0-9\-_:]+)}"

# (route name, pattern). The console's HTML routes are not part of the JSON API (nor of its OpenAPI document).
CONSOLE_ROUTES = [
    ("console_home", "/console/"),
    ("console_login", "/console/login"),
    ("console_login_start", "/console/login/start"),
    ("console_oauth_callback", "/console/oauth2/callback"),
    ("console_link", "/console/login/link"),
    ("console_logout", "/console/logout"),
    ("console_attempts", "/console/attempts"),
    ("console_attempt", r"/console/attempts/{attempt_id:\d+}"),
    ("console_attempt_action", r"/console/attempts/{attempt_id:\d+}/{action:verify|reject|reset|resume}"),
    ("console_courses", "/console/courses"),
    ("console_course_config", f"/console/courses/{COURSE}/config"),
    ("console_allowances", f"/console/courses/{COURSE}/allowances"),
    ("console_allowance_delete", rf"/console/courses/{COURSE}/allowances/{{allowance_id:\d+}}/delete"),
    ("console_staff", f"/console/courses/{COURSE}/staff"),
    ("console_staff_remove", f"/console/courses/{COURSE}/staff/remove"),
    ("console_course", f"/console/courses/{COURSE}"),
    ("console_providers", "/console/providers"),
    ("console_provider_new", "/console/providers/new"),
    ("console_provider", r"/console/providers/{provider_id:\d+}"),
    ("console_provider_edit", r"/console/providers/{provider_id:\d+}/edit"),
    ("console_provider_disable", r"/console/providers/{provider_id:\d+}/disable"),
    ("console_provider_rotate", r"/console/providers/{provider_id:\d+}/rotate-key"),
    ("console_outboxes", "/console/outboxes"),
    ("console_outbox_action", "/console/outboxes/{action:events-replay|events-purge|mail-retry}"),
    ("console_keys", "/console/keys"),
    ("console_audit", "/console/audit"),
]


def includeme(config: Configurator) -> None:
    runtime = config.registry.settings[RUNTIME]
    settings = runtime.settings
    config.include("pyramid_jinja2")
    config.add_jinja2_renderer(".html")
    config.add_jinja2_search_path("exams.adapters.http.console:templates", name=".html")
    cookies = SessionCookies(runtime.console_session_secret, secure=settings["exams.cookies.secure"],
                             ttl=settings["exams.console.session_ttl"])
    oauth = LmsOAuth2Client(settings["exams.lms_root_url"], settings["exams.console.oauth_client_id"],
                            settings["exams.console.oauth_client_secret"])
    config.add_request_method(lambda request: cookies, "console_cookies", reify=True)
    config.add_request_method(lambda request: oauth, "console_oauth", reify=True)
    config.add_request_method(lambda request: runtime.clock, "console_clock", reify=True)
    config.add_request_method(lambda request: runtime.access_token_jwks(), "console_access_token_jwks", property=True)
    config.add_static_view("console/static", "exams.adapters.http.console:static", cache_max_age=3600)
    for name, pattern in CONSOLE_ROUTES:
        config.add_route(name, pattern)
