"""The FAQ editor page (handoff/console/editor.*) in a real browser against the real handoff service:
an editor logs in, lands on the editor, searches, edits an answer, previews a question (draft against
published), publishes, the knowledge base then answers with the new text, rolls back, and the old text
is back (in the index and in the corpus file). An agent cannot use the editor API.

The service runs as `python -m handoff serve` with a temp corpus and a temp index root
(tests/kb_editing_fixture.py: small corpus, USE encoder, no git).
"""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from handoff.store import HandoffStore
from knowledge.index import build_from_corpus, current_version, open_current
from knowledge.search import KnowledgeBase
from ops.paths import ROOT, VENV_BIN
from tests.conftest import free_port
from tests.e2e.located import attributes, texts
from tests.insight_fixture import RasaTrackerWriter
from tests.kb_editing_fixture import OPTIONS, write_corpus, write_queries

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "editor-browser-password"  # test-only
OLD_EN = "Orders over ¥99 ship free; otherwise shipping is ¥10."
NEW_EN = "Shipping is free on every order this month."
THEIR_EN = "Shipping costs ¥8 below ¥99."
GIFT_ANSWER = "Yes: add a note 'gift wrap' to your order and we wrap it for free, with a card."
WAIT = 120  # publishing builds and evaluates an index; 2 shared cores


@pytest.fixture
def service(tmp_path):
    corpus = write_corpus(tmp_path / "faq")
    kb = tmp_path / "kb"
    build_from_corpus(corpus, kb, OPTIONS)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env.update({
        "CS_VAR_DIR": str(tmp_path / "var"), "CS_FAQ_DIR": str(corpus), "CS_KB_DIR": str(kb),
        "CS_KB_ENCODER": "use", "CS_KB_NEGATIVES": "none", "CS_KB_GIT": "off",
        "CS_KB_REGRESSION_QUERIES": str(write_queries(tmp_path / "dev.jsonl")),
        "CS_KB_GATE_RECALL_MARGIN": "0.2", "CS_KB_GATE_WRONG_MARGIN": "0.2", "CS_KB_GATE_MIN_RECALL": "0.5",
        "CS_KB_GATE_MAX_WRONG": "0.5", "CS_HANDOFF_PORT": str(port), "CS_RASA_PORT": str(free_port()),
        "CS_ACTION_PORT": str(free_port()), "CS_WEB_PORT": str(free_port()), "CS_AGENT_PASSWORD": PASSWORD,
    })
    python = str(VENV_BIN / "python")
    for agent_id, role, skills in (("erin", "editor", ""), ("alice", "agent", "general")):
        subprocess.run([python, "-m", "handoff", "add-agent", agent_id, "--name", agent_id.title(), "--role", role,
                        "--skills", skills], cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
    log = tmp_path / "handoff.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([python, "-m", "handoff", "serve"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    try:
        yield {"url": url, "corpus": corpus, "kb": kb, "var": tmp_path / "var"}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def kb_answer(kb: Path, text: str) -> str:
    """What the published knowledge base answers (the search the action server runs)."""
    return KnowledgeBase.load(open_current(kb)).search(text)[0].entry.answer["en"]


def text_in(driver, selector: str, wanted: str, timeout: float = WAIT) -> None:
    WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, selector), wanted))


def test_editor_edits_previews_publishes_and_rolls_back(service, new_browser):
    url, kb, corpus = service["url"], service["kb"], service["corpus"]
    first = current_version(kb).name
    driver = new_browser("en-US")
    wait = WebDriverWait(driver, 30)
    driver.get(url + "/console/")
    wait.until(EC.visibility_of_element_located((By.ID, "agent-id"))).send_keys("erin")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    wait.until(EC.url_contains("/console/editor.html"))  # editors land on the editor
    wait.until(EC.visibility_of_element_located((By.ID, "app")))
    text_in(driver, "#me-role", "Editor")

    search = driver.find_element(By.ID, "search")
    search.send_keys("shipping")
    driver.find_element(By.ID, "search-go").click()
    wait.until(lambda d: d.execute_script("return [...document.querySelectorAll('#entries li')]"
                                          ".map((li) => li.dataset.id)") == ["shipping-fee"])
    driver.find_element(By.CSS_SELECTOR, '#entries li[data-id="shipping-fee"]').click()
    wait.until(lambda d: d.find_element(By.ID, "f-answer-en").get_attribute("value") == OLD_EN)
    answer = driver.find_element(By.ID, "f-answer-en")
    answer.clear()
    answer.send_keys(NEW_EN)
    driver.find_element(By.ID, "save").click()
    text_in(driver, "#save-status", "Saved to logistics.yml")
    assert NEW_EN in (corpus / "logistics.yml").read_text(encoding="utf-8")

    # What the service finds wrong is shown at its field (from the 400's body)
    category = driver.find_element(By.ID, "f-category")
    kept = category.get_attribute("value")
    category.clear()
    driver.find_element(By.ID, "save").click()
    wait.until(lambda d: any(t.strip().startswith("category: category is required")
                             for t in texts(d, "#form-problems li.error")))
    category.send_keys(kept)

    # Another editor saved the entry meanwhile: the 409 carries the current version, which the form loads
    other = requests.Session()
    assert other.post(url + "/api/login", json={"agent_id": "erin", "password": PASSWORD}, timeout=10).ok
    current = other.get(url + "/api/kb/entries/shipping-fee", timeout=10).json()["entry"]
    changed = {k: current[k] for k in ("id", "category", "tags", "questions", "file")}
    resp = other.put(url + "/api/kb/entries/shipping-fee", timeout=10, json={
        **changed, "answer": {**current["answer"], "en": THEIR_EN}, "etag": current["etag"]})
    assert resp.status_code == 200, resp.text
    answer.clear()
    answer.send_keys("my late edit")
    driver.find_element(By.ID, "save").click()
    wait.until(lambda d: d.find_element(By.ID, "f-answer-en").get_attribute("value") == THEIR_EN)
    text_in(driver, "#toasts", "Someone else changed this entry")
    assert "my late edit" not in (corpus / "logistics.yml").read_text(encoding="utf-8")
    answer = driver.find_element(By.ID, "f-answer-en")
    answer.clear()
    answer.send_keys(NEW_EN)
    driver.find_element(By.ID, "save").click()
    wait.until(lambda d: NEW_EN in (corpus / "logistics.yml").read_text(encoding="utf-8"))

    driver.find_element(By.ID, "preview-text").send_keys("How much is shipping?")
    driver.find_element(By.ID, "preview-go").click()
    text_in(driver, "#preview-draft .answer-text", NEW_EN)
    text_in(driver, "#preview-published .answer-text", OLD_EN)

    driver.find_element(By.ID, "publish").click()
    text_in(driver, "#publish-status", "Published: version")
    new = current_version(kb).name
    assert new != first
    text_in(driver, "#publish-status", new)
    text_in(driver, "#versions li.live", new)
    assert driver.find_element(By.CSS_SELECTOR, "#figures").is_displayed()
    assert kb_answer(kb, "How much is shipping?") == NEW_EN

    driver.find_element(By.CSS_SELECTOR, f'#versions li[data-version="{first}"] button.rollback').click()
    WebDriverWait(driver, 10).until(EC.alert_is_present()).accept()
    text_in(driver, "#publish-status", f"Rolled back: version {first} is live again")
    assert current_version(kb).name == first
    assert kb_answer(kb, "How much is shipping?") == OLD_EN
    assert OLD_EN in (corpus / "logistics.yml").read_text(encoding="utf-8")
    # the form shows the restored entry again
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "f-answer-en").get_attribute("value") == OLD_EN)
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"
              and "/api/me - " not in e["message"]  # the console's first look for a session, before the login
              and "/favicon.ico - " not in e["message"]
              # the two refusals above, on purpose
              and not ("/api/kb/entries/shipping-fee - " in e["message"]
                       and ("(Bad Request)" in e["message"] or "(Conflict)" in e["message"]))]
    assert errors == []

    agent = requests.Session()
    assert agent.post(url + "/api/login", json={"agent_id": "alice", "password": PASSWORD}, timeout=10).ok
    assert agent.get(url + "/api/kb/entries", timeout=10).status_code == 403
    assert agent.post(url + "/api/kb/publish", timeout=10).status_code == 403


def _unanswered_records(var: Path) -> None:
    """Three customers the bot could not answer about instalments (NLU fallback), and one whose gift-wrap
    question went to a person who answered it and closed the conversation (the draft answer)."""
    now = time.time()
    tracker = RasaTrackerWriter(var / "rasa-tracker.sqlite3")
    for i, text in enumerate(("可以分期付款吗", "支持分期吗", "能用花呗分期吗")):
        tracker.session(f"c{i}", now - 3000 + 60 * i, "socketio")
        tracker.user(f"c{i}", now - 2999 + 60 * i, text, "nlu_fallback", 0.3, "socketio", language="zh")
    tracker.session("g1", now - 1800, "socketio")
    tracker.user("g1", now - 1799, "Do you offer gift wrapping?", "ask_faq", 0.7, "socketio", language="en")
    tracker.handoff("g1", now - 1790, 1)
    tracker.write()
    ticks = itertools.count()
    store = HandoffStore(var / "handoff.sqlite3", clock=lambda: now - 1790 + 5 * next(ticks))
    try:
        conversation = store.open(sender_id="g1", channel="socketio", language="en", reason="customer_request",
                                  queue="general", summary={})
        store.offer(conversation.id, "alice")
        store.accept(conversation.id, "alice")
        store.add_message(conversation.id, "agent", GIFT_ANSWER, agent_id="alice")
        store.resolve(conversation.id, back_to_bot=False)
    finally:
        store.close()


def test_make_faq_entry_from_an_unanswered_cluster_in_one_step(service, new_browser):
    """The unanswered panel lists the clusters with counts; "Make FAQ entry" pre-fills a new entry with
    the cluster's questions and the agent's answer; once published, the cluster leaves the list."""
    _unanswered_records(service["var"])
    driver = new_browser("en-US")
    wait = WebDriverWait(driver, WAIT)
    driver.get(service["url"] + "/console/")
    wait.until(EC.visibility_of_element_located((By.ID, "agent-id"))).send_keys("erin")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    wait.until(EC.visibility_of_element_located((By.ID, "app")))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#unanswered li")) == 2)  # the first call embeds
    assert texts(driver, "#unanswered li strong")[0] == "3×"
    items = texts(driver, "#unanswered li")
    assert "支持分期吗" in items[0] and "Do you offer gift wrapping?" in items[1]

    driver.find_element(By.CSS_SELECTOR, "#unanswered li:nth-of-type(2) button.make-entry").click()  # gift wrap
    wait.until(lambda d: d.find_element(By.ID, "f-answer-en").get_attribute("value") == GIFT_ANSWER)
    assert attributes(driver, "#questions input.q", "value") == ["Do you offer gift wrapping?"]

    driver.find_element(By.CSS_SELECTOR, "#unanswered li:nth-of-type(1) button.make-entry").click()  # questions only
    wait.until(lambda d: attributes(d, "#questions input.q", "value")[:1] == ["可以分期付款吗"])
    questions = attributes(driver, "#questions input.q", "value")
    assert sorted(questions) == sorted(["可以分期付款吗", "支持分期吗", "能用花呗分期吗"])
    assert driver.find_element(By.ID, "f-answer-zh").get_attribute("value") == ""
    driver.find_element(By.ID, "f-id").send_keys("instalments")
    driver.find_element(By.ID, "f-category").send_keys("payment")
    driver.find_element(By.ID, "f-file").send_keys("payment.yml")
    driver.find_element(By.ID, "f-answer-zh").send_keys("支持花呗和信用卡分期，下单时选择分期即可。")
    driver.find_element(By.ID, "f-answer-en").send_keys("You can pay in instalments with Huabei or a credit card.")
    driver.find_element(By.ID, "save").click()
    text_in(driver, "#save-status", "Saved to payment.yml")
    assert "可以分期付款吗" in (service["corpus"] / "payment.yml").read_text(encoding="utf-8")

    driver.find_element(By.ID, "publish").click()
    text_in(driver, "#publish-status", "Published: version")
    driver.refresh()
    wait.until(EC.visibility_of_element_located((By.ID, "app")))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#unanswered li")) == 1)
    remaining = driver.find_element(By.CSS_SELECTOR, "#unanswered li").text
    assert "gift wrapping" in remaining and "分期" not in remaining
