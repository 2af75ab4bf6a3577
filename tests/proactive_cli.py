"""`python -m proactive run-once` as an operator (or a second replica) runs it: a process of the .venv's
Python in the repository, with the CS_* variables of the given settings on top of this environment's;
its report is the JSON line it prints."""
from __future__ import annotations

import json
import os
import subprocess

from common.settings import Settings
from ops.paths import ROOT, VENV_BIN


def start_run_once(settings: Settings, **overrides: str) -> subprocess.Popen:
    """Start one round; `overrides`: more CS_* variables (e.g. CS_PROACTIVE_RATE_COUNT="0")."""
    env = {**os.environ, **settings.to_env(), "PYTHONPATH": str(ROOT), **overrides}
    return subprocess.Popen([str(VENV_BIN / "python"), "-m", "proactive", "run-once"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)


def report_of(process: subprocess.Popen, timeout: float = 120) -> dict:
    """Wait for the round; its report (the process must have succeeded)."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err.decode()[-2000:]
    return json.loads(out.decode().strip().splitlines()[-1])
