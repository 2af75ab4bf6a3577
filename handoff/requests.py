"""Durable record of handoff requests: who asked for a person, why, and with what context.

This is the intake of the handoff bridge: the action server writes a request here when the
conversation must go to a person, so that nothing the customer said is lost even before an agent
console exists. SQLite, one row per request, the summary stored as JSON.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional

from common.sqlite import connect, initialise

SCHEMA = """
CREATE TABLE IF NOT EXISTS handoff_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id    TEXT NOT NULL,
    reason       TEXT NOT NULL,
    language     TEXT NOT NULL,
    created_at   REAL NOT NULL,
    summary_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS handoff_requests_sender ON handoff_requests (sender_id);
"""

# Reason codes (stable strings: they end up in metrics and routing).
REASONS = ("customer_request", "complaint", "low_confidence", "order_request")


@dataclass(frozen=True)
class HandoffRequest:
    sender_id: str
    reason: str
    language: str
    intents: List[str] = field(default_factory=list)
    slots: dict = field(default_factory=dict)
    transcript: List[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown handoff reason {self.reason!r}; known: {REASONS}")


@dataclass(frozen=True)
class StoredRequest:
    id: int
    created_at: float
    request: HandoffRequest


class HandoffRequestStore:
    def __init__(self, path: Path) -> None:
        self.path = initialise(path, SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)

    def record(self, request: HandoffRequest) -> int:
        summary = {"intents": request.intents, "slots": request.slots,
                   "transcript": request.transcript}
        with self._connect() as db:
            cur = db.execute(
                "INSERT INTO handoff_requests (sender_id, reason, language, created_at, summary_json)"
                " VALUES (?, ?, ?, ?, ?)",
                (request.sender_id, request.reason, request.language, time.time(),
                 json.dumps(summary, ensure_ascii=False)),
            )
            return int(cur.lastrowid)

    def for_sender(self, sender_id: str) -> List[StoredRequest]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, created_at, sender_id, reason, language, summary_json"
                " FROM handoff_requests WHERE sender_id = ? ORDER BY id", (sender_id,)
            ).fetchall()
        return [_row_to_stored(r) for r in rows]

    def get(self, request_id: int) -> Optional[StoredRequest]:
        with self._connect() as db:
            row = db.execute(
                "SELECT id, created_at, sender_id, reason, language, summary_json"
                " FROM handoff_requests WHERE id = ?", (request_id,)
            ).fetchone()
        return _row_to_stored(row) if row else None


def _row_to_stored(row: tuple) -> StoredRequest:
    rid, created, sender, reason, language, summary_json = row
    summary = json.loads(summary_json)
    return StoredRequest(rid, created, HandoffRequest(sender, reason, language, **summary))


def as_dict(stored: StoredRequest) -> dict:
    return {"id": stored.id, "created_at": stored.created_at, **asdict(stored.request)}
