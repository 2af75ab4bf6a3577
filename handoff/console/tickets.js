/* The Tickets page of the console (tickets.html): agents and supervisors work the tickets that
 * conversations became (handoff/tickets_api.py, docs/tickets.md).
 *
 * Left: the list, filtered by status, department, "mine" and "overdue only" (the filters live in the
 * URL, with the selected ticket: ?status=&department=&mine=1&overdue=1&t=T000012). Right: the selected
 * ticket's header, the actions its status allows, its history (internal notes marked internal, what the
 * customer was sent marked so, with the delivery time) and the conversation it came from.
 *
 * Plain browser JavaScript, no build step, nothing fetched from elsewhere. Changes arrive over the
 * console's WebSocket (/api/ws, "ticket" pushes; reconnected with backoff, everything refetched on each
 * connect); the list is also refetched every 30 s as a safety net. Every text that customers or agents
 * wrote goes in with textContent (console/dom.js), never as HTML.
 */
"use strict";

(() => {
  // ---------------------------------------------------------------------------------------------
  // Labels, in both languages (the console's language choice is shared)
  // ---------------------------------------------------------------------------------------------
  const TEXT = {
    page_title: ["工单", "Tickets"],
    back_to_console: ["返回工作台", "Back to the console"],
    live: ["实时", "Live"],
    conn_up: ["实时连接正常", "Live updates connected"],
    conn_down: ["实时连接中断，正在重连…", "Live updates disconnected, reconnecting…"],
    role_agent: ["坐席", "Agent"],
    role_supervisor: ["主管", "Supervisor"],
    need_login: ["请先在工作台登录。", "Please log in on the console first."],
    agents_only: ["工单页面供坐席和主管使用。", "The tickets page is for agents and supervisors."],
    network_error: ["无法连接服务，请稍后再试。", "Cannot reach the service. Try again shortly."],
    error: ["出错了", "Something went wrong"],
    loading: ["加载中…", "Loading…"],
    f_status: ["状态", "Status"],
    f_status_active: ["未完成", "Not done"],
    f_all: ["全部", "All"],
    f_department: ["部门", "Department"],
    f_mine: ["只看我的", "Mine only"],
    f_overdue: ["只看逾期", "Overdue only"],
    n_tickets: ["个工单", "tickets"],
    list_empty: ["没有符合条件的工单。", "No tickets match."],
    select_ticket: ["从左侧选择一个工单。", "Select a ticket on the left."],
    st_open: ["待处理", "Open"],
    st_in_progress: ["处理中", "In progress"],
    st_waiting_customer: ["等待客户", "Waiting for customer"],
    st_resolved: ["已解决", "Resolved"],
    st_closed: ["已关闭", "Closed"],
    overdue: ["逾期", "Overdue"],
    due: ["截止", "Due"],
    left: ["剩余 {time}", "{time} left"],
    late: ["已超 {time}", "{time} late"],
    paused: ["计时暂停（等待客户）", "clock paused (waiting for the customer)"],
    done_at: ["完成于 {time}", "done {time}"],
    category: ["分类", "Category"],
    department: ["部门", "Department"],
    owner: ["负责人", "Owner"],
    unassigned: ["未指派", "Unassigned"],
    customer: ["客户", "Customer"],
    unverified: ["未验证", "not verified"],
    channel: ["渠道", "Channel"],
    language: ["语言", "Language"],
    created: ["创建", "Created"],
    by: ["由 {who}", "by {who}"],
    csat: ["满意度", "CSAT"],
    vip: ["VIP", "VIP"],
    you: ["我", "You"],
    system: ["系统", "System"],
    actions: ["操作", "Actions"],
    take: ["领取（指派给我）", "Take (assign to me)"],
    assign_to: ["指派给…", "Assign to…"],
    assign: ["指派", "Assign"],
    change_category: ["更改分类", "Change category"],
    do_start: ["开始处理", "Start work"],
    do_resume: ["继续处理", "Resume work"],
    do_reopen: ["重新打开", "Reopen"],
    do_close: ["关闭工单", "Close ticket"],
    mode_note: ["内部备注", "Internal note"],
    mode_reply: ["回复客户", "Reply to customer"],
    mode_ask: ["询问客户", "Ask the customer"],
    mode_resolve: ["解决", "Resolve"],
    mode_close: ["关闭（未解决）", "Close unresolved"],
    submit_note: ["添加内部备注", "Add internal note"],
    submit_reply: ["发送给客户", "Send to the customer"],
    submit_ask: ["发送问题并等待客户", "Ask and wait for the customer"],
    submit_resolve: ["解决并通知客户", "Resolve and tell the customer"],
    submit_close: ["关闭并告知客户原因", "Close and tell the customer why"],
    hint_note: ["仅坐席和主管可见，客户看不到。", "Only agents and supervisors see this, never the customer."],
    hint_reply: ["客户会在其渠道收到这条进展。", "The customer receives this update on their channel."],
    hint_ask: ["客户会收到这个问题；工单转为“等待客户”，客户回复后自动恢复处理。",
      "The customer receives this question; the ticket waits for them and resumes when they answer."],
    hint_resolve: ["客户会看到这段解决说明，并被邀请评分。", "The customer reads this resolution and is asked for a rating."],
    hint_close: ["不解决直接关闭（如重复工单、客户撤回）：客户会看到这里写的原因。",
      "Close without a resolution (a duplicate, a request withdrawn): the customer reads the reason."],
    ph_note: ["写给同事的备注…", "A note for colleagues…"],
    ph_reply: ["给客户的进展说明…", "An update for the customer…"],
    ph_ask: ["需要客户提供什么…", "What the customer should send…"],
    ph_resolve: ["如何解决的…", "How it was resolved…"],
    ph_close: ["关闭原因…", "Why it is closed…"],
    need_text: ["请先填写内容。", "Write the text first."],
    need_agent: ["请先选择坐席。", "Choose an agent first."],
    done_note: ["已添加内部备注。", "Internal note added."],
    done_reply: ["已发送给客户。", "Sent to the customer."],
    done_status: ["{number} 现在是“{status}”。", "{number} is now “{status}”."],
    done_assign: ["{number} 已指派给 {who}。", "{number} assigned to {who}."],
    done_category: ["{number} 的分类已改为 {label}。", "{number} is now in {label}."],
    history: ["处理记录", "History"],
    no_events: ["暂无记录。", "Nothing yet."],
    ev_created: ["创建工单", "Ticket created"],
    ev_status: ["状态：{from} → {to}", "Status: {from} → {to}"],
    ev_assigned: ["指派给 {who}", "Assigned to {who}"],
    ev_category: ["分类：{from} → {to}", "Category: {from} → {to}"],
    ev_note: ["内部备注", "Internal note"],
    ev_reply: ["回复客户", "Reply to the customer"],
    ev_customer_message: ["客户回复", "The customer wrote"],
    ev_csat: ["客户评分", "Customer rating"],
    ev_overdue: ["已逾期", "Went overdue"],
    internal: ["内部 · 客户不可见", "Internal · not shown to the customer"],
    sent: ["已发送给客户", "Sent to the customer"],
    delivered_at: ["送达 {time}", "delivered {time}"],
    not_delivered: ["待送达", "not delivered yet"],
    from_customer: ["来自客户", "From the customer"],
    conversation: ["会话记录", "Conversation"],
    bot_transcript: ["与机器人的对话", "Conversation with the bot"],
    no_transcript: ["（无机器人对话记录）", "(no conversation with the bot)"],
    no_conversation: ["（会话记录不可用）", "(the conversation is not available)"],
    handoff_divider: ["转人工 · {ref} · {time}", "Handed over · {ref} · {time}"],
    bot: ["机器人", "Bot"],
    sending: ["发送中…", "sending…"],
    delivered: ["已送达", "delivered"],
    unit_d: ["{n}天", "{n}d"],
    unit_h: ["{n}小时", "{n}h"],
    unit_m: ["{n}分", "{n}m"],
  };
  const CHANNELS = {
    socketio: ["网页", "Web"], wechat: ["微信公众号", "WeChat"], wecom: ["企业微信", "WeCom"], app: ["App", "App"],
    rest: ["REST", "REST"],
  };
  const LANGUAGE_NAMES = { zh: ["中文", "Chinese"], en: ["英文", "English"] };
  const STATUSES = ["open", "in_progress", "waiting_customer", "resolved", "closed"];
  const NOT_DONE = ["open", "in_progress", "waiting_customer"];
  const DONE = new Set(["resolved", "closed"]);
  // tickets/model.py's state machine
  const NEXT = {
    open: ["in_progress", "waiting_customer", "resolved", "closed"],
    in_progress: ["waiting_customer", "resolved", "closed"],
    waiting_customer: ["in_progress", "resolved", "closed"],
    resolved: ["in_progress", "closed"],
    closed: [],
  };
  const MODES = ["note", "reply", "ask", "resolve", "close"];
  const LANG_KEY = "cs-console-lang"; // the console's: one choice for every page
  const POLL_MS = 30000;
  const DELIVERY_CHECK_MS = 3000;    // public notices not delivered yet: look again this often…
  const DELIVERY_CHECK_FOR = 120;    // …for notices younger than this (s); the outbox retries for longer

  let lang = (() => {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === "zh" || saved === "en") return saved;
    return (navigator.language || "zh").toLowerCase().startsWith("zh") ? "zh" : "en";
  })();
  const pick = (pair, fallback) => (pair ? pair[lang === "zh" ? 0 : 1] : fallback);
  function t(key, vars) {
    let s = pick(TEXT[key], key);
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
    return s;
  }
  const both = (labels, fallback) => (labels && (labels[lang] || labels.zh || labels.en)) || fallback || "";
  const statusLabel = (s) => t(`st_${s}`);

  const { $, $$, el } = window.ConsoleDom;  // console/dom.js

  // ---------------------------------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------------------------------
  const S = {
    me: null,
    config: { categories: [], departments: [] },
    agents: [],             // supervisors: from /api/queues
    tickets: new Map(),     // number -> view, the ones the filters show
    shownOverdue: new Map(), // number -> overdue as last drawn (the clock can flip it)
    selected: null,         // number
    detail: null,           // {ticket, events, conversation, summary, messages}
    mode: "note",
    listSeq: 0, detailSeq: 0,
    skew: 0,
    ws: null, wsWanted: false, wsAttempts: 0, wsTimer: null,
    tickTimer: null, pollTimer: null, deliveryTimer: null,
    busy: false,
  };

  const now = () => (Date.now() + S.skew) / 1000;
  const isSupervisor = () => !!S.me && S.me.role === "supervisor";
  /** Where a ticket's due-time clock stands: stopped at the start of a wait on the customer, else now. */
  const clockOf = (tk) => (tk && typeof tk.paused_at === "number" ? Math.min(now(), tk.paused_at) : now());
  const isOverdue = (tk) => !DONE.has(tk.status) && (tk.overdue || clockOf(tk) > tk.due_at);

  function fmtClock(epoch) {
    if (typeof epoch !== "number" || !isFinite(epoch)) return "";
    const d = new Date(epoch * 1000);
    const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
    const today = new Date();
    if (d.toDateString() === today.toDateString()) return hm;
    return `${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")} ${hm}`;
  }

  /** A span of time for countdowns: "2天3小时", "3小时5分", "4:05" (m:ss under an hour). */
  function fmtSpan(seconds) {
    let s = Math.floor(Math.abs(seconds));
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    if (d) return t("unit_d", { n: d }) + (h ? ` ${t("unit_h", { n: h })}` : "");
    if (h) return t("unit_h", { n: h }) + ` ${t("unit_m", { n: m })}`;
    return `${m}:${String(s).padStart(2, "0")}`;
  }

  function toast(message, kind = "info") {
    const n = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", text: message });
    $("#toasts").append(n);
    setTimeout(() => n.remove(), kind === "error" ? 8000 : 4000);
  }

  // ---------------------------------------------------------------------------------------------
  // API
  // ---------------------------------------------------------------------------------------------
  const api = (method, path, body) => window.ConsoleDom.api(method, path, body, {
    networkError: t("network_error"),
    onResponse: noteServerTime,
    onUnauthorized: sessionEnded,
  });

  function noteServerTime(res) {
    const header = res.headers.get("Date");
    const server = header ? Date.parse(header) : NaN;
    if (isFinite(server)) S.skew = Math.abs(server - Date.now()) > 2500 ? server - Date.now() : 0;
  }

  function report(err) {
    if (err && err.status === 401) return;
    console.error(err);
    toast((err && err.message) || t("error"), "error");
  }

  // ---------------------------------------------------------------------------------------------
  // Names and labels
  // ---------------------------------------------------------------------------------------------
  function agentName(id) {
    if (!id) return t("unassigned");
    if (S.me && id === S.me.id) return t("you");
    const a = S.agents.find((x) => x.id === id);
    return a ? a.name || a.id : id;
  }
  const categoryOf = (name) => S.config.categories.find((c) => c.name === name);
  const categoryLabel = (name) => both((categoryOf(name) || {}).labels, name);

  // ---------------------------------------------------------------------------------------------
  // Filters (in the URL)
  // ---------------------------------------------------------------------------------------------
  function filters() {
    return {
      status: $("#f-status").value || "active",
      department: $("#f-department").value,
      mine: $("#f-mine").checked,
      overdue: $("#f-overdue").checked,
    };
  }

  function statusesOf(choice) {
    if (choice === "active") return NOT_DONE;
    if (choice === "all") return [];
    return [choice];
  }

  function syncUrl() {
    const f = filters();
    const q = new URLSearchParams();
    if (f.status !== "active") q.set("status", f.status);
    if (f.department) q.set("department", f.department);
    if (f.mine) q.set("mine", "1");
    if (f.overdue) q.set("overdue", "1");
    if (S.selected) q.set("t", S.selected);
    const query = q.toString();
    history.replaceState(null, "", location.pathname + (query ? `?${query}` : ""));
  }

  function readUrl() {
    const q = new URLSearchParams(location.search);
    const status = q.get("status");
    if (status && ["active", "all", ...STATUSES].includes(status)) $("#f-status").value = status;
    $("#f-mine").checked = q.get("mine") === "1";
    $("#f-overdue").checked = q.get("overdue") === "1";
    const wanted = (q.get("t") || "").toUpperCase();
    return { department: q.get("department") || "", ticket: /^T\d{1,12}$/.test(wanted) ? wanted : null };
  }

  /** Whether a ticket (from a push) belongs in the list as filtered. */
  function matches(tk) {
    const f = filters();
    const statuses = statusesOf(f.status);
    if (statuses.length && !statuses.includes(tk.status)) return false;
    if (f.department && tk.department !== f.department) return false;
    if (f.mine && tk.owner_id !== S.me.id) return false;
    if (f.overdue && !isOverdue(tk)) return false;
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Loading
  // ---------------------------------------------------------------------------------------------
  async function loadList() {
    const seq = ++S.listSeq;
    const f = filters();
    const q = new URLSearchParams();
    const statuses = statusesOf(f.status);
    if (statuses.length) q.set("status", statuses.join(","));
    if (f.department) q.set("department", f.department);
    if (f.mine) q.set("mine", "1");
    if (f.overdue) q.set("overdue", "1");
    $("#loading").hidden = false;
    try {
      const data = await api("GET", `/api/tickets?${q}`);
      if (seq !== S.listSeq) return; // the filters changed meanwhile
      S.tickets = new Map((data.tickets || []).map((tk) => [tk.number, tk]));
      renderList();
    } finally {
      if (seq === S.listSeq) $("#loading").hidden = true;
    }
  }

  async function loadAgents() {
    if (!isSupervisor()) return;
    const data = await api("GET", "/api/queues");
    S.agents = (data.agents || []).filter((a) => a.role === "agent" || a.role === "supervisor");
  }

  async function loadDetail(number) {
    const seq = ++S.detailSeq;
    clearTimeout(S.deliveryTimer);
    const data = await api("GET", `/api/tickets/${encodeURIComponent(number)}`);
    if (seq !== S.detailSeq || S.selected !== number) return;
    S.detail = data;
    const listed = S.tickets.get(number);
    renderDetail();
    if (listed && viewKey(listed) !== viewKey(data.ticket)) {
      S.tickets.set(number, data.ticket);
      renderList();
    }
    watchDeliveries();
  }

  /** A ticket's view without what changes on every read (the seconds left are counted here anyway). */
  const viewKey = (tk) => JSON.stringify({ ...tk, seconds_left: null });

  /** Notices the outbox has not delivered yet: the history is read again shortly (delivery sends no push). */
  function watchDeliveries() {
    const d = S.detail;
    if (!d) return;
    const pending = d.events.some((e) => e.public && !e.delivered_at && !e.failed_at && now() - e.at < DELIVERY_CHECK_FOR);
    if (!pending) return;
    const number = d.ticket.number;
    S.deliveryTimer = setTimeout(() => {
      if (S.selected === number) loadDetail(number).catch(quietly);
    }, DELIVERY_CHECK_MS);
  }

  /** For background refreshes: the live-link indicator already says when the service is unreachable. */
  function quietly(err) {
    if (err && err.status) report(err);
  }

  async function reloadAll() {
    await loadList();
    if (S.selected) await loadDetail(S.selected);
  }

  // ---------------------------------------------------------------------------------------------
  // The list
  // ---------------------------------------------------------------------------------------------
  function sortKey(tk) {
    return [DONE.has(tk.status) ? 1 : 0, tk.due_at, tk.id];
  }

  function compare(a, b) {
    const ka = sortKey(a);
    const kb = sortKey(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
    return 0;
  }

  function overdueBadge() {
    return el("span", { class: "tk-overdue-badge", text: t("overdue") });
  }

  function dueSpan(tk, bare) {
    const span = el("span", { class: "tk-due", data: { due: tk.due_at, status: tk.status, number: tk.number,
                                                       bare: bare ? "1" : "" } });
    updateDue(span);
    return span;
  }

  /** "Due 10-02 18:00 · 3h 5m left" / "… · 20m late", live. */
  function updateDue(span) {
    const due = parseFloat(span.dataset.due);
    const status = span.dataset.status;
    const tk = S.tickets.get(span.dataset.number) || (S.detail && S.detail.ticket.number === span.dataset.number
      ? S.detail.ticket : null);
    let text = span.dataset.bare ? fmtClock(due) : `${t("due")} ${fmtClock(due)}`;
    if (!DONE.has(status)) {
      const left = due - clockOf(tk);
      const late = left < 0 || (tk && tk.overdue);
      text += ` · ${late ? t("late", { time: fmtSpan(Math.min(left, 0)) }) : t("left", { time: fmtSpan(left) })}`;
      const paused = !!tk && typeof tk.paused_at === "number";
      if (paused) text += ` · ${t("paused")}`;
      span.classList.toggle("late", !!late);
      span.classList.toggle("paused", paused);
    }
    if (span.textContent !== text) span.textContent = text;
  }

  function ticketRow(tk) {
    const overdue = isOverdue(tk);
    S.shownOverdue.set(tk.number, overdue);
    return el("li", {
      class: "ticket" + (tk.number === S.selected ? " selected" : "") + (overdue ? " overdue" : "")
        + (tk.tier === "vip" ? " vip" : ""),
      data: { number: tk.number, status: tk.status, overdue: overdue ? "1" : "0" }, tabIndex: 0,
    },
    el("div", { class: "row1" },
      el("span", { class: "ref", text: tk.number }),
      el("span", { class: `tk-status ${tk.status}`, text: statusLabel(tk.status) }),
      overdue ? overdueBadge() : null,
      tk.tier === "vip" ? el("span", { class: "tier vip", text: t("vip") }) : null,
      el("span", { class: "spacer" }),
      dueSpan(tk)),
    el("div", { class: "subject", title: tk.subject, text: tk.subject }),
    el("div", { class: "row3" },
      el("span", { class: "tk-cat", text: both(tk.category_label, tk.category) }),
      el("span", { class: "muted", text: "·" }),
      el("span", { class: "tk-dep muted", text: both(tk.department_label, tk.department) }),
      el("span", { class: "spacer" }),
      el("span", { class: "tk-owner" + (tk.owner_id ? "" : " muted"), text: agentName(tk.owner_id) })));
  }

  function renderList() {
    if (!S.me) return;
    const items = [...S.tickets.values()].sort(compare);
    S.shownOverdue.clear();
    $("#t-list").replaceChildren(...(items.length ? items.map(ticketRow)
      : [el("li", { class: "empty-row", text: t("list_empty") })]));
    $("#t-count").textContent = items.length;
    const overdue = items.filter(isOverdue).length;
    document.title = (overdue ? `(${overdue}) ` : "") + `${t("page_title")} · ${lang === "zh" ? "Tickets" : "工单"}`;
  }

  /** A ticket as it is now (from a push or an answer): the list and the open ticket follow. */
  function applyTicket(tk) {
    if (matches(tk)) S.tickets.set(tk.number, tk);
    else S.tickets.delete(tk.number);
    renderList();
    if (S.selected === tk.number) {
      if (S.detail) S.detail.ticket = tk;
      renderDetail();
      loadDetail(tk.number).catch(quietly); // its history grew
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The selected ticket
  // ---------------------------------------------------------------------------------------------
  async function select(number) {
    if (S.selected !== number) {
      S.selected = number;
      S.detail = null;
      S.mode = "note";
      $("#compose-text").value = "";
      $("#t-empty").hidden = true;
      $("#t-detail").hidden = false;
      $("#timeline").replaceChildren();
      $("#td-transcript").replaceChildren();
      $("#td-messages").replaceChildren();
      timelineKey = "";
      conversationKey = "";
      syncUrl();
    }
    renderList();
    try {
      await loadDetail(number);
    } catch (err) {
      report(err);
      if (err.status === 404 || err.status === 403) deselect();
    }
  }

  function deselect() {
    S.selected = null;
    S.detail = null;
    S.detailSeq++;
    $("#t-detail").hidden = true;
    $("#t-empty").hidden = false;
    syncUrl();
    renderList();
  }

  function fact(key, label, ...value) {
    return [el("dt", { text: label }), el("dd", { data: { fact: key } }, ...value)];
  }

  function renderHeader(tk) {
    $("#td-number").textContent = tk.number;
    const status = $("#td-status");
    status.textContent = statusLabel(tk.status);
    status.className = `tk-status ${tk.status}`;
    status.dataset.status = tk.status;
    $("#td-overdue").replaceChildren(isOverdue(tk) ? overdueBadge() : "");
    $("#td-subject").textContent = tk.subject;
    $("#td-subject").title = tk.subject;
    const c = S.detail && S.detail.conversation;
    const customer = tk.customer_id ? el("span", { class: "mono", text: tk.customer_id })
      : el("span", { class: "muted", text: t("unverified") });
    const sender = el("span", { class: "mono muted", title: tk.sender_id, text: ` ${tk.sender_id}` });
    const created = `${fmtClock(tk.created_at)} · ${t("by", { who: agentName(tk.created_by) })}`;
    const due = DONE.has(tk.status) && tk.resolved_at
      ? [dueSpan(tk, true), el("span", { class: "muted", text: ` · ${t("done_at", { time: fmtClock(tk.resolved_at) })}` })]
      : [dueSpan(tk, true)];
    $("#td-facts").replaceChildren(
      ...fact("category", t("category"), both(tk.category_label, tk.category)),
      ...fact("department", t("department"), both(tk.department_label, tk.department)),
      ...fact("owner", t("owner"), el("span", { class: tk.owner_id ? null : "muted", text: agentName(tk.owner_id) })),
      ...fact("due", t("due"), ...due),
      ...fact("customer", t("customer"), customer, tk.tier === "vip" ? el("span", { class: "tier vip", text: t("vip") })
        : null, sender),
      ...fact("channel", t("channel"), pick(CHANNELS[tk.channel], tk.channel || "")),
      ...fact("language", t("language"), pick(LANGUAGE_NAMES[tk.language], tk.language || "")),
      ...fact("created", t("created"), created),
      ...(tk.csat ? fact("csat", t("csat"), el("span", { class: "csat", text: `${tk.csat.score}/5` }),
        tk.csat.comment ? el("span", { class: "muted", text: ` ${tk.csat.comment}` }) : null) : []));
    $("#td-conv-ref").textContent = c ? c.ref : "";
  }

  /** What the caller may do to the ticket, as the service decides it (ticket_service.py). */
  function permissions(tk) {
    const mine = tk.owner_id === S.me.id;
    const closed = tk.status === "closed";
    return {
      take: !closed && !mine,
      assign: isSupervisor() && !closed,
      category: (isSupervisor() || mine) && !DONE.has(tk.status),
      close: tk.status === "resolved" && (isSupervisor() || mine),
      modes: MODES.filter((m) => (m === "note" ? true : m === "reply" ? !closed
        : m === "ask" ? NEXT[tk.status].includes("waiting_customer")
          : m === "close" ? isSupervisor() && !DONE.has(tk.status) : NEXT[tk.status].includes("resolved"))),
    };
  }

  function statusButtons(tk, may) {
    const buttons = [];
    if (NEXT[tk.status].includes("in_progress")) {
      const label = tk.status === "open" ? "do_start" : tk.status === "resolved" ? "do_reopen" : "do_resume";
      buttons.push(el("button", { type: "button", id: "status-in_progress", class: "status-change",
                                  data: { status: "in_progress" }, text: t(label) }));
    }
    if (may.close) {
      buttons.push(el("button", { type: "button", id: "status-closed", class: "status-change",
                                  data: { status: "closed" }, text: t("do_close") }));
    }
    return buttons;
  }

  // Parts of the page rebuilt only when what they show changed: a reload (a push, a delivery check) must
  // not swallow a click on a button, nor a text selection in the history.
  let assignKey = "";
  let categoryKey = "";
  let buttonsKey = "";
  let timelineKey = "";
  let conversationKey = "";

  function renderActions(tk) {
    const may = permissions(tk);
    $("#take").hidden = !may.take;
    $("#take").disabled = S.busy;
    if (!may.modes.includes(S.mode)) S.mode = "note";
    const key = JSON.stringify([lang, tk.number, tk.status, tk.owner_id, S.mode, may]);
    if (key !== buttonsKey) {
      buttonsKey = key;
      $("#status-buttons").replaceChildren(...statusButtons(tk, may));
      $("#modes").replaceChildren(...may.modes.map((m) => el("button", {
        type: "button", id: `mode-${m}`, class: `tk-mode ${m}` + (m === S.mode ? " on" : ""), role: "radio",
        "aria-checked": m === S.mode ? "true" : "false", data: { mode: m }, text: t(`mode_${m}`) })));
    }
    for (const b of $$("#status-buttons button")) b.disabled = S.busy;

    $("#assign-group").hidden = !may.assign;
    if (may.assign) {
      // Rebuilt only when the choices change: the list may be open while a push arrives.
      const key = JSON.stringify([lang, tk.number, tk.owner_id, S.agents.map((a) => [a.id, a.name, a.status])]);
      if (key !== assignKey) {
        assignKey = key;
        $("#assign-agent").replaceChildren(el("option", { value: "", text: t("assign_to") }),
          ...S.agents.filter((a) => a.id !== tk.owner_id).map((a) => el("option", {
            value: a.id, text: `${a.name || a.id} (${a.id}) · ${t(`role_${a.role}`)}` })));
      }
    }
    $("#category-group").hidden = !may.category;
    if (may.category) {
      const key = JSON.stringify([lang, tk.number, tk.category, S.config.categories.length]);
      if (key !== categoryKey) {
        categoryKey = key;
        $("#category-select").replaceChildren(...S.config.categories.map((c) => el("option", {
          value: c.name, selected: c.name === tk.category,
          text: `${both(c.labels, c.name)} · ${both(categoryDepartment(c), c.department)} · ${c.due[lang] || ""}` })));
        $("#category-select").value = tk.category;
      }
    }

    const compose = $("#compose");
    compose.className = `tk-compose ${S.mode === "note" ? "internal" : "public"}`;
    compose.dataset.mode = S.mode;
    $("#compose-hint").textContent = t(`hint_${S.mode}`);
    $("#compose-text").placeholder = t(`ph_${S.mode}`);
    $("#compose-submit").textContent = t(`submit_${S.mode}`);
    $("#compose-submit").disabled = S.busy;
  }

  function categoryDepartment(c) {
    const d = S.config.departments.find((x) => x.name === c.department);
    return d ? d.labels : null;
  }

  // --- history ----------------------------------------------------------------------------------
  function eventTitle(e) {
    switch (e.kind) {
      case "status": return t("ev_status", { from: e.from_status ? statusLabel(e.from_status) : "—",
                                             to: statusLabel(e.to_status) });
      case "assigned": return t("ev_assigned", { who: agentName(e.text) });
      case "category": {
        const [from, to] = (e.text || "").split(" -> ");
        return t("ev_category", { from: categoryLabel(from), to: categoryLabel(to || "") });
      }
      default: return t(`ev_${e.kind}`);
    }
  }

  function eventBody(e) {
    if (!e.text || e.kind === "assigned" || e.kind === "category") return null;
    return el("div", { class: "text", text: e.text });
  }

  function eventMark(e) {
    if (e.kind === "note") return el("span", { class: "tk-mark internal", text: t("internal") });
    if (e.public) {
      const state = e.delivered_at ? "delivered" : e.failed_at ? "refused" : "pending";
      const at = e.delivered_at || e.failed_at;
      const text = state === "delivered" ? t("delivered_at", { time: fmtClock(e.delivered_at) })
        : state === "refused" ? window.ConsoleDom.refusal(e.failure, lang) : t("not_delivered");
      return el("span", { class: `tk-mark public ${state}` },
        el("span", { class: "tk-sent", text: t("sent") }), " · ",
        el("span", { class: "tk-delivery", title: at ? new Date(at * 1000).toLocaleString() : "", text }));
    }
    if (e.kind === "customer_message") return el("span", { class: "tk-mark customer", text: t("from_customer") });
    return null;
  }

  function renderTimeline(events) {
    const key = JSON.stringify([lang, events, S.agents]);
    if (key === timelineKey) return;
    timelineKey = key;
    $("#timeline").replaceChildren(...(events.length ? events.map((e) => el("li", {
      class: `tk-event ${e.kind}` + (e.kind === "note" ? " internal" : "") + (e.public ? " public" : ""),
      data: { id: e.id, kind: e.kind, to: e.to_status || "" },
    },
    el("div", { class: "meta" },
      el("span", { class: "time", title: new Date(e.at * 1000).toLocaleString(), text: fmtClock(e.at) }),
      el("span", { class: "who", text: e.agent_id ? agentName(e.agent_id) : e.kind === "customer_message" || e.kind === "csat"
        ? t("customer") : t("system") }),
      el("span", { class: "what", text: eventTitle(e) }),
      el("span", { class: "spacer" }),
      eventMark(e)),
    eventBody(e))) : [el("li", { class: "empty-row muted", text: t("no_events") })]));
  }

  // --- the conversation -------------------------------------------------------------------------
  function renderConversation(d) {
    const key = JSON.stringify([lang, d.conversation, d.summary, d.messages, S.agents]);
    if (key === conversationKey) return;
    conversationKey = key;
    const c = d.conversation;
    const summary = d.summary || {};
    $("#td-issue").textContent = (summary.issue_by_language || {})[lang] || summary.issue || (c && c.issue) || "";
    const transcript = summary.transcript || [];
    $("#td-transcript").replaceChildren(...(transcript.length ? transcript.map((m) => el("li", {
      class: `tmsg ${m.role === "customer" ? "customer" : "bot"}` },
    el("div", { class: "meta" }, el("span", { class: "who", text: m.role === "customer" ? t("customer") : t("bot") }),
      el("span", { class: "time", text: typeof m.time === "number" ? fmtClock(m.time) : m.time || "" })),
    el("div", { class: "text", text: m.text || "" })))
      : [el("li", { class: "muted empty-row", text: c ? t("no_transcript") : t("no_conversation") })]));
    $("#td-divider").textContent = c ? t("handoff_divider", { ref: c.ref, time: fmtClock(c.created_at) }) : "";
    const messages = (d.messages || []).slice().sort((a, b) => a.id - b.id);
    $("#td-messages").replaceChildren(...messages.map((m) => {
      const who = m.direction === "customer" ? t("customer") : m.direction === "system" ? t("system") : agentName(m.agent_id);
      const meta = el("div", { class: "meta" }, el("span", { class: "who", text: who }),
        el("span", { class: "time", text: fmtClock(m.created_at) }));
      if (m.direction === "agent") {
        meta.append(m.delivered_at ? el("span", { class: "delivery delivered", text: `✓ ${t("delivered")}` })
          : m.failed_at ? el("span", { class: "delivery refused", text: `✗ ${window.ConsoleDom.refusal(m.failure, lang)}` })
            : el("span", { class: "delivery pending", text: t("sending") }));
      }
      return el("li", { class: `msg ${m.direction}`, data: { id: m.id } }, meta, el("div", { class: "text", text: m.text || "" }));
    }));
  }

  function renderDetail() {
    const d = S.detail;
    if (!d || !S.me) return;
    renderHeader(d.ticket);
    renderActions(d.ticket);
    renderTimeline(d.events || []);
    renderConversation(d);
  }

  // ---------------------------------------------------------------------------------------------
  // Actions
  // ---------------------------------------------------------------------------------------------
  async function act(work) {
    if (S.busy || !S.detail) return;
    const number = S.detail.ticket.number;
    S.busy = true;
    renderActions(S.detail.ticket);
    try {
      const done = await work(number);
      if (done && done.ticket) applyTicket(done.ticket);
      else if (S.selected === number) await loadDetail(number);
      if (done && done.message) toast(done.message);
      return true;
    } catch (err) {
      report(err);
      if (err.status === 409 || err.status === 404) reloadAll().catch(quietly);
      return false;
    } finally {
      S.busy = false;
      if (S.detail) renderActions(S.detail.ticket);
    }
  }

  const path = (number, what) => `/api/tickets/${encodeURIComponent(number)}/${what}`;

  function setStatus(status, text) {
    return act(async (number) => {
      const body = text ? { status, text } : { status };
      const data = await api("POST", path(number, "status"), body);
      return { ticket: data.ticket, message: t("done_status", { number, status: statusLabel(status) }) };
    });
  }

  function assignTo(agentId) {
    return act(async (number) => {
      const data = await api("POST", path(number, "assign"), { agent_id: agentId });
      return { ticket: data.ticket, message: t("done_assign", { number, who: agentName(agentId) }) };
    });
  }

  async function submitCompose(event) {
    event.preventDefault();
    const box = $("#compose-text");
    const text = box.value.trim();
    if (!text) {
      toast(t("need_text"), "error");
      box.focus();
      return;
    }
    const mode = S.mode;
    let ok;
    if (mode === "note" || mode === "reply") {
      ok = await act(async (number) => {
        await api("POST", path(number, mode === "note" ? "notes" : "replies"), { text });
        return { message: t(mode === "note" ? "done_note" : "done_reply") };
      });
    } else {
      ok = await setStatus({ ask: "waiting_customer", resolve: "resolved", close: "closed" }[mode], text);
    }
    if (ok) {
      box.value = "";
      S.mode = "note";
      if (S.detail) renderActions(S.detail.ticket);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Live updates
  // ---------------------------------------------------------------------------------------------
  function setConn(up) {
    const n = $("#conn");
    n.classList.toggle("up", up);
    n.classList.toggle("down", !up);
    n.title = t(up ? "conn_up" : "conn_down");
  }

  function connectSocket() {
    S.wsWanted = true;
    clearTimeout(S.wsTimer);
    let ws;
    try {
      ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/ws`);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    S.ws = ws;
    ws.onopen = () => {
      if (S.ws !== ws) return;
      S.wsAttempts = 0;
      setConn(true);
      reloadAll().catch(quietly); // whatever happened while we were not listening
    };
    ws.onmessage = (event) => {
      if (S.ws !== ws) return;
      let push;
      try {
        push = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (push && push.type === "ticket" && push.ticket && S.me) applyTicket(push.ticket);
    };
    ws.onclose = () => {
      if (S.ws !== ws) return;
      S.ws = null;
      setConn(false);
      if (!S.wsWanted) return;
      // The session may have ended (a 401 here says so on the page).
      api("GET", "/api/me").then(() => scheduleReconnect(), (err) => { if (err.status !== 401) scheduleReconnect(); });
    };
  }

  function scheduleReconnect() {
    if (!S.wsWanted) return;
    const delay = Math.min(30000, 1000 * 2 ** S.wsAttempts) * (0.6 + Math.random() * 0.4);
    S.wsAttempts = Math.min(S.wsAttempts + 1, 10);
    clearTimeout(S.wsTimer);
    S.wsTimer = setTimeout(() => S.wsWanted && connectSocket(), delay);
  }

  /** Once a second: countdowns; a ticket whose due time has just passed gets its badge. */
  function tick() {
    for (const n of $$(".tk-due[data-due]")) updateDue(n);
    const flipped = [...S.tickets.values()].some((tk) => isOverdue(tk) !== S.shownOverdue.get(tk.number));
    if (flipped) renderList();
    const d = S.detail;
    if (d) {
      const badge = !!$("#td-overdue .tk-overdue-badge");
      if (badge !== isOverdue(d.ticket)) $("#td-overdue").replaceChildren(isOverdue(d.ticket) ? overdueBadge() : "");
    }
  }

  function sessionEnded() {
    if (!S.me) return;
    S.me = null;
    S.wsWanted = false;
    clearTimeout(S.wsTimer);
    clearInterval(S.tickTimer);
    clearInterval(S.pollTimer);
    clearTimeout(S.deliveryTimer);
    if (S.ws) {
      const ws = S.ws;
      S.ws = null;
      ws.close();
    }
    notice(t("need_login"));
  }

  function notice(message) {
    $("#desk").hidden = true;
    const box = $("#notice");
    box.replaceChildren(message, " ", el("a", { href: "/console/", text: t("back_to_console") }));
    box.hidden = false;
  }

  // ---------------------------------------------------------------------------------------------
  // Language, events, start
  // ---------------------------------------------------------------------------------------------
  function applyI18n() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = `${t("page_title")} · ${lang === "zh" ? "Tickets" : "工单"}`;
    for (const n of $$("[data-i18n]")) n.textContent = t(n.dataset.i18n);
    for (const n of $$("[data-lang-toggle]")) {
      n.textContent = lang === "zh" ? "English" : "中文";
      n.title = lang === "zh" ? "Switch to English" : "切换到中文";
    }
    setConn($("#conn").classList.contains("up"));
    if (S.me) $("#me-role").textContent = t(isSupervisor() ? "role_supervisor" : "role_agent");
  }

  function renderDepartments(wanted) {
    const select = $("#f-department");
    const current = wanted !== undefined ? wanted : select.value;
    select.replaceChildren(el("option", { value: "", text: t("f_all") }),
      ...S.config.departments.map((d) => el("option", { value: d.name, text: both(d.labels, d.name) })));
    select.value = S.config.departments.some((d) => d.name === current) ? current : "";
  }

  function toggleLanguage() {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, lang);
    applyI18n();
    if (!S.me) return;
    renderDepartments();
    assignKey = "";
    categoryKey = "";
    buttonsKey = "";
    timelineKey = "";
    conversationKey = "";
    renderList();
    renderDetail();
  }

  function onListClick(event) {
    const row = event.target.closest(".ticket");
    if (row) select(row.dataset.number);
  }

  function onListKey(event) {
    if (event.key !== "Enter" && event.key !== " ") return;
    const row = event.target.closest(".ticket");
    if (!row || event.target !== row) return;
    event.preventDefault();
    select(row.dataset.number);
  }

  function bind() {
    for (const n of $$("[data-lang-toggle]")) n.addEventListener("click", toggleLanguage);
    $("#filters").addEventListener("change", () => {
      syncUrl();
      loadList().catch(report);
    });
    $("#filters").addEventListener("submit", (e) => e.preventDefault());
    $("#t-list").addEventListener("click", onListClick);
    $("#t-list").addEventListener("keydown", onListKey);
    $("#take").addEventListener("click", () => S.me && assignTo(S.me.id));
    $("#status-buttons").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-status]");
      if (button) setStatus(button.dataset.status, "");
    });
    $("#assign").addEventListener("click", () => {
      const agentId = $("#assign-agent").value;
      if (!agentId) return toast(t("need_agent"), "error");
      assignTo(agentId);
    });
    $("#recategorize").addEventListener("click", () => {
      const category = $("#category-select").value;
      if (!category || !S.detail || category === S.detail.ticket.category) return;
      act(async (number) => {
        const data = await api("POST", path(number, "category"), { category });
        return { ticket: data.ticket, message: t("done_category", { number, label: categoryLabel(category) }) };
      });
    });
    $("#modes").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-mode]");
      if (!button || !S.detail) return;
      S.mode = button.dataset.mode;
      renderActions(S.detail.ticket);
      $("#compose-text").focus();
    });
    $("#compose").addEventListener("submit", submitCompose);
    $("#compose-text").addEventListener("keydown", (event) => {
      // Ctrl/Cmd+Enter sends; Enter alone is a new line (tickets get longer texts than chats).
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
        event.preventDefault();
        $("#compose").requestSubmit();
      }
    });
  }

  async function boot() {
    applyI18n();
    bind();
    let me;
    try {
      me = (await api("GET", "/api/me")).agent;
    } catch (err) {
      return notice(err.status === 401 ? t("need_login") : err.message || t("error"));
    }
    if (me.role !== "agent" && me.role !== "supervisor") return notice(t("agents_only"));
    S.me = me;
    $("#me-name").textContent = me.name || me.id;
    $("#me-name").title = me.id;
    const role = $("#me-role");
    role.textContent = t(isSupervisor() ? "role_supervisor" : "role_agent");
    role.className = `role-badge ${me.role}`;
    for (const n of $$(".supervisor-only")) n.hidden = !isSupervisor();
    const wanted = readUrl();
    try {
      const [config] = await Promise.all([api("GET", "/api/tickets/config"), loadAgents()]);
      S.config = { categories: config.categories || [], departments: config.departments || [] };
    } catch (err) {
      return notice(err.message || t("error"));
    }
    renderDepartments(wanted.department);
    $("#desk").hidden = false;
    try {
      await loadList();
    } catch (err) {
      report(err);
    }
    if (wanted.ticket) select(wanted.ticket);
    syncUrl();
    connectSocket();
    S.tickTimer = setInterval(tick, 1000);
    S.pollTimer = setInterval(() => S.me && loadList().catch(quietly), POLL_MS);
  }

  boot();
})();
