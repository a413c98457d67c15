/**
 * The nftables dataplane on the real kernel. Namespaces of its own: a client
 * (two addresses), a director (ip_forward on, the VIP on its client side, a
 * bridge to the servers) and two real servers running `tandem lab
 * realserver`, whose default route is the director (LVS-NAT). The client
 * counts which server answers; a held keep-alive connection shows that
 * drains, weight changes and removals keep established connections. Needs
 * root and nft.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { freeSubnets } from "./net.ts";
import { Helper, sh } from "../core/os/netns.ts";
import { tandemArgv, waitFor } from "../helpers.ts";
import { NftablesDataplane } from "../../modules/director/dataplane/nftables.ts";
import { effective, parseListing } from "../../modules/director/dataplane/nftables-render.ts";
import { serviceKey, type RealServer, type VirtualService } from "../../modules/director/dataplane/model.ts";

const why = process.getuid?.() !== 0 ? "needs root (network namespaces, nftables)" : !Bun.which("nft") ? "needs nft" : !Bun.which("curl") ? "needs curl" : undefined;
if (why) console.log(`skip: director nftables lab: ${why}`);

const TEST_TIMEOUT_MS = 60_000;
const SPREAD = 200;
/** How far from the scheduler's share a spread may be, in requests out of SPREAD. */
const TOLERANCE = 12;
const READY_TIMEOUT_MS = 15_000;
/** The shortest persistence nftables holds (set timeouts are whole seconds). */
const PERSIST_SHORT_MS = 1_000;

const tag = `tdn-${process.pid}`;
const ns = { client: `${tag}-client`, director: `${tag}-dir`, rs1: `${tag}-rs1`, rs2: `${tag}-rs2` };
const [front, back] = why ? [] : freeSubnets(2, 192);
const vip = `${front}10`;
const client = [`${front}2`, `${front}3`];
const rip = { rs1: `${back}11`, rs2: `${back}12` };

const servers: Bun.Subprocess[] = [];
let helper: Helper;
let dataplane: NftablesDataplane;

const inNs = (name: string, ...args: string[]) => sh(["ip", "-n", name, ...args]);

function build(): void {
  for (const name of Object.values(ns)) {
    sh(["ip", "netns", "add", name]);
    inNs(name, "link", "set", "lo", "up");
  }
  sh(["ip", "link", "add", "eth0", "netns", ns.client, "type", "veth", "peer", "name", "c0", "netns", ns.director]);
  inNs(ns.director, "link", "add", "br0", "type", "bridge");
  for (const [i, name] of [ns.rs1, ns.rs2].entries()) {
    sh(["ip", "link", "add", "eth0", "netns", name, "type", "veth", "peer", "name", `p${i}`, "netns", ns.director]);
    inNs(ns.director, "link", "set", `p${i}`, "master", "br0");
    inNs(ns.director, "link", "set", `p${i}`, "up");
  }
  for (const a of client) inNs(ns.client, "addr", "add", `${a}/24`, "dev", "eth0");
  inNs(ns.director, "addr", "add", `${front}1/24`, "dev", "c0");
  inNs(ns.director, "addr", "add", `${vip}/24`, "dev", "c0");
  inNs(ns.director, "addr", "add", `${back}1/24`, "dev", "br0");
  inNs(ns.rs1, "addr", "add", `${rip.rs1}/24`, "dev", "eth0");
  inNs(ns.rs2, "addr", "add", `${rip.rs2}/24`, "dev", "eth0");
  for (const [name, dev] of [[ns.client, "eth0"], [ns.director, "c0"], [ns.director, "br0"], [ns.rs1, "eth0"], [ns.rs2, "eth0"]] as const) inNs(name, "link", "set", dev, "up");
  for (const name of [ns.rs1, ns.rs2]) inNs(name, "route", "add", "default", "via", `${back}1`);
  sh(["ip", "netns", "exec", ns.director, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
}

function teardown(): void {
  for (const p of servers) p.kill("SIGKILL");
  for (const name of Object.values(ns)) sh(["ip", "netns", "del", name], true);
}

const rs = (name: "rs1" | "rs2", weight: number): RealServer => ({ address: rip[name], port: 80, weight, forwarding: "nat" });

function service(scheduler: VirtualService["scheduler"], reals: RealServer[], persistence?: VirtualService["persistence"], port = 80): VirtualService {
  const s = { protocol: "tcp" as const, address: vip, port, scheduler, forwarding: "nat" as const, reals, ...(persistence ? { persistence } : {}) };
  return { ...s, key: serviceKey(s) };
}

async function spread(n: number, from = client[0]): Promise<Record<string, number>> {
  const r = await helper.send({ op: "spread", host: vip, port: 80, n, from });
  expect(r.errors).toBe(0);
  return r.counts;
}

/** The table as nft lists it, handles included. */
const listing = () => JSON.parse(sh(["ip", "netns", "exec", ns.director, "nft", "-j", "list", "table", "ip", "tandem_lb"]).stdout);

describe.skipIf(why !== undefined)("director nftables lab", () => {
  beforeAll(async () => {
    build();
    for (const name of ["rs1", "rs2"] as const) {
      servers.push(Bun.spawn(["ip", "netns", "exec", ns[name], ...tandemArgv(), "lab", "realserver", "--name", name, "--listen", `${rip[name]}:80`], { stdio: ["ignore", "ignore", "ignore"] }));
      await waitFor(`${name} to answer`, () => (sh(["ip", "netns", "exec", ns.director, "curl", "-sf", "--max-time", "1", `http://${rip[name]}/`], true).stdout.trim() === name ? true : undefined), READY_TIMEOUT_MS);
    }
    helper = new Helper(ns.client, resolve(import.meta.dir, "director-client.ts"), []);
    dataplane = new NftablesDataplane({ netns: ns.director });
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await helper?.end();
    teardown();
  });

  test(
    "wrr 3:1: three requests in four reach rs1",
    async () => {
      const r = await dataplane.reconcile([service("wrr", [rs("rs1", 3), rs("rs2", 1)])]);
      expect(r.diff.map((c) => c.kind)).toEqual(["add-service"]);
      const counts = await spread(SPREAD);
      expect(Math.abs(counts.rs1! - (SPREAD * 3) / 4)).toBeLessThanOrEqual(TOLERANCE);
      expect(counts.rs1! + counts.rs2!).toBe(SPREAD);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "rr: as many to each",
    async () => {
      const r = await dataplane.reconcile([service("rr", [rs("rs1", 3), rs("rs2", 1)])]);
      expect(r.diff.map((c) => c.kind)).toEqual(["update-service"]);
      const counts = await spread(SPREAD);
      expect(Math.abs(counts.rs1! - SPREAD / 2)).toBeLessThanOrEqual(TOLERANCE);
      expect(Math.abs(counts.rs2! - SPREAD / 2)).toBeLessThanOrEqual(TOLERANCE);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "sh: each client stays on one server",
    async () => {
      await dataplane.reconcile([service("sh", [rs("rs1", 1), rs("rs2", 1)])]);
      for (const from of client) expect(Object.values(await spread(20, from))).toEqual([20]);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "persistence: a client keeps its server; drained, that server takes none of its new connections",
    async () => {
      await dataplane.reconcile([service("rr", [rs("rs1", 1), rs("rs2", 1)], { timeoutMs: 60_000 })]);
      const first = Object.keys(await spread(20)) as Array<"rs1" | "rs2">;
      expect(first.length).toBe(1);
      const [mine] = first;
      const other = mine === "rs1" ? "rs2" : "rs1";
      await dataplane.reconcile([service("rr", [rs(mine!, 0), rs(other, 1)], { timeoutMs: 60_000 })]);
      expect(await spread(20)).toEqual({ [other]: 20 });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "persistence: every new connection of a known client renews its timeout",
    async () => {
      await dataplane.reconcile([service("rr", [rs("rs1", 1), rs("rs2", 1)], { timeoutMs: PERSIST_SHORT_MS })]);
      const seen = new Set<string>();
      // Past the timeout in all, but never a whole timeout between two connections; without renewal the third would be scheduled anew, to the other server.
      for (let i = 0; i < 4; i++) {
        for (const server of Object.keys(await spread(1))) seen.add(server);
        await Bun.sleep(PERSIST_SHORT_MS * 0.7);
      }
      expect(seen.size).toBe(1);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "drain, weight change and removal keep an established connection; new ones go to the other server",
    async () => {
      await dataplane.reconcile([service("rr", [rs("rs1", 1), rs("rs2", 1)])]);
      const { server: mine } = await helper.send({ op: "open", id: "held", host: vip, port: 80, from: client[0] });
      const other = mine === "rs1" ? "rs2" : "rs1";
      const steps: RealServer[][] = [
        [rs(mine, 0), rs(other, 1)],
        [rs(mine, 0), rs(other, 5)],
        [rs(other, 5)],
      ];
      for (const reals of steps) {
        const r = await dataplane.reconcile([service("rr", reals)]);
        expect(r.diff.length).toBe(1);
        expect(await helper.send({ op: "again", id: "held" })).toEqual({ server: mine });
        expect(await spread(10)).toEqual({ [other]: 10 });
      }
      await dataplane.reconcile([service("rr", [rs("rs1", 1), rs("rs2", 1)])]);
      expect(await helper.send({ op: "again", id: "held" })).toEqual({ server: mine });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "reconciling the same state changes nothing, not even a handle; a restarted dataplane reads and keeps the live table",
    async () => {
      const desired = [service("wrr", [rs("rs1", 2), rs("rs2", 1)]), service("rr", [rs("rs1", 1)], undefined, 8080)];
      await dataplane.reconcile(desired);
      const before = listing();
      expect(parseListing(before).consistent).toBe(true);
      expect((await dataplane.reconcile(desired)).diff).toEqual([]);
      expect(listing()).toEqual(before);
      const restarted = new NftablesDataplane({ netns: ns.director });
      expect(await restarted.read()).toEqual(effective(desired).services);
      expect((await restarted.reconcile(desired)).diff).toEqual([]);
      expect(listing()).toEqual(before);
      expect(await helper.send({ op: "again", id: "held" })).toHaveProperty("server");
      await helper.send({ op: "close", id: "held" });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a hand-edited table is replaced whole, in one batch, and serves again",
    async () => {
      const desired = [service("rr", [rs("rs1", 1), rs("rs2", 1)])];
      await dataplane.reconcile(desired);
      sh(["ip", "netns", "exec", ns.director, "nft", "flush", "chain", "ip", "tandem_lb", `vs-tcp-${vip}-80`]);
      expect(parseListing(listing()).consistent).toBe(false);
      const fresh = new NftablesDataplane({ netns: ns.director });
      // The service's chain no longer says what it is: the table holds no service it can read, so the diff adds it.
      expect((await fresh.reconcile(desired)).diff.map((c) => c.kind)).toEqual(["add-service"]);
      expect(parseListing(listing()).consistent).toBe(true);
      expect(Object.values(await spread(20)).sort()).toEqual([10, 10]);
    },
    TEST_TIMEOUT_MS,
  );
});
