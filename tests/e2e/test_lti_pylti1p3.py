"""The learner's proctored flow against a real LTI 1.3 tool (pylti1p3), every browser hop over real HTTP.

The "browser" is a requests session that follows each redirect and submits each auto-posting form itself,
so every hop is asserted. The tool validates our id_tokens with its own library code and our JWKS.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from tests.e2e.lti_tool import LTI, LTI_AP

pytestmark = pytest.mark.e2e


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self.autosubmit = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action"), "method": (attrs.get("method") or "get").lower(),
                               "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")

    def handle_data(self, data):
        if ".submit()" in data:
            self.autosubmit = True


class Browser:
    """Follows redirects and auto-submitting forms like a browser; records each hop (method, URL, status)."""

    def __init__(self):
        self.session = requests.Session()
        self.hops: list[tuple[str, str, int]] = []

    def sign_in(self, host: str, token: str) -> None:
        header_payload, signature = token.rsplit(".", 1)
        self.session.cookies.set("edx-jwt-cookie-header-payload", header_payload, domain=host, path="/")
        self.session.cookies.set("edx-jwt-cookie-signature", signature, domain=host, path="/")

    def go(self, url: str, method: str = "GET", data: dict | None = None, max_hops: int = 12) -> requests.Response:
        for _ in range(max_hops):
            response = self.session.request(method, url, data=data, allow_redirects=False, timeout=15)
            self.hops.append((method, url.split("?")[0], response.status_code))
            if response.is_redirect:
                url, method, data = urljoin(url, response.headers["Location"]), "GET", None
                continue
            forms = _Forms()
            forms.feed(response.text)
            if response.status_code == 200 and forms.autosubmit and len(forms.forms) == 1:
                form = forms.forms[0]
                url, method, data = urljoin(url, form["action"]), form["method"].upper(), form["fields"]
                continue
            return response
        raise AssertionError(f"too many hops: {self.hops}")


def login_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_a_learner_is_proctored_from_start_to_submission_by_a_pylti1p3_tool(lti_stack):
    stack, tool = lti_stack, lti_stack.tool
    learner = stack.learner("ada", 101)
    browser = Browser()
    browser.sign_in("127.0.0.1", learner.token)
    p, t = stack.platform.url, tool.url

    page = browser.go(f"{p}/lti/start_proctoring/{learner.attempt_id}")
    assert page.status_code == 200 and "Exam page" in page.text
    assert browser.hops == [
        ("GET", f"{p}/lti/start_proctoring/{learner.attempt_id}", 302),
        ("GET", f"{t}/login", 302),
        ("GET", f"{p}/lti/lti_consumer/v1/launch/", 200),
        ("POST", f"{t}/launch", 200),
        ("POST", f"{p}/lti/lti_consumer/v1/start_proctoring_assessment", 303),
        ("GET", stack.exam_url, 200),
    ]
    assert stack.status(learner) == "ready_to_start"
    started = tool.last("LtiStartProctoring")  # validated by pylti1p3 with our JWKS
    assert started["iss"] == p and started["aud"] == tool.client_id
    assert started[LTI + "resource_link"] == {"id": stack.exam.resource_id}
    assert started[LTI_AP + "attempt_number"] == 1
    assert started[LTI_AP + "acs"]["assessment_control_url"] == stack.vendor["acs_url"]
    assert started[LTI + "tool_platform"]["name"] == "Open edX Exams (e2e)"

    stack.act(learner, "start")
    assert stack.status(learner) == "started"

    browser.hops.clear()
    page = browser.go(f"{p}/lti/end_assessment/{learner.attempt_id}")
    assert "Proctoring ended" in page.text
    assert [hop[1] for hop in browser.hops] == [f"{p}/lti/end_assessment/{learner.attempt_id}", f"{t}/login",
                                                f"{p}/lti/lti_consumer/v1/launch/", f"{t}/launch"]
    assert stack.status(learner) == "submitted"
    ended = tool.last("LtiEndAssessment")
    assert ended["sub"] == started["sub"]
    assert ended[LTI + "launch_presentation"]["return_url"] == stack.exam_url
    assert tool.refusals == []


def test_another_browser_replaying_the_learners_login_url_gets_nothing_from_the_tool(lti_stack):
    stack, tool = lti_stack, lti_stack.tool
    learner = stack.learner("grace", 102)
    browser = Browser()
    browser.sign_in("127.0.0.1", learner.token)
    first = browser.session.get(f"{stack.platform.url}/lti/start_proctoring/{learner.attempt_id}",
                                allow_redirects=False, timeout=10)
    login_url = first.headers["Location"]
    assert login_params(login_url)["login_hint"]
    seen = len(tool.launches)

    attacker = Browser()
    refused = attacker.go(login_url)
    assert refused.status_code == 403 and "id_token" not in refused.text
    assert len(tool.launches) == seen
    assert stack.status(learner) == "download_software_clicked"

    # The learner's own browser still completes the launch: the refusal spent nothing.
    page = browser.go(login_url)
    assert "Exam page" in page.text
    assert stack.status(learner) == "ready_to_start"


def test_the_tools_start_assessment_form_cannot_be_replayed(lti_stack):
    stack, tool = lti_stack, lti_stack.tool
    learner = stack.learner("hopper", 103)
    browser = Browser()
    browser.sign_in("127.0.0.1", learner.token)
    browser.go(f"{stack.platform.url}/lti/start_proctoring/{learner.attempt_id}")
    assert stack.status(learner) == "ready_to_start"
    replay = tool.start_assessment(tool.last("LtiStartProctoring"))
    response = browser.go(f"{stack.platform.url}/lti/lti_consumer/v1/start_proctoring_assessment", "POST",
                          {"JWT": replay})
    assert response.status_code == 400
    assert stack.status(learner) == "ready_to_start"
