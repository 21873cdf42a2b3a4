"""``exams demo``: every curl line it prints is run against the app, so the walk cannot rot.

The printed text is read as the shell would: ``export`` lines set variables, ``$NAME`` is expanded,
``NAME=$(curl ... | python3 -c '...')`` runs the curl here and the python3 snippet for real on the
response body. Each curl command becomes the same request through webtest.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import replace

import pytest

from exams import cli
from exams.demo import COURSE, seed
from exams.settings import Settings, SettingsError
from tests.conftest import JWT_SECRET

CAPTURE = re.compile(r"^(?P<name>[A-Z_]+)=\$\((?P<curl>curl .*?) \| (?P<pipe>python3 .*)\)$")


def demo_settings(wsgi, **changes) -> Settings:
    values = {**wsgi.container.settings().values, "exams.demo.enabled": True, **changes}
    return replace(wsgi.container.settings(), values=values)


def expand(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda m: env[m.group(1) or m.group(2)], text)


def run_curl(app, command: str, env: dict[str, str]):
    """The curl command as a webtest request; returns the response."""
    args = shlex.split(expand(command, env))
    assert args[0] == "curl"
    method, headers, data, url = "GET", {}, None, None
    words = iter(args[1:])
    for word in words:
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            data = next(words).encode()
            method = "POST" if method == "GET" else method
        elif word == "-w":
            next(words)
        elif word == "-s":
            continue
        else:
            assert url is None and not word.startswith("-"), f"unexpected curl argument {word!r}"
            url = word
    root = env["EXAMS"]
    assert url.startswith(root + "/"), url
    return app.request(url[len(root):], method=method, headers=headers, body=data or b"", expect_errors=True)


def walk(app, text: str) -> list[tuple[str, object]]:
    """Run every line; returns (the step's comment, response) for each curl."""
    env: dict[str, str] = {}
    steps, comment = [], ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            comment = line
            continue
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            env[name] = shlex.split(value)[0]
        elif line.startswith("echo "):
            continue
        elif match := CAPTURE.match(line):
            response = run_curl(app, match["curl"], env)
            steps.append((comment, response))
            pipe = shlex.split(match["pipe"])
            assert pipe[:2] == ["python3", "-c"]
            out = subprocess.run([sys.executable, "-c", pipe[2]], input=response.body, capture_output=True,
                                 check=True)
            env[match["name"]] = out.stdout.decode().strip()
        elif line.startswith("curl "):
            steps.append((comment, run_curl(app, line, env)))
        else:
            pytest.fail(f"a line the walk cannot read: {line!r}")
    return steps


def test_every_printed_step_works_and_takes_a_timed_attempt_to_submission(testapp, wsgi):
    text = seed(wsgi.container, demo_settings(wsgi), config_path="development.ini")
    steps = walk(testapp, text)
    assert len(steps) == 9
    for comment, response in steps:
        assert 200 <= response.status_int < 300, (comment, response.status, response.body)
    view_before, created, latest, token, stop, submit, view_after, listing, reset = (r for _, r in steps)
    assert view_before.json["exam"]["attempt"] == {} and view_before.json["exam"]["type"] == "timed"
    attempt_id = created.json["exam_attempt_id"]
    assert (latest.json["attempt_id"], latest.json["attempt_status"]) == (attempt_id, "started")
    assert latest.json["time_remaining_seconds"] > 0
    assert token.json["exam_access_token"]
    assert stop.json == submit.json == {"exam_attempt_id": attempt_id}
    assert view_after.json["exam"]["attempt"]["attempt_status"] == "submitted"
    assert [(r["attempt_id"], r["username"], r["attempt_status"]) for r in listing.json["results"]] == [
        (attempt_id, "demo_learner", "submitted")]
    assert reset.status_int == 204


def test_the_walk_can_be_repeated_after_seeding_again(testapp, wsgi):
    first = seed(wsgi.container, demo_settings(wsgi), config_path="development.ini")
    walk(testapp, first.replace("# 8.", "# 8 skipped").rsplit("\ncurl -s -X DELETE", 1)[0])
    second = seed(wsgi.container, demo_settings(wsgi), config_path="development.ini")
    exam_lines = [line for line in first.splitlines() if "exam_id=" in line and line.startswith("#   ")]
    assert exam_lines == [line for line in second.splitlines() if "exam_id=" in line and line.startswith("#   ")]
    assert all(200 <= r.status_int < 300 for _, r in walk(testapp, second))
    exams = testapp.get(f"/api/v1/exams/course_id/{COURSE}", headers=_staff(second)).json
    assert sorted(e["exam_type"] for e in exams) == ["practice", "proctored", "timed"]
    config = testapp.get(f"/api/v1/configs/course_id/{COURSE}", headers=_staff(second)).json
    assert config == {"provider": "demo_proctoring", "escalation_email": "exams-demo@example.com"}


def _staff(text: str) -> dict:
    token = re.search(r"^export STAFF_TOKEN=(\S+)$", text, re.M).group(1)
    return {"Authorization": f"JWT {token}"}


def test_the_demo_points_at_the_configured_root_url(testapp, wsgi):
    text = seed(wsgi.container, demo_settings(wsgi, **{"exams.root_url": "http://exams.example:8080"}),
                config_path="my.ini")
    assert "export EXAMS=http://exams.example:8080" in text
    assert "exams -c my.ini token --username demo_learner" in text


def test_the_demo_refuses_without_a_jwt_secret(testapp, wsgi):
    with pytest.raises(SettingsError, match="no exams.jwt.secret_key"):
        seed(wsgi.container, demo_settings(wsgi, **{"exams.jwt.secret_key": ""}), config_path="x.ini")
    assert testapp.get(f"/api/v1/configs/course_id/{COURSE}", headers=_any_user()).json["provider"] is None


def test_the_demo_refuses_unless_enabled(testapp, wsgi):
    with pytest.raises(SettingsError, match="exams.demo.enabled"):
        seed(wsgi.container, demo_settings(wsgi, **{"exams.demo.enabled": False}), config_path="x.ini")


def _any_user() -> dict:
    from tests.conftest import auth
    return auth("someone", user_id=5)


def test_the_demo_command_says_why_it_refuses(tmp_path, capsys, database_url):
    ini = tmp_path / "demo.ini"
    ini.write_text(f"[app:main]\nsqlalchemy.url = {database_url}\nexams.demo.enabled = true\n"
                   "exams.jwt.secret_key =\n")
    assert cli.main(["-c", str(ini), "demo"]) == 2
    assert "cannot sign the demo tokens" in capsys.readouterr().err
    ini.write_text(f"[app:main]\nsqlalchemy.url = {database_url}\nexams.jwt.secret_key = {JWT_SECRET}\n")
    assert cli.main(["-c", str(ini), "demo"]) == 2
    assert "exams.demo.enabled = true" in capsys.readouterr().err
