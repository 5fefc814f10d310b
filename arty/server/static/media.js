// Rich history values (issue 6): image galleries with a step slider, tables with sort and
// paging, histograms over steps. A media value is a dict with a "_type" key (see docs/ui.md).

import { api, qs } from "./api.js";
import { COLORS, histogramChart, loadPlotly, specChart, themed } from "./charts.js";
import { errorBox, fill, filePath, fmtValue, h, s } from "./dom.js";
import { pagerEl } from "./widgets.js";

// Kinds shown as a gallery of items over steps (each item drawn by mediaItem).
const ITEM_KINDS = new Set(["image", "audio", "video", "html", "object3d", "molecule", "plotly"]);
const KINDS = new Set([...ITEM_KINDS, "table", "histogram"]);
const TABLE_PAGE = 25;
const CLIENT_SIDE_ROWS = 5000;
// A chart is drawn from at most this many rows (the server's page limit; W&B draws at most 10,000 too).
const CHART_ROWS = 10000;
const IMAGE_TYPES = { png: "image/png", jpeg: "image/jpeg", jpg: "image/jpeg", gif: "image/gif" };
// The content type a blob is asked for with, by kind and format (the server allows only these).
const BLOB_TYPES = {
  audio: { wav: "audio/wav", mp3: "audio/mpeg", ogg: "audio/ogg", flac: "audio/flac" },
  video: { gif: "image/gif", mp4: "video/mp4", webm: "video/webm", ogg: "video/ogg" },
};
// Put in front of a logged HTML page shown with inject=True (W&B adds its stylesheet).
const INJECTED_STYLE = "<style>body{font-family:system-ui,sans-serif;font-size:14px;margin:8px}</style>";

function kindOf(value) {
  const v = Array.isArray(value) ? value[0] : value;
  return v && typeof v === "object" && KINDS.has(v._type) ? v._type : null;
}

/** History keys that may hold media: those of ``history`` (a /history response) with no numbers. */
export function mediaCandidates(history) {
  return (history.keys || []).filter((k) => !k.startsWith("_")
    && !(history.series?.[k]?.y || []).some((v) => typeof v === "number")).sort();
}

export function blobUrl(digest, format = "png", kind = "image") {
  const type = kind === "image" ? IMAGE_TYPES[format] || "image/png" : (BLOB_TYPES[kind] || {})[format];
  return "/api/blobs/" + encodeURIComponent(digest) + (type ? qs({ type }) : "");
}

/** A blob's text or JSON (verified by the server). */
async function blobText(digest, signal) {
  const res = await fetch("/api/blobs/" + encodeURIComponent(digest) + qs({ type: "text/plain" }), { signal });
  if (!res.ok) throw new Error(`blob ${digest}: HTTP ${res.status}`);
  return res.text();
}

function labelOf(labels, id) {
  return (labels && labels[String(id)]) || `class_${id}`;
}

/** Box corners in pixels: W&B's {minX, maxX, minY, maxY} or {middle, width, height}, in pixels
 * (domain "pixel") or fractions of the image. */
function boxRect(box, w, h) {
  const p = box.position || {};
  const sx = box.domain === "pixel" ? 1 : w;
  const sy = box.domain === "pixel" ? 1 : h;
  if (p.middle) {
    return { x: (p.middle[0] - p.width / 2) * sx, y: (p.middle[1] - p.height / 2) * sy, w: p.width * sx, h: p.height * sy };
  }
  return { x: p.minX * sx, y: p.minY * sy, w: (p.maxX - p.minX) * sx, h: (p.maxY - p.minY) * sy };
}

/** An SVG layer with one rect (and caption) per box of a box set, in the image's pixel space. */
function boxLayer(name, set, w, hgt) {
  const size = Math.max(4, Math.round(Math.min(w, hgt) / 14));
  const items = (set.box_data || []).map((box) => {
    const r = boxRect(box, w, hgt);
    const color = COLORS[Math.abs(box.class_id) % COLORS.length];
    const scores = Object.entries(box.scores || {}).map(([k, v]) => `${k}=${Math.round(v * 1000) / 1000}`).join(" ");
    const caption = [box.box_caption || labelOf(set.class_labels, box.class_id), scores].filter(Boolean).join(" ");
    return s("g", { class: "box", dataset: { classId: String(box.class_id) } },
      s("rect", { x: r.x, y: r.y, width: Math.max(r.w, 0), height: Math.max(r.h, 0), fill: "none", stroke: color,
        "stroke-width": Math.max(1, size / 6), "vector-effect": "non-scaling-stroke" }),
      s("text", { x: r.x + 1, y: Math.max(r.y - 2, size), fill: color, "font-size": size }, caption));
  });
  return s("svg", { class: "overlay boxes", viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: "none",
    dataset: { layer: name } }, items);
}

/** A canvas layer colouring each pixel of a mask by its class id (class 0 only when it is named). */
function maskLayer(name, mask, w, hgt) {
  const canvas = h("canvas", { class: "overlay mask", width: w, height: hgt, dataset: { layer: name } });
  const img = new Image();
  img.onload = () => {
    const c = canvas.getContext("2d");
    c.drawImage(img, 0, 0, w, hgt);
    const data = c.getImageData(0, 0, w, hgt);
    const px = data.data;
    const zero = mask.class_labels && "0" in mask.class_labels;
    for (let i = 0; i < px.length; i += 4) {
      const id = px[i];
      if (id === 0 && !zero) { px[i + 3] = 0; continue; }
      const hex = COLORS[id % COLORS.length];
      px[i] = parseInt(hex.slice(1, 3), 16);
      px[i + 1] = parseInt(hex.slice(3, 5), 16);
      px[i + 2] = parseInt(hex.slice(5, 7), 16);
      px[i + 3] = 110;
    }
    c.putImageData(data, 0, 0);
    canvas.dataset.drawn = "1";
  };
  img.src = blobUrl(mask.digest, mask.format);
  return canvas;
}

/** An image with its masks and boxes drawn over it, and a toggle per layer. */
function imageItem(img, key) {
  const el = h("img", { src: blobUrl(img.digest, img.format), alt: img.caption || key, loading: "lazy",
    width: img.width || null, height: img.height || null });
  const masks = Object.entries(img.masks || {});
  const boxes = Object.entries(img.boxes || {});
  if (!masks.length && !boxes.length) return [el];
  const layers = [
    ...masks.map(([name, m]) => maskLayer(name, m, img.width, img.height)),
    ...boxes.map(([name, set]) => boxLayer(name, set, img.width, img.height)),
  ];
  const toggles = h("div", { class: "layers small" }, layers.map((layer) => h("label", null,
    h("input", { type: "checkbox", checked: true, onchange: (e) => { layer.style.display = e.target.checked ? "" : "none"; } }),
    ` ${layer.dataset.layer} (${layer.classList.contains("mask") ? "mask" : "boxes"})`)));
  return [h("div", { class: "overlaid" }, el, layers), toggles];
}

/** A point cloud (W&B's pts.json: a list of points or {points}) as a plotly 3-D scatter. */
async function pointCloud(el, value, signal) {
  const cloud = JSON.parse(await blobText(value.digest, signal));
  const pts = Array.isArray(cloud) ? cloud : cloud.points || [];
  const col = (i) => pts.map((p) => p[i]);
  const width = pts.length ? pts[0].length : 3;
  const color = width >= 6 ? pts.map((p) => `rgb(${p[3]},${p[4]},${p[5]})`)
    : width === 4 ? pts.map((p) => COLORS[Math.abs(p[3]) % COLORS.length]) : COLORS[0];
  const Plotly = await loadPlotly();
  await Plotly.newPlot(el, [{ type: "scatter3d", mode: "markers", x: col(0), y: col(1), z: col(2),
    marker: { size: 2, color } }], themed({ margin: { l: 0, r: 0, t: 0, b: 0 }, height: 320 }),
  { displaylogo: false, responsive: true });
  el.dataset.drawn = "1";
}

async function plotlyFigure(el, value, signal) {
  const fig = JSON.parse(await blobText(value.digest, signal));
  const Plotly = await loadPlotly();
  await Plotly.newPlot(el, fig.data || [], { height: 360, ...(fig.layout || {}) }, { displaylogo: false, responsive: true });
  el.dataset.drawn = "1";
}

function download(value, label) {
  const name = `${label}.${value.format || "bin"}`.replace(/[^\w.-]+/g, "_");
  return h("a", { href: blobUrl(value.digest, value.format, "file"), download: name, class: "download" },
    `download ${name}`);
}

/** One logged media value of a gallery kind as elements (compact: a table cell). */
export function mediaItem(value, key, { signal, compact = false } = {}) {
  const kind = value._type;
  if (kind === "image") return imageItem(value, key);
  if (kind === "audio") {
    return [h("audio", { controls: true, preload: "metadata", src: blobUrl(value.digest, value.format, "audio") })];
  }
  if (kind === "video") {
    const src = blobUrl(value.digest, value.format, "video");
    return [value.format === "gif"
      ? h("img", { src, alt: value.caption || key, class: compact ? "thumb" : null, width: value.width || null, height: value.height || null })
      : h("video", { controls: true, preload: "metadata", src, muted: true, class: compact ? "thumb" : null })];
  }
  if (kind === "html") {
    // The page runs in a sandboxed frame: no script, an opaque origin, no forms or popups.
    const frame = h("iframe", { sandbox: "", class: compact ? "html-frame small" : "html-frame", title: key, referrerpolicy: "no-referrer" });
    blobText(value.digest, signal).then((text) => {
      frame.srcdoc = (value.inject === false ? "" : INJECTED_STYLE) + text;
      frame.dataset.loaded = "1";
    }).catch((err) => frame.replaceWith(errorBox(err)));
    return [frame];
  }
  if (kind === "object3d" && value.format === "pts.json" && !compact) {
    const el = h("div", { class: "chart cloud", dataset: { key } });
    pointCloud(el, value, signal).catch((err) => fill(el, errorBox(err)));
    return [el, download(value, key)];
  }
  if (kind === "plotly" && !compact) {
    const el = h("div", { class: "chart plotly-figure", dataset: { key } });
    plotlyFigure(el, value, signal).catch((err) => fill(el, errorBox(err)));
    return [el];
  }
  return [download(value, key)];
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

function gallery(ctx, key, entries, kind) {
  const box = h("div", { class: "gallery" });
  const show = (i) => {
    const items = [].concat(entries[i].value).filter((v) => v && v._type === kind);
    fill(box, items.map((v) => h("figure", { dataset: { kind } }, mediaItem(v, key, { signal: ctx.signal }),
      v.caption ? h("figcaption", null, v.caption) : null)));
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
              ? h("img", { src: blobUrl(v.digest, v.format), alt: v.caption || "", class: "thumb" })
              : v && typeof v === "object" && ITEM_KINDS.has(v._type) && v.digest
                ? mediaItem(v, String(res.columns[row.indexOf(v)] || "cell"), { signal: ctx.signal, compact: true })
                : fmtValue(v))))))),
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
      if (ITEM_KINDS.has(kind)) section.append(...gallery(ctx, key, entries, kind));
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
