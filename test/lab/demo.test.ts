/**
 * The demo compiled into the binary: `tandem lab up` with no -c builds the
 * pair of examples/demo.toml (its config, a new key and token written in the
 * lab's directory), prints the URL to open last, and the client reaches the
 * virtual service through the virtual address, answered by both real
 * servers, through the director (port 80) and through the proxy (port 8080).
 * The replicated volume "data", new on both nodes, is made primary on alpha
 * by `lab up` (printed, with its NBD socket), up to date and connected on
 * both; a pattern is written through alpha's NBD socket (nbdcopy).
 * Killing alpha, bravo takes over: the client is still answered by both,
 * both ways, and bravo's flight recorder holds the takeover with its address
 * announced, its director and proxy started and the first client its proxy
 * served; bravo's volume is primary and serves the pattern on its socket.
 * The demo's addresses are fixed
 * (198.18.7.0/24, 198.18.107.0/24): it cannot run beside a demo lab that is
 * up. Needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { FailoverStep } from "../../core/recorder.ts";
import { metadataBytes } from "../../modules/replication/metadata.ts";
import { tandem, tempDir, waitFor } from "../helpers.ts";
import { labCommand, labStatus, type LabHost } from "./config.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("test/lab/demo.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");

const LAB = `cc${process.pid % 100000}`;
const VIP = "198.18.7.50";
let hosts: Record<string, LabHost> = {};
let stateDir = "";
let printed = "";

/** The demo volume's size (64M). */
const VOLUME_BYTES = 64 << 20;
/** What is written through alpha's NBD socket before the failover and read through bravo's after it. */
const PATTERN = randomBytes(1 << 20);
const tmp = tempDir("demovol");
/** The volume's NBD socket on a node: relative in the demo, so in the node's state dir. */
const socket = (node: string) => join(stateDir, "state", node, "data.nbd");
const nbdUri = (node: string) => `nbd+unix:///data?socket=${socket(node)}`;

/** The volume as a node's API shows it. */
async function volumeOn(node: string): Promise<{ role: string; connection: string; disk: string } | undefined> {
  try {
    const body = (await (await fetch(`${hosts[node]!.api}v1/replication/volumes`, { signal: AbortSignal.timeout(2000) })).json()) as { volumes: Array<{ name: string; role: string; connection: string; disk: string }> };
    return body.volumes.find((v) => v.name === "data");
  } catch {
    return undefined;
  }
}

/** The first PATTERN.length bytes of the volume (64 MiB, read whole), through `node`'s socket. */
function readVolume(node: string): Buffer {
  const r = Bun.spawnSync(["nbdcopy", nbdUri(node), "-"], { timeout: 20_000, maxBuffer: 128 << 20 });
  if (r.exitCode !== 0) throw new Error(`nbdcopy from ${node}: ${r.stderr.toString()}`);
  return Buffer.from(r.stdout.subarray(0, PATTERN.length));
}

/** The director's virtual service and the proxy's frontend, on the virtual address. */
const DIRECTOR = `http://${VIP}/`;
const PROXY = `http://${VIP}:8080/`;

/** `count` new connections from the client to `url`; the answers by real server. */
function spread(count: number, url = DIRECTOR): Record<string, number> {
  const script = `for i in $(seq ${count}); do curl -s --max-time 1 ${url} || echo none; done`;
  const r = Bun.spawnSync(["ip", "netns", "exec", hosts.client!.namespace, "sh", "-c", script], { timeout: 30_000 });
  const out: Record<string, number> = {};
  for (const line of r.stdout.toString().split("\n").filter(Boolean)) out[line.trim()] = (out[line.trim()] ?? 0) + 1;
  return out;
}

describe.skipIf(!ROOT)("the demo (tandem lab up without -c)", () => {
  beforeAll(async () => {
    const up = await tandem(["lab", "up", "--name", LAB], { timeoutMs: 90_000 });
    if (up.code !== 0) throw new Error(`lab up: ${up.stderr}${up.stdout}`);
    printed = up.stdout;
    ({ hosts, stateDir } = await labStatus(LAB));
  }, 120_000);

  afterAll(async () => {
    await tandem(["lab", "down", "--name", LAB], { timeoutMs: 60_000 });
    tmp.cleanup();
  }, 90_000);

  test("up prints the dashboard's URL last; the demo's config, key and token are in the lab's directory", () => {
    expect(printed.trimEnd().split("\n").at(-1)).toBe(`open ${hosts.alpha!.api} (the dashboard)`);
    expect(hosts.alpha!.api).toBe("http://198.18.7.11:9480/");
    expect(statSync(join(stateDir, "demo.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, "demo.token")).mode & 0o777).toBe(0o600);
    expect(printed).toContain(`tandem status -c ${join(stateDir, "demo.toml")}`);
    expect(printed).toMatch(/^ {2}www +proxy +http:\/\/198\.18\.7\.50:8080\/ +proxy to 198\.18\.7\.101:80, 198\.18\.7\.102:80$/m);
    expect(printed).toContain(`curl ${PROXY}   (through the proxy)`);
    expect(printed).toContain("  data: new on both nodes: made primary on alpha by force (as `tandem volume promote --force`); bravo resyncs from it\n");
    expect(printed).toContain(`    primary on alpha, NBD on ${socket("alpha")}: nbdinfo '${nbdUri("alpha")}'\n`);
  });

  test("the volume: primary on alpha, connected and up to date on both, in the status with its socket; the group on alpha's promoted side; a pattern written through alpha's NBD socket", async () => {
    await waitFor("the volume up to date and connected on both", async () => {
      const [a, b] = [await volumeOn("alpha"), await volumeOn("bravo")];
      return a?.disk === "up-to-date" && b?.disk === "up-to-date" && a.connection === "connected" && b.connection === "connected" ? true : undefined;
    }, 30_000, 200);
    expect((await volumeOn("alpha"))?.role).toBe("primary");
    expect((await volumeOn("bravo"))?.role).toBe("secondary");
    // Each node's backing file, relative in the demo: created in its state dir at the volume's size and its metadata.
    for (const node of ["alpha", "bravo"]) expect(statSync(join(stateDir, "state", node, "data.img")).size).toBe(VOLUME_BYTES + metadataBytes({ size: VOLUME_BYTES, regionBytes: 4096 }));
    const st = await tandem(["status", "-c", join(stateDir, "demo.toml"), "--node", "alpha"]);
    expect(st.stdout).toMatch(/^ {4}vol +volume +promoted on alpha, started on bravo$/m);
    expect(st.stdout).toContain(`volumes:\n  data: primary, connected, disk up-to-date, 0 B out of sync; NBD on ${socket("alpha")}`);
    expect(st.stdout).not.toContain("failures:");
    const file = join(tmp.dir, "pattern");
    writeFileSync(file, PATTERN);
    const w = Bun.spawnSync(["nbdcopy", file, nbdUri("alpha")], { timeout: 20_000 });
    expect(w.stderr.toString()).toBe("");
    expect(w.exitCode).toBe(0);
    expect(readVolume("alpha").equals(PATTERN)).toBe(true);
  }, 60_000);

  test("the client reaches the virtual service through the virtual address, answered by both real servers", async () => {
    const got = await waitFor("both real servers behind the virtual address", () => {
      const s = spread(10);
      return s.rs1 && s.rs2 ? s : undefined;
    }, 30_000, 500);
    expect(got.none ?? 0).toBe(0);
    const st = await tandem(["status", "-c", join(stateDir, "demo.toml"), "--node", "alpha"]);
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/^ {2}web {10}on alpha$/m);
    expect(st.stdout).toContain("dataplane nftables, active");
    expect(st.stdout).toMatch(/web-vip \(.*\): up/);
  }, 60_000);

  test("the client reaches both real servers through the proxy on the virtual address too; the proxy's backends show in the status", async () => {
    const got = await waitFor("both real servers behind the proxy", () => {
      const s = spread(6, PROXY);
      return s.rs1 && s.rs2 ? s : undefined;
    }, 30_000, 500);
    expect(got.none ?? 0).toBe(0);
    // The workers' counters reach the status within a second (the control side asks for them every STATS_EVERY_MS).
    const st = await waitFor("the proxy's counters in the status", async () => {
      const r = await tandem(["status", "-c", join(stateDir, "demo.toml"), "--node", "alpha"]);
      return / [1-9]\d* requests \(2xx/.test(r.stdout) ? r : undefined;
    }, 10_000, 500);
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/^ {4}proxy +proxy +started on alpha$/m);
    expect(st.stdout).toContain("frontend www (http) on 198.18.7.50:8080");
    for (const rs of ["198.18.7.101", "198.18.7.102"]) expect(st.stdout).toMatch(new RegExp(`^ {4}web/${rs.replaceAll(".", "\\.")}:80 +UP, ready, weight 1: 0 active, [1-9]\\d* requests`, "m"));
    const bravo = await tandem(["status", "-c", join(stateDir, "demo.toml"), "--node", "bravo"]);
    expect(bravo.stdout).toContain("standby (its resource runs elsewhere)");
  }, 60_000);

  test("alpha killed: bravo takes over, both real servers still answer through the director and the proxy, and bravo's flight recorder holds the takeover up to the first client its proxy served", async () => {
    await labCommand(LAB, "fault", "alpha", "kill");
    for (const url of [PROXY, DIRECTOR])
      await waitFor(`both real servers through bravo at ${url}`, () => {
        const s = spread(6, url);
        return s.rs1 && s.rs2 ? true : undefined;
      }, 30_000, 300);
    const r = await waitFor("the takeover settled on bravo", async () => {
      const body = (await (await fetch(`${hosts.bravo!.api}v1/failovers`)).json()) as { failovers: Array<{ node: string; ended: number | null; steps: FailoverStep[] }> };
      return body.failovers[0]?.ended ? body.failovers[0] : undefined;
    }, 30_000, 500);
    expect(r.node).toBe("bravo");
    const kinds: string[] = r.steps.map((s) => s.kind);
    for (const k of ["peer-dead", "resource-start", "address", "client-served"]) expect(kinds).toContain(k);
    expect(kinds.indexOf("peer-dead")).toBeLessThan(kinds.indexOf("address"));
    expect(r.steps.find((s) => s.kind === "address")!.text).toBe("vip announced on the link");
    // The standby's dataplane was programmed already: the director's start is its taking over, nothing to reconcile.
    expect(r.steps.filter((s) => s.kind === "resource-start").map((s) => s.text)).toEqual([expect.stringMatching(/^started vip: /), "started director: active on the nftables dataplane", "started proxy: 1 workers listen"]);
    // The client probes from the start of the fault: its first answer through bravo's proxy is the last step, after the proxy's start.
    const served = r.steps.filter((s) => s.kind === "client-served");
    expect(served.length).toBe(1);
    expect(served[0]!.text).toMatch(/^first client served: 198\.18\.7\.100:\d+ answered 200 by web\/198\.18\.7\.10[12]:80 through the proxy's frontend www, \d+ ms after alpha was declared dead$/);
    expect(kinds.lastIndexOf("resource-start")).toBeLessThan(kinds.indexOf("client-served"));
    expect(served[0]!.duration_ms).toBe(served[0]!.at - r.steps.find((s) => s.kind === "peer-dead")!.at);
    expect(existsSync(stateDir)).toBe(true);
    // The group followed the volume: bravo promoted it first (protocol C: its copy holds every acknowledged write).
    const resources = (await (await fetch(`${hosts.bravo!.api}v1/resources/`)).json()) as { resources: Record<string, { states: Record<string, string> }> };
    expect(resources.resources.vol!.states.bravo).toBe("promoted");
    expect(resources.resources.vip!.states.bravo).toBe("started");
    expect((await volumeOn("bravo"))?.role).toBe("primary");
    expect(readVolume("bravo").equals(PATTERN)).toBe(true);
  }, 90_000);
});
