/* The FAQ editor page (editors and supervisors): browse and edit the corpus, preview answers, validate,
 * publish, roll back, and turn unanswered questions into entries. Plain browser JavaScript, no build
 * step, nothing fetched from elsewhere; every text from the corpus, customers or agents goes in with
 * textContent (el() below). Not logged in: back to /console/ to log in.
 */
"use strict";

(() => {
  const TEXT = {
    title: ["知识库编辑", "FAQ editor"], to_console: ["客服工作台", "Agent console"], log_out: ["退出", "Log out"],
    entries: ["FAQ 条目", "FAQ entries"], search_placeholder: ["搜索问法或答案…", "Search questions and answers…"],
    all_categories: ["全部分类", "All categories"], all_tags: ["全部标签", "All tags"], search: ["搜索", "Search"],
    new_entry: ["新建条目", "New entry"], unanswered: ["未解答的问题", "Unanswered questions"],
    entry: ["条目", "Entry"], id: ["ID", "ID"], category: ["分类", "Category"], file: ["文件", "File"],
    file_placeholder: ["默认：该分类的文件", "default: the category's file"], tags: ["标签", "Tags"],
    tags_placeholder: ["逗号分隔", "comma-separated"], questions: ["问法（中文和英文）", "Questions (Chinese and English)"],
    add_question: ["添加问法", "Add question"], remove: ["删除", "Remove"], answers: ["答案", "Answers"],
    answer_zh: ["中文答案", "Chinese answer"], answer_en: ["英文答案", "English answer"], save: ["保存", "Save"],
    delete: ["删除", "Delete"], preview: ["预览：机器人会怎么回答", "Preview: what would the bot answer"],
    preview_placeholder: ["输入客户的问题…", "Type a customer's question…"], ask: ["试问", "Ask"],
    draft: ["草稿（未发布）", "Draft (unpublished)"], published: ["已发布", "Published"],
    publishing: ["发布", "Publishing"], validate: ["检查", "Validate"], publish: ["发布", "Publish"],
    in_service: ["当前版本", "In service"], candidate: ["新版本", "New version"], versions: ["版本", "Versions"],
    mode_new: ["（新建）", "(new)"], mode_edit: ["（编辑 {file}:{line}）", "(editing {file}:{line})"],
    saved: ["已保存到 {file}。", "Saved to {file}."], deleted: ["已删除 {id}。", "Deleted {id}."],
    confirm_delete: ["确定删除 {id}？", "Delete {id}?"], stale: ["该条目已被他人修改，已载入最新内容，请重新编辑。",
      "Someone else changed this entry; the current version is loaded — apply your edit again."],
    count: ["{n} / {total} 条", "{n} of {total} entries"], none_found: ["没有匹配的条目。", "No matching entries."],
    decision_answer: ["直接回答", "answers"], decision_suggest: ["给出建议问题", "suggests"],
    decision_none: ["无答案", "no answer"], same_as_published: ["草稿与已发布版本相同。", "The draft is the same as the published version."],
    previewing: ["正在生成草稿索引…", "Building the draft index…"], no_published: ["（尚无已发布版本）", "(nothing published yet)"],
    validating: ["检查中…", "Checking…"], valid: ["没有问题，可以发布。", "No problems: ready to publish."],
    problems_found: ["{e} 个错误，{w} 个警告。", "{e} error(s), {w} warning(s)."],
    publishing_now: ["发布中：{stage} {progress}", "Publishing: {stage} {progress}"],
    rolling_back: ["回滚中：{stage}", "Rolling back: {stage}"],
    published_ok: ["已发布：版本 {version} 已上线。", "Published: version {version} is live."],
    unchanged: ["没有需要发布的修改。", "Nothing to publish: the corpus is what is in service."],
    refused: ["未发布（{stage}）：{message}", "Not published ({stage}): {message}"],
    rolled_back: ["已回滚：版本 {version} 重新上线，语料文件已恢复。", "Rolled back: version {version} is live again; the corpus files are restored."],
    failed: ["失败：{message}", "Failed: {message}"], live: ["当前", "live"], rollback: ["回滚到此版本", "Roll back to this"],
    confirm_rollback: ["回滚到 {version}？语料文件也会恢复。", "Roll back to {version}? The corpus files are restored too."],
    by: ["{who} 于 {at}", "by {who} at {at}"], recall: ["recall@1", "recall@1"], wrong: ["错误回答率", "wrong answers"],
    abstain: ["拒答率", "abstain"], git_commit: ["git 提交 {sha}", "git commit {sha}"],
    unanswered_missing: ["（此服务尚未提供未解答问题列表）", "(this service has no list of unanswered questions yet)"],
    unanswered_none: ["没有未解答的问题。", "No unanswered questions."], make_entry: ["生成 FAQ 条目", "Make FAQ entry"],
    times: ["{n} 次", "{n}×"], prefilled: ["已根据未解答问题预填，请补充 ID、分类和答案。", "Pre-filled from the unanswered questions: add an id, category and answers."],
    error: ["出错了", "Something went wrong"], network_error: ["无法连接服务。", "Cannot reach the service."],
    role_editor: ["编辑", "Editor"], role_supervisor: ["主管", "Supervisor"],
  };
  const LANG_KEY = "cs-console-lang";
  let lang = (() => {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === "zh" || saved === "en") return saved;
    return (navigator.language || "zh").toLowerCase().startsWith("zh") ? "zh" : "en";
  })();
  function t(key, vars) {
    let s = (TEXT[key] || [key, key])[lang === "zh" ? 0 : 1];
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
    return s;
  }
  const { $, $$, el } = window.ConsoleDom;  // console/dom.js
  function toast(message, kind = "info") {
    const n = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", text: message });
    $("#toasts").append(n);
    setTimeout(() => n.remove(), kind === "error" ? 8000 : 5000);
  }

  // The console's API call (console/dom.js); an ended session goes back to the login page.
  const api = (method, path, body) => window.ConsoleDom.api(method, path, body, {
    networkError: t("network_error"),
    onUnauthorized: () => location.replace("/console/"),
  });
  const report = (err) => { if (err && err.status !== 401) { console.error(err); toast((err && err.message) || t("error"), "error"); } };

  const S = { me: null, entries: [], current: null, categories: [], tags: [], files: [], polling: null };

  function applyI18n() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const n of $$("[data-i18n]")) n.textContent = t(n.dataset.i18n);
    for (const n of $$("[data-i18n-placeholder]")) n.placeholder = t(n.dataset.i18nPlaceholder);
    for (const n of $$("[data-lang-toggle]")) n.textContent = lang === "zh" ? "English" : "中文";
    document.title = `${t("title")} · FAQ`;
  }

  // --- entries ---------------------------------------------------------------------------------
  async function loadEntries() {
    const q = new URLSearchParams({ q: $("#search").value.trim(), category: $("#filter-category").value, tag: $("#filter-tag").value });
    const data = await api("GET", `/api/kb/entries?${q}`);
    S.entries = data.entries;
    fillSelect("#filter-category", data.categories, t("all_categories"));
    fillSelect("#filter-tag", data.tags, t("all_tags"));
    $("#categories").replaceChildren(...data.categories.map((c) => el("option", { value: c })));
    $("#files").replaceChildren(...data.files.map((f) => el("option", { value: f })));
    $("#entry-count").textContent = data.entries.length ? t("count", { n: data.entries.length, total: data.total }) : t("none_found");
    $("#entries").replaceChildren(...data.entries.map((e) => el("li", { data: { id: e.id }, class: S.current && S.current.id === e.id ? "selected" : "" },
      el("div", { class: "eid", text: e.id }), el("div", { class: "eq", text: `${e.category} · ${e.questions[0] || ""}` }))));
  }
  function fillSelect(sel, values, allLabel) {
    const select = $(sel);
    const keep = select.value;
    select.replaceChildren(el("option", { value: "", text: allLabel }), ...values.map((v) => el("option", { value: v, text: v })));
    select.value = values.includes(keep) ? keep : "";
  }

  function questionRow(text) {
    const input = el("input", { class: "q", value: text || "", autocomplete: "off" });
    const remove = el("button", { type: "button", class: "small remove-question", text: t("remove") });
    remove.addEventListener("click", () => li.remove());
    const li = el("li", null, input, remove);
    return li;
  }
  function showForm(entry, prefill) {
    S.current = entry;
    const e = entry || prefill || {};
    $("#f-id").value = e.id || "";
    $("#f-id").readOnly = !!entry;
    $("#f-category").value = e.category || "";
    $("#f-file").value = e.file || "";
    $("#f-tags").value = (e.tags || []).join(", ");
    $("#questions").replaceChildren(...((e.questions && e.questions.length ? e.questions : [""]).map(questionRow)));
    $("#f-answer-zh").value = (e.answer && e.answer.zh) || "";
    $("#f-answer-en").value = (e.answer && e.answer.en) || "";
    $("#delete").hidden = !entry;
    $("#form-mode").textContent = entry ? t("mode_edit", { file: entry.file, line: entry.line }) : t("mode_new");
    $("#form-problems").replaceChildren();
    $("#save-status").textContent = "";
    for (const li of $$("#entries li")) li.classList.toggle("selected", !!entry && li.dataset.id === entry.id);
  }
  function formBody() {
    return {
      id: $("#f-id").value.trim(), category: $("#f-category").value.trim(), file: $("#f-file").value.trim() || null,
      tags: $("#f-tags").value.split(/[,，\s]+/).filter(Boolean),
      questions: $$("#questions input.q").map((i) => i.value.trim()).filter(Boolean),
      answer: Object.fromEntries([["zh", $("#f-answer-zh").value.trim()], ["en", $("#f-answer-en").value.trim()]].filter(([, v]) => v)),
    };
  }
  async function openEntry(id) {
    try { showForm((await api("GET", `/api/kb/entries/${encodeURIComponent(id)}`)).entry); } catch (err) { report(err); }
  }
  async function save(event) {
    event.preventDefault();
    const body = formBody();
    const problems = $("#form-problems");
    problems.replaceChildren();
    $("#save").disabled = true;
    try {
      let data;
      if (S.current) data = await api("PUT", `/api/kb/entries/${encodeURIComponent(S.current.id)}`, { ...body, etag: S.current.etag });
      else data = await api("POST", "/api/kb/entries", body);
      showForm(data.entry);
      $("#save-status").textContent = t("saved", { file: data.entry.file });
      problems.replaceChildren(...(data.warnings || []).map((w) => el("li", { class: "warning", text: w })));
      await loadEntries();
    } catch (err) {
      if (err.status === 409 && err.body && err.body.current) {
        showForm(err.body.current);
        toast(t("stale"), "error");
      } else if (err.body && err.body.problems) {
        problems.replaceChildren(...err.body.problems.map((p) => el("li", { class: "error", text: `${p.field}: ${p.message}` })));
      } else report(err);
    } finally { $("#save").disabled = false; }
  }
  async function removeEntry() {
    if (!S.current || !confirm(t("confirm_delete", { id: S.current.id }))) return;
    try {
      await api("DELETE", `/api/kb/entries/${encodeURIComponent(S.current.id)}?etag=${encodeURIComponent(S.current.etag)}`);
      toast(t("deleted", { id: S.current.id }));
      showForm(null);
      await loadEntries();
    } catch (err) {
      if (err.status === 409 && err.body && err.body.current) { showForm(err.body.current); toast(t("stale"), "error"); } else report(err);
    }
  }

  // --- preview ---------------------------------------------------------------------------------
  function answerBox(result) {
    if (!result) return el("p", { class: "muted", text: t("no_published") });
    const best = result.hits[0];
    return el("div", null,
      el("div", { class: `decision ${result.decision}`, text: t(`decision_${result.decision}`) }),
      result.answer ? el("div", { class: "answer-text", text: result.answer }) : null,
      el("ol", null, result.hits.map((h) => el("li", { text: `${h.id} · ${h.confidence.toFixed(3)} · ${h.question}` }))),
      el("div", { class: "muted small", text: result.version }),
      best ? null : null);
  }
  async function preview(event) {
    event.preventDefault();
    const text = $("#preview-text").value.trim();
    if (!text) return;
    $("#preview-note").textContent = t("previewing");
    $("#preview-go").disabled = true;
    try {
      const data = await api("POST", "/api/kb/preview", { text });
      $("#preview-draft").replaceChildren(answerBox(data.draft));
      $("#preview-published").replaceChildren(answerBox(data.published));
      $("#preview-note").textContent = data.draft_differs ? "" : t("same_as_published");
    } catch (err) {
      $("#preview-note").textContent = err.message;
    } finally { $("#preview-go").disabled = false; }
  }

  // --- validate, publish, versions ----------------------------------------------------------------
  function showProblems(problems) {
    $("#problems").replaceChildren(...(problems || []).map((p) => el("li", { class: p.level, text: p.text })));
  }
  async function validate() {
    setStatus(t("validating"), "");
    try {
      const data = await api("POST", "/api/kb/validate");
      showProblems(data.problems);
      setStatus(data.errors || data.warnings ? t("problems_found", { e: data.errors, w: data.warnings }) : t("valid"), data.errors ? "bad" : "ok");
    } catch (err) { setStatus(t("failed", { message: err.message }), "bad"); }
  }
  function setStatus(text, kind) {
    const n = $("#publish-status");
    n.textContent = text;
    n.className = kind || "";
  }
  function showFigures(gate) {
    const table = $("#figures");
    if (!gate) { table.hidden = true; return; }
    const rows = [["recall", "recall@1"], ["wrong", "wrong_answer_rate"], ["abstain", "abstain_rate"]];
    const fmt = (r, k) => (r && typeof r[k] === "number" ? r[k].toFixed(3) : "—");
    table.tBodies[0].replaceChildren(...rows.map(([label, key]) => el("tr", null,
      el("td", { text: t(label) }), el("td", { text: fmt(gate.baseline, key) }), el("td", { text: fmt(gate.candidate, key) }))));
    table.hidden = false;
  }
  async function startJob(path, body) {
    $("#publish").disabled = true;
    try {
      await api("POST", path, body);
      pollJob();
    } catch (err) {
      $("#publish").disabled = false;
      setStatus(t("failed", { message: err.message }), "bad");
    }
  }
  async function pollJob() {
    clearTimeout(S.polling);
    let job;
    try { job = (await api("GET", "/api/kb/publish")).job; } catch (err) { report(err); return; }
    if (job.state === "running") {
      const progress = job.total ? `${job.done}/${job.total}` : "";
      setStatus(job.action === "rollback" ? t("rolling_back", { stage: job.stage || "" }) : t("publishing_now", { stage: job.stage || "", progress }), "");
      S.polling = setTimeout(pollJob, 500);
      return;
    }
    $("#publish").disabled = false;
    const r = job.result;
    if (!r) return;
    showProblems(r.problems);
    showFigures(r.gate);
    const git = r.git && r.git.commit ? ` ${t("git_commit", { sha: r.git.commit.slice(0, 8) })}` : "";
    if (!r.ok) setStatus(r.stage === "validate" || r.stage === "gate" ? t("refused", { stage: r.stage, message: r.message }) : t("failed", { message: r.message }), "bad");
    else if (r.stage === "unchanged") setStatus(t("unchanged"), "ok");
    else if (r.action === "rollback") setStatus(t("rolled_back", { version: r.version }) + git, "ok");
    else setStatus(t("published_ok", { version: r.version }) + git, "ok");
    await Promise.all([loadVersions(), loadEntries()]).catch(report);
    if (S.current) openEntry(S.current.id);
  }
  async function loadVersions() {
    const data = await api("GET", "/api/kb/versions");
    $("#versions").replaceChildren(...data.versions.map((v) => {
      const who = v.published_by ? t("by", { who: v.published_by, at: (v.published_at || "").replace("T", " ").slice(0, 19) }) : v.built_at;
      const figures = typeof v.recall_at_1 === "number" ? `recall@1 ${v.recall_at_1.toFixed(3)}` : "";
      const button = v.live ? null : el("button", { type: "button", class: "small rollback", text: t("rollback"), data: { version: v.version } });
      return el("li", { class: v.live ? "live" : "", data: { version: v.version } },
        el("span", { class: "vname", text: v.version }), v.live ? el("strong", { text: `(${t("live")})` }) : null,
        el("span", { class: "muted", text: `${v.entries} · ${who} ${figures}` }), button);
    }));
  }

  // --- unanswered questions --------------------------------------------------------------------------
  async function loadUnanswered() {
    const note = $("#unanswered-note");
    let data;
    try {
      const res = await fetch("/api/kb/unanswered", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (res.status === 404) { note.textContent = t("unanswered_missing"); return; }
      if (!res.ok) { note.textContent = `${res.status}`; return; }
      data = await res.json();
    } catch (err) { note.textContent = t("network_error"); return; }
    const clusters = (data && data.clusters) || [];
    note.textContent = clusters.length ? "" : t("unanswered_none");
    $("#unanswered").replaceChildren(...clusters.map((c) => {
      const button = el("button", { type: "button", class: "small make-entry", text: t("make_entry") });
      button.addEventListener("click", () => makeEntry(c));
      return el("li", { data: { cluster: c.id } },
        el("strong", { text: t("times", { n: c.count }) }), " ",
        el("span", { class: "ex", text: (c.examples || []).slice(0, 3).join(" / ") }), " ", button);
    }));
  }
  function makeEntry(cluster) {
    const drafts = cluster.draft_answers || [];
    const first = (language) => (drafts.find((d) => d.language === language) || {}).text || "";
    showForm(null, { questions: cluster.examples || [], answer: { zh: first("zh"), en: first("en") } });
    $("#form-mode").textContent = `${t("mode_new")} ${t("prefilled")}`;
    $("#f-id").focus();
  }

  // --- wiring --------------------------------------------------------------------------------------------
  function bind() {
    for (const n of $$("[data-lang-toggle]")) n.addEventListener("click", () => {
      lang = lang === "zh" ? "en" : "zh";
      localStorage.setItem(LANG_KEY, lang);
      applyI18n();
      renderMe();
      loadVersions().catch(report);
      if (!S.current) $("#form-mode").textContent = t("mode_new");
    });
    $("#logout").addEventListener("click", async () => {
      try { await api("POST", "/api/logout"); } catch (err) { /* leaving anyway */ }
      location.replace("/console/");
    });
    $("#search-form").addEventListener("submit", (e) => { e.preventDefault(); loadEntries().catch(report); });
    $("#filter-category").addEventListener("change", () => loadEntries().catch(report));
    $("#filter-tag").addEventListener("change", () => loadEntries().catch(report));
    $("#entries").addEventListener("click", (e) => { const li = e.target.closest("li[data-id]"); if (li) openEntry(li.dataset.id); });
    $("#new-entry").addEventListener("click", () => showForm(null));
    $("#add-question").addEventListener("click", () => { const row = questionRow(""); $("#questions").append(row); row.querySelector("input").focus(); });
    $("#entry-form").addEventListener("submit", save);
    $("#delete").addEventListener("click", removeEntry);
    $("#preview-form").addEventListener("submit", preview);
    $("#validate").addEventListener("click", validate);
    $("#publish").addEventListener("click", () => startJob("/api/kb/publish"));
    $("#versions").addEventListener("click", (e) => {
      const b = e.target.closest("button.rollback");
      if (b && confirm(t("confirm_rollback", { version: b.dataset.version }))) startJob("/api/kb/rollback", { version: b.dataset.version });
    });
  }
  function renderMe() {
    if (!S.me) return;
    $("#me-name").textContent = S.me.name || S.me.id;
    $("#me-role").textContent = t(S.me.role === "supervisor" ? "role_supervisor" : "role_editor");
    $("#to-console").hidden = S.me.role !== "supervisor";
  }
  async function boot() {
    applyI18n();
    bind();
    try { S.me = (await api("GET", "/api/me")).agent; } catch (err) { report(err); return; }
    if (S.me.role !== "editor" && S.me.role !== "supervisor") { location.replace("/console/"); return; }
    $("#app").hidden = false;
    renderMe();
    showForm(null);
    await Promise.all([loadEntries(), loadVersions(), loadUnanswered()]).catch(report);
    pollJob();
  }
  boot();
})();
