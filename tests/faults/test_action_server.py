"""The action server crashed (SIGKILL) or stalled (SIGSTOP) mid-conversation, with the real model: the customer
gets one polite answer with a way to a person (bot/action_guard.py), quickly, never silence; a form in progress
stays where it was and goes on once the action server is back; an agent's messages sent meanwhile wait in the
handoff service's outbox and reach the customer once it is back, in order, once each."""
from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time

import pytest

from actions.order_texts import text
from common.rasa_marks import ACTION_SERVER_UNAVAILABLE
from tests.e2e.chat import SocketCustomer, new_sender, rest_say
from tests.e2e.test_handoff import Agent, _customer, off
from tests.e2e.test_orders import SAY, demo, status_header  # noqa: F401 - demo is a fixture
from tests.faults.conftest import bot_texts, response_texts, tracker

pytestmark = pytest.mark.e2e

APOLOGY = response_texts("utter_service_unavailable")
HUMAN = "/request_human"
FAST = 5.0  # seconds: a refused connection is answered at once (a loaded 2-core machine included)


def is_apology(reply: dict, language: str) -> bool:
    variation = APOLOGY[language]
    return reply.get("text") == variation["text"] and reply.get("buttons") == variation["buttons"]


def timed_say(stack, sender: str, message: str):
    started = time.monotonic()
    replies = rest_say(stack.rasa_url, sender, message)
    return replies, time.monotonic() - started


def test_action_server_down_gets_one_polite_answer_with_a_way_to_a_person(faults):
    stack = faults
    sender = new_sender("fault-down")
    rest_say(stack.rasa_url, sender, "你好")  # the language (zh) is known from here on
    stack.supervisor.kill("actions")

    # an order question (a rule, then the order form), a FAQ question, a request for a person: all custom
    # actions; before the guard each of these got an empty answer
    for message in (SAY["status"]["zh"], "退货政策是什么", "转人工"):
        replies, took = timed_say(stack, sender, message)
        assert len(replies) == 1 and is_apology(replies[0], "zh"), (message, replies)
        assert took < FAST, (message, took)
    assert APOLOGY["zh"]["buttons"][0]["payload"] == HUMAN

    # a new customer whose language is not known yet gets it in both languages, on the widget's channel too
    async def widget():
        customer = SocketCustomer(stack.rasa_url)
        await customer.connect()
        try:
            return await customer.say("我的快递到哪了")
        finally:
            await customer.close()

    replies = asyncio.run(widget())
    assert [r.get("text") for r in replies] == [APOLOGY["any"]["text"]], replies
    shown = replies[0].get("quick_replies") or replies[0].get("buttons")
    assert [b["payload"] for b in shown] == [HUMAN], replies

    # back up: the button does what it says
    stack.supervisor.restart("actions")
    replies = rest_say(stack.rasa_url, sender, HUMAN)
    assert not any(is_apology(r, "zh") for r in replies), replies
    assert any("编号" in t for t in bot_texts(replies)), replies  # the handoff's reference


def test_action_server_stalled_mid_form_answers_within_the_bound_and_the_form_goes_on(faults, demo):  # noqa: F811
    stack = faults
    bound = stack.settings.action_timeout
    order = demo.pick("any order", lambda o: True)
    sender = new_sender("fault-stall")
    asked = bot_texts(rest_say(stack.rasa_url, sender, SAY["status"]["zh"]))
    assert asked[-1] == text("ask_order_number", "zh"), asked

    stack.supervisor.send_signal("actions", signal.SIGSTOP)
    replies, took = timed_say(stack, sender, order.number)
    assert len(replies) == 1 and is_apology(replies[0], "zh"), replies
    # one bounded wait (the slot-mapping call), then the turn's other calls fail at once
    assert bound - 1 <= took < bound + FAST, took
    state = tracker(stack, sender)
    assert state["active_loop"].get("name") == "order_form", state["active_loop"]

    stack.supervisor.send_signal("actions", signal.SIGCONT)
    replies = rest_say(stack.rasa_url, sender, f"{order.number} {demo.last4(order)}")
    assert bot_texts(replies)[0].startswith(status_header(order.number, order.status, "zh")), replies


async def test_action_server_down_an_agents_messages_wait_and_reach_the_customer_once_in_order(faults):
    stack = faults
    customer = await _customer(stack)
    agent = await off(Agent, stack)
    try:
        await customer.say("你好", expect=2)
        await customer.say("我要转人工")
        conv = await off(agent.conversation_of, customer.session_id)
        await off(agent.accept, conv["id"])
        await customer.next_text("已接入")

        stack.supervisor.kill("actions")
        texts = ["我来帮您查一下物流", "已经联系快递员了，请稍等"]
        sent = [await off(agent.reply, conv["id"], body) for body in texts]
        await asyncio.sleep(5)  # Rasa takes each try (200) but cannot run the action: nothing reaches the customer
        assert customer.inbox.empty(), customer.inbox
        detail = await off(agent.detail, conv["id"])
        assert [m["delivered_at"] for m in detail["messages"] if m["id"] in {s["id"] for s in sent}] == [None, None]
        # kept in the outbox, tried and failed with the reason, the later message behind the first
        with sqlite3.connect(stack.handoff_db) as db:
            kept = db.execute("SELECT entities_json, attempts, last_error FROM outbox WHERE conversation_id = ? "
                              "AND delivered_at IS NULL ORDER BY id", (conv["id"],)).fetchall()
        assert [json.loads(e)["agent_text"] for e, _, _ in kept] == texts, kept
        attempts, error = kept[0][1:]
        assert attempts >= 1 and "action server was unavailable" in error, (attempts, error)
        marked = [e for e in tracker(stack, customer.session_id)["events"]
                  if (e.get("metadata") or {}).get(ACTION_SERVER_UNAVAILABLE)]
        assert marked and all(e["event"] == "followup" for e in marked), marked  # no apology to the customer

        await off(stack.supervisor.restart, "actions")
        got = [(await customer.next_text(texts[0], timeout=60))["text"], (await customer.next_text(texts[1]))["text"]]
        assert got == texts
        for message in sent:
            assert (await off(agent.wait_delivered, conv["id"], message["id"]))["delivered_at"]
        await asyncio.sleep(2)
        assert customer.inbox.empty(), customer.inbox  # once each
        bot = [e.get("text") for e in tracker(stack, customer.session_id)["events"] if e["event"] == "bot"]
        assert [bot.count(body) for body in texts] == [1, 1], bot
    finally:
        await customer.close()
        await off(agent.close)
