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

/** A fan-out collapses into one node when it has at least this many members. */
export const FANOUT_MIN = 5;

/**
 * Fan-outs as one node each: nodes of one kind (runs, or versions of one artifact) with the
 * same predecessors and the same successors, ``FANOUT_MIN`` or more of them, become
 * ``{id: "group:<key>", group: true, kind, count, members}``, unless ``expanded`` holds the key.
 * Returns ``{nodes, edges}`` with the edges moved onto the group nodes (each drawn once).
 */
export function collapseFanouts(nodes, edges, expanded = new Set()) {
  const ids = new Set(nodes.map((n) => n.id));
  const preds = new Map(nodes.map((n) => [n.id, []]));
  const succs = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    if (!ids.has(e.source) || !ids.has(e.target)) continue;
    succs.get(e.source).push(e.target);
    preds.get(e.target).push(e.source);
  }
  const buckets = new Map();
  for (const n of nodes) {
    const info = parseNode(n.id);
    const kind = info.kind === "artifact" ? "artifact:" + info.name : info.kind;
    const key = [kind, [...preds.get(n.id)].sort().join(","), [...succs.get(n.id)].sort().join(",")].join("|");
    if (!buckets.has(key)) buckets.set(key, []);
    buckets.get(key).push(n);
  }
  const into = new Map();  // member id -> group id
  const out = [];
  for (const [key, members] of buckets) {
    if (members.length < FANOUT_MIN || expanded.has(key)) { out.push(...members); continue; }
    const id = "group:" + key;
    const kind = parseNode(members[0].id).kind;
    members.forEach((m) => into.set(m.id, id));
    out.push({ id, key, group: true, kind, count: members.length, members: members.map((m) => m.id) });
  }
  const seen = new Set();
  const moved = [];
  for (const e of edges) {
    const source = into.get(e.source) || e.source;
    const target = into.get(e.target) || e.target;
    const k = `${source}\u0000${target}\u0000${e.label || ""}`;
    if (seen.has(k)) continue;
    seen.add(k);
    moved.push({ ...e, source, target });
  }
  return { nodes: out, edges: moved };
}

/** Pan (drag) and zoom (wheel, buttons) of ``viewport`` (a <g>) inside ``svg``. */
function panZoom(svg, viewport, view) {
  const apply = () => viewport.setAttribute("transform", `translate(${view.x},${view.y}) scale(${view.k})`);
  const zoomAt = (factor, cx, cy) => {
    const k = Math.min(4, Math.max(0.2, view.k * factor));
    view.x = cx - ((cx - view.x) * k) / view.k;
    view.y = cy - ((cy - view.y) * k) / view.k;
    view.k = k;
    apply();
  };
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  let drag = null;
  let moved = false;
  svg.addEventListener("dragstart", (ev) => ev.preventDefault());  // a link dragged away would cancel the pan
  svg.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y, id: ev.pointerId };
    moved = false;
  });
  svg.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x;
    const dy = ev.clientY - drag.y;
    if (!moved && Math.hypot(dx, dy) < 4) return;
    if (!moved) { moved = true; svg.classList.add("panning"); svg.setPointerCapture(drag.id); }
    view.x = drag.vx + dx;
    view.y = drag.vy + dy;
    apply();
  });
  const end = () => { drag = null; svg.classList.remove("panning"); };
  svg.addEventListener("pointerup", end);
  svg.addEventListener("pointercancel", end);
  // a drag is not a click on the node it started on
  svg.addEventListener("click", (ev) => {
    if (moved) { ev.preventDefault(); ev.stopPropagation(); moved = false; }
  }, true);
  apply();
  const rect = () => svg.getBoundingClientRect();
  return {
    zoomIn: () => zoomAt(1.25, rect().width / 2, rect().height / 2),
    zoomOut: () => zoomAt(0.8, rect().width / 2, rect().height / 2),
    reset: () => { view.x = 0; view.y = 0; view.k = 1; apply(); },
  };
}

/** The most height the graph takes on the page before it is panned instead. */
const MAX_HEIGHT = 560;

/** Draw node-link JSON ``graph`` (as /api/projects/P/lineage returns it) into ``el``: fan-outs
 *  collapsed (a click on one expands it), pan by dragging, zoom with the wheel or the buttons. */
export function drawLineage(el, graph, { project, focus } = {}) {
  const all = graph.nodes || [];
  const allEdges = graph.edges || graph.links || [];
  if (all.length <= 1 && !allEdges.length) {
    fill(el, h("p", { class: "muted" }, "No runs used or produced this version yet."));
    return;
  }
  el.__lineage = el.__lineage || { expanded: new Set(), view: { x: 0, y: 0, k: 1 } };
  const { expanded, view } = el.__lineage;
  const { nodes, edges } = collapseFanouts(all, allEdges, expanded);
  const { pos, width, height } = layout(nodes, edges);
  const viewport = s("g", { class: "viewport" });
  const svg = s("svg", { width: "100%", height: Math.min(height, MAX_HEIGHT), class: "pannable", role: "img",
    "aria-label": "lineage graph", dataset: { width: String(width), height: String(height) } },
  s("defs", null, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" },
    s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }))), viewport);
  for (const e of edges) {
    const a = pos.get(e.source);
    const b = pos.get(e.target);
    if (!a || !b) continue;
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    const mx = (x1 + x2) / 2;
    viewport.append(s("path", { class: ["edge", e.label ? "edge-" + e.label : null], d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`,
      "marker-end": "url(#arrow)" }, s("title", null, e.label || "")));
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    if (n.group) {
      const what = n.kind === "run" ? "runs" : "versions";
      const g = s("g", { class: ["node", "node-group", n.kind === "run" ? "group-run" : "group-artifact"],
        transform: `translate(${p.x},${p.y})`, dataset: { node: n.id, count: String(n.count) }, tabindex: "0", role: "button",
        "aria-label": `${n.count} ${what}: expand` },
      s("title", null, n.members.join("\n")),
      s("rect", { width: NODE_W, height: NODE_H, rx: n.kind === "run" ? 17 : 4 }),
      s("text", { x: 10, y: 14, class: "label" }, `${n.count} ${what}`),
      s("text", { x: 10, y: 28, class: "sub" }, "click to expand"));
      const open = () => { expanded.add(n.key); drawLineage(el, graph, { project, focus }); };
      g.addEventListener("click", open);
      g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
      viewport.append(g);
      continue;
    }
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
    viewport.append(href ? s("a", { href }, box) : box);
  }
  const zoom = panZoom(svg, viewport, view);
  const collapse = expanded.size ? h("button", { type: "button", id: "lineage-collapse", title: "collapse the fan-outs again",
    onclick: () => { expanded.clear(); drawLineage(el, graph, { project, focus }); } }, "collapse") : null;
  fill(el, h("div", { class: "zoom-controls" },
    h("button", { type: "button", id: "lineage-zoom-in", title: "zoom in", onclick: zoom.zoomIn }, "+"),
    h("button", { type: "button", id: "lineage-zoom-out", title: "zoom out", onclick: zoom.zoomOut }, "−"),
    h("button", { type: "button", id: "lineage-reset", title: "back to the start", onclick: zoom.reset }, "reset"),
    collapse, h("span", { class: "muted small" }, "drag to pan, wheel to zoom")), svg);
}
