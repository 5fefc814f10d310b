// The compare view of selected runs (/p/<project>/compare?runs=a,b,c): config and summary side by
// side, one column per run, with the rows whose values differ highlighted and an "only
// differences" toggle; the same panel grid as the project page with one line per run; and the
// same media key of every run at one step side by side. The URL holds the selection and the
// toggle, so a comparison can be shared as a link.

import { api } from "../api.js";
import { loadPlotly } from "../charts.js";
import { colorOf, swatch } from "../colors.js";
import { errorBox, fill, fmtValue, h, projectUrl, runUrl, seg, stateBadge } from "../dom.js";
import { MAX_RUNS, MediaCompare } from "../mediacompare.js";
import { PanelGrid } from "../panels.js";

/** Runs compared at most: the columns of the table, the lines of each chart. */
export const MAX_COMPARED = MAX_RUNS;

/** The URL of the compare view of ``ids`` in ``project``. */
export function compareUrl(project, ids) {
  return projectUrl(project) + "/compare?runs=" + ids.map(encodeURIComponent).join(",");
}

/** A value as compared: JSON text (so 1 and "1" differ, and objects compare by content); missing is undefined. */
function canon(v) {
  return v === undefined ? undefined : JSON.stringify(v);
}

/**
 * Rows of a side-by-side table: ``[{key, values: [per run], differs}]`` for every key any run has
 * (keys starting with "_" left out), sorted. A row differs when its values are not all equal;
 * a key one run lacks differs too.
 */
export function compareRows(objects) {
  const keys = [...new Set(objects.flatMap((o) => Object.keys(o || {})))].filter((k) => !k.startsWith("_")).sort();
  return keys.map((key) => {
    const values = objects.map((o) => (o || {})[key]);
    const differs = new Set(values.map(canon)).size > 1;
    return { key, values, differs };
  });
}

function sideTable(id, title, runs, objects) {
  const rows = compareRows(objects);
  const differing = rows.filter((r) => r.differs).length;
  return h("section", { class: "compare-part", id },
    h("h2", null, title, " ", h("span", { class: "muted small", dataset: { count: String(differing) } },
      `${differing} of ${rows.length} differ`)),
    h("div", { class: "table-wrap" }, h("table", { class: "grid compare" },
      h("thead", null, h("tr", null, h("th", null, "key"),
        runs.map((r) => h("th", { dataset: { run: r.id } }, swatch(r.color, r.name), " ", r.name,
          h("span", { class: "muted mono small run-id" }, r.id))))),
      h("tbody", null, rows.length ? rows.map((r) => h("tr", { class: r.differs ? "differs" : "same",
        dataset: { key: r.key } },
      h("td", { class: "mono key" }, r.key),
      r.values.map((v, i) => h("td", {
        class: [typeof v === "number" ? "num" : null, v === undefined ? "missing" : null],
        dataset: { run: runs[i].id } }, v === undefined ? "—" : fmtValue(v)))))
        : h("tr", null, h("td", { colspan: String(runs.length + 1), class: "empty" }, "none"))))));
}

export async function render(ctx) {
  const { project } = ctx.params;
  document.title = `compare · ${project} · Arty`;
  loadPlotly().catch(() => {});
  const ids = [...new Set((ctx.query.get("runs") || "").split(",").map((s) => s.trim()).filter(Boolean))];
  let onlyDiff = ctx.query.get("diff") === "1";
  const back = h("a", { href: projectUrl(project) }, "‹ runs");
  if (ids.length < 2) {
    fill(ctx.root, h("div", { class: "page-head" }, h("h1", null, "Compare runs")),
      errorBox({ message: "select at least two runs to compare", hint: "tick runs in the runs table, then Compare" }),
      h("p", null, back));
    return;
  }
  const chosen = ids.slice(0, MAX_COMPARED);
  const records = await Promise.all(chosen.map((id) =>
    api(`/projects/${seg(project, "runs", id)}`, { signal: ctx.signal })));
  const runs = records.map((r) => ({ id: r.id, name: r.name || r.id, color: colorOf(r.id), state: r.state }));

  const toggle = h("input", { type: "checkbox", id: "only-diff", checked: onlyDiff });
  const settings = { x: "step", smoothing: 0, logY: false, keyFilter: "", cols: 2, closed: [], panels: {} };
  const chartsBox = h("div", { class: "charts panels", id: "compare-charts" });
  const mediaBox = h("details", { class: "workspace-part", id: "media-compare", open: true });
  const setQuery = () => {
    const p = [["runs", chosen.join(",")]];
    if (onlyDiff) p.push(["diff", "1"]);
    if (mediaCompare.key) p.push(["media", mediaCompare.key]);
    ctx.setQuery(p);
  };
  const panelGrid = new PanelGrid({ box: chartsBox, project, signal: ctx.signal, settings, onChange: () => {} });
  const mediaCompare = new MediaCompare({ box: mediaBox, project, signal: ctx.signal, onChange: () => setQuery() });
  const tables = h("div", { class: ["compare-tables", onlyDiff ? "only-diff" : null], id: "compare-tables" },
    sideTable("compare-config", "Config", runs, records.map((r) => r.config)),
    sideTable("compare-summary", "Summary", runs, records.map((r) => r.summary)));
  toggle.addEventListener("change", () => {
    onlyDiff = toggle.checked;
    tables.classList.toggle("only-diff", onlyDiff);
    setQuery();
  });

  fill(ctx.root,
    h("div", { class: "page-head" }, h("h1", null, `Compare ${runs.length} runs`), back),
    ids.length > chosen.length
      ? h("p", { class: "muted" }, `The first ${chosen.length} of ${ids.length} runs are compared.`) : null,
    h("p", { class: "compare-runs", id: "compare-runs" }, runs.map((r) =>
      h("span", { class: "compare-run", dataset: { run: r.id } },
        swatch(r.color, r.name), " ", h("a", { href: runUrl(project, r.id) }, r.name), " ", stateBadge(r.state)))),
    h("div", { class: "toolbar small" }, h("label", null, toggle, " only differences")),
    tables,
    h("section", { class: "compare-part" }, h("h2", null, "Charts"), chartsBox),
    mediaBox);
  setQuery();

  const sets = runs.map((r) => ({ id: r.id, name: r.name, color: r.color, grouped: false,
    runs: [{ id: r.id, name: r.name }] }));
  const later = mediaCompare.update({ runs, key: ctx.query.get("media") || undefined })
    .catch((err) => { if (err.name !== "AbortError" && ctx.alive()) mediaBox.append(errorBox(err)); });
  await panelGrid.draw(sets);
  await later;
}
