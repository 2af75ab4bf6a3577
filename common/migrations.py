"""Numbered schema migrations of the product's stores: each script applied once, in order, in a
transaction, recorded in a table of applied versions. A store adds a new entry to change its schema and
never edits one that has shipped.

`migrate_postgres` applies a store's PostgreSQL migrations; stores sharing one database keep apart by
their own table of versions and their own advisory lock key. (The handoff store's SQLite migrations run
in handoff/migrations.py with the same helpers.)
"""
from __future__ import annotations

import time
from typing import Iterator, Sequence, Tuple

Migrations = Sequence[Tuple[int, str]]


def check_versions(migrations: Migrations) -> None:
    versions = [v for v, _ in migrations]
    if versions != sorted(set(versions)):
        raise ValueError("migration versions must be unique and increasing")


def statements(script: str) -> Iterator[str]:
    """The statements of a migration script (separated by a semicolon at the end of a line)."""
    return filter(str.strip, script.split(";\n"))


def migrate_postgres(db, migrations: Migrations, *, lock: int, table: str) -> int:
    """Apply the migrations not applied yet to a psycopg connection in autocommit mode; returns the schema
    version. Processes starting together on one database take turns on the transaction-scoped advisory
    lock `lock`, also around creating `table` (two concurrent CREATE TABLE IF NOT EXISTS may both try to
    create it). READ COMMITTED whatever the connection's or server's default: a snapshot taken before
    waiting for the lock would not show what the process holding it applied."""
    def locked() -> None:
        db.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        db.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))

    with db.transaction():
        locked()
        db.execute(f"CREATE TABLE IF NOT EXISTS {table} (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION)")
        done = {row[0] for row in db.execute(f"SELECT version FROM {table}")}
    check_versions(migrations)
    for version, script in migrations:
        if version in done:
            continue
        with db.transaction():
            locked()
            # checked again under the lock: another process may have applied it meanwhile
            if not db.execute(f"SELECT 1 FROM {table} WHERE version = %s", (version,)).fetchone():
                for statement in statements(script):
                    db.execute(statement)
                db.execute(f"INSERT INTO {table} VALUES (%s, %s)", (version, time.time()))
    return max((v for v, _ in migrations), default=0)
