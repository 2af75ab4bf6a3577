"""Read the FAQ corpus (data/faq/*.yml) into typed entries; every problem is reported with file:line.

`read_corpus` collects problems instead of stopping at the first, so an editor sees them all at once;
`load_corpus` is the strict form used by the index builder (any error -> CorpusError).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LANGUAGES = ("zh", "en")
KNOWN_FIELDS = {"id", "category", "questions", "answer", "tags"}


class CorpusError(ValueError):
    """The corpus cannot be loaded; the message names the file, line and entry."""


@dataclass(frozen=True)
class Problem:
    level: str  # "error" | "warning"
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.level}: {self.message}"


@dataclass(frozen=True)
class FaqEntry:
    id: str
    category: str
    questions: Tuple[str, ...]
    answer: Dict[str, str]
    tags: Tuple[str, ...] = field(default_factory=tuple)
    source: str = ""
    line: int = 0
    question_lines: Tuple[int, ...] = field(default_factory=tuple, compare=False)


def read_corpus(directory: Path) -> Tuple[List[FaqEntry], List[Problem]]:
    """All well-formed entries of the folder and every problem found (schema, duplicate ids)."""
    directory = Path(directory)
    if not directory.is_dir():
        return [], [Problem("error", str(directory), 0, "FAQ corpus folder not found")]
    entries: List[FaqEntry] = []
    problems: List[Problem] = []
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")], key=lambda p: p.name)
    if not files:
        problems.append(Problem("error", str(directory), 0, "no *.yml files in the FAQ corpus folder"))
    seen: Dict[str, FaqEntry] = {}
    for path in files:
        file_entries, file_problems = _read_file(path)
        problems.extend(file_problems)
        for entry in file_entries:
            if entry.id in seen:
                first = seen[entry.id]
                problems.append(Problem("error", entry.source, entry.line,
                                        f"duplicate id {entry.id!r} (first at {first.source}:{first.line})"))
                continue
            seen[entry.id] = entry
            entries.append(entry)
    return entries, problems


def load_corpus(directory: Path) -> List[FaqEntry]:
    entries, problems = read_corpus(directory)
    errors = [p for p in problems if p.level == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more; run `python -m knowledge validate`)" if len(errors) > 1 else ""
        raise CorpusError(f"{errors[0]}{more}")
    return entries


def _read_file(path: Path) -> Tuple[List[FaqEntry], List[Problem]]:
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [], [Problem("error", name, 1, f"not UTF-8 text: {exc}")]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        reason = getattr(exc, "problem", None) or str(exc)
        hint = " (quote texts that contain ': ')" if "mapping values" in str(reason) else ""
        return [], [Problem("error", name, line, f"not valid YAML: {reason}{hint}")]
    if raw is None:
        return [], [Problem("warning", name, 1, "file is empty")]
    if not isinstance(raw, list) or not isinstance(node, yaml.SequenceNode):
        return [], [Problem("error", name, 1, "expected a list of entries at the top level")]
    entries, problems = [], []
    for item, item_node in zip(raw, node.value, strict=False):
        entry, entry_problems = _parse_entry(name, item, item_node)
        problems.extend(entry_problems)
        if entry is not None:
            entries.append(entry)
    return entries, problems


def _child(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v
    return None


def _line(node: yaml.Node | None, default: int) -> int:
    return node.start_mark.line + 1 if node is not None else default


def _parse_entry(source: str, item: object, node: yaml.Node) -> Tuple[FaqEntry | None, List[Problem]]:
    line = _line(node, 1)
    problems: List[Problem] = []

    def error(message: str, key: str | None = None) -> None:
        problems.append(Problem("error", source, _line(_child(node, key), line) if key else line, message))

    if not isinstance(item, dict):
        error("expected a mapping with id, category, questions, answer")
        return None, problems
    entry_id = item.get("id")
    if not isinstance(entry_id, str) or not ID_PATTERN.match(entry_id):
        error(f"id {entry_id!r} must be lower-case letters, digits and '-'", "id")
        return None, problems
    label = f"entry {entry_id!r}: "
    for key in sorted(set(item) - KNOWN_FIELDS):
        problems.append(Problem("warning", source, _line(_child(node, key), line),
                                f"{label}unknown field {key!r} is ignored"))
    category = item.get("category")
    if not isinstance(category, str) or not category.strip():
        error(f"{label}category is required", "category")
    questions = item.get("questions")
    questions_node = _child(node, "questions")
    question_lines: List[int] = []
    if not isinstance(questions, list) or not questions:
        error(f"{label}questions must be a non-empty list of texts", "questions")
    else:
        for i, q in enumerate(questions):
            q_line = _line(questions_node.value[i], line) if isinstance(questions_node, yaml.SequenceNode) else line
            if not isinstance(q, str) or not q.strip():
                problems.append(Problem("error", source, q_line, f"{label}question {i + 1} must be a non-empty text"))
            question_lines.append(q_line)
    answer = item.get("answer")
    if not isinstance(answer, dict):
        error(f"{label}answer must map zh and/or en to a text", "answer" if "answer" in item else None)
    else:
        unknown = sorted(set(map(str, answer)) - set(LANGUAGES))
        if unknown:
            error(f"{label}unknown answer language(s) {unknown}; use zh and en", "answer")
        present = [lang for lang in LANGUAGES if isinstance(answer.get(lang), str) and answer[lang].strip()]
        if not present:
            error(f"{label}answer has no text in zh or en", "answer")
        for lang in LANGUAGES:
            if lang not in present and present:
                problems.append(Problem("warning", source, _line(_child(node, "answer"), line),
                                        f"{label}no {lang} answer: {lang} customers get the "
                                        f"{present[0]} text"))
    tags = item.get("tags") or []
    if not isinstance(tags, list):
        error(f"{label}tags must be a list", "tags")
        tags = []
    if any(p.level == "error" for p in problems):
        return None, problems
    entry = FaqEntry(
        id=entry_id, category=category.strip(),
        questions=tuple(q.strip() for q in questions),
        answer={k: v.strip() for k, v in answer.items() if isinstance(v, str) and v.strip()},
        tags=tuple(str(t) for t in tags), source=source, line=line,
        question_lines=tuple(question_lines))
    return entry, problems
