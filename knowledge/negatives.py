"""Texts no FAQ entry answers (data/kb/out_of_scope.yml: {zh: [...], en: [...]}), for the classifier's
"none of these" class. Written for this project; never evaluation queries."""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

import yaml

from knowledge.corpus import CorpusError


def load_negatives(path: Path) -> Tuple[str, ...]:
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: out-of-scope examples not found (set CS_KB_NEGATIVES=none to train without)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CorpusError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise CorpusError(f"{path}: expected a mapping of language to a list of texts")
    texts = [str(t).strip() for v in data.values() for t in v if str(t).strip()]
    return tuple(dict.fromkeys(texts))  # unique, in file order
