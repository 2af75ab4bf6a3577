"""Writes conversations into a real SQLite `events` table exactly as Rasa 3.6's SQL tracker store does
(same table, index, columns and event JSON; shapes as in a real tracker: session start preamble, user
events with parse_data, slots, actions, bot messages, external events of the handoff service), for the
tests of insight/ (tests/unit/test_insight_metrics.py)."""
from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

# Rasa's SQLTrackerStore table (rasa/core/tracker_store.py, SQLEvent), as SQLAlchemy creates it on SQLite.
SCHEMA = """
CREATE TABLE events (
    id INTEGER NOT NULL,
    sender_id VARCHAR(255) NOT NULL,
    type_name VARCHAR(255) NOT NULL,
    timestamp FLOAT,
    intent_name VARCHAR(255),
    action_name VARCHAR(255),
    data TEXT,
    PRIMARY KEY (id)
);
CREATE INDEX ix_events_sender_id ON events (sender_id);
"""
MODEL = {"model_id": "881281f5778344e694f9ee353c701496", "assistant_id": "shop-assistant"}


class RasaTrackerWriter:
    """Collects events per sender, then writes them all in time order (ids interleave across senders,
    as in a live store)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._events: List[Tuple[float, int, str, Dict[str, Any]]] = []

    # --- raw events --------------------------------------------------------------------------------
    def add(self, sender: str, event: Dict[str, Any]) -> None:
        self._events.append((event["timestamp"], len(self._events), sender, event))

    def action(self, sender: str, at: float, name: str, policy: Optional[str] = "RulePolicy") -> None:
        self.add(sender, {"event": "action", "timestamp": at, "metadata": dict(MODEL), "name": name,
                          "policy": policy, "confidence": 1.0, "action_text": None, "hide_rule_turn": False})

    def slot(self, sender: str, at: float, name: str, value: Any) -> None:
        self.add(sender, {"event": "slot", "timestamp": at, "metadata": dict(MODEL), "name": name, "value": value})

    def bot(self, sender: str, at: float, text: str = "好的。", action: str = "utter_ok") -> None:
        """The action that speaks (just before), its message at `at`, then listening again."""
        self.action(sender, at - 0.0005, action)
        self.add(sender, {"event": "bot", "timestamp": at, "metadata": {**MODEL, "utter_action": action},
                          "text": text, "data": {"elements": None, "quick_replies": None, "buttons": None,
                                                 "attachment": None, "image": None, "custom": None}})
        self.action(sender, at + 0.01, "action_listen")

    # --- what a conversation is made of -----------------------------------------------------------
    def session(self, sender: str, at: float, channel: str, carried: Optional[Dict[str, Any]] = None) -> None:
        """A session start as action_session_start writes it (session_started at `at`): the metadata slot
        and the action come first, then session_started, carried-over slots, listen, the greeting."""
        channel_user = {"channel": channel, "account": "gh_fake_oa"}
        self.slot(sender, at - 0.002, "session_started_metadata", {"channel_user": channel_user})
        self.action(sender, at - 0.001, "action_session_start", policy=None)
        self.add(sender, {"event": "session_started", "timestamp": at, "metadata": dict(MODEL)})
        for i, (name, value) in enumerate((carried or {}).items()):
            self.slot(sender, at + 0.0001 * (i + 1), name, value)
        self.add(sender, {"event": "action", "timestamp": at + 0.001, "metadata": dict(MODEL),
                          "name": "action_listen", "policy": None, "confidence": None, "action_text": None,
                          "hide_rule_turn": False})
        self.add(sender, {"event": "bot", "timestamp": at + 0.002, "metadata": dict(MODEL),
                          "text": "您好，我是商城智能客服小安。Hi, I'm the shop's virtual assistant.", "data": {}})

    def user(self, sender: str, at: float, text: str, intent: str, confidence: float, channel: str, *,
             language: Optional[str] = None, customer: Optional[str] = None) -> None:
        """A customer's message as the channel delivers it, and what action_read_message sets."""
        message_id = uuid.uuid4().hex
        metadata = {"channel_user": {"channel": channel, "account": "gh_fake_oa"}}
        ranking = [{"name": intent, "confidence": confidence},
                   {"name": "out_of_scope", "confidence": round(1 - confidence, 4)}]
        self.add(sender, {
            "event": "user", "timestamp": at, "metadata": {**metadata, **MODEL}, "text": text,
            "parse_data": {"intent": {"name": intent, "confidence": confidence}, "entities": [], "text": text,
                           "message_id": message_id, "metadata": metadata, "intent_ranking": ranking},
            "input_channel": channel, "message_id": message_id})
        if language is not None:
            self.slot(sender, at + 0.01, "language", language)
        if customer is not None:
            self.slot(sender, at + 0.011, "verified_customer", customer)
        self.add(sender, {"event": "user_featurization", "timestamp": at + 0.02, "metadata": dict(MODEL),
                          "use_text_for_featurization": False})

    def external(self, sender: str, at: float, intent: str, entities: Optional[Dict[str, str]] = None,
                 channel: Optional[str] = None, flagged: bool = True) -> None:
        """An event of the handoff service through Rasa's trigger_intent (UserUttered.create_external:
        text "EXTERNAL: <intent>", metadata is_external, the latest input channel)."""
        text = f"EXTERNAL: {intent}"
        metadata = {"is_external": True} if flagged else {}
        entity_list = [{"entity": k, "value": v} for k, v in (entities or {}).items()]
        self.add(sender, {
            "event": "user", "timestamp": at, "metadata": {**metadata, **MODEL}, "text": text,
            "parse_data": {"intent": {"name": intent}, "entities": entity_list, "text": text,
                           "message_id": None, "metadata": metadata},
            "input_channel": channel, "message_id": None})

    def handoff(self, sender: str, at: float, handoff_id: int, mode: str = "waiting") -> None:
        """action_handoff ran and set the handoff slots (the id of the handoff service's conversation)."""
        self.action(sender, at, "action_handoff")
        self.slot(sender, at + 0.001, "handoff", mode)
        self.slot(sender, at + 0.002, "handoff_id", str(handoff_id))

    # --- the file --------------------------------------------------------------------------------
    def write(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path)
        try:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'events'").fetchone():
                db.executescript(SCHEMA)
            with db:
                for _, _, sender, event in sorted(self._events, key=lambda e: (e[0], e[1])):
                    intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
                    db.execute("INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
                               "VALUES (?, ?, ?, ?, ?, ?)", (sender, event["event"], event["timestamp"], intent,
                                                             event.get("name"), json.dumps(event)))
        finally:
            db.close()
        self._events.clear()
        return self.path
