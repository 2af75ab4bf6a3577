"""Answers questions from the knowledge base: directly when confident, with suggestions in the middle
band, and says so when it has no answer (the fallback cascade then goes on: clarify -> person)."""
from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.texts import text
from common.language import detect_language, pick
from common.settings import Settings
from knowledge.corpus import FaqEntry
from knowledge.live import LiveKnowledgeBase
from knowledge.querylog import Lookup, QueryLog
from knowledge.search import Decision, Hit, decide

logger = logging.getLogger(__name__)

FAQ_ENTITY = "faq_id"          # set by suggestion buttons: /ask_faq{"faq_id": "<entry id>"}
ANSWERED_SLOT = "kb_answered"  # marks a turn the knowledge base answered (ends a run of fallbacks)


@lru_cache(maxsize=1)
def knowledge() -> LiveKnowledgeBase:
    settings = Settings.from_env()
    return LiveKnowledgeBase(settings.kb_dir, settings.kb_hybrid_weight, poll_seconds=settings.kb_poll_seconds)


@lru_cache(maxsize=1)
def query_log() -> QueryLog:
    return QueryLog(Settings.from_env().kb_log_db)


def _channel(tracker: Tracker) -> Optional[str]:
    return (tracker.get_latest_input_channel() if hasattr(tracker, "get_latest_input_channel") else None)


def _record(tracker: Tracker, source: str, decision: str, hits: List[Hit], chosen: Optional[str],
            version: Optional[str]) -> None:
    try:
        query_log().record(Lookup(
            sender_id=tracker.sender_id, query=tracker.latest_message.get("text") or "", source=source,
            decision=decision, top=[(h.entry.id, h.confidence) for h in hits], chosen=chosen,
            language=tracker.get_slot("language"), channel=_channel(tracker), index_version=version))
    except Exception:  # noqa: BLE001 - the customer's answer matters more than the statistics
        logger.exception("could not record a knowledge-base lookup")


async def lookup(tracker: Tracker, source: str) -> Decision:
    """Search the knowledge base for the latest message and decide; recorded in the query log."""
    kb = knowledge().get()
    query = (tracker.latest_message.get("text") or "").strip()
    if kb is None or not query or query.startswith("/"):
        _record(tracker, source, "unavailable" if kb is None else "none", [], None, None)
        return Decision("none", [])
    loop = asyncio.get_running_loop()
    hits = await loop.run_in_executor(None, kb.search, query, 3)
    decision = decide(hits, Settings.from_env().kb_thresholds)
    chosen = decision.best.entry.id if decision.kind == "answer" else None
    _record(tracker, source, decision.kind, decision.hits, chosen, kb.name)
    logger.info("kb lookup", extra={"sender_id": tracker.sender_id, "source": source, "decision": decision.kind,
                                    "top": [(h.entry.id, round(h.confidence, 3)) for h in decision.hits]})
    return decision


def question_in(entry: FaqEntry, language: Optional[str], fallback: str) -> str:
    """The entry's first phrasing in the customer's language (button titles)."""
    if language:
        for question in entry.questions:
            if detect_language(question) == language:
                return question
    return fallback


def suggestion_buttons(hits: List[Hit], language: Optional[str]) -> List[dict]:
    buttons = [{"title": question_in(h.entry, language, h.question),
                "payload": f'/ask_faq{{"{FAQ_ENTITY}":"{h.entry.id}"}}'} for h in hits]
    buttons.append({"title": text("clarify_human_button", language), "payload": "/request_human"})
    return buttons


def answer(dispatcher: CollectingDispatcher, entry: FaqEntry, language: Optional[str]) -> List[EventType]:
    dispatcher.utter_message(text=pick(entry.answer, language))
    return [SlotSet(ANSWERED_SLOT, True)]


def requested_entry(tracker: Tracker) -> Optional[str]:
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == FAQ_ENTITY and entity.get("value"):
            return str(entity["value"])
    return None


class ActionAnswerFaq(Action):
    def name(self) -> Text:
        return "action_answer_faq"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        language = tracker.get_slot("language")
        wanted = requested_entry(tracker)
        if wanted:  # the customer picked a suggested question
            kb = knowledge().get()
            entry = next((e for e in kb.entries if e.id == wanted), None) if kb else None
            if entry is not None:
                _record(tracker, "button", "answer", [], entry.id, kb.name)
                return answer(dispatcher, entry, language)
        decision = await lookup(tracker, "faq_intent")
        if decision.kind == "answer":
            return answer(dispatcher, decision.best.entry, language)
        if decision.kind == "suggest":
            dispatcher.utter_message(text=text("faq_suggest", language),
                                     buttons=suggestion_buttons(decision.hits, language))
            return []
        dispatcher.utter_message(text=text("faq_none", language),
                                 buttons=[{"title": text("clarify_human_button", language),
                                           "payload": "/request_human"}])
        return []
