"""The retrieval regression gate of a publish: the candidate index must answer the KB's own dev
queries (bench/kb/queries-{zh,en}-dev.jsonl) about as well as the version in service.

Refused when recall@1 drops, or the wrong-answer rate rises, by more than a margin against the
version in service, or when either crosses an absolute floor. Defaults (common/settings.py), for the
204 answerable + 60 unanswerable dev queries, where the shop corpus measures recall@1 0.927 and wrong
answers 0.044 (use+minilm):
- margins 0.02 (about 4 of 204 queries): an ordinary edit moves a query or two; an entry that
  steals other entries' questions moves many;
- floors recall@1 >= 0.85 and wrong answers <= 0.08: well below / above today's figures, a corpus
  past them is broken whatever it is compared with (and the first publish has nothing to compare with).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from knowledge.eval import Query, Report, load_queries, score
from knowledge.search import KnowledgeBase, Thresholds


@dataclass(frozen=True)
class GateConfig:
    queries: Tuple[Path, ...]
    recall_margin: float = 0.02
    wrong_margin: float = 0.02
    min_recall: float = 0.85
    max_wrong: float = 0.08


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: Tuple[str, ...]
    candidate: Report
    baseline: Optional[Report]
    missing_ids: Tuple[str, ...]   # entries the queries expect that the candidate corpus lacks

    def as_json(self) -> dict:
        return {"passed": self.passed, "reasons": list(self.reasons), "candidate": self.candidate.as_json(),
                "baseline": self.baseline.as_json() if self.baseline else None,
                "missing_ids": list(self.missing_ids)}


def load_regression_set(paths: Sequence[Path]) -> List[Query]:
    """All queries of the files; expected ids are not checked against a corpus here (an entry removed
    since the set was written counts as a miss, and is named)."""
    return [q for path in paths for q in load_queries(Path(path))]


def evaluate(kb: KnowledgeBase, queries: Sequence[Query], thresholds: Thresholds) -> Report:
    return score(queries, kb.search_many([q.text for q in queries], k=10), thresholds)


def judge(candidate: Report, baseline: Optional[Report], config: GateConfig,
          missing_ids: Sequence[str] = ()) -> GateResult:
    """Pure: whether the candidate's figures may go live."""
    reasons: List[str] = []
    if candidate.recall_at_1 < config.min_recall:
        reasons.append(f"recall@1 {candidate.recall_at_1:.3f} is below the floor {config.min_recall:.2f}")
    if candidate.wrong_answer_rate > config.max_wrong:
        reasons.append(f"wrong-answer rate {candidate.wrong_answer_rate:.3f} is above the ceiling "
                       f"{config.max_wrong:.2f}")
    if baseline is not None:
        drop = baseline.recall_at_1 - candidate.recall_at_1
        if drop > config.recall_margin + 1e-9:
            reasons.append(f"recall@1 falls from {baseline.recall_at_1:.3f} to {candidate.recall_at_1:.3f} "
                           f"(more than the allowed {config.recall_margin:.2f})")
        rise = candidate.wrong_answer_rate - baseline.wrong_answer_rate
        if rise > config.wrong_margin + 1e-9:
            reasons.append(f"wrong-answer rate rises from {baseline.wrong_answer_rate:.3f} to "
                           f"{candidate.wrong_answer_rate:.3f} (more than the allowed {config.wrong_margin:.2f})")
    if reasons and missing_ids:
        reasons.append(f"the regression set expects entries that are not in the corpus: {', '.join(missing_ids)}")
    return GateResult(not reasons, tuple(reasons), candidate, baseline, tuple(missing_ids))


def report_json(report: Optional[Report]) -> Optional[dict]:
    return asdict(report) if report else None
