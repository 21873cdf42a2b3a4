"""Rotating a provider's LTI platform key from the console: the old key stays in the JWKS for the grace period."""

from __future__ import annotations

from tests.functional.console_world import console_wsgi, oauth_stub, world  # noqa: F401
from tests.functional.dbstate import snapshot


def lti_provider(w) -> tuple[int, str]:
    def work(s):
        from exams.domain.exams import Provider

        registration = s.lti.register_tool(client_id="tool-1", oidc_login_url="https://tool.test/login",
                                           launch_url="https://tool.test/launch", tool_jwks_url="https://tool.test/j")
        provider = s.exams.add_provider(Provider(None, "ltiproctor", "LTI Proctor",
                                                 lti_configuration_id=registration.registration_id))
        return provider.id, registration.registration_id
    return w.tx(work)


def kids(w, registration_id: str) -> list[str]:
    return [k["kid"] for k in w.app.get(f"/lti/lti_consumer/v1/public_keysets/{registration_id}").json["keys"]]


def test_rotate_keeps_the_old_key_published_for_the_grace_period_then_drops_it(world):
    w = world
    provider_id, registration_id = lti_provider(w)
    [old] = kids(w, registration_id)
    w.sign_in("admin")
    page = w.app.get(f"/console/providers/{provider_id}")
    assert page.html.find(id="current-kid").text == old
    form = page.forms["rotate-form"]
    form["grace_hours"] = "24"
    form.submit(status=303)
    page = w.app.get(f"/console/providers/{provider_id}")
    new = page.html.find(id="current-kid").text
    assert new != old
    assert kids(w, registration_id) == [new, old]
    assert page.html.find(id="retiring").text.startswith("published until")
    assert page.html.find(id="v-platform_kid").text == new
    entry = w.audit()[0]
    assert (entry.action, entry.details["old_kid"], entry.details["new_kid"]) == ("lti.rotate_key", old, new)
    w.clock.advance(hours=23)
    assert kids(w, registration_id) == [new, old]
    w.clock.advance(hours=1, seconds=1)
    assert kids(w, registration_id) == [new]


def test_retire_the_previous_key_at_once(world):
    w = world
    provider_id, registration_id = lti_provider(w)
    w.sign_in("admin")
    w.app.get(f"/console/providers/{provider_id}").forms["rotate-form"].submit(status=303)
    assert len(kids(w, registration_id)) == 2
    w.app.get(f"/console/providers/{provider_id}").forms["retire-form"].submit(status=303)
    assert len(kids(w, registration_id)) == 1
    assert "retire-form" not in w.app.get(f"/console/providers/{provider_id}").forms
    assert [e.action for e in w.audit()[:2]] == ["lti.retire_key", "lti.rotate_key"]


def test_a_bad_grace_period_changes_nothing(world):
    w = world
    provider_id, registration_id = lti_provider(w)
    w.sign_in("admin")
    page = w.app.get(f"/console/providers/{provider_id}")
    before = snapshot(w.container.engine())
    for value in ("-1", "abc", "99999"):
        form = page.forms["rotate-form"]
        form["grace_hours"] = value
        answer = form.submit(status=400)
        assert answer.html.find(id="rk-e-grace_hours")
    assert snapshot(w.container.engine()) == before


def test_course_staff_cannot_rotate(world):
    w = world
    provider_id, registration_id = lti_provider(w)
    w.sign_in("cstaff")
    token = w.csrf(w.app.get("/console/"))
    w.app.post(f"/console/providers/{provider_id}/rotate-key", {"csrf_token": token, "grace_hours": "0"},
               status=404)
    assert len(kids(w, registration_id)) == 1


def test_the_keys_page_lists_the_access_token_key_and_each_lti_key(world):
    from tests.conftest import ACCESS_KEY

    w = world
    provider_id, registration_id = lti_provider(w)
    w.sign_in("admin")
    page = w.app.get("/console/keys")
    assert [c.text for c in page.html.select("#access-keys code")] == [ACCESS_KEY["kid"]]
    assert [td.text for td in page.html.select("#lti-keys tbody td")][:2] == ["ltiproctor", kids(w, registration_id)[0]]
