"""common/prometheus.py (registries, the latency histogram, the exposition, the aiohttp middleware on a
real aiohttp server) and handoff/prometheus.py with the real service and store: each missed
first-response target is counted once, the scrape-time gauges read the store."""
from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import Counter
from prometheus_client.parser import text_string_to_metric_families

from common.prometheus import (
    LATENCY_BUCKETS,
    REQUEST_DURATION,
    UNMATCHED,
    AiohttpLatency,
    RequestMetrics,
    aiohttp_metrics_handler,
    exposition,
    method_label,
    new_registry,
)
from handoff.hours import business_hours
from handoff.prometheus import HandoffMetrics
from handoff.service import HandoffService, Intake, ServiceConfig
from handoff.store import HandoffStore

T0 = 1_700_000_000.0


def families(registry) -> dict:
    body, _ = exposition(registry)
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def count(registry, **labels) -> float:
    return registry.get_sample_value(f"{REQUEST_DURATION}_count", labels) or 0.0


# --- common/prometheus.py ---------------------------------------------------------------------------
def test_registries_are_independent_and_carry_process_metrics():
    first, second = new_registry(), new_registry()
    RequestMetrics(first).observe("GET", "/health", 200, 0.01)
    RequestMetrics(second)  # the same names again: no "duplicated timeseries" error
    assert count(first, method="GET", route="/health", status="200") == 1
    assert count(second, method="GET", route="/health", status="200") == 0
    names = families(first)
    assert REQUEST_DURATION in names and "process_resident_memory_bytes" in names and "python_info" in names
    assert "process_resident_memory_bytes" not in families(new_registry(process=False))


def test_buckets_span_5_ms_to_10_s():
    assert LATENCY_BUCKETS[0] == 0.005 and LATENCY_BUCKETS[-1] == 10.0
    assert list(LATENCY_BUCKETS) == sorted(set(LATENCY_BUCKETS))
    registry = new_registry(process=False)
    RequestMetrics(registry).observe("POST", "/webhook", 200, 0.3)
    labels = {"method": "POST", "route": "/webhook", "status": "200"}
    bucket = f"{REQUEST_DURATION}_bucket"
    assert registry.get_sample_value(bucket, {**labels, "le": "0.25"}) == 0
    assert registry.get_sample_value(bucket, {**labels, "le": "0.5"}) == 1
    assert registry.get_sample_value(bucket, {**labels, "le": "+Inf"}) == 1
    assert registry.get_sample_value(f"{REQUEST_DURATION}_sum", labels) == pytest.approx(0.3)


def test_labels_stay_bounded():
    assert method_label("get") == "GET"
    assert method_label("PROPFIND") == method_label("") == "other"
    registry = new_registry(process=False)
    RequestMetrics(registry).observe("BREW", None, 418, 0.001)
    assert count(registry, method="other", route=UNMATCHED, status="418") == 1


def test_exposition_is_the_prometheus_text_format_without_created_series():
    registry = new_registry(process=False)
    Counter("cs_test_things", "things", registry=registry).inc(3)
    body, content_type = exposition(registry)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert b"cs_test_things_total 3.0" in body
    assert b"_created" not in body


async def test_aiohttp_latency_is_labelled_by_route_template_and_final_status(tmp_path):
    registry = new_registry(process=False)
    (tmp_path / "app.js").write_text("ok")

    async def item(request):
        if request.match_info["id"] == "teapot":
            raise web.HTTPConflict(reason="taken")
        return web.json_response({"id": request.match_info["id"]})

    async def boom(request):
        raise RuntimeError("bug")

    async def socket(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close()
        return ws

    latency = AiohttpLatency(RequestMetrics(registry))
    app = web.Application(middlewares=[latency.middleware])
    app.on_response_prepare.append(latency.on_response_prepare)
    app.router.add_get("/items/{id}", item)
    app.router.add_get("/boom", boom)
    app.router.add_get("/ws", socket)
    app.router.add_get("/metrics", aiohttp_metrics_handler(registry))
    app.router.add_static("/static/", tmp_path)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/items/C1091-secret")).status == 200
        assert (await client.get("/items/teapot")).status == 409
        assert (await client.post("/items/1")).status == 405
        assert (await client.get("/nowhere/C1091")).status == 404
        assert (await client.get("/boom")).status == 500
        assert (await client.get("/static/app.js")).status == 200
        assert (await client.get("/static/missing-C1091.js")).status == 404  # decided when sending
        async with client.ws_connect("/ws") as ws:
            await ws.receive()
        scraped = await client.get("/metrics")
        assert scraped.status == 200 and scraped.headers["Content-Type"].startswith("text/plain")
        body = await scraped.text()
    assert count(registry, method="GET", route="/items/{id}", status="200") == 1
    assert count(registry, method="GET", route="/items/{id}", status="409") == 1
    assert count(registry, method="POST", route=UNMATCHED, status="405") == 1
    assert count(registry, method="GET", route=UNMATCHED, status="404") == 1
    assert count(registry, method="GET", route="/boom", status="500") == 1
    assert count(registry, method="GET", route="/static", status="200") == 1
    assert count(registry, method="GET", route="/static", status="404") == 1
    assert 'route="/ws"' not in body  # a WebSocket session is no request latency
    assert "C1091" not in body and "secret" not in body


# --- handoff/prometheus.py ----------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    store = HandoffStore(tmp_path / "handoff.sqlite3", clock=clock)
    store.add_agent("a1", "Alice Agent", "not-a-hash", ["general"], capacity=3)
    store.add_agent("a2", "Bob Agent", "not-a-hash", ["orders"], capacity=3)
    store.set_status("a1", "online")
    return store


def new_service(store, clock, metrics):
    config = ServiceConfig(hours=business_hours("00:00-24:00", "+08:00"))
    service = HandoffService(store, config, clock=clock, observe=metrics.observe)
    metrics.watch(service)
    return service


def intake(sender, reason="customer_request"):
    return Intake(sender_id=sender, channel="socketio", language="en", reason=reason,
                  summary={"issue": "my parcel never came"})


def test_gauges_and_counters_of_the_handoff_service(store, clock):
    metrics = HandoffMetrics(new_registry(process=False))
    service = new_service(store, clock, metrics)
    value = metrics.registry.get_sample_value
    assert value("cs_handoff_queue_depth", {"queue": "general"}) == 0
    assert value("cs_handoff_agents", {"status": "online"}) == 1
    assert value("cs_handoff_agents", {"status": "offline"}) == 1
    for n in range(4):  # a1 takes three (offered), the fourth waits
        service.open(intake(f"web-customer-{n}"))
    service.open(intake("web-customer-0"))  # already with people: nothing new
    assert value("cs_handoff_opened_total", {"queue": "general", "reason": "customer_request",
                                             "state": "queued"}) == 4
    assert value("cs_handoff_queue_depth", {"queue": "general"}) == 1
    assert value("cs_handoff_conversations", {"queue": "general", "state": "offered"}) == 3
    assert value("cs_handoff_conversations", {"queue": "general", "state": "active"}) == 0
    assert value("cs_handoff_queue_depth", {"queue": "orders"}) == 0
    clock.now += 30
    assert value("cs_handoff_oldest_wait_seconds", {"queue": "general"}) == 30
    store.set_status("a1", "offline")
    service.open(intake("web-customer-9", reason="complaint"))  # nobody for complaints: a ticket
    assert value("cs_handoff_opened_total", {"queue": "complaints", "reason": "complaint", "state": "ticket"}) == 1
    assert value("cs_handoff_agents", {"status": "online"}) == 0
    assert value("cs_handoff_outbox_pending") == 0
    conversation = store.open_for_sender("web-customer-0")
    store.accept(conversation.id, "a1")
    service.reply(conversation.id, "a1", "Hello, Alice here")
    assert value("cs_handoff_outbox_pending") == 1
    item = store.pending_outbox()[0]
    store.outbox_delivered(item.id)
    metrics.delivered(item)
    assert value("cs_handoff_outbox_pending") == 0
    assert value("cs_handoff_messages_delivered_total", {"kind": "agent"}) == 1
    body = exposition(metrics.registry)[0].decode()
    for private in ("web-customer", "Alice", "a1", "parcel", "Hello"):
        assert private not in body


def test_each_missed_first_response_target_is_counted_once(store, clock):
    metrics = HandoffMetrics(new_registry(process=False))
    service = new_service(store, clock, metrics)
    value = metrics.registry.get_sample_value
    breaches = {"queue": "general"}
    waiting = service.open(intake("c-waiting")).conversation  # offered, never answered
    answered_late = service.open(intake("c-late")).conversation
    closed_late = service.open(intake("c-closed")).conversation
    service.accept(answered_late.id, "a1")
    service.accept(closed_late.id, "a1")
    assert service.check_sla() == [] and value("cs_handoff_sla_breaches_total", breaches) == 0
    clock.now += 61  # the general queue's target is 60 s
    service.reply(answered_late.id, "a1", "sorry for the wait")  # late: "missed", not "breached"
    service.resolve(closed_late.id, "a1", back_to_bot=False)  # late, closed before the next check
    assert value("cs_handoff_sla_breaches_total", breaches) == 1
    assert value("cs_handoff_sla_breached", breaches) == 1  # only the one still unanswered
    assert {c.id for c in service.check_sla()} == {waiting.id, answered_late.id}
    assert value("cs_handoff_sla_breaches_total", breaches) == 3
    clock.now += 120
    assert service.check_sla() == [] and service.check_sla() == []
    assert value("cs_handoff_sla_breaches_total", breaches) == 3
    # a restart (or another service on the database): what was late before was counted already (the store
    # marks what was reported), so nothing is counted twice
    metrics = HandoffMetrics(new_registry(process=False))
    restarted = new_service(store, clock, metrics)
    assert restarted.check_sla(report=False) == [] and restarted.check_sla() == []
    fresh = restarted.open(intake("c-after-restart")).conversation
    assert restarted.check_sla() == []
    clock.now += 61
    assert [c.id for c in restarted.check_sla()] == [fresh.id]
    assert metrics.registry.get_sample_value("cs_handoff_sla_breaches_total", breaches) == 1
