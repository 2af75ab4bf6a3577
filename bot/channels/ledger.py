"""Once-only handling of pushed messages: WeChat re-sends a message it got no answer to (up to three
times, same MsgId), apps retry on network errors. The first delivery claims the message's key; every
later delivery of the same key is recognised, also after a restart (SQLite), for `keep_seconds`."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from common import sqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_messages (
    key TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_messages_by_time ON seen_messages (seen_at);
"""


class MessageLedger:
    def __init__(self, path: Path, keep_seconds: float = 24 * 3600.0) -> None:
        self.path = sqlite.initialise(Path(path), SCHEMA)
        self.keep_seconds = keep_seconds
        self._db = sqlite.PerThread(self.path)  # one connection per thread
        self._last_prune = 0.0

    def claim(self, key: str, now: Optional[float] = None) -> bool:
        """True for the first delivery of `key`, False for every repeat."""
        now = time.time() if now is None else now
        db = self._db()
        with sqlite.immediate(db):
            if now - self._last_prune > 600:
                db.execute("DELETE FROM seen_messages WHERE seen_at < ?", (now - self.keep_seconds,))
                self._last_prune = now
            return db.execute("INSERT OR IGNORE INTO seen_messages (key, seen_at) VALUES (?, ?)",
                              (key, now)).rowcount == 1
