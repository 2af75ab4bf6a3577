"""A console user of a handoff service a test runs: an aiohttp session that keeps its cookie, logged
in with the password of that test's accounts (`password`, set by each file's subclass)."""
from __future__ import annotations

from typing import Optional

import aiohttp


class ConsoleClient:
    password = ""  # the test file's agents' password

    def __init__(self, service, http: aiohttp.ClientSession) -> None:
        self.service, self.http = service, http

    async def login(self, agent_id: str, online: bool = False) -> None:
        async with self.http.post(self.service.url + "/api/login",
                                  json={"agent_id": agent_id, "password": self.password}) as resp:
            assert resp.status == 200, await resp.text()
        if online:
            async with self.http.put(self.service.url + "/api/me/status", json={"status": "online"}) as resp:
                assert resp.status == 200

    @classmethod
    async def open(cls, service, agent_id: Optional[str] = None, online: bool = False):
        """A new session; logged in as `agent_id` (and online) when given, else anonymous (the bot's side)."""
        client = cls(service, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))
        if agent_id:
            await client.login(agent_id, online)
        return client
