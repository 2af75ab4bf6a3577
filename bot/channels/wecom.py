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

from typing import Any, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel

from bot.channels.wechat_api import WeComApi
from bot.channels.wechat_webhook import AccountConfig, WebhookChannel, WeChatWebhook, credential, passive_seconds


class WeComInput(WebhookChannel):
    @classmethod
    def name(cls) -> Text:
        return "wecom"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        config = AccountConfig(
            channel=cls.name(), token=credential(credentials, "token"), receive_id=credential(credentials, "corp_id"),
            encoding_aes_key=credential(credentials, "encoding_aes_key"), encrypted_only=True,
            passive_seconds=passive_seconds(credentials))
        api = None
        agent_id = credential(credentials, "agent_id")
        if config.enabled and credential(credentials, "secret") and agent_id:
            if not (agent_id.isascii() and agent_id.isdigit()):
                raise ValueError(f"wecom agent_id={agent_id!r}: the application's numeric AgentID")
            api = WeComApi(credential(credentials, "api_base", "https://qyapi.weixin.qq.com"), config.receive_id,
                           credential(credentials, "secret"), int(agent_id))
        return cls(WeChatWebhook(config, api))
