"""From Rasa's tracker events to conversations (`Session`s): pure functions, no I/O.

Events are one sender's rows of Rasa's `events` table in id order. A session begins at a
`session_started` event and runs until the next one. Rasa writes the start of a session as
`slot session_started_metadata`, `action action_session_start`, `session_started`: the first two
belong to the new session, so they do not count as the previous session's last event. Events before
a sender's first `session_started` (only in trackers written without sessions) form a session that
starts at its first event.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence

from common.masking import mask_pii
from insight.model import HandoffRecord, Session, Turn

FALLBACK_INTENT = "nlu_fallback"
HANDOFF_ACTION = "action_handoff"
EXTERNAL_PREFIX = "EXTERNAL_"
# The slots insight reads (their events' JSON is decoded; other slots' is not).
LANGUAGE_SLOT, CUSTOMER_SLOT, HANDOFF_ID_SLOT = "language", "verified_customer", "handoff_id"
SLOTS_READ = (LANGUAGE_SLOT, CUSTOMER_SLOT, HANDOFF_ID_SLOT)
# Written just before the session_started event of the session they open.
_PREAMBLE = {("slot", "session_started_metadata"), ("action", "action_session_start")}
DEFAULT_TIERS = ("normal", "guest")


@dataclass(frozen=True)
class Event:
    """One row of the events table, as far as insight needs it: `data` (the event's JSON, decoded) only
    for user events and the slots in SLOTS_READ."""
    id: int
    type_name: str
    timestamp: float
    intent_name: Optional[str] = None
    action_name: Optional[str] = None  # the action, or the slot's name for slot events
    data: Optional[Mapping[str, Any]] = None


def needs_data(type_name: str, action_name: Optional[str]) -> bool:
    return type_name == "user" or (type_name == "slot" and action_name in SLOTS_READ)


def _intent(event: Event) -> Dict[str, Any]:
    return ((event.data or {}).get("parse_data") or {}).get("intent") or {}


def is_external(event: Event) -> bool:
    """A user event the handoff service injected (an agent's message, the end of a handoff), not
    something the customer wrote: metadata.is_external, or an intent named EXTERNAL_…"""
    data = event.data or {}
    metadata = data.get("metadata") or {}
    parse_metadata = (data.get("parse_data") or {}).get("metadata") or {}
    intent = _intent(event).get("name") or event.intent_name or ""
    return bool(metadata.get("is_external") or parse_metadata.get("is_external")
                or str(intent).startswith(EXTERNAL_PREFIX))


def tier_of(customer_id: Optional[str], tiers: Optional[Mapping[str, str]] = None,
            recorded: Optional[str] = None) -> str:
    """A customer's tier: from `tiers` (the order system's customers) when it knows them, else a tier
    a handoff record gives that is not a default one ("vip"), else "guest" without a verified customer
    and "normal" with one. (The handoff service records "normal" for guests too, hence the order.)"""
    if customer_id and tiers and customer_id in tiers:
        return tiers[customer_id]
    if recorded and recorded not in DEFAULT_TIERS:
        return recorded
    return "normal" if customer_id else "guest"


def split_sessions(events: Iterable[Event]) -> Iterator[List[Event]]:
    """One sender's events cut into sessions, each starting at a session_started event (but the first,
    when events come before any)."""
    current: List[Event] = []
    for event in events:
        if event.type_name == "session_started" and current:
            yield current
            current = []
        current.append(event)
    if current:
        yield current


def _slot_value(event: Event) -> Any:
    return (event.data or {}).get("value")


def build_session(conversation_id: str, events: Sequence[Event],
                  tiers: Optional[Mapping[str, str]] = None,
                  handoffs: Sequence[HandoffRecord] = ()) -> Optional[Session]:
    """The conversation in one session's events, or None when the customer wrote nothing in it.
    `handoffs`: this sender's handoff records; those filed in the session are linked to it (by the
    `handoff_id` slot set after action_handoff, or by a creation time within the session)."""
    content = [e for e in events if (e.type_name, e.action_name) not in _PREAMBLE]
    if not content:
        return None
    turns: List[Dict[str, Any]] = []
    pending: Optional[Dict[str, Any]] = None
    channel: Optional[str] = None
    language: Optional[str] = None
    customer_id: Optional[str] = None
    handed_off = False
    handoff_ids: List[int] = []
    for event in content:
        kind = event.type_name
        if kind == "user":
            pending = None  # a bot message after a later message answers that one, not this
            if is_external(event):
                continue
            data = event.data or {}
            intent = _intent(event)
            name = intent.get("name") or event.intent_name
            confidence = intent.get("confidence")
            pending = {"at": event.timestamp, "text": mask_pii(data.get("text") or ""), "intent": name,
                       "confidence": float(confidence) if confidence is not None else None,
                       "fallback": name == FALLBACK_INTENT, "bot_response_seconds": None}
            turns.append(pending)
            if channel is None and data.get("input_channel"):
                channel = str(data["input_channel"])
        elif kind == "bot":
            if pending is not None:
                pending["bot_response_seconds"] = round(max(0.0, event.timestamp - pending["at"]), 3)
                pending = None
        elif kind == "action" and event.action_name == HANDOFF_ACTION:
            handed_off = True
        elif kind == "slot":
            value = _slot_value(event)
            if event.action_name == LANGUAGE_SLOT and value:
                language = str(value)
            elif event.action_name == CUSTOMER_SLOT and value:
                customer_id = str(value)
            elif event.action_name == HANDOFF_ID_SLOT and handed_off and value:
                # set by action_handoff in this session (a value carried over at the start is not)
                try:
                    handoff_ids.append(int(value))
                except (TypeError, ValueError):
                    pass
    if not turns:
        return None
    started_at, ended_at = content[0].timestamp, content[-1].timestamp
    linked: List[HandoffRecord] = []
    if handed_off:
        linked = sorted((h for h in handoffs if h.id in handoff_ids or started_at <= h.created_at <= ended_at),
                        key=lambda h: (h.created_at, h.id))
    latest = linked[-1] if linked else None
    recorded = next((h.tier for h in reversed(linked) if h.tier not in DEFAULT_TIERS), None)
    return Session(
        conversation_id=conversation_id, started_at=started_at, ended_at=ended_at,
        channel=channel or "unknown", language=language or "unknown", customer_id=customer_id,
        tier=tier_of(customer_id, tiers, recorded),
        turns=tuple(Turn(**t) for t in turns), handed_off=handed_off,
        handoff_reason=latest.reason if latest else None, handoff_queue=latest.queue if latest else None,
        handoff_ids=tuple(h.id for h in linked))


def sessions_from_events(conversation_id: str, events: Iterable[Event], start: Optional[float] = None,
                         end: Optional[float] = None, tiers: Optional[Mapping[str, str]] = None,
                         handoffs: Sequence[HandoffRecord] = ()) -> List[Session]:
    """The conversations of one sender that started in [start, end) (None: unbounded)."""
    result = []
    for events_of_session in split_sessions(events):
        session = build_session(conversation_id, events_of_session, tiers, handoffs)
        if session is None:
            continue
        if (start is None or session.started_at >= start) and (end is None or session.started_at < end):
            result.append(session)
    return result
