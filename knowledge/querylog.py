"""Every knowledge-base lookup of a conversation (answer, suggestion, no answer), kept in SQLite for the
editors' loop: which questions customers ask, which got no answer, how confident the answers were."""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from common.masking import mask_pii
from common.sqlite import connect, initialise

SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_lookups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    sender_id TEXT NOT NULL,
    channel TEXT,
    language TEXT,
    query TEXT NOT NULL,            -- personal data masked
    source TEXT NOT NULL,           -- faq_intent | fallback | button
    decision TEXT NOT NULL,         -- answer | suggest | none | unavailable
    chosen TEXT,                    -- entry id answered, if any
    top TEXT NOT NULL,              -- JSON [[entry id, confidence], ...]
    index_version TEXT
);
CREATE INDEX IF NOT EXISTS kb_lookups_at ON kb_lookups (at);
CREATE INDEX IF NOT EXISTS kb_lookups_decision ON kb_lookups (decision, at);
CREATE INDEX IF NOT EXISTS kb_lookups_sender ON kb_lookups (sender_id, id);
"""


@dataclass(frozen=True)
class Lookup:
    sender_id: str
    query: str
    source: str
    decision: str
    top: Sequence[Tuple[str, float]]
    chosen: Optional[str] = None
    language: Optional[str] = None
    channel: Optional[str] = None
    index_version: Optional[str] = None
    at: float = 0.0


class QueryLog:
    def __init__(self, path: Path) -> None:
        self.path = initialise(path, SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)

    def record(self, lookup: Lookup) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO kb_lookups (at, sender_id, channel, language, query, source, decision, chosen, top,"
                " index_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (lookup.at or time.time(), lookup.sender_id, lookup.channel, lookup.language,
                 mask_pii(lookup.query), lookup.source, lookup.decision, lookup.chosen,
                 json.dumps([[i, round(float(c), 4)] for i, c in lookup.top]), lookup.index_version))

    def recent(self, limit: int = 100, decision: Optional[str] = None,
               sender_id: Optional[str] = None) -> List[Lookup]:
        """Newest first; optionally only one decision kind and/or one conversation."""
        sql = ("SELECT sender_id, query, source, decision, top, chosen, language, channel, index_version, at"
               " FROM kb_lookups")
        where, args = [], []
        if decision:
            where.append("decision = ?")
            args.append(decision)
        if sender_id:
            where.append("sender_id = ?")
            args.append(sender_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        with self._connect() as db:
            rows = db.execute(sql, args).fetchall()
        return [Lookup(r[0], r[1], r[2], r[3], [tuple(x) for x in json.loads(r[4])], r[5], r[6], r[7], r[8], r[9])
                for r in rows]
