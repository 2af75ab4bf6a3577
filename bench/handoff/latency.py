"""Handoff bridge latency end to end (p50/p95/max): a customer on socket.io, an agent on the console API.

    .venv/bin/python -m bench.handoff.latency [--conversations 30] [--warmup 2] [--out bench/handoff/latency.json]

The whole product is started by the real supervisor (Rasa + action server + web page + handoff service, free
ports, a fresh temporary var dir, the service open around the clock), with the trained model of the current
inputs (never trained here: without it the script stops). One agent (every skill, capacity 5) logs in to the
service, goes online and keeps the console WebSocket (/api/ws, session cookie) open. Then, sequentially, each
conversation is a new customer on the web chat's socket.io channel who says "你好" (untimed) and then:

- "我要转人工"  -> (a) the agent's WebSocket gets {"type": "conversation"} with state "offered" for that
                   customer; (b) the customer gets the bot's handoff reply ("我来为您转接人工客服...");
- the agent accepts (POST .../accept) -> the customer gets the service's "客服 ... 已接入" notice;
- relay: a customer message while with the agent -> the agent's WebSocket gets {"type": "message"} with it;
- delivery: the agent's POST /api/conversations/{id}/messages -> the customer gets the text on socket.io;
- the agent resolves (outcome "close") -> the customer gets the satisfaction survey.

Times are taken in this process (one event loop for the customer's socket.io client and the agent's HTTP and
WebSocket clients, stamped when each event arrives). Afterwards the Rasa trackers give, per turn, the time
from the user event to the bot's action (prediction + action run, with its calls to the handoff service).
See bench/handoff/README.md.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import aiohttp
import socketio

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.handoff.common import code_state  # noqa: E402
from bench.orders.latency import free_port, git_commit, knowledge_base, machine, running_stack, summary  # noqa: E402
from common.settings import Settings  # noqa: E402
from tests.e2e.chat import SocketCustomer  # noqa: E402

ASK = "我要转人工"
GREETING = "你好"
HANDOFF_REPLY = "转接人工客服"  # actions/texts.py handoff_queued (zh)
JOINED = "已接入"  # handoff/texts.py joined (zh)
ALL_SKILLS = ["vip", "complaints", "after_sales", "orders", "general"]
TIMEOUT = 30.0
METRICS = (
    ("handoff_to_agent_offered", "我要转人工 -> agent WebSocket: conversation \"offered\" (a)"),
    ("handoff_to_customer_reply", "我要转人工 -> customer: the bot's handoff reply (b)"),
    ("handoff_to_agent_first_event", "我要转人工 -> agent WebSocket: first event of it (\"queued\")"),
    ("accept_to_customer_notice", "agent accept -> customer: \"已接入\" notice"),
    ("relay", "customer message -> agent WebSocket \"message\""),
    ("delivery", "agent POST messages -> customer receives it"),
    ("delivery_post", "agent POST messages: the HTTP call alone"),
    ("delivery_confirmed_at_console", "agent POST messages -> WebSocket \"message\" with delivered_at"),
    ("resolve_to_survey", "agent resolve (close) -> customer: the survey"),
)


class Customer(SocketCustomer):
    """The web widget's protocol (tests/e2e/chat.py), each message kept with its arrival time."""

    def __init__(self, rasa_url: str) -> None:
        super().__init__(rasa_url, custom_data={"language": "zh"})

    async def _on_bot(self, data: dict) -> None:
        await self.inbox.put((time.perf_counter(), data))

    async def send(self, message: str) -> float:
        started = time.perf_counter()
        await super().send(message)
        return started

    async def wait_text(self, containing: str, timeout: float = TIMEOUT) -> Tuple[float, dict]:
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"customer: no message containing {containing!r} within {timeout} s")
            at, data = await asyncio.wait_for(self.inbox.get(), left)
            if containing in (data.get("text") or ""):
                return at, data

    async def quiet(self, first_timeout: float = TIMEOUT, quiet: float = 0.8) -> int:
        """Wait for a reply, then until nothing more comes for `quiet` seconds; returns how many came."""
        await asyncio.wait_for(self.inbox.get(), first_timeout)
        count = 1
        while True:
            try:
                await asyncio.wait_for(self.inbox.get(), quiet)
                count += 1
            except asyncio.TimeoutError:
                return count

    async def close(self) -> None:
        await self.client.disconnect()


class AgentConsole:
    """The agent's side: the console's REST calls (session cookie) and its WebSocket, with arrival times."""

    def __init__(self, url: str, agent_id: str, password: str) -> None:
        self.url = url
        self.agent_id = agent_id
        self.password = password
        # unsafe=True: aiohttp's cookie jar refuses cookies of IP hosts (127.0.0.1) otherwise
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                          timeout=aiohttp.ClientTimeout(total=TIMEOUT))
        self.events: asyncio.Queue = asyncio.Queue()
        self.ws: Optional[aiohttp.ClientWebSocketResponse] = None
        self.reader: Optional[asyncio.Task] = None

    async def call(self, method: str, path: str, expect: int = 200, **kwargs) -> Tuple[float, float, dict]:
        """(started, finished, body) of one API call."""
        started = time.perf_counter()
        async with self.http.request(method, self.url + path, **kwargs) as response:
            raw = await response.read()
        finished = time.perf_counter()
        if response.status != expect:
            raise RuntimeError(f"{method} {path}: {response.status} {raw[:300]!r}")
        return started, finished, (json.loads(raw) if raw else {})

    async def start(self) -> None:
        await self.call("POST", "/api/login", json={"agent_id": self.agent_id, "password": self.password})
        await self.call("PUT", "/api/me/status", json={"status": "online"})
        self.ws = await self.http.ws_connect(self.url.replace("http://", "ws://") + "/api/ws")
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await self.events.put((time.perf_counter(), json.loads(msg.data)))

    def drain(self) -> None:
        while not self.events.empty():
            self.events.get_nowait()

    async def wait_event(self, match: Callable[[dict], bool], what: str, timeout: float = TIMEOUT
                         ) -> Tuple[float, dict]:
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"agent WebSocket: no {what} within {timeout} s")
            at, event = await asyncio.wait_for(self.events.get(), left)
            if match(event):
                return at, event

    async def close(self) -> None:
        try:
            await self.call("PUT", "/api/me/status", json={"status": "offline"})
        except Exception:  # noqa: BLE001 - the stack may be going down already
            pass
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()
        await self.http.close()


async def _handoff_events(agent: AgentConsole, sender: str) -> Tuple[float, float, dict]:
    """The agent's pushes, in order, until this customer's conversation is offered: (arrival of the first
    push about it, arrival of the 'offered' one, that push)."""
    first_at = None
    while True:
        at, event = await agent.wait_event(
            lambda e: e.get("type") == "conversation" and (e.get("conversation") or {}).get("sender_id") == sender,
            "conversation push for the customer")
        first_at = first_at or at
        if event["conversation"]["state"] == "offered":
            return first_at, at, event


async def one_conversation(rasa_url: str, agent: AgentConsole, n: int) -> Tuple[str, Dict[str, float]]:
    """One customer through the whole handoff; returns (sender id, {metric: ms})."""
    ms: Dict[str, float] = {}
    customer = Customer(rasa_url)
    await customer.connect()
    conversation_id = None
    try:
        await customer.send(GREETING)
        await customer.quiet()
        agent.drain()

        # (a) + (b): the handoff request
        sent = await customer.send(ASK)
        seen = asyncio.ensure_future(_handoff_events(agent, customer.session_id))
        reply_at, _ = await customer.wait_text(HANDOFF_REPLY)
        ms["handoff_to_customer_reply"] = 1000 * (reply_at - sent)
        first_at, offered_at, event = await seen
        ms["handoff_to_agent_first_event"] = 1000 * (first_at - sent)
        ms["handoff_to_agent_offered"] = 1000 * (offered_at - sent)
        conversation_id = event["conversation"]["id"]

        started, _, _ = await agent.call("POST", f"/api/conversations/{conversation_id}/accept")
        at, _ = await customer.wait_text(JOINED)
        ms["accept_to_customer_notice"] = 1000 * (at - started)
        await asyncio.sleep(0.2)  # let the accept's pushes pass
        agent.drain()

        text = f"我的快递三天没动了（{n}）"
        sent = await customer.send(text)
        at, _ = await agent.wait_event(lambda e: e.get("type") == "message" and (e.get("message") or {}).get("text")
                                       == text and e.get("conversation_id") == conversation_id, "relayed message")
        ms["relay"] = 1000 * (at - sent)

        text = f"我来帮您查一下物流（{n}）"
        confirmed = asyncio.ensure_future(agent.wait_event(
            lambda e: e.get("type") == "message" and (e.get("message") or {}).get("text") == text
            and (e.get("message") or {}).get("delivered_at"), "delivery confirmation"))
        started, finished, _ = await agent.call("POST", f"/api/conversations/{conversation_id}/messages", expect=201,
                                                json={"text": text})
        at, _ = await customer.wait_text(text)
        ms["delivery"] = 1000 * (at - started)
        ms["delivery_post"] = 1000 * (finished - started)
        confirmed_at, _ = await confirmed
        ms["delivery_confirmed_at_console"] = 1000 * (confirmed_at - started)

        from actions.texts import text as bot_text

        started, _, _ = await agent.call("POST", f"/api/conversations/{conversation_id}/resolve",
                                         json={"outcome": "close"})
        conversation_id = None
        at, _ = await customer.wait_text(bot_text("csat_ask", "zh")[:8])
        ms["resolve_to_survey"] = 1000 * (at - started)
    finally:
        if conversation_id is not None:  # a failure half way: free the agent's slot
            try:
                await agent.call("POST", f"/api/conversations/{conversation_id}/resolve", json={"outcome": "bot"})
            except Exception:  # noqa: BLE001
                pass
        await customer.close()
    return customer.session_id, ms


async def run_conversations(settings: Settings, conversations: int, warmup: int, log: Callable[[str], None]) -> dict:
    from handoff.auth import hash_password
    from handoff.store import HandoffStore

    agent_id, password = f"bench-{uuid.uuid4().hex[:6]}", secrets.token_urlsafe(16)
    HandoffStore(settings.handoff_db).add_agent(agent_id, "Bench", hash_password(password), ALL_SKILLS, capacity=5)
    agent = AgentConsole(settings.handoff_url, agent_id, password)
    await agent.start()
    timings: Dict[str, List[float]] = {name: [] for name, _ in METRICS}
    failures: List[dict] = []
    senders: List[str] = []
    rows: List[dict] = []
    try:
        for i in range(warmup + conversations):
            timed = i >= warmup
            try:
                sender, ms = await one_conversation(settings.rasa_url, agent, i)
            except (TimeoutError, asyncio.TimeoutError, RuntimeError, aiohttp.ClientError,
                    socketio.exceptions.SocketIOError) as exc:
                if timed:
                    failures.append({"conversation": i, "error": f"{type(exc).__name__}: {exc}"[:300]})
                log(f"    conversation {i}: FAILED {type(exc).__name__}: {exc}")
                continue
            if timed:
                senders.append(sender)
                rows.append({"conversation": i, **{k: round(v, 1) for k, v in ms.items()}})
                for name, value in ms.items():
                    timings[name].append(value)
                if (i - warmup + 1) % 10 == 0:
                    offered = sorted(timings["handoff_to_agent_offered"])
                    log(f"    {i - warmup + 1}/{conversations}: (a) p50 so far {offered[len(offered) // 2]:.0f} ms")
    finally:
        await agent.close()
    return {"timings": timings, "failures": failures, "senders": senders, "rows": rows}


def turn_steps(settings: Settings, senders: Sequence[str]) -> dict:
    """From each conversation's Rasa tracker: time from each user event (a customer's message or an external
    event from the handoff service) to the first action run for it, by (intent -> action)."""
    import requests

    from common.secrets import rasa_api_token

    token = rasa_api_token(settings.var_dir)
    steps: Dict[str, List[float]] = {}
    with requests.Session() as session:
        for sender in senders:
            resp = session.get(f"{settings.rasa_url}/conversations/{sender}/tracker", params={"token": token},
                               timeout=30)
            if resp.status_code != 200:
                continue
            events = resp.json().get("events") or []
            for i, e in enumerate(events):
                if e.get("event") != "user":
                    continue
                intent = ((e.get("parse_data") or {}).get("intent") or {}).get("name")
                nxt = next((x for x in events[i + 1:] if x.get("event") in ("action", "user")), None)
                if not nxt or nxt.get("event") != "action":
                    continue
                steps.setdefault(f"{intent} -> {nxt.get('name')}", []).append(
                    1000 * (nxt["timestamp"] - e["timestamp"]))
    return {key: summary(values) for key, values in sorted(steps.items())}


def nlu_parse(settings: Settings, n: int) -> dict:
    """NLU alone, the control: ASK through POST /model/parse n times (no tracker, policies or actions)."""
    import requests

    from common.secrets import rasa_api_token

    token = rasa_api_token(settings.var_dir)
    times = []
    with requests.Session() as session:
        for _ in range(n):
            started = time.perf_counter()
            resp = session.post(f"{settings.rasa_url}/model/parse", params={"token": token}, json={"text": ASK},
                                timeout=30)
            if resp.status_code == 200:
                times.append(1000 * (time.perf_counter() - started))
    return summary(times)


def table(results: dict) -> str:
    rows = [f"{results['conversations_timed']} conversations timed, {results['failures']} failed:", "",
            "| metric | n | p50 ms | p95 ms | max ms | min ms |", "|---|---:|---:|---:|---:|---:|"]
    for name, label in METRICS:
        s = results["latency_ms"][name]
        if s.get("n"):
            rows.append(f"| {label} | {s['n']} | {s['p50']} | {s['p95']} | {s['max']} | {s['min']} |")
    if results.get("turn_steps_ms"):
        rows += ["", "Rasa tracker: user event -> first action for it (prediction + action run), ms:", "",
                 "| intent -> action | n | p50 | p95 | max |", "|---|---:|---:|---:|---:|"]
        for key, s in results["turn_steps_ms"].items():
            rows.append(f"| {key} | {s['n']} | {s['p50']} | {s['p95']} | {s['max']} |")
    nlu = results.get("nlu_parse_ms") or {}
    if nlu.get("n"):
        rows += ["", f"NLU alone (POST /model/parse \"{ASK}\", {nlu['n']}x): p50 {nlu['p50']} ms, p95 {nlu['p95']} ms"]
    return "\n".join(rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.handoff.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=30, help="timed conversations (default 30)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed conversations first (default 2)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "handoff" / "latency.json"))
    parser.add_argument("--model", default=None,
                        help="a trained model to serve (default: the one for the current training inputs, "
                             "models/shop-<fingerprint>.tar.gz); never trains")
    parser.add_argument("--build-kb", action="store_true",
                        help="build the knowledge-base index into the temporary dir even if var/kb has one")
    args = parser.parse_args(argv)
    if args.conversations < 1:
        parser.error("--conversations must be at least 1")

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from ops.training import model_path

    current = model_path()
    model = Path(args.model).resolve() if args.model else current
    if not model.exists():  # never trains: that takes minutes and is not what is measured
        raise SystemExit(f"no trained model {model}: train it first (make run / make test train when needed) "
                         "or name an existing one with --model")
    log(f"==> model {model.name}" + ("" if model == current else
                                     f" (the current training inputs' model would be {current.name}, "
                                     f"{'present' if current.exists() else 'not trained'})"))
    results: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.handoff.latency", *(argv if argv is not None else sys.argv[1:])]),
        "commit": git_commit(), "code": code_state(), "model": model.name,
        "model_for_current_inputs": {"name": current.name, "exists": current.exists()}, "machine": machine(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "conversations": args.conversations, "warmup": args.warmup,
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-handoff-latency-"))
    try:
        kb_dir, results["knowledge_base"] = knowledge_base(tmp, args.build_kb, log)
        settings = Settings(kb_dir=kb_dir, var_dir=tmp / "var", identity_secret=secrets.token_urlsafe(32),
                            handoff_hours="00:00-24:00")
        settings = replace(settings, rasa_port=free_port(), action_port=free_port(), web_port=free_port(),
                           handoff_port=free_port())
        settings.var_dir.mkdir(parents=True)
        settings.validate()
        from orders.factory import ensure_seeded

        ensure_seeded(settings)
        log(f"==> starting the stack (Rasa takes about a minute) in {settings.var_dir}")
        started = time.monotonic()
        with running_stack(settings, model) as supervisor:
            results["stack_start_s"] = round(time.monotonic() - started, 1)
            log(f"==> stack up in {results['stack_start_s']} s; {args.warmup} + {args.conversations} conversations")
            load_before = [round(x, 2) for x in os.getloadavg()]
            started = time.monotonic()
            run = asyncio.run(run_conversations(settings, args.conversations, args.warmup, log))
            results["conversations_seconds"] = round(time.monotonic() - started, 1)
            results["load_average_before_after"] = [load_before, [round(x, 2) for x in os.getloadavg()]]
            results["turn_steps_ms"] = turn_steps(settings, run["senders"])
            results["nlu_parse_ms"] = nlu_parse(settings, args.conversations)
            gone = supervisor.exited()
            if gone:
                raise RuntimeError(f"{gone.name} exited during the run:\n{supervisor.log_tail(gone.name)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["conversations_timed"] = len(run["senders"])
    results["failures"] = len(run["failures"])
    results["failure_examples"] = run["failures"][:5]
    results["latency_ms"] = {name: summary(run["timings"][name]) for name, _ in METRICS}
    results["per_conversation_ms"] = run["rows"]
    results["metrics"] = dict(METRICS)
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"==> wrote {out}")
    print(table(results))
    return 1 if run["failures"] else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: every process started was stopped, nothing written", file=sys.stderr)
        sys.exit(130)
