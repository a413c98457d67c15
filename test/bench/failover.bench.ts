/**
 * Failover as the client sees it. A switch namespace with a bridge; two nodes
 * and a client on it (eth0), and a second link between the nodes (eth1). Each
 * node serves HTTP on every address with its own name. The client opens a new
 * TCP connection to the virtual address every 10 ms (prober.ts); a failover
 * time is from the fault to the first answer from the survivor.
 *
 * Faults to the holder, each at a random phase: power loss (every process of
 * its namespace SIGKILLed and its links down), link down (its links down, its
 * processes running), clean stop (SIGTERM to the daemon). After each run the
 * fault is undone (a powered-off node comes back as after a reboot: without
 * the virtual address or the director's table) and the pair left to settle.
 *
 * Tandem: heartbeat interval 20 ms, deadtime 80 ms, on both links; the group
 * is one `address` resource, and then, in a second pass, the address and the
 * director (nftables, NAT) whose virtual service on the address's port 80
 * has two real servers, addresses every node holds on its loopback
 * (each node answers with its own name through its own dataplane): the gap
 * between the two is what the director costs a takeover. Anchor: keepalived
 * 2.2.7, VRRPv3, advert_int 0.1 s on eth0, the same virtual address.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { benchPairConfig, bridgedPair, Lines, median, netnsPids, quantile, type Node, type Row, type Table, type Topology } from "./lib.ts";
import { directorSection, lbGroup, vipGroup } from "../lab/config.ts";

const RUNS = Number(process.env.BENCH_FO_RUNS ?? 20);
const NET = { lan: "198.18.253", hb: "198.18.254" };
const VIP = `${NET.lan}.100`;
/** The director's real servers (lbGroup's .101 and .102): addresses on every node's loopback, served there by the node's own HTTP server. */
const REALS = [`${NET.lan}.101`, `${NET.lan}.102`];
/** Longest a failover may take before the run counts as failed. */
const FAILOVER_TIMEOUT_MS = 5000;
/** After a fault is undone: how long the client must be served by one node before the next run. */
const STEADY_MS = 1500;
const SETTLE_TIMEOUT_MS = 30_000;
const PROBE_SECONDS = 3600;
const BUN = resolve(import.meta.dir, "../../node_modules/.bin/bun");

type Fault = "power" | "link" | "stop";
const FAULTS: Array<{ fault: Fault; label: string }> = [
  { fault: "power", label: "power loss" },
  { fault: "link", label: "link down" },
  { fault: "stop", label: "clean stop" },
];

function tandemConfig(dir: string, bin: string): string {
  return benchPairConfig(dir, bin, "fobench", NET, vipGroup("web", VIP));
}

/** The group of the address and then the director (lbGroup), its virtual service on the address's port 80 over REALS. */
function directorConfig(dir: string, bin: string): string {
  const more = `${lbGroup({ lan: `${NET.lan}.`, vip: VIP, agent: "director", check: '{ kind = "none" }', weights: [1, 1], monitor: "2s" })}${directorSection({ vip: VIP, service: "web", scheduler: "rr" })}`;
  const sub = join(dir, "director");
  mkdirSync(sub);
  return benchPairConfig(sub, bin, "fobench", NET, more);
}

function keepalivedConfig(dir: string, node: Node): string {
  const file = join(dir, `${node.name}.conf`);
  writeFileSync(
    file,
    `global_defs {
  router_id ${node.name}
}
vrrp_instance VI_1 {
  version 3
  state BACKUP
  interface eth0
  virtual_router_id 52
  priority ${node.name === "alpha" ? 150 : 100}
  advert_int 0.1
  virtual_ipaddress {
    ${VIP}/24
  }
}
`,
  );
  return file;
}

interface System {
  start(node: Node): void;
  /** SIGTERM to its daemon, and wait until it has exited. */
  stop(node: Node): Promise<void>;
}

/** The answers the client got: wall time and the name of the node that answered. */
function answers(lines: Lines, after: number): Array<{ at: number; name: string }> {
  return lines.lines.filter((l) => l.at >= after).map((l) => ({ at: Number(l.text.split(" ")[0]), name: l.text.split(" ")[1] ?? "" }));
}

/**
 * Wait until one node has answered alone for STEADY_MS, and `since` (the last restart) is that long ago, so the
 * restarted node has joined its peer (a node killed while its peer still starts has no peer to take over); that
 * node is the holder.
 */
async function steady(lines: Lines, since: number): Promise<"alpha" | "bravo"> {
  const until = Date.now() + SETTLE_TIMEOUT_MS;
  while (Date.now() < until) {
    await Bun.sleep(100);
    if (Date.now() - since < STEADY_MS) continue;
    const recent = answers(lines, Date.now() - STEADY_MS);
    const names = new Set(recent.map((a) => a.name));
    // An answer every 10 ms: at least half of them came, all from one node.
    if (recent.length >= STEADY_MS / 20 && names.size === 1) return [...names][0] as "alpha" | "bravo";
  }
  throw new Error(`the client was not served by one node for ${STEADY_MS} ms within ${SETTLE_TIMEOUT_MS} ms`);
}

/**
 * What a reboot clears that a power loss of a namespace leaves: the virtual address and the director's table. A
 * node back with the address still on (its lifetime not run out) would hold it beside the survivor until the
 * resource manager sorts the two out, and the next run would find the client's ARP on either.
 */
function reboot(node: Node): void {
  Bun.spawnSync(["ip", "-n", node.ns, "addr", "del", `${VIP}/24`, "dev", "eth0"]);
  Bun.spawnSync(["ip", "netns", "exec", node.ns, "nft", "delete", "table", "ip", "tandem_lb"]);
}

async function measure(t: Topology, sys: System, fault: Fault, lines: Lines): Promise<number[]> {
  const out: number[] = [];
  let restarted = 0;
  for (let i = 0; i < RUNS; i++) {
    const holder = await steady(lines, restarted);
    const node = t.nodes[holder];
    const survivor = holder === "alpha" ? "bravo" : "alpha";
    await Bun.sleep(Math.random() * 100);
    const at = Date.now();
    if (fault === "power") {
      for (const pid of netnsPids(node.ns)) process.kill(pid, "SIGKILL");
      t.links(node, false);
    } else if (fault === "link") t.links(node, false);
    else void sys.stop(node);
    const until = at + FAILOVER_TIMEOUT_MS;
    let first: number | undefined;
    while (first === undefined && Date.now() < until) {
      await Bun.sleep(5);
      first = answers(lines, at).find((a) => a.name === survivor && a.at >= at)?.at;
    }
    if (first === undefined) throw new Error(`${fault}: the client was not served by ${survivor} within ${FAILOVER_TIMEOUT_MS} ms`);
    out.push(first - at);
    if (fault === "power") {
      while (netnsPids(node.ns).length) await Bun.sleep(5);
      reboot(node);
      t.links(node, true);
      sys.start(node);
    } else if (fault === "link") t.links(node, true);
    else {
      await sys.stop(node);
      sys.start(node);
    }
    restarted = Date.now();
  }
  return out;
}

export async function bench(bin: string): Promise<Table> {
  const id = String(process.pid);
  const dir = mkdtempSync(join(tmpdir(), "tandem-bench-fo-"));
  const t = bridgedPair(`tdfo-${id}`, NET);
  const daemons = new Map<string, ReturnType<typeof Bun.spawn>>();
  const serve = (n: Node) => Bun.spawn(["ip", "netns", "exec", n.ns, bin, "lab", "realserver", "--name", n.name, "--listen", "0.0.0.0:80"], { stdout: "ignore", stderr: "ignore" });
  const daemon = (n: Node, argv: string[]) => {
    if (!netnsPids(n.ns).some((pid) => daemons.get(`srv-${n.name}`)?.pid === pid)) daemons.set(`srv-${n.name}`, serve(n));
    daemons.set(n.name, Bun.spawn(["ip", "netns", "exec", n.ns, ...argv], { stdout: "ignore", stderr: "ignore" }));
  };
  const stopDaemon = async (n: Node) => {
    const p = daemons.get(n.name);
    p?.kill("SIGTERM");
    await p?.exited;
  };
  try {
    for (const n of Object.values(t.nodes)) for (const a of REALS) Bun.spawnSync(["ip", "-n", n.ns, "addr", "add", `${a}/32`, "dev", "lo"]);
    const run = (config: string): System => ({ start: (n) => daemon(n, [bin, "run", "-c", config, "--node", n.name]), stop: stopDaemon });
    const tandem = run(tandemConfig(dir, bin));
    const director = run(directorConfig(dir, bin));
    const keepalived: System = {
      start: (n) => {
        for (const f of ["pid", "vrrp.pid", "chk.pid"]) rmSync(join(dir, `${n.name}.${f}`), { force: true });
        const files = ["-p", join(dir, `${n.name}.pid`), "-r", join(dir, `${n.name}.vrrp.pid`), "-c", join(dir, `${n.name}.chk.pid`)];
        daemon(n, ["keepalived", "-n", "-l", "-D", "-f", keepalivedConfig(dir, n), ...files]);
      },
      stop: stopDaemon,
    };
    const prober = Bun.spawn(["ip", "netns", "exec", t.client, BUN, join(import.meta.dir, "prober.ts"), VIP, "80", String(PROBE_SECONDS)], { stdout: "pipe", stderr: "ignore" });
    const lines = new Lines(prober.stdout);
    const results: Record<string, Record<Fault, number[]>> = {};
    for (const [name, sys] of [["tandem", tandem], ["director", director], ["keepalived", keepalived]] as const) {
      for (const n of Object.values(t.nodes)) sys.start(n);
      results[name] = { power: [], link: [], stop: [] };
      for (const { fault } of FAULTS) results[name]![fault] = await measure(t, sys, fault, lines).catch((e: Error) => Promise.reject(new Error(`${name}: ${e.message}`)));
      for (const n of Object.values(t.nodes)) await sys.stop(n);
      for (const n of Object.values(t.nodes)) reboot(n);
    }
    prober.kill("SIGKILL");
    const rows: Row[] = FAULTS.flatMap(({ fault, label }) => [
      { figure: `${label}, median`, unit: "ms", tandem: median(results.tandem![fault]), anchor: median(results.keepalived![fault]), better: "lower" as const },
      { figure: `${label}, p99`, unit: "ms", tandem: quantile(results.tandem![fault], 0.99), anchor: quantile(results.keepalived![fault], 0.99), better: "lower" as const },
      { figure: `${label}, director group, median`, unit: "ms", tandem: median(results.director![fault]), anchor: median(results.keepalived![fault]), better: "lower" as const },
      { figure: `${label}, director group − address alone, median (goal: within 5)`, unit: "ms", tandem: median(results.director![fault]) - median(results.tandem![fault]), anchor: NaN, better: "lower" as const },
    ]);
    return {
      title: "Failover as the client sees it",
      anchor: "keepalived 2.2.7 VRRPv3 advert_int 0.1",
      method: `A bridge with two nodes and a client, and a second link between the nodes. A new TCP connection to the virtual address every 10 ms from the client; failover = fault to the first answer from the survivor. ${RUNS} runs per fault at a random phase: power loss (the holder's processes SIGKILLed and its links down), link down (its links down), clean stop (SIGTERM). Tandem: heartbeat 20 ms / deadtime 80 ms on both links, an \`address\` resource; then the director group: the address and the director (nftables, NAT to two addresses each node holds on its loopback, so each node answers through its own dataplane); keepalived: advert_int 0.1 s on the bridge.`,
      rows,
    };
  } finally {
    for (const p of daemons.values()) p.kill("SIGKILL");
    t.down();
    rmSync(dir, { recursive: true, force: true });
  }
}
