"""Start the product's processes, watch them, and stop them all cleanly.

Each child runs in its own process group (so its own children, e.g. Sanic workers, stop with it)
and is told by the kernel to terminate if the supervisor dies (PR_SET_PDEATHSIG), so no orphan is
left behind even after `kill -9` of the supervisor. The process groups are also written to a
registry file; a later start first stops anything a crashed earlier run left, so ports are free.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from ops.services import ServiceSpec

_PR_SET_PDEATHSIG = 1
_PORT_VAR = {"rasa": "RASA", "actions": "ACTION", "web": "WEB"}


class StartupError(RuntimeError):
    pass


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def _own_group() -> None:  # runs in the child between fork and exec
    os.setsid()


def _child_setup():
    """What a child does before exec. The kernel sends PR_SET_PDEATHSIG when the *thread* that forked the
    child ends, not the process: a service (re)started from a worker thread (e.g. asyncio.to_thread in a
    test) would get SIGTERM as soon as that thread is done. So only children forked by the main thread
    are tied to the supervisor's life; the others rely on the registry (clean_stale) like after a crash."""
    return _die_with_parent if threading.current_thread() is threading.main_thread() else _own_group


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_groups(pgids: List[int], grace: float = 10.0,
                 own: Iterable[subprocess.Popen] = ()) -> None:
    """SIGTERM each process group, SIGKILL what is left after `grace` seconds. `own` are our
    direct children: they are reaped while waiting, or their zombies would look alive."""
    own = list(own)
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for proc in own:
            proc.poll()
        if not any(_group_alive(p) for p in pgids):
            break
        time.sleep(0.1)
    for pgid in pgids:
        if _group_alive(pgid):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Supervisor:
    def __init__(self, specs: List[ServiceSpec], run_dir: Path, host: str = "127.0.0.1") -> None:
        self.specs = specs
        self.host = host
        self.run_dir = Path(run_dir)
        self.log_dir = self.run_dir / "log"
        self.registry = self.run_dir / "run" / "services.json"
        self.procs: Dict[str, subprocess.Popen] = {}

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.registry.parent.mkdir(parents=True, exist_ok=True)
        self.clean_stale()
        busy = [s for s in self.specs if not port_is_free(self.host, s.port)]
        if busy:
            raise StartupError("; ".join(
                f"port {s.port} ({s.name}) is in use by another program: stop it, or choose another "
                f"port with CS_{_PORT_VAR[s.name]}_PORT" for s in busy))
        try:
            for spec in self.specs:
                self._spawn(spec)
                self._write_registry()
            for spec in self.specs:
                self._wait_healthy(spec)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, spec: ServiceSpec) -> None:
        log = open(self.log_path(spec.name), "ab", buffering=0)
        log.write(f"\n--- starting {spec.name} at {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
        self.procs[spec.name] = subprocess.Popen(
            spec.argv, cwd=Path(__file__).resolve().parent.parent, env={**os.environ, **spec.env},
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_child_setup())
        log.close()

    def _wait_healthy(self, spec: ServiceSpec) -> None:
        deadline = time.monotonic() + spec.start_timeout
        proc = self.procs[spec.name]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StartupError(f"{spec.name} exited with code {proc.returncode} while starting:\n"
                                   + self.log_tail(spec.name))
            try:
                with urllib.request.urlopen(spec.health_url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.5)
        raise StartupError(f"{spec.name} did not answer {spec.health_url} within "
                           f"{spec.start_timeout:.0f} s:\n" + self.log_tail(spec.name))

    def stop(self) -> None:
        # Whole groups, even when the leader already exited: its children may still run.
        pgids = [p.pid for p in self.procs.values()]
        _stop_groups(list(reversed(pgids)), own=self.procs.values())
        for proc in self.procs.values():
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()
        self.registry.unlink(missing_ok=True)

    def clean_stale(self) -> None:
        """Stop the process groups a previous, crashed run of this checkout left running."""
        if not self.registry.exists():
            return
        try:
            entries = json.loads(self.registry.read_text()).get("groups", {})
        except (OSError, ValueError):
            entries = {}
        stale = [int(pgid) for pgid in entries.values() if _group_alive(int(pgid))]
        if stale:
            print(f"==> stopping {len(stale)} service(s) left over from an earlier run", flush=True)
            _stop_groups(stale)
        self.registry.unlink(missing_ok=True)

    def _write_registry(self) -> None:
        groups = {name: proc.pid for name, proc in self.procs.items()}
        self.registry.write_text(json.dumps({"supervisor": os.getpid(), "groups": groups}))

    # -- one service (the fault tests, tests/faults/, crash, stall and restart parts of a stack) ---
    def send_signal(self, name: str, sig: int) -> None:
        """Signal service `name`'s whole process group (SIGSTOP stalls it, SIGCONT resumes it)."""
        os.killpg(self.procs[name].pid, sig)

    def kill(self, name: str) -> None:
        """SIGKILL service `name`'s process group, as a crash would: no shutdown hooks run."""
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def restart(self, name: str) -> None:
        """Start service `name` again (first stopping whatever is left of it) and wait for its health check."""
        spec = next(s for s in self.specs if s.name == name)
        proc = self.procs.get(name)
        if proc is not None:
            _stop_groups([proc.pid], own=[proc])
        self._spawn(spec)
        self._write_registry()
        self._wait_healthy(spec)

    # -- watching ---------------------------------------------------------------------------
    def exited(self) -> Optional[ServiceSpec]:
        for spec in self.specs:
            proc = self.procs.get(spec.name)
            if proc is not None and proc.poll() is not None:
                return spec
        return None

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = 30) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> "Supervisor":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
