"""What the customer did after a notification, from the conversation's events in Rasa's tracker store
(the same record the insight reports read): within `window` of the notification,

- a hand-over to a person (intent `request_human`, e.g. the "talk to a person" button, or any
  `action_handoff`)                  -> "asked_for_person"
- any other message of theirs        -> "opened_conversation"
- nothing by the end of the window   -> "nothing"

`classify` is pure. The events come from Rasa's SQL tracker store (SQLTrackerStore's `events` table:
id, sender_id, type_name, timestamp, intent_name, action_name, data), read-only: the SQLite file
(`SqliteTrackerEvents`) or, when CS_TRACKER_DB_URL is set, PostgreSQL (proactive/pg_tracker_events.py);
`open_tracker_events(settings)` picks the one Rasa uses. An outcome is recorded as soon as there is one
and upgraded ("opened" -> "asked") until the window ends, then final.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable, List, Optional, Protocol, Tuple

from common.settings import Settings

ASKED, OPENED, NOTHING = "asked_for_person", "opened_conversation", "nothing"

# (type_name, intent_name, action_name, timestamp) of one event
EventRow = Tuple[str, Optional[str], Optional[str], float]
# A conversation's messages and actions after a time, in the order Rasa stored them (`?` placeholders).
EVENTS_AFTER = ("SELECT type_name, intent_name, action_name, timestamp FROM events WHERE sender_id = ? "
                "AND timestamp > ? AND type_name IN ('user', 'action') ORDER BY id")


def classify(events: Iterable[EventRow], sent_at: datetime, now: datetime, window: timedelta
             ) -> Tuple[Optional[str], bool]:
    """(outcome so far or None, final?) from the conversation's events after the notification."""
    start, end = sent_at.timestamp(), (sent_at + window).timestamp()
    outcome = None
    for type_name, intent, action, timestamp in events:
        if not start < timestamp <= end:
            continue
        handed_over = type_name == "action" and action == "action_handoff"
        if (type_name == "user" and intent == "request_human") or handed_over:
            outcome = ASKED
        elif type_name == "user" and intent and not intent.startswith("EXTERNAL_") and outcome is None:
            outcome = OPENED
    final = now >= sent_at + window
    if outcome is None and final:
        outcome = NOTHING
    return outcome, final


class TrackerEvents(Protocol):
    def after(self, conversation: str, since: datetime) -> List[EventRow]:
        """The conversation's user messages and actions after `since`; none while there is no tracker
        store yet."""


class SqliteTrackerEvents:
    def __init__(self, tracker_db: Path) -> None:
        self.path = Path(tracker_db)

    def after(self, conversation: str, since: datetime) -> List[EventRow]:
        if not self.path.exists():
            return []
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            return db.execute(EVENTS_AFTER, (conversation, since.timestamp())).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            db.close()


def open_tracker_events(settings: Settings) -> TrackerEvents:
    """The tracker store Rasa writes to: PostgreSQL when CS_TRACKER_DB_URL is set, else the SQLite file."""
    if settings.tracker_db_url:
        from proactive.pg_tracker_events import PostgresTrackerEvents  # only when configured

        return PostgresTrackerEvents(settings.tracker_db_url)
    return SqliteTrackerEvents(settings.tracker_db)
