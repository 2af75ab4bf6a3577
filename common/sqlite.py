"""The one way this product opens its embedded SQLite stores: WAL journal (readers don't block the
writer), a 10 s busy timeout, the schema applied when the store is opened; and the one way they
write: `immediate()` transactions."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
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
