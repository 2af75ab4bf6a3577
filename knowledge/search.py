"""Search an opened index version, and decide between answering, suggesting and not answering.

Ranking: the per-entry classifier's probability when the version has one, else a softmax over the
nearest phrasings' cosine similarities (FAISS); optionally fused with BM25 over Jieba tokens.
Confidence (0..1) = sqrt(probability) x similarity^2, with similarity the best cosine similarity
between the query and the entry's phrasings: the classifier says which entry is likeliest, the
similarity whether the query is near any phrasing at all (the classifier alone is confidently wrong
on unrelated questions, e.g. "嗯那个东西" -> p 0.50 for a damaged-item entry at similarity 0.48).
Chosen on the dev halves of bench/kb/queries-*: at 12 % false abstention it abstains on 0.90 (zh) /
0.87 (en) of unanswerable questions, against 0.93 / 0.80 for sqrt(p x similarity).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from knowledge.bm25 import BM25
from knowledge.corpus import FaqEntry
from knowledge.encoders import Encoder
from knowledge.index import IndexVersion

KNN_SCALE = 20.0  # softmax temperature over similarities when no classifier was trained


@dataclass(frozen=True)
class Hit:
    entry: FaqEntry
    confidence: float    # 0..1, what thresholds compare against
    probability: float   # share of the ranking score
    similarity: float    # best cosine similarity between the query and the entry's phrasings
    question: str        # the entry's phrasing closest to the query (its first, if only its answer was near)


@dataclass(frozen=True)
class Thresholds:
    answer: float = 0.22   # confidence at or above: answer directly
    suggest: float = 0.12  # at or above (and below answer): offer the top questions as buttons

    def __post_init__(self) -> None:
        if not 0.0 <= self.suggest <= self.answer <= 1.0:
            raise ValueError(f"thresholds must satisfy 0 <= suggest ({self.suggest}) <= answer ({self.answer}) <= 1")


@dataclass(frozen=True)
class Decision:
    kind: str            # "answer" | "suggest" | "none"
    hits: List[Hit]

    @property
    def best(self) -> Optional[Hit]:
        return self.hits[0] if self.hits else None


def decide(hits: Sequence[Hit], thresholds: Thresholds, suggestions: int = 3) -> Decision:
    """Pure: the action for a ranked hit list."""
    hits = list(hits)
    if not hits or hits[0].confidence < thresholds.suggest:
        return Decision("none", hits)
    if hits[0].confidence >= thresholds.answer:
        return Decision("answer", hits)
    return Decision("suggest", hits[:suggestions])


class KnowledgeBase:
    """An index version with its query encoder, ready to search. Immutable: swap, don't modify."""

    def __init__(self, version: IndexVersion, encoder: Encoder, hybrid_weight: float = 0.0) -> None:
        if not 0.0 <= hybrid_weight < 1.0:
            raise ValueError("hybrid_weight must be in [0, 1)")
        self.version = version
        self.encoder = encoder
        self.hybrid_weight = hybrid_weight
        self.entries = version.entries
        # rows of each entry (questions first, then answers), grouped in one sort instead of a scan per entry
        order = np.argsort(version.row_entry, kind="stable")
        bounds = np.searchsorted(version.row_entry[order], np.arange(len(self.entries) + 1))
        self._rows_of = [order[bounds[i]:bounds[i + 1]] for i in range(len(self.entries))]
        self._bm25 = BM25([" ".join(e.questions) for e in self.entries]) if hybrid_weight > 0 else None

    @classmethod
    def load(cls, version: IndexVersion, hybrid_weight: float = 0.0) -> "KnowledgeBase":
        """A version with its own query encoder (the configured parts, adapted ones from its folder)."""
        return cls(version, version.query_encoder(), hybrid_weight)

    @property
    def name(self) -> str:
        return self.version.manifest.version

    def search(self, query: str, k: int = 3) -> List[Hit]:
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int = 3) -> List[List[Hit]]:
        if not queries:
            return []
        vectors = self.encoder.encode(list(queries))
        n_rows = self.version.index.ntotal
        depth = min(n_rows, max(64, 16 * k))
        sims, rows = self.version.index.search(np.ascontiguousarray(vectors, dtype=np.float32), depth)
        probabilities = (self.version.head.probabilities(vectors) if self.version.head is not None else None)
        return [self._rank(q, vectors[i], sims[i], rows[i], None if probabilities is None else probabilities[i], k)
                for i, q in enumerate(queries)]

    def _rank(self, query: str, vector: np.ndarray, sims: np.ndarray, rows: np.ndarray,
              probabilities: Optional[np.ndarray], k: int) -> List[Hit]:
        best_sim: dict = {}
        best_question: dict = {}
        for sim, row in zip(sims, rows, strict=True):
            if row < 0:
                continue
            entry = int(self.version.row_entry[row])
            if entry not in best_sim:  # FAISS returns rows best first
                best_sim[entry] = float(sim)
            if entry not in best_question and self.version.row_is_question[row]:
                best_question[entry] = self.version.row_text[row]
        if probabilities is None:
            candidates = np.array(list(best_sim), dtype=np.int64)
            logits = KNN_SCALE * np.array([best_sim[c] for c in candidates])
            weights = np.exp(logits - logits.max())
            scores = np.zeros(len(self.entries))
            scores[candidates] = weights / weights.sum()
        else:
            scores = probabilities[:len(self.entries)].astype(np.float64)  # minus the "none of these" class
        if self._bm25 is not None:
            lexical = self._bm25.scores(query).astype(np.float64)
            if lexical.max() > 0:
                lexical = np.exp(lexical - lexical.max())
                scores = (1 - self.hybrid_weight) * scores + self.hybrid_weight * lexical / lexical.sum()
        top = np.argsort(-scores)[:k]
        hits = []
        for entry in top:
            entry = int(entry)
            if scores[entry] <= 0:
                break
            if entry not in best_sim:  # ranked high by the classifier, not among the nearest rows
                rows_of = self._rows_of[entry]
                vectors = np.vstack([self.version.index.reconstruct(int(r)) for r in rows_of])
                best_sim[entry] = float((vectors @ vector).max())
            similarity = max(best_sim[entry], 0.0)
            probability = float(scores[entry])
            question = best_question.get(entry) or self.entries[entry].questions[0]
            hits.append(Hit(self.entries[entry], float(np.sqrt(probability) * similarity ** 2), probability,
                            best_sim[entry], question))
        return hits
