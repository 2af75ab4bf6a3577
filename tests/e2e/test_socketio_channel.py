"""The web widget's protocol against Rasa's socket.io channel (python-socketio as the client)."""
from __future__ import annotations

import pytest

from tests.e2e.chat import SocketCustomer

pytestmark = pytest.mark.e2e


async def test_socketio_conversation_in_chinese_with_session_persistence(stack):
    customer = SocketCustomer(stack.rasa_url, custom_data={"language": "zh"})
    await customer.connect()
    try:
        replies = await customer.say("我的快递到哪了", expect=2)
        texts = [r.get("text", "") for r in replies]
        assert texts[0].startswith("您好"), texts  # welcome in the hinted language
        assert "订单号" in texts[-1], texts
        replies = await customer.say("240620551873")
        assert any("240620551873" in r.get("text", "") for r in replies), replies
    finally:
        await customer.close()

    # Reconnect with the same session id: the conversation (and the order number) is still there.
    again = SocketCustomer(stack.rasa_url, custom_data={"language": "zh"})
    again.session_id = customer.session_id
    await again.connect()
    try:
        replies = await again.say("那订单状态呢")
        assert any("240620551873" in r.get("text", "") for r in replies), replies
    finally:
        await again.close()


async def test_socketio_english_buttons(stack):
    customer = SocketCustomer(stack.rasa_url, custom_data={"language": "en"})
    await customer.connect()
    try:
        replies = await customer.say("240620551999", expect=2)
        last = replies[-1]
        assert "What would you like to do" in last.get("text", ""), replies
        payloads = [b["payload"] for b in last.get("quick_replies", last.get("buttons", []))]
        assert "/ask_logistics" in payloads, last
    finally:
        await customer.close()
