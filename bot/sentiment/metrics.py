"""Scores of negative-sentiment detection, as the eval CLI and bench/sentiment report them.

Negative is the positive class here: precision = of the messages flagged negative, how many were;
recall = of the negative messages, how many were flagged. The calibration rows answer the handoff
question "if we hand over at P(negative) >= c, how often is that a customer who really is upset?".
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

CUTOFFS = (0.5, 0.7, 0.8, 0.9, 0.95)


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def scores(is_negative: Sequence[bool], p_negative: Sequence[float], threshold: float) -> Dict[str, float]:
    y = np.asarray(is_negative, dtype=bool)
    flagged = np.asarray(p_negative, dtype=float) >= threshold
    tp = int((y & flagged).sum())
    fp = int((~y & flagged).sum())
    fn = int((y & ~flagged).sum())
    tn = int((~y & ~flagged).sum())
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "accuracy": _ratio(tp + tn, len(y)),
            "n": int(len(y)), "n_negative": int(y.sum()), "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def calibration(is_negative: Sequence[bool], p_negative: Sequence[float],
                cutoffs: Sequence[float] = CUTOFFS) -> List[Dict[str, float]]:
    """Per cut-off: how many messages reach it, and precision/recall of treating them as negative;
    `false_alarm_rate` = share of non-negative messages that reach it."""
    y = np.asarray(is_negative, dtype=bool)
    p = np.asarray(p_negative, dtype=float)
    rows = []
    for c in cutoffs:
        flagged = p >= c
        tp = int((y & flagged).sum())
        rows.append({"cutoff": c, "flagged": int(flagged.sum()), "precision": _ratio(tp, int(flagged.sum())),
                     "recall": _ratio(tp, int(y.sum())), "false_alarm_rate": _ratio(int((~y & flagged).sum()),
                                                                                   int((~y).sum()))})
    return rows
