"""Training from the committed data, cached by a hash of everything the model depends on.

`rasa train` and the eval CLI both go through `load_or_train`, so they train the same model from
the same files, and the second one to ask finds it in the cache (var/sentiment/<hash>/) instead of
encoding ~15k sentences again. The hash covers the data files, the training parameters and the
source of the modules that turn text into features; any change gives a new entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional, Tuple

from bot.sentiment import classifier as _classifier
from bot.sentiment import features as _features
from bot.sentiment import lexicon as _lexicon
from bot.sentiment.classifier import LABELS, SentimentClassifier, TrainParams
from bot.sentiment.data import data_files, read_dir

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_DATA_DIR = ROOT / "data" / "sentiment"
DEFAULT_CACHE_DIR = ROOT / "var" / "sentiment"
# The threshold is applied at prediction time: it does not change the trained weights.
_PREDICTION_ONLY = ("threshold",)


def fingerprint(data_dir: Path, params: TrainParams) -> str:
    """16 hex digits naming this data + parameters + feature code."""
    digest = hashlib.sha256()
    for path in data_files(data_dir):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    trained = {k: v for k, v in asdict(params).items() if k not in _PREDICTION_ONLY}
    digest.update(json.dumps(trained, sort_keys=True).encode())
    for module in (_lexicon, _features, _classifier):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def train(data_dir: Path, params: TrainParams, progress: Callable[[str], None] = lambda _: None) -> SentimentClassifier:
    examples = read_dir(data_dir, LABELS)
    progress(f"training on {len(examples)} examples from {data_dir}")
    return SentimentClassifier.train(examples, params, progress=progress)


def load_or_train(data_dir: Path = DEFAULT_DATA_DIR, cache_dir: Path = DEFAULT_CACHE_DIR,
                  params: Optional[TrainParams] = None,
                  progress: Callable[[str], None] = lambda _: None) -> Tuple[SentimentClassifier, bool]:
    """(classifier, came_from_cache). A cache that cannot be written only costs the next run time."""
    params = params or TrainParams()
    key = fingerprint(data_dir, params)
    entry = cache_dir / key
    if SentimentClassifier.exists(entry):
        progress(f"using cached classifier {entry}")
        clf = SentimentClassifier.load(entry)
        return _with_params(clf, params), True
    clf = train(data_dir, params, progress)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
        clf.save(tmp)
        try:
            os.replace(tmp, entry)  # atomic: a concurrent run sees a whole entry or none
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another run got there first
        progress(f"cached the classifier in {entry}")
    except OSError as exc:
        progress(f"could not cache the classifier in {cache_dir}: {exc}")
    return clf, False


def _with_params(clf: SentimentClassifier, params: TrainParams) -> SentimentClassifier:
    """A cached model with this run's prediction-time parameters (the threshold)."""
    return SentimentClassifier(params, clf.ngrams, clf.coef, clf.intercept, clf.info)
