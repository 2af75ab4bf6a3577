"""Lexical FAQ search: character n-gram overlap, language-independent, no model needed.

Scores a query against every phrasing of every entry with the Dice coefficient of character
uni+bigrams (after lower-casing and dropping punctuation), and ranks entries by their best phrasing.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import List, Sequence

from knowledge.corpus import FaqEntry

_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Hit:
    entry: FaqEntry
    score: float
    matched_question: str


def _grams(text: str) -> Counter:
    text = _DROP.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()
    grams: Counter = Counter()
    for token in text.split():
        if token.isascii():
            grams[token] += 2  # whole English words weigh like two characters
            grams.update(token[i:i + 3] for i in range(len(token) - 2))
        else:
            grams.update(token)
            grams.update(token[i:i + 2] for i in range(len(token) - 1))
    return grams


def _dice(a: Counter, b: Counter) -> float:
    total = sum(a.values()) + sum(b.values())
    return 2 * sum((a & b).values()) / total if total else 0.0


class LexicalIndex:
    def __init__(self, entries: Sequence[FaqEntry]) -> None:
        self._rows = [(entry, q, _grams(q)) for entry in entries for q in entry.questions]

    def search(self, query: str, k: int = 3) -> List[Hit]:
        grams = _grams(query)
        best: dict = {}
        for entry, question, q_grams in self._rows:
            score = _dice(grams, q_grams)
            if entry.id not in best or score > best[entry.id].score:
                best[entry.id] = Hit(entry, score, question)
        return sorted(best.values(), key=lambda h: h.score, reverse=True)[:k]
