/* Agent console of the handoff service: one page for agents and supervisors.
 *
 * Plain browser JavaScript, no build step, nothing fetched from elsewhere. State comes from the REST
 * API (/api/...), changes arrive over the WebSocket /api/ws (reconnected with backoff, everything
 * refetched on each connect). Every text that customers, the bot or other people wrote is put into
 * the page with textContent (el() below) — never as HTML: customers can type "<script>".
 */
"use strict";

(() => {
  // ---------------------------------------------------------------------------------------------
  // Labels, in both languages
  // ---------------------------------------------------------------------------------------------
  const TEXT = {
    app_title: ["客服工作台", "Agent console"],
    dashboard: ["数据看板", "Dashboard"],
    faq_editor: ["知识库编辑", "FAQ editor"],
    agent_id: ["工号", "Agent ID"],
    password: ["密码", "Password"],
    log_in: ["登录", "Log in"],
    log_out: ["退出", "Log out"],
    login_failed: ["工号或密码错误。", "Wrong agent ID or password."],
    login_locked: ["登录失败次数过多，请几分钟后再试。", "Too many failed logins. Try again in a few minutes."],
    login_missing: ["请输入工号和密码。", "Enter your agent ID and password."],
    session_expired: ["登录已过期，请重新登录。", "Your session has expired. Please log in again."],
    network_error: ["无法连接服务，请稍后再试。", "Cannot reach the service. Try again shortly."],
    live: ["实时", "Live"],
    conn_up: ["实时连接正常", "Live updates connected"],
    conn_down: ["实时连接中断，正在重连…", "Live updates disconnected, reconnecting…"],
    status: ["状态", "Status"],
    status_online: ["在线", "Online"],
    status_away: ["离开", "Away"],
    status_offline: ["离线", "Offline"],
    role_agent: ["坐席", "Agent"],
    role_supervisor: ["主管", "Supervisor"],
    load_title: ["当前会话 / 上限", "Chats held / capacity"],
    queues: ["队列", "Queues"],
    queue: ["队列", "Queue"],
    waiting_count: ["等待", "Waiting"],
    oldest_wait: ["最长等待", "Oldest"],
    breaches: ["超时", "Breached"],
    offered_to_you: ["分配给你", "Offered to you"],
    my_chats: ["我的会话", "My chats"],
    waiting: ["排队中", "Waiting"],
    others_chats: ["其他坐席的会话", "Other agents' chats"],
    agents: ["坐席", "Agents"],
    agent: ["坐席", "Agent"],
    load: ["负载", "Load"],
    skills: ["技能", "Skills"],
    history: ["历史记录", "History"],
    tickets: ["留言（无人在线时）", "Tickets (left while nobody was available)"],
    csat: ["满意度", "CSAT"],
    history_empty: ["暂无记录。", "Nothing yet."],
    list_empty: ["无", "None"],
    select_conversation: ["从左侧选择一个会话。", "Select a conversation on the left."],
    accept: ["接入", "Accept"],
    decline: ["拒绝", "Decline"],
    take: ["领取", "Take"],
    reassign: ["改派…", "Reassign…"],
    transfer: ["转接", "Transfer"],
    transfer_to: ["转接到…", "Transfer to…"],
    transfer_queues: ["队列", "Queues"],
    transfer_agents: ["坐席", "Agents"],
    transfer_pick: ["请先选择转接目标。", "Choose where to transfer first."],
    transferred: ["{ref} 已转接到 {target}。", "{ref} transferred to {target}."],
    reassigned: ["{ref} 已改派给 {target}。", "{ref} reassigned to {target}."],
    resolve_close: ["结束（发送满意度调查）", "Close (send survey)"],
    resolve_bot: ["交回机器人", "Hand back to bot"],
    closed_done: ["{ref} 已结束，已向客户发送满意度调查。", "{ref} closed; the customer gets a satisfaction survey."],
    returned_done: ["{ref} 已交回机器人。", "{ref} handed back to the bot."],
    taken: ["{ref} 已被其他坐席接入。", "{ref} was taken by someone else."],
    offered_new: ["新会话分配给你：{ref}", "New chat offered to you: {ref}"],
    bot_transcript: ["与机器人的对话", "Conversation with the bot"],
    no_transcript: ["（无机器人对话记录）", "(no conversation with the bot)"],
    handoff_divider: ["转人工 · {ref} · {time}", "Handed over · {ref} · {time}"],
    customer: ["客户", "Customer"],
    bot: ["机器人", "Bot"],
    system: ["系统", "System"],
    you: ["我", "You"],
    sending: ["发送中…", "sending…"],
    delivered: ["已送达", "delivered"],
    resend: ["重新编辑发送", "edit and send again"],
    canned_replies: ["常用回复…", "Canned replies…"],
    canned_none: ["（无此语言的常用回复）", "(no canned replies in this language)"],
    reply_placeholder: ["输入回复…", "Type a reply…"],
    enter_hint: ["Enter 发送 · Shift+Enter 换行", "Enter sends · Shift+Enter new line"],
    send: ["发送", "Send"],
    hint_accept: ["接入后才能回复。", "Accept the conversation to reply."],
    hint_readonly: ["只读：该会话不在你名下。", "Read only: this conversation is not yours."],
    hint_closed: ["会话已结束。", "This conversation has ended."],
    hint_language: ["客户语言：{lang}", "Customer language: {lang}"],
    issue: ["问题", "Issue"],
    customer_id: ["客户编号", "Customer ID"],
    unverified: ["未验证", "not verified"],
    sender: ["会话 ID", "Sender ID"],
    channel: ["渠道", "Channel"],
    language: ["语言", "Language"],
    tier: ["等级", "Tier"],
    reason: ["原因", "Reason"],
    intents: ["意图（按顺序）", "Intents (in order)"],
    slots: ["已收集信息", "Slots"],
    order_tasks: ["订单查询", "Order lookups"],
    order_task: ["任务", "Task"],
    order_number: ["订单号", "Order"],
    outcome: ["结果", "Outcome"],
    verified: ["已验证", "Verified"],
    faq_attempts: ["已尝试的 FAQ 答案", "FAQ answers tried"],
    sentiment: ["情绪（每句客户消息）", "Sentiment (per customer message)"],
    none: ["—", "—"],
    yes: ["是", "yes"],
    no: ["否", "no"],
    sla_ok: ["SLA", "SLA"],
    sla_due_soon: ["即将超时", "Due soon"],
    sla_breached: ["已超时", "Breached"],
    sla_met: ["已按时响应", "Met"],
    sla_missed: ["响应超时", "Missed"],
    sla_title: ["首次响应期限 {time}", "First response due {time}"],
    position: ["排第 {n} 位", "#{n} in line"],
    waited: ["已等待", "Waiting for"],
    with_agent: ["坐席：{agent}", "Agent: {agent}"],
    unread: ["{n} 条未读", "{n} unread"],
    vip: ["VIP", "VIP"],
    tier_normal: ["普通", "normal"],
    profile: ["客户画像", "Customer profile"],
    segment: ["价值分层", "Segment"],
    rfm: ["RFM", "RFM"],
    advisor: ["专属顾问", "Advisor"],
    orders_count: ["订单数", "Orders"],
    spent_band: ["近一年消费（元）", "Spent, last year (yuan)"],
    last_order: ["最近订单", "Last order"],
    open_after_sales: ["售后处理中", "Open after-sales"],
    previous_csat: ["以往评分", "Previous ratings"],
    csat_summary: ["平均 {avg}（{n} 次），最近 {last}", "avg {avg} ({n}), last {last}"],
    handoffs_count: ["转人工次数", "Handoffs"],
    error: ["出错了", "Something went wrong"],
  };
  const QUEUE_LABELS = {
    vip: ["VIP", "VIP"], complaints: ["投诉", "Complaints"], after_sales: ["售后", "After-sales"],
    orders: ["订单", "Orders"], general: ["综合", "General"],
  };
  const REASON_LABELS = {
    customer_request: ["客户要求转人工", "Customer asked for a person"],
    complaint: ["投诉", "Complaint"],
    escalation: ["升级投诉", "Escalation"],
    negative_sentiment: ["客户情绪负面", "Negative sentiment"],
    low_confidence: ["机器人未能理解", "Bot did not understand"],
    order_request: ["订单需人工处理", "Order needs a person"],
    vip: ["VIP 客户", "VIP customer"],
  };
  const STATE_LABELS = {
    queued: ["排队中", "queued"], offered: ["已分配", "offered"], active: ["进行中", "active"],
    closed: ["已结束", "closed"], returned: ["已交回机器人", "back with bot"], ticket: ["留言", "ticket"],
  };
  const SLOT_LABELS = {
    order_number: ["订单号", "Order number"], order_task: ["订单任务", "Order task"],
    item_sku: ["商品 SKU", "Item SKU"], aftersales_reason: ["售后原因", "After-sales reason"],
    order_blocked: ["受阻原因", "Blocked because"], order_verified: ["订单已验证", "Order verified"],
  };
  const LANGUAGE_NAMES = { zh: ["中文", "Chinese"], en: ["英文", "English"] };
  const OPEN_STATES = ["queued", "offered", "active"];
  // Listed on the left: the open ones and tickets (messages left while nobody was available: they can be taken).
  const LISTED_STATES = [...OPEN_STATES, "ticket"];
  const LANG_KEY = "cs-console-lang";

  let lang = (() => {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === "zh" || saved === "en") return saved;
    return (navigator.language || "zh").toLowerCase().startsWith("zh") ? "zh" : "en";
  })();
  const li18n = (pair, fallback) => (pair ? pair[lang === "zh" ? 0 : 1] : fallback);

  function t(key, vars) {
    let s = li18n(TEXT[key], key);
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
    return s;
  }
  const queueLabel = (name) => li18n(QUEUE_LABELS[name], name || "");
  const reasonLabel = (code) => li18n(REASON_LABELS[code], code || "");
  const stateLabel = (s) => li18n(STATE_LABELS[s], s || "");
  const slotLabel = (s) => li18n(SLOT_LABELS[s], s);
  const languageName = (code) => li18n(LANGUAGE_NAMES[code], code || "");
  // The issue line in the console's language when the service has it in both, else as it came.
  const issueOf = (c, sm) => ((sm && sm.issue_by_language) || (c && c.issues) || {})[lang]
    || (sm && sm.issue) || (c && c.issue) || "";

  // ---------------------------------------------------------------------------------------------
  // Small helpers
  // ---------------------------------------------------------------------------------------------
  const { $, $$, el } = window.ConsoleDom;  // console/dom.js

  const S = {
    me: null,
    queues: [],            // from /api/queues, with .fetchedAt (client clock, seconds)
    agents: [],            // supervisors only
    convs: new Map(),      // id -> Conv (open ones the caller may see)
    history: [],           // closed / returned / tickets (loaded when the section is opened)
    selected: null,        // conversation id shown in the main pane
    detail: null,          // {conversation, summary, messages} of the selected one
    selectSeq: 0,
    unread: new Map(),     // id -> new customer messages not yet seen
    drafts: new Map(),     // id -> unsent reply text
    canned: [],
    skew: 0,               // server clock - client clock, ms (from the Date header)
    ws: null, wsWanted: false, wsAttempts: 0, wsTimer: null,
    tickTimer: null, queuesTimer: null, pollTimer: null,
    sending: false,
  };

  const now = () => (Date.now() + S.skew) / 1000;

  function fmtDuration(seconds) {
    const neg = seconds < 0;
    let s = Math.floor(Math.abs(seconds));
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    const body = h ? `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}` : `${m}:${String(s).padStart(2, "0")}`;
    return (neg ? "-" : "") + body;
  }

  function fmtClock(epoch) {
    if (typeof epoch !== "number" || !isFinite(epoch)) return "";
    const d = new Date(epoch * 1000);
    const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
    const today = new Date();
    if (d.toDateString() === today.toDateString()) return hm;
    return `${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")} ${hm}`;
  }

  /** Add-ons (assist.js) follow the page through DOM events: console:lang, console:detail, console:push. */
  const announce = (name, detail) => document.dispatchEvent(new CustomEvent(`console:${name}`, { detail }));

  function toast(message, kind = "info") {
    const box = $("#toasts");
    const n = el("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", text: message });
    box.append(n);
    setTimeout(() => n.remove(), kind === "error" ? 8000 : 5000);
  }

  // ---------------------------------------------------------------------------------------------
  // API
  // ---------------------------------------------------------------------------------------------
  const api = (method, path, body) => window.ConsoleDom.api(method, path, body, {
    networkError: t("network_error"),
    onResponse: noteServerTime,
    onUnauthorized: (where) => { if (where !== "/api/login") sessionExpired(); },
  });

  function noteServerTime(res) {
    const header = res.headers.get("Date");
    const server = header ? Date.parse(header) : NaN;
    if (!isFinite(server)) return;
    const diff = server - Date.now();
    // The header has whole seconds: only correct a clock that is clearly off.
    S.skew = Math.abs(diff) > 2500 ? diff : 0;
  }

  /** For background refreshes: the live-link indicator already says when the service is unreachable. */
  function quietly(err) {
    if (err && err.status) report(err);
  }

  /** Show an API failure (a 401 has already sent the page back to the login form). */
  function report(err) {
    if (err && err.status === 401) return;
    console.error(err);
    toast((err && err.message) || t("error"), "error");
  }

  // ---------------------------------------------------------------------------------------------
  // Language
  // ---------------------------------------------------------------------------------------------
  function applyI18n() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const n of $$("[data-i18n]")) n.textContent = t(n.dataset.i18n);
    for (const n of $$("[data-i18n-placeholder]")) n.placeholder = t(n.dataset.i18nPlaceholder);
    for (const n of $$("[data-i18n-title]")) n.title = t(n.dataset.i18nTitle);
    for (const n of $$("[data-lang-toggle]")) {
      n.textContent = lang === "zh" ? "English" : "中文";
      n.title = lang === "zh" ? "Switch to English" : "切换到中文";
    }
    updateTitle();
    announce("lang", lang);
  }

  function toggleLanguage() {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, lang);
    applyI18n();
    if (S.me) {
      renderMe();
      renderQueues();
      renderLists();
      renderHistory();
      if (S.detail) renderDetail(true);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Login / logout / session
  // ---------------------------------------------------------------------------------------------
  function showLogin(message) {
    $("#app").hidden = true;
    $("#login-view").hidden = false;
    const error = $("#login-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("#login-submit").disabled = false;
    (($("#agent-id").value ? $("#password") : $("#agent-id"))).focus();
    updateTitle();
  }

  async function onLogin(event) {
    event.preventDefault();
    const agentId = $("#agent-id").value.trim();
    const password = $("#password").value;
    const error = $("#login-error");
    if (!agentId || !password) {
      error.textContent = t("login_missing");
      error.hidden = false;
      return;
    }
    $("#login-submit").disabled = true;
    try {
      const data = await api("POST", "/api/login", { agent_id: agentId, password });
      $("#password").value = "";
      error.hidden = true;
      await enter(data.agent);
    } catch (err) {
      error.textContent = err.status === 401 ? t("login_failed") : err.status === 429 ? t("login_locked") : err.message;
      error.hidden = false;
      $("#password").select();
    } finally {
      $("#login-submit").disabled = false;
    }
  }

  function teardown() {
    S.wsWanted = false;
    clearTimeout(S.wsTimer);
    if (S.ws) {
      const ws = S.ws;
      S.ws = null;
      ws.close();
    }
    clearInterval(S.tickTimer);
    clearInterval(S.pollTimer);
    clearTimeout(S.queuesTimer);
    rowCache.clear();
    Object.assign(S, {
      me: null, queues: [], agents: [], convs: new Map(), history: [], selected: null, detail: null,
      unread: new Map(), drafts: new Map(), canned: [], wsAttempts: 0,
    });
    $("#reply").value = "";
    $("#conversation").hidden = true;
    $("#empty").hidden = false;
    $("#history").open = false;
    announce("detail", null);
  }

  function sessionExpired() {
    if (!S.me) return;
    teardown();
    showLogin(t("session_expired"));
  }

  async function logout() {
    try {
      // Nobody should be offered chats once they have left.
      if (S.me && S.me.status !== "offline") await api("PUT", "/api/me/status", { status: "offline" });
    } catch (err) {
      /* logging out anyway */
    }
    try {
      await api("POST", "/api/logout");
    } catch (err) {
      if (err.status !== 401) report(err);
    }
    teardown();
    showLogin();
  }

  async function enter(agent) {
    if (agent.role === "editor") {  // editors work on the FAQ only: their page is the editor
      location.replace("/console/editor.html");
      return;
    }
    S.me = agent;
    $("#login-view").hidden = true;
    $("#app").hidden = false;
    for (const n of $$(".supervisor-only")) n.hidden = agent.role !== "supervisor";
    renderMe();
    await reloadAll();
    loadCanned();
    connectSocket();
    clearInterval(S.tickTimer);
    S.tickTimer = setInterval(tick, 1000);
    // A safety net under the WebSocket: counters refreshed now and then even if a push is missed.
    clearInterval(S.pollTimer);
    S.pollTimer = setInterval(() => S.me && loadQueues().catch(quietly), 30000);
  }

  const isSupervisor = () => !!S.me && S.me.role === "supervisor";

  function renderMe() {
    if (!S.me) return;
    $("#me-name").textContent = S.me.name || S.me.id;
    $("#me-name").title = S.me.id;
    const role = $("#me-role");
    role.textContent = t(S.me.role === "supervisor" ? "role_supervisor" : "role_agent");
    role.className = `role-badge ${S.me.role}`;
    const status = $("#status");
    status.value = S.me.status;
    status.className = `status-${S.me.status}`;
    renderLoad();
  }

  function renderLoad() {
    if (!S.me) return;
    const held = [...S.convs.values()].filter((c) => c.agent_id === S.me.id && (c.state === "active" || c.state === "offered")).length;
    const load = $("#me-load");
    load.textContent = `${held}/${S.me.capacity}`;
    load.classList.toggle("full", held >= S.me.capacity);
  }

  async function changeStatus() {
    const select = $("#status");
    const wanted = select.value;
    try {
      const data = await api("PUT", "/api/me/status", { status: wanted });
      S.me = data.agent;
      renderMe();
      scheduleQueues();
    } catch (err) {
      report(err);
      if (S.me) select.value = S.me.status;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Loading
  // ---------------------------------------------------------------------------------------------
  async function reloadAll() {
    try {
      await Promise.all([loadQueues(), loadConversations()]);
      if (S.selected !== null) await loadDetail(S.selected, false);
      if ($("#history").open) await loadHistory();
    } catch (err) {
      report(err);
    }
  }

  async function loadQueues() {
    const data = await api("GET", "/api/queues");
    const before = JSON.stringify([S.agents, S.queues.map((q) => [q.name, q.skill, q.priority])]);
    S.queues = (data.queues || []).map((q) => ({ ...q, fetchedAt: now() }));
    S.agents = data.agents || [];
    renderQueues();
    renderAgents();
    if (JSON.stringify([S.agents, S.queues.map((q) => [q.name, q.skill, q.priority])]) !== before) {
      renderTransferTargets();
      renderLists(); // reassign pickers and owners name the agents; order follows queue priority
    }
  }

  function scheduleQueues() {
    clearTimeout(S.queuesTimer);
    S.queuesTimer = setTimeout(() => S.me && loadQueues().catch(quietly), 250);
  }

  async function loadConversations() {
    const data = await api("GET", `/api/conversations?state=${LISTED_STATES.join(",")}`);
    S.convs = new Map((data.conversations || []).map((c) => [c.id, c]));
    renderLists();
  }

  async function loadCanned() {
    try {
      const data = await api("GET", "/api/canned");
      S.canned = data.replies || [];
    } catch (err) {
      S.canned = [];
      report(err);
    }
    renderCanned();
  }

  async function loadHistory() {
    const data = await api("GET", "/api/conversations?state=closed,returned");
    S.history = (data.conversations || [])
      .slice()
      .sort((a, b) => (b.closed_at || b.created_at) - (a.closed_at || a.created_at))
      .slice(0, 200);
    renderHistory();
  }

  async function loadDetail(id, full) {
    const seq = ++S.selectSeq;
    const data = await api("GET", `/api/conversations/${id}`);
    if (seq !== S.selectSeq || S.selected !== id) return;
    S.detail = { conversation: data.conversation, summary: data.summary || {}, messages: data.messages || [],
                 csat: data.csat || null };
    renderDetail(full);
  }

  // ---------------------------------------------------------------------------------------------
  // Who sees what
  // ---------------------------------------------------------------------------------------------
  const queueInfo = (name) => S.queues.find((q) => q.name === name);

  function mayServe(queue) {
    const info = queueInfo(queue);
    if (!info || !S.me) return true; // unknown queue: the server decided to send it
    return (S.me.skills || []).includes(info.skill);
  }

  function visible(c) {
    if (!S.me || !LISTED_STATES.includes(c.state)) return false;
    if (isSupervisor() || c.agent_id === S.me.id) return true;
    return (c.state === "queued" || c.state === "ticket") && mayServe(c.queue);
  }

  function section(c) {
    if (c.agent_id === S.me.id && c.state === "offered") return "offered";
    if (c.agent_id === S.me.id && c.state === "active") return "mine";
    if (c.state === "queued") return "waiting";
    if (c.state === "ticket") return "tickets";
    return "others";
  }

  function serviceOrder(a, b) {
    const pa = (queueInfo(a.queue) || { priority: 99 }).priority;
    const pb = (queueInfo(b.queue) || { priority: 99 }).priority;
    return pa - pb || a.created_at - b.created_at || a.id - b.id;
  }

  /** A conversation as it is now (from a push or an answer): lists and the main pane follow. */
  function applyConv(c) {
    const before = S.convs.get(c.id);
    if (visible(c)) S.convs.set(c.id, c);
    else S.convs.delete(c.id);
    if (!LISTED_STATES.includes(c.state)) {
      S.unread.delete(c.id);
      const i = S.history.findIndex((h) => h.id === c.id);
      if (i >= 0) S.history[i] = c;
      else if ($("#history").open) S.history.unshift(c);
      renderHistory();
    }
    if (S.detail && S.detail.conversation.id === c.id) {
      S.detail.conversation = c;
      renderDetail(false);
    }
    const offeredNow = c.state === "offered" && c.agent_id === S.me.id;
    const offeredBefore = before && before.state === "offered" && before.agent_id === S.me.id;
    if (offeredNow && !offeredBefore) toast(t("offered_new", { ref: c.ref }), "offer");
    renderLists();
  }

  // ---------------------------------------------------------------------------------------------
  // Sidebar
  // ---------------------------------------------------------------------------------------------
  function renderQueues() {
    const body = $("#queues tbody");
    body.replaceChildren(...S.queues.map((q) => {
      const since = q.oldest_wait_seconds === null || q.oldest_wait_seconds === undefined ? null : q.fetchedAt - q.oldest_wait_seconds;
      return el("tr", { class: "queue" + (q.breached > 0 ? " has-breach" : ""), data: { name: q.name },
                        title: `${q.name} · P${q.priority} · ${q.first_response_seconds}s` },
        el("td", { class: "qname" }, queueLabel(q.name)),
        el("td", { class: "num waiting" + (q.waiting > 0 ? " some" : ""), text: q.waiting }),
        el("td", { class: "num qwait", data: since === null ? {} : { since, target: q.first_response_seconds },
                   text: since === null ? t("none") : fmtDuration(now() - since) }),
        el("td", { class: "num breached" + (q.breached > 0 ? " bad" : ""), text: q.breached }));
    }));
  }

  function renderAgents() {
    const body = $("#agents tbody");
    if (!isSupervisor()) {
      body.replaceChildren();
      return;
    }
    body.replaceChildren(...S.agents.map((a) => el("tr", { class: `agent-row status-${a.status}`, data: { id: a.id } },
      el("td", { class: "aname", title: a.id }, a.name || a.id, a.role === "supervisor" ? el("span", { class: "mini", text: " ★" }) : null),
      el("td", { class: "astatus" }, el("i", { class: `dot ${a.status}` }), t(`status_${a.status}`)),
      el("td", { class: "num aload" + (a.active >= a.capacity ? " full" : ""), text: `${a.active}/${a.capacity}` }),
      el("td", { class: "askills", text: (a.skills || []).map(queueLabel).join(", ") }))));
  }

  function slaBadge(c) {
    const sla = c.sla || {};
    const info = queueInfo(c.queue);
    const span = el("span", { class: `sla ${sla.state || "ok"}`, data: {
      due: sla.due_at, state: sla.state || "ok", target: info ? info.first_response_seconds : "" } });
    if (typeof sla.due_at === "number") span.title = t("sla_title", { time: fmtClock(sla.due_at) });
    updateSla(span);
    return span;
  }

  /** SLA state and countdown, live: due_at against the (server-corrected) clock. */
  function updateSla(span) {
    const fixed = span.dataset.state;
    let state = fixed;
    const due = parseFloat(span.dataset.due);
    let text;
    if (fixed === "met" || fixed === "missed") {
      text = t(`sla_${fixed}`);
    } else if (isFinite(due)) {
      const left = due - now();
      const target = parseFloat(span.dataset.target);
      if (left < 0) state = "breached";
      else if (isFinite(target) ? left <= 0.2 * target : fixed === "due_soon") state = "due_soon";
      else state = "ok";
      text = `${t(`sla_${state}`)} ${state === "breached" ? "+" + fmtDuration(-left) : fmtDuration(left)}`;
    } else {
      text = t(`sla_${fixed}`) || fixed;
    }
    span.className = `sla ${state}`;
    if (span.textContent !== text) span.textContent = text;
  }

  function convRow(c, where) {
    const unread = S.unread.get(c.id) || 0;
    const row = el("li", { class: `conv ${where}` + (c.id === S.selected ? " selected" : "") + (c.tier === "vip" ? " vip" : ""),
                           data: { id: c.id, state: c.state, queue: c.queue }, tabIndex: 0 });
    const head = el("div", { class: "row1" },
      el("span", { class: "ref", text: c.ref }),
      c.tier === "vip" ? el("span", { class: "tier vip", text: t("vip") }) : null,
      el("span", { class: "queue-name", text: queueLabel(c.queue) }),
      el("span", { class: "spacer" }),
      unread ? el("span", { class: "unread", title: t("unread", { n: unread }), text: unread }) : null,
      el("span", { class: "wait", title: t("waited"), data: { since: c.created_at }, text: fmtDuration(now() - c.created_at) }),
      c.state === "ticket" ? null : slaBadge(c));
    const issue = el("div", { class: "issue", title: issueOf(c), text: issueOf(c) });
    const foot = el("div", { class: "row3" });
    if (where === "waiting" && c.position) foot.append(el("span", { class: "position muted", text: t("position", { n: c.position }) }));
    if (where === "others" && c.agent_id) foot.append(el("span", { class: "muted owner", text: `${stateLabel(c.state)} · ${agentName(c.agent_id)}` }));
    foot.append(el("span", { class: "spacer" }));
    if (where === "offered") {
      foot.append(el("button", { type: "button", class: "accept primary small", text: t("accept") }),
                  el("button", { type: "button", class: "decline small", text: t("decline") }));
    } else if (where === "waiting" || where === "tickets") {
      foot.append(el("button", { type: "button", class: "accept take small", text: t("take") }));
    }
    if (isSupervisor() && where !== "mine") foot.append(reassignPicker(c));
    row.append(head, issue);
    if (foot.querySelector(":not(.spacer)")) row.append(foot);
    return row;
  }

  function agentName(id) {
    if (S.me && id === S.me.id) return t("you");
    const a = S.agents.find((x) => x.id === id);
    return a ? a.name || a.id : id;
  }

  function reassignPicker(c) {
    const select = el("select", { class: "reassign small", title: t("reassign") },
      el("option", { value: "", text: t("reassign") }));
    for (const a of S.agents) {
      if (a.id === c.agent_id) continue;
      select.append(el("option", { value: a.id, text: `${a.name || a.id} · ${t(`status_${a.status}`)} · ${a.active}/${a.capacity}` }));
    }
    return select;
  }

  // Rows are kept while what they show is unchanged: a push arriving between mouse-down and
  // mouse-up must not swallow a click on "Accept".
  const rowCache = new Map(); // id -> {key, node}

  function rowFor(c, where) {
    const key = JSON.stringify([where, c, S.unread.get(c.id) || 0, c.id === S.selected, lang,
                                isSupervisor() ? S.agents : null]);
    const hit = rowCache.get(c.id);
    if (hit && hit.key === key) return hit.node;
    const node = convRow(c, where);
    rowCache.set(c.id, { key, node });
    return node;
  }

  function renderLists() {
    if (!S.me) return;
    const groups = { offered: [], mine: [], waiting: [], tickets: [], others: [] };
    for (const c of [...S.convs.values()].sort(serviceOrder)) groups[section(c)].push(c);
    for (const id of rowCache.keys()) if (!S.convs.has(id)) rowCache.delete(id);
    for (const [where, items] of Object.entries(groups)) {
      const list = $(`#list-${where}`);
      const rows = items.length ? items.map((c) => rowFor(c, where)) : [el("li", { class: "empty-row", text: t("list_empty") })];
      const same = items.length && rows.length === list.children.length && rows.every((n, i) => list.children[i] === n);
      if (!same) list.replaceChildren(...rows);
      $(`#count-${where}`).textContent = items.length;
    }
    $("#offered-panel").classList.toggle("has-offers", groups.offered.length > 0);
    $("#tickets-panel").hidden = groups.tickets.length === 0;
    renderLoad();
    updateTitle();
  }

  function renderHistory() {
    const list = $("#list-history");
    if (!S.me) return list.replaceChildren();
    list.replaceChildren(...(S.history.length ? S.history.map((c) => {
      const row = el("li", { class: "conv history-row" + (c.id === S.selected ? " selected" : ""), data: { id: c.id, state: c.state }, tabIndex: 0 },
        el("div", { class: "row1" },
          el("span", { class: "ref", text: c.ref }),
          c.tier === "vip" ? el("span", { class: "tier vip", text: t("vip") }) : null,
          el("span", { class: `state-badge ${c.state}`, text: stateLabel(c.state) }),
          el("span", { class: "spacer" }),
          el("span", { class: "muted", text: fmtClock(c.closed_at || c.created_at) })),
        el("div", { class: "issue", text: issueOf(c) }));
      return row;
    }) : [el("li", { class: "empty-row", text: t("history_empty") })]));
  }

  function updateTitle() {
    const offers = S.me ? [...S.convs.values()].filter((c) => c.state === "offered" && c.agent_id === S.me.id).length : 0;
    let unread = 0;
    for (const n of S.unread.values()) unread += n;
    const n = offers + unread;
    document.title = (n ? `(${n}) ` : "") + t("app_title");
  }

  // ---------------------------------------------------------------------------------------------
  // Actions on conversations
  // ---------------------------------------------------------------------------------------------
  const convById = (id) => S.convs.get(id) || (S.detail && S.detail.conversation.id === id ? S.detail.conversation : null)
    || S.history.find((h) => h.id === id);
  const refOf = (id) => (convById(id) || { ref: `#${id}` }).ref;

  async function accept(id) {
    try {
      const data = await api("POST", `/api/conversations/${id}/accept`);
      applyConv(data.conversation);
      await select(id);
      scheduleQueues();
    } catch (err) {
      if (err.status === 409) {
        toast(t("taken", { ref: refOf(id) }), "error");
        loadConversations().catch(report);
      } else report(err);
      rowCache.delete(id); // its buttons were disabled while the call was under way
      renderLists();
    }
  }

  async function decline(id) {
    try {
      const data = await api("POST", `/api/conversations/${id}/decline`);
      applyConv(data.conversation);
      scheduleQueues();
    } catch (err) {
      report(err);
      rowCache.delete(id);
      renderLists();
    }
  }

  async function transfer(id, target) {
    const body = target.startsWith("agent:") ? { agent_id: target.slice(6) } : { queue: target.slice(6) };
    const ref = refOf(id);
    try {
      const data = await api("POST", `/api/conversations/${id}/transfer`, body);
      const c = data.conversation;
      applyConv(c);
      if (body.agent_id) toast(t("reassigned", { ref, target: agentName(body.agent_id) }));
      else toast(t("transferred", { ref, target: queueLabel(body.queue) }));
      if (S.selected === id && !visible(c)) deselect();
      scheduleQueues();
    } catch (err) {
      report(err);
    }
  }

  async function resolve(id, outcome) {
    const ref = refOf(id);
    try {
      const data = await api("POST", `/api/conversations/${id}/resolve`, { outcome });
      applyConv(data.conversation);
      toast(t(outcome === "bot" ? "returned_done" : "closed_done", { ref }));
      if (S.selected === id) deselect();
      scheduleQueues();
    } catch (err) {
      report(err);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Main pane
  // ---------------------------------------------------------------------------------------------
  function saveDraft() {
    if (S.selected === null) return;
    const text = $("#reply").value;
    if (text) S.drafts.set(S.selected, text);
    else S.drafts.delete(S.selected);
  }

  async function select(id) {
    if (S.selected !== id) {
      saveDraft();
      S.selected = id;
      S.detail = null;
      $("#reply").value = S.drafts.get(id) || "";
      $("#empty").hidden = true;
      $("#conversation").hidden = false;
      $("#summary").replaceChildren();
      $("#transcript").replaceChildren();
      $("#messages").replaceChildren();
      msgCache.clear();
      $("#handoff-divider").textContent = "";
    }
    S.unread.delete(id);
    renderLists();
    renderHistory();
    try {
      await loadDetail(id, true);
    } catch (err) {
      report(err);
      if (err.status === 404 || err.status === 403) deselect();
    }
  }

  function deselect() {
    saveDraft();
    S.selected = null;
    S.detail = null;
    S.selectSeq++;
    $("#reply").value = "";
    $("#conversation").hidden = true;
    $("#empty").hidden = false;
    announce("detail", null);
    renderLists();
    renderHistory();
  }

  function renderDetail(full) {
    const d = S.detail;
    if (!d) return;
    const c = d.conversation;
    const mine = c.agent_id === S.me.id;
    const open = OPEN_STATES.includes(c.state);

    $("#conv-ref").textContent = c.ref;
    $("#conv-tier").replaceChildren(c.tier === "vip" ? el("span", { class: "tier vip", text: t("vip") }) : "");
    const state = $("#conv-state");
    state.textContent = stateLabel(c.state);
    state.className = `state-badge ${c.state}`;
    $("#conv-queue").textContent = queueLabel(c.queue);
    $("#conv-sla").replaceChildren(open || c.first_response_at ? slaBadge(c) : "");
    $("#conv-agent").textContent = c.agent_id ? t("with_agent", { agent: agentName(c.agent_id) }) : "";
    $("#conv-csat").textContent = d.csat ? `${t("csat")} ${d.csat.score}/5` : "";
    $("#conv-csat").title = d.csat && d.csat.comment ? d.csat.comment : "";

    const canTake = c.state === "queued" || c.state === "ticket" || (c.state === "offered" && mine);
    $("#accept-main").hidden = !canTake;
    $("#accept-main").textContent = c.state === "offered" ? t("accept") : t("take");
    $("#decline-main").hidden = !(c.state === "offered" && mine);
    const canManage = (open || c.state === "ticket") && (mine || isSupervisor());
    $("#transfer").disabled = !canManage;
    $("#transfer-target").disabled = !canManage;
    $("#resolve-close").disabled = !canManage;
    $("#resolve-bot").disabled = !canManage;
    renderTransferTargets();

    const canReply = c.state === "active" && mine;
    $("#reply").disabled = !canReply;
    $("#send").disabled = !canReply || S.sending;
    $("#canned").disabled = !canReply;
    $(".composer").classList.toggle("disabled", !canReply);
    $("#composer-hint").textContent = canReply ? t("hint_language", { lang: languageName(c.language) })
      : !open ? t("hint_closed") : canTake ? t("hint_accept") : t("hint_readonly");

    if (full) {
      renderSummary(d.summary, c);
      renderTranscript(d.summary);
      renderCanned();
    }
    $("#handoff-divider").textContent = t("handoff_divider", { ref: c.ref, time: fmtClock(c.created_at) });
    renderMessages(full);
    announce("detail", { conversation: c, full, canReply });
  }

  function section_(title, ...body) {
    return el("section", { class: "sum-section" }, el("h4", { text: title }), ...body);
  }

  function kv(rows) {
    const dl = el("dl", { class: "kv" });
    for (const [key, value, cls] of rows) dl.append(el("dt", { text: key }), el("dd", { class: cls || null }, value));
    return dl;
  }

  function display(value) {
    if (value === true) return t("yes");
    if (value === false) return t("no");
    if (value === null || value === undefined || value === "") return t("none");
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  function renderSummary(summary, c) {
    const box = $("#summary");
    const sm = summary || {};
    const customer = sm.customer || {};
    const parts = [];
    parts.push(el("div", { class: "issue-line", id: "summary-issue", text: issueOf(c, sm) }));
    parts.push(kv([
      [t("customer_id"), customer.id || c.customer_id || t("unverified"), customer.id || c.customer_id ? "cid" : "muted cid"],
      [t("channel"), customer.channel || c.channel],
      [t("language"), languageName(customer.language || c.language)],
      [t("tier"), (customer.tier || c.tier) === "vip" ? el("span", { class: "tier vip", text: t("vip") }) : t("tier_normal")],
      [t("reason"), el("span", { title: sm.reason || c.reason, text: reasonLabel(sm.reason || c.reason) })],
      [t("queue"), queueLabel(c.queue)],
      [t("sender"), el("span", { class: "mono", text: customer.sender_id || c.sender_id })],
    ]));
    parts.push(el("section", { class: "sum-section", id: "customer-profile", hidden: true }));

    const intents = sm.intents || [];
    parts.push(section_(t("intents"), intents.length
      ? el("ol", { class: "intents" }, intents.map((i) => el("li", { text: i })))
      : el("p", { class: "muted", text: t("none") })));

    const slots = Object.entries(sm.slots || {});
    parts.push(section_(t("slots"), slots.length
      ? el("dl", { class: "kv slots" }, slots.flatMap(([k, v]) => [
        el("dt", { title: k, text: slotLabel(k) }), el("dd", { data: { slot: k }, text: display(v) })]))
      : el("p", { class: "muted", text: t("none") })));

    const tasks = sm.order_tasks || [];
    if (tasks.length) {
      parts.push(section_(t("order_tasks"), el("table", { class: "order-tasks" },
        el("thead", null, el("tr", null, el("th", { text: t("order_task") }), el("th", { text: t("order_number") }),
          el("th", { text: t("outcome") }), el("th", { text: t("verified") }))),
        el("tbody", null, tasks.map((o) => el("tr", null,
          el("td", { text: display(o.task) }), el("td", { class: "mono", text: display(o.order_number) }),
          el("td", { class: o.outcome && o.outcome !== "done" ? "warn" : null, text: display(o.outcome) }),
          el("td", { class: o.verified ? "ok" : "warn", text: o.verified ? "✓" : "✗" })))))));
    }

    const faq = sm.faq_attempts || [];
    if (faq.length) {
      parts.push(section_(t("faq_attempts"), el("ul", { class: "faq" }, faq.map((f) => el("li", null,
        el("span", { class: "q", text: f.question || "" }),
        el("span", { class: "arrow", text: " → " }),
        el("span", { class: "entry mono", text: display(f.entry) }),
        el("span", { class: "score", text: typeof f.score === "number" ? f.score.toFixed(2) : t("none") }))))));
    }

    const sentiment = sm.sentiment || [];
    if (sentiment.length) {
      parts.push(section_(t("sentiment"), el("div", { class: "sentiment" }, sentiment.map((v, i) => {
        if (typeof v !== "number") return el("span", { class: "bar none", title: `#${i + 1}: ${t("none")}` });
        const x = Math.max(-1, Math.min(1, v));
        const cls = x <= -0.3 ? "neg" : x >= 0.3 ? "pos" : "neu";
        return el("span", { class: `bar ${cls}`, title: `#${i + 1}: ${x.toFixed(2)}`, data: { value: x.toFixed(2) },
                            style: { height: `${Math.round(15 + Math.abs(x) * 85)}%` } });
      }))));
    }
    box.replaceChildren(...parts);
    loadProfile(c);
  }

  /** The customer's profile (GET /api/customers/{id}/profile, docs/customers.md) in the summary card. */
  const SEGMENT_LABELS = {
    core: ["核心客户", "core"], potential: ["潜力客户", "potential"], new: ["新客户", "new"],
    at_risk: ["流失风险", "at risk"], dormant: ["沉睡客户", "dormant"], prospect: ["未购买", "no purchase"],
    unknown: ["未知", "unknown"],
  };

  async function loadProfile(c) {
    const customerId = c.customer_id;
    if (!customerId) return;
    let p;
    try {
      p = await api("GET", `/api/customers/${encodeURIComponent(customerId)}/profile`);
    } catch (e) {
      return;  // the card without the profile
    }
    const box = $("#customer-profile");
    if (!box || S.selected !== c.id || !p) return;  // another conversation is on screen now
    const o = p.orders;
    const h = p.handoffs;
    const rows = [
      [t("segment"), el("span", { class: `segment ${p.segment}`, title: p.segment, text: li18n(SEGMENT_LABELS[p.segment], p.segment) })],
      [t("rfm"), el("span", { class: "mono", text: p.rfm ? p.rfm.code : t("none") })],
      [t("tier"), p.vip ? el("span", { class: "tier vip", text: t("vip") }) : t("tier_normal")],
      [t("advisor"), p.advisor ? `${p.advisor_name || p.advisor} (${p.advisor})` : t("none")],
    ];
    if (o) {
      rows.push([t("orders_count"), String(o.count)], [t("spent_band"), o.spent_band],
        [t("last_order"), o.last_order_number ? `${o.last_order_number} · ${fmtClock(o.last_order_at)}` : t("none")],
        [t("open_after_sales"), String(o.open_after_sales), o.open_after_sales ? "warn" : null]);
    }
    if (h) {
      rows.push([t("handoffs_count"), String(h.count)], [t("previous_csat"), h.csat_count
        ? t("csat_summary", { avg: h.csat_average, n: h.csat_count, last: h.last_csat }) : t("none")]);
    }
    box.replaceChildren(el("h4", { text: t("profile") }), kv(rows));
    box.hidden = false;
  }

  function renderTranscript(summary) {
    const items = (summary && summary.transcript) || [];
    const list = $("#transcript");
    list.replaceChildren(...(items.length ? items.map((m) => el("li", { class: `tmsg ${m.role === "customer" ? "customer" : "bot"}` },
      el("div", { class: "meta" }, el("span", { class: "who", text: m.role === "customer" ? t("customer") : t("bot") }),
        el("span", { class: "time", text: typeof m.time === "number" ? fmtClock(m.time) : m.time || "" })),
      el("div", { class: "text", text: m.text || "" })))
      : [el("li", { class: "muted empty-row", text: t("no_transcript") })]));
  }

  function messageItem(m) {
    const who = m.direction === "customer" ? t("customer") : m.direction === "system" ? t("system")
      : agentName(m.agent_id);
    const meta = el("div", { class: "meta" }, el("span", { class: "who", text: who }),
      el("span", { class: "time", text: fmtClock(m.created_at) }));
    if (m.direction === "agent") meta.append(deliveryMark(m));
    const state = m.delivered_at ? "" : m.failed_at ? " refused" : " undelivered";
    return el("li", { class: `msg ${m.direction}${state}`, data: { id: m.id } },
      meta, el("div", { class: "text", text: m.text || "" }));
  }

  /** Delivered, on its way, or refused for good by the customer's channel (and why). */
  function deliveryMark(m) {
    if (m.delivered_at) {
      return el("span", { class: "delivery delivered", title: fmtClock(m.delivered_at), text: `✓ ${t("delivered")}` });
    }
    if (m.failed_at) {
      const again = el("button", { type: "button", class: "link resend", text: t("resend") });
      again.addEventListener("click", () => resend(m.text || ""));
      return el("span", { class: "delivery refused", title: fmtClock(m.failed_at) },
        `✗ ${window.ConsoleDom.refusal(m.failure, lang)} `, again);
    }
    return el("span", { class: "delivery pending", text: t("sending") });
  }

  // Message nodes are kept while unchanged, so that an agent selecting text to copy keeps the
  // selection when the next message arrives.
  const msgCache = new Map(); // id -> {key, node}

  function renderMessages(scrollDown) {
    const thread = $("#thread");
    const list = $("#messages");
    const atBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
    const msgs = S.detail ? S.detail.messages.slice().sort((a, b) => a.id - b.id) : [];
    const seen = new Set();
    const nodes = msgs.map((m) => {
      seen.add(m.id);
      const key = JSON.stringify([m, lang, m.agent_id ? agentName(m.agent_id) : null]);
      const hit = msgCache.get(m.id);
      if (hit && hit.key === key) return hit.node;
      const node = messageItem(m);
      msgCache.set(m.id, { key, node });
      return node;
    });
    for (const id of msgCache.keys()) if (!seen.has(id)) msgCache.delete(id);
    nodes.forEach((node, i) => {
      if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
    });
    while (list.children.length > nodes.length) list.lastElementChild.remove();
    if (scrollDown || atBottom) thread.scrollTop = thread.scrollHeight;
  }

  function upsertMessage(m) {
    if (!S.detail) return;
    const list = S.detail.messages;
    const i = list.findIndex((x) => x.id === m.id);
    if (i >= 0) list[i] = m;
    else list.push(m);
    renderMessages(m.direction === "agent");
  }

  function renderCanned() {
    const select = $("#canned");
    const language = S.detail ? S.detail.conversation.language : null;
    const replies = S.canned.filter((r) => !language || !r.language || r.language === language);
    select.replaceChildren(el("option", { value: "", text: t("canned_replies") }),
      ...(replies.length ? replies.map((r) => el("option", { value: String(S.canned.indexOf(r)), title: r.text, text: r.title || r.text }))
        : [el("option", { value: "", disabled: true, text: t("canned_none") })]));
    select.value = "";
  }

  /** A refused reply back in the reply box, to edit and send once the customer can be reached again
   *  (nothing is sent by itself: the agent decides whether it still fits). */
  function resend(text) {
    const box = $("#reply");
    if (box.disabled) return;
    box.value = box.value.trim() ? `${box.value}\n${text}` : text;
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }

  function insertCanned() {
    const select = $("#canned");
    const reply = select.value === "" ? null : S.canned[Number(select.value)];
    select.value = "";
    if (!reply) return;
    const box = $("#reply");
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    box.value = box.value.slice(0, start) + reply.text + box.value.slice(end);
    box.focus();
    const caret = start + reply.text.length;
    box.setSelectionRange(caret, caret);
  }

  let transferKey = "";

  function renderTransferTargets() {
    const select = $("#transfer-target");
    const c = S.detail ? S.detail.conversation : null;
    // Rebuilt only when the choices change: an agent may have the list open while pushes arrive.
    const key = JSON.stringify([lang, S.queues.map((q) => q.name), S.agents, c && c.queue, c && c.agent_id]);
    if (key === transferKey) return;
    transferKey = key;
    const previous = select.value;
    const queues = el("optgroup", { label: t("transfer_queues") },
      S.queues.map((q) => el("option", { value: `queue:${q.name}`, disabled: !!c && c.queue === q.name, text: queueLabel(q.name) })));
    const parts = [el("option", { value: "", text: t("transfer_to") }), queues];
    const agents = S.agents.filter((a) => !c || a.id !== c.agent_id);
    if (agents.length) {
      parts.push(el("optgroup", { label: t("transfer_agents") }, agents.map((a) => el("option", {
        value: `agent:${a.id}`, text: `${a.name || a.id} · ${t(`status_${a.status}`)} · ${a.active}/${a.capacity}` }))));
    }
    select.replaceChildren(...parts);
    if ([...select.options].some((o) => o.value === previous && !o.disabled)) select.value = previous;
  }

  async function send() {
    const box = $("#reply");
    const text = box.value;
    const id = S.selected;
    if (!text.trim() || id === null || S.sending) return;
    S.sending = true;
    $("#send").disabled = true;
    try {
      const data = await api("POST", `/api/conversations/${id}/messages`, { text });
      if (S.selected === id) {
        box.value = "";
        upsertMessage(data.message);
      }
      S.drafts.delete(id);
    } catch (err) {
      report(err);
    } finally {
      S.sending = false;
      if (S.detail) renderDetail(false);
      box.focus();
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
    n.dataset.i18nTitle = up ? "conn_up" : "conn_down";
  }

  function connectSocket() {
    S.wsWanted = true;
    clearTimeout(S.wsTimer);
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/ws`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    S.ws = ws;
    ws.onopen = () => {
      if (S.ws !== ws) return;
      S.wsAttempts = 0;
      setConn(true);
      reloadAll(); // whatever happened while we were not listening
    };
    ws.onmessage = (event) => {
      if (S.ws !== ws) return;
      let push;
      try {
        push = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      handlePush(push);
    };
    ws.onclose = () => {
      if (S.ws !== ws) return;
      S.ws = null;
      setConn(false);
      if (!S.wsWanted) return;
      // The session may have ended (a 401 here sends the page to the login form).
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

  function handlePush(push) {
    if (!S.me || !push) return;
    announce("push", push);
    if (push.type === "conversation" && push.conversation) {
      applyConv(push.conversation);
      scheduleQueues();
    } else if (push.type === "message" && push.message) {
      const id = push.conversation_id;
      if (S.detail && S.detail.conversation.id === id) {
        upsertMessage(push.message);
      } else if (push.message.direction === "customer" && S.convs.has(id)) {
        const known = S.unread.get(id) || 0;
        S.unread.set(id, known + 1);
        renderLists();
      }
    } else if (push.type === "queues") {
      scheduleQueues();
    } else if ((push.type === "agent" || push.type === "hello") && push.agent) {
      const a = push.agent;
      if (a.id === S.me.id) {
        S.me = { ...S.me, ...a };
        renderMe();
      }
      const i = S.agents.findIndex((x) => x.id === a.id);
      if (i >= 0) {
        S.agents[i] = a;
        renderAgents();
      }
    }
  }

  /** Once a second: waits, countdowns, queue ages. */
  function tick() {
    for (const n of $$(".sla[data-due]")) updateSla(n);
    for (const n of $$(".wait[data-since]")) n.textContent = fmtDuration(now() - parseFloat(n.dataset.since));
    for (const n of $$(".qwait[data-since]")) {
      const age = now() - parseFloat(n.dataset.since);
      n.textContent = fmtDuration(age);
      n.classList.toggle("late", age > parseFloat(n.dataset.target));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Wiring
  // ---------------------------------------------------------------------------------------------
  function onSidebarClick(event) {
    const target = event.target;
    const row = target.closest(".conv");
    if (!row) return;
    const id = Number(row.dataset.id);
    if (target.closest("select")) return;
    if (target.closest("button.accept")) {
      event.preventDefault();
      target.closest("button").disabled = true;
      accept(id);
    } else if (target.closest("button.decline")) {
      event.preventDefault();
      target.closest("button").disabled = true;
      decline(id);
    } else {
      select(id);
    }
  }

  function onSidebarChange(event) {
    const picker = event.target.closest("select.reassign");
    if (!picker || !picker.value) return;
    const row = picker.closest(".conv");
    transfer(Number(row.dataset.id), `agent:${picker.value}`);
  }

  function onSidebarKey(event) {
    if (event.key !== "Enter" && event.key !== " ") return;
    const row = event.target.closest(".conv");
    if (!row || event.target !== row) return;
    event.preventDefault();
    select(Number(row.dataset.id));
  }

  function onReplyKey(event) {
    // Enter sends; Shift+Enter is a new line; Enter that ends an IME composition (pinyin) is not a send.
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    send();
  }

  function bind() {
    $("#login-form").addEventListener("submit", onLogin);
    for (const n of $$("[data-lang-toggle]")) n.addEventListener("click", toggleLanguage);
    $("#logout").addEventListener("click", logout);
    $("#status").addEventListener("change", changeStatus);
    const sidebar = $("#sidebar");
    sidebar.addEventListener("click", onSidebarClick);
    sidebar.addEventListener("change", onSidebarChange);
    sidebar.addEventListener("keydown", onSidebarKey);
    $("#history").addEventListener("toggle", () => {
      if ($("#history").open && S.me) loadHistory().catch(report);
    });
    $("#reply").addEventListener("keydown", onReplyKey);
    $("#send").addEventListener("click", send);
    $("#canned").addEventListener("change", insertCanned);
    $("#accept-main").addEventListener("click", () => S.selected !== null && accept(S.selected));
    $("#decline-main").addEventListener("click", () => S.selected !== null && decline(S.selected));
    $("#transfer").addEventListener("click", () => {
      const target = $("#transfer-target").value;
      if (!target) return toast(t("transfer_pick"), "error");
      if (S.selected !== null) transfer(S.selected, target);
    });
    $("#resolve-close").addEventListener("click", () => S.selected !== null && resolve(S.selected, "close"));
    $("#resolve-bot").addEventListener("click", () => S.selected !== null && resolve(S.selected, "bot"));
  }

  async function boot() {
    applyI18n();
    bind();
    let agent = null;
    try {
      agent = (await api("GET", "/api/me")).agent;
    } catch (err) {
      if (err.status !== 401) report(err);
    }
    if (agent) await enter(agent);
    else showLogin();
  }

  boot();
})();
