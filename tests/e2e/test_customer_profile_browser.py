"""The customer profile in the console's summary card (docs/customers.md), in a real browser against the
real handoff service (tests/e2e/test_console.py's harness) with the demo order system seeded in its var
dir: segment, RFM code, VIP, advisor, orders, after-sales, previous ratings, all as text."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from selenium.webdriver.common.by import By

from common.settings import Settings
from customers.rfm import RfmConfig, rfm_of_orders
from orders.factory import ensure_seeded
from orders.fixture import load_fixture
from tests.e2e.test_console import (
    AGENTS,
    HandoffService,
    _click,
    _js_errors,
    _log_in,
    _open_console,
    _row,
    _texts,
    _wait_for,
)
from tests.e2e.test_console import pytestmark as console_marks

pytestmark = console_marks


def test_the_summary_card_shows_the_customers_profile(browser, tmp_path: Path):
    service = HandoffService(tmp_path)
    for agent in AGENTS:
        service.add_agent(*agent)
    assert ensure_seeded(Settings.from_env(service.env)) > 0  # the demo orders, in the service's var dir
    fixture = load_fixture(now=datetime.now(timezone.utc))
    customer = max(fixture.customers, key=lambda c: sum(o.customer_id == c.id for o in fixture.orders))
    orders = [o for o in fixture.orders if o.customer_id == customer.id]
    expected = rfm_of_orders(orders, datetime.now(timezone.utc), RfmConfig(), tier=customer.tier)
    service.start()
    try:
        sam = service.agent_session("sam")
        assert sam.put(f"{service.url}/api/customers/{customer.id}/advisor", json={"agent_id": "bob"},
                       timeout=10).status_code == 200
        bob = service.agent_session("bob")
        assert bob.put(service.url + "/api/me/status", json={"status": "online"}, timeout=10).status_code == 200
        conversation = service.handoff(f"customer:{customer.id}", issue="客户要求转人工", customer_id=customer.id,
                                       tier=expected.tier)
        assert (conversation["state"], conversation["agent_id"]) == ("offered", "bob")  # the advisor first
        _open_console(browser, service)
        _log_in(browser, "sam", "Sam")
        _click(browser, _row(conversation["id"]) + " .issue")
        _wait_for(browser, "#customer-profile")
        card = browser.find_element(By.ID, "customer-profile").text
        assert "客户画像" in card and expected.code in card
        assert _texts(browser, "#customer-profile .segment") == [
            {"core": "核心客户", "potential": "潜力客户", "new": "新客户", "at_risk": "流失风险", "dormant": "沉睡客户",
             "prospect": "未购买"}[expected.segment]]
        assert "Bob (bob)" in card
        assert f"订单数\n{len(orders)}" in card
        assert not _js_errors(browser)
    finally:
        service.stop()
