/**
 * Active/active directors behind a router (ECMP), announced over BGP by BIRD.
 *
 * `tandem lab` builds the shape from the config: alpha and bravo, both
 * active directors (`mode = "active-active"`, nftables, NAT, `mh`) of the
 * lab's two real servers, each announcing the virtual address (`announce =
 * true`) to the lab's router over BGP with BFD (100 ms × 3); the router is
 * BIRD with `merge paths` and the L4 multipath hash, the client behind it on
 * an edge network. Counted per director: the SYNs of the virtual address in
 * each director's namespace (a counter table of the test's own).
 *
 * - new connections from the client spread over both directors, and both
 *   send the client to the same real server (the consistent hash);
 * - alpha powered off (every process of its namespace, BIRD too, SIGKILLed,
 *   its links down): BFD takes its path off the router, and every new
 *   connection goes to bravo and is served; held connections that the
 *   router moves from alpha to bravo are counted: on nftables there is no
 *   DR and no connection sync between active directors, so exactly those
 *   that were on bravo survive;
 * - alpha back, then its real servers unreachable from it alone (its checks
 *   fail; bravo's pass): alpha withdraws and receives no new connection;
 *   its checks passing again, it announces and serves again.
 * Needs root and bird2.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { writeFileSync } from "node:fs";
import { tandem, tempDir, waitFor } from "../helpers.ts";
import { Helper } from "../core/os/netns.ts";
import { freeSubnets } from "./net.ts";
import { labCommand, labStatus, pairConfig, pairSecrets, type LabHost } from "./config.ts";
import { activeActiveSections, nextHops as routerHops } from "./routing-config.ts";

const ROOT = process.getuid?.() === 0;
const BIRD = Bun.spawnSync(["sh", "-c", "command -v bird && command -v birdc"]).exitCode === 0;
if (!ROOT) console.log("test/lab/routing.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");
else if (!BIRD) console.log("test/lab/routing.test.ts: skipped: no bird/birdc (Debian package bird2; scripts/setup.mjs installs it)");

const LAB = `bgp${process.pid % 100000}`;
const [LAN] = ROOT ? (freeSubnets(1, 240) as [string]) : [""];
const VIP = `${LAN}50`;
const ROUTER = `${LAN}254`;
const TOKEN = "routing-lab-token-0123456789abcdef";
const N = 200;
const tmp = tempDir("bgp-lab");

let hosts: Record<string, LabHost> = {};
let client: Helper | null = null;

function sh(ns: string, ...argv: string[]): string {
  const r = Bun.spawnSync(["ip", "netns", "exec", ns, ...argv], { timeout: 10_000 });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} in ${ns}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** The test's counter of new connections to the virtual address in a director's namespace. */
function countSyns(node: string): void {
  const ns = hosts[node]!.namespace;
  sh(ns, "nft", "add", "table", "ip", "tdl_bgp_count");
  sh(ns, "nft", "add", "chain", "ip", "tdl_bgp_count", "pre", "{ type filter hook prerouting priority -300 ; }");
  sh(ns, "nft", "add", "rule", "ip", "tdl_bgp_count", "pre", "ip", "daddr", VIP, "tcp", "dport", "80", "tcp", "flags", "&", "(syn|ack)", "==", "syn", "counter");
}

function syns(node: string): number {
  const out = JSON.parse(sh(hosts[node]!.namespace, "nft", "-j", "list", "table", "ip", "tdl_bgp_count")) as { nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }> };
  return out.nftables.flatMap((e) => e.rule?.expr ?? []).find((x) => x.counter)!.counter!.packets;
}

const nextHops = () => routerHops(hosts.router!.namespace, VIP);

async function routing(node: string): Promise<any> {
  const status = (await (await fetch(`${hosts[node]!.api}v1/status`, { signal: AbortSignal.timeout(2000) })).json()) as { modules: { routing: any } };
  return status.modules.routing;
}

async function spread(n: number): Promise<{ counts: Record<string, number>; errors: number }> {
  return client!.send({ op: "spread", host: VIP, port: 80, n });
}

describe.skipIf(!ROOT || !BIRD)("active/active directors behind ECMP, announced over BGP by BIRD", () => {
  beforeAll(async () => {
    await pairSecrets(tmp.dir, TOKEN);
    const more = activeActiveSections({ lan: LAN, vip: VIP, router: ROUTER, dir: tmp.dir, bfd: true });
    const config = join(tmp.dir, "tandem.toml");
    writeFileSync(config, pairConfig({ cluster: "bgp", lan: LAN, more }));
    const up = await tandem(["lab", "up", "-c", config, "--name", LAB], { timeoutMs: 60_000 });
    if (up.code !== 0) throw new Error(`lab up: ${up.stderr}${up.stdout}`);
    hosts = (await labStatus(LAB)).hosts;
    countSyns("alpha");
    countSyns("bravo");
    await waitFor("the router has a path through each director", () => (nextHops().length === 2 ? true : undefined), 30_000, 200);
    client = new Helper(hosts.client!.namespace, resolve(import.meta.dir, "director-client.ts"), []);
  }, 90_000);

  afterAll(async () => {
    await client?.end();
    await tandem(["lab", "down", "--name", LAB], { timeoutMs: 60_000 });
    tmp.cleanup();
  }, 90_000);

  test(`${N} new connections from the client spread over both directors, each announcing over an established session`, async () => {
    for (const node of ["alpha", "bravo"]) {
      // The sessions' state is read back every poll (500 ms).
      const r = await waitFor(`${node}'s session established`, async () => {
        const s = await routing(node);
        return s.sessions?.[0]?.session === "Established" ? s : undefined;
      }, 5_000, 100);
      expect(r.announced).toEqual([`${VIP}/32`]);
      expect(r.sessions).toMatchObject([{ name: "tandem_edge", state: "up", session: "Established" }]);
    }
    expect(nextHops()).toEqual([`${LAN}11`, `${LAN}12`]);
    const [a0, b0] = [syns("alpha"), syns("bravo")];
    const r = await spread(N);
    const [a, b] = [syns("alpha") - a0, syns("bravo") - b0];
    console.log(`ECMP over two directors: ${N} connections, alpha ${a}, bravo ${b}; real servers ${JSON.stringify(r.counts)}; errors ${r.errors}`);
    expect(r.errors).toBe(0);
    expect(a + b).toBe(N);
    expect(a).toBeGreaterThan(N / 5);
    expect(b).toBeGreaterThan(N / 5);
    // mh on nftables hashes the client's address with one seed on every director: through alpha or bravo, one real server.
    expect(Object.keys(r.counts)).toHaveLength(1);
  }, 60_000);

  test("alpha powered off: BFD withdraws it, every new connection goes to bravo; held connections survive exactly where they were on bravo", async () => {
    const before = syns("bravo");
    const held = await client!.send({ op: "hold", host: VIP, port: 80, n: 40, every: 100, timeoutMs: 3000 });
    expect(held.opened).toBe(40);
    const onBravo = syns("bravo") - before;
    await Bun.sleep(500);
    const powered = performance.now();
    await labCommand(LAB, "fault", "alpha", "power");
    await waitFor("the router's one path, through bravo", () => (nextHops().join() === `${LAN}12` ? true : undefined), 15_000, 20);
    const withdrawnMs = Math.round(performance.now() - powered);
    await Bun.sleep(3500);
    const kept = await client!.send({ op: "release" });
    const [a0, b0] = [syns("alpha"), syns("bravo")];
    const r = await spread(N);
    console.log(
      `alpha powered off: its path gone from the router after ${withdrawnMs} ms (BFD 100 ms × 3); then ${N} new connections: errors ${r.errors}, alpha ${syns("alpha") - a0}, bravo ${syns("bravo") - b0}; held connections: ${kept.survivors}/40 survived, ${onBravo} were on bravo (nftables, NAT: no DR, no sync between active directors, so those moved from alpha are reset)`,
    );
    expect(kept.survivors).toBe(onBravo);
    expect(r.errors).toBe(0);
    expect(syns("alpha") - a0).toBe(0);
    expect(syns("bravo") - b0).toBe(N);
    expect(withdrawnMs).toBeLessThan(3000);
  }, 60_000);

  test("alpha back, then its real servers unreachable from it alone: it withdraws and receives no new connection", async () => {
    await labCommand(LAB, "heal", "alpha");
    await waitFor("alpha announcing again, the router with both paths", () => (nextHops().length === 2 ? true : undefined), 30_000, 200);
    const ns = hosts.alpha!.namespace;
    // alpha's own checks to the real servers are dropped (output hook: what it forwards for clients is not).
    sh(ns, "nft", "add", "table", "ip", "tdl_bgp_block");
    sh(ns, "nft", "add", "chain", "ip", "tdl_bgp_block", "out", "{ type filter hook output priority 0 ; }");
    sh(ns, "nft", "add", "rule", "ip", "tdl_bgp_block", "out", "ip", "daddr", `{ ${LAN}101, ${LAN}102 }`, "tcp", "dport", "80", "drop");
    await waitFor("alpha withdrawn: service down", async () => ((await routing("alpha")).addresses?.[0]?.reason === "service-down" ? true : undefined), 15_000, 100);
    await waitFor("the router's one path, through bravo", () => (nextHops().join() === `${LAN}12` ? true : undefined), 10_000, 50);
    const [a0, b0] = [syns("alpha"), syns("bravo")];
    const r = await spread(N);
    expect(r.errors).toBe(0);
    expect(syns("alpha") - a0).toBe(0);
    expect(syns("bravo") - b0).toBe(N);
    sh(ns, "nft", "delete", "table", "ip", "tdl_bgp_block");
    await waitFor("alpha announcing again once its checks pass", () => (nextHops().length === 2 ? true : undefined), 15_000, 100);
    // Back after a power-off, alpha serves again: its route to the client's edge came back with its links.
    const a1 = syns("alpha");
    const again = await spread(N);
    expect(again.errors).toBe(0);
    expect(syns("alpha") - a1).toBeGreaterThan(N / 5);
  }, 90_000);
});
