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
    "handoff_queued": {
        "zh": "我来为您转接人工客服（编号 {ref}）。客服会看到我们之前的对话，您无需重复说明。{wait}",
        "en": "I'm connecting you to a person (ref {ref}). They will see our conversation, so you won't need to "
              "repeat yourself. {wait}",
    },
    "handoff_wait_position": {
        "zh": "您前面还有 {ahead} 位，预计等待约 {minutes} 分钟。",
        "en": "There are {ahead} ahead of you; the wait is about {minutes} min.",
    },
    "handoff_wait_next": {"zh": "马上为您接通。", "en": "Someone will be with you in a moment."},
    "handoff_already": {
        "zh": "您已经在人工客服的队列中（编号 {ref}），请稍候，您发的消息客服都能看到。",
        "en": "You're already with our customer service team (ref {ref}); they see every message you send.",
    },
    "handoff_ticket": {
        "zh": "现在没有客服在线（人工服务时间 {hours}）。请直接留言说明问题，我们会在上班后尽快回复您（编号 {ref}）。",
        "en": "No agent is available right now (service hours {hours}). Leave your message here and we'll reply as "
              "soon as we're back (ref {ref}).",
    },
    "ticket_recorded": {
        "zh": "已收到您的留言，客服上班后会尽快回复您。在此期间您也可以继续问我其他问题。",
        "en": "Got it — your message is recorded and an agent will reply as soon as possible. Meanwhile, I can "
              "still help with anything else.",
    },
    "handoff_off": {
        "zh": "抱歉，当前渠道暂不提供在线人工服务。您可以拨打客服热线 400-800-1234，或继续问我。",
        "en": "Sorry, live agents aren't available on this channel. Please call 400-800-1234, or keep asking me.",
    },
    "handoff_failed": {
        "zh": "抱歉，转接人工暂时出现问题。请拨打客服热线 400-800-1234，或稍后再试。",
        "en": "Sorry, I couldn't reach an agent just now. Please call 400-800-1234 or try again shortly.",
    },
    "handoff_pending": {
        "zh": "正在为您转接人工客服，请稍候，客服会在这里回复您。您可以继续留言，客服都会看到。",
        "en": "We're connecting you to a person; an agent will answer here. You can keep writing — they'll see "
              "your messages.",
    },
    "relay_failed": {
        "zh": "抱歉，您刚才的消息没能送达客服，请稍后再发一次。",
        "en": "Sorry, your last message didn't reach the agent. Please send it again in a moment.",
    },
    "relay_gone": {
        "zh": "人工客服的对话已经结束，现在由我继续为您服务。请问还有什么可以帮您？",
        "en": "The conversation with our agent has ended; I'm back to help. What can I do for you?",
    },
    "handback": {
        "zh": "客服已将对话交回给我，您可以继续问我任何问题。",
        "en": "Our agent has handed you back to me; ask me anything else you need.",
    },
    "csat_ask": {
        "zh": "本次服务已结束。请为客服的服务打分（1-5 分，5 分最满意）：",
        "en": "This conversation has ended. How satisfied were you with our service (1-5, 5 = very satisfied)?",
    },
    "csat_comment": {
        "zh": "谢谢您的评分！还有什么想对我们说的吗？直接输入即可，或点“不用了”。",
        "en": "Thank you for rating! Anything you'd like to add? Type it, or tap \"No thanks\".",
    },
    "csat_no_comment_button": {"zh": "不用了", "en": "No thanks"},
    "ticket_csat_ask": {
        "zh": "工单 {number} 的处理您满意吗？请打分（1-5 分，5 分最满意）：",
        "en": "How satisfied are you with how ticket {number} was handled (1-5, 5 = very satisfied)?",
    },
    "ticket_reply_received": {
        "zh": "已收到，您的回复已补充到工单 {number}，处理的同事会继续跟进。",
        "en": "Thank you, your reply is added to ticket {number}; the colleague handling it will carry on.",
    },
    "ticket_reply_received_due": {
        "zh": "已收到，您的回复已补充到工单 {number}，处理的同事会继续跟进，我们会在 {due} 前给您答复。",
        "en": "Thank you, your reply is added to ticket {number}; the colleague handling it will carry on and get "
              "back to you by {due}.",
    },
    "ticket_reply_pending": {
        "zh": "已收到您的回复，稍后会自动补充到工单 {number}。",
        "en": "Got your reply; it will be added to ticket {number} in a moment.",
    },
    "ticket_lookup_failed": {
        "zh": "抱歉，暂时查不到工单信息，请稍后再试，或转人工客服。",
        "en": "Sorry, I can't look up tickets right now. Please try again shortly, or ask for a person.",
    },
    "ticket_reply_failed": {
        "zh": "抱歉，您的回复没能补充到工单 {number}（工单可能已关闭）。如需帮助请转人工客服。",
        "en": "Sorry, your reply couldn't be added to ticket {number} (it may be closed). Ask for a person if you "
              "need help.",
    },
    "csat_thanks": {"zh": "感谢您的反馈，祝您生活愉快！", "en": "Thanks for your feedback — have a great day!"},
    "complaint_noted": {
        "zh": "非常抱歉给您带来不好的体验。您的反馈已记录，我们会认真改进。也可以拨打客服热线 400-800-1234。",
        "en": "I'm really sorry about this experience. Your feedback is noted and will be followed up; you can also "
              "call 400-800-1234.",
    },
    "complaint_ack": {
        "zh": "非常抱歉给您带来不好的体验，我马上为您转接专门处理投诉的同事。",
        "en": "I'm really sorry about this experience. I'm passing you to a colleague who handles complaints.",
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
