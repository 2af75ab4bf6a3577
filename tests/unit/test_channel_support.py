"""The shared parts of the channels (bot/channels/): one customer across channels (customers.py), once-only
handling of pushed messages (ledger.py), text rendering of buttons (render.py), signed back-end requests
(signing.py), WeChat's server API (wechat_api.py, against tests/fakes/wechat_api.py over real HTTP), and the
channel settings (common/settings.py `_validate_channels`)."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import random
import sqlite3
import threading

import pytest

from bot.channels import render
from bot.channels.customers import WEB, CustomerDirectory, Route
from bot.channels.ledger import MessageLedger
from bot.channels.render import ButtonMemory, as_text
from bot.channels.signing import (
    MAX_SKEW,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    signature_ok,
    signed_headers,
)
from bot.channels.wechat_api import (
    MAX_TEXT_BYTES,
    OfficialAccountApi,
    WeChatApiError,
    WeComApi,
    split_text,
)
from common.settings import ConfigError, Settings
from tests.fakes.wechat_api import FakeWeChatApi

APP_ID, APP_SECRET = "wx1234567890abcdef", "0123456789abcdef0123456789abcdef"
CORP_ID, CORP_SECRET, AGENT_ID = "ww0123456789abcdef", "corp-secret-0123456789", 1000002
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


# === customers.CustomerDirectory ======================================================================
@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "var" / "channels.sqlite3"


@pytest.fixture
def directory(db_path):
    return CustomerDirectory(db_path)


def test_anonymous_routes(directory):
    assert directory.route(WEB, "sid-123") == Route("sid-123")  # the widget's session id, as Rasa has it
    assert directory.route("wechat", OPENID) == Route(f"wechat:{OPENID}")
    assert directory.route("wecom", "ZhangSan", sticky=True) == Route("wecom:ZhangSan")  # no link yet
    assert directory.route("app", "user-7") == Route("app:user-7", None)
    with pytest.raises(ValueError):
        directory.route("wechat", "")


def test_verified_route_goes_to_the_customer_conversation(directory):
    assert directory.route("app", "user-7", verified_customer="C42") == Route("customer:C42", "C42")
    assert directory.route(WEB, "sid-1", verified_customer="C42") == Route("customer:C42", "C42")
    assert directory.route("wechat", OPENID, verified_customer="C42") == Route("customer:C42", "C42")
    assert directory.customer_of("app", "user-7") == "C42"


def test_web_and_app_links_are_not_sticky(directory):
    directory.route("app", "user-7", verified_customer="C42")
    directory.route(WEB, "sid-1", verified_customer="C42")
    # the next message without a token is anonymous again (a shared computer after logout)
    assert directory.route("app", "user-7") == Route("app:user-7")
    assert directory.route(WEB, "sid-1") == Route("sid-1")
    assert directory.route("app", "user-7", verified_customer="C42").conversation_id == "customer:C42"


def test_wechat_links_are_sticky(directory):
    assert directory.link("wechat", OPENID, "C42") == Route("customer:C42", "C42")
    for _ in range(3):
        assert directory.route("wechat", OPENID, sticky=True) == Route("customer:C42", "C42")
    assert directory.route("wechat", "oSomebodyElse", sticky=True) == Route("wechat:oSomebodyElse")
    assert directory.route("wecom", OPENID, sticky=True) == Route(f"wecom:{OPENID}")  # links are per channel
    with pytest.raises(ValueError):
        directory.link("wechat", OPENID, "")
    with pytest.raises(ValueError):
        directory.link("wechat", OPENID, None)


def _linked_at(db_path, channel, user):
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return db.execute("SELECT linked_at FROM channel_links WHERE channel = ? AND user_id = ?",
                          (channel, user)).fetchone()[0]


def test_relink_to_another_customer(directory, db_path):
    directory.link("wechat", OPENID, "C1", now=100.0)
    directory.link("wechat", OPENID, "C1", now=150.0)
    assert _linked_at(db_path, "wechat", OPENID) == 100.0  # the same customer again: still linked since 100
    assert directory.route("wechat", OPENID, verified_customer="C2", now=200.0) == Route("customer:C2", "C2")
    assert _linked_at(db_path, "wechat", OPENID) == 200.0
    assert directory.route("wechat", OPENID, sticky=True) == Route("customer:C2", "C2")
    assert directory.customer_of("wechat", OPENID) == "C2"
    assert directory.address("customer:C1", "wechat") is None
    assert directory.address("customer:C2", "wechat") == OPENID


def test_unlink(directory):
    directory.link("wechat", OPENID, "C42")
    assert directory.unlink("wechat", OPENID) is True
    assert directory.unlink("wechat", OPENID) is False
    assert directory.route("wechat", OPENID, sticky=True) == Route(f"wechat:{OPENID}")
    assert directory.customer_of("wechat", OPENID) is None
    assert directory.address("customer:C42", "wechat") is None


def test_address_picks_the_latest_user_id_on_that_channel(directory):
    directory.link("wechat", "oPhoneA", "C1", now=100.0)
    directory.link("wechat", "oPhoneB", "C1", now=200.0)
    directory.link("app", "app-user-1", "C1", now=150.0)
    directory.link("wechat", "oOther", "C2", now=300.0)
    assert directory.address("customer:C1", "wechat") == "oPhoneB"
    directory.route("wechat", "oPhoneA", sticky=True, now=400.0)  # writes again from phone A
    assert directory.address("customer:C1", "wechat") == "oPhoneA"
    directory.route("wechat", "oPhoneB", verified_customer="C1", now=500.0)
    assert directory.address("customer:C1", "wechat") == "oPhoneB"
    assert directory.address("customer:C1", "app") == "app-user-1"
    assert directory.address("customer:C1", "wecom") is None
    assert directory.address("customer:C2", "wechat") == "oOther"
    assert directory.address("customer:Nobody", "wechat") is None


def test_address_parses_channel_conversations(directory):
    assert directory.address(f"wechat:{OPENID}", "wechat") == OPENID
    assert directory.address(f"wechat:{OPENID}", "wecom") is None
    assert directory.address("wecom:ZhangSan", "wechat") is None
    assert directory.address("app:user:with:colons", "app") == "user:with:colons"
    assert directory.address("sid-123", WEB) == "sid-123"


def test_customer_of_seen_within(directory):
    directory.link("wechat", OPENID, "C42", now=1000.0)
    assert directory.customer_of("wechat", OPENID, seen_within=60, now=1060.0) == "C42"
    assert directory.customer_of("wechat", OPENID, seen_within=60, now=1061.0) is None
    assert directory.customer_of("wechat", OPENID, now=99999.0) == "C42"  # no limit
    directory.route("wechat", OPENID, sticky=True, now=2000.0)  # a message refreshes last_seen
    assert directory.customer_of("wechat", OPENID, seen_within=60, now=2030.0) == "C42"
    directory.route("wechat", OPENID, now=5000.0)  # not sticky: does not count as seen as the customer
    assert directory.customer_of("wechat", OPENID, seen_within=60, now=5010.0) is None
    assert directory.customer_of("wechat", "oNobody", seen_within=60) is None


def test_two_directories_on_one_file_agree(db_path):
    one, two = CustomerDirectory(db_path), CustomerDirectory(db_path)
    one.link("wechat", OPENID, "C42", now=100.0)
    assert two.route("wechat", OPENID, sticky=True, now=200.0) == Route("customer:C42", "C42")
    assert one.customer_of("wechat", OPENID, seen_within=10, now=205.0) == "C42"  # sees two's last_seen
    two.link("wechat", "oPhone2", "C42", now=300.0)
    assert one.address("customer:C42", "wechat") == "oPhone2"
    two.route("wechat", OPENID, verified_customer="C7", now=400.0)
    assert one.route("wechat", OPENID, sticky=True) == Route("customer:C7", "C7")
    one.unlink("wechat", OPENID)
    assert two.route("wechat", OPENID, sticky=True) == Route(f"wechat:{OPENID}")


def test_directory_is_safe_from_many_threads(db_path):
    directories = [CustomerDirectory(db_path) for _ in range(2)]
    errors = []

    def work(n: int) -> None:
        try:
            d = directories[n % 2]
            for i in range(20):
                d.link("wechat", f"o{n}-{i}", f"C{n}")
                assert d.route("wechat", f"o{n}-{i}", sticky=True).customer_id == f"C{n}"
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    fresh = CustomerDirectory(db_path)
    assert all(fresh.customer_of("wechat", f"o{n}-{i}") == f"C{n}" for n in range(8) for i in range(20))


# === ledger.MessageLedger =============================================================================
def test_ledger_first_claim_wins(tmp_path):
    ledger = MessageLedger(tmp_path / "ledger.sqlite3")
    assert ledger.claim("gh_1:msg:1") is True
    assert ledger.claim("gh_1:msg:1") is False
    assert ledger.claim("gh_1:msg:1") is False
    assert ledger.claim("gh_1:msg:2") is True


def test_ledger_survives_a_restart(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    assert MessageLedger(path).claim("k") is True
    restarted = MessageLedger(path)
    assert restarted.claim("k") is False
    assert restarted.claim("k2") is True


def test_ledger_concurrent_claims_from_8_threads(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    shared = MessageLedger(path)
    ledgers = [shared if n % 2 else MessageLedger(path) for n in range(8)]  # threads and "processes"
    barrier = threading.Barrier(8)
    results: dict = {}

    def work(n: int) -> None:
        barrier.wait()
        results[n] = [ledgers[n].claim("same-key")] + [ledgers[n].claim(f"k{i}") for i in range(25)]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert sum(r[0] for r in results.values()) == 1
    for i in range(25):
        assert sum(r[i + 1] for r in results.values()) == 1  # every key claimed exactly once


def _rows(path):
    with contextlib.closing(sqlite3.connect(path)) as db:
        return sorted(row[0] for row in db.execute("SELECT key FROM seen_messages"))


def test_ledger_prunes_old_keys(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    ledger = MessageLedger(path, keep_seconds=3600)
    assert ledger.claim("old", now=1000.0) is True
    assert ledger.claim("old", now=1000.0 + 3599) is False  # still within keep_seconds
    assert ledger.claim("recent", now=4599.0) is True
    assert ledger.claim("old", now=1000.0 + 3600 + 601) is True  # pruned, so new again
    assert ledger.claim("recent", now=1000.0 + 3600 + 601) is False
    assert _rows(path) == ["old", "recent"]
    restarted = MessageLedger(path, keep_seconds=60)
    assert restarted.claim("new", now=10_000.0) is True  # a fresh process prunes on its first claim
    assert _rows(path) == ["new"]


# === render ===========================================================================================
def test_as_text_with_buttons():
    text, buttons = as_text({"text": "您想做什么？", "buttons": [
        {"title": "查订单", "payload": "/order_status"}, {"title": "Refund"}, {"payload": "/no_title"}]})
    assert text == "您想做什么？\n1. 查订单\n2. Refund"
    assert buttons == [{"title": "查订单", "payload": "/order_status"}, {"title": "Refund", "payload": "Refund"}]


def test_as_text_with_quick_replies_image_and_custom():
    text, buttons = as_text({"text": "Pick one", "quick_replies": [{"title": "Yes", "payload": "/affirm"},
                                                                   {"title": "No", "payload": "/deny"}]})
    assert text == "Pick one\n1. Yes\n2. No"
    assert [b["payload"] for b in buttons] == ["/affirm", "/deny"]
    assert as_text({"image": "https://cdn.example.com/a.png"}) == ("https://cdn.example.com/a.png", [])
    assert as_text({"text": "See", "image": "https://x/y.png"}) == ("See\nhttps://x/y.png", [])
    assert as_text({"custom": {"text": "custom words"}}) == ("custom words", [])
    assert as_text({"custom": {"handoff": True}}) == ("", [])
    assert as_text({}) == ("", [])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(render, "time", fake)
    return fake


BUTTONS = [{"title": "查订单", "payload": "/order_status"}, {"title": "Refund", "payload": "/refund"},
           {"title": "Talk to a person", "payload": "/human"}]


def test_button_memory_resolves_numbers_and_titles(clock):
    memory = ButtonMemory()
    memory.remember("c1", BUTTONS)
    assert memory.resolve("c1", "1") == "/order_status"
    assert memory.resolve("c1", " 3 ") == "/human"
    assert memory.resolve("c1", "查订单") == "/order_status"
    assert memory.resolve("c1", "Refund") == "/refund"
    assert memory.resolve("c1", "refund please") is None
    assert memory.resolve("c2", "1") is None  # another conversation


@pytest.mark.parametrize("answer", ["0", "4", "-1", "", "1.0", "99999999999"])
def test_button_memory_out_of_range(clock, answer):
    memory = ButtonMemory()
    memory.remember("c1", BUTTONS)
    assert memory.resolve("c1", answer) is None


def test_button_memory_expires_and_forgets(clock):
    memory = ButtonMemory(ttl=60)
    memory.remember("c1", BUTTONS)
    clock.now += 60
    assert memory.resolve("c1", "2") == "/refund"
    clock.now += 0.5
    assert memory.resolve("c1", "2") is None
    memory.remember("c1", BUTTONS)
    memory.remember("c1", [])  # a message without buttons forgets the old ones
    assert memory.resolve("c1", "2") is None


def test_button_titles_win_over_numbers(clock):
    memory = ButtonMemory()
    memory.remember("c1", [{"title": "2", "payload": "/two"}, {"title": "1", "payload": "/one"}])
    assert memory.resolve("c1", "1") == "/one"


@pytest.mark.parametrize("answer", ["①", "²", "9" * 5000])
def test_button_memory_never_raises_on_digit_like_replies(clock, answer):
    memory = ButtonMemory()
    memory.remember("c1", BUTTONS)
    assert memory.resolve("c1", answer) in (None, "/order_status")


# === signing ==========================================================================================
SECRET = "app-channel-secret-0123456789"


def test_sign_is_hmac_sha256_of_timestamp_dot_body():
    body = '{"user":"u1","text":"你好"}'.encode()
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, "1700000000", body) == f"v1={expected}"


def test_signed_headers_round_trip():
    body = b'{"text":"hi"}'
    headers = signed_headers(SECRET, body, now=1700000000)
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    assert signature_ok(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=1700000010)
    assert headers["Content-Type"].startswith("application/json")
    now = signed_headers(SECRET, body)  # the current clock on both sides
    assert signature_ok(SECRET, now[TIMESTAMP_HEADER], body, now[SIGNATURE_HEADER])


def test_tampered_body_or_wrong_secret_is_refused():
    body = b'{"text":"refund 10"}'
    headers = signed_headers(SECRET, body, now=1700000000)
    ts, sig = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert not signature_ok(SECRET, ts, b'{"text":"refund 1000"}', sig, now=1700000000)
    assert not signature_ok(SECRET + "x", ts, body, sig, now=1700000000)
    assert not signature_ok(SECRET, "1700000001", body, sig, now=1700000000)  # the timestamp is signed too
    assert not signature_ok(SECRET, ts, body, sig.upper(), now=1700000000)
    assert not signature_ok(SECRET, ts, body, sig[3:], now=1700000000)  # without "v1="
    assert not signature_ok(SECRET, ts, body, "v1=" + "0" * 64, now=1700000000)


def test_stale_timestamps_both_directions():
    body = b"{}"
    ts = "1700000000"
    sig = sign(SECRET, ts, body)
    assert signature_ok(SECRET, ts, body, sig, now=1700000000 + MAX_SKEW)
    assert signature_ok(SECRET, ts, body, sig, now=1700000000 - MAX_SKEW)
    assert not signature_ok(SECRET, ts, body, sig, now=1700000000 + MAX_SKEW + 1)  # too old
    assert not signature_ok(SECRET, ts, body, sig, now=1700000000 - MAX_SKEW - 1)  # from the future


@pytest.mark.parametrize("secret, timestamp, given", [
    (SECRET, None, "v1=x"), (SECRET, "", "v1=x"), (SECRET, "1700000000", None), (SECRET, "1700000000", ""),
    ("", "1700000000", "SIG"), (SECRET, "yesterday", "SIG"), (SECRET, "1.7e9", "SIG"),
])
def test_missing_or_malformed_headers(secret, timestamp, given):
    if given == "SIG":
        given = sign(secret, timestamp, b"{}")
    assert signature_ok(secret, timestamp, b"{}", given, now=1700000000) is False


# === wechat_api: split_text ===========================================================================
def test_split_text_short_and_empty():
    assert split_text("hello") == ["hello"]
    assert split_text("") == [""]
    assert split_text("a\nb\nc") == ["a\nb\nc"]


def test_split_text_at_line_breaks():
    lines = ["x" * 1500, "y" * 499, "z" * 1500]
    parts = split_text("\n".join(lines))
    assert parts == ["x" * 1500 + "\n" + "y" * 499, "z" * 1500]  # 1500 + 1 + 499 = 2000 bytes fits
    assert split_text("a" * 2000) == ["a" * 2000]
    assert split_text("a" * 2000 + "\nb") == ["a" * 2000, "b"]


def test_split_text_one_line_longer_than_the_limit():
    parts = split_text("a" * 4500)
    assert len(parts) == 3 and all(len(p) <= MAX_TEXT_BYTES for p in parts) and "".join(parts) == "a" * 4500
    parts = split_text("head\n" + "b" * 2500 + "\ntail")
    assert all(len(p.encode()) <= MAX_TEXT_BYTES for p in parts)
    assert "".join(parts).replace("\n", "") == "head" + "b" * 2500 + "tail"


def test_split_text_chinese_counts_bytes():
    parts = split_text("好" * 1000)  # 3000 bytes
    assert all(len(p.encode("utf-8")) <= MAX_TEXT_BYTES for p in parts) and len(parts) == 2
    assert "".join(parts) == "好" * 1000
    lines = [f"第{i}行：您的订单已发货，预计明天送达。" for i in range(120)]
    parts = split_text("\n".join(lines))
    assert len(parts) > 1 and all(len(p.encode("utf-8")) <= MAX_TEXT_BYTES for p in parts)
    assert "\n".join(parts) == "\n".join(lines)  # cut only at line breaks
    parts = split_text("😀" * 10, limit=8)
    assert all(len(p.encode("utf-8")) <= 8 for p in parts) and "".join(parts) == "😀" * 10


def test_split_text_random_texts_lose_nothing():
    rng = random.Random(1)
    alphabet = "ab 中文字😀\n\n"
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 6000)))
        limit = rng.choice([MAX_TEXT_BYTES, 100, 37])
        parts = split_text(text, limit)
        assert all(len(p.encode("utf-8")) <= limit for p in parts)
        assert "".join(parts).replace("\n", "") == text.replace("\n", "")


# === wechat_api against the fake WeChat API ============================================================
@pytest.fixture
def fake():
    with FakeWeChatApi(apps={APP_ID: APP_SECRET}, corps={CORP_ID: (CORP_SECRET, [AGENT_ID])}) as api:
        yield api


@contextlib.asynccontextmanager
async def oa(fake, secret=APP_SECRET, **kwargs):
    api = OfficialAccountApi(fake.url, APP_ID, secret, backoff=0.01, **kwargs)
    try:
        yield api
    finally:
        await api.close()


@contextlib.asynccontextmanager
async def wecom(fake, secret=CORP_SECRET, **kwargs):
    api = WeComApi(fake.url, CORP_ID, secret, AGENT_ID, backoff=0.01, **kwargs)
    try:
        yield api
    finally:
        await api.close()


async def test_oa_send_text_is_delivered_as_utf8(fake):
    async with oa(fake) as api:
        await api.send_text(OPENID, "您好，您的订单已发货 😀")
    [record] = fake.sent
    assert (record.api, record.touser, record.msgtype, record.content, record.app) == (
        "oa", OPENID, "text", "您好，您的订单已发货 😀", APP_ID)
    assert record.escaped is False  # no \u escapes: WeChat counts bytes
    assert record.body == {"touser": OPENID, "msgtype": "text", "text": {"content": "您好，您的订单已发货 😀"}}


async def test_wecom_send_text_is_delivered(fake):
    async with wecom(fake) as api:
        await api.send_text("ZhangSan", "退款已处理")
    [record] = fake.sent
    assert (record.api, record.touser, record.content, record.agentid, record.app) == (
        "wecom", "ZhangSan", "退款已处理", AGENT_ID, CORP_ID)
    assert record.escaped is False and record.truncated is False and record.body["safe"] == 0


@pytest.mark.parametrize("client, owner, user", [(oa, APP_ID, OPENID), (wecom, CORP_ID, "ZhangSan")])
async def test_one_token_fetch_for_many_concurrent_sends(fake, client, owner, user):
    fake.set_delay(0.2, path_prefix="/cgi-bin/token")  # every send waits while the one token is fetched
    fake.set_delay(0.2, path_prefix="/cgi-bin/gettoken")
    async with client(fake) as api:
        await asyncio.gather(*(api.send_text(user, f"消息 {i}") for i in range(20)))
        assert api.tokens.fetches == 1
    assert fake.token_requests == {owner: 1}
    assert sorted(m.content for m in fake.sent) == sorted(f"消息 {i}" for i in range(20))


@pytest.mark.parametrize("client, owner, user", [(oa, APP_ID, OPENID), (wecom, CORP_ID, "ZhangSan")])
async def test_expired_token_is_fetched_again_once(fake, client, owner, user):
    async with client(fake) as api:
        await api.send_text(user, "first")
        fake.expire_tokens()  # every send now answers 42001 until a new token is used
        await api.send_text(user, "second")
        assert fake.token_requests == {owner: 2}
        fake.expire_tokens()
        await asyncio.gather(*(api.send_text(user, f"burst {i}") for i in range(10)))
        assert fake.token_requests == {owner: 3}
        assert api.tokens.fetches == 3
    assert [m.content for m in fake.sent][:2] == ["first", "second"]
    assert len(fake.sent) == 12


async def test_system_busy_is_retried(fake):
    async with oa(fake, retries=2) as api:
        fake.fail_next(2, errcode=-1, errmsg="system error", path_prefix="/cgi-bin/message/")
        await api.send_text(OPENID, "after two busy answers")
        fake.fail_next(1, errcode=-1, path_prefix="/cgi-bin/token")
        api.tokens.invalidate(await api.tokens.get())
        await api.send_text(OPENID, "token fetch was busy once")
        fake.fail_next(3, errcode=-1, path_prefix="/cgi-bin/message/")
        with pytest.raises(WeChatApiError) as error:
            await api.send_text(OPENID, "busy three times")
        assert error.value.errcode == -1
    assert [m.content for m in fake.sent] == ["after two busy answers", "token fetch was busy once"]


async def test_network_errors_are_retried(fake):
    async with wecom(fake) as api:
        fake.drop_next(1, path_prefix="/cgi-bin/message/")
        await api.send_text("ZhangSan", "delivered despite a dropped connection")
    assert [m.content for m in fake.sent] == ["delivered despite a dropped connection"]


async def test_other_errors_raise_with_the_errcode(fake):
    fake.reject_user(OPENID)  # 45015: outside the 48-hour customer-service window
    async with oa(fake) as api:
        with pytest.raises(WeChatApiError) as error:
            await api.send_text(OPENID, "hello?")
        assert error.value.errcode == 45015 and "45015" in str(error.value)
        assert fake.token_requests == {APP_ID: 1}  # not mistaken for a token problem
    fake.reject_user("Gone")
    async with wecom(fake) as api:
        with pytest.raises(WeChatApiError) as error:
            await api.send_text("Gone", "hello?")
        assert error.value.errcode == 81013
    assert fake.sent == []


async def test_wrong_secret_raises(fake):
    async with oa(fake, secret="wrong-secret") as api:
        with pytest.raises(WeChatApiError) as error:
            await api.send_text(OPENID, "x")
        assert error.value.errcode == 40125
    async with wecom(fake, secret="wrong-secret") as api:
        with pytest.raises(WeChatApiError) as error:
            await api.send_text("ZhangSan", "x")
        assert error.value.errcode == 40001
    assert fake.sent == []
    assert fake.token_requests == {APP_ID: 1, CORP_ID: 1}


@pytest.mark.parametrize("client, user", [(oa, OPENID), (wecom, "ZhangSan")])
async def test_long_text_is_split_at_line_breaks(fake, client, user):
    lines = [f"第{i}行：您的订单已发货，预计明天送达。Order {i} shipped." for i in range(150)]
    text = "\n".join(lines)
    assert len(text.encode("utf-8")) > 3 * MAX_TEXT_BYTES
    async with client(fake) as api:
        await api.send_text(user, text)
    contents = [m.content for m in fake.sent]
    assert len(contents) >= 4
    assert all(len(c.encode("utf-8")) <= MAX_TEXT_BYTES for c in contents)
    assert "\n".join(contents) == text  # in order, nothing lost, cut only between lines
    assert not any(m.truncated or m.escaped for m in fake.sent)


# === settings =========================================================================================
WECHAT = {"CS_WECHAT_TOKEN": "token123", "CS_WECHAT_APP_ID": APP_ID, "CS_WECHAT_APP_SECRET": APP_SECRET,
          "CS_WECHAT_AES_KEY": AES_KEY}
WECOM = {"CS_WECOM_TOKEN": "token456", "CS_WECOM_CORP_ID": CORP_ID, "CS_WECOM_SECRET": CORP_SECRET,
         "CS_WECOM_AGENT_ID": str(AGENT_ID), "CS_WECOM_AES_KEY": AES_KEY}


def test_complete_channel_settings_are_accepted():
    settings = Settings.from_env({**WECHAT, **WECOM, "CS_WECHAT_PASSIVE_SECONDS": "4.5",
                                  "CS_APP_CHANNEL_SECRET": "s" * 16})
    assert (settings.wechat_app_id, settings.wecom_agent_id, settings.wechat_passive_seconds) == (
        APP_ID, "1000002", 4.5)
    no_aes = {k: v for k, v in WECHAT.items() if k != "CS_WECHAT_AES_KEY"}
    assert Settings.from_env(no_aes).wechat_aes_key == ""  # plain mode needs no EncodingAESKey
    assert Settings.from_env({}).wechat_token == ""  # both channels off


@pytest.mark.parametrize("env, missing", [
    ({"CS_WECHAT_TOKEN": "t"}, ["CS_WECHAT_APP_ID", "CS_WECHAT_APP_SECRET"]),
    ({"CS_WECHAT_AES_KEY": AES_KEY}, ["CS_WECHAT_TOKEN", "CS_WECHAT_APP_ID", "CS_WECHAT_APP_SECRET"]),
    ({k: v for k, v in WECHAT.items() if k != "CS_WECHAT_APP_SECRET"}, ["CS_WECHAT_APP_SECRET"]),
    ({"CS_WECOM_CORP_ID": CORP_ID, "CS_WECOM_TOKEN": "t"},
     ["CS_WECOM_SECRET", "CS_WECOM_AGENT_ID", "CS_WECOM_AES_KEY"]),
    ({k: v for k, v in WECOM.items() if k != "CS_WECOM_AES_KEY"}, ["CS_WECOM_AES_KEY"]),
])
def test_half_configured_channels_name_the_missing_variables(env, missing):
    with pytest.raises(ConfigError, match="half configured") as error:
        Settings.from_env(env)
    named = str(error.value).split(": set ", 1)[1].split(" (or clear", 1)[0]
    assert named.split(", ") == missing  # exactly the missing ones, none that is set


@pytest.mark.parametrize("prefix, base", [("WECHAT", WECHAT), ("WECOM", WECOM)])
@pytest.mark.parametrize("key", [AES_KEY[:-1], AES_KEY + "x", AES_KEY[:-1] + "+", AES_KEY[:-1] + "=",
                                 "中" * 43])
def test_bad_aes_key(prefix, base, key):
    with pytest.raises(ConfigError, match=f"CS_{prefix}_AES_KEY"):
        Settings.from_env({**base, f"CS_{prefix}_AES_KEY": key})


@pytest.mark.parametrize("agent_id", ["abc", "1000002a", "-1", "1.5", " 12"])
def test_non_numeric_wecom_agent_id(agent_id):
    with pytest.raises(ConfigError, match="CS_WECOM_AGENT_ID"):
        Settings.from_env({**WECOM, "CS_WECOM_AGENT_ID": agent_id})


def test_superscript_agent_id_is_refused():
    with pytest.raises(ConfigError, match="CS_WECOM_AGENT_ID"):
        Settings.from_env({**WECOM, "CS_WECOM_AGENT_ID": "²"})


@pytest.mark.parametrize("seconds", ["0.4", "4.6", "5", "0", "-1"])
def test_passive_seconds_out_of_range(seconds):
    with pytest.raises(ConfigError, match="CS_WECHAT_PASSIVE_SECONDS"):
        Settings.from_env({"CS_WECHAT_PASSIVE_SECONDS": seconds})


def test_passive_seconds_bounds_and_type():
    assert Settings.from_env({"CS_WECHAT_PASSIVE_SECONDS": "0.5"}).wechat_passive_seconds == 0.5
    with pytest.raises(ConfigError, match="CS_WECHAT_PASSIVE_SECONDS"):
        Settings.from_env({"CS_WECHAT_PASSIVE_SECONDS": "fast"})


def test_short_app_channel_secret():
    with pytest.raises(ConfigError, match="CS_APP_CHANNEL_SECRET"):
        Settings.from_env({"CS_APP_CHANNEL_SECRET": "s" * 15})
    assert Settings.from_env({"CS_APP_CHANNEL_SECRET": "s" * 16}).app_channel_secret == "s" * 16
    with pytest.raises(ConfigError, match="CS_APP_CALLBACK_URL"):
        Settings.from_env({"CS_APP_CALLBACK_URL": "ftp://shop.example.com/cb"})


def test_api_base_must_be_http():
    with pytest.raises(ConfigError, match="CS_WECHAT_API_BASE"):
        Settings.from_env({"CS_WECHAT_API_BASE": "api.weixin.qq.com"})
    with pytest.raises(ConfigError, match="CS_WECOM_API_BASE"):
        Settings.from_env({"CS_WECOM_API_BASE": "file:///etc"})
