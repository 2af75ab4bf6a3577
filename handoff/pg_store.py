"""The handoff store on PostgreSQL (CS_HANDOFF_DB_URL=postgresql://…): HandoffStore's logic, run as it
is (same methods, results, StoreError messages and guarantees), over psycopg 3. Only the way the SQL
reaches the database differs (common/postgres.py, shared with the proactive notifications' store):

- the store's `?` placeholders become `%s`; a new row's id comes from `RETURNING id` (SQLite: lastrowid);
- every write is one SERIALIZABLE transaction (SQLite: BEGIN IMMEDIATE, one writer at a time), run again
  from the start when PostgreSQL reports a serialization failure or a deadlock: what a write reads
  before it writes cannot have changed under it (two agents accepting one offer: one wins, the other
  is told the conversation is taken; two requests opening a conversation for one customer: one row);
- reads run in autocommit, one statement each, as on SQLite;
- connections are kept for reuse (a few idle ones, checked after a pause) instead of opened per call;
  waiting for a row lock ends after 10 s unless the URL sets `options` (SQLite's busy timeout).

The schema is handoff/migrations.py's POSTGRES_MIGRATIONS, applied when the store is opened (services
starting together take turns on an advisory lock).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, ContextManager, Iterator

import psycopg

from common.postgres import Connections
from handoff.migrations import migrate
from handoff.store import HandoffStore, Sql

DISPATCH_LOCK = 0x68616E646F6667  # pg_advisory_xact_lock key of dispatch_lock (migrations use ...66)


class PostgresHandoffStore(HandoffStore):
    IntegrityError = psycopg.IntegrityError

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        self.connections = Connections(url, application_name="cs-handoff")
        self.clock = clock
        with self._connection() as conn:
            migrate(conn)

    def _connection(self) -> ContextManager[psycopg.Connection]:
        return self.connections.connection()

    def close(self) -> None:
        """Close the kept connections (later calls still work, each on a connection of its own)."""
        self.connections.close()

    # --- how the store's logic runs ------------------------------------------------------------------
    def _write(self, work: Callable[[Sql], object]):
        return self.connections.write(work)

    def _read(self, work: Callable[[Sql], object]):
        return self.connections.read(work)

    @contextmanager
    def dispatch_lock(self) -> Iterator[None]:
        """Every handoff service on this database takes turns making offers: a transaction-scoped advisory
        lock on a connection of its own, held while the line and the agents are read and the offers written
        (each offer is still its own SERIALIZABLE transaction, so a pull or an accept racing it is safe too).
        A service that dies holding it loses its connection, which releases the lock."""
        with self._connection() as conn:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (DISPATCH_LOCK,))
                yield
