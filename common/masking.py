"""Masking of personal data (phone numbers, ID numbers, e-mail) in logs, summaries and replies."""
from __future__ import annotations

import re

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
# Mainland resident ID: 17 digits + digit or X.
_ID_CARD = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)")
# ASCII look-arounds, not \b: Chinese text runs straight into an address ("邮箱是abc@example.com").
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*"
                    r"(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})(?![A-Za-z0-9-])")


def mask_phone(phone: str) -> str:
    """'13812345678' -> '138****5678'; anything else is returned with its digits masked."""
    m = _PHONE.fullmatch(phone or "")
    if m:
        return f"{m.group(1)}****{m.group(3)}"
    return re.sub(r"\d(?=\d{4})", "*", phone or "")


def mask_pii(text: str) -> str:
    """Mask every phone number, ID-card number and e-mail address inside free text."""
    if not text:
        return text
    text = _ID_CARD.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***{m.group(2)}", text)
