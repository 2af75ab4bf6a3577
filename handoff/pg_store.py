"""The handoff store on PostgreSQL (CS_HANDOFF_DB_URL=postgresql://…): HandoffStore's logic, run as it
is (same methods, results, StoreError messages and guarantees), over psycopg 3. Only the way the SQL
reaches the database differs:

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

import random
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, List, Sequence, Tuple

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from handoff.migrations import migrate
from handoff.store import HandoffStore, Sql

ATTEMPTS = 20  # of one write, while serialization failures / deadlocks keep happening
KEEP_IDLE = 8  # connections kept for reuse
CHECK_AFTER = 5.0  # seconds idle after which a kept connection is checked before it is used
DISPATCH_LOCK = 0x68616E646F6667  # pg_advisory_xact_lock key of dispatch_lock (migrations use ...66)
DEFAULTS = {"connect_timeout": "10", "application_name": "cs-handoff", "options": "-c lock_timeout=10s"}


class PostgresSql(Sql):
    """The store's SQL on a psycopg connection."""

    def execute(self, sql: str, args: Sequence = ()):
        return self.db.execute(sql.replace("?", "%s"), args)

    def insert(self, sql: str, args: Sequence) -> int:
        return self.db.execute(sql.replace("?", "%s") + " RETURNING id", args).fetchone()[0]


class PostgresHandoffStore(HandoffStore):
    IntegrityError = psycopg.IntegrityError

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        given = conninfo_to_dict(url)  # a malformed URL fails here, before anything connects
        self._conninfo = make_conninfo(url, **{k: v for k, v in DEFAULTS.items() if k not in given})
        self.clock = clock
        self._lock = threading.Lock()
        self._idle: List[Tuple[psycopg.Connection, float]] = []
        self._closed = False
        with self._connection() as conn:
            migrate(conn)

    # --- connections -------------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self._conninfo, autocommit=True)
        conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE  # of the transactions of _write
        return conn

    def _take(self) -> psycopg.Connection:
        while True:
            with self._lock:
                if not self._idle:
                    break
                conn, since = self._idle.pop()
            if time.monotonic() - since < CHECK_AFTER:
                return conn
            try:  # the server may have restarted or dropped it meanwhile
                conn.execute("SELECT 1")
                return conn
            except psycopg.Error:
                conn.close()
        return self._connect()

    def _give_back(self, conn: psycopg.Connection) -> None:
        if not conn.closed and not conn.broken and conn.info.transaction_status == TransactionStatus.IDLE:
            with self._lock:
                if not self._closed and len(self._idle) < KEEP_IDLE:
                    self._idle.append((conn, time.monotonic()))
                    return
        conn.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        conn = self._take()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def close(self) -> None:
        """Close the kept connections (later calls still work, each on a connection of its own)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    # --- how the store's logic runs ------------------------------------------------------------------
    def _write(self, work: Callable[[Sql], object]):
        for attempt in range(1, ATTEMPTS + 1):
            with self._connection() as conn:
                try:
                    with conn.transaction():
                        return work(PostgresSql(conn))
                except (errors.SerializationFailure, errors.DeadlockDetected):
                    if attempt == ATTEMPTS:
                        raise
            time.sleep(random.uniform(0, min(0.1, 0.001 * 2 ** attempt)))  # let the other one finish

    def _read(self, work: Callable[[Sql], object]):
        with self._connection() as conn:
            return work(PostgresSql(conn))

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
