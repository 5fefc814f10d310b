// The lineage graph drawn as SVG: artifact versions (boxes) and runs (rounded pills) in
// columns from upstream (left) to downstream (right), each node a link to its page.

import { fill, h, runUrl, s, versionUrl } from "./dom.js";

const COL_W = 210;
const ROW_H = 56;
const NODE_W = 170;
const NODE_H = 34;

/** Parse ``run:<project>/<id>`` and ``artifact:<project>/<name>:v<N>`` node ids. */
export function parseNode(id) {
  let m = /^run:([^/]+)\/(.+)$/.exec(id);
  if (m) return { kind: "run", project: m[1], run: m[2] };
  m = /^artifact:([^/]+)\/(.+):v(\d+)$/.exec(id);
  if (m) return { kind: "artifact", project: m[1], name: m[2], version: Number(m[3]) };
  return { kind: "other" };
}

/** Columns by longest path from the sources, each column ordered by its parents' rows. */
export function layout(nodes, edges) {
  const preds = new Map(nodes.map((n) => [n.id, []]));
  const succs = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    if (!preds.has(e.source) || !preds.has(e.target)) continue;
    preds.get(e.target).push(e.source);
    succs.get(e.source).push(e.target);
  }
  const layer = new Map();
  const indeg = new Map(nodes.map((n) => [n.id, preds.get(n.id).length]));
  const queue = nodes.filter((n) => indeg.get(n.id) === 0).map((n) => n.id);
  queue.forEach((id) => layer.set(id, 0));
  while (queue.length) {
    const id = queue.shift();
    for (const t of succs.get(id)) {
      layer.set(t, Math.max(layer.get(t) ?? 0, layer.get(id) + 1));
      indeg.set(t, indeg.get(t) - 1);
      if (indeg.get(t) === 0) queue.push(t);
    }
  }
  nodes.forEach((n) => { if (!layer.has(n.id)) layer.set(n.id, 0); });  // cycles: should not happen
  const columns = [];
  for (const n of nodes) (columns[layer.get(n.id)] ||= []).push(n.id);
  // rows: the first column in name order; each later column at its parents' mean height,
  // pushed down where nodes would overlap; then sources move to their children's mean
  const y = new Map();
  const place = (col, desired) => {
    col.sort((a, b) => desired(a) - desired(b) || a.localeCompare(b));
    let next = 0;
    for (const id of col) {
      const want = desired(id);
      const at = Math.max(Number.isFinite(want) ? want : next, next);
      y.set(id, at);
      next = at + ROW_H;
    }
  };
  const mean = (ids) => (ids.length ? ids.reduce((a, id) => a + y.get(id), 0) / ids.length : Infinity);
  columns.forEach((col, i) => {
    if (i === 0) place(col, () => Infinity);
    else place(col, (id) => mean(preds.get(id).filter((p) => y.has(p))));
  });
  if (columns.length > 1) place(columns[0], (id) => mean(succs.get(id)));
  const pos = new Map();
  let bottom = 0;
  columns.forEach((col, i) => col.forEach((id) => {
    pos.set(id, { x: 10 + i * COL_W, y: 10 + y.get(id) });
    bottom = Math.max(bottom, y.get(id));
  }));
  return { pos, width: 20 + (columns.length - 1) * COL_W + NODE_W, height: 20 + bottom + NODE_H };
}

function truncate(text, n) {
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

/** Draw node-link JSON ``graph`` (as /api/projects/P/lineage returns it) into ``el``. */
export function drawLineage(el, graph, { project, focus } = {}) {
  const nodes = graph.nodes || [];
  const edges = graph.edges || graph.links || [];
  if (nodes.length <= 1 && !edges.length) {
    fill(el, h("p", { class: "muted" }, "No runs used or produced this version yet."));
    return;
  }
  const { pos, width, height } = layout(nodes, edges);
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "lineage graph" },
    s("defs", null, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }))));
  for (const e of edges) {
    const a = pos.get(e.source);
    const b = pos.get(e.target);
    if (!a || !b) continue;
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    const mx = (x1 + x2) / 2;
    svg.append(s("path", { class: ["edge", e.label ? "edge-" + e.label : null], d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`,
      "marker-end": "url(#arrow)" }, s("title", null, e.label || "")));
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    const info = parseNode(n.id);
    const isRun = info.kind === "run";
    const label = isRun ? (n.name || info.run) : `${info.name}:v${info.version}`;
    const sub = isRun ? ["run", n.state, n.job_type].filter(Boolean).join(" · ")
      : [n.type, ...(n.aliases || []).filter((a) => a !== "latest")].filter(Boolean).join(" · ");
    const isFocus = focus && !isRun && info.name === focus.name && info.version === focus.version
      && (!project || info.project === project);
    const href = isRun ? runUrl(info.project, info.run) : info.kind === "artifact" ? versionUrl(info.project, info.name, info.version) : null;
    const box = s("g", { class: ["node", isRun ? "node-run" : "node-artifact", isFocus ? "focus" : null],
      transform: `translate(${p.x},${p.y})`, dataset: { node: n.id } },
    s("title", null, n.id),
    s("rect", { width: NODE_W, height: NODE_H, rx: isRun ? 17 : 4 }),
    s("text", { x: 10, y: 14, class: "label" }, truncate(String(label), 24)),
    s("text", { x: 10, y: 28, class: "sub" }, truncate(sub, 28)));
    svg.append(href ? s("a", { href }, box) : box);
  }
  fill(el, svg);
}
