"""The dialogue policy of the handoff bridge: who speaks next when people are involved.

- While a person owns the conversation (slot `handoff` = "waiting") the bot stays silent: every
  customer message goes to `action_relay_to_agent`; with `handoff` = "ticket" the next message is
  the message left for later.
- External events from the handoff service: an agent's (or the service's) message ->
  `action_deliver_agent_message`; the end of the conversation with people -> `action_handoff_ended`.
- A rating answer while the satisfaction survey is open -> `action_record_csat`.
- The answer to a question a ticket asked (slot `ticket_reply`) -> `action_ticket_reply`, unless the
  customer confidently asks for something else instead (then the question is dropped).
- A message quoting a ticket number or asking how their tickets are doing -> `action_ticket_status`
  (common/ticket_query.py: a pattern, not an intent), unless a handoff trigger fires.
- A handoff trigger (customer's request, complaint, escalation words, strong or sustained negative
  sentiment; common/handoff_triggers.py) -> `action_handoff`, also in the middle of a form.

Its predictions outrank every other policy (they are made as "no user" predictions with top
priority): a customer with an agent must never get a bot answer. It learns nothing from stories.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from bot import action_guard, action_response_schema
from common.handoff_triggers import (
    TriggerConfig,
    escalation_word,
    negatives_since_handoff,
    parse_score,
    trigger_reason,
)
from common.ticket_query import ticket_query

# Every process that runs the model imports this policy: the action-server guard (a polite answer,
# never silence, when the action server is down or stalled) is installed with it, and so is the
# action-response check with its schema compiled once (Rasa recompiles it on every call).
action_guard.install()
action_response_schema.install()

HANDOFF_SLOT, CSAT_SLOT, TICKET_REPLY_SLOT = "handoff", "csat_step", "ticket_reply"
AGENT_MESSAGE_INTENT, ENDED_INTENT = "EXTERNAL_agent_message", "EXTERNAL_handoff_ended"
RELAY, DELIVER, ENDED, CSAT, HANDOFF = ("action_relay_to_agent", "action_deliver_agent_message",
                                        "action_handoff_ended", "action_record_csat", "action_handoff")
TICKET_REPLY, TICKET_STATUS = "action_ticket_reply", "action_ticket_status"
OWN_ACTIONS = (RELAY, DELIVER, ENDED, CSAT, HANDOFF, TICKET_REPLY, TICKET_STATUS)
# Intents that start something new: a customer asked for a rating comment who confidently asks this
# instead has moved on, and the survey is dropped. (Praise or criticism is the comment asked for,
# whatever intent the NLU sees in it.)
NEW_REQUEST_INTENTS = ("ask_order_status", "ask_logistics", "request_return", "cancel_order", "request_human")
NEW_REQUEST_CONFIDENCE = 0.8


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class HandoffPolicy(Policy):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 7}  # above RulePolicy (6)

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 execution_context: ExecutionContext, featurizer=None,
                 triggers: Optional[TriggerConfig] = None) -> None:
        super().__init__(config, model_storage, resource, execution_context, featurizer)
        if triggers is None:
            from common.settings import Settings

            triggers = TriggerConfig.from_settings(Settings.from_env())
        self.triggers = triggers

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain, **kwargs: Any) -> Resource:
        return self._resource  # rules of the service, not learned

    def persist(self) -> None:
        pass

    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: Optional[Dict[Text, Any]] = None,
                                     **kwargs: Any) -> PolicyPrediction:
        action, events = decide(tracker, self.triggers)
        probabilities = self._default_predictions(domain)
        if action is None:
            return self._prediction(probabilities, events=events)
        probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities, events=events, is_no_user_prediction=True)


def _turn_start(tracker: DialogueStateTracker) -> Optional[UserUttered]:
    """The customer's message this turn is about, if no action has answered it yet."""
    for event in reversed(tracker.events):
        if isinstance(event, ActionExecuted):
            return None
        if isinstance(event, UserUttered):
            return event
    return None


def decide(tracker: DialogueStateTracker, triggers: TriggerConfig) -> tuple:
    """(action name or None, events to apply whatever the ensemble picks)."""
    message = _turn_start(tracker)
    if message is None:
        last = tracker.latest_action_name
        return (ACTION_LISTEN_NAME if last in OWN_ACTIONS else None), []
    intent = (message.intent or {}).get("name")
    if intent == AGENT_MESSAGE_INTENT:
        return DELIVER, []
    if intent == ENDED_INTENT:
        return ENDED, []
    if (message.metadata or {}).get("is_external"):
        return None, []
    if tracker.get_slot(HANDOFF_SLOT) in ("waiting", "ticket"):
        return RELAY, []
    csat_step = tracker.get_slot(CSAT_SLOT)
    text = message.text or ""
    if csat_step == "score" and parse_score(text) is not None:
        return CSAT, []
    confidence = (message.intent or {}).get("confidence") or 0.0
    moved_on = intent in NEW_REQUEST_INTENTS and confidence >= NEW_REQUEST_CONFIDENCE
    if str(csat_step or "").startswith("comment") and not moved_on and not escalation_word(text):
        return CSAT, []
    dropped = [SlotSet(CSAT_SLOT, None)] if csat_step else []
    if tracker.get_slot(TICKET_REPLY_SLOT):
        if not moved_on:
            return TICKET_REPLY, []
        dropped.append(SlotSet(TICKET_REPLY_SLOT, None))
    # (the tier only changes the reason code, which the action works out with the customer's record)
    negatives = negatives_since_handoff(e.as_dict() for e in tracker.events)
    reason = trigger_reason(intent, text, negatives, "normal", triggers, in_task=tracker.active_loop_name is not None)
    if reason is not None:
        return HANDOFF, dropped
    if tracker.active_loop_name is None and ticket_query(text)[0]:
        return TICKET_STATUS, dropped
    return None, dropped
