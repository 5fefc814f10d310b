// Stable colours: each run (and each group of runs) gets the same colour on every page and
// every visit, from its id, so a run can be followed from the table into every chart.

import { h } from "./dom.js";

/** 24 colours chosen to stay apart from each other on light and dark backgrounds
 *  (Tableau 10, then Kelly's colours of maximum contrast without white, black and greys). */
export const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
  "#f3c300", "#875692", "#f38400", "#a1caf1", "#be0032", "#c2b280", "#008856", "#e68fac", "#0067a5",
  "#f99379", "#604e97", "#f6a600", "#b3446c", "#8db600", "#654522",
];

/** FNV-1a, 32 bits: a small, fast hash of a string, the same in every browser. */
export function hashString(text) {
  let x = 0x811c9dc5;
  const str = String(text);
  for (let i = 0; i < str.length; i++) {
    x ^= str.charCodeAt(i);
    x = Math.imul(x, 0x01000193) >>> 0;
  }
  return x >>> 0;
}

/** The colour of a run (by its id) or of a group (by its key, e.g. "g:lr=0.01"). */
export function colorOf(key) {
  return PALETTE[hashString(key) % PALETTE.length];
}

/** A small square of ``color``. */
export function swatch(color, title) {
  return h("span", { class: "swatch", title: title || null, style: { background: color }, dataset: { color } });
}

/** An eye toggle: shows whether ``key`` is drawn in the charts; ``onToggle(visible)``. */
export function eyeButton(key, visible, label, onToggle) {
  const btn = h("button", { type: "button", class: ["eye", visible ? null : "off"], dataset: { eye: key },
    "aria-pressed": visible ? "true" : "false", title: visible ? `hide ${label} in the charts` : `show ${label} in the charts`,
    "aria-label": `${visible ? "hide" : "show"} ${label}` });  // the glyph is CSS: not part of the row's text
  btn.addEventListener("click", (ev) => {
    ev.stopPropagation();
    onToggle(btn.getAttribute("aria-pressed") !== "true");
  });
  return btn;
}
