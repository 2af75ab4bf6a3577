"""Fixtures of the end-to-end tests: a real browser (headless Chromium from Debian)."""
from __future__ import annotations

import shutil
import tempfile
from typing import Callable, Iterator, List

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.e2e.located import Chromium


def _system_binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(f"none of {names} found: run `bash scripts/setup.sh --test` (installs chromium)")


def start_chromium(profile: str, language: str = "zh-CN") -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = _system_binary("chromium", "chromium-browser")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                 f"--user-data-dir={profile}", f"--lang={language}"):
        options.add_argument(flag)
    accept = "zh-CN,zh" if language.startswith("zh") else f"{language},en"
    options.add_experimental_option("prefs", {"intl.accept_languages": accept})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console, for driver.get_log
    # A system chromedriver: Selenium Manager must not try to download one.
    return Chromium(options=options, service=Service(executable_path=_system_binary("chromedriver")))


@pytest.fixture
def new_browser() -> Iterator[Callable[..., webdriver.Chrome]]:
    """Opens browsers (each with its own profile: its own cookies); all are closed after the test."""
    opened: List[tuple] = []

    def open_one(language: str = "zh-CN") -> webdriver.Chrome:
        profile = tempfile.mkdtemp(prefix="chromium-profile-")
        driver = start_chromium(profile, language)
        opened.append((driver, profile))
        return driver

    try:
        yield open_one
    finally:
        for driver, profile in opened:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(new_browser) -> webdriver.Chrome:
    """One Chinese-language browser."""
    return new_browser()
