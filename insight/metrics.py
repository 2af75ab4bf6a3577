"""The service metrics: pure functions from insight's records to a `Report` (insight/report.py).
Definitions: insight/__init__.py."""
from __future__ import annotations

import math
from bisect import bisect_right
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, TypeVar

from handoff import routing
from insight.model import DAY, Filters, HandoffRecord, KbLookup, Session, TicketRecord
from insight.report import (
    CSAT_SCORES,
    DIMENSIONS,
    TICKET_DIMENSIONS,
    BreakdownRow,
    Durations,
    Report,
    SeriesPoint,
    Slice,
    TicketPoint,
    TicketRow,
    TicketSlice,
    TicketsSection,
)
from tickets.model import WAITING, clock_time

__all__ = ["compute", "percentile", "durations", "Report"]

HOUR = 3600.0
REPEAT_WINDOW = DAY
UNKNOWN = "unknown"
NONE_KEY = "(none)"  # queue / reason of a conversation the bot kept
OPEN_TICKET = ("open", "in_progress", "waiting_customer")  # not resolved, not closed
AGENT_ACTIONS = ("reply", "status")  # what an agent's first answer to a ticket can be
TICKET_FILTERS = ("channel", "language", "tier")  # a ticket has no queue
T = TypeVar("T")


def percentile(values: Iterable[float], p: int) -> Optional[float]:
    """Nearest-rank percentile: the smallest value with at least p % of the values at or below it, i.e.
    the ceil(p/100 * n)-th smallest (1-based); always one of the values. None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    if not 0 < p <= 100:
        raise ValueError("a percentile is in (0, 100]")
    rank = max(1, -(-p * len(ordered) // 100))  # ceil in integers: no float rounding at the edges
    return ordered[rank - 1]


def durations(values: Iterable[float]) -> Durations:
    values = list(values)
    return Durations(len(values), percentile(values, 50), percentile(values, 90))


def ratio(part: int, whole: int) -> Optional[float]:
    return part / whole if whole else None


def sla_outcome(handoff: HandoffRecord, now: float) -> Optional[str]:
    """"met" (first agent message within the queue's target), "missed" (later, or none yet and the
    target has passed), None (none yet and still within the target, or no target known) — the rule
    of the console, handoff/routing.sla_state."""
    if not handoff.sla_target_seconds or handoff.sla_target_seconds <= 0:
        return None
    queue = routing.Queue(handoff.queue, handoff.queue, 0, handoff.sla_target_seconds)
    state, _ = routing.sla_state(queue, handoff.created_at, now, handoff.first_response_at)
    if state == "met":
        return "met"
    if state in ("missed", "breached"):
        return "missed"
    return None


# --- which slice a record belongs to ---------------------------------------------------------------
def session_key(session: Session, dimension: str) -> str:
    if dimension in ("queue", "reason"):
        value = session.handoff_queue if dimension == "queue" else session.handoff_reason
        return value or (UNKNOWN if session.handed_off else NONE_KEY)
    return getattr(session, dimension) or UNKNOWN


def handoff_key(handoff: HandoffRecord, dimension: str) -> str:
    return getattr(handoff, dimension) or UNKNOWN


def lookup_key(lookup: KbLookup, session: Optional[Session], dimension: str) -> str:
    """A lookup's own channel and language; tier, queue and reason are those of its conversation."""
    if dimension in ("channel", "language"):
        return getattr(lookup, dimension) or UNKNOWN
    return session_key(session, dimension) if session is not None else UNKNOWN


class _Context:
    """What is worked out once over all the records given: repeat contacts and each lookup's
    conversation."""

    def __init__(self, sessions: Sequence[Session], lookups: Sequence[KbLookup], now: float) -> None:
        self.now = now
        self.repeats = repeat_contacts(sessions)
        starts: Dict[str, List[Session]] = {}
        for session in sorted(sessions, key=lambda s: s.started_at):
            starts.setdefault(session.conversation_id, []).append(session)
        self._starts = {cid: ([s.started_at for s in ss], ss) for cid, ss in starts.items()}
        self.lookup_session = {lookup: self._session_at(lookup) for lookup in lookups}

    def _session_at(self, lookup: KbLookup) -> Optional[Session]:
        """The conversation's latest session started at or before the lookup."""
        found = self._starts.get(lookup.conversation_id)
        if not found:
            return None
        times, sessions = found
        i = bisect_right(times, lookup.at) - 1
        return sessions[i] if i >= 0 else None

    def lookup_key(self, lookup: KbLookup, dimension: str) -> str:
        return lookup_key(lookup, self.lookup_session.get(lookup), dimension)


def _identity(session: Session) -> Tuple[str, float]:
    return session.conversation_id, session.started_at


def repeat_contacts(sessions: Iterable[Session]) -> Set[Tuple[str, float]]:
    """(conversation_id, started_at) of the conversations whose customer (verified customer id, else
    conversation id) had another conversation that started within the 24 h before this one started:
    in [start - 24 h, start)."""
    by_customer: Dict[str, List[Session]] = {}
    for session in sessions:
        by_customer.setdefault(session.customer_key, []).append(session)
    repeats = set()
    for own in by_customer.values():
        own.sort(key=lambda s: s.started_at)
        earlier: Optional[float] = None  # the latest start strictly before the current one
        for i, session in enumerate(own):
            if i and own[i - 1].started_at < session.started_at:
                earlier = own[i - 1].started_at
            if earlier is not None and session.started_at - earlier <= REPEAT_WINDOW:
                repeats.add(_identity(session))
    return repeats


# --- one slice --------------------------------------------------------------------------------------
def summarise(sessions: Sequence[Session], handoffs: Sequence[HandoffRecord], lookups: Sequence[KbLookup],
              context: _Context) -> Slice:
    conversations = len(sessions)
    handed = sum(1 for s in sessions if s.handed_off)
    repeats = sum(1 for s in sessions if _identity(s) in context.repeats)
    turns = [t for s in sessions for t in s.turns]
    fallbacks = sum(1 for t in turns if t.fallback)
    decisions = [lk.decision for lk in lookups]
    answered, suggested = decisions.count("answer"), decisions.count("suggest")
    unavailable = decisions.count("unavailable")
    no_answer = decisions.count("none") + unavailable
    outcomes = [sla_outcome(h, context.now) for h in handoffs]
    met, missed = outcomes.count("met"), outcomes.count("missed")
    scores = [h.csat for h in handoffs if h.csat is not None]
    return Slice(
        conversations=conversations, contained=conversations - handed,
        containment_rate=ratio(conversations - handed, conversations), handed_off=handed,
        handoff_rate=ratio(handed, conversations), repeat_contacts=repeats,
        repeat_contact_rate=ratio(repeats, conversations),
        customer_turns=len(turns), fallback_turns=fallbacks, fallback_rate=ratio(fallbacks, len(turns)),
        bot_response=durations(t.bot_response_seconds for t in turns if t.bot_response_seconds is not None),
        kb_lookups=len(lookups), kb_answered=answered, kb_suggested=suggested, kb_no_answer=no_answer,
        kb_unavailable=unavailable, faq_answer_rate=ratio(answered, len(lookups)),
        faq_suggest_rate=ratio(suggested, len(lookups)), faq_no_answer_rate=ratio(no_answer, len(lookups)),
        handoffs=len(handoffs), tickets=sum(1 for h in handoffs if h.state == "ticket"),
        queue_wait=durations(h.accepted_at - h.created_at for h in handoffs if h.accepted_at is not None),
        first_response=durations(h.first_response_at - h.created_at for h in handoffs
                                 if h.first_response_at is not None),
        resolution=durations(h.resolved_at - h.created_at for h in handoffs if h.resolved_at is not None),
        sla_met=met, sla_missed=missed,
        sla_pending=sum(1 for h, o in zip(handoffs, outcomes, strict=True) if o is None and h.sla_target_seconds),
        sla_compliance=ratio(met, met + missed),
        csat_count=len(scores), csat_average=sum(scores) / len(scores) if scores else None,
        csat_distribution={score: scores.count(score) for score in CSAT_SCORES})


# --- filters, breakdowns, series -------------------------------------------------------------------
def _select(filters: Filters, sessions: Sequence[Session], handoffs: Sequence[HandoffRecord],
            lookups: Sequence[KbLookup], context: _Context):
    wanted = {dim: getattr(filters, dim) for dim in ("channel", "language", "queue", "tier")
              if getattr(filters, dim) is not None}
    chosen_sessions = [s for s in sessions if filters.covers(s.started_at)
                       and all(session_key(s, d) == v for d, v in wanted.items())]
    chosen_handoffs = [h for h in handoffs if filters.covers(h.created_at)
                       and all(handoff_key(h, d) == v for d, v in wanted.items())]
    chosen_lookups = [lk for lk in lookups if filters.covers(lk.at)
                      and all(context.lookup_key(lk, d) == v for d, v in wanted.items())]
    return chosen_sessions, chosen_handoffs, chosen_lookups


def _group(items: Iterable[T], key: Callable[[T], object]) -> Dict[object, List[T]]:
    groups: Dict[object, List[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _breakdown(dimension: str, sessions, handoffs, lookups, context: _Context) -> Tuple[BreakdownRow, ...]:
    by_session = _group(sessions, lambda s: session_key(s, dimension))
    by_handoff = _group(handoffs, lambda h: handoff_key(h, dimension))
    by_lookup = _group(lookups, lambda lk: context.lookup_key(lk, dimension))
    keys = set(by_session) | set(by_handoff) | set(by_lookup)
    rows = [BreakdownRow(str(key), summarise(by_session.get(key, []), by_handoff.get(key, []),
                                             by_lookup.get(key, []), context)) for key in keys]
    rows.sort(key=lambda r: (-r.figures.conversations, -r.figures.handoffs, -r.figures.kb_lookups, r.key))
    return tuple(rows)


def bucket_edges(filters: Filters, utc_offset_minutes: int) -> List[float]:
    """Bucket starts covering [start, end): hours, or days from local midnight, in local time."""
    if filters.end <= filters.start:
        return []
    step = HOUR if filters.hourly else DAY
    offset = utc_offset_minutes * 60.0
    first = math.floor((filters.start + offset) / step) * step - offset
    count = math.ceil((filters.end - first) / step)
    return [first + i * step for i in range(count)]


def _series(filters: Filters, utc_offset_minutes: int, sessions, handoffs, context) -> Tuple[SeriesPoint, ...]:
    edges = bucket_edges(filters, utc_offset_minutes)
    if not edges:
        return ()
    step = HOUR if filters.hourly else DAY

    def index(at: float) -> int:
        return int((at - edges[0]) // step)

    by_session = _group(sessions, lambda s: index(s.started_at))
    by_handoff = _group(handoffs, lambda h: index(h.created_at))
    points = []
    for i, start in enumerate(edges):
        figures = summarise(by_session.get(i, []), by_handoff.get(i, []), [], context)
        points.append(SeriesPoint(
            start=start, end=start + step, conversations=figures.conversations, contained=figures.contained,
            containment_rate=figures.containment_rate, handoffs=figures.handoffs,
            customer_turns=figures.customer_turns, fallback_rate=figures.fallback_rate,
            first_response_p50=figures.first_response.p50, csat_count=figures.csat_count,
            csat_average=figures.csat_average))
    return tuple(points)


# --- tickets ----------------------------------------------------------------------------------------
def ticket_resolution_at(ticket: TicketRecord) -> Optional[float]:
    """When the ticket was resolved, if it is resolved now: its status is resolved, or it was closed from
    resolved (rated, or closed by the owner, a supervisor or the wait). None while open, in progress or
    waiting (also after a reopening) and for a ticket closed without a resolution."""
    if ticket.status == "resolved":
        return ticket.resolved_at
    if ticket.status == "closed" and ticket.resolved_at is not None:
        closings = [s for s in ticket.steps if s.kind == "status" and s.to_status == "closed"]
        if not closings or closings[-1].from_status == "resolved":
            return ticket.resolved_at
    return None


def ticket_wait_began(ticket: TicketRecord) -> Optional[float]:
    """When the wait on the customer began, for a ticket waiting now (its due time's clock is stopped
    there: tickets/model.py); None otherwise, or when its history does not say."""
    if ticket.status != WAITING:
        return None
    starts = [s.at for s in ticket.steps if s.kind == "status" and s.to_status == WAITING]
    return starts[-1] if starts else None


def ticket_overdue(ticket: TicketRecord, now: float) -> bool:
    """Still open and past its due time now (a ticket waiting on the customer: at the start of the wait),
    or resolved (or closed without a resolution) after it."""
    if ticket.status in OPEN_TICKET:
        return clock_time(now, ticket_wait_began(ticket)) > ticket.due_at
    finished = ticket_resolution_at(ticket)
    if finished is None:
        finished = ticket.closed_at
    return finished is not None and finished > ticket.due_at


def ticket_first_response(ticket: TicketRecord) -> Optional[float]:
    """Seconds from the ticket's creation to the first thing an agent sent the customer about it: a reply,
    or a status change with a message (public events with an agent; the creation notice, internal notes,
    changes the customer was not told of and the service's own notices do not count)."""
    times = [s.at for s in ticket.steps
             if s.public and s.agent_id and s.kind in AGENT_ACTIONS and s.at >= ticket.created_at]
    return min(times) - ticket.created_at if times else None


def ticket_reopened(ticket: TicketRecord) -> bool:
    return any(s.kind == "status" and s.from_status == "resolved" and s.to_status == "in_progress"
               for s in ticket.steps)


def _hours(values: Iterable[float]) -> Durations:
    return durations(v / HOUR for v in values)


def summarise_tickets(tickets: Sequence[TicketRecord], now: float) -> TicketSlice:
    resolutions = [(t, ticket_resolution_at(t)) for t in tickets]
    resolved = [(t, at) for t, at in resolutions if at is not None]
    on_time = sum(1 for t, at in resolved if at <= t.due_at)
    still_open = [t for t in tickets if t.status in OPEN_TICKET]
    overdue = [t for t in tickets if ticket_overdue(t, now)]
    firsts = [ticket_first_response(t) for t in tickets]
    scores = [t.csat for t in tickets if t.csat is not None]
    return TicketSlice(
        opened=len(tickets), resolved=len(resolved),
        closed_unresolved=sum(1 for t, at in resolutions if t.status == "closed" and at is None),
        still_open=len(still_open), overdue=len(overdue),
        overdue_open=sum(1 for t in overdue if t.status in OPEN_TICKET),
        overdue_rate=ratio(len(overdue), len(tickets)),
        resolved_on_time=on_time, on_time_rate=ratio(on_time, len(resolved)),
        resolution_hours=_hours(at - t.created_at for t, at in resolved),
        first_response_hours=_hours(f for f in firsts if f is not None),
        reopened=sum(1 for t in tickets if ticket_reopened(t)),
        csat_count=len(scores), csat_average=sum(scores) / len(scores) if scores else None)


def ticket_key(ticket: TicketRecord, dimension: str) -> str:
    return getattr(ticket, dimension) or UNKNOWN


def _select_tickets(filters: Filters, tickets: Sequence[TicketRecord]) -> List[TicketRecord]:
    """Tickets created in the range, of the channel, language and tier chosen (the queue filter does not
    apply: a ticket belongs to a department, not a queue)."""
    wanted = {dim: getattr(filters, dim) for dim in TICKET_FILTERS if getattr(filters, dim) is not None}
    return [t for t in tickets if filters.covers(t.created_at)
            and all(ticket_key(t, d) == v for d, v in wanted.items())]


def _tickets_section(filters: Filters, utc_offset_minutes: int, tickets: Sequence[TicketRecord],
                     now: float) -> TicketsSection:
    breakdowns = {}
    for dim in TICKET_DIMENSIONS:
        rows = [TicketRow(str(key), summarise_tickets(group, now))
                for key, group in _group(tickets, lambda t, d=dim: ticket_key(t, d)).items()]
        rows.sort(key=lambda r: (-r.figures.opened, r.key))
        breakdowns[dim] = tuple(rows)
    edges = bucket_edges(filters, utc_offset_minutes)
    step = HOUR if filters.hourly else DAY
    opened = _group(tickets, lambda t: int((t.created_at - edges[0]) // step)) if edges else {}
    series = tuple(TicketPoint(start, start + step, len(opened.get(i, []))) for i, start in enumerate(edges))
    return TicketsSection(summarise_tickets(tickets, now), breakdowns, series)


def _handoff_rate_by_reason(sessions: Sequence[Session]) -> Dict[str, float]:
    handed = [s for s in sessions if s.handed_off]
    counts = _group(handed, lambda s: session_key(s, "reason"))
    return {str(reason): len(items) / len(sessions) for reason, items in sorted(counts.items())}


def compute(sessions: Iterable[Session], handoffs: Iterable[HandoffRecord], lookups: Iterable[KbLookup],
            filters: Filters, now: float, *, utc_offset_minutes: int = 480,
            tickets: Iterable[TicketRecord] = ()) -> Report:
    """The report for `filters`. Give every session from a day before filters.start on (repeat contacts
    look back 24 h; insight.sources.load does): only those starting in the range are counted.
    `now` judges handoffs not answered yet (SLA) and tickets not resolved yet (overdue);
    `utc_offset_minutes` places the day buckets; `tickets`: those created in the range (more are ignored)."""
    sessions = [s for s in sessions if s.turns]
    handoffs, lookups = list(handoffs), list(lookups)
    context = _Context(sessions, lookups, now)
    chosen = _select(filters, sessions, handoffs, lookups, context)
    return Report(
        filters=filters, now=now, bucket="hour" if filters.hourly else "day",
        utc_offset_minutes=utc_offset_minutes, totals=summarise(*chosen, context),
        handoff_rate_by_reason=_handoff_rate_by_reason(chosen[0]),
        breakdowns={dim: _breakdown(dim, *chosen, context) for dim in DIMENSIONS},
        series=_series(filters, utc_offset_minutes, chosen[0], chosen[1], context),
        tickets=_tickets_section(filters, utc_offset_minutes, _select_tickets(filters, list(tickets)), now))


def by_key(rows: Sequence) -> Mapping[str, object]:
    """A breakdown's rows (BreakdownRow or TicketRow) by their key (for lookups in code and tests)."""
    return {row.key: row.figures for row in rows}
