"""The handoff service crashed (SIGKILL) when a customer asks for a person: the request is kept (the action
server's outbox, actions/handoff_outbox.py), the customer is told the truth, and once the service is back the
handoff is filed exactly once, with what the customer wrote meanwhile, and the agent's reply reaches them."""
from __future__ import annotations

import asyncio
import time

import pytest

from actions.texts import text
from handoff.store import HandoffStore
from tests.e2e.test_handoff import Agent, _customer, _poll, off

pytestmark = pytest.mark.e2e

STATES = ("queued", "offered", "active", "closed", "returned", "ticket")


def conversations_of(stack, sender: str) -> list:
    return [c for c in HandoffStore(stack.handoff_db).in_state(*STATES) if c.sender_id == sender]


def _with_people(agent: Agent, sender: str):
    found = agent.http.get(f"{agent.url}/api/conversations", params={"state": "queued,offered,active,ticket"},
                           timeout=10).json()["conversations"]
    return next((c for c in found if c["sender_id"] == sender), None)


async def test_handoff_service_down_the_request_waits_and_is_filed_once_when_it_is_back(faults):
    stack = faults
    customer = await _customer(stack)
    try:
        await customer.say("你好", expect=2)
        stack.supervisor.kill("handoff")

        started = time.monotonic()
        replies = await customer.say("我要转人工")
        assert [r.get("text") for r in replies] == [text("handoff_pending", "zh")], replies
        assert time.monotonic() - started < 10
        await customer.send("我的快递三天没动了")  # while "connecting": kept for the agent, the bot says nothing
        await asyncio.sleep(2)
        assert customer.inbox.empty()
        assert conversations_of(stack, customer.session_id) == []

        await off(stack.supervisor.restart, "handoff")
        agent = await off(Agent, stack)  # online once the service is back (an agent of this test only)
        try:
            # the outbox retries with growing pauses (1, 2, 4 ... 10 s): the handoff arrives, then the message.
            # It is queued for the agent, or a ticket when it arrived before the agent was back online; the
            # message joins it either way and the agent takes it.
            conv = await off(_poll, lambda: _with_people(agent, customer.session_id), 60.0,
                             f"no conversation of {customer.session_id} for {agent.id}")
            await off(agent.wait_customer_message, conv["id"], "我的快递三天没动了")
            [stored] = conversations_of(stack, customer.session_id)  # once, however often it was tried
            assert stored.reason == "customer_request"
            detail = await off(agent.detail, conv["id"])
            assert [m["text"] for m in detail["messages"] if m["direction"] == "customer"] == ["我的快递三天没动了"]

            await off(agent.accept, conv["id"])
            await off(agent.reply, conv["id"], "您好，我来帮您查")
            assert (await customer.next_text("您好，我来帮您查"))["text"] == "您好，我来帮您查"
        finally:
            await off(agent.close)
    finally:
        await customer.close()
