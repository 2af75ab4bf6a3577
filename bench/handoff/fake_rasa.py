"""A tiny stand-in for Rasa's HTTP API, for bench/handoff/queue_ops.py: the handoff service's delivery
worker posts every outbox item to `POST /conversations/{id}/trigger_intent`; this answers 200 at once
(or after `--delay-ms`) and counts the calls by intent. `GET /_count` returns the counts.

    .venv/bin/python -m bench.handoff.fake_rasa --port N [--delay-ms 0]

`POST /_delay {"ms": 80}` changes the delay while it runs (to stand in for the time a real Rasa takes per
trigger_intent: a whole bot turn).

It checks nothing (token, domain): the real behaviour is tests/fakes/rasa_api.py's business; here only
the service's own cost matters, so the other end must cost (almost) nothing and live in its own process.
"""
from __future__ import annotations

import argparse
import asyncio
from collections import Counter

from aiohttp import web

COUNTS = web.AppKey("counts", Counter)


def build(delay_ms: float) -> web.Application:
    app = web.Application()
    app[COUNTS] = Counter()
    delay = {"ms": delay_ms}

    async def trigger(request: web.Request) -> web.Response:
        body = await request.json()
        if delay["ms"]:
            await asyncio.sleep(delay["ms"] / 1000)
        app[COUNTS][str(body.get("name"))] += 1
        return web.json_response({"tracker": {"sender_id": request.match_info["sender"]}, "messages": []})

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"total": sum(app[COUNTS].values()), "by_intent": dict(app[COUNTS])})

    async def set_delay(request: web.Request) -> web.Response:
        delay["ms"] = float((await request.json())["ms"])
        return web.json_response(delay)

    app.router.add_post("/conversations/{sender}/trigger_intent", trigger)
    app.router.add_post("/_delay", set_delay)
    app.router.add_get("/_count", count)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.handoff.fake_rasa")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    web.run_app(build(args.delay_ms), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
