"""A faithful local fake of WeChat's server-side HTTP API: the Official Account (OA, api.weixin.qq.com)
and WeCom (qyapi.weixin.qq.com) token and message-sending endpoints, with fault injection.

    OA     GET  /cgi-bin/token?grant_type=client_credential&appid=A&secret=S
                -> {"access_token": "...", "expires_in": 7200}
           POST /cgi-bin/message/custom/send?access_token=T
                {"touser": openid, "msgtype": "text", "text": {"content": "..."}} -> {"errcode": 0, "errmsg": "ok"}
    WeCom  GET  /cgi-bin/gettoken?corpid=C&corpsecret=S
                -> {"errcode": 0, "errmsg": "ok", "access_token": "...", "expires_in": 7200}
           POST /cgi-bin/message/send?access_token=T
                {"touser": "UserID", "msgtype": "text", "agentid": 1000002, "text": {"content": "..."}, "safe": 0}
                -> {"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "..."}

As WeChat does, every answer is HTTP 200 with `errcode`/`errmsg` in a JSON body, errors included:

- token (OA): grant_type other than client_credential 40002 "invalid grant_type"; no appid 41002 "appid
  missing"; unknown appid 40013 "invalid appid"; no secret 41004 "appsecret missing"; wrong secret 40125
  "invalid appsecret". A new token does not invalidate the older ones: each stays valid until it expires.
- gettoken (WeCom): no corpid 41002 "corpid missing"; unknown corpid 40013 "invalid corpid"; no secret
  41004 "corpsecret missing"; wrong secret 40001 "invalid secret". As WeCom documents, a token asked for
  again while still valid is the same token (its lifetime is renewed); once expired, a new one is issued.
- sending, both APIs: no access_token 41001 "access_token missing"; an expired token 42001 "access_token
  expired"; an unknown token (or one of the other API) OA 40001 "invalid credential, access_token is
  invalid or not latest", WeCom 40014 "invalid access_token"; GET instead of POST 43002 "require POST
  method"; a body that is not a UTF-8 JSON object 47001 "data format error" (the raw body containing
  "\\u" escapes is recorded as `escaped`: WeChat wants non-ASCII sent as UTF-8); unsupported msgtype 40008
  "invalid message type"; empty text content 44004 "empty content".
- OA: empty/missing touser 40003 "invalid openid"; text content over 2048 bytes (UTF-8) 45002 "content
  size out of limit"; a user marked with `reject_user` gets its errcode (default 45015, the 48-hour
  customer-service window / unsubscribed).
- WeCom: missing agentid 41011 "missing agentid"; an agentid not of the token's corp 40056 "invalid
  agentid"; text content over 2048 bytes is truncated to 2048 bytes, as the WeCom docs say ("超过将截断";
  record field `truncated`) — `FakeWeChatApi(wecom_overlong="reject")` answers 45002 instead; recipients
  (touser "a|b", "@all") marked with `reject_user` are listed in "invaliduser", and when no recipient is
  left: 81013 "user & party & tag all invalid"; an empty touser likewise 81013.

Only accepted messages (errcode 0) are recorded in `sent`. `errmsg_hints=True` appends what the real
services append to error messages (OA " rid: ...", WeCom ", hint: [...] ... more info at ..."), to check
that nobody matches on errmsg.

Controls, thread-safe Python methods (and the same over HTTP, for a fake in another process):

    expire_tokens()                                 POST /_fake/expire_tokens
    fail_next(count, errcode=-1, errmsg="system error", path_prefix=None)
                                                    POST /_fake/fail_next {"count", "errcode", "errmsg", "path_prefix"}
    set_delay(seconds, path_prefix=None)            POST /_fake/delay {"seconds", "path_prefix"}
    drop_next(count, path_prefix=None, after=False) POST /_fake/drop_next {"count", "path_prefix", "after"}
    reject_user(touser, errcode=45015, errmsg=...)  POST /_fake/reject_user {"touser", "errcode", "errmsg"}
    sent / token_requests                           GET  /_fake/sent, GET /_fake/token_requests
    clear()                                         POST /_fake/clear

`path_prefix` None means every API path (/cgi-bin/). `drop_next(after=True)` lets the message be accepted
(and recorded) and then loses the answer. `wait_for_sent(touser, count)` blocks (call it from a thread,
e.g. `await asyncio.to_thread(api.wait_for_sent, "openid", 1)` in an async test).

    with FakeWeChatApi(apps={"wx_app": "secret"}, corps={"ww_corp": ("corp_secret", [1000002])}) as api:
        api.url  # http://127.0.0.1:PORT — stands for both https://api.weixin.qq.com and https://qyapi.weixin.qq.com
"""
from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from aiohttp import web

from tests.fakes.server import ThreadedServer, admin_request

API_PREFIX = "/cgi-bin/"
CONTENT_LIMIT = 2048  # bytes of UTF-8, text messages of both APIs

OA_TOKEN = "/cgi-bin/token"
OA_SEND = "/cgi-bin/message/custom/send"
WECOM_TOKEN = "/cgi-bin/gettoken"
WECOM_SEND = "/cgi-bin/message/send"

OA_MSGTYPES = frozenset({"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle",
                         "msgmenu", "wxcard", "miniprogrampage"})
WECOM_MSGTYPES = frozenset({"text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown",
                            "miniprogram_notice", "template_card"})

ERR_SYSTEM = (-1, "system error")
ERR_OA_BAD_TOKEN = (40001, "invalid credential, access_token is invalid or not latest")
ERR_WECOM_BAD_TOKEN = (40014, "invalid access_token")
ERR_TOKEN_MISSING = (41001, "access_token missing")
ERR_EXPIRED = (42001, "access_token expired")
ERR_POST = (43002, "require POST method")
ERR_FORMAT = (47001, "data format error")
ERR_MSGTYPE = (40008, "invalid message type")
ERR_EMPTY = (44004, "empty content")
ERR_SIZE = (45002, "content size out of limit")
ERR_OPENID = (40003, "invalid openid")
ERR_NO_AGENT = (41011, "missing agentid")
ERR_AGENT = (40056, "invalid agentid")
ERR_ALL_INVALID = (81013, "user & party & tag all invalid")
ERR_WINDOW = (45015, "response out of time limit or subscription is canceled")


@dataclass
class SentMessage:
    """One message the fake accepted (errcode 0)."""
    api: str  # "oa" | "wecom"
    touser: str
    msgtype: str
    content: Optional[str]  # text.content for text messages (after truncation, WeCom), else None
    agentid: Optional[int]  # WeCom only
    at: float  # time.time() of acceptance
    escaped: bool  # the raw body contained "\u" escapes
    app: str = ""  # the appid / corpid the access token belongs to
    msgid: Optional[str] = None  # WeCom's msgid of the answer
    truncated: bool = False  # WeCom cut the content to 2048 bytes
    body: Dict[str, Any] = field(default_factory=dict)  # the whole JSON request


@dataclass
class _Token:
    api: str
    owner: str
    expires_at: float
    expired: bool = False

    def is_expired(self, now: float) -> bool:
        return self.expired or now >= self.expires_at


@dataclass
class _Rule:
    count: int
    path_prefix: str
    errcode: int = -1
    errmsg: str = "system error"
    after: bool = False

    def matches(self, path: str) -> bool:
        return self.count > 0 and path.startswith(self.path_prefix)


class FakeWeChatApi(ThreadedServer):
    """The fake served in-process on 127.0.0.1 (a free port), from a thread with its own event loop."""
    thread_name, what = "fake-wechat-api", "the fake WeChat API"

    def __init__(self, apps: Optional[Mapping[str, str]] = None,
                 corps: Optional[Mapping[str, Tuple[str, Iterable[int]]]] = None, token_ttl: float = 7200,
                 host: str = "127.0.0.1", port: int = 0, wecom_overlong: str = "truncate",
                 errmsg_hints: bool = False) -> None:
        if wecom_overlong not in ("truncate", "reject"):
            raise ValueError("wecom_overlong must be 'truncate' or 'reject'")
        self.apps: Dict[str, str] = dict(apps or {})
        self.corps: Dict[str, Tuple[str, frozenset]] = {
            corp: (secret, frozenset(int(a) for a in agents)) for corp, (secret, agents) in (corps or {}).items()}
        self.token_ttl = float(token_ttl)
        self.wecom_overlong = wecom_overlong
        self.errmsg_hints = errmsg_hints
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._tokens: Dict[str, _Token] = {}
        self._wecom_current: Dict[str, str] = {}
        self._sent: List[SentMessage] = []
        self._token_requests: Counter = Counter()
        self._fails: List[_Rule] = []
        self._drops: List[_Rule] = []
        self._delays: Dict[str, float] = {}
        self._rejected: Dict[str, Tuple[int, str]] = {}
        self._msgids = itertools.count(1)
        self._init_server(self._build_app(), host, port)

    # --- controls (any thread) -------------------------------------------------------------------
    def expire_tokens(self) -> None:
        """Every token issued so far answers 42001 from now on."""
        with self._lock:
            for token in self._tokens.values():
                token.expired = True

    def fail_next(self, count: int, errcode: int = -1, errmsg: str = "system error",
                  path_prefix: Optional[str] = None) -> None:
        """The next `count` matching requests answer {"errcode": errcode, "errmsg": errmsg} (HTTP 200)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            if count:
                self._fails.append(_Rule(count, path_prefix or API_PREFIX, errcode, errmsg))

    def set_delay(self, seconds: float, path_prefix: Optional[str] = None) -> None:
        """Matching requests wait `seconds` before being handled (0: no more delay for that prefix)."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        with self._lock:
            if seconds:
                self._delays[path_prefix or API_PREFIX] = float(seconds)
            else:
                self._delays.pop(path_prefix or API_PREFIX, None)

    def drop_next(self, count: int, path_prefix: Optional[str] = None, after: bool = False) -> None:
        """The next `count` matching requests get their connection closed without an answer; `after`:
        only once the request was handled (a message is then accepted and recorded, its answer lost)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        with self._lock:
            if count:
                self._drops.append(_Rule(count, path_prefix or API_PREFIX, after=after))

    def reject_user(self, touser: str, errcode: int = ERR_WINDOW[0], errmsg: str = ERR_WINDOW[1]) -> None:
        """Messages to `touser` are refused: OA answers errcode/errmsg; WeCom lists the user in
        "invaliduser" (81013 when no recipient is left)."""
        with self._lock:
            self._rejected[touser] = (int(errcode), str(errmsg))

    def accept_user(self, touser: str) -> None:
        with self._lock:
            self._rejected.pop(touser, None)

    @property
    def sent(self) -> List[SentMessage]:
        with self._lock:
            return list(self._sent)

    @property
    def token_requests(self) -> Dict[str, int]:
        """Requests to the token endpoints per appid / corpid, whatever their outcome."""
        with self._lock:
            return dict(self._token_requests)

    def sent_to(self, touser: str) -> List[SentMessage]:
        with self._lock:
            return [m for m in self._sent if m.touser == touser]

    def wait_for_sent(self, touser: str, count: int = 1, timeout: float = 10.0) -> List[SentMessage]:
        """Blocks until at least `count` messages to `touser` were accepted; returns them all (in order)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                mine = [m for m in self._sent if m.touser == touser]
                if len(mine) >= count:
                    return mine
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m.api, m.touser, m.msgtype, m.content) for m in self._sent]
                    raise AssertionError(f"expected {count} message(s) to {touser!r} within {timeout} s, got "
                                         f"{len(mine)}; all accepted messages: {seen}")
                self._cond.wait(left)

    def clear(self) -> None:
        """Forget the records (sent, token_requests) and every fault, delay and rejection; issued tokens
        stay valid."""
        with self._lock:
            self._sent.clear()
            self._token_requests.clear()
            self._fails.clear()
            self._drops.clear()
            self._delays.clear()
            self._rejected.clear()

    def issue_token(self, api: str, owner: str) -> str:
        """A valid token for an app ("oa") or corp ("wecom"), without an HTTP round trip."""
        with self._lock:
            return self._new_token(api, owner)

    # --- the server ------------------------------------------------------------------------------
    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get(OA_TOKEN, self._oa_token)
        app.router.add_route("*", OA_SEND, self._oa_send)
        app.router.add_get(WECOM_TOKEN, self._wecom_token)
        app.router.add_route("*", WECOM_SEND, self._wecom_send)
        app.router.add_route("*", "/_fake/{action}", self._admin)
        return app

    def _answer(self, errcode: int, errmsg: str, **extra: Any) -> web.Response:
        return _json({"errcode": errcode, "errmsg": errmsg, **extra})

    def _error(self, api: str, error: Tuple[int, str], **extra: Any) -> web.Response:
        code, msg = error
        if self.errmsg_hints:
            if api == "oa":
                msg = f"{msg} rid: {uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:8]}"
            else:
                msg = (f"{msg}, hint: [{int(time.time())}_{secrets.randbelow(10**6)}_{secrets.token_hex(16)}], "
                       f"from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e={code}")
        return self._answer(code, msg, **extra)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        path = request.path
        if not path.startswith(API_PREFIX):
            return await handler(request)
        with self._lock:
            if path == OA_TOKEN:
                self._token_requests[request.query.get("appid", "")] += 1
            elif path == WECOM_TOKEN:
                self._token_requests[request.query.get("corpid", "")] += 1
            delay = max((s for p, s in self._delays.items() if path.startswith(p)), default=0.0)
            drop = _take(self._drops, path)
            fail = _take(self._fails, path) if drop is None else None
        if delay:
            await asyncio.sleep(delay)
        if drop is not None and drop.after:
            await handler(request)
        if drop is not None:
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=200)
        if fail is not None:
            return self._answer(fail.errcode, fail.errmsg)
        return await handler(request)

    # --- OA ----------------------------------------------------------------------------------------
    async def _oa_token(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("grant_type") != "client_credential":
            return self._error("oa", (40002, "invalid grant_type"))
        appid, secret = q.get("appid", ""), q.get("secret", "")
        if not appid:
            return self._error("oa", (41002, "appid missing"))
        if appid not in self.apps:
            return self._error("oa", (40013, "invalid appid"))
        if not secret:
            return self._error("oa", (41004, "appsecret missing"))
        if secret != self.apps[appid]:
            return self._error("oa", (40125, "invalid appsecret"))
        with self._lock:
            token = self._new_token("oa", appid)
        return _json({"access_token": token, "expires_in": self._expires_in()})

    async def _oa_send(self, request: web.Request) -> web.Response:
        checked = await self._check_send(request, "oa")
        if isinstance(checked, web.Response):
            return checked
        owner, data, escaped = checked
        touser = data.get("touser")
        if not isinstance(touser, str) or not touser:
            return self._error("oa", ERR_OPENID)
        msgtype = data.get("msgtype")
        if msgtype not in OA_MSGTYPES:
            return self._error("oa", ERR_MSGTYPE)
        content = None
        if msgtype == "text":
            content = _text_content(data)
            if not content:
                return self._error("oa", ERR_EMPTY)
            if len(content.encode("utf-8")) > CONTENT_LIMIT:
                return self._error("oa", ERR_SIZE)
        elif not isinstance(data.get(msgtype), dict):
            return self._error("oa", ERR_FORMAT)
        with self._cond:
            rejected = self._rejected.get(touser)
            if rejected is not None:
                return self._error("oa", rejected)
            self._record(SentMessage("oa", touser, msgtype, content, None, time.time(), escaped, owner,
                                     body=data))
        return self._answer(0, "ok")

    # --- WeCom -------------------------------------------------------------------------------------
    async def _wecom_token(self, request: web.Request) -> web.Response:
        q = request.query
        corpid, secret = q.get("corpid", ""), q.get("corpsecret", "")
        if not corpid:
            return self._error("wecom", (41002, "corpid missing"))
        if corpid not in self.corps:
            return self._error("wecom", (40013, "invalid corpid"))
        if not secret:
            return self._error("wecom", (41004, "corpsecret missing"))
        if secret != self.corps[corpid][0]:
            return self._error("wecom", (40001, "invalid secret"))
        now = time.time()
        with self._lock:
            current = self._wecom_current.get(corpid)
            entry = self._tokens.get(current) if current else None
            if entry is not None and not entry.is_expired(now):
                entry.expires_at = now + self.token_ttl  # same token, lifetime renewed
                token = current
            else:
                token = self._new_token("wecom", corpid)
                self._wecom_current[corpid] = token
        return _json({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self._expires_in()})

    async def _wecom_send(self, request: web.Request) -> web.Response:
        checked = await self._check_send(request, "wecom")
        if isinstance(checked, web.Response):
            return checked
        owner, data, escaped = checked
        msgtype = data.get("msgtype")
        if msgtype not in WECOM_MSGTYPES:
            return self._error("wecom", ERR_MSGTYPE)
        if "agentid" not in data or data["agentid"] in (None, ""):
            return self._error("wecom", ERR_NO_AGENT)
        agentid = _as_int(data["agentid"])
        if agentid is None or agentid not in self.corps[owner][1]:
            return self._error("wecom", ERR_AGENT)
        content, truncated = None, False
        if msgtype == "text":
            content = _text_content(data)
            if not content:
                return self._error("wecom", ERR_EMPTY)
            raw = content.encode("utf-8")
            if len(raw) > CONTENT_LIMIT:
                if self.wecom_overlong == "reject":
                    return self._error("wecom", ERR_SIZE)
                content, truncated = raw[:CONTENT_LIMIT].decode("utf-8", "ignore"), True
        elif not isinstance(data.get(msgtype), dict):
            return self._error("wecom", ERR_FORMAT)
        touser = data.get("touser")
        recipients = [u for u in touser.split("|") if u] if isinstance(touser, str) else []
        with self._cond:
            invalid = [u for u in recipients if u in self._rejected]
            valid = [u for u in recipients if u not in self._rejected]
            if not valid:
                return self._error("wecom", ERR_ALL_INVALID, invaliduser="|".join(invalid).lower())
            msgid = secrets.token_urlsafe(48)
            now = time.time()
            for user in valid:
                self._record(SentMessage("wecom", user, msgtype, content, agentid, now, escaped, owner, msgid,
                                         truncated, data))
        return self._answer(0, "ok", invaliduser="|".join(invalid).lower(), msgid=msgid)

    # --- shared ------------------------------------------------------------------------------------
    async def _check_send(self, request: web.Request, api: str):
        """(token owner, JSON object, escaped) or the error answer."""
        token = request.query.get("access_token", "")
        if not token:
            return self._error(api, ERR_TOKEN_MISSING)
        with self._lock:
            entry = self._tokens.get(token)
            if entry is None or entry.api != api:
                return self._error(api, ERR_OA_BAD_TOKEN if api == "oa" else ERR_WECOM_BAD_TOKEN)
            if entry.is_expired(time.time()):
                return self._error(api, ERR_EXPIRED)
        if request.method != "POST":
            return self._error(api, ERR_POST)
        raw = await request.read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._error(api, ERR_FORMAT)
        if not isinstance(data, dict):
            return self._error(api, ERR_FORMAT)
        return entry.owner, data, b"\\u" in raw

    def _new_token(self, api: str, owner: str) -> str:  # with the lock held
        prefix = f"{secrets.randbelow(90) + 10}_" if api == "oa" else ""
        token = prefix + secrets.token_urlsafe(96)
        self._tokens[token] = _Token(api, owner, time.time() + self.token_ttl)
        return token

    def _expires_in(self) -> int:
        return max(1, round(self.token_ttl))

    def _record(self, message: SentMessage) -> None:  # with the lock (condition) held
        self._sent.append(message)
        self._cond.notify_all()

    # --- admin routes ------------------------------------------------------------------------------
    async def _admin(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        body = body or {}
        try:
            if request.method == "GET" and action == "sent":
                return web.json_response([asdict(m) for m in self.sent])
            if request.method == "GET" and action == "token_requests":
                return web.json_response(self.token_requests)
            if request.method != "POST":
                return web.json_response({"error": f"unknown admin route {request.method} {request.path}"},
                                         status=404)
            if action == "expire_tokens":
                self.expire_tokens()
            elif action == "fail_next":
                self.fail_next(**body)
            elif action == "delay":
                self.set_delay(**body)
            elif action == "drop_next":
                self.drop_next(**body)
            elif action == "reject_user":
                self.reject_user(**body)
            elif action == "clear":
                self.clear()
            else:
                return web.json_response({"error": f"unknown admin route {request.path}"}, status=404)
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})


def _take(rules: List[_Rule], path: str) -> Optional[_Rule]:
    """The first rule matching `path` (consuming one of its count), or None; used-up rules are dropped."""
    for rule in rules:
        if rule.matches(path):
            rule.count -= 1
            if rule.count <= 0:
                rules.remove(rule)
            return rule
    return None


def _text_content(data: Mapping[str, Any]) -> Optional[str]:
    text = data.get("text")
    content = text.get("content") if isinstance(text, dict) else None
    return content if isinstance(content, str) else None


def _as_int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _json(data: Mapping[str, Any]) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False), content_type="application/json",
                        charset="utf-8")



__all__: Sequence[str] = ("FakeWeChatApi", "SentMessage", "admin_request", "CONTENT_LIMIT")
