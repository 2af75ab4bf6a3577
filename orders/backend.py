"""The protocol every order system adapter implements, and the errors it may raise.

Actions only ever see this: swapping SQLite for an external API is configuration (`CS_ORDER_BACKEND`).
Every call takes the request id of the conversation turn, so that a log line on either side of an
HTTP hop can be matched; writes take an idempotency key, so that a retried write happens once.
"""
from __future__ import annotations

from typing import List, Optional, Protocol, runtime_checkable

from orders.model import AfterSalesRequest, Customer, LogisticsEvent, NewAfterSalesRequest, Order


class OrderBackendError(Exception):
    """The order system could not answer properly."""


class BackendUnavailable(OrderBackendError):
    """Down, too slow, failing (after retries), or shut off by the circuit breaker."""


class MalformedResponse(OrderBackendError):
    """The order system answered something that does not follow the contract."""


class RuleViolation(OrderBackendError):
    """The order system refused a write because a business rule forbids it (see orders/policy.py)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


@runtime_checkable
class OrderBackend(Protocol):
    async def get_order(self, number: str, *, request_id: str = "") -> Optional[Order]:
        """The order, or None when no order has that number."""

    async def get_customer(self, customer_id: str, *, request_id: str = "") -> Optional[Customer]:
        ...

    async def recent_orders(self, customer_id: str, limit: int = 5, *,
                            request_id: str = "") -> List[Order]:
        """The customer's latest orders, newest first."""

    async def logistics(self, number: str, *, request_id: str = "") -> List[LogisticsEvent]:
        """Tracking events of the order's parcel, oldest first (empty before shipping)."""

    async def after_sales_requests(self, number: str, *, request_id: str = "") -> List[AfterSalesRequest]:
        ...

    async def create_after_sales(self, request: NewAfterSalesRequest, *, idempotency_key: str,
                                 request_id: str = "") -> AfterSalesRequest:
        """Open a return/refund/exchange; RuleViolation when the rules forbid it."""

    async def cancel_order(self, number: str, *, idempotency_key: str, request_id: str = "") -> Order:
        """Cancel an order that has not shipped; RuleViolation otherwise. Returns the updated order."""

    async def close(self) -> None:
        ...
