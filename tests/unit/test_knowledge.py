"""knowledge/corpus.py (load_corpus) and knowledge/lexical.py (LexicalIndex)."""
from __future__ import annotations

import textwrap

import pytest

from common.settings import ROOT
from knowledge.corpus import CorpusError, FaqEntry, load_corpus
from knowledge.lexical import LexicalIndex

FAQ_DIR = ROOT / "data" / "faq"


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(FAQ_DIR)


@pytest.fixture(scope="module")
def index(corpus):
    return LexicalIndex(corpus)


GOOD = """\
- id: good-entry
  category: misc
  questions:
    - 好问题
    - A good question?
  answer:
    zh: 好答案
    en: A good answer.
"""


def write(folder, name, content):
    path = folder / name
    path.write_text(textwrap.dedent(content), encoding="utf-8")
    return path


# --- the real corpus -------------------------------------------------------------------------

def test_real_corpus_loads(corpus):
    assert len(corpus) >= 10
    assert all(isinstance(e, FaqEntry) for e in corpus)


def test_real_corpus_ids_unique(corpus):
    ids = [e.id for e in corpus]
    assert len(ids) == len(set(ids))


def test_real_corpus_every_entry_bilingual(corpus):
    for entry in corpus:
        assert entry.answer.get("zh", "").strip(), entry.id
        assert entry.answer.get("en", "").strip(), entry.id
        assert set(entry.answer) == {"zh", "en"}, entry.id


def test_real_corpus_entries_complete(corpus):
    for entry in corpus:
        assert entry.category
        assert entry.questions and all(q == q.strip() and q for q in entry.questions)
        assert entry.source.endswith(".yml")


def test_real_corpus_known_entries(corpus):
    by_id = {e.id: e for e in corpus}
    for wanted in ("shipping-fee", "delivery-time", "invoice", "refund-time"):
        assert wanted in by_id
    fee = by_id["shipping-fee"]
    assert fee.source == "shipping.yml"
    assert "运费怎么算" in fee.questions
    assert "99" in fee.answer["zh"] and "99" in fee.answer["en"]
    assert fee.tags == ("shipping", "fees")


# --- load_corpus on temporary folders --------------------------------------------------------

def test_valid_tmp_folder(tmp_path):
    write(tmp_path, "a.yml", GOOD)
    write(tmp_path, "b.yml", """\
        - id: only-zh
          category: misc
          questions: ["  只有中文  "]
          answer: {zh: "  中文答案  "}
        """)
    write(tmp_path, "ignored.yaml", "this: is not loaded")
    write(tmp_path, "empty.yml", "")
    entries = load_corpus(tmp_path)
    assert [e.id for e in entries] == ["good-entry", "only-zh"]
    only_zh = entries[1]
    assert only_zh.questions == ("只有中文",)
    assert only_zh.answer == {"zh": "中文答案"}
    assert only_zh.tags == ()
    assert only_zh.source == "b.yml"


def test_missing_folder(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        load_corpus(tmp_path / "nope")


def test_empty_answer_language_is_dropped(tmp_path):
    write(tmp_path, "a.yml", """\
        - id: x
          category: c
          questions: [q]
          answer: {zh: 答, en: ""}
        """)
    [entry] = load_corpus(tmp_path)
    assert entry.answer == {"zh": "答"}


BROKEN = {
    "invalid_yaml": ("- id: x\n  questions: [unclosed\n", "not valid YAML"),
    "top_level_mapping": ("id: x\ncategory: c\n", "list of entries"),
    "entry_not_mapping": ("- just a string\n", "entry 1"),
    "bad_id_upper": ("- id: Bad_ID\n  category: c\n  questions: [q]\n  answer: {zh: a}\n", "'Bad_ID'"),
    "bad_id_missing": ("- category: c\n  questions: [q]\n  answer: {zh: a}\n", "id None"),
    "bad_id_number": ("- id: 12\n  category: c\n  questions: [q]\n  answer: {zh: a}\n", "id 12"),
    "empty_questions": ("- id: x\n  category: c\n  questions: []\n  answer: {zh: a}\n", "questions"),
    "blank_question": ("- id: x\n  category: c\n  questions: ['  ']\n  answer: {zh: a}\n", "questions"),
    "questions_not_list": ("- id: x\n  category: c\n  questions: q\n  answer: {zh: a}\n", "questions"),
    "answer_without_language": ("- id: x\n  category: c\n  questions: [q]\n  answer: {zh: '', en: ''}\n",
                                "answer"),
    "answer_not_mapping": ("- id: x\n  category: c\n  questions: [q]\n  answer: just text\n", "answer"),
    "unknown_language": ("- id: x\n  category: c\n  questions: [q]\n  answer: {zh: a, fr: b}\n",
                         "['fr']"),
    "missing_category": ("- id: x\n  questions: [q]\n  answer: {zh: a}\n", "category"),
    "empty_category": ("- id: x\n  category: ''\n  questions: [q]\n  answer: {zh: a}\n", "category"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_file_raises_corpus_error_naming_the_file(tmp_path, case):
    content, detail = BROKEN[case]
    write(tmp_path, "a-good.yml", GOOD)
    (tmp_path / f"z-{case}.yml").write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError) as err:
        load_corpus(tmp_path)
    message = str(err.value)
    assert f"z-{case}.yml" in message
    assert "a-good.yml" not in message
    assert detail in message


def test_error_names_the_entry(tmp_path):
    write(tmp_path, "faq.yml", GOOD + "- id: second-one\n  category: c\n  questions: []\n"
                                      "  answer: {zh: a}\n")
    with pytest.raises(CorpusError, match=r"faq\.yml: second-one: questions"):
        load_corpus(tmp_path)


def test_duplicate_id_across_two_files(tmp_path):
    write(tmp_path, "first.yml", GOOD)
    write(tmp_path, "second.yml", GOOD)
    with pytest.raises(CorpusError) as err:
        load_corpus(tmp_path)
    message = str(err.value)
    assert message.startswith("second.yml")
    assert "first.yml" in message
    assert "good-entry" in message


def test_duplicate_id_within_one_file(tmp_path):
    write(tmp_path, "one.yml", GOOD + GOOD)
    with pytest.raises(CorpusError, match=r"one\.yml: id 'good-entry' also used in one\.yml"):
        load_corpus(tmp_path)


def test_corpus_error_is_value_error():
    assert issubclass(CorpusError, ValueError)


# --- LexicalIndex over the real corpus -------------------------------------------------------

def ids(hits):
    return [h.entry.id for h in hits]


def test_shipping_fee_question_in_chinese(index):
    hits = index.search("运费多少钱")
    assert hits[0].entry.id == "shipping-fee"
    assert hits[0].score > hits[1].score


def test_delivery_cost_question_in_english(index):
    top2 = ids(index.search("how much does delivery cost", k=2))
    assert {"shipping-fee", "delivery-time"} & set(top2)


def test_invoice_question(index):
    [hit] = index.search("可以开发票吗", k=1)
    assert hit.entry.id == "invoice"
    assert hit.matched_question == "可以开发票吗"
    assert hit.score == pytest.approx(1.0)


def test_exact_english_phrasing_scores_one_and_ignores_case_and_punctuation(index):
    hit = index.search("how much is SHIPPING", k=1)[0]
    assert hit.entry.id == "shipping-fee"
    assert hit.score == pytest.approx(1.0)


def test_full_width_query_is_normalised(index):
    hit = index.search("Ｃａｎ Ｉ ｇｅｔ ａｎ ｉｎｖｏｉｃｅ？", k=1)[0]
    assert hit.entry.id == "invoice"
    assert hit.score == pytest.approx(1.0)


def test_unrelated_query_scores_low(index):
    top = index.search("今天天气怎么样", k=1)[0]
    assert top.score < 0.45


def test_k_limits_results(index, corpus):
    assert len(index.search("退款", k=1)) == 1
    assert len(index.search("退款", k=2)) == 2
    assert len(index.search("退款", k=3)) == 3
    assert len(index.search("退款", k=100)) == len(corpus)


def test_results_sorted_and_one_hit_per_entry(index):
    hits = index.search("how long does a refund take", k=20)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert len(ids(hits)) == len(set(ids(hits)))
    assert hits[0].entry.id == "refund-time"


def test_scores_in_unit_interval_and_empty_query_scores_zero(index):
    for q in ("", "!!!", "运费", "refund"):
        for hit in index.search(q, k=50):
            assert 0.0 <= hit.score <= 1.0
    assert all(h.score == 0.0 for h in index.search("", k=50))
    assert all(h.score == 0.0 for h in index.search("？！…", k=50))


def test_empty_index():
    assert LexicalIndex([]).search("运费") == []
