"""The live knowledge base of a long-running process: loaded once, hot-swapped when CURRENT changes.

`get()` never blocks on loading: it returns the version in service and, at most every `poll_seconds`,
checks the CURRENT pointer; a new version is opened, its encoder loaded and warmed up in a background
thread, and only then swapped in (one reference assignment), so requests in flight finish on the old
version and no request waits for or fails on a reload. A version that fails to load is logged and
skipped; the old one stays in service.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Optional

from knowledge.index import IndexVersion, KnowledgeIndexError, current_version
from knowledge.search import KnowledgeBase

logger = logging.getLogger(__name__)


class LiveKnowledgeBase:
    def __init__(self, root: Path, hybrid_weight: float = 0.0, poll_seconds: float = 2.0) -> None:
        self.root = Path(root)
        self.hybrid_weight = hybrid_weight
        self.poll_seconds = poll_seconds
        self._current: Optional[KnowledgeBase] = None
        self._checked = 0.0
        self._loading: Optional[str] = None
        self._failed: set = set()
        self._lock = threading.Lock()

    def load_now(self) -> Optional[KnowledgeBase]:
        """Load the CURRENT version synchronously (at start-up); None when there is no usable index."""
        path = current_version(self.root)
        if path is None:
            logger.error("no knowledge-base index", extra={"kb_dir": str(self.root),
                                                           "fix": "python -m knowledge build"})
            return None
        self._load(path)
        return self._current

    def get(self) -> Optional[KnowledgeBase]:
        now = time.monotonic()
        if now - self._checked >= self.poll_seconds:
            self._checked = now
            self._maybe_reload()
        return self._current

    def _maybe_reload(self) -> None:
        path = current_version(self.root)
        if path is None or path.name in self._failed:
            return
        if self._current is not None and self._current.name == path.name:
            return
        with self._lock:
            if self._loading is not None:
                return
            self._loading = path.name
        threading.Thread(target=self._load, args=(path,), name="kb-reload", daemon=True).start()

    def _load(self, path: Path) -> None:
        started = time.monotonic()
        try:
            version = IndexVersion.open(path)
            kb = KnowledgeBase.load(version, self.hybrid_weight)
            kb.search("warm-up")  # first call pays one-off costs (thread pools, lazy weights)
        except (KnowledgeIndexError, OSError, ValueError, RuntimeError) as exc:
            self._failed.add(path.name)
            logger.error("knowledge-base version failed to load; keeping the one in service",
                         extra={"version": path.name, "error": str(exc)})
            return
        finally:
            with self._lock:
                self._loading = None
        previous = self._current.name if self._current else None
        self._current = kb  # atomic swap: readers hold either the old or the new object
        logger.info("knowledge-base version in service", extra={
            "version": kb.name, "previous": previous, "entries": len(kb.entries),
            "load_seconds": round(time.monotonic() - started, 2)})
