"""A throwaway PostgreSQL server for the tests: `initdb` into a fresh temporary directory, started with
`pg_ctl` on a free port on 127.0.0.1 (unix socket inside that directory, fsync off), a database per
test, everything removed at the end. Used by the `postgres` / `pg_url` fixtures of tests/conftest.py;
`waiting_for_a_lock` tells when a session of the tests' waits at a lock (races made to happen).

The server binaries come from PATH or Debian's /usr/lib/postgresql/<version>/bin (`apt-get install
postgresql`; `bash scripts/setup.sh --test` installs it). initdb and postgres refuse to run as root: as
root the server runs as the `postgres` system user (which Debian's package creates, and setup.sh --test
creates if missing), or as the user named by CS_TEST_PG_USER.
"""
from __future__ import annotations

import itertools
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import List, Optional

INSTALL_HINT = ("install them with `apt-get install postgresql` (Debian/Ubuntu; `bash scripts/setup.sh --test` "
                "does it), or put a directory holding initdb and pg_ctl on PATH")
ADMIN = "cs_test"  # the throwaway cluster's superuser


class PostgresUnavailable(RuntimeError):
    """The tests cannot start a PostgreSQL server here (the message says what to install or change)."""


def find_bindir() -> Optional[Path]:
    """The directory of initdb and pg_ctl: from PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    candidates: List[Path] = [Path(found).resolve().parent] if found else []

    def version(path: Path) -> tuple:
        return tuple(int(x) for x in re.findall(r"\d+", path.parent.name)) or (0,)

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One running cluster; `create_database()` gives a fresh, empty database's URL."""

    def __init__(self, bindir: Path, root: Path, run_as: Optional[pwd.struct_passwd]) -> None:
        self.bindir, self.root, self.run_as = bindir, root, run_as
        self.data, self.sockets, self.log = root / "data", root / "sockets", root / "server.log"
        self.password = secrets.token_urlsafe(16)
        self.port = 0
        self._names = itertools.count(1)
        self._admin = None

    # --- life cycle ----------------------------------------------------------------------------------
    @classmethod
    def start(cls) -> "PostgresServer":
        bindir = find_bindir()
        if bindir is None:
            raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on "
                                      f"PATH or in /usr/lib/postgresql/*/bin: {INSTALL_HINT}")
        run_as = None
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            name = os.environ.get("CS_TEST_PG_USER", "postgres")
            try:
                run_as = pwd.getpwnam(name)
            except KeyError:
                raise PostgresUnavailable(
                    f"the tests run as root, and initdb/postgres refuse to; they run the server as the user "
                    f"{name!r}, which does not exist: `bash scripts/setup.sh --test` creates the `postgres` system "
                    "user, or name another non-root user in CS_TEST_PG_USER") from None
        root = Path(tempfile.mkdtemp(prefix="cs-pg-"))  # short: the socket path must stay under 107 bytes
        server = cls(bindir, root, run_as)
        try:
            server._init()
            server._launch()
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        kw = {}
        if self.run_as is not None:
            kw = {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        return subprocess.run([str(self.bindir / args[0]), *args[1:]], cwd=self.root, env=env, capture_output=True,
                              text=True, timeout=120, **kw)

    def _init(self) -> None:
        self.sockets.mkdir()
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.run_as is not None:
            for path in (self.root, self.sockets, pwfile):
                os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)
        done = self._run("initdb", "-D", str(self.data), "-U", ADMIN, f"--pwfile={pwfile}", "-E", "UTF8",
                         "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        pwfile.unlink()
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        # A throwaway cluster: nothing needs to survive a crash, so no fsync (much faster DDL and commits).
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\n# tests/pg.py\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.sockets}'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n")

    def _launch(self) -> None:
        for _ in range(5):  # a free port may be taken between choosing it and the server binding it
            self.port = _free_port()
            done = self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                             "-o", f"-p {self.port}")
            if done.returncode == 0:
                return
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
            if "already in use" not in self.log_tail():
                break
        raise PostgresUnavailable(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{self.log_tail()}")

    def halt(self) -> None:
        """Stop the server as an outage would (fast shutdown: clients are disconnected); `resume` starts it
        again on the same port and data (tests/faults/)."""
        done = self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")
        if done.returncode != 0:
            raise PostgresUnavailable(f"pg_ctl stop failed:\n{done.stdout}\n{done.stderr}")
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def resume(self) -> None:
        done = self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                         "-o", f"-p {self.port}")
        if done.returncode != 0:
            raise PostgresUnavailable(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")
        shutil.rmtree(self.root, ignore_errors=True)

    # --- databases -----------------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ADMIN}:{self.password}@127.0.0.1:{self.port}/{database}"

    def admin(self):
        """An autocommit connection to the `postgres` database, as the superuser."""
        if self._admin is None or self._admin.closed:
            import psycopg

            self._admin = psycopg.connect(self.url(), autocommit=True)
        return self._admin

    def create_database(self) -> str:
        name = f"t{os.getpid()}_{next(self._names)}"
        self.admin().execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.admin().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def waiting_for_a_lock(url: str, locktype: str, timeout: float = 5.0, sessions: int = 1) -> bool:
    """Whether (at least) `sessions` sessions of the database wait for a lock of that type (polled, from a
    connection of its own: pg_stat_activity is read afresh in each of its transactions)."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as watcher:
        while time.monotonic() < deadline:
            if watcher.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                               "wait_event_type = 'Lock' AND wait_event = %s", (locktype,)).fetchone()[0] >= sessions:
                return True
            time.sleep(0.01)
    return False
