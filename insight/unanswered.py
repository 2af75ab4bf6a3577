"""Unanswered questions for the content editors: the customers' messages the bot could not answer,
grouped by meaning, with counts, examples and the agents' answers as drafts.

What counts as unanswered (each message once, whatever flagged it):
- `fallback`: a customer message the NLU could not classify confidently (intent nlu_fallback);
- `no_answer`: a knowledge-base lookup that found nothing good enough (query log, decision none);
- `handoff`: the customer's last question before a handoff (greetings, yes/no, "a person please"
  and order tasks are skipped: those are not gaps in the FAQ).

Grouping (`cluster_vectors`): leader clustering on cosine similarity of the sentence embeddings, most
asked texts first, then one pass that moves each message to its nearest group centre. The threshold
0.6 was chosen on CLINC150 (bench/insight/README.md): groups of 3+ messages are 91 % one intent.

Draft answers: the agents' messages of handed-off conversations that the agent closed (resolved by
people), the longest message of each; a cluster offers the drafts of its handoff messages.

A cluster disappears once the knowledge base in service answers it (`still_unanswered`): when most of
its distinct texts get the decision "answer" — e.g. after an editor turned it into an entry and
published. Everything here is pure but `collect`'s callers' reading (insight/sources.py).
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from common.language import choose_language
from insight.model import HandoffRecord, Session

THRESHOLD = 0.6
MAX_EXAMPLES = 8
MAX_DRAFTS = 3
# A handoff's last customer message is a question for the FAQ unless its intent is one of these.
NOT_QUESTIONS = frozenset({
    "greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge", "request_human", "stop",
    "ask_order_status", "ask_logistics", "request_return", "cancel_order", "inform"})
SOURCES = ("fallback", "no_answer", "handoff")


@dataclass(frozen=True)
class UnansweredMessage:
    text: str  # personal data masked by the stores
    at: float
    conversation_id: str
    source: str  # fallback | no_answer | handoff
    language: str  # zh | en
    handoff_id: Optional[int] = None


@dataclass(frozen=True)
class NoAnswerLookup:
    """A query-log row with decision "none" (insight.sources.read_no_answer_lookups)."""
    at: float
    conversation_id: str
    query: str
    language: Optional[str]


@dataclass(frozen=True)
class DraftAnswer:
    text: str
    language: str
    agent: str
    handoff_id: int


@dataclass(frozen=True)
class Cluster:
    id: str  # stable while its leading text stays the same
    count: int  # messages
    examples: Tuple[str, ...]  # distinct texts, most asked first
    languages: Mapping[str, int]
    sources: Mapping[str, int]
    draft_answers: Tuple[DraftAnswer, ...]
    first_seen: float
    last_seen: float
    texts: Tuple[str, ...] = field(default=(), repr=False)  # every distinct text, for the answered check

    def to_dict(self) -> dict:
        return {"id": self.id, "count": self.count, "examples": list(self.examples),
                "languages": dict(self.languages), "sources": dict(self.sources),
                "draft_answers": [{"text": d.text, "language": d.language, "agent": d.agent,
                                   "handoff_id": d.handoff_id} for d in self.draft_answers],
                "first_seen": self.first_seen, "last_seen": self.last_seen}


def normalise(text: str) -> str:
    """The key two messages share when they are the same question: case, spaces and end punctuation."""
    return re.sub(r"[\s?？!！.。,，~～]+", " ", text.lower()).strip()


def _language(text: str, hint: Optional[str]) -> str:
    """The message's own language; the conversation's when the text says nothing ("ok", digits)."""
    return choose_language(text, None, hint if hint in ("zh", "en") else None)


def _words(text: str) -> bool:
    """Typed words, not a button payload ("/affirm") nor blanks."""
    return bool(text.strip()) and not text.lstrip().startswith("/")


def collect(sessions: Iterable[Session], lookups: Iterable[NoAnswerLookup],
            handoffs: Iterable[HandoffRecord]) -> List[UnansweredMessage]:
    """Every unanswered message, once per conversation and text, oldest first. A message flagged in
    several ways is one message, named by the first of: handoff (it links the agent's answer),
    fallback, no_answer (a fallback message's KB lookup also finds nothing)."""
    found: Dict[Tuple[str, str], UnansweredMessage] = {}

    def add(message: UnansweredMessage) -> None:
        key = (message.conversation_id, normalise(message.text))
        if key[1] and key not in found:
            found[key] = message

    sessions = list(sessions)
    turns_of: Dict[str, list] = {}
    for session in sessions:
        turns_of.setdefault(session.conversation_id, []).extend(session.turns)
    for handoff in handoffs:
        before = [t for t in turns_of.get(handoff.conversation_id, ()) if t.at <= handoff.created_at]
        question = next((t for t in reversed(before) if t.intent not in NOT_QUESTIONS and _words(t.text)), None)
        if question is not None:
            add(UnansweredMessage(question.text.strip(), question.at, handoff.conversation_id, "handoff",
                                  _language(question.text, handoff.language), handoff.id))
    for session in sessions:
        for turn in session.turns:
            if turn.fallback and _words(turn.text):
                add(UnansweredMessage(turn.text.strip(), turn.at, session.conversation_id, "fallback",
                                      _language(turn.text, session.language)))
    for lookup in lookups:
        if _words(lookup.query):
            add(UnansweredMessage(lookup.query.strip(), lookup.at, lookup.conversation_id, "no_answer",
                                  _language(lookup.query, lookup.language)))
    return sorted(found.values(), key=lambda m: (m.at, m.conversation_id))


def cluster_vectors(vectors: np.ndarray, threshold: float = THRESHOLD) -> List[List[int]]:
    """Rows grouped by meaning: leader clustering in row order (a row joins the nearest group centre
    at cosine >= threshold, else starts a group), then one pass moving each row to its nearest centre
    (where that is >= threshold). Groups largest first; rows in order within each."""
    n = len(vectors)
    if n == 0:
        return []
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sums: List[np.ndarray] = []
    centres = np.zeros((0, v.shape[1]), dtype=np.float64)
    assign = np.empty(n, dtype=np.int64)
    for i in range(n):
        if len(sums):
            sims = centres @ v[i]
            j = int(np.argmax(sims))
            if sims[j] >= threshold:
                assign[i] = j
                sums[j] = sums[j] + v[i]
                centres[j] = sums[j] / max(np.linalg.norm(sums[j]), 1e-12)
                continue
        assign[i] = len(sums)
        sums.append(v[i].astype(np.float64))
        centres = np.vstack([centres, v[i][None].astype(np.float64)])
    sims = v @ centres.T
    best = sims.argmax(axis=1)
    assign = np.where(sims[np.arange(n), best] >= threshold, best, assign)
    groups: Dict[int, List[int]] = {}
    for row, group in enumerate(assign):
        groups.setdefault(int(group), []).append(row)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


def drafts_from(agent_messages: Mapping[int, Sequence[Tuple[str, str]]],
                languages: Mapping[int, str]) -> Dict[int, DraftAnswer]:
    """handoff id -> its draft answer: the longest message its agent wrote. `agent_messages`: handoff
    id -> [(agent id, text)] of conversations the agent closed; `languages`: handoff id -> language."""
    drafts: Dict[int, DraftAnswer] = {}
    for handoff_id, messages in agent_messages.items():
        texts = [(agent, text.strip()) for agent, text in messages if text and text.strip()]
        if texts:
            agent, text = max(texts, key=lambda m: len(m[1]))
            drafts[handoff_id] = DraftAnswer(text, _language(text, languages.get(handoff_id)), agent or "",
                                             handoff_id)
    return drafts


def _cluster_id(leading: str) -> str:
    return "c-" + hashlib.sha256(normalise(leading).encode("utf-8")).hexdigest()[:12]


def build_clusters(messages: Sequence[UnansweredMessage], embed: Callable[[Sequence[str]], np.ndarray],
                   drafts: Mapping[int, DraftAnswer] = {}, threshold: float = THRESHOLD) -> List[Cluster]:
    """Group the messages by meaning (distinct texts are embedded once, most asked first)."""
    if not messages:
        return []
    by_text: Dict[str, List[UnansweredMessage]] = {}
    for message in messages:
        by_text.setdefault(normalise(message.text), []).append(message)
    keys = sorted(by_text, key=lambda k: (-len(by_text[k]), by_text[k][0].at))
    shown = [by_text[k][0].text for k in keys]
    groups = cluster_vectors(np.asarray(embed(shown), dtype=np.float32), threshold)
    clusters = []
    for rows in groups:
        members = [m for r in rows for m in by_text[keys[r]]]
        rows = sorted(rows, key=lambda r: (-len(by_text[keys[r]]), r))
        handoff_drafts = []
        for m in sorted(members, key=lambda m: -m.at):
            draft = drafts.get(m.handoff_id) if m.handoff_id is not None else None
            if draft is not None and draft.text not in {d.text for d in handoff_drafts}:
                handoff_drafts.append(draft)
        clusters.append(Cluster(
            id=_cluster_id(shown[rows[0]]), count=len(members),
            examples=tuple(shown[r] for r in rows[:MAX_EXAMPLES]),
            languages=dict(Counter(m.language for m in members)),
            sources={s: n for s, n in Counter(m.source for m in members).items()},
            draft_answers=tuple(handoff_drafts[:MAX_DRAFTS]),
            first_seen=min(m.at for m in members), last_seen=max(m.at for m in members),
            texts=tuple(shown[r] for r in rows)))
    return sorted(clusters, key=lambda c: (-c.count, -c.last_seen))


def still_unanswered(clusters: Sequence[Cluster], answers: Callable[[Sequence[str]], Sequence[bool]]
                     ) -> List[Cluster]:
    """The clusters the knowledge base in service does not answer yet: `answers(texts)` says, per text,
    whether the knowledge base now answers it directly; a cluster goes when most of its texts are."""
    texts = [t for c in clusters for t in c.texts]
    if not texts:
        return list(clusters)
    answered = dict(zip(texts, answers(texts), strict=True))
    return [c for c in clusters if sum(answered[t] for t in c.texts) * 2 <= len(c.texts)]
