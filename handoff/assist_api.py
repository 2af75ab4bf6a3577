"""Agent assist over HTTP and the WebSocket (the rules: handoff/assist.py).

- `GET /api/conversations/{id}/assist`: knowledge-base suggestions for the customer's latest message,
  the sentiment state, and the customer's order context. Who may call it: exactly who may read the
  conversation (agents and supervisors; 404 for a conversation outside the caller's queues, as
  `GET /api/conversations/{id}`; editors 403).
- A push `{"type": "assist", "conversation_id", "message_id", "suggestions", "sentiment", ...}` on the
  WebSocket right after each relayed customer message, to the consoles that heard the message: the
  console need not ask. The work runs in one worker thread (encoders, FAISS and the classifier are
  CPU-bound; one at a time on a small machine); a burst of messages in one conversation is answered
  for the latest only.

Registered by `handoff.app.build_app` with `assist_api.register(app, settings)`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Optional

from aiohttp import web

from common.handoff_triggers import TriggerConfig
from common.settings import Settings
from handoff import app as core
from handoff import assist, editor_api
from handoff.service import Event

logger = logging.getLogger(__name__)


def _serving() -> None:
    from knowledge.encoders import serving_mode

    serving_mode()


class AssistState:
    def __init__(self, assistant: assist.Assistant, settings: Settings) -> None:
        self.assistant = assistant
        self.settings = settings
        # one BLAS and one torch thread for query encoding, as in the action server: one query is too small
        # to share across cores, and several threads fight over a small machine (bench/assist/README.md)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="assist", initializer=_serving)
        self.latest: Dict[int, int] = {}  # conversation id -> the newest customer message id not yet answered
        self._backend = None
        self.tasks: set = set()

    def backend(self):
        """The configured order backend, built on first use (in the running loop: the HTTP one holds a
        client session)."""
        if self._backend is None:
            from orders.factory import backend_from_settings

            self._backend = backend_from_settings(self.settings)
        return self._backend

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self._backend is not None:
            await self._backend.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


ASSIST = web.AppKey("assist", AssistState)


def _readable(request: web.Request):
    """The conversation, if the caller may read it (the same check as GET /api/conversations/{id})."""
    agent = core._agent(request)
    service = request.app[core.SERVICE]
    found = service.store.get(core._conversation_id(request))
    if found is None or not service.may_see(agent, found):
        raise web.HTTPNotFound(reason="no such conversation in your queues")
    return found


async def get_assist(request: web.Request) -> web.Response:
    conversation = _readable(request)
    state = request.app[ASSIST]
    messages = request.app[core.SERVICE].store.messages(conversation.id)
    loop = asyncio.get_running_loop()
    live = loop.run_in_executor(state.executor, state.assistant.live, conversation.language,
                                conversation.summary, messages)
    orders = assist.order_context(state.backend(), conversation.customer_id,
                                  request_id=request.headers.get("X-Request-ID", ""))
    found, context = await asyncio.gather(live, orders)
    return web.json_response({"conversation_id": conversation.id, **found, "orders": context})


def _on_customer_message(app: web.Application, event: Event) -> None:
    """Schedule the suggestions for a relayed customer message (called from the service's emit)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # outside the server: nobody listens
    state = app[ASSIST]
    conversation, message = event.conversation, event.message
    first = conversation.id not in state.latest
    state.latest[conversation.id] = message.id
    if not first:
        return  # a computation is on its way for this conversation: it will take the newest message
    task = loop.create_task(_push(app, conversation.id, time.perf_counter()))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def _push(app: web.Application, conversation_id: int, since: float) -> None:
    state = app[ASSIST]
    service = app[core.SERVICE]
    loop = asyncio.get_running_loop()
    try:
        while True:
            wanted = state.latest.get(conversation_id)
            conversation = service.store.get(conversation_id)
            if conversation is None:
                break
            messages = [m for m in service.store.messages(conversation_id) if m.id <= wanted]
            live = await loop.run_in_executor(state.executor, state.assistant.live, conversation.language,
                                              conversation.summary, messages)
            live["timing_ms"]["server_total"] = round((time.perf_counter() - since) * 1000, 1)
            conversation = service.store.get(conversation_id) or conversation
            core._broadcast(app, assist.as_payload(conversation_id, live),
                            lambda a, c=conversation: service.may_see(a, c))
            if state.latest.get(conversation_id) == wanted:
                break
            since = time.perf_counter()  # newer messages came meanwhile: answer the newest
    except Exception:  # noqa: BLE001 - a failed suggestion must not disturb the conversation
        logger.exception("agent assist failed", extra={"conversation": conversation_id})
    finally:
        state.latest.pop(conversation_id, None)


def _warmed(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("agent assist warm-up failed", extra={"error": repr(future.exception())})


def register(app: web.Application, settings: Settings, warm: Optional[bool] = None) -> None:
    """Routes, the push after each relayed customer message, and a background warm-up at start (the
    knowledge base, encoders and classifier load in the worker thread, not on the first message)."""
    published = app[editor_api.EDITOR].previewer.published
    assistant = assist.Assistant(published, settings.kb_thresholds, TriggerConfig.from_settings(settings))
    app[ASSIST] = AssistState(assistant, settings)
    app.router.add_get("/api/conversations/{id}/assist", get_assist)

    service = app[core.SERVICE]
    inner = service.emit

    def emit(event: Event) -> None:
        inner(event)
        if (event.kind == "message" and event.conversation is not None and event.message is not None
                and event.message.direction == "customer"):
            _on_customer_message(app, event)

    service.emit = emit

    async def start(app: web.Application) -> None:
        if warm is False:
            return
        future = asyncio.get_running_loop().run_in_executor(app[ASSIST].executor, assistant.warm)
        future.add_done_callback(_warmed)

    async def stop(app: web.Application) -> None:
        await app[ASSIST].close()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
