"""The whole product scaled out on real engines (issue 8, docs/scale-out.md): two Rasa servers (the trained
model; tracker store in PostgreSQL, lock store in Redis, rendered by ops/endpoints.py), two action servers
and two handoff services (store in PostgreSQL, live updates in Redis), behind nginx (tests/scale/cluster.py:
Rasa, the action webhook — Rasa's one action URL — and the handoff API each balanced round robin).

Customers talk through the balancer, over REST (greeting, an FAQ, an order lookup with the phone's last
digits, the parcel asked about again, some ask for a person) and over socket.io (websocket transport: an
FAQ, most ask for a person); agents on both handoff services accept and reply. Mid-load, at three
different moments, one action server, one Rasa server and one handoff service are killed with SIGKILL.
A REST client whose call failed retries it once, with the same `message_id` (bot/channels/once.py).

Afterwards: every message the balancer acknowledged (REST 200, socket.io ack: the turn ran) is in the
PostgreSQL tracker store exactly once, in the customer's order, and nothing else is; a message never
acknowledged at most once; every handoff asked for (and acknowledged) is in the handoff store exactly once;
no conversation was ever offered or given to two agents at once (conversation_log); the outbox is drained
and every agent reply reached its customer (REST: in the conversation; socket.io: on the widget, unless the
widget was reconnecting at that moment — then in the conversation); customers whose turns ran on the killed
Rasa server go on, on the other, where they were (the order's number is not asked again); an agent's reply
delivered through one Rasa server reaches a widget connected to the other (socket.io over Redis).
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import psycopg
import pytest
import requests
import socketio

from common.secrets import handoff_service_token, rasa_api_token
from common.settings import Settings
from ops.knowledge import ensure_index
from ops.paths import ROOT, VENV_BIN
from ops.services import build_services
from orders.factory import ensure_seeded
from orders.fixture import load_fixture
from tests.e2e.test_orders import status_header
from tests.scale.cluster import Nginx, Proc, free_port
from tests.scale.test_handoff_replicas import check_history

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.rasa]

PASSWORD = "scale-test-password"  # test-only
AGENTS = ["ag0", "ag1", "ag2", "ag3"]
REST_CUSTOMERS = 12
SOCKET_CUSTOMERS = 8
LEASE = 5             # s: a dead handoff service's deliveries are taken over after this
LOCK_LIFETIME = 15    # s: TICKET_LOCK_LIFETIME, a dead Rasa server's lock on a conversation runs out after this
RASA_START = 300      # s: two servers loading TensorFlow and the model at once on 2 cores
FAQ_ZH = ["运费怎么算", "你们支持哪些支付方式？", "多久发货", "怎么开发票"]
FAQ_EN = ["which payment methods do you accept?", "how much is shipping?", "how long does delivery take?"]
ASK_AGAIN = ("订单号（12 位数字", "后四位")
PERSON_ZH, PERSON_EN = "我要转人工", "I want to talk to a person"


def rows(url: str, sql: str, args=()) -> list:
    with psycopg.connect(url, autocommit=True) as db:
        return db.execute(sql, args).fetchall()


@dataclasses.dataclass
class Cluster:
    lb: Nginx
    rasa: List[Proc]
    actions: List[Proc]
    handoff: List[Proc]
    tracker_db: str
    handoff_db: str
    var_dir: Path
    rasa_token: str
    started: float

    def all(self) -> List[Proc]:
        return self.rasa + self.actions + self.handoff


@pytest.fixture
def cluster(model: Path, postgres, redis_server, tmp_path: Path):
    t0 = time.monotonic()
    tracker_db, handoff_db = postgres.create_database(), postgres.create_database()
    ports = {kind: [free_port(), free_port()] for kind in ("rasa", "actions", "handoff")}
    lb = Nginx(tmp_path / "nginx", ports)
    var_dir = tmp_path / "var"
    base = Settings(var_dir=var_dir, kb_dir=var_dir / "kb", handoff_hours="00:00-24:00",
                    tracker_db_url=tracker_db, handoff_db_url=handoff_db, redis_url=redis_server.url,
                    rasa_base_url=lb.url("rasa"), action_base_url=lb.url("actions"),
                    handoff_base_url=lb.url("handoff"), handoff_outbox_lease_seconds=LEASE,
                    handoff_triggers="request", handoff_offer_seconds=20, action_timeout=10)
    base.validate()
    var_dir.mkdir(parents=True)
    token = rasa_api_token(var_dir)  # the shared secrets exist before any service starts
    handoff_service_token(var_dir)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    procs: Dict[str, List[Proc]] = defaultdict(list)
    for i in range(2):
        settings = dataclasses.replace(base, rasa_port=ports["rasa"][i], action_port=ports["actions"][i],
                                       handoff_port=ports["handoff"][i], web_port=free_port())
        specs = {spec.name: spec for spec in build_services(settings, model)}
        for kind, spec_name, health in (("rasa", "rasa", "/"), ("actions", "actions", "/health"),
                                        ("handoff", "handoff", "/health")):
            spec = specs[spec_name]
            env = {**clean, **spec.env, "TICKET_LOCK_LIFETIME": str(LOCK_LIFETIME)}
            procs[kind].append(Proc(f"{kind}{i + 1}", spec.argv, env, spec.port, health,
                                    tmp_path / f"{kind}{i + 1}.log"))
    try:
        for proc in procs["rasa"]:  # the slow ones first, in parallel with the rest of the set-up
            proc.start()
        ensure_index(base, quiet=True)
        ensure_seeded(base)
        env = {**clean, **base.to_env(), "CS_AGENT_PASSWORD": PASSWORD, "PYTHONPATH": str(ROOT)}
        for agent_id in AGENTS:
            done = subprocess.run([str(VENV_BIN / "python"), "-m", "handoff", "add-agent", agent_id, "--name",
                                   agent_id, "--skills", "general,orders,after_sales,complaints,vip", "--capacity",
                                   "3"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
        for proc in procs["handoff"] + procs["actions"]:
            proc.start()
        lb.start()
        for proc in procs["handoff"] + procs["actions"]:
            proc.wait_healthy(120)
        for proc in procs["rasa"]:
            proc.wait_healthy(RASA_START)
        print(f"cluster up in {time.monotonic() - t0:.0f} s")
        yield Cluster(lb, procs["rasa"], procs["actions"], procs["handoff"], tracker_db, handoff_db, var_dir,
                      token, time.monotonic())
    finally:
        for proc in procs["rasa"] + procs["actions"] + procs["handoff"]:
            proc.kill(signal.SIGTERM)
        lb.stop()


# --- customers ------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Sent:
    sender: str
    text: str
    message_id: Optional[str]
    acked: bool
    at: float
    answer: Optional[list] = None


class Ledger:
    """What the clients sent and what the balancer acknowledged, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: List[Sent] = []
        self.retries = 0
        self.person: Dict[str, bool] = {}  # sender -> their request for a person was acknowledged

    def add(self, item: Sent) -> None:
        with self.lock:
            self.sent.append(item)

    def acked(self) -> int:
        with self.lock:
            return sum(1 for s in self.sent if s.acked)


def rest_turn(lb: str, ledger: Ledger, sender: str, text: str, message_id: str) -> Optional[list]:
    """One REST message; a failed call (connection lost, 502) is retried once with the same message_id."""
    for attempt in (1, 2):
        try:
            r = requests.post(f"{lb}/webhooks/rest/webhook", timeout=120,
                              json={"sender": sender, "message": text, "message_id": message_id})
        except requests.RequestException:
            r = None
        if r is not None and r.status_code == 200:
            ledger.add(Sent(sender, text, message_id, True, time.time(), r.json()))
            return r.json()
        assert r is None or r.status_code in (502, 503, 504), (sender, text, r.status_code, r.text[:300])
        if attempt == 1:
            with ledger.lock:
                ledger.retries += 1
            time.sleep(0.5)
    ledger.add(Sent(sender, text, message_id, False, time.time()))
    return None


class Widget:
    """A web widget on the balancer (websocket transport): session_request again after every reconnect."""

    def __init__(self, url: str, session_id: str, ledger: Ledger) -> None:
        self.url, self.session_id, self.ledger = url, session_id, ledger
        self.client = socketio.AsyncClient(reconnection=True, reconnection_delay=0.3, reconnection_delay_max=1)
        self.received: List[Tuple[float, str]] = []
        self.gaps: List[List[float]] = []  # [disconnected at, reconnected at] in wall-clock seconds
        self.confirmed = asyncio.Event()
        self.lost = asyncio.Event()  # set while disconnected
        self.client.on("connect", self._on_connect)
        self.client.on("disconnect", self._on_disconnect)
        self.client.on("session_confirm", self._on_confirm)
        self.client.on("bot_uttered", self._on_bot)

    async def _on_connect(self) -> None:
        await self.client.emit("session_request", {"session_id": self.session_id})

    async def _on_disconnect(self, *_) -> None:
        self.confirmed.clear()
        self.lost.set()
        self.gaps.append([time.time(), float("inf")])

    async def _on_confirm(self, *_) -> None:
        self.lost.clear()
        if self.gaps and self.gaps[-1][1] == float("inf"):
            self.gaps[-1][1] = time.time()
        self.confirmed.set()

    async def _on_bot(self, data: dict) -> None:
        self.received.append((time.time(), (data or {}).get("text") or ""))

    async def connect(self) -> None:
        await self.client.connect(self.url, socketio_path="/socket.io/", transports=["websocket"], wait_timeout=20)
        await asyncio.wait_for(self.confirmed.wait(), 20)

    async def say(self, text: str, custom: dict) -> bool:
        """Send; True when the server acknowledged the message after its turn ran (False: the connection
        was lost first — its server died — or no ack came)."""
        ok = False
        try:
            await asyncio.wait_for(self.confirmed.wait(), 60)
            call = asyncio.ensure_future(self.client.call(
                "user_uttered", {"message": text, "session_id": self.session_id, "customData": custom}, timeout=90))
            lost = asyncio.ensure_future(self.lost.wait())
            await asyncio.wait({call, lost}, return_when=asyncio.FIRST_COMPLETED)
            lost.cancel()
            if call.done():
                call.result()
                ok = True
            else:
                call.cancel()
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError,
                socketio.exceptions.SocketIOError, asyncio.TimeoutError, asyncio.CancelledError):
            ok = False
        self.ledger.add(Sent(self.session_id, text, None, ok, time.time()))
        return ok

    def offline(self, at: float) -> bool:
        return any(start - 1.0 <= at <= end + 1.0 for start, end in self.gaps)


# --- the test ---------------------------------------------------------------------------------------------
def test_two_of_each_behind_nginx_one_of_each_killed_lose_nothing(cluster: Cluster):
    c = cluster
    lb_rasa = c.lb.url("rasa")
    ledger = Ledger()
    errors: List[str] = []
    events: Dict[str, threading.Event] = {k: threading.Event() for k in ("actions", "rasa", "handoff", "done")}
    kill_log: List[str] = []

    # 1. socket.io across Rasa servers: a widget on rasa1, an agent's message triggered on rasa2
    async def cross_server() -> None:
        w = Widget(c.rasa[0].url, f"cross-{random.randrange(10**9)}", ledger)
        await w.connect()
        assert await w.say("hello", {"language": "en"})
        r = requests.post(f"{c.rasa[1].url}/conversations/{w.session_id}/trigger_intent",
                          params={"output_channel": "latest", "token": c.rasa_token},
                          json={"name": "EXTERNAL_agent_message", "entities": {"agent_text": "pushed from rasa2"}},
                          timeout=60)
        assert r.status_code == 200, r.text
        for _ in range(100):
            if any(t == "pushed from rasa2" for _, t in w.received):
                break
            await asyncio.sleep(0.1)
        await w.client.disconnect()
        assert any(t == "pushed from rasa2" for _, t in w.received), w.received

    asyncio.run(cross_server())

    # 2. the load
    fixture = load_fixture()
    phones = {cu.id: cu.phone for cu in fixture.customers}
    shipped = [o for o in fixture.orders if o.status == "shipped"]
    wants_person = {f"rest-{i}" for i in range(REST_CUSTOMERS) if i % 3 == 0}
    logistics_answers: Dict[str, Tuple[float, list]] = {}

    def rest_customer(i: int) -> None:
        sender = f"rest-{i}"
        order = shipped[i % len(shipped)]
        number, last4 = order.number, phones[order.customer_id][-4:]
        k = iter(range(100))

        def say(text: str) -> Optional[list]:
            return rest_turn(lb_rasa, ledger, sender, text, f"{sender}-m{next(k)}")

        try:
            say("你好呀")
            faq = FAQ_ZH[i % len(FAQ_ZH)]
            mid = f"{sender}-m{next(k)}"
            first = rest_turn(lb_rasa, ledger, sender, faq, mid)
            if i == 0 and first is not None:  # the same message sent again on purpose: answered, not re-run
                again = requests.post(f"{lb_rasa}/webhooks/rest/webhook", timeout=120,
                                      json={"sender": sender, "message": faq, "message_id": mid})
                assert again.status_code == 200 and [m.get("text") for m in again.json()] == \
                    [m.get("text") for m in first], (first, again.text)
            say("帮我看看订单现在是什么状态")
            proof = say(f"订单号是{number}，手机尾号{last4}")
            # verified only when the order's status was shown: a turn that failed, or met the killed action
            # server (a polite "try again" answer), rightly leaves the customer to be asked again — and so does
            # a lost "帮我看看订单…" (never acknowledged): the number then comes without a task, the bot echoes
            # it and asks what for ("已收到订单号 …，请问需要办理什么？"), and nothing was verified
            proven = " ".join(m.get("text") or "" for m in proof or [])
            verified = status_header(number, order.status, "zh") in proven
            events["rasa"].wait(240)  # the rest of the conversation on the server that survived
            answer = say("那快递现在到哪里了")
            if answer is not None and verified:
                logistics_answers[sender] = (time.time(), answer)
            if sender in wants_person:
                if say(PERSON_ZH) is not None:
                    with ledger.lock:
                        ledger.person[sender] = True
                time.sleep(random.uniform(0.5, 2))
                say("我的订单还没到，麻烦帮我看看")
            else:
                say("好的谢谢你")
            finished.append(sender)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{sender}: {exc!r}")

    widgets: List[Widget] = []
    finished: List[str] = []  # customers through their whole script

    async def socket_customers() -> None:
        async def one(j: int) -> None:
            w = Widget(lb_rasa, f"sock-{j}-{random.randrange(10**9)}", ledger)
            widgets.append(w)
            custom = {"language": "en"}
            await w.connect()
            await w.say("hello", custom)
            await asyncio.sleep(random.uniform(0, 3))
            await w.say(FAQ_EN[j % len(FAQ_EN)], custom)
            if j % 4 != 3:
                if await w.say(PERSON_EN, custom):
                    ledger.person[w.session_id] = True
            else:
                await w.say("thanks, bye", custom)
            finished.append(w.session_id)
            while not events["done"].is_set():  # connected until the agents are done
                await asyncio.sleep(0.2)

        try:
            await asyncio.gather(*(one(j) for j in range(SOCKET_CUSTOMERS)))
        except Exception as exc:  # noqa: BLE001
            errors.append(f"socket customers: {exc!r}")
        finally:
            for w in widgets:
                await w.client.disconnect()

    # agents: two on each handoff service; when theirs dies they go on through the other
    alive = {0: c.handoff[0], 1: c.handoff[1]}
    replies: Dict[int, List[str]] = defaultdict(list)
    accepted: Dict[int, List[str]] = defaultdict(list)
    lock = threading.Lock()

    def agent_loop(n: int, agent_id: str) -> None:
        http = requests.Session()
        home = n % 2

        def base() -> str:
            with lock:
                return (alive.get(home) or next(iter(alive.values()))).url

        def call(method: str, path: str, **kw) -> Optional[requests.Response]:
            for _ in range(50):
                try:
                    return http.request(method, base() + path, timeout=15, **kw)
                except requests.ConnectionError:
                    time.sleep(0.2)
            raise AssertionError(f"{agent_id}: no handoff service answered {path}")

        try:
            r = call("POST", "/api/login", json={"agent_id": agent_id, "password": PASSWORD})
            assert r.status_code == 200, r.text
            assert call("PUT", "/api/me/status", json={"status": "online"}).status_code == 200
            done_with: set = set()
            while not events["done"].is_set():
                r = call("GET", "/api/conversations", params={"state": "offered,active"})
                if r.status_code != 200:
                    time.sleep(0.3)
                    continue
                mine = [x for x in r.json()["conversations"] if x["agent_id"] == agent_id and x["id"] not in done_with]
                for conv in mine:
                    cid = conv["id"]
                    if conv["state"] == "offered":
                        r = call("POST", f"/api/conversations/{cid}/accept")
                        if r.status_code != 200:
                            continue
                        with lock:
                            accepted[cid].append(agent_id)
                    for k in range(2):
                        text = f"reply {k} from {agent_id} to {cid}"
                        r = call("POST", f"/api/conversations/{cid}/messages", json={"text": text})
                        if r.status_code == 201:
                            with lock:
                                replies[cid].append(text)
                        time.sleep(0.3)
                    time.sleep(1.0)
                    r = call("POST", f"/api/conversations/{cid}/resolve", json={"outcome": "close"})
                    if r.status_code == 200:
                        done_with.add(cid)
                time.sleep(0.3)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{agent_id}: {exc!r}")

    total_rest_turns = REST_CUSTOMERS * 7

    def killer() -> None:
        """Kills at three moments of the load: an action server, a Rasa server, a handoff service."""
        def until(check, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not check() and time.monotonic() < deadline:
                time.sleep(0.1)

        until(lambda: ledger.acked() >= total_rest_turns * 0.15, 120)
        c.actions[0].kill()
        kill_log.append(f"actions1 at {time.monotonic() - c.started:.0f} s, {ledger.acked()} messages acknowledged")
        events["actions"].set()
        until(lambda: ledger.acked() >= total_rest_turns * 0.35, 120)
        c.rasa[0].kill()
        kill_log.append(f"rasa1 at {time.monotonic() - c.started:.0f} s, {ledger.acked()} messages acknowledged")
        events["rasa"].set()
        until(lambda: sum(len(v) for v in accepted.values()) >= 4, 180)
        with lock:
            del alive[0]
        c.handoff[0].kill()
        kill_log.append(f"handoff1 at {time.monotonic() - c.started:.0f} s, {len(accepted)} handoffs accepted")
        events["handoff"].set()

    threads = [threading.Thread(target=killer, daemon=True)]
    threads += [threading.Thread(target=agent_loop, args=(n, a), daemon=True) for n, a in enumerate(AGENTS)]
    customers = [threading.Thread(target=rest_customer, args=(i,), daemon=True) for i in range(REST_CUSTOMERS)]
    sockets = threading.Thread(target=lambda: asyncio.run(socket_customers()), daemon=True)
    for t in threads:
        t.start()
    sockets.start()
    for t in customers:
        t.start()
        time.sleep(0.3)
    for t in customers:
        t.join(400)
    threads[0].join(200)
    deadline = time.monotonic() + 200
    while len(finished) < REST_CUSTOMERS + SOCKET_CUSTOMERS and time.monotonic() < deadline and not errors:
        time.sleep(0.2)
    assert len(finished) == REST_CUSTOMERS + SOCKET_CUSTOMERS, (finished, errors[:5])
    assert all(e.is_set() for k, e in events.items() if k != "done"), kill_log

    # every handoff asked for answered by an agent and closed, every outbox item delivered
    def settled() -> bool:
        open_ = rows(c.handoff_db, "SELECT count(*) FROM conversations WHERE state IN ('queued', 'offered', 'active')")
        undelivered = rows(c.handoff_db, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL")
        return open_[0][0] == 0 and undelivered[0][0] == 0

    deadline = time.monotonic() + 120
    while not settled() and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)  # the last pushes reach the widgets
    events["done"].set()
    sockets.join(30)
    for t in threads[1:]:
        t.join(30)
    assert not errors, errors[:5]
    assert settled(), rows(c.handoff_db, "SELECT id, sender_id, state, agent_id FROM conversations "
                                         "WHERE state IN ('queued', 'offered', 'active')")

    # --- the tracker store: every acknowledged message exactly once, in order; nothing else ---------------
    stored: Dict[str, List[Tuple[str, Optional[str]]]] = defaultdict(list)
    bot_texts: Dict[str, List[str]] = defaultdict(list)
    for sender, type_name, data in rows(c.tracker_db, "SELECT sender_id, type_name, data FROM events "
                                                      "WHERE type_name IN ('user', 'bot') ORDER BY id"):
        event = json.loads(data)
        if type_name == "bot":
            bot_texts[sender].append(event.get("text") or "")
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or ""
        if not intent.startswith("EXTERNAL_"):
            stored[sender].append((event.get("text"), event.get("message_id")))
    by_sender: Dict[str, List[Sent]] = defaultdict(list)
    for s in ledger.sent:
        by_sender[s.sender].append(s)
    acked = unacked = 0
    for sender, sent in by_sender.items():
        have = stored.get(sender, [])
        if sender.startswith("rest-"):
            ids = [mid for _, mid in have]
            for s in sent:
                n = ids.count(s.message_id)
                assert n == (1 if s.acked else n) and n <= 1, (sender, s, have)
            assert sorted(ids) == sorted(mid for mid in ids if mid in {s.message_id for s in sent}), (sender, have)
            expected = [s.message_id for s in sent if s.acked]
            assert [m for m in ids if m in expected] == expected, (sender, ids, expected)
        else:
            texts = [t for t, _ in have]
            for s in sent:
                n = texts.count(s.text)
                assert n == 1 if s.acked else n <= 1, (sender, s, have)
            assert all(t in {s.text for s in sent} for t in texts), (sender, have)
            expected = [s.text for s in sent if s.acked]
            assert [t for t in texts if t in expected] == expected, (sender, texts, expected)
        acked += sum(s.acked for s in sent)
        unacked += sum(not s.acked for s in sent)

    # --- customers of the killed Rasa server went on where they were -------------------------------------
    # verified customers asked again after the Rasa kill (a turn that met a kill may not have verified)
    assert len(logistics_answers) >= REST_CUSTOMERS - 3, logistics_answers.keys()
    reasked = []
    for sender, (at, answer) in logistics_answers.items():
        shown = " ".join(m.get("text") or "" for m in answer)
        assert c.rasa[0].killed_at and at > c.rasa[0].killed_at
        if not ("运单号" in shown and not any(a in shown for a in ASK_AGAIN)):
            reasked.append((sender, shown))

    # --- the handoff store: each request once, no conversation with two agents at once ---------------------
    per_sender = dict(rows(c.handoff_db, "SELECT sender_id, count(*) FROM conversations GROUP BY sender_id"))
    asked = set(ledger.person)
    assert set(per_sender) >= asked and all(per_sender[s] == 1 for s in per_sender), (per_sender, asked)
    assert set(per_sender) <= asked | wants_person | {w.session_id for w in widgets}, per_sender
    assert check_history(c.handoff_db) == len(per_sender)
    assert all(len(a) == 1 for a in accepted.values()), dict(accepted)

    # --- every agent reply reached its customer ------------------------------------------------------------
    sender_of = dict(rows(c.handoff_db, "SELECT id, sender_id FROM conversations"))
    delivered_at = {(cid, json.loads(e)["agent_text"]): at for cid, e, at in rows(
        c.handoff_db, "SELECT conversation_id, entities_json, delivered_at FROM outbox "
                      "WHERE intent = 'EXTERNAL_agent_message'")}
    widget_of = {w.session_id: w for w in widgets}
    pushed = missed_push = 0
    for cid, texts in replies.items():
        sender = sender_of[cid]
        in_tracker = bot_texts.get(sender, [])
        seen = [t for t in in_tracker if t in texts]
        assert set(texts) <= set(seen), (sender, texts, in_tracker)
        assert sorted(texts, key=seen.index) == texts, (sender, texts, seen)
        if sender in widget_of:
            w = widget_of[sender]
            got = {t for _, t in w.received}
            for text in texts:
                at = delivered_at.get((cid, text))
                when = at.timestamp() if hasattr(at, "timestamp") else float(at or 0)
                if text in got:
                    pushed += 1
                else:
                    assert w.offline(when), (sender, text, when, w.gaps, w.received)
                    missed_push += 1
    elapsed = time.monotonic() - c.started
    # repeats recognised by the REST channel (bot/channels/once.py): the deliberate one, and retries whose first
    # attempt had been saved before its server died
    repeats = sum(p.tail(10**8).count("answered from the conversation, not run again") for p in c.rasa)
    assert repeats >= 1
    rest_acked = sum(1 for s in ledger.sent if s.acked and s.sender.startswith("rest-"))
    print(f"\n{acked} messages acknowledged ({rest_acked} REST, {acked - rest_acked} socket.io; {unacked} not: "
          f"{sum(1 for s in ledger.sent if not s.acked and s.sender.startswith('rest-'))} REST after a retry), "
          f"{ledger.retries} REST retries, {repeats} repeats answered from the tracker, "
          f"{len(stored)} conversations in the tracker, "
          f"{len(per_sender)} handoffs, {sum(len(t) for t in replies.values())} agent replies "
          f"({pushed} pushed to widgets, {missed_push} while the widget reconnected), kills: {kill_log}, "
          f"load {elapsed:.0f} s")
    assert acked >= total_rest_turns * 0.8
    for sender, _ in reasked:  # what the failure below needs to be understood
        print(f"\n--- {sender}: events in the tracker store")
        for line in describe_events(c.tracker_db, sender):
            print(line)
    assert not reasked, f"verified before the Rasa kill, asked again after it: {reasked}"


def describe_events(tracker_db: str, sender: str) -> List[str]:
    """One line per stored event of `sender` (id, time, type, intent/action, slot, text): what a failed check
    needs to be understood."""
    lines = []
    for event_id, timestamp, type_name, data in rows(
            tracker_db, "SELECT id, timestamp, type_name, data FROM events WHERE sender_id = %s ORDER BY id",
            (sender,)):
        e = json.loads(data)
        what = (e.get("name") or ((e.get("parse_data") or {}).get("intent") or {}).get("name") or "")
        value = f"{e.get('name')}={e.get('value')!r}" if type_name == "slot" else ""
        text = (e.get("text") or "")[:60]
        lines.append(f"{event_id:>7} {timestamp:.6f} {type_name:<22} {what:<32} {value} {text}")
    return lines
