"""Production mode: settings that are fine on a laptop and unsafe on a server stop start-up.

``exams.production = true`` (environment variable ``EXAMS_PRODUCTION``) marks a production deployment. Then
:func:`problems` must find nothing, or the service and every ``exams`` command refuse to start with one line
naming the first setting at fault (:func:`enforce`, called at the end of settings loading);
``exams -c INI check`` lists every problem at once. Messages name the key and what is wrong, never a value of a
secret.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlsplit

from exams.settings import SettingsError

PRODUCTION_KEY = "exams.production"

# Secrets shorter than this are refused: guessable, or a placeholder left in.
MIN_SECRET_LENGTH = 16


class ProductionError(SettingsError):
    """Production mode found unsafe settings; ``problems`` lists every one, the message names the first."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more: run `exams -c INI check` to list them)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


def _https(values: Mapping[str, Any], key: str, out: list[str], what: str) -> None:
    scheme = urlsplit(values.get(key) or "").scheme
    if scheme != "https":
        out.append(f"Setting {key!r} must be an https:// URL in production ({what}); it is {scheme or 'empty'}.")


def _secret(values: Mapping[str, Any], key: str, out: list[str], why: str = "") -> None:
    value = values.get(key) or ""
    if not value:
        out.append(f"Setting {key!r} is empty; production needs a secret{why}.")
    elif len(value) < MIN_SECRET_LENGTH:
        out.append(f"Setting {key!r} is too short for a secret (fewer than {MIN_SECRET_LENGTH} characters).")


def problems(values: Mapping[str, Any]) -> list[str]:
    """Every reason why these (parsed) settings are unsafe in production, one line each."""
    out: list[str] = []
    if not values.get("exams.access_token.private_jwk"):
        out.append("Setting 'exams.access_token.private_jwk' is empty: production never uses a generated key; give "
                   "the private RSA JWK shared by every process (EXAMS_ACCESS_TOKEN_PRIVATE_JWK).")
    if values.get("exams.demo.enabled"):
        out.append("Setting 'exams.demo.enabled' is on: demo conveniences are for development only.")
    url = str(values.get("sqlalchemy.url") or "")
    if url.split(":", 1)[0].split("+", 1)[0] == "sqlite":
        out.append("Setting 'sqlalchemy.url' is a SQLite database: production needs PostgreSQL "
                   "(postgresql+psycopg://...).")
    _https(values, "exams.root_url", out, "the public URL of this service")
    _https(values, "exams.lms_root_url", out, "the LMS")
    _https(values, "exams.learning_mfe_url", out, "the Learning MFE learners are sent to")
    issuer = values.get("exams.access_token.issuer") or ""
    if issuer.startswith("http://"):
        out.append("Setting 'exams.access_token.issuer' must be an https:// URL in production; it is http.")
    if not values.get("exams.cookies.secure"):
        out.append("Setting 'exams.cookies.secure' is off: cookies must be Secure in production.")
    for key in ("exams.cors.origins", "exams.csrf.trusted_origins"):
        for origin in values.get(key) or ():
            if origin in ("*", "null") or "*" in origin:
                out.append(f"Setting {key!r} allows any origin ({origin}): list the MFE origins.")
            elif not origin.startswith("https://"):
                out.append(f"Setting {key!r} lists an origin that is not https ({origin}).")
    # Secrets: what authenticates the LMS's JWTs, binds LTI launches, and every password whose user is set.
    if values.get("exams.jwt.public_jwks") is None:
        _secret(values, "exams.jwt.secret_key", out, " (or exams.jwt.public_jwks) to verify the LMS's JWTs")
    elif values.get("exams.jwt.secret_key"):
        _secret(values, "exams.jwt.secret_key", out)
    _secret(values, "exams.lti.launch_cookie_secret", out, " binding LTI launches to the learner's browser")
    for user, password in (("exams.lms.oauth_client_id", "exams.lms.oauth_client_secret"),
                           ("exams.email.smtp_username", "exams.email.smtp_password"),
                           ("exams.event_bus.kafka.api_key", "exams.event_bus.kafka.api_secret"),
                           ("exams.event_bus.kafka.schema_registry_api_key",
                            "exams.event_bus.kafka.schema_registry_api_secret")):
        if values.get(user) and not values.get(password):
            out.append(f"Setting {password!r} is empty while {user!r} is set; production needs the secret.")
    return out


def enforce(values: Mapping[str, Any]) -> None:
    """Raise :class:`ProductionError` when production mode is on and a setting is unsafe."""
    if values.get(PRODUCTION_KEY):
        found = problems(values)
        if found:
            raise ProductionError(found)
