"""actions/*.py: the custom actions run for real with rasa_sdk Tracker and CollectingDispatcher.

State goes to a temporary CS_VAR_DIR; the knowledge-base index (the `kb_dir` fixture in conftest.py)
is built once per session from the real corpus with the configured encoder (real FAISS, real models).
The handoff actions, which need the handoff service, are in test_handoff_actions.py.
"""
from __future__ import annotations

import os
import re

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, BotUttered, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

import actions.faq
import actions.handoff_client
import actions.order_context
from actions.fallback import ActionFallbackCascade
from actions.faq import ActionAnswerFaq
from actions.language import ActionDetectLanguage, ActionSessionStart, language_hint
from actions.texts import TEXTS
from common.settings import ROOT, Settings
from knowledge.corpus import load_corpus
from knowledge.querylog import QueryLog

FAQ = {e.id: e for e in load_corpus(ROOT / "data" / "faq")}


def _clear_caches():
    actions.handoff_client.handoff_client.cache_clear()
    actions.order_context.settings.cache_clear()
    actions.order_context.order_backend.cache_clear()
    actions.faq.knowledge.cache_clear()
    actions.faq.query_log.cache_clear()


@pytest.fixture(autouse=True)
def var_dir(tmp_path, monkeypatch, kb_dir):
    for name in list(os.environ):
        if name.startswith("CS_"):
            monkeypatch.delenv(name)
    var = tmp_path / "var"
    monkeypatch.setenv("CS_VAR_DIR", str(var))
    monkeypatch.setenv("CS_KB_DIR", str(kb_dir))
    _clear_caches()
    actions.faq.knowledge().load_now()
    yield var
    _clear_caches()


def user_event(text, intent, confidence=0.95, ranking=None, metadata=None):
    return {"event": "user", "text": text, "metadata": metadata or {},
            "parse_data": {"text": text, "intent": {"name": intent, "confidence": confidence},
                           "intent_ranking": ranking or [{"name": intent, "confidence": confidence}],
                           "entities": []}}


def bot_event(text):
    return {"event": "bot", "text": text}


def make_tracker(events=(), slots=None, sender_id="unit-user", latest=None):
    """A Tracker whose latest_message is the last user event (or `latest`)."""
    events = list(events)
    if latest is None:
        users = [e for e in events if e["event"] == "user"]
        latest = dict(users[-1]["parse_data"], metadata=users[-1].get("metadata", {})) if users else {}
    return Tracker(sender_id, dict(slots or {}), latest, events, False, None, {}, "action_listen")


async def run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain={})
    return dispatcher.messages, events


def texts_of(messages):
    return [m["text"] for m in messages]


# --- ActionDetectLanguage --------------------------------------------------------------------

async def test_detect_language_chinese_sets_zh():
    messages, events = await run(ActionDetectLanguage(), make_tracker([user_event("我的快递到哪了", "ask_logistics")]))
    assert events == [SlotSet("language", "zh")]
    assert messages == []


async def test_detect_language_english_sets_en_over_previous_zh():
    tracker = make_tracker([user_event("where is my parcel", "ask_logistics")], slots={"language": "zh"})
    _, events = await run(ActionDetectLanguage(), tracker)
    assert events == [SlotSet("language", "en")]


async def test_detect_language_same_as_previous_returns_nothing():
    tracker = make_tracker([user_event("运费怎么算", "ask_faq")], slots={"language": "zh"})
    _, events = await run(ActionDetectLanguage(), tracker)
    assert events == []


async def test_detect_language_neutral_word_keeps_previous():
    tracker = make_tracker([user_event("ok", "affirm")], slots={"language": "en"})
    _, events = await run(ActionDetectLanguage(), tracker)
    assert events == []
    tracker = make_tracker([user_event("ok", "affirm")], slots={"language": "zh"})
    _, events = await run(ActionDetectLanguage(), tracker)
    assert events == []


async def test_detect_language_metadata_hint_without_evidence_or_previous():
    tracker = make_tracker([user_event("ok", "affirm", metadata={"language": "en"})])
    _, events = await run(ActionDetectLanguage(), tracker)
    assert events == [SlotSet("language", "en")]


async def test_detect_language_no_evidence_no_previous_no_hint_defaults_to_zh():
    _, events = await run(ActionDetectLanguage(), make_tracker([user_event("13812345678", "inform")]))
    assert events == [SlotSet("language", "zh")]


async def test_detect_language_session_metadata_hint():
    tracker = make_tracker([user_event("👍", "affirm")],
                           slots={"session_started_metadata": {"customData": {"language": "en-GB"}}})
    _, events = await run(ActionDetectLanguage(), tracker)
    assert events == [SlotSet("language", "en")]


async def test_detect_language_text_beats_metadata_hint():
    tracker = make_tracker([user_event("我要退货", "request_return", metadata={"language": "en"})])
    _, events = await run(ActionDetectLanguage(), tracker)
    assert events == [SlotSet("language", "zh")]


@pytest.mark.parametrize("payload", ["/affirm", "/request_human", "/ask_order_status"])
async def test_detect_language_button_click_keeps_chinese(payload):
    # Rasa puts the payload in the message text when a button is clicked.
    intent = payload[1:]
    tracker = make_tracker([user_event(payload, intent)], slots={"language": "zh"})
    _, events = await run(ActionDetectLanguage(), tracker)
    assert events == []


def test_language_hint_variants():
    assert language_hint({"language": "EN"}) == "en"
    assert language_hint({"language": "zh-CN"}) == "zh"
    assert language_hint({"customData": {"language": "en-US"}}) == "en"
    assert language_hint({"language": "fr", "customData": {"language": "en"}}) == "en"
    assert language_hint({"language": "fr"}) is None
    assert language_hint({"customData": "en"}) is None
    assert language_hint(None) is None
    assert language_hint("en") is None


# --- ActionSessionStart ----------------------------------------------------------------------

async def test_session_start_carries_language_and_greets_in_it():
    tracker = make_tracker([user_event("hello there", "greet")], slots={"language": "en"})
    messages, events = await run(ActionSessionStart(), tracker)
    assert events[0] == SessionStarted()
    assert SlotSet("language", "en") in events
    assert events[-2] == ActionExecuted("action_listen")
    assert events[-1]["event"] == "bot"
    assert events[-1]["text"] == TEXTS["session_welcome"]["en"]
    assert messages == []  # greeting returned as an event, not through the dispatcher


async def test_session_start_chinese_greeting():
    _, events = await run(ActionSessionStart(), make_tracker(slots={"language": "zh"}))
    assert events[0] == SessionStarted()
    assert events.count(SlotSet("language", "zh")) == 1
    assert events[-1] == BotUttered(text=TEXTS["session_welcome"]["zh"])


async def test_session_start_bilingual_when_language_unknown():
    _, events = await run(ActionSessionStart(), make_tracker())
    assert events[0] == SessionStarted()
    assert not any(e.get("event") == "slot" and e.get("name") == "language" for e in events)
    greeting = events[-1]["text"]
    assert greeting == TEXTS["session_welcome_bilingual"]["zh"]
    assert re.search(r"[\u4e00-\u9fff]", greeting) and "assistant" in greeting


async def test_session_start_uses_session_metadata_hint():
    tracker = make_tracker(slots={"session_started_metadata": {"customData": {"language": "en"}}})
    _, events = await run(ActionSessionStart(), tracker)
    assert events[0] == SessionStarted()
    assert events.count(SlotSet("language", "en")) == 1
    assert events[-1]["text"] == TEXTS["session_welcome"]["en"]


async def test_session_start_known_language_beats_metadata_hint():
    tracker = make_tracker(slots={"language": "zh",
                                  "session_started_metadata": {"customData": {"language": "en"}}})
    _, events = await run(ActionSessionStart(), tracker)
    assert SlotSet("language", "en") not in events
    assert events[-1]["text"] == TEXTS["session_welcome"]["zh"]


# --- ActionFallbackCascade -------------------------------------------------------------------

RANKING = [
    {"name": "nlu_fallback", "confidence": 0.7},
    {"name": "out_of_scope", "confidence": 0.35},
    {"name": "request_human", "confidence": 0.3},
    {"name": "ask_logistics", "confidence": 0.2},
    {"name": "ask_order_status", "confidence": 0.25},
    {"name": "greet", "confidence": 0.05},
]


def fallback_event(text="嗯那个", ranking=RANKING):
    return user_event(text, "nlu_fallback", 0.7, ranking=ranking)


async def test_first_fallback_asks_for_clarification_in_chinese():
    tracker = make_tracker([user_event("你好", "greet"), bot_event("您好"), fallback_event()],
                           slots={"language": "zh"})
    messages, events = await run(ActionFallbackCascade(), tracker)
    assert events == []
    [message] = messages
    assert message["text"] == TEXTS["clarify"]["zh"]
    assert message["buttons"] == [
        {"title": "查询订单状态", "payload": "/ask_order_status"},
        {"title": "查询物流进度", "payload": "/ask_logistics"},
        {"title": "转人工客服", "payload": "/request_human"},
    ]


async def test_first_fallback_buttons_in_english():
    tracker = make_tracker([fallback_event("erm the thing")], slots={"language": "en"})
    [message], _ = await run(ActionFallbackCascade(), tracker)
    assert message["text"] == TEXTS["clarify"]["en"]
    assert [b["title"] for b in message["buttons"]] == \
        ["Check an order's status", "Track a delivery", "Talk to a person"]
    assert [b["payload"] for b in message["buttons"]] == \
        ["/ask_order_status", "/ask_logistics", "/request_human"]


# --- ActionAnswerFaq -------------------------------------------------------------------------

def lookups(var_dir):
    return QueryLog(var_dir / "kb-queries.sqlite3").recent()


async def test_faq_chinese_answer(var_dir):
    tracker = make_tracker([user_event("运费怎么算", "ask_faq")], slots={"language": "zh"})
    [message], events = await run(ActionAnswerFaq(), tracker)
    assert message["text"] == FAQ["shipping-fee"].answer["zh"]
    assert events == [SlotSet("kb_answered", True)]
    [logged] = lookups(var_dir)
    assert (logged.decision, logged.chosen, logged.source) == ("answer", "shipping-fee", "faq_intent")
    assert logged.top[0][0] == "shipping-fee" and logged.top[0][1] >= Settings().kb_answer_threshold
    assert logged.index_version and logged.language == "zh"


async def test_faq_english_answer():
    tracker = make_tracker([user_event("How much is shipping?", "ask_faq")], slots={"language": "en"})
    [message], _ = await run(ActionAnswerFaq(), tracker)
    assert message["text"] == FAQ["shipping-fee"].answer["en"]


async def test_faq_answer_follows_slot_language_not_query_language():
    tracker = make_tracker([user_event("可以开发票吗", "ask_faq")], slots={"language": "en"})
    [message], _ = await run(ActionAnswerFaq(), tracker)
    assert message["text"] == FAQ["invoice"].answer["en"]


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_faq_gibberish_gets_not_found_with_a_way_to_a_person(language, var_dir):
    tracker = make_tracker([user_event("xqzv blorp", "ask_faq")], slots={"language": language})
    [message], events = await run(ActionAnswerFaq(), tracker)
    assert message["text"] == TEXTS["faq_none"][language]
    assert [b["payload"] for b in message["buttons"]] == ["/request_human"]
    assert events == []
    assert lookups(var_dir)[0].decision == "none"


@pytest.mark.parametrize("text", ["今天天气怎么样", "给我讲个笑话吧", "What's the capital of Australia?"])
async def test_faq_unrelated_question_is_not_answered(text):
    tracker = make_tracker([user_event(text, "ask_faq")], slots={"language": "zh"})
    [message], _ = await run(ActionAnswerFaq(), tracker)
    assert message["text"] not in {e.answer.get("zh") for e in FAQ.values()}


async def test_faq_middle_band_suggests_top_questions_as_buttons(monkeypatch, var_dir):
    monkeypatch.setenv("CS_KB_ANSWER_THRESHOLD", "0.999")
    monkeypatch.setenv("CS_KB_SUGGEST_THRESHOLD", "0.01")
    tracker = make_tracker([user_event("运费怎么算", "ask_faq")], slots={"language": "zh"})
    [message], events = await run(ActionAnswerFaq(), tracker)
    assert message["text"] == TEXTS["faq_suggest"]["zh"]
    payloads = [b["payload"] for b in message["buttons"]]
    assert len(payloads) == 4 and payloads[-1] == "/request_human"
    ids = [re.fullmatch(r'/ask_faq\{"faq_id":"([a-z0-9-]+)"\}', p).group(1) for p in payloads[:3]]
    assert ids[0] == "shipping-fee" and len(set(ids)) == 3 and all(i in FAQ for i in ids)
    # titles are questions of those entries, in the customer's language
    for button, entry_id in zip(message["buttons"], ids, strict=False):
        assert button["title"] in FAQ[entry_id].questions and re.search(r"[\u4e00-\u9fff]", button["title"])
    assert events == []
    assert lookups(var_dir)[0].decision == "suggest"


async def test_faq_suggestion_button_answers_that_entry(var_dir):
    event = user_event('/ask_faq{"faq_id":"invoice"}', "ask_faq")
    event["parse_data"]["entities"] = [{"entity": "faq_id", "value": "invoice"}]
    tracker = make_tracker([event], slots={"language": "en"})
    [message], events = await run(ActionAnswerFaq(), tracker)
    assert message["text"] == FAQ["invoice"].answer["en"]
    assert events == [SlotSet("kb_answered", True)]
    [logged] = lookups(var_dir)
    assert (logged.source, logged.chosen) == ("button", "invoice")


async def test_faq_thresholds_read_from_environment(monkeypatch):
    tracker = make_tracker([user_event("How much is shipping?", "ask_faq")], slots={"language": "en"})
    monkeypatch.setenv("CS_KB_ANSWER_THRESHOLD", "1.0")
    monkeypatch.setenv("CS_KB_SUGGEST_THRESHOLD", "1.0")
    [refused], _ = await run(ActionAnswerFaq(), tracker)
    assert refused["text"] == TEXTS["faq_none"]["en"]


async def test_faq_query_log_masks_personal_data(var_dir):
    tracker = make_tracker([user_event("我的手机13812345678收不到验证码", "ask_faq")], slots={"language": "zh"})
    await run(ActionAnswerFaq(), tracker)
    [logged] = lookups(var_dir)
    assert "13812345678" not in logged.query and "138****5678" in logged.query


async def test_faq_without_an_index_says_not_found_and_logs_unavailable(tmp_path, monkeypatch, var_dir):
    monkeypatch.setenv("CS_KB_DIR", str(tmp_path / "no-index"))
    actions.faq.knowledge.cache_clear()
    tracker = make_tracker([user_event("运费怎么算", "ask_faq")], slots={"language": "zh"})
    [message], _ = await run(ActionAnswerFaq(), tracker)
    assert message["text"] == TEXTS["faq_none"]["zh"]
    assert lookups(var_dir)[0].decision == "unavailable"


async def test_fallback_cascade_answers_from_the_knowledge_base_first(var_dir):
    tracker = make_tracker([user_event("How much is shipping?", "nlu_fallback", 0.3)], slots={"language": "en"})
    [message], events = await run(ActionFallbackCascade(), tracker)
    assert message["text"] == FAQ["shipping-fee"].answer["en"]
    assert events == [SlotSet("kb_answered", True)]
    assert lookups(var_dir)[0].source == "fallback"


async def test_fallback_after_a_kb_answer_clarifies_instead_of_handing_over():
    events = [user_event("How much is shipping?", "nlu_fallback", 0.3), bot_event("..."),
              {"event": "slot", "name": "kb_answered", "value": True},
              fallback_event("erm the thing")]
    tracker = make_tracker(events, slots={"language": "en"})
    [message], _ = await run(ActionFallbackCascade(), tracker)
    assert message["text"] == TEXTS["clarify"]["en"]
