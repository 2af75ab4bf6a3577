/* The supervisors' dashboard: the insight report (/api/insight/report) as KPI cards, a time series,
 * breakdowns and the CSAT distribution, the tickets section (工单: KPI cards, tables by department and
 * category), with filters and CSV export (/api/insight/report.csv).
 *
 * Plain browser JavaScript, no build step, nothing fetched from elsewhere; charts are inline SVG made
 * here. Every value is put into the page with textContent (el()/svg() below), never as HTML. Empty
 * figures (null: nothing to compute them from) show as "—", never 0. The filters live in the URL
 * (?from=&to=&channel=&language=&queue=&tier=), so a view can be bookmarked or shared.
 */
"use strict";

(() => {
  // ---------------------------------------------------------------------------------------------
  // Labels and definitions, in both languages (the console's language choice is shared)
  // ---------------------------------------------------------------------------------------------
  const TEXT = {
    dash_title: ["数据看板", "Dashboard"],
    back_to_console: ["返回工作台", "Back to the console"],
    from: ["开始日期", "From"],
    to: ["结束日期", "To"],
    channel: ["渠道", "Channel"],
    language: ["语言", "Language"],
    queue: ["队列", "Queue"],
    tier: ["客户等级", "Tier"],
    reason: ["转人工原因", "Handoff reason"],
    all: ["全部", "All"],
    export_series: ["导出 CSV（趋势）", "Export CSV (series)"],
    export_breakdowns: ["导出 CSV（分项）", "Export CSV (breakdowns)"],
    export_tickets: ["导出 CSV（工单）", "Export CSV (tickets)"],
    tickets_title: ["工单", "Tickets"],
    tickets_scope: ["本时段创建的工单，现在的状态；渠道、语言、客户等级筛选适用，队列筛选不适用。",
      "Tickets created in the period, as they are now; the channel, language and tier filters apply, the queue filter does not."],
    by_department: ["按部门", "By department"],
    by_category: ["按类别", "By category"],
    col_department: ["部门", "Department"],
    col_category: ["类别", "Category"],
    col_opened: ["新建", "Opened"],
    col_resolved: ["已解决", "Resolved"],
    col_open: ["未结", "Open"],
    col_overdue: ["超期", "Overdue"],
    col_on_time: ["按时解决", "On time"],
    col_resolution_h: ["解决时长 p50", "Resolution p50"],
    col_first_reply: ["首次回复 p50", "1st reply p50"],
    col_reopened: ["重开", "Reopened"],
    sub_ticket_states: ["已解决 {resolved} · 未结 {open} · 未解决关闭 {closed}", "resolved {resolved} · open {open} · closed unresolved {closed}"],
    sub_on_time: ["{n} / {of} 个已解决工单按时", "{n} of {of} resolved on time"],
    sub_overdue: ["占 {rate} · 其中未结 {open}", "{rate} of tickets · {open} still open"],
    sub_hours: ["p90 {p90} · {n} 个", "p90 {p90} · {n} values"],
    loading: ["加载中…", "Loading…"],
    series_title: ["趋势", "Over time"],
    csat_distribution: ["满意度分布（1–5 分）", "CSAT distribution (1–5)"],
    handoff_by_reason: ["按原因的转人工率", "Handoff rate by reason"],
    help_title: ["指标说明", "Metric definitions"],
    by_day: ["按天", "by day"],
    by_hour: ["按小时", "by hour"],
    period: ["{from} 至 {to}（{step}，UTC{offset}）", "{from} to {to} ({step}, UTC{offset})"],
    need_login: ["请先在工作台登录。", "Please log in on the console first."],
    supervisors_only: ["数据看板仅供主管使用。", "The dashboard is for supervisors."],
    network_error: ["无法连接服务，请稍后再试。", "Cannot reach the service. Try again shortly."],
    error: ["出错了", "Something went wrong"],
    conversations: ["会话数", "Conversations"],
    handoffs: ["转人工", "Handoffs"],
    containment: ["机器人独立解决率", "Containment"],
    breakdown_by: ["按{dim}", "By {dim}"],
    col_key: ["分项", "Value"],
    col_conversations: ["会话", "Conv."],
    col_containment: ["独立解决", "Contained"],
    col_handoffs: ["转人工", "Handoffs"],
    col_first_response: ["首次响应 p50", "1st resp. p50"],
    col_sla: ["SLA 达标", "SLA"],
    col_csat: ["满意度", "CSAT"],
    no_rows: ["无数据", "No data"],
    sub_handed_off: ["{n} 个会话转人工", "{n} handed over"],
    sub_lookups: ["{n} 次知识库查询", "{n} knowledge-base lookups"],
    sub_turns: ["{n} 条客户消息", "{n} customer messages"],
    sub_durations: ["p50 / p90，{n} 个", "p50 / p90, {n} values"],
    sub_sla: ["达标 {met} · 超时 {missed} · 待定 {pending}", "met {met} · missed {missed} · pending {pending}"],
    sub_csat: ["{n} 个评分", "{n} ratings"],
    sub_repeat: ["{n} 个会话", "{n} conversations"],
    sub_tickets: ["其中留言 {n}", "of which tickets {n}"],
    share_of_conversations: ["占全部会话", "of all conversations"],
    unit_s: ["秒", "s"],
    unit_min: ["分钟", "min"],
    unit_h: ["小时", "h"],
    none_key: ["（无，机器人处理）", "(none: bot only)"],
    unknown_key: ["未知", "unknown"],
  };
  // KPI cards: [key, zh, en]; help texts: from insight/__init__.py's definitions.
  const KPI_LABELS = {
    conversations: ["会话数", "Conversations"],
    containment_rate: ["机器人独立解决率", "Containment rate"],
    handoff_rate: ["转人工率", "Handoff rate"],
    handoffs: ["人工会话", "Handoffs"],
    faq_answer_rate: ["FAQ 直接回答率", "FAQ answer rate"],
    faq_no_answer_rate: ["FAQ 无答案率", "FAQ no-answer rate"],
    fallback_rate: ["意图兜底率", "Intent fallback rate"],
    bot_response: ["机器人响应时间", "Bot response time"],
    queue_wait: ["排队等待", "Queue wait"],
    first_response: ["坐席首次响应", "First agent response"],
    sla_compliance: ["SLA 达标率", "SLA compliance"],
    resolution: ["解决时长", "Resolution time"],
    csat: ["满意度（平均）", "CSAT (average)"],
    repeat_contact_rate: ["24 小时内重复咨询率", "Repeat contacts (24 h)"],
  };
  // The tickets section's cards (report.tickets.totals).
  const TICKET_KPI_LABELS = {
    tickets_opened: ["新建工单", "Tickets opened"],
    tickets_on_time: ["按时解决率", "Resolved on time"],
    tickets_overdue: ["超期工单", "Overdue tickets"],
    tickets_resolution: ["解决时长（中位数）", "Resolution (median)"],
    tickets_first_response: ["首次回复（中位数）", "First reply (median)"],
    tickets_csat: ["工单满意度", "Ticket CSAT"],
    tickets_reopened: ["重开工单", "Reopened tickets"],
  };
  const HELP = {
    conversations: [
      "一个客户的一次 Rasa 会话（闲置 60 分钟后结束），其中客户至少发过一条消息；按开始时间计入时段。坐席消息等服务注入的事件不算客户消息。",
      "One Rasa session of one customer (ends after 60 idle minutes) in which the customer wrote at least one message; it belongs to the period in which it started. Messages injected by the handoff service are not the customer's."],
    containment_rate: ["机器人未转人工即处理完的会话 / 会话数。", "Conversations the bot handled without handing over to people / conversations."],
    handoff_rate: [
      "转人工的会话（执行了转人工动作）/ 会话数；按原因：因该原因转人工的会话 / 全部会话（服务无记录时为 unknown）。",
      "Conversations handed over (the handoff action ran) / conversations; by reason: those handed over for that reason / all conversations (\"unknown\" when the handoff service has no record)."],
    handoffs: ["该时段内创建的人工会话（含留言：无人可接时客户留下、稍后处理的消息）。", "Conversations with people created in the period (tickets included: messages left while nobody could answer, taken later)."],
    faq_answer_rate: [
      "该时段内的知识库查询中：直接回答 / 给出建议 / 无答案（未找到或知识库不可用）的比例，三者相加为 1。",
      "Of the knowledge-base lookups made in the period: answered directly / offered suggestions / no answer (none found, or the knowledge base unavailable). The three add up to 1."],
    faq_no_answer_rate: ["知识库查询中无答案（未找到或知识库不可用）的比例。", "Knowledge-base lookups with no answer (none found, or the knowledge base unavailable) / lookups."],
    fallback_rate: ["NLU 无法有把握分类的客户消息（意图 nlu_fallback）/ 客户消息。", "Customer messages the NLU could not classify confidently (intent nlu_fallback) / customer messages."],
    bot_response: ["从客户消息到机器人随后的第一条消息（机器人未回复的消息，如坐席接管期间，不计）。", "From a customer's message to the bot's first message after it (messages the bot did not answer, e.g. while an agent owns the conversation, are left out)."],
    queue_wait: [
      "从转人工到最终处理该会话的坐席收到分配（或从队列领取）。拒绝或超时的分配、转回队列会让等待从转人工时刻重新计算。",
      "From the handoff to the moment the agent who kept the conversation was offered it (or took it from the queue). A declined or lapsed offer, or a transfer to a queue, starts the wait again from the handoff."],
    first_response: ["从转人工到坐席的第一条消息。", "From the handoff to the agent's first message."],
    sla_compliance: [
      "达标 /（达标 + 超时）。达标：坐席首条消息在队列的首次响应目标内（vip、售后、订单、综合 60 秒；投诉 1 小时）。超时：更晚，或尚未回复且已过目标。尚未回复且仍在目标内：不计（待定）。",
      "Met / (met + missed). Met: the first agent message came within the queue's first-response target (vip, after_sales, orders, general: 60 s; complaints: 1 h). Missed: later, or not yet and the target has passed. Not answered yet and still within the target: not counted (pending)."],
    resolution: ["从转人工到结束：坐席关闭或交回机器人。", "From the handoff to its end: closed by the agent or handed back to the bot."],
    csat: [
      "客户对已结束人工会话的评分（1–5）：平均、数量与各分值数量；按人工会话创建的时段计入。",
      "The customers' ratings (1-5) of closed conversations with people: average, count and how many of each score; counted in the period in which the handoff was created."],
    repeat_contact_rate: [
      "客户（已验证客户，否则同一会话 ID）在本次会话开始前 24 小时内另有会话开始的会话 / 会话数。",
      "Conversations whose customer (the verified customer, else the same conversation id) had another conversation that started within the 24 hours before / conversations."],
    tickets_opened: [
      "本时段创建的工单（工单属于其创建的时段），现在的状态。已解决：状态为已解决，或解决后关闭（评分、负责人、主管或到期自动关闭）；重开的工单要再次解决才算。未解决关闭：主管未解决即关闭（重复、撤回）。未结：待处理、处理中、等待客户。三者相加为新建数。",
      "Tickets created in the period (a ticket belongs to the period in which it was created), as they are now. Resolved: status resolved, or closed after its resolution (rated, or closed by the owner, a supervisor or the wait); a reopened ticket counts once resolved again. Closed unresolved: closed by a supervisor without a resolution (duplicate, withdrawn). Open: open, in progress or waiting for the customer. The three add up to the tickets opened."],
    tickets_on_time: ["按截止时间前解决的工单 / 已解决工单（重开的工单以最后一次解决为准）。", "Tickets resolved by their due time / tickets resolved (a reopened ticket: its latest resolution)."],
    tickets_overdue: [
      "超期：尚未解决且现在已过截止时间，或在截止时间之后才解决（未解决关闭的：在截止时间后关闭）。超期率 = 超期工单 / 新建工单。截止时间按类别的工作时间计算（data/handoff/tickets.yml）。",
      "Overdue: still open and past its due time now, or resolved after its due time (closed unresolved: closed after it). Overdue rate = overdue tickets / tickets opened. Due times follow the category's working hours or days (data/handoff/tickets.yml)."],
    tickets_resolution: ["已解决工单从创建到解决的时长（小时）：中位数与 p90。", "From the ticket's creation to its resolution, in hours, for the resolved ones: median and p90."],
    tickets_first_response: [
      "从创建到坐席第一次让客户看到的处理（回复，或附带消息的状态变更）。创建通知、内部备注、未通知客户的变更、客户自己的回复与系统自动通知不计。",
      "From the ticket's creation to the first thing an agent sent the customer about it: a reply, or a status change with a message. The creation notice, internal notes, changes the customer was not told of, the customer's own answers and automatic notices do not count."],
    tickets_csat: ["客户对已解决工单的评分（1–5）：平均与数量。", "The customers' ratings (1-5) of resolved tickets: average and count."],
    tickets_reopened: ["从已解决退回处理中至少一次的工单。", "Tickets taken from resolved back to in progress at least once."],
    percentiles: ["p50、p90：最近秩法，将 n 个值排序后取第 ceil(p/100 × n) 个，总是实际出现过的值。", "p50, p90: nearest rank — sort the n values and take the ceil(p/100 × n)-th; always an observed value."],
    no_data: ["无数据可算的比率或分位数显示为 “—”，不是 0。", "A rate or percentile with nothing to compute it from shows as \"—\", never 0."],
    filters: [
      "时段为 [开始, 结束)。渠道、语言、等级筛选会话、人工会话与知识库查询；队列筛选人工会话及转到该队列的会话；“（无）”为机器人独立处理的会话。两天及以内按小时，否则按天（当地午夜起）。",
      "Period: [start, end). Channel, language and tier select conversations, handoffs and lookups; queue selects handoffs and the conversations handed to that queue; \"(none)\" is the bot-only conversations. Two days or less: by hour, else by day (from local midnight)."],
    ticket_filters: ["工单按渠道、语言、客户等级筛选（其会话的）；队列筛选不适用于工单（工单属于部门，不属于队列）。",
      "Tickets are selected by channel, language and tier (their conversation's); the queue filter does not apply to tickets (a ticket has a department, not a queue)."],
  };
  const HELP_LABELS = {
    percentiles: ["分位数", "Percentiles"], no_data: ["无数据", "No data"], filters: ["筛选与分项", "Filters and breakdowns"],
    ticket_filters: ["工单的筛选", "Filters for tickets"],
  };
  const DIM_LABELS = { channel: "channel", queue: "queue", reason: "reason", tier: "tier", language: "language" };
  const VALUE_LABELS = {
    queue: {
      vip: ["VIP", "VIP"], complaints: ["投诉", "Complaints"], after_sales: ["售后", "After-sales"],
      orders: ["订单", "Orders"], general: ["综合", "General"],
    },
    reason: {
      customer_request: ["客户要求转人工", "Customer asked for a person"], complaint: ["投诉", "Complaint"],
      escalation: ["升级投诉", "Escalation"], negative_sentiment: ["客户情绪负面", "Negative sentiment"],
      low_confidence: ["机器人未能理解", "Bot did not understand"], order_request: ["订单需人工处理", "Order needs a person"],
      vip: ["VIP 客户", "VIP customer"],
    },
    language: { zh: ["中文", "Chinese"], en: ["英文", "English"] },
    tier: { vip: ["VIP", "VIP"], normal: ["普通", "normal"], guest: ["访客", "guest"] },
    department: {
      technical: ["技术支持", "Technical support"], complaints: ["投诉处理", "Complaints"], logistics: ["物流", "Logistics"],
      after_sales: ["售后", "After-sales"], general: ["综合", "General"],
    },
    category: {
      technical: ["技术问题", "Technical problem"], complaint: ["投诉", "Complaint"], logistics: ["物流问题", "Delivery problem"],
      after_sales: ["售后申请", "After-sales request"], billing: ["支付与发票", "Payment and invoice"], other: ["其他", "Other"],
    },
    channel: {
      socketio: ["网页", "Web"], wechat: ["微信公众号", "WeChat"], wecom: ["企业微信", "WeCom"], app: ["App", "App"],
      rest: ["REST", "REST"],
    },
  };
  const FILTER_DIMS = ["channel", "language", "queue", "tier"];
  const BREAKDOWN_DIMS = ["channel", "queue", "reason", "tier", "language"];
  const LANG_KEY = "cs-console-lang"; // the console's: one choice for both pages
  const DASH = "—";

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

  function valueLabel(dim, key) {
    if (key === "(none)") return t("none_key");
    if (key === "unknown") return t("unknown_key");
    return pick((VALUE_LABELS[dim] || {})[key], key);
  }

  // ---------------------------------------------------------------------------------------------
  // Small helpers
  // ---------------------------------------------------------------------------------------------
  const { $, $$, el, svg } = window.ConsoleDom;  // console/dom.js

  const isNum = (v) => typeof v === "number" && isFinite(v);
  const fmtCount = (v) => (isNum(v) ? String(v) : DASH);
  const fmtRate = (v) => (isNum(v) ? `${(v * 100).toFixed(1)}%` : DASH);
  const fmtScore = (v) => (isNum(v) ? v.toFixed(2) : DASH);
  /** Hours (the tickets section's durations): under an hour in minutes. */
  function fmtHours(v) {
    if (!isNum(v)) return DASH;
    if (v < 1) return `${Math.round(v * 60)} ${t("unit_min")}`;
    return `${v.toFixed(1)} ${t("unit_h")}`;
  }

  function fmtSeconds(v) {
    if (!isNum(v)) return DASH;
    if (v < 10) return `${v.toFixed(1)} ${t("unit_s")}`;
    if (v < 600) return `${Math.round(v)} ${t("unit_s")}`;
    if (v < 7200) return `${(v / 60).toFixed(1)} ${t("unit_min")}`;
    return `${(v / 3600).toFixed(1)} ${t("unit_h")}`;
  }
  const fmtDurations = (d) => (d && (isNum(d.p50) || isNum(d.p90)) ? `${fmtSeconds(d.p50)} / ${fmtSeconds(d.p90)}` : DASH);

  /** "2024-05-01" (or with hour) of a unix time in the report's local time (not the browser's). */
  function localIso(epoch, offsetMinutes) {
    return new Date((epoch + offsetMinutes * 60) * 1000).toISOString();
  }
  const localDate = (epoch, off) => localIso(epoch, off).slice(0, 10);

  function fmtOffset(minutes) {
    const sign = minutes < 0 ? "-" : "+";
    const m = Math.abs(minutes);
    return `${sign}${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
  }

  /** The console's API call (console/dom.js): the JSON, or an ApiError with the status and the service's text. */
  const getJson = (path) => window.ConsoleDom.api("GET", path, undefined, { networkError: t("network_error") });

  // ---------------------------------------------------------------------------------------------
  // State: the filters (also in the URL) and the last report
  // ---------------------------------------------------------------------------------------------
  const S = {
    me: null,
    report: null,
    seq: 0,
    seen: Object.fromEntries(FILTER_DIMS.map((d) => [d, new Set()])), // filter choices met so far
  };

  function paramsFromUrl() {
    const q = new URLSearchParams(location.search);
    const p = {};
    for (const k of ["from", "to", ...FILTER_DIMS]) if (q.get(k)) p[k] = q.get(k);
    return p;
  }

  function paramsFromForm() {
    const p = {};
    if ($("#f-from").value) p.from = $("#f-from").value;
    if ($("#f-to").value) p.to = $("#f-to").value;
    for (const d of FILTER_DIMS) if ($(`#f-${d}`).value) p[d] = $(`#f-${d}`).value;
    return p;
  }

  const query = (p, extra) => new URLSearchParams({ ...p, ...(extra || {}) }).toString();

  // ---------------------------------------------------------------------------------------------
  // Loading
  // ---------------------------------------------------------------------------------------------
  async function load(params) {
    const seq = ++S.seq;
    $("#loading").hidden = false;
    try {
      const report = await getJson(`/api/insight/report?${query(params)}`);
      if (seq !== S.seq) return; // a newer request is on its way
      $("#error").hidden = true;
      S.report = report;
      S.params = settled(params, report);
      history.replaceState(null, "", `${location.pathname}?${query(S.params)}`);
      render();
    } catch (err) {
      if (seq !== S.seq) return;
      if (err.status === 401) return notice(t("need_login"), true);
      if (err.status === 403) return notice(t("supervisors_only"), true);
      const box = $("#error");
      box.textContent = err.message || t("error");
      box.hidden = false;
    } finally {
      if (seq === S.seq) $("#loading").hidden = true;
    }
  }

  /** The parameters with the period the service settled on (the default one, when none was given). */
  function settled(params, report) {
    const off = report.utc_offset_minutes;
    const p = { ...params };
    if (!p.from) p.from = localDate(report.filters.start, off);
    if (!p.to) p.to = localDate(report.filters.end - 1, off);
    return p;
  }

  function notice(message, withLink) {
    $("#dash").hidden = true;
    const box = $("#notice");
    box.replaceChildren(message);
    if (withLink) box.append(" ", el("a", { href: "/console/", text: t("back_to_console") }));
    box.hidden = false;
  }

  // ---------------------------------------------------------------------------------------------
  // Rendering
  // ---------------------------------------------------------------------------------------------
  function render() {
    const r = S.report;
    if (!r) return;
    renderFilters();
    renderPeriod(r);
    renderKpis(r.totals);
    renderSeries(r);
    renderCsat(r.totals.csat_distribution);
    renderReasons(r.handoff_rate_by_reason);
    renderBreakdowns(r.breakdowns);
    renderTickets(r.tickets);
    renderHelp();
  }

  function renderFilters() {
    const r = S.report;
    const p = S.params || {};
    $("#f-from").value = p.from && /^\d{4}-\d{2}-\d{2}/.test(p.from) ? p.from.slice(0, 10) : "";
    $("#f-to").value = p.to && /^\d{4}-\d{2}-\d{2}/.test(p.to) ? p.to.slice(0, 10) : "";
    for (const dim of FILTER_DIMS) {
      for (const row of (r.breakdowns[dim] || [])) S.seen[dim].add(row.key);
      if (p[dim]) S.seen[dim].add(p[dim]);
      const select = $(`#f-${dim}`);
      const keys = [...S.seen[dim]].sort();
      select.replaceChildren(el("option", { value: "", text: t("all") }),
        ...keys.map((k) => el("option", { value: k, text: valueLabel(dim, k), title: k })));
      select.value = p[dim] || "";
    }
    $("#export-series").href = `/api/insight/report.csv?${query(p, { kind: "series" })}`;
    $("#export-breakdowns").href = `/api/insight/report.csv?${query(p, { kind: "breakdowns" })}`;
    $("#export-tickets").href = `/api/insight/report.csv?${query(p, { kind: "tickets" })}`;
  }

  function renderPeriod(r) {
    const off = r.utc_offset_minutes;
    $("#period").textContent = t("period", {
      from: localIso(r.filters.start, off).slice(0, 16).replace("T", " ").replace(" 00:00", ""),
      to: localIso(r.filters.end - 1, off).slice(0, 10),
      step: t(r.bucket === "hour" ? "by_hour" : "by_day"), offset: fmtOffset(off),
    });
  }

  function kpiCards(s) {
    const d = (x) => (x ? x.count : 0);
    return [
      ["conversations", fmtCount(s.conversations), t("sub_turns", { n: s.customer_turns })],
      ["containment_rate", fmtRate(s.containment_rate), null],
      ["handoff_rate", fmtRate(s.handoff_rate), t("sub_handed_off", { n: s.handed_off })],
      ["handoffs", fmtCount(s.handoffs), t("sub_tickets", { n: s.tickets })],
      ["faq_answer_rate", fmtRate(s.faq_answer_rate), t("sub_lookups", { n: s.kb_lookups })],
      ["faq_no_answer_rate", fmtRate(s.faq_no_answer_rate), t("sub_lookups", { n: s.kb_lookups })],
      ["fallback_rate", fmtRate(s.fallback_rate), t("sub_turns", { n: s.customer_turns })],
      ["bot_response", fmtDurations(s.bot_response), t("sub_durations", { n: d(s.bot_response) })],
      ["queue_wait", fmtDurations(s.queue_wait), t("sub_durations", { n: d(s.queue_wait) })],
      ["first_response", fmtDurations(s.first_response), t("sub_durations", { n: d(s.first_response) })],
      ["sla_compliance", fmtRate(s.sla_compliance),
        t("sub_sla", { met: s.sla_met, missed: s.sla_missed, pending: s.sla_pending })],
      ["resolution", fmtDurations(s.resolution), t("sub_durations", { n: d(s.resolution) })],
      ["csat", fmtScore(s.csat_average), t("sub_csat", { n: s.csat_count })],
      ["repeat_contact_rate", fmtRate(s.repeat_contact_rate), t("sub_repeat", { n: s.repeat_contacts })],
    ];
  }

  function kpiCard([key, value, sub], labels) {
    return el("div", { class: `kpi${value === DASH ? " kpi-empty" : ""}`, data: { kpi: key }, title: pick(HELP[key], "") },
      el("div", { class: "kpi-label", text: pick(labels[key], key) }),
      el("div", { class: "kpi-value", text: value }),
      sub ? el("div", { class: "kpi-sub", text: sub }) : null);
  }

  function renderKpis(s) {
    $("#kpis").replaceChildren(...kpiCards(s).map((card) => kpiCard(card, KPI_LABELS)));
  }

  /** Round up to a "nice" number (1, 2, 5 × 10^n), at least 1: counts are whole. */
  function niceMax(v) {
    if (!(v > 1)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (Number.isInteger(m * p) && v <= m * p) return m * p;
    return 10 * p;
  }

  function renderSeries(r) {
    const points = r.series;
    const off = r.utc_offset_minutes;
    const W = 1200, H = 260, L = 40, R = 48, T = 12, B = 28;
    const plotW = W - L - R, plotH = H - T - B;
    const TICKS = 4; // grid lines at whole, evenly spaced counts
    const max = TICKS * niceMax(Math.max(0, ...points.map((p) => Math.max(p.conversations, p.handoffs))) / TICKS);
    const n = Math.max(points.length, 1);
    const slot = plotW / n;
    const barW = Math.max(1, Math.min(24, slot * 0.36));
    const y = (v) => T + plotH - (v / max) * plotH;
    const yRate = (v) => T + plotH - v * plotH;
    const label = (p) => (r.bucket === "hour" ? localIso(p.start, off).slice(11, 16) : localIso(p.start, off).slice(5, 10));
    const fullLabel = (p) => localIso(p.start, off).slice(0, r.bucket === "hour" ? 16 : 10).replace("T", " ");
    const chart = svg("svg", { class: "series-chart", viewBox: `0 0 ${W} ${H}`, role: "img",
      "aria-label": t("series_title") });
    for (let i = 0; i <= TICKS; i++) { // grid and the two axes' labels
      const gy = T + plotH - (i / TICKS) * plotH;
      chart.append(svg("line", { class: "grid-line", x1: L, x2: W - R, y1: gy, y2: gy }),
        svg("text", { class: "axis", x: L - 6, y: gy + 4, "text-anchor": "end", text: String((max * i) / TICKS) }),
        svg("text", { class: "axis rate", x: W - R + 6, y: gy + 4, text: `${(100 * i) / TICKS}%` }));
    }
    const every = Math.ceil(points.length / 14); // at most ~14 labels on the time axis
    points.forEach((p, i) => {
      const x0 = L + i * slot + slot / 2;
      const title = (what, v) => svg("title", { text: `${fullLabel(p)} · ${what}: ${v}` });
      chart.append(
        svg("rect", { class: "bar b-conv", x: x0 - barW - 1, y: y(p.conversations), width: barW,
          height: Math.max(0, T + plotH - y(p.conversations)), data: { value: p.conversations } },
        title(t("conversations"), p.conversations)),
        svg("rect", { class: "bar b-handoff", x: x0 + 1, y: y(p.handoffs), width: barW,
          height: Math.max(0, T + plotH - y(p.handoffs)), data: { value: p.handoffs } },
        title(t("handoffs"), p.handoffs)));
      if (i % every === 0) chart.append(svg("text", { class: "axis", x: x0, y: H - 8, "text-anchor": "middle", text: label(p) }));
    });
    // containment rate: a line, broken where a bucket has no conversations (no rate: no point)
    let run = [];
    const flush = () => {
      if (run.length > 1) chart.append(svg("polyline", { class: "rate-line", points: run.join(" ") }));
      run = [];
    };
    points.forEach((p, i) => {
      if (!isNum(p.containment_rate)) return flush();
      const x = L + i * slot + slot / 2, yy = yRate(p.containment_rate);
      run.push(`${x.toFixed(1)},${yy.toFixed(1)}`);
    });
    flush();
    points.forEach((p, i) => {
      if (!isNum(p.containment_rate)) return;
      chart.append(svg("circle", { class: "pt", cx: L + i * slot + slot / 2, cy: yRate(p.containment_rate), r: 3.5,
        data: { value: p.containment_rate } }, svg("title", { text: `${fullLabel(p)} · ${t("containment")}: ${fmtRate(p.containment_rate)}` })));
    });
    $("#series-chart").replaceChildren(chart);
    $("#series-legend").replaceChildren(
      el("span", { class: "key k-conv", text: t("conversations") }),
      el("span", { class: "key k-handoff", text: t("handoffs") }),
      el("span", { class: "key k-rate", text: `${t("containment")} (%)` }));
  }

  function renderCsat(distribution) {
    const W = 560, H = 170, L = 10, B = 24, T = 18;
    const scores = ["1", "2", "3", "4", "5"];
    const counts = scores.map((s) => (distribution && distribution[s]) || 0);
    const max = niceMax(Math.max(...counts));
    const slot = (W - 2 * L) / 5, plotH = H - T - B;
    const chart = svg("svg", { class: "csat-chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("csat_distribution") });
    scores.forEach((s, i) => {
      const h = (counts[i] / max) * plotH, x = L + i * slot + slot * 0.2;
      chart.append(
        svg("rect", { class: `bar score s${s}`, x, y: T + plotH - h, width: slot * 0.6, height: h, data: { score: s, value: counts[i] } },
          svg("title", { text: `${s}: ${counts[i]}` })),
        svg("text", { class: "value", x: x + slot * 0.3, y: T + plotH - h - 4, "text-anchor": "middle", text: String(counts[i]) }),
        svg("text", { class: "axis", x: x + slot * 0.3, y: H - 6, "text-anchor": "middle", text: `${s} ★` }));
    });
    $("#csat-chart").replaceChildren(chart);
  }

  /** Horizontal bars: [{key, label, value, text}], scaled to `max`. */
  function hbars(rows, max, cls, attrs) {
    const W = 560, rowH = 22, labelW = 160, valueW = 70;
    const H = Math.max(rows.length, 1) * rowH + 4;
    const chart = svg("svg", { class: `hbar-chart ${cls}`, viewBox: `0 0 ${W} ${H}`, role: "img", ...(attrs || {}) });
    if (!rows.length) chart.append(svg("text", { class: "axis", x: 4, y: 16, text: t("no_rows") }));
    rows.forEach((row, i) => {
      const y = 2 + i * rowH, w = max > 0 ? ((W - labelW - valueW) * row.value) / max : 0;
      chart.append(
        svg("text", { class: "label", x: labelW - 6, y: y + 15, "text-anchor": "end", text: row.label }),
        svg("rect", { class: "bar", x: labelW, y: y + 3, width: Math.max(0, w), height: rowH - 8, data: { key: row.key, value: row.value } },
          svg("title", { text: `${row.label}: ${row.text}` })),
        svg("text", { class: "value", x: labelW + Math.max(0, w) + 4, y: y + 15, text: row.text }));
    });
    return chart;
  }

  function renderReasons(byReason) {
    const rows = Object.entries(byReason || {}).sort((a, b) => b[1] - a[1])
      .map(([key, v]) => ({ key, label: valueLabel("reason", key), value: v, text: fmtRate(v) }));
    const chart = hbars(rows, Math.max(0, ...rows.map((r) => r.value)), "reason-rate",
      { "aria-label": `${t("handoff_by_reason")} (${t("share_of_conversations")})` });
    $("#reason-chart").replaceChildren(chart, el("p", { class: "muted small", text: t("share_of_conversations") }));
  }

  function renderBreakdowns(breakdowns) {
    const panels = BREAKDOWN_DIMS.map((dim) => {
      const rows = breakdowns[dim] || [];
      const name = t(DIM_LABELS[dim]);
      const bars = rows.map((row) => ({ key: row.key, label: valueLabel(dim, row.key), value: row.conversations,
        text: String(row.conversations) }));
      const chart = hbars(bars, Math.max(0, ...bars.map((b) => b.value)), "breakdown-chart",
        { "data-dim": dim, "aria-label": t("breakdown_by", { dim: name }) });
      const head = ["col_key", "col_conversations", "col_containment", "col_handoffs", "col_first_response", "col_sla", "col_csat"];
      const table = el("table", { class: "breakdown", data: { dim } },
        el("thead", null, el("tr", null, ...head.map((h, i) => el("th", { class: i ? "num" : null, text: t(h) })))),
        el("tbody", null, ...rows.map((row) => el("tr", { data: { key: row.key } },
          el("td", { class: "t-key", title: row.key, text: valueLabel(dim, row.key) }),
          el("td", { class: "num t-conversations", text: fmtCount(row.conversations) }),
          el("td", { class: "num t-containment", text: fmtRate(row.containment_rate) }),
          el("td", { class: "num t-handoffs", text: fmtCount(row.handoffs) }),
          el("td", { class: "num t-first-response", text: fmtSeconds(row.first_response && row.first_response.p50) }),
          el("td", { class: "num t-sla", text: fmtRate(row.sla_compliance) }),
          el("td", { class: "num t-csat", text: fmtScore(row.csat_average) })))));
      return el("section", { class: "panel chart-panel breakdown-panel", data: { dim } },
        el("h2", { text: t("breakdown_by", { dim: name }) }), chart, table);
    });
    $("#breakdowns").replaceChildren(...panels);
  }

  // ---------------------------------------------------------------------------------------------
  // Tickets (工单): report.tickets = {totals, breakdowns: {department, category}, series}
  // ---------------------------------------------------------------------------------------------
  function ticketCards(s) {
    const h = s.resolution_hours || {}, f = s.first_response_hours || {};
    return [
      ["tickets_opened", fmtCount(s.opened),
        t("sub_ticket_states", { resolved: s.resolved, open: s.still_open, closed: s.closed_unresolved })],
      ["tickets_on_time", fmtRate(s.on_time_rate), t("sub_on_time", { n: s.resolved_on_time, of: s.resolved })],
      ["tickets_overdue", fmtCount(s.overdue), t("sub_overdue", { rate: fmtRate(s.overdue_rate), open: s.overdue_open })],
      ["tickets_resolution", fmtHours(h.p50), t("sub_hours", { p90: fmtHours(h.p90), n: h.count || 0 })],
      ["tickets_first_response", fmtHours(f.p50), t("sub_hours", { p90: fmtHours(f.p90), n: f.count || 0 })],
      ["tickets_csat", fmtScore(s.csat_average), t("sub_csat", { n: s.csat_count })],
      ["tickets_reopened", fmtCount(s.reopened), null],
    ];
  }

  function ticketTable(dim, rows) {
    const head = [dim === "department" ? "col_department" : "col_category", "col_opened", "col_resolved", "col_open",
      "col_overdue", "col_on_time", "col_resolution_h", "col_first_reply", "col_reopened", "col_csat"];
    const body = rows.length ? rows.map((row) => el("tr", { data: { key: row.key } },
      el("td", { class: "t-key", title: row.key, text: valueLabel(dim, row.key) }),
      el("td", { class: "num t-opened", text: fmtCount(row.opened) }),
      el("td", { class: "num t-resolved", text: fmtCount(row.resolved) }),
      el("td", { class: "num t-open", text: fmtCount(row.still_open) }),
      el("td", { class: `num t-overdue${row.overdue ? " late" : ""}`, text: fmtCount(row.overdue) }),
      el("td", { class: "num t-on-time", text: fmtRate(row.on_time_rate) }),
      el("td", { class: "num t-resolution", text: fmtHours(row.resolution_hours && row.resolution_hours.p50) }),
      el("td", { class: "num t-first-reply", text: fmtHours(row.first_response_hours && row.first_response_hours.p50) }),
      el("td", { class: "num t-reopened", text: fmtCount(row.reopened) }),
      el("td", { class: "num t-csat", text: fmtScore(row.csat_average) })))
      : [el("tr", null, el("td", { class: "muted", colSpan: head.length, text: t("no_rows") }))];
    return [el("h3", { text: t(dim === "department" ? "by_department" : "by_category") }),
      el("table", { class: "breakdown ticket-breakdown", data: { dim } },
        el("thead", null, el("tr", null, ...head.map((k, i) => el("th", { class: i ? "num" : null, text: t(k) })))),
        el("tbody", null, ...body))];
  }

  function renderTickets(section) {
    if (!section) return;
    $("#ticket-kpis").replaceChildren(...ticketCards(section.totals).map((card) => kpiCard(card, TICKET_KPI_LABELS)));
    $("#ticket-departments").replaceChildren(...ticketTable("department", section.breakdowns.department || []));
    $("#ticket-categories").replaceChildren(...ticketTable("category", section.breakdowns.category || []));
  }

  function renderHelp() {
    const items = [...Object.keys(KPI_LABELS), ...Object.keys(TICKET_KPI_LABELS), "percentiles", "no_data", "filters",
      "ticket_filters"];
    $("#help-list").replaceChildren(...items.flatMap((key) => [
      el("dt", { text: pick(KPI_LABELS[key] || TICKET_KPI_LABELS[key] || HELP_LABELS[key], key) }),
      el("dd", { text: pick(HELP[key], "") }),
    ]));
  }

  // ---------------------------------------------------------------------------------------------
  // Language, events, start
  // ---------------------------------------------------------------------------------------------
  function applyI18n() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = `${t("dash_title")} · ${lang === "zh" ? "Dashboard" : "数据看板"}`;
    for (const n of $$("[data-i18n]")) n.textContent = t(n.dataset.i18n);
    for (const n of $$("[data-lang-toggle]")) {
      n.textContent = lang === "zh" ? "English" : "中文";
      n.title = lang === "zh" ? "Switch to English" : "切换到中文";
    }
  }

  function toggleLanguage() {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, lang);
    applyI18n();
    render();
  }

  function bind() {
    for (const n of $$("[data-lang-toggle]")) n.addEventListener("click", toggleLanguage);
    $("#filters").addEventListener("change", () => load(paramsFromForm()));
    $("#filters").addEventListener("submit", (e) => {
      e.preventDefault();
      load(paramsFromForm());
    });
  }

  async function boot() {
    applyI18n();
    bind();
    let me = null;
    try {
      me = (await getJson("/api/me")).agent;
    } catch (err) {
      return notice(err.status === 401 ? t("need_login") : err.message || t("error"), true);
    }
    S.me = me;
    $("#me-name").textContent = me.name || me.id;
    if (me.role !== "supervisor") return notice(t("supervisors_only"), true);
    $("#dash").hidden = false;
    await load(paramsFromUrl());
  }

  boot();
})();
