"""End-to-end conversations through the REST channel of the real Rasa server + action server."""
from __future__ import annotations

import random
import re
import sqlite3

import pytest

from orders.fixture import load_fixture
from tests.e2e.chat import new_sender, parse, rest_say, texts

pytestmark = pytest.mark.e2e

CJK = re.compile(r"[\u4e00-\u9fff]")
REF = re.compile(r"H\d{6}")


def is_chinese(text: str) -> bool:
    return len(CJK.findall(text)) >= 4


def demo_order(accept, skip: int = 0):
    """(order number, phone last 4) of a demo order these read-only conversations may use."""
    fixture = load_fixture()
    phones = {c.id: c.phone for c in fixture.customers}
    found = [o for o in fixture.orders if accept(o)][skip]
    return found.number, phones[found.customer_id][-4:]


def handoff_rows(stack, sender: str) -> list:
    if not stack.handoff_db.exists():
        return []  # nothing was ever handed over in this stack
    with sqlite3.connect(stack.handoff_db) as db:
        return db.execute("SELECT reason, language, summary_json FROM conversations "
                          "WHERE sender_id = ? ORDER BY id", (sender,)).fetchall()


def test_chinese_conversation_remembers_order_number(stack):
    number, last4 = demo_order(lambda o: o.status == "shipped", skip=-1)
    me = new_sender("zh")
    first = texts(rest_say(stack.rasa_url, me, "你好呀"))
    assert len(first) == 2, first  # session welcome + greeting
    assert all(is_chinese(t) for t in first)

    ask = texts(rest_say(stack.rasa_url, me, "帮我看看订单现在是什么状态"))
    assert any("订单号" in t for t in ask), ask

    done = texts(rest_say(stack.rasa_url, me, f"订单号是{number}，手机尾号{last4}"))
    assert any(number in t and "已发货" in t for t in done), done
    assert all(is_chinese(t) for t in done)

    # Second question about the same order: neither the number nor the digits are asked for again.
    again = texts(rest_say(stack.rasa_url, me, "那快递现在到哪里了"))
    assert not any("订单号（12 位数字" in t or "后四位" in t for t in again), again
    assert any(number in t and "运单号" in t for t in again), again

    bye = texts(rest_say(stack.rasa_url, me, "好的谢谢你"))
    assert any("不客气" in t for t in bye), bye
    assert handoff_rows(stack, me) == []


def test_english_conversation(stack):
    number, last4 = demo_order(lambda o: o.status == "shipped", skip=-2)
    me = new_sender("en")
    first = texts(rest_say(stack.rasa_url, me, "hello there"))
    assert any("How can I help" in t for t in first), first

    ask = texts(rest_say(stack.rasa_url, me, "I need to know what's going on with my order"))
    assert any("order number" in t for t in ask), ask

    done = texts(rest_say(stack.rasa_url, me, f"it's {number}, phone ends {last4}"))
    assert any(number in t and "shipped" in t for t in done), done
    # English throughout, but for the (Chinese) delivery address
    assert not any(is_chinese(line) for t in done for line in t.split("\n") if "Delivery to" not in line), done

    challenge = texts(rest_say(stack.rasa_url, me, "wait, am I chatting with a real human?"))
    assert any("virtual assistant" in t for t in challenge), challenge


def test_mixed_language_message_is_answered_in_chinese(stack):
    me = new_sender("mixed")
    replies = texts(rest_say(stack.rasa_url, me, "我的order怎么还没发货"))
    answer = replies[-1]
    assert is_chinese(answer) and "订单号" in answer, replies


def test_language_follows_the_customer(stack):
    me = new_sender("switch")
    assert not is_chinese(texts(rest_say(stack.rasa_url, me, "how much is shipping"))[-1])
    assert is_chinese(texts(rest_say(stack.rasa_url, me, "运费怎么算"))[-1])


def test_faq_answered_from_the_knowledge_base(stack):
    me = new_sender("faq")
    replies = texts(rest_say(stack.rasa_url, me, "你们支持哪些付款方式"))
    assert any("微信支付" in t for t in replies), replies
    replies = texts(rest_say(stack.rasa_url, me, "can I get an invoice for my purchase"))
    assert any("invoice" in t.lower() and "My orders" in t for t in replies), replies


def low_confidence_messages(stack, count: int = 2) -> list:
    """Messages the model really is unsure about (found via Rasa's /model/parse) and the knowledge
    base has no answer or suggestion for, from a fixed pool of nonsense strings: what such a message
    is depends on the trained model and the index."""
    from knowledge.search import decide

    kb = stack.knowledge_base()
    rng = random.Random(20261123)
    chars = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面"
    pool = ["".join(rng.choice(chars) for _ in range(rng.randint(3, 7))) for _ in range(60)]
    pool += ["".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(rng.randint(4, 9))) for _ in range(30)]
    found = [t for t in pool if parse(stack, t)["intent"]["name"] == "nlu_fallback"
             and decide(kb.search(t), stack.settings.kb_thresholds).kind == "none"]
    assert len(found) >= count, f"only {found} of {len(pool)} nonsense messages fell below the threshold"
    return found[:count]


def test_fallback_clarifies_then_hands_over(stack):
    low = low_confidence_messages(stack)
    me = new_sender("fallback")
    rest_say(stack.rasa_url, me, "hi", metadata={"language": "en"})

    clarify = rest_say(stack.rasa_url, me, low[0])
    buttons = clarify[-1].get("buttons", [])
    # Nonsense Chinese characters switch the conversation to Chinese, Latin letters keep English.
    assert "not sure" in clarify[-1]["text"] or "不太确定" in clarify[-1]["text"], clarify
    assert len(buttons) == 3 and buttons[-1]["payload"] == "/request_human", buttons
    assert all(b["payload"].startswith("/") for b in buttons)

    handed = texts(rest_say(stack.rasa_url, me, low[1]))
    # nobody is online in this stack: the handoff becomes a ticket, with its reference
    assert any(REF.search(t) for t in handed), handed
    assert [r[0] for r in handoff_rows(stack, me)] == ["low_confidence"]


def test_clarification_button_leads_on(stack):
    me = new_sender("button")
    rest_say(stack.rasa_url, me, "你好")
    replies = texts(rest_say(stack.rasa_url, me, "/ask_logistics"))
    assert any("订单号" in t for t in replies), replies  # payload did not switch to English


def test_complaint_goes_to_a_person_with_summary(stack):
    me = new_sender("complaint")
    rest_say(stack.rasa_url, me, "我的手机号13812345678，订单240905118832")
    replies = texts(rest_say(stack.rasa_url, me, "你们这服务太差劲了，我要投诉！"))
    assert any("抱歉" in t for t in replies) and any(REF.search(t) for t in replies), replies
    (reason, language, summary), = handoff_rows(stack, me)
    assert (reason, language) == ("complaint", "zh")
    assert "13812345678" not in summary and "138****5678" in summary
    assert "240905118832" in summary


def test_stop_leaves_the_form(stack):
    me = new_sender("stop")
    assert any("订单号" in t for t in texts(rest_say(stack.rasa_url, me, "我想申请退款")))
    replies = texts(rest_say(stack.rasa_url, me, "算了不弄了"))
    assert any("已经停止办理" in t for t in replies), replies
    assert handoff_rows(stack, me) == []


def test_faq_digression_inside_the_form_resumes_it(stack):
    me = new_sender("digress")
    assert any("订单号" in t for t in texts(rest_say(stack.rasa_url, me, "我要取消订单")))
    replies = texts(rest_say(stack.rasa_url, me, "对了，退款一般多久能到账？"))
    assert any("退款" in t and "工作日" in t for t in replies), replies
    assert "订单号" in replies[-1], replies  # the form asks again
    number, last4 = demo_order(lambda o: o.status == "paid", skip=-1)
    done = texts(rest_say(stack.rasa_url, me, f"{number} {last4}"))
    assert any(number in t and "确认取消订单" in t for t in done), done
    assert any("没有做任何更改" in t for t in texts(rest_say(stack.rasa_url, me, "/deny")))
