"""Working time: due times like "2 working days" or "4 working hours" on the back office's calendar
(working hours on working weekdays, in the shop's time zone, minus holidays). Pure functions of
epoch seconds, so they are tested against hand-worked dates.

"N working days" is N times the length of a working day in working time: a ticket opened on Monday at
10:00 with 2 working days is due on Wednesday at 10:00; one opened on Saturday is due at the close of
Tuesday (time starts at Monday's opening).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import FrozenSet, Tuple

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WorkCalendar:
    open_minute: int = 9 * 60  # local time, minutes after midnight
    close_minute: int = 18 * 60
    weekdays: FrozenSet[int] = frozenset(range(5))  # 0 = Monday
    holidays: FrozenSet[date] = field(default_factory=frozenset)
    utc_offset_minutes: int = 8 * 60

    def __post_init__(self) -> None:
        if not 0 <= self.open_minute < self.close_minute <= 24 * 60:
            raise ValueError("working hours: opening must come before closing, within 00:00-24:00")
        if not self.weekdays or not set(self.weekdays) <= set(range(7)):
            raise ValueError("working days: give at least one of mon..sun")

    @property
    def day_seconds(self) -> float:
        return (self.close_minute - self.open_minute) * 60.0

    def _tz(self) -> timezone:
        return timezone(timedelta(minutes=self.utc_offset_minutes))

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def _span(self, day: date) -> Tuple[float, float]:
        """(opening, closing) of a day in epoch seconds."""
        midnight = datetime(day.year, day.month, day.day, tzinfo=self._tz()).timestamp()
        return midnight + self.open_minute * 60, midnight + self.close_minute * 60

    def add(self, start: float, seconds: float) -> float:
        """The moment `seconds` of working time after `start`."""
        if seconds < 0:
            raise ValueError("working time to add must not be negative")
        day = datetime.fromtimestamp(start, self._tz()).date()
        left = float(seconds)
        for _ in range(3700):  # ten years of days: a calendar with no working day left stops here
            if self.is_working_day(day):
                opening, closing = self._span(day)
                begin = max(start, opening)
                if begin < closing:
                    if begin + left <= closing:
                        return begin + left
                    left -= closing - begin
            day += timedelta(days=1)
        raise ValueError("no working time in the next ten years: check the working days and holidays")

    def working_seconds_between(self, start: float, end: float) -> float:
        """Working time from `start` to `end` (0 when end <= start)."""
        if end <= start:
            return 0.0
        total = 0.0
        day = datetime.fromtimestamp(start, self._tz()).date()
        last = datetime.fromtimestamp(end, self._tz()).date()
        while day <= last:
            if self.is_working_day(day):
                opening, closing = self._span(day)
                total += max(0.0, min(end, closing) - max(start, opening))
            day += timedelta(days=1)
        return total


@dataclass(frozen=True)
class Due:
    """How long a category may take: working days, working hours or plain (calendar) hours."""
    amount: float
    unit: str  # "working_days" | "working_hours" | "hours"

    UNITS = ("working_days", "working_hours", "hours")

    def __post_init__(self) -> None:
        if self.unit not in self.UNITS:
            raise ValueError(f"due unit {self.unit!r}: one of {', '.join(self.UNITS)}")
        if not (self.amount > 0 and math.isfinite(self.amount)):
            raise ValueError("a due time must be a positive number")

    def due_at(self, start: float, calendar: WorkCalendar) -> float:
        if self.unit == "hours":
            return start + self.amount * 3600
        seconds = self.amount * (calendar.day_seconds if self.unit == "working_days" else 3600)
        return calendar.add(start, seconds)

    def extend(self, due_at: float, start: float, end: float, calendar: WorkCalendar) -> float:
        """`due_at` moved on by the time from `start` to `end` (a wait on the customer), counted as this due
        time counts: plain seconds for hours, working time for working days and hours (a wait over a
        weekend moves a working-day due time by nothing)."""
        if end <= start:
            return due_at
        if self.unit == "hours":
            return due_at + (end - start)
        waited = calendar.working_seconds_between(start, end)
        return calendar.add(due_at, waited) if waited > 0 else due_at

    def describe(self, language: str) -> str:
        amount = f"{self.amount:g}"
        if language == "en":
            words = {"working_days": "working day", "working_hours": "working hour", "hours": "hour"}[self.unit]
            return f"{amount} {words}{'' if self.amount == 1 else 's'}"
        return amount + {"working_days": " 个工作日", "working_hours": " 个工作小时", "hours": " 小时"}[self.unit]
