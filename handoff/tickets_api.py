"""Tickets over HTTP (handoff/ticket_service.py has the rules, docs/tickets.md the whole story).

Agents and supervisors (session), in the console's Tickets page:
- `GET  /api/tickets/config` categories (department, due time) and departments
- `GET  /api/tickets?status=open,in_progress&department=technical&mine=1&overdue=1`
- `POST /api/tickets` `{"conversation_id": 12, "category": "technical", "subject": "...", "note": "..."}`
- `GET  /api/tickets/{number}` the ticket, its history and its conversation
- `POST /api/tickets/{number}/status` `{"status": "waiting_customer", "text": "the question"}`
- `POST /api/tickets/{number}/replies` `{"text": ...}` (to the customer), `/notes` (internal),
  `/assign` `{"agent_id": ...}`, `/category` `{"category": ...}`

The bot (service token), for the customer's side: `POST /api/tickets/customer-message` (an answer to a
question of the ticket) and `POST /api/tickets/csat` (the follow-up rating), both
`{"sender_id", "customer_id"?, "number", ...}`; a number that is not the caller's customer's is 404; and
`POST /api/tickets/lookup` `{"sender_id", "customer_id"?, "number"?, "language"}` → `{"text"}`: what the
customer asking about their ticket(s) reads (only their own).

Registered by `handoff.app.build_app` with `tickets_api.register(app, settings)`.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from common.settings import ConfigError, Settings
from handoff import app as core
from handoff import routing
from handoff.hours import parse_offset
from handoff.ticket_service import NoSuchTicket, TicketService
from handoff.ticket_store import TicketStore
from tickets import config as ticket_config
from tickets.model import STATUSES, Ticket, parse_number

logger = logging.getLogger(__name__)

TICKETS = web.AppKey("tickets", TicketService)
HOUSEKEEPING_SECONDS = 15.0


def _ticket_id(request: web.Request) -> int:
    found = parse_number(request.match_info["number"])
    if found is None or found >= 2 ** 63:
        raise NoSuchTicket("no such ticket")
    return found


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "") in ("1", "true", "yes")


async def config(request: web.Request) -> web.Response:
    core._agent(request)
    return web.json_response(request.app[TICKETS].config.as_dict())


async def listing(request: web.Request) -> web.Response:
    agent = core._agent(request)
    service = request.app[TICKETS]
    statuses = tuple(s for s in request.query.get("status", "").split(",") if s)
    found = service.visible(agent["id"], statuses, request.query.get("department") or None,
                            mine=_flag(request, "mine"), overdue=_flag(request, "overdue"))
    return web.json_response({"tickets": [service.view(t) for t in found]})


async def create(request: web.Request) -> web.Response:
    agent = core._agent(request)
    body = await core._body(request)
    conversation_id = body.get("conversation_id")
    if not isinstance(conversation_id, int) or isinstance(conversation_id, bool) or not 0 < conversation_id < 2 ** 63:
        raise ValueError("'conversation_id' must be the conversation's number")
    category = core._text(body, "category", limit=64)
    subject = core._text(body, "subject", required=False, limit=200)
    note = core._text(body, "note", required=False) or ""
    service = request.app[TICKETS]
    ticket = service.create(agent["id"], conversation_id, category, subject, note)
    request.app[core.WORKER].wake()
    return web.json_response({"ticket": service.view(ticket)}, status=201)


async def detail(request: web.Request) -> web.Response:
    agent = core._agent(request)
    service = request.app[TICKETS]
    ticket = service.get(agent["id"], _ticket_id(request))
    store = request.app[core.STORE]
    conversation = store.get(ticket.conversation_id)
    return web.json_response({
        "ticket": service.view(ticket), "events": [service.event_view(e) for e in service.tickets.events(ticket.id)],
        "conversation": request.app[core.SERVICE].view(conversation) if conversation else None,
        "summary": conversation.summary if conversation else None,
        "messages": [core._message_view(m) for m in store.messages(ticket.conversation_id)]})


async def set_status(request: web.Request) -> web.Response:
    agent = core._agent(request)
    body = await core._body(request)
    status = body.get("status")
    if status not in STATUSES:
        raise ValueError(f"'status' must be one of {', '.join(STATUSES)}")
    text = core._text(body, "text", required=False) or ""
    service = request.app[TICKETS]
    ticket = service.set_status(agent["id"], _ticket_id(request), status, text)
    request.app[core.WORKER].wake()
    return web.json_response({"ticket": service.view(ticket)})


async def reply(request: web.Request) -> web.Response:
    agent = core._agent(request)
    body = await core._body(request)
    service = request.app[TICKETS]
    event = service.reply(agent["id"], _ticket_id(request), core._text(body, "text"))
    request.app[core.WORKER].wake()
    return web.json_response({"event": service.event_view(event)}, status=201)


async def note(request: web.Request) -> web.Response:
    agent = core._agent(request)
    body = await core._body(request)
    service = request.app[TICKETS]
    event = service.note(agent["id"], _ticket_id(request), core._text(body, "text"))
    return web.json_response({"event": service.event_view(event)}, status=201)


async def assign(request: web.Request) -> web.Response:
    agent = core._agent(request)
    body = await core._body(request)
    service = request.app[TICKETS]
    ticket = service.assign(agent["id"], _ticket_id(request), core._text(body, "agent_id", limit=64))
    return web.json_response({"ticket": service.view(ticket)})


async def recategorize(request: web.Request) -> web.Response:
    agent = core._agent(request)
    body = await core._body(request)
    service = request.app[TICKETS]
    ticket = service.recategorize(agent["id"], _ticket_id(request), core._text(body, "category", limit=64))
    return web.json_response({"ticket": service.view(ticket)})


# --- the bot's side ----------------------------------------------------------------------------------
def _customer(body: dict) -> tuple:
    customer_id = body.get("customer_id")
    if customer_id is not None and (not isinstance(customer_id, str) or len(customer_id) > 128):
        raise ValueError("'customer_id' must be a string")
    return core._text(body, "sender_id", limit=200), customer_id or None, core._text(body, "number", limit=20)


async def customer_message(request: web.Request) -> web.Response:
    core._bot(request)
    body = await core._body(request)
    sender_id, customer_id, number = _customer(body)
    service = request.app[TICKETS]
    ticket = service.customer_message(number, sender_id, customer_id, core._text(body, "text"))
    # `due`: when the customer will hear back (moved on by the wait their answer ended), for the bot to say
    return web.json_response({"ticket": {"number": ticket.number, "status": ticket.status,
                                         "due": service.due_texts(ticket)}})


async def customer_csat(request: web.Request) -> web.Response:
    core._bot(request)
    body = await core._body(request)
    sender_id, customer_id, number = _customer(body)
    score = body.get("score")
    if isinstance(score, str) and score.strip().isdigit():
        score = int(score)
    comment = body.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > 4000:
        raise ValueError("'comment' must be a string of at most 4000 characters")
    service = request.app[TICKETS]
    ticket = service.customer_csat(number, sender_id, customer_id, score, comment.strip())
    return web.json_response({"ticket": {"number": ticket.number, "status": ticket.status}})


async def customer_lookup(request: web.Request) -> web.Response:
    """What the customer asking about their ticket(s) reads, rendered in their language."""
    core._bot(request)
    body = await core._body(request)
    customer_id = body.get("customer_id")
    if customer_id is not None and (not isinstance(customer_id, str) or len(customer_id) > 128):
        raise ValueError("'customer_id' must be a string")
    number = core._text(body, "number", required=False, limit=20)
    text, awaiting = request.app[TICKETS].customer_lookup_answer(
        core._text(body, "sender_id", limit=200), customer_id or None, str(body.get("language") or "zh"), number)
    # `awaiting`: the ticket the customer's next message answers (the one shown that waits on them)
    return web.json_response({"text": text, "awaiting": awaiting})


# --- wiring -------------------------------------------------------------------------------------------
class _TicketGauges(Collector):
    """Open tickets by department and status, and overdue ones by department, read at scrape time."""

    def __init__(self, service: TicketService) -> None:
        self.service = service

    def describe(self):
        return []

    def collect(self):
        service = self.service
        open_tickets = GaugeMetricFamily("cs_tickets", "Tickets not closed, by department and status",
                                         labels=["department", "status"])
        overdue = GaugeMetricFamily("cs_tickets_overdue", "Tickets past their due time and not resolved, by "
                                    "department", labels=["department"])
        now = service.clock()
        found = service.tickets.listing(STATUSES[:-1], limit=100000)
        for department in service.config.departments:
            mine = [t for t in found if t.department == department]
            for status in STATUSES[:-1]:
                open_tickets.add_metric([department, status], sum(1 for t in mine if t.status == status))
            overdue.add_metric([department], sum(1 for t in mine if t.overdue(now)))
        return [open_tickets, overdue]


def _emitter(app: web.Application):
    def emit(ticket: Ticket) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # outside the server (CLI use): nobody is listening
        service = app[TICKETS]
        core._broadcast(app, {"type": "ticket", "ticket": service.view(ticket)},
                        lambda agent: agent["role"] in ("agent", "supervisor") and service.may_see(agent, ticket))
    return emit


async def _housekeeping(app: web.Application) -> None:
    while True:
        try:
            app[TICKETS].housekeeping()  # a few indexed queries, in the loop like the handoff housekeeping
            app[core.WORKER].wake()
        except Exception:  # noqa: BLE001 - the next round tries again
            logger.exception("ticket housekeeping failed")
        await asyncio.sleep(HOUSEKEEPING_SECONDS)


def register(app: web.Application, settings: Settings) -> None:
    skills = {q.skill for q in routing.DEFAULT_QUEUES.values()}
    try:
        loaded = ticket_config.load(settings.tickets_path, parse_offset(settings.handoff_utc_offset), skills)
    except ticket_config.TicketConfigError as exc:
        raise ConfigError(f"tickets ({settings.tickets_path}): {exc}") from None
    prometheus = app[core.PROMETHEUS]
    created = Counter("cs_tickets_created", "Tickets opened from conversations, by category", ("category",),
                      registry=prometheus.registry)
    flagged = Counter("cs_tickets_flagged_overdue", "Tickets that went past their due time, each counted once",
                      ("department",), registry=prometheus.registry)
    for name, category in loaded.categories.items():
        created.labels(name)
        flagged.labels(category.department)

    def observe(kind: str, ticket: Ticket) -> None:
        (created.labels(ticket.category) if kind == "created" else flagged.labels(ticket.department)).inc()

    service = TicketService(app[core.SERVICE], TicketStore(app[core.STORE]), loaded, emit=_emitter(app),
                            observe=observe)
    app[TICKETS] = service
    prometheus.registry.register(_TicketGauges(service))

    worker = app[core.WORKER]
    delivered_before, refused_before = worker.delivered, worker.undeliverable

    def mark_notice(item, mark) -> None:
        """A ticket notice's history event gets `mark` and consoles showing the ticket are told."""
        event_id = item.entities.get("ticket_event")
        if event_id and str(event_id).isdigit():
            mark(int(event_id))
            ticket_id = parse_number(str(item.entities.get("ticket_number") or ""))
            ticket = service.tickets.get(ticket_id) if ticket_id else None
            if ticket is not None:
                service.emit(ticket)

    def delivered(item) -> None:  # the history shows when the customer's notice went out
        delivered_before(item)
        mark_notice(item, service.tickets.delivered)

    def undeliverable(item, refusal) -> None:  # ... or that it never will, and why
        refused_before(item, refusal)
        mark_notice(item, lambda event_id: service.tickets.undeliverable(event_id, refusal.reason))

    worker.delivered, worker.undeliverable = delivered, undeliverable

    tasks = []

    async def start(app: web.Application) -> None:
        tasks.append(asyncio.get_running_loop().create_task(_housekeeping(app)))

    async def stop(app: web.Application) -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    app.router.add_get("/api/tickets/config", config)
    app.router.add_post("/api/tickets/customer-message", customer_message)
    app.router.add_post("/api/tickets/csat", customer_csat)
    app.router.add_post("/api/tickets/lookup", customer_lookup)
    app.router.add_get("/api/tickets", listing)
    app.router.add_post("/api/tickets", create)
    app.router.add_get("/api/tickets/{number}", detail)
    app.router.add_post("/api/tickets/{number}/status", set_status)
    app.router.add_post("/api/tickets/{number}/replies", reply)
    app.router.add_post("/api/tickets/{number}/notes", note)
    app.router.add_post("/api/tickets/{number}/assign", assign)
    app.router.add_post("/api/tickets/{number}/category", recategorize)
