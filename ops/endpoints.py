"""Rasa's endpoints file for the configured layout.

One machine (the default, `make run`): the repository's endpoints.yml as it is (SQLite tracker store, Rasa's
in-memory lock store). Scaled out (docs/scale-out.md): with CS_TRACKER_DB_URL the tracker store is that
PostgreSQL database, with CS_REDIS_URL the lock store is Redis (so that one conversation's messages are
processed one at a time whichever Rasa server receives them) — rendered into var/run/endpoints.yml.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from common.settings import ROOT, Settings


def endpoints(settings: Settings) -> dict:
    """The endpoints as a mapping (what the scaled layout's file holds)."""
    found: dict = {"action_endpoint": {"url": "${CS_ACTION_ENDPOINT}"}}
    if settings.tracker_db_url:
        # SQLTrackerStore takes a whole URL as its `url` (sqlalchemy picks psycopg2, pinned in the Rasa env)
        found["tracker_store"] = {"type": "SQL", "dialect": "postgresql",
                                  "url": settings.tracker_db_url.replace("postgres://", "postgresql://", 1)}
    else:
        found["tracker_store"] = {"type": "SQL", "dialect": "sqlite", "db": "${CS_TRACKER_DB}"}
    if settings.redis_url:
        url = urlsplit(settings.redis_url)
        lock = {"type": "redis", "url": url.hostname or "localhost", "port": url.port or 6379,
                "db": int(url.path.strip("/") or 0), "key_prefix": "cs", "use_ssl": url.scheme == "rediss"}
        if url.password:
            lock["password"] = unquote(url.password)
        found["lock_store"] = lock
    return found


def endpoints_file(settings: Settings) -> Path:
    """The file to give `rasa run --endpoints`."""
    if not settings.tracker_db_url and not settings.redis_url:
        return ROOT / "endpoints.yml"
    path = settings.var_dir / "run" / "endpoints.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# Rendered by ops/endpoints.py from CS_TRACKER_DB_URL / CS_REDIS_URL: do not edit.\n"
    path.write_text(text + yaml.safe_dump(endpoints(settings), sort_keys=False))
    path.chmod(0o600)  # it may hold database and Redis passwords
    return path
