"""What every customer-facing channel checks before a message reaches the bot: rate limits per client
address and per customer (common/ratelimit.py, limits in common/settings.py), and the shape of what
a client may choose itself (conversation ids, texts).

Conversation ids of other channels are reserved: `customer:<id>` (a verified customer's, from any
channel, `customers.py`), `wechat:`, `wecom:`, `app:` (those channels' users). A client of the
unauthenticated REST or socket.io channel naming one would write into, and read the replies of,
another customer's conversation; such ids are refused.
"""
from __future__ import annotations

import logging
import time
import unicodedata
from typing import Any, Callable, Mapping, Optional, Tuple

from sanic import response
from sanic.response import HTTPResponse

from common.ratelimit import TokenBuckets, client_ip, parse_proxies, retry_after_header
from common.settings import Settings

log = logging.getLogger(__name__)

RESERVED_PREFIXES = ("customer:", "wechat:", "wecom:", "app:")
MAX_SENDER = 128
MAX_TEXT = 4000
BUSY_TEXT = ("您发送消息太频繁了，请稍后再试。\n"
             "You are sending messages too quickly: please wait a moment and try again.")
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}


class Guard:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.customers = TokenBuckets(settings.rate_limit("customer"), clock)
        self.addresses = TokenBuckets(settings.rate_limit("ip"), clock)
        self.trusted = parse_proxies(settings.trusted_proxies)

    def address(self, peer: Optional[str], headers: Mapping[str, str]) -> str:
        return client_ip(peer, headers.get("X-Forwarded-For") or headers.get("x-forwarded-for"), self.trusted)

    def allow_address(self, channel: str, address: str) -> Tuple[bool, float]:
        allowed, wait = self.addresses.take(f"{channel}|{address}")
        if not allowed:
            log.warning("rate limited (address)", extra={"channel": channel})
        return allowed, wait

    def allow_customer(self, channel: str, conversation_id: str) -> Tuple[bool, float]:
        """Per customer across channels: a verified customer's conversation id is the same everywhere."""
        allowed, wait = self.customers.take(conversation_id)
        if not allowed:
            log.warning("rate limited (customer)", extra={"channel": channel})
        return allowed, wait


def too_many(wait: float, what: str = "too many requests") -> HTTPResponse:
    return response.json({"error": f"{what}; retry after {retry_after_header(wait)} s"}, status=429,
                         headers={"Retry-After": retry_after_header(wait)})


def sender_problem(sender: Any) -> Optional[str]:
    """Why a client-chosen conversation id (REST sender, widget session id) is refused, or None."""
    if not isinstance(sender, str) or not sender.strip():
        return "sender: a non-empty string"
    if len(sender) > MAX_SENDER:
        return f"sender: at most {MAX_SENDER} characters"
    if sender != sender.strip() or any(unicodedata.category(c)[0] in "CZ" and c != " " for c in sender):
        return "sender: no control, format or separator characters"
    if sender.lower().startswith(RESERVED_PREFIXES):
        return f"sender: ids starting with {', '.join(RESERVED_PREFIXES)} are reserved"
    return None


def external_event(text: str) -> bool:
    """A customer's text that would parse as one of the external events only the handoff service may
    send through Rasa's API (`/EXTERNAL_agent_message{...}`: a fake agent reply, a fake end of the
    handoff)."""
    return text.lstrip().lower().startswith("/external_")


def text_problem(text: Any, limit: int = MAX_TEXT) -> Optional[str]:
    """Why a customer's message text is refused, or None: a non-empty string of at most `limit`
    characters without control characters (other than newlines and tabs) or lone surrogates."""
    if not isinstance(text, str) or not text.strip():
        return "message: a non-empty string"
    if len(text) > limit:
        return f"message: at most {limit} characters"
    for c in text:
        category = unicodedata.category(c)
        if (category == "Cc" and c not in _ALLOWED_CONTROLS) or category == "Cs":
            return "message: no control characters"
    if external_event(text):
        return "message: intents starting with EXTERNAL_ are sent by the handoff service only"
    return None
