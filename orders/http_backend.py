"""An external order-management API as an OrderBackend (contract: docs/order-api.md).

- Timeouts on every call (connect and total).
- Retries with exponential backoff and jitter, only where a retry can help: timeouts, connection
  errors and 5xx. A 4xx is an answer, not a failure (404 -> None, 409 -> RuleViolation).
- Writes carry an `Idempotency-Key`, so retrying them is safe.
- A circuit breaker: after repeated failures calls fail fast for a while (orders/breaker.py).
- Responses are decoded strictly (orders/codec.py): a malformed answer is an error, not a crash.
- Every call sends `X-Request-ID` (the conversation turn's id) and logs with it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any, Callable, List, Optional
from urllib.parse import quote

import aiohttp

from orders import codec
from orders.backend import BackendUnavailable, MalformedResponse, OrderBackendError, RuleViolation
from orders.breaker import CircuitBreaker, CircuitOpen
from orders.model import AfterSalesRequest, Customer, LogisticsEvent, NewAfterSalesRequest, Order

logger = logging.getLogger(__name__)

_NOT_FOUND = object()


class _Retryable(Exception):
    pass


def _list(key: str, decode: Callable[[Any, str], Any]) -> Callable[[Any], list]:
    return lambda data: codec.decode_list(data, key, decode)


class HttpOrderBackend:
    def __init__(self, base_url: str, token: str, *, timeout: float = 3.0, retries: int = 2,
                 backoff: float = 0.2, breaker: Optional[CircuitBreaker] = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"order API URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 2.0))
        self.retries = retries
        self.backoff = backoff
        self.breaker = breaker or CircuitBreaker()
        self._session: Optional[aiohttp.ClientSession] = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop (each Sanic worker has its own).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, headers={"Authorization": f"Bearer {self.token}",
                                               "Accept": "application/json"})
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def _call(self, method: str, path: str, decode: Callable[[Any], Any], *, request_id: str,
                    body: Any = None, idempotency_key: Optional[str] = None) -> Any:
        """`decode`d JSON of a 2xx answer; _NOT_FOUND for 404; raises the backend errors otherwise."""
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:
            logger.warning("order API call refused by the circuit breaker",
                           extra={"request_id": request_id, "path": path})
            raise BackendUnavailable(str(exc)) from None
        headers = {"X-Request-ID": request_id} if request_id else {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            try:
                result = await self._once(method, path, headers, body)
                if result is not _NOT_FOUND:
                    result = decode(result)
            except _Retryable as exc:
                logger.warning("order API call failed", extra={
                    "request_id": request_id, "method": method, "path": path, "attempt": attempt,
                    "error": str(exc), "ms": round((time.perf_counter() - started) * 1000, 1)})
                if attempt == attempts:
                    self.breaker.failed()
                    raise BackendUnavailable(f"{method} {path}: {exc} (after {attempts} attempts)") from None
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1) * (0.5 + random.random()))
                continue
            except MalformedResponse as exc:
                self.breaker.failed()
                logger.error("order API answered off contract", extra={
                    "request_id": request_id, "method": method, "path": path, "error": str(exc)})
                raise
            except OrderBackendError:
                self.breaker.succeeded()  # the system is up: it gave a (refusing) answer
                raise
            self.breaker.succeeded()
            return result
        raise AssertionError("unreachable")

    async def _once(self, method: str, path: str, headers: dict, body: Any) -> Any:
        try:
            async with self._client().request(method, self.base_url + path, json=body,
                                              headers=headers) as response:
                raw = await response.read()
                status = response.status
        except asyncio.TimeoutError:
            raise _Retryable("timed out") from None
        except aiohttp.ClientError as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        if status >= 500:
            raise _Retryable(f"HTTP {status}")
        if status == 404:
            return _NOT_FOUND
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            raise MalformedResponse(f"HTTP {status}: body is not JSON: {raw[:80]!r}") from None
        if status == 409:
            code = data.get("code") if isinstance(data, dict) else None
            if not isinstance(code, str):
                raise MalformedResponse("HTTP 409 without an error code")
            raise RuleViolation(code, str(data.get("message") or code))
        if status in (401, 403):
            raise OrderBackendError(f"HTTP {status}: the order API refused our token (check CS_ORDER_API_TOKEN)")
        if not 200 <= status < 300:
            raise OrderBackendError(f"HTTP {status}: {raw[:200]!r}")
        if data is None:
            raise MalformedResponse(f"HTTP {status} with an empty body")
        return data

    # --- OrderBackend ----------------------------------------------------------------------------
    async def get_order(self, number: str, *, request_id: str = "") -> Optional[Order]:
        data = await self._call("GET", f"/v1/orders/{quote(number, safe='')}", codec.decode_order,
                                request_id=request_id)
        return None if data is _NOT_FOUND else data

    async def get_customer(self, customer_id: str, *, request_id: str = "") -> Optional[Customer]:
        data = await self._call("GET", f"/v1/customers/{quote(customer_id, safe='')}", codec.decode_customer,
                                request_id=request_id)
        return None if data is _NOT_FOUND else data

    async def recent_orders(self, customer_id: str, limit: int = 5, *, request_id: str = "") -> List[Order]:
        data = await self._call("GET", f"/v1/customers/{quote(customer_id, safe='')}/orders?limit={int(limit)}",
                                _list("orders", codec.decode_order), request_id=request_id)
        return [] if data is _NOT_FOUND else data

    async def logistics(self, number: str, *, request_id: str = "") -> List[LogisticsEvent]:
        data = await self._call("GET", f"/v1/orders/{quote(number, safe='')}/logistics",
                                _list("events", codec.decode_event), request_id=request_id)
        return [] if data is _NOT_FOUND else data

    async def after_sales_requests(self, number: str, *, request_id: str = "") -> List[AfterSalesRequest]:
        data = await self._call("GET", f"/v1/orders/{quote(number, safe='')}/after-sales",
                                _list("requests", codec.decode_request), request_id=request_id)
        return [] if data is _NOT_FOUND else data

    async def create_after_sales(self, request: NewAfterSalesRequest, *, idempotency_key: str,
                                 request_id: str = "") -> AfterSalesRequest:
        data = await self._call("POST", f"/v1/orders/{quote(request.order_number, safe='')}/after-sales",
                                codec.decode_request, request_id=request_id, body=codec.encode_new_request(request),
                                idempotency_key=idempotency_key)
        if data is _NOT_FOUND:
            raise RuleViolation("unknown_order")
        return data

    async def cancel_order(self, number: str, *, idempotency_key: str, request_id: str = "") -> Order:
        data = await self._call("POST", f"/v1/orders/{quote(number, safe='')}/cancel", codec.decode_order,
                                request_id=request_id, body={}, idempotency_key=idempotency_key)
        if data is _NOT_FOUND:
            raise RuleViolation("unknown_order")
        return data
