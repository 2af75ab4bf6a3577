"""What every order action shares: the configured backend and verification log (one per worker
process), a request id per action run, and the one way failures reach the customer.
"""
from __future__ import annotations

import logging
import uuid
from functools import lru_cache
from typing import Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.order_texts import text
from common.identity import token_from_metadata, verify_token
from common.settings import Settings
from orders.backend import BackendUnavailable, OrderBackend
from orders.factory import backend_from_settings
from orders.verification import VerificationLog

logger = logging.getLogger("actions.orders")

HUMAN_PAYLOAD = "/request_human"


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


@lru_cache(maxsize=1)
def order_backend() -> OrderBackend:
    return backend_from_settings(settings())


@lru_cache(maxsize=1)
def verification_log() -> VerificationLog:
    s = settings()
    return VerificationLog(s.identity_db, s.verify_max_attempts, s.verify_lockout_minutes)


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


def human_button(language: Optional[str]) -> dict:
    return {"title": text("human", language), "payload": HUMAN_PAYLOAD}


def failure_code(exc: BaseException) -> str:
    return "unavailable" if isinstance(exc, BackendUnavailable) else "error"


def report_failure(dispatcher: CollectingDispatcher, tracker: Tracker, exc: BaseException, request_id: str,
                   action: str) -> str:
    """Log with the request id, tell the customer politely with a reference and a way to a person."""
    code = failure_code(exc)
    logger.error("order action failed", exc_info=exc if code == "error" else None, extra={
        "request_id": request_id, "action": action, "sender_id": tracker.sender_id,
        "error": f"{type(exc).__name__}: {exc}"})
    language = tracker.get_slot("language")
    dispatcher.utter_message(text=text(f"blocked_{code}", language, ref=f"E-{request_id}"),
                             buttons=[human_button(language)])
    return code


def channel_customer(tracker: Tracker) -> Optional[str]:
    """The customer id a channel vouches for with a valid signed token, if any (common/identity.py)."""
    secret = settings().identity_secret
    if not secret:
        return None
    for metadata in ((tracker.latest_message or {}).get("metadata"), tracker.get_slot("session_started_metadata")):
        customer = verify_token(secret, token_from_metadata(metadata))
        if customer:
            return customer
    return None


# What one order task fills in; cleared when a task starts, stops or ends.
TASK_SLOTS = ("item_sku", "aftersales_reason", "aftersales_note", "confirmed", "order_blocked")
