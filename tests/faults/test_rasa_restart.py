"""The Rasa server crashed (SIGKILL) in the middle of the order form and started again: the conversation is in
the SQL tracker store, so the customer continues where they were (slots, language, the form's question)."""
from __future__ import annotations

import time

import pytest

from actions.order_texts import text
from tests.e2e.chat import new_sender, rest_say
from tests.e2e.test_orders import SAY, demo, status_header  # noqa: F401 - demo is a fixture
from tests.faults.conftest import bot_texts, tracker

pytestmark = pytest.mark.e2e


def test_rasa_killed_mid_form_the_customer_continues_where_they_were(faults, demo):  # noqa: F811
    stack = faults
    order = demo.pick("any order", lambda o: True)
    sender = new_sender("fault-rasa")
    assert bot_texts(rest_say(stack.rasa_url, sender, SAY["status"]["zh"]))[-1] == text("ask_order_number", "zh")
    assert bot_texts(rest_say(stack.rasa_url, sender, order.number)) == [
        text("ask_phone_last4", "zh", order=order.number)]
    before = tracker(stack, sender)

    stack.supervisor.kill("rasa")
    started = time.monotonic()
    stack.supervisor.restart("rasa")
    print(f"Rasa back in {time.monotonic() - started:.0f} s")

    after = tracker(stack, sender)
    for slot in ("order_number", "language", "order_task", "requested_slot", "handoff"):
        assert after["slots"].get(slot) == before["slots"].get(slot), slot
    assert after["slots"]["order_number"] == order.number and after["slots"]["language"] == "zh"
    assert after["active_loop"].get("name") == "order_form"
    assert len(after["events"]) == len(before["events"])  # nothing lost, nothing doubled

    replies = rest_say(stack.rasa_url, sender, demo.last4(order))  # just the answer to the question asked
    assert bot_texts(replies)[0].startswith(status_header(order.number, order.status, "zh")), replies
