"""WeChat's server API as our channels use it: an access-token cache and the customer-service message
send of the Official Account (`/cgi-bin/message/custom/send`) and of WeCom (`/cgi-bin/message/send`).

- The access token is fetched once and shared (one fetch at a time, however many sends wait for it),
  refreshed `refresh_margin` seconds before it expires, and dropped and fetched again when WeChat says
  it is invalid or expired (40001, 40014, 42001) — that send is retried once with the new token.
- WeChat answers HTTP 200 with `errcode` in the body; "system busy" (-1) and network errors are
  retried with backoff; any other error code raises `WeChatApiError` (logged by the caller); the codes
  that sending again cannot change (the 48-hour window, unsubscribed, unknown user) are `REFUSALS`.
- Text goes out as UTF-8 JSON without \\u escapes (WeChat counts bytes) and is split into parts of at
  most MAX_TEXT_BYTES at line breaks.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import aiohttp

from common import undeliverable

log = logging.getLogger(__name__)

TOKEN_ERRORS = {40001, 40014, 42001}
BUSY = -1
# Refusals that sending again cannot change (common/undeliverable.py): errcode -> reason.
REFUSALS = {
    45015: undeliverable.WINDOW_CLOSED,  # OA: 48 h since the user's last message (or unsubscribed)
    45047: undeliverable.SEND_LIMIT,     # OA: too many customer-service messages since the user's last one
    43004: undeliverable.UNSUBSCRIBED,   # OA: the user does not follow the account
    43019: undeliverable.UNSUBSCRIBED,   # OA: the user blocked the account
    40003: undeliverable.UNKNOWN_USER,   # OA: invalid openid
    81013: undeliverable.UNKNOWN_USER,   # WeCom: user, party and tag all invalid
    60111: undeliverable.UNKNOWN_USER,   # WeCom: no such userid
}
MAX_TEXT_BYTES = 2000  # WeChat's limit is 2048 bytes per text message


class WeChatApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    def refusal(self, channel: str) -> Optional[undeliverable.Refusal]:
        """What this error means when it will not pass by sending again; None when it may."""
        reason = REFUSALS.get(self.errcode)
        return undeliverable.Refusal(channel, reason, self.errcode) if reason else None


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> List[str]:
    """Parts of at most `limit` UTF-8 bytes, cut at line breaks where possible."""
    parts: List[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-8")) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        current = ""
        while len(line.encode("utf-8")) > limit:  # one line longer than the limit: cut by characters
            cut = len(line)
            while len(line[:cut].encode("utf-8")) > limit:
                cut = max(1, cut * limit // len(line[:cut].encode("utf-8")) - 1)
            parts.append(line[:cut])
            line = line[cut:]
        current = line
    if current or not parts:
        parts.append(current)
    return parts


class AccessTokenCache:
    """One access token, fetched by `fetch` (-> token, seconds valid), shared and refreshed early."""

    def __init__(self, fetch: Callable[[], Awaitable[Tuple[str, float]]], refresh_margin: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._margin = refresh_margin
        self._clock = clock
        self._token: Optional[str] = None
        self._expires = 0.0
        self._lock: Optional[asyncio.Lock] = None
        self.fetches = 0

    async def get(self) -> str:
        if self._token and self._clock() < self._expires:
            return self._token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token and self._clock() < self._expires:
                return self._token  # fetched by whoever held the lock before us
            token, valid = await self._fetch()
            self.fetches += 1
            self._token = token
            self._expires = self._clock() + max(valid - self._margin, valid / 2)
            return token

    def invalidate(self, token: str) -> None:
        if self._token == token:
            self._token = None


class WeChatApi:
    """Base of both APIs: GET/POST with errcode handling, token refresh and retries."""

    def __init__(self, api_base: str, timeout: float = 5.0, retries: int = 2, backoff: float = 0.5) -> None:
        self.api_base = api_base.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.retries = retries
        self.backoff = backoff
        self.tokens = AccessTokenCache(self._fetch_token)
        self._session: Optional[aiohttp.ClientSession] = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def _call(self, method: str, path: str, params: Dict[str, str],
                    payload: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """One request, retried on network errors and "system busy"; the decoded body."""
        url = f"{self.api_base}{path}"
        body = None if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        for attempt in range(self.retries + 1):
            try:
                session = await self._client()
                async with session.request(method, url, params=params, data=body,
                                           headers={"Content-Type": "application/json; charset=utf-8"}
                                           if body is not None else None) as response:
                    if response.status != 200:
                        raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
                    data = json.loads(await response.text())
                if not isinstance(data, dict):
                    raise WeChatApiError(-2, "answer is not a JSON object")
                if data.get("errcode", 0) == BUSY and attempt < self.retries:
                    await asyncio.sleep(self.backoff * 2 ** attempt)
                    continue
                return data
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                if attempt >= self.retries:
                    raise WeChatApiError(-2, f"{type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(self.backoff * 2 ** attempt)
        raise WeChatApiError(BUSY, "system busy")  # the retries ran out on "busy"

    async def _fetch_token(self) -> Tuple[str, float]:
        data = await self._call("GET", *self._token_request())
        if data.get("errcode", 0) != 0 or not data.get("access_token"):
            raise WeChatApiError(int(data.get("errcode", -2)), str(data.get("errmsg", "no access_token")))
        return str(data["access_token"]), float(data.get("expires_in", 7200))

    async def _post_with_token(self, path: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        for attempt in range(2):
            token = await self.tokens.get()
            data = await self._call("POST", path, {"access_token": token}, payload)
            errcode = int(data.get("errcode", 0))
            if errcode in TOKEN_ERRORS and attempt == 0:
                log.info("WeChat access token refused, fetching a new one", extra={"errcode": errcode})
                self.tokens.invalidate(token)
                continue
            if errcode != 0:
                raise WeChatApiError(errcode, str(data.get("errmsg", "")))
            return data
        raise AssertionError("unreachable")

    async def send_text(self, user_id: str, text: str) -> None:
        for part in split_text(text):
            await self._post_with_token(self._send_path(), self._text_payload(user_id, part))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # -- what differs between the Official Account and WeCom --
    def _token_request(self) -> Tuple[str, Dict[str, str]]:
        raise NotImplementedError

    def _send_path(self) -> str:
        raise NotImplementedError

    def _text_payload(self, user_id: str, text: str) -> Dict[str, Any]:
        raise NotImplementedError


class OfficialAccountApi(WeChatApi):
    def __init__(self, api_base: str, app_id: str, app_secret: str, **kwargs: Any) -> None:
        super().__init__(api_base, **kwargs)
        self.app_id = app_id
        self.app_secret = app_secret

    def _token_request(self) -> Tuple[str, Dict[str, str]]:
        return "/cgi-bin/token", {"grant_type": "client_credential", "appid": self.app_id,
                                  "secret": self.app_secret}

    def _send_path(self) -> str:
        return "/cgi-bin/message/custom/send"

    def _text_payload(self, user_id: str, text: str) -> Dict[str, Any]:
        return {"touser": user_id, "msgtype": "text", "text": {"content": text}}


class WeComApi(WeChatApi):
    def __init__(self, api_base: str, corp_id: str, secret: str, agent_id: int, **kwargs: Any) -> None:
        super().__init__(api_base, **kwargs)
        self.corp_id = corp_id
        self.secret = secret
        self.agent_id = agent_id

    def _token_request(self) -> Tuple[str, Dict[str, str]]:
        return "/cgi-bin/gettoken", {"corpid": self.corp_id, "corpsecret": self.secret}

    def _send_path(self) -> str:
        return "/cgi-bin/message/send"

    def _text_payload(self, user_id: str, text: str) -> Dict[str, Any]:
        return {"touser": user_id, "msgtype": "text", "agentid": self.agent_id, "text": {"content": text},
                "safe": 0}
