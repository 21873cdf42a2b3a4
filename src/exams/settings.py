"""Service settings: declared once, read from the ini file, overridable by environment variables.

Every key may be overridden by an environment variable named by upper-casing it and replacing dots
with underscores (``exams.jwt.secret_key`` -> ``EXAMS_JWT_SECRET_KEY``). Unknown ``exams.*`` keys and
malformed values stop start-up with an error naming the key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A setting is unknown, missing or malformed; the message names the key."""


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an absolute http(s) URL")
    return value.rstrip("/")


def _optional_url(value: str) -> str:
    return _url(value) if value else ""


def _text(value: str) -> str:
    return value.strip()


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0", ""):
        return False
    raise ValueError("expected true or false")


def _non_negative_int(value: str) -> int:
    number = int(value.strip())
    if number < 0:
        raise ValueError("expected a number >= 0")
    return number


def _positive_int(value: str) -> int:
    number = int(value.strip())
    if number <= 0:
        raise ValueError("expected a number > 0")
    return number


def _positive_float(value: str) -> float:
    number = float(value.strip())
    if not number > 0:
        raise ValueError("expected a number > 0")
    return number


def _redis_url(value: str) -> str:
    value = value.strip()
    if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return value


def _origins(value: str) -> tuple[str, ...]:
    return tuple(_url(v) for v in value.split())


def _json_object(value: str) -> dict | None:
    if not value.strip():
        return None
    parsed = json.loads(value)
    if not isinstance(parsed, dict):
        raise ValueError("expected a JSON object")
    return parsed


def _jwks(value: str) -> dict | None:
    """A JSON Web Key Set of RSA public keys, as the LMS's JWT_PUBLIC_SIGNING_JWK_SET."""
    parsed = _json_object(value)
    if parsed is None:
        return None
    keys = parsed.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ValueError('expected a JWK set: {"keys": [...]}, with at least one key')
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") != "RSA" or not {"n", "e"} <= set(key):
            raise ValueError('expected RSA keys in the JWK set (each with "kty": "RSA", "n" and "e")')
    return parsed


def _private_rsa_jwk(value: str) -> dict | None:
    parsed = _json_object(value)
    if parsed is not None and (parsed.get("kty") != "RSA" or not {"n", "e", "d"} <= set(parsed)):
        raise ValueError('expected a private RSA JWK ("kty": "RSA" with "n", "e" and "d")')
    return parsed


def _database_url(value: str) -> str:
    if "://" not in value:
        raise ValueError("expected a database URL such as sqlite:///var/exams.db or postgresql+psycopg://...")
    return value.strip()


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.strip()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value
    return parse


def _seconds(value: str) -> float:
    number = float(value.strip())
    if not 0 < number <= 300:
        raise ValueError("expected a number of seconds > 0 and <= 300")
    return number


@dataclass(frozen=True)
class Setting:
    key: str
    parse: Callable[[str], Any]
    default: str | None  # None: required
    doc: str

    @property
    def env(self) -> str:
        return self.key.upper().replace(".", "_")


SETTINGS: dict[str, Setting] = {s.key: s for s in [
    Setting("sqlalchemy.url", _database_url, None, "Database URL (SQLite file for development, PostgreSQL in production)."),
    Setting("exams.root_url", _url, "http://localhost:18740", "Public base URL of this service (LTI issuer, ACS and launch URLs)."),
    Setting("exams.lms_root_url", _url, "http://localhost:18000", "Base URL of the LMS."),
    Setting("exams.learning_mfe_url", _url, "http://localhost:2000", "Base URL of the Learning MFE (exam URLs)."),
    Setting("exams.jwt.issuer", _text, "http://localhost:18000/oauth2", "Expected `iss` of LMS JWTs."),
    Setting("exams.jwt.audience", _text, "lms-key", "Expected `aud` of LMS JWTs."),
    Setting("exams.jwt.secret_key", _text, "", "HS256 secret shared with the LMS (JWT_AUTH JWT_SECRET_KEY). Empty: HS256 tokens are refused."),
    Setting("exams.jwt.public_jwks", _jwks, "", "JSON JWKS of the LMS public keys for RS256/RS512 JWTs (JWT_PUBLIC_SIGNING_JWK_SET)."),
    Setting("exams.jwt.leeway", _non_negative_int, "1", "Seconds of clock skew tolerated on `exp`."),
    Setting("exams.cors.origins", _origins, "", "Space-separated origins allowed to make credentialed cross-origin calls (the MFEs)."),
    Setting("exams.csrf.trusted_origins", _origins, "", "Extra origins trusted for cookie-authenticated writes (defaults to the CORS origins)."),
    Setting("exams.cookies.secure", _bool, "false", "Mark cookies set by this service Secure (SameSite=None). True in production."),
    Setting("exams.access_token.private_jwk", _private_rsa_jwk, "", "Private RSA JWK (JSON) signing exam access tokens for the LMS. Empty: generated and kept under var/ (development only)."),
    Setting("exams.access_token.key_file", _text, "var/access-token-key.json", "Where a generated access-token key is kept when no private JWK is configured."),
    Setting("exams.access_token.issuer", _text, "http://localhost:18740", "`iss` of exam access tokens (TOKEN_SIGNING JWT_ISSUER in the LMS)."),
    # Learner emails (docs/lms.md).
    Setting("exams.email.backend", _one_of("smtp", "file", "none"), "none", "Where learner emails go: `smtp`, `file` (.eml files in exams.email.file_dir, for development) or `none` (no email is written)."),
    Setting("exams.email.from_address", _text, "", "From address of learner emails (edx-exams DEFAULT_FROM_EMAIL). Required unless the backend is `none`."),
    Setting("exams.email.smtp_host", _text, "localhost", "SMTP server."),
    Setting("exams.email.smtp_port", _positive_int, "25", "SMTP port (587 for STARTTLS, 465 for implicit TLS as a rule)."),
    Setting("exams.email.smtp_use_tls", _bool, "false", "Upgrade the SMTP connection with STARTTLS (certificate verified)."),
    Setting("exams.email.smtp_use_ssl", _bool, "false", "Connect with implicit TLS (SMTPS); not together with smtp_use_tls."),
    Setting("exams.email.smtp_username", _text, "", "SMTP login; empty: no login."),
    Setting("exams.email.smtp_password", _text, "", "SMTP password."),
    Setting("exams.email.smtp_timeout", _seconds, "10", "Seconds an SMTP connection may wait on the server."),
    Setting("exams.email.file_dir", _text, "var/mail", "Folder of the `file` backend's .eml files (relative to the ini file)."),
    Setting("exams.email.send_interval", _non_negative_int, "30", "Seconds between the in-process sender's retry rounds (it also sends right after each commit that wrote an email). 0: no in-process sender; run `exams -c INI mail send` from cron."),
    # Legacy edx-proctoring forwarding (docs/lms.md).
    Setting("exams.lms.oauth_client_id", _text, "", "OAuth2 client id of this service in the LMS (BACKEND_SERVICE_EDX_OAUTH2_KEY). Empty: courses without a provider here are answered locally, nothing is forwarded to edx-proctoring."),
    Setting("exams.lms.oauth_client_secret", _text, "", "Its secret (BACKEND_SERVICE_EDX_OAUTH2_SECRET)."),
    Setting("exams.lms.timeout", _seconds, "5", "Seconds one forwarded call to the LMS may take, token fetch included."),
    Setting("exams.max_body_bytes", _positive_int, "262144", "Largest request body accepted (bytes); larger gets 413."),
    Setting("exams.expiry.sweep_interval", _non_negative_int, "0", "Seconds between in-process sweeps that submit abandoned, overdue attempts (0: off; run `exams -c INI expire` from cron instead)."),
    Setting("exams.demo.enabled", _bool, "false", "Development conveniences (`exams demo`)."),
    Setting("exams.metrics.enabled", _bool, "true", "Serve Prometheus metrics at /metrics (keep it off the public route; docs/deployment.md). Under gunicorn set PROMETHEUS_MULTIPROC_DIR."),
    Setting("exams.production", _bool, "false", "Production mode: start-up (service and every command) is refused while a setting is unsafe (generated access-token key, demo, SQLite, http URLs, insecure cookies, any-origin CORS, empty secrets); `exams -c INI check` lists every problem (docs/deployment.md)."),
    # Event bus (docs/events.md); names mirror the Open edX settings where there is one.
    Setting("exams.event_bus.backend", _one_of("none", "redis", "kafka"), "none", "Event bus the attempt events go to and role events come from: `redis`, `kafka` (attempt events only; see docs/events.md) or `none` (nothing is enqueued). Open edX: EVENT_BUS_PRODUCER / EVENT_BUS_CONSUMER."),
    Setting("exams.event_bus.redis_url", _redis_url, "", "Redis of the event bus, the same server and db as the LMS's (EVENT_BUS_REDIS_CONNECTION_URL). Required with backend = redis."),
    Setting("exams.event_bus.topic_prefix", _text, "", "Prefix of the stream names, equal to the LMS's EVENT_BUS_TOPIC_PREFIX (e.g. `dev` gives `dev-learning-exam-attempt-lifecycle`)."),
    Setting("exams.event_bus.redis_stream_maxlen", _positive_int, "10000", "Approximate cap of each stream (EVENT_BUS_REDIS_STREAM_MAX_LEN)."),
    Setting("exams.event_bus.source", _text, "openedx/edx-exams/web", "The `source` of the events we send (openedx/<EVENTS_SERVICE_NAME>/web)."),
    Setting("exams.event_bus.outbox_retention_days", _non_negative_int, "7", "Days published events are kept in the outbox for replay before the relay purges them (0: keep)."),
    Setting("exams.event_bus.relay_in_process", _bool, "false", "Run the relay in a thread of each web process (development, small installs) instead of `exams -c INI relay`."),
    Setting("exams.event_bus.relay_interval", _positive_float, "1", "Seconds between relay passes when there is nothing to publish."),
    Setting("exams.event_bus.kafka.bootstrap_servers", _text, "", "Kafka brokers, `host:port[,host:port...]` (EVENT_BUS_KAFKA_BOOTSTRAP_SERVERS). Required with backend = kafka."),
    Setting("exams.event_bus.kafka.api_key", _text, "", "SASL username; when set the producer uses SASL_SSL with PLAIN (EVENT_BUS_KAFKA_API_KEY)."),
    Setting("exams.event_bus.kafka.api_secret", _text, "", "SASL password (EVENT_BUS_KAFKA_API_SECRET)."),
    Setting("exams.event_bus.kafka.schema_registry_url", _optional_url, "", "Confluent Schema Registry the schemas are registered in (EVENT_BUS_KAFKA_SCHEMA_REGISTRY_URL). Required with backend = kafka."),
    Setting("exams.event_bus.kafka.schema_registry_api_key", _text, "", "Schema Registry basic-auth user (EVENT_BUS_KAFKA_SCHEMA_REGISTRY_API_KEY)."),
    Setting("exams.event_bus.kafka.schema_registry_api_secret", _text, "", "Schema Registry basic-auth password (EVENT_BUS_KAFKA_SCHEMA_REGISTRY_API_SECRET)."),
    Setting("exams.event_bus.role_consumer.group", _text, "edx-exams", "Consumer group reading the course access role events (consume_events -g)."),
    Setting("exams.event_bus.role_consumer.consumer_name", _text, "", "Name of this consumer in the group; keep it stable across restarts. Empty: the host name."),
    Setting("exams.lti.platform_name", _text, "", "`tool_platform` name sent to LTI tools (edx-exams PLATFORM_NAME). Empty: the claim is omitted."),
    Setting("exams.lti.allow_http_tool_urls", _bool, "false", "Accept http:// tool URLs (login, launch, redirect, JWKS). Development only: tools must use https in production."),
    Setting("exams.lti.launch_cookie_secret", _text, "", "Secret signing the LTI launch cookie that binds a launch to the learner's browser; the same in every process. Empty: derived from the access-token key."),
    Setting("exams.lti.launch_ttl", _positive_int, "600", "Seconds a learner's browser has to come back from the tool's login (the lti_message_hint lifetime)."),
    Setting("exams.lti.session_ttl", _positive_int, "7200", "Seconds the tool has, from the start of proctoring, to post LtiStartAssessment (its identity checks included)."),
    # Operators' console (docs/console.md).
    Setting("exams.console.oauth_client_id", _text, "", "OAuth2 client id of the console's application in the LMS (an authorization-code application, redirect URI `<exams.root_url>/console/oauth2/callback`). Empty: sign-in with the LMS is off."),
    Setting("exams.console.oauth_client_secret", _text, "", "Its client secret."),
    Setting("exams.console.session_secret", _text, "", "Secret signing the console's session cookie; the same in every process. Empty: derived from the access-token key."),
    Setting("exams.console.session_ttl", _positive_int, "28800", "Seconds a console sign-in lasts."),
]}

# Keys that belong to libraries we configure through the same file.
PASS_THROUGH_PREFIXES = ("pyramid.", "tm.", "retry.", "debugtoolbar.", "sqlalchemy.")


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


# Settings naming a file or folder: a relative path is relative to the ini file's folder.
PATH_SETTINGS = ("exams.access_token.key_file", "exams.email.file_dir")


def resolve_paths(raw: Mapping[str, str], here: str | None) -> dict:
    """The raw settings with each relative path setting made relative to ``here`` (the ini file's folder)."""
    raw = dict(raw)
    if here:
        for key in PATH_SETTINGS:
            path = raw.get(key, SETTINGS[key].default)
            if not os.path.isabs(path):
                raw[key] = os.path.join(here, path)
    return raw


def load(raw: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate settings; environment variables win over the file."""
    environ = os.environ if environ is None else environ
    for key in raw:
        if key in SETTINGS or key.startswith(PASS_THROUGH_PREFIXES) or not key.startswith("exams."):
            continue
        raise SettingsError(f"Unknown setting {key!r}.")
    values: dict[str, Any] = {}
    for key, setting in SETTINGS.items():
        text = environ.get(setting.env)
        source = f"setting {key!r} (from environment variable {setting.env})"
        if text is None:
            text = raw.get(key)
            source = f"setting {key!r}"
        if text is None:
            text = setting.default
        if text is None:
            raise SettingsError(f"Missing setting {key!r} (or environment variable {setting.env}).")
        try:
            values[key] = setting.parse(str(text))
        except (ValueError, json.JSONDecodeError) as exc:
            raise SettingsError(f"Malformed {source}: {exc}") from None
    from exams.production import enforce  # production mode refuses unsafe settings (exams/production.py)

    enforce(values)
    _check_together(values)
    return Settings(values)


def _required_with(key: str, condition: str) -> SettingsError:
    return SettingsError(f"Missing setting {key!r} (required with {condition}; "
                         f"environment variable {SETTINGS[key].env}).")


def _check_together(values: Mapping[str, Any]) -> None:
    """The rules between settings: a setting that another one requires, settings that exclude each other."""
    backend = values["exams.event_bus.backend"]
    if backend == "redis" and not values["exams.event_bus.redis_url"]:
        raise _required_with("exams.event_bus.redis_url", "exams.event_bus.backend = redis")
    if backend == "kafka":
        for key in ("exams.event_bus.kafka.bootstrap_servers", "exams.event_bus.kafka.schema_registry_url"):
            if not values[key]:
                raise _required_with(key, "exams.event_bus.backend = kafka")
    # Legacy edx-proctoring forwarding (docs/lms.md).
    if values["exams.lms.oauth_client_id"] and not values["exams.lms.oauth_client_secret"]:
        raise _required_with("exams.lms.oauth_client_secret", "exams.lms.oauth_client_id")
    # Learner emails (docs/lms.md).
    email = values["exams.email.backend"]
    if email != "none" and not values["exams.email.from_address"]:
        raise _required_with("exams.email.from_address", f"exams.email.backend = {email}")
    if email == "smtp" and values["exams.email.smtp_use_tls"] and values["exams.email.smtp_use_ssl"]:
        raise SettingsError("Settings 'exams.email.smtp_use_tls' (STARTTLS) and 'exams.email.smtp_use_ssl' "
                            "(implicit TLS) exclude each other.")


def require_role_events(settings: Settings) -> None:
    """Course access role events are read from Redis only: refuse to start a role consumer otherwise."""
    if settings["exams.event_bus.backend"] == "kafka":
        raise SettingsError("Course access role events are read from Redis only; with exams.event_bus.backend = "
                            "kafka there is no role consumer (docs/events.md).")


def reference_table() -> str:
    """The Markdown table of every setting, for docs/configuration.md (``python -m exams.settings``)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS.values():
        if setting.default is None:
            default = "*required*"
        elif setting.default == "":
            default = "*empty*"
        else:
            default = f"`{setting.default}`"
        lines.append(f"| `{setting.key}` | `{setting.env}` | {default} | {cell(setting.doc)} |")
    return "\n".join(lines) + "\n"


def _write_reference(path: str) -> None:
    """Replace the generated block of docs/configuration.md with the current table."""
    import re

    with open(path, encoding="utf-8") as fh:
        page = fh.read()
    block = f"<!-- settings:begin -->\n{reference_table()}<!-- settings:end -->"
    page, count = re.subn(r"<!-- settings:begin -->\n.*?<!-- settings:end -->", lambda _: block, page, flags=re.S)
    if count != 1:
        raise SystemExit(f"{path}: no <!-- settings:begin --> ... <!-- settings:end --> block")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)


if __name__ == "__main__":
    # python -m exams.settings                        prints the table
    # python -m exams.settings docs/configuration.md  rewrites the page's generated block
    import sys

    if len(sys.argv) > 1:
        _write_reference(sys.argv[1])
    else:
        print(reference_table(), end="")
