"""Agent assist over HTTP and the WebSocket (handoff/assist_api.py) on a real handoff service app: a
published knowledge base (the editors' small corpus, real USE and FAISS), the embedded order system
seeded with the demo orders, the real sentiment classifier (cached model). Who may read: exactly who may
read the conversation (404 outside one's queues, editors 403)."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import aiohttp
import pytest

from common.settings import Settings
from handoff.app import build_app
from handoff.auth import hash_password
from handoff.store import HandoffStore
from knowledge.corpus import load_corpus
from knowledge.index import build_index
from orders.fixture import load_fixture
from orders.sqlite_backend import SqliteOrderBackend
from tests.conftest import free_port
from tests.fakes.server import ThreadedServer
from tests.integration.console_client import ConsoleClient
from tests.kb_editing_fixture import OPTIONS, write_corpus, write_queries

PASSWORD = "assist-api-test-password"  # test-only
WAIT = 30.0


class Service(ThreadedServer):
    thread_name = "handoff-service"
    what = "the handoff service"

    def __init__(self, settings: Settings) -> None:
        self._init_server(build_app(settings))
        self.token = (settings.var_dir / "secrets" / "handoff_service_token").read_text().strip()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    root = tmp_path_factory.mktemp("assist")
    corpus = write_corpus(root / "faq")
    build_index(load_corpus(corpus), root / "kb", OPTIONS)
    var_dir = root / "var"
    var_dir.mkdir()
    SqliteOrderBackend(var_dir / "orders.sqlite3").seed(load_fixture(now=datetime.now(timezone.utc)))
    store = HandoffStore(var_dir / "handoff.sqlite3")
    hashed = hash_password(PASSWORD)
    store.add_agent("al", "Al", hashed, ["general", "orders"])
    store.add_agent("bo", "Bo", hashed, ["general", "orders"])
    store.add_agent("sue", "Sue", hashed, ["general"], role="supervisor")
    store.add_agent("ed", "Ed", hashed, [], role="editor")
    settings = Settings(var_dir=var_dir, rasa_port=free_port(), faq_dir=corpus, kb_dir=root / "kb", kb_encoder="use",
                        kb_negatives="none", kb_git="off", kb_regression_queries=str(write_queries(root / "q.jsonl")),
                        handoff_hours="00:00-24:00")
    with Service(settings) as running:
        yield running


class Client(ConsoleClient):
    password = PASSWORD

    async def get(self, path: str):
        async with self.http.get(self.service.url + path) as resp:
            return resp.status, await resp.json()

    async def post(self, path: str, body: dict, bot: bool = False):
        headers = {"Authorization": f"Bearer {self.service.token}"} if bot else {}
        async with self.http.post(self.service.url + path, json=body, headers=headers) as resp:
            return resp.status, await resp.json()


async def _handoff(bot: Client, sender: str, customer_id=None, sentiment=(0.2,)) -> dict:
    status, body = await bot.post("/api/handoffs", {
        "sender_id": sender, "channel": "socketio", "language": "zh", "reason": "customer_request",
        "customer_id": customer_id, "intents": ["ask_faq", "request_human"],
        "summary": {"sentiment": list(sentiment), "transcript": [{"role": "customer", "text": "发票怎么开"}]}},
        bot=True)
    assert status == 201, body
    return body["conversation"]


async def _next(ws, kind: str, timeout: float = WAIT) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"socket closed: {msg}")
        data = json.loads(msg.data)
        if data.get("type") == kind:
            return data


async def test_who_may_read_the_assist(service):
    anonymous, bot = await Client.open(service), await Client.open(service)
    al, bo = await Client.open(service, "al", online=True), await Client.open(service, "bo")
    ed, sue = await Client.open(service, "ed"), await Client.open(service, "sue")
    try:
        conv = await _handoff(bot, "web-auth-1", customer_id="C1110")
        assert conv["agent_id"] == "al", conv  # offered to the only agent online
        path = f"/api/conversations/{conv['id']}/assist"
        assert (await anonymous.get(path))[0] == 401
        assert (await ed.get(path))[0] == 403  # editors never read customers' conversations
        assert (await al.get("/api/conversations/999999/assist"))[0] == 404
        assert (await al.get("/api/conversations/abc/assist"))[0] == 404
        assert (await al.post(f"/api/conversations/{conv['id']}/accept", {}))[0] == 200
        status, body = await bo.get(path)  # another agent's conversation: as GET /api/conversations/{id}
        assert status == 404 and status == (await bo.get(f"/api/conversations/{conv['id']}"))[0], body
        assert (await sue.get(path))[0] == 200  # supervisors see everything
        status, body = await al.get(path)
        assert status == 200, body
        # before any relayed message: the customer's last words to the bot
        assert body["query"] == "发票怎么开" and body["message_id"] is None
        assert body["suggestions"]["items"][0]["id"] == "invoice"
        assert body["orders"]["status"] == "ok" and body["orders"]["customer"]["phone"] == "189****5755"
        assert body["sentiment"]["alert"] is False
        await al.post(f"/api/conversations/{conv['id']}/resolve", {"outcome": "close"})
    finally:
        for c in (anonymous, bot, al, bo, ed, sue):
            await c.http.close()


async def test_suggestions_are_pushed_after_each_customer_message(service):
    bot = await Client.open(service)
    al, bo = await Client.open(service, "al", online=True), await Client.open(service, "bo")
    try:
        conv = await _handoff(bot, "web-push-1", customer_id=None)
        assert conv["agent_id"] == "al", conv
        await al.post(f"/api/conversations/{conv['id']}/accept", {})
        ws = await al.http.ws_connect(service.url.replace("http", "ws") + "/api/ws")
        other = await bo.http.ws_connect(service.url.replace("http", "ws") + "/api/ws")
        await _next(ws, "hello")
        await _next(other, "hello")

        assert (await bot.post("/api/relay", {"sender_id": "web-push-1", "text": "How long does a refund take?"},
                               bot=True))[0] == 200
        message = await _next(ws, "message")
        pushed = await _next(ws, "assist")
        assert pushed["conversation_id"] == conv["id"] and pushed["message_id"] == message["message"]["id"]
        assert pushed["suggestions"]["items"][0]["id"] == "refund-time"
        assert pushed["suggestions"]["items"][0]["answer"] == "仓库验收后 1–3 个工作日退款。"  # a zh conversation
        assert set(pushed["timing_ms"]) >= {"kb_search", "sentiment", "server_total"}
        # the API answers the same for the same message, plus the order context (not verified here)
        status, body = await al.get(f"/api/conversations/{conv['id']}/assist")
        assert body["message_id"] == pushed["message_id"] and body["orders"]["status"] == "unverified"

        # a strongly negative message: the alert comes with the push
        angry = "你们就是骗子！太差劲了，气死我了！"
        await bot.post("/api/relay", {"sender_id": "web-push-1", "text": angry}, bot=True)
        pushed = await _next(ws, "assist")
        assert pushed["sentiment"]["alert"] is True and pushed["sentiment"]["rule"] == "strong"

        # a burst: the last push is for the last message
        for text in ("在吗", "忘记密码怎么办", "I forgot my password"):
            await bot.post("/api/relay", {"sender_id": "web-push-1", "text": text}, bot=True)
        last_id = max(m["id"] for m in (await al.get(f"/api/conversations/{conv['id']}"))[1]["messages"])
        while (pushed := await _next(ws, "assist"))["message_id"] != last_id:
            assert pushed["message_id"] < last_id
        assert pushed["query"] == "I forgot my password"
        assert pushed["suggestions"]["items"][0]["id"] == "password-reset"

        # the other agent heard none of it
        with pytest.raises(asyncio.TimeoutError):
            await _next(other, "assist", timeout=1.0)
        await ws.close()
        await other.close()
        await al.post(f"/api/conversations/{conv['id']}/resolve", {"outcome": "close"})
    finally:
        for c in (bot, al, bo):
            await c.http.close()
