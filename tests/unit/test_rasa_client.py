"""handoff/rasa_client.py over real HTTP against a local stand-in for Rasa's trigger_intent endpoint: what counts
as taken, and what is reported as RasaUnavailable so that the outbox keeps the item (an error answer, a refused
connection, and a 200 whose turn the Rasa-side guard ended because the action server failed) — or as Undeliverable,
when the customer's channel refused the message for good, so that it is not sent again."""
from __future__ import annotations

from typing import Any, List

import pytest
import pytest_asyncio
from aiohttp import web

from common.rasa_marks import ACTION_SERVER_UNAVAILABLE
from common.undeliverable import ChannelRefused, Refusal
from handoff.rasa_client import RasaClient, RasaUnavailable, Undeliverable, not_acted_on
from tests.conftest import free_port

MARKED = {"event": "followup", "name": "action_listen", "metadata": {ACTION_SERVER_UNAVAILABLE: True}}


def user(intent: str) -> dict:
    return {"event": "user", "text": f"/{intent}", "parse_data": {"intent": {"name": intent}}}


def answer(*events: dict) -> dict:
    return {"tracker": {"sender_id": "c1", "events": list(events)}}


def test_a_turn_ended_by_the_guard_is_not_acted_on():
    assert not_acted_on(answer(user("EXTERNAL_agent_message"),
                               {"event": "action", "name": "action_deliver_agent_message"}, MARKED))


def test_a_turn_that_ran_is_acted_on():
    assert not not_acted_on(answer(user("EXTERNAL_agent_message"),
                                   {"event": "action", "name": "action_deliver_agent_message"},
                                   {"event": "bot", "text": "您好"}, {"event": "action", "name": "action_listen"}))


def test_only_the_last_turn_counts():
    # an earlier event the guard ended (since delivered again) does not hold up the next one
    assert not not_acted_on(answer(user("EXTERNAL_agent_message"), MARKED, user("EXTERNAL_agent_message"),
                                   {"event": "bot", "text": "您好"}))


def test_the_customers_apology_is_not_the_mark_of_an_external_turn():
    # the mark on the apology a customer got in an earlier turn sits before the external event's user event
    apology = {"event": "bot", "text": "抱歉", "metadata": {ACTION_SERVER_UNAVAILABLE: True}}
    assert not not_acted_on(answer(user("ask_faq"), apology, user("EXTERNAL_handoff_ended"),
                                   {"event": "bot", "text": "已结束"}))


@pytest.mark.parametrize("body", [None, [], {}, {"tracker": None}, {"tracker": {"events": None}},
                                  {"tracker": {"events": ["x", 3, None]}}])
def test_answers_without_events_tell_nothing(body: Any):
    assert not not_acted_on(body)


class FakeRasa:
    """trigger_intent as Rasa serves it: checks the token and the body, answers with what the test set."""

    def __init__(self) -> None:
        self.status: int = 200
        self.body: Any = answer()
        self.calls: List[dict] = []

    async def trigger(self, request: web.Request) -> web.StreamResponse:
        assert request.query.get("token") == "t0k" and request.query.get("output_channel") == "latest"
        self.calls.append({"sender": request.match_info["sender"], **await request.json()})
        if isinstance(self.body, str):
            return web.Response(status=self.status, text=self.body)
        return web.json_response(self.body, status=self.status)


@pytest_asyncio.fixture(loop_scope="function")  # the tests' loop: the server must run while they do
async def rasa():
    fake = FakeRasa()
    app = web.Application()
    app.router.add_post("/conversations/{sender}/trigger_intent", fake.trigger)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = RasaClient(f"http://127.0.0.1:{port}", "t0k", timeout=5)
    yield fake, client
    await client.close()
    await runner.cleanup()


async def test_taken_and_acted_on(rasa):
    fake, client = rasa
    fake.body = answer(user("EXTERNAL_agent_message"), {"event": "bot", "text": "您好"})
    await client.trigger("wx/c 1", "EXTERNAL_agent_message", {"agent_text": "您好"})
    assert fake.calls == [{"sender": "wx/c 1", "name": "EXTERNAL_agent_message", "entities": {"agent_text": "您好"}}]


async def test_taken_but_not_acted_on_is_unavailable(rasa):
    fake, client = rasa
    fake.body = answer(user("EXTERNAL_agent_message"), {"event": "action", "name": "action_deliver_agent_message"},
                       MARKED)
    with pytest.raises(RasaUnavailable, match="action server was unavailable"):
        await client.trigger("c1", "EXTERNAL_agent_message", {"agent_text": "您好"})


async def test_an_error_answer_is_unavailable(rasa):
    fake, client = rasa
    fake.status, fake.body = 500, {"status": "failure", "message": "boom"}
    with pytest.raises(RasaUnavailable, match="Rasa answered 500"):
        await client.trigger("c1", "EXTERNAL_handoff_ended", {})


async def test_a_200_that_does_not_parse_counts_as_taken(rasa):
    # Rasa took it; sending it again would risk the customer reading it twice
    fake, client = rasa
    fake.body = "<html>ok</html>"
    await client.trigger("c1", "EXTERNAL_agent_message", {"agent_text": "x"})
    assert len(fake.calls) == 1


async def test_nobody_listening_is_unavailable():
    client = RasaClient(f"http://127.0.0.1:{free_port()}", "t0k", timeout=5)
    try:
        with pytest.raises(RasaUnavailable):
            await client.trigger("c1", "EXTERNAL_agent_message", {"agent_text": "x"})
    finally:
        await client.close()


async def test_a_channel_refusal_is_undeliverable_not_unavailable(rasa):
    fake, client = rasa
    refusal = Refusal("wechat", "window_closed", 45015)
    fake.status = 500
    fake.body = {"version": "3.6.21", "status": "failure", "reason": "ConversationError", "code": 500,
                 "message": f"An unexpected error occurred. Error: {ChannelRefused(refusal, 'WeChat API error 45015')}"}
    with pytest.raises(Undeliverable) as caught:
        await client.trigger("wechat:o1", "EXTERNAL_agent_message", {"agent_text": "您好"})
    assert caught.value.refusal == refusal
    assert not isinstance(caught.value, RasaUnavailable)  # the outbox must not try it again
