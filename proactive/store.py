"""Where notifications are recorded, shared by every scheduler replica and the action server (opt-outs):
the `NotificationStore` interface and `open_notification_store(settings)`, which opens the SQLite file
`var/proactive.sqlite3` (proactive/sql_store.py) or, when CS_PROACTIVE_DB_URL is set, PostgreSQL
(proactive/pg_store.py). Both run the same SQL, with the same results and guarantees.

- `notifications`: one row per event (UNIQUE dedupe key): queued -> sending -> sent | failed, or
  skipped with a reason; `not_before` postpones (quiet hours). A replica must *claim* a row (queued ->
  sending, one UPDATE in a write transaction) before it decides or sends, so of two replicas only one
  ever handles a notification; a customer with a notification in `sending` is not claimed again until
  it is done, so the rate limit holds across replicas too. A claim left in `sending` by a crashed
  replica is not retried (at most once: better no message than two); after `lease` seconds it is
  closed as skipped "interrupted".
- `opt_outs`: customers who said "退订"/"stop".
- `customers_seen`: when the scheduler first read each customer's facts (their baseline): request
  events already there then are history ("before_start"), not news — also for a customer who
  becomes reachable long after notifications started.

Times are datetimes at this boundary (UTC when read back), unix seconds in the database.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Dict, Iterable, List, Optional, Protocol, Tuple

from common.settings import Settings
from proactive.model import Candidate


@dataclass(frozen=True)
class Notification:
    id: int
    dedupe_key: str
    kind: str
    customer_id: str
    order_number: str
    language: str
    params: Dict[str, str]
    event_time: Optional[datetime]
    first_seen: datetime
    state: str
    reason: str
    not_before: float
    finished_at: Optional[datetime]
    channel: Optional[str]
    conversation: Optional[str]
    error: str
    outcome: Optional[str]
    outcome_final: bool

    @property
    def happened_at(self) -> datetime:
        return self.event_time or self.first_seen

    def as_candidate(self) -> Candidate:
        return Candidate(kind=self.kind, customer_id=self.customer_id, order_number=self.order_number,
                         dedupe_key=self.dedupe_key, event_time=self.event_time, language=self.language,
                         params=self.params)


class NotificationStore(Protocol):
    # --- candidates and claims ---
    def offer(self, candidates: Iterable[Candidate], now: datetime, customers: Iterable[str] = ()) -> int:
        """Record candidates not seen before (queued); returns how many were new. `customers`: whose
        facts this round read. The first round that reads a customer's facts is their baseline: events
        without a time found then (a refund completed last month) are history, recorded as skipped
        "before_start", not news. One transaction, so replicas agree on every baseline."""

    def due(self, now: datetime, limit: int = 500) -> List[Notification]:
        """Queued notifications whose time has come, oldest first."""

    def claim(self, notification_id: int, worker: str, now: datetime) -> bool:
        """Take a queued notification for this worker; False when another took it (or handles one of
        the same customer right now)."""

    def sent(self, notification_id: int, worker: str, now: datetime, channel: str, conversation: str) -> None:
        """The worker's claim was sent (no effect on a claim that is no longer the worker's)."""

    def failed(self, notification_id: int, worker: str, now: datetime, error: str, channel: str = "") -> None:
        """The worker's claim could not be sent; not retried."""

    def skipped(self, notification_id: int, worker: str, now: datetime, reason: str, channel: str = "") -> None:
        """The worker's claim is not sent, for `reason`."""

    def postpone(self, notification_id: int, worker: str, until: datetime, reason: str) -> None:
        """The worker's claim is queued again, not before `until`."""

    def expire_claims(self, now: datetime, lease: float) -> int:
        """Close claims older than `lease` seconds (their replica died mid-send) as skipped; how many."""

    def sent_since(self, customer_id: str, since: datetime) -> int:
        """How many notifications were sent to the customer since then."""

    # --- opt-outs ---
    def opt_out(self, customer_id: str, now: datetime, channel: str = "") -> None: ...

    def opt_in(self, customer_id: str) -> bool:
        """Undo an opt-out; False when there was none."""

    def opted_out(self, customer_id: str) -> bool: ...

    # --- outcomes ---
    def awaiting_outcome(self, limit: int = 500) -> List[Notification]:
        """Sent notifications whose outcome is not final yet."""

    def set_outcome(self, notification_id: int, outcome: Optional[str], final: bool) -> None:
        """Record the outcome so far (a final one is never changed again)."""

    # --- reading ---
    def all(self, customer_id: Optional[str] = None) -> List[Notification]: ...

    def get(self, dedupe_key: str) -> Optional[Notification]: ...

    def counts(self) -> List[Tuple[str, str, str, str, int]]:
        """(kind, state, reason, outcome, count) over every notification, for the metrics."""

    def close(self) -> None:
        """Release kept connections (later calls still work)."""


def open_notification_store(settings: Settings) -> NotificationStore:
    """PostgreSQL when CS_PROACTIVE_DB_URL is set (its schema created or migrated now), else the SQLite file
    in the var dir."""
    if settings.proactive_db_url:
        from proactive.pg_store import PostgresNotificationStore  # only when configured

        return PostgresNotificationStore(settings.proactive_db_url)
    from proactive.sql_store import SqliteNotificationStore

    return SqliteNotificationStore(settings.proactive_db)
