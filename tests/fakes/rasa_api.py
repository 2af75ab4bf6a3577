"""A faithful local fake of the part of Rasa's HTTP API (3.6) the handoff service uses: injecting an
external event into a customer's conversation.

    POST /conversations/{conversation_id}/trigger_intent?output_channel=latest&token=T
         {"name": "EXTERNAL_agent_message", "entities": {"agent_text": "...", "agent_kind": "agent"}}

Answers as `rasa run --enable-api --auth-token T` does (rasa/server.py of Rasa 3.6.21, in .venv-rasa):

- a missing or wrong `token` query parameter: 401 with Rasa's error body
  `{"version", "status": "failure", "message": "User is not authenticated.", "reason": "NotAuthenticated",
  "details": {}, "help", "code": 401}`;
- a body that is not JSON: 400 (Sanic's "Failed when parsing body as json"); no "name": 400 BadRequest;
  an invalid `include_events`: 400 BadRequest;
- an intent that is not in the domain: **404 NotFound** (Rasa 3.6 answers 404 here, not 400); the domain
  of this fake knows the handoff intents only (EXTERNAL_agent_message, EXTERNAL_handoff_ended);
- otherwise 200 `{"tracker": {...current state...}, "messages": [...]}`: the tracker gets the external
  `user` event (entities given as a dict become `[{"entity", "value"}]`, as Rasa does) and the bot's
  action; `messages` is what a CollectingOutputChannel collected (here: the agent's text), present
  because this fake has no input channels, so `output_channel=latest` falls back to collecting, as in Rasa.

Every request to a conversation route is recorded, in arrival order (`calls()`; `delivered()` = the ones
answered 200), and failure modes can be switched while it runs:

- `down()`: the port stops listening (connection refused), `up()`: listening again on the same port;
- `fail(status=500, count=None, sender=None, error="injected")`: answer `status` with Rasa's ConversationError
  body, `error` being the exception's text in its message (a channel's refusal carries its tag there,
  common/undeliverable.py);
- `slow(delay, count=None, sender=None)`: wait `delay` seconds, then answer normally;
- `count`: how many matching requests are affected (None: all until `heal()`); `sender`: only that
  conversation's requests;
- `token` may be changed at any time (`fake.token = ...`) to simulate a misconfigured service.

Served in-process from a background thread with its own event loop, like tests/fakes/order_api.py:
`with FakeRasa(token) as rasa: rasa.url ...`. The same state is readable over HTTP (`GET /_calls`,
`DELETE /_calls`, `GET|POST /_faults`) while it is up.
"""
from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

from aiohttp import web

from tests.fakes.loop_thread import start_loop_thread

RASA_VERSION = "3.6.21"
HANDOFF_INTENTS = ("EXTERNAL_agent_message", "EXTERNAL_handoff_ended")
DEFAULT_TOKEN = "fake-rasa-token"
DOCS = "https://rasa.com/docs/rasa"
SHUTDOWN_TIMEOUT = 0.5
VERBOSITIES = ("NONE", "APPLIED", "AFTER_RESTART", "ALL")
# What the bot runs for each external event (bot/policies/handoff_policy.py).
ACTIONS = {"EXTERNAL_agent_message": "action_deliver_agent_message",
           "EXTERNAL_handoff_ended": "action_handoff_ended"}


def error_body(status: int, reason: str, message: str, details: Any = None,
               help_url: Optional[str] = None) -> dict:
    """Rasa's ErrorResponse.error_info."""
    return {"version": RASA_VERSION, "status": "failure", "message": message, "reason": reason,
            "details": details or {}, "help": help_url, "code": status}


def _error(status: int, reason: str, message: str, **kwargs: Any) -> web.Response:
    return web.json_response(error_body(status, reason, message, **kwargs), status=status)


@dataclass
class Fault:
    mode: str = "none"  # none | error | slow
    status: int = 500
    delay: float = 0.0
    count: Optional[int] = None  # matching requests still to affect; None = all
    sender: Optional[str] = None
    error: str = "injected"  # what the error's message says after "An unexpected error occurred. Error: "

    def matches(self, sender: str) -> bool:
        return self.mode != "none" and self.count != 0 and (self.sender is None or self.sender == sender)


@dataclass
class Call:
    """One request to trigger_intent, as received (and how it was answered)."""
    sender_id: str
    intent: Optional[str]
    entities: Any
    token: Optional[str]
    output_channel: Optional[str]
    received_at: float
    status: Optional[int] = None  # None while it is being answered (e.g. slow)


class FakeRasa:
    def __init__(self, token: str = DEFAULT_TOKEN, intents=HANDOFF_INTENTS, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.token = token
        self.intents = tuple(intents)
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._calls: List[Call] = []
        self._trackers: Dict[str, List[dict]] = {}
        self._fault = Fault()
        self._loop = asyncio.new_event_loop()
        self._thread: Optional[threading.Thread] = None
        self._runner: Optional[web.AppRunner] = None
        self._site: Optional[web.TCPSite] = None
        self.app = self._build_app()

    # --- the API ---------------------------------------------------------------------------------
    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/conversations/{conversation_id:.+}/trigger_intent", self._trigger_intent)
        app.router.add_get("/", self._hello)
        app.router.add_get("/version", self._version)
        app.router.add_route("*", "/_calls", self._admin_calls)
        app.router.add_route("*", "/_faults", self._admin_faults)
        return app

    async def _hello(self, request: web.Request) -> web.Response:
        return web.Response(text=f"Hello from Rasa: {RASA_VERSION}")

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": RASA_VERSION, "minimum_compatible_version": "3.6.0"})

    async def _trigger_intent(self, request: web.Request) -> web.Response:
        sender = request.match_info["conversation_id"]
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = ValueError
        intent = body.get("name") if isinstance(body, dict) else None
        entities = body.get("entities", []) if isinstance(body, dict) else None
        call = Call(sender, intent, copy.deepcopy(entities), request.query.get("token"),
                    request.query.get("output_channel"), time.time())
        with self._lock:
            self._calls.append(call)
        response = await self._answer(request, sender, body, call)
        call.status = response.status
        return response

    async def _answer(self, request: web.Request, sender: str, body: Any, call: Call) -> web.Response:
        if call.token != self.token:  # requires_auth runs first
            return _error(401, "NotAuthenticated", "User is not authenticated.",
                          help_url=f"{DOCS}/user-guide/configuring-http-api/#security-considerations")
        if body is ValueError:
            return web.Response(status=400, text="Bad Request: Failed when parsing body as json")
        if not isinstance(body, dict) or not call.intent:
            return _error(400, "BadRequest", "Name of the intent not provided in request body.",
                          details={"parameter": "name", "in": "body"})
        verbosity = request.query.get("include_events", "AFTER_RESTART").upper()
        if verbosity not in VERBOSITIES:
            return _error(400, "BadRequest", "Invalid parameter value for 'include_events'. Should be one of "
                          + ", ".join(VERBOSITIES), details={"parameter": "include_events", "in": "query"})
        fault = self._take_fault(sender)
        if fault is not None and fault.mode == "slow":
            await asyncio.sleep(fault.delay)
        elif fault is not None:
            return _error(fault.status, "ConversationError", f"An unexpected error occurred. Error: {fault.error}")
        if call.intent not in self.intents:
            # Rasa 3.6 formats the handler function, not the intent, into this message; kept simple here.
            return _error(404, "NotFound", f"The intent {call.intent} does not exist in the domain.")
        events, messages = self._apply(sender, call.intent, call.entities)
        tracker = {"sender_id": sender, "slots": {}, "latest_message": events[-2]["parse_data"],
                   "latest_event_time": events[-1]["timestamp"], "followup_action": None, "paused": False,
                   "events": None if verbosity == "NONE" else events, "latest_input_channel": None,
                   "active_loop": {}, "latest_action": {"action_name": "action_listen"},
                   "latest_action_name": "action_listen"}
        return web.json_response({"tracker": tracker, "messages": messages})

    def _take_fault(self, sender: str) -> Optional[Fault]:
        with self._lock:
            fault = self._fault
            if not fault.matches(sender):
                return None
            if fault.count is not None:
                fault.count -= 1
            return copy.copy(fault)

    def _apply(self, sender: str, intent: str, entities: Any) -> tuple:
        """The tracker's events after the external event and the bot's reaction, and the bot's messages."""
        if isinstance(entities, dict):
            entity_list = [{"entity": k, "value": v} for k, v in entities.items()]
        elif isinstance(entities, list):
            entity_list = entities
        else:
            entity_list = []
        now = time.time()
        with self._lock:
            events = self._trackers.setdefault(sender, [])
            if not events:  # a new conversation starts a session
                events += [{"event": "action", "timestamp": now, "name": "action_session_start"},
                           {"event": "session_started", "timestamp": now},
                           {"event": "action", "timestamp": now, "name": "action_listen"}]
            text = f"EXTERNAL: {intent}"
            events.append({"event": "user", "timestamp": now, "metadata": {"is_external": True}, "text": text,
                           "parse_data": {"intent": {"name": intent}, "entities": entity_list, "text": text,
                                          "message_id": None, "metadata": {"is_external": True}},
                           "input_channel": None, "message_id": None})
            events.append({"event": "action", "timestamp": now, "name": ACTIONS.get(intent, "action_listen")})
            snapshot = copy.deepcopy(events)
        agent_text = next((e["value"] for e in entity_list if e.get("entity") == "agent_text"), None)
        messages = [{"recipient_id": sender, "text": agent_text}] if agent_text else []
        return snapshot, messages

    # --- admin over HTTP ---------------------------------------------------------------------------
    async def _admin_calls(self, request: web.Request) -> web.Response:
        if request.method == "DELETE":
            self.reset()
            return web.json_response([])
        return web.json_response([asdict(c) for c in self.calls()])

    async def _admin_faults(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                data = await request.json()
                fault = Fault(**data)
            except (ValueError, TypeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
            if fault.mode not in ("none", "error", "slow"):
                return web.json_response({"error": f"unknown mode {fault.mode!r}"}, status=400)
            with self._lock:
                self._fault = fault
        with self._lock:
            return web.json_response(asdict(self._fault))

    # --- control from the test -----------------------------------------------------------------------
    def calls(self, sender: Optional[str] = None, intent: Optional[str] = None) -> List[Call]:
        """Every request received so far (answered or still being answered), in arrival order."""
        with self._lock:
            found = list(self._calls)
        return [c for c in found if (sender is None or c.sender_id == sender)
                and (intent is None or c.intent == intent)]

    def delivered(self, sender: Optional[str] = None, intent: Optional[str] = None) -> List[Call]:
        """The requests Rasa took (answered 200), in order."""
        return [c for c in self.calls(sender, intent) if c.status == 200]

    def texts(self, sender: str) -> List[str]:
        """What the customer was sent through Rasa (agent_text of the delivered agent messages), in order."""
        return [c.entities.get("agent_text") for c in self.delivered(sender, "EXTERNAL_agent_message")
                if isinstance(c.entities, dict)]

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._trackers.clear()

    def fail(self, status: int = 500, count: Optional[int] = None, sender: Optional[str] = None,
             error: str = "injected") -> None:
        with self._lock:
            self._fault = Fault("error", status=status, count=count, sender=sender, error=error)

    def slow(self, delay: float, count: Optional[int] = None, sender: Optional[str] = None) -> None:
        with self._lock:
            self._fault = Fault("slow", delay=delay, count=count, sender=sender)

    def heal(self) -> None:
        with self._lock:
            self._fault = Fault()

    @property
    def listening(self) -> bool:
        return self._site is not None

    def down(self) -> None:
        """Stop listening (connections are refused), keeping the port number and the records."""
        self._run(self._stop_site())

    def up(self) -> None:
        """Listen again, on the same port."""
        self._run(self._start_site())

    # --- lifecycle -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "FakeRasa":
        self._thread = start_loop_thread(self._loop, self._setup, lambda: self._runner.cleanup(), "fake-rasa",
                                         "the fake Rasa")
        return self

    async def _setup(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await self._runner.setup()
        await self._start_site()

    async def _start_site(self) -> None:
        if self._site is not None:
            return
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self._site = site
        if not self.port:
            self.port = self._runner.addresses[0][1]

    async def _stop_site(self) -> None:
        if self._site is None:
            return
        site, self._site = self._site, None
        await site.stop()  # no new connections...
        server = self._runner.server
        if server is not None:  # ...and none kept alive by the client: the next request is refused
            for connection in server.connections:
                connection.force_close()
            await server.shutdown(0.1)

    def _run(self, coro) -> Any:
        if self._thread is None or not self._thread.is_alive():
            raise RuntimeError("the fake Rasa is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> "FakeRasa":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
