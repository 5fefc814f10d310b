// Media across runs: the same image, table or histogram key of the runs charted, side by side
// at one step chosen with a shared slider (each run shows what it logged last at or before that
// step). Images open full size on a click; small ones are scaled up without smoothing.

import { api, qs } from "./api.js";
import { swatch } from "./colors.js";
import { errorBox, fill, filePath, fmtValue, h, s, seg } from "./dom.js";
import { specChart } from "./charts.js";
import { blobUrl, mediaCandidates, mediaItem } from "./media.js";

/** Runs compared at most, side by side. */
export const MAX_RUNS = 12;
/** Images at most this many pixels wide are "tiny": scaled up, pixelated. */
const TINY = 64;
const TABLE_ROWS = 10;
/** A chart is drawn from at most this many rows (the server's page limit, as on the run page). */
const CHART_ROWS = 10000;

/** The entry of ``entries`` (sorted by step) logged last at or before ``step``; null if none. */
export function entryAt(entries, step) {
  let found = null;
  for (const e of entries) {
    if (e.step <= step) found = e; else break;
  }
  return found;
}

/** Open ``src`` full size in a modal; tiny images scaled up to at least 512 px, pixelated. */
export function zoomImage(src, alt, width) {
  const img = h("img", { src, alt: alt || "", class: ["zoomed", width && width <= TINY ? "pixelated" : null] });
  if (width && width <= TINY) img.style.width = `${Math.max(512, width)}px`;
  const dialog = h("dialog", { class: "image-zoom", id: "image-zoom" }, img,
    h("p", { class: "muted small" }, "click or press Esc to close"));
  dialog.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

function imageEl(img) {
  const tiny = img.width && img.width <= TINY;
  const el = h("img", { src: blobUrl(img.digest, img.format), alt: img.caption || "", loading: "lazy",
    class: ["zoomable", tiny ? "pixelated tiny" : null], width: img.width || null, height: img.height || null,
    title: "click for full size" });
  el.addEventListener("click", () => zoomImage(el.src, el.alt, img.width));
  return h("figure", { dataset: { kind: "image" } }, el, img.caption ? h("figcaption", null, img.caption) : null);
}

/** A histogram's bins as small SVG bars, each drawn on its own edges. */
function histogramEl(hg) {
  const W = 220;
  const H = 90;
  const bins = hg.bins || [];
  const values = hg.values || [];
  if (bins.length < 2 || !values.length) return h("p", { class: "muted" }, "empty histogram");
  const lo = bins[0];
  const hi = bins[bins.length - 1];
  const top = Math.max(...values, 1e-12);
  const sx = (v) => (hi > lo ? ((v - lo) / (hi - lo)) * W : 0);
  return h("figure", { dataset: { kind: "histogram" } },
    s("svg", { class: "mini-hist", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "histogram" },
      values.map((c, i) => s("rect", { x: sx(bins[i]), width: Math.max(0.5, sx(bins[i + 1]) - sx(bins[i])),
        y: H - (c / top) * H, height: (c / top) * H, class: "bar" }, s("title", null, `${fmtValue(bins[i])}–${fmtValue(bins[i + 1])}: ${c}`)))),
    h("figcaption", null, `${fmtValue(lo)} … ${fmtValue(hi)}`));
}

export class MediaCompare {
  /** ``onChange(key)`` is called when the chosen key changes. */
  constructor({ box, project, signal, onChange }) {
    this.box = box;
    this.project = project;
    this.signal = signal;
    this.onChange = onChange;
    this.args = null;
    this.keysOf = new Map();   // run id -> media keys
    this.entries = new Map();  // `${run}|${key}` -> [{step, value}]
    this.keySel = h("select", { id: "media-key", "aria-label": "media key" });
    this.slider = h("input", { type: "range", id: "media-step", min: "0", max: "0", step: "1", value: "0", class: "grow",
      "aria-label": "step" });
    this.stepLabel = h("span", { class: "mono", id: "media-step-label" });
    this.grid = h("div", { class: "media-compare" });
    this.note = h("p", { class: "muted" });
    box.append(h("summary", null, "Media across runs"),
      h("div", { class: "toolbar small" }, h("label", null, "key ", this.keySel), h("span", null, "step"), this.slider, this.stepLabel),
      this.note, this.grid);
    this.keySel.addEventListener("change", () => { this.key = this.keySel.value; this.onChange(this.key); this.draw(); });
    this.slider.addEventListener("input", () => this.show());
    box.addEventListener("toggle", () => { if (box.open) this.draw(); });
  }

  /** ``runs``: [{id, name, color}] (the charted runs); ``key``: the key asked for, if any. */
  async update({ runs, key }) {
    this.args = { runs: runs.slice(0, MAX_RUNS) };
    if (key && this.key === undefined) this.key = key;
    if (this.box.open) await this.draw();
  }

  async mediaKeys(runId) {
    if (!this.keysOf.has(runId)) {
      const res = await api(`/projects/${seg(this.project, "runs", runId)}/history` + qs({ samples: 2 }), { signal: this.signal })
        .catch((err) => { if (err.name === "AbortError") throw err; return { keys: [] }; });
      this.keysOf.set(runId, mediaCandidates(res));
    }
    return this.keysOf.get(runId);
  }

  async entriesOf(runId, key) {
    const k = `${runId}|${key}`;
    if (!this.entries.has(k)) {
      const res = await api(`/projects/${seg(this.project, "runs", runId)}/media/${filePath(key)}`, { signal: this.signal })
        .catch((err) => { if (err.name === "AbortError" || err.status !== 404) throw err; return []; });
      this.entries.set(k, res.filter((e) => e.value).sort((a, b) => a.step - b.step));
    }
    return this.entries.get(k);
  }

  async draw() {
    if (!this.args) return;
    const { runs } = this.args;
    try {
      const keys = [...new Set((await Promise.all(runs.map((r) => this.mediaKeys(r.id)))).flat())].sort();
      fill(this.keySel, keys.map((k) => h("option", { value: k }, k)));
      if (!keys.length) {
        this.note.textContent = runs.length ? "The runs charted logged no media." : "Select runs to compare their media.";
        fill(this.grid);
        return;
      }
      const key = keys.includes(this.key) ? this.key : keys[0];
      this.keySel.value = key;
      this.shownKey = key;
      const lists = await Promise.all(runs.map((r) => this.entriesOf(r.id, key)));
      this.lists = lists;
      this.steps = [...new Set(lists.flat().map((e) => e.step))].sort((a, b) => a - b);
      this.slider.max = String(Math.max(0, this.steps.length - 1));
      if (Number(this.slider.value) > this.steps.length - 1 || this.slider.dataset.key !== key) {
        this.slider.value = String(Math.max(0, this.steps.length - 1));
      }
      this.slider.dataset.key = key;
      const having = lists.filter((l) => l.length).length;
      this.note.textContent = `${key}: ${having} of ${runs.length} run${runs.length === 1 ? "" : "s"} logged it, at ${this.steps.length} step${this.steps.length === 1 ? "" : "s"}.`;
      this.show();
    } catch (err) {
      if (err.name !== "AbortError" && !this.signal.aborted) fill(this.grid, errorBox(err));
    }
  }

  /** Show every run's value at the slider's step. */
  show() {
    const { runs } = this.args;
    const step = this.steps[Number(this.slider.value)] ?? 0;
    this.stepLabel.textContent = this.steps.length ? `step ${step}` : "";
    this.grid.dataset.step = String(step);
    fill(this.grid, runs.map((r, i) => {
      const entry = entryAt(this.lists[i] || [], step);
      const body = h("div", { class: "media-body" });
      if (!entry) body.append(h("p", { class: "muted" }, "nothing logged at or before this step"));
      else this.valueInto(body, r, entry.value);
      return h("figure", { class: "media-run", dataset: { run: r.id, step: entry ? String(entry.step) : "" } },
        h("figcaption", { class: "media-run-name" }, swatch(r.color, r.name), " ", r.name,
          entry && entry.step !== step ? h("span", { class: "muted" }, ` (step ${entry.step})`) : null),
        body);
    }));
  }

  valueInto(body, run, value) {
    const items = [].concat(value).filter((v) => v && typeof v === "object");
    for (const v of items) {
      if (v._type === "image") body.append(imageEl(v));
      else if (v._type === "histogram") body.append(histogramEl(v));
      else if (v._type === "table") body.append(this.tableEl(run, v));
      else body.append(...mediaItem(v, this.shownKey, { signal: this.signal }));
    }
  }

  tableEl(run, t) {
    const box = h("div", { class: "media-table" }, h("p", { class: "muted" }, "loading…"));
    const chart = t.chart && typeof t.chart === "object";  // a chart spec (arty.plot, a step's plots file): drawn above
    api(`/projects/${seg(this.project, "runs", run.id)}/table` + qs({ digest: t.digest, offset: 0, limit: chart ? CHART_ROWS : TABLE_ROWS }), { signal: this.signal })
      .then((res) => fill(box, chart ? this.chartEl(t.chart, res) : null, h("table", { class: "grid small" },
        h("thead", null, h("tr", null, res.columns.map((c) => h("th", null, String(c))))),
        h("tbody", null, res.rows.slice(0, TABLE_ROWS).map((row) => h("tr", null, row.map((v) => h("td", { class: typeof v === "number" ? "num" : null },
          v && typeof v === "object" && v._type === "image" ? imageEl(v) : fmtValue(v))))))),
      res.total > TABLE_ROWS ? h("p", { class: "muted small" }, `first ${TABLE_ROWS} of ${res.total} rows`) : null))
      .catch((err) => { if (err.name !== "AbortError") fill(box, errorBox(err)); });
    return box;
  }

  chartEl(spec, table) {
    const el = h("div", { class: "chart compare-chart", dataset: { kind: String(spec.kind) } });
    specChart(el, spec, table).catch((err) => fill(el, errorBox(err)));
    return el;
  }
}
