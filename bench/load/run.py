"""Load: N concurrent simulated customers holding multi-turn conversations (FAQ, order lookup, handoff)
over the REST and socket.io channels, against the whole product and against a bare Rasa bot.

    .venv/bin/python -m bench.load.run [--levels 1,10,50,200] [--duration 60] [--think 1,3]
                                       [--only product|baseline] [--out bench/load/results.json]

Loopback only. Each level runs for `duration` seconds: N customers (half on REST, half on socket.io),
each with at most one message in flight, a think time drawn from `think` seconds between turns, a new
conversation (new sender) when one ends. A turn counts as failed on an HTTP error, a timeout (30 s),
silence, or a reply that fails its check (an order lookup must name the order). Latency: REST = the
whole reply; socket.io = the first message of the reply (the rest follow on the socket).

The product: the real supervisor starts Rasa + action server + handoff service + web page on free ports
in a fresh temporary var dir (SQLite everything, the demo orders, the KB index of var/kb or built),
handoff open around the clock. The baseline: `bench/load/baseline/` (stock pipeline, rules, static
responses, in-memory tracker store, no action server), trained into var/bench/ when its files change,
the same conversations (it answers each message with a fixed text). Both run in the same process, one
after the other, on the same machine. See bench/load/README.md.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import aiohttp
import socketio

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load.scenarios import Conversation, any_reply, deal  # noqa: E402
from bench.orders.latency import free_port, git_commit, knowledge_base, machine, running_stack, summary  # noqa: E402
from common.identity import TOKEN_KEY, issue_token  # noqa: E402
from common.settings import Settings  # noqa: E402
from ops.paths import RASA  # noqa: E402
from ops.training import ensure_model, rasa_env  # noqa: E402

BASELINE = ROOT / "bench" / "load" / "baseline"
TIMEOUT = 30.0
QUIET = 0.4  # socket.io: the reply is complete after this long without another message
SECRET = "bench-load-identity-secret-0123456789"  # signs the simulated customers' tokens; bench-only


# --- one customer --------------------------------------------------------------------------------
class RestClient:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def start(self, sender: str, metadata: dict) -> None:
        self.sender, self.metadata = sender, metadata

    async def say(self, text: str) -> Tuple[float, List[str]]:
        started = time.perf_counter()
        async with self.http.post(f"{self.url}/webhooks/rest/webhook",
                                  json={"sender": self.sender, "message": text, "metadata": self.metadata},
                                  timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as resp:
            resp.raise_for_status()
            body = await resp.json()
        return time.perf_counter() - started, [m.get("text") or "" for m in body]

    async def stop(self) -> None:
        pass


class SocketClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.client: Optional[socketio.AsyncClient] = None

    async def start(self, sender: str, metadata: dict) -> None:
        self.session_id, self.metadata = sender, metadata
        self.inbox: asyncio.Queue = asyncio.Queue()
        confirmed = asyncio.Event()
        self.client = socketio.AsyncClient(reconnection=False)

        async def on_bot(data):
            await self.inbox.put((time.perf_counter(), data.get("text") or ""))

        async def on_confirm(data):
            confirmed.set()

        self.client.on("bot_uttered", on_bot)
        self.client.on("session_confirm", on_confirm)
        await self.client.connect(self.url, socketio_path="/socket.io/", transports=["websocket"],
                                  wait_timeout=TIMEOUT)
        await self.client.emit("session_request", {"session_id": self.session_id})
        await asyncio.wait_for(confirmed.wait(), TIMEOUT)

    async def say(self, text: str) -> Tuple[float, List[str]]:
        while not self.inbox.empty():  # late messages of the turn before
            self.inbox.get_nowait()
        started = time.perf_counter()
        await self.client.emit("user_uttered", {"message": text, "session_id": self.session_id,
                                                "customData": self.metadata})
        at, first = await asyncio.wait_for(self.inbox.get(), TIMEOUT)
        replies = [first]
        while True:
            try:
                replies.append((await asyncio.wait_for(self.inbox.get(), QUIET))[1])
            except asyncio.TimeoutError:
                return at - started, replies

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.disconnect()


@dataclass
class Tally:
    ok: Dict[Tuple[str, str], List[float]] = field(default_factory=dict)  # (channel, kind) -> seconds
    failures: List[dict] = field(default_factory=list)
    conversations: int = 0

    def add(self, channel: str, kind: str, seconds: float) -> None:
        self.ok.setdefault((channel, kind), []).append(seconds)


async def customer(number: int, channel: str, url: str, http: aiohttp.ClientSession,
                   conversations: Sequence[Conversation], think: Tuple[float, float], deadline: float,
                   tally: Tally, strict: bool) -> None:
    """`strict`: each reply must pass its turn's check (the product); else any reply will do (the
    baseline answers everything with a fixed text)."""
    rng = random.Random(number)
    await asyncio.sleep(rng.uniform(0, think[1]))  # do not all start in the same millisecond
    k = 0
    while time.monotonic() < deadline:
        conversation = conversations[(number * 7919 + k) % len(conversations)]
        k += 1
        sender = f"load-{channel}-{number}-{uuid.uuid4().hex[:8]}"
        metadata = {TOKEN_KEY: issue_token(SECRET, conversation.customer_id)} if conversation.customer_id else {}
        client = RestClient(http, url) if channel == "rest" else SocketClient(url)
        try:
            await client.start(sender, metadata)
            for turn in conversation.turns:
                if time.monotonic() >= deadline:
                    break
                try:
                    seconds, replies = await client.say(turn.text)
                except (aiohttp.ClientError, asyncio.TimeoutError, socketio.exceptions.SocketIOError) as exc:
                    tally.failures.append({"channel": channel, "text": turn.text, "error": type(exc).__name__})
                    break
                if (turn.check if strict else any_reply)(replies):
                    tally.add(channel, turn.kind, seconds)
                else:
                    tally.failures.append({"channel": channel, "text": turn.text, "replies": replies[:3]})
                await asyncio.sleep(rng.uniform(*think))
            tally.conversations += 1
        except (aiohttp.ClientError, asyncio.TimeoutError, socketio.exceptions.SocketIOError) as exc:
            tally.failures.append({"channel": channel, "text": "(connect)", "error": type(exc).__name__})
            await asyncio.sleep(1)
        finally:
            try:
                await client.stop()
            except Exception:  # noqa: BLE001 - a failed disconnect of a finished conversation
                pass


async def level(url: str, n: int, duration: float, think: Tuple[float, float],
                conversations: Sequence[Conversation], strict: bool) -> dict:
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.monotonic()
        deadline = started + duration
        load_before = os.getloadavg()[0]
        await asyncio.gather(*(customer(i, ("rest", "socketio")[i % 2], url, http, conversations, think, deadline,
                                        tally, strict) for i in range(n)))
        elapsed = time.monotonic() - started
    every = [s * 1000 for values in tally.ok.values() for s in values]
    turns = len(every) + len(tally.failures)
    by_channel = {ch: summary([s * 1000 for (c, _), v in tally.ok.items() if c == ch for s in v])
                  for ch in ("rest", "socketio")}
    by_kind = {kind: summary([s * 1000 for (_, k), v in tally.ok.items() if k == kind for s in v])
               for kind in ("faq", "order", "handoff", "other")}
    return {"customers": n, "seconds": round(elapsed, 1), "turns": turns, "ok": len(every),
            "failed": len(tally.failures), "error_rate": round(len(tally.failures) / turns, 4) if turns else None,
            "throughput_turns_per_s": round(len(every) / elapsed, 2), "latency_ms": summary(every),
            "by_channel": by_channel, "by_kind": by_kind, "conversations": tally.conversations,
            "failure_examples": tally.failures[:5], "load_average_1m_before": round(load_before, 2)}


# --- the two systems -----------------------------------------------------------------------------
def _orders() -> List[Tuple[str, str]]:
    from bench.orders.latency import shipped_orders

    return [(o.number, o.customer_id) for o in shipped_orders()]


@contextmanager
def product(tmp: Path, log) -> Iterator[str]:
    from orders.factory import ensure_seeded

    kb_dir, _ = knowledge_base(tmp, False, log)
    settings = Settings(var_dir=tmp / "var", kb_dir=kb_dir, rasa_port=free_port(), action_port=free_port(),
                        web_port=free_port(), handoff_port=free_port(), identity_secret=SECRET,
                        handoff_hours="00:00-24:00", rate_ip_per_minute=0)  # one address: every customer
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    settings.validate()
    ensure_seeded(settings)
    model = ensure_model()
    log(f"==> product: starting the stack in {settings.var_dir}")
    with running_stack(settings, model):
        yield settings.rasa_url


def _baseline_model() -> Path:
    digest = hashlib.sha256()
    for path in sorted(BASELINE.rglob("*.yml")):
        digest.update(path.relative_to(BASELINE).as_posix().encode() + b"\0" + path.read_bytes())
    out = ROOT / "var" / "bench" / "load-baseline"
    model = out / f"baseline-{digest.hexdigest()[:12]}.tar.gz"
    if not model.exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(RASA), "train", "--config", "config.yml", "--domain", "domain.yml", "--data", "data",
                        "--out", str(out), "--fixed-model-name", model.name[:-len(".tar.gz")]],
                       cwd=BASELINE, env=rasa_env(), check=True, stdout=subprocess.DEVNULL)
    return model


@contextmanager
def baseline(tmp: Path, log) -> Iterator[str]:
    import requests

    model = _baseline_model()
    port = free_port()
    log_path = tmp / "baseline.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([str(RASA), "run", "--model", str(model), "--credentials", "credentials.yml",
                                 "--interface", "127.0.0.1", "--port", str(port), "--cors", "*"],
                                cwd=BASELINE, env=rasa_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the baseline Rasa exited:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                if requests.post(f"{url}/webhooks/rest/webhook", json={"sender": "probe", "message": "你好"},
                                 timeout=5).json():
                    break
            except (requests.RequestException, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the baseline Rasa did not answer within 180 s")
            time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def measure(name: str, url: str, levels: Sequence[int], duration: float, think: Tuple[float, float],
            conversations: Sequence[Conversation], log) -> List[dict]:
    log(f"==> {name}: warm-up")
    strict = name == "product"
    asyncio.run(level(url, 4, 10, think, conversations, strict))
    results = []
    for n in levels:
        log(f"==> {name}: {n} customers for {duration:.0f} s")
        result = asyncio.run(level(url, n, duration, think, conversations, strict))
        log(f"    {result['throughput_turns_per_s']} turns/s, p50 {result['latency_ms'].get('p50')} ms, "
            f"p95 {result['latency_ms'].get('p95')} ms, p99 {result['latency_ms'].get('p99')} ms, "
            f"errors {result['error_rate']}")
        results.append(result)
    return results


def table(results: dict) -> str:
    lines = ["| system | N | turns/s | p50 ms | p95 ms | p99 ms | error rate |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name in ("product", "baseline"):
        for r in results.get(name, []):
            lat = r["latency_ms"]
            lines.append(f"| {name} | {r['customers']} | {r['throughput_turns_per_s']} | {lat.get('p50', '-')} | "
                         f"{lat.get('p95', '-')} | {lat.get('p99', '-')} | {r['error_rate']} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,10,50,200")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--think", default="1,3", help="min,max seconds between a customer's turns")
    parser.add_argument("--only", choices=("product", "baseline"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "load" / "results.json")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    think = tuple(float(x) for x in args.think.split(","))

    def log(text: str) -> None:
        print(text, flush=True)

    conversations = deal(400, args.seed, _orders())
    results: dict = {"machine": machine(), "commit": git_commit(), "levels": levels, "duration_s": args.duration,
                     "think_s": think, "conversation_mix": dict(Counter(c.name for c in conversations))}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        if args.only in (None, "product"):
            with product(Path(tmp), log) as url:
                results["product"] = measure("product", url, levels, args.duration, think, conversations, log)
        if args.only in (None, "baseline"):
            with baseline(Path(tmp), log) as url:
                results["baseline"] = measure("baseline", url, levels, args.duration, think, conversations, log)
    if results.get("product") and results.get("baseline"):
        results["ratio_product_over_baseline"] = [
            {"customers": p["customers"],
             "p50": round(p["latency_ms"]["p50"] / b["latency_ms"]["p50"], 2) if p["latency_ms"].get("p50")
             and b["latency_ms"].get("p50") else None,
             "throughput": round(p["throughput_turns_per_s"] / b["throughput_turns_per_s"], 2)
             if b["throughput_turns_per_s"] else None}
            for p, b in zip(results["product"], results["baseline"], strict=True)]
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
