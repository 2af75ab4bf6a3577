"""A faithful local fake of a mobile app's back end (docs/app-api.md), over real HTTP: it signs the
customer's messages to our app channel, and receives our callbacks (agents' replies), checking their
signature like a real back end must and recording them.

    with FakeAppBackend(secret) as backend:           # callbacks arrive at backend.callback_url
        answer = backend.send(rasa_url, "u-1", "你好", customer_id="C1032")
        backend.wait_for_callbacks("u-1", 1)
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import requests
from aiohttp import web

from bot.channels.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_ok, signed_headers
from tests.fakes.server import ThreadedServer


@dataclass
class Callback:
    id: str
    sender: str
    conversation_id: str
    message: Dict[str, Any]
    at: float


class FakeAppBackend(ThreadedServer):
    thread_name, what = "fake-app-backend", "the fake app back end"

    def __init__(self, secret: str, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.host = host
        self.callbacks: List[Callback] = []
        self.refused = 0  # callbacks with a bad signature
        self.fail_next = 0  # answer 503 to that many callbacks (retries must follow)
        self._lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/cs-callback", self._receive)
        self._init_server(app, host)

    @property
    def callback_url(self) -> str:
        return f"{self.url}/cs-callback"

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not signature_ok(self.secret, request.headers.get(TIMESTAMP_HEADER), body,
                            request.headers.get(SIGNATURE_HEADER)):
            with self._lock:
                self.refused += 1
            return web.json_response({"error": "bad signature"}, status=401)
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return web.json_response({"error": "busy"}, status=503)
            data = json.loads(body)
            self.callbacks.append(Callback(data["id"], data["sender"], data["conversation_id"], data["message"],
                                           time.time()))
        return web.json_response({"ok": True})

    # --- the back end talking to our app channel ---------------------------------------------------
    def send(self, rasa_url: str, sender: str, message: str, customer_id: Optional[str] = None,
             message_id: Optional[str] = None, metadata: Optional[dict] = None, secret: Optional[str] = None,
             timeout: float = 30.0) -> requests.Response:
        payload: Dict[str, Any] = {"sender": sender, "message": message,
                                   "metadata": {**(metadata or {}),
                                                **({"customer_id": customer_id} if customer_id else {})}}
        if message_id:
            payload["message_id"] = message_id
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return requests.post(f"{rasa_url}/webhooks/app/webhook", data=body,
                             headers=signed_headers(secret or self.secret, body), timeout=timeout)

    def callbacks_for(self, sender: str) -> List[Callback]:
        with self._lock:
            return [c for c in self.callbacks if c.sender == sender]

    def wait_for_callback(self, sender: str, containing: str, timeout: float = 20.0) -> Callback:
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = next((c for c in self.callbacks_for(sender) if containing in (c.message.get("text") or "")), None)
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no callback to {sender} containing {containing!r}; got "
                             f"{[c.message.get('text') for c in self.callbacks_for(sender)]}")
