"""Rasa's check of the action server's answers, with the schema compiled once.

Rasa 3.6 validates every action server response with `jsonschema.validate(result, schema)`
(`RemoteAction._validate_action_result`). That call checks the *schema* against its metaschema and
builds a new validator each time: ~55 ms of CPU per call with jsonschema 4.17, against ~0.6 ms for
a validator built once — and a conversation turn makes several action calls. Under load it was the
largest single cost of the Rasa server (bench/load/README.md: a third of its CPU).

`install()` replaces that method with one that validates with a validator built once from the same
schema (the class jsonschema picks for it), raising the same ValidationError with Rasa's own hint
appended, so behaviour is unchanged and only the time goes. Rasa-side only (.venv-rasa).
"""
from __future__ import annotations

from typing import Any, Dict, Text

from jsonschema import ValidationError, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

_validator = None


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    global _validator
    if _validator is None:
        schema = RemoteAction.action_response_format_spec()
        cls = validators.validator_for(schema)
        cls.check_schema(schema)  # once, as jsonschema.validate would on every call
        _validator = cls(schema)
    try:
        _validator.validate(result)
        return True
    except ValidationError as e:
        e.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise e


def install() -> None:
    """Idempotent: every process that runs the model calls it (bot/policies/handoff_policy.py)."""
    RemoteAction._validate_action_result = _validate_action_result
