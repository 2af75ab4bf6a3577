"""A real browser (headless Chromium from Debian) opens the web chat page and chats."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.located import texts

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _bot_texts(driver) -> list:
    return texts(driver, ".rw-response")


def test_web_chat_page_answers_a_question(stack, browser, tmp_path):
    browser.get(stack.web_url + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".rw-launcher"))).click()
    box = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".rw-new-message")))
    box.send_keys("运费怎么算")
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: any("包邮" in t for t in _bot_texts(d)))
    browser.save_screenshot(str(tmp_path / "webchat.png"))
    assert "运费怎么算" in [t.strip() for t in texts(browser, ".rw-client")]

    box.send_keys("我的快递到哪了")
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: any("订单号" in t for t in _bot_texts(d)))
    # Buttons (quick replies) render and are clickable.
    box.send_keys("240813006624")
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: any("240813006624" in t for t in _bot_texts(d)))


def test_page_passes_the_embedding_sites_customer_token(stack, browser):
    """The shop's page vouches for the signed-in customer: the bot knows them (no phone check, their
    orders offered) and the message lands in the customer's conversation."""
    import requests

    from common.identity import issue_token
    from common.secrets import rasa_api_token
    from tests.conftest import IDENTITY_SECRET

    token = issue_token(IDENTITY_SECRET, "C1110")
    browser.get(f"{stack.web_url}/#customer_token={token}")
    wait = WebDriverWait(browser, 30)
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".rw-launcher"))).click()
    box = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".rw-new-message")))
    box.send_keys("网页上的消息：我的订单到哪了")
    box.send_keys(Keys.ENTER)
    wait.until(lambda d: any("订单" in t for t in _bot_texts(d)))
    tracker = requests.get(f"{stack.rasa_url}/conversations/customer:C1110/tracker",
                           params={"token": rasa_api_token(stack.settings.var_dir)}, timeout=10).json()
    user = [e for e in tracker["events"] if e["event"] == "user"]
    assert user and user[-1]["text"] == "网页上的消息：我的订单到哪了"
    assert user[-1]["input_channel"] == "socketio"
    slots = tracker["slots"]
    assert slots.get("verified_customer") == "C1110"
