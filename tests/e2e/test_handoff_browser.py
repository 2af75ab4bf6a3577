"""The whole handoff chain in two real browsers (headless Chromium): a customer in the web chat
widget asks for a person; an agent in the console accepts, reads the summary, replies; the reply
appears in the customer's widget and the customer's answer in the console; the agent closes and the
customer rates the service in the widget — then the hand-back path, with the order number kept."""
from __future__ import annotations

import time
import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from actions.texts import text
from handoff.auth import hash_password
from handoff.store import HandoffStore
from tests.e2e.located import attributes, texts

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
WAIT = 40


def _customer_says(driver, message: str) -> None:
    box = WebDriverWait(driver, WAIT).until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".rw-new-message")))
    box.send_keys(message)
    box.send_keys(Keys.ENTER)


def _customer_sees(driver, fragment: str) -> None:
    WebDriverWait(driver, WAIT).until(lambda d: any(fragment in t for t in texts(d, ".rw-response")),
                                      f"the customer never saw {fragment!r}")


def _open_widget(driver, stack) -> None:
    driver.get(stack.web_url + "/")
    WebDriverWait(driver, WAIT).until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".rw-launcher"))).click()


def _console_login(driver, stack, agent_id: str, password: str) -> None:
    driver.get(stack.handoff_url + "/console/")
    WebDriverWait(driver, WAIT).until(EC.visibility_of_element_located((By.ID, "login-form")))
    driver.find_element(By.ID, "agent-id").send_keys(agent_id)
    driver.find_element(By.ID, "password").send_keys(password, Keys.ENTER)
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "conn").get_attribute("class") == "conn up")
    Select(driver.find_element(By.ID, "status")).select_by_value("online")


def _click(driver, css: str) -> None:
    def click(d) -> bool:
        d.find_element(By.CSS_SELECTOR, css).click()
        return True
    WebDriverWait(driver, WAIT, ignored_exceptions=(Exception,)).until(click)


def _new_agent(stack) -> tuple:
    agent_id, password = f"web-{uuid.uuid4().hex[:6]}", "pw-" + uuid.uuid4().hex
    HandoffStore(stack.handoff_db).add_agent(agent_id, "Mia", hash_password(password),
                                             ["vip", "complaints", "after_sales", "orders", "general"], capacity=3)
    return agent_id, password


def _offered_row(driver, timeout: float = WAIT) -> str:
    row = WebDriverWait(driver, timeout).until(
        EC.visibility_of_element_located((By.CSS_SELECTOR, "#list-offered .conv")))
    return row.get_attribute("data-id")


def test_customer_in_web_chat_and_agent_in_console(stack, new_browser, tmp_path):
    agent_id, password = _new_agent(stack)
    console = new_browser()
    customer = new_browser()
    try:
        _console_login(console, stack, agent_id, password)
        _open_widget(customer, stack)

        _customer_says(customer, "我的订单240620551873到哪了")
        _customer_sees(customer, "240620551873")
        _customer_says(customer, "我要转人工")
        _customer_sees(customer, "转接人工客服")

        # The console: offered live, with the summary (issue line, order number, transcript).
        cid = _offered_row(console)
        _click(console, f'.conv[data-id="{cid}"] .issue')
        WebDriverWait(console, WAIT).until(
            lambda d: "240620551873" in d.find_element(By.ID, "summary-issue").text)
        assert console.find_element(By.CSS_SELECTOR, '#summary dd[data-slot="order_number"]').text == "240620551873"
        _click(console, f'.conv[data-id="{cid}"] .accept')
        WebDriverWait(console, WAIT).until(lambda d: d.find_element(By.ID, "reply").is_enabled())
        _customer_sees(customer, "已接入")

        # Both ways.
        _customer_says(customer, "包裹三天没动了，能帮我催一下吗")
        WebDriverWait(console, WAIT).until(
            lambda d: "包裹三天没动了，能帮我催一下吗" in texts(d, "#messages .msg.customer .text"))
        console.find_element(By.ID, "reply").send_keys("好的，我马上联系快递公司加急", Keys.ENTER)
        _customer_sees(customer, "我马上联系快递公司加急")
        console.save_screenshot(str(tmp_path / "console.png"))
        customer.save_screenshot(str(tmp_path / "widget.png"))

        # Close: the customer rates 5 in the widget, then comments.
        WebDriverWait(console, WAIT).until(lambda d: d.find_element(By.ID, "resolve-close").is_enabled())
        console.find_element(By.ID, "resolve-close").click()
        _customer_sees(customer, text("csat_ask", "zh"))
        _customer_says(customer, "5")
        _customer_sees(customer, text("csat_comment", "zh"))
        _customer_says(customer, "很快就解决了")
        _customer_sees(customer, text("csat_thanks", "zh"))
        deadline = time.time() + 10
        while HandoffStore(stack.handoff_db).csat(int(cid)) is None and time.time() < deadline:
            time.sleep(0.2)
        assert HandoffStore(stack.handoff_db).csat(int(cid)) == (5, "很快就解决了")

        # Hand-back path: the customer asks again, the agent hands back, the bot still knows the order.
        _customer_says(customer, "我还想找人工问一下")
        _customer_sees(customer, "转接人工客服（编号")
        cid2 = WebDriverWait(console, WAIT).until(
            lambda d: [i for i in attributes(d, "#list-offered .conv", "data-id") if i != cid] or None)[0]
        _click(console, f'.conv[data-id="{cid2}"] .accept')
        WebDriverWait(console, WAIT).until(lambda d: d.find_element(By.ID, "resolve-bot").is_enabled())
        console.find_element(By.ID, "resolve-bot").click()
        _customer_sees(customer, text("handback", "zh"))
        _customer_says(customer, "那订单状态呢")
        WebDriverWait(customer, WAIT).until(
            lambda d: sum("240620551873" in t for t in texts(d, ".rw-response")) >= 2, "the order number was forgotten")
    finally:
        for driver in (console,):
            try:
                Select(driver.find_element(By.ID, "status")).select_by_value("offline")
            except Exception:  # noqa: BLE001 - best effort: other tests expect nobody online
                pass
        HandoffStore(stack.handoff_db).set_status(agent_id, "offline")
