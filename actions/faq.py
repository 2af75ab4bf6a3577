"""Answers FAQ-style questions from the knowledge base (data/faq/*.yml)."""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.texts import text
from common.language import pick
from common.settings import Settings
from knowledge.corpus import load_corpus
from knowledge.lexical import LexicalIndex

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def faq_index() -> LexicalIndex:
    return LexicalIndex(load_corpus(Settings.from_env().faq_dir))


class ActionAnswerFaq(Action):
    def name(self) -> Text:
        return "action_answer_faq"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        language = tracker.get_slot("language")
        query = tracker.latest_message.get("text") or ""
        hits = faq_index().search(query, k=3)
        threshold = Settings.from_env().faq_answer_threshold
        best = hits[0] if hits else None
        logger.info("faq lookup", extra={"sender_id": tracker.sender_id, "query": query,
                                         "top": [(h.entry.id, round(h.score, 3)) for h in hits]})
        if best and best.score >= threshold:
            dispatcher.utter_message(text=pick(best.entry.answer, language))
        else:
            dispatcher.utter_message(text=text("faq_none", language))
        return []
