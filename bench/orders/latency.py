"""Order-lookup turn latency (p50/p95) through the full stack, with the SQLite and the HTTP order backend.

    .venv/bin/python -m bench.orders.latency [--turns 200] [--out bench/orders/results.json]

For each backend a whole stack is started by the real supervisor (Rasa + action server + web page, free
ports, a fresh temporary var dir), then every turn is one new customer (new sender id, a signed
`customer_token` in the message metadata, so no phone check is asked) sending one message that completes
the lookup: "订单<number>到哪了" or "where is my parcel <number>", alternately, for a shipped order picked at
random (fixed seed, same orders for both backends). The time is the wall time of the REST call
(POST /webhooks/rest/webhook); a reply without the order number and its tracking number is a failure,
counted and never timed. To see where the time goes it also times, on the same stack, the NLU alone
(POST /model/parse with the same messages) and direct backend calls (get_order + logistics, in this
process), and counts the order-API requests each turn makes (from the API's access log). The HTTP backend
talks to `python -m orders serve` (a separate process over its own seeded SQLite database).
See bench/orders/README.md.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import math
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import requests
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common.identity import TOKEN_KEY, issue_token  # noqa: E402
from common.settings import Settings  # noqa: E402
from ops.supervisor import _die_with_parent  # noqa: E402  (setsid + die with us, as the services)
from orders.fixture import load_fixture  # noqa: E402
from orders.model import Order  # noqa: E402

WARMUP_TURNS = 10
WARMUP_CALLS = 10
LANGUAGES = ("zh", "en")
MESSAGES = {"zh": "订单{number}到哪了", "en": "where is my parcel {number}"}
FAILURE_EXAMPLES = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- statistics ---------------------------------------------------------------------------------

def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on sorted values."""
    k = (len(ordered) - 1) * q
    low = math.floor(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary(values: Sequence[float], digits: int = 1) -> Dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(ordered),
            "p50": round(percentile(ordered, 0.50), digits), "p95": round(percentile(ordered, 0.95), digits),
            "p99": round(percentile(ordered, 0.99), digits), "mean": round(statistics.fmean(ordered), digits),
            "min": round(ordered[0], digits), "max": round(ordered[-1], digits)}


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return round(a / b, 2) if a is not None and b else None


# -- workload -----------------------------------------------------------------------------------

def shipped_orders() -> List[Order]:
    """Orders whose parcel has left: a carrier, a tracking number and tracking events (the demo fixture,
    which both backends are seeded from)."""
    fixture = load_fixture(now=datetime.now(timezone.utc))
    tracked = {number for number, _ in fixture.logistics}
    return sorted((o for o in fixture.orders if o.shipped_at and o.tracking_number and o.number in tracked),
                  key=lambda o: o.number)


def plan(orders: Sequence[Order], n: int, seed: int) -> List[Tuple[Order, str]]:
    rng = random.Random(seed)
    return [(rng.choice(orders), LANGUAGES[i % 2]) for i in range(n)]


# -- one stack ----------------------------------------------------------------------------------

@contextmanager
def running_stack(settings: Settings, model: Path) -> Iterator[object]:
    from ops.services import build_services
    from ops.supervisor import Supervisor

    supervisor = Supervisor(build_services(settings, model), settings.var_dir, settings.host)
    try:
        supervisor.start()  # stops what it started if it fails
        yield supervisor
    finally:
        supervisor.stop()


@contextmanager
def order_api(var_dir: Path, token: str) -> Iterator[Tuple[str, Path]]:
    """`python -m orders serve` over its own database (seeded with `python -m orders seed`); yields its URL
    and its log (JSON lines, one access-log line per request)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env.update(Settings(var_dir=var_dir, order_api_token=token).to_env())
    env.update({"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    seeded = subprocess.run([sys.executable, "-m", "orders", "seed"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    if seeded.returncode != 0:
        raise RuntimeError(f"python -m orders seed failed:\n{seeded.stdout}{seeded.stderr}")
    log_path = var_dir / "order-api.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "orders", "serve", "--port", str(port)], cwd=ROOT,
                                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"order API exited with code {proc.returncode}:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("order API did not answer /health within 30 s:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# -- turns --------------------------------------------------------------------------------------

def one_turn(session: requests.Session, rasa_url: str, secret: str, order: Order,
             language: str) -> Tuple[str, Optional[float], Optional[dict]]:
    """(sender, milliseconds, None) for a tracking answer; (sender, None, failure) for anything else."""
    message = MESSAGES[language].format(number=order.number)
    sender = f"bench-{uuid.uuid4().hex[:12]}"
    body = {"sender": sender, "message": message,
            "metadata": {TOKEN_KEY: issue_token(secret, order.customer_id)}}
    started = time.perf_counter()
    try:
        resp = session.post(f"{rasa_url}/webhooks/rest/webhook", json=body, timeout=60)
        elapsed = 1000 * (time.perf_counter() - started)
        resp.raise_for_status()
        replies = [r.get("text") or "" for r in resp.json()]
    except (requests.RequestException, ValueError) as exc:
        return sender, None, {"language": language, "message": message,
                              "error": f"{type(exc).__name__}: {exc}"[:300]}
    joined = "\n".join(replies)
    if order.number in joined and order.tracking_number in joined:
        return sender, elapsed, None
    return sender, None, {"language": language, "message": message, "tracking": order.tracking_number,
                  "replies": [r[:300] for r in replies]}


def warm_up(rasa_url: str, secret: str, turns: Sequence[Tuple[Order, str]], desc: str) -> int:
    """Untimed turns (first TensorFlow calls, connection pools, SQLite caches); returns failures."""
    failures = 0
    with requests.Session() as session:
        for order, language in tqdm(turns, desc=f"{desc} warm-up", unit="turn", leave=False):
            failures += one_turn(session, rasa_url, secret, order, language)[1] is None
    return failures


def run_turns(rasa_url: str, secret: str, turns: Sequence[Tuple[Order, str]], desc: str) -> dict:
    timings: Dict[str, List[float]] = {lang: [] for lang in LANGUAGES}
    failures: List[dict] = []
    timed: List[Tuple[str, float]] = []
    with requests.Session() as session:
        bar = tqdm(turns, desc=f"{desc} turns", unit="turn")
        for i, (order, language) in enumerate(bar, 1):
            sender, ms, failure = one_turn(session, rasa_url, secret, order, language)
            if failure:
                failures.append(failure)
            else:
                timings[language].append(ms)
                timed.append((sender, ms))
            if i % 10 == 0 or i == len(turns):
                done = timings["zh"] + timings["en"]
                bar.set_postfix(p50_ms=f"{statistics.median(done):.0f}" if done else "-", failures=len(failures))
        bar.close()
    every = timings["zh"] + timings["en"]
    return {"turns": len(turns), "timed": len(every), "failures": len(failures),
            "failure_examples": failures[:FAILURE_EXAMPLES],
            "turn_ms": {"all": summary(every), **{lang: summary(timings[lang]) for lang in LANGUAGES}},
            "_timed": timed}


def turn_steps(settings: Settings, timed: Sequence[Tuple[str, float]], desc: str) -> dict:
    """Where a turn's time goes, from the timestamps Rasa gives the events of each timed conversation
    (read back after the run, untimed): the time from one action/user event to the next is the policy
    prediction plus the run of the later action (for custom actions: the action server's webhook, with
    its backend calls). Turns are compared step by step, so only those with the most common sequence of
    actions count; what the events do not cover (HTTP handling, tracker creation and saving, the
    response) is the turn's time minus the span of its events. One policy prediction alone is timed with
    POST /conversations/<id>/predict on each finished conversation (predicts, runs nothing)."""
    from common.secrets import rasa_api_token

    token = rasa_api_token(settings.var_dir)
    sequences: Dict[Tuple[str, ...], List[Tuple[List[float], float]]] = {}
    predict_ms: List[float] = []
    with requests.Session() as session:
        for sender, total_ms in tqdm(timed, desc=f"{desc} trackers", unit="turn", leave=False):
            resp = session.get(f"{settings.rasa_url}/conversations/{sender}/tracker", params={"token": token},
                               timeout=30)
            if resp.status_code != 200:
                continue
            anchors = [e for e in resp.json().get("events") or [] if e.get("event") in ("action", "user")]
            if len(anchors) < 2:
                continue
            labels = tuple("user message (after NLU)" if e["event"] == "user" else e["name"] for e in anchors)
            deltas = [1000 * (anchors[i + 1]["timestamp"] - anchors[i]["timestamp"]) for i in range(len(anchors) - 1)]
            span = 1000 * (anchors[-1]["timestamp"] - anchors[0]["timestamp"])
            sequences.setdefault(labels, []).append((deltas, total_ms - span))
            started = time.perf_counter()
            resp = session.post(f"{settings.rasa_url}/conversations/{sender}/predict", params={"token": token},
                                timeout=30)
            if resp.status_code == 200:
                predict_ms.append(1000 * (time.perf_counter() - started))
    if not sequences:
        return {}
    labels, runs = max(sequences.items(), key=lambda item: len(item[1]))
    steps = [{"step": f"{i + 1}. {label}",
              **{k: v for k, v in summary([run[0][i] for run in runs]).items() if k in ("p50", "p95", "mean")}}
             for i, label in enumerate(labels[1:])]
    steps.append({"step": "outside the events (HTTP, tracker load/save, response)",
                  **{k: v for k, v in summary([run[1] for run in runs]).items() if k in ("p50", "p95", "mean")}})
    return {"first_event": labels[0], "turns_counted": len(runs),
            "turns_with_other_sequences": sum(len(r) for r in sequences.values()) - len(runs), "steps_ms": steps,
            "policy_prediction_alone_ms": summary(predict_ms)}


def nlu_parse(settings: Settings, turns: Sequence[Tuple[Order, str]], desc: str) -> dict:
    """NLU alone: the same messages through Rasa's POST /model/parse (no tracker, policies or actions)."""
    from common.secrets import rasa_api_token

    token = rasa_api_token(settings.var_dir)
    timings: Dict[str, List[float]] = {lang: [] for lang in LANGUAGES}
    with requests.Session() as session:
        for order, language in tqdm(turns, desc=f"{desc} NLU parse", unit="msg", leave=False):
            started = time.perf_counter()
            resp = session.post(f"{settings.rasa_url}/model/parse", params={"token": token},
                                json={"text": MESSAGES[language].format(number=order.number)}, timeout=60)
            elapsed = 1000 * (time.perf_counter() - started)
            if resp.status_code == 200:
                timings[language].append(elapsed)
    return {"all": summary(timings["zh"] + timings["en"]), **{lang: summary(timings[lang]) for lang in LANGUAGES}}


def api_calls(log_path: Path, offset: int, turns: int) -> dict:
    """Order API requests per timed turn, by route, from the server's access log written after `offset`."""
    counts: Dict[str, int] = {}
    with open(log_path, "rb") as log:
        log.seek(offset)
        for raw in log:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            request = line.get("first_request_line") or ""
            if line.get("logger") != "aiohttp.access" or " /health" in request:
                continue
            method, path = (request.split() + ["", ""])[:2]
            route = "/".join("{number}" if part.isdigit() else part for part in path.split("/"))
            counts[f"{method} {route}"] = counts.get(f"{method} {route}", 0) + 1
    return {route: round(n / turns, 2) for route, n in sorted(counts.items())}

# -- direct backend calls -----------------------------------------------------------------------

async def _direct(backend, numbers: Sequence[str], desc: str) -> dict:
    get_ms: List[float] = []
    log_ms: List[float] = []
    pair_ms: List[float] = []
    misses = 0
    try:
        for number in numbers[:WARMUP_CALLS]:
            await backend.get_order(number)
            await backend.logistics(number)
        for number in tqdm(numbers, desc=f"{desc} direct calls", unit="call", leave=False):
            t0 = time.perf_counter()
            order = await backend.get_order(number, request_id="bench")
            t1 = time.perf_counter()
            events = await backend.logistics(number, request_id="bench")
            t2 = time.perf_counter()
            if order is None or not events:
                misses += 1
            get_ms.append(1000 * (t1 - t0))
            log_ms.append(1000 * (t2 - t1))
            pair_ms.append(1000 * (t2 - t0))
    finally:
        await backend.close()
    return {"calls": len(numbers), "misses": misses, "get_order": summary(get_ms, 3),
            "logistics": summary(log_ms, 3), "get_order+logistics": summary(pair_ms, 3)}


def direct_calls(backend, numbers: Sequence[str], desc: str) -> dict:
    return asyncio.run(_direct(backend, numbers, desc))


# -- facts --------------------------------------------------------------------------------------

def machine() -> dict:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
        mem_gb = round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        mem_gb = None
    rasa_py = ROOT / ".venv-rasa" / "bin" / "python"
    out = subprocess.run([str(rasa_py), "-c", "import platform, importlib.metadata as m; "
                          "print(platform.python_version(), m.version('rasa'))"],
                         capture_output=True, text=True, check=False)
    rasa_python, rasa_version = (out.stdout.split() + ["?", "?"])[:2]
    try:
        sdk = importlib.metadata.version("rasa-sdk")
    except importlib.metadata.PackageNotFoundError:
        sdk = "?"
    return {"cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)), "cpu_model": cpu_model,
            "memory_gb": mem_gb, "platform": platform.platform(),
            "python_actions_and_bench": platform.python_version(), "python_rasa": rasa_python,
            "rasa": rasa_version, "rasa_sdk": sdk}


def git_commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or "?"


def knowledge_base(tmp: Path, build: bool, log: Callable[[str], None]) -> Tuple[Path, dict]:
    """The KB index the stacks serve: var/kb when it has one (only read), else one built into tmp."""
    shared = ROOT / "var" / "kb"
    if not build and (shared / "CURRENT").exists():
        version = (shared / "CURRENT").read_text().strip()
        log(f"==> knowledge base: reusing {shared.relative_to(ROOT)} (version {version}, read only)")
        return shared, {"source": "reused var/kb", "version": version}
    from ops.knowledge import ensure_index

    kb_dir = tmp / "kb"
    log(f"==> knowledge base: building into {kb_dir}")
    result = ensure_index(Settings(kb_dir=kb_dir), quiet=True)
    return kb_dir, {"source": "built into the run's temporary dir", "version": result.manifest.version}


# -- main ---------------------------------------------------------------------------------------

def phase(name: str, settings: Settings, model: Path, secret: str, turns: Sequence[Tuple[Order, str]],
          warmup: Sequence[Tuple[Order, str]], numbers: Sequence[str], log: Callable[[str], None],
          api_log: Optional[Path] = None) -> dict:
    from orders.factory import ensure_seeded

    settings = replace(settings, rasa_port=free_port(), action_port=free_port(), web_port=free_port())
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    settings.validate()
    ensure_seeded(settings)  # the embedded DB (sqlite phase); a no-op for http
    log(f"==> [{name}] starting the stack (Rasa takes about a minute) in {settings.var_dir}")
    started = time.monotonic()
    with running_stack(settings, model) as supervisor:
        start_s = round(time.monotonic() - started, 1)
        log(f"==> [{name}] stack up in {start_s} s: Rasa {settings.rasa_url}, actions {settings.action_url}")
        warmup_failures = warm_up(settings.rasa_url, secret, warmup, name)
        offset = api_log.stat().st_size if api_log else 0
        load_before = [round(x, 2) for x in os.getloadavg()]
        result = run_turns(settings.rasa_url, secret, turns, name)
        # 1-minute load average well above ~1 (this run's own load) means other work shared the CPUs
        result["load_average_before_after_turns"] = [load_before, [round(x, 2) for x in os.getloadavg()]]
        timed = result.pop("_timed")
        result["warmup_turns"], result["warmup_failures"] = len(warmup), warmup_failures
        if api_log:
            time.sleep(0.5)  # the access log line is written after the response
            result["order_api_calls_per_turn"] = api_calls(api_log, offset, len(turns))
        result["nlu_parse_ms"] = nlu_parse(settings, turns, name)
        result["turn_steps"] = turn_steps(settings, timed, name)
        gone = supervisor.exited()
        if gone:
            raise RuntimeError(f"{gone.name} exited during the run:\n{supervisor.log_tail(gone.name)}")
        if name == "sqlite":
            from orders.sqlite_backend import SqliteOrderBackend

            backend_obj = SqliteOrderBackend(settings.order_db)
        else:
            from orders.http_backend import HttpOrderBackend

            backend_obj = HttpOrderBackend(settings.order_api_url, settings.order_api_token,
                                           timeout=settings.order_api_timeout, retries=settings.order_api_retries)
        result["direct_ms"] = direct_calls(backend_obj, numbers, name)
    result["stack_start_s"] = start_s
    return result


def table(results: dict) -> str:
    rows = ["| backend | language | turns timed | p50 ms | p95 ms | p99 ms | mean ms | min ms | max ms | failures |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["backends"].items():
        for lang in ("all", *LANGUAGES):
            s = r["turn_ms"][lang]
            if not s.get("n"):
                continue
            rows.append(f"| {name} | {lang} | {s['n']} | {s['p50']} | {s['p95']} | {s['p99']} | {s['mean']} | "
                        f"{s['min']} | {s['max']} | {r['failures'] if lang == 'all' else ''} |")
    rows += ["", "| backend | part | p50 ms | p95 ms | p99 ms | mean ms |", "|---|---|---:|---:|---:|---:|"]
    for name, r in results["backends"].items():
        s = r["nlu_parse_ms"]["all"]
        rows.append(f"| {name} | NLU alone (/model/parse) | {s['p50']} | {s['p95']} | {s['p99']} | {s['mean']} |")
        for call in ("get_order", "logistics", "get_order+logistics"):
            s = r["direct_ms"][call]
            rows.append(f"| {name} | direct {call} | {s['p50']} | {s['p95']} | {s['p99']} | {s['mean']} |")
    for name, r in results["backends"].items():
        steps = r.get("turn_steps") or {}
        if steps:
            rows += ["", f"{name}: turn steps from Rasa's event timestamps ({steps['turns_counted']} turns; "
                     "each step = policy prediction + running the action), p50 / p95 ms:"]
            rows += [f"  {step['step']}: {step['p50']} / {step['p95']}" for step in steps["steps_ms"]]
            pred = steps["policy_prediction_alone_ms"]
            rows.append(f"  (one policy prediction alone, /predict: {pred.get('p50')} / {pred.get('p95')})")
        if r.get("order_api_calls_per_turn"):
            calls = ", ".join(f"{route} x{n}" for route, n in r["order_api_calls_per_turn"].items())
            rows += ["", f"{name}: order API requests per turn: {calls}"]
    if "ratio_http_over_sqlite" not in results:
        return "\n".join(rows)
    rows += ["", "| http / sqlite | p50 | p95 |", "|---|---:|---:|"]
    for key, label in (("turn", "turn (all)"), ("turn_zh", "turn zh"), ("turn_en", "turn en"),
                       ("direct", "direct get_order+logistics")):
        ratios = results["ratio_http_over_sqlite"]
        rows.append(f"| {label} | {ratios[key]['p50']} | {ratios[key]['p95']} |")
    return "\n".join(rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.orders.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200, help="timed turns per backend (default 200)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the order picks (default 7)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "orders" / "results.json"))
    parser.add_argument("--backends", nargs="+", choices=("sqlite", "http"), default=["sqlite", "http"])
    parser.add_argument("--build-kb", action="store_true",
                        help="build the knowledge-base index into the temporary dir even if var/kb has one")
    args = parser.parse_args(argv)
    if args.turns < 1:
        parser.error("--turns must be at least 1")

    def log(text: str) -> None:
        tqdm.write(text, file=sys.stderr)

    # Ctrl-C and SIGTERM both unwind through the finally blocks, which stop every process started here.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from ops.training import ensure_model

    model = ensure_model()
    orders = shipped_orders()
    turns = plan(orders, args.turns, args.seed)
    warmup = plan(orders, WARMUP_TURNS, args.seed + 1)
    numbers = [order.number for order, _ in turns]
    secret = secrets.token_urlsafe(32)
    results: dict = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.orders.latency", *(argv if argv is not None else sys.argv[1:])]),
        "commit": git_commit(), "model": model.name, "machine": machine(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "turns_per_backend": args.turns, "warmup_turns": WARMUP_TURNS, "seed": args.seed,
        "orders_in_pool": len(orders),
        "messages": {lang: MESSAGES[lang].format(number="<number>") for lang in LANGUAGES},
        "backends": {},
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-orders-"))
    try:
        kb_dir, results["knowledge_base"] = knowledge_base(tmp, args.build_kb, log)
        base = Settings(kb_dir=kb_dir, identity_secret=secret)
        for name in args.backends:
            settings = replace(base, var_dir=tmp / name)
            if name == "sqlite":
                results["backends"][name] = phase(name, settings, model, secret, turns, warmup, numbers, log)
            else:
                api_token = secrets.token_urlsafe(32)
                api_dir = tmp / "order-api"
                api_dir.mkdir()
                with order_api(api_dir, api_token) as (url, api_log):
                    log(f"==> [http] order API (python -m orders serve) up at {url}")
                    results["backends"][name] = phase(
                        name, replace(settings, order_backend="http", order_api_url=url, order_api_token=api_token),
                        model, secret, turns, warmup, numbers, log, api_log=api_log)
            r = results["backends"][name]
            log(f"==> [{name}] turn p50 {r['turn_ms']['all'].get('p50')} ms, p95 {r['turn_ms']['all'].get('p95')} "
                f"ms, failures {r['failures']}/{r['turns']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if set(results["backends"]) == {"sqlite", "http"}:
        s, h = results["backends"]["sqlite"], results["backends"]["http"]
        results["ratio_http_over_sqlite"] = {
            key: {q: ratio(hs.get(q), ss.get(q)) for q in ("p50", "p95")}
            for key, hs, ss in (("turn", h["turn_ms"]["all"], s["turn_ms"]["all"]),
                                ("turn_zh", h["turn_ms"]["zh"], s["turn_ms"]["zh"]),
                                ("turn_en", h["turn_ms"]["en"], s["turn_ms"]["en"]),
                                ("direct", h["direct_ms"]["get_order+logistics"],
                                 s["direct_ms"]["get_order+logistics"]))}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"==> wrote {out}")
    if results["backends"]:
        print(table(results))
    failures = sum(r["failures"] for r in results["backends"].values())
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # every process was already stopped by the finally blocks
        print("interrupted: every process started was stopped, nothing written", file=sys.stderr)
        sys.exit(130)
