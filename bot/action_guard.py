"""The Rasa server's guard around calls to the action server: a customer never gets silence.

Rasa 3.6 calls every custom action over HTTP (`RemoteAction.run`) with a 5-minute timeout; when the
action server is down, stalled or answers 5xx it raises, the processor logs the exception, drops the
action's events and goes on — the customer gets no answer at all (or, on a stall, waits minutes).

`install()` (called when the model's HandoffPolicy is imported, i.e. in every process that runs the
model) wraps `RemoteAction.run`:

- each call is bounded by `CS_ACTION_TIMEOUT` seconds (Settings.action_timeout, 15 s);
- on a timeout, a refused connection or an error answer (anything but a rejection, which forms use
  on purpose) the customer gets one polite message for the turn — `utter_service_unavailable` (try
  again, the hotline, a "talk to a person" button), or `utter_relay_unavailable` while a person owns
  the conversation — and the turn ends there (`FollowupAction(action_listen)`); an active form stays
  active, so the customer continues where they were once the server is back;
- once the action server failed in a turn, the turn's later calls fail at once: a turn (a new
  conversation's session start, the slot-mapping call, the action) waits for the bound only once;
- background calls stay quiet: a failed `action_session_start` (the welcome) is replaced by Rasa's
  default session start, so the conversation starts cleanly and the customer's message is handled;
  the custom slot-mapping actions raise as before (Rasa logs them and goes on); and for external events
  (an agent's message, a ticket notice, the end of a handoff) the customer is told nothing: the turn ends
  with a marked `FollowupAction`, which the handoff service finds in trigger_intent's answer and then keeps
  the event in its outbox and sends it again (handoff/rasa_client.py, docs/reliability.md);
- the wrapped events are marked (`metadata.action_server_unavailable`) for the logs, insight and the
  handoff service.

Rasa-side only: imports Rasa, runs in the .venv-rasa environment.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Set, Text, Tuple

from rasa.core.actions.action import (
    ActionExecutionRejection,
    ActionSessionStart,
    RemoteAction,
    create_bot_utterance,
)
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import BotUttered, Event, FollowupAction, UserUttered
from rasa.shared.exceptions import RasaException

from common.rasa_marks import ACTION_SERVER_UNAVAILABLE

logger = logging.getLogger(__name__)

RESPONSE, RELAY_RESPONSE = "utter_service_unavailable", "utter_relay_unavailable"
MARK = ACTION_SERVER_UNAVAILABLE
HANDOFF_SLOT = "handoff"
# Used when the model's domain has no such response (an older model): both languages, no button.
FALLBACK_TEXT = ("抱歉，暂时无法处理您的请求，请稍后再试，或拨打客服热线 400-800-1234。 / "
                 "Sorry, we can't complete that right now. Please try again shortly or call 400-800-1234.")
_REMEMBERED_SENDERS = 1000
# A session start runs before the turn's message is in the tracker: after it failed, the customer's next
# call within this many seconds belongs to the same turn.
SAME_TURN_SECONDS = 2.0
_SESSION_START = object()


class ActionServerUnavailable(RasaException):
    """The action server failed this turn (quiet calls raise this; Rasa logs it and goes on)."""


class _Guard:
    def __init__(self, original, timeout: float) -> None:
        self.original = original
        self.timeout = timeout
        # sender -> (the turn the action server failed in, when)
        self.failed: "OrderedDict[str, Tuple[Any, float]]" = OrderedDict()

    def _remember(self, sender_id: str, turn: Any) -> None:
        self.failed[sender_id] = (turn, time.monotonic())
        self.failed.move_to_end(sender_id)
        while len(self.failed) > _REMEMBERED_SENDERS:
            self.failed.popitem(last=False)

    def _failed_already(self, sender_id: str, turn: Any) -> bool:
        failed_turn, at = self.failed.get(sender_id, (None, 0.0))
        if failed_turn is None:
            return False
        if failed_turn is _SESSION_START and time.monotonic() - at < SAME_TURN_SECONDS:
            self.failed[sender_id] = (turn, at)  # the message the failed session start came before
            return True
        return failed_turn == turn

    async def run(self, action: RemoteAction, output_channel, nlg, tracker, domain) -> List[Event]:
        sender_id = tracker.sender_id
        name = action.name()
        turn = _SESSION_START if name == ACTION_SESSION_START_NAME else _turn(tracker)
        if self._failed_already(sender_id, turn):
            error = "the action server failed this turn already"
        else:
            try:
                return await asyncio.wait_for(self.original(action, output_channel, nlg, tracker, domain),
                                              self.timeout)
            except ActionExecutionRejection:
                raise  # a form's "not me": Rasa's normal flow
            except asyncio.TimeoutError:
                error = f"no answer within {self.timeout:g} s"
            except RasaException as exc:
                error = str(exc)
            self._remember(sender_id, turn)
        logger.error(f"action server unavailable for '{name}' (sender {tracker.sender_id}): {error}")
        if name == ACTION_SESSION_START_NAME:
            return await ActionSessionStart().run(output_channel, nlg, tracker, domain)
        if name in _mapping_actions(domain):
            raise ActionServerUnavailable(f"custom action '{name}' not run: {error}")
        if _is_external(tracker):
            # Nothing for the customer; the mark tells the caller of trigger_intent (the handoff service's
            # delivery, handoff/rasa_client.py) that its event was not acted on, so it keeps it and tries again.
            return [FollowupAction(ACTION_LISTEN_NAME, metadata={MARK: True})]
        events: List[Event] = [FollowupAction(ACTION_LISTEN_NAME)]
        if _told(tracker):
            return events
        waiting = tracker.get_slot(HANDOFF_SLOT) in ("waiting", "ticket")
        return [await _apology(RELAY_RESPONSE if waiting else RESPONSE, output_channel, nlg, tracker)] + events


def _turn(tracker) -> Any:
    """The customer's message this call is about (forms pass on a copy of the tracker: same message)."""
    message = tracker.latest_message
    return getattr(message, "message_id", None) or getattr(message, "timestamp", None)


def _told(tracker) -> bool:
    """The apology is already among this turn's events (the tracker a form passes on has them; a
    rejected form action's events are dropped, and then the next call apologises)."""
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, BotUttered) and (event.metadata or {}).get(MARK):
            return True
    return False


def _is_external(tracker) -> bool:
    message = tracker.latest_message
    intent = ((getattr(message, "intent", None) or {}).get("name") or "")
    return intent.startswith("EXTERNAL_") or bool((getattr(message, "metadata", None) or {}).get("is_external"))


def _mapping_actions(domain) -> Set[Text]:
    names = set()
    for slot in getattr(domain, "slots", []) or []:
        for mapping in getattr(slot, "mappings", None) or []:
            if mapping.get("type") == "custom" and mapping.get("action"):
                names.add(mapping["action"])
    return names


async def _apology(response: Text, output_channel, nlg, tracker):
    message: Optional[Dict[Text, Any]] = None
    try:
        message = await nlg.generate(response, tracker, output_channel.name())
    except Exception:  # noqa: BLE001 - the apology must not fail in turn
        logger.exception("apology response could not be rendered")
    if not message:
        message = {"text": FALLBACK_TEXT}
    message = dict(message)
    message["utter_action"] = response
    message[MARK] = True
    return create_bot_utterance(message)


_installed: Optional[_Guard] = None


def install(timeout: Optional[float] = None) -> _Guard:
    """Wrap RemoteAction.run once per process; returns the guard (tests may change its timeout)."""
    global _installed
    if _installed is not None:
        if timeout is not None:
            _installed.timeout = timeout
        return _installed
    if timeout is None:
        from common.settings import Settings

        timeout = Settings.from_env().action_timeout
    guard = _Guard(RemoteAction.run, timeout)

    async def run(self, output_channel, nlg, tracker, domain):
        return await guard.run(self, output_channel, nlg, tracker, domain)

    run.__doc__ = RemoteAction.run.__doc__
    RemoteAction.run = run
    _installed = guard
    return guard
