"""Processes of the full scale-out test (tests/scale/test_full_stack.py): a started service that can be
killed with SIGKILL, and nginx (Debian's package; `bash scripts/setup.sh --test` installs it) as the load
balancer in front of several of them, run in the foreground with a configuration, pid file, logs and
temporary directories of its own in a temporary directory.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

import requests

from ops.paths import ROOT

INSTALL_HINT = "install it with `apt-get install nginx` (`bash scripts/setup.sh --test` does it)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """One service process (its own process group, output in a log file)."""

    def __init__(self, name: str, argv: List[str], env: Dict[str, str], port: int, health_path: str,
                 log: Path) -> None:
        self.name, self.argv, self.env, self.port, self.health_path, self.log = name, argv, env, port, health_path, log
        self.proc: Optional[subprocess.Popen] = None
        self.killed_at: Optional[float] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Proc":
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                if requests.get(self.url + self.health_path, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not come up within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.2)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if sig == signal.SIGKILL:
                self.killed_at = time.time()
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"


def nginx_binary() -> Optional[str]:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


class Nginx:
    """nginx balancing `upstreams` (name -> backend ports) on a free port each: round robin, a backend that
    refuses connections skipped (and left alone for 5 s). Rasa and handoff requests are not sent again once
    a backend got them (not POSTs: a customer's message is not processed twice behind the client's back);
    the action webhook is (Rasa does not retry it), as in deploy/nginx.conf. WebSockets pass (socket.io
    with the websocket transport needs no stickiness; every client here comes from 127.0.0.1, so ip_hash
    would put them all on one server)."""

    RESEND = {"rasa": "error timeout", "handoff": "error timeout", "actions": "error timeout non_idempotent"}

    def __init__(self, root: Path, upstreams: Dict[str, List[int]]) -> None:
        binary = nginx_binary()
        if binary is None:
            raise AssertionError(f"the full scale-out test needs nginx, which was not found: {INSTALL_HINT}")
        self.binary, self.root, self.upstreams = binary, root, upstreams
        self.ports = {name: free_port() for name in upstreams}
        self.proc: Optional[subprocess.Popen] = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def config(self) -> str:
        r = self.root
        # as root, nginx's workers would run as `nobody`, who cannot enter pytest's private temporary directories
        out = ["user root;"] if os.geteuid() == 0 else []
        out += [f"pid {r}/nginx.pid;", f"error_log {r}/error.log warn;", "worker_processes 1;", "daemon off;",
               "events { worker_connections 1024; }", "http {",
               f"  access_log {r}/access.log;",
               f"  client_body_temp_path {r}/client; proxy_temp_path {r}/proxy; fastcgi_temp_path {r}/fastcgi;",
               f"  uwsgi_temp_path {r}/uwsgi; scgi_temp_path {r}/scgi;",
               "  map $http_upgrade $connection_upgrade { default upgrade; '' close; }"]
        for name, ports in self.upstreams.items():
            servers = " ".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in ports)
            out.append(f"  upstream {name} {{ {servers} }}")
        for name in self.upstreams:
            out += [f"  server {{ listen 127.0.0.1:{self.ports[name]};",
                    "    location / {",
                    f"      proxy_pass http://{name}; proxy_http_version 1.1;",
                    "      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;",
                    "      proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
                    "      proxy_connect_timeout 2s; proxy_read_timeout 300s; proxy_buffering off;",
                    f"      proxy_next_upstream {self.RESEND.get(name, 'error timeout')};",
                    "    }", "  }"]
        out.append("}")
        return "\n".join(out) + "\n"

    def start(self) -> "Nginx":
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "nginx.conf"
        conf.write_text(self.config())
        argv = [self.binary, "-p", str(self.root), "-c", str(conf), "-e", str(self.root / "error.log")]
        check = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise AssertionError(f"nginx -t failed:\n{check.stderr}\n{conf.read_text()}")
        self.proc = subprocess.Popen(argv, stdout=open(self.root / "stdout.log", "wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited: {(self.root / 'error.log').read_text(errors='replace')[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", next(iter(self.ports.values()))), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise AssertionError("nginx did not listen within 15 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)  # graceful: master and worker
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
