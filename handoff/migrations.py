"""Schema migrations of the handoff store: numbered scripts, each applied once, in order, in a
transaction, recorded in `schema_migrations`. Add a new entry to change the schema; never edit one
that has shipped.
"""
from __future__ import annotations

import sqlite3
import time
from typing import Sequence, Tuple

from common.sqlite import immediate

MIGRATIONS: Sequence[Tuple[int, str]] = (
    (1, """
CREATE TABLE conversations (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    sender_id         TEXT NOT NULL,
    channel           TEXT NOT NULL,
    language          TEXT NOT NULL,
    customer_id       TEXT,
    tier              TEXT NOT NULL DEFAULT 'normal',
    reason            TEXT NOT NULL,
    queue             TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('queued', 'offered', 'active', 'closed', 'returned', 'ticket')),
    summary_json      TEXT NOT NULL,
    created_at        REAL NOT NULL,
    agent_id          TEXT,
    assigned_at       REAL,
    first_response_at REAL,
    closed_at         REAL
);
CREATE INDEX conversations_state ON conversations (state, queue, created_at);
-- At most one conversation per customer is with people at a time.
CREATE UNIQUE INDEX conversations_one_open ON conversations (sender_id)
    WHERE state IN ('queued', 'offered', 'active');
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    direction       TEXT NOT NULL CHECK (direction IN ('customer', 'agent', 'system')),
    text            TEXT NOT NULL,
    agent_id        TEXT,
    created_at      REAL NOT NULL,
    delivered_at    REAL
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);
CREATE INDEX messages_undelivered ON messages (direction, delivered_at);
CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('agent', 'supervisor')),
    skills_json   TEXT NOT NULL,
    capacity      INTEGER NOT NULL CHECK (capacity >= 1),
    status        TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'away', 'offline')),
    idle_since    REAL NOT NULL DEFAULT 0,
    password_hash TEXT NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    expires_at REAL NOT NULL
);
CREATE TABLE csat (
    conversation_id INTEGER PRIMARY KEY REFERENCES conversations (id),
    score           INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment         TEXT NOT NULL DEFAULT '',
    created_at      REAL NOT NULL
);
"""),
    # What must reach the customer through Rasa, in order, until Rasa has taken it: agent replies,
    # service notices, and the end of the conversation with people (hand-back or survey).
    (2, """
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    sender_id       TEXT NOT NULL,
    intent          TEXT NOT NULL,
    entities_json   TEXT NOT NULL,
    message_id      INTEGER REFERENCES messages (id),
    created_at      REAL NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    delivered_at    REAL
);
CREATE INDEX outbox_pending ON outbox (delivered_at, id)
"""),
)


def migrate(db: sqlite3.Connection, migrations: Sequence[Tuple[int, str]] = MIGRATIONS) -> int:
    """Apply the migrations not applied yet; returns the schema version."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)")
    done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
    versions = [v for v, _ in migrations]
    if versions != sorted(set(versions)):
        raise ValueError("migration versions must be unique and increasing")
    for version, script in migrations:
        if version in done:
            continue
        with immediate(db):
            # checked again under the write lock: another process may have applied it meanwhile
            if not db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                for statement in filter(str.strip, script.split(";\n")):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
    return max(versions, default=0)
