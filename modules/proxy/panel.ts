/**
 * The proxy's dashboard panel, from its entry of /v1/status (what GET
 * /v1/proxy/ answers too): whether the listeners run
 * here (and the workers), each frontend (binds, mode, requests, active
 * connections, answers by status class, refused) and each backend's servers
 * (up, observed down by live traffic, down by its check, drain, maint; weight,
 * active, requests, errors). Runs in the browser (see DashboardPanel in
 * core/module.ts); text is set with textContent only.
 */
import type { DashboardPanel } from "../../core/module.ts";

export const PROXY_PANEL: DashboardPanel = {
  title: "Proxy",
  render: `(p, el) => {
  const table = (id, heads) => {
    const t = document.createElement("table");
    const head = t.createTHead().insertRow();
    for (const h of heads) { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
    const body = t.createTBody(); body.id = id;
    return [t, body];
  };
  const row = (body, cells) => {
    const tr = body.insertRow();
    for (const [text, cls] of cells) { const td = tr.insertCell(); td.textContent = String(text); if (cls) td.className = cls; }
  };
  const here = document.createElement("p"); here.id = "proxy-listening";
  const running = p.workers.filter((w) => w.state === "running").length;
  here.textContent = p.active ? "listeners run here: " + running + " of " + p.workers.length + " workers, generation " + p.generation : "listeners do not run here" + (p.managed ? " (the proxy resource runs elsewhere)" : "");
  const [fronts, fbody] = table("proxy-frontends", ["frontend", "binds", "mode", "requests", "active", "answers", "refused"]);
  for (const f of p.frontends) {
    const classes = Object.entries(f.status || {}).filter(([, n]) => n > 0).map(([k, n]) => k + " " + n).join(", ");
    row(fbody, [[f.name], [f.bind.join(" ")], [f.mode + (f.tls ? " tls" : "")], [f.requests], [f.active], [classes || "none"], [f.refused]]);
  }
  const [backs, bbody] = table("proxy-servers", ["backend", "server", "state", "weight", "active", "requests", "errors"]);
  for (const b of p.backends) for (const s of b.servers) {
    const state = [s.up ? "up" : s.observed ? "observed down: " + s.observed : "down"];
    if (s.admin !== "ready") state.push(s.admin);
    if (s.backup) state.push("backup");
    const cls = !s.up || s.admin === "maint" ? "state-stopped" : s.admin === "drain" ? "state-stopping" : "state-running";
    row(bbody, [[b.name + " (" + b.balance + (b.queued ? ", " + b.queued + " queued" : "") + ")"], [s.key], [state.join(", "), cls], [s.weight], [s.active], [s.requests], [s.errors]]);
  }
  el.replaceChildren(here, fronts, backs);
}`,
};
