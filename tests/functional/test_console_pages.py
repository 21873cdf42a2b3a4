"""The console's pages and actions over the real app: the same rules as the API and the CLI, audited."""

from __future__ import annotations

from sqlalchemy import select

from exams.adapters.sql import tables
from exams.services.attempts import AllowanceRequest
from tests.functional.console_world import COURSE, OTHER, SCRIPT_NAME, console_wsgi, oauth_stub, world  # noqa: F401
from tests.functional.dbstate import snapshot


def post_form(w, page, form_id=None, status=303, **fields):
    form = page.forms[form_id] if form_id else [f for i, f in page.forms.items()
                                                if isinstance(i, int) and f.id != "logout-form"][0]
    for key, value in fields.items():
        form[key] = value
    return form.submit(status=status)


# -- attempts ----------------------------------------------------------------------------------------------
def test_search_by_each_filter(world):
    w = world
    w.sign_in("admin")
    by = lambda **q: [a.text for a in w.app.get("/console/attempts", q).html.select("#results td:first-child a")]
    assert by(username=SCRIPT_NAME) == [f"#{w.ids['submitted']}"]
    assert set(by(course_id=COURSE)) == {f"#{w.ids['submitted']}", f"#{w.ids['errored']}"}
    assert by(exam_id=str(w.ids["other_exam"])) == [f"#{w.ids['other_attempt']}"]
    assert by(status="error") == [f"#{w.ids['errored']}"]
    assert by(username="plain", status="submitted") == [f"#{w.ids['other_attempt']}"]


def test_search_by_email_ignores_case(world):
    w = world
    w.sign_in("admin")
    email = w.tx(lambda s: s.repos.users.get(w.ids["plain"]).email)
    page = w.app.get("/console/attempts", {"email": email.upper()})
    assert {a.text for a in page.html.select("#results td:first-child a")} == {
        f"#{w.ids['errored']}", f"#{w.ids['other_attempt']}"}


def test_bad_search_input_re_renders_with_field_errors(world):
    w = world
    w.sign_in("admin")
    page = w.app.get("/console/attempts", {"exam_id": "abc", "status": "bogus"}, status=400)
    assert page.html.find(id="f-e-exam_id").text == "An exam id is a whole number."
    assert page.html.find(id="f-e-status").text == "Choose a status from the list."
    assert page.html.find(id="f-exam_id")["value"] == "abc"


def test_the_attempt_page_shows_history_reviews_and_time(world):
    w = world
    w.sign_in("cstaff")
    page = w.app.get(f"/console/attempts/{w.ids['errored']}")
    rows = [[td.text for td in tr.find_all("td")][1:] for tr in page.html.select("#history tbody tr")]
    assert rows == [["plain", "—", "created"], ["plain", "created", "started"], ["plain", "started", "error"]]
    assert page.html.find(id="status").text == "error"
    assert page.html.find(id="action-resume")
    assert page.html.find(id="time-remaining").text == "0 min 0 s"


def test_verify_with_a_reason_is_done_and_audited(world):
    w = world
    w.sign_in("cstaff")
    confirm = w.app.get(f"/console/attempts/{w.ids['submitted']}/verify")
    done = post_form(w, confirm, reason="Reviewed the recording: fine.")
    assert done.location == f"http://localhost/console/attempts/{w.ids['submitted']}"
    assert w.status(w.ids["submitted"]) == "verified"
    entry = w.audit()[0]
    assert (entry.actor_username, entry.action, entry.course_id, entry.reason) == (
        "cstaff", "attempt.verify", COURSE, "Reviewed the recording: fine.")
    assert entry.details["before"] == "submitted" and entry.details["after"] == "verified"
    history = w.app.get(f"/console/attempts/{w.ids['submitted']}").html.select("#history tbody tr")
    assert [td.text for td in history[-1].find_all("td")][1:] == ["cstaff", "submitted", "verified"]
    audit = w.app.get("/console/audit")
    assert "Reviewed the recording: fine." in audit.html.find("table", class_="audit").text


def test_an_action_without_a_reason_re_renders_and_changes_nothing(world):
    w = world
    w.sign_in("admin")
    confirm = w.app.get(f"/console/attempts/{w.ids['submitted']}/reject")
    before = snapshot(w.container.engine())
    page = post_form(w, confirm, status=400, reason="   ")
    assert page.html.find(id="e-reason").text == "Give a reason: it is kept in the audit log."
    assert snapshot(w.container.engine()) == before


def test_an_illegal_move_re_renders_with_the_rule_and_changes_nothing(world):
    w = world
    w.sign_in("admin")
    confirm = w.app.get(f"/console/attempts/{w.ids['submitted']}/resume")
    before = snapshot(w.container.engine())
    page = post_form(w, confirm, status=400, reason="try")
    assert 'Only an attempt in "error" can be resumed' in page.html.text
    assert snapshot(w.container.engine()) == before


def test_resume_an_errored_attempt_keeps_its_remaining_time(world):
    w = world
    w.sign_in("cstaff")
    confirm = w.app.get(f"/console/attempts/{w.ids['errored']}/resume")
    post_form(w, confirm, reason="The proctoring software crashed.")
    attempt = w.tx(lambda s: s.repos.attempts.get(w.ids["errored"]))
    assert attempt.status.value == "started"
    # It failed 20 minutes into 60: 40 minutes are left now, whenever "now" is.
    assert attempt.time_remaining_seconds(w.clock.now()) == 40 * 60
    page = w.app.get(f"/console/attempts/{w.ids['errored']}")
    assert page.html.find(id="time-remaining").text == "40 min 0 s"
    assert w.audit()[0].action == "attempt.resume"


def test_reset_deletes_the_attempt_and_keeps_its_history(world):
    w = world
    w.sign_in("admin")
    confirm = w.app.get(f"/console/attempts/{w.ids['submitted']}/reset")
    done = post_form(w, confirm, reason="Learner asked for a retake; approved by the instructor.")
    assert "was+reset" in done.location or "was%20reset" in done.location
    assert w.status(w.ids["submitted"]) is None
    assert w.audit()[0].action == "attempt.reset"


# -- courses ---------------------------------------------------------------------------------------------------
def test_course_configuration_with_the_apis_rules(world):
    w = world
    w.sign_in("cstaff")
    page = w.app.get(f"/console/courses/{COURSE}")
    assert page.html.find(id="cfg-provider").find("option", selected=True)["value"] == "stubproctor"
    assert [td.text for td in page.html.select("#exams tbody tr")[0].find_all("td")][:4] == [
        str(w.ids["exam"]), "Final <exam>", "proctored", "60 min"]
    # Escalation email without a provider: the domain's rule.
    before = snapshot(w.container.engine())
    bad = post_form(w, page, "config-form", status=400, provider="", escalation_email="x@example.com")
    assert "Escalation email must be None when provider is None." in bad.html.text
    bad = post_form(w, page, "config-form", status=400, provider="stubproctor", escalation_email="not-an-email")
    assert bad.html.find(id="cfg-e-escalation_email").text == "Enter a valid email address."
    assert snapshot(w.container.engine()) == before
    post_form(w, page, "config-form", provider="stubproctor", escalation_email="team@example.com")
    config = w.tx(lambda s: s.repos.configs.get(COURSE))
    assert config.escalation_email == "team@example.com"
    assert w.audit()[0].action == "course.configure"


def test_a_disabled_provider_cannot_be_chosen(world):
    w = world
    w.sign_in("admin")
    provider_page = w.app.get(f"/console/providers/{w.ids['provider']}")
    provider_page.forms["toggle-form"].submit(status=303)
    assert w.tx(lambda s: s.repos.providers.get(w.ids["provider"])).is_active is False
    assert w.app.get("/api/v1/providers").json == []  # Studio is offered it no more
    page = w.app.get(f"/console/courses/{COURSE}")
    bad = post_form(w, page, "config-form", status=400, provider="stubproctor", escalation_email="")
    assert "Proctoring provider is disabled." in bad.html.text


def test_allowances_add_and_remove(world):
    w = world
    w.sign_in("cstaff")
    page = w.app.get(f"/console/courses/{COURSE}")
    bad = post_form(w, page, "allowance-form", status=400, username="", email="", extra_time_mins="10")
    assert "username or email must be provided" in bad.html.text
    bad = post_form(w, page, "allowance-form", status=400, username="nobody", extra_time_mins="10")
    assert "Learner with username/email not found" in bad.html.text
    bad = post_form(w, page, "allowance-form", status=400, username="plain", extra_time_mins="-1")
    assert "A valid integer is required." in bad.html.text  # the API's message for the same value
    assert w.tx(lambda s: s.repos.allowances.list_for_course(COURSE)) == []
    post_form(w, page, "allowance-form", username="plain", extra_time_mins="15")
    page = w.app.get(f"/console/courses/{COURSE}")
    assert [td.text for td in page.html.select("#allowances tbody td")][:3] == ["plain", "Final <exam>", "15"]
    remove = [f for f in page.forms.values() if "/allowances/" in (f.action or "")][0]
    remove.submit(status=303)
    assert w.tx(lambda s: s.repos.allowances.list_for_course(COURSE)) == []
    assert [e.action for e in w.audit()[:2]] == ["allowance.revoke", "allowance.grant"]


def test_a_fractional_allowance_is_rounded_up_as_the_api_does(world):
    w = world
    w.sign_in("cstaff")
    page = w.app.get(f"/console/courses/{COURSE}")
    post_form(w, page, "allowance-form", username="plain", extra_time_mins="22.5")
    [(allowance, *_)] = w.tx(lambda s: s.repos.allowances.list_for_course(COURSE))
    assert allowance.extra_time_mins == 23


def test_an_allowance_of_another_course_cannot_be_removed_through_ones_own(world):
    w = world
    def grant(s):
        s.attempts.grant_allowances(s.repos.users.get(w.ids["admin"]), OTHER,
                                    [AllowanceRequest(w.ids["other_exam"], "plain", None, 5)])
        return s.repos.allowances.list_for_course(OTHER)[0][0].id

    allowance_id = w.tx(grant)
    w.sign_in("cstaff")
    token = w.csrf(w.app.get("/console/"))
    w.app.post(f"/console/courses/{COURSE}/allowances/{allowance_id}/delete", {"csrf_token": token}, status=404)
    assert len(w.tx(lambda s: s.repos.allowances.list_for_course(OTHER))) == 1


def test_staff_roles_are_managed_by_global_staff_only(world):
    w = world
    w.sign_in("cstaff")
    page = w.app.get(f"/console/courses/{COURSE}")
    assert "staff-form" not in page.forms
    w.app.post(f"/console/courses/{COURSE}/staff", {"csrf_token": w.csrf(page), "username": "cstaff",
                                                    "role": "instructor"}, status=404)
    w.sign_in("admin")
    page = w.app.get(f"/console/courses/{COURSE}")
    bad = post_form(w, page, "staff-form", status=400, username="newbie", role="staff", email="nope")
    assert "Enter a valid email address." in bad.html.text
    post_form(w, page, "staff-form", username="newbie", role="instructor", email="newbie@example.com")
    page = w.app.get(f"/console/courses/{COURSE}")
    assert ["newbie", "newbie@example.com", "instructor"] in [
        [td.text for td in tr.find_all("td")][:3] for tr in page.html.select("#staff tbody tr")]
    remove = [f for f in page.forms.values() if f.action.endswith("/staff/remove") and f["username"].value == "newbie"]
    remove[0].submit(status=303)
    assert w.tx(lambda s: s.console.store.staff_of_course(COURSE))[0].user.username == "cstaff"
    assert [e.action for e in w.audit()[:2]] == ["staff.remove", "staff.add"]


def test_course_staff_see_only_their_courses(world):
    w = world
    w.sign_in("cstaff")
    assert [a.text for a in w.app.get("/console/courses").html.select("#course-list a")] == [COURSE]
    w.sign_in("admin")
    assert [a.text for a in w.app.get("/console/courses").html.select("#course-list a")] == [COURSE, OTHER]


# -- providers ---------------------------------------------------------------------------------------------------
def test_add_a_provider_with_an_lti_registration_and_see_what_the_vendor_needs(world):
    w = world
    w.sign_in("admin")
    bad = post_form(w, w.app.get("/console/providers/new"), status=400, name="acme", verbose_name="Acme", lti_client_id="acme-client")
    assert "needs the client id, the login URL and the launch URL" in bad.html.text
    bad = post_form(w, w.app.get("/console/providers/new"), status=400, name="stubproctor", verbose_name="Dup")
    assert "A provider named 'stubproctor' already exists." in bad.html.text
    before = snapshot(w.container.engine())
    bad = post_form(w, w.app.get("/console/providers/new"), status=400, name="acme", verbose_name="Acme", lti_client_id="acme-client",
                    lti_login_url="ftp://tool.test/login", lti_launch_url="https://tool.test/launch",
                    lti_jwks_url="https://tool.test/jwks")
    assert "must be an absolute" in bad.html.text
    assert snapshot(w.container.engine()) == before
    done = post_form(w, w.app.get("/console/providers/new"), name="acme", verbose_name="Acme Proctoring", lti_client_id="acme-client",
                     lti_login_url="https://tool.test/login", lti_launch_url="https://tool.test/launch",
                     lti_jwks_url="https://tool.test/jwks", tech_support_email="help@acme.test")
    page = w.app.get(done.location)
    assert page.html.find(id="v-client_id").text == "acme-client"
    assert page.html.find(id="v-issuer").text == "http://localhost"
    assert page.html.find(id="v-jwks_url").text.startswith("http://localhost/lti/")
    assert w.audit()[0].action == "provider.add"


def test_edit_and_disable_a_provider(world):
    w = world
    w.sign_in("admin")
    edit = w.app.get(f"/console/providers/{w.ids['provider']}/edit")
    bad = post_form(w, edit, status=400, verbose_name="", tech_support_email="x")
    assert bad.html.find(id="f-e-verbose_name").text == "This field is required."
    post_form(w, edit, verbose_name="Stub Proctor II", tech_support_url="https://help.test", tech_support_email="")
    provider = w.tx(lambda s: s.repos.providers.get(w.ids["provider"]))
    assert (provider.verbose_name, provider.tech_support_url, provider.name) == (
        "Stub Proctor II", "https://help.test", "stubproctor")
    page = w.app.get(f"/console/providers/{w.ids['provider']}")
    page.forms["toggle-form"].submit(status=303)
    page = w.app.get(f"/console/providers/{w.ids['provider']}")
    assert page.html.find(id="provider-state").text.startswith("disabled")
    page.forms["toggle-form"].submit(status=303)
    assert w.tx(lambda s: s.repos.providers.get(w.ids["provider"])).is_active is True
    assert [e.action for e in w.audit()[:3]] == ["provider.enable", "provider.disable", "provider.edit"]


# -- outboxes ------------------------------------------------------------------------------------------------------
def test_outboxes_show_counts_and_apply_the_clis_rules(world):
    w = world
    now = w.clock.now()
    with w.container.engine().begin() as conn:
        conn.execute(tables.mail_outbox.insert().values(
            message_id="<m1@test>", recipient="a@example.com", subject="Your exam", body_text="t", body_html="h",
            state="failed", tries=5, next_attempt_at=now, last_error="550 no such user", created=now))
    w.sign_in("admin")
    page = w.app.get("/console/outboxes")
    assert page.html.find(id="mail-failed").text == "1"
    assert "550 no such user" in page.html.find(id="mail-failures").text
    bad = post_form(w, page, "purge-form", status=400)
    assert "Give an event id or a number of days." in bad.html.text
    bad = post_form(w, page, "replay-form", status=400, **{"event_id": "nope"})
    assert "no event nope in the outbox" in bad.html.text
    bad = post_form(w, page, "replay-form", status=400, event_id="a", since="2026-01-01")
    assert "give exactly one of --event-id and --since" in bad.html.text
    done = post_form(w, page, "purge-form", status=200, older_than_days="7")
    assert done.html.find(id="result").text.strip() == "Purged 0."
    page = w.app.get("/console/outboxes")
    [f for f in page.forms.values() if f.action.endswith("mail-retry")][0].submit(status=303)
    with w.container.engine().connect() as conn:
        assert conn.execute(select(tables.mail_outbox.c.state)).scalar() == "pending"
    assert [e.action for e in w.audit()[:2]] == ["mail.retry", "events.purge"]


def test_course_staff_do_not_see_global_pages_in_the_navigation(world):
    w = world
    w.sign_in("cstaff")
    nav = [a.text for a in w.app.get("/console/").html.select("nav a")]
    assert nav == ["Attempts", "Courses", "Audit log"]
    w.sign_in("admin")
    assert "Providers" in [a.text for a in w.app.get("/console/").html.select("nav a")]


def test_course_staff_see_only_their_courses_audit_entries(world):
    w = world
    w.sign_in("admin")
    confirm = w.app.get(f"/console/attempts/{w.ids['other_attempt']}/verify")
    post_form(w, confirm, reason="other course")
    w.sign_in("cstaff")
    text = w.app.get("/console/audit").text
    assert "other course" not in text
    w.clock.advance(seconds=1)
    w.sign_in("ostaff")
    assert "other course" in w.app.get("/console/audit").text


def test_replay_a_dead_event_then_purge_it_once_published(world):
    w = world
    now = w.clock.now()
    with w.container.engine().begin() as conn:
        conn.execute(tables.event_outbox.insert().values(
            event_id="11111111-2222-3333-4444-555555555555", event_type="org.openedx.learning.exam.attempt.errored.v1",
            topic="learning-exam-attempt-lifecycle", partition_key=COURSE, event_time=now.isoformat(),
            source="openedx/edx-exams/web", sourcehost="host", sourcelib="0", payload=b"\x00avro",
            created_at=now, attempts=10, last_error="broker down", dead=True))
    w.sign_in("admin")
    page = w.app.get("/console/outboxes")
    assert page.html.find(id="events-dead").text == "1"
    assert "broker down" in page.html.find(id="held-events").text
    done = post_form(w, page, "replay-form", status=200, event_id="11111111-2222-3333-4444-555555555555")
    assert done.html.find(id="result").text.strip().startswith("Requeued 1, sent again 0.")
    with w.container.engine().connect() as conn:
        row = conn.execute(select(tables.event_outbox)).one()
    assert (row.dead, row.published_at) == (False, None)
    bad = post_form(w, w.app.get("/console/outboxes"), "purge-form", status=400,
                    event_id="11111111-2222-3333-4444-555555555555")
    assert "still waiting for the relay" in bad.html.text
    assert [e.action for e in w.audit()[:1]] == ["events.replay"]


def test_an_outbox_form_error_shows_on_its_own_form_only(world):
    w = world
    w.sign_in("admin")
    bad = post_form(w, w.app.get("/console/outboxes"), "purge-form", status=400, older_than_days="-2")
    assert bad.html.find(id="pg-e-older_than_days")
    assert bad.html.find(id="rp-e-event_id") is None and bad.html.find(id="pg-older_than_days")["value"] == "-2"


def test_provider_fields_follow_the_domain_rules(world):
    w = world
    w.sign_in("admin")
    before = snapshot(w.container.engine())
    edit = w.app.get(f"/console/providers/{w.ids['provider']}/edit")
    bad = post_form(w, edit, status=400, verbose_name="Stub", tech_support_url="javascript:alert(1)")
    assert "is not a web address" in bad.html.find(id="f-e-tech_support_url").text
    bad = post_form(w, w.app.get("/console/providers/new"), status=400, name="bad name!", verbose_name="X")
    assert "is not a provider name" in bad.html.find(id="f-e-name").text
    assert snapshot(w.container.engine()) == before
