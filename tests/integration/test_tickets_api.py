"""Tickets over real HTTP and the WebSocket (handoff/tickets_api.py) on the real handoff service app,
served on a free port (as tests/integration/test_assist_api.py does), on SQLite and on a fresh PostgreSQL
database; customers' notices go to tests/fakes/rasa_api.FakeRasa through the service's own outbox
delivery. Agents log in with sessions; the bot's routes take the service token.

The tickets file is the shipped one plus a category `urgent` due in 2 seconds, and the ticket
housekeeping runs every 0.3 s, so that a ticket goes overdue while the test watches."""
from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Optional

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from common.settings import ROOT, Settings
from common.undeliverable import ChannelRefused, Refusal
from handoff import tickets_api
from handoff.app import build_app
from handoff.auth import hash_password
from handoff.hours import parse_offset
from tests.conftest import free_port
from tests.fakes.rasa_api import FakeRasa
from tests.fakes.server import ThreadedServer
from tests.integration.console_client import ConsoleClient
from tickets import texts as ticket_texts

PASSWORD = "tickets-api-test-password"  # test-only
RASA_TOKEN = "tickets-test-rasa-token-0123456789"  # test-only
WAIT = 15.0
AGENT_MSG, ENDED = "EXTERNAL_agent_message", "EXTERNAL_handoff_ended"
URGENT_SECONDS = 2.0


class Service(ThreadedServer):
    thread_name = "handoff-service"
    what = "the handoff service"

    def __init__(self, settings: Settings, store, rasa: FakeRasa) -> None:
        self._init_server(build_app(settings, store))
        self.settings = settings
        self.store = store
        self.rasa = rasa
        self.token = (settings.var_dir / "secrets" / "handoff_service_token").read_text().strip()


def _tickets_file(path):
    raw = yaml.safe_load((ROOT / "data" / "handoff" / "tickets.yml").read_text(encoding="utf-8"))
    raw["categories"]["urgent"] = {"department": "general", "due": {"hours": URGENT_SECONDS / 3600},
                                   "zh": "加急", "en": "Urgent"}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def service(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"tickets-{request.param}")
    var_dir = root / "var"
    (var_dir / "secrets").mkdir(parents=True)
    (var_dir / "secrets" / "rasa_api_token").write_text(RASA_TOKEN)
    url = None
    if request.param == "sqlite":
        from handoff.store import HandoffStore

        store = HandoffStore(var_dir / "handoff.sqlite3")
    else:
        from handoff.pg_store import PostgresHandoffStore

        postgres = request.getfixturevalue("postgres")
        url = postgres.create_database()
        store = PostgresHandoffStore(url)
    hashed = hash_password(PASSWORD)
    store.add_agent("al", "Al", hashed, ["general"])
    store.add_agent("bo", "Bo", hashed, ["general"])
    store.add_agent("ola", "Ola", hashed, ["orders"])
    store.add_agent("sue", "Sue", hashed, ["general"], role="supervisor")
    store.add_agent("ed", "Ed", hashed, [], role="editor")
    with pytest.MonkeyPatch.context() as patch, FakeRasa(RASA_TOKEN) as rasa:
        patch.setattr(tickets_api, "HOUSEKEEPING_SECONDS", 0.3)
        patch.delenv("CS_RASA_TOKEN", raising=False)
        patch.delenv("CS_HANDOFF_TOKEN", raising=False)
        settings = Settings(var_dir=var_dir, rasa_port=rasa.port, handoff_port=free_port(),
                            handoff_hours="00:00-24:00", tickets_file=str(_tickets_file(root / "tickets.yml")))
        try:
            with Service(settings, store, rasa) as running:
                yield running
        finally:
            store.close()
            if url:
                request.getfixturevalue("postgres").drop_database(url)


class Client(ConsoleClient):
    password = PASSWORD

    async def call(self, method: str, path: str, body=None, token: Optional[str] = None, raw: Optional[bytes] = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kw = {"data": raw, "headers": {**headers, "Content-Type": "application/json"}} if raw is not None \
            else {"json": body, "headers": headers}
        async with self.http.request(method, self.service.url + path, **kw) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    async def get(self, path: str, **params):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return await self.call("GET", path + (f"?{query}" if query else ""))

    async def post(self, path: str, body=None, **kw):
        return await self.call("POST", path, body if body is not None else {}, **kw)

    async def bot(self, path: str, body, token: Optional[str] = "service"):
        return await self.call("POST", path, body, token=self.service.token if token == "service" else token)

    async def ws(self):
        ws = await self.http.ws_connect(self.service.url.replace("http", "ws") + "/api/ws")
        await _next(ws, "hello")
        return ws


async def _next(ws, kind: str, timeout: float = WAIT, where=lambda data: True) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise asyncio.TimeoutError(f"no {kind} message in {timeout} s")
        msg = await ws.receive(timeout=left)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"socket closed: {msg}")
        data = json.loads(msg.data)
        if data.get("type") == kind and where(data):
            return data


async def _wait_for(check, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while True:
        found = await check() if asyncio.iscoroutinefunction(check) else check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _chat(bot: Client, holder: Client, sender: str, language: str = "en", issue: str = "My screen is broken",
                **extra) -> dict:
    """A handoff the bot files, offered to `holder` (the only general agent online) and accepted."""
    status, body = await bot.bot("/api/handoffs", {
        "sender_id": sender, "channel": "socketio", "language": language, "reason": "customer_request",
        "summary": {"issue": issue, "transcript": [{"role": "customer", "text": issue}]}, **extra})
    assert status == 201, body
    conversation = body["conversation"]
    assert conversation["agent_id"] == holder_id(holder), conversation
    status, body = await holder.post(f"/api/conversations/{conversation['id']}/accept")
    assert status == 200, body
    return body["conversation"]


def holder_id(client: Client) -> str:
    return client.agent_id


async def _clients(service, *who):
    made = []
    for spec in who:
        agent_id, online = (spec, False) if isinstance(spec, str) or spec is None else spec
        client = await Client.open(service, agent_id, online)
        client.agent_id = agent_id
        made.append(client)
    return made


async def _close(*clients):
    for c in clients:
        await c.http.close()


def _delivered(service: Service, sender: str, ticket_number: Optional[str] = None):
    return [c for c in service.rasa.delivered(sender) if ticket_number is None
            or (c.intent == AGENT_MSG and c.entities.get("ticket_number") == ticket_number)]


# --- the whole life of a ticket --------------------------------------------------------------------------
async def test_life_cycle_over_http(service):
    bot, al, sue, ola = await _clients(service, None, ("al", True), "sue", "ola")
    try:
        al_ws, sue_ws, ola_ws = await al.ws(), await sue.ws(), await ola.ws()
        conversation = await _chat(bot, al, "web-life", issue="Screen broken")
        status, body = await al.post("/api/tickets", {"conversation_id": conversation["id"], "category": "technical",
                                                       "note": "customer tried a restart"})
        assert status == 201, body
        ticket = body["ticket"]
        number = ticket["number"]
        assert ticket["status"] == "open" and ticket["owner_id"] == "al" and ticket["created_by"] == "al"
        assert (ticket["category"], ticket["department"], ticket["subject"]) == ("technical", "technical",
                                                                                "Screen broken")
        assert ticket["category_label"] == {"zh": "技术问题", "en": "Technical problem"}
        assert ticket["conversation_id"] == conversation["id"] and ticket["language"] == "en"
        assert ticket["overdue"] is False and ticket["seconds_left"] > 0
        # the consoles of who may see it hear of it; the orders agent does not
        for ws in (al_ws, sue_ws):
            pushed = await _next(ws, "ticket", where=lambda d: d["ticket"]["number"] == number)
            assert pushed["ticket"]["status"] == "open"
        with pytest.raises(asyncio.TimeoutError):
            await _next(ola_ws, "ticket", timeout=1.0)
        # the customer: the chat ended ("ticket"), then the numbered notice, through Rasa
        await _wait_for(lambda: _delivered(service, "web-life", number), "the ticket notice")
        calls = service.rasa.delivered("web-life")
        ended = [c for c in calls if c.intent == ENDED]
        assert ended and ended[-1].entities == {"outcome": "ticket", "handoff_id": str(conversation["id"])}
        assert calls.index(ended[-1]) < calls.index(_delivered(service, "web-life", number)[0])
        notice = _delivered(service, "web-life", number)[0].entities
        assert notice["agent_text"].startswith(f"Your request is now ticket {number} (Technical problem). "
                                               "We will get back to you by ")
        assert notice["agent_kind"] == "system" and "ticket_ask" not in notice

        # the detail: ticket, history (the notice's delivery recorded), conversation, messages
        async def created_delivered():
            status, detail = await al.get(f"/api/tickets/{number}")
            return detail if status == 200 and detail["events"][0]["delivered_at"] else None
        detail = await _wait_for(created_delivered, "the creation event marked delivered")
        assert [e["kind"] for e in detail["events"]] == ["created", "assigned", "note"]
        assert detail["events"][2]["text"] == "customer tried a restart" and detail["events"][2]["public"] is False
        assert detail["conversation"]["state"] == "returned" and detail["summary"]["issue"] == "Screen broken"
        assert isinstance(detail["messages"], list)
        # the same ticket under its other spellings
        for spelling in (number.lower(), str(int(number[1:]))):
            status, same = await al.get(f"/api/tickets/{spelling}")
            assert status == 200 and same["ticket"]["number"] == number

        # lists
        status, listed = await al.get("/api/tickets", status="open", mine=1, department="technical")
        assert status == 200 and number in [t["number"] for t in listed["tickets"]]
        status, listed = await ola.get("/api/tickets")
        assert number not in [t["number"] for t in listed["tickets"]]
        status, listed = await al.get("/api/tickets", status="closed")
        assert number not in [t["number"] for t in listed["tickets"]]

        # work: in progress, a question, the customer's answer, a reply, a note, resolved, rated
        path = f"/api/tickets/{number}"
        status, body = await al.post(path + "/status", {"status": "in_progress"})
        assert status == 200 and body["ticket"]["status"] == "in_progress", body
        status, body = await al.post(path + "/status", {"status": "waiting_customer", "text": "Which model is it?"})
        assert status == 200 and body["ticket"]["status"] == "waiting_customer", body
        pushed = await _next(sue_ws, "ticket", where=lambda d: d["ticket"]["status"] == "waiting_customer")
        assert pushed["ticket"]["number"] == number
        status, body = await bot.bot("/api/tickets/customer-message", {"sender_id": "web-life", "number": number,
                                                                        "text": "The X200"})
        _, now = await al.get(path)
        due_at, offset = now["ticket"]["due_at"], parse_offset(service.settings.handoff_utc_offset)
        assert now["ticket"]["paused_at"] is None
        assert (status, body) == (200, {"ticket": {"number": number, "status": "in_progress", "due": {
            "zh": ticket_texts.when(due_at, "zh", offset), "en": ticket_texts.when(due_at, "en", offset)}}})
        status, body = await al.post(path + "/replies", {"text": "A new screen is on its way"})
        assert status == 201 and body["event"]["kind"] == "reply" and body["event"]["public"] is True, body
        status, body = await al.post(path + "/notes", {"text": "ordered from the warehouse"})
        assert status == 201 and body["event"]["public"] is False, body
        status, body = await al.post(path + "/status", {"status": "resolved", "text": "Screen replaced"})
        assert status == 200 and body["ticket"]["resolved_at"], body
        status, body = await bot.bot("/api/tickets/csat", {"sender_id": "web-life", "number": number, "score": "5",
                                                           "comment": " great "})
        assert (status, body) == (200, {"ticket": {"number": number, "status": "closed"}})

        expected = [f"Ticket {number}: a colleague is now working on it.",
                    f"Ticket {number}: we need something from you to go on.\nWhich model is it?\nPlease just reply "
                    "here.",
                    f"Ticket {number} update: A new screen is on its way",
                    f"Ticket {number} is resolved: Screen replaced"]
        await _wait_for(lambda: len(_delivered(service, "web-life", number)) == 5, "every notice delivered")
        sent = [c.entities for c in _delivered(service, "web-life", number)][1:]
        assert [e["agent_text"] for e in sent] == expected
        assert [e.get("ticket_ask") for e in sent] == [None, "reply", None, "csat"]
        status, detail = await sue.get(path)
        assert detail["ticket"]["status"] == "closed" and detail["ticket"]["csat"] == {"score": 5,
                                                                                         "comment": "great"}
        kinds = [e["kind"] for e in detail["events"]]
        assert kinds == ["created", "assigned", "note", "status", "status", "customer_message", "status", "reply",
                         "note", "status", "csat", "status"]
        status, body = await al.post(path + "/replies", {"text": "anything else?"})
        assert status == 409, body  # closed
        for ws in (al_ws, sue_ws, ola_ws):
            await ws.close()
    finally:
        await _close(bot, al, sue, ola)


async def test_a_left_message_becomes_a_ticket_of_the_queue_agent_and_the_supervisor_reassigns(service):
    bot, ola, sue, al = await _clients(service, None, "ola", "sue", "al")
    try:
        status, body = await bot.bot("/api/handoffs", {
            "sender_id": "web-left", "channel": "socketio", "language": "zh", "reason": "customer_request",
            "order_task": "status", "summary": {"issue": "快递三天没动"}})
        assert status == 201 and body["ticket"] is True, body  # nobody with the orders skill online
        cid = body["conversation"]["id"]
        assert (await al.post("/api/tickets", {"conversation_id": cid, "category": "logistics"}))[0] == 403
        status, body = await ola.post("/api/tickets", {"conversation_id": cid, "category": "logistics",
                                                        "subject": "Parcel stuck"})
        assert status == 201, body
        number = body["ticket"]["number"]
        assert body["ticket"]["owner_id"] == "ola" and body["ticket"]["subject"] == "Parcel stuck"
        await _wait_for(lambda: _delivered(service, "web-left", number), "the notice")
        assert _delivered(service, "web-left", number)[0].entities["agent_text"].startswith(
            f"您的问题已登记为工单 {number}（物流问题），我们会在 ")
        status, body = await ola.post(f"/api/tickets/{number}/assign", {"agent_id": "al"})
        assert status == 403, body  # agents take, they do not give
        status, body = await sue.post(f"/api/tickets/{number}/assign", {"agent_id": "al"})
        assert status == 200 and body["ticket"]["owner_id"] == "al", body
        status, body = await al.get(f"/api/tickets/{number}")  # the owner sees it outside their department
        assert status == 200, body
        status, body = await al.post(f"/api/tickets/{number}/category", {"category": "billing"})
        assert status == 200 and body["ticket"]["department"] == "general", body
        assert body["ticket"]["due_at"] > body["ticket"]["created_at"]
        status, body = await ola.get(f"/api/tickets/{number}")
        assert status == 404, body  # no longer in ola's departments, nor theirs
    finally:
        await _close(bot, ola, sue, al)


# --- who may call what -----------------------------------------------------------------------------------
async def test_outside_ones_departments_is_404_and_editors_403(service):
    bot, al, ola, ed, anonymous = await _clients(service, None, ("al", True), "ola", "ed", None)
    try:
        conversation = await _chat(bot, al, "web-dept")
        status, body = await al.post("/api/tickets", {"conversation_id": conversation["id"],
                                                       "category": "technical"})
        assert status == 201, body
        path = f"/api/tickets/{body['ticket']['number']}"
        for method, suffix, payload in (("GET", "", None), ("POST", "/status", {"status": "in_progress"}),
                                        ("POST", "/replies", {"text": "x"}), ("POST", "/notes", {"text": "x"}),
                                        ("POST", "/assign", {"agent_id": "ola"}),
                                        ("POST", "/category", {"category": "other"})):
            status, body = await ola.call(method, path + suffix, payload)
            assert status == 404 and body["error"], (method, suffix, status, body)
            status, body = await ed.call(method, path + suffix, payload)
            assert status == 403, (method, suffix, status, body)
            status, body = await anonymous.call(method, path + suffix, payload)
            assert status == 401, (method, suffix, status, body)
        for missing in ("/api/tickets/T999999", "/api/tickets/abc", "/api/tickets/T0", "/api/tickets/T²",
                        "/api/tickets/99999999999999999999"):
            status, body = await al.get(missing)
            assert status == 404 and body["error"], (missing, status, body)
        assert (await ed.get("/api/tickets"))[0] == 403
        assert (await ed.get("/api/tickets/config"))[0] == 403
        assert (await anonymous.get("/api/tickets"))[0] == 401
        assert (await ed.post("/api/tickets", {"conversation_id": conversation["id"], "category": "other"}))[0] == 403
    finally:
        await _close(bot, al, ola, ed, anonymous)


async def test_the_bots_routes_take_the_service_token_only(service):
    bot, al, sue = await _clients(service, None, ("al", True), "sue")
    try:
        conversation = await _chat(bot, al, "web-bot", customer_id="C-bot")
        status, body = await al.post("/api/tickets", {"conversation_id": conversation["id"], "category": "technical"})
        number = body["ticket"]["number"]
        message = {"sender_id": "web-bot", "number": number, "text": "hello"}
        for path, payload in (("/api/tickets/customer-message", message),
                              ("/api/tickets/csat", {**message, "score": 5})):
            assert (await bot.bot(path, payload, token=None))[0] == 401
            assert (await bot.bot(path, payload, token="wrong-token"))[0] == 401
            status, body = await sue.post(path, payload)  # a session is no service token
            assert status == 401, body
            sue_token = sue.http.cookie_jar.filter_cookies(URL(service.url))["cs_session"].value
            assert (await bot.bot(path, payload, token=sue_token))[0] == 401
            # someone else's number is as unknown as one never issued
            for other in ({"sender_id": "web-other"}, {"sender_id": "web-other", "customer_id": "C-else"},
                          {"number": "T999999"}, {"number": "nonsense"}):
                status, body = await bot.bot(path, {**payload, **other})
                assert status == 404 and body["error"], (path, other, status, body)
            for bad in ({"sender_id": None}, {"number": None}, {"customer_id": 7}, {"customer_id": "x" * 129},
                        {"sender_id": "x" * 201}):
                status, body = await bot.bot(path, {**payload, **bad})
                assert status == 400 and body["error"], (path, bad, status, body)
            status, body = await bot.call("POST", path, raw=b"{not json", token=service.token)
            assert status == 400, body
            status, body = await bot.call("POST", path, raw=b"[1, 2]", token=service.token)
            assert status == 400, body
        for bad in ({"text": ""}, {"text": None}, {"text": "x" * 4001}):
            assert (await bot.bot("/api/tickets/customer-message", {**message, **bad}))[0] == 400
        # the verified customer from another channel is the same customer
        status, body = await bot.bot("/api/tickets/customer-message", {"sender_id": "wechat-bot",
                                                                        "customer_id": "C-bot",
                                                                        "number": number.lower(), "text": "hi"})
        assert (status, body["ticket"]["number"]) == (200, number), body
        status, body = await bot.bot("/api/tickets/csat", {**message, "score": 5})
        assert status == 409, body  # not resolved yet
        await al.post(f"/api/tickets/{number}/status", {"status": "resolved", "text": "done"})
        for score in (0, 6, "five", None, 4.5, True, [5]):
            status, body = await bot.bot("/api/tickets/csat", {**message, "score": score})
            assert status == 400, (score, status, body)
        for comment in (7, "x" * 4001):
            status, body = await bot.bot("/api/tickets/csat", {**message, "score": 4, "comment": comment})
            assert status == 400, (comment, status, body)
        status, body = await bot.bot("/api/tickets/csat", {**message, "score": 4})
        assert (status, body["ticket"]["status"]) == (200, "closed")
    finally:
        await _close(bot, al, sue)


# --- what is refused -------------------------------------------------------------------------------------
async def test_illegal_changes_are_409_and_bad_bodies_400(service):
    bot, al, sue = await _clients(service, None, ("al", True), "sue")
    try:
        conversation = await _chat(bot, al, "web-bad")
        cid = conversation["id"]
        for bad in ({}, {"conversation_id": str(cid), "category": "technical"},
                    {"conversation_id": True, "category": "technical"}, {"conversation_id": 0, "category": "technical"},
                    {"conversation_id": -1, "category": "technical"},
                    {"conversation_id": 2 ** 63, "category": "technical"},
                    {"conversation_id": 1.5, "category": "technical"}, {"conversation_id": cid},
                    {"conversation_id": cid, "category": ""}, {"conversation_id": cid, "category": 3},
                    {"conversation_id": cid, "category": "hardware"},
                    {"conversation_id": cid, "category": "x" * 65},
                    {"conversation_id": cid, "category": "technical", "subject": "x" * 201},
                    {"conversation_id": cid, "category": "technical", "subject": 5},
                    {"conversation_id": cid, "category": "technical", "note": ["x"]}):
            status, body = await al.post("/api/tickets", bad)
            assert status == 400 and body["error"], (bad, status, body)
        for raw in (b"", b"{", b"[]", b'"text"', b"\xff"):
            status, body = await al.call("POST", "/api/tickets", raw=raw)
            assert status == 400, (raw, status, body)
        status, body = await al.post("/api/tickets", {"conversation_id": 987654321, "category": "technical"})
        assert status == 409, body  # no such conversation
        assert (await al.get("/api/conversations/%d" % cid))[1]["conversation"]["state"] == "active"

        status, body = await al.post("/api/tickets", {"conversation_id": cid, "category": "technical"})
        assert status == 201, body
        number = body["ticket"]["number"]
        path = f"/api/tickets/{number}"
        status, body = await al.post("/api/tickets", {"conversation_id": cid, "category": "other"})
        assert status == 409 and "already" in body["error"], body  # one ticket per conversation
        # the state machine
        status, body = await sue.post(path + "/status", {"status": "closed"})
        assert status == 400 and "why it is closed unresolved" in body["error"], body  # the customer reads why
        status, body = await al.post(path + "/status", {"status": "closed", "text": "duplicate"})
        assert status == 403, body  # agents never close what is not resolved
        status, body = await sue.post(path + "/status", {"status": "in_progress", "text": "x" * 4001})
        assert status == 400, body
        status, body = await al.post(path + "/status", {"status": "open"})
        assert status == 409 and "already" in body["error"], body
        # bodies
        for bad in ({}, {"status": "done"}, {"status": None}, {"status": "waiting_customer"},
                    {"status": "waiting_customer", "text": "  "}, {"status": "resolved"},
                    {"status": "in_progress", "text": 5}):
            status, body = await al.post(path + "/status", bad)
            assert status == 400 and body["error"], (bad, status, body)
        for suffix, bad in (("/replies", {}), ("/replies", {"text": ""}), ("/notes", {"text": None}),
                            ("/notes", {"text": "x" * 4001}), ("/assign", {}), ("/assign", {"agent_id": "nobody"}),
                            ("/assign", {"agent_id": "ed"}), ("/category", {}), ("/category", {"category": "nope"})):
            status, body = await sue.post(path + suffix, bad)
            assert status == 400 and body["error"], (suffix, bad, status, body)
        for query in ({"status": "bogus"}, {"status": "open,bogus"}, {"department": "it"}):
            status, body = await al.get("/api/tickets", **query)
            assert status == 400 and body["error"], (query, status, body)
        status, detail = await al.get(path)
        assert detail["ticket"]["status"] == "open"
        assert [e["kind"] for e in detail["events"]] == ["created", "assigned"]  # nothing of the refused
        # a queued conversation is not made a ticket before someone takes it
        status, body = await bot.bot("/api/handoffs", {"sender_id": "web-queued", "channel": "socketio",
                                                       "reason": "customer_request", "summary": {"issue": "x"}})
        queued = body["conversation"]
        assert (queued["state"], queued["agent_id"]) == ("offered", "al"), queued
        status, body = await sue.post("/api/tickets", {"conversation_id": queued["id"], "category": "other"})
        assert status == 409 and "is offered: accept it first" in body["error"], body
        assert (await al.post(f"/api/conversations/{queued['id']}/decline"))[0] == 200  # back in the line
        status, body = await sue.post("/api/tickets", {"conversation_id": queued["id"], "category": "other"})
        assert status == 409 and "is queued: accept it first" in body["error"], body
        assert (await al.post(f"/api/conversations/{queued['id']}/accept"))[0] == 200
        assert (await al.post(f"/api/conversations/{queued['id']}/resolve", {"outcome": "close"}))[0] == 200
    finally:
        await _close(bot, al, sue)


# --- config, overdue, metrics ----------------------------------------------------------------------------
async def test_config_for_the_console(service):
    (al,) = await _clients(service, "al")
    try:
        status, body = await al.get("/api/tickets/config")
        assert status == 200
        names = [c["name"] for c in body["categories"]]
        assert names == ["technical", "complaint", "logistics", "after_sales", "billing", "other", "urgent"]
        assert body["categories"][1]["due"] == {"amount": 4.0, "unit": "working_hours", "zh": "4 个工作小时",
                                                "en": "4 working hours"}
        assert {d["name"]: d["skill"] for d in body["departments"]}["logistics"] == "orders"
    finally:
        await _close(al)


def _metrics(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_overdue_tickets_are_pushed_once_and_counted_in_metrics(service):
    bot, al, sue = await _clients(service, None, ("al", True), "sue")
    try:
        sue_ws = await sue.ws()
        conversation = await _chat(bot, al, "web-urgent")
        status, body = await al.post("/api/tickets", {"conversation_id": conversation["id"], "category": "urgent"})
        assert status == 201, body
        number = body["ticket"]["number"]
        assert body["ticket"]["overdue"] is False
        # the housekeeping flags it once it is late, and the consoles hear of it (at most once)
        pushed = await _next(sue_ws, "ticket", timeout=URGENT_SECONDS + WAIT,
                             where=lambda d: d["ticket"]["number"] == number and d["ticket"]["overdue_at"])
        assert pushed["ticket"]["overdue"] is True and pushed["ticket"]["department"] == "general"
        with pytest.raises(asyncio.TimeoutError):
            await _next(sue_ws, "ticket", timeout=1.5, where=lambda d: d["ticket"]["number"] == number)
        status, detail = await sue.get(f"/api/tickets/{number}")
        assert [e["kind"] for e in detail["events"]].count("overdue") == 1
        status, listed = await sue.get("/api/tickets", overdue=1)
        assert number in [t["number"] for t in listed["tickets"]]

        # /metrics: the gauges are what the supervisors' list shows, the counters count each once
        async with bot.http.get(service.url + "/metrics") as resp:
            assert resp.status == 200
            metrics = _metrics(await resp.text())
        status, listed = await sue.get("/api/tickets")
        live = [t for t in listed["tickets"] if t["status"] != "closed"]
        by = Counter((t["department"], t["status"]) for t in live)
        for department in ("technical", "complaints", "logistics", "after_sales", "general"):
            for state in ("open", "in_progress", "waiting_customer", "resolved"):
                key = ("cs_tickets", (("department", department), ("status", state)))
                assert metrics[key] == by[(department, state)], (key, metrics[key], by)
            overdue = sum(1 for t in live if t["department"] == department and t["overdue"])
            assert metrics[("cs_tickets_overdue", (("department", department),))] == overdue
        assert metrics[("cs_tickets", (("department", "general"), ("status", "open")))] >= 1
        created = Counter()  # by the category each ticket was created with (a recategorized one: its first)
        for t in listed["tickets"]:
            detail = (await sue.get(f"/api/tickets/{t['number']}"))[1]
            moves = [e["text"] for e in detail["events"] if e["kind"] == "category"]
            created[moves[0].split(" -> ")[0] if moves else t["category"]] += 1
        for category in ("technical", "complaint", "logistics", "after_sales", "billing", "other", "urgent"):
            total = metrics[("cs_tickets_created_total", (("category", category),))]
            assert total == created[category], (category, total, created)
        assert metrics[("cs_tickets_created_total", (("category", "urgent"),))] == 1
        flagged = Counter(t["department"] for t in listed["tickets"] if t["overdue_at"])
        for department in ("technical", "complaints", "logistics", "after_sales", "general"):
            assert metrics[("cs_tickets_flagged_overdue_total", (("department", department),))] == \
                flagged[department], (department, flagged)
        assert flagged["general"] >= 1
        await sue_ws.close()
    finally:
        await _close(bot, al, sue)


async def test_a_notice_the_channel_refuses_for_good_is_marked_and_not_sent_again(service):
    """WeChat's 48-hour window has closed (common/undeliverable.py): Rasa answers 500 with the channel's tagged
    refusal. The notice is marked in the ticket's history with the reason and counted, never sent again, and
    the conversation's later notices still go out."""
    bot, al = await _clients(service, None, ("al", True))
    sender = "wechat:o-window-closed"
    refusal = ChannelRefused(Refusal("wechat", "window_closed", 45015),
                             "WeChat API error 45015: response out of time limit or subscription is canceled")
    try:
        async with bot.http.get(service.url + "/metrics") as resp:
            before = _metrics(await resp.text())
        refused_key = ("cs_handoff_messages_undeliverable_total", (("channel", "wechat"), ("reason", "window_closed")))
        conversation = await _chat(bot, al, sender, channel="wechat")
        service.rasa.fail(500, sender=sender, error=str(refusal))
        status, body = await al.post("/api/tickets", {"conversation_id": conversation["id"], "category": "technical"})
        assert status == 201, body
        number = body["ticket"]["number"]

        async def created_refused():
            status, detail = await al.get(f"/api/tickets/{number}")
            return detail if status == 200 and detail["events"][0]["failed_at"] else None
        detail = await _wait_for(created_refused, "the creation notice marked refused")
        created = detail["events"][0]
        assert (created["kind"], created["public"], created["delivered_at"], created["failure"]) == (
            "created", True, None, "window_closed")
        notice_calls = [c for c in service.rasa.calls(sender, AGENT_MSG)
                        if c.entities.get("ticket_event") == str(created["id"])]
        await asyncio.sleep(3)  # the outbox would have tried again by now (pauses of 1, 2 ... s)
        assert [c.status for c in service.rasa.calls(sender, AGENT_MSG)
                if c.entities.get("ticket_event") == str(created["id"])] == [500] == [c.status for c in notice_calls]
        async with bot.http.get(service.url + "/metrics") as resp:
            after = _metrics(await resp.text())
        # everything the service sent this customer meanwhile (the end of the chat too) was refused once each
        refused = [(c.intent, json.dumps(c.entities, sort_keys=True)) for c in service.rasa.calls(sender)]
        assert len(refused) == len(set(refused)) >= 2 and {c.status for c in service.rasa.calls(sender)} == {500}
        assert after[refused_key] - before.get(refused_key, 0) == len(refused)

        # the customer writes again (the window opens): the next notice goes out
        service.rasa.heal()
        status, body = await al.post(f"/api/tickets/{number}/replies", {"text": "We are on it"})
        assert status == 201, body
        reply_id = body["event"]["id"]

        async def reply_delivered():
            status, detail = await al.get(f"/api/tickets/{number}")
            found = [e for e in detail["events"] if e["id"] == reply_id and e["delivered_at"]]
            return found[0] if found else None
        reply = await _wait_for(reply_delivered, "the reply's notice delivered")
        assert reply["failed_at"] is None and reply["failure"] is None
        assert any(c.entities.get("ticket_event") == str(reply_id) for c in _delivered(service, sender, number))
    finally:
        service.rasa.heal()
        await _close(bot, al)


# --- the OpenAPI document -------------------------------------------------------------------------------
def test_every_answer_conforms_to_the_openapi_document(service):
    """Real answers of every ticket route, successes and refusals, validated against handoff/openapi.yaml
    (the fuzzing of tests/security/ seldom gets past the 400s to a real ticket)."""
    import requests
    import schemathesis

    from handoff.app import OPENAPI

    schema = schemathesis.openapi.from_path(str(OPENAPI))
    checked = set()

    def call(method: str, template: str, path: Optional[str] = None, body=None, token: Optional[str] = None,
             expect: int = 200, **params) -> dict:
        response = requests.request(method, service.url + (path or template), json=body, params=params or None,
                                    headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=10)
        assert response.status_code == expect, (method, path or template, response.status_code, response.text)
        schema[template][method].validate_response(response)  # raises, naming what does not conform
        checked.add((method, template, response.status_code))
        return response.json()

    def login(agent_id: str) -> str:
        response = requests.post(service.url + "/api/login", json={"agent_id": agent_id, "password": PASSWORD},
                                 timeout=10)
        assert response.status_code == 200, response.text
        return response.cookies["cs_session"]

    al, sue, ola, ed = login("al"), login("sue"), login("ola"), login("ed")
    requests.put(service.url + "/api/me/status", json={"status": "online"}, timeout=10,
                 headers={"Authorization": f"Bearer {al}"}).raise_for_status()
    bot = service.token
    conversation = call("POST", "/api/handoffs", body={
        "sender_id": "web-doc", "channel": "socketio", "language": "zh", "reason": "customer_request",
        "customer_id": "C-doc", "summary": {"issue": "发票开错了"}}, token=bot, expect=201)["conversation"]
    cid = conversation["id"]
    call("POST", "/api/conversations/{id}/accept", f"/api/conversations/{cid}/accept", token=al)

    call("GET", "/api/tickets/config", token=al)
    call("GET", "/api/tickets/config", token=ed, expect=403)
    call("GET", "/api/tickets/config", expect=401)
    call("POST", "/api/tickets", body={"conversation_id": cid}, token=al, expect=400)
    call("POST", "/api/tickets", body={"conversation_id": 987654321, "category": "billing"}, token=al, expect=409)
    ticket = call("POST", "/api/tickets", body={"conversation_id": cid, "category": "billing", "note": "n"},
                  token=al, expect=201)["ticket"]
    call("POST", "/api/tickets", body={"conversation_id": cid, "category": "billing"}, token=al, expect=409)
    number = ticket["number"]
    one = "/api/tickets/{number}"
    call("GET", "/api/tickets", token=sue)
    call("GET", "/api/tickets", token=al, status="open,resolved", mine="1", overdue="0", department="general")
    call("GET", "/api/tickets", token=al, status="nope", expect=400)
    call("GET", one, f"/api/tickets/{number}", token=al)
    call("GET", one, f"/api/tickets/{number}", token=ola, expect=404)
    call("GET", one, "/api/tickets/T²", token=al, expect=404)
    for suffix, body, expect in (("/status", {"status": "in_progress", "text": "看一下"}, 200),
                                 ("/status", {"status": "closed"}, 403),
                                 ("/status", {"status": "open"}, 409),
                                 ("/status", {"status": "waiting_customer"}, 400),
                                 ("/status", {"status": "waiting_customer", "text": "订单号？"}, 200),
                                 ("/replies", {"text": "在查"}, 201), ("/replies", {}, 400),
                                 ("/notes", {"text": "内部"}, 201),
                                 ("/assign", {"agent_id": "bo"}, 403), ("/assign", {"agent_id": "al"}, 200),
                                 ("/category", {"category": "nope"}, 400), ("/category", {"category": "other"}, 200)):
        call("POST", one + suffix, f"/api/tickets/{number}{suffix}", body=body, token=al, expect=expect)
        call("POST", one + suffix, f"/api/tickets/{number}{suffix}", body=body, token=ola,
             expect=400 if not body else 404)  # a malformed body is refused before the ticket is looked up
    call("POST", "/api/tickets/customer-message", body={"sender_id": "wechat-doc", "customer_id": "C-doc",
                                                        "number": number, "text": "123"}, token=bot)
    call("POST", "/api/tickets/customer-message", body={"sender_id": "web-doc", "number": "T999999", "text": "x"},
         token=bot, expect=404)
    call("POST", "/api/tickets/customer-message", body={"sender_id": "web-doc", "number": number}, token=bot,
         expect=400)
    call("POST", "/api/tickets/customer-message", body={"sender_id": "web-doc", "number": number, "text": "x"},
         expect=401)
    call("POST", "/api/tickets/csat", body={"sender_id": "web-doc", "number": number, "score": 5}, token=bot,
         expect=409)
    call("POST", one + "/status", f"/api/tickets/{number}/status", body={"status": "resolved", "text": "已重开"},
         token=sue)
    call("POST", "/api/tickets/csat", body={"sender_id": "web-doc", "number": number, "score": 9}, token=bot,
         expect=400)
    call("POST", "/api/tickets/csat", body={"sender_id": "web-doc", "number": number, "score": 4, "comment": "ok"},
         token=bot)
    detail = call("GET", one, f"/api/tickets/{number}", token=sue)
    assert detail["ticket"]["status"] == "closed" and detail["ticket"]["csat"] == {"score": 4, "comment": "ok"}
    call("POST", one + "/replies", f"/api/tickets/{number}/replies", body={"text": "x"}, token=sue, expect=409)
    routes = {(m, t) for m, t, _ in checked if t.startswith("/api/tickets")}
    assert len(routes) == 11, sorted(routes)  # every ticket route
