/* Small DOM helpers shared by the console's pages (console + assist, editor, dashboard), loaded before
 * each page's own script: `el` / `svg` build elements whose text always goes in through textContent
 * (never HTML), `$` / `$$` query. */
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

  window.ConsoleDom = Object.freeze({
    $: (sel, root = document) => root.querySelector(sel),
    $$: (sel, root = document) => Array.from(root.querySelectorAll(sel)),
    /** An HTML element; strings among the children become text nodes, `text` sets textContent. */
    el: (tag, props, ...kids) => attach(document.createElement(tag), props, kids),
    /** An SVG element, the same way (attributes, not properties). */
    svg: (tag, props, ...kids) => attach(document.createElementNS(SVG_NS, tag), props, kids),
  });
})();
