"""Proving an order is yours without a signed-in channel: the phone's last 4 digits, with lockout.

Failed answers are recorded per conversation and per order number in SQLite (they must survive a new
session or a restarted action server, or the lockout would be a formality). After `max_attempts`
failures within `lockout` minutes, lookups are refused for that conversation and for that order.
"""
from __future__ import annotations

import hmac
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from common.sqlite import connect, initialise

SCHEMA = """
CREATE TABLE IF NOT EXISTS verification_failures (
    sender_id    TEXT NOT NULL,
    order_number TEXT NOT NULL,
    at           REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS failures_sender ON verification_failures (sender_id, at);
CREATE INDEX IF NOT EXISTS failures_order ON verification_failures (order_number, at);
"""

# ASCII digits only (full-width digits are folded to ASCII first, other scripts' digits are not digits here)
_LAST4 = re.compile(r"(?<!\d)(\d{4})(?!\d)", re.ASCII)
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{5}(\d{4})(?!\d)", re.ASCII)


def last4_in(text: str) -> Optional[str]:
    """Four digits the customer gave: a standalone 4-digit group, or the end of a full mobile number."""
    if not text:
        return None
    text = unicodedata.normalize("NFKC", text)  # full-width １２３４ (Chinese keyboards) -> 1234
    phone = _PHONE.search(text)
    if phone:
        return phone.group(1)
    found = _LAST4.findall(text)
    return found[-1] if len(found) == 1 else None


def matches(phone: str, last4: str) -> bool:
    return bool(phone) and len(last4 or "") == 4 and hmac.compare_digest(phone[-4:].encode(), last4.encode())


@dataclass(frozen=True)
class LockState:
    locked: bool
    attempts_left: int


class VerificationLog:
    def __init__(self, path: Path, max_attempts: int = 3, lockout_minutes: int = 30,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = initialise(path, SCHEMA)
        self.max_attempts = max_attempts
        self.window = lockout_minutes * 60.0
        self.clock = clock

    def state(self, sender_id: str, order_number: Optional[str] = None) -> LockState:
        since = self.clock() - self.window
        with connect(self.path) as db:
            by_sender = db.execute("SELECT COUNT(*) FROM verification_failures WHERE sender_id = ? AND at > ?",
                                   (sender_id, since)).fetchone()[0]
            by_order = 0
            if order_number:
                by_order = db.execute(
                    "SELECT COUNT(*) FROM verification_failures WHERE order_number = ? AND at > ?",
                    (order_number, since)).fetchone()[0]
        used = max(by_sender, by_order)
        return LockState(locked=used >= self.max_attempts, attempts_left=max(0, self.max_attempts - used))

    def failed(self, sender_id: str, order_number: str) -> LockState:
        with connect(self.path) as db:
            db.execute("INSERT INTO verification_failures VALUES (?, ?, ?)",
                       (sender_id, order_number, self.clock()))
        return self.state(sender_id, order_number)
