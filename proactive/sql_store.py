"""The notification store's logic (proactive/store.py says what it keeps and guarantees), written once in
SQL that SQLite and PostgreSQL both run, with `?` placeholders; `SqliteNotificationStore` runs it on the
SQLite file `var/proactive.sqlite3`, proactive/pg_store.py on PostgreSQL.

Every write is one transaction that nobody else's write can interleave with: SQLite's BEGIN IMMEDIATE
(one writer at a time), PostgreSQL's SERIALIZABLE, retried on conflicts. Hence one row per dedupe key
(`ON CONFLICT DO NOTHING`), one winner per claim (`UPDATE … WHERE state = 'queued'`), no customer
claimed twice at once (the claim's NOT EXISTS reads what a concurrent claim writes), a stale claim
expired once, and replicas agreeing on every customer's baseline.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Protocol, Sequence, Tuple, TypeVar

from common import sqlite
from proactive.model import Candidate
from proactive.store import Notification

T = TypeVar("T")


class Db(Protocol):
    """One connection as the store's SQL sees it: sqlite3's, or common.postgres.PostgresSql."""

    def execute(self, sql: str, args: Sequence = ...) -> Any: ...


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

COLUMNS = ("id, dedupe_key, kind, customer_id, order_number, language, params, event_time, first_seen, state, "
           "reason, not_before, finished_at, channel, conversation, error, outcome, outcome_final")


def _ts(value: Optional[datetime]) -> Optional[float]:
    return value.timestamp() if value is not None else None


def _dt(value: Optional[float]) -> Optional[datetime]:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def _row(r: tuple) -> Notification:
    return Notification(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), _dt(r[7]), _dt(r[8]), r[9], r[10],
                        r[11], _dt(r[12]), r[13], r[14], r[15], r[16], bool(r[17]))


class SqlNotificationStore:
    """The store's logic; a database supplies `_write` (one write transaction) and `_read`."""

    def _write(self, work: Callable[[Db], T]) -> T:
        raise NotImplementedError

    def _read(self, work: Callable[[Db], T]) -> T:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing kept here (PostgreSQL keeps connections)."""

    # --- candidates ---------------------------------------------------------------------------------
    def offer(self, candidates: Iterable[Candidate], now: datetime, customers: Iterable[str] = ()) -> int:
        at, candidates, customers = now.timestamp(), list(candidates), set(customers)

        def work(db: Db) -> int:  # run again from the start if PostgreSQL retries it
            new = 0
            known = {r[0] for r in db.execute("SELECT customer_id FROM customers_seen")}
            for customer_id in sorted(customers | {c.customer_id for c in candidates}):
                if customer_id not in known:
                    db.execute("INSERT INTO customers_seen (customer_id, first_round) VALUES (?, ?)",
                               (customer_id, at))
            for c in candidates:
                history = c.event_time is None and c.customer_id not in known
                new += db.execute(
                    "INSERT INTO notifications (dedupe_key, kind, customer_id, order_number, language, params, "
                    "event_time, first_seen, state, reason, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT DO NOTHING",
                    (c.dedupe_key, c.kind, c.customer_id, c.order_number, c.language,
                     json.dumps(dict(c.params), ensure_ascii=False), _ts(c.event_time), at,
                     "skipped" if history else "queued", "before_start" if history else "",
                     at if history else None)).rowcount
            return new

        return self._write(work)

    def due(self, now: datetime, limit: int = 500) -> List[Notification]:
        return self._read(lambda db: [_row(r) for r in db.execute(
            f"SELECT {COLUMNS} FROM notifications WHERE state = 'queued' AND not_before <= ? ORDER BY id LIMIT ?",
            (now.timestamp(), limit))])

    def claim(self, notification_id: int, worker: str, now: datetime) -> bool:
        return self._write(lambda db: db.execute(
            "UPDATE notifications SET state = 'sending', claimed_by = ?, claimed_at = ? WHERE id = ? "
            "AND state = 'queued' AND not_before <= ? AND NOT EXISTS (SELECT 1 FROM notifications o "
            "WHERE o.state = 'sending' AND o.customer_id = notifications.customer_id)",
            (worker, now.timestamp(), notification_id, now.timestamp())).rowcount == 1)

    def _finish(self, notification_id: int, worker: str, state: str, now: datetime, **values: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        self._write(lambda db: db.execute(
            f"UPDATE notifications SET state = ?, finished_at = ?{', ' if sets else ''}{sets} "
            "WHERE id = ? AND state = 'sending' AND claimed_by = ?",
            (state, now.timestamp(), *values.values(), notification_id, worker)))

    def sent(self, notification_id: int, worker: str, now: datetime, channel: str, conversation: str) -> None:
        self._finish(notification_id, worker, "sent", now, reason="", channel=channel, conversation=conversation)

    def failed(self, notification_id: int, worker: str, now: datetime, error: str, channel: str = "") -> None:
        self._finish(notification_id, worker, "failed", now, error=error[:500], channel=channel)

    def skipped(self, notification_id: int, worker: str, now: datetime, reason: str, channel: str = "") -> None:
        self._finish(notification_id, worker, "skipped", now, reason=reason, channel=channel or None)

    def postpone(self, notification_id: int, worker: str, until: datetime, reason: str) -> None:
        self._write(lambda db: db.execute(
            "UPDATE notifications SET state = 'queued', not_before = ?, reason = ?, claimed_by = NULL "
            "WHERE id = ? AND state = 'sending' AND claimed_by = ?",
            (until.timestamp(), reason, notification_id, worker)))

    def expire_claims(self, now: datetime, lease: float) -> int:
        return self._write(lambda db: db.execute(
            "UPDATE notifications SET state = 'skipped', reason = 'interrupted', finished_at = ? "
            "WHERE state = 'sending' AND claimed_at < ?", (now.timestamp(), now.timestamp() - lease)).rowcount)

    def sent_since(self, customer_id: str, since: datetime) -> int:
        return self._read(lambda db: db.execute(
            "SELECT COUNT(*) FROM notifications WHERE customer_id = ? AND state = 'sent' AND finished_at >= ?",
            (customer_id, since.timestamp())).fetchone()[0])

    # --- opt-outs -----------------------------------------------------------------------------------
    def opt_out(self, customer_id: str, now: datetime, channel: str = "") -> None:
        self._write(lambda db: db.execute(
            "INSERT INTO opt_outs (customer_id, at, channel) VALUES (?, ?, ?) ON CONFLICT (customer_id) "
            "DO UPDATE SET at = excluded.at, channel = excluded.channel", (customer_id, now.timestamp(), channel)))

    def opt_in(self, customer_id: str) -> bool:
        return self._write(lambda db: db.execute("DELETE FROM opt_outs WHERE customer_id = ?",
                                                 (customer_id,)).rowcount > 0)

    def opted_out(self, customer_id: str) -> bool:
        return self._read(lambda db: db.execute("SELECT 1 FROM opt_outs WHERE customer_id = ?",
                                                (customer_id,)).fetchone() is not None)

    # --- outcomes -----------------------------------------------------------------------------------
    def awaiting_outcome(self, limit: int = 500) -> List[Notification]:
        return self._read(lambda db: [_row(r) for r in db.execute(
            f"SELECT {COLUMNS} FROM notifications WHERE state = 'sent' AND outcome_final = 0 ORDER BY id LIMIT ?",
            (limit,))])

    def set_outcome(self, notification_id: int, outcome: Optional[str], final: bool) -> None:
        self._write(lambda db: db.execute(
            "UPDATE notifications SET outcome = ?, outcome_final = ? WHERE id = ? AND outcome_final = 0",
            (outcome, int(final), notification_id)))

    # --- reading ------------------------------------------------------------------------------------
    def all(self, customer_id: Optional[str] = None) -> List[Notification]:
        where, args = ("WHERE customer_id = ?", (customer_id,)) if customer_id else ("", ())
        return self._read(lambda db: [_row(r) for r in db.execute(
            f"SELECT {COLUMNS} FROM notifications {where} ORDER BY id", args)])

    def get(self, dedupe_key: str) -> Optional[Notification]:
        def work(db: Db) -> Optional[Notification]:
            r = db.execute(f"SELECT {COLUMNS} FROM notifications WHERE dedupe_key = ?", (dedupe_key,)).fetchone()
            return _row(r) if r else None

        return self._read(work)

    def counts(self) -> List[Tuple[str, str, str, str, int]]:
        return self._read(lambda db: [tuple(r) for r in db.execute(
            "SELECT kind, state, reason, COALESCE(outcome, ''), COUNT(*) FROM notifications "
            "GROUP BY kind, state, reason, COALESCE(outcome, '')")])


class SqliteNotificationStore(SqlNotificationStore):
    """The store in a SQLite file (created with its folder and tables when opened), one connection per
    thread; writes take SQLite's write lock at once (BEGIN IMMEDIATE)."""

    def __init__(self, path: Path) -> None:
        self.path = sqlite.initialise(Path(path), SCHEMA)
        self._db = sqlite.PerThread(self.path)

    def _write(self, work: Callable[[Db], T]) -> T:
        db = self._db()
        with sqlite.immediate(db):
            return work(db)

    def _read(self, work: Callable[[Db], T]) -> T:
        return work(self._db())
