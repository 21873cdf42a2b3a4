"""Registering the development proctoring tool at this service, and starting it.

``ensure_registered`` creates (once) the provider ``devtool`` and its LTI registration, exactly as an
operator registers a vendor with ``exams provider add --lti-...``; ``exams demo`` and
``exams devtool`` both call it, so either may come first.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from exams.container import Container
from exams.units import run_in_transaction
from exams.domain.exams import Provider
from exams.settings import Settings

from .sandbox import LmsIdentity
from .tool import DevTool, DevtoolConfig, load_or_create_key

DEFAULT_URL = "http://localhost:18741"
PROVIDER_NAME = "devtool"
CLIENT_ID = "exams-devtool"


class DevtoolError(Exception):
    """The development tool cannot run or be registered; the message says what to do."""


def key_file(settings: Settings) -> str:
    """The tool's private key: next to the service's generated keys (var/ in development)."""
    return os.path.join(os.path.dirname(settings["exams.access_token.key_file"]), "devtool-key.json")


def check_enabled(settings: Settings) -> None:
    if not settings["exams.demo.enabled"]:
        raise DevtoolError("the development proctoring tool is off: it runs only with exams.demo.enabled = true "
                           "(development.ini), never in production")


def ensure_registered(container: Container, settings: Settings, *, base_url: str = DEFAULT_URL) -> DevtoolConfig:
    """Register the development tool at ``base_url`` unless it is; return what the tool needs to run.

    The tool publishes its key at ``<base_url>/.well-known/jwks.json``, so a regenerated key needs no
    new registration. Needs ``exams.lti.allow_http_tool_urls`` for an http:// tool.
    """
    check_enabled(settings)
    base_url = base_url.rstrip("/")
    if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).netloc:
        raise DevtoolError(f"not an absolute http(s) URL: {base_url!r}")
    key = load_or_create_key(key_file(settings))
    wanted = dict(client_id=CLIENT_ID, oidc_login_url=f"{base_url}/login", launch_url=f"{base_url}/launch",
                  redirect_uris=(f"{base_url}/launch",), tool_jwks_url=f"{base_url}/.well-known/jwks.json")

    def work(services):
        provider = services.repos.providers.get_by_name(PROVIDER_NAME)
        if provider is None:
            registration = services.lti.register_tool(**wanted)
            services.exams.add_provider(Provider(
                id=None, name=PROVIDER_NAME, verbose_name="Development proctoring tool",
                lti_configuration_id=registration.registration_id,
                tech_support_email="devtool@example.com", tech_support_url=base_url))
        else:
            registration = services.lti.registration(provider.lti_configuration_id)
            if registration is None or registration.launch_url != wanted["launch_url"]:
                raise DevtoolError(
                    f"the provider {PROVIDER_NAME!r} is registered for another tool URL "
                    f"({registration.launch_url if registration else 'no LTI registration'}); run the tool at that "
                    f"URL, or start from a fresh database")
        return services.lti.vendor_info(registration)

    info = run_in_transaction(container, work)
    return DevtoolConfig(base_url=base_url, platform_issuer=info["issuer"], client_id=info["client_id"],
                         deployment_id=info["deployment_id"], auth_url=info["oidc_auth_url"],
                         jwks_url=info["jwks_url"], token_url=info["token_url"], key=key,
                         sandbox=LmsIdentity(settings["exams.jwt.secret_key"], settings["exams.jwt.issuer"],
                                             settings["exams.jwt.audience"])
                         if settings["exams.jwt.secret_key"] else None)


def make_app(config: DevtoolConfig) -> DevTool:
    return DevTool(config)


def serve(config: DevtoolConfig) -> None:
    """Run the tool on its URL's host and port until interrupted (waitress)."""
    import waitress

    parts = urlsplit(config.base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    waitress.serve(make_app(config), host=parts.hostname, port=port, threads=4, ident="exams-devtool")
