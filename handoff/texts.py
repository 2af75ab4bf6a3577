"""What the handoff service itself says to customers (in their language): their place in line, an
agent joining, a transfer. The bot's own texts live in actions/texts.py."""
from __future__ import annotations

import math
from typing import Optional

# Reason codes of a handoff (stable strings: they end up in routing, metrics and dashboards).
REASONS = ("customer_request", "complaint", "escalation", "negative_sentiment", "low_confidence", "vip",
           "order_request")


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def position(language: str, place: int, eta_seconds: Optional[float]) -> str:
    if language == "en":
        wait = f", about {_minutes(eta_seconds)} min" if eta_seconds else ""
        return f"You are now number {place} in line{wait}. Thank you for waiting."
    wait = f"，预计约 {_minutes(eta_seconds)} 分钟" if eta_seconds else ""
    return f"您现在排在第 {place} 位{wait}，感谢耐心等待。"


def joined(language: str, agent_name: str) -> str:
    if language == "en":
        return f"{agent_name} from customer service has joined and has read your conversation."
    return f"客服 {agent_name} 已接入，并已查看您之前的对话。"


def transferred(language: str) -> str:
    if language == "en":
        return "Your conversation is being passed to a colleague who can help better; please hold on."
    return "正在为您转接更合适的同事，请稍候。"
