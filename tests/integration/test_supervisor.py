"""The process supervisor with real child processes (small HTTP servers)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ops.services import ServiceSpec
from ops.supervisor import StartupError, Supervisor, _group_alive, port_is_free
from tests.conftest import free_port


def http_service(name: str, port: int) -> ServiceSpec:
    # Each service spawns a grandchild too, to prove whole process groups are stopped.
    code = ("import subprocess, sys, http.server, socketserver;"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
            f"http.server.ThreadingHTTPServer(('127.0.0.1', {port}), "
            "http.server.SimpleHTTPRequestHandler).serve_forever()")
    return ServiceSpec(name=name, argv=[sys.executable, "-c", code], port=port,
                       health_url=f"http://127.0.0.1:{port}/", url=f"http://127.0.0.1:{port}",
                       start_timeout=20)


def test_start_and_stop_leave_nothing_behind(tmp_path):
    specs = [http_service("a", free_port()), http_service("b", free_port())]
    sup = Supervisor(specs, tmp_path)
    sup.start()
    groups = [p.pid for p in sup.procs.values()]
    assert all(_group_alive(g) for g in groups)
    assert json.loads(sup.registry.read_text())["groups"].keys() == {"a", "b"}
    sup.stop()
    assert not any(_group_alive(g) for g in groups)
    assert all(port_is_free("127.0.0.1", s.port) for s in specs)
    assert not sup.registry.exists()


def test_leftovers_of_a_crashed_run_are_stopped_before_starting(tmp_path):
    specs = [http_service("a", free_port())]
    crashed = Supervisor(specs, tmp_path)
    crashed.start()
    old_group = crashed.procs["a"].pid
    # Outside a test the dead supervisor's children are reaped by init; here by this thread.
    threading.Thread(target=crashed.procs["a"].wait, daemon=True).start()
    # The first supervisor "dies" without stopping its children; a new one starts on the same ports.
    again = Supervisor(specs, tmp_path)
    again.start()
    try:
        assert not _group_alive(old_group)
        assert again.procs["a"].pid != old_group
    finally:
        again.stop()


def test_busy_port_is_reported_clearly(tmp_path):
    blocker = http_service("web", free_port())
    holder = Supervisor([blocker], tmp_path / "other")
    holder.start()
    try:
        with pytest.raises(StartupError, match=rf"port {blocker.port} \(web\) is in use.*CS_WEB_PORT"):
            Supervisor([http_service("web", blocker.port)], tmp_path).start()
    finally:
        holder.stop()


def test_a_service_that_dies_at_start_is_reported_with_its_log(tmp_path):
    bad = ServiceSpec(name="actions", argv=[sys.executable, "-c", "print('boom: no config'); raise SystemExit(3)"],
                      port=free_port(), health_url="http://127.0.0.1:9/", url="", start_timeout=10)
    good = http_service("web", free_port())
    sup = Supervisor([good, bad], tmp_path)
    with pytest.raises(StartupError, match="(?s)actions exited with code 3.*boom: no config"):
        sup.start()
    assert port_is_free("127.0.0.1", good.port)  # the healthy one was stopped too


def test_children_die_with_a_killed_supervisor(tmp_path):
    """PR_SET_PDEATHSIG: even `kill -9` of the supervisor leaves no orphan service."""
    port = free_port()
    script = ("import sys, time; sys.path.insert(0, %r);"
              "from ops.supervisor import Supervisor; from tests.integration.test_supervisor import http_service;"
              "s = Supervisor([http_service('a', %d)], %r); s.start(); print('up', flush=True); time.sleep(600)"
              % (os.getcwd(), port, str(tmp_path)))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "up"
    assert not port_is_free("127.0.0.1", port)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not port_is_free("127.0.0.1", port):
        time.sleep(0.1)
    assert port_is_free("127.0.0.1", port)
