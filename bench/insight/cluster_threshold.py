"""How well `insight.unanswered.cluster_vectors` groups messages by meaning, per threshold, measured on
CLINC150's validation queries (../shared/eval/clinc150, 150 intents; every second in-scope query, so
1,500 messages, 10 per intent, in a fixed shuffled order) with the multilingual USE encoder.

B-cubed precision / recall / F1 over messages, and purity of the clusters of 3+ messages (the ones an
editor acts on). Run: `.venv/bin/python -m bench.insight.cluster_threshold` (writes results.json)."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from insight.unanswered import cluster_vectors
from knowledge.encoders import load_encoder
from ops.paths import ROOT

QUERIES = ROOT.parent / "shared" / "eval" / "clinc150" / "queries-val.jsonl"
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75)


def bcubed(clusters, labels):
    cluster_of = {}
    for k, rows in enumerate(clusters):
        for r in rows:
            cluster_of[r] = k
    by_cluster = [Counter(labels[r] for r in rows) for rows in clusters]
    per_label = Counter(labels)
    precision = np.mean([by_cluster[cluster_of[r]][labels[r]] / len(clusters[cluster_of[r]])
                         for r in range(len(labels))])
    recall = np.mean([by_cluster[cluster_of[r]][labels[r]] / per_label[labels[r]] for r in range(len(labels))])
    return float(precision), float(recall)


def main() -> None:
    if not QUERIES.exists():
        sys.exit(f"skipped: {QUERIES} is not here (evaluation data lives beside the repo, see the developers' guide)")
    rows = [json.loads(line) for line in QUERIES.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r.get("expected")][::2]
    order = np.random.default_rng(0).permutation(len(rows))
    texts = [rows[i]["query"] for i in order]
    labels = [rows[i]["expected"] for i in order]
    vectors = load_encoder("use").encode(texts)
    results = []
    for threshold in THRESHOLDS:
        clusters = cluster_vectors(vectors, threshold)
        p, r = bcubed(clusters, labels)
        big = [c for c in clusters if len(c) >= 3]
        purity = float(np.mean([Counter(labels[i] for i in c).most_common(1)[0][1] / len(c) for c in big]))
        results.append({"threshold": threshold, "clusters": len(clusters), "clusters_3plus": len(big),
                        "bcubed_precision": round(p, 3), "bcubed_recall": round(r, 3),
                        "bcubed_f1": round(2 * p * r / (p + r), 3), "purity_3plus": round(purity, 3)})
        print(results[-1], flush=True)
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps({"messages": len(texts), "intents": len(set(labels)), "encoder": "use",
                               "results": results}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
