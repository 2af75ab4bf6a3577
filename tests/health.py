"""Waiting for a service the tests started as a subprocess to answer its health check."""
from __future__ import annotations

import subprocess
import time
from typing import Callable

import pytest
import requests


def wait_healthy(proc: subprocess.Popen, url: str, log_tail: Callable[[], str], timeout: float = 30.0,
                 what: str = "the handoff service") -> None:
    """Return when GET url answers 200; fail the test (with the log's tail) if the process exits or
    the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited ({proc.returncode}):\n{log_tail()}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not come up within {timeout:.0f} s:\n{log_tail()}")
        time.sleep(0.05)
