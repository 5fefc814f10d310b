// The project workspace's model: grouping runs (by a config key, their group, job type or
// tags, up to two levels), which runs and groups are hidden, and the line sets the charts draw.

import { colorOf } from "./colors.js";
import { fmtValue } from "./dom.js";

/** Group-by choices besides config keys (config keys are given bare, as ``lr``). */
export const SPECIAL_GROUPS = [["@group", "group"], ["@job_type", "job type"], ["@tag", "tag"]];
export const NONE = "(none)";

/** How a group-by choice is shown: ``lr``, ``group``, ``job type``, ``tag``. */
export function groupLabel(by) {
  const found = SPECIAL_GROUPS.find(([v]) => v === by);
  return found ? found[1] : by;
}

/** The raw values of ``run`` for group-by ``by`` (a tag choice may give several; none: [undefined]). */
function rawValues(run, by) {
  if (by === "@group") return [run.group ?? undefined];
  if (by === "@job_type") return [run.job_type ?? undefined];
  if (by === "@tag") return (run.tags || []).length ? run.tags : [undefined];
  return [run.config?.[by]];
}

/** Order of group values: numbers by value, then strings, then "(none)" last. */
function compareValues(a, b) {
  if (a.raw === undefined || b.raw === undefined) return (a.raw === undefined) - (b.raw === undefined);
  const an = typeof a.raw === "number";
  const bn = typeof b.raw === "number";
  if (an && bn) return a.raw - b.raw;
  if (an !== bn) return an ? -1 : 1;
  // "lr=0.0001" before "lr=0.001": the same text ending in different numbers sorts by the number
  const ma = TRAILING_NUMBER.exec(a.label);
  const mb = TRAILING_NUMBER.exec(b.label);
  if (ma && mb && ma[1] === mb[1] && Number(ma[2]) !== Number(mb[2])) return Number(ma[2]) - Number(mb[2]);
  return a.label.localeCompare(b.label, undefined, { numeric: true });
}

const TRAILING_NUMBER = /^(.*?)(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)$/i;

/**
 * ``runs`` grouped by ``by`` (and within each group by ``by2`` when given), groups sorted by
 * value: [{key, label, value, runs, children: [...] | null}]. ``key`` is the group's path, as
 * "0.01" or "0.01|32", used for its row, its eye toggle and its colour.
 */
export function groupRuns(runs, by, by2) {
  const level = (list, field, parent, parentTitle) => {
    const map = new Map();
    for (const r of list) {
      for (const raw of rawValues(r, field)) {
        const label = raw === undefined ? NONE : fmtValue(raw);
        if (!map.has(label)) map.set(label, { raw, label, runs: [] });
        map.get(label).runs.push(r);
      }
    }
    return [...map.values()].sort(compareValues).map((g) => {
      const key = parent ? `${parent}|${g.label}` : g.label;
      const label = `${groupLabel(field)} = ${g.label}`;
      return { key, label, title: parentTitle ? `${parentTitle}, ${label}` : label, value: g.label, runs: g.runs,
        children: null };
    });
  };
  const top = level(runs, by, "", "");
  if (by2) top.forEach((g) => { g.children = level(g.runs, by2, g.key, g.title); });
  return top;
}

/** The colour of a group, from its key. */
export function groupColor(key) {
  return colorOf("g:" + key);
}

/** Whether a group (by key) is hidden: it or a group above it is in ``hidden`` as "g:<key>". */
export function groupHidden(hidden, key) {
  const parts = key.split("|");
  for (let i = 1; i <= parts.length; i++) if (hidden.has("g:" + parts.slice(0, i).join("|"))) return true;
  return false;
}

/**
 * What the charts draw: [{id, name, color, runs: [{id, name}], grouped}], hidden ones left out.
 * Grouped: one set per innermost group (its runs' mean and band); else one per selected run.
 */
export function lineSets({ runs, selection, by, by2, hidden, perGroup = 20 }) {
  if (by) {
    const leaves = groupRuns(runs, by, by2).flatMap((g) => g.children || [g]);
    return leaves.filter((g) => !groupHidden(hidden, g.key)).map((g) => ({
      id: "g:" + g.key, name: g.title, color: groupColor(g.key), grouped: true,
      runs: g.runs.filter((r) => !hidden.has(r.id)).slice(0, perGroup).map((r) => ({ id: r.id, name: r.name || r.id })),
    })).filter((set) => set.runs.length);
  }
  return [...selection].filter(([id]) => !hidden.has(id))
    .map(([id, name]) => ({ id, name, color: colorOf(id), grouped: false, runs: [{ id, name }] }));
}

/** Config keys to show by default: those that vary across the runs (server's ``varying_keys``). */
export function defaultColumns(data, { summaryLimit = 10, configFallback = 5 } = {}) {
  const visible = (keys) => (keys || []).filter((k) => !k.startsWith("_"));
  const config = visible(data.varying_keys);
  const cols = (config.length ? config : visible(data.config_keys).slice(0, configFallback)).map((k) => "config." + k);
  const numeric = visible(data.summary_keys).filter((k) => data.runs.some((r) => typeof r.summary?.[k] === "number"));
  return [...cols, ...numeric.slice(0, summaryLimit).map((k) => "summary." + k)];
}
