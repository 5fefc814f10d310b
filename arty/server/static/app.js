// The single-page app: a router over the History API. Each page module exports
// ``render(ctx)``; ``ctx`` carries the route's parameters, the page's root element,
// an AbortSignal that fires when the user leaves, and ``every(ms, fn)`` for live polling.

import { ApiError, login, logout, whoami } from "./api.js";
import { errorBox, fill, h, seg } from "./dom.js";
import * as projects from "./pages/projects.js";
import * as project from "./pages/project.js";
import * as run from "./pages/run.js";
import * as compare from "./pages/compare.js";
import * as artifacts from "./pages/artifacts.js";
import * as automations from "./pages/automations.js";
import * as sweeps from "./pages/sweeps.js";
import * as registry from "./pages/registry.js";

const ROUTES = [
  ["projects", /^\/$/, [], projects.render],
  ["project", /^\/p\/([^/]+)\/?$/, ["project"], project.render],
  ["run", /^\/p\/([^/]+)\/runs\/([^/]+)\/?$/, ["project", "run"], run.render],
  ["compare", /^\/p\/([^/]+)\/compare\/?$/, ["project"], compare.render],
  ["artifacts", /^\/p\/([^/]+)\/artifacts\/?$/, ["project"], artifacts.renderList],
  ["artifact", /^\/p\/([^/]+)\/artifacts\/([^/]+)\/?$/, ["project", "name"], artifacts.renderArtifact],
  ["version", /^\/p\/([^/]+)\/artifacts\/([^/]+)\/([^/]+)\/?$/, ["project", "name", "version"],
    artifacts.renderVersion],
  ["automations", /^\/p\/([^/]+)\/automations\/?$/, ["project"], automations.render],
  ["sweeps", /^\/p\/([^/]+)\/sweeps\/?$/, ["project"], sweeps.renderList],
  ["sweep", /^\/p\/([^/]+)\/sweeps\/([^/]+)\/?$/, ["project", "sweep"], sweeps.renderSweep],
  ["registries", /^\/registry\/?$/, [], registry.renderList],
  ["registry", /^\/registry\/([^/]+)\/?$/, ["registry"], registry.renderRegistry],
];

let current = null;  // {controller, timers}

function match(pathname) {
  for (const [page, re, names, fn] of ROUTES) {
    const m = re.exec(pathname);
    if (m) {
      const params = {};
      names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      return { page, params, fn };
    }
  }
  return null;
}

/** Breadcrumbs from the route's parameters. */
function crumbs(params) {
  const out = [];
  if (/^\/registry/.test(location.pathname)) out.push(h("a", { href: "/registry" }, "registries"));
  if (params.registry) out.push(h("a", { href: "/registry/" + seg(params.registry) }, params.registry));
  if (params.project) out.push(h("a", { href: "/p/" + seg(params.project) }, params.project));
  if (params.run) out.push(h("span", null, "runs"), h("a", { href: location.pathname }, params.run));
  if (/^\/p\/[^/]+\/compare/.test(location.pathname)) out.push(h("span", null, "compare"));
  if (params.name !== undefined || /\/artifacts/.test(location.pathname)) {
    out.push(h("a", { href: "/p/" + seg(params.project, "artifacts") }, "artifacts"));
  }
  if (params.name) out.push(h("a", { href: "/p/" + seg(params.project, "artifacts", params.name) }, params.name));
  if (params.sweep !== undefined || /^\/p\/[^/]+\/sweeps/.test(location.pathname)) {
    out.push(h("a", { href: "/p/" + seg(params.project, "sweeps") }, "sweeps"));
  }
  if (params.sweep) out.push(h("span", null, params.sweep));
  if (params.version) out.push(h("span", null, params.version));
  return out.flatMap((el, i) => (i ? [h("span", { class: "sep" }, "/"), el] : [el]));
}

function setLive(on) {
  document.getElementById("live").hidden = !on;
}

async function route() {
  if (current) {
    current.controller.abort();
    current.timers.forEach(clearInterval);
  }
  const controller = new AbortController();
  const timers = [];
  current = { controller, timers };
  setLive(false);
  const root = document.getElementById("app");
  const found = match(location.pathname);
  fill(document.getElementById("crumbs"), found ? crumbs(found.params) : []);
  document.body.dataset.page = "loading";
  if (!found) {
    fill(root, errorBox({ message: `page '${location.pathname}' not found`, hint: "start from the projects list" }),
      h("p", null, h("a", { href: "/" }, "Projects")));
    document.body.dataset.page = "notfound";
    return;
  }
  const ctx = {
    params: found.params,
    query: new URLSearchParams(location.search),
    root,
    signal: controller.signal,
    alive: () => !controller.signal.aborted,
    /** Call ``fn`` every ``ms`` until the page is left; one call at a time. */
    every(ms, fn) {
      let busy = false;
      const id = setInterval(async () => {
        if (busy || controller.signal.aborted) return;
        busy = true;
        try { await fn(); } catch (err) { if (err.name !== "AbortError") console.warn(err); } finally { busy = false; }
      }, ms);
      timers.push(id);
      return id;
    },
    /** Replace the query string without a new history entry or a re-render. */
    setQuery(params) {
      const q = new URLSearchParams(params).toString();
      history.replaceState(history.state, "", location.pathname + (q ? "?" + q : ""));
    },
  };
  try {
    await found.fn(ctx);
    if (ctx.alive()) document.body.dataset.page = found.page;
  } catch (err) {
    if (err.name === "AbortError" || !ctx.alive()) return;
    if (err instanceof ApiError && err.status === 401) {
      loginPage(root, err);
      return;
    }
    console.error(err);
    fill(root, errorBox(err));
    document.body.dataset.page = "error";
  }
}

/** The login page, shown when the API answers 401: takes a key once; the server keeps a session. */
function loginPage(root, err) {
  const input = h("input", { type: "password", id: "login-key", autocomplete: "off", class: "grow",
    placeholder: "arty_…" });
  const status = h("div", { class: "form-status", id: "login-status" });
  const form = h("form", { class: "edit login", id: "login-form" },
    h("h1", null, "Log in"),
    h("p", { class: "muted" }, err.message + ". Paste your API key (a server admin makes one with ",
      h("code", null, "art server keys create NAME"), ")."),
    h("label", null, "API key ", input),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "login-submit" }, "Log in"),
      status));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await login(input.value.trim());
      input.value = "";
      await showWho();
      route();
    } catch (e) {
      fill(status, h("span", { class: "error" }, e.message));
    }
  });
  fill(root, form);
  document.body.dataset.page = "login";
  input.focus();
}

/** Who is logged in, and a Log out button, in the top bar. */
async function showWho() {
  const el = document.getElementById("who");
  let me;
  try { me = await whoami(); } catch { fill(el); return; }
  if (!me.logged_in) { fill(el); return; }
  const out = h("button", { type: "button", id: "logout", class: "link" }, "Log out");
  out.addEventListener("click", async () => {
    try { await logout(); } finally { fill(el); route(); }
  });
  fill(el, h("span", { id: "who-name" }, me.name), out);
}

/** Go to ``url`` inside the app. */
export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  route();
}

document.addEventListener("click", (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest("a");
  if (!a || a.hasAttribute("download") || (a.getAttribute("target") || "") !== "") return;
  const raw = a instanceof SVGAElement ? a.href.baseVal : a.getAttribute("href");
  if (!raw || raw.startsWith("#")) return;
  const url = new URL(raw, location.href);
  if (url.origin !== location.origin) return;
  const path = url.pathname;
  if (path.startsWith("/api/") || path.startsWith("/static/") || path.startsWith("/vendor/") || path === "/docs") return;
  ev.preventDefault();
  if (url.href === location.href) return;
  navigate(url.pathname + url.search);
});

window.addEventListener("popstate", route);
showWho().finally(route);
