/**
 * The heartbeat's dashboard panel, from its entry of /v1/status: quorum as
 * this node's heartbeat counts it, every node (this one, and each peer as
 * heard here: up or dead, how long silent, whether it hears this node and
 * holds resources) and each peer's links (state, loss, round trip). Runs in
 * the browser (see DashboardPanel in core/module.ts); text is set with
 * textContent only.
 */
import type { DashboardPanel } from "../../core/module.ts";

export const HEARTBEAT_PANEL: DashboardPanel = {
  title: "Nodes and links",
  render: `(h, el, api, ui) => {
  const quorum = ui.el("p", h.quorate ? "quorum: yes" : "quorum: no, this node's partition holds too few votes", h.quorate ? "state-running" : "state-failed");
  quorum.id = "quorum";
  const yes = (b) => (b ? "yes" : "no");
  const [nodes, nbody] = ui.table("nodes", ["node", "role", "status", "silent", "hears this node", "holds resources"]);
  ui.row(nbody, [[ui.node + " (this node)"], [h.role], ["up", "state-up"], ["-"], ["-"], ["-"]]);
  const peers = Object.entries(h.peers);
  for (const [name, p] of peers) ui.row(nbody, [[name], [p.role], [p.status, "state-" + p.status], [p.silentMs === null ? "never heard" : p.silentMs + " ms"], [yes(p.hearsMe)], [yes(p.holdsResources)]]);
  const [links, lbody] = ui.table("links", ["peer", "link", "state", "loss", "RTT", "received"]);
  for (const [name, p] of peers)
    for (const [link, l] of Object.entries(p.links))
      ui.row(lbody, [[name], [link], [l.status, "state-" + l.status], [l.lossPct + " %", l.lossPct > 0 ? "state-late" : ""], [l.rttMs === null ? "-" : l.rttMs + " ms"], [l.received]]);
  el.replaceChildren(quorum, nodes, ui.el("h3", "Links from this node"), links);
}`,
};
