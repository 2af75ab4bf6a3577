"""tickets/calendar.py: due times in working time, against hand-worked dates in the shop's time zone
(+08:00 unless a test says otherwise). The default calendar is 09:00-18:00, Monday to Friday: a working
day is 9 hours. March 2026: Monday 2nd, Friday 6th, Saturday 7th, Monday 9th, Tuesday 10th."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from tickets.calendar import WEEKDAYS, Due, WorkCalendar

CST = timezone(timedelta(hours=8))
HOUR = 3600.0
DAY = 9 * HOUR  # one working day of the default calendar


def at(day: int, hour: int, minute: int = 0, month: int = 3, tz=CST) -> float:
    """Epoch seconds of 2026-<month>-<day> hour:minute in `tz`."""
    return datetime(2026, month, day, hour, minute, tzinfo=tz).timestamp()


def local(epoch: float, tz=CST) -> str:
    return datetime.fromtimestamp(epoch, tz).strftime("%a %Y-%m-%d %H:%M")


CAL = WorkCalendar()


def test_the_dates_used_here_are_the_weekdays_the_tests_say():
    assert [date(2026, 3, d).strftime("%a") for d in (2, 6, 7, 8, 9, 10)] == ["Mon", "Fri", "Sat", "Sun", "Mon",
                                                                             "Tue"]
    assert WEEKDAYS[date(2026, 3, 4).weekday()] == "wed"


def test_defaults_are_nine_to_six_on_weekdays_in_china_time():
    assert (CAL.open_minute, CAL.close_minute, CAL.weekdays, CAL.utc_offset_minutes) == (540, 1080,
                                                                                        frozenset(range(5)), 480)
    assert CAL.day_seconds == DAY


# --- Due.due_at: the cases of the module docstring and the brief, worked by hand -------------------------
@pytest.mark.parametrize("start, due, expected", [
    # Monday 10:00 + 2 working days: Mon 8 h + Tue 9 h + Wed 1 h -> Wednesday 10:00
    ((2, 10), Due(2, "working_days"), "Wed 2026-03-04 10:00"),
    # Friday 16:00 + 2 working days: Fri 2 h + Mon 9 h + Tue 7 h -> Tuesday 16:00
    ((6, 16), Due(2, "working_days"), "Tue 2026-03-10 16:00"),
    # Saturday: time starts at Monday's opening; 2 whole days end at Tuesday's close
    ((7, 11), Due(2, "working_days"), "Tue 2026-03-10 18:00"),
    ((8, 23), Due(2, "working_days"), "Tue 2026-03-10 18:00"),  # Sunday night too
    # 1 working day from Friday 18:00 (closing): all of Monday
    ((6, 18), Due(1, "working_days"), "Mon 2026-03-09 18:00"),
    # before opening: counts from 09:00 the same day
    ((2, 7), Due(4, "working_hours"), "Mon 2026-03-02 13:00"),
    ((2, 7), Due(1, "working_days"), "Mon 2026-03-02 18:00"),
    # after closing: counts from 09:00 the next working day
    ((2, 19), Due(4, "working_hours"), "Tue 2026-03-03 13:00"),
    ((2, 18), Due(1, "working_hours"), "Tue 2026-03-03 10:00"),
    # Friday after closing: Monday
    ((6, 20), Due(4, "working_hours"), "Mon 2026-03-09 13:00"),
    # working hours across days: Mon 16:00 + 4 h = 2 h Monday + 2 h Tuesday
    ((2, 16), Due(4, "working_hours"), "Tue 2026-03-03 11:00"),
    # ... and across the weekend: Fri 17:00 + 4 h = 1 h Friday + 3 h Monday
    ((6, 17), Due(4, "working_hours"), "Mon 2026-03-09 12:00"),
    # ending exactly at closing stays on that day (not the next morning)
    ((2, 14), Due(4, "working_hours"), "Mon 2026-03-02 18:00"),
    # fractions: half a working day = 4.5 h
    ((2, 9), Due(0.5, "working_days"), "Mon 2026-03-02 13:30"),
    # calendar hours ignore the calendar: Friday 16:00 + 48 h is Sunday 16:00, nights and weekend included
    ((6, 16), Due(48, "hours"), "Sun 2026-03-08 16:00"),
    ((7, 3), Due(2, "hours"), "Sat 2026-03-07 05:00"),
])
def test_due_at_hand_worked(start, due, expected):
    assert local(due.due_at(at(*start), CAL)) == expected


def test_the_minutes_of_the_start_are_kept():
    assert local(Due(1, "working_days").due_at(at(2, 10, 37), CAL)) == "Tue 2026-03-03 10:37"
    assert local(Due(30, "working_hours").due_at(at(2, 9, 1), CAL)) == "Thu 2026-03-05 12:01"  # 9+9+9+3 h


def test_a_holiday_is_skipped():
    holiday = WorkCalendar(holidays=frozenset({date(2026, 3, 3)}))  # Tuesday off
    assert local(Due(2, "working_days").due_at(at(2, 10), holiday)) == "Thu 2026-03-05 10:00"
    # created on the holiday itself: as on a weekend, from the next opening
    assert local(Due(1, "working_days").due_at(at(3, 11), holiday)) == "Wed 2026-03-04 18:00"
    # a long holiday across a weekend: Fri 6 + Mon 9 off; Thu 16:00 + 4 h -> 2 h Thursday, 2 h Tuesday
    bridge = WorkCalendar(holidays=frozenset({date(2026, 3, 6), date(2026, 3, 9)}))
    assert local(Due(4, "working_hours").due_at(at(5, 16), bridge)) == "Tue 2026-03-10 11:00"
    # the plain calendar (no holiday) for comparison
    assert local(Due(4, "working_hours").due_at(at(5, 16), CAL)) == "Fri 2026-03-06 11:00"


def test_other_hours_days_and_time_zone():
    # a back office open 08:30-12:00 Monday to Saturday: a working day is 3.5 h
    short = WorkCalendar(open_minute=8 * 60 + 30, close_minute=12 * 60, weekdays=frozenset(range(6)))
    assert short.day_seconds == 3.5 * HOUR
    # Friday 11:00 + 2 working days (7 h): Fri 1 h, Sat 3.5 h, Mon 2.5 h -> Monday 11:00
    assert local(Due(2, "working_days").due_at(at(6, 11), short)) == "Mon 2026-03-09 11:00"
    # open around the clock every day: working time is calendar time
    always = WorkCalendar(open_minute=0, close_minute=24 * 60, weekdays=frozenset(range(7)))
    start = at(6, 16, 20)
    assert always.add(start, 50 * HOUR) == start + 50 * HOUR
    assert Due(2, "working_days").due_at(start, always) == start + 48 * HOUR
    # the same calendar in UTC-05:00: 09:00-18:00 there
    est = timezone(timedelta(hours=-5))
    new_york = WorkCalendar(utc_offset_minutes=-300)
    start = at(2, 16, tz=est)  # Monday 16:00 in New York is Tuesday 05:00 in Shanghai
    assert local(Due(4, "working_hours").due_at(start, new_york), est) == "Tue 2026-03-03 11:00"
    # ... whereas in +08:00 the same instant is before Tuesday's opening
    assert local(Due(4, "working_hours").due_at(start, CAL)) == "Tue 2026-03-03 13:00"


def test_add_zero_and_negative():
    inside = at(2, 10)
    assert CAL.add(inside, 0) == inside
    assert local(CAL.add(at(7, 12), 0)) == "Mon 2026-03-09 09:00"  # the next moment of working time
    with pytest.raises(ValueError, match="negative"):
        CAL.add(inside, -1)


def test_a_calendar_with_no_working_days_raises():
    with pytest.raises(ValueError, match="working days"):
        WorkCalendar(weekdays=frozenset())
    with pytest.raises(ValueError, match="working days"):
        WorkCalendar(weekdays=frozenset({7}))
    # Mondays only, and every Monday of the next ten years a holiday: no working time to be found
    first = date(2026, 3, 2)
    mondays = frozenset(first + timedelta(weeks=w) for w in range(600))
    none_left = WorkCalendar(weekdays=frozenset({0}), holidays=mondays)
    with pytest.raises(ValueError, match="no working time"):
        none_left.add(at(2, 10), HOUR)
    with pytest.raises(ValueError, match="no working time"):
        Due(1, "working_days").due_at(at(2, 10), none_left)
    assert Due(1, "hours").due_at(at(2, 10), none_left) == at(2, 11)  # calendar hours never ask it


@pytest.mark.parametrize("open_minute, close_minute", [(18 * 60, 9 * 60), (9 * 60, 9 * 60), (-1, 600),
                                                       (600, 24 * 60 + 1)])
def test_working_hours_must_be_a_span_within_the_day(open_minute, close_minute):
    with pytest.raises(ValueError, match="working hours"):
        WorkCalendar(open_minute=open_minute, close_minute=close_minute)


# --- working_seconds_between ------------------------------------------------------------------------------
@pytest.mark.parametrize("start, end, hours", [
    ((2, 10), (4, 10), 18),  # Monday 10:00 -> Wednesday 10:00: two working days
    ((6, 16), (10, 16), 18),  # Friday 16:00 -> Tuesday 16:00 over the weekend
    ((7, 9), (8, 20), 0),  # the weekend alone
    ((2, 7), (2, 8), 0),  # before opening
    ((2, 18), (3, 9), 0),  # the night
    ((2, 8), (2, 20), 9),  # a whole day, from before opening to after closing
    ((2, 11), (2, 11, 30), 0.5),
    ((6, 17), (9, 12), 4),  # Friday 17:00 -> Monday 12:00
])
def test_working_seconds_between(start, end, hours):
    assert CAL.working_seconds_between(at(*start), at(*end)) == hours * HOUR


def test_working_seconds_between_an_end_before_the_start_is_zero_and_holidays_count_nothing():
    assert CAL.working_seconds_between(at(4, 10), at(2, 10)) == 0
    assert CAL.working_seconds_between(at(2, 10), at(2, 10)) == 0
    holiday = WorkCalendar(holidays=frozenset({date(2026, 3, 3)}))
    assert holiday.working_seconds_between(at(2, 10), at(4, 10)) == 9 * HOUR


@pytest.mark.parametrize("start", [(2, 10), (6, 16, 45), (7, 3), (2, 18), (2, 6, 15)])
@pytest.mark.parametrize("amount", [0.25, 1, 4, 9, 13.5, 40])
def test_add_and_working_seconds_between_agree(start, amount):
    holiday = WorkCalendar(holidays=frozenset({date(2026, 3, 10)}))
    begin = at(*start)
    for calendar in (CAL, holiday):
        end = calendar.add(begin, amount * HOUR)
        assert end > begin
        assert calendar.working_seconds_between(begin, end) == pytest.approx(amount * HOUR)


# --- Due ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("due, zh, en", [
    (Due(2, "working_days"), "2 个工作日", "2 working days"),
    (Due(1, "working_days"), "1 个工作日", "1 working day"),
    (Due(4, "working_hours"), "4 个工作小时", "4 working hours"),
    (Due(1, "working_hours"), "1 个工作小时", "1 working hour"),
    (Due(1.5, "hours"), "1.5 小时", "1.5 hours"),
    (Due(1, "hours"), "1 小时", "1 hour"),
    (Due(2.0, "working_days"), "2 个工作日", "2 working days"),  # no "2.0"
])
def test_due_describe(due, zh, en):
    assert due.describe("zh") == zh
    assert due.describe("en") == en


def test_due_is_validated():
    with pytest.raises(ValueError, match="due unit 'weeks'"):
        Due(1, "weeks")
    for amount in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="due time"):
            Due(amount, "working_days")


# --- Due.extend: the due time after a wait on the customer ----------------------------------------------
@pytest.mark.parametrize("due, due_at, start, end, expected", [
    # 3 working hours waited (Monday 15:00-18:00): Wednesday 10:00 -> 13:00
    (Due(2, "working_days"), (4, 10), (2, 15), (2, 20), "Wed 2026-03-04 13:00"),
    # Friday 17:00 -> Monday 10:00 is 2 working hours: Tuesday 17:00 -> Wednesday 10:00
    (Due(1, "working_days"), (10, 17), (6, 17), (9, 10), "Wed 2026-03-11 10:00"),
    # the weekend alone moves a working-time due time by nothing
    (Due(4, "working_hours"), (10, 17), (7, 9), (8, 20), "Tue 2026-03-10 17:00"),
    # plain hours count every second waited, weekend and night included: 35 hours
    (Due(48, "hours"), (10, 17), (7, 9), (8, 20), "Thu 2026-03-12 04:00"),
    # an end before the start (clocks of two machines) moves nothing
    (Due(1, "hours"), (10, 17), (2, 12), (2, 11), "Tue 2026-03-10 17:00"),
])
def test_extend_moves_the_due_time_by_the_wait_as_the_category_counts_time(due, due_at, start, end, expected):
    assert local(due.extend(at(*due_at), at(*start), at(*end), CAL)) == expected


def test_extend_from_a_due_time_at_closing_goes_on_the_next_working_morning():
    closing = at(6, 18)  # Friday's close
    assert Due(1, "working_days").extend(closing, at(2, 10), at(2, 11), CAL) == at(9, 10)
    assert Due(1, "working_days").extend(closing, at(7, 10), at(7, 11), CAL) == closing  # waited on Saturday only
