"""The sentiment classifier: logistic regression over bot.sentiment.features, typed predictions.

Three classes (negative / neutral / positive) rather than two: neutral questions ("我的订单到哪了")
are most of what a support bot reads, and training them as a class of their own keeps them away
from "negative" better than lumping them with praise. The handoff only needs P(negative).

Training uses scikit-learn; prediction is plain numpy (softmax of a linear map), and the saved
model is arrays + JSON, so a model trained in one env loads in the other and in a Rasa model.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from bot.sentiment.data import Example
from bot.sentiment.features import CharNgrams, SentenceEncoder, assemble

LABELS = ("negative", "neutral", "positive")
NEGATIVE, NEUTRAL, POSITIVE = LABELS
_META = "meta.json"
_ARRAYS = "model.npz"


@dataclass(frozen=True)
class TrainParams:
    """Everything that shapes a trained model (part of its cache key). Chosen on the dev splits,
    see bench/sentiment/README.md."""
    c: float = 1.0                # inverse regularisation of the logistic regression
    use_weight: float = 1.0       # scale of the USE block (0 = no embeddings)
    lexicon_weight: float = 1.0   # scale of the lexicon block (0 = no lexicon)
    ngram_max: int = 3            # character n-grams 1..ngram_max
    min_df: int = 2               # n-grams seen in fewer training texts are dropped
    threshold: float = 0.4        # P(negative) at or above which the label is "negative"


@dataclass(frozen=True)
class SentimentResult:
    """One prediction. `negative` is P(negative); `score` = P(positive) - P(negative), in [-1, 1]."""
    label: str
    score: float
    negative: float
    neutral: float
    positive: float

    def as_dict(self) -> Dict[str, object]:
        return {"label": self.label, "score": round(self.score, 4), "negative": round(self.negative, 4),
                "neutral": round(self.neutral, 4), "positive": round(self.positive, 4)}


@dataclass
class SentimentClassifier:
    params: TrainParams
    ngrams: CharNgrams
    coef: np.ndarray          # (3, n_features)
    intercept: np.ndarray     # (3,)
    info: Dict[str, object] = field(default_factory=dict)

    # --- training ---------------------------------------------------------------------------
    @classmethod
    def train(cls, examples: Sequence[Example], params: TrainParams = TrainParams(),
              embeddings: Optional[np.ndarray] = None,
              progress: Callable[[str], None] = lambda _: None) -> "SentimentClassifier":
        from sklearn.linear_model import LogisticRegression

        texts = [e.text for e in examples]
        labels = np.array([LABELS.index(e.label) for e in examples])
        if len(set(labels.tolist())) != len(LABELS):
            raise ValueError(f"training data needs examples of all of {LABELS}")
        if embeddings is None and params.use_weight:
            progress(f"encoding {len(texts)} training texts with USE")
            embeddings = SentenceEncoder.shared().encode(texts)
        ngrams = CharNgrams.fit(texts, hi=params.ngram_max, min_df=params.min_df)
        x = assemble(ngrams, texts, embeddings, params.use_weight, params.lexicon_weight)
        progress(f"fitting logistic regression on {x.shape[0]} x {x.shape[1]} features")
        model = LogisticRegression(C=params.c, max_iter=5000).fit(x, labels)
        order = [list(model.classes_).index(i) for i in range(len(LABELS))]
        counts = {lab: int((labels == i).sum()) for i, lab in enumerate(LABELS)}
        return cls(params, ngrams, model.coef_[order].astype(np.float32),
                   model.intercept_[order].astype(np.float32), {"examples": counts, "features": int(x.shape[1])})

    # --- prediction ---------------------------------------------------------------------------
    def needs_embeddings(self) -> bool:
        return bool(self.params.use_weight)

    def probabilities(self, texts: Sequence[str], embeddings: Optional[np.ndarray] = None) -> np.ndarray:
        """(n, 3) probabilities in LABELS order. `embeddings`: USE vectors of `texts`, if already
        computed (the Rasa featurizer's); encoded here otherwise."""
        if not texts:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        if embeddings is None and self.needs_embeddings():
            embeddings = SentenceEncoder.shared().encode(texts)
        x = assemble(self.ngrams, texts, embeddings, self.params.use_weight, self.params.lexicon_weight)
        logits = np.asarray(x @ self.coef.T) + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def result(self, probs: np.ndarray, threshold: Optional[float] = None) -> SentimentResult:
        """The typed verdict for one row of probabilities."""
        p_neg, p_neu, p_pos = (float(v) for v in probs)
        cut = self.params.threshold if threshold is None else threshold
        if p_neg >= cut:
            label = NEGATIVE
        else:
            label = POSITIVE if p_pos > p_neu else NEUTRAL
        return SentimentResult(label, p_pos - p_neg, p_neg, p_neu, p_pos)

    def predict(self, texts: Sequence[str], embeddings: Optional[np.ndarray] = None,
                threshold: Optional[float] = None) -> List[SentimentResult]:
        """The one prediction path: the CLI and the Rasa component both call this."""
        return [self.result(row, threshold) for row in self.probabilities(texts, embeddings)]

    # --- persistence --------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(directory / _ARRAYS, coef=self.coef, intercept=self.intercept, idf=self.ngrams.idf)
        meta = {"labels": list(LABELS), "params": asdict(self.params), "ngram_max": self.ngrams.hi,
                "vocabulary": self.ngrams.vocabulary, "info": self.info}
        (directory / _META).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "SentimentClassifier":
        meta = json.loads((directory / _META).read_text(encoding="utf-8"))
        if tuple(meta["labels"]) != LABELS:
            raise ValueError(f"{directory}: model labels {meta['labels']} are not {LABELS}")
        with np.load(directory / _ARRAYS) as arrays:
            coef, intercept, idf = arrays["coef"], arrays["intercept"], arrays["idf"]
        ngrams = CharNgrams(meta["vocabulary"], idf, meta["ngram_max"])
        return cls(TrainParams(**meta["params"]), ngrams, coef, intercept, meta.get("info", {}))

    @staticmethod
    def exists(directory: Path) -> bool:
        return (directory / _META).is_file() and (directory / _ARRAYS).is_file()
