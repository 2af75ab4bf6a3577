/* Small DOM helpers shared by the console's pages (console + assist, editor, dashboard), loaded before
 * each page's own script: `el` / `svg` build elements whose text always goes in through textContent
 * (never HTML), `$` / `$$` query, `api` calls the service's JSON API. */
(function () {
  "use strict";
  const SVG_NS = "http://www.w3.org/2000/svg";

  function attach(n, props, kids) {
    const isSvg = n.namespaceURI === SVG_NS;
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") n.setAttribute("class", v);
      else if (k === "text") n.textContent = String(v);
      else if (k === "data") {
        for (const [dk, dv] of Object.entries(v)) if (dv !== null && dv !== undefined && dv !== "") n.dataset[dk] = String(dv);
      }
      else if (k === "style" && typeof v === "object") Object.assign(n.style, v);
      else if (k === "for") n.htmlFor = v;
      else if (!isSvg && k in n) n[k] = v;
      else n.setAttribute(k, String(v));
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      n.append(kid instanceof Node ? kid : String(kid));
    }
    return n;
  }

  /** An answer of the API that is not a success: `status` (0: the service could not be reached) and the
   * answer's JSON `body` (null without one), e.g. the current version a 409 sends back. */
  class ApiError extends Error {
    constructor(status, message, body = null) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  /**
   * A call of the service's JSON API with the session cookie: the answer's JSON (null when it has none),
   * or an ApiError with the service's `error` text. Options: `networkError`, the message when the service
   * cannot be reached (else fetch's own error is thrown); `onResponse(res)`, told of every answer (e.g. to
   * follow the server's clock); `onUnauthorized(path)`, told of a 401 before the error is thrown.
   */
  async function api(method, path, body, options = {}) {
    const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      if (options.networkError === undefined) throw e;
      throw new ApiError(0, options.networkError);
    }
    if (options.onResponse) options.onResponse(res);
    let data = null;
    if (res.status !== 204) {
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
    }
    if (!res.ok) {
      const message = (data && typeof data.error === "string" && data.error) || `${res.status} ${res.statusText}`;
      if (res.status === 401 && options.onUnauthorized) options.onUnauthorized(path);
      throw new ApiError(res.status, message, data);
    }
    return data;
  }

  /** Why the customer's channel refused a message for good (common/undeliverable.py), for agents. */
  const REFUSALS = {
    window_closed: ["未送达：客户超过 48 小时未发消息，微信不允许再主动发送，请待客户再次来信或改用电话联系",
      "Not delivered: more than 48 h since the customer last wrote, WeChat allows no more messages; wait for them to write or call them"],
    send_limit: ["未送达：自客户上次来信后发送条数已达微信上限，请待客户再次来信",
      "Not delivered: WeChat's limit of messages since the customer last wrote is reached; wait for them to write"],
    unsubscribed: ["未送达：客户已取消关注或屏蔽了公众号", "Not delivered: the customer unfollowed or blocked the account"],
    unknown_user: ["未送达：渠道不认识该客户", "Not delivered: the channel does not know this customer"],
  };

  function refusal(reason, lang) {
    const pair = REFUSALS[reason] || ["未送达：客户的渠道拒收", "Not delivered: the customer's channel refused it"];
    return pair[lang === "en" ? 1 : 0];
  }

  window.ConsoleDom = Object.freeze({
    ApiError,
    api,
    refusal,
    $: (sel, root = document) => root.querySelector(sel),
    $$: (sel, root = document) => Array.from(root.querySelectorAll(sel)),
    /** An HTML element; strings among the children become text nodes, `text` sets textContent. */
    el: (tag, props, ...kids) => attach(document.createElement(tag), props, kids),
    /** An SVG element, the same way (attributes, not properties). */
    svg: (tag, props, ...kids) => attach(document.createElementNS(SVG_NS, tag), props, kids),
  });
})();
