"""common/logs.py: JsonFormatter (one masked JSON object per line)."""
from __future__ import annotations

import io
import json
import logging
import re

import pytest

from common.logs import JsonFormatter


@pytest.fixture
def capture():
    """A logger writing through JsonFormatter into a string buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.unit.logs")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.handlers[:] = []
        logger.propagate = True


def lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line(capture):
    logger, stream = capture
    logger.info("first")
    logger.warning("second\nwith a newline")
    raw = stream.getvalue().splitlines()
    assert len(raw) == 2
    first, second = (json.loads(line) for line in raw)
    assert first["msg"] == "first"
    assert second["msg"] == "second\nwith a newline"
    assert second["level"] == "WARNING"


def test_standard_fields(capture):
    logger, stream = capture
    logger.info("hello %s", "world")
    [entry] = lines(stream)
    assert entry["msg"] == "hello world"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "tests.unit.logs"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["ts"])
    # No LogRecord internals leak into the line.
    for internal in ("args", "levelno", "pathname", "msecs", "exc_info", "message"):
        assert internal not in entry


def test_extra_fields_are_included(capture):
    logger, stream = capture
    logger.info("faq lookup", extra={"sender_id": "abc", "ref": 7, "top": [["invoice", 0.9]]})
    [entry] = lines(stream)
    assert entry["sender_id"] == "abc"
    assert entry["ref"] == 7
    assert entry["top"] == [["invoice", 0.9]]


def test_non_json_extras_are_stringified(capture):
    logger, stream = capture
    logger.info("x", extra={"obj": object()})
    [entry] = lines(stream)
    assert entry["obj"].startswith("<object object")


def test_chinese_is_not_escaped():
    record = logging.makeLogRecord({"msg": "转人工客服", "levelname": "INFO", "name": "t"})
    line = JsonFormatter().format(record)
    assert "转人工客服" in line
    assert json.loads(line)["msg"] == "转人工客服"


def test_phone_masked_in_message(capture):
    logger, stream = capture
    logger.info("customer %s wants a call back on 15067893421", "13812345678")
    text = stream.getvalue()
    assert "13812345678" not in text and "15067893421" not in text
    [entry] = lines(stream)
    assert entry["msg"] == "customer 138****5678 wants a call back on 150****3421"


def test_phone_masked_in_string_extras(capture):
    logger, stream = capture
    logger.info("faq lookup", extra={"query": "我的手机13812345678", "sender_id": "s1"})
    [entry] = lines(stream)
    assert entry["query"] == "我的手机138****5678"
    assert "13812345678" not in stream.getvalue()


def test_phone_masked_in_nested_extras(capture):
    logger, stream = capture
    logger.info("slots", extra={"slots": {"phone": "13812345678"}, "texts": ["电话13812345678"]})
    assert "13812345678" not in stream.getvalue()


def test_exception_included_and_masked(capture):
    logger, stream = capture
    try:
        raise RuntimeError("cannot reach 13812345678")
    except RuntimeError:
        logger.exception("handoff failed")
    [entry] = lines(stream)
    assert entry["msg"] == "handoff failed"
    assert entry["level"] == "ERROR"
    assert "Traceback" in entry["exc"]
    assert "RuntimeError: cannot reach 138****5678" in entry["exc"]
    assert "13812345678" not in stream.getvalue()


def test_no_exc_key_without_exception(capture):
    logger, stream = capture
    logger.error("plain error")
    [entry] = lines(stream)
    assert "exc" not in entry
