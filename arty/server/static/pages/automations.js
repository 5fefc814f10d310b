// Automations of a project (project admins): each automation with its trigger and action, a form
// to add one (a webhook's secret is shown once, in the answer to the add), and the delivery log:
// every event delivered, its attempts with status codes, and whether it was delivered or given up.

import { api, write } from "../api.js";
import { fill, fmtTime, h, projectTabs, seg, timeEl } from "../dom.js";
import { askToken, flash } from "../widgets.js";

export function automationsUrl(project) { return "/p/" + seg(project, "automations"); }

function actionText(a) {
  const act = a.action || {};
  if (act.kind === "webhook") return h("span", null, "webhook ", h("code", null, act.url));
  return h("span", null, "command ", h("code", null, (act.command || []).join(" ")));
}

function attemptText(t) {
  const what = t.status != null ? String(t.status) : (t.exit_code != null ? "exit " + t.exit_code : "no answer");
  return h("span", { class: ["attempt", t.ok ? "ok" : "failed"], title: (t.error || "") + " · " + fmtTime(t.at) }, what);
}

function deliveryRows(list) {
  if (!list.length) return h("p", { class: "empty" }, "No deliveries yet.");
  return h("table", { class: "grid deliveries" },
    h("thead", null, h("tr", null, h("th", null, "Event"), h("th", null, "Id"), h("th", null, "When"),
      h("th", null, "State"), h("th", null, "Attempts"), h("th", null, "Last error"))),
    h("tbody", null, list.map((d) => {
      const last = d.attempts[d.attempts.length - 1];
      return h("tr", { dataset: { event: d.event.id, state: d.state } },
        h("td", null, d.event.type + (d.event.ref ? " " + d.event.ref : "") + (d.event.alias ? " → " + d.event.alias : "")),
        h("td", null, h("code", null, d.event.id)),
        h("td", null, d.event.at ? timeEl(d.event.at) : "—"),
        h("td", { class: "state " + d.state }, d.state === "given_up" ? "given up" : d.state),
        h("td", null, d.attempts.map(attemptText)),
        h("td", null, last && !last.ok ? (last.error || "") : ""));
    })));
}

export async function render(ctx) {
  const { project } = ctx.params;
  document.title = `Automations · ${project} · Arty`;
  const list = await api(`/projects/${seg(project)}/automations`, { signal: ctx.signal });
  const logs = await Promise.all(list.map((a) => api(`/projects/${seg(project)}/automations/${seg(a.id)}/deliveries?limit=50`,
    { signal: ctx.signal }).then((r) => r.deliveries)));
  const status = h("div", { class: "form-status", id: "automation-status" });
  const onInput = h("input", { id: "automation-on", placeholder: "alias:prod", required: true });
  const urlInput = h("input", { id: "automation-url", class: "grow", placeholder: "https://ci.example.com/hook", required: true });
  const form = h("form", { class: "edit", id: "automation-form" },
    h("h2", null, "Add a webhook"),
    h("label", null, "on ", onInput), h("label", null, "URL ", urlInput),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Add"), status));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const out = await write(`/projects/${seg(project)}/automations`,
        { method: "POST", body: { on: onInput.value.trim(), webhook: urlInput.value.trim() } }, askToken);
      // the secret is in this answer only: shown once, never fetched again
      fill(status, h("span", { id: "automation-secret" }, "Signing secret (shown once, copy it now): ",
        h("code", null, out.secret)));
      onInput.value = ""; urlInput.value = "";
    } catch (e) {
      fill(status, h("span", { class: "error" }, e.message));
    }
  });
  fill(ctx.root,
    h("div", { class: "page-head" }, h("h1", null, project),
      projectTabs(project, "automations")),
    list.length === 0 ? h("p", { class: "empty" }, "No automations yet. 'art automation add --on alias:prod --webhook URL' adds one.") : null,
    list.map((a, i) => h("section", { class: "automation", dataset: { automation: a.id } },
      h("h2", null, h("code", null, a.id), " on ", h("code", null, a.on)),
      h("p", null, actionText(a), " · by ", a.by || "—", " · ", timeEl(a.created_at),
        " · gives up after ", String(a.give_up_after), " s ",
        h("button", { type: "button", class: "remove", onclick: async () => {
          if (!confirm(`Remove automation ${a.id}?`)) return;
          try {
            await write(`/projects/${seg(project)}/automations/${seg(a.id)}`, { method: "DELETE" }, askToken);
            render(ctx);
          } catch (e) { flash(status, e.message, "error"); }
        } }, "Remove")),
      h("h3", null, "Delivery log"),
      deliveryRows(logs[i]))),
    form);
  ctx.every(5000, async () => {
    const fresh = await Promise.all(list.map((a) => api(`/projects/${seg(project)}/automations/${seg(a.id)}/deliveries?limit=50`,
      { signal: ctx.signal }).then((r) => r.deliveries)));
    ctx.root.querySelectorAll("section.automation").forEach((sec, i) => {
      const old = sec.querySelector("table.deliveries, p.empty");
      if (old) old.replaceWith(deliveryRows(fresh[i]));
    });
  });
}
