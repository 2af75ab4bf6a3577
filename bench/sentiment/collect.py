"""Run the sentiment eval CLI on the benchmark sets and write bench/sentiment/results.json.

    .venv-rasa/bin/python bench/sentiment/collect.py

Each set is evaluated by `python -m bot.sentiment eval --data FILE --json` in the Rasa env, exactly
as a person would run it; the review dev splits are read from ../shared/eval/sentiment/ when present
(evaluation only: they are never trained on).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SHARED = ROOT.parent / "shared" / "eval" / "sentiment"
SETS = {
    "cs-messages": ROOT / "bench" / "sentiment" / "cs-messages.jsonl",
    "waimai_10k-dev": SHARED / "waimai_10k-dev.jsonl",
    "online_shopping_10_cats-dev": SHARED / "online_shopping_10_cats-dev.jsonl",
}
PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


def main() -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    results = {}
    for name, path in SETS.items():
        if not path.exists():
            print(f"skipping {name}: {path} not found", file=sys.stderr)
            continue
        out = subprocess.run([str(PYTHON), "-m", "bot.sentiment", "eval", "--data", str(path), "--json"],
                             cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        report = json.loads(out.stdout.strip().splitlines()[-1])
        report["file"] = os.path.relpath(path, ROOT)
        results[name] = report
        print(f"{name}: P {report['precision']:.3f} R {report['recall']:.3f} F1 {report['f1']:.3f}", file=sys.stderr)
    (ROOT / "bench" / "sentiment" / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False)
                                                               + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
