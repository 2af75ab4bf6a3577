"""Secrets only from the environment: no secret-looking value in the repository's tracked files (test
code may hold clearly test-only constants), every secret setting defaults to empty, every secret in
credentials.yml / endpoints.yml is a ${CS_...} variable, and the shared service tokens come from the
environment or a generated file under var/secrets (git-ignored)."""
from __future__ import annotations

import re
import stat
import subprocess
from dataclasses import fields

import pytest
import yaml

from common import secrets as shared
from common.settings import ROOT, Settings

SECRET_NAME = re.compile(r"secret|token|passw(or)?d|api_?key|aes_?key|private_?key|credential", re.I)
# an assignment of a literal to a secret-looking name: NAME = "value" / name: value / "name": "value"
ASSIGNMENT = re.compile(r"""(?P<name>[A-Za-z_]*(?:secret|token|passw(?:or)?d|api_?key|aes_?key|private_?key)"""
                        r"""[A-Za-z_]*)['"]?\s*[:=]\s*['"](?P<value>[^'"\s]{6,})['"]""", re.I)
ALWAYS_SECRET = [
    re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),  # GitHub token
    re.compile(r"\bsk-[A-Za-z0-9]{32,}\b"),  # API keys of that shape
    re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}\b"),  # Slack
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b"),  # a signed JWT
]
# values that name a thing rather than being a secret (header names, metadata keys, file names)
NOT_A_SECRET = re.compile(r"^(X-[\w-]+|customer_token|cs_session|[\w.-]+\.(?:py|yml|yaml|json|txt|sqlite3))$", re.I)
TEST_ONLY = re.compile(r"test|fake|hostile|example|demo|dummy|wrong|forged|sample|abcdefghijklmnopqrstuvwxyz", re.I)
TEXT = (".py", ".yml", ".yaml", ".json", ".js", ".sh", ".toml", ".md", ".cfg", ".ini", ".env", ".html", ".txt",
        ".css", "Makefile", ".lock")


def tracked_files() -> list:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = [ROOT / p for p in out.decode().split("\0") if p]
    return [f for f in files if f.name.endswith(TEXT) and not str(f.relative_to(ROOT)).startswith("web/vendor")
            and f.is_file() and f.stat().st_size < 2_000_000]


def test_no_secret_looking_values_in_tracked_files():
    found = []
    for path in tracked_files():
        relative = str(path.relative_to(ROOT))
        text = path.read_text(errors="replace")
        for pattern in ALWAYS_SECRET:
            for match in pattern.finditer(text):
                found.append(f"{relative}: {match.group(0)[:24]}...")
        if relative.startswith(("tests/", "bench/")) or relative.endswith((".lock", ".md")):
            continue  # test code holds test-only constants; the docs show placeholders
        for match in ASSIGNMENT.finditer(text):
            value = match.group("value")
            if NOT_A_SECRET.match(value) or TEST_ONLY.search(value) or value.startswith(("${", "{", "<")):
                continue
            found.append(f"{relative}: {match.group('name')} = {value[:6]}...")
    assert not found, "secret-looking values in tracked files (use CS_* variables):\n" + "\n".join(found)


def test_secret_settings_default_to_empty():
    for f in fields(Settings):
        if SECRET_NAME.search(f.name):
            assert f.default == "", f"Settings.{f.name} has a literal default: secrets come from CS_{f.name.upper()}"


def test_channel_and_endpoint_secrets_come_from_the_environment():
    for name in ("credentials.yml", "endpoints.yml"):
        document = yaml.safe_load((ROOT / name).read_text()) or {}

        def walk(node, where, name=name):
            if isinstance(node, dict):
                for key, value in node.items():
                    if SECRET_NAME.search(str(key)) and value not in (None, ""):
                        assert isinstance(value, str) and re.fullmatch(r"\$\{CS_[A-Z0-9_]+\}", value), \
                            f"{name}: {where}.{key} = {value!r}: use ${{CS_...}}"
                    walk(value, f"{where}.{key}", name)
            elif isinstance(node, list):
                for item in node:
                    walk(item, where, name)

        walk(document, name)


def test_shared_tokens_come_from_the_environment_or_a_generated_private_file(tmp_path, monkeypatch):
    monkeypatch.delenv("CS_RASA_TOKEN", raising=False)
    monkeypatch.delenv("CS_HANDOFF_TOKEN", raising=False)
    generated = shared.rasa_api_token(tmp_path)
    path = tmp_path / "secrets" / "rasa_api_token"
    assert len(generated) >= 40 and path.read_text().strip() == generated
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert shared.rasa_api_token(tmp_path) == generated, "generated once, then kept"
    other = tmp_path / "other"
    assert shared.handoff_service_token(other) != shared.handoff_service_token(tmp_path)
    monkeypatch.setenv("CS_HANDOFF_TOKEN", "from-the-environment-0123456789")
    assert shared.handoff_service_token(tmp_path) == "from-the-environment-0123456789"


def test_var_secrets_are_never_tracked():
    ignored = subprocess.run(["git", "check-ignore", "-q", "var/secrets/rasa_api_token"], cwd=ROOT).returncode
    assert ignored == 0, "var/ must be git-ignored"
    tracked = subprocess.run(["git", "ls-files", "var"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [t for t in tracked if "secret" in t], tracked


@pytest.mark.parametrize("module", ["common/secrets.py", "common/identity.py", "handoff/auth.py"])
def test_no_secret_fallback_in_code_that_reads_secrets(module):
    source = (ROOT / module).read_text()
    assert not re.search(r"os\.environ\.get\([^)]*,\s*['\"][^'\"]+['\"]\)", source), \
        f"{module}: an environment secret with a literal fallback"
    assert not re.search(r"getenv\([^)]*,\s*['\"][^'\"]+['\"]\)", source)
