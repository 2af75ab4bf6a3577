"""common/language.py: detect_language, choose_language, pick."""
from __future__ import annotations

import pytest

from common.language import DEFAULT_LANGUAGE, choose_language, detect_language, pick

# --- detect_language -------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["你好", "我的订单到哪了？", "运费怎么算", "请帮我转人工客服。"])
def test_pure_chinese_is_zh(text):
    assert detect_language(text) == "zh"


@pytest.mark.parametrize("text", ["Where is my order?", "How much is shipping", "I want a refund",
                                  "don't cancel it"])
def test_pure_english_is_en(text):
    assert detect_language(text) == "en"


@pytest.mark.parametrize("text, expected", [
    ("我的order到哪了", "zh"),
    ("where is my 快递 now", "en"),
    ("我的phone是13812345678", "zh"),
    ("给你我的order number 241106329572", "zh"),   # 2 words vs 5 Han characters
    ("please check 物流 for me", "en"),
])
def test_mixed_text_goes_to_the_dominant_language(text, expected):
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["", None, "123456789012", "13812345678", "😀", "👍👍", "😀 123 !!!",
                                  "   ", "?!", "１２３", "，。！"])
def test_no_evidence_gives_none(text):
    assert detect_language(text) is None


@pytest.mark.parametrize("text", ["ok", "OK", "hi", "Hi!", "okay", "thx", "ok ok", "hi 👋", "yes",
                                  "hmm", "en"])
def test_neutral_latin_words_give_none(text):
    assert detect_language(text) is None


def test_neutral_word_next_to_an_informative_word_is_english():
    assert detect_language("ok thanks") == "en"


def test_neutral_word_with_chinese_is_chinese():
    assert detect_language("ok 谢谢") == "zh"
    assert detect_language("好的ok") == "zh"


def test_full_width_punctuation_does_not_hide_chinese():
    assert detect_language("你好！！请问包邮吗？") == "zh"
    assert detect_language("（订单）") == "zh"


def test_full_width_punctuation_with_english():
    assert detect_language("where is my parcel？") == "en"


def test_full_width_english_is_english():
    assert detect_language("ｗｈｅｒｅ ｉｓ ｍｙ ｐａｃｋａｇｅ") == "en"


# --- choose_language -------------------------------------------------------------------------

def test_detected_language_wins_over_previous_and_hint():
    assert choose_language("where is my order", previous="zh", hint="zh") == "en"
    assert choose_language("我的订单在哪", previous="en", hint="en") == "zh"


def test_previous_wins_over_hint_when_nothing_detected():
    assert choose_language("ok", previous="en", hint="zh") == "en"
    assert choose_language("13812345678", previous="zh", hint="en") == "zh"


def test_hint_used_without_evidence_and_without_previous():
    assert choose_language("ok", previous=None, hint="en") == "en"
    assert choose_language("😀", previous=None, hint="zh") == "zh"


def test_default_when_nothing_is_known():
    assert DEFAULT_LANGUAGE == "zh"
    assert choose_language("ok", previous=None, hint=None) == "zh"
    assert choose_language("", previous=None) == "zh"


def test_unsupported_previous_and_hint_are_ignored():
    assert choose_language("ok", previous="fr", hint="en") == "en"
    assert choose_language("ok", previous="de", hint="ja") == DEFAULT_LANGUAGE


def test_button_payload_in_english_conversation_stays_english():
    assert choose_language("/affirm", previous="en") == "en"


@pytest.mark.parametrize("payload", ["/affirm", "/deny", "/request_human", "/ask_order_status",
                                     '/inform{"order_number":"241106329572"}'])
def test_button_payload_does_not_switch_a_chinese_conversation(payload):
    assert choose_language(payload, previous="zh") == "zh"


@pytest.mark.parametrize("payload", ["/affirm", " /request_human", "/ask_logistics"])
def test_button_payload_is_not_language_evidence(payload):
    assert detect_language(payload) is None


def test_button_payload_without_known_language_uses_hint_then_default():
    assert choose_language("/affirm", previous=None, hint="en") == "en"
    assert choose_language("/affirm", previous=None) == DEFAULT_LANGUAGE


# --- pick ------------------------------------------------------------------------------------

def test_pick_returns_requested_language():
    texts = {"zh": "你好", "en": "Hello"}
    assert pick(texts, "zh") == "你好"
    assert pick(texts, "en") == "Hello"


def test_pick_falls_back_to_other_language():
    assert pick({"zh": "你好"}, "en") == "你好"
    assert pick({"en": "Hello"}, "zh") == "Hello"
    assert pick({"zh": "", "en": "Hello"}, "zh") == "Hello"


def test_pick_unknown_or_missing_language_prefers_zh():
    texts = {"zh": "你好", "en": "Hello"}
    assert pick(texts, None) == "你好"
    assert pick(texts, "fr") == "你好"


def test_pick_without_any_text_raises():
    with pytest.raises(ValueError):
        pick({}, "zh")
    with pytest.raises(ValueError):
        pick({"zh": "", "en": None}, "en")
