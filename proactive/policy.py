"""May this notification be sent now? Pure: every fact (the customer's reach, opt-out, what they got
lately, the clock) is passed in.

In this order:
1. opted out ("退订"/"stop")                                 -> skip "opted_out"
2. no channel known for the customer (never wrote to us)       -> skip "no_channel"
3. their latest channel cannot push (web widget, REST)         -> skip "channel_cannot_push"
4. older than `max_age_hours` (waited too long, e.g. postponed)-> skip "expired"
5. quiet hours in the shop's time zone                         -> postpone to the end of quiet hours
6. WeChat OA and the customer's last message on it over
   `window_hours` (48: WeChat's customer-service window) ago   -> skip "outside_window"
7. `rate_count` notifications already sent to this customer
   in the last `rate_hours` (0: no limit)                      -> skip "rate_limited"
otherwise send.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional, Tuple

from proactive.model import Candidate, Decision, Reach

PUSH_CHANNELS = frozenset({"wechat", "wecom", "app"})
WINDOW_CHANNELS = frozenset({"wechat"})  # WeCom application messages and the app have no such window
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_quiet_hours(text: str) -> Optional[Tuple[int, int]]:
    """(start, end) in minutes after midnight, the span may wrap past midnight ("22:00-08:00");
    None for "off". ValueError when malformed."""
    if (text or "").strip().lower() in ("off", "none", ""):
        return None
    m = _SPAN.match(text)
    if not m:
        raise ValueError(f"quiet hours {text!r}: expected HH:MM-HH:MM (e.g. 22:00-08:00) or 'off'")
    h1, m1, h2, m2 = map(int, m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or not (0 <= start < 24 * 60 and 0 <= end <= 24 * 60) or start == end:
        raise ValueError(f"quiet hours {text!r}: two different times within 00:00-24:00")
    return start, end


@dataclass(frozen=True)
class PolicyConfig:
    quiet: Optional[Tuple[int, int]] = (22 * 60, 8 * 60)
    utc_offset_minutes: int = 8 * 60
    window_hours: float = 48.0
    rate_count: int = 2
    rate_hours: float = 24.0
    max_age_hours: float = 72.0


def quiet_until(now: datetime, config: PolicyConfig) -> Optional[datetime]:
    """The end of the quiet hours `now` falls in, or None when it is not in quiet hours."""
    if config.quiet is None:
        return None
    start, end = config.quiet
    local = now.astimezone(timezone(timedelta(minutes=config.utc_offset_minutes)))
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    end_today = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(minutes=end)
    if end_today <= local:
        end_today += timedelta(days=1)
    return end_today.astimezone(timezone.utc)


def decide(candidate: Candidate, *, now: datetime, happened_at: datetime, reach: Optional[Reach],
           opted_out: bool, sent_recently: int, config: PolicyConfig = PolicyConfig()) -> Decision:
    if opted_out:
        return Decision.skip("opted_out")
    if reach is None:
        return Decision.skip("no_channel")
    if reach.channel not in PUSH_CHANNELS:
        return Decision.skip("channel_cannot_push")
    if now - happened_at > timedelta(hours=config.max_age_hours):
        return Decision.skip("expired")
    until = quiet_until(now, config)
    if until is not None:
        return Decision("postpone", "quiet_hours", until)
    if reach.channel in WINDOW_CHANNELS and (
            reach.last_inbound is None or now - reach.last_inbound > timedelta(hours=config.window_hours)):
        return Decision.skip("outside_window")
    if config.rate_count > 0 and sent_recently >= config.rate_count:
        return Decision.skip("rate_limited")
    return Decision.send()
