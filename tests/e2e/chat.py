"""Talking to the running assistant over its real channels."""
from __future__ import annotations

import asyncio
import uuid
from typing import List, Optional

import requests
import socketio


def rest_say(rasa_url: str, sender: str, message: str, metadata: Optional[dict] = None) -> List[dict]:
    body = {"sender": sender, "message": message}
    if metadata:
        body["metadata"] = metadata
    resp = requests.post(f"{rasa_url}/webhooks/rest/webhook", json=body, timeout=30)
    resp.raise_for_status()
    return resp.json()


def parse(stack, text: str) -> dict:
    """What the running Rasa model makes of `text` (its HTTP API, with the stack's token)."""
    from common.secrets import rasa_api_token

    resp = requests.post(f"{stack.rasa_url}/model/parse", params={"token": rasa_api_token(stack.settings.var_dir)},
                         json={"text": text}, timeout=30)
    resp.raise_for_status()
    return resp.json()


def texts(replies: List[dict]) -> List[str]:
    return [r.get("text", "") for r in replies]


def new_sender(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class SocketCustomer:
    """A customer on the web widget's protocol: session_request/session_confirm, user_uttered,
    bot_uttered, with customData as metadata."""

    def __init__(self, rasa_url: str, custom_data: Optional[dict] = None) -> None:
        self.rasa_url = rasa_url
        self.custom_data = custom_data or {}
        self.session_id = uuid.uuid4().hex
        self.client = socketio.AsyncClient(reconnection=False)
        self.inbox: asyncio.Queue = asyncio.Queue()
        self._confirmed = asyncio.Event()
        self.client.on("bot_uttered", self._on_bot)
        self.client.on("session_confirm", self._on_confirm)

    async def _on_bot(self, data: dict) -> None:
        await self.inbox.put(data)

    async def _on_confirm(self, data: object) -> None:
        self._confirmed.set()

    async def connect(self) -> None:
        await self.client.connect(self.rasa_url, socketio_path="/socket.io/", transports=["websocket"])
        await self.client.emit("session_request", {"session_id": self.session_id})
        await asyncio.wait_for(self._confirmed.wait(), 10)

    async def say(self, message: str, expect: int = 1, timeout: float = 20.0) -> List[dict]:
        """Send a message and collect replies until `expect` arrived and the bot is quiet."""
        await self.client.emit("user_uttered", {"message": message, "session_id": self.session_id,
                                                "customData": self.custom_data})
        replies = [await asyncio.wait_for(self.inbox.get(), timeout)]
        while True:
            try:
                wait = timeout if len(replies) < expect else 1.5
                replies.append(await asyncio.wait_for(self.inbox.get(), wait))
            except asyncio.TimeoutError:
                return replies

    async def send(self, message: str) -> None:
        """Send without waiting for an answer (while a person owns the conversation the bot is silent)."""
        await self.client.emit("user_uttered", {"message": message, "session_id": self.session_id,
                                                "customData": self.custom_data})

    async def next_text(self, containing: str, timeout: float = 20.0) -> dict:
        """The next bot/agent message whose text contains `containing` (earlier ones are skipped)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no message containing {containing!r} within {timeout} s")
            message = await asyncio.wait_for(self.inbox.get(), left)
            if containing in (message.get("text") or ""):
                return message

    async def close(self) -> None:
        await self.client.disconnect()
