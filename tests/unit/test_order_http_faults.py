"""HttpOrderBackend when the order API misbehaves (the fake order API with faults, over real HTTP), the
circuit breaker on a fake clock, customer identity tokens, and order-access verification."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import pytest_asyncio

from common.identity import TOKEN_KEY, issue_token, token_from_metadata, verify_token
from orders.backend import BackendUnavailable, MalformedResponse, OrderBackendError, RuleViolation
from orders.breaker import CircuitBreaker, CircuitOpen
from orders.fixture import load_fixture
from orders.http_backend import HttpOrderBackend
from orders.model import NewAfterSalesRequest
from orders.verification import LockState, VerificationLog, last4_in, matches
from tests.fakes.order_api import FakeOrderApi, admin_request, copy_database, seed_database

ROOT = Path(__file__).resolve().parents[2]
CST = timezone(timedelta(hours=8))
NOW = datetime(2031, 3, 15, 10, 0, tzinfo=CST)
FIXTURE = load_fixture(now=NOW)
RETRIES = 2
TIMEOUT = 0.25
COOLDOWN = 0.3


def order_with(status: str):
    return next(o for o in FIXTURE.orders if o.status == status)


DELIVERED = next(o for o in FIXTURE.orders if o.status == "delivered" and o.delivered_at > NOW - timedelta(days=5)
                 and not any(r.order_number == o.number for r in FIXTURE.requests))
PAID = order_with("paid")
SHIPPED = order_with("shipped")
CUSTOMER = FIXTURE.customers[0]


def order_path(number: str) -> str:
    return f"/v1/orders/{number}"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed_database(tmp_path_factory.mktemp("orders") / "template.sqlite3", NOW)


@pytest.fixture
def api(template: Path, tmp_path: Path):
    with FakeOrderApi(copy_database(template, tmp_path / "orders.sqlite3"), now=NOW) as fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="function")
async def connect(api: FakeOrderApi):
    """HttpOrderBackend factory with small timeouts and backoff; closes what it made."""
    made = []

    def make(*, retries: int = RETRIES, timeout: float = TIMEOUT, threshold: int = 100,
             cooldown: float = COOLDOWN, token: str = "") -> HttpOrderBackend:
        backend = HttpOrderBackend(api.url, token or api.token, timeout=timeout, retries=retries, backoff=0.01,
                                   breaker=CircuitBreaker(threshold, cooldown))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.close()


# --- timeouts, 5xx, dropped connections: retried ----------------------------------------------------
async def test_no_faults_one_call(api, connect):
    assert await connect().get_order(DELIVERED.number, request_id="r-1") == DELIVERED
    assert api.calls() == {order_path(DELIVERED.number): 1}
    assert api.requests_seen()[-1]["request_id"] == "r-1"


async def test_slow_answers_time_out_are_retried_then_unavailable(api, connect):
    api.set_faults("slow", delay=TIMEOUT * 3)
    started = time.perf_counter()
    with pytest.raises(BackendUnavailable, match="timed out"):
        await connect().get_order(DELIVERED.number)
    elapsed = time.perf_counter() - started
    assert api.calls(order_path(DELIVERED.number)) == RETRIES + 1
    assert TIMEOUT * (RETRIES + 1) <= elapsed < TIMEOUT * (RETRIES + 1) + 1.0


async def test_one_slow_answer_then_success(api, connect):
    api.set_faults("slow", delay=TIMEOUT * 3, count=1)
    assert await connect().get_order(DELIVERED.number) == DELIVERED
    assert api.calls(order_path(DELIVERED.number)) == 2


async def test_slow_but_within_the_timeout_is_fine(api, connect):
    api.set_faults("slow", delay=TIMEOUT / 5)
    assert await connect().get_order(DELIVERED.number) == DELIVERED
    assert api.calls(order_path(DELIVERED.number)) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_retried_then_unavailable(api, connect, status):
    api.set_faults("error", status=status)
    with pytest.raises(BackendUnavailable, match=f"HTTP {status}"):
        await connect().get_order(DELIVERED.number)
    assert api.calls(order_path(DELIVERED.number)) == RETRIES + 1


async def test_transient_503_succeeds_on_retry(api, connect):
    api.set_faults("error", status=503, count=1)
    assert await connect().logistics(DELIVERED.number) != []
    assert api.calls(order_path(DELIVERED.number) + "/logistics") == 2


async def test_no_retries_configured_means_one_attempt(api, connect):
    api.set_faults("error", status=503)
    with pytest.raises(BackendUnavailable):
        await connect(retries=0).get_customer(CUSTOMER.id)
    assert api.calls(f"/v1/customers/{CUSTOMER.id}") == 1


# Counted on POST: for GET (an idempotent method) aiohttp itself re-sends once on a dropped connection,
# so each of our attempts may reach the server twice.
async def test_dropped_connection_is_retried(api, connect):
    api.set_faults("drop", count=1)
    cancelled = await connect().cancel_order(PAID.number, idempotency_key="k-drop")
    assert cancelled.status == "cancelled"
    assert api.calls(order_path(PAID.number) + "/cancel") == 2


async def test_dropped_connections_give_unavailable_after_the_retries(api, connect):
    api.set_faults("drop")
    with pytest.raises(BackendUnavailable):
        await connect().cancel_order(PAID.number, idempotency_key="k-drops")
    assert api.calls(order_path(PAID.number) + "/cancel") == RETRIES + 1
    with pytest.raises(BackendUnavailable):
        await connect().get_order(DELIVERED.number)
    assert RETRIES + 1 <= api.calls(order_path(DELIVERED.number)) <= 2 * (RETRIES + 1)
    api.clear_faults()
    assert (await connect().get_order(PAID.number)).status == "paid"


async def test_faults_apply_only_to_their_path(api, connect):
    api.set_faults("error", status=503, path_prefix=f"/v1/customers/{CUSTOMER.id}")
    backend = connect()
    assert await backend.get_order(DELIVERED.number) == DELIVERED
    with pytest.raises(BackendUnavailable):
        await backend.get_customer(CUSTOMER.id)
    assert api.calls() == {order_path(DELIVERED.number): 1, f"/v1/customers/{CUSTOMER.id}": RETRIES + 1}


# --- 4xx: answers, not failures: never retried -------------------------------------------------------
async def test_404_is_none_and_not_retried(api, connect):
    assert await connect().get_order("999999999999") is None
    assert api.calls(order_path("999999999999")) == 1


async def test_409_is_a_rule_violation_with_its_code_not_retried(api, connect):
    with pytest.raises(RuleViolation) as refused:
        await connect().cancel_order(SHIPPED.number, idempotency_key="k-409")
    assert refused.value.code == "already_shipped"
    assert api.calls(order_path(SHIPPED.number) + "/cancel") == 1


async def test_injected_409_code_is_passed_on(api, connect):
    api.set_faults("error", status=409, code="window_passed", method="POST")
    request = NewAfterSalesRequest(DELIVERED.number, DELIVERED.items[0].sku, "return", "damaged")
    with pytest.raises(RuleViolation) as refused:
        await connect().create_after_sales(request, idempotency_key="k-409b")
    assert refused.value.code == "window_passed"
    assert api.calls(order_path(DELIVERED.number) + "/after-sales") == 1


async def test_400_is_an_error_not_retried(api, connect):
    with pytest.raises(OrderBackendError) as failed:
        await connect().recent_orders(CUSTOMER.id, limit=500)  # the API takes 1-50
    assert type(failed.value) is OrderBackendError and "400" in str(failed.value)
    assert api.calls(f"/v1/customers/{CUSTOMER.id}/orders") == 1


async def test_wrong_token_is_an_error_not_retried(api, connect):
    with pytest.raises(OrderBackendError) as failed:
        await connect(token="not-the-token").get_order(DELIVERED.number)
    assert type(failed.value) is OrderBackendError and "token" in str(failed.value)
    assert api.calls(order_path(DELIVERED.number)) == 1


# --- off-contract answers ----------------------------------------------------------------------------
async def test_malformed_json_is_malformed_not_retried(api, connect):
    api.set_faults("malformed_json")
    with pytest.raises(MalformedResponse, match="not JSON"):
        await connect().get_order(DELIVERED.number)
    assert api.calls(order_path(DELIVERED.number)) == 1


@pytest.mark.parametrize("call,path,field", [
    (lambda b: b.get_order(DELIVERED.number), order_path(DELIVERED.number), "status"),
    (lambda b: b.get_order(DELIVERED.number), order_path(DELIVERED.number), "created_at"),
    (lambda b: b.get_customer(CUSTOMER.id), f"/v1/customers/{CUSTOMER.id}", "phone"),
    (lambda b: b.logistics(DELIVERED.number), order_path(DELIVERED.number) + "/logistics", "events"),
    (lambda b: b.recent_orders(CUSTOMER.id), f"/v1/customers/{CUSTOMER.id}/orders", "orders"),
])
async def test_missing_field_is_malformed_not_retried(api, connect, call, path, field):
    api.set_faults("malformed_shape", field=field)
    with pytest.raises(MalformedResponse, match=field):
        await call(connect())
    assert api.calls(path) == 1


async def test_malformed_answer_to_a_write(api, connect):
    api.set_faults("malformed_shape", method="POST", when="after")
    with pytest.raises(MalformedResponse):
        await connect().cancel_order(PAID.number, idempotency_key="k-bad-shape")
    assert api.calls(order_path(PAID.number) + "/cancel") == 1


# --- circuit breaker over HTTP -----------------------------------------------------------------------
async def test_breaker_opens_fails_fast_then_lets_a_trial_through(api, connect):
    backend = connect(retries=0, threshold=2)
    path = order_path(DELIVERED.number)
    api.set_faults("error", status=503)
    for _ in range(2):
        with pytest.raises(BackendUnavailable, match="HTTP 503"):
            await backend.get_order(DELIVERED.number)
    assert api.calls(path) == 2 and backend.breaker.state == "open"
    started = time.perf_counter()
    for _ in range(3):
        with pytest.raises(BackendUnavailable, match="unavailable"):
            await backend.get_order(DELIVERED.number)
    assert time.perf_counter() - started < 0.1
    assert api.calls(path) == 2  # never reached the server
    await asyncio.sleep(COOLDOWN + 0.05)
    assert backend.breaker.state == "half-open"
    with pytest.raises(BackendUnavailable, match="HTTP 503"):  # the trial call fails: open again
        await backend.get_order(DELIVERED.number)
    assert api.calls(path) == 3 and backend.breaker.state == "open"
    with pytest.raises(BackendUnavailable):
        await backend.get_order(DELIVERED.number)
    assert api.calls(path) == 3
    api.clear_faults()
    await asyncio.sleep(COOLDOWN + 0.05)
    assert await backend.get_order(DELIVERED.number) == DELIVERED  # the trial succeeds: closed
    assert backend.breaker.state == "closed" and api.calls(path) == 4
    assert await backend.get_order(DELIVERED.number) == DELIVERED
    assert api.calls(path) == 5


async def test_breaker_counts_calls_not_attempts(api, connect):
    backend = connect(retries=2, threshold=2)
    api.set_faults("error", status=503)
    with pytest.raises(BackendUnavailable):
        await backend.get_order(DELIVERED.number)
    assert backend.breaker.state == "closed" and api.calls(order_path(DELIVERED.number)) == 3


async def test_rule_violations_and_not_found_do_not_open_the_breaker(api, connect):
    backend = connect(retries=0, threshold=2)
    for n in range(3):
        with pytest.raises(RuleViolation):
            await backend.cancel_order(SHIPPED.number, idempotency_key=f"k-shipped-{n}")
        assert await backend.get_order("999999999999") is None
    assert backend.breaker.state == "closed"


async def test_malformed_answers_open_the_breaker(api, connect):
    backend = connect(retries=0, threshold=2)
    api.set_faults("malformed_json")
    for _ in range(2):
        with pytest.raises(MalformedResponse):
            await backend.get_order(DELIVERED.number)
    with pytest.raises(BackendUnavailable):
        await backend.get_order(DELIVERED.number)
    assert api.calls(order_path(DELIVERED.number)) == 2


async def test_abandoned_trial_call_does_not_lock_the_breaker_for_ever(api, connect):
    """A trial call cancelled mid-flight (the action's request went away) reports neither success nor
    failure; the breaker must still let a later call through."""
    backend = connect(retries=0, timeout=5.0, threshold=1)
    api.set_faults("error", status=503)
    with pytest.raises(BackendUnavailable):
        await backend.get_order(DELIVERED.number)
    await asyncio.sleep(COOLDOWN + 0.05)
    api.set_faults("slow", delay=2.0)
    trial = asyncio.create_task(backend.get_order(DELIVERED.number))
    await asyncio.sleep(0.1)
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    api.clear_faults()
    with pytest.raises(BackendUnavailable):  # the trial's slot is still held for a cooldown
        await backend.get_order(DELIVERED.number)
    await asyncio.sleep(COOLDOWN + 0.05)
    assert await backend.get_order(DELIVERED.number) == DELIVERED
    assert backend.breaker.state == "closed"


# --- writes: idempotency keys ------------------------------------------------------------------------
async def test_writes_carry_idempotency_key_and_request_id(api, connect):
    backend = connect()
    request = NewAfterSalesRequest(DELIVERED.number, DELIVERED.items[0].sku, "return", "damaged")
    await backend.create_after_sales(request, idempotency_key="key-create", request_id="turn-1")
    await backend.cancel_order(PAID.number, idempotency_key="key-cancel", request_id="turn-2")
    await backend.get_order(PAID.number, request_id="turn-3")
    seen = [(r["method"], r["path"], r["idempotency_key"], r["request_id"]) for r in api.requests_seen()]
    assert seen == [
        ("POST", order_path(DELIVERED.number) + "/after-sales", "key-create", "turn-1"),
        ("POST", order_path(PAID.number) + "/cancel", "key-cancel", "turn-2"),
        ("GET", order_path(PAID.number), None, "turn-3"),
    ]


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("mode", ["error", "drop"])
async def test_retried_create_opens_one_request(api, connect, mode, when):
    """`after`: the order system did the work but the answer was lost; the retry must not do it again."""
    backend = connect()
    path = order_path(DELIVERED.number) + "/after-sales"
    api.set_faults(mode, status=503, count=1, method="POST", when=when)
    request = NewAfterSalesRequest(DELIVERED.number, DELIVERED.items[0].sku, "refund", "defective", "屏幕坏了")
    created = await backend.create_after_sales(request, idempotency_key="key-once")
    posts = [r for r in api.requests_seen() if r["method"] == "POST"]
    assert [r["idempotency_key"] for r in posts] == ["key-once", "key-once"]
    assert api.calls(path) == 2
    assert await backend.after_sales_requests(DELIVERED.number) == [created]
    assert (await backend.get_order(DELIVERED.number)).status == "after_sales"


@pytest.mark.parametrize("mode", ["error", "drop"])
async def test_retried_cancel_after_the_answer_was_lost(api, connect, mode):
    backend = connect()
    api.set_faults(mode, status=502, count=1, method="POST", when="after")
    cancelled = await backend.cancel_order(PAID.number, idempotency_key="key-cancel-once")
    assert cancelled.status == "cancelled" and cancelled.cancelled_at == NOW
    assert api.calls(order_path(PAID.number) + "/cancel") == 2
    assert await backend.get_order(PAID.number) == cancelled


async def test_fault_control_rejects_unknown_modes(api):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as refused:
        api.set_faults("explode")
    assert refused.value.code == 400
    assert api.set_faults("malformed")["mode"] == "malformed_json"


# --- the fake as a separate process (how the e2e tests and the benchmark run it) -----------------------
async def test_fake_runs_as_a_process(tmp_path: Path):
    db = tmp_path / "orders.sqlite3"
    command = [sys.executable, "-m", "tests.fakes.order_api", "--port", "0", "--db", str(db), "--token", "tok",
               "--now", NOW.isoformat()]
    for run in range(2):  # the first run seeds the empty database, the second keeps what is there
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 20)
            assert line.startswith("listening on http://127.0.0.1:"), process.stderr.read()
            url = line.split()[-1]
            backend = HttpOrderBackend(url, "tok", timeout=1.0, retries=1, backoff=0.01)
            try:
                if run == 0:
                    assert await backend.get_order(DELIVERED.number) == DELIVERED
                    await backend.cancel_order(PAID.number, idempotency_key="k-process")
                assert (await backend.get_order(PAID.number)).status == "cancelled"
                admin_request(url, "POST", "/_faults", {"mode": "error", "status": 503, "count": 1})
                assert await backend.get_customer(CUSTOMER.id) == CUSTOMER
                assert admin_request(url, "GET", "/_calls")[f"/v1/customers/{CUSTOMER.id}"] == 2
            finally:
                await backend.close()
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0
            process.stdout.close()
            process.stderr.close()


# --- CircuitBreaker on a fake clock ------------------------------------------------------------------
class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_breaker_opens_after_threshold_failures_in_a_row():
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.failed()
    assert breaker.state == "closed"
    breaker.succeeded()  # a success in between: the count starts again
    for _ in range(2):
        breaker.before_call()
        breaker.failed()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.failed()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen, match="30 s"):
        breaker.before_call()
    clock.advance(29.9)
    with pytest.raises(CircuitOpen):
        breaker.before_call()


def test_breaker_half_open_lets_one_trial_through():
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown=10, clock=clock)
    breaker.failed()
    assert breaker.state == "open"
    clock.advance(10)
    assert breaker.state == "half-open"
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # a second call while the trial runs
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.failures == 0
    breaker.before_call()
    breaker.before_call()


def test_breaker_failed_trial_opens_again_for_a_full_cooldown():
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cooldown=10, clock=clock)
    breaker.failed()
    breaker.failed()
    clock.advance(12)
    breaker.before_call()
    breaker.failed()  # one failure is enough in half-open
    assert breaker.state == "open"
    clock.advance(9.9)
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.advance(0.1)
    breaker.before_call()


def test_breaker_trial_that_never_reports_is_given_up_after_a_cooldown():
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown=10, clock=clock)
    breaker.failed()
    clock.advance(10)
    breaker.before_call()  # the trial starts, then is cancelled: neither succeeded() nor failed()
    clock.advance(9)
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.advance(1)
    breaker.before_call()  # a new trial
    breaker.succeeded()
    assert breaker.state == "closed"


@pytest.mark.parametrize("threshold,cooldown", [(0, 1), (1, 0), (3, -1)])
def test_breaker_rejects_bad_settings(threshold, cooldown):
    with pytest.raises(ValueError):
        CircuitBreaker(threshold, cooldown)


# --- common/identity.py ------------------------------------------------------------------------------
SECRET = "s3cret-for-tests"
T0 = 1_900_000_000.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(claims, secret: str = SECRET) -> str:
    """A token with a valid signature over any payload, made independently of the module under test."""
    payload = _b64(claims if isinstance(claims, bytes) else json.dumps(claims).encode())
    return f"{payload}.{_b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())}"


def test_issue_and_verify():
    token = issue_token(SECRET, "C1001", ttl=600, now=T0)
    assert verify_token(SECRET, token, now=T0) == "C1001"
    assert verify_token(SECRET, token, now=T0 + 600) == "C1001"  # valid up to its expiry
    assert verify_token(SECRET, token, now=T0 + 601) is None
    assert verify_token(SECRET, signed({"sub": "C7", "exp": int(T0) + 5}), now=T0) == "C7"


def test_token_without_explicit_time_uses_the_clock():
    assert verify_token(SECRET, issue_token(SECRET, "C1", ttl=60)) == "C1"
    assert verify_token(SECRET, issue_token(SECRET, "C1", ttl=-60)) is None


def test_forged_tokens_are_refused():
    token = issue_token(SECRET, "C1001", now=T0)
    payload, signature = token.split(".")
    other_payload = signed({"sub": "C9999", "exp": int(T0) + 3600}).split(".")[0]
    assert verify_token(SECRET, f"{other_payload}.{signature}", now=T0) is None
    assert verify_token(SECRET, issue_token("another-secret", "C1001", now=T0), now=T0) is None
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert verify_token(SECRET, f"{payload}.{flipped}", now=T0) is None
    assert verify_token("another-secret", token, now=T0) is None


@pytest.mark.parametrize("token", [
    None, 42, b"bytes.token", "", "no-dot", "a.b.c", ".", "payload.", ".signature",
    "ünïcode.sïgnature", "payload.签名", "e30.\x00\x01",
])
def test_malformed_tokens_are_refused(token):
    assert verify_token(SECRET, token, now=T0) is None


@pytest.mark.parametrize("claims", [
    b"not json", b"\xff\xfe", [1, 2], {"exp": int(T0) + 60}, {"sub": "", "exp": int(T0) + 60},
    {"sub": 1001, "exp": int(T0) + 60}, {"sub": "C1"}, {"sub": "C1", "exp": "tomorrow"},
    {"sub": "C1", "exp": T0 + 60.5}, {"sub": "C1", "exp": None},
])
def test_validly_signed_but_malformed_claims_are_refused(claims):
    assert verify_token(SECRET, signed(claims), now=T0) is None


def test_no_secret_no_identity():
    token = issue_token(SECRET, "C1001", now=T0)
    assert verify_token("", token, now=T0) is None
    assert verify_token(None, token, now=T0) is None
    with pytest.raises(ValueError):
        issue_token("", "C1001")


def test_token_from_metadata():
    assert token_from_metadata({TOKEN_KEY: "t1"}) == "t1"
    assert token_from_metadata({"customData": {TOKEN_KEY: "t2", "language": "en"}}) == "t2"
    assert token_from_metadata({TOKEN_KEY: "t1", "customData": {TOKEN_KEY: "t2"}}) == "t1"
    assert token_from_metadata(None) is None
    assert token_from_metadata({}) is None
    assert token_from_metadata("customer_token=t1") is None
    assert token_from_metadata({TOKEN_KEY: 123}) is None
    assert token_from_metadata({"customData": "t2"}) is None
    assert token_from_metadata({"customData": {TOKEN_KEY: ["t2"]}}) is None


def test_token_from_metadata_end_to_end():
    token = issue_token(SECRET, "C1001", now=T0)
    assert verify_token(SECRET, token_from_metadata({"customData": {TOKEN_KEY: token}}), now=T0) == "C1001"
    assert verify_token(SECRET, token_from_metadata({"customData": {}}), now=T0) is None


# --- orders/verification.py --------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("5678", "5678"),
    ("尾号5678", "5678"),
    ("手机尾号是 0021 谢谢", "0021"),
    ("my phone ends in 4321", "4321"),
    ("Last four digits: 0007.", "0007"),
    ("13812345678", "5678"),
    ("我的手机是13812345678", "5678"),
    ("phone 19912340000, order 261118300721", "0000"),
    ("订单261118300721，尾号4321", "4321"),
    ("261118300721 4321", "4321"),
    ("order 261118300721 and the last 4 are 9876", "9876"),
    ("尾号１２３４", "1234"),  # full-width digits, as many Chinese keyboards type them
    ("手机１３８１２３４５６７８", "5678"),
])
def test_last4_in_finds_the_digits(text, expected):
    assert last4_in(text) == expected


@pytest.mark.parametrize("text", [
    "", "hello", "尾号是多少？", "123", "12345", "12 34", "1234 5678", "订单261118300721",
    "2611183007214321", "12345678901", "at 10:30", "٠١٢٣",
])
def test_last4_in_finds_nothing_when_ambiguous_or_absent(text):
    assert last4_in(text) is None


def test_matches():
    assert matches("13812345678", "5678")
    assert not matches("13812345678", "5679")
    assert not matches("", "5678")
    assert not matches("13812345678", "")
    assert not matches("13812345678", "678")
    assert not matches("13812345678", "５６７８")  # not an error either


def test_full_width_answer_verifies():
    assert matches("13812345678", last4_in("后四位５６７８"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def log(tmp_path: Path, clock: FakeClock) -> VerificationLog:
    return VerificationLog(tmp_path / "identity.sqlite3", max_attempts=3, lockout_minutes=30, clock=clock)


def test_lockout_per_sender(log: VerificationLog, clock: FakeClock):
    assert log.state("alice", "261118300721") == LockState(locked=False, attempts_left=3)
    assert log.failed("alice", "261118300721").attempts_left == 2
    clock.advance(5)
    assert log.failed("alice", "261118300722").attempts_left == 1  # another order: same sender counts
    clock.advance(5)
    state = log.failed("alice", "261118300723")
    assert state.locked and state.attempts_left == 0
    assert log.state("alice").locked
    assert log.state("alice", "261118300799").locked  # every order, for this sender
    assert not log.state("bob", "261118300799").locked  # others are not affected
    assert not log.state("bob", "261118300721").locked


def test_lockout_per_order(log: VerificationLog, clock: FakeClock):
    for sender in ("s1", "s2", "s3"):  # a new conversation per guess does not help
        assert not log.state(sender, "261118300721").locked
        log.failed(sender, "261118300721")
        clock.advance(1)
    assert log.state("s4", "261118300721").locked
    assert not log.state("s4", "261118300722").locked
    assert not log.state("s4").locked


def test_lockout_expires_after_the_window(log: VerificationLog, clock: FakeClock):
    for _ in range(3):
        log.failed("alice", "261118300721")
    first = clock.now
    clock.advance(30 * 60 - 1)
    assert log.state("alice", "261118300721").locked
    clock.now = first + 30 * 60
    state = log.state("alice", "261118300721")
    assert not state.locked and state.attempts_left == 3


def test_failures_expire_one_by_one(log: VerificationLog, clock: FakeClock):
    log.failed("alice", "261118300721")
    clock.advance(20 * 60)
    log.failed("alice", "261118300721")
    clock.advance(11 * 60)  # the first failure is now older than 30 minutes
    assert log.failed("alice", "261118300721").attempts_left == 1


def test_lockout_survives_a_restart(tmp_path: Path, clock: FakeClock):
    path = tmp_path / "identity.sqlite3"
    first = VerificationLog(path, max_attempts=2, lockout_minutes=10, clock=clock)
    first.failed("alice", "261118300721")
    first.failed("alice", "261118300721")
    again = VerificationLog(path, max_attempts=2, lockout_minutes=10, clock=clock)
    assert again.state("alice").locked and again.state("bob", "261118300721").locked
