"""`exams -c INI provider add --lti-...` registers a tool and prints what its vendor must be given."""

from __future__ import annotations

import json

import pytest
from jwcrypto.jwk import JWK

from exams.cli import main
from exams.settings import SETTINGS
from tests.conftest import ACCESS_KEY, JWT_AUDIENCE, JWT_ISSUER

ROOT = "https://exams.example.org"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for setting in SETTINGS.values():
        monkeypatch.delenv(setting.env, raising=False)


@pytest.fixture
def ini(tmp_path, capsys):
    settings = {"sqlalchemy.url": f"sqlite:///{tmp_path / 'exams.db'}", "exams.root_url": ROOT,
                "exams.jwt.issuer": JWT_ISSUER, "exams.jwt.audience": JWT_AUDIENCE,
                "exams.access_token.private_jwk": json.dumps(ACCESS_KEY)}
    path = tmp_path / "test.ini"
    path.write_text("[app:main]\nuse = egg:exams\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
    assert main(["-c", str(path), "migrate"]) == 0
    capsys.readouterr()
    return str(path)


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, (json.loads(out) if status == 0 else None), err


def add_args(ini, name="proctorio", client_id="proctorio-client", *extra):
    return ["-c", ini, "provider", "add", "--name", name, "--verbose-name", name.title(),
            "--lti-client-id", client_id, "--lti-login-url", "https://tool.example/login",
            "--lti-launch-url", "https://tool.example/launch", *extra]


def test_provider_add_with_a_jwks_url_registers_the_tool_and_prints_what_the_vendor_needs(ini, capsys):
    status, added, err = run(capsys, *add_args(ini, "proctorio", "proctorio-client",
                                               "--lti-jwks-url", "https://tool.example/jwks",
                                               "--lti-redirect-uri", "https://tool.example/launch",
                                               "--lti-redirect-uri", "https://tool.example/launch2"))
    assert status == 0, err
    rid = added["lti_configuration_id"]
    assert rid.isdigit()
    lti = added["lti"]
    assert lti == {
        "registration_id": rid, "issuer": ROOT, "client_id": "proctorio-client", "deployment_id": "1",
        "oidc_auth_url": f"{ROOT}/lti/lti_consumer/v1/launch/",
        "jwks_url": f"{ROOT}/lti/lti_consumer/v1/public_keysets/{rid}", "platform_kid": lti["platform_kid"],
        "token_url": f"{ROOT}/lti/lti_consumer/v1/token/{rid}", "acs_url": f"{ROOT}/lti/{rid}/acs",
        "start_assessment_url": f"{ROOT}/lti/lti_consumer/v1/start_proctoring_assessment",
        "tool_login_url": "https://tool.example/login", "tool_launch_url": "https://tool.example/launch",
        "tool_redirect_uris": ["https://tool.example/launch", "https://tool.example/launch2"],
        "tool_keys": "https://tool.example/jwks"}
    assert len(lti["platform_kid"]) == 43  # RFC 7638 thumbprint


def test_provider_list_prints_the_same_vendor_data_across_processes(ini, capsys):
    _, added, _ = run(capsys, *add_args(ini, "proctorio", "c1", "--lti-jwks-url", "https://tool.example/jwks"))
    run(capsys, "-c", ini, "provider", "add", "--name", "plain", "--verbose-name", "Plain")
    status, listed, _ = run(capsys, "-c", ini, "provider", "list")
    assert status == 0
    assert listed[0] == added
    assert "lti" not in listed[1]


def test_each_registration_gets_its_own_platform_key(ini, capsys):
    _, first, _ = run(capsys, *add_args(ini, "one", "c1", "--lti-jwks-url", "https://tool.example/jwks"))
    _, second, _ = run(capsys, *add_args(ini, "two", "c2", "--lti-jwks-url", "https://tool.example/jwks",
                                         "--lti-deployment-id", "7"))
    assert first["lti"]["platform_kid"] != second["lti"]["platform_kid"]
    assert second["lti"]["deployment_id"] == "7"


def test_a_public_key_file_may_replace_the_jwks_url(ini, capsys, tmp_path):
    key_file = tmp_path / "tool.pem"
    key_file.write_text(JWK.generate(kty="RSA", size=2048).export_to_pem().decode())
    status, added, err = run(capsys, *add_args(ini, "p", "c1", "--lti-public-key-file", str(key_file)))
    assert status == 0, err
    assert added["lti"]["tool_keys"] == "public key on file"


@pytest.mark.parametrize("extra, message", [
    ([], "--lti-jwks-url or --lti-public-key-file"),
    (["--lti-jwks-url", "http://tool.example/jwks"], "https"),
    (["--lti-jwks-url", "https://tool.example/jwks", "--lti-redirect-uri", "javascript:alert(1)"], "https"),
    (["--lti-public-key-file", "/no/such/file"], "cannot read"),
])
def test_an_incomplete_or_unsafe_registration_is_a_one_line_error_and_stores_nothing(ini, capsys, extra, message):
    status, _, err = run(capsys, *add_args(ini, "p", "c1", *extra))
    assert status == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert run(capsys, "-c", ini, "provider", "list")[1] == []


def test_both_key_sources_at_once_are_refused(ini, capsys):
    status, _, err = run(capsys, *add_args(ini, "p", "c1", "--lti-jwks-url", "https://tool.example/jwks",
                                           "--lti-public-key-file", "x.pem"))
    assert status == 2 and "not allowed with" in err


def test_a_taken_client_id_rolls_the_provider_back(ini, capsys):
    run(capsys, *add_args(ini, "one", "c1", "--lti-jwks-url", "https://tool.example/jwks"))
    status, _, err = run(capsys, *add_args(ini, "two", "c1", "--lti-jwks-url", "https://tool.example/jwks"))
    assert status == 2 and "c1" in err
    assert [p["name"] for p in run(capsys, "-c", ini, "provider", "list")[1]] == ["one"]


def test_a_login_url_without_the_client_id_is_refused(ini, capsys):
    status, _, err = run(capsys, "-c", ini, "provider", "add", "--name", "p", "--verbose-name", "P",
                         "--lti-login-url", "https://tool.example/login")
    assert status == 2 and "--lti-client-id" in err
