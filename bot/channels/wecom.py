"""Rasa input channel for a WeCom (企业微信) application's callbacks (always encrypted).

credentials.yml:

    bot.channels.wecom.WeComInput:
      token: ${CS_WECOM_TOKEN}
      corp_id: ${CS_WECOM_CORP_ID}
      secret: ${CS_WECOM_SECRET}                # the application's secret (access token)
      agent_id: ${CS_WECOM_AGENT_ID}
      encoding_aes_key: ${CS_WECOM_AES_KEY}
      api_base: ${CS_WECOM_API_BASE}
      passive_seconds: ${CS_WECHAT_PASSIVE_SECONDS}

The callback URL to enter in the WeCom admin console: https://<host>/webhooks/wecom/webhook.
Behaviour: `wechat_webhook.py`; replies outside a turn go through `message/send` as the application.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint

from bot.channels.wechat import _seconds, _text
from bot.channels.wechat_api import WeComApi
from bot.channels.wechat_webhook import AccountConfig, PushOutput, WeChatWebhook


class WeComInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "wecom"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        config = AccountConfig(
            channel=cls.name(), token=_text(credentials, "token"), receive_id=_text(credentials, "corp_id"),
            encoding_aes_key=_text(credentials, "encoding_aes_key"), encrypted_only=True,
            passive_seconds=_seconds(credentials))
        api = None
        agent_id = _text(credentials, "agent_id")
        if config.enabled and _text(credentials, "secret") and agent_id:
            if not (agent_id.isascii() and agent_id.isdigit()):
                raise ValueError(f"wecom agent_id={agent_id!r}: the application's numeric AgentID")
            api = WeComApi(_text(credentials, "api_base", "https://qyapi.weixin.qq.com"), config.receive_id,
                           _text(credentials, "secret"), int(agent_id))
        return cls(WeChatWebhook(config, api))

    def __init__(self, webhook: WeChatWebhook) -> None:
        self.webhook = webhook

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return self.webhook.blueprint(on_new_message)

    def get_output_channel(self) -> Optional[OutputChannel]:
        return PushOutput(self.webhook)
