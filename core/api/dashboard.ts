/**
 * The dashboard: one page served by every node, built on the public API only.
 * Plain DOM, no framework and no outside assets, so it works on an appliance
 * with no internet; data is set with textContent only.
 *
 * What the page holds itself: the header (node, cluster, phase, config), the
 * takeovers (GET /v1/failovers, each a timeline of its steps; "no takeovers
 * recorded" when the node answers 404 or an empty list), the lab's faults
 * (GET /v1/lab/, present only when the node runs in a `tandem lab`), the
 * events and the modules' states. The cluster itself is the modules' panels:
 * each module with a panel in its descriptor gets a section, filled by its
 * renderer from its entry of /v1/status while it runs (nodes and links,
 * quorum and DC, groups, virtual services, proxy backends, volumes).
 *
 * Live: the page reads /v1/events (fetch, not EventSource, which cannot send
 * a header) and draws everything again on every event, one refresh at a time
 * (events during one make one more); it never polls. Monitor results that
 * confirm what was known (a monitor or probe that found what was expected, a
 * reconcile that changed nothing, a check that kept its state) are not listed.
 *
 * Tokens: with api.read_token_file the API answers 401 and the page asks for
 * the read token in the header's form, keeps it in sessionStorage and sends it
 * as a bearer. Actions (ui.action in a renderer) open a confirmation dialog;
 * the first one of a tab also asks for the admin token (api.token_file),
 * kept in sessionStorage too and forgotten when the node refuses it. Tokens
 * never go into a URL.
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
  :root { color-scheme: light dark; --ok: #2e7d32; --bad: #c62828; --mid: #ef6c00; --line: #8884; font-family: system-ui, sans-serif; }
  body { margin: 0; }
  header { display: flex; flex-wrap: wrap; gap: 1.2rem 2rem; align-items: baseline; padding: .8rem 1.2rem; background: #263238; color: #eceff1; }
  header h1 { font-size: 1.2rem; margin: 0; }
  header button { font-size: .8rem; }
  main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(18rem, 2fr); gap: 1.2rem; padding: 1.2rem; }
  @media (max-width: 60rem) { main { grid-template-columns: 1fr; } }
  section { margin-bottom: 1.2rem; }
  h2 { font-size: 1.05rem; margin: 0 0 .4rem; border-bottom: 2px solid var(--line); }
  h3 { font-size: .95rem; margin: .6rem 0 .2rem; }
  table { border-collapse: collapse; width: 100%; margin: .3rem 0 .6rem; }
  th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
  td button { margin-right: .3rem; }
  .state-running, .state-up { color: var(--ok); }
  .state-failed, .state-stopped, .state-down, .state-unclean { color: var(--bad); font-weight: 600; }
  .state-starting, .state-stopping, .state-reloading, .state-maintenance, .state-late { color: var(--mid); }
  #events { font-family: ui-monospace, monospace; font-size: .8rem; max-height: 40vh; overflow: auto; }
  #events div { border-bottom: 1px solid #8882; padding: .15rem 0; }
  #conn.live { color: #81c784; } #conn.down { color: #ef9a9a; }
  #login input { width: 14rem; }
  #notice { margin: 0 1.2rem; padding: .4rem .8rem; background: #fff3e0; color: #4e342e; }
  .timeline { list-style: none; padding: 0; margin: 0 0 .8rem; font-size: .85rem; }
  .timeline li { display: grid; grid-template-columns: 5.5rem 8rem 1fr; gap: .5rem; padding: .15rem 0; border-left: 3px solid var(--mid); padding-left: .5rem; }
  .timeline .at { font-family: ui-monospace, monospace; text-align: right; }
  .timeline .kind { font-weight: 600; }
  dialog { max-width: 32rem; }
  [hidden] { display: none !important; }
  dialog label { display: block; margin: .4rem 0; }
  #confirm-error { color: var(--bad); }
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
  <span><span id="admin">read-only</span> <button id="forget" hidden>forget the admin token</button></span>
  <form id="login" hidden><label>read token <input id="token" type="password" autocomplete="off" required></label> <button>show</button> <span id="refused" hidden>refused</span></form>
</header>
<p id="notice" hidden></p>
<main>
  <div id="panels">
<!--panels-->
  </div>
  <aside>
    <section id="takeovers-section">
      <h2>Takeovers</h2>
      <div id="takeovers"><p>…</p></div>
    </section>
    <section id="lab-section" hidden>
      <h2>Lab</h2>
      <p id="lab-name"></p>
      <table><thead><tr><th>host</th><th>role</th><th>process</th><th>faults</th><th>break or mend</th></tr></thead><tbody id="lab-hosts"></tbody></table>
    </section>
    <section>
      <h2>Events</h2>
      <div id="events"></div>
    </section>
    <section>
      <h2>Modules</h2>
      <table><thead><tr><th>module</th><th>state</th><th>detail</th></tr></thead><tbody id="modules"></tbody></table>
    </section>
  </aside>
</main>
<dialog id="confirm">
  <form method="dialog" id="confirm-form">
    <p id="confirm-text"></p>
    <div id="confirm-fields"></div>
    <label id="admin-ask" hidden>admin token <input id="admin-token" type="password" autocomplete="off"></label>
    <p id="confirm-error" hidden></p>
    <button id="confirm-ok" value="ok">confirm</button> <button id="confirm-cancel" value="cancel" formnovalidate>cancel</button>
  </form>
</dialog>
<script>
const $ = (id) => document.getElementById(id);
const PANELS = {
/*renderers*/
};
const TOKEN = "tandem.token";
const ADMIN = "tandem.admin";
let asking = null;
/** The read token of this tab, asked for in the form (once for every request waiting for it). */
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
/** A request to the API with this tab's read token; on 401 the token is asked for and the request made again. */
async function api(path, init = {}) {
  for (;;) {
    const token = sessionStorage.getItem(TOKEN);
    const res = await fetch(path, { ...init, headers: { ...init.headers, ...(token ? { authorization: "Bearer " + token } : {}) } });
    if (res.status !== 401) return res;
    await askToken();
  }
}
function showAdmin() {
  const have = sessionStorage.getItem(ADMIN) !== null;
  $("admin").textContent = have ? "admin" : "read-only";
  $("forget").hidden = !have;
}
$("forget").onclick = () => { sessionStorage.removeItem(ADMIN); showAdmin(); };
function notice(text) { $("notice").textContent = text; $("notice").hidden = !text; }
/** The detail of a problem+json answer, else its status line. */
async function why(res) {
  try { const p = await res.json(); return p.detail || p.title || "HTTP " + res.status; } catch (e) { return "HTTP " + res.status; }
}

/** What renderers are given besides their status, the element and api. */
const ui = {
  node: "",
  el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; },
  /** A table with this id and these headings, and its body. */
  table(id, heads) {
    const t = document.createElement("table");
    const head = t.createTHead().insertRow();
    for (const h of heads) { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
    const body = t.createTBody(); body.id = id;
    return [t, body];
  },
  /** A row: each cell text, [text, class], an element or a list of elements. */
  row(body, cells) {
    const tr = body.insertRow();
    for (const c of cells) {
      const td = tr.insertCell();
      if (c instanceof Node) td.appendChild(c);
      else if (Array.isArray(c) && c.every((x) => x instanceof Node)) td.append(...c);
      else if (Array.isArray(c)) { td.textContent = String(c[0]); if (c[1]) td.className = c[1]; }
      else td.textContent = String(c);
    }
    return tr;
  },
  /**
   * A button that asks, then POSTs \`path\` with the admin token. Fields
   * ({ name, label, options?, optional?, placeholder? }) are asked in the dialog:
   * each fills {name} in the path, else goes in the query when given.
   */
  action(label, question, path, fields = []) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = label; b.className = "action"; b.dataset.path = path;
    b.onclick = () => confirmAction(label, question, path, fields);
    return b;
  },
  /** "12:03:04.567" */
  time(ms) { return new Date(ms).toISOString().slice(11, 23); },
  bytes(n) { const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i ? n.toFixed(1) : String(n)) + " " + u[i]; },
};

/** The confirmation dialog of an action; asks for the admin token when this tab has none or the node refused it. */
function confirmAction(label, question, path, fields) {
  const dialog = $("confirm");
  $("confirm-text").textContent = question;
  $("confirm-error").hidden = true;
  const box = $("confirm-fields"); box.replaceChildren();
  const inputs = {};
  for (const f of fields) {
    const l = document.createElement("label"); l.textContent = f.label + " ";
    let input;
    if (f.options) { input = document.createElement("select"); for (const o of f.options) { const opt = document.createElement("option"); opt.value = o; opt.textContent = o; input.appendChild(opt); } }
    else { input = document.createElement("input"); input.placeholder = f.placeholder || ""; input.required = !f.optional; }
    input.name = f.name; l.appendChild(input); box.appendChild(l); inputs[f.name] = input;
  }
  const ask = () => { $("admin-ask").hidden = sessionStorage.getItem(ADMIN) !== null; $("admin-token").required = !$("admin-ask").hidden; };
  ask();
  $("admin-token").value = "";
  $("confirm-form").onsubmit = async (ev) => {
    ev.preventDefault();
    if (ev.submitter && ev.submitter.value === "cancel") { dialog.close(); return; }
    if (!$("admin-ask").hidden) { sessionStorage.setItem(ADMIN, $("admin-token").value.trim()); $("admin-token").value = ""; showAdmin(); }
    let url = path;
    const query = [];
    for (const f of fields) {
      const v = inputs[f.name].value.trim();
      if (url.includes("{" + f.name + "}")) url = url.replace("{" + f.name + "}", encodeURIComponent(v));
      else if (v) query.push(encodeURIComponent(f.name) + "=" + encodeURIComponent(v));
    }
    if (query.length) url += "?" + query.join("&");
    let res;
    try { res = await fetch(url, { method: "POST", headers: { authorization: "Bearer " + sessionStorage.getItem(ADMIN) } }); }
    catch (e) { $("confirm-error").textContent = "no answer from this node (a fault on the node that serves this page ends its answers): " + e.message; $("confirm-error").hidden = false; return; }
    if (res.ok) { dialog.close(); notice(label + ": done (" + res.status + ")"); refresh(); return; }
    if (res.status === 401) { sessionStorage.removeItem(ADMIN); showAdmin(); }
    $("confirm-error").textContent = "refused: " + (await why(res));
    $("confirm-error").hidden = false;
    ask();
  };
  dialog.showModal();
}
$("confirm-cancel").onclick = (ev) => { ev.preventDefault(); $("confirm").close(); };

function cell(row, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; row.appendChild(td); }
const scalar = (v) => v === null || ["string", "number", "boolean"].includes(typeof v);

async function showStatus() {
  const s = await (await api("/v1/status")).json();
  ui.node = s.node;
  $("node").textContent = s.node; $("cluster").textContent = s.cluster; $("phase").textContent = s.phase;
  $("config").textContent = s.config.hash.slice(0, 12);
  $("state").hidden = !s.stateWriteError; $("state").textContent = s.stateWriteError ? "state file not written: " + s.stateWriteError : "";
  const body = $("modules"); body.replaceChildren();
  for (const [name, m] of Object.entries(s.modules)) {
    const row = document.createElement("tr");
    const { state, ...rest } = m;
    const detail = Object.entries(rest).filter(([, v]) => scalar(v) && String(v).length <= 40).map(([k, v]) => k + " " + v).join(", ");
    cell(row, name); cell(row, state, "state-" + state); cell(row, detail);
    body.appendChild(row);
  }
  for (const [name, render] of Object.entries(PANELS)) {
    const section = $("panel-" + name);
    section.hidden = !s.modules[name];
    if (!s.modules[name]) continue;
    const el = section.querySelector("div");
    try { await render(s.modules[name], el, api, ui); }
    catch (e) { el.replaceChildren(ui.el("p", "cannot show: " + e.message, "state-failed")); }
  }
}

/** "+1234 ms" from the takeover's start. */
const offset = (ms) => "+" + Math.round(ms) + " ms";
async function showTakeovers() {
  const box = $("takeovers");
  const res = await api("/v1/failovers");
  if (res.status === 404) { box.replaceChildren(ui.el("p", "no takeovers recorded")); return; }
  if (!res.ok) { box.replaceChildren(ui.el("p", "cannot show: " + (await why(res)), "state-failed")); return; }
  const { failovers } = await res.json();
  if (!failovers.length) { box.replaceChildren(ui.el("p", "no takeovers recorded")); return; }
  const out = [];
  for (const f of failovers) {
    const took = f.ended === null ? "under way" : "in " + Math.round(f.ended - f.started) + " ms";
    const h = ui.el("h3", f.node + " took over at " + ui.time(f.started) + ", " + took);
    h.className = "takeover"; h.dataset.id = f.id;
    const list = ui.el("ol"); list.className = "timeline";
    for (const step of f.steps) {
      const li = document.createElement("li"); li.className = "step step-" + step.kind;
      li.append(ui.el("span", offset(step.at - f.started), "at"), ui.el("span", step.kind, "kind"), ui.el("span", step.text + (step.duration_ms !== undefined ? " (" + Math.round(step.duration_ms) + " ms)" : "")));
      list.appendChild(li);
    }
    out.push(h, list);
  }
  box.replaceChildren(...out);
}

/** What each fault does, for its confirmation. */
const FAULT_TEXT = {
  power: "power off: every process of its namespace is killed and its links go down",
  kill: "kill its process (SIGKILL)",
  freeze: "freeze its process (SIGSTOP): it holds its sockets and answers nothing",
  isolate: "isolate it: its links go down, nobody reaches it",
};
/** Whether the node runs in no lab (it answered 404): a node is started in a lab or not, so the page asks no more. */
let noLab = false;
async function showLab() {
  if (noLab) return;
  const res = await api("/v1/lab/");
  noLab = res.status === 404;
  $("lab-section").hidden = !res.ok;
  if (!res.ok) return;
  const lab = await res.json();
  $("lab-name").textContent = "this node runs in lab " + lab.lab + ": break a host and watch the cluster take over";
  const body = $("lab-hosts"); body.replaceChildren();
  const watchers = lab.hosts.filter((h) => h.api && h.name !== ui.node).map((h) => h.name);
  for (const h of lab.hosts) {
    const kinds = h.role === "member" || h.role === "arbiter" ? lab.faults : h.role === "realserver" ? ["kill"] : [];
    const self = h.name === ui.node ? " This page is served by " + h.name + ": it stops following the cluster" + (watchers.length ? "; watch from the dashboard of " + watchers.join(" or ") + "." : ".") : "";
    const acts = kinds.map((k) => ui.action(h.role === "realserver" && k === "kill" ? "stop" : k, "Lab " + lab.lab + ": " + FAULT_TEXT[k] + " on " + h.name + "?" + self, "/v1/lab/hosts/" + encodeURIComponent(h.name) + "/fault/" + k));
    if (h.faults.length || h.linksDown.length || (h.process !== null && h.process !== "running")) acts.push(ui.action("heal", "Lab " + lab.lab + ": mend " + h.name + " (links up, its process continued or started again)?", "/v1/lab/hosts/" + encodeURIComponent(h.name) + "/heal"));
    const name = /^https?:\\/\\//.test(h.api || "") && h.name !== ui.node ? Object.assign(ui.el("a", h.name), { href: h.api, title: "the dashboard of " + h.name }) : ui.el("span", h.name);
    ui.row(body, [name, [h.role], [h.process || "-", h.process === "running" ? "state-running" : h.process ? "state-stopped" : ""], [[...h.faults, ...h.linksDown.map((n) => "link " + n)].join(", ") || "none", h.faults.length ? "state-failed" : ""], acts]);
  }
}

const quietly = (f) => f().catch(() => {});
async function refreshOnce() {
  try { await showStatus(); } catch (e) { $("phase").textContent = "unreachable"; return; }
  await Promise.all([quietly(showTakeovers), quietly(showLab)]);
}
let refreshing = null;
let again = false;
/** One refresh at a time; events that come meanwhile make one more. */
function refresh() {
  if (refreshing) { again = true; return refreshing; }
  refreshing = (async () => { do { again = false; await refreshOnce(); } while (again); })().finally(() => { refreshing = null; });
  return refreshing;
}

/** Events that change nothing: a monitor or probe that found what was expected, a reconcile with no change, a check that kept its state. */
function quiet(e) {
  const d = e.data || {};
  if (e.type === "resources.action" && (d.action === "monitor" || d.action === "probe")) return d.status === "ok" || (d.action === "probe" && d.status === "not-running");
  if (e.type === "director.reconcile") return !d.changes && !d.error;
  if (/\\.server$/.test(e.type) && d.previous !== undefined) return d.state === d.previous;
  return false;
}
function words(data) {
  return Object.entries(data || {}).map(([k, v]) => k + "=" + (scalar(v) ? String(v) : JSON.stringify(v))).join(" ");
}
const seen = new Set();
let lastId = 0;
function show(data) {
  const e = JSON.parse(data);
  lastId = Math.max(lastId, e.id);
  if (seen.has(e.id)) return;
  seen.add(e.id);
  // Not shown, but drawn on: the status moves without an event of its own too (link counters, an admin command taken).
  refresh();
  if (quiet(e)) return;
  const line = document.createElement("div");
  line.textContent = ui.time(e.at) + "  " + e.node + "  " + e.type + "  " + words(e.data);
  $("events").prepend(line);
  while ($("events").childElementCount > 500) $("events").lastChild.remove();
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
showAdmin();
refresh();
events();
</script>
</body>
</html>
`;
