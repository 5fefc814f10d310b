// Saved views of the project workspace: the page's query (filters, grouping, hidden runs,
// panel settings) and the selected runs, saved under a name in the store (each save a new
// record; nothing overwritten) and opened again from a menu.

import { api, write } from "./api.js";
import { errorBox, fill, h, seg } from "./dom.js";
import { askToken, flash } from "./widgets.js";

/** The state a view keeps: the query string's parameters (all but the page offset) and the selection. */
export function viewState(search, selection) {
  const params = new URLSearchParams(search);
  params.delete("offset");
  params.delete("view");
  return { params: params.toString(), selection };
}

/** A menu to open a saved view and a name box with a Save button. ``onLoad(params, selection)``. */
export function viewControls({ project, signal, query, selection, onLoad }) {
  const select = h("select", { id: "view-select", "aria-label": "open a saved view" }, h("option", { value: "" }, "views…"));
  const name = h("input", { type: "text", id: "view-name", placeholder: "view name", size: "10", "aria-label": "view name",
    value: new URLSearchParams(location.search).get("view") || "" });
  const status = h("span", { class: "view-status", id: "view-status" });
  const save = h("button", { type: "button", id: "view-save" }, "Save view");
  const base = `/projects/${seg(project)}/views`;
  const list = async () => {
    try {
      const views = await api(base, { signal });
      fill(select, h("option", { value: "" }, views.length ? "views…" : "no saved views"),
        views.map((v) => h("option", { value: v.name }, v.name)));
    } catch (err) {
      if (err.name !== "AbortError") fill(status, errorBox(err));
    }
  };
  select.addEventListener("change", async () => {
    const chosen = select.value;
    if (!chosen) return;
    try {
      const view = await api(`${base}/${seg(chosen)}`, { signal });
      const params = new URLSearchParams(view.state?.params || "");
      params.set("view", chosen);
      onLoad(params.toString(), Array.isArray(view.state?.selection) ? view.state.selection : null);
    } catch (err) {
      if (err.name !== "AbortError") fill(status, errorBox(err));
    }
  });
  save.addEventListener("click", async () => {
    const text = name.value.trim();
    if (!text) { fill(status, h("span", { class: "error" }, "give the view a name")); return; }
    try {
      const rec = await write(`${base}/${seg(text)}`, { method: "POST", body: { state: viewState(query(), selection()) } }, askToken);
      flash(status, `saved '${rec.name}' (save ${rec.seq + 1})`);
      await list();
    } catch (err) {
      fill(status, errorBox(err));
    }
  });
  list();
  return h("span", { class: "views" }, select, name, save, status);
}
