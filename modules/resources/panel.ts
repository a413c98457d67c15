/**
 * The resource manager's dashboard panel: the groups and their resources with
 * the state of each on every node (disabled and maintenance marked), the DC,
 * quorum and cluster maintenance, and the notes of the last decision, from GET /v1/resources/. Runs in the browser (see
 * DashboardPanel in core/module.ts); text is set with textContent only.
 */
import type { DashboardPanel } from "../../core/module.ts";

export const RESOURCES_PANEL: DashboardPanel = {
  title: "Resources",
  render: `async (status, el, api) => {
  const r = await (await api("/v1/resources/")).json();
  const dc = document.createElement("p"); dc.id = "dc";
  dc.textContent = "DC " + (r.dc || "none") + (r.quorate ? "" : ", no quorum") + (r.maintenance && r.maintenance.cluster ? ", maintenance: the manager acts on nothing" : "");
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const h of ["group", "resource", "agent", "state by node", "managed"]) { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
  const body = table.createTBody(); body.id = "resources";
  for (const g of r.groups) for (const name of g.members) {
    const row = body.insertRow();
    const res = r.resources[name];
    const active = Object.entries(res.states).filter(([, st]) => st !== "stopped");
    const cell = (text, cls) => { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; };
    cell(g.clone ? g.name + " (clone)" : g.name); cell(name); cell(res.agent);
    cell(active.length ? active.map(([n, st]) => st + " on " + n).join(", ") : "stopped", active.some(([, st]) => st === "started") ? "state-running" : "state-stopped");
    const off = (res.maintenance || []);
    cell([g.disabled || res.disabled ? "disabled" : "", off.length ? "maintenance on " + off.join(", ") : ""].filter(Boolean).join("; ") || "yes", off.length ? "state-maintenance" : "");
  }
  const notes = document.createElement("ul");
  for (const n of r.notes) { const li = document.createElement("li"); li.textContent = n; notes.appendChild(li); }
  el.replaceChildren(dc, table, notes);
}`,
};
