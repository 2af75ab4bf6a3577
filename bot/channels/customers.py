"""One customer across channels: which conversation a message belongs to, and where to reach the
customer on a given channel.

A channel user (a WeChat OpenID, a WeCom UserID, an app user id, a web widget session) is anonymous
until the customer is verified on it, and then every message of that customer, from any channel, goes
to one conversation, `customer:<customer id>`. So a customer who starts an after-sales request or a
handoff on WeChat and goes on in the app continues the same Rasa conversation — slots, form, handoff
state and history — and an agent's reply reaches them on the channel they wrote from last (Rasa's
`output_channel=latest`, addressed through `address()`).

How a customer is verified, per channel:
- web widget and app: a signed customer token with the message (`common/identity.py`; the app back
  end, which signs its requests, may also name the customer directly). Verification holds for that
  message only: the next message without a token is anonymous again (a shared computer after logout).
- WeChat and WeCom: the platform authenticates the OpenID/UserID, so a link made once by the shop's
  back end (`links.py`, e.g. after WeChat OAuth on the shop's account page) is *sticky*: it holds
  until unlinked.

Anonymous users keep a conversation of their own: `<channel>:<user id>` (the web widget's is its
session id, as Rasa's socket.io channel has always used).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from common import sqlite

log = logging.getLogger(__name__)

WEB = "socketio"  # Rasa's name of the web widget channel
CUSTOMER_PREFIX = "customer:"

SCHEMA = """
CREATE TABLE IF NOT EXISTS channel_links (
    channel TEXT NOT NULL,
    user_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    linked_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    PRIMARY KEY (channel, user_id)
);
CREATE INDEX IF NOT EXISTS channel_links_by_customer ON channel_links (customer_id, channel, last_seen);
"""


def channel_conversation_id(channel: str, user_id: str) -> str:
    """The conversation of an anonymous channel user."""
    return user_id if channel == WEB else f"{channel}:{user_id}"


def customer_conversation_id(customer_id: str) -> str:
    return CUSTOMER_PREFIX + customer_id


def user_of_channel_conversation(channel: str, conversation_id: str) -> Optional[str]:
    if channel == WEB:
        return conversation_id
    prefix = f"{channel}:"
    return conversation_id[len(prefix):] if conversation_id.startswith(prefix) else None


@dataclass(frozen=True)
class Route:
    conversation_id: str
    customer_id: Optional[str] = None  # set when the message comes from a verified customer


class CustomerDirectory:
    """Links of channel users to customers (SQLite; safe to share between threads and processes)."""

    def __init__(self, path: Path) -> None:
        self.path = sqlite.initialise(Path(path), SCHEMA)
        self._db = sqlite.PerThread(self.path)  # one connection per thread

    def route(self, channel: str, user_id: str, verified_customer: Optional[str] = None,
              sticky: bool = False, now: Optional[float] = None) -> Route:
        """The conversation of a message. `verified_customer`: who a valid token (or the signed
        request of a trusted back end) on this very message vouches for; it (re)links the channel
        user. `sticky`: the platform authenticates the user id, so a stored link identifies them."""
        if not user_id:
            raise ValueError("a channel user id is required")
        now = time.time() if now is None else now
        db = self._db()
        if verified_customer:
            with sqlite.immediate(db):
                row = db.execute("SELECT customer_id FROM channel_links WHERE channel = ? AND user_id = ?",
                                 (channel, user_id)).fetchone()
                if row is not None and row[0] != verified_customer:
                    log.info("channel user relinked to another customer", extra={"channel": channel})
                db.execute("INSERT INTO channel_links (channel, user_id, customer_id, linked_at, last_seen) "
                           "VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, user_id) DO UPDATE SET "
                           "customer_id = excluded.customer_id, last_seen = excluded.last_seen, "
                           "linked_at = CASE WHEN channel_links.customer_id = excluded.customer_id "
                           "THEN channel_links.linked_at ELSE excluded.linked_at END",
                           (channel, user_id, verified_customer, now, now))
            return Route(customer_conversation_id(verified_customer), verified_customer)
        if sticky:
            with sqlite.immediate(db):
                row = db.execute("SELECT customer_id FROM channel_links WHERE channel = ? AND user_id = ?",
                                 (channel, user_id)).fetchone()
                if row:
                    db.execute("UPDATE channel_links SET last_seen = ? WHERE channel = ? AND user_id = ?",
                               (now, channel, user_id))
                    return Route(customer_conversation_id(row[0]), row[0])
        return Route(channel_conversation_id(channel, user_id))

    def link(self, channel: str, user_id: str, customer_id: str, now: Optional[float] = None) -> Route:
        """Link a channel user to a customer on the word of the shop's back end."""
        if not customer_id or not isinstance(customer_id, str):
            raise ValueError("a customer id is required")
        return self.route(channel, user_id, customer_id, now=now)

    def unlink(self, channel: str, user_id: str) -> bool:
        db = self._db()
        with sqlite.immediate(db):
            return db.execute("DELETE FROM channel_links WHERE channel = ? AND user_id = ?",
                              (channel, user_id)).rowcount > 0

    def customer_of(self, channel: str, user_id: str, seen_within: Optional[float] = None,
                    now: Optional[float] = None) -> Optional[str]:
        """The customer linked to a channel user (only if seen in the last `seen_within` seconds)."""
        row = self._db().execute("SELECT customer_id, last_seen FROM channel_links WHERE channel = ? "
                                 "AND user_id = ?", (channel, user_id)).fetchone()
        if not row:
            return None
        if seen_within is not None and (time.time() if now is None else now) - row[1] > seen_within:
            return None
        return row[0]

    def address(self, conversation_id: str, channel: str) -> Optional[str]:
        """The user id that reaches this conversation's customer on `channel` (for a customer's
        conversation: the one they wrote from last there), or None when there is none."""
        if conversation_id.startswith(CUSTOMER_PREFIX):
            row = self._db().execute(
                "SELECT user_id FROM channel_links WHERE customer_id = ? AND channel = ? "
                "ORDER BY last_seen DESC LIMIT 1",
                (conversation_id[len(CUSTOMER_PREFIX):], channel)).fetchone()
            return row[0] if row else None
        return user_of_channel_conversation(channel, conversation_id)
