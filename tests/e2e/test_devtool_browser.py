"""The whole proctored flow clicked through in headless Chromium, with the development proctoring tool.

Learner: start proctoring -> the tool's login -> our OIDC answer -> the tool's page -> "Start the
assessment" (LtiStartAssessment) -> back to the Learning MFE; start; end (LtiEndAssessment back at the
tool). Proctor: the console's buttons report through the ACS with a client-credentials token.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from tests.e2e.devtool_stack import api, start_stack

pytestmark = pytest.mark.e2e

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1200,900"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("devtool"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("EXAMS_TEST_REQUIRE_POSTGRES"):  # under scripts/test, which installs them
            pytest.fail("chromium and chromedriver are missing")
        pytest.skip("chromium/chromedriver not installed (scripts/test installs them)")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="exams-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, css: str, timeout: float = 15):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def sign_in(driver, stack, learner) -> None:
    """The learner's browser as the LMS leaves it: the JWT split into its two cookies."""
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.get(stack.service.url + "/health/")
    header_payload, signature = learner.token.rsplit(".", 1)
    driver.add_cookie({"name": "edx-jwt-cookie-header-payload", "value": header_payload, "path": "/"})
    driver.add_cookie({"name": "edx-jwt-cookie-signature", "value": signature, "path": "/"})


def start_proctored_attempt(driver, stack, learner) -> None:
    sign_in(driver, stack, learner)
    driver.get(f"{stack.service.url}/lti/start_proctoring/{learner.attempt_id}")
    wait_for(driver, "#start")
    assert driver.current_url == f"{stack.tool.url}/launch"
    assert stack.status(learner) == "download_software_clicked"
    driver.find_element("css selector", "#start").click()
    wait_for(driver, "#mfe")
    assert driver.current_url == f"{stack.mfe.url}/course/{stack.exam.course_id}/{stack.exam.content_id}"
    assert stack.status(learner) == "ready_to_start"
    assert api(stack, learner, "PUT", f"/api/v1/exams/attempt/{learner.attempt_id}", {"action": "start"})[0] == 200
    assert stack.status(learner) == "started"


def press(driver, stack, learner, report: str) -> str:
    """Press a proctor console button for the learner's attempt; the console's new line about it."""
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{stack.tool.url}/proctor")
    section = f"//section[.//code[text()='{learner.sub}']]"

    def lines():
        return [li.text for li in driver.find_elements("xpath", f"{section}//ol/li") if li.text != "none yet"]

    before = lines()
    old_page = driver.find_element("xpath", section)
    driver.find_element("xpath", f"{section}//button[@value='{report}']").click()
    WebDriverWait(driver, 15).until(ec.staleness_of(old_page))
    wait_for(driver, "h1")
    after = lines()
    assert after[:-1] == before
    return after[-1]


def test_a_learner_is_proctored_and_every_report_of_the_console_reaches_the_attempt(stack, browser):
    clean, suspicious, erring = (stack.add_learner(name, user_id) for name, user_id in
                                 (("alice", 101), ("bob", 102), ("carol", 103)))

    start_proctored_attempt(browser, stack, clean)
    assert press(browser, stack, clean, "flag").endswith('200 {"status":"terminated"}')
    assert stack.status(clean) == "started"
    assert [r.action_type for r in stack.results(clean)] == ["flag"]

    # The learner ends the exam: submitted, and the tool (which asked for it) receives LtiEndAssessment.
    sign_in(browser, stack, clean)
    browser.get(f"{stack.service.url}/lti/end_assessment/{clean.attempt_id}")
    wait_for(browser, "#ended")
    assert stack.status(clean) == "submitted"
    assert browser.find_element("css selector", "#return").get_attribute("href") == \
        f"{stack.mfe.url}/course/{stack.exam.course_id}/{stack.exam.content_id}"

    assert press(browser, stack, clean, "clean").endswith("200 {\"status\":\"terminated\"}")
    assert stack.status(clean) == "verified"
    review = stack.review(clean)
    assert (review.action_type, review.reason_code, str(review.severity)) == ("terminate", "1", "0.10")

    start_proctored_attempt(browser, stack, suspicious)
    press(browser, stack, suspicious, "suspicious")
    assert stack.status(suspicious) == "second_review_required"

    start_proctored_attempt(browser, stack, erring)
    press(browser, stack, erring, "error")
    assert stack.status(erring) == "error"
    assert stack.review(erring).reason_text == "Navigated away from assessment"

    # A report on a finished attempt is refused by the service, and the console says so.
    assert " 400 " in press(browser, stack, suspicious, "clean")
    assert stack.status(suspicious) == "second_review_required"
