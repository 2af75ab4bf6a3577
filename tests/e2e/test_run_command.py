"""`make run`'s supervisor process as a user runs it: URLs printed, Ctrl-C stops everything,
and a second start right after works (no busy ports, no orphans)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from ops.paths import ROOT
from ops.supervisor import port_is_free
from tests.conftest import free_port

pytestmark = pytest.mark.e2e


def _start(env: dict) -> tuple[subprocess.Popen, list]:
    proc = subprocess.Popen([sys.executable, "-m", "ops.run"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if "Press Ctrl-C" in line:
            return proc, lines
    proc.kill()
    pytest.fail("ops.run did not come up:\n" + "\n".join(lines))


def test_run_prints_urls_and_stops_cleanly_on_ctrl_c(model, tmp_path):
    ports = {"CS_RASA_PORT": free_port(), "CS_ACTION_PORT": free_port(), "CS_WEB_PORT": free_port()}
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "CS_VAR_DIR": str(tmp_path)}
    for attempt in (1, 2):  # the second start must not trip over the first one's ports
        proc, lines = _start(env)
        urls = [line for line in lines if "http://" in line]
        assert "Web chat" in urls[0], lines  # the web chat is the first thing printed
        assert f":{ports['CS_WEB_PORT']}/" in urls[0]
        assert requests.get(urls[0].split()[-1], timeout=10).status_code == 200
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert "all services stopped" in out
        for name, port in ports.items():
            assert port_is_free("127.0.0.1", port), f"{name}={port} still busy after Ctrl-C (attempt {attempt})"
