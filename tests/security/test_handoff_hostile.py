"""Hostile input and access control of the handoff service, as a real `python -m handoff serve`
process over real HTTP (the set-up of tests/integration/test_handoff_service.py).

- schemathesis generates requests from handoff/openapi.yaml for every operation, without credentials,
  with the bot's service token and with a supervisor's session: no 5xx, and every answer conforms to
  the document (content type, body schema of documented statuses);
- hypothesis-driven login bodies (wrong types, huge strings, NUL bytes, SQL-ish strings): no 5xx,
  no session or agent row created by a refused login;
- failed logins limited per address (CS_RATE_LOGIN_IP_*), 429 with Retry-After;
- every route of the app's router refuses a request without credentials (401), and a table of the
  roles allowed per route is asserted with an agent's and a supervisor's session and the service token;
- an agent cannot read, accept or answer a conversation outside their queues' skills; an account of
  another role (an editor) cannot accept or answer at all.
"""
from __future__ import annotations

import json
import re
import signal
import sqlite3
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from tests.fakes.rasa_api import FakeRasa
from tests.integration.test_handoff_service import (  # noqa: F401 - agents_db is a fixture
    PASSWORD,
    RASA_TOKEN,
    Service,
    _copy_db,
    agents_db,
)

pytestmark = pytest.mark.e2e

OPENAPI = Path(__file__).resolve().parents[2] / "handoff" / "openapi.yaml"
SCHEMA = schemathesis.openapi.from_path(str(OPENAPI))
EXAMPLES = 10  # per operation and credential kind (the whole run: about 1,000 requests)
LOGIN_FAILURES_PER_ADDRESS = 8


class HostileService(Service):
    """The service behind a trusted proxy (this test process), so that each test chooses its client
    address with X-Forwarded-For, and with a small per-address login limit."""

    @property
    def env(self) -> Dict[str, str]:
        env = super().env
        env.update({"CS_TRUSTED_PROXIES": "127.0.0.1", "CS_RATE_LOGIN_IP_BURST": str(LOGIN_FAILURES_PER_ADDRESS),
                    "CS_RATE_LOGIN_IP_PER_MINUTE": "1"})
        return env

    def db(self, sql: str, args: tuple = ()) -> list:
        conn = sqlite3.connect(self.var_dir / "handoff.sqlite3", timeout=10)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def session_of(self, agent_id: str, address: str = "198.51.100.1") -> str:
        r = requests.post(self.url + "/api/login", json={"agent_id": agent_id, "password": PASSWORD},
                          headers={"X-Forwarded-For": address}, timeout=10)
        assert r.status_code == 200, r.text
        return r.cookies["cs_session"]


@pytest.fixture(scope="module")
def svc(agents_db: Path, tmp_path_factory) -> Iterator[HostileService]:  # noqa: F811 - the imported fixture
    where = tmp_path_factory.mktemp("hostile-handoff")
    _copy_db(agents_db, where / "var" / "handoff.sqlite3")
    with FakeRasa(RASA_TOKEN) as rasa:
        service = HostileService(where / "var", rasa, where / "handoff.log")
        try:
            yield service.start()
        finally:
            service.kill(signal.SIGTERM)


def _counts(svc: HostileService) -> Dict[str, int]:
    return {table: svc.db(f"SELECT COUNT(*) FROM {table}")[0][0]
            for table in ("conversations", "messages", "sessions", "agents", "csat")}


# --- schemathesis over the whole document -------------------------------------------------------------
def _runner(svc: HostileService, operation, headers: Dict[str, str], created: Dict[str, int], failures: list):
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case) -> None:
        response = case.call(base_url=svc.url, headers=headers, timeout=20)
        if operation.path == "/api/handoffs" and response.status_code == 201:
            created["handoffs"] += 1
        try:
            case.validate_response(response, checks=[not_a_server_error, content_type_conformance,
                                                     response_schema_conformance])
        except Exception as exc:  # noqa: BLE001 - collected: every operation is run, then reported
            failures.append(f"{operation.method.upper()} {operation.path}: {response.status_code} "
                            f"{response.text[:200]!r}: {str(exc)[:400]}")
            raise
    return run


def _fuzz(svc: HostileService, credentials: str) -> Dict[str, int]:
    """Runs every operation's generated cases; returns how many 201s POST /api/handoffs answered."""
    address = {"none": 1, "service": 2, "session": 3}[credentials]
    headers: Dict[str, str] = {"X-Forwarded-For": f"203.0.113.{address}"}
    if credentials == "service":
        headers["Authorization"] = f"Bearer {svc.token}"
    elif credentials == "session":
        headers["Authorization"] = f"Bearer {svc.session_of('sup')}"
    created = {"handoffs": 0}
    failures = []
    for result in SCHEMA.get_all_operations():
        operation = result.ok()
        if credentials == "session" and operation.path == "/api/logout":
            continue  # would end the session the other operations use (covered below)
        if operation.path == "/api/ws":
            continue  # a WebSocket upgrade, not a request/response operation (refusals: the route walk)

        run = _runner(svc, operation, headers, created, failures)
        try:
            run()
        except BaseException as exc:  # noqa: BLE001 - the failure is in `failures`
            if isinstance(exc, KeyboardInterrupt):
                raise
    assert not failures, "\n".join(failures[:20])
    assert svc.proc is not None and svc.proc.poll() is None, svc.tail()
    return created


@pytest.mark.parametrize("credentials", ["none", "service", "session"])
def test_generated_requests_get_no_5xx_and_conforming_answers(svc, credentials):
    before = _counts(svc)
    created = _fuzz(svc, credentials)
    after = _counts(svc)
    if credentials != "service":
        assert after["conversations"] == before["conversations"], "only the bot's token files handoffs"
    else:
        # at most one open conversation per customer: a 201 made one, a 200 returned the open one
        assert after["conversations"] - before["conversations"] == created["handoffs"]
    assert after["agents"] == before["agents"]
    requests.get(svc.url + "/health", timeout=5).raise_for_status()


# --- login ------------------------------------------------------------------------------------------
_weird_text = st.one_of(
    st.text(max_size=50),
    st.sampled_from(["' OR '1'='1", "sup'--", "sup\x00", "\x00", "'; DROP TABLE agents; --", "sup\" OR 1=1 --",
                     "ｓｕｐ", "SUP", " sup", "sup ", "../../etc/passwd", "<script>alert(1)</script>", "%00"]),
    st.just("x" * 100_000),
)
_weird_value = st.one_of(_weird_text, st.none(), st.integers(), st.floats(allow_nan=True), st.booleans(),
                         st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                               max_size=3))


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(body=st.one_of(
    st.fixed_dictionaries({"agent_id": _weird_value, "password": _weird_value}),
    st.fixed_dictionaries({"agent_id": st.just("sup"), "password": _weird_value}),
    st.dictionaries(st.text(max_size=10), _weird_value, max_size=4),
    _weird_value,
), address=st.integers(1, 250))
def _login_storm(svc: HostileService, body, address: int) -> None:
    # serialised here: NaN and infinities go out as Python's json writes them (requests refuses them)
    r = requests.post(svc.url + "/api/login", data=json.dumps(body).encode(), timeout=20,
                      headers={"X-Forwarded-For": f"192.0.2.{address}", "Content-Type": "application/json"})
    assert r.status_code in (400, 401, 429), (repr(body)[:300], r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json") and r.json()["error"]
    assert "cs_session" not in r.cookies


def test_hostile_login_bodies_are_refused_with_4xx_and_store_nothing(svc):
    before = _counts(svc)
    _login_storm(svc)
    for raw in (b"", b"{", b"\xff\xfe", b"null", b"[]", b'{"agent_id": "sup", "password": "' + b"a" * 300_000 + b'"}'):
        r = requests.post(svc.url + "/api/login", data=raw, headers={"Content-Type": "application/json",
                                                                     "X-Forwarded-For": "192.0.2.251"}, timeout=20)
        assert r.status_code in (400, 413), (raw[:20], r.status_code, r.text)
    after = _counts(svc)
    assert after["sessions"] == before["sessions"] and after["agents"] == before["agents"]
    assert svc.db("SELECT COUNT(*) FROM agents WHERE id NOT IN ('gen1','gen2','ord','solo','sup','lockme')") == [(0,)]
    svc.session_of("gen2", "192.0.2.252")  # the right password still works
    # The storm's wrong passwords for "sup" may have locked that account (the lockout working, tested on its
    # own below); later tests log in as sup, so its failures are forgotten here.
    conn = sqlite3.connect(svc.var_dir / "handoff.sqlite3", timeout=10)
    try:
        with conn:
            conn.execute("DELETE FROM login_failures WHERE agent_id = 'sup'")
    finally:
        conn.close()


def test_failed_logins_are_limited_per_address_with_retry_after(svc):
    address = {"X-Forwarded-For": "198.51.100.77"}
    for i in range(LOGIN_FAILURES_PER_ADDRESS):  # different accounts: the per-account lockout never trips
        r = requests.post(svc.url + "/api/login", json={"agent_id": f"nobody{i}", "password": "wrong-password"},
                          headers=address, timeout=10)
        assert r.status_code == 401, r.text
    refused = requests.post(svc.url + "/api/login", json={"agent_id": "sup", "password": PASSWORD},
                            headers=address, timeout=10)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1, refused.text
    assert "cs_session" not in refused.cookies
    # another address is not affected, and a successful login costs nothing
    for _ in range(LOGIN_FAILURES_PER_ADDRESS + 2):
        svc.session_of("gen1", "198.51.100.78")


def test_the_per_account_lockout_answers_retry_after(svc):
    for i in range(5):
        requests.post(svc.url + "/api/login", json={"agent_id": "lockme", "password": "wrong-password"},
                      headers={"X-Forwarded-For": f"198.51.100.{100 + i}"}, timeout=10)
    r = requests.post(svc.url + "/api/login", json={"agent_id": "lockme", "password": PASSWORD},
                      headers={"X-Forwarded-For": "198.51.100.120"}, timeout=10)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1


# --- authentication on every route, roles per route ---------------------------------------------------
PUBLIC = {("GET", "/health"), ("GET", "/metrics"), ("GET", "/"), ("GET", "/api/openapi.yaml"),
          ("POST", "/api/login"), ("POST", "/api/logout"), ("GET", "/console/"), ("GET", "/console")}
BOT = {("POST", "/api/handoffs"), ("POST", "/api/relay"), ("POST", "/api/csat"),
       ("POST", "/api/tickets/customer-message"), ("POST", "/api/tickets/csat"),
       ("POST", "/api/tickets/lookup")}
# who may use each console route: roles that get past authorization (any status but 401/403)
ROLES = {
    ("GET", "/api/me"): {"agent", "supervisor"},
    ("PUT", "/api/me/status"): {"agent", "supervisor"},
    ("GET", "/api/queues"): {"agent", "supervisor"},
    ("GET", "/api/conversations"): {"agent", "supervisor"},
    ("GET", "/api/conversations/{id}"): {"agent", "supervisor"},
    ("POST", "/api/conversations/{id}/accept"): {"agent", "supervisor"},
    ("POST", "/api/conversations/{id}/decline"): {"agent", "supervisor"},
    ("POST", "/api/conversations/{id}/messages"): {"agent", "supervisor"},
    ("POST", "/api/conversations/{id}/transfer"): {"agent", "supervisor"},
    ("POST", "/api/conversations/{id}/resolve"): {"agent", "supervisor"},
    ("GET", "/api/canned"): {"agent", "supervisor"},
    ("GET", "/api/metrics"): {"agent", "supervisor"},
    ("GET", "/api/insight/report"): {"supervisor"},
    ("GET", "/api/insight/report.csv"): {"supervisor"},
    ("GET", "/api/kb/unanswered"): {"supervisor"},  # and editors
    ("GET", "/api/conversations/{id}/assist"): {"agent", "supervisor"},
    ("GET", "/api/customers/{customer_id}/profile"): {"agent", "supervisor"},  # 404 outside one's conversations
    ("PUT", "/api/customers/{customer_id}/advisor"): {"supervisor"},
    # tickets: who may see a ticket is decided per ticket (404 outside one's departments), not per route
    ("GET", "/api/tickets/config"): {"agent", "supervisor"},
    ("GET", "/api/tickets"): {"agent", "supervisor"},
    ("POST", "/api/tickets"): {"agent", "supervisor"},
    ("GET", "/api/tickets/{number}"): {"agent", "supervisor"},
    ("POST", "/api/tickets/{number}/status"): {"agent", "supervisor"},
    ("POST", "/api/tickets/{number}/replies"): {"agent", "supervisor"},
    ("POST", "/api/tickets/{number}/notes"): {"agent", "supervisor"},
    ("POST", "/api/tickets/{number}/assign"): {"agent", "supervisor"},
    ("POST", "/api/tickets/{number}/category"): {"agent", "supervisor"},
    ("GET", "/api/ws"): {"agent", "supervisor"},
}


def _routes(svc: HostileService) -> set:
    """(method, path) of every route the running app serves: the app's router (built from the same
    settings) and the OpenAPI document, so that a route missing from either is still walked."""
    import yaml

    from common.settings import Settings
    from handoff.app import build_app

    env_settings = Settings(var_dir=svc.var_dir, handoff_port=svc.port, rasa_port=svc.rasa.port)
    app = build_app(env_settings)
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "*") or path is None or "prefix" in info:
            continue
        found.add((route.method, path))
    document = yaml.safe_load(OPENAPI.read_text())
    for path, item in document["paths"].items():
        found.update((method.upper(), path) for method in item if method in ("get", "post", "put", "delete"))
    return found


def _call(svc: HostileService, method: str, path: str, headers: Optional[dict] = None,
          cid: int = 999_999) -> requests.Response:
    body = {"text": "hello", "outcome": "close", "queue": "general", "status": "online", "sender_id": "x",
            "channel": "rest", "reason": "customer_request", "handoff_id": cid, "score": 5}
    url = svc.url + re.sub(r"\{[^}]+\}", str(cid), path)  # every path parameter: {id}, {customer_id}
    return requests.request(method, url, json=body,
                            headers=headers or {}, timeout=20, allow_redirects=False)


def test_every_route_refuses_a_caller_without_credentials(svc):
    routes = _routes(svc)
    assert ("GET", "/api/conversations/{id}") in routes and ("POST", "/api/handoffs") in routes
    private = sorted(routes - PUBLIC)
    assert private, routes
    for method, path in private:
        for headers in ({}, {"Authorization": "Bearer not-a-session"}, {"Cookie": "cs_session=forged"}):
            r = _call(svc, method, path, headers)
            assert r.status_code == 401, f"{method} {path} with {headers}: {r.status_code} {r.text[:200]}"
    for method, path in sorted(PUBLIC & routes):
        assert _call(svc, method, path).status_code < 500


def test_roles_per_route(svc):
    sessions = {"agent": svc.session_of("gen1"), "supervisor": svc.session_of("sup")}
    routes = _routes(svc)
    for (method, path), allowed in ROLES.items():
        if (method, path) not in routes:
            continue
        for role, token in sessions.items():
            r = _call(svc, method, path, {"Authorization": f"Bearer {token}"})
            if role in allowed:
                assert r.status_code not in (401, 403), f"{role} {method} {path}: {r.status_code} {r.text[:200]}"
            else:
                assert r.status_code == 403, f"{role} {method} {path}: {r.status_code} {r.text[:200]}"
        # the bot's token is no session
        r = _call(svc, method, path, {"Authorization": f"Bearer {svc.token}"})
        assert r.status_code == 401, f"service token on {method} {path}: {r.status_code}"
    for method, path in BOT:
        r = _call(svc, method, path, {"Authorization": f"Bearer {sessions['supervisor']}"})
        assert r.status_code == 401, f"a session on the bot's {method} {path}: {r.status_code}"
    # routes the app serves that the table does not name still need a session (walked above); say which
    unnamed = routes - PUBLIC - BOT - set(ROLES)
    assert all(path.startswith("/api/kb/") for _, path in unnamed), sorted(unnamed)


# --- an agent outside their queues; other roles ---------------------------------------------------------
def _file(svc: HostileService, sender: str, **extra) -> dict:
    body = {"sender_id": sender, "channel": "rest", "reason": "customer_request", "language": "en",
            "summary": {"issue": "hello"}, **extra}
    r = requests.post(svc.url + "/api/handoffs", json=body, headers={"Authorization": f"Bearer {svc.token}"},
                      timeout=10)
    assert r.status_code in (200, 201), r.text
    return r.json()["conversation"]


def test_an_agent_cannot_read_accept_or_answer_outside_their_queues(svc):
    orders = _file(svc, "authz-orders", order_task="status")
    assert orders["queue"] == "orders"
    gen1 = {"Authorization": f"Bearer {svc.session_of('gen1')}"}  # skills: general only
    messages_before = svc.db("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (orders["id"],))
    cid = orders["id"]
    assert requests.get(f"{svc.url}/api/conversations/{cid}", headers=gen1, timeout=10).status_code == 404
    listed = requests.get(f"{svc.url}/api/conversations", params={"state": "queued,ticket,offered,active"},
                          headers=gen1, timeout=10).json()["conversations"]
    assert cid not in [c["id"] for c in listed]
    assert _call(svc, "POST", "/api/conversations/{id}/accept", gen1, cid).status_code == 403
    assert _call(svc, "POST", "/api/conversations/{id}/messages", gen1, cid).status_code in (403, 409)
    assert _call(svc, "POST", "/api/conversations/{id}/resolve", gen1, cid).status_code == 403
    assert _call(svc, "POST", "/api/conversations/{id}/transfer", gen1, cid).status_code == 403
    # the orders agent may; then another agent still cannot answer in it
    ord_ = {"Authorization": f"Bearer {svc.session_of('ord')}"}
    assert _call(svc, "POST", "/api/conversations/{id}/accept", ord_, cid).status_code == 200
    solo = {"Authorization": f"Bearer {svc.session_of('solo')}"}  # has the orders skill, but not this one
    assert requests.get(f"{svc.url}/api/conversations/{cid}", headers=solo, timeout=10).status_code == 404
    assert _call(svc, "POST", "/api/conversations/{id}/messages", solo, cid).status_code in (403, 409)
    after = svc.db("SELECT COUNT(*) FROM messages WHERE conversation_id = ? AND direction = 'agent'", (cid,))
    assert after == [(0,)], "no agent message was stored by a refused reply"
    assert messages_before[0][0] <= svc.db("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (cid,))[0][0]


def test_an_account_of_another_role_cannot_accept_or_answer(svc):
    """Editors (FAQ only) are being added to the agents table; an account whose role is neither agent
    nor supervisor is refused by the service's rules whatever the HTTP layer lets through."""
    from handoff.service import HandoffService, NotAllowed
    from handoff.store import HandoffStore

    store = HandoffStore(svc.var_dir / "handoff.sqlite3")
    service = HandoffService(store)
    conversation = _file(svc, "authz-role", language="zh")
    row = dict(store.agent_row("gen2"))
    row["role"] = "editor"
    store.agent_row = lambda agent_id: row if agent_id == "gen2" else None  # type: ignore[method-assign]
    for act in (lambda: service.accept(conversation["id"], "gen2"),
                lambda: service.reply(conversation["id"], "gen2", "hello"),
                lambda: service.decline(conversation["id"], "gen2"),
                lambda: service.resolve(conversation["id"], "gen2", back_to_bot=False),
                lambda: service.transfer(conversation["id"], "gen2", queue="general")):
        with pytest.raises(NotAllowed):
            act()
