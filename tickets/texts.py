"""What the customer is told about their ticket, in their language (zh, or en). Times are the shop's
local time (the calendar's UTC offset)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

_WEEKDAYS_ZH = "一二三四五六日"


def when(epoch: float, language: str, utc_offset_minutes: int) -> str:
    local = datetime.fromtimestamp(epoch, timezone(timedelta(minutes=utc_offset_minutes)))
    if language == "en":
        return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"
    return f"{local.month}月{local.day}日（周{_WEEKDAYS_ZH[local.weekday()]}）{local:%H:%M}"


def created(language: str, number: str, category: str, due: str) -> str:
    if language == "en":
        return (f"Your request is now ticket {number} ({category}). We will get back to you by {due}; you will "
                f"hear from us here on every step. Quote {number} any time.")
    return (f"您的问题已登记为工单 {number}（{category}），我们会在 {due} 前给您答复，"
            f"每一步进展都会在这里通知您。如需查询请提供工单号 {number}。")


def in_progress(language: str, number: str) -> str:
    if language == "en":
        return f"Ticket {number}: a colleague is now working on it."
    return f"工单 {number}：同事已开始处理。"


def reopened(language: str, number: str) -> str:
    if language == "en":
        return f"Ticket {number} is open again; we are working on it."
    return f"工单 {number} 已重新打开，我们正在继续处理。"


def waiting(language: str, number: str, question: str) -> str:
    if language == "en":
        return f"Ticket {number}: we need something from you to go on.\n{question}\nPlease just reply here."
    return f"工单 {number}：需要您补充信息才能继续处理。\n{question}\n请直接在这里回复。"


def update(language: str, number: str, text: str) -> str:
    if language == "en":
        return f"Ticket {number} update: {text}"
    return f"工单 {number} 进展：{text}"


def resolved(language: str, number: str, resolution: str) -> str:
    if language == "en":
        return f"Ticket {number} is resolved: {resolution}"
    return f"工单 {number} 已解决：{resolution}"


def closed(language: str, number: str) -> str:
    if language == "en":
        return f"Ticket {number} is closed. Thank you for your patience."
    return f"工单 {number} 已关闭，感谢您的耐心。"


def closed_unresolved(language: str, number: str, reason: str) -> str:
    if language == "en":
        return f"Ticket {number} is closed: {reason}"
    return f"工单 {number} 已关闭：{reason}"


def reply_received(language: str, number: str) -> str:
    if language == "en":
        return f"Thank you, your reply is added to ticket {number}; the colleague handling it will carry on."
    return f"已收到，您的回复已补充到工单 {number}，处理的同事会继续跟进。"


STATUS_WORDS = {
    "open": ("已登记，等待处理", "registered, waiting to be worked on"),
    "in_progress": ("处理中", "being worked on"),
    "waiting_customer": ("等待您补充信息", "waiting for information from you"),
    "resolved": ("已解决", "resolved"),
    "closed": ("已关闭", "closed"),
}


def status_line(language: str, number: str, category: str, status: str, due: str, done: bool) -> str:
    """One ticket as the customer asking about it reads it."""
    zh, en = STATUS_WORDS[status]
    if language == "en":
        return f"Ticket {number} ({category}): {en}" + ("." if done else f", answer due by {due}.")
    return f"工单 {number}（{category}）：{zh}" + ("。" if done else f"，预计 {due} 前答复。")


def waiting_line(language: str, number: str, category: str, question: str) -> str:
    """A ticket waiting on the customer, as they read it when asking: what it waits for (no due time:
    its clock is stopped until they answer)."""
    if language == "en":
        return f"Ticket {number} ({category}): waiting for information from you: {question}"
    return f"工单 {number}（{category}）：等待您补充信息：{question}"


def reply_prompt(language: str, number: str) -> str:
    """After the lookup of the one ticket waiting on them: their next message goes to it."""
    if language == "en":
        return f"Just reply here with it and I will add it to ticket {number}."
    return f"请直接在这里回复，我会把它补充到工单 {number}。"


def lookup(language: str, lines: list, number: str = "") -> str:
    if number and not lines:
        if language == "en":
            return f"I found no ticket {number} of yours. Please check the number, or ask for a person."
        return f"没有找到您的工单 {number}，请核对工单号，或转人工客服。"
    if not lines:
        return "You have no open tickets." if language == "en" else "您目前没有进行中的工单。"
    return "\n".join(lines)
