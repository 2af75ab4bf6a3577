"""The handoff bridge's rules in one place: a handoff joins a queue (or becomes a ticket when nobody
can answer), waiting conversations are offered to the best free agent, offers that are not taken in
time go back to the line, customers are told where they stand, agents reply, transfer and resolve.

Synchronous and free of HTTP: the web layer (handoff/app.py) calls it and forwards the events it
emits (`Event`) to the agents' consoles; the delivery worker (handoff/delivery.py) carries what the
customer must see to Rasa.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Mapping, Optional

from customers.rfm import SEGMENTS
from handoff import routing, texts
from handoff.store import OPEN_STATES, Conversation, HandoffStore, Message, StoreError

logger = logging.getLogger(__name__)

CHANNELS_WITH_PUSH = ("socketio", "wechat", "wecom", "app")
LATE = ("breached", "missed")  # SLA states of a conversation whose first-response target was not kept
RECENT_TICKET_SECONDS = 600.0  # a ticket this young still takes the customer's relayed messages
STATES = ("queued", "offered", "active", "closed", "returned", "ticket")


class NotAllowed(Exception):
    """The agent may not do this (wrong role, not their conversation)."""


@dataclass(frozen=True)
class Intake:
    """A handoff as the bot files it."""
    sender_id: str
    channel: str
    language: str
    reason: str
    summary: dict
    intents: List[str] = field(default_factory=list)
    customer_id: Optional[str] = None
    tier: str = "normal"
    order_task: Optional[str] = None
    segment: Optional[str] = None  # the customer's RFM segment (customers/rfm.py), when known
    request_id: Optional[str] = None  # the bot's id of this request: a repeat opens nothing new


@dataclass(frozen=True)
class Opened:
    conversation: Conversation
    position: Optional[int]
    eta_seconds: Optional[float]
    ticket: bool
    existing: bool  # the customer was already with people: nothing new was opened


@dataclass(frozen=True)
class Event:
    """Something the consoles should hear about: kind 'conversation' | 'message' | 'queues'."""
    kind: str
    conversation: Optional[Conversation] = None
    message: Optional[Message] = None


@dataclass(frozen=True)
class ServiceConfig:
    queues: Mapping[str, routing.Queue] = field(default_factory=lambda: dict(routing.DEFAULT_QUEUES))
    hours: routing.BusinessHours = field(default_factory=routing.BusinessHours)
    offer_seconds: float = 45.0
    average_handle_seconds: float = 300.0
    # a customer handed over again within this many seconds of their last handoff's end is offered first
    # to the agent who had it (0: off); a customer's dedicated advisor always comes first (docs/customers.md)
    return_seconds: float = 72 * 3600.0


def ref(conversation_id: int) -> str:
    return f"H{conversation_id:06d}"


class HandoffService:
    """`emit` tells the consoles what changed; `observe(kind, conversation)` is told, for the metrics
    (handoff/prometheus.py), when a handoff is opened ("opened") and when a conversation first misses
    its first-response target ("sla_breached", see check_sla)."""

    def __init__(self, store: HandoffStore, config: ServiceConfig = ServiceConfig(),
                 emit: Callable[[Event], None] = lambda event: None,
                 clock: Callable[[], float] = time.time,
                 observe: Callable[[str, Conversation], None] = lambda kind, conversation: None) -> None:
        self.store = store
        self.config = config
        self.emit = emit
        self.clock = clock
        self.observe = observe
        # No state of its own: the last position told to each waiting customer (they hear again only when
        # they move up), the agents who declined a conversation or let its offer lapse (not offered it
        # again) and the conversations already reported late are in the store, so several services on one
        # PostgreSQL database (docs/scale-out.md) share them.

    # --- intake ------------------------------------------------------------------------------------
    def open(self, intake: Intake) -> Opened:
        if intake.reason not in texts.REASONS:
            raise ValueError(f"unknown reason {intake.reason!r}; known: {', '.join(texts.REASONS)}")
        if intake.tier not in ("normal", "vip"):
            raise ValueError("tier must be 'normal' or 'vip'")
        if intake.segment is not None and intake.segment not in SEGMENTS:
            raise ValueError(f"segment must be one of {', '.join(SEGMENTS)}")
        existing = self.store.open_for_sender(intake.sender_id)
        if existing is not None:
            pos, eta = self._standing(existing)
            return Opened(existing, pos, eta, False, True)
        queue = routing.route(intake.reason, intake.intents, intake.tier, intake.order_task)
        now = self.clock()
        skill = self.config.queues[queue].skill
        advisor = self.store.advisor(intake.customer_id)
        staffed = any(a.status == "online" and (skill in a.skills or a.id == advisor) for a in self.store.agents())
        ticket = not self.config.hours.is_open(now) or not staffed
        summary = {**intake.summary, "queue": queue}
        if intake.segment is not None:
            summary["segment"] = intake.segment
        conversation, created = self.store.open_once(
            intake.request_id, sender_id=intake.sender_id, channel=intake.channel, language=intake.language,
            reason=intake.reason, queue=queue, summary=summary, customer_id=intake.customer_id, tier=intake.tier,
            state="ticket" if ticket else "queued")
        if not created:  # a repeat of a request already filed (or a race with another open): nothing new
            pos, eta = self._standing(conversation)
            return Opened(conversation, pos, eta, conversation.state == "ticket", True)
        logger.info("handoff opened", extra={"handoff": ref(conversation.id), "queue": queue,
                                             "reason": intake.reason, "ticket": ticket})
        self.observe("opened", conversation)
        self.emit(Event("conversation", conversation))
        if ticket:
            return Opened(conversation, None, None, True, False)
        self.dispatch()
        conversation = self.store.get(conversation.id)
        pos, eta = self._standing(conversation)
        if pos is not None:
            self.store.note_position(conversation.id, pos)
        return Opened(conversation, pos, eta, False, False)

    def _standing(self, conversation: Conversation):
        if conversation.state != "queued":
            return None, None
        pos = routing.position(self.store.waiting(), str(conversation.id), self.config.queues)
        if pos is None:
            return None, None
        eta = routing.estimated_wait(pos, self.store.agents(), self.config.queues[conversation.queue].skill,
                                     self.config.average_handle_seconds)
        return pos, eta

    # --- customer's messages -----------------------------------------------------------------------
    def relay(self, sender_id: str, text: str, ticket: bool = False) -> Optional[Conversation]:
        """A customer's message while people own the conversation, or (ticket=True) the message they
        were asked to leave for later. A message relayed while the bot believed the customer was being
        connected joins their ticket when that handoff became one meanwhile (it waited in the action
        server's outbox while this service was down, and nobody was online when it arrived): when the
        ticket is their newest conversation with people and younger than RECENT_TICKET_SECONDS. None
        when the customer has no conversation with people (any more): an old ticket does not swallow
        later messages."""
        conversation = self.store.open_for_sender(sender_id)
        if conversation is None and ticket:
            conversation = self.store.latest_for_sender(sender_id, "ticket")
        if conversation is None:  # the customer's newest conversation with people, if it is a young ticket
            latest = self.store.latest_for_sender(sender_id, *STATES)
            if latest is not None and latest.state == "ticket" \
                    and self.clock() - latest.created_at <= RECENT_TICKET_SECONDS:
                conversation = latest
        if conversation is None:
            return None
        message = self.store.add_message(conversation.id, "customer", text)
        self.emit(Event("message", conversation, message))
        return conversation

    # --- assignment --------------------------------------------------------------------------------
    def dispatch(self) -> None:
        """Offer waiting conversations to free agents; tell customers who moved up their new place."""
        offers = []
        with self.store.dispatch_lock():  # other services on the database wait: nobody offers on a stale line
            now = self.clock()
            exclude = {str(cid): frozenset(agents) for cid, agents in self.store.passes().items()}
            for assignment in routing.assign(self._waiting_with_preferences(), self.store.agents(), now,
                                             self.config.queues, exclude):
                try:
                    offers.append(self.store.offer(int(assignment.conversation_id), assignment.agent_id))
                except StoreError:  # taken meanwhile (a pull): the next dispatch sees the new state
                    continue
        for offered in offers:
            self.emit(Event("conversation", offered))
        self._announce_positions()
        self.emit(Event("queues"))

    def _waiting_with_preferences(self) -> List[routing.Waiting]:
        """The line, each with its customer's advisor and (returning within the window) last agent."""
        preferred = self.store.preferences(self.config.return_seconds)
        line = []
        for item in self.store.waiting():
            advisor, last = preferred.get(int(item.conversation_id), (None, None))
            line.append(replace(item, advisor=advisor, last_agent=last) if advisor or last else item)
        return line

    def _announce_positions(self) -> None:
        waiting = self.store.waiting()
        places = routing.positions(waiting, self.config.queues)
        told_before = self.store.told_positions()
        agents = None
        for item in waiting:
            cid = int(item.conversation_id)
            pos = places.get(item.conversation_id)
            told = told_before.get(cid)
            if pos is None or (told is not None and pos >= told):
                continue
            if told is None:
                # first sight (just queued: the bot's answer told the place; or after a restart):
                # remember, do not repeat
                self.store.note_position(cid, pos)
                continue
            conversation = self.store.get(cid)
            agents = self.store.agents() if agents is None else agents
            eta = routing.estimated_wait(pos, agents, self.config.queues[item.queue].skill,
                                         self.config.average_handle_seconds)
            # told and written to the outbox in one transaction, unless another service told it first
            message = self.store.note_position(cid, pos, texts.position(conversation.language, pos, eta))
            if message is not None:
                self.emit(Event("message", conversation, message))

    def expire_offers(self) -> List[int]:
        """Offers not taken within the offer time go back to the line (keeping their place)."""
        now = self.clock()
        expired = []
        for conversation in self.store.in_state("offered"):
            if conversation.assigned_at is not None and now - conversation.assigned_at >= self.config.offer_seconds:
                # back in line, the agent passed over and set away (someone who lets an offer lapse is not at
                # the desk: no more offers until they say so) — unless another service did it first
                back = self.store.expire_offer(conversation.id, conversation.agent_id, conversation.assigned_at)
                if back is None:
                    continue
                expired.append(back.id)
                logger.info("offer expired", extra={"handoff": ref(back.id), "agent": conversation.agent_id})
                self.emit(Event("conversation", back))
        if expired:
            self.dispatch()
        return expired

    def check_sla(self, conversations: Optional[List[Conversation]] = None, report: bool = True) -> List[Conversation]:
        """Open conversations that missed their first-response target (still unanswered past it, or
        answered late) and were not reported before: each is reported once (`observe("sla_breached")`)
        and returned. Without `conversations`, every open one is checked (the housekeeping loop does
        it every few seconds); resolve() checks the one it closes. `report=False` only takes note:
        at start, those late already were reported by the process before the restart. Reported ones are
        marked in the store, so services sharing a database report each once between them."""
        now = self.clock()
        candidates = self.store.in_state(*OPEN_STATES) if conversations is None else [
            c for c in conversations if c.state in OPEN_STATES]
        late = [c for c in candidates if routing.sla_state(
            self.config.queues[c.queue], c.created_at, now, c.first_response_at)[0] in LATE]
        # once each, whichever service on the database sees it first (the store marks them)
        unreported = self.store.sla_unreported([c.id for c in late])
        fresh = set(self.store.sla_reported([c.id for c in late if c.id in unreported]))
        late = [c for c in late if c.id in fresh]
        if report:
            for conversation in late:
                logger.info("first-response target missed", extra={"handoff": ref(conversation.id),
                                                                    "queue": conversation.queue})
                self.observe("sla_breached", conversation)
        return late

    # --- agents' actions ---------------------------------------------------------------------------
    def _agent(self, agent_id: str) -> dict:
        row = self.store.agent_row(agent_id)
        if row is None:
            raise NotAllowed(f"no agent {agent_id}")
        if row["role"] not in ("agent", "supervisor"):  # e.g. editors: FAQ only, never customers
            raise NotAllowed("only agents and supervisors handle conversations")
        return row

    def may_see(self, agent: dict, conversation: Conversation) -> bool:
        if agent["role"] == "supervisor" or conversation.agent_id == agent["id"]:
            return True
        if conversation.state in ("queued", "ticket"):
            return self.config.queues[conversation.queue].skill in agent["skills"]
        return False

    def accept(self, conversation_id: int, agent_id: str) -> Conversation:
        agent = self._agent(agent_id)
        current = self._existing(conversation_id)
        if not self.may_see(agent, current):
            raise NotAllowed("this conversation is not in your queues")
        conversation = self.store.accept(conversation_id, agent_id)
        self._notice(conversation, texts.joined(conversation.language, agent["name"]))
        self.emit(Event("conversation", conversation))
        self.dispatch()
        return conversation

    def decline(self, conversation_id: int, agent_id: str) -> Conversation:
        self._agent(agent_id)
        current = self._existing(conversation_id)
        if current.agent_id != agent_id:
            raise NotAllowed("this conversation is not offered to you")
        conversation = self.store.decline(conversation_id, passed_by=agent_id)
        self.emit(Event("conversation", conversation))
        self.dispatch()
        return conversation

    def reply(self, conversation_id: int, agent_id: str, text: str) -> Message:
        self._agent(agent_id)  # the store refuses (409) unless it is active with this agent
        message = self.store.add_message(conversation_id, "agent", text, agent_id=agent_id, deliver=True)
        conversation = self.store.get(conversation_id)
        self.emit(Event("message", conversation, message))
        self.emit(Event("conversation", conversation))
        return message

    def transfer(self, conversation_id: int, agent_id: str, queue: Optional[str] = None,
                 to_agent: Optional[str] = None) -> Conversation:
        agent = self._agent(agent_id)
        current = self._existing(conversation_id)
        if agent["role"] != "supervisor" and current.agent_id != agent_id:
            raise NotAllowed("only the agent who has it, or a supervisor, can transfer a conversation")
        if queue is not None and queue not in self.config.queues:
            raise ValueError(f"no queue {queue!r}; queues: {', '.join(self.config.queues)}")
        if to_agent is not None and self.store.agent_row(to_agent) is None:
            raise ValueError(f"no agent {to_agent!r}")
        conversation = self.store.transfer(conversation_id, queue=queue, agent_id=to_agent)
        self._notice(conversation, texts.transferred(conversation.language))
        self.emit(Event("conversation", conversation))
        self.dispatch()
        return conversation

    def resolve(self, conversation_id: int, agent_id: str, back_to_bot: bool) -> Conversation:
        agent = self._agent(agent_id)
        current = self._existing(conversation_id)
        if agent["role"] != "supervisor" and current.agent_id != agent_id:
            raise NotAllowed("only the agent who has it, or a supervisor, can resolve a conversation")
        self.check_sla([current])  # late and closing before the next round of checks: still counted
        conversation = self.store.resolve(conversation_id, back_to_bot=back_to_bot)
        logger.info("handoff resolved", extra={"handoff": ref(conversation_id), "agent": agent_id,
                                               "outcome": conversation.state})
        self.emit(Event("conversation", conversation))
        self.dispatch()
        return conversation

    def set_status(self, agent_id: str, status: str) -> None:
        self.store.set_status(agent_id, status)
        self.dispatch()

    # --- customers' advisors (supervisors) ------------------------------------------------------------
    def set_advisor(self, supervisor_id: str, customer_id: str, agent_id: Optional[str]) -> Optional[str]:
        """A supervisor makes `agent_id` the customer's dedicated advisor (None: no advisor any more)."""
        if self._agent(supervisor_id)["role"] != "supervisor":
            raise NotAllowed("only supervisors assign advisors")
        return self.assign_advisor(customer_id, agent_id, supervisor_id)

    def assign_advisor(self, customer_id: str, agent_id: Optional[str], by: Optional[str] = None,
                       dispatch: bool = True) -> Optional[str]:
        """`dispatch=False` (the CLI, outside the running service): the line is not served from here; the
        change counts from the service's next round of offers."""
        if not isinstance(customer_id, str) or not 0 < len(customer_id) <= 128:
            raise ValueError("a customer id is 1-128 characters")
        if agent_id is None:
            self.store.remove_advisor(customer_id)
        else:
            row = self.store.agent_row(agent_id)
            if row is None or row["role"] not in ("agent", "supervisor"):
                raise ValueError(f"no agent {agent_id!r} who handles conversations")
            self.store.set_advisor(customer_id, agent_id, by)
        logger.info("advisor assigned", extra={"customer": customer_id, "agent": agent_id, "by": by})
        if dispatch:
            self.dispatch()  # a waiting VIP of theirs may go to them now
        return agent_id

    def record_csat(self, conversation_id: int, score: int, comment: str = "") -> None:
        self.store.record_csat(conversation_id, score, comment)
        self.emit(Event("conversation", self.store.get(conversation_id)))

    # --- helpers -----------------------------------------------------------------------------------
    def _existing(self, conversation_id: int) -> Conversation:
        conversation = self.store.get(conversation_id)
        if conversation is None:
            raise StoreError(f"no conversation {conversation_id}")
        return conversation

    def _notice(self, conversation: Conversation, text: str) -> None:
        message = self.store.add_message(conversation.id, "system", text, deliver=True)
        self.emit(Event("message", conversation, message))

    # --- views -------------------------------------------------------------------------------------
    def view(self, conversation: Conversation, places: Optional[Dict[str, int]] = None) -> dict:
        """The conversation as the console shows it; `places`: positions computed once for a list."""
        now = self.clock()
        queue = self.config.queues[conversation.queue]
        state, left = routing.sla_state(queue, conversation.created_at, now, conversation.first_response_at)
        pos = None
        if conversation.state == "queued":
            if places is None:
                places = routing.positions(self.store.waiting(), self.config.queues)
            pos = places.get(str(conversation.id))
        return {
            "id": conversation.id, "ref": ref(conversation.id), "sender_id": conversation.sender_id,
            "channel": conversation.channel, "language": conversation.language,
            "customer_id": conversation.customer_id, "tier": conversation.tier, "reason": conversation.reason,
            "queue": conversation.queue, "state": conversation.state, "agent_id": conversation.agent_id,
            "created_at": conversation.created_at, "assigned_at": conversation.assigned_at,
            "first_response_at": conversation.first_response_at, "closed_at": conversation.closed_at,
            "issue": conversation.summary.get("issue", ""),
            "issues": conversation.summary.get("issue_by_language") or {}, "position": pos,
            "segment": conversation.summary.get("segment"),
            "sla": {"state": state, "due_at": conversation.created_at + queue.first_response_seconds,
                    "seconds_left": round(left, 1)},
        }

    def visible(self, agent: dict, states: tuple) -> List[Conversation]:
        conversations = [c for c in self.store.in_state(*states) if self.may_see(agent, c)]
        order = {q.name: q.priority for q in self.config.queues.values()}
        return sorted(conversations, key=lambda c: (order.get(c.queue, 99), c.created_at, c.id))

    def queue_stats(self) -> List[dict]:
        now = self.clock()
        stats = []
        open_conversations = self.store.in_state("queued", "offered", "active")
        for queue in sorted(self.config.queues.values(), key=lambda q: (q.priority, q.name)):
            mine = [c for c in open_conversations if c.queue == queue.name]
            waiting = [c for c in mine if c.state == "queued"]
            breached = sum(1 for c in mine
                           if routing.sla_state(queue, c.created_at, now, c.first_response_at)[0] == "breached")
            stats.append({"name": queue.name, "skill": queue.skill, "priority": queue.priority,
                          "first_response_seconds": queue.first_response_seconds, "waiting": len(waiting),
                          "oldest_wait_seconds": round(now - min(c.created_at for c in waiting), 1) if waiting
                          else None, "breached": breached})
        return stats
