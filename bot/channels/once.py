"""A client's retry of a message is processed once (REST channel, docs/scale-out.md).

A REST client whose call failed (its Rasa server died, the balancer answered 502, the connection
dropped) cannot tell whether the turn happened: the server may have died before or after saving the
conversation. Sent again without a key, the message would be a second turn. A client that names its
message (`"message_id"`: 1-128 of A-Z a-z 0-9 . _ : -, the same on every try) gets it processed at most
once: under the conversation's lock (Rasa's lock store, Redis across servers, so the check and the turn
are one step whichever server gets them) the conversation is looked up for a user message with that id
(Rasa keeps it in the UserUttered event); if it is there, the turn is not run again and the answer is
the bot's messages that followed it in the conversation. Without a key a message is processed as Rasa
always did.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Optional

from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import BotUttered, UserUttered

log = logging.getLogger(__name__)

KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def key_problem(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not KEY.match(value):
        return "message_id: 1-128 characters of A-Z a-z 0-9 . _ : -"
    return None


async def handle_once(agent, message: UserMessage) -> Optional[List[Dict[str, Any]]]:
    """Run `message`'s turn unless its conversation already holds its message_id (what Rasa's
    `Agent.handle_message` does, with the check inside the lock). None when the turn ran (its answers
    went to the message's output channel); else the bot's messages that followed the first delivery."""
    if not agent.is_ready():
        return None
    async with agent.lock_store.lock(message.sender_id):
        tracker = await agent.tracker_store.retrieve_full_tracker(message.sender_id)
        if tracker is not None:
            earlier = answers_after(list(tracker.events), message.message_id, message.sender_id)
            if earlier is not None:
                log.info("repeated message answered from the conversation, not run again",
                         extra={"message_id": message.message_id})
                return earlier
        await agent.processor.handle_message(message)
        return None


def answers_after(events: list, message_id: str, recipient: str) -> Optional[List[Dict[str, Any]]]:
    """The bot's messages after the user message `message_id` (up to the next user message), in the
    REST channel's shape; None if no user message has that id."""
    found = None
    for i, event in enumerate(events):
        if isinstance(event, UserUttered) and event.message_id == message_id:
            found = i
            break
    if found is None:
        return None
    answers = []
    for event in events[found + 1:]:
        if isinstance(event, UserUttered):
            break
        if isinstance(event, BotUttered):
            data = event.data or {}
            shown = {"recipient_id": recipient, "text": event.text, "image": data.get("image"),
                     "buttons": data.get("buttons"), "attachment": data.get("attachment"),
                     "custom": data.get("custom")}
            answers.append({k: v for k, v in shown.items() if v is not None})
    return answers
