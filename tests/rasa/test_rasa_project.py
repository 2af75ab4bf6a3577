"""Rasa's own checks of the project: data validation and end-to-end test stories."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from ops.paths import DOMAIN, RASA, ROOT, TRAINING_DATA
from ops.training import rasa_env

pytestmark = pytest.mark.rasa


def _rasa(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(RASA), *args], cwd=ROOT, env=rasa_env(), capture_output=True,
                          text=True, timeout=timeout)


def test_rasa_data_validate():
    result = _rasa("data", "validate", "--config", "config.yml", "--domain", str(DOMAIN),
                   "--data", *map(str, TRAINING_DATA))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_rasa_test_stories_pass(model: Path, tmp_path: Path):
    out = tmp_path / "results"
    result = _rasa("test", "core", "--model", str(model), "--stories", "tests/stories",
                   "--out", str(out), "--no-plot")
    assert result.returncode == 0, result.stderr[-3000:]
    failed = yaml.safe_load((out / "failed_test_stories.yml").read_text()) or {}
    # Rasa writes a comment-only file when every story passed.
    assert not failed.get("stories"), (out / "failed_test_stories.yml").read_text()
    report = (out / "story_report.json")
    assert report.exists(), "rasa test wrote no story report"
