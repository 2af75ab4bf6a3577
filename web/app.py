"""aiohttp application serving the web chat page and the widget bundle."""
from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from common.prometheus import AiohttpLatency, RequestMetrics, aiohttp_metrics_handler, new_registry

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
VENDOR = HERE / "vendor"
WEBCHAT_BUNDLE = "webchat-1.0.1.js"


def create_app(socket_url: str) -> web.Application:
    if not (VENDOR / WEBCHAT_BUNDLE).exists():
        raise FileNotFoundError(
            f"{VENDOR / WEBCHAT_BUNDLE} is missing: run scripts/setup.sh (fetches rasa-webchat from npm)")
    registry = new_registry()
    latency = AiohttpLatency(RequestMetrics(registry))
    app = web.Application(middlewares=[latency.middleware])
    app.on_response_prepare.append(latency.on_response_prepare)
    app["socket_url"] = socket_url

    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def config_js(request: web.Request) -> web.Response:
        config = {"socketUrl": request.app["socket_url"], "socketPath": "/socket.io/"}
        return web.Response(text=f"window.CS_CONFIG = {json.dumps(config)};",
                            content_type="application/javascript",
                            headers={"Cache-Control": "no-store"})

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/", index)
    app.router.add_get("/config.js", config_js)
    app.router.add_get("/health", health)
    # Prometheus (request latencies), no login: scraped on the internal network (docs/monitoring.md)
    app.router.add_get("/metrics", aiohttp_metrics_handler(registry))
    app.router.add_static("/static/", STATIC)
    app.router.add_static("/vendor/", VENDOR)
    return app
