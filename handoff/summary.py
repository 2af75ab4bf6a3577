"""The summary packet an agent reads before answering: built from the conversation's events, so the
customer never has to repeat themselves. Pure: events (Rasa tracker events as dicts) in, a typed,
JSON-ready packet out, personal data masked.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

from common.masking import mask_pii

REASON_LABELS = {
    "customer_request": {"zh": "客户要求转人工", "en": "customer asked for a person"},
    "complaint": {"zh": "投诉", "en": "complaint"},
    "escalation": {"zh": "升级投诉（提及监管/法律）", "en": "escalation (regulator/legal words)"},
    "negative_sentiment": {"zh": "客户情绪负面", "en": "negative sentiment"},
    "low_confidence": {"zh": "机器人未能理解", "en": "bot did not understand"},
    "vip": {"zh": "VIP 客户", "en": "VIP customer"},
}
TOPIC_LABELS = {
    "status": {"zh": "查询订单状态", "en": "order status"},
    "logistics": {"zh": "查询物流", "en": "delivery tracking"},
    "aftersales": {"zh": "退换货/退款", "en": "return / refund / exchange"},
    "cancel": {"zh": "取消订单", "en": "cancellation"},
    "ask_faq": {"zh": "咨询常见问题", "en": "a shopping question"},
    "complain": {"zh": "投诉", "en": "complaint"},
}
# Slots worth an agent's eye; identity as a yes/no, never the digits.
SLOTS_SHOWN = ("order_number", "order_task", "item_sku", "aftersales_reason", "order_blocked")


@dataclass(frozen=True)
class Customer:
    id: Optional[str]  # the verified customer id, if any
    sender_id: str
    channel: str
    language: str
    tier: str = "normal"
    segment: Optional[str] = None  # RFM segment (customers/rfm.py), when the customer is known


@dataclass(frozen=True)
class Summary:
    customer: Customer
    reason: str
    queue: str
    issue: str  # one line, in the agent's language
    intents: List[str] = field(default_factory=list)
    slots: Dict[str, object] = field(default_factory=dict)
    order_tasks: List[dict] = field(default_factory=list)  # what the bot did with orders, in order
    faq_attempts: List[dict] = field(default_factory=list)  # knowledge-base answers tried, with scores
    sentiment: List[Optional[float]] = field(default_factory=list)  # per customer message, -1..1
    transcript: List[dict] = field(default_factory=list)
    issue_by_language: Dict[str, str] = field(default_factory=dict)  # the issue line per console language

    def as_dict(self) -> dict:
        return asdict(self)


def _intent(event: dict) -> Optional[str]:
    return ((event.get("parse_data") or {}).get("intent") or {}).get("name")


def _sentiment(event: dict) -> Optional[float]:
    value = (event.get("parse_data") or {}).get("sentiment")
    if isinstance(value, dict):
        if not isinstance(value.get("score"), (int, float)) and isinstance(value.get("negative"), (int, float)):
            return round(1.0 - 2.0 * float(value["negative"]), 3)  # P(negative) -> score in -1..1
        value = value.get("score")
    return float(value) if isinstance(value, (int, float)) else None


def _masked(value: object) -> object:
    return mask_pii(value) if isinstance(value, str) else value


def replay(events: Sequence[dict]) -> dict:
    """What the events say, in one pass: intents, slot values at the end, order tasks done (with the
    slots at the time), transcript, sentiment per customer message."""
    slots: Dict[str, object] = {}
    intents: List[str] = []
    tasks: List[dict] = []
    transcript: List[dict] = []
    sentiment: List[Optional[float]] = []
    for e in events:
        kind = e.get("event")
        if kind == "slot":
            slots[e.get("name")] = e.get("value")
            # The digits a customer typed to prove an order are a secret, also in the transcript.
            if e.get("name") == "phone_last4" and e.get("value") and transcript:
                last = next((t for t in reversed(transcript) if t["role"] == "customer"), None)
                if last is not None:
                    last["text"] = last["text"].replace(str(e["value"]), "****")
        elif kind == "user":
            name = _intent(e)
            if name:
                intents.append(name)
            sentiment.append(_sentiment(e))
            if e.get("text"):
                transcript.append({"role": "customer", "text": mask_pii(e["text"]), "time": e.get("timestamp")})
        elif kind == "bot" and e.get("text"):
            transcript.append({"role": "bot", "text": mask_pii(e["text"]), "time": e.get("timestamp")})
        elif kind == "action" and e.get("name") == "action_order_task":
            tasks.append({"task": slots.get("order_task"), "order_number": slots.get("order_number"),
                          "outcome": slots.get("order_blocked") or "done",
                          "verified": bool(slots.get("verified_order"))
                          and slots.get("verified_order") == slots.get("order_number")})
    return {"slots": slots, "intents": intents, "tasks": tasks, "transcript": transcript, "sentiment": sentiment}


def issue_line(reason: str, topic: Optional[str], order_number: Optional[str], tier: str, language: str) -> str:
    lang = "en" if language == "en" else "zh"
    parts = [REASON_LABELS.get(reason, {}).get(lang, reason)]
    if topic in TOPIC_LABELS:
        parts.append(TOPIC_LABELS[topic][lang])
    if order_number:
        parts.append(("订单 " if lang == "zh" else "order ") + str(order_number))
    line = ("，" if lang == "zh" else ", ").join(parts)
    return ("【VIP】" if lang == "zh" else "[VIP] ") + line if tier == "vip" else line


def build_summary(events: Sequence[dict], *, sender_id: str, reason: str, queue: str, channel: str,
                  customer_id: Optional[str] = None, tier: str = "normal", agent_language: str = "zh",
                  faq_attempts: Iterable[dict] = (), transcript_limit: int = 50,
                  segment: Optional[str] = None) -> Summary:
    seen = replay(events)
    slots = seen["slots"]
    topic = slots.get("order_task") or next(
        (i for i in reversed(seen["intents"]) if i in TOPIC_LABELS), None)
    shown = {name: _masked(slots[name]) for name in SLOTS_SHOWN if slots.get(name) is not None}
    if slots.get("order_number"):
        shown["order_verified"] = slots.get("verified_order") == slots.get("order_number")
    issues = {lang: issue_line(reason, topic, slots.get("order_number"), tier, lang) for lang in ("zh", "en")}
    return Summary(
        customer=Customer(id=customer_id or slots.get("verified_customer"), sender_id=sender_id, channel=channel,
                          language=str(slots.get("language") or "zh"), tier=tier, segment=segment),
        reason=reason, queue=queue,
        issue=issues["en" if agent_language == "en" else "zh"],
        intents=[i for i in seen["intents"] if i != "nlu_fallback"] or seen["intents"],
        slots=shown, order_tasks=seen["tasks"],
        faq_attempts=[{"question": mask_pii(str(a.get("question", ""))), "entry": a.get("entry"),
                       "score": a.get("score")} for a in faq_attempts],
        sentiment=seen["sentiment"], transcript=seen["transcript"][-transcript_limit:],
        issue_by_language=issues)
