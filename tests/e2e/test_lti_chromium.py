"""The same proctored flow in headless Chromium: real redirects, real auto-submitting forms, real cookies."""

from __future__ import annotations

import pytest

from tests.e2e.lti_tool import LTI

pytestmark = pytest.mark.e2e


def wait_for(driver, css: str, timeout: float = 15):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_a_learner_is_proctored_from_start_to_submission_in_chromium(lti_stack, chromium):
    from selenium.webdriver.support.ui import WebDriverWait

    stack, tool = lti_stack, lti_stack.tool
    learner = stack.learner("lovelace", 201)
    # The learner's browser as the LMS leaves it: the JWT split into its two cookies.
    chromium.get(stack.platform.url + "/browser_lock/")
    header_payload, signature = learner.token.rsplit(".", 1)
    chromium.add_cookie({"name": "edx-jwt-cookie-header-payload", "value": header_payload, "path": "/"})
    chromium.add_cookie({"name": "edx-jwt-cookie-signature", "value": signature, "path": "/"})

    chromium.get(f"{stack.platform.url}/lti/start_proctoring/{learner.attempt_id}")
    wait_for(chromium, "#exam")
    assert chromium.current_url == stack.exam_url
    assert stack.status(learner) == "ready_to_start"
    assert tool.last("LtiStartProctoring")[LTI + "resource_link"]["id"] == stack.exam.resource_id

    stack.act(learner, "start")
    assert stack.status(learner) == "started"

    chromium.get(f"{stack.platform.url}/lti/end_assessment/{learner.attempt_id}")
    # The tool's "ended" page shows for 50 ms before it sends the learner back: wait for the launch it
    # answered, not for the page, which a busy machine may never see.
    WebDriverWait(chromium, 15).until(lambda _: any(
        launch[LTI + "message_type"] == "LtiEndAssessment" for launch in tool.launches))
    wait_for(chromium, "#exam")  # the tool sends the learner back to the return_url we gave it
    assert chromium.current_url == stack.exam_url
    assert stack.status(learner) == "submitted"
    assert tool.last("LtiEndAssessment")[LTI + "launch_presentation"]["return_url"] == stack.exam_url
    assert tool.refusals == []
