"""What insight.metrics.compute returns: the figures of one slice of the data (`Slice`), for the whole
report, per value of each breakdown dimension and per time bucket, and the tickets section
(`TicketsSection`: `TicketSlice` overall, by department and by category, tickets opened per bucket);
`Report.to_dict()` is JSON-able. Every rate and percentile is None when there is nothing to compute it
from (never 0 or NaN)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, Mapping, Optional, Tuple

from insight.model import Filters

CSAT_SCORES = (1, 2, 3, 4, 5)
DIMENSIONS = ("channel", "language", "queue", "tier", "reason")
TICKET_DIMENSIONS = ("department", "category")


@dataclass(frozen=True)
class Durations:
    """How many values, their median and 90th percentile (nearest rank). Seconds, but in the tickets
    section (TicketSlice), whose durations are hours (fields named …_hours)."""
    count: int
    p50: Optional[float]
    p90: Optional[float]


@dataclass(frozen=True)
class Slice:
    # conversations (started in the range)
    conversations: int
    contained: int  # not handed over
    containment_rate: Optional[float]
    handed_off: int
    handoff_rate: Optional[float]
    repeat_contacts: int  # the customer had another conversation starting within the 24 h before
    repeat_contact_rate: Optional[float]
    # the customers' messages in those conversations
    customer_turns: int
    fallback_turns: int
    fallback_rate: Optional[float]
    bot_response: Durations
    # knowledge-base lookups (made in the range)
    kb_lookups: int
    kb_answered: int
    kb_suggested: int
    kb_no_answer: int  # decision none or unavailable
    kb_unavailable: int  # of which the knowledge base was unavailable
    faq_answer_rate: Optional[float]
    faq_suggest_rate: Optional[float]
    faq_no_answer_rate: Optional[float]
    # conversations with people (created in the range)
    handoffs: int
    tickets: int  # of which still a ticket (left while nobody could answer, not taken yet)
    queue_wait: Durations  # created -> accepted
    first_response: Durations  # created -> first agent message
    resolution: Durations  # created -> closed or handed back
    sla_met: int
    sla_missed: int
    sla_pending: int  # no response yet, still within the target: not counted
    sla_compliance: Optional[float]  # met / (met + missed)
    csat_count: int
    csat_average: Optional[float]
    csat_distribution: Mapping[int, int]  # score 1..5 -> answers

    def to_dict(self) -> Dict[str, Any]:
        result = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("bot_response", "queue_wait", "first_response", "resolution"):
            result[name] = asdict(result[name])
        result["csat_distribution"] = {str(k): v for k, v in self.csat_distribution.items()}
        return result


@dataclass(frozen=True)
class BreakdownRow:
    key: str  # the dimension's value ("unknown" when not recorded, "(none)" for queue/reason of bot-only)
    figures: Slice

    def to_dict(self) -> Dict[str, Any]:
        return {"key": self.key, **self.figures.to_dict()}


@dataclass(frozen=True)
class SeriesPoint:
    start: float  # bucket [start, end), aligned to the report's UTC offset
    end: float
    conversations: int
    contained: int
    containment_rate: Optional[float]
    handoffs: int
    customer_turns: int
    fallback_rate: Optional[float]
    first_response_p50: Optional[float]
    csat_count: int
    csat_average: Optional[float]

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TicketSlice:
    """The tickets created in the range (of one department, category or bucket), as they are now."""
    opened: int
    resolved: int  # resolved now (status resolved, or closed after its resolution)
    closed_unresolved: int  # closed by a supervisor without a resolution (duplicate, withdrawn)
    still_open: int  # open, in progress or waiting for the customer
    overdue: int  # still open and past due now, or finished after the due time
    overdue_open: int  # of which still open
    overdue_rate: Optional[float]  # overdue / opened
    resolved_on_time: int  # resolved by the due time
    on_time_rate: Optional[float]  # resolved_on_time / resolved
    resolution_hours: Durations  # created -> resolved, hours
    first_response_hours: Durations  # created -> first reply or status change an agent sent the customer, hours
    reopened: int  # tickets taken from resolved back to in progress at least once
    csat_count: int
    csat_average: Optional[float]

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TicketRow:
    key: str  # the department's or category's name
    figures: TicketSlice

    def to_dict(self) -> Dict[str, Any]:
        return {"key": self.key, **self.figures.to_dict()}


@dataclass(frozen=True)
class TicketPoint:
    start: float  # the report's buckets
    end: float
    opened: int

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TicketsSection:
    totals: TicketSlice
    breakdowns: Mapping[str, Tuple[TicketRow, ...]]  # department | category -> rows, most opened first
    series: Tuple[TicketPoint, ...]  # tickets opened per bucket of the report's series

    def to_dict(self) -> Dict[str, Any]:
        return {"totals": self.totals.to_dict(),
                "breakdowns": {dim: [row.to_dict() for row in rows] for dim, rows in self.breakdowns.items()},
                "series": [point.to_dict() for point in self.series]}


@dataclass(frozen=True)
class Report:
    filters: Filters
    now: float  # when computed: open handoffs are judged against it (SLA)
    bucket: str  # "hour" | "day": the time series' step
    utc_offset_minutes: int  # local time of the buckets (days start at local midnight)
    totals: Slice
    handoff_rate_by_reason: Mapping[str, float]  # conversations handed over for that reason / conversations
    breakdowns: Mapping[str, Tuple[BreakdownRow, ...]]  # dimension -> rows, most conversations first
    series: Tuple[SeriesPoint, ...]
    tickets: TicketsSection  # tickets created in the range (channel, language and tier filters only)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "filters": asdict(self.filters), "now": self.now, "bucket": self.bucket,
            "utc_offset_minutes": self.utc_offset_minutes, "totals": self.totals.to_dict(),
            "handoff_rate_by_reason": dict(self.handoff_rate_by_reason),
            "breakdowns": {dim: [row.to_dict() for row in rows] for dim, rows in self.breakdowns.items()},
            "series": [point.to_dict() for point in self.series],
            "tickets": self.tickets.to_dict(),
        }
