"""The handoff service on PostgreSQL: `python -m handoff add-agent` and `python -m handoff serve` as real
processes with CS_HANDOFF_DB_URL set to a fresh database of the session's throwaway server (tests/pg.py),
delivering to tests/fakes/rasa_api.FakeRasa. What the API is asked to do lands in PostgreSQL, nothing in
SQLite, and survives a crash of the service. (The service's behaviour in detail: test_handoff_service.py,
on SQLite; the store's, on both: tests/unit/test_handoff_store.py.)
"""
from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator

import psycopg
import pytest

from handoff.migrations import POSTGRES_MIGRATIONS
from ops.paths import ROOT, VENV_BIN
from tests.fakes.rasa_api import FakeRasa
from tests.integration.test_handoff_service import AGENT_MSG, ENDED, PASSWORD, RASA_TOKEN, Service, ok, settle, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@dataclass
class PostgresService(Service):
    db_url: str = ""

    @property
    def env(self) -> Dict[str, str]:
        return {**super().env, "CS_HANDOFF_DB_URL": self.db_url}


def rows(url: str, sql: str) -> list:
    with psycopg.connect(url, autocommit=True) as db:
        return db.execute(sql).fetchall()


@pytest.fixture
def service(pg_url: str, tmp_path: Path) -> Iterator[PostgresService]:
    """Agents added with the CLI (three processes at once on the fresh database: concurrent migrations), then
    the service started on it."""
    var_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env.update({"CS_VAR_DIR": str(var_dir), "CS_HANDOFF_DB_URL": pg_url, "CS_AGENT_PASSWORD": PASSWORD})
    procs = [subprocess.Popen([str(VENV_BIN / "python"), "-m", "handoff", "add-agent", agent_id, "--name", name,
                               "--skills", "general"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
             for agent_id, name in (("gen1", "Gina"), ("gen2", "Gus"), ("gen3", "Gil"))]
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out.decode()
    with FakeRasa(RASA_TOKEN) as rasa:
        svc = PostgresService(var_dir, rasa, tmp_path / "handoff.log", db_url=pg_url)
        try:
            yield svc.start()  # GET /health answered 200
        finally:
            svc.kill(signal.SIGTERM)


def test_the_service_runs_on_postgresql(service: PostgresService, pg_url: str):
    url = pg_url
    assert rows(url, "SELECT id FROM agents ORDER BY id") == [("gen1",), ("gen2",), ("gen3",)]
    assert rows(url, "SELECT version FROM schema_migrations ORDER BY version") == [
        (v,) for v, _ in POSTGRES_MIGRATIONS]

    gina = service.login("gen1", online=True)
    assert rows(url, "SELECT status FROM agents WHERE id = 'gen1'") == [("online",)]
    cid = service.handoff("pg-customer", issue="my parcel is late")["conversation"]["id"]
    assert rows(url, f"SELECT sender_id, state, agent_id FROM conversations WHERE id = {cid}") == [
        ("pg-customer", "offered", "gen1")]
    ok(gina.accept(cid))
    settle(gina, cid)
    service.relay("pg-customer", "hello?")
    ok(gina.reply(cid, "Hello from PostgreSQL"), 201)
    wait_for(lambda: len(service.rasa.delivered("pg-customer")) == 2, "the joined notice and the reply delivered")
    assert [c.entities["agent_text"] for c in service.rasa.calls("pg-customer") if c.intent == AGENT_MSG][-1] == \
        "Hello from PostgreSQL"
    assert rows(url, f"SELECT direction, text FROM messages WHERE conversation_id = {cid} ORDER BY id")[1:] == [
        ("customer", "hello?"), ("agent", "Hello from PostgreSQL")]
    wait_for(lambda: rows(url, "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL") == [(0,)],
             "the outbox delivered, as recorded in PostgreSQL")

    # a crash loses nothing: the conversation, the session and what was said are in PostgreSQL
    service.kill(signal.SIGKILL)
    service.start()
    assert gina.state(cid)["state"] == "active"  # the same session cookie still works
    ok(gina.resolve(cid, "close"))
    wait_for(lambda: any(c.intent == ENDED for c in service.rasa.delivered("pg-customer")), "the end delivered")
    ok(service.csat(cid, 5, "快"))
    assert rows(url, f"SELECT state FROM conversations WHERE id = {cid}") == [("closed",)]
    assert rows(url, f"SELECT score, comment FROM csat WHERE conversation_id = {cid}") == [(5, "快")]
    assert not (service.var_dir / "handoff.sqlite3").exists()
