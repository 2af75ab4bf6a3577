"""The handoff service's queue operations under load: 200 waiting conversations, 20 agents.

    .venv/bin/python -m bench.handoff.queue_ops [--waiting 200] [--agents 20] [--reads 30] [--resolves 40]
                                                [--sizes 50,100,200,400] [--out bench/handoff/queue_ops.json]

Three parts (see bench/handoff/README.md):

1. Over HTTP: `python -m handoff serve` as a subprocess (fresh temporary CS_VAR_DIR, free CS_HANDOFF_PORT,
   CS_HANDOFF_HOURS=00:00-24:00), its Rasa (CS_RASA_PORT) a tiny fake in another process that answers every
   trigger_intent with 200 at once (bench/handoff/fake_rasa.py), so deliveries cost the service only its
   own side. 20 agents (mixed skills, capacity 3-5; 14 online, 3 away, 3 offline) and a supervisor log in
   and keep the console WebSocket open, as the console does. The bot's intake (POST /api/handoffs) fills
   every online agent's slots with offers and then the queue up to 200 waiting; with 200 waiting: the
   supervisor's and an agent's GET /api/conversations and /api/queues, GET /api/metrics, one conversation's
   detail, a status change (= a full dispatch round); then every offer accepted, one reply in each, and
   --resolves resolutions (each frees a slot: the head of a line is offered, the rest of that line moves
   up and is told its new place). After every write the benchmark waits until the outbox is empty
   (delivered to the fake) and counts what the operation put in it and the WebSocket pushes it caused.
2. In process: HandoffService over a HandoffStore in a temporary dir, same agents, intake with
   service.open() while the queue grows to the largest --sizes; at each size: the service's per-request
   building blocks (waiting(), dispatch(), the position announcements, a housekeeping tick, the
   conversation list's views, queue stats, metrics), to show how they grow with the queue.
3. Pure functions: routing.assign / position / estimated_wait / service_order on the same waiting lists.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import timeit
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.handoff.common import code_state  # noqa: E402
from bench.orders.latency import free_port, git_commit, machine, summary  # noqa: E402
from common.secrets import handoff_service_token, rasa_api_token  # noqa: E402
from common.settings import Settings  # noqa: E402
from handoff import routing  # noqa: E402
from handoff.hours import business_hours  # noqa: E402
from handoff.summary import build_summary  # noqa: E402
from ops.supervisor import _die_with_parent  # noqa: E402

SKILLS = ("vip", "complaints", "after_sales", "orders", "general")
PASSWORD = "bench-agent-password"  # a throwaway var dir's accounts
HOURS = "00:00-24:00"
# Offers wait for the agent this long (the settings' maximum) so that none expires while the benchmark's
# agents leave them to be accepted later; the housekeeping tick still runs every 2 s (and is timed in process).
OFFER_SECONDS = 3600.0
OPEN_STATES = "queued,offered,active"
# (weight, reason, tier, intents, order_task) -> queue by routing.route: general 30 %, orders 29 %,
# after_sales 19 %, complaints 14 %, vip 10 %.
TEMPLATES = (
    (25, "customer_request", "normal", ["greet", "request_human"], None),
    (5, "low_confidence", "normal", ["nlu_fallback", "nlu_fallback"], None),
    (30, "customer_request", "normal", ["ask_order_status", "request_human"], "status"),
    (20, "customer_request", "normal", ["request_return", "request_human"], "aftersales"),
    (10, "complaint", "normal", ["ask_logistics", "complain"], "logistics"),
    (5, "negative_sentiment", "normal", ["ask_logistics"], None),
    (10, "vip", "vip", ["greet", "request_human"], None),
)


# -- workload -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AgentSpec:
    id: str
    name: str
    skills: Tuple[str, ...]
    capacity: int
    status: str


def agent_plan(n: int) -> List[AgentSpec]:
    """Mixed skills (2 or 3 of 5, rotating), capacity 3/4/5, i % 7 == 5 away, i % 7 == 1 offline."""
    plan = []
    for i in range(n):
        skills = {SKILLS[i % 5], SKILLS[(i + 1) % 5]}
        if i % 2 == 0:
            skills.add(SKILLS[(i + 3) % 5])
        status = "away" if i % 7 == 5 else "offline" if i % 7 == 1 else "online"
        plan.append(AgentSpec(f"a{i:02d}", f"Agent {i:02d}", tuple(sorted(skills)), 3 + i % 3, status))
    for skill in SKILLS:
        if not any(a.status == "online" and skill in a.skills for a in plan):
            raise SystemExit(f"--agents {n}: no online agent has skill {skill!r} (handoffs would become tickets)")
    return plan


SUPERVISOR = AgentSpec("sup", "Supervisor", SKILLS, 3, "offline")


def _summary(rng: random.Random, sender: str, reason: str, tier: str, intents: List[str]) -> dict:
    """A summary packet of the size the bot sends: a 4-message transcript, an order slot, 2 FAQ tries."""
    number = f"2406{rng.randrange(10**8):08d}"
    t0 = time.time() - 120
    said = [("你好", "greet"), (f"我的订单{number}到哪了", intents[0]),
            ("怎么三天都没动，物流是不是有问题", intents[-1]), ("我要转人工", "request_human")]
    events: List[dict] = []
    for i, (text, intent) in enumerate(said):
        events.append({"event": "user", "text": text, "timestamp": t0 + 20 * i,
                       "parse_data": {"intent": {"name": intent, "confidence": 0.93}, "sentiment": -0.2 * i}})
        if i == 1:
            events.append({"event": "slot", "name": "order_number", "value": number})
        if i < len(said) - 1:
            events.append({"event": "bot", "timestamp": t0 + 20 * i + 1,
                           "text": f"您好，订单{number}已发货，承运商顺丰，单号SF{number}，最新状态：运输中（{i}）。"})
    faq = [{"question": "多久能到", "entry": "shipping_time", "score": 0.41},
           {"question": "物流不动怎么办", "entry": "tracking_stuck", "score": 0.33}]
    return build_summary(events, sender_id=sender, reason=reason, queue="", channel="socketio", tier=tier,
                         faq_attempts=faq).as_dict()


def intake_body(rng: random.Random, i: int) -> dict:
    _, reason, tier, intents, task = rng.choices(TEMPLATES, weights=[t[0] for t in TEMPLATES])[0]
    sender = f"bench-{i:05d}-{rng.randrange(16**8):08x}"
    return {"sender_id": sender, "channel": "socketio", "language": "en" if i % 5 == 0 else "zh",
            "reason": reason, "summary": _summary(rng, sender, reason, tier, intents), "intents": intents,
            "customer_id": f"C{1000 + i}" if tier == "vip" else None, "tier": tier, "order_task": task}


def make_store(db: Path, agents: Sequence[AgentSpec], password_hash: str):
    from handoff.store import HandoffStore

    store = HandoffStore(db)
    for a in [*agents, SUPERVISOR]:
        store.add_agent(a.id, a.name, password_hash, list(a.skills), role="supervisor" if a is SUPERVISOR else "agent",
                        capacity=a.capacity)
    return store


# -- processes ----------------------------------------------------------------------------------

def _env(settings: Settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env.update(settings.to_env())
    env.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    return env


def _spawn(argv: List[str], env: dict, log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)


def _wait_up(proc: subprocess.Popen, url: str, log_path: Path, what: str, timeout: float = 30.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}:\n"
                               + log_path.read_text(errors="replace")[-3000:])
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer {url} within {timeout} s:\n"
                               + log_path.read_text(errors="replace")[-3000:])
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# -- HTTP phase ---------------------------------------------------------------------------------

class Probe:
    """Reads the service's database from here: outbox and queue counts. A connection per query, closed at
    once, as the service itself does: a connection held open would change what the service measures (with
    WAL, the close of the *last* connection checkpoints the WAL into the database; while another
    connection is open, the service's closes are cheap — see the in-process store figures)."""

    def __init__(self, db: Path, hold: bool = False) -> None:
        self.path = db
        # --hold-connection: one connection kept open for the whole phase (the A/B of that effect)
        self.held = sqlite3.connect(db, timeout=10) if hold else None

    def rows(self, sql: str) -> list:
        if self.held is not None:
            return self.held.execute(sql).fetchall()
        db = sqlite3.connect(self.path, timeout=10)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def close(self) -> None:
        if self.held is not None:
            self.held.close()

    def one(self, sql: str) -> int:
        return self.rows(sql)[0][0]

    def pending(self) -> int:
        return self.one("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")

    def outbox(self) -> int:
        return self.one("SELECT COUNT(*) FROM outbox")

    def waiting(self) -> int:
        return self.one("SELECT COUNT(*) FROM conversations WHERE state = 'queued'")


class Http:
    def __init__(self, url: str, probe: Probe, pushes: Counter) -> None:
        self.url = url
        self.probe = probe
        self.pushes = pushes
        self.records: Dict[str, List[dict]] = {}

    async def call(self, session: aiohttp.ClientSession, method: str, path: str, expect: int = 200,
                   **kwargs) -> Tuple[float, object]:
        started = time.perf_counter()
        async with session.request(method, self.url + path, **kwargs) as response:
            raw = await response.read()
        ms = 1000 * (time.perf_counter() - started)
        if response.status != expect:
            raise RuntimeError(f"{method} {path}: {response.status} {raw[:300]!r}")
        return ms, (json.loads(raw) if raw else None)

    async def settle(self, timeout: float = 120.0) -> float:
        """Milliseconds until the outbox is empty (everything handed to the fake Rasa)."""
        started = time.perf_counter()
        while self.probe.pending():
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"outbox not drained within {timeout} s ({self.probe.pending()} pending)")
            await asyncio.sleep(0.01)
        return 1000 * (time.perf_counter() - started)

    async def op(self, name: str, session: aiohttp.ClientSession, method: str, path: str, expect: int = 200,
                 write: bool = True, **kwargs) -> object:
        """One timed request; for a write, then the drain of what it put in the outbox."""
        waiting = self.probe.waiting()
        outbox, pushes = self.probe.outbox(), sum(self.pushes.values())
        ms, body = await self.call(session, method, path, expect, **kwargs)
        record = {"ms": ms, "waiting_before": waiting}
        if write:
            record["drain_ms"] = await self.settle()
            await asyncio.sleep(0.01)  # the last pushes in flight
            record["outbox_items"] = self.probe.outbox() - outbox
            record["pushes"] = sum(self.pushes.values()) - pushes
        self.records.setdefault(name, []).append(record)
        return body


class Console:
    """A logged-in agent: an aiohttp session with the session cookie, and the live-update WebSocket."""

    def __init__(self, spec: AgentSpec, pushes: Counter) -> None:
        # unsafe=True: aiohttp's jar refuses cookies from IP hosts (127.0.0.1) otherwise
        self.spec = spec
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.pushes = pushes
        self.ws: Optional[aiohttp.ClientWebSocketResponse] = None
        self.task: Optional[asyncio.Task] = None

    async def connect(self, url: str) -> None:
        self.ws = await self.session.ws_connect(url.replace("http://", "ws://") + "/api/ws")
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.pushes[json.loads(msg.data).get("type")] += 1

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            self.task.cancel()
        await self.session.close()


async def http_phase(url: str, db: Path, agents: Sequence[AgentSpec], target: int, reads: int, resolves: int,
                     seed: int, consoles_on: bool, hold: bool, log: Callable[[str], None], fake_url: str = "",
                     behind: int = 0, rasa_ms: Optional[float] = None) -> dict:
    rng = random.Random(seed)
    pushes: Counter = Counter()
    probe = Probe(db, hold)
    http = Http(url, probe, pushes)
    bot = aiohttp.ClientSession(headers={"Authorization": f"Bearer {handoff_service_token(db.parent)}"})
    consoles = {a.id: Console(a, pushes) for a in [*agents, SUPERVISOR]}
    result: dict = {}
    try:
        login_ms = []
        for c in consoles.values():
            ms, _ = await http.call(c.session, "POST", "/api/login",
                                    json={"agent_id": c.spec.id, "password": PASSWORD})
            login_ms.append(ms)
            if consoles_on:
                await c.connect(url)
        result["login_ms"] = summary(login_ms)
        for a in agents:
            if a.status != "offline":
                await http.op("status (empty queue)", consoles[a.id].session, "PUT", "/api/me/status",
                              json={"status": a.status})
        capacity = sum(a.capacity for a in agents if a.status == "online")
        log(f"==> [http] {len(agents)} agents ({sum(a.status == 'online' for a in agents)} online, "
            f"{capacity} slots), consoles {'connected' if consoles_on else 'off'}; intake until {target} wait")

        # 1. intake until `target` wait
        intake: List[dict] = []
        i = 0
        while probe.waiting() < target:
            body = intake_body(rng, i)
            waiting = probe.waiting()
            answer = await http.op("intake", bot, "POST", "/api/handoffs", expect=201, json=body)
            intake.append({"i": i, "waiting_before": waiting, "ms": http.records["intake"][-1]["ms"],
                           "state": answer["conversation"]["state"], "queue": answer["conversation"]["queue"]})
            if answer.get("ticket"):
                raise RuntimeError(f"intake {i} became a ticket: {answer}")
            i += 1
            if i > target + capacity + 50:
                raise RuntimeError("the queue does not grow as planned")
        result["intake"] = {"requests": len(intake), "offered_at_once": sum(r["state"] == "offered" for r in intake),
                            "by_queue": dict(Counter(r["queue"] for r in intake)),
                            "by_waiting": _buckets(intake, target)}
        log(f"==> [http] {len(intake)} handoffs filed, {probe.waiting()} waiting; reads x{reads}")

        # 2. reads and a dispatch round, with `target` waiting
        sup, agent = consoles[SUPERVISOR.id].session, consoles[agents[0].id].session
        queued_id = probe.one("SELECT id FROM conversations WHERE state = 'queued' ORDER BY id DESC LIMIT 1")
        for _ in range(reads):
            await http.op("GET /api/conversations (supervisor)", sup, "GET", "/api/conversations", write=False)
            await http.op("GET /api/conversations (agent)", agent, "GET", "/api/conversations", write=False)
            await http.op("GET /api/queues (supervisor)", sup, "GET", "/api/queues", write=False)
            await http.op("GET /api/queues (agent)", agent, "GET", "/api/queues", write=False)
            await http.op("GET /api/metrics (supervisor)", sup, "GET", "/api/metrics", write=False)
            await http.op("GET /api/conversations/{id} (queued one)", sup, "GET", f"/api/conversations/{queued_id}",
                          write=False)
            await http.op("PUT /api/me/status online (dispatch round)", agent, "PUT", "/api/me/status",
                          json={"status": "online"})
        sizes = {}
        for name, path, session in (("supervisor conversations", "/api/conversations", sup),
                                    ("agent conversations", "/api/conversations", agent),
                                    ("supervisor queues", "/api/queues", sup)):
            async with session.get(url + path) as response:
                raw = await response.read()
            sizes[name] = {"bytes": len(raw), "items": len(json.loads(raw).get("conversations") or [])}
        result["response_sizes"] = sizes

        # 3. accept every offer (each agent its own), 4. one reply in each
        offered = [(row[0], row[1]) for row in probe.rows(
            "SELECT id, agent_id FROM conversations WHERE state = 'offered' ORDER BY id")]
        log(f"==> [http] accept {len(offered)} offers, reply in each, then {resolves} resolutions")
        for cid, agent_id in offered:
            await http.op("POST accept", consoles[agent_id].session, "POST", f"/api/conversations/{cid}/accept")
        for cid, agent_id in offered:
            await http.op("POST messages (reply)", consoles[agent_id].session, "POST",
                          f"/api/conversations/{cid}/messages", expect=201, json={"text": "您好，我来帮您查一下。"})

        # 5. resolutions, round robin over the agents (each frees one slot: a dispatch with an assignment)
        by_agent: Dict[str, List[int]] = {}
        for cid, agent_id in offered:
            by_agent.setdefault(agent_id, []).append(cid)
        order: List[Tuple[int, str]] = []
        while any(by_agent.values()) and len(order) < resolves:
            for agent_id in list(by_agent):
                if by_agent[agent_id] and len(order) < resolves:
                    order.append((by_agent[agent_id].pop(0), agent_id))
        for n, (cid, agent_id) in enumerate(order):
            await http.op("POST resolve", consoles[agent_id].session, "POST", f"/api/conversations/{cid}/resolve",
                          json={"outcome": "close" if n % 2 == 0 else "bot"})
        result["waiting_after_resolves"] = probe.waiting()

        # 6. an agent's reply right behind another agent's resolution, with Rasa taking `rasa_ms` per
        # delivery (the fake waits that long): how long the reply waits for the position notices ahead of it
        if behind and rasa_ms is not None:
            result["reply_behind_notices"] = await behind_notices(http, consoles, probe, fake_url, behind, rasa_ms, log)
    finally:
        for c in consoles.values():
            await c.close()
        await bot.close()
        probe.close()
    result["pushes_received"] = dict(pushes)
    result["ops"] = {name: _op_summary(records) for name, records in http.records.items()}
    return result


async def _delivered(probe: Probe, message_id: int, timeout: float = 120.0) -> None:
    started = time.perf_counter()
    while not probe.one(f"SELECT COUNT(*) FROM messages WHERE id = {int(message_id)} AND delivered_at IS NOT NULL"):
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"message {message_id} not delivered within {timeout} s")
        await asyncio.sleep(0.01)


async def behind_notices(http: "Http", consoles: Dict[str, "Console"], probe: Probe, fake_url: str, pairs: int,
                         rasa_ms: float, log: Callable[[str], None]) -> dict:
    """`pairs` times: a reply alone (baseline), then a resolution followed at once by a reply of another
    agent; each time: from the reply's POST until the service marks it delivered (Rasa took it)."""
    active = [(row[0], row[1]) for row in probe.rows(
        "SELECT id, agent_id FROM conversations WHERE state = 'active' ORDER BY id")]
    if len(active) < pairs + 1:
        return {"skipped": f"only {len(active)} active conversations"}
    replier, replier_agent = active[-1]
    async with http_session() as plain:
        async with plain.post(f"{fake_url}/_delay", json={"ms": rasa_ms}) as response:
            response.raise_for_status()
    log(f"==> [http] {pairs} x (reply alone; resolve + reply at once), Rasa standing in at {rasa_ms} ms per delivery")
    alone, behind, notices = [], [], []
    try:
        for n in range(pairs):
            await http.settle()
            started = time.perf_counter()
            _, body = await http.call(consoles[replier_agent].session, "POST", f"/api/conversations/{replier}/messages",
                                      expect=201, json={"text": f"稍等，正在查（{n}）"})
            await _delivered(probe, body["message"]["id"])
            alone.append(1000 * (time.perf_counter() - started))
            await http.settle()
            cid, agent_id = active[n]
            before = probe.outbox()
            await http.call(consoles[agent_id].session, "POST", f"/api/conversations/{cid}/resolve",
                            json={"outcome": "close"})
            started = time.perf_counter()
            _, body = await http.call(consoles[replier_agent].session, "POST", f"/api/conversations/{replier}/messages",
                                      expect=201, json={"text": f"查到了（{n}）"})
            notices.append(probe.outbox() - before - 2)  # less the resolution's own item and the reply
            await _delivered(probe, body["message"]["id"])
            behind.append(1000 * (time.perf_counter() - started))
    finally:
        async with http_session() as plain:
            async with plain.post(f"{fake_url}/_delay", json={"ms": 0}) as response:
                response.raise_for_status()
        await http.settle()
    return {"rasa_ms_per_delivery": rasa_ms, "reply_alone_ms": summary(alone),
            "reply_after_a_resolution_ms": summary(behind), "position_notices_ahead": summary(notices)}


def http_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))


def _buckets(intake: List[dict], target: int) -> List[dict]:
    """Intake time by the number waiting when it came (agents with free slots first)."""
    edges = [0, 1, target // 4, target // 2, 3 * target // 4, target + 1]
    rows = [{"waiting": "0 (offered at once)", **summary([r["ms"] for r in intake if r["waiting_before"] == 0
                                                          and r["state"] == "offered"])}]
    for low, high in zip(edges[1:-1], edges[2:], strict=False):
        rows.append({"waiting": f"{low}-{high - 1}",
                     **summary([r["ms"] for r in intake if low <= r["waiting_before"] < high])})
    return rows


def _op_summary(records: List[dict]) -> dict:
    out = {"ms": summary([r["ms"] for r in records]),
           "waiting_before": [min(r["waiting_before"] for r in records), max(r["waiting_before"] for r in records)]}
    if "drain_ms" in records[0]:
        out["drain_ms"] = summary([r["drain_ms"] for r in records])
        out["outbox_items_per_op"] = summary([r["outbox_items"] for r in records])
        out["pushes_per_op"] = summary([r["pushes"] for r in records])
    return out


def run_http(tmp: Path, agents: Sequence[AgentSpec], args, log: Callable[[str], None]) -> dict:
    from handoff.auth import hash_password

    var_dir = tmp / "http"
    var_dir.mkdir()
    fake_port, port = free_port(), free_port()
    settings = Settings(var_dir=var_dir, handoff_port=port, rasa_port=fake_port, handoff_hours=HOURS,
                        handoff_offer_seconds=OFFER_SECONDS)
    settings.validate()
    handoff_service_token(var_dir), rasa_api_token(var_dir)  # created now, read by both sides
    make_store(settings.handoff_db, agents, hash_password(PASSWORD))
    env = _env(settings)
    fake_log, service_log = tmp / "fake-rasa.log", tmp / "handoff.log"
    fake = _spawn([sys.executable, "-m", "bench.handoff.fake_rasa", "--port", str(fake_port)], env, fake_log)
    service = None
    try:
        _wait_up(fake, f"http://127.0.0.1:{fake_port}/_count", fake_log, "fake Rasa")
        profile = tmp / "handoff.prof"
        wrap = ["-m", "cProfile", "-o", str(profile)] if args.profile else []
        service = _spawn([sys.executable, *wrap, "-m", "handoff", "serve", "--port", str(port)], env, service_log)
        _wait_up(service, f"{settings.handoff_url}/health", service_log, "handoff service")
        log(f"==> [http] handoff service up at {settings.handoff_url}, fake Rasa on :{fake_port}")
        load_before = [round(x, 2) for x in os.getloadavg()]
        started = time.monotonic()
        result = asyncio.run(http_phase(settings.handoff_url, settings.handoff_db, agents, args.waiting, args.reads,
                                        args.resolves, args.seed, not args.no_consoles, args.hold_connection, log,
                                        fake_url=f"http://127.0.0.1:{fake_port}", behind=args.behind,
                                        rasa_ms=args.rasa_ms))
        result["seconds"] = round(time.monotonic() - started, 1)
        result["load_average_before_after"] = [load_before, [round(x, 2) for x in os.getloadavg()]]
        import requests

        result["fake_rasa_calls"] = requests.get(f"http://127.0.0.1:{fake_port}/_count", timeout=5).json()
        if service.poll() is not None:
            raise RuntimeError("the handoff service exited:\n" + service_log.read_text(errors="replace")[-3000:])
        errors = [line for line in service_log.read_text(errors="replace").splitlines()
                  if '"level": "ERROR"' in line or "Traceback" in line]
        result["service_errors_logged"] = len(errors)
    finally:
        if service is not None:
            _stop(service)
        _stop(fake)
    if args.profile:
        result["service_profile"] = profile_summary(profile)
    return result


PROFILED = ("handoff/app.py:_broadcast", "handoff/store.py:agent_row", "handoff/store.py:_read",
            "handoff/store.py:_write", "handoff/service.py:dispatch", "handoff/service.py:_announce_positions",
            "handoff/service.py:view", "handoff/routing.py:position", "handoff/store.py:waiting",
            "handoff/app.py:_agent_view", "handoff/app.py:make_emitter.<locals>.emit")


def profile_summary(path: Path) -> dict:
    """The service's own profile (cProfile, whole run): where its time went."""
    import pstats

    if not path.exists():
        return {"error": "no profile written (the service did not exit cleanly)"}
    stats = pstats.Stats(str(path)).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = sum(tt for _, _, tt, _, _ in stats.values())

    def label(key):
        file, line, name = key
        return f"{Path(file).name}:{line}({name})" if file != "~" else name

    top = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:15]
    picked = {}
    for key, (_, calls, _, ct, _) in stats.items():
        short = f"{Path(key[0]).parent.name}/{Path(key[0]).name}:{key[2]}"
        if short in PROFILED:
            picked[short] = {"calls": calls, "cumulative_s": round(ct, 2)}
    connects = sum(v[1] for k, v in stats.items() if k[2] == "<built-in method _sqlite3.connect>")
    return {"total_s": round(total, 2), "sqlite_connections": connects,
            "top_by_own_time": [{"function": label(k), "calls": v[1], "own_s": round(v[2], 2),
                                 "cumulative_s": round(v[3], 2)} for k, v in top],
            "selected_cumulative": picked}


# -- in-process phase ---------------------------------------------------------------------------

def _time(fn: Callable[[], object], min_reps: int = 5, max_reps: int = 50, budget_s: float = 1.0,
          digits: int = 2) -> dict:
    times = []
    started = time.perf_counter()
    while len(times) < max_reps and (len(times) < min_reps or time.perf_counter() - started < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return summary(times, digits)


def run_inprocess(tmp: Path, agents: Sequence[AgentSpec], sizes: Sequence[int], seed: int,
                  log: Callable[[str], None]) -> Tuple[dict, dict]:
    from handoff.app import compute_metrics
    from handoff.service import HandoffService, Intake, ServiceConfig
    from handoff.store import HandoffStore

    store = make_store(tmp / "inproc" / "handoff.sqlite3", agents, "scrypt$unused")
    for a in agents:
        if a.status != "offline":
            store.set_status(a.id, a.status)
    config = ServiceConfig(hours=business_hours(HOURS, "+08:00"), offer_seconds=OFFER_SECONDS)
    service = HandoffService(store, config)
    sup = store.agent_row(SUPERVISOR.id)
    rng = random.Random(seed)
    opens: List[dict] = []
    at_size: Dict[int, dict] = {}
    micro: Dict[int, dict] = {}
    i = 0
    waiting = 0
    for size in sorted(sizes):
        log(f"==> [in-process] intake until {size} wait")
        while waiting < size:
            body = intake_body(rng, i)
            intake = Intake(sender_id=body["sender_id"], channel="socketio", language=body["language"],
                            reason=body["reason"], summary=body["summary"], intents=body["intents"],
                            customer_id=body["customer_id"], tier=body["tier"], order_task=body["order_task"])
            t0 = time.perf_counter()
            opened = service.open(intake)
            opens.append({"waiting_before": waiting, "ms": 1000 * (time.perf_counter() - t0),
                          "state": opened.conversation.state})
            if opened.ticket:
                raise RuntimeError(f"in-process intake {i} became a ticket (no online agent with the skill)")
            waiting += opened.conversation.state == "queued"
            i += 1
        assert len(store.waiting()) == size

        last = store.get(int(store.waiting()[-1].conversation_id))

        def view_all(sup=sup):
            places = routing.positions(store.waiting(), service.config.queues)
            return [service.view(c, places) for c in service.visible(sup, ("queued", "offered", "active"))]

        ops = {
            "store.get() (one read: connect, query, close)": lambda last=last: store.get(last.id),
            "store.add_message() (one write transaction)": lambda last=last: store.add_message(last.id, "system", "b"),
            "store.waiting()": store.waiting,
            "store.agents()": store.agents,
            "service.dispatch() (no free slot)": service.dispatch,
            "service._announce_positions()": service._announce_positions,
            "service.expire_offers() (housekeeping tick, none due)": service.expire_offers,
            "service.view() one queued": lambda last=last: service.view(last),
            "view() of every open one (GET /api/conversations)": view_all,
            "service.queue_stats()": service.queue_stats,
            "compute_metrics() (GET /api/metrics)": lambda: compute_metrics(service),
        }
        at_size[size] = {name: _time(fn) for name, fn in ops.items()}
        at_size[size]["open() at this size (last 10 intakes)"] = summary([o["ms"] for o in opens[-10:]], 2)
        micro[size] = routing_micro(store.waiting(), store.agents())  # before the 10 intakes below
        # The same with another connection to the database held open (as any second reader would):
        # closing a connection is then no longer closing the last one, which checkpoints the WAL.
        held = sqlite3.connect(store.path)
        held.execute("SELECT COUNT(*) FROM conversations").fetchone()
        try:
            for name in ("store.get() (one read: connect, query, close)",
                         "store.add_message() (one write transaction)"):
                at_size[size][name.split(" (")[0] + " with another connection open"] = _time(ops[name])
            extra = []
            for _ in range(10):
                body = intake_body(rng, i)
                i += 1
                t0 = time.perf_counter()
                opened = service.open(Intake(
                    sender_id=body["sender_id"], channel="socketio", language=body["language"], reason=body["reason"],
                    summary=body["summary"], intents=body["intents"], customer_id=body["customer_id"],
                    tier=body["tier"], order_task=body["order_task"]))
                extra.append(1000 * (time.perf_counter() - t0))
                waiting += opened.conversation.state == "queued"
            at_size[size]["open() with another connection open (next 10 intakes)"] = summary(extra, 2)
        finally:
            held.close()
        # The housekeeping tick when every offer is due (agents who let them all lapse): one shot, on a copy of
        # the database (a lapse also sets the agent away), by a service whose clock is past the offer time.
        copy_path = store.path.with_name(f"copy-{size}.sqlite3")
        src, dst = sqlite3.connect(store.path), sqlite3.connect(copy_path)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        lapsed = HandoffService(HandoffStore(copy_path), config, clock=lambda: time.time() + OFFER_SECONDS + 1)
        t0 = time.perf_counter()
        expired = lapsed.expire_offers()
        at_size[size]["service.expire_offers() with every offer due (one shot)"] = {
            **summary([1000 * (time.perf_counter() - t0)], 2), "expired": len(expired)}
    return {"sizes": at_size, "intake_by_waiting": _open_buckets(opens, sorted(sizes)),
            "intakes": len(opens), "sqlite_write_ms": sqlite_floor(store.path.parent)}, micro


def sqlite_floor(folder: Path, reps: int = 30) -> dict:
    """What one small write transaction costs SQLite itself on this disk, the store's way (a connection per
    call, WAL, synchronous FULL: Python's default) and two others, for scale: ms per transaction."""
    from common.sqlite import connect, immediate

    path = folder / "floor.sqlite3"
    db = connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)")
    db.commit()
    db.close()
    body = "x" * 2000

    def per_call(sync: str = "FULL") -> None:
        con = connect(path)
        con.isolation_level = None
        con.execute(f"PRAGMA synchronous={sync}")
        try:
            with immediate(con):
                con.execute("INSERT INTO t (body) VALUES (?)", (body,))
        finally:
            con.close()

    out = {"connection per transaction (the store's way)": _time(per_call, reps, reps)}
    held = sqlite3.connect(path)
    held.execute("SELECT COUNT(*) FROM t").fetchone()
    out["the same, another connection held open"] = _time(per_call, reps, reps)
    held.close()
    out["connection per transaction, synchronous=NORMAL"] = _time(lambda: per_call("NORMAL"), reps, reps)
    one = connect(path)
    one.isolation_level = None

    def reused() -> None:
        with immediate(one):
            one.execute("INSERT INTO t (body) VALUES (?)", (body,))
    out["one long-lived connection"] = _time(reused, reps, reps)
    one.execute("PRAGMA synchronous=NORMAL")
    out["one long-lived connection, synchronous=NORMAL"] = _time(reused, reps, reps)

    def read_per_call() -> None:  # as HandoffStore._read: connect, the two PRAGMAs, one SELECT, close
        con = connect(path)
        con.execute("PRAGMA foreign_keys=ON")
        try:
            con.execute("SELECT id FROM t WHERE id = 1").fetchone()
        finally:
            con.close()
    out["read: connection per call (as HandoffStore._read)"] = _time(read_per_call, reps, reps, digits=3)
    out["read: one long-lived connection"] = _time(lambda: one.execute("SELECT id FROM t WHERE id = 1").fetchone(),
                                                   reps, reps, digits=3)
    one.close()
    return out


def _open_buckets(opens: List[dict], sizes: List[int]) -> List[dict]:
    rows = []
    low = 0
    for high in sizes:
        rows.append({"waiting": f"{low}-{high - 1}", **summary([o["ms"] for o in opens
                                                                if low <= o["waiting_before"] < high], 2)})
        low = high
    return rows


def routing_micro(waiting: List[routing.Waiting], agents: List[routing.Agent]) -> dict:
    """Microseconds per call (median of 7 timeit repeats, each long enough to measure)."""
    now = time.time()
    free = [routing.Agent(a.id, a.skills, a.status, a.capacity, 0, a.idle_since) for a in agents]
    tail = routing.service_order(waiting)[-1]
    skill = routing.DEFAULT_QUEUES[tail.queue].skill
    pos = routing.position(waiting, tail.conversation_id)
    funcs = {
        "service_order(waiting)": lambda: routing.service_order(waiting),
        "assign (agents full, as in the run)": lambda: routing.assign(waiting, agents, now),
        "assign (every agent free)": lambda: routing.assign(waiting, free, now),
        "position (one customer, last in line)": lambda: routing.position(waiting, tail.conversation_id),
        "position of every waiting customer": lambda: [routing.position(waiting, w.conversation_id) for w in waiting],
        "estimated_wait": lambda: routing.estimated_wait(pos, agents, skill, 300.0),
    }
    out = {"waiting": len(waiting), "agents": len(agents),
           "assignments_when_free": len(routing.assign(waiting, free, now))}
    for name, fn in funcs.items():
        timer = timeit.Timer(fn)
        number, _ = timer.autorange()
        runs = sorted(t / number * 1e6 for t in timer.repeat(repeat=7, number=max(1, number // 2)))
        out[name] = round(runs[len(runs) // 2], 2)
    return out


# -- report -------------------------------------------------------------------------------------

def exponent(t_small: Optional[float], t_big: Optional[float], n_small: int, n_big: int) -> Optional[float]:
    """Growth exponent k in t ~ n^k between two sizes."""
    if not t_small or not t_big or n_small == n_big:
        return None
    return round(math.log(t_big / t_small) / math.log(n_big / n_small), 2)


def table(results: dict) -> str:
    rows = [f"Temporary var dirs on {results.get('tmpdir_filesystem')}; load average at start "
            f"{results.get('load_average_at_start')}, at end {results.get('load_average_at_end')}", ""]
    h = results.get("http")
    if h:
        rows += [f"Over HTTP ({h['intake']['requests']} handoffs filed, {results['waiting']} waiting; "
                 f"consoles connected: {results['consoles']}):", "",
                 "| operation | n | waiting | p50 ms | p95 ms | max ms | outbox items/op | pushes/op | drain p50 ms |",
                 "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        for name, s in h["ops"].items():
            w = s["waiting_before"]
            extra = (f"{s['outbox_items_per_op']['p50']} | {s['pushes_per_op']['p50']} | {s['drain_ms']['p50']}"
                     if "drain_ms" in s else " | | ")
            rows.append(f"| {name} | {s['ms']['n']} | {w[0]}-{w[1]} | {s['ms']['p50']} | {s['ms']['p95']} | "
                        f"{s['ms']['max']} | {extra} |")
        rows += ["", "Intake (POST /api/handoffs) by the number already waiting:", "",
                 "| waiting | n | p50 ms | p95 ms | max ms |", "|---|---:|---:|---:|---:|"]
        for b in h["intake"]["by_waiting"]:
            if b.get("n"):
                rows.append(f"| {b['waiting']} | {b['n']} | {b['p50']} | {b['p95']} | {b['max']} |")
        b = h.get("reply_behind_notices")
        if b and "reply_alone_ms" in b:
            rows += ["", f"An agent's reply until Rasa has it (fake Rasa taking {b['rasa_ms_per_delivery']} ms per "
                     "delivery), ms:", "", "| case | n | p50 | p95 | max |", "|---|---:|---:|---:|---:|"]
            for key, label in (("reply_alone_ms", "reply alone"),
                               ("reply_after_a_resolution_ms", "reply right after another agent's resolution")):
                v = b[key]
                rows.append(f"| {label} | {v['n']} | {v['p50']} | {v['p95']} | {v['max']} |")
            rows.append(f"| (position notices ahead of it, p50) | | {b['position_notices_ahead']['p50']} | | |")
        prof = h.get("service_profile")
        if prof and "total_s" in prof:
            rows += ["", f"Service profile (cProfile, whole HTTP part): {prof['total_s']} s of own time, "
                     f"{prof['sqlite_connections']} SQLite connections opened", "",
                     "| function | calls | own s | cumulative s |", "|---|---:|---:|---:|"]
            rows += [f"| {t['function']} | {t['calls']} | {t['own_s']} | {t['cumulative_s']} |"
                     for t in prof["top_by_own_time"][:12]]
            rows += ["", "| selected | calls | cumulative s |", "|---|---:|---:|"]
            rows += [f"| {name} | {v['calls']} | {v['cumulative_s']} |"
                     for name, v in sorted(prof["selected_cumulative"].items(), key=lambda kv: -kv[1]["cumulative_s"])]
    ip = results.get("inprocess")
    if ip:
        sizes = sorted(ip["sizes"], key=int)
        rows += ["", "In process, p50 ms by number waiting (agents full):", "",
                 "| operation | " + " | ".join(str(s) for s in sizes) + " | growth exponent |",
                 "|---|" + "---:|" * (len(sizes) + 1)]
        for name in ip["sizes"][sizes[0]]:
            vals = [ip["sizes"][s][name].get("p50") for s in sizes]
            rows.append(f"| {name} | " + " | ".join(str(v) for v in vals) + " | "
                        f"{exponent(vals[-2], vals[-1], int(sizes[-2]), int(sizes[-1])) if len(sizes) > 1 else ''} |")
        rows += ["", "One small SQLite write transaction (and one read) on this filesystem, ms:", "",
                 "| how | p50 | p95 |", "|---|---:|---:|"]
        rows += [f"| {k} | {v['p50']} | {v['p95']} |" for k, v in ip.get("sqlite_write_ms", {}).items()]
        rows += ["", "In-process intake (service.open) by number waiting, ms:", "",
                 "| waiting | n | p50 | p95 | max |", "|---|---:|---:|---:|---:|"]
        for b in ip["intake_by_waiting"]:
            if b.get("n"):
                rows.append(f"| {b['waiting']} | {b['n']} | {b['p50']} | {b['p95']} | {b['max']} |")
    m = results.get("routing_micro_us")
    if m:
        sizes = sorted(m, key=int)
        names = [k for k in m[sizes[0]] if k not in ("waiting", "agents", "assignments_when_free")]
        rows += ["", f"routing, µs per call ({m[sizes[0]]['agents']} agents):", "",
                 "| function | " + " | ".join(str(s) for s in sizes) + " | growth exponent |",
                 "|---|" + "---:|" * (len(sizes) + 1)]
        for name in names:
            vals = [m[s][name] for s in sizes]
            rows.append(f"| {name} | " + " | ".join(str(v) for v in vals) + " | "
                        f"{exponent(vals[-2], vals[-1], int(sizes[-2]), int(sizes[-1])) if len(sizes) > 1 else ''} |")
    return "\n".join(rows)


def filesystem(path: Path) -> str:
    """The mount (type) the path is on, from /proc/mounts: disk syncs cost nothing on tmpfs."""
    best = ("", "?")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, mount, kind = line.split()[:3]
            if str(path.resolve()).startswith(mount) and len(mount) > len(best[0]):
                best = (mount, kind)
    except OSError:
        pass
    return f"{best[1]} ({best[0]})"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.handoff.queue_ops", description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=200, help="conversations waiting (default 200)")
    parser.add_argument("--agents", type=int, default=20, help="agents (default 20; plus one supervisor)")
    parser.add_argument("--reads", type=int, default=30, help="repeats of each read with the queue full (30)")
    parser.add_argument("--resolves", type=int, default=40, help="resolutions timed (default 40)")
    parser.add_argument("--behind", type=int, default=5,
                        help="pairs of (reply alone; resolution + reply) with a slow fake Rasa (default 5; 0: none)")
    parser.add_argument("--rasa-ms", type=float, default=80.0,
                        help="the fake Rasa's time per delivery in that scenario (default 80: a real bot turn, "
                             "bench/handoff/latency.json)")
    parser.add_argument("--sizes", default="50,100,200,400", help="queue sizes of the in-process part")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-consoles", action="store_true", help="no agent WebSockets connected")
    parser.add_argument("--hold-connection", action="store_true",
                        help="keep one connection to the service's database open during the HTTP part (A/B)")
    parser.add_argument("--profile", action="store_true",
                        help="run the service under cProfile and add its profile (timings then include overhead)")
    parser.add_argument("--tmpdir", default=None,
                        help="where the temporary var dirs go (default: the system's; /dev/shm = no disk syncs)")
    parser.add_argument("--skip", nargs="*", default=[], choices=("http", "inprocess"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "handoff" / "queue_ops.json"))
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    agents = agent_plan(args.agents)
    results: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.handoff.queue_ops", *(argv if argv is not None else sys.argv[1:])]),
        "commit": git_commit(), "code": code_state(), "machine": machine(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "waiting": args.waiting, "consoles": not args.no_consoles, "hold_connection": args.hold_connection,
        "profiled": args.profile, "seed": args.seed,
        "agents": [{"id": a.id, "skills": list(a.skills), "capacity": a.capacity, "status": a.status} for a in agents],
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-handoff-queue-", dir=args.tmpdir))
    results["tmpdir"] = str(tmp.parent)
    results["tmpdir_filesystem"] = filesystem(tmp)
    started = time.monotonic()
    try:
        if "http" not in args.skip:
            results["http"] = run_http(tmp, agents, args, log)
        if "inprocess" not in args.skip:
            t0 = time.monotonic()
            results["inprocess"], results["routing_micro_us"] = run_inprocess(tmp, agents, sizes, args.seed, log)
            results["inprocess"]["seconds"] = round(time.monotonic() - t0, 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["seconds"] = round(time.monotonic() - started, 1)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"==> wrote {out} ({results['seconds']} s)")
    print(table(results))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: every process started was stopped, nothing written", file=sys.stderr)
        sys.exit(130)
