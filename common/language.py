"""Which language a customer wrote in: Chinese ("zh") or English ("en").

Pure functions, no dependencies: used by the action server on every user turn (the `language`
slot) and by anything else that must answer in the customer's language.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Optional

SUPPORTED = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff01-\uff5e]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")

# Short Latin tokens that Chinese customers type as often as English ones: they say nothing about
# the language, so a message made only of them keeps the language already known.
_NEUTRAL = frozenset(
    {"ok", "okay", "k", "hi", "hey", "hello", "thx", "ty", "yes", "no", "yep", "nope", "bye",
     "lol", "emm", "hmm", "em", "en", "ha", "haha", "hh", "app", "vip", "id", "qq", "wifi"}
)

# One Chinese character carries less than one English word; about 1.5 characters make a word.
_CHARS_PER_WORD = 1.5


def detect_language(text: str) -> Optional[str]:
    """Return "zh", "en", or None when the text gives no evidence (digits, emoji, "ok").

    Mixed text goes to the language that carries more of it: "我的order到哪了" is Chinese,
    "where is my 快递 now" is English. Button payloads ("/ask_logistics") say nothing.
    """
    if (text or "").lstrip().startswith("/"):
        return None  # a button payload ("/affirm"), not words the customer typed
    text = unicodedata.normalize("NFKC", text or "")  # full-width "ｗｈｅｒｅ" -> "where"
    han = len(_HAN.findall(text))
    words = [w.lower() for w in _LATIN_WORD.findall(text)]
    informative = [w for w in words if w not in _NEUTRAL]
    if han == 0:
        return "en" if informative else None
    if not words:
        return "zh"
    return "en" if len(words) > han / _CHARS_PER_WORD else "zh"


def choose_language(text: str, previous: Optional[str], hint: Optional[str] = None) -> str:
    """The language to answer in: this message's, else the one remembered, else the channel's hint."""
    detected = detect_language(text)
    if detected:
        return detected
    if previous in SUPPORTED:
        return previous
    if hint in SUPPORTED:
        return hint
    return DEFAULT_LANGUAGE


def pick(texts: dict, language: Optional[str]) -> str:
    """Pick the text for `language` from {"zh": ..., "en": ...}, falling back to the other one."""
    if language in texts and texts[language]:
        return texts[language]
    for lang in SUPPORTED:
        if texts.get(lang):
            return texts[lang]
    raise ValueError("no text in any supported language")
