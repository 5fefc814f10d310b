// The panel grid of the project page: one panel per logged metric, in sections by the key's
// prefix (train/, val/, ...; keys without one under "charts"), several columns, sections that
// fold, a search over metric names, and settings for all panels and for each (x axis,
// smoothing, log scale, y range, which runs). Hovering a chart lists every line's full name and
// value at that x, highest first.

import { api, qs } from "./api.js";
import { band, isNumeric, lineChart } from "./charts.js";
import { swatch } from "./colors.js";
import { errorBox, fill, fmtValue, h, seg } from "./dom.js";

export const X_CHOICES = [["step", "step"], ["_runtime", "relative time (s)"], ["_timestamp", "wall time"]];
/** Panels drawn at most (the search narrows them). */
export const MAX_PANELS = 60;
const SAMPLES = 500;

/** The prefix of system metrics in the grid; they form the "system" section. */
export const SYSTEM = "system/";

/** The x a system-metrics panel is drawn against for the grid's ``x``: relative time for the step. */
export function systemX(x) {
  return x === "step" ? "_runtime" : x;
}

/** The section of a metric key: the part before its first "/", else "charts". */
export function sectionOf(key) {
  const i = key.indexOf("/");
  return i > 0 ? key.slice(0, i) : "charts";
}

function xTitle(x) {
  return (X_CHOICES.find(([v]) => v === x) || [x, x])[1];
}

function compileRe(text) {
  if (!text) return null;
  try { return new RegExp(text, "i"); } catch { return null; }
}

/** A panel's settings, its own over the global ones. */
export function effective(settings, key) {
  const own = settings.panels?.[key] || {};
  return {
    x: own.x || settings.x,
    smoothing: own.smoothing ?? settings.smoothing,
    logY: own.logY ?? settings.logY,
    ymin: own.ymin ?? null,
    ymax: own.ymax ?? null,
    runs: own.runs || "",
    height: own.height ?? null,
  };
}

/** The smallest height (px) a panel can be dragged to. */
const MIN_PANEL = 160;

/**
 * The grid. ``settings`` ({x, smoothing, logY, keyFilter, cols, closed: [section], panels: {key:
 * {x, smoothing, logY, ymin, ymax, runs}}}) is the caller's object, changed in place;
 * ``onChange()`` is called after each change so the caller can keep it (in the URL).
 */
export class PanelGrid {
  constructor({ box, project, signal, settings, onChange }) {
    this.box = box;
    this.project = project;
    this.signal = signal;
    this.settings = settings;
    this.onChange = onChange;
    this.histories = new Map();  // `${runId}|${x}` -> /history response
    this.sets = [];
    this.ticket = 0;
    // A panel dragged taller or shorter (its CSS resize handle sets an inline height): the
    // chart follows, and the height is kept in the panel's settings (so in the URL).
    this.resizer = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
      for (const entry of entries) this.resized(entry.target);
    }) : null;
  }

  resized(panel) {
    const el = panel.querySelector(".chart");
    if (!panel.style.height || !el?.layout || !window.Plotly) return;
    const height = Math.max(MIN_PANEL, Math.round(parseFloat(panel.style.height)));
    if (this.settings.panels?.[panel.dataset.key]?.height === height) return;
    this.setPanel(panel.dataset.key, { ...(this.settings.panels?.[panel.dataset.key] || {}), height });
    window.Plotly.relayout(el, { height: this.chartHeight(panel, height) });
  }

  /** The chart height that fills a panel ``height`` px tall under its head. */
  chartHeight(panel, height) {
    const head = panel.querySelector(".panel-head");
    return Math.max(100, height - (head ? head.getBoundingClientRect().height : 0) - 2);
  }

  /**
   * A run's logged history at x ``x`` with its system metrics merged in as ``system/<key>``
   * (drawn against relative time when ``x`` is the step: system samples have no step).
   */
  async history(runId, x, force = false) {
    const key = `${runId}|${x}`;
    if (!force && this.histories.has(key)) return this.histories.get(key);
    const get = (stream, at) => api(`/projects/${seg(this.project, "runs", runId)}/${stream}` + qs({ x: at, samples: SAMPLES }),
      { signal: this.signal }).catch((err) => {
      if (err.name === "AbortError") throw err;
      return { series: {}, keys: [], error: err };
    });
    const [res, sys] = await Promise.all([get("history", x), get("system", systemX(x))]);
    for (const [k, s] of Object.entries(sys.series || {})) {
      const name = k.startsWith(SYSTEM) ? k : SYSTEM + k;
      if (!(name in (res.series || {}))) (res.series ||= {})[name] = s;
    }
    this.histories.set(key, res);
    return res;
  }

  /** Histories of every run of every line set for x ``x``: [[res per run] per set]. */
  async results(x, force = false, running = new Set()) {
    return Promise.all(this.sets.map((set) => Promise.all(set.runs.map((r) =>
      this.history(r.id, x, force && running.has(r.id))))));
  }

  /** Draw ``sets`` (see workspace.js lineSets); ``force`` re-reads the ``running`` runs. */
  async draw(sets, { force = false, running = new Set() } = {}) {
    const ticket = ++this.ticket;
    this.sets = sets;
    const results = await this.results(this.settings.x, force, running);
    if (ticket !== this.ticket || this.signal.aborted) return;
    const keys = new Set();
    results.flat().forEach((res) => Object.entries(res.series || {}).forEach(([k, s]) => {
      if (!k.startsWith("_") && isNumeric(s)) keys.add(k);
    }));
    const re = compileRe(this.settings.keyFilter);
    const chosen = [...keys].filter((k) => k !== this.settings.x && (!re || re.test(k))).sort().slice(0, MAX_PANELS);
    const sections = new Map();
    for (const k of chosen) {
      const name = sectionOf(k);
      if (!sections.has(name)) sections.set(name, []);
      sections.get(name).push(k);
    }
    // sections in name order, "charts" (keys without a prefix) and then "system" last
    const rank = (n) => (n === "charts") + 2 * (n === "system");
    const names = [...sections.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    const existing = new Map([...this.box.querySelectorAll(".panel")].map((el) => [el.dataset.key, el]));
    const closed = new Set(this.settings.closed || []);
    const els = names.map((name) => {
      const details = h("details", { class: "panel-section", dataset: { section: name }, open: !closed.has(name) });
      const grid = h("div", { class: "panel-grid", style: { gridTemplateColumns: `repeat(${this.settings.cols || 2}, minmax(0, 1fr))` } },
        sections.get(name).map((k) => existing.get(k) || this.panelEl(k)));
      details.append(h("summary", null, h("span", { class: "section-name" }, name), " ",
        h("span", { class: "muted" }, String(sections.get(name).length))), grid);
      details.addEventListener("toggle", () => {
        const now = new Set(this.settings.closed || []);
        if (details.open) now.delete(name); else now.add(name);
        this.settings.closed = [...now].sort();
        this.onChange();
        if (details.open) this.drawSection(details).catch((err) => this.fail(err));
      });
      return details;
    });
    fill(this.box, els);
    if (!chosen.length) {
      this.box.append(h("p", { class: "muted" }, sets.length ? (keys.size ? "No metric matches the search." : "No numeric history to draw.")
        : "Select runs in the table to chart their history."));
    }
    this.box.dataset.panels = String(chosen.length);
    await Promise.all(els.filter((d) => d.open).map((d) => this.drawSection(d)));
  }

  fail(err) {
    if (err.name !== "AbortError" && !this.signal.aborted) this.box.prepend(errorBox(err));
  }

  async drawSection(details) {
    await Promise.all([...details.querySelectorAll(".panel")].map((p) => this.drawPanel(p)));
  }

  panelEl(key) {
    const chart = h("div", { class: "chart", dataset: { key } });
    const gear = h("button", { type: "button", class: "gear", title: `settings of ${key}`, "aria-label": `settings of ${key}` }, "⚙");
    const panel = h("div", { class: "panel", dataset: { key } },
      h("div", { class: "panel-head" }, h("span", { class: "panel-title" }, key), gear), chart);
    gear.addEventListener("click", () => this.toggleSettings(panel));
    this.resizer?.observe(panel);
    return panel;
  }

  toggleSettings(panel) {
    const open = panel.querySelector("form.panel-settings");
    if (open) { open.remove(); return; }
    const key = panel.dataset.key;
    const own = this.settings.panels?.[key] || {};
    const xSel = h("select", { name: "x" }, h("option", { value: "" }, "as all panels"),
      X_CHOICES.map(([v, t]) => h("option", { value: v }, t)));
    xSel.value = own.x || "";
    const smoothing = h("input", { type: "number", name: "smoothing", min: "0", max: "0.99", step: "0.01",
      value: own.smoothing ?? "", placeholder: String(this.settings.smoothing) });
    const log = h("select", { name: "logY" }, h("option", { value: "" }, "as all panels"),
      h("option", { value: "1" }, "log"), h("option", { value: "0" }, "linear"));
    log.value = own.logY === undefined ? "" : own.logY ? "1" : "0";
    const ymin = h("input", { type: "number", name: "ymin", step: "any", value: own.ymin ?? "", placeholder: "auto" });
    const ymax = h("input", { type: "number", name: "ymax", step: "any", value: own.ymax ?? "", placeholder: "auto" });
    const runs = h("input", { type: "text", name: "runs", value: own.runs || "", placeholder: "all (regex on names)" });
    const form = h("form", { class: "panel-settings" },
      h("label", null, "x ", xSel), h("label", null, "smoothing ", smoothing), h("label", null, "y scale ", log),
      h("label", null, "y from ", ymin), h("label", null, "to ", ymax), h("label", null, "runs ", runs),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Apply"),
        h("button", { type: "button", class: "reset" }, "Reset")));
    const num = (input) => (input.value === "" ? undefined : Number(input.value));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const next = { x: xSel.value || undefined, smoothing: num(smoothing), logY: log.value === "" ? undefined : log.value === "1",
        ymin: num(ymin), ymax: num(ymax), runs: runs.value.trim() || undefined, height: own.height };
      Object.keys(next).forEach((k) => next[k] === undefined && delete next[k]);
      this.setPanel(key, next);
      form.remove();
      this.drawPanel(panel).catch((err) => this.fail(err));
    });
    form.querySelector("button.reset").addEventListener("click", () => {
      this.setPanel(key, {});
      form.remove();
      this.drawPanel(panel).catch((err) => this.fail(err));
    });
    panel.querySelector(".panel-head").after(form);
  }

  setPanel(key, own) {
    const panels = { ...(this.settings.panels || {}) };
    if (Object.keys(own).length) panels[key] = own; else delete panels[key];
    this.settings.panels = panels;
    this.onChange();
  }

  async drawPanel(panel) {
    const key = panel.dataset.key;
    const el = panel.querySelector(".chart");
    const eff = effective(this.settings, key);
    panel.classList.toggle("custom", !!this.settings.panels?.[key]);
    const re = compileRe(eff.runs);
    const results = await this.results(eff.x);
    const axis = key.startsWith(SYSTEM) ? systemX(eff.x) : eff.x;
    const lines = this.sets.map((set, j) => {
      if (re && !re.test(set.name)) return null;
      const series = results[j].map((res) => res.series?.[key]).filter(Boolean);
      if (!series.length) return null;
      const xv = (xs) => (axis === "_timestamp" ? xs.map((t) => (typeof t === "number" ? t * 1000 : t)) : xs);
      if (set.grouped) {
        const b = band(series);
        return { name: set.name, color: set.color, x: xv(b.x), y: b.mean, band: { x: xv(b.x), min: b.min, max: b.max } };
      }
      return { name: set.name, color: set.color, x: xv(series[0].x), y: series[0].y };
    }).filter(Boolean);
    const range = eff.ymin != null && eff.ymax != null
      ? (eff.logY ? [Math.log10(eff.ymin), Math.log10(eff.ymax)] : [eff.ymin, eff.ymax]) : null;
    panel.style.height = eff.height ? `${eff.height}px` : "";
    const sized = eff.height ? { height: this.chartHeight(panel, eff.height) } : {};
    await lineChart(el, { title: "", lines, xTitle: xTitle(axis), logY: eff.logY, smoothing: eff.smoothing,
      xIsTime: axis === "_timestamp",
      layout: { showlegend: false, hovermode: "x", hoverdistance: -1, margin: { t: 8 }, ...sized,
        yaxis: range ? { range, autorange: false } : { autorange: true } },
      trace: { hoverinfo: "none" } });
    el.dataset.lines = String(lines.length);
    attachTip(panel, el, axis);
  }
}

/** The hover box: every line at the hovered x, full names, highest value first. */
function attachTip(panel, el, x) {
  panel.dataset.x = x;
  if (el.__tip) return;
  const tip = h("div", { class: "hover-tip", hidden: true, role: "tooltip" });
  panel.append(tip);
  el.__tip = tip;
  el.on("plotly_hover", (ev) => {
    const pts = (ev.points || []).filter((p) => typeof p.y === "number").sort((a, b) => b.y - a.y);
    if (!pts.length) return;
    const xval = pts[0].x;
    fill(tip, h("div", { class: "tip-x" }, `${xTitle(panel.dataset.x)} ${typeof xval === "number" ? fmtValue(xval) : xval}`),
      pts.map((p) => h("div", { class: "tip-row", dataset: { name: p.data.name } }, swatch(p.data.line?.color),
        h("span", { class: "tip-name" }, p.data.name), h("span", { class: "tip-value" }, fmtValue(p.y)))));
    tip.hidden = false;
  });
  el.on("plotly_unhover", () => { tip.hidden = true; });
}
