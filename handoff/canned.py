"""Canned replies for the console, from a YAML file editors maintain (data/handoff/canned.yml)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List

import yaml


@dataclass(frozen=True)
class CannedReply:
    id: str
    language: str
    title: str
    text: str


def load_canned(path: Path) -> List[CannedReply]:
    """Every reply in the file; a malformed file stops the service with the entry at fault."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    replies = []
    for i, item in enumerate(data.get("replies") or [], start=1):
        missing = [k for k in ("id", "language", "title", "text") if not str(item.get(k) or "").strip()]
        if missing or item.get("language") not in ("zh", "en"):
            raise ValueError(f"{path}: reply #{i}: needs id, language (zh/en), title and text; "
                             f"missing/invalid: {missing or ['language']}")
        replies.append(CannedReply(str(item["id"]), item["language"], str(item["title"]), str(item["text"])))
    return replies


def as_dicts(replies: List[CannedReply]) -> List[dict]:
    return [asdict(r) for r in replies]
