"""The whole proctored flow clicked through in headless Chromium, with the development proctoring tool.

Learner: start proctoring -> the tool's login -> our OIDC answer -> the tool's page -> "Start the
assessment" (LtiStartAssessment) -> back to the Learning MFE; start; end (LtiEndAssessment back at the
tool). Proctor: the console's buttons report through the ACS with a client-credentials token.
"""

from __future__ import annotations


import pytest

from tests.browser import headless_chromium

from tests.e2e.devtool_stack import start_stack

pytestmark = pytest.mark.e2e



@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("devtool"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def browser():
    with headless_chromium("exams-chromium-", window_size="1200,900", page_load_timeout=30) as driver:
        yield driver


def wait_for(driver, css: str, timeout: float = 15):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from selenium.common.exceptions import WebDriverException

    # Pages change under the wait (redirects, auto-submitting forms): retry whatever the driver says meanwhile.
    return WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,)).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def click_to_next_page(driver, element) -> None:
    """Click, then wait until another document has loaded (the old one is marked, the new one is not)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.__leaving = true;")
    element.click()
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return !window.__leaving && document.readyState === 'complete';"))


def take_exam(driver, stack, username: str) -> None:
    """The sandbox plays Studio, the LMS and the MFE; the tool plays the vendor; the learner clicks."""
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    sandbox_button(driver, stack, username, "take")
    wait_for(driver, "#start")
    assert driver.current_url == f"{stack.tool.url}/launch"
    assert stack.status(username) == "download_software_clicked"
    driver.find_element("css selector", "#start").click()
    wait_for(driver, "#mfe")
    assert driver.current_url.startswith(f"{stack.mfe.url}/course/course-v1:exams+devtool+sandbox/")
    assert stack.status(username) == "ready_to_start"
    sandbox_button(driver, stack, username, "start")
    assert wait_for(driver, "#attempt-status").text == "started"
    assert stack.status(username) == "started"


def sandbox_button(driver, stack, username: str, action: str) -> None:
    """Press a button of the sandbox page and wait until the browser has left that page."""
    driver.get(f"{stack.tool.url}/sandbox?learner={username}")
    click_to_next_page(driver, driver.find_element("css selector", f"#{action}"))


def press(driver, stack, username: str, report: str) -> str:
    """Press a proctor console button for the learner's attempt; the console's new line about it."""
    sub = _sub(stack, username)
    driver.get(f"{stack.tool.url}/proctor")
    section = f"//section[.//code[text()='{sub}']]"

    def lines():
        return [li.text for li in driver.find_elements("xpath", f"{section}//ol/li") if li.text != "none yet"]

    before = lines()
    click_to_next_page(driver, driver.find_element("xpath", f"{section}//button[@value='{report}']"))
    wait_for(driver, "h1")
    after = lines()
    assert after[:-1] == before
    return after[-1]


def _sub(stack, username: str) -> str:
    from sqlalchemy.orm import Session

    from exams.adapters.sql.repositories import SqlRepositories

    with Session(stack.engine) as session:
        return SqlRepositories(session).users.get_by_username(username).anonymous_user_id


TERMINATED = '200 {"status":"terminated"}'


def test_a_learner_is_proctored_and_every_report_of_the_console_reaches_the_attempt(stack, browser):
    take_exam(browser, stack, "alice")
    assert press(browser, stack, "alice", "flag").endswith(TERMINATED)
    assert stack.status("alice") == "started"
    assert [r.action_type for r in stack.results("alice")] == ["flag"]

    # The learner ends the exam: submitted, and the tool (which asked for it) receives LtiEndAssessment.
    sandbox_button(browser, stack, "alice", "end")
    wait_for(browser, "#ended")
    assert stack.status("alice") == "submitted"
    assert browser.find_element("css selector", "#return").get_attribute("href").startswith(
        f"{stack.mfe.url}/course/course-v1:exams+devtool+sandbox/")

    assert press(browser, stack, "alice", "clean").endswith(TERMINATED)
    assert stack.status("alice") == "verified"
    review = stack.review("alice")
    assert (review.action_type, review.reason_code, str(review.severity)) == ("terminate", "1", "0.10")

    take_exam(browser, stack, "bob")
    assert press(browser, stack, "bob", "suspicious").endswith(TERMINATED)
    assert stack.status("bob") == "second_review_required"

    take_exam(browser, stack, "carol")
    assert press(browser, stack, "carol", "error").endswith(TERMINATED)
    assert stack.status("carol") == "error"
    assert stack.review("carol").reason_text == "Navigated away from assessment"

    # A report on a finished attempt is refused by the service, and the console says so.
    assert " 400 " in press(browser, stack, "bob", "clean")
    assert stack.status("bob") == "second_review_required"
