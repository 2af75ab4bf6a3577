"""Intent accuracy on our own held-out examples must stay >= 95 % in each language."""
from __future__ import annotations

from pathlib import Path

import pytest

from ops.nlu_eval import evaluate

pytestmark = pytest.mark.rasa

BAR = 0.95


@pytest.fixture(scope="module")
def results(model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return evaluate(model, tmp_path_factory.mktemp("nlu-eval"))


@pytest.mark.parametrize("language", ["zh", "en"])
def test_heldout_intent_accuracy(results: dict, language: str):
    r = results[language]
    assert r["n"] >= 150, f"held-out set for {language} too small: {r['n']}"
    assert r["accuracy"] >= BAR, f"{language}: {r['accuracy']:.1%} < {BAR:.0%}; errors: {r['errors']}"
