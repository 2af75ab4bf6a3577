"""Proactive notifications: `python -m proactive serve [--port 5070]` (the scheduler every
CS_PROACTIVE_INTERVAL seconds, plus GET /health and GET /metrics) or `python -m proactive run-once`
(one round, its report as JSON on stdout). CS_PROACTIVE=off: serve answers health and metrics but
runs no rounds; run-once does nothing."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import TYPE_CHECKING, Optional

from common.settings import Settings

if TYPE_CHECKING:
    from proactive.store import NotificationStore

log = logging.getLogger("proactive")


def build(settings: Settings, store: Optional[NotificationStore] = None):
    """The scheduler on the configured stores (`store`: one already open), and its Rasa client."""
    from common.secrets import rasa_api_token
    from handoff.rasa_client import RasaClient
    from orders.factory import backend_from_settings
    from proactive.facts import ChannelReach
    from proactive.outcomes import open_tracker_events
    from proactive.scheduler import Scheduler, SchedulerConfig
    from proactive.store import open_notification_store

    rasa = RasaClient(settings.rasa_url, rasa_api_token(settings.var_dir))
    scheduler = Scheduler(store or open_notification_store(settings), ChannelReach(settings.channels_db),
                          backend_from_settings(settings), rasa.trigger, open_tracker_events(settings),
                          SchedulerConfig.from_settings(settings))
    return scheduler, rasa


async def run_once(settings: Settings) -> dict:
    if settings.proactive == "off":
        return {"off": True}
    scheduler, rasa = build(settings)
    try:
        return (await scheduler.run_once()).as_dict()
    finally:
        await rasa.close()
        await scheduler.backend.close()
        scheduler.store.close()


async def serve(settings: Settings, port: int) -> None:
    from aiohttp import web

    from common.prometheus import AiohttpLatency, aiohttp_metrics_handler
    from proactive.metrics import ProactiveMetrics
    from proactive.store import open_notification_store

    store = open_notification_store(settings)
    metrics = ProactiveMetrics(store)
    latency = AiohttpLatency(metrics.requests)
    app = web.Application(middlewares=[latency.middleware])
    app.on_response_prepare.append(latency.on_response_prepare)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "scheduler": settings.proactive,
                                  "interval": settings.proactive_interval})

    app.router.add_get("/health", health)
    app.router.add_get("/metrics", aiohttp_metrics_handler(metrics.registry))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, settings.host, port).start()
    log.info("proactive service up", extra={"port": port, "scheduler": settings.proactive})
    stop = asyncio.Event()
    if settings.proactive == "off":
        await stop.wait()
        return
    scheduler, rasa = build(settings, store)
    try:
        while True:
            try:
                await scheduler.run_once()
                metrics.rounds.labels("ok").inc()
            except Exception:  # noqa: BLE001 - the loop outlives a bad round
                metrics.rounds.labels("error").inc()
                log.exception("proactive round failed")
            await asyncio.sleep(settings.proactive_interval)
    finally:
        await rasa.close()
        await scheduler.backend.close()
        await runner.cleanup()


def main(argv=None) -> int:
    from common import logs

    settings = Settings.from_env()
    logs.configure(settings.log_level)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cmd = sub.add_parser("serve")
    serve_cmd.add_argument("--port", type=int, default=settings.proactive_port)
    sub.add_parser("run-once")
    args = parser.parse_args(argv)
    if args.command == "serve":
        try:
            asyncio.run(serve(settings, args.port))
        except KeyboardInterrupt:
            pass
        return 0
    report = asyncio.run(run_once(settings))
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
