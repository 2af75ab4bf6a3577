"""Corpus checks for editors: schema (knowledge/corpus.py), duplicates, near-duplicates, languages.

Errors stop a build or publish; warnings are shown and allowed. Every problem carries file:line.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from knowledge.corpus import FaqEntry, Problem, read_corpus

NEAR_DUPLICATE = 0.95  # cosine similarity above which two entries' questions mean the same thing
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def question_key(text: str) -> str:
    """Equal keys = the same question (case, width, spaces and punctuation ignored)."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).lower())


def duplicate_questions(entries: Sequence[FaqEntry]) -> List[Problem]:
    problems: List[Problem] = []
    first: Dict[str, Tuple[FaqEntry, int]] = {}
    for entry in entries:
        for i, question in enumerate(entry.questions):
            line = entry.question_lines[i] if i < len(entry.question_lines) else entry.line
            key = question_key(question)
            if key not in first:
                first[key] = (entry, line)
                continue
            other, other_line = first[key]
            if other.id == entry.id:
                problems.append(Problem("warning", entry.source, line,
                                        f"entry {entry.id!r}: question {question!r} is listed twice"))
            else:
                problems.append(Problem("error", entry.source, line,
                                        f"entry {entry.id!r}: question {question!r} also belongs to "
                                        f"{other.id!r} ({other.source}:{other_line}); a question must "
                                        "lead to one answer"))
    return problems


def near_duplicates(entries: Sequence[FaqEntry], vectors: np.ndarray,
                    threshold: float = NEAR_DUPLICATE) -> List[Problem]:
    """Questions of different entries whose embeddings are nearly the same (exact copies excluded)."""
    import faiss

    rows = [(e, i) for e in entries for i in range(len(e.questions))]
    if len(rows) < 2:
        return []
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    # enough neighbours that an entry's own (similar) phrasings cannot hide another entry's near-copy
    sims, neighbours = index.search(np.ascontiguousarray(vectors, dtype=np.float32), min(32, len(rows)))
    problems, reported = [], set()
    for r, (entry, i) in enumerate(rows):
        for sim, n in zip(sims[r], neighbours[r], strict=True):
            if n < 0 or n == r or sim < threshold:
                continue
            other, j = rows[n]
            if other.id == entry.id or question_key(entry.questions[i]) == question_key(other.questions[j]):
                continue
            pair = tuple(sorted([(entry.id, i), (other.id, j)]))
            if pair in reported:
                continue
            reported.add(pair)
            line = entry.question_lines[i] if i < len(entry.question_lines) else entry.line
            problems.append(Problem(
                "warning", entry.source, line,
                f"entry {entry.id!r}: question {entry.questions[i]!r} is nearly the same as "
                f"{other.questions[j]!r} of {other.id!r} ({other.source}), similarity {sim:.2f}; customers "
                "asking it may get either answer"))
    return problems


def validate_corpus(directory: Path, encoder_spec: Optional[str] = None) -> List[Problem]:
    entries, problems = read_corpus(Path(directory))
    problems = problems + duplicate_questions(entries)
    if encoder_spec and entries:
        from knowledge.encoders import load_encoder, spec_parts

        # The first (multilingual) part: an English-only part maps all Chinese text close together.
        encoder = load_encoder(spec_parts(encoder_spec)[0])
        vectors = encoder.encode([q for e in entries for q in e.questions])
        problems += near_duplicates(entries, vectors)
    return sorted(problems, key=lambda p: (p.level != "error", p.file, p.line))
