"""Reading tickets for the report (insight/sources.py `read_tickets` on a HandoffStore): the batched reads
(TicketStore.created_between + events_of, two queries per 500 tickets) against the reading they replaced
(TicketStore.listing, then TicketStore.events once per ticket), on the same database.

The real stores: a throwaway PostgreSQL server (tests/pg.py; the same as the tests') and a SQLite file.
`--tickets` tickets are made through TicketStore (each from its own conversation, with a note and a status
change: 3 history events each). Each reading runs `--runs` times; the medians are reported.

    .venv/bin/python -m bench.insight.ticket_reads [--tickets 1000] [--runs 5] [--out bench/insight/ticket_reads.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.handoff.common import code_state  # noqa: E402
from handoff.store import HandoffStore  # noqa: E402
from handoff.ticket_store import TicketStore  # noqa: E402
from insight.sources import read_tickets  # noqa: E402


def seed(store: HandoffStore, count: int) -> None:
    store.add_agent("bench", "Bench", "!not-a-password-hash", ["general"], capacity=count + 1)
    tickets = TicketStore(store)
    for i in range(count):
        conversation = store.open(sender_id=f"web-bench-{i}", channel="web", language="zh", reason="customer_request",
                                  queue="general", summary={"issue": "bench"})
        store.accept(conversation.id, "bench")
        ticket = tickets.create(conversation.id, category="technical", department="technical", subject="bench",
                                due_at=time.time() + 86400, created_by="bench", owner_id=None, notice="made")
        tickets.add_note(ticket.id, "bench", "note")
        tickets.change_status(ticket.id, "in_progress", "bench")


def one_query_per_ticket(store: HandoffStore) -> int:
    """The reading before: every ticket, then each one's history in a query of its own."""
    tickets = TicketStore(store)
    found = sorted(tickets.listing(limit=10 ** 12), key=lambda t: (t.created_at, t.id))
    return sum(len(tickets.events(t.id)) for t in found)


def batched(store: HandoffStore) -> int:
    return sum(len(t.steps) for t in read_tickets(store))


def median_ms(read: Callable[[HandoffStore], int], store: HandoffStore, runs: int) -> Dict[str, float]:
    times: List[float] = []
    events = 0
    for _ in range(runs):
        start = time.perf_counter()
        events = read(store)
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "events": events}


def measure(name: str, store: HandoffStore, count: int, runs: int) -> dict:
    start = time.perf_counter()
    seed(store, count)
    print(f"{name}: {count} tickets made in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    before = median_ms(one_query_per_ticket, store, runs)
    after = median_ms(batched, store, runs)
    assert before["events"] == after["events"] == 3 * count, (before, after)
    return {"one_query_per_ticket": before, "batched": after,
            "ratio": round(before["median_ms"] / after["median_ms"], 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "insight" / "ticket_reads.json")
    args = parser.parse_args(argv)
    from handoff.pg_store import PostgresHandoffStore
    from tests.pg import PostgresServer

    results = {"tickets": args.tickets, "runs": args.runs, "machine": platform.machine(),
               "cpus": os.cpu_count(), "code": code_state()}
    with tempfile.TemporaryDirectory() as tmp:
        store = HandoffStore(Path(tmp) / "handoff.sqlite3")
        results["sqlite"] = measure("sqlite", store, args.tickets, args.runs)
    server = PostgresServer.start()
    try:
        pg = PostgresHandoffStore(server.create_database())
        try:
            results["postgresql"] = measure("postgresql", pg, args.tickets, args.runs)
        finally:
            pg.close()
    finally:
        server.stop()
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: results[k] for k in ("sqlite", "postgresql")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
