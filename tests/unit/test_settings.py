"""Settings: the ini file, environment variables over it, and start-up stopped by a bad key or value."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from exams import settings as settings_module
from exams.settings import SETTINGS, SettingsError, load

DB = "sqlite:///var/exams.db"
ROOT = Path(__file__).resolve().parents[2]


def test_the_defaults_fill_in_every_setting_but_the_database():
    settings = load({"sqlalchemy.url": DB}, environ={})
    assert set(settings.values) == set(SETTINGS)
    assert settings["exams.root_url"] == "http://localhost:18740"
    assert settings["exams.jwt.secret_key"] == ""
    assert settings["exams.jwt.public_jwks"] is None
    assert settings["exams.jwt.leeway"] == 1
    assert settings["exams.cors.origins"] == ()
    assert settings["exams.cookies.secure"] is False
    assert settings["exams.max_body_bytes"] == 262144


def test_the_database_url_is_required():
    with pytest.raises(SettingsError, match=r"'sqlalchemy\.url'.*SQLALCHEMY_URL"):
        load({}, environ={})


@pytest.mark.parametrize("key, env", [("exams.jwt.secret_key", "EXAMS_JWT_SECRET_KEY"),
                                      ("sqlalchemy.url", "SQLALCHEMY_URL"),
                                      ("exams.cors.origins", "EXAMS_CORS_ORIGINS"),
                                      ("exams.access_token.private_jwk", "EXAMS_ACCESS_TOKEN_PRIVATE_JWK")])
def test_each_key_has_its_environment_variable(key, env):
    assert SETTINGS[key].env == env


def test_environment_variables_win_over_the_file():
    settings = load({"sqlalchemy.url": DB, "exams.jwt.secret_key": "from-the-file"},
                    environ={"EXAMS_JWT_SECRET_KEY": "from-the-environment",
                             "SQLALCHEMY_URL": "postgresql+psycopg://exams@db/exams"})
    assert settings["exams.jwt.secret_key"] == "from-the-environment"
    assert settings["sqlalchemy.url"] == "postgresql+psycopg://exams@db/exams"


def test_an_environment_variable_gives_a_setting_the_file_lacks():
    settings = load({}, environ={"SQLALCHEMY_URL": DB, "EXAMS_CORS_ORIGINS": "https://apps.example.com/ "
                                                                          "https://studio.example.com"})
    assert settings["exams.cors.origins"] == ("https://apps.example.com", "https://studio.example.com")


def test_values_are_parsed():
    jwks = {"keys": [{"kty": "RSA", "kid": "1", "n": "sXch", "e": "AQAB"}]}
    settings = load({"sqlalchemy.url": DB, "exams.root_url": "https://exams.example.com/",
                     "exams.jwt.public_jwks": json.dumps(jwks), "exams.cookies.secure": "True",
                     "exams.jwt.leeway": " 5 "}, environ={})
    assert settings["exams.root_url"] == "https://exams.example.com"
    assert settings["exams.jwt.public_jwks"] == jwks
    assert settings["exams.cookies.secure"] is True
    assert settings["exams.jwt.leeway"] == 5


def test_an_unknown_exams_key_stops_start_up_naming_it():
    with pytest.raises(SettingsError, match=r"Unknown setting 'exams\.jwt\.secret'"):
        load({"sqlalchemy.url": DB, "exams.jwt.secret": "typo"}, environ={})


def test_keys_of_the_libraries_configured_in_the_same_file_pass():
    load({"sqlalchemy.url": DB, "pyramid.reload_templates": "true", "tm.attempts": "3", "here": "/srv"},
         environ={})


@pytest.mark.parametrize("key, value", [
    ("sqlalchemy.url", "exams.db"),
    ("exams.root_url", "localhost:18740"),
    ("exams.lms_root_url", "ftp://lms.example.com"),
    ("exams.cors.origins", "https://apps.example.com not-an-origin"),
    ("exams.jwt.public_jwks", "{not json"),
    ("exams.jwt.public_jwks", "[1, 2]"),
    ("exams.jwt.public_jwks", '{"kty": "RSA"}'),
    ("exams.jwt.public_jwks", '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'),
    ("exams.access_token.private_jwk", '{"kty": "RSA", "n": "sXch", "e": "AQAB"}'),
    ("exams.jwt.leeway", "-1"),
    ("exams.jwt.leeway", "one"),
    ("exams.cookies.secure", "maybe"),
    ("exams.max_body_bytes", "0"),
    ("exams.expiry.sweep_interval", "1.5"),
])
def test_a_malformed_value_stops_start_up_naming_the_key(key, value):
    raw = {"sqlalchemy.url": DB, key: value}
    with pytest.raises(SettingsError, match=re.escape(f"'{key}'")):
        load(raw, environ={})


def test_a_malformed_environment_variable_names_the_key_and_the_variable():
    with pytest.raises(SettingsError) as error:
        load({"sqlalchemy.url": DB}, environ={"EXAMS_JWT_LEEWAY": "soon"})
    assert "'exams.jwt.leeway'" in str(error.value) and "EXAMS_JWT_LEEWAY" in str(error.value)


def test_the_service_does_not_start_with_a_bad_setting():
    from exams.app import main

    with pytest.raises(SettingsError, match=r"'exams\.cors\.origin'"):
        main({}, **{"sqlalchemy.url": DB, "exams.cors.origin": "https://apps.example.com"})


def test_production_ini_holds_no_secrets():
    text = (ROOT / "production.ini").read_text()
    for line in text.splitlines():
        if line.lstrip().startswith("#") or "=" not in line:
            continue
        key = line.split("=", 1)[0].strip()
        assert not re.search(r"secret|password|private_jwk", key), line
    assert not re.search(r"postgresql\+psycopg://[^/@]*:[^/@]*@", text.split("[app:main]", 1)[1])


def test_both_ini_files_load(monkeypatch):
    import plaster

    from jwcrypto import jwk

    load(dict(plaster.get_settings(str(ROOT / "development.ini"), "app:main")), environ={})
    # production.ini is in production mode: it loads once the environment gives the secrets.
    secrets = {"EXAMS_JWT_SECRET_KEY": "x" * 32, "EXAMS_LTI_LAUNCH_COOKIE_SECRET": "y" * 32,
               "EXAMS_ACCESS_TOKEN_PRIVATE_JWK": jwk.JWK.generate(kty="RSA", size=2048).export_private(),
               "SQLALCHEMY_URL": "postgresql+psycopg://exams@db/exams"}
    assert load(dict(plaster.get_settings(str(ROOT / "production.ini"), "app:main")), environ=secrets)["exams.production"]


def test_the_configuration_page_holds_the_table_generated_from_the_settings():
    page = (ROOT / "docs" / "configuration.md").read_text()
    match = re.search(r"<!-- settings:begin -->\n(.*?)<!-- settings:end -->", page, re.S)
    assert match, "docs/configuration.md lost its generated block"
    assert match.group(1) == settings_module.reference_table(), (
        "docs/configuration.md is out of date: run `.venv/bin/python -m exams.settings docs/configuration.md`")


def test_the_generated_table_names_each_key_its_variable_and_its_default():
    table = settings_module.reference_table()
    assert "| `exams.jwt.secret_key` | `EXAMS_JWT_SECRET_KEY` | *empty* |" in table
    assert "| `sqlalchemy.url` | `SQLALCHEMY_URL` | *required* |" in table
    assert "| `exams.max_body_bytes` | `EXAMS_MAX_BODY_BYTES` | `262144` |" in table
    assert len(table.splitlines()) == len(SETTINGS) + 2
