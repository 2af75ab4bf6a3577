"""Agent assist: what the console shows beside a conversation while an agent handles it.

- Knowledge-base suggestions for the customer's latest message: the top answers of the published
  knowledge base (the one the editors' previewer holds: one loaded index per process), with the
  confidence and the decision the bot would take, the answer in the conversation's language.
- The customer's order context: their latest orders with status, the latest logistics event and the
  open after-sales requests, through the configured order backend; customers are identified by the
  conversation's verified customer id only; phone numbers and free text masked like the summary.
- A sentiment alert: the summary's per-turn sentiment (before the handoff) followed by the relayed
  messages' P(negative) (the same classifier as the NLU pipeline, bot/sentiment, cached model only);
  the alert fires by the handoff triggers' own rule and thresholds (common/handoff_triggers.py:
  one strongly negative message, or several negative ones in a row), with a de-escalation hint in
  both console languages.

Everything here but `order_context` is synchronous and blocking (encoders, FAISS, classifier): the web
layer (handoff/assist_api.py) runs it in one worker thread.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from common.handoff_triggers import TriggerConfig, negative_probability, sentiment_trigger
from common.language import pick
from common.masking import mask_phone, mask_pii

logger = logging.getLogger(__name__)

SUGGESTIONS = 3
DEFAULT_TRIGGERS = TriggerConfig()
RECENT = 5  # customer messages whose sentiment is shown (the rule looks at the last trend_turns)
ORDERS = 3

HINTS = {
    "strong": {
        "zh": "客户情绪很激动：先真诚致歉并复述对方的问题，说明你会亲自跟进；避免辩解和模板化措辞，"
              "给出明确的下一步和时间。",
        "en": "The customer is very upset: apologise sincerely and restate their problem first, say you will "
              "see it through yourself; avoid arguing and stock phrases; give a clear next step and a time.",
    },
    "trend": {
        "zh": "客户连续几条消息都不满意：停下来确认对方最在意的是什么，表示理解，再给出具体的解决方案"
              "或补偿选项，必要时请主管协助。",
        "en": "Several unhappy messages in a row: pause and check what matters most to them, acknowledge it, "
              "then offer a concrete fix or options; bring in a supervisor if needed.",
    },
}


# --- sentiment --------------------------------------------------------------------------------------
def summary_negatives(summary: Optional[dict]) -> List[Optional[float]]:
    """P(negative) per customer message before the handoff, from the summary's sentiment scores (-1..1)."""
    values = (summary or {}).get("sentiment") or []
    out: List[Optional[float]] = []
    for v in values:
        out.append(negative_probability({"sentiment": {"score": v}}) if isinstance(v, (int, float))
                   and not isinstance(v, bool) else None)
    return out


def sentiment_state(negatives: Sequence[Optional[float]], config: TriggerConfig = DEFAULT_TRIGGERS) -> dict:
    """The alert for a sequence of P(negative), oldest first (the summary's, then the relayed messages').

    Pure. The rule is the handoff trigger's (`sentiment_trigger`): the latest message at or above the
    strong threshold, or the last `trend_turns` all at or above the trend level."""
    negatives = list(negatives)
    latest = negatives[-1] if negatives else None
    rule = None
    if sentiment_trigger(negatives, config, strong=True):
        rule = "strong" if latest is not None and latest >= config.strong else "trend"
    level = ("unknown" if latest is None else "negative" if latest >= config.trend_level
             else "neutral" if latest >= 0.3 else "calm")
    return {"alert": rule is not None, "rule": rule, "level": level,
            "latest": None if latest is None else round(latest, 3),
            "recent": [None if p is None else round(p, 3) for p in negatives[-RECENT:]],
            "thresholds": {"strong": config.strong, "trend_level": config.trend_level,
                           "trend_turns": config.trend_turns},
            "hint": dict(HINTS[rule]) if rule else None}


class SentimentScorer:
    """P(negative) of texts with the NLU pipeline's classifier (bot/sentiment), from its cache only:
    training (minutes) never happens in the handoff service; without a cached model, scores are None."""

    def __init__(self, cache_dir=None, data_dir=None) -> None:
        self.cache_dir = cache_dir
        self.data_dir = data_dir
        self._clf = None
        self._encoder = None
        self._tried = False
        self._lock = threading.Lock()

    def _load(self) -> bool:
        with self._lock:
            if self._tried:
                return self._clf is not None
            self._tried = True
            try:
                from bot.sentiment.classifier import SentimentClassifier, TrainParams
                from bot.sentiment.training import DEFAULT_CACHE_DIR, DEFAULT_DATA_DIR, fingerprint
                from knowledge.encoders import load_encoder

                entry = (self.cache_dir or DEFAULT_CACHE_DIR) / fingerprint(self.data_dir or DEFAULT_DATA_DIR,
                                                                            TrainParams())
                if not SentimentClassifier.exists(entry):
                    logger.warning("no trained sentiment model in the cache: relayed messages get no sentiment",
                                   extra={"path": str(entry)})
                    return False
                self._clf = SentimentClassifier.load(entry)
                # the knowledge base's USE instance (shared, loaded once; BLAS thread scans switched off)
                self._encoder = load_encoder("use")
            except Exception:  # noqa: BLE001 - assist goes on without sentiment
                logger.exception("sentiment classifier unavailable")
                self._clf = None
            return self._clf is not None

    def __call__(self, texts: Sequence[str]) -> List[Optional[float]]:
        if not texts:
            return []
        if not self._load():
            return [None] * len(texts)
        vectors = self._encoder.encode(list(texts))
        return [r.negative for r in self._clf.predict(list(texts), embeddings=vectors)]


# --- knowledge base --------------------------------------------------------------------------------
def suggestions(kb, text: str, language: str, thresholds, k: int = SUGGESTIONS) -> dict:
    """The top `k` answers for the text, best first: entry id, the phrasing matched, the answer in the
    conversation's language, confidence, and what the bot would decide (answer / suggest / none)."""
    from knowledge.search import decide

    if kb is None:
        return {"version": None, "decision": "none", "items": [], "available": False}
    hits = kb.search(text, k=k) if text.strip() else []
    decision = decide(hits, thresholds)
    items = []
    for h in hits:
        strength = ("answer" if h.confidence >= thresholds.answer else "suggest" if h.confidence >= thresholds.suggest
                    else "weak")
        items.append({"id": h.entry.id, "question": h.question, "answer": pick(h.entry.answer, language),
                      "confidence": round(h.confidence, 3), "strength": strength,
                      "category": getattr(h.entry, "category", None)})
    return {"version": kb.name, "decision": decision.kind, "items": items, "available": True}


# --- orders ---------------------------------------------------------------------------------------
def mask_name(name: str) -> str:
    """'张丽' -> '张*', 'Ben Dubois' -> 'Ben D.': enough to greet, not to identify."""
    name = (name or "").strip()
    if not name:
        return ""
    if " " in name:
        first, *rest = name.split()
        return f"{first} {rest[-1][0]}."
    return name[0] + "*" * (len(name) - 1)


def _iso(value) -> Optional[str]:
    return value.isoformat() if value is not None else None


def order_view(order, events: Sequence, requests: Sequence) -> dict:
    """One order as the assist panel shows it (pure): status, items (both languages), total, dates, the
    latest parcel event and the open after-sales requests; no address, free text masked."""
    latest = events[-1] if events else None
    return {
        "number": order.number, "status": order.status, "total_fen": order.total,
        "created_at": _iso(order.created_at), "shipped_at": _iso(order.shipped_at),
        "delivered_at": _iso(order.delivered_at),
        "items": [{"sku": i.sku, "name": {"zh": i.name_zh, "en": i.name_en}, "quantity": i.quantity}
                  for i in order.items],
        "carrier": order.carrier, "tracking_number": order.tracking_number,
        "logistics": None if latest is None else {
            "time": _iso(latest.time), "code": latest.code, "location": mask_pii(latest.location),
            "description": {"zh": mask_pii(latest.description_zh), "en": mask_pii(latest.description_en)}},
        "after_sales": [{"number": r.number, "sku": r.sku, "type": r.type, "reason": r.reason, "state": r.state,
                         "created_at": _iso(r.created_at), "note": mask_pii(r.note)}
                        for r in requests if r.state in ("open", "approved")],
    }


async def order_context(backend, customer_id: Optional[str], limit: int = ORDERS,
                        request_id: str = "") -> dict:
    """The verified customer's latest orders through the order backend. Never raises: an unverified
    customer or an order system that is down is a state the panel shows."""
    from orders.backend import OrderBackendError

    if not customer_id:
        return {"status": "unverified", "customer": None, "orders": []}
    if backend is None:
        return {"status": "unavailable", "customer": None, "orders": []}
    try:
        customer = await backend.get_customer(customer_id, request_id=request_id)
        orders = await backend.recent_orders(customer_id, limit, request_id=request_id)
        views = []
        for order in orders:
            events = await backend.logistics(order.number, request_id=request_id) if order.shipped_at else []
            requests = await backend.after_sales_requests(order.number, request_id=request_id)
            views.append(order_view(order, events, requests))
    except OrderBackendError as exc:
        logger.warning("order context unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
        return {"status": "unavailable", "customer": None, "orders": []}
    return {"status": "ok" if customer is not None or views else "unknown_customer",
            "customer": None if customer is None else {
                "id": customer.id, "name": mask_name(customer.name), "phone": mask_phone(customer.phone),
                "tier": customer.tier},
            "orders": views}


# --- the whole picture ------------------------------------------------------------------------------
def latest_customer_text(messages: Sequence, summary: Optional[dict]) -> Tuple[str, Optional[int]]:
    """The customer's latest words: their last relayed message (text, message id), else the last
    customer line of the bot transcript in the summary (masked there; id None)."""
    for m in reversed(list(messages)):
        if m.direction == "customer" and (m.text or "").strip():
            return m.text, m.id
    for line in reversed((summary or {}).get("transcript") or []):
        if isinstance(line, dict) and line.get("role") == "customer" and str(line.get("text") or "").strip():
            return str(line["text"]), None
    return "", None


class Assistant:
    """Suggestions and sentiment for a conversation (blocking: call from a worker thread).

    `published()`: the knowledge base of the CURRENT version (the editors' Previewer.published);
    `score(texts)`: P(negative) per text (SentimentScorer). P(negative) of relayed messages is kept per
    message id (bounded), so each message is scored once."""

    def __init__(self, published: Callable[[], object], thresholds, triggers: TriggerConfig = DEFAULT_TRIGGERS,
                 score: Optional[Callable[[Sequence[str]], List[Optional[float]]]] = None,
                 cache_size: int = 20000) -> None:
        self.published = published
        self.thresholds = thresholds
        self.triggers = triggers
        self.score = score or SentimentScorer()
        self._scores: "OrderedDict[int, Optional[float]]" = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._kb_lock = threading.Lock()

    def warm(self) -> None:
        """Load the knowledge base, encoders and classifier now rather than on the first message."""
        started = time.perf_counter()
        with self._kb_lock:
            kb = self.published()
        if kb is None:  # nothing published (a fresh install, most tests): load on the first message instead
            return
        kb.search("warm up", k=1)
        self.score(["warm up"])
        logger.info("agent assist ready", extra={"seconds": round(time.perf_counter() - started, 1),
                                                 "kb": getattr(kb, "name", None)})

    def negatives(self, messages: Sequence) -> List[Optional[float]]:
        """P(negative) of the last few relayed customer messages, oldest first."""
        recent = [m for m in messages if m.direction == "customer"][-max(RECENT, self.triggers.trend_turns):]
        with self._lock:
            missing = [m for m in recent if m.id not in self._scores]
        if missing:
            values = self.score([m.text for m in missing])
            with self._lock:
                for m, v in zip(missing, values, strict=True):
                    self._scores[m.id] = v
                while len(self._scores) > self._cache_size:
                    self._scores.popitem(last=False)
        with self._lock:
            return [self._scores.get(m.id) for m in recent]

    def live(self, language: str, summary: Optional[dict], messages: Sequence) -> dict:
        """Suggestions for the latest customer message and the sentiment state, with timings (ms)."""
        started = time.perf_counter()
        text, message_id = latest_customer_text(messages, summary)
        with self._kb_lock:  # one load of a new version at a time (Previewer.published is not locked)
            kb = self.published()
        loaded = time.perf_counter()
        found = suggestions(kb, text, language, self.thresholds)
        searched = time.perf_counter()
        state = sentiment_state(summary_negatives(summary) + self.negatives(messages), self.triggers)
        done = time.perf_counter()
        return {"message_id": message_id, "query": mask_pii(text), "suggestions": found, "sentiment": state,
                "timing_ms": {"kb_load": round((loaded - started) * 1000, 1),
                              "kb_search": round((searched - loaded) * 1000, 1),
                              "sentiment": round((done - searched) * 1000, 1)}}


def canned_matches(replies: Sequence[dict], query: str, language: Optional[str] = None) -> List[dict]:
    """Canned replies whose title or text contains every word of the query (case-insensitive), in the
    conversation's language when given. The console filters the same way client-side; kept here as the
    reference (and for tests)."""
    words = [w for w in (query or "").lower().split() if w]
    out = []
    for r in replies:
        if language and r.get("language") not in (None, language):
            continue
        hay = f"{r.get('title', '')} {r.get('text', '')} {r.get('id', '')}".lower()
        if all(w in hay for w in words):
            out.append(r)
    return out


def as_payload(conversation_id: int, live: dict) -> Dict[str, object]:
    return {"type": "assist", "conversation_id": conversation_id, **live}
