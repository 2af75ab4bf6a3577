"""Carries the outbox to the customer through Rasa, oldest first, one conversation's items in order.

A failed delivery stays in the outbox (attempts counted, error kept) and is retried with growing
pauses; later items of the same conversation wait behind it, so the customer never reads a reply
before the one it follows. The outbox lives in the store, so a restart resumes where it stopped.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Optional

from handoff.rasa_client import RasaUnavailable
from handoff.store import HandoffStore, OutboxItem

logger = logging.getLogger(__name__)

MAX_PAUSE = 10.0


class DeliveryWorker:
    def __init__(self, store: HandoffStore, send: Callable[[str, str, dict], Awaitable[None]],
                 delivered: Callable[[OutboxItem], None] = lambda item: None) -> None:
        self.store = store
        self.send = send
        self.delivered = delivered
        self._wake = asyncio.Event()
        self._task: Optional[asyncio.Task] = None

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Try every pending item once (in order, skipping conversations blocked by a failure);
        returns the number of failures."""
        blocked = set()
        failures = 0
        for item in self.store.pending_outbox():
            if item.conversation_id in blocked:
                continue
            try:
                await self.send(item.sender_id, item.intent, item.entities)
            except RasaUnavailable as exc:
                failures += 1
                blocked.add(item.conversation_id)
                self.store.outbox_failed(item.id, str(exc))
                logger.warning("delivery failed, will retry", extra={"handoff": item.conversation_id,
                                                                      "outbox": item.id, "error": str(exc)})
                continue
            self.store.outbox_delivered(item.id)
            self.delivered(item)
        return failures

    async def run(self) -> None:
        """Deliver whenever woken (new items) or every few seconds; after a failure, wait the
        growing pause out even if woken meanwhile (Rasa is down: new items wait their turn)."""
        pause = 0.5
        while True:
            try:
                failures = await self.run_once()
            except Exception:  # noqa: BLE001 - the worker must outlive any one bad item
                logger.exception("delivery round failed")
                failures = 1
            if failures:
                pause = min(MAX_PAUSE, pause * 2)
                await asyncio.sleep(pause)
                continue
            pause = 0.5
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=5.0)
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
