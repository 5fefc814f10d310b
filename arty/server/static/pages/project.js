// A project: the runs table (choosable config and summary columns, sort, filter, group by a
// config key with aggregates, selection) beside a charts panel with the selected runs' history.

import { api, qs } from "../api.js";
import { loadPlotly } from "../charts.js";
import { colorOf, eyeButton, swatch } from "../colors.js";
import {
  debounce, errorBox, fill, fmtDuration, fmtValue, h, parseTime, projectUrl, runUrl, seg, stateBadge,
  projectTabs, tagChips, timeEl,
} from "../dom.js";
import { MediaCompare } from "../mediacompare.js";
import { MAX_COMPARED, compareUrl } from "./compare.js";
import { PanelGrid, X_CHOICES } from "../panels.js";
import { SweepPanels } from "../sweep.js";
import { viewControls } from "../views.js";
import { SPECIAL_GROUPS, defaultColumns, groupColor, groupHidden, groupRuns, lineSets } from "../workspace.js";

const PAGE = 50;
const GROUP_LIMIT = 1000;
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
    group2: q.get("group2") || "",
    hidden: new Set((q.get("hide") || "").split(",").filter(Boolean)),  // run ids and "g:<group key>"
    media: q.get("media") || "",
    view: q.get("view") || "",  // the saved view this page was opened from
    sweep: { metric: q.get("smetric") || "", x: q.get("sx") || "" },
    cols: q.has("cols") ? q.get("cols").split(",").filter(Boolean) : null,
    offset: Number(q.get("offset")) || 0,
    panels: {  // the panel grid's settings (panels.js), kept here so that the URL holds them
      x: q.get("x") || "step",
      smoothing: Number(q.get("smooth")) || 0,
      logY: q.get("log") === "1",
      keyFilter: q.get("keys") || "",
      cols: Number(q.get("pcols")) || 2,
      closed: (q.get("closed") || "").split(",").filter(Boolean),
      panels: (() => { try { return JSON.parse(q.get("panels") || "{}") || {}; } catch { return {}; } })(),
    },
    addRuns: q.get("addruns") === "1",  // also the runs 'art add' records (hidden by default)
  };
  let selection = loadSelection(project);
  let data = null;         // the last runs response
  const knownTags = new Set();

  const saveQuery = () => {
    const p = [];
    state.filters.forEach((f) => p.push(["f", f]));
    if (state.runState) p.push(["state", state.runState]);
    if (state.tag) p.push(["tag", state.tag]);
    if (state.order !== "-created_at") p.push(["order", state.order]);
    if (state.group) p.push(["group", state.group]);
    if (state.group && state.group2) p.push(["group2", state.group2]);
    if (state.hidden.size) p.push(["hide", [...state.hidden].join(",")]);
    if (state.cols) p.push(["cols", state.cols.join(",")]);
    if (state.offset) p.push(["offset", String(state.offset)]);
    const ps = state.panels;
    if (ps.x !== "step") p.push(["x", ps.x]);
    if (ps.smoothing) p.push(["smooth", String(ps.smoothing)]);
    if (ps.logY) p.push(["log", "1"]);
    if (ps.keyFilter) p.push(["keys", ps.keyFilter]);
    if (ps.cols !== 2) p.push(["pcols", String(ps.cols)]);
    if (ps.closed.length) p.push(["closed", ps.closed.join(",")]);
    if (Object.keys(ps.panels).length) p.push(["panels", JSON.stringify(ps.panels)]);
    if (state.sweep.metric) p.push(["smetric", state.sweep.metric]);
    if (state.sweep.x) p.push(["sx", state.sweep.x]);
    if (state.media) p.push(["media", state.media]);
    if (state.addRuns) p.push(["addruns", "1"]);
    if (state.view) p.push(["view", state.view]);
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
  const group2Select = h("select", { id: "group-by-2", "aria-label": "then by" });
  const columnsMenu = h("details", { class: "menu", id: "columns" }, h("summary", null, "Columns"),
    h("div", { class: "menu-body" }));
  const message = h("div", { class: "message" });
  const table = h("table", { class: "grid runs", id: "runs-table" });
  const pager = h("div", { class: "pager" });
  const count = h("span", { class: "muted", id: "run-count" });
  const compareButton = h("button", { type: "button", id: "compare-selected", disabled: true,
    title: "config, summary, charts and media of the selected runs side by side" }, "Compare");
  compareButton.addEventListener("click", () => {
    const ids = [...selection.keys()];
    if (ids.length < 2) return;
    history.pushState(null, "", compareUrl(project, ids));
    window.dispatchEvent(new PopStateEvent("popstate"));
  });
  /** The Compare button: enabled for 2 or more selected runs. */
  const drawCompare = () => {
    const n = selection ? selection.size : 0;
    compareButton.disabled = n < 2;
    compareButton.textContent = n >= 2 ? `Compare ${Math.min(n, MAX_COMPARED)}` : "Compare";
  };

  const xSelect = h("select", { id: "chart-x", "aria-label": "x axis" }, X_CHOICES.map(([v, t]) => h("option", { value: v }, t)));
  xSelect.value = state.panels.x;
  const smoothInput = h("input", { type: "range", id: "smoothing", min: "0", max: "0.99", step: "0.01",
    value: String(state.panels.smoothing), "aria-label": "smoothing" });
  const smoothLabel = h("span", { class: "muted" }, state.panels.smoothing.toFixed(2));
  const logInput = h("input", { type: "checkbox", id: "log-y", checked: state.panels.logY });
  const keyInput = h("input", { type: "search", id: "chart-keys", placeholder: "search metrics", value: state.panels.keyFilter,
    "aria-label": "search metrics" });
  const colsSelect = h("select", { id: "panel-cols", "aria-label": "columns of panels" },
    [1, 2, 3, 4].map((n) => h("option", { value: String(n) }, `${n} column${n > 1 ? "s" : ""}`)));
  colsSelect.value = String(state.panels.cols);
  const chartsBox = h("div", { class: "charts panels", id: "project-charts" });
  const chartsNote = h("p", { class: "muted" });
  const sweepBox = h("details", { class: "workspace-part", id: "sweep", open: !!state.sweep.metric });
  const mediaBox = h("details", { class: "workspace-part", id: "media-compare", open: !!state.media });
  const panelGrid = new PanelGrid({ box: chartsBox, project, signal: ctx.signal, settings: state.panels, onChange: () => saveQuery() });
  const sweep = new SweepPanels({ box: sweepBox, project, signal: ctx.signal, state: state.sweep, onChange: () => saveQuery() });
  const mediaCompare = new MediaCompare({ box: mediaBox, project, signal: ctx.signal,
    onChange: (key) => { state.media = key; saveQuery(); } });
  const views = viewControls({ project, signal: ctx.signal, query: () => location.search,
    selection: () => [...selection], onLoad: (params, sel) => {
      if (sel) saveSelection(project, new Map(sel));
      history.pushState(null, "", projectUrl(project) + (params ? "?" + params : ""));
      window.dispatchEvent(new PopStateEvent("popstate"));
    } });

  fill(ctx.root,
    h("div", { class: "page-head" }, h("h1", null, project),
      projectTabs(project, "runs")),
    h("div", { class: "toolbar" }, filterInput, stateSelect, tagSelect,
      h("label", null, "group by ", groupSelect), h("label", { class: "then-by" }, "then ", group2Select),
      h("label", null, addRunsInput, " art add runs"), columnsMenu),
    chips, message,
    h("div", { class: "split workspace" },
      h("section", { class: "runs-pane" }, h("div", { class: "table-wrap" }, table), h("div", { class: "pane-foot" }, count, compareButton, pager)),
      h("section", { class: "charts-pane" },
        h("div", { class: "toolbar small" }, h("label", null, "x ", xSelect),
          h("label", null, "smoothing ", smoothInput, smoothLabel),
          h("label", null, logInput, " log y"), keyInput, colsSelect, views),
        chartsNote, chartsBox, sweepBox, mediaBox)));

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
  group2Select.addEventListener("change", () => { state.group2 = group2Select.value; state.offset = 0; go(); });
  addRunsInput.addEventListener("change", () => { state.addRuns = addRunsInput.checked; state.offset = 0; go(); });
  xSelect.addEventListener("change", () => { state.panels.x = xSelect.value; saveQuery(); redrawCharts(); });
  smoothInput.addEventListener("input", () => { smoothLabel.textContent = Number(smoothInput.value).toFixed(2); });
  smoothInput.addEventListener("change", () => { state.panels.smoothing = Number(smoothInput.value); saveQuery(); redrawCharts(); });
  logInput.addEventListener("change", () => { state.panels.logY = logInput.checked; saveQuery(); redrawCharts(); });
  keyInput.addEventListener("input", debounce(() => { state.panels.keyFilter = keyInput.value; saveQuery(); redrawCharts(); }, 300));
  colsSelect.addEventListener("change", () => { state.panels.cols = Number(colsSelect.value); saveQuery(); redrawCharts(); });

  // -- data -------------------------------------------------------------------------------------
  async function load() {
    const grouped = !!state.group;
    return api(`/projects/${seg(project)}/runs` + qs({
      filters: filterObject(), order: state.order, add_runs: state.addRuns ? "true" : null,
      limit: grouped ? GROUP_LIMIT : PAGE, offset: grouped ? 0 : state.offset,
    }), { signal: ctx.signal });
  }

  function columns() {
    return state.cols || defaultColumns(data);
  }

  function drawControls() {
    for (const r of data.runs) (r.tags || []).forEach((t) => knownTags.add(t));
    if (state.tag) knownTags.add(state.tag);
    fill(tagSelect, h("option", { value: "" }, "any tag"), [...knownTags].sort().map((t) => h("option", { value: t }, t)));
    tagSelect.value = state.tag;
    const configKeys = visibleKeys(data.config_keys);
    for (const [select, value] of [[groupSelect, state.group], [group2Select, state.group2]]) {
      fill(select, h("option", { value: "" }, "none"), SPECIAL_GROUPS.map(([v, t]) => h("option", { value: v }, t)),
        h("optgroup", { label: "config" }, configKeys.map((k) => h("option", { value: k }, k))));
      if (value && !configKeys.includes(value) && !SPECIAL_GROUPS.some(([v]) => v === value)) {
        select.append(h("option", { value }, value));
      }
      select.value = value;
    }
    group2Select.closest("label").hidden = !state.group;
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

  function setHidden(key, visible) {
    if (visible) state.hidden.delete(key); else state.hidden.add(key);
    saveQuery();
    drawTable();
    redrawCharts();
  }

  function runRow(r, cols) {
    const checked = selection.has(r.id);
    const visible = !state.hidden.has(r.id);
    const label = r.name || r.id;
    return h("tr", { dataset: { run: r.id }, class: [checked ? "selected" : null, visible ? null : "hidden-run"] },
      h("td", { class: "sel" }, h("input", { type: "checkbox", checked, "aria-label": `select ${label}`,
        onchange: (ev) => {
          if (ev.target.checked) selection.set(r.id, label); else selection.delete(r.id);
          ev.target.closest("tr").classList.toggle("selected", ev.target.checked);
          saveSelection(project, selection);
          redrawCharts();
        } })),
      h("td", { class: "name" }, eyeButton(r.id, visible, label, (on) => setHidden(r.id, on)),
        swatch(colorOf(r.id), label), h("a", { href: runUrl(project, r.id), title: label }, label)),
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
    return groupRuns(data.runs, state.group, state.group2 || null);
  }

  /** A group's row and its members' rows (hidden until it is opened); nested groups inside. */
  function groupRows(g, cols, depth) {
    const open = h("button", { type: "button", class: "expander", "aria-expanded": "false",
      "aria-label": `open ${g.title}` }, "▸");
    const inner = g.children
      ? g.children.flatMap((c) => groupRows(c, cols, depth + 1))
      : g.runs.map((r) => {
        const tr = runRow(r, cols);
        tr.classList.add("member");
        tr.classList.add("depth-" + (depth + 1));
        return tr;
      });
    inner.forEach((tr) => { tr.hidden = true; });
    const direct = g.children ? inner.filter((tr) => tr.dataset.depth === String(depth + 1)) : inner;
    const setOpen = (expanded) => {
      open.setAttribute("aria-expanded", String(expanded));
      open.textContent = expanded ? "▾" : "▸";
      if (expanded) direct.forEach((tr) => { tr.hidden = false; });
      else inner.forEach((tr) => { tr.hidden = true; const b = tr.querySelector("button.expander"); if (b) { b.setAttribute("aria-expanded", "false"); b.textContent = "▸"; } });
    };
    open.addEventListener("click", () => setOpen(open.getAttribute("aria-expanded") !== "true"));
    const visible = !groupHidden(state.hidden, g.key);
    const row = h("tr", { class: ["group-row", "depth-" + depth, visible ? null : "hidden-run"], dataset: { group: g.key, depth: String(depth) } },
      h("td", { class: "sel" }, open),
      h("td", { class: "name", colspan: "6" },
        eyeButton("g:" + g.key, !state.hidden.has("g:" + g.key), g.title, (on) => setHidden("g:" + g.key, on)),
        swatch(groupColor(g.key), g.title), h("strong", null, g.label), " ",
        h("span", { class: "muted" }, `${g.runs.length} run${g.runs.length === 1 ? "" : "s"}`)),
      cols.map((c) => h("td", { class: "num agg", dataset: { col: c } }, aggregate(g.runs, c))));
    return [row, ...inner];
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
      body = groups().flatMap((g) => groupRows(g, cols, 0));
    } else {
      body = data.runs.map((r) => runRow(r, cols));
    }
    fill(table, h("thead", null, head),
      h("tbody", null, body.length ? body : h("tr", null, h("td", { colspan: String(7 + cols.length), class: "empty" },
        "No runs match."))));
    const shown = data.runs.length;
    fill(count, state.group
      ? `${data.total} runs in ${groups().length} groups` + (data.total > shown ? ` (first ${shown} grouped)` : "")
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
  let drawing = 0;
  async function drawCharts(force = false) {
    const ticket = ++drawing;
    drawCompare();
    let sets = lineSets({ runs: data.runs, selection, by: state.group, by2: state.group2 || null,
      hidden: state.hidden, perGroup: RUNS_PER_GROUP });
    const hiddenCount = state.group ? groups().flatMap((g) => g.children || [g]).filter((g) => groupHidden(state.hidden, g.key)).length
      : [...selection.keys()].filter((id) => state.hidden.has(id)).length;
    const hiddenNote = hiddenCount ? ` ${hiddenCount} hidden.` : "";
    if (state.group) {
      chartsNote.textContent = `Each group drawn as its mean with a min–max band (${sets.length} groups).` + hiddenNote;
    } else {
      // the charts follow the table: with a filter on, only the selected runs it lets through
      const inTable = new Set(data.runs.map((r) => r.id));
      const filtered = state.filters.length || state.runState || state.tag;
      const before = sets.length;
      if (filtered) sets = sets.filter((set) => set.runs.every((r) => inTable.has(r.id)));
      const byFilter = before - sets.length;
      chartsNote.textContent = (sets.length ? `${sets.length} selected run${sets.length === 1 ? "" : "s"}.`
        : "Select runs in the table to chart their history.") + hiddenNote
        + (byFilter ? ` ${byFilter} selected hidden by the filter.` : "");
    }
    const running = new Set(data.runs.filter((r) => r.state === "running").map((r) => r.id));
    const shown = data.runs.filter((r) => !state.hidden.has(r.id)
      && !(state.group && groupRuns([r], state.group, state.group2 || null).flatMap((g) => g.children || [g])
        .every((g) => groupHidden(state.hidden, g.key))));
    const chosen = sets.flatMap((set) => set.runs.map((r) => ({ ...r, color: set.grouped ? colorOf(r.id) : set.color })));
    // the sweep panels and the media come after the charts, never holding the page up
    const later = (p) => p.catch((err) => { if (err.name !== "AbortError" && ctx.alive()) console.warn(err); });
    later(sweep.update({ runs: shown, data, filters: filterObject(), addRuns: state.addRuns }));
    later(mediaCompare.update({ runs: chosen, key: state.media }));
    await panelGrid.draw(sets, { force, running });
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
