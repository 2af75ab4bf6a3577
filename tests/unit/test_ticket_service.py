"""handoff/ticket_service.py: the rules of tickets, on a real SQLite store with a fake clock and the
shipped data/handoff/tickets.yml (the shop in +08:00, 09:00-18:00 Monday to Friday). Who may create,
see and work a ticket, the owner by default, what the customer is told (zh and en, due times in the
shop's local time), due times on recategorizing, the housekeeping, the customer's side."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from common.settings import ROOT
from handoff import routing
from handoff.service import HandoffService, NotAllowed
from handoff.store import MESSAGE_INTENT, HandoffStore, StoreError
from handoff.ticket_service import NoSuchTicket, TicketService
from handoff.ticket_store import TicketStore
from tickets.config import load

CST = timezone(timedelta(hours=8))
SKILLS = {q.skill for q in routing.DEFAULT_QUEUES.values()}


def at(day: int, hour: int, minute: int = 0) -> float:
    """2026-03-<day> hour:minute in the shop's time (Monday 2nd, Friday 6th, Monday 9th)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=CST).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class World:
    """A store, the handoff service and the ticket service over it, and what they told the consoles and
    the metrics."""

    def __init__(self, tmp_path, utc_offset_minutes: int = 480) -> None:
        self.clock = Clock(at(2, 10))  # Monday 10:00
        self.store = HandoffStore(tmp_path / "handoff.sqlite3", clock=self.clock)
        self.conversation_events = []
        self.handoff = HandoffService(self.store, emit=self.conversation_events.append, clock=self.clock)
        self.emitted, self.observed = [], []
        self.config = load(ROOT / "data" / "handoff" / "tickets.yml", utc_offset_minutes, SKILLS)
        self.service = TicketService(self.handoff, TicketStore(self.store), self.config, emit=self.emitted.append,
                                     observe=lambda kind, t: self.observed.append((kind, t.number)))
        for agent_id, skills, role in (("gen", ["general"], "agent"), ("gen2", ["general"], "agent"),
                                       ("ord", ["orders"], "agent"), ("cmp", ["complaints"], "agent"),
                                       ("sup", ["general"], "supervisor"), ("ed", [], "editor")):
            self.store.add_agent(agent_id, agent_id.title(), "not-a-hash", skills, role=role)

    def conversation(self, sender: str, queue: str = "general", language: str = "zh", issue: str = "屏幕坏了",
                     holder=None, state: str = "queued", customer_id=None):
        summary = {"issue": issue} if issue is not None else {}
        made = self.store.open(sender_id=sender, channel="web", language=language, reason="customer_request",
                               queue=queue, summary=summary, state=state, customer_id=customer_id)
        return self.store.accept(made.id, holder) if holder else made

    def ticket(self, sender: str = "web-1", category: str = "technical", holder: str = "gen", language: str = "zh",
               by=None, **kw):
        conversation = self.conversation(sender, holder=holder, language=language, **kw)
        return self.service.create(by or holder, conversation.id, category)

    def notices(self, ticket) -> list:
        """What the customer was (to be) sent about the ticket: (text, ask)."""
        return [(i.entities["agent_text"], i.entities.get("ticket_ask")) for i in self.store.pending_outbox(1000)
                if i.intent == MESSAGE_INTENT and i.entities.get("ticket_number") == ticket.number]

    def last_notice(self, ticket) -> tuple:
        return self.notices(ticket)[-1]


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


# --- creating ------------------------------------------------------------------------------------------
def test_the_holder_creates_and_owns_a_ticket_of_their_department(world):
    conversation = world.conversation("web-1", holder="gen")
    ticket = world.service.create("gen", conversation.id, "technical")
    assert (ticket.number, ticket.category, ticket.department, ticket.status) == ("T000001", "technical",
                                                                                  "technical", "open")
    assert (ticket.owner_id, ticket.created_by, ticket.subject) == ("gen", "gen", "屏幕坏了")  # the issue
    assert ticket.created_at == at(2, 10) and ticket.due_at == at(4, 10)  # 2 working days: Wednesday 10:00
    assert world.store.get(conversation.id).state == "returned"  # the chat ended
    assert world.observed == [("created", "T000001")] and world.emitted == [ticket]
    told = [e for e in world.conversation_events if e.kind == "conversation"]
    assert told and told[-1].conversation.state == "returned"
    assert world.notices(ticket) == [("您的问题已登记为工单 T000001（技术问题），"
                                      "我们会在 3月4日（周三）10:00 前给您答复，"
                                      "每一步进展都会在这里通知您。如需查询请提供工单号 T000001。", None)]


def test_a_holder_without_the_departments_skill_leaves_it_to_the_department(world):
    ticket = world.ticket("web-1", "logistics", holder="gen")  # logistics: agents with the orders skill
    assert ticket.owner_id is None and ticket.department == "logistics"
    assert ticket.due_at == at(3, 10)  # 1 working day
    with pytest.raises(NoSuchTicket):
        world.service.get("gen", ticket.id)  # not theirs to see any more
    assert world.service.get("ord", ticket.id) == ticket


def test_a_supervisor_may_create_for_any_conversation_and_never_owns_by_default(world):
    conversation = world.conversation("web-1", holder="gen")
    ticket = world.service.create("sup", conversation.id, "technical")
    assert (ticket.owner_id, ticket.created_by) == (None, "sup")


def test_another_agent_may_not_and_nothing_changes(world):
    conversation = world.conversation("web-1", holder="gen")
    for other in ("gen2", "ord"):
        with pytest.raises(NotAllowed, match="only the agent who has this conversation"):
            world.service.create(other, conversation.id, "technical")
    with pytest.raises(NotAllowed, match="only agents and supervisors"):
        world.service.create("ed", conversation.id, "technical")
    with pytest.raises(NotAllowed, match="no agent ghost"):
        world.service.create("ghost", conversation.id, "technical")
    assert world.store.get(conversation.id).state == "active"
    assert world.service.tickets.listing() == [] and world.observed == [] and world.emitted == []


def test_a_left_message_is_made_a_ticket_by_whoever_serves_its_queue(world):
    left = world.conversation("web-1", queue="general", state="ticket")
    with pytest.raises(NotAllowed):
        world.service.create("ord", left.id, "technical")  # not their queue
    ticket = world.service.create("gen2", left.id, "billing")
    assert (ticket.owner_id, ticket.department) == ("gen2", "general")
    assert world.store.get(left.id).state == "returned"


def test_a_waiting_conversation_must_be_accepted_first(world):
    waiting = world.conversation("web-1", queue="general")
    with pytest.raises(NotAllowed):
        world.service.create("gen", waiting.id, "technical")  # they may see it, but it is nobody's yet
    with pytest.raises(StoreError, match="accept it first"):
        world.service.create("sup", waiting.id, "technical")
    with pytest.raises(StoreError, match="no conversation 999"):
        world.service.create("sup", 999, "technical")


def test_subject_and_category_are_checked(world):
    no_issue = world.conversation("web-1", holder="gen", issue=None)
    with pytest.raises(ValueError, match="'subject' must say"):
        world.service.create("gen", no_issue.id, "technical")
    with pytest.raises(ValueError, match="'subject' must say"):
        world.service.create("gen", no_issue.id, "technical", subject="   ")
    with pytest.raises(ValueError, match="unknown category 'hardware'"):
        world.service.create("gen", no_issue.id, "hardware", subject="x")
    assert world.store.get(no_issue.id).state == "active"
    ticket = world.service.create("gen", no_issue.id, "technical", subject="  " + "长" * 300 + "  ",
                                  note="internal detail")
    assert ticket.subject == "长" * 200
    assert [(e.kind, e.text) for e in world.service.tickets.events(ticket.id)][-1] == ("note", "internal detail")


def test_the_agents_next_chat_is_offered_once_the_ticket_frees_the_slot(world):
    world.store.add_agent("solo", "Solo", "not-a-hash", ["general"], capacity=1)
    world.store.set_status("solo", "online")
    held = world.conversation("web-1", holder="solo")
    waiting = world.conversation("web-2")
    world.handoff.dispatch()
    assert world.store.get(waiting.id).state == "queued"  # solo is full
    world.service.create("solo", held.id, "technical")
    assert (world.store.get(waiting.id).state, world.store.get(waiting.id).agent_id) == ("offered", "solo")


# --- who sees what --------------------------------------------------------------------------------------
def test_visibility_follows_the_departments_skills_and_ownership(world):
    technical = world.ticket("web-1", "technical", holder="gen")  # owner gen
    logistics = world.ticket("web-2", "logistics", holder="gen")  # no owner
    complaint = world.ticket("web-3", "complaint", holder="cmp")  # owner cmp

    def seen(agent_id, **kw):
        return {t.number for t in world.service.visible(agent_id, **kw)}

    assert seen("gen") == {technical.number} == seen("gen2")
    assert seen("ord") == {logistics.number}
    assert seen("cmp") == {complaint.number}
    assert seen("sup") == {technical.number, logistics.number, complaint.number}
    for agent_id, hidden in (("gen", logistics), ("ord", technical), ("cmp", logistics)):
        with pytest.raises(NoSuchTicket):
            world.service.get(agent_id, hidden.id)
    with pytest.raises(NoSuchTicket):
        world.service.get("sup", 999)
    with pytest.raises(NotAllowed):
        world.service.get("ed", technical.id)
    # an owner sees their ticket outside their departments
    world.service.assign("sup", logistics.id, "gen")
    assert seen("gen") == {technical.number, logistics.number}
    # filters
    assert seen("sup", department="logistics") == {logistics.number}
    assert seen("gen", mine=True) == {technical.number, logistics.number} and seen("gen2", mine=True) == set()
    world.service.set_status("gen", technical.id, "in_progress")
    assert seen("sup", statuses=("in_progress",)) == {technical.number}
    assert seen("sup", statuses=("open", "closed")) == {logistics.number, complaint.number}
    assert seen("sup", overdue=True) == set()
    world.clock.now = at(2, 15)  # the complaint (4 working hours from Monday 10:00) is late at 14:00
    assert seen("sup", overdue=True) == {complaint.number} == seen("cmp", overdue=True)
    assert seen("gen", overdue=True) == set()
    with pytest.raises(ValueError, match="unknown status"):
        world.service.visible("sup", ("done",))
    with pytest.raises(ValueError, match="unknown department 'it'"):
        world.service.visible("sup", department="it")


# --- working -------------------------------------------------------------------------------------------
def test_agents_may_take_but_not_give(world):
    ticket = world.ticket("web-1", "technical", holder="sup", by="sup")  # unowned
    assert world.service.assign("gen2", ticket.id, "gen2").owner_id == "gen2"  # takes it
    with pytest.raises(NotAllowed, match="only supervisors give"):
        world.service.assign("gen2", ticket.id, "gen")
    with pytest.raises(NoSuchTicket):
        world.service.assign("ord", ticket.id, "ord")  # cannot take what they do not see
    assert world.service.assign("sup", ticket.id, "ord").owner_id == "ord"  # a supervisor gives
    assert world.service.get("ord", ticket.id).owner_id == "ord"
    for nobody in ("ed", "ghost"):
        with pytest.raises(ValueError, match="who handles customers"):
            world.service.assign("sup", ticket.id, nobody)
    assert world.service.tickets.get(ticket.id).owner_id == "ord"


def test_only_supervisors_close_what_is_not_resolved_and_say_why(world):
    ticket = world.ticket("web-1", "technical", holder="gen")  # owner gen
    with pytest.raises(NotAllowed, match="only a supervisor closes"):
        world.service.set_status("gen", ticket.id, "closed", "duplicate")
    with pytest.raises(ValueError, match="why it is closed unresolved"):
        world.service.set_status("sup", ticket.id, "closed")
    duplicate = world.ticket("web-3", "technical", holder="gen")
    shut = world.service.set_status("sup", duplicate.id, "closed", "和工单 T000001 重复")
    assert (shut.status, shut.resolved_at) == ("closed", None)
    assert world.last_notice(duplicate) == (f"工单 {duplicate.number} 已关闭：和工单 T000001 重复", None)
    with pytest.raises(StoreError, match="a closed ticket cannot become"):
        world.service.set_status("sup", duplicate.id, "in_progress")
    world.service.set_status("gen", ticket.id, "resolved", "replaced the screen")
    with pytest.raises(NotAllowed):
        world.service.set_status("gen2", ticket.id, "closed")  # sees it, but neither owner nor supervisor
    closed = world.service.set_status("gen", ticket.id, "closed")  # the owner, once resolved
    assert closed.status == "closed"
    assert world.last_notice(ticket) == ("工单 T000001 已关闭，感谢您的耐心。", None)
    other = world.ticket("web-2", "technical", holder="gen")
    world.service.set_status("gen", other.id, "resolved", "done")
    assert world.service.set_status("sup", other.id, "closed").status == "closed"


def test_texts_the_customer_must_read_are_required(world):
    ticket = world.ticket()
    for status in ("waiting_customer", "resolved"):
        for text in ("", "   "):
            with pytest.raises(ValueError, match="'text' must say"):
                world.service.set_status("gen", ticket.id, status, text)
    assert world.service.tickets.get(ticket.id).status == "open"
    with pytest.raises(StoreError, match="already"):
        world.service.set_status("gen", ticket.id, "open")


@pytest.mark.parametrize("language, expected", [
    ("zh", ["您的问题已登记为工单 T000001（技术问题），我们会在 3月4日（周三）10:00 前给您答复，"
            "每一步进展都会在这里通知您。如需查询请提供工单号 T000001。",
            "工单 T000001：同事已开始处理。",
            "工单 T000001：需要您补充信息才能继续处理。\n订单号是多少？\n请直接在这里回复。",
            "工单 T000001 进展：已联系快递",
            "工单 T000001 已解决：已补发",
            "工单 T000001 已重新打开，我们正在继续处理。",
            "工单 T000001 进展：换了新的",
            "工单 T000001 已解决：已换货",
            "工单 T000001 已关闭，感谢您的耐心。"]),
    ("en", ["Your request is now ticket T000001 (Technical problem). We will get back to you by Wed 4 Mar, 10:00; "
            "you will hear from us here on every step. Quote T000001 any time.",
            "Ticket T000001: a colleague is now working on it.",
            "Ticket T000001: we need something from you to go on.\n订单号是多少？\nPlease just reply here.",
            "Ticket T000001 update: 已联系快递",
            "Ticket T000001 is resolved: 已补发",
            "Ticket T000001 is open again; we are working on it.",
            "Ticket T000001 update: 换了新的",
            "Ticket T000001 is resolved: 已换货",
            "Ticket T000001 is closed. Thank you for your patience."]),
])
def test_what_the_customer_is_told_at_each_step_in_their_language(world, language, expected):
    ticket = world.ticket(language=language)
    world.service.set_status("gen", ticket.id, "in_progress")
    world.service.set_status("gen", ticket.id, "waiting_customer", "订单号是多少？")
    world.service.customer_message(ticket.number, "web-1", None, "12345")
    world.service.reply("gen", ticket.id, "已联系快递")
    world.service.note("gen", ticket.id, "internal: never sent")
    world.service.set_status("gen", ticket.id, "resolved", "已补发")
    world.service.set_status("gen", ticket.id, "in_progress")  # reopened
    world.service.set_status("gen", ticket.id, "waiting_customer", "x")
    world.service.set_status("gen", ticket.id, "in_progress", "换了新的")  # with a text: an update
    world.service.set_status("gen", ticket.id, "resolved", "已换货")
    world.service.set_status("sup", ticket.id, "closed")
    texts = [text for text, _ in world.notices(ticket)]
    texts.remove(texts[6])  # the second question ("x"), asked only to come back with a text
    assert texts == expected
    asks = [ask for _, ask in world.notices(ticket)]
    assert asks == [None, None, "reply", None, "csat", None, "reply", None, "csat", None]


@pytest.mark.parametrize("language, when", [("zh", "3月9日（周一）13:00"), ("en", "Mon 9 Mar, 13:00")])
def test_the_due_time_is_told_in_the_shops_local_time(world, language, when):
    # Friday 23:30 in the shop (15:30 UTC): a complaint (4 working hours) is due on Monday at 13:00 local,
    # 05:00 UTC
    world.clock.now = at(6, 23, 30)
    ticket = world.ticket(category="complaint", holder="cmp", language=language)
    assert ticket.due_at == at(9, 13)
    assert when in world.notices(ticket)[0][0]


def test_the_due_time_in_another_shop_time_zone(tmp_path):
    new_york = World(tmp_path, utc_offset_minutes=-300)
    new_york.clock.now = datetime(2026, 3, 2, 16, 0, tzinfo=timezone(timedelta(hours=-5))).timestamp()
    ticket = new_york.ticket(category="complaint", holder="cmp", language="en")  # Monday 16:00 there
    assert "by Tue 3 Mar, 11:00;" in new_york.notices(ticket)[0][0]


def test_two_digit_days_and_early_hours_read_alike(world):
    world.clock.now = at(10, 9, 30)  # Tuesday 10 March 09:30 + 2 working days: Thursday 12 March 09:30
    ticket = world.ticket(category="technical", language="en")
    assert "by Thu 12 Mar, 09:30;" in world.notices(ticket)[0][0]
    other = world.ticket("web-2", category="technical", language="zh")
    assert "我们会在 3月12日（周四）09:30 前给您答复" in world.notices(other)[0][0]


def test_reply_and_note_only_for_who_sees_it(world):
    ticket = world.ticket()
    with pytest.raises(NoSuchTicket):
        world.service.reply("ord", ticket.id, "hi")
    with pytest.raises(NoSuchTicket):
        world.service.note("ord", ticket.id, "hi")
    before = world.notices(ticket)
    note = world.service.note("gen2", ticket.id, "checked the logs")  # the department may note
    assert (note.kind, note.public) == ("note", False) and world.notices(ticket) == before
    reply = world.service.reply("sup", ticket.id, "on the way")
    assert reply.public and world.last_notice(ticket) == ("工单 T000001 进展：on the way", None)


def test_recategorize_recomputes_the_due_time_from_creation(world):
    ticket = world.ticket("web-1", "technical", holder="gen")  # Monday 10:00, due Wednesday 10:00
    world.clock.now = at(3, 11)  # a day later
    with pytest.raises(NotAllowed, match="owner or a supervisor"):
        world.service.recategorize("gen2", ticket.id, "complaint")
    with pytest.raises(ValueError, match="unknown category"):
        world.service.recategorize("gen", ticket.id, "hardware")
    moved = world.service.recategorize("gen", ticket.id, "complaint")
    assert (moved.category, moved.department) == ("complaint", "complaints")
    assert moved.due_at == at(2, 14)  # 4 working hours from Monday 10:00, not from now
    assert moved.overdue(world.clock.now) and world.service.view(moved)["overdue"] is True
    assert world.service.get("gen", ticket.id) == moved  # the owner still sees it in another department
    assert world.service.get("cmp", ticket.id) == moved
    assert world.service.recategorize("sup", ticket.id, "after_sales").due_at == at(5, 10)  # 3 working days


# --- time ----------------------------------------------------------------------------------------------
def test_housekeeping_reports_each_overdue_ticket_once(world):
    complaint = world.ticket("web-1", "complaint", holder="cmp")  # due Monday 14:00
    technical = world.ticket("web-2", "technical", holder="gen")  # due Wednesday 10:00
    world.emitted.clear()
    world.clock.now = at(2, 14)
    assert world.service.housekeeping() == []  # due now: not late yet
    world.clock.now = at(2, 14, 1)
    flagged = world.service.housekeeping()
    assert [t.number for t in flagged] == [complaint.number] and flagged[0].overdue_at == at(2, 14, 1)
    assert ("overdue", complaint.number) in world.observed
    assert [t.number for t in world.emitted] == [complaint.number]
    world.clock.now = at(3, 9)
    assert world.service.housekeeping() == []
    assert world.observed.count(("overdue", complaint.number)) == 1 and len(world.emitted) == 1
    world.clock.now = at(4, 10, 1)
    assert [t.number for t in world.service.housekeeping()] == [technical.number]
    assert world.service.view(world.service.get("sup", technical.id))["overdue"] is True


def test_the_due_clock_stops_while_the_ticket_waits_on_the_customer(world):
    """Monday 10:00, 2 working days: due Wednesday 10:00 (13 working hours left at Monday 15:00)."""
    ticket = world.ticket("web-1", "technical", holder="gen")
    world.clock.now = at(2, 15)
    waiting = world.service.set_status("gen", ticket.id, "waiting_customer", "请提供发票照片")
    assert waiting.paused_at == at(2, 15)
    world.clock.now = at(6, 10)  # Friday: past Wednesday, but the customer had not answered
    assert world.service.housekeeping() == []
    view = world.service.view(world.service.get("gen", ticket.id))
    assert (view["overdue"], view["paused_at"], view["seconds_left"]) == (False, at(2, 15), at(4, 10) - at(2, 15))
    # The answer on Friday 10:00: 13 working hours are left again, so due Monday 14:00 (8 today, 5 on Monday)
    back = world.service.customer_message(ticket.number, "web-1", None, "照片在这里")
    assert (back.status, back.paused_at, back.due_at) == ("in_progress", None, at(9, 14))
    # A wait over the weekend costs one working hour (Friday 17:00-18:00) when the agent takes it up again
    world.clock.now = at(6, 17)
    world.service.set_status("gen", ticket.id, "waiting_customer", "还需要订单号")
    world.clock.now = at(9, 9)
    assert world.service.set_status("gen", ticket.id, "in_progress").due_at == at(9, 15)
    # A new category counts from the creation, both finished waits (31 + 1 working hours) not counted:
    # after-sales, 3 working days from Monday 2nd 10:00 = Thursday 10:00, + 32 h = Tuesday 10th 15:00
    world.clock.now = at(9, 9, 30)
    assert world.service.recategorize("gen", ticket.id, "after_sales").due_at == at(10, 15)
    world.clock.now = at(10, 15, 1)
    assert [t.number for t in world.service.housekeeping()] == [ticket.number]


def test_a_ticket_already_late_when_the_wait_began_stays_overdue(world):
    complaint = world.ticket("web-1", "complaint", holder="cmp")  # due Monday 14:00
    world.clock.now = at(2, 15)
    world.service.set_status("cmp", complaint.id, "waiting_customer", "请提供截图")
    world.clock.now = at(3, 10)
    assert [t.number for t in world.service.housekeeping()] == [complaint.number]
    assert world.service.view(world.service.get("cmp", complaint.id))["seconds_left"] == -3600.0


def test_housekeeping_closes_resolved_tickets_nobody_rated_after_the_wait(world):
    rated = world.ticket("web-1", language="en")
    unrated = world.ticket("web-2", language="en")
    late = world.ticket("web-3", language="zh")
    for ticket in (rated, unrated):
        world.service.set_status("gen", ticket.id, "resolved", "done")
    world.service.customer_csat(rated.number, "web-1", None, 5)
    world.clock.now += 6 * 86400
    world.service.set_status("gen", late.id, "resolved", "done")
    world.clock.now += 86400 + 1  # 7 days after the first two were resolved
    world.emitted.clear()
    world.service.housekeeping()
    assert world.service.tickets.get(unrated.id).status == "closed"
    assert world.last_notice(unrated) == ("Ticket T000002 is closed. Thank you for your patience.", None)
    assert world.service.tickets.get(late.id).status == "resolved"  # 1 day only
    assert [t.number for t in world.emitted] == [unrated.number]
    assert world.service.tickets.get(rated.id).csat_score == 5


# --- the customer's side --------------------------------------------------------------------------------
def test_a_customer_reaches_only_their_own_tickets(world):
    mine = world.ticket("web-1", customer_id="C1")
    world.service.set_status("gen", mine.id, "waiting_customer", "which order?")
    theirs = world.ticket("web-2", customer_id="C2")
    anonymous = world.ticket("web-3")
    for number, sender, customer_id in ((mine.number, "web-2", None), (mine.number, "web-2", "C2"),
                                        (theirs.number, "web-1", "C1"), (anonymous.number, "web-1", None),
                                        (anonymous.number, "web-9", "C1"), ("T000099", "web-1", "C1"),
                                        ("abc", "web-1", None), ("T0", "web-1", None), ("", "web-1", None),
                                        ("T²", "web-1", None)):
        with pytest.raises(NoSuchTicket):
            world.service.customer_message(number, sender, customer_id, "hello")
        with pytest.raises(NoSuchTicket):
            world.service.customer_csat(number, sender, customer_id, 5)
    assert world.service.tickets.get(mine.id).status == "waiting_customer"
    # by conversation id, or as the same verified customer from another channel; "t1" is T000001
    assert world.service.customer_message("t1", "wechat-77", "C1", "order 42").status == "in_progress"
    assert world.service.customer_message(mine.number, "web-1", None, "and 43").status == "in_progress"
    assert [e.text for e in world.service.tickets.events(mine.id) if e.kind == "customer_message"] == [
        "order 42", "and 43"]
    assert [t.number for t in world.service.of_customer("wechat-77", "C1")] == [mine.number]
    assert [t.number for t in world.service.of_customer("web-1", None)] == [mine.number]
    assert world.emitted[-1].number == mine.number


def test_customer_csat(world):
    ticket = world.ticket("web-1")
    with pytest.raises(StoreError, match="not resolved yet"):
        world.service.customer_csat(ticket.number, "web-1", None, 5)
    world.service.set_status("gen", ticket.id, "resolved", "fixed")
    with pytest.raises(ValueError):
        world.service.customer_csat(ticket.number, "web-1", None, 9)
    rated = world.service.customer_csat(ticket.number, "web-1", None, 2, "slow")
    assert (rated.status, rated.csat_score, rated.csat_comment) == ("closed", 2, "slow")
    assert world.service.view(rated)["csat"] == {"score": 2, "comment": "slow"}


# --- views ---------------------------------------------------------------------------------------------
def test_view(world):
    ticket = world.ticket("web-1", "complaint", holder="cmp", language="en", customer_id="C5")
    world.clock.now = at(2, 13)
    view = world.service.view(ticket)
    assert view == {
        "id": 1, "number": "T000001", "conversation_id": ticket.conversation_id, "sender_id": "web-1",
        "customer_id": "C5", "channel": "web", "language": "en", "tier": "normal", "category": "complaint",
        "category_label": {"zh": "投诉", "en": "Complaint"}, "department": "complaints",
        "department_label": {"zh": "投诉处理", "en": "Complaints"}, "subject": "屏幕坏了", "status": "open",
        "owner_id": "cmp", "created_by": "cmp", "created_at": at(2, 10), "due_at": at(2, 14),
        "updated_at": at(2, 10), "resolved_at": None, "closed_at": None, "overdue": False, "overdue_at": None,
        "seconds_left": 3600.0, "paused_at": None, "csat": None}
    event = world.service.tickets.events(ticket.id)[0]
    assert world.service.event_view(event) == {
        "id": event.id, "kind": "created", "at": at(2, 10), "agent_id": "cmp", "from_status": None,
        "to_status": "open", "text": event.text, "public": True, "delivered_at": None,
        "failed_at": None, "failure": None}


# --- the customer asking about their tickets -------------------------------------------------------------
def test_a_customer_asking_reads_their_own_tickets_in_their_language(world):
    screen = world.ticket("web-1", "technical", holder="gen")  # due Wednesday 10:00 (shop time)
    world.ticket("web-1", "logistics", holder="ord", language="en")  # same customer, another conversation
    theirs = world.service.customer_lookup("web-1", None, "zh")
    assert theirs.splitlines() == [
        "工单 T000002（物流问题）：已登记，等待处理，预计 3月3日（周二）10:00 前答复。",
        "工单 T000001（技术问题）：已登记，等待处理，预计 3月4日（周三）10:00 前答复。"]
    world.service.set_status("gen", screen.id, "waiting_customer", "型号？")
    # waiting on them: what it asked, no due time (its clock stands still), and their next message answers it
    assert world.service.customer_lookup_answer("web-1", None, "en", "T000001") == (
        "Ticket T000001 (Technical problem): waiting for information from you: 型号？\n"
        "Just reply here with it and I will add it to ticket T000001.", "T000001")
    assert world.service.customer_lookup_answer("web-1", None, "zh") == (
        "工单 T000002（物流问题）：已登记，等待处理，预计 3月3日（周二）10:00 前答复。\n"
        "工单 T000001（技术问题）：等待您补充信息：型号？\n请直接在这里回复，我会把它补充到工单 T000001。", "T000001")
    world.service.set_status("ord", 2, "waiting_customer", "Which address?")  # two waiting: no guess which
    text, awaiting = world.service.customer_lookup_answer("web-1", None, "en")
    assert awaiting is None and text.splitlines() == [
        "Ticket T000002 (Delivery problem): waiting for information from you: Which address?",
        "Ticket T000001 (Technical problem): waiting for information from you: 型号？"]
    world.service.set_status("ord", 2, "in_progress")
    world.service.set_status("gen", screen.id, "resolved", "换了屏幕")
    assert world.service.customer_lookup("web-1", None, "zh", "t000001") == "工单 T000001（技术问题）：已解决。"
    # someone else's number reads as one never issued; a customer without tickets hears so
    assert world.service.customer_lookup("web-9", None, "zh", "T000001") == (
        "没有找到您的工单 T000001，请核对工单号，或转人工客服。")
    assert world.service.customer_lookup("web-9", None, "en") == "You have no open tickets."
    world.service.set_status("sup", 2, "closed", "duplicate")
    assert world.service.customer_lookup("web-1", None, "zh").splitlines() == [
        "工单 T000001（技术问题）：已解决。"]  # closed ones are not listed, only when quoted


def test_a_verified_customer_finds_tickets_from_any_channel(world):
    world.ticket("wechat-abc", "technical", holder="gen", customer_id="C001")
    found = world.service.customer_lookup("customer:C001", "C001", "zh", "T000001")
    assert found.startswith("工单 T000001（技术问题）")
    assert world.service.customer_lookup("customer:C002", "C002", "zh", "T000001").startswith("没有找到")
