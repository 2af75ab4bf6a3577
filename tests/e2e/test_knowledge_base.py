"""The knowledge base in real conversations: answers, suggestions, the query log, and a newly
published index version taking over in the running action server without a restart."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from common.settings import ROOT
from knowledge.querylog import QueryLog
from knowledge.search import decide
from tests.e2e.chat import new_sender, parse, rest_say, texts

pytestmark = pytest.mark.e2e


def answer_of(stack, entry_id: str, language: str) -> str:
    kb = stack.knowledge_base()
    return next(e for e in kb.entries if e.id == entry_id).answer[language]


def test_paraphrase_is_answered_in_the_customers_language(stack):
    me = new_sender("kb-zh")
    replies = texts(rest_say(stack.rasa_url, me, "退货的话运费谁来出？"))
    assert answer_of(stack, "return-shipping-fee", "zh") in replies, replies
    me = new_sender("kb-en")
    replies = texts(rest_say(stack.rasa_url, me, "who pays the postage when I send something back?"))
    assert answer_of(stack, "return-shipping-fee", "en") in replies, replies


def test_suggestion_button_payload_answers_that_entry(stack):
    me = new_sender("kb-button")
    rest_say(stack.rasa_url, me, "good morning", metadata={"language": "en"})
    replies = texts(rest_say(stack.rasa_url, me, '/ask_faq{"faq_id":"invoice"}'))
    assert answer_of(stack, "invoice", "en") in replies, replies


def test_middle_band_offers_questions_then_the_chosen_answer(stack):
    """A message in the suggestion band (found with the stack's own index and thresholds) gets the top
    questions as buttons; pressing one answers it."""
    kb = stack.knowledge_base()
    pool = ["嗯那个东西", "东西的事", "那个券", "关于积分的事", "卡的问题", "账号那个", "盒子", "门店的事情",
            "发票那个", "会员那个", "邮件", "颜色", "about the box", "the card thing", "my points thing",
            "about the store", "email thing", "the colour"]

    def routed_to_kb(text: str) -> bool:
        return parse(stack, text)["intent"]["name"] in ("ask_faq", "nlu_fallback")

    band = [t for t in pool if decide(kb.search(t), stack.settings.kb_thresholds).kind == "suggest"
            and routed_to_kb(t)]
    if not band:
        pytest.fail(f"no message of {pool} falls in the suggestion band: thresholds "
                    f"{stack.settings.kb_thresholds} leave no middle band")
    me = new_sender("kb-suggest")
    replies = rest_say(stack.rasa_url, me, band[0])
    offered = [r for r in replies if r.get("buttons")]
    assert offered, replies
    buttons = offered[-1]["buttons"]
    assert 2 <= len(buttons) <= 4 and buttons[-1]["payload"] == "/request_human", buttons
    chosen = buttons[0]["payload"]
    entry_id = json.loads(chosen[len("/ask_faq"):])["faq_id"]
    language = "zh" if any("\u4e00" <= c <= "\u9fff" for c in band[0]) else "en"
    answered = texts(rest_say(stack.rasa_url, me, chosen))
    assert answer_of(stack, entry_id, language) in answered, answered


def test_every_lookup_is_logged(stack):
    me = new_sender("kb-log")
    rest_say(stack.rasa_url, me, "你们支持哪些付款方式")
    logged = [x for x in QueryLog(stack.settings.kb_log_db).recent(500) if x.sender_id == me]
    assert len(logged) == 1, logged
    assert logged[0].decision == "answer" and logged[0].chosen == "payment-methods"
    assert logged[0].language == "zh" and logged[0].index_version


def test_published_index_is_served_without_restart(stack):
    """Add an entry to the corpus, build with the CLI: the running action server answers from the new
    version within seconds, and a question asked meanwhile still gets its answer."""
    faq = stack.settings.faq_dir / "zz-test-added.yml"
    faq.write_text(
        "- id: drone-rental\n  category: test\n  questions:\n"
        "    - 你们出租无人机吗\n    - 可以租一台无人机吗\n    - 无人机租赁怎么收费\n"
        "    - Do you rent out drones?\n    - Can I hire a drone from you?\n    - How much is drone rental?\n"
        "  answer:\n    zh: 无人机租赁每天 99 元，押金 500 元。\n"
        "    en: Drone rental is 99 yuan a day, 500 yuan deposit.\n",
        encoding="utf-8")
    env = {**os.environ, **stack.settings.to_env()}
    try:
        build = subprocess.run([sys.executable, "-m", "knowledge", "build", "--quiet"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=300, check=False)
        assert build.returncode == 0 and "built" in build.stdout, build.stdout + build.stderr
        me = new_sender("kb-reload")
        deadline = time.monotonic() + 30
        while True:
            replies = texts(rest_say(stack.rasa_url, me, "请问可以租无人机吗"))
            assert replies, "a question asked during the reload got no reply"
            if "无人机租赁每天 99 元，押金 500 元。" in replies:
                break
            assert time.monotonic() < deadline, f"new index version not served after 30 s: {replies}"
            time.sleep(1)
    finally:
        faq.unlink()
        subprocess.run([sys.executable, "-m", "knowledge", "build", "--quiet"], cwd=ROOT, env=env,
                       capture_output=True, timeout=300, check=False)
