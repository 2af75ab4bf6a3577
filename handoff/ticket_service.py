"""The rules of tickets (tickets/model.py has the state machine): who may see and work which ticket,
what the customer is told at each step and in which language, due times from the category, the
overdue flag and the closing of resolved tickets nobody rated. Synchronous and free of HTTP like
handoff/service.py; handoff/tickets_api.py serves it.

Who: supervisors see and work every ticket; an agent sees the tickets of the departments their skills
serve (tickets.yml) and the ones they own, and works those; only supervisors give a ticket to
someone else or close one that is not resolved.
"""
from __future__ import annotations

import logging
from typing import Callable, List, Optional, Tuple

from handoff.service import Event, HandoffService, NotAllowed
from handoff.store import StoreError
from handoff.ticket_store import TicketStore, plain_resume
from tickets import texts
from tickets.config import TicketConfig
from tickets.model import DONE, STATUSES, WAITING, Ticket, TicketError, TicketEvent, parse_number, waits

logger = logging.getLogger(__name__)

SUBJECT_LIMIT = 200


class NoSuchTicket(Exception):
    """No such ticket for this caller (one they may not see is as unknown as one never issued): 404."""


class TicketService:
    """`emit(ticket)` tells the consoles; `observe(kind, ticket)` ("created" | "overdue") the metrics."""

    def __init__(self, handoff: HandoffService, tickets: TicketStore, config: TicketConfig,
                 emit: Callable[[Ticket], None] = lambda ticket: None,
                 observe: Callable[[str, Ticket], None] = lambda kind, ticket: None) -> None:
        self.handoff = handoff
        self.tickets = tickets
        self.config = config
        self.emit = emit
        self.observe = observe

    @property
    def clock(self):
        return self.handoff.clock

    # --- who -------------------------------------------------------------------------------------------
    def may_see(self, agent: dict, ticket: Ticket) -> bool:
        if agent["role"] == "supervisor" or ticket.owner_id == agent["id"]:
            return True
        return self.config.skill_of(ticket.department) in agent["skills"]

    def _worker(self, agent_id: str, ticket_id: int) -> tuple:
        agent = self.handoff._agent(agent_id)
        ticket = self.tickets.get(ticket_id)
        if ticket is None or not self.may_see(agent, ticket):
            raise NoSuchTicket("no such ticket in your departments")
        return agent, ticket

    def get(self, agent_id: str, ticket_id: int) -> Ticket:
        return self._worker(agent_id, ticket_id)[1]

    def visible(self, agent_id: str, statuses=(), department: Optional[str] = None, mine: bool = False,
                overdue: bool = False) -> List[Ticket]:
        agent = self.handoff._agent(agent_id)
        unknown = set(statuses) - set(STATUSES)
        if unknown:
            raise ValueError(f"unknown status(es) {sorted(unknown)}; statuses: {', '.join(STATUSES)}")
        if department is not None and department not in self.config.departments:
            raise ValueError(f"unknown department {department!r}; departments: {', '.join(self.config.departments)}")
        found = self.tickets.listing(tuple(statuses), (department,) if department else (),
                                     owner_id=agent_id if mine else None)
        now = self.clock()
        return [t for t in found if self.may_see(agent, t) and (not overdue or t.overdue(now))]

    # --- what the customer hears -------------------------------------------------------------------------
    def _due_text(self, ticket: Ticket) -> str:
        return texts.when(ticket.due_at, ticket.language, self.config.calendar.utc_offset_minutes)

    # --- the due time's clock ---------------------------------------------------------------------------
    def _resumed_due(self, ticket: Ticket, now: float) -> float:
        """The due time once the wait on the customer that began at `ticket.paused_at` ends at `now`."""
        category = self.config.categories.get(ticket.category)
        if ticket.paused_at is None or category is None:  # (a category since removed from tickets.yml: plain time)
            return plain_resume(ticket, now)
        return category.due.extend(ticket.due_at, ticket.paused_at, now, self.config.calendar)

    def _due_from_creation(self, category: str):
        """For a new category: its due time from the ticket's creation, moved on by each finished wait."""
        due = self.config.category(category).due
        calendar = self.config.calendar

        def compute(ticket: Ticket, history: List[TicketEvent]) -> float:
            at = due.due_at(ticket.created_at, calendar)
            for start, end in waits((e.from_status, e.to_status, e.at) for e in history if e.kind == "status"):
                at = due.extend(at, start, end, calendar)
            return at
        return compute

    def due_texts(self, ticket: Ticket) -> Optional[dict]:
        """When the customer will hear back, in both languages (shop time), while the ticket is not done."""
        if ticket.status in DONE:
            return None
        offset = self.config.calendar.utc_offset_minutes
        return {language: texts.when(ticket.due_at, language, offset) for language in ("zh", "en")}

    def _created_notice(self, ticket: Ticket) -> str:
        label = self.config.category(ticket.category).label(ticket.language)
        return texts.created(ticket.language, ticket.number, label, self._due_text(ticket))

    # --- agents' work ----------------------------------------------------------------------------------
    def create(self, agent_id: str, conversation_id: int, category: str, subject: Optional[str] = None,
               note: str = "") -> Ticket:
        """The conversation becomes a ticket of `category` (its department and due time follow). The agent
        who has the chat (or a supervisor; for a message left for later, whoever serves its queue) does it;
        the chat ends and the customer is told the number and the due time on their channel. The creator
        owns the ticket when their skills serve its department, else the department takes it."""
        agent = self.handoff._agent(agent_id)
        conversation = self.handoff._existing(conversation_id)
        if agent["role"] != "supervisor" and conversation.agent_id != agent_id and not (
                conversation.state == "ticket" and self.handoff.may_see(agent, conversation)):
            raise NotAllowed("only the agent who has this conversation, or a supervisor, can make it a ticket")
        chosen = self.config.category(category)
        subject = (subject or conversation.summary.get("issue") or "").strip()[:SUBJECT_LIMIT]
        if not subject:
            raise ValueError("'subject' must say what the ticket is about")
        now = self.clock()
        owner = agent_id if self.config.skill_of(chosen.department) in agent["skills"] \
            and agent["role"] == "agent" else None
        ticket = self.tickets.create(conversation_id, category=chosen.name, department=chosen.department,
                                     subject=subject, due_at=chosen.due.due_at(now, self.config.calendar),
                                     created_by=agent_id, owner_id=owner, notice=self._created_notice, note=note)
        logger.info("ticket created", extra={"ticket": ticket.number, "handoff": conversation_id,
                                             "category": ticket.category, "agent": agent_id})
        self.observe("created", ticket)
        self.emit(ticket)
        self.handoff.emit(Event("conversation", self.handoff.store.get(conversation_id)))
        self.handoff.dispatch()  # the agent's chat ended: room for the next one
        return ticket

    def set_status(self, agent_id: str, ticket_id: int, status: str, text: str = "") -> Ticket:
        """in_progress (start, or reopen a resolved one), waiting_customer (`text`: the question for the
        customer, who answers on their channel), resolved (`text`: the resolution; the customer is then
        asked for a rating), closed (the owner or a supervisor once resolved; before that supervisors only,
        with `text`: why, for the customer)."""
        agent, ticket = self._worker(agent_id, ticket_id)
        text = (text or "").strip()
        language, num = ticket.language, ticket.number
        ask = None
        if status == "waiting_customer":
            if not text:
                raise ValueError("'text' must say what the customer should send")
            notice, ask = texts.waiting(language, num, text), "reply"
        elif status == "resolved":
            if not text:
                raise ValueError("'text' must say how it was resolved: the customer reads it")
            notice, ask = texts.resolved(language, num, text), "csat"
        elif status == "in_progress":
            notice = texts.reopened(language, num) if ticket.status == "resolved" else (
                texts.update(language, num, text) if text else texts.in_progress(language, num))
        elif status == "closed":
            if ticket.status != "resolved":  # closed without a resolution: a duplicate, a request withdrawn
                if agent["role"] != "supervisor":
                    raise NotAllowed("only a supervisor closes a ticket that is not resolved")
                if not text:
                    raise ValueError("'text' must say why it is closed unresolved: the customer reads it")
                notice = texts.closed_unresolved(language, num, text)
            elif agent["role"] != "supervisor" and ticket.owner_id != agent_id:
                raise NotAllowed("only the ticket's owner or a supervisor closes it")
            else:
                notice = texts.closed(language, num)
        else:
            notice = None
        try:
            changed = self.tickets.change_status(ticket_id, status, agent_id, text, notice, ask,
                                                 resume=self._resumed_due)
        except TicketError as exc:
            raise StoreError(str(exc)) from None
        logger.info("ticket status", extra={"ticket": num, "from": ticket.status, "to": status, "agent": agent_id})
        self.emit(changed)
        return changed

    def reply(self, agent_id: str, ticket_id: int, text: str) -> TicketEvent:
        _, ticket = self._worker(agent_id, ticket_id)
        event = self.tickets.reply(ticket_id, agent_id, text, texts.update(ticket.language, ticket.number, text))
        self.emit(self.tickets.get(ticket_id))
        return event

    def note(self, agent_id: str, ticket_id: int, text: str) -> TicketEvent:
        self._worker(agent_id, ticket_id)
        event = self.tickets.add_note(ticket_id, agent_id, text)
        self.emit(self.tickets.get(ticket_id))
        return event

    def assign(self, agent_id: str, ticket_id: int, owner_id: str) -> Ticket:
        agent, ticket = self._worker(agent_id, ticket_id)
        if owner_id != agent_id and agent["role"] != "supervisor":
            raise NotAllowed("only supervisors give a ticket to someone else; take it yourself instead")
        owner = self.handoff.store.agent_row(owner_id)
        if owner is None or owner["role"] not in ("agent", "supervisor"):
            raise ValueError(f"no agent {owner_id!r} who handles customers")
        changed = self.tickets.assign(ticket_id, owner_id, agent_id)
        self.emit(changed)
        return changed

    def recategorize(self, agent_id: str, ticket_id: int, category: str) -> Ticket:
        """A new category (and with it department and due time, counted from the ticket's creation, the
        waits on the customer not counted)."""
        agent, ticket = self._worker(agent_id, ticket_id)
        if agent["role"] != "supervisor" and ticket.owner_id != agent_id:
            raise NotAllowed("only the ticket's owner or a supervisor changes its category")
        chosen = self.config.category(category)
        changed = self.tickets.recategorize(ticket_id, chosen.name, chosen.department,
                                            self._due_from_creation(chosen.name), agent_id)
        self.emit(changed)
        return changed

    # --- the customer's side (through the bot) -------------------------------------------------------------
    def _customers(self, number: str, sender_id: str, customer_id: Optional[str]) -> Ticket:
        """The customer's own ticket by number; someone else's is as unknown as a number never issued."""
        ticket_id = parse_number(number)
        ticket = self.tickets.get(ticket_id) if ticket_id else None
        if ticket is None or not (ticket.sender_id == sender_id or (customer_id and ticket.customer_id == customer_id)):
            raise NoSuchTicket(f"no ticket {number} of this customer")
        return ticket

    def customer_message(self, number: str, sender_id: str, customer_id: Optional[str], text: str) -> Ticket:
        ticket = self._customers(number, sender_id, customer_id)
        changed = self.tickets.customer_message(ticket.id, text, resume=self._resumed_due)
        self.emit(changed)
        return changed

    def customer_csat(self, number: str, sender_id: str, customer_id: Optional[str], score: int,
                      comment: str = "") -> Ticket:
        ticket = self._customers(number, sender_id, customer_id)
        changed = self.tickets.record_csat(ticket.id, score, comment)
        self.emit(changed)
        return changed

    def of_customer(self, sender_id: str, customer_id: Optional[str]) -> List[Ticket]:
        return self.tickets.of_customer(sender_id, customer_id)

    def customer_lookup(self, sender_id: str, customer_id: Optional[str], language: str,
                        number: Optional[str] = None) -> str:
        """What the customer asking about their ticket(s) reads: the quoted one (their own only), or
        their tickets not closed (newest first, at most 5), in `language`."""
        return self.customer_lookup_answer(sender_id, customer_id, language, number)[0]

    def _question(self, ticket: Ticket) -> str:
        """What a ticket waiting on the customer asked them (its latest question)."""
        asked = [e.text for e in self.tickets.events(ticket.id) if e.kind == "status" and e.to_status == WAITING]
        return asked[-1] if asked else ""

    def customer_lookup_answer(self, sender_id: str, customer_id: Optional[str], language: str,
                               number: Optional[str] = None) -> Tuple[str, Optional[str]]:
        """`customer_lookup`'s text, and the number of the ticket the customer's next message answers: the
        one ticket among those shown that waits on them (its question is shown), else None."""
        language = "en" if language == "en" else "zh"
        if number:
            try:
                found = [self._customers(number, sender_id, customer_id)]
            except NoSuchTicket:
                found = []
        else:
            found = [t for t in self.of_customer(sender_id, customer_id) if t.status != "closed"][:5]
        lines = []
        waiting = [t for t in found if t.status == WAITING]
        for ticket in found:
            category = self.config.categories.get(ticket.category)
            label = category.label(language) if category else ticket.category
            if ticket.status == WAITING:
                lines.append(texts.waiting_line(language, ticket.number, label, self._question(ticket)))
                continue
            due = texts.when(ticket.due_at, language, self.config.calendar.utc_offset_minutes)
            lines.append(texts.status_line(language, ticket.number, label, ticket.status, due,
                                           ticket.status in ("resolved", "closed")))
        awaiting = waiting[0].number if len(waiting) == 1 else None
        if awaiting:
            lines.append(texts.reply_prompt(language, awaiting))
        return texts.lookup(language, lines, number or ""), awaiting

    # --- time ---------------------------------------------------------------------------------------------
    def housekeeping(self) -> List[Ticket]:
        """Flag tickets that went overdue (each once) and close resolved ones nobody rated in time."""
        flagged = self.tickets.flag_overdue()
        for ticket in flagged:
            logger.warning("ticket overdue", extra={"ticket": ticket.number, "department": ticket.department,
                                                    "owner": ticket.owner_id})
            self.observe("overdue", ticket)
            self.emit(ticket)
        cutoff = self.clock() - self.config.close_resolved_after_seconds
        for ticket in self.tickets.close_stale(cutoff, lambda t: texts.closed(t.language, t.number)):
            self.emit(ticket)
        return flagged

    # --- views ----------------------------------------------------------------------------------------------
    def view(self, ticket: Ticket) -> dict:
        now = self.clock()
        category = self.config.categories.get(ticket.category)
        department = self.config.departments.get(ticket.department)
        return {
            "id": ticket.id, "number": ticket.number, "conversation_id": ticket.conversation_id,
            "sender_id": ticket.sender_id, "customer_id": ticket.customer_id, "channel": ticket.channel,
            "language": ticket.language, "tier": ticket.tier, "category": ticket.category,
            "category_label": dict(category.labels) if category else {"zh": ticket.category, "en": ticket.category},
            "department": ticket.department,
            "department_label": dict(department.labels) if department else {"zh": ticket.department,
                                                                             "en": ticket.department},
            "subject": ticket.subject, "status": ticket.status, "owner_id": ticket.owner_id,
            "created_by": ticket.created_by, "created_at": ticket.created_at, "due_at": ticket.due_at,
            "updated_at": ticket.updated_at, "resolved_at": ticket.resolved_at, "closed_at": ticket.closed_at,
            "overdue": ticket.overdue(now), "overdue_at": ticket.overdue_at,
            "seconds_left": round(ticket.seconds_left(now), 1), "paused_at": ticket.paused_at,
            "csat": {"score": ticket.csat_score, "comment": ticket.csat_comment} if ticket.csat_score else None,
        }

    @staticmethod
    def event_view(event: TicketEvent) -> dict:
        return {"id": event.id, "kind": event.kind, "at": event.at, "agent_id": event.agent_id,
                "from_status": event.from_status, "to_status": event.to_status, "text": event.text,
                "public": event.public, "delivered_at": event.delivered_at, "failed_at": event.failed_at,
                "failure": event.failure}
