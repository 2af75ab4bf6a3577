"""Business hours from configuration text: "09:00-22:00" (every day) and a UTC offset "+08:00"."""
from __future__ import annotations

import re
from typing import Tuple

from handoff.routing import BusinessHours


class HoursError(ValueError):
    """The hours or offset text is malformed (the message shows the expected form)."""


_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_OFFSET = re.compile(r"^\s*([+-])(\d{1,2}):(\d{2})\s*$")


def parse_hours(text: str) -> Tuple[int, int]:
    """(open, close) in minutes after midnight; close may be 24:00."""
    m = _SPAN.match(text or "")
    if not m:
        raise HoursError(f"hours {text!r}: expected HH:MM-HH:MM, e.g. 09:00-22:00")
    h1, m1, h2, m2 = map(int, m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or not 0 <= start < end <= 24 * 60:
        raise HoursError(f"hours {text!r}: opening must come before closing, within 00:00-24:00")
    return start, end


def parse_offset(text: str) -> int:
    """Minutes east of UTC."""
    m = _OFFSET.match(text or "")
    if not m:
        raise HoursError(f"UTC offset {text!r}: expected +HH:MM or -HH:MM, e.g. +08:00")
    sign, h, mins = m.groups()
    minutes = int(h) * 60 + int(mins)
    if int(mins) > 59 or minutes > 14 * 60:
        raise HoursError(f"UTC offset {text!r}: out of range")
    return minutes if sign == "+" else -minutes


def business_hours(hours: str, utc_offset: str) -> BusinessHours:
    span = parse_hours(hours)
    return BusinessHours(utc_offset_minutes=parse_offset(utc_offset), hours={d: span for d in range(7)})
