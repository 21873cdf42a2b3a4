"""Health, CSRF token and the method-not-allowed fallback."""

from __future__ import annotations

from pyramid.view import view_config

from .auth import CSRF_COOKIE, cookie_value, new_csrf_token, require_user

PUBLIC_ROUTES = frozenset({"providers", "csrf_token", "health", "api_schema", "api_docs", "api_docs_assets"})


def require_user_unless_public(request) -> None:
    """Credentials are checked before the method, as Django REST framework does."""
    if request.matched_route.name not in PUBLIC_ROUTES:
        require_user(request)


@view_config(route_name="health", request_method="GET", renderer="json")
def health(request):
    if request.database_reachable():
        return {"overall_status": "OK", "detailed_status": {"database_status": "OK"}}
    request.response.status_int = 503
    return {"overall_status": "UNAVAILABLE", "detailed_status": {"database_status": "UNAVAILABLE"},
            "detail": "The database is unavailable."}


@view_config(route_name="csrf_token", request_method="GET", renderer="json")
def csrf_token(request):
    token = cookie_value(request, CSRF_COOKIE) or new_csrf_token()
    secure = request.settings["exams.cookies.secure"]
    request.response.set_cookie(CSRF_COOKIE, token, max_age=31449600, path="/", secure=secure,
                                samesite="None" if secure else "Lax")
    return {"csrfToken": token}
