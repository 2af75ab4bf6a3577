"""The identity link endpoint: the shop's back end tells us which customer a channel user is, for
channels whose messages cannot carry a customer token (WeChat, WeCom). Typical flow: the customer
opens the shop's account page inside WeChat, the shop learns their OpenID through WeChat OAuth and
links it here; from then on their WeChat messages belong to their customer conversation
(`customers.py`).

    POST   /webhooks/identity/link   {"channel": "wechat", "user_id": "<OpenID>", "customer_id": "C1091"}
    DELETE /webhooks/identity/link   {"channel": "wechat", "user_id": "<OpenID>"}

Signed like the app channel (`signing.py`) with the identity secret (CS_IDENTITY_SECRET), the one
that signs customer tokens: whoever can vouch for customers on the web can vouch for them here.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import runtime
from bot.channels.signing import Refusal, signed_json

log = logging.getLogger(__name__)

LINKABLE = ("wechat", "wecom")  # web and app messages carry the customer themselves


class IdentityLinkInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "identity"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("identity_links", __name__)

        @bp.route("/link", methods=["POST", "DELETE"])
        async def link(request: Request) -> HTTPResponse:
            secret = runtime.settings().identity_secret
            if not secret:
                return _error(503, "identity links are off: CS_IDENTITY_SECRET is not set")
            try:
                data = signed_json(secret, request.headers, request.body or b"", 4096)
            except Refusal as exc:
                return _error(exc.status, exc.message)
            if not isinstance(data, dict) or data.get("channel") not in LINKABLE:
                return _error(400, f"channel: one of {', '.join(LINKABLE)}")
            user_id = data.get("user_id")
            if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 128:
                return _error(400, "user_id: the channel's user id (1-128 characters)")
            if request.method == "DELETE":
                removed = runtime.directory().unlink(data["channel"], user_id)
                return response.json({"unlinked": removed})
            customer = data.get("customer_id")
            if not isinstance(customer, str) or not customer.strip() or len(customer) > 128:
                return _error(400, "customer_id: the shop's customer id (1-128 characters)")
            route = runtime.directory().link(data["channel"], user_id, customer)
            log.info("channel user linked", extra={"channel": data["channel"]})
            return response.json({"conversation_id": route.conversation_id, "customer_id": customer})

        return bp


def _error(status: int, message: str) -> HTTPResponse:
    log.warning("identity link refused", extra={"status": status, "reason": message})
    return response.json({"error": message}, status=status)
