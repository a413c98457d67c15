/**
 * The proxy's dashboard panel, from its entry of /v1/status (what GET
 * /v1/proxy/ answers too): whether the listeners run
 * here (and the workers), each frontend (binds, mode, requests, active
 * connections, answers by status class, refused) and each backend's servers
 * (up, observed down by live traffic, down by its check, drain, maint; weight,
 * active, requests, errors), with drain and ready (POST /v1/proxy/servers/...). Runs in the browser (see DashboardPanel in
 * core/module.ts); text is set with textContent only.
 */
import type { DashboardPanel } from "../../core/module.ts";

export const PROXY_PANEL: DashboardPanel = {
  title: "Proxy",
  render: `(p, el, api, ui) => {
  const here = document.createElement("p"); here.id = "proxy-listening";
  const running = p.workers.filter((w) => w.state === "running").length;
  here.textContent = p.active ? "listeners run here: " + running + " of " + p.workers.length + " workers, generation " + p.generation : "listeners do not run here" + (p.managed ? " (the proxy resource runs elsewhere)" : "");
  const [fronts, fbody] = ui.table("proxy-frontends", ["frontend", "binds", "mode", "requests", "active", "answers", "refused"]);
  for (const f of p.frontends) {
    const classes = Object.entries(f.status || {}).filter(([, n]) => n > 0).map(([k, n]) => k + " " + n).join(", ");
    ui.row(fbody, [[f.name], [f.bind.join(" ")], [f.mode + (f.tls ? " tls" : "")], [f.requests], [f.active], [classes || "none"], [f.refused]]);
  }
  const [backs, bbody] = ui.table("proxy-servers", ["backend", "server", "state", "weight", "active", "requests", "errors", ""]);
  for (const b of p.backends) for (const s of b.servers) {
    const state = [s.up ? "up" : s.observed ? "observed down: " + s.observed : "down"];
    if (s.admin !== "ready") state.push(s.admin);
    if (s.backup) state.push("backup");
    const cls = !s.up || s.admin === "maint" ? "state-stopped" : s.admin === "drain" ? "state-stopping" : "state-running";
    const path = "/v1/proxy/servers/" + encodeURIComponent(s.key.slice(0, s.key.indexOf("/"))) + "/" + encodeURIComponent(s.key.slice(s.key.indexOf("/") + 1));
    const act = s.admin === "ready"
      ? ui.action("drain", "Drain " + s.key + " in every backend of its service? It keeps its sticky clients and requests in flight and takes no new ones.", path + "/drain")
      : ui.action("ready", "Make " + s.key + " ready again: clear the drain, maintenance and weight set by an operator?", path + "/ready");
    ui.row(bbody, [[b.name + " (" + b.balance + (b.queued ? ", " + b.queued + " queued" : "") + ")"], [s.key], [state.join(", "), cls], [s.weight], [s.active], [s.requests], [s.errors], act]);
  }
  el.replaceChildren(here, fronts, backs);
}`,
};
