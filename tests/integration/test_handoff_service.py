"""The handoff service (handoff/) as a real process over real HTTP, delivering to a fake Rasa.

Each test runs `python -m handoff serve` as a subprocess on a free port with its own var dir (agents
added with `python -m handoff add-agent`, once, into a template database that every test copies), open
around the clock, offers expiring after CS_HANDOFF_OFFER_SECONDS=5; CS_RASA_PORT points at
tests/fakes/rasa_api.FakeRasa (in this process), which checks the Rasa token the service sends
(CS_RASA_TOKEN) and records every trigger_intent call in order. The bot's side is played with the
service token (var/secrets/handoff_service_token), the agents' side with requests sessions (cookie
cs_session) and, for live updates, an aiohttp WebSocket client.

The last tests kill the service with SIGKILL and start it again on the same var dir.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import aiohttp
import pytest
import requests

from ops.paths import ROOT, VENV_BIN
from tests.conftest import free_port
from tests.fakes.rasa_api import FakeRasa
from tests.health import wait_healthy

pytestmark = pytest.mark.e2e  # starts a real service (no Rasa, no model needed)

PASSWORD = "handoff-test-password"  # test-only
RASA_TOKEN = "test-rasa-token-0123456789"  # test-only
OFFER_SECONDS = 5  # the smallest the settings allow
AGENT_MSG, ENDED = "EXTERNAL_agent_message", "EXTERNAL_handoff_ended"
AGENTS = (
    # id, name, role, skills, capacity
    ("gen1", "Gina", "agent", "general", 3),
    ("gen2", "Gus", "agent", "general", 3),
    ("ord", "Olga", "agent", "orders", 3),
    ("solo", "Sol", "agent", "general,orders,vip", 1),
    ("sup", "Sue", "supervisor", "general", 3),
    ("lockme", "Lou", "agent", "general", 3),
)
WAIT = 15.0  # delivery may pause 5 s (see test_a_reply_sent_while_another_is_in_flight_is_not_held_back)


# --- helpers ----------------------------------------------------------------------------------------
def wait_for(check: Callable[[], Any], what: str, timeout: float = WAIT, interval: float = 0.05) -> Any:
    """Poll until `check()` returns something truthy (returned); fail with `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def ok(response: requests.Response, status: int = 200) -> dict:
    assert response.status_code == status, f"{response.request.method} {response.url}: " \
                                           f"{response.status_code} {response.text[:500]}"
    return response.json() if response.content else {}


def error(response: requests.Response, status: int) -> str:
    """The answer is `status` with the service's JSON error body; returns the message."""
    assert response.status_code == status, f"{response.request.method} {response.url}: expected {status}, " \
                                           f"got {response.status_code} {response.text[:500]}"
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    return body["error"]


class Agent:
    """An agent logged in to the console API (a requests session holding the cs_session cookie)."""

    def __init__(self, base: str, agent_id: str, session: requests.Session) -> None:
        self.base, self.id, self.session = base, agent_id, session

    @property
    def cookie(self) -> str:
        return self.session.cookies.get("cs_session")

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(self.base + path, timeout=10, **kw)

    def post(self, path: str, body: Optional[dict] = None) -> requests.Response:
        return self.session.post(self.base + path, json=body if body is not None else {}, timeout=10)

    def online(self, status: str = "online") -> dict:
        return ok(self.session.put(self.base + "/api/me/status", json={"status": status}, timeout=10))["agent"]

    def listing(self, states: str = "queued,offered,active") -> List[dict]:
        return ok(self.get("/api/conversations", params={"state": states}))["conversations"]

    def conversation(self, cid: int) -> dict:
        return ok(self.get(f"/api/conversations/{cid}"))

    def state(self, cid: int) -> dict:
        return self.conversation(cid)["conversation"]

    def accept(self, cid: int) -> requests.Response:
        return self.post(f"/api/conversations/{cid}/accept")

    def decline(self, cid: int) -> requests.Response:
        return self.post(f"/api/conversations/{cid}/decline")

    def reply(self, cid: int, text: str) -> requests.Response:
        return self.post(f"/api/conversations/{cid}/messages", {"text": text})

    def transfer(self, cid: int, **target) -> requests.Response:
        return self.post(f"/api/conversations/{cid}/transfer", target)

    def resolve(self, cid: int, outcome: str) -> requests.Response:
        return self.post(f"/api/conversations/{cid}/resolve", {"outcome": outcome})

    def metrics(self) -> dict:
        return ok(self.get("/api/metrics"))


@dataclass
class Service:
    """`python -m handoff serve` on a var dir, and the bot's side of its API."""
    var_dir: Path
    rasa: FakeRasa
    log: Path
    port: int = field(default_factory=free_port)
    proc: Optional[subprocess.Popen] = None
    token: str = ""
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
        env.update({"CS_VAR_DIR": str(self.var_dir), "CS_HANDOFF_PORT": str(self.port),
                    "CS_RASA_PORT": str(self.rasa.port), "CS_RASA_TOKEN": RASA_TOKEN,
                    # other services' ports: free ones, so that nothing of a developer's stack is reached
                    "CS_ACTION_PORT": str(free_port()), "CS_WEB_PORT": str(free_port()),
                    "CS_HANDOFF_HOURS": "00:00-24:00", "CS_HANDOFF_OFFER_SECONDS": str(OFFER_SECONDS),
                    "CS_LOG_LEVEL": "INFO"})
        return env

    def start(self) -> "Service":
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"\n===== start {self.starts} =====\n".encode())
            self.proc = subprocess.Popen([str(VENV_BIN / "python"), "-m", "handoff", "serve"], cwd=ROOT,
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_healthy(self.proc, self.url + "/health", self.tail)
        self.token = (self.var_dir / "secrets" / "handoff_service_token").read_text().strip()
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"

    # --- the bot's side (the action server) ----------------------------------------------------------
    def bot(self, path: str, body: Any = None, token: Optional[str] = None, raw: Optional[bytes] = None,
            headers: Optional[dict] = None) -> requests.Response:
        token = self.token if token is None else token
        hdrs = {"Authorization": f"Bearer {token}"} if token else {}
        hdrs.update(headers or {})
        if raw is not None:
            return requests.post(self.url + path, data=raw, headers=hdrs, timeout=10)
        return requests.post(self.url + path, json=body, headers=hdrs, timeout=10)

    def handoff(self, sender: str, *, reason: str = "customer_request", tier: str = "normal",
                intents: Optional[List[str]] = None, order_task: Optional[str] = None, language: str = "en",
                issue: str = "help please", status: int = 201) -> dict:
        body = {"sender_id": sender, "channel": "socketio", "language": language, "reason": reason,
                "tier": tier, "intents": intents or [], "order_task": order_task,
                "summary": {"issue": issue, "transcript": [{"role": "customer", "text": issue}]}}
        return ok(self.bot("/api/handoffs", body), status)

    def relay(self, sender: str, text: str, ticket: bool = False) -> dict:
        return ok(self.bot("/api/relay", {"sender_id": sender, "text": text, "ticket": ticket}))

    def csat(self, handoff_id: Any, score: Any, comment: str = "") -> requests.Response:
        return self.bot("/api/csat", {"handoff_id": handoff_id, "score": score, "comment": comment})

    # --- agents -----------------------------------------------------------------------------------
    def login_response(self, agent_id: str, password: str = PASSWORD,
                       session: Optional[requests.Session] = None) -> requests.Response:
        return (session or requests).post(self.url + "/api/login", json={"agent_id": agent_id, "password": password},
                                          timeout=10)

    def login(self, agent_id: str, online: bool = False) -> Agent:
        session = requests.Session()
        ok(self.login_response(agent_id, session=session))
        agent = Agent(self.url, agent_id, session)
        if online:
            agent.online()
        return agent

    def outbox(self) -> List[tuple]:
        """(id, conversation_id, intent, attempts, delivered_at) of every outbox row, read from the database."""
        db = sqlite3.connect(self.var_dir / "handoff.sqlite3", timeout=10)
        try:
            return db.execute("SELECT id, conversation_id, intent, attempts, delivered_at FROM outbox "
                              "ORDER BY id").fetchall()
        finally:
            db.close()


# --- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def agents_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A handoff database with the test agents, added the documented way (`python -m handoff add-agent`)."""
    var_dir = tmp_path_factory.mktemp("handoff-template")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env.update({"CS_VAR_DIR": str(var_dir), "CS_AGENT_PASSWORD": PASSWORD})
    python = str(VENV_BIN / "python")
    # the schema first (one process), then the agents in parallel (SQLite serialises the writes)
    subprocess.run([python, "-c", "from handoff.app import open_store; from common.settings import Settings;"
                    "open_store(Settings.from_env())"], cwd=ROOT, env=env, check=True, timeout=60)
    procs = [subprocess.Popen([python, "-m", "handoff", "add-agent", agent_id, "--name", name, "--skills", skills,
                               "--role", role, "--capacity", str(capacity)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for agent_id, name, role, skills, capacity in AGENTS]
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out.decode()
    return var_dir / "handoff.sqlite3"


def _copy_db(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _service(agents_db: Path, rasa: FakeRasa, where: Path) -> Service:
    var_dir = where / "var"
    _copy_db(agents_db, var_dir / "handoff.sqlite3")
    return Service(var_dir, rasa, where / "handoff.log")


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    with FakeRasa(RASA_TOKEN) as fake:
        yield fake


@pytest.fixture
def service(agents_db: Path, rasa: FakeRasa, tmp_path: Path) -> Iterator[Service]:
    """A fresh service (the test agents, all offline; nothing else) delivering to `rasa`."""
    svc = _service(agents_db, rasa, tmp_path)
    try:
        yield svc.start()
    finally:
        svc.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
def shared(agents_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the tests that change nothing another test looks at: refused requests, logins,
    pages. Nobody goes online here (every handoff becomes a ticket)."""
    with FakeRasa(RASA_TOKEN) as fake:
        svc = _service(agents_db, fake, tmp_path_factory.mktemp("shared"))
        try:
            yield svc.start()
        finally:
            svc.kill(signal.SIGTERM)


# --- the fake itself: Rasa's answers ------------------------------------------------------------------
def test_the_fake_rasa_answers_as_rasa_3_6_does(rasa: FakeRasa):
    url = rasa.url + "/conversations/a%2Fb/trigger_intent"
    event = {"name": AGENT_MSG, "entities": {"agent_text": "hi", "agent_kind": "agent"}}
    for params in ({}, {"token": "wrong"}):
        denied = requests.post(url, params=params, json=event, timeout=5)
        assert denied.status_code == 401
        assert denied.json() | {"version": None, "help": None} == {
            "version": None, "status": "failure", "message": "User is not authenticated.",
            "reason": "NotAuthenticated", "details": {}, "help": None, "code": 401}
    token = {"token": RASA_TOKEN, "output_channel": "latest"}
    assert requests.post(url, params=token, data=b"{nope", timeout=5).status_code == 400
    nameless = requests.post(url, params=token, json={"entities": {}}, timeout=5)
    assert (nameless.status_code, nameless.json()["reason"]) == (400, "BadRequest")
    unknown = requests.post(url, params=token, json={"name": "greet"}, timeout=5)
    assert (unknown.status_code, unknown.json()["reason"]) == (404, "NotFound")  # Rasa 3.6: 404, not 400
    taken = requests.post(url, params=token, json=event, timeout=5)
    assert taken.status_code == 200
    body = taken.json()
    assert body["messages"] == [{"recipient_id": "a/b", "text": "hi"}]
    assert body["tracker"]["sender_id"] == "a/b"
    user = [e for e in body["tracker"]["events"] if e["event"] == "user"][-1]
    assert user["parse_data"]["intent"]["name"] == AGENT_MSG
    assert {"entity": "agent_text", "value": "hi"} in user["parse_data"]["entities"]
    assert [(c.sender_id, c.status) for c in rasa.calls()] == [("a/b", s) for s in (401, 401, 400, 400, 404, 200)]
    assert len(rasa.delivered()) == 1 and rasa.texts("a/b") == ["hi"]
    rasa.fail(503, count=1)
    assert requests.post(url, params=token, json=event, timeout=5).status_code == 503
    assert requests.post(url, params=token, json=event, timeout=5).status_code == 200
    with requests.Session() as kept_alive:
        assert kept_alive.post(url, params=token, json=event, timeout=5).status_code == 200
        rasa.down()
        with pytest.raises(requests.ConnectionError):  # also on a connection the client kept open
            kept_alive.post(url, params=token, json=event, timeout=5)
        rasa.up()
        assert kept_alive.post(url, params=token, json=event, timeout=5).status_code == 200


# --- the bot's endpoints: token and bodies ------------------------------------------------------------
def _all_conversations(svc: Service) -> List[dict]:
    return svc.login("sup").listing("queued,offered,active,ticket,closed,returned")


@pytest.mark.parametrize("path", ["/api/handoffs", "/api/relay", "/api/csat"])
def test_bot_endpoints_need_the_service_token(shared: Service, path: str):
    before = _all_conversations(shared)
    body = {"sender_id": "s-auth", "channel": "socketio", "reason": "customer_request", "text": "hi",
            "handoff_id": 1, "score": 5}
    for token, headers in (("", None), ("wrong-token", None), ("", {"Authorization": f"Basic {shared.token}"}),
                           (shared.token + "x", None), (shared.token[:-1], None)):
        response = shared.bot(path, body, token=token, headers=headers)
        assert "service token" in error(response, 401), (token, headers)
    # an agent's session is no service token either
    agent = shared.login("gen1")
    assert error(shared.bot(path, body, token=agent.cookie), 401)
    assert error(agent.post(path, body), 401)
    assert _all_conversations(shared) == before  # nothing was opened by the refused calls


BAD_HANDOFFS = [
    (None, b"not json", "JSON"),
    (None, b"[1, 2]", "JSON object"),
    (None, "{\"sender_id\": \"s1\"}".encode("utf-16"), "JSON"),
    ({"channel": "socketio", "reason": "customer_request"}, None, "sender_id"),
    ({"sender_id": "  ", "channel": "socketio", "reason": "customer_request"}, None, "sender_id"),
    ({"sender_id": 7, "channel": "socketio", "reason": "customer_request"}, None, "sender_id"),
    ({"sender_id": "s1", "reason": "customer_request"}, None, "channel"),
    ({"sender_id": "s1", "channel": "socketio"}, None, "reason"),
    ({"sender_id": "s1", "channel": "socketio", "reason": "bored"}, None, "unknown reason"),
    ({"sender_id": "s1", "channel": "socketio", "reason": "customer_request", "tier": "gold"}, None, "tier"),
    ({"sender_id": "s1", "channel": "socketio", "reason": "customer_request", "summary": "x"}, None, "summary"),
    ({"sender_id": "s1", "channel": "socketio", "reason": "customer_request", "intents": "x"}, None, "intents"),
    ({"sender_id": "x" * 201, "channel": "socketio", "reason": "customer_request"}, None, "longer than"),
]


@pytest.mark.parametrize("body, raw, says", BAD_HANDOFFS)
def test_a_malformed_handoff_is_refused_with_a_message(shared: Service, body, raw, says):
    before = _all_conversations(shared)
    message = error(shared.bot("/api/handoffs", body, raw=raw), 400)
    assert says.lower() in message.lower(), message
    assert _all_conversations(shared) == before


@pytest.mark.parametrize("body, says", [
    ({"text": "hello"}, "sender_id"),
    ({"sender_id": "s1"}, "text"),
    ({"sender_id": "s1", "text": ""}, "text"),
    ({"sender_id": "s1", "text": 42}, "text"),
])
def test_a_malformed_relay_is_refused(shared: Service, body, says):
    assert says in error(shared.bot("/api/relay", body), 400)


def test_relay_for_a_customer_without_people_is_404_and_bad_json_400(shared: Service):
    assert error(shared.bot("/api/relay", {"sender_id": "nobody-here", "text": "hi"}), 404)
    assert "JSON" in error(shared.bot("/api/relay", raw=b"{nope"), 400)


@pytest.mark.parametrize("score", [0, 6, "x", -1, 3.5, True, None, "", [4]])
def test_csat_score_must_be_1_to_5(shared: Service, score):
    message = error(shared.csat(1, score), 400)
    assert "1-5" in message, message


def test_csat_needs_a_conversation_number(shared: Service):
    assert "handoff_id" in error(shared.csat("H000001", 4), 400)
    assert "handoff_id" in error(shared.csat(None, 4), 400)
    assert "JSON" in error(shared.bot("/api/csat", raw=b"score=5"), 400)
    assert "not closed" in error(shared.csat(999999, 4), 409)  # a valid score for no such conversation


# --- intake: ticket or queue, position and wait -------------------------------------------------------
def test_handoff_with_nobody_online_becomes_a_ticket(shared: Service):
    opened = shared.handoff("s-ticket", intents=["ask_order_status"], issue="where is my parcel")
    assert opened["ticket"] is True and opened["position"] is None and opened["eta_seconds"] is None
    conv = opened["conversation"]
    assert conv["state"] == "ticket" and conv["queue"] == "orders" and conv["agent_id"] is None
    assert opened["ref"] == f"H{conv['id']:06d}" == conv["ref"]
    # the customer's next message is the message left for later, kept with the ticket
    shared.relay("s-ticket", "please call me back", ticket=True)
    detail = shared.login("sup").conversation(conv["id"])
    assert [(m["direction"], m["text"]) for m in detail["messages"]] == [("customer", "please call me back")]
    assert detail["summary"]["issue"] == "where is my parcel" and detail["summary"]["queue"] == "orders"
    # a ticket is not "with people": the same customer asking again files a new one
    again = shared.handoff("s-ticket", status=201)
    assert again["existing"] is False and again["conversation"]["id"] != conv["id"]


def test_a_repeated_request_id_files_nothing_new_even_for_a_ticket(shared: Service):
    """The bot's outbox repeats a request whose first try timed out on its side (actions/handoff_outbox.py)."""
    body = {"request_id": "req-once-1", "sender_id": "s-once", "channel": "socketio", "language": "zh",
            "reason": "customer_request", "summary": {"issue": "退货"}}
    first = ok(shared.bot("/api/handoffs", body), 201)
    assert first["ticket"] is True and first["existing"] is False
    again = ok(shared.bot("/api/handoffs", body), 200)  # a ticket is not "with people", but this is a repeat
    assert again["existing"] is True and again["ticket"] is True
    assert again["conversation"]["id"] == first["conversation"]["id"]
    fresh = ok(shared.bot("/api/handoffs", {**body, "request_id": "req-once-2"}), 201)  # a new request
    assert fresh["conversation"]["id"] != first["conversation"]["id"]
    assert "request_id" in error(shared.bot("/api/handoffs", {**body, "request_id": "x" * 101}), 400)


# --- agents: login, sessions -----------------------------------------------------------------------------
def test_login_wrong_password_401_and_lockout_after_5_failures(shared: Service):
    assert error(shared.login_response("gen2", "not-the-password"), 401)
    assert error(shared.login_response("no-such-agent"), 401)
    assert error(shared.login_response("gen2", ""), 401)
    assert "JSON" in error(requests.post(shared.url + "/api/login", data=b"agent_id=gen2", timeout=10), 400)
    ok(shared.login_response("gen2"))  # a success forgets the failures
    for attempt in range(5):
        assert error(shared.login_response("lockme", f"wrong-{attempt}"), 401)
    message = error(shared.login_response("lockme"), 429)  # even with the right password now
    assert "too many" in message
    assert error(shared.login_response("lockme", "wrong-again"), 429)
    ok(shared.login_response("gen2"))  # other agents are not locked out


def test_session_cookie_logout_and_bogus_cookies(shared: Service):
    agent = shared.login("gen1")
    cookie = next(c for c in agent.session.cookies if c.name == "cs_session")
    assert cookie.path == "/" and cookie.has_nonstandard_attr("HttpOnly")
    raw_header = shared.login_response("gen1").headers["Set-Cookie"]
    assert "HttpOnly" in raw_header and "SameSite=Strict" in raw_header, raw_header
    me = ok(agent.get("/api/me"))["agent"]
    assert me == {"id": "gen1", "name": "Gina", "role": "agent", "skills": ["general"], "capacity": 3,
                  "status": me["status"], "active": 0}
    # the same token as a bearer header works too (the console's WebSocket fallback)
    ok(requests.get(shared.url + "/api/me", headers={"Authorization": f"Bearer {agent.cookie}"}, timeout=10))
    token = agent.cookie
    assert agent.post("/api/logout").status_code == 204
    assert agent.cookie is None  # the cookie is cleared...
    # ...and the session ended on the server: the old token no longer works
    assert error(requests.get(shared.url + "/api/me", cookies={"cs_session": token}, timeout=10), 401)
    for bogus in ("", "bogus", token + "x", "a" * 5000):
        assert error(requests.get(shared.url + "/api/me", cookies={"cs_session": bogus}, timeout=10), 401)
    for path in ("/api/me", "/api/queues", "/api/conversations", "/api/metrics", "/api/canned",
                 "/api/conversations/1"):
        assert error(requests.get(shared.url + path, timeout=10), 401), path
    # another login of the same agent is a separate session, unaffected by that logout
    other = shared.login("gen1")
    ok(other.get("/api/me"))


# --- pages -----------------------------------------------------------------------------------------------
def test_console_page_is_served_with_a_content_security_policy(shared: Service):
    page = requests.get(shared.url + "/console/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    csp = page.headers.get("Content-Security-Policy", "")
    # scripts only from the service itself: no script-src loosening default-src 'self', no eval
    assert "default-src 'self'" in csp and "script-src" not in csp and "unsafe-eval" not in csp, csp
    assert page.headers.get("X-Content-Type-Options") == "nosniff"
    assert page.headers.get("X-Frame-Options") == "DENY"
    script = requests.get(shared.url + "/console/console.js", timeout=10)
    assert script.status_code == 200 and "Content-Security-Policy" in script.headers
    for path in ("/", "/console"):
        moved = requests.get(shared.url + path, allow_redirects=False, timeout=10)
        assert moved.status_code == 302 and moved.headers["Location"] == "/console/"
    assert requests.get(shared.url + "/console/../app.py", timeout=10).status_code == 404
    assert ok(requests.get(shared.url + "/health", timeout=10)) == {"status": "ok"}


def test_openapi_document_is_served(shared: Service):
    response = requests.get(shared.url + "/api/openapi.yaml", timeout=10)
    if not (ROOT / "handoff" / "openapi.yaml").exists():
        assert response.status_code == 404  # and not a 500
        pytest.skip("handoff/openapi.yaml does not exist yet")
    assert response.status_code == 200, response.text[:300]
    assert "yaml" in response.headers["Content-Type"]
    import yaml

    spec = yaml.safe_load(response.text)
    assert str(spec.get("openapi", "")).startswith("3.")
    for path in ("/api/handoffs", "/api/relay", "/api/csat", "/api/login", "/api/conversations/{id}/messages"):
        assert path in spec["paths"], path


# --- routing: who gets what --------------------------------------------------------------------------------
def _offer(opened: dict) -> tuple:
    conv = opened["conversation"]
    return conv["state"], conv["agent_id"]


def test_handoff_is_offered_to_the_best_agent(service: Service, rasa: FakeRasa):
    gen1 = service.login("gen1", online=True)  # online first: idle longest
    service.login("gen2", online=True)
    service.login("ord", online=True)
    opened = service.handoff("c-order", intents=["greet", "ask_order_status"])
    assert _offer(opened) == ("offered", "ord")  # the only one with the orders skill
    assert opened["position"] is None and opened["ticket"] is False and opened["existing"] is False
    gen_1 = service.handoff("c-gen-1")
    assert _offer(gen_1) == ("offered", "gen1")  # equal load: idle longest
    assert _offer(service.handoff("c-gen-2")) == ("offered", "gen2")  # least loaded
    ok(gen1.accept(gen_1["conversation"]["id"]))
    assert _offer(service.handoff("c-gen-3")) == ("offered", "gen1")  # 1/3 each: idle longest again
    assert _offer(service.handoff("c-gen-4")) == ("offered", "gen2")
    # nobody online with the skill: a ticket, though other agents are online and free
    complaint = service.handoff("c-complaint", reason="complaint")
    assert complaint["ticket"] is True and complaint["conversation"]["queue"] == "complaints"
    vip = service.handoff("c-vip", tier="vip")
    assert vip["ticket"] is True and vip["conversation"]["queue"] == "vip"
    # an agent going away takes no new offers
    service.login("ord").online("away")
    assert service.handoff("c-order-2", order_task="status")["ticket"] is True
    # offers are not announced to customers; the accepted one is told who joined
    wait_for(lambda: rasa.delivered("c-gen-1"), "the joined notice")
    assert [c.sender_id for c in rasa.calls()] == ["c-gen-1"]


def test_vip_first_then_priority_then_first_come_first_served(service: Service, rasa: FakeRasa):
    solo = service.login("solo", online=True)  # general, orders, vip; one conversation at a time
    first = service.handoff("c1", language="en")
    assert _offer(first) == ("offered", "solo")
    opened = {"c2": service.handoff("c2", language="en"),
              "c3": service.handoff("c3", order_task="status", language="en"),
              "c4": service.handoff("c4", language="en"),
              "c5": service.handoff("c5", tier="vip", language="en")}
    ids = {sender: o["conversation"]["id"] for sender, o in opened.items()}
    ids["c1"] = first["conversation"]["id"]
    assert all(o["conversation"]["state"] == "queued" and o["ticket"] is False for o in opened.values())
    # the place in line among those who need the same skill, and the wait: 300 s per place (one agent, one slot)
    assert {s: (o["position"], o["eta_seconds"]) for s, o in opened.items()} == {
        "c2": (1, 300), "c3": (1, 300), "c4": (2, 600), "c5": (1, 300)}
    # asking again while waiting: the same conversation, the same place
    again = service.handoff("c4", language="en", status=200)
    assert again["existing"] is True and again["conversation"]["id"] == ids["c4"] and again["position"] == 2
    sup = service.login("sup")
    queued = sup.listing("queued")
    assert [c["sender_id"] for c in queued] == ["c5", "c3", "c2", "c4"]  # the order of service
    assert [c["position"] for c in queued] == [1, 1, 1, 2]
    served = []
    for _ in range(4):
        ok(solo.accept(ids["c1"] if not served else ids[served[-1]]))
        ok(solo.resolve(ids["c1"] if not served else ids[served[-1]], "close"))
        now = [c for c in sup.listing("offered")]
        assert len(now) == 1 and now[0]["agent_id"] == "solo", now
        served.append(now[0]["sender_id"])
    assert served == ["c5", "c3", "c2", "c4"]  # VIP (earliest of all? no: last) first; orders before general; FIFO


def test_a_waiting_customer_who_moves_up_is_told_the_new_place(service: Service, rasa: FakeRasa):
    solo = service.login("solo", online=True)
    c1 = service.handoff("p1", language="en")["conversation"]["id"]
    assert service.handoff("p2", language="en")["position"] == 1
    third = service.handoff("p3", language="zh")
    assert (third["position"], third["eta_seconds"]) == (2, 600)
    moved_up = "您现在排在第 1 位，预计约 5 分钟，感谢耐心等待。"
    time.sleep(0.3)
    assert moved_up not in rasa.texts("p3")
    ok(solo.accept(c1))
    settle(solo, c1)
    ok(solo.resolve(c1, "bot"))  # p2 is offered the free slot; p3 moves up to 1
    wait_for(lambda: moved_up in rasa.texts("p3"), "the position notice to p3")
    notice = [c for c in rasa.delivered("p3") if c.entities["agent_text"] == moved_up]
    assert len(notice) == 1 and notice[0].intent == AGENT_MSG and notice[0].token == RASA_TOKEN
    assert notice[0].entities == {"agent_text": moved_up, "agent_kind": "system"}
    assert moved_up not in rasa.texts("p2")  # p2 is being offered (the agent's "joined" comes on accept)
    sup = service.login("sup")
    assert [(c["sender_id"], c["position"]) for c in sup.listing("queued")] == [("p3", 1)]
    messages = sup.conversation(third["conversation"]["id"])["messages"]
    assert ("system", moved_up) in [(m["direction"], m["text"]) for m in messages]
    wait_for(lambda: all(m["delivered_at"] for m in sup.conversation(third["conversation"]["id"])["messages"]),
             "delivered_at of the notices")
    # what does not move p3 up tells p3 nothing new
    told = len(rasa.calls("p3"))
    ord_ = service.login("ord", online=True)
    ord_.online("away")
    assert service.handoff("p4", language="en")["position"] == 2
    time.sleep(0.5)
    assert len(rasa.calls("p3")) == told


def test_joining_the_line_sends_no_position_notice(service: Service, rasa: FakeRasa):
    service.login("solo", online=True)
    service.handoff("n1", language="en")  # offered
    assert service.handoff("n2", language="en")["position"] == 1  # the bot tells this from the answer
    assert service.handoff("n3", language="en")["position"] == 2
    time.sleep(1.0)
    assert rasa.calls("n2") == [] and rasa.calls("n3") == []


# --- agents' actions and what reaches the customer through Rasa ---------------------------------------------
def _active(service: Service, agent_id: str, sender: str, language: str = "en") -> tuple:
    """`agent_id` (logged in, online) has accepted `sender`'s new conversation; the joined notice is delivered."""
    agent = service.login(agent_id, online=True)
    opened = service.handoff(sender, language=language)
    assert opened["conversation"]["agent_id"] == agent_id, opened
    cid = opened["conversation"]["id"]
    ok(agent.accept(cid))
    settle(agent, cid)
    assert len(service.rasa.delivered(sender)) == 1
    return agent, cid


def settle(agent: Agent, cid: int) -> dict:
    """Wait until everything sent to the customer so far is marked delivered (the delivery worker is then
    idle again: a reply sent while it is busy may wait 5 s, see the xfail test about it)."""
    return wait_for(lambda: _all_delivered(agent, cid), f"delivered_at of conversation {cid}'s messages")


def _all_delivered(agent: Agent, cid: int) -> Optional[dict]:
    """The conversation's detail once every message to the customer has its delivered_at, else None."""
    detail = agent.conversation(cid)
    outgoing = [m for m in detail["messages"] if m["direction"] != "customer"]
    return detail if all(m["delivered_at"] for m in outgoing) else None


def nudge(sup: Agent) -> bool:
    """Any event wakes the delivery worker: a supervisor (never online in these tests) stays away."""
    assert sup.online("away")["role"] == "supervisor"
    return True


def test_accept_only_what_is_offered_to_me(service: Service, rasa: FakeRasa):
    gen1 = service.login("gen1", online=True)
    gen2 = service.login("gen2")  # same skill, offline
    sup = service.login("sup")
    cid = service.handoff("a1", language="en")["conversation"]["id"]
    assert sup.state(cid)["agent_id"] == "gen1"
    # offered to gen1: another agent may not take it, nor may a supervisor
    assert "not in your queues" in error(gen2.accept(cid), 403)  # an offer to someone else is not theirs to see
    assert "offered to another agent" in error(sup.accept(cid), 409)
    assert error(service.login("ord").accept(cid), 403)  # no skill either
    assert error(gen2.decline(cid), 403)
    accepted = ok(gen1.accept(cid))["conversation"]
    assert accepted["state"] == "active" and accepted["agent_id"] == "gen1"
    assert error(gen1.accept(cid), 409)  # already active
    assert error(gen1.decline(cid), 409)  # not an offer any more
    assert error(gen2.accept(cid), 403)
    assert error(gen1.accept(999999), 409)
    assert error(gen1.post("/api/conversations/abc/accept"), 404)
    assert error(gen2.get(f"/api/conversations/{cid}"), 404)  # not in gen2's queues
    # a ticket (left while nobody was online) can be taken later by anyone with the skill
    ticket = service.handoff("a2", reason="complaint", language="en")  # nobody has the complaints skill online
    assert ticket["ticket"] is True
    assert error(gen2.accept(ticket["conversation"]["id"]), 403)
    assert ok(sup.accept(ticket["conversation"]["id"]))["conversation"]["state"] == "active"
    wait_for(lambda: len(rasa.delivered("a2")) == 1, "sup's joined notice")
    assert rasa.delivered("a2")[0].entities["agent_text"].startswith("Sue from customer service has joined")


def test_an_agent_sees_only_their_queues_and_a_supervisor_sees_all(service: Service):
    service.login("solo", online=True)  # takes the first general one, so the others wait
    service.handoff("v-gen-0")
    queued = {s: service.handoff(s, **kw)["conversation"]["id"] for s, kw in (
        ("v-gen", {}), ("v-ord", {"order_task": "logistics"}), ("v-vip", {"tier": "vip"}))}
    tickets = {"v-complaint": service.handoff("v-complaint", reason="escalation")["conversation"]["id"]}
    senders = lambda agent, states="queued,offered,active,ticket": [c["sender_id"] for c in agent.listing(states)]  # noqa: E731
    gen1, ord_, sup = service.login("gen1"), service.login("ord"), service.login("sup")
    assert senders(gen1) == ["v-gen"]
    assert senders(ord_) == ["v-ord"]
    assert senders(service.login("solo")) == ["v-vip", "v-ord", "v-gen-0", "v-gen"]  # its own offer too
    assert senders(sup) == ["v-vip", "v-complaint", "v-ord", "v-gen-0", "v-gen"]  # priority, then time
    assert error(gen1.get(f"/api/conversations/{queued['v-ord']}"), 404)
    assert error(gen1.get(f"/api/conversations/{tickets['v-complaint']}"), 404)
    assert ok(sup.get(f"/api/conversations/{tickets['v-complaint']}"))["conversation"]["state"] == "ticket"
    assert "unknown state" in error(gen1.get("/api/conversations", params={"state": "queued,lost"}), 400)
    # the queues' numbers are the same for everyone (the console's transfer menu needs them all);
    # the agents' list is for supervisors only
    q_agent, q_sup = ok(gen1.get("/api/queues")), ok(sup.get("/api/queues"))
    assert q_agent["agents"] == []
    assert [q["name"] for q in q_agent["queues"]] == ["complaints", "vip", "after_sales", "orders", "general"]
    waiting = {q["name"]: q["waiting"] for q in q_sup["queues"]}
    assert waiting == {"complaints": 0, "vip": 1, "after_sales": 0, "orders": 1, "general": 1}
    agents = {a["id"]: a for a in q_sup["agents"]}
    assert set(agents) == {a[0] for a in AGENTS}
    assert agents["solo"]["status"] == "online" and agents["solo"]["active"] == 1
    assert "password_hash" not in agents["solo"]


def test_reply_reaches_rasa_after_the_joined_notice_and_is_marked_delivered(service: Service, rasa: FakeRasa):
    gen1, cid = _active(service, "gen1", "r1")
    service.relay("r1", "Where is my parcel?")
    first = ok(gen1.reply(cid, "Hello, I am Gina. "), 201)["message"]
    assert first["direction"] == "agent" and first["agent_id"] == "gen1" and first["text"] == "Hello, I am Gina."
    assert first["delivered_at"] is None
    settle(gen1, cid)
    ok(gen1.reply(cid, "Let me check your order 240813006624."), 201)
    wait_for(lambda: len(rasa.delivered("r1")) == 3, "three deliveries")
    calls = rasa.calls("r1")
    assert [(c.intent, c.entities) for c in calls] == [
        (AGENT_MSG, {"agent_text": "Gina from customer service has joined and has read your conversation.",
                     "agent_kind": "system"}),
        (AGENT_MSG, {"agent_text": "Hello, I am Gina.", "agent_kind": "agent"}),
        (AGENT_MSG, {"agent_text": "Let me check your order 240813006624.", "agent_kind": "agent"}),
    ]
    assert all(c.status == 200 and c.token == RASA_TOKEN and c.output_channel == "latest" for c in calls)
    detail = wait_for(lambda: _all_delivered(gen1, cid), "delivered_at of the agent's messages")
    messages = detail["messages"]
    assert [(m["direction"], m["agent_id"]) for m in messages] == [
        ("system", None), ("customer", None), ("agent", "gen1"), ("agent", "gen1")]
    customer = messages[1]
    assert customer["text"] == "Where is my parcel?" and customer["delivered_at"] is None  # not sent back
    for m in messages[2:]:
        assert m["created_at"] <= m["delivered_at"] <= time.time() + 1
    conv = detail["conversation"]
    assert conv["first_response_at"] == messages[2]["created_at"] and conv["sla"]["state"] == "met"
    assert gen1.metrics()["undelivered"] == 0
    time.sleep(0.3)
    assert len(rasa.calls()) == 3  # each exactly once


def test_reply_only_while_the_conversation_is_active_with_me(service: Service, rasa: FakeRasa):
    gen1 = service.login("gen1", online=True)
    gen2, sup = service.login("gen2"), service.login("sup")
    cid = service.handoff("q1")["conversation"]["id"]
    assert "not active" in error(gen1.reply(cid, "too early"), 409)  # offered, not accepted yet
    ok(gen1.accept(cid))
    settle(gen1, cid)
    assert error(gen2.reply(cid, "not mine"), 409)
    assert error(sup.reply(cid, "supervisor barging in"), 409)
    assert error(gen1.reply(999999, "nowhere"), 409)
    assert "text" in error(gen1.reply(cid, "   "), 400)
    assert "longer than" in error(gen1.reply(cid, "x" * 4001), 400)
    assert error(requests.post(f"{service.url}/api/conversations/{cid}/messages", json={"text": "anon"},
                               timeout=10), 401)
    assert error(gen1.post(f"/api/conversations/{cid}/messages", None), 400)
    ok(gen1.reply(cid, "the real one"), 201)
    settle(gen1, cid)
    ok(gen1.resolve(cid, "bot"))
    assert error(gen1.reply(cid, "after the end"), 409)
    wait_for(lambda: len(rasa.delivered("q1")) == 3, "joined, the reply, the end")
    time.sleep(0.3)
    assert [c.entities.get("agent_text", c.entities.get("outcome")) for c in rasa.calls("q1")] == [
        "Gina from customer service has joined and has read your conversation.", "the real one", "bot"]
    texts = [m["text"] for m in gen1.conversation(cid)["messages"]]
    assert not any(t in texts for t in ("too early", "not mine", "supervisor barging in", "after the end"))


# --- delivery when Rasa is down, failing, slow or refusing the token ----------------------------------------
def test_rasa_down_keeps_replies_until_it_is_back_in_order(service: Service, rasa: FakeRasa):
    gen1, cid = _active(service, "gen1", "d1")
    rasa.down()
    for text in ("one", "two", "three"):
        ok(gen1.reply(cid, text), 201)
    # the service tries (and keeps the items); nothing is marked delivered; the metrics show the backlog
    wait_for(lambda: any(row[3] >= 2 for row in service.outbox()), "two failed attempts")
    assert gen1.metrics()["undelivered"] == 3
    assert [m["delivered_at"] for m in gen1.conversation(cid)["messages"][1:]] == [None, None, None]
    # only the first item of the conversation is tried: the others wait behind it
    assert [row[3] for row in service.outbox()[1:]][1:] == [0, 0]
    assert "ConnectionError" in _last_error(service) or "Connector" in _last_error(service)
    rasa.up()  # and nobody does anything: the retry alone delivers them
    settle(gen1, cid)
    assert rasa.texts("d1")[1:] == ["one", "two", "three"]
    assert len(rasa.calls("d1")) == 4  # refused connections never reached it; nothing was sent twice
    assert gen1.metrics()["undelivered"] == 0


def _last_error(service: Service) -> str:
    db = sqlite3.connect(service.var_dir / "handoff.sqlite3", timeout=10)
    try:
        return (db.execute("SELECT last_error FROM outbox WHERE last_error IS NOT NULL ORDER BY id DESC "
                           "LIMIT 1").fetchone() or [""])[0]
    finally:
        db.close()


def test_rasa_errors_are_retried_with_growing_pauses_and_order_is_kept(service: Service, rasa: FakeRasa):
    gen1, stuck = _active(service, "gen1", "e-stuck")
    gen2, fine = _active(service, "gen2", "e-fine")
    rasa.fail(500, count=3, sender="e-stuck")  # Rasa fails this customer's next 3 events, then recovers
    ok(gen1.reply(stuck, "first"), 201)
    ok(gen1.reply(stuck, "second"), 201)
    ok(gen2.reply(fine, "meanwhile"), 201)
    settle(gen2, fine)  # the other conversation's reply goes out (at the latest after the first pause)
    assert rasa.texts("e-fine")[1:] == ["meanwhile"]
    settle(gen1, stuck)  # nobody does anything more: the retries alone deliver
    assert rasa.texts("e-stuck")[1:] == ["first", "second"]
    calls = rasa.calls("e-stuck")[1:]
    assert [(c.entities["agent_text"], c.status) for c in calls] == [
        ("first", 500), ("first", 500), ("first", 500), ("first", 200), ("second", 200)]  # "second" waited
    gaps = [b.received_at - a.received_at for a, b in zip(calls, calls[1:4], strict=False)]
    assert 0.8 < gaps[0] < 1.6 and 1.8 < gaps[1] < 2.8 and 3.8 < gaps[2] < 5.0, gaps  # 1 s, 2 s, 4 s
    assert "500" in _last_error(service) and "ConversationError" in _last_error(service)
    assert gen1.metrics()["undelivered"] == 0


def test_a_failing_conversation_does_not_delay_the_others(service: Service, rasa: FakeRasa):
    gen1, stuck = _active(service, "gen1", "f-stuck")
    gen2, fine = _active(service, "gen2", "f-fine")
    rasa.fail(500, sender="f-stuck")
    ok(gen1.reply(stuck, "never"), 201)
    wait_for(lambda: len(rasa.calls("f-stuck")) >= 4, "three failed attempts")  # the worker now pauses 4 s
    time.sleep(0.2)
    ok(gen2.reply(fine, "hello"), 201)
    sent = time.monotonic()
    settle(gen2, fine)
    assert time.monotonic() - sent < 1.5


def test_a_wrong_rasa_token_is_refused_and_nothing_is_lost(service: Service, rasa: FakeRasa):
    gen1, cid = _active(service, "gen1", "t1")
    rasa.token = "rotated-token"  # Rasa now expects another token
    ok(gen1.reply(cid, "are you there?"), 201)
    wait_for(lambda: [c for c in rasa.calls("t1") if c.status == 401], "a 401 from Rasa")
    wait_for(lambda: "401" in _last_error(service), "the refusal recorded with the outbox item")
    assert "NotAuthenticated" in _last_error(service)
    assert gen1.metrics()["undelivered"] == 1
    rasa.token = RASA_TOKEN
    settle(gen1, cid)
    assert rasa.texts("t1")[1:] == ["are you there?"]


def test_a_slow_rasa_does_not_slow_the_api(service: Service, rasa: FakeRasa):
    gen1, cid = _active(service, "gen1", "slow1")
    rasa.slow(2.0, count=1)
    ok(gen1.reply(cid, "slowly"), 201)
    wait_for(lambda: [c for c in rasa.calls("slow1") if c.status is None], "the call in flight")
    started = time.monotonic()
    ok(requests.get(service.url + "/health", timeout=10))
    gen1.conversation(cid)
    service.handoff("slow2")
    assert time.monotonic() - started < 1.0
    settle(gen1, cid)
    assert rasa.texts("slow1")[1:] == ["slowly"]


def test_a_reply_sent_while_another_is_in_flight_is_not_held_back(service: Service, rasa: FakeRasa):
    gen1, cid = _active(service, "gen1", "burst")
    rasa.slow(0.5, count=1)
    ok(gen1.reply(cid, "first"), 201)
    wait_for(lambda: [c for c in rasa.calls("burst") if c.status is None], "the first reply in flight")
    ok(gen1.reply(cid, "second"), 201)
    sent = time.monotonic()
    wait_for(lambda: "second" in rasa.texts("burst"), "the second reply", timeout=WAIT)
    assert time.monotonic() - sent < 2.0, "the second reply waited for the worker's idle timeout"


# --- offers that are not taken ----------------------------------------------------------------------------
def test_an_offer_not_taken_in_time_goes_back_to_the_line_then_to_another_agent(service: Service):
    gen1 = service.login("gen1", online=True)
    sup = service.login("sup")
    opened = service.handoff("o1")
    cid = opened["conversation"]["id"]
    assert _offer(opened) == ("offered", "gen1")
    offered_at = opened["conversation"]["assigned_at"]
    time.sleep(max(0.0, offered_at + OFFER_SECONDS - 1.0 - time.time()))
    assert sup.state(cid)["state"] == "offered"  # not before its time
    back = wait_for(lambda: (c := sup.state(cid))["state"] == "queued" and c,
                    "the lapsed offer back in the line", timeout=OFFER_SECONDS + 4)
    assert time.time() - offered_at >= OFFER_SECONDS
    assert back["agent_id"] is None and back["assigned_at"] is None and back["position"] == 1
    assert back["created_at"] == opened["conversation"]["created_at"]  # keeps its place in time
    # whoever lets an offer lapse is not at the desk: set away, so not offered it (nor anything) again
    assert ok(gen1.get("/api/me"))["agent"]["status"] == "away"
    assert [(c["id"], c["state"]) for c in gen1.listing()] == [(cid, "queued")]  # still in the line gen1 serves
    gen2 = service.login("gen2", online=True)  # the next free agent gets it
    assert (sup.state(cid)["state"], sup.state(cid)["agent_id"]) == ("offered", "gen2")
    assert ok(gen2.accept(cid))["conversation"]["state"] == "active"


def test_a_lapsed_offer_goes_to_another_free_agent(service: Service):
    service.login("gen1", online=True)
    service.login("gen2", online=True)
    sup = service.login("sup")
    first = service.handoff("o2")["conversation"]
    assert first["agent_id"] == "gen1"
    again = wait_for(lambda: (c := sup.state(first["id"]))["assigned_at"] != first["assigned_at"] and c,
                     "the offer lapsing", timeout=OFFER_SECONDS + 4)
    assert (again["state"], again["agent_id"]) == ("offered", "gen2")


def test_a_declined_offer_goes_to_another_free_agent_never_back(service: Service):
    gen1 = service.login("gen1", online=True)
    sup = service.login("sup")
    cid = service.handoff("o3")["conversation"]["id"]
    assert ok(gen1.decline(cid))["conversation"]["state"] == "queued"
    assert (sup.state(cid)["state"], sup.state(cid)["agent_id"]) == ("queued", None)  # not back to gen1
    assert ok(gen1.get("/api/me"))["agent"]["status"] == "online"  # declining is not being away
    other = service.handoff("o4")  # gen1 still takes other conversations
    assert _offer(other) == ("offered", "gen1")
    gen2 = service.login("gen2", online=True)
    assert sup.state(cid)["agent_id"] == "gen2"
    ok(gen2.decline(cid))  # declined by everyone able: it waits (for a pull, a transfer or a new agent)
    assert sup.state(cid)["state"] == "queued"
    assert ok(gen1.accept(cid))["conversation"]["agent_id"] == "gen1"  # a decliner may still pull it


# --- customers: a VIP's advisor, a returning customer's last agent, the profile (docs/customers.md) -------
def _customer_handoff(service: Service, customer_id: str, tier: str = "normal", segment: Optional[str] = None) -> dict:
    body = {"sender_id": f"customer:{customer_id}", "channel": "socketio", "language": "en",
            "reason": "customer_request", "customer_id": customer_id, "tier": tier, "segment": segment,
            "intents": [], "summary": {"issue": "help please"}}
    return ok(service.bot("/api/handoffs", body), 201)


def test_a_vip_with_an_advisor_is_offered_to_the_advisor_first(service: Service):
    solo = service.login("solo", online=True)  # has the vip skill
    gen1 = service.login("gen1", online=True)  # general only, but the advisor
    sup = service.login("sup")
    assert ok(sup.session.put(service.url + "/api/customers/VIP1/advisor", json={"agent_id": "gen1"},
                              timeout=10)) == {"customer_id": "VIP1", "advisor": "gen1"}
    error(gen1.session.put(service.url + "/api/customers/VIP1/advisor", json={"agent_id": "gen1"}, timeout=10), 403)
    error(sup.session.put(service.url + "/api/customers/VIP1/advisor", json={"agent_id": "nobody"}, timeout=10), 400)
    opened = _customer_handoff(service, "VIP1", tier="vip", segment="core")
    conversation = opened["conversation"]
    assert (conversation["queue"], conversation["state"], conversation["agent_id"], conversation["segment"]) == \
        ("vip", "offered", "gen1", "core")
    # without an advisor the VIP queue's agent takes it
    assert _offer(_customer_handoff(service, "VIP2", tier="vip")) == ("offered", "solo")
    # the advisor is full (after a decline: not offered again) -> the VIP queue
    ok(gen1.decline(conversation["id"]))
    assert sup.state(conversation["id"])["state"] == "queued"  # solo (capacity 1) is busy with VIP2
    # the advisor set with the CLI (on the service's database) counts from the next round of offers
    env = {**service.env}
    done = subprocess.run([str(VENV_BIN / "python"), "-m", "handoff", "assign-advisor", "VIP3", "gen1"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "advisor gen1" in done.stdout, done.stdout + done.stderr
    assert _offer(_customer_handoff(service, "VIP3", tier="vip")) == ("offered", "gen1")
    # the profile: the agent with the customer's conversation and supervisors; nobody else
    profile = ok(gen1.get("/api/customers/VIP3/profile"))
    assert (profile["customer_id"], profile["advisor"], profile["advisor_name"]) == ("VIP3", "gen1", "Gina")
    assert profile["handoffs"]["count"] == 1 and profile["handoffs"]["open"] == 1
    assert ok(sup.get("/api/customers/VIP1/profile"))["advisor"] == "gen1"
    ord_ = service.login("ord")
    error(ord_.get("/api/customers/VIP3/profile"), 404)
    error(sup.get("/api/customers/NOBODY/profile"), 404)
    assert solo


def test_a_returning_customer_is_offered_to_their_last_agent(service: Service):
    gen1 = service.login("gen1", online=True)  # online first: idle longest
    gen2 = service.login("gen2", online=True)
    first = _customer_handoff(service, "C1")["conversation"]
    assert first["agent_id"] == "gen1"
    ok(gen1.accept(first["id"]))
    ok(gen1.resolve(first["id"], "bot"))
    busy = service.handoff("c-busy")["conversation"]  # gen1 again (equal load, idle longest)...
    assert busy["agent_id"] == "gen1"
    ok(gen1.accept(busy["id"]))
    # ...so gen2 is the less loaded one now, yet the returning customer goes to gen1
    again = _customer_handoff(service, "C1")["conversation"]
    assert (again["state"], again["agent_id"]) == ("offered", "gen1")
    assert _offer(service.handoff("c-new")) == ("offered", "gen2")  # a new customer: the usual rules
    assert gen2


# --- transfers ------------------------------------------------------------------------------------------
def test_transfer_to_a_queue_and_to_an_agent(service: Service, rasa: FakeRasa):
    gen1, cid = _active(service, "gen1", "x1")
    ord_ = service.login("ord", online=True)
    gen2 = service.login("gen2")
    sup = service.login("sup")
    assert "give 'queue' or 'agent_id'" in error(gen1.transfer(cid), 400)
    assert "no queue" in error(gen1.transfer(cid, queue="billing"), 400)
    assert "no agent" in error(gen1.transfer(cid, agent_id="nobody"), 400)
    assert error(gen2.transfer(cid, queue="orders"), 403)  # not gen2's conversation
    # to the orders queue: back in line there, then offered to the agent with that skill
    moved = ok(gen1.transfer(cid, queue="orders"))["conversation"]
    assert moved["queue"] == "orders"
    settle(sup, cid)
    now = sup.state(cid)
    assert (now["state"], now["agent_id"], now["queue"]) == ("offered", "ord", "orders")
    assert error(gen1.get(f"/api/conversations/{cid}"), 404)  # gone from gen1's view
    assert error(gen1.reply(cid, "still here?"), 409)
    ok(ord_.accept(cid))
    settle(ord_, cid)
    assert rasa.texts("x1") == [
        "Gina from customer service has joined and has read your conversation.",
        "Your conversation is being passed to a colleague who can help better; please hold on.",
        "Olga from customer service has joined and has read your conversation."]
    assert [e["agent_kind"] for e in (c.entities for c in rasa.delivered("x1"))] == ["system"] * 3
    # to an agent: offered to them directly (whatever the queue)
    handed = ok(ord_.transfer(cid, agent_id="gen2"))["conversation"]
    assert (handed["state"], handed["agent_id"], handed["queue"]) == ("offered", "gen2", "orders")
    settle(sup, cid)
    assert ok(gen2.accept(cid))["conversation"]["agent_id"] == "gen2"
    settle(gen2, cid)
    ok(gen2.reply(cid, "Gus here."), 201)
    settle(gen2, cid)
    assert rasa.texts("x1")[3:] == [
        "Your conversation is being passed to a colleague who can help better; please hold on.",
        "Gus from customer service has joined and has read your conversation.", "Gus here."]
    history = [(m["direction"], m["agent_id"]) for m in sup.conversation(cid)["messages"]]
    assert history[-1] == ("agent", "gen2")


def test_a_supervisor_reassigns_an_agents_conversation_an_agent_cannot(service: Service, rasa: FakeRasa):
    gen1, cid = _active(service, "gen1", "y1")
    gen2, sup = service.login("gen2"), service.login("sup")
    assert "supervisor" in error(gen2.transfer(cid, agent_id="gen2"), 403)  # taking it is not allowed either
    assert error(gen2.resolve(cid, "close"), 403)
    assert sup.state(cid)["agent_id"] == "gen1"
    reassigned = ok(sup.transfer(cid, agent_id="gen2"))["conversation"]
    assert (reassigned["state"], reassigned["agent_id"]) == ("offered", "gen2")
    assert error(gen1.reply(cid, "mine?"), 409)
    settle(sup, cid)
    ok(gen2.accept(cid))
    settle(sup, cid)
    assert ok(sup.transfer(cid, queue="general"))["conversation"]["queue"] == "general"
    assert sup.state(cid)["state"] in ("queued", "offered")  # gen1 (online) may be offered it again
    settle(sup, cid)
    ok(sup.resolve(cid, "bot"))  # a supervisor may also end someone else's conversation
    wait_for(lambda: rasa.delivered("y1", ENDED), "the end")


def test_an_agent_transfer_gives_the_new_agent_the_full_offer_time(service: Service):
    gen1, cid = _active(service, "gen1", "z1")
    service.login("gen2", online=True)
    sup = service.login("sup")
    time.sleep(OFFER_SECONDS + 0.5)  # a conversation held for a while (minutes, in real life)
    ok(gen1.transfer(cid, agent_id="gen2"))
    time.sleep(3.0)  # more than a housekeeping tick, well within the offer time
    now = sup.state(cid)
    assert (now["state"], now["agent_id"]) == ("offered", "gen2")


# --- the end of a conversation with people, and the rating ----------------------------------------------------
def test_resolve_close_ends_it_in_rasa_then_the_rating_is_stored(service: Service, rasa: FakeRasa):
    gen1, cid = _active(service, "gen1", "end1")
    ok(gen1.reply(cid, "Your refund is on its way."), 201)
    settle(gen1, cid)
    assert "not closed" in error(service.csat(cid, 5), 409)  # no rating while it is open
    assert "'outcome'" in error(gen1.resolve(cid, "done"), 400)
    assert error(service.login("gen2").resolve(cid, "close"), 403)
    closed = ok(gen1.resolve(cid, "close"))["conversation"]
    assert closed["state"] == "closed" and closed["closed_at"] is not None
    assert error(gen1.resolve(cid, "close"), 409)
    wait_for(lambda: rasa.delivered("end1", ENDED), "the end of the handoff in Rasa")
    calls = rasa.calls("end1")
    assert [c.intent for c in calls] == [AGENT_MSG, AGENT_MSG, ENDED]  # after everything said before it
    assert calls[-1].entities == {"outcome": "close", "handoff_id": str(cid)}
    # the bot asks for the rating and files the answer
    ok(service.csat(cid, 4, "quick and kind"))
    detail = gen1.conversation(cid)
    assert detail["csat"] == {"score": 4, "comment": "quick and kind"}
    metrics = gen1.metrics()
    assert metrics["csat"] == {"count": 1, "average": 4.0}
    assert metrics["by_state"]["closed"] == 1 and metrics["undelivered"] == 0
    # a second conversation rated "2" (a string, as a button payload may send it)
    gen1.online("away")
    gen2, other = _active(service, "gen2", "end2")
    ok(gen2.resolve(other, "close"))
    ok(service.csat(other, "2"))
    assert gen1.metrics()["csat"] == {"count": 2, "average": 3.0}
    # the customer's messages no longer go to people
    assert error(service.bot("/api/relay", {"sender_id": "end1", "text": "thanks!"}), 404)


def test_resolve_back_to_the_bot(service: Service, rasa: FakeRasa):
    gen1, cid = _active(service, "gen1", "bot1")
    returned = ok(gen1.resolve(cid, "bot"))["conversation"]
    assert returned["state"] == "returned"
    wait_for(lambda: rasa.delivered("bot1", ENDED), "the end of the handoff in Rasa")
    assert rasa.delivered("bot1", ENDED)[0].entities == {"outcome": "bot", "handoff_id": str(cid)}
    assert "not closed" in error(service.csat(cid, 5), 409)  # no survey after a hand-back
    assert gen1.metrics()["by_state"]["returned"] == 1
    # the customer may ask for people again: a new conversation
    again = service.handoff("bot1")
    assert again["existing"] is False and again["conversation"]["id"] != cid


# --- live updates ----------------------------------------------------------------------------------------
async def _next_event(ws: aiohttp.ClientWebSocketResponse, wanted: Callable[[dict], bool], timeout: float = WAIT,
                      seen: Optional[List[dict]] = None) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching WebSocket event within {timeout} s; seen: {seen}")
        msg = await ws.receive(timeout=left)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        event = msg.json()
        if seen is not None:
            seen.append(event)
        if wanted(event):
            return event


def test_websocket_pushes_conversations_and_messages_live(service: Service, rasa: FakeRasa):
    gen1 = service.login("gen1", online=True)
    ord_ = service.login("ord", online=True)

    async def scenario() -> None:
        url = service.url.replace("http", "ws") + "/api/ws"
        async with aiohttp.ClientSession() as anonymous:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await anonymous.ws_connect(url)
            assert refused.value.status == 401
        async with aiohttp.ClientSession(cookies={"cs_session": gen1.cookie}) as s1, \
                aiohttp.ClientSession(cookies={"cs_session": ord_.cookie}) as s2:
            ws1, ws2 = await s1.ws_connect(url), await s2.ws_connect(url)
            hello = await _next_event(ws1, lambda e: True)
            assert hello["type"] == "hello" and hello["agent"]["id"] == "gen1"
            await ws1.send_str("ping")
            assert (await ws1.receive(timeout=5)).data == "pong"
            seen1: List[dict] = []
            seen2: List[dict] = []
            opened = await asyncio.to_thread(service.handoff, "ws1")
            cid = opened["conversation"]["id"]
            offer = await _next_event(ws1, lambda e: e["type"] == "conversation" and e["conversation"]["id"] == cid
                                      and e["conversation"]["state"] == "offered", seen=seen1)
            assert offer["conversation"]["agent_id"] == "gen1" and offer["conversation"]["sender_id"] == "ws1"
            await asyncio.to_thread(lambda: ok(gen1.accept(cid)))
            await _next_event(ws1, lambda e: e["type"] == "conversation" and e["conversation"]["state"] == "active",
                              seen=seen1)
            await asyncio.to_thread(settle, gen1, cid)
            # the customer writes: the agent who has the conversation hears it at once
            await asyncio.to_thread(service.relay, "ws1", "are you a real person?")
            pushed = await _next_event(ws1, lambda e: e["type"] == "message" and
                                       e["message"]["direction"] == "customer", seen=seen1)
            assert pushed["conversation_id"] == cid
            assert pushed["message"]["text"] == "are you a real person?" and pushed["message"]["delivered_at"] is None
            # the agent's reply: pushed when stored, and again when Rasa has taken it (delivered_at set)
            await asyncio.to_thread(lambda: ok(gen1.reply(cid, "Yes, I am."), 201))
            stored = await _next_event(ws1, lambda e: e["type"] == "message" and e["message"]["text"] == "Yes, I am.",
                                       seen=seen1)
            delivered = await _next_event(ws1, lambda e: e["type"] == "message" and e["message"]["id"] ==
                                          stored["message"]["id"] and e["message"]["delivered_at"], seen=seen1)
            assert delivered["message"]["direction"] == "agent"
            # an agent without the skill heard nothing of this conversation's messages
            await asyncio.sleep(0.3)
            while True:
                try:
                    seen2.append((await ws2.receive(timeout=0.1)).json())
                except asyncio.TimeoutError:
                    break
            assert not [e for e in seen2 if e["type"] == "message" or
                        (e["type"] == "conversation" and e["conversation"]["id"] == cid)], seen2
            # logging out ends the session's socket, and with no other session the agent goes offline
            response = await asyncio.to_thread(ord_.post, "/api/logout")
            assert response.status_code == 204
            while True:
                msg = await ws2.receive(timeout=5)
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    break
            assert not ws1.closed  # the other agent's socket is untouched
            agents = (await asyncio.to_thread(lambda: ok(service.login("sup").get("/api/queues"))))["agents"]
            assert {a["id"]: a["status"] for a in agents}["ord"] == "offline"
            await ws1.close()

    asyncio.run(scenario())


def test_metrics_count_states_queues_and_reasons(service: Service):
    service.login("solo", online=True)
    service.handoff("m1")
    service.handoff("m2", order_task="status")
    service.handoff("m3", reason="complaint")
    metrics = service.login("sup").metrics()
    assert metrics["conversations"] == 3
    assert {k: v for k, v in metrics["by_state"].items() if v} == {"offered": 1, "queued": 1, "ticket": 1}
    assert metrics["by_queue"] == {"general": 1, "orders": 1, "complaints": 1}
    assert metrics["by_reason"] == {"customer_request": 2, "complaint": 1}
    assert metrics["first_response_seconds"] == {"median": None, "count": 0}
    assert metrics["csat"] == {"count": 0, "average": None} and metrics["undelivered"] == 0


# --- a crash and a restart ---------------------------------------------------------------------------------
def _line(sup: Agent) -> List[tuple]:
    return [(c["id"], c["sender_id"], c["state"], c["queue"], c["position"], c["agent_id"], c["created_at"])
            for c in sup.listing("queued,offered,active,ticket")]


def test_after_a_crash_the_line_sessions_and_undelivered_replies_survive(service: Service, rasa: FakeRasa):
    solo, active = _active(service, "solo", "k-active")  # solo's one slot is taken: the rest waits
    sup = service.login("sup")
    for sender, kw in (("k-gen-1", {}), ("k-ord", {"order_task": "cancel"}), ("k-gen-2", {}),
                       ("k-vip", {"tier": "vip"}), ("k-gen-3", {})):
        assert service.handoff(sender, **kw)["conversation"]["state"] == "queued"
    service.relay("k-active", "hello?")
    wait_for(lambda: sup.metrics()["undelivered"] == 0, "the outbox empty")
    rasa.down()
    ok(solo.reply(active, "Sorry for the wait, checking now."), 201)
    wait_for(lambda: any(row[3] >= 1 for row in service.outbox()), "a failed delivery")
    before = _line(sup)
    assert [(c[1], c[2], c[4]) for c in before] == [
        ("k-vip", "queued", 1), ("k-ord", "queued", 1), ("k-active", "active", None),
        ("k-gen-1", "queued", 1), ("k-gen-2", "queued", 2), ("k-gen-3", "queued", 3)]
    messages_before = sup.conversation(active)["messages"]
    calls_before = ("k-gen-1", "k-gen-2", "k-gen-3", "k-ord", "k-vip")

    service.kill(signal.SIGKILL)  # no shutdown hooks, no goodbye
    assert service.proc.returncode == -signal.SIGKILL
    with pytest.raises(requests.ConnectionError):
        requests.get(service.url + "/health", timeout=2)
    service.start()  # same var dir, same port

    # the sessions are still valid: nobody has to log in again
    assert ok(solo.get("/api/me"))["agent"]["status"] == "online"
    assert _line(sup) == before  # same conversations, same order, same places, same owner
    assert sup.conversation(active)["messages"] == messages_before
    assert messages_before[-1]["delivered_at"] is None
    assert sup.metrics()["undelivered"] >= 1
    # Rasa comes back: the reply is delivered, once
    rasa.up()
    settle(sup, active)
    time.sleep(1.0)  # room for a duplicate to show up
    replies = [c for c in rasa.calls("k-active") if c.entities.get("agent_text") == "Sorry for the wait, checking now."]
    assert len(replies) == 1 and replies[0].status == 200
    assert [c.status for c in rasa.calls("k-active")] == [200, 200]  # the joined notice before the crash, the reply
    wait_for(lambda: sup.metrics()["undelivered"] == 0, "the outbox empty")
    # the line is served in the order it had before the crash
    ok(solo.resolve(active, "close"))
    offered = [c for c in sup.listing("offered")]
    assert [(c["sender_id"], c["agent_id"]) for c in offered] == [("k-vip", "solo")]
    for sender in calls_before:  # the waiting customers were sent nothing but notices of their place
        assert all(c.entities["agent_kind"] == "system" and c.entities["agent_text"].startswith("You are now number")
                   for c in rasa.calls(sender)), rasa.calls(sender)


def test_a_restart_tells_waiting_customers_nothing_new(service: Service, rasa: FakeRasa):
    service.login("solo", online=True)
    service.handoff("r-0")
    service.handoff("r-1")
    service.handoff("r-2")
    sup = service.login("sup")
    wait_for(lambda: nudge(sup) and sup.metrics()["undelivered"] == 0, "the outbox empty")
    told = {s: len(rasa.calls(s)) for s in ("r-1", "r-2")}
    service.kill(signal.SIGKILL)
    service.start()
    time.sleep(1.0)
    assert {s: len(rasa.calls(s)) for s in ("r-1", "r-2")} == told


def test_a_crash_while_rasa_is_taking_a_reply_does_not_lose_it(service: Service, rasa: FakeRasa):
    gen1, cid = _active(service, "gen1", "inflight")
    rasa.slow(2.0, count=1)
    ok(gen1.reply(cid, "mid-air"), 201)
    wait_for(lambda: [c for c in rasa.calls("inflight") if c.status is None], "the reply in flight")
    service.kill(signal.SIGKILL)  # Rasa gets the event, the service never learns it did
    service.start()
    settle(service.login("sup"), cid)

    def answered() -> Optional[list]:
        calls = [c for c in rasa.calls("inflight") if c.entities.get("agent_text") == "mid-air"]
        return calls if all(c.status for c in calls) else None

    sent = wait_for(answered, "every call answered")
    # at least once: never lost. Rasa may take it twice (the call cut by the crash, then the retry) and the
    # customer read it twice, as trigger_intent has no idempotency key; never more than that.
    assert 1 <= len(sent) <= 2 and all(c.status == 200 for c in sent), sent
