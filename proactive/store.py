"""Where notifications are recorded: SQLite under var/ (`proactive.sqlite3`), shared by every
scheduler replica and the action server (opt-outs).

- `notifications`: one row per event (UNIQUE dedupe key): queued -> sending -> sent | failed, or
  skipped with a reason; `not_before` postpones (quiet hours). A replica must *claim* a row (queued ->
  sending, one UPDATE under SQLite's write lock) before it decides or sends, so of two replicas only
  one ever handles a notification; a customer with a notification in `sending` is not claimed again
  until it is done, so the rate limit holds across replicas too. A claim left in `sending` by a
  crashed replica is not retried (at most once: better no message than two); after `lease` seconds it
  is closed as skipped "interrupted".
- `opt_outs`: customers who said "退订"/"stop".
- `customers_seen`: when the scheduler first read each customer's facts (their baseline): request
  events already there then are history ("before_start"), not news — also for a customer who
  becomes reachable long after notifications started.

Times are unix seconds (UTC). Kept to plain SQL that PostgreSQL also runs, apart from `INSERT OR
IGNORE` (PostgreSQL: `ON CONFLICT DO NOTHING`) and BEGIN IMMEDIATE.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from common import sqlite
from proactive.model import Candidate

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key    TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    order_number  TEXT NOT NULL,
    language      TEXT NOT NULL,
    params        TEXT NOT NULL,
    event_time    REAL,
    first_seen    REAL NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'skipped', 'failed')),
    reason        TEXT NOT NULL DEFAULT '',
    not_before    REAL NOT NULL DEFAULT 0,
    claimed_by    TEXT,
    claimed_at    REAL,
    finished_at   REAL,
    channel       TEXT,
    conversation  TEXT,
    error         TEXT NOT NULL DEFAULT '',
    outcome       TEXT,
    outcome_final INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (state, not_before);
CREATE INDEX IF NOT EXISTS notifications_customer ON notifications (customer_id, state, finished_at);
CREATE TABLE IF NOT EXISTS opt_outs (
    customer_id TEXT PRIMARY KEY,
    at          REAL NOT NULL,
    channel     TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS customers_seen (
    customer_id TEXT PRIMARY KEY,
    first_round REAL NOT NULL
);
"""


def _ts(value: Optional[datetime]) -> Optional[float]:
    return value.timestamp() if value is not None else None


def _dt(value: Optional[float]) -> Optional[datetime]:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


@dataclass(frozen=True)
class Notification:
    id: int
    dedupe_key: str
    kind: str
    customer_id: str
    order_number: str
    language: str
    params: Dict[str, str]
    event_time: Optional[datetime]
    first_seen: datetime
    state: str
    reason: str
    not_before: float
    finished_at: Optional[datetime]
    channel: Optional[str]
    conversation: Optional[str]
    error: str
    outcome: Optional[str]
    outcome_final: bool

    @property
    def happened_at(self) -> datetime:
        return self.event_time or self.first_seen

    def as_candidate(self) -> Candidate:
        return Candidate(kind=self.kind, customer_id=self.customer_id, order_number=self.order_number,
                         dedupe_key=self.dedupe_key, event_time=self.event_time, language=self.language,
                         params=self.params)


COLUMNS = ("id, dedupe_key, kind, customer_id, order_number, language, params, event_time, first_seen, state, "
           "reason, not_before, finished_at, channel, conversation, error, outcome, outcome_final")


def _row(r: tuple) -> Notification:
    return Notification(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), _dt(r[7]), _dt(r[8]), r[9], r[10],
                        r[11], _dt(r[12]), r[13], r[14], r[15], r[16], bool(r[17]))


class NotificationStore:
    def __init__(self, path: Path) -> None:
        self.path = sqlite.initialise(Path(path), SCHEMA)
        self._db = sqlite.PerThread(self.path)  # one connection per thread

    # --- candidates ---------------------------------------------------------------------------------
    def offer(self, candidates: Iterable[Candidate], now: datetime, customers: Iterable[str] = ()) -> int:
        """Record candidates not seen before (queued); returns how many were new. `customers`: whose
        facts this round read. The first round that reads a customer's facts is their baseline: events
        without a time found then (a refund completed last month) are history, recorded as skipped
        "before_start", not news. One transaction, so replicas agree on every baseline."""
        db, at, new = self._db(), now.timestamp(), 0
        candidates = list(candidates)
        with sqlite.immediate(db):
            known = {r[0] for r in db.execute("SELECT customer_id FROM customers_seen")}
            for customer_id in set(customers) | {c.customer_id for c in candidates}:
                if customer_id not in known:
                    db.execute("INSERT INTO customers_seen (customer_id, first_round) VALUES (?, ?)",
                               (customer_id, at))
            for c in candidates:
                history = c.event_time is None and c.customer_id not in known
                new += db.execute(
                    "INSERT OR IGNORE INTO notifications (dedupe_key, kind, customer_id, order_number, language, "
                    "params, event_time, first_seen, state, reason, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (c.dedupe_key, c.kind, c.customer_id, c.order_number, c.language,
                     json.dumps(dict(c.params), ensure_ascii=False), _ts(c.event_time), at,
                     "skipped" if history else "queued", "before_start" if history else "",
                     at if history else None)).rowcount
        return new

    def due(self, now: datetime, limit: int = 500) -> List[Notification]:
        return [_row(r) for r in self._db().execute(
            f"SELECT {COLUMNS} FROM notifications WHERE state = 'queued' AND not_before <= ? ORDER BY id LIMIT ?",
            (now.timestamp(), limit))]

    def claim(self, notification_id: int, worker: str, now: datetime) -> bool:
        """Take a queued notification for this worker; False when another took it (or handles one of
        the same customer right now)."""
        db = self._db()
        with sqlite.immediate(db):
            return db.execute(
                "UPDATE notifications SET state = 'sending', claimed_by = ?, claimed_at = ? WHERE id = ? "
                "AND state = 'queued' AND not_before <= ? AND NOT EXISTS (SELECT 1 FROM notifications o "
                "WHERE o.state = 'sending' AND o.customer_id = notifications.customer_id)",
                (worker, now.timestamp(), notification_id, now.timestamp())).rowcount == 1

    def _finish(self, notification_id: int, worker: str, state: str, now: datetime, **values: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        db = self._db()
        with sqlite.immediate(db):
            db.execute(f"UPDATE notifications SET state = ?, finished_at = ?{', ' if sets else ''}{sets} "
                       "WHERE id = ? AND state = 'sending' AND claimed_by = ?",
                       (state, now.timestamp(), *values.values(), notification_id, worker))

    def sent(self, notification_id: int, worker: str, now: datetime, channel: str, conversation: str) -> None:
        self._finish(notification_id, worker, "sent", now, reason="", channel=channel, conversation=conversation)

    def failed(self, notification_id: int, worker: str, now: datetime, error: str, channel: str = "") -> None:
        self._finish(notification_id, worker, "failed", now, error=error[:500], channel=channel)

    def skipped(self, notification_id: int, worker: str, now: datetime, reason: str, channel: str = "") -> None:
        self._finish(notification_id, worker, "skipped", now, reason=reason, channel=channel or None)

    def postpone(self, notification_id: int, worker: str, until: datetime, reason: str) -> None:
        db = self._db()
        with sqlite.immediate(db):
            db.execute("UPDATE notifications SET state = 'queued', not_before = ?, reason = ?, claimed_by = NULL "
                       "WHERE id = ? AND state = 'sending' AND claimed_by = ?",
                       (until.timestamp(), reason, notification_id, worker))

    def expire_claims(self, now: datetime, lease: float) -> int:
        """Close claims older than `lease` seconds (their replica died mid-send) as skipped."""
        db = self._db()
        with sqlite.immediate(db):
            return db.execute("UPDATE notifications SET state = 'skipped', reason = 'interrupted', finished_at = ? "
                              "WHERE state = 'sending' AND claimed_at < ?",
                              (now.timestamp(), now.timestamp() - lease)).rowcount

    def sent_since(self, customer_id: str, since: datetime) -> int:
        return self._db().execute("SELECT COUNT(*) FROM notifications WHERE customer_id = ? AND state = 'sent' "
                                  "AND finished_at >= ?", (customer_id, since.timestamp())).fetchone()[0]

    # --- opt-outs -----------------------------------------------------------------------------------
    def opt_out(self, customer_id: str, now: datetime, channel: str = "") -> None:
        db = self._db()
        with sqlite.immediate(db):
            db.execute("INSERT INTO opt_outs (customer_id, at, channel) VALUES (?, ?, ?) ON CONFLICT (customer_id) "
                       "DO UPDATE SET at = excluded.at, channel = excluded.channel",
                       (customer_id, now.timestamp(), channel))

    def opt_in(self, customer_id: str) -> bool:
        db = self._db()
        with sqlite.immediate(db):
            return db.execute("DELETE FROM opt_outs WHERE customer_id = ?", (customer_id,)).rowcount > 0

    def opted_out(self, customer_id: str) -> bool:
        return self._db().execute("SELECT 1 FROM opt_outs WHERE customer_id = ?", (customer_id,)).fetchone() is not None

    # --- outcomes -----------------------------------------------------------------------------------
    def awaiting_outcome(self, limit: int = 500) -> List[Notification]:
        return [_row(r) for r in self._db().execute(
            f"SELECT {COLUMNS} FROM notifications WHERE state = 'sent' AND outcome_final = 0 ORDER BY id LIMIT ?",
            (limit,))]

    def set_outcome(self, notification_id: int, outcome: Optional[str], final: bool) -> None:
        db = self._db()
        with sqlite.immediate(db):
            db.execute("UPDATE notifications SET outcome = ?, outcome_final = ? WHERE id = ? AND outcome_final = 0",
                       (outcome, int(final), notification_id))

    # --- reading ------------------------------------------------------------------------------------
    def all(self, customer_id: Optional[str] = None) -> List[Notification]:
        where, args = ("WHERE customer_id = ?", (customer_id,)) if customer_id else ("", ())
        return [_row(r) for r in self._db().execute(f"SELECT {COLUMNS} FROM notifications {where} ORDER BY id",
                                                    args)]

    def get(self, dedupe_key: str) -> Optional[Notification]:
        r = self._db().execute(f"SELECT {COLUMNS} FROM notifications WHERE dedupe_key = ?", (dedupe_key,)).fetchone()
        return _row(r) if r else None

    def counts(self) -> List[Tuple[str, str, str, str, int]]:
        """(kind, state, reason, outcome, count) over every notification, for the metrics."""
        return [tuple(r) for r in self._db().execute(
            "SELECT kind, state, reason, COALESCE(outcome, ''), COUNT(*) FROM notifications "
            "GROUP BY kind, state, reason, COALESCE(outcome, '')")]
