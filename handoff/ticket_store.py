"""Tickets in the handoff store's database (the same SQLite file or PostgreSQL database, migration 8):
every change is one transaction with its history event and, when the customer is to hear of it, its
outbox item — so a crash never leaves a status change the customer was not told of, or a notice of a
change that did not happen. Works on either store (it runs its SQL through the store's `_write` /
`_read`).

What the customer is sent goes through the conversation's outbox (handoff/delivery.py) as the
service's own message (EXTERNAL_agent_message) with `ticket_number`, `ticket_event`, `ticket_status`
(after the change) and, for a question or a resolution, `ticket_ask` ("reply" | "csat"), so the bot
can take the answer (actions/tickets.py).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Union

from handoff.store import ENDED_INTENT, MESSAGE_INTENT, HandoffStore, Sql, StoreError, _enqueue, _log
from tickets.model import DONE, WAITING, Ticket, TicketEvent, check_transition, number

_COLUMNS = ("id, conversation_id, sender_id, customer_id, channel, language, category, department, subject, "
            "status, owner_id, created_by, created_at, due_at, updated_at, resolved_at, closed_at, overdue_at, "
            "csat_score, csat_comment, tier, paused_at")
_EVENT_COLUMNS = ("id, ticket_id, kind, at, agent_id, from_status, to_status, text, public, delivered_at, failed_at, "
                  "failure")
# A conversation in these states is still a chat with people (or a message left for them): making it a
# ticket ends it and hands the customer back to the bot. Queued/offered ones must be taken first.
ENDS_CHAT = ("active", "ticket")
MAY_BECOME_TICKET = ("active", "ticket", "closed", "returned")


# The due time of a ticket whose wait on the customer ends at `now` (the service counts the wait as the
# ticket's category counts time); without one, the wait's plain seconds.
Resume = Callable[[Ticket, float], float]


def plain_resume(ticket: Ticket, now: float) -> float:
    """The due time moved on by the wait's plain seconds (unchanged when the ticket is not paused)."""
    return ticket.due_at + max(0.0, now - (ticket.paused_at if ticket.paused_at is not None else now))


def _ticket(row: tuple) -> Ticket:
    return Ticket(*row)


def _history(db: Sql, ticket_id: int) -> List[TicketEvent]:
    return [_event(r) for r in db.execute(
        f"SELECT {_EVENT_COLUMNS} FROM ticket_events WHERE ticket_id = ? ORDER BY id", (ticket_id,)).fetchall()]


def _wait_sets(before: Ticket, to_status: str, now: float, resume: Resume) -> List[tuple]:
    """(column = ?, value) pairs that start or end the wait on the customer with this status change."""
    if to_status == WAITING:
        return [("paused_at = ?", now)]
    if before.status == WAITING:
        return [("paused_at = ?", None), ("due_at = ?", resume(before, now))]
    return []


def _event(row: tuple) -> TicketEvent:
    values = list(row)
    values[8] = bool(values[8])
    return TicketEvent(*values)


def _one(db: Sql, ticket_id: int) -> Ticket:
    row = db.execute(f"SELECT {_COLUMNS} FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    if row is None:
        raise StoreError(f"no ticket {number(ticket_id)}")
    return _ticket(row)


def _add_event(db: Sql, ticket_id: int, kind: str, at: float, agent_id: Optional[str] = None, text: str = "",
               from_status: Optional[str] = None, to_status: Optional[str] = None, public: bool = False) -> int:
    return db.insert("INSERT INTO ticket_events (ticket_id, kind, at, agent_id, from_status, to_status, text, public) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (ticket_id, kind, at, agent_id, from_status, to_status, text,
                                                         1 if public else 0))


def _tell(db: Sql, ticket: Ticket, event_id: int, notice: str, at: float, ask: Optional[str] = None) -> None:
    """The customer's notice, into the conversation's outbox in this transaction."""
    entities = {"agent_text": notice, "agent_kind": "system", "ticket_number": ticket.number,
                "ticket_event": str(event_id), "ticket_status": ticket.status}
    if ask:
        entities["ticket_ask"] = ask
    _enqueue(db, ticket.conversation_id, MESSAGE_INTENT, entities, None, at)


class TicketStore:
    def __init__(self, store: HandoffStore) -> None:
        self.store = store

    @property
    def clock(self):
        return self.store.clock

    # --- reading --------------------------------------------------------------------------------------
    def get(self, ticket_id: int) -> Optional[Ticket]:
        row = self.store._read(lambda db: db.execute(f"SELECT {_COLUMNS} FROM tickets WHERE id = ?",
                                                     (ticket_id,)).fetchone())
        return _ticket(row) if row else None

    def for_conversation(self, conversation_id: int) -> Optional[Ticket]:
        row = self.store._read(lambda db: db.execute(f"SELECT {_COLUMNS} FROM tickets WHERE conversation_id = ?",
                                                     (conversation_id,)).fetchone())
        return _ticket(row) if row else None

    def listing(self, statuses: Sequence[str] = (), departments: Sequence[str] = (), owner_id: Optional[str] = None,
                limit: int = 500) -> List[Ticket]:
        where, args = [], []
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            args.extend(statuses)
        if departments:
            where.append(f"department IN ({', '.join('?' for _ in departments)})")
            args.extend(departments)
        if owner_id is not None:
            where.append("owner_id = ?")
            args.append(owner_id)
        sql = f"SELECT {_COLUMNS} FROM tickets" + (f" WHERE {' AND '.join(where)}" if where else "")
        rows = self.store._read(lambda db: db.execute(sql + " ORDER BY due_at, id LIMIT ?", (*args, limit)).fetchall())
        return [_ticket(r) for r in rows]

    def of_customer(self, sender_id: str, customer_id: Optional[str] = None, limit: int = 50) -> List[Ticket]:
        """The customer's tickets, newest first: by conversation id, and by verified customer id."""
        def work(db):
            if customer_id:
                return db.execute(f"SELECT {_COLUMNS} FROM tickets WHERE sender_id = ? OR customer_id = ? "
                                  "ORDER BY id DESC LIMIT ?", (sender_id, customer_id, limit)).fetchall()
            return db.execute(f"SELECT {_COLUMNS} FROM tickets WHERE sender_id = ? ORDER BY id DESC LIMIT ?",
                              (sender_id, limit)).fetchall()
        return [_ticket(r) for r in self.store._read(work)]

    def created_between(self, start: Optional[float] = None, end: Optional[float] = None) -> List[Ticket]:
        """The tickets created in [start, end) (either end open when None), oldest first: for reports."""
        where, args = [], []
        if start is not None:
            where.append("created_at >= ?")
            args.append(start)
        if end is not None:
            where.append("created_at < ?")
            args.append(end)
        sql = f"SELECT {_COLUMNS} FROM tickets" + (f" WHERE {' AND '.join(where)}" if where else "")
        rows = self.store._read(lambda db: db.execute(sql + " ORDER BY created_at, id", tuple(args)).fetchall())
        return [_ticket(r) for r in rows]

    def events_of(self, ticket_ids: Sequence[int], batch: int = 500) -> Dict[int, List[TicketEvent]]:
        """The histories of many tickets, in a query per `batch` of them (not one per ticket): {id: events}."""
        found: Dict[int, List[TicketEvent]] = {}
        ids = list(dict.fromkeys(ticket_ids))
        for i in range(0, len(ids), batch):
            chunk = ids[i:i + batch]
            sql = (f"SELECT {_EVENT_COLUMNS} FROM ticket_events WHERE ticket_id IN ({', '.join('?' for _ in chunk)}) "
                   "ORDER BY ticket_id, id")
            for row in self.store._read(lambda db, sql=sql, args=tuple(chunk): db.execute(sql, args).fetchall()):
                event = _event(row)
                found.setdefault(event.ticket_id, []).append(event)
        return found

    def events(self, ticket_id: int) -> List[TicketEvent]:
        return self.store._read(lambda db: _history(db, ticket_id))

    # --- changes --------------------------------------------------------------------------------------
    def create(self, conversation_id: int, *, category: str, department: str, subject: str, due_at: float,
               created_by: str, owner_id: Optional[str], notice: str, note: str = "") -> Ticket:
        """The conversation becomes a ticket: one per conversation. A chat still going (or a message left
        for later) ends here and the customer is back with the bot; the customer is told the number."""
        def work(db):
            now = self.clock()
            row = db.execute("SELECT state, sender_id, customer_id, channel, language, tier FROM conversations "
                             "WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                raise StoreError(f"no conversation {conversation_id}")
            state, sender_id, customer_id, channel, language, tier = row
            existing = db.execute("SELECT id FROM tickets WHERE conversation_id = ?", (conversation_id,)).fetchone()
            if existing:
                raise StoreError(f"this conversation is ticket {number(existing[0])} already")
            if state not in MAY_BECOME_TICKET:
                raise StoreError(f"conversation {conversation_id} is {state}: accept it first")
            if state in ENDS_CHAT:
                db.execute("UPDATE conversations SET state = 'returned', closed_at = ?, told_position = NULL "
                           "WHERE id = ?", (now, conversation_id))
                _log(db, conversation_id, state, "returned", created_by, now)
                _enqueue(db, conversation_id, ENDED_INTENT, {"outcome": "ticket", "handoff_id": str(conversation_id)},
                         None, now)
            try:
                ticket_id = db.insert(
                    "INSERT INTO tickets (conversation_id, sender_id, customer_id, channel, language, tier, category, "
                    "department, subject, status, owner_id, created_by, created_at, due_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)",
                    (conversation_id, sender_id, customer_id, channel, language, tier, category, department, subject,
                     owner_id, created_by, now, due_at, now))
            except self.store.IntegrityError:  # another service made it a ticket meanwhile
                raise StoreError("this conversation is a ticket already") from None
            ticket = _one(db, ticket_id)
            text = notice(ticket) if callable(notice) else notice
            event_id = _add_event(db, ticket_id, "created", now, created_by, text, None, "open", public=True)
            _tell(db, ticket, event_id, text, now)
            if owner_id:
                _add_event(db, ticket_id, "assigned", now, created_by, owner_id)
            if note:
                _add_event(db, ticket_id, "note", now, created_by, note)
            return ticket
        return self.store._write(work)

    def change_status(self, ticket_id: int, to_status: str, agent_id: Optional[str], text: str = "",
                      notice: Optional[str] = None, ask: Optional[str] = None,
                      resume: Resume = plain_resume) -> Ticket:
        """A status change, its event (with the agent's text for the customer, if any) and the notice.
        Into waiting_customer the due time's clock stops; out of it the due time moves on by `resume`."""
        def work(db):
            now = self.clock()
            before = _one(db, ticket_id)
            check_transition(before.status, to_status)
            sets = ["status = ?", "updated_at = ?"]
            args: list = [to_status, now]
            for column, value in _wait_sets(before, to_status, now, resume):
                sets.append(column)
                args.append(value)
            if to_status == "resolved":
                sets.append("resolved_at = ?")
                args.append(now)
            if to_status == "closed":
                sets.append("closed_at = ?")
                args.append(now)
            if to_status == "in_progress" and before.owner_id is None and agent_id:
                sets.append("owner_id = ?")  # whoever starts work on an unowned ticket owns it
                args.append(agent_id)
            changed = db.execute(f"UPDATE tickets SET {', '.join(sets)} WHERE id = ? AND status = ?",
                                 (*args, ticket_id, before.status))
            if changed.rowcount != 1:
                raise StoreError(f"ticket {number(ticket_id)} changed meanwhile; reload it")
            event_id = _add_event(db, ticket_id, "status", now, agent_id, text, before.status, to_status,
                                  public=notice is not None)
            after = _one(db, ticket_id)
            if notice is not None:
                _tell(db, after, event_id, notice, now, ask)
            return after
        return self.store._write(work)

    def add_note(self, ticket_id: int, agent_id: str, text: str) -> TicketEvent:
        """An internal note: agents and supervisors only, never the customer."""
        def work(db):
            now = self.clock()
            _one(db, ticket_id)
            db.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (now, ticket_id))
            return self._event(db, _add_event(db, ticket_id, "note", now, agent_id, text))
        return self.store._write(work)

    def reply(self, ticket_id: int, agent_id: str, text: str, notice: str) -> TicketEvent:
        """A message to the customer about the ticket (it stays in its status)."""
        def work(db):
            now = self.clock()
            ticket = _one(db, ticket_id)
            if ticket.status == "closed":
                raise StoreError(f"ticket {ticket.number} is closed")
            db.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (now, ticket_id))
            event_id = _add_event(db, ticket_id, "reply", now, agent_id, text, public=True)
            _tell(db, ticket, event_id, notice, now)
            return self._event(db, event_id)
        return self.store._write(work)

    def assign(self, ticket_id: int, owner_id: str, by: str) -> Ticket:
        def work(db):
            now = self.clock()
            ticket = _one(db, ticket_id)
            if ticket.status == "closed":
                raise StoreError(f"ticket {ticket.number} is closed")
            if ticket.owner_id == owner_id:
                return ticket
            db.execute("UPDATE tickets SET owner_id = ?, updated_at = ? WHERE id = ?", (owner_id, now, ticket_id))
            _add_event(db, ticket_id, "assigned", now, by, owner_id)
            return _one(db, ticket_id)
        return self.store._write(work)

    def recategorize(self, ticket_id: int, category: str, department: str,
                     due_at: Union[float, Callable[[Ticket, List[TicketEvent]], float]], by: str) -> Ticket:
        """A new category, department and due time: `due_at`, or computed in the transaction from the ticket
        and its history (its finished waits on the customer move the new due time too)."""
        def work(db):
            now = self.clock()
            ticket = _one(db, ticket_id)
            if ticket.status in DONE:
                raise StoreError(f"ticket {ticket.number} is {ticket.status}")
            new_due = due_at(ticket, _history(db, ticket_id)) if callable(due_at) else due_at
            db.execute("UPDATE tickets SET category = ?, department = ?, due_at = ?, overdue_at = NULL, "
                       "updated_at = ? WHERE id = ?", (category, department, new_due, now, ticket_id))
            _add_event(db, ticket_id, "category", now, by, f"{ticket.category} -> {category}")
            return _one(db, ticket_id)
        return self.store._write(work)

    def customer_message(self, ticket_id: int, text: str, resume: Resume = plain_resume) -> Ticket:
        """The customer's answer: added to the history; a ticket waiting on them is in progress again (its
        due time moved on by `resume`)."""
        def work(db):
            now = self.clock()
            ticket = _one(db, ticket_id)
            if ticket.status == "closed":
                raise StoreError(f"ticket {ticket.number} is closed")
            _add_event(db, ticket_id, "customer_message", now, None, text)
            if ticket.status == WAITING:
                db.execute("UPDATE tickets SET status = 'in_progress', updated_at = ?, paused_at = NULL, due_at = ? "
                           "WHERE id = ? AND status = 'waiting_customer'", (now, resume(ticket, now), ticket_id))
                _add_event(db, ticket_id, "status", now, None, "", "waiting_customer", "in_progress")
            else:
                db.execute("UPDATE tickets SET updated_at = ? WHERE id = ?", (now, ticket_id))
            return _one(db, ticket_id)
        return self.store._write(work)

    def record_csat(self, ticket_id: int, score: int, comment: str = "") -> Ticket:
        """The follow-up rating (and, in a second call, its comment); a resolved ticket is closed by it."""
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise ValueError("'score' must be a whole number from 1 to 5")

        def work(db):
            now = self.clock()
            ticket = _one(db, ticket_id)
            if ticket.resolved_at is None:
                raise StoreError(f"ticket {ticket.number} is not resolved yet")
            db.execute("UPDATE tickets SET csat_score = ?, csat_comment = ?, updated_at = ? WHERE id = ?",
                       (score, comment or ticket.csat_comment, now, ticket_id))
            _add_event(db, ticket_id, "csat", now, None, f"{score}" + (f": {comment}" if comment else ""))
            if ticket.status == "resolved":
                db.execute("UPDATE tickets SET status = 'closed', closed_at = ? WHERE id = ? AND status = 'resolved'",
                           (now, ticket_id))
                _add_event(db, ticket_id, "status", now, None, "", "resolved", "closed")
            return _one(db, ticket_id)
        return self.store._write(work)

    def flag_overdue(self) -> List[Ticket]:
        """Tickets past their due time that were not flagged yet, flagged now (each once, whichever
        service on the database sees it first). A ticket waiting on the customer is judged at the start
        of its wait: one already late then is flagged, one that was not stays unflagged while it waits."""
        def work(db):
            now = self.clock()
            rows = db.execute(f"SELECT {_COLUMNS} FROM tickets WHERE status NOT IN ('resolved', 'closed') "
                              "AND due_at < COALESCE(paused_at, ?) AND overdue_at IS NULL", (now,)).fetchall()
            flagged = []
            for row in rows:
                ticket = _ticket(row)
                if db.execute("UPDATE tickets SET overdue_at = ? WHERE id = ? AND overdue_at IS NULL",
                              (now, ticket.id)).rowcount == 1:
                    _add_event(db, ticket.id, "overdue", now)
                    flagged.append(_one(db, ticket.id))
            return flagged
        return self.store._write(work)

    def close_stale(self, older_than: float, notice) -> List[Ticket]:
        """Resolved tickets nobody rated since `older_than` close by themselves (the customer is told)."""
        def work(db):
            now = self.clock()
            rows = db.execute(f"SELECT {_COLUMNS} FROM tickets WHERE status = 'resolved' AND resolved_at < ?",
                              (older_than,)).fetchall()
            closed = []
            for row in rows:
                ticket = _ticket(row)
                if db.execute("UPDATE tickets SET status = 'closed', closed_at = ?, updated_at = ? WHERE id = ? "
                              "AND status = 'resolved'", (now, now, ticket.id)).rowcount == 1:
                    event_id = _add_event(db, ticket.id, "status", now, None, "", "resolved", "closed", public=True)
                    after = _one(db, ticket.id)
                    _tell(db, after, event_id, notice(after), now)
                    closed.append(after)
            return closed
        return self.store._write(work)

    def delivered(self, event_id: int) -> None:
        self.store._write(lambda db: db.execute("UPDATE ticket_events SET delivered_at = ? WHERE id = ? "
                                                "AND delivered_at IS NULL", (self.clock(), event_id)))

    def undeliverable(self, event_id: int, reason: str) -> None:
        """The customer's channel refused the notice for good (common/undeliverable.py)."""
        self.store._write(lambda db: db.execute("UPDATE ticket_events SET failed_at = ?, failure = ? WHERE id = ? "
                                                "AND delivered_at IS NULL AND failed_at IS NULL",
                                                (self.clock(), reason, event_id)))

    @staticmethod
    def _event(db: Sql, event_id: int) -> TicketEvent:
        return _event(db.execute(f"SELECT {_EVENT_COLUMNS} FROM ticket_events WHERE id = ?", (event_id,)).fetchone())
