"""The action server: rasa-sdk's Sanic app, plus the knowledge base loaded in each worker at start.

Sanic starts its workers with `spawn`, so anything loaded in the main process is not in the worker;
the knowledge base (encoders + index) is loaded by a `before_server_start` listener of the app the
worker builds, before the worker accepts requests: no request pays for model loading. Likewise the
Prometheus registry (GET /metrics, actions/prometheus.py) is made by the factory, so the worker's app
has its own.
"""
from __future__ import annotations

import os
from functools import partial

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app_for_serve
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic
from sanic.worker.loader import AppLoader

from actions.prometheus import ActionMetrics


async def load_knowledge(app: Sanic, loop) -> None:
    from actions.faq import knowledge
    from common import logs
    from common.settings import Settings
    from knowledge.encoders import serving_mode

    logs.configure(Settings.from_env().log_level)  # a spawned worker starts with logging unconfigured
    serving_mode()
    await loop.run_in_executor(None, knowledge().load_now)


async def close_order_backend(app: Sanic, loop) -> None:
    """Close the order backend's HTTP connections (if it was ever used) before the loop goes."""
    from actions.order_context import order_backend

    if order_backend.cache_info().currsize:
        await order_backend().close()


async def start_handoff_outbox(app: Sanic, loop) -> None:
    """Deliver handoff calls queued while the handoff service was down (actions/handoff_outbox.py)."""
    from actions.handoff_outbox import deliver_forever

    app.ctx.handoff_outbox = loop.create_task(deliver_forever())


async def stop_handoff_outbox(app: Sanic, loop) -> None:
    task = getattr(app.ctx, "handoff_outbox", None)
    if task is not None:
        task.cancel()


def create_app(executor: ActionExecutor, **kwargs) -> Sanic:
    metrics = ActionMetrics()
    app = create_app_for_serve(metrics.timed(executor), **kwargs)
    metrics.install(app)
    app.register_listener(load_knowledge, "before_server_start")
    app.register_listener(start_handoff_outbox, "after_server_start")
    app.register_listener(stop_handoff_outbox, "before_server_stop")
    app.register_listener(close_order_backend, "after_server_stop")
    return app


def run(executor: ActionExecutor, port: int) -> None:
    """rasa_sdk.endpoint.run, with the knowledge-base listener in each worker's app."""
    loader = AppLoader(factory=partial(create_app, executor, cors_origins="*"))
    app = loader.load()
    app.prepare(host=os.environ.get("SANIC_HOST", "127.0.0.1"), port=port,
                workers=utils.number_of_sanic_workers())
    Sanic.serve(primary=app, app_loader=loader)
