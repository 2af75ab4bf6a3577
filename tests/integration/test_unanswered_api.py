"""GET /api/kb/unanswered of the real handoff service (`python -m handoff serve`, real HTTP) over real
records: a Rasa SQL tracker store written as Rasa writes it (tests/insight_fixture.py), the knowledge
base's query log, the handoff store with an agent's answer, and a real knowledge-base index (USE,
FAISS) that a publish then extends, after which the answered cluster leaves the list."""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from handoff import auth
from handoff.store import HandoffStore
from knowledge.index import BuildOptions, build_from_corpus
from knowledge.querylog import Lookup, QueryLog
from ops.paths import ROOT, VENV_BIN
from tests.conftest import free_port
from tests.health import wait_healthy
from tests.insight_fixture import RasaTrackerWriter

pytestmark = pytest.mark.e2e  # a real service process (no Rasa model needed)

PASSWORD = "unanswered-test-password"  # test-only
CORPUS = """\
- id: invoice
  category: invoices
  questions: ["怎么开发票", "发票在哪里申请", "How do I get an invoice?", "Where can I request an invoice?"]
  answer: {zh: 在订单详情页申请发票。, en: Request an invoice on the order page.}
"""
INSTALMENTS = """\
- id: instalments
  category: payment
  questions: ["可以分期付款吗", "支持分期吗", "能用花呗分期吗", "Can I pay in instalments?"]
  answer: {zh: 支持花呗和信用卡分期。, en: You can pay in instalments with Huabei or a credit card.}
"""


def _records(var: Path, now: float) -> None:
    tracker = RasaTrackerWriter(var / "rasa-tracker.sqlite3")
    for i, (sender, text) in enumerate([("s1", "可以分期付款吗"), ("s2", "支持分期吗"), ("s3", "能用花呗分期吗")]):
        at = now - 3600 + i * 60
        tracker.session(sender, at, "socketio")
        tracker.user(sender, at + 1, text, "nlu_fallback", 0.3, "socketio", language="zh")
        tracker.bot(sender, at + 2, "抱歉，我没听懂。")
    # a question before a handoff that an agent answered and closed
    tracker.session("s4", now - 1800, "wechat")
    tracker.user("s4", now - 1799, "可以包装成礼物吗", "ask_faq", 0.8, "wechat", language="zh")
    tracker.user("s4", now - 1790, "转人工", "request_human", 0.99, "wechat", language="zh")
    tracker.handoff("s4", now - 1789, 1)
    tracker.write()

    log = QueryLog(var / "kb-queries.sqlite3")
    log.record(Lookup("s4", "可以包装成礼物吗", "faq_intent", "none", [("invoice", 0.05)], language="zh",
                      channel="wechat", at=now - 1798))
    log.record(Lookup("s5", "有礼品包装吗", "faq_intent", "none", [("invoice", 0.04)], language="zh",
                      channel="socketio", at=now - 600))
    log.record(Lookup("s6", "怎么开发票", "faq_intent", "answer", [("invoice", 0.9)], chosen="invoice",
                      language="zh", channel="socketio", at=now - 500))

    ticks = itertools.count()
    store = HandoffStore(var / "handoff.sqlite3", clock=lambda: now - 1789 + 5 * next(ticks))  # 5 s a step
    try:
        for agent_id, role in (("sup", "supervisor"), ("ag", "agent")):
            store.add_agent(agent_id, agent_id.title(), auth.hash_password(PASSWORD), ["general"], role=role,
                            capacity=2)
        conversation = store.open(sender_id="s4", channel="wechat", language="zh", reason="customer_request",
                                  queue="general", summary={})
        store.offer(conversation.id, "sup")
        store.accept(conversation.id, "sup")
        store.add_message(conversation.id, "agent", "您好", agent_id="sup")
        store.add_message(conversation.id, "agent", "可以的，下单时在备注里写“礼品包装”，免费包装并附贺卡。",
                          agent_id="sup")
        store.resolve(conversation.id, back_to_bot=False)
    finally:
        store.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("unanswered")
    var, corpus, kb = root / "var", root / "faq", root / "kb"
    corpus.mkdir()
    (corpus / "invoices.yml").write_text(CORPUS, encoding="utf-8")
    build_from_corpus(corpus, kb, BuildOptions(encoder="use"))
    _records(var, time.time())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env.update({"CS_VAR_DIR": str(var), "CS_KB_DIR": str(kb), "CS_KB_ENCODER": "use", "CS_HANDOFF_PORT": str(port),
                "CS_RASA_PORT": str(free_port()), "CS_ACTION_PORT": str(free_port()), "CS_WEB_PORT": str(free_port()),
                "CS_RASA_TOKEN": "unanswered-test-rasa-token"})
    log = root / "handoff.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(VENV_BIN / "python"), "-m", "handoff", "serve"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url + "/health", lambda: log.read_text(errors="replace")[-4000:])
        yield {"url": url, "corpus": corpus, "kb": kb}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _login(url: str, agent_id: str) -> requests.Session:
    session = requests.Session()
    r = session.post(f"{url}/api/login", json={"agent_id": agent_id, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return session


def test_only_editors_and_supervisors_and_only_sane_parameters(service):
    url = service["url"]
    assert requests.get(f"{url}/api/kb/unanswered", timeout=10).status_code == 401
    assert _login(url, "ag").get(f"{url}/api/kb/unanswered", timeout=10).status_code == 403
    supervisor = _login(url, "sup")
    for query in ("days=0", "days=400", "days=abc", "limit=0", "limit=x"):
        r = supervisor.get(f"{url}/api/kb/unanswered?{query}", timeout=10)
        assert r.status_code == 400 and "error" in r.json(), (query, r.text)


def test_clusters_with_counts_sources_drafts_and_they_leave_once_published(service):
    url = service["url"]
    supervisor = _login(url, "sup")
    r = supervisor.get(f"{url}/api/kb/unanswered?days=1", timeout=120)  # first call loads the encoders
    assert r.status_code == 200, r.text
    body = r.json()
    by_example = {c["examples"][0]: c for c in body["clusters"]}
    assert body["total"] == len(body["clusters"]) == 2, body

    instalments = next(c for c in body["clusters"] if "支持分期吗" in c["examples"])
    assert instalments["count"] == 3 and instalments["sources"] == {"fallback": 3}
    assert instalments["languages"] == {"zh": 3} and instalments["draft_answers"] == []

    gift = next(c for c in body["clusters"] if "可以包装成礼物吗" in c["examples"])
    assert gift["count"] == 2 and set(gift["examples"]) == {"可以包装成礼物吗", "有礼品包装吗"}
    assert gift["sources"] == {"no_answer": 1, "handoff": 1}  # s4's message counted once
    assert [d["text"] for d in gift["draft_answers"]] == ["可以的，下单时在备注里写“礼品包装”，免费包装并附贺卡。"]
    assert gift["draft_answers"][0]["agent"] == "sup" and gift["draft_answers"][0]["language"] == "zh"
    assert "怎么开发票" not in by_example  # answered lookups are not unanswered

    # an editor turns the instalments cluster into an entry and publishes: it leaves the list
    (service["corpus"] / "payment.yml").write_text(INSTALMENTS, encoding="utf-8")
    build_from_corpus(service["corpus"], service["kb"], BuildOptions(encoder="use"))
    deadline = time.monotonic() + 60
    while True:
        clusters = supervisor.get(f"{url}/api/kb/unanswered?days=1", timeout=120).json()["clusters"]
        if all("支持分期吗" not in c["examples"] for c in clusters) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert [c["examples"][0] for c in clusters] == [gift["examples"][0]]
