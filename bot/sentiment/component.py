"""Rasa 3.6 NLU component: puts the customer's sentiment on every parsed message.

Placed after `bot.nlu.use_featurizer.UniversalSentenceEncoderFeaturizer`, it reuses that
featurizer's sentence vector (same encoder, same raw text, so the same numbers) and costs well
under a millisecond more per message; without that featurizer in the pipeline it encodes the text
itself. It trains at `rasa train` time from its own data (`data_path`, default data/sentiment),
not from the NLU examples, through the same cached `load_or_train` as the eval CLI, and keeps the
trained model in the Rasa model (model_storage), so a packed model needs nothing else at run time.

Output: `parse_data["sentiment"] = {"label": "negative"|"neutral"|"positive", "score": s,
"negative": p, "neutral": ..., "positive": ...}`, p = P(negative) in [0, 1], s = P(positive) - p
in [-1, 1] (-1 = most negative). The handoff trigger compares p with its own "strong" cut-off.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.sentiment.classifier import SentimentClassifier, TrainParams
from bot.sentiment.features import USE_DIM
from bot.sentiment.training import DEFAULT_CACHE_DIR, DEFAULT_DATA_DIR, ROOT, fingerprint, load_or_train

logger = logging.getLogger(__name__)

SENTIMENT = "sentiment"
_USE_FEATURIZER = "UniversalSentenceEncoderFeaturizer"


def _resolve(value: Optional[str], default: Path) -> Path:
    """A configured path: absolute, or relative to the working directory (where `rasa train` runs),
    or else relative to the repo root; the repo's own directory when not configured."""
    if not value:
        return default
    path = Path(value)
    if path.is_absolute() or path.exists():
        return path
    return ROOT / path if (ROOT / path).exists() else path


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class SentimentAnalyzer(GraphComponent):
    """Adds `sentiment` to every message (see module docstring)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            # JSON Lines training files, relative to where `rasa train` runs.
            "data_path": "data/sentiment",
            # Where trained classifiers are cached between runs (shared with the eval CLI).
            "cache_dir": "var/sentiment",
            # P(negative) at or above which the label is "negative".
            "threshold": TrainParams().threshold,
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 classifier: Optional[SentimentClassifier] = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._classifier = classifier

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SentimentAnalyzer":
        return cls(config, model_storage, resource)

    @classmethod
    def _params(cls, config: Dict[Text, Any]) -> TrainParams:
        return TrainParams(threshold=float(config.get("threshold", TrainParams().threshold)))

    @classmethod
    def _data_dir(cls, config: Dict[Text, Any]) -> Path:
        return _resolve(config.get("data_path"), DEFAULT_DATA_DIR)

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Retrain when data/sentiment or the feature code changes, even if the NLU data did not."""
        return fingerprint(cls._data_dir(config), cls._params(config))

    def train(self, training_data: TrainingData) -> Resource:
        # The NLU examples carry no sentiment labels: this component learns from its own data.
        cache_dir = _resolve(self._config.get("cache_dir"), DEFAULT_CACHE_DIR)
        self._classifier, _ = load_or_train(self._data_dir(self._config), cache_dir,
                                            self._params(self._config), logger.info)
        with self._model_storage.write_to(self._resource) as directory:
            self._classifier.save(Path(directory))
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "SentimentAnalyzer":
        with model_storage.read_from(resource) as directory:
            classifier = SentimentClassifier.load(Path(directory))
        return cls(config, model_storage, resource, classifier)

    @staticmethod
    def _use_vector(message: Message) -> Optional[np.ndarray]:
        """The USE featurizer's sentence vector of this message, if that featurizer ran."""
        for feature in message.features:
            if (feature.attribute == TEXT and feature.type == "sentence" and feature.is_dense()
                    and _USE_FEATURIZER in str(feature.origin) and feature.features.shape[-1] == USE_DIM):
                return np.asarray(feature.features, dtype=np.float32).reshape(USE_DIM)
        return None

    def process(self, messages: List[Message]) -> List[Message]:
        if self._classifier is None:
            raise RuntimeError("SentimentAnalyzer has no trained classifier (was the model trained?)")
        todo = [m for m in messages if m.get(TEXT)]
        if not todo:
            return messages
        texts = [m.get(TEXT) for m in todo]
        embeddings = None
        if self._classifier.needs_embeddings():
            vectors = [self._use_vector(m) for m in todo]
            if all(v is not None for v in vectors):
                embeddings = np.vstack(vectors)
        for message, result in zip(todo, self._classifier.predict(texts, embeddings), strict=True):
            message.set(SENTIMENT, result.as_dict(), add_to_output=True)
        return messages
