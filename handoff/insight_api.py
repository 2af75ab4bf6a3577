"""The supervisors' dashboard API: insight's report (insight/) over HTTP, as JSON or CSV.

  GET /api/insight/report?from=&to=&channel=&language=&queue=&tier=          -> Report.to_dict()
  GET /api/insight/report.csv?...&kind=series|breakdowns|tickets              -> CSV download

`from`/`to`: dates YYYY-MM-DD in the shop's time (CS_HANDOFF_UTC_OFFSET; `to` is included: the period
ends at the midnight after it) or ISO datetimes (`to` excluded; without an offset, the shop's time).
Default: the last 7 days, today included. A period of at most MAX_DAYS. Supervisors only.

The records are read where the product keeps them (insight.sources.Paths.from_settings: Rasa's tracker
store var/rasa-tracker.sqlite3, the knowledge-base query log) and the handoff store the service runs
on (its SQLite file, or the PostgreSQL store itself). Reading and computing are blocking (SQLite,
CPU): they run in a worker thread, the event loop goes on serving the agents. A file not written yet
(fresh install) means no records: an empty report.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from typing import Mapping, Tuple

from aiohttp import web

from common.settings import Settings
from handoff import routing
from handoff.app import SERVICE, STORE, _agent
from handoff.hours import parse_offset
from handoff.store import HandoffStore
from insight import export
from insight.metrics import compute
from insight.model import DAY, Filters
from insight.report import Report
from insight.sources import (
    LOOKBACK_SECONDS,
    Data,
    Paths,
    SourceError,
    load,
    read_handoffs,
    read_lookups,
    read_tickets,
)

MAX_DAYS = 366
DEFAULT_DAYS = 7
FILTERS = ("channel", "language", "queue", "tier")
KINDS = ("series", "breakdowns", "tickets")


@dataclass(frozen=True)
class InsightConfig:
    paths: Paths
    utc_offset_minutes: int
    queues: Mapping[str, routing.Queue]


INSIGHT = web.AppKey("insight", InsightConfig)


# --- parameters -----------------------------------------------------------------------------------
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _moment(text: str, name: str, zone: timezone, is_end: bool) -> float:
    """Unix seconds of a `from`/`to` value: a date (its local midnight; for `to` the next one) or an
    ISO datetime (naive: local time)."""
    try:
        if _DATE.match(text):
            day = date.fromisoformat(text)
            if is_end:
                day += timedelta(days=1)
            return datetime.combine(day, dtime(0), zone).timestamp()
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{name}' must be a date YYYY-MM-DD or an ISO datetime "
                         f"(e.g. 2024-05-01T09:00:00+08:00), not {text[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def parse_filters(query: Mapping[str, str], now: float, utc_offset_minutes: int) -> Filters:
    """The report's Filters from the query string; ValueError (-> 400) with a readable message."""
    zone = timezone(timedelta(minutes=utc_offset_minutes))
    given_from, given_to = (query.get(k, "").strip() for k in ("from", "to"))
    if given_to:
        end = _moment(given_to, "to", zone, is_end=True)
    else:  # the end of today, local time
        today = datetime.fromtimestamp(now, zone).date()
        end = datetime.combine(today + timedelta(days=1), dtime(0), zone).timestamp()
    start = _moment(given_from, "from", zone, is_end=False) if given_from else end - DEFAULT_DAYS * DAY
    if end <= start:
        raise ValueError("the period is empty: 'to' must be after 'from'")
    if end - start > MAX_DAYS * DAY:
        raise ValueError(f"the period is longer than {MAX_DAYS} days; choose a shorter one")
    values = {}
    for name in FILTERS:
        value = query.get(name, "").strip()
        if len(value) > 100:
            raise ValueError(f"'{name}' is longer than 100 characters")
        values[name] = value or None
    return Filters(start, end, **values)


# --- reading and computing (in a worker thread) -------------------------------------------------------
def _load(paths: Paths, filters: Filters, queues: Mapping[str, routing.Queue]) -> Data:
    """insight.sources.load, but a tracker store Rasa has not created yet means no conversations."""
    if Path(paths.tracker_db).exists():
        return load(paths, filters, queues=queues)
    since = filters.start - LOOKBACK_SECONDS
    handoffs, tickets = [], []
    if isinstance(paths.handoff, HandoffStore) or Path(paths.handoff).exists():
        handoffs = read_handoffs(paths.handoff, since, None, queues=queues)
        tickets = read_tickets(paths.handoff, filters.start, filters.end)
    lookups = read_lookups(paths.kb_db, filters.start, filters.end) if Path(paths.kb_db).exists() else []
    return Data((), tuple(handoffs), tuple(lookups), tuple(tickets))


def build_report(config: InsightConfig, filters: Filters, now: float) -> Report:
    data = _load(config.paths, filters, config.queues)
    return compute(data.sessions, data.handoffs, data.lookups, filters, now,
                   utc_offset_minutes=config.utc_offset_minutes, tickets=data.tickets)


async def _report(request: web.Request) -> Tuple[Report, Filters]:
    agent = _agent(request)  # 401 without a session
    if agent["role"] != "supervisor":
        raise web.HTTPForbidden(reason="the dashboard is for supervisors")
    config = request.app[INSIGHT]
    now = request.app[SERVICE].clock()
    filters = parse_filters(request.query, now, config.utc_offset_minutes)
    try:
        report = await asyncio.to_thread(build_report, config, filters, now)
    except SourceError as exc:
        raise web.HTTPServiceUnavailable(reason=f"the insight records cannot be read: {exc}") from None
    return report, filters


# --- handlers --------------------------------------------------------------------------------------
async def report_json(request: web.Request) -> web.Response:
    report, _ = await _report(request)
    return web.json_response(report.to_dict(), headers={"Cache-Control": "no-store"})


def csv_filename(kind: str, filters: Filters, utc_offset_minutes: int) -> str:
    """insight-series_2024-05-01_2024-05-03[_channel-wechat…].csv: the local days covered (the last one
    included) and the filters."""
    zone = timezone(timedelta(minutes=utc_offset_minutes))
    first = datetime.fromtimestamp(filters.start, zone).date().isoformat()
    last = datetime.fromtimestamp(filters.end - 1, zone).date().isoformat()
    parts = [f"insight-{kind}", first, last]
    for name in FILTERS:
        value = getattr(filters, name)
        if value is not None:
            parts.append(f"{name}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', value)[:40]}")
    return "_".join(parts) + ".csv"


async def report_csv(request: web.Request) -> web.Response:
    kind = request.query.get("kind", "series")
    if kind not in KINDS:
        raise ValueError(f"'kind' must be one of {', '.join(KINDS)}")
    report, filters = await _report(request)
    writers = {"series": export.series_csv, "breakdowns": export.breakdowns_csv, "tickets": export.tickets_csv}
    text = writers[kind](report)
    name = csv_filename(kind, filters, report.utc_offset_minutes)
    # A byte-order mark first: Excel, which many managers open these files with, otherwise reads UTF-8
    # as the machine's code page and shows the Chinese values as garbage; CSV readers skip it (utf-8-sig).
    return web.Response(text="\ufeff" + text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "Cache-Control": "no-store"})


# --- wiring ----------------------------------------------------------------------------------------
def add_insight_routes(app: web.Application, settings: Settings) -> None:
    """Called by handoff.app.build_app once the store and the service are in the app."""
    store = app[STORE]
    product = Paths.from_settings(Settings(var_dir=settings.var_dir))  # the files, never a second PG store
    path = getattr(store, "path", None)  # a SQLite store: read its file read-only, in one query
    handoff = path if isinstance(path, Path) else store  # PostgreSQL: through the store (thread-safe)
    app[INSIGHT] = InsightConfig(Paths(product.tracker_db, handoff, product.kb_db),
                                 parse_offset(settings.handoff_utc_offset), app[SERVICE].config.queues)
    app.router.add_get("/api/insight/report", report_json)
    app.router.add_get("/api/insight/report.csv", report_csv)
