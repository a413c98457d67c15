/**
 * The director's dashboard panel, from its entry of /v1/status: the
 * dataplane, whether this node is the active director, the last reconcile,
 * and each virtual service with its real servers' health, weight and the
 * admin's override, with drain and enable (POST /v1/director/servers/...).
 * Runs in the browser (see DashboardPanel in core/module.ts); text is set
 * with textContent only.
 */
import type { DashboardPanel } from "../../core/module.ts";

export const DIRECTOR_PANEL: DashboardPanel = {
  title: "Virtual services",
  render: `(d, el, api, ui) => {
  const r = d.reconcile;
  const here = ui.el("p", "dataplane " + d.dataplane + "; " + (d.active ? "this node is the active director" : "this node is not the active director: the services run where the director resource runs") + (r && r.error ? "; the last reconcile failed: " + r.error : ""));
  here.id = "director-here";
  const [t, body] = ui.table("virtual-services", ["virtual service", "real server", "health", "weight", "admin", ""]);
  for (const v of d.virtualServices) {
    const name = [v.name + " " + v.key.replace(/^tcp:/, "") + (v.up ? "" : " (down)") + (v.sorry ? ", sorry server" : ""), v.up ? "state-running" : "state-failed"];
    if (!v.servers.length) ui.row(body, [name, ["no real server"], [""], [""], [""], [""]]);
    for (const s of v.servers) {
      const at = s.address + ":" + s.port;
      const path = "/v1/director/servers/" + encodeURIComponent(s.key.slice(0, s.key.indexOf("/"))) + "/" + encodeURIComponent(at);
      const act = s.override === null
        ? ui.action("drain", "Drain real server " + at + " of " + v.name + "? Weight 0: no new connections, established ones go on.", path + "/drain")
        : ui.action("enable", "Enable real server " + at + " of " + v.name + " again at its checked weight?", path + "/enable");
      ui.row(body, [name, [at], [s.healthy ? "healthy" : "failed", s.healthy ? "state-running" : "state-failed"], [s.weight], [s.override === null ? "" : s.override === 0 ? "drained" : "weight " + s.override, "state-maintenance"], act]);
    }
  }
  el.replaceChildren(here, t);
}`,
};
