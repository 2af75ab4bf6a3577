"""ops/services.py: the processes' command lines."""
from __future__ import annotations

import argparse
from pathlib import Path

from common.settings import Settings
from ops.services import build_services


def test_a_rasa_token_starting_with_a_dash_reaches_rasa_intact(tmp_path, monkeypatch):
    # URL-safe base64 tokens start with "-" one time in 64: argparse (Rasa's CLI) must not read it
    # as an option. Rasa's own option, parsed the way `rasa run` parses it.
    monkeypatch.setenv("CS_RASA_TOKEN", "-Xy_starts-with-a-dash")
    rasa = next(s for s in build_services(Settings(var_dir=tmp_path), Path("model.tar.gz")) if s.name == "rasa")
    parser = argparse.ArgumentParser()
    parser.add_argument("-t", "--auth-token")
    parsed, _ = parser.parse_known_args(rasa.argv[2:])
    assert parsed.auth_token == "-Xy_starts-with-a-dash"
