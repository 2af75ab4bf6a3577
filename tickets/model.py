"""A ticket and the events of its history, and the one state machine they follow.

    open ──▶ in_progress ◀──▶ waiting_customer
      │           │                  │
      └───────────┴──────▶ resolved ◀┘ ──▶ closed (rated, by the owner or a supervisor, or after the wait)
                              │
                              └──▶ in_progress (reopened)

An unresolved ticket (open, in progress, waiting) may also be closed without a resolution — a duplicate,
a request withdrawn —, by a supervisor only and with the reason the customer reads (handoff/ticket_service.py).

The due time's clock stops while the ticket waits on the customer: `paused_at` holds when the wait began, a
waiting ticket is judged against that moment, and when the wait ends the due time moves on by the time
waited, counted as the category counts it (tickets/calendar.py `Due.extend`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

STATUSES = ("open", "in_progress", "waiting_customer", "resolved", "closed")
DONE = frozenset({"resolved", "closed"})  # no longer counts against the due time
WAITING = "waiting_customer"  # the due time's clock stops

TRANSITIONS: Dict[str, FrozenSet[str]] = {
    "open": frozenset({"in_progress", "waiting_customer", "resolved", "closed"}),
    "in_progress": frozenset({"waiting_customer", "resolved", "closed"}),
    "waiting_customer": frozenset({"in_progress", "resolved", "closed"}),
    "resolved": frozenset({"in_progress", "closed"}),
    "closed": frozenset(),
}

# What one event of a ticket's history is. `public` events reached (or were sent to) the customer.
EVENT_KINDS = ("created", "status", "assigned", "category", "note", "reply", "customer_message", "csat", "overdue")


class TicketError(ValueError):
    """A change that the ticket's state does not allow (the message says why)."""


def number(ticket_id: int) -> str:
    """The ticket number the customer is told: T + six digits (handoffs are H + six digits)."""
    return f"T{ticket_id:06d}"


def parse_number(text: str) -> Optional[int]:
    """The id in a ticket number ("T000012", "t12", "12"), or None when it is not one."""
    raw = (text or "").strip().upper().removeprefix("T")
    if not raw.isdecimal() or len(raw) > 12:  # isdigit() also takes "²", which int() refuses
        return None
    value = int(raw)
    return value if value > 0 else None


def check_transition(current: str, wanted: str) -> None:
    if wanted not in STATUSES:
        raise TicketError(f"unknown status {wanted!r}; statuses: {', '.join(STATUSES)}")
    if wanted == current:
        raise TicketError(f"the ticket is {current} already")
    if wanted not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (it is closed)"
        article = "an" if current[0] in "aeiou" else "a"
        raise TicketError(f"{article} {current} ticket cannot become {wanted}; next: {allowed}")


def is_overdue(status: str, due_at: float, now: float, paused_at: Optional[float] = None) -> bool:
    """Past its due time and not done; a ticket waiting on the customer is judged at the start of the wait."""
    return status not in DONE and clock_time(now, paused_at) > due_at


def clock_time(now: float, paused_at: Optional[float]) -> float:
    """Where the ticket's due-time clock stands: stopped at `paused_at` during a wait, else now."""
    return now if paused_at is None else min(now, paused_at)


def waits(steps: Iterable[Tuple[Optional[str], Optional[str], float]]) -> List[Tuple[float, float]]:
    """The finished waits on the customer, (start, end), from a history's status steps given as
    (from_status, to_status, at) in order. A wait still going (no end yet) is not among them."""
    found: List[Tuple[float, float]] = []
    start: Optional[float] = None
    for from_status, to_status, at in steps:
        if to_status == WAITING and from_status != WAITING:
            start = at
        elif from_status == WAITING and start is not None:
            found.append((start, at))
            start = None
    return found


@dataclass(frozen=True)
class Ticket:
    id: int
    conversation_id: int
    sender_id: str
    customer_id: Optional[str]
    channel: str
    language: str
    category: str
    department: str
    subject: str
    status: str
    owner_id: Optional[str]
    created_by: str
    created_at: float
    due_at: float
    updated_at: float
    resolved_at: Optional[float]
    closed_at: Optional[float]
    overdue_at: Optional[float]  # when it was first flagged overdue (reported once)
    csat_score: Optional[int]
    csat_comment: Optional[str]
    tier: str = "normal"
    paused_at: Optional[float] = None  # waiting on the customer since then: the due time's clock is stopped

    @property
    def number(self) -> str:
        return number(self.id)

    def overdue(self, now: float) -> bool:
        return is_overdue(self.status, self.due_at, now, self.paused_at)

    def seconds_left(self, now: float) -> float:
        """Until the due time on the ticket's clock (frozen during a wait); negative when past it."""
        return self.due_at - clock_time(now, self.paused_at)


@dataclass(frozen=True)
class TicketEvent:
    id: int
    ticket_id: int
    kind: str
    at: float
    agent_id: Optional[str]
    from_status: Optional[str]
    to_status: Optional[str]
    text: str
    public: bool  # the customer was sent this (reply, status change with a message, creation)
    delivered_at: Optional[float] = None
    failed_at: Optional[float] = None  # the customer's channel refused the notice for good (and why)
    failure: Optional[str] = None
