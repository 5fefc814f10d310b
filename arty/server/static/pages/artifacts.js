// Artifacts: the list by type, one artifact's versions with aliases (set, move, remove), and a
// version page with metadata, a file browser with downloads, a diff against another version
// and the lineage graph around it.

import { api, qs, write } from "../api.js";
import {
  artifactUrl, artifactsUrl, errorBox, fill, filePath, fmtBytes, fmtTime, h, runUrl, seg, shortDigest,
  projectTabs, timeEl, versionUrl,
} from "../dom.js";
import { drawLineage } from "../lineage.js";
import { askToken, flash, kvTable } from "../widgets.js";

function aliasChips(aliases) {
  if (aliases && !Array.isArray(aliases)) {  // {alias: version}
    return h("span", { class: "tags" }, Object.entries(aliases).sort().map(([a, v]) => h("span", { class: "tag alias" }, `${a} → ${v}`)));
  }
  return h("span", { class: "tags" }, (aliases || []).map((a) => h("span", { class: ["tag", "alias", a === "latest" ? "latest" : null] }, a)));
}

function runLink(project, run) {
  if (!run) return "—";
  if (typeof run === "string") return h("a", { href: runUrl(project, run) }, run);
  return h("a", { href: runUrl(run.project || project, run.id) }, run.name || run.id);
}

function vname(v) { return typeof v === "number" ? "v" + v : String(v); }

// -- list ----------------------------------------------------------------------------------------

export async function renderList(ctx) {
  const { project } = ctx.params;
  document.title = `Artifacts · ${project} · Arty`;
  const type = ctx.query.get("type") || "";
  const all = await api(`/projects/${seg(project)}/artifacts`, { signal: ctx.signal });
  const types = [...new Set(all.map((a) => a.type || "untyped"))].sort();
  const shown = type ? all.filter((a) => (a.type || "untyped") === type) : all;
  const byType = new Map();
  for (const a of shown) {
    const t = a.type || "untyped";
    if (!byType.has(t)) byType.set(t, []);
    byType.get(t).push(a);
  }
  fill(ctx.root,
    h("div", { class: "page-head" }, h("h1", null, project),
      projectTabs(project, "artifacts")),
    h("nav", { class: "toolbar small", id: "type-filter" }, "type: ",
      h("a", { href: artifactsUrl(project), class: type ? null : "active" }, "all"),
      types.map((t) => h("a", { href: artifactsUrl(project, t), class: t === type ? "active" : null }, t))),
    shown.length === 0 ? h("p", { class: "empty" }, "No artifacts yet. 'art add PATH --type TYPE' or run.log_artifact(...) logs one.") : null,
    [...byType].sort(([a], [b]) => a.localeCompare(b)).map(([t, list]) => h("section", { class: "artifact-type", dataset: { type: t } },
      h("h2", null, t),
      h("table", { class: "grid artifacts" },
        h("thead", null, h("tr", null, h("th", null, "Name"), h("th", { class: "num" }, "Versions"), h("th", null, "Latest"),
          h("th", null, "Aliases"), h("th", null, "Updated"))),
        h("tbody", null, list.sort((a, b) => a.name.localeCompare(b.name)).map((a) => h("tr", { dataset: { artifact: a.name } },
          h("td", null, h("a", { href: artifactUrl(project, a.name) }, a.name)),
          h("td", { class: "num" }, String(a.versions)),
          h("td", null, a.latest != null ? h("a", { href: versionUrl(project, a.name, vname(a.latest)) }, vname(a.latest)) : ""),
          h("td", null, aliasChips(a.aliases)),
          h("td", null, timeEl(a.updated_at)))))))));
}

// -- one artifact ------------------------------------------------------------------------------------

export async function renderArtifact(ctx) {
  const { project, name } = ctx.params;
  document.title = `${name} · ${project} · Arty`;
  const base = `/projects/${seg(project, "artifacts", name)}`;
  const status = h("div", { class: "form-status", id: "alias-status" });
  const tableBox = h("div");
  let art = null;

  // versions newest first, as the API lists them
  const draw = () => {
    fill(tableBox, h("table", { class: "grid", id: "versions" },
      h("thead", null, h("tr", null, h("th", null, "Version"), h("th", null, "Aliases"), h("th", null, "Digest"),
        h("th", { class: "num" }, "Size"), h("th", { class: "num" }, "Files"), h("th", null, "Created"), h("th", null, "By run"))),
      h("tbody", null, art.versions.map((v) => h("tr", { dataset: { version: vname(v.version) } },
        h("td", null, h("a", { href: versionUrl(project, name, vname(v.version)) }, vname(v.version))),
        h("td", null, h("span", { class: "tags" }, (v.aliases || []).map((a) => h("span", { class: ["tag", "alias", a === "latest" ? "latest" : null] }, a,
          a === "latest" ? null : h("button", { type: "button", class: "x", title: `remove alias ${a}`, "aria-label": `remove alias ${a}`,
            onclick: () => removeAlias(a) }, "×"))))),
        h("td", { class: "mono", title: v.digest }, shortDigest(v.digest)),
        h("td", { class: "num" }, fmtBytes(v.size)),
        h("td", { class: "num" }, String(v.files ?? "")),
        h("td", null, timeEl(v.created_at)),
        h("td", null, runLink(project, v.created_by ? { id: v.created_by, name: v.created_by_name } : null)))))));
    fill(versionSelect, art.versions.map((v) => h("option", { value: vname(v.version) }, vname(v.version))));
  };
  const load = async () => { art = await api(base, { signal: ctx.signal }); draw(); };

  async function removeAlias(alias) {
    try {
      await write(`${base}/aliases/${seg(alias)}`, { method: "DELETE", signal: ctx.signal }, askToken);
      flash(status, `alias '${alias}' removed`);
      await load();
    } catch (err) { if (err.name !== "AbortError") fill(status, errorBox(err)); }
  }

  const aliasInput = h("input", { type: "text", id: "alias-input", placeholder: "alias, e.g. prod", required: true });
  const versionSelect = h("select", { id: "alias-version", "aria-label": "version" });
  const form = h("form", { class: "toolbar small", id: "alias-form" }, "Set alias ", aliasInput, " on ", versionSelect,
    h("button", { type: "submit" }, "Set"), status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const alias = aliasInput.value.trim();
    if (!alias) return;
    try {
      await write(`${base}/aliases`, { method: "POST", body: { alias, version: versionSelect.value }, signal: ctx.signal }, askToken);
      flash(status, `alias '${alias}' now on ${versionSelect.value}`);
      aliasInput.value = "";
      await load();
    } catch (err) { if (err.name !== "AbortError") fill(status, errorBox(err)); }
  });

  await load();
  const usageBox = h("section", { id: "usage", class: "usage" }, h("h2", null, "Storage"), h("p", { class: "muted" }, "measuring…"));
  fill(ctx.root,
    h("div", { class: "page-head" }, h("h1", null, name), h("span", { class: "type-badge" }, art.type || "")),
    h("p", { class: "muted" }, `${art.versions.length} version${art.versions.length === 1 ? "" : "s"}`),
    tableBox, form, usageBox);
  drawUsage(usageBox, `/projects/${seg(project, "usage", name)}`, ctx.signal);  // after the page: it may take a moment on a large store
}

// The bytes of the artifact and of each version ('art du NAME'), and the retention that applies.
async function drawUsage(box, path, signal) {
  let u;
  try { u = await api(path, { signal }); } catch (err) {
    if (err.name !== "AbortError") fill(box, h("h2", null, "Storage"), errorBox(err));
    return;
  }
  const row = (label, x) => h("tr", { dataset: { usage: label } }, h("td", null, label),
    h("td", { class: "num logical" }, fmtBytes(x.logical)), h("td", { class: "num unique" }, fmtBytes(x.unique)),
    h("td", { class: "num shared" }, fmtBytes(x.shared)));
  const p = u.policy;
  const rules = p ? [p.keep_last != null ? `keep the last ${p.keep_last}` : null,
    p.keep_days != null ? `keep versions younger than ${p.keep_days} days` : null].filter(Boolean).join(", ") : null;
  fill(box, h("h2", null, "Storage"),
    h("p", { class: "muted" }, "Unique: what deleting it would free (shared blobs counted once). Shared: also used by other versions or runs."),
    h("table", { class: "grid", id: "usage-table" },
      h("thead", null, h("tr", null, h("th", null, ""), h("th", { class: "num" }, "Logical"), h("th", { class: "num" }, "Unique"),
        h("th", { class: "num" }, "Shared"))),
      h("tbody", null, u.artifact ? row("all versions", u.artifact) : null, u.versions.map((v) => row(v.version, v)))),
    h("p", { class: "muted", id: "retention" }, rules ? `Retention (${p.scope}): ${rules}; 'art gc' applies it.`
      : "No retention policy: 'art retention set' adds one."));
}

// -- one version ---------------------------------------------------------------------------------------

export async function renderVersion(ctx) {
  const { project, name, version } = ctx.params;
  document.title = `${name}:${version} · ${project} · Arty`;
  const base = `/projects/${seg(project, "artifacts", name, version)}`;
  const [v, art] = await Promise.all([
    api(base, { signal: ctx.signal }),
    api(`/projects/${seg(project, "artifacts", name)}`, { signal: ctx.signal }),
  ]);
  const number = typeof v.version === "number" ? v.version : Number(String(v.version).replace(/^v/, ""));
  const vlabel = vname(v.version);

  const filesBox = h("div", { id: "file-browser" });
  const diffBox = h("div", { id: "diff" });
  const lineageBox = h("div", { class: "lineage", id: "lineage" });
  const info = {
    version: vlabel, digest: v.digest, size: v.size != null ? `${fmtBytes(v.size)} (${v.size} bytes)` : undefined,
    files: v.files ?? v.file_count, type: v.type, created: fmtTime(v.created_at), "logged by": v.by || undefined, description: v.description || undefined,
    tags: v.tags?.length ? v.tags.join(", ") : undefined, ttl: v.ttl != null ? `${v.ttl} s` : undefined,
  };
  const edits = v.edits?.length
    ? h("table", { class: "kv", id: "version-edits" }, h("tbody", null, v.edits.map((e) =>
      h("tr", null, h("th", null, fmtTime(e.at)), h("td", null, `${e.by || "?"}: ${e.fields.join(", ")}`)))))
    : null;
  const others = art.versions.map((x) => vname(x.version)).filter((x) => x !== vlabel);
  const otherSelect = h("select", { id: "diff-other", "aria-label": "other version" },
    others.map((x) => h("option", { value: x }, x)));
  if (number > 0 && others.includes("v" + (number - 1))) otherSelect.value = "v" + (number - 1);

  fill(ctx.root,
    h("div", { class: "page-head" }, h("h1", null, `${name}:${vlabel}`), aliasChips(v.aliases),
      h("span", { class: "type-badge" }, v.type || "")),
    h("div", { class: "columns" },
      h("div", null, h("h2", null, "Version"), kvTable(info, { id: "version-info" }),
        h("h2", null, "Runs"),
        h("table", { class: "kv", id: "version-runs" }, h("tbody", null,
          v.link ? h("tr", null, h("th", null, "Linked from"), h("td", null, h("a", { id: "linked-from",
            href: versionUrl(v.link.project, v.link.name, v.link.version) }, `${v.link.project}/${v.link.name}:${v.link.version}`))) : null,
          h("tr", null, h("th", null, "Created by"), h("td", null, runLink(project, v.created_by))),
          h("tr", null, h("th", null, "Used by"), h("td", null, v.used_by?.length
            ? h("span", { class: "list" }, v.used_by.map((r) => runLink(project, r))) : "—"))))),
      h("div", null, h("h2", null, "Metadata"),
        h("pre", { class: "json", id: "metadata" }, JSON.stringify(v.metadata ?? {}, null, 2)),
        edits ? h("h2", null, "Edits") : null, edits)),
    h("h2", null, "Files"), filesBox,
    h("h2", null, "Diff"),
    others.length ? h("div", { class: "toolbar small" }, `${vlabel} against `, otherSelect,
      h("button", { type: "button", id: "diff-button", onclick: () => showDiff() }, "Compare")) : h("p", { class: "muted" }, "the only version"),
    diffBox,
    h("h2", null, "Lineage"), lineageBox);

  // file browser: the folder in ?path=, its subfolders and files
  async function browse(prefix) {
    const list = await api(base + "/files" + qs({ prefix: prefix || undefined }), { signal: ctx.signal });
    const dirs = new Map();
    const here = [];
    for (const f of list) {
      if (prefix && !f.path.startsWith(prefix)) continue;
      const rest = f.path.slice(prefix.length);
      const i = rest.indexOf("/");
      if (i >= 0) {
        const d = rest.slice(0, i + 1);
        const e = dirs.get(d) || { files: 0, size: 0 };
        e.files++; e.size += f.size || 0;
        dirs.set(d, e);
      } else here.push(f);
    }
    const parts = prefix ? prefix.slice(0, -1).split("/") : [];
    const crumb = [h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); browse(""); } }, "/")];
    parts.forEach((p, i) => {
      const to = parts.slice(0, i + 1).join("/") + "/";
      crumb.push(h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); browse(to); } }, p + "/"));
    });
    fill(filesBox, h("div", { class: "file-crumbs mono" }, crumb),
      h("table", { class: "grid files" },
        h("thead", null, h("tr", null, h("th", null, "Name"), h("th", { class: "num" }, "Size"), h("th", null, "Digest"), h("th", null, ""))),
        h("tbody", null,
          [...dirs].sort(([a], [b]) => a.localeCompare(b)).map(([d, e]) => h("tr", { class: "dir", dataset: { path: prefix + d } },
            h("td", null, h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); browse(prefix + d); } }, d)),
            h("td", { class: "num" }, fmtBytes(e.size)), h("td", { class: "muted" }, `${e.files} files`), h("td"))),
          here.sort((a, b) => a.path.localeCompare(b.path)).map((f) => {
            const url = `/api${base}/file/${filePath(f.path)}`;
            return h("tr", { dataset: { path: f.path } },
              h("td", { class: "mono" }, h("a", { href: url, target: "_blank", rel: "noopener" }, f.path.slice(prefix.length))),
              h("td", { class: "num" }, fmtBytes(f.size)),
              h("td", { class: "mono", title: f.digest || "" }, shortDigest(f.digest)),
              h("td", null, h("a", { href: url, download: f.path.split("/").pop() }, "download")));
          }))));
  }

  async function showDiff() {
    fill(diffBox, h("p", { class: "muted" }, "comparing…"));
    try {
      const d = await api(base + "/diff" + qs({ other: otherSelect.value }), { signal: ctx.signal });
      const item = (kind, x) => {
        const path = typeof x === "string" ? x : x.path;
        return h("li", { class: kind }, h("span", { class: "mark" }, { added: "+", removed: "−", changed: "~" }[kind]), " ", path);
      };
      const total = d.added.length + d.removed.length + d.changed.length;
      fill(diffBox, h("p", null, `${vlabel} against ${otherSelect.value}: ${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed`),
        total ? h("ul", { class: "diff-list" }, d.added.map((x) => item("added", x)), d.removed.map((x) => item("removed", x)),
          d.changed.map((x) => item("changed", x))) : h("p", { class: "muted" }, "same files"));
    } catch (err) { if (err.name !== "AbortError") fill(diffBox, errorBox(err)); }
  }

  await Promise.all([
    browse(""),
    api(`/projects/${seg(project)}/lineage` + qs({ ref: `${name}:${vlabel}`, direction: "both", depth: 3 }), { signal: ctx.signal })
      .then((g) => drawLineage(lineageBox, g, { project, focus: { name, version: number } }))
      .catch((err) => { if (err.name !== "AbortError") fill(lineageBox, errorBox(err)); }),
  ]);
}
