"""The editors' loop over real HTTP: the handoff service (`python -m handoff serve`, editor API) and the
action server (`python -m actions`, action_answer_faq through rasa-sdk's /webhook) as real processes on
one temp corpus and one temp index root.

- roles: an editor gets 403 from every conversation/queue endpoint and can use /api/kb/*; an agent gets
  403 from /api/kb/*;
- publish and rollback while customers' questions hit the action server from several threads: no
  request fails, the answers switch to the new text and back.

Small corpus (tests/kb_editing_fixture.py), USE encoder alone, no git (CS_KB_GIT=off), poll 0.2 s.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional

import pytest
import requests

from knowledge.index import build_from_corpus, current_version
from ops.paths import ROOT, VENV_BIN
from tests.conftest import free_port
from tests.kb_editing_fixture import OPTIONS, write_corpus, write_queries

pytestmark = pytest.mark.e2e

PASSWORD = "kb-editor-test-password"  # test-only
OLD_EN = "Orders over ¥99 ship free; otherwise shipping is ¥10."
NEW_EN = "Shipping is free on every order this month."
QUESTION = "How much is shipping?"


class Process:
    def __init__(self, argv: List[str], env: dict, log: Path, health: str, what: str) -> None:
        self.argv, self.env, self.log, self.health, self.what = argv, env, log, health, what
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 120) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:  # like tests.health.wait_healthy, also through slow answers while models load
            if self.proc.poll() is not None:
                pytest.fail(f"{self.what} exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.health, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{self.what} did not come up within {timeout:.0f} s:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kb-publishing")
    corpus = write_corpus(tmp / "faq")
    kb = tmp / "kb"
    build_from_corpus(corpus, kb, OPTIONS)
    handoff_port, action_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env.update({
        "CS_VAR_DIR": str(tmp / "var"), "CS_FAQ_DIR": str(corpus), "CS_KB_DIR": str(kb),
        "CS_KB_ENCODER": "use", "CS_KB_NEGATIVES": "none", "CS_KB_POLL_SECONDS": "0.2", "CS_KB_GIT": "off",
        "CS_KB_REGRESSION_QUERIES": str(write_queries(tmp / "dev.jsonl")),
        "CS_KB_GATE_RECALL_MARGIN": "0.2", "CS_KB_GATE_WRONG_MARGIN": "0.2", "CS_KB_GATE_MIN_RECALL": "0.5",
        "CS_KB_GATE_MAX_WRONG": "0.5", "CS_HANDOFF_PORT": str(handoff_port), "CS_ACTION_PORT": str(action_port),
        "CS_RASA_PORT": str(free_port()), "CS_WEB_PORT": str(free_port()), "CS_HANDOFF_HOURS": "00:00-24:00",
        "CS_AGENT_PASSWORD": PASSWORD, "CS_LOG_LEVEL": "INFO",
    })
    python = str(VENV_BIN / "python")
    for agent_id, role, skills in (("erin", "editor", ""), ("alice", "agent", "general"),
                                   ("sam", "supervisor", "general")):
        subprocess.run([python, "-m", "handoff", "add-agent", agent_id, "--name", agent_id.title(), "--role", role,
                        "--skills", skills], cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
    handoff = Process([python, "-m", "handoff", "serve"], env, tmp / "handoff.log",
                      f"http://127.0.0.1:{handoff_port}/health", "the handoff service")
    actions = Process([python, "-m", "actions", "--port", str(action_port)], env, tmp / "actions.log",
                      f"http://127.0.0.1:{action_port}/health", "the action server")
    handoff.start()
    actions.start(timeout=180)
    try:
        yield {"handoff": f"http://127.0.0.1:{handoff_port}", "actions": f"http://127.0.0.1:{action_port}",
               "corpus": corpus, "kb": kb, "tmp": tmp}
    finally:
        actions.stop()
        handoff.stop()


def session(world, agent_id: str) -> requests.Session:
    s = requests.Session()
    r = s.post(world["handoff"] + "/api/login", json={"agent_id": agent_id, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return s


def ask(world, text: str, sender: str) -> requests.Response:
    """action_answer_faq through the action server's webhook, as Rasa calls it."""
    tracker = {"sender_id": sender, "slots": {"language": "en"}, "latest_message": {
        "text": text, "intent": {"name": "ask_faq", "confidence": 0.9}, "entities": []},
        "events": [], "paused": False, "followup_action": None, "active_loop": {},
        "latest_action_name": "action_listen", "latest_input_channel": "rest"}
    return requests.post(world["actions"] + "/webhook", json={
        "next_action": "action_answer_faq", "sender_id": sender, "tracker": tracker, "domain": {},
        "version": "3.6.21"}, timeout=30)


def wait_for(check: Callable, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def finished_job(s: requests.Session, world, timeout: float = 180) -> dict:
    def done():
        job = s.get(world["handoff"] + "/api/kb/publish", timeout=10).json()["job"]
        return job if job.get("state") == "done" else None
    return wait_for(done, "the publish job", timeout)["result"]


# --- roles ------------------------------------------------------------------------------------------

AGENT_ENDPOINTS = [("get", "/api/queues"), ("get", "/api/conversations"), ("get", "/api/conversations/1"),
                   ("post", "/api/conversations/1/accept"), ("post", "/api/conversations/1/decline"),
                   ("post", "/api/conversations/1/messages"), ("post", "/api/conversations/1/transfer"),
                   ("post", "/api/conversations/1/resolve"), ("get", "/api/canned"), ("get", "/api/metrics"),
                   ("put", "/api/me/status"), ("get", "/api/ws")]


def test_an_editor_cannot_touch_conversations_and_an_agent_cannot_edit(world):
    editor, agent, supervisor = session(world, "erin"), session(world, "alice"), session(world, "sam")
    assert editor.get(world["handoff"] + "/api/me", timeout=10).json()["agent"]["role"] == "editor"
    for method, path in AGENT_ENDPOINTS:
        r = getattr(editor, method)(world["handoff"] + path, json={"text": "hi", "status": "online"}, timeout=10)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert "knowledge base" in r.json()["error"]
    assert editor.get(world["handoff"] + "/api/kb/entries", timeout=10).status_code == 200
    assert supervisor.get(world["handoff"] + "/api/kb/entries", timeout=10).status_code == 200
    for method, path in [("get", "/api/kb/entries"), ("get", "/api/kb/entries/invoice"), ("post", "/api/kb/preview"),
                         ("post", "/api/kb/validate"), ("post", "/api/kb/publish"), ("get", "/api/kb/versions"),
                         ("post", "/api/kb/rollback"), ("put", "/api/kb/entries/invoice"),
                         ("delete", "/api/kb/entries/invoice")]:
        r = getattr(agent, method)(world["handoff"] + path, json={"text": "x"}, timeout=10)
        assert r.status_code == 403, (method, path, r.status_code)
    assert requests.get(world["handoff"] + "/api/kb/entries", timeout=10).status_code == 401


def test_entry_api_search_stale_save_and_validation(world):
    s = session(world, "erin")
    url = world["handoff"]
    found = s.get(url + "/api/kb/entries", params={"q": "refund"}, timeout=10).json()
    assert [e["id"] for e in found["entries"]] == ["refund-time"]
    assert found["files"] == ["account.yml", "logistics.yml"] and "returns" in found["categories"]
    entry = s.get(url + "/api/kb/entries/invoice", timeout=10).json()["entry"]
    first = dict(entry, answer={**entry["answer"], "en": "Ask for an e-invoice on the order page."})
    assert s.put(url + "/api/kb/entries/invoice", json=first, timeout=10).status_code == 200
    stale = s.put(url + "/api/kb/entries/invoice", json=dict(entry, tags=["x"]), timeout=10)
    assert stale.status_code == 409 and stale.json()["current"]["answer"]["en"].startswith("Ask for")
    bad = s.post(url + "/api/kb/entries", json={"id": "No Good", "category": "", "questions": [], "answer": {}},
                 timeout=10)
    assert bad.status_code == 400 and {p["field"] for p in bad.json()["problems"]} >= {"id", "questions"}
    current = s.get(url + "/api/kb/entries/invoice", timeout=10).json()["entry"]
    restored = s.put(url + "/api/kb/entries/invoice", json=dict(current, answer=entry["answer"]), timeout=10)
    assert restored.status_code == 200
    checks = s.post(url + "/api/kb/validate", timeout=60).json()
    assert checks["errors"] == 0, checks


# --- publish and rollback under load -----------------------------------------------------------------

def test_publish_and_rollback_under_concurrent_queries_fail_no_request(world):
    s = session(world, "erin")
    url = world["handoff"]
    first = current_version(world["kb"]).name
    seen: List[tuple] = []          # (monotonic time, answer text)
    failures: List[str] = []
    stop = threading.Event()

    def customer(n: int) -> None:
        k = 0
        while not stop.is_set():
            k += 1
            try:
                r = ask(world, QUESTION, f"load-{n}-{k}")
                texts = [m.get("text") for m in r.json().get("responses", [])] if r.status_code == 200 else []
                if r.status_code != 200 or texts not in ([OLD_EN], [NEW_EN]):
                    failures.append(f"{r.status_code} {r.text[:200]}")
                else:
                    seen.append((time.monotonic(), texts[0]))
            except requests.RequestException as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=customer, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(seen) >= 20, "answers before the publish")
        entry = s.get(url + "/api/kb/entries/shipping-fee", timeout=10).json()["entry"]
        saved = s.put(url + "/api/kb/entries/shipping-fee",
                      json=dict(entry, answer={**entry["answer"], "en": NEW_EN}), timeout=10)
        assert saved.status_code == 200, saved.text
        preview = s.post(url + "/api/kb/preview", json={"text": QUESTION}, timeout=120).json()
        assert (preview["draft"]["answer"], preview["published"]["answer"]) == (NEW_EN, OLD_EN)

        started = s.post(url + "/api/kb/publish", timeout=10)
        assert started.status_code == 202, started.text
        assert s.post(url + "/api/kb/publish", timeout=10).status_code == 409  # one at a time
        result = finished_job(s, world)
        switched_at = time.monotonic()
        assert result["ok"] and result["stage"] == "done", result
        assert result["previous"] == first and current_version(world["kb"]).name == result["version"]
        new_seen = wait_for(lambda: next((t for t, text in seen if text == NEW_EN and t >= switched_at - 5), None),
                            "the new answer from the action server")
        swap_publish = max(0.0, new_seen - switched_at)
        wait_for(lambda: len([1 for t, _ in seen if t > new_seen]) >= 20, "answers after the publish")
        assert all(text == NEW_EN for t, text in seen if t > new_seen + 1.0)

        versions = s.get(url + "/api/kb/versions", timeout=10).json()
        assert versions["rollback_target"] == first
        back = s.post(url + "/api/kb/rollback", json={}, timeout=10)
        assert back.status_code == 202, back.text
        rolled = finished_job(s, world)
        rolled_at = time.monotonic()
        assert rolled["ok"] and rolled["version"] == first, rolled
        old_seen = wait_for(lambda: next((t for t, text in seen if text == OLD_EN and t > rolled_at), None),
                            "the old answer again")
        swap_rollback = max(0.0, old_seen - rolled_at)
        wait_for(lambda: len([1 for t, _ in seen if t > old_seen]) >= 20, "answers after the rollback")
        assert all(text == OLD_EN for t, text in seen if t > old_seen + 1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert failures == []
    assert OLD_EN in (world["corpus"] / "logistics.yml").read_text(encoding="utf-8")
    print(f"\nqueries {len(seen)}, failed {len(failures)}, new answer {swap_publish:.2f} s after the publish "
          f"finished, old answer {swap_rollback:.2f} s after the rollback finished")
