"""Load the FAQ corpus (data/faq/*.yml) into typed entries, with readable errors."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LANGUAGES = ("zh", "en")


class CorpusError(ValueError):
    """The corpus cannot be loaded; the message names the file and entry."""


@dataclass(frozen=True)
class FaqEntry:
    id: str
    category: str
    questions: Tuple[str, ...]
    answer: Dict[str, str]
    tags: Tuple[str, ...] = field(default_factory=tuple)
    source: str = ""


def load_corpus(directory: Path) -> List[FaqEntry]:
    directory = Path(directory)
    if not directory.is_dir():
        raise CorpusError(f"FAQ corpus folder not found: {directory}")
    entries: List[FaqEntry] = []
    seen: Dict[str, str] = {}
    for path in sorted(directory.glob("*.yml")):
        for entry in _load_file(path):
            if entry.id in seen:
                raise CorpusError(f"{path.name}: id {entry.id!r} also used in {seen[entry.id]}")
            seen[entry.id] = path.name
            entries.append(entry)
    return entries


def _load_file(path: Path) -> List[FaqEntry]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CorpusError(f"{path.name}: not valid YAML: {exc}") from None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CorpusError(f"{path.name}: expected a list of entries at the top level")
    return [_parse_entry(path.name, i, item) for i, item in enumerate(raw, 1)]


def _parse_entry(source: str, index: int, item: object) -> FaqEntry:
    where = f"{source}: entry {index}"
    if not isinstance(item, dict):
        raise CorpusError(f"{where}: expected a mapping with id, category, questions, answer")
    entry_id = item.get("id")
    if not isinstance(entry_id, str) or not ID_PATTERN.match(entry_id):
        raise CorpusError(f"{where}: id {entry_id!r} must be lower-case letters, digits and '-'")
    where = f"{source}: {entry_id}"
    questions = item.get("questions")
    if not isinstance(questions, list) or not questions or not all(
            isinstance(q, str) and q.strip() for q in questions):
        raise CorpusError(f"{where}: questions must be a non-empty list of texts")
    answer = item.get("answer")
    if not isinstance(answer, dict) or not any(answer.get(lang) for lang in LANGUAGES):
        raise CorpusError(f"{where}: answer must map zh and/or en to a text")
    unknown = set(answer) - set(LANGUAGES)
    if unknown:
        raise CorpusError(f"{where}: unknown answer language(s) {sorted(unknown)}")
    category = item.get("category")
    if not isinstance(category, str) or not category:
        raise CorpusError(f"{where}: category is required")
    tags = item.get("tags") or []
    return FaqEntry(entry_id, category, tuple(q.strip() for q in questions),
                    {k: str(v).strip() for k, v in answer.items() if v},
                    tuple(str(t) for t in tags), source)
