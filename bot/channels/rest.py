"""Rasa's REST channel (tools, tests, simple integrations), with the checks it lacks: Rasa's own
answers 500 to a body that is a JSON list, files a message without a sender under a random
conversation, runs a turn on a number or null as text (stored as a user event), takes a
client-chosen `input_channel`, and accepts any size. This one keeps its URL, request and answer
(POST /webhooks/rest/webhook {"sender", "message", "metadata"} -> [bot messages]) and refuses with
a clear 4xx before anything is processed or stored:

    400  not a JSON object; sender not a 1-128 character id, or a reserved one (`guard.py`); message
         not a non-empty string of at most 4000 characters, with control characters, or an
         EXTERNAL_ intent; metadata not an object
    413  body over 64 KiB
    429  over the per-address or per-sender rate limit (Retry-After)

An optional `"message_id"` (1-128 of A-Z a-z 0-9 . _ : -, 400 otherwise) makes a client's retry of
the message processed once (`once.py`).

credentials.yml: `bot.channels.rest.RestInput:` instead of `rest:`. Rasa's `?stream=true` is not offered.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import once, runtime
from bot.channels.guard import sender_problem, text_problem, too_many

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


class RestInput(RasaRestInput):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("custom_webhook_RestInput", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            guard = runtime.guard()
            allowed, wait = guard.allow_address(self.name(), guard.address(request.ip, request.headers))
            if not allowed:
                return too_many(wait)
            body = request.body or b""
            if len(body) > MAX_BODY:
                return _error(413, f"body over {MAX_BODY} bytes")
            try:
                data = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                return _error(400, "the body must be JSON")
            problem = _invalid(data)
            if problem:
                return _error(400, problem)
            allowed, wait = guard.allow_customer(self.name(), data["sender"])
            if not allowed:
                return too_many(wait, "too many messages from this sender")
            if once.key_problem(data.get("message_id")):
                return _error(400, once.key_problem(data.get("message_id")))
            collector = CollectingOutputChannel()
            try:
                message = UserMessage(data["message"], collector, data["sender"], input_channel=self.name(),
                                      metadata=data.get("metadata"), message_id=data.get("message_id"))
                if data.get("message_id") is None:
                    await on_new_message(message)
                else:  # a client's retry is processed once (once.py, docs/scale-out.md)
                    earlier = await once.handle_once(request.app.ctx.agent, message)
                    if earlier is not None:
                        return response.json(earlier)
            except Exception:  # noqa: BLE001 - as Rasa's: the turn's failure is logged, the answer says what was said
                log.exception("rest turn failed")
            return response.json(collector.messages)

        return bp


def _invalid(data: Any) -> Optional[str]:
    if not isinstance(data, dict):
        return "the body must be a JSON object"
    problem = sender_problem(data.get("sender"))
    if problem:
        return problem
    problem = text_problem(data.get("message"))
    if problem:
        return problem
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "metadata: a JSON object"
    return None


def _error(status: int, message: str) -> HTTPResponse:
    log.warning("rest request refused", extra={"channel": "rest", "status": status, "reason": message})
    return response.json({"error": message}, status=status)

