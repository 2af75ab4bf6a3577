"""actions/conversation.py: pure functions over tracker events shaped like Rasa's."""
from __future__ import annotations

from actions.conversation import (
    FALLBACK_INTENT,
    consecutive_fallbacks,
    intent_history,
    intent_of,
    last_intent_among,
    top_intents,
    transcript,
    user_events,
)


def user(text, intent, confidence=0.9, ranking=None):
    return {"event": "user", "text": text,
            "parse_data": {"intent": {"name": intent, "confidence": confidence},
                           "intent_ranking": ranking or [{"name": intent, "confidence": confidence}]}}


def bot(text):
    return {"event": "bot", "text": text}


def action(name):
    return {"event": "action", "name": name}


def fallback(text="???"):
    return user(text, FALLBACK_INTENT, 0.3)


# --- user_events / intent_of / intent_history ------------------------------------------------

def test_user_events_keeps_only_user_events_in_order():
    events = [action("action_listen"), user("a", "greet"), bot("hi"), user("b", "thanks"),
              {"event": "slot", "name": "language", "value": "zh"}]
    assert [e["text"] for e in user_events(events)] == ["a", "b"]


def test_intent_of():
    assert intent_of(user("你好", "greet")) == "greet"
    assert intent_of({"event": "user", "text": "x"}) is None
    assert intent_of({"event": "user", "parse_data": None}) is None
    assert intent_of({"event": "user", "parse_data": {"intent": None}}) is None


def test_intent_history_skips_events_without_intent():
    events = [user("hi", "greet"), bot("hello"), {"event": "user", "text": "x", "parse_data": {}},
              user("where is my order", "ask_order_status"), fallback()]
    assert intent_history(events) == ["greet", "ask_order_status", FALLBACK_INTENT]


# --- consecutive_fallbacks -------------------------------------------------------------------

def test_no_events_no_fallbacks():
    assert consecutive_fallbacks([]) == 0


def test_counts_fallbacks_in_a_row():
    events = [action("action_listen"), fallback("a"), action("action_fallback_cascade"), bot("?"),
              action("action_listen"), fallback("b")]
    assert consecutive_fallbacks(events) == 2


def test_resets_after_an_understood_message():
    events = [fallback("a"), fallback("b"), user("运费怎么算", "ask_faq"), fallback("c")]
    assert consecutive_fallbacks(events) == 1


def test_zero_when_latest_message_was_understood():
    events = [fallback("a"), fallback("b"), user("转人工", "request_human")]
    assert consecutive_fallbacks(events) == 0


def test_bot_and_action_events_between_fallbacks_do_not_reset():
    events = [fallback(), bot("抱歉"), action("action_fallback_cascade"), fallback(), bot("x"),
              fallback()]
    assert consecutive_fallbacks(events) == 3


# --- top_intents -----------------------------------------------------------------------------

RANKING = [
    {"name": FALLBACK_INTENT, "confidence": 0.7},
    {"name": "ask_logistics", "confidence": 0.25},
    {"name": "out_of_scope", "confidence": 0.3},
    {"name": "ask_order_status", "confidence": 0.4},
    {"name": "greet", "confidence": 0.05},
]


def test_top_intents_sorts_by_confidence_and_excludes_fallback_by_default():
    assert top_intents(RANKING) == ["ask_order_status", "out_of_scope"]


def test_top_intents_custom_exclusions():
    assert top_intents(RANKING, exclude=(FALLBACK_INTENT, "out_of_scope")) == \
        ["ask_order_status", "ask_logistics"]


def test_top_intents_k():
    assert top_intents(RANKING, k=1) == ["ask_order_status"]
    assert top_intents(RANKING, k=10) == ["ask_order_status", "out_of_scope", "ask_logistics", "greet"]
    assert top_intents(RANKING, k=0) == []


def test_top_intents_empty_or_missing_ranking():
    assert top_intents([]) == []
    assert top_intents(None) == []


def test_top_intents_missing_confidence_sorts_last():
    ranking = [{"name": "greet"}, {"name": "thanks", "confidence": 0.1}]
    assert top_intents(ranking) == ["thanks", "greet"]


# --- last_intent_among -----------------------------------------------------------------------

def test_last_intent_among_returns_most_recent_wanted():
    events = [user("a", "ask_logistics"), user("b", "cancel_order"), user("c", "inform"), fallback()]
    assert last_intent_among(events, ["ask_logistics", "cancel_order"]) == "cancel_order"
    assert last_intent_among(events, {"ask_logistics"}) == "ask_logistics"


def test_last_intent_among_none_when_absent():
    assert last_intent_among([user("a", "greet")], ["cancel_order"]) is None
    assert last_intent_among([], ["cancel_order"]) is None


def test_last_intent_among_accepts_dict_keys():
    assert last_intent_among([user("a", "request_return")], {"request_return": {}}) == "request_return"


# --- transcript ------------------------------------------------------------------------------

def test_transcript_roles_and_order():
    events = [action("action_listen"), user("你好", "greet"), bot("您好！"),
              {"event": "slot", "name": "language", "value": "zh"},
              user("运费怎么算", "ask_faq"), bot("满99包邮")]
    assert transcript(events) == [
        {"role": "customer", "text": "你好"},
        {"role": "bot", "text": "您好！"},
        {"role": "customer", "text": "运费怎么算"},
        {"role": "bot", "text": "满99包邮"},
    ]


def test_transcript_masks_phones_in_both_roles():
    events = [user("我的手机13812345678", "inform"), bot("好的，13812345678 已记录")]
    lines = transcript(events)
    assert lines == [{"role": "customer", "text": "我的手机138****5678"},
                     {"role": "bot", "text": "好的，138****5678 已记录"}]


def test_transcript_skips_events_without_text():
    events = [{"event": "user", "text": None}, {"event": "bot", "text": ""},
              {"event": "bot", "data": {"buttons": []}}, user("hi there", "greet")]
    assert transcript(events) == [{"role": "customer", "text": "hi there"}]


def test_transcript_keeps_last_n():
    events = []
    for i in range(10):
        events += [user(f"q{i}", "ask_faq"), bot(f"a{i}")]
    lines = transcript(events, limit=3)
    assert [line["text"] for line in lines] == ["a8", "q9", "a9"]


def test_transcript_default_limit_is_30():
    events = [user(f"m{i}", "ask_faq") for i in range(40)]
    lines = transcript(events)
    assert len(lines) == 30
    assert lines[0]["text"] == "m10" and lines[-1]["text"] == "m39"


def test_consecutive_fallbacks_restart_with_a_new_session():
    def fallback(text):
        return {"event": "user", "text": text, "parse_data": {"intent": {"name": "nlu_fallback"}}}
    events = [fallback("a"), {"event": "session_started"}, {"event": "action", "name": "action_listen"},
              fallback("b")]
    assert consecutive_fallbacks(events) == 1
