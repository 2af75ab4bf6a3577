"""Command line of the knowledge base: validate, build, search, eval, versions, use.

    python -m knowledge validate [--corpus DIR]
    python -m knowledge build    [--corpus DIR] [--out DIR] [--force]
    python -m knowledge search   "text" [--k 3] [--out DIR]
    python -m knowledge eval     --corpus DIR --queries FILE [--json] [--sweep]
    python -m knowledge versions [--out DIR]
    python -m knowledge use      VERSION [--out DIR]      (roll back / forward)

Defaults come from the configuration (common/settings.py: CS_FAQ_DIR, CS_KB_DIR, CS_KB_ENCODER, ...).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def cmd_validate(args, settings) -> int:
    from knowledge.validate import validate_corpus

    problems = validate_corpus(Path(args.corpus), encoder_spec=None if args.no_embed else settings.kb_encoder)
    for problem in problems:
        print(problem)
    errors = sum(p.level == "error" for p in problems)
    warnings = len(problems) - errors
    print(f"{errors} error(s), {warnings} warning(s) in {args.corpus}")
    return 1 if errors else 0


def cmd_build(args, settings) -> int:
    from knowledge.corpus import load_corpus
    from knowledge.index import build_index
    from knowledge.progress import progress_bars

    entries = load_corpus(Path(args.corpus))
    result = build_index(entries, Path(args.out), settings.kb_build_options, force=args.force,
                         progress=None if args.quiet else progress_bars(), corpus_dir=Path(args.corpus))
    m = result.manifest
    if not result.changed:
        print(f"up to date: {m.version} ({m.entries} entries, {m.rows} questions, encoder {m.encoder})")
    else:
        print(f"built {m.version}: {m.entries} entries, {m.rows} questions, {m.index_type} index, encoder "
              f"{m.encoder} (dim {m.dim}), {m.encoded_rows} embedded, {m.reused_rows} reused, "
              f"{m.build_seconds:.1f} s")
    return 0


def _open(settings, out: Path):
    from knowledge.index import open_current
    from knowledge.search import KnowledgeBase

    version = open_current(out)
    return KnowledgeBase.load(version, settings.kb_hybrid_weight)


def cmd_search(args, settings) -> int:
    from common.language import pick
    from knowledge.search import decide

    kb = _open(settings, Path(args.out))
    hits = kb.search(args.text, k=args.k)
    decision = decide(hits, settings.kb_thresholds)
    print(f"decision: {decision.kind}  (index {kb.name})")
    for rank, hit in enumerate(hits, 1):
        print(f"{rank}. {hit.entry.id}  confidence={hit.confidence:.3f} p={hit.probability:.3f} "
              f"cos={hit.similarity:.3f}  ~ {hit.question}")
        if rank == 1:
            print(f"   {pick(hit.entry.answer, args.language)}")
    return 0


def cmd_eval(args, settings) -> int:
    from knowledge.corpus import load_corpus
    from knowledge.eval import load_queries, score, sweep
    from knowledge.index import IndexVersion, build_index
    from knowledge.progress import progress_bars
    from knowledge.search import KnowledgeBase

    entries = load_corpus(Path(args.corpus))
    queries = load_queries(Path(args.queries), known_ids=[e.id for e in entries])
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as tmp:
        started = time.monotonic()
        result = build_index(entries, Path(tmp), settings.kb_build_options,
                             progress=None if args.json else progress_bars())
        build_seconds = time.monotonic() - started
        version = IndexVersion.open(result.path)
        kb = KnowledgeBase.load(version, settings.kb_hybrid_weight)
        started = time.monotonic()
        results = kb.search_many([q.text for q in queries], k=10)
        per_query_ms = 1000 * (time.monotonic() - started) / len(queries)
    report = score(queries, results, settings.kb_thresholds)
    if not args.json:
        print(f"corpus {args.corpus}: {len(entries)} entries; queries {args.queries}: {report.n} "
              f"({report.answerable} answerable, {report.unanswerable} without answer)")
        print(f"encoder {settings.kb_encoder} (adapt {settings.kb_adapt_epochs} epochs), hybrid "
              f"{settings.kb_hybrid_weight}, thresholds answer {settings.kb_answer_threshold} / suggest "
              f"{settings.kb_suggest_threshold}; build {build_seconds:.1f} s, search {per_query_ms:.1f} ms/query")
        for key, value in report.as_json().items():
            print(f"  {key:>20}: {value}")
    if args.sweep:
        print("answer-threshold  abstain_rate  false_abstain_rate  wrong_answer_rate")
        steps = [round(0.05 * i, 2) for i in range(2, 19)]
        for row in sweep(queries, results, settings.kb_suggest_threshold, steps):
            print("  ".join(f"{v:>8}" for v in row))
    if args.json:
        print(json.dumps(report.as_json(), sort_keys=True))
    return 0


def cmd_versions(args, settings) -> int:
    from knowledge.index import KnowledgeIndexError, current_version, list_versions, read_manifest

    live = current_version(Path(args.out))
    for path in list_versions(Path(args.out)):
        try:
            m = read_manifest(path)
        except KnowledgeIndexError as exc:
            print(f"! {path.name}  unreadable: {exc}")
            continue
        mark = "*" if live is not None and path.name == live.name else " "
        print(f"{mark} {m.version}  {m.built_at}  {m.entries} entries  {m.encoder}  corpus {m.corpus_hash[:12]}")
    return 0


def cmd_use(args, settings) -> int:
    from knowledge.index import set_current

    path = Path(args.out) / "versions" / args.version
    set_current(Path(args.out), path)
    print(f"live version: {args.version} (running action servers switch within seconds)")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    from common.settings import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m knowledge", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check the corpus: schema, duplicates, near-duplicates, languages")
    p.add_argument("--corpus", default=str(settings.faq_dir))
    p.add_argument("--no-embed", action="store_true", help="skip the embedding-based near-duplicate check")
    p = sub.add_parser("build", help="embed and index the corpus as a new version (no-op if unchanged)")
    p.add_argument("--corpus", default=str(settings.faq_dir))
    p.add_argument("--out", default=str(settings.kb_dir))
    p.add_argument("--force", action="store_true", help="rebuild even if nothing changed, re-embed everything")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p = sub.add_parser("search", help="rank entries for a question")
    p.add_argument("text")
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--out", default=str(settings.kb_dir))
    p.add_argument("--language", choices=["zh", "en"], default=None)
    p = sub.add_parser("eval", help="recall and abstention on a query file (builds a temporary index)")
    p.add_argument("--corpus", default=str(settings.faq_dir))
    p.add_argument("--queries", required=True)
    p.add_argument("--json", action="store_true", help="end with one JSON object of the figures")
    p.add_argument("--sweep", action="store_true", help="also print figures for a range of answer thresholds")
    p = sub.add_parser("versions", help="list index versions (* = live)")
    p.add_argument("--out", default=str(settings.kb_dir))
    p = sub.add_parser("use", help="make VERSION the live index (rollback)")
    p.add_argument("version")
    p.add_argument("--out", default=str(settings.kb_dir))
    args = parser.parse_args(argv)
    if getattr(args, "k", 1) < 1:
        parser.error("--k must be at least 1")
    from knowledge.corpus import CorpusError
    from knowledge.encoders import EncoderError
    from knowledge.eval import QueryFileError
    from knowledge.index import KnowledgeIndexError

    handler = {"validate": cmd_validate, "build": cmd_build, "search": cmd_search, "eval": cmd_eval,
               "versions": cmd_versions, "use": cmd_use}[args.command]
    try:
        return handler(args, settings)
    except (CorpusError, EncoderError, QueryFileError, KnowledgeIndexError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
