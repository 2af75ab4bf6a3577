"""Fixtures of the fault tests: the e2e suite's stack (tests/conftest.py), put back together after each test."""
from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Dict, List

import pytest
import requests
import yaml

from common.secrets import rasa_api_token
from ops.paths import DOMAIN


@pytest.fixture
def faults(stack):
    """The shared stack; after the test every service is resumed (SIGCONT) and whatever is down restarted,
    so the next test, of this folder or another, finds the whole stack running."""
    yield stack
    supervisor = stack.supervisor
    for name, proc in list(supervisor.procs.items()):
        try:
            os.killpg(proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        if proc.poll() is not None:
            supervisor.restart(name)


def response_texts(name: str) -> Dict[str, dict]:
    """A domain response's variations by language ("zh", "en", or "any" for the unconditional one)."""
    for path in sorted(Path(DOMAIN).glob("*.yml")):
        responses = (yaml.safe_load(path.read_text()) or {}).get("responses") or {}
        if name in responses:
            found = {}
            for variation in responses[name]:
                conditions = variation.get("condition") or []
                key = next((c["value"] for c in conditions if c.get("name") == "language"), "any")
                found[key] = variation
            return found
    raise KeyError(name)


def tracker(stack, sender: str) -> dict:
    """The conversation as Rasa's tracker store has it (HTTP API, with the stack's token)."""
    resp = requests.get(f"{stack.rasa_url}/conversations/{sender}/tracker",
                        params={"token": rasa_api_token(stack.settings.var_dir)}, timeout=30)
    resp.raise_for_status()
    return resp.json()


def bot_texts(replies: List[dict]) -> List[str]:
    return [r.get("text") or "" for r in replies]
