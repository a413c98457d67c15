/**
 * The resource manager in the lab, as an operator would see it: a pair on two
 * links (ping target: the lab host), one group of a virtual address (Tandem's
 * `address` agent), Debian's ocf:heartbeat:Dummy and ocf:heartbeat:IPaddr2.
 * Each node serves HTTP on every address (its own name as the answer), so the
 * client in its namespace sees through the virtual address who holds it.
 *
 * Faults to the holder, each followed by a check that the client is served by
 * the survivor through the virtual address, and after healing, that the group
 * runs on exactly one node: SIGKILL (its address expires by its lifetime),
 * every link down (it loses its ping target and quorum, so it gives the group
 * up), SIGSTOP past deadtime (resumed, it gives the group up), a clean stop.
 * Then the admin commands through the CLI. Needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { tandem, tandemArgv, tempDir, waitFor } from "../helpers.ts";
import { freeSubnets } from "./net.ts";
import { labCommand, labStatus, pairConfig, pairSecrets, type LabHost } from "./config.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("test/lab/resources.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");

const LAB = `rm${process.pid % 100000}`;
const [LAN, HB] = ROOT ? (freeSubnets(2, 160) as [string, string]) : ["", ""];
const VIP = `${LAN}50`;
const VIP2 = `${LAN}51`;
const LIFETIME_S = 2;
/** Detection (deadtime + interval) and a takeover, with room for a loaded machine. */
const TAKEOVER_MS = 5_000;
const TOKEN = "resources-lab-token-0123456789";
const tmp = tempDir("rmlab");
const CONFIG = join(tmp.dir, "tandem.toml");

let hosts: Record<string, LabHost> = {};
const servers: number[] = [];

const lab = (...args: string[]) => labCommand(LAB, ...args);

async function refreshHosts(): Promise<void> {
  hosts = (await labStatus(LAB)).hosts;
}

function sh(argv: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(argv, { timeout: 10_000 });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
}

/** Who answers on the virtual address, as the client sees it; null when nobody does within a second. */
function served(address = VIP): string | null {
  const r = sh(["ip", "netns", "exec", hosts.client!.namespace, "curl", "-s", "--max-time", "1", `http://${address}/`]);
  return r.code === 0 ? r.out.trim() : null;
}

function holds(node: string, address: string): boolean {
  return sh(["ip", "-n", hosts[node]!.namespace, "-o", "addr", "show", "dev", "eth0"]).out.includes(` ${address}/`);
}

async function resources(node: string): Promise<any> {
  const res = await fetch(`${hosts[node]!.api}v1/resources/`, { signal: AbortSignal.timeout(2000) });
  return res.json();
}

/** Where the group runs, as this node sees it: every member started there. */
async function groupOn(node: string): Promise<string[]> {
  return (await resources(node)).groups.find((g: { name: string }) => g.name === "web").runningOn;
}

/** Each member's states on every node. */
async function states(node: string): Promise<Record<string, Record<string, string>>> {
  const r = await resources(node);
  return Object.fromEntries(Object.entries(r.resources).map(([k, v]) => [k, (v as { states: Record<string, string> }).states]));
}

/** Settled: both nodes see the group on `on` only, every member stopped on the other, and the client served by `on`. */
async function settledOn(on: string, timeoutMs = 20_000): Promise<void> {
  const other = on === "alpha" ? "bravo" : "alpha";
  await waitFor(
    `the group to run on ${on} alone, as both nodes see it, and the client to be served by ${on}`,
    async () => {
      for (const n of ["alpha", "bravo"]) {
        if ((await groupOn(n).catch(() => [])).join() !== on) return undefined;
        const st = await states(n).catch(() => null);
        if (!st || Object.values(st).some((s) => s[other] !== "stopped")) return undefined;
      }
      if (holds(other, VIP) || holds(other, VIP2) || !holds(on, VIP) || !holds(on, VIP2)) return undefined;
      return served() === on ? true : undefined;
    },
    timeoutMs,
    200,
  );
}

function startServer(node: string): void {
  const p = Bun.spawn(["ip", "netns", "exec", hosts[node]!.namespace, ...tandemArgv(), "lab", "realserver", "--name", node, "--listen", "0.0.0.0:80"], {
    stdio: ["ignore", "ignore", "ignore"],
  });
  servers.push(p.pid);
}

describe.skipIf(!ROOT)("resources in the lab", () => {
  beforeAll(async () => {
    await pairSecrets(tmp.dir, TOKEN);
    writeFileSync(
      CONFIG,
      pairConfig({
        cluster: "rmlab",
        lan: LAN,
        hb: HB,
        more: `
[heartbeat.ping]
targets = ["${LAN}1"]
interval = "200ms"
timeout = "200ms"

[resources]

[[resources.group]]
name = "web"
members = ["vip", "dummy", "vip2"]
preferred = "alpha"
auto_failback = false

[[resources.resource]]
name = "vip"
agent = "address"
params = { address = "${VIP}/24", interface = "eth0", lifetime = "${LIFETIME_S}s" }
monitor_interval = "1s"

[[resources.resource]]
name = "dummy"
agent = "ocf:heartbeat:Dummy"
monitor_interval = "2s"

[[resources.resource]]
name = "vip2"
agent = "ocf:heartbeat:IPaddr2"
params = { ip = "${VIP2}", cidr_netmask = 24, nic = "eth0" }
monitor_interval = "2s"
`,
      }),
    );
    const up = await tandem(["lab", "up", "-c", CONFIG, "--name", LAB], { timeoutMs: 60_000 });
    if (up.code !== 0) throw new Error(`lab up: ${up.stderr}${up.stdout}`);
    await refreshHosts();
    startServer("alpha");
    startServer("bravo");
    await settledOn("alpha", 30_000);
  }, 90_000);

  afterAll(async () => {
    for (const pid of servers) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone with a powered-off host
      }
    }
    await tandem(["lab", "down", "--name", LAB], { timeoutMs: 60_000 });
    tmp.cleanup();
  }, 90_000);

  test("the group starts on its preferred node, alpha is the DC, and the client is served through both addresses", async () => {
    expect(await groupOn("bravo")).toEqual(["alpha"]);
    expect(served(VIP2)).toBe("alpha");
    const st = await resources("alpha");
    expect(st.dc).toBe("alpha");
    expect(st.quorate).toBe(true);
  });

  test("SIGKILL of the holder: the survivor takes the group; the killed node's address expires by its lifetime", async () => {
    const at = Date.now();
    await lab("fault", "alpha", "kill");
    await waitFor("the client to be served by bravo", () => (served() === "bravo" ? true : undefined), TAKEOVER_MS, 50);
    await waitFor(`alpha's ${VIP} to expire`, () => (holds("alpha", VIP) ? undefined : true), (LIFETIME_S + 3) * 1000, 100);
    expect(Date.now() - at).toBeLessThan((LIFETIME_S + 3) * 1000 + TAKEOVER_MS);
    // IPaddr2 has no lifetime: its address stays on the killed node until alpha's manager is back and stops it.
    await lab("heal", "alpha");
    await refreshHosts();
    await settledOn("bravo");
  }, 60_000);

  test("every link of the holder down: it loses its ping target and quorum and gives the group up; the other takes it", async () => {
    await lab("fault", "bravo", "isolate");
    await waitFor("the client to be served by alpha", () => (served() === "alpha" ? true : undefined), TAKEOVER_MS, 50);
    await waitFor("isolated bravo to stop its addresses", () => (holds("bravo", VIP) || holds("bravo", VIP2) ? undefined : true), 10_000, 100);
    await lab("heal", "bravo");
    await settledOn("alpha");
  }, 60_000);

  test("SIGSTOP of the holder past deadtime: the other takes over; resumed, the frozen node gives the group up", async () => {
    await lab("fault", "alpha", "freeze");
    await waitFor("the client to be served by bravo", () => (served() === "bravo" ? true : undefined), TAKEOVER_MS, 50);
    await Bun.sleep((LIFETIME_S + 2) * 1000);
    await lab("heal", "alpha");
    await refreshHosts();
    await waitFor("resumed alpha to give its addresses up", () => (holds("alpha", VIP) || holds("alpha", VIP2) ? undefined : true), 10_000, 100);
    await settledOn("bravo");
  }, 60_000);

  test("a clean stop of the holder: it stops the group and the other starts it at once", async () => {
    const pid = hosts.bravo!.process!.pid;
    process.kill(pid, "SIGTERM");
    await waitFor("the client to be served by alpha", () => (served() === "alpha" ? true : undefined), 3_000, 20);
    await waitFor("bravo's process to exit", () => (Bun.spawnSync(["test", "-e", `/proc/${pid}`]).exitCode === 0 ? undefined : true), 15_000);
    expect(holds("bravo", VIP) || holds("bravo", VIP2)).toBe(false);
    await lab("heal", "bravo");
    await refreshHosts();
    await settledOn("alpha");
  }, 60_000);

  test("admin through the CLI: status, move --for, clear, standby and online, cleanup", async () => {
    const cli = (...args: string[]) => tandem([...args, "-c", CONFIG, "--node", "bravo"], { timeoutMs: 15_000 });
    const st = await cli("status");
    expect(st.code).toBe(0);
    expect(st.stdout).toContain("web");
    expect(st.stdout).toMatch(/web\s+on alpha/);

    expect((await cli("move", "web", "bravo", "--for", "1h")).code).toBe(0);
    await settledOn("bravo");
    expect((await cli("status")).stdout).toMatch(/move: web to bravo until/);
    expect((await cli("clear", "web")).code).toBe(0);
    expect((await resources("alpha")).moves).toEqual([]);
    await settledOn("bravo");

    expect((await cli("standby", "bravo")).code).toBe(0);
    await settledOn("alpha");
    expect((await cli("online", "bravo")).code).toBe(0);
    await waitFor("bravo online on both", async () => ((await resources("alpha")).standby.length === 0 ? true : undefined));

    expect((await cli("cleanup", "dummy")).code).toBe(0);
    await settledOn("alpha");

    const bad = await cli("move", "web", "nobody");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('no member node named "nobody"');
  }, 90_000);
});
