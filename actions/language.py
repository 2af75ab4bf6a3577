"""The customer's language: detected on every user turn, and used to greet a new session."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, BotUttered, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.texts import text
from common.language import SUPPORTED, choose_language

# Slots kept when a conversation session expires and a new one starts (a ticket's question or rating,
# ticket_reply / csat_ticket, is often answered hours or days later: actions/tickets.py).
CARRIED_OVER_SLOTS = ("language", "handoff", "handoff_id", "csat_step", "ticket_reply", "csat_ticket")


def language_hint(metadata: Optional[Dict[Text, Any]]) -> Optional[str]:
    """A language the channel tells us (web widget customData, app metadata), if any."""
    if not isinstance(metadata, dict):
        return None
    for candidate in (metadata.get("language"), (metadata.get("customData") or {}).get("language")
                      if isinstance(metadata.get("customData"), dict) else None):
        if isinstance(candidate, str):
            short = candidate.strip().lower()[:2]
            if short in SUPPORTED:
                return short
    return None


class ActionDetectLanguage(Action):
    """The `language` slot from the message: part of action_read_message (actions/turn.py), which
    the domain runs on every user message as the slot's custom mapping."""

    def name(self) -> Text:
        return "action_detect_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        message = tracker.latest_message or {}
        previous = tracker.get_slot("language")
        hint = language_hint(message.get("metadata")) or language_hint(
            tracker.get_slot("session_started_metadata"))
        language = choose_language(message.get("text") or "", previous, hint)
        return [] if language == previous else [SlotSet("language", language)]


class ActionSessionStart(Action):
    """Starts a session, keeps the customer's language, and greets in it (both when unknown)."""

    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        for slot in CARRIED_OVER_SLOTS:
            value = tracker.get_slot(slot)
            if value is not None:
                events.append(SlotSet(slot, value))
        language = tracker.get_slot("language") or language_hint(
            tracker.get_slot("session_started_metadata"))
        if language:
            if tracker.get_slot("language") is None:
                events.append(SlotSet("language", language))
            greeting = text("session_welcome", language)
        else:
            greeting = text("session_welcome_bilingual", "zh")
        events.append(ActionExecuted("action_listen"))
        # Returned as an event (not via the dispatcher) so that it lands in the new session.
        events.append(BotUttered(text=greeting))
        return events
