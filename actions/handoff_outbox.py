"""Calls to the handoff service that could not be made yet, kept until they are delivered.

When the handoff service is down (or answers 5xx / times out), `actions/handoff.py` does not drop the
customer's request for a person: the call (open a handoff, relay a message, record a rating) goes into
this outbox — SQLite, `var/handoff-outbox.sqlite3`, so it survives a restart of the action server — and
a background task of the action server (`deliver_forever`, started by actions/server.py) retries it:
per customer in the order made, the next only after the previous was delivered, with growing pauses
(1 s doubling up to 10 s) for as long as it takes. Several Sanic workers may run the task: a row is
leased before it is sent, so one worker sends it.

Delivery is safe to repeat: the service answers a second `POST /api/handoffs` for a customer who already
has an open conversation with that conversation (`existing`), so a call that timed out after the service
had stored it opens nothing twice. A relay the service answers 404 (the conversation with people is
over) and an answer that retrying cannot change (400/401/403/404/409/413/422) end the row as `dead`, logged.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from functools import lru_cache
from pathlib import Path
from typing import List, Optional

from actions.handoff_client import HandoffClient, HandoffUnavailable, NoConversation

logger = logging.getLogger(__name__)

FIRST_PAUSE, MAX_PAUSE, LEASE_SECONDS = 1.0, 10.0, 30.0  # a customer waits for a person: retry often
SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    lease_until REAL,
    delivered_at REAL,
    dead_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_open ON outbox (sender_id, id) WHERE delivered_at IS NULL AND dead_at IS NULL;
"""


class HandoffOutbox:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.row_factory = sqlite3.Row
        return db

    def add(self, sender_id: str, path: str, body: dict) -> int:
        now = time.time()
        db = self._db()
        try:
            cur = db.execute("INSERT INTO outbox (sender_id, path, body, created_at, next_at) VALUES (?, ?, ?, ?, ?)",
                             (sender_id, path, json.dumps(body, ensure_ascii=False), now, now + FIRST_PAUSE))
            return int(cur.lastrowid)
        finally:
            db.close()

    def pending(self, sender_id: Optional[str] = None) -> int:
        """Rows not delivered yet (and not given up), of one customer or of all."""
        sql = "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL"
        args: tuple = ()
        if sender_id is not None:
            sql, args = sql + " AND sender_id = ?", (sender_id,)
        db = self._db()
        try:
            return int(db.execute(sql, args).fetchone()[0])
        finally:
            db.close()

    def due(self, now: float) -> List[sqlite3.Row]:
        """Each customer's oldest undelivered row, if its time has come and nobody holds it."""
        db = self._db()
        try:
            return db.execute(
                "SELECT * FROM outbox o WHERE delivered_at IS NULL AND dead_at IS NULL AND next_at <= ? "
                "AND (lease_until IS NULL OR lease_until < ?) AND id = (SELECT MIN(id) FROM outbox p "
                "WHERE p.sender_id = o.sender_id AND p.delivered_at IS NULL AND p.dead_at IS NULL) ORDER BY id",
                (now, now)).fetchall()
        finally:
            db.close()

    def _update(self, sql: str, args: tuple) -> int:
        db = self._db()
        try:
            return db.execute(sql, args).rowcount
        finally:
            db.close()

    def claim(self, row_id: int, now: float) -> bool:
        return self._update("UPDATE outbox SET lease_until = ? WHERE id = ? AND delivered_at IS NULL AND dead_at IS "
                            "NULL AND (lease_until IS NULL OR lease_until < ?)",
                            (now + LEASE_SECONDS, row_id, now)) == 1

    def delivered(self, row_id: int) -> None:
        self._update("UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, lease_until = NULL WHERE id = ?",
                     (time.time(), row_id))

    def retry_later(self, row_id: int, attempts: int, error: str) -> float:
        pause = min(MAX_PAUSE, FIRST_PAUSE * 2 ** attempts)
        self._update("UPDATE outbox SET attempts = attempts + 1, next_at = ?, lease_until = NULL, last_error = ? "
                     "WHERE id = ?", (time.time() + pause, error[:500], row_id))
        return pause

    def give_up(self, row_id: int, error: str) -> None:
        self._update("UPDATE outbox SET dead_at = ?, attempts = attempts + 1, lease_until = NULL, last_error = ? "
                     "WHERE id = ?", (time.time(), error[:500], row_id))


async def deliver_due(outbox: HandoffOutbox, client: HandoffClient) -> int:
    """Send what is due, one row per customer; returns how many were delivered."""
    sent = 0
    now = time.time()
    for row in outbox.due(now):
        if not outbox.claim(row["id"], now):
            continue
        extra = {"sender_id": row["sender_id"], "path": row["path"], "outbox_id": row["id"],
                 "attempts": row["attempts"] + 1}
        try:
            await client.post(row["path"], json.loads(row["body"]))
        except NoConversation as exc:
            outbox.give_up(row["id"], f"no conversation: {exc}")
            logger.warning("queued handoff call dropped: the conversation with people is over", extra=extra)
        except HandoffUnavailable as exc:
            if exc.retryable:
                pause = outbox.retry_later(row["id"], row["attempts"], str(exc))
                logger.warning("queued handoff call not delivered yet", extra={**extra, "error": str(exc),
                                                                              "retry_in": pause})
            else:
                outbox.give_up(row["id"], str(exc))
                logger.error("queued handoff call refused; given up", extra={**extra, "error": str(exc)})
        else:
            outbox.delivered(row["id"])
            sent += 1
            logger.info("queued handoff call delivered", extra=extra)
    return sent


async def deliver_forever(interval: float = 0.5) -> None:
    """The action server's background task (actions/server.py)."""
    from actions.handoff_client import handoff_client

    while True:
        try:
            await deliver_due(handoff_outbox(), handoff_client())
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - e.g. the outbox file is locked: try again next round
            logger.exception("handoff outbox round failed")
        await asyncio.sleep(interval)


@lru_cache(maxsize=1)
def handoff_outbox() -> HandoffOutbox:
    from common.settings import Settings

    return HandoffOutbox(Settings.from_env().var_dir / "handoff-outbox.sqlite3")
