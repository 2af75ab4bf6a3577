"""The fakes' common server part: an aiohttp application on a free port of 127.0.0.1, served from a
background thread with its own event loop; `url` once started; a context manager."""
from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from typing import Any, Optional

from aiohttp import web

from tests.fakes.loop_thread import start_loop_thread

SHUTDOWN_TIMEOUT = 0.5  # slow handlers still sleeping are not waited for at stop


class ThreadedServer:
    thread_name = "fake-server"
    what = "the fake server"

    def _init_server(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._host, self._port = host, port
        self._loop = asyncio.new_event_loop()
        self._runner: Optional[web.AppRunner] = None
        self._thread: Optional[threading.Thread] = None
        self.url = ""

    def start(self):
        self._thread = start_loop_thread(self._loop, self._serve, lambda: self._runner.cleanup(),
                                         self.thread_name, self.what)
        return self

    async def _serve(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def admin_request(base_url: str, method: str, path: str, body: Any = None, timeout: float = 5.0) -> Any:
    """Call an admin route of a running fake (in-process or a separate process): JSON in, JSON out."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")
