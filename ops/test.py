"""`make test`: make sure the Rasa model for the current data exists, then run the whole pytest suite.

Extra arguments go to pytest (`make test PYTEST_ARGS="-k socketio"`).
"""
from __future__ import annotations

import os
import sys

from ops.paths import VENV_BIN
from ops.training import ensure_model


def main() -> None:
    ensure_model()
    args = [str(VENV_BIN / "python"), "-m", "pytest", *sys.argv[1:]]
    print("==> " + " ".join(args[1:]), flush=True)
    os.execv(args[0], args)


if __name__ == "__main__":
    main()
