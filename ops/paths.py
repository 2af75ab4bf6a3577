"""Where things are in a checkout."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
RASA_VENV_BIN = ROOT / ".venv-rasa" / "bin"
RASA = RASA_VENV_BIN / "rasa"
MODELS = ROOT / "models"

# What a Rasa model is trained from: a change to any of these means a new model.
TRAINING_INPUTS = (
    ROOT / "config.yml",
    ROOT / "bot" / "domain",
    ROOT / "bot" / "nlu",
    ROOT / "bot" / "sentiment",
    ROOT / "data" / "sentiment",
    ROOT / "data" / "nlu",
    ROOT / "data" / "core",
    ROOT / "data" / "jieba",
    ROOT / "requirements-rasa.lock",
)
DOMAIN = ROOT / "bot" / "domain"
TRAINING_DATA = (ROOT / "data" / "nlu", ROOT / "data" / "core")
