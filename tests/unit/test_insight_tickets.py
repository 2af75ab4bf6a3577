"""insight/: the tickets section of the report, end to end on the real handoff store.

The tickets are those of the insight fixture (tests/unit/test_insight_metrics.py, build_tickets), made
through handoff/ticket_store.py with a fake clock; insight/sources.py reads them back (the SQLite file
read-only, or through TicketStore on any HandoffStore), insight/metrics.py computes, and every figure is
compared with the value worked out by hand below (literal numbers). Times: UTC+08:00; the range is
2024-05-01..03 (d1..d3); "now" is 10 s after its end (d4 00:00:10).

  ticket dept / category        created   due        what happened (agent actions the customer saw: *)
  T1     complaints / complaint d1 11:15  d1 15:15   in_progress 11:25 (not told), *reply 11:45,
                                                     *resolved 14:15, rated 4 14:25 (closed)
  T2     logistics / logistics  d1 20:30  d2 13:30   *waiting_customer 22:30, customer answers 23:30 (in
                                                     progress again; the hour waited moves the due time from
                                                     12:30), flagged overdue d2 14:00, *resolved d2 16:30,
                                                     reopened 18:30, *resolved 22:30, rated 1 (closed)
  T3     after_sales            d2 09:10  d5 09:10   in_progress 10:10 (not told), *reply 14:10; in progress
  T5     general / billing      d2 10:00  d4 10:00   *reply 11:00, *resolved 16:00; resolved, not rated
  T6     general / other        d2 14:00  d5 14:00   *resolved 15:30, reopened 16:00, *closed by a supervisor
                                                     17:00 (a duplicate): closed without a resolution
  T4     complaints / complaint d3 09:10  d3 13:10   internal note 09:40, flagged overdue 14:00; still open
  (T7 d0 and T8 d4 are outside the range.)

  ticket  resolved now  resolution  on time  overdue at now          first response  reopened  CSAT
  T1      yes           3 h         yes      no                      0.5 h           no        4
  T2      yes           26 h        no       yes (resolved late)     2 h             yes       1
  T3      no (open)     -           -        no (due d5)             5 h             no        -
  T5      yes           6 h         yes      no                      1 h             no        -
  T6      no (closed)   -           -        no (closed before due)  1.5 h           yes       -
  T4      no (open)     -           -        yes (open, past due)    -               no        -
"""
from __future__ import annotations

import csv
import io
import json

import pytest

from handoff.store import HandoffStore
from handoff.ticket_store import TicketStore
from insight import export
from insight.metrics import (
    by_key,
    compute,
    ticket_first_response,
    ticket_overdue,
    ticket_reopened,
    ticket_resolution_at,
)
from insight.model import Filters, TicketRecord, TicketStep
from insight.report import Durations
from insight.sources import SourceError, load, read_tickets
from tests.unit.test_insight_metrics import END, NOW, RANGE, START, TIERS, Clock, build_world, local

DAY = 86400.0


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("insight-tickets"))


@pytest.fixture(scope="module")
def data(world):
    return load(world.paths, RANGE, tiers=TIERS)


def report_for(data, filters: Filters = RANGE, now: float = NOW):
    return compute(data.sessions, data.handoffs, data.lookups, filters, now, tickets=data.tickets)


@pytest.fixture(scope="module")
def section(data):
    return report_for(data).tickets


def name_of(world, ticket_id: int) -> str:
    return {v: k for k, v in world.ticket_ids.items()}[ticket_id]


# --- reading -------------------------------------------------------------------------------------------
def test_tickets_created_in_the_range_are_read_with_their_history(world, data):
    names = [name_of(world, t.id) for t in data.tickets]
    assert names == ["T1", "T2", "T3", "T5", "T6", "T4"]  # by creation; not T7 (d0) nor T8 (d4)
    t = {name_of(world, r.id): r for r in data.tickets}
    assert (t["T1"].channel, t["T1"].language, t["T1"].tier, t["T1"].department, t["T1"].category) == (
        "wechat", "zh", "normal", "complaints", "complaint")
    assert (t["T2"].tier, t["T3"].tier, t["T5"].tier) == ("guest", "vip", "guest")  # C2 is vip (TIERS)
    assert (t["T1"].status, t["T2"].status, t["T3"].status, t["T5"].status, t["T6"].status, t["T4"].status) == (
        "closed", "closed", "in_progress", "resolved", "closed", "open")
    assert t["T2"].due_at == local(2, 13, 30) and t["T2"].overdue_at == local(2, 14)
    assert t["T4"].overdue_at == local(3, 14) and t["T1"].overdue_at is None
    assert (t["T1"].csat, t["T2"].csat, t["T5"].csat) == (4, 1, None)
    # T2's history: created, waiting, the customer's answer and the status it caused, overdue, resolved,
    # reopened, resolved, rating, closed by it
    assert [(s.kind, s.to_status) for s in t["T2"].steps] == [
        ("created", "open"), ("status", "waiting_customer"), ("customer_message", None), ("status", "in_progress"),
        ("overdue", None), ("status", "resolved"), ("status", "in_progress"), ("status", "resolved"),
        ("csat", None), ("status", "closed")]
    assert [s.public for s in t["T2"].steps] == [True, True, False, False, False, True, False, True, False, False]
    assert t["T2"].steps[3].agent_id is None and t["T2"].steps[1].agent_id == "wang"


def test_reading_through_the_store_gives_the_same_records(world, data):
    # TicketStore on the HandoffStore (the way a PostgreSQL store is read) = the read-only SQLite query
    assert read_tickets(world.store, START, END, tiers=TIERS) == list(data.tickets)
    assert [name_of(world, t.id) for t in read_tickets(world.handoff_db)] == ["T7", "T1", "T2", "T3", "T5", "T6",
                                                                              "T4", "T8"]


def test_a_file_without_tickets_is_refused(tmp_path):
    import sqlite3
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(SourceError, match="no such table"):
        read_tickets(other)


# --- the rules, one ticket at a time -------------------------------------------------------------------------
def test_each_tickets_figures(world, data):
    t = {name_of(world, r.id): r for r in data.tickets}
    H = 3600.0
    assert {k: ticket_resolution_at(r) for k, r in t.items()} == {
        "T1": local(1, 14, 15), "T2": local(2, 22, 30), "T3": None, "T5": local(2, 16),
        "T6": None,  # resolved at 15:30 once, but closed from in progress: no resolution
        "T4": None}
    assert {k for k, r in t.items() if ticket_overdue(r, NOW)} == {"T2", "T4"}
    assert {k for k, r in t.items() if ticket_overdue(r, local(5, 9, 11))} == {"T2", "T3", "T4"}  # T3 due d5 09:10
    assert {k: ticket_first_response(r) for k, r in t.items()} == {
        "T1": 0.5 * H, "T2": 2 * H, "T3": 5 * H, "T5": 1 * H, "T6": 1.5 * H, "T4": None}
    assert {k for k, r in t.items() if ticket_reopened(r)} == {"T2", "T6"}


def _ticket(status, resolved_at=None, closed_at=None, steps=()):
    return TicketRecord(1, "x", "app", "zh", "guest", "other", "general", status, 0.0, 100.0, resolved_at, closed_at,
                        None, None, None, tuple(steps))


def _step(kind, at, agent, frm=None, to=None, public=False):
    return TicketStep(kind, at, agent, frm, to, public)


def test_edge_cases_of_the_rules():
    # closed without a resolution after the due time: overdue; before it: not
    assert ticket_overdue(_ticket("closed", None, 101.0, [_step("status", 101.0, "s", "open", "closed")]), 0.0)
    assert not ticket_overdue(_ticket("closed", None, 100.0, [_step("status", 100.0, "s", "open", "closed")]), 1e9)
    # resolved exactly at the due time: on time; an open ticket exactly at it: not overdue yet
    assert not ticket_overdue(_ticket("resolved", 100.0), 1e9)
    assert not ticket_overdue(_ticket("open"), 100.0) and ticket_overdue(_ticket("open"), 100.5)
    # closed after a resolution by the wait (no agent) or a rating: resolved
    closed = _ticket("closed", 50.0, 60.0, [_step("status", 60.0, None, "resolved", "closed", True)])
    assert ticket_resolution_at(closed) == 50.0
    # the service's own notice (no agent), the creation notice and an agent's internal note are no response
    quiet = _ticket("closed", 50.0, 60.0, [_step("created", 0.0, "a", to="open", public=True),
                                           _step("note", 1.0, "a"),
                                           _step("status", 60.0, None, "resolved", "closed", True)])
    assert ticket_first_response(quiet) is None
    answered = _ticket("open", steps=[_step("status", 7.0, "a", "open", "waiting_customer", True)])
    assert ticket_first_response(answered) == 7.0
    # waiting on the customer: judged when the wait began (the due time's clock is stopped there)
    early = _ticket("waiting_customer", steps=[_step("status", 90.0, "a", "open", "waiting_customer", True)])
    late = _ticket("waiting_customer", steps=[_step("status", 90.0, "a", "open", "waiting_customer", True),
                                              _step("status", 95.0, None, "waiting_customer", "in_progress"),
                                              _step("status", 101.0, "a", "in_progress", "waiting_customer", True)])
    assert not ticket_overdue(early, 1e9) and ticket_overdue(late, 1e9) and not ticket_overdue(late, 100.0)
    assert ticket_overdue(_ticket("waiting_customer"), 100.5)  # no history to say when: judged now


# --- the report's section ------------------------------------------------------------------------------------
def test_totals(section):
    t = section.totals
    assert t.opened == 6  # T1 T2 T3 T5 T6 T4
    assert (t.resolved, t.closed_unresolved, t.still_open) == (3, 1, 2)  # T1 T2 T5 / T6 / T3 T4
    assert (t.overdue, t.overdue_open, t.overdue_rate) == (2, 1, 2 / 6)  # T2 (resolved late), T4 (open)
    assert (t.resolved_on_time, t.on_time_rate) == (2, 2 / 3)  # T1 3 h <= 4 h, T5 6 h <= 48 h; not T2
    # resolutions 3 26 6 h -> sorted 3 6 26: p50 ceil(1.5) = 2nd = 6, p90 ceil(2.7) = 3rd = 26
    assert t.resolution_hours == Durations(3, 6.0, 26.0)
    # first responses 0.5 2 5 1 1.5 h (none for T4) -> sorted 0.5 1 1.5 2 5: p50 3rd = 1.5, p90 5th = 5
    assert t.first_response_hours == Durations(5, 1.5, 5.0)
    assert t.reopened == 2  # T2 T6
    assert (t.csat_count, t.csat_average) == (2, 2.5)  # (4 + 1) / 2


def test_by_department(section):
    rows = section.breakdowns["department"]
    # most opened first, then by name: complaints 2, general 2, after_sales 1, logistics 1
    assert [r.key for r in rows] == ["complaints", "general", "after_sales", "logistics"]
    d = by_key(rows)
    c = d["complaints"]  # T1 T4
    assert (c.opened, c.resolved, c.still_open, c.overdue, c.overdue_open, c.overdue_rate) == (2, 1, 1, 1, 1, 0.5)
    assert (c.on_time_rate, c.resolution_hours, c.first_response_hours) == (1.0, Durations(1, 3.0, 3.0),
                                                                            Durations(1, 0.5, 0.5))
    assert (c.reopened, c.csat_count, c.csat_average) == (0, 1, 4.0)
    g = d["general"]  # T5 T6
    assert (g.opened, g.resolved, g.closed_unresolved, g.still_open, g.overdue, g.overdue_rate) == (2, 1, 1, 0, 0, 0.0)
    assert (g.on_time_rate, g.resolution_hours) == (1.0, Durations(1, 6.0, 6.0))
    assert g.first_response_hours == Durations(2, 1.0, 1.5)  # 1 1.5: p50 1st, p90 ceil(1.8) = 2nd
    assert (g.reopened, g.csat_count, g.csat_average) == (1, 0, None)
    a = d["after_sales"]  # T3: in progress, nothing resolved
    assert (a.opened, a.resolved, a.still_open, a.overdue, a.on_time_rate) == (1, 0, 1, 0, None)
    assert (a.resolution_hours, a.first_response_hours) == (Durations(0, None, None), Durations(1, 5.0, 5.0))
    lo = d["logistics"]  # T2
    assert (lo.opened, lo.resolved, lo.overdue, lo.overdue_open, lo.overdue_rate, lo.on_time_rate) == (
        1, 1, 1, 0, 1.0, 0.0)
    assert (lo.resolution_hours.p50, lo.first_response_hours.p50, lo.reopened, lo.csat_average) == (26.0, 2.0, 1, 1.0)


def test_by_category(section):
    rows = section.breakdowns["category"]
    assert [(r.key, r.figures.opened) for r in rows] == [
        ("complaint", 2), ("after_sales", 1), ("billing", 1), ("logistics", 1), ("other", 1)]
    d = by_key(rows)
    assert (d["billing"].resolved, d["billing"].on_time_rate, d["billing"].resolution_hours.p50) == (1, 1.0, 6.0)
    assert (d["other"].resolved, d["other"].closed_unresolved, d["other"].reopened, d["other"].on_time_rate) == (
        0, 1, 1, None)
    assert d["other"].first_response_hours.p50 == 1.5
    assert (d["complaint"].overdue, d["complaint"].first_response_hours.count) == (1, 1)  # T4; only T1 answered


def test_series(section):
    assert [(p.start, p.opened) for p in section.series] == [(local(1, 0), 2), (local(2, 0), 3), (local(3, 0), 1)]


def test_hour_series_and_a_later_now(data):
    day2 = Filters(local(2, 0), local(3, 0))
    section = report_for(data, day2).tickets
    assert len(section.series) == 24
    assert {i: p.opened for i, p in enumerate(section.series) if p.opened} == {9: 1, 10: 1, 14: 1}  # T3 T5 T6
    t = section.totals
    assert (t.opened, t.resolved, t.closed_unresolved, t.still_open, t.overdue) == (3, 1, 1, 1, 0)
    # on d5 at 09:11 T3 is past its due time too
    later = report_for(data, RANGE, now=local(5, 9, 11)).tickets.totals
    assert (later.overdue, later.overdue_open, later.overdue_rate) == (3, 2, 3 / 6)


def test_channel_language_and_tier_filter_tickets(data):
    t = report_for(data, Filters(START, END, channel="wechat")).tickets.totals  # T1 T2
    assert (t.opened, t.resolved, t.overdue, t.on_time_rate, t.reopened) == (2, 2, 1, 0.5, 1)
    assert (t.resolution_hours, t.first_response_hours) == (Durations(2, 3.0, 26.0), Durations(2, 0.5, 2.0))
    assert (t.csat_count, t.csat_average) == (2, 2.5)
    t = report_for(data, Filters(START, END, tier="guest")).tickets.totals  # T2 T5 T6
    assert (t.opened, t.resolved, t.closed_unresolved, t.overdue, t.on_time_rate) == (3, 2, 1, 1, 0.5)
    assert t.resolution_hours == Durations(2, 6.0, 26.0)  # 6 26: p50 1st, p90 2nd
    assert t.first_response_hours == Durations(3, 1.5, 2.0)  # 1 1.5 2
    assert (t.reopened, t.csat_count, t.csat_average) == (2, 1, 1.0)
    t = report_for(data, Filters(START, END, language="zh")).tickets.totals  # T1 T6 T4
    assert (t.opened, t.resolved, t.closed_unresolved, t.still_open, t.overdue) == (3, 1, 1, 1, 1)
    assert t.first_response_hours == Durations(2, 0.5, 1.5)
    section = report_for(data, Filters(START, END, tier="vip")).tickets  # T3
    assert (section.totals.opened, [r.key for r in section.breakdowns["department"]]) == (1, ["after_sales"])


def test_the_queue_filter_does_not_apply_to_tickets(data, section):
    report = report_for(data, Filters(START, END, queue="complaints"))
    assert report.totals.handoffs == 2  # the queue selects handoffs (H1 H6)...
    assert report.tickets == section  # ...but every ticket stays: a ticket has no queue


def test_empty_range_gives_none_not_zero(data):
    section = report_for(data, Filters(END + 10 * DAY, END + 11 * DAY)).tickets
    t = section.totals
    assert (t.opened, t.resolved, t.overdue, t.reopened, t.csat_count) == (0, 0, 0, 0, 0)
    assert (t.overdue_rate, t.on_time_rate, t.csat_average) == (None, None, None)
    assert t.resolution_hours == t.first_response_hours == Durations(0, None, None)
    assert section.breakdowns == {"department": (), "category": ()}
    assert len(section.series) == 24 and all(p.opened == 0 for p in section.series)
    # no tickets given at all: the same empty section
    assert compute(data.sessions, data.handoffs, data.lookups, RANGE, NOW).tickets.totals.opened == 0


# --- output --------------------------------------------------------------------------------------------------
def test_to_dict(data):
    decoded = json.loads(json.dumps(report_for(data).to_dict()))
    tickets = decoded["tickets"]
    assert tickets["totals"]["opened"] == 6 and tickets["totals"]["overdue_rate"] == pytest.approx(1 / 3)
    assert tickets["totals"]["resolution_hours"] == {"count": 3, "p50": 6.0, "p90": 26.0}
    assert tickets["breakdowns"]["department"][0] == {**tickets["breakdowns"]["department"][0], "key": "complaints",
                                                      "opened": 2, "csat_average": 4.0}
    assert [p["opened"] for p in tickets["series"]] == [2, 3, 1]
    assert tickets["series"][0]["start"] == local(1, 0)


def test_tickets_csv(data):
    rows = list(csv.DictReader(io.StringIO(export.tickets_csv(report_for(data)))))
    assert list(rows[0]) == list(export.TICKET_COLUMNS)
    total = rows[0]
    assert [total[c] for c in export.TICKET_COLUMNS] == [
        "2024-05-01T00:00:00+08:00", "2024-05-04T00:00:00+08:00", "total", "all", "6", "3", "1", "2", "2", "1",
        "0.3333", "2", "0.6667", "6.0", "26.0", "1.5", "5.0", "2", "2", "2.5"]
    assert [(r["dimension"], r["key"]) for r in rows[1:]] == [
        ("department", "complaints"), ("department", "general"), ("department", "after_sales"),
        ("department", "logistics"), ("category", "complaint"), ("category", "after_sales"), ("category", "billing"),
        ("category", "logistics"), ("category", "other")]
    after_sales = rows[3]  # nothing resolved, nothing rated: empty, not 0
    assert (after_sales["on_time_rate"], after_sales["resolution_p50_hours"], after_sales["csat_average"]) == (
        "", "", "")


@pytest.mark.postgres
def test_tickets_from_postgresql(pg_url):
    from handoff.pg_store import PostgresHandoffStore

    clock = Clock()
    store = PostgresHandoffStore(pg_url, clock=clock)
    try:
        store.add_agent("lin", "Lin", "!", ["general"])
        clock.now = local(1, 9)
        conversation = store.open(sender_id="app:p1", channel="app", language="zh", reason="complaint",
                                  queue="complaints", summary={}, customer_id="C2", tier="vip")
        store.accept(conversation.id, "lin")
        clock.now = local(1, 9, 10)
        store.resolve(conversation.id, back_to_bot=False)
        tickets = TicketStore(store)
        clock.now = local(1, 10)
        ticket = tickets.create(conversation.id, category="complaint", department="complaints", subject="s",
                                due_at=local(1, 14), created_by="lin", owner_id="lin", notice="made")
        clock.now = local(1, 10, 30)
        tickets.reply(ticket.id, "lin", "on it", notice="reply")
        clock.now = local(1, 16)
        tickets.change_status(ticket.id, "resolved", "lin", "done", notice="resolved", ask="csat")
        clock.now = local(1, 17)
        tickets.record_csat(ticket.id, 5)
        records = read_tickets(store, START, END, tiers=TIERS)
    finally:
        store.close()
    assert [(r.channel, r.tier, r.department, r.status, r.resolved_at - r.created_at, r.csat) for r in records] == [
        ("app", "vip", "complaints", "closed", 6 * 3600.0, 5)]
    t = compute([], [], [], RANGE, NOW, tickets=records).tickets.totals
    # 6 h > the 4 h due: resolved late; first reply after 0.5 h
    assert (t.opened, t.resolved, t.overdue, t.on_time_rate, t.first_response_hours.p50, t.csat_average) == (
        1, 1, 1, 0.0, 0.5, 5.0)


def test_a_store_without_tickets_yet(tmp_path):
    store = HandoffStore(tmp_path / "handoff.sqlite3")  # migrated: the tables exist, empty
    assert read_tickets(tmp_path / "handoff.sqlite3") == [] and read_tickets(store) == []
