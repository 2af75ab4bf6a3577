"""The console when the customer's channel refuses an agent's reply for good (common/undeliverable.py), in
Chromium: the reply is marked not delivered, with the reason an agent can act on, live (no reload), and stays
so; a later reply that goes through is marked delivered.

The handoff service runs as in tests/e2e/test_console.py (`python -m handoff serve`), delivering to
tests/fakes/rasa_api.FakeRasa over HTTP, which answers for this customer as Rasa does when the WeChat
channel's customer-service send was refused with errcode 45015 (the 48-hour window has closed).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from common.undeliverable import ChannelRefused, Refusal
from tests.e2e.test_console import (
    HandoffService,
    _api,
    _click,
    _get,
    _js_errors,
    _log_in,
    _open_console,
    _row,
    _send_reply,
    _texts,
    _wait,
    _wait_for,
    running_service,
)
from tests.fakes.rasa_api import FakeRasa

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SENDER = "wechat:o-window-closed-1"
REFUSED = ChannelRefused(Refusal("wechat", "window_closed", 45015),
                         "WeChat API error 45015: response out of time limit or subscription is canceled")


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    with FakeRasa("console-refusal-rasa-token") as fake:
        yield fake


@pytest.fixture
def service(tmp_path: Path, rasa: FakeRasa) -> Iterator[HandoffService]:
    with running_service(tmp_path, CS_RASA_PORT=str(rasa.port), CS_RASA_TOKEN=rasa.token) as running:
        yield running


def test_a_reply_the_channel_refuses_is_marked_with_the_reason_and_the_next_one_delivered(service, rasa, browser):
    _open_console(browser, service)
    _log_in(browser, "alice", "Alice")
    Select(browser.find_element(By.ID, "status")).select_by_value("online")
    me = _api(browser, service)
    _wait(browser).until(lambda d: _get(me, "/api/me").json()["agent"]["status"] == "online")
    conv = service.handoff(SENDER, issue="客户要求转人工，退款进度")
    _click(browser, _row(conv["id"], "offered") + " .accept")
    _wait_for(browser, _row(conv["id"], "mine"))
    _wait(browser).until(lambda d: d.find_element(By.ID, "reply").is_enabled())

    rasa.fail(500, sender=SENDER, error=str(REFUSED))  # the customer last wrote more than 48 hours ago
    _send_reply(browser, "您的退款已经处理好了", Keys.ENTER)
    refused = _wait_for(browser, "#messages .msg.agent.refused .delivery.refused")
    assert refused.text.startswith("✗ 未送达：客户超过 48 小时未发消息")
    assert _texts(browser, "#messages .msg.agent.refused .text") == ["您的退款已经处理好了"]
    # the service's answer says the same, and the outbox is done with it (one try)
    [message] = [m for m in _get(me, f"/api/conversations/{conv['id']}").json()["messages"]
                 if m["direction"] == "agent"]
    assert (message["delivered_at"], message["failure"]) == (None, "window_closed") and message["failed_at"]
    assert len([c for c in rasa.calls(SENDER) if (c.entities or {}).get("agent_text") == "您的退款已经处理好了"]) == 1
    calls_before_resend = len(rasa.calls(SENDER))

    rasa.heal()  # the customer wrote again
    # the refused reply goes back into the reply box (nothing is sent by itself), the agent adds to it
    _send_reply(browser, "您好，")
    _click(browser, "#messages .msg.agent.refused .resend")
    assert browser.find_element(By.ID, "reply").get_attribute("value") == "您好，\n您的退款已经处理好了"
    assert len(rasa.calls(SENDER)) == calls_before_resend
    _send_reply(browser, Keys.ENTER)
    _wait_for(browser, "#messages .msg.agent:not(.refused) .delivery.delivered")
    assert _texts(browser, "#messages .msg.agent .delivery") == [
        "✗ 未送达：客户超过 48 小时未发消息，微信不允许再主动发送，请待客户再次来信或改用电话联系 重新编辑发送",
        "✓ 已送达"]
    assert _texts(browser, "#messages .msg.agent:not(.refused) .text") == ["您好，\n您的退款已经处理好了"]

    # in English, the reason follows the console's language
    browser.find_element(By.ID, "lang").click()
    _wait(browser).until(lambda d: _texts(d, "#messages .msg.agent.refused .delivery")[0].startswith(
        "✗ Not delivered: more than 48 h since the customer last wrote"))
    assert _js_errors(browser) == []
