"""Customer-facing texts produced by custom actions, one entry per language."""
from __future__ import annotations

from typing import Optional

from common.language import pick

TEXTS = {
    "session_welcome": {
        "zh": "您好，我是商城智能客服小安。",
        "en": "Hi, I'm the shop's virtual assistant.",
    },
    "session_welcome_bilingual": {
        "zh": "您好，我是商城智能客服小安。Hi, I'm the shop's virtual assistant — write in Chinese or English.",
    },
    "clarify": {
        "zh": "抱歉，我不太确定您的意思。您是想：",
        "en": "Sorry, I'm not sure I understood. Did you mean:",
    },
    "clarify_human_button": {"zh": "转人工客服", "en": "Talk to a person"},
    "handoff": {
        "zh": "我来为您转接人工客服，已记录您的请求（编号 {ref}），客服会查看我们的对话记录，您无需重复说明。",
        "en": "I'll connect you to a person. Your request is recorded (ref {ref}); the agent will see our "
              "conversation, so you won't need to repeat yourself.",
    },
    "handoff_failed": {
        "zh": "抱歉，转接人工暂时出现问题。请拨打客服热线 400-800-1234，或稍后再试。",
        "en": "Sorry, I couldn't reach an agent just now. Please call 400-800-1234 or try again shortly.",
    },
    "faq_suggest": {
        "zh": "您是想问下面哪个问题？",
        "en": "Is your question one of these?",
    },
    "faq_none": {
        "zh": "抱歉，知识库里暂时没有找到这个问题的答案。您可以换个说法，或者说“转人工”。",
        "en": "Sorry, I couldn't find an answer to that in our help centre. Try rephrasing, or say "
              "\"talk to a person\".",
    },
}

# Button titles when the bot asks which of its top guesses the customer meant.
INTENT_LABELS = {
    "greet": {"zh": "打招呼", "en": "Just saying hello"},
    "goodbye": {"zh": "结束对话", "en": "End the chat"},
    "thanks": {"zh": "表示感谢", "en": "Say thanks"},
    "affirm": {"zh": "是的", "en": "Yes"},
    "deny": {"zh": "不是", "en": "No"},
    "bot_challenge": {"zh": "你是机器人吗", "en": "Are you a bot?"},
    "ask_order_status": {"zh": "查询订单状态", "en": "Check an order's status"},
    "ask_logistics": {"zh": "查询物流进度", "en": "Track a delivery"},
    "request_return": {"zh": "退货 / 退款 / 换货", "en": "Return, refund or exchange"},
    "cancel_order": {"zh": "取消订单", "en": "Cancel an order"},
    "complain": {"zh": "投诉", "en": "Make a complaint"},
    "request_human": {"zh": "转人工客服", "en": "Talk to a person"},
    "ask_faq": {"zh": "咨询购物常见问题", "en": "A question about shopping with us"},
    "out_of_scope": {"zh": "其他问题", "en": "Something else"},
    "inform": {"zh": "提供订单号 / 手机号", "en": "Give my order or phone number"},
    "stop": {"zh": "算了，不办了", "en": "Never mind"},
}


def render(table: dict, key: str, language: Optional[str], **values: object) -> str:
    """Entry `key` of a {key: {language: template}} table, in the language, with the values filled in."""
    return pick(table[key], language).format(**values)


def text(key: str, language: Optional[str], **values: str) -> str:
    return render(TEXTS, key, language, **values)


def label(table: dict, key: str, language: Optional[str]) -> str:
    return pick(table[key], language)
