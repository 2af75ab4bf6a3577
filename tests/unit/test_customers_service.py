"""Customers in the handoff service (in process, SQLite): a VIP's advisor first, a returning customer's
last agent first, advisors assigned by supervisors only, the segment kept; and the profile builder
(customers/profile.py) on chosen facts."""
from __future__ import annotations

from datetime import timedelta

import pytest

from customers.profile import ChannelLink, Contacts, build_profile, read_channels, read_contacts
from customers.rfm import RfmConfig
from handoff.hours import business_hours
from handoff.service import HandoffService, Intake, NotAllowed, ServiceConfig
from handoff.store import HandoffStore, PastHandoff
from orders.model import Customer
from tests.rfm_fixture import CASES, NOW, orders_of

HOUR = 3600.0


class Clock:
    now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def service(tmp_path, clock):
    store = HandoffStore(tmp_path / "handoff.sqlite3", clock=clock)
    for agent_id, role, skills in (("adv", "agent", ["general"]), ("v1", "agent", ["vip"]),
                                   ("g1", "agent", ["general"]), ("g2", "agent", ["general"]),
                                   ("sup", "supervisor", ["general"])):
        store.add_agent(agent_id, agent_id.upper(), "not-a-hash", skills, role=role, capacity=2)
    config = ServiceConfig(hours=business_hours("00:00-24:00", "+08:00"), return_seconds=72 * HOUR)
    return HandoffService(store, config, clock=clock)


def intake(sender, customer_id=None, tier="normal", segment=None):
    return Intake(sender_id=sender, channel="socketio", language="en", reason="customer_request",
                  summary={"issue": "help"}, customer_id=customer_id, tier=tier, segment=segment)


def online(service, *agents):
    for agent_id in agents:
        service.store.set_status(agent_id, "online")


def test_vip_with_an_online_advisor_is_offered_to_the_advisor(service):
    online(service, "v1", "adv")
    service.set_advisor("sup", "VIP1", "adv")
    opened = service.open(intake("customer:VIP1", "VIP1", tier="vip", segment="core"))
    assert (opened.conversation.queue, opened.conversation.state, opened.conversation.agent_id) == \
        ("vip", "offered", "adv")
    assert service.view(opened.conversation)["segment"] == "core"


def test_vip_advisor_offline_goes_to_the_vip_queue(service):
    online(service, "v1")
    service.set_advisor("sup", "VIP1", "adv")
    opened = service.open(intake("customer:VIP1", "VIP1", tier="vip"))
    assert opened.conversation.agent_id == "v1"


def test_advisor_online_staffs_a_vip_handoff_nobody_else_could_take(service):
    online(service, "adv")  # no agent with the vip skill online
    assert service.open(intake("customer:VIP2", "VIP2", tier="vip")).ticket is True
    service.set_advisor("sup", "VIP3", "adv")
    opened = service.open(intake("customer:VIP3", "VIP3", tier="vip"))
    assert opened.ticket is False and opened.conversation.agent_id == "adv"


def test_assigning_an_advisor_serves_a_waiting_vip_at_once(service):
    online(service, "adv", "v1")
    service.store.set_status("v1", "away")
    service.store.set_status("v1", "online")
    service.open(intake("customer:X", "X", tier="vip"))  # v1 takes one (capacity 2)
    service.open(intake("customer:Y", "Y", tier="vip"))  # and another: v1 is full
    waiting = service.open(intake("customer:VIP1", "VIP1", tier="vip"))
    assert waiting.conversation.state == "queued"
    service.set_advisor("sup", "VIP1", "adv")
    assert service.store.get(waiting.conversation.id).agent_id == "adv"


def test_returning_customer_within_the_window_goes_to_their_last_agent(service, clock):
    online(service, "g1", "g2")
    first = service.open(intake("web-1")).conversation
    taken_by = first.agent_id
    service.accept(first.id, taken_by)
    service.resolve(first.id, taken_by, back_to_bot=True)
    other = "g2" if taken_by == "g1" else "g1"
    service.open(intake("web-2"))  # the other agent is now the less loaded one...
    clock.now += 71 * HOUR
    again = service.open(intake("web-1")).conversation
    assert again.agent_id == taken_by  # ...but the returning customer goes to their last agent
    assert other


def test_returning_customer_outside_the_window_gets_the_best_agent(service, clock):
    online(service, "g1", "g2")
    first = service.open(intake("web-1")).conversation
    taken_by = first.agent_id
    service.accept(first.id, taken_by)
    service.resolve(first.id, taken_by, back_to_bot=True)
    clock.now += 73 * HOUR
    service.open(intake("web-3"))  # goes to the less loaded/idle longest: the other one...
    again = service.open(intake("web-1")).conversation
    assert again.agent_id is not None  # ...this one by the usual rules, not by preference
    assert again.agent_id == service.store.get(again.id).agent_id


def test_only_supervisors_assign_advisors_and_only_to_agents(service):
    with pytest.raises(NotAllowed):
        service.set_advisor("g1", "VIP1", "adv")
    with pytest.raises(ValueError, match="no agent"):
        service.set_advisor("sup", "VIP1", "nobody")
    service.set_advisor("sup", "VIP1", "adv")
    assert service.store.advisor("VIP1") == "adv"
    service.set_advisor("sup", "VIP1", None)
    assert service.store.advisor("VIP1") is None


def test_unknown_segment_is_refused(service):
    with pytest.raises(ValueError, match="segment"):
        service.open(intake("web-1", segment="platinum"))


# --- the profile builder -----------------------------------------------------------------------------
def test_profile_from_chosen_facts():
    case = next(c for c in CASES if c[0] == "S01")
    orders = orders_of("S01", case[2])
    handoffs = [PastHandoff(9, "closed", "general", "complaint", "g1", 300.0, 400.0, 2),
                PastHandoff(4, "returned", "general", "customer_request", "g2", 100.0, 150.0, 5),
                PastHandoff(2, "closed", "general", "customer_request", None, 50.0, 60.0, None)]
    found = build_profile("S01", now=NOW, config=RfmConfig(),
                          customer=Customer("S01", "张三", "13812345678", "normal", "zh"), orders=orders,
                          channels=(ChannelLink("wechat", 10.0), ChannelLink("app", 20.0)),
                          contacts=Contacts(5, 123.0), handoffs=handoffs, advisor="adv")
    assert (found.tier, found.segment, found.vip, found.rfm.code) == ("normal", "potential", False, "R5F3M3")
    assert "phone" not in found.as_dict() and "5678" not in str(found.as_dict())
    assert [c.channel for c in found.channels] == ["app", "wechat"]  # latest first
    o = found.orders
    assert (o.count, o.purchases, o.spent, o.spent_band, o.open_after_sales) == (4, 3, 150000, "1000-3000", 1)
    assert o.last_order_number == "S01-00" and o.last_order_at == (NOW - timedelta(days=15)).timestamp()
    h = found.handoffs
    assert (h.count, h.open, h.last_at, h.last_agent, h.csat_count, h.csat_average, h.last_csat) == \
        (3, 0, 300.0, "g1", 2, 3.5, 2)
    data = found.as_dict()
    assert data["rfm"]["code"] == "R5F3M3" and data["advisor"] == "adv" and data["contacts"]["conversations"] == 5


def test_profile_without_the_order_system_or_a_record():
    found = build_profile("C9", now=NOW, config=RfmConfig(), customer=None, orders=None)
    assert (found.known, found.tier, found.segment, found.orders, found.contacts, found.handoffs) == \
        (False, "normal", "unknown", None, None, None)
    vip = build_profile("C3", now=NOW, config=RfmConfig(), customer=Customer("C3", "李四", "", "vip"), orders=None)
    assert (vip.tier, vip.vip, vip.segment) == ("vip", True, "unknown")


def test_profile_readers_missing_files_mean_unknown(tmp_path):
    assert read_channels(tmp_path / "none.sqlite3", "C1") == ()
    assert read_contacts(tmp_path / "none.sqlite3", "C1") is None


def test_profile_readers_on_real_files(tmp_path):
    import sqlite3

    from bot.channels.customers import CustomerDirectory

    directory = CustomerDirectory(tmp_path / "channels.sqlite3")
    directory.link("wechat", "openid-1", "C1", now=100.0)
    directory.link("wechat", "openid-2", "C1", now=300.0)
    directory.link("app", "u1", "C1", now=200.0)
    directory.link("app", "u2", "C2", now=400.0)
    assert sorted(read_channels(tmp_path / "channels.sqlite3", "C1"), key=lambda c: c.channel) == [
        ChannelLink("app", 200.0), ChannelLink("wechat", 300.0)]
    tracker = tmp_path / "tracker.sqlite3"
    db = sqlite3.connect(tracker)
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, type_name TEXT, timestamp REAL)")
    db.executemany("INSERT INTO events (sender_id, type_name, timestamp) VALUES (?, ?, ?)", [
        ("customer:C1", "session_started", 1.0), ("customer:C1", "user", 2.0), ("customer:C1", "bot", 3.0),
        ("customer:C1", "session_started", 10.0), ("customer:C1", "user", 11.0), ("customer:C2", "user", 50.0)])
    db.commit()
    db.close()
    assert read_contacts(tracker, "C1") == Contacts(2, 11.0)
    assert read_contacts(tracker, "C3") == Contacts(0, None)
