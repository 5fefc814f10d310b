// Sweeps: a project's sweeps, and a sweep's page: its trials (params, state, metric; the best one
// highlighted), parallel coordinates of the params and the metric, and a scatter of the metric
// against each param. The page polls while trials run.

import { api } from "../api.js";
import { loadPlotly } from "../charts.js";
import { errorBox, fill, fmtValue, h, projectTabs, runUrl, seg, stateBadge, timeEl } from "../dom.js";
import { dimension, parallelSvg } from "../sweep.js";

export function sweepsUrl(project) { return "/p/" + seg(project, "sweeps"); }
export function sweepUrl(project, id) { return "/p/" + seg(project, "sweeps", id); }

function tabs(project) {
  return projectTabs(project, "sweeps");
}

function counts(c) {
  return Object.entries(c || {}).sort().map(([s, n]) => `${n} ${s}`).join(", ");
}

// -- the list ----------------------------------------------------------------------------------

export async function renderList(ctx) {
  const { project } = ctx.params;
  document.title = `Sweeps · ${project} · Arty`;
  const sweeps = await api(`/projects/${seg(project)}/sweeps`, { signal: ctx.signal });
  fill(ctx.root,
    h("div", { class: "page-head" }, h("h1", null, project), tabs(project)),
    sweeps.length === 0 ? h("p", { class: "empty" }, "No sweeps yet. 'art sweep sweep.yaml' creates one; 'art agent ID' runs it.") : null,
    sweeps.length ? h("table", { class: "grid", id: "sweeps" },
      h("thead", null, h("tr", null, ["Sweep", "Name", "Method", "Metric", "Trials", "States", "Best", "Created"]
        .map((t) => h("th", { class: ["Trials", "Best"].includes(t) ? "num" : null }, t)))),
      h("tbody", null, sweeps.map((s) => h("tr", { dataset: { sweep: s.id } },
        h("td", null, h("a", { href: sweepUrl(project, s.id) }, s.id)),
        h("td", null, s.name || ""), h("td", null, s.method),
        h("td", null, s.metric ? `${s.goal === "maximize" ? "max" : "min"} ${s.metric}` : ""),
        h("td", { class: "num" }, String(s.trials) + (s.total != null ? ` / ${s.total}` : "")),
        h("td", null, counts(s.counts)), h("td", { class: "num" }, s.best_value == null ? "" : fmtValue(s.best_value)),
        h("td", null, timeEl(s.created_at)))))) : null);
}

// -- one sweep -----------------------------------------------------------------------------------

function num(v) {
  if (typeof v === "boolean") return v ? 1 : 0;
  return typeof v === "number" && isFinite(v) ? v : null;
}

/** Parallel coordinates (SVG): one axis per param, then the metric; a line per trial with the
 *  metric, coloured by how good it is (the best at the yellow end whatever the goal), the best
 *  trial's line drawn last and marked. */
export function parallelOf(sw) {
  const scored = sw.trials.filter((t) => t.value !== null && t.value !== undefined)
    .sort((a, b) => (a.number === sw.best) - (b.number === sw.best));
  const values = scored.map((t) => t.value);
  const dims = sw.params.map((p) => dimension(p, scored.map((t) => t.params[p])));
  dims.push(dimension(sw.metric, values));
  return parallelSvg(dims, values, {
    label: `parallel coordinates of ${sw.params.join(", ")} and ${sw.metric}`,
    reverse: sw.goal === "minimize",
    line: (i) => ({ class: scored[i].number === sw.best ? "best" : null, dataset: { trial: String(scored[i].number) },
      title: `trial ${scored[i].number}: ${sw.metric} ${fmtValue(scored[i].value)}` }),
  });
}

/** A scatter of the metric against one param: a point per scored trial, the best one larger and red. */
export function scatterTraces(sw, param) {
  const scored = sw.trials.filter((t) => t.value !== null && t.value !== undefined);
  const xs = scored.map((t) => (num(t.params[param]) !== null ? num(t.params[param]) : fmtValue(t.params[param])));
  const best = scored.filter((t) => t.number === sw.best);
  return [
    { type: "scatter", mode: "markers", name: "trials", x: xs, y: scored.map((t) => t.value),
      text: scored.map((t) => `trial ${t.number}`), marker: { size: 8, color: "#4c78a8" } },
    { type: "scatter", mode: "markers", name: `best (trial ${sw.best})`,
      x: best.map((t) => (num(t.params[param]) !== null ? num(t.params[param]) : fmtValue(t.params[param]))),
      y: best.map((t) => t.value), marker: { size: 14, color: "#e45756", symbol: "star" } },
  ];
}

function trialsTable(project, sw) {
  return h("table", { class: "grid", id: "trials" },
    h("thead", null, h("tr", null, h("th", { class: "num" }, "Trial"), h("th", null, "State"),
      sw.params.map((p) => h("th", null, p)), h("th", { class: "num" }, sw.metric || "metric"), h("th", null, "Run"),
      h("th", null, "Agent"))),
    h("tbody", null, sw.trials.map((t) => h("tr", {
      class: t.number === sw.best ? "best" : null, dataset: { trial: String(t.number), state: t.state },
      title: t.error || null,
    },
    h("td", { class: "num" }, String(t.number) + (t.number === sw.best ? " ★" : "")),
    h("td", null, stateBadge(t.state), t.attempts > 1 ? ` (${t.attempts} attempts)` : ""),
    sw.params.map((p) => h("td", null, fmtValue(t.params[p]))),
    h("td", { class: "num" }, t.value == null ? "" : fmtValue(t.value)),
    h("td", null, t.run_id ? h("a", { href: runUrl(project, t.run_id) }, t.run_id) : ""),
    h("td", null, t.by || "")))));
}

export async function renderSweep(ctx) {
  const { project, sweep } = ctx.params;
  document.title = `Sweep ${sweep} · ${project} · Arty`;
  const url = `/projects/${seg(project, "sweeps", sweep)}`;
  const head = h("div");
  const charts = h("div", { class: "sweep-charts" });
  const table = h("div");
  fill(ctx.root, h("div", { class: "page-head" }, h("h1", null, `Sweep ${sweep}`), tabs(project)), head, charts, table);
  let last = null;
  const draw = async () => {
    const sw = await api(url, { signal: ctx.signal });
    const key = JSON.stringify(sw.trials.map((t) => [t.number, t.state, t.value, t.attempts]));
    if (key === last) return sw;
    last = key;
    const best = sw.trials.find((t) => t.number === sw.best);
    fill(head,
      h("p", { id: "sweep-summary" }, `${sw.name ? sw.name + " · " : ""}${sw.method} · `,
        sw.metric ? `${sw.goal} ${sw.metric}` : "no metric", ` · ${sw.trials.length} trials`,
        sw.total != null ? ` of ${sw.total}` : "", sw.trials.length ? ` (${counts(sw.counts)})` : ""),
      best ? h("p", { id: "sweep-best" }, "Best: ", h("strong", null, `trial ${best.number}`), ` · ${sw.metric} = ${fmtValue(best.value)} · `,
        Object.entries(best.params).map(([k, v]) => `${k}=${fmtValue(v)}`).join(", "),
        best.run_id ? [" · ", h("a", { href: runUrl(project, best.run_id) }, best.run_id)] : null) : null,
      sw.warnings.map((w) => errorBox({ message: w })));
    fill(table, trialsTable(project, sw));
    const scored = sw.trials.filter((t) => t.value !== null && t.value !== undefined);
    if (!scored.length || !sw.metric) {
      fill(charts, h("p", { class: "empty" }, sw.metric ? `No trial has logged '${sw.metric}' yet.` : "The sweep has no metric to plot."));
      return sw;
    }
    const pc = h("div", { id: "sweep-parcoords", class: "chart" }, parallelOf(sw));
    const scatters = sw.params.map((p) => h("div", { class: "chart sweep-scatter", dataset: { param: p } }));
    fill(charts, pc, h("div", { class: "scatter-grid" }, scatters));
    const Plotly = await loadPlotly();
    for (const el of scatters) {
      const p = el.dataset.param;
      await Plotly.newPlot(el, scatterTraces(sw, p), {
        height: 260, margin: { l: 50, r: 10, t: 30, b: 40 }, title: { text: `${sw.metric} vs ${p}`, font: { size: 13 } },
        xaxis: { title: { text: p } }, yaxis: { title: { text: sw.metric } }, showlegend: false,
      }, { displaylogo: false, responsive: true });
    }
    return sw;
  };
  const sw = await draw();
  if (sw.trials.some((t) => t.state === "running" || t.state === "stale") || sw.total == null || sw.trials.length < sw.total) {
    ctx.every(5000, draw);
  }
}

