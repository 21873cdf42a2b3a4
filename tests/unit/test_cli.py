"""The operator command ``exams -c INI ...``, called in-process on a SQLite database of its own."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import plaster
import pytest
from sqlalchemy import create_engine, inspect, select
from webtest import TestApp

from exams.adapters.sql import tables
from exams.cli import main
from exams.settings import SETTINGS
from tests.conftest import ACCESS_KEY, JWT_AUDIENCE, JWT_ISSUER

C = "course-v1:edx+test+f19"
SECRET = "cli-test-secret"


def write_ini(path, db_path, **extra) -> str:
    settings = {"sqlalchemy.url": f"sqlite:///{db_path}", "exams.jwt.issuer": JWT_ISSUER,
                "exams.jwt.audience": JWT_AUDIENCE, "exams.jwt.secret_key": SECRET,
                "exams.access_token.private_jwk": json.dumps(ACCESS_KEY), **extra}
    lines = ["[app:main]", "use = egg:exams"] + [f"{k} = {v}" for k, v in settings.items() if v is not None]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for setting in SETTINGS.values():
        monkeypatch.delenv(setting.env, raising=False)
    monkeypatch.delenv("EXAMS_DEBUG", raising=False)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "var" / "exams.db"


@pytest.fixture
def ini(tmp_path, db_path):
    return write_ini(tmp_path / "test.ini", db_path)


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory):
    """One database migrated by the command; each test gets a copy (migrating is the slow part)."""
    folder = tmp_path_factory.mktemp("template")
    ini = write_ini(folder / "template.ini", folder / "exams.db")
    with pytest.MonkeyPatch.context() as mp:
        for setting in SETTINGS.values():
            mp.delenv(setting.env, raising=False)
        assert main(["-c", ini, "migrate"]) == 0
    return folder / "exams.db"


@pytest.fixture
def migrated(ini, db_path, migrated_template, capsys):
    capsys.readouterr()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    # The backup API reads through the write-ahead log, which a plain file copy could miss.
    with closing(sqlite3.connect(migrated_template)) as source, closing(sqlite3.connect(db_path)) as target:
        source.backup(target)
    return ini


def run(capsys, *argv):
    """Exit status, parsed JSON output (or the raw text), and stderr."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    try:
        data = json.loads(out) if out.strip() else None
    except ValueError:
        data = out
    return status, data, err


def assert_one_line_error(status, err, *fragments):
    assert status != 0
    assert err.startswith("exams: error: "), err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def db_rows(db_path, table):
    engine = create_engine(f"sqlite:///{db_path}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(table).order_by(table.c.id)))
    finally:
        engine.dispose()


# -- migrate --------------------------------------------------------------------------------------
def test_migrate_creates_the_schema_and_its_folder(ini, db_path, capsys):
    status, data, err = run(capsys, "-c", ini, "migrate")
    assert status == 0, err
    assert data["migrated"] is True
    engine = create_engine(f"sqlite:///{db_path}")
    assert {t.name for t in tables.metadata.sorted_tables} <= set(inspect(engine).get_table_names())
    engine.dispose()
    assert run(capsys, "-c", ini, "migrate")[0] == 0, "migrating again is a no-op"


# -- providers ---------------------------------------------------------------------------------------
def test_provider_add_and_list(migrated, capsys):
    status, added, err = run(capsys, "-c", migrated, "provider", "add", "--name", "proctorio", "--verbose-name",
                             "Proctorio", "--org-key", "edx", "--tech-support-email", "help@proctorio.test",
                             "--tech-support-phone", "+1 555", "--tech-support-url", "https://help.proctorio.test")
    assert status == 0, err
    assert {k: v for k, v in added.items() if k != "id"} == {
        "name": "proctorio", "verbose_name": "Proctorio", "lti_configuration_id": "", "org_key": "edx",
        "tech_support_email": "help@proctorio.test", "tech_support_phone": "+1 555",
        "tech_support_url": "https://help.proctorio.test"}
    run(capsys, "-c", migrated, "provider", "add", "--name", "other", "--verbose-name", "Other")
    status, listed, _ = run(capsys, "-c", migrated, "provider", "list")
    assert status == 0
    assert [p["name"] for p in listed] == ["proctorio", "other"]
    assert listed[0] == added


def test_a_second_provider_with_the_same_name_is_a_one_line_error(migrated, db_path, capsys):
    run(capsys, "-c", migrated, "provider", "add", "--name", "proctorio", "--verbose-name", "Proctorio")
    status, _, err = run(capsys, "-c", migrated, "provider", "add", "--name", "proctorio", "--verbose-name", "Again")
    assert_one_line_error(status, err, "proctorio")
    assert [r.verbose_name for r in db_rows(db_path, tables.providers)] == ["Proctorio"]


# -- course staff --------------------------------------------------------------------------------------
def roles(db_path):
    users = {u.id: u.username for u in db_rows(db_path, tables.users)}
    return sorted((users[r.user_id], r.course_id, r.role) for r in db_rows(db_path, tables.course_staff_roles))


def test_staff_add_and_remove_are_idempotent(migrated, db_path, capsys):
    args = ["--username", "instructor1", "--course-id", C, "--role", "instructor"]
    assert run(capsys, "-c", migrated, "staff", "add", *args)[1] == {
        "username": "instructor1", "course_id": C, "role": "instructor", "added": True}
    assert run(capsys, "-c", migrated, "staff", "add", *args)[1]["added"] is False
    assert roles(db_path) == [("instructor1", C, "instructor")]
    assert run(capsys, "-c", migrated, "staff", "remove", *args)[1]["removed"] is True
    assert run(capsys, "-c", migrated, "staff", "remove", *args)[1]["removed"] is False
    assert roles(db_path) == []
    assert [u.username for u in db_rows(db_path, tables.users)] == ["instructor1"]


def test_removing_a_role_of_an_unknown_user_creates_nobody(migrated, db_path, capsys):
    status, data, _ = run(capsys, "-c", migrated, "staff", "remove", "--username", "ghost", "--course-id", C,
                          "--role", "staff")
    assert (status, data["removed"]) == (0, False)
    assert db_rows(db_path, tables.users) == []


def test_staff_import_reads_the_bulk_add_course_staff_csv(migrated, db_path, tmp_path, capsys):
    csv_file = tmp_path / "staff.csv"
    csv_file.write_text("username,email,role,course_id\n"
                        f"alice,alice@example.com,staff,{C}\n"
                        f"alice,alice@example.com,instructor,{C}\n"
                        f"bob,bob@example.com,limited_staff,{C}\n"
                        f"alice,alice@example.com,staff,{C}\n")
    status, data, err = run(capsys, "-c", migrated, "staff", "import", str(csv_file))
    assert status == 0, err
    assert data == {"rows": 4, "added": 3}
    assert roles(db_path) == [("alice", C, "instructor"), ("alice", C, "staff"), ("bob", C, "limited_staff")]
    assert {u.username: u.email for u in db_rows(db_path, tables.users)} == \
        {"alice": "alice@example.com", "bob": "bob@example.com"}


def test_a_bad_row_in_the_import_writes_nothing(migrated, db_path, tmp_path, capsys):
    csv_file = tmp_path / "staff.csv"
    csv_file.write_text("username,email,role,course_id\n"
                        f"alice,alice@example.com,staff,{C}\n"
                        f"bob,bob@example.com,owner,{C}\n")
    status, _, err = run(capsys, "-c", migrated, "staff", "import", str(csv_file))
    assert_one_line_error(status, err, "owner")
    assert roles(db_path) == [] and db_rows(db_path, tables.users) == []


@pytest.mark.parametrize("content, fragment", [
    ("user,role\nalice,staff\n", "username,email,role,course_id"),
    (f"username,email,role,course_id\n,a@example.com,staff,{C}\n", ":2:"),
    ("username,email,role,course_id\nalice,a@example.com,staff\n", ":2:"),
])
def test_a_malformed_csv_is_a_one_line_error(migrated, db_path, tmp_path, capsys, content, fragment):
    csv_file = tmp_path / "staff.csv"
    csv_file.write_text(content)
    status, _, err = run(capsys, "-c", migrated, "staff", "import", str(csv_file))
    assert_one_line_error(status, err, fragment)
    assert roles(db_path) == []


def test_importing_a_missing_file_is_a_one_line_error(migrated, tmp_path, capsys):
    status, _, err = run(capsys, "-c", migrated, "staff", "import", str(tmp_path / "nope.csv"))
    assert_one_line_error(status, err, "nope.csv")


# -- token ------------------------------------------------------------------------------------------------
def test_token_refuses_without_a_secret(tmp_path, db_path, capsys):
    ini = write_ini(tmp_path / "nosecret.ini", db_path, **{"exams.jwt.secret_key": None})
    status, out, err = run(capsys, "-c", ini, "token", "--username", "alice")
    assert_one_line_error(status, err, "EXAMS_JWT_SECRET_KEY")
    assert out is None


def test_the_printed_token_is_accepted_by_the_app(migrated, db_path, tmp_path, capsys):
    from exams.app import main as make_app

    status, token, err = run(capsys, "-c", migrated, "token", "--username", "alice", "--user-id", "7",
                             "--email", "alice@school.test", "--staff", "--ttl", "120")
    assert status == 0, err
    token = token.strip() if isinstance(token, str) else token
    assert isinstance(token, str) and token.count(".") == 2
    app = TestApp(make_app({"here": str(tmp_path)}, **plaster.get_settings(migrated, "app:main")))
    app.get(f"/api/v1/exams/course_id/{C}", headers={"Authorization": f"JWT {token}"}, status=200)
    (user,) = db_rows(db_path, tables.users)
    assert (user.username, user.lms_user_id, user.email, user.is_staff) == ("alice", 7, "alice@school.test", True)


def test_a_token_without_staff_is_a_learner(migrated, db_path, tmp_path, capsys):
    from exams.app import main as make_app

    _, token, _ = run(capsys, "-c", migrated, "token", "--username", "bob")
    app = TestApp(make_app({"here": str(tmp_path)}, **plaster.get_settings(migrated, "app:main")))
    app.get(f"/api/v1/exams/course_id/{C}", headers={"Authorization": f"JWT {token.strip()}"}, status=403)
    app.get(f"/api/v1/configs/course_id/{C}", headers={"Authorization": f"JWT {token.strip()}"}, status=200)


# -- bad arguments ----------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, fragment", [
    ([], "-c"),
    (["-c"], "-c"),
    (["-c", "{ini}"], "command"),
    (["-c", "{ini}", "launch-missiles"], "launch-missiles"),
    (["-c", "{ini}", "provider"], "action"),
    (["-c", "{ini}", "provider", "add", "--name", "x"], "--verbose-name"),
    (["-c", "{ini}", "staff", "add", "--username", "a", "--course-id", C, "--role", "owner"], "owner"),
    (["-c", "{ini}", "staff", "remove", "--username", "a", "--role", "staff"], "--course-id"),
    (["-c", "{ini}", "token"], "--username"),
    (["-c", "{ini}", "token", "--username", "a", "--user-id", "seven"], "seven"),
    (["-c", "{ini}", "token", "--username", "a", "--ttl", "0"], "--ttl"),
    (["-c", "{ini}", "token", "--username", "a", "--ttl", "-5"], "--ttl"),
    (["-c", "/nowhere/exams.ini", "migrate"], "/nowhere/exams.ini"),
])
def test_bad_arguments_are_a_one_line_error_and_a_non_zero_exit(ini, capsys, argv, fragment):
    status, out, err = run(capsys, *[a.replace("{ini}", ini) for a in argv])
    assert_one_line_error(status, err, fragment)
    assert out is None


def test_a_bad_setting_in_the_ini_is_a_one_line_error_naming_it(tmp_path, db_path, capsys):
    ini = write_ini(tmp_path / "bad.ini", db_path, **{"exams.jwt.leeway": "soon"})
    assert_one_line_error(*run(capsys, "-c", ini, "provider", "list")[::2], "exams.jwt.leeway")
    ini = write_ini(tmp_path / "typo.ini", db_path, **{"exams.cors.origin": "https://apps.example.com"})
    assert_one_line_error(*run(capsys, "-c", ini, "provider", "list")[::2], "exams.cors.origin")


def test_an_unmigrated_database_is_a_one_line_error(ini, capsys):
    status, _, err = run(capsys, "-c", ini, "provider", "list")
    assert_one_line_error(status, err)


# -- access-token-jwks ------------------------------------------------------------------------------------
def test_the_printed_public_keys_verify_the_exam_access_tokens_the_app_signs(migrated, tmp_path, capsys):
    from jwcrypto import jwk, jwt

    from exams.cli import load_settings
    from exams.container import build_container

    status, out, err = run(capsys, "-c", migrated, "access-token-jwks")
    assert status == 0, err
    keys = out
    assert all("d" not in key for key in keys["keys"]), "the private part must never be printed"
    token = build_container(load_settings(migrated)).access_tokens().sign(7, 60, {"course_id": C})
    claims = json.loads(jwt.JWT(jwt=token, key=jwk.JWKSet.from_json(json.dumps(keys)), algs=["RS512"]).claims)
    assert (claims["lms_user_id"], claims["course_id"]) == (7, C)
