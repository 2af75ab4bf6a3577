"""Proactive notifications end to end (issue 9): the real Rasa server, action server, handoff service
and the proactive service (supervisor), the embedded order system, WeChat through the fake WeChat API
and the app through the fake app back end. Rounds run in the test (`round_`) with the product's own
adapters, so each test sets the policy it needs; "two replicas" are two `python -m proactive
run-once` processes over one store.

Each test uses its own customers (C90xx, added to the order database with the orders it needs), so
the demo orders never trigger anything here.
"""
from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Iterator, List, Optional

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from common.secrets import rasa_api_token
from common.settings import Settings
from ops.knowledge import ensure_index
from ops.services import build_services
from ops.supervisor import Supervisor
from orders.factory import ensure_seeded
from proactive import policy
from proactive.store import Notification, NotificationStore, open_notification_store
from tests.conftest import IDENTITY_SECRET, Stack, free_port
from tests.e2e.test_channels import APP_SECRET, OA_AES, OA_APP, OA_SECRET, OA_TOKEN, ChannelStack
from tests.e2e.test_handoff import _poll
from tests.fakes.app_backend import FakeAppBackend
from tests.fakes.wechat_api import FakeWeChatApi
from tests.fakes.wechat_user import WeChatPusher
from tests.proactive_cli import report_of, start_run_once

pytestmark = pytest.mark.e2e

UTC = timezone.utc


class ProactiveStack(ChannelStack):
    @property
    def store(self) -> NotificationStore:
        return open_notification_store(self.settings)

    def oa(self, mode: str = "aes") -> WeChatPusher:
        return WeChatPusher(f"{self.rasa_url}/webhooks/wechat/webhook", OA_TOKEN, mode, app_id=OA_APP,
                            encoding_aes_key=OA_AES)

    def round_(self, clock=None, **policy_changes) -> dict:
        """One scheduler round with the product's adapters; `policy_changes` adjust PolicyConfig."""
        from handoff.rasa_client import RasaClient
        from orders.sqlite_backend import SqliteOrderBackend
        from proactive.facts import ChannelReach
        from proactive.outcomes import open_tracker_events
        from proactive.scheduler import Scheduler, SchedulerConfig, utc_now

        config = SchedulerConfig.from_settings(self.settings)
        config = replace(config, policy=replace(config.policy, **policy_changes))

        async def run():
            rasa = RasaClient(self.settings.rasa_url, rasa_api_token(self.settings.var_dir))
            try:
                scheduler = Scheduler(self.store, ChannelReach(self.settings.channels_db),
                                      SqliteOrderBackend(self.settings.order_db), rasa.trigger,
                                      open_tracker_events(self.settings), config, clock=clock or utc_now)
                return (await scheduler.run_once()).as_dict()
            finally:
                await rasa.close()

        return asyncio.run(run())

    def notifications(self, customer_id: str) -> List[Notification]:
        return self.store.all(customer_id)


@pytest.fixture(scope="module")
def proactive(model, tmp_path_factory) -> Iterator[ProactiveStack]:
    var_dir = tmp_path_factory.mktemp("var-proactive")
    faq_dir = var_dir / "faq"
    shutil.copytree(Settings().faq_dir, faq_dir)
    with FakeWeChatApi(apps={OA_APP: OA_SECRET}) as wechat, FakeAppBackend(APP_SECRET) as app:
        settings = Settings(
            rasa_port=free_port(), action_port=free_port(), web_port=free_port(), handoff_port=free_port(),
            handoff_hours="00:00-24:00", var_dir=var_dir, faq_dir=faq_dir, kb_dir=var_dir / "kb",
            identity_secret=IDENTITY_SECRET,
            wechat_token=OA_TOKEN, wechat_app_id=OA_APP, wechat_app_secret=OA_SECRET, wechat_aes_key=OA_AES,
            wechat_api_base=wechat.url, app_channel_secret=APP_SECRET, app_callback_url=app.callback_url,
            # the service runs (health, metrics, a first round at start); the tests run the other rounds
            proactive="on", proactive_port=free_port(), proactive_interval=3600.0, proactive_quiet_hours="off")
        ensure_index(settings, quiet=True)
        ensure_seeded(settings)
        supervisor = Supervisor(build_services(settings, model), settings.var_dir, settings.host)
        supervisor.start()
        try:
            yield ProactiveStack(settings, supervisor, wechat, app, None)
        finally:
            supervisor.stop()


# --- the order system's side: customers and orders of these tests ------------------------------------

_numbers = iter(range(1, 10 ** 6))


def add_customer(stack: Stack, customer_id: str, language: str) -> None:
    with sqlite3.connect(stack.settings.order_db) as db:
        db.execute("INSERT INTO customers VALUES (?, ?, ?, 'normal', ?)",
                   (customer_id, f"Test {customer_id}", f"139{int(customer_id[1:]):08d}", language))


def add_order(stack: Stack, customer_id: str, *, shipped_hours_ago: float = 100.0, last_update_hours_ago=30.0,
              status: str = "shipped", request: Optional[tuple] = None) -> str:
    """A shipped order whose tracking stopped `last_update_hours_ago` (the delay rule fires when that is
    over 24 h and shipping over 72 h ago); `request`: (number, type, state) of an after-sales request."""
    now = datetime.now(UTC)
    number = f"29{int(customer_id[1:]):04d}{next(_numbers):06d}"
    shipped = now - timedelta(hours=shipped_hours_ago)
    with sqlite3.connect(stack.settings.order_db) as db:
        db.execute("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (number, customer_id, status, 9900, (shipped - timedelta(days=1)).isoformat(),
                    (shipped - timedelta(hours=20)).isoformat(), shipped.isoformat(), None, None, "圆通速递",
                    f"YT{number}", "张三", "13800000000", "浙江省", "杭州市", "西湖区", "文三路 1 号"))
        db.execute("INSERT INTO order_items VALUES (?, 0, 'TH-VAC-500', '保温杯', 'Vacuum flask', 2, 4950)",
                   (number,))
        db.execute("INSERT INTO logistics_events VALUES (?,?,?,?,?,?)",
                   (number, (now - timedelta(hours=last_update_hours_ago)).isoformat(), "in_transit", "杭州",
                    "快件已从【杭州转运中心】发出", "Departed Hangzhou sorting centre"))
        if request:
            db.execute("INSERT INTO after_sales_requests VALUES (?,?,'TH-VAC-500',?,'damaged',?,?,'')",
                       (request[0], number, request[1], request[2], (now - timedelta(days=2)).isoformat()))
    return number


def set_request_state(stack: Stack, request_number: str, state: str) -> None:
    with sqlite3.connect(stack.settings.order_db) as db:
        db.execute("UPDATE after_sales_requests SET state = ? WHERE number = ?", (state, request_number))


# --- the customers' side ---------------------------------------------------------------------------------

def openid() -> str:
    return "o" + uuid.uuid4().hex[:27]


def wechat_customer(stack: ProactiveStack, customer_id: str, language: str = "zh", say: str = "你好") -> str:
    add_customer(stack, customer_id, language)
    user = openid()
    stack.link("wechat", user, customer_id)
    if say:
        assert stack.oa().send_text(user, say).status == 200  # opens WeChat's 48-h window
    return user


def app_customer(stack: ProactiveStack, customer_id: str, language: str = "en", say: str = "hello") -> str:
    add_customer(stack, customer_id, language)
    user = "app-" + uuid.uuid4().hex[:8]
    r = stack.app.send(stack.rasa_url, user, say, customer_id=customer_id, metadata={"language": language})
    assert r.status_code == 200, r.text
    return user


def wait_wechat(stack: ProactiveStack, user: str, containing: str, timeout: float = 20.0):
    return _poll(lambda: next((s for s in stack.wechat.sent_to(user) if containing in (s.content or "")), None),
                 timeout, f"no WeChat message to {user} containing {containing!r}: "
                          f"{[s.content for s in stack.wechat.sent_to(user)]}")


def states(stack: ProactiveStack, customer_id: str) -> List[tuple]:
    return [(n.kind, n.state, n.reason) for n in stack.notifications(customer_id)]


# --- tests ----------------------------------------------------------------------------------------------

def test_wechat_customer_gets_the_delay_notice_in_chinese_with_buttons_and_opens_a_conversation(proactive):
    user = wechat_customer(proactive, "C9001")
    number = add_order(proactive, "C9001")
    proactive.round_()
    notice = wait_wechat(proactive, user, "没有物流更新")
    assert number in notice.content and "30 小时" in notice.content and "退订" in notice.content
    assert "1. 查看物流" in notice.content and "2. 转人工" in notice.content  # buttons as numbered lines
    [n] = proactive.notifications("C9001")
    assert (n.kind, n.state, n.channel, n.conversation) == ("logistics_delay", "sent", "wechat", "customer:C9001")

    reply = proactive.oa().send_text(user, "1")  # presses "查看物流": the order's tracking, no questions
    answer = reply.content if not reply.empty else wait_wechat(proactive, user, "杭州").content
    assert number in answer and "杭州" in answer, answer
    proactive.round_()
    [n] = proactive.notifications("C9001")
    assert n.outcome == "opened_conversation"
    assert len([s for s in proactive.wechat.sent_to(user) if "没有物流更新" in s.content]) == 1  # never twice


def test_app_customer_gets_it_by_signed_callback_in_english_and_asks_for_a_person(proactive):
    user = app_customer(proactive, "C9002")
    number = add_order(proactive, "C9002")
    proactive.round_()
    callback = proactive.app.wait_for_callback(user, "no tracking update")
    assert callback.conversation_id == "customer:C9002" and number in callback.message["text"]
    assert [b["title"] for b in callback.message["buttons"]] == ["Track parcel", "Talk to a person"]
    assert proactive.app.refused == 0  # our callback was signed

    person = callback.message["buttons"][1]["payload"]
    r = proactive.app.send(proactive.rasa_url, user, person, customer_id="C9002")
    assert r.status_code == 200
    proactive.round_()
    [n] = proactive.notifications("C9002")
    assert n.outcome == "asked_for_person"


def test_outside_the_48_hour_window_nothing_is_sent_and_the_reason_is_recorded(proactive):
    user = wechat_customer(proactive, "C9003", say="")  # linked by the shop, never wrote
    add_order(proactive, "C9003")
    wrote = wechat_customer(proactive, "C9013")
    add_order(proactive, "C9013")
    with sqlite3.connect(proactive.settings.channels_db) as db:  # ... wrote 49 hours ago
        db.execute("UPDATE channel_links SET last_seen = ? WHERE user_id = ?", (time.time() - 49 * 3600, wrote))
    proactive.round_()
    assert states(proactive, "C9003") == [("logistics_delay", "skipped", "outside_window")]
    assert states(proactive, "C9013") == [("logistics_delay", "skipped", "outside_window")]
    time.sleep(1)
    assert proactive.wechat.sent_to(user) == []
    assert not any("物流" in s.content for s in proactive.wechat.sent_to(wrote))


def test_quiet_hours_postpone_until_they_end(proactive):
    user = app_customer(proactive, "C9004")
    add_order(proactive, "C9004")
    now = datetime.now(UTC)
    local = now.astimezone(timezone(timedelta(hours=8)))
    start = (local - timedelta(hours=1)).strftime("%H:%M")
    end = (local + timedelta(hours=2)).strftime("%H:%M")
    report = proactive.round_(quiet=policy.parse_quiet_hours(f"{start}-{end}"))
    assert report["postponed"] >= 1
    [n] = proactive.notifications("C9004")
    assert (n.state, n.reason) == ("queued", "quiet_hours")
    assert abs(n.not_before - (now + timedelta(hours=2)).timestamp()) < 120
    proactive.round_()  # quiet hours are over for the policy, but the notification waits for its time
    time.sleep(1)
    assert proactive.app.callbacks_for(user) == []
    proactive.round_(clock=lambda: datetime.fromtimestamp(n.not_before + 60, UTC))
    proactive.app.wait_for_callback(user, "no tracking update")
    assert states(proactive, "C9004") == [("logistics_delay", "sent", "")]


def test_rate_limit_per_customer(proactive):
    user = app_customer(proactive, "C9005")
    add_order(proactive, "C9005")
    add_order(proactive, "C9005")
    proactive.round_(rate_count=1)
    proactive.app.wait_for_callback(user, "no tracking update")
    assert sorted(states(proactive, "C9005")) == [("logistics_delay", "sent", ""),
                                                  ("logistics_delay", "skipped", "rate_limited")]
    time.sleep(1)
    assert len([c for c in proactive.app.callbacks_for(user) if "tracking" in (c.message.get("text") or "")]) == 1


def test_unsubscribe_stops_the_next_one_and_resubscribe_undoes_it(proactive):
    user = wechat_customer(proactive, "C9006")
    add_order(proactive, "C9006")
    add_order(proactive, "C9006", status="after_sales", last_update_hours_ago=1,
              request=("AS9006000001", "refund", "approved"))
    proactive.round_()  # the customer's first round: the approved refund is history, the delay is news
    wait_wechat(proactive, user, "没有物流更新")
    assert ("refund_completed", "skipped", "before_start") not in states(proactive, "C9006")

    told = proactive.oa().send_text(user, "退订")
    assert "已为您退订" in told.content, told.content
    set_request_state(proactive, "AS9006000001", "completed")  # news: the refund is completed
    proactive.round_()
    assert ("refund_completed", "skipped", "opted_out") in states(proactive, "C9006")
    time.sleep(1)
    assert not any("退款完成" in s.content for s in proactive.wechat.sent_to(user))

    again = proactive.oa().send_text(user, "重新订阅")
    assert "已为您恢复" in again.content, again.content
    add_order(proactive, "C9006", status="after_sales", last_update_hours_ago=1,
              request=("AS9006000002", "return", "approved"))
    proactive.round_()
    notice = wait_wechat(proactive, user, "请在 7 天内将商品寄回")
    assert "AS9006000002" in notice.content and "1. 查看订单" in notice.content


def test_stop_right_after_a_notification_unsubscribes(proactive):
    user = app_customer(proactive, "C9009")
    add_order(proactive, "C9009")
    proactive.round_()
    proactive.app.wait_for_callback(user, "no tracking update")
    r = proactive.app.send(proactive.rasa_url, user, "stop", customer_id="C9009", metadata={"language": "en"})
    assert any("no more order notifications" in (m.get("text") or "") for m in r.json()["messages"]), r.json()
    assert proactive.store.opted_out("C9009")


def test_refund_completed_after_the_baseline_reaches_the_app_customer(proactive):
    user = app_customer(proactive, "C9008", language="zh", say="你好")
    add_order(proactive, "C9008", status="after_sales", last_update_hours_ago=1,
              request=("AS9008000001", "refund", "approved"))
    proactive.round_()
    assert states(proactive, "C9008") == []
    set_request_state(proactive, "AS9008000001", "completed")
    proactive.round_()
    callback = proactive.app.wait_for_callback(user, "已退款完成")
    assert "¥99.00" in callback.message["text"] and callback.message["buttons"][0]["title"] == "查看订单"


def test_two_scheduler_processes_over_one_store_send_each_notification_once(proactive):
    user = app_customer(proactive, "C9007")
    numbers = {add_order(proactive, "C9007") for _ in range(3)}
    procs = [start_run_once(proactive.settings, CS_PROACTIVE_RATE_COUNT="0") for _ in range(2)]
    reports = [report_of(p) for p in procs]
    assert sum(r["sent"] for r in reports) <= 3, reports
    if sum(r["sent"] for r in reports) < 3:  # one replica may leave a notification to the next round
        proactive.round_()
    _poll(lambda: True if len(proactive.app.callbacks_for(user)) >= 3 else None, 20, "callbacks missing")
    time.sleep(1.5)
    notices = [c.message["text"] for c in proactive.app.callbacks_for(user) if "tracking" in c.message.get("text", "")]
    assert len(notices) == 3 and {n for n in numbers if any(n in t for t in notices)} == numbers


def test_the_service_is_up_and_counts_notifications_and_outcomes(proactive):
    base = f"http://{proactive.settings.host}:{proactive.settings.proactive_port}"
    health = requests.get(f"{base}/health", timeout=10).json()
    assert health["status"] == "ok" and health["scheduler"] == "on"
    text = requests.get(f"{base}/metrics", timeout=10).text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}

    def value(name: str, **labels) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("cs_proactive_notifications_total", kind="logistics_delay", state="sent", reason="") >= 6
    assert value("cs_proactive_notifications_total", kind="logistics_delay", state="skipped",
                 reason="outside_window") == 2
    assert value("cs_proactive_notifications_total", kind="logistics_delay", state="skipped",
                 reason="rate_limited") == 1
    assert value("cs_proactive_notifications_total", kind="refund_completed", state="skipped",
                 reason="opted_out") == 1
    assert value("cs_proactive_outcomes_total", kind="logistics_delay", outcome="asked_for_person") == 1
    # C9001 pressed "track"; C9006 answered "退订" and C9009 "stop" (replies too)
    assert value("cs_proactive_outcomes_total", kind="logistics_delay", outcome="opened_conversation") == 3
