"""Order tools: `python -m orders seed|serve|show`.

  seed [--replace] [--fixture F]   load the demo orders into the embedded database (var/orders.sqlite3)
  serve [--port P]                 serve the embedded orders over the order API (docs/order-api.md),
                                   token from CS_ORDER_API_TOKEN: point CS_ORDER_BACKEND=http at it
  show NUMBER                      print one order as the bot's backend sees it (JSON)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from common import logs
from common.settings import ConfigError, Settings
from orders import codec
from orders.factory import backend_from_settings
from orders.fixture import DEFAULT_FIXTURE, FixtureError, load_fixture
from orders.sqlite_backend import SqliteOrderBackend


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orders", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    seed = sub.add_parser("seed", help="load the demo orders fixture")
    seed.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)
    seed.add_argument("--replace", action="store_true", help="delete all orders first")
    serve = sub.add_parser("serve", help="serve the embedded orders over HTTP")
    serve.add_argument("--port", type=int, default=8091)
    show = sub.add_parser("show", help="print one order")
    show.add_argument("number")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    if args.command == "seed":
        backend = SqliteOrderBackend(settings.order_db)
        if not backend.is_empty() and not args.replace:
            print(f"{settings.order_db} already has orders; --replace to start over", file=sys.stderr)
            return 1
        try:
            fixture = load_fixture(args.fixture, now=datetime.now(timezone.utc))
        except FixtureError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        count = backend.seed(fixture, replace=args.replace)
        print(f"seeded {count} orders of {len(fixture.customers)} customers into {settings.order_db}")
        return 0

    if args.command == "serve":
        import os

        from aiohttp import web

        from orders.api import create_app

        token = os.environ.get("CS_ORDER_API_TOKEN") or settings.order_api_token
        if not token:
            print("set CS_ORDER_API_TOKEN: the API refuses calls without a bearer token", file=sys.stderr)
            return 2
        logs.configure(settings.log_level)
        web.run_app(create_app(SqliteOrderBackend(settings.order_db), token), host=settings.host,
                    port=args.port, print=None)
        return 0

    backend = backend_from_settings(settings)

    async def fetch():
        try:
            order = await backend.get_order(args.number)
            return order and {**codec.encode_order(order),
                              "logistics": [codec.encode_event(e) for e in await backend.logistics(args.number)],
                              "after_sales": [codec.encode_request(r)
                                              for r in await backend.after_sales_requests(args.number)]}
        finally:
            await backend.close()

    found = asyncio.run(fetch())
    if found is None:
        print(f"no order {args.number}", file=sys.stderr)
        return 1
    print(json.dumps(found, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
