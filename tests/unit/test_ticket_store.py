"""handoff/ticket_store.py on real databases: every test runs on a SQLite file and on a fresh PostgreSQL
database (the `backend` / `store` / `clock` fixtures of test_handoff_store.py; the PostgreSQL cases are
marked `postgres`). Each change is checked with what it leaves in the database: the ticket row, its
history events and the conversation's outbox (what the customer will be sent), all or nothing.

Races run on two stores opened on the same database (two handoff services), in threads."""
from __future__ import annotations

import sqlite3
import threading
import time
from typing import Callable, List

import pytest

from handoff.store import ENDED_INTENT, MESSAGE_INTENT, StoreError
from handoff.ticket_store import TicketStore
from tests.unit import test_handoff_store as base
from tests.unit.test_handoff_store import T0, active, agent, queue, raw
from tickets.model import TicketError

# The fixtures of the handoff store's tests: `backend` (sqlite, postgresql), `store` on it, the fake `clock`.
backend, db_path, clock, store = base.backend, base.db_path, base.clock, base.store


@pytest.fixture
def tickets(store):
    return TicketStore(store)


def outbox(store, conversation_id: int) -> List[tuple]:
    """(intent, entities) of the conversation's undelivered outbox items, in order."""
    return [(i.intent, i.entities) for i in store.pending_outbox(1000) if i.conversation_id == conversation_id]


def notices(store, conversation_id: int) -> List[dict]:
    return [e for intent, e in outbox(store, conversation_id) if intent == MESSAGE_INTENT]


def make(tickets: TicketStore, conversation_id: int, **kw):
    kw.setdefault("category", "technical")
    kw.setdefault("department", "technical")
    kw.setdefault("subject", "printer on fire")
    kw.setdefault("due_at", T0 + 3600)
    kw.setdefault("created_by", "a1")
    kw.setdefault("owner_id", None)
    kw.setdefault("notice", lambda t: f"you have ticket {t.number}")
    return tickets.create(conversation_id, **kw)


def count(backend, sql: str, args: tuple = ()) -> int:
    db = raw(backend)
    try:
        return db.execute(backend.sql(sql), args).fetchone()[0]
    finally:
        db.close()


def in_threads(*calls: Callable[[], object], timeout: float = 30) -> list:
    """Runs the calls at once (each in its own thread, released together); their results or exceptions."""
    results: list = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i: int, call) -> None:
        start.wait(timeout)
        try:
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - returned for the test to look at
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread hung"
    return results


# --- create ------------------------------------------------------------------------------------------
def test_create_from_an_active_chat_ends_it_and_tells_the_number(store, tickets, clock, backend):
    agent(store, "a1")
    conversation = active(store, "web-1")
    before = outbox(store, conversation.id)
    clock.advance(30)
    ticket = make(tickets, conversation.id, owner_id="a1", note="called the courier")
    assert ticket.number == "T000001" and ticket.id == 1
    assert (ticket.conversation_id, ticket.sender_id, ticket.channel, ticket.language, ticket.tier) == (
        conversation.id, "web-1", "web", "zh", "normal")
    assert (ticket.category, ticket.department, ticket.subject, ticket.status) == (
        "technical", "technical", "printer on fire", "open")
    assert (ticket.owner_id, ticket.created_by, ticket.created_at, ticket.due_at, ticket.updated_at) == (
        "a1", "a1", T0 + 30, T0 + 3600, T0 + 30)
    assert (ticket.resolved_at, ticket.closed_at, ticket.overdue_at, ticket.csat_score) == (None, None, None, None)
    assert tickets.get(ticket.id) == ticket == tickets.for_conversation(conversation.id)
    # the chat ended: the customer is back with the bot, and the agent's slot is free
    after = store.get(conversation.id)
    assert (after.state, after.closed_at) == ("returned", T0 + 30)
    assert [a.active for a in store.agents() if a.id == "a1"] == [0]
    assert tuple(store.history(conversation.id)[-1][2:6]) == ("active", "returned", "a1", T0 + 30)
    events = tickets.events(ticket.id)
    assert [(e.kind, e.agent_id, e.from_status, e.to_status, e.public) for e in events] == [
        ("created", "a1", None, "open", True), ("assigned", "a1", None, None, False),
        ("note", "a1", None, None, False)]
    assert events[0].text == "you have ticket T000001" and events[2].text == "called the courier"
    # the end of the chat, then the numbered notice, in the outbox of the conversation
    assert outbox(store, conversation.id)[len(before):] == [
        (ENDED_INTENT, {"outcome": "ticket", "handoff_id": str(conversation.id)}),
        (MESSAGE_INTENT, {"agent_text": "you have ticket T000001", "agent_kind": "system",
                          "ticket_number": "T000001", "ticket_event": str(events[0].id),
                          "ticket_status": "open"})]
    assert count(backend, "SELECT COUNT(*) FROM tickets") == 1


def test_create_is_one_transaction_a_failing_notice_leaves_nothing(store, tickets, backend):
    agent(store, "a1")
    conversation = active(store, "web-1")
    before = outbox(store, conversation.id)

    def broken(ticket):
        raise RuntimeError("template missing")

    with pytest.raises(RuntimeError):
        make(tickets, conversation.id, notice=broken)
    assert store.get(conversation.id).state == "active"  # the chat goes on
    assert outbox(store, conversation.id) == before  # no "ended", no notice
    assert count(backend, "SELECT COUNT(*) FROM tickets") == 0
    assert count(backend, "SELECT COUNT(*) FROM ticket_events") == 0
    assert make(tickets, conversation.id).status == "open"  # and it can be done again


def test_create_from_a_left_message(store, tickets):
    left = queue(store, "web-2", state="ticket", summary={"message": "call me back"}, customer_id="C7",
                 language="en", tier="vip")
    ticket = make(tickets, left.id, notice="your ticket")
    assert (ticket.customer_id, ticket.language, ticket.tier) == ("C7", "en", "vip")
    assert store.get(left.id).state == "returned"
    assert outbox(store, left.id) == [
        (ENDED_INTENT, {"outcome": "ticket", "handoff_id": str(left.id)}),
        (MESSAGE_INTENT, {"agent_text": "your ticket", "agent_kind": "system", "ticket_number": ticket.number,
                          "ticket_event": str(tickets.events(ticket.id)[0].id), "ticket_status": "open"})]


@pytest.mark.parametrize("back_to_bot", [False, True])
def test_create_from_a_closed_or_returned_conversation_ends_nothing(store, tickets, clock, back_to_bot):
    agent(store, "a1")
    conversation = active(store, "web-3")
    done = store.resolve(conversation.id, back_to_bot=back_to_bot)
    before = outbox(store, conversation.id)
    history = store.history(conversation.id)
    clock.advance(3600)
    ticket = make(tickets, conversation.id)
    after = store.get(conversation.id)
    assert (after.state, after.closed_at) == (done.state, done.closed_at)  # untouched
    assert store.history(conversation.id) == history
    added = outbox(store, conversation.id)[len(before):]
    assert [intent for intent, _ in added] == [MESSAGE_INTENT]  # the notice only, no second "ended"
    assert added[0][1]["ticket_number"] == ticket.number


@pytest.mark.parametrize("state", ["queued", "offered"])
def test_create_while_waiting_for_an_agent_is_refused(store, tickets, backend, state):
    agent(store, "a1")
    conversation = queue(store, "web-4")
    if state == "offered":
        store.offer(conversation.id, "a1")
    before = outbox(store, conversation.id)
    with pytest.raises(StoreError, match=f"is {state}: accept it first"):
        make(tickets, conversation.id)
    assert store.get(conversation.id).state == state
    assert outbox(store, conversation.id) == before
    assert count(backend, "SELECT COUNT(*) FROM tickets") == 0


def test_create_for_an_unknown_conversation(tickets):
    with pytest.raises(StoreError, match="no conversation 4242"):
        make(tickets, 4242)


def test_one_ticket_per_conversation(store, tickets, backend):
    agent(store, "a1")
    conversation = active(store, "web-5")
    first = make(tickets, conversation.id)
    with pytest.raises(StoreError, match=f"ticket {first.number} already"):
        make(tickets, conversation.id, category="complaint")
    assert count(backend, "SELECT COUNT(*) FROM tickets") == 1
    assert len(notices(store, conversation.id)) == 1


def test_the_database_itself_refuses_a_second_ticket_for_a_conversation(store, tickets, backend):
    agent(store, "a1")
    conversation = active(store, "web-5")
    make(tickets, conversation.id)
    db = raw(backend)
    try:
        with pytest.raises(backend.IntegrityError):
            db.execute(backend.sql(
                "INSERT INTO tickets (conversation_id, sender_id, channel, language, category, department, subject, "
                "status, created_by, created_at, due_at, updated_at) VALUES (?, 'x', 'web', 'zh', 'c', 'd', 's', "
                "'open', 'a1', 0, 0, 0)"), (conversation.id,))
    finally:
        db.close()


@pytest.mark.parametrize("state", ["active", "closed"])
def test_two_services_creating_for_one_conversation_at_once_one_wins(backend, clock, state):
    """Two stores on one database. The first is held inside its transaction (after its insert, before its
    commit) while the second starts: the second must see the first's ticket, not make another."""
    one, two = TicketStore(backend.store(clock)), TicketStore(backend.store(clock))
    agent(one.store, "a1")
    conversation = active(one.store, "web-6")
    if state == "closed":
        one.store.resolve(conversation.id, back_to_bot=False)
    before = outbox(one.store, conversation.id)
    inside = threading.Event()

    def slow_notice(ticket):
        inside.set()
        time.sleep(0.5)  # the other service starts meanwhile
        return f"first {ticket.number}"

    def second():
        assert inside.wait(10)
        return make(two, conversation.id, notice="second")

    first_result, second_result = in_threads(lambda: make(one, conversation.id, notice=slow_notice), second)
    assert first_result.status == "open", first_result
    assert isinstance(second_result, StoreError) and "already" in str(second_result), second_result
    assert count(backend, "SELECT COUNT(*) FROM tickets WHERE conversation_id = ?", (conversation.id,)) == 1
    assert count(backend, "SELECT COUNT(*) FROM ticket_events WHERE kind = 'created'") == 1
    added = outbox(one.store, conversation.id)[len(before):]
    assert [e["agent_text"] for i, e in added if i == MESSAGE_INTENT] == ["first T000001"]
    assert [i for i, _ in added if i == ENDED_INTENT] == ([ENDED_INTENT] if state == "active" else [])


def test_many_creates_at_once_give_one_ticket_each(backend, clock):
    stores = [TicketStore(backend.store(clock)) for _ in range(4)]
    agent(stores[0].store, "a1", capacity=10)
    conversations = [active(stores[0].store, f"web-r{i}") for i in range(5)]
    for conversation in conversations:
        results = in_threads(*(lambda s=s, c=conversation.id: make(s, c) for s in stores))
        won = [r for r in results if not isinstance(r, Exception)]
        assert len(won) == 1, results
        assert all(isinstance(r, StoreError) for r in results if r not in won), results
        assert len(notices(stores[0].store, conversation.id)) == 1
    assert count(backend, "SELECT COUNT(*) FROM tickets") == 5
    assert {t.conversation_id for t in stores[0].listing()} == {c.id for c in conversations}


# --- status ------------------------------------------------------------------------------------------
@pytest.fixture
def ticket(store, tickets):
    agent(store, "a1")
    agent(store, "a2")
    conversation = active(store, "web-9")
    return make(tickets, conversation.id)


def test_status_changes_their_events_and_notices(store, tickets, clock, ticket):
    cid = ticket.conversation_id
    start = len(notices(store, cid))
    clock.advance(60)
    working = tickets.change_status(ticket.id, "in_progress", "a2", "", "on it")
    assert (working.status, working.updated_at) == ("in_progress", T0 + 60)
    assert working.owner_id == "a2"  # whoever starts work on an unowned ticket owns it
    clock.advance(60)
    waiting = tickets.change_status(ticket.id, "waiting_customer", "a2", "your order number?", "tell us", "reply")
    assert waiting.status == "waiting_customer"
    clock.advance(60)
    resolved = tickets.change_status(ticket.id, "resolved", "a2", "replaced", "resolved!", "csat")
    assert (resolved.status, resolved.resolved_at, resolved.closed_at) == ("resolved", T0 + 180, None)
    clock.advance(60)
    reopened = tickets.change_status(ticket.id, "in_progress", "a1", "", "again")
    assert reopened.owner_id == "a2"  # an owner is not replaced by whoever reopens
    tickets.change_status(ticket.id, "resolved", "a2", "really", "resolved again", "csat")
    clock.advance(60)
    closed = tickets.change_status(ticket.id, "closed", "a1", "", None)  # no notice: nothing sent
    assert (closed.status, closed.closed_at) == ("closed", T0 + 300)
    statuses = [e for e in tickets.events(ticket.id) if e.kind == "status"]
    assert [(e.from_status, e.to_status, e.agent_id, e.text, e.public) for e in statuses] == [
        ("open", "in_progress", "a2", "", True), ("in_progress", "waiting_customer", "a2", "your order number?", True),
        ("waiting_customer", "resolved", "a2", "replaced", True), ("resolved", "in_progress", "a1", "", True),
        ("in_progress", "resolved", "a2", "really", True), ("resolved", "closed", "a1", "", False)]
    sent = notices(store, cid)[start:]
    assert [(n["agent_text"], n.get("ticket_ask")) for n in sent] == [
        ("on it", None), ("tell us", "reply"), ("resolved!", "csat"), ("again", None), ("resolved again", "csat")]
    assert [n["ticket_event"] for n in sent] == [str(e.id) for e in statuses[:5]]
    assert all(n["ticket_number"] == ticket.number and n["agent_kind"] == "system" for n in sent)


def test_an_illegal_status_change_changes_nothing(store, tickets, ticket):
    before_notices = notices(store, ticket.conversation_id)
    with pytest.raises(TicketError, match="the ticket is open already"):
        tickets.change_status(ticket.id, "open", "a1", "", "x")
    with pytest.raises(TicketError, match="unknown status"):
        tickets.change_status(ticket.id, "reopened", "a1", "", "x")
    assert tickets.get(ticket.id) == ticket
    assert [e.kind for e in tickets.events(ticket.id)] == ["created"]
    assert notices(store, ticket.conversation_id) == before_notices
    with pytest.raises(StoreError, match="no ticket T000099"):
        tickets.change_status(99, "in_progress", "a1")


def _hold_ticket_row(backend, ticket_id: int):
    """A transaction of our own that holds the ticket's row (PostgreSQL) or the write lock (SQLite), so
    that writers started now all wait, and then race when it ends (`release()`)."""
    if backend.name == "sqlite":  # released from the timer's thread
        db = sqlite3.connect(backend.path, isolation_level=None, check_same_thread=False)
        db.execute("BEGIN IMMEDIATE")
    else:
        db = raw(backend)
        db.execute("BEGIN")
        db.execute("SELECT id FROM tickets WHERE id = %s FOR UPDATE", (ticket_id,))

    def release():
        db.execute("COMMIT")
        db.close()
    return release


def test_concurrent_status_changes_one_wins_the_stale_one_is_refused(backend, clock, ticket):
    one, two = TicketStore(backend.store(clock)), TicketStore(backend.store(clock))
    release = _hold_ticket_row(backend, ticket.id)
    timer = threading.Timer(0.5, release)  # both writers have read 'open' and wait by then
    timer.start()
    try:
        results = in_threads(lambda: one.change_status(ticket.id, "in_progress", "a1", "", "one"),
                             lambda: two.change_status(ticket.id, "in_progress", "a2", "", "two"))
    finally:
        timer.join()
    won = [r for r in results if not isinstance(r, Exception)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], (TicketError, StoreError)), lost
    assert "in_progress already" in str(lost[0]) or "changed meanwhile" in str(lost[0])
    assert won[0].owner_id in ("a1", "a2") and one.get(ticket.id).owner_id == won[0].owner_id
    assert [e.kind for e in one.events(ticket.id)].count("status") == 1
    assert len(notices(one.store, ticket.conversation_id)) == 2  # created + the winner's


def test_an_update_of_a_ticket_changed_under_it_is_refused(store, tickets, ticket, monkeypatch):
    """The UPDATE is conditional on the status read: if it no longer matches (here: the status row read
    was stale), nothing is written and the caller is told to reload."""
    import handoff.ticket_store as module

    real_one = module._one
    calls = []

    def stale_first_read(db, ticket_id):
        found = real_one(db, ticket_id)
        calls.append(found.status)
        if len(calls) == 1:
            db.execute("UPDATE tickets SET status = 'waiting_customer' WHERE id = ?", (ticket_id,))
        return found

    monkeypatch.setattr(module, "_one", stale_first_read)
    with pytest.raises(StoreError, match="changed meanwhile; reload it"):
        tickets.change_status(ticket.id, "in_progress", "a1", "", "x")
    monkeypatch.undo()
    assert tickets.get(ticket.id).status == "open"  # rolled back, the meddling too
    assert [e.kind for e in tickets.events(ticket.id)] == ["created"]


# --- the customer's side -------------------------------------------------------------------------------
def test_customer_message_puts_a_waiting_ticket_back_in_progress(store, tickets, clock, ticket):
    tickets.change_status(ticket.id, "waiting_customer", "a1", "which colour?", "tell us", "reply")
    clock.advance(600)
    back = tickets.customer_message(ticket.id, "the red one")
    assert (back.status, back.updated_at) == ("in_progress", T0 + 600)
    events = tickets.events(ticket.id)[-2:]
    assert [(e.kind, e.agent_id, e.from_status, e.to_status, e.text, e.public) for e in events] == [
        ("customer_message", None, None, None, "the red one", False),
        ("status", None, "waiting_customer", "in_progress", "", False)]
    clock.advance(60)
    again = tickets.customer_message(ticket.id, "and a spare")  # in progress: just added
    assert (again.status, again.updated_at) == ("in_progress", T0 + 660)
    assert [e.kind for e in tickets.events(ticket.id)][-1] == "customer_message"
    tickets.change_status(ticket.id, "resolved", "a1", "done", "done")
    assert tickets.customer_message(ticket.id, "thanks").status == "resolved"  # a resolved one stays resolved
    tickets.change_status(ticket.id, "closed", "a1")
    with pytest.raises(StoreError, match="closed"):
        tickets.customer_message(ticket.id, "hello?")


def test_a_wait_on_the_customer_stops_the_due_clock_and_its_end_moves_the_due_time(store, tickets, clock, ticket):
    assert ticket.paused_at is None and ticket.due_at == T0 + 3600
    clock.advance(1000)
    waiting = tickets.change_status(ticket.id, "waiting_customer", "a1", "which colour?", "tell us", "reply")
    assert (waiting.paused_at, waiting.due_at) == (T0 + 1000, T0 + 3600)
    clock.advance(10_000)  # long past the due time, but waiting on the customer
    assert tickets.flag_overdue() == []
    assert not tickets.get(ticket.id).overdue(clock()) and tickets.get(ticket.id).seconds_left(clock()) == 2600
    back = tickets.customer_message(ticket.id, "the red one")  # without a rule: the wait's plain seconds
    assert (back.status, back.paused_at, back.due_at) == ("in_progress", None, T0 + 3600 + 10_000)
    clock.advance(2599)
    assert tickets.flag_overdue() == []
    clock.advance(2)
    assert [t.id for t in tickets.flag_overdue()] == [ticket.id]


def test_the_services_rule_moves_the_due_time_when_a_wait_ends_by_any_status(store, tickets, clock, ticket):
    seen = []

    def resume(t, now):
        seen.append((t.status, t.paused_at, now))
        return t.due_at + 7

    for to_status in ("in_progress", "resolved"):
        tickets.change_status(ticket.id, "waiting_customer", "a1", "?", "?", "reply", resume=resume)
        clock.advance(50)
        after = tickets.change_status(ticket.id, to_status, "a1", "x", "x", resume=resume)
        assert after.paused_at is None
        if to_status == "resolved":
            tickets.change_status(ticket.id, "in_progress", "a1", "", "again", resume=resume)
    assert seen == [("waiting_customer", T0, T0 + 50), ("waiting_customer", T0 + 50, T0 + 100)]
    assert tickets.get(ticket.id).due_at == T0 + 3600 + 14
    tickets.change_status(ticket.id, "waiting_customer", "a1", "?", "?", "reply")
    clock.advance(10)
    assert tickets.customer_message(ticket.id, "hi", resume=lambda t, now: 123.0).due_at == 123.0


def test_a_ticket_late_before_its_wait_began_is_flagged_during_it(store, tickets, clock, ticket):
    clock.advance(3601)  # late, not flagged yet (housekeeping had not run)
    tickets.change_status(ticket.id, "waiting_customer", "a1", "?", "?", "reply")
    clock.advance(600)
    flagged = tickets.flag_overdue()
    assert [t.id for t in flagged] == [ticket.id] and flagged[0].overdue(clock())


def test_recategorize_computes_the_due_time_in_the_transaction_from_the_history(store, tickets, clock, ticket):
    tickets.change_status(ticket.id, "waiting_customer", "a1", "?", "?", "reply")
    clock.advance(300)
    tickets.customer_message(ticket.id, "here")
    got = []

    def due(t, history):
        got.append((t.id, [(e.kind, e.from_status, e.to_status) for e in history]))
        return t.created_at + 99

    moved = tickets.recategorize(ticket.id, "complaint", "complaints", due, "a1")
    assert moved.due_at == T0 + 99
    assert got == [(ticket.id, [("created", None, "open"), ("status", "open", "waiting_customer"),
                                ("customer_message", None, None), ("status", "waiting_customer", "in_progress")])]


def test_record_csat_closes_a_resolved_ticket(store, tickets, clock, ticket):
    with pytest.raises(StoreError, match="not resolved yet"):
        tickets.record_csat(ticket.id, 5)
    tickets.change_status(ticket.id, "resolved", "a1", "fixed", "fixed")
    sent = len(outbox(store, ticket.conversation_id))
    clock.advance(120)
    rated = tickets.record_csat(ticket.id, 4)
    assert (rated.status, rated.closed_at, rated.csat_score, rated.csat_comment) == ("closed", T0 + 120, 4, None)
    assert [(e.kind, e.text, e.from_status, e.to_status) for e in tickets.events(ticket.id)[-2:]] == [
        ("csat", "4", None, None), ("status", "", "resolved", "closed")]
    clock.advance(60)
    commented = tickets.record_csat(ticket.id, 4, "quick and kind")  # the comment, in a second call
    assert (commented.status, commented.csat_score, commented.csat_comment, commented.closed_at) == (
        "closed", 4, "quick and kind", T0 + 120)
    assert tickets.record_csat(ticket.id, 5).csat_comment == "quick and kind"  # kept when none is given
    assert len(outbox(store, ticket.conversation_id)) == sent  # the customer is sent nothing for rating


@pytest.mark.parametrize("score", [0, 6, -1, "5", 4.0, True, None])
def test_record_csat_validates_the_score(tickets, ticket, score):
    tickets.change_status(ticket.id, "resolved", "a1", "fixed", "fixed")
    with pytest.raises(ValueError, match="whole number from 1 to 5"):
        tickets.record_csat(ticket.id, score)
    assert tickets.get(ticket.id).status == "resolved"


# --- notes, replies, owners, categories ------------------------------------------------------------------
def test_notes_stay_inside_and_replies_reach_the_customer(store, tickets, clock, ticket):
    before = notices(store, ticket.conversation_id)
    clock.advance(5)
    note = tickets.add_note(ticket.id, "a1", "customer sounds upset")
    assert (note.kind, note.public, note.text, note.agent_id, note.at) == ("note", False, "customer sounds upset",
                                                                           "a1", T0 + 5)
    assert notices(store, ticket.conversation_id) == before
    reply = tickets.reply(ticket.id, "a1", "parts ordered", "Ticket update: parts ordered")
    assert (reply.kind, reply.public, reply.delivered_at) == ("reply", True, None)
    assert notices(store, ticket.conversation_id)[len(before):] == [
        {"agent_text": "Ticket update: parts ordered", "agent_kind": "system", "ticket_number": ticket.number,
         "ticket_event": str(reply.id), "ticket_status": "open"}]
    assert tickets.get(ticket.id).status == "open"  # a reply changes no status
    tickets.change_status(ticket.id, "resolved", "a1", "x", "x")
    tickets.change_status(ticket.id, "closed", "a1")
    with pytest.raises(StoreError, match="closed"):
        tickets.reply(ticket.id, "a1", "late", "late")
    with pytest.raises(StoreError, match="no ticket"):
        tickets.add_note(77, "a1", "x")


def test_assign(store, tickets, clock, ticket, backend):
    clock.advance(10)
    given = tickets.assign(ticket.id, "a2", "a1")
    assert (given.owner_id, given.updated_at) == ("a2", T0 + 10)
    same = tickets.assign(ticket.id, "a2", "a1")
    assert same == given
    assert [(e.kind, e.text, e.agent_id) for e in tickets.events(ticket.id) if e.kind == "assigned"] == [
        ("assigned", "a2", "a1")]  # the repeat wrote nothing
    with pytest.raises(backend.IntegrityError):  # the database knows its agents
        tickets.assign(ticket.id, "nobody", "a1")
    tickets.change_status(ticket.id, "resolved", "a2", "x", "x")
    tickets.change_status(ticket.id, "closed", "a2")
    with pytest.raises(StoreError, match="closed"):
        tickets.assign(ticket.id, "a1", "a1")


def test_recategorize_moves_the_due_time_and_clears_the_overdue_flag(store, tickets, clock, ticket):
    clock.advance(7200)  # past due_at = T0 + 3600
    assert [t.id for t in tickets.flag_overdue()] == [ticket.id]
    moved = tickets.recategorize(ticket.id, "complaint", "complaints", T0 + 86400, "a1")
    assert (moved.category, moved.department, moved.due_at, moved.overdue_at) == (
        "complaint", "complaints", T0 + 86400, None)
    assert tickets.events(ticket.id)[-1].text == "technical -> complaint"
    clock.advance(86400)
    assert [t.id for t in tickets.flag_overdue()] == [ticket.id]  # late again by the new due time: once more
    tickets.change_status(ticket.id, "resolved", "a1", "x", "x")
    with pytest.raises(StoreError, match="resolved"):
        tickets.recategorize(ticket.id, "other", "general", T0, "a1")


# --- time: overdue and stale ----------------------------------------------------------------------------
def test_flag_overdue_flags_each_once(store, tickets, clock):
    agent(store, "a1", capacity=10)
    due = {}
    for i, offset in enumerate((100, 200, 300, 400)):
        conversation = active(store, f"web-o{i}")
        due[i] = make(tickets, conversation.id, due_at=T0 + offset)
    tickets.change_status(due[3].id, "resolved", "a1", "x", "x")  # resolved: never late
    clock.now = T0 + 200  # exactly at due[1]'s due time: not late yet
    assert [t.id for t in tickets.flag_overdue()] == [due[0].id]
    clock.now = T0 + 1000
    flagged = tickets.flag_overdue()
    assert [t.id for t in flagged] == [due[1].id, due[2].id]
    assert all(t.overdue_at == T0 + 1000 for t in flagged)
    assert tickets.get(due[0].id).overdue_at == T0 + 200  # the first flag is kept
    assert tickets.flag_overdue() == []
    for i in range(3):
        assert [e.kind for e in tickets.events(due[i].id)].count("overdue") == 1
    assert [e.kind for e in tickets.events(due[3].id)].count("overdue") == 0


def test_two_services_flag_each_overdue_ticket_once_in_total(backend, clock):
    one, two = TicketStore(backend.store(clock)), TicketStore(backend.store(clock))
    agent(one.store, "a1", capacity=50)
    made = [make(one, active(one.store, f"web-f{i}").id, due_at=T0 + i) for i in range(20)]
    clock.now = T0 + 1000
    for _ in range(3):  # a few rounds, so that the interleaving varies
        first, second = in_threads(one.flag_overdue, two.flag_overdue)
        assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
        ids = [t.id for t in first] + [t.id for t in second]
        assert len(ids) == len(set(ids))
        if ids:
            assert sorted(ids) == [t.id for t in made]
    assert count(backend, "SELECT COUNT(*) FROM ticket_events WHERE kind = 'overdue'") == 20
    assert count(backend, "SELECT COUNT(*) FROM tickets WHERE overdue_at IS NULL") == 0


def test_close_stale_closes_resolved_tickets_nobody_rated(store, tickets, clock):
    agent(store, "a1", capacity=10)
    old, recent, open_one = (make(tickets, active(store, f"web-s{i}").id) for i in range(3))
    tickets.change_status(old.id, "resolved", "a1", "x", "x")
    clock.advance(3600)
    tickets.change_status(recent.id, "resolved", "a1", "y", "y")
    before = len(notices(store, old.conversation_id))
    clock.advance(10)
    closed = tickets.close_stale(T0 + 1800, lambda t: f"closed {t.number}")
    assert [t.id for t in closed] == [old.id]
    assert (closed[0].status, closed[0].closed_at, closed[0].updated_at) == ("closed", T0 + 3610, T0 + 3610)
    event = tickets.events(old.id)[-1]
    assert (event.kind, event.from_status, event.to_status, event.public, event.agent_id) == (
        "status", "resolved", "closed", True, None)
    assert notices(store, old.conversation_id)[before:] == [
        {"agent_text": f"closed {old.number}", "agent_kind": "system", "ticket_number": old.number,
         "ticket_event": str(event.id), "ticket_status": "closed"}]
    assert tickets.get(recent.id).status == "resolved" and tickets.get(open_one.id).status == "open"
    assert tickets.close_stale(T0 + 1800, lambda t: "again") == []


def test_delivered_marks_the_event_once(tickets, clock, ticket):
    created = tickets.events(ticket.id)[0]
    assert created.delivered_at is None
    clock.advance(3)
    tickets.delivered(created.id)
    clock.advance(100)
    tickets.delivered(created.id)  # a repeat keeps the first time
    assert tickets.events(ticket.id)[0].delivered_at == T0 + 3
    tickets.delivered(99999)  # an unknown event: nothing, no error


# --- reading ---------------------------------------------------------------------------------------------
def test_listing_filters_and_orders_by_due_time(store, tickets):
    agent(store, "a1", capacity=20)
    agent(store, "a2")
    made = {}
    for name, department, due, owner in (("t1", "technical", 500, "a1"), ("t2", "complaints", 100, None),
                                         ("t3", "technical", 100, "a2"), ("t4", "logistics", 300, "a1")):
        made[name] = make(tickets, active(store, f"web-{name}").id, department=department, due_at=T0 + due,
                          owner_id=owner)
    tickets.change_status(made["t4"].id, "in_progress", "a1")
    ids = {t.id: n for n, t in made.items()}

    def names(**kw):
        return [ids[t.id] for t in tickets.listing(**kw)]

    assert names() == ["t2", "t3", "t4", "t1"]  # by due time, then id
    assert names(statuses=("open",)) == ["t2", "t3", "t1"]
    assert names(statuses=("open", "in_progress")) == ["t2", "t3", "t4", "t1"]
    assert names(statuses=("closed",)) == []
    assert names(departments=("technical",)) == ["t3", "t1"]
    assert names(departments=("technical", "logistics")) == ["t3", "t4", "t1"]
    assert names(owner_id="a1") == ["t4", "t1"]
    assert names(owner_id="a1", statuses=("open",), departments=("technical",)) == ["t1"]
    assert names(limit=2) == ["t2", "t3"]


def test_created_between_and_the_histories_of_many_tickets_in_batches(store, tickets, clock):
    agent(store, "a1", capacity=20)
    made = []
    for i in range(7):
        clock.now = T0 + 100 * i
        made.append(make(tickets, active(store, f"web-r{i}").id))
    clock.now = T0 + 1000
    tickets.add_note(made[2].id, "a1", "second event of T3")
    assert [t.id for t in tickets.created_between(T0 + 100, T0 + 400)] == [m.id for m in made[1:4]]
    assert [t.id for t in tickets.created_between(None, T0 + 100)] == [made[0].id]
    assert [t.id for t in tickets.created_between(T0 + 600, None)] == [made[6].id]
    assert tickets.created_between(T0 + 5000, None) == []
    ids = [m.id for m in made] + [made[0].id, 999]  # a repeated id and an unknown one
    batched = tickets.events_of(ids, batch=3)  # three queries
    assert batched == {m.id: tickets.events(m.id) for m in made}
    assert [e.kind for e in batched[made[2].id]] == ["created", "note"]
    assert tickets.events_of([]) == {}


def test_of_customer_by_conversation_and_by_verified_customer(store, tickets):
    agent(store, "a1", capacity=20)
    mine_web = make(tickets, active(store, "web-c1").id)
    store.resolve(queue(store, "wechat-c1", state="ticket", customer_id="C1").id, back_to_bot=True)
    mine_wechat = make(tickets, store.latest_for_sender("wechat-c1", "returned").id)
    theirs = make(tickets, active(store, "web-c2").id)
    assert [t.id for t in tickets.of_customer("web-c1")] == [mine_web.id]
    assert [t.id for t in tickets.of_customer("web-c1", "C1")] == [mine_wechat.id, mine_web.id]  # newest first
    assert [t.id for t in tickets.of_customer("wechat-c1")] == [mine_wechat.id]
    assert [t.id for t in tickets.of_customer("web-c2", "C9")] == [theirs.id]
    assert tickets.of_customer("nobody") == []
    assert tickets.get(12345) is None and tickets.for_conversation(12345) is None
