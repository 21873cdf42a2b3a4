"""What proctoring vendors call: the LTI Advantage token endpoint and the Assessment Control Service.

URLs as edx-exams serves them (xblock-lti-consumer's token endpoint, edx-exams' ACS), per registration:

    POST /lti/lti_consumer/v1/token/<registration id>   client_credentials -> a service token (RFC 6749)
    POST /lti/<registration id>/acs                      a control message, with that token as Bearer

Token errors are RFC 6749 §5.2 JSON (``error``, ``error_description``, plus our ``detail``); ACS
errors are JSON with ``detail`` (and ``code``), with RFC 6750 ``WWW-Authenticate`` on 401 and 403.
"""

from __future__ import annotations

import logging

from pyramid.config import Configurator
from pyramid.view import view_config

from exams.ports.proctoring import BearerProblem, BearerRefused, ServiceTokenRefused, TokenError

from .acs_schema import parse_control_request
from .errors import NO_STORE, ApiError, method_not_allowed
from .request_data import form_params, parse_json

log = logging.getLogger(__name__)

ROUTES = [
    ("lti_token", r"/lti/lti_consumer/v1/token/{registration_id}", ("POST",)),
    ("lti_acs", r"/lti/{registration_id}/acs", ("POST",)),
]
ACS_MEDIA_TYPES = frozenset({"application/json", "application/vnd.ims.lti-ap.v1.control+json"})
REALM = "exams"
# invalid_client is a failed client authentication (RFC 6749 §5.2 allows 401); the rest are 400.
TOKEN_ERROR_STATUS = {TokenError.INVALID_CLIENT: 401}


def includeme(config: Configurator) -> None:
    for name, pattern, methods in ROUTES:
        config.add_route(name, pattern)
        config.add_view(method_not_allowed(methods, with_options=False), route_name=name)


def _registration_id(request) -> str:
    return request.matchdict["registration_id"]


def token_url(request) -> str:
    """The public URL of this token endpoint: the ``aud`` a vendor's client assertion names."""
    root = request.settings["exams.root_url"]
    return f"{root}/lti/lti_consumer/v1/token/{_registration_id(request)}"


# -- token endpoint ---------------------------------------------------------------------------
def _token_error(error: TokenError, description: str) -> ApiError:
    return ApiError(TOKEN_ERROR_STATUS.get(error, 400),
                    {"error": error.value, "error_description": description, "detail": description}, NO_STORE)


@view_config(route_name="lti_token", request_method="POST", renderer="json")
def token(request):
    if request.content_type != "application/x-www-form-urlencoded":
        raise _token_error(TokenError.INVALID_REQUEST, "Send the token request as application/x-www-form-urlencoded.")
    try:
        params = form_params(request)
    except ApiError as exc:
        raise _token_error(TokenError.INVALID_REQUEST, exc.body["detail"]) from None
    form = {name: params.getall(name) for name in params.keys()}
    try:
        issued = request.services.acs.grant_token(_registration_id(request), form, token_url(request))
    except ServiceTokenRefused as refused:
        log.info("token request refused for registration %r: %s", _registration_id(request)[:64], refused)
        raise _token_error(refused.error, refused.description) from None
    request.response.headers.update(NO_STORE)
    return issued.as_token_response()


# -- Assessment Control Service ---------------------------------------------------------------
def _quoted(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")


def _bearer_refusal(refused: BearerRefused) -> ApiError:
    if refused.problem is BearerProblem.INVALID_TOKEN:
        challenge = f'Bearer realm="{REALM}", error="invalid_token", error_description="{_quoted(refused.description)}"'
        return ApiError(401, {"detail": refused.description, "code": "invalid_token"}, {"WWW-Authenticate": challenge})
    if refused.problem is BearerProblem.INSUFFICIENT_SCOPE:
        challenge = f'Bearer realm="{REALM}", error="insufficient_scope", scope="{_quoted(refused.scope or "")}"'
        return ApiError(403, {"detail": refused.description, "code": "insufficient_scope"},
                        {"WWW-Authenticate": challenge})
    return ApiError(403, {"detail": refused.description, "code": refused.problem.value})


def _bearer_token(request) -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        # RFC 6750 §3.1: no credentials, so no error code in the challenge.
        raise ApiError(401, {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"},
                       {"WWW-Authenticate": f'Bearer realm="{REALM}"'})
    return credentials.strip()


def _control_message(request):
    if request.content_type not in ACS_MEDIA_TYPES:
        raise ApiError(415, {"detail": "Unsupported media type; send application/json or "
                                       "application/vnd.ims.lti-ap.v1.control+json.", "code": "unsupported_media_type"})
    return parse_json(request.body, code="invalid_json")


@view_config(route_name="lti_acs", request_method="POST", renderer="json")
def acs(request):
    acs_service = request.services.acs
    registration = acs_service.registration(_registration_id(request))
    try:
        acs_service.authorize(registration, _bearer_token(request))
    except BearerRefused as refused:
        raise _bearer_refusal(refused) from None
    message = parse_control_request(_control_message(request), issuer=acs_service.issuer)
    outcome = acs_service.control(registration, message)
    log.info("ACS %s for attempt %s: %s", outcome.request.action, outcome.attempt.id,
             "replay, nothing changed" if outcome.replayed else f"now {outcome.attempt.status.value}")
    # edx-exams answers "terminated" to every accepted message, flag included; vendors rely on it.
    return {"status": "terminated"}
