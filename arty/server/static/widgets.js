// Small pieces shared by the pages: key/value tables, the token dialog, search highlighting.

import { fill, fmtValue, h } from "./dom.js";

/** A two-column table of ``obj``'s entries, sorted by key; values shown as short text. */
export function kvTable(obj, { id, empty = "none" } = {}) {
  const entries = Object.entries(obj || {}).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return h("p", { class: "muted", id }, empty);
  return h("table", { class: "kv", id },
    h("tbody", null, entries.map(([k, v]) => h("tr", { dataset: { key: k } },
      h("th", null, k),
      h("td", { class: typeof v === "number" ? "num" : null },
        v !== null && typeof v === "object" && !v._type ? JSON.stringify(v) : fmtValue(v))))));
}

/** Ask for the server's write token in a modal dialog; resolves to the token or null. */
export function askToken() {
  return new Promise((resolve) => {
    const input = h("input", { type: "password", id: "token-input", autocomplete: "off", class: "grow" });
    const dialog = h("dialog", { class: "token-dialog" },
      h("form", { method: "dialog" },
        h("p", null, "This server needs a token to save changes (art server --token)."),
        h("label", null, "Token ", input),
        h("div", { class: "buttons" },
          h("button", { value: "cancel", type: "submit" }, "Cancel"),
          h("button", { value: "ok", type: "submit", class: "primary" }, "Save token"))));
    dialog.addEventListener("close", () => {
      const token = dialog.returnValue === "ok" ? input.value.trim() : "";
      dialog.remove();
      resolve(token || null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** ``text`` as nodes with every case-insensitive match of ``query`` in a <mark>. */
export function highlight(text, query) {
  if (!query) return [text];
  const out = [];
  const lower = text.toLowerCase();
  const q = query.toLowerCase();
  let i = 0;
  for (;;) {
    const j = lower.indexOf(q, i);
    if (j < 0) break;
    if (j > i) out.push(text.slice(i, j));
    out.push(h("mark", null, text.slice(j, j + q.length)));
    i = j + q.length;
  }
  if (i < text.length) out.push(text.slice(i));
  return out;
}

/** A "saved" / error line under a form that clears itself after a while. */
export function flash(el, text, kind = "ok") {
  fill(el, h("span", { class: "flash " + kind, role: "status" }, text));
}

/** A pager: "‹ Previous  1–100 of 2 345  Next ›"; ``go(offset)`` is called on a click. */
export function pagerEl(offset, limit, total, go) {
  if (total <= limit) return h("span");
  return h("span", { class: "pager" },
    h("button", { type: "button", disabled: offset === 0, onclick: () => go(Math.max(0, offset - limit)) }, "‹ Previous"),
    h("span", { class: "muted" }, ` ${offset + 1}–${Math.min(total, offset + limit)} of ${total} `),
    h("button", { type: "button", disabled: offset + limit >= total, onclick: () => go(offset + limit) }, "Next ›"));
}
