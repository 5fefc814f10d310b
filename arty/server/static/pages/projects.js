// The projects list: each project with its run and artifact counts and last activity.

import { api } from "../api.js";
import { artifactsUrl, fill, h, projectUrl, timeEl } from "../dom.js";

export async function render(ctx) {
  document.title = "Projects · Arty";
  const projects = await api("/projects", { signal: ctx.signal });
  const sorted = [...projects].sort((a, b) => String(b.last_activity || "").localeCompare(String(a.last_activity || "")));
  fill(ctx.root,
    h("div", { class: "page-head" }, h("h1", null, "Projects"),
      h("a", { href: "/registry", id: "registries-link" }, "Registries")),
    sorted.length === 0
      ? h("p", { class: "empty" }, "No projects yet. Runs started with arty.init(project=...) and artifacts logged with 'art add' appear here.")
      : h("table", { class: "grid", id: "projects" },
        h("thead", null, h("tr", null, h("th", null, "Project"), h("th", { class: "num" }, "Runs"),
          h("th", { class: "num" }, "Artifacts"), h("th", null, "Last activity"))),
        h("tbody", null, sorted.map((p) => h("tr", { dataset: { project: p.name } },
          h("td", null, h("a", { href: projectUrl(p.name) }, p.name)),
          h("td", { class: "num" }, String(p.runs ?? 0)),
          h("td", { class: "num" }, p.artifacts ? h("a", { href: artifactsUrl(p.name) }, String(p.artifacts)) : "0"),
          h("td", null, p.last_activity ? timeEl(p.last_activity) : "—"))))));
}
