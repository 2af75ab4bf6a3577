"""Knowledge-base scale figures: build time, search latency (p50/p99) and memory at 1k/10k/100k entries.

    .venv/bin/python bench/kb/scale.py [--sizes 1000 10000 100000] [--out bench/kb/scale.json]

Each size runs in a fresh process (clean memory figures) with the configured encoder and build options
(CS_KB_* settings), on a synthetic corpus (bench/kb/synth.py). Latency is one query per call, as the
action server does it, measured after a warm-up.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one(n: int) -> dict:
    from bench.kb.synth import write
    from common.settings import Settings
    from knowledge.corpus import load_corpus
    from knowledge.index import build_index

    settings = Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="kb-scale-") as tmp:
        corpus = write(n, Path(tmp) / "faq")
        entries = load_corpus(corpus.parent)
        # load the encoders first, so build time is embedding + indexing, not model loading
        from knowledge.encoders import load_encoder, spec_parts

        for part in spec_parts(settings.kb_encoder):
            load_encoder(part).encode(["warm-up"])
        started = time.monotonic()
        result = build_index(entries, Path(tmp) / "kb", settings.kb_build_options)
        build_seconds = time.monotonic() - started
        index_mb = sum(p.stat().st_size for p in result.path.iterdir() if p.is_file()) / 2**20
        # serve from a fresh process, as the action server would: clean memory and latency figures
        out = subprocess.run([sys.executable, __file__, "--serve", str(result.path), str(corpus.parent)],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        served = json.loads(out.stdout.strip().splitlines()[-1])
        return {"entries": n, "rows": result.manifest.rows, "index_type": result.manifest.index_type,
                "head": result.manifest.head, "encoder": result.manifest.encoder,
                "build_seconds": round(build_seconds, 1), "index_files_mb": round(index_mb, 1), **served}


def serve(path: Path, corpus: Path) -> dict:
    from common.settings import Settings
    from knowledge.corpus import load_corpus
    from knowledge.encoders import serving_mode
    from knowledge.index import IndexVersion
    from knowledge.search import KnowledgeBase

    serving_mode()  # as in the action server
    settings = Settings.from_env()
    entries = load_corpus(corpus)
    from knowledge.encoders import load_encoder

    encoder = load_encoder(settings.kb_encoder)  # not adapted: the default build options
    encoder.encode(["warm-up"])
    before = rss_mb()
    version = IndexVersion.open(path)  # measured: the index itself, encoders already resident
    kb = KnowledgeBase(version, encoder, settings.kb_hybrid_weight)
    loaded = rss_mb()
    rng = random.Random(3)
    queries = []
    for entry in rng.sample(entries, 300):
        words = rng.choice(entry.questions).split()
        queries.append(" ".join(words[:-1]) if len(words) > 2 else words[0][:-1])
    for q in queries[:20]:
        kb.search(q)
    from knowledge.encoders import has_cjk

    timings = {"zh": [], "en": []}  # Chinese queries skip the English-only encoder: report them apart
    for q in queries:
        t = time.perf_counter()
        kb.search(q, k=3)
        timings["zh" if has_cjk(q) else "en"].append(1000 * (time.perf_counter() - t))
    result = {"loaded_index_rss_mb": round(loaded - before, 1), "process_rss_mb": round(loaded, 1)}
    for language, values in timings.items():
        values.sort()
        result[f"search_{language}_p50_ms"] = round(statistics.median(values), 2)
        result[f"search_{language}_p99_ms"] = round(values[int(0.99 * (len(values) - 1))], 2)
        result[f"queries_{language}"] = len(values)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--out", default=str(ROOT / "bench" / "kb" / "scale.json"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        print(json.dumps(serve(Path(args.serve[0]), Path(args.serve[1]))))
        return 0
    if args.one:
        print(json.dumps(one(args.one)))
        return 0
    results = []
    for n in args.sizes:
        print(f"==> {n} entries", file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            return 1
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("| entries | rows | index | build s | search zh p50 / p99 ms | search en p50 / p99 ms | index files MB "
          "| RSS of loaded index MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['entries']:,} | {r['rows']:,} | {r['index_type']}{' + classifier' if r['head'] else ''} | "
              f"{r['build_seconds']} | {r['search_zh_p50_ms']} / {r['search_zh_p99_ms']} | "
              f"{r['search_en_p50_ms']} / {r['search_en_p99_ms']} | {r['index_files_mb']} | "
              f"{r['loaded_index_rss_mb']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
