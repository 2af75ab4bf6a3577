"""tests/pg.py, the tests' throwaway PostgreSQL server: found where Debian puts it, and a failure that says
what to do where it cannot run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import pg


def test_missing_binaries_fail_saying_how_to_install_them(monkeypatch):
    monkeypatch.setattr(pg, "find_bindir", lambda: None)
    with pytest.raises(pg.PostgresUnavailable, match=r"not found .*apt-get install postgresql"):
        pg.PostgresServer.start()


def test_binaries_are_found_where_debian_puts_them_when_not_on_path(monkeypatch):
    debian = {p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")}
    if not debian:
        pytest.skip("no /usr/lib/postgresql/*/bin here")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert pg.find_bindir() in debian


@pytest.mark.skipif(os.geteuid() != 0, reason="only root needs another user to run the server")
def test_as_root_without_the_server_user_fails_saying_how_to_get_one(monkeypatch):
    monkeypatch.setattr(pg, "find_bindir", lambda: Path("/usr/bin"))
    monkeypatch.setenv("CS_TEST_PG_USER", "no-such-user-for-pg")
    with pytest.raises(pg.PostgresUnavailable, match=r"'no-such-user-for-pg'.*setup.sh --test"):
        pg.PostgresServer.start()
