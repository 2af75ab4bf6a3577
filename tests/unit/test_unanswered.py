"""insight/unanswered.py: which messages count as unanswered, grouping by meaning (with the real USE
encoder), draft answers from agents, and clusters leaving once the knowledge base answers them."""
from __future__ import annotations

import numpy as np
import pytest

from insight.model import HandoffRecord, Session, Turn
from insight.unanswered import (
    NoAnswerLookup,
    build_clusters,
    cluster_vectors,
    collect,
    drafts_from,
    normalise,
    still_unanswered,
)


def turn(at, text, intent="ask_faq", fallback=False):
    return Turn(at=at, text=text, intent=intent, confidence=0.9, fallback=fallback)


def session(cid, *turns, language="zh"):
    return Session(conversation_id=cid, started_at=turns[0].at - 1, ended_at=turns[-1].at + 1, channel="socketio",
                   language=language, customer_id=None, tier="guest", turns=tuple(turns), handed_off=False)


def handoff(hid, cid, at, outcome="closed", language="zh"):
    return HandoffRecord(id=hid, conversation_id=cid, channel="socketio", language=language, tier="guest",
                         queue="general", reason="customer_request", created_at=at, accepted_at=at + 5,
                         first_response_at=at + 10, resolved_at=at + 60, outcome=outcome, state=outcome or "active",
                         sla_target_seconds=60.0, csat=None, customer_id=None)


# --- collect -----------------------------------------------------------------------------------------
def test_each_kind_of_unanswered_message_is_collected_once():
    sessions = [
        session("a", turn(10, "你们支持分期付款吗", "nlu_fallback", fallback=True)),
        session("b", turn(20, "hi", "greet"), turn(21, "Do you ship to Canada?", "ask_faq"),
                turn(22, "talk to a person", "request_human"), language="en"),
        session("c", turn(30, "/affirm", "affirm", fallback=True), turn(31, "   ", "nlu_fallback", fallback=True)),
    ]
    lookups = [NoAnswerLookup(10.5, "a", "你们支持分期付款吗？", "zh"),  # the same message's KB lookup
               NoAnswerLookup(40, "d", "can I pay with bitcoin", "en")]
    messages = collect(sessions, lookups, [handoff(7, "b", 22.5, language="en")])
    got = [(m.conversation_id, m.text, m.source, m.language, m.handoff_id) for m in messages]
    assert got == [("a", "你们支持分期付款吗", "fallback", "zh", None),
                   ("b", "Do you ship to Canada?", "handoff", "en", 7),
                   ("d", "can I pay with bitcoin", "no_answer", "en", None)]


def test_a_handoff_right_after_an_order_task_or_without_a_question_adds_nothing():
    sessions = [session("e", turn(10, "我的订单到哪了", "ask_order_status"), turn(11, "转人工", "request_human")),
                session("f", turn(10, "你好", "greet"))]
    assert collect(sessions, [], [handoff(1, "e", 12), handoff(2, "f", 12), handoff(3, "nobody", 12)]) == []


def test_only_messages_before_the_handoff_count():
    s = session("g", turn(10, "发票怎么开", "ask_faq"), turn(50, "能开专票吗", "ask_faq"))
    messages = collect([s], [], [handoff(4, "g", 20)])
    assert [(m.text, m.source) for m in messages] == [("发票怎么开", "handoff")]


def test_normalise_ignores_case_spaces_and_end_punctuation():
    assert normalise("Do you ship to Canada ?") == normalise("do you ship to canada") != normalise("ship to canada")
    assert normalise("发票怎么开？？") == normalise("发票怎么开")


# --- grouping ------------------------------------------------------------------------------------------
def test_cluster_vectors_groups_by_cosine_largest_first():
    v = np.array([[1, 0, 0], [0.95, 0.3, 0], [0, 1, 0], [0, 0.97, 0.2], [0.02, 0.99, 0.1], [0, 0, 1]], dtype=float)
    assert cluster_vectors(v, 0.8) == [[2, 3, 4], [0, 1], [5]]
    assert cluster_vectors(v, 0.999) == [[0], [1], [2], [3], [4], [5]]
    assert cluster_vectors(np.zeros((0, 3)), 0.6) == []


@pytest.fixture(scope="module")
def use():
    from knowledge.encoders import load_encoder
    return load_encoder("use")


def test_paraphrases_group_together_and_topics_apart_with_the_real_encoder(use):
    texts = {
        "installments": ["可以分期付款吗", "支持分期吗", "能用花呗分期吗", "Can I pay in installments?",
                         "do you offer monthly payments"],
        "gift wrap": ["可以包装成礼物吗", "有礼品包装吗", "Do you offer gift wrapping?", "can you wrap it as a gift"],
        "pets": ["你们店里可以带狗进去吗", "Are dogs allowed in your stores?"],
    }
    messages = [m for topic, group in texts.items() for m in group]
    from insight.unanswered import UnansweredMessage
    items = [UnansweredMessage(t, float(i), f"s{i}", "fallback", "zh") for i, t in enumerate(messages)]
    clusters = build_clusters(items, use.encode)
    topic_of = {t: topic for topic, group in texts.items() for t in group}
    for cluster in clusters:  # every cluster is one topic
        assert len({topic_of[t] for t in cluster.texts}) == 1, cluster.texts
    assert clusters[0].count >= 3 and len(clusters) <= 6  # grouped, not one per message
    mixed = [c for c in clusters if any(t.isascii() for t in c.texts) and not all(t.isascii() for t in c.texts)]
    assert {topic_of[c.texts[0]] for c in mixed} >= {"gift wrap", "pets"}  # across languages too


def test_cluster_counts_languages_sources_times_and_drafts():
    from insight.unanswered import DraftAnswer, UnansweredMessage
    items = [UnansweredMessage("能开专票吗", 5, "a", "fallback", "zh"),
             UnansweredMessage("能开专票吗", 9, "b", "no_answer", "zh"),
             UnansweredMessage("can I get a VAT invoice", 7, "c", "handoff", "en", handoff_id=3),
             UnansweredMessage("营业时间", 8, "d", "fallback", "zh")]
    vectors = {"能开专票吗": [1, 0], "can I get a VAT invoice": [0.9, 0.1], "营业时间": [0, 1]}
    draft = DraftAnswer("We issue VAT invoices from the order page.", "en", "lin", 3)
    clusters = build_clusters(items, lambda texts: np.array([vectors[t] for t in texts], dtype=float), {3: draft})
    first, second = clusters
    assert first.count == 3 and first.examples == ("能开专票吗", "can I get a VAT invoice")
    assert dict(first.languages) == {"zh": 2, "en": 1}
    assert dict(first.sources) == {"fallback": 1, "no_answer": 1, "handoff": 1}
    assert (first.first_seen, first.last_seen) == (5, 9)
    assert first.draft_answers == (draft,)
    assert second.count == 1 and second.draft_answers == ()
    assert first.id != second.id and first.id == build_clusters(items[:3], lambda t: np.array(
        [vectors[x] for x in t], dtype=float))[0].id  # stable: named after its leading text
    body = first.to_dict()
    assert body["draft_answers"][0]["agent"] == "lin" and "texts" not in body


def test_draft_answer_is_the_agents_longest_message_in_its_language():
    answer = "专票请在订单详情页申请，填写税号后三个工作日内开出。"
    drafts = drafts_from({1: [("lin", "您好"), ("lin", answer), ("lin", " ")], 2: [("sam", "   ")]}, {1: "zh", 2: "en"})
    assert list(drafts) == [1]
    assert (drafts[1].text, drafts[1].language, drafts[1].agent) == (answer, "zh", "lin")


def test_clusters_the_knowledge_base_now_answers_disappear():
    from insight.unanswered import UnansweredMessage
    items = [UnansweredMessage(t, i, f"s{i}", "fallback", "zh") for i, t in enumerate(["a1", "a2", "a3", "b1", "b2"])]
    vec = {"a1": [1, 0], "a2": [1, 0.1], "a3": [1, 0.05], "b1": [0, 1], "b2": [0.1, 1]}
    clusters = build_clusters(items, lambda texts: np.array([vec[t] for t in texts], dtype=float))
    answered = {"a1", "a2"}  # 2 of 3: most of cluster a; none of b
    left = still_unanswered(clusters, lambda texts: [t in answered for t in texts])
    assert [c.texts for c in left] == [("b1", "b2")]
    answered = {"a1"}  # 1 of 3: stays
    assert len(still_unanswered(clusters, lambda texts: [t in answered for t in texts])) == 2
    assert still_unanswered([], lambda texts: []) == []


def test_a_handoff_question_that_also_got_no_answer_is_one_handoff_message():
    s = session("h", turn(10, "可以包装成礼物吗", "ask_faq"), turn(12, "转人工", "request_human"))
    messages = collect([s], [NoAnswerLookup(10.2, "h", "可以包装成礼物吗", "zh")], [handoff(9, "h", 13)])
    assert [(m.source, m.handoff_id, m.at) for m in messages] == [("handoff", 9, 10)]
