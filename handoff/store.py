"""The handoff service's durable state: conversations with people, their messages, agents, their
sessions, CSAT answers; in SQLite, or in PostgreSQL when configured (handoff/pg_store.py, this same
logic). Every change is one transaction, so a restart loses nothing: queued conversations stay
queued, undelivered messages stay undelivered until delivered.

State of a conversation: queued -> offered (to an agent) -> active (accepted) -> closed (resolved,
CSAT asked) or returned (handed back to the bot); `ticket` = a message left while nobody was
available, answered later.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from common.sqlite import connect, immediate
from handoff import routing
from handoff.migrations import migrate

OPEN_STATES = ("queued", "offered", "active")


class StoreError(Exception):
    """An operation that does not fit the conversation's state (the message says why)."""


@dataclass(frozen=True)
class Conversation:
    id: int
    sender_id: str
    channel: str
    language: str
    customer_id: Optional[str]
    tier: str
    reason: str
    queue: str
    state: str
    summary: dict
    created_at: float
    agent_id: Optional[str]
    assigned_at: Optional[float]
    first_response_at: Optional[float]
    closed_at: Optional[float]


@dataclass(frozen=True)
class PastHandoff:
    """One of a customer's handoffs as their profile shows it."""
    id: int
    state: str
    queue: str
    reason: str
    agent_id: Optional[str]
    created_at: float
    closed_at: Optional[float]
    csat: Optional[int]


@dataclass(frozen=True)
class OutboxItem:
    id: int
    conversation_id: int
    sender_id: str
    intent: str
    entities: dict
    message_id: Optional[int]
    attempts: int


# Intents of the external events that carry the service's side of the conversation into Rasa.
MESSAGE_INTENT = "EXTERNAL_agent_message"
ENDED_INTENT = "EXTERNAL_handoff_ended"


class Sql:
    """One connection as the store's SQL sees it. The SQL is written once, in what SQLite and PostgreSQL
    both understand, with `?` placeholders; `insert()` returns the new row's id. This is SQLite's;
    handoff/pg_store.py has PostgreSQL's."""

    def __init__(self, db) -> None:
        self.db = db

    def execute(self, sql: str, args: Sequence = ()):
        return self.db.execute(sql, args)

    def insert(self, sql: str, args: Sequence) -> int:
        return self.db.execute(sql, args).lastrowid


def _enqueue(db: Sql, conversation_id: int, intent: str, entities: dict,
             message_id: Optional[int], now: float) -> None:
    sender = db.execute("SELECT sender_id FROM conversations WHERE id = ?", (conversation_id,)).fetchone()[0]
    db.execute("INSERT INTO outbox (conversation_id, sender_id, intent, entities_json, message_id, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?)", (conversation_id, sender, intent,
                                             json.dumps(entities, ensure_ascii=False), message_id, now))


def _log(db: Sql, conversation_id: int, from_state: Optional[str], to_state: str, agent_id: Optional[str],
         now: float) -> None:
    """The assignment history: every change of a conversation's state, with its agent, in the same transaction."""
    db.execute("INSERT INTO conversation_log (conversation_id, from_state, to_state, agent_id, at) "
               "VALUES (?, ?, ?, ?, ?)", (conversation_id, from_state, to_state, agent_id, now))


def _add_pass(db: Sql, conversation_id: int, agent_id: str) -> None:
    db.execute("INSERT INTO offer_passes (conversation_id, agent_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
               (conversation_id, agent_id))


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    direction: str
    text: str
    agent_id: Optional[str]
    created_at: float
    delivered_at: Optional[float]
    # the customer's channel refused it for good (common/undeliverable.py): when, and the reason code
    failed_at: Optional[float] = None
    failure: Optional[str] = None


_MESSAGE_COLUMNS = "id, conversation_id, direction, text, agent_id, created_at, delivered_at, failed_at, failure"
_CONVERSATION_COLUMNS = ("id, sender_id, channel, language, customer_id, tier, reason, queue, state, summary_json, "
                         "created_at, agent_id, assigned_at, first_response_at, closed_at")


def _conversation(row: tuple) -> Conversation:
    values = list(row)
    values[9] = json.loads(values[9])
    return Conversation(*values)


class HandoffStore:
    # The database's constraint violation (DB-API name), e.g. add_agent with an id that exists.
    IntegrityError = sqlite3.IntegrityError

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        db = self._db()
        try:
            migrate(db)
        finally:
            db.close()

    def _db(self) -> sqlite3.Connection:
        db = connect(self.path)
        db.isolation_level = None  # no implicit transactions: writes go through immediate()
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _write(self, work: Callable[[Sql], object]):
        db = self._db()
        try:
            with immediate(db):
                return work(Sql(db))
        finally:
            db.close()

    def _read(self, work: Callable[[Sql], object]):
        db = self._db()
        try:
            return work(Sql(db))
        finally:
            db.close()

    def close(self) -> None:
        """Nothing to release here: every call opens and closes its own connection (the PostgreSQL
        store keeps some connections, which this closes)."""

    # --- conversations -----------------------------------------------------------------------------
    def open(self, *, sender_id: str, channel: str, language: str, reason: str, queue: str, summary: dict,
             customer_id: Optional[str] = None, tier: str = "normal", state: str = "queued") -> Conversation:
        """Queue a conversation (or, with state='ticket', file a message for later). A customer who is
        already with people keeps that conversation: it is returned, not duplicated."""
        return self.open_once(None, sender_id=sender_id, channel=channel, language=language, reason=reason,
                              queue=queue, summary=summary, customer_id=customer_id, tier=tier, state=state)[0]

    def open_once(self, request_id: Optional[str], *, sender_id: str, channel: str, language: str, reason: str,
                  queue: str, summary: dict, customer_id: Optional[str] = None, tier: str = "normal",
                  state: str = "queued") -> Tuple[Conversation, bool]:
        """`open`, and whether it opened a new conversation. With a `request_id`, a request seen before
        (the bot retrying after a timeout on its side) returns the conversation the first one opened
        (whatever its state now, a ticket too), in the same transaction: never a second one."""
        if state not in ("queued", "ticket"):
            raise ValueError("a handoff opens as 'queued' or 'ticket'")

        def one(db, conversation_id) -> Conversation:
            return _conversation(db.execute(f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
                                            (conversation_id,)).fetchone())

        def work(db):
            now = self.clock()
            if request_id is not None:
                seen = db.execute("SELECT conversation_id FROM handoff_requests WHERE request_id = ?",
                                  (request_id,)).fetchone()
                if seen:
                    return one(db, seen[0]), False
            row = db.execute(f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE sender_id = ? AND state IN "
                             "('queued', 'offered', 'active')", (sender_id,)).fetchone()
            if row:
                conversation, created = _conversation(row), False
            else:
                new_id = db.insert(
                    "INSERT INTO conversations (sender_id, channel, language, customer_id, tier, reason, queue, "
                    "state, summary_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (sender_id, channel, language, customer_id, tier, reason, queue, state,
                     json.dumps(summary, ensure_ascii=False), now))
                _log(db, new_id, None, state, None, now)
                conversation, created = one(db, new_id), True
            if request_id is not None:
                db.execute("INSERT INTO handoff_requests (request_id, conversation_id, created_at) VALUES (?, ?, ?)",
                           (request_id, conversation.id, now))
            return conversation, created
        return self._write(work)

    def get(self, conversation_id: int) -> Optional[Conversation]:
        row = self._read(lambda db: db.execute(f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
                                               (conversation_id,)).fetchone())
        return _conversation(row) if row else None

    def open_for_sender(self, sender_id: str) -> Optional[Conversation]:
        row = self._read(lambda db: db.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE sender_id = ? AND state IN "
            "('queued', 'offered', 'active')", (sender_id,)).fetchone())
        return _conversation(row) if row else None

    def in_state(self, *states: str) -> List[Conversation]:
        if not states:
            return []
        marks = ", ".join("?" for _ in states)
        rows = self._read(lambda db: db.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE state IN ({marks}) ORDER BY created_at, id",
            states).fetchall())
        return [_conversation(r) for r in rows]

    def waiting(self) -> List[routing.Waiting]:
        """The line as routing sees it (no summaries decoded: this runs on every queue change)."""
        rows = self._read(lambda db: db.execute(
            "SELECT id, queue, created_at FROM conversations WHERE state = 'queued' ORDER BY created_at, id"
        ).fetchall())
        return [routing.Waiting(str(r[0]), r[1], r[2]) for r in rows]

    def _transition(self, conversation_id: int, allowed: tuple, updates: str, args: tuple,
                    check: Optional[Callable[[tuple], None]] = None,
                    then: Optional[Callable[[Sql], None]] = None) -> Conversation:
        def work(db):
            row = db.execute("SELECT state, agent_id FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                raise StoreError(f"no conversation {conversation_id}")
            if row[0] not in allowed:
                raise StoreError(f"conversation {conversation_id} is {row[0]}, not {' or '.join(allowed)}")
            if check:
                check(row)  # (state, agent_id), inside the write transaction
            try:
                db.execute(f"UPDATE conversations SET {updates} WHERE id = ?", (*args, conversation_id))
            except self.IntegrityError:
                raise StoreError(f"conversation {conversation_id}: the customer already has an open "
                                 "conversation with people") from None
            if then:
                then(db)
            after = _conversation(db.execute(f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
                                             (conversation_id,)).fetchone())
            _log(db, conversation_id, row[0], after.state, after.agent_id, self.clock())
            return after
        return self._write(work)

    def offer(self, conversation_id: int, agent_id: str) -> Conversation:
        return self._transition(conversation_id, ("queued",), "state = 'offered', agent_id = ?, assigned_at = ?, "
                                "told_position = NULL", (agent_id, self.clock()))

    def accept(self, conversation_id: int, agent_id: str) -> Conversation:
        """The agent takes it: an offer made to them, a pull straight from the queue, or a ticket
        (a message left while nobody was available) answered later."""
        def not_offered_to_another(row: tuple) -> None:
            if row[0] == "offered" and row[1] != agent_id:
                raise StoreError(f"conversation {conversation_id} is offered to another agent")
        return self._transition(conversation_id, ("queued", "offered", "ticket"),
                                "state = 'active', agent_id = ?, assigned_at = COALESCE(assigned_at, ?), "
                                "told_position = NULL", (agent_id, self.clock()), not_offered_to_another)

    def decline(self, conversation_id: int, passed_by: Optional[str] = None) -> Conversation:
        """The offer goes back to the line; `passed_by` (the agent who declined) is not offered it again."""
        def remember(db: Sql) -> None:
            if passed_by:
                _add_pass(db, conversation_id, passed_by)
        return self._transition(conversation_id, ("offered",), "state = 'queued', agent_id = NULL, "
                                "assigned_at = NULL", (), then=remember)

    def expire_offer(self, conversation_id: int, agent_id: str, offered_at: float) -> Optional[Conversation]:
        """An offer not taken in time goes back to the line, if it is still the same offer (made to that agent
        at that time: another service may have expired it and offered it anew meanwhile); the agent is not
        offered it again and is set away. None when it was not that offer any more."""
        def work(db):
            row = db.execute("SELECT state, agent_id, assigned_at FROM conversations WHERE id = ?",
                             (conversation_id,)).fetchone()
            if row is None or row[0] != "offered" or row[1] != agent_id or row[2] != offered_at:
                return None
            db.execute("UPDATE conversations SET state = 'queued', agent_id = NULL, assigned_at = NULL WHERE id = ?",
                       (conversation_id,))
            _add_pass(db, conversation_id, agent_id)
            # someone who lets an offer lapse is not at the desk: no more offers until they say so
            db.execute("UPDATE agents SET status = 'away' WHERE id = ? AND status = 'online'", (agent_id,))
            _log(db, conversation_id, "offered", "queued", None, self.clock())
            return _conversation(db.execute(f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
                                            (conversation_id,)).fetchone())
        return self._write(work)

    def passes(self) -> Dict[int, Set[str]]:
        """Agents not to be offered a waiting conversation again (they declined it or let it lapse)."""
        rows = self._read(lambda db: db.execute(
            "SELECT p.conversation_id, p.agent_id FROM offer_passes p JOIN conversations c ON c.id = "
            "p.conversation_id WHERE c.state IN ('queued', 'offered')").fetchall())
        found: Dict[int, Set[str]] = {}
        for cid, agent_id in rows:
            found.setdefault(cid, set()).add(agent_id)
        return found

    @contextmanager
    def dispatch_lock(self) -> Iterator[None]:
        """Held while offers are computed and made. One process uses SQLite (its calls come one at a
        time from the event loop): nothing to do; PostgreSQL's store takes a lock shared by every service on
        the database, so two services never offer on the same picture of the line."""
        yield

    # --- what the waiting customers were told, SLA reports -----------------------------------------
    def told_positions(self) -> Dict[int, int]:
        rows = self._read(lambda db: db.execute(
            "SELECT id, told_position FROM conversations WHERE state = 'queued' AND told_position IS NOT NULL"
        ).fetchall())
        return {r[0]: r[1] for r in rows}

    def note_position(self, conversation_id: int, position: int, notice: Optional[str] = None) -> Optional[Message]:
        """The customer's place in line is now `position`. The first time it is only noted (the bot's answer
        told it); when it is smaller than the place told last, `notice` (if given) is sent to the customer
        through the outbox and returned, in the same transaction, so two services never both tell it."""
        now = self.clock()

        def work(db):
            row = db.execute("SELECT state, told_position FROM conversations WHERE id = ?",
                             (conversation_id,)).fetchone()
            if row is None or row[0] != "queued":
                return None
            told = row[1]
            if told is not None and position >= told:
                return None
            db.execute("UPDATE conversations SET told_position = ? WHERE id = ?", (position, conversation_id))
            if told is None or not notice:
                return None
            message_id = db.insert("INSERT INTO messages (conversation_id, direction, text, agent_id, created_at) "
                                   "VALUES (?, 'system', ?, NULL, ?)", (conversation_id, notice, now))
            _enqueue(db, conversation_id, MESSAGE_INTENT, {"agent_text": notice, "agent_kind": "system"},
                     message_id, now)
            return Message(message_id, conversation_id, "system", notice, None, now, None)
        return self._write(work)

    def sla_reported(self, conversation_ids: Sequence[int]) -> List[int]:
        """Mark these conversations' missed first-response targets as reported; returns those not reported
        before (by this process or another one on the same database)."""
        now = self.clock()

        def work(db):
            fresh = []
            for cid in conversation_ids:
                cur = db.execute("UPDATE conversations SET sla_reported_at = ? WHERE id = ? AND sla_reported_at IS "
                                 "NULL", (now, cid))
                if cur.rowcount:
                    fresh.append(cid)
            return fresh
        return self._write(work) if conversation_ids else []

    def sla_unreported(self, conversation_ids: Sequence[int]) -> Set[int]:
        if not conversation_ids:
            return set()
        marks = ", ".join("?" for _ in conversation_ids)
        rows = self._read(lambda db: db.execute(
            f"SELECT id FROM conversations WHERE sla_reported_at IS NULL AND id IN ({marks})",
            tuple(conversation_ids)).fetchall())
        return {r[0] for r in rows}

    def history(self, conversation_id: Optional[int] = None) -> List[tuple]:
        """Every change of state: (id, conversation_id, from_state, to_state, agent_id, at), in order."""
        where, args = ("WHERE conversation_id = ?", (conversation_id,)) if conversation_id is not None else ("", ())
        return self._read(lambda db: db.execute(
            "SELECT id, conversation_id, from_state, to_state, agent_id, at FROM conversation_log "
            f"{where} ORDER BY id", args).fetchall())

    def transfer(self, conversation_id: int, queue: Optional[str] = None,
                 agent_id: Optional[str] = None) -> Conversation:
        """To another queue (back in line, keeping its place in time) or straight to another agent."""
        if agent_id:
            # a fresh offer: the new agent gets the whole offer time
            return self._transition(conversation_id, OPEN_STATES, "state = 'offered', agent_id = ?, "
                                    "assigned_at = ?, queue = COALESCE(?, queue)", (agent_id, self.clock(), queue))
        if not queue:
            raise ValueError("transfer to a queue or an agent")
        return self._transition(conversation_id, OPEN_STATES, "state = 'queued', agent_id = NULL, "
                                "assigned_at = NULL, queue = ?", (queue,))

    def resolve(self, conversation_id: int, back_to_bot: bool) -> Conversation:
        """Close it (the customer is then asked for a rating) or hand it back to the bot; either way
        the customer's side learns it through the outbox, in the same transaction."""
        state = "returned" if back_to_bot else "closed"
        now = self.clock()
        entities = {"outcome": "bot" if back_to_bot else "close", "handoff_id": str(conversation_id)}
        return self._transition(conversation_id, ("active", "offered", "queued", "ticket"),
                                "state = ?, closed_at = ?, told_position = NULL", (state, now),
                                then=lambda db: _enqueue(db, conversation_id, ENDED_INTENT, entities, None, now))

    # --- messages ---------------------------------------------------------------------------------
    def add_message(self, conversation_id: int, direction: str, text: str,
                    agent_id: Optional[str] = None, deliver: bool = False) -> Message:
        """Store a message; with deliver=True (agent replies, notices to the customer) it is also put
        in the outbox, in the same transaction, to be delivered through Rasa."""
        if direction not in ("customer", "agent", "system"):
            raise ValueError(f"unknown direction {direction!r}")
        if not text or not text.strip():
            raise ValueError("empty message")
        now = self.clock()

        def work(db):
            row = db.execute("SELECT state, agent_id FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                raise StoreError(f"no conversation {conversation_id}")
            if direction == "agent":
                if row[0] != "active" or row[1] != agent_id:
                    raise StoreError(f"conversation {conversation_id} is not active with agent {agent_id}")
                db.execute("UPDATE conversations SET first_response_at = COALESCE(first_response_at, ?) "
                           "WHERE id = ?", (now, conversation_id))
            message_id = db.insert("INSERT INTO messages (conversation_id, direction, text, agent_id, created_at) "
                                   "VALUES (?, ?, ?, ?, ?)", (conversation_id, direction, text.strip(), agent_id, now))
            if deliver and direction != "customer":
                _enqueue(db, conversation_id, MESSAGE_INTENT, {"agent_text": text.strip(), "agent_kind": direction},
                         message_id, now)
            return Message(message_id, conversation_id, direction, text.strip(), agent_id, now, None)
        return self._write(work)

    def messages(self, conversation_id: int) -> List[Message]:
        rows = self._read(lambda db: db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
            (conversation_id,)).fetchall())
        return [Message(*r) for r in rows]

    def undelivered(self, direction: str = "agent") -> List[Message]:
        """Messages still to be delivered to the customer (oldest first): what a restart resumes."""
        rows = self._read(lambda db: db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE direction = ? AND delivered_at IS NULL "
            "AND failed_at IS NULL ORDER BY id", (direction,)).fetchall())
        return [Message(*r) for r in rows]

    def mark_delivered(self, message_id: int) -> None:
        self._write(lambda db: db.execute("UPDATE messages SET delivered_at = ? WHERE id = ? AND delivered_at IS "
                                          "NULL", (self.clock(), message_id)))

    def message(self, message_id: int) -> Optional[Message]:
        row = self._read(lambda db: db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)).fetchone())
        return Message(*row) if row else None

    # --- outbox: what Rasa must still deliver ----------------------------------------------------
    def pending_outbox(self, limit: int = 100) -> List[OutboxItem]:
        rows = self._read(lambda db: db.execute(
            "SELECT id, conversation_id, sender_id, intent, entities_json, message_id, attempts FROM outbox "
            "WHERE delivered_at IS NULL AND failed_at IS NULL ORDER BY id LIMIT ?", (limit,)).fetchall())
        return [OutboxItem(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    def claim_outbox(self, owner: str, lease_seconds: float, limit: int = 1000) -> List[OutboxItem]:
        """Pending items of the conversations this deliverer (`owner`, one per service process) holds, after
        taking a lease on every conversation with pending items that nobody holds or whose lease ran out (its
        holder died or stalled); leases it holds are renewed. Several services on one database thus each
        deliver their own conversations, every conversation by one of them at a time, in order."""
        now = self.clock()

        def work(db):
            rows = db.execute("SELECT DISTINCT conversation_id FROM outbox WHERE delivered_at IS NULL "
                              "AND failed_at IS NULL ORDER BY conversation_id LIMIT ?", (limit,)).fetchall()
            for (cid,) in rows:
                db.execute("INSERT INTO outbox_leases (conversation_id, owner, until) VALUES (?, ?, ?) "
                           "ON CONFLICT (conversation_id) DO UPDATE SET owner = excluded.owner, until = excluded.until "
                           "WHERE outbox_leases.owner = excluded.owner OR outbox_leases.until < ?",
                           (cid, owner, now + lease_seconds, now))
            return db.execute(
                "SELECT o.id, o.conversation_id, o.sender_id, o.intent, o.entities_json, o.message_id, o.attempts "
                "FROM outbox o JOIN outbox_leases l ON l.conversation_id = o.conversation_id "
                "WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND l.owner = ? AND l.until >= ? "
                "ORDER BY o.id LIMIT ?",
                (owner, now, limit)).fetchall()
        rows = self._write(work)
        return [OutboxItem(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    def holds_outbox(self, conversation_id: int, owner: str) -> bool:
        """Whether `owner`'s lease on the conversation's outbox still holds (checked before each delivery)."""
        row = self._read(lambda db: db.execute("SELECT 1 FROM outbox_leases WHERE conversation_id = ? AND owner = ? "
                                               "AND until >= ?", (conversation_id, owner, self.clock())).fetchone())
        return row is not None

    def release_outbox(self, conversation_id: int, owner: str) -> None:
        """Give up the lease (nothing pending there any more: whoever gets the next item delivers it)."""
        self._write(lambda db: db.execute("DELETE FROM outbox_leases WHERE conversation_id = ? AND owner = ?",
                                          (conversation_id, owner)))

    def outbox_backlog(self) -> int:
        """How many outbox items still wait for delivery (counted, not read: for the metrics)."""
        return self._read(lambda db: db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL "
                                                "AND failed_at IS NULL").fetchone()[0])

    def outbox_delivered(self, item_id: int) -> None:
        now = self.clock()

        def work(db):
            db.execute("UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL", (now, item_id))
            db.execute("UPDATE messages SET delivered_at = ? WHERE delivered_at IS NULL AND id = "
                       "(SELECT message_id FROM outbox WHERE id = ?)", (now, item_id))
        self._write(work)

    def outbox_undeliverable(self, item_id: int, reason: str, error: str) -> None:
        """The customer's channel refused the item for good: it leaves the outbox (the conversation's later
        items go on) and its message, if it has one, is marked with the reason — never sent again."""
        now = self.clock()

        def work(db):
            db.execute("UPDATE outbox SET failed_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ? "
                       "AND delivered_at IS NULL AND failed_at IS NULL", (now, error[:500], item_id))
            db.execute("UPDATE messages SET failed_at = ?, failure = ? WHERE delivered_at IS NULL "
                       "AND failed_at IS NULL AND id = (SELECT message_id FROM outbox WHERE id = ?)",
                       (now, reason, item_id))
        self._write(work)

    def outbox_failed(self, item_id: int, error: str) -> None:
        self._write(lambda db: db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                                          (error[:500], item_id)))

    def latest_for_sender(self, sender_id: str, *states: str) -> Optional[Conversation]:
        if not states:
            return None
        marks = ", ".join("?" for _ in states)
        row = self._read(lambda db: db.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE sender_id = ? AND state IN ({marks}) "
            "ORDER BY id DESC LIMIT 1", (sender_id, *states)).fetchone())
        return _conversation(row) if row else None

    # --- agents -----------------------------------------------------------------------------------
    def add_agent(self, agent_id: str, name: str, password_hash: str, skills: List[str], role: str = "agent",
                  capacity: int = 3) -> None:
        self._write(lambda db: db.execute(
            "INSERT INTO agents (id, name, role, skills_json, capacity, password_hash) VALUES (?, ?, ?, ?, ?, ?)",
            (agent_id, name, role, json.dumps(sorted(skills)), capacity, password_hash)))

    def set_status(self, agent_id: str, status: str) -> None:
        if status not in routing.AGENT_STATUSES:
            raise ValueError(f"status must be one of {routing.AGENT_STATUSES}")

        def work(db):
            cur = db.execute("UPDATE agents SET status = ?, idle_since = CASE WHEN status != 'online' AND ? = "
                             "'online' THEN ? ELSE idle_since END WHERE id = ?",
                             (status, status, self.clock(), agent_id))
            if cur.rowcount == 0:
                raise StoreError(f"no agent {agent_id}")
        self._write(work)

    def agent_row(self, agent_id: str) -> Optional[Dict[str, object]]:
        row = self._read(lambda db: db.execute(
            "SELECT id, name, role, skills_json, capacity, status, idle_since, password_hash FROM agents "
            "WHERE id = ?", (agent_id,)).fetchone())
        if row is None:
            return None
        keys = ("id", "name", "role", "skills", "capacity", "status", "idle_since", "password_hash")
        return {**dict(zip(keys, row, strict=True)), "skills": json.loads(row[3])}

    def agent_directory(self) -> List[Dict[str, object]]:
        """Every agent's public record (no password hash), in one query."""
        rows = self._read(lambda db: db.execute(
            "SELECT id, name, role, skills_json, capacity, status FROM agents ORDER BY id").fetchall())
        return [{"id": r[0], "name": r[1], "role": r[2], "skills": json.loads(r[3]), "capacity": r[4],
                 "status": r[5]} for r in rows]

    def agents(self) -> List[routing.Agent]:
        """Agents as routing sees them: skills, status, capacity, conversations held now."""
        def work(db):
            held = dict(db.execute("SELECT agent_id, COUNT(*) FROM conversations WHERE state IN ('offered', "
                                   "'active') AND agent_id IS NOT NULL GROUP BY agent_id").fetchall())
            return [routing.Agent(r[0], frozenset(json.loads(r[1])), r[2], r[3], held.get(r[0], 0), r[4])
                    for r in db.execute("SELECT id, skills_json, status, capacity, idle_since FROM agents "
                                        "ORDER BY id")]
        return self._read(work)

    # --- customers: VIP advisors, preferred agents, history (docs/customers.md) ------------------------
    def set_advisor(self, customer_id: str, agent_id: str, assigned_by: Optional[str] = None) -> None:
        """`agent_id` becomes the customer's dedicated advisor (replacing any other)."""
        def work(db):
            if db.execute("SELECT 1 FROM agents WHERE id = ?", (agent_id,)).fetchone() is None:
                raise StoreError(f"no agent {agent_id}")
            db.execute("INSERT INTO customer_advisors (customer_id, agent_id, assigned_by, assigned_at) "
                       "VALUES (?, ?, ?, ?) ON CONFLICT (customer_id) DO UPDATE SET agent_id = excluded.agent_id, "
                       "assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at",
                       (customer_id, agent_id, assigned_by, self.clock()))
        self._write(work)

    def remove_advisor(self, customer_id: str) -> bool:
        return self._write(lambda db: db.execute("DELETE FROM customer_advisors WHERE customer_id = ?",
                                                 (customer_id,)).rowcount > 0)

    def advisor(self, customer_id: Optional[str]) -> Optional[str]:
        if not customer_id:
            return None
        row = self._read(lambda db: db.execute("SELECT agent_id FROM customer_advisors WHERE customer_id = ?",
                                               (customer_id,)).fetchone())
        return row[0] if row else None

    def preferences(self, return_seconds: float) -> Dict[int, Tuple[Optional[str], Optional[str]]]:
        """Waiting conversations' preferred agents: conversation id -> (the customer's advisor, the agent
        who had the same customer's (same customer id, or same conversation) latest earlier handoff if it
        ended at most `return_seconds` before this one was opened; 0: no last agents). Only those with one."""
        def work(db):
            found: Dict[int, List[Optional[str]]] = {}
            for cid, agent_id in db.execute(
                    "SELECT c.id, a.agent_id FROM conversations c JOIN customer_advisors a ON "
                    "a.customer_id = c.customer_id WHERE c.state = 'queued'").fetchall():
                found.setdefault(cid, [None, None])[0] = agent_id
            if return_seconds > 0:
                earlier = ("SELECT c.id, p.id, p.agent_id FROM conversations c JOIN conversations p ON {match} "
                           "WHERE c.state = 'queued' AND p.id < c.id AND p.state IN ('closed', 'returned') "
                           "AND p.agent_id IS NOT NULL AND p.closed_at >= c.created_at - ?")
                rows = db.execute(earlier.format(match="p.sender_id = c.sender_id"), (return_seconds,)).fetchall()
                rows += db.execute(earlier.format(match="p.customer_id = c.customer_id"), (return_seconds,)).fetchall()
                for cid, _, agent_id in sorted(rows):  # the latest earlier handoff last
                    found.setdefault(cid, [None, None])[1] = agent_id
            return {cid: (advisor, last) for cid, (advisor, last) in found.items()}
        return self._read(work)

    def customer_handoffs(self, customer_id: str, limit: int = 200) -> List[PastHandoff]:
        """The customer's handoffs (by customer id, or in their conversation `customer:<id>`), newest
        first, with their CSAT score."""
        rows = self._read(lambda db: db.execute(
            "SELECT c.id, c.state, c.queue, c.reason, c.agent_id, c.created_at, c.closed_at, s.score "
            "FROM conversations c LEFT JOIN csat s ON s.conversation_id = c.id "
            "WHERE c.customer_id = ? OR c.sender_id = ? ORDER BY c.id DESC LIMIT ?",
            (customer_id, "customer:" + customer_id, limit)).fetchall())
        return [PastHandoff(*r) for r in rows]

    # --- sessions and CSAT ------------------------------------------------------------------------
    def add_session(self, token_hash: str, agent_id: str, expires_at: float) -> None:
        self._write(lambda db: db.execute("INSERT INTO sessions VALUES (?, ?, ?)", (token_hash, agent_id, expires_at)))

    def session_agent(self, token_hash: str) -> Optional[str]:
        row = self._read(lambda db: db.execute("SELECT agent_id FROM sessions WHERE token_hash = ? AND expires_at > ?",
                                               (token_hash, self.clock())).fetchone())
        return row[0] if row else None

    def has_session(self, agent_id: str) -> bool:
        """Whether the agent has a session that has not expired (someone is at the console)."""
        row = self._read(lambda db: db.execute("SELECT 1 FROM sessions WHERE agent_id = ? AND expires_at > ? LIMIT 1",
                                               (agent_id, self.clock())).fetchone())
        return row is not None

    def end_session(self, token_hash: str) -> None:
        self._write(lambda db: db.execute("DELETE FROM sessions WHERE token_hash = ? OR expires_at <= ?",
                                          (token_hash, self.clock())))

    # --- failed console logins (per account, seen by every service on the database) --------------------
    def login_lock_left(self, agent_id: str, limit: int, window: float) -> float:
        """Seconds the account stays locked: it had `limit` failures in a row, the last less than `window`
        seconds ago (0: not locked)."""
        row = self._read(lambda db: db.execute("SELECT failures, last_at FROM login_failures WHERE agent_id = ?",
                                               (agent_id,)).fetchone())
        if row is None or row[0] < limit:
            return 0.0
        return max(0.0, window - (self.clock() - row[1]))

    def login_failed(self, agent_id: str, window: float) -> int:
        """Count a failed login of `agent_id` (any string the caller sent); returns the failures in a row.
        Failures more than `window` seconds after the previous one start again from 1, and rows that old
        are dropped: the table holds only accounts tried within the window."""
        now = self.clock()

        def work(db):
            db.execute("DELETE FROM login_failures WHERE last_at < ?", (now - window,))
            row = db.execute("SELECT failures FROM login_failures WHERE agent_id = ?", (agent_id,)).fetchone()
            count = (row[0] if row else 0) + 1
            if row:
                db.execute("UPDATE login_failures SET failures = ?, last_at = ? WHERE agent_id = ?",
                           (count, now, agent_id))
            else:
                db.execute("INSERT INTO login_failures (agent_id, failures, last_at) VALUES (?, ?, ?)",
                           (agent_id, count, now))
            return count
        return self._write(work)

    def login_succeeded(self, agent_id: str) -> None:
        self._write(lambda db: db.execute("DELETE FROM login_failures WHERE agent_id = ?", (agent_id,)))

    def record_csat(self, conversation_id: int, score: int, comment: str = "") -> None:
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise ValueError("a CSAT score is a whole number 1-5")

        def work(db):
            row = db.execute("SELECT state FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None or row[0] != "closed":
                raise StoreError(f"conversation {conversation_id} is not closed")
            db.execute("INSERT INTO csat VALUES (?, ?, ?, ?) ON CONFLICT (conversation_id) DO UPDATE SET "
                       "score = excluded.score, comment = excluded.comment, created_at = excluded.created_at",
                       (conversation_id, int(score), (comment or "")[:1000], self.clock()))
        self._write(work)

    def csat(self, conversation_id: int) -> Optional[tuple]:
        return self._read(lambda db: db.execute("SELECT score, comment FROM csat WHERE conversation_id = ?",
                                                (conversation_id,)).fetchone())
