"""Publish the edited corpus as a new live index version, or roll back to an earlier one.

publish:  snapshot the corpus files -> checks (knowledge/checks.py) -> build a new version from the
          snapshot without switching CURRENT (vectors of unchanged texts reused) -> regression gate
          against the version in service (knowledge/gate.py) -> only then switch CURRENT -> git commit
          of the corpus with the editor as author -> publish log. Refused at any step: CURRENT is
          untouched and the refused build is deleted.
rollback: restore the corpus files from the target version's copy (`corpus/` in the version folder;
          versions built before copies were kept are rewritten from their entries, comments lost)
          -> switch CURRENT to it -> git commit -> log. Files and index agree afterwards.

Running processes (the action server's LiveKnowledgeBase) notice CURRENT within their poll interval
and swap in the loaded version without failing a request. One publish or rollback at a time
(`Busy`); the work runs in the caller's thread (the handoff service gives it one) and reports
progress through `status()`.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from knowledge import editing
from knowledge.checks import SitePaths, problem_json, publish_problems
from knowledge.corpus import load_corpus
from knowledge.gate import GateConfig, evaluate, judge, load_regression_set
from knowledge.history import Author, PublishLog, commit_corpus, git_json
from knowledge.index import (
    CORPUS_COPY,
    BuildOptions,
    IndexVersion,
    KnowledgeIndexError,
    build_index,
    corpus_files,
    current_version,
    list_versions,
    prune,
    read_manifest,
    set_current,
)
from knowledge.search import KnowledgeBase, Thresholds

logger = logging.getLogger(__name__)


class Busy(RuntimeError):
    """Another publish or rollback is running."""


class RollbackError(ValueError):
    pass


@dataclass(frozen=True)
class PublishConfig:
    corpus_dir: Path
    kb_dir: Path
    options: BuildOptions
    thresholds: Thresholds
    gate: GateConfig
    log_path: Path
    site: SitePaths
    git: str = "commit"           # commit | off
    check_conflicts: bool = True  # embed questions to find near-duplicates across entries


@dataclass
class Outcome:
    action: str                   # publish | rollback
    ok: bool
    stage: str                    # where it ended: validate | build | gate | switch | done | unchanged
    message: str
    version: Optional[str] = None
    previous: Optional[str] = None
    problems: List[dict] = field(default_factory=list)
    gate: Optional[dict] = None
    git: Optional[dict] = None
    files: List[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict:
        return dict(self.__dict__)


class Publisher:
    def __init__(self, config: PublishConfig) -> None:
        self.config = config
        self.log = PublishLog(config.log_path)
        self._lock = threading.Lock()
        self._status: Dict[str, object] = {"state": "idle"}
        self._baseline: Dict[str, object] = {}  # version name -> its gate figures (versions are immutable)

    # --- state ---------------------------------------------------------------------------------
    def busy(self) -> bool:
        return self._lock.locked()

    def status(self) -> dict:
        return dict(self._status)

    def _stage(self, stage: str, done: int = 0, total: int = 0) -> None:
        self._status.update(stage=stage, done=done, total=total)

    def _run(self, action: str, author: Author, work: Callable[[], Outcome]) -> Outcome:
        if not self._lock.acquire(blocking=False):
            raise Busy(f"a {self._status.get('action', 'publish')} by {self._status.get('author')} is running; "
                       "wait for it to finish")
        started = time.monotonic()
        self._status = {"state": "running", "action": action, "author": author.id, "stage": "start",
                        "started": time.time()}
        try:
            try:
                outcome = work()
            except Exception as exc:  # noqa: BLE001 - reported to the editor; CURRENT was not switched
                logger.exception("%s failed", action)
                outcome = Outcome(action, False, str(self._status.get("stage")), f"{action} failed: {exc}")
            outcome.seconds = round(time.monotonic() - started, 2)
            self._status = {"state": "done", "action": action, "author": author.id, "result": outcome.as_json(),
                            "finished": time.time()}
            return outcome
        finally:
            self._lock.release()

    # --- publish -------------------------------------------------------------------------------
    def publish(self, author: Author) -> Outcome:
        return self._run("publish", author, lambda: self._publish(author))

    def _publish(self, author: Author) -> Outcome:
        c = self.config
        live = current_version(c.kb_dir)
        with tempfile.TemporaryDirectory(prefix="kb-publish-") as tmp:
            snapshot = Path(tmp) / "corpus"
            with editing._write_lock:  # not in the middle of someone's save
                snapshot.mkdir()
                for path in corpus_files(c.corpus_dir):
                    shutil.copy2(path, snapshot / path.name)
            self._stage("validate")
            encoder = None
            if c.check_conflicts:
                from knowledge.encoders import load_encoder, spec_parts

                encoder = load_encoder(spec_parts(c.options.encoder)[0])
            problems = publish_problems(snapshot, c.site, encoder)
            shown = [problem_json(p) for p in problems]
            errors = [p for p in problems if p.level == "error"]
            if errors:
                return self._refused(author, "validate", f"{len(errors)} problem(s) to fix before publishing",
                                     live, problems=shown)
            self._stage("build")
            entries = load_corpus(snapshot)
            result = build_index(entries, c.kb_dir, c.options, make_current=False, corpus_dir=snapshot,
                                 progress=self._stage)
            if not result.changed:
                return Outcome("publish", True, "unchanged", "nothing to publish: the corpus is what is in service",
                               version=result.path.name, previous=result.path.name, problems=shown)
            candidate = result.path
            try:
                self._stage("gate")
                gate = self._gate(candidate, live, [e.id for e in entries])
                if not gate.passed:
                    shutil.rmtree(candidate, ignore_errors=True)  # never served; must not push out old versions
                    return self._refused(author, "gate", "; ".join(gate.reasons), live, problems=shown,
                                         gate=gate.as_json())
                self._stage("switch")
                set_current(c.kb_dir, candidate)
            except BaseException:
                if current_version(c.kb_dir) != candidate:
                    shutil.rmtree(candidate, ignore_errors=True)
                raise
            prune(c.kb_dir, protect=[live.name] if live else [])
            self._stage("git")
            git = commit_corpus(c.corpus_dir, f"FAQ published as {candidate.name} by {author.name}\n\n"
                                f"Index version {candidate.name}, corpus {result.manifest.corpus_hash[:12]}, "
                                f"recall@1 {gate.candidate.recall_at_1:.3f}.", author, c.git)
            outcome = Outcome("publish", True, "done", f"version {candidate.name} is live", version=candidate.name,
                              previous=live.name if live else None, problems=shown, gate=gate.as_json(),
                              git=git_json(git), files=sorted(p.name for p in corpus_files(snapshot)))
        self._record(author, outcome, result.manifest.corpus_hash)
        logger.info("kb published", extra={"version": outcome.version, "previous": outcome.previous,
                                           "author": author.id, "git": git.status})
        return outcome

    def _gate(self, candidate: Path, live: Optional[Path], ids: List[str]):
        c = self.config
        queries = load_regression_set(c.gate.queries)
        missing = sorted({q.expected for q in queries if q.expected and q.expected not in set(ids)})
        figures = evaluate(KnowledgeBase.load(IndexVersion.open(candidate)), queries, c.thresholds)
        baseline = None
        if live is not None:
            key = f"{live.name}|{c.thresholds}|{c.gate.queries}"
            baseline = self._baseline.get(key)
            if baseline is None:
                try:
                    baseline = evaluate(KnowledgeBase.load(IndexVersion.open(live)), queries, c.thresholds)
                    self._baseline[key] = baseline
                except KnowledgeIndexError as exc:  # the live one cannot be opened here: floors only
                    logger.warning("no baseline for the gate", extra={"version": live.name, "error": str(exc)})
        return judge(figures, baseline, c.gate, missing)

    def _refused(self, author: Author, stage: str, message: str, live: Optional[Path], **details) -> Outcome:
        outcome = Outcome("publish", False, stage, message, previous=live.name if live else None, **details)
        self.log.append({"action": "publish", "ok": False, "stage": stage, "message": message,
                         "author": author.id, "author_name": author.name, "live": outcome.previous,
                         "gate": outcome.gate})
        return outcome

    def _record(self, author: Author, outcome: Outcome, corpus_hash: str) -> None:
        self.log.append({"action": outcome.action, "ok": outcome.ok, "stage": outcome.stage,
                         "version": outcome.version, "previous": outcome.previous, "author": author.id,
                         "author_name": author.name, "corpus_hash": corpus_hash, "gate": outcome.gate,
                         "git": outcome.git, "files": outcome.files, "seconds": outcome.seconds})

    # --- rollback ------------------------------------------------------------------------------
    def rollback_target(self) -> Optional[str]:
        """The version that was live before the one in service (from the log), else the newest older one."""
        live = current_version(self.config.kb_dir)
        if live is None:
            return None
        names = [p.name for p in list_versions(self.config.kb_dir)]
        for record in reversed(self.log.records()):
            if record.get("ok") and record.get("version") == live.name and record.get("previous") in names \
                    and record.get("previous") != live.name:
                return record["previous"]
        older = names[:names.index(live.name)] if live.name in names else []
        return older[-1] if older else None

    def rollback(self, author: Author, version: Optional[str] = None) -> Outcome:
        return self._run("rollback", author, lambda: self._rollback(author, version))

    def _rollback(self, author: Author, version: Optional[str]) -> Outcome:
        c = self.config
        live = current_version(c.kb_dir)
        name = version or self.rollback_target()
        if not name:
            raise RollbackError("there is no earlier version to roll back to")
        target = c.kb_dir / "versions" / name
        if "/" in name or name.startswith(".") or not (target / "manifest.json").exists():
            raise RollbackError(f"no complete index version {name!r}")
        if live is not None and live.name == name:
            raise RollbackError(f"{name} is already live")
        manifest = read_manifest(target)
        self._stage("restore")
        files = restore_corpus(target, c.corpus_dir)
        self._stage("switch")
        set_current(c.kb_dir, target)
        self._stage("git")
        git = commit_corpus(c.corpus_dir, f"FAQ rolled back to {name} by {author.name}\n\n"
                            f"Was {live.name if live else 'none'}; corpus {manifest.corpus_hash[:12]}.", author, c.git)
        outcome = Outcome("rollback", True, "done", f"version {name} is live again", version=name,
                          previous=live.name if live else None, git=git_json(git), files=files)
        self._record(author, outcome, manifest.corpus_hash)
        logger.info("kb rolled back", extra={"version": name, "previous": outcome.previous, "author": author.id})
        return outcome

    # --- listing -------------------------------------------------------------------------------
    def versions(self) -> List[dict]:
        live = current_version(self.config.kb_dir)
        published = {}
        for record in self.log.records():
            if record.get("ok") and record.get("version"):
                published[record["version"]] = record
        out = []
        for path in reversed(list_versions(self.config.kb_dir)):
            try:
                m = read_manifest(path)
            except KnowledgeIndexError:
                continue
            record = published.get(path.name) or {}
            gate = (record.get("gate") or {}).get("candidate") if record.get("action") == "publish" else None
            out.append({"version": path.name, "built_at": m.built_at, "entries": m.entries,
                        "corpus_hash": m.corpus_hash, "live": live is not None and path.name == live.name,
                        "has_corpus_copy": (path / CORPUS_COPY).is_dir(),
                        "published_by": record.get("author_name") or record.get("author"),
                        "published_at": record.get("at"), "how": record.get("action"),
                        "recall_at_1": gate.get("recall@1") if gate else None,
                        "wrong_answer_rate": gate.get("wrong_answer_rate") if gate else None})
        return out


def restore_corpus(version: Path, corpus_dir: Path) -> List[str]:
    """Make the corpus folder hold exactly the version's corpus files; returns the files written or removed."""
    copy = Path(version) / CORPUS_COPY
    if copy.is_dir():
        wanted = {p.name: p.read_text(encoding="utf-8") for p in corpus_files(copy)}
    else:
        wanted = _files_from_entries(IndexVersion.open(version).entries)
    if not wanted:
        raise RollbackError(f"{Path(version).name} has no corpus to restore")
    changed = []
    with editing._write_lock:
        for path in corpus_files(corpus_dir):
            if path.name not in wanted:
                path.unlink()
                changed.append(path.name)
        for name, text in sorted(wanted.items()):
            path = Path(corpus_dir) / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                editing.atomic_write(path, text)
                changed.append(name)
    return sorted(set(changed))


def _files_from_entries(entries) -> Dict[str, str]:
    """Corpus files rebuilt from a version's entries (for versions built before copies were kept)."""
    files: Dict[str, List[str]] = {}
    for e in entries:
        block = editing.render_entry(editing.Draft(e.id, e.category, tuple(e.questions), dict(e.answer),
                                                   tuple(e.tags)))
        files.setdefault(e.source or f"{e.category}.yml", []).append(block)
    return {name: "\n".join(blocks) for name, blocks in files.items()}
