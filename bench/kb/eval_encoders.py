"""Retrieval figures per encoder configuration, produced with `python -m knowledge eval --json`.

    .venv/bin/python bench/kb/eval_encoders.py [--only zh-test en-test clinc150] [--out bench/kb/results.json]

Datasets: the shop corpus (data/faq) with its held-out Chinese and English paraphrase sets
(bench/kb/queries-{zh,en}-{dev,test}.jsonl: thresholds were tuned on dev, figures are on test), and
CLINC150 from ../shared/eval/clinc150 (skipped with a message when that folder is absent).
Every configuration runs the CLI in a fresh process with CS_KB_* overrides, thresholds as configured.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "eval" / "clinc150"
DATASETS = {
    "zh-test": (ROOT / "data" / "faq", ROOT / "bench" / "kb" / "queries-zh-test.jsonl"),
    "en-test": (ROOT / "data" / "faq", ROOT / "bench" / "kb" / "queries-en-test.jsonl"),
    "clinc150": (SHARED / "corpus", SHARED / "queries-val.jsonl"),
}
CONFIGS = {
    "use": {"CS_KB_ENCODER": "use"},
    "minilm": {"CS_KB_ENCODER": "minilm"},
    "use+minilm (default)": {"CS_KB_ENCODER": "use+minilm"},
    "use+minilm, hybrid BM25 0.2": {"CS_KB_ENCODER": "use+minilm", "CS_KB_HYBRID_WEIGHT": "0.2"},
    "use+minilm, adapted 2 epochs": {"CS_KB_ENCODER": "use+minilm", "CS_KB_ADAPT_EPOCHS": "2"},
}


def run(config: dict, corpus: Path, queries: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_KB_")}
    env.update(config)
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "knowledge", "eval", "--corpus", str(corpus), "--queries",
                          str(queries), "--json"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "kb" / "results.json"))
    args = parser.parse_args()
    results = []
    for name in args.only:
        corpus, queries = DATASETS[name]
        if not queries.exists():
            print(f"skipping {name}: {queries} not found (evaluation data lives in ../shared/eval/)", file=sys.stderr)
            continue
        for label in args.configs:
            print(f"==> {name}: {label}", file=sys.stderr, flush=True)
            result = run(CONFIGS[label], corpus, queries)
            results.append({"dataset": name, "config": label, **result})
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("| dataset | encoder | recall@1 | recall@3 | MRR | abstain | false abstain | wrong answer | n |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['dataset']} | {r['config']} | {r['recall@1']:.3f} | {r['recall@3']:.3f} | {r['mrr']:.3f} | "
              f"{r['abstain_rate']:.3f} | {r['false_abstain_rate']:.3f} | {r['wrong_answer_rate']:.3f} | {r['n']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
