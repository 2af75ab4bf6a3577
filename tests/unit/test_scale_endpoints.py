"""Rasa's endpoints file per layout (ops/endpoints.py): the repository's file on one machine; rendered with
a PostgreSQL tracker store and a Redis lock store when CS_TRACKER_DB_URL / CS_REDIS_URL are set."""
from __future__ import annotations

import stat

import pytest
import yaml

from common.settings import ROOT, ConfigError, Settings
from ops.endpoints import endpoints_file


def test_one_machine_keeps_the_repository_file(tmp_path):
    assert endpoints_file(Settings(var_dir=tmp_path)) == ROOT / "endpoints.yml"


def test_scaled_layout_renders_postgres_tracker_and_redis_lock_store(tmp_path):
    settings = Settings.from_env({"CS_VAR_DIR": str(tmp_path), "CS_TRACKER_DB_URL": "postgres://rasa:pw@db:5432/rasa",
                                  "CS_REDIS_URL": "rediss://:s3cr%40t@cache:6380/2"})
    path = endpoints_file(settings)
    assert path.parent == tmp_path / "run" and stat.S_IMODE(path.stat().st_mode) == 0o600
    found = yaml.safe_load(path.read_text())
    assert found["action_endpoint"] == {"url": "${CS_ACTION_ENDPOINT}"}
    assert found["tracker_store"] == {"type": "SQL", "dialect": "postgresql", "url": "postgresql://rasa:pw@db:5432/rasa"}
    assert found["lock_store"] == {"type": "redis", "url": "cache", "port": 6380, "db": 2, "key_prefix": "cs",
                                   "use_ssl": True, "password": "s3cr@t"}


@pytest.mark.parametrize("name,value", [("CS_TRACKER_DB_URL", "mysql://x/y"), ("CS_REDIS_URL", "cache:6379"),
                                        ("CS_RASA_BASE_URL", "lb:5005"), ("CS_HANDOFF_OUTBOX_LEASE_SECONDS", "1")])
def test_scale_settings_are_validated(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
