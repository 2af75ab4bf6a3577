"""Agent-assist latency: from the moment a customer's message is relayed to the handoff service (POST
/api/relay with the service token, as the action server sends it) to the suggestions being available to
the agent's console, two ways:

- push: the WebSocket "assist" event for that message (what the console uses);
- api:  the console asks GET /api/conversations/{id}/assist when it hears the message (the fallback):
        time to the message push + the GET's own time (suggestions + sentiment + order context).

The real handoff service (`python -m handoff serve`, subprocess, own var dir), the real shop knowledge
base (var/kb if published, else built from data/faq into var/bench/assist-kb with the configured encoder,
reused across runs), the embedded order system seeded with the demo orders, the real sentiment model.
One agent holds `--conversations` verified customers' chats; `--messages` customer messages (the held-out
KB queries, zh and en alternating, plus a few angry ones) are relayed one at a time.

    .venv/bin/python -m bench.assist.latency [--messages 200] [--conversations 4] [--out bench/assist/latency.json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.handoff.common import code_state  # noqa: E402
from common.settings import Settings  # noqa: E402
from ops.paths import VENV_BIN  # noqa: E402
from tests.conftest import free_port  # noqa: E402

PASSWORD = "bench-assist-password"  # bench-only
CUSTOMERS = ("C1110", "C1032", "C1091", "C1181", "C1112", "C1218")
ANGRY = ("你们就是骗子！太差劲了，气死我了！", "This is ridiculous, worst service ever, I want my money back now!",
         "等了一个星期还没到，你们到底管不管？", "Nobody answers, this is a joke.")


def _kb_dir() -> Path:
    settings = Settings.from_env()
    if (settings.kb_dir / "CURRENT").is_file():
        return settings.kb_dir
    from knowledge.corpus import load_corpus
    from knowledge.index import build_index

    out = ROOT / "var" / "bench" / "assist-kb"
    print(f"[assist] building the shop's knowledge base into {out} (once)", file=sys.stderr, flush=True)
    build_index(load_corpus(settings.faq_dir), out, settings.kb_build_options)
    return out


def _messages(n: int) -> List[str]:
    lines: List[str] = []
    for name in ("queries-zh-test.jsonl", "queries-en-test.jsonl"):
        lines.append([json.loads(x)["query"] for x in (ROOT / "bench" / "kb" / name).read_text().splitlines() if x])
    zh, en = lines
    out = []
    for i in range(n):
        if i % 25 == 24:
            out.append(ANGRY[(i // 25) % len(ANGRY)])
        else:
            source = zh if i % 2 == 0 else en
            out.append(source[(i // 2) % len(source)])
    return out


def _pct(values: List[float]) -> Dict[str, float]:
    values = sorted(values)
    if not values:
        return {}
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {"n": len(values), "p50": round(q[49], 1), "p95": round(q[94], 1), "max": round(values[-1], 1),
            "mean": round(statistics.fmean(values), 1)}


async def _next(ws, kind: str, match=lambda d: True, timeout: float = 60.0) -> tuple:
    while True:
        msg = await ws.receive(timeout=timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"socket closed: {msg}")
        data = json.loads(msg.data)
        if data.get("type") == kind and match(data):
            return time.perf_counter(), data


async def run(url: str, token: str, n_messages: int, n_conversations: int, warmup: int) -> dict:
    bot = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(url + "/api/login", json={"agent_id": "bench", "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()
        async with http.put(url + "/api/me/status", json={"status": "online"}) as r:
            assert r.status == 200
        ws = await http.ws_connect(url.replace("http", "ws") + "/api/ws")
        await _next(ws, "hello")
        conversations = []
        for i in range(n_conversations):
            sender = f"bench-assist-{i}"
            async with http.post(url + "/api/handoffs", headers=bot, json={
                    "sender_id": sender, "channel": "socketio", "language": "zh" if i % 2 == 0 else "en",
                    "reason": "customer_request", "customer_id": CUSTOMERS[i % len(CUSTOMERS)],
                    "intents": ["request_human"], "summary": {"sentiment": [0.2]}}) as r:
                conv = (await r.json())["conversation"]
            async with http.post(url + f"/api/conversations/{conv['id']}/accept") as r:
                assert r.status == 200, await r.text()
            conversations.append((sender, conv["id"]))

        rows = []
        texts = _messages(n_messages + warmup)
        for i, text in enumerate(texts):
            sender, cid = conversations[i % len(conversations)]
            started = time.perf_counter()
            async with http.post(url + "/api/relay", headers=bot, json={"sender_id": sender, "text": text}) as r:
                assert r.status == 200, await r.text()
            relayed = time.perf_counter()
            heard, message = await _next(ws, "message", lambda d, c=cid: d["conversation_id"] == c
                                         and d["message"]["direction"] == "customer")
            mid = message["message"]["id"]
            pushed_at, pushed = await _next(ws, "assist", lambda d, m=mid: d.get("message_id") == m)
            get_started = time.perf_counter()
            async with http.get(url + f"/api/conversations/{cid}/assist") as r:
                answer = await r.json()
            get_ms = (time.perf_counter() - get_started) * 1000
            assert answer["message_id"] == mid
            if i < warmup:
                continue
            rows.append({"push_ms": (pushed_at - started) * 1000, "relay_ms": (relayed - started) * 1000,
                         "message_push_ms": (heard - started) * 1000,
                         "api_ms": (heard - started) * 1000 + get_ms, "get_ms": get_ms,
                         "server": pushed["timing_ms"], "alert": pushed["sentiment"]["alert"],
                         "decision": pushed["suggestions"]["decision"], "language": "zh" if i % 2 == 0 else "en"})
            await asyncio.sleep(0.02)
        await ws.close()
    return {"rows": rows}


def summarise(rows: List[dict]) -> dict:
    server_keys = ("kb_search", "sentiment", "server_total")
    return {
        "push_ms": _pct([r["push_ms"] for r in rows]),
        "api_ms": _pct([r["api_ms"] for r in rows]),
        "relay_http_ms": _pct([r["relay_ms"] for r in rows]),
        "message_push_ms": _pct([r["message_push_ms"] for r in rows]),
        "get_ms": _pct([r["get_ms"] for r in rows]),
        "server_ms": {k: _pct([r["server"][k] for r in rows]) for k in server_keys},
        "server_ms_by_language": {lang: {k: _pct([r["server"][k] for r in rows if r["language"] == lang])
                                         for k in ("kb_search", "sentiment")} for lang in ("zh", "en")},
        "within_300ms_push": round(sum(r["push_ms"] <= 300 for r in rows) / len(rows), 3),
        "within_300ms_api": round(sum(r["api_ms"] <= 300 for r in rows) / len(rows), 3),
        "alerts": sum(r["alert"] for r in rows),
        "decisions": {d: sum(r["decision"] == d for r in rows) for d in ("answer", "suggest", "none")},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--conversations", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "assist" / "latency.json")
    args = parser.parse_args(argv)

    kb_dir = _kb_dir()
    with tempfile.TemporaryDirectory(prefix="bench-assist-") as tmp:
        var_dir = Path(tmp) / "var"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
        env.update({"CS_VAR_DIR": str(var_dir), "CS_HANDOFF_PORT": str(port), "CS_KB_DIR": str(kb_dir),
                    "CS_RASA_PORT": str(free_port()), "CS_ACTION_PORT": str(free_port()),
                    "CS_WEB_PORT": str(free_port()), "CS_HANDOFF_HOURS": "00:00-24:00",
                    "CS_HANDOFF_OFFER_SECONDS": "600", "CS_AGENT_PASSWORD": PASSWORD, "CS_LOG_LEVEL": "WARNING"})
        from orders.factory import ensure_seeded

        ensure_seeded(Settings(var_dir=var_dir))
        python = str(VENV_BIN / "python")
        subprocess.run([python, "-m", "handoff", "add-agent", "bench", "--name", "Bench", "--skills",
                        "general,orders,vip", "--capacity", str(args.conversations)], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        log = Path(tmp) / "handoff.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([python, "-m", "handoff", "serve"], cwd=ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            from tests.health import wait_healthy

            wait_healthy(proc, url + "/health", lambda: log.read_text()[-3000:])
            token = (var_dir / "secrets" / "handoff_service_token").read_text().strip()
            started = time.time()
            result = asyncio.run(run(url, token, args.messages, args.conversations, args.warmup))
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
    shown_kb = str(kb_dir.relative_to(ROOT)) if kb_dir.is_relative_to(ROOT) else str(kb_dir)
    report = {"what": "relay -> suggestions in the console (ms)", "messages": args.messages,
              "conversations": args.conversations, "kb_dir": shown_kb, "encoder": Settings.from_env().kb_encoder,
              "seconds": round(time.time() - started, 1),
              "machine": {"cpus": os.cpu_count(), "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                          "python": platform.python_version()},
              "code": code_state(), **summarise(result["rows"])}
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("push_ms", "api_ms", "server_ms", "within_300ms_push",
                                             "within_300ms_api")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
