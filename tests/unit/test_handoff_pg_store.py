"""handoff/pg_store.py on the session's throwaway PostgreSQL server (tests/pg.py), beyond the shared store
suite (test_handoff_store.py runs every store test on both databases): what PostgreSQL's concurrency makes
different from SQLite's one writer at a time. Several stores (each with its own connections, as separate
service processes would have) work on one database at once; writes are SERIALIZABLE and retried, so a
state checked before writing cannot change under the write.
"""
from __future__ import annotations

import threading
from typing import Callable, List

import psycopg
import pytest

from common import postgres
from common.settings import Settings
from handoff.app import open_store
from handoff.migrations import POSTGRES_LOCK, POSTGRES_MIGRATIONS, migrate
from handoff.pg_store import PostgresHandoffStore
from handoff.store import StoreError
from tests.pg import waiting_for_a_lock

pytestmark = pytest.mark.postgres

LATEST = POSTGRES_MIGRATIONS[-1][0]
ROUNDS = 15


@pytest.fixture
def stores(pg_url):
    """make(n) -> n stores on one fresh database, closed afterwards."""
    made: List[PostgresHandoffStore] = []

    def make(n: int) -> List[PostgresHandoffStore]:
        made.extend(PostgresHandoffStore(pg_url) for _ in range(n))
        return made[-n:]

    yield make
    for store in made:
        store.close()


def raw(url: str):
    return psycopg.connect(url, autocommit=True)


def race(calls: List[Callable[[], object]]) -> List[tuple]:
    """Run the calls at the same moment, one thread each; [("ok", result) or ("error", StoreError text)]."""
    start = threading.Barrier(len(calls))
    results: List[tuple] = [None] * len(calls)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = ("ok", calls[i]())
        except StoreError as e:
            results[i] = ("error", str(e))
        except Exception as e:  # noqa: BLE001 - reported as a failure below
            results[i] = ("crash", repr(e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def open_conversation(store: PostgresHandoffStore, sender: str):
    return store.open(sender_id=sender, channel="web", language="zh", reason="customer_request", queue="general",
                      summary={"issue": "where is my order"})


# --- racing writers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["the offer's agent from two consoles", "two agents pulling from the queue",
                                 "the router offering while an agent pulls"])
def test_two_stores_racing_for_one_conversation_exactly_one_wins(stores, who):
    first, second = stores(2)
    for aid in ("a1", "a2"):
        first.add_agent(aid, aid.upper(), "h", ["general"])
    for n in range(ROUNDS):
        cid = open_conversation(first, f"web-{n}").id
        if who == "the offer's agent from two consoles":
            first.offer(cid, "a1")
            calls = [lambda cid=cid: first.accept(cid, "a1"), lambda cid=cid: second.accept(cid, "a1")]
        elif who == "two agents pulling from the queue":
            calls = [lambda cid=cid: first.accept(cid, "a1"), lambda cid=cid: second.accept(cid, "a2")]
        else:
            calls = [lambda cid=cid: first.offer(cid, "a1"), lambda cid=cid: second.accept(cid, "a2")]
        results = race(calls)
        assert sorted(r[0] for r in results) == ["error", "ok"], results
        winner = next(r[1] for r in results if r[0] == "ok")
        loser = next(r[1] for r in results if r[0] == "error")
        assert loser.startswith(f"conversation {cid} is ") or "offered to another agent" in loser, loser
        assert first.get(cid) == second.get(cid) == winner  # what the winner wrote is what is stored


def test_many_stores_opening_for_one_customer_at_once_get_one_conversation(pg_url, stores):
    many = stores(8)
    for n in range(5):
        results = race([lambda s=s, n=n: open_conversation(s, f"web-{n}") for s in many])
        assert {r[0] for r in results} == {"ok"}, results
        assert len({r[1].id for r in results}) == 1
    with raw(pg_url) as db:
        assert db.execute("SELECT sender_id, COUNT(*) FROM conversations GROUP BY sender_id ORDER BY 1").fetchall() \
            == [(f"web-{n}", 1) for n in range(5)]


def test_messages_and_outbox_from_racing_stores_all_land_in_order(stores):
    """Replies written at once by several stores: every one stored, each with its outbox item."""
    many = stores(4)
    many[0].add_agent("a1", "A1", "h", ["general"], capacity=10)
    c = many[0].accept(open_conversation(many[0], "web-1").id, "a1")
    results = race([lambda s=s, i=i: s.add_message(c.id, "agent", f"reply {i}", agent_id="a1", deliver=True)
                    for i, s in enumerate(many)])
    assert {r[0] for r in results} == {"ok"}, results
    messages = many[0].messages(c.id)
    assert sorted(m.text for m in messages) == [f"reply {i}" for i in range(4)]
    assert [item.message_id for item in many[0].pending_outbox()] == [m.id for m in messages]
    assert many[0].get(c.id).first_response_at in {m.created_at for m in messages}


def test_accept_does_not_take_an_offer_made_to_another_agent_meanwhile(pg_url, stores):
    """The PostgreSQL twin of the SQLite test: the router's offer is written, not yet committed, when an
    agent pulls the same conversation; the pull waits for the row, and its retry sees the offer."""
    (store,) = stores(1)
    store.add_agent("a1", "A1", "h", ["general"])
    store.add_agent("a2", "A2", "h", ["general"])
    c = open_conversation(store, "web-1")
    outcome = {}

    def pull():
        try:
            outcome["accepted"] = store.accept(c.id, "a2")
        except StoreError as e:
            outcome["error"] = str(e)

    with raw(pg_url) as router:
        with router.transaction():  # the router is writing right now
            router.execute("UPDATE conversations SET state = 'offered', agent_id = 'a1', assigned_at = 1 "
                           "WHERE id = %s", (c.id,))
            thread = threading.Thread(target=pull)
            thread.start()
            assert waiting_for_a_lock(pg_url, "transactionid"), "the pull never waited for the router's row"
        thread.join(10)
    assert "accepted" not in outcome
    assert "offered to another agent" in outcome["error"]
    assert (store.get(c.id).state, store.get(c.id).agent_id) == ("offered", "a1")


# --- migrations, services starting together ----------------------------------------------------------
def test_services_starting_together_on_a_fresh_database_migrate_it_once(pg_url):
    results = race([lambda: PostgresHandoffStore(pg_url) for _ in range(8)])
    try:
        assert {r[0] for r in results} == {"ok"}, results
        with raw(pg_url) as db:
            assert db.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall() == [
                (v,) for v, _ in POSTGRES_MIGRATIONS]
    finally:
        for r in results:
            if r[0] == "ok":
                r[1].close()


def test_migration_applied_by_another_process_meanwhile_is_not_applied_twice(pg_url):
    """The PostgreSQL twin of the SQLite test: the late one waits at its first step."""
    outcome = {}
    with raw(pg_url) as other, raw(pg_url) as late:
        late.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        other.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION)")

        def run():
            try:
                outcome["version"] = migrate(late)
            except Exception as e:  # noqa: BLE001 - reported below
                outcome["error"] = e

        with other.transaction():  # the other process is migrating right now
            other.execute("SELECT pg_advisory_xact_lock(%s)", (POSTGRES_LOCK,))
            thread = threading.Thread(target=run)
            thread.start()
            assert waiting_for_a_lock(pg_url, "advisory"), "migrate never waited for the migration lock"
            for statement in filter(str.strip, POSTGRES_MIGRATIONS[0][1].split(";\n")):
                other.execute(statement)
            other.execute("INSERT INTO schema_migrations VALUES (1, 0)")
        thread.join(10)
        assert outcome == {"version": LATEST}
        assert late.execute("SELECT version, applied_at > 0 FROM schema_migrations ORDER BY 1").fetchall() == [
            (1, False)] + [(v, True) for v, _ in POSTGRES_MIGRATIONS[1:]]  # 1 by the other process, the rest here


# --- connections -------------------------------------------------------------------------------------
def test_a_kept_connection_the_server_dropped_is_replaced(pg_url, stores, monkeypatch):
    (store,) = stores(1)
    store.add_agent("a1", "A1", "h", ["general"])
    assert store.connections.kept(), "the store keeps its connection for the next call"
    with raw(pg_url) as admin:
        dropped = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                                "datname = current_database() AND application_name = 'cs-handoff'").fetchall()
    assert dropped and all(ok for (ok,) in dropped)
    monkeypatch.setattr(postgres, "CHECK_AFTER", 0.0)  # as if it had been idle a while
    assert store.agent_row("a1")["name"] == "A1"
    store.set_status("a1", "online")
    assert store.agent_row("a1")["status"] == "online"


def test_lock_waits_end_after_10s_unless_the_url_says_otherwise(pg_url, stores):
    (store,) = stores(1)
    with store._connection() as conn:
        assert conn.execute("SHOW lock_timeout").fetchone() == ("10s",)
    own = PostgresHandoffStore(pg_url + "?options=-c%20lock_timeout%3D2500ms&application_name=mine")
    try:
        with own._connection() as conn:
            assert conn.execute("SELECT current_setting('lock_timeout'), current_setting('application_name')"
                                ).fetchone() == ("2500ms", "mine")
    finally:
        own.close()


def test_close_releases_kept_connections_and_later_calls_still_work(stores):
    (store,) = stores(1)
    store.add_agent("a1", "A1", "h", ["general"])
    kept = store.connections.kept()
    store.close()
    assert kept and all(conn.closed for conn in kept)
    assert store.agent_row("a1")["id"] == "a1"
    assert store.connections.kept() == []


def test_a_malformed_url_fails_before_connecting():
    with pytest.raises(psycopg.ProgrammingError):
        PostgresHandoffStore("postgresql://user@host:notaport/db?nonsense_option=1")


# --- configuration -----------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://"])  # both, as the settings allow
def test_open_store_is_postgres_when_the_url_is_set(pg_url, tmp_path, scheme):
    settings = Settings.from_env({"CS_VAR_DIR": str(tmp_path),
                                  "CS_HANDOFF_DB_URL": pg_url.replace("postgresql://", scheme)})
    store = open_store(settings)
    try:
        assert isinstance(store, PostgresHandoffStore)
        conversation = open_conversation(store, "web-1")
        assert not (tmp_path / "handoff.sqlite3").exists()
        with raw(pg_url) as db:
            assert db.execute("SELECT id, sender_id FROM conversations").fetchall() == [(conversation.id, "web-1")]
    finally:
        store.close()


class PauseAfterReading:
    """A connection that stops once migrate() has read which versions are applied (and committed that first
    transaction), before its next transaction, until told to go on."""

    def __init__(self, conn) -> None:
        self.conn, self.has_read, self.go = conn, threading.Event(), threading.Event()
        self.transactions = 0

    def transaction(self):
        self.transactions += 1
        if self.transactions == 2:
            self.has_read.set()
            assert self.go.wait(10)
        return self.conn.transaction()

    def execute(self, *args):
        return self.conn.execute(*args)


def test_migration_applied_while_waiting_for_its_lock_is_seen_after_the_wait(pg_url):
    """The late one has found version 1 missing and waits for the lock to apply it while the other applies it.
    Its connection is SERIALIZABLE, as the store's are: a snapshot taken before the wait would not show
    version 1, and applying it again would fail (the tables exist). migrate() reads under READ COMMITTED."""
    outcome = {}
    with raw(pg_url) as other, raw(pg_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        late = PauseAfterReading(conn)

        def run():
            try:
                outcome["version"] = migrate(late)
            except Exception as e:  # noqa: BLE001 - reported below
                outcome["error"] = e

        thread = threading.Thread(target=run)
        thread.start()
        assert late.has_read.wait(10)
        with other.transaction():  # the other process starts migrating now
            other.execute("SELECT pg_advisory_xact_lock(%s)", (POSTGRES_LOCK,))
            late.go.set()
            assert waiting_for_a_lock(pg_url, "advisory"), "migrate never waited for the migration lock"
            for statement in filter(str.strip, POSTGRES_MIGRATIONS[0][1].split(";\n")):
                other.execute(statement)
            other.execute("INSERT INTO schema_migrations VALUES (1, 0)")
        thread.join(10)
        assert outcome == {"version": LATEST}
        assert conn.execute("SELECT version, applied_at > 0 FROM schema_migrations ORDER BY 1").fetchall() == [
            (1, False)] + [(v, True) for v, _ in POSTGRES_MIGRATIONS[1:]]
