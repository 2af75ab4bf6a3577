"""The supervisors' dashboard (handoff/console/dashboard.*) in a real browser, against the real handoff
service (`python -m handoff serve`, a subprocess) reading the insight fixture's records.

The service's var dir (CS_VAR_DIR) is where the fixture (tests/unit/test_insight_metrics.py,
build_world) wrote Rasa's tracker store, the handoff store and the knowledge-base query log, under the
names the product uses: the service finds them as in production. Figures are the fixture's known
values (2024-05-01..03, UTC+08:00); the service judges SLAs at the real "now", so H4 (never answered)
counts as missed: SLA compliance 3 / 6; and tickets too, so T3 (in progress, due 2024-05-05) is overdue:
3 overdue tickets (tests/unit/test_insight_tickets.py works the tickets' figures out).
"""
from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from tests.e2e.located import attributes
from tests.e2e.test_console import HandoffService, _api, _js_errors, _log_in, _open_console, _texts, _wait, _wait_for
from tests.unit.test_insight_metrics import build_world

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[HandoffService]:
    running = HandoffService(tmp_path)
    build_world(running.var_dir)  # the records, where the service looks for them
    running.add_agent("sam", "Sam", "supervisor", "general", 2)
    running.add_agent("alice", "Alice", "agent", "general,orders", 2)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _kpi(driver, key: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'.kpi[data-kpi="{key}"] .kpi-value').text


def _sub(driver, key: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'.kpi[data-kpi="{key}"] .kpi-sub').text


def _count(driver, css: str) -> int:
    return len(driver.find_elements(By.CSS_SELECTOR, css))


def _wait_kpi(driver, key: str, value: str) -> None:
    _wait(driver).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, f'.kpi[data-kpi="{key}"] .kpi-value'),
                                                         value))
    assert _kpi(driver, key) == value


def test_supervisor_reads_filters_and_exports_the_dashboard(service: HandoffService, browser, tmp_path: Path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})

    # The supervisor's console has the link; it opens the dashboard (the last 7 days: nothing then).
    _open_console(browser, service)
    _log_in(browser, "sam", "Sam")
    link = browser.find_element(By.ID, "dashboard-link")
    assert link.is_displayed() and link.text == "数据看板"
    link.click()
    _wait_for(browser, "#kpis .kpi")
    assert browser.current_url.startswith(service.url + "/console/dashboard.html")
    _wait_kpi(browser, "conversations", "0")
    assert _kpi(browser, "containment_rate") == "—" and _kpi(browser, "csat") == "—"  # no data: never 0
    assert _kpi(browser, "first_response") == "—"
    assert _kpi(browser, "tickets_opened") == "0" and _kpi(browser, "tickets_on_time") == "—"
    assert _kpi(browser, "tickets_resolution") == "—" and _kpi(browser, "tickets_csat") == "—"
    assert _texts(browser, 'table.ticket-breakdown[data-dim="department"] td') == ["无数据"]

    # The fixture's three days.
    browser.execute_script(
        "const f = document.getElementById('f-from'), t = document.getElementById('f-to');"
        "f.value = '2024-05-01'; t.value = '2024-05-03';"
        "t.dispatchEvent(new Event('change', {bubbles: true}));")
    _wait_kpi(browser, "conversations", "9")
    assert _kpi(browser, "containment_rate") == "33.3%"
    assert _kpi(browser, "handoff_rate") == "66.7%"
    assert _kpi(browser, "faq_answer_rate") == "33.3%" and _kpi(browser, "faq_no_answer_rate") == "50.0%"
    assert _kpi(browser, "fallback_rate") == "18.8%"  # 3 / 16
    assert _kpi(browser, "bot_response") == "1.0 秒 / 2.5 秒"
    assert _kpi(browser, "queue_wait") == "30 秒 / 70 秒"
    assert _kpi(browser, "first_response") == "90 秒 / 120 秒"
    assert _kpi(browser, "resolution") == "400 秒 / 16.7 分钟"
    assert _kpi(browser, "sla_compliance") == "50.0%"
    assert _kpi(browser, "csat") == "3.67"
    assert _kpi(browser, "repeat_contact_rate") == "22.2%"
    assert "3 个评分" in browser.find_element(By.CSS_SELECTOR, '.kpi[data-kpi="csat"] .kpi-sub').text
    # definitions as help
    assert "nlu_fallback" in browser.find_element(By.CSS_SELECTOR, '.kpi[data-kpi="fallback_rate"]').get_attribute(
        "title")
    # the time series: a bar for conversations and one for handoffs per day, a containment point per day
    assert attributes(browser, "#series-chart rect.bar.b-conv", "data-value") == ["3", "4", "2"]
    assert attributes(browser, "#series-chart rect.bar.b-handoff", "data-value") == ["2", "2", "2"]
    assert _count(browser, "#series-chart circle.pt") == 3
    assert _count(browser, "#series-chart polyline.rate-line") == 1
    # CSAT 1..5 and the breakdowns
    assert attributes(browser, "#csat-chart rect.bar", "data-value") == ["0", "1", "0", "1", "1"]
    assert _count(browser, '#breakdowns svg[data-dim="channel"] rect.bar') == 3
    assert _count(browser, '#breakdowns svg[data-dim="queue"] rect.bar') == 5
    assert _count(browser, "#reason-chart rect.bar") == 3
    assert _texts(browser, 'table.breakdown[data-dim="queue"] tr[data-key="(none)"] td.t-csat') == ["—"]
    # the filter choices are the values the report has
    channels = [o.get_attribute("value") for o in Select(browser.find_element(By.ID, "f-channel")).options]
    assert channels == ["", "app", "socketio", "wechat"]
    # 工单 / Tickets: T1 T2 T3 T5 T6 T4
    assert browser.find_element(By.ID, "tickets-title").get_attribute("textContent") == "工单"
    assert _kpi(browser, "tickets_opened") == "6"
    assert _sub(browser, "tickets_opened") == "已解决 3 · 未结 2 · 未解决关闭 1"
    assert _kpi(browser, "tickets_on_time") == "66.7%"  # T1 T5 of T1 T2 T5
    assert _kpi(browser, "tickets_overdue") == "3"  # T2 resolved late; T3 T4 past due now
    assert _sub(browser, "tickets_overdue") == "占 50.0% · 其中未结 2"
    assert _kpi(browser, "tickets_resolution") == "6.0 小时"  # 3 6 26 h
    assert _sub(browser, "tickets_resolution") == "p90 26.0 小时 · 3 个"
    assert _kpi(browser, "tickets_first_response") == "1.5 小时"  # 0.5 1 1.5 2 5 h
    assert _kpi(browser, "tickets_csat") == "2.50" and _kpi(browser, "tickets_reopened") == "2"
    overdue_help = browser.find_element(By.CSS_SELECTOR, '.kpi[data-kpi="tickets_overdue"]').get_attribute("title")
    assert "截止时间" in overdue_help  # the definition as help
    departments = 'table.ticket-breakdown[data-dim="department"]'
    assert _texts(browser, f"{departments} td.t-key") == ["投诉处理", "综合", "售后", "物流"]
    assert _texts(browser, f"{departments} td.t-opened") == ["2", "2", "1", "1"]
    assert _texts(browser, f"{departments} td.t-overdue") == ["1", "0", "1", "1"]
    assert _texts(browser, f"{departments} td.t-on-time") == ["100.0%", "100.0%", "—", "0.0%"]
    assert _texts(browser, f"{departments} td.t-resolution") == ["3.0 小时", "6.0 小时", "—", "26.0 小时"]
    assert _texts(browser, f"{departments} td.t-first-reply") == ["30 分钟", "1.0 小时", "5.0 小时", "2.0 小时"]
    assert _texts(browser, f"{departments} td.t-csat") == ["4.00", "—", "—", "1.00"]
    assert _count(browser, 'table.ticket-breakdown[data-dim="category"] tbody tr') == 5

    shot = tmp_path / "dashboard.png"  # the whole page
    browser.set_window_size(1280, browser.execute_script("return document.documentElement.scrollHeight") + 140)
    browser.save_screenshot(str(shot))
    browser.set_window_size(1280, 900)
    print(f"screenshot: {shot}")

    # One channel: the figures follow.
    Select(browser.find_element(By.ID, "f-channel")).select_by_value("wechat")
    _wait_kpi(browser, "conversations", "3")
    assert _kpi(browser, "containment_rate") == "0.0%"
    assert _kpi(browser, "first_response") == "100 秒 / 120 秒"
    assert _kpi(browser, "csat") == "3.00"
    assert _kpi(browser, "sla_compliance") == "66.7%"
    assert attributes(browser, "#series-chart rect.bar.b-conv", "data-value") == ["2", "1", "0"]
    assert _count(browser, "#series-chart circle.pt") == 2  # day 3 had no wechat conversation: no rate, no point
    assert _count(browser, '#breakdowns svg[data-dim="channel"] rect.bar') == 1
    assert "channel=wechat" in browser.current_url  # the view can be bookmarked
    assert _kpi(browser, "tickets_opened") == "2"  # T1 T2
    assert (_kpi(browser, "tickets_on_time"), _kpi(browser, "tickets_overdue")) == ("50.0%", "1")
    # the other channels stay to choose from
    assert len(Select(browser.find_element(By.ID, "f-channel")).options) == 4

    # ...and one queue on top of it.
    Select(browser.find_element(By.ID, "f-queue")).select_by_value("complaints")
    _wait_kpi(browser, "conversations", "2")
    assert _kpi(browser, "queue_wait") == "30 秒 / 70 秒"
    assert _kpi(browser, "faq_answer_rate") == "—"  # no lookups in those conversations
    assert _kpi(browser, "tickets_opened") == "2"  # the queue does not select tickets
    Select(browser.find_element(By.ID, "f-queue")).select_by_value("")
    _wait_kpi(browser, "conversations", "3")

    # CSV export with the same filters: the link downloads (a file named after the period and filter)...
    sam = _api(browser, service)
    href = browser.find_element(By.ID, "export-series").get_attribute("href")
    assert "channel=wechat" in href and "kind=series" in href and "from=2024-05-01" in href
    resp = sam.get(href, timeout=30)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert [r["conversations"] for r in rows] == ["2", "1", "0"]
    browser.find_element(By.ID, "export-breakdowns").click()
    name = "insight-breakdowns_2024-05-01_2024-05-03_channel-wechat.csv"
    deadline = time.monotonic() + 30
    while not (downloads / name).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (downloads / name).exists(), list(downloads.iterdir())
    total = next(csv.DictReader(io.StringIO((downloads / name).read_text(encoding="utf-8-sig"))))
    assert (total["dimension"], total["conversations"], total["csat_average"], total["first_response_p50_seconds"]) \
        == ("total", "3", "3.0", "100.0")
    href = browser.find_element(By.ID, "export-tickets").get_attribute("href")
    assert "channel=wechat" in href and "kind=tickets" in href
    tickets = list(csv.DictReader(io.StringIO(sam.get(href, timeout=30).content.decode("utf-8-sig"))))
    assert (tickets[0]["key"], tickets[0]["opened"], tickets[0]["csat_average"]) == ("all", "2", "2.5")

    # A bad period: the service's message, the figures stay.
    browser.execute_script(
        "const f = document.getElementById('f-from'), t = document.getElementById('f-to');"
        "f.value = '2024-05-03'; t.value = '2024-05-01';"
        "t.dispatchEvent(new Event('change', {bubbles: true}));")
    _wait(browser).until(EC.visibility_of_element_located((By.ID, "error")))
    assert "'to' must be after 'from'" in browser.find_element(By.ID, "error").text

    # English, like the console.
    browser.find_element(By.ID, "lang").click()
    assert browser.find_element(By.CSS_SELECTOR, '.kpi[data-kpi="conversations"] .kpi-label').text == "Conversations"
    assert _kpi(browser, "first_response") == "100 s / 120 s"
    assert browser.find_element(By.ID, "tickets-title").get_attribute("textContent") == "Tickets"  # shown upper-case
    assert browser.find_element(By.CSS_SELECTOR, '.kpi[data-kpi="tickets_opened"] .kpi-label').text == "Tickets opened"
    assert _kpi(browser, "tickets_resolution") == "3.0 h"  # wechat: T1 3 h, T2 26 h
    assert _texts(browser, 'table.ticket-breakdown[data-dim="department"] td.t-key') == ["Complaints", "Logistics"]
    browser.find_element(By.ID, "lang").click()

    assert _js_errors(browser, "status of 400") == []


def test_an_agent_has_no_dashboard(service: HandoffService, browser):
    _open_console(browser, service)
    _log_in(browser, "alice", "Alice")
    assert not browser.find_element(By.ID, "dashboard-link").is_displayed()
    alice = _api(browser, service)
    resp = alice.get(service.url + "/api/insight/report", params={"from": "2024-05-01", "to": "2024-05-03"}, timeout=30)
    assert resp.status_code == 403 and "supervisors" in resp.json()["error"]
    assert requests.get(service.url + "/api/insight/report.csv", timeout=30).status_code == 401
    # the page itself says so, and shows no figures
    browser.get(service.url + "/console/dashboard.html?from=2024-05-01&to=2024-05-03")
    _wait_for(browser, "#notice")
    assert "仅供主管" in browser.find_element(By.ID, "notice").text
    assert not browser.find_element(By.ID, "dash").is_displayed()
    assert not browser.find_elements(By.CSS_SELECTOR, "#kpis .kpi")
