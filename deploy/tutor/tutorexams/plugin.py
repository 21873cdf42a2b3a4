"""Tutor plugin: the exams service (web, relay, role consumer, expiry), its PostgreSQL, and the LMS/Studio/MFE wiring.

Settings are Tutor configuration values prefixed ``EXAMS_`` (``tutor config save --set EXAMS_WORKERS=4``); secrets
are generated once by Tutor and kept in config.yml. docs/deployment.md lists them all.
"""

from __future__ import annotations

import os
import re
from glob import glob

from importlib.resources import files
from tutor import fmt, hooks
from tutor.exceptions import TutorError

HERE = files("tutorexams")
VERSION = "22.0.0"

DEFAULTS = {
    "VERSION": VERSION,
    "DOCKER_IMAGE": "{{ DOCKER_REGISTRY }}openedx-exams:{{ EXAMS_VERSION }}",
    "HOST": "exams.{{ LMS_HOST }}",
    # Production mode of the service (exams.production): unsafe settings stop it. Needs ENABLE_HTTPS.
    "PRODUCTION": True,
    "WORKERS": 2,
    "LOG_FORMAT": "json",
    # Seconds between two `exams expire` runs (the expiry container; a CronJob every minute on Kubernetes).
    "EXPIRY_INTERVAL": 60,
    # PostgreSQL: the plugin's own by default; RUN_POSTGRESQL=false and the HOST/PORT/... of an external one.
    "RUN_POSTGRESQL": True,
    "POSTGRESQL_DOCKER_IMAGE": "docker.io/postgres:15-alpine",
    "POSTGRESQL_HOST": "exams-postgresql",
    "POSTGRESQL_PORT": 5432,
    "POSTGRESQL_DATABASE": "exams",
    "POSTGRESQL_USERNAME": "exams",
    # The event bus: Tutor's Redis, same server, db and topic prefix as the LMS's edx-event-bus-redis.
    "EVENT_BUS_REDIS_URL": "redis://{% if REDIS_USERNAME and REDIS_PASSWORD %}{{ REDIS_USERNAME }}:{{ REDIS_PASSWORD }}@{% endif %}{{ REDIS_HOST }}:{{ REDIS_PORT }}/0",
    "EVENT_BUS_TOPIC_PREFIX": "dev",
    "LMS_CONSUMER_GROUP": "exams_lms",
    # The LMS side.
    "OAUTH2_KEY": "exams-backend-service",
    "SERVICE_USERNAME": "exams_worker",
    "ENABLE_EXAMS_IDA_FOR_EVERYONE": False,
    # A proctoring provider registered by `tutor ... do init` when PROVIDER_NAME is set (docs/lti.md).
    "PROVIDER_NAME": "",
    "PROVIDER_VERBOSE_NAME": "",
    "PROVIDER_LTI_CLIENT_ID": "",
    "PROVIDER_LTI_LOGIN_URL": "",
    "PROVIDER_LTI_LAUNCH_URL": "",
    "PROVIDER_LTI_JWKS_URL": "",
}

# The exams dashboard MFE, added to tutor-mfe's apps (its filter is applied before any configuration is loaded,
# so these are constants; override them with your own MFE_APPS callback if needed).
DASHBOARD_MFE = {"repository": "https://github.com/edx/frontend-app-exams-dashboard.git", "port": 2020,
                 "version": "master"}

UNIQUE = {
    "POSTGRESQL_PASSWORD": "{{ 24|random_string }}",
    "OAUTH2_SECRET": "{{ 32|random_string }}",
    "LTI_LAUNCH_COOKIE_SECRET": "{{ 40|random_string }}",
    "ACCESS_TOKEN_RSA_PRIVATE_KEY": "{{ 2048|rsa_private_key }}",
}

hooks.Filters.CONFIG_DEFAULTS.add_items([(f"EXAMS_{key}", value) for key, value in DEFAULTS.items()])
hooks.Filters.CONFIG_UNIQUE.add_items([(f"EXAMS_{key}", value) for key, value in UNIQUE.items()])

# Templates: the service's ini (env/plugins/exams/apps/exams.ini), mounted in every exams container.
hooks.Filters.ENV_TEMPLATE_ROOTS.add_item(str(HERE / "templates"))
hooks.Filters.ENV_TEMPLATE_TARGETS.add_items([("exams/apps", "plugins")])

for path in sorted(glob(str(HERE / "patches" / "*"))):
    with open(path, encoding="utf-8") as fh:
        hooks.Filters.ENV_PATCHES.add_item((os.path.basename(path), fh.read()))

# Init tasks (`tutor local do init`, `tutor k8s do init`): the LMS's service user, OAuth2 client and flag,
# then the schema and the provider.
for service in ("lms", "exams"):
    with open(str(HERE / "templates" / "exams" / "tasks" / service / "init"), encoding="utf-8") as fh:
        hooks.Filters.CLI_DO_INIT_TASKS.add_item((service, fh.read()))

hooks.Filters.IMAGES_PULL.add_item(("exams", "{{ EXAMS_DOCKER_IMAGE }}"))
hooks.Filters.IMAGES_PUSH.add_item(("exams", "{{ EXAMS_DOCKER_IMAGE }}"))


@hooks.Filters.APP_PUBLIC_HOSTS.add()
def _public_hosts(hosts: list[str], context_name: str) -> list[str]:
    return hosts + ["{{ EXAMS_HOST }}"]


# The exams dashboard MFE, built and served by tutor-mfe when it is installed.
try:
    from tutormfe.hooks import MFE_APPS
except ImportError:  # pragma: no cover - tutor-mfe is optional
    MFE_APPS = None

if MFE_APPS is not None:
    @MFE_APPS.add()
    def _exams_dashboard(apps: dict) -> dict:
        apps["exams-dashboard"] = dict(DASHBOARD_MFE)
        return apps


# -- settings checked on every load (`tutor config save` fails with the setting's name) --------------------------
HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def problems(config: dict) -> list[str]:
    """What is wrong with the plugin's settings, one line each, naming the setting (never a secret's value)."""
    out: list[str] = []

    def value(key: str):
        return config.get(f"EXAMS_{key}")

    def positive_int(key: str) -> None:
        v = value(key)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            out.append(f"EXAMS_{key} must be a whole number > 0 (it is {v!r}).")

    def boolean(key: str) -> None:
        if not isinstance(value(key), bool):
            out.append(f"EXAMS_{key} must be true or false (it is {value(key)!r}).")

    def required(key: str, secret: bool = False) -> None:
        v = value(key)
        if v is None or (isinstance(v, str) and not v.strip()):
            out.append(f"EXAMS_{key} is missing or empty" + (" (a secret: remove it from config.yml and run "
                                                             "`tutor config save` to generate one)." if secret else "."))

    host = value("HOST")
    if not isinstance(host, str) or not HOSTNAME.match(host):
        out.append(f"EXAMS_HOST must be a host name such as exams.lms.example.com (it is {host!r}).")
    for key in ("WORKERS", "EXPIRY_INTERVAL", "POSTGRESQL_PORT"):
        positive_int(key)
    for key in ("PRODUCTION", "RUN_POSTGRESQL", "ENABLE_EXAMS_IDA_FOR_EVERYONE"):
        boolean(key)
    for key in ("DOCKER_IMAGE", "POSTGRESQL_HOST", "POSTGRESQL_DATABASE", "POSTGRESQL_USERNAME", "OAUTH2_KEY",
                "SERVICE_USERNAME", "EVENT_BUS_REDIS_URL", "LMS_CONSUMER_GROUP"):
        required(key)
    for key in UNIQUE:
        required(key, secret=True)
    if value("LOG_FORMAT") not in ("json", "text"):
        out.append(f"EXAMS_LOG_FORMAT must be json or text (it is {value('LOG_FORMAT')!r}).")
    url = value("EVENT_BUS_REDIS_URL")
    if isinstance(url, str) and url and not url.startswith(("redis://", "rediss://", "unix://")):
        out.append("EXAMS_EVENT_BUS_REDIS_URL must be a redis://, rediss:// or unix:// URL.")
    if value("PROVIDER_NAME"):
        for key in ("PROVIDER_VERBOSE_NAME", "PROVIDER_LTI_CLIENT_ID", "PROVIDER_LTI_LOGIN_URL",
                    "PROVIDER_LTI_LAUNCH_URL", "PROVIDER_LTI_JWKS_URL"):
            v = value(key)
            if not v:
                out.append(f"EXAMS_{key} is missing (required with EXAMS_PROVIDER_NAME).")
            elif key.endswith("_URL") and not str(v).startswith("https://"):
                out.append(f"EXAMS_{key} must be an https:// URL.")
        if not re.match(r"^[a-z0-9_-]+$", str(value("PROVIDER_NAME"))):
            out.append("EXAMS_PROVIDER_NAME must be lowercase letters, digits, '-' or '_'.")
    return out


HTTPS_WARNING = ("exams plugin: EXAMS_PRODUCTION is true but ENABLE_HTTPS is false: the exams service will refuse to "
                 "start (production mode refuses http URLs and insecure cookies). Set ENABLE_HTTPS=true, or "
                 "EXAMS_PRODUCTION=false for a test site.")


@hooks.Actions.CONFIG_LOADED.add()
def _check_settings(config: dict) -> None:
    found = problems(config)
    if found:
        raise TutorError("exams plugin: " + " ".join(found))
    if config.get("EXAMS_PRODUCTION") is True and not config.get("ENABLE_HTTPS"):
        fmt.echo_alert(HTTPS_WARNING)
