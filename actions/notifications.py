"""The bot's side of proactive notifications (proactive/, docs/proactive.md):

- `action_notify`: a notification the scheduler injected (intent EXTERNAL_notification through Rasa's
  `trigger_intent`): rendered in the conversation's language (else the customer's language in the
  order system) with its buttons (track / view the order, talk to a person); Rasa sends it on the
  customer's latest channel (WeChat: buttons as numbered lines).
- `action_notifications_optout` ("退订", "unsubscribe", or "stop" right after a notification) and
  `action_notifications_optin` ("订阅", "resubscribe"): recorded in the notification store (SQLite, or
  PostgreSQL with CS_PROACTIVE_DB_URL: proactive/store.py), which the scheduler's policy reads before
  every send.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.order_context import settings
from proactive.store import NotificationStore, open_notification_store
from proactive.texts import TEXTS, opt_text, render

logger = logging.getLogger(__name__)

CUSTOMER_PREFIX = "customer:"


@lru_cache(maxsize=1)
def notification_store() -> NotificationStore:
    return open_notification_store(settings())


def _entity(tracker: Tracker, name: str) -> Optional[str]:
    for entity in (tracker.latest_message or {}).get("entities") or []:
        if entity.get("entity") == name:
            return entity.get("value")
    return None


def customer_key(tracker: Tracker) -> str:
    """Whose opt-out this is: the customer of a customer's conversation (where notifications go), else
    the verified customer, else the conversation itself."""
    if tracker.sender_id.startswith(CUSTOMER_PREFIX):
        return tracker.sender_id[len(CUSTOMER_PREFIX):]
    return tracker.get_slot("verified_customer") or tracker.sender_id


class ActionNotify(Action):
    def name(self) -> Text:
        return "action_notify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        kind = _entity(tracker, "notification_kind")
        try:
            params = json.loads(_entity(tracker, "notification_params") or "{}")
        except ValueError:
            params = {}
        if kind not in TEXTS or not isinstance(params, dict):
            logger.error("unknown notification", extra={"sender_id": tracker.sender_id, "kind": kind})
            return []
        language = tracker.get_slot("language") or _entity(tracker, "notification_language")
        body, buttons = render(kind, language, {str(k): str(v) for k, v in params.items()})
        dispatcher.utter_message(text=body, buttons=buttons)
        logger.info("notification delivered to the channel", extra={
            "sender_id": tracker.sender_id, "kind": kind, "notification": _entity(tracker, "notification_id")})
        return []


class ActionNotificationsOptOut(Action):
    def name(self) -> Text:
        return "action_notifications_optout"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        key = customer_key(tracker)
        notification_store().opt_out(key, datetime.now(timezone.utc), tracker.get_latest_input_channel() or "")
        logger.info("notifications opted out", extra={"sender_id": tracker.sender_id})
        dispatcher.utter_message(text=opt_text("opted_out", tracker.get_slot("language")))
        return []


class ActionNotificationsOptIn(Action):
    def name(self) -> Text:
        return "action_notifications_optin"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        notification_store().opt_in(customer_key(tracker))
        logger.info("notifications opted in", extra={"sender_id": tracker.sender_id})
        dispatcher.utter_message(text=opt_text("opted_in", tracker.get_slot("language")))
        return []
