"""GET /api/kb/unanswered: the editors' list of questions the bot could not answer, grouped by meaning
(insight/unanswered.py), for editors and supervisors.

The work (reading the tracker store, the query log and the handoff store; embedding; asking the
knowledge base in service whether it answers a cluster now) is blocking: it runs in a thread, one at
a time, and its result is kept for a short while (and while the published version stays the same) so
that an editor's reloads do not redo it. The sentence encoder and the published knowledge base are
loaded on first use, not at the service's start.
"""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

from aiohttp import web

from common.settings import Settings
from handoff.store import HandoffStore
from insight import sources, unanswered
from insight.model import DAY

if TYPE_CHECKING:
    from knowledge.search import KnowledgeBase

EDITING_ROLES = ("editor", "supervisor")
MAX_DAYS = 366
CACHE_SECONDS = 30.0


class UnansweredFinder:
    """Reads, groups and filters the unanswered questions of the last `days` days."""

    def __init__(self, settings: Settings, store: HandoffStore,
                 published: Callable[[], Optional["KnowledgeBase"]], clock: Callable[[], float] = time.time) -> None:
        """`published()`: the knowledge base of the CURRENT version, loaded synchronously when it changed
        (the editors' Previewer.published, so the service holds one loaded index)."""
        self.settings = settings
        self.store = store
        self.published = published
        self.clock = clock
        self._lock = threading.Lock()
        self._encoder = None
        self._cache: Dict[int, Tuple[float, str, List[unanswered.Cluster]]] = {}

    def _embed(self, texts: Sequence[str]):
        if self._encoder is None:
            from knowledge.encoders import load_encoder
            self._encoder = load_encoder("use")  # the encoder the clustering threshold was chosen with
        return self._encoder.encode(list(texts))

    def _answers(self, texts: Sequence[str]) -> List[bool]:
        """Per text: does the published knowledge base (CURRENT, loaded at once when it changed) answer
        it directly?"""
        from knowledge.search import decide

        kb = self.published()
        if kb is None:  # no index yet: nothing is answered
            return [False] * len(texts)
        thresholds = self.settings.kb_thresholds
        return [decide(hits, thresholds).kind == "answer" for hits in kb.search_many(list(texts))]

    def _kb_version(self) -> str:
        from knowledge.index import current_version

        current = current_version(Path(self.settings.kb_dir))
        return current.name if current else ""

    def find(self, days: int) -> List[unanswered.Cluster]:
        with self._lock:
            now = self.clock()
            version = self._kb_version()
            cached = self._cache.get(days)
            if cached and now - cached[0] < CACHE_SECONDS and cached[1] == version:
                return cached[2]
            start = now - days * DAY
            paths = sources.Paths.from_settings(self.settings)
            handoffs = sources.read_handoffs(self.store, start, None)
            tracker = Path(paths.tracker_db)
            sessions = sources.read_sessions(tracker, start, None, handoffs=handoffs) if tracker.exists() else []
            kb_db = Path(paths.kb_db)
            lookups = sources.read_no_answer_lookups(kb_db, start, None) if kb_db.exists() else []
            messages = unanswered.collect(sessions, lookups, handoffs)
            drafts = unanswered.drafts_from(sources.read_agent_answers(self.store, handoffs),
                                            {h.id: h.language for h in handoffs})
            clusters = unanswered.build_clusters(messages, self._embed, drafts)
            clusters = unanswered.still_unanswered(clusters, self._answers)
            self._cache[days] = (now, version, clusters)
            return clusters


def _whole(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"'{name}' must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"'{name}' must be between {low} and {high}")
    return value


def add_routes(app: web.Application, finder: UnansweredFinder,
               current_agent: Callable[[web.Request], dict]) -> None:
    """`current_agent(request)`: the logged-in account's row, or raises 401 (handoff/app.py)."""

    async def list_unanswered(request: web.Request) -> web.Response:
        agent = current_agent(request)
        if agent["role"] not in EDITING_ROLES:
            raise web.HTTPForbidden(reason="only editors and supervisors see unanswered questions")
        days = _whole(request, "days", 30, 1, MAX_DAYS)
        limit = _whole(request, "limit", 50, 1, 500)
        clusters = await asyncio.to_thread(finder.find, days)
        return web.json_response({"days": days, "total": len(clusters),
                                  "clusters": [c.to_dict() for c in clusters[:limit]]})

    app.router.add_get("/api/kb/unanswered", list_unanswered)
