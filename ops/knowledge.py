"""Make sure the knowledge-base index matches the FAQ corpus before the action server starts."""
from __future__ import annotations

from common.settings import Settings
from knowledge.corpus import load_corpus
from knowledge.index import BuildResult, build_index
from knowledge.progress import progress_bars


def ensure_index(settings: Settings, quiet: bool = False) -> BuildResult:
    """Build a new index version if the corpus or encoder changed (a no-op otherwise)."""
    entries = load_corpus(settings.faq_dir)
    if not quiet:
        print(f"==> knowledge base: {len(entries)} FAQ entries from {settings.faq_dir}", flush=True)
    result = build_index(entries, settings.kb_dir, settings.kb_build_options,
                         progress=None if quiet else progress_bars(), corpus_dir=settings.faq_dir)
    if not quiet:
        state = "built" if result.changed else "up to date"
        print(f"==> knowledge base {state}: {result.manifest.version}", flush=True)
    return result
