"""The NLU data itself: enough varied examples per intent and language, and held-out sets that
really are held out."""
from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml

from ops.paths import ROOT

ANNOTATION = re.compile(r"\[([^\]]+)\]\([^)]+\)")
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
INTENTS = {"greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge", "ask_order_status",
           "ask_logistics", "request_return", "cancel_order", "complain", "request_human", "ask_faq",
           "out_of_scope", "inform", "stop"}


def examples(path) -> list[tuple[str, str]]:
    out = []
    for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
        if "intent" in block:
            out += [(block["intent"], ANNOTATION.sub(r"\1", line.strip()[2:]))
                    for line in block["examples"].splitlines() if line.strip().startswith("- ")]
    return out


def norm(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_at_least_20_examples_per_intent(lang):
    counts = Counter(intent for intent, _ in examples(ROOT / "data" / "nlu" / f"{lang}.yml"))
    assert set(counts) == INTENTS
    assert min(counts.values()) >= 20, counts


def test_chinese_data_has_mixed_language_examples_for_every_intent():
    mixed = Counter(intent for intent, text in examples(ROOT / "data" / "nlu" / "zh.yml")
                    if CJK.search(text) and LATIN_WORD.search(text))
    assert set(mixed) == INTENTS and min(mixed.values()) >= 3, mixed


@pytest.mark.parametrize("split", ["test", "dev"])
def test_heldout_sentences_are_not_in_training(split):
    training = {norm(t) for lang in ("zh", "en") for _, t in examples(ROOT / "data" / "nlu" / f"{lang}.yml")}
    for lang in ("zh", "en"):
        leaked = [t for _, t in examples(ROOT / "tests" / "nlu" / f"{split}-{lang}.yml") if norm(t) in training]
        assert not leaked, f"{split}-{lang} sentences also in training data: {leaked}"
