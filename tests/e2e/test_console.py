"""The agent console (handoff/console/) in a real browser, against the real handoff service.

The service runs as a subprocess (`python -m handoff serve`) on a free port with its own var dir;
handoffs and customer messages come in through its bot-facing API with the service token, as the
action server would send them. There is no Rasa here: agents' replies stay undelivered ("sending…"),
which is what this test expects; the chain through Rasa is tested elsewhere.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import pytest
import requests
from selenium.common.exceptions import (
    ElementNotInteractableException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from ops.paths import ROOT, VENV_BIN
from tests.conftest import free_port
from tests.e2e.located import texts as _texts  # read in one go: the page may redraw between reads
from tests.health import wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "console-test-password"  # test-only
AGENTS = (
    # id, name, role, skills, capacity
    ("alice", "Alice", "agent", "general,orders", 2),
    ("bob", "Bob", "agent", "vip,orders", 1),
    ("sam", "Sam", "supervisor", "general", 2),
)
WAIT = 30  # generous: the suite runs beside Rasa and other browsers on 2 cores


# --- the service --------------------------------------------------------------------------------
class HandoffService:
    """`python -m handoff serve` in a subprocess, on a free port, with its own var dir."""

    def __init__(self, tmp_path: Path) -> None:
        self.var_dir = tmp_path / "var"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "handoff.log"
        self.env = _env(self.var_dir, self.port)
        self.python = str(VENV_BIN / "python")
        self.proc: Optional[subprocess.Popen] = None
        self.token = ""

    def add_agent(self, agent_id: str, name: str, role: str, skills: str, capacity: int) -> None:
        subprocess.run([self.python, "-m", "handoff", "add-agent", agent_id, "--name", name, "--skills", skills,
                        "--role", role, "--capacity", str(capacity)], cwd=ROOT, env=self.env, check=True,
                       capture_output=True, timeout=60)

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([self.python, "-m", "handoff", "serve"], cwd=ROOT, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_healthy(self.proc, self.url + "/health", lambda: self.log.read_text()[-3000:])
        self.token = (self.var_dir / "secrets" / "handoff_service_token").read_text().strip()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def _bot(self, path: str, body: dict) -> requests.Response:
        return requests.post(self.url + path, json=body, headers={"Authorization": f"Bearer {self.token}"},
                             timeout=10)

    def handoff(self, sender_id: str, *, issue: str, tier: str = "normal", intents: Optional[List[str]] = None,
                order_task: Optional[str] = "status", language: str = "zh", customer_id: Optional[str] = None,
                summary: Optional[dict] = None, ticket: bool = False) -> dict:
        """A handoff as the action server files it; returns the conversation. `ticket`: nobody able
        is online, the customer leaves a message."""
        intents = intents if intents is not None else ["ask_order_status", "request_human"]
        packet = summary or _summary(sender_id, issue, intents, language, tier, customer_id)
        resp = self._bot("/api/handoffs", {
            "sender_id": sender_id, "channel": "socketio", "language": language, "reason": "customer_request",
            "customer_id": customer_id, "tier": tier, "intents": intents, "order_task": order_task,
            "summary": packet})
        assert resp.status_code in (200, 201), resp.text
        body = resp.json()
        assert body["ticket"] is ticket, body
        return body["conversation"]

    def relay(self, sender_id: str, text: str) -> None:
        resp = self._bot("/api/relay", {"sender_id": sender_id, "text": text})
        assert resp.status_code == 200, resp.text

    def agent_session(self, agent_id: str) -> requests.Session:
        """An agent working through the API (another agent in the room)."""
        session = requests.Session()
        resp = session.post(self.url + "/api/login", json={"agent_id": agent_id, "password": PASSWORD}, timeout=10)
        assert resp.status_code == 200, resp.text
        return session


def _summary(sender_id: str, issue: str, intents: List[str], language: str, tier: str,
             customer_id: Optional[str]) -> dict:
    return {
        "customer": {"id": customer_id, "sender_id": sender_id, "channel": "socketio", "language": language,
                     "tier": tier},
        "reason": "customer_request", "queue": "orders", "issue": issue, "intents": intents,
        "slots": {"order_number": "240813006624", "order_task": "status", "order_verified": True},
        "order_tasks": [{"task": "status", "order_number": "240813006624", "outcome": "done", "verified": True}],
        "faq_attempts": [{"question": "多久发货", "entry": "shipping_time", "score": 0.41}],
        "sentiment": [0.1, None, -0.7],
        "transcript": [
            {"role": "customer", "text": "我的订单 240813006624 到哪了", "time": time.time() - 120},
            {"role": "bot", "text": "您的订单已发货，正在运输中。", "time": time.time() - 119},
            {"role": "customer", "text": "<b>转人工</b>", "time": time.time() - 60},
        ],
    }


def _env(var_dir: Path, port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env.update({
        "CS_VAR_DIR": str(var_dir), "CS_HANDOFF_PORT": str(port),
        # Nothing listens there: replies stay undelivered, and a Rasa of a developer's stack is left alone.
        "CS_RASA_PORT": str(free_port()), "CS_ACTION_PORT": str(free_port()), "CS_WEB_PORT": str(free_port()),
        "CS_HANDOFF_HOURS": "00:00-24:00",  # open whenever the test runs
        "CS_HANDOFF_OFFER_SECONDS": "600",  # offers do not expire while the test looks at them
        "CS_AGENT_PASSWORD": PASSWORD, "CS_LOG_LEVEL": "INFO",
    })
    return env


@contextmanager
def running_service(tmp_path: Path, **env: str) -> Iterator[HandoffService]:
    """The service with the test agents, started (`env`: more of its environment), stopped afterwards."""
    running = HandoffService(tmp_path)
    running.env.update(env)
    for agent in AGENTS:
        running.add_agent(*agent)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[HandoffService]:
    with running_service(tmp_path) as running:
        yield running


# --- the page -------------------------------------------------------------------------------------
def _wait(driver, seconds: float = WAIT) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def _open_console(driver, service: HandoffService) -> None:
    driver.get(service.url + "/console/")
    _wait(driver).until(EC.visibility_of_element_located((By.ID, "login-form")))


def _login(driver, agent_id: str, password: str = PASSWORD) -> None:
    box = driver.find_element(By.ID, "agent-id")
    box.clear()
    box.send_keys(agent_id)
    field = driver.find_element(By.ID, "password")
    field.clear()
    field.send_keys(password, Keys.ENTER)


def _log_in(driver, agent_id: str, name: str) -> None:
    _login(driver, agent_id)
    _wait(driver).until(EC.text_to_be_present_in_element((By.ID, "me-name"), name))
    _wait(driver).until(lambda d: d.find_element(By.ID, "conn").get_attribute("class") == "conn up")


def _api(driver, service: HandoffService) -> requests.Session:
    """The API as the agent logged in in this browser (its session cookie)."""
    session = requests.Session()
    session.cookies.set("cs_session", driver.get_cookie("cs_session")["value"])
    session.base = service.url
    return session


def _get(session: requests.Session, path: str) -> requests.Response:
    return session.get(session.base + path, timeout=10)


def _row(cid: int, where: str = "") -> str:
    return f'{"#list-" + where + " " if where else ""}.conv[data-id="{cid}"]'


def _has(driver, css: str) -> bool:
    return bool(driver.find_elements(By.CSS_SELECTOR, css))


def _click(driver, css: str) -> None:
    """Click once the element is there and shown (controls appear when the page has read what it needs, e.g.
    who is logged in), again if the page redrew it between finding and clicking it."""
    def click(d) -> bool:
        d.find_element(By.CSS_SELECTOR, css).click()
        return True
    WebDriverWait(driver, WAIT, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException,
                                                    ElementNotInteractableException)).until(click)


def _wait_for(driver, css: str):
    return _wait(driver).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def _message_texts(driver, direction: str) -> List[str]:
    return _texts(driver, f"#messages .msg.{direction} .text")


def _js_errors(driver, *expected: str) -> List[str]:
    """Errors the page logged, other than the expected 401s (not logged in, bad password) and those
    containing one of `expected`."""
    ignored = ("status of 401", "favicon.ico", *expected)
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and not any(text in e["message"] for text in ignored)]


def _send_reply(driver, *keys) -> None:
    box = driver.find_element(By.ID, "reply")
    box.send_keys(*keys)


# --- tests ----------------------------------------------------------------------------------------
def test_agent_takes_a_chat_replies_transfers_and_resolves(service: HandoffService, browser, tmp_path: Path):
    _open_console(browser, service)

    # A wrong password: a readable error, still the login form.
    _login(browser, "alice", "not-the-password")
    error = _wait_for(browser, "#login-error")
    assert "错误" in error.text
    assert not browser.find_element(By.ID, "app").is_displayed()

    _log_in(browser, "alice", "Alice")
    assert browser.find_element(By.ID, "me-role").text == "坐席"
    assert not browser.find_element(By.ID, "agents-panel").is_displayed()  # supervisors only
    me = _api(browser, service)

    # The status selector: Alice goes online (she starts offline), so handoffs come to her.
    Select(browser.find_element(By.ID, "status")).select_by_value("online")
    _wait(browser).until(lambda d: _get(me, "/api/me").json()["agent"]["status"] == "online")

    # A handoff arrives and is offered to her: it shows up live (WebSocket), no reload.
    issue = "客户要求转人工，查询订单状态，订单 240813006624"
    first = service.handoff("cust-console-1", issue=issue)
    assert first["state"] == "offered" and first["agent_id"] == "alice", first
    _wait_for(browser, _row(first["id"], "offered"))
    assert _texts(browser, _row(first["id"]) + " .ref") == [first["ref"]]
    assert _texts(browser, _row(first["id"]) + " .issue") == [issue]
    assert "has-offers" in browser.find_element(By.ID, "offered-panel").get_attribute("class")
    assert _has(browser, _row(first["id"]) + " .sla.ok")

    # Its summary: issue line, intents in order, slots, order lookups, FAQ tries, sentiment bars; the
    # bot transcript, with the customer's markup shown as text.
    _click(browser, _row(first["id"]) + " .issue")
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "summary-issue"), issue))
    assert _texts(browser, "#summary .intents li") == ["ask_order_status", "request_human"]
    assert browser.find_element(By.CSS_SELECTOR, '#summary dd[data-slot="order_number"]').text == "240813006624"
    assert "shipping_time" in browser.find_element(By.CSS_SELECTOR, "#summary .faq").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#summary .sentiment .bar")) == 3
    assert _has(browser, "#summary .sentiment .bar.neg")
    assert _texts(browser, "#transcript .tmsg .text") == [
        "我的订单 240813006624 到哪了", "您的订单已发货，正在运输中。", "<b>转人工</b>"]
    assert not browser.find_elements(By.CSS_SELECTOR, "#transcript b")
    assert not browser.find_element(By.ID, "reply").is_enabled()  # not accepted yet

    # Accept: it moves to "My chats", the reply box opens.
    _click(browser, _row(first["id"]) + " .accept")
    _wait_for(browser, _row(first["id"], "mine"))
    assert not _has(browser, _row(first["id"], "offered"))
    _wait(browser).until(lambda d: d.find_element(By.ID, "reply").is_enabled())
    _wait_for(browser, "#messages .msg.system")  # "agent joined" notice to the customer

    # The customer writes: it appears live.
    service.relay("cust-console-1", "还在吗？我的订单到底什么时候发货")
    _wait(browser).until(lambda d: "还在吗？我的订单到底什么时候发货" in _message_texts(d, "customer"))

    # Replying from the box: Enter sends, Shift+Enter is a new line.
    _send_reply(browser, "您好，我来帮您查一下")
    _send_reply(browser, Keys.ENTER)
    _wait(browser).until(lambda d: "您好，我来帮您查一下" in _message_texts(d, "agent"))
    assert browser.find_element(By.ID, "reply").get_attribute("value") == ""
    assert _texts(browser, "#messages .msg.agent .delivery.pending") == ["发送中…"]  # no Rasa here
    _send_reply(browser, "第一行", Keys.SHIFT, Keys.ENTER, Keys.NULL, "第二行")
    assert browser.find_element(By.ID, "reply").get_attribute("value") == "第一行\n第二行"
    _send_reply(browser, Keys.ENTER)
    _wait(browser).until(lambda d: "第一行\n第二行" in _message_texts(d, "agent"))

    # A canned reply (only the conversation's language is offered) goes into the box to be edited.
    canned = Select(browser.find_element(By.ID, "canned"))
    titles = [o.text for o in canned.options]
    assert "问候" in titles and "Greeting" not in titles
    canned.select_by_visible_text("问候")
    greeting = "您好，我是客服，已经看过您和机器人的对话，我来帮您处理。"
    assert browser.find_element(By.ID, "reply").get_attribute("value") == greeting
    _send_reply(browser, "订单已经查到了。")
    browser.find_element(By.ID, "send").click()
    _wait(browser).until(lambda d: greeting + "订单已经查到了。" in _message_texts(d, "agent"))

    # All three replies are stored.
    stored = _get(me, f"/api/conversations/{first['id']}").json()
    agent_texts = [m["text"] for m in stored["messages"] if m["direction"] == "agent"]
    assert agent_texts == ["您好，我来帮您查一下", "第一行\n第二行", greeting + "订单已经查到了。"]
    assert all(m["delivered_at"] is None for m in stored["messages"] if m["direction"] == "agent")

    # Customers' markup is text, never HTML.
    attack = '<img src=x onerror="window.__xss=1">'
    service.relay("cust-console-1", attack)
    service.relay("cust-console-1", "<script>window.__xss=2</script>")
    _wait(browser).until(lambda d: "<script>window.__xss=2</script>" in _message_texts(d, "customer"))
    assert attack in _message_texts(browser, "customer")
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages img, #messages script")
    assert browser.execute_script("return window.__xss") is None

    # A second chat: offered, accepted (Alice has room for two); new customer messages there, while
    # the first one is open, show an unread badge.
    second = service.handoff("cust-console-2", issue="客户要求转人工，咨询常见问题",
                             intents=["ask_faq", "request_human"], order_task=None)
    assert second["queue"] == "general" and second["state"] == "offered", second
    _wait_for(browser, _row(second["id"], "offered"))
    _click(browser, _row(second["id"]) + " .accept")
    _wait_for(browser, _row(second["id"], "mine"))
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "conv-ref"), second["ref"]))
    _click(browser, _row(first["id"]) + " .issue")
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "conv-ref"), first["ref"]))
    service.relay("cust-console-2", "你好？")
    _wait_for(browser, _row(second["id"]) + " .unread")
    assert _texts(browser, _row(second["id"]) + " .unread") == ["1"]
    assert browser.title.startswith("(1)")
    assert "你好？" not in _message_texts(browser, "customer")  # the open chat is the first one

    # A screenshot of the working console (first chat open, second with its badge).
    shot = tmp_path / "console-agent.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")

    # Opening the second clears the badge; transferring it to a queue Alice does not serve takes it
    # off her lists.
    _click(browser, _row(second["id"]) + " .issue")
    _wait(browser).until(lambda d: "你好？" in _message_texts(d, "customer"))
    assert not _has(browser, _row(second["id"]) + " .unread")
    Select(browser.find_element(By.ID, "transfer-target")).select_by_value("queue:complaints")
    browser.find_element(By.ID, "transfer").click()
    _wait(browser).until(lambda d: not _has(d, _row(second["id"], "mine")))
    _wait(browser).until(lambda d: not _has(d, _row(second["id"])))
    assert browser.find_element(By.ID, "empty").is_displayed()
    assert _get(me, f"/api/conversations/{second['id']}").status_code == 404  # not in her queues any more

    # The UI language toggle: every label follows.
    browser.find_element(By.ID, "lang").click()
    assert browser.find_element(By.ID, "logout").text == "Log out"
    heading = browser.find_element(By.CSS_SELECTOR, '[data-i18n="my_chats"]')
    assert heading.get_attribute("textContent") == "My chats"
    assert browser.find_element(By.ID, "reply").get_attribute("placeholder") == "Type a reply…"
    browser.find_element(By.ID, "lang").click()
    assert browser.find_element(By.ID, "logout").text == "退出"

    # Resolve: close (survey) — it leaves the open list and is in the history as closed.
    _click(browser, _row(first["id"]) + " .issue")
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "conv-ref"), first["ref"]))
    _wait(browser).until(lambda d: d.find_element(By.ID, "resolve-close").is_enabled())
    browser.find_element(By.ID, "resolve-close").click()
    _wait(browser).until(lambda d: not _has(d, _row(first["id"], "mine")))
    assert _get(me, f"/api/conversations/{first['id']}").json()["conversation"]["state"] == "closed"
    browser.find_element(By.CSS_SELECTOR, "#history summary").click()
    _wait_for(browser, f'#list-history .conv[data-id="{first["id"]}"][data-state="closed"]')

    # Hand back to the bot.
    third = service.handoff("cust-console-3", issue="客户要求转人工，查询物流", order_task="logistics")
    _wait_for(browser, _row(third["id"], "offered"))
    _click(browser, _row(third["id"]) + " .accept")
    _wait_for(browser, _row(third["id"], "mine"))
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "conv-ref"), third["ref"]))
    _wait(browser).until(lambda d: d.find_element(By.ID, "resolve-bot").is_enabled())
    browser.find_element(By.ID, "resolve-bot").click()
    _wait(browser).until(lambda d: not _has(d, _row(third["id"], "mine")))
    _wait_for(browser, f'#list-history .conv[data-id="{third["id"]}"][data-state="returned"]')
    assert _get(me, f"/api/conversations/{third['id']}").json()["conversation"]["state"] == "returned"

    # Away, then log out: back to the login form, and the session is over.
    Select(browser.find_element(By.ID, "status")).select_by_value("away")
    _wait(browser).until(lambda d: _get(me, "/api/me").json()["agent"]["status"] == "away")
    browser.find_element(By.ID, "logout").click()
    _wait_for(browser, "#login-form")
    assert not browser.find_element(By.ID, "app").is_displayed()
    assert _get(me, "/api/me").status_code == 401
    # Logging out also ends her availability: no chats are offered to someone who has left.
    again = service.agent_session("alice")
    assert again.get(service.url + "/api/me", timeout=10).json()["agent"]["status"] == "offline"

    # a conversation transferred away while its assist panel was loading answers 404 (no longer hers): expected
    assert _js_errors(browser, "/assist - Failed to load resource: the server responded with a status of 404") == []


def test_supervisor_sees_every_queue_the_agents_and_reassigns(service: HandoffService, browser, tmp_path: Path):
    # Bob (vip, orders; room for one) is online and busy with one chat: what comes next waits in line.
    bob = service.agent_session("bob")
    assert bob.put(service.url + "/api/me/status", json={"status": "online"}, timeout=10).status_code == 200
    busy = service.handoff("cust-sup-0", issue="客户要求转人工，查询订单状态")
    assert busy["state"] == "offered" and busy["agent_id"] == "bob", busy
    assert bob.post(f"{service.url}/api/conversations/{busy['id']}/accept", timeout=10).status_code == 200

    normal = service.handoff("cust-sup-1", issue="客户要求转人工，查询订单状态，订单 240813006624")
    time.sleep(0.05)
    vip = service.handoff("cust-sup-2", issue="【VIP】客户要求转人工，查询订单状态", tier="vip", customer_id="C-1001")
    assert normal["state"] == vip["state"] == "queued"
    assert vip["queue"] == "vip" and normal["queue"] == "orders"
    # Nobody online does after-sales: that one is left as a ticket, to be taken later.
    left = service.handoff("cust-sup-3", issue="客户要求转人工，退换货/退款", order_task="aftersales", ticket=True)
    assert left["state"] == "ticket" and left["queue"] == "after_sales"

    _open_console(browser, service)
    _log_in(browser, "sam", "Sam")
    assert browser.find_element(By.ID, "me-role").text == "主管"

    # All queues with their counters.
    _wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#queues tr.queue")) == 5)
    names = browser.execute_script(
        "return Array.from(document.querySelectorAll('#queues tr.queue'), e => e.dataset.name)")
    assert sorted(names) == ["after_sales", "complaints", "general", "orders", "vip"]
    waiting = {name: _texts(browser, f'#queues tr.queue[data-name="{name}"] .waiting') for name in names}
    assert waiting["vip"] == ["1"] and waiting["orders"] == ["1"] and waiting["general"] == ["0"]

    # The agents table: status and load.
    _wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#agents tr.agent-row")) == 3)
    assert _texts(browser, '#agents tr.agent-row[data-id="bob"] .astatus') == ["在线"]
    assert _texts(browser, '#agents tr.agent-row[data-id="bob"] .aload') == ["1/1"]
    assert _texts(browser, '#agents tr.agent-row[data-id="alice"] .astatus') == ["离线"]

    # The line in service order: the VIP before the earlier normal one; Bob's chat among the others'.
    _wait_for(browser, _row(vip["id"], "waiting"))
    line = [int(i) for i in browser.execute_script(
        "return Array.from(document.querySelectorAll('#list-waiting .conv'), e => e.dataset.id)")]
    assert line == [vip["id"], normal["id"]]
    assert _has(browser, _row(vip["id"]) + " .tier.vip")
    _wait_for(browser, _row(busy["id"], "others"))
    _wait_for(browser, _row(left["id"], "tickets") + " .take")

    # The VIP's summary.
    _click(browser, _row(vip["id"]) + " .issue")
    _wait(browser).until(EC.text_to_be_present_in_element((By.ID, "summary-issue"), "【VIP】"))
    assert "C-1001" in browser.find_element(By.ID, "summary").text

    shot = tmp_path / "console-supervisor.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")

    # Reassign the normal one to Alice: it leaves the line and is offered to her.
    Select(browser.find_element(By.CSS_SELECTOR, _row(normal["id"]) + " select.reassign")).select_by_value("alice")
    _wait_for(browser, _row(normal["id"], "others"))
    assert not _has(browser, _row(normal["id"], "waiting"))
    sam = _api(browser, service)
    moved = _get(sam, f"/api/conversations/{normal['id']}").json()["conversation"]
    assert moved["state"] == "offered" and moved["agent_id"] == "alice"

    # The SLA countdown is live: once the first-response time (60 s for VIPs) has passed, the badge
    # says breached without any reload (the page's clock moved 2 minutes on).
    assert not _has(browser, _row(vip["id"]) + " .sla.breached")
    # (the server's Date headers are moved the same way, or the page would rightly correct the skew)
    browser.execute_script("const real = Date.now, parse = Date.parse;"
                           "Date.now = () => real.call(Date) + 120000;"
                           "Date.parse = (s) => parse.call(Date, s) + 120000;")
    _wait_for(browser, _row(vip["id"]) + " .sla.breached")

    assert _js_errors(browser) == []


def test_console_reconnects_after_a_restart_and_notices_an_ended_session(service: HandoffService, new_browser):
    browser = new_browser("en-US")  # the UI language follows the browser's
    _open_console(browser, service)
    assert browser.find_element(By.ID, "login-submit").text == "Log in"
    _log_in(browser, "alice", "Alice")
    assert browser.find_element(By.ID, "me-role").text == "Agent"
    Select(browser.find_element(By.ID, "status")).select_by_value("online")
    me = _api(browser, service)
    _wait(browser).until(lambda d: _get(me, "/api/me").json()["agent"]["status"] == "online")

    # The service restarts: the page shows the live link down, reconnects by itself (backoff) and
    # gets what happens next without a reload.
    service.stop()
    _wait_for(browser, "#conn.down")
    service.start()
    _wait(browser, 40).until(lambda d: d.find_element(By.ID, "conn").get_attribute("class") == "conn up")
    packet = _summary("cust-console-r", "客户要求转人工，查询订单状态", ["ask_order_status", "request_human"], "en",
                      "normal", None)
    packet["issue_by_language"] = {"zh": "客户要求转人工，查询订单状态",
                                   "en": "customer asked for a person, order status"}
    chat = service.handoff("cust-console-r", issue="", language="en", summary=packet)
    _wait_for(browser, _row(chat["id"], "offered"))
    # the English console shows the English issue line
    assert _texts(browser, _row(chat["id"]) + " .issue") == ["customer asked for a person, order status"]
    _click(browser, _row(chat["id"]) + " .accept")
    _wait_for(browser, _row(chat["id"], "mine"))
    # An English conversation is offered English canned replies.
    _wait(browser).until(lambda d: d.find_element(By.ID, "canned").is_enabled())
    titles = _texts(browser, "#canned option")  # in one go: the list may be redrawn between single reads
    assert "Greeting" in titles and "问候" not in titles

    # The session ends elsewhere (logged out in another tab): the service closes the page's live
    # link at once, and the page, finding its session gone, shows the login form saying why; the
    # agent is offline (no more offers to an empty desk).
    assert me.post(service.url + "/api/logout", timeout=10).status_code == 204
    _wait_for(browser, "#login-form")
    assert "expired" in browser.find_element(By.ID, "login-error").text

    # While the service was down: refused connections, nothing else.
    assert _js_errors(browser, "ERR_CONNECTION_REFUSED") == []
