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

from typing import Any, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel

from bot.channels.wechat_api import OfficialAccountApi
from bot.channels.wechat_webhook import AccountConfig, WebhookChannel, WeChatWebhook, credential, passive_seconds


class WeChatInput(WebhookChannel):
    @classmethod
    def name(cls) -> Text:
        return "wechat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        config = AccountConfig(
            channel=cls.name(), token=credential(credentials, "token"), receive_id=credential(credentials, "app_id"),
            encoding_aes_key=credential(credentials, "encoding_aes_key"), passive_seconds=passive_seconds(credentials))
        api = None
        if config.enabled and credential(credentials, "app_secret"):
            api = OfficialAccountApi(credential(credentials, "api_base", "https://api.weixin.qq.com"),
                                     config.receive_id, credential(credentials, "app_secret"))
        return cls(WeChatWebhook(config, api))
