"""The handoff bridge end to end: a customer on the web chat's socket.io channel, the real Rasa model,
action server and handoff service, an agent on the service's HTTP API (the console's API).

Each trigger type hands over; the agent accepts, messages flow both ways on the customer's own
channel, the agent resolves (survey) or hands back to the bot (slots kept).
"""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import requests

from actions.texts import text
from common.identity import issue_token
from handoff.auth import hash_password
from handoff.store import HandoffStore
from tests.conftest import IDENTITY_SECRET
from tests.e2e.chat import SocketCustomer
from tests.e2e.test_rest_channel import low_confidence_messages

pytestmark = pytest.mark.e2e

ALL_SKILLS = ["vip", "complaints", "after_sales", "orders", "general"]


def _poll(find, timeout: float, failure: str):
    """What `find` returns once it is not None, asked every 0.2 s; AssertionError after `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = find()
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(failure)


class Agent:
    """An agent using the console's API (the same calls the page makes)."""

    def __init__(self, stack, skills=ALL_SKILLS, role="agent") -> None:
        self.url = stack.handoff_url
        self.id = f"agent-{uuid.uuid4().hex[:6]}"
        self.http = requests.Session()
        password = "pass-" + uuid.uuid4().hex
        HandoffStore(stack.handoff_db).add_agent(self.id, self.id.title(), hash_password(password), skills,
                                                 role=role, capacity=5)
        r = self.http.post(f"{self.url}/api/login", json={"agent_id": self.id, "password": password}, timeout=10)
        assert r.status_code == 200, r.text
        self.status("online")

    def status(self, value: str) -> None:
        r = self.http.put(f"{self.url}/api/me/status", json={"status": value}, timeout=10)
        assert r.status_code == 200, r.text

    def conversation_of(self, sender_id: str, timeout: float = 15.0) -> dict:
        return _poll(lambda: next((c for c in self.http.get(f"{self.url}/api/conversations", timeout=10).json()
                                   ["conversations"] if c["sender_id"] == sender_id), None),
                     timeout, f"no conversation of {sender_id} for {self.id}")

    def detail(self, conversation_id: int) -> dict:
        return self.http.get(f"{self.url}/api/conversations/{conversation_id}", timeout=10).json()

    def accept(self, conversation_id: int) -> dict:
        r = self.http.post(f"{self.url}/api/conversations/{conversation_id}/accept", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["conversation"]

    def reply(self, conversation_id: int, body: str) -> dict:
        r = self.http.post(f"{self.url}/api/conversations/{conversation_id}/messages", json={"text": body},
                           timeout=10)
        assert r.status_code == 201, r.text
        return r.json()["message"]

    def resolve(self, conversation_id: int, outcome: str) -> dict:
        r = self.http.post(f"{self.url}/api/conversations/{conversation_id}/resolve", json={"outcome": outcome},
                           timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["conversation"]

    def wait_message(self, conversation_id: int, wanted, what: str, timeout: float = 15.0) -> dict:
        return _poll(lambda: next((m for m in self.detail(conversation_id)["messages"] if wanted(m)), None),
                     timeout, what)

    def wait_customer_message(self, conversation_id: int, body: str) -> dict:
        return self.wait_message(conversation_id, lambda m: m["direction"] == "customer" and m["text"] == body,
                                 f"customer message {body!r} never reached the agent")

    def wait_delivered(self, conversation_id: int, message_id: int) -> dict:
        return self.wait_message(conversation_id, lambda m: m["id"] == message_id and m["delivered_at"],
                                 f"message {message_id} never delivered")

    def close(self) -> None:
        self.status("offline")
        self.http.close()


@pytest.fixture
def agent(stack):
    a = Agent(stack)
    yield a
    a.close()


async def off(function, *args):
    """A blocking call of the agent's, off the event loop (the customer's socket must keep running)."""
    return await asyncio.to_thread(function, *args)


async def _customer(stack, language="zh", customer_id=None) -> SocketCustomer:
    data = {"language": language}
    if customer_id:
        data["customer_token"] = issue_token(IDENTITY_SECRET, customer_id)
    customer = SocketCustomer(stack.rasa_url, custom_data=data)
    await customer.connect()
    return customer


async def test_request_accept_both_ways_close_and_survey(stack, agent):
    customer = await _customer(stack)
    try:
        await customer.say("你好", expect=2)
        replies = await customer.say("我要转人工")
        assert any("转接人工客服" in (r.get("text") or "") for r in replies), replies
        conv = await off(agent.conversation_of, customer.session_id)
        assert conv["reason"] == "customer_request" and conv["channel"] == "socketio"
        assert conv["state"] == "offered" and conv["agent_id"] == agent.id
        detail = await off(agent.detail, conv["id"])
        assert [t["text"] for t in detail["summary"]["transcript"] if t["role"] == "customer"][-1] == "我要转人工"
        assert "request_human" in detail["summary"]["intents"]

        await off(agent.accept, conv["id"])
        await customer.next_text("已接入")  # the service tells the customer who joined

        await customer.send("我的快递三天没动了")  # the bot stays silent; the agent gets it
        await off(agent.wait_customer_message, conv["id"], "我的快递三天没动了")
        assert customer.inbox.empty()

        sent = await off(agent.reply, conv["id"], "我来帮您查一下物流")
        got = await customer.next_text("我来帮您查一下物流")
        assert got["text"] == "我来帮您查一下物流"
        assert (await off(agent.wait_delivered, conv["id"], sent["id"]))["delivered_at"]

        await off(agent.resolve, conv["id"], "close")
        survey = await customer.next_text(text("csat_ask", "zh"))
        assert [b["title"] for b in survey.get("quick_replies") or survey.get("buttons") or []] == \
            ["5", "4", "3", "2", "1"]
        replies = await customer.say("5")
        assert any(text("csat_comment", "zh") in (r.get("text") or "") for r in replies), replies
        replies = await customer.say("客服很耐心")
        assert any(text("csat_thanks", "zh") in (r.get("text") or "") for r in replies), replies
        assert HandoffStore(stack.handoff_db).csat(conv["id"]) == (5, "客服很耐心")
        # the bot is back: a question gets an answer again
        replies = await customer.say("运费怎么算")
        assert any("包邮" in (r.get("text") or "") for r in replies), replies
    finally:
        await customer.close()


async def test_escalation_words_go_to_complaints_and_hand_back_keeps_slots(stack, agent):
    customer = await _customer(stack)
    try:
        await customer.say("我的订单240620551873到哪了", expect=2)
        replies = await customer.say("再不处理我就去12315投诉你们")
        assert any(text("complaint_ack", "zh") in (r.get("text") or "") for r in replies), replies
        conv = await off(agent.conversation_of, customer.session_id)
        assert conv["reason"] == "escalation" and conv["queue"] == "complaints"
        assert (await off(agent.detail, conv["id"]))["summary"]["slots"]["order_number"] == "240620551873"
        await off(agent.accept, conv["id"])
        await off(agent.reply, conv["id"], "非常抱歉，已为您加急处理")
        await customer.next_text("已为您加急处理")
        await off(agent.resolve, conv["id"], "bot")
        await customer.next_text(text("handback", "zh"))
        # slots kept: the order number is still known to the bot
        replies = await customer.say("那订单状态呢")
        assert any("240620551873" in (r.get("text") or "") for r in replies), replies
    finally:
        await customer.close()


async def test_low_confidence_twice_hands_over(stack, agent):
    customer = await _customer(stack, language="en")
    try:
        await customer.say("hello", expect=2)
        low = await asyncio.to_thread(low_confidence_messages, stack)
        await customer.say(low[0])
        replies = await customer.say(low[1])
        # (nonsense Chinese characters switch the conversation to Chinese; Latin letters keep English)
        assert any("connecting you to a person" in (r.get("text") or "") or "转接人工客服" in (r.get("text") or "")
                   for r in replies), replies
        conv = await off(agent.conversation_of, customer.session_id)
        assert conv["reason"] == "low_confidence"
        assert len((await off(agent.detail, conv["id"]))["summary"]["transcript"]) >= 5
    finally:
        await customer.close()


async def test_vip_asking_for_a_person_skips_to_the_vip_queue(stack, agent):
    customer = await _customer(stack, customer_id="C1091")
    try:
        await customer.say("你好", expect=2)
        await customer.say("找个真人客服")
        conv = await off(agent.conversation_of, "customer:C1091")  # a verified customer's conversation
        assert (conv["reason"], conv["queue"], conv["tier"], conv["customer_id"]) == \
            ("vip", "vip", "vip", "C1091")
    finally:
        await customer.close()


async def test_nobody_online_the_next_message_becomes_a_ticket(stack):
    customer = await _customer(stack)
    try:
        await customer.say("你好", expect=2)
        replies = await customer.say("人工客服")
        assert any("现在没有客服在线" in (r.get("text") or "") for r in replies), replies
        replies = await customer.say("我想改收货地址，改到公司")
        assert any(text("ticket_recorded", "zh") in (r.get("text") or "") for r in replies), replies
        store = HandoffStore(stack.handoff_db)
        ticket = store.latest_for_sender(customer.session_id, "ticket")
        assert ticket is not None
        assert [m.text for m in store.messages(ticket.id)] == ["我想改收货地址，改到公司"]
        # and the bot answers again afterwards
        replies = await customer.say("运费怎么算")
        assert any("包邮" in (r.get("text") or "") for r in replies), replies
    finally:
        await customer.close()


def strongly_negative_messages(stack) -> list:
    """Messages the trained model reads as strongly negative without a complaint intent or an
    escalation word (so that sentiment alone is what hands over), found via Rasa's /model/parse."""
    from common.handoff_triggers import TASK_INTENTS, escalation_word, negative_probability
    from tests.e2e.chat import parse

    pool = ["等了一个星期还没到，真是受够了", "太失望了，包装破成这样", "这个质量真的太差劲了，气死我了",
            "你们的效率真让人无语，烦死了", "东西用了一天就坏了，太糟糕了", "简直是浪费钱，垃圾东西",
            "this is the worst shopping experience ever, I'm furious", "absolutely terrible, I'm so disappointed",
            # anger at the bot itself (bot_challenge): the model of 2026-12 reads every line above as a complaint
            "你这机器人太蠢了，烦死了", "机器人听不懂人话，烦死了"]
    found = []
    for candidate in pool:
        data = parse(stack, candidate)
        p = negative_probability(data)
        if data["intent"]["name"] not in ("complain", "request_human", *TASK_INTENTS) \
                and not escalation_word(candidate) and "投诉" not in candidate \
                and p is not None and p >= stack.settings.handoff_sentiment_strong:
            found.append(candidate)
    assert found, "no message of the pool is strongly negative without a complaint intent"
    return found


async def test_strongly_negative_message_hands_over_with_sentiment_in_the_summary(stack, agent):
    message = (await asyncio.to_thread(strongly_negative_messages, stack))[0]
    customer = await _customer(stack)
    try:
        await customer.say("你好", expect=2)
        replies = await customer.say(message)
        assert any("H0" in (r.get("text") or "") for r in replies), replies
        conv = await off(agent.conversation_of, customer.session_id)
        assert conv["reason"] == "negative_sentiment" and conv["queue"] == "complaints"
        sentiment = (await off(agent.detail, conv["id"]))["summary"]["sentiment"]
        assert sentiment[-1] is not None and sentiment[-1] <= -0.8  # score = 1 - 2 P(negative)
        assert sentiment[0] is not None and sentiment[0] > sentiment[-1]
    finally:
        await customer.close()
