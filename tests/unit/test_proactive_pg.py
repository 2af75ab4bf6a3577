"""Proactive notifications on PostgreSQL (the session's throwaway server, tests/pg.py), beyond the store tests
that test_proactive.py runs on both databases: the schema created at open by replicas starting together,
a database shared with the handoff store, outcomes read from Rasa's tracker store in PostgreSQL (the same
rows and outcomes as from the SQLite file), and `python -m proactive run-once` on PostgreSQL.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import textwrap
import threading
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Tuple

import psycopg
import pytest

from common.settings import Settings
from handoff.migrations import POSTGRES_MIGRATIONS as HANDOFF_MIGRATIONS
from handoff.pg_store import PostgresHandoffStore
from ops.paths import RASA_VENV_BIN
from proactive.model import Candidate
from proactive.outcomes import ASKED, NOTHING, OPENED, SqliteTrackerEvents, classify, open_tracker_events
from proactive.pg_store import POSTGRES_MIGRATIONS, PostgresNotificationStore
from proactive.pg_tracker_events import PostgresTrackerEvents
from proactive.store import open_notification_store
from tests.pg import waiting_for_a_lock
from tests.proactive_cli import report_of, start_run_once

pytestmark = pytest.mark.postgres

UTC = timezone.utc
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
TABLES = {"notifications", "opt_outs", "customers_seen", "proactive_schema_migrations"}


def tables(url: str) -> set:
    with psycopg.connect(url, autocommit=True) as db:
        return {r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def versions(url: str, table: str) -> List[int]:
    with psycopg.connect(url, autocommit=True) as db:
        return [r[0] for r in db.execute(f"SELECT version FROM {table} ORDER BY version")]


def candidate(key: str, customer: str = "C1") -> Candidate:
    return Candidate("logistics_delay", customer, "260101000001", key, NOW, "zh", {"order_number": "1"})


# --- the store's schema --------------------------------------------------------------------------------

def test_the_store_is_postgresql_when_the_url_is_set(pg_url, tmp_path):
    for scheme in ("postgresql://", "postgres://"):  # both, as the settings allow
        store = open_notification_store(Settings.from_env({
            "CS_VAR_DIR": str(tmp_path), "CS_PROACTIVE_DB_URL": pg_url.replace("postgresql://", scheme)}))
        assert isinstance(store, PostgresNotificationStore)
        assert store.offer([candidate(scheme)], NOW) == 1
        store.close()
    assert list(tmp_path.iterdir()) == []  # no SQLite file
    with psycopg.connect(pg_url, autocommit=True) as db:
        assert db.execute("SELECT dedupe_key, state, first_seen FROM notifications ORDER BY id").fetchall() == [
            ("postgresql://", "queued", NOW.timestamp()), ("postgres://", "queued", NOW.timestamp())]


def test_replicas_opening_a_fresh_database_together_create_the_schema_once(pg_url):
    barrier, results = threading.Barrier(8), []

    def open_store() -> None:
        barrier.wait()
        try:
            results.append(PostgresNotificationStore(pg_url))
        except Exception as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert all(isinstance(r, PostgresNotificationStore) for r in results) and len(results) == 8, results
        assert tables(pg_url) == TABLES
        assert versions(pg_url, "proactive_schema_migrations") == [v for v, _ in POSTGRES_MIGRATIONS]
    finally:
        for r in results:
            if isinstance(r, PostgresNotificationStore):
                r.close()


def test_two_claims_of_one_customer_at_the_same_moment_one_wins(pg_url):
    """Two replicas claim two notifications of one customer: both claims are held at a table lock, then run
    at the same moment, neither seeing the other's uncommitted claim; only SERIALIZABLE (one of them fails
    and is retried) keeps the second from winning too."""
    store, *replicas = [PostgresNotificationStore(pg_url) for _ in range(3)]
    store.offer([candidate("a"), candidate("b")], NOW)
    a, b = store.due(NOW)
    won: Dict[str, bool] = {}
    threads = [threading.Thread(target=lambda r, n: won.update({n.dedupe_key: r.claim(n.id, n.dedupe_key, NOW)}),
                                args=(r, n)) for r, n in zip(replicas, (a, b), strict=True)]
    try:
        with psycopg.connect(pg_url, autocommit=True) as gate:
            with gate.transaction():
                gate.execute("LOCK TABLE notifications IN SHARE MODE")  # UPDATEs wait for it
                for t in threads:
                    t.start()
                assert waiting_for_a_lock(pg_url, "relation", sessions=2), "the claims never met at the gate"
        for t in threads:
            t.join(30)
        assert sorted(won.values()) == [False, True], won
        assert [n.state for n in store.all()].count("sending") == 1
    finally:
        for s in (store, *replicas):
            s.close()


def test_the_store_and_the_handoff_store_share_a_database_each_with_its_own_migrations(pg_url):
    notifications = PostgresNotificationStore(pg_url)  # first: the handoff store must still apply all of its own
    handoff = PostgresHandoffStore(pg_url)
    try:
        handoff.add_agent("a1", "A1", "h", ["general"])
        notifications.offer([candidate("k1")], NOW)
        assert versions(pg_url, "schema_migrations") == [v for v, _ in HANDOFF_MIGRATIONS]
        assert versions(pg_url, "proactive_schema_migrations") == [1]
        again = PostgresNotificationStore(pg_url)  # reopening migrates nothing twice
        assert [n.dedupe_key for n in again.all()] == ["k1"] and handoff.agent_row("a1")["name"] == "A1"
        again.close()
    finally:
        notifications.close()
        handoff.close()


# --- outcomes from Rasa's tracker store ----------------------------------------------------------------

# What SQLAlchemy creates for Rasa 3.6's SQLTrackerStore.SQLEvent (rasa/core/tracker_store.py) on each database.
RASA_EVENTS_TABLE = {
    "sqlite": "CREATE TABLE events (id INTEGER NOT NULL, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) "
              "NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT, "
              "PRIMARY KEY (id))",
    "postgresql": "CREATE TABLE events (id SERIAL NOT NULL, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) "
                  "NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT, "
                  "PRIMARY KEY (id))",
}
RASA_EVENTS_INDEX = "CREATE INDEX ix_events_sender_id ON events (sender_id)"
INSERT_EVENT = ("INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
                "VALUES (?, ?, ?, ?, ?, ?)")

SENT = NOW.timestamp()
HOUR = 3600.0
# (conversation, type_name, intent or action name, seconds after the notification was sent)
EVENTS: List[Tuple[str, str, str, float]] = [
    ("customer:A", "user", "greet", -60),  # before the notification: not an answer to it
    ("customer:A", "user", "EXTERNAL_notification", 0.5),  # the notification itself
    ("customer:A", "action", "action_notify", 0.6),
    ("customer:A", "bot", "您的包裹…", 0.7),
    ("customer:A", "user", "ask_logistics", 60),
    ("customer:A", "user", "request_human", 120.25),
    ("customer:B", "user", "EXTERNAL_notification", 0.5),
    ("customer:B", "action", "action_handoff", 300),
    ("customer:C", "user", "EXTERNAL_notification", 0.5),
    ("customer:C", "user", "greet", 25 * HOUR),  # after the 24-h window
    ("customer:D", "user", "ask_order_status", HOUR),
]
# conversation, hours after sending -> (outcome, final) over a 24-h window
EXPECTED: Dict[Tuple[str, float], tuple] = {
    ("customer:A", 1): (ASKED, False), ("customer:A", 24): (ASKED, True),
    ("customer:B", 1): (ASKED, False),
    ("customer:C", 1): (None, False), ("customer:C", 26): (NOTHING, True),
    ("customer:D", 2): (OPENED, False), ("customer:D", 24): (OPENED, True),
    ("customer:E", 24): (NOTHING, True),  # never wrote at all
}


def _sql_writes(sqlite_path: Path, pg_url: str) -> None:
    """The events inserted as Rasa inserts them, into tables laid out as Rasa creates them."""
    rows = [(sender, kind, SENT + after, name if kind == "user" else None, name if kind == "action" else None,
             json.dumps({"event": kind})) for sender, kind, name, after in EVENTS]
    with closing(sqlite3.connect(sqlite_path)) as db, db:
        db.execute(RASA_EVENTS_TABLE["sqlite"])
        db.execute(RASA_EVENTS_INDEX)
        db.executemany(INSERT_EVENT, rows)
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute(RASA_EVENTS_TABLE["postgresql"])
        db.execute(RASA_EVENTS_INDEX)
        with db.cursor() as cursor:
            cursor.executemany(INSERT_EVENT.replace("?", "%s"), rows)


RASA_SAVES = textwrap.dedent("""
    import asyncio, json, os, sys
    from urllib.parse import urlsplit
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    def event(kind, name, at):
        if kind == "user":
            return UserUttered("…", intent={"name": name, "confidence": 1.0}, timestamp=at)
        return ActionExecuted(name, timestamp=at) if kind == "action" else BotUttered(name, timestamp=at)

    url = urlsplit(os.environ["PG_URL"])
    stores = [SQLTrackerStore(Domain.empty(), dialect="sqlite", db=sys.argv[1]),
              SQLTrackerStore(Domain.empty(), dialect="postgresql", host=url.hostname, port=url.port,
                              db=url.path[1:], username=url.username, password=url.password)]
    conversations = {}
    for sender, kind, name, at in json.loads(sys.argv[2]):
        conversations.setdefault(sender, []).append(event(kind, name, at))
    for sender, events in conversations.items():
        for store in stores:
            asyncio.run(store.save(DialogueStateTracker.from_events(sender, events)))
""")


def _rasa_writes(sqlite_path: Path, pg_url: str) -> None:
    """Rasa's own SQLTrackerStore (in the Rasa env) creates both stores and saves the conversations."""
    events = [(sender, kind, name, SENT + after) for sender, kind, name, after in EVENTS]
    env = {**os.environ, "PG_URL": pg_url, "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    done = subprocess.run([str(RASA_VENV_BIN / "python"), "-c", RASA_SAVES, str(sqlite_path), json.dumps(events)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(params=["sql", pytest.param("rasa", marks=pytest.mark.skipif(
    not (RASA_VENV_BIN / "python").exists(), reason="needs the Rasa env (bash scripts/setup.sh)"))])
def tracker_stores(request, tmp_path, pg_url) -> Tuple[SqliteTrackerEvents, PostgresTrackerEvents]:
    """The same conversations in a SQLite and a PostgreSQL tracker store, written by SQL statements or by
    Rasa; the outcome readers the settings choose for each."""
    sqlite_path = tmp_path / "rasa-tracker.sqlite3"
    {"sql": _sql_writes, "rasa": _rasa_writes}[request.param](sqlite_path, pg_url)
    on_sqlite = open_tracker_events(Settings(var_dir=tmp_path))
    on_postgres = open_tracker_events(Settings(var_dir=tmp_path, tracker_db_url=pg_url))
    assert isinstance(on_sqlite, SqliteTrackerEvents) and on_sqlite.path == sqlite_path
    assert isinstance(on_postgres, PostgresTrackerEvents)
    yield on_sqlite, on_postgres
    on_postgres.close()


def test_outcomes_read_from_postgresql_are_those_read_from_sqlite(tracker_stores):
    on_sqlite, on_postgres = tracker_stores
    sent = datetime.fromtimestamp(SENT, UTC)
    a = on_postgres.after("customer:A", sent)
    assert [(kind, intent, action) for kind, intent, action, _ in a] == [
        ("user", "EXTERNAL_notification", None), ("action", None, "action_notify"), ("user", "ask_logistics", None),
        ("user", "request_human", None)]  # in order, bot messages and earlier events left out
    assert a[-1][3] == SENT + 120.25
    for (conversation, hours), expected in EXPECTED.items():
        rows = on_postgres.after(conversation, sent)
        assert rows == on_sqlite.after(conversation, sent), conversation
        now = sent + timedelta(hours=hours)
        assert classify(rows, sent, now, timedelta(hours=24)) == expected, (conversation, hours)
    later = sent + timedelta(seconds=90)  # only what came after the time asked for
    assert on_postgres.after("customer:A", later) == on_sqlite.after("customer:A", later) == a[-1:]


def test_the_outcome_reader_only_reads(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute(RASA_EVENTS_TABLE["postgresql"])
    for url in (pg_url, pg_url + "?options=-c%20lock_timeout%3D2s"):  # also when the URL sets its own options
        reader = PostgresTrackerEvents(url)
        try:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                reader.connections.read(lambda db: db.execute("DELETE FROM events"))
        finally:
            reader.close()


def test_no_tracker_store_yet_is_no_events(pg_url):
    reader = PostgresTrackerEvents(pg_url)  # Rasa has not created its table in this database yet
    try:
        assert reader.after("customer:A", NOW) == []
        assert classify(reader.after("customer:A", NOW), NOW, NOW + timedelta(hours=25), timedelta(hours=24)) == (
            NOTHING, True)
    finally:
        reader.close()


# --- python -m proactive run-once ----------------------------------------------------------------------

def test_run_once_on_postgresql_creates_the_schema_then_closes_stale_claims_and_reads_outcomes(
        postgres, pg_url, tmp_path):
    tracker_url = postgres.create_database()
    try:
        settings = Settings(var_dir=tmp_path, proactive="on", proactive_db_url=pg_url, tracker_db_url=tracker_url)
        assert report_of(start_run_once(settings)) == {"new": 0, "sent": 0, "skipped": 0, "postponed": 0,
                                                       "failed": 0, "outcomes": 0}
        assert tables(pg_url) == TABLES and not settings.proactive_db.exists()

        # a notification sent two hours ago, answered with "talk to a person"; a claim a dead replica left
        now = datetime.now(UTC)
        sent_at, answered_at = now - timedelta(hours=2), now - timedelta(hours=2) + timedelta(minutes=1)
        store = open_notification_store(settings)
        store.offer([candidate("sent"), candidate("stale", customer="C2")], now - timedelta(hours=3))
        sent, stale = store.due(now)
        assert store.claim(sent.id, "w1", sent_at) and store.claim(stale.id, "dead", now - timedelta(hours=1))
        store.sent(sent.id, "w1", sent_at, "app", "customer:C1")
        with psycopg.connect(tracker_url, autocommit=True) as db:
            db.execute(RASA_EVENTS_TABLE["postgresql"])
            db.execute(INSERT_EVENT.replace("?", "%s"),
                       ("customer:C1", "user", answered_at.timestamp(), "request_human", None, "{}"))

        report = report_of(start_run_once(settings))
        assert report["outcomes"] == 1 and report["sent"] == 0, report
        assert (store.get("sent").outcome, store.get("sent").outcome_final) == (ASKED, False)
        assert (store.get("stale").state, store.get("stale").reason) == ("skipped", "interrupted")
        store.close()
    finally:
        postgres.drop_database(tracker_url)

