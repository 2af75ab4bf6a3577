""""What would the bot answer to ...": the edited (unpublished) corpus and the published version, side
by side, with the same search and decision as the action server (knowledge/search.py).

The draft index is built into its own root (`<kb dir>/drafts`, never the live one), reusing the
vectors of the published versions for every unchanged text, and kept until the corpus changes again;
a corpus equal to the published one is answered by the published version itself.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional, Tuple

from common.language import pick
from knowledge.corpus import load_corpus
from knowledge.index import BuildOptions, IndexVersion, build_index, build_key, current_version, prune
from knowledge.search import Decision, KnowledgeBase, Thresholds, decide


class Previewer:
    def __init__(self, corpus_dir: Path, kb_dir: Path, options: BuildOptions, thresholds: Thresholds) -> None:
        self.corpus_dir = Path(corpus_dir)
        self.kb_dir = Path(kb_dir)
        self.draft_root = self.kb_dir / "drafts"
        self.options = options
        self.thresholds = thresholds
        self._published: Optional[KnowledgeBase] = None
        self._draft: Optional[Tuple[str, KnowledgeBase]] = None
        self._lock = threading.Lock()  # one draft build at a time

    def published(self) -> Optional[KnowledgeBase]:
        path = current_version(self.kb_dir)
        if path is None:
            return None
        if self._published is None or self._published.name != path.name:
            self._published = KnowledgeBase.load(IndexVersion.open(path))
        return self._published

    def draft(self) -> Tuple[KnowledgeBase, bool]:
        """The draft's knowledge base, and whether it differs from the published one. Raises CorpusError
        when the corpus has errors (the editor sees them)."""
        from knowledge.encoders import load_encoder, spec_parts

        entries = load_corpus(self.corpus_dir)
        parts = [load_encoder(s) for s in spec_parts(self.options.encoder)]
        key = build_key(entries, self.options, parts)
        published = self.published()
        if published is not None and published.version.manifest.build_key == key:
            return published, False
        with self._lock:
            if self._draft is None or self._draft[0] != key:
                result = build_index(entries, self.draft_root, self.options, cache_from=[self.kb_dir])
                prune(self.draft_root, keep=1)
                self._draft = (key, KnowledgeBase.load(IndexVersion.open(result.path)))
            return self._draft[1], True

    def preview(self, text: str, language: Optional[str] = None, k: int = 3) -> dict:
        draft, changed = self.draft()
        published = self.published()
        return {"text": text, "draft_differs": changed,
                "draft": self._answer(draft, text, language, k),
                "published": self._answer(published, text, language, k) if published else None}

    def _answer(self, kb: KnowledgeBase, text: str, language: Optional[str], k: int) -> dict:
        hits = kb.search(text, k=k)
        decision: Decision = decide(hits, self.thresholds)
        return {"version": kb.name, "decision": decision.kind,
                "answer": pick(decision.best.entry.answer, language) if decision.kind == "answer" else None,
                "hits": [{"id": h.entry.id, "question": h.question, "confidence": round(h.confidence, 3),
                          "probability": round(h.probability, 3), "similarity": round(h.similarity, 3),
                          "answer": dict(h.entry.answer)} for h in hits]}
