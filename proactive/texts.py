"""What a notification says, in the customer's language, and its buttons: pure.

Buttons are Rasa payloads, so pressing one (or answering its number on WeChat, bot/channels/render.py)
is an ordinary turn: "track" asks for the order's logistics or status with the order number filled
in, "person" asks for a person (the handoff policy takes it from there).
"""
from __future__ import annotations

import json
from typing import Dict, List, Mapping, Optional, Tuple

TEXTS: Dict[str, Dict[str, str]] = {
    "logistics_delay": {
        "zh": "您的订单 {order_number} 的包裹已经 {hours} 小时没有物流更新了，比承诺的时间晚了。我们已在跟进，"
              "您可以查看最新物流，或联系人工客服。",
        "en": "The parcel of your order {order_number} has had no tracking update for {hours} hours and is "
              "later than promised. We are following up; you can check the latest tracking or talk to a person.",
    },
    "delivery_failed": {
        "zh": "您的订单 {order_number} 派送未成功：{detail_zh}。您可以查看物流详情，或联系人工客服安排再次派送。",
        "en": "Delivery of your order {order_number} did not succeed: {detail_en}. You can check the tracking "
              "details or talk to a person to arrange another delivery.",
    },
    "refund_completed": {
        "zh": "您的售后申请 {request_number}（{item_zh}）已退款完成，¥{amount} 将原路退回，一般 1-3 个工作日到账。",
        "en": "Your after-sales request {request_number} ({item_en}) is refunded: ¥{amount} goes back to your "
              "original payment method, usually within 1-3 working days.",
    },
    "after_sales_waiting": {
        "zh": "您的售后申请 {request_number}（{item_zh}）已通过审核，请在 7 天内将商品寄回，我们收到后尽快处理。",
        "en": "Your after-sales request {request_number} ({item_en}) is approved: please send the item back "
              "within 7 days and we will handle it as soon as it arrives.",
    },
}
OPT_OUT_HINT = {"zh": "回复“退订”不再接收此类通知。", "en": "Reply \"unsubscribe\" to stop these notifications."}
BUTTONS = {
    "track": {"zh": "查看物流", "en": "Track parcel"},
    "order": {"zh": "查看订单", "en": "View order"},
    "person": {"zh": "转人工", "en": "Talk to a person"},
}
OPT = {
    "opted_out": {"zh": "好的，已为您退订订单通知，之后不会再主动给您发送。想恢复时回复“订阅”即可。",
                  "en": "Done: you will get no more order notifications from us. Reply \"resubscribe\" to "
                        "get them again."},
    "opted_in": {"zh": "好的，已为您恢复订单通知。", "en": "Done: you will get order notifications again."},
}
LOGISTICS_KINDS = ("logistics_delay", "delivery_failed")


def _lang(language: Optional[str]) -> str:
    return "en" if language == "en" else "zh"


class _Params(dict):
    def __missing__(self, key: str) -> str:
        return ""


def render(kind: str, language: Optional[str], params: Mapping[str, str]) -> Tuple[str, List[dict]]:
    """(text, buttons) of a notification; KeyError for an unknown kind."""
    lang = _lang(language)
    body = TEXTS[kind][lang].format_map(_Params(params))
    text = f"{body}\n{OPT_OUT_HINT[lang]}"
    number = str(params.get("order_number") or "")
    first = "track" if kind in LOGISTICS_KINDS else "order"
    intent = "ask_logistics" if kind in LOGISTICS_KINDS else "ask_order_status"
    entities = json.dumps({"order_number": number}) if number else ""
    buttons = [{"title": BUTTONS[first][lang], "payload": f"/{intent}{entities}"},
               {"title": BUTTONS["person"][lang], "payload": "/request_human"}]
    return text, buttons


def opt_text(key: str, language: Optional[str]) -> str:
    return OPT[key][_lang(language)]
