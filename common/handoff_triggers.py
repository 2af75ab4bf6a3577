"""When the bot should not go on alone, and why: the handoff triggers as pure functions.

Shared by the dialogue policy in the Rasa server (bot/policies/handoff_policy.py), which decides
*that* the conversation goes to a person, and the action server (actions/handoff.py), which records
*why* (the reason code) — one definition, two processes. Plain Python: importable in both envs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence

# Words that mean a complaint is about to leave the shop: regulators, courts, the press.
# (12345, a general government hotline, is left out: it is also what people type as a fake number.)
# English words need ASCII boundaries: \b does not separate "sue" from the Chinese before it.
_EN = r"(?<![A-Za-z]){}(?![A-Za-z])"
ESCALATION_PATTERNS = (
    r"(?<!\d)12315(?!\d)", r"消协", r"消费者协会", r"工商局", r"工商部门", r"找工商",
    r"市场监管", r"律师", r"起诉", r"法院", r"告你们", r"(?<!器)报警(?!器)", r"曝光你们", r"媒体曝光", r"找媒体",
    r"网上曝光", r"黑猫",
    *(_EN.format(w) for w in (r"lawyers?", r"attorneys?", r"sue", r"sued", r"suing", r"lawsuit", r"legal\s+action",
                              r"small\s+claims", r"ombudsman", r"the\s+regulators?", r"trading\s+standards",
                              r"chargeback", r"better\s+business\s+bureau", r"bbb", r"consumer\s+protection",
                              r"report\s+you", r"(?:to|in)\s+court", r"court\s+case")),
)
_ESCALATION = re.compile("|".join(ESCALATION_PATTERNS), re.IGNORECASE)

# Words of a complaint to the shop itself: a complaint even when the NLU sees another intent.
COMPLAINT_PATTERNS = (r"投诉", r"(?<![A-Za-z])complain(?:t|ts|ing)?(?![A-Za-z])")
_COMPLAINT = re.compile("|".join(COMPLAINT_PATTERNS), re.IGNORECASE)
# Intents of tasks the bot is doing for the customer: a negative message here is the task's content
# ("收到时外壳就裂了" as the return reason), not a reason to hand over.
TASK_INTENTS = frozenset({"ask_order_status", "ask_logistics", "request_return", "cancel_order", "inform",
                          "affirm", "deny", "stop"})

REQUEST_INTENT = "request_human"
COMPLAINT_INTENT = "complain"
FALLBACK_INTENT = "nlu_fallback"


@dataclass(frozen=True)
class TriggerConfig:
    enabled: frozenset = frozenset({"request", "complaint", "escalation", "low_confidence", "negative_sentiment",
                                    "vip"})
    strong: float = 0.9         # P(negative) of one message that hands over at once
    trend_turns: int = 3        # this many messages in a row ...
    trend_level: float = 0.6    # ... each at least this negative hand over too
    low_confidence_turns: int = 2

    @classmethod
    def from_settings(cls, settings) -> "TriggerConfig":
        return cls(enabled=settings.handoff_trigger_set, strong=settings.handoff_sentiment_strong,
                   trend_turns=settings.handoff_sentiment_trend_turns,
                   trend_level=settings.handoff_sentiment_trend_level,
                   low_confidence_turns=settings.handoff_low_confidence_turns)


def escalation_word(text: str) -> Optional[str]:
    """The first escalation word in the message, if any."""
    match = _ESCALATION.search(text or "")
    return match.group(0) if match else None


def negative_probability(parse_data: dict) -> Optional[float]:
    """P(negative) that the sentiment component put on a message (None when it did not run)."""
    sentiment = (parse_data or {}).get("sentiment")
    if isinstance(sentiment, dict):
        value = sentiment.get("negative")
        if isinstance(value, (int, float)):
            return float(value)
        score = sentiment.get("score")
        if isinstance(score, (int, float)):
            return (1.0 - float(score)) / 2.0
    return None


def sentiment_trigger(negatives: Sequence[Optional[float]], config: TriggerConfig, strong: bool = True) -> bool:
    """The latest message is strongly negative (when `strong`), or the last few all are."""
    if not negatives or negatives[-1] is None:
        return False
    if strong and negatives[-1] >= config.strong:
        return True
    recent = list(negatives)[-config.trend_turns:]
    return (len(recent) == config.trend_turns
            and all(p is not None and p >= config.trend_level for p in recent))


def trigger_reason(intent: Optional[str], text: str, negatives: Sequence[Optional[float]], tier: str,
                   config: TriggerConfig, in_task: bool = False) -> Optional[str]:
    """Why this message hands the conversation to a person (a reason code), or None.

    The customer's own request comes first (VIPs' requests are their own code: they skip the bot and
    go to the VIP queue); then regulator/legal words; then complaints (intent or words); then
    sentiment: a strongly negative message, except while the bot is doing a task for the customer
    (`in_task`: a form is active, or the message asks for a task), where one negative message is the
    task's content ("收到时外壳就裂了" as the return reason); negativity sustained over several
    messages hands over in a task too."""
    if intent == REQUEST_INTENT:
        if tier == "vip" and "vip" in config.enabled:
            return "vip"
        return "customer_request"
    if "escalation" in config.enabled and escalation_word(text):
        return "escalation"
    if intent == COMPLAINT_INTENT or _COMPLAINT.search(text or ""):
        return "complaint"
    strong_counts = not (in_task or intent in TASK_INTENTS)
    if "negative_sentiment" in config.enabled and sentiment_trigger(negatives, config, strong=strong_counts):
        return "negative_sentiment"
    return None


_SWITCH = {"customer_request": "request", "vip": "request"}


def reason_enabled(reason: str, config: TriggerConfig) -> bool:
    """Whether this reason's trigger is switched on (a VIP's request is a request)."""
    return _SWITCH.get(reason, reason) in config.enabled


_SCORE = re.compile(r"^\s*(?:/\w+\{\"?csat_score\"?:\s*\"?)?([1-5])"  # a button payload, or the digit
                    r"(?:\s*(?:分|星|stars?|/\s*5))?\s*\"?\}?\s*[。.!！]?\s*$", re.IGNORECASE)
_WORDS = {"非常满意": 5, "满意": 4, "一般": 3, "不满意": 2, "非常不满意": 1, "very satisfied": 5, "satisfied": 4,
          "neutral": 3, "dissatisfied": 2, "very dissatisfied": 1}


def parse_score(text: str) -> Optional[int]:
    """A satisfaction rating 1-5 from a survey answer ("5", "4分", "3 stars", a button payload,
    "非常满意"), else None."""
    text = (text or "").strip()
    match = _SCORE.match(text)
    if match:
        return int(match.group(1))
    return _WORDS.get(text.lower().rstrip("。.!！ "))


# A handoff starting or ending resets the sentiment trend.
HANDOFF_MARKERS = ("action_handoff", "action_handoff_ended")


def negatives_since_handoff(events: Iterable[dict]) -> List[Optional[float]]:
    """P(negative) of each customer message (events as dicts) since the last handoff began or ended;
    the handoff service's external events are not the customer's."""
    return [negative_probability(e.get("parse_data") or {}) for e in since_last(events, HANDOFF_MARKERS)
            if e.get("event") == "user" and not (e.get("metadata") or {}).get("is_external")]


def since_last(events: Iterable[dict], marker_actions: Sequence[str]) -> list:
    """The events after the last of the given actions ran (all events if none ran)."""
    events = list(events)
    for i in range(len(events) - 1, -1, -1):
        e = events[i]
        if e.get("event") == "action" and e.get("name") in marker_actions:
            return events[i + 1:]
    return events
