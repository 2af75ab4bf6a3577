"""Shared secrets of the services on one machine: taken from the environment when set, else
generated once and kept in var/secrets/ (mode 0600), so every process of this installation agrees
and nothing secret is ever committed."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def shared_secret(var_dir: Path, name: str, env_var: str) -> str:
    if os.environ.get(env_var):
        return os.environ[env_var]
    path = Path(var_dir) / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def rasa_api_token(var_dir: Path) -> str:
    """Token of Rasa's HTTP API (`rasa run --enable-api --auth-token`)."""
    return shared_secret(var_dir, "rasa_api_token", "CS_RASA_TOKEN")


def handoff_service_token(var_dir: Path) -> str:
    """Token the bot's action server shows the handoff service (handoffs, relayed messages, ratings)."""
    return shared_secret(var_dir, "handoff_service_token", "CS_HANDOFF_TOKEN")
