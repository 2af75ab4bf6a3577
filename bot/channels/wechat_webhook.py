"""The WeChat webhook, shared by the Official Account (`wechat.py`) and WeCom (`wecom.py`) channels.

GET  /webhooks/<channel>/webhook   URL verification: OA echoes `echostr` when `signature` checks;
                                   WeCom decrypts `echostr` when `msg_signature` checks.
POST /webhooks/<channel>/webhook   a message or event: signature (plain) or msg_signature (safe mode)
                                   checked, timestamp fresh, body parsed safely (wechat_xml.py).

Every refused request gets a clear 4xx and a log line, and is not processed: 403 bad or stale
signature, 400 malformed XML / undecryptable body, 413 body too large; 503 when the channel has no
credentials. WeChat gives a webhook 5 seconds: a turn that finishes within `passive_seconds` is
answered passively (one reply, encrypted when the request was); a slower turn is answered "success"
at once and its messages follow through the customer-service message API. WeChat re-sends a message it
got no answer to, up to three times with the same MsgId: each is processed once (`ledger.py`); a
repeat gets the same passive reply while it is remembered, else "success".

Rate limit per OpenID/UserID (or linked customer), not per address (every push comes from WeChat's
servers): over it, the passive reply is a polite "please wait" (WeChat shows no status codes) and
the message is not processed. Texts with control characters or EXTERNAL_ intents are not processed.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, Tuple

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import runtime, wechat_xml
from bot.channels.guard import BUSY_TEXT, text_problem
from bot.channels.render import ButtonMemory, as_text
from bot.channels.wechat_api import MAX_TEXT_BYTES, WeChatApi, WeChatApiError
from bot.channels.wechat_crypto import MessageCrypto, WeChatCryptoError, signature_matches
from common.undeliverable import ChannelRefused

log = logging.getLogger(__name__)

UNSUPPORTED_TYPE = ("目前只能处理文字消息，请用文字描述您的问题。\n"
                    "I can only read text messages for now: please type your question.")
REMEMBER_SECONDS = 120.0  # how long a repeat of a finished message gets its passive reply again


@dataclass(frozen=True)
class AccountConfig:
    channel: str  # Rasa channel name: "wechat" or "wecom"
    token: str
    receive_id: str  # AppID (OA) or CorpID (WeCom)
    encoding_aes_key: str = ""
    encrypted_only: bool = False  # WeCom: every message is encrypted
    passive_seconds: float = 4.0
    max_skew: float = 300.0  # seconds a request's timestamp may differ from our clock

    @property
    def enabled(self) -> bool:
        return bool(self.token and self.receive_id)


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class _Turn:
    """One inbound message being handled: its bot messages, and how they leave."""
    conversation_id: str
    user_id: str
    messages: List[Dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    push: bool = False  # past the passive window: messages go through the API
    reply: Optional[str] = None
    decided: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class _TurnOutput(OutputChannel):
    """Collects the bot's messages of one turn (sent after, passively or through the API)."""

    def __init__(self, channel: str, turn: _Turn) -> None:
        self.channel = channel
        self.turn = turn

    def name(self) -> str:  # type: ignore[override]
        return self.channel

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        self.turn.messages.append(dict(message))


class PushOutput(OutputChannel):
    """Messages outside a customer's turn (an agent's reply, the end of a handoff): sent at once
    through the API to the customer's user id on this channel. A failure raises, so that the caller
    (Rasa's trigger_intent, hence the handoff service's outbox) retries — or, when WeChat refuses for
    good (the 48-hour window closed, unsubscribed), raises `ChannelRefused`, which the handoff service
    records as undeliverable instead of trying again (common/undeliverable.py)."""

    def __init__(self, webhook: "WeChatWebhook") -> None:
        self.webhook = webhook

    def name(self) -> str:  # type: ignore[override]
        return self.webhook.config.channel

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        user = runtime.directory().address(recipient_id, self.webhook.config.channel)
        if not user:
            log.warning("no user to deliver to on this channel", extra={"channel": self.name()})
            return
        await self.webhook.send(user, recipient_id, [message], raise_errors=True)


def _fresh(timestamp: str, max_skew: float) -> bool:
    try:
        return abs(time.time() - int(timestamp)) <= max_skew
    except (TypeError, ValueError):
        return False


class WeChatWebhook:
    def __init__(self, config: AccountConfig, api: Optional[WeChatApi]) -> None:
        self.config = config
        self.api = api
        self.crypto = (MessageCrypto(config.token, config.encoding_aes_key, config.receive_id)
                       if config.enabled and config.encoding_aes_key else None)
        self.buttons = ButtonMemory()
        self._inflight: Dict[str, _Turn] = {}
        self._tasks: Set[asyncio.Task] = set()

    # -- HTTP ------------------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint(f"{self.config.channel}_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.config.enabled else "not configured"})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            try:
                return response.text(self._verify_url(request))
            except Refused as exc:
                return self._refuse(request, exc)

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                message, encrypted = self._read(request)
            except Refused as exc:
                return self._refuse(request, exc)
            reply = await self.handle(message, on_new_message)
            if reply is None:
                return response.text("success")
            return response.text(self._reply_body(message, reply, encrypted),
                                 content_type="application/xml; charset=utf-8")

        return bp

    def _refuse(self, request: Request, exc: Refused) -> HTTPResponse:
        log.warning("wechat request refused", extra={"channel": self.config.channel, "status": exc.status,
                                                     "reason": exc.reason, "method": request.method})
        return response.text(exc.reason, status=exc.status)

    def _check_common(self, request: Request) -> Tuple[str, str]:
        if not self.config.enabled:
            raise Refused(503, f"the {self.config.channel} channel is not configured")
        timestamp, nonce = request.args.get("timestamp", ""), request.args.get("nonce", "")
        if not timestamp or not nonce:
            raise Refused(403, "missing timestamp or nonce")
        if not _fresh(timestamp, self.config.max_skew):
            raise Refused(403, "stale or invalid timestamp")
        return timestamp, nonce

    def _verify_url(self, request: Request) -> str:
        timestamp, nonce = self._check_common(request)
        echostr = request.args.get("echostr", "")
        if not echostr:
            raise Refused(400, "missing echostr")
        if self.config.encrypted_only:
            if self.crypto is None:
                raise Refused(503, "no EncodingAESKey configured")
            try:
                return self.crypto.verify_and_decrypt(request.args.get("msg_signature"), timestamp, nonce, echostr)
            except WeChatCryptoError as exc:
                raise Refused(403, f"URL verification failed: {exc}") from None
        if not signature_matches(request.args.get("signature"), self.config.token, timestamp, nonce):
            raise Refused(403, "bad signature")
        return echostr

    def _read(self, request: Request) -> Tuple[wechat_xml.InboundMessage, bool]:
        timestamp, nonce = self._check_common(request)
        body = request.body or b""
        if len(body) > wechat_xml.MAX_BODY:
            raise Refused(413, f"body over {wechat_xml.MAX_BODY} bytes")
        encrypted = self.config.encrypted_only or request.args.get("encrypt_type", "").lower() == "aes"
        try:
            if encrypted:
                if self.crypto is None:
                    raise Refused(400, "encrypted message but no EncodingAESKey configured")
                envelope = wechat_xml.parse(body)
                ciphertext = envelope.get("Encrypt", "")
                if not ciphertext:
                    raise Refused(400, "no Encrypt field")
                if not signature_matches(request.args.get("msg_signature"), self.config.token, timestamp,
                                         nonce, ciphertext):
                    raise Refused(403, "bad msg_signature")
                plain = self.crypto.decrypt(ciphertext)
                fields = wechat_xml.parse(plain.encode("utf-8"))
            else:
                if not signature_matches(request.args.get("signature"), self.config.token, timestamp, nonce):
                    raise Refused(403, "bad signature")
                fields = wechat_xml.parse(body)
            return wechat_xml.InboundMessage.from_fields(fields), encrypted
        except wechat_xml.XmlError as exc:
            raise Refused(413 if "exceeds" in str(exc) else 400, f"bad XML: {exc}") from None
        except WeChatCryptoError as exc:
            raise Refused(400, f"cannot decrypt: {exc}") from None

    def _reply_body(self, message: wechat_xml.InboundMessage, text: str, encrypted: bool) -> str:
        xml = wechat_xml.text_reply(message.from_user, message.to_user, text)
        if not encrypted or self.crypto is None:
            return xml
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10 ** 10))
        ciphertext = self.crypto.encrypt(xml)
        return wechat_xml.encrypted_reply(ciphertext, self.crypto.msg_signature(timestamp, nonce, ciphertext),
                                          timestamp, nonce)

    # -- one message -----------------------------------------------------------------------------
    async def handle(self, message: wechat_xml.InboundMessage,
                     on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Optional[str]:
        """The passive reply to a pushed message, or None for "success"."""
        key = message.dedupe_key
        if not runtime.ledger().claim(f"{self.config.channel}:{key}"):
            return await self._repeat(key)
        if message.msg_type == "text":
            text, hints = message.content.strip(), {}
        elif message.msg_type == "event" and message.event == "subscribe":
            text, hints = "/greet", {"language": "zh"}
        elif message.msg_type == "event":
            return None  # unsubscribe, menu clicks, location reports, entering the app: nothing to say
        else:
            return UNSUPPORTED_TYPE
        if not text:
            return None
        if text_problem(text):
            log.warning("wechat message refused", extra={"channel": self.config.channel,
                                                         "reason": text_problem(text)})
            return None
        route = runtime.directory().route(self.config.channel, message.from_user, sticky=True)
        if not runtime.guard().allow_customer(self.config.channel, route.conversation_id)[0]:
            return BUSY_TEXT  # WeChat shows no status codes: the customer is told in words
        metadata: Dict[str, Any] = {**hints, "channel_user": {"channel": self.config.channel,
                                                              "account": message.to_user}}
        token = runtime.customer_token(route.customer_id)
        if token:
            metadata["customer_token"] = token
        text = self.buttons.resolve(route.conversation_id, text) or text
        turn = _Turn(route.conversation_id, message.from_user)
        self._inflight[key] = turn
        task = asyncio.create_task(self._run(turn, text, metadata, on_new_message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            await asyncio.wait_for(asyncio.shield(turn.done.wait()), self.config.passive_seconds)
        except asyncio.TimeoutError:
            pass
        if turn.finished:
            turn.reply = self._passive(turn)
        else:
            turn.push = True
            log.info("slow turn: replies go through the API", extra={"channel": self.config.channel})
        turn.decided.set()
        asyncio.get_running_loop().call_later(REMEMBER_SECONDS, self._inflight.pop, key, None)
        return turn.reply

    async def _repeat(self, key: str) -> Optional[str]:
        turn = self._inflight.get(key)
        log.info("repeated message not processed again", extra={"channel": self.config.channel})
        if turn is None:
            return None
        try:
            await asyncio.wait_for(asyncio.shield(turn.decided.wait()), self.config.passive_seconds)
        except asyncio.TimeoutError:
            return None
        return turn.reply

    async def _run(self, turn: _Turn, text: str, metadata: Dict[str, Any],
                   on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        try:
            await on_new_message(UserMessage(text, _TurnOutput(self.config.channel, turn), turn.conversation_id,
                                             input_channel=self.config.channel, metadata=metadata))
        except Exception:  # noqa: BLE001 - one failed turn must not kill the channel
            log.exception("turn failed", extra={"channel": self.config.channel})
        finally:
            turn.finished = True
            if turn.push:  # the webhook already answered "success"
                await self.send(turn.user_id, turn.conversation_id, turn.messages)
            turn.done.set()

    def _passive(self, turn: _Turn) -> Optional[str]:
        """All of a fast turn's messages as one passive reply (WeChat takes one); None when there is
        nothing to say or it is too long for one message (then it goes through the API)."""
        texts, buttons = [], []
        for message in turn.messages:
            text, shown = as_text(message)
            if text:
                texts.append(text)
            buttons = shown or buttons
        reply = "\n\n".join(texts)
        if not reply:
            return None
        if len(reply.encode("utf-8")) > MAX_TEXT_BYTES:
            task = asyncio.create_task(self.send(turn.user_id, turn.conversation_id, turn.messages))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return None
        self.buttons.remember(turn.conversation_id, buttons)
        return reply

    async def send(self, user_id: str, conversation_id: str, messages: List[Dict[str, Any]],
                   raise_errors: bool = False) -> None:
        """Messages through the customer-service API, in order."""
        for message in messages:
            text, buttons = as_text(message)
            if buttons:
                self.buttons.remember(conversation_id, buttons)
            if not text:
                continue
            if self.api is None:
                log.error("no API credentials: message not delivered", extra={"channel": self.config.channel})
                return
            try:
                await self.api.send_text(user_id, text)
            except WeChatApiError as exc:
                refusal = exc.refusal(self.config.channel)
                log.error("message not delivered", extra={"channel": self.config.channel, "errcode": exc.errcode,
                                                          "error": exc.errmsg,
                                                          "refused": refusal.reason if refusal else None})
                if raise_errors:
                    if refusal:
                        raise ChannelRefused(refusal, str(exc)) from exc
                    raise


class WebhookChannel(InputChannel):
    """What the Official Account and WeCom input channels share: the webhook, and pushes outside a
    customer's turn through the API. Subclasses read their credentials into a `WeChatWebhook`."""

    def __init__(self, webhook: WeChatWebhook) -> None:
        self.webhook = webhook

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return self.webhook.blueprint(on_new_message)

    def get_output_channel(self) -> Optional[OutputChannel]:
        return PushOutput(self.webhook)


def credential(credentials: Dict[str, Any], key: str, default: str = "") -> str:
    value = credentials.get(key)
    return default if value is None or value == "" else str(value).strip()


def passive_seconds(credentials: Dict[str, Any]) -> float:
    raw = credential(credentials, "passive_seconds", "4.0")
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"passive_seconds={raw!r}: a number of seconds") from None
    if not 0.5 <= seconds <= 4.5:
        raise ValueError(f"passive_seconds={seconds}: between 0.5 and 4.5 (WeChat waits 5 s)")
    return seconds
