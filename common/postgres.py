"""The one way this product's own stores use PostgreSQL (the handoff store, the proactive notifications),
over psycopg 3:

- `Connections`: connections to one database, kept for reuse (a few idle ones, checked after a pause:
  the server may have restarted or dropped them); waiting for a row lock ends after 10 s unless the URL
  sets `options` (SQLite's busy timeout); each store names itself in `application_name`;
- `Connections.write(work)`: one SERIALIZABLE transaction (SQLite: BEGIN IMMEDIATE, one writer at a
  time), run again from the start when PostgreSQL reports a serialization failure or a deadlock, so
  what a write reads before it writes cannot have changed under it;
- `Connections.read(work)`: in autocommit, one statement each, as on SQLite;
- `PostgresSql`: the stores' SQL, written once with SQLite's `?` placeholders, on a psycopg connection.

The schemas are numbered migrations (common/migrations.py), applied when a store is opened.
"""
from __future__ import annotations

import random
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, List, Sequence, Tuple, TypeVar

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

ATTEMPTS = 20  # of one write, while serialization failures / deadlocks keep happening
KEEP_IDLE = 8  # connections kept for reuse
CHECK_AFTER = 5.0  # seconds idle after which a kept connection is checked before it is used
DEFAULTS = {"connect_timeout": "10", "options": "-c lock_timeout=10s"}

T = TypeVar("T")


class PostgresSql:
    """A store's SQL on a psycopg connection: `?` placeholders become `%s`; `insert()` returns the new
    row's id (`RETURNING id`; SQLite: lastrowid)."""

    def __init__(self, db: psycopg.Connection) -> None:
        self.db = db

    def execute(self, sql: str, args: Sequence = ()) -> psycopg.Cursor:
        return self.db.execute(sql.replace("?", "%s"), args)

    def insert(self, sql: str, args: Sequence) -> int:
        return self.db.execute(sql.replace("?", "%s") + " RETURNING id", args).fetchone()[0]


class Connections:
    """Connections to the database of `url` (a postgresql:// URL or a libpq connection string; a malformed
    one fails here, before anything connects), shared by the threads of one process; `read_only`: every
    session has `default_transaction_read_only` on (a reader of another program's tables)."""

    def __init__(self, url: str, application_name: str, *, read_only: bool = False) -> None:
        given = conninfo_to_dict(url)
        defaults = {**DEFAULTS, "application_name": application_name}
        settings = {k: v for k, v in defaults.items() if k not in given}
        if read_only:  # whatever `options` the URL gives, its sessions cannot write
            options = given.get("options", settings.get("options", ""))
            settings["options"] = f"{options} -c default_transaction_read_only=on".strip()
        self._conninfo = make_conninfo(url, **settings)
        self._lock = threading.Lock()
        self._idle: List[Tuple[psycopg.Connection, float]] = []
        self._closed = False

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self._conninfo, autocommit=True)
        conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE  # of the transactions of write()
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
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection in autocommit mode for as long as the block runs, then kept for reuse."""
        conn = self._take()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def kept(self) -> List[psycopg.Connection]:
        """The idle connections kept for reuse right now."""
        with self._lock:
            return [conn for conn, _ in self._idle]

    def close(self) -> None:
        """Close the kept connections (later calls still work, each on a connection of its own)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    def write(self, work: Callable[[PostgresSql], T]) -> T:
        """`work` in one SERIALIZABLE transaction, run again from the start while PostgreSQL reports a
        serialization failure or a deadlock (at most ATTEMPTS times, after a short random pause that lets
        the other one finish)."""
        for attempt in range(1, ATTEMPTS + 1):
            with self.connection() as conn:
                try:
                    with conn.transaction():
                        return work(PostgresSql(conn))
                except (errors.SerializationFailure, errors.DeadlockDetected):
                    if attempt == ATTEMPTS:
                        raise
            time.sleep(random.uniform(0, min(0.1, 0.001 * 2 ** attempt)))
        raise AssertionError("unreachable")

    def read(self, work: Callable[[PostgresSql], T]) -> T:
        """`work` in autocommit: each statement on its own."""
        with self.connection() as conn:
            return work(PostgresSql(conn))
