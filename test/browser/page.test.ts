/**
 * The dashboard's takeovers, event list and volumes in Debian's chromium,
 * against an API the test plays itself (the page as dashboardHtml makes it
 * with the replication's panel, /v1/status,
 * an event stream the test writes to, /v1/failovers as its contract says:
 * `{ failovers: [{ id, node, started, ended, steps: [{ at, kind, text,
 * duration_ms? }] }] }`, newest first), so the timeline is checked whether or
 * not the node under test records takeovers: "no takeovers recorded" on 404,
 * then a takeover drawn as a timeline on the next event, without a reload;
 * monitor results that change nothing are not listed; no lab section outside
 * a lab; each volume's role, connection, disk, resync progress and, where
 * primary, its NBD socket; a failed
 * resource's cleanup and a move's fields posted with the admin token.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { dashboardHtml } from "../../core/api/dashboard.ts";
import { REPLICATION_PANEL } from "../../modules/replication/panel.ts";
import { RESOURCES_PANEL } from "../../modules/resources/panel.ts";

const CHROMIUM = "/usr/bin/chromium";
const HAVE = existsSync(CHROMIUM);
if (!HAVE) console.log(`test/browser/takeovers.test.ts: skipped: ${CHROMIUM} is missing (npm test installs Debian's chromium as root)`);

const STATUS = { node: "bravo", cluster: "fake", version: "0", phase: "running", config: { hash: "0123456789abcdef", file: "f" }, stateWriteError: null, modules: { replication: { state: "running", stale: false, volumes: [] as unknown[], sockets: { data: "/run/tandem/data.nbd", logs: "/run/tandem/logs.nbd" } }, resources: { state: "running" } } };
/** GET /v1/resources/: one group on bravo whose vip failed twice on alpha. */
const RESOURCES = {
  dc: "bravo",
  quorate: true,
  nodes: [
    { name: "alpha", membership: "up", standby: false, fence: "none" },
    { name: "bravo", membership: "up", standby: false, fence: "none" },
  ],
  groups: [{ name: "web", members: ["vip"], clone: null, runningOn: ["bravo"], disabled: false }],
  resources: { vip: { agent: "address", states: { alpha: "stopped", bravo: "started" }, disabled: false, maintenance: [] } },
  failures: [{ resource: "vip", node: "alpha", count: 2, lastFailedAt: 0, startFailed: false }],
  moves: [],
  maintenance: { cluster: false, nodes: [], resources: [] },
  notes: [],
};
const ADMIN = "played-admin-token";
/** The POSTs the page made: path and query, and the bearer it sent. */
const posted: { url: string; authorization: string | null }[] = [];
const GENERATIONS = { current: "1", bitmap: "0", history: [] };
const VOLUMES = [
  { name: "data", role: "primary", connection: "sync-source", disk: "up-to-date", peerPrimary: false, generations: GENERATIONS, outOfSyncBytes: 3 * 1024 * 1024, writesInFlight: 0, linkErrors: 0, resync: { bytesLeft: 3 * 1024 * 1024, bytesPerSecond: 1024 * 1024, etaSeconds: 3 } },
  { name: "logs", role: "secondary", connection: "standalone", reason: "split brain", disk: "up-to-date", peerPrimary: true, generations: GENERATIONS, outOfSyncBytes: 0, writesInFlight: 0, linkErrors: 2 },
];
const T0 = Date.UTC(2026, 11, 5, 3, 0, 0, 0);
const TAKEOVER = {
  id: "t1",
  node: "bravo",
  started: T0,
  ended: T0 + 1234,
  steps: [
    { at: T0, kind: "heartbeat-late", text: "alpha late on lan and hb" },
    { at: T0 + 512, kind: "peer-dead", text: "alpha declared dead", duration_ms: 512 },
    { at: T0 + 530, kind: "resource-start", text: "vip started on bravo", duration_ms: 6 },
    { at: T0 + 1234, kind: "client-served", text: "the client was served" },
  ],
};

/** What GET /v1/failovers answers; null: 404, as a node without the recorder. */
let failovers: unknown = null;
const notFound = () => new Response(JSON.stringify({ type: "about:blank", title: "Not Found", status: 404 }), { status: 404, headers: { "content-type": "application/problem+json" } });
let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
let nextId = 1;
const served: string[] = [];
const server = HAVE
  ? Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      idleTimeout: 0,
      fetch(req) {
        const path = new URL(req.url).pathname;
        served.push(path);
        if (path === "/") return new Response(dashboardHtml([{ name: "replication", panel: REPLICATION_PANEL }, { name: "resources", panel: RESOURCES_PANEL }]), { headers: { "content-type": "text/html" } });
        if (req.method === "POST") {
          const url = new URL(req.url);
          posted.push({ url: url.pathname + url.search, authorization: req.headers.get("authorization") });
          return req.headers.get("authorization") === `Bearer ${ADMIN}` ? Response.json({ accepted: true }, { status: 202 }) : notFound();
        }
        if (path === "/v1/resources/") return Response.json(RESOURCES);
        if (path === "/v1/status") return Response.json(STATUS);
        if (path === "/v1/failovers") return failovers === null ? notFound() : Response.json(failovers);
        if (path === "/v1/events")
          return new Response(new ReadableStream({ start: (c) => ((stream = c), c.enqueue(new TextEncoder().encode(": fake\n\n"))) }), { headers: { "content-type": "text/event-stream" } });
        return notFound();
      },
    })
  : undefined;

/** An event on the page's stream. */
function publish(type: string, data: Record<string, unknown>): void {
  const e = { id: nextId++, at: T0 + nextId, type, node: "bravo", data };
  stream!.enqueue(new TextEncoder().encode(`id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`));
}

/** Until the played API has served `path` at least `n` times. */
async function waitForCount(path: string, n: number): Promise<void> {
  for (let i = 0; i < 100 && served.filter((p) => p === path).length < n; i++) await Bun.sleep(50);
  expect(served.filter((p) => p === path).length).toBeGreaterThanOrEqual(n);
}

let browser: Browser | undefined;
let page: Page;

describe.skipIf(!HAVE)("the dashboard's takeovers, events and volumes, against a played API", () => {
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server!.port}/`);
    await page.evaluate('window.loaded = "once"');
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    server?.stop(true);
  });

  test("a node that records no takeovers (404): the section says so; no lab section outside a lab", async () => {
    await page.locator("#conn", { hasText: "live" }).waitFor({ timeout: 10_000 });
    await page.locator("#takeovers", { hasText: "no takeovers recorded" }).waitFor({ timeout: 10_000 });
    expect(await page.isHidden("#lab-section")).toBe(true);
    expect(served).toContain("/v1/lab/");
  });

  test("outside a lab the page asks for the lab's faults once, not on every refresh", async () => {
    const before = served.filter((p) => p === "/v1/status").length;
    publish("runtime.module", { module: "api", state: "running" });
    await waitForCount("/v1/status", before + 1);
    expect(served.filter((p) => p === "/v1/lab/")).toEqual(["/v1/lab/"]);
  });

  test("monitor results that change nothing are not listed; a change is", async () => {
    publish("resources.action", { resource: "vip", action: "monitor", status: "ok", ms: 1 });
    publish("resources.action", { resource: "vip", action: "probe", status: "not-running", ms: 1 });
    publish("director.reconcile", { changes: 0, ms: 1, active: true });
    publish("checks.server", { key: "web/198.18.0.101:80", state: "up", previous: "up" });
    publish("heartbeat.peer", { peer: "alpha", status: "down", was: "up" });
    await page.locator("#events div", { hasText: "heartbeat.peer peer=alpha status=down was=up" }).waitFor({ timeout: 10_000 });
    const listed = (await page.locator("#events div").allTextContents()).map((l) => l.split("  ")[2]);
    expect(listed).toEqual(["heartbeat.peer", "runtime.module"]);
    publish("resources.action", { resource: "vip", action: "monitor", status: "failed", ms: 1 });
    await page.locator("#events div", { hasText: "action=monitor status=failed" }).waitFor({ timeout: 10_000 });
  });

  test("a takeover recorded: drawn on the next event as a timeline of its steps, with offsets and durations, without a reload", async () => {
    failovers = { failovers: [TAKEOVER] };
    publish("resources.state", { resource: "vip", state: "started", was: "stopped" });
    const title = page.locator("#takeovers h3.takeover");
    await title.waitFor({ timeout: 10_000 });
    expect(await title.textContent()).toBe("bravo took over at 03:00:00.000, in 1234 ms");
    const steps = await page.locator("#takeovers .timeline li").evaluateAll((lis) => lis.map((li) => [...li.children].map((c) => c.textContent)));
    expect(steps).toEqual([
      ["+0 ms", "heartbeat-late", "alpha late on lan and hb"],
      ["+512 ms", "peer-dead", "alpha declared dead (512 ms)"],
      ["+530 ms", "resource-start", "vip started on bravo (6 ms)"],
      ["+1234 ms", "client-served", "the client was served"],
    ]);
    failovers = { failovers: [{ ...TAKEOVER, id: "t2", node: "alpha", started: T0 + 60_000, ended: null, steps: [] }, TAKEOVER] };
    publish("heartbeat.peer", { peer: "alpha", status: "up", was: "down" });
    await page.locator("#takeovers h3.takeover").first().filter({ hasText: "alpha took over at 03:01:00.000, under way" }).waitFor({ timeout: 10_000 });
    expect(await page.locator("#takeovers h3.takeover").count()).toBe(2);
    expect(await page.evaluate("window.loaded")).toBe("once");
  });

  test("volumes: role, connection (and why it is down), disk, the peer, out of sync, the resync's progress and the primary's NBD socket, drawn again on an event", async () => {
    await page.locator("#panel-replication").waitFor({ state: "visible", timeout: 10_000 });
    expect(await page.locator("#volumes tr").count()).toBe(0);
    STATUS.modules.replication.volumes = VOLUMES;
    publish("volume.connection", { volume: "data", conn: "sync-source" });
    await page.locator("#volumes tr", { hasText: "data" }).waitFor({ timeout: 10_000 });
    const rows = await page.locator("#volumes tr").evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    expect(rows).toEqual([
      ["data", "primary", "sync-source", "up-to-date", "secondary", "3.0 MiB", "3.0 MiB left at 1.0 MiB/s, about 3 s", "/run/tandem/data.nbd"],
      ["logs", "secondary", "standalone (split brain)", "up-to-date", "primary", "0 B", "-", "-"],
    ]);
  });

  test("a failed resource: its failures shown with a clean up, and a move's fields: the dialog POSTs each with the admin token, asked once", async () => {
    const vip = page.locator("#resources tr", { hasText: "vip" });
    await vip.locator("td.state-failed", { hasText: "2× on alpha" }).waitFor({ timeout: 10_000 });
    await vip.locator("button", { hasText: "clean up" }).click();
    expect(await page.textContent("#confirm-text")).toBe("Forget the failures of vip on every node and probe it again?");
    await page.fill("#admin-token", ADMIN);
    await page.click("#confirm-ok");
    await page.locator("#notice", { hasText: "clean up: done (202)" }).waitFor({ timeout: 10_000 });
    await page.locator("#groups tr", { hasText: "web" }).locator("button", { hasText: "move" }).click();
    expect(await page.isHidden("#admin-ask")).toBe(true);
    await page.selectOption("#confirm-fields select", "alpha");
    await page.fill("#confirm-fields input", "90s");
    await page.click("#confirm-ok");
    await page.locator("#notice", { hasText: "move: done (202)" }).waitFor({ timeout: 10_000 });
    expect(posted).toEqual([
      { url: "/v1/resources/cleanup/vip", authorization: `Bearer ${ADMIN}` },
      { url: "/v1/resources/move/web/alpha?for=90s", authorization: `Bearer ${ADMIN}` },
    ]);
  });
});
