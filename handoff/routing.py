"""Which queue a handed-over conversation joins, in what order queues are served, which agent gets
it, where the customer stands and how long they may wait, and whether the first-response target is
kept. Pure functions over plain values: the handoff service (and its tests) feed them the state.

Order of service: priority first (VIP and complaints before the rest), then first come first served
within a priority. Assignment offers the head of the line to the best available agent: one who has
the queue's skill and a free slot, the least loaded (share of capacity in use), then the one idle
longest. A conversation may name agents it prefers (the customer's VIP advisor, the agent who had the
customer's last handoff): they get it first when they are free, then the queue's best agent does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

AGENT_STATUSES = ("online", "away", "offline")


@dataclass(frozen=True)
class Queue:
    name: str
    skill: str
    priority: int  # 0 is served first
    first_response_seconds: int  # SLA target from handoff to the agent's first reply

    def __post_init__(self) -> None:
        if self.priority < 0 or self.first_response_seconds <= 0:
            raise ValueError(f"queue {self.name!r}: priority >= 0 and a positive first-response target")


# The shop's service plan: online chat answered within a minute, complaints within the hour, VIPs and
# complaints ahead of everyone else.
DEFAULT_QUEUES: Mapping[str, Queue] = {q.name: q for q in (
    Queue("vip", skill="vip", priority=0, first_response_seconds=60),
    Queue("complaints", skill="complaints", priority=0, first_response_seconds=3600),
    Queue("after_sales", skill="after_sales", priority=1, first_response_seconds=60),
    Queue("orders", skill="orders", priority=1, first_response_seconds=60),
    Queue("general", skill="general", priority=2, first_response_seconds=60),
)}

ORDER_INTENTS = frozenset({"ask_order_status", "ask_logistics", "cancel_order"})
AFTER_SALES_INTENTS = frozenset({"request_return"})
COMPLAINT_REASONS = frozenset({"complaint", "negative_sentiment", "escalation"})


def route(reason: str, intents: Sequence[str] = (), tier: str = "normal",
          order_task: Optional[str] = None) -> str:
    """The queue for a handoff: VIPs to their own queue, complaints and anger to complaints, then the
    topic of the conversation (the latest order task, else the latest order intent), else general."""
    if tier == "vip":
        return "vip"
    if reason in COMPLAINT_REASONS:
        return "complaints"
    if order_task == "aftersales":
        return "after_sales"
    if order_task in ("status", "logistics", "cancel"):
        return "orders"
    for intent in reversed(list(intents)):
        if intent in AFTER_SALES_INTENTS:
            return "after_sales"
        if intent in ORDER_INTENTS:
            return "orders"
    return "general"


@dataclass(frozen=True)
class Waiting:
    conversation_id: str
    queue: str
    enqueued_at: float
    # Agents this conversation goes to first when they are online with a free slot: the customer's
    # dedicated advisor (any skill: a supervisor chose them for this customer), then the agent who had
    # the customer's previous handoff (only with the queue's skill).
    advisor: Optional[str] = None
    last_agent: Optional[str] = None


@dataclass(frozen=True)
class Agent:
    id: str
    skills: FrozenSet[str]
    status: str = "offline"
    capacity: int = 3
    active: int = 0  # conversations the agent owns now
    idle_since: float = 0.0  # when the agent last had nothing to do (or came online)

    def __post_init__(self) -> None:
        if self.status not in AGENT_STATUSES:
            raise ValueError(f"agent {self.id!r}: status must be one of {AGENT_STATUSES}")
        if self.capacity < 1 or self.active < 0:
            raise ValueError(f"agent {self.id!r}: capacity >= 1 and active >= 0")

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.active) if self.status == "online" else 0


def service_order(waiting: Iterable[Waiting], queues: Mapping[str, Queue] = DEFAULT_QUEUES) -> List[Waiting]:
    """Everyone waiting, in the order they will be served."""
    return sorted(waiting, key=lambda w: (queues[w.queue].priority, w.enqueued_at, w.conversation_id))


def best_agent(agents: Iterable[Agent], skill: str) -> Optional[Agent]:
    """The available agent with the skill: least loaded, then idle longest, then by id (stable)."""
    able = [a for a in agents if a.free > 0 and skill in a.skills]
    if not able:
        return None
    return min(able, key=lambda a: (a.active / a.capacity, a.active, a.idle_since, a.id))


def preferred_agent(item: Waiting, agents: Iterable[Agent], skill: str,
                    barred: FrozenSet[str] = frozenset()) -> Optional[Agent]:
    """The agent this conversation prefers who can take it now: its advisor if free, else its last agent
    if free and skilled; None otherwise (then the queue's best agent). `barred`: agents who passed on it."""
    pool = {a.id: a for a in agents if a.free > 0 and a.id not in barred}
    if item.advisor in pool:
        return pool[item.advisor]
    last = pool.get(item.last_agent) if item.last_agent else None
    return last if last is not None and skill in last.skills else None


@dataclass(frozen=True)
class Assignment:
    conversation_id: str
    agent_id: str
    queue: str


def assign(waiting: Iterable[Waiting], agents: Iterable[Agent], now: float,
           queues: Mapping[str, Queue] = DEFAULT_QUEUES,
           exclude: Optional[Mapping[str, FrozenSet[str]]] = None) -> List[Assignment]:
    """Offer waiting conversations to agents, in service order, until no one able is free. A
    conversation whose queue no free agent serves waits without blocking the ones behind it.
    `exclude` maps a conversation to agents who must not get it (they declined it or let the offer
    lapse). A conversation's preferred agents (Waiting.advisor, .last_agent) get it first when free."""
    pool: Dict[str, Agent] = {a.id: a for a in agents}
    result: List[Assignment] = []
    exclude = exclude or {}
    for item in service_order(waiting, queues):
        barred = exclude.get(item.conversation_id, frozenset())
        skill = queues[item.queue].skill
        agent = (preferred_agent(item, pool.values(), skill, barred)
                 or best_agent((a for a in pool.values() if a.id not in barred), skill))
        if agent is None:
            continue
        result.append(Assignment(item.conversation_id, agent.id, item.queue))
        pool[agent.id] = Agent(agent.id, agent.skills, agent.status, agent.capacity, agent.active + 1,
                               agent.idle_since if agent.active else now)
    return result


def positions(waiting: Iterable[Waiting], queues: Mapping[str, Queue] = DEFAULT_QUEUES) -> Dict[str, int]:
    """Everyone's place in line (1 = next served among those who need the same skill), in one sort."""
    places: Dict[str, int] = {}
    counts: Dict[str, int] = {}
    for item in service_order(waiting, queues):
        skill = queues[item.queue].skill
        counts[skill] = counts.get(skill, 0) + 1
        places[item.conversation_id] = counts[skill]
    return places


def position(waiting: Iterable[Waiting], conversation_id: str,
             queues: Mapping[str, Queue] = DEFAULT_QUEUES) -> Optional[int]:
    """1 for the next one served among those who need the same skill; None if not waiting."""
    return positions(waiting, queues).get(conversation_id)


def estimated_wait(position_in_line: int, agents: Iterable[Agent], skill: str,
                   average_handle_seconds: float) -> Optional[float]:
    """Seconds until an agent with the skill takes this conversation, or None when nobody who could
    is online (then the customer is offered to leave a message). Each online agent with the skill
    frees a slot every average_handle / capacity seconds on average."""
    able = [a for a in agents if a.status == "online" and skill in a.skills]
    if not able:
        return None
    free_now = sum(a.free for a in able)
    if position_in_line <= free_now:
        return 0.0
    slots_per_second = sum(a.capacity for a in able) / max(1.0, average_handle_seconds)
    return math.ceil((position_in_line - free_now) / slots_per_second)


SLA_STATES = ("ok", "due_soon", "breached", "met", "missed")


def sla_state(queue: Queue, enqueued_at: float, now: float, first_response_at: Optional[float] = None,
              due_soon_share: float = 0.8) -> Tuple[str, float]:
    """(state, seconds left — negative when late). Before the first reply: ok / due_soon (past
    `due_soon_share` of the target) / breached; after it: met / missed, for good."""
    deadline = enqueued_at + queue.first_response_seconds
    if first_response_at is not None:
        return ("met" if first_response_at <= deadline else "missed"), deadline - first_response_at
    left = deadline - now
    if left < 0:
        return "breached", left
    if now - enqueued_at >= due_soon_share * queue.first_response_seconds:
        return "due_soon", left
    return "ok", left


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours per weekday (0 = Monday) in the shop's local time, as (open, close) minutes."""
    utc_offset_minutes: int = 8 * 60
    hours: Mapping[int, Tuple[int, int]] = field(default_factory=lambda: {d: (9 * 60, 22 * 60) for d in range(7)})

    def is_open(self, now: float) -> bool:
        local = now + self.utc_offset_minutes * 60
        days, seconds = divmod(local, 86400)
        weekday = (int(days) + 3) % 7  # 1970-01-01 was a Thursday
        span = self.hours.get(weekday)
        return span is not None and span[0] * 60 <= seconds < span[1] * 60
