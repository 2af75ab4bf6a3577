"""Customers in the console (customers/, docs/customers.md):

- `GET /api/customers/{id}/profile`: the customer's 360° profile (customers/profile.py: identity and
  channels, RFM tier and segment, VIP, advisor, orders, conversations, handoffs and CSAT). Who may call
  it: whoever may read one of the customer's handoffs (the check of GET /api/conversations/{id}:
  supervisors, the agent who had it, agents of its queue while it waits); 404 otherwise, also for a
  customer the service never saw; editors 403.
- `PUT /api/customers/{id}/advisor` `{"agent_id": "lin"}` (or null to remove): the customer's
  dedicated advisor, who is offered their handoffs first when online with a free slot. Supervisors.

Registered by `handoff.app.build_app` with `customers_api.register(app, settings)`.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from aiohttp import web

from common.settings import Settings
from customers import profile as profiles
from customers.rfm import RfmConfig
from handoff import app as core


class CustomersState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rfm = RfmConfig.from_settings(settings)
        self._backend = None

    def backend(self):
        """The configured order backend, built on first use (in the running loop)."""
        if self._backend is None:
            from orders.factory import backend_from_settings

            self._backend = backend_from_settings(self.settings)
        return self._backend

    async def close(self) -> None:
        if self._backend is not None:
            await self._backend.close()


CUSTOMERS = web.AppKey("customers", CustomersState)


def _customer_id(request: web.Request) -> str:
    customer_id = request.match_info["customer_id"]
    if not 0 < len(customer_id) <= 128:
        raise web.HTTPNotFound(reason="no such customer")
    return customer_id


async def get_profile(request: web.Request) -> web.Response:
    agent = core._agent(request)
    customer_id = _customer_id(request)
    service = request.app[core.SERVICE]
    state = request.app[CUSTOMERS]
    loop = asyncio.get_running_loop()
    handoffs = await loop.run_in_executor(None, service.store.customer_handoffs, customer_id)
    if not any(service.may_see(agent, h) for h in handoffs):
        raise web.HTTPNotFound(reason="no such customer in your conversations")
    settings = state.settings
    customer, orders = await profiles.read_orders(state.backend(), customer_id,
                                                  request.headers.get("X-Request-ID", ""))
    channels = await loop.run_in_executor(None, profiles.read_channels, settings.channels_db, customer_id)
    contacts = None
    if not settings.tracker_db_url:  # the tracker in PostgreSQL is not read here (docs/customers.md)
        contacts = await loop.run_in_executor(None, profiles.read_contacts, settings.tracker_db, customer_id)
    advisor = service.store.advisor(customer_id)
    found = profiles.build_profile(customer_id, now=datetime.now(timezone.utc), config=state.rfm,
                                   customer=customer, orders=orders, channels=channels, contacts=contacts,
                                   handoffs=handoffs, advisor=advisor)
    body = found.as_dict()
    row = service.store.agent_row(advisor) if advisor else None
    body["advisor_name"] = row["name"] if row else None
    return web.json_response(body)


async def put_advisor(request: web.Request) -> web.Response:
    agent = core._agent(request)
    customer_id = _customer_id(request)
    body = await core._body(request)
    agent_id = body.get("agent_id")
    if agent_id is not None and (not isinstance(agent_id, str) or not 0 < len(agent_id) <= 64):
        raise ValueError("'agent_id' must be an agent's id or null")
    advisor = request.app[core.SERVICE].set_advisor(agent["id"], customer_id, agent_id)
    return web.json_response({"customer_id": customer_id, "advisor": advisor})


def register(app: web.Application, settings: Settings) -> None:
    app[CUSTOMERS] = CustomersState(settings)
    app.router.add_get("/api/customers/{customer_id}/profile", get_profile)
    app.router.add_put("/api/customers/{customer_id}/advisor", put_advisor)

    async def stop(app: web.Application) -> None:
        await app[CUSTOMERS].close()

    app.on_shutdown.append(stop)
