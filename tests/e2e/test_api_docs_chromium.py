"""/api-docs/ renders the OpenAPI description in headless Chromium, offline: every file from this service.

The screenshot is kept at var/screenshots/api-docs.png (or $EXAMS_SCREENSHOT_DIR/api-docs.png).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from exams.adapters.http.openapi import OPERATIONS
from tests.conftest import app_settings
from tests.served import ServedApp

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from exams.adapters.sql.migrate import upgrade
    from exams.app import main

    url = f"sqlite:///{tmp_path_factory.mktemp('docs') / 'exams.db'}"
    upgrade(url)
    server = ServedApp(main({}, **app_settings(url)), name="api-docs").start()
    yield server
    server.close()


def test_api_docs_renders_every_operation_offline_in_chromium(served, chromium):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    chromium.set_window_size(1280, 2200)
    chromium.get(f"{served.url}/api-docs/")
    WebDriverWait(chromium, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    title = chromium.find_element(By.CSS_SELECTOR, ".info .title").text
    assert title.startswith("exams")
    blocks = chromium.find_elements(By.CSS_SELECTOR, ".opblock")
    assert len(blocks) == len(OPERATIONS)
    assert not chromium.find_elements(By.CSS_SELECTOR, ".errors-wrapper .error-wrapper")
    # Everything the page loaded came from this service: no CDN, nothing from another host.
    resources = chromium.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(name.startswith(served.url) for name in resources), resources
    time.sleep(0.5)  # let the layout settle before the picture
    folder = Path(os.environ.get("EXAMS_SCREENSHOT_DIR", ROOT / "var" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / "api-docs.png"
    assert chromium.save_screenshot(str(shot))
    assert shot.stat().st_size > 10000
