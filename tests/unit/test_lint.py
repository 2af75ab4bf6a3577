"""The code base passes the linter configured in pyproject.toml."""
from __future__ import annotations

import subprocess

from ops.paths import ROOT, VENV_BIN


def test_ruff_is_clean():
    result = subprocess.run([str(VENV_BIN / "ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]
