"""WeChat's *push* side: plays WeChat's servers delivering a user's messages to our callback URL, with
wechatpy (the reference peer) doing the signing and the AES "safe mode" encryption, and checking — also
with wechatpy — every passive reply that comes back. Synchronous (requests); from an async test use
`await asyncio.to_thread(pusher.send_text, "openid", "hi")`.

Modes:

- "plain" (OA plain-text mode): POST ?signature=&timestamp=&nonce=&openid= with the message XML;
- "aes" (OA safe mode): POST ?signature=&timestamp=&nonce=&openid=&encrypt_type=aes&msg_signature= with
  <xml><ToUserName>gh_..</ToUserName><Encrypt>..</Encrypt></xml>;
- "wecom" (WeCom, always encrypted): POST ?msg_signature=&timestamp=&nonce= with
  <xml><ToUserName>corpid</ToUserName><Encrypt>..</Encrypt><AgentID>..</AgentID></xml>.

signature = sha1 of the sorted [token, timestamp, nonce]; msg_signature = the same plus the ciphertext.
Real WeChat also sends `openid` in plain mode, so this does too. URL verification (`verify_url`):
OA GET ?signature=&timestamp=&nonce=&echostr= (echostr plain, in both OA modes; the answer must be the
echostr); WeCom GET ?msg_signature=&timestamp=&nonce=&echostr=<encrypted> (the answer must be the
decrypted echostr, kept in `expected_echo`).

Each `send_*` returns a `Reply`: the HTTP status and body; `empty` for WeChat's "nothing to reply"
("" or "success"); otherwise `message`, the passive reply's fields (decrypted and its msg_signature checked
by wechatpy's WeChatCrypto.decrypt_message in aes/wecom mode). A reply WeChat would not accept raises
AssertionError saying why: not XML, a plain reply in safe mode, a wrong msg_signature, a wrong AppID/CorpID
inside, broken PKCS#7 padding, no MsgType, and (strict=True, the default) ToUserName/FromUserName not the
user / the account, CreateTime not a number.
"""
from __future__ import annotations

import base64
import itertools
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Union
from xml.parsers.expat import ExpatError

import requests
import xmltodict
from wechatpy.crypto import PrpCrypto as OAPrpCrypto
from wechatpy.crypto import WeChatCrypto as OACrypto
from wechatpy.crypto.base import WeChatCipher
from wechatpy.enterprise.crypto import PrpCrypto as WeComPrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.utils import WeChatSigner

MODES = ("plain", "aes", "wecom")
NOTHING = ("", "success")  # WeChat's "no passive reply"
HEADERS = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0", "Accept": "*/*", "Pragma": "no-cache"}

BadSignature = Union[bool, str]  # True: every signature wrong; "signature" / "msg_signature": that one only

_msg_ids = itertools.count(random.randrange(6_000_000_000_000_000_000, 7_000_000_000_000_000_000))
_msg_ids_lock = threading.Lock()


def new_msg_id() -> str:
    """A fresh MsgId (unique in this process; 19 digits like WeChat's 64-bit ids)."""
    with _msg_ids_lock:
        return str(next(_msg_ids))


def new_nonce() -> str:
    return str(secrets.randbelow(9 * 10**9) + 10**9)  # 10 random digits, as WeChat sends


def sign(*parts: Any) -> str:
    """WeChat's signature (wechatpy's signer): sha1 of the sorted, concatenated parts."""
    signer = WeChatSigner()
    signer.add_data(*[str(p) for p in parts])
    return signer.signature


def cdata(text: str) -> str:
    """A CDATA section holding `text` exactly (a "]]>" inside is split across two sections)."""
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _xml(fields: Mapping[str, Any]) -> str:
    """WeChat's push XML: strings in CDATA, numbers bare, one element per line."""
    parts = []
    for name, value in fields.items():
        if value is None:
            continue
        body = str(value) if isinstance(value, int) and not isinstance(value, bool) else cdata(value)
        parts.append(f"<{name}>{body}</{name}>")
    return "<xml>" + "\n".join(parts) + "\n</xml>"


@dataclass
class Reply:
    """What our callback answered to one push."""
    status: int
    body: str
    message: Optional[Dict[str, Any]] = None  # the passive reply's fields (decrypted), None when empty
    xml: Optional[str] = None  # the passive reply's (decrypted) XML
    msg_id: Optional[str] = None  # MsgId of the pushed message (None for events)
    params: Dict[str, str] = field(default_factory=dict)  # query string of the push
    request_body: bytes = b""  # body of the push (replay it with WeChatPusher.send_raw)
    elapsed: float = 0.0  # seconds until the answer (WeChat gives up after 5 s and retries)

    @property
    def empty(self) -> bool:
        return self.body in NOTHING

    @property
    def content(self) -> Optional[str]:
        return self.message.get("Content") if self.message else None

    @property
    def msg_type(self) -> Optional[str]:
        return self.message.get("MsgType") if self.message else None


class WeChatPusher:
    """Pushes user messages to `url` as WeChat does (see the module doc)."""

    def __init__(self, url: str, token: str, mode: str, app_id: Optional[str] = None,
                 encoding_aes_key: Optional[str] = None, corp_id: Optional[str] = None,
                 agent_id: Optional[int] = None, timeout: float = 10, to_user: str = "gh_fake_oa",
                 strict: bool = True) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.url, self.token, self.mode, self.timeout, self.strict = url, token, mode, timeout, strict
        self.app_id, self.corp_id, self.agent_id = app_id, corp_id, agent_id
        self.encoding_aes_key = encoding_aes_key
        self.crypto: Optional[Union[OACrypto, WeComCrypto]] = None
        if mode == "aes":
            if not (app_id and encoding_aes_key):
                raise ValueError("mode 'aes' needs app_id and encoding_aes_key")
            self.crypto = OACrypto(token, encoding_aes_key, app_id)
        elif mode == "wecom":
            if not (corp_id and encoding_aes_key and agent_id is not None):
                raise ValueError("mode 'wecom' needs corp_id, encoding_aes_key and agent_id")
            self.crypto = WeComCrypto(token, encoding_aes_key, corp_id)
        # ToUserName: the OA's original id (gh_...), or the CorpID for WeCom
        self.to_user = corp_id if mode == "wecom" else to_user
        self.expected_echo: Optional[str] = None
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "WeChatPusher":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- message XML (plaintext, as WeChat builds it) -------------------------------------------------
    def _common(self, user_id: str, msg_type: str, create_time: Optional[int]) -> Dict[str, Any]:
        return {"ToUserName": self.to_user, "FromUserName": user_id,
                "CreateTime": int(create_time if create_time is not None else time.time()), "MsgType": msg_type}

    def _agent(self) -> Dict[str, Any]:
        return {"AgentID": int(self.agent_id)} if self.mode == "wecom" else {}

    def text_xml(self, user_id: str, content: str, msg_id: Optional[str] = None,
                 create_time: Optional[int] = None) -> str:
        return _xml({**self._common(user_id, "text", create_time), "Content": content,
                     "MsgId": _number(msg_id or new_msg_id()), **self._agent()})

    def image_xml(self, user_id: str, msg_id: Optional[str] = None, create_time: Optional[int] = None,
                  pic_url: Optional[str] = None, media_id: Optional[str] = None) -> str:
        media_id = media_id or secrets.token_urlsafe(48)
        pic_url = pic_url or f"http://mmbiz.qpic.cn/mmbiz_jpg/{secrets.token_urlsafe(24)}/0"
        return _xml({**self._common(user_id, "image", create_time), "PicUrl": pic_url, "MediaId": media_id,
                     "MsgId": _number(msg_id or new_msg_id()), **self._agent()})

    def event_xml(self, user_id: str, event: str, event_key: Optional[str] = None,
                  create_time: Optional[int] = None) -> str:
        fields = {**self._common(user_id, "event", create_time), "Event": event}
        if event_key is not None or self.mode == "wecom":
            fields["EventKey"] = event_key or ""
        return _xml({**fields, **self._agent()})

    # --- crypto and signing (wechatpy) ---------------------------------------------------------------
    def encrypt(self, xml: str) -> str:
        """The base64 ciphertext of `xml` for this account (wechatpy's PrpCrypto)."""
        if self.crypto is None:
            raise ValueError("plain mode does not encrypt")
        prp = OAPrpCrypto(self.crypto.key) if self.mode == "aes" else WeComPrpCrypto(self.crypto.key)
        receive_id = self.app_id if self.mode == "aes" else self.corp_id
        return prp.encrypt(xml, receive_id).decode("ascii")

    def envelope(self, encrypted: str) -> bytes:
        """The request envelope WeChat posts in safe mode / WeCom."""
        fields: Dict[str, Any] = {"ToUserName": self.to_user, "Encrypt": encrypted}
        if self.mode == "wecom":
            fields["AgentID"] = str(self.agent_id)  # CDATA in the WeCom envelope
        return _xml(fields).encode("utf-8")

    def signed_params(self, encrypted: Optional[str] = None, *, timestamp: Optional[Union[int, str]] = None,
                      nonce: Optional[str] = None, openid: Optional[str] = None,
                      bad_signature: BadSignature = False) -> Dict[str, str]:
        """The query string of a push carrying `encrypted` (None: a plain-mode push)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or new_nonce()
        token = self.token

        def forged(which: str) -> str:
            wrong = bad_signature is True or bad_signature == which
            return token + "-forged" if wrong else token

        params: Dict[str, str] = {}
        if self.mode in ("plain", "aes"):
            params["signature"] = sign(forged("signature"), ts, nonce)
            params["timestamp"], params["nonce"] = ts, nonce
            if openid is not None:
                params["openid"] = openid
            if self.mode == "aes" and encrypted is not None:
                params["encrypt_type"] = "aes"
                params["msg_signature"] = sign(forged("msg_signature"), ts, nonce, encrypted)
        else:
            params["msg_signature"] = sign(forged("msg_signature"), ts, nonce, encrypted or "")
            params["timestamp"], params["nonce"] = ts, nonce
        return params

    # --- requests --------------------------------------------------------------------------------------
    def verify_url(self, echostr: Optional[str] = None, *, timestamp: Optional[Union[int, str]] = None,
                   nonce: Optional[str] = None, bad_signature: BadSignature = False) -> requests.Response:
        """The GET WeChat sends when the callback URL is configured; our answer must equal `expected_echo`."""
        plain = echostr or str(secrets.randbelow(9 * 10**18) + 10**18)
        self.expected_echo = plain
        if self.mode == "wecom":
            encrypted = self.encrypt(plain)
            params = self.signed_params(encrypted, timestamp=timestamp, nonce=nonce, bad_signature=bad_signature)
            params["echostr"] = encrypted
        else:
            params = self.signed_params(None, timestamp=timestamp, nonce=nonce, bad_signature=bad_signature)
            params["echostr"] = plain
        return self.session.get(self.url, params=params, headers={"User-Agent": HEADERS["User-Agent"]},
                                timeout=self.timeout)

    def push_xml(self, xml: str, user_id: str, *, msg_id: Optional[str] = None,
                 timestamp: Optional[Union[int, str]] = None, nonce: Optional[str] = None,
                 bad_signature: BadSignature = False) -> Reply:
        """Push a message given as its plaintext XML (encrypted and signed per the mode)."""
        openid = user_id if self.mode != "wecom" else None
        if self.mode == "plain":
            body = xml.encode("utf-8")
            params = self.signed_params(None, timestamp=timestamp, nonce=nonce, openid=openid,
                                        bad_signature=bad_signature)
        else:
            encrypted = self.encrypt(xml)
            body = self.envelope(encrypted)
            params = self.signed_params(encrypted, timestamp=timestamp, nonce=nonce, openid=openid,
                                        bad_signature=bad_signature)
        started = time.monotonic()
        response = self.send_raw(body, params)
        try:
            text = response.content.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        reply = Reply(status=response.status_code, body=text if text is not None else response.text, msg_id=msg_id,
                      params=params, request_body=body, elapsed=time.monotonic() - started)
        if reply.status == 200 and text is None:
            raise AssertionError(f"the reply is not UTF-8: {response.content[:300]!r}")
        if reply.status == 200 and not reply.empty:
            reply.xml, reply.message = self.check_reply(reply.body, user_id)
        return reply

    def send_text(self, user_id: str, content: str, msg_id: Optional[str] = None,
                  create_time: Optional[int] = None, *, timestamp: Optional[Union[int, str]] = None,
                  nonce: Optional[str] = None, bad_signature: BadSignature = False) -> Reply:
        msg_id = msg_id or new_msg_id()
        return self.push_xml(self.text_xml(user_id, content, msg_id, create_time), user_id, msg_id=msg_id,
                             timestamp=timestamp, nonce=nonce, bad_signature=bad_signature)

    def send_event(self, user_id: str, event: str, event_key: Optional[str] = None, *,
                   create_time: Optional[int] = None, timestamp: Optional[Union[int, str]] = None,
                   nonce: Optional[str] = None, bad_signature: BadSignature = False) -> Reply:
        return self.push_xml(self.event_xml(user_id, event, event_key, create_time), user_id,
                             timestamp=timestamp, nonce=nonce, bad_signature=bad_signature)

    def send_image(self, user_id: str, msg_id: Optional[str] = None, *, create_time: Optional[int] = None,
                   pic_url: Optional[str] = None, media_id: Optional[str] = None,
                   timestamp: Optional[Union[int, str]] = None, nonce: Optional[str] = None,
                   bad_signature: BadSignature = False) -> Reply:
        msg_id = msg_id or new_msg_id()
        return self.push_xml(self.image_xml(user_id, msg_id, create_time, pic_url, media_id), user_id,
                             msg_id=msg_id, timestamp=timestamp, nonce=nonce, bad_signature=bad_signature)

    def send_raw(self, body: bytes, params: Mapping[str, str],
                 headers: Optional[Mapping[str, str]] = None) -> requests.Response:
        """POST exactly `body` with the query `params` (hostile tests, replays)."""
        return self.session.post(self.url, params=dict(params), data=body, headers={**HEADERS, **(headers or {})},
                                 timeout=self.timeout)

    # --- the conformance check of a passive reply -------------------------------------------------------
    def check_reply(self, body: str, user_id: Optional[str] = None) -> tuple:
        """(reply XML, its fields) of a non-empty passive reply, or AssertionError saying why WeChat would
        refuse it."""
        if self.mode == "plain":
            xml = body
        else:
            envelope = _parse(body, "the reply")
            missing = [k for k in ("Encrypt", "MsgSignature", "TimeStamp", "Nonce") if not envelope.get(k)]
            if missing:
                raise AssertionError(f"a reply in {self.mode} mode must be an encrypted envelope; it lacks "
                                     f"{missing}: {body[:300]!r}")
            try:
                xml = self.crypto.decrypt_message(body, envelope["MsgSignature"], envelope["TimeStamp"],
                                                  envelope["Nonce"])
            except Exception as exc:  # wechatpy's verdict, whatever its exception
                raise AssertionError(f"wechatpy rejects the encrypted reply: {type(exc).__name__} {exc}"
                                     f" (envelope {body[:300]!r})") from exc
            self._check_padding(envelope["Encrypt"])
        fields = _parse(xml, "the decrypted reply" if self.mode != "plain" else "the reply")
        if not fields.get("MsgType"):
            raise AssertionError(f"the reply has no MsgType: {xml[:300]!r}")
        if self.strict:
            if user_id is not None and fields.get("ToUserName") != user_id:
                raise AssertionError(f"reply ToUserName {fields.get('ToUserName')!r} is not the user {user_id!r}")
            if fields.get("FromUserName") != self.to_user:
                raise AssertionError(f"reply FromUserName {fields.get('FromUserName')!r} is not the account "
                                     f"{self.to_user!r}")
            if not str(fields.get("CreateTime") or "").isdigit():
                raise AssertionError(f"reply CreateTime {fields.get('CreateTime')!r} is not a number")
        return xml, fields

    def _check_padding(self, encrypted: str) -> None:
        """wechatpy strips padding by the last byte's value alone; insist on well-formed PKCS#7 (1..32)."""
        plain = WeChatCipher(self.crypto.key).decrypt(base64.b64decode(encrypted))
        pad = plain[-1]
        if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
            raise AssertionError(f"the reply's PKCS#7 padding is malformed (last byte {pad})")


def _number(value: Union[int, str]) -> Union[int, str]:
    """A MsgId: bare when numeric (as WeChat sends it), else as given (CDATA)."""
    return int(value) if str(value).isdigit() else str(value)


def _parse(xml: str, what: str) -> Dict[str, Any]:
    try:
        doc = xmltodict.parse(xml)
    except (ExpatError, ValueError) as exc:
        raise AssertionError(f"{what} is not XML ({exc}): {xml[:300]!r}") from exc
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise AssertionError(f"{what} is not an <xml> document: {xml[:300]!r}")
    return dict(root)


__all__ = ("WeChatPusher", "Reply", "new_msg_id", "new_nonce", "sign", "cdata", "MODES")
