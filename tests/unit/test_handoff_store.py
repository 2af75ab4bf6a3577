"""handoff/migrations.py, handoff/store.py and handoff/auth.py on real databases: every test that uses
`store` or `backend` runs twice, on a SQLite file in a temporary dir and on a fresh database of the
session's throwaway PostgreSQL server (tests/pg.py; the `postgresql` cases are marked `postgres`).
A few tests work SQLite's locks directly and run on SQLite only; their PostgreSQL counterparts, and the
PostgreSQL store's own concurrency tests, are in test_handoff_pg_store.py.
"""
from __future__ import annotations

import base64
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from handoff import auth, routing
from handoff.migrations import MIGRATIONS, POSTGRES_MIGRATIONS, migrate
from handoff.pg_store import PostgresHandoffStore
from handoff.store import Conversation, HandoffStore, Message, StoreError

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class SqliteBackend:
    """The store on a SQLite file, and a way around it to look at the file."""
    name = "sqlite"
    IntegrityError = sqlite3.IntegrityError
    BadSql = sqlite3.OperationalError  # what a migration script that cannot run raises

    def __init__(self, path: Path) -> None:
        self.path = path
        self.target = str(path)  # sys.argv[1] of open_code, in a subprocess
        self.open_code = "from handoff.store import HandoffStore; store = HandoffStore(Path(sys.argv[1]))"

    def store(self, clock=time.time) -> HandoffStore:
        return HandoffStore(self.path, clock=clock)

    def connect(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(self.path, isolation_level=None)

    @staticmethod
    def sql(text: str) -> str:
        return text

    @staticmethod
    def table_names(db) -> set:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not r[0].startswith("sqlite_")}

    @staticmethod
    def in_transaction(db) -> bool:
        return db.in_transaction

    def everything_stored(self) -> bytes:
        """Every byte the database keeps: the file, its WAL and shared memory."""
        files = [p for p in self.path.parent.iterdir() if p.name.startswith(self.path.name)]
        assert files
        return b"".join(p.read_bytes() for p in files)

    def close(self) -> None:
        pass


class PostgresBackend:
    """The store on a fresh PostgreSQL database, and a connection around it to look at the tables."""
    name = "postgresql"
    IntegrityError = psycopg.IntegrityError
    BadSql = psycopg.ProgrammingError

    def __init__(self, url: str) -> None:
        self.url = url
        self.target = url
        self.open_code = ("from handoff.pg_store import PostgresHandoffStore; "
                          "store = PostgresHandoffStore(sys.argv[1])")
        self.stores = []

    def store(self, clock=time.time) -> PostgresHandoffStore:
        self.stores.append(PostgresHandoffStore(self.url, clock=clock))
        return self.stores[-1]

    def connect(self):
        return psycopg.connect(self.url, autocommit=True)

    @staticmethod
    def sql(text: str) -> str:
        return text.replace("?", "%s")

    @staticmethod
    def table_names(db) -> set:
        return {r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}

    @staticmethod
    def in_transaction(db) -> bool:
        return db.info.transaction_status != TransactionStatus.IDLE

    def everything_stored(self) -> bytes:
        """Every row of every table, as text: what a dump of the database holds."""
        db = self.connect()
        try:
            return "\n".join(str(row[0]) for table in sorted(self.table_names(db))
                             for row in db.execute(f'SELECT t::text FROM "{table}" t')).encode()
        finally:
            db.close()

    def close(self) -> None:
        for store in self.stores:
            store.close()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "nested" / "handoff.sqlite3"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request, db_path):
    made = SqliteBackend(db_path) if request.param == "sqlite" else PostgresBackend(request.getfixturevalue("pg_url"))
    try:
        yield made
    finally:
        made.close()


# For the few tests that work one database's locks directly.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def store(backend, clock):
    return backend.store(clock)


def raw(backend):
    """A connection of our own to the store's database, in autocommit."""
    return backend.connect()


def tables(backend):
    db = raw(backend)
    try:
        return backend.table_names(db)
    finally:
        db.close()


def versions(backend):
    db = raw(backend)
    try:
        return [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        db.close()


def queue(store, sender="web-1", queue_name="general", **kw):
    kw.setdefault("channel", "web")
    kw.setdefault("language", "zh")
    kw.setdefault("reason", "customer_request")
    kw.setdefault("summary", {"issue": "where is my order"})
    return store.open(sender_id=sender, queue=queue_name, **kw)


def agent(store, agent_id="a1", skills=("general",), capacity=3, status=None, password_hash="not-a-hash"):
    store.add_agent(agent_id, agent_id.upper(), password_hash, list(skills), capacity=capacity)
    if status:
        store.set_status(agent_id, status)


def active(store, sender="web-1", agent_id="a1"):
    """A conversation accepted by `agent_id` (the agent must exist)."""
    return store.accept(queue(store, sender).id, agent_id)


# --- migrations --------------------------------------------------------------------------------------


EXPECTED_TABLES = {"conversations", "messages", "agents", "sessions", "csat", "outbox", "schema_migrations",
                   "offer_passes", "outbox_leases", "conversation_log", "login_failures", "customer_advisors",
                   "handoff_requests", "tickets", "ticket_events"}
LATEST = 10


def test_fresh_store_creates_parent_folder_all_tables_and_version(backend, store):
    if backend.name == "sqlite":
        assert backend.path.is_file()
    assert tables(backend) == EXPECTED_TABLES
    assert versions(backend) == [v for v, _ in MIGRATIONS] == list(range(1, LATEST + 1))


def test_postgres_migrations_are_the_sqlite_ones_numbered_alike():
    assert [v for v, _ in POSTGRES_MIGRATIONS] == [v for v, _ in MIGRATIONS]


def _schema(backend):
    """{table: [column names in order]} and the index names, as the database reports them."""
    db = raw(backend)
    try:
        if backend.name == "sqlite":
            columns = {t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")] for t in backend.table_names(db)}
            indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                "AND name NOT LIKE 'sqlite_%'")}
        else:
            columns = {t: [r[0] for r in db.execute("SELECT column_name FROM information_schema.columns WHERE "
                                                    "table_schema = current_schema() AND table_name = %s "
                                                    "ORDER BY ordinal_position", (t,))]
                       for t in backend.table_names(db)}
            indexes = {r[0] for r in db.execute("SELECT indexname FROM pg_indexes WHERE schemaname = "
                                                "current_schema() AND indexname NOT LIKE '%%_pkey'")}
        return columns, indexes
    finally:
        db.close()


@pytest.mark.postgres
def test_both_schemas_have_the_same_tables_columns_and_indexes(tmp_path, pg_url):
    sqlite, postgres = SqliteBackend(tmp_path / "s.sqlite3"), PostgresBackend(pg_url)
    try:
        sqlite.store(), postgres.store()
        assert _schema(sqlite) == _schema(postgres)
        assert "conversations_one_open" in _schema(postgres)[1]
    finally:
        postgres.close()


def test_store_names_its_databases_integrity_error(backend, store):
    assert store.IntegrityError is backend.IntegrityError


def test_migrate_returns_version_and_rerun_is_a_no_op(backend, store):
    db = raw(backend)
    try:
        applied_at = db.execute("SELECT applied_at FROM schema_migrations").fetchall()
        queue(store, "web-keep")
        assert migrate(db) == LATEST
        assert migrate(db) == LATEST
        assert db.execute("SELECT applied_at FROM schema_migrations").fetchall() == applied_at
    finally:
        db.close()
    again = backend.store()
    assert again.open_for_sender("web-keep") is not None
    assert versions(backend) == list(range(1, LATEST + 1))


def test_only_new_migrations_are_applied_in_order(backend):
    db = raw(backend)
    try:
        first = (1, "CREATE TABLE t1 (x INTEGER);\nINSERT INTO t1 VALUES (1);\n")
        assert migrate(db, [first]) == 1
        # re-running migration 1 would fail (table exists) or duplicate the row: it must be skipped
        assert migrate(db, [first, (2, "CREATE TABLE t2 (y INTEGER);\nINSERT INTO t2 SELECT x + 1 FROM t1;\n"),
                            (5, "ALTER TABLE t2 ADD COLUMN z TEXT NOT NULL DEFAULT 'z';\n")]) == 5
        assert db.execute("SELECT x FROM t1").fetchall() == [(1,)]
        assert db.execute("SELECT y, z FROM t2").fetchall() == [(2, "z")]
    finally:
        db.close()
    assert versions(backend) == [1, 2, 5]


def test_failing_migration_rolls_back_entirely_and_is_not_recorded(backend):
    db = raw(backend)
    try:
        migrate(db, [(1, "CREATE TABLE t1 (x INTEGER);\n")])
        bad = (2, "CREATE TABLE t2 (y INTEGER);\nINSERT INTO t1 VALUES (7);\nINSERT INTO no_such_table VALUES (1);\n")
        with pytest.raises(backend.BadSql, match="no_such_table"):
            migrate(db, [(1, "CREATE TABLE t1 (x INTEGER);\n"), bad])
        assert not backend.in_transaction(db)
        assert db.execute("SELECT COUNT(*) FROM t1").fetchone() == (0,)
    finally:
        db.close()
    assert tables(backend) == {"schema_migrations", "t1"}
    assert versions(backend) == [1]
    # the corrected migration is applied the next time
    db = raw(backend)
    try:
        assert migrate(db, [(1, "CREATE TABLE t1 (x INTEGER);\n"), (2, "CREATE TABLE t2 (y INTEGER);\n")]) == 2
    finally:
        db.close()
    assert versions(backend) == [1, 2]
    assert "t2" in tables(backend)


def test_failing_first_migration_leaves_no_schema(backend):
    db = raw(backend)
    try:
        with pytest.raises(backend.BadSql):
            migrate(db, [(1, "CREATE TABLE a (x INTEGER);\nCREATE TABLE b (y INTEGER;\n")])
    finally:
        db.close()
    assert tables(backend) == {"schema_migrations"}
    assert versions(backend) == []


@pytest.mark.parametrize("bad", [
    [(2, "CREATE TABLE a (x INTEGER)"), (1, "CREATE TABLE b (x INTEGER)")],
    [(1, "CREATE TABLE a (x INTEGER)"), (1, "CREATE TABLE b (x INTEGER)")],
    [(1, "CREATE TABLE a (x INTEGER)"), (3, "CREATE TABLE b (x INTEGER)"), (2, "CREATE TABLE c (x INTEGER)")],
])
def test_non_increasing_versions_are_rejected_before_anything_runs(backend, bad):
    db = raw(backend)
    try:
        with pytest.raises(ValueError, match="unique and increasing"):
            migrate(db, bad)
    finally:
        db.close()
    assert tables(backend) == {"schema_migrations"}
    assert versions(backend) == []


@sqlite_only
def test_migration_applied_by_another_process_meanwhile_is_not_applied_twice(backend):
    """Two services starting on a fresh file: the one that waited for the lock must see the other's work.
    (PostgreSQL: test_handoff_pg_store.py)"""
    path = backend.path
    other = raw(backend)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL)")
    other.execute("BEGIN IMMEDIATE")  # the other process is migrating right now

    late = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
    waiting = threading.Event()
    late.set_trace_callback(lambda sql: waiting.set() if sql.startswith("BEGIN") else None)
    outcome = {}

    def run():
        try:
            outcome["version"] = migrate(late)
        except Exception as e:  # noqa: BLE001 - reported below
            outcome["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert waiting.wait(5), "migrate never tried to take the write lock"
        for statement in filter(str.strip, MIGRATIONS[0][1].split(";\n")):
            other.execute(statement)
        other.execute("INSERT INTO schema_migrations VALUES (1, 0)")
        other.execute("COMMIT")
    finally:
        thread.join(10)
        other.close()
        late.close()
    assert outcome == {"version": LATEST}
    assert versions(backend) == list(range(1, LATEST + 1))  # 1 by the other process, the rest by this one


def test_schema_allows_one_open_conversation_per_sender(store, backend):
    queue(store, "web-1")
    db = raw(backend)
    try:
        with pytest.raises(backend.IntegrityError):
            db.execute("INSERT INTO conversations (sender_id, channel, language, reason, queue, state, summary_json, "
                       "created_at) VALUES ('web-1', 'web', 'zh', 'r', 'general', 'active', '{}', 0)")
        with pytest.raises(backend.IntegrityError):
            db.execute("UPDATE conversations SET state = 'lost'")
    finally:
        db.close()


# --- open ------------------------------------------------------------------------------------------


def test_open_returns_queued_conversation_with_unicode_summary(store, clock):
    summary = {"issue": "快递三天没动了 😡", "order": "241106329572", "intents": ["ask_logistics"], "n": 2,
               "nested": {"phone": "138****5678", "ok": True, "none": None}}
    c = store.open(sender_id="web-42", channel="web", language="zh", reason="complaint", queue="complaints",
                   summary=summary, customer_id="C-9", tier="vip")
    assert isinstance(c, Conversation)
    assert c.state == "queued"
    assert (c.sender_id, c.channel, c.language, c.reason, c.queue, c.customer_id, c.tier) == (
        "web-42", "web", "zh", "complaint", "complaints", "C-9", "vip")
    assert c.summary == summary
    assert c.created_at == T0
    assert (c.agent_id, c.assigned_at, c.first_response_at, c.closed_at) == (None, None, None, None)
    assert store.get(c.id) == c
    assert store.open_for_sender("web-42") == c


def test_open_defaults(store):
    c = queue(store)
    assert (c.tier, c.customer_id) == ("normal", None)


def test_summary_stored_as_readable_json(store, backend):
    c = queue(store, summary={"issue": "退货"})
    db = raw(backend)
    try:
        assert db.execute(backend.sql("SELECT summary_json FROM conversations WHERE id = ?"), (c.id,)).fetchone() == (
            '{"issue": "退货"}',)
    finally:
        db.close()


def test_get_and_open_for_sender_unknown_are_none(store):
    assert store.get(12345) is None
    assert store.open_for_sender("nobody") is None


def test_second_open_while_with_people_returns_the_same_conversation(store, clock):
    agent(store, "a1")
    first = queue(store, "web-1", summary={"issue": "first"})
    clock.advance(10)
    again = queue(store, "web-1", queue_name="orders", summary={"issue": "second"})
    assert again == first  # not duplicated, not overwritten
    store.offer(first.id, "a1")
    assert queue(store, "web-1").id == first.id
    store.accept(first.id, "a1")
    assert queue(store, "web-1").id == first.id
    assert queue(store, "web-1", state="ticket").id == first.id
    assert [c.id for c in store.in_state("queued", "offered", "active", "ticket")] == [first.id]


def test_other_senders_get_their_own_conversations(store):
    a, b = queue(store, "web-1"), queue(store, "web-2")
    assert a.id != b.id
    assert store.open_for_sender("web-2") == b


@pytest.mark.parametrize("back_to_bot", [False, True])
def test_after_close_or_return_a_new_conversation_is_created(store, clock, back_to_bot):
    first = queue(store, "web-1")
    store.resolve(first.id, back_to_bot=back_to_bot)
    assert store.open_for_sender("web-1") is None
    clock.advance(60)
    second = queue(store, "web-1", summary={"issue": "new one"})
    assert second.id != first.id
    assert (second.state, second.created_at, second.summary) == ("queued", T0 + 60, {"issue": "new one"})
    assert store.get(first.id).state == ("returned" if back_to_bot else "closed")
    assert store.open_for_sender("web-1") == second


def test_ticket_is_filed_and_does_not_count_as_open(store):
    ticket = queue(store, "web-1", state="ticket", summary={"message": "please call me back"})
    assert ticket.state == "ticket"
    assert store.open_for_sender("web-1") is None
    assert store.in_state("ticket") == [ticket]
    assert store.waiting() == []
    queued = queue(store, "web-1")
    assert queued.id != ticket.id and queued.state == "queued"
    closed = store.resolve(ticket.id, back_to_bot=False)
    assert closed.state == "closed"


def _open_once(store, request_id, sender="web-1", **kw):
    return store.open_once(request_id, sender_id=sender, channel="web", language="zh", reason="customer_request",
                           queue="general", summary={"issue": "x"}, **kw)


def test_a_repeated_request_returns_the_first_conversation_even_a_ticket(store):
    first, created = _open_once(store, "req-1", state="ticket")
    assert created and first.state == "ticket"
    again, created = _open_once(store, "req-1")  # the bot's retry, now asking for a queued one
    assert not created and again == first
    assert store.in_state("queued", "ticket") == [first]
    other, created = _open_once(store, "req-2")  # a new request of the same customer: a new conversation
    assert created and other.id != first.id and other.state == "queued"
    same, created = _open_once(store, "req-3")  # the customer is with people already: no second one
    assert not created and same.id == other.id
    assert _open_once(store, "req-3")[0].id == other.id


def test_without_a_request_id_nothing_is_remembered(store):
    ticket, created = _open_once(store, None, state="ticket")
    queued, created_again = _open_once(store, None)
    assert created and created_again and queued.id != ticket.id


@pytest.mark.parametrize("state", ["offered", "active", "closed", "returned", "bogus", ""])
def test_open_in_another_state_is_rejected(store, db_path, state):
    with pytest.raises(ValueError, match="queued"):
        queue(store, "web-1", state=state)
    assert store.in_state("queued", "offered", "active", "closed", "returned", "ticket") == []


def test_in_state_orders_by_creation_and_filters(store, clock):
    agent(store, "a1")
    ids = []
    for i in range(4):
        ids.append(queue(store, f"web-{i}").id)
        clock.advance(1)
    store.offer(ids[1], "a1")
    store.resolve(ids[3], back_to_bot=True)
    assert [c.id for c in store.in_state("queued")] == [ids[0], ids[2]]
    assert [c.id for c in store.in_state("queued", "offered")] == ids[:3]
    assert [c.id for c in store.in_state("returned")] == [ids[3]]
    assert store.in_state("active") == []


def test_no_states_asked_finds_nothing(store):
    queue(store, "web-1")
    store.resolve(queue(store, "web-2").id, back_to_bot=False)
    assert store.in_state() == []
    assert store.latest_for_sender("web-2") is None


def test_waiting_lists_queued_conversations_for_routing(store, clock):
    a = queue(store, "web-1", queue_name="orders")
    clock.advance(5)
    b = queue(store, "web-2", queue_name="vip")
    assert store.waiting() == [routing.Waiting(str(a.id), "orders", T0), routing.Waiting(str(b.id), "vip", T0 + 5)]


# --- transitions -----------------------------------------------------------------------------------


def test_offer_from_queued(store, clock):
    agent(store, "a1")
    c = queue(store)
    clock.advance(30)
    offered = store.offer(c.id, "a1")
    assert (offered.state, offered.agent_id, offered.assigned_at) == ("offered", "a1", T0 + 30)
    assert store.get(c.id) == offered
    assert store.waiting() == []


@pytest.mark.parametrize("setup", ["offered", "active", "closed", "returned", "ticket"])
def test_offer_only_from_queued(store, setup):
    agent(store, "a1")
    agent(store, "a2")
    c = queue(store, state="ticket") if setup == "ticket" else queue(store)
    if setup in ("offered", "active"):
        store.offer(c.id, "a1")
    if setup == "active":
        store.accept(c.id, "a1")
    if setup in ("closed", "returned"):
        store.resolve(c.id, back_to_bot=setup == "returned")
    before = store.get(c.id)
    with pytest.raises(StoreError, match=rf"conversation {c.id} is {setup}, not queued"):
        store.offer(c.id, "a2")
    assert store.get(c.id) == before


def test_accept_an_offer_by_the_agent_it_was_offered_to(store, clock):
    agent(store, "a1")
    c = queue(store)
    clock.advance(10)
    store.offer(c.id, "a1")
    clock.advance(5)
    accepted = store.accept(c.id, "a1")
    assert (accepted.state, accepted.agent_id) == ("active", "a1")
    assert accepted.assigned_at == T0 + 10  # when it was offered, not when it was accepted


def test_accept_pulls_straight_from_the_queue(store, clock):
    agent(store, "a2")
    c = queue(store)
    clock.advance(7)
    accepted = store.accept(c.id, "a2")
    assert (accepted.state, accepted.agent_id, accepted.assigned_at) == ("active", "a2", T0 + 7)


def test_accept_of_another_agents_offer_raises(store):
    agent(store, "a1")
    agent(store, "a2")
    c = queue(store)
    store.offer(c.id, "a1")
    with pytest.raises(StoreError, match="offered to another agent"):
        store.accept(c.id, "a2")
    after = store.get(c.id)
    assert (after.state, after.agent_id) == ("offered", "a1")


@sqlite_only
def test_accept_does_not_take_an_offer_made_to_another_agent_meanwhile(store, backend):
    """An agent pulls a queued conversation while the router offers it to someone else: the pull must see the
    offer (the check belongs inside the write transaction), not hijack it. (PostgreSQL: test_handoff_pg_store.py)"""
    agent(store, "a1")
    agent(store, "a2")
    c = queue(store)
    router = raw(backend)
    router.execute("BEGIN IMMEDIATE")  # the router is writing right now
    blocked = threading.Event()
    make_db = store._db

    def traced_db():
        db = make_db()
        db.set_trace_callback(lambda sql: blocked.set() if sql.startswith("BEGIN") else None)
        return db

    store._db = traced_db
    outcome = {}

    def pull():
        try:
            outcome["accepted"] = store.accept(c.id, "a2")
        except StoreError as e:
            outcome["error"] = str(e)

    thread = threading.Thread(target=pull)
    thread.start()
    try:
        assert blocked.wait(5)
        router.execute("UPDATE conversations SET state = 'offered', agent_id = 'a1', assigned_at = 1 WHERE id = ?",
                       (c.id,))
        router.execute("COMMIT")
    finally:
        thread.join(10)
        router.close()
    assert "accepted" not in outcome
    assert "offered to another agent" in outcome["error"]
    assert (store.get(c.id).state, store.get(c.id).agent_id) == ("offered", "a1")


@pytest.mark.parametrize("setup", ["active", "closed", "returned"])
def test_accept_only_from_queued_or_offered(store, setup):
    agent(store, "a1")
    c = queue(store)
    if setup == "active":
        store.accept(c.id, "a1")
    if setup in ("closed", "returned"):
        store.resolve(c.id, back_to_bot=setup == "returned")
    with pytest.raises(StoreError, match=rf"is {setup}, not queued or offered or ticket"):
        store.accept(c.id, "a1")


def test_decline_returns_to_the_queue_keeping_its_place(store, clock):
    agent(store, "a1")
    c = queue(store)
    clock.advance(20)
    store.offer(c.id, "a1")
    declined = store.decline(c.id)
    assert (declined.state, declined.agent_id, declined.assigned_at) == ("queued", None, None)
    assert declined.created_at == T0
    assert store.waiting() == [routing.Waiting(str(c.id), "general", T0)]
    with pytest.raises(StoreError, match="is queued, not offered"):
        store.decline(c.id)


def test_decline_of_an_active_conversation_raises(store):
    agent(store, "a1")
    c = active(store)
    with pytest.raises(StoreError, match="is active, not offered"):
        store.decline(c.id)


@pytest.mark.parametrize("setup", ["queued", "offered", "active"])
def test_transfer_to_a_queue_puts_it_back_in_line(store, clock, setup):
    agent(store, "a1")
    c = queue(store, queue_name="general")
    if setup in ("offered", "active"):
        store.offer(c.id, "a1")
    if setup == "active":
        store.accept(c.id, "a1")
    clock.advance(100)
    moved = store.transfer(c.id, queue="after_sales")
    assert (moved.state, moved.agent_id, moved.assigned_at, moved.queue) == ("queued", None, None, "after_sales")
    assert moved.created_at == T0
    assert store.waiting() == [routing.Waiting(str(c.id), "after_sales", T0)]


@pytest.mark.parametrize("setup", ["queued", "offered", "active"])
def test_transfer_to_an_agent_offers_it_to_them(store, setup):
    agent(store, "a1")
    agent(store, "a2")
    c = queue(store, queue_name="general")
    if setup in ("offered", "active"):
        store.offer(c.id, "a1")
    if setup == "active":
        store.accept(c.id, "a1")
    moved = store.transfer(c.id, agent_id="a2")
    assert (moved.state, moved.agent_id, moved.queue) == ("offered", "a2", "general")
    assert store.accept(c.id, "a2").state == "active"


def test_transfer_to_an_agent_and_queue(store):
    agent(store, "a1")
    agent(store, "a2")
    c = active(store)
    moved = store.transfer(c.id, queue="complaints", agent_id="a2")
    assert (moved.state, moved.agent_id, moved.queue) == ("offered", "a2", "complaints")
    with pytest.raises(StoreError, match="offered to another agent"):
        store.accept(c.id, "a1")


def test_transfer_needs_a_target_and_an_open_conversation(store):
    agent(store, "a1")
    c = queue(store)
    with pytest.raises(ValueError, match="queue or an agent"):
        store.transfer(c.id)
    store.resolve(c.id, back_to_bot=False)
    with pytest.raises(StoreError, match="is closed, not queued or offered or active"):
        store.transfer(c.id, queue="orders")
    with pytest.raises(StoreError, match="is closed"):
        store.transfer(c.id, agent_id="a1")
    assert store.get(c.id).queue == "general"


@pytest.mark.parametrize("setup", ["queued", "offered", "active", "ticket"])
@pytest.mark.parametrize("back_to_bot, final", [(False, "closed"), (True, "returned")])
def test_resolve_from_allowed_states(store, clock, setup, back_to_bot, final):
    agent(store, "a1")
    c = queue(store, state="ticket") if setup == "ticket" else queue(store)
    if setup in ("offered", "active"):
        store.offer(c.id, "a1")
    if setup == "active":
        store.accept(c.id, "a1")
    clock.advance(300)
    done = store.resolve(c.id, back_to_bot=back_to_bot)
    assert (done.state, done.closed_at) == (final, T0 + 300)
    assert store.get(c.id) == done


@pytest.mark.parametrize("first", [False, True])
@pytest.mark.parametrize("second", [False, True])
def test_resolve_twice_raises(store, clock, first, second):
    c = queue(store)
    done = store.resolve(c.id, back_to_bot=first)
    clock.advance(5)
    with pytest.raises(StoreError, match=rf"conversation {c.id} is {done.state}, not active or offered"):
        store.resolve(c.id, back_to_bot=second)
    assert store.get(c.id) == done


@pytest.mark.parametrize("call", [
    lambda s: s.offer(999, "a1"),
    lambda s: s.accept(999, "a1"),
    lambda s: s.decline(999),
    lambda s: s.transfer(999, queue="orders"),
    lambda s: s.transfer(999, agent_id="a1"),
    lambda s: s.resolve(999, back_to_bot=False),
    lambda s: s.add_message(999, "customer", "hello"),
    lambda s: s.add_message(999, "agent", "hello", agent_id="a1"),
    lambda s: s.record_csat(999, 5),
])
def test_unknown_conversation_raises(store, call):
    with pytest.raises(StoreError, match="999"):
        call(store)


# --- messages --------------------------------------------------------------------------------------


def test_customer_and_system_messages_in_any_state(store, clock):
    c = queue(store)
    m1 = store.add_message(c.id, "customer", "  你好，我的快递呢？ ")
    clock.advance(1)
    m2 = store.add_message(c.id, "system", "An agent will be with you shortly")
    store.resolve(c.id, back_to_bot=True)
    m3 = store.add_message(c.id, "customer", "thanks")
    assert isinstance(m1, Message)
    assert (m1.direction, m1.text, m1.agent_id, m1.created_at, m1.delivered_at) == (
        "customer", "你好，我的快递呢？", None, T0, None)
    assert store.messages(c.id) == [m1, m2, m3]
    assert m1.id < m2.id < m3.id
    assert store.get(c.id).first_response_at is None  # only an agent's reply counts


@pytest.mark.parametrize("setup", ["queued", "offered", "other_agent", "closed", "returned"])
def test_agent_message_only_when_active_with_that_agent(store, setup):
    agent(store, "a1")
    agent(store, "a2")
    c = queue(store)
    if setup == "offered":
        store.offer(c.id, "a1")
    if setup == "other_agent":
        store.accept(c.id, "a2")
    if setup in ("closed", "returned"):
        store.accept(c.id, "a1")
        store.resolve(c.id, back_to_bot=setup == "returned")
    with pytest.raises(StoreError, match="not active with agent a1"):
        store.add_message(c.id, "agent", "hi", agent_id="a1")
    assert store.messages(c.id) == []
    assert store.get(c.id).first_response_at is None


def test_agent_message_without_agent_id_is_rejected(store):
    agent(store, "a1")
    c = active(store)
    with pytest.raises(StoreError):
        store.add_message(c.id, "agent", "hi")


def test_first_agent_message_sets_first_response_at_once(store, clock):
    agent(store, "a1")
    c = queue(store)
    clock.advance(10)
    store.accept(c.id, "a1")
    clock.advance(15)
    store.add_message(c.id, "customer", "hello?")
    assert store.get(c.id).first_response_at is None
    clock.advance(5)
    first = store.add_message(c.id, "agent", "Hi, I'm Anna", agent_id="a1")
    assert (first.direction, first.agent_id, first.created_at) == ("agent", "a1", T0 + 30)
    assert store.get(c.id).first_response_at == T0 + 30
    clock.advance(60)
    store.add_message(c.id, "agent", "Let me check", agent_id="a1")
    assert store.get(c.id).first_response_at == T0 + 30


def test_first_response_at_survives_a_transfer(store, clock):
    agent(store, "a1")
    agent(store, "a2")
    c = active(store)
    store.add_message(c.id, "agent", "hi", agent_id="a1")
    store.transfer(c.id, agent_id="a2")
    store.accept(c.id, "a2")
    clock.advance(100)
    store.add_message(c.id, "agent", "hello from a2", agent_id="a2")
    assert store.get(c.id).first_response_at == T0


@pytest.mark.parametrize("text", ["", "   ", "\n\t", None])
def test_empty_message_rejected(store, text):
    c = queue(store)
    with pytest.raises(ValueError, match="empty"):
        store.add_message(c.id, "customer", text)
    assert store.messages(c.id) == []


def test_unknown_direction_rejected(store):
    c = queue(store)
    with pytest.raises(ValueError, match="direction"):
        store.add_message(c.id, "bot", "hello")
    assert store.messages(c.id) == []


def test_undelivered_oldest_first_and_mark_delivered_idempotent(store, clock):
    agent(store, "a1")
    agent(store, "a2")
    c1 = active(store, "web-1", "a1")
    c2 = active(store, "web-2", "a2")
    m1 = store.add_message(c1.id, "agent", "one", agent_id="a1")
    clock.advance(1)
    m2 = store.add_message(c2.id, "agent", "two", agent_id="a2")
    clock.advance(1)
    m3 = store.add_message(c1.id, "agent", "three", agent_id="a1")
    customer = store.add_message(c1.id, "customer", "from customer")
    assert store.undelivered() == [m1, m2, m3]
    assert store.undelivered("customer") == [customer]

    clock.advance(10)
    store.mark_delivered(m2.id)
    assert store.undelivered() == [m1, m3]
    delivered = [m for m in store.messages(c2.id) if m.id == m2.id][0]
    assert delivered.delivered_at == T0 + 12
    clock.advance(10)
    store.mark_delivered(m2.id)  # again: no error, first delivery time kept
    assert [m for m in store.messages(c2.id) if m.id == m2.id][0].delivered_at == T0 + 12
    store.mark_delivered(424242)  # unknown: nothing happens
    store.mark_delivered(m1.id)
    store.mark_delivered(m3.id)
    assert store.undelivered() == []
    assert store.undelivered("customer") == [customer]


def test_an_item_the_channel_refused_leaves_the_outbox_and_its_message_keeps_why(store, clock):
    agent(store, "a1")
    c = active(store, "wechat:o1", "a1")
    first = store.add_message(c.id, "agent", "refund done", agent_id="a1", deliver=True)
    second = store.add_message(c.id, "agent", "anything else?", agent_id="a1", deliver=True)
    items = {i.message_id: i for i in store.pending_outbox() if i.conversation_id == c.id}
    clock.advance(5)
    store.outbox_undeliverable(items[first.id].id, "window_closed", "wechat refused the message for good")
    # done with: neither pending nor claimed again, not counted as backlog; the next item goes on
    assert [i.message_id for i in store.pending_outbox() if i.conversation_id == c.id] == [second.id]
    assert [i.message_id for i in store.claim_outbox("w1", 60) if i.conversation_id == c.id] == [second.id]
    assert store.outbox_backlog() == len(store.pending_outbox())
    refused = store.message(first.id)
    assert (refused.delivered_at, refused.failed_at, refused.failure) == (None, T0 + 5, "window_closed")
    assert first.id not in [m.id for m in store.undelivered()] and second.id in [m.id for m in store.undelivered()]
    # once: a second report changes nothing
    clock.advance(5)
    store.outbox_undeliverable(items[first.id].id, "send_limit", "again")
    again = store.message(first.id)
    assert (again.failed_at, again.failure) == (T0 + 5, "window_closed")
    store.outbox_delivered(items[second.id].id)
    assert store.message(second.id).delivered_at == T0 + 10 and store.message(second.id).failed_at is None


def test_messages_of_unknown_conversation_is_empty(store):
    assert store.messages(31337) == []


# --- agents ----------------------------------------------------------------------------------------


def test_add_agent_and_agent_row(store):
    store.add_agent("a1", "Anna 安娜", "scrypt$hash", ["orders", "general", "after_sales"], role="supervisor",
                    capacity=5)
    assert store.agent_row("a1") == {
        "id": "a1", "name": "Anna 安娜", "role": "supervisor", "skills": ["after_sales", "general", "orders"],
        "capacity": 5, "status": "offline", "idle_since": 0, "password_hash": "scrypt$hash"}
    assert store.agent_row("nobody") is None


@pytest.mark.parametrize("kw", [{"role": "boss"}, {"capacity": 0}])
def test_add_agent_rejects_bad_role_and_capacity(store, backend, kw):
    with pytest.raises(backend.IntegrityError):
        store.add_agent("a1", "A", "h", ["general"], **kw)
    assert store.agent_row("a1") is None


def test_add_agent_twice_rejected(store, backend):
    store.add_agent("a1", "A", "h", ["general"])
    with pytest.raises(backend.IntegrityError):
        store.add_agent("a1", "B", "h2", ["orders"])
    assert store.agent_row("a1")["name"] == "A"


def test_set_status_online_sets_idle_since_only_on_coming_online(store, clock):
    agent(store, "a1")
    clock.advance(100)
    store.set_status("a1", "online")
    assert (store.agent_row("a1")["status"], store.agent_row("a1")["idle_since"]) == ("online", T0 + 100)
    clock.advance(50)
    store.set_status("a1", "online")  # already online: unchanged
    assert store.agent_row("a1")["idle_since"] == T0 + 100
    clock.advance(50)
    store.set_status("a1", "away")
    assert (store.agent_row("a1")["status"], store.agent_row("a1")["idle_since"]) == ("away", T0 + 100)
    clock.advance(50)
    store.set_status("a1", "offline")
    assert store.agent_row("a1")["idle_since"] == T0 + 100
    clock.advance(50)
    store.set_status("a1", "online")
    assert (store.agent_row("a1")["status"], store.agent_row("a1")["idle_since"]) == ("online", T0 + 300)


def test_set_status_rejects_bad_status_and_unknown_agent(store):
    agent(store, "a1")
    with pytest.raises(ValueError, match="status"):
        store.set_status("a1", "busy")
    with pytest.raises(StoreError, match="no agent ghost"):
        store.set_status("ghost", "online")
    assert store.agent_row("a1")["status"] == "offline"


def test_agents_counts_offered_and_active_conversations(store, clock):
    agent(store, "b1", skills=("orders", "general"), capacity=2, status="online")
    clock.advance(5)
    agent(store, "a1", skills=("general",), capacity=4, status="online")
    store.set_status("a1", "away")  # away keeps the time it came online
    agent(store, "c1", skills=(), capacity=1)
    c1, c2, c3, c4, c5 = (queue(store, f"web-{i}") for i in range(5))
    store.offer(c1.id, "a1")
    store.accept(c2.id, "a1")
    store.accept(c3.id, "b1")
    store.accept(c4.id, "a1")
    store.resolve(c4.id, back_to_bot=False)  # closed: no longer held
    store.offer(c5.id, "b1")
    store.decline(c5.id)  # declined: no longer held
    assert store.agents() == [
        routing.Agent("a1", frozenset({"general"}), "away", 4, 2, T0 + 5),
        routing.Agent("b1", frozenset({"orders", "general"}), "online", 2, 1, T0),
        routing.Agent("c1", frozenset(), "offline", 1, 0, 0.0),
    ]


def test_routing_assign_over_store_fills_capacity(store, clock):
    for aid in ("a1", "a2", "a3"):
        agent(store, aid, capacity=2, status="online")
    agent(store, "off", capacity=5, status="offline")
    ids = []
    for i in range(30):
        clock.advance(1)
        ids.append(queue(store, f"web-{i:02d}").id)
    assignments = routing.assign(store.waiting(), store.agents(), now=clock())
    assert len(assignments) == 6
    for a in assignments:
        store.offer(int(a.conversation_id), a.agent_id)
    offered = store.in_state("offered")
    assert sorted(c.id for c in offered) == ids[:6]  # first come, first served
    assert {a.id: a.active for a in store.agents()} == {"a1": 2, "a2": 2, "a3": 2, "off": 0}
    assert len(store.waiting()) == 24
    assert routing.assign(store.waiting(), store.agents(), now=clock()) == []
    # one agent finishes a conversation: exactly one more is offered, the next in line
    done = next(c for c in offered if c.agent_id == "a2")
    store.accept(done.id, "a2")
    store.resolve(done.id, back_to_bot=False)
    again = routing.assign(store.waiting(), store.agents(), now=clock())
    assert again == [routing.Assignment(str(ids[6]), "a2", "general")]


def test_routing_assign_serves_vip_first_with_skills(store, clock):
    agent(store, "g1", skills=("general",), capacity=1, status="online")
    agent(store, "v1", skills=("vip", "general"), capacity=1, status="online")
    early = queue(store, "web-1", queue_name="general")
    clock.advance(60)
    vip = queue(store, "web-2", queue_name="vip", tier="vip")
    result = routing.assign(store.waiting(), store.agents(), now=clock())
    assert result == [routing.Assignment(str(vip.id), "v1", "vip"), routing.Assignment(str(early.id), "g1", "general")]


# --- durability ------------------------------------------------------------------------------------


def test_everything_written_is_there_after_reopening(backend, store, clock):
    agent(store, "a1", status="online")
    c1 = queue(store, "web-1", summary={"issue": "破损"})
    c2 = queue(store, "web-2")
    c3 = queue(store, "web-3", state="ticket")
    store.accept(c1.id, "a1")
    m = store.add_message(c1.id, "agent", "hello", agent_id="a1")
    store.add_message(c2.id, "customer", "anyone?")
    store.accept(c2.id, "a1")
    store.resolve(c2.id, back_to_bot=False)
    store.record_csat(c2.id, 4, "ok")
    store.add_session("hash-1", "a1", T0 + 100)

    reopened = backend.store(clock)
    assert [reopened.get(c.id) for c in (c1, c2, c3)] == [store.get(c.id) for c in (c1, c2, c3)]
    assert reopened.get(c1.id).first_response_at == T0
    assert reopened.get(c1.id).summary == {"issue": "破损"}
    assert reopened.undelivered() == [m]
    assert reopened.messages(c2.id)[0].text == "anyone?"
    assert reopened.agents() == store.agents()
    assert reopened.agent_row("a1")["status"] == "online"
    assert reopened.csat(c2.id) == (4, "ok")
    assert reopened.session_agent("hash-1") == "a1"
    assert versions(backend) == list(range(1, LATEST + 1))


def test_killed_process_loses_no_queued_conversation_or_undelivered_message(backend):
    script = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        OPEN_STORE
        store.add_agent("a1", "A", "h", ["general"], capacity=50)
        for i in range(20):
            store.open(sender_id=f"web-{i}", channel="web", language="zh", reason="customer_request",
                       queue="general", summary={"i": i, "text": "等一下"})
        for i in range(5):
            c = store.open_for_sender(f"web-{i}")
            store.accept(c.id, "a1")
            store.add_message(c.id, "agent", f"reply {i}", agent_id="a1")
        print("ready", flush=True)
        time.sleep(60)
    """).replace("OPEN_STORE", backend.open_code)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script, backend.target], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=str(REPO), text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if proc.poll() is not None else line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    after = backend.store()
    queued = after.in_state("queued")
    assert [c.sender_id for c in queued] == [f"web-{i}" for i in range(5, 20)]
    assert [c.summary for c in queued] == [{"i": i, "text": "等一下"} for i in range(5, 20)]
    assert [c.sender_id for c in after.in_state("active")] == [f"web-{i}" for i in range(5)]
    assert [m.text for m in after.undelivered()] == [f"reply {i}" for i in range(5)]
    assert len(after.waiting()) == 15


# --- sessions and auth -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pw_hash():
    return auth.hash_password("correct horse battery")


def test_hash_format(pw_hash):
    scheme, n, r, p, salt, digest = pw_hash.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32
    assert "correct horse" not in pw_hash


def test_check_password_right_and_wrong(pw_hash):
    assert auth.check_password("correct horse battery", pw_hash)
    assert not auth.check_password("correct horse batterY", pw_hash)
    assert not auth.check_password("", pw_hash)
    assert not auth.check_password(None, pw_hash)


def test_hash_differs_per_call_but_both_check():
    a, b = auth.hash_password("same password"), auth.hash_password("same password")
    assert a != b
    assert a.split("$")[4] != b.split("$")[4]  # salt
    assert auth.check_password("same password", a) and auth.check_password("same password", b)


@pytest.mark.parametrize("stored", ["", "plain", "bcrypt$16384$8$1$c2FsdA==$ZGlnZXN0", "scrypt$16384$8$1$salt",
                                    "scrypt$x$8$1$c2FsdA==$ZGlnZXN0", "scrypt$16384$8$1$!!!$ZGlnZXN0",
                                    "scrypt$16384$8$1$c2FsdA==$"])
def test_check_password_malformed_hash_is_false(stored):
    assert auth.check_password("correct horse battery", stored) is False


@pytest.mark.parametrize("password", ["", "1234567", None])
def test_short_password_rejected(password):
    with pytest.raises(ValueError, match="8 characters"):
        auth.hash_password(password)


def test_eight_characters_are_enough():
    assert auth.check_password("12345678", auth.hash_password("12345678"))


@pytest.fixture
def with_agent(store, pw_hash):
    store.add_agent("a1", "Anna", pw_hash, ["general"])
    return store


def session_rows(backend):
    db = raw(backend)
    try:
        return db.execute("SELECT token_hash, agent_id, expires_at FROM sessions").fetchall()
    finally:
        db.close()


def test_login_with_right_password_gives_a_session(with_agent, clock, backend):
    result = auth.login(with_agent, "a1", "correct horse battery")
    assert result is not None
    token, expires = result
    assert isinstance(token, str) and len(token) >= 32
    assert expires == T0 + auth.SESSION_SECONDS
    assert auth.session_agent(with_agent, token) == "a1"
    assert session_rows(backend) == [(hashlib.sha256(token.encode()).hexdigest(), "a1", T0 + auth.SESSION_SECONDS)]


def test_login_wrong_password_and_unknown_agent_give_none(with_agent, backend):
    assert auth.login(with_agent, "a1", "wrong password!") is None
    assert auth.login(with_agent, "ghost", "correct horse battery") is None
    assert auth.login(with_agent, "ghost", "") is None
    assert session_rows(backend) == []


def test_login_does_the_same_work_for_unknown_agent(with_agent, monkeypatch):
    """'same work either way': an unknown agent must not answer measurably faster or slower."""
    calls = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    auth.login(with_agent, "ghost", "warm up the dummy hash")
    monkeypatch.setattr(hashlib, "scrypt", counting)
    auth.login(with_agent, "a1", "wrong password!")
    known = len(calls)
    calls.clear()
    auth.login(with_agent, "ghost", "wrong password!")
    assert len(calls) == known == 1


def test_failed_logins_are_counted_per_account_for_every_service_on_the_database(backend, clock):
    """Two stores on one database (two services): the lockout counts the account's failures on both."""
    one, two = backend.store(clock), backend.store(clock)
    for store in (one, two, one, two):
        store.login_failed("a1", 300)
    assert one.login_lock_left("a1", 5, 300) == two.login_lock_left("a1", 5, 300) == 0.0
    assert two.login_failed("a1", 300) == 5
    clock.advance(100)
    assert one.login_lock_left("a1", 5, 300) == two.login_lock_left("a1", 5, 300) == 200.0
    assert one.login_lock_left("b2", 5, 300) == 0.0
    one.login_failed("b2", 300)
    clock.advance(200)
    assert two.login_lock_left("a1", 5, 300) == 0.0
    assert one.login_failed("a1", 300) == 6  # in a row: the next failure locks again at once
    two.login_succeeded("a1")
    assert one.login_lock_left("a1", 5, 300) == 0.0
    clock.advance(301)
    assert two.login_failed("a1", 300) == 1  # a failure long after the last one starts a new count
    db = raw(backend)
    try:  # rows older than the window are dropped
        assert db.execute("SELECT agent_id, failures FROM login_failures").fetchall() == [("a1", 1)]
    finally:
        db.close()


def test_session_valid_until_expiry(with_agent, clock):
    token, expires = auth.login(with_agent, "a1", "correct horse battery", seconds=600)
    assert expires == T0 + 600
    clock.advance(599.5)
    assert auth.session_agent(with_agent, token) == "a1"
    clock.advance(0.5)
    assert auth.session_agent(with_agent, token) is None


def test_logout_ends_only_that_session_and_purges_expired(with_agent, clock, backend):
    short, _ = auth.login(with_agent, "a1", "correct horse battery", seconds=10)
    first, _ = auth.login(with_agent, "a1", "correct horse battery")
    second, _ = auth.login(with_agent, "a1", "correct horse battery")
    assert len({short, first, second}) == 3
    clock.advance(20)
    auth.logout(with_agent, first)
    assert auth.session_agent(with_agent, first) is None
    assert auth.session_agent(with_agent, second) == "a1"
    assert [r[0] for r in session_rows(backend)] == [auth.token_hash(second)]  # expired one purged too
    auth.logout(with_agent, first)  # twice: harmless


@pytest.mark.parametrize("token", [None, "", "not-a-token"])
def test_session_agent_without_a_valid_token(with_agent, token):
    auth.login(with_agent, "a1", "correct horse battery")
    assert auth.session_agent(with_agent, token) is None


def test_token_itself_is_not_stored(with_agent, backend):
    token, _ = auth.login(with_agent, "a1", "correct horse battery")
    auth.session_agent(with_agent, token)
    stored = backend.everything_stored()
    assert token.encode() not in stored
    assert auth.token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
    assert auth.token_hash(token).encode() in stored
    assert with_agent.session_agent(token) is None  # the token is not a key; only its hash is
    assert with_agent.session_agent(auth.token_hash(token)) == "a1"


# --- CSAT ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("setup", ["queued", "offered", "active", "returned", "ticket"])
def test_csat_only_for_closed_conversations(store, setup):
    agent(store, "a1")
    c = queue(store, state="ticket") if setup == "ticket" else queue(store)
    if setup in ("offered", "active"):
        store.offer(c.id, "a1")
    if setup == "active":
        store.accept(c.id, "a1")
    if setup == "returned":
        store.resolve(c.id, back_to_bot=True)
    with pytest.raises(StoreError, match="not closed"):
        store.record_csat(c.id, 5)
    assert store.csat(c.id) is None


@pytest.mark.parametrize("score", [0, 6, -1, 10, 3.7, True, "4"])
def test_csat_score_is_1_to_5(store, score):
    c = queue(store)
    store.resolve(c.id, back_to_bot=False)
    with pytest.raises(ValueError, match="1-5"):
        store.record_csat(c.id, score)
    assert store.csat(c.id) is None


def test_csat_stored_with_comment_and_replaced_on_second_answer(store, clock, backend):
    c = queue(store)
    store.resolve(c.id, back_to_bot=False)
    assert store.csat(c.id) is None
    store.record_csat(c.id, 1, "太慢了")
    assert store.csat(c.id) == (1, "太慢了")
    clock.advance(30)
    store.record_csat(c.id, 5)
    assert store.csat(c.id) == (5, "")
    db = raw(backend)
    try:
        assert db.execute("SELECT conversation_id, score, created_at FROM csat").fetchall() == [(c.id, 5, T0 + 30)]
    finally:
        db.close()


@pytest.mark.parametrize("score", [1, 2, 3, 4, 5])
def test_csat_each_valid_score(store, score):
    c = queue(store)
    store.resolve(c.id, back_to_bot=False)
    store.record_csat(c.id, score, None)
    assert store.csat(c.id) == (score, "")


def test_csat_comment_is_capped(store):
    c = queue(store)
    store.resolve(c.id, back_to_bot=False)
    store.record_csat(c.id, 3, "长" * 5000)
    assert store.csat(c.id) == (3, "长" * 1000)


# --- customers: advisors, preferred agents, history (migration 6) ------------------------------------
HOUR = 3600.0


def handed_over(store, clock, sender, agent_id, customer_id=None, back_to_bot=False):
    """A handoff of `sender` taken by `agent_id` and ended now; returns it."""
    c = queue(store, sender, customer_id=customer_id)
    store.accept(c.id, agent_id)
    return store.resolve(c.id, back_to_bot=back_to_bot)


def test_advisor_set_replaced_and_removed(store):
    agent(store, "a1")
    agent(store, "a2")
    assert store.advisor("C1") is None and store.advisor(None) is None
    store.set_advisor("C1", "a1", assigned_by="sup")
    assert store.advisor("C1") == "a1"
    store.set_advisor("C1", "a2")
    assert store.advisor("C1") == "a2" and store.advisor("C2") is None
    assert store.remove_advisor("C1") is True and store.remove_advisor("C1") is False
    assert store.advisor("C1") is None
    with pytest.raises(StoreError, match="no agent"):
        store.set_advisor("C1", "nobody")


def test_preferences_name_the_advisor_of_waiting_customers_only(store):
    agent(store, "adv")
    store.set_advisor("VIP1", "adv")
    vip = queue(store, "customer:VIP1", customer_id="VIP1", queue_name="vip")
    other = queue(store, "customer:C2", customer_id="C2")
    anonymous = queue(store, "web-9")
    assert store.preferences(72 * HOUR) == {vip.id: ("adv", None)}
    store.offer(vip.id, "adv")
    assert store.preferences(72 * HOUR) == {}
    assert other.id and anonymous.id


def test_preferences_last_agent_within_the_window_by_conversation_or_customer(store, clock):
    for a in ("a1", "a2"):
        agent(store, a)
    handed_over(store, clock, "web-1", "a1")
    clock.advance(HOUR)
    handed_over(store, clock, "web-1", "a2", back_to_bot=True)  # the latest earlier one: a2 (handed back too)
    clock.advance(71 * HOUR)
    again = queue(store, "web-1")
    assert store.preferences(72 * HOUR) == {again.id: (None, "a2")}
    assert store.preferences(70 * HOUR) == {}  # ended 71 h before: outside a 70-hour window
    assert store.preferences(0) == {}  # off
    # the same customer id from another conversation (e.g. a verified customer on a new channel) counts too
    store.resolve(again.id, back_to_bot=False)  # closed while queued: nobody had it, not a last agent
    handed_over(store, clock, "customer:C7", "a1", customer_id="C7")
    clock.advance(HOUR)
    elsewhere = queue(store, "app:u7", customer_id="C7")
    assert store.preferences(72 * HOUR) == {elsewhere.id: (None, "a1")}


def test_preferences_last_agent_outside_the_window(store, clock):
    agent(store, "a1")
    handed_over(store, clock, "web-1", "a1")
    clock.advance(72 * HOUR + 1)
    queue(store, "web-1")
    assert store.preferences(72 * HOUR) == {}


def test_preferences_advisor_and_last_agent_together(store, clock):
    agent(store, "adv")
    agent(store, "a1")
    store.set_advisor("C1", "adv")
    handed_over(store, clock, "customer:C1", "a1", customer_id="C1")
    clock.advance(10)
    c = queue(store, "customer:C1", customer_id="C1", queue_name="vip")
    assert store.preferences(72 * HOUR) == {c.id: ("adv", "a1")}


def test_customer_handoffs_newest_first_with_csat(store, clock):
    agent(store, "a1")
    first = handed_over(store, clock, "customer:C1", "a1", customer_id="C1")
    store.record_csat(first.id, 4, "ok")
    clock.advance(60)
    second = queue(store, "customer:C1", customer_id="C1", reason="complaint", queue_name="complaints")
    queue(store, "customer:C2", customer_id="C2")
    found = store.customer_handoffs("C1")
    assert [(h.id, h.state, h.queue, h.reason, h.agent_id, h.csat) for h in found] == [
        (second.id, "queued", "complaints", "complaint", None, None),
        (first.id, "closed", "general", "customer_request", "a1", 4)]
    assert found[1].closed_at == T0 and found[0].created_at == T0 + 60
    assert store.customer_handoffs("C9") == []
