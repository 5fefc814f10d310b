// Registries: the list (/registry) and one registry (/registry/<name>): its collections, each
// version with the project/name:version it links, the aliases with who moved them when, the
// pending moves of protected aliases (Approve / Reject for the registry's admins), and a link
// to each version's page, which draws its lineage.

import { api, ApiError } from "../api.js";
import { fill, h, seg, timeEl, versionUrl } from "../dom.js";

export function registryUrl(name) { return "/registry" + (name ? "/" + seg(name) : ""); }

export async function renderList(ctx) {
  document.title = "Registries · Arty";
  const regs = await api("/registries", { signal: ctx.signal });
  fill(ctx.root,
    h("h1", null, "Registries"),
    regs.length === 0
      ? h("p", { class: "empty" }, "No registries yet. 'art link NAME:VERSION registry/COLLECTION' (or run.link_model) makes one.")
      : h("table", { class: "grid", id: "registries" },
        h("thead", null, h("tr", null, h("th", null, "Registry"), h("th", null, "Collections"))),
        h("tbody", null, regs.map((r) => h("tr", { dataset: { registry: r.name } },
          h("td", null, h("a", { href: registryUrl(r.name) }, r.name)),
          h("td", null, r.collections.join(", ") || "—"))))));
}

function sourceLink(v) {
  if (!v.source_project) return "—";
  return h("a", { href: versionUrl(v.source_project, v.source_name, v.source_version), class: "mono source" }, v.source);
}

function historyTable(col) {
  const rows = [];
  for (const [alias, moves] of Object.entries(col.history || {}).sort()) {
    for (const m of moves) {
      rows.push(h("tr", { dataset: { alias, seq: String(m.seq) } },
        h("td", null, alias), h("td", null, m.version === null ? "removed" : m.version),
        h("td", { class: "by" }, m.by || "?"), h("td", null, m.at ? timeEl(m.at) : "—"),
        h("td", { class: "approval" }, m.proposed_by ? `proposed by ${m.proposed_by}, approved by ${m.approved_by}` : "")));
    }
  }
  if (!rows.length) return h("p", { class: "muted" }, "no alias moved yet");
  return h("table", { class: "grid history" },
    h("thead", null, h("tr", null, h("th", null, "Alias"), h("th", null, "To"), h("th", null, "By"), h("th", null, "At"),
      h("th", null, "Approval"))),
    h("tbody", null, rows));
}

function pendingTable(ctx, registry, col, canApprove) {
  if (!col.pending.length) return h("p", { class: "muted" }, "no pending moves");
  const status = h("div", { class: "form-status" });
  const decide = async (m, verb) => {
    try {
      await api(`/projects/${seg(registry, "artifacts", col.name, "aliases", m.alias, verb)}`,
        { method: "POST", body: { move: m.id } });
      renderRegistry(ctx);
    } catch (err) {
      fill(status, h("span", { class: "error" }, err instanceof ApiError ? err.message : String(err)));
    }
  };
  return h("div", null,
    h("table", { class: "grid pending" },
      h("thead", null, h("tr", null, h("th", null, "Alias"), h("th", null, "From"), h("th", null, "To"),
        h("th", null, "Proposed by"), h("th", null, "At"), h("th", null, ""))),
      h("tbody", null, col.pending.map((m) => h("tr", { dataset: { move: m.id, alias: m.alias } },
        h("td", null, m.alias), h("td", null, m.from == null ? "—" : "v" + m.from), h("td", null, "v" + m.version),
        h("td", null, m.by), h("td", null, timeEl(m.at)),
        h("td", { class: "buttons" }, canApprove ? [
          h("button", { type: "button", class: "primary approve", onclick: () => decide(m, "approve") }, "Approve"),
          h("button", { type: "button", class: "reject", onclick: () => decide(m, "reject") }, "Reject"),
        ] : h("span", { class: "muted" }, "an admin approves it")))))),
    status);
}

export async function renderRegistry(ctx) {
  const { registry } = ctx.params;
  document.title = `${registry} · Registries · Arty`;
  const reg = await api(`/registries/${seg(registry)}`, { signal: ctx.signal });
  const sections = reg.collections.map((col) => h("section", { class: "collection", dataset: { collection: col.name } },
    h("div", { class: "page-head" }, h("h2", null, `${registry}/${col.name}`),
      h("span", { class: "tags" }, Object.entries(col.aliases).sort().map(([a, v]) =>
        h("span", { class: ["tag", "alias", col.protected[a] !== undefined ? "protected" : null],
          title: col.protected[a] ? "protected: each move needs another admin's approval"
            : col.protected[a] !== undefined ? "protected: only admins move it" : "" }, `${a} → ${v}`))),
      h("span", { class: "type-badge" }, col.type || "")),
    h("table", { class: "grid versions" },
      h("thead", null, h("tr", null, h("th", null, "Version"), h("th", null, "Source"), h("th", null, "Aliases"),
        h("th", null, "Linked by"), h("th", null, "At"), h("th", null, "Lineage"))),
      h("tbody", null, [...col.versions].reverse().map((v) => h("tr", { dataset: { version: v.version } },
        h("td", null, h("a", { href: versionUrl(registry, col.name, v.version) }, v.version)),
        h("td", null, sourceLink(v)),
        h("td", null, v.aliases.join(", ")),
        h("td", null, v.by || "?"), h("td", null, v.at ? timeEl(v.at) : "—"),
        h("td", null, h("a", { href: versionUrl(registry, col.name, v.version) + "#lineage", class: "lineage-link" }, "lineage")))))),
    h("h3", null, "Pending moves"), pendingTable(ctx, registry, col, reg.can_approve),
    h("h3", null, "Alias history"), historyTable(col)));
  fill(ctx.root,
    h("h1", null, `Registry ${registry}`),
    reg.collections.length ? sections : h("p", { class: "empty" }, "No collections yet."));
}
