"""common/settings.py: Settings.from_env with defaults, overrides and validation errors, to_env."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from common.settings import ROOT, ConfigError, Settings
from knowledge.corpus import CorpusError  # noqa: E402
from knowledge.index import BuildOptions
from knowledge.negatives import load_negatives  # noqa: E402
from knowledge.search import Thresholds

NEGATIVES = load_negatives(ROOT / "data" / "kb" / "out_of_scope.yml")


def test_negatives_can_be_switched_off_and_a_missing_file_is_a_clear_error(tmp_path):
    assert Settings.from_env({"CS_KB_NEGATIVES": "none"}).kb_build_options.negatives == ()
    with pytest.raises(CorpusError, match="out-of-scope examples not found"):
        _ = Settings.from_env({"CS_KB_NEGATIVES": str(tmp_path / "missing.yml")}).kb_build_options


def test_root_is_the_repository_root():
    assert (ROOT / "pyproject.toml").is_file()
    assert (ROOT / "common" / "settings.py").is_file()


def test_defaults_with_empty_environment():
    s = Settings.from_env({})
    assert s.host == "127.0.0.1"
    assert (s.rasa_port, s.action_port, s.web_port) == (5005, 5055, 8080)
    assert s.var_dir == ROOT / "var"
    assert s.faq_dir == ROOT / "data" / "faq"
    assert s.log_level == "INFO"
    assert s.handoff_db == ROOT / "var" / "handoff.sqlite3"
    assert s.rasa_url == "http://127.0.0.1:5005"
    assert s.action_url == "http://127.0.0.1:5055"
    assert s.web_url == "http://127.0.0.1:8080"


def test_unrelated_and_empty_variables_are_ignored():
    s = Settings.from_env({"CS_RASA_PORT": "", "RASA_PORT": "1", "PATH": "/bin", "CS_HOST": ""})
    assert s.rasa_port == 5005
    assert s.host == "127.0.0.1"


def test_int_float_and_str_overrides():
    s = Settings.from_env({"CS_HOST": "0.0.0.0", "CS_RASA_PORT": "6005", "CS_ACTION_PORT": "6055",
                           "CS_WEB_PORT": "9090", "CS_KB_ANSWER_THRESHOLD": "0.7",
                           "CS_LOG_LEVEL": "DEBUG"})
    assert s.host == "0.0.0.0"
    assert isinstance(s.rasa_port, int) and s.rasa_port == 6005
    assert s.action_port == 6055 and s.web_port == 9090
    assert isinstance(s.kb_answer_threshold, float) and s.kb_answer_threshold == 0.7
    assert s.log_level == "DEBUG"
    assert s.rasa_url == "http://0.0.0.0:6005"
    assert s.web_url == "http://0.0.0.0:9090"


def test_threshold_of_exactly_one_is_allowed():
    s = Settings.from_env({"CS_KB_ANSWER_THRESHOLD": "1", "CS_KB_SUGGEST_THRESHOLD": "1"})
    assert (s.kb_answer_threshold, s.kb_suggest_threshold) == (1.0, 1.0)
    assert s.kb_thresholds == Thresholds(answer=1.0, suggest=1.0)


def test_lower_case_log_level_is_accepted():
    assert Settings.from_env({"CS_LOG_LEVEL": "warning"}).log_level == "warning"


def test_relative_paths_resolve_under_the_repo_root():
    s = Settings.from_env({"CS_VAR_DIR": "tmp/state", "CS_FAQ_DIR": "data/faq"})
    assert isinstance(s.var_dir, Path)
    assert s.var_dir == ROOT / "tmp" / "state"
    assert s.faq_dir == ROOT / "data" / "faq"
    assert s.handoff_db == ROOT / "tmp" / "state" / "handoff.sqlite3"


def test_absolute_path_is_kept(tmp_path):
    s = Settings.from_env({"CS_VAR_DIR": str(tmp_path)})
    assert s.var_dir == tmp_path
    assert s.handoff_db == tmp_path / "handoff.sqlite3"


def test_home_path_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    s = Settings.from_env({"CS_VAR_DIR": "~/cs"})
    assert s.var_dir == tmp_path / "cs"


def test_reads_os_environ_when_no_mapping_given(monkeypatch):
    monkeypatch.setenv("CS_WEB_PORT", "8181")
    assert Settings.from_env().web_port == 8181


@pytest.mark.parametrize("name, raw", [
    ("CS_RASA_PORT", "abc"),
    ("CS_ACTION_PORT", "50.5"),
    ("CS_WEB_PORT", "8080x"),
    ("CS_KB_ANSWER_THRESHOLD", "high"),
    ("CS_KB_SUGGEST_THRESHOLD", "0,3"),
    ("CS_KB_HYBRID_WEIGHT", "half"),
    ("CS_KB_ADAPT_EPOCHS", "1.5"),
])
def test_malformed_numbers_raise_with_variable_name(name, raw):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({name: raw})
    assert name in str(err.value)
    assert raw in str(err.value)


def test_bad_int_message_names_the_type():
    with pytest.raises(ConfigError, match=r"CS_RASA_PORT='abc'.*int"):
        Settings.from_env({"CS_RASA_PORT": "abc"})


@pytest.mark.parametrize("name, raw", [
    ("CS_RASA_PORT", "0"),
    ("CS_ACTION_PORT", "65536"),
    ("CS_WEB_PORT", "-1"),
    ("CS_RASA_PORT", "100000"),
])
def test_port_out_of_range(name, raw):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({name: raw})
    assert f"{name}={int(raw)}" in str(err.value)
    assert "65535" in str(err.value)


def test_port_boundaries_are_allowed():
    s = Settings.from_env({"CS_RASA_PORT": "1", "CS_ACTION_PORT": "65535"})
    assert (s.rasa_port, s.action_port) == (1, 65535)


def test_equal_ports_raise():
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"CS_WEB_PORT": "5005"})
    message = str(err.value)
    assert "differ" in message
    assert "CS_WEB_PORT" in message and "CS_RASA_PORT" in message


def test_equal_ports_checked_on_direct_validate():
    with pytest.raises(ConfigError):
        Settings(rasa_port=7000, action_port=7000, web_port=7001).validate()


@pytest.mark.parametrize("raw", ["0", "-0.1", "1.01", "2", "nan"])
def test_answer_threshold_out_of_range(raw):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"CS_KB_ANSWER_THRESHOLD": raw})
    assert str(err.value) == f"CS_KB_ANSWER_THRESHOLD={float(raw)}: must be in (0, 1]"


@pytest.mark.parametrize("raw", ["-0.1", "0.23", "1", "nan"])
def test_suggest_threshold_out_of_range_or_above_answer(raw):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"CS_KB_SUGGEST_THRESHOLD": raw})
    message = str(err.value)
    assert message.startswith(f"CS_KB_SUGGEST_THRESHOLD={float(raw)}: must be between 0 and ")
    assert message.endswith(f"CS_KB_ANSWER_THRESHOLD ({Settings().kb_answer_threshold})")


def test_suggest_above_answer_is_rejected_and_equal_is_allowed():
    with pytest.raises(ConfigError, match=r"CS_KB_SUGGEST_THRESHOLD=0.6: .*CS_KB_ANSWER_THRESHOLD \(0.5\)"):
        Settings.from_env({"CS_KB_ANSWER_THRESHOLD": "0.5", "CS_KB_SUGGEST_THRESHOLD": "0.6"})
    s = Settings.from_env({"CS_KB_ANSWER_THRESHOLD": "0.5", "CS_KB_SUGGEST_THRESHOLD": "0.5"})
    assert s.kb_thresholds == Thresholds(answer=0.5, suggest=0.5)
    assert Settings.from_env({"CS_KB_SUGGEST_THRESHOLD": "0"}).kb_suggest_threshold == 0.0


@pytest.mark.parametrize("raw", ["1", "1.0", "-0.1", "nan"])
def test_hybrid_weight_out_of_range(raw):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"CS_KB_HYBRID_WEIGHT": raw})
    assert str(err.value) == f"CS_KB_HYBRID_WEIGHT={float(raw)}: must be in [0, 1)"


@pytest.mark.parametrize("raw", ["-1", "21", "100"])
def test_adapt_epochs_out_of_range(raw):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"CS_KB_ADAPT_EPOCHS": raw})
    assert str(err.value) == f"CS_KB_ADAPT_EPOCHS={raw}: must be between 0 and 20"


@pytest.mark.parametrize("raw", ["word2vec", "USE", "use+", "+minilm", "use++minilm", "use+bert", " "])
def test_unknown_or_malformed_encoder_is_rejected(raw):
    with pytest.raises(ConfigError) as err:
        Settings(kb_encoder=raw).validate()
    message = str(err.value)
    assert message.startswith(f"CS_KB_ENCODER={raw!r}: ")
    assert message.endswith("use 'use', 'minilm', 'st:<local model path>' or parts joined with '+'")


@pytest.mark.parametrize("raw", ["use", "minilm", "use+minilm", "st:/models/bge-small-zh", "use+st:models/x"])
def test_known_encoders_are_accepted(raw):
    s = Settings.from_env({"CS_KB_ENCODER": raw})
    assert s.kb_encoder == raw
    assert s.kb_build_options == BuildOptions(encoder=raw, adapt_epochs=0, negatives=NEGATIVES)


def test_kb_defaults_and_derived_values():
    s = Settings.from_env({})
    assert s.kb_dir == ROOT / "var" / "kb"
    assert s.kb_encoder == "use+minilm"
    assert s.kb_adapt_epochs == 0
    # Tuned with `python -m knowledge eval --sweep`; knowledge.search.Thresholds has the same defaults.
    assert (s.kb_answer_threshold, s.kb_suggest_threshold) == (0.22, 0.12)
    assert s.kb_thresholds == Thresholds() == Thresholds(answer=0.22, suggest=0.12)
    assert s.kb_hybrid_weight == 0.0
    assert s.kb_log_db == ROOT / "var" / "kb-queries.sqlite3"
    assert s.kb_build_options == BuildOptions(encoder="use+minilm", adapt_epochs=0, index_answers=True,
                                              negatives=NEGATIVES)
    assert len(NEGATIVES) > 200 and "今天天气怎么样" in NEGATIVES
    assert not hasattr(s, "faq_answer_threshold")


def test_kb_overrides_are_parsed():
    s = Settings.from_env({"CS_KB_DIR": "tmp/kb", "CS_KB_ENCODER": "use", "CS_KB_ADAPT_EPOCHS": "2",
                           "CS_KB_ANSWER_THRESHOLD": "0.6", "CS_KB_SUGGEST_THRESHOLD": "0.35",
                           "CS_KB_HYBRID_WEIGHT": "0.25", "CS_VAR_DIR": "/srv/cs"})
    assert s.kb_dir == ROOT / "tmp" / "kb"
    assert s.kb_encoder == "use"
    assert isinstance(s.kb_adapt_epochs, int) and s.kb_adapt_epochs == 2
    assert (s.kb_answer_threshold, s.kb_suggest_threshold, s.kb_hybrid_weight) == (0.6, 0.35, 0.25)
    assert s.kb_log_db == Path("/srv/cs/kb-queries.sqlite3")
    assert s.kb_build_options == BuildOptions(encoder="use", adapt_epochs=2, negatives=NEGATIVES)
    assert s.kb_thresholds == Thresholds(answer=0.6, suggest=0.35)


def test_to_env_round_trips_through_from_env(tmp_path):
    default = Settings()
    env = default.to_env()
    assert env["CS_KB_ENCODER"] == "use+minilm"
    assert env["CS_KB_ADAPT_EPOCHS"] == "0"
    assert env["CS_KB_DIR"] == str(ROOT / "var" / "kb")
    assert "CS_FAQ_ANSWER_THRESHOLD" not in env
    assert all(isinstance(v, str) for v in env.values())
    assert Settings.from_env(env) == default
    custom = Settings(rasa_port=6005, var_dir=tmp_path / "var", kb_dir=tmp_path / "kb", kb_encoder="use",
                      kb_adapt_epochs=3, kb_answer_threshold=0.7, kb_suggest_threshold=0.1,
                      kb_hybrid_weight=0.3, log_level="DEBUG")
    assert Settings.from_env(custom.to_env()) == custom
    assert Settings.from_env(custom.to_env()) != default


@pytest.mark.parametrize("raw", ["VERBOSE", "trace", "CRITICAL", "info2"])
def test_bad_log_level(raw):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"CS_LOG_LEVEL": raw})
    assert "CS_LOG_LEVEL" in str(err.value)
    assert raw in str(err.value)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_settings_are_immutable():
    s = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.rasa_port = 1  # type: ignore[misc]
