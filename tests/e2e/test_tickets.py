"""Tickets end to end, through the real stack: the Rasa server with the model trained from data/, the
action server, the handoff service over HTTP, and customers on WeChat (the fake WeChat API records what
the customer-service API sends) and on the app channel (a fake app back end receives the callbacks).
Agents work over the console's API (tests/e2e/test_handoff.py's Agent).

The module's stack reads a copy of data/handoff/tickets.yml in which the `billing` category is due
after 0.001 hours (3.6 s), so that a ticket goes overdue while the test watches.
"""
from __future__ import annotations

import re
import time
import uuid
from typing import Iterator, List, Optional, Tuple

import pytest
import requests
import yaml

from actions.texts import text
from common.secrets import rasa_api_token
from common.settings import Settings
from handoff.hours import parse_offset
from tests.e2e.chat import parse
from tests.e2e.test_channels import ChannelStack, channel_stack, openid
from tests.e2e.test_handoff import Agent, _poll
from tickets import texts as ticket_texts

pytestmark = pytest.mark.e2e

FAST = "billing"  # due after 0.001 h in this module's tickets file (department general)
TICKET_NUMBER = re.compile(r"\bT\d{6}\b")
HAN = re.compile(r"[\u4e00-\u9fff]")
# What makes a customer asked by a ticket "move on" instead of answering (bot/policies/handoff_policy.py,
# which imports Rasa: not importable from this environment).
NEW_REQUEST_INTENTS = ("ask_order_status", "ask_logistics", "request_return", "cancel_order", "request_human")
NEW_REQUEST_CONFIDENCE = 0.8


@pytest.fixture(scope="module")
def tickets_stack(model, tmp_path_factory) -> Iterator[ChannelStack]:
    var_dir = tmp_path_factory.mktemp("var-tickets")
    config = yaml.safe_load(Settings().tickets_path.read_text(encoding="utf-8"))
    config["categories"][FAST]["due"] = {"hours": 0.001}
    tickets_file = var_dir / "tickets.yml"
    tickets_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with channel_stack(model, var_dir, tickets_file=str(tickets_file)) as started:
        yield started


# --- helpers ---------------------------------------------------------------------------------------------

class TicketAgent(Agent):
    """An agent on the console's API, tickets included (the Tickets page's calls)."""

    def conversation_in(self, sender_id: str, state: str, timeout: float = 15.0) -> dict:
        return _poll(lambda: next((c for c in self.http.get(f"{self.url}/api/conversations", params={"state": state},
                                                            timeout=10).json()["conversations"]
                                   if c["sender_id"] == sender_id), None),
                     timeout, f"no {state} conversation of {sender_id} for {self.id}")

    def _post(self, path: str, body: dict, status: int = 200) -> dict:
        r = self.http.post(f"{self.url}/api/tickets{path}", json=body, timeout=10)
        assert r.status_code == status, r.text
        return r.json()

    def make_ticket(self, conversation_id: int, category: str) -> dict:
        return self._post("", {"conversation_id": conversation_id, "category": category}, 201)["ticket"]

    def ticket(self, number: str) -> dict:
        r = self.http.get(f"{self.url}/api/tickets/{number}", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def tickets(self, **query) -> List[dict]:
        r = self.http.get(f"{self.url}/api/tickets", params=query, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["tickets"]

    def set_status(self, number: str, status: str, body: str = "") -> dict:
        return self._post(f"/{number}/status", {"status": status, **({"text": body} if body else {})})["ticket"]

    def public_reply(self, number: str, body: str) -> dict:
        return self._post(f"/{number}/replies", {"text": body}, 201)["event"]

    def note(self, number: str, body: str) -> dict:
        return self._post(f"/{number}/notes", {"text": body}, 201)["event"]

    def recategorize(self, number: str, category: str) -> dict:
        return self._post(f"/{number}/category", {"category": category})["ticket"]

    def events(self, number: str, kind: Optional[str] = None) -> List[dict]:
        return [e for e in self.ticket(number)["events"] if kind is None or e["kind"] == kind]

    def wait_all_delivered(self, number: str, timeout: float = 20.0) -> List[dict]:
        def done():
            public = [e for e in self.events(number) if e["public"]]
            return public if all(e["delivered_at"] for e in public) else None
        return _poll(done, timeout, f"public events of {number} not all delivered: {self.events(number)}")


class WeChatCustomer:
    """A customer on the Official Account (safe mode): what they send, the passive replies they get, and
    what reaches them through the customer-service API, in the order they saw it."""

    def __init__(self, stack: ChannelStack) -> None:
        self.stack, self.oa, self.user = stack, stack.oa("aes"), openid()
        self.passive: List[Tuple[float, str]] = []

    @property
    def conversation_id(self) -> str:
        return f"wechat:{self.user}"

    def say(self, message: str) -> str:
        reply = self.oa.send_text(self.user, message)
        assert reply.status == 200
        content = "" if reply.empty else reply.content
        if content:
            self.passive.append((time.time(), content))
        return content

    def pushed(self) -> List[str]:
        return [s.content for s in self.stack.wechat.sent_to(self.user)]

    def wait_pushed(self, count: int) -> List[str]:
        """Every message pushed so far, once there are at least `count`."""
        return [s.content for s in self.stack.wechat.wait_for_sent(self.user, count, timeout=20)]

    def received(self) -> List[str]:
        both = self.passive + [(s.at, s.content) for s in self.stack.wechat.sent_to(self.user)]
        return [content for _, content in sorted(both)]


def due_text(stack: ChannelStack, ticket: dict, language: str) -> str:
    return ticket_texts.when(ticket["due_at"], language, parse_offset(stack.settings.handoff_utc_offset))


def metric(stack: ChannelStack, name: str, **labels) -> float:
    """One sample of the handoff service's Prometheus metrics (0 when absent)."""
    body = requests.get(f"{stack.handoff_url}/metrics", timeout=10).text
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in body.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def bot_texts(stack: ChannelStack, conversation_id: str) -> List[str]:
    return [e.get("text") or "" for e in stack.tracker(conversation_id)["events"] if e["event"] == "bot"]


def slot(stack: ChannelStack, conversation_id: str, name: str):
    return stack.tracker(conversation_id)["slots"].get(name)


# --- 1. the whole life cycle on WeChat ---------------------------------------------------------------------

def test_ticket_life_cycle_on_wechat(tickets_stack):
    stack = tickets_stack
    customer = WeChatCustomer(stack)
    agent = TicketAgent(stack)
    try:
        assert "您好" in customer.say("你好")
        told = customer.say("转人工")
        assert "转接人工客服" in told, told
        conv = agent.conversation_of(customer.conversation_id)
        assert conv["channel"] == "wechat" and conv["language"] == "zh"
        agent.accept(conv["id"])
        assert "已接入" in customer.wait_pushed(1)[0]
        reply = agent.reply(conv["id"], "我帮您登记一下，技术同事会跟进")
        agent.wait_delivered(conv["id"], reply["id"])

        # the chat becomes a ticket: the customer is told its number and due time on WeChat
        ticket = agent.make_ticket(conv["id"], "technical")
        number = ticket["number"]
        assert TICKET_NUMBER.fullmatch(number), number
        assert (ticket["status"], ticket["category"], ticket["department"], ticket["language"], ticket["channel"]) \
            == ("open", "technical", "technical", "zh", "wechat")
        assert ticket["owner_id"] == agent.id and ticket["overdue"] is False
        created = customer.wait_pushed(3)[2]
        assert f"工单 {number}" in created and "技术问题" in created, created
        assert due_text(stack, ticket, "zh") in created, (due_text(stack, ticket, "zh"), created)
        detail = agent.ticket(number)
        assert detail["conversation"]["state"] == "returned"
        assert slot(stack, customer.conversation_id, "handoff") is None  # the bot has the customer again

        # an internal note never reaches the customer (delivery is in order: the next notice comes first)
        agent.note(number, "疑似 3.2.1 版本登录接口超时，已转研发")
        started = agent.set_status(number, "in_progress")
        assert started["status"] == "in_progress"
        assert customer.wait_pushed(4)[3] == ticket_texts.in_progress("zh", number)

        # a question for the customer; their answer on WeChat goes into the ticket
        asked = agent.set_status(number, "waiting_customer", "请提供手机型号")
        assert asked["paused_at"] == asked["updated_at"]  # the due time's clock stops while they are asked
        question = customer.wait_pushed(5)[4]
        assert question == ticket_texts.waiting("zh", number, "请提供手机型号")
        _poll(lambda: slot(stack, customer.conversation_id, "ticket_reply") or None, 15,
              "the question's notice did not leave the ticket_reply slot set")
        confirmation = customer.say("iPhone 12")
        detail = agent.ticket(number)
        # the customer is told when they will hear back: the due time, moved on by the wait on their answer
        assert confirmation == text("ticket_reply_received_due", "zh", number=number,
                                    due=due_text(stack, detail["ticket"], "zh")), confirmation
        assert detail["ticket"]["status"] == "in_progress"
        assert detail["ticket"]["paused_at"] is None and detail["ticket"]["due_at"] >= asked["due_at"]
        answers = [e for e in detail["events"] if e["kind"] == "customer_message"]
        assert [e["text"] for e in answers] == ["iPhone 12"]
        assert slot(stack, customer.conversation_id, "ticket_reply") is None

        # a public update, then the resolution and the rating
        agent.public_reply(number, "研发已定位问题，新版本今晚发布")
        assert customer.wait_pushed(6)[5] == ticket_texts.update("zh", number, "研发已定位问题，新版本今晚发布")
        resolved = agent.set_status(number, "resolved", "请升级到 3.2.2 版本后重新登录")
        assert resolved["status"] == "resolved" and resolved["resolved_at"]
        pushed = customer.wait_pushed(8)
        assert pushed[6] == ticket_texts.resolved("zh", number, "请升级到 3.2.2 版本后重新登录")
        rating = pushed[7]
        assert rating.startswith(text("ticket_csat_ask", "zh", number=number)), rating
        assert [line for line in rating.splitlines()[1:]] == ["1. 5", "2. 4", "3. 3", "4. 2", "5. 1"]

        comment_prompt = customer.say("5")
        assert text("csat_comment", "zh") in comment_prompt, comment_prompt
        rated = agent.ticket(number)["ticket"]
        assert rated["csat"] == {"score": 5, "comment": None}
        assert rated["status"] == "closed" and rated["closed_at"]
        assert customer.say("不用了") == text("csat_thanks", "zh")
        assert agent.ticket(number)["ticket"]["csat"] == {"score": 5, "comment": None}

        # every public event went out, and the history is complete
        public = agent.wait_all_delivered(number)
        assert [(e["kind"], e["to_status"]) for e in public] == [
            ("created", "open"), ("status", "in_progress"), ("status", "waiting_customer"), ("reply", None),
            ("status", "resolved")]
        history = agent.events(number)
        assert [e["kind"] for e in history if e["kind"] in ("note", "customer_message", "csat")] == \
            ["note", "customer_message", "csat"]
        assert [e["to_status"] for e in history if e["kind"] == "status"] == \
            ["in_progress", "waiting_customer", "in_progress", "resolved", "closed"]

        # what the customer saw, in order, all in Chinese; no hand-back text, no internal note
        seen = customer.received()
        expected = ["转接人工客服", "已接入", "我帮您登记一下", f"已登记为工单 {number}", "同事已开始处理",
                    "请提供手机型号", "已补充到工单", "研发已定位问题", "已解决", "请打分", "还有什么想对我们说",
                    "感谢您的反馈"]
        assert len(seen) == len(expected) + 1, seen  # + the greeting
        for wanted, got in zip(expected, seen[1:], strict=True):
            assert wanted in got, (wanted, seen)
        assert all(HAN.search(message) for message in seen), seen
        assert not any(text("handback", "zh") in m or text("handback", "en") in m for m in seen), seen
        assert not any("研发" in m and "接口超时" in m for m in seen + bot_texts(stack, customer.conversation_id))
    finally:
        agent.close()


# --- 2. English on the app channel: notices in English; a new request is not swallowed ----------------------

def test_english_app_customer_gets_english_notices_and_a_new_request_is_not_swallowed(tickets_stack):
    stack, app = tickets_stack, tickets_stack.app
    sender = "app-user-" + uuid.uuid4().hex[:6]
    new_request = next((m for m in ("where is my order", "where is my package", "I want to check my order status")
                        if parse(stack, m)["intent"]["name"] == "ask_order_status"
                        and parse(stack, m)["intent"]["confidence"] >= NEW_REQUEST_CONFIDENCE), None)
    assert new_request, "no English order-status question the model is confident about"
    agent = TicketAgent(stack)
    try:
        r = app.send(stack.rasa_url, sender, "I want to talk to a real person please")
        assert any("connecting you to a person" in (m.get("text") or "") for m in r.json()["messages"]), r.json()
        conv = agent.conversation_of(f"app:{sender}")
        assert conv["language"] == "en"
        agent.accept(conv["id"])
        app.wait_for_callback(sender, "has joined")

        ticket = agent.make_ticket(conv["id"], "logistics")
        number = ticket["number"]
        created = app.wait_for_callback(sender, number).message["text"]
        assert created.startswith(f"Your request is now ticket {number} (Delivery problem)"), created
        assert due_text(stack, ticket, "en") in created
        agent.set_status(number, "waiting_customer", "Which courier brought the parcel?")
        question = app.wait_for_callback(sender, "Which courier").message["text"]
        assert question == ticket_texts.waiting("en", number, "Which courier brought the parcel?")
        assert not HAN.search(created + question)
        _poll(lambda: slot(stack, f"app:{sender}", "ticket_reply") or None, 15, "ticket_reply never set")

        # instead of answering, the customer confidently asks something else: the bot takes that up
        r = app.send(stack.rasa_url, sender, new_request)
        answer = "\n".join(m.get("text") or "" for m in r.json()["messages"])
        assert "order number" in answer.lower(), answer
        assert number not in answer and "added to ticket" not in answer, answer
        detail = agent.ticket(number)
        assert [e for e in detail["events"] if e["kind"] == "customer_message"] == []
        assert detail["ticket"]["status"] == "waiting_customer" and detail["ticket"]["paused_at"] is not None
        assert slot(stack, f"app:{sender}", "ticket_reply") is None
        assert [c.message.get("text") for c in app.callbacks_for(sender)][-2:] == [created, question]

        # they drop the order question and ask how the ticket is doing: they read its question, and their
        # next message answers it
        r = app.send(stack.rasa_url, sender, "never mind")
        assert "stopped" in "\n".join(m.get("text") or "" for m in r.json()["messages"]), r.json()
        r = app.send(stack.rasa_url, sender, "what's my ticket status?")
        status = "\n".join(m.get("text") or "" for m in r.json()["messages"])
        assert status == "\n".join([
            ticket_texts.waiting_line("en", number, "Delivery problem", "Which courier brought the parcel?"),
            ticket_texts.reply_prompt("en", number)]), status
        assert slot(stack, f"app:{sender}", "ticket_reply") == number
        r = app.send(stack.rasa_url, sender, "It was SF Express")
        answer = "\n".join(m.get("text") or "" for m in r.json()["messages"])
        assert answer.startswith(f"Thank you, your reply is added to ticket {number}"), answer
        detail = agent.ticket(number)
        assert [e["text"] for e in detail["events"] if e["kind"] == "customer_message"] == ["It was SF Express"]
        assert detail["ticket"]["status"] == "in_progress"
    finally:
        agent.close()


# --- 3. overdue ------------------------------------------------------------------------------------------

def _app_ticket(stack: ChannelStack, agent: TicketAgent, category: str) -> dict:
    sender = "app-user-" + uuid.uuid4().hex[:6]
    stack.app.send(stack.rasa_url, sender, "转人工")
    conv = agent.conversation_of(f"app:{sender}")
    agent.accept(conv["id"])
    ticket = agent.make_ticket(conv["id"], category)
    stack.app.wait_for_callback(sender, ticket["number"])
    return ticket


def test_overdue_ticket_is_listed_flagged_once_and_counted(tickets_stack):
    stack = tickets_stack
    agent = TicketAgent(stack)
    try:
        flagged_before = metric(stack, "cs_tickets_flagged_overdue_total", department="general")
        late = _app_ticket(stack, agent, FAST)
        on_time = _app_ticket(stack, agent, "other")  # same department, three working days
        assert late["department"] == on_time["department"] == "general"
        assert late["due_at"] - late["created_at"] == pytest.approx(3.6, abs=0.01)

        listed = _poll(lambda: next((t for t in agent.tickets(overdue=1) if t["number"] == late["number"]), None),
                       20, "the late ticket never showed in ?overdue=1")
        assert listed["overdue"] is True and listed["seconds_left"] <= 0  # (rounded to 0.1 s)
        assert all(t["overdue"] for t in agent.tickets(overdue=1))
        assert on_time["number"] not in [t["number"] for t in agent.tickets(overdue=1)]

        # housekeeping (every 15 s) flags it once: one history event, counted once
        flag = _poll(lambda: next(iter(agent.events(late["number"], "overdue")), None), 40,
                     "housekeeping never flagged the late ticket")
        assert agent.ticket(late["number"])["ticket"]["overdue_at"] == flag["at"]
        assert metric(stack, "cs_tickets_flagged_overdue_total", department="general") == flagged_before + 1
        assert metric(stack, "cs_tickets_overdue", department="general") >= 1

        # a later round (shown by it flagging another ticket) does not flag or count the first again
        moved = agent.recategorize(on_time["number"], FAST)
        assert moved["overdue"] is True
        _poll(lambda: agent.events(on_time["number"], "overdue") or None, 40, "the second ticket never flagged")
        assert len(agent.events(late["number"], "overdue")) == 1
        assert metric(stack, "cs_tickets_flagged_overdue_total", department="general") == flagged_before + 2
        assert not any(e["public"] for e in agent.events(late["number"], "overdue"))  # internal only
    finally:
        agent.close()


# --- 4. a message left while nobody was online becomes a ticket later ------------------------------------------

def test_left_message_becomes_a_ticket_when_an_agent_comes_online(tickets_stack):
    stack = tickets_stack
    customer = WeChatCustomer(stack)
    told = customer.say("转人工")
    assert "现在没有客服在线" in told, told
    assert text("ticket_recorded", "zh") in customer.say("发票抬头开错了，麻烦帮我重开一张")
    agent = TicketAgent(stack)  # comes online later
    try:
        left = agent.conversation_in(customer.conversation_id, "ticket")
        assert [m["text"] for m in agent.detail(left["id"])["messages"] if m["direction"] == "customer"] == \
            ["发票抬头开错了，麻烦帮我重开一张"]
        ticket = agent.make_ticket(left["id"], "other")
        number = ticket["number"]
        notice = customer.wait_pushed(1)[0]
        assert notice == ticket_texts.created("zh", number, "其他", due_text(stack, ticket, "zh")), notice
        assert agent.ticket(number)["conversation"]["state"] == "returned"
        agent.wait_all_delivered(number)
        assert customer.pushed() == [notice]  # no hand-back text
    finally:
        agent.close()


# --- 5. the customer answers (and rates) in a later conversation session -----------------------------------------

def _new_session(stack: ChannelStack, conversation_id: str) -> None:
    """What Rasa does when a customer writes after the session expired (60 minutes without a message):
    action_session_start runs (through Rasa's HTTP API here, the same processor path)."""
    r = requests.post(f"{stack.rasa_url}/conversations/{conversation_id}/execute",
                      params={"token": rasa_api_token(stack.settings.var_dir)},
                      json={"name": "action_session_start"}, timeout=30)
    assert r.status_code == 200, r.text
    assert [e["event"] for e in stack.tracker(conversation_id)["events"]].count("session_started") >= 2


def test_answer_and_rating_after_the_session_expired_still_reach_the_ticket(tickets_stack):
    stack = tickets_stack
    agent = TicketAgent(stack)
    try:
        ticket = _app_ticket(stack, agent, "technical")
        number, conversation_id = ticket["number"], ticket["sender_id"]
        sender = conversation_id.removeprefix("app:")
        agent.set_status(number, "waiting_customer", "请提供订单截图")
        stack.app.wait_for_callback(sender, "请提供订单截图")
        _poll(lambda: slot(stack, conversation_id, "ticket_reply") or None, 15, "ticket_reply never set")

        said = "截图我已经发到你们的客服邮箱了"
        parsed = parse(stack, said)["intent"]
        assert parsed["name"] not in NEW_REQUEST_INTENTS or parsed["confidence"] < NEW_REQUEST_CONFIDENCE, parsed

        _new_session(stack, conversation_id)  # the customer answers the next day
        assert slot(stack, conversation_id, "ticket_reply") == number
        r = stack.app.send(stack.rasa_url, sender, said)
        answer = "\n".join(m.get("text") or "" for m in r.json()["messages"])
        due = due_text(stack, agent.ticket(number)["ticket"], "zh")
        assert text("ticket_reply_received_due", "zh", number=number, due=due) in answer, answer
        assert [e["text"] for e in agent.events(number, "customer_message")] == [said]

        agent.set_status(number, "resolved", "已为您补发")
        stack.app.wait_for_callback(sender, text("ticket_csat_ask", "zh", number=number))
        _new_session(stack, conversation_id)  # and rates it another day
        assert (slot(stack, conversation_id, "csat_step"), slot(stack, conversation_id, "csat_ticket")) == \
            ("score", number)
        r = stack.app.send(stack.rasa_url, sender, "4")
        assert any(text("csat_comment", "zh") in (m.get("text") or "") for m in r.json()["messages"]), r.json()
        rated = agent.ticket(number)
        assert rated["ticket"]["csat"] == {"score": 4, "comment": None} and rated["ticket"]["status"] == "closed"
        chat = agent.detail(ticket["conversation_id"])
        assert chat["csat"] is None  # the rating is the ticket's, not the chat's that became it
    finally:
        agent.close()


# --- 6. the customer asks how their ticket is doing ---------------------------------------------------------------

def _bot_says(stack: ChannelStack, sender: str, message: str) -> str:
    r = stack.app.send(stack.rasa_url, sender, message)
    return "\n".join(m.get("text") or "" for m in r.json()["messages"])


def test_customer_asks_about_their_ticket_and_reads_only_their_own(tickets_stack):
    stack = tickets_stack
    agent = TicketAgent(stack)
    try:
        ticket = _app_ticket(stack, agent, "technical")
        number, sender = ticket["number"], ticket["sender_id"].removeprefix("app:")
        due = due_text(stack, ticket, "zh")
        line = ticket_texts.status_line("zh", number, "技术问题", "open", due, False)
        # quoting the number, inside any sentence; the NLU's intent for it does not matter
        assert _bot_says(stack, sender, f"请问工单{number}现在怎么样了") == line
        agent.set_status(number, "waiting_customer", "请提供购买凭证")
        stack.app.wait_for_callback(sender, "请提供购买凭证")
        agent.set_status(number, "in_progress", "已收到凭证")  # (the agent got it another way)
        stack.app.wait_for_callback(sender, "已收到凭证")
        assert _bot_says(stack, sender, "我的工单进度") == ticket_texts.status_line(
            "zh", number, "技术问题", "in_progress", due, False)
        # another customer quoting that number learns nothing about it
        stranger = "app-user-" + uuid.uuid4().hex[:6]
        first = _bot_says(stack, stranger, f"{number} 进度如何")  # after the welcome of a new customer
        assert first.splitlines()[-1] == ticket_texts.lookup("zh", [], number), first
        assert _bot_says(stack, stranger, "我的工单进度") == ticket_texts.lookup("zh", [])
    finally:
        agent.close()
