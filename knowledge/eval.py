"""Retrieval evaluation: recall@1/3, MRR, and how well the thresholds abstain.

Queries are JSON Lines, one ``{"query": "...", "expected": "<entry id>" | null}`` per line; null means no
entry answers the query and the right behaviour is not to answer it.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

from knowledge.search import Hit, Thresholds, decide


class QueryFileError(ValueError):
    pass


@dataclass(frozen=True)
class Query:
    text: str
    expected: Optional[str]


@dataclass(frozen=True)
class Report:
    n: int
    answerable: int
    unanswerable: int
    recall_at_1: float
    recall_at_3: float
    mrr: float
    abstain_rate: float          # unanswerable queries not answered directly
    false_abstain_rate: float    # answerable queries not answered directly (suggested or no answer)
    wrong_answer_rate: float     # answerable queries answered directly with the wrong entry
    suggest_rate: float          # all queries that got suggestions instead of an answer

    def as_json(self) -> dict:
        data = asdict(self)
        data["recall@1"] = data.pop("recall_at_1")
        data["recall@3"] = data.pop("recall_at_3")
        return data


def load_queries(path: Path, known_ids: Optional[Iterable[str]] = None) -> List[Query]:
    known = set(known_ids) if known_ids is not None else None
    queries = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryFileError(f"{path}: cannot read ({exc})") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise QueryFileError(f"{path}:{number}: not JSON ({exc.args[0]})") from None
        if not isinstance(item, dict) or not isinstance(item.get("query"), str) or not item["query"].strip():
            raise QueryFileError(f"{path}:{number}: expected {{\"query\": text, \"expected\": id or null}}")
        expected = item.get("expected")
        if expected is not None and not isinstance(expected, str):
            raise QueryFileError(f"{path}:{number}: expected must be an entry id or null")
        if known is not None and expected is not None and expected not in known:
            raise QueryFileError(f"{path}:{number}: expected id {expected!r} is not in the corpus")
        queries.append(Query(item["query"], expected))
    if not queries:
        raise QueryFileError(f"{path}: no queries")
    return queries


def score(queries: Sequence[Query], results: Sequence[Sequence[Hit]], thresholds: Thresholds) -> Report:
    """Pure: the report for ranked hits (at least the top 3 per query, best first)."""
    answerable = [(q, hits) for q, hits in zip(queries, results, strict=True) if q.expected is not None]
    unanswerable = [(q, hits) for q, hits in zip(queries, results, strict=True) if q.expected is None]
    r1 = r3 = rr = false_abstain = wrong = 0.0
    suggested = 0
    for q, hits in answerable:
        ids = [h.entry.id for h in hits]
        if q.expected in ids:
            rank = ids.index(q.expected) + 1
            r1 += rank == 1
            r3 += rank <= 3
            rr += 1.0 / rank
        decision = decide(hits, thresholds)
        false_abstain += decision.kind != "answer"
        wrong += decision.kind == "answer" and ids[0] != q.expected
        suggested += decision.kind == "suggest"
    abstained = 0
    for _, hits in unanswerable:
        decision = decide(hits, thresholds)
        abstained += decision.kind != "answer"
        suggested += decision.kind == "suggest"

    def ratio(x: float, n: int) -> float:
        return round(x / n, 4) if n else 0.0

    n_a, n_u = len(answerable), len(unanswerable)
    return Report(n=len(queries), answerable=n_a, unanswerable=n_u, recall_at_1=ratio(r1, n_a),
                  recall_at_3=ratio(r3, n_a), mrr=ratio(rr, n_a), abstain_rate=ratio(abstained, n_u),
                  false_abstain_rate=ratio(false_abstain, n_a), wrong_answer_rate=ratio(wrong, n_a),
                  suggest_rate=ratio(suggested, len(queries)))


def sweep(queries: Sequence[Query], results: Sequence[Sequence[Hit]], suggest: float,
          steps: Iterable[float]) -> List[tuple]:
    """(answer threshold, abstain_rate, false_abstain_rate, wrong_answer_rate) for each candidate threshold."""
    rows = []
    for answer in steps:
        report = score(queries, results, Thresholds(answer=answer, suggest=min(suggest, answer)))
        rows.append((round(answer, 3), report.abstain_rate, report.false_abstain_rate, report.wrong_answer_rate))
    return rows
