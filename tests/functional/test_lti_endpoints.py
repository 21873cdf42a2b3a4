"""Each LTI endpoint: what a tool and the frontends see (edx-exams.md §7, lti-proctoring.md §1)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from urllib.parse import urlsplit

import pytest
from dependency_injector import providers
from sqlalchemy import select, update

from exams.adapters.lti import JwcryptoLtiPlatform, UrllibKeysetFetcher
from exams.adapters.sql import tables
from exams.units import run_in_transaction
from exams.domain.exams import ExamType
from tests.conftest import auth, make_token
from tests.functional.test_lti_support import (  # noqa: F401 (fixtures)
    AUTH_PATH, CONTENT, COURSE, LEARNER, LTI, LTI_AP, OTHER_LEARNER, ROOT, STAFF, TOOL_LAUNCH, TOOL_LOGIN, add_exam,
    attempt_status, auth_params, create_attempt, exam_url, launch, other_tool_key, platform_keys, parse_form,
    post_start_assessment, query, start, start_assessment_claims, tool_key, verified_claims, world)

CSTAFF = auth("cstaff", user_id=2)


def anonymous_id(testapp, headers=LEARNER) -> str:
    username = "learner" if headers is LEARNER else "cstaff"
    with testapp.app.container.engine().connect() as conn:
        return conn.execute(select(tables.users.c.anonymous_user_id)
                            .where(tables.users.c.username == username)).scalar()


# -- GET /lti/start_proctoring/<attempt_id> --------------------------------------------------------------
def test_start_proctoring_redirects_to_the_tools_login_with_the_six_initiation_parameters(testapp, wsgi, world):
    response = testapp.get(f"/lti/start_proctoring/{world.attempt_id}", headers=LEARNER, status=302)
    assert response.location.startswith(TOOL_LOGIN + "?")
    login = query(response.location)
    assert set(login) == {"iss", "login_hint", "target_link_uri", "lti_message_hint", "client_id",
                          "lti_deployment_id"}
    assert login["iss"] == ROOT and login["client_id"] == "tool-1" and login["lti_deployment_id"] == "1"
    assert login["target_link_uri"] == TOOL_LAUNCH
    assert login["login_hint"] == anonymous_id(testapp)
    assert attempt_status(wsgi, world.attempt_id) == "download_software_clicked"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("exams_lti_launch=") and "HttpOnly" in cookie and "Path=/lti/" in cookie
    assert "SameSite=Lax" in cookie  # exams.cookies.secure is false here: None needs Secure


def test_start_proctoring_works_with_the_jwt_cookie_of_a_browser_navigation(testapp, wsgi, world):
    header, payload, signature = make_token("learner", user_id=10).split(".")
    testapp.set_cookie("edx-jwt-cookie-header-payload", f"{header}.{payload}")
    testapp.set_cookie("edx-jwt-cookie-signature", signature)
    testapp.get(f"/lti/start_proctoring/{world.attempt_id}", status=302)
    assert attempt_status(wsgi, world.attempt_id) == "download_software_clicked"


def test_start_proctoring_refusals_leave_the_attempt_alone(testapp, wsgi, world):
    assert testapp.get(f"/lti/start_proctoring/{world.attempt_id}", status=401).json["detail"]
    assert testapp.get("/lti/start_proctoring/999999", headers=LEARNER, status=400).json == {
        "detail": "Attempt with attempt_id=999999 does not exist.", "code": "attempt_not_found"}
    forbidden = testapp.get(f"/lti/start_proctoring/{world.attempt_id}", headers=OTHER_LEARNER, status=403).json
    assert "does not have access" in forbidden["detail"]
    testapp.get("/lti/start_proctoring/99999999999", headers=LEARNER, status=400)
    assert attempt_status(wsgi, world.attempt_id) == "created"


def test_start_proctoring_of_a_submitted_attempt_is_an_illegal_transition(testapp, wsgi, world):
    testapp.put_json(f"/api/v1/exams/attempt/{world.attempt_id}", {"action": "submit"}, headers=LEARNER)
    body = testapp.get(f"/lti/start_proctoring/{world.attempt_id}", headers=LEARNER, status=403).json
    assert "this status transition is illegal" in body["detail"]
    assert attempt_status(wsgi, world.attempt_id) == "submitted"


def test_start_proctoring_of_an_exam_without_a_registered_tool_is_refused(testapp, wsgi, world):
    exam = add_exam(wsgi, None, content_id="block-v1:edx+lti+2026+type@sequential+block@timed",
                    exam_type=ExamType.TIMED)
    attempt = create_attempt(testapp, exam.id)
    assert testapp.get(f"/lti/start_proctoring/{attempt}", headers=LEARNER, status=400).json["code"] == \
        "no_lti_registration"
    assert attempt_status(wsgi, attempt) == "created"


def test_start_proctoring_only_answers_get(testapp, world):
    response = testapp.post(f"/lti/start_proctoring/{world.attempt_id}", headers=LEARNER, status=405)
    assert response.headers["Allow"] == "GET, OPTIONS"


# -- the id_token ---------------------------------------------------------------------------------------
def test_the_start_proctoring_id_token_carries_every_claim_a_vendor_expects(testapp, wsgi, world):
    claims = launch(testapp, world)
    assert claims["iss"] == ROOT and claims["aud"] == "tool-1" and claims["azp"] == "tool-1"
    assert claims["sub"] == anonymous_id(testapp)
    assert claims["exp"] - claims["iat"] == 3600
    assert claims[LTI + "message_type"] == "LtiStartProctoring"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "deployment_id"] == "1"
    assert claims[LTI + "target_link_uri"] == TOOL_LAUNCH
    assert claims[LTI + "resource_link"] == {"id": world.resource_id}
    assert claims[LTI + "roles"] == []
    assert claims[LTI + "context"] == {"id": COURSE, "label": CONTENT}
    assert claims[LTI + "custom"] == {"custom_url": "localhost/browser_lock/"}
    assert claims[LTI + "launch_presentation"] == {"return_url": exam_url()}
    assert claims[LTI_AP + "attempt_number"] == 1
    assert claims[LTI_AP + "start_assessment_url"] == ROOT + "/lti/lti_consumer/v1/start_proctoring_assessment"
    assert len(claims[LTI_AP + "session_data"]) >= 43
    assert claims[LTI_AP + "acs"] == {"assessment_control_url": f"{ROOT}/lti/{world.registration_id}/acs",
                                      "actions": ["terminate"]}


def test_each_launch_gets_fresh_session_data(testapp, wsgi, world):
    assert launch(testapp, world)[LTI_AP + "session_data"] != launch(testapp, world)[LTI_AP + "session_data"]


def test_the_oidc_endpoint_accepts_a_path_suffix(testapp, wsgi, world):
    login = start(testapp, world)
    page = testapp.get(AUTH_PATH + "extra", params=auth_params(login), status=200)
    assert parse_form(page.text)[0] == TOOL_LAUNCH


def test_the_oidc_endpoint_refuses_other_methods(testapp, world):
    testapp.put(AUTH_PATH, status=405)


# -- POST start_proctoring_assessment ------------------------------------------------------------------------
def test_start_assessment_moves_the_attempt_to_ready_to_start_and_returns_to_the_exam(testapp, wsgi, world):
    claims = launch(testapp, world)
    response = post_start_assessment(testapp, world.tool_key.sign(start_assessment_claims(claims)))
    assert response.status_int == 303 and response.location == exam_url()
    assert attempt_status(wsgi, world.attempt_id) == "ready_to_start"


def test_a_message_answering_an_older_launch_of_the_same_browser_is_matched_to_it(testapp, wsgi, world):
    first = launch(testapp, world)
    other_exam = add_exam(wsgi, "proctorio", content_id="block-v1:edx+lti+2026+type@sequential+block@second")
    second_attempt = create_attempt(testapp, other_exam.id)
    second_world = type(world)(**{**world.__dict__, "attempt_id": second_attempt, "exam_id": other_exam.id})
    launch(testapp, second_world)
    post_start_assessment(testapp, world.tool_key.sign(start_assessment_claims(first)))
    assert attempt_status(wsgi, world.attempt_id) == "ready_to_start"
    assert attempt_status(wsgi, second_attempt) == "download_software_clicked"


# -- GET /lti/end_assessment/<attempt_id> ----------------------------------------------------------------
def ready_and_started(testapp, world, **claims_overrides):
    claims = launch(testapp, world)
    post_start_assessment(testapp, world.tool_key.sign(start_assessment_claims(claims, **claims_overrides)))
    testapp.put_json(f"/api/v1/exams/attempt/{world.attempt_id}", {"action": "start"}, headers=LEARNER)


def test_end_assessment_submits_and_launches_lti_end_assessment_when_the_tool_asked(testapp, wsgi, world):
    ready_and_started(testapp, world, **{LTI_AP + "end_assessment_return": True})
    response = testapp.get(f"/lti/end_assessment/{world.attempt_id}", headers=LEARNER, status=302)
    assert attempt_status(wsgi, world.attempt_id) == "submitted"
    login = query(response.location)
    assert response.location.startswith(TOOL_LOGIN) and login["login_hint"] == anonymous_id(testapp)
    page = testapp.get(AUTH_PATH, params=auth_params(login), status=200)
    claims = verified_claims(testapp, world.registration_id, parse_form(page.text)[1]["id_token"])
    assert claims[LTI + "message_type"] == "LtiEndAssessment"
    assert claims[LTI_AP + "attempt_number"] == 1
    assert claims[LTI + "resource_link"] == {"id": world.resource_id}
    assert claims[LTI + "launch_presentation"] == {"return_url": exam_url()}
    assert LTI_AP + "session_data" not in claims and LTI_AP + "acs" not in claims


def test_end_assessment_returns_to_the_exam_when_the_tool_did_not_ask(testapp, wsgi, world):
    ready_and_started(testapp, world, **{LTI_AP + "end_assessment_return": False})
    response = testapp.get(f"/lti/end_assessment/{world.attempt_id}", headers=LEARNER, status=302)
    assert response.location == exam_url()
    assert attempt_status(wsgi, world.attempt_id) == "submitted"


def test_a_second_end_assessment_keeps_the_status_it_found(testapp, wsgi, world):
    ready_and_started(testapp, world)
    testapp.get(f"/lti/end_assessment/{world.attempt_id}", headers=LEARNER, status=302)
    testapp.put_json(f"/api/v1/exams/attempt/{world.attempt_id}", {"action": "verify"}, headers=STAFF)
    testapp.get(f"/lti/end_assessment/{world.attempt_id}", headers=LEARNER, status=302)
    assert attempt_status(wsgi, world.attempt_id) == "verified"


def test_end_assessment_refusals_leave_the_attempt_alone(testapp, wsgi, world):
    ready_and_started(testapp, world)
    testapp.get(f"/lti/end_assessment/{world.attempt_id}", status=401)
    testapp.get(f"/lti/end_assessment/{world.attempt_id}", headers=OTHER_LEARNER, status=403)
    testapp.get("/lti/end_assessment/424242", headers=LEARNER, status=400)
    assert attempt_status(wsgi, world.attempt_id) == "started"


# -- instructor tool and roster ----------------------------------------------------------------------------
def test_course_staff_launch_the_instructor_tool_as_instructors_with_a_roster_url(testapp, wsgi, world):
    testapp.get("/api/v1/exams/attempt/latest", headers=CSTAFF)  # provision the user
    run_in_transaction(wsgi.container, lambda s: s.users.add_course_role("cstaff", COURSE, "staff"))
    response = testapp.get(f"/lti/exam/{world.exam_id}/instructor_tool", headers=CSTAFF, status=302)
    login = query(response.location)
    assert login["login_hint"] == anonymous_id(testapp, CSTAFF)
    page = testapp.get(AUTH_PATH, params=auth_params(login), status=200)
    claims = verified_claims(testapp, world.registration_id, parse_form(page.text)[1]["id_token"])
    assert claims[LTI + "message_type"] == "LtiResourceLinkRequest"
    assert claims[LTI + "roles"] == ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"]
    roster_url = claims[LTI + "custom"]["roster_url"]
    assert roster_url == f"{ROOT}/lti/exam/{world.exam_id}/instructor_tool/roster"
    assert claims[LTI + "resource_link"] == {"id": world.resource_id}
    assert claims[LTI + "context"]["id"] == COURSE
    # The tool's page asks for the roster with the browser's cookies (here: only the launch cookie).
    roster = testapp.get(urlsplit(roster_url).path, status=200).json
    assert roster == [[anonymous_id(testapp), "learner"]]


def test_the_instructor_tool_and_roster_refuse_learners_and_unknown_exams(testapp, wsgi, world):
    assert testapp.get(f"/lti/exam/{world.exam_id}/instructor_tool", headers=LEARNER, status=403).json["detail"]
    assert testapp.get("/lti/exam/999/instructor_tool", headers=STAFF, status=400).json["detail"] == \
        "Exam with exam_id=999 does not exist."
    testapp.get(f"/lti/exam/{world.exam_id}/instructor_tool", status=401)
    testapp.get(f"/lti/exam/{world.exam_id}/instructor_tool/roster", headers=LEARNER, status=403)
    testapp.get(f"/lti/exam/{world.exam_id}/instructor_tool/roster", status=401)
    testapp.get("/lti/exam/999/instructor_tool/roster", headers=STAFF, status=400)
    assert testapp.get(f"/lti/exam/{world.exam_id}/instructor_tool/roster", headers=STAFF).json == \
        [[anonymous_id(testapp), "learner"]]


# -- platform JWKS and browser lock -------------------------------------------------------------------------
def test_the_jwks_of_a_registration_publishes_only_its_public_key(testapp, wsgi, world):
    keys = testapp.get(f"/lti/lti_consumer/v1/public_keysets/{world.registration_id}").json["keys"]
    registration = run_in_transaction(wsgi.container, lambda s: s.lti.registration(world.registration_id))
    assert [k["kid"] for k in keys] == [registration.platform_kid]
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(keys[0])
    testapp.get("/lti/lti_consumer/v1/public_keysets/999", status=404)
    testapp.get("/lti/lti_consumer/v1/public_keysets/not-a-number", status=404)


def test_the_browser_lock_page_is_public_html(testapp):
    page = testapp.get("/browser_lock/", status=200)
    assert page.content_type == "text/html" and "proctoring" in page.text.lower()


# -- P20: the tool's JWKS is fetched with a timeout, a size limit and a cache ----------------------------
class KeysetServer:
    """A tool's JWKS URL on loopback that misbehaves as told."""

    def __init__(self):
        self.mode = "hang"
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                if outer.mode == "hang":
                    time.sleep(2)
                body = {"hang": b"{}", "huge": b"{" + b" " * (1024 * 1024) + b"}",
                        "html": b"<html>not a keyset</html>", "good": outer.good}[outer.mode]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # the client hung up on a slow answer
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.good = b""
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def keyset_server():
    server = KeysetServer()
    yield server
    server.close()


@pytest.fixture
def fetching_platform(wsgi, clock):
    """The production adapter, fetching over http for this loopback test (a one-line override)."""
    fetcher = UrllibKeysetFetcher(timeout=0.5, max_bytes=64 * 1024, allowed_schemes=("http",))
    wsgi.container.lti_platform.override(providers.Object(JwcryptoLtiPlatform(
        ROOT, clock=clock, keyset_fetcher=fetcher)))
    yield
    wsgi.container.lti_platform.reset_override()


def use_jwks_url(wsgi, url):
    """The tool publishes its keys at ``url`` instead of the public key on file."""
    run_in_transaction(wsgi.container, lambda s: s.session.execute(
        update(tables.lti_registrations).values(tool_jwks_url=url, tool_public_key=None)))


@pytest.mark.parametrize("mode", ["hang", "huge", "html"])
def test_p20_a_tool_keyset_that_hangs_is_huge_or_is_not_json_refuses_the_message(
        testapp, wsgi, world, keyset_server, fetching_platform, mode):
    use_jwks_url(wsgi, keyset_server.url)
    claims = launch(testapp, world)
    keyset_server.mode = mode
    began = time.monotonic()
    response = testapp.post("/lti/lti_consumer/v1/start_proctoring_assessment",
                            {"JWT": world.tool_key.sign(start_assessment_claims(claims))}, status=400)
    assert time.monotonic() - began < 1.9
    assert "keyset" in response.text
    assert attempt_status(wsgi, world.attempt_id) == "download_software_clicked"


def test_p20_a_tool_keyset_is_fetched_once_and_cached(testapp, wsgi, world, keyset_server, fetching_platform):
    public = json.loads(world.tool_key.key.export_public())
    keyset_server.good = json.dumps({"keys": [{**public, "kid": world.tool_key.kid, "alg": "RS256"}]}).encode()
    keyset_server.mode = "good"
    use_jwks_url(wsgi, keyset_server.url)
    claims = launch(testapp, world)
    post_start_assessment(testapp, world.tool_key.sign(start_assessment_claims(claims)))
    assert attempt_status(wsgi, world.attempt_id) == "ready_to_start"
    claims = launch(testapp, world)
    post_start_assessment(testapp, world.tool_key.sign(start_assessment_claims(claims)))
    assert keyset_server.hits == 1


def test_a_registration_refuses_http_tool_urls_unless_allowed(testapp, wsgi):
    from exams.domain.errors import Rejected
    with pytest.raises(Rejected):
        run_in_transaction(wsgi.container, lambda s: s.lti.register_tool(
            client_id="x", oidc_login_url="http://tool.test/login", launch_url="https://tool.test/launch",
            tool_jwks_url="https://tool.test/jwks"))
