"""Agent assist in the console (handoff/console/assist.js) in a real browser, against the real handoff
service (`python -m handoff serve`, like tests/e2e/test_console.py): a published knowledge base (the
editors' small bilingual corpus, real USE encoder and FAISS), the embedded order system seeded with the
demo orders, the real sentiment classifier (cached model). Customer messages come in through the bot's
relay API with the service token, as the action server sends them.

The suggestions must appear within the test's generous timeout; the latency figure is measured in
bench/assist/.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from common.settings import Settings
from knowledge.corpus import load_corpus
from knowledge.index import build_index
from orders.factory import backend_from_settings, ensure_seeded
from tests.e2e.test_console import (
    HandoffService,
    _api,
    _click,
    _get,
    _js_errors,
    _log_in,
    _message_texts,
    _open_console,
    _row,
    _texts,
    _wait,
    _wait_for,
)
from tests.kb_editing_fixture import OPTIONS, write_corpus, write_queries

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CUSTOMER = "C1110"  # a demo customer (data/orders/demo-orders.yml): VIP, an order in after-sales
REFUND_ZH = "仓库验收后 1–3 个工作日退款。"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[HandoffService]:
    corpus = write_corpus(tmp_path / "faq")
    kb = tmp_path / "kb"
    build_index(load_corpus(corpus), kb, OPTIONS)
    running = HandoffService(tmp_path)
    running.env.update({"CS_FAQ_DIR": str(corpus), "CS_KB_DIR": str(kb), "CS_KB_ENCODER": "use",
                        "CS_KB_NEGATIVES": "none", "CS_KB_GIT": "off",
                        "CS_KB_REGRESSION_QUERIES": str(write_queries(tmp_path / "dev.jsonl"))})
    assert ensure_seeded(Settings(var_dir=running.var_dir)) > 0
    running.add_agent("alice", "Alice", "agent", "general,orders", 2)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _latest_order(var_dir: Path) -> str:
    async def latest() -> str:
        backend = backend_from_settings(Settings(var_dir=var_dir))
        try:
            return (await backend.recent_orders(CUSTOMER, 1))[0].number
        finally:
            await backend.close()
    return asyncio.run(latest())


def _no_toasts(driver) -> None:
    """Toasts (e.g. "new chat offered", 5 s) sit over the bottom of the assist column: wait them out."""
    _wait(driver).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#toasts .toast"))


def _reply(driver) -> str:
    return driver.find_element(By.ID, "reply").get_attribute("value")


def test_suggestions_orders_alert_and_canned_search(service: HandoffService, browser):
    _open_console(browser, service)
    _log_in(browser, "alice", "Alice")
    me = _api(browser, service)
    Select(browser.find_element(By.ID, "status")).select_by_value("online")
    _wait(browser).until(lambda d: _get(me, "/api/me").json()["agent"]["status"] == "online")

    conv = service.handoff("web-assist-1", issue="客户要求转人工，查询订单状态", customer_id=CUSTOMER)
    assert conv["state"] == "offered" and conv["agent_id"] == "alice", conv
    _wait_for(browser, _row(conv["id"], "offered"))
    _click(browser, _row(conv["id"]) + " .accept")
    _wait_for(browser, _row(conv["id"], "mine"))
    _click(browser, _row(conv["id"], "mine") + " .issue")
    _wait(browser).until(lambda d: d.find_element(By.ID, "reply").is_enabled())
    _wait_for(browser, "#assist #assist-title")
    assert browser.find_element(By.ID, "assist-title").text == "辅助"

    # The order context: the customer's latest order, masked customer details, no address.
    number = _latest_order(service.var_dir)
    _wait_for(browser, f'#assist-orders li[data-order="{number}"]')
    orders_text = browser.find_element(By.ID, "assist-orders").text
    assert "张*" in orders_text and "189****5755" in orders_text and "18972355755" not in orders_text
    assert "售后中" in orders_text  # its status (after-sales open) in the agent's language

    # The customer writes: suggestions for that message appear (pushed on the WebSocket).
    service.relay("web-assist-1", "请问退款多久到账")
    _wait(browser).until(lambda d: "请问退款多久到账" in _message_texts(d, "customer"))
    _wait_for(browser, '#assist-suggestions button[data-entry="refund-time"]')
    assert _texts(browser, "#assist-query q") == ["请问退款多久到账"]
    first = browser.find_element(By.CSS_SELECTOR, "#assist-suggestions li:first-child button")
    assert first.get_attribute("data-entry") == "refund-time"
    score = first.find_element(By.CSS_SELECTOR, ".as-score").text
    assert float(score.split(" ")[0]) > 0.2, score
    assert not _reply(browser)

    # A click puts the answer (in the conversation's language) into the reply box; nothing is sent.
    _no_toasts(browser)
    first.click()
    _wait(browser).until(lambda d: _reply(d) == REFUND_ZH)
    assert _message_texts(browser, "agent") == []
    # The agent edits it and sends.
    box = browser.find_element(By.ID, "reply")
    box.send_keys("如有疑问请随时联系我。")
    box.send_keys(Keys.ENTER)
    sent = REFUND_ZH + "如有疑问请随时联系我。"
    _wait(browser).until(lambda d: sent in _message_texts(d, "agent"))
    stored = _get(me, f"/api/conversations/{conv['id']}").json()["messages"]
    assert [m["text"] for m in stored if m["direction"] == "agent"] == [sent]

    # Keyboard: a suggestion is a button; Enter on it inserts too.
    service.relay("web-assist-1", "忘记密码怎么办")
    _wait_for(browser, '#assist-suggestions li:first-child button[data-entry="password-reset"]')
    browser.find_element(By.CSS_SELECTOR, "#assist-suggestions li:first-child button").send_keys(Keys.ENTER)
    _wait(browser).until(lambda d: _reply(d).startswith("在登录页点"))
    box.clear()

    # No alert while the customer is calm; a strongly negative message raises it with a hint.
    assert not browser.find_elements(By.ID, "assist-alert")
    service.relay("web-assist-1", "你们就是骗子！太差劲了，气死我了，垃圾服务！")
    alert = _wait_for(browser, "#assist-alert")
    assert "客户情绪很负面" in alert.text and "致歉" in alert.text
    assert browser.find_element(By.CSS_SELECTOR, "#assist-sentiment .as-level").text == "负面"

    # Canned replies searchable by keyword (the conversation's language only).
    search = browser.find_element(By.ID, "canned-search")
    search.send_keys("退款")
    _wait(browser).until(lambda d: _texts(d, "#canned-results .as-canned-title") == ["退款时效"])
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys("没有这样的回复")
    _wait(browser).until(lambda d: _texts(d, "#canned-results .as-canned-item") == [])
    search.clear()
    search.send_keys("致歉")
    _wait(browser).until(lambda d: _texts(d, "#canned-results .as-canned-title") == ["致歉"])
    search.send_keys(Keys.ENTER)  # Enter in the search box inserts the first match
    _wait(browser).until(lambda d: _reply(d) == "非常抱歉给您带来不便，我们会尽快为您解决。")

    # English console: the panel's labels and the hint follow.
    browser.find_element(By.ID, "lang").click()
    _wait(browser).until(lambda d: d.find_element(By.ID, "assist-title").text == "Assist")
    assert "apologise" in browser.find_element(By.ID, "assist-alert").text
    assert "after-sales" in browser.find_element(By.ID, "assist-orders").text

    assert _js_errors(browser) == []
