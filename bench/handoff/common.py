"""What both handoff benchmarks record about the code they measured: the working tree of the service and
the bot's side may differ from the commit (uncommitted work), so the commit alone does not say."""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MEASURED = ("handoff", "actions", "bot", "common")


def code_state() -> dict:
    """Commit, the measured folders' uncommitted changes, and a digest of handoff/*.py as run."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=False).stdout.rstrip()

    digest = hashlib.sha256()
    for path in sorted((ROOT / "handoff").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return {"commit": git("rev-parse", "--short", "HEAD") or "?",
            "uncommitted": [line for line in git("status", "--porcelain", "--", *MEASURED).splitlines() if line],
            "handoff_py_sha256": digest.hexdigest()[:16]}
