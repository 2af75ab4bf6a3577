"""The one way this product opens its embedded SQLite stores: WAL journal (readers don't block the
writer), a 10 s busy timeout, the schema applied when the store is opened; and the one way they
write: `immediate()` transactions."""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    return db


class PerThread:
    """One connection per thread to one store (a sqlite3 connection must stay in its thread), opened
    with `connect` on first use: call it to get this thread's connection."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def __call__(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
        return db


def initialise(path: Path, schema: str) -> Path:
    """Create the folder and the tables (idempotent); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with connect(path) as db:
        db.executescript(schema)
    return path


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the write lock at once (BEGIN IMMEDIATE), so that what it reads
    before writing cannot change under it; committed on success, rolled back on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    db.commit()
