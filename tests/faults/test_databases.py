"""Databases failing under a running service: the handoff store's SQLite file locked by another writer for
longer than its busy timeout (10 s), and its PostgreSQL server restarted. Requests fail cleanly (an error
answer in bounded time, the customer told the truth), nothing is lost or doubled, and the service recovers on
its own."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import requests

from actions.texts import text
from common.secrets import handoff_service_token
from tests.e2e.chat import new_sender, rest_say
from tests.faults.test_handoff_service import conversations_of
from tests.integration.test_handoff_postgres import rows, service  # noqa: F401 - service is a fixture
from tests.integration.test_handoff_service import AGENT_MSG, ok, settle, wait_for

LOCKED_SECONDS = 12.0  # above the store's 10 s busy timeout


def intake(sender: str) -> dict:
    return {"sender_id": sender, "channel": "rest", "language": "zh", "reason": "customer_request",
            "tier": "normal", "intents": [], "order_task": None,
            "summary": {"issue": "help", "transcript": [{"role": "customer", "text": "help"}]}}


@pytest.mark.e2e
def test_handoff_store_locked_the_request_waits_and_is_filed_once(faults):
    stack = faults
    sender = new_sender("fault-locked")
    rest_say(stack.rasa_url, sender, "你好")
    token = handoff_service_token(stack.settings.var_dir)
    direct: dict = {}

    def call_the_service() -> None:  # the service's own answer while its database is locked
        started = time.monotonic()
        resp = requests.post(f"{stack.handoff_url}/api/handoffs", json=intake(new_sender("fault-direct")),
                             headers={"Authorization": f"Bearer {token}"}, timeout=30)
        direct.update(status=resp.status_code, body=resp.text, took=time.monotonic() - started)

    lock = sqlite3.connect(stack.handoff_db, timeout=5, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    try:
        probe = threading.Thread(target=call_the_service)
        probe.start()
        started = time.monotonic()
        replies = rest_say(stack.rasa_url, sender, "转人工")
        took = time.monotonic() - started
        assert [r.get("text") for r in replies] == [text("handoff_pending", "zh")], replies
        assert took < 10, took  # the action server's 5 s client timeout, not the lock's length
        time.sleep(max(0.0, LOCKED_SECONDS - (time.monotonic() - started)))
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    probe.join(30)
    assert direct["status"] == 503 and direct["took"] < 15, direct  # a clean "try again", not a hang
    assert "error" in direct["body"]

    # recovered: the waiting request is filed
    wait_for(lambda: conversations_of(stack, sender), "the queued handoff filed after the lock", timeout=40)
    time.sleep(2)  # a late retry would show up now
    filed = conversations_of(stack, sender)
    # the action's first call timed out on its side (5 s) but the service stored it once the lock was gone;
    # the outbox's repeat carries the same request_id, so it is answered with that one, not filed again
    assert len(filed) == 1, [(c.id, c.state) for c in filed]


@pytest.mark.e2e
@pytest.mark.postgres
def test_postgres_restart_fails_cleanly_and_the_service_recovers(service, postgres, pg_url):  # noqa: F811
    gina = service.login("gen1", online=True)
    cid = service.handoff("pg-before", issue="first")["conversation"]["id"]
    ok(gina.accept(cid))
    settle(gina, cid)

    postgres.halt()
    try:
        started = time.monotonic()
        down = service.bot("/api/handoffs", intake("pg-during"))
        assert down.status_code == 503 and "error" in down.json(), (down.status_code, down.text)
        assert time.monotonic() - started < 12
        assert service.proc.poll() is None  # still running
    finally:
        postgres.resume()

    # recovered without a restart of the service: kept connections that died are replaced
    again = wait_for(lambda: (r := service.bot("/api/handoffs", intake("pg-during"))).status_code == 201 and r,
                     "the intake working again", timeout=30)
    assert again.json()["conversation"]["sender_id"] == "pg-during"
    assert rows(pg_url, "SELECT COUNT(*) FROM conversations WHERE sender_id = 'pg-during'") == [(1,)]
    # the delivery worker survived the outage: an agent's reply still reaches Rasa
    ok(gina.reply(cid, "back after the restart"), 201)
    wait_for(lambda: any(c.intent == AGENT_MSG and c.entities.get("agent_text") == "back after the restart"
                         for c in service.rasa.delivered("pg-before")), "the reply delivered after the restart")
