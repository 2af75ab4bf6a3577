"""Rasa's HTTP API, as the handoff service uses it: inject an external event into a customer's
conversation (`POST /conversations/{id}/trigger_intent`), which runs the bot's reaction and sends its
messages on the customer's own channel (`output_channel=latest`). The API is protected by a token.
"""
from __future__ import annotations

from typing import Optional
from urllib.parse import quote

import aiohttp


class RasaUnavailable(Exception):
    """Rasa did not take the event (down, timed out, or answered with an error)."""


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
                    body = (await response.text())[:300]
                    raise RasaUnavailable(f"Rasa answered {response.status}: {body}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
