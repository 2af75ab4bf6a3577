"""The action server's side of the handoff service's API (handoff/app.py): file a handoff, relay a
customer's message, record a rating. Real HTTP with the service token; errors become
`HandoffUnavailable` so the customer always gets an answer."""
from __future__ import annotations

from functools import lru_cache
from typing import Optional

import aiohttp

from common.secrets import handoff_service_token
from common.settings import Settings


class HandoffUnavailable(Exception):
    """The handoff service could not be reached or refused the call."""

    # answers a retry cannot change: the request itself is wrong, or this action server is not let in
    # (a wrong service token is a configuration error, not an outage); anything else may pass later
    FINAL_STATUSES = (400, 401, 403, 404, 409, 413, 422)

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retryable(self) -> bool:
        """Down, timed out, 5xx, or refused for a reason that may pass: worth queueing (handoff_outbox)."""
        return self.status not in self.FINAL_STATUSES


class NoConversation(Exception):
    """The customer has no conversation with people (any more)."""


class HandoffClient:
    def __init__(self, base_url: str, token: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def post(self, path: str, body: dict) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async with session.post(self.base_url + path, json=body, headers=headers) as response:
                    data = await response.json(content_type=None)
                    if response.status == 404 and path == "/api/relay":
                        raise NoConversation(data.get("error", ""))
                    if response.status >= 400:
                        raise HandoffUnavailable(f"{path}: {response.status} {data.get('error', '')}",
                                                 response.status)
                    return data
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise HandoffUnavailable(f"{path}: {type(exc).__name__}: {exc}") from exc

    async def open(self, body: dict) -> dict:
        return await self.post("/api/handoffs", body)

    async def relay(self, sender_id: str, text: str, ticket: bool = False) -> dict:
        """`ticket`: this is the message the customer was asked to leave for later."""
        return await self.post("/api/relay", {"sender_id": sender_id, "text": text, "ticket": ticket})

    async def ticket_message(self, sender_id: str, customer_id: Optional[str], number: str, text: str) -> dict:
        """The customer's answer to a question of their ticket."""
        return await self.post("/api/tickets/customer-message", ticket_body(sender_id, customer_id, number,
                                                                            text=text))

    async def ticket_csat(self, sender_id: str, customer_id: Optional[str], number: str, score: int,
                          comment: str = "") -> dict:
        return await self.post("/api/tickets/csat", ticket_body(sender_id, customer_id, number, score=score,
                                                                comment=comment))

    async def ticket_lookup(self, sender_id: str, customer_id: Optional[str], language: str,
                            number: Optional[str] = None) -> dict:
        """What the customer asking about their ticket(s) reads (`text`, rendered by the service) and the
        ticket their next message answers (`awaiting`, or None)."""
        body = {"sender_id": sender_id, "customer_id": customer_id, "language": language}
        if number:
            body["number"] = number
        return await self.post("/api/tickets/lookup", body)

    async def csat(self, handoff_id: str, score: int, comment: Optional[str] = None) -> dict:
        return await self.post("/api/csat", {"handoff_id": handoff_id, "score": score, "comment": comment or ""})


def ticket_body(sender_id: str, customer_id: Optional[str], number: str, **fields) -> dict:
    return {"sender_id": sender_id, "customer_id": customer_id, "number": number, **fields}


@lru_cache(maxsize=1)
def handoff_client() -> HandoffClient:
    settings = Settings.from_env()
    return HandoffClient(settings.handoff_url, handoff_service_token(settings.var_dir))
