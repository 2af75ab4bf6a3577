"""The content editors' loop in knowledge/: editing entries in the YAML files, the publish checks
(conflicts, languages, links), the regression gate, publish, rollback, git history, preview.

Real parts: real files in tmp_path (never data/faq), the real USE encoder, FAISS, git in a temp repo.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from knowledge.checks import SitePaths, conflicts, link_problems, missing_languages, publish_problems
from knowledge.corpus import FaqEntry, read_corpus
from knowledge.editing import (
    Corpus,
    Draft,
    EditError,
    EntryNotFound,
    StaleEntry,
    check_draft,
    draft_from_json,
    render_entry,
    replace_in_text,
    search_entries,
)
from knowledge.encoders import load_encoder
from knowledge.eval import Report
from knowledge.gate import GateConfig, judge
from knowledge.history import Author, commit_corpus
from knowledge.index import CORPUS_COPY, build_from_corpus, current_version, list_versions
from knowledge.preview import Previewer
from knowledge.publish import Busy, Publisher, restore_corpus
from knowledge.search import KnowledgeBase, Thresholds
from tests.kb_editing_fixture import ACCOUNT, LOGISTICS, OPTIONS, publish_config, write_corpus

EDITOR = Author("erin", "Erin Editor")


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "faq")


def body_of(stored) -> dict:
    return stored.as_json()


# === editing ====================================================================================

def test_update_rewrites_only_that_entry_and_keeps_comments_order_and_other_entries(corpus):
    c = Corpus(corpus)
    before = (corpus / "logistics.yml").read_text(encoding="utf-8")
    stored = c.get("delivery-time")
    body = body_of(stored)
    body["answer"]["en"] = "Delivery: 1-2 days #fast"
    body["questions"].append("送货要多久？")
    body["tags"] = ["shipping", "speed"]
    result = c.save(draft_from_json(body, "delivery-time"), stored.etag)
    after = (corpus / "logistics.yml").read_text(encoding="utf-8")
    assert result.files == ("logistics.yml",)
    assert after.startswith("# Logistics and returns: shipping, delivery, returns, refunds.\n- id: shipping-fee")
    assert "# Delivery times depend on the region.\n- id: delivery-time" in after
    # every line outside the edited entry is unchanged, in the same order
    changed = [line for line in after.splitlines() if line not in before.splitlines()]
    assert changed == ["    - 送货要多久？", "    en: 'Delivery: 1-2 days #fast'", "  tags: [shipping, speed]"]
    entries, problems = read_corpus(corpus)
    assert problems == []
    ids = [e.id for e in entries if e.source == "logistics.yml"]
    assert ids == ["shipping-fee", "delivery-time", "return-policy", "refund-time"]
    edited = c.get("delivery-time")
    assert edited.entry.answer["en"] == "Delivery: 1-2 days #fast"
    assert edited.entry.tags == ("shipping", "speed")
    assert edited.etag != stored.etag


def test_stale_etag_is_refused_and_nothing_is_written(corpus):
    c = Corpus(corpus)
    first = c.get("shipping-fee")
    mine, theirs = body_of(first), body_of(first)
    theirs["answer"]["zh"] = "满 199 元包邮。"
    c.save(draft_from_json(theirs, "shipping-fee"), first.etag)
    text = (corpus / "logistics.yml").read_text(encoding="utf-8")
    mine["answer"]["en"] = "Free shipping always."
    with pytest.raises(StaleEntry) as caught:
        c.save(draft_from_json(mine, "shipping-fee"), first.etag)
    assert caught.value.current.entry.answer["zh"] == "满 199 元包邮。"
    assert (corpus / "logistics.yml").read_text(encoding="utf-8") == text
    with pytest.raises(StaleEntry):
        c.delete("shipping-fee", first.etag)


def test_create_goes_to_the_categorys_file_or_the_chosen_one_and_duplicates_are_refused(corpus):
    c = Corpus(corpus)
    draft = Draft("gift-wrap", "returns", ("可以礼品包装吗", "Do you gift wrap?"),
                  {"zh": "可以。", "en": "Yes: ¥5.\nPer order."})
    created = c.save(draft, None, create=True)
    assert created.entry.entry.source == "logistics.yml"
    assert (corpus / "logistics.yml").read_text(encoding="utf-8").endswith(render_entry(draft))
    assert c.get("gift-wrap").entry.answer["en"] == "Yes: ¥5.\nPer order."
    with pytest.raises(StaleEntry, match="exists already"):
        c.save(draft, None, create=True)
    other = c.save(Draft("loyalty", "membership", ("积分怎么用",), {"zh": "抵现。", "en": "As cash."}), None,
                   create=True)
    assert other.files == ("membership.yml",)
    picked = c.save(Draft("wrap-2", "returns", ("包装费多少",), {"zh": "5 元", "en": "¥5"}, file="extras.yml"),
                    None, create=True)
    assert picked.files == ("extras.yml",)
    assert read_corpus(corpus)[1] == []


def test_move_to_another_file_and_delete(corpus):
    c = Corpus(corpus)
    stored = c.get("refund-time")
    body = body_of(stored)
    body["file"] = "account.yml"
    moved = c.save(draft_from_json(body, "refund-time"), stored.etag)
    assert set(moved.files) == {"logistics.yml", "account.yml"}
    assert c.get("refund-time").entry.source == "account.yml"
    assert "refund-time" not in (corpus / "logistics.yml").read_text(encoding="utf-8")
    c.delete("refund-time", c.get("refund-time").etag)
    with pytest.raises(EntryNotFound):
        c.get("refund-time")
    assert (corpus / "account.yml").read_text(encoding="utf-8") == ACCOUNT
    entries, problems = read_corpus(corpus)
    assert problems == [] and len(entries) == 5


def test_edit_validation_names_each_problem():
    errors, warnings = check_draft(Draft("Bad Id", "", (), {"fr": "x"}, ("two words",), file="../x.yml"))
    fields = {f for f, _ in errors}
    assert fields == {"id", "category", "questions", "answer", "tags", "file"}
    errors, warnings = check_draft(Draft("ok-id", "returns", ("q", "Q"), {"zh": "答"}))
    assert errors == []
    assert warnings == ["question 'Q' is listed twice", "no en answer: publishing needs one"]
    with pytest.raises(EditError) as caught:
        draft_from_json({"questions": "not a list", "answer": ["x"]})
    assert {f for f, _ in caught.value.problems} == {"questions", "answer"}
    assert draft_from_json({"id": "a", "category": "c", "questions": [" q ", ""], "answer": {"zh": " z "},
                            "tags": "x, y"}) == Draft("a", "c", ("q",), {"zh": "z"}, ("x", "y"))


def test_a_broken_file_is_not_rewritten(corpus):
    (corpus / "broken.yml").write_text("- id: x\n  questions: [\n", encoding="utf-8")
    with pytest.raises(EditError, match="fix the file by hand"):
        Corpus(corpus).save(Draft("new-one", "x", ("q",), {"zh": "a", "en": "b"}, file="broken.yml"), None,
                            create=True)


def test_replace_in_text_appends_to_a_file_with_only_a_comment():
    assert replace_in_text("# Only a comment.\n", "a", "- id: a\n") == "# Only a comment.\n\n- id: a\n"


def test_search_entries_by_text_category_and_tag(corpus):
    stored, _ = Corpus(corpus).read()
    assert [s.entry.id for s in search_entries(stored, "REFUND")] == ["refund-time"]
    assert [s.entry.id for s in search_entries(stored, "退")] == ["return-policy", "refund-time"]
    assert [s.entry.id for s in search_entries(stored, category="logistics")] == ["shipping-fee", "delivery-time"]
    assert [s.entry.id for s in search_entries(stored, tag="refunds")] == ["refund-time"]


# === publish checks =============================================================================

def entry(entry_id, answer, questions=("q",), source="a.yml"):
    return FaqEntry(entry_id, "c", tuple(questions), answer, source=source, line=3)


def test_links_malformed_missing_pages_and_fine_ones(tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "returns.pdf").write_text("x")
    site = SitePaths(routes=frozenset({"/"}), mounts={"/static/": static})
    entries = [entry("ok", {"en": "See https://shop.example.com/help?a=1, [form](/static/returns.pdf) or "
                                  "mailto:help@example.com.", "zh": "详见 https://例子.example.com/x。"}),
               entry("bad", {"en": "Go to http//shop.example.com or [here](/static/missing.pdf) or "
                                   "https://nohost/ or [x](returns.html)",
                             "zh": "请访问 www.example.com"})]
    problems = link_problems(entries, site)
    messages = [(p.level, p.message.split(": ", 1)[1]) for p in problems]
    assert all("'ok'" not in p.message for p in problems)
    assert ("error", "malformed link 'http//shop.example.com' (write https://host/path)") in messages
    assert ("error", "link to '/static/missing.pdf': no such page on this site") in messages
    assert ("error", "malformed URL 'https://nohost/' (no valid host name)") in messages
    assert ("error", "relative link 'returns.html': start it with / (a page of this site) or use https://") \
        in messages
    assert ("warning", "link 'www.example.com' has no scheme: write https://www.example.com") in messages
    assert SitePaths(mounts={"/static/": static}).exists("/static/../static/returns.pdf")
    assert not SitePaths(mounts={"/static/": static}).exists("/static/../../etc/passwd")


def test_missing_language_is_an_error_at_publish():
    [problem] = missing_languages([entry("only-zh", {"zh": "答"})])
    assert problem.level == "error" and "no en answer" in problem.message


def test_conflicting_questions_across_entries_are_errors():
    encoder = load_encoder("use")
    entries = [entry("a", {"zh": "1", "en": "1"}, ["How long does a refund take?"]),
               entry("b", {"zh": "2", "en": "2"}, ["How long does a refund take ?!", "Where is my parcel?"]),
               entry("c", {"zh": "3", "en": "3"}, ["How long does the refund take?"])]
    found = conflicts(entries, encoder.encode([q for e in entries for q in e.questions]))
    assert found and all(p.level == "error" and "conflicting questions" in p.message for p in found)
    pairs = {frozenset(re.findall(r"entry '(\w)'|of '(\w)'", p.message)[0][0] + re.findall(r" of '(\w)'",
                                                                                        p.message)[0])
             for p in found}
    assert frozenset("ac") in pairs
    assert frozenset("ab") not in pairs  # an exact copy is validate.py's error (duplicate question)


def test_publish_problems_of_a_corpus_with_errors(corpus):
    text = (corpus / "account.yml").read_text(encoding="utf-8")
    text = text.replace("    en: Request an e-invoice on the order's page.\n", "")
    text = text.replace("用手机验证码重置。", "用手机验证码重置，见 http//help.example.com。")
    (corpus / "account.yml").write_text(text + "\n- id: dup\n  category: x\n  questions: [运费怎么算]\n"
                                        "  answer: {zh: a, en: b}\n", encoding="utf-8")
    problems = publish_problems(corpus, SitePaths())
    assert [(p.level, p.file, p.line) for p in problems if p.level == "error"] == [
        ("error", "account.yml", 1), ("error", "account.yml", 20), ("error", "logistics.yml", 5)]
    assert "'invoice': no en answer" in problems[0].message
    assert "malformed link 'http//help.example.com' (write" in problems[1].message
    assert "also belongs to 'dup' (account.yml:26)" in problems[2].message


# === the gate ====================================================================================

def report(recall, wrong):
    return Report(n=10, answerable=10, unanswerable=0, recall_at_1=recall, recall_at_3=recall, mrr=recall,
                  abstain_rate=0, false_abstain_rate=0, wrong_answer_rate=wrong, suggest_rate=0)


def test_gate_judges_margins_and_floors():
    config = GateConfig(queries=(), recall_margin=0.02, wrong_margin=0.02, min_recall=0.85, max_wrong=0.08)
    assert judge(report(0.92, 0.05), report(0.93, 0.04), config).passed
    assert judge(report(0.90, 0.04), None, config).passed  # first publish: floors only
    refused = judge(report(0.90, 0.07), report(0.93, 0.04), config, missing_ids=["gone"])
    assert not refused.passed
    assert refused.reasons == ("recall@1 falls from 0.930 to 0.900 (more than the allowed 0.02)",
                               "wrong-answer rate rises from 0.040 to 0.070 (more than the allowed 0.02)",
                               "the regression set expects entries that are not in the corpus: gone")
    assert judge(report(0.84, 0.09), report(0.84, 0.09), config).reasons == (
        "recall@1 0.840 is below the floor 0.85", "wrong-answer rate 0.090 is above the ceiling 0.08")


# === publish and rollback =========================================================================

@pytest.fixture
def live(tmp_path, corpus):
    """The corpus published once (version 1 live, with its corpus copy)."""
    kb = tmp_path / "kb"
    first = build_from_corpus(corpus, kb, OPTIONS)
    return kb, first.path


def edit_answer(corpus: Path, entry_id: str, lang: str, text: str) -> None:
    c = Corpus(corpus)
    stored = c.get(entry_id)
    body = body_of(stored)
    body["answer"][lang] = text
    c.save(draft_from_json(body, entry_id), stored.etag)


def top_answer(kb_dir: Path, query: str) -> str:
    from knowledge.index import open_current

    return KnowledgeBase.load(open_current(kb_dir)).search(query)[0].entry.answer["en"]


def test_publish_then_rollback_switches_index_and_files_and_logs(tmp_path, corpus, live):
    kb, first = live
    original = {p.name: p.read_text(encoding="utf-8") for p in corpus.glob("*.yml")}
    assert (first / CORPUS_COPY / "logistics.yml").read_text(encoding="utf-8") == LOGISTICS
    publisher = Publisher(publish_config(tmp_path, corpus, kb))
    edit_answer(corpus, "shipping-fee", "en", "Shipping is free on every order now.")
    outcome = publisher.publish(EDITOR)
    assert outcome.ok and outcome.stage == "done", outcome
    assert outcome.previous == first.name and outcome.version != first.name
    assert current_version(kb).name == outcome.version
    assert outcome.gate["passed"] and outcome.gate["baseline"] is not None
    assert outcome.gate["candidate"]["recall@1"] >= 0.5
    assert top_answer(kb, "How much is shipping?") == "Shipping is free on every order now."
    assert "free on every order" in (kb / "versions" / outcome.version / CORPUS_COPY / "logistics.yml").read_text()
    assert publisher.publish(EDITOR).stage == "unchanged"
    assert publisher.rollback_target() == first.name

    back = publisher.rollback(EDITOR)
    assert back.ok and back.version == first.name and back.previous == outcome.version
    assert current_version(kb).name == first.name
    assert {p.name: p.read_text(encoding="utf-8") for p in corpus.glob("*.yml")} == original
    assert top_answer(kb, "How much is shipping?") == "Orders over ¥99 ship free; otherwise shipping is ¥10."
    log = [json.loads(line) for line in (tmp_path / "var" / "kb-publish.jsonl").read_text().splitlines()]
    assert [(r["action"], r["author"], r["version"]) for r in log] == [
        ("publish", "erin", outcome.version), ("rollback", "erin", first.name)]
    assert log[0]["gate"]["candidate"]["recall@1"] == outcome.gate["candidate"]["recall@1"]
    assert log[0]["corpus_hash"] and log[0]["at"]
    versions = publisher.versions()
    assert [v["live"] for v in versions if v["version"] == first.name] == [True]
    assert next(v for v in versions if v["version"] == outcome.version)["published_by"] == "Erin Editor"


def test_gate_refuses_an_entry_that_steals_the_dev_queries_and_leaves_current_alone(tmp_path, corpus, live):
    kb, first = live
    from tests.kb_editing_fixture import QUERIES

    thief = Draft("catch-all", "misc", tuple(q for q, e in QUERIES if e), {"zh": "请联系客服。", "en": "Contact us."})
    Corpus(corpus).save(thief, None, create=True)
    publisher = Publisher(publish_config(tmp_path, corpus, kb, check_conflicts=False))
    outcome = publisher.publish(EDITOR)
    assert not outcome.ok and outcome.stage == "gate", outcome
    assert "recall@1 falls from" in outcome.message
    assert outcome.gate["candidate"]["recall@1"] < outcome.gate["baseline"]["recall@1"]
    assert current_version(kb) == first
    assert [p.name for p in list_versions(kb)] == [first.name]  # the refused build is gone
    log = [json.loads(line) for line in (tmp_path / "var" / "kb-publish.jsonl").read_text().splitlines()]
    assert log[-1]["ok"] is False and log[-1]["stage"] == "gate"


def test_validation_errors_stop_the_publish_before_building(tmp_path, corpus, live):
    kb, first = live
    edit_answer(corpus, "invoice", "en", "See [the form](/static/no-such-form.pdf).")
    outcome = Publisher(publish_config(tmp_path, corpus, kb)).publish(EDITOR)
    assert not outcome.ok and outcome.stage == "validate"
    assert any("no such page on this site" in p["message"] and p["file"] == "account.yml" for p in outcome.problems)
    assert current_version(kb) == first and len(list_versions(kb)) == 1


def test_one_publish_at_a_time(tmp_path, corpus, live):
    kb, _ = live
    publisher = Publisher(publish_config(tmp_path, corpus, kb))
    publisher._lock.acquire()
    try:
        with pytest.raises(Busy):
            publisher.publish(EDITOR)
    finally:
        publisher._lock.release()


def test_rollback_to_a_version_without_a_corpus_copy_rebuilds_the_files_from_its_entries(tmp_path, corpus, live):
    kb, first = live
    shutil.rmtree(first / CORPUS_COPY)
    (corpus / "extra.yml").write_text("- id: extra\n  category: x\n  questions: [q]\n  answer: {zh: a, en: b}\n")
    changed = restore_corpus(first, corpus)
    assert "extra.yml" in changed and not (corpus / "extra.yml").exists()
    entries, problems = read_corpus(corpus)
    assert problems == [] and len(entries) == 6


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_publish_and_rollback_are_git_commits_by_the_editor_of_the_corpus_files_only(tmp_path, live):
    kb, first = live
    repo, corpus = tmp_path, tmp_path / "faq"  # a repository holding the corpus folder and other work
    (repo / "other.txt").write_text("v1")
    (corpus / "notes").mkdir()
    git(repo, "init", "-q")
    git(repo, "add", "faq", "other.txt")
    git(repo, "-c", "user.name=Setup", "-c", "user.email=s@x", "commit", "-qm", "corpus")
    (repo / "other.txt").write_text("someone's unfinished work")
    git(repo, "add", "other.txt")  # even staged, it is not part of a publish
    (corpus / "notes" / "todo.yml").write_text("not a corpus file: not in the top folder")
    publisher = Publisher(publish_config(tmp_path, corpus, kb, git="commit"))
    edit_answer(corpus, "refund-time", "en", "Refunds take one working day.")
    outcome = publisher.publish(EDITOR)
    assert outcome.ok and outcome.git["status"] == "committed", outcome.git
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn|%s") == \
        f"Erin Editor <erin@kb-editor.invalid>|Erin Editor|FAQ published as {outcome.version} by Erin Editor"
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["faq/logistics.yml"]
    assert outcome.git["commit"] == git(repo, "rev-parse", "HEAD")
    back = publisher.rollback(EDITOR)
    assert back.git["status"] == "committed"
    assert git(repo, "log", "-1", "--format=%s") == f"FAQ rolled back to {first.name} by Erin Editor"
    assert "Refunds are issued 1-3" in (corpus / "logistics.yml").read_text()
    assert git(repo, "status", "--porcelain", "--", "faq", "other.txt").splitlines() == \
        ["M  other.txt", "?? faq/notes/"]


def test_git_is_a_record_not_a_gate(tmp_path, corpus):
    assert commit_corpus(corpus, "m", EDITOR, "off").status == "off"
    assert commit_corpus(corpus, "m", EDITOR, "commit").status == "no-git"  # tmp_path is in no work tree


# === preview ======================================================================================

def test_preview_answers_from_the_draft_and_the_published_version_side_by_side(tmp_path, corpus, live):
    kb, first = live
    previewer = Previewer(corpus, kb, OPTIONS, Thresholds())
    same = previewer.preview("How much is shipping?", "en")
    assert same["draft_differs"] is False and same["draft"]["version"] == first.name
    edit_answer(corpus, "shipping-fee", "en", "Shipping is always free.")
    result = previewer.preview("How much is shipping?", "en")
    assert result["draft_differs"] is True
    assert result["published"]["version"] == first.name
    assert result["published"]["decision"] == result["draft"]["decision"] == "answer"
    assert result["published"]["answer"] == "Orders over ¥99 ship free; otherwise shipping is ¥10."
    assert result["draft"]["answer"] == "Shipping is always free."
    assert result["draft"]["hits"][0]["id"] == "shipping-fee"
    draft_manifest = json.loads((current_version(kb / "drafts") / "manifest.json").read_text())
    assert draft_manifest["encoded_rows"] == 1  # only the changed answer was embedded
    assert current_version(kb) == first  # the live pointer is never touched by previews
