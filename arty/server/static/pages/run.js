// A run: tabs Overview (config, summary, editable name/notes/tags, git and diff, host, command,
// state), Charts (every history key), System, Console (with search), Files, Artifacts, and Media
// when the run logged images, tables or histograms. A running run's page updates itself.

import { ApiError, api, qs, write } from "../api.js";
import { COLORS, X_TITLES, chartBox, isNumeric, lineChart, loadPlotly } from "../charts.js";
import {
  debounce, errorBox, fill, filePath, fmtBytes, fmtDuration, fmtTime, h, runUrl, seg, shortDigest, stateBadge,
  tabBar, tagChips, timeEl, versionUrl,
} from "../dom.js";
import { renderMedia } from "../media.js";
import { askToken, flash, highlight, kvTable, pagerEl } from "../widgets.js";

const TABS = [
  { id: "overview", label: "Overview" }, { id: "charts", label: "Charts" }, { id: "system", label: "System" },
  { id: "console", label: "Console" }, { id: "files", label: "Files" }, { id: "artifacts", label: "Artifacts" },
  { id: "media", label: "Media" },
];
const CONSOLE_PAGE = 500;
const LIVE_MS = 2000;
/** Points per history series asked of the server (it downsamples). */
const HISTORY_SAMPLES = 1000;
/** Charts drawn at most on one tab; the metrics box picks among more. */
const MAX_CHARTS = 60;

export async function render(ctx) {
  const { project, run: runId } = ctx.params;
  const base = `/projects/${seg(project, "runs", runId)}`;
  const tab = ctx.query.get("tab") || "overview";
  if (["charts", "system", "media"].includes(tab)) loadPlotly().catch(() => {});  // fetched beside the data
  // the charts' first request goes out beside the run's record, not after it
  const firstHistory = tab === "charts"
    ? api(base + "/history" + qs({ x: "step", samples: HISTORY_SAMPLES }), { signal: ctx.signal }) : null;
  firstHistory?.catch(() => {});
  let run = await api(base, { signal: ctx.signal });
  document.title = `${run.name || run.id} · ${project} · Arty`;
  const tabs = TABS;
  if (!tabs.some((t) => t.id === tab)) throw new ApiError(404, `tab '${tab}' not found`, "tabs: " + tabs.map((t) => t.id).join(", "));

  const headState = h("span", null, stateBadge(run.state));
  const headName = h("span", null, run.name || run.id);
  const body = h("div", { class: "tab-body", id: "tab-" + tab });
  fill(ctx.root,
    h("div", { class: "page-head" },
      h("h1", null, headName, " ", headState),
      h("span", { class: "muted mono", title: "run id" }, run.id)),
    tabBar(tabs, tab, (id) => runUrl(project, run.id, id)),
    body);

  const env = { ctx, project, base, run, body, firstHistory };
  const pages = { overview, charts, system, console: consoleTab, files, artifacts, media: mediaTab };
  const update = await pages[tab](env);

  const isLive = () => run.state === "running";
  document.getElementById("live").hidden = !isLive();
  ctx.every(LIVE_MS, async () => {
    if (!isLive()) return;
    run = await api(base, { signal: ctx.signal });
    env.run = run;
    fill(headState, stateBadge(run.state));
    fill(headName, run.name || run.id);
    document.getElementById("live").hidden = !isLive();
    if (update) await update(run);
  });
}

// -- overview ---------------------------------------------------------------------------------------

async function overview(env) {
  const { ctx, project, base, body } = env;
  const status = h("div", { class: "form-status", id: "edit-status" });
  const nameInput = h("input", { type: "text", id: "name-input", class: "grow" });
  const notesInput = h("textarea", { id: "notes-input", rows: "3", class: "grow" });
  const tagsInput = h("input", { type: "text", id: "tags-input", class: "grow", placeholder: "comma, separated, tags" });
  const notesView = h("div", { class: "notes-view", id: "notes" });
  const tagsView = h("div", { id: "tags" });
  const infoBox = h("div");
  const configBox = h("div");
  const summaryBox = h("div");
  const gitBox = h("div");

  function setForm(run) {
    nameInput.value = run.name || "";
    notesInput.value = run.notes || "";
    tagsInput.value = (run.tags || []).join(", ");
    fill(notesView, run.notes ? run.notes : h("span", { class: "muted" }, "no notes"));
    fill(tagsView, run.tags?.length ? tagChips(run.tags) : h("span", { class: "muted" }, "no tags"));
  }

  function info(run) {
    const rows = [
      ["State", stateBadge(run.state)],
      ["Created", fmtTime(run.created_at)],
      ["Finished", run.finished_at ? fmtTime(run.finished_at) : "—"],
      ["Runtime", fmtDuration(run.runtime)],
      ["Steps", run.steps ?? "—"],
      ["Exit code", run.exit_code ?? "—"],
      run.error ? ["Error", h("pre", { class: "inline-pre" }, run.error)] : null,
      ["Group", run.group || "—"], ["Job type", run.job_type || "—"],
      ["Host", run.host || "—"], ["User", run.user || "—"], ["Python", run.python || "—"],
      ["Command", h("code", null, Array.isArray(run.command) ? run.command.join(" ") : run.command || "—")],
      ["Mode", run.mode || "—"],
    ].filter(Boolean);
    return h("table", { class: "kv", id: "run-info" },
      h("tbody", null, rows.map(([k, v]) => h("tr", null, h("th", null, k), h("td", null, v)))));
  }

  async function gitSection(run) {
    const git = run.git;
    const parts = [h("h2", null, "Code")];
    if (!git) parts.push(h("p", { class: "muted" }, "no git repository recorded"));
    else {
      const shown = { commit: git.commit, branch: git.branch, remote: git.remote, dirty: git.is_dirty,
        "untracked files": git.untracked_count || undefined };
      parts.push(kvTable(Object.fromEntries(Object.entries(shown).filter(([, v]) => v != null)), { id: "git" }));
    }
    try {
      const files = await api(base + "/files", { signal: ctx.signal });
      if (files.some((f) => f.path === "diff.patch")) {
        const res = await fetch(`/api${base}/files/diff.patch`, { signal: ctx.signal });
        if (res.ok) {
          const text = await res.text();
          parts.push(h("details", { class: "diff", open: text.length < 20000 },
            h("summary", null, `Uncommitted diff (${text.split("\n").length} lines)`),
            h("pre", { id: "git-diff", class: "diff" }, text.split("\n").map((line) =>
              h("span", { class: line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : null },
                line + "\n")))));
        }
      }
    } catch (err) {
      if (err.name === "AbortError") throw err;
    }
    return parts;
  }

  const form = h("form", { class: "edit", id: "edit-form" },
    h("label", null, "Name", nameInput), h("label", null, "Notes", notesInput), h("label", null, "Tags", tagsInput),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", id: "save-edit" }, "Save"), status));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const patch = {
      name: nameInput.value.trim(), notes: notesInput.value,
      tags: tagsInput.value.split(",").map((t) => t.trim()).filter(Boolean),
    };
    if (!patch.name) delete patch.name;
    flash(status, "saving…", "busy");
    try {
      const updated = await write(base, { method: "PATCH", body: patch, signal: ctx.signal }, askToken);
      env.run = { ...env.run, ...updated };
      setForm(env.run);
      flash(status, "saved");
    } catch (err) {
      if (err.name === "AbortError") return;
      fill(status, errorBox(err));
    }
  });

  function draw(run) {
    fill(infoBox, info(run));
    fill(configBox, kvTable(run.config, { id: "config", empty: "no config" }));
    fill(summaryBox, kvTable(run.summary, { id: "summary", empty: "no summary yet" }));
  }
  setForm(env.run);
  draw(env.run);
  fill(body, h("div", { class: "columns" },
    h("div", null, h("h2", null, "Notes"), notesView, h("h2", null, "Tags"), tagsView,
      h("details", { class: "editor" }, h("summary", { id: "edit-toggle" }, "Edit name, notes and tags"), form),
      h("h2", null, "Run"), infoBox),
    h("div", null, h("h2", null, "Config"), configBox, h("h2", null, "Summary"), summaryBox, gitBox)));
  fill(gitBox, await gitSection(env.run));
  return async (run) => draw(run);
}

// -- charts -------------------------------------------------------------------------------------------

function chartControls(state, redraw) {
  const x = h("select", { id: "chart-x", "aria-label": "x axis" }, h("option", { value: "step" }, "step"),
    h("option", { value: "_runtime" }, "relative time (s)"), h("option", { value: "_timestamp" }, "wall time"));
  x.value = state.x;
  const sm = h("input", { type: "range", id: "smoothing", min: "0", max: "0.99", step: "0.01", value: String(state.smoothing) });
  const smLabel = h("span", { class: "muted" }, state.smoothing.toFixed(2));
  const log = h("input", { type: "checkbox", id: "log-y", checked: state.logY });
  const keys = h("input", { type: "search", id: "chart-keys", placeholder: "metrics (regex)", value: state.keyFilter });
  x.addEventListener("change", () => { state.x = x.value; redraw(true); });
  sm.addEventListener("input", () => { smLabel.textContent = Number(sm.value).toFixed(2); });
  sm.addEventListener("change", () => { state.smoothing = Number(sm.value); redraw(false); });
  log.addEventListener("change", () => { state.logY = log.checked; redraw(false); });
  keys.addEventListener("input", debounce(() => { state.keyFilter = keys.value; redraw(false); }, 300));
  return h("div", { class: "toolbar small" }, h("label", null, "x ", x), h("label", null, "smoothing ", sm, smLabel),
    h("label", null, log, " log y"), keys);
}

/** Draw one chart per numeric series of ``res`` into ``box``, reusing chart elements by key. */
async function drawSeries(box, res, state, { exclude = () => false } = {}) {
  let keyRe = null;
  try { keyRe = state.keyFilter ? new RegExp(state.keyFilter) : null; } catch { keyRe = null; }
  const xName = res.x || state.x;
  const all = Object.keys(res.series || {}).filter((k) => !k.startsWith("_") && k !== xName && !exclude(k)
    && isNumeric(res.series[k]) && (!keyRe || keyRe.test(k))).sort();
  const keys = all.slice(0, MAX_CHARTS);
  const existing = new Map([...box.querySelectorAll(".chart")].map((el) => [el.dataset.key, el]));
  const els = keys.map((k) => existing.get(k) || chartBox(k));
  fill(box, els);
  if (!keys.length) box.append(h("p", { class: "muted empty" }, "Nothing logged to chart yet."));
  if (all.length > keys.length) {
    box.append(h("p", { class: "muted more" },
      `${all.length - keys.length} more metrics not drawn: the metrics box (a regular expression) picks which.`));
  }
  const isTime = xName === "_timestamp";
  await Promise.all(keys.map((k, i) => {
    const s = res.series[k];
    const xs = isTime ? s.x.map((t) => (typeof t === "number" ? t * 1000 : t)) : s.x;
    return lineChart(els[i], { title: k, lines: [{ name: k, x: xs, y: s.y, color: COLORS[0] }],
      xTitle: X_TITLES[xName] || xName, logY: state.logY, smoothing: state.smoothing, xIsTime: isTime });
  }));
  box.dataset.charts = String(keys.length);
  (window.__arty ||= {}).chartsReady = performance.now();
  return keys;
}

async function charts(env) {
  const { ctx, base, body } = env;
  const state = { x: "step", smoothing: 0, logY: false, keyFilter: "" };
  const box = h("div", { class: "charts wide", id: "run-charts" });
  const note = h("p", { class: "muted", id: "points-note" });
  let res = null;
  let first = env.firstHistory;
  const load = async () => {
    res = first && state.x === "step" ? await first
      : await api(base + "/history" + qs({ x: state.x, samples: HISTORY_SAMPLES }), { signal: ctx.signal });
    first = null;
    const perKey = Object.values(res.series || {}).reduce((n, s) => Math.max(n, s.x.length), 0);
    note.textContent = res.total_points != null
      ? `${res.total_points.toLocaleString()} points logged; up to ${perKey.toLocaleString()} drawn per metric.` : "";
  };
  const redraw = async (reload) => {
    if (reload) await load();
    await drawSeries(box, res, state);
  };
  fill(body, chartControls(state, (reload) => redraw(reload).catch(showError(box))), note, box);
  await redraw(true);
  return () => redraw(true);
}

function showError(box) {
  return (err) => { if (err.name !== "AbortError") fill(box, errorBox(err)); };
}

// -- system ------------------------------------------------------------------------------------------

async function system(env) {
  const { ctx, base, body } = env;
  const state = { x: "_runtime", smoothing: 0, logY: false, keyFilter: "" };
  const box = h("div", { class: "charts wide", id: "system-charts" });
  let res = null;
  const load = async () => { res = await api(base + "/system" + qs({ samples: 1000 }), { signal: ctx.signal }); };
  const redraw = async (reload) => {
    if (reload) await load();
    const keys = await drawSeries(box, res, state);
    if (!keys.length) fill(box, h("p", { class: "muted empty" }, "No system metrics recorded."));
  };
  const keys = h("input", { type: "search", id: "chart-keys", placeholder: "metrics (regex)" });
  keys.addEventListener("input", debounce(() => { state.keyFilter = keys.value; redraw(false).catch(showError(box)); }, 300));
  fill(body, h("div", { class: "toolbar small" }, keys), box);
  await redraw(true);
  return () => redraw(true);
}

// -- console -----------------------------------------------------------------------------------------

async function consoleTab(env) {
  const { ctx, base, body } = env;
  let query = ctx.query.get("q") || "";
  let offset = null;  // null: the last page
  const search = h("input", { type: "search", id: "console-search", placeholder: "search the output", value: query, class: "grow" });
  const pre = h("div", { class: "console", id: "console", role: "log" });
  const foot = h("div", { class: "pane-foot" });
  const load = async () => {
    let res = await api(base + "/console" + qs({ q: query, offset: offset ?? 0, limit: CONSOLE_PAGE }), { signal: ctx.signal });
    if (offset === null && res.total > CONSOLE_PAGE) {
      res = await api(base + "/console" + qs({ q: query, offset: res.total - CONSOLE_PAGE, limit: CONSOLE_PAGE }),
        { signal: ctx.signal });
    }
    const start = offset ?? Math.max(0, res.total - CONSOLE_PAGE);
    const follow = offset === null && pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
    fill(pre, res.lines.length ? res.lines.map((l) => h("div", { class: ["line", l.stream === "stderr" ? "stderr" : null] },
      h("span", { class: "t" }, typeof l.time === "number" ? new Date(l.time * 1000).toLocaleTimeString() : fmtTime(l.time)),
      h("span", { class: "text" }, highlight(String(l.text ?? ""), query))))
      : h("p", { class: "muted empty" }, query ? `No lines match '${query}'.` : "No console output recorded."));
    fill(foot, h("span", { class: "muted", id: "console-total" },
      query ? `${res.total} matching lines` : `${res.total} lines`), " ",
    pagerEl(start, CONSOLE_PAGE, res.total, (o) => { offset = o; load().catch(showError(pre)); }));
    if (follow) pre.scrollTop = pre.scrollHeight;
  };
  search.addEventListener("input", debounce(() => {
    query = search.value;
    offset = null;
    const q = new URLSearchParams(location.search);
    if (query) q.set("q", query); else q.delete("q");
    ctx.setQuery([...q]);
    load().catch(showError(pre));
  }, 250));
  fill(body, h("div", { class: "toolbar small" }, search), pre, foot);
  await load();
  pre.scrollTop = pre.scrollHeight;
  return () => (offset === null ? load() : null);
}

// -- files -------------------------------------------------------------------------------------------

async function files(env) {
  const { ctx, base, body } = env;
  const draw = async () => {
    const list = await api(base + "/files", { signal: ctx.signal });
    fill(body, list.length ? h("table", { class: "grid", id: "run-files" },
      h("thead", null, h("tr", null, h("th", null, "File"), h("th", { class: "num" }, "Size"), h("th", null, ""))),
      h("tbody", null, [...list].sort((a, b) => a.path.localeCompare(b.path)).map((f) => h("tr", { dataset: { path: f.path } },
        h("td", { class: "mono" }, h("a", { href: `/api${base}/files/${filePath(f.path)}`, target: "_blank", rel: "noopener" }, f.path)),
        h("td", { class: "num" }, fmtBytes(f.size)),
        h("td", null, h("a", { href: `/api${base}/files/${filePath(f.path)}`, download: f.path.split("/").pop() }, "download"))))))
      : h("p", { class: "muted empty" }, "No files saved with this run."));
  };
  await draw();
  return draw;
}

// -- artifacts ---------------------------------------------------------------------------------------

function artifactTable(id, rows, project) {
  if (!rows?.length) return h("p", { class: "muted", id }, "none");
  return h("table", { class: "grid", id },
    h("thead", null, h("tr", null, h("th", null, "Artifact"), h("th", null, "Type"), h("th", null, "Aliases"),
      h("th", null, "Digest"))),
    h("tbody", null, rows.map((a) => {
      const p = a.project || project;
      const v = typeof a.version === "number" ? "v" + a.version : a.version;
      return h("tr", null,
        h("td", null, h("a", { href: versionUrl(p, a.name, v) }, (p !== project ? p + "/" : "") + `${a.name}:${v}`)),
        h("td", null, a.type || ""),
        h("td", null, h("span", { class: "tags" }, (a.aliases || []).map((al) =>
          h("span", { class: ["tag", "alias", al === "latest" ? "latest" : null] }, al)))),
        h("td", { class: "mono", title: a.digest || "" }, shortDigest(a.digest)));
    })));
}

async function artifacts(env) {
  const draw = (run) => fill(env.body,
    h("h2", null, "Used"), artifactTable("used-artifacts", run.artifacts?.used, env.project),
    h("h2", null, "Produced"), artifactTable("logged-artifacts", run.artifacts?.logged, env.project));
  draw(env.run);
  return draw;
}

// -- media -------------------------------------------------------------------------------------------

async function mediaTab(env) {
  return renderMedia(env);
}
