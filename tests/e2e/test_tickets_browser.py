"""Tickets in the console, in a real browser, against the real handoff service (`python -m handoff serve`
on a free port, like tests/e2e/test_console.py): "转工单 / Make ticket" in the conversation view
(handoff/console/make_ticket.js) and the Tickets page (handoff/console/tickets.html + tickets.js).

Handoffs and the customer's answers come in through the bot's API with the service token, as the action
server sends them. In the first test the service delivers to tests/fakes/rasa_api.FakeRasa, so the
customer's notices are really delivered (the history shows when) and what the customer was sent can be
checked; in the second nothing listens on Rasa's port, and a tickets file of the test's own makes one
category due after 3.6 seconds, so a ticket goes overdue while the test watches.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, List

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from tests.e2e.test_console import (
    AGENTS,
    HandoffService,
    _api,
    _click,
    _get,
    _js_errors,
    _log_in,
    _open_console,
    _row,
    _texts,
    _wait,
    _wait_for,
)
from tests.fakes.rasa_api import FakeRasa

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

RASA_TOKEN = "test-rasa-token-tickets-0123456789"  # test-only
CUSTOMER = "cust-ticket-1"
ISSUE = "客户要求转人工，路由器升级固件后无法联网"

# A tickets file of the test's own: "urgent" is due 0.001 hours (3.6 s) after it is made.
TICKETS_YML = """
calendar:
  hours: "09:00-18:00"
  days: [mon, tue, wed, thu, fri]
departments:
  technical: {skill: general, zh: 技术支持, en: Technical support}
  logistics: {skill: orders,  zh: 物流,     en: Logistics}
categories:
  urgent:   {department: technical, due: {hours: 0.001}, zh: 紧急故障, en: Urgent fault}
  delivery: {department: logistics, due: {hours: 48},    zh: 物流问题, en: Delivery problem}
"""


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    with FakeRasa(RASA_TOKEN) as fake:
        yield fake


def _running(service: HandoffService) -> Iterator[HandoffService]:
    for agent in AGENTS:
        service.add_agent(*agent)
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def service(tmp_path: Path, rasa: FakeRasa) -> Iterator[HandoffService]:
    running = HandoffService(tmp_path)
    running.env.update({"CS_RASA_PORT": str(rasa.port), "CS_RASA_TOKEN": RASA_TOKEN})
    yield from _running(running)


@pytest.fixture
def late_service(tmp_path: Path) -> Iterator[HandoffService]:
    tickets = tmp_path / "tickets.yml"
    tickets.write_text(TICKETS_YML, encoding="utf-8")
    running = HandoffService(tmp_path)
    running.env["CS_TICKETS_FILE"] = str(tickets)
    yield from _running(running)


# --- the Tickets page -----------------------------------------------------------------------------
def _ticket_row(number: str) -> str:
    return f'#t-list .ticket[data-number="{number}"]'


def _listed(driver) -> List[str]:
    return _texts(driver, "#t-list .ticket .ref")


def _kinds(driver) -> List[str]:
    """The history on the page, as event kinds (status changes with their new status)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#timeline .tk-event'),"
        " e => e.dataset.kind + (e.dataset.to ? ':' + e.dataset.to : ''))")


def _last_kind(driver) -> str:
    kinds = _kinds(driver)
    return kinds[-1] if kinds else ""


def _fact(driver, key: str) -> str:
    """A value of the ticket's header (read in one go: the header is redrawn on every change)."""
    return "".join(_texts(driver, f'#td-facts dd[data-fact="{key}"]')).strip()


def _compose(driver, mode: str, text: str) -> None:
    """Write in the ticket's box in one of its modes (note, reply, ask, resolve, close) and submit."""
    _click(driver, f"#mode-{mode}")
    _wait(driver).until(lambda d: d.find_element(By.ID, "compose").get_attribute("data-mode") == mode)
    box = driver.find_element(By.ID, "compose-text")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "compose-submit").click()
    _wait(driver).until(lambda d: d.find_element(By.ID, "compose-text").get_attribute("value") == "")


def _event_texts(driver, kind: str) -> List[str]:
    return _texts(driver, f'#timeline .tk-event[data-kind="{kind}"] .text')


# --- tests ----------------------------------------------------------------------------------------
def test_agent_makes_a_ticket_notes_asks_the_customer_and_resolves(service: HandoffService, rasa: FakeRasa,
                                                                   browser, tmp_path: Path):
    _open_console(browser, service)
    _log_in(browser, "alice", "Alice")
    me = _api(browser, service)
    Select(browser.find_element(By.ID, "status")).select_by_value("online")
    _wait(browser).until(lambda d: _get(me, "/api/me").json()["agent"]["status"] == "online")
    assert browser.find_element(By.ID, "tickets-link").text == "工单"  # every agent's top bar

    # A chat comes in and Alice accepts it: "转工单" is offered in its view.
    conv = service.handoff(CUSTOMER, issue=ISSUE, intents=["ask_faq", "request_human"], order_task=None)
    assert conv["state"] == "offered" and conv["agent_id"] == "alice", conv
    _wait_for(browser, _row(conv["id"], "offered"))
    assert not browser.find_element(By.ID, "make-ticket-group").is_displayed()  # nothing selected yet
    _click(browser, _row(conv["id"]) + " .accept")
    _wait_for(browser, _row(conv["id"], "mine"))
    _wait(browser).until(lambda d: d.find_element(By.ID, "reply").is_enabled())
    button = _wait_for(browser, "#make-ticket")
    assert button.text == "转工单"

    # The form: categories from the service's tickets.yml, the subject prefilled with the issue.
    button.click()
    _wait_for(browser, "#mk-category")
    assert browser.find_element(By.ID, "mk-subject").get_attribute("value") == ISSUE
    options = [o.text for o in Select(browser.find_element(By.ID, "mk-category")).options]
    assert any(o.startswith("技术问题 · 技术支持 · 2 个工作日") for o in options), options
    browser.find_element(By.ID, "mk-submit").click()  # no category chosen: said so, nothing sent
    _wait(browser).until(lambda d: d.find_element(By.ID, "mk-error").text == "请选择分类。")
    assert _get(me, "/api/tickets?status=").json()["tickets"] == []
    Select(browser.find_element(By.ID, "mk-category")).select_by_value("technical")
    browser.find_element(By.ID, "mk-note").send_keys("客户路由器型号 AX3000，已重启两次")
    browser.find_element(By.ID, "mk-submit").click()

    # The number is shown; the chat is over (handed back to the bot) and the customer was told the number.
    link = _wait_for(browser, "#made-ticket-link")
    number = link.text
    assert re.fullmatch(r"T\d{6}", number), number
    assert not browser.find_element(By.ID, "make-ticket-form").is_displayed()
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "conv-state"), "已交回机器人"))
    _wait(browser).until(lambda d: not d.find_elements(By.CSS_SELECTOR, _row(conv["id"], "mine")))
    _wait(browser).until(lambda d: any(number in text for text in rasa.texts(CUSTOMER)))
    made = _get(me, f"/api/tickets/{number}").json()
    assert made["conversation"]["id"] == conv["id"] and made["conversation"]["state"] == "returned"
    ticket = made["ticket"]
    assert (ticket["category"], ticket["department"], ticket["owner_id"], ticket["status"], ticket["subject"]) == (
        "technical", "technical", "alice", "open", ISSUE)

    # The Tickets page (from the top bar) lists it with its number.
    browser.find_element(By.ID, "tickets-link").click()
    _wait_for(browser, _ticket_row(number))
    assert browser.find_element(By.CSS_SELECTOR, "body.tickets-page")
    _wait(browser).until(lambda d: d.find_element(By.ID, "conn").get_attribute("class") == "conn up")
    assert _texts(browser, _ticket_row(number) + " .tk-status") == ["待处理"]
    assert _texts(browser, _ticket_row(number) + " .subject") == [ISSUE]
    assert _texts(browser, _ticket_row(number) + " .tk-cat") == ["技术问题"]
    assert _texts(browser, _ticket_row(number) + " .tk-owner") == ["我"]
    assert "剩余" in _texts(browser, _ticket_row(number) + " .tk-due")[0]
    assert not _texts(browser, _ticket_row(number) + " .tk-overdue-badge")

    # Selected: the header, the history so far, the conversation it came from.
    _click(browser, _ticket_row(number))
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "td-number"), number))
    _wait(browser).until(lambda d: _kinds(d) == ["created:open", "assigned", "note"])
    assert browser.find_element(By.ID, "td-status").text == "待处理"
    assert browser.find_element(By.ID, "td-subject").text == ISSUE
    assert (_fact(browser, "category"), _fact(browser, "department"), _fact(browser, "owner")) == (
        "技术问题", "技术支持", "我")
    assert _fact(browser, "channel") == "网页" and CUSTOMER in _fact(browser, "customer")
    assert "?t=" + number in browser.current_url  # the selection is in the URL
    assert _texts(browser, '#timeline .tk-event.internal[data-kind="note"] .tk-mark.internal') == ["内部 · 客户不可见"]
    assert _event_texts(browser, "note") == ["客户路由器型号 AX3000，已重启两次"]
    # The customer's notice of the new ticket: sent, and (through the fake Rasa) delivered, with the time.
    _wait_for(browser, '#timeline .tk-event[data-kind="created"] .tk-mark.public.delivered')
    created_mark = _texts(browser, '#timeline .tk-event[data-kind="created"] .tk-mark')[0]
    assert re.fullmatch(r"已发送给客户 · 送达 \d\d:\d\d", created_mark), created_mark
    assert _texts(browser, "#td-transcript .tmsg .text") == [
        "我的订单 240813006624 到哪了", "您的订单已发货，正在运输中。", "<b>转人工</b>"]
    assert not browser.find_elements(By.CSS_SELECTOR, "#td-transcript b")
    assert browser.find_elements(By.CSS_SELECTOR, "#td-messages .msg.system")  # "agent joined", from the chat

    # What the status allows: start work, ask, resolve; no reopen, no close (and no supervisor's controls).
    assert _texts(browser, "#status-buttons button") == ["开始处理"]
    assert _texts(browser, "#modes button") == ["内部备注", "回复客户", "询问客户", "解决"]
    assert not browser.find_element(By.ID, "take").is_displayed()  # hers already
    assert not browser.find_element(By.ID, "assign-group").is_displayed()
    assert browser.find_element(By.ID, "category-group").is_displayed()  # the owner may recategorize

    # An internal note (the default mode), a reply to the customer, then a question: waiting for them.
    assert browser.find_element(By.ID, "compose").get_attribute("data-mode") == "note"
    _compose(browser, "note", "已在测试环境复现，需要升级固件")
    _wait(browser).until(lambda d: _last_kind(d) == "note")
    assert _event_texts(browser, "note") == ["客户路由器型号 AX3000，已重启两次", "已在测试环境复现，需要升级固件"]
    _compose(browser, "reply", "我们正在处理您的问题，请稍候。")
    _wait(browser).until(lambda d: _last_kind(d) == "reply")
    _compose(browser, "ask", "请提供路由器背面的序列号。")
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "td-status"), "等待客户"))
    _wait(browser).until(lambda d: _last_kind(d) == "status:waiting_customer")
    assert _texts(browser, "#status-buttons button") == ["继续处理"]
    assert _texts(browser, "#modes button") == ["内部备注", "回复客户", "解决"]
    asked = '#timeline .tk-event.public[data-to="waiting_customer"]'
    assert _texts(browser, asked + " .text") == ["请提供路由器背面的序列号。"]
    assert _texts(browser, asked + " .tk-sent") == ["已发送给客户"]
    # While it waits on the customer the due time's clock stands still, in the list and in the header.
    _wait(browser).until(lambda d: "计时暂停（等待客户）" in _fact(d, "due") and any(
        "计时暂停（等待客户）" in t for t in _texts(d, _ticket_row(number) + " .tk-due.paused")))

    # The customer answers on their channel (through the bot): the page follows live, the ticket is in
    # progress again.
    answer = service._bot("/api/tickets/customer-message",
                          {"sender_id": CUSTOMER, "number": number, "text": "序列号是 SN-20240813"})
    assert answer.status_code == 200, answer.text
    _wait(browser).until(lambda d: _event_texts(d, "customer_message") == ["序列号是 SN-20240813"])
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "td-status"), "处理中"))
    assert _kinds(browser)[-2:] == ["customer_message", "status:in_progress"]
    _wait(browser).until(lambda d: not _texts(d, ".tk-due.paused"))  # the clock runs again

    # Resolved, with the resolution the customer reads: it leaves the list of tickets not done.
    _compose(browser, "resolve", "已远程升级固件，网络已恢复。")
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "td-status"), "已解决"))
    assert _texts(browser, "#status-buttons button") == ["重新打开", "关闭工单"]  # she owns it: she may close
    assert _texts(browser, "#modes button") == ["内部备注", "回复客户"]
    assert not browser.find_elements(By.CSS_SELECTOR, "#category-group:not([hidden])")
    _wait(browser).until(lambda d: number not in _listed(d))
    Select(browser.find_element(By.ID, "f-status")).select_by_value("resolved")
    _wait(browser).until(lambda d: _listed(d) == [number])
    assert "status=resolved" in browser.current_url

    # Every step in the history, the public ones delivered to the customer.
    steps = ["created:open", "assigned", "note", "note", "reply", "status:waiting_customer", "customer_message",
             "status:in_progress", "status:resolved"]
    _wait(browser).until(lambda d: _kinds(d) == steps)
    _wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#timeline .tk-mark.public.delivered")) == 4)
    assert not browser.find_elements(By.CSS_SELECTOR, "#timeline .tk-mark.public.pending")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline .tk-mark.internal")) == 2
    shot = tmp_path / "tickets-agent.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")

    # The same through the API: kinds, statuses, who, what went to the customer.
    detail = _get(me, f"/api/tickets/{number}").json()
    assert detail["ticket"]["status"] == "resolved" and detail["ticket"]["owner_id"] == "alice"
    events = detail["events"]
    assert [(e["kind"], e["from_status"], e["to_status"], e["public"]) for e in events] == [
        ("created", None, "open", True), ("assigned", None, None, False), ("note", None, None, False),
        ("note", None, None, False), ("reply", None, None, True),
        ("status", "open", "waiting_customer", True), ("customer_message", None, None, False),
        ("status", "waiting_customer", "in_progress", False), ("status", "in_progress", "resolved", True)]
    assert [e["agent_id"] for e in events] == ["alice"] * 6 + [None, None, "alice"]
    notes = [e for e in events if e["kind"] == "note"]
    assert [n["text"] for n in notes] == ["客户路由器型号 AX3000，已重启两次", "已在测试环境复现，需要升级固件"]
    assert all(not n["public"] and n["delivered_at"] is None for n in notes)
    assert all(e["delivered_at"] for e in events if e["public"])
    assert events[-1]["text"] == "已远程升级固件，网络已恢复。"

    # The customer got the number, the update, the question and the resolution — never an internal note.
    sent = rasa.texts(CUSTOMER)
    told = (number, "我们正在处理您的问题，请稍候。", "请提供路由器背面的序列号。", "已远程升级固件，网络已恢复。")
    for wanted in told:
        assert any(wanted in text for text in sent), (wanted, sent)
    assert not any("AX3000" in text or "测试环境" in text for text in sent), sent

    assert _js_errors(browser) == []


def test_supervisor_sees_an_overdue_ticket_filters_and_assigns_it(late_service: HandoffService, browser,
                                                                   tmp_path: Path):
    service = late_service
    # Nobody is online: two customers leave messages. The supervisor makes one a ticket through the API…
    urgent_conv = service.handoff("cust-late-1", issue="客户要求转人工，网站无法登录",
                                  intents=["ask_faq", "request_human"], order_task=None, ticket=True)
    later_conv = service.handoff("cust-late-2", issue="客户要求转人工，包裹一直未到", ticket=True)
    resp = service.agent_session("sam").post(service.url + "/api/tickets", timeout=10, json={
        "conversation_id": later_conv["id"], "category": "delivery"})
    assert resp.status_code == 201, resp.text
    later = resp.json()["ticket"]["number"]

    # …and the other from the console's view of the left message ("urgent": due 3.6 s later).
    _open_console(browser, service)
    _log_in(browser, "sam", "Sam")
    _click(browser, _row(urgent_conv["id"], "tickets") + " .issue")
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "conv-state"), "留言"))
    _click(browser, "#make-ticket")
    _wait_for(browser, "#mk-category")
    Select(browser.find_element(By.ID, "mk-category")).select_by_value("urgent")
    browser.find_element(By.ID, "mk-submit").click()
    urgent = _wait_for(browser, "#made-ticket-link").text
    assert re.fullmatch(r"T\d{6}", urgent) and urgent != later, urgent
    browser.find_element(By.ID, "tickets-link").click()
    _wait_for(browser, _ticket_row(later))
    _wait_for(browser, _ticket_row(urgent))
    _wait(browser).until(lambda d: d.find_element(By.ID, "conn").get_attribute("class") == "conn up")
    assert browser.find_element(By.ID, "me-role").text == "主管"

    # 3.6 s after it was made the urgent one is overdue: the red badge, the time past due; the other not.
    _wait_for(browser, _ticket_row(urgent) + " .tk-overdue-badge")
    assert _texts(browser, _ticket_row(urgent) + " .tk-overdue-badge") == ["逾期"]
    assert "已超" in _texts(browser, _ticket_row(urgent) + " .tk-due.late")[0]
    assert not browser.find_elements(By.CSS_SELECTOR, _ticket_row(later) + " .tk-overdue-badge")
    assert _listed(browser) == [urgent, later]  # the most urgent first
    me = _api(browser, service)
    views = {t["number"]: t for t in _get(me, "/api/tickets").json()["tickets"]}
    assert views[urgent]["overdue"] is True and views[later]["overdue"] is False
    assert views[urgent]["owner_id"] is None  # made by a supervisor: the department's

    # Overdue only.
    browser.find_element(By.ID, "f-overdue").click()
    _wait(browser).until(lambda d: _listed(d) == [urgent])
    assert "overdue=1" in browser.current_url

    # The supervisor opens it and gives it to Alice.
    _click(browser, _ticket_row(urgent))
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "td-number"), urgent))
    assert _texts(browser, "#td-overdue .tk-overdue-badge") == ["逾期"]
    assert _fact(browser, "owner") == "未指派" and _fact(browser, "category") == "紧急故障"
    assert browser.find_element(By.ID, "assign-group").is_displayed()
    choices = [o.get_attribute("value") for o in Select(browser.find_element(By.ID, "assign-agent")).options]
    assert choices == ["", "alice", "bob", "sam"], choices
    Select(browser.find_element(By.ID, "assign-agent")).select_by_value("alice")
    browser.find_element(By.ID, "assign").click()
    _wait(browser).until(lambda d: _fact(d, "owner") == "Alice")
    _wait(browser).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, _ticket_row(urgent) + " .tk-owner"),
                                                          "Alice"))
    _wait(browser).until(lambda d: "assigned" in _kinds(d))
    assert _texts(browser, '#timeline .tk-event[data-kind="assigned"] .what') == ["指派给 Alice"]
    assert _texts(browser, '#timeline .tk-event[data-kind="assigned"] .who') == ["我"]  # the supervisor herself
    ticket = _get(me, f"/api/tickets/{urgent}").json()
    assert ticket["ticket"]["owner_id"] == "alice"
    assert [(e["kind"], e["agent_id"], e["text"]) for e in ticket["events"] if e["kind"] == "assigned"] == [
        ("assigned", "sam", "alice")]

    # The service's housekeeping (every 15 s) records that it went overdue: the history gets it live.
    _wait(browser, 45).until(lambda d: "overdue" in _kinds(d))
    assert _texts(browser, '#timeline .tk-event[data-kind="overdue"] .what') == ["已逾期"]
    shot = tmp_path / "tickets-supervisor.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")

    # A supervisor corrects the category: due 48 h after it was made, so no longer overdue, and it leaves
    # the overdue-only list.
    Select(browser.find_element(By.ID, "category-select")).select_by_value("delivery")
    browser.find_element(By.ID, "recategorize").click()
    _wait(browser).until(lambda d: _fact(d, "category") == "物流问题")
    _wait(browser).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#td-overdue .tk-overdue-badge"))
    _wait(browser).until(lambda d: _listed(d) == [])
    view = _get(me, f"/api/tickets/{urgent}").json()["ticket"]
    assert (view["category"], view["department"], view["overdue"]) == ("delivery", "logistics", False)

    # In English, the page's labels follow (the console's language choice, shared with it).
    browser.find_element(By.ID, "lang").click()
    _wait(browser).until(lambda d: d.find_element(By.ID, "td-status").text == "Open")
    assert (_fact(browser, "category"), _fact(browser, "department")) == ("Delivery problem", "Logistics")
    assert browser.find_element(By.CSS_SELECTOR, '[data-i18n="f_overdue"]').text == "Overdue only"
    assert _texts(browser, "#modes button") == ["Internal note", "Reply to customer", "Ask the customer", "Resolve",
                                                "Close unresolved"]  # a supervisor may close it without a resolution
    browser.find_element(By.ID, "f-overdue").click()  # all not done again: the other one, in English
    _wait(browser).until(lambda d: _listed(d) == [later, urgent])  # both due 48 h after they were made
    assert _texts(browser, _ticket_row(later) + " .tk-status") == ["Open"]

    # The supervisor closes the urgent one unresolved (a duplicate): the customer reads why; it leaves the list.
    _compose(browser, "close", f"Duplicate of {later}")
    _wait(browser).until(lambda d: d.find_element(By.ID, "td-status").text == "Closed")
    _wait(browser).until(lambda d: _listed(d) == [later])
    closed = _get(me, f"/api/tickets/{urgent}").json()
    assert (closed["ticket"]["status"], closed["ticket"]["resolved_at"]) == ("closed", None)
    last = closed["events"][-1]
    assert (last["kind"], last["to_status"], last["public"], last["text"]) == (
        "status", "closed", True, f"Duplicate of {later}")

    assert _js_errors(browser) == []
