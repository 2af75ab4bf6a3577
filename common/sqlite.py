"""The one way this product opens its embedded SQLite stores: WAL journal (readers don't block the
writer), a 10 s busy timeout, the schema applied when the store is opened."""
from __future__ import annotations

import sqlite3
from pathlib import Path


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
