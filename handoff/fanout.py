"""Live updates across several handoff services (docs/scale-out.md): with CS_REDIS_URL set, every event a
service tells its own consoles (a conversation changed, a message, the queues, a delivered reply) is also
published on a Redis channel; every service forwards what the others published to the WebSockets it holds.
An agent's console is connected to one service behind the load balancer, while the change may happen on
another one (a customer's message arrives there, its delivery worker delivers a reply).

Only ids travel: the receiving service reads the conversation and the message from the shared store, and
decides who hears it as for its own events. Published messages also wake the receiver's delivery worker
(a lease on a conversation's outbox may have been given up there). While Redis is unreachable the service
keeps serving (its own consoles still hear its own events; consoles refresh their lists every 10 s) and
reconnects with growing pauses.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Optional

from aiohttp import web

logger = logging.getLogger(__name__)

CHANNEL = "cs-handoff-events"
MAX_PAUSE = 5.0


class Fanout:
    def __init__(self, redis_url: str, channel: str = CHANNEL) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.origin = uuid.uuid4().hex  # this service: its own messages come back and are skipped
        self.handler = None  # set by install(): called with each message of another service
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=10000)
        self._tasks: list = []
        self._redis = None
        self.received = 0

    # --- publishing (from synchronous code on the event loop) ----------------------------------------
    def publish(self, message: dict) -> None:
        try:
            self._queue.put_nowait({**message, "origin": self.origin})
        except asyncio.QueueFull:
            logger.warning("fan-out queue full: an update is dropped (consoles refresh on their own)")

    async def _publisher(self) -> None:
        pause = 0.2
        while True:
            message = await self._queue.get()
            while True:
                try:
                    await self._client().publish(self.channel, json.dumps(message))
                    pause = 0.2
                    break
                except Exception as exc:  # noqa: BLE001 - Redis down: keep the order, retry
                    logger.warning("fan-out publish failed, retrying", extra={"error": str(exc)[:200]})
                    await asyncio.sleep(pause)
                    pause = min(MAX_PAUSE, pause * 2)

    # --- receiving ----------------------------------------------------------------------------------------
    async def _subscriber(self) -> None:
        pause = 0.2
        while True:
            pubsub = None
            try:
                pubsub = self._client().pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.channel)
                pause = 0.2
                async for raw in pubsub.listen():
                    if raw.get("type") != "message":
                        continue
                    try:
                        message = json.loads(raw["data"])
                    except (TypeError, ValueError):
                        continue
                    if message.get("origin") == self.origin or self.handler is None:
                        continue
                    self.received += 1
                    try:
                        self.handler(message)
                    except Exception:  # noqa: BLE001 - one bad message must not end the subscription
                        logger.exception("fan-out message failed", extra={"kind": message.get("kind")})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect
                logger.warning("fan-out subscription lost, reconnecting", extra={"error": str(exc)[:200]})
            finally:
                if pubsub is not None:
                    try:
                        await pubsub.aclose()
                    except Exception:  # noqa: BLE001
                        pass
            await asyncio.sleep(pause)
            pause = min(MAX_PAUSE, pause * 2)

    def _client(self):
        if self._redis is None:
            import redis.asyncio as redis  # only when configured

            self._redis = redis.Redis.from_url(self.redis_url, socket_connect_timeout=5, health_check_interval=15)
        return self._redis

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._publisher()), loop.create_task(self._subscriber())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self._redis is not None:
            await self._redis.aclose()


FANOUT = web.AppKey("fanout", Fanout)


def install(app: web.Application, redis_url: str) -> Fanout:
    """Wrap the service's `emit` and the delivery worker's `delivered` so that what they tell this service's
    consoles is published too, and forward what other services publish to this service's consoles."""
    from handoff import app as handoff_app  # the web layer's views and broadcast (it imports this module)
    from handoff.service import Event

    fanout = Fanout(redis_url)
    service, worker = app[handoff_app.SERVICE], app[handoff_app.WORKER]
    local_emit, local_delivered = service.emit, worker.delivered

    def emit(event: Event) -> None:
        local_emit(event)
        fanout.publish({"kind": event.kind, "conversation_id": event.conversation.id if event.conversation else None,
                        "message_id": event.message.id if event.message else None})

    def delivered(item) -> None:
        local_delivered(item)
        if item.message_id is not None:
            fanout.publish({"kind": "delivered", "conversation_id": item.conversation_id,
                            "message_id": item.message_id})

    def forward(message: dict) -> None:
        kind = message.get("kind")
        conversation = message.get("conversation_id")
        conversation = service.store.get(int(conversation)) if conversation is not None else None
        found: Optional[object] = None
        if message.get("message_id") is not None:
            found = service.store.message(int(message["message_id"]))
        if kind == "delivered":
            if conversation is not None and found is not None:
                handoff_app._broadcast(app, {"type": "message", "conversation_id": conversation.id,
                                             "message": handoff_app._message_view(found)},
                                       lambda a: service.may_see(a, conversation))
            worker.wake()
        elif kind in ("conversation", "message", "queues"):
            local_emit(Event(kind, conversation, found))  # this service's consoles; wakes its worker

    service.emit, worker.delivered, fanout.handler = emit, delivered, forward
    app[FANOUT] = fanout

    async def start(app: web.Application) -> None:
        await fanout.start()

    async def stop(app: web.Application) -> None:
        await fanout.stop()

    app.on_startup.insert(0, start)
    app.on_shutdown.append(stop)
    return fanout
