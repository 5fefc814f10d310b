// Sweep panels over the runs the table shows: parallel coordinates (the config keys that vary,
// then a summary metric), a scatter of the metric against any config key or against time, and
// parameter importance (correlation and a random forest's importance, computed by the server).

import { api, qs } from "./api.js";
import { loadPlotly } from "./charts.js";
import { colorOf } from "./colors.js";
import { errorBox, fill, fmtValue, h, s, seg } from "./dom.js";

const TIME = "@created_at";
// Viridis at five stops, for the metric's colour on parallel coordinates.
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

/** The colour of ``t`` in [0, 1] on the viridis scale. */
export function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const c = VIRIDIS[i].map((v, k) => Math.round(v + (VIRIDIS[i + 1][k] - v) * f));
  return `rgb(${c.join(",")})`;
}

/** Parallel coordinates drawn as SVG (plotly's parcoords needs WebGL, and WebGL code that the
 *  page's Content-Security-Policy refuses): one vertical axis per dimension (see :func:`dimension`),
 *  one line per item coloured by ``metricValues`` (dark: low, yellow: high; ``reverse`` flips it, so
 *  that the best is yellow when lower is better). ``line(i)`` gives item i's ``dataset``, ``title``
 *  and ``class``; an item with a missing value is left out. */
export function parallelSvg(dims, metricValues, { label = "parallel coordinates", line = () => ({}), reverse = false } = {}) {
  const W = 560;
  const H = 280;
  const pad = { l: 40, r: 60, t: 28, b: 20 };
  const step = dims.length > 1 ? (W - pad.l - pad.r) / (dims.length - 1) : 0;
  const scales = dims.map((d) => {
    const vals = [...d.values, ...(d.tickvals || [])].filter((v) => v !== null && isFinite(v));
    const lo = Math.min(...vals);
    const hi = Math.max(...vals);
    return (v) => pad.t + (H - pad.t - pad.b) * (hi > lo ? 1 - (v - lo) / (hi - lo) : 0.5);
  });
  const finite = metricValues.filter((v) => v !== null && isFinite(v));
  const mlo = Math.min(...finite);
  const mhi = Math.max(...finite);
  const svg = s("svg", { class: "parallel", viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": label });
  metricValues.forEach((m, i) => {
    const pts = dims.map((d, j) => (d.values[i] === null || !isFinite(d.values[i]) ? null : [pad.l + j * step, scales[j](d.values[i])]));
    if (pts.some((p) => p === null)) return;
    const t = mhi > mlo ? (m - mlo) / (mhi - mlo) : 0.5;
    const extra = line(i);
    svg.append(s("polyline", { class: ["pc-line", extra.class], points: pts.map((p) => p.join(",")).join(" "),
      stroke: viridis(reverse ? 1 - t : t), dataset: extra.dataset || {} }, extra.title ? s("title", null, extra.title) : null));
  });
  dims.forEach((d, j) => {
    const x = pad.l + j * step;
    const ticks = d.tickvals ? d.tickvals.map((v, i) => [v, d.ticktext[i]])
      : [...new Set(d.values)].length <= 6 ? [...new Set(d.values)].map((v) => [v, fmtValue(v)])
        : [Math.min(...d.values), Math.max(...d.values)].map((v) => [v, fmtValue(Number(v.toPrecision(3)))]);
    svg.append(s("g", { class: "axis", dataset: { label: d.label } },
      s("line", { x1: x, x2: x, y1: pad.t, y2: H - pad.b }),
      s("text", { x, y: pad.t - 10, class: "axis-label" }, d.label),
      ticks.map(([v, text]) => s("text", { x: x + 4, y: scales[j](v) + 3, class: "tick" }, text))));
  });
  return svg;
}

function num(v) {
  if (typeof v === "boolean") return v ? 1 : 0;
  return typeof v === "number" && isFinite(v) ? v : null;
}

/** Summary keys holding a number in some run; a validation metric first when there is one. */
export function metricKeys(data, runs) {
  const keys = (data.summary_keys || []).filter((k) => !k.startsWith("_") && runs.some((r) => num(r.summary?.[k]) !== null));
  const rank = (k) => (/val|valid|eval|test/i.test(k) ? 0 : /loss|acc|score|error/i.test(k) ? 1 : 2);
  return [...keys].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** A parcoords dimension of ``values`` (numbers, log-scaled when they span 100x or more and are
 *  positive; else categories with their labels as ticks). */
export function dimension(label, values) {
  const nums = values.map(num);
  if (nums.every((v) => v !== null)) {
    const lo = Math.min(...nums);
    const hi = Math.max(...nums);
    if (lo > 0 && hi / lo >= 100) {
      const ticks = [...new Set(nums)].sort((a, b) => a - b);
      return { label: `${label} (log)`, values: nums.map(Math.log10), tickvals: ticks.map(Math.log10), ticktext: ticks.map(fmtValue) };
    }
    return { label, values: nums };
  }
  const cats = [...new Set(values.map((v) => fmtValue(v)))].sort();
  return { label, values: values.map((v) => cats.indexOf(fmtValue(v))), tickvals: cats.map((_, i) => i), ticktext: cats };
}

export class SweepPanels {
  /** ``state`` ({metric, x}) is the caller's, changed in place; ``onChange()`` after each change. */
  constructor({ box, project, signal, state, onChange }) {
    this.box = box;
    this.project = project;
    this.signal = signal;
    this.state = state;
    this.onChange = onChange;
    this.args = null;
    this.metricSel = h("select", { id: "sweep-metric", "aria-label": "metric" });
    this.xSel = h("select", { id: "sweep-x", "aria-label": "scatter x" });
    this.parallel = h("div", { class: "chart", dataset: { key: "sweep:parallel" } });
    this.scatter = h("div", { class: "chart", dataset: { key: "sweep:scatter" } });
    this.importance = h("div", { class: "importance", id: "importance" });
    this.note = h("p", { class: "muted" });
    box.append(h("summary", null, "Sweep: parallel coordinates, scatter, parameter importance"),
      h("div", { class: "toolbar small" }, h("label", null, "metric ", this.metricSel), h("label", null, "scatter x ", this.xSel)),
      this.note,
      h("div", { class: "sweep-grid" }, this.parallel, this.scatter, this.importance));
    this.metricSel.addEventListener("change", () => { this.state.metric = this.metricSel.value; this.onChange(); this.draw(); });
    this.xSel.addEventListener("change", () => { this.state.x = this.xSel.value; this.onChange(); this.draw(); });
    box.addEventListener("toggle", () => { if (box.open) this.draw(); });
  }

  /** New runs (the table's, less the hidden ones); drawn now if the section is open. */
  async update(args) {
    this.args = args;
    if (this.box.open) await this.draw();
  }

  async draw() {
    if (!this.args) return;
    const { runs, data, filters, addRuns } = this.args;
    const metrics = metricKeys(data, runs);
    const varying = (data.varying_keys || []).filter((k) => !k.startsWith("_"));
    const metric = metrics.includes(this.state.metric) ? this.state.metric : metrics[0];
    const configKeys = (data.config_keys || []).filter((k) => !k.startsWith("_"));
    const xs = [...varying, ...configKeys.filter((k) => !varying.includes(k))];
    const x = this.state.x && (xs.includes(this.state.x) || this.state.x === TIME) ? this.state.x : (varying[0] || TIME);
    fill(this.metricSel, metrics.map((k) => h("option", { value: k }, k)));
    if (metric) this.metricSel.value = metric;
    fill(this.xSel, h("option", { value: TIME }, "time (created)"), xs.map((k) => h("option", { value: k }, k)));
    this.xSel.value = x;
    if (!metric) {
      this.note.textContent = "No run shown has a numeric summary metric.";
      return;
    }
    const withMetric = runs.filter((r) => num(r.summary?.[metric]) !== null);
    this.note.textContent = `${withMetric.length} run${withMetric.length === 1 ? "" : "s"} with ${metric}; `
      + `${varying.length} config key${varying.length === 1 ? "" : "s"} vary.`;
    await Promise.all([
      this.drawParallel(withMetric, varying, metric).catch((err) => this.fail(this.parallel, err)),
      this.drawScatter(withMetric, x, metric).catch((err) => this.fail(this.scatter, err)),
      this.drawImportance(metric, filters, addRuns).catch((err) => this.fail(this.importance, err)),
    ]);
  }

  fail(el, err) {
    if (err.name !== "AbortError" && !this.signal.aborted) fill(el, errorBox(err));
  }

  /** Parallel coordinates of the runs (see :func:`parallelSvg`): one axis per key, then the metric. */
  async drawParallel(runs, keys, metric) {
    const metricValues = runs.map((r) => num(r.summary[metric]));
    const dims = keys.map((k) => dimension(k, runs.map((r) => r.config?.[k] ?? null)));
    dims.push(dimension(metric, metricValues));
    fill(this.parallel, parallelSvg(dims, metricValues, {
      label: `parallel coordinates of ${keys.join(", ")} and ${metric}`,
      line: (i) => ({ dataset: { run: runs[i].id }, title: `${runs[i].name || runs[i].id}: ${metric} ${fmtValue(metricValues[i])}` }),
    }));
    this.parallel.dataset.dims = String(dims.length);
    this.parallel.dataset.drawn = "1";
  }

  async drawScatter(runs, x, metric) {
    const Plotly = await loadPlotly();
    const isTime = x === TIME;
    const xv = runs.map((r) => (isTime ? r.created_at : r.config?.[x] ?? null));
    await Plotly.react(this.scatter, [{ type: "scatter", mode: "markers", x: xv, y: runs.map((r) => num(r.summary[metric])),
      text: runs.map((r) => r.name || r.id), marker: { color: runs.map((r) => colorOf(r.id)), size: 9 },
      hovertemplate: "%{text}<br>%{x}<br>" + metric + " %{y}<extra></extra>" }],
    { height: 300, margin: { l: 55, r: 10, t: 10, b: 40 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      xaxis: { title: { text: isTime ? "created" : x }, type: isTime ? "date" : undefined, automargin: true },
      yaxis: { title: { text: metric }, automargin: true } },
    { responsive: true, displaylogo: false });
    this.scatter.dataset.points = String(runs.length);
    this.scatter.dataset.drawn = "1";
  }

  async drawImportance(metric, filters, addRuns) {
    const res = await api(`/projects/${seg(this.project)}/importance` + qs({ metric, filters, add_runs: addRuns ? "true" : null }),
      { signal: this.signal });
    const top = Math.max(...res.keys.map((k) => k.importance ?? Math.abs(k.correlation ?? 0)), 1e-9);
    fill(this.importance,
      h("table", { class: "grid importance-table" },
        h("thead", null, h("tr", null, h("th", null, "config key"), h("th", null, "importance"), h("th", { class: "num" }, "correlation"))),
        h("tbody", null, res.keys.map((k) => {
          const score = k.importance ?? Math.abs(k.correlation ?? 0);
          return h("tr", { dataset: { key: k.key } }, h("td", null, k.key),
            h("td", { class: "bar-cell", title: fmtValue(score) },
              h("span", { class: "bar", style: { width: `${Math.round((120 * score) / top)}px` } }), " ", fmtValue(Number(score.toPrecision(3)))),
            h("td", { class: ["num", k.correlation > 0 ? "pos" : k.correlation < 0 ? "neg" : null] },
              k.correlation == null ? "—" : fmtValue(Number(k.correlation.toPrecision(3)))));
        }))),
      h("p", { class: "muted small" }, `${res.runs} runs; ` + (res.method === "random_forest"
        ? "importance: a random forest's (scikit-learn) impurity importance; correlation: Pearson's."
        : "correlation only" + (res.note ? ` (${res.note})` : " (too few runs for a forest)") + ".")));
    this.importance.dataset.method = res.method;
  }
}
