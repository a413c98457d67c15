/**
 * The replication's dashboard panel, from its entry of /v1/status: each
 * volume on this node with its role, connection, disk state, whether the peer
 * is primary, what is out of sync, the resync's progress, and where the
 * primary serves it over NBD. Runs in the
 * browser (see DashboardPanel in core/module.ts); text is set with
 * textContent only.
 */
import type { DashboardPanel } from "../../core/module.ts";

export const REPLICATION_PANEL: DashboardPanel = {
  title: "Volumes",
  render: `(r, el, api, ui) => {
  const [t, body] = ui.table("volumes", ["volume", "role", "connection", "disk", "peer", "out of sync", "resync", "NBD"]);
  for (const v of r.volumes) {
    const rs = v.resync;
    const resync = rs ? ui.bytes(rs.bytesLeft) + " left at " + ui.bytes(rs.bytesPerSecond) + "/s" + (rs.etaSeconds === null ? "" : ", about " + rs.etaSeconds + " s") : v.verify ? "verify " + v.verify.checkedRegions + "/" + v.verify.regions + ", " + v.verify.differing + " differing" : "-";
    const conn = v.connection + (v.reason ? " (" + v.reason + ")" : "");
    ui.row(body, [[v.name], [v.role], [conn, v.connection === "connected" ? "state-running" : "state-late"], [v.disk, v.disk === "up-to-date" ? "state-running" : "state-late"], [v.peerPrimary ? "primary" : "secondary"], [ui.bytes(v.outOfSyncBytes)], [resync], [(v.role === "primary" && r.sockets && r.sockets[v.name]) || "-"]]);
  }
  el.replaceChildren(...(r.stale ? [ui.el("p", "the replication thread has not reported lately: this is its last status", "state-late")] : []), t);
}`,
};
