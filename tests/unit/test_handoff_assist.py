"""The agent-assist core (handoff/assist.py): suggestions (ranking, language), order context (masking,
unverified customers, an order system that is down), the sentiment alert rule, canned search."""
from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from common.handoff_triggers import TriggerConfig
from handoff import assist
from knowledge.corpus import load_corpus
from knowledge.index import IndexVersion, build_index
from knowledge.search import KnowledgeBase, Thresholds
from orders.backend import BackendUnavailable
from orders.fixture import load_fixture
from orders.sqlite_backend import SqliteOrderBackend
from tests.kb_editing_fixture import OPTIONS, write_corpus

CONFIG = TriggerConfig()  # strong 0.9, trend 3 messages >= 0.6


# --- sentiment --------------------------------------------------------------------------------------
def test_no_alert_for_calm_or_unknown():
    assert assist.sentiment_state([], CONFIG)["level"] == "unknown"
    calm = assist.sentiment_state([0.1, 0.2, 0.05], CONFIG)
    assert calm["alert"] is False and calm["hint"] is None and calm["level"] == "calm"
    assert assist.sentiment_state([0.95, None], CONFIG)["alert"] is False  # the latest was not scored
    # two negative ones are not yet a trend; one at 0.85 is below the strong threshold
    assert assist.sentiment_state([0.1, 0.7, 0.85], CONFIG)["alert"] is False


def test_a_strongly_negative_message_alerts_with_a_hint_in_both_languages():
    state = assist.sentiment_state([0.1, 0.95], CONFIG)
    assert state["alert"] is True and state["rule"] == "strong" and state["level"] == "negative"
    assert "致歉" in state["hint"]["zh"] and "apologise" in state["hint"]["en"]
    assert state["latest"] == 0.95 and state["recent"] == [0.1, 0.95]


def test_negative_messages_in_a_row_alert_as_a_trend():
    state = assist.sentiment_state([0.0, 0.65, 0.7, 0.62], CONFIG)
    assert state["alert"] is True and state["rule"] == "trend"
    assert state["hint"] == assist.HINTS["trend"]
    # the configured thresholds are the handoff trigger's (CS_HANDOFF_SENTIMENT_*)
    lenient = TriggerConfig(strong=0.99, trend_turns=2, trend_level=0.5)
    assert assist.sentiment_state([0.55, 0.95], lenient)["rule"] == "trend"
    assert assist.sentiment_state([0.55, 0.95], lenient)["thresholds"]["strong"] == 0.99


def test_summary_scores_become_negative_probabilities():
    assert assist.summary_negatives({"sentiment": [1.0, None, -0.8, True]}) == [0.0, None, pytest.approx(0.9), None]
    assert assist.summary_negatives(None) == []


def _msg(i: int, text: str, direction: str = "customer"):
    return SimpleNamespace(id=i, direction=direction, text=text)


def test_relayed_messages_are_scored_once_and_follow_the_summary():
    calls = []

    def score(texts):
        calls.append(list(texts))
        return [0.95 if "差" in t else 0.05 for t in texts]

    helper = assist.Assistant(lambda: None, Thresholds(), CONFIG, score=score)
    messages = [_msg(1, "你好"), _msg(2, "agent text", "agent"), _msg(3, "太差了")]
    live = helper.live("zh", {"sentiment": [0.5]}, messages)
    assert live["sentiment"]["recent"] == [0.25, 0.05, 0.95] and live["sentiment"]["rule"] == "strong"
    assert live["message_id"] == 3 and live["query"] == "太差了"
    assert live["suggestions"] == {"version": None, "decision": "none", "items": [], "available": False}
    helper.live("zh", {}, messages + [_msg(4, "好的")])
    assert calls == [["你好", "太差了"], ["好的"]]


def test_the_latest_words_fall_back_to_the_bot_transcript():
    summary = {"transcript": [{"role": "customer", "text": "退款多久到账"}, {"role": "bot", "text": "..."}]}
    assert assist.latest_customer_text([], summary) == ("退款多久到账", None)
    assert assist.latest_customer_text([_msg(7, "  "), _msg(8, "hi", "agent")], summary) == ("退款多久到账", None)
    assert assist.latest_customer_text([_msg(7, "还在吗")], summary) == ("还在吗", 7)
    assert assist.latest_customer_text([], {}) == ("", None)


# --- knowledge base ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    root = tmp_path_factory.mktemp("assist-kb")
    result = build_index(load_corpus(write_corpus(root / "faq")), root / "kb", OPTIONS)
    return KnowledgeBase.load(IndexVersion.open(result.path))


def test_suggestions_are_ranked_with_the_answer_in_the_conversations_language(kb):
    thresholds = Thresholds()
    zh = assist.suggestions(kb, "退款几天能到账", "zh", thresholds)
    assert zh["available"] and zh["version"] == kb.name and zh["decision"] == "answer"
    items = zh["items"]
    assert items[0]["id"] == "refund-time" and items[0]["answer"] == "仓库验收后 1–3 个工作日退款。"
    assert items[0]["strength"] == "answer" and len(items) == assist.SUGGESTIONS
    assert [i["confidence"] for i in items] == sorted((i["confidence"] for i in items), reverse=True)
    # the same question from an English-speaking customer: the English answer to insert
    en = assist.suggestions(kb, "退款几天能到账", "en", thresholds)
    assert en["items"][0]["answer"].startswith("Refunds are issued")
    assert assist.suggestions(kb, "I forgot my password", "en", thresholds)["items"][0]["id"] == "password-reset"


def test_no_confident_answer_is_still_shown_ranked_but_weak(kb):
    found = assist.suggestions(kb, "明天天气怎么样", "zh", Thresholds())
    assert found["decision"] == "none"
    assert all(i["strength"] == "weak" for i in found["items"])
    assert assist.suggestions(kb, "   ", "zh", Thresholds())["items"] == []


# --- orders -----------------------------------------------------------------------------------------
@pytest.fixture
async def backend(tmp_path):
    seeded = SqliteOrderBackend(tmp_path / "orders.sqlite3")
    seeded.seed(load_fixture(now=datetime.now(timezone.utc)))
    yield seeded
    await seeded.close()


async def test_order_context_is_the_customers_latest_orders_masked(backend):
    context = await assist.order_context(backend, "C1110")
    assert context["status"] == "ok"
    assert context["customer"] == {"id": "C1110", "name": "张*", "phone": "189****5755", "tier": "vip"}
    orders = context["orders"]
    assert 1 <= len(orders) <= assist.ORDERS
    assert [o["created_at"] for o in orders] == sorted((o["created_at"] for o in orders), reverse=True)
    first = orders[0]
    assert first["status"] == "after_sales" and first["items"][0]["name"]["zh"]
    assert first["logistics"]["description"]["en"] and first["logistics"]["time"]
    assert [r["state"] for r in first["after_sales"]] == ["approved"]
    flat = repr(context)
    assert "18972355755" not in flat and "张丽" not in flat
    assert "address" not in first and "recipient" not in flat


async def test_orders_of_unverified_or_unknown_customers_and_a_backend_that_is_down(backend):
    assert (await assist.order_context(backend, None))["status"] == "unverified"
    assert (await assist.order_context(backend, "C0000")) == {"status": "unknown_customer", "customer": None,
                                                              "orders": []}

    class Down:
        async def get_customer(self, *a, **k):
            raise BackendUnavailable("circuit open")

    assert (await assist.order_context(Down(), "C1110"))["status"] == "unavailable"


def test_masked_names():
    assert assist.mask_name("张丽") == "张*" and assist.mask_name("欧阳娜娜") == "欧***"
    assert assist.mask_name("Ben Dubois") == "Ben D." and assist.mask_name("") == ""


def test_free_text_of_orders_is_masked():
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    order = SimpleNamespace(number="1", status="shipped", total=100, created_at=when, shipped_at=when,
                            delivered_at=None, items=(), carrier="SF", tracking_number="SF1")
    event = SimpleNamespace(time=when, code="exception", location="上海",
                            description_zh="请联系快递员 13812345678", description_en="call 13812345678")
    request = SimpleNamespace(number="AS1", sku="X", type="refund", reason="other", state="open", created_at=when,
                              note="my mail is bob@example.com")
    view = assist.order_view(order, [event], [request, SimpleNamespace(**{**vars(request), "state": "completed"})])
    assert view["logistics"]["description"] == {"zh": "请联系快递员 138****5678", "en": "call 138****5678"}
    assert [r["note"] for r in view["after_sales"]] == ["my mail is b***@example.com"]


# --- canned replies ---------------------------------------------------------------------------------
def test_canned_search_by_keywords_in_the_conversations_language():
    replies = [{"id": "refund_time", "language": "zh", "title": "退款时效", "text": "退款审核通过后…"},
               {"id": "refund_time", "language": "en", "title": "Refund timing", "text": "Once the refund is approved"},
               {"id": "sorry", "language": "en", "title": "Apology", "text": "I'm very sorry"}]
    assert [r["title"] for r in assist.canned_matches(replies, "退款", "zh")] == ["退款时效"]
    assert [r["title"] for r in assist.canned_matches(replies, "REFUND approved", "en")] == ["Refund timing"]
    assert len(assist.canned_matches(replies, "", "en")) == 2
    assert assist.canned_matches(replies, "nothing like this", None) == []
