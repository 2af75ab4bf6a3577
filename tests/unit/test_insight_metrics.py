"""insight/: the service metrics, end to end on real stores.

The fixture writes conversations with known values into the three real records: Rasa's tracker store
(an `events` table in SQLite with Rasa's exact rows, tests/insight_fixture.py), the handoff service's
store (a HandoffStore on a SQLite file, through its public API and a fake clock) and the knowledge-base
query log (knowledge.querylog). insight/sources.py reads them back, insight/metrics.py computes, and
every figure is compared with the value worked out by hand from the scenario below (literal numbers).

Times are in the shop's time, UTC+08:00. The report's range is the three days 2024-05-01..03; "now" is
10 s after its end.

  day 0 (before the range, read for repeat contacts only)
    22:00  socketio:g1  P   request_human -> handoff H0 (ticket, never answered)
    23:50  wechat:o5    X   session starting before midnight, message at 00:05 (belongs to day 0)
  day 1
    10:00  socketio:g1  S1  en guest: greet 0.5 s, ask_faq 1.5 s (kb answer), nlu_fallback 2.0 s (kb suggest)
    11:00  customer:C1  S2  zh wechat: complain 1.0 s -> H1 complaints; "还在吗" relayed (no bot reply);
                            agent message + end of handoff (external events); "4" 0.6 s
    20:00  wechat:o9    S9  zh then en, guest: complain 1.2 s -> H6 complaints
  day 2
    00:30  customer:C1  S3  app zh: ask_order_status 0.8 s (handoff_id carried over: no handoff)
    09:00  customer:C2  S4  app en, vip: request_human 0.7 s -> H2 vip
    12:00  socketio:g10 S10 en guest: ask_faq 0.9 s (kb answer), thanks 0.4 s
    15:00  wechat:o5    S5  zh guest: nlu_fallback 1.1 s (kb none), nlu_fallback 1.3 s (kb none) -> H3 general
    16:30  wechat:o5    -   new session with only a service notice (external): not a conversation
  day 3
    09:00  customer:C3  S8  app zh: request_return 2.5 s (kb unavailable) -> H5 after_sales
    23:59  socketio:g6  S6  en guest: request_human 3.0 s -> H4 general; "hello?" after midnight (no reply)
  day 4
    02:00  socketio:g6  A   next session of g6: after the range

  handoff  created      offered/accepted   wait  first agent msg  resolved            SLA target  CSAT
  H1       S2 +10.5 s   +40.5 / +50.5      30    +130.5 -> 120    +610.5 closed 600    3600 met    4
  H6       S9 +11 s     +21 declined, +81 / +85 70  +111 -> 100  +1011 closed 1000    3600 met    2
  H2       S4 +5.5 s    +25.5 / +30.5      20    +95.5 -> 90      +305.5 returned 300  60 missed   -
  H3       S5 +11 s     never                    none (a system notice only)             60 missed (past)
  H5       S8 +7 s      pulled at +52      45    +57 -> 50        +407 closed 400      60 met      5
  H4       S6 end-48 s  never                    none; now = end+10: 58 s < 60           pending

Tickets (handoff/ticket_store.py on the same store; build_tickets below), made from the closed handoffs
H1 H6 H2 H5 and from conversations K1..K4 filed three days before the range (outside every handoff
figure). Their figures are checked in tests/unit/test_insight_tickets.py, where they are worked out.

  ticket  from  channel  lang tier   category -> department   created     due
  T7      K3    app      zh   guest  technical -> technical   d0 12:00    +48 h   before the range
  T1      H1    wechat   zh   normal complaint -> complaints  d1 11:15    +4 h
  T2      H6    wechat   en   guest  logistics -> logistics   d1 20:30    +16 h
  T3      H2    app      en   vip    after_sales -> after_sales d2 09:10  +72 h
  T5      K1    socketio en   guest  billing -> general       d2 10:00    +48 h
  T6      K2    socketio zh   guest  other -> general         d2 14:00    +72 h
  T4      H5    app      zh   normal complaint -> complaints  d3 09:10    +4 h
  T8      K4    wechat   en   guest  logistics -> logistics   d4 01:00            after the range
"""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from handoff.store import HandoffStore
from handoff.ticket_store import TicketStore
from insight import export
from insight.metrics import bucket_edges, by_key, compute, percentile, repeat_contacts
from insight.model import Filters, HandoffRecord, Session, Turn
from insight.sessions import Event, is_external
from insight.sources import (
    Paths,
    SourceError,
    connect_readonly,
    load,
    read_handoffs,
    read_lookups,
    read_sessions,
)
from knowledge.querylog import Lookup, QueryLog
from tests.insight_fixture import RasaTrackerWriter

DAY = 86400.0
DAY1 = 1_714_492_800.0  # 2024-05-01T00:00:00+08:00


def local(day: int, hour: int, minute: int = 0, second: float = 0.0) -> float:
    """Unix time of day `day` (1 = 2024-05-01) at hh:mm:ss in UTC+08:00."""
    return DAY1 + (day - 1) * DAY + hour * 3600 + minute * 60 + second


START, END = local(1, 0), local(4, 0)
NOW = END + 10
RANGE = Filters(START, END)
TIERS = {"C2": "vip"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class World:
    """The three stores of the scenario in the module docstring, and the handoff ids they got."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = Clock()
        self.tracker_db = root / "rasa-tracker.sqlite3"
        self.handoff_db = root / "handoff.sqlite3"
        self.kb_db = root / "kb-queries.sqlite3"
        self.store = HandoffStore(self.handoff_db, clock=self.clock)
        self.log = QueryLog(self.kb_db)
        self.rasa = RasaTrackerWriter(self.tracker_db)
        self.tickets = TicketStore(self.store)
        self.ids: dict = {}
        self.ticket_ids: dict = {}

    def at(self, t: float) -> HandoffStore:
        self.clock.now = t
        return self.store

    def ticket_at(self, t: float) -> TicketStore:
        self.clock.now = t
        return self.tickets

    def ticket(self, name: str, t: float, handoff: str, category: str, department: str, due_hours: float) -> int:
        made = self.ticket_at(t).create(self.ids[handoff], category=category, department=department,
                                        subject=f"{name} test", due_at=t + due_hours * 3600, created_by="lin",
                                        owner_id=None, notice=f"{name} created")
        self.ticket_ids[name] = made.id
        return made.id

    def open(self, name: str, t: float, sender: str, channel: str, language: str, reason: str, queue: str,
             customer: str = None, tier: str = "normal", state: str = "queued") -> int:
        conversation = self.at(t).open(sender_id=sender, channel=channel, language=language, reason=reason,
                                       queue=queue, summary={"issue": "test"}, customer_id=customer, tier=tier,
                                       state=state)
        self.ids[name] = conversation.id
        return conversation.id

    def lookup(self, t: float, sender: str, channel: str, language: str, decision: str) -> None:
        self.log.record(Lookup(sender, "怎么退货 13812345678", "faq_intent", decision, [("returns-how", 0.3)],
                               None, language, channel, at=t))

    @property
    def paths(self) -> Paths:
        return Paths(self.tracker_db, self.handoff_db, self.kb_db)


def build_world(root: Path) -> World:
    w = World(root)
    rasa = w.rasa

    # --- day 0 ----------------------------------------------------------------------------------
    t = local(0, 22)
    rasa.session("socketio:g1", t, "socketio")
    rasa.user("socketio:g1", t + 5, "转人工", "request_human", 0.99, "socketio", language="zh")
    w.lookup(t + 5.2, "socketio:g1", "socketio", "zh", "none")  # before the range
    h0 = w.open("H0", t + 5.5, "socketio:g1", "socketio", "zh", "customer_request", "general", state="ticket")
    rasa.handoff("socketio:g1", t + 5.6, h0, mode="ticket")
    rasa.bot("socketio:g1", t + 6.0)
    t = local(0, 23, 50)
    rasa.session("wechat:o5", t, "wechat")
    rasa.user("wechat:o5", local(1, 0, 5), "你好", "greet", 0.9, "wechat", language="zh")
    rasa.bot("wechat:o5", local(1, 0, 5, 0.5))

    # --- day 1 ----------------------------------------------------------------------------------
    t = local(1, 10)  # S1
    rasa.session("socketio:g1", t, "socketio", carried={"language": "zh", "handoff": "ticket", "handoff_id": str(h0)})
    rasa.user("socketio:g1", t + 10, "hi", "greet", 0.99, "socketio", language="en")
    rasa.bot("socketio:g1", t + 10.5)
    rasa.user("socketio:g1", t + 20, "What is your return policy? call me on 13812345678", "ask_faq", 0.8,
              "socketio")
    w.lookup(t + 20.2, "socketio:g1", "socketio", "en", "answer")
    rasa.bot("socketio:g1", t + 21.5)
    rasa.user("socketio:g1", t + 30, "blargh zork", "nlu_fallback", 0.3, "socketio")
    w.lookup(t + 30.2, "socketio:g1", "socketio", "en", "suggest")
    rasa.bot("socketio:g1", t + 32.0)

    t = local(1, 11)  # S2
    rasa.session("customer:C1", t, "wechat")
    rasa.user("customer:C1", t + 10, "我要投诉", "complain", 0.9, "wechat", language="zh", customer="C1")
    h1 = w.open("H1", t + 10.5, "customer:C1", "wechat", "zh", "complaint", "complaints", customer="C1")
    rasa.handoff("customer:C1", t + 10.6, h1)
    rasa.bot("customer:C1", t + 11.0)
    w.at(t + 40.5).offer(h1, "lin")
    w.at(t + 50.5).accept(h1, "lin")
    rasa.user("customer:C1", t + 60, "还在吗", "inform", 0.6, "wechat")  # relayed: the bot says nothing
    w.at(t + 130.5).add_message(h1, "agent", "您好，我来处理", agent_id="lin", deliver=True)
    rasa.external("customer:C1", t + 131, "EXTERNAL_agent_message", {"agent_text": "您好，我来处理"}, "wechat")
    rasa.bot("customer:C1", t + 131.5, "您好，我来处理", action="action_deliver_agent_message")
    w.at(t + 610.5).resolve(h1, back_to_bot=False)
    # the end of the handoff without the metadata flag: recognised by its EXTERNAL_ intent alone
    rasa.external("customer:C1", t + 611, "EXTERNAL_handoff_ended", {"outcome": "close"}, "wechat", flagged=False)
    rasa.bot("customer:C1", t + 611.5, "请为本次服务打分 1-5", action="action_handoff_ended")
    rasa.user("customer:C1", t + 620, "4", "inform", 0.7, "wechat")
    w.at(t + 620.3).record_csat(h1, 4)
    rasa.bot("customer:C1", t + 620.6)

    t = local(1, 20)  # S9
    rasa.session("wechat:o9", t, "wechat")
    rasa.user("wechat:o9", t + 10, "I want to complain 订单有问题", "complain", 0.95, "wechat", language="zh")
    h6 = w.open("H6", t + 11.0, "wechat:o9", "wechat", "en", "complaint", "complaints")
    rasa.handoff("wechat:o9", t + 11.1, h6)
    rasa.bot("wechat:o9", t + 11.2)
    rasa.slot("wechat:o9", t + 11.3, "language", "en")
    w.at(t + 21).offer(h6, "lin")
    w.at(t + 40).decline(h6)
    w.at(t + 81).offer(h6, "wang")
    w.at(t + 85).accept(h6, "wang")
    w.at(t + 111).add_message(h6, "agent", "Sorry about that", agent_id="wang", deliver=True)
    w.at(t + 1011).resolve(h6, back_to_bot=False)
    w.at(t + 1020).record_csat(h6, 2)

    # --- day 2 ----------------------------------------------------------------------------------
    t = local(2, 0, 30)  # S3
    rasa.session("customer:C1", t, "app", carried={"language": "zh", "handoff_id": str(h1)})
    rasa.user("customer:C1", t + 5, "我的订单到哪了", "ask_order_status", 0.95, "app", customer="C1")
    rasa.bot("customer:C1", t + 5.8)

    t = local(2, 9)  # S4
    rasa.session("customer:C2", t, "app")
    rasa.user("customer:C2", t + 5, "talk to a human", "request_human", 0.99, "app", language="en", customer="C2")
    h2 = w.open("H2", t + 5.5, "customer:C2", "app", "en", "customer_request", "vip", customer="C2", tier="vip")
    rasa.handoff("customer:C2", t + 5.6, h2)
    rasa.bot("customer:C2", t + 5.7)
    w.at(t + 25.5).offer(h2, "zhao")
    w.at(t + 30.5).accept(h2, "zhao")
    w.at(t + 95.5).add_message(h2, "agent", "Hello, how can I help?", agent_id="zhao", deliver=True)
    w.at(t + 305.5).resolve(h2, back_to_bot=True)

    t = local(2, 12)  # S10
    rasa.session("socketio:g10", t, "socketio")
    rasa.user("socketio:g10", t + 5, "how long does shipping take", "ask_faq", 0.9, "socketio", language="en")
    w.lookup(t + 5.3, "socketio:g10", "socketio", "en", "answer")
    rasa.bot("socketio:g10", t + 5.9)
    rasa.user("socketio:g10", t + 15, "thanks", "thanks", 0.99, "socketio")
    rasa.bot("socketio:g10", t + 15.4)

    t = local(2, 15)  # S5
    rasa.session("wechat:o5", t, "wechat", carried={"language": "zh"})
    rasa.user("wechat:o5", t + 5, "asdfgh", "nlu_fallback", 0.2, "wechat", language="zh")
    w.lookup(t + 5.2, "wechat:o5", "wechat", "zh", "none")
    rasa.bot("wechat:o5", t + 6.1)
    rasa.user("wechat:o5", t + 10, "qwerty", "nlu_fallback", 0.25, "wechat")
    w.lookup(t + 10.2, "wechat:o5", "wechat", "zh", "none")
    h3 = w.open("H3", t + 11.0, "wechat:o5", "wechat", "zh", "low_confidence", "general")
    rasa.handoff("wechat:o5", t + 11.1, h3)
    rasa.bot("wechat:o5", t + 11.3)
    t = local(2, 16, 30)  # a session with only the service's notice in it
    w.at(t).add_message(h3, "system", "您前面还有 1 位", deliver=True)
    rasa.session("wechat:o5", t, "wechat", carried={"language": "zh", "handoff": "waiting", "handoff_id": str(h3)})
    rasa.external("wechat:o5", t + 0.1, "EXTERNAL_agent_message", {"agent_text": "您前面还有 1 位",
                                                                     "agent_kind": "system"}, "wechat")
    rasa.bot("wechat:o5", t + 0.5, "您前面还有 1 位", action="action_deliver_agent_message")

    # --- day 3 ----------------------------------------------------------------------------------
    t = local(3, 9)  # S8
    rasa.session("customer:C3", t, "app")
    rasa.user("customer:C3", t + 5, "我要退货", "request_return", 0.85, "app", language="zh", customer="C3")
    w.lookup(t + 5.1, "customer:C3", "app", "zh", "unavailable")
    h5 = w.open("H5", t + 7.0, "customer:C3", "app", "zh", "customer_request", "after_sales", customer="C3")
    rasa.handoff("customer:C3", t + 7.1, h5)
    rasa.bot("customer:C3", t + 7.5)
    w.at(t + 52).accept(h5, "lin")  # pulled from the queue
    w.at(t + 57).add_message(h5, "agent", "马上为您处理", agent_id="lin", deliver=True)
    w.at(t + 407).resolve(h5, back_to_bot=False)
    w.at(t + 420).record_csat(h5, 5)

    rasa.session("socketio:g6", END - 60, "socketio")  # S6
    rasa.user("socketio:g6", END - 50, "human please", "request_human", 0.97, "socketio", language="en")
    h4 = w.open("H4", END - 48, "socketio:g6", "socketio", "en", "customer_request", "general")
    rasa.handoff("socketio:g6", END - 47.9, h4)
    rasa.bot("socketio:g6", END - 47.0)
    rasa.user("socketio:g6", END + 5, "hello?", "greet", 0.9, "socketio")  # after the range, same session

    # --- day 4 ----------------------------------------------------------------------------------
    t = END + 7200
    rasa.session("socketio:g6", t, "socketio")
    rasa.user("socketio:g6", t + 5, "hi again", "greet", 0.99, "socketio")
    rasa.bot("socketio:g6", t + 5.5)
    rasa.write()
    build_tickets(w)
    return w


def build_tickets(w: World) -> None:
    """The tickets of the module docstring, each one's history in time order (owners must be agents)."""
    for agent_id, role in (("lin", "agent"), ("wang", "agent"), ("zhao", "agent"), ("mei", "supervisor")):
        w.store.add_agent(agent_id, agent_id.title(), "!not-a-password-hash", ["general"], role=role)
    # conversations made tickets that no handoff figure sees: filed and closed 3 days before the range
    for name, sender, channel, language in (("K1", "socketio:k1", "socketio", "en"),
                                            ("K2", "socketio:k2", "socketio", "zh"), ("K3", "app:k3", "app", "zh"),
                                            ("K4", "wechat:k4", "wechat", "en")):
        cid = w.open(name, local(-2, 9), sender, channel, language, "customer_request", "general")
        w.at(local(-2, 9, 1)).accept(cid, "lin")
        w.at(local(-2, 9, 2)).resolve(cid, back_to_bot=False)
    H = 3600.0

    def at(day: int, hour: int, minute: int = 0) -> TicketStore:
        return w.ticket_at(local(day, hour, minute))

    t7 = w.ticket("T7", local(0, 12), "K3", "technical", "technical", 48)  # before the range
    at(0, 13).change_status(t7, "resolved", "lin", "fixed", notice="resolved")

    t1 = w.ticket("T1", local(1, 11, 15), "H1", "complaint", "complaints", 4)
    at(1, 11, 25).change_status(t1, "in_progress", "lin")  # the customer is not told: not a response
    at(1, 11, 45).reply(t1, "lin", "我们正在核实", notice="reply")  # first response: 0.5 h
    at(1, 14, 15).change_status(t1, "resolved", "lin", "已退款", notice="resolved", ask="csat")  # 3 h, on time
    at(1, 14, 25).record_csat(t1, 4)  # closes it

    t2 = w.ticket("T2", local(1, 20, 30), "H6", "logistics", "logistics", 16)  # due d2 12:30
    at(1, 22, 30).change_status(t2, "waiting_customer", "wang", "Which address?", notice="ask", ask="reply")  # 2 h
    at(1, 23, 30).customer_message(t2, "Shanghai")  # back in progress, by the customer: not an agent's action
    at(2, 14).flag_overdue()  # T2, due d2 13:30 after the hour waited on the customer
    at(2, 16, 30).change_status(t2, "resolved", "wang", "Redelivered", notice="resolved", ask="csat")
    at(2, 18, 30).change_status(t2, "in_progress", "wang")  # reopened
    at(2, 22, 30).change_status(t2, "resolved", "wang", "Delivered", notice="resolved", ask="csat")  # 26 h: late
    at(2, 23, 30).record_csat(t2, 1)

    t3 = w.ticket("T3", local(2, 9, 10), "H2", "after_sales", "after_sales", 72)  # due d5 09:10
    at(2, 10, 10).change_status(t3, "in_progress", "zhao")
    at(2, 14, 10).reply(t3, "zhao", "The part is ordered", notice="reply")  # 5 h; still in progress

    t5 = w.ticket("T5", local(2, 10), "K1", "billing", "general", 48)
    at(2, 11).reply(t5, "lin", "Invoice re-issued", notice="reply")  # 1 h
    at(2, 16).change_status(t5, "resolved", "lin", "Done", notice="resolved", ask="csat")  # 6 h, not rated yet

    t6 = w.ticket("T6", local(2, 14), "K2", "other", "general", 72)
    at(2, 15, 30).change_status(t6, "resolved", "lin", "好了", notice="resolved", ask="csat")  # 1.5 h
    at(2, 16).change_status(t6, "in_progress", "lin")  # reopened
    at(2, 17).change_status(t6, "closed", "mei", "重复工单", notice="closed")  # a duplicate: closed unresolved

    t4 = w.ticket("T4", local(3, 9, 10), "H5", "complaint", "complaints", 4)  # due d3 13:10
    at(3, 9, 40).add_note(t4, "lin", "call the warehouse")  # internal
    at(3, 14).flag_overdue()  # T4; never answered, still open

    w.ticket("T8", END + H, "K4", "logistics", "logistics", 16)  # after the range


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return build_world(tmp_path_factory.mktemp("insight"))


@pytest.fixture(scope="module")
def data(world):
    return load(world.paths, RANGE, tiers=TIERS)


@pytest.fixture(scope="module")
def report(data):
    return compute(data.sessions, data.handoffs, data.lookups, RANGE, NOW, tickets=data.tickets)


def sessions_by_start(sessions):
    return {(s.conversation_id, s.started_at): s for s in sessions}


# --- readers ------------------------------------------------------------------------------------------
def test_sessions_are_the_conversations_started_in_the_range(world):
    sessions = read_sessions(world.tracker_db, START, END, tiers=TIERS,
                             handoffs=read_handoffs(world.handoff_db, START - DAY))
    # 9 conversations: S1 S2 S9 / S3 S4 S10 S5 / S8 S6 (not: P and X before, o5's notice-only session, A after)
    assert sorted((s.conversation_id, s.started_at) for s in sessions) == sorted([
        ("socketio:g1", local(1, 10)), ("customer:C1", local(1, 11)), ("wechat:o9", local(1, 20)),
        ("customer:C1", local(2, 0, 30)), ("customer:C2", local(2, 9)), ("socketio:g10", local(2, 12)),
        ("wechat:o5", local(2, 15)), ("customer:C3", local(3, 9)), ("socketio:g6", END - 60)])


def test_a_session_as_read(world, data):
    s = sessions_by_start(data.sessions)
    s2 = s[("customer:C1", local(1, 11))]
    assert (s2.channel, s2.language, s2.customer_id, s2.tier) == ("wechat", "zh", "C1", "normal")
    assert s2.handed_off and s2.handoff_reason == "complaint" and s2.handoff_queue == "complaints"
    assert s2.handoff_ids == (world.ids["H1"],)
    assert s2.ended_at == pytest.approx(local(1, 11) + 620.61)  # the action_listen after the last bot message
    # 3 customer turns: the agent's message and the end of the handoff are external events
    assert [(t.intent, t.confidence, t.fallback, t.bot_response_seconds) for t in s2.turns] == [
        ("complain", 0.9, False, 1.0), ("inform", 0.6, False, None), ("inform", 0.7, False, 0.6)]

    s1 = s[("socketio:g1", local(1, 10))]
    assert s1.language == "en"  # carried over as zh, then detected en
    assert not s1.handed_off and s1.handoff_ids == () and s1.tier == "guest" and s1.customer_id is None
    assert s1.turns[1].text == "What is your return policy? call me on 138****5678"
    assert [t.bot_response_seconds for t in s1.turns] == [0.5, 1.5, 2.0]
    assert [t.fallback for t in s1.turns] == [False, False, True]

    s3 = s[("customer:C1", local(2, 0, 30))]
    assert s3.channel == "app" and not s3.handed_off and s3.handoff_ids == ()  # handoff_id only carried over
    s4 = s[("customer:C2", local(2, 9))]
    assert s4.tier == "vip" and s4.handoff_queue == "vip"
    s9 = s[("wechat:o9", local(1, 20))]
    assert s9.language == "en" and s9.tier == "guest"
    s6 = s[("socketio:g6", END - 60)]
    # the session started in the range keeps its message after the range's end
    assert [(t.intent, t.bot_response_seconds) for t in s6.turns] == [("request_human", 3.0), ("greet", None)]


def test_tier_comes_from_the_handoff_record_without_the_order_systems_tiers(world):
    handoffs = read_handoffs(world.handoff_db, START)
    sessions = sessions_by_start(read_sessions(world.tracker_db, START, END, handoffs=handoffs))
    assert sessions[("customer:C2", local(2, 9))].tier == "vip"  # H2 was filed as vip
    assert sessions[("customer:C3", local(3, 9))].tier == "normal"
    assert sessions[("wechat:o5", local(2, 15))].tier == "guest"
    with_mapping = read_sessions(world.tracker_db, START, END, tiers={"C3": "gold"}, handoffs=handoffs)
    assert sessions_by_start(with_mapping)[("customer:C3", local(3, 9))].tier == "gold"


def test_handoff_records(world):
    records = {r.id: r for r in read_handoffs(world.handoff_db, START, END, tiers=TIERS)}
    ids = world.ids
    assert set(records) == {ids[n] for n in ("H1", "H6", "H2", "H3", "H5", "H4")}  # not H0 (day 0)
    t = local(1, 11)
    assert records[ids["H1"]] == HandoffRecord(
        id=ids["H1"], conversation_id="customer:C1", channel="wechat", language="zh", tier="normal",
        queue="complaints", reason="complaint", created_at=t + 10.5, accepted_at=t + 40.5,
        first_response_at=t + 130.5, resolved_at=t + 610.5, outcome="closed", state="closed",
        sla_target_seconds=3600.0, csat=4, customer_id="C1")
    assert records[ids["H6"]].accepted_at == local(1, 20) + 81  # the offer after the declined one
    h2 = records[ids["H2"]]
    assert (h2.outcome, h2.tier, h2.csat, h2.sla_target_seconds) == ("returned", "vip", None, 60.0)
    h3 = records[ids["H3"]]
    assert (h3.state, h3.accepted_at, h3.first_response_at, h3.tier) == ("queued", None, None, "guest")
    # through HandoffStore's public methods (what a PostgreSQL store is read with): the same records
    store = HandoffStore(world.handoff_db)
    assert read_handoffs(store, START, END, tiers=TIERS) == list(records.values())


def test_lookups(world):
    lookups = read_lookups(world.kb_db, START, END)
    assert [(lk.conversation_id, lk.channel, lk.language, lk.decision) for lk in lookups] == [
        ("socketio:g1", "socketio", "en", "answer"), ("socketio:g1", "socketio", "en", "suggest"),
        ("socketio:g10", "socketio", "en", "answer"), ("wechat:o5", "wechat", "zh", "none"),
        ("wechat:o5", "wechat", "zh", "none"), ("customer:C3", "app", "zh", "unavailable")]


# --- the report ------------------------------------------------------------------------------------
def test_totals(report):
    t = report.totals
    assert t.conversations == 9
    assert (t.contained, t.handed_off) == (3, 6)  # S1 S3 S10 stay with the bot
    assert t.containment_rate == 3 / 9
    assert t.handoff_rate == 6 / 9
    assert report.handoff_rate_by_reason == {"complaint": 2 / 9,  # S2 S9
                                             "customer_request": 3 / 9,  # S4 S8 S6
                                             "low_confidence": 1 / 9}  # S5
    # turns: S1 3, S2 3, S9 1, S3 1, S4 1, S10 2, S5 2, S8 1, S6 2 = 16; fallbacks S1 1 + S5 2 = 3
    assert (t.customer_turns, t.fallback_turns, t.fallback_rate) == (16, 3, 3 / 16)
    # 14 replies: 0.4 0.5 0.6 0.7 0.8 0.9 1.0 1.1 1.2 1.3 1.5 2.0 2.5 3.0 -> p50 7th = 1.0, p90 ceil(12.6) = 13th
    assert (t.bot_response.count, t.bot_response.p50, t.bot_response.p90) == (14, 1.0, 2.5)
    # 6 lookups: answer g1 g10, suggest g1, none o5 o5, unavailable C3
    assert (t.kb_lookups, t.kb_answered, t.kb_suggested, t.kb_no_answer, t.kb_unavailable) == (6, 2, 1, 3, 1)
    assert (t.faq_answer_rate, t.faq_suggest_rate, t.faq_no_answer_rate) == (2 / 6, 1 / 6, 3 / 6)
    assert (t.handoffs, t.tickets) == (6, 0)
    # waits 30 (H1) 70 (H6) 20 (H2) 45 (H5): sorted 20 30 45 70 -> p50 2nd, p90 4th
    assert (t.queue_wait.count, t.queue_wait.p50, t.queue_wait.p90) == (4, 30.0, 70.0)
    # first responses 120 100 90 50: sorted 50 90 100 120
    assert (t.first_response.count, t.first_response.p50, t.first_response.p90) == (4, 90.0, 120.0)
    # resolutions 600 1000 300 400: sorted 300 400 600 1000
    assert (t.resolution.count, t.resolution.p50, t.resolution.p90) == (4, 400.0, 1000.0)
    # met H1 H6 H5; missed H2 (90 > 60) H3 (no reply, past 60 s); pending H4 (58 s, no reply)
    assert (t.sla_met, t.sla_missed, t.sla_pending, t.sla_compliance) == (3, 2, 1, 3 / 5)
    assert (t.csat_count, t.csat_average) == (3, (4 + 2 + 5) / 3)
    assert t.csat_distribution == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    # repeats: S1 (g1 12 h after P, across the range's start), S3 (C1 13.5 h after S2, across midnight)
    assert (t.repeat_contacts, t.repeat_contact_rate) == (2, 2 / 9)
    assert report.bucket == "day"


def test_breakdowns(report):
    channel = by_key(report.breakdowns["channel"])
    assert [row.key for row in report.breakdowns["channel"]] == ["wechat", "app", "socketio"]  # 3 each, by handoffs
    # socketio: S1 S10 S6, S6 handed over; H4; lookups answer, suggest, answer
    assert (channel["socketio"].conversations, channel["socketio"].containment_rate) == (3, 2 / 3)
    assert (channel["socketio"].handoffs, channel["socketio"].kb_lookups) == (1, 3)
    assert channel["socketio"].faq_answer_rate == 2 / 3
    # app: S3 S4 S8, S4 S8 handed over; H2 H5: SLA missed + met; CSAT 5
    assert (channel["app"].contained, channel["app"].handoffs, channel["app"].sla_compliance) == (1, 2, 1 / 2)
    assert channel["app"].csat_average == 5.0
    assert channel["app"].faq_no_answer_rate == 1.0  # the unavailable lookup

    language = by_key(report.breakdowns["language"])
    assert language["en"].conversations == 5 and language["zh"].conversations == 4  # S9 ended in en
    assert language["en"].handoffs == 3 and language["zh"].handoffs == 3  # H6 H2 H4 / H1 H3 H5

    tier = by_key(report.breakdowns["tier"])
    assert {k: v.conversations for k, v in tier.items()} == {"guest": 5, "normal": 3, "vip": 1}
    assert tier["vip"].first_response.p50 == 90.0 and tier["vip"].sla_compliance == 0.0
    assert tier["guest"].kb_lookups == 5  # g1 x2, g10, o5 x2 (by their conversations' tier)

    queue = by_key(report.breakdowns["queue"])
    assert {k: (v.conversations, v.handoffs) for k, v in queue.items()} == {
        "complaints": (2, 2), "general": (2, 2), "vip": (1, 1), "after_sales": (1, 1), "(none)": (3, 0)}
    assert queue["complaints"].first_response.p50 == 100.0  # 100 (H6), 120 (H1): 1st of 2
    assert queue["complaints"].csat_average == 3.0  # (4 + 2) / 2
    assert queue["(none)"].containment_rate == 1.0 and queue["(none)"].kb_lookups == 3  # S1 x2, S10

    reason = by_key(report.breakdowns["reason"])
    assert {k: (v.conversations, v.handoffs) for k, v in reason.items()} == {
        "complaint": (2, 2), "customer_request": (3, 3), "low_confidence": (1, 1), "(none)": (3, 0)}
    assert reason["customer_request"].sla_met == 1 and reason["customer_request"].sla_missed == 1  # H5 / H2
    assert reason["customer_request"].sla_pending == 1  # H4


def test_filter_by_channel(data):
    report = compute(data.sessions, data.handoffs, data.lookups, Filters(START, END, channel="wechat"), NOW)
    t = report.totals
    assert (t.conversations, t.containment_rate, t.handoff_rate) == (3, 0.0, 1.0)  # S2 S9 S5, all handed over
    assert (t.customer_turns, t.fallback_rate) == (6, 2 / 6)  # S2 3, S9 1, S5 2; S5's two fallbacks
    assert t.handoffs == 3  # H1 H6 H3
    assert (t.first_response.p50, t.first_response.p90) == (100.0, 120.0)  # 100, 120: 1st and 2nd of 2
    assert (t.sla_met, t.sla_missed, t.sla_compliance) == (2, 1, 2 / 3)
    assert (t.csat_average, t.csat_count) == (3.0, 2)
    assert (t.kb_lookups, t.faq_answer_rate, t.faq_no_answer_rate) == (2, 0.0, 1.0)
    assert t.repeat_contacts == 0
    assert [p.conversations for p in report.series] == [2, 1, 0]  # S2 S9 / S5 / -


def test_filter_by_queue(data):
    t = compute(data.sessions, data.handoffs, data.lookups, Filters(START, END, queue="complaints"), NOW).totals
    assert (t.conversations, t.containment_rate, t.handoffs) == (2, 0.0, 2)  # S2 S9; H1 H6
    assert t.kb_lookups == 0 and t.faq_answer_rate is None  # no lookups in S2 or S9
    assert (t.queue_wait.p50, t.resolution.p90) == (30.0, 1000.0)  # waits 30 70; resolutions 600 1000


def test_filter_by_tier(data):
    t = compute(data.sessions, data.handoffs, data.lookups, Filters(START, END, tier="guest"), NOW).totals
    assert (t.conversations, t.contained, t.containment_rate) == (5, 2, 2 / 5)  # S1 S9 S10 S5 S6; S1 S10
    assert (t.customer_turns, t.fallback_rate) == (10, 3 / 10)  # 3 + 1 + 2 + 2 + 2
    assert t.handoffs == 3  # H6 H3 H4
    assert (t.sla_met, t.sla_missed, t.sla_pending) == (1, 1, 1)
    assert (t.kb_lookups, t.faq_answer_rate, t.faq_suggest_rate, t.faq_no_answer_rate) == (5, 2 / 5, 1 / 5, 2 / 5)
    assert t.repeat_contact_rate == 1 / 5  # S1


def test_filter_by_language(data):
    t = compute(data.sessions, data.handoffs, data.lookups, Filters(START, END, language="zh"), NOW).totals
    assert t.conversations == 4  # S2 S3 S5 S8
    assert t.handoffs == 3  # H1 H3 H5
    assert (t.kb_lookups, t.kb_unavailable) == (3, 1)  # o5 x2, C3
    assert t.repeat_contacts == 1  # S3


def test_empty_range_gives_none_not_zero(data):
    empty = Filters(END + 10 * DAY, END + 11 * DAY)
    report = compute(data.sessions, data.handoffs, data.lookups, empty, NOW)
    t = report.totals
    assert t.conversations == t.handoffs == t.kb_lookups == t.customer_turns == 0
    for rate in (t.containment_rate, t.handoff_rate, t.fallback_rate, t.faq_answer_rate, t.faq_suggest_rate,
                 t.faq_no_answer_rate, t.sla_compliance, t.csat_average, t.repeat_contact_rate):
        assert rate is None
    for d in (t.bot_response, t.queue_wait, t.first_response, t.resolution):
        assert (d.count, d.p50, d.p90) == (0, None, None)
    assert t.csat_distribution == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    assert report.handoff_rate_by_reason == {}
    assert all(rows == () for rows in report.breakdowns.values())
    assert report.bucket == "hour" and len(report.series) == 24
    assert all(p.conversations == 0 and p.containment_rate is None and p.first_response_p50 is None
               for p in report.series)
    assert "NaN" not in json.dumps(report.to_dict())


def test_day_series(report):
    assert [p.start for p in report.series] == [local(1, 0), local(2, 0), local(3, 0)]
    day1, day2, day3 = report.series
    # day 1: S1 S2 S9, S1 contained; H1 H6; turns 3 + 3 + 1 with 1 fallback; first responses 120 100; CSAT 4 2
    assert (day1.conversations, day1.containment_rate, day1.handoffs) == (3, 1 / 3, 2)
    assert (day1.customer_turns, day1.fallback_rate, day1.first_response_p50) == (7, 1 / 7, 100.0)
    assert (day1.csat_count, day1.csat_average) == (2, 3.0)
    # day 2: S3 S4 S10 S5, S3 S10 contained; H2 H3; turns 1 + 1 + 2 + 2, 2 fallbacks; first response 90 (H2)
    assert (day2.conversations, day2.containment_rate, day2.handoffs) == (4, 2 / 4, 2)
    assert (day2.customer_turns, day2.fallback_rate, day2.first_response_p50) == (6, 2 / 6, 90.0)
    assert (day2.csat_count, day2.csat_average) == (0, None)
    # day 3: S8 S6, both handed over; H5 H4; turns 1 + 2, no fallback; first response 50 (H5); CSAT 5
    assert (day3.conversations, day3.containment_rate, day3.handoffs) == (2, 0.0, 2)
    assert (day3.customer_turns, day3.fallback_rate, day3.first_response_p50) == (3, 0.0, 50.0)
    assert (day3.csat_count, day3.csat_average) == (1, 5.0)


def test_hour_series_and_repeat_contacts_across_midnight(world):
    day2 = Filters(local(2, 0), local(3, 0))
    data = load(world.paths, day2, tiers=TIERS)  # reads day 1 too, for repeat contacts
    report = compute(data.sessions, data.handoffs, data.lookups, day2, NOW)
    assert report.bucket == "hour" and len(report.series) == 24
    assert [p.start for p in report.series[:2]] == [local(2, 0), local(2, 1)]
    busy = {i: p for i, p in enumerate(report.series) if p.conversations or p.handoffs}
    assert sorted(busy) == [0, 9, 12, 15]  # S3 00:30, S4 + H2 09:00, S10 12:00, S5 + H3 15:00
    assert (busy[0].conversations, busy[0].containment_rate) == (1, 1.0)
    assert (busy[9].handoffs, busy[9].first_response_p50, busy[9].containment_rate) == (1, 90.0, 0.0)
    assert (busy[15].handoffs, busy[15].first_response_p50, busy[15].fallback_rate) == (1, None, 1.0)
    t = report.totals
    # S3 (00:30) repeats S2 (day 1, 11:00): another day, outside this range, 13.5 h before
    assert (t.conversations, t.repeat_contacts, t.repeat_contact_rate) == (4, 1, 1 / 4)


def test_series_buckets_are_aligned_to_local_time():
    # 2 days or less: hours, from the hour of the start; longer: days, from local midnight
    assert bucket_edges(Filters(local(1, 10, 30), local(1, 12, 15)), 480) == [local(1, 10), local(1, 11),
                                                                              local(1, 12)]
    assert bucket_edges(Filters(local(1, 10), local(3, 10, 0, 1)), 480) == [local(1, 0), local(2, 0), local(3, 0)]
    assert bucket_edges(Filters(local(1, 0), local(1, 0)), 480) == []
    # at UTC+00:00 a day starts 8 h later than in the shop's time
    assert bucket_edges(Filters(local(1, 10), local(4, 0)), 0)[0] == local(1, 8)


# --- pure parts -----------------------------------------------------------------------------------
def test_percentiles_are_nearest_rank():
    values = [35, 20, 15, 50, 40]
    assert percentile(values, 50) == 35  # sorted 15 20 35 40 50: ceil(2.5) = 3rd
    assert percentile(values, 90) == 50  # ceil(4.5) = 5th
    assert percentile(values, 20) == 15  # ceil(1.0) = 1st
    assert percentile(list(range(1, 21)), 90) == 18  # exactly 18.0: the 18th, no float rounding up
    assert percentile(list(range(1, 11)), 50) == 5
    assert percentile([7.5], 90) == 7.5
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1], 0)


def _session(conversation_id, started_at, customer_id=None):
    turn = Turn(started_at + 1, "hi", "greet", 0.9, False, 0.5)
    return Session(conversation_id, started_at, started_at + 10, "app", "zh", customer_id, "normal", (turn,), False)


def test_repeat_contact_window():
    t = local(2, 12)
    sessions = [
        _session("customer:C7", t - DAY, "C7"), _session("app:x", t, "C7"),  # same customer, other conversation
        _session("a", t - DAY - 0.5), _session("a", t),  # 24 h and a half second before: not a repeat
        _session("b", t), _session("b", t),  # starting at the same time: neither is "before" the other
    ]
    assert repeat_contacts(sessions) == {("app:x", t)}  # exactly 24 h before counts


def test_external_events_are_not_customer_messages():
    def user(metadata, intent, parse_metadata=None):
        return Event(1, "user", 0.0, intent, None, {"metadata": metadata, "parse_data": {
            "intent": {"name": intent}, "metadata": parse_metadata or {}}})
    assert is_external(user({"is_external": True}, "EXTERNAL_agent_message"))
    assert is_external(user({}, "EXTERNAL_handoff_ended"))
    assert is_external(user({"is_external": True}, "inform"))
    assert is_external(user({}, "inform", {"is_external": True}))
    assert not is_external(user({"channel_user": {}}, "inform"))


def test_sessions_without_turns_are_not_counted(data):
    hollow = Session("x", START + 5, START + 6, "app", "zh", None, "guest", (), False)
    report = compute([*data.sessions, hollow], data.handoffs, data.lookups, RANGE, NOW)
    assert report.totals.conversations == 9


# --- output ----------------------------------------------------------------------------------------
def test_to_dict_is_json(report):
    decoded = json.loads(json.dumps(report.to_dict()))
    assert decoded["totals"]["conversations"] == 9
    assert decoded["totals"]["csat_distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert decoded["totals"]["first_response"] == {"count": 4, "p50": 90.0, "p90": 120.0}
    # most conversations first, then most handoffs, then most lookups: (none) 3, general 2/2/2, complaints 2/2/0
    assert [row["key"] for row in decoded["breakdowns"]["queue"]] == ["(none)", "general", "complaints", "after_sales",
                                                                     "vip"]
    assert decoded["filters"] == {"start": START, "end": END, "channel": None, "language": None, "queue": None,
                                  "tier": None}
    assert len(decoded["series"]) == 3 and decoded["series"][1]["csat_average"] is None


def test_series_csv(report):
    rows = list(csv.reader(io.StringIO(export.series_csv(report))))
    assert rows[0] == list(export.SERIES_COLUMNS)
    assert rows[1] == ["2024-05-01T00:00:00+08:00", "2024-05-02T00:00:00+08:00", "3", "1", "0.3333", "2", "7",
                       "0.1429", "100.0", "2", "3.0", "2"]  # tickets opened: T1 T2
    assert rows[2] == ["2024-05-02T00:00:00+08:00", "2024-05-03T00:00:00+08:00", "4", "2", "0.5", "2", "6",
                       "0.3333", "90.0", "0", "", "3"]  # T3 T5 T6
    assert len(rows) == 4
    utc = list(csv.reader(io.StringIO(export.series_csv(report, utc_offset="+00:00"))))
    assert utc[1][:2] == ["2024-04-30T16:00:00+00:00", "2024-05-01T16:00:00+00:00"]


def test_breakdowns_csv(report):
    rows = list(csv.DictReader(io.StringIO(export.breakdowns_csv(report))))
    total = rows[0]
    assert (total["dimension"], total["key"], total["conversations"], total["sla_compliance"]) == (
        "total", "all", "9", "0.6")
    assert (total["period_start"], total["period_end"]) == ("2024-05-01T00:00:00+08:00", "2024-05-04T00:00:00+08:00")
    wechat = next(r for r in rows if r["dimension"] == "channel" and r["key"] == "wechat")
    assert (wechat["conversations"], wechat["containment_rate"], wechat["first_response_p50_seconds"],
            wechat["faq_answer_rate"], wechat["csat_average"]) == ("3", "0.0", "100.0", "0.0", "3.0")
    none_queue = next(r for r in rows if r["dimension"] == "queue" and r["key"] == "(none)")
    assert (none_queue["handoffs"], none_queue["sla_compliance"], none_queue["csat_average"]) == ("0", "", "")
    assert len(rows) == 1 + sum(len(v) for v in report.breakdowns.values())


# --- how the stores are opened ----------------------------------------------------------------------
def test_readers_open_read_only_and_do_not_block_writers(world):
    db = connect_readonly(world.tracker_db)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.execute("DELETE FROM events")
    finally:
        db.close()
    before = world.tracker_db.read_bytes()
    writer = sqlite3.connect(world.tracker_db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a writer is in the middle of a transaction
        assert len(read_sessions(world.tracker_db, START, END)) == 9
        writer.execute("INSERT INTO events (sender_id, type_name, timestamp) VALUES ('z', 'bot', 0)")
        writer.execute("ROLLBACK")  # and could go on writing
    finally:
        writer.close()
    assert world.tracker_db.read_bytes() == before


def test_missing_or_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_sessions(tmp_path / "nothing.sqlite3")
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(SourceError, match="no such table"):
        read_handoffs(other)
    with pytest.raises(SourceError):
        read_lookups(other)


@pytest.mark.postgres
def test_handoffs_from_postgresql(pg_url):
    from handoff.pg_store import PostgresHandoffStore

    clock = Clock()
    store = PostgresHandoffStore(pg_url, clock=clock)
    try:
        clock.now = local(1, 9)
        first = store.open(sender_id="app:p1", channel="app", language="zh", reason="customer_request",
                           queue="orders", summary={})
        clock.now = local(1, 9, 0, 15)
        store.accept(first.id, "lin")
        clock.now = local(1, 9, 0, 40)
        store.add_message(first.id, "agent", "您好", agent_id="lin")
        clock.now = local(1, 9, 5)
        store.resolve(first.id, back_to_bot=False)
        store.record_csat(first.id, 3)
        records = read_handoffs(store, START, END)
    finally:
        store.close()
    assert [(r.conversation_id, r.tier, r.accepted_at - r.created_at, r.first_response_at - r.created_at,
             r.resolved_at - r.created_at, r.csat, r.sla_target_seconds) for r in records] == [
        ("app:p1", "guest", 15.0, 40.0, 300.0, 3, 60.0)]
    t = compute([], records, [], RANGE, NOW).totals
    assert (t.handoffs, t.sla_met, t.sla_compliance, t.csat_average) == (1, 1, 1.0, 3.0)


def test_load_without_the_lazily_created_stores(world, tmp_path):
    paths = Paths(world.tracker_db, tmp_path / "handoff.sqlite3", tmp_path / "kb-queries.sqlite3")
    data = load(paths, RANGE, tiers=TIERS)
    assert (len(data.handoffs), len(data.lookups)) == (0, 0)
    t = compute(data.sessions, data.handoffs, data.lookups, RANGE, NOW).totals
    assert (t.conversations, t.handed_off, t.kb_lookups, t.faq_answer_rate) == (9, 6, 0, None)
    # without records, handed-over conversations have no known reason or queue
    assert compute(data.sessions, [], [], RANGE, NOW).handoff_rate_by_reason == {"unknown": 6 / 9}
    with pytest.raises(FileNotFoundError):
        load(Paths(tmp_path / "rasa.sqlite3", world.handoff_db, world.kb_db), RANGE)
