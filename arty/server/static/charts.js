// Charts with plotly.js, which the server serves from the installed ``plotly`` package at a
// versioned URL named in index.html (no CDN, works offline). It is loaded on first use.

import { h } from "./dom.js";

export const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf"];

/** Axis titles of the x choices, with their units. */
export const X_TITLES = { step: "step", _runtime: "relative time (s)", _timestamp: "wall time" };

let plotlyPromise = null;

/** Where plotly.js is served: the versioned, long-cached URL the server names in index.html. */
export function plotlyUrl() {
  return document.querySelector('meta[name="arty-plotly"]')?.content || "/vendor/plotly.min.js";
}

/** window.Plotly, loading plotly.js once. */
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyPromise) {
    const url = plotlyUrl();
    plotlyPromise = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => {
        plotlyPromise = null;
        reject(new Error(`plotly.js could not be loaded from ${url}`));
      };
      document.head.append(script);
    });
  }
  return plotlyPromise;
}

function isPlain(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }

/** ``base`` with ``over`` laid on top, plain objects merged key by key (neither is changed). */
export function merge(base, over) {
  const out = { ...base };
  for (const [k, v] of Object.entries(over || {})) out[k] = isPlain(v) && isPlain(out[k]) ? merge(out[k], v) : v;
  return out;
}

/**
 * Plotly layout colours from the page's CSS variables (style.css: ``--fg``, ``--muted``,
 * ``--line``, ``--panel``), so charts follow the light or dark scheme the page shows: text in
 * the page's text colours, grid and axis lines in its line colour, a transparent background.
 */
export function chartTheme() {
  const css = getComputedStyle(document.documentElement);
  const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const fg = v("--fg", "#1d2330");
  const muted = v("--muted", "#6b7280");
  const line = v("--line", "#e3e6ea");
  const panel = v("--panel", "#ffffff");
  const axis = { gridcolor: line, linecolor: line, zerolinecolor: line, tickcolor: line,
    tickfont: { color: muted }, title: { font: { color: fg } } };
  return {
    font: { color: fg }, title: { font: { color: fg } },
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    xaxis: axis, yaxis: axis, legend: { font: { color: fg } },
    hoverlabel: { bgcolor: panel, bordercolor: line, font: { color: fg } },
    coloraxis: { colorbar: { tickfont: { color: muted }, outlinecolor: line } },
  };
}

/** ``layout`` over the page's chart theme (what ``layout`` sets wins). */
export function themed(layout) {
  return merge(chartTheme(), layout);
}

// When the system switches between light and dark, every chart drawn takes the new colours.
window.matchMedia?.("(prefers-color-scheme: dark)").addEventListener?.("change", () => {
  if (!window.Plotly) return;
  for (const el of document.querySelectorAll(".js-plotly-plot")) {
    window.Plotly.react(el, el.data, merge(el.layout, chartTheme())).catch(() => {});
  }
});

/** A number, or null for anything a chart cannot draw (null, strings, NaN, infinities, media). */
export function num(v) {
  return typeof v === "number" && isFinite(v) ? v : null;
}

/** Exponential moving average with bias correction (TensorBoard's smoothing); gaps stay gaps. */
export function smooth(ys, weight) {
  if (!weight) return ys;
  const out = new Array(ys.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y == null) { out[i] = null; continue; }
    last = last * weight + (1 - weight) * y;
    n++;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

/** True when a series holds at least one number. */
export function isNumeric(series) {
  return !!series && Array.isArray(series.y) && series.y.some((v) => num(v) !== null);
}

/** Mean, min and max of several series on a common x grid of about ``points`` values. */
export function band(seriesList, points = 200) {
  const clean = seriesList.map((s) => {
    const xs = [];
    const ys = [];
    s.x.forEach((x, i) => {
      const y = num(s.y[i]);
      const xv = typeof x === "number" ? x : Date.parse(x) / 1000;
      if (y !== null && isFinite(xv)) { xs.push(xv); ys.push(y); }
    });
    return { xs, ys };
  }).filter((s) => s.xs.length);
  if (!clean.length) return { x: [], mean: [], min: [], max: [] };
  const lo = Math.min(...clean.map((s) => s.xs[0]));
  const hi = Math.max(...clean.map((s) => s.xs[s.xs.length - 1]));
  const n = hi > lo ? points : 1;
  const out = { x: [], mean: [], min: [], max: [] };
  const cursor = clean.map(() => 0);
  for (let k = 0; k < n; k++) {
    const x = n === 1 ? lo : lo + ((hi - lo) * k) / (n - 1);
    const vals = [];
    clean.forEach((s, j) => {
      if (x < s.xs[0] || x > s.xs[s.xs.length - 1]) return;
      let i = cursor[j];
      while (i < s.xs.length - 1 && s.xs[i + 1] < x) i++;
      cursor[j] = i;
      const x0 = s.xs[i];
      const x1 = s.xs[Math.min(i + 1, s.xs.length - 1)];
      const y0 = s.ys[i];
      const y1 = s.ys[Math.min(i + 1, s.ys.length - 1)];
      vals.push(x1 > x0 ? y0 + ((y1 - y0) * (x - x0)) / (x1 - x0) : y0);
    });
    if (!vals.length) continue;
    out.x.push(x);
    out.mean.push(vals.reduce((a, b) => a + b, 0) / vals.length);
    out.min.push(Math.min(...vals));
    out.max.push(Math.max(...vals));
  }
  return out;
}

function rgba(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}

/**
 * Plotly traces for lines: ``lines`` is [{name, x, y, color, band?: {x, min, max}}].
 * With ``smoothing`` the raw line stays, faint, under the smoothed one.
 */
export function lineTraces(lines, { smoothing = 0 } = {}) {
  const traces = [];
  for (const line of lines) {
    const color = line.color || COLORS[0];
    if (line.band) {
      traces.push({ x: line.band.x, y: line.band.min, type: "scatter", mode: "lines", line: { width: 0, color },
        hoverinfo: "skip", showlegend: false, legendgroup: line.name });
      traces.push({ x: line.band.x, y: line.band.max, type: "scatter", mode: "lines", line: { width: 0, color },
        fill: "tonexty", fillcolor: rgba(color, 0.2), hoverinfo: "skip", showlegend: false,
        legendgroup: line.name, name: line.name + " (min–max)" });
    }
    const y = line.y.map(num);
    if (smoothing > 0) {
      traces.push({ x: line.x, y, type: "scatter", mode: "lines", name: line.name, opacity: 0.25,
        line: { color, width: 1 }, showlegend: false, hoverinfo: "skip", legendgroup: line.name });
    }
    traces.push({ x: line.x, y: smooth(y, smoothing), type: "scatter", mode: y.length === 1 ? "markers" : "lines",
      name: line.name, line: { color, width: 1.6 }, legendgroup: line.name, connectgaps: false });
  }
  return traces;
}

/** Draw (or redraw) a line chart into ``el``; resolves when plotly has drawn it. */
export async function lineChart(el, { title, lines, xTitle, logY = false, smoothing = 0, xIsTime = false,
  layout: extraLayout = null, trace: extraTrace = null }) {
  const Plotly = await loadPlotly();
  const layout = themed({
    title: { text: title, font: { size: 13 }, x: 0.02, xanchor: "left" },
    height: lines.length > 1 ? 290 : 260,
    margin: { l: 50, r: 10, t: 30, b: 36 },
    xaxis: { title: { text: xTitle, font: { size: 11 } }, type: xIsTime ? "date" : "linear", automargin: true },
    yaxis: { type: logY ? "log" : "linear", automargin: true },
    showlegend: lines.length > 1,
    legend: { orientation: "h", y: -0.3, yanchor: "top", font: { size: 10 } },
    hovermode: "x unified",
    uirevision: title,
  });
  const traces = lineTraces(lines, { smoothing });
  // the caller's layout over this one (axes merged key by key), its trace options on the hoverable lines
  for (const [k, v] of Object.entries(extraLayout || {})) {
    layout[k] = v && typeof v === "object" && !Array.isArray(v) && layout[k] ? { ...layout[k], ...v } : v;
  }
  if (extraTrace) traces.forEach((t) => { if (t.hoverinfo !== "skip") Object.assign(t, extraTrace); });
  await Plotly.react(el, traces, layout, { responsive: true, displaylogo: false });
  el.dataset.drawn = String(traces.length);
  (window.__arty ||= {}).lastChartDrawn = performance.now();
  return el;
}

/** Steps drawn at most by one histogram chart; more are thinned evenly (first and last kept). */
export const MAX_HISTOGRAM_STEPS = 300;

/**
 * Plotly traces for histograms over steps: one heatmap column per step, drawn on that step's
 * own bin edges (``bins``: n + 1 edges, ``values``: n counts), so counts are never re-binned,
 * doubled or dropped. The columns share one colour scale (layout ``coloraxis``).
 */
export function histogramTraces(steps, histograms) {
  const edges = steps.map((s, j) => {
    const prev = j > 0 ? steps[j - 1] : null;
    const next = j < steps.length - 1 ? steps[j + 1] : null;
    const half = (prev !== null ? s - prev : next !== null ? next - s : 1) / 2;
    return [prev !== null ? (prev + s) / 2 : s - half, next !== null ? (s + next) / 2 : s + half];
  });
  return histograms.map((hg, j) => ({
    type: "heatmap", coloraxis: "coloraxis", x: edges[j], y: hg.bins, z: hg.values.map((v) => [v]),
    name: `step ${steps[j]}`, meta: steps[j],
    hovertemplate: "step %{meta}<br>value %{y:.3g}<br>count %{z}<extra></extra>",
  }));
}

/** A heatmap of histogram counts over steps (issue 6 histograms), each step on its own edges. */
export async function histogramChart(el, { title, steps, histograms }) {
  const Plotly = await loadPlotly();
  let pick = steps.map((_, i) => i);
  if (pick.length > MAX_HISTOGRAM_STEPS) {
    const n = pick.length;
    pick = [...new Set(Array.from({ length: MAX_HISTOGRAM_STEPS },
      (_, k) => Math.round((k * (n - 1)) / (MAX_HISTOGRAM_STEPS - 1))))];
  }
  const traces = histogramTraces(pick.map((i) => steps[i]), pick.map((i) => histograms[i]));
  const top = Math.max(0, ...traces.flatMap((t) => t.z.map((r) => r[0])).filter((v) => isFinite(v)));
  const layout = themed({
    title: { text: pick.length < steps.length ? `${title} (${pick.length} of ${steps.length} steps)` : title,
      font: { size: 13 }, x: 0.02, xanchor: "left" },
    height: 280, margin: { l: 50, r: 10, t: 30, b: 36 },
    xaxis: { title: { text: "step", font: { size: 11 } } },
    coloraxis: { colorscale: "Viridis", cmin: 0, cmax: top || 1 },
  });
  await Plotly.react(el, traces, layout, { responsive: true, displaylogo: false });
  el.dataset.drawn = "1";
  return el;
}

/** An empty chart box with a place for the plot. */
export function chartBox(key) {
  return h("div", { class: "chart", dataset: { key } });
}

/** Rows of ``table`` ({columns, rows}) grouped by the value of column ``by`` (one group when null). */
function groupRows(table, by) {
  const j = by == null ? -1 : table.columns.indexOf(by);
  const groups = new Map();
  for (const row of table.rows) {
    const k = j < 0 ? "" : String(row[j]);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(row);
  }
  return groups;
}

/** Plotly traces for a chart spec of arty.plot (see arty/plot.py) over its table's rows. */
export function specTraces(spec, table) {
  const col = (name) => table.columns.indexOf(name);
  const lines = { line: "lines", roc_curve: "lines", pr_curve: "lines", scatter: "markers" };
  if (spec.kind in lines) {
    const x = col(spec.x);
    if (Array.isArray(spec.ys) && spec.ys.length > 1 && spec.stroke == null) {
      // several y columns over one x (a plots file of a pipeline step): one trace per column
      return spec.ys.map((name, i) => ({
        type: "scatter", mode: lines[spec.kind], name, x: table.rows.map((r) => r[x]),
        y: table.rows.map((r) => num(r[col(name)])),
        line: { color: COLORS[i % COLORS.length], width: 1.6 }, marker: { color: COLORS[i % COLORS.length], size: 6 } }));
    }
    const y = col(spec.y);
    return [...groupRows(table, spec.stroke).entries()].map(([name, rows], i) => ({
      type: "scatter", mode: lines[spec.kind], name: name || spec.y,
      x: rows.map((r) => r[x]), y: rows.map((r) => num(r[y])),
      line: { color: COLORS[i % COLORS.length], width: 1.6 }, marker: { color: COLORS[i % COLORS.length], size: 6 } }));
  }
  if (spec.kind === "bar") {
    return [{ type: "bar", x: table.rows.map((r) => String(r[col(spec.label)])),
      y: table.rows.map((r) => num(r[col(spec.value)])), marker: { color: COLORS[0] } }];
  }
  if (spec.kind === "histogram") {
    return [{ type: "histogram", x: table.rows.map((r) => num(r[col(spec.value)])), marker: { color: COLORS[0] } }];
  }
  if (spec.kind === "confusion_matrix") {
    const classes = spec.classes || [...new Set(table.rows.map((r) => String(r[col(spec.y)])))];
    const at = new Map(classes.map((c, i) => [String(c), i]));
    const z = classes.map(() => classes.map(() => 0));
    for (const r of table.rows) {
      const i = at.get(String(r[col(spec.y)]));
      const j = at.get(String(r[col(spec.x)]));
      if (i !== undefined && j !== undefined) z[i][j] += num(r[col(spec.value)]) || 0;
    }
    return [{ type: "heatmap", x: classes, y: classes, z, colorscale: "Blues", texttemplate: "%{z}",
      hovertemplate: "actual %{y}<br>predicted %{x}<br>%{z}<extra></extra>" }];
  }
  return [];
}

/** Draw the chart of a logged arty.plot value into ``el``; ``table`` is {columns, rows}. */
export async function specChart(el, spec, table) {
  const Plotly = await loadPlotly();
  const traces = specTraces(spec, table);
  const axis = (name) => ({ title: { text: name || "", font: { size: 11 } }, automargin: true });
  const cm = spec.kind === "confusion_matrix";
  const layout = themed({
    title: { text: spec.title || "", font: { size: 13 }, x: 0.02, xanchor: "left" },
    height: cm ? 340 : 280, margin: { l: 60, r: 10, t: 30, b: 40 },
    xaxis: axis(cm ? "Predicted" : spec.xname || spec.x || spec.label || spec.value),
    yaxis: { ...axis(cm ? "Actual" : spec.y || spec.value || (spec.kind === "histogram" ? "count" : "")),
      ...(cm ? { autorange: "reversed" } : {}) },
    showlegend: traces.length > 1,
    legend: { orientation: "h", y: -0.25, yanchor: "top", font: { size: 10 } },
  });
  await Plotly.react(el, traces, layout, { responsive: true, displaylogo: false });
  el.dataset.drawn = String(traces.length);
  return el;
}
