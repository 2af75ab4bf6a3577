"""Carries the outbox to the customer through Rasa, oldest first, one conversation's items in order.

A failed delivery stays in the outbox (attempts counted, error kept) and that conversation is retried
with growing pauses (up to MAX_PAUSE); its later items wait behind it, so the customer never reads a
reply before the one it follows, while other conversations go on being delivered. An item the customer's
channel refused for good (Undeliverable: WeChat's 48-hour window has closed) is not retried: it is marked
with the reason (its message shows it in the console) and the conversation's later items go on. Delivery is at
least once: a crash between Rasa taking an item and the store marking it can repeat that item.
The outbox lives in the store, so a restart resumes where it stopped.

Several services on one database (docs/scale-out.md) each run a worker: a worker delivers only the
conversations it holds a lease on in the store (taken for those nobody holds, renewed every round, given
up when nothing is left to deliver there, checked before every item), so each conversation is delivered
by one worker at a time, in order; the lease of a worker that died runs out after LEASE_SECONDS and
another takes its conversations over (an item the dead one had handed to Rasa but not marked is
delivered again: at least once).
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import Awaitable, Callable, Dict, List, Optional

from common.undeliverable import Refusal
from handoff.rasa_client import RasaUnavailable, Undeliverable
from handoff.store import HandoffStore, OutboxItem

logger = logging.getLogger(__name__)

MAX_PAUSE = 10.0
CONCURRENCY = 4  # conversations delivered side by side (each one still strictly in order)
# A conversation's outbox lease: longer than one delivery can take (Rasa's client times out after 30 s).
LEASE_SECONDS = 60.0


class DeliveryWorker:
    def __init__(self, store: HandoffStore, send: Callable[[str, str, dict], Awaitable[None]],
                 delivered: Callable[[OutboxItem], None] = lambda item: None,
                 undeliverable: Callable[[OutboxItem, Refusal], None] = lambda item, refusal: None,
                 clock: Callable[[], float] = time.monotonic, owner: Optional[str] = None,
                 lease_seconds: float = LEASE_SECONDS) -> None:
        self.store = store
        self.send = send
        self.delivered = delivered
        self.undeliverable = undeliverable
        self.clock = clock
        # this worker in the leases: a service restarted under the same name resumes its own at once
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        self._wake = asyncio.Event()
        self._task: Optional[asyncio.Task] = None
        # Per conversation: when to try again after a failure, and the pause used last time.
        self._retry_at: Dict[int, float] = {}
        self._pause: Dict[int, float] = {}

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Try every pending item once — conversations side by side (up to CONCURRENCY at a time,
        so one slow Rasa turn or a burst of position notices does not hold up an agent's reply
        elsewhere), each conversation's items in order, skipping conversations still pausing after a
        failure (their later items wait behind the failed one). Returns the number of failures."""
        now = self.clock()
        groups: Dict[int, List[OutboxItem]] = {}
        for item in self.store.claim_outbox(self.owner, self.lease_seconds, limit=1000):
            if self._retry_at.get(item.conversation_id, 0.0) <= now:
                groups.setdefault(item.conversation_id, []).append(item)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def conversation(items: List[OutboxItem]) -> int:
            async with gate:
                for item in items:
                    if not self.store.holds_outbox(item.conversation_id, self.owner):
                        return 0  # the lease ran out (a slow round): the next round claims it again
                    if not await self._deliver(item):
                        return 1
                self.store.release_outbox(items[0].conversation_id, self.owner)
                return 0

        results = await asyncio.gather(*(conversation(items) for items in groups.values()))
        return sum(results)

    async def _deliver(self, item: OutboxItem) -> bool:
        try:
            await self.send(item.sender_id, item.intent, item.entities)
        except Undeliverable as exc:
            # the channel refused it for good: recorded with the reason, never sent again; the conversation's
            # later items go on (each is tried: the customer may have written again meanwhile)
            self.store.outbox_undeliverable(item.id, exc.refusal.reason, str(exc))
            logger.warning("delivery refused by the channel", extra={
                "handoff": item.conversation_id, "outbox": item.id, "channel": exc.refusal.channel,
                "reason": exc.refusal.reason, "code": exc.refusal.code})
            self._retry_at.pop(item.conversation_id, None)
            self._pause.pop(item.conversation_id, None)
            self.undeliverable(item, exc.refusal)
            return True
        except RasaUnavailable as exc:
            pause = min(MAX_PAUSE, self._pause.get(item.conversation_id, 0.5) * 2)
            self._pause[item.conversation_id] = pause
            self._retry_at[item.conversation_id] = self.clock() + pause
            self.store.outbox_failed(item.id, str(exc))
            logger.warning("delivery failed, will retry", extra={"handoff": item.conversation_id, "outbox": item.id,
                                                                  "error": str(exc), "retry_in": pause})
            return False
        self._retry_at.pop(item.conversation_id, None)
        self._pause.pop(item.conversation_id, None)
        self.store.outbox_delivered(item.id)
        self.delivered(item)
        return True

    def _next_wait(self) -> float:
        if not self._retry_at:
            return 5.0
        return max(0.05, min(5.0, min(self._retry_at.values()) - self.clock()))

    async def run(self) -> None:
        """Deliver whenever woken (new items), when a paused conversation is due again, or every few
        seconds. One conversation's failures never hold up the others'."""
        while True:
            self._wake.clear()  # before the round: a wake during it means "go again"
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - the worker must outlive any one bad item
                logger.exception("delivery round failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._next_wait())
            except asyncio.TimeoutError:
                pass

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
