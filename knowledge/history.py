"""Who published what and when: the publish log (JSON Lines in var/) and git commits of the corpus.

The corpus files are the source of truth. When the corpus folder is inside a git work tree (and
CS_KB_GIT=commit, the default), each publish or rollback commits exactly the changed corpus files with
the editor as author and committer. Git is a record, not a gate: a missing git, a folder outside any
work tree or a failing commit is reported in the result and the log, never a failed publish.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional

_log_lock = threading.Lock()
CORPUS_PATHSPEC = (":(glob)*.y*ml",)  # *.yml and *.yaml of the folder itself, not its subfolders


@dataclass(frozen=True)
class Author:
    id: str
    name: str

    @property
    def email(self) -> str:
        return f"{self.id}@kb-editor.invalid"  # console accounts have no e-mail; .invalid never resolves


@dataclass(frozen=True)
class GitResult:
    status: str                   # committed | unchanged | off | no-git | failed
    commit: Optional[str] = None
    detail: str = ""


def _git(corpus_dir: Path, *args: str, author: Optional[Author] = None) -> subprocess.CompletedProcess:
    ident = ["-c", f"user.name={author.name}", "-c", f"user.email={author.email}"] if author else []
    for attempt in range(5):
        done = subprocess.run(["git", *ident, "-C", str(corpus_dir), *args], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        if "index.lock" not in done.stderr:
            return done
        time.sleep(0.2 * (attempt + 1))  # someone else's git command holds the index
    return done


def commit_corpus(corpus_dir: Path, message: str, author: Author, mode: str = "commit") -> GitResult:
    """Commit the corpus folder's changes (additions, edits, deletions) and nothing else."""
    if mode == "off":
        return GitResult("off")
    if shutil.which("git") is None:
        return GitResult("no-git", detail="git is not installed")
    try:
        inside = _git(corpus_dir, "rev-parse", "--is-inside-work-tree")
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return GitResult("no-git", detail="the corpus folder is not in a git work tree")
        added = _git(corpus_dir, "add", "-A", "--", *CORPUS_PATHSPEC)
        if added.returncode != 0:
            return GitResult("failed", detail=added.stderr.strip()[-500:])
        if _git(corpus_dir, "diff", "--cached", "--quiet", "--", *CORPUS_PATHSPEC).returncode == 0:
            return GitResult("unchanged")
        done = _git(corpus_dir, "commit", "--no-verify", "-q", "-m", message,
                    "--author", f"{author.name} <{author.email}>", "--", *CORPUS_PATHSPEC, author=author)
        if done.returncode != 0:
            return GitResult("failed", detail=(done.stderr or done.stdout).strip()[-500:])
        head = _git(corpus_dir, "rev-parse", "HEAD").stdout.strip()
        return GitResult("committed", commit=head)
    except (OSError, subprocess.SubprocessError) as exc:
        return GitResult("failed", detail=str(exc))


class PublishLog:
    """Append-only JSON Lines: one record per publish, refused publish and rollback."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, record: dict) -> dict:
        record = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **record}
        line = json.dumps(record, ensure_ascii=False, sort_keys=True)
        with _log_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(line + "\n")
        return record

    def records(self) -> List[dict]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a torn last line after a crash: skipped, the rest is kept
        return out


def git_json(result: GitResult) -> dict:
    return asdict(result)
