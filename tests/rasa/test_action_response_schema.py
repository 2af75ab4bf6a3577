"""bot/action_response_schema.py, in the Rasa env (a real subprocess): once the model's policy module is
imported, Rasa's check of action server answers gives exactly jsonschema.validate's verdicts (with Rasa's
hint on errors). What it saves is measured in bench/load, not here."""
from __future__ import annotations

import json
import subprocess

import pytest

from ops.paths import RASA_VENV_BIN, ROOT
from ops.training import rasa_env

pytestmark = pytest.mark.rasa

SCRIPT = r"""
import json, sys
from jsonschema import ValidationError, validate
import bot.policies.handoff_policy  # installs the check, as every process running the model does
from bot.action_response_schema import _validate_action_result
from rasa.core.actions.action import RemoteAction

samples = json.loads(sys.argv[1])
action = RemoteAction("action_x", None)
assert RemoteAction._validate_action_result is _validate_action_result
spec = RemoteAction.action_response_format_spec()
out = []
for sample in samples:
    try:
        validate(sample, spec)
        expected = None
    except ValidationError as e:
        expected = e.message
    try:
        action._validate_action_result(sample)
        got = None
    except ValidationError as e:
        got = e.message
    out.append([expected, got])
print(json.dumps({"verdicts": out}))
"""

SAMPLES = [
    {"events": [{"event": "slot", "name": "language", "value": "zh"}], "responses": [{"text": "您好"}]},
    {"events": [], "responses": []},
    {},
    {"events": "not a list"},
    {"events": [{"name": "no event key"}]},
    {"responses": [{"text": "hi", "buttons": [{"title": "a", "payload": "/affirm"}]}]},
    {"events": [{"event": "bot", "text": 5}]},
]


def test_same_verdicts_as_jsonschema_validate():
    result = subprocess.run([str(RASA_VENV_BIN / "python"), "-c", SCRIPT, json.dumps(SAMPLES)], cwd=ROOT,
                            env=rasa_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    verdicts = report["verdicts"]
    assert [v[0] is None for v in verdicts] == [v[1] is None for v in verdicts]
    assert any(v[0] is not None for v in verdicts)  # the samples include refusals
    for expected, got in verdicts:
        if expected is not None:
            assert got.startswith(expected) and "Failed to validate Action server response" in got
