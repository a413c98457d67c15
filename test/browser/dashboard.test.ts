/**
 * The dashboard in a real browser (playwright-core driving Debian's chromium,
 * headless, nothing downloaded) on a lab pair with the director: a group "lb"
 * of a virtual address and the director on alpha, the virtual service over
 * the lab's two real servers, and a replicated volume "data" as a promotable
 * clone that lb follows (its files relative, in each node's state dir; made
 * primary on alpha by `lab up`, being new). The page is bravo's, and stays open the whole
 * run: it shows both nodes and their links, the virtual service and its
 * servers, the volume with its role and sync state; an action with a wrong
 * token is refused; alpha killed from the page's lab section shows as a
 * takeover without a reload (with its timeline when the node records
 * takeovers, /v1/failovers), and the volume primary on bravo with its NBD
 * socket; a drain done in the page
 * reaches the node (its API) and the client; alpha healed from the page
 * rejoins; a move with an expiry, its clear, a standby and an online done in
 * the page reach the resource manager. Screenshots before and after the
 * failover go to a folder the test prints. Needs root (the lab) and
 * /usr/bin/chromium.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { tandem, tempDir, waitFor } from "../helpers.ts";
import { freeSubnets } from "../lab/net.ts";
import { directorGroup, labStatus, pairConfig, pairSecrets, promotedVolume, type LabHost } from "../lab/config.ts";

const CHROMIUM = "/usr/bin/chromium";
const ROOT = process.getuid?.() === 0;
const READY = ROOT && existsSync(CHROMIUM);
if (!READY) console.log(`test/browser/dashboard.test.ts: skipped: it needs root (the lab) and ${CHROMIUM} (npm test installs Debian's chromium as root)`);

const LAB = `cui${process.pid % 100000}`;
const [LAN, HB] = READY ? (freeSubnets(2, 240) as [string, string]) : ["", ""];
const VIP = `${LAN}50`;
const TOKEN = "browser-lab-token-0123456789";
const tmp = tempDir("browser");
const SHOTS = `/tmp/tandem-browser-${process.pid}`;
/** How long the page may take to show what the node knows: an event, then one refresh. */
const SHOWN_MS = 15_000;

let hosts: Record<string, LabHost> = {};
/** The lab's directory: each node's state dir (the volume's file and socket) is state/NODE in it. */
let labDir = "";
let browser: Browser | undefined;
let page: Page;

const sh = (argv: string[]) => {
  const p = Bun.spawnSync(argv, { timeout: 10_000 });
  return p.stdout.toString() + p.stderr.toString();
};

/** `count` new connections from the client to the virtual service; the answers by real server. */
function spread(count: number): Record<string, number> {
  const out: Record<string, number> = {};
  const script = `for i in $(seq ${count}); do curl -s --max-time 1 http://${VIP}/ || echo none; done`;
  for (const line of sh(["ip", "netns", "exec", hosts.client!.namespace, "sh", "-c", script]).split("\n").filter(Boolean)) out[line.trim()] = (out[line.trim()] ?? 0) + 1;
  return out;
}

async function director(node: string): Promise<{ active: boolean; virtualServices: { servers: { address: string; override: number | null; weight: number | null }[] }[] }> {
  return (await fetch(`${hosts[node]!.api}v1/director/`, { signal: AbortSignal.timeout(2000) })).json() as never;
}

/** A small volume (its initial resync a moment), relative paths, and its clone, whose promoted side lb follows. */
const VOLUME = `
[[volumes]]
name = "data"
size = "16M"
port = 7789
socket = "data.nbd"
on = [{ node = "alpha", device = "data.img" }, { node = "bravo", device = "data.img" }]
${promotedVolume("lb")}`;

/** The volume's row in the page: volume, role, connection, disk, peer, out of sync, resync, NBD. */
const volumeRow = async () => page.locator("#volumes tr", { hasText: "data" }).locator("td").allTextContents();

const serverRow = (address: string) => page.locator("#virtual-services tr", { hasText: `${address}:80` });

/** Click an action's button, then confirm its dialog, giving `token` when the dialog asks for one and filling its fields with `fill`. */
async function act(button: ReturnType<Page["locator"]>, token?: string, fill?: () => Promise<unknown>): Promise<void> {
  await button.click();
  await page.locator("#confirm").waitFor({ state: "visible", timeout: 5000 });
  // The admin token is asked for once in the tab: then the dialog only confirms.
  if (token !== undefined) await page.fill("#admin-token", token);
  else expect(await page.isHidden("#admin-ask")).toBe(true);
  await fill?.();
  await page.click("#confirm-ok");
}

async function resources(): Promise<{ moves: { group: string; node: string; until: number | null }[]; standby: string[] }> {
  return (await fetch(`${hosts.bravo!.api}v1/resources/`, { signal: AbortSignal.timeout(2000) })).json() as never;
}

describe.skipIf(!READY)("the dashboard on a lab pair with the director", () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    console.log(`test/browser/dashboard.test.ts: screenshots in ${SHOTS}/`);
    await pairSecrets(tmp.dir, TOKEN);
    const check = `{ kind = "http", path = "/", interval = "500ms", timeout = "300ms", rise = 2, fall = 2 }`;
    writeFileSync(join(tmp.dir, "tandem.toml"), pairConfig({ cluster: "cui", lan: LAN, hb: HB, stateDir: "state", more: directorGroup({ lan: LAN, vip: VIP, check }) + VOLUME }));
    const up = await tandem(["lab", "up", "-c", join(tmp.dir, "tandem.toml"), "--name", LAB], { timeoutMs: 60_000 });
    if (up.code !== 0) throw new Error(`lab up: ${up.stderr}${up.stdout}`);
    ({ hosts, stateDir: labDir } = await labStatus(LAB));
    // LVS-NAT: the real servers answer the client through the virtual address.
    for (const rs of ["rs1", "rs2"]) sh(["ip", "-n", hosts[rs]!.namespace, "route", "add", `${LAN}100/32`, "via", VIP]);
    await waitFor("the client to be served through the virtual service", () => (spread(4).rs1 ? true : undefined), 30_000, 200);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(hosts.bravo!.api!);
    // A mark that only this load of the page has: a reload would lose it.
    await page.evaluate('window.loaded = "once"');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await tandem(["lab", "down", "--name", LAB], { timeoutMs: 60_000 });
    tmp.cleanup();
  }, 90_000);

  test("both nodes and their links are shown, quorum and the DC, and where the group runs", async () => {
    await page.locator("#node", { hasText: "bravo" }).waitFor({ timeout: SHOWN_MS });
    await page.locator("#conn", { hasText: "live" }).waitFor({ timeout: SHOWN_MS });
    await page.locator("#nodes tr", { hasText: "bravo (this node)" }).waitFor({ timeout: SHOWN_MS });
    const alpha = page.locator("#nodes tr", { hasText: "alpha" });
    await alpha.locator("td.state-up", { hasText: "up" }).waitFor({ timeout: SHOWN_MS });
    for (const link of ["lan", "hb"]) {
      const row = page.locator("#links tr", { hasText: link });
      const cells = await row.locator("td").allTextContents();
      expect(cells.slice(0, 3)).toEqual(["alpha", link, "up"]);
      expect(cells[3]).toMatch(/^\d+(\.\d+)? %$/);
      expect(cells[4]).toMatch(/^\d+(\.\d+)? ms$/);
    }
    expect(await page.textContent("#quorum")).toBe("quorum: yes");
    expect(await page.textContent("#dc")).toMatch(/^DC (alpha|bravo)$/);
    await page.locator("#groups tr", { hasText: "lb" }).locator("td", { hasText: "alpha" }).waitFor({ timeout: SHOWN_MS });
    expect(await page.locator("#members tr").count()).toBe(2);
    // bravo's replica: secondary, its peer (alpha) primary, in sync after the first resync.
    const row = await waitFor("bravo's volume connected and up to date in the page", async () => {
      const cells = await volumeRow();
      return cells[2] === "connected" && cells[3] === "up-to-date" ? cells : undefined;
    }, SHOWN_MS, 200);
    expect(row).toEqual(["data", "secondary", "connected", "up-to-date", "primary", "0 B", "-", "-"]);
  }, 60_000);

  test("the virtual service and its real servers: health and weights; the lab's hosts with their faults and the other node's dashboard", async () => {
    for (const [rs, weight] of [[`${LAN}101`, "3"], [`${LAN}102`, "1"]] as const) {
      const row = serverRow(rs);
      await row.locator("td", { hasText: "healthy" }).waitFor({ timeout: SHOWN_MS });
      const cells = await row.locator("td").allTextContents();
      expect(cells.slice(0, 5)).toEqual([`web-vip ${VIP}:80`, `${rs}:80`, "healthy", weight, ""]);
      expect(await row.locator("button").textContent()).toBe("drain");
    }
    for (const host of ["alpha", "bravo", "rs1", "rs2"]) await page.locator("#lab-hosts tr", { hasText: host }).locator("td", { hasText: "running" }).waitFor({ timeout: SHOWN_MS });
    // The other node's dashboard is a link away; this one's is not a link.
    expect(await page.locator("#lab-hosts a", { hasText: "alpha" }).getAttribute("href")).toBe(hosts.alpha!.api!);
    expect(await page.locator("#lab-hosts a").count()).toBe(1);
  }, 30_000);

  test("an action without the admin token is refused: by the node, and in the page, which forgets a wrong token", async () => {
    expect((await fetch(`${hosts.bravo!.api}v1/director/servers/web/${LAN}101:80/drain`, { method: "POST" })).status).toBe(401);
    expect((await fetch(`${hosts.bravo!.api}v1/lab/hosts/alpha/fault/kill`, { method: "POST" })).status).toBe(401);
    expect(await page.textContent("#admin")).toBe("read-only");
    await act(serverRow(`${LAN}101`).locator("button", { hasText: "drain" }), "not-the-admin-token-0123456789");
    await page.locator("#confirm-error", { hasText: "refused: a valid bearer token is required" }).waitFor({ timeout: 5000 });
    expect(await page.isVisible("#admin-ask")).toBe(true);
    expect(await page.textContent("#admin")).toBe("read-only");
    await page.screenshot({ path: join(SHOTS, "refused.png") });
    await page.click("#confirm-cancel");
    expect((await director("bravo")).virtualServices[0]!.servers.find((s) => s.address === `${LAN}101`)!.override).toBeNull();
    expect(await serverRow(`${LAN}101`).locator("button").textContent()).toBe("drain");
  }, 30_000);

  test("alpha killed from the page's lab section: the page shows the takeover, and its timeline, without a reload", async () => {
    await page.screenshot({ path: join(SHOTS, "before-failover.png"), fullPage: true });
    const failovers = await fetch(`${hosts.bravo!.api}v1/failovers`);
    await act(page.locator("#lab-hosts tr", { hasText: "alpha" }).locator("button", { hasText: "kill" }), TOKEN);
    await page.locator("#notice", { hasText: "kill: done" }).waitFor({ timeout: 10_000 });
    expect(await page.textContent("#admin")).toBe("admin");
    const alpha = (await labStatus(LAB)).hosts.alpha as LabHost & { process: { state: string } };
    expect(alpha.process.state).toBe("stopped");

    await page.locator("#nodes tr", { hasText: "alpha" }).locator("td.state-down", { hasText: "down" }).waitFor({ timeout: SHOWN_MS });
    await page.locator("#groups tr", { hasText: "lb" }).locator("td.state-running", { hasText: "bravo" }).waitFor({ timeout: SHOWN_MS });
    await serverRow(`${LAN}101`).waitFor({ timeout: SHOWN_MS });
    await page.locator("#director-here", { hasText: "this node is the active director" }).waitFor({ timeout: SHOWN_MS });
    await page.locator("#events div", { hasText: "heartbeat.peer peer=alpha status=down" }).waitFor({ timeout: SHOWN_MS });
    await page.locator("#lab-hosts tr", { hasText: "alpha" }).locator("td.state-failed", { hasText: "kill" }).waitFor({ timeout: SHOWN_MS });
    if (failovers.status === 404) {
      // This node records no takeovers (no /v1/failovers): the section says so.
      await page.locator("#takeovers", { hasText: "no takeovers recorded" }).waitFor({ timeout: SHOWN_MS });
    } else {
      await page.locator("#takeovers h3.takeover", { hasText: "bravo took over" }).waitFor({ timeout: SHOWN_MS });
      expect(await page.locator("#takeovers .timeline li").count()).toBeGreaterThan(0);
    }
    // lb followed the volume: promoted on bravo (its replica was up to date), served on bravo's socket, alpha gone.
    const row = await waitFor("bravo's volume primary in the page", async () => {
      const cells = await volumeRow();
      return cells[1] === "primary" ? cells : undefined;
    }, SHOWN_MS, 200);
    expect(row[3]).toBe("up-to-date");
    expect(row[2]).not.toBe("connected");
    expect(row[7]).toBe(join(labDir, "state", "bravo", "data.nbd"));
    expect(await page.evaluate("window.loaded")).toBe("once");
    await page.screenshot({ path: join(SHOTS, "after-failover.png"), fullPage: true });
    const served = spread(4);
    expect((served.rs1 ?? 0) + (served.rs2 ?? 0)).toBe(4);
  }, 60_000);

  test("a drain done in the page reaches the node and the client, and shows in the director's table; enable undoes it", async () => {
    await act(serverRow(`${LAN}101`).locator("button", { hasText: "drain" }));
    await page.locator("#notice", { hasText: "drain: done" }).waitFor({ timeout: 10_000 });
    await serverRow(`${LAN}101`).locator("td", { hasText: "drained" }).waitFor({ timeout: SHOWN_MS });
    expect(await serverRow(`${LAN}101`).locator("button").textContent()).toBe("enable");
    const d = await director("bravo");
    expect(d.active).toBe(true);
    expect(d.virtualServices[0]!.servers.find((s) => s.address === `${LAN}101`)!.override).toBe(0);
    await waitFor("the drain to be programmed", async () => ((await director("bravo")).virtualServices[0]!.servers.find((s) => s.address === `${LAN}101`)!.weight === 0 ? true : undefined), 5000, 50);
    expect(spread(10)).toEqual({ rs2: 10 });

    await act(serverRow(`${LAN}101`).locator("button", { hasText: "enable" }));
    await serverRow(`${LAN}101`).locator("button", { hasText: "drain" }).waitFor({ timeout: SHOWN_MS });
    expect((await director("bravo")).virtualServices[0]!.servers.find((s) => s.address === `${LAN}101`)!.override).toBeNull();
  }, 60_000);

  test("heal from the page's lab section: alpha runs again and rejoins, its fault gone", async () => {
    await act(page.locator("#lab-hosts tr", { hasText: "alpha" }).locator("button", { hasText: "heal" }));
    await page.locator("#notice", { hasText: "heal: done" }).waitFor({ timeout: 10_000 });
    await page.locator("#nodes tr", { hasText: "alpha" }).locator("td.state-up", { hasText: "up" }).waitFor({ timeout: SHOWN_MS });
    const row = page.locator("#lab-hosts tr", { hasText: "alpha" });
    await row.locator("td", { hasText: "none" }).waitFor({ timeout: SHOWN_MS });
    expect(await row.locator("td").nth(2).textContent()).toBe("running");
    expect(await row.locator("button", { hasText: "heal" }).count()).toBe(0);
  }, 60_000);

  test("from the page: a group moved with an expiry, then its move cleared; a node in standby, then online", async () => {
    const group = page.locator("#groups tr", { hasText: "lb" });
    const asked = Date.now();
    await act(group.locator("button", { hasText: "move" }), undefined, async () => {
      await page.selectOption("#confirm-fields select", "alpha");
      await page.fill("#confirm-fields input", "10m");
    });
    await group.locator("td", { hasText: /^to alpha until / }).waitFor({ timeout: SHOWN_MS });
    await group.locator("td.state-running", { hasText: "alpha" }).waitFor({ timeout: SHOWN_MS });
    const [move] = (await resources()).moves;
    expect(move).toMatchObject({ group: "lb", node: "alpha" });
    expect(move!.until! - asked).toBeGreaterThan(9 * 60_000);
    expect(move!.until! - asked).toBeLessThan(11 * 60_000);

    await act(group.locator("button", { hasText: "clear" }));
    await group.locator("button", { hasText: "clear" }).waitFor({ state: "detached", timeout: SHOWN_MS });
    expect((await resources()).moves).toEqual([]);

    const alpha = page.locator("#members tr", { hasText: "alpha" });
    await act(alpha.locator("button", { hasText: "standby" }));
    await alpha.locator("td.state-maintenance", { hasText: "standby" }).waitFor({ timeout: SHOWN_MS });
    expect((await resources()).standby).toEqual(["alpha"]);
    await group.locator("td.state-running", { hasText: "bravo" }).waitFor({ timeout: SHOWN_MS });
    await act(alpha.locator("button", { hasText: "online" }));
    await alpha.locator("button", { hasText: "standby" }).waitFor({ timeout: SHOWN_MS });
    expect((await resources()).standby).toEqual([]);
  }, 60_000);
});
