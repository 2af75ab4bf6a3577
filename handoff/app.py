"""The handoff service over HTTP: the bot's intake (token-protected), the agent console's REST API
(session cookie), a WebSocket of live updates, the console page itself, and the OpenAPI document.

Plain aiohttp handlers; the rules live in handoff/service.py, the state in handoff/store.py, the
way to the customer in handoff/delivery.py.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
import statistics
import time
import weakref
from collections import Counter
from pathlib import Path
from typing import Optional

from aiohttp import WSMsgType, web

from common.prometheus import AiohttpLatency, aiohttp_metrics_handler
from common.ratelimit import TokenBuckets, client_ip, parse_proxies, retry_after_header
from common.secrets import handoff_service_token, rasa_api_token
from common.settings import ROOT, Settings
from handoff import auth, editor_api, routing
from handoff.canned import as_dicts, load_canned
from handoff.delivery import DeliveryWorker
from handoff.hours import business_hours
from handoff.prometheus import HandoffMetrics
from handoff.rasa_client import RasaClient
from handoff.service import Event, HandoffService, Intake, NotAllowed, ServiceConfig, ref
from handoff.store import HandoffStore, StoreError
from handoff.ticket_service import NoSuchTicket
from handoff.unanswered_api import UnansweredFinder
from handoff.unanswered_api import add_routes as add_unanswered_routes

logger = logging.getLogger(__name__)

CONSOLE_DIR = Path(__file__).parent / "console"
OPENAPI = Path(__file__).parent / "openapi.yaml"
COOKIE = "cs_session"
STATES = ("queued", "offered", "active", "closed", "returned", "ticket")
SERVICE = web.AppKey("service", HandoffService)
STORE = web.AppKey("store", HandoffStore)
SOCKETS = web.AppKey("sockets", weakref.WeakKeyDictionary)
WORKER = web.AppKey("worker", DeliveryWorker)
TOKEN = web.AppKey("token", str)
CANNED = web.AppKey("canned", list)
TASKS = web.AppKey("tasks", list)
PROMETHEUS = web.AppKey("prometheus", HandoffMetrics)
LOGIN_IPS = web.AppKey("login_ips", TokenBuckets)
PROXIES = web.AppKey("proxies", frozenset)
LOGIN_LIMIT, LOGIN_LOCK_SECONDS = 5, 300


# --- errors and bodies ---------------------------------------------------------------------------
def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _storage_down_errors() -> tuple:
    """The database is unreachable or busy (SQLite locked past its busy timeout, PostgreSQL down or
    restarting): worth a retry, unlike a bug."""
    import sqlite3

    found = [sqlite3.OperationalError]
    try:
        import psycopg

        found.append(psycopg.OperationalError)
    except ImportError:  # PostgreSQL support not installed
        pass
    return tuple(found)


STORAGE_DOWN = _storage_down_errors()


@web.middleware
async def errors(request: web.Request, handler):
    try:
        return await handler(request)
    except STORAGE_DOWN as exc:
        # a clean "try again" (the bot's outbox and the console retry), not a 500 page; recovers by itself
        logger.error("storage unavailable", extra={"path": request.path, "error": f"{type(exc).__name__}: {exc}"})
        return web.json_response({"error": "storage unavailable, try again shortly"}, status=503,
                                 headers={"Retry-After": "5"})
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return _error(exc.status, exc.reason)
        raise
    except NotAllowed as exc:
        return _error(403, str(exc))
    except NoSuchTicket as exc:
        return _error(404, str(exc))
    except StoreError as exc:
        return _error(409, str(exc))
    except ValueError as exc:
        return _error(400, str(exc))


async def _body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("the body must be JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _text(body: dict, key: str, required: bool = True, limit: int = 4000) -> Optional[str]:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"'{key}' must be a non-empty string")
    if len(value) > limit:
        raise ValueError(f"'{key}' is longer than {limit} characters")
    return value.strip()


# --- who is calling --------------------------------------------------------------------------------
def _bot(request: web.Request) -> None:
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not given or not hmac.compare_digest(given.encode(), request.app[TOKEN].encode()):
        raise web.HTTPUnauthorized(reason="this endpoint needs the service token")


def _session_token(request: web.Request) -> Optional[str]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def _account(request: web.Request) -> dict:
    """Whoever is logged in: agent, supervisor or editor."""
    store = request.app[STORE]
    agent_id = auth.session_agent(store, _session_token(request))
    row = store.agent_row(agent_id) if agent_id else None
    if row is None:
        raise web.HTTPUnauthorized(reason="please log in (the session is missing or expired)")
    return row


def _agent(request: web.Request) -> dict:
    """An agent or supervisor: editors (FAQ only) never read or answer customers' conversations."""
    row = _account(request)
    if row["role"] not in ("agent", "supervisor"):
        raise web.HTTPForbidden(reason="this account edits the knowledge base; conversations are for agents")
    return row


def _agent_view(store: HandoffStore, row: dict, held: Optional[int] = None) -> dict:
    if held is None:
        held = next((a.active for a in store.agents() if a.id == row["id"]), 0)
    return {"id": row["id"], "name": row["name"], "role": row["role"], "skills": row["skills"],
            "capacity": row["capacity"], "status": row["status"], "active": held}


def _conversation_id(request: web.Request) -> int:
    try:
        number = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(reason="no such conversation") from None
    if not 0 < number < 2 ** 63:  # beyond SQLite's and PostgreSQL's integers: none such
        raise web.HTTPNotFound(reason="no such conversation")
    return number


# --- bot-facing ---------------------------------------------------------------------------------
async def open_handoff(request: web.Request) -> web.Response:
    _bot(request)
    body = await _body(request)
    summary = body.get("summary") or {}
    intents = body.get("intents") or []
    if not isinstance(summary, dict) or not isinstance(intents, list):
        raise ValueError("'summary' must be an object and 'intents' a list")
    intake = Intake(sender_id=_text(body, "sender_id", limit=200), channel=_text(body, "channel", limit=50),
                    language="en" if body.get("language") == "en" else "zh", reason=_text(body, "reason"),
                    summary=summary, intents=[str(i) for i in intents], customer_id=body.get("customer_id"),
                    tier=body.get("tier") or "normal", order_task=body.get("order_task"),
                    segment=body.get("segment"), request_id=_text(body, "request_id", required=False, limit=100))
    service = request.app[SERVICE]
    opened = service.open(intake)
    request.app[WORKER].wake()
    return web.json_response({"conversation": service.view(opened.conversation), "ref": ref(opened.conversation.id),
                              "position": opened.position, "eta_seconds": opened.eta_seconds,
                              "ticket": opened.ticket, "existing": opened.existing},
                             status=200 if opened.existing else 201)


async def relay(request: web.Request) -> web.Response:
    _bot(request)
    body = await _body(request)
    conversation = request.app[SERVICE].relay(_text(body, "sender_id", limit=200), _text(body, "text"),
                                              ticket=body.get("ticket") is True)
    if conversation is None:
        return _error(404, "this customer has no conversation with people")
    return web.json_response({"conversation": request.app[SERVICE].view(conversation)})


async def csat(request: web.Request) -> web.Response:
    _bot(request)
    body = await _body(request)
    score = body.get("score")
    if isinstance(score, str) and score.strip().isdigit():
        score = int(score)
    conversation_id = body.get("handoff_id")
    try:
        conversation_id = int(conversation_id)
    except (TypeError, ValueError, OverflowError):
        raise ValueError("'handoff_id' must be the conversation's number") from None
    if not 0 < conversation_id < 2 ** 63:
        raise ValueError("'handoff_id' must be the conversation's number")
    request.app[SERVICE].record_csat(conversation_id, score, str(body.get("comment") or ""))
    return web.json_response({"ok": True})


# --- agent-facing ---------------------------------------------------------------------------------
def _too_many(message: str, wait: float) -> web.Response:
    response = _error(429, message)
    response.headers["Retry-After"] = retry_after_header(wait)
    return response


async def login(request: web.Request) -> web.Response:
    """Refused with 429 + Retry-After after LOGIN_LIMIT failures for an account (for LOGIN_LOCK_SECONDS)
    or too many failures from one address (CS_RATE_LOGIN_IP_*; successful logins cost nothing)."""
    address = client_ip(request.remote, request.headers.get("X-Forwarded-For"), request.app[PROXIES])
    allowed, wait = request.app[LOGIN_IPS].check(address)
    if not allowed:
        logger.warning("login refused: too many failures from this address")
        return _too_many("too many failed logins from this address; try again later", wait)
    body = await _body(request)
    agent_id, password = body.get("agent_id"), body.get("password")
    if not isinstance(agent_id, str) or not agent_id or len(agent_id) > 64 or "\x00" in agent_id:
        raise ValueError("'agent_id' must be a string of 1-64 characters")
    if not isinstance(password, str) or len(password) > 1024:
        raise ValueError("'password' must be a string of at most 1024 characters")
    store = request.app[STORE]
    loop = asyncio.get_running_loop()
    # the account's failures are counted in the store: every service of the layout sees them
    locked = await loop.run_in_executor(None, store.login_lock_left, agent_id, LOGIN_LIMIT, LOGIN_LOCK_SECONDS)
    if locked > 0:
        return _too_many("too many failed logins; try again in a few minutes", locked)
    session = await loop.run_in_executor(None, auth.login, store, agent_id, password)
    if session is None:
        request.app[LOGIN_IPS].take(address)
        await loop.run_in_executor(None, store.login_failed, agent_id, LOGIN_LOCK_SECONDS)
        logger.warning("failed login", extra={"agent": agent_id[:40]})
        return _error(401, "wrong agent id or password")
    await loop.run_in_executor(None, store.login_succeeded, agent_id)
    token, expires = session
    response = web.json_response({"agent": _agent_view(store, store.agent_row(agent_id))})
    response.set_cookie(COOKIE, token, max_age=int(expires - time.time()), httponly=True, samesite="Strict",
                        path="/")
    logger.info("login", extra={"agent": agent_id})
    return response


async def logout(request: web.Request) -> web.Response:
    token = _session_token(request)
    if token:
        store = request.app[STORE]
        agent_id = auth.session_agent(store, token)
        auth.logout(store, token)
        await _close_sockets(request.app, lambda session: session == auth.token_hash(token))
        if agent_id and not store.has_session(agent_id):
            request.app[SERVICE].set_status(agent_id, "offline")  # nobody at the desk: no more offers
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    return web.json_response({"agent": _agent_view(request.app[STORE], _account(request))})


async def set_status(request: web.Request) -> web.Response:
    agent = _agent(request)
    body = await _body(request)
    request.app[SERVICE].set_status(agent["id"], str(body.get("status")))
    request.app[WORKER].wake()
    store = request.app[STORE]
    view = _agent_view(store, store.agent_row(agent["id"]))
    _broadcast(request.app, {"type": "agent", "agent": view}, lambda a: a["role"] == "supervisor")
    return web.json_response({"agent": view})


async def queues(request: web.Request) -> web.Response:
    agent = _agent(request)
    store = request.app[STORE]
    agents = []
    if agent["role"] == "supervisor":
        held = {a.id: a.active for a in store.agents()}
        agents = [_agent_view(store, row, held.get(row["id"], 0)) for row in store.agent_directory()]
    return web.json_response({"queues": request.app[SERVICE].queue_stats(), "agents": agents})


async def conversations(request: web.Request) -> web.Response:
    agent = _agent(request)
    wanted = tuple(s for s in request.query.get("state", "queued,offered,active").split(",") if s)
    unknown = set(wanted) - set(STATES)
    if unknown:
        raise ValueError(f"unknown state(s) {sorted(unknown)}; states: {', '.join(STATES)}")
    service = request.app[SERVICE]
    places = routing.positions(service.store.waiting(), service.config.queues)
    found = service.visible(agent, wanted)
    if set(wanted) & {"closed", "returned"}:
        found = found[-200:]
    return web.json_response({"conversations": [service.view(c, places) for c in found]})


def _message_view(message) -> dict:
    return {"id": message.id, "direction": message.direction, "text": message.text, "agent_id": message.agent_id,
            "created_at": message.created_at, "delivered_at": message.delivered_at, "failed_at": message.failed_at,
            "failure": message.failure}


async def conversation(request: web.Request) -> web.Response:
    agent = _agent(request)
    service = request.app[SERVICE]
    found = service.store.get(_conversation_id(request))
    if found is None or not service.may_see(agent, found):
        raise web.HTTPNotFound(reason="no such conversation in your queues")
    return web.json_response({"conversation": service.view(found), "summary": found.summary,
                              "messages": [_message_view(m) for m in service.store.messages(found.id)],
                              "csat": _csat(service.store, found.id)})


def _csat(store: HandoffStore, conversation_id: int) -> Optional[dict]:
    row = store.csat(conversation_id)
    return {"score": row[0], "comment": row[1]} if row else None


async def accept(request: web.Request) -> web.Response:
    agent = _agent(request)
    result = request.app[SERVICE].accept(_conversation_id(request), agent["id"])
    request.app[WORKER].wake()
    return web.json_response({"conversation": request.app[SERVICE].view(result)})


async def decline(request: web.Request) -> web.Response:
    agent = _agent(request)
    result = request.app[SERVICE].decline(_conversation_id(request), agent["id"])
    return web.json_response({"conversation": request.app[SERVICE].view(result)})


async def send_message(request: web.Request) -> web.Response:
    agent = _agent(request)
    body = await _body(request)
    message = request.app[SERVICE].reply(_conversation_id(request), agent["id"], _text(body, "text"))
    request.app[WORKER].wake()
    return web.json_response({"message": _message_view(message)}, status=201)


async def transfer(request: web.Request) -> web.Response:
    agent = _agent(request)
    body = await _body(request)
    queue, to_agent = body.get("queue"), body.get("agent_id")
    if not queue and not to_agent:
        raise ValueError("give 'queue' or 'agent_id'")
    result = request.app[SERVICE].transfer(_conversation_id(request), agent["id"], queue=queue or None,
                                           to_agent=to_agent or None)
    request.app[WORKER].wake()
    return web.json_response({"conversation": request.app[SERVICE].view(result)})


async def resolve(request: web.Request) -> web.Response:
    agent = _agent(request)
    body = await _body(request)
    outcome = body.get("outcome")
    if outcome not in ("close", "bot"):
        raise ValueError("'outcome' must be 'close' (survey the customer) or 'bot' (hand back to the bot)")
    result = request.app[SERVICE].resolve(_conversation_id(request), agent["id"], back_to_bot=outcome == "bot")
    request.app[WORKER].wake()
    return web.json_response({"conversation": request.app[SERVICE].view(result)})


async def canned(request: web.Request) -> web.Response:
    _agent(request)
    return web.json_response({"replies": request.app[CANNED]})


async def metrics(request: web.Request) -> web.Response:
    _agent(request)
    return web.json_response(compute_metrics(request.app[SERVICE]))


def compute_metrics(service: HandoffService) -> dict:
    """Counts by state and queue, first-response times, SLA kept/missed, CSAT (all conversations)."""
    now = service.clock()
    everything = service.store.in_state(*STATES)
    responses = [c.first_response_at - c.created_at for c in everything if c.first_response_at]
    sla = {"met": 0, "missed": 0, "breached": 0}
    for c in everything:
        if c.state == "ticket":
            continue
        state, _ = routing.sla_state(service.config.queues[c.queue], c.created_at, now, c.first_response_at)
        if state in sla:
            sla[state] += 1
    scores = [row[0] for row in (service.store.csat(c.id) for c in everything if c.state == "closed") if row]
    by_state = {s: sum(1 for c in everything if c.state == s) for s in STATES}
    return {"conversations": len(everything), "by_state": by_state,
            "by_reason": dict(Counter(c.reason for c in everything)),
            "by_queue": dict(Counter(c.queue for c in everything)),
            "first_response_seconds": {"median": statistics.median(responses) if responses else None,
                                       "count": len(responses)},
            "sla": sla, "csat": {"count": len(scores), "average": round(statistics.mean(scores), 2) if scores
                                 else None},
            "undelivered": len(service.store.pending_outbox(limit=100000))}


# --- live updates ---------------------------------------------------------------------------------
async def websocket(request: web.Request) -> web.WebSocketResponse:
    agent = _agent(request)
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    # the agent's row as of connecting (role and skills decide what they hear; they change rarely)
    request.app[SOCKETS][ws] = (agent, auth.token_hash(_session_token(request) or ""))
    await ws.send_json({"type": "hello", "agent": _agent_view(request.app[STORE], agent)})
    async for msg in ws:
        if msg.type == WSMsgType.TEXT and msg.data == "ping":
            await ws.send_str("pong")
        elif msg.type == WSMsgType.ERROR:
            break
    request.app[SOCKETS].pop(ws, None)
    return ws


def _broadcast(app: web.Application, payload: dict, who) -> None:
    for ws, (row, _) in list(app[SOCKETS].items()):
        if not ws.closed and who(row):
            asyncio.get_running_loop().create_task(_send(ws, payload))


async def _send(ws: web.WebSocketResponse, payload: dict) -> None:
    try:
        await ws.send_json(payload)
    except (ConnectionResetError, RuntimeError):
        pass


def _hears(service: HandoffService, agent: dict, conversation) -> bool:
    if service.may_see(agent, conversation):
        return True
    # agents who had it or serve its queue hear that it moved on (so their lists update)
    return service.config.queues[conversation.queue].skill in agent["skills"]


def make_emitter(app: web.Application):
    def emit(event: Event) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # outside the server (CLI use): nobody is listening
        service = app[SERVICE]
        if event.kind == "queues":
            _broadcast(app, {"type": "queues"}, lambda a: True)
        elif event.kind == "conversation" and event.conversation is not None:
            view = service.view(event.conversation)
            _broadcast(app, {"type": "conversation", "conversation": view},
                       lambda a: _hears(service, a, event.conversation))
        elif event.kind == "message" and event.conversation is not None and event.message is not None:
            _broadcast(app, {"type": "message", "conversation_id": event.conversation.id,
                             "message": _message_view(event.message)},
                       lambda a: service.may_see(a, event.conversation))
        if app.get(WORKER) is not None:
            app[WORKER].wake()
    return emit


def _delivered(app: web.Application):
    def after(item) -> None:
        app[PROMETHEUS].delivered(item)
        _show_message(app, item)
    return after


def _undeliverable(app: web.Application):
    def after(item, refusal) -> None:
        app[PROMETHEUS].undeliverable(item, refusal)
        _show_message(app, item)
    return after


def _show_message(app: web.Application, item) -> None:
    """Consoles showing the conversation get the message again (delivered, or refused and why)."""
    if item.message_id is None:
        return
    service = app[SERVICE]
    message = service.store.message(item.message_id)
    conversation = service.store.get(item.conversation_id)
    if message and conversation:
        _broadcast(app, {"type": "message", "conversation_id": conversation.id,
                         "message": _message_view(message)}, lambda a: service.may_see(a, conversation))


async def _close_sockets(app: web.Application, which) -> None:
    for ws, (_, session) in list(app[SOCKETS].items()):
        if which(session) and not ws.closed:
            await ws.close(message=b"session ended")


async def _end_expired_sessions(app: web.Application) -> None:
    """Sockets of expired sessions are closed; agents left online without a live session go offline."""
    store = app[STORE]
    await _close_sockets(app, lambda session: store.session_agent(session) is None)
    for agent in store.agents():
        if agent.status == "online" and not store.has_session(agent.id):
            app[SERVICE].set_status(agent.id, "offline")


async def _housekeeping(app: web.Application) -> None:
    """Offers not taken in time go back to the line; consoles refresh SLA counters; missed
    first-response targets are counted (metrics); sessions that expired end."""
    ticks = 0
    while True:
        await asyncio.sleep(2)
        ticks += 1
        try:
            app[SERVICE].expire_offers()
            if ticks % 5 == 0:
                app[SERVICE].check_sla()
                _broadcast(app, {"type": "queues"}, lambda a: True)
                await _end_expired_sessions(app)
        except Exception:  # noqa: BLE001 - keep the loop alive; the next tick retries
            logger.exception("housekeeping failed")


# --- pages --------------------------------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def console_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(CONSOLE_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def root(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


async def openapi(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(OPENAPI, headers={"Content-Type": "application/yaml"})


@web.middleware
async def security_headers(request: web.Request, handler):
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith("/console"):
        response.headers.setdefault("Cache-Control", "no-cache")  # a deploy's new script is used at once
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
                                    "style-src 'self' 'unsafe-inline'; connect-src 'self'")
    return response


# --- wiring ----------------------------------------------------------------------------------------
def service_config(settings: Settings) -> ServiceConfig:
    return ServiceConfig(hours=business_hours(settings.handoff_hours, settings.handoff_utc_offset),
                         offer_seconds=settings.handoff_offer_seconds,
                         average_handle_seconds=settings.handoff_average_handle_seconds,
                         return_seconds=settings.handoff_return_hours * 3600)


def open_store(settings: Settings) -> HandoffStore:
    if settings.handoff_db_url:
        from handoff.pg_store import PostgresHandoffStore  # only when configured

        return PostgresHandoffStore(settings.handoff_db_url)
    return HandoffStore(settings.handoff_db)


def build_app(settings: Settings, store: Optional[HandoffStore] = None) -> web.Application:
    prometheus = HandoffMetrics()
    latency = AiohttpLatency(prometheus.requests)
    app = web.Application(middlewares=[latency.middleware, security_headers, errors], client_max_size=256 * 1024)
    app.on_response_prepare.append(latency.on_response_prepare)
    store = store or open_store(settings)
    app[STORE] = store
    app[PROMETHEUS] = prometheus
    app[SOCKETS] = weakref.WeakKeyDictionary()
    app[TOKEN] = handoff_service_token(settings.var_dir)
    app[CANNED] = as_dicts(load_canned(ROOT / "data" / "handoff" / "canned.yml"))
    app[LOGIN_IPS] = TokenBuckets(settings.rate_limit("login_ip"))
    app[PROXIES] = parse_proxies(settings.trusted_proxies)
    app[SERVICE] = HandoffService(store, service_config(settings), emit=make_emitter(app),
                                  observe=prometheus.observe)
    prometheus.watch(app[SERVICE])
    rasa = RasaClient(settings.rasa_url, rasa_api_token(settings.var_dir))
    app[WORKER] = DeliveryWorker(store, rasa.trigger, delivered=_delivered(app), undeliverable=_undeliverable(app),
                                 owner=f"{socket.gethostname()}:{settings.handoff_port}",  # stable across restarts
                                 lease_seconds=settings.handoff_outbox_lease_seconds)
    if settings.redis_url:  # several services on one database: live updates through Redis (docs/scale-out.md)
        from handoff import fanout

        fanout.install(app, settings.redis_url)

    async def start(app: web.Application) -> None:
        app[WORKER].start()
        app[TASKS] = [asyncio.get_running_loop().create_task(_housekeeping(app))]
        app[SERVICE].check_sla(report=False)  # late before this start: counted by the process before
        app[SERVICE].dispatch()  # whatever waited while the service was down

    async def stop(app: web.Application) -> None:
        for task in app[TASKS]:
            task.cancel()
        await app[WORKER].stop()
        for ws in list(app[SOCKETS]):
            await ws.close()
        await rasa.close()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    app.router.add_get("/health", health)
    # Prometheus, no login: scraped on the internal network; counts only, no personal data
    # (docs/monitoring.md). /api/metrics is the supervisors' JSON summary.
    app.router.add_get("/metrics", aiohttp_metrics_handler(prometheus.registry))
    app.router.add_get("/", root)
    app.router.add_get("/api/openapi.yaml", openapi)
    app.router.add_post("/api/handoffs", open_handoff)
    app.router.add_post("/api/relay", relay)
    app.router.add_post("/api/csat", csat)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_put("/api/me/status", set_status)
    app.router.add_get("/api/queues", queues)
    app.router.add_get("/api/conversations", conversations)
    app.router.add_get("/api/conversations/{id}", conversation)
    app.router.add_post("/api/conversations/{id}/accept", accept)
    app.router.add_post("/api/conversations/{id}/decline", decline)
    app.router.add_post("/api/conversations/{id}/messages", send_message)
    app.router.add_post("/api/conversations/{id}/transfer", transfer)
    app.router.add_post("/api/conversations/{id}/resolve", resolve)
    app.router.add_get("/api/canned", canned)
    app.router.add_get("/api/metrics", metrics)
    from handoff.insight_api import add_insight_routes  # the supervisors' dashboard (it imports this module)
    add_insight_routes(app, settings)
    app.router.add_get("/api/ws", websocket)
    editor_api.register(app, settings)  # /api/kb/*: the FAQ editors' API (handoff/editor_api.py)
    add_unanswered_routes(app, UnansweredFinder(settings, store, app[editor_api.EDITOR].previewer.published),
                          _account)  # editors too
    from handoff.assist_api import register as add_assist  # agent assist: suggestions, orders, sentiment
    add_assist(app, settings)
    from handoff.customers_api import register as add_customers  # profiles, VIP advisors (docs/customers.md)
    add_customers(app, settings)
    from handoff.tickets_api import register as add_tickets  # tickets (docs/tickets.md)
    add_tickets(app, settings)
    app.router.add_get("/console/", console_page)
    app.router.add_get("/console", root)
    app.router.add_static("/console/", CONSOLE_DIR, show_index=False)
    return app
