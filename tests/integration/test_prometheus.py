"""GET /metrics of the four real services (the session's `stack`: Rasa, action server, handoff service,
web page), read with prometheus_client's own parser: the metric families exist, the latency histogram
counts requests under their route template, a real conversation handed over to people moves the
Rasa, action and handoff metrics, and no label carries a sender id or a customer's words."""
from __future__ import annotations

import time
from typing import Dict, Iterator, List

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from common.secrets import rasa_api_token
from tests.e2e.chat import new_sender, rest_say, texts
from tests.e2e.test_handoff import Agent

pytestmark = pytest.mark.e2e

LATENCY = "cs_http_request_duration_seconds"
COMMON = {LATENCY, "process_resident_memory_bytes", "python_info"}
EXPECTED = {
    "rasa": COMMON | {"cs_rasa_messages_received", "cs_rasa_message_handling_seconds"},
    "actions": COMMON | {"cs_action_run_seconds"},
    "handoff": COMMON | {"cs_handoff_queue_depth", "cs_handoff_conversations", "cs_handoff_oldest_wait_seconds",
                         "cs_handoff_sla_breached", "cs_handoff_agents", "cs_handoff_outbox_pending",
                         "cs_handoff_opened", "cs_handoff_sla_breaches", "cs_handoff_messages_delivered"},
    "web": COMMON,
}
COMPLAINT = "你们这服务太差劲了，我要投诉！"  # handed over to the complaints queue (tests/e2e/test_rest_channel.py)


def urls(stack) -> Dict[str, str]:
    s = stack.settings
    return {"rasa": s.rasa_url, "actions": s.action_url, "handoff": s.handoff_url, "web": s.web_url}


def scrape(url: str) -> List[Sample]:
    response = requests.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def families(url: str) -> set:
    response = requests.get(f"{url}/metrics", timeout=10)
    return {family.name for family in text_string_to_metric_families(response.text)}


def value(samples: List[Sample], name: str, **labels: str) -> float:
    """The sum over the samples named `name` whose labels include `labels` (0 when there is none)."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def label_values(samples: List[Sample]) -> Iterator[str]:
    for sample in samples:
        yield from sample.labels.values()


def wait_until(check, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def test_every_service_serves_its_metric_families(stack):
    for service, url in urls(stack).items():
        missing = EXPECTED[service] - families(url)
        assert not missing, f"{service} /metrics lacks {sorted(missing)}"
    handoff = scrape(stack.handoff_url)
    for queue in ("vip", "complaints", "after_sales", "orders", "general"):
        assert [s for s in handoff if s.name == "cs_handoff_queue_depth" and s.labels == {"queue": queue}]
    assert {s.labels["status"] for s in handoff if s.name == "cs_handoff_agents"} == {"online", "away", "offline"}


def test_the_latency_histogram_counts_each_request_under_its_route_template(stack):
    token = rasa_api_token(stack.settings.var_dir)
    sender = new_sender("metrics-route")
    cases = [
        # service, request, labels it must be counted under
        ("web", lambda: requests.get(f"{stack.web_url}/health", timeout=10),
         {"method": "GET", "route": "/health", "status": "200"}),
        ("actions", lambda: requests.get(f"{stack.settings.action_url}/health", timeout=10),
         {"method": "GET", "route": "/health", "status": "200"}),
        ("handoff", lambda: requests.get(f"{stack.handoff_url}/api/conversations/987654", timeout=10),
         {"method": "GET", "route": "/api/conversations/{id}", "status": "401"}),
        ("handoff", lambda: requests.get(f"{stack.handoff_url}/no/such/page/987654", timeout=10),
         {"method": "GET", "route": "unmatched", "status": "404"}),
        ("rasa", lambda: requests.get(f"{stack.rasa_url}/conversations/{sender}/tracker", params={"token": token},
                                      timeout=30),
         {"method": "GET", "route": "/conversations/<conversation_id:path>/tracker", "status": "200"}),
        ("rasa", lambda: requests.get(f"{stack.rasa_url}/", timeout=10),
         {"method": "GET", "route": "/", "status": "200"}),
    ]
    for service, call, labels in cases:
        url = urls(stack)[service]
        before = value(scrape(url), f"{LATENCY}_count", **labels)
        call()
        after = scrape(url)
        assert value(after, f"{LATENCY}_count", **labels) == before + 1, (service, labels)
        assert value(after, f"{LATENCY}_bucket", le="+Inf", **labels) == before + 1, (service, labels)
        for label in label_values(after):
            assert "987654" not in label and sender not in label, (service, label)


def test_a_handoff_moves_the_metrics_and_no_label_tells_who_or_what(stack):
    agent = Agent(stack, skills=["complaints"], role="supervisor")  # the one agent online for complaints
    me = new_sender("metrics-handoff")
    try:
        before = {service: scrape(url) for service, url in urls(stack).items()}
        queued = {"queue": "complaints", "state": "queued"}
        replies = texts(rest_say(stack.rasa_url, me, COMPLAINT))
        conversation = agent.conversation_of(me)
        assert conversation["queue"] == "complaints", (conversation, replies)
        # offered to our agent; declined, it goes back to the queue (and is not offered to them again)
        assert conversation["state"] == "offered" and conversation["agent_id"] == agent.id, conversation
        r = agent.http.post(f"{agent.url}/api/conversations/{conversation['id']}/decline", timeout=10)
        assert r.status_code == 200, r.text
        handoff = scrape(stack.handoff_url)
        assert value(handoff, "cs_handoff_queue_depth", queue="complaints") == \
            value(before["handoff"], "cs_handoff_queue_depth", queue="complaints") + 1
        assert value(handoff, "cs_handoff_conversations", **queued) == \
            value(before["handoff"], "cs_handoff_conversations", **queued) + 1
        assert value(handoff, "cs_handoff_opened_total", **queued) == \
            value(before["handoff"], "cs_handoff_opened_total", **queued) + 1
        assert value(handoff, "cs_handoff_agents", status="online") >= 1

        rasa, actions = scrape(stack.rasa_url), scrape(stack.settings.action_url)
        for name in ("cs_rasa_messages_received_total", "cs_rasa_message_handling_seconds_count"):
            assert value(rasa, name, channel="rest") >= value(before["rasa"], name, channel="rest") + 1, name
        handed = {"action": "action_handoff", "outcome": "ok"}
        assert value(actions, "cs_action_run_seconds_count", **handed) >= \
            value(before["actions"], "cs_action_run_seconds_count", **handed) + 1

        # handed back to the bot: the end of the handoff is delivered to the customer through Rasa
        agent.resolve(conversation["id"], "bot")
        ended = {"kind": "handoff_ended"}
        wait_until(lambda: value(scrape(stack.handoff_url), "cs_handoff_messages_delivered_total", **ended)
                   > value(before["handoff"], "cs_handoff_messages_delivered_total", **ended),
                   "the end of the handoff to be delivered")
        assert value(scrape(stack.handoff_url), "cs_handoff_queue_depth", queue="complaints") == \
            value(before["handoff"], "cs_handoff_queue_depth", queue="complaints")

        private = [me, COMPLAINT, "投诉", agent.id, agent.id.title(), conversation["ref"]]
        for service, url in urls(stack).items():
            for label in label_values(scrape(url)):
                leaked = [p for p in private if p in label]
                assert not leaked, f"{service}: label value {label!r} contains {leaked}"
    finally:
        agent.close()
