"""Pure functions from order values to what the customer sees, and from what they type to codes.

Personal data shown back is only what the customer needs: the recipient's name and the street are
masked (`张*`, `上海市 浦东新区 ****`), the phone is never shown.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Iterable, List, Optional, Sequence

from actions.order_texts import REASON_LABELS, STATUS_LABELS, TYPE_LABELS, label, text
from common.masking import mask_pii
from orders.model import AfterSalesRequest, LogisticsEvent, Order, OrderItem

SHOP_TIME = timezone(timedelta(hours=8), "CST")  # the shop's customers read China time


def mask_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        return ""
    if re.search(r"[\u4e00-\u9fff]", name):
        return name[0] + "*" * max(1, len(name) - 1)
    first = name.split()[0]
    return f"{first[0]}***" if len(name.split()) == 1 else f"{first} {name.split()[-1][0]}."


def masked_address(order: Order) -> str:
    a = order.address
    city = "" if a.city == a.province else a.city
    return " ".join(p for p in (a.province, city, a.district) if p) + " ****"


# Carriers as Chinese customers know them, and their English names.
CARRIERS_EN = {"顺丰速运": "SF Express", "中通快递": "ZTO Express", "京东物流": "JD Logistics",
               "圆通速递": "YTO Express", "韵达快递": "Yunda Express", "申通快递": "STO Express",
               "EMS": "China Post EMS"}


def carrier_name(carrier: Optional[str], language: Optional[str]) -> str:
    if not carrier:
        return "-"
    return CARRIERS_EN.get(carrier, carrier) if language == "en" else carrier


def money(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def when(value: Optional[datetime], language: Optional[str]) -> str:
    if value is None:
        return "-"
    local = value.astimezone(SHOP_TIME)
    if language == "en":
        return f"{local.day} {local:%b %H:%M}"
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def item_list(items: Sequence[OrderItem], language: Optional[str]) -> str:
    sep = "、" if language != "en" else ", "
    return sep.join(f"{i.name(language)} ×{i.quantity}" for i in items)


def status_label(status: str, language: Optional[str]) -> str:
    return label(STATUS_LABELS, status, language)


def render_status(order: Order, events: Sequence[LogisticsEvent], language: Optional[str]) -> str:
    extra = ""
    if order.status == "shipped":
        latest = mask_pii(events[-1].description(language)) if events else status_label("shipped", language)
        extra = text("status_extra_shipped", language, carrier=carrier_name(order.carrier, language),
                     tracking=order.tracking_number or "-", latest=latest)
    elif order.delivered_at is not None:
        extra = text("status_extra_delivered", language, delivered=when(order.delivered_at, language))
    elif order.status == "pending_payment":
        extra = text("status_extra_pending", language)
    elif order.status == "paid":
        extra = text("status_extra_paid", language)
    return text("status", language, order=order.number, status=status_label(order.status, language),
                items=item_list(order.items, language), total=money(order.total),
                created=when(order.created_at, language), extra=extra,
                recipient=mask_name(order.address.recipient), address=masked_address(order))


def render_logistics(order: Order, events: Sequence[LogisticsEvent], language: Optional[str],
                     limit: int = 5) -> str:
    if order.shipped_at is None or not events:
        return text("logistics_not_shipped", language, order=order.number,
                    status=status_label(order.status, language))
    shown = list(events)[-limit:][::-1]  # newest first
    # Carriers' texts may carry a courier's phone number: masked like any other.
    lines = "\n".join(f"· {when(e.time, language)} {mask_pii(e.description(language))}" for e in shown)
    reply = text("logistics", language, order=order.number, carrier=carrier_name(order.carrier, language),
                 tracking=order.tracking_number or "-", events=lines)
    if events[-1].code == "exception":
        reply += "\n" + text("logistics_exception", language)
    return reply


def order_button_title(order: Order, language: Optional[str], item: Optional[OrderItem] = None) -> str:
    what = (item or order.items[0]).name(language)
    if item is None and len(order.items) > 1:
        what += " +" + str(len(order.items) - 1)
    return f"{order.number} · {what} · {status_label(order.status, language)}"


def reason_buttons(language: Optional[str]) -> List[dict]:
    return [{"title": label(REASON_LABELS, code, language),
             "payload": '/inform{"aftersales_reason": "%s"}' % code} for code in REASON_LABELS]


def type_label(kind: str, language: Optional[str]) -> str:
    return label(TYPE_LABELS, kind, language)


def reason_label(code: str, language: Optional[str]) -> str:
    return label(REASON_LABELS, code, language)


# --- reading what the customer typed ------------------------------------------------------------

_TYPE_WORDS = (
    ("exchange", re.compile(r"换货|换一个|换个|调换|换尺码|换码|exchange|swap|replace", re.I)),
    ("refund", re.compile(r"仅退款|只退款|退款|退钱|refund|money back", re.I)),
    ("return", re.compile(r"退货|退回|寄回|return|send (it )?back", re.I)),
)
_REASON_WORDS = (
    ("damaged", re.compile(r"破|碎|裂|坏了|压坏|摔坏|损坏|damag|broken|cracked|smashed", re.I)),
    ("wrong_item", re.compile(r"发错|错发|不是我买的|颜色不对|型号不对|wrong (item|colou?r|model|size sent)", re.I)),
    ("size", re.compile(r"尺码|尺寸|太大|太小|偏大|偏小|不合脚|size|too (small|big|large|tight|loose)", re.I)),
    ("defective", re.compile(r"质量|不能用|用不了|没反应|开不了机|不工作|故障|失灵|充不进|defect|faulty|doesn.?t work|"
                             r"not working|stopped working|won.?t (turn on|charge)", re.I)),
    ("not_as_described", re.compile(r"不符|描述|图片|色差|假货|not as (described|pictured)|different from", re.I)),
    ("changed_mind", re.compile(r"不想要|不要了|不需要|买多了|买错|后悔|change(d)? my mind|don.?t (want|need)|"
                                r"no longer need|bought by mistake", re.I)),
)
_QUESTION = re.compile(r"[?？]|吗|怎么|如何|多久|多长|什么时候|能不能|可以吗|"
                       r"^(how|what|when|where|can|do|does|is|are)\b", re.I)


def service_type_of(message: str) -> str:
    """return / refund / exchange from the customer's own words; return when they don't say."""
    for kind, pattern in _TYPE_WORDS:
        if pattern.search(message or ""):
            return kind
    return "return"


def reason_of(message: str) -> str:
    for code, pattern in _REASON_WORDS:
        if pattern.search(message or ""):
            return code
    return "other"


def looks_like_question(message: str) -> bool:
    return bool(_QUESTION.search((message or "").strip()))


def pick_item(order: Order, message: str, language: Optional[str] = None) -> Optional[str]:
    """The sku of the one item whose name (or sku) the message mentions, if exactly one matches."""
    lowered = (message or "").lower()
    hits = []
    for item in order.items:
        names = [item.sku.lower(), item.name_zh.lower(), item.name_en.lower()]
        words = [w for n in names for w in re.split(r"[\s,，]+", n) if len(w) >= 2]
        said = lowered.strip(" 。.!！")
        if any(w in lowered for w in words) or (len(said) >= 2 and any(said in n for n in names)):
            hits.append(item.sku)
    return hits[0] if len(hits) == 1 else None


def open_requests(requests: Iterable[AfterSalesRequest]) -> List[AfterSalesRequest]:
    return [r for r in requests if r.state in ("open", "approved")]
