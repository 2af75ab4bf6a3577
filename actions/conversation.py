"""Pure functions over a Rasa tracker's events (plain dicts): what was said, what was understood."""
from __future__ import annotations

from typing import Iterable, List, Optional, Sequence

from common.masking import mask_pii

FALLBACK_INTENT = "nlu_fallback"


def user_events(events: Iterable[dict]) -> List[dict]:
    return [e for e in events if e.get("event") == "user"]


def intent_of(event: dict) -> Optional[str]:
    return ((event.get("parse_data") or {}).get("intent") or {}).get("name")


def intent_history(events: Iterable[dict]) -> List[str]:
    return [name for name in (intent_of(e) for e in user_events(events)) if name]


def consecutive_fallbacks(events: Sequence[dict]) -> int:
    """How many of the latest user messages in a row, in this session, fell below the NLU
    confidence threshold and were not answered by the knowledge base."""
    count = 0
    for event in reversed(list(events)):
        if event.get("event") == "session_started":
            break
        if event.get("event") == "slot" and event.get("name") == "kb_answered" and event.get("value"):
            break
        if event.get("event") != "user":
            continue
        if intent_of(event) != FALLBACK_INTENT:
            break
        count += 1
    return count


def top_intents(intent_ranking: Sequence[dict], k: int = 2,
                exclude: Iterable[str] = (FALLBACK_INTENT,)) -> List[str]:
    excluded = set(exclude)
    ranked = sorted(intent_ranking or [], key=lambda r: r.get("confidence", 0.0), reverse=True)
    return [r["name"] for r in ranked if r.get("name") not in excluded][:k]


def last_intent_among(events: Sequence[dict], wanted: Iterable[str]) -> Optional[str]:
    wanted = set(wanted)
    for event in reversed(user_events(events)):
        name = intent_of(event)
        if name in wanted:
            return name
    return None


def transcript(events: Iterable[dict], limit: int = 30) -> List[dict]:
    """The conversation as [{"role": "customer"|"bot", "text": ...}], personal data masked."""
    lines = []
    for e in events:
        if e.get("event") == "user" and e.get("text"):
            lines.append({"role": "customer", "text": mask_pii(e["text"])})
        elif e.get("event") == "bot" and e.get("text"):
            lines.append({"role": "bot", "text": mask_pii(e["text"])})
    return lines[-limit:]
