/**
 * The resource manager's dashboard panel, from GET /v1/resources/: the DC, quorum and cluster maintenance;
 * the member nodes (membership, standby, fencing) with standby and online;
 * each group, where it runs and its move, with move (to a node, with an
 * expiry) and clear; every resource's state on every node (disabled and
 * maintenance marked), its failures and a cleanup; the notes of the last
 * decision. Actions POST the routes of routes.ts. Runs in the browser (see
 * DashboardPanel in core/module.ts); text is set with textContent only.
 */
import type { DashboardPanel } from "../../core/module.ts";

export const RESOURCES_PANEL: DashboardPanel = {
  title: "Resources",
  render: `async (status, el, api, ui) => {
  const r = await (await api("/v1/resources/")).json();
  const dc = ui.el("p", "DC " + (r.dc || "none") + (r.quorate ? "" : ", no quorum") + (r.maintenance && r.maintenance.cluster ? ", maintenance: the manager acts on nothing" : ""));
  dc.id = "dc";
  const enc = encodeURIComponent;
  const members = r.nodes.map((n) => n.name);
  const [nodes, nbody] = ui.table("members", ["member", "membership", "standby", "fencing", ""]);
  for (const n of r.nodes) {
    const act = n.standby
      ? ui.action("online", "End the standby of " + n.name + "? Groups may start there again.", "/v1/resources/online/" + enc(n.name))
      : ui.action("standby", "Put " + n.name + " in standby? Its groups move away and nothing starts there.", "/v1/resources/standby/" + enc(n.name));
    ui.row(nbody, [[n.name], [n.membership, "state-" + n.membership], [n.standby ? "standby" : "no", n.standby ? "state-maintenance" : ""], [n.fence], act]);
  }
  const [groups, gbody] = ui.table("groups", ["group", "runs on", "move", ""]);
  for (const g of r.groups) {
    const move = r.moves.find((m) => m.group === g.name);
    const moved = move ? "to " + move.node + (move.until === null ? " until cleared" : move.expired ? " (expired)" : " until " + new Date(move.until).toLocaleTimeString()) : "";
    const acts = [ui.action("move", "Move group " + g.name + "? It stays there until the move expires or is cleared.", "/v1/resources/move/" + enc(g.name) + "/{node}", [{ name: "node", label: "to node", options: members }, { name: "for", label: "for (10m, 1h; empty: until cleared)", optional: true, placeholder: "10m" }])];
    if (move) acts.push(ui.action("clear", "Clear the move of group " + g.name + "? It is placed by its scores again.", "/v1/resources/clear/" + enc(g.name)));
    const where = g.runningOn.length ? g.runningOn.join(", ") : "nowhere";
    ui.row(gbody, [[g.clone ? g.name + " (clone)" : g.name], [where + (g.disabled ? " (disabled)" : ""), g.runningOn.length ? "state-running" : "state-stopped"], [moved], acts]);
  }
  const [table, body] = ui.table("resources", ["group", "resource", "agent", "state by node", "managed", "failures", ""]);
  for (const g of r.groups) for (const name of g.members) {
    const res = r.resources[name];
    const active = Object.entries(res.states).filter(([, st]) => st !== "stopped");
    const failed = r.failures.filter((f) => f.resource === name);
    const off = res.maintenance || [];
    const managed = [g.disabled || res.disabled ? "disabled" : "", off.length ? "maintenance on " + off.join(", ") : ""].filter(Boolean).join("; ") || "yes";
    const failures = failed.map((f) => f.count + "× on " + f.node).join(", ");
    const cleanup = failed.length || active.some(([, st]) => st === "failed") ? ui.action("clean up", "Forget the failures of " + name + " on every node and probe it again?", "/v1/resources/cleanup/" + enc(name)) : [];
    ui.row(body, [[g.clone ? g.name + " (clone)" : g.name], [name], [res.agent], [active.length ? active.map(([n, st]) => st + " on " + n).join(", ") : "stopped", active.some(([, st]) => st === "started") ? "state-running" : "state-stopped"], [managed, off.length ? "state-maintenance" : ""], [failures || "none", failures ? "state-failed" : ""], cleanup]);
  }
  const notes = ui.el("ul");
  for (const n of r.notes) notes.appendChild(ui.el("li", n));
  el.replaceChildren(dc, nodes, groups, table, notes);
}`,
};
