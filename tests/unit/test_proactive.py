"""Proactive notifications, the pure core and the store (proactive/): rules and policy with fixed
clocks, texts, atomic claims by threads and processes, and scheduler rounds over fakes. Every store and
scheduler test runs on both stores: the SQLite file and PostgreSQL (the session's throwaway server,
tests/pg.py; what only PostgreSQL has is in test_proactive_pg.py)."""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import threading
from datetime import datetime, timedelta, timezone
from typing import Callable, Dict, Iterator, List

import pytest

from bot.channels.customers import CustomerDirectory
from common.settings import ConfigError, Settings
from orders.model import Address, AfterSalesRequest, Customer, LogisticsEvent, Order, OrderItem
from proactive import policy, rules
from proactive.facts import ChannelReach
from proactive.model import Candidate, CustomerFacts, OrderFacts, Reach
from proactive.outcomes import ASKED, NOTHING, OPENED, classify
from proactive.scheduler import INTENT, Scheduler, SchedulerConfig
from proactive.store import NotificationStore, open_notification_store
from proactive.texts import render

UTC = timezone.utc
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in the shop (+08:00)
ADDRESS = Address("张三", "13800000000", "浙江省", "杭州市", "西湖区", "文三路 1 号")
ITEM = OrderItem("SKU-1", "保温杯", "Vacuum flask", 2, 4950)


def order(number="260101000001", status="shipped", shipped_hours_ago=100.0, customer="C1") -> Order:
    shipped = NOW - timedelta(hours=shipped_hours_ago)
    return Order(number=number, customer_id=customer, status=status, items=(ITEM,), total=9900,
                 created_at=shipped - timedelta(days=1), address=ADDRESS, paid_at=shipped - timedelta(hours=20),
                 shipped_at=shipped, carrier="YTO", tracking_number="YT123")


def event(hours_ago: float, code="in_transit") -> LogisticsEvent:
    return LogisticsEvent(NOW - timedelta(hours=hours_ago), code, "杭州", "运输中", "In transit")


def request(state="completed", type_="refund", number="AS1") -> AfterSalesRequest:
    return AfterSalesRequest(number, "260101000001", "SKU-1", type_, "damaged", state, NOW - timedelta(days=3))


def facts(*orders: OrderFacts, language="zh", customer="C1") -> CustomerFacts:
    return CustomerFacts(Customer(customer, "张三", "13800000000", language=language), tuple(orders))


# --- rules --------------------------------------------------------------------------------------------

def test_a_parcel_past_its_promise_without_updates_is_late_once_per_stall():
    stalled = OrderFacts(order(shipped_hours_ago=100), (event(99, "picked_up"), event(30)))
    [c] = rules.candidates([facts(stalled)], NOW)
    assert c.kind == "logistics_delay" and c.params["hours"] == "30" and c.order_number == "260101000001"
    assert c.event_time == NOW - timedelta(hours=6)  # 24 h after the last update, past the 72-h promise
    assert rules.candidates([facts(stalled)], NOW + timedelta(hours=1))[0].dedupe_key == c.dedupe_key
    moved = OrderFacts(stalled.order, stalled.logistics + (event(-25),))  # moves, then stalls again
    assert rules.candidates([facts(moved)], NOW + timedelta(hours=50))[0].dedupe_key != c.dedupe_key


@pytest.mark.parametrize("shipped, last_update, why", [
    (50, 40, "within the promise"), (100, 10, "updated lately"), (400, 300, "old history")])
def test_no_delay_while_promised_updated_or_long_past(shipped, last_update, why):
    parcel = OrderFacts(order(shipped_hours_ago=shipped), (event(last_update),))
    assert rules.candidates([facts(parcel)], NOW) == [], why


def test_a_delivery_exception_is_a_failed_delivery_not_a_delay():
    failed = OrderFacts(order(shipped_hours_ago=100), (event(60), event(2, "exception")))
    [c] = rules.candidates([facts(failed)], NOW)
    assert c.kind == "delivery_failed" and c.event_time == NOW - timedelta(hours=2)
    delivered = OrderFacts(order(status="delivered"), (event(3, "exception"), event(1, "delivered")))
    assert rules.candidates([facts(delivered)], NOW) == []


def test_request_rules_refund_completed_and_waiting_on_the_customer():
    o = order(status="after_sales")
    found = rules.candidates([facts(OrderFacts(o, (), (request("completed", "refund", "AS1"),
                                                       request("approved", "return", "AS2"),
                                                       request("approved", "refund", "AS3"),
                                                       request("open", "exchange", "AS4"))))], NOW)
    assert [(c.kind, c.params["request_number"]) for c in found] == [("refund_completed", "AS1"),
                                                                      ("after_sales_waiting", "AS2")]
    assert found[0].params["amount"] == "99.00" and found[0].event_time is None


def test_texts_in_both_languages_with_track_and_person_buttons():
    params = {"order_number": "260101000001", "hours": "30"}
    zh, buttons = render("logistics_delay", "zh", params)
    en, en_buttons = render("logistics_delay", "en", params)
    assert "260101000001" in zh and "30 小时" in zh and "退订" in zh
    assert "30 hours" in en and "unsubscribe" in en
    assert buttons == [{"title": "查看物流", "payload": '/ask_logistics{"order_number": "260101000001"}'},
                       {"title": "转人工", "payload": "/request_human"}]
    assert [b["title"] for b in en_buttons] == ["Track parcel", "Talk to a person"]
    assert render("refund_completed", "en", {"order_number": "1"})[1][0]["payload"].startswith("/ask_order_status")


# --- policy -------------------------------------------------------------------------------------------

CANDIDATE = Candidate("logistics_delay", "C1", "260101000001", "k", NOW, "zh")
WECHAT = Reach("wechat", "openid", NOW - timedelta(hours=1))


def decide(**kw):
    args = dict(now=NOW, happened_at=NOW, reach=WECHAT, opted_out=False, sent_recently=0,
                config=policy.PolicyConfig())
    args.update(kw)
    return policy.decide(CANDIDATE, **args)


def test_policy_sends_and_says_why_not():
    assert decide().action == "send"
    assert decide(opted_out=True).reason == "opted_out"
    assert decide(reach=None).reason == "no_channel"
    assert decide(reach=Reach("socketio", "sid", NOW)).reason == "channel_cannot_push"
    assert decide(reach=Reach("wechat", "o", NOW - timedelta(hours=49))).reason == "outside_window"
    assert decide(reach=Reach("wechat", "o", None)).reason == "outside_window"  # linked, never wrote
    assert decide(reach=Reach("app", "u", NOW - timedelta(days=30))).action == "send"  # no window in the app
    assert decide(reach=Reach("wecom", "u", NOW - timedelta(days=30))).action == "send"
    assert decide(sent_recently=2).reason == "rate_limited"
    assert decide(sent_recently=5, config=policy.PolicyConfig(rate_count=0)).action == "send"
    assert decide(happened_at=NOW - timedelta(hours=73)).reason == "expired"


@pytest.mark.parametrize("local_time, until", [
    ("23:30", "08:00"), ("03:00", "08:00"), ("07:59", "08:00"), ("08:00", None), ("21:59", None)])
def test_quiet_hours_wrap_past_midnight_in_the_shops_time(local_time, until):
    h, m = map(int, local_time.split(":"))
    now = datetime(2026, 11, 20, h, m, tzinfo=timezone(timedelta(hours=8))).astimezone(UTC)
    decision = decide(now=now, happened_at=now)
    if until is None:
        assert decision.action == "send"
    else:
        assert decision.action == "postpone" and decision.reason == "quiet_hours"
        local = decision.retry_at.astimezone(timezone(timedelta(hours=8)))
        assert local.strftime("%H:%M") == until and decision.retry_at > now
        assert decision.retry_at - now < timedelta(hours=10)


def test_quiet_hours_setting_is_validated():
    assert policy.parse_quiet_hours("off") is None
    assert policy.parse_quiet_hours("22:00-08:00") == (1320, 480)
    for bad in ("22-08", "25:00-08:00", "08:00-08:00"):
        with pytest.raises(ValueError):
            policy.parse_quiet_hours(bad)
    with pytest.raises(ConfigError, match="CS_PROACTIVE_QUIET_HOURS"):
        Settings.from_env({"CS_PROACTIVE_QUIET_HOURS": "late"})
    with pytest.raises(ConfigError, match="48 hours"):
        Settings.from_env({"CS_PROACTIVE_WINDOW_HOURS": "72"})
    with pytest.raises(ConfigError, match="CS_PROACTIVE="):
        Settings.from_env({"CS_PROACTIVE": "maybe"})


def test_the_store_is_sqlite_unless_a_postgresql_url_is_given():
    assert Settings.from_env({}).proactive_db_url == ""
    for url in ("postgresql://cs:pw@db:5432/proactive", "postgres://cs:pw@db/proactive"):
        assert Settings.from_env({"CS_PROACTIVE_DB_URL": url}).proactive_db_url == url
    for bad, says in (("mysql://cs:s3cret@db/proactive", "a mysql:// URL"), ("cs:s3cret@db/proactive", "not a URL"),
                      ("var/proactive.sqlite3", "not a URL")):
        with pytest.raises(ConfigError) as error:
            Settings.from_env({"CS_PROACTIVE_DB_URL": bad})
        message = str(error.value)
        assert message.startswith(f"CS_PROACTIVE_DB_URL: {says}; use a postgresql://"), message
        assert "proactive.sqlite3" in message and "s3cret" not in message  # says what to do, shows no password


def test_outcomes_from_the_conversation():
    sent, window = NOW, timedelta(hours=24)
    later = sent.timestamp() + 60
    assert classify([], sent, NOW, window) == (None, False)
    assert classify([("user", "EXTERNAL_notification", None, later)], sent, NOW, window) == (None, False)
    assert classify([("user", "ask_logistics", None, later)], sent, NOW, window) == (OPENED, False)
    assert classify([("user", "ask_logistics", None, later), ("user", "request_human", None, later + 1)],
                    sent, NOW, window) == (ASKED, False)
    assert classify([("user", "greet", None, sent.timestamp() + 90000)], sent, NOW + timedelta(hours=25),
                    window) == (NOTHING, True)


# --- store (SQLite and PostgreSQL) ---------------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_settings(request, tmp_path) -> Settings:
    """Settings whose notification store is a fresh SQLite file or a fresh PostgreSQL database."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else ""
    return Settings(var_dir=tmp_path, proactive_db_url=url)


@pytest.fixture
def stores(store_settings) -> Iterator[Callable[[], NotificationStore]]:
    """open() -> a store on the test's database, of its own (as another replica has), closed afterwards."""
    opened: List[NotificationStore] = []

    def open_() -> NotificationStore:
        opened.append(open_notification_store(store_settings))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()


def candidate(key="k1", customer="C1", event_time=NOW) -> Candidate:
    return Candidate("logistics_delay", customer, "260101000001", key, event_time, "zh", {"order_number": "1"})


def race(workers: int, work: Callable[[int], object]) -> List[object]:
    """work(i) in `workers` threads started at the same moment; their results."""
    barrier, results = threading.Barrier(workers), [None] * workers

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_offer_records_each_event_once_and_a_customers_first_round_is_their_baseline(stores):
    store = stores()
    old_request = Candidate("refund_completed", "C1", "1", "r-old", None, "zh")
    assert store.offer([candidate(), old_request], NOW, customers=["C1", "C2"]) == 2
    assert store.offer([candidate(), old_request], NOW) == 0
    assert store.get("r-old").state == "skipped" and store.get("r-old").reason == "before_start"
    assert store.get("k1").state == "queued"  # a timed event within the lookback is news
    later = NOW + timedelta(minutes=1)
    store.offer([Candidate("refund_completed", "C1", "1", "r-new", None, "zh"),
                 Candidate("refund_completed", "C2", "2", "r-c2", None, "zh"),
                 Candidate("refund_completed", "C3", "3", "r-c3", None, "zh")], later, customers=["C1", "C2", "C3"])
    assert store.get("r-new").state == "queued" and store.get("r-c2").state == "queued"
    assert store.get("r-new").happened_at == later  # the first sighting stands in for the event's time
    assert store.get("r-c3").reason == "before_start"  # C3 just became reachable: their history is not news


def test_times_go_in_as_datetimes_and_come_back_in_utc_and_rows_outlive_the_store(stores):
    shop = timezone(timedelta(hours=8))
    store = stores()
    store.offer([candidate(event_time=NOW.astimezone(shop))], NOW.astimezone(shop))
    [n] = store.due(NOW)
    assert store.claim(n.id, "w1", NOW)
    store.sent(n.id, "w1", NOW + timedelta(seconds=1.5), "app", "customer:C1")
    store.opt_out("C2", NOW, "wechat")
    again = stores()  # reopening finds everything (and creates nothing twice)
    got = again.get("k1")
    assert (got.event_time, got.first_seen, got.finished_at) == (NOW, NOW, NOW + timedelta(seconds=1.5))
    assert got.event_time.tzinfo == UTC and got.params == {"order_number": "1"} and got.not_before == 0
    assert (got.state, got.channel, got.conversation, got.outcome, got.outcome_final) == (
        "sent", "app", "customer:C1", None, False)
    assert again.sent_since("C1", NOW) == 1 and again.sent_since("C1", NOW + timedelta(seconds=2)) == 0
    assert again.opted_out("C2") and not again.opted_out("C1")
    assert again.opt_in("C2") and not again.opt_in("C2") and not again.opted_out("C2")
    [awaiting] = again.awaiting_outcome()
    again.set_outcome(awaiting.id, OPENED, final=False)
    again.set_outcome(awaiting.id, ASKED, final=True)
    again.set_outcome(awaiting.id, NOTHING, final=True)  # a final outcome stays
    assert again.get("k1").outcome == ASKED and again.awaiting_outcome() == []
    assert again.counts() == [("logistics_delay", "sent", "", ASKED, 1)]


def test_postponed_failed_and_skipped_are_recorded_for_the_claiming_worker_only(stores):
    store = stores()
    store.offer([candidate("a"), candidate("b", customer="C2"), candidate("c", customer="C3")], NOW)
    a, b, c = store.due(NOW)
    assert store.claim(a.id, "w1", NOW) and store.claim(b.id, "w1", NOW) and store.claim(c.id, "w1", NOW)
    store.postpone(a.id, "w2", NOW + timedelta(hours=8), "quiet_hours")  # not w2's claim: nothing happens
    store.postpone(a.id, "w1", NOW + timedelta(hours=8), "quiet_hours")
    store.failed(b.id, "w1", NOW, "rasa down " * 100, "app")
    store.skipped(c.id, "w1", NOW, "opted_out")
    assert store.due(NOW) == [] and [n.dedupe_key for n in store.due(NOW + timedelta(hours=8))] == ["a"]
    assert (store.get("a").state, store.get("a").reason, store.get("a").not_before) == (
        "queued", "quiet_hours", (NOW + timedelta(hours=8)).timestamp())
    assert store.get("b").state == "failed" and len(store.get("b").error) == 500 and store.get("b").channel == "app"
    assert (store.get("c").state, store.get("c").reason, store.get("c").channel) == ("skipped", "opted_out", None)
    assert sorted(store.counts()) == [("logistics_delay", "failed", "", "", 1),
                                      ("logistics_delay", "queued", "quiet_hours", "", 1),
                                      ("logistics_delay", "skipped", "opted_out", "", 1)]
    assert [n.dedupe_key for n in store.all("C2")] == ["b"] and len(store.all()) == 3


def test_replicas_offering_the_same_events_at_once_record_each_once_with_one_baseline(stores):
    events = [candidate(f"k{i}", customer=f"C{i % 5}") for i in range(30)]
    events += [Candidate("refund_completed", f"C{i}", "1", f"r{i}", None, "zh") for i in range(5)]
    replicas = [stores() for _ in range(4)]
    new = race(4, lambda i: replicas[i].offer(events, NOW + timedelta(seconds=i), customers=["C0", "C9"]))
    store = stores()
    assert sum(new) == 35 and len(store.all()) == 35
    assert {store.get(f"r{i}").reason for i in range(5)} == {"before_start"}  # every customer's first round


def handle_due(store: NotificationStore, worker: str) -> List[int]:
    """What a replica's round does with the store: claim each due notification, send the ones it got."""
    handled = []
    for n in store.due(NOW):
        if store.claim(n.id, worker, NOW):
            store.sent(n.id, worker, NOW, "app", f"customer:{n.customer_id}")
            handled.append(n.id)
    return handled


def test_two_threads_claim_one_notification_once(stores):
    store = stores()
    store.offer([candidate(f"k{i}", customer=f"C{i}") for i in range(20)], NOW)
    replicas = [stores(), stores()]
    won = race(2, lambda i: handle_due(replicas[i], f"w{i}"))
    assert sorted(won[0] + won[1]) == [n.id for n in store.all()]  # each exactly once
    assert {n.state for n in store.all()} == {"sent"}


def _claim_all(settings: Settings, name: str, start, results) -> None:
    store = open_notification_store(settings)
    start.wait()
    results.put((name, handle_due(store, name)))
    store.close()


def test_two_processes_claim_each_notification_once(stores, store_settings):
    store = stores()
    store.offer([candidate(f"k{i}", customer=f"C{i}") for i in range(40)], NOW)
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_claim_all, args=(store_settings, f"p{i}", start, results)) for i in range(2)]
    for p in procs:
        p.start()
    start.set()
    claimed = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    ids = [i for _, got in claimed for i in got]
    assert len(ids) == 40 and sorted(ids) == [n.id for n in store.all()]  # each exactly once
    assert {n.state for n in store.all()} == {"sent"}


def test_one_customer_is_handled_by_one_worker_at_a_time_and_stale_claims_are_not_resent(stores):
    store = stores()
    store.offer([candidate("a"), candidate("b")], NOW)
    a, b = store.due(NOW)
    assert store.claim(a.id, "w1", NOW)
    assert not store.claim(b.id, "w2", NOW)  # same customer: waits until w1 is done
    assert store.expire_claims(NOW + timedelta(minutes=5), lease=600) == 0
    assert store.expire_claims(NOW + timedelta(minutes=11), lease=600) == 1
    assert store.get("a").reason == "interrupted"
    store.sent(a.id, "w1", NOW, "wechat", "customer:C1")  # too late: the crashed claim stays closed
    assert store.get("a").state == "skipped"
    assert not store.claim(a.id, "w3", NOW + timedelta(minutes=12))  # never claimed (sent) again
    assert store.claim(b.id, "w2", NOW)


def test_replicas_racing_for_one_customers_notifications_claim_one_at_a_time(stores):
    """Six replicas try every due notification of one customer at the same moment: one claim wins per
    round, never two at once (the rate limit counts what is sent, so two sends at once would pass it)."""
    store = stores()
    store.offer([candidate(f"k{i}") for i in range(6)], NOW)
    replicas = [stores() for _ in range(6)]
    for round_ in range(3):
        won = race(6, lambda i: [n.id for n in replicas[i].due(NOW) if replicas[i].claim(n.id, f"w{i}", NOW)])
        claims = [(worker, n) for worker, ids in enumerate(won) for n in ids]
        assert len(claims) == 1, (round_, claims)
        assert [n.state for n in store.all()].count("sending") == 1
        worker, n = claims[0]
        store.sent(n, f"w{worker}", NOW, "app", "customer:C1")
    assert [n.state for n in store.all()].count("sent") == 3


def test_replicas_closing_stale_claims_at_once_close_each_once(stores):
    store = stores()
    store.offer([candidate(f"k{i}", customer=f"C{i}") for i in range(10)], NOW)
    for n in store.due(NOW):
        assert store.claim(n.id, "dead", NOW)
    replicas = [stores() for _ in range(4)]
    closed = race(4, lambda i: replicas[i].expire_claims(NOW + timedelta(minutes=11), lease=600))
    assert sum(closed) == 10, closed
    assert {(n.state, n.reason) for n in store.all()} == {("skipped", "interrupted")}
    for n in store.all():
        store.sent(n.id, "dead", NOW, "app", "customer:C1")  # the dead replica's late word changes nothing
    assert {n.state for n in store.all()} == {"skipped"}


def test_reach_is_the_channel_written_from_last_and_a_bare_wechat_link_is_no_message(tmp_path):
    directory = CustomerDirectory(tmp_path / "channels.sqlite3")
    reach = ChannelReach(tmp_path / "channels.sqlite3")
    assert reach.customers() == [] and reach.reach("C1") is None
    directory.link("wechat", "openid-1", "C1", now=NOW.timestamp())
    assert reach.reach("C1") == Reach("wechat", "openid-1", None)
    directory.route("wechat", "openid-1", sticky=True, now=NOW.timestamp() + 5)
    assert reach.reach("C1") == Reach("wechat", "openid-1", NOW + timedelta(seconds=5))
    directory.route("app", "app-1", "C1", now=NOW.timestamp() + 9)
    assert reach.reach("C1").channel == "app" and reach.customers() == ["C1"]
    assert ChannelReach(tmp_path / "missing.sqlite3").customers() == []


# --- scheduler over fakes -------------------------------------------------------------------------------

class FakeBackend:
    def __init__(self, customers: Dict[str, CustomerFacts]) -> None:
        self.customers = customers

    async def get_customer(self, customer_id, *, request_id=""):
        f = self.customers.get(customer_id)
        return f.customer if f else None

    async def recent_orders(self, customer_id, limit=5, *, request_id=""):
        return [o.order for o in self.customers[customer_id].orders]

    async def logistics(self, number, *, request_id=""):
        return list(self._facts(number).logistics)

    async def after_sales_requests(self, number, *, request_id=""):
        return list(self._facts(number).requests)

    def _facts(self, number) -> OrderFacts:
        return next(o for f in self.customers.values() for o in f.orders if o.order.number == number)

    async def close(self):
        pass


class FakeEvents:
    def __init__(self):
        self.rows = []

    def after(self, conversation, since):
        return [r for r in self.rows if r[3] > since.timestamp()]


def stalled(customer: str, number: str) -> OrderFacts:
    return OrderFacts(order(number=number, customer=customer), (event(30),))


def wechat_message(directory: CustomerDirectory, openid: str, customer: str, at: datetime) -> None:
    """The shop's back end links the OpenID, then the customer writes on WeChat at `at`."""
    directory.link("wechat", openid, customer, now=(at - timedelta(days=10)).timestamp())
    directory.route("wechat", openid, sticky=True, now=at.timestamp())


@pytest.fixture
def world(tmp_path, stores):
    directory = CustomerDirectory(tmp_path / "channels.sqlite3")
    backend = FakeBackend({"C1": facts(stalled("C1", "260101000001"), stalled("C1", "260101000002"),
                                       stalled("C1", "260101000003"), customer="C1"),
                           "C2": facts(stalled("C2", "260101000004"), customer="C2", language="en")})
    sent: List[tuple] = []
    clock = {"now": NOW}

    async def send(sender, intent, entities):
        sent.append((sender, intent, entities))

    def scheduler(worker="w1"):
        return Scheduler(stores(), ChannelReach(tmp_path / "channels.sqlite3"),
                         backend, send, events, SchedulerConfig(), clock=lambda: clock["now"], worker=worker)

    events = FakeEvents()
    return directory, scheduler, sent, clock, events


async def test_rounds_send_in_the_customers_language_limit_and_never_repeat(world):
    directory, scheduler, sent, clock, events = world
    wechat_message(directory, "openid-1", "C1", NOW - timedelta(hours=1))
    directory.route("app", "app-2", "C2", now=(NOW - timedelta(days=5)).timestamp())
    s = scheduler()
    report = await s.run_once()
    assert report.new == 4 and report.sent == 3 and report.skipped == 1  # C1: 2 then rate limited
    assert {x[0] for x in sent} == {"customer:C1", "customer:C2"} and {x[1] for x in sent} == {INTENT}
    c2 = next(x[2] for x in sent if x[0] == "customer:C2")
    assert c2["notification_kind"] == "logistics_delay" and c2["notification_language"] == "en"
    assert json.loads(c2["notification_params"])["order_number"] == "260101000004"
    assert [n.reason for n in s.store.all("C1") if n.state == "skipped"] == ["rate_limited"]
    again = await s.run_once()
    assert again.sent == 0 and len(sent) == 3
    # the customer answered: the notification opened a conversation
    events.rows.append(("user", "ask_logistics", None, NOW.timestamp() + 30))
    clock["now"] = NOW + timedelta(minutes=1)
    await s.run_once()
    assert {n.outcome for n in s.store.all("C2")} == {OPENED}


async def test_outside_the_window_opted_out_and_quiet_hours(world):
    directory, scheduler, sent, clock, events = world
    wechat_message(directory, "openid-1", "C1", NOW - timedelta(hours=50))
    directory.route("app", "app-2", "C2", now=NOW.timestamp())
    s = scheduler()
    s.store.opt_out("C2", NOW)
    await s.run_once()
    assert sent == []
    assert {n.reason for n in s.store.all("C1")} == {"outside_window"}
    assert {n.reason for n in s.store.all("C2")} == {"opted_out"}

    s.store.opt_in("C2")
    backend_night = NOW.replace(hour=16)  # 00:00 in the shop: quiet
    clock["now"] = backend_night
    s.backend.customers["C2"] = facts(OrderFacts(order(number="260101000009", customer="C2",
                                                       shipped_hours_ago=112), (event(42),)),
                                      customer="C2", language="en")
    await s.run_once()
    [waiting] = [n for n in s.store.all("C2") if n.state == "queued"]
    assert waiting.reason == "quiet_hours" and sent == []
    clock["now"] = NOW.replace(hour=23, minute=59)  # 07:59 next morning, still quiet
    await s.run_once()
    assert sent == []
    clock["now"] = NOW.replace(hour=23, minute=59) + timedelta(minutes=2)  # 08:01
    await s.run_once()
    assert [x[0] for x in sent] == ["customer:C2"]


async def test_two_schedulers_on_one_store_send_once(world):
    directory, scheduler, sent, clock, events = world
    directory.route("app", "app-1", "C1", now=NOW.timestamp())
    directory.route("app", "app-2", "C2", now=NOW.timestamp())
    a, b = scheduler("a"), scheduler("b")
    a.config = b.config = SchedulerConfig(policy=policy.PolicyConfig(rate_count=0))
    await asyncio.gather(a.run_once(), b.run_once(), a.run_once(), b.run_once())
    keys = [json.loads(x[2]["notification_params"])["order_number"] for x in sent]
    assert sorted(keys) == ["260101000001", "260101000002", "260101000003", "260101000004"]
