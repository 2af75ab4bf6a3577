"""A real browser (headless Chromium from Debian) opens the web chat page and chats."""
from __future__ import annotations

import shutil
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _system_binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(f"none of {names} found: run `bash scripts/setup.sh --test` (installs chromium)")


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = _system_binary("chromium", "chromium-browser")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                 f"--user-data-dir={profile}", "--lang=zh-CN"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    # A system chromedriver: Selenium Manager must not try to download one.
    driver = webdriver.Chrome(options=options,
                              service=Service(executable_path=_system_binary("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _bot_texts(driver) -> list:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".rw-response")]


def test_web_chat_page_answers_a_question(stack, browser, tmp_path):
    browser.get(stack.web_url + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".rw-launcher"))).click()
    box = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".rw-new-message")))
    box.send_keys("运费怎么算")
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: any("包邮" in t for t in _bot_texts(d)))
    browser.save_screenshot(str(tmp_path / "webchat.png"))
    user = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".rw-client")]
    assert "运费怎么算" in user

    box.send_keys("我的快递到哪了")
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: any("订单号" in t for t in _bot_texts(d)))
    # Buttons (quick replies) render and are clickable.
    box.send_keys("240813006624")
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: any("240813006624" in t for t in _bot_texts(d)))
