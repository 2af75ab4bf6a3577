"""Reading sentiment examples from JSON Lines, with errors a person can act on.

One reader for both the committed training data and the evaluation sets, so that "which line is
broken" is reported the same way everywhere (the CLI turns `DataError` into exit code 2).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Sequence


class DataError(ValueError):
    """A data file is missing or one of its lines cannot be used; the message names file and line."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str


def read_jsonl(path: Path, allowed_labels: Sequence[str]) -> List[Example]:
    """Examples of one JSON Lines file of {"text": ..., "label": ...} (other keys are ignored)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    examples = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            text, label = row.get("text"), row.get("label")
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{path}:{number}: \"text\" must be a non-empty string")
            if label not in allowed_labels:
                expected = ", ".join(allowed_labels)
                raise DataError(f"{path}:{number}: unknown label {label!r} (expected one of {expected})")
            examples.append(Example(text, label))
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def data_files(data_dir: Path) -> List[Path]:
    """The training files of a data directory: every *.jsonl in it, in a fixed order."""
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: no such directory")
    files = sorted(data_dir.glob("*.jsonl"))
    if not files:
        raise DataError(f"{data_dir}: no *.jsonl files")
    return files


def read_dir(data_dir: Path, allowed_labels: Sequence[str]) -> List[Example]:
    """All examples of a data directory."""
    return [e for path in data_files(data_dir) for e in read_jsonl(path, allowed_labels)]


def texts(examples: Iterable[Example]) -> List[str]:
    return [e.text for e in examples]
