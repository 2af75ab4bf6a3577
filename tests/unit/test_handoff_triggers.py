"""common/handoff_triggers.py: when the bot hands over and why (escalation words, sentiment, reason
codes and their switches), CSAT answers, events since the last handoff. Pure functions, no I/O.

Bugs found by these tests were fixed; the tests stay as regression tests.
"""
from __future__ import annotations

import pytest

from common.handoff_triggers import (
    ESCALATION_PATTERNS,
    TriggerConfig,
    escalation_word,
    negative_probability,
    parse_score,
    reason_enabled,
    sentiment_trigger,
    since_last,
    trigger_reason,
)
from common.settings import HANDOFF_TRIGGERS, Settings

ALL = TriggerConfig()


def config(*enabled: str, **values) -> TriggerConfig:
    return TriggerConfig(enabled=frozenset(enabled), **values)


def without(*switches: str, **values) -> TriggerConfig:
    return TriggerConfig(enabled=frozenset(HANDOFF_TRIGGERS) - set(switches), **values)


# --- escalation words ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, word", [
    ("再不处理我就打12315", "12315"),
    ("我去消协告你们", "消协"),
    ("我已经联系了消费者协会", "消费者协会"),
    ("我找律师跟你们谈", "律师"),
    ("准备起诉你们", "起诉"),
    ("I'll talk to my lawyer", "lawyer"),
    ("My LAWYERS will call you", "LAWYERS"),
    ("I am going to sue you", "sue"),
    ("I WILL SUE", "SUE"),
    ("Sue.", "Sue"),
    ("we're suing", "suing"),
    ("see you in small claims", "small claims"),
    ("See you in Small Claims court", "Small Claims"),
    ("I'll file a chargeback", "chargeback"),
    ("reporting this to trading standards", "trading standards"),
])
def test_escalation_words_match(text, word):
    assert escalation_word(text) == word


@pytest.mark.parametrize("text", [
    "suede jacket", "my suede shoes got wet", "issue", "there is an issue with my order", "courtesy call",
    "pursue a refund", "我想咨询一下", "我的快递到哪了", "退货怎么办", "thanks, that helps", "",
])
def test_non_escalation_text_does_not_match(text):
    assert escalation_word(text) is None


def test_escalation_word_of_none_is_none():
    assert escalation_word(None) is None


def test_the_first_escalation_word_is_returned():
    assert escalation_word("律师说要去法院") == "律师"
    assert escalation_word("my lawyer says small claims") == "lawyer"


@pytest.mark.parametrize("sample", [
    "12315", "消协", "消费者协会", "工商局", "工商部门", "找工商", "市场监管", "律师", "起诉", "法院",
    "告你们", "报警", "曝光你们", "媒体曝光", "找媒体", "网上曝光", "黑猫", "lawyer", "lawyers", "attorney", "sue",
    "sued", "suing", "lawsuit", "legal action", "small claims", "ombudsman", "the regulator", "trading standards",
    "chargeback", "better business bureau", "BBB", "consumer protection", "report you", "to court", "in court",
    "court case",
])
def test_every_escalation_word_matches_inside_a_sentence(sample):
    assert escalation_word(f"xx {sample} yy") is not None
    assert escalation_word(f"我要{sample}你们") is not None  # next to Chinese, no spaces


def test_every_pattern_has_a_sample():
    assert len(ESCALATION_PATTERNS) == 35


# The hotlines 12315/12345 are numbers of their own, not digits inside a phone number (13812345678
# is the NLU data's own example), an order or a tracking number.
@pytest.mark.parametrize("text", ["我手机13912345678", "13812345678", "订单号 2024123151", "my phone is 13812345678",
                                  "123456", "012315"])
def test_hotline_numbers_do_not_match_inside_longer_numbers(text):
    assert escalation_word(text) is None


@pytest.mark.parametrize("text, word", [("12315", "12315"), ("call 12315!", "12315"),
                                        ("已拨打12315，", "12315")])
def test_hotline_numbers_on_their_own_match(text, word):
    assert escalation_word(text) == word


# BUG: \b between a CJK character and a Latin letter is no boundary (both are \w), so English
# escalation words written straight after Chinese (common in mixed zh/en chat) are missed.
@pytest.mark.parametrize("text, word", [("我要sue你们", "sue"), ("我已经找了lawyer", "lawyer")])
def test_english_escalation_words_next_to_chinese_match(text, word):
    assert escalation_word(text) == word


# BUG: "工商局?" makes 局 optional, so 工商 alone matches, and 工商银行 (ICBC, a payment bank) is
# something customers say about their payment, not a regulator.
def test_paying_with_icbc_is_not_an_escalation():
    assert escalation_word("我用工商银行卡付的款") is None


# --- sentiment -----------------------------------------------------------------------------------

@pytest.mark.parametrize("parse_data, expected", [
    ({"sentiment": {"negative": 0.97}}, 0.97),
    ({"sentiment": {"negative": 0}}, 0.0),
    ({"sentiment": {"score": -0.8}}, 0.9),      # score in -1..1 -> P(negative) = (1 - score) / 2
    ({"sentiment": {"score": 1.0}}, 0.0),
    ({"sentiment": {"negative": 0.2, "score": -1.0}}, 0.2),  # the probability wins
    ({"sentiment": {"negative": "high"}}, None),
    ({"sentiment": 0.5}, None),
    ({"intent": {"name": "greet"}}, None),
    ({}, None),
    (None, None),
])
def test_negative_probability(parse_data, expected):
    got = negative_probability(parse_data)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_sentiment_strong_single_message():
    assert sentiment_trigger([0.9], ALL)
    assert sentiment_trigger([None, 0.1, 0.95], ALL)
    assert not sentiment_trigger([0.89], ALL)


def test_sentiment_only_the_latest_message_counts_as_strong():
    assert not sentiment_trigger([0.99, 0.1], ALL)
    assert not sentiment_trigger([0.99, None], ALL)


def test_sentiment_trend_of_n_messages_at_level():
    assert sentiment_trigger([0.6, 0.7, 0.6], ALL)
    assert sentiment_trigger([0.0, 0.65, 0.7, 0.8], ALL)


def test_sentiment_trend_broken_by_a_mild_message():
    assert not sentiment_trigger([0.7, 0.59, 0.7], ALL)
    assert not sentiment_trigger([0.7, 0.8, 0.1], ALL)


def test_sentiment_trend_broken_by_a_message_without_score():
    assert not sentiment_trigger([0.7, None, 0.7], ALL)
    assert not sentiment_trigger([None, 0.7, 0.7], ALL)
    assert sentiment_trigger([None, 0.7, 0.7, 0.7], ALL)


def test_sentiment_fewer_messages_than_the_trend_needs():
    assert not sentiment_trigger([0.8, 0.8], ALL)
    assert not sentiment_trigger([0.8], ALL)
    assert not sentiment_trigger([], ALL)
    assert not sentiment_trigger([None], ALL)


def test_sentiment_configured_values_are_respected():
    assert sentiment_trigger([0.75], config(strong=0.7))
    assert not sentiment_trigger([0.75], config(strong=0.8))
    assert sentiment_trigger([0.8, 0.8], config(trend_turns=2))
    assert not sentiment_trigger([0.8, 0.8], config(trend_turns=3))
    assert sentiment_trigger([0.5, 0.5, 0.5], config(trend_level=0.5))
    assert not sentiment_trigger([0.5, 0.5, 0.5], config(trend_level=0.51))
    assert sentiment_trigger([0.6], config(trend_turns=1))


def test_trigger_config_from_settings():
    settings = Settings(handoff_triggers="request, escalation", handoff_sentiment_strong=0.8,
                        handoff_sentiment_trend_turns=4, handoff_sentiment_trend_level=0.7,
                        handoff_low_confidence_turns=3)
    assert TriggerConfig.from_settings(settings) == TriggerConfig(
        enabled=frozenset({"request", "escalation"}), strong=0.8, trend_turns=4, trend_level=0.7,
        low_confidence_turns=3)


def test_trigger_config_from_environment():
    settings = Settings.from_env({"CS_HANDOFF_TRIGGERS": "complaint,vip", "CS_HANDOFF_SENTIMENT_STRONG": "0.95",
                                  "CS_HANDOFF_SENTIMENT_TREND_TURNS": "2"})
    cfg = TriggerConfig.from_settings(settings)
    assert cfg.enabled == frozenset({"complaint", "vip"})
    assert (cfg.strong, cfg.trend_turns, cfg.trend_level) == (0.95, 2, 0.6)


def test_default_config_matches_default_settings():
    assert TriggerConfig.from_settings(Settings()) == TriggerConfig()
    assert TriggerConfig().enabled == frozenset(HANDOFF_TRIGGERS)


# --- trigger_reason ------------------------------------------------------------------------------

@pytest.mark.parametrize("intent, text, negatives, tier, reason", [
    ("request_human", "转人工", [], "normal", "customer_request"),
    ("request_human", "我要找律师，转人工", [0.99], "normal", "customer_request"),   # request first
    ("complain", "再不处理我就打12315", [0.99], "normal", "escalation"),          # escalation before complaint
    ("inform", "my lawyer will call", [], "normal", "escalation"),                # whatever the intent
    ("complain", "你们的服务太差了", [0.99], "normal", "complaint"),               # complaint before sentiment
    ("greet", "你们什么意思", [0.95], "normal", "negative_sentiment"),
    ("ask_order_status", "where is it", [0.7, 0.7, 0.7], "normal", "negative_sentiment"),
    ("ask_order_status", "where is my order", [0.1], "normal", None),
    ("greet", "你好", [], "normal", None),
    (None, "", [], "normal", None),
])
def test_trigger_reason_precedence(intent, text, negatives, tier, reason):
    assert trigger_reason(intent, text, negatives, tier, ALL) == reason


def test_complaint_words_are_complaints_whatever_the_intent():
    # 投诉/complain is a complaint to the shop (complaints queue); regulators and courts are escalations.
    assert trigger_reason("complain", "我要投诉", [], "normal", ALL) == "complaint"
    assert trigger_reason("ask_faq", "我要投诉你们客服", [], "normal", ALL) == "complaint"
    assert trigger_reason("greet", "I want to complain", [], "normal", ALL) == "complaint"
    assert trigger_reason("complain", "我要去12315投诉", [], "normal", ALL) == "escalation"
    assert escalation_word("12345") is None  # what people type as a made-up order number


@pytest.mark.parametrize("intent", ["request_return", "inform", "ask_order_status", "deny"])
def test_negative_sentiment_does_not_interrupt_a_task(intent):
    strong = [0.99]
    assert trigger_reason(intent, "收到时外壳就裂了", strong, "normal", ALL) is None
    assert trigger_reason("ask_faq", "收到时外壳就裂了", strong, "normal", ALL, in_task=True) is None
    assert trigger_reason("ask_faq", "收到时外壳就裂了", strong, "normal", ALL) == "negative_sentiment"
    # sustained negativity still hands over inside a task
    assert trigger_reason(intent, "还没好？", [0.7, 0.8, 0.99], "normal", ALL, in_task=True) == "negative_sentiment"


def test_vip_request_is_vip_only_with_the_vip_switch():
    assert trigger_reason("request_human", "转人工", [], "vip", ALL) == "vip"
    assert trigger_reason("request_human", "转人工", [], "vip", without("vip")) == "customer_request"
    assert trigger_reason("request_human", "转人工", [], "normal", ALL) == "customer_request"


def test_vip_tier_changes_only_requests():
    assert trigger_reason("complain", "太差了", [], "vip", ALL) == "complaint"
    assert trigger_reason("greet", "hello", [0.95], "vip", ALL) == "negative_sentiment"
    assert trigger_reason("greet", "hello", [], "vip", ALL) is None


def test_escalation_switch_off():
    cfg = without("escalation")
    assert trigger_reason("inform", "my lawyer will call", [], "normal", cfg) is None
    assert trigger_reason("complain", "再不处理我就打12315", [], "normal", cfg) == "complaint"
    assert trigger_reason("ask_faq", "12315", [0.95], "normal", cfg) == "negative_sentiment"


def test_sentiment_switch_off():
    cfg = without("negative_sentiment")
    assert trigger_reason("greet", "hm", [0.99], "normal", cfg) is None
    assert trigger_reason("greet", "hm", [0.7, 0.7, 0.7], "normal", cfg) is None
    assert trigger_reason("complain", "太差了", [0.99], "normal", cfg) == "complaint"


def test_request_and_complaint_reasons_survive_their_switches():
    # The action answers a switched-off request with "no live agents here" (reason_enabled decides),
    # so the reason is still reported; likewise a complaint.
    cfg = config()
    assert trigger_reason("request_human", "转人工", [], "normal", cfg) == "customer_request"
    assert trigger_reason("request_human", "转人工", [], "vip", cfg) == "customer_request"
    assert trigger_reason("complain", "太差了", [], "normal", cfg) == "complaint"
    assert trigger_reason("inform", "lawyer", [0.99], "normal", cfg) is None


def test_sentiment_trigger_uses_the_configured_cut_off():
    assert trigger_reason("greet", "hm", [0.85], "normal", without(strong=0.8)) == "negative_sentiment"
    assert trigger_reason("greet", "hm", [0.85], "normal", ALL) is None


# --- reason_enabled ------------------------------------------------------------------------------

@pytest.mark.parametrize("reason, switch", [
    ("customer_request", "request"), ("vip", "request"), ("complaint", "complaint"),
    ("escalation", "escalation"), ("negative_sentiment", "negative_sentiment"),
    ("low_confidence", "low_confidence"),
])
def test_reason_enabled_follows_its_switch(reason, switch):
    assert reason_enabled(reason, ALL)
    assert reason_enabled(reason, config(switch))
    assert not reason_enabled(reason, without(switch))
    assert not reason_enabled(reason, config())


def test_vip_reason_is_a_request_not_the_vip_switch():
    assert not reason_enabled("vip", config("vip"))
    assert reason_enabled("vip", config("request"))


def test_unknown_reason_is_not_enabled():
    assert not reason_enabled("order_request", ALL)


# --- parse_score ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, score", [
    ("5", 5), ("1", 1), (" 3 ", 3), ("4分", 4), ("4 分", 4), ("3分。", 3), ("5星", 5), ("3 stars", 3),
    ("1 star", 1), ("5 Stars!", 5), ("2/5", 2), ("4 / 5", 4), ("5.", 5),
    ('/csat{"csat_score":"4"}', 4), ('/csat{"csat_score": 2}', 2),
    ("非常满意", 5), ("满意", 4), ("满意。", 4), ("一般", 3), ("不满意", 2), ("非常不满意", 1),
    ("very satisfied", 5), ("Satisfied!", 4), ("neutral", 3), ("dissatisfied", 2), ("very dissatisfied", 1),
    ("Very Dissatisfied", 1),
])
def test_parse_score(text, score):
    assert parse_score(text) == score


@pytest.mark.parametrize("text", ["6", "0", "55", "10", "3.5", "-1", "2/10", "我的订单", "", "   ", "不太满意吧",
                                  "5 apples", "satisfied?", "order 4"])
def test_parse_score_rejects_non_scores(text):
    assert parse_score(text) is None


def test_parse_score_of_none():
    assert parse_score(None) is None


# --- since_last ----------------------------------------------------------------------------------

def _action(name):
    return {"event": "action", "name": name}


def _user(text):
    return {"event": "user", "text": text}


def test_since_last_returns_events_after_the_last_marker():
    events = [_user("a"), _action("action_handoff"), _user("b"), _action("action_handoff_ended"), _user("c"),
              _action("action_listen"), _user("d")]
    markers = ("action_handoff", "action_handoff_ended")
    assert since_last(events, markers) == [_user("c"), _action("action_listen"), _user("d")]
    assert since_last(events, ("action_handoff",)) == events[2:]


def test_since_last_without_a_marker_returns_everything():
    events = [_user("a"), _action("action_listen"), _user("b")]
    assert since_last(events, ("action_handoff",)) == events
    assert since_last(iter(events), ("action_handoff",)) == events
    assert since_last([], ("action_handoff",)) == []


def test_since_last_marker_as_the_last_event_gives_nothing():
    assert since_last([_user("a"), _action("action_handoff")], ("action_handoff",)) == []


def test_since_last_ignores_non_action_events_with_the_marker_name():
    events = [{"event": "slot", "name": "action_handoff"}, _user("a")]
    assert since_last(events, ("action_handoff",)) == events
