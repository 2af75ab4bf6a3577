"""`python -m knowledge` (knowledge/__main__.py) as an editor runs it: real subprocesses, the USE encoder,
a small corpus and index root under tmp_path."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import pytest

from common.settings import ROOT

CORPUS = """\
# Three entries, both languages.
- id: shipping-fee
  category: logistics
  questions:
    - 运费怎么算
    - 包邮吗
    - How much is shipping?
  answer:
    zh: 单笔订单满 99 元包邮，不满 99 元收 8 元运费。
    en: Free shipping over 99 yuan, otherwise 8 yuan.

- id: refund-time
  category: returns
  questions:
    - 退款多久到账
    - 退款几天能收到
    - How long does a refund take?
  answer:
    zh: 退款在 3 个工作日内原路退回。
    en: Refunds reach your account within 3 working days.

- id: invoice
  category: payment
  questions:
    - 可以开发票吗
    - 怎么开电子发票
    - Can I get an invoice?
  answer:
    zh: 可以，在订单详情页申请电子发票。
    en: Yes, request an e-invoice on the order page.
"""

GIFT = """\
- id: gift-wrap
  category: orders
  questions:
    - 可以礼品包装吗
    - Do you offer gift wrapping?
  answer:
    zh: 可以，下单时勾选礼品包装。
    en: Yes, tick gift wrapping at checkout.
"""


def run(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    # One BLAS thread, as in test_knowledge.py's one_thread(): faster on a busy machine, same results.
    environ.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    environ.update(env or {})
    return subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "knowledge", *args], cwd=ROOT,
                          env=environ, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    base = tmp_path_factory.mktemp("kb-cli")
    corpus = base / "faq"
    corpus.mkdir()
    (corpus / "faq.yml").write_text(CORPUS, encoding="utf-8")
    env = {"CS_KB_ENCODER": "use", "CS_FAQ_DIR": str(corpus), "CS_KB_DIR": str(base / "kb"),
           "CS_VAR_DIR": str(base / "var")}
    return base, corpus, env


@pytest.fixture(scope="module")
def built(workspace):
    """The corpus built twice into the configured CS_KB_DIR: (first output, second output, version name)."""
    base, corpus, env = workspace
    first = run("build", "--quiet", env=env)
    second = run("build", "--quiet", env=env)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    version = (base / "kb" / "CURRENT").read_text(encoding="utf-8").strip()
    return first, second, version


def test_validate_good_corpus(workspace):
    _, corpus, env = workspace
    result = run("validate", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"0 error(s), 0 warning(s) in {corpus}"]


def test_validate_bad_corpus_names_file_and_line(tmp_path, workspace):
    _, _, env = workspace
    (tmp_path / "a-good.yml").write_text(CORPUS, encoding="utf-8")
    (tmp_path / "bad.yml").write_text(textwrap.dedent("""\
        - id: bad-yaml
          category: c
          questions:
            - 运费怎么算
          answer:
            en: Note: shipping is free
        """), encoding="utf-8")
    (tmp_path / "dup.yml").write_text("- id: shipping-costs\n  category: c\n  questions:\n    - 包邮吗？\n"
                                      "  answer: {zh: 满 99 元包邮}\n", encoding="utf-8")
    result = run("validate", "--corpus", str(tmp_path), "--no-embed", env=env)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "bad.yml:6: error: not valid YAML: mapping values are not allowed here (quote texts that contain ': ')",
        "dup.yml:4: error: entry 'shipping-costs': question '包邮吗？' also belongs to 'shipping-fee' "
        "(a-good.yml:6); a question must lead to one answer",
        "dup.yml:5: warning: entry 'shipping-costs': no en answer: en customers get the zh text",
        f"2 error(s), 1 warning(s) in {tmp_path}",
    ]
    assert "Traceback" not in result.stderr


def test_build_then_up_to_date(built, workspace):
    base, _, _ = workspace
    first, second, version = built
    assert first.stdout.startswith(f"built {version}: 3 entries, 15 questions, flat index, encoder use (dim 512), "
                                   "15 embedded, 0 reused, ")
    assert second.stdout == f"up to date: {version} (3 entries, 15 questions, encoder use)\n"
    assert [p.name for p in (base / "kb" / "versions").iterdir()] == [version]


def test_build_with_broken_corpus_exits_1(tmp_path, workspace):
    _, _, env = workspace
    (tmp_path / "faq.yml").write_text(CORPUS + "- id: Bad\n  category: c\n  questions: [q]\n  answer: {zh: a}\n",
                                      encoding="utf-8")
    result = run("build", "--quiet", "--corpus", str(tmp_path), "--out", str(tmp_path / "kb"), env=env)
    assert result.returncode == 1
    assert result.stderr == "error: faq.yml:31: error: id 'Bad' must be lower-case letters, digits and '-'\n"
    assert not (tmp_path / "kb").exists()


def test_search_prints_the_expected_entry_first(built, workspace):
    _, _, env = workspace
    version = built[2]
    result = run("search", "运费多少钱", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("decision: ") and lines[0].endswith(f"(index {version})")
    assert lines[1].startswith("1. shipping-fee  confidence=")
    assert lines[2] == "   单笔订单满 99 元包邮，不满 99 元收 8 元运费。"
    assert len(lines) == 5 and lines[3].startswith("2. ") and lines[4].startswith("3. ")
    english = run("search", "How long until my refund arrives?", "--k", "2", "--language", "en", env=env)
    assert english.returncode == 0, english.stderr
    lines = english.stdout.splitlines()
    assert lines[1].startswith("1. refund-time  ")
    assert lines[2] == "   Refunds reach your account within 3 working days."
    assert len(lines) == 4 and lines[3].startswith("2. ")


def test_search_without_an_index_exits_1(tmp_path, workspace):
    _, _, env = workspace
    result = run("search", "运费", "--out", str(tmp_path / "none"), env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: no knowledge-base index under ")
    assert "python -m knowledge build" in result.stderr and "Traceback" not in result.stderr


def test_eval_json(tmp_path, workspace):
    _, corpus, env = workspace
    queries = tmp_path / "queries.jsonl"
    queries.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"query": "运费多少钱", "expected": "shipping-fee"},
        {"query": "退款要几天", "expected": "refund-time"},
        {"query": "Can you give me an invoice?", "expected": "invoice"},
        {"query": "今天天气怎么样", "expected": None},
    ]) + "\n", encoding="utf-8")
    result = run("eval", "--queries", str(queries), "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert {"recall@1", "recall@3", "mrr", "abstain_rate", "false_abstain_rate", "n"} <= set(report)
    assert (report["n"], report["answerable"], report["unanswerable"]) == (4, 3, 1)
    assert report["recall@3"] == 1.0  # three entries: every expected one is in the top 3
    assert 0.0 <= report["recall@1"] <= 1.0 and report["mrr"] >= report["recall@1"]


def test_eval_with_a_bad_queries_file_exits_1_with_a_readable_message(tmp_path, workspace):
    _, _, env = workspace
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"query": "运费", "expected": "shipping-fee"}\n{"query": "x", "expected": "nope"}\n',
                       encoding="utf-8")
    result = run("eval", "--queries", str(queries), "--json", env=env)
    assert result.returncode == 1
    assert result.stderr == f"error: {queries}:2: expected id 'nope' is not in the corpus\n"
    assert result.stdout == ""
    queries.write_text('{"query": "运费", "expected": "shipping-fee"}\n{not json\n', encoding="utf-8")
    result = run("eval", "--queries", str(queries), env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {queries}:2: not JSON (")
    assert "Traceback" not in result.stderr


def test_versions_and_use(tmp_path, built, workspace):
    base, corpus, env = workspace
    first = built[2]
    out = tmp_path / "kb"
    shutil.copytree(base / "kb", out)
    more = tmp_path / "faq"
    shutil.copytree(corpus, more)
    (more / "gift.yml").write_text(GIFT, encoding="utf-8")
    result = run("build", "--quiet", "--corpus", str(more), "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("built ") and "4 entries, 19 questions" in result.stdout
    assert "4 embedded, 15 reused" in result.stdout  # only the new entry's questions and answers
    second = (out / "CURRENT").read_text(encoding="utf-8").strip()
    assert second != first

    def listing():
        result = run("versions", "--out", str(out), env=env)
        assert result.returncode == 0, result.stderr
        return {line[2:].split()[0]: line[0] for line in result.stdout.splitlines()}

    assert listing() == {first: " ", second: "*"}
    result = run("use", first, "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"live version: {first} ")
    assert (out / "CURRENT").read_text(encoding="utf-8").strip() == first
    assert listing() == {first: "*", second: " "}
    result = run("use", "20000101T000000-nothere", "--out", str(out), env=env)
    assert result.returncode == 1
    assert "is not a complete index version" in result.stderr
    assert (out / "CURRENT").read_text(encoding="utf-8").strip() == first


@pytest.mark.parametrize("variable, value", [("CS_KB_ENCODER", "word2vec"), ("CS_KB_ENCODER", "use+"),
                                             ("CS_KB_ANSWER_THRESHOLD", "high")])
def test_bad_configuration_exits_2(workspace, variable, value):
    _, _, env = workspace
    result = run("versions", env={**env, variable: value})
    assert result.returncode == 2
    assert result.stderr.startswith(f"configuration error: {variable}=")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_usage_error_exits_2(workspace):
    _, _, env = workspace
    result = run("search", "运费", "--k", "0", env=env)
    assert result.returncode == 2
    assert "--k must be at least 1" in result.stderr
