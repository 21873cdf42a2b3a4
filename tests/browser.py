"""Headless Debian Chromium for the end-to-end tests, driven through chromedriver (selenium), one fresh profile each."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# As root on a closed network: no sandbox, no background connections (refused here, many at a time).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


@contextmanager
def headless_chromium(prefix: str, *, window_size: str | None = None, page_load_timeout: int = 20):
    """A Chromium driver; skips (or fails under scripts/test, which installs them) without chromium/chromedriver."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("EXAMS_TEST_REQUIRE_POSTGRES"):  # under scripts/test, which installs them
            pytest.fail("chromium and chromedriver are missing")
        pytest.skip("chromium/chromedriver not installed (scripts/test installs them)")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix=prefix)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    flags = CHROMIUM_FLAGS + ([f"--window-size={window_size}"] if window_size else [])
    for flag in flags + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
