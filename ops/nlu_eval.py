"""Intent accuracy of the trained model on our own held-out examples (tests/nlu/heldout-*.yml).

    python -m ops.nlu_eval            # print per-language figures
    python -m ops.nlu_eval --write    # also write bench/nlu/README.md and bench/nlu/results.json

Runs `rasa test nlu` (Rasa env) once over both files and splits the predictions by language file.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Dict

import yaml

from ops.paths import RASA, ROOT
from ops.training import ensure_model, rasa_env

HELDOUT = {"zh": ROOT / "tests" / "nlu" / "heldout-zh.yml", "en": ROOT / "tests" / "nlu" / "heldout-en.yml"}
BENCH_DIR = ROOT / "bench" / "nlu"
_ANNOTATION = re.compile(r"\[([^\]]+)\]\([^)]+\)")


def _examples(path: Path) -> Dict[str, str]:
    """text (annotations stripped, as Rasa reports it) -> gold intent."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    found = {}
    for block in data["nlu"]:
        if "intent" not in block:
            continue
        for line in block["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                found[_ANNOTATION.sub(r"\1", line[2:].strip())] = block["intent"]
    return found


def evaluate(model: Path, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    combined = out_dir / "heldout.yml"
    combined.write_text(
        "version: \"3.1\"\nnlu:\n" + "".join(
            "\n".join(path.read_text(encoding="utf-8").split("nlu:", 1)[1].splitlines()) + "\n"
            for path in HELDOUT.values()), encoding="utf-8")
    cmd = [str(RASA), "test", "nlu", "--model", str(model), "--nlu", str(combined),
           "--out", str(out_dir), "--successes", "--no-plot"]
    result = subprocess.run(cmd, cwd=ROOT, env=rasa_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"rasa test nlu failed ({result.returncode}):\n{result.stderr[-3000:]}")
    predictions = json.loads((out_dir / "intent_successes.json").read_text())
    errors_path = out_dir / "intent_errors.json"
    predictions += json.loads(errors_path.read_text()) if errors_path.exists() else []
    language_of = {text: lang for lang, path in HELDOUT.items() for text in _examples(path)}
    results: dict = {}
    for lang in HELDOUT:
        rows = [p for p in predictions if language_of.get(p["text"]) == lang]
        wrong = [p for p in rows if p["intent"] != p["intent_prediction"]["name"]]
        confusions = Counter(f"{p['intent']} -> {p['intent_prediction']['name']}" for p in wrong)
        results[lang] = {
            "n": len(rows),
            "accuracy": round(1 - len(wrong) / len(rows), 4) if rows else 0.0,
            "fallback": sum(p["intent_prediction"]["name"] == "nlu_fallback" for p in rows),
            "confusions": dict(confusions.most_common()),
            "errors": [{"text": p["text"], "gold": p["intent"],
                        "predicted": p["intent_prediction"]["name"],
                        "confidence": round(p["intent_prediction"]["confidence"], 3)} for p in wrong],
        }
    missing = set(language_of) - {p["text"] for p in predictions}
    if missing:
        raise RuntimeError(f"{len(missing)} held-out examples got no prediction, e.g. {sorted(missing)[:3]}")
    return results


def write_report(results: dict, model: Path, seconds: float) -> None:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    (BENCH_DIR / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    lines = [
        "# NLU intent accuracy on held-out examples",
        "",
        "Produced by `.venv/bin/python -m ops.nlu_eval --write` (the test suite checks the same "
        "evaluation against the 95 % bar in `tests/rasa/test_nlu_quality.py`).",
        "",
        f"- Model: `{model.name}` (pipeline in `config.yml`, trained from `data/nlu/`).",
        "- Held-out data: `tests/nlu/heldout-zh.yml` (Chinese, including mixed zh/en messages) and "
        "`tests/nlu/heldout-en.yml`, written separately from the training data; no sentence is shared.",
        "- A prediction of `nlu_fallback` (confidence under the FallbackClassifier threshold) counts as "
        "wrong.",
        f"- Evaluation time: {seconds:.0f} s (includes loading TensorFlow and the model).",
        "",
        "| language | examples | intent accuracy | fell to fallback |",
        "|---|---:|---:|---:|",
    ]
    for lang, r in results.items():
        lines.append(f"| {lang} | {r['n']} | {r['accuracy']:.1%} | {r['fallback']} |")
    lines += ["", "## Errors", ""]
    for lang, r in results.items():
        lines.append(f"### {lang}")
        lines.append("")
        if not r["errors"]:
            lines.append("None.")
        for e in r["errors"]:
            lines.append(f"- `{e['text']}`: {e['gold']} -> {e['predicted']} ({e['confidence']})")
        lines.append("")
    (BENCH_DIR / "README.md").write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write bench/nlu/README.md")
    args = parser.parse_args()
    model = ensure_model()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        results = evaluate(model, Path(tmp))
    seconds = time.monotonic() - started
    for lang, r in results.items():
        print(f"{lang}: accuracy {r['accuracy']:.1%} on {r['n']} examples; confusions {r['confusions']}")
    if args.write:
        write_report(results, model, seconds)
        print(f"wrote {BENCH_DIR / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
