// DOM helpers. User text only ever reaches the page as text nodes or attribute values
// (never through innerHTML), so names, notes, tags and config values stay inert.

const SVG_NS = "http://www.w3.org/2000/svg";

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k === "value" || k === "checked" || k === "selected" || k === "indeterminate") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

function addChildren(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** h("a", {href, class}, "text", child...) -> an element; strings become text nodes. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  addChildren(el, children);
  return el;
}

/** The same for SVG elements. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  addChildren(el, children);
  return el;
}

/** Replace the children of ``el``. */
export function fill(el, ...children) {
  el.replaceChildren();
  addChildren(el, children);
  return el;
}

/** Path segments, each URL-encoded: seg("p", name) -> "p/na%2Fme". */
export function seg(...parts) {
  return parts.map((p) => encodeURIComponent(String(p))).join("/");
}

/** A file path inside a run or an artifact, its slashes kept. */
export function filePath(path) {
  return String(path).split("/").map(encodeURIComponent).join("/");
}

export function projectUrl(project) { return "/p/" + seg(project); }
export function runUrl(project, runId, tab) {
  return "/p/" + seg(project, "runs", runId) + (tab && tab !== "overview" ? "?tab=" + tab : "");
}
export function artifactsUrl(project, type) {
  return "/p/" + seg(project, "artifacts") + (type ? "?type=" + encodeURIComponent(type) : "");
}

/** The tabs of a project's pages (Runs, Artifacts, Sweeps, Automations), ``active`` marked. */
export function projectTabs(project, active) {
  const tabs = [["runs", projectUrl(project), "Runs"], ["artifacts", artifactsUrl(project), "Artifacts"],
    ["sweeps", "/p/" + seg(project, "sweeps"), "Sweeps"], ["automations", "/p/" + seg(project, "automations"), "Automations"]];
  return h("nav", { class: "tabs" }, tabs.map(([id, href, label]) => h("a", { href, class: id === active ? "active" : null }, label)));
}
export function artifactUrl(project, name) { return "/p/" + seg(project, "artifacts", name); }
export function versionUrl(project, name, version) {
  const v = typeof version === "number" ? "v" + version : version;
  return "/p/" + seg(project, "artifacts", name, v);
}

export function fmtBytes(n) {
  if (n == null) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let x = Number(n);
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return (i === 0 ? String(x) : x.toFixed(x < 10 ? 1 : 0)) + " " + units[i];
}

export function fmtDuration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "";
  const s = Math.max(0, Number(seconds));
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + "s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m" + String(Math.floor(s % 60)).padStart(2, "0") + "s";
  const hh = Math.floor(m / 60);
  if (hh < 48) return hh + "h" + String(m % 60).padStart(2, "0") + "m";
  return Math.floor(hh / 24) + "d" + String(hh % 24).padStart(2, "0") + "h";
}

export function parseTime(t) {
  if (t == null || t === "") return null;
  if (typeof t === "number") return new Date(t * 1000);
  const d = new Date(t);
  return isNaN(d) ? null : d;
}

/** "2026-05-01 12:03" in local time. */
export function fmtTime(t) {
  const d = parseTime(t);
  if (!d) return "";
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** "3 min ago" */
export function fmtAgo(t) {
  const d = parseTime(t);
  if (!d) return "";
  const s = (Date.now() - d.getTime()) / 1000;
  if (s < 0) return fmtTime(t);
  if (s < 60) return "just now";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  if (s < 86400 * 30) return Math.floor(s / 86400) + " d ago";
  return fmtTime(t);
}

export function timeEl(t) {
  return h("time", { datetime: parseTime(t)?.toISOString(), title: fmtTime(t) }, fmtAgo(t));
}

/** A config or summary value as short text. */
export function fmtValue(v) {
  if (v === undefined) return "";
  if (v === null) return "null";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    // short: 3e-4, not 3.000e-4 (at most 4 significant digits, no trailing zeros)
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? Number(v.toPrecision(4)).toExponential() : String(Number(v.toPrecision(5)));
  }
  if (typeof v === "string") return v;
  if (typeof v === "object" && v._type) return `[${v._type}]`;
  return JSON.stringify(v);
}

export function stateBadge(state) {
  return h("span", { class: ["state", "state-" + String(state || "unknown").replace(/[^a-z]/g, "")] }, state || "unknown");
}

export function tagChips(tags) {
  return h("span", { class: "tags" }, (tags || []).map((t) => h("span", { class: "tag" }, t)));
}

/** Hints by HTTP status, for when the server's hint is meant for programs. */
const PEOPLE_HINTS = {
  400: "check what was typed and try again",
  401: "log in with an API key",
  403: "you may not do this here: a server admin can grant access",
  404: "check the address, or start again from the projects list",
  409: "someone changed it at the same time: reload the page and try again",
};

/** A hint a person can act on: the server's, unless it names API routes (meant for programs,
 * like "GET /api/projects lists them"); then one chosen by the error's status, or none. */
export function peopleHint(err) {
  const hint = err?.hint ? String(err.hint) : "";
  const forPrograms = /\b(GET|POST|PUT|PATCH|DELETE)\s+\S*\/|\/api\/|\.\.\.\//.test(hint);
  if (hint && !forPrograms) return hint;
  return PEOPLE_HINTS[err?.status] || null;
}

/** A message box for an error from the API (see api.js), with a hint for people. */
export function errorBox(err) {
  const hint = peopleHint(err);
  return h("div", { class: "error", role: "alert" },
    h("strong", null, "error: "), err?.message || String(err),
    hint ? h("div", { class: "hint" }, hint) : null);
}

export function shortDigest(d) {
  if (!d) return "";
  const i = String(d).indexOf(":");
  return String(d).slice(i + 1, i + 13);
}

/** Tabs: [{id, label}], the active id, and a function making the href of each. */
export function tabBar(tabs, active, hrefOf) {
  return h("nav", { class: "tabs", role: "tablist" },
    tabs.map((t) => h("a", { href: hrefOf(t.id), role: "tab", class: t.id === active ? "active" : null,
      "aria-selected": t.id === active ? "true" : "false", dataset: { tab: t.id } }, t.label)));
}

/** Debounce ``fn`` by ``ms``. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}
