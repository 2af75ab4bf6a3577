"""A report's time series, breakdowns and tickets section as CSV (csv module, one header row). Times are ISO 8601 in the
shop's local time, by default the report's own UTC offset (the handoff service's CS_HANDOFF_UTC_OFFSET,
+08:00); rates are fractions 0..1 and durations seconds; an empty cell means "no data" (None)."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from typing import Iterable, List, Optional, Sequence

from handoff.hours import parse_offset
from insight.report import Report, Slice, TicketSlice

SERIES_COLUMNS = ("bucket_start", "bucket_end", "conversations", "contained", "containment_rate", "handoffs",
                  "customer_turns", "fallback_rate", "first_response_p50_seconds", "csat_count", "csat_average",
                  "tickets_opened")
BREAKDOWN_COLUMNS = ("period_start", "period_end", "dimension", "key", "conversations", "contained",
                     "containment_rate", "handed_off", "handoff_rate", "repeat_contact_rate", "customer_turns",
                     "fallback_rate", "bot_response_p50_seconds", "bot_response_p90_seconds", "kb_lookups",
                     "faq_answer_rate", "faq_suggest_rate", "faq_no_answer_rate", "handoffs",
                     "queue_wait_p50_seconds", "queue_wait_p90_seconds", "first_response_p50_seconds",
                     "first_response_p90_seconds", "sla_met", "sla_missed", "sla_compliance",
                     "resolution_p50_seconds", "resolution_p90_seconds", "csat_count", "csat_average")
TICKET_COLUMNS = ("period_start", "period_end", "dimension", "key", "opened", "resolved", "closed_unresolved",
                  "still_open", "overdue", "overdue_open", "overdue_rate", "resolved_on_time", "on_time_rate",
                  "resolution_p50_hours", "resolution_p90_hours", "first_response_p50_hours",
                  "first_response_p90_hours", "reopened", "csat_count", "csat_average")


def iso(at: float, utc_offset_minutes: int) -> str:
    """'2024-05-01T00:00:00+08:00' (to the second)."""
    zone = timezone(timedelta(minutes=utc_offset_minutes))
    return datetime.fromtimestamp(at, zone).isoformat(timespec="seconds")


def _number(value: Optional[float], digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return repr(round(float(value), digits))


def _rate(value: Optional[float]) -> str:
    return _number(value, 4)


def _seconds(value: Optional[float]) -> str:
    return _number(value, 3)


def _offset(report: Report, utc_offset: Optional[str]) -> int:
    return report.utc_offset_minutes if utc_offset is None else parse_offset(utc_offset)


def _write(header: Sequence[str], rows: Iterable[List[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def series_csv(report: Report, utc_offset: Optional[str] = None) -> str:
    """One row per time bucket (tickets_opened: the tickets section's, same buckets). `utc_offset`:
    "+08:00"-style, for the dates (default: the report's)."""
    minutes = _offset(report, utc_offset)
    opened = {point.start: point.opened for point in report.tickets.series}
    return _write(SERIES_COLUMNS, (
        [iso(p.start, minutes), iso(p.end, minutes), str(p.conversations), str(p.contained),
         _rate(p.containment_rate), str(p.handoffs), str(p.customer_turns), _rate(p.fallback_rate),
         _seconds(p.first_response_p50), str(p.csat_count), _number(p.csat_average, 3), str(opened.get(p.start, 0))]
        for p in report.series))


def _slice_cells(s: Slice) -> List[str]:
    return [str(s.conversations), str(s.contained), _rate(s.containment_rate), str(s.handed_off),
            _rate(s.handoff_rate), _rate(s.repeat_contact_rate), str(s.customer_turns), _rate(s.fallback_rate),
            _seconds(s.bot_response.p50), _seconds(s.bot_response.p90), str(s.kb_lookups),
            _rate(s.faq_answer_rate), _rate(s.faq_suggest_rate), _rate(s.faq_no_answer_rate), str(s.handoffs),
            _seconds(s.queue_wait.p50), _seconds(s.queue_wait.p90), _seconds(s.first_response.p50),
            _seconds(s.first_response.p90), str(s.sla_met), str(s.sla_missed), _rate(s.sla_compliance),
            _seconds(s.resolution.p50), _seconds(s.resolution.p90), str(s.csat_count),
            _number(s.csat_average, 3)]


def breakdowns_csv(report: Report, utc_offset: Optional[str] = None) -> str:
    """A first row for the whole report (dimension "total", key "all"), then one row per dimension and
    value, in the report's order; each row carries the report's period."""
    minutes = _offset(report, utc_offset)
    period = [iso(report.filters.start, minutes), iso(report.filters.end, minutes)]
    rows = [[*period, "total", "all", *_slice_cells(report.totals)]]
    rows += [[*period, dimension, row.key, *_slice_cells(row.figures)]
             for dimension, rows_of_dimension in report.breakdowns.items() for row in rows_of_dimension]
    return _write(BREAKDOWN_COLUMNS, rows)


def _ticket_cells(s: TicketSlice) -> List[str]:
    return [str(s.opened), str(s.resolved), str(s.closed_unresolved), str(s.still_open), str(s.overdue),
            str(s.overdue_open), _rate(s.overdue_rate), str(s.resolved_on_time), _rate(s.on_time_rate),
            _seconds(s.resolution_hours.p50), _seconds(s.resolution_hours.p90), _seconds(s.first_response_hours.p50),
            _seconds(s.first_response_hours.p90), str(s.reopened), str(s.csat_count), _number(s.csat_average, 3)]


def tickets_csv(report: Report, utc_offset: Optional[str] = None) -> str:
    """The tickets section: a first row for all the period's tickets (dimension "total", key "all"), then one
    row per department, then per category, most opened first; durations in hours (3 decimals)."""
    minutes = _offset(report, utc_offset)
    period = [iso(report.filters.start, minutes), iso(report.filters.end, minutes)]
    section = report.tickets
    rows = [[*period, "total", "all", *_ticket_cells(section.totals)]]
    rows += [[*period, dimension, row.key, *_ticket_cells(row.figures)]
             for dimension, rows_of_dimension in section.breakdowns.items() for row in rows_of_dimension]
    return _write(TICKET_COLUMNS, rows)
