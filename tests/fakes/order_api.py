"""A faithful local fake of the external order API (docs/order-api.md), with fault injection over HTTP.

The API itself is the reference server `orders.api.create_app` over a real `SqliteOrderBackend` (a
database seeded from the demo fixture), so every answer follows the contract exactly; a middleware in
front of it counts the calls and injects faults, both controlled over HTTP:

    POST /_faults  {"mode": "slow"|"error"|"malformed_json"|"malformed_shape"|"drop"|"none",
                    "delay": 5.0, "status": 503, "code": "injected", "count": 2,
                    "path_prefix": "/v1/orders", "method": "POST", "when": "before"|"after",
                    "field": "status"}
    GET  /_faults  the fault now in force (with `remaining`: matching requests still to affect, null = all)
    GET  /_calls   {path: number of requests seen} (admin routes not counted)
    GET  /_log     the last 1000 requests: [{"method", "path", "idempotency_key", "request_id"}, ...]
    DELETE /_calls forget the counts and the log

- slow: sleep `delay` seconds, then answer normally.
- error: answer `status` with the contract's error body `{"code": code, "message": ...}`.
- malformed_json (alias malformed): 200 with a body that is not JSON.
- malformed_shape: 200 with the real answer minus one required field (`field`, else the first key).
- drop: close the connection without answering.
- `count`: how many of the following matching requests are affected (absent: all of them).
- `path_prefix` / `method`: which requests match (default: every /v1/ request; "/" for /health too).
- `when`: "before" (default) the request reaches the order system; "after": the order system does the
  work and then the answer is lost / delayed / replaced (what makes idempotency keys necessary).

The admin routes need no token. Two ways to run it:

- in-process: `with FakeOrderApi(db_path, now=...) as api: ...` (serves on a free port from a
  background thread with its own event loop; `.url`, `.token`, `.set_faults(...)`, `.calls()`);
- as a process: `python -m tests.fakes.order_api --port P --db PATH --token T [--now ISO]`, which
  seeds the database when it is empty and prints `listening on <url>` once it accepts connections.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sqlite3
import sys
from collections import Counter, deque
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from aiohttp import web

from orders.api import create_app
from orders.fixture import DEFAULT_FIXTURE, load_fixture
from orders.sqlite_backend import SqliteOrderBackend, utc_now
from tests.fakes.server import SHUTDOWN_TIMEOUT, ThreadedServer, admin_request

MODES = ("none", "slow", "error", "malformed_json", "malformed_shape", "drop")
DEFAULT_TOKEN = "fake-order-api-token"


@dataclass
class Fault:
    mode: str = "none"
    delay: float = 0.0
    status: int = 503
    code: str = "injected"
    count: Optional[int] = None  # matching requests still to affect; None = all
    path_prefix: str = "/v1/"  # /health stays healthy unless asked for
    method: Optional[str] = None
    when: str = "before"
    field: Optional[str] = None

    @classmethod
    def parse(cls, data: Any) -> "Fault":
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        fault = cls(**data)
        if fault.mode == "malformed":
            fault.mode = "malformed_json"
        if fault.mode not in MODES:
            raise ValueError(f"mode {fault.mode!r} is not one of {MODES}")
        if fault.when not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'")
        if fault.count is not None and (not isinstance(fault.count, int) or fault.count < 0):
            raise ValueError("count must be a non-negative integer")
        if not isinstance(fault.status, int) or not 100 <= fault.status <= 599:
            raise ValueError("status must be an HTTP status code")
        if not isinstance(fault.delay, (int, float)) or fault.delay < 0:
            raise ValueError("delay must be >= 0 seconds")
        if fault.method is not None:
            fault.method = str(fault.method).upper()
        return fault

    def matches(self, request: web.Request) -> bool:
        return (self.mode != "none" and self.count != 0 and request.path.startswith(self.path_prefix)
                and (self.method is None or request.method == self.method))


class FaultControl:
    """The fault in force and the call counts; lives on the server's event loop (no locking needed)."""

    def __init__(self) -> None:
        self.fault = Fault()
        self.calls: Counter = Counter()
        self.log: deque = deque(maxlen=1000)

    def take(self, request: web.Request) -> Optional[Fault]:
        """The fault that applies to this request (consuming one of `count`), or None."""
        fault = self.fault
        if not fault.matches(request):
            return None
        if fault.count is not None:
            fault.count -= 1
        return fault

    # --- admin routes ---------------------------------------------------------------------------
    async def admin(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/_faults":
            if request.method == "GET":
                return web.json_response({**asdict(self.fault), "remaining": self.fault.count})
            if request.method == "POST":
                try:
                    self.fault = Fault.parse(await request.json())
                except (ValueError, TypeError) as exc:
                    return web.json_response({"code": "bad_request", "message": str(exc)}, status=400)
                return web.json_response(asdict(self.fault))
        if request.path == "/_calls":
            if request.method == "GET":
                return web.json_response(dict(self.calls))
            if request.method == "DELETE":
                self.calls.clear()
                self.log.clear()
                return web.json_response({})
        if request.path == "/_log" and request.method == "GET":
            return web.json_response(list(self.log))
        return web.json_response({"code": "unknown_admin_route", "message": request.path}, status=404)

    # --- the middleware -------------------------------------------------------------------------
    @web.middleware
    async def middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if request.path.startswith("/_"):
            return await self.admin(request)
        self.calls[request.path] += 1
        self.log.append({"method": request.method, "path": request.path,
                         "idempotency_key": request.headers.get("Idempotency-Key"),
                         "request_id": request.headers.get("X-Request-ID")})
        fault = self.take(request)
        if fault is None:
            return await handler(request)
        real: Optional[web.StreamResponse] = None
        if fault.when == "after":
            real = await handler(request)  # the order system did the work; what follows is the answer's fate
        if fault.mode == "slow":
            await asyncio.sleep(fault.delay)
            return real if real is not None else await handler(request)
        if fault.mode == "error":
            return web.json_response({"code": fault.code, "message": f"injected HTTP {fault.status}"},
                                     status=fault.status)
        if fault.mode == "malformed_json":
            return web.Response(status=200, text="<html><body>Bad gateway</body></html>",
                                content_type="text/html")
        if fault.mode == "malformed_shape":
            if real is None:
                real = await handler(request)
            return self._strip(real, fault.field)
        # drop: close the connection without an answer
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=200)

    @staticmethod
    def _strip(response: web.StreamResponse, field: Optional[str]) -> web.StreamResponse:
        body = getattr(response, "body", None)
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return response
        if isinstance(data, dict) and data:
            data.pop(field if field in data else next(iter(data)))
        return web.json_response(data, status=200)


def build_app(db: Path, token: str = DEFAULT_TOKEN, now: Optional[datetime] = None,
              fixture: Path = DEFAULT_FIXTURE) -> tuple[web.Application, FaultControl]:
    """The fake API over `db` (seeded from the fixture when empty; `now`: fixed clock and seeding time)."""
    backend = SqliteOrderBackend(db, clock=(lambda: now) if now is not None else utc_now)
    if backend.is_empty():
        backend.seed(load_fixture(fixture, now=now or utc_now()))
    control = FaultControl()
    return create_app(backend, token, middlewares=(control.middleware,)), control


def seed_database(path: Path, now: Optional[datetime] = None, fixture: Path = DEFAULT_FIXTURE) -> Path:
    """A fresh order database at `path`, seeded from the fixture shifted to `now`."""
    SqliteOrderBackend(path).seed(load_fixture(fixture, now=now or utc_now()))
    return Path(path)


def copy_database(source: Path, target: Path) -> Path:
    """A consistent copy of an order database (SQLite backup API: safe with WAL files around)."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return Path(target)


class FakeOrderApi(ThreadedServer):
    """The fake served in-process on 127.0.0.1 (a free port), from a thread with its own event loop."""
    thread_name, what = "fake-order-api", "the fake order API"

    def __init__(self, db: Path, token: str = DEFAULT_TOKEN, now: Optional[datetime] = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        app, self.control = build_app(Path(db), token, now)
        self._init_server(app, host, port)

    # --- control over HTTP (exactly what a test of a separate process does) ------------------------
    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        return admin_request(self.url, method, path, body)

    def set_faults(self, mode: str = "none", **options: Any) -> Dict[str, Any]:
        return self._admin("POST", "/_faults", {"mode": mode, **options})

    def clear_faults(self) -> Dict[str, Any]:
        return self.set_faults("none")

    def calls(self, path: Optional[str] = None) -> Any:
        """Requests seen per path, or for one path."""
        counts = self._admin("GET", "/_calls")
        return counts if path is None else counts.get(path, 0)

    def requests_seen(self) -> list:
        """The last requests: method, path, Idempotency-Key and X-Request-ID headers."""
        return self._admin("GET", "/_log")

    def reset_calls(self) -> None:
        self._admin("DELETE", "/_calls")



async def _serve(args: argparse.Namespace) -> None:
    now = datetime.fromisoformat(args.now) if args.now else None
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    app, _ = build_app(Path(args.db), args.token, now, Path(args.fixture))
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    host, port = runner.addresses[0][:2]
    print(f"listening on http://{host}:{port}", flush=True)  # ready: and a SIGTERM from now on stops cleanly
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.order_api", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--db", required=True, help="SQLite file; seeded from the fixture when empty")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--now", default="", help="fixed clock (ISO 8601) for seeding and writes; default: real time")
    parser.add_argument("--fixture", default=str(DEFAULT_FIXTURE))
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token must not be empty")
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
