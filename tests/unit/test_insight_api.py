"""The supervisors' dashboard API (handoff/insight_api.py) over real HTTP, on a real handoff service app.

The service's var dir is the insight fixture's world (tests/unit/test_insight_metrics.py, build_world:
Rasa's tracker store, the handoff store and the knowledge-base query log, with the file names the
product uses), so the service finds the records where it finds them in production
(insight.sources.Paths.from_settings). Its "now" is the real clock: H4 (no agent reply, 58 s into a
60 s target at the fixture's "now") is long past its target, so it counts as missed here, not pending;
likewise ticket T3 (in progress, due 2024-05-05) is overdue here: 3 overdue tickets, not 2.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import requests

from common.settings import Settings
from handoff.app import build_app
from handoff.auth import hash_password
from handoff.insight_api import MAX_DAYS
from handoff.store import HandoffStore
from tests.conftest import free_port
from tests.fakes.server import ThreadedServer
from tests.unit.test_insight_metrics import build_world

PASSWORD = "insight-api-test-password"  # test-only
PERIOD = {"from": "2024-05-01", "to": "2024-05-03"}  # the fixture's three days (to: included)


class Service(ThreadedServer):
    thread_name = "handoff-service"
    what = "the handoff service"

    def __init__(self, var_dir: Path) -> None:
        # Rasa is nowhere (the outbox just stays undelivered)
        settings = Settings(var_dir=var_dir, rasa_port=free_port())
        self._init_server(build_app(settings))

    def session(self, agent_id: str) -> requests.Session:
        session = requests.Session()
        resp = session.post(self.url + "/api/login", json={"agent_id": agent_id, "password": PASSWORD}, timeout=10)
        assert resp.status_code == 200, resp.text
        return session


def _add_agents(var_dir: Path) -> None:
    store = HandoffStore(var_dir / "handoff.sqlite3")
    hashed = hash_password(PASSWORD)
    store.add_agent("sue", "Sue", hashed, ["general"], role="supervisor")
    store.add_agent("al", "Al", hashed, ["general"])


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("var")
    build_world(var_dir)
    _add_agents(var_dir)
    with Service(var_dir) as running:
        yield running


@pytest.fixture(scope="module")
def sue(service) -> requests.Session:
    return service.session("sue")


def get(session, service, path: str, **params) -> requests.Response:
    return session.get(service.url + path, params=params, timeout=30)


def error(resp: requests.Response, status: int) -> str:
    assert resp.status_code == status, (resp.status_code, resp.text)
    return resp.json()["error"]


def test_only_supervisors(service, sue):
    assert "log in" in error(get(requests, service, "/api/insight/report", **PERIOD), 401)
    assert error(get(requests, service, "/api/insight/report.csv", **PERIOD), 401)
    al = service.session("al")
    assert "supervisors" in error(get(al, service, "/api/insight/report", **PERIOD), 403)
    assert "supervisors" in error(get(al, service, "/api/insight/report.csv", **PERIOD, kind="series"), 403)
    assert get(sue, service, "/api/insight/report", **PERIOD).status_code == 200


@pytest.mark.parametrize("params, message", [
    ({"from": "2024-13-01"}, "'from' must be a date YYYY-MM-DD or an ISO datetime"),
    ({"from": "yesterday", "to": "2024-05-03"}, "'from' must be a date"),
    ({"to": "05/03/2024"}, "'to' must be a date"),
    ({"from": "2024-05-03", "to": "2024-05-01"}, "'to' must be after 'from'"),
    ({"from": "2024-05-01T10:00:00+08:00", "to": "2024-05-01T10:00:00+08:00"}, "the period is empty"),
    ({"from": "2023-01-01", "to": "2024-05-01"}, f"longer than {MAX_DAYS} days"),
    ({**PERIOD, "channel": "x" * 101}, "'channel' is longer than 100 characters"),
])
def test_readable_400s(service, sue, params, message):
    assert message in error(get(sue, service, "/api/insight/report", **params), 400)


def test_unknown_kind_of_csv(service, sue):
    assert "'kind' must be one of series, breakdowns, tickets" in error(
        get(sue, service, "/api/insight/report.csv", **PERIOD, kind="pie"), 400)


def test_the_fixtures_figures(service, sue):
    report = get(sue, service, "/api/insight/report", **PERIOD).json()
    assert report["filters"] == {"start": 1_714_492_800.0, "end": 1_714_492_800.0 + 3 * 86400, "channel": None,
                                 "language": None, "queue": None, "tier": None}
    assert (report["bucket"], report["utc_offset_minutes"], len(report["series"])) == ("day", 480, 3)
    t = report["totals"]
    assert (t["conversations"], t["contained"], t["handed_off"], t["handoffs"]) == (9, 3, 6, 6)
    assert t["containment_rate"] == pytest.approx(3 / 9)
    assert report["handoff_rate_by_reason"] == pytest.approx({"complaint": 2 / 9, "customer_request": 3 / 9,
                                                              "low_confidence": 1 / 9})
    assert (t["faq_answer_rate"], t["faq_no_answer_rate"]) == pytest.approx((2 / 6, 3 / 6))
    assert t["fallback_rate"] == pytest.approx(3 / 16)
    assert t["bot_response"] == {"count": 14, "p50": 1.0, "p90": 2.5}
    assert t["queue_wait"] == {"count": 4, "p50": 30.0, "p90": 70.0}
    assert t["first_response"] == {"count": 4, "p50": 90.0, "p90": 120.0}
    assert t["resolution"] == {"count": 4, "p50": 400.0, "p90": 1000.0}
    # met H1 H6 H5; missed H2, H3 and (now long past its target) H4
    assert (t["sla_met"], t["sla_missed"], t["sla_pending"], t["sla_compliance"]) == (3, 3, 0, 0.5)
    assert (t["csat_count"], t["csat_average"]) == (3, pytest.approx(11 / 3))
    assert t["csat_distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert t["repeat_contact_rate"] == pytest.approx(2 / 9)
    assert [row["key"] for row in report["breakdowns"]["channel"]] == ["wechat", "app", "socketio"]
    assert [p["conversations"] for p in report["series"]] == [3, 4, 2]


def test_the_tickets_section(service, sue):
    """The fixture's tickets (tests/unit/test_insight_tickets.py works them out), judged at the real now."""
    import schemathesis

    from handoff.app import OPENAPI

    resp = get(sue, service, "/api/insight/report", **PERIOD)
    # the answer conforms to handoff/openapi.yaml (raises, naming what does not)
    schemathesis.openapi.from_path(str(OPENAPI))["/api/insight/report"]["GET"].validate_response(resp)
    tickets = resp.json()["tickets"]
    t = tickets["totals"]
    assert (t["opened"], t["resolved"], t["closed_unresolved"], t["still_open"]) == (6, 3, 1, 2)
    assert (t["overdue"], t["overdue_open"], t["overdue_rate"]) == (3, 2, 0.5)  # T2 late; T3 and T4 past due now
    assert (t["resolved_on_time"], t["on_time_rate"]) == (2, pytest.approx(2 / 3))
    assert t["resolution_hours"] == {"count": 3, "p50": 6.0, "p90": 26.0}
    assert t["first_response_hours"] == {"count": 5, "p50": 1.5, "p90": 5.0}
    assert (t["reopened"], t["csat_count"], t["csat_average"]) == (2, 2, 2.5)
    assert [(r["key"], r["opened"], r["overdue"]) for r in tickets["breakdowns"]["department"]] == [
        ("complaints", 2, 1), ("general", 2, 0), ("after_sales", 1, 1), ("logistics", 1, 1)]
    assert [r["key"] for r in tickets["breakdowns"]["category"]] == ["complaint", "after_sales", "billing",
                                                                    "logistics", "other"]
    assert [p["opened"] for p in tickets["series"]] == [2, 3, 1]
    # channel, language and tier select tickets; the queue does not
    wechat = get(sue, service, "/api/insight/report", **PERIOD, channel="wechat").json()["tickets"]["totals"]
    assert (wechat["opened"], wechat["csat_average"]) == (2, 2.5)  # T1 T2
    guest_en = get(sue, service, "/api/insight/report", **PERIOD, tier="guest", language="en").json()
    assert guest_en["tickets"]["totals"]["opened"] == 2  # T2 T5
    queue = get(sue, service, "/api/insight/report", **PERIOD, queue="complaints").json()
    assert queue["tickets"]["totals"] == t and queue["totals"]["handoffs"] == 2

    resp = get(sue, service, "/api/insight/report.csv", **PERIOD, kind="tickets")
    assert resp.headers["Content-Disposition"] == 'attachment; filename="insight-tickets_2024-05-01_2024-05-03.csv"'
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert (rows[0]["dimension"], rows[0]["opened"], rows[0]["overdue"], rows[0]["on_time_rate"],
            rows[0]["resolution_p50_hours"]) == ("total", "6", "3", "0.6667", "6.0")
    assert [(r["dimension"], r["key"]) for r in rows[1:3]] == [("department", "complaints"), ("department", "general")]


def test_filters(service, sue):
    wechat = get(sue, service, "/api/insight/report", **PERIOD, channel="wechat").json()
    t = wechat["totals"]
    assert (t["conversations"], t["containment_rate"], t["handoffs"]) == (3, 0.0, 3)  # S2 S9 S5; H1 H6 H3
    assert (t["first_response"]["p50"], t["csat_average"], t["csat_count"]) == (100.0, 3.0, 2)
    assert [p["conversations"] for p in wechat["series"]] == [2, 1, 0]
    assert wechat["filters"]["channel"] == "wechat"

    t = get(sue, service, "/api/insight/report", **PERIOD, queue="complaints").json()["totals"]
    assert (t["conversations"], t["handoffs"], t["queue_wait"]["p50"], t["resolution"]["p90"]) == (2, 2, 30.0, 1000.0)
    assert t["faq_answer_rate"] is None  # no lookups in S2 or S9: empty, not 0

    t = get(sue, service, "/api/insight/report", **PERIOD, tier="guest", language="en").json()["totals"]
    assert t["conversations"] == 4  # guests in English: S1 S9 S10 S6 (S5 is zh)
    # unknown values: an empty report, not an error
    empty = get(sue, service, "/api/insight/report", **PERIOD, queue="no-such-queue").json()
    assert empty["totals"]["conversations"] == 0 and empty["totals"]["containment_rate"] is None


def test_periods_as_datetimes_and_the_default(service, sue):
    # ISO datetimes: `to` is excluded; naive ones are in the shop's time (+08:00)
    day2 = get(sue, service, "/api/insight/report", **{"from": "2024-05-02T00:00:00", "to": "2024-05-03T00:00:00"})
    report = day2.json()
    assert report["bucket"] == "hour" and len(report["series"]) == 24
    assert report["totals"]["conversations"] == 4  # S3 S4 S10 S5
    utc = get(sue, service, "/api/insight/report", **{"from": "2024-05-01T16:00:00Z", "to": "2024-05-02T16:00"})
    assert utc.json()["filters"]["start"] == 1_714_492_800.0 + 86400
    # without a period: the last 7 days, today included (ending at the next local midnight)
    default = get(sue, service, "/api/insight/report").json()
    start, end = default["filters"]["start"], default["filters"]["end"]
    assert end - start == 7 * 86400 and (end + 8 * 3600) % 86400 == 0
    assert start <= default["now"] < end
    assert default["totals"]["conversations"] == 0  # the fixture is in 2024


def test_csv_downloads(service, sue):
    resp = get(sue, service, "/api/insight/report.csv", **PERIOD, kind="series")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="insight-series_2024-05-01_2024-05-03.csv"'
    assert resp.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the file as UTF-8
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["bucket_start", "bucket_end", "conversations"]
    assert rows[1] == ["2024-05-01T00:00:00+08:00", "2024-05-02T00:00:00+08:00", "3", "1", "0.3333", "2", "7",
                       "0.1429", "100.0", "2", "3.0", "2"]
    assert len(rows) == 4

    resp = get(sue, service, "/api/insight/report.csv", **PERIOD, kind="breakdowns", channel="wechat")
    assert resp.headers["Content-Disposition"] == \
        'attachment; filename="insight-breakdowns_2024-05-01_2024-05-03_channel-wechat.csv"'
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    total = rows[0]
    assert (total["dimension"], total["key"], total["conversations"], total["first_response_p50_seconds"],
            total["csat_average"]) == ("total", "all", "3", "100.0", "3.0")
    assert {(r["dimension"], r["key"]) for r in rows if r["dimension"] == "queue"} == {
        ("queue", "complaints"), ("queue", "general")}
    # the default kind is the series; a name with odd characters stays a plain file name
    resp = get(sue, service, "/api/insight/report.csv", **PERIOD, queue='a"b/c')
    assert resp.headers["Content-Disposition"] == \
        'attachment; filename="insight-series_2024-05-01_2024-05-03_queue-a-b-c.csv"'


def test_a_fresh_install_gives_an_empty_report(tmp_path):
    _add_agents(tmp_path)  # creates the handoff store only: no tracker store, no query log yet
    with Service(tmp_path) as fresh:
        resp = get(fresh.session("sue"), fresh, "/api/insight/report", **PERIOD)
    assert resp.status_code == 200, resp.text
    t = resp.json()["totals"]
    assert (t["conversations"], t["handoffs"], t["kb_lookups"]) == (0, 0, 0)
    assert (t["containment_rate"], t["csat_average"], t["first_response"]["p50"]) == (None, None, None)
    tickets = resp.json()["tickets"]["totals"]
    assert (tickets["opened"], tickets["on_time_rate"], tickets["resolution_hours"]["p50"]) == (0, None, None)
    assert not (tmp_path / "rasa-tracker.sqlite3").exists()  # read-only: nothing created
