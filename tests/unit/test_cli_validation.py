"""Bad input to ``exams -c INI ...``: one line on stderr, a non-zero exit, and nothing written to the database.

The commands check values with the rules the API uses (exams.domain.values); each case below is one mistake an
operator could make.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest
from jwcrypto.jwk import JWK

from exams.container import build_container, run_in_transaction
from exams.domain.exams import Exam, ExamType
from tests.unit.test_cli import (C, assert_one_line_error, clean_environment, db_path, ini,  # noqa: F401
                                 migrated, migrated_template, run, write_ini)


def snapshot(db_path) -> dict:
    """Every row of every table: what a refused command must leave as it was."""
    with closing(sqlite3.connect(db_path)) as conn:
        names = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table' order by name")]
        return {name: conn.execute(f'select * from "{name}"').fetchall() for name in names}


def refused(capsys, db_path, argv, *fragments, status=2):
    """Run the command; assert it is refused with one line naming the fragments and that nothing changed."""
    before = snapshot(db_path)
    code, out, err = run(capsys, *argv)
    assert code == status, err
    assert_one_line_error(code, err, *fragments)
    assert out is None
    assert snapshot(db_path) == before
    return err


def add_provider(capsys, ini_path, name="proctorio", *extra):
    code, data, err = run(capsys, "-c", ini_path, "provider", "add", "--name", name, "--verbose-name", "Proctorio",
                          *extra)
    assert code == 0, err
    return data


# -- provider add ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, fragments", [
    (["--name", ""], ["--name", "''", "not a provider name"]),
    (["--name", "my vendor!"], ["--name", "'my vendor!'", "not a provider name"]),
    (["--name", "-dash-first"], ["--name"]),
    (["--name", "x" * 256], ["--name"]),
    (["--name", "ok", "--verbose-name", " "], ["--verbose-name", "blank"]),
    (["--name", "ok", "--verbose-name", "x" * 256], ["--verbose-name", "255"]),
    (["--name", "ok", "--tech-support-email", "notanemail"], ["--tech-support-email", "'notanemail'"]),
    (["--name", "ok", "--tech-support-email", ""], ["--tech-support-email"]),
    (["--name", "ok", "--tech-support-url", "javascript:alert(1)"], ["--tech-support-url", "web address"]),
    (["--name", "ok", "--tech-support-url", "https://a b"], ["--tech-support-url"]),
    (["--name", "ok", "--tech-support-phone", ""], ["--tech-support-phone", "blank"]),
    (["--name", "ok", "--org-key", ""], ["--org-key", "blank"]),
    (["--name", "ok", "--org-key", "edx\x01"], ["--org-key", "Control characters"]),
])
def test_provider_add_refuses_what_the_api_would_refuse(migrated, db_path, capsys, extra, fragments):
    argv = ["-c", migrated, "provider", "add", "--verbose-name", "Vendor", *extra]
    refused(capsys, db_path, argv, *fragments)


def test_the_provider_names_the_rule_accepts(migrated, capsys):
    for name in ("proctorio", "test_provider", "lti-external", "vendor.v2", "A1"):
        add_provider(capsys, migrated, name, "--tech-support-url", "www.example.com")
    assert add_provider(capsys, migrated, "other", "--tech-support-url", "localhost:8000/help")["name"] == "other"


def lti_args(ini_path, key_file):
    return ["-c", ini_path, "provider", "add", "--name", "vendor", "--verbose-name", "Vendor",
            "--lti-client-id", "c1", "--lti-login-url", "https://tool.example/login",
            "--lti-launch-url", "https://tool.example/launch", "--lti-public-key-file", str(key_file)]


@pytest.mark.parametrize("content, fragment", [
    ("hello world", "must be an RSA public key"),
    ("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", "must be an RSA public key"),
    ('{"kty": "oct", "k": "c2VjcmV0"}', "must be an RSA public key"),
    ('{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}, {"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}',
     "whose keys have a kid"),
    ("", "empty"),
    (b"\xff\xfe\x00binary", "not a text file"),
])
def test_a_tool_key_file_that_is_no_key_is_refused_naming_the_file(migrated, db_path, tmp_path, capsys,
                                                                   content, fragment):
    key_file = tmp_path / "tool.pem"
    key_file.write_bytes(content if isinstance(content, bytes) else content.encode())
    refused(capsys, db_path, lti_args(migrated, key_file), str(key_file), fragment)


@pytest.mark.parametrize("extra, fragment", [
    (["--lti-client-id", ""], "--lti-client-id"),
    (["--lti-client-id", "c1", "--lti-login-url", "https://tool.example/login", "--lti-launch-url",
      "https://tool.example/launch", "--lti-jwks-url", "https://tool.example/jwks", "--lti-deployment-id", ""],
     "deployment_id"),
    (["--lti-client-id", " c1", "--lti-login-url", "https://tool.example/login", "--lti-launch-url",
      "https://tool.example/launch", "--lti-jwks-url", "https://tool.example/jwks"], "client_id"),
])
def test_empty_lti_options_are_refused_not_ignored(migrated, db_path, capsys, extra, fragment):
    refused(capsys, db_path, ["-c", migrated, "provider", "add", "--name", "vendor", "--verbose-name", "V", *extra],
            fragment)


@pytest.mark.parametrize("kind", ["pem", "jwk", "jwks"])
def test_a_tool_key_file_may_hold_a_pem_a_jwk_or_a_jwks(migrated, tmp_path, capsys, kind):
    key = JWK.generate(kty="RSA", size=2048, kid="k1")
    text = {"pem": lambda: key.export_to_pem().decode(), "jwk": lambda: key.export_public(),
            "jwks": lambda: json.dumps({"keys": [json.loads(key.export_public())]})}[kind]()
    key_file = tmp_path / "tool.key"
    key_file.write_text(text)
    code, data, err = run(capsys, *lti_args(migrated, key_file))
    assert code == 0, err
    assert data["lti"]["tool_keys"] == "public key on file"


# -- provider update / remove -----------------------------------------------------------------------------------------
def test_provider_update_changes_the_given_fields_and_clears_others(migrated, capsys):
    added = add_provider(capsys, migrated, "proctorio", "--org-key", "edx", "--tech-support-email", "a@b.test")
    code, updated, err = run(capsys, "-c", migrated, "provider", "update", "--name", "proctorio",
                             "--verbose-name", "Proctorio 2", "--tech-support-url", "https://help.test",
                             "--clear", "org-key")
    assert code == 0, err
    assert updated == {**added, "verbose_name": "Proctorio 2", "tech_support_url": "https://help.test",
                       "org_key": None}
    assert run(capsys, "-c", migrated, "provider", "list")[1] == [updated]


@pytest.mark.parametrize("extra, fragments", [
    (["--tech-support-email", "notanemail"], ["--tech-support-email"]),
    (["--verbose-name", ""], ["--verbose-name", "blank"]),
    (["--tech-support-url", "ftp://files.test"], ["--tech-support-url"]),
    ([], ["nothing to change"]),
    (["--org-key", "edx", "--clear", "org-key"], ["--org-key", "--clear"]),
    (["--clear", "verbose-name"], ["--clear", "invalid choice"]),
])
def test_provider_update_validates_like_add(migrated, db_path, capsys, extra, fragments):
    add_provider(capsys, migrated)
    refused(capsys, db_path, ["-c", migrated, "provider", "update", "--name", "proctorio", *extra], *fragments)


def test_updating_or_removing_an_unknown_provider_is_refused(migrated, db_path, capsys):
    refused(capsys, db_path, ["-c", migrated, "provider", "update", "--name", "ghost", "--verbose-name", "G"],
            "no provider named 'ghost'")
    refused(capsys, db_path, ["-c", migrated, "provider", "remove", "--name", "ghost"], "no provider named 'ghost'")


def _services(ini_path, work):
    from exams.cli import load_settings

    return run_in_transaction(build_container(load_settings(ini_path)), work)


def test_a_provider_a_course_uses_cannot_be_removed(migrated, db_path, capsys):
    add_provider(capsys, migrated)
    _services(migrated, lambda s: s.exams.configure(C, "proctorio", None))
    refused(capsys, db_path, ["-c", migrated, "provider", "remove", "--name", "proctorio"],
            "'proctorio' is in use by", C)
    # Moved to no provider: the course's exams (with their attempts) still name it.
    _services(migrated, lambda s: s.exams.configure(C, None, None))
    provider_id = _services(migrated, lambda s: s.exams.providers()[0].id)
    _services(migrated, lambda s: s.repos.exams.add(Exam(
        id=None, course_id="course-v1:o+c+r", content_id="block-v1:o+c+r+type@sequential+block@a", exam_name="a",
        exam_type=ExamType.PROCTORED, time_limit_mins=5, is_active=False, provider_id=provider_id)))
    refused(capsys, db_path, ["-c", migrated, "provider", "remove", "--name", "proctorio"], "course-v1:o+c+r")


def test_an_unused_provider_is_removed(migrated, capsys):
    added = add_provider(capsys, migrated)
    add_provider(capsys, migrated, "other")
    code, data, err = run(capsys, "-c", migrated, "provider", "remove", "--name", "proctorio")
    assert (code, data) == (0, {"removed": added}), err
    assert [p["name"] for p in run(capsys, "-c", migrated, "provider", "list")[1]] == ["other"]


# -- staff ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["add", "remove"])
@pytest.mark.parametrize("username, course_id, fragments", [
    ("alice", "not-a-course", ["--course-id", "'not-a-course'", "not a course id"]),
    ("alice", "", ["--course-id"]),
    ("alice", "course-v1:a+b", ["--course-id"]),
    ("", C, ["--username", "''"]),
    ("   ", C, ["--username"]),
    ("x" * 151, C, ["--username", "150"]),
    ("al\x00ice", C, ["--username"]),
])
def test_staff_add_and_remove_refuse_bad_names(migrated, db_path, capsys, action, username, course_id, fragments):
    refused(capsys, db_path, ["-c", migrated, "staff", action, "--username", username, "--course-id", course_id,
                              "--role", "staff"], *fragments)


def test_staff_list_all_or_one_course(migrated, capsys):
    for user, course, role in (("bob", C, "staff"), ("alice", C, "instructor"), ("carol", "edX/Demo/2024", "staff")):
        assert run(capsys, "-c", migrated, "staff", "add", "--username", user, "--course-id", course,
                   "--role", role)[0] == 0
    code, listed, err = run(capsys, "-c", migrated, "staff", "list")
    assert code == 0, err
    assert listed == [{"username": "alice", "course_id": C, "role": "instructor"},
                      {"username": "bob", "course_id": C, "role": "staff"},
                      {"username": "carol", "course_id": "edX/Demo/2024", "role": "staff"}]
    assert run(capsys, "-c", migrated, "staff", "list", "--course-id", "edX/Demo/2024")[1] == [listed[2]]
    assert run(capsys, "-c", migrated, "staff", "list", "--course-id", "course-v1:x+y+z")[1] == []


def test_staff_list_refuses_a_bad_course_id(migrated, db_path, capsys):
    refused(capsys, db_path, ["-c", migrated, "staff", "list", "--course-id", "not-a-course"], "--course-id")


# -- staff import -------------------------------------------------------------------------------------------------------
HEADER = "username,email,role,course_id\n"
GOOD = f"alice,alice@example.com,staff,{C}\n"


@pytest.mark.parametrize("content, fragments", [
    (HEADER + GOOD + "bob,bob@example.com,staff,not-a-course\n", [":3:", "course_id", "not-a-course"]),
    (HEADER + GOOD + f"bob,bob@example.com,owner,{C}\n", [":3:", "role", "owner"]),
    (HEADER + GOOD + f",bob@example.com,staff,{C}\n", [":3:", "username"]),
    (HEADER + GOOD + f"bob,not-an-email,staff,{C}\n", [":3:", "email", "not-an-email"]),
    (HEADER + f'"alice,alice@example.com,staff,{C}\n' + GOOD, [":2:", "unbalanced quote"]),
    (HEADER + f'"ali"ce,alice@example.com,staff,{C}\n', [":2:", "quote"]),
    (HEADER + f"alice,alice@example.com,staff,{C},extra\n", [":2:", "5 fields, expected 4"]),
    (HEADER + GOOD + "bob,bob@example.com\n", [":3:", "2 fields, expected 4"]),
    (HEADER + f"alice,alice@example.com,staff,{C}\x00\n", [":2:", "NUL"]),
    ("user,role\nalice,staff\n", [":1:", "username,email,role,course_id"]),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xd8", [":1:", "not a UTF-8 text file"]),
    (HEADER.encode() + GOOD.encode() + b"b\xe9b,b@example.com,staff," + C.encode() + b"\n", [":3:", "0xe9"]),
])
def test_a_bad_csv_names_its_file_and_line_and_writes_nothing(migrated, db_path, tmp_path, capsys, content,
                                                              fragments):
    csv_file = tmp_path / "staff.csv"
    csv_file.write_bytes(content if isinstance(content, bytes) else content.encode())
    refused(capsys, db_path, ["-c", migrated, "staff", "import", str(csv_file)], str(csv_file), *fragments)


def test_a_csv_from_a_spreadsheet_with_a_bom_blank_lines_and_crlf_is_read(migrated, tmp_path, capsys):
    csv_file = tmp_path / "staff.csv"
    csv_file.write_bytes(("\ufeff" + HEADER + "\n" + GOOD + f'"bob","",limited_staff,{C}\n').replace("\n", "\r\n")
                         .encode())
    code, data, err = run(capsys, "-c", migrated, "staff", "import", str(csv_file))
    assert (code, data) == (0, {"rows": 2, "added": 2}), err


# -- token -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, fragments", [
    (["--username", ""], ["--username", "''"]),
    (["--username", " "], ["--username"]),
    (["--username", "x" * 151], ["--username"]),
    (["--username", "alice", "--email", "notanemail"], ["--email", "'notanemail'"]),
    (["--username", "alice", "--user-id", "0"], ["--user-id"]),
    (["--username", "alice", "--user-id", "2147483648"], ["--user-id", "2147483647"]),
    (["--username", "alice", "--ttl", "ten"], ["--ttl", "ten"]),
])
def test_token_refuses_what_the_api_would_not_accept(migrated, db_path, capsys, extra, fragments):
    refused(capsys, db_path, ["-c", migrated, "token", *extra], *fragments)


# -- numbers of the other commands ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, fragments", [
    (["events", "purge", "--older-than-days", "-1"], ["--older-than-days", "'-1'"]),
    (["events", "purge", "--older-than-days", "0"], ["--older-than-days", "'0'"]),
    (["events", "purge", "--older-than-days", "36501"], ["--older-than-days", "36500"]),
    (["events", "purge", "--older-than-days", "1.5"], ["--older-than-days", "whole number"]),
    (["events", "status", "--limit", "0"], ["--limit"]),
    (["events", "replay", "--since", "yesterday"], ["--since", "ISO 8601"]),
    (["mail", "status", "--limit", "-3"], ["--limit"]),
    (["consume-roles", "--once", "--block-ms", "0"], ["--block-ms"]),
    (["serve", "--workers", "0"], ["--workers"]),
    (["devtool", "--url", "http://localhost:notaport"], ["--url", "notaport"]),
])
def test_numbers_and_dates_are_checked_before_anything_runs(migrated, db_path, capsys, argv, fragments):
    refused(capsys, db_path, ["-c", migrated, *argv], *fragments)


def test_purging_with_a_negative_day_count_keeps_the_published_events(migrated, db_path, capsys):
    """The bug this guards against: -1 put the cut-off in the future and deleted every published event."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import create_engine, insert

    from exams.adapters.sql import tables

    now = datetime.now(timezone.utc)
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as conn:
        conn.execute(insert(tables.event_outbox).values(
            event_id="00000000-0000-0000-0000-000000000001", event_type="t", topic="t", partition_key=C,
            event_time=now.isoformat(), source="s", sourcehost="h", sourcelib="l", payload=b"x",
            created_at=now - timedelta(hours=2), published_at=now - timedelta(hours=1)))
    engine.dispose()
    refused(capsys, db_path, ["-c", migrated, "events", "purge", "--older-than-days", "-1"], "--older-than-days")
    code, data, err = run(capsys, "-c", migrated, "events", "purge", "--older-than-days", "1")
    assert (code, data["purged"]) == (0, 0), err
    assert len(snapshot(db_path)["event_outbox"]) == 1


# -- the ini file ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, content, fragments", [
    ("notanini.txt", "hello world\n", ["notanini.txt", "not an ini file"]),
    ("notanini.ini", "hello world\n", ["notanini.ini:1:", "not an ini file"]),
    ("binary.ini", b"\x00\x01\xff\xfe\x00", ["binary.ini", "not a text ini file"]),
    ("noapp.ini", "[server:main]\nport = 1\n", ["noapp.ini", "[app:main]"]),
    ("garbage.ini", "[app:main]\nuse = egg:exams\nthis line is no setting\n", ["garbage.ini:3:", "not an ini line"]),
    ("twice.ini", "[app:main]\nuse = egg:exams\nuse = egg:other\n", ["twice.ini:3:", "use is set twice in [app:main]"]),
    ("twosections.ini", "[app:main]\nuse = egg:exams\n[app:main]\n", ["twosections.ini:3:", "[app:main] appears twice"]),
    ("missing.ini", "[app:main]\nuse = egg:exams\nsqlalchemy.url = %(nowhere)s/x.db\n", ["missing.ini", "nowhere"]),
])
def test_a_config_that_is_no_ini_file_names_the_file(tmp_path, capsys, name, content, fragments):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, out, err = run(capsys, "-c", str(path), "provider", "list")
    assert code == 2
    assert_one_line_error(code, err, *fragments)
    assert "Error:" not in err.split("error:", 1)[1], "no bare exception name"


def test_a_folder_as_config_is_refused(tmp_path, capsys):
    code, _, err = run(capsys, "-c", str(tmp_path), "provider", "list")
    assert code == 2
    assert_one_line_error(code, err, str(tmp_path), "folder")


def test_an_unmigrated_database_says_to_migrate(ini, capsys):
    code, _, err = run(capsys, "-c", ini, "provider", "list")
    assert code == 1
    assert_one_line_error(code, err, "database:", "migrate")


# -- busy ports --------------------------------------------------------------------------------------------------------------
@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def test_devtool_on_a_busy_port_says_so_in_one_line(tmp_path, db_path, migrated_template, busy_port, capsys):
    ini_path = write_ini(tmp_path / "dev.ini", db_path, **{"exams.demo.enabled": "true",
                                                            "exams.lti.allow_http_tool_urls": "true"})
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(migrated_template)) as source, closing(sqlite3.connect(db_path)) as target:
        source.backup(target)
    refused(capsys, db_path, ["-c", ini_path, "devtool", "--url", f"http://127.0.0.1:{busy_port}"],
            f"port {busy_port} on 127.0.0.1 is taken", status=1)


def test_the_service_on_a_busy_port_says_so_in_one_line(tmp_path, busy_port):
    """What scripts/run calls before pserve, and what `exams serve` says."""
    ini_path = tmp_path / "server.ini"
    ini_path.write_text(f"[app:main]\nuse = egg:exams\nsqlalchemy.url = sqlite:///{tmp_path}/x.db\n\n[server:main]\nuse = egg:waitress#main\n"
                        f"listen = 127.0.0.1:{busy_port}\n")
    check = subprocess.run([sys.executable, "-m", "exams.serve", "--check", str(ini_path)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 1
    assert check.stderr.count("\n") == 1 and "Traceback" not in check.stderr, check.stderr
    assert f"port {busy_port} on 127.0.0.1 is taken" in check.stderr and str(ini_path) in check.stderr
    serve = subprocess.run([sys.executable, "-m", "exams.cli", "-c", str(ini_path), "serve", "--workers", "1"],
                           capture_output=True, text=True, timeout=60)
    assert serve.returncode == 1
    assert serve.stderr == f"exams: error: port {busy_port} on 127.0.0.1 is taken: another process listens there " \
                           "(stop it or use another port)\n"
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        free_port = free.getsockname()[1]
    ini_path.write_text(ini_path.read_text().replace(str(busy_port), str(free_port)))
    assert subprocess.run([sys.executable, "-m", "exams.serve", "--check", str(ini_path)],
                          timeout=60).returncode == 0

