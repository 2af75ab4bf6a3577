"""What customers did after a notification, read from Rasa's tracker store in PostgreSQL
(CS_TRACKER_DB_URL: Rasa's SQLTrackerStore, `events` table), read-only: the sessions of this reader
have `default_transaction_read_only` on, and it only runs proactive/outcomes.py's EVENTS_AFTER, the
same query as on the SQLite file, so the same events give the same rows.

No `events` table yet (Rasa has not started on this database) reads as no events, as a missing SQLite
file does; an unreachable database is an error (the round fails and is counted as such).
"""
from __future__ import annotations

from datetime import datetime
from typing import List

from psycopg import errors

from common.postgres import Connections
from proactive.outcomes import EVENTS_AFTER, EventRow


class PostgresTrackerEvents:
    def __init__(self, url: str) -> None:
        self.connections = Connections(url, application_name="cs-proactive-outcomes", read_only=True)

    def after(self, conversation: str, since: datetime) -> List[EventRow]:
        try:
            return self.connections.read(lambda db: db.execute(EVENTS_AFTER, (conversation, since.timestamp()))
                                         .fetchall())
        except errors.UndefinedTable:
            return []

    def close(self) -> None:
        self.connections.close()
