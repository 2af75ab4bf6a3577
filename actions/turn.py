"""What every message tells the bot before the policies run: its language and, when a channel
vouches for the customer, who they are.

One custom slot mapping action for both slots (`language`, `verified_customer`): Rasa runs each
distinct mapping action at every slot extraction, and an order turn extracts slots several times,
so one action instead of two saves two webhook round trips per turn (bench/orders/README.md).
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.language import ActionDetectLanguage
from actions.orders import ActionIdentifyCustomer


class ActionReadMessage(Action):
    def name(self) -> Text:
        return "action_read_message"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        if ((tracker.latest_message or {}).get("metadata") or {}).get("is_external"):
            return []  # an event of the handoff service, not something the customer wrote
        return [*await ActionDetectLanguage().run(dispatcher, tracker, domain),
                *await ActionIdentifyCustomer().run(dispatcher, tracker, domain)]
