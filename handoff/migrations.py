"""Schema migrations of the handoff store: numbered scripts, each applied once, in order, in a
transaction, recorded in `schema_migrations`. Add a new entry to change the schema; never edit one
that has shipped.

Each migration exists twice, with the same number: for SQLite (MIGRATIONS) and for PostgreSQL
(POSTGRES_MIGRATIONS, the same tables, columns, constraints and indexes in PostgreSQL's types:
identity columns for AUTOINCREMENT, DOUBLE PRECISION for REAL, BIGINT ids). A new migration is added
to both.
"""
from __future__ import annotations

import sqlite3
import time
from typing import Optional, Sequence, Tuple

from common.migrations import check_versions, migrate_postgres, statements
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
    # Content editors: console accounts that edit the FAQ and never see conversations (SQLite cannot
    # change a CHECK constraint: the table is rebuilt; nothing references it by constraint enforcement).
    (3, """
CREATE TABLE agents_new (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'editor')),
    skills_json   TEXT NOT NULL,
    capacity      INTEGER NOT NULL CHECK (capacity >= 1),
    status        TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'away', 'offline')),
    idle_since    REAL NOT NULL DEFAULT 0,
    password_hash TEXT NOT NULL
);
INSERT INTO agents_new (id, name, role, skills_json, capacity, status, idle_since, password_hash)
    SELECT id, name, role, skills_json, capacity, status, idle_since, password_hash FROM agents;
DROP TABLE agents;
ALTER TABLE agents_new RENAME TO agents
"""),
    # Several handoff services on one database (docs/scale-out.md): what used to live in one process's
    # memory is shared here. Per conversation: the place last told to the waiting customer, when a missed
    # first-response target was reported, agents who declined it or let its offer lapse; a lease per
    # conversation on its outbox (one service delivers a conversation's items, in order); every change of
    # state, with the agent (the assignment history).
    (4, """
ALTER TABLE conversations ADD COLUMN told_position INTEGER;
ALTER TABLE conversations ADD COLUMN sla_reported_at REAL;
CREATE TABLE offer_passes (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    agent_id        TEXT NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
);
CREATE TABLE outbox_leases (
    conversation_id INTEGER PRIMARY KEY REFERENCES conversations (id),
    owner           TEXT NOT NULL,
    until           REAL NOT NULL
);
CREATE TABLE conversation_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    from_state      TEXT,
    to_state        TEXT NOT NULL,
    agent_id        TEXT,
    at              REAL NOT NULL
);
CREATE INDEX conversation_log_conversation ON conversation_log (conversation_id, id)
"""),
    # 5: the console's failed logins per account, counted in the store so that every service sees them
    # (with several services an account would otherwise get LOGIN_LIMIT tries per service).
    (5, """
CREATE TABLE login_failures (
    agent_id  TEXT PRIMARY KEY,
    failures  INTEGER NOT NULL,
    last_at   REAL NOT NULL
)
"""),
    # 6: customers (docs/customers.md): a VIP's dedicated advisor, set by supervisors; a customer's
    # earlier handoffs found by customer and by conversation (the last agent, the profile's history).
    (6, """
CREATE TABLE customer_advisors (
    customer_id TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL REFERENCES agents (id),
    assigned_by TEXT,
    assigned_at REAL NOT NULL
);
CREATE INDEX customer_advisors_agent ON customer_advisors (agent_id);
CREATE INDEX conversations_customer ON conversations (customer_id, id);
CREATE INDEX conversations_sender ON conversations (sender_id, id)
"""),
    # 7: handoff requests by the bot's request id (actions/handoff_outbox.py retries with the same id):
    # a repeated request returns the conversation the first one opened, never a second one.
    (7, """
CREATE TABLE handoff_requests (
    request_id      TEXT PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    created_at      REAL NOT NULL
)
"""),
    # 8: tickets (tickets/, handoff/ticket_store.py): a conversation that outlives its chat, with a
    # category, owner department, due time, owner, status and a history of events.
    (8, """
CREATE TABLE tickets (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    sender_id       TEXT NOT NULL,
    customer_id     TEXT,
    channel         TEXT NOT NULL,
    language        TEXT NOT NULL,
    tier            TEXT NOT NULL DEFAULT 'normal',
    category        TEXT NOT NULL,
    department      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'waiting_customer', 'resolved', 'closed')),
    owner_id        TEXT REFERENCES agents (id),
    created_by      TEXT NOT NULL,
    created_at      REAL NOT NULL,
    due_at          REAL NOT NULL,
    updated_at      REAL NOT NULL,
    resolved_at     REAL,
    closed_at       REAL,
    overdue_at      REAL,
    csat_score      INTEGER CHECK (csat_score BETWEEN 1 AND 5),
    csat_comment    TEXT
);
CREATE UNIQUE INDEX tickets_conversation ON tickets (conversation_id);
CREATE INDEX tickets_status ON tickets (status, department, due_at);
CREATE INDEX tickets_sender ON tickets (sender_id, id);
CREATE INDEX tickets_customer ON tickets (customer_id, id);
CREATE TABLE ticket_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id    INTEGER NOT NULL REFERENCES tickets (id),
    kind         TEXT NOT NULL,
    at           REAL NOT NULL,
    agent_id     TEXT,
    from_status  TEXT,
    to_status    TEXT,
    text         TEXT NOT NULL DEFAULT '',
    public       INTEGER NOT NULL DEFAULT 0,
    delivered_at REAL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id)
"""),
    # 9: what the customer's channel refused for good (common/undeliverable.py: WeChat's 48-hour window,
    # an unsubscribed user): the outbox item is done with, its message and ticket notice keep when and why.
    (9, """
ALTER TABLE outbox ADD COLUMN failed_at REAL;
ALTER TABLE messages ADD COLUMN failed_at REAL;
ALTER TABLE messages ADD COLUMN failure TEXT;
ALTER TABLE ticket_events ADD COLUMN failed_at REAL;
ALTER TABLE ticket_events ADD COLUMN failure TEXT
"""),
    # 10: a ticket waiting on the customer stops its due time's clock (tickets/model.py): since when.
    (10, """
ALTER TABLE tickets ADD COLUMN paused_at REAL
"""),
)

POSTGRES_MIGRATIONS: Sequence[Tuple[int, str]] = (
    (1, """
CREATE TABLE conversations (
    id                BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    sender_id         TEXT NOT NULL,
    channel           TEXT NOT NULL,
    language          TEXT NOT NULL,
    customer_id       TEXT,
    tier              TEXT NOT NULL DEFAULT 'normal',
    reason            TEXT NOT NULL,
    queue             TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('queued', 'offered', 'active', 'closed', 'returned', 'ticket')),
    summary_json      TEXT NOT NULL,
    created_at        DOUBLE PRECISION NOT NULL,
    agent_id          TEXT,
    assigned_at       DOUBLE PRECISION,
    first_response_at DOUBLE PRECISION,
    closed_at         DOUBLE PRECISION
);
CREATE INDEX conversations_state ON conversations (state, queue, created_at);
-- At most one conversation per customer is with people at a time.
CREATE UNIQUE INDEX conversations_one_open ON conversations (sender_id)
    WHERE state IN ('queued', 'offered', 'active');
CREATE TABLE messages (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    direction       TEXT NOT NULL CHECK (direction IN ('customer', 'agent', 'system')),
    text            TEXT NOT NULL,
    agent_id        TEXT,
    created_at      DOUBLE PRECISION NOT NULL,
    delivered_at    DOUBLE PRECISION
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
    idle_since    DOUBLE PRECISION NOT NULL DEFAULT 0,
    password_hash TEXT NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE csat (
    conversation_id BIGINT PRIMARY KEY REFERENCES conversations (id),
    score           INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment         TEXT NOT NULL DEFAULT '',
    created_at      DOUBLE PRECISION NOT NULL
);
"""),
    (2, """
CREATE TABLE outbox (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    sender_id       TEXT NOT NULL,
    intent          TEXT NOT NULL,
    entities_json   TEXT NOT NULL,
    message_id      BIGINT REFERENCES messages (id),
    created_at      DOUBLE PRECISION NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    delivered_at    DOUBLE PRECISION
);
CREATE INDEX outbox_pending ON outbox (delivered_at, id)
"""),
    (3, """
ALTER TABLE agents DROP CONSTRAINT IF EXISTS agents_role_check;
ALTER TABLE agents ADD CONSTRAINT agents_role_check CHECK (role IN ('agent', 'supervisor', 'editor'))
"""),
    (4, """
ALTER TABLE conversations ADD COLUMN told_position INTEGER;
ALTER TABLE conversations ADD COLUMN sla_reported_at DOUBLE PRECISION;
CREATE TABLE offer_passes (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    agent_id        TEXT NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
);
CREATE TABLE outbox_leases (
    conversation_id BIGINT PRIMARY KEY REFERENCES conversations (id),
    owner           TEXT NOT NULL,
    until           DOUBLE PRECISION NOT NULL
);
CREATE TABLE conversation_log (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    from_state      TEXT,
    to_state        TEXT NOT NULL,
    agent_id        TEXT,
    at              DOUBLE PRECISION NOT NULL
);
CREATE INDEX conversation_log_conversation ON conversation_log (conversation_id, id)
"""),
    (5, """
CREATE TABLE login_failures (
    agent_id  TEXT PRIMARY KEY,
    failures  INTEGER NOT NULL,
    last_at   DOUBLE PRECISION NOT NULL
)
"""),
    (6, """
CREATE TABLE customer_advisors (
    customer_id TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL REFERENCES agents (id),
    assigned_by TEXT,
    assigned_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX customer_advisors_agent ON customer_advisors (agent_id);
CREATE INDEX conversations_customer ON conversations (customer_id, id);
CREATE INDEX conversations_sender ON conversations (sender_id, id)
"""),
    (7, """
CREATE TABLE handoff_requests (
    request_id      TEXT PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    created_at      DOUBLE PRECISION NOT NULL
)
"""),
    # 8: tickets (tickets/, handoff/ticket_store.py): a conversation that outlives its chat, with a
    # category, owner department, due time, owner, status and a history of events.
    (8, """
CREATE TABLE tickets (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    sender_id       TEXT NOT NULL,
    customer_id     TEXT,
    channel         TEXT NOT NULL,
    language        TEXT NOT NULL,
    tier            TEXT NOT NULL DEFAULT 'normal',
    category        TEXT NOT NULL,
    department      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'waiting_customer', 'resolved', 'closed')),
    owner_id        TEXT REFERENCES agents (id),
    created_by      TEXT NOT NULL,
    created_at      DOUBLE PRECISION NOT NULL,
    due_at          DOUBLE PRECISION NOT NULL,
    updated_at      DOUBLE PRECISION NOT NULL,
    resolved_at     DOUBLE PRECISION,
    closed_at       DOUBLE PRECISION,
    overdue_at      DOUBLE PRECISION,
    csat_score      INTEGER CHECK (csat_score BETWEEN 1 AND 5),
    csat_comment    TEXT
);
CREATE UNIQUE INDEX tickets_conversation ON tickets (conversation_id);
CREATE INDEX tickets_status ON tickets (status, department, due_at);
CREATE INDEX tickets_sender ON tickets (sender_id, id);
CREATE INDEX tickets_customer ON tickets (customer_id, id);
CREATE TABLE ticket_events (
    id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    ticket_id    BIGINT NOT NULL REFERENCES tickets (id),
    kind         TEXT NOT NULL,
    at           DOUBLE PRECISION NOT NULL,
    agent_id     TEXT,
    from_status  TEXT,
    to_status    TEXT,
    text         TEXT NOT NULL DEFAULT '',
    public       INTEGER NOT NULL DEFAULT 0,
    delivered_at DOUBLE PRECISION
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id)
"""),
    # 9: what the customer's channel refused for good (as in MIGRATIONS).
    (9, """
ALTER TABLE outbox ADD COLUMN failed_at DOUBLE PRECISION;
ALTER TABLE messages ADD COLUMN failed_at DOUBLE PRECISION;
ALTER TABLE messages ADD COLUMN failure TEXT;
ALTER TABLE ticket_events ADD COLUMN failed_at DOUBLE PRECISION;
ALTER TABLE ticket_events ADD COLUMN failure TEXT
"""),
    # 10: when a ticket's wait on the customer began (as in MIGRATIONS).
    (10, """
ALTER TABLE tickets ADD COLUMN paused_at DOUBLE PRECISION
"""),
)

# pg_advisory_xact_lock key serialising migrations of one PostgreSQL database ("handoff" in ASCII).
POSTGRES_LOCK = 0x68616E646F6666


def migrate(db, migrations: Optional[Sequence[Tuple[int, str]]] = None) -> int:
    """Apply the migrations not applied yet; returns the schema version. `db` is a sqlite3 connection
    (default: MIGRATIONS) or a psycopg one in autocommit mode (default: POSTGRES_MIGRATIONS; services
    starting together take turns on POSTGRES_LOCK, common/migrations.py)."""
    if not isinstance(db, sqlite3.Connection):
        return migrate_postgres(db, POSTGRES_MIGRATIONS if migrations is None else migrations,
                                lock=POSTGRES_LOCK, table="schema_migrations")
    migrations = MIGRATIONS if migrations is None else migrations
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)")
    done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
    check_versions(migrations)
    for version, script in migrations:
        if version in done:
            continue
        with immediate(db):
            # checked again under the write lock: another process may have applied it meanwhile
            if not db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                for statement in statements(script):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
    return max((v for v, _ in migrations), default=0)
