"""Rasa input channel for the mobile app's back end: request/response over HTTP, plus signed
callbacks for the messages that come later (an agent's reply during a handoff). Contract:
docs/app-api.md.

    POST /webhooks/app/webhook
      X-CS-Timestamp: <unix seconds>          X-CS-Signature: v1=<hex HMAC-SHA256(secret, ts + "." + body)>
      {"sender": "<app user id>", "message": "...", "message_id": "<optional, for retries>",
       "metadata": {"customer_id": "<the signed-in customer>", "language": "zh"}}
    -> 200 {"conversation_id": "...", "messages": [{"text": ..., "buttons": [...]}, ...]}

The back end signs every request with the shared secret, so the customer id it names is trusted (a
customer token in `metadata.customer_token` works too). Callbacks go to `callback_url`, signed the
same way, as {"id", "sender", "conversation_id", "message"}; they are retried, and a callback that
still fails makes the sender (e.g. the handoff service's outbox) try again later.

Rate limits (`guard.py`): per customer (the verified customer's conversation, else the app user's),
429 with Retry-After; per client address only for refused requests (bad signature, too large, not
JSON), since every call of the app's back end comes from its few addresses.

credentials.yml:

    bot.channels.app.AppInput:
      secret: ${CS_APP_CHANNEL_SECRET}
      callback_url: ${CS_APP_CALLBACK_URL}
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

import aiohttp
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import runtime
from bot.channels.guard import text_problem, too_many
from bot.channels.signing import Refusal, signed_headers, signed_json

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_MESSAGE = 4000
REMEMBER_SECONDS = 600.0


class CallbackOutput(OutputChannel):
    """Messages outside a request (agents' replies): POSTed to the app back end's callback URL."""

    def __init__(self, secret: str, url: str, attempts: int = 3, timeout: float = 5.0) -> None:
        self.secret = secret
        self.url = url
        self.attempts = attempts
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    def name(cls) -> Text:
        return "app"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        sender = runtime.directory().address(recipient_id, "app")
        if not sender:
            log.warning("no app user to deliver to", extra={"channel": "app"})
            return
        body = json.dumps({"id": uuid.uuid4().hex, "sender": sender, "conversation_id": recipient_id,
                           "message": _public(message)}, ensure_ascii=False).encode("utf-8")
        last: Exception = RuntimeError("no attempt")
        for attempt in range(self.attempts):
            try:
                async with aiohttp.ClientSession(timeout=self.timeout) as session:
                    async with session.post(self.url, data=body,
                                            headers=signed_headers(self.secret, body)) as answer:
                        if 200 <= answer.status < 300:
                            return
                        last = RuntimeError(f"callback answered {answer.status}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = exc
            if attempt + 1 < self.attempts:
                await asyncio.sleep(0.5 * 2 ** attempt)
        log.error("app callback failed", extra={"channel": "app", "error": str(last)})
        raise RuntimeError(f"app callback failed: {last}")


def _public(message: Dict[str, Any]) -> Dict[str, Any]:
    """A bot message as the app receives it (Rasa's internal keys left out)."""
    keys = ("text", "buttons", "image", "quick_replies", "custom", "attachment", "elements")
    return {k: message[k] for k in keys if message.get(k) not in (None, [], "")}


class AppInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "app"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        secret = str(credentials.get("secret") or "").strip()
        callback_url = str(credentials.get("callback_url") or "").strip()
        if secret and len(secret) < 16:
            raise ValueError("app channel secret is too short: use at least 16 random characters")
        return cls(secret, callback_url)

    def __init__(self, secret: str, callback_url: str) -> None:
        self.secret = secret
        self.callback_url = callback_url
        self._answers: Dict[str, tuple] = {}  # message key -> (time, answer) for retried requests

    def get_output_channel(self) -> Optional[OutputChannel]:
        if not (self.secret and self.callback_url):
            return None
        return CallbackOutput(self.secret, self.callback_url)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("app_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.secret else "not configured"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.secret:
                return _error(503, "the app channel is not configured")
            guard = runtime.guard()
            address = guard.address(request.ip, request.headers)
            allowed, wait = guard.addresses.check(f"{self.name()}|{address}")
            if not allowed:  # this address sent too many refused requests
                return too_many(wait)
            try:
                data = signed_json(self.secret, request.headers, request.body or b"", MAX_BODY)
            except Refusal as exc:
                guard.allow_address(self.name(), address)
                return _error(exc.status, exc.message)
            problem = _invalid(data)
            if problem:
                return _error(400, problem)
            metadata = dict(data.get("metadata") or {})
            customer = metadata.pop("customer_id", None) or runtime.verified_customer(metadata)
            route = runtime.directory().route(self.name(), data["sender"], verified_customer=customer)
            allowed, wait = guard.allow_customer(self.name(), route.conversation_id)
            if not allowed:
                return too_many(wait, "too many messages from this customer")
            key = f"{data['sender']}:{data['message_id']}" if data.get("message_id") else None
            if key and not runtime.ledger().claim(f"app:{key}"):
                remembered = self._answers.get(key)
                return response.json({"conversation_id": route.conversation_id, "duplicate": True,
                                      "messages": remembered[1] if remembered else []})
            metadata.pop("customer_token", None)
            token = runtime.customer_token(route.customer_id)
            if token:
                metadata["customer_token"] = token
            collector = CollectingOutputChannel()
            await on_new_message(UserMessage(data["message"], collector, route.conversation_id,
                                             input_channel=self.name(), metadata=metadata))
            messages = [_public(m) for m in collector.messages]
            if key:
                self._remember(key, messages)
            return response.json({"conversation_id": route.conversation_id, "messages": messages})

        return bp

    def _remember(self, key: str, messages: List[Dict[str, Any]]) -> None:
        now = time.monotonic()
        self._answers[key] = (now, messages)
        if len(self._answers) > 5000:
            self._answers = {k: v for k, v in self._answers.items() if now - v[0] < REMEMBER_SECONDS}


def _invalid(data: Any) -> Optional[str]:
    if not isinstance(data, dict):
        return "body must be a JSON object"
    if not isinstance(data.get("sender"), str) or not data["sender"].strip() or len(data["sender"]) > 128:
        return "sender: the app user id, a non-empty string of at most 128 characters"
    problem = text_problem(data.get("message"), MAX_MESSAGE)
    if problem:
        return problem
    if "message_id" in data and not (isinstance(data["message_id"], str) and 0 < len(data["message_id"]) <= 128):
        return "message_id: a string of 1-128 characters"
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "metadata: a JSON object"
    if isinstance(metadata, dict) and metadata.get("customer_id") is not None and not (
            isinstance(metadata["customer_id"], str) and metadata["customer_id"].strip()):
        return "metadata.customer_id: a non-empty string"
    return None


def _error(status: int, message: str) -> HTTPResponse:
    log.warning("app request refused", extra={"channel": "app", "status": status, "reason": message})
    return response.json({"error": message}, status=status)
