"""Edit the FAQ corpus in place: read one entry, check an edit, write it back into its YAML file.

The corpus files stay the source of truth (and git's history of them). A save replaces only the
lines of the edited entry: the file's leading comment, the other entries (with their comments and
formatting) and their order are kept byte for byte. Files are written atomically (temp file +
os.replace), so the index builder and other readers see the old or the new file, never half of one.

Concurrent editors: every entry has an etag (a hash of its content); an update or delete must name
the etag it started from, and a stale one is refused (`StaleEntry`, HTTP 409) instead of silently
overwriting someone else's save.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from knowledge.corpus import ID_PATTERN, LANGUAGES, FaqEntry, Problem, read_corpus

FILE_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*\.ya?ml$")
CATEGORY_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_QUESTIONS, MAX_TEXT = 60, 2000

_write_lock = threading.Lock()  # one read-modify-write of the corpus at a time in this process


class EditError(ValueError):
    """An edit that cannot be saved; `problems` says why (field, message)."""

    def __init__(self, message: str, problems: Sequence[Tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class EntryNotFound(KeyError):
    pass


class StaleEntry(RuntimeError):
    """The entry changed (or appeared) since the editor read it."""

    def __init__(self, message: str, current: Optional["StoredEntry"]) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True)
class Draft:
    """What an editor submits: one entry's content, and optionally the file it belongs in."""
    id: str
    category: str
    questions: Tuple[str, ...]
    answer: Dict[str, str]
    tags: Tuple[str, ...] = ()
    file: Optional[str] = None


@dataclass(frozen=True)
class StoredEntry:
    entry: FaqEntry
    etag: str

    def as_json(self) -> dict:
        e = self.entry
        return {"id": e.id, "category": e.category, "questions": list(e.questions), "answer": dict(e.answer),
                "tags": list(e.tags), "file": e.source, "line": e.line, "etag": self.etag}


@dataclass(frozen=True)
class SaveResult:
    entry: Optional[StoredEntry]  # None after a delete
    files: Tuple[str, ...]        # files written
    warnings: Tuple[str, ...] = field(default_factory=tuple)


# --- pure parts --------------------------------------------------------------------------------

def etag(entry: FaqEntry) -> str:
    record = {"id": entry.id, "category": entry.category, "questions": list(entry.questions),
              "answer": dict(sorted(entry.answer.items())), "tags": list(entry.tags)}
    return hashlib.sha256(json.dumps(record, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def draft_from_json(body: dict, entry_id: Optional[str] = None) -> Draft:
    """A Draft from a request body; shapes are checked here, content by `check_draft`."""
    if not isinstance(body, dict):
        raise EditError("the entry must be a JSON object")
    problems: List[Tuple[str, str]] = []
    questions = body.get("questions")
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        problems.append(("questions", "questions must be a list of texts"))
        questions = []
    answer = body.get("answer")
    if not isinstance(answer, dict) or not all(isinstance(v, str) for v in answer.values()):
        problems.append(("answer", "answer must map zh and en to texts"))
        answer = {}
    tags = body.get("tags") or []
    if isinstance(tags, str):
        tags = [t for t in re.split(r"[,，\s]+", tags) if t]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append(("tags", "tags must be a list of words"))
        tags = []
    file = body.get("file") or None
    if file is not None and not isinstance(file, str):
        problems.append(("file", "file must be a file name"))
        file = None
    if problems:
        raise EditError("; ".join(m for _, m in problems), problems)
    return Draft(id=str(entry_id if entry_id is not None else body.get("id") or "").strip(),
                 category=str(body.get("category") or "").strip(),
                 questions=tuple(q.strip() for q in questions if q.strip()),
                 answer={str(k): v.strip() for k, v in answer.items() if v.strip()},
                 tags=tuple(dict.fromkeys(t.strip() for t in tags if t.strip())), file=file)


def check_draft(draft: Draft) -> Tuple[List[Tuple[str, str]], List[str]]:
    """(errors as (field, message), warnings) of an edit; an edit with errors is not saved."""
    errors: List[Tuple[str, str]] = []
    warnings: List[str] = []
    if not ID_PATTERN.match(draft.id or ""):
        errors.append(("id", f"id {draft.id!r} must be lower-case letters, digits and '-' (e.g. gift-wrap)"))
    if not CATEGORY_PATTERN.match(draft.category or ""):
        errors.append(("category", "category is required: lower-case letters, digits and '-'"))
    if not draft.questions:
        errors.append(("questions", "at least one question is required"))
    if len(draft.questions) > MAX_QUESTIONS:
        errors.append(("questions", f"at most {MAX_QUESTIONS} questions per entry"))
    seen = set()
    for q in draft.questions:
        if len(q) > MAX_TEXT:
            errors.append(("questions", f"question {q[:30]!r}… is longer than {MAX_TEXT} characters"))
        key = q.casefold()
        if key in seen:
            warnings.append(f"question {q!r} is listed twice")
        seen.add(key)
    unknown = sorted(set(draft.answer) - set(LANGUAGES))
    if unknown:
        errors.append(("answer", f"unknown answer language(s) {unknown}; use zh and en"))
    present = [lang for lang in LANGUAGES if draft.answer.get(lang)]
    if not present:
        errors.append(("answer", "an answer in zh or en is required"))
    for lang in LANGUAGES:
        if present and lang not in present:
            warnings.append(f"no {lang} answer: publishing needs one")
    for lang, text in draft.answer.items():
        if len(text) > MAX_TEXT:
            errors.append(("answer", f"the {lang} answer is longer than {MAX_TEXT} characters"))
    for tag in draft.tags:
        if not re.match(r"^[\w-]{1,40}$", tag):
            errors.append(("tags", f"tag {tag!r}: one word (letters, digits, '-', '_')"))
    if draft.file is not None and not FILE_PATTERN.match(draft.file):
        errors.append(("file", f"file {draft.file!r}: a name like returns.yml (lower-case, no folders)"))
    return errors, warnings


def _scalar(text: str) -> str:
    """One YAML scalar on one line (quoted when YAML needs it; new lines as escapes)."""
    style = '"' if "\n" in text or "\r" in text else None
    dumped = yaml.safe_dump(text, allow_unicode=True, width=10 ** 9, default_style=style)
    return dumped.removesuffix("\n").removesuffix("\n...").strip()


def render_entry(draft: Draft) -> str:
    """The entry as a block of YAML in the corpus's style (ends with a new line)."""
    lines = [f"- id: {_scalar(draft.id)}", f"  category: {_scalar(draft.category)}", "  questions:"]
    lines += [f"    - {_scalar(q)}" for q in draft.questions]
    lines.append("  answer:")
    lines += [f"    {lang}: {_scalar(draft.answer[lang])}" for lang in LANGUAGES if draft.answer.get(lang)]
    if draft.tags:
        tags = yaml.safe_dump(list(draft.tags), allow_unicode=True, default_flow_style=True, width=10 ** 9)
        lines.append(f"  tags: {tags.strip()}")
    return "\n".join(lines) + "\n"


def _spans(text: str) -> List[Tuple[str, int, int]]:
    """(id, first line, end line) of each top-level entry, 0-based, end exclusive; the end excludes the
    blank and comment lines before the next entry (they stay where they are)."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise EditError("the file is not a list of entries")
    lines = text.split("\n")
    starts = [item.start_mark.line for item in node.value]
    spans = []
    for k, item in enumerate(node.value):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        while end > starts[k] + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
            end -= 1
        entry_id = next((v.value for key, v in item.value if key.value == "id"), None) \
            if isinstance(item, yaml.MappingNode) else None
        spans.append((str(entry_id), starts[k], end))
    return spans


def replace_in_text(text: str, entry_id: str, block: Optional[str]) -> str:
    """Pure: `text` (a corpus file) with entry `entry_id` replaced by `block` (None: removed), or with
    `block` appended when the entry is not in it."""
    lines = text.split("\n")
    span = next(((s, e) for i, s, e in _spans(text) if i == entry_id), None)
    if span is None:
        if block is None:
            raise EntryNotFound(entry_id)
        body = text.rstrip("\n")
        if not body.strip() or body.strip() == "[]":
            body = "\n".join(line for line in lines if line.lstrip().startswith("#")).rstrip("\n")
        return (body + "\n\n" if body else "") + block
    start, end = span
    new = block.rstrip("\n").split("\n") if block is not None else []
    out = lines[:start] + new + lines[end:]
    if block is None:  # do not leave two blank lines where the entry was
        while start < len(out) and start > 0 and not out[start].strip() and not out[start - 1].strip():
            del out[start]
        while out and out[0] == "" and start == 0:
            del out[0]
    return "\n".join(out)


# --- the corpus on disk --------------------------------------------------------------------------

class Corpus:
    """The corpus folder as editors see it."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    def read(self) -> Tuple[List[StoredEntry], List[Problem]]:
        entries, problems = read_corpus(self.dir)
        return [StoredEntry(e, etag(e)) for e in entries], problems

    def get(self, entry_id: str) -> StoredEntry:
        found = next((s for s in self.read()[0] if s.entry.id == entry_id), None)
        if found is None:
            raise EntryNotFound(entry_id)
        return found

    def files(self) -> List[str]:
        return sorted(p.name for p in [*self.dir.glob("*.yml"), *self.dir.glob("*.yaml")])

    def file_for(self, category: str, entries: Sequence[StoredEntry]) -> str:
        """Where a new entry of `category` goes: the file holding most entries of that category, else
        <category>.yml."""
        counts: Dict[str, int] = {}
        for s in entries:
            if s.entry.category == category:
                counts[s.entry.source] = counts.get(s.entry.source, 0) + 1
        return max(counts, key=lambda f: (counts[f], f)) if counts else f"{category}.yml"

    def save(self, draft: Draft, expected_etag: Optional[str], create: bool = False) -> SaveResult:
        """Create (`create`, no etag) or update (etag required) an entry; returns it as stored."""
        errors, warnings = check_draft(draft)
        if errors:
            raise EditError("; ".join(m for _, m in errors), errors)
        with _write_lock:
            entries, problems = self.read()
            current = next((s for s in entries if s.entry.id == draft.id), None)
            if create and current is not None:
                raise StaleEntry(f"an entry {draft.id!r} exists already ({current.entry.source})", current)
            if not create:
                if current is None:
                    raise EntryNotFound(draft.id)
                if expected_etag != current.etag:
                    raise StaleEntry(f"entry {draft.id!r} was changed by someone else since you opened it; "
                                     "reload it and apply your edit again", current)
            target = draft.file or (current.entry.source if current else self.file_for(draft.category, entries))
            self._refuse_broken_file(target, problems)
            block = render_entry(draft)
            writes: Dict[str, str] = {}
            if current is not None and current.entry.source != target:  # moved to another file
                self._refuse_broken_file(current.entry.source, problems)
                writes[current.entry.source] = replace_in_text(self._text(current.entry.source), draft.id, None)
            writes[target] = replace_in_text(self._text(target), draft.id, block)
            self._check_written(writes, target, draft)
            for name, text in writes.items():
                atomic_write(self.dir / name, text)
        stored = self.get(draft.id)
        return SaveResult(stored, tuple(writes), tuple(warnings))

    def delete(self, entry_id: str, expected_etag: Optional[str]) -> SaveResult:
        with _write_lock:
            entries, problems = self.read()
            current = next((s for s in entries if s.entry.id == entry_id), None)
            if current is None:
                raise EntryNotFound(entry_id)
            if expected_etag != current.etag:
                raise StaleEntry(f"entry {entry_id!r} was changed by someone else since you opened it", current)
            self._refuse_broken_file(current.entry.source, problems)
            name = current.entry.source
            text = replace_in_text(self._text(name), entry_id, None)
            yaml.safe_load(text)  # still valid YAML
            atomic_write(self.dir / name, text)
        return SaveResult(None, (name,))

    def _text(self, name: str) -> str:
        path = self.dir / name
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def _refuse_broken_file(self, name: str, problems: Sequence[Problem]) -> None:
        broken = [p for p in problems if p.file == name and p.level == "error"
                  and ("YAML" in p.message or "top level" in p.message or "UTF-8" in p.message)]
        if broken:
            raise EditError(f"{broken[0]} — fix the file by hand first; the editor does not rewrite broken files")

    def _check_written(self, writes: Dict[str, str], target: str, draft: Draft) -> None:
        """The new texts parse, the target holds the entry exactly as submitted and no other file holds
        it (a safety net for the splicing: on any doubt nothing is written)."""
        for name, text in writes.items():
            try:
                items = yaml.safe_load(text) or []
            except yaml.YAMLError as exc:  # pragma: no cover - render_entry quotes what needs quoting
                raise EditError(f"{name}: the edit would make the file invalid YAML ({exc})") from None
            mine = [i for i in items if isinstance(i, dict) and i.get("id") == draft.id]
            if name != target:
                ok = not mine
            else:
                ok = (len(mine) == 1 and [str(q).strip() for q in mine[0].get("questions") or []]
                      == list(draft.questions)
                      and {k: str(v).strip() for k, v in (mine[0].get("answer") or {}).items()} == draft.answer)
            if not ok:
                raise EditError(f"{name}: the edit did not round-trip; nothing was written")


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` through a temp file in the same folder and os.replace (keeps the mode)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text if text.endswith("\n") else text + "\n")
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def search_entries(entries: Sequence[StoredEntry], text: str = "", category: str = "",
                   tag: str = "") -> List[StoredEntry]:
    """Pure: entries whose id, questions or answers contain `text` (case-insensitive), in `category`,
    with `tag`."""
    needle = text.strip().casefold()
    found = []
    for s in entries:
        e = s.entry
        if category and e.category != category:
            continue
        if tag and tag not in e.tags:
            continue
        if needle and not any(needle in t.casefold() for t in (e.id, *e.questions, *e.answer.values())):
            continue
        found.append(s)
    return found
