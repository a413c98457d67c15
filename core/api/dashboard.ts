/**
 * The dashboard: one page served by every node, built on the public API only
 * (/v1/status, /v1/events, /v1/resources/). Plain DOM, no framework and no outside assets, so
 * it works on an appliance with no internet. Data is set with textContent only.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tandem</title>
<style>
  :root { color-scheme: light dark; --ok: #2e7d32; --bad: #c62828; --mid: #ef6c00; font-family: system-ui, sans-serif; }
  body { margin: 0; }
  header { display: flex; gap: 2rem; align-items: baseline; padding: .8rem 1.2rem; background: #263238; color: #eceff1; }
  header h1 { font-size: 1.2rem; margin: 0; }
  main { display: grid; grid-template-columns: minmax(18rem, 1fr) 2fr; gap: 1.2rem; padding: 1.2rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #8884; }
  .state-running { color: var(--ok); } .state-failed, .state-stopped { color: var(--bad); } .state-starting, .state-stopping, .state-reloading { color: var(--mid); }
  #events { font-family: ui-monospace, monospace; font-size: .85rem; max-height: 70vh; overflow: auto; }
  #events div { border-bottom: 1px solid #8882; padding: .2rem 0; }
  #conn.live { color: var(--ok); } #conn.down { color: var(--bad); }
</style>
</head>
<body>
<header>
  <h1>Tandem</h1>
  <span>node <b id="node">…</b></span>
  <span>cluster <b id="cluster">…</b></span>
  <span>phase <b id="phase">…</b></span>
  <span>config <code id="config">…</code></span>
  <span id="state" class="state-failed" hidden></span>
  <span id="conn" class="down">connecting</span>
</header>
<main>
  <section>
    <h2>Modules</h2>
    <table><thead><tr><th>module</th><th>state</th><th>detail</th></tr></thead><tbody id="modules"></tbody></table>
  </section>
  <section id="resources-section" hidden>
    <h2>Resources <small id="dc"></small></h2>
    <table><thead><tr><th>group</th><th>resource</th><th>agent</th><th>state by node</th></tr></thead><tbody id="resources"></tbody></table>
    <ul id="notes"></ul>
  </section>
  <section>
    <h2>Events</h2>
    <div id="events"></div>
  </section>
</main>
<script>
const $ = (id) => document.getElementById(id);
function cell(row, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; row.appendChild(td); }
async function refresh() {
  try {
    const s = await (await fetch("/v1/status")).json();
    $("node").textContent = s.node; $("cluster").textContent = s.cluster; $("phase").textContent = s.phase;
    $("config").textContent = s.config.hash.slice(0, 12);
    $("state").hidden = !s.stateWriteError; $("state").textContent = s.stateWriteError ? "state file not written: " + s.stateWriteError : "";
    const body = $("modules"); body.replaceChildren();
    for (const [name, m] of Object.entries(s.modules)) {
      const row = document.createElement("tr");
      const { state, ...rest } = m;
      cell(row, name); cell(row, state, "state-" + state); cell(row, Object.entries(rest).map(([k, v]) => k + "=" + (v !== null && typeof v === "object" ? Object.keys(v).length + " entries" : String(v))).join(" "));
      body.appendChild(row);
    }
    if (s.modules.resources) await resources(); else $("resources-section").hidden = true;
  } catch (e) { $("phase").textContent = "unreachable"; }
}
async function resources() {
  const r = await (await fetch("/v1/resources/")).json();
  $("resources-section").hidden = false;
  $("dc").textContent = "DC " + (r.dc || "none") + (r.quorate ? "" : ", no quorum");
  const body = $("resources"); body.replaceChildren();
  for (const g of r.groups) for (const name of g.members) {
    const row = document.createElement("tr");
    const res = r.resources[name];
    const active = Object.entries(res.states).filter(([, st]) => st !== "stopped");
    cell(row, g.name); cell(row, name); cell(row, res.agent);
    cell(row, active.length ? active.map(([n, st]) => st + " on " + n).join(", ") : "stopped", active.some(([, st]) => st === "started") ? "state-running" : "state-stopped");
    body.appendChild(row);
  }
  const notes = $("notes"); notes.replaceChildren();
  for (const n of r.notes) { const li = document.createElement("li"); li.textContent = n; notes.appendChild(li); }
}
const seen = new Set();
function show(msg) {
  const e = JSON.parse(msg.data);
  if (seen.has(e.id)) return;
  seen.add(e.id);
  const line = document.createElement("div");
  line.textContent = new Date(e.at).toISOString().slice(11, 23) + "  " + e.type + "  " + JSON.stringify(e.data);
  $("events").prepend(line);
  while ($("events").childElementCount > 500) $("events").lastChild.remove();
  refresh();
}
const source = new EventSource("/v1/events?since=0");
source.onopen = () => { $("conn").textContent = "live"; $("conn").className = "live"; refresh(); };
source.onerror = () => { $("conn").textContent = "reconnecting"; $("conn").className = "down"; };
source.onmessage = show;
refresh();
</script>
</body>
</html>
`;
