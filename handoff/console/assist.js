/* Agent assist panel of the console (#assist): knowledge-base suggestions for the customer's latest
 * message, the customer's orders, a sentiment alert with a de-escalation hint, canned replies searchable
 * by keyword. A click on a suggestion or a canned reply puts its text into the reply box (to be edited,
 * never sent by itself).
 *
 * Follows console.js through its DOM events (console:lang, console:detail, console:push); data from
 * GET /api/conversations/{id}/assist and the WebSocket's "assist" pushes (sent right after each relayed
 * customer message; if none arrives shortly after a customer message, e.g. on another service behind
 * the load balancer, the panel asks the API). Everything is put in with textContent.
 */
"use strict";

(() => {
  const TEXT = {
    assist: ["辅助", "Assist"],
    suggestions: ["知识库建议", "Knowledge-base suggestions"],
    for_message: ["针对：", "For: "],
    no_message: ["客户还没有发消息。", "No customer message yet."],
    no_suggestions: ["知识库中没有相关答案。", "Nothing relevant in the knowledge base."],
    kb_unavailable: ["知识库尚未发布。", "No knowledge base is published yet."],
    insert_hint: ["点击插入到回复框（可编辑，不会直接发送）", "Click to insert into the reply box (editable, not sent)"],
    insert: ["插入", "Insert"],
    inserted: ["已插入回复框，可编辑后发送。", "Inserted into the reply box: edit, then send."],
    strength_answer: ["高", "high"],
    strength_suggest: ["中", "medium"],
    strength_weak: ["低", "low"],
    score_title: ["置信度 {score}（机器人 {decision}）", "Confidence {score} (the bot would {decision})"],
    decision_answer: ["直接回答", "answer"],
    decision_suggest: ["给出候选问题", "suggest questions"],
    decision_none: ["不回答", "not answer"],
    orders: ["订单", "Orders"],
    orders_unverified: ["客户未验证身份，无法显示订单。", "The customer is not verified: no orders shown."],
    orders_unavailable: ["订单系统暂不可用。", "The order system is unavailable right now."],
    orders_unknown: ["订单系统中没有这位客户。", "The order system does not know this customer."],
    orders_none: ["暂无订单。", "No orders."],
    logistics: ["物流", "Parcel"],
    after_sales: ["售后", "After-sales"],
    sentiment: ["情绪", "Sentiment"],
    sentiment_calm: ["平稳", "calm"],
    sentiment_neutral: ["一般", "neutral"],
    sentiment_negative: ["负面", "negative"],
    sentiment_unknown: ["未知", "unknown"],
    alert_strong: ["客户情绪很负面", "The customer is very upset"],
    alert_trend: ["客户持续不满", "The customer has been unhappy for several messages"],
    canned: ["常用回复", "Canned replies"],
    canned_search: ["搜索常用回复…", "Search canned replies…"],
    canned_none: ["没有匹配的常用回复。", "No canned reply matches."],
    loading: ["加载中…", "Loading…"],
    error: ["辅助信息加载失败。", "Could not load the assist panel."],
  };
  const STATUS = {
    pending_payment: ["待付款", "awaiting payment"], paid: ["已付款", "paid"], shipped: ["已发货", "shipped"],
    delivered: ["已签收", "delivered"], completed: ["已完成", "completed"], cancelled: ["已取消", "cancelled"],
    after_sales: ["售后中", "after-sales"], refunded: ["已退款", "refunded"],
  };
  const AS_TYPE = { return: ["退货", "return"], refund: ["退款", "refund"], exchange: ["换货", "exchange"] };
  const AS_STATE = { open: ["待处理", "open"], approved: ["已同意", "approved"] };
  const FALLBACK_MS = 1500; // no push this long after a customer message: ask the API

  let lang = (document.documentElement.lang || "zh").toLowerCase().startsWith("zh") ? "zh" : "en";
  const pair = (p, fallback) => (p ? p[lang === "zh" ? 0 : 1] : fallback);
  function t(key, vars) {
    let s = pair(TEXT[key], key);
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
    return s;
  }
  const both = (o) => (o && typeof o === "object" ? o[lang] || o.zh || o.en || "" : o || "");

  const { el } = window.ConsoleDom;  // console/dom.js

  const A = {
    conv: null,        // the conversation shown (from console:detail)
    canReply: false,
    live: null,        // {message_id, query, suggestions, sentiment}
    orders: null,      // order context
    error: false,
    seq: 0,
    canned: null,      // replies from /api/canned (loaded once)
    filter: "",
    fallback: null,
  };

  async function getJson(path) {
    const res = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`${res.status}`);
    return res.json();
  }

  async function load(id) {
    const seq = ++A.seq;
    try {
      const data = await getJson(`/api/conversations/${id}/assist`);
      if (seq !== A.seq || !A.conv || A.conv.id !== id) return;
      A.live = newer(A.live, data);
      A.orders = data.orders;
      A.error = false;
    } catch (e) {
      if (seq !== A.seq) return;
      A.error = !A.live;
    }
    render();
  }

  /** The newer of two suggestion sets (a push and an API answer may cross). */
  function newer(current, next) {
    if (!current || next.message_id === null || (current.message_id || 0) <= next.message_id) return next;
    return current;
  }

  async function loadCanned() {
    if (A.canned) return;
    try {
      A.canned = (await getJson("/api/canned")).replies || [];
    } catch (e) {
      A.canned = null;
    }
    renderCanned();
  }

  // --- inserting into the reply box ------------------------------------------------------------
  function insert(text) {
    const box = document.getElementById("reply");
    if (!box || box.disabled) return;
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? box.value.length;
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    box.focus();
    const caret = start + text.length;
    box.setSelectionRange(caret, caret);
    box.dispatchEvent(new Event("input", { bubbles: true }));
    const status = document.getElementById("assist-status");
    if (status) status.textContent = t("inserted");
  }

  // --- rendering ---------------------------------------------------------------------------------
  const section = (id, title, ...body) => el("section", { class: "as-section", id },
    el("h4", { text: title }), ...body);

  function renderAlert() {
    const s = A.live && A.live.sentiment;
    if (!s || !s.alert) return null;
    return el("div", { id: "assist-alert", class: `as-alert ${s.rule}`, role: "alert" },
      el("strong", { text: t(s.rule === "strong" ? "alert_strong" : "alert_trend") }),
      el("p", { class: "as-hint", text: both(s.hint) }));
  }

  function renderSentiment() {
    const s = A.live && A.live.sentiment;
    if (!s) return null;
    const bars = (s.recent || []).map((p, i) => el("span", {
      class: `as-bar ${typeof p !== "number" ? "none" : p >= s.thresholds.trend_level ? "neg" : p >= 0.3 ? "neu" : "pos"}`,
      title: typeof p === "number" ? `#${i + 1}: P(neg) ${p.toFixed(2)}` : `#${i + 1}: —`,
      style: typeof p === "number" ? `height:${Math.round(15 + p * 85)}%` : null }));
    return el("div", { class: "as-sentiment", id: "assist-sentiment", data: { level: s.level } },
      el("span", { class: "muted", text: `${t("sentiment")}: ` }),
      el("span", { class: `as-level ${s.level}`, text: t(`sentiment_${s.level}`) }),
      el("span", { class: "as-bars", "aria-hidden": "true" }, bars));
  }

  function renderSuggestions() {
    const body = [];
    if (A.error) body.push(el("p", { class: "muted", text: t("error") }));
    else if (!A.live) body.push(el("p", { class: "muted", text: t("loading") }));
    else {
      const sg = A.live.suggestions || {};
      if (!A.live.query) body.push(el("p", { class: "muted", text: t("no_message") }));
      else body.push(el("p", { class: "as-query", id: "assist-query" }, el("span", { class: "muted", text: t("for_message") }),
        el("q", { text: A.live.query })));
      if (sg.available === false) body.push(el("p", { class: "muted", text: t("kb_unavailable") }));
      else if (A.live.query && !(sg.items || []).length) body.push(el("p", { class: "muted", text: t("no_suggestions") }));
      const decision = t(`decision_${sg.decision || "none"}`);
      body.push(el("ol", { class: "as-suggestions", id: "assist-suggestions" }, (sg.items || []).map((item) => el("li", null,
        el("button", { type: "button", class: `as-suggestion ${item.strength}`, disabled: !A.canReply,
                       title: t("insert_hint"), data: { entry: item.id },
                       "aria-label": `${t("insert")}: ${item.question} — ${item.answer}` },
          el("span", { class: "as-head" },
            el("span", { class: "as-question", text: item.question }),
            el("span", { class: `as-score ${item.strength}`, title: t("score_title", { score: item.confidence.toFixed(2), decision }),
                         text: `${item.confidence.toFixed(2)} · ${t(`strength_${item.strength}`)}` })),
          el("span", { class: "as-answer", text: item.answer }))))));
    }
    return section("assist-kb", t("suggestions"), ...body);
  }

  function money(fen) {
    return typeof fen === "number" ? `¥${(fen / 100).toFixed(2)}` : "";
  }

  function day(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return "";
    return `${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")} ` +
      `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  }

  function renderOrders() {
    const o = A.orders;
    if (!o) return section("assist-orders", t("orders"), el("p", { class: "muted", text: A.error ? t("error") : t("loading") }));
    if (o.status !== "ok") {
      const key = { unverified: "orders_unverified", unavailable: "orders_unavailable", unknown_customer: "orders_unknown" }[o.status];
      return section("assist-orders", t("orders"), el("p", { class: "muted", text: t(key || "orders_unavailable") }));
    }
    const parts = [];
    if (o.customer) {
      parts.push(el("p", { class: "as-customer" }, el("span", { text: o.customer.name }), " · ",
        el("span", { class: "mono", text: o.customer.phone }),
        o.customer.tier === "vip" ? el("span", { class: "tier vip", text: "VIP" }) : null));
    }
    if (!(o.orders || []).length) parts.push(el("p", { class: "muted", text: t("orders_none") }));
    parts.push(el("ul", { class: "as-orders" }, (o.orders || []).map((order) => el("li", { data: { order: order.number } },
      el("div", { class: "as-order-head" },
        el("span", { class: "mono as-order-number", text: order.number }),
        el("span", { class: `as-status ${order.status}`, text: pair(STATUS[order.status], order.status) }),
        el("span", { class: "as-total", text: money(order.total_fen) })),
      el("div", { class: "as-items", text: (order.items || []).map((i) => `${both(i.name)} ×${i.quantity}`).join("，") }),
      order.logistics ? el("div", { class: "as-logistics" }, el("span", { class: "muted", text: `${t("logistics")}: ` }),
        `${both(order.logistics.description)} · ${order.logistics.location || ""} · ${day(order.logistics.time)}`) : null,
      (order.after_sales || []).map((r) => el("div", { class: "as-aftersales" },
        el("span", { class: "muted", text: `${t("after_sales")}: ` }),
        `${r.number} · ${pair(AS_TYPE[r.type], r.type)} · ${pair(AS_STATE[r.state], r.state)}`,
        r.note ? el("span", { class: "muted", text: ` · ${r.note}` }) : null))))));
    return section("assist-orders", t("orders"), ...parts);
  }

  function cannedSection() {
    const input = el("input", { type: "search", id: "canned-search", class: "as-search", placeholder: t("canned_search"),
                                "aria-label": t("canned_search"), value: A.filter, autocomplete: "off" });
    input.addEventListener("input", () => {
      A.filter = input.value;
      renderCanned();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {  // Enter inserts the first match
        event.preventDefault();
        const first = document.querySelector("#canned-results button:not(:disabled)");
        if (first) first.click();
      }
    });
    return section("assist-canned", t("canned"), input, el("ul", { class: "as-canned", id: "canned-results" }));
  }

  /** Replies in the conversation's language whose title, text or id contain every word typed. */
  function cannedMatches() {
    const words = A.filter.toLowerCase().split(/\s+/).filter(Boolean);
    const language = A.conv ? A.conv.language : null;
    return (A.canned || []).filter((r) => (!language || !r.language || r.language === language)
      && words.every((w) => `${r.title} ${r.text} ${r.id}`.toLowerCase().includes(w)));
  }

  function renderCanned() {
    const list = document.getElementById("canned-results");
    if (!list) return;
    const found = cannedMatches();
    list.replaceChildren(...(found.length ? found.map((r) => el("li", null, el("button", {
      type: "button", class: "as-canned-item", disabled: !A.canReply, title: r.text, data: { canned: r.id },
    }, el("span", { class: "as-canned-title", text: r.title }), el("span", { class: "as-canned-text", text: r.text }))))
      : [el("li", { class: "muted", text: t("canned_none") })]));
  }

  function render() {
    const box = document.getElementById("assist");
    if (!box) return;
    if (!A.conv) {
      box.replaceChildren();
      return;
    }
    const searching = document.activeElement && document.activeElement.id === "canned-search";
    const caret = searching ? document.activeElement.selectionStart : null;
    box.replaceChildren(...[
      el("h3", { id: "assist-title", text: t("assist") }),
      renderAlert(),
      renderSentiment(),
      renderSuggestions(),
      renderOrders(),
      cannedSection(),
      el("p", { id: "assist-status", class: "sr-only", role: "status" })].filter(Boolean));
    renderCanned();
    if (searching) {  // a push re-rendered the panel while the agent was typing a search
      const input = document.getElementById("canned-search");
      input.focus();
      if (caret !== null) input.setSelectionRange(caret, caret);
    }
  }

  /** Only the parts that depend on whether the agent may reply (no refetch). */
  function renderEnabled() {
    for (const b of document.querySelectorAll("#assist .as-suggestion, #assist .as-canned-item")) b.disabled = !A.canReply;
  }

  // --- following the console -----------------------------------------------------------------
  document.addEventListener("console:lang", (event) => {
    lang = event.detail === "en" ? "en" : "zh";
    render();
  });

  document.addEventListener("console:detail", (event) => {
    const d = event.detail;
    if (!d) {
      A.conv = null;
      A.seq++;
      clearTimeout(A.fallback);
      render();
      return;
    }
    const changed = !A.conv || A.conv.id !== d.conversation.id;
    const languageChanged = A.conv && A.conv.language !== d.conversation.language;
    const replyChanged = A.canReply !== d.canReply;
    A.conv = d.conversation;
    A.canReply = d.canReply;
    if (changed) {
      A.live = null;
      A.orders = null;
      A.error = false;
      A.filter = "";
      render();
      loadCanned();
      load(d.conversation.id);
    } else if (languageChanged) {
      render();
    } else if (replyChanged) {
      renderEnabled();
    }
  });

  document.addEventListener("console:push", (event) => {
    const push = event.detail;
    if (!push || !A.conv || push.conversation_id !== A.conv.id) return;
    if (push.type === "assist") {
      clearTimeout(A.fallback);
      A.live = newer(A.live, push);
      A.error = false;
      render();
    } else if (push.type === "message" && push.message && push.message.direction === "customer") {
      const id = A.conv.id;
      const wanted = push.message.id;
      clearTimeout(A.fallback);
      A.fallback = setTimeout(() => {
        if (A.conv && A.conv.id === id && (!A.live || (A.live.message_id || 0) < wanted)) load(id);
      }, FALLBACK_MS);
    }
  });

  document.addEventListener("click", (event) => {
    const suggestion = event.target.closest("#assist .as-suggestion");
    if (suggestion && A.live) {
      const item = ((A.live.suggestions || {}).items || []).find((i) => i.id === suggestion.dataset.entry);
      if (item) insert(item.answer);
      return;
    }
    const canned = event.target.closest("#assist .as-canned-item");
    if (canned && A.canned) {
      const language = A.conv ? A.conv.language : null;
      const reply = A.canned.find((r) => r.id === canned.dataset.canned && (!language || r.language === language));
      if (reply) insert(reply.text);
    }
  });
})();
