"""Readers of the three records the system keeps, into insight's dataclasses:

- Rasa's SQL tracker store (table `events`) -> `Session`s (insight/sessions.py does the cutting);
- the handoff service's store -> `HandoffRecord`s, and its tickets with their history -> `TicketRecord`s;
- the knowledge-base query log (table `kb_lookups`) -> `KbLookup`s.

SQLite files are opened read-only (URI `mode=ro`), and every statement is short (the tracker is read
in batches of senders), so a reader never holds a lock the writers wait on for long. A time range
limits what is read. Missing files raise FileNotFoundError; a file without the expected table raises
SourceError.

The handoff store is read either through HandoffStore's public methods (any HandoffStore, so SQLite
or PostgreSQL) or, given a SQLite file path, with one read-only query of its own
(`_handoff_rows_sqlite`): the store has no read-only mode, no time-range query and reads CSAT one
conversation at a time. Tickets the same two ways: TicketStore's public methods on any HandoffStore (one
query for the tickets, one per ticket for its history), or two read-only queries of insight's own on a
SQLite file (`_ticket_rows_sqlite`). The query log likewise (`_lookup_rows_sqlite`): QueryLog creates the file
and has no time-range query.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote

from common.settings import Settings
from handoff import routing
from handoff.store import HandoffStore
from handoff.ticket_store import TicketStore
from insight.model import DAY, Filters, HandoffRecord, KbLookup, Session, TicketRecord, TicketStep
from insight.sessions import SLOTS_READ, Event, sessions_from_events, tier_of
from insight.unanswered import NoAnswerLookup

PathLike = Union[str, Path]
HandoffSource = Union[PathLike, HandoffStore]
STATES = ("queued", "offered", "active", "closed", "returned", "ticket")
# States after an agent had the conversation (closed/returned may also be a supervisor closing it unanswered).
TAKEN_STATES = ("active", "closed", "returned")
RESOLVED_STATES = ("closed", "returned")
SENDERS_PER_BATCH = 500
# Repeat contacts look this far back before a report's start (insight/metrics.py).
LOOKBACK_SECONDS = DAY


class SourceError(RuntimeError):
    """A store is not what the reader expects (e.g. no such table)."""


def connect_readonly(path: PathLike) -> sqlite3.Connection:
    """A read-only connection to an existing SQLite file (URI mode=ro: it never writes the database,
    and waits up to 10 s for a writer's lock like the writers do). On a WAL database (the handoff store,
    the query log) SQLite may create the empty -wal/-shm companions when no writer has them open."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no SQLite file at {path}")
    return sqlite3.connect(f"file:{quote(str(path.resolve()), safe='/')}?mode=ro", uri=True, timeout=10)


def _range_sql(column: str, start: Optional[float], end: Optional[float]) -> Tuple[str, list]:
    clauses, args = [], []
    if start is not None:
        clauses.append(f"{column} >= ?")
        args.append(start)
    if end is not None:
        clauses.append(f"{column} < ?")
        args.append(end)
    return (" AND ".join(clauses) or "1 = 1"), args


def _query(db: sqlite3.Connection, sql: str, args: Sequence = ()) -> list:
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        raise SourceError(str(exc)) from exc


# --- Rasa tracker store ------------------------------------------------------------------------------
def _session_spans(db: sqlite3.Connection, start: Optional[float], end: Optional[float]
                   ) -> List[Tuple[str, int, Optional[int]]]:
    """(sender, first event id to read, first id not to read or None) of every sender with a session
    starting in [start, end): from its first such session_started (from its first event when start is
    None) to its first session_started at or after end."""
    if start is None:
        where, args = _range_sql("timestamp", None, end)
        firsts = f"SELECT sender_id, MIN(id) AS first_id FROM events WHERE {where} GROUP BY sender_id"
    else:
        where, args = _range_sql("timestamp", start, end)
        firsts = (f"SELECT sender_id, MIN(id) AS first_id FROM events WHERE type_name = 'session_started' "
                  f"AND {where} GROUP BY sender_id")
    if end is None:
        stop = "NULL"
    else:
        stop = ("(SELECT MIN(e.id) FROM events e WHERE e.sender_id = f.sender_id AND e.type_name = "
                "'session_started' AND e.id > f.first_id AND e.timestamp >= ?)")
        args = [end, *args]
    return _query(db, f"SELECT f.sender_id, f.first_id, {stop} FROM ({firsts}) f ORDER BY f.sender_id", args)


_SLOTS_SQL = ", ".join(f"'{name}'" for name in SLOTS_READ)


def _events(db: sqlite3.Connection, spans: Sequence[Tuple[str, int, Optional[int]]]) -> list:
    """The events of some senders' spans, sender by sender in id order; the JSON only where needed."""
    values = ", ".join("(?, ?, ?)" for _ in spans)
    args = [x for span in spans for x in span]
    return _query(db, (
        f"WITH span (sender_id, first_id, stop_id) AS (VALUES {values}) "
        "SELECT e.sender_id, e.id, e.type_name, e.timestamp, e.intent_name, e.action_name, "
        f"CASE WHEN e.type_name = 'user' OR (e.type_name = 'slot' AND e.action_name IN ({_SLOTS_SQL})) "
        "THEN e.data END "
        "FROM span JOIN events e ON e.sender_id = span.sender_id "
        "WHERE e.id >= span.first_id AND (span.stop_id IS NULL OR e.id < span.stop_id) "
        "ORDER BY e.sender_id, e.id"), args)


def _event(row: tuple) -> Event:
    _, event_id, type_name, timestamp, intent_name, action_name, data = row
    decoded = None
    if data:
        try:
            decoded = json.loads(data)
        except ValueError:
            decoded = None
    return Event(event_id, type_name, float(timestamp or 0.0), intent_name, action_name, decoded)


def read_sessions(tracker_db: PathLike, start: Optional[float] = None, end: Optional[float] = None, *,
                  tiers: Optional[Mapping[str, str]] = None,
                  handoffs: Sequence[HandoffRecord] = ()) -> List[Session]:
    """The conversations that started in [start, end) (None: unbounded), ordered by sender then start.
    `tiers`: customer id -> tier (the order system's customers); `handoffs`: records to link to the
    sessions that filed them (reason, queue, tier) — read them with read_handoffs over a range that
    covers the sessions."""
    by_sender: Dict[str, List[HandoffRecord]] = {}
    for record in handoffs:
        by_sender.setdefault(record.conversation_id, []).append(record)
    sessions: List[Session] = []
    db = connect_readonly(tracker_db)
    try:
        spans = _session_spans(db, start, end)
        for i in range(0, len(spans), SENDERS_PER_BATCH):  # one short statement per batch of senders
            rows = _events(db, spans[i:i + SENDERS_PER_BATCH])
            for sender, group in groupby(rows, key=lambda r: r[0]):
                sessions.extend(sessions_from_events(sender, map(_event, group), start, end, tiers,
                                                     by_sender.get(sender, ())))
    finally:
        db.close()
    return sessions


# --- handoff store -------------------------------------------------------------------------------
# (id, sender_id, channel, language, customer_id, tier, reason, queue, state, created_at, agent_id,
#  assigned_at, first_response_at, closed_at, csat score)
HandoffRow = Tuple


def _handoff_rows_sqlite(path: PathLike, start: Optional[float], end: Optional[float]) -> List[HandoffRow]:
    """The handoff store's conversations created in [start, end) with their CSAT score, read straight
    from its SQLite file (read-only, one query). HandoffStore offers no read-only access, no time range
    and CSAT only per conversation, hence this one query of insight's own on its tables."""
    where, args = _range_sql("c.created_at", start, end)
    db = connect_readonly(path)
    try:
        return _query(db, (
            "SELECT c.id, c.sender_id, c.channel, c.language, c.customer_id, c.tier, c.reason, c.queue, c.state, "
            "c.created_at, c.agent_id, c.assigned_at, c.first_response_at, c.closed_at, s.score "
            f"FROM conversations c LEFT JOIN csat s ON s.conversation_id = c.id WHERE {where} "
            "ORDER BY c.created_at, c.id"), args)
    finally:
        db.close()


def _handoff_rows_store(store: HandoffStore, start: Optional[float], end: Optional[float]) -> List[HandoffRow]:
    """The same through HandoffStore's public methods (SQLite or PostgreSQL)."""
    rows = []
    for c in store.in_state(*STATES):
        if (start is not None and c.created_at < start) or (end is not None and c.created_at >= end):
            continue
        score = None
        if c.state == "closed":  # only closed conversations are rated
            answer = store.csat(c.id)
            score = answer[0] if answer else None
        rows.append((c.id, c.sender_id, c.channel, c.language, c.customer_id, c.tier, c.reason, c.queue, c.state,
                     c.created_at, c.agent_id, c.assigned_at, c.first_response_at, c.closed_at, score))
    return rows


def handoff_record(row: HandoffRow, tiers: Optional[Mapping[str, str]] = None,
                   queues: Mapping[str, routing.Queue] = routing.DEFAULT_QUEUES) -> HandoffRecord:
    (id_, sender_id, channel, language, customer_id, tier, reason, queue, state, created_at, agent_id,
     assigned_at, first_response_at, closed_at, score) = row
    taken = state in TAKEN_STATES and agent_id is not None and assigned_at is not None
    target = queues.get(queue)
    return HandoffRecord(
        id=int(id_), conversation_id=sender_id, channel=channel or "unknown", language=language or "unknown",
        tier=tier_of(customer_id, tiers, tier), queue=queue, reason=reason, created_at=float(created_at),
        accepted_at=float(assigned_at) if taken else None,
        first_response_at=float(first_response_at) if first_response_at is not None else None,
        resolved_at=float(closed_at) if state in RESOLVED_STATES and closed_at is not None else None,
        outcome=state if state in RESOLVED_STATES else None, state=state,
        sla_target_seconds=float(target.first_response_seconds) if target else None,
        csat=int(score) if score is not None else None, customer_id=customer_id)


def read_handoffs(source: HandoffSource, start: Optional[float] = None, end: Optional[float] = None, *,
                  tiers: Optional[Mapping[str, str]] = None,
                  queues: Mapping[str, routing.Queue] = routing.DEFAULT_QUEUES) -> List[HandoffRecord]:
    """Conversations with people created in [start, end), oldest first. `source`: the SQLite file of the
    handoff store (read-only) or a HandoffStore (e.g. PostgresHandoffStore); `queues`: the service's
    queues (their first-response targets), ServiceConfig's by default."""
    if isinstance(source, HandoffStore):
        rows = _handoff_rows_store(source, start, end)
    else:
        rows = _handoff_rows_sqlite(source, start, end)
    return [handoff_record(row, tiers, queues) for row in rows]


# --- tickets (handoff store, migration 8) ---------------------------------------------------------------
# (id, sender_id, channel, language, customer_id, tier, category, department, status, created_at, due_at,
#  resolved_at, closed_at, overdue_at, csat_score)
TicketRow = Tuple
# (kind, at, agent_id, from_status, to_status, public)
StepRow = Tuple


def _ticket_rows_sqlite(path: PathLike, start: Optional[float], end: Optional[float]
                        ) -> Tuple[List[TicketRow], Dict[int, List[StepRow]]]:
    """The tickets created in [start, end) and their events (in id order), read straight from the handoff
    store's SQLite file (read-only, two queries, without migrating or locking the live store's file)."""
    where, args = _range_sql("t.created_at", start, end)
    db = connect_readonly(path)
    try:
        tickets = _query(db, (
            "SELECT t.id, t.sender_id, t.channel, t.language, t.customer_id, t.tier, t.category, t.department, "
            "t.status, t.created_at, t.due_at, t.resolved_at, t.closed_at, t.overdue_at, t.csat_score "
            f"FROM tickets t WHERE {where} ORDER BY t.created_at, t.id"), args)
        events = _query(db, (
            "SELECT e.ticket_id, e.kind, e.at, e.agent_id, e.from_status, e.to_status, e.public "
            f"FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id WHERE {where} ORDER BY e.ticket_id, e.id"),
            args)
    finally:
        db.close()
    steps: Dict[int, List[StepRow]] = {}
    for ticket_id, *step in events:
        steps.setdefault(ticket_id, []).append(tuple(step))
    return tickets, steps


def _ticket_rows_store(store: HandoffStore, start: Optional[float], end: Optional[float]
                       ) -> Tuple[List[TicketRow], Dict[int, List[StepRow]]]:
    """The same through TicketStore's public methods (SQLite or PostgreSQL): the tickets in one query, their
    histories in one query per 500 tickets."""
    tickets = TicketStore(store)
    found = tickets.created_between(start, end)
    histories = tickets.events_of([t.id for t in found])
    rows: List[TicketRow] = [
        (t.id, t.sender_id, t.channel, t.language, t.customer_id, t.tier, t.category, t.department,
         t.status, t.created_at, t.due_at, t.resolved_at, t.closed_at, t.overdue_at, t.csat_score) for t in found]
    steps: Dict[int, List[StepRow]] = {
        t.id: [(e.kind, e.at, e.agent_id, e.from_status, e.to_status, e.public) for e in histories.get(t.id, [])]
        for t in found}
    return rows, steps


def _optional(value) -> Optional[float]:
    return float(value) if value is not None else None


def ticket_record(row: TicketRow, steps: Sequence[StepRow] = (),
                  tiers: Optional[Mapping[str, str]] = None) -> TicketRecord:
    (id_, sender_id, channel, language, customer_id, tier, category, department, status, created_at, due_at,
     resolved_at, closed_at, overdue_at, score) = row
    return TicketRecord(
        id=int(id_), conversation_id=sender_id, channel=channel or "unknown", language=language or "unknown",
        tier=tier_of(customer_id, tiers, tier), category=category, department=department, status=status,
        created_at=float(created_at), due_at=float(due_at), resolved_at=_optional(resolved_at),
        closed_at=_optional(closed_at), overdue_at=_optional(overdue_at),
        csat=int(score) if score is not None else None, customer_id=customer_id,
        steps=tuple(TicketStep(kind, float(at), agent_id, from_status, to_status, bool(public))
                    for kind, at, agent_id, from_status, to_status, public in steps))


def read_tickets(source: HandoffSource, start: Optional[float] = None, end: Optional[float] = None, *,
                 tiers: Optional[Mapping[str, str]] = None) -> List[TicketRecord]:
    """Tickets created in [start, end) with their history, oldest first. `source`: the SQLite file of the
    handoff store (read-only) or a HandoffStore (e.g. PostgresHandoffStore)."""
    if isinstance(source, HandoffStore):
        rows, steps = _ticket_rows_store(source, start, end)
    else:
        rows, steps = _ticket_rows_sqlite(source, start, end)
    return [ticket_record(row, steps.get(row[0], ()), tiers) for row in rows]


# --- knowledge-base query log -------------------------------------------------------------------
def _lookup_rows_sqlite(path: PathLike, start: Optional[float], end: Optional[float]) -> list:
    """kb_lookups rows in [start, end), read-only (QueryLog opens read-write and has no time range)."""
    where, args = _range_sql("at", start, end)
    db = connect_readonly(path)
    try:
        return _query(db, f"SELECT at, sender_id, channel, language, decision FROM kb_lookups WHERE {where} "
                          "ORDER BY at, id", args)
    finally:
        db.close()


def read_lookups(kb_db: PathLike, start: Optional[float] = None, end: Optional[float] = None) -> List[KbLookup]:
    """Knowledge-base lookups made in [start, end), oldest first."""
    return [KbLookup(float(at), sender, channel or "unknown", language or "unknown", decision)
            for at, sender, channel, language, decision in _lookup_rows_sqlite(kb_db, start, end)]


def read_no_answer_lookups(kb_db: PathLike, start: Optional[float] = None,
                           end: Optional[float] = None) -> List[NoAnswerLookup]:
    """Lookups in [start, end) for which the knowledge base found nothing (decision none), with the
    customer's (masked) query, oldest first."""
    where, args = _range_sql("at", start, end)
    db = connect_readonly(kb_db)
    try:
        rows = _query(db, f"SELECT at, sender_id, query, language FROM kb_lookups WHERE {where} "
                          "AND decision = 'none' ORDER BY at, id", args)
    finally:
        db.close()
    return [NoAnswerLookup(float(at), sender, query, language) for at, sender, query, language in rows]


def read_agent_answers(store: HandoffStore, handoffs: Sequence[HandoffRecord]) -> Dict[int, List[Tuple[str, str]]]:
    """handoff id -> [(agent id, text)] of the agents' messages, for the handoffs an agent answered and
    closed (resolved by people; a hand-back to the bot is not an answer)."""
    answers: Dict[int, List[Tuple[str, str]]] = {}
    for record in handoffs:
        if record.outcome == "closed" and record.first_response_at is not None:
            answers[record.id] = [(m.agent_id or "", m.text) for m in store.messages(record.id)
                                  if m.direction == "agent"]
    return answers


# --- everything a report needs ----------------------------------------------------------------------
@dataclass(frozen=True)
class Paths:
    """Where the three records are."""
    tracker_db: Path
    handoff: HandoffSource
    kb_db: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> "Paths":
        """The product's own locations (endpoints.yml's tracker store is var/rasa-tracker.sqlite3); the
        handoff store in PostgreSQL when CS_HANDOFF_DB_URL is set."""
        handoff: HandoffSource = settings.handoff_db
        if settings.handoff_db_url:
            from handoff.pg_store import PostgresHandoffStore  # only when configured
            handoff = PostgresHandoffStore(settings.handoff_db_url)
        return cls(settings.var_dir / "rasa-tracker.sqlite3", handoff, settings.kb_log_db)


@dataclass(frozen=True)
class Data:
    sessions: Tuple[Session, ...]
    handoffs: Tuple[HandoffRecord, ...]
    lookups: Tuple[KbLookup, ...]
    tickets: Tuple[TicketRecord, ...] = ()


def load(paths: Paths, filters: Filters, *, tiers: Optional[Mapping[str, str]] = None,
         queues: Mapping[str, routing.Queue] = routing.DEFAULT_QUEUES) -> Data:
    """What insight.metrics.compute needs for `filters`: conversations from a day before the start (for
    repeat contacts), handoff records from then on (a conversation may hand over after the range's
    end), lookups and tickets created in the range. Filters other than the range are applied by compute.
    The handoff store's and the query log's SQLite files are created by their services on first use:
    missing, they mean none (a missing tracker store is an error)."""
    since = filters.start - LOOKBACK_SECONDS
    handoffs: List[HandoffRecord] = []
    tickets: List[TicketRecord] = []
    if isinstance(paths.handoff, HandoffStore) or Path(paths.handoff).exists():
        handoffs = read_handoffs(paths.handoff, since, None, tiers=tiers, queues=queues)
        tickets = read_tickets(paths.handoff, filters.start, filters.end, tiers=tiers)
    sessions = read_sessions(paths.tracker_db, since, filters.end, tiers=tiers, handoffs=handoffs)
    lookups = read_lookups(paths.kb_db, filters.start, filters.end) if Path(paths.kb_db).exists() else []
    return Data(tuple(sessions), tuple(handoffs), tuple(lookups), tuple(tickets))
