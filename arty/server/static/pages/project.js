// A project: the runs table (choosable config and summary columns, sort, filter, group by a
// config key with aggregates, selection) beside a charts panel with the selected runs' history.

import { api, qs } from "../api.js";
import { COLORS, X_TITLES, band, chartBox, isNumeric, lineChart, loadPlotly } from "../charts.js";
import {
  artifactsUrl, debounce, errorBox, fill, fmtDuration, fmtValue, h, parseTime, projectUrl, runUrl, seg, stateBadge,
  tagChips, timeEl,
} from "../dom.js";

const PAGE = 50;
const GROUP_LIMIT = 1000;
const DEFAULT_KEYS = 5;
const MAX_CHARTS = 30;
const RUNS_PER_GROUP = 20;
const STATES = ["running", "finished", "crashed", "failed"];
const EXPR = /^\s*([^=<>!~\s]+)\s*(>=|<=|!=|=|>|<|~)\s*(.*?)\s*$/s;
const FILTER_HINT = "KEY=VALUE, KEY!=VALUE, KEY>VALUE, KEY>=VALUE, KEY<VALUE, KEY<=VALUE, KEY~REGEX, a name, "
  + "or a JSON object";
const OPS = { "=": null, "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte", "~": "$regex" };

/** One filter expression (as `art runs --filter` takes it) to a W&B-style filter object. */
export function parseFilter(expr) {
  const text = expr.trim();
  if (text.startsWith("{")) {
    let value;
    try { value = JSON.parse(text); } catch (err) {
      throw Object.assign(new Error(`invalid filter '${text}': ${err.message}`), { hint: FILTER_HINT });
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw Object.assign(new Error(`invalid filter '${text}': not a JSON object`), { hint: FILTER_HINT });
    }
    return value;
  }
  const m = EXPR.exec(text);
  if (!m) return { name: { $regex: text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") } };  // a bare word: name search
  const [, key, op, raw] = m;
  const bad = (why) => Object.assign(new Error(`invalid filter '${text}': ${why}`), { hint: FILTER_HINT });
  if (op !== "~" && /^[=<>!~]/.test(raw)) throw bad(`'${op}${raw.match(/^[=<>!~]+/)[0]}' is not an operator`);
  if (!raw) throw bad(`no value after '${op}'`);
  let value = raw;
  if (op !== "~") { try { value = JSON.parse(raw); } catch { value = raw; } }
  return OPS[op] === null ? { [key]: value } : { [key]: { [OPS[op]]: value } };
}

function selectionKey(project) { return "arty-selection:" + project; }

function loadSelection(project) {
  try {
    const raw = sessionStorage.getItem(selectionKey(project));
    return raw ? new Map(JSON.parse(raw)) : null;
  } catch { return null; }
}

function saveSelection(project, sel) {
  try { sessionStorage.setItem(selectionKey(project), JSON.stringify([...sel])); } catch { /* ignore */ }
}

function columnValue(run, col) {
  if (col.startsWith("config.")) return run.config?.[col.slice(7)];
  if (col.startsWith("summary.")) return run.summary?.[col.slice(8)];
  return run[col];
}

/** Seconds since ``t`` (a running run's runtime so far). */
function elapsed(t) {
  const d = parseTime(t);
  return d ? (Date.now() - d.getTime()) / 1000 : null;
}

function visibleKeys(keys) {
  return (keys || []).filter((k) => !k.startsWith("_"));
}

export async function render(ctx) {
  const { project } = ctx.params;
  document.title = `${project} · Arty`;
  loadPlotly().catch(() => {});  // fetched beside the runs
  const q = ctx.query;
  const state = {
    filters: q.getAll("f"),
    runState: q.get("state") || "",
    tag: q.get("tag") || "",
    order: q.get("order") || "-created_at",
    group: q.get("group") || "",
    cols: q.has("cols") ? q.get("cols").split(",").filter(Boolean) : null,
    offset: Number(q.get("offset")) || 0,
    x: q.get("x") || "step",
    smoothing: Number(q.get("smooth")) || 0,
    logY: q.get("log") === "1",
    keyFilter: q.get("keys") || "",
    addRuns: q.get("addruns") === "1",  // also the runs 'art add' records (hidden by default)
  };
  let selection = loadSelection(project);
  let data = null;         // the last runs response
  const histories = new Map();  // `${runId}|${x}` -> history response
  const knownTags = new Set();

  const saveQuery = () => {
    const p = [];
    state.filters.forEach((f) => p.push(["f", f]));
    if (state.runState) p.push(["state", state.runState]);
    if (state.tag) p.push(["tag", state.tag]);
    if (state.order !== "-created_at") p.push(["order", state.order]);
    if (state.group) p.push(["group", state.group]);
    if (state.cols) p.push(["cols", state.cols.join(",")]);
    if (state.offset) p.push(["offset", String(state.offset)]);
    if (state.x !== "step") p.push(["x", state.x]);
    if (state.smoothing) p.push(["smooth", String(state.smoothing)]);
    if (state.logY) p.push(["log", "1"]);
    if (state.keyFilter) p.push(["keys", state.keyFilter]);
    if (state.addRuns) p.push(["addruns", "1"]);
    ctx.setQuery(p);
  };

  // -- layout ---------------------------------------------------------------------------------
  const filterInput = h("input", { type: "search", id: "filter-input", class: "grow",
    placeholder: "filter: config.lr>0.001   summary.acc>=0.9   tags=baseline   name~^base   (Enter adds)",
    "aria-label": "add a filter" });
  const chips = h("span", { class: "chips", id: "filter-chips" });
  const stateSelect = h("select", { id: "state-filter", "aria-label": "state" },
    h("option", { value: "" }, "any state"), STATES.map((s) => h("option", { value: s }, s)));
  stateSelect.value = state.runState;
  const tagSelect = h("select", { id: "tag-filter", "aria-label": "tag" });
  const addRunsInput = h("input", { type: "checkbox", id: "add-runs", checked: state.addRuns,
    title: "also the runs 'art add' records as the producers of versions" });
  const groupSelect = h("select", { id: "group-by", "aria-label": "group by" });
  const columnsMenu = h("details", { class: "menu", id: "columns" }, h("summary", null, "Columns"),
    h("div", { class: "menu-body" }));
  const message = h("div", { class: "message" });
  const table = h("table", { class: "grid runs", id: "runs-table" });
  const pager = h("div", { class: "pager" });
  const count = h("span", { class: "muted", id: "run-count" });

  const xSelect = h("select", { id: "chart-x", "aria-label": "x axis" },
    h("option", { value: "step" }, "step"), h("option", { value: "_runtime" }, "relative time (s)"),
    h("option", { value: "_timestamp" }, "wall time"));
  xSelect.value = state.x;
  const smoothInput = h("input", { type: "range", id: "smoothing", min: "0", max: "0.99", step: "0.01",
    value: String(state.smoothing), "aria-label": "smoothing" });
  const smoothLabel = h("span", { class: "muted" }, state.smoothing.toFixed(2));
  const logInput = h("input", { type: "checkbox", id: "log-y", checked: state.logY });
  const keyInput = h("input", { type: "search", id: "chart-keys", placeholder: "metrics (regex)", value: state.keyFilter });
  const chartsBox = h("div", { class: "charts", id: "project-charts" });
  const chartsNote = h("p", { class: "muted" });

  fill(ctx.root,
    h("div", { class: "page-head" }, h("h1", null, project),
      h("nav", { class: "tabs" }, h("a", { href: projectUrl(project), class: "active" }, "Runs"),
        h("a", { href: artifactsUrl(project) }, "Artifacts"))),
    h("div", { class: "toolbar" }, filterInput, stateSelect, tagSelect,
      h("label", null, "group by ", groupSelect), h("label", null, addRunsInput, " art add runs"), columnsMenu),
    chips, message,
    h("div", { class: "split" },
      h("section", { class: "runs-pane" }, h("div", { class: "table-wrap" }, table), h("div", { class: "pane-foot" }, count, pager)),
      h("section", { class: "charts-pane" },
        h("div", { class: "toolbar small" }, h("label", null, "x ", xSelect),
          h("label", null, "smoothing ", smoothInput, smoothLabel),
          h("label", null, logInput, " log y"), keyInput),
        chartsNote, chartsBox)));

  // -- filters ----------------------------------------------------------------------------------
  function drawChips() {
    fill(chips, state.filters.map((f, i) => h("span", { class: "chip", dataset: { filter: f } }, f,
      h("button", { type: "button", class: "x", title: "remove this filter", "aria-label": `remove filter ${f}`,
        onclick: () => { state.filters.splice(i, 1); state.offset = 0; go(); } }, "×"))));
  }

  function filterObject() {
    const parts = state.filters.map(parseFilter);
    if (state.runState) parts.push({ state: state.runState });
    if (state.tag) parts.push({ tags: state.tag });
    if (!parts.length) return null;
    return parts.length === 1 ? parts[0] : { $and: parts };
  }

  filterInput.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    const text = filterInput.value.trim();
    if (!text) return;
    try { parseFilter(text); } catch (err) { fill(message, errorBox(err)); return; }
    state.filters.push(text);
    filterInput.value = "";
    state.offset = 0;
    go();
  });
  stateSelect.addEventListener("change", () => { state.runState = stateSelect.value; state.offset = 0; go(); });
  tagSelect.addEventListener("change", () => { state.tag = tagSelect.value; state.offset = 0; go(); });
  groupSelect.addEventListener("change", () => { state.group = groupSelect.value; state.offset = 0; go(); });
  addRunsInput.addEventListener("change", () => { state.addRuns = addRunsInput.checked; state.offset = 0; go(); });
  xSelect.addEventListener("change", () => { state.x = xSelect.value; saveQuery(); redrawCharts(); });
  smoothInput.addEventListener("input", () => { smoothLabel.textContent = Number(smoothInput.value).toFixed(2); });
  smoothInput.addEventListener("change", () => { state.smoothing = Number(smoothInput.value); saveQuery(); redrawCharts(); });
  logInput.addEventListener("change", () => { state.logY = logInput.checked; saveQuery(); redrawCharts(); });
  keyInput.addEventListener("input", debounce(() => { state.keyFilter = keyInput.value; saveQuery(); redrawCharts(); }, 300));

  // -- data -------------------------------------------------------------------------------------
  async function load() {
    const grouped = !!state.group;
    return api(`/projects/${seg(project)}/runs` + qs({
      filters: filterObject(), order: state.order, add_runs: state.addRuns ? "true" : null,
      limit: grouped ? GROUP_LIMIT : PAGE, offset: grouped ? 0 : state.offset,
    }), { signal: ctx.signal });
  }

  function columns() {
    const config = visibleKeys(data.config_keys).map((k) => "config." + k);
    const summary = visibleKeys(data.summary_keys).map((k) => "summary." + k);
    if (!state.cols) return [...config.slice(0, DEFAULT_KEYS), ...summary.slice(0, DEFAULT_KEYS)];
    return state.cols;
  }

  function drawControls() {
    for (const r of data.runs) (r.tags || []).forEach((t) => knownTags.add(t));
    if (state.tag) knownTags.add(state.tag);
    fill(tagSelect, h("option", { value: "" }, "any tag"), [...knownTags].sort().map((t) => h("option", { value: t }, t)));
    tagSelect.value = state.tag;
    const configKeys = visibleKeys(data.config_keys);
    fill(groupSelect, h("option", { value: "" }, "none"), configKeys.map((k) => h("option", { value: k }, k)));
    if (state.group && !configKeys.includes(state.group)) groupSelect.append(h("option", { value: state.group }, state.group));
    groupSelect.value = state.group;
    const chosen = new Set(columns());
    const box = columnsMenu.querySelector(".menu-body");
    const option = (col) => h("label", { class: "menu-item" },
      h("input", { type: "checkbox", checked: chosen.has(col), dataset: { col },
        onchange: (ev) => {
          const cols = columns().filter((c) => c !== col);
          if (ev.target.checked) cols.push(col);
          state.cols = cols;
          saveQuery();
          drawTable();
        } }), " ", col);
    fill(box,
      h("div", { class: "menu-head" }, "config"), visibleKeys(data.config_keys).map((k) => option("config." + k)),
      h("div", { class: "menu-head" }, "summary"), visibleKeys(data.summary_keys).map((k) => option("summary." + k)));
  }

  // -- table --------------------------------------------------------------------------------------
  function header(label, key) {
    const desc = state.order === "-" + key;
    const asc = state.order === key;
    const th = h("th", { class: ["sortable", asc || desc ? "sorted" : null], dataset: { sort: key },
      "aria-sort": asc ? "ascending" : desc ? "descending" : "none", title: `sort by ${key}` },
    label, asc ? " ▲" : desc ? " ▼" : "");
    th.addEventListener("click", () => {
      state.order = asc ? "-" + key : key;
      state.offset = 0;
      go();
    });
    return th;
  }

  function runRow(r, cols) {
    const checked = selection.has(r.id);
    return h("tr", { dataset: { run: r.id }, class: checked ? "selected" : null },
      h("td", { class: "sel" }, h("input", { type: "checkbox", checked, "aria-label": `select ${r.name || r.id}`,
        onchange: (ev) => {
          if (ev.target.checked) selection.set(r.id, r.name || r.id); else selection.delete(r.id);
          ev.target.closest("tr").classList.toggle("selected", ev.target.checked);
          saveSelection(project, selection);
          redrawCharts();
        } })),
      h("td", { class: "name" }, h("a", { href: runUrl(project, r.id) }, r.name || r.id)),
      h("td", null, stateBadge(r.state)),
      h("td", null, timeEl(r.created_at)),
      h("td", { class: "num" }, fmtDuration(r.runtime ?? (r.state === "running" ? elapsed(r.created_at) : null))),
      h("td", null, tagChips(r.tags)),
      h("td", { class: "notes", title: r.notes || "" }, r.notes || ""),
      cols.map((c) => {
        const v = columnValue(r, c);
        return h("td", { class: typeof v === "number" ? "num" : null, dataset: { col: c } }, fmtValue(v));
      }));
  }

  function aggregate(runs, col) {
    const nums = runs.map((r) => columnValue(r, col)).filter((v) => typeof v === "number" && isFinite(v));
    if (!nums.length) {
      const vals = new Set(runs.map((r) => fmtValue(columnValue(r, col))));
      return vals.size === 1 ? [...vals][0] : vals.size ? `${vals.size} values` : "";
    }
    const mean = nums.reduce((a, b) => a + b, 0) / nums.length;
    const lo = Math.min(...nums);
    const hi = Math.max(...nums);
    if (lo === hi) return fmtValue(lo);
    return `${fmtValue(mean)} (${fmtValue(lo)}–${fmtValue(hi)})`;
  }

  function groups() {
    const map = new Map();
    for (const r of data.runs) {
      const v = r.config?.[state.group];
      const key = v === undefined ? "(none)" : fmtValue(v);
      if (!map.has(key)) map.set(key, []);
      map.get(key).push(r);
    }
    return map;
  }

  function drawTable() {
    const cols = columns();
    const allSelected = data.runs.length > 0 && data.runs.every((r) => selection.has(r.id));
    const selectAll = h("input", { type: "checkbox", checked: allSelected, "aria-label": "select all runs shown",
      onchange: (ev) => {
        for (const r of data.runs) {
          if (ev.target.checked) selection.set(r.id, r.name || r.id); else selection.delete(r.id);
        }
        saveSelection(project, selection);
        drawTable();
        redrawCharts();
      } });
    const head = h("tr", null, h("th", { class: "sel" }, selectAll), header("Name", "name"), header("State", "state"),
      header("Created", "created_at"), header("Runtime", "runtime"), h("th", null, "Tags"), header("Notes", "notes"),
      cols.map((c) => header(c.replace(/^(config|summary)\./, ""), c)));
    head.querySelectorAll("th[data-sort^='config.']").forEach((th) => th.classList.add("col-config"));
    head.querySelectorAll("th[data-sort^='summary.']").forEach((th) => th.classList.add("col-summary"));
    let body;
    if (state.group) {
      body = [];
      for (const [value, runs] of groups()) {
        const open = h("button", { type: "button", class: "expander", "aria-expanded": "false" }, "▸");
        const members = runs.map((r) => {
          const tr = runRow(r, cols);
          tr.hidden = true;
          tr.classList.add("member");
          return tr;
        });
        open.addEventListener("click", () => {
          const expanded = open.getAttribute("aria-expanded") !== "true";
          open.setAttribute("aria-expanded", String(expanded));
          open.textContent = expanded ? "▾" : "▸";
          members.forEach((tr) => { tr.hidden = !expanded; });
        });
        body.push(h("tr", { class: "group-row", dataset: { group: value } },
          h("td", { class: "sel" }, open),
          h("td", { class: "name", colspan: "6" }, h("strong", null, `${state.group} = ${value}`), " ",
            h("span", { class: "muted" }, `${runs.length} run${runs.length === 1 ? "" : "s"}`)),
          cols.map((c) => h("td", { class: "num agg", dataset: { col: c } }, aggregate(runs, c)))), ...members);
      }
    } else {
      body = data.runs.map((r) => runRow(r, cols));
    }
    fill(table, h("thead", null, head),
      h("tbody", null, body.length ? body : h("tr", null, h("td", { colspan: String(7 + cols.length), class: "empty" },
        "No runs match."))));
    const shown = data.runs.length;
    fill(count, state.group
      ? `${data.total} runs in ${groups().size} groups` + (data.total > shown ? ` (first ${shown} grouped)` : "")
      : `${data.total} runs` + (data.total > shown ? `, ${state.offset + 1}–${state.offset + shown} shown` : ""));
    fill(pager);
    if (!state.group && data.total > PAGE) {
      pager.append(
        h("button", { type: "button", disabled: state.offset === 0,
          onclick: () => { state.offset = Math.max(0, state.offset - PAGE); go(); } }, "‹ Previous"),
        h("button", { type: "button", disabled: state.offset + PAGE >= data.total,
          onclick: () => { state.offset += PAGE; go(); } }, "Next ›"));
    }
  }

  // -- charts -------------------------------------------------------------------------------------
  async function history(runId, force = false) {
    const key = `${runId}|${state.x}`;
    if (!force && histories.has(key)) return histories.get(key);
    const res = await api(`/projects/${seg(project, "runs", runId)}/history` + qs({ x: state.x, samples: 500 }),
      { signal: ctx.signal });
    histories.set(key, res);
    return res;
  }

  function xValues(xs) {
    return state.x === "_timestamp" ? xs.map((t) => (typeof t === "number" ? t * 1000 : t)) : xs;
  }

  let drawing = 0;
  async function drawCharts(force = false) {
    const ticket = ++drawing;
    let keyRe = null;
    try { keyRe = state.keyFilter ? new RegExp(state.keyFilter) : null; } catch { keyRe = null; }
    let lineSets;  // [{name, color, runs:[{id,name}]}]
    if (state.group) {
      lineSets = [...groups()].map(([value, runs], i) => ({ name: `${state.group}=${value}`, color: COLORS[i % COLORS.length],
        runs: runs.slice(0, RUNS_PER_GROUP).map((r) => ({ id: r.id, name: r.name || r.id })) }));
      chartsNote.textContent = `Each group drawn as its mean with a min–max band (${lineSets.length} groups).`;
    } else {
      // the charts follow the table: with a filter on, only the selected runs it lets through
      const shown = new Set(data.runs.map((r) => r.id));
      const filtered = state.filters.length || state.runState || state.tag;
      const drawn = [...selection].filter(([id]) => !filtered || shown.has(id));
      lineSets = drawn.map(([id, name], i) => ({ name, color: COLORS[i % COLORS.length], runs: [{ id, name }] }));
      const hidden = selection.size - drawn.length;
      chartsNote.textContent = (lineSets.length ? `${lineSets.length} selected run${lineSets.length === 1 ? "" : "s"}.`
        : "Select runs in the table to chart their history.") + (hidden ? ` ${hidden} selected hidden by the filter.` : "");
    }
    const running = new Set(data.runs.filter((r) => r.state === "running").map((r) => r.id));
    const results = await Promise.all(lineSets.map((set) => Promise.all(set.runs.map((r) =>
      history(r.id, force && running.has(r.id)).catch((err) => {
        if (err.name === "AbortError") throw err;
        return { series: {}, keys: [], error: err };
      })))));
    if (ticket !== drawing || !ctx.alive()) return;
    const keys = new Set();
    results.flat().forEach((res) => Object.entries(res.series || {}).forEach(([k, s]) => {
      if (!k.startsWith("_") && k !== state.x && isNumeric(s)) keys.add(k);
    }));
    const chosen = [...keys].sort().filter((k) => !keyRe || keyRe.test(k)).slice(0, MAX_CHARTS);
    const existing = new Map([...chartsBox.querySelectorAll(".chart")].map((el) => [el.dataset.key, el]));
    const els = chosen.map((k) => existing.get(k) || chartBox(k));
    fill(chartsBox, els);
    if (!chosen.length && lineSets.length) chartsBox.append(h("p", { class: "muted" }, "No numeric history to draw."));
    await Promise.all(chosen.map((k, i) => {
      const lines = lineSets.map((set, j) => {
        const series = results[j].map((res) => res.series?.[k]).filter(Boolean);
        if (!series.length) return null;
        if (state.group) {
          const b = band(series);
          return { name: set.name, color: set.color, x: xValues(b.x), y: b.mean,
            band: { x: xValues(b.x), min: b.min, max: b.max } };
        }
        return { name: set.name, color: set.color, x: xValues(series[0].x), y: series[0].y };
      }).filter(Boolean);
      return lineChart(els[i], { title: k, lines, xTitle: X_TITLES[state.x] || state.x,
        logY: state.logY, smoothing: state.smoothing, xIsTime: state.x === "_timestamp" });
    }));
  }

  // -- refresh ------------------------------------------------------------------------------------
  async function refresh({ live = false } = {}) {
    saveQuery();
    drawChips();
    try {
      data = await load();
    } catch (err) {
      if (err.name === "AbortError" || (!data && err.status === 404)) throw err;  // no such project
      fill(message, errorBox(err));
      if (!data) data = { total: 0, runs: [], config_keys: [], summary_keys: [] };
      return;
    }
    fill(message);
    if (selection === null) {
      selection = new Map(data.runs.slice(0, 5).map((r) => [r.id, r.name || r.id]));
      saveSelection(project, selection);
    }
    drawControls();
    drawTable();
    await drawCharts(live);
  }

  function redrawCharts() {
    drawCharts().catch((err) => { if (err.name !== "AbortError" && ctx.alive()) fill(chartsBox, errorBox(err)); });
  }

  /** refresh() from an event handler: errors are shown, never thrown into the void. */
  function go() {
    refresh().catch((err) => { if (err.name !== "AbortError" && ctx.alive()) fill(message, errorBox(err)); });
  }

  await refresh();
  const anyRunning = () => data.runs.some((r) => r.state === "running");
  ctx.every(5000, async () => {
    if (!anyRunning()) return;
    document.getElementById("live").hidden = false;
    if (!columnsMenu.open) await refresh({ live: true });
  });
  document.getElementById("live").hidden = !anyRunning();
}
