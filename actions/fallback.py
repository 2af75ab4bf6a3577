"""The fallback cascade for a message the NLU did not understand confidently:
knowledge base (answer, or suggest its top questions) -> clarify with the top intents -> a person."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import consecutive_fallbacks, top_intents
from actions.faq import answer, lookup, suggestion_buttons
from actions.handoff import hand_over, triggers
from actions.texts import INTENT_LABELS, label, text

# Intents never offered as a guess: a button "out of scope" helps nobody.
NOT_OFFERED = ("nlu_fallback", "out_of_scope", "request_human")


def clarification_buttons(intent_ranking: List[dict], language: str) -> List[dict]:
    """The top-2 understood intents as buttons, plus a way to reach a person."""
    buttons = [{"title": label(INTENT_LABELS, name, language), "payload": f"/{name}"}
               for name in top_intents(intent_ranking, k=2, exclude=NOT_OFFERED)
               if name in INTENT_LABELS]
    buttons.append({"title": text("clarify_human_button", language), "payload": "/request_human"})
    return buttons


class ActionFallbackCascade(Action):
    def name(self) -> Text:
        return "action_fallback_cascade"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        language = tracker.get_slot("language")
        decision = await lookup(tracker, "fallback")
        if decision.kind == "answer":
            return answer(dispatcher, decision.best.entry, language)
        config = triggers()
        if "low_confidence" in config.enabled and consecutive_fallbacks(tracker.events) >= config.low_confidence_turns:
            return await hand_over(dispatcher, tracker, "low_confidence")
        if decision.kind == "suggest":
            dispatcher.utter_message(text=text("faq_suggest", language),
                                     buttons=suggestion_buttons(decision.hits, language))
            return []
        ranking = tracker.latest_message.get("intent_ranking") or []
        dispatcher.utter_message(text=text("clarify", language),
                                 buttons=clarification_buttons(ranking, language))
        return []
