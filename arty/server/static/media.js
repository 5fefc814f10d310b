// Rich history values (issue 6): image galleries with a step slider, tables with sort and
// paging, histograms over steps. A media value is a dict with a "_type" key (see docs/ui.md).

import { api, qs } from "./api.js";
import { histogramChart, specChart } from "./charts.js";
import { errorBox, fill, filePath, fmtValue, h } from "./dom.js";
import { pagerEl } from "./widgets.js";

const KINDS = new Set(["image", "table", "histogram"]);
const TABLE_PAGE = 25;
const CLIENT_SIDE_ROWS = 5000;
// A chart is drawn from at most this many rows (the server's page limit; W&B draws at most 10,000 too).
const CHART_ROWS = 10000;
const IMAGE_TYPES = { png: "image/png", jpeg: "image/jpeg", jpg: "image/jpeg" };

function kindOf(value) {
  const v = Array.isArray(value) ? value[0] : value;
  return v && typeof v === "object" && KINDS.has(v._type) ? v._type : null;
}

/** History keys that may hold media: those of ``history`` (a /history response) with no numbers. */
export function mediaCandidates(history) {
  return (history.keys || []).filter((k) => !k.startsWith("_")
    && !(history.series?.[k]?.y || []).some((v) => typeof v === "number")).sort();
}

export function blobUrl(digest, format = "png") {
  return "/api/blobs/" + encodeURIComponent(digest) + qs({ type: IMAGE_TYPES[format] || "image/png" });
}

/** A range input over the steps of ``entries``, calling ``show(index)``. */
function stepSlider(entries, show, id) {
  const label = h("span", { class: "mono" });
  const input = h("input", { type: "range", min: "0", max: String(entries.length - 1), step: "1",
    value: String(entries.length - 1), class: "grow", id, "aria-label": "step" });
  const set = () => {
    const i = Number(input.value);
    label.textContent = `step ${entries[i].step}`;
    show(i);
  };
  input.addEventListener("input", set);
  queueMicrotask(set);
  return h("div", { class: "toolbar small slider" }, h("span", null, "step"), input, label,
    h("span", { class: "muted" }, `${entries.length} logged`));
}

function gallery(key, entries) {
  const box = h("div", { class: "gallery" });
  const show = (i) => {
    const items = [].concat(entries[i].value).filter((v) => v && v._type === "image");
    fill(box, items.map((img) => h("figure", null,
      h("img", { src: blobUrl(img.digest, img.format), alt: img.caption || key, loading: "lazy",
        width: img.width || null, height: img.height || null }),
      img.caption ? h("figcaption", null, img.caption) : null)));
  };
  return [stepSlider(entries, show, "slider-" + key), box];
}

/** GET .../table as {columns, rows, total} (an older server answers [columns, rows, total]). */
async function tableRows(ctx, base, digest, offset, limit) {
  const res = await api(base + "/table" + qs({ digest, offset, limit }), { signal: ctx.signal });
  return Array.isArray(res) ? { columns: res[0], rows: res[1], total: res[2] } : res;
}

function tableView(ctx, base, key, entries) {
  const chart = h("div", { class: "chart wide-chart", dataset: { key }, hidden: true });
  const box = h("div", { class: "media-table" });
  const show = async (i) => {
    const t = [].concat(entries[i].value)[0];
    const state = { sort: null, desc: false, offset: 0 };
    const small = t.nrows == null || t.nrows <= CLIENT_SIDE_ROWS;
    const hasChart = !!t.chart && typeof t.chart === "object";
    const first = hasChart || small
      ? await tableRows(ctx, base, t.digest, 0, hasChart ? CHART_ROWS : CLIENT_SIDE_ROWS) : null;
    const all = small ? first : null;
    // A chart of arty.plot (a "chart" spec on the table): drawn from its rows, above the table.
    chart.hidden = !hasChart;
    if (hasChart) {
      chart.dataset.kind = String(t.chart.kind);
      specChart(chart, t.chart, first).catch((err) => fill(chart, errorBox(err)));
    }
    const draw = async () => {
      let res;
      if (all) {
        let rows = all.rows;
        if (state.sort !== null) {
          const c = state.sort;
          rows = [...rows].sort((a, b) => {
            const x = a[c];
            const y = b[c];
            const r = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
            return state.desc ? -r : r;
          });
        }
        res = { columns: all.columns, rows: rows.slice(state.offset, state.offset + TABLE_PAGE), total: all.total };
      } else {
        res = await tableRows(ctx, base, t.digest, state.offset, TABLE_PAGE);
      }
      fill(box,
        h("table", { class: "grid" },
          h("thead", null, h("tr", null, res.columns.map((c, j) => h("th", { class: "sortable", title: all ? "sort" : "",
            onclick: () => { if (!all) return; state.desc = state.sort === j ? !state.desc : false; state.sort = j; state.offset = 0; draw(); } },
          String(c), state.sort === j ? (state.desc ? " ▼" : " ▲") : "")))),
          h("tbody", null, res.rows.map((row) => h("tr", null, row.map((v) => h("td", { class: typeof v === "number" ? "num" : null },
            v && typeof v === "object" && v._type === "image"
              ? h("img", { src: blobUrl(v.digest, v.format), alt: v.caption || "", class: "thumb" }) : fmtValue(v))))))),
        pagerEl(state.offset, TABLE_PAGE, res.total, (o) => { state.offset = o; draw(); }));
    };
    await draw();
  };
  return [stepSlider(entries, (i) => show(i).catch((err) => fill(box, errorBox(err))), "slider-" + key), chart, box];
}

function histograms(key, entries) {
  const el = h("div", { class: "chart wide-chart", dataset: { key } });
  const ok = entries.filter((e) => kindOf(e.value) === "histogram");
  const values = ok.map((e) => [].concat(e.value)[0]);
  queueMicrotask(() => histogramChart(el, { title: key, steps: ok.map((e) => e.step), histograms: values })
    .catch((err) => fill(el, errorBox(err))));
  return [el];
}

/** The Media tab: one section per media key. */
export async function renderMedia(env) {
  const { ctx, base, body } = env;
  const history = await api(base + "/history" + qs({ samples: 2 }), { signal: ctx.signal });
  const keys = mediaCandidates(history);
  const sections = (await Promise.all(keys.map(async (key) => {
    const section = h("section", { class: "media", dataset: { key } }, h("h2", null, key));
    try {
      const entries = (await api(base + "/media/" + filePath(key), { signal: ctx.signal }))
        .filter((e) => kindOf(e.value));
      const kind = entries.length ? kindOf(entries[entries.length - 1].value) : null;
      if (!kind) return null;
      if (kind === "image") section.append(...gallery(key, entries));
      else if (kind === "table") section.append(...tableView(ctx, base, key, entries));
      else section.append(...histograms(key, entries));
      section.dataset.kind = kind || "";
    } catch (err) {
      if (err.name === "AbortError") throw err;
      section.append(errorBox(err));
    }
    return section;
  }))).filter(Boolean);
  fill(body, sections.length ? sections : h("p", { class: "muted" }, "No media logged."));
  return null;
}
