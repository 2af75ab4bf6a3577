"""handoff/requests.py: HandoffRequestStore on a temporary SQLite file."""
from __future__ import annotations

import sqlite3
import time

import pytest

from handoff.requests import REASONS, HandoffRequest, HandoffRequestStore, StoredRequest, as_dict


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "nested" / "handoff.sqlite3"


@pytest.fixture
def store(db_path):
    return HandoffRequestStore(db_path)


def make(sender="s1", reason="customer_request", **kw):
    return HandoffRequest(sender_id=sender, reason=reason, language=kw.pop("language", "zh"), **kw)


def test_creates_parent_folder_and_table(db_path, store):
    assert db_path.is_file()
    with sqlite3.connect(db_path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "handoff_requests" in tables


def test_record_then_get_round_trip(store):
    request = make(
        sender="web-42", reason="complaint", language="en",
        intents=["greet", "complain"],
        slots={"order_number": "241106329572", "phone": "138****5678"},
        transcript=[{"role": "customer", "text": "东西坏了"}, {"role": "bot", "text": "抱歉"}],
    )
    before = time.time()
    rid = store.record(request)
    stored = store.get(rid)
    assert isinstance(stored, StoredRequest)
    assert stored.id == rid
    assert stored.request == request
    assert before - 1 <= stored.created_at <= time.time() + 1


def test_chinese_text_stored_readably(db_path, store):
    store.record(make(transcript=[{"role": "customer", "text": "转人工"}]))
    with sqlite3.connect(db_path) as db:
        [(summary,)] = db.execute("SELECT summary_json FROM handoff_requests").fetchall()
    assert "转人工" in summary


def test_get_unknown_id_is_none(store):
    assert store.get(12345) is None


def test_ids_increase(store):
    ids = [store.record(make(sender=f"s{i}")) for i in range(4)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 4
    assert ids[0] >= 1
    assert all(b > a for a, b in zip(ids, ids[1:], strict=False))


def test_for_sender_returns_only_that_sender_in_order(store):
    a1 = store.record(make(sender="alice", reason="customer_request"))
    store.record(make(sender="bob", reason="complaint"))
    a2 = store.record(make(sender="alice", reason="low_confidence"))
    rows = store.for_sender("alice")
    assert [r.id for r in rows] == [a1, a2]
    assert [r.request.reason for r in rows] == ["customer_request", "low_confidence"]
    assert all(r.request.sender_id == "alice" for r in rows)
    assert store.for_sender("nobody") == []


@pytest.mark.parametrize("reason", REASONS)
def test_every_known_reason_is_accepted(store, reason):
    rid = store.record(make(reason=reason))
    assert store.get(rid).request.reason == reason


@pytest.mark.parametrize("reason", ["", "angry", "Customer_Request", None])
def test_unknown_reason_raises_value_error(reason):
    with pytest.raises(ValueError, match="unknown handoff reason"):
        HandoffRequest(sender_id="s", reason=reason, language="zh")


def test_data_survives_a_new_store_object(db_path):
    first = HandoffRequestStore(db_path)
    rid = first.record(make(sender="persist", reason="order_request",
                            slots={"order_number": "250101284639"}))
    second = HandoffRequestStore(db_path)
    stored = second.get(rid)
    assert stored is not None
    assert stored.request.sender_id == "persist"
    assert stored.request.slots == {"order_number": "250101284639"}
    # ...and ids keep increasing across store objects
    assert second.record(make(sender="persist")) > rid
    assert len(second.for_sender("persist")) == 2


def test_as_dict(store):
    rid = store.record(make(sender="d", intents=["greet"]))
    d = as_dict(store.get(rid))
    assert d["id"] == rid
    assert d["sender_id"] == "d"
    assert d["reason"] == "customer_request"
    assert d["language"] == "zh"
    assert d["intents"] == ["greet"]
    assert d["slots"] == {} and d["transcript"] == []
    assert isinstance(d["created_at"], float)
