"""The web widget's channel: Rasa's socket.io channel (same name, events and options in
credentials.yml), plus the customer's identity from the embedding site.

The shop's page passes a signed customer token in the widget's `customData.customer_token`
(`common/identity.py`). A message with a valid token belongs to the customer's conversation
(`customers.py`), shared with their other channels: the socket joins that conversation's room, so the
bot's replies and an agent's messages (Rasa's `output_channel=latest`) reach this widget, and every
open tab of the customer. A message without a token stays in the widget session's own conversation.

Checked before the bot sees anything (`guard.py`): a message that is not an object, without a valid
session id (reserved ids such as `customer:...` are refused: they would join another customer's
conversation), or whose text is not a non-empty string of at most 4000 characters without control
characters, is ignored and logged; over the rate limit (per address, per session, per verified
customer) the widget gets a polite "please wait" message instead of a turn.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from bot.channels import runtime, socket_fanout
from bot.channels.customers import customer_conversation_id
from bot.channels.guard import BUSY_TEXT, sender_problem, text_problem

log = logging.getLogger(__name__)

REJOIN_SECONDS = 3600.0  # a reconnecting widget rejoins its customer's room if verified this recently


class WebChatInput(SocketIOInput):
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = super().blueprint(on_new_message)
        sio = self.sio
        assert sio is not None
        socket_fanout.share_rooms(sio, runtime.settings().redis_url)  # several Rasa servers: docs/scale-out.md

        async def session_request(sid: Text, data: Optional[Dict] = None) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = data.get("session_id") or None
            if session_id is not None and sender_problem(session_id):
                log.warning("socket.io session request with an invalid session id: a new one is given")
                session_id = None
            if not isinstance(session_id, str) or not session_id:
                import uuid

                session_id = data["session_id"] = uuid.uuid4().hex
            if self.session_persistence:
                sio.enter_room(sid, session_id)
                customer = runtime.directory().customer_of(self.name(), session_id, seen_within=REJOIN_SECONDS)
                if customer:
                    sio.enter_room(sid, customer_conversation_id(customer))
            await sio.emit("session_confirm", session_id, room=sid)

        async def handle_message(sid: Text, data: Any = None) -> None:
            if not isinstance(data, dict):
                log.warning("socket.io message that is not an object ignored")
                return
            if self.session_persistence:
                session_id = data.get("session_id")
                if sender_problem(session_id):
                    log.warning("socket.io message without a valid session id ignored")
                    return
            else:
                session_id = sid
            text = data.get("message")
            if text_problem(text):
                log.warning("socket.io message refused", extra={"reason": text_problem(text)})
                return
            guard = runtime.guard()
            if not self._within_limits(sid, session_id):
                await sio.emit(self.bot_message_evt, {"text": BUSY_TEXT}, room=sid)
                return
            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            if not isinstance(metadata, dict):
                metadata = {}
            customer = runtime.verified_customer(metadata)
            route = runtime.directory().route(self.name(), session_id, verified_customer=customer)
            if route.conversation_id != session_id:
                sio.enter_room(sid, route.conversation_id)
            if route.conversation_id != session_id and not guard.allow_customer(self.name(), route.conversation_id)[0]:
                await sio.emit(self.bot_message_evt, {"text": BUSY_TEXT}, room=sid)
                return
            await on_new_message(UserMessage(text, SocketIOOutput(sio, self.bot_message_evt), route.conversation_id,
                                             input_channel=self.name(), metadata=metadata))

        sio.on("session_request", handler=session_request, namespace=self.namespace)
        sio.on(self.user_message_evt, handler=handle_message, namespace=self.namespace)
        return bp

    def _within_limits(self, sid: Text, session_id: str) -> bool:
        """Per client address (of the socket's connecting request) and per widget session."""
        guard = runtime.guard()
        try:
            request = (self.sio.get_environ(sid, namespace=self.namespace) or {}).get("sanic.request")
        except (KeyError, AttributeError):
            request = None
        address = guard.address(getattr(request, "ip", None), getattr(request, "headers", None) or {})
        return guard.allow_address(self.name(), address)[0] and guard.allow_customer(self.name(), session_id)[0]
