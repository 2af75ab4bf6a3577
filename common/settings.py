"""All configuration of the product, in one place, read from the environment and validated at start.

Every setting has a default that runs the whole system on one machine with embedded storage
(SQLite, local files). Override with environment variables named `CS_<FIELD>` (upper case), e.g.
`CS_RASA_PORT=6005`. Invalid values stop the process with a message naming the variable.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping, Optional

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    rasa_port: int = 5005
    action_port: int = 5055
    web_port: int = 8080
    # Runtime state (databases, logs, pid files); git-ignored.
    var_dir: Path = ROOT / "var"
    faq_dir: Path = ROOT / "data" / "faq"
    # FAQ answers scoring at least this are given directly (0..1).
    faq_answer_threshold: float = 0.45
    log_level: str = "INFO"

    @property
    def handoff_db(self) -> Path:
        return self.var_dir / "handoff.sqlite3"

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.host}:{self.action_port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            name = f"CS_{f.name.upper()}"
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(name, raw, f.default)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        ports = {"CS_RASA_PORT": self.rasa_port, "CS_ACTION_PORT": self.action_port,
                 "CS_WEB_PORT": self.web_port}
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                raise ConfigError(f"{name}={port}: a port must be between 1 and 65535")
        if len(set(ports.values())) != len(ports):
            raise ConfigError(f"ports must differ, got {ports}")
        if not 0.0 < self.faq_answer_threshold <= 1.0:
            raise ConfigError(
                f"CS_FAQ_ANSWER_THRESHOLD={self.faq_answer_threshold}: must be in (0, 1]")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(
                f"CS_LOG_LEVEL={self.log_level}: use DEBUG, INFO, WARNING or ERROR")


def _parse(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            path = Path(raw).expanduser()
            return path if path.is_absolute() else ROOT / path
        return raw
    except ValueError:
        kind = type(default).__name__
        raise ConfigError(f"{name}={raw!r}: expected a value of type {kind}") from None
