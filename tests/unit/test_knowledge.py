"""The knowledge base: corpus, validation, versioned index, search and decisions, eval, live reload, query log.

Real parts only: the real encoders (USE alone where the encoder is not the point, the configured default
for the real corpus), real FAISS indexes, real SQLite, real files under tmp_path.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sqlite3
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

import knowledge.index as index_module
from common.settings import ROOT, Settings
from knowledge.corpus import CorpusError, FaqEntry, Problem, load_corpus, read_corpus
from knowledge.encoders import load_encoder
from knowledge.eval import Query, QueryFileError, load_queries, score, sweep
from knowledge.index import (
    FLAT_MAX_ROWS,
    KEEP_VERSIONS,
    BuildOptions,
    IndexMissing,
    IndexVersion,
    KnowledgeIndexError,
    build_index,
    build_key,
    choose_index_type,
    corpus_hash,
    current_version,
    list_versions,
    open_current,
    prune,
    read_manifest,
    set_current,
)
from knowledge.live import LiveKnowledgeBase
from knowledge.querylog import Lookup, QueryLog
from knowledge.search import Decision, Hit, KnowledgeBase, Thresholds, decide
from knowledge.validate import duplicate_questions, near_duplicates, question_key, validate_corpus

FAQ_DIR = ROOT / "data" / "faq"
USE = BuildOptions(encoder="use")


def write(folder: Path, name: str, content: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(content), encoding="utf-8")
    return path


def as_tuples(problems):
    return [(p.level, p.file, p.line) for p in problems]


def open_kb(path: Path, hybrid_weight: float = 0.0) -> KnowledgeBase:
    version = IndexVersion.open(path)
    return KnowledgeBase.load(version, hybrid_weight)


# A small corpus; line numbers matter to the tests below.
GOOD = """\
# Logistics and returns.
- id: shipping-fee
  category: logistics
  questions:
    - 运费怎么算
    - How much is shipping?
  answer:
    zh: 满 99 元包邮。
    en: Free shipping over 99 yuan.
  tags: [shipping, fees]

- id: refund-time
  category: returns
  questions:
    - 退款多久到账
    - How long does a refund take?
  answer:
    zh: 3 个工作日内退回原账户。
    en: Within 3 working days, to the original account.
"""

# Three entries, 9 questions + 6 answers (a two-entry corpus is tested on its own further down).
TINY = (
    FaqEntry("shipping-fee", "logistics", ("运费怎么算", "包邮吗", "How much is shipping?"),
             {"zh": "单笔订单满 99 元包邮，不满 99 元收 8 元运费。", "en": "Free shipping over ¥99, otherwise ¥8."}),
    FaqEntry("refund-time", "returns", ("退款多久到账", "退款几天能收到", "How long does a refund take?"),
             {"zh": "退款在 3 个工作日内原路退回。", "en": "Refunds reach your account within 3 working days."}),
    FaqEntry("invoice", "payment", ("可以开发票吗", "怎么开电子发票", "Can I get an invoice?"),
             {"zh": "可以，在订单详情页申请电子发票。", "en": "Yes, request an e-invoice on the order page."}),
)
TINY_ROWS = 15


def with_question(entries, entry_id: str, old: str, new: str):
    out = []
    for e in entries:
        if e.id == entry_id:
            e = FaqEntry(e.id, e.category, tuple(new if q == old else q for q in e.questions), e.answer, e.tags)
        out.append(e)
    return tuple(out)


def variant(n: int):
    """TINY with one extra question: a corpus that differs from TINY and from the other variants."""
    return with_question(TINY, "invoice", "Can I get an invoice?", f"Can I get an invoice for order {n}?")


class Clock:
    """Replaces knowledge.index.datetime: each build one second after the previous one (or all at once)."""

    def __init__(self, step: int = 1) -> None:
        self.step, self.ticks = step, 0
        self.start = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

    def now(self, tz=None):
        self.ticks += 1
        return self.start + timedelta(seconds=self.step * self.ticks)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One BLAS and one torch thread while this module runs, as in a serving process (see
    knowledge.encoders.serving_mode). Same vectors; but on a busy 2-core machine, thread pools spinning
    against each other made encoding 8-25x slower (600 questions with MiniLM: 17 s -> 2.2 s)."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture()
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(index_module, "datetime", clock)
    return clock


# === corpus ==================================================================================

def test_valid_file_loads_with_line_numbers(tmp_path):
    write(tmp_path, "a.yml", GOOD)
    entries, problems = read_corpus(tmp_path)
    assert problems == []
    fee, refund = entries
    assert (fee.id, fee.category, fee.source, fee.line) == ("shipping-fee", "logistics", "a.yml", 2)
    assert fee.questions == ("运费怎么算", "How much is shipping?")
    assert fee.question_lines == (5, 6)
    assert fee.answer == {"zh": "满 99 元包邮。", "en": "Free shipping over 99 yuan."}
    assert fee.tags == ("shipping", "fees")
    assert (refund.id, refund.line, refund.question_lines, refund.tags) == ("refund-time", 12, (15, 16), ())


def test_texts_are_stripped_and_yaml_files_are_read_too(tmp_path):
    write(tmp_path, "b.yml", """\
        - id: only-zh
          category: misc
          questions: ["  只有中文  "]
          answer: {zh: "  中文答案  ", en: ""}
        """)
    write(tmp_path, "a.yml", GOOD)
    write(tmp_path, "c.yaml", "- id: from-yaml\n  category: misc\n  questions: [q]\n  answer: {en: a}\n")
    entries = load_corpus(tmp_path)
    assert [e.id for e in entries] == ["shipping-fee", "refund-time", "only-zh", "from-yaml"]
    only_zh = entries[2]
    assert only_zh.questions == ("只有中文",)
    assert only_zh.answer == {"zh": "中文答案"}  # the empty en text is dropped
    assert (only_zh.source, only_zh.tags) == ("b.yml", ())


def test_yaml_syntax_error_names_the_line_and_hints_at_quoting(tmp_path):
    write(tmp_path, "bad.yml", """\
        - id: bad-yaml
          category: c
          questions:
            - 运费怎么算
          answer:
            en: Note: shipping is free
        """)
    entries, problems = read_corpus(tmp_path)
    assert entries == []
    assert problems == [Problem("error", "bad.yml", 6, "not valid YAML: mapping values are not allowed here "
                                                       "(quote texts that contain ': ')")]


def test_missing_category_questions_and_answer(tmp_path):
    write(tmp_path, "m.yml", """\
        - id: no-category
          questions: [q1]
          answer: {zh: 答, en: a}
        - id: no-questions
          category: c
          answer: {zh: 答, en: a}
        - id: no-answer
          category: c
          questions: [q3]
        - id: fine
          category: c
          questions: [q4]
          answer: {zh: 答, en: answer}
        """)
    entries, problems = read_corpus(tmp_path)
    assert [e.id for e in entries] == ["fine"]
    assert [(p.level, p.line, p.message) for p in problems] == [
        ("error", 1, "entry 'no-category': category is required"),
        ("error", 4, "entry 'no-questions': questions must be a non-empty list of texts"),
        ("error", 7, "entry 'no-answer': answer must map zh and/or en to a text"),
    ]


def test_bad_id_pattern(tmp_path):
    write(tmp_path, "ids.yml", """\
        - id: good-one
          category: c
          questions: [q]
          answer: {zh: a, en: a}
        - category: c
          id: Bad_ID
          questions: [q2]
          answer: {zh: a}
        - id: -leading-dash
          category: c
          questions: [q3]
          answer: {zh: a}
        """)
    entries, problems = read_corpus(tmp_path)
    assert [e.id for e in entries] == ["good-one"]
    assert [(p.level, p.line) for p in problems] == [("error", 6), ("error", 9)]
    assert problems[0].message == "id 'Bad_ID' must be lower-case letters, digits and '-'"
    assert "'-leading-dash'" in problems[1].message


def test_duplicate_id_across_two_files_names_both(tmp_path):
    write(tmp_path, "a.yml", GOOD)
    write(tmp_path, "b.yml", """\
        # Another file.

        - id: other
          category: c
          questions: [q]
          answer: {zh: a, en: a}
        - id: shipping-fee
          category: c
          questions: [another question]
          answer: {zh: a, en: a}
        """)
    entries, problems = read_corpus(tmp_path)
    assert [e.id for e in entries] == ["shipping-fee", "refund-time", "other"]
    assert [str(p) for p in problems] == [
        "b.yml:7: error: duplicate id 'shipping-fee' (first at a.yml:2)"]
    with pytest.raises(CorpusError) as err:
        load_corpus(tmp_path)
    assert str(err.value) == "b.yml:7: error: duplicate id 'shipping-fee' (first at a.yml:2)"


def test_unknown_answer_language_is_an_error(tmp_path):
    write(tmp_path, "lang.yml", """\
        - id: french
          category: c
          questions: [q]
          answer:
            zh: 答
            en: answer
            fr: réponse
        """)
    entries, problems = read_corpus(tmp_path)
    assert entries == []
    assert [(p.level, p.line, p.message) for p in problems] == [
        ("error", 5, "entry 'french': unknown answer language(s) ['fr']; use zh and en")]


def test_missing_language_and_unknown_field_are_warnings(tmp_path):
    write(tmp_path, "warn.yml", """\
        - id: zh-only
          category: c
          questions: [运费]
          answer: {zh: 满 99 包邮}
          note: for editors
        """)
    entries, problems = read_corpus(tmp_path)
    assert [e.id for e in entries] == ["zh-only"]
    assert entries[0].answer == {"zh": "满 99 包邮"}
    assert [(p.level, p.line, p.message) for p in problems] == [
        ("warning", 5, "entry 'zh-only': unknown field 'note' is ignored"),
        ("warning", 4, "entry 'zh-only': no en answer: en customers get the zh text"),
    ]
    assert [e.id for e in load_corpus(tmp_path)] == ["zh-only"]  # warnings do not stop loading


def test_empty_file_is_a_warning(tmp_path):
    write(tmp_path, "a.yml", GOOD)
    write(tmp_path, "empty.yml", "# nothing yet\n")
    entries, problems = read_corpus(tmp_path)
    assert len(entries) == 2
    assert problems == [Problem("warning", "empty.yml", 1, "file is empty")]


def test_missing_folder_and_folder_without_yml_are_errors(tmp_path):
    entries, problems = read_corpus(tmp_path / "nope")
    assert entries == []
    assert problems == [Problem("error", str(tmp_path / "nope"), 0, "FAQ corpus folder not found")]
    (tmp_path / "notes.txt").write_text("not a corpus", encoding="utf-8")
    entries, problems = read_corpus(tmp_path)
    assert entries == []
    assert problems == [Problem("error", str(tmp_path), 0, "no *.yml files in the FAQ corpus folder")]
    with pytest.raises(CorpusError, match="not found"):
        load_corpus(tmp_path / "nope")


BROKEN = {
    # name: (file content, line of the first error, text in its message)
    "top_level_mapping": ("id: x\ncategory: c\n", 1, "expected a list of entries at the top level"),
    "entry_not_mapping": ("- just a string\n", 1, "expected a mapping with id, category, questions, answer"),
    "id_missing": ("- category: c\n  questions: [q]\n  answer: {zh: a}\n", 1, "id None must be"),
    "id_number": ("- id: 12\n  category: c\n  questions: [q]\n  answer: {zh: a}\n", 1, "id 12 must be"),
    "empty_questions": ("- id: x\n  category: c\n  questions: []\n  answer: {zh: a}\n", 3,
                        "entry 'x': questions must be a non-empty list"),
    "blank_question": ("- id: x\n  category: c\n  questions:\n    - ok\n    - '  '\n  answer: {zh: a}\n", 5,
                       "entry 'x': question 2 must be a non-empty text"),
    "questions_not_list": ("- id: x\n  category: c\n  questions: q\n  answer: {zh: a}\n", 3,
                           "questions must be a non-empty list"),
    "answer_without_text": ("- id: x\n  category: c\n  questions: [q]\n  answer: {zh: '', en: ''}\n", 4,
                            "entry 'x': answer has no text in zh or en"),
    "answer_not_mapping": ("- id: x\n  category: c\n  questions: [q]\n  answer: just text\n", 4,
                           "entry 'x': answer must map zh and/or en"),
    "empty_category": ("- id: x\n  category: ''\n  questions: [q]\n  answer: {zh: a}\n", 2,
                       "entry 'x': category is required"),
    "tags_not_list": ("- id: x\n  category: c\n  questions: [q]\n  answer: {zh: a}\n  tags: t\n", 5,
                      "entry 'x': tags must be a list"),
    "unclosed_flow": ("- id: x\n  questions: [unclosed\n", 3, "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_load_corpus_raises_corpus_error_naming_file_and_line(tmp_path, case):
    content, line, detail = BROKEN[case]
    write(tmp_path, "a-good.yml", GOOD)
    (tmp_path / f"z-{case}.yml").write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError) as err:
        load_corpus(tmp_path)
    message = str(err.value)
    assert message.startswith(f"z-{case}.yml:{line}: error: "), message
    assert detail in message
    assert "a-good.yml" not in message


def test_corpus_error_counts_further_errors(tmp_path):
    write(tmp_path, "a.yml", "- id: A\n  category: c\n  questions: [q]\n  answer: {zh: a}\n"
                             "- id: B\n  category: c\n  questions: [q]\n  answer: {zh: a}\n")
    with pytest.raises(CorpusError) as err:
        load_corpus(tmp_path)
    assert str(err.value).startswith("a.yml:1: error: id 'A'")
    assert "(and 1 more; run `python -m knowledge validate`)" in str(err.value)
    assert issubclass(CorpusError, ValueError)


# --- the real corpus ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus():
    return load_corpus(FAQ_DIR)


def test_real_corpus_is_clean_and_bilingual(corpus):
    entries, problems = read_corpus(FAQ_DIR)
    assert problems == []
    assert len(corpus) >= 100
    ids = [e.id for e in corpus]
    assert len(ids) == len(set(ids))
    for entry in corpus:
        assert set(entry.answer) == {"zh", "en"}, entry.id
        assert entry.category and entry.questions, entry.id
        assert len(entry.question_lines) == len(entry.questions), entry.id
        assert entry.source.endswith(".yml"), entry.id


def test_real_corpus_known_entry(corpus):
    fee = {e.id: e for e in corpus}["shipping-fee"]
    assert (fee.source, fee.category, fee.tags) == ("logistics.yml", "logistics", ("shipping", "fees"))
    assert fee.questions[0] == "运费怎么算"
    lines = (FAQ_DIR / "logistics.yml").read_text(encoding="utf-8").splitlines()
    assert lines[fee.line - 1].strip() == "- id: shipping-fee"
    assert lines[fee.question_lines[0] - 1].strip() == "- 运费怎么算"
    assert "99" in fee.answer["zh"] and "99" in fee.answer["en"]


# === validate ================================================================================

def test_question_key_ignores_case_punctuation_and_width():
    assert question_key("运费怎么算？") == question_key("运费怎么算") == "运费怎么算"
    assert question_key("ＨＯＷ much is  shipping?") == question_key("how much is shipping") == "howmuchisshipping"
    assert question_key("退款多久") != question_key("退货多久")


def test_same_question_in_two_entries_is_an_error_at_the_second(tmp_path):
    write(tmp_path, "a.yml", GOOD)
    write(tmp_path, "b.yml", """\
        - id: shipping-cost
          category: logistics
          questions:
            - 邮费多少
            - 运费怎么算？
          answer: {zh: 8 元, en: 8 yuan}
        """)
    entries = load_corpus(tmp_path)
    problems = duplicate_questions(entries)
    assert [str(p) for p in problems] == [
        "b.yml:5: error: entry 'shipping-cost': question '运费怎么算？' also belongs to 'shipping-fee' (a.yml:5); "
        "a question must lead to one answer"]


def test_same_question_twice_in_one_entry_is_a_warning(tmp_path):
    write(tmp_path, "a.yml", """\
        - id: invoice
          category: payment
          questions:
            - Can I get an invoice?
            - 可以开发票吗
            - can I get an INVOICE
          answer: {zh: 可以, en: Yes}
        """)
    problems = duplicate_questions(load_corpus(tmp_path))
    assert [(p.level, p.file, p.line) for p in problems] == [("warning", "a.yml", 6)]
    assert "listed twice" in problems[0].message


def test_validate_corpus_sorts_errors_first(tmp_path):
    write(tmp_path, "a.yml", GOOD.replace("    - How much is shipping?\n", "    - How much is shipping?\n"
                                                                          "    - how much is shipping\n"))
    write(tmp_path, "b.yml", "- id: dup\n  category: c\n  questions: [退款多久到账]\n  answer: {zh: a}\n")
    problems = validate_corpus(tmp_path)
    assert as_tuples(problems) == [("error", "b.yml", 3), ("warning", "a.yml", 7), ("warning", "b.yml", 4)]


def test_near_duplicates_flags_close_paraphrase_across_entries_only():
    entries = [
        FaqEntry("shipping-fee", "c", ("How much is shipping?", "退款多久到账"), {"en": "a"}, source="a.yml",
                 line=1, question_lines=(3, 4)),
        FaqEntry("shipping-cost", "c", ("How much is the shipping?", "可以开发票吗"), {"en": "b"},
                 source="b.yml", line=1, question_lines=(3, 4)),
    ]
    vectors = load_encoder("use").encode([q for e in entries for q in e.questions])
    problems = near_duplicates(entries, vectors)
    assert len(problems) == 1, [str(p) for p in problems]
    [problem] = problems
    assert (problem.level, problem.line) == ("warning", 3)
    assert "'How much is shipping?'" in problem.message or "'How much is the shipping?'" in problem.message
    assert "退款" not in problem.message and "发票" not in problem.message
    # The same pair within one entry is not a problem: phrasings of one entry are meant to be close.
    one = [FaqEntry("x", "c", ("How much is shipping?", "How much is the shipping?"), {"en": "a"})]
    assert near_duplicates(one, vectors[[0, 2]]) == []




# === index ===================================================================================

def test_build_writes_a_version_with_its_manifest_and_points_current_at_it(tmp_path):
    result = build_index(TINY, tmp_path, USE)
    assert result.changed
    assert result.path.parent == tmp_path / "versions"
    assert (tmp_path / "CURRENT").read_text(encoding="utf-8").strip() == result.path.name
    assert current_version(tmp_path) == result.path
    assert sorted(p.name for p in result.path.iterdir()) == [
        "entries.json", "head.npz", "index.faiss", "manifest.json", "part-0.npy", "rows.json"]
    m = read_manifest(result.path)
    assert m == result.manifest
    assert (m.encoder, m.dim, m.entries, m.rows, m.index_type, m.head) == ("use", 512, 3, TINY_ROWS, "flat", True)
    assert [(p["spec"], p["name"], p["dim"], p["adapted"]) for p in m.parts] == [
        ("use", "use-multilingual-v3", 512, False)]
    assert m.corpus_hash == corpus_hash(TINY)
    assert m.version == result.path.name and result.path.name.endswith(m.build_key[:8])
    assert (m.encoded_rows, m.reused_rows) == (TINY_ROWS, 0)
    assert m.options == {"encoder": "use", "adapt_epochs": 0, "index_answers": True, "negatives": 0}
    rows = json.loads((result.path / "rows.json").read_text(encoding="utf-8"))
    assert sum(kind == "a" for _, _, kind in rows) == 6
    assert rows[0] == [0, "运费怎么算", "q"]
    assert np.load(result.path / "part-0.npy").shape == (TINY_ROWS, 512)


def test_build_without_answer_rows(tmp_path):
    result = build_index(TINY, tmp_path, BuildOptions(encoder="use", index_answers=False))
    assert (result.manifest.rows, result.manifest.options["index_answers"]) == (9, False)
    version = IndexVersion.open(result.path)
    assert version.index.ntotal == 9 and bool(version.row_is_question.all())


def test_unchanged_build_is_a_no_op(tmp_path):
    first = build_index(TINY, tmp_path, USE)
    second = build_index(list(TINY), tmp_path, USE)
    assert not second.changed
    assert second.path == first.path
    assert second.manifest == first.manifest
    assert list_versions(tmp_path) == [first.path]


def test_editing_one_question_reuses_the_other_embeddings(tmp_path, clock):
    first = build_index(TINY, tmp_path, USE)
    edited = with_question(TINY, "refund-time", "退款几天能收到", "退款要几天才能到账")
    second = build_index(edited, tmp_path, USE)
    assert second.changed and second.path != first.path
    assert (second.manifest.encoded_rows, second.manifest.reused_rows) == (1, TINY_ROWS - 1)
    assert current_version(tmp_path) == second.path
    # Reused rows carry exactly the vectors of the earlier build.
    old, new = np.load(first.path / "part-0.npy"), np.load(second.path / "part-0.npy")
    changed_row = 4  # refund-time's second question
    keep = [r for r in range(TINY_ROWS) if r != changed_row]
    assert np.array_equal(old[keep], new[keep])
    assert not np.allclose(old[changed_row], new[changed_row])
    forced = build_index(edited, tmp_path, USE, force=True)
    assert forced.changed and forced.path not in (first.path, second.path)
    assert (forced.manifest.encoded_rows, forced.manifest.reused_rows) == (TINY_ROWS, 0)
    assert forced.manifest.build_key == second.manifest.build_key


def test_force_rebuild_within_the_same_second_gets_its_own_folder(tmp_path, monkeypatch):
    clock = Clock(step=0)
    monkeypatch.setattr(index_module, "datetime", clock)
    first = build_index(TINY, tmp_path, USE)
    again = build_index(TINY, tmp_path, USE, force=True)
    assert again.path != first.path and again.path.name.endswith(first.path.name.rsplit("-", 1)[1])
    assert current_version(tmp_path) == again.path


def test_corpus_hash_ignores_formatting_but_not_content(tmp_path):
    write(tmp_path / "one", "a.yml", GOOD)
    reformatted = """\
        # Same content, other formatting and comments.
        - {id: shipping-fee, category: logistics, tags: [shipping, fees],
           questions: ["运费怎么算", "How much is shipping?"],   # flow style
           answer: {en: "Free shipping over 99 yuan.", zh: "满 99 元包邮。"}}
        - id: refund-time
          answer:
            en: "Within 3 working days, to the original account."
            zh: 3 个工作日内退回原账户。
          questions: [退款多久到账, "How long does a refund take?"]
          category: returns
        """
    write(tmp_path / "two", "a.yml", reformatted)
    write(tmp_path / "three", "a.yml", GOOD.replace("满 99 元包邮。", "满 199 元包邮。"))
    one, two, three = (corpus_hash(load_corpus(tmp_path / n)) for n in ("one", "two", "three"))
    assert one == two
    assert three != one
    assert len(one) == 64


def test_build_key_depends_on_options():
    parts = [load_encoder("use")]
    keys = {build_key(TINY, options, parts) for options in
            (USE, BuildOptions(encoder="use", index_answers=False), BuildOptions(encoder="use", adapt_epochs=1))}
    assert len(keys) == 3


def test_failing_encoder_leaves_no_partial_folder_and_current_unchanged(tmp_path, monkeypatch):
    first = build_index(TINY, tmp_path, USE)
    encoder_class = type(load_encoder("use"))
    real_encode = encoder_class.encode
    calls = []

    def encode(self, texts, batch_size=64):
        calls.append(len(texts))
        if len(calls) == 2:
            raise RuntimeError("encoder crashed")
        return real_encode(self, texts, batch_size)

    monkeypatch.setattr(encoder_class, "encode", encode)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        build_index(variant(1), tmp_path, USE, force=True, batch_size=4)
    assert calls == [4, 4]  # it failed in the middle of embedding
    assert sorted(p.name for p in (tmp_path / "versions").iterdir()) == [first.path.name]
    assert current_version(tmp_path) == first.path
    monkeypatch.setattr(encoder_class, "encode", real_encode)
    assert build_index(variant(1), tmp_path, USE).changed


def test_build_prunes_to_the_newest_versions(tmp_path, clock):
    results = [build_index(variant(n), tmp_path, USE) for n in range(KEEP_VERSIONS + 2)]
    assert list_versions(tmp_path) == [r.path for r in results[-KEEP_VERSIONS:]]
    assert current_version(tmp_path) == results[-1].path


def test_prune_keeps_the_newest_three_and_the_live_one(tmp_path, clock):
    results = [build_index(variant(n), tmp_path, USE, make_current=False) for n in range(5)]
    assert not (tmp_path / "CURRENT").exists()
    assert len(list_versions(tmp_path)) == 5
    set_current(tmp_path, results[0].path)  # rolled back to the oldest
    stale = tmp_path / "versions" / ".20000101T000000-deadbeef.partial"
    stale.mkdir()
    fresh = tmp_path / "versions" / ".20300101T000000-cafebabe.partial"  # a build in progress
    fresh.mkdir()
    old = time.time() - 7200
    os.utime(stale, (old, old))
    prune(tmp_path)
    assert list_versions(tmp_path) == [results[0].path] + [r.path for r in results[2:]]
    assert not stale.exists() and fresh.exists()


def test_prune_keeps_the_newest_versions_when_built_within_one_second(tmp_path, monkeypatch):
    monkeypatch.setattr(index_module, "datetime", Clock(step=0))
    parts = [load_encoder("use")]
    corpora = sorted((variant(n) for n in range(4)), key=lambda c: build_key(c, USE, parts))
    smallest, a, b, largest = corpora
    built = [build_index(c, tmp_path, USE) for c in (a, b, smallest, largest)]
    # The third build is the second newest: keeping three, it must survive.
    assert built[2].path.exists()


def test_current_pointing_to_a_missing_version_counts_as_no_index(tmp_path):
    assert current_version(tmp_path) is None
    (tmp_path / "CURRENT").write_text("20300101T000000-00000000\n", encoding="utf-8")
    assert current_version(tmp_path) is None
    with pytest.raises(IndexMissing, match="python -m knowledge build"):
        open_current(tmp_path)
    assert IndexMissing is KnowledgeIndexError


def test_set_current_refuses_an_incomplete_version(tmp_path):
    result = build_index(TINY, tmp_path, USE)
    half = tmp_path / "versions" / "half"
    half.mkdir()
    with pytest.raises(KnowledgeIndexError, match="not a complete index version"):
        set_current(tmp_path, half)
    assert current_version(tmp_path) == result.path


def test_open_a_version_missing_its_faiss_file(tmp_path):
    result = build_index(TINY, tmp_path, USE)
    broken = tmp_path / "versions" / "broken"
    shutil.copytree(result.path, broken)
    (broken / "index.faiss").unlink()
    with pytest.raises(KnowledgeIndexError, match=r"(?s)incomplete index version .*; rebuild it") as err:
        IndexVersion.open(broken)
    assert str(broken) in str(err.value)
    (broken / "manifest.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(KnowledgeIndexError, match="unreadable index manifest .*python -m knowledge build"):
        IndexVersion.open(broken)


def test_open_version_and_query_encoder(tmp_path):
    result = build_index(TINY, tmp_path, USE)
    version = open_current(tmp_path)
    assert version.path == result.path
    assert [e.id for e in version.entries] == ["shipping-fee", "refund-time", "invoice"]
    assert version.entries[0].answer == TINY[0].answer
    assert version.row_entry.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 1, 1, 2, 2]
    assert version.row_is_question.sum() == 9
    assert version.query_encoder() is load_encoder("use")


def test_query_encoder_refuses_another_encoder_version(tmp_path):
    result = build_index(TINY, tmp_path, USE)
    manifest = json.loads((result.path / "manifest.json").read_text(encoding="utf-8"))
    manifest["parts"][0]["version"] = "0.0.1"
    (result.path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(KnowledgeIndexError, match="built with use-multilingual-v3 0.0.1.*rebuild"):
        IndexVersion.open(result.path).query_encoder()


def test_empty_corpus_is_refused(tmp_path):
    with pytest.raises(KnowledgeIndexError, match="no entries"):
        build_index([], tmp_path, USE)


def test_choose_index_type_boundary():
    assert choose_index_type(1) == "flat"
    assert choose_index_type(FLAT_MAX_ROWS) == "flat"
    assert choose_index_type(FLAT_MAX_ROWS + 1) == "hnsw"


QUERIES = ["运费多少钱", "多久能退款", "能开发票吗", "What does delivery cost?", "when will I get my refund",
           "I need an invoice"]


def test_hnsw_index_ranks_like_the_flat_one(tmp_path, monkeypatch):
    flat = open_kb(build_index(TINY, tmp_path / "flat", USE).path)
    monkeypatch.setattr(index_module, "FLAT_MAX_ROWS", 5)
    hnsw_result = build_index(TINY, tmp_path / "hnsw", USE)
    assert hnsw_result.manifest.index_type == "hnsw"
    hnsw = open_kb(hnsw_result.path)
    assert hnsw.version.index.hnsw.efSearch == 128
    vectors = load_encoder("use").encode(QUERIES)
    _, flat_rows = flat.version.index.search(vectors, 3)
    _, hnsw_rows = hnsw.version.index.search(vectors, 3)
    assert flat_rows[:, 0].tolist() == hnsw_rows[:, 0].tolist()
    for q_flat, q_hnsw in zip(flat.search_many(QUERIES), hnsw.search_many(QUERIES), strict=True):
        assert q_flat[0].entry.id == q_hnsw[0].entry.id
        assert q_flat[0].similarity == pytest.approx(q_hnsw[0].similarity, abs=1e-5)
    assert [hits[0].entry.id for hits in hnsw.search_many(QUERIES)] == [
        "shipping-fee", "refund-time", "invoice"] * 2


def test_two_entry_corpus_ranks_the_matching_entry_first(tmp_path):
    kb = open_kb(build_index(TINY[:2], tmp_path, USE).path)
    hits = kb.search("退款多久到账")
    assert hits[0].entry.id == "refund-time"


# === search ==================================================================================

@pytest.fixture(scope="module")
def real_kb(tmp_path_factory):
    """The real corpus indexed with the configured default encoder (built once for this module)."""
    root = tmp_path_factory.mktemp("kb-real")
    result = build_index(load_corpus(FAQ_DIR), root, Settings().kb_build_options)
    return open_kb(result.path, Settings().kb_hybrid_weight)


def sample_questions(corpus, chinese: bool):
    """The first Chinese (or English) question of the first two entries of every file."""
    out, per_file = [], {}
    for entry in corpus:
        if per_file.get(entry.source, 0) >= 2:
            continue
        per_file[entry.source] = per_file.get(entry.source, 0) + 1
        question = next(q for q in entry.questions if any("\u4e00" <= c <= "\u9fff" for c in q) == chinese)
        out.append((question, entry.id))
    return out


@pytest.mark.parametrize("chinese", [True, False], ids=["zh", "en"])
def test_corpus_questions_are_answered_with_their_entry(real_kb, corpus, chinese):
    samples = sample_questions(corpus, chinese)
    assert len(samples) == 22
    thresholds = Settings().kb_thresholds
    results = real_kb.search_many([q for q, _ in samples])
    got = [(q, hits[0].entry.id, decide(hits, thresholds).kind) for (q, _), hits in zip(samples, results,
                                                                                       strict=True)]
    assert got == [(q, expected, "answer") for q, expected in samples]
    for hits in results:
        assert hits[0].similarity == pytest.approx(1.0, abs=1e-4)  # the very phrasing is in the index


def test_real_corpus_validates_without_errors(real_kb, corpus):
    assert [str(p) for p in validate_corpus(FAQ_DIR)] == []
    # The embedding check of `validate_corpus(FAQ_DIR, Settings().kb_encoder)`, on the vectors of its first
    # part that the module's build already computed (re-encoding 1,600 questions costs ~10 s).
    version = real_kb.version
    assert version.manifest.parts[0]["spec"] == Settings().kb_encoder.split("+")[0]
    questions = np.load(version.path / "part-0.npy")[version.row_is_question]
    assert questions.shape[0] == sum(len(e.questions) for e in corpus)
    assert near_duplicates(corpus, questions) == []
    # ... and at a lower threshold it does find close phrasings, all across two entries, with file:line.
    close = near_duplicates(corpus, questions, threshold=0.8)
    assert close and all(p.level == "warning" and p.file.endswith(".yml") and p.line > 0 for p in close)


def test_real_kb_manifest(real_kb, corpus):
    m = real_kb.version.manifest
    settings = Settings()
    assert m.encoder == settings.kb_encoder
    assert [p["spec"] for p in m.parts] == settings.kb_encoder.split("+")
    assert m.dim == sum(p["dim"] for p in m.parts)
    assert m.entries == len(corpus)
    assert m.rows == sum(len(e.questions) for e in corpus) + 2 * len(corpus)


def test_chinese_query_gets_a_bilingual_answer(real_kb):
    hits = real_kb.search("满多少钱可以包邮", k=3)
    assert len(hits) == 3
    assert hits[0].entry.id == "shipping-fee"
    assert set(hits[0].entry.answer) == {"zh", "en"}
    assert all(h.entry.answer["zh"] and h.entry.answer["en"] for h in hits)
    assert [h.entry.id for h in hits].count("shipping-fee") == 1
    confidences = [h.confidence for h in hits]
    assert all(0.0 <= c <= 1.0 for c in confidences)
    probabilities = [h.probability for h in hits]
    assert probabilities == sorted(probabilities, reverse=True)


UNRELATED = ["今天天气怎么样", "给我讲个笑话", "What's the weather like tomorrow?", "tell me a joke",
             "asdkjh qwe zzz", "量子力学的基本原理是什么"]


def test_unrelated_queries_are_not_answered(real_kb):
    thresholds = Settings().kb_thresholds
    kinds = {q: decide(hits, thresholds).kind for q, hits in zip(UNRELATED, real_kb.search_many(UNRELATED),
                                                                  strict=True)}
    assert "answer" not in kinds.values(), kinds
    assert list(kinds.values()).count("none") >= 4, kinds


def test_search_many_equals_search_per_query(real_kb):
    queries = ["运费怎么算", "How long does a refund take?", "发票怎么开", "今天天气怎么样"]
    many = real_kb.search_many(queries, k=3)
    assert len(many) == 4
    for query, batch_hits in zip(queries, many, strict=True):
        single = real_kb.search(query, k=3)
        assert [h.entry.id for h in single] == [h.entry.id for h in batch_hits]
        for a, b in zip(single, batch_hits, strict=True):
            assert a.confidence == pytest.approx(b.confidence, abs=1e-4)
            assert a.question == b.question
    assert real_kb.search_many([]) == []


def test_k_limits_the_hits(real_kb):
    assert len(real_kb.search("退款", k=1)) == 1
    assert len(real_kb.search("退款", k=5)) == 5


def entry(entry_id: str) -> FaqEntry:
    return FaqEntry(entry_id, "c", (f"{entry_id}?",), {"zh": "答", "en": "answer"})


def hit(entry_id: str, confidence: float) -> Hit:
    return Hit(entry(entry_id), confidence, confidence, confidence, f"{entry_id}?")


def test_decide_pure_cases():
    t = Thresholds(answer=0.5, suggest=0.3)
    assert decide([], t) == Decision("none", [])
    assert decide([], t).best is None
    assert decide([hit("a", 0.5), hit("b", 0.1)], t).kind == "answer"
    assert len(decide([hit("a", 0.5), hit("b", 0.1)], t).hits) == 2
    five = [hit(x, c) for x, c in zip("abcde", [0.3, 0.2, 0.1, 0.05, 0.01], strict=True)]
    suggestion = decide(five, t)
    assert suggestion.kind == "suggest"
    assert [h.entry.id for h in suggestion.hits] == ["a", "b", "c"]
    assert suggestion.best.entry.id == "a"
    assert [h.entry.id for h in decide(five, t, suggestions=2).hits] == ["a", "b"]
    assert decide([hit("a", 0.4999)], t).kind == "suggest"
    assert decide([hit("a", 0.2999)], t).kind == "none"
    assert decide([hit("a", 0.2999)], t).hits[0].entry.id == "a"
    # suggest == answer: no suggestion band
    assert decide([hit("a", 0.49)], Thresholds(answer=0.5, suggest=0.5)).kind == "none"


def test_thresholds_validation():
    assert Thresholds(answer=0.5, suggest=0.5).answer == 0.5
    with pytest.raises(ValueError, match=r"suggest \(0.6\) <= answer \(0.5\)"):
        Thresholds(answer=0.5, suggest=0.6)
    with pytest.raises(ValueError):
        Thresholds(answer=1.2, suggest=0.3)
    with pytest.raises(ValueError):
        Thresholds(answer=0.5, suggest=-0.1)
    settings = Settings()
    assert settings.kb_thresholds == Thresholds(settings.kb_answer_threshold, settings.kb_suggest_threshold)
    assert Thresholds() == settings.kb_thresholds  # the code's defaults are the configured defaults


def test_hybrid_weight_is_validated_and_bm25_fusion_ranks(tmp_path):
    path = build_index(TINY, tmp_path, USE).path
    with pytest.raises(ValueError, match="hybrid_weight"):
        open_kb(path, hybrid_weight=1.0)
    kb = open_kb(path, hybrid_weight=0.5)
    assert [kb.search(q)[0].entry.id for q in QUERIES] == ["shipping-fee", "refund-time", "invoice"] * 2


# === eval ====================================================================================

def write_lines(path: Path, lines) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_load_queries(tmp_path):
    path = write_lines(tmp_path / "q.jsonl", ['{"query": "运费多少", "expected": "shipping-fee"}', "",
                                              '{"query": "天气", "expected": null}', '{"query": "hi"}'])
    assert load_queries(path, known_ids=["shipping-fee"]) == [
        Query("运费多少", "shipping-fee"), Query("天气", None), Query("hi", None)]


@pytest.mark.parametrize("lines, message", [
    (['{"query": "a", "expected": "shipping-fee"}', '{"query": "b", "expected": '], r"q\.jsonl:2: not JSON"),
    (['{"query": "a", "expected": null}', "", '{"query": "b", "expected": "nope"}'],
     r"q\.jsonl:3: expected id 'nope' is not in the corpus"),
    (['{"expected": "shipping-fee"}'], r'q\.jsonl:1: expected \{"query": text'),
    (['{"query": "  ", "expected": null}'], r'q\.jsonl:1: expected \{"query": text'),
    (['["a list"]'], r'q\.jsonl:1: expected \{"query"'),
    (['{"query": "a", "expected": 3}'], r"q\.jsonl:1: expected must be an entry id or null"),
    ([], r"q\.jsonl: no queries"),
    (["", "   "], r"q\.jsonl: no queries"),
])
def test_load_queries_errors_name_the_line(tmp_path, lines, message):
    path = write_lines(tmp_path / "q.jsonl", lines)
    with pytest.raises(QueryFileError, match=message):
        load_queries(path, known_ids=["shipping-fee"])


def test_load_queries_missing_file(tmp_path):
    with pytest.raises(QueryFileError, match="cannot read"):
        load_queries(tmp_path / "missing.jsonl")


EVAL_QUERIES = [Query("q1", "a"), Query("q2", "b"), Query("q3", "c"), Query("q4", "d"),
                Query("u1", None), Query("u2", None), Query("u3", None)]
EVAL_RESULTS = [
    [hit("a", 0.9), hit("b", 0.1), hit("c", 0.05)],   # rank 1, answered right
    [hit("a", 0.4), hit("b", 0.35), hit("c", 0.1)],   # rank 2, suggested
    [hit("a", 0.8), hit("b", 0.1), hit("c", 0.05)],   # rank 3, answered wrong
    [hit("a", 0.2), hit("b", 0.1), hit("c", 0.05)],   # not found, no answer
    [hit("a", 0.6), hit("b", 0.1)],                   # no answer exists, but answered
    [hit("a", 0.1)],                                  # abstained
    [],                                               # abstained
]


def test_score_on_hand_made_hits():
    report = score(EVAL_QUERIES, EVAL_RESULTS, Thresholds(answer=0.5, suggest=0.3))
    assert (report.n, report.answerable, report.unanswerable) == (7, 4, 3)
    assert report.recall_at_1 == 0.25
    assert report.recall_at_3 == 0.75
    assert report.mrr == 0.4583           # (1 + 1/2 + 1/3 + 0) / 4
    assert report.abstain_rate == 0.6667  # u2, u3
    assert report.false_abstain_rate == 0.5  # q2 (suggested), q4 (none)
    assert report.wrong_answer_rate == 0.25  # q3
    assert report.suggest_rate == 0.1429     # q2 of 7
    data = report.as_json()
    assert (data["recall@1"], data["recall@3"]) == (0.25, 0.75)
    assert "recall_at_1" not in data and data["n"] == 7


def test_score_without_unanswerable_queries():
    report = score(EVAL_QUERIES[:1], EVAL_RESULTS[:1], Thresholds(answer=0.5, suggest=0.3))
    assert (report.recall_at_1, report.abstain_rate, report.false_abstain_rate) == (1.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        score(EVAL_QUERIES, EVAL_RESULTS[:3], Thresholds())


def test_sweep_rows():
    steps = [round(0.05 * i, 2) for i in range(2, 20)]
    rows = sweep(EVAL_QUERIES, EVAL_RESULTS, suggest=0.3, steps=steps)
    assert [r[0] for r in rows] == steps
    abstain = [r[1] for r in rows]
    false_abstain = [r[2] for r in rows]
    assert abstain == sorted(abstain) and false_abstain == sorted(false_abstain)
    assert rows[0] == (0.1, 0.3333, 0.0, 0.75)   # everything but the empty list is answered
    assert rows[steps.index(0.5)] == (0.5, 0.6667, 0.5, 0.25)
    assert rows[-1] == (0.95, 1.0, 1.0, 0.0)


# === live ====================================================================================

def wait_for(condition, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} s")


NEW_ENTRY = FaqEntry("gift-wrap", "orders", ("可以礼品包装吗", "能帮我包装成礼物吗", "Do you offer gift wrapping?"),
                     {"zh": "可以，下单时勾选礼品包装，每单 5 元。",
                      "en": "Yes, tick gift wrapping at checkout: ¥5 per order."})


def test_live_knowledge_base_hot_reloads_while_searching(tmp_path):
    live = LiveKnowledgeBase(tmp_path, poll_seconds=0.05)
    assert live.load_now() is None
    assert live.get() is None
    first = build_index(TINY, tmp_path, USE)
    kb = live.load_now()
    assert kb is not None and kb.name == first.path.name
    assert live.get() is kb

    seen, errors, stop = [], [], threading.Event()

    def searcher():
        while not stop.is_set():
            try:
                current = live.get()
                hits = current.search("Do you offer gift wrapping?")
                seen.append((current.name, {e.id for e in current.entries}, hits[0].entry.id))
            except Exception as exc:  # noqa: BLE001 - any failure is what this test looks for
                errors.append(exc)

    thread = threading.Thread(target=searcher, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(seen) >= 3)
        second = build_index(TINY + (NEW_ENTRY,), tmp_path, USE)
        reloaded = wait_for(lambda: live.get().name == second.path.name and live.get())
        wait_for(lambda: seen and seen[-1][0] == second.path.name)
    finally:
        stop.set()
        thread.join(10)
    assert errors == []
    assert {name for name, _, _ in seen} == {first.path.name, second.path.name}
    for name, ids, top in seen:
        assert top in ids
        assert ("gift-wrap" in ids) == (name == second.path.name)
    assert [top for name, _, top in seen if name == second.path.name][-1] == "gift-wrap"
    assert reloaded.search("可以礼品包装吗")[0].entry.id == "gift-wrap"


def test_live_keeps_the_old_version_when_the_new_one_is_broken(tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="knowledge.live")
    first = build_index(TINY, tmp_path, USE)
    live = LiveKnowledgeBase(tmp_path, poll_seconds=0.05)
    kb = live.load_now()
    assert kb.name == first.path.name
    broken = tmp_path / "versions" / "20991231T235959-badbad00"
    broken.mkdir()
    (broken / "manifest.json").write_text("{broken", encoding="utf-8")
    (tmp_path / "CURRENT").write_text(broken.name + "\n", encoding="utf-8")

    def failure_logged():
        live.get()
        return [r for r in caplog.records if r.getMessage().startswith("knowledge-base version failed")]

    [record] = wait_for(failure_logged)
    assert record.version == broken.name
    assert "unreadable index manifest" in record.error
    deadline = time.monotonic() + 0.3  # more polls: the old version stays, the broken one is not retried
    while time.monotonic() < deadline:
        assert live.get() is kb
        time.sleep(0.01)
    time.sleep(0.1)  # let a retry, if one was started, fail and log
    assert len([r for r in caplog.records if r.getMessage().startswith("knowledge-base version failed")]) == 1
    assert kb.search("运费怎么算")[0].entry.id == "shipping-fee"
    # A good version published afterwards is picked up.
    second = build_index(variant(1), tmp_path, USE)
    assert wait_for(lambda: live.get().name == second.path.name)


# === query log ===============================================================================

def test_query_log_round_trip_masks_personal_data_and_filters(tmp_path):
    log = QueryLog(tmp_path / "db" / "kb.sqlite3")
    log.record(Lookup("u1", "运费怎么算", "faq_intent", "answer", [("shipping-fee", 0.91234567)],
                      chosen="shipping-fee", language="zh", channel="web", index_version="v1", at=1000.0))
    log.record(Lookup("u2", "我的电话13812345678，退款没到", "fallback", "suggest",
                      [("refund-time", 0.4), ("refund-method", 0.2)], language="zh", at=1001.0))
    log.record(Lookup("u3", "mail me at alice@example.com", "fallback", "none", [], language="en", at=1002.0))
    recent = log.recent()
    assert [r.sender_id for r in recent] == ["u3", "u2", "u1"]
    assert recent[1].query == "我的电话138****5678，退款没到"
    assert recent[0].query == "mail me at a***@example.com"
    assert recent[2] == Lookup("u1", "运费怎么算", "faq_intent", "answer", [("shipping-fee", 0.9123)],
                               "shipping-fee", "zh", "web", "v1", 1000.0)
    assert recent[1].top == [("refund-time", 0.4), ("refund-method", 0.2)]
    assert [r.sender_id for r in log.recent(decision="suggest")] == ["u2"]
    assert log.recent(decision="unavailable") == []
    assert [r.sender_id for r in log.recent(limit=2)] == ["u3", "u2"]
    # A second QueryLog on the same file (another process) sees the same rows.
    assert len(QueryLog(tmp_path / "db" / "kb.sqlite3").recent()) == 3
    with sqlite3.connect(tmp_path / "db" / "kb.sqlite3") as db:
        stored = [r[0] for r in db.execute("SELECT query FROM kb_lookups")]
    assert not any("13812345678" in q or "alice@" in q for q in stored)


def test_negative_class_takes_probability_from_the_entries_on_off_topic_messages(tmp_path):
    """The classifier's "none of these" class, trained from texts no entry answers, lowers the entries'
    probability for a message like them and leaves an entry's own phrasing answered."""
    negatives = ("今天天气怎么样", "明天会下雨吗", "what's the weather like", "will it rain tomorrow",
                 "给我讲个笑话", "tell me a joke")
    plain = build_index(list(TINY), tmp_path / "plain", USE)
    with_none = build_index(list(TINY), tmp_path / "none", dataclasses.replace(USE, negatives=negatives))
    assert (plain.manifest.negatives, with_none.manifest.negatives) == (0, len(negatives))
    kb_plain = KnowledgeBase(IndexVersion.open(plain.path), load_encoder("use"))
    kb_none = KnowledgeBase(IndexVersion.open(with_none.path), load_encoder("use"))
    off_topic = "后天天气好不好"
    assert kb_none.search(off_topic)[0].probability < kb_plain.search(off_topic)[0].probability - 0.2
    own = TINY[0].questions[0]
    assert kb_none.search(own)[0].entry.id == TINY[0].id
