/* "Make ticket" in the console's conversation view (#make-ticket-group, #make-ticket-form): the agent
 * who has an active chat (or a supervisor), or anyone who may take a message left while nobody was
 * online (state "ticket"), turns the conversation into a ticket — category from /api/tickets/config,
 * subject prefilled from the conversation's issue, an optional internal note — with POST /api/tickets.
 * The chat ends there (the service tells the customer the number and the due time); the number stays
 * shown here with a link to the Tickets page. Also labels the top bar's link to that page (#tickets-link).
 *
 * Follows console.js through its DOM events (console:lang, console:detail), like assist.js; everything
 * is put in with textContent.
 */
"use strict";

(() => {
  const TEXT = {
    tickets_link: ["工单", "Tickets"],
    make_ticket: ["转工单", "Make ticket"],
    title: ["转为工单", "Make this conversation a ticket"],
    category: ["分类", "Category"],
    pick_category: ["请选择分类…", "Choose a category…"],
    subject: ["标题", "Subject"],
    note: ["内部备注（可选，客户看不到）", "Internal note (optional, never shown to the customer)"],
    explain: ["提交后本次会话结束，客户会收到工单号和预计处理时间。",
      "The chat ends; the customer is told the ticket number and when to expect an answer."],
    create: ["创建工单", "Create ticket"],
    cancel: ["取消", "Cancel"],
    need_category: ["请选择分类。", "Choose a category."],
    need_subject: ["请填写标题。", "Write a subject."],
    created: ["已转为工单", "Ticket created:"],
    due: ["截止 {time}", "due {time}"],
    open_tickets: ["在工单页打开", "open on the Tickets page"],
    failed: ["无法创建工单：{error}", "Could not create the ticket: {error}"],
    no_config: ["无法读取工单分类。", "Could not read the ticket categories."],
  };

  let lang = (document.documentElement.lang || "zh").toLowerCase().startsWith("zh") ? "zh" : "en";
  const pair = (p, fallback) => (p ? p[lang === "zh" ? 0 : 1] : fallback);
  function t(key, vars) {
    let s = pair(TEXT[key], key);
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
    return s;
  }
  const both = (labels, fallback) => (labels && (labels[lang] || labels.zh || labels.en)) || fallback || "";

  const { $, el } = window.ConsoleDom;  // console/dom.js

  const M = {
    me: null,          // /api/me, read once per login
    config: null,      // /api/tickets/config
    conv: null,        // the conversation shown (from console:detail)
    made: new Map(),   // conversation id -> ticket made from it here
    busy: false,
  };

  const call = (method, path, body) => window.ConsoleDom.api(method, path, body);

  function fmtClock(epoch) {
    const d = new Date(epoch * 1000);
    const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
    if (d.toDateString() === new Date().toDateString()) return hm;
    return `${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")} ${hm}`;
  }

  /** Who may make it a ticket (handoff/ticket_service.py: create). */
  function eligible(c) {
    if (!M.me || !c) return false;
    if (c.state === "ticket") return true;  // a message left for later: whoever may see it may
    return c.state === "active" && (c.agent_id === M.me.id || M.me.role === "supervisor");
  }

  const issueOf = (c) => (c.issues || {})[lang] || c.issue || "";

  // --- rendering ---------------------------------------------------------------------------------
  function renderControl() {
    const group = $("#make-ticket-group");
    const form = $("#make-ticket-form");
    if (!group || !form) return;
    const c = M.conv;
    const made = c ? M.made.get(c.id) : null;
    group.hidden = !(c && (made || eligible(c)));
    const button = $("#make-ticket");
    button.textContent = t("make_ticket");
    button.hidden = !!made;
    button.disabled = M.busy;
    button.setAttribute("aria-expanded", form.hidden ? "false" : "true");
    const result = $("#make-ticket-result");
    if (made) {
      result.replaceChildren(el("span", { text: `${t("created")} ` }),
        el("a", { id: "made-ticket-link", href: `/console/tickets.html?t=${encodeURIComponent(made.number)}`,
                  title: t("open_tickets"), text: made.number }),
        el("span", { class: "muted", text: ` · ${t("due", { time: fmtClock(made.due_at) })}` }));
      result.hidden = false;
    } else {
      result.replaceChildren();
      result.hidden = true;
    }
    if ((made || !eligible(c)) && !form.hidden) closeForm();
  }

  /** The form, built afresh when opened (what was typed survives re-renders: it is not rebuilt then). */
  function buildForm() {
    const c = M.conv;
    const categories = (M.config && M.config.categories) || [];
    const departments = (M.config && M.config.departments) || [];
    const dep = (name) => both((departments.find((d) => d.name === name) || {}).labels, name);
    const select = el("select", { id: "mk-category", name: "category", required: true },
      el("option", { value: "", text: t("pick_category") }),
      categories.map((cat) => el("option", { value: cat.name,
        text: `${both(cat.labels, cat.name)} · ${dep(cat.department)} · ${(cat.due || {})[lang] || ""}` })));
    $("#make-ticket-form").replaceChildren(
      el("h4", { text: t("title") }),
      el("label", { for: "mk-category", text: t("category") }), select,
      el("label", { for: "mk-subject", text: t("subject") }),
      el("input", { id: "mk-subject", name: "subject", maxLength: 200, value: issueOf(c), autocomplete: "off" }),
      el("label", { for: "mk-note", text: t("note") }),
      el("textarea", { id: "mk-note", name: "note", rows: 2 }),
      el("p", { class: "mk-explain muted", text: t("explain") }),
      el("p", { id: "mk-error", class: "mk-error", role: "alert", hidden: true }),
      el("div", { class: "mk-buttons" },
        el("button", { type: "submit", id: "mk-submit", class: "primary", text: t("create") }),
        el("button", { type: "button", id: "mk-cancel", text: t("cancel") })));
  }

  /** Labels of an open form in the other language, keeping what was typed. */
  function relabelForm() {
    const form = $("#make-ticket-form");
    if (form.hidden) return;
    const kept = { category: $("#mk-category").value, subject: $("#mk-subject").value, note: $("#mk-note").value };
    buildForm();
    $("#mk-category").value = kept.category;
    $("#mk-subject").value = kept.subject;
    $("#mk-note").value = kept.note;
  }

  async function openForm() {
    if (!M.conv || !eligible(M.conv)) return;
    if (!M.config) {
      try {
        M.config = await call("GET", "/api/tickets/config");
      } catch (e) {
        showError(t("no_config"));
        return;
      }
    }
    buildForm();
    $("#make-ticket-form").hidden = false;
    renderControl();
    $("#mk-category").focus();
  }

  function closeForm() {
    const form = $("#make-ticket-form");
    form.hidden = true;
    form.replaceChildren();
    $("#make-ticket").setAttribute("aria-expanded", "false");
  }

  function showError(message) {
    const box = $("#mk-error");
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
  }

  async function submit(event) {
    event.preventDefault();
    const c = M.conv;
    if (!c || M.busy) return;
    const category = $("#mk-category").value;
    const subject = $("#mk-subject").value.trim();
    const note = $("#mk-note").value.trim();
    if (!category) return showError(t("need_category"));
    if (!subject) return showError(t("need_subject"));
    M.busy = true;
    $("#mk-submit").disabled = true;
    try {
      const body = { conversation_id: c.id, category, subject };
      if (note) body.note = note;
      const data = await call("POST", "/api/tickets", body);
      M.made.set(c.id, data.ticket);
      closeForm();
    } catch (err) {
      showError(t("failed", { error: err.message }));
      const button = $("#mk-submit");
      if (button) button.disabled = false;
    } finally {
      M.busy = false;
      renderControl();
    }
  }

  // --- following the console -----------------------------------------------------------------
  document.addEventListener("console:lang", (event) => {
    lang = event.detail === "en" ? "en" : "zh";
    const link = $("#tickets-link");
    if (link) link.textContent = t("tickets_link");
    relabelForm();
    renderControl();
  });

  document.addEventListener("console:detail", async (event) => {
    const d = event.detail;
    if (!d) {  // nothing selected, or logged out: the next login may be someone else
      M.conv = null;
      M.me = null;
      closeForm();
      renderControl();
      return;
    }
    if (!M.conv || M.conv.id !== d.conversation.id) closeForm();
    M.conv = d.conversation;
    if (!M.me) {
      try {
        M.me = (await call("GET", "/api/me")).agent;
      } catch (e) {
        return;  // the console deals with an ended session
      }
    }
    renderControl();
  });

  function bind() {
    const link = $("#tickets-link");
    if (link) link.textContent = t("tickets_link");
    const button = $("#make-ticket");
    const form = $("#make-ticket-form");
    if (!button || !form) return;
    button.addEventListener("click", () => (form.hidden ? openForm() : closeForm()));
    form.addEventListener("submit", submit);
    form.addEventListener("input", () => {
      const box = $("#mk-error");
      if (box) box.hidden = true;
    });
    form.addEventListener("click", (event) => {
      if (event.target.closest("#mk-cancel")) closeForm();
    });
    renderControl();
  }

  bind();
})();
