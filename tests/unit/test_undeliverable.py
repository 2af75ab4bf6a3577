"""common/undeliverable.py: the tag a channel's refusal carries through Rasa's error answer, and which WeChat
error codes are refusals for good (bot/channels/wechat_api.py)."""
from __future__ import annotations

import json

import pytest

from bot.channels.wechat_api import WeChatApiError
from common import undeliverable
from common.undeliverable import ChannelRefused, Refusal, parse


def rasa_error_body(exc: Exception) -> str:
    """What Rasa 3.6 answers trigger_intent with when the output channel raised (rasa/server.py)."""
    return json.dumps({"version": "3.6.21", "status": "failure", "reason": "ConversationError",
                       "message": f"An unexpected error occurred. Error: {exc}", "details": {}, "help": None,
                       "code": 500}, ensure_ascii=False)


def test_the_tag_survives_rasas_error_answer():
    refusal = Refusal("wechat", undeliverable.WINDOW_CLOSED, 45015)
    exc = ChannelRefused(refusal, "WeChat API error 45015: response out of time limit or subscription is canceled")
    assert parse(rasa_error_body(exc)) == refusal
    assert exc.refusal is refusal


@pytest.mark.parametrize("text", [None, "", "An unexpected error occurred. Error: injected",
                                  "[undeliverable channel=wechat reason=bored code=1]",  # not a known reason
                                  "[undeliverable channel=wechat reason=window_closed]",
                                  "undeliverable channel=wechat reason=window_closed code=45015"])
def test_anything_else_is_not_a_refusal(text):
    assert parse(text) is None


@pytest.mark.parametrize("code, reason", [(45015, "window_closed"), (45047, "send_limit"), (43004, "unsubscribed"),
                                          (43019, "unsubscribed"), (40003, "unknown_user"), (81013, "unknown_user"),
                                          (60111, "unknown_user")])
def test_wechat_codes_that_sending_again_cannot_change(code, reason):
    assert WeChatApiError(code, "x").refusal("wechat") == Refusal("wechat", reason, code)


@pytest.mark.parametrize("code", [-1, -2, 40001, 42001, 45002, 47001, 45009])
def test_wechat_codes_that_may_pass_are_not_refusals(code):
    # busy, network, tokens (refreshed), a too-long text (a bug of ours), the API's daily quota (45009: tomorrow)
    assert WeChatApiError(code, "x").refusal("wechat") is None
