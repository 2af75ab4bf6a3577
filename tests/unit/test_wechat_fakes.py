"""The WeChat test fakes checked on their own, over real HTTP, before any channel uses them:

- tests/fakes/wechat_api.py (WeChat's server-side API) driven with `requests` as a client would;
- tests/fakes/wechat_user.py (WeChat's push side) against a small reference receiver built on wechatpy
  (signature checks, decryption, message parsing, encrypted passive replies), so both the requests the
  pusher builds and its checking of replies are exercised in plain, aes and wecom modes.
"""
from __future__ import annotations

import base64
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import xmltodict
from wechatpy.crypto import WeChatCrypto as OACrypto
from wechatpy.crypto.base import WeChatCipher
from wechatpy.enterprise import parser as wecom_parser
from wechatpy.enterprise import replies as wecom_replies
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.parser import parse_message
from wechatpy.replies import create_reply
from wechatpy.utils import check_signature

from tests.fakes.wechat_api import CONTENT_LIMIT, FakeWeChatApi, SentMessage, admin_request
from tests.fakes.wechat_user import Reply, WeChatPusher, cdata, new_msg_id, sign

APP_ID, APP_SECRET = "wx1234567890abcdef", "0123456789abcdef0123456789abcdef"
CORP_ID, CORP_SECRET, AGENT_ID = "ww0123456789abcdef", "corp-secret-0123456789", 1000002
TOKEN = "callbacktoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"


# === the API fake ====================================================================================
@pytest.fixture
def api():
    with FakeWeChatApi(apps={APP_ID: APP_SECRET}, corps={CORP_ID: (CORP_SECRET, [AGENT_ID])}) as fake:
        yield fake


def oa_token(api: FakeWeChatApi, **params: str) -> Dict[str, Any]:
    query = {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET, **params}
    response = requests.get(f"{api.url}/cgi-bin/token", params=query, timeout=5)
    assert response.status_code == 200
    return response.json()


def wecom_token(api: FakeWeChatApi, **params: str) -> Dict[str, Any]:
    query = {"corpid": CORP_ID, "corpsecret": CORP_SECRET, **params}
    response = requests.get(f"{api.url}/cgi-bin/gettoken", params=query, timeout=5)
    assert response.status_code == 200
    return response.json()


def oa_send(api: FakeWeChatApi, token: Optional[str], body: Any = None, *, raw: Optional[bytes] = None,
            timeout: float = 5) -> Dict[str, Any]:
    if raw is None:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    params = {"access_token": token} if token is not None else {}
    response = requests.post(f"{api.url}/cgi-bin/message/custom/send", params=params, data=raw, timeout=timeout)
    assert response.status_code == 200  # WeChat answers 200 even for errors
    return response.json()


def oa_text(content: str, touser: str = OPENID) -> Dict[str, Any]:
    return {"touser": touser, "msgtype": "text", "text": {"content": content}}


def wecom_send(api: FakeWeChatApi, token: str, body: Any) -> Dict[str, Any]:
    response = requests.post(f"{api.url}/cgi-bin/message/send", params={"access_token": token},
                             data=json.dumps(body, ensure_ascii=False).encode("utf-8"), timeout=5)
    assert response.status_code == 200
    return response.json()


def wecom_text(content: str, touser: str = "ZhangSan", agentid: Any = AGENT_ID) -> Dict[str, Any]:
    return {"touser": touser, "msgtype": "text", "agentid": agentid, "text": {"content": content}, "safe": 0}


def test_oa_token_issue_and_errors(api):
    answer = oa_token(api)
    assert set(answer) == {"access_token", "expires_in"} and answer["expires_in"] == 7200
    assert len(answer["access_token"]) > 100
    assert oa_token(api, grant_type="password") == {"errcode": 40002, "errmsg": "invalid grant_type"}
    assert oa_token(api, appid="wx_nobody") == {"errcode": 40013, "errmsg": "invalid appid"}
    assert oa_token(api, secret="wrong") == {"errcode": 40125, "errmsg": "invalid appsecret"}
    assert oa_token(api, appid="")["errcode"] == 41002
    assert oa_token(api, secret="")["errcode"] == 41004
    assert api.token_requests == {APP_ID: 4, "wx_nobody": 1, "": 1}


def test_oa_send_records_accepted_messages_only(api):
    token = oa_token(api)["access_token"]
    assert oa_send(api, token, oa_text("你好 hello")) == {"errcode": 0, "errmsg": "ok"}
    escaped = json.dumps(oa_text("你好")).encode()  # ensure_ascii: \u escapes
    assert oa_send(api, token, raw=escaped) == {"errcode": 0, "errmsg": "ok"}
    assert oa_send(api, None, oa_text("x"))["errcode"] == 41001
    assert oa_send(api, "nonsense", oa_text("x")) == {
        "errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
    assert oa_send(api, token, raw=b"{not json")["errcode"] == 47001
    assert oa_send(api, token, raw="你好".encode("gbk"))["errcode"] == 47001
    assert oa_send(api, token, oa_text("x", touser=""))["errcode"] == 40003
    assert oa_send(api, token, {"msgtype": "text", "text": {"content": "x"}})["errcode"] == 40003
    assert oa_send(api, token, {**oa_text("x"), "msgtype": "telegram"})["errcode"] == 40008
    assert oa_send(api, token, oa_text(""))["errcode"] == 44004
    sent = api.sent
    assert [(m.api, m.touser, m.msgtype, m.content, m.escaped, m.agentid, m.app) for m in sent] == [
        ("oa", OPENID, "text", "你好 hello", False, None, APP_ID),
        ("oa", OPENID, "text", "你好", True, None, APP_ID)]
    assert all(isinstance(m, SentMessage) and abs(m.at - time.time()) < 5 for m in sent)


def test_oa_content_limit_is_2048_utf8_bytes(api):
    token = oa_token(api)["access_token"]
    assert oa_send(api, token, oa_text("好" * 682 + "ab"))["errcode"] == 0  # 2046 + 2 bytes
    assert oa_send(api, token, oa_text("好" * 683)) == {"errcode": 45002, "errmsg": "content size out of limit"}
    assert oa_send(api, token, oa_text("a" * (CONTENT_LIMIT + 1)))["errcode"] == 45002
    assert len(api.sent) == 1


def test_tokens_expire_and_older_tokens_stay_valid(api):
    first = oa_token(api)["access_token"]
    second = oa_token(api)["access_token"]
    assert first != second
    assert oa_send(api, first, oa_text("1"))["errcode"] == 0
    assert oa_send(api, second, oa_text("2"))["errcode"] == 0
    api.expire_tokens()
    assert oa_send(api, first, oa_text("3")) == {"errcode": 42001, "errmsg": "access_token expired"}
    assert oa_send(api, second, oa_text("3"))["errcode"] == 42001
    third = oa_token(api)["access_token"]
    assert oa_send(api, third, oa_text("4"))["errcode"] == 0
    assert [m.content for m in api.sent] == ["1", "2", "4"]


def test_token_ttl_runs_out_by_itself():
    with FakeWeChatApi(apps={APP_ID: APP_SECRET}, token_ttl=0.3) as api:
        answer = oa_token(api)
        assert answer["expires_in"] == 1
        assert oa_send(api, answer["access_token"], oa_text("x"))["errcode"] == 0
        time.sleep(0.4)
        assert oa_send(api, answer["access_token"], oa_text("x"))["errcode"] == 42001


def test_fail_next_answers_system_busy_then_recovers(api):
    token = oa_token(api)["access_token"]
    api.fail_next(2)
    assert oa_send(api, token, oa_text("a")) == {"errcode": -1, "errmsg": "system error"}
    assert oa_send(api, token, oa_text("a"))["errcode"] == -1
    assert oa_send(api, token, oa_text("a"))["errcode"] == 0
    api.fail_next(1, errcode=45009, errmsg="reach max api daily quota limit", path_prefix="/cgi-bin/token")
    assert oa_send(api, token, oa_text("b"))["errcode"] == 0  # another path: not affected
    assert oa_token(api)["errcode"] == 45009
    assert "access_token" in oa_token(api)
    assert [m.content for m in api.sent] == ["a", "b"]


def test_drop_next_closes_the_connection(api):
    token = oa_token(api)["access_token"]
    api.drop_next(1)
    with pytest.raises(requests.ConnectionError):
        oa_send(api, token, oa_text("lost"))
    assert api.sent == []
    api.drop_next(1, after=True)  # accepted, then the answer is lost
    with pytest.raises(requests.ConnectionError):
        oa_send(api, token, oa_text("delivered"))
    assert [m.content for m in api.sent] == ["delivered"]
    assert oa_send(api, token, oa_text("fine"))["errcode"] == 0


def test_set_delay(api):
    token = oa_token(api)["access_token"]
    api.set_delay(0.5, path_prefix="/cgi-bin/message/")
    started = time.monotonic()
    assert oa_send(api, token, oa_text("slow"))["errcode"] == 0
    assert time.monotonic() - started >= 0.5
    with pytest.raises(requests.Timeout):
        oa_send(api, token, oa_text("too slow"), timeout=0.2)
    api.set_delay(0, path_prefix="/cgi-bin/message/")
    started = time.monotonic()
    oa_token(api)
    assert time.monotonic() - started < 0.4


def test_wait_for_sent(api):
    token = oa_token(api)["access_token"]

    def later() -> None:
        time.sleep(0.3)
        oa_send(api, token, oa_text("one"))
        oa_send(api, token, oa_text("other", touser="oSomeoneElse"))
        oa_send(api, token, oa_text("two"))

    thread = threading.Thread(target=later)
    thread.start()
    got = api.wait_for_sent(OPENID, 2, timeout=5)
    thread.join()
    assert [m.content for m in got] == ["one", "two"]
    with pytest.raises(AssertionError, match=r"expected 3 message\(s\).*got 2.*'other'"):
        api.wait_for_sent(OPENID, 3, timeout=0.3)
    api.clear()
    assert api.sent == [] and api.token_requests == {}
    assert oa_send(api, token, oa_text("after clear"))["errcode"] == 0  # tokens survive clear()


def test_reject_user_oa(api):
    token = oa_token(api)["access_token"]
    api.reject_user(OPENID)
    assert oa_send(api, token, oa_text("x"))["errcode"] == 45015
    api.accept_user(OPENID)
    assert oa_send(api, token, oa_text("x"))["errcode"] == 0


def test_wecom_token_and_send(api):
    answer = wecom_token(api)
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok" and answer["expires_in"] == 7200
    token = answer["access_token"]
    assert wecom_token(api)["access_token"] == token  # same token while valid, as WeCom documents
    assert wecom_token(api, corpid="ww_nobody") == {"errcode": 40013, "errmsg": "invalid corpid"}
    assert wecom_token(api, corpsecret="wrong") == {"errcode": 40001, "errmsg": "invalid secret"}
    assert api.token_requests[CORP_ID] == 3

    answer = wecom_send(api, token, wecom_text("你好"))
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok" and answer["invaliduser"] == ""
    assert answer["msgid"]
    assert wecom_send(api, "nonsense", wecom_text("x")) == {"errcode": 40014, "errmsg": "invalid access_token"}
    assert wecom_send(api, oa_token(api)["access_token"], wecom_text("x"))["errcode"] == 40014
    assert wecom_send(api, token, wecom_text("x", agentid=999))["errcode"] == 40056
    assert wecom_send(api, token, {k: v for k, v in wecom_text("x").items() if k != "agentid"})["errcode"] == 41011
    assert wecom_send(api, token, {**wecom_text("x"), "msgtype": "telegram"})["errcode"] == 40008
    assert wecom_send(api, token, wecom_text(""))["errcode"] == 44004
    assert wecom_send(api, token, wecom_text("x", touser=""))["errcode"] == 81013
    [message] = api.sent
    assert (message.api, message.touser, message.content, message.agentid, message.msgid, message.escaped) == (
        "wecom", "ZhangSan", "你好", AGENT_ID, answer["msgid"], False)

    api.expire_tokens()
    assert wecom_send(api, token, wecom_text("x")) == {"errcode": 42001, "errmsg": "access_token expired"}
    fresh = wecom_token(api)["access_token"]
    assert fresh != token and wecom_send(api, fresh, wecom_text("x"))["errcode"] == 0


def test_wecom_overlong_text_is_truncated_as_documented(api):
    token = wecom_token(api)["access_token"]
    assert wecom_send(api, token, wecom_text("好" * 700))["errcode"] == 0
    [message] = api.sent
    assert message.truncated and message.content == "好" * 682  # cut at 2048 bytes, on a character
    with FakeWeChatApi(corps={CORP_ID: (CORP_SECRET, [AGENT_ID])}, wecom_overlong="reject") as strict:
        token = wecom_token(strict)["access_token"]
        assert wecom_send(strict, token, wecom_text("好" * 700))["errcode"] == 45002


def test_wecom_invalid_users(api):
    token = wecom_token(api)["access_token"]
    api.reject_user("Gone")
    answer = wecom_send(api, token, wecom_text("hi", touser="ZhangSan|Gone"))
    assert answer["errcode"] == 0 and answer["invaliduser"] == "gone"
    assert wecom_send(api, token, wecom_text("hi", touser="Gone")) == {
        "errcode": 81013, "errmsg": "user & party & tag all invalid", "invaliduser": "gone"}
    assert [m.touser for m in api.sent] == ["ZhangSan"]


def test_admin_routes_over_http(api):
    token = oa_token(api)["access_token"]
    admin_request(api.url, "POST", "/_fake/fail_next", {"count": 1, "errcode": -1, "errmsg": "system busy"})
    assert oa_send(api, token, oa_text("x")) == {"errcode": -1, "errmsg": "system busy"}
    assert oa_send(api, token, oa_text("x"))["errcode"] == 0
    assert admin_request(api.url, "GET", "/_fake/sent")[0]["content"] == "x"
    assert admin_request(api.url, "GET", "/_fake/token_requests") == {APP_ID: 1}
    admin_request(api.url, "POST", "/_fake/expire_tokens")
    assert oa_send(api, token, oa_text("x"))["errcode"] == 42001
    admin_request(api.url, "POST", "/_fake/clear")
    assert api.sent == []


def test_errmsg_hints_like_the_real_services():
    with FakeWeChatApi(apps={APP_ID: APP_SECRET}, errmsg_hints=True) as api:
        answer = oa_send(api, "nonsense", oa_text("x"))
        assert answer["errcode"] == 40001
        assert answer["errmsg"].startswith("invalid credential, access_token is invalid or not latest rid: ")


# === the pusher against a wechatpy reference receiver ================================================
class Receiver:
    """Our callback as the wechatpy documentation writes it: checks signatures, decrypts, parses, and
    answers per `reply_with`."""

    def __init__(self, mode: str, app_id: str = APP_ID, corp_id: str = CORP_ID) -> None:
        self.mode = mode
        self.crypto = None
        if mode == "aes":
            self.crypto = OACrypto(TOKEN, AES_KEY, app_id)
        elif mode == "wecom":
            self.crypto = WeComCrypto(TOKEN, AES_KEY, corp_id)
        self.reply_with = "echo"
        self.received: List[Dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                receiver.handle(self, "GET")

            def do_POST(self) -> None:
                receiver.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wechat"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        params = dict(parse_qsl(urlsplit(request.path).query, keep_blank_values=True))
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        try:
            status, answer = (self.verify(params) if method == "GET" else self.receive(params, body, request))
        except InvalidSignatureException:
            status, answer = 403, "invalid signature"
        data = answer.encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", "application/xml; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def verify(self, params: Dict[str, str]):
        if self.mode == "wecom":
            return 200, self.crypto.check_signature(params["msg_signature"], params["timestamp"], params["nonce"],
                                                    params["echostr"])
        check_signature(TOKEN, params["signature"], params["timestamp"], params["nonce"])
        return 200, params["echostr"]

    def receive(self, params: Dict[str, str], body: bytes, request: BaseHTTPRequestHandler):
        if self.mode in ("plain", "aes"):
            check_signature(TOKEN, params["signature"], params["timestamp"], params["nonce"])
        if self.mode == "plain":
            xml = body.decode("utf-8")
        else:
            xml = self.crypto.decrypt_message(body, params["msg_signature"], params["timestamp"], params["nonce"])
        message = (wecom_parser.parse_message(xml) if self.mode == "wecom" else parse_message(xml))
        self.received.append({"params": params, "body": body, "xml": xml, "message": message,
                              "headers": dict(request.headers)})
        return 200, self.answer(message)

    def answer(self, message: Any) -> str:
        how = self.reply_with
        if how in ("success", ""):
            return how
        if how == "garbage":
            return "thanks!"
        if message.type == "text":  # "]]>" dropped: wechatpy's replies would break on it (echo_raw keeps it)
            text = "echo: " + (message.content if how == "echo_raw" else message.content.replace("]]>", ""))
        elif message.type == "image":
            text = "image: " + message.media_id
        else:
            text = "event: " + message.event
        make = wecom_replies.create_reply if self.mode == "wecom" else create_reply
        reply = make(text, message)
        if how == "wrong_user":
            reply.target = "oSomebodyElse"
        xml = reply.render()
        if self.mode == "plain" or how == "plain":
            return xml
        nonce, timestamp = "1234567890", str(int(time.time()))
        if how == "wrong_token":
            return type(self.crypto)("other-token", AES_KEY, self.crypto._id).encrypt_message(xml, nonce, timestamp)
        if how == "wrong_id":
            return type(self.crypto)(TOKEN, AES_KEY, "wx_or_ww_other").encrypt_message(xml, nonce, timestamp)
        if how == "bad_padding":
            return self.badly_padded(xml, nonce, timestamp)
        return self.crypto.encrypt_message(xml, nonce, timestamp)

    def badly_padded(self, xml: str, nonce: str, timestamp: str) -> str:
        """Right length byte, wrong padding bytes: wechatpy's decryption does not notice."""
        raw = xml.encode()
        text = b"0123456789abcdef" + struct.pack(">I", len(raw)) + raw + self.crypto._id.encode()
        pad = 32 - len(text) % 32
        text += bytes(pad - 1) + bytes([pad])
        encrypted = base64.b64encode(WeChatCipher(self.crypto.key).encrypt(text)).decode()
        signature = sign(TOKEN, timestamp, nonce, encrypted)
        return (f"<xml><Encrypt>{cdata(encrypted)}</Encrypt><MsgSignature>{cdata(signature)}</MsgSignature>"
                f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{cdata(nonce)}</Nonce></xml>")


MODES = ["plain", "aes", "wecom"]


@pytest.fixture(params=MODES)
def peer(request):
    mode = request.param
    receiver = Receiver(mode)
    options = {"aes": {"app_id": APP_ID, "encoding_aes_key": AES_KEY},
               "wecom": {"corp_id": CORP_ID, "encoding_aes_key": AES_KEY, "agent_id": AGENT_ID}}.get(mode, {})
    pusher = WeChatPusher(receiver.url, TOKEN, mode, **options)
    try:
        yield receiver, pusher
    finally:
        pusher.close()
        receiver.close()


def user_for(pusher: WeChatPusher) -> str:
    return "ZhangSan" if pusher.mode == "wecom" else OPENID


def test_verify_url(peer):
    receiver, pusher = peer
    response = pusher.verify_url()
    assert response.status_code == 200 and response.text == pusher.expected_echo
    response = pusher.verify_url("5838479218127813673")
    assert response.text == "5838479218127813673" == pusher.expected_echo
    assert pusher.verify_url(bad_signature=True).status_code == 403


def test_text_round_trip(peer):
    receiver, pusher = peer
    user = user_for(pusher)
    msg_id = new_msg_id()
    reply = pusher.send_text(user, "你好 <b>&amp; ]]> end", msg_id=msg_id, create_time=1348831860)
    assert isinstance(reply, Reply) and reply.status == 200 and not reply.empty
    [got] = receiver.received
    message = got["message"]
    assert (message.type, message.source, message.content, str(message.id)) == (
        "text", user, "你好 <b>&amp; ]]> end", msg_id)
    assert message.target == (CORP_ID if pusher.mode == "wecom" else "gh_fake_oa")
    assert int(message.create_time.timestamp()) == 1348831860
    if pusher.mode == "wecom":
        assert message.agent == AGENT_ID
    fields = xmltodict.parse(got["xml"])["xml"]
    assert list(fields)[:6] == ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId"]
    assert "<CreateTime>1348831860</CreateTime>" in got["xml"] and f"<MsgId>{msg_id}</MsgId>" in got["xml"]
    # the passive reply, decrypted and checked
    assert reply.msg_type == "text" and reply.content == "echo: 你好 <b>&amp;  end"  # the receiver drops "]]>"
    assert reply.message["ToUserName"] == user and reply.message["FromUserName"] == message.target
    assert reply.msg_id == msg_id


def test_reply_content_round_trips(peer):
    receiver, pusher = peer
    reply = pusher.send_text(user_for(pusher), "订单 12345 到哪了？")
    assert reply.content == "echo: 订单 12345 到哪了？"
    assert reply.message["CreateTime"].isdigit()


def test_request_shape(peer):
    receiver, pusher = peer
    user = user_for(pusher)
    pusher.send_text(user, "hi", timestamp=1_000_000_000, nonce="1320562132")
    [got] = receiver.received
    params, body = got["params"], got["body"].decode()
    assert params["timestamp"] == "1000000000" and params["nonce"] == "1320562132"  # stale, passed through
    assert got["headers"]["Content-Type"] == "text/xml"
    if pusher.mode == "plain":
        assert set(params) == {"signature", "timestamp", "nonce", "openid"} and params["openid"] == user
        assert params["signature"] == sign(TOKEN, "1000000000", "1320562132")
        assert body.startswith("<xml><ToUserName><![CDATA[gh_fake_oa]]></ToUserName>")
    elif pusher.mode == "aes":
        assert set(params) == {"signature", "timestamp", "nonce", "openid", "encrypt_type", "msg_signature"}
        assert params["encrypt_type"] == "aes" and params["openid"] == user
        envelope = xmltodict.parse(body)["xml"]
        assert list(envelope) == ["ToUserName", "Encrypt"] and envelope["ToUserName"] == "gh_fake_oa"
        assert params["msg_signature"] == sign(TOKEN, "1000000000", "1320562132", envelope["Encrypt"])
    else:
        assert set(params) == {"msg_signature", "timestamp", "nonce"}
        envelope = xmltodict.parse(body)["xml"]
        assert list(envelope) == ["ToUserName", "Encrypt", "AgentID"]
        assert envelope["ToUserName"] == CORP_ID and envelope["AgentID"] == str(AGENT_ID)
        assert "<AgentID><![CDATA[1000002]]></AgentID>" in body


def test_events_and_images(peer):
    receiver, pusher = peer
    user = user_for(pusher)
    event = "enter_agent" if pusher.mode == "wecom" else "subscribe"
    reply = pusher.send_event(user, event)
    assert reply.content == f"event: {event}"
    reply = pusher.send_event(user, "click", event_key="MENU_ORDERS")
    assert reply.content == "event: click"
    reply = pusher.send_image(user, media_id="media-123")
    assert reply.content == "image: media-123"
    events = [r["message"] for r in receiver.received]
    assert events[1].key == "MENU_ORDERS"
    assert "<MsgId>" not in receiver.received[0]["xml"]
    image = xmltodict.parse(receiver.received[2]["xml"])["xml"]
    assert image["MsgType"] == "image" and image["PicUrl"].startswith("http") and image["MsgId"].isdigit()


def test_nothing_to_reply(peer):
    receiver, pusher = peer
    for answer in ("success", ""):
        receiver.reply_with = answer
        reply = pusher.send_text(user_for(pusher), "hi")
        assert reply.status == 200 and reply.empty and reply.message is None and reply.content is None


def test_forged_signatures_are_refused_by_the_reference(peer):
    receiver, pusher = peer
    assert pusher.send_text(user_for(pusher), "hi", bad_signature=True).status == 403
    if pusher.mode == "aes":  # either signature alone
        assert pusher.send_text(OPENID, "hi", bad_signature="signature").status == 403
        assert pusher.send_text(OPENID, "hi", bad_signature="msg_signature").status == 403
    assert receiver.received == []


def test_send_raw_replays_a_push(peer):
    receiver, pusher = peer
    first = pusher.send_text(user_for(pusher), "again")
    response = pusher.send_raw(first.request_body, first.params)
    assert response.status_code == 200
    assert [r["message"].id for r in receiver.received] == [int(first.msg_id)] * 2


@pytest.mark.parametrize("how, reason", [
    ("garbage", "not XML"),
    ("wrong_user", "ToUserName"),
])
def test_replies_wechat_would_refuse(peer, how, reason):
    receiver, pusher = peer
    receiver.reply_with = how
    with pytest.raises(AssertionError, match=reason):
        pusher.send_text(user_for(pusher), "hi")


@pytest.mark.parametrize("how, reason", [
    ("plain", "must be an encrypted envelope"),
    ("wrong_token", "InvalidSignatureException"),
    ("wrong_id", "Invalid(AppId|CorpId)Exception"),
    ("bad_padding", "padding is malformed"),
])
@pytest.mark.parametrize("mode", ["aes", "wecom"])
def test_encrypted_replies_wechat_would_refuse(mode, how, reason):
    receiver = Receiver(mode)
    receiver.reply_with = how
    options = ({"app_id": APP_ID} if mode == "aes" else {"corp_id": CORP_ID, "agent_id": AGENT_ID})
    try:
        with WeChatPusher(receiver.url, TOKEN, mode, encoding_aes_key=AES_KEY, **options) as pusher:
            with pytest.raises(AssertionError, match=reason):
                pusher.send_text(user_for(pusher), "hi")
    finally:
        receiver.close()


def test_wechatpy_replies_do_not_escape_cdata_end():
    """A wechatpy deviation the pusher catches: its replies put "]]>" in CDATA unsplit (broken XML)."""
    receiver = Receiver("plain")
    receiver.reply_with = "echo_raw"
    try:
        with WeChatPusher(receiver.url, TOKEN, "plain") as pusher:
            with pytest.raises(AssertionError, match="not XML"):
                pusher.send_text(OPENID, "a ]]> b")
    finally:
        receiver.close()


def test_unreachable_callback_raises():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with WeChatPusher(f"http://127.0.0.1:{port}/wechat", TOKEN, "plain", timeout=1) as pusher:
        with pytest.raises(requests.ConnectionError):
            pusher.send_text(OPENID, "hi")


def test_pusher_needs_its_keys():
    with pytest.raises(ValueError):
        WeChatPusher("http://x", TOKEN, "aes", app_id=APP_ID)
    with pytest.raises(ValueError):
        WeChatPusher("http://x", TOKEN, "wecom", corp_id=CORP_ID, encoding_aes_key=AES_KEY)
    with pytest.raises(ValueError):
        WeChatPusher("http://x", TOKEN, "safe")
