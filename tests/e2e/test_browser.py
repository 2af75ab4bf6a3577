"""A real browser (headless Chromium from Debian) opens the web chat page and chats."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


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
