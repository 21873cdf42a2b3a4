"""``exams console-login``: a one-time sign-in link to the console, for development only."""

from __future__ import annotations

from urllib.parse import urlsplit

import plaster
from webtest import TestApp

from tests.unit.test_cli import (assert_one_line_error, clean_environment, db_path, ini, migrated,  # noqa: F401
                                 migrated_template, run, write_ini)


def demo_ini(tmp_path, db_path):
    return write_ini(tmp_path / "demo.ini", db_path, **{"exams.demo.enabled": "true",
                                                         "exams.root_url": "http://localhost"})


def test_console_login_is_refused_unless_demo_is_enabled(migrated, capsys):
    status, _, err = run(capsys, "-c", migrated, "console-login", "--username", "admin")
    assert_one_line_error(status, err, "needs exams.demo.enabled = true")


def test_console_login_refuses_unknown_users_and_learners(migrated, tmp_path, db_path, capsys):
    ini = demo_ini(tmp_path, db_path)
    status, _, err = run(capsys, "-c", ini, "console-login", "--username", "nobody")
    assert_one_line_error(status, err, "no user 'nobody'")
    # A role in some course makes "alice" course staff; removing it leaves a known learner.
    assert run(capsys, "-c", ini, "staff", "add", "--username", "alice", "--course-id", "course-v1:a+b+c",
               "--role", "staff")[0] == 0
    assert run(capsys, "-c", ini, "staff", "remove", "--username", "alice", "--course-id", "course-v1:a+b+c",
               "--role", "staff")[0] == 0
    status, _, err = run(capsys, "-c", ini, "console-login", "--username", "alice")
    assert_one_line_error(status, err, "neither global staff nor course staff")


def test_the_link_signs_course_staff_in_once(migrated, tmp_path, db_path, capsys):
    from exams.app import main as app_main

    ini = demo_ini(tmp_path, db_path)
    assert run(capsys, "-c", ini, "staff", "add", "--username", "alice", "--course-id", "course-v1:a+b+c",
               "--role", "staff")[0] == 0
    status, out, err = run(capsys, "-c", ini, "console-login", "--username", "alice")
    assert status == 0 and "once" in err
    link = urlsplit(out.strip())
    assert (link.scheme, link.netloc, link.path) == ("http", "localhost", "/console/login/link")
    settings = dict(plaster.get_settings(ini, "app:main"))
    app = TestApp(app_main({"here": str(tmp_path)}, **settings))
    confirm = app.get(f"{link.path}?{link.query}")
    confirm.form.submit(status=303)
    assert app.get("/console/").html.find(id="signed-in-as").text == "alice"
    app.reset()
    app.post("/console/login/link", {"token": link.query.split("=", 1)[1]}, status=400)


def test_lti_key_rotate_and_retire(migrated, capsys, tmp_path):
    status, _, err = run(capsys, "-c", migrated, "lti-key", "rotate", "--provider", "nope")
    assert_one_line_error(status, err, "no provider 'nope'")
    assert run(capsys, "-c", migrated, "provider", "add", "--name", "plain", "--verbose-name", "Plain")[0] == 0
    status, _, err = run(capsys, "-c", migrated, "lti-key", "rotate", "--provider", "plain")
    assert_one_line_error(status, err, "has no LTI registration")
    key_file = tmp_path / "tool.pem"
    from jwcrypto import jwk
    key_file.write_text(jwk.JWK.generate(kty="RSA", size=2048).export_to_pem().decode())
    status, added, _ = run(capsys, "-c", migrated, "provider", "add", "--name", "acme", "--verbose-name", "Acme",
                           "--lti-client-id", "acme", "--lti-login-url", "https://t.test/login",
                           "--lti-launch-url", "https://t.test/launch", "--lti-public-key-file", str(key_file))
    assert status == 0
    status, _, err = run(capsys, "-c", migrated, "lti-key", "rotate", "--provider", "acme", "--grace-hours", "-3")
    assert_one_line_error(status, err, "must be 0 to 2160 hours")
    status, rotated, _ = run(capsys, "-c", migrated, "lti-key", "rotate", "--provider", "acme", "--grace-hours", "2")
    assert status == 0
    assert rotated["old_kid"] == added["lti"]["platform_kid"] != rotated["new_kid"]
    assert rotated["old_key_published_until"]
    status, retired, _ = run(capsys, "-c", migrated, "lti-key", "retire", "--provider", "acme")
    assert (status, retired) == (0, {"provider": "acme", "retired": True})
    assert run(capsys, "-c", migrated, "lti-key", "retire", "--provider", "acme")[1]["retired"] is False


def test_access_token_key_new_prints_the_key_and_both_jwks(migrated, capsys):
    from exams.adapters.tokens.access_tokens import JwcryptoAccessTokenSigner
    from tests.conftest import ACCESS_KEY

    status, out, _ = run(capsys, "-c", migrated, "access-token-key", "new")
    assert status == 0
    assert out["private_jwk"]["kty"] == "RSA" and "d" in out["private_jwk"]
    old_kid, new_kid = ACCESS_KEY["kid"], out["private_jwk"]["kid"]
    assert [k["kid"] for k in out["lms_jwks_during_rotation"]["keys"]] == [old_kid, new_kid]
    assert [k["kid"] for k in out["lms_jwks_after_rotation"]["keys"]] == [new_kid]
    assert all("d" not in k for k in out["lms_jwks_during_rotation"]["keys"])
    signer = JwcryptoAccessTokenSigner(out["private_jwk"], issuer="x")
    assert signer.public_jwks()["keys"] == out["lms_jwks_after_rotation"]["keys"]
