"""Marks the Rasa server puts in event metadata for the other parts to read (both environments import this)."""
from __future__ import annotations

# bot/action_guard.py: the action server failed this event's action. On a BotUttered: the apology it sent
# instead; on the FollowupAction ending an external event's turn: the event was taken but not acted on
# (handoff/rasa_client.py then keeps it for another try).
ACTION_SERVER_UNAVAILABLE = "action_server_unavailable"
