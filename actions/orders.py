"""What happens once the order number is known (see the order_number_form rules)."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import last_intent_among
from actions.handoff import record_handoff
from actions.texts import TOPICS, label, text


class ActionOrderFollowup(Action):
    """Order lookups are not connected to an order system yet: the request goes to a person,
    with the order number and the topic, so the customer does not have to repeat them."""

    def name(self) -> Text:
        return "action_order_followup"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        language = tracker.get_slot("language")
        topic = last_intent_among(tracker.events, TOPICS) or "ask_order_status"
        ref = record_handoff(tracker, "order_request")
        if ref is None:
            dispatcher.utter_message(text=text("handoff_failed", language))
            return []
        dispatcher.utter_message(text=text(
            "order_followup", language, order=tracker.get_slot("order_number") or "?",
            topic=label(TOPICS, topic, language), ref=f"H{ref:06d}"))
        return []
