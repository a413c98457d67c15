/**
 * Connections survive a director failover, on the nftables dataplane with
 * conntrackd: the lab's pair runs the director's group (a virtual address,
 * then the director over the two real servers, wrr 3:1, NAT) with
 * `[director] sync` on the lan; 100 established TCP connections through the
 * virtual address, each a request every 100 ms, go on while alpha, the
 * active director, is powered off (every process of its namespace SIGKILLed,
 * its links down). Counted: the connections that still answer, each from its
 * own real server, and the longest pause one saw. Needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { writeFileSync } from "node:fs";
import { tandem, tempDir, waitFor } from "../helpers.ts";
import { Helper } from "../core/os/netns.ts";
import { freeSubnets } from "./net.ts";
import { directorGroup, labCommand, labStatus, pairConfig, pairSecrets, type LabHost } from "./config.ts";

const ROOT = process.getuid?.() === 0;
const CONNTRACKD = Bun.spawnSync(["sh", "-c", "command -v conntrackd"]).exitCode === 0;
if (!ROOT) console.log("test/lab/director-sync.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");
else if (!CONNTRACKD) console.log("test/lab/director-sync.test.ts: skipped: no conntrackd (Debian package conntrackd; scripts/setup.mjs installs it)");

const LAB = `drsync${process.pid % 100000}`;
const [LAN] = ROOT ? (freeSubnets(1, 216) as [string]) : [""];
const VIP = `${LAN}50`;
const CONNECTIONS = 100;
const EVERY_MS = 100;
const TOKEN = "director-sync-lab-token-0123456789";
const tmp = tempDir("drsync");

let hosts: Record<string, LabHost> = {};
let client: Helper | null = null;

async function director(node: string): Promise<any> {
  return (await fetch(`${hosts[node]!.api}v1/director/`, { signal: AbortSignal.timeout(2000) })).json();
}

describe.skipIf(!ROOT || !CONNTRACKD)("connections through the director survive its failover (nftables, conntrackd)", () => {
  beforeAll(async () => {
    await pairSecrets(tmp.dir, TOKEN);
    const group = directorGroup({ lan: LAN, vip: VIP, check: `{ kind = "http", path = "/", interval = "500ms", timeout = "300ms", rise = 1, fall = 2 }` });
    const config = join(tmp.dir, "tandem.toml");
    writeFileSync(config, pairConfig({ cluster: "drsync", lan: LAN, more: group.replace('dataplane = "nftables"', `dataplane = "nftables"\nsync = { interface = "eth0", run_dir = "${tmp.dir}" }`) }));
    const up = await tandem(["lab", "up", "-c", config, "--name", LAB], { timeoutMs: 60_000 });
    if (up.code !== 0) throw new Error(`lab up: ${up.stderr}${up.stdout}`);
    hosts = (await labStatus(LAB)).hosts;
    for (const rs of ["rs1", "rs2"]) Bun.spawnSync(["ip", "-n", hosts[rs]!.namespace, "route", "add", `${LAN}100/32`, "via", VIP]);
    await waitFor(
      "alpha active and primary, bravo backup, both programmed",
      async () => {
        const [a, b] = [await director("alpha"), await director("bravo")];
        return a.active && a.sync?.role === "primary" && b.sync?.role === "backup" && a.sync.running && b.sync.running && b.reconcile?.error === null ? true : undefined;
      },
      30_000,
      200,
    );
    client = new Helper(hosts.client!.namespace, resolve(import.meta.dir, "director-client.ts"), []);
  }, 90_000);

  afterAll(async () => {
    await client?.end();
    await tandem(["lab", "down", "--name", LAB], { timeoutMs: 60_000 });
    tmp.cleanup();
  }, 90_000);

  test(`${CONNECTIONS} established connections, a request each every ${EVERY_MS} ms, survive a power-off of the active director`, async () => {
    const held = await client!.send({ op: "hold", host: VIP, port: 80, n: CONNECTIONS, every: EVERY_MS });
    expect(held.opened).toBe(CONNECTIONS);
    expect(Object.keys(held.servers).sort()).toEqual(["rs1", "rs2"]);
    await Bun.sleep(1500);
    const powered = Date.now();
    await labCommand(LAB, "fault", "alpha", "power");
    await waitFor("bravo the active director, primary", async () => ((await director("bravo").catch(() => null))?.sync?.role === "primary" ? true : undefined), 15_000, 50);
    const tookOver = Date.now() - powered;
    await Bun.sleep(4000);
    const r = await client!.send({ op: "release" });
    const sync = (await director("bravo")).sync;
    console.log(
      `director failover (nftables + conntrackd): ${r.survivors}/${CONNECTIONS} connections survived, longest pause ${r.longestPauseMs} ms; bravo primary ${tookOver} ms after the power-off, its commit ${sync.last?.ms} ms${r.errors.length ? `; errors: ${r.errors.join("; ")}` : ""}`,
    );
    expect(sync.last.error).toBeNull();
    expect(r.moved).toBe(0);
    expect(r.survivors).toBe(CONNECTIONS);
  }, 90_000);
});
