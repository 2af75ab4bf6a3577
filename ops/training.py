"""Train the Rasa model only when its inputs changed.

The model file is named after a fingerprint of everything it is trained from (ops.paths.
TRAINING_INPUTS), so "is there a model for these inputs" is a file-exists check, and switching
branches back and forth reuses models already trained.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable

from ops.paths import DOMAIN, MODELS, RASA, ROOT, TRAINING_DATA, TRAINING_INPUTS

KEEP_MODELS = 3


def _files(paths: Iterable[Path]) -> list[Path]:
    found = []
    for path in paths:
        if path.is_dir():
            found += [p for p in sorted(path.rglob("*"))
                      if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
        elif path.is_file():
            found.append(path)
    return found


def fingerprint(paths: Iterable[Path] = TRAINING_INPUTS) -> str:
    digest = hashlib.sha256()
    for file in _files(paths):
        digest.update(str(file.relative_to(ROOT)).encode())
        digest.update(b"\0")
        digest.update(file.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_path(fp: str | None = None) -> Path:
    return MODELS / f"shop-{fp or fingerprint()}.tar.gz"


def ensure_model(force: bool = False) -> Path:
    """Return the model for the current inputs, training it first if it does not exist."""
    target = model_path()
    if target.exists() and not force:
        print(f"==> Rasa model is up to date: {target.relative_to(ROOT)}", flush=True)
        return target
    if not RASA.exists():
        raise SystemExit(f"{RASA} not found: run scripts/setup.sh first")
    print(f"==> training the Rasa model (about 2-4 min on 2 cores) -> {target.relative_to(ROOT)}",
          flush=True)
    started = time.monotonic()
    cmd = [str(RASA), "train", "--config", "config.yml", "--domain", str(DOMAIN.relative_to(ROOT)),
           "--data", *[str(p.relative_to(ROOT)) for p in TRAINING_DATA],
           "--out", str(MODELS.relative_to(ROOT)), "--fixed-model-name", target.name[:-len(".tar.gz")]]
    # Rasa prints its own progress bars (epochs) to the terminal.
    result = subprocess.run(cmd, cwd=ROOT, env=rasa_env())
    if result.returncode != 0 or not target.exists():
        raise SystemExit(f"rasa train failed (exit {result.returncode}); see the output above")
    print(f"==> trained in {time.monotonic() - started:.0f} s", flush=True)
    _prune_old_models(keep=target)
    return target


def _prune_old_models(keep: Path) -> None:
    models = sorted(MODELS.glob("shop-*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [m for m in models if m != keep][KEEP_MODELS - 1:]:
        old.unlink(missing_ok=True)


def rasa_env() -> dict:
    import os
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # Rasa's telemetry would try to reach the internet; TensorFlow's logs are noise here.
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    return env


if __name__ == "__main__":
    ensure_model(force="--force" in sys.argv)
