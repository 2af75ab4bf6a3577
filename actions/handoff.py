"""Handing the conversation to a person: record the request with its context, tell the customer."""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import FALLBACK_INTENT, intent_history, transcript
from actions.texts import text
from common.masking import mask_phone
from common.settings import Settings
from handoff.requests import HandoffRequest, HandoffRequestStore

logger = logging.getLogger(__name__)

REASON_BY_INTENT = {
    "request_human": "customer_request",
    "complain": "complaint",
    FALLBACK_INTENT: "low_confidence",
}


@lru_cache(maxsize=1)
def request_store() -> HandoffRequestStore:
    return HandoffRequestStore(Settings.from_env().handoff_db)


def build_request(tracker: Tracker, reason: str) -> HandoffRequest:
    phone = tracker.get_slot("phone")
    # Only what the agent needs to pick up where the bot stopped; identity as a yes/no, no phone digits.
    slots = {"order_number": tracker.get_slot("order_number"),
             "order_task": tracker.get_slot("order_task"),
             "order_verified": tracker.get_slot("verified_order") is not None
             and tracker.get_slot("verified_order") == tracker.get_slot("order_number") or None,
             "customer_id": tracker.get_slot("verified_customer"),
             "phone": mask_phone(phone) if phone else None}
    return HandoffRequest(
        sender_id=tracker.sender_id,
        reason=reason,
        language=tracker.get_slot("language") or "zh",
        intents=intent_history(tracker.events),
        slots={k: v for k, v in slots.items() if v},
        transcript=transcript(tracker.events),
    )


def record_handoff(tracker: Tracker, reason: str) -> Optional[int]:
    """Store the request; None when storage failed (logged), so callers can say so honestly."""
    try:
        ref = request_store().record(build_request(tracker, reason))
    except Exception:  # noqa: BLE001 - the customer must get an answer whatever broke
        logger.exception("handoff request could not be recorded",
                         extra={"sender_id": tracker.sender_id, "reason": reason})
        return None
    logger.info("handoff requested", extra={"sender_id": tracker.sender_id, "reason": reason,
                                            "ref": ref})
    return ref


def announce_handoff(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> None:
    language = tracker.get_slot("language")
    ref = record_handoff(tracker, reason)
    if ref is None:
        dispatcher.utter_message(text=text("handoff_failed", language))
    else:
        dispatcher.utter_message(text=text("handoff", language, ref=f"H{ref:06d}"))


class ActionHandoff(Action):
    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        announce_handoff(dispatcher, tracker, REASON_BY_INTENT.get(intent, "customer_request"))
        return []
