"""An asyncio event loop in a background thread, for the fakes' aiohttp servers: started, set up,
run until stopped, then cleaned up — a set-up failure is raised in the starting thread."""
from __future__ import annotations

import asyncio
import threading
from typing import Awaitable, Callable


def start_loop_thread(loop: asyncio.AbstractEventLoop, setup: Callable[[], Awaitable[None]],
                      cleanup: Callable[[], Awaitable[None]], name: str, what: str) -> threading.Thread:
    ready = threading.Event()
    failure: list = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(setup())
        except BaseException as exc:  # reported to the starting thread
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()
        try:
            loop.run_until_complete(cleanup())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError(f"{what} did not start within 10 s")
    if failure:
        raise failure[0]
    return thread
