"""The agent's summary packet, built from a conversation's events: content, order, masking."""
from __future__ import annotations

import json

from handoff.summary import build_summary, issue_line, replay


def user(text, intent, sentiment=None, ts=1.0):
    parse = {"intent": {"name": intent, "confidence": 0.9}}
    if sentiment is not None:
        parse["sentiment"] = {"score": sentiment}
    return {"event": "user", "text": text, "parse_data": parse, "timestamp": ts}


def bot(text, ts=2.0):
    return {"event": "bot", "text": text, "timestamp": ts}


def slot(name, value):
    return {"event": "slot", "name": name, "value": value}


def action(name):
    return {"event": "action", "name": name}


CONVERSATION = [
    slot("language", "zh"),
    user("我的快递到哪了，电话13812345678", "ask_logistics", -0.2),
    slot("order_task", "logistics"),
    bot("请提供订单号和手机后四位"),
    user("261114945258 4696", "inform", 0.0),
    slot("order_number", "261114945258"), slot("phone_last4", "4696"),
    slot("verified_customer", "C1001"), slot("verified_order", "261114945258"),
    action("order_form"), action("action_order_task"),
    bot("订单 261114945258 由京东物流配送"),
    user("三天了还没到，我要投诉！身份证110101199003074518", "complain", -0.9),
]


def test_replay_collects_intents_slots_tasks_and_sentiment_in_order():
    seen = replay(CONVERSATION)
    assert seen["intents"] == ["ask_logistics", "inform", "complain"]
    assert seen["sentiment"] == [-0.2, 0.0, -0.9]
    assert seen["tasks"] == [{"task": "logistics", "order_number": "261114945258", "outcome": "done",
                              "verified": True}]
    assert [t["role"] for t in seen["transcript"]] == ["customer", "bot", "customer", "bot", "customer"]


def test_summary_masks_phones_and_id_numbers_everywhere():
    summary = build_summary(CONVERSATION, sender_id="s1", reason="complaint", queue="complaints", channel="web",
                            faq_attempts=[{"question": "电话13912345678能改吗", "entry": "account-phone",
                                           "score": 0.31}])
    packet = json.dumps(summary.as_dict(), ensure_ascii=False)
    for secret in ("13812345678", "110101199003074518", "13912345678", "4696"):
        assert secret not in packet
    assert "138****5678" in packet and "139****5678" in packet
    assert "phone_last4" not in summary.slots  # identity shown as a yes/no only
    assert summary.slots["order_verified"] is True


def test_summary_fields_for_the_agent():
    summary = build_summary(CONVERSATION, sender_id="s1", reason="complaint", queue="complaints", channel="wechat",
                            tier="vip", agent_language="zh")
    assert summary.customer.id == "C1001" and summary.customer.channel == "wechat"
    assert summary.customer.language == "zh" and summary.customer.tier == "vip"
    assert summary.slots["order_number"] == "261114945258" and summary.slots["order_task"] == "logistics"
    assert summary.issue == "【VIP】投诉，查询物流，订单 261114945258"
    assert summary.order_tasks[0]["outcome"] == "done"


def test_issue_line_in_the_agents_language_and_without_topic():
    assert issue_line("low_confidence", None, None, "normal", "en") == "bot did not understand"
    assert issue_line("customer_request", "aftersales", "261111391496", "normal", "en") == \
        "customer asked for a person, return / refund / exchange, order 261111391496"
    assert issue_line("unknown_reason", None, None, "normal", "zh") == "unknown_reason"


def test_blocked_task_and_unverified_order_are_reported():
    events = [user("取消订单261114945258", "cancel_order"), slot("order_task", "cancel"),
              slot("order_number", "261114945258"), slot("order_blocked", "locked"), action("action_order_task")]
    summary = build_summary(events, sender_id="s2", reason="customer_request", queue="orders", channel="web")
    assert summary.order_tasks == [{"task": "cancel", "order_number": "261114945258", "outcome": "locked",
                                    "verified": False}]
    assert summary.slots["order_verified"] is False and summary.customer.id is None


def test_transcript_is_limited_to_the_latest_lines():
    events = [user(f"消息{i}", "ask_faq", ts=float(i)) for i in range(80)]
    summary = build_summary(events, sender_id="s3", reason="low_confidence", queue="general", channel="web",
                            transcript_limit=50)
    assert len(summary.transcript) == 50 and summary.transcript[-1]["text"] == "消息79"
    assert summary.sentiment == [None] * 80
