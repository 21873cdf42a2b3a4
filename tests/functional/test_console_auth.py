"""The console's doors: sign-in with the LMS (OAuth2), the one-time link, the session, CSRF and who sees what."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exams.adapters.sql import tables
from tests.functional.console_world import (COURSE, OTHER, SCRIPT_NAME, callback_path, console_wsgi,  # noqa: F401
                                            follow_lms, oauth_stub, query_of, world)
from tests.functional.dbstate import snapshot


def start_sign_in(w, next_path="/console/"):
    answer = w.app.get("/console/login/start", {"next": next_path}, status=303)
    assert answer.location.startswith(w.container.settings()["exams.lms_root_url"] + "/oauth2/authorize?")
    assert "HttpOnly" in answer.headers["Set-Cookie"] and "SameSite=Lax" in answer.headers["Set-Cookie"]
    return answer.location


def test_staff_sign_in_with_the_lms_authorization_code_flow(world, oauth_stub):
    w = world
    oauth_stub.sign_in_as("admin", user_id=101, staff=True)
    w.app.get("/console/attempts", status=303).location.endswith("/console/login?next=%2Fconsole%2Fattempts")
    authorize = start_sign_in(w, "/console/attempts")
    q = query_of(authorize)
    assert (q["client_id"], q["response_type"], q["redirect_uri"]) == (
        "exams-console-client", "code", "http://localhost/console/oauth2/callback")
    back = w.app.get(callback_path(follow_lms(authorize)), status=303)
    assert back.location == "http://localhost/console/attempts"
    session_cookie = [h for k, h in back.headerlist if k == "Set-Cookie" and h.startswith("exams_console=")][0]
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie and "Path=/console" in session_cookie
    assert "secure" not in session_cookie.lower()  # exams.cookies.secure is off in the tests
    page = w.app.get("/console/attempts")
    assert page.html.find(id="signed-in-as").text == "admin"
    assert oauth_stub.token_requests[-1]["token_type"] == "jwt"
    assert [e.action for e in w.audit()] == ["console.sign_in"]


def test_a_replayed_oauth2_callback_is_refused(world, oauth_stub):
    w = world
    oauth_stub.sign_in_as("admin", user_id=101, staff=True)
    authorize = start_sign_in(w)
    state_cookie = w.app.cookies["exams_console_oauth"]
    callback = callback_path(follow_lms(authorize))
    w.app.get(callback, status=303)
    w.app.reset()
    # The same state again, even with the state cookie put back (an attacker who kept both).
    w.app.set_cookie("exams_console_oauth", state_cookie)
    page = w.app.get(callback, status=400)
    assert "already used or has expired" in page.text
    assert "exams_console" not in w.app.cookies


def test_a_callback_without_our_state_cookie_or_with_another_state_is_refused(world, oauth_stub):
    w = world
    authorize = start_sign_in(w)
    callback = callback_path(follow_lms(authorize))
    forged = callback.replace("state=", "state=x")
    w.app.get(forged, status=400)
    w.app.reset()
    before = snapshot(w.container.engine())
    w.app.get(callback, status=400)  # no state cookie in this browser: login CSRF refused
    assert snapshot(w.container.engine()) == before


def test_a_learner_signs_in_but_is_turned_away(world, oauth_stub):
    w = world
    oauth_stub.sign_in_as("plain", user_id=105)
    page = w.app.get(callback_path(follow_lms(start_sign_in(w))), status=403)
    assert "No access" in page.text
    assert "exams_console" not in w.app.cookies
    w.app.get("/console/", status=303)


def test_the_lms_refusing_the_code_is_a_clear_page_not_a_500(world, oauth_stub):
    w = world
    authorize = start_sign_in(w)
    callback = callback_path(follow_lms(authorize))
    oauth_stub.codes.clear()  # the code is no longer valid at the LMS
    page = w.app.get(callback, status=502)
    assert "did not give a token" in page.text


def test_an_expired_session_signs_out(world):
    w = world
    w.sign_in("admin")
    page = w.app.get(f"/console/attempts/{w.ids['submitted']}/verify")
    token = w.csrf(page)
    w.clock.advance(seconds=3601)
    assert w.app.get("/console/attempts", status=303).location.startswith("http://localhost/console/login")
    answer = w.app.post(f"/console/attempts/{w.ids['submitted']}/verify", {"csrf_token": token, "reason": "ok"},
                        status=403)
    assert "session has ended" in answer.text
    assert w.status(w.ids["submitted"]) == "submitted"


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_a_missing_or_wrong_csrf_token_changes_nothing(world, token):
    w = world
    w.sign_in("admin")
    w.app.get("/console/")
    before = snapshot(w.container.engine())
    form = {"reason": "looks fine"}
    if token is not None:
        form["csrf_token"] = token
    page = w.app.post(f"/console/attempts/{w.ids['submitted']}/verify", form, status=403)
    assert "security token" in page.text
    assert snapshot(w.container.engine()) == before


def test_a_csrf_token_of_another_session_is_refused(world):
    w = world
    w.sign_in("cstaff")
    token = w.csrf(w.app.get("/console/"))
    w.sign_in("admin")
    w.app.post(f"/console/attempts/{w.ids['submitted']}/verify", {"csrf_token": token, "reason": "x"}, status=403)
    assert w.status(w.ids["submitted"]) == "submitted"


def test_a_foreign_origin_is_refused_even_with_the_token(world):
    w = world
    w.sign_in("admin")
    token = w.csrf(w.app.get("/console/"))
    w.app.post(f"/console/attempts/{w.ids['submitted']}/verify", {"csrf_token": token, "reason": "x"},
               headers={"Origin": "http://evil.test"}, status=403)
    assert w.status(w.ids["submitted"]) == "submitted"


def test_course_staff_of_another_course_get_404_for_its_attempts_and_course(world):
    w = world
    w.sign_in("ostaff")
    token = w.csrf(w.app.get("/console/"))
    before = snapshot(w.container.engine())
    for path in (f"/console/attempts/{w.ids['submitted']}", f"/console/attempts/{w.ids['submitted']}/verify",
                 f"/console/courses/{COURSE}", "/console/providers", "/console/outboxes", "/console/keys"):
        w.app.get(path, status=404)
    for path, form in ((f"/console/attempts/{w.ids['submitted']}/verify", {"reason": "x"}),
                       (f"/console/attempts/{w.ids['errored']}/resume", {"reason": "x"}),
                       (f"/console/courses/{COURSE}/config", {"provider": "", "escalation_email": ""}),
                       (f"/console/courses/{COURSE}/allowances",
                        {"username": "plain", "exam_id": str(w.ids["exam"]), "extra_time_mins": "5"})):
        w.app.post(path, {**form, "csrf_token": token}, status=404)
    assert snapshot(w.container.engine()) == before
    # Their own course is there; searching another course finds nothing.
    w.app.get(f"/console/courses/{OTHER}", status=200)
    assert "No attempt matches" in w.app.get("/console/attempts", {"course_id": COURSE}).text
    assert "No attempt matches" in w.app.get("/console/attempts", {"username": "plain", "course_id": COURSE}).text
    found = w.app.get("/console/attempts", {"username": "plain"})
    assert [a["href"] for a in found.html.select("#results a")] == [
        f"http://localhost/console/attempts/{w.ids['other_attempt']}"]


def test_actions_are_not_reachable_by_get(world):
    w = world
    w.sign_in("admin")
    before = snapshot(w.container.engine())
    page = w.app.get(f"/console/attempts/{w.ids['submitted']}/verify")  # a confirmation page, nothing more
    assert page.html.find("form", method="post")
    for path in ("/console/logout", f"/console/courses/{COURSE}/config", f"/console/courses/{COURSE}/allowances",
                 f"/console/courses/{COURSE}/staff", "/console/outboxes/mail-retry"):
        assert w.app.get(path, expect_errors=True).status_int in (404, 405)
    assert snapshot(w.container.engine()) == before


def test_every_form_carries_the_csrf_token(world):
    w = world
    w.sign_in("admin")
    for path in ("/console/", f"/console/attempts/{w.ids['errored']}/resume", f"/console/courses/{COURSE}",
                 "/console/providers/new", "/console/outboxes", f"/console/providers/{w.ids['provider']}"):
        page = w.app.get(path)
        for form in page.html.find_all("form", method="post"):
            if form.get("action", "").endswith("/console/login/link"):
                continue
            assert form.find("input", {"name": "csrf_token"})["value"] == w.csrf(page), (path, form.get("action"))


def test_output_is_escaped(world):
    w = world
    w.sign_in("admin")
    page = w.app.get(f"/console/attempts/{w.ids['submitted']}")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert page.html.find(id="learner").text.startswith(SCRIPT_NAME)
    assert "Final &lt;exam&gt;" in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_one_time_sign_in_link(world):
    w = world
    token = w.cookies.link_token("cstaff", w.clock.now())
    page = w.app.get("/console/login/link", {"token": token})
    assert page.html.find(id="link-user").text == "cstaff"
    assert "exams_console" not in w.app.cookies  # the GET signs nobody in
    page.form.submit(status=303)
    assert w.app.get("/console/").html.find(id="signed-in-as").text == "cstaff"
    w.app.reset()
    w.app.post("/console/login/link", {"token": token}, status=400)  # once only
    w.app.post("/console/login/link", {"token": token[:-2] + "00"}, status=400)
    w.clock.advance(seconds=601)
    late = w.cookies.link_token("cstaff", w.clock.now() - timedelta(seconds=601))
    w.app.post("/console/login/link", {"token": late}, status=400)


def test_unknown_console_pages_are_html_404s(world):
    w = world
    page = w.app.get("/console/nothing-here", status=404)
    assert page.content_type == "text/html"


def test_audit_rows_are_the_only_thing_sign_in_writes(world, oauth_stub):
    w = world
    oauth_stub.sign_in_as("admin", user_id=101, staff=True)
    w.app.get(callback_path(follow_lms(start_sign_in(w))), status=303)
    with w.container.engine().connect() as conn:
        rows = conn.execute(tables.console_audit_log.select()).all()
    assert [(r.actor_username, r.action) for r in rows] == [("admin", "console.sign_in")]
