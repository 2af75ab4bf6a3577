"""Customer-facing texts of the order conversations (zh/en), and the labels they use."""
from __future__ import annotations

from typing import Optional

from actions.texts import render

TEXTS = {
    # --- asking ---------------------------------------------------------------------------------
    "ask_order_number": {
        "zh": "请提供订单号（12 位数字，可在“我的订单”中查看），以及下单手机号的后四位，例如：240518300721 5678。",
        "en": "Please send the order number (12 digits, under \"My orders\") and the last 4 digits of the phone "
              "number used for the order, e.g. 240518300721 5678.",
    },
    "ask_order_number_listed": {
        "zh": "请问是哪个订单？也可以直接发送订单号。",
        "en": "Which order is it? You can also type the order number.",
    },
    "ask_order_number_none_listed": {
        "zh": "您最近没有可以办理这项业务的订单。如果是其他订单，请发送订单号。",
        "en": "None of your recent orders qualifies for this. If it's another order, please send its number.",
    },
    "ask_phone_last4": {
        "zh": "为保护您的信息，请提供订单 {order} 下单手机号的后四位。",
        "en": "To protect your information, please send the last 4 digits of the phone number used for order "
              "{order}.",
    },
    "ask_item": {
        "zh": "订单 {order} 里要办理哪件商品？",
        "en": "Which item of order {order} is it about?",
    },
    "ask_reason": {
        "zh": "请问申请{type}的原因是？可以点选，也可以直接描述。",
        "en": "What's the reason for the {type}? Pick one or describe it.",
    },
    "ask_confirm_cancel": {
        "zh": "确认取消订单 {order}（{items}，实付 {total}）吗？取消后款项将在 1-3 个工作日内原路退回。",
        "en": "Cancel order {order} ({items}, paid {total})? The money goes back to your original payment method "
              "within 1-3 working days.",
    },
    "ask_confirm_aftersales": {
        "zh": "确认为订单 {order} 的「{item}」申请{type}，原因：{reason}？",
        "en": "Shall I open a {type} for \"{item}\" of order {order}, reason: {reason}?",
    },
    "yes": {"zh": "确认", "en": "Yes"},
    "no": {"zh": "不用了", "en": "No"},
    "human": {"zh": "转人工客服", "en": "Talk to a person"},
    "cancel_instead": {"zh": "取消这个订单", "en": "Cancel this order"},
    "track_instead": {"zh": "查看物流", "en": "Track the parcel"},
    # --- validation -------------------------------------------------------------------------------
    "bad_order_number": {
        "zh": "“{value}”不是有效的订单号：订单号是 12 位数字。请再发一次。",
        "en": "\"{value}\" isn't a valid order number: order numbers have 12 digits. Please send it again.",
    },
    "verify_failed": {
        "zh": "订单号和手机号后四位对不上（还可以再试 {left} 次）。如果订单号有误，请直接发送正确的订单号。",
        "en": "The order number and the last 4 digits don't match ({left} more tries). If the order number was "
              "wrong, just send the right one.",
    },
    "not_your_order": {
        "zh": "您的账户下没有订单 {order}。如果是用其他手机号下的单，请提供那个手机号的后四位。",
        "en": "Order {order} isn't on your account. If it was placed with another phone number, send that "
              "number's last 4 digits.",
    },
    "unknown_item": {
        "zh": "这个订单里没有这件商品，请从下面选择。",
        "en": "That item isn't in this order; please pick one below.",
    },
    # --- results ----------------------------------------------------------------------------------
    "status": {
        "zh": "订单 {order}：{status}\n商品：{items}\n实付：{total}\n下单时间：{created}{extra}\n"
              "收货：{recipient}，{address}",
        "en": "Order {order}: {status}\nItems: {items}\nPaid: {total}\nOrdered: {created}{extra}\n"
              "Delivery to: {recipient}, {address}",
    },
    "status_extra_shipped": {"zh": "\n{carrier} 运单号 {tracking}，最新：{latest}",
                             "en": "\n{carrier} tracking {tracking}, latest: {latest}"},
    "status_extra_delivered": {"zh": "\n签收时间：{delivered}", "en": "\nDelivered: {delivered}"},
    "status_extra_pending": {"zh": "\n请在下单后 30 分钟内完成支付，超时订单将自动取消。",
                             "en": "\nPlease pay within 30 minutes of ordering, or the order is cancelled "
                                   "automatically."},
    "status_extra_paid": {"zh": "\n仓库正在备货，通常 48 小时内发货。",
                          "en": "\nThe warehouse is preparing it; it usually ships within 48 hours."},
    "logistics": {
        "zh": "订单 {order} 由{carrier}配送，运单号 {tracking}：\n{events}",
        "en": "Order {order} is with {carrier}, tracking number {tracking}:\n{events}",
    },
    "logistics_exception": {
        "zh": "包裹派送遇到问题，建议联系人工客服为您跟进。",
        "en": "The delivery ran into a problem; an agent can follow it up for you.",
    },
    "logistics_not_shipped": {
        "zh": "订单 {order} 还没有发货（{status}），发货后即可查看物流。",
        "en": "Order {order} hasn't shipped yet ({status}); tracking appears once it ships.",
    },
    "cancelled": {
        "zh": "订单 {order} 已取消，{total} 将在 1-3 个工作日内原路退回。",
        "en": "Order {order} is cancelled; {total} goes back to your original payment method within 1-3 working "
              "days.",
    },
    "cancelled_unpaid": {
        "zh": "订单 {order} 已取消（订单未支付，无需退款）。",
        "en": "Order {order} is cancelled (it was not paid, so there is nothing to refund).",
    },
    "aftersales_created": {
        "zh": "已为您提交{type}申请，申请号 {request}。{next}",
        "en": "Your {type} request is open: number {request}. {next}",
    },
    "next_return": {
        "zh": "快递员将在 24 小时内上门取件，请保持商品及包装完好；收到退货后 3 个工作日内退款。",
        "en": "A courier will collect the parcel within 24 hours; keep the item and its packaging intact. The "
              "refund follows within 3 working days of our receiving it.",
    },
    "next_refund": {
        "zh": "客服将在 24 小时内审核，审核通过后款项原路退回。",
        "en": "An agent reviews it within 24 hours; once approved the money goes back to your original payment "
              "method.",
    },
    "next_exchange": {
        "zh": "快递员将在 24 小时内上门取件，收到商品后为您寄出新的商品。",
        "en": "A courier will collect the item within 24 hours; we send the replacement once it arrives.",
    },
    "not_confirmed": {
        "zh": "好的，没有做任何更改。还有其他可以帮您的吗？",
        "en": "OK, nothing was changed. Anything else I can help with?",
    },
    "stopped": {
        "zh": "好的，已经停止办理，没有做任何更改。还有其他可以帮您的吗？",
        "en": "OK, I've stopped; nothing was changed. Anything else I can help with?",
    },
    # --- why not ----------------------------------------------------------------------------------
    "blocked_locked": {
        "zh": "验证失败次数过多，为保护账户安全，订单查询已暂时锁定 {minutes} 分钟。如需帮助，可以转人工客服。",
        "en": "Too many failed checks: to protect the account, order lookups are locked for {minutes} minutes. "
              "An agent can help you meanwhile.",
    },
    "blocked_unavailable": {
        "zh": "抱歉，订单系统暂时无法访问，请稍后再试，或转人工客服处理（参考编号 {ref}）。",
        "en": "Sorry, the order system can't be reached right now. Please try again shortly, or talk to a person "
              "(reference {ref}).",
    },
    "blocked_error": {
        "zh": "抱歉，处理时出了点问题，请稍后再试，或转人工客服处理（参考编号 {ref}）。",
        "en": "Sorry, something went wrong on our side. Please try again shortly, or talk to a person "
              "(reference {ref}).",
    },
    "blocked_already_shipped": {
        "zh": "订单 {order} 已经发货，无法直接取消。您可以拒收包裹，或收货后申请退货。",
        "en": "Order {order} has already shipped, so it can't be cancelled. You can refuse the parcel, or return "
              "it after delivery.",
    },
    "blocked_already_delivered": {
        "zh": "订单 {order} 已经签收，无法取消；如需退货退款，可以为您办理售后。",
        "en": "Order {order} has been delivered, so it can't be cancelled; I can start a return instead.",
    },
    "blocked_already_cancelled": {
        "zh": "订单 {order} 已经取消了。",
        "en": "Order {order} is already cancelled.",
    },
    "blocked_already_refunded": {
        "zh": "订单 {order} 已经退款完成。",
        "en": "Order {order} has already been refunded.",
    },
    "blocked_not_cancellable": {
        "zh": "订单 {order} 当前状态无法取消。",
        "en": "Order {order} can't be cancelled in its current state.",
    },
    "blocked_not_shipped": {
        "zh": "订单 {order} 还没有发货，不需要退货：可以直接取消订单，款项原路退回。",
        "en": "Order {order} hasn't shipped yet, so there's nothing to return: you can cancel it and get the "
              "money back.",
    },
    "blocked_in_transit": {
        "zh": "订单 {order} 还在配送中，签收后才能申请售后；也可以拒收包裹，退款会自动处理。",
        "en": "Order {order} is still on its way; after-sales requests open once it's delivered. You can also "
              "refuse the parcel and the refund happens automatically.",
    },
    "blocked_already_requested": {
        "zh": "这件商品已经有售后申请在处理中（或已完成），无需重复申请。",
        "en": "There's already an after-sales request for this item (open or completed), so there's no need to "
              "open another.",
    },
    "blocked_window_passed": {
        "zh": "抱歉，订单 {order} 签收已超过 {days} 天，超出了{kind}的申请期限。如有质量问题，可以转人工客服处理。",
        "en": "Sorry, order {order} was delivered more than {days} days ago, past the {kind} window. For a "
              "quality problem, an agent can look into it.",
    },
    "blocked_unknown_item": {
        "zh": "这个订单里没有这件商品。",
        "en": "That item isn't in this order.",
    },
    "blocked_unknown_order": {
        "zh": "没有找到订单 {order}，请核对订单号。",
        "en": "I couldn't find order {order}; please check the number.",
    },
    "window_change_of_mind": {"zh": "七天无理由退换", "en": "7-day no-reason return"},
    "window_quality": {"zh": "质量问题售后", "en": "quality-problem"},
}

STATUS_LABELS = {
    "pending_payment": {"zh": "待付款", "en": "awaiting payment"},
    "paid": {"zh": "已付款，待发货", "en": "paid, preparing to ship"},
    "shipped": {"zh": "已发货，运输中", "en": "shipped, on its way"},
    "delivered": {"zh": "已签收", "en": "delivered"},
    "completed": {"zh": "已完成", "en": "completed"},
    "cancelled": {"zh": "已取消", "en": "cancelled"},
    "after_sales": {"zh": "售后处理中", "en": "after-sales request open"},
    "refunded": {"zh": "已退款", "en": "refunded"},
}

TYPE_LABELS = {
    "return": {"zh": "退货退款", "en": "return"},
    "refund": {"zh": "仅退款", "en": "refund"},
    "exchange": {"zh": "换货", "en": "exchange"},
}

REASON_LABELS = {
    "damaged": {"zh": "商品破损", "en": "arrived damaged"},
    "defective": {"zh": "质量问题/无法使用", "en": "faulty / doesn't work"},
    "wrong_item": {"zh": "发错商品", "en": "wrong item sent"},
    "not_as_described": {"zh": "与描述不符", "en": "not as described"},
    "size": {"zh": "尺码不合适", "en": "wrong size"},
    "changed_mind": {"zh": "不想要了", "en": "changed my mind"},
    "other": {"zh": "其他原因", "en": "other"},
}


def text(key: str, language: Optional[str], **values: object) -> str:
    return render(TEXTS, key, language, **values)


def label(table: dict, key: str, language: Optional[str]) -> str:
    """A code's label; an unknown code (a new status of an external order system) shows as itself."""
    return render(table, key, language) if key in table else key
