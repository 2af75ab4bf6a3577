"""A channel's refusal to deliver a message, for good: how the Rasa side says it and the handoff side reads it.

A message the service sends outside a customer's turn (an agent's reply, a ticket notice, the end of a handoff)
goes out through Rasa's `trigger_intent` on the customer's own channel. Most failures pass (a network error,
WeChat busy) and the handoff service's outbox tries again. Some do not: WeChat refuses customer-service messages
once the customer's 48-hour window has closed, to a user who unsubscribed, or beyond the number of messages
allowed since the customer last wrote. Sending those again every few seconds would never succeed, would hold up
the conversation's later messages, and would hammer the channel's API.

The channel's output raises `ChannelRefused`; Rasa answers trigger_intent with 500 and the exception's text in
its error message (rasa/server.py: "An unexpected error occurred. Error: ..."). The text carries a tag that
`parse` finds there, so the handoff service marks the message undeliverable, with the reason, and goes on.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

# Why a channel refuses; the console and the notices explain each one.
WINDOW_CLOSED = "window_closed"    # WeChat: more than 48 h since the customer's last message
SEND_LIMIT = "send_limit"          # WeChat: too many messages since the customer's last message
UNSUBSCRIBED = "unsubscribed"      # the customer unfollowed / blocked the account
UNKNOWN_USER = "unknown_user"      # the channel does not know this user (any more)
REASONS = (WINDOW_CLOSED, SEND_LIMIT, UNSUBSCRIBED, UNKNOWN_USER)

_TAG = re.compile(r"\[undeliverable channel=([A-Za-z0-9_.-]{1,40}) reason=([a-z_]{1,40}) code=(-?\d{1,9})\]")


@dataclass(frozen=True)
class Refusal:
    channel: str
    reason: str  # one of REASONS
    code: int    # the channel's own error code (WeChat's errcode)

    def tag(self) -> str:
        return f"[undeliverable channel={self.channel} reason={self.reason} code={self.code}]"

    def describe(self) -> str:
        return f"{self.channel} refused the message for good ({self.reason}, code {self.code})"


class ChannelRefused(Exception):
    """Raised by a channel's output when the channel will not take the message however often it is sent."""

    def __init__(self, refusal: Refusal, detail: str = "") -> None:
        super().__init__(f"{refusal.tag()} {detail}".strip())
        self.refusal = refusal


def parse(text: Optional[str]) -> Optional[Refusal]:
    """The refusal tagged in an error text (Rasa's 500 answer), or None."""
    found = _TAG.search(text or "")
    if not found or found.group(2) not in REASONS:
        return None
    return Refusal(found.group(1), found.group(2), int(found.group(3)))
