"""Command line: evaluate, train or try the sentiment classifier (run in the Rasa env, from the repo root).

    .venv-rasa/bin/python -m bot.sentiment eval --data FILE.jsonl [--json] [--threshold 0.5]
    .venv-rasa/bin/python -m bot.sentiment train
    .venv-rasa/bin/python -m bot.sentiment predict "我的订单到哪了" "this is a scam"

`eval` trains from data/sentiment/ (or takes the cached model from var/sentiment/), predicts every
line of FILE ({"text": ..., "label": "negative"|"positive"|"neutral"}; neutral and positive both
count as not negative) and scores negative detection. Progress goes to stderr; with --json the last
line of stdout is one JSON object. Bad input exits with code 2 and one line saying what is wrong.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

from bot.sentiment.classifier import LABELS, NEGATIVE, SentimentClassifier, TrainParams
from bot.sentiment.data import DataError, read_jsonl
from bot.sentiment.metrics import calibration, scores
from bot.sentiment.training import DEFAULT_CACHE_DIR, DEFAULT_DATA_DIR, fingerprint, load_or_train

_SINGLE_TIMING_SAMPLE = 50


def _progress(message: str) -> None:
    print(f"[sentiment] {message}", file=sys.stderr, flush=True)


def _classifier(args: argparse.Namespace) -> tuple[SentimentClassifier, bool]:
    params = TrainParams(threshold=args.threshold) if args.threshold is not None else TrainParams()
    return load_or_train(Path(args.data_dir), Path(args.cache_dir), params, _progress)


def cmd_eval(args: argparse.Namespace) -> int:
    examples = read_jsonl(Path(args.data), LABELS)  # checked before the (slow) training
    clf, cached = _classifier(args)
    texts = [e.text for e in examples]
    _progress(f"predicting {len(texts)} messages from {args.data}")
    started = time.perf_counter()
    results = clf.predict(texts)
    batch_ms = (time.perf_counter() - started) * 1000 / len(texts)
    sample = texts[:_SINGLE_TIMING_SAMPLE]
    started = time.perf_counter()
    for text in sample:
        clf.predict([text])
    single_ms = (time.perf_counter() - started) * 1000 / len(sample)

    is_negative = [e.label == NEGATIVE for e in examples]
    p_negative = [r.negative for r in results]
    report = {"file": args.data, **scores(is_negative, p_negative, clf.params.threshold),
              "threshold": clf.params.threshold, "calibration": calibration(is_negative, p_negative),
              "ms_per_message_batch": round(batch_ms, 2), "ms_per_message_single": round(single_ms, 2),
              "model": fingerprint(Path(args.data_dir), clf.params), "cached_model": cached}
    if args.errors:
        wrong = [(e, r) for e, r in zip(examples, results, strict=True)
                 if (e.label == NEGATIVE) != (r.label == NEGATIVE)]
        wrong.sort(key=lambda er: -abs(er[1].negative - 0.5))
        report["errors"] = [{"text": e.text, "label": e.label, "negative": round(r.negative, 3)}
                            for e, r in wrong[:args.errors]]
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        _print_table(report)
    return 0


def _print_table(report: dict) -> None:
    print(f"{report['file']}: {report['n']} messages, {report['n_negative']} negative, "
          f"threshold {report['threshold']}")
    print(f"  precision {report['precision']:.3f}  recall {report['recall']:.3f}  F1 {report['f1']:.3f}  "
          f"accuracy {report['accuracy']:.3f}   (tp {report['tp']} fp {report['fp']} fn {report['fn']} "
          f"tn {report['tn']})")
    print(f"  {report['ms_per_message_single']:.1f} ms per message one at a time, "
          f"{report['ms_per_message_batch']:.1f} ms in batches")
    print("  P(negative) >=   flagged   precision   recall   false alarms")
    for row in report["calibration"]:
        print(f"  {row['cutoff']:>13.2f}   {row['flagged']:>7}   {row['precision']:>9.3f}   {row['recall']:>6.3f}"
              f"   {row['false_alarm_rate']:>12.3f}")
    for err in report.get("errors", []):
        print(f"  {err['label']:>8} P(neg)={err['negative']:.3f}  {err['text'][:100]}")


def cmd_train(args: argparse.Namespace) -> int:
    clf, cached = _classifier(args)
    if args.out:
        clf.save(Path(args.out))
        _progress(f"saved to {args.out}")
    print(json.dumps({"model": fingerprint(Path(args.data_dir), clf.params), "cached_model": cached, **clf.info}))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    clf, _ = _classifier(args)
    for text, result in zip(args.texts, clf.predict(args.texts), strict=True):
        if args.json:
            print(json.dumps({"text": text, **result.as_dict()}, ensure_ascii=False))
        else:
            print(f"{result.label:>8}  P(neg)={result.negative:.3f}  score={result.score:+.3f}  {text}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot.sentiment", description=__doc__.split("\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="training data (default: %(default)s)")
    common.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR), help="trained models (default: %(default)s)")
    common.add_argument("--threshold", type=float, default=None,
                        help=f"P(negative) cut-off for the label (default {TrainParams().threshold})")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("eval", parents=[common], help="score negative detection on a JSONL file")
    e.add_argument("--data", required=True, help="JSON Lines of {\"text\", \"label\"}")
    e.add_argument("--json", action="store_true", help="print one JSON object (last line of stdout)")
    e.add_argument("--errors", type=int, default=0, metavar="N", help="also list the N most confident errors")
    e.set_defaults(fn=cmd_eval)
    t = sub.add_parser("train", parents=[common], help="train (or find in the cache) and report")
    t.add_argument("--out", help="also save the model to this directory")
    t.set_defaults(fn=cmd_train)
    r = sub.add_parser("predict", parents=[common], help="classify the given texts")
    r.add_argument("texts", nargs="+")
    r.add_argument("--json", action="store_true")
    r.set_defaults(fn=cmd_predict)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        print("error: --threshold must be between 0 and 1", file=sys.stderr)
        return 2
    try:
        return args.fn(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
