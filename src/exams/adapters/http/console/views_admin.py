"""Global staff pages: proctoring providers and their LTI registrations, the outboxes, signing keys."""

from __future__ import annotations

from datetime import datetime, timezone

from exams.domain.errors import DomainError, Forbidden, NotFound
from exams.domain.exams import Provider
from exams.delivery.operator import OperatorError

from ..schemas import Email, StrictInt, Text
from .views import console_view, page, redirect
from .views_courses import _validate, field_of

PROVIDER_FIELDS = {"verbose_name": (Text(255), True), "org_key": (Text(255), False),
                   "tech_support_email": (Email(), False), "tech_support_phone": (Text(255), False),
                   "tech_support_url": (Text(255), False)}
LTI_FIELDS = {"lti_client_id": (Text(255), False), "lti_login_url": (Text(2000), False),
              "lti_launch_url": (Text(2000), False), "lti_jwks_url": (Text(2000), False),
              "lti_public_key": (Text(20000), False), "lti_deployment_id": (Text(255), False),
              "lti_redirect_uris": (Text(20000), False)}


def _provider_id(request) -> int:
    return int(request.matchdict["provider_id"])


@console_view("console_providers")
def providers(request, operator):
    return page(request, "providers.html", providers=request.services.console.providers(operator))


def _provider_page(request, operator, status=200, errors=None, values=None):
    console = request.services.console
    found, registration = console.provider_registration(operator, _provider_id(request))
    vendor = console.provider(operator, found.id)[1] if registration else None
    return page(request, "provider.html", status=status, p=found, vendor=vendor, registration=registration,
                errors=errors or {}, values=values or {"grace_hours": "72"}, now=request.console_clock.now())


@console_view("console_provider")
def provider(request, operator):
    return _provider_page(request, operator)


@console_view("console_provider_rotate", method="POST")
def provider_rotate_key(request, operator):
    """Rotate the LTI platform key (``action=rotate``, with a grace period) or retire the old one now."""
    provider_id = _provider_id(request)
    console = request.services.console
    if request.POST.get("action") == "retire":
        console.retire_platform_key(operator, provider_id)
        return redirect(request, "console_provider", {"notice": "The previous key is retired."},
                        provider_id=provider_id)
    values, errors = _validate({"grace_hours": (StrictInt(minimum=0, maximum=2160), True)}, request.POST)
    if not errors:
        try:
            console.rotate_platform_key(operator, provider_id, values["grace_hours"])
        except (NotFound, Forbidden):
            raise
        except DomainError as exc:
            errors = {"grace_hours": exc.detail}
    if errors:
        request.tm.doom()
        return _provider_page(request, operator, status=400, errors=errors, values=dict(request.POST))
    return redirect(request, "console_provider", {"notice": "New platform key in use."}, provider_id=provider_id)


@console_view("console_provider_new")
def provider_new(request, operator):
    operator.require_global()
    return page(request, "provider_form.html", p=None, values={"lti_deployment_id": "1"})


def _lti_registration(values: dict, errors: dict) -> dict | None:
    """The CLI's rules (``exams provider add``): all three of client id, login and launch URL, and keys."""
    keys = ("lti_client_id", "lti_login_url", "lti_launch_url", "lti_jwks_url", "lti_public_key",
            "lti_redirect_uris")
    if not any(values.get(k) for k in keys):
        return None
    for key in ("lti_client_id", "lti_login_url", "lti_launch_url"):
        if not values.get(key):
            errors[key] = "An LTI registration needs the client id, the login URL and the launch URL."
    if not (values.get("lti_jwks_url") or values.get("lti_public_key")):
        errors["lti_jwks_url"] = "An LTI registration needs the tool's JWKS URL or its public key."
    return dict(client_id=values["lti_client_id"], oidc_login_url=values["lti_login_url"],
                launch_url=values["lti_launch_url"],
                redirect_uris=tuple((values.get("lti_redirect_uris") or "").split()),
                tool_jwks_url=values.get("lti_jwks_url"), tool_public_key=values.get("lti_public_key"),
                deployment_id=values.get("lti_deployment_id") or "1")


@console_view("console_provider_new", method="POST")
def provider_create(request, operator):
    operator.require_global()
    values, errors = _validate({"name": (Text(255), True), **PROVIDER_FIELDS, **LTI_FIELDS}, request.POST)
    registration = _lti_registration(values, errors) if not errors else None
    if not errors:
        try:
            created = request.services.console.add_provider(operator, Provider(
                id=None, name=values["name"], verbose_name=values["verbose_name"], org_key=values["org_key"],
                tech_support_email=values["tech_support_email"], tech_support_phone=values["tech_support_phone"],
                tech_support_url=values["tech_support_url"]), registration)
        except (NotFound, Forbidden):
            raise
        except DomainError as exc:
            default = ("name" if exc.code == "provider_exists" else "lti_client_id" if "client_id" in exc.detail
                       else "lti_login_url" if exc.code == "invalid_registration" else "form")
            errors = {field_of(exc, default, ("name", *PROVIDER_FIELDS)): exc.detail}
    if errors:
        request.tm.doom()
        return page(request, "provider_form.html", status=400, p=None, errors=errors, values=dict(request.POST))
    return redirect(request, "console_provider", {"notice": "Provider added."}, provider_id=created.id)


@console_view("console_provider_edit")
def provider_edit_form(request, operator):
    found, _ = request.services.console.provider_registration(operator, _provider_id(request))
    values = {k: getattr(found, k) or "" for k in PROVIDER_FIELDS}
    return page(request, "provider_form.html", p=found, values=values)


@console_view("console_provider_edit", method="POST")
def provider_edit(request, operator):
    found, _ = request.services.console.provider(operator, _provider_id(request))
    values, errors = _validate(PROVIDER_FIELDS, request.POST)
    if not errors:
        try:
            request.services.console.update_provider(operator, found.id, **values)
        except (NotFound, Forbidden):
            raise
        except DomainError as exc:
            errors = {field_of(exc, "form", PROVIDER_FIELDS): exc.detail}
    if errors:
        request.tm.doom()
        return page(request, "provider_form.html", status=400, p=found, errors=errors, values=dict(request.POST))
    return redirect(request, "console_provider", {"notice": "Provider saved."}, provider_id=found.id)


@console_view("console_provider_disable", method="POST")
def provider_disable(request, operator):
    found, _ = request.services.console.provider(operator, _provider_id(request))
    enable = request.POST.get("enable") == "1"
    request.services.console.update_provider(operator, found.id, is_active=enable)
    return redirect(request, "console_provider", {"notice": "Provider enabled." if enable else "Provider disabled."},
                    provider_id=found.id)


# -- outboxes --------------------------------------------------------------------------------------------------
def _outbox_page(request, operator, status=200, errors=None, values=None, result=None, form=None):
    boxes = request.services.console.outboxes(operator)
    return page(request, "outboxes.html", status=status, events=boxes["events"], mail=boxes["mail"],
                errors=errors or {}, values=values or {}, result=result, form=form,
                retention=request.settings["exams.event_bus.outbox_retention_days"])


@console_view("console_outboxes")
def outboxes(request, operator):
    return _outbox_page(request, operator)


def _since(text: str | None):
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@console_view("console_outbox_action", method="POST")
def outbox_action(request, operator):
    operator.require_global()
    action, console = request.matchdict["action"], request.services.console
    form = dict(request.POST)
    errors: dict[str, str] = {}
    try:
        if action == "mail-retry":
            count = console.retry_mail(operator)
            return redirect(request, "console_outboxes", {"notice": f"{count} failed emails queued again."})
        if action == "events-replay":
            values, errors = _validate({"event_id": (Text(36), False), "since": (Text(40), False)}, request.POST)
            since = None
            if not errors and values["since"]:
                try:
                    since = _since(values["since"])
                except ValueError:
                    errors["since"] = "Not an ISO 8601 date or time (e.g. 2026-12-01T10:00)."
            if not errors:
                result = console.replay_events(operator, event_id=values["event_id"], since=since,
                                               force=request.POST.get("force") == "1")
                return _outbox_page(request, operator, result={"replay": result})
        else:
            values, errors = _validate({"event_id": (Text(36), False),
                                        "older_than_days": (StrictInt(minimum=0, maximum=36500), False)},
                                       request.POST)
            if not errors and values["event_id"] is None and values["older_than_days"] is None:
                errors["older_than_days"] = "Give an event id or a number of days."
            if not errors:
                result = console.purge_events(operator, event_id=values["event_id"],
                                              older_than_days=values["older_than_days"])
                return _outbox_page(request, operator, result={"purge": result})
    except OperatorError as exc:
        errors = {"event_id": str(exc)}
    request.tm.doom()
    return _outbox_page(request, operator, status=400, errors=errors, values=form,
                        form="replay" if action == "events-replay" else "purge")


@console_view("console_keys")
def keys(request, operator):
    """The signing keys: exam access tokens (what the LMS verifies) and each provider's LTI platform key."""
    console = request.services.console
    rows = []
    for provider in console.providers(operator):
        found, registration = console.provider_registration(operator, provider.id)
        if registration is not None:
            rows.append((found, registration))
    return page(request, "keys.html", access_jwks=request.console_access_token_jwks, rows=rows,
                now=request.console_clock.now())
