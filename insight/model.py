"""The records insight computes from, as frozen dataclasses: what the readers (insight/sources.py) produce
and what the metrics (insight/metrics.py) take. Times are unix seconds (UTC); durations are seconds."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

DAY = 86400.0


@dataclass(frozen=True)
class Turn:
    """One message the customer wrote (never an event injected by the handoff service)."""
    at: float
    text: str  # personal data masked (common/masking.py)
    intent: Optional[str]
    confidence: Optional[float]
    fallback: bool  # intent == "nlu_fallback"
    # From the message to the bot's first message after it (ms precision); None when the bot said
    # nothing before the next message (e.g. while an agent owns the conversation).
    bot_response_seconds: Optional[float] = None


@dataclass(frozen=True)
class Session:
    """One conversation: one Rasa session of one sender that has at least one customer message."""
    conversation_id: str  # Rasa's sender_id
    started_at: float  # the session_started event
    ended_at: float  # the session's last event
    channel: str  # input_channel of its first customer message ("unknown" when absent)
    language: str  # last value of the `language` slot, "unknown" when never set
    customer_id: Optional[str]  # last verified_customer value set in the session
    tier: str  # see insight.sources.tier_of
    turns: Tuple[Turn, ...]
    handed_off: bool  # action_handoff ran in the session
    handoff_reason: Optional[str] = None  # of its (latest) handoff record, when one is linked
    handoff_queue: Optional[str] = None  # of its (latest) handoff record, when one is linked
    handoff_ids: Tuple[int, ...] = ()  # handoff records linked to it

    @property
    def customer_key(self) -> str:
        """Who the customer is, for repeat contacts: the verified customer, else the conversation."""
        return self.customer_id or self.conversation_id


@dataclass(frozen=True)
class HandoffRecord:
    """One conversation with people, from the handoff service's store."""
    id: int
    conversation_id: str  # the Rasa sender_id it belongs to
    channel: str
    language: str
    tier: str
    queue: str
    reason: str
    created_at: float
    # When the agent who kept it got it: the store's `assigned_at`, which is the time of the offer
    # that agent accepted (or of the accept itself for a pull from the queue or a ticket). None until
    # an agent has it (queued, offered, ticket) and for conversations closed without one.
    accepted_at: Optional[float]
    first_response_at: Optional[float]  # the first agent message
    resolved_at: Optional[float]  # closed or handed back to the bot
    outcome: Optional[str]  # "closed" | "returned" (to the bot) | None while not resolved
    state: str  # queued | offered | active | closed | returned | ticket
    sla_target_seconds: Optional[float]  # first-response target of its queue; None for an unknown queue
    csat: Optional[int]  # 1..5
    customer_id: Optional[str]


@dataclass(frozen=True)
class TicketStep:
    """One event of a ticket's history (ticket_events), what the ticket metrics need of it."""
    kind: str  # created | status | assigned | category | note | reply | customer_message | csat | overdue
    at: float
    agent_id: Optional[str]  # None: the customer or the service itself (housekeeping)
    from_status: Optional[str]
    to_status: Optional[str]
    public: bool  # sent to the customer


@dataclass(frozen=True)
class TicketRecord:
    """One ticket (tickets/model.py), from the handoff service's store, with its history oldest first."""
    id: int
    conversation_id: str  # the Rasa sender_id of the conversation it was made from
    channel: str
    language: str
    tier: str  # see insight.sources.tier_of
    category: str
    department: str
    status: str  # open | in_progress | waiting_customer | resolved | closed
    created_at: float
    due_at: float
    resolved_at: Optional[float]  # the latest resolution (a reopened ticket keeps it until resolved again)
    closed_at: Optional[float]
    overdue_at: Optional[float]  # when it was first flagged overdue
    csat: Optional[int]  # 1..5
    customer_id: Optional[str]
    steps: Tuple[TicketStep, ...] = ()


@dataclass(frozen=True)
class KbLookup:
    """One knowledge-base lookup (knowledge/querylog.py)."""
    at: float
    conversation_id: str
    channel: str
    language: str
    decision: str  # answer | suggest | none | unavailable


@dataclass(frozen=True)
class Filters:
    """What a report covers: the half-open time range [start, end) in unix seconds, and optionally one
    channel, language, queue or tier."""
    start: float
    end: float
    channel: Optional[str] = None
    language: Optional[str] = None
    queue: Optional[str] = None
    tier: Optional[str] = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"filters: end {self.end} is before start {self.start}")

    def covers(self, at: float) -> bool:
        return self.start <= at < self.end

    @property
    def hourly(self) -> bool:
        """Time series by hour when the range is 2 days or less, else by day."""
        return self.end - self.start <= 2 * DAY
