"""The order API over HTTP (docs/order-api.md), serving any OrderBackend: aiohttp handlers.

This is the contract `http_backend.HttpOrderBackend` speaks. Served over the SQLite backend it is a
reference implementation (`python -m orders serve`) that an order-management system can be checked
against, and the faithful local fake the tests and benchmarks run the HTTP backend against.
"""
from __future__ import annotations

import hmac
import logging
from typing import Awaitable, Callable

from aiohttp import web

from orders import codec
from orders.backend import MalformedResponse, OrderBackend, RuleViolation

logger = logging.getLogger(__name__)

BACKEND = web.AppKey("backend", OrderBackend)
TOKEN = web.AppKey("token", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer-token check, request-id echo, and contract errors as JSON."""
    if request.path != "/health":
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {request.app[TOKEN]}".encode()):
            return _error(401, "unauthorized", "missing or wrong bearer token")
    request_id = request.headers.get("X-Request-ID", "")
    try:
        response = await handler(request)
    except RuleViolation as exc:
        response = _error(409, exc.code, str(exc))
    except MalformedResponse as exc:  # a malformed request body, decoded by the same codec
        response = _error(400, "bad_request", str(exc))
    if request_id:
        response.headers["X-Request-ID"] = request_id
    return response


def _backend(request: web.Request) -> OrderBackend:
    return request.app[BACKEND]


def _rid(request: web.Request) -> str:
    return request.headers.get("X-Request-ID", "")


def _idempotency_key(request: web.Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > 200:
        raise MalformedResponse("writes need an Idempotency-Key header (1-200 characters)")
    return key


def _unknown_order() -> web.Response:
    return _error(404, "unknown_order", "no order with this number")


def _unknown_customer() -> web.Response:
    return _error(404, "unknown_customer", "no customer with this id")


async def _has_order(request: web.Request, number: str) -> bool:
    return await _backend(request).get_order(number, request_id=_rid(request)) is not None


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def get_order(request: web.Request) -> web.Response:
    order = await _backend(request).get_order(request.match_info["number"], request_id=_rid(request))
    if order is None:
        return _unknown_order()
    return web.json_response(codec.encode_order(order))


async def get_logistics(request: web.Request) -> web.Response:
    number = request.match_info["number"]
    if not await _has_order(request, number):
        return _unknown_order()
    events = await _backend(request).logistics(number, request_id=_rid(request))
    return web.json_response({"events": [codec.encode_event(e) for e in events]})


async def get_after_sales(request: web.Request) -> web.Response:
    number = request.match_info["number"]
    if not await _has_order(request, number):
        return _unknown_order()
    requests = await _backend(request).after_sales_requests(number, request_id=_rid(request))
    return web.json_response({"requests": [codec.encode_request(r) for r in requests]})


async def post_after_sales(request: web.Request) -> web.Response:
    key = _idempotency_key(request)
    try:
        body = await request.json()
    except ValueError:
        raise MalformedResponse("body is not JSON") from None
    if isinstance(body, dict):
        body = {**body, "order_number": request.match_info["number"]}
    new = codec.decode_new_request(body)
    if not await _has_order(request, new.order_number):
        return _unknown_order()
    created = await _backend(request).create_after_sales(new, idempotency_key=key, request_id=_rid(request))
    return web.json_response(codec.encode_request(created), status=201)


async def post_cancel(request: web.Request) -> web.Response:
    key = _idempotency_key(request)
    number = request.match_info["number"]
    if not await _has_order(request, number):
        return _unknown_order()
    order = await _backend(request).cancel_order(number, idempotency_key=key, request_id=_rid(request))
    return web.json_response(codec.encode_order(order))


async def get_customer(request: web.Request) -> web.Response:
    customer = await _backend(request).get_customer(request.match_info["customer_id"], request_id=_rid(request))
    if customer is None:
        return _unknown_customer()
    return web.json_response(codec.encode_customer(customer))


async def get_customer_orders(request: web.Request) -> web.Response:
    customer_id = request.match_info["customer_id"]
    try:
        limit = int(request.query.get("limit", "5"))
    except ValueError:
        raise MalformedResponse("limit must be an integer") from None
    if not 1 <= limit <= 50:
        raise MalformedResponse("limit must be between 1 and 50")
    if await _backend(request).get_customer(customer_id, request_id=_rid(request)) is None:
        return _unknown_customer()
    orders = await _backend(request).recent_orders(customer_id, limit, request_id=_rid(request))
    return web.json_response({"orders": [codec.encode_order(o) for o in orders]})


def create_app(backend: OrderBackend, token: str, middlewares: tuple = ()) -> web.Application:
    if not token:
        raise ValueError("the order API needs a token (CS_ORDER_API_TOKEN)")
    app = web.Application(middlewares=[*middlewares, guard])
    app[BACKEND] = backend
    app[TOKEN] = token
    app.router.add_get("/health", health)
    app.router.add_get("/v1/orders/{number}", get_order)
    app.router.add_get("/v1/orders/{number}/logistics", get_logistics)
    app.router.add_get("/v1/orders/{number}/after-sales", get_after_sales)
    app.router.add_post("/v1/orders/{number}/after-sales", post_after_sales)
    app.router.add_post("/v1/orders/{number}/cancel", post_cancel)
    app.router.add_get("/v1/customers/{customer_id}", get_customer)
    app.router.add_get("/v1/customers/{customer_id}/orders", get_customer_orders)

    async def close_backend(app: web.Application) -> None:
        await app[BACKEND].close()

    app.on_cleanup.append(close_backend)
    return app
