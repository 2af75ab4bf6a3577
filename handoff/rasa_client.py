"""Rasa's HTTP API, as the handoff service uses it: inject an external event into a customer's
conversation (`POST /conversations/{id}/trigger_intent`), which runs the bot's reaction and sends its
messages on the customer's own channel (`output_channel=latest`). The API is protected by a token.

Rasa answers 200 even when the bot could not act on the event: when the action server fails, Rasa's
processor drops the action's events and goes on. The Rasa server's guard (bot/action_guard.py) then ends
the turn with a marked event, and `trigger` reports that as RasaUnavailable, so the outbox keeps the item
and sends it again (the customer gets the agent's message once the action server is back, not never).

A channel that refuses the message for good (WeChat's 48-hour window has closed) makes Rasa answer 500
with a tag in its error text; `trigger` raises Undeliverable for it, and the outbox records the message
as not delivered, with the reason, instead of trying again (common/undeliverable.py).
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import quote

import aiohttp

from common import undeliverable
from common.rasa_marks import ACTION_SERVER_UNAVAILABLE


class RasaUnavailable(Exception):
    """Rasa did not take the event (down, timed out, or answered with an error)."""


class Undeliverable(Exception):
    """The customer's channel refused the bot's message for good (common/undeliverable.py): sending the
    event again cannot succeed."""

    def __init__(self, refusal: undeliverable.Refusal) -> None:
        super().__init__(refusal.describe())
        self.refusal = refusal


class RasaClient:
    def __init__(self, base_url: str, token: str, timeout: float = 30.0,
                 session: Optional[aiohttp.ClientSession] = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def trigger(self, sender_id: str, intent: str, entities: dict) -> None:
        url = f"{self.base_url}/conversations/{quote(sender_id, safe='')}/trigger_intent"
        params = {"output_channel": "latest", "token": self.token}
        try:
            session = await self._client()
            async with session.post(url, params=params, json={"name": intent, "entities": entities}) as response:
                if response.status != 200:
                    body = await response.text()
                    refusal = undeliverable.parse(body)
                    if refusal is not None:
                        raise Undeliverable(refusal)
                    raise RasaUnavailable(f"Rasa answered {response.status}: {body[:300]}")
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    answer = None  # taken (200); an answer that does not parse is not a reason to send twice
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if not_acted_on(answer):
            raise RasaUnavailable(f"Rasa took {intent} but could not act on it: the action server was unavailable")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def not_acted_on(answer: object) -> bool:
    """Whether trigger_intent's answer shows the turn of the event just triggered (the events after the
    last user event in the tracker) ended by the guard because the action server failed."""
    events = ((answer or {}).get("tracker") or {}).get("events") if isinstance(answer, dict) else None
    if not isinstance(events, list):
        return False  # an answer without the tracker (another verbosity): nothing to tell
    for event in reversed(events):
        if not isinstance(event, dict):
            continue
        if event.get("event") == "user":
            return False
        if (event.get("metadata") or {}).get(ACTION_SERVER_UNAVAILABLE):
            return True
    return False
