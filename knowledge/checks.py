"""The checks a publish runs on the corpus, stricter than `python -m knowledge validate`:

- everything corpus.py and validate.py report (schema, duplicate ids, a question in two entries);
- conflicting questions: two entries with nearly the same question (embedding similarity >= 0.95)
  are an error here, not a warning: a customer asking it would get either answer;
- a missing zh or en answer is an error here (customers of that language would get the other one);
- links in answers: malformed URLs, and links to this site's own paths that do not exist. External
  URLs are checked for form only, never fetched (no network at publish time).

Pure functions over entries, except `publish_problems` which reads the folder and, when given an
encoder, embeds the questions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from knowledge.corpus import LANGUAGES, FaqEntry, Problem, read_corpus
from knowledge.validate import NEAR_DUPLICATE, duplicate_questions, near_duplicates

_MD_LINK = re.compile(r"\[[^\]\n]*\]\(\s*([^)\s]*)\s*\)")
_HREF = re.compile(r"""href\s*=\s*["']([^"']*)["']""", re.I)
_URL = re.compile(r"(?<![\w/])(?:[a-zA-Z][a-zA-Z0-9+.-]*://|www\.)[^\s<>\"'()（）\[\]，。；、]*")
_BROKEN_SCHEME = re.compile(r"(?<![\w/])(?:https?:/(?!/)|https?//|htps?://|htp://|https?:\\\\)[^\s。，；、）)]*", re.I)
_HOST = re.compile(r"^(?:localhost|(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}|\d{1,3}(?:\.\d{1,3}){3})$",
                   re.I)
_TRAILING = ".,;:!?。，；：！？"


@dataclass(frozen=True)
class SitePaths:
    """This site's own paths: exact routes, and URL prefixes served from folders."""
    routes: frozenset = frozenset({"/"})
    mounts: Mapping[str, Path] = field(default_factory=dict)

    def exists(self, path: str) -> bool:
        path = path.split("#", 1)[0].split("?", 1)[0] or "/"
        if path in self.routes:
            return True
        for prefix, folder in self.mounts.items():
            if path.startswith(prefix):
                rest = path[len(prefix):]
                target = (Path(folder) / rest).resolve()
                return bool(rest) and Path(folder).resolve() in target.parents and target.is_file()
        return False


def default_site(root: Path) -> SitePaths:
    """The web chat page's paths (web/app.py): its routes and its static folders."""
    return SitePaths(routes=frozenset({"/", "/config.js", "/health"}),
                     mounts={"/static/": root / "web" / "static", "/vendor/": root / "web" / "vendor"})


def _answer_line(entry: FaqEntry, language: str, lines: Dict[str, List[str]]) -> int:
    text = lines.get(entry.source) or []
    for n in range(max(entry.line - 1, 0), len(text)):
        if text[n].strip().startswith(f"{language}:"):
            return n + 1
        if n > entry.line and text[n].startswith("- "):
            break
    return entry.line


def link_problems(entries: Sequence[FaqEntry], site: SitePaths,
                  lines: Optional[Dict[str, List[str]]] = None) -> List[Problem]:
    """Malformed URLs and links to missing pages of this site, in every answer."""
    lines = lines or {}
    problems: List[Problem] = []
    for entry in entries:
        for language, answer in sorted(entry.answer.items()):
            where = _answer_line(entry, language, lines)

            def problem(level: str, message: str, where=where, language=language, entry=entry) -> None:
                problems.append(Problem(level, entry.source, where,
                                        f"entry {entry.id!r} ({language} answer): {message}"))

            for match in _BROKEN_SCHEME.finditer(answer):
                problem("error", f"malformed link {match.group(0)!r} (write https://host/path)")
            explicit = [m.group(1) for m in _MD_LINK.finditer(answer)] + [m.group(1) for m in _HREF.finditer(answer)]
            bare = [m.group(0).rstrip(_TRAILING) for m in _URL.finditer(answer)]
            for target in explicit + [b for b in bare if b not in explicit]:
                message = _check_target(target, site)
                if message:
                    level = "warning" if message.startswith("~") else "error"
                    problem(level, message.lstrip("~"))
    return problems


def _check_target(target: str, site: SitePaths) -> Optional[str]:
    if not target:
        return "empty link target"
    if target.startswith("www."):
        return f"~link {target!r} has no scheme: write https://{target}"
    if target.startswith("/") and not target.startswith("//"):
        return None if site.exists(target) else f"link to {target!r}: no such page on this site"
    if target.startswith(("mailto:", "tel:")):
        return None if len(target.split(":", 1)[1]) > 2 else f"malformed link {target!r}"
    if target.startswith("#"):
        return None
    try:
        parts = urlsplit(target)
        port = parts.port  # raises on a bad port
    except ValueError:
        return f"malformed URL {target!r}"
    if parts.scheme.lower() in ("http", "https"):
        try:
            host = (parts.hostname or "").encode("idna").decode("ascii")  # 例子.example.com is a valid host
        except UnicodeError:
            host = ""
        if not host or not _HOST.match(host) or " " in target or port == 0:
            return f"malformed URL {target!r} (no valid host name)"
        return None
    if parts.scheme:
        return f"~link {target!r} uses {parts.scheme}:, which customers' apps may not open"
    return f"relative link {target!r}: start it with / (a page of this site) or use https://"


def conflicts(entries: Sequence[FaqEntry], vectors, threshold: float = NEAR_DUPLICATE) -> List[Problem]:
    """Near-duplicate questions across entries, as errors."""
    return [replace(p, level="error", message=p.message.replace("customers asking it may get either answer",
                                                                 "conflicting questions: make them distinct "
                                                                 "or merge the entries"))
            for p in near_duplicates(entries, vectors, threshold)]


def missing_languages(entries: Sequence[FaqEntry]) -> List[Problem]:
    return [Problem("error", e.source, e.line, f"entry {e.id!r}: no {lang} answer ({lang} customers would get "
                                                 f"the other language)")
            for e in entries for lang in LANGUAGES if not e.answer.get(lang)]


def publish_problems(directory: Path, site: SitePaths, encoder=None) -> List[Problem]:
    """Every problem that stops (errors) or is shown at (warnings) a publish, errors first."""
    entries, problems = read_corpus(Path(directory))
    problems = [p for p in problems if not ("no " in p.message and " answer: " in p.message)]  # errors below
    problems += duplicate_questions(entries) + missing_languages(entries)
    lines = {}
    for name in {e.source for e in entries}:
        try:
            lines[name] = (Path(directory) / name).read_text(encoding="utf-8").splitlines()
        except OSError:
            pass
    problems += link_problems(entries, site, lines)
    if encoder is not None and entries:
        problems += conflicts(entries, encoder.encode([q for e in entries for q in e.questions]))
    return sorted(problems, key=lambda p: (p.level != "error", p.file, p.line))


def problem_json(problem: Problem) -> dict:
    return {"level": problem.level, "file": problem.file, "line": problem.line, "message": problem.message,
            "text": str(problem)}
