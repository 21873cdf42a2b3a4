"""Production mode: each unsafe setting stops start-up with one line naming it; `exams check` lists them all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exams.production import ProductionError, problems
from exams.settings import SettingsError, load

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-value-that-must-never-be-printed"


def private_jwk() -> str:
    from jwcrypto import jwk

    return jwk.JWK.generate(kty="RSA", size=2048, kid="test").export_private()


JWK = private_jwk()

SAFE = {
    "exams.production": "true",
    "sqlalchemy.url": "postgresql+psycopg://exams@db.internal/exams",
    "exams.root_url": "https://exams.example.com",
    "exams.lms_root_url": "https://lms.example.com",
    "exams.learning_mfe_url": "https://apps.example.com/learning",
    "exams.jwt.issuer": "https://lms.example.com/oauth2",
    "exams.jwt.secret_key": SECRET,
    "exams.access_token.private_jwk": JWK,
    "exams.access_token.issuer": "https://exams.example.com",
    "exams.lti.launch_cookie_secret": SECRET + "-lti",
    "exams.cookies.secure": "true",
    "exams.cors.origins": "https://apps.example.com",
}


def test_safe_production_settings_load():
    settings = load(SAFE, environ={})
    assert settings["exams.production"] is True


def test_production_mode_comes_from_the_environment_too():
    with pytest.raises(ProductionError):
        load({**SAFE, "exams.production": "false", "exams.demo.enabled": "true"}, environ={"EXAMS_PRODUCTION": "1"})


def test_without_production_mode_nothing_is_refused():
    load({**SAFE, "exams.production": "false", "exams.demo.enabled": "true", "sqlalchemy.url": "sqlite:///x.db",
          "exams.access_token.private_jwk": ""}, environ={})


@pytest.mark.parametrize("key, value, expected", [
    ("exams.access_token.private_jwk", "", "'exams.access_token.private_jwk' is empty: production never uses a generated key"),
    ("exams.demo.enabled", "true", "'exams.demo.enabled' is on"),
    ("sqlalchemy.url", "sqlite:///var/exams.db", "'sqlalchemy.url' is a SQLite database"),
    ("exams.root_url", "http://exams.example.com", "'exams.root_url' must be an https:// URL"),
    ("exams.lms_root_url", "http://lms.example.com", "'exams.lms_root_url' must be an https:// URL"),
    ("exams.learning_mfe_url", "http://apps.example.com", "'exams.learning_mfe_url' must be an https:// URL"),
    ("exams.access_token.issuer", "http://exams.example.com", "'exams.access_token.issuer' must be an https:// URL"),
    ("exams.cookies.secure", "false", "'exams.cookies.secure' is off"),
    ("exams.cors.origins", "http://apps.example.com", "'exams.cors.origins' lists an origin that is not https"),
    ("exams.csrf.trusted_origins", "http://apps.example.com", "'exams.csrf.trusted_origins' lists an origin"),
    ("exams.jwt.secret_key", "", "'exams.jwt.secret_key' is empty"),
    ("exams.jwt.secret_key", "short", "'exams.jwt.secret_key' is too short"),
    ("exams.lti.launch_cookie_secret", "", "'exams.lti.launch_cookie_secret' is empty"),
])
def test_each_unsafe_setting_stops_start_up_with_one_line_naming_it(key, value, expected):
    with pytest.raises(SettingsError) as error:
        load({**SAFE, key: value}, environ={})
    message = str(error.value)
    assert expected in message
    assert "\n" not in message and SECRET not in message


@pytest.mark.parametrize("user, password", [
    ("exams.lms.oauth_client_id", "exams.lms.oauth_client_secret"),
    ("exams.email.smtp_username", "exams.email.smtp_password"),
    ("exams.event_bus.kafka.api_key", "exams.event_bus.kafka.api_secret"),
])
def test_a_password_is_required_once_its_user_is_set(user, password):
    with pytest.raises(ProductionError, match=f"'{password}' is empty while '{user}' is set"):
        load({**SAFE, user: "exams-service"}, environ={})


def test_any_origin_cors_is_refused():
    assert any("allows any origin" in p for p in problems({**load(SAFE, environ={}).values,
                                                           "exams.cors.origins": ("*",)}))


def test_an_lms_public_jwks_replaces_the_shared_secret():
    from jwcrypto import jwk

    public = json.loads(jwk.JWK.from_json(JWK).export_public())
    load({**SAFE, "exams.jwt.secret_key": "", "exams.jwt.public_jwks": json.dumps({"keys": [public]})}, environ={})


def test_the_first_problem_is_named_and_the_others_counted():
    with pytest.raises(ProductionError) as error:
        load({**SAFE, "exams.demo.enabled": "true", "exams.cookies.secure": "false"}, environ={})
    assert len(error.value.problems) == 2
    assert "(and 1 more: run `exams -c INI check` to list them)" in str(error.value)


def test_the_service_refuses_to_start():
    from exams.app import main

    with pytest.raises(ProductionError, match="exams.demo.enabled"):
        main({}, **{**SAFE, "exams.demo.enabled": "true"})


def write_ini(tmp_path, values: dict) -> str:
    path = tmp_path / "site.ini"
    body = "\n".join(f"{k} = {v}" for k, v in values.items() if k != "exams.access_token.private_jwk")
    path.write_text(f"[app:main]\nuse = egg:exams\n{body}\n")
    return str(path)


@pytest.fixture
def jwk_env(monkeypatch):
    monkeypatch.setenv("EXAMS_ACCESS_TOKEN_PRIVATE_JWK", JWK)


def test_every_command_refuses_to_start(tmp_path, capsys, jwk_env):
    from exams.cli import main

    ini = write_ini(tmp_path, {**SAFE, "exams.demo.enabled": "true"})
    for command in (["migrate"], ["access-token-jwks"], ["expire"], ["demo"], ["provider", "list"]):
        assert main(["-c", ini, *command]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "'exams.demo.enabled' is on" in err, command


def test_access_token_jwks_never_prints_a_generated_key_in_production(tmp_path, capsys, monkeypatch):
    from exams.cli import main

    ini = write_ini(tmp_path, SAFE)
    assert main(["-c", ini, "access-token-jwks"]) == 2
    assert "'exams.access_token.private_jwk' is empty" in capsys.readouterr().err
    assert not (tmp_path / "var").exists()


def test_check_lists_every_problem_without_secret_values(tmp_path, capsys, jwk_env):
    from exams.cli import main

    ini = write_ini(tmp_path, {**SAFE, "exams.demo.enabled": "true", "sqlalchemy.url": "sqlite:///x.db",
                               "exams.root_url": "http://exams.example.com", "exams.cookies.secure": "false",
                               "exams.jwt.secret_key": "tiny", "exams.lti.launch_cookie_secret": ""})
    assert main(["-c", ini, "check"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 6, lines
    for key in ("exams.demo.enabled", "sqlalchemy.url", "exams.root_url", "exams.cookies.secure",
                "exams.jwt.secret_key", "exams.lti.launch_cookie_secret"):
        assert any(f"'{key}'" in line for line in lines), key
    assert all(line.startswith(f"{ini}: ") for line in lines)
    assert "6 problem(s)" in captured.err
    assert "tiny" not in captured.out and SECRET not in captured.out + captured.err and '"d"' not in captured.out


def test_check_passes_on_safe_settings(tmp_path, capsys, jwk_env):
    from exams.cli import main

    assert main(["-c", write_ini(tmp_path, SAFE), "check"]) == 0
    assert "settings OK, production" in capsys.readouterr().out


def test_check_reports_a_malformed_setting(tmp_path, capsys):
    from exams.cli import main

    assert main(["-c", write_ini(tmp_path, {**SAFE, "exams.jwt.leeway": "soon"}), "check"]) == 1
    out = capsys.readouterr().out
    assert "'exams.jwt.leeway'" in out


def test_check_with_production_flag_applies_the_checks_to_a_development_ini(capsys):
    from exams.cli import main

    assert main(["-c", str(ROOT / "development.ini"), "check"]) == 0
    assert main(["-c", str(ROOT / "development.ini"), "check", "--production"]) == 1
    assert "'exams.demo.enabled' is on" in capsys.readouterr().out


def test_production_ini_is_in_production_mode_and_lists_what_the_environment_must_give(capsys):
    from exams.cli import main

    assert main(["-c", str(ROOT / "production.ini"), "check"]) == 1
    out = capsys.readouterr().out
    assert "'exams.access_token.private_jwk' is empty" in out and "'exams.jwt.secret_key' is empty" in out


def test_check_reports_settings_checked_when_adapters_are_built(tmp_path, capsys, jwk_env):
    from exams.cli import main

    ini = write_ini(tmp_path, {**SAFE, "exams.email.backend": "smtp"})
    assert main(["-c", ini, "check"]) == 1
    assert "'exams.email.from_address'" in capsys.readouterr().out
