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
 * (each node answers with its own name through its own dataplane). In that
 * pass a second group, an address alone (VIP_ALONE), runs beside the director
 * group in the same cluster, preferred on the same node, probed by a second
 * client: each fault moves both, so the difference of the two takeovers, run
 * by run, is what the director costs one, with the detection, the load and
 * the phase the same for both (measured in separate passes on a loaded
 * machine, the detection's spread and the load's drift hid it). Anchor: keepalived
 * 2.2.7, VRRPv3, advert_int 0.1 s on eth0, the same virtual address.
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { benchPairConfig, bridgedPair, Lines, median, netnsPids, quantile, type Node, type Row, type Table, type Topology } from "./lib.ts";
import { directorSection, vipGroup } from "../lab/config.ts";

const RUNS = Number(process.env.BENCH_FO_RUNS ?? 20);
/** Which sides run (BENCH_FO_SYSTEMS=director to look at one); the table needs all three. */
const SYSTEMS = (process.env.BENCH_FO_SYSTEMS ?? "tandem,director,keepalived").split(",");
const NET = { lan: "198.18.253", hb: "198.18.254" };
const VIP = `${NET.lan}.100`;
/** The address-alone group's beside the director group, in the director pass. */
const VIP_ALONE = `${NET.lan}.99`;
/** The director's real servers (lbGroup's .101 and .102): addresses on every node's loopback, served there by the node's own HTTP server. */
const REALS = [`${NET.lan}.101`, `${NET.lan}.102`];
/**
 * BENCH_FO_TRACE=FILE: each run's timeline appended to FILE as a JSON line (system, fault, holder, the time, and
 * both nodes' heartbeat, resources and director events from the fault to the first answer, as ms after the fault,
 * by the daemons' own clocks): where a takeover's time went.
 */
const TRACE = process.env.BENCH_FO_TRACE;
/** Longest a failover may take before the run counts as failed. */
const FAILOVER_TIMEOUT_MS = 5000;
/** After a fault is undone: how long the client must be served by one node before the next run. */
const STEADY_MS = 1500;
const SETTLE_TIMEOUT_MS = 30_000;
const PROBE_SECONDS = 3600;
const BUN = resolve(import.meta.dir, "../../node_modules/.bin/bun");

type Fault = "power" | "link" | "stop";
/** Which faults run (BENCH_FO_FAULTS=stop to look at one); the table needs all three. */
const FAULTS: Array<{ fault: Fault; label: string }> = (
  [
    { fault: "power", label: "power loss" },
    { fault: "link", label: "link down" },
    { fault: "stop", label: "clean stop" },
  ] as const
).filter((f) => (process.env.BENCH_FO_FAULTS ?? "power,link,stop").split(",").includes(f.fault));

function tandemConfig(dir: string, bin: string): string {
  return benchPairConfig(dir, bin, "fobench", NET, vipGroup("web", VIP));
}

/**
 * The group of the address and then the director, its virtual service on the address's port 80 over REALS; and
 * beside it a group of an address alone (VIP_ALONE). Both preferred on alpha and returning there, as the first pass's.
 */
function directorConfig(dir: string, bin: string): string {
  const address = (name: string, vip: string) => `[[resources.resource]]
name = "${name}"
agent = "address"
params = { address = "${vip}/24", interface = "eth0" }
monitor_interval = "1s"
`;
  const more = `[resources]
[[resources.group]]
name = "lb"
members = ["vip", "director"]
preferred = "alpha"
[[resources.group]]
name = "alone"
members = ["vip-alone"]
preferred = "alpha"
${address("vip", VIP)}${address("vip-alone", VIP_ALONE)}[[resources.resource]]
name = "director"
agent = "director"
monitor_interval = "2s"
symmetrical = false
[[services]]
name = "web"
port = 80
servers = [{ address = "${REALS[0]}" }, { address = "${REALS[1]}" }]
check = { kind = "none" }
${directorSection({ vip: VIP, service: "web", scheduler: "rr" })}`;
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
  /**
   * When the node's daemon, last started, could take over (wall ms), or undefined while it could not yet.
   * Tandem's pair waits for all (as corosync's two_node): a node started while its peer is gone never takes over,
   * so a run may fault the peer only once the restarted node has seen it.
   */
  readyAt(node: Node): number | undefined;
  /** The node's daemon's log lines, as last started (for errors); none where it is not read. */
  log(node: Node): Array<{ at: number; text: string }>;
}

/** The answers the client got: wall time and the name of the node that answered. */
function answers(lines: Lines, after: number): Array<{ at: number; name: string }> {
  return lines.lines.filter((l) => l.at >= after).map((l) => ({ at: Number(l.text.split(" ")[0]), name: l.text.split(" ")[1] ?? "" }));
}

/**
 * Wait until one node has answered alone for STEADY_MS, and the nodes started since the last run have been
 * ready to take over that long (a node killed while its peer still starts has no peer to take over; and a node
 * just joined may still move the group back); the node answering is the holder.
 */
async function steady(probes: Lines[], sys: System, started: Node[]): Promise<"alpha" | "bravo"> {
  const until = Date.now() + SETTLE_TIMEOUT_MS;
  const notReady = () => started.filter((n) => {
    const at = sys.readyAt(n);
    return at === undefined || Date.now() - at < STEADY_MS;
  });
  while (Date.now() < until) {
    await Bun.sleep(100);
    if (notReady().length) continue;
    // On every address, an answer every 10 ms: at least half of them came, all from one node, the same.
    const recent = probes.map((lines) => answers(lines, Date.now() - STEADY_MS));
    const names = new Set(recent.flatMap((r) => r.map((a) => a.name)));
    if (recent.every((r) => r.length >= STEADY_MS / 20) && names.size === 1) return [...names][0] as "alpha" | "bravo";
  }
  const waiting = notReady().map((n) => n.name);
  throw new Error(`the client was not served by one node for ${STEADY_MS} ms within ${SETTLE_TIMEOUT_MS} ms${waiting.length ? ` (not ready to take over: ${waiting.join(", ")})` : ""}; answers in the last 2 s: ${probes.map((lines) => served(lines, Date.now() - 2_000)).join(", ")}`);
}

/** The answers since `after`, counted by the node that gave them (for errors). */
function served(lines: Lines, after: number): string {
  const by: Record<string, number> = {};
  for (const a of answers(lines, after)) by[a.name] = (by[a.name] ?? 0) + 1;
  return JSON.stringify(by);
}

/**
 * What a reboot clears that a power loss of a namespace leaves: the virtual address and the director's table. A
 * node back with the address still on (its lifetime not run out) would hold it beside the survivor until the
 * resource manager sorts the two out, and the next run would find the client's ARP on either.
 */
function reboot(node: Node): void {
  for (const vip of [VIP, VIP_ALONE]) Bun.spawnSync(["ip", "-n", node.ns, "addr", "del", `${vip}/24`, "dev", "eth0"]);
  Bun.spawnSync(["ip", "netns", "exec", node.ns, "nft", "delete", "table", "ip", "tandem_lb"]);
}

/**
 * Runs with no takeover within FAILOVER_TIMEOUT_MS a fault may have before the bench gives up on the side. On a
 * loaded machine a node whose heartbeat stalled past deadtime waits to hear its peer again before it takes anything
 * over (modules/heartbeat), and the peer is gone: a quarter of the runs may be lost so, each counted in the table.
 */
const TIMEOUTS_MAX = Math.max(3, Math.ceil(RUNS / 4));

/**
 * RUNS failovers of `fault`: the times of those that took over, and a report of each that did not within
 * FAILOVER_TIMEOUT_MS (said on stderr with both nodes' logs around it; the fault is undone as after any run).
 * With `beside` (the client of a group in the same cluster, moved by the same faults): for each run both took
 * over in, this side's time minus that group's.
 */
async function measure(t: Topology, sys: System, fault: Fault, lines: Lines, name: string, beside?: Lines): Promise<{ times: number[]; beside: number[]; differences: number[]; timeouts: string[] }> {
  const out: number[] = [];
  /** The times of the group beside, where it took over. */
  const besideTimes: number[] = [];
  const differences: number[] = [];
  const timeouts: string[] = [];
  const probes = beside ? [lines, beside] : [lines];
  /** The nodes started since the last run: each must be ready to take over before the next fault. */
  let started: Node[] = Object.values(t.nodes);
  for (let i = 0; i < RUNS; i++) {
    const holder = await steady(probes, sys, started).catch((e: Error) => Promise.reject(new Error(`${fault}, run ${i + 1}: ${e.message}`)));
    const node = t.nodes[holder];
    const survivor = holder === "alpha" ? "bravo" : "alpha";
    started = [];
    await Bun.sleep(Math.random() * 100);
    // Listed before the fault's time is taken: on a loaded machine `ip netns pids` alone may take a second.
    const pids = fault === "power" ? netnsPids(node.ns) : [];
    const at = Date.now();
    if (fault === "power") {
      for (const pid of pids) process.kill(pid, "SIGKILL");
      t.links(node, false);
    } else if (fault === "link") t.links(node, false);
    else void sys.stop(node);
    const until = at + FAILOVER_TIMEOUT_MS;
    const firstOf = (l: Lines) => answers(l, at).find((a) => a.name === survivor && a.at >= at)?.at;
    let firsts: Array<number | undefined> = [];
    while (firsts.filter((f) => f !== undefined).length < probes.length && Date.now() < until) {
      await Bun.sleep(5);
      firsts = probes.map(firstOf);
    }
    const [first, alone] = firsts;
    if (first === undefined) {
      const events = (n: Node) => sys.log(n).filter((l) => l.at >= at - 2_000).map((l) => `  ${new Date(l.at).toISOString().slice(11, 23)} ${l.text.slice(0, 400)}`).join("\n");
      const report = `${name}: ${fault}, run ${i + 1}: the client was not served by ${survivor} within ${FAILOVER_TIMEOUT_MS} ms (holder ${holder}; answers since the fault: ${served(lines, at)})`;
      console.error(`${report}\n--- ${survivor}'s log from 2 s before the fault ---\n${events(t.nodes[survivor])}\n--- ${holder}'s ---\n${events(node)}`);
      timeouts.push(report);
      if (timeouts.length > TIMEOUTS_MAX) throw new Error(`${timeouts.length} runs with no takeover: ${timeouts.join("; ")}`);
    } else out.push(first - at);
    if (alone !== undefined) besideTimes.push(alone - at);
    if (first !== undefined && alone !== undefined) differences.push(first - alone);
    if (TRACE) {
      // Per client: the answers the holder still gave after the fault (a director's dataplane, left on a stop, answers where the client's ARP still points), and the longest silence before the survivor's first.
      const seen = probes.map((l, k) => {
        const upTo = firsts[k] ?? until;
        const times = [at, ...answers(l, at).filter((a) => a.at <= upTo).map((a) => a.at)];
        return { held: answers(l, at).filter((a) => a.name === holder && a.at <= upTo).length, silentMs: Math.max(...times.slice(1).map((x, j) => x - times[j]!), 0) };
      });
      trace(TRACE, { system: name, fault, run: i + 1, holder, ms: first === undefined ? null : first - at, ...(beside ? { beside: alone === undefined ? null : alone - at } : {}), clients: seen }, sys, t, at, Math.max(first ?? until, alone ?? until));
    }
    if (fault === "power") {
      while (netnsPids(node.ns).length) await Bun.sleep(5);
      reboot(node);
      t.links(node, true);
      sys.start(node);
      started = [node];
    } else if (fault === "link") t.links(node, true);
    else {
      await sys.stop(node);
      sys.start(node);
      started = [node];
    }
  }
  return { times: out, beside: besideTimes, differences, timeouts };
}

/** One run's timeline (BENCH_FO_TRACE): the nodes' events from 100 ms before the fault to 50 ms after the first answer. */
function trace(file: string, run: Record<string, unknown>, sys: System, t: Topology, at: number, until: number): void {
  const events = Object.values(t.nodes).flatMap((n) =>
    sys.log(n).flatMap((l) => {
      const e = (() => {
        try {
          return JSON.parse(l.text) as Record<string, unknown>;
        } catch {
          return null;
        }
      })();
      const when = typeof e?.time === "number" ? e.time : l.at;
      if (!e || typeof e.event !== "string" || when < at - 100 || when > until + 50 || e.event === "heartbeat.late") return [];
      const { level: _l, time: _t, msg: _m, node: _n, event, ...data } = e;
      return [{ dt: when - at, node: n.name, event, ...data }];
    }),
  );
  appendFileSync(file, `${JSON.stringify({ ...run, events: events.sort((a, b) => a.dt - b.dt) })}\n`);
}

export async function bench(bin: string): Promise<Table> {
  const id = String(process.pid);
  const dir = mkdtempSync(join(tmpdir(), "tandem-bench-fo-"));
  const t = bridgedPair(`tdfo-${id}`, NET);
  const daemons = new Map<string, ReturnType<typeof Bun.spawn>>();
  /** The log (stdout) of each node's Tandem, as last started. */
  const logs = new Map<string, Lines>();
  /** When each node's daemon was last started (wall ms). */
  const startedAt = new Map<string, number>();
  const serve = (n: Node) => Bun.spawn(["ip", "netns", "exec", n.ns, bin, "lab", "realserver", "--name", n.name, "--listen", "0.0.0.0:80"], { stdout: "ignore", stderr: "ignore" });
  const daemon = (n: Node, argv: string[], log = false) => {
    if (!netnsPids(n.ns).some((pid) => daemons.get(`srv-${n.name}`)?.pid === pid)) daemons.set(`srv-${n.name}`, serve(n));
    const p = Bun.spawn(["ip", "netns", "exec", n.ns, ...argv], { stdout: log ? "pipe" : "ignore", stderr: "ignore" });
    daemons.set(n.name, p);
    startedAt.set(n.name, Date.now());
    if (log) logs.set(n.name, new Lines(p.stdout as ReadableStream<Uint8Array>));
  };
  const stopDaemon = async (n: Node) => {
    const p = daemons.get(n.name);
    p?.kill("SIGTERM");
    await p?.exited;
  };
  try {
    for (const n of Object.values(t.nodes)) for (const a of REALS) Bun.spawnSync(["ip", "-n", n.ns, "addr", "add", `${a}/32`, "dev", "lo"]);
    // Tandem is ready to take over once it runs and is quorate: in a pair, after it has seen its peer.
    const quorate = (text: string) => text.includes('"event":"heartbeat.quorum"') && text.includes('"quorate":true');
    const run = (config: string): System => ({
      start: (n) => daemon(n, [bin, "run", "-c", config, "--node", n.name], true),
      stop: stopDaemon,
      readyAt: (n) => logs.get(n.name)?.lines.find((l) => quorate(l.text))?.at,
      log: (n) => logs.get(n.name)?.lines ?? [],
    });
    const tandem = run(tandemConfig(dir, bin));
    const director = run(directorConfig(dir, bin));
    const keepalived: System = {
      start: (n) => {
        for (const f of ["pid", "vrrp.pid", "chk.pid"]) rmSync(join(dir, `${n.name}.${f}`), { force: true });
        const files = ["-p", join(dir, `${n.name}.pid`), "-r", join(dir, `${n.name}.vrrp.pid`), "-c", join(dir, `${n.name}.chk.pid`)];
        daemon(n, ["keepalived", "-n", "-l", "-D", "-f", keepalivedConfig(dir, n), ...files]);
      },
      stop: stopDaemon,
      // VRRP has no wait for all: a backup alone takes over after its master-down interval, counted from its start.
      readyAt: (n) => startedAt.get(n.name),
      log: () => [],
    };
    const probe = (address: string) => {
      const p = Bun.spawn(["ip", "netns", "exec", t.client, BUN, join(import.meta.dir, "prober.ts"), address, "80", String(PROBE_SECONDS)], { stdout: "pipe", stderr: "ignore" });
      daemons.set(`prober-${address}`, p);
      return p;
    };
    const prober = probe(VIP);
    const lines = new Lines(prober.stdout);
    const results: Record<string, Record<Fault, number[]>> = {};
    /** The director pass's: the director group's time minus the address alone's beside it, run by run. */
    const differences: Record<Fault, number[]> = { power: [], link: [], stop: [] };
    /** The director pass's address alone: its times. */
    const alone: Record<Fault, number[]> = { power: [], link: [], stop: [] };
    const timedOut: Record<string, Record<Fault, number>> = {};
    for (const [name, sys] of ([["tandem", tandem], ["director", director], ["keepalived", keepalived]] as const).filter(([n]) => SYSTEMS.includes(n))) {
      for (const n of Object.values(t.nodes)) sys.start(n);
      // Only the director pass has the address alone beside it: a client of an address no one holds would only load the machine.
      const aloneProber = name === "director" ? probe(VIP_ALONE) : null;
      const beside = aloneProber ? new Lines(aloneProber.stdout) : undefined;
      results[name] = { power: [], link: [], stop: [] };
      timedOut[name] = { power: 0, link: 0, stop: 0 };
      for (const { fault } of FAULTS) {
        const m = await measure(t, sys, fault, lines, name, beside).catch((e: Error) => Promise.reject(new Error(`${name}: ${e.message}`)));
        results[name]![fault] = m.times;
        if (beside) [differences[fault], alone[fault]] = [m.differences, m.beside];
        timedOut[name]![fault] = m.timeouts.length;
      }
      aloneProber?.kill("SIGKILL");
      for (const n of Object.values(t.nodes)) await sys.stop(n);
      for (const n of Object.values(t.nodes)) reboot(n);
    }
    prober.kill("SIGKILL");
    const of = (name: string, fault: Fault): number[] => results[name]?.[fault] ?? [];
    const rows: Row[] = FAULTS.flatMap(({ fault, label }) => [
      { figure: `${label}, median`, unit: "ms", tandem: median(of("tandem", fault)), anchor: median(of("keepalived", fault)), better: "lower" as const },
      { figure: `${label}, p99`, unit: "ms", tandem: quantile(of("tandem", fault), 0.99), anchor: quantile(of("keepalived", fault), 0.99), better: "lower" as const },
      { figure: `${label}, director group, median`, unit: "ms", tandem: median(of("director", fault)), anchor: median(of("keepalived", fault)), better: "lower" as const },
      { figure: `${label}, address alone beside the director group (same faults), median`, unit: "ms", tandem: median(alone[fault]), anchor: median(of("keepalived", fault)), better: "lower" as const },
      { figure: `${label}, director group − address alone beside it (same faults), median of the differences (goal: within 5)`, unit: "ms", tandem: median(differences[fault]), anchor: NaN, better: "lower" as const },
      { figure: `${label}, runs with no takeover within ${FAILOVER_TIMEOUT_MS / 1000} s (address alone + director group)`, unit: "runs", tandem: (timedOut.tandem?.[fault] ?? 0) + (timedOut.director?.[fault] ?? 0), anchor: timedOut.keepalived?.[fault] ?? 0, better: "lower" as const },
    ]);
    return {
      title: "Failover as the client sees it",
      anchor: "keepalived 2.2.7 VRRPv3 advert_int 0.1",
      method: `A bridge with two nodes and a client, and a second link between the nodes. A new TCP connection to the virtual address every 10 ms from the client; failover = fault to the first answer from the survivor. ${RUNS} runs per fault at a random phase: power loss (the holder's processes SIGKILLed and its links down), link down (its links down), clean stop (SIGTERM). Tandem: heartbeat 20 ms / deadtime 80 ms on both links, an \`address\` resource; then the director group: the address and the director (nftables, NAT to two addresses each node holds on its loopback, so each node answers through its own dataplane), with an address alone beside it in the same cluster and its own client (the gap: the two takeovers' difference in each run, their median); keepalived: advert_int 0.1 s on the bridge.`,
      rows,
    };
  } finally {
    for (const p of daemons.values()) p.kill("SIGKILL");
    t.down();
    rmSync(dir, { recursive: true, force: true });
  }
}
