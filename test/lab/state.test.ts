/**
 * What a node keeps across a restart, in the lab: a pair whose config sets
 * state_dir (the lab gives each node a dir of its own), with the group of a
 * virtual address and the director that test/lab/config.ts describes,
 * preferring alpha. Through the CLI alpha is put in standby and a real
 * server drained on bravo; both nodes are stopped cleanly and started again:
 * the group runs on bravo, both list alpha in standby, the drain is in force
 * on bravo; `online alpha` then reaches both nodes' state files. Needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tandem, tempDir, waitFor } from "../helpers.ts";
import { freeSubnets } from "./net.ts";
import { directorGroup, labCommand, labStatus, pairConfig, pairSecrets, type LabHost } from "./config.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("test/lab/state.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");

const LAB = `st${process.pid % 100000}`;
const [LAN] = ROOT ? (freeSubnets(1, 176) as [string]) : [""];
const VIP = `${LAN}50`;
const RS2 = `${LAN}102`;
const NODES = ["alpha", "bravo"] as const;
const TOKEN = "state-lab-token-0123456789abc";
const tmp = tempDir("stlab");
const CONFIG = join(tmp.dir, "tandem.toml");

let hosts: Record<string, LabHost> = {};
let labStateDir = "";

async function refreshHosts(): Promise<void> {
  ({ hosts, stateDir: labStateDir } = await labStatus(LAB));
}

async function api(node: string, path: string): Promise<any> {
  return (await fetch(`${hosts[node]!.api}${path}`, { signal: AbortSignal.timeout(2000) })).json();
}

const cli = (...args: string[]) => tandem([...args, "-c", CONFIG, "--node", "bravo"], { timeoutMs: 15_000 });

/** Both nodes see the group on `on` alone, every member started there and stopped on the other. */
async function groupOn(on: string): Promise<void> {
  await waitFor(
    `the group on ${on}, as both nodes see it`,
    async () => {
      for (const n of NODES) {
        const r = await api(n, "v1/resources/").catch(() => null);
        if (r?.groups.find((g: { name: string }) => g.name === "lb").runningOn.join() !== on) return undefined;
        if (Object.values(r.resources).some((v) => Object.entries((v as { states: Record<string, string> }).states).some(([node, s]) => node !== on && s !== "stopped"))) return undefined;
      }
      return true;
    },
    20_000,
    200,
  );
}

/** The node's state file as it reads now (where it is, the node says). */
async function kept(node: string): Promise<any> {
  return JSON.parse(readFileSync((await api(node, "v1/status")).stateFile, "utf8"));
}

async function rs2On(node: string): Promise<{ weight: number | null; override: number | null }> {
  return (await api(node, "v1/director/")).virtualServices[0].servers.find((s: { address: string }) => s.address === RS2);
}

describe.skipIf(!ROOT)("state kept across a restart, in the lab", () => {
  beforeAll(async () => {
    await pairSecrets(tmp.dir, TOKEN);
    writeFileSync(
      CONFIG,
      pairConfig({
        cluster: "stlab",
        lan: LAN,
        stateDir: "state",
        more: directorGroup({ lan: LAN, vip: VIP, check: `{ kind = "tcp", interval = "500ms", timeout = "300ms", rise = 1, fall = 2 }` }),
      }),
    );
    await labCommand(LAB, "up", "-c", CONFIG);
    await refreshHosts();
    await groupOn("alpha");
  }, 90_000);

  afterAll(async () => {
    await labCommand(LAB, "down");
    tmp.cleanup();
  }, 90_000);

  test("each node keeps its state in a dir of its own in the lab's", async () => {
    for (const n of NODES) expect((await api(n, "v1/status")).stateFile).toBe(join(labStateDir, "state", n, `${n}.state.json`));
  });

  test("a standby and a drain survive a clean stop of both nodes; `online` reaches both state files", async () => {
    expect((await cli("standby", "alpha")).code).toBe(0);
    await groupOn("bravo");
    expect((await cli("director", "drain", "web", `${RS2}:80`)).code).toBe(0);
    await waitFor("the drain in force on bravo", async () => ((await rs2On("bravo")).weight === 0 ? true : undefined));
    for (const n of NODES) expect((await kept(n)).sections.resources.standby).toEqual(["alpha"]);
    expect((await kept("bravo")).sections.director).toEqual({ [`web/${RS2}:80`]: 0 });

    const pids = NODES.map((n) => hosts[n]!.process!.pid);
    for (const pid of pids) process.kill(pid, "SIGTERM");
    await waitFor("both nodes to exit", () => (pids.every((pid) => Bun.spawnSync(["test", "-e", `/proc/${pid}`]).exitCode !== 0) ? true : undefined), 15_000);
    for (const n of NODES) await labCommand(LAB, "heal", n);
    await refreshHosts();

    await groupOn("bravo");
    for (const n of NODES) expect((await api(n, "v1/resources/")).standby).toEqual(["alpha"]);
    const status = await cli("status");
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/alpha\s+up, standby/);
    expect(await rs2On("bravo")).toMatchObject({ override: 0, weight: 0 });

    expect((await cli("online", "alpha")).code).toBe(0);
    await waitFor("alpha online in both state files", async () => {
      for (const n of NODES) if ((await kept(n)).sections.resources.standby.length) return undefined;
      return true;
    });
    for (const n of NODES) expect(await kept(n)).toMatchObject({ format: 1, cluster: "stlab", node: n, sections: { resources: { standby: [] } } });
  }, 90_000);
});
