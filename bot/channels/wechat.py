"""Rasa input channel for a WeChat Official Account (message push in plain, compatible or safe mode).

credentials.yml:

    bot.channels.wechat.WeChatInput:
      token: ${CS_WECHAT_TOKEN}                 # the server token set in the OA admin console
      app_id: ${CS_WECHAT_APP_ID}
      app_secret: ${CS_WECHAT_APP_SECRET}       # for the access token of the customer-service API
      encoding_aes_key: ${CS_WECHAT_AES_KEY}    # 43 characters; needed for safe mode
      api_base: ${CS_WECHAT_API_BASE}
      passive_seconds: ${CS_WECHAT_PASSIVE_SECONDS}

The URL to enter in the admin console: https://<host>/webhooks/wechat/webhook. Empty credentials
switch the channel off (it answers 503). Behaviour: `wechat_webhook.py`.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint

from bot.channels.wechat_api import OfficialAccountApi
from bot.channels.wechat_webhook import AccountConfig, PushOutput, WeChatWebhook


def _text(credentials: Dict[str, Any], key: str, default: str = "") -> str:
    value = credentials.get(key)
    return default if value is None or value == "" else str(value).strip()


def _seconds(credentials: Dict[str, Any]) -> float:
    raw = _text(credentials, "passive_seconds", "4.0")
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"passive_seconds={raw!r}: a number of seconds") from None
    if not 0.5 <= seconds <= 4.5:
        raise ValueError(f"passive_seconds={seconds}: between 0.5 and 4.5 (WeChat waits 5 s)")
    return seconds


class WeChatInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        config = AccountConfig(
            channel=cls.name(), token=_text(credentials, "token"), receive_id=_text(credentials, "app_id"),
            encoding_aes_key=_text(credentials, "encoding_aes_key"), passive_seconds=_seconds(credentials))
        api = None
        if config.enabled and _text(credentials, "app_secret"):
            api = OfficialAccountApi(_text(credentials, "api_base", "https://api.weixin.qq.com"),
                                     config.receive_id, _text(credentials, "app_secret"))
        return cls(WeChatWebhook(config, api))

    def __init__(self, webhook: WeChatWebhook) -> None:
        self.webhook = webhook

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return self.webhook.blueprint(on_new_message)

    def get_output_channel(self) -> Optional[OutputChannel]:
        return PushOutput(self.webhook)
