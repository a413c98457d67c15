/**
 * The dashboard: one page served by every node, built on the public API only
 * (/v1/status, /v1/events, and what each module's panel fetches). Plain DOM,
 * no framework and no outside assets, so it works on an appliance with no
 * internet. Data is set with textContent only. A module with a panel in its
 * descriptor gets a section, filled by its renderer while the module runs.
 *
 * With api.read_token_file the API answers the page's requests 401: the page
 * then asks for the token in a form, keeps it in sessionStorage (this tab,
 * until it closes) and sends it as a bearer on every request, the renderers'
 * too (they are given `api`). The event stream is read with fetch, not
 * EventSource, which cannot send a header: the token never goes into a URL.
 */
import type { ModuleDef } from "../module.ts";

const escapeHtml = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The page for these modules' panels. Throws on a renderer that would end the page's script (a programming error). */
export function dashboardHtml(modules: readonly Pick<ModuleDef, "name" | "panel">[]): string {
  const panels = modules.flatMap((m) => (m.panel ? [{ name: m.name, ...m.panel }] : []));
  for (const p of panels) if (/<\/script/i.test(p.render)) throw new Error(`the ${p.name} panel's renderer holds </script>`);
  const sections = panels
    .map((p) => `  <section id="panel-${escapeHtml(p.name)}" hidden>\n    <h2>${escapeHtml(p.title)}</h2>\n    <div></div>\n  </section>\n`)
    .join("");
  const renderers = panels.map((p) => `  ${JSON.stringify(p.name)}: ${p.render},\n`).join("");
  return PAGE.replace("<!--panels-->\n", sections).replace("/*renderers*/\n", renderers);
}

const PAGE = `<!doctype html>
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
  #login input { width: 16rem; }
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
  <form id="login" hidden><label>read token <input id="token" type="password" autocomplete="off" required></label> <button>show</button> <span id="refused" hidden>refused</span></form>
</header>
<main>
  <section>
    <h2>Modules</h2>
    <table><thead><tr><th>module</th><th>state</th><th>detail</th></tr></thead><tbody id="modules"></tbody></table>
  </section>
<!--panels-->
  <section>
    <h2>Events</h2>
    <div id="events"></div>
  </section>
</main>
<script>
const $ = (id) => document.getElementById(id);
const PANELS = {
/*renderers*/
};
const TOKEN = "tandem.token";
let asking = null;
/** The token of this tab, asked for in the form (once for every request waiting for it). */
function askToken() {
  if (!asking) asking = new Promise((resolve) => {
    $("refused").hidden = sessionStorage.getItem(TOKEN) === null;
    sessionStorage.removeItem(TOKEN);
    $("login").hidden = false;
    $("token").focus();
    $("login").onsubmit = (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN, $("token").value.trim());
      $("token").value = "";
      $("login").hidden = true;
      asking = null;
      resolve();
    };
  });
  return asking;
}
/** A request to the API with this tab's token; on 401 the token is asked for and the request made again. */
async function api(path, init = {}) {
  for (;;) {
    const token = sessionStorage.getItem(TOKEN);
    const res = await fetch(path, { ...init, headers: { ...init.headers, ...(token ? { authorization: "Bearer " + token } : {}) } });
    if (res.status !== 401) return res;
    await askToken();
  }
}
function cell(row, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; row.appendChild(td); }
async function refresh() {
  try {
    const s = await (await api("/v1/status")).json();
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
    for (const [name, render] of Object.entries(PANELS)) {
      const section = $("panel-" + name);
      section.hidden = !s.modules[name];
      if (s.modules[name]) await render(s.modules[name], section.querySelector("div"), api);
    }
  } catch (e) { $("phase").textContent = "unreachable"; }
}
const seen = new Set();
let lastId = 0;
function show(data) {
  const e = JSON.parse(data);
  lastId = Math.max(lastId, e.id);
  if (seen.has(e.id)) return;
  seen.add(e.id);
  const line = document.createElement("div");
  line.textContent = new Date(e.at).toISOString().slice(11, 23) + "  " + e.type + "  " + JSON.stringify(e.data);
  $("events").prepend(line);
  while ($("events").childElementCount > 500) $("events").lastChild.remove();
  refresh();
}
const conn = (live) => { $("conn").textContent = live ? "live" : "reconnecting"; $("conn").className = live ? "live" : "down"; };
/** The SSE stream read with fetch, which sends the token as a header, from the last event seen; again 3 s after it ends. */
async function events() {
  for (;;) {
    try {
      const res = await api("/v1/events?since=" + lastId, { headers: { accept: "text/event-stream" } });
      if (!res.ok) throw new Error("HTTP " + res.status);
      conn(true);
      refresh();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        buffer += chunk.value;
        for (let end = buffer.indexOf("\\n\\n"); end >= 0; end = buffer.indexOf("\\n\\n")) {
          const data = buffer.slice(0, end).split("\\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\\n");
          buffer = buffer.slice(end + 2);
          if (data) show(data);
        }
      }
    } catch (e) {}
    conn(false);
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}
refresh();
events();
</script>
</body>
</html>
`;
