"""Channels end to end: WeChat Official Account and WeCom through the real Rasa server (fake WeChat
API over HTTP, wechatpy as the pushing peer), the mobile app's REST + callback channel (a fake app
back end over HTTP), and one customer moving between channels mid-issue — with the real model, action
server, order API (a fake over HTTP, so a turn can be made slow) and handoff service.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, List, Optional

import pytest
import requests

from bot.channels.signing import signed_headers
from common.secrets import rasa_api_token
from common.settings import Settings
from ops.knowledge import ensure_index
from ops.services import build_services
from ops.supervisor import Supervisor
from tests.conftest import IDENTITY_SECRET, Stack, free_port
from tests.e2e.chat import SocketCustomer
from tests.e2e.test_handoff import Agent, _poll
from tests.fakes.app_backend import FakeAppBackend
from tests.fakes.order_api import FakeOrderApi, seed_database
from tests.fakes.wechat_api import FakeWeChatApi
from tests.fakes.wechat_user import WeChatPusher

pytestmark = pytest.mark.e2e

OA_APP, OA_SECRET, OA_TOKEN = "wx_test_app_0001", "oa-app-secret-0001", "oa-server-token"
OA_AES = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
CORP, CORP_SECRET, CORP_TOKEN, AGENT_ID = "ww_test_corp_0001", "corp-app-secret-1", "wecom-token", 1000002
CORP_AES = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
APP_SECRET = "app-channel-secret-0123456789"
GREETING_ZH = "您好！请问有什么可以帮您"


class ChannelStack(Stack):
    def __init__(self, settings, supervisor, wechat: FakeWeChatApi, app: FakeAppBackend, orders: FakeOrderApi):
        super().__init__(settings, supervisor)
        self.wechat, self.app, self.orders = wechat, app, orders

    def oa(self, mode: str = "aes") -> WeChatPusher:
        return WeChatPusher(f"{self.rasa_url}/webhooks/wechat/webhook", OA_TOKEN, mode, app_id=OA_APP,
                            encoding_aes_key=OA_AES if mode == "aes" else None)

    def wecom(self) -> WeChatPusher:
        return WeChatPusher(f"{self.rasa_url}/webhooks/wecom/webhook", CORP_TOKEN, "wecom", corp_id=CORP,
                            encoding_aes_key=CORP_AES, agent_id=AGENT_ID)

    def tracker(self, conversation_id: str) -> dict:
        r = requests.get(f"{self.rasa_url}/conversations/{conversation_id}/tracker",
                         params={"token": rasa_api_token(self.settings.var_dir)}, timeout=10)
        r.raise_for_status()
        return r.json()

    def user_texts(self, conversation_id: str) -> List[str]:
        return [e.get("text") for e in self.tracker(conversation_id)["events"] if e["event"] == "user"]

    def link(self, channel: str, user_id: str, customer_id: str) -> dict:
        body = json.dumps({"channel": channel, "user_id": user_id, "customer_id": customer_id}).encode()
        r = requests.post(f"{self.rasa_url}/webhooks/identity/link", data=body,
                          headers=signed_headers(IDENTITY_SECRET, body), timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


@contextmanager
def channel_stack(model, var_dir: Path, faq_source: Optional[Path] = None, **overrides) -> Iterator[ChannelStack]:
    """A stack with every channel configured: WeChat OA (safe mode) and WeCom against a fake WeChat
    API, the app channel against a fake app back end, orders from a fake order API. `overrides`: more
    Settings fields (e.g. tickets_file), passed to the services as their CS_* environment."""
    faq_dir = var_dir / "faq"
    shutil.copytree(faq_source or Settings().faq_dir, faq_dir)
    now = datetime.now(timezone.utc)
    orders_db = seed_database(var_dir / "order-api.sqlite3", now)
    with FakeWeChatApi(apps={OA_APP: OA_SECRET}, corps={CORP: (CORP_SECRET, [AGENT_ID])}) as wechat, \
            FakeAppBackend(APP_SECRET) as app, FakeOrderApi(orders_db, now=now) as orders:
        settings = Settings(
            rasa_port=free_port(), action_port=free_port(), web_port=free_port(), handoff_port=free_port(),
            handoff_hours="00:00-24:00", var_dir=var_dir, faq_dir=faq_dir, kb_dir=var_dir / "kb",
            identity_secret=IDENTITY_SECRET, order_backend="http", order_api_url=orders.url,
            order_api_token=orders.token, order_api_timeout=15.0,
            wechat_token=OA_TOKEN, wechat_app_id=OA_APP, wechat_app_secret=OA_SECRET, wechat_aes_key=OA_AES,
            wechat_api_base=wechat.url, wecom_token=CORP_TOKEN, wecom_corp_id=CORP, wecom_secret=CORP_SECRET,
            wecom_agent_id=str(AGENT_ID), wecom_aes_key=CORP_AES, wecom_api_base=wechat.url,
            app_channel_secret=APP_SECRET, app_callback_url=app.callback_url, **overrides)
        ensure_index(settings, quiet=True)
        supervisor = Supervisor(build_services(settings, model), settings.var_dir, settings.host)
        supervisor.start()
        try:
            yield ChannelStack(settings, supervisor, wechat, app, orders)
        finally:
            supervisor.stop()


@pytest.fixture(scope="module")
def channels(stack, model, tmp_path_factory) -> Iterator[ChannelStack]:
    """The channel stack of this module (its FAQ corpus copied from the session stack's)."""
    with channel_stack(model, tmp_path_factory.mktemp("var-channels"), stack.settings.faq_dir) as started:
        yield started


def openid() -> str:
    return "o" + uuid.uuid4().hex[:27]


# --- WeChat Official Account ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["plain", "aes"])
def test_oa_url_verification_and_a_passive_conversation(channels, mode):
    oa = channels.oa(mode)
    check = oa.verify_url()
    assert check.status_code == 200 and check.text == oa.expected_echo

    user = openid()
    hello = oa.send_text(user, "你好")  # the pusher decrypts and checks the reply with wechatpy
    assert hello.status == 200 and GREETING_ZH in hello.content
    assert hello.elapsed < 5.0
    where = oa.send_text(user, "我的订单到哪了")
    assert "订单号" in where.content
    assert channels.user_texts(f"wechat:{user}") == ["你好", "我的订单到哪了"]


def test_oa_subscribe_gets_a_welcome_and_other_types_a_polite_answer(channels):
    oa, user = channels.oa("aes"), openid()
    welcome = oa.send_event(user, "subscribe")
    assert GREETING_ZH in welcome.content
    picture = oa.send_image(user)
    assert "文字" in picture.content and "text" in picture.content
    assert oa.send_event(user, "unsubscribe").empty
    assert channels.user_texts(f"wechat:{user}") == ["/greet"]  # the image and the unsubscribe never reach the bot


def test_bad_or_stale_signatures_are_refused_and_not_processed(channels):
    oa, user = channels.oa("aes"), openid()
    forged = oa.send_raw(b"", {})  # no parameters at all
    assert forged.status_code == 403
    assert _raw_status(oa, user, bad_signature=True) == 403
    assert _raw_status(oa, user, bad_signature="msg_signature") == 403
    assert _raw_status(oa, user, timestamp=int(time.time()) - 3600) == 403  # a replay an hour later
    assert _raw_status(oa, user, timestamp=int(time.time()) + 3600) == 403
    assert oa.verify_url(bad_signature=True).status_code == 403
    assert channels.user_texts(f"wechat:{user}") == []
    assert channels.wechat.sent_to(user) == []


def _raw_status(pusher: WeChatPusher, user: str, **forge) -> int:
    try:
        reply = pusher.send_text(user, "你好", **forge)
    except AssertionError:  # the pusher could not read a reply: there was none to read
        return -1
    return reply.status


HOSTILE = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
                      b'"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;'
                      b'&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><xml><ToUserName>gh</ToUserName>'
                      b'<FromUserName>USER</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>'
                      b'<Content>&lol3;</Content><MsgId>1</MsgId></xml>',
    "external entity": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                       b'<xml><ToUserName>gh</ToUserName><FromUserName>USER</FromUserName><CreateTime>1'
                       b'</CreateTime><MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>',
    "not xml": b"<xml><ToUserName>gh</ToUserName",
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_xml_is_refused_in_plain_and_safe_mode(channels, kind):
    user = openid()
    body = HOSTILE[kind].replace(b"USER", user.encode())
    plain = channels.oa("plain")
    assert plain.send_raw(body, plain.signed_params()).status_code == 400
    safe = channels.oa("aes")  # the same inside a valid, signed encrypted envelope
    encrypted = safe.encrypt(body.decode())
    assert safe.send_raw(safe.envelope(encrypted), safe.signed_params(encrypted)).status_code == 400
    huge = b"<xml><Content>" + b"A" * (2 * 1024 * 1024) + b"</Content></xml>"
    assert plain.send_raw(huge, plain.signed_params()).status_code in (400, 413)
    assert channels.user_texts(f"wechat:{user}") == []


def test_slow_turn_answers_success_at_once_and_delivers_through_the_api(channels):
    oa, user = channels.oa("aes"), openid()
    channels.link("wechat", user, "C1091")  # verified: the order list comes from the order API
    channels.orders.set_faults("slow", delay=6.0, count=1, path_prefix="/v1/")
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(3) as pool:  # WeChat's retries of the same MsgId arrive meanwhile
            first = oa.send_text(user, "我的订单到哪了", msg_id="71000000000000001")
            retries = list(pool.map(lambda _: oa.send_text(user, "我的订单到哪了", msg_id="71000000000000001"),
                                    range(2)))
        assert time.monotonic() - started < 15
        assert first.empty and first.elapsed < 5.0, "WeChat must get an answer within 5 s"
        assert all(r.empty and r.elapsed < 5.0 for r in retries)
        answer = _wait(lambda: next((s for s in channels.wechat.sent_to(user) if "订单" in s.content), None),
                       "the slow turn's answer never came through the customer-service API")
    finally:
        channels.orders.clear_faults()
    assert answer.at - started > 5.0  # it really was slow
    time.sleep(1.5)
    contents = [s.content for s in channels.wechat.sent_to(user)]
    assert len(contents) == len(set(contents)), contents  # one turn's messages, each once
    assert channels.user_texts("customer:C1091").count("我的订单到哪了") == 1


def test_retry_storm_same_msgid_three_times_processed_once(channels):
    oa, user = channels.oa("aes"), openid()
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda _: oa.send_text(user, "你好", msg_id="72000000000000002"), range(3)))
    again = oa.send_text(user, "你好", msg_id="72000000000000002")  # a late retry after the answer
    contents = {r.content for r in replies + [again] if not r.empty}
    assert contents and all(GREETING_ZH in c for c in contents)
    assert len(contents) == 1  # every repeat got the same passive reply (or "success")
    assert channels.user_texts(f"wechat:{user}") == ["你好"]


# --- WeCom -------------------------------------------------------------------------------------------

def test_wecom_verification_and_encrypted_conversation(channels):
    wecom, user = channels.wecom(), "zhangsan-" + uuid.uuid4().hex[:6]
    check = wecom.verify_url()
    assert check.status_code == 200 and check.text == wecom.expected_echo
    reply = wecom.send_text(user, "你好")
    assert GREETING_ZH in reply.content
    assert _raw_status(wecom, user, bad_signature=True) == 403
    assert _raw_status(wecom, user, timestamp=int(time.time()) - 3600) == 403
    assert channels.user_texts(f"wecom:{user}") == ["你好"]


# --- handoff over WeChat, then the app ------------------------------------------------------------------

def _agent(channels) -> Agent:
    return Agent(channels)


def test_wechat_handoff_agent_reply_via_customer_service_api_and_survey(channels):
    oa, user = channels.oa("aes"), openid()
    agent = _agent(channels)
    try:
        told = oa.send_text(user, "转人工")
        assert "人工" in told.content
        conv = agent.conversation_of(f"wechat:{user}")
        assert conv["channel"] == "wechat"
        agent.accept(conv["id"])
        joined = channels.wechat.wait_for_sent(user, 1)
        assert "已接入" in joined[-1].content

        relayed = oa.send_text(user, "快递三天没动了")
        assert relayed.empty  # the bot is silent while a person owns the conversation
        agent.wait_customer_message(conv["id"], "快递三天没动了")
        fetched = channels.wechat.token_requests.get(OA_APP, 0)
        channels.wechat.expire_tokens()  # WeChat's access token runs out mid-conversation
        message = agent.reply(conv["id"], "我来帮您查一下，请稍等")
        agent.wait_delivered(conv["id"], message["id"])
        assert any(s.content == "我来帮您查一下，请稍等" for s in channels.wechat.sent_to(user))
        assert channels.wechat.token_requests.get(OA_APP, 0) == fetched + 1  # refreshed once, then sent

        agent.resolve(conv["id"], "close")
        survey = _wait(lambda: next((s for s in channels.wechat.sent_to(user) if "打分" in s.content), None),
                       "no survey sent")
        assert "1. 5" in survey.content  # the rating buttons as numbered lines
        thanks = oa.send_text(user, "5")  # the survey's first button is 5
        assert "谢谢您的评分" in thanks.content, thanks.content
    finally:
        agent.close()


def test_wechat_refuses_replies_after_the_48_hour_window_they_are_marked_not_sent_again(channels):
    """WeChat refuses customer-service messages once the customer has not written for 48 hours (errcode 45015).
    Through the real Rasa server's WeChat channel: the agent's replies are marked not delivered, with the reason,
    at once, and never sent again (common/undeliverable.py); once the customer writes again, replies go out."""
    oa, user = channels.oa("aes"), openid()
    agent = _agent(channels)
    try:
        oa.send_text(user, "转人工")
        conv = agent.conversation_of(f"wechat:{user}")
        agent.accept(conv["id"])
        assert "已接入" in channels.wechat.wait_for_sent(user, 1)[-1].content

        channels.wechat.reject_user(user)  # 48 hours later: the window has closed
        texts = ["您的退款已经处理好了", "还有其他可以帮您的吗？"]
        sent = [agent.reply(conv["id"], body) for body in texts]
        refused = [agent.wait_message(conv["id"], lambda m, i=m["id"]: m["id"] == i and m["failed_at"],
                                      f"message {m['id']} never marked refused") for m in sent]
        assert [(m["text"], m["delivered_at"], m["failure"]) for m in refused] == [
            (body, None, "window_closed") for body in texts]
        time.sleep(5)  # the outbox would have tried again by now (pauses of 1, 2 ... s)
        with sqlite3.connect(channels.handoff_db) as db:
            tries = db.execute("SELECT attempts, failed_at IS NOT NULL, last_error FROM outbox WHERE message_id IN "
                               "(?, ?) ORDER BY id", tuple(m["id"] for m in sent)).fetchall()
        assert [t[:2] for t in tries] == [(1, 1), (1, 1)], tries
        assert all("window_closed" in t[2] and "45015" in t[2] for t in tries), tries
        assert not [s for s in channels.wechat.sent_to(user) if s.content in texts]
        metrics = requests.get(f"{channels.handoff_url}/metrics", timeout=10).text
        assert 'cs_handoff_messages_undeliverable_total{channel="wechat",reason="window_closed"}' in metrics

        # the customer writes again: the window is open again and the next reply reaches them
        channels.wechat.accept_user(user)
        assert oa.send_text(user, "我又来了").empty
        agent.wait_customer_message(conv["id"], "我又来了")
        again = agent.reply(conv["id"], "您好，退款已到账，请查收")
        agent.wait_delivered(conv["id"], again["id"])
        assert [s.content for s in channels.wechat.sent_to(user)][-1] == "您好，退款已到账，请查收"
    finally:
        agent.close()


def _wait(find, what: str, timeout: float = 20.0):
    return _poll(find, timeout, what)


def test_app_channel_request_response_signature_and_retry(channels):
    app, sender = channels.app, "app-user-" + uuid.uuid4().hex[:6]
    r = app.send(channels.rasa_url, sender, "你好", message_id="m-1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["conversation_id"] == f"app:{sender}"
    assert any(GREETING_ZH in (m.get("text") or "") for m in body["messages"])
    again = app.send(channels.rasa_url, sender, "你好", message_id="m-1")  # the app's retry
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["messages"] == body["messages"]
    assert channels.user_texts(f"app:{sender}") == ["你好"]

    forged = app.send(channels.rasa_url, sender, "你好", secret="not-the-shared-secret-at-all")
    assert forged.status_code == 401
    raw = requests.post(f"{channels.rasa_url}/webhooks/app/webhook", data=b"{}", timeout=10)
    assert raw.status_code == 401
    body = json.dumps({"sender": "", "message": "x"}).encode()
    bad = requests.post(f"{channels.rasa_url}/webhooks/app/webhook", data=body,
                        headers=signed_headers(APP_SECRET, body), timeout=10)
    assert bad.status_code == 400 and "sender" in bad.json()["error"]
    assert channels.user_texts(f"app:{sender}") == ["你好"]


def test_app_handoff_agent_reply_arrives_by_callback(channels):
    app, sender = channels.app, "app-user-" + uuid.uuid4().hex[:6]
    agent = _agent(channels)
    try:
        r = app.send(channels.rasa_url, sender, "我要转人工")
        assert any("人工" in (m.get("text") or "") for m in r.json()["messages"])
        conv = agent.conversation_of(f"app:{sender}")
        agent.accept(conv["id"])
        app.wait_for_callback(sender, "已接入")
        app.fail_next = 2  # the app back end is briefly down: the callback is retried
        message = agent.reply(conv["id"], "您好，请问有什么可以帮您？")
        callback = app.wait_for_callback(sender, "请问有什么可以帮您？")
        assert app.fail_next == 0
        assert callback.conversation_id == f"app:{sender}"
        agent.wait_delivered(conv["id"], message["id"])
        assert app.refused == 0
    finally:
        agent.close()


# --- one customer across channels -----------------------------------------------------------------------

def test_customer_moves_from_wechat_to_the_app_mid_issue(channels):
    oa, user, app_user = channels.oa("aes"), openid(), "app-" + uuid.uuid4().hex[:6]
    linked = channels.link("wechat", user, "C1032")
    assert linked["conversation_id"] == "customer:C1032"

    asked = oa.send_text(user, "我的订单到哪了")  # on WeChat: the bot asks which order
    assert "订单" in asked.content
    # ... the customer opens the app and answers there, naming only the order
    r = channels.app.send(channels.rasa_url, app_user, "261118716891", customer_id="C1032")
    assert r.status_code == 200 and r.json()["conversation_id"] == "customer:C1032"
    answer = "\n".join(m.get("text") or "" for m in r.json()["messages"])
    assert "261118716891" in answer, answer  # the form went on: the order's status, no questions again
    assert "订单号（12 位数字" not in answer and GREETING_ZH not in answer

    tracker = channels.tracker("customer:C1032")
    channels_used = [e.get("input_channel") for e in tracker["events"] if e["event"] == "user"]
    assert channels_used[-2:] == ["wechat", "app"]

    # a handoff started in the app continues on WeChat; the agent's reply follows the customer
    agent = _agent(channels)
    try:
        channels.app.send(channels.rasa_url, app_user, "转人工", customer_id="C1032")
        conv = agent.conversation_of("customer:C1032")
        agent.accept(conv["id"])
        channels.app.wait_for_callback(app_user, "已接入")
        assert oa.send_text(user, "我在微信上继续说").empty
        agent.wait_customer_message(conv["id"], "我在微信上继续说")
        agent.reply(conv["id"], "好的，微信上回复您")
        _wait(lambda: next((s for s in channels.wechat.sent_to(user) if s.content == "好的，微信上回复您"), None),
              "the agent's reply did not reach WeChat, where the customer wrote last")
        summary = json.dumps(agent.detail(conv["id"])["summary"], ensure_ascii=False)
        assert "261118716891" in summary  # the order looked up on the app is in the agent's summary
        agent.resolve(conv["id"], "bot")
    finally:
        agent.close()


async def test_web_widget_with_a_token_joins_the_customer_conversation(channels):
    from common.identity import issue_token

    app_user = "app-" + uuid.uuid4().hex[:6]
    r = await asyncio.to_thread(channels.app.send, channels.rasa_url, app_user, "我想退货", None, None,
                                {"customer_token": issue_token(IDENTITY_SECRET, "C1110")})
    assert r.json()["conversation_id"] == "customer:C1110"
    web = SocketCustomer(channels.rasa_url, custom_data={"language": "zh",
                                                        "customer_token": issue_token(IDENTITY_SECRET, "C1110")})
    await web.connect()
    try:
        await web.say("算了不退了", expect=1)
        texts = await asyncio.to_thread(channels.user_texts, "customer:C1110")
        assert texts[-2:] == ["我想退货", "算了不退了"]
    finally:
        await web.close()
    anonymous = SocketCustomer(channels.rasa_url, custom_data={"language": "zh"})
    await anonymous.connect()
    try:
        await anonymous.say("你好", expect=1)
        assert await asyncio.to_thread(channels.user_texts, anonymous.session_id) == ["你好"]
    finally:
        await anonymous.close()


def test_links_need_the_shops_signature_and_can_be_undone(channels):
    oa, user = channels.oa("aes"), openid()
    body = json.dumps({"channel": "wechat", "user_id": user, "customer_id": "C1032"}).encode()
    unsigned = requests.post(f"{channels.rasa_url}/webhooks/identity/link", data=body,
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert unsigned.status_code == 401
    forged = requests.post(f"{channels.rasa_url}/webhooks/identity/link", data=body,
                           headers=signed_headers("someone-elses-secret-0123", body), timeout=10)
    assert forged.status_code == 401
    oa.send_text(user, "你好")
    assert channels.user_texts(f"wechat:{user}") == ["你好"]  # not linked: its own conversation

    channels.link("wechat", user, "C1032")
    oa.send_text(user, "链接之后的消息")
    assert channels.user_texts("customer:C1032")[-1] == "链接之后的消息"

    body = json.dumps({"channel": "wechat", "user_id": user}).encode()
    r = requests.delete(f"{channels.rasa_url}/webhooks/identity/link", data=body,
                        headers=signed_headers(IDENTITY_SECRET, body), timeout=10)
    assert r.status_code == 200 and r.json() == {"unlinked": True}
    oa.send_text(user, "解除之后的消息")
    assert channels.user_texts(f"wechat:{user}")[-1] == "解除之后的消息"
    assert "解除之后的消息" not in channels.user_texts("customer:C1032")
