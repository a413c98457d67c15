/**
 * The pair on a laptop: two appliance VMs (alpha, bravo), a client and two
 * real servers on one private network, with no host networking beyond
 * loopback. The network is a bridge inside a network namespace this creates;
 * each VM's NIC is a tap device on that bridge (qemu runs inside the
 * namespace), and the client and the real servers are namespaces of their own
 * joined to the bridge by veth pairs. The real servers answer HTTP on port 80
 * with their name; two virtual services lead to them: one by NAT (the real
 * servers route back to the client via its address) and one by direct routing
 * (its address on their loopback, unanswered in ARP, and their answers from it
 * straight to the client). The nodes' APIs are reached from the client's
 * namespace. alpha reads its config from a config disk, bravo from the kernel
 * command line (tandem.config=BASE64 ...), so both ways in are used; the
 * secrets (the cluster key, the API token, the console's password hash) are
 * on each node's config disk, never on the command line. Every member runs a
 * watchdog (softdog in the VM) and the fence device is the watchdog: a peer
 * silent for twice its timeout counts as reset.
 *
 *   bun appliance/pair.ts      boots it, prints how to reach it, Ctrl-C ends it
 *
 * Used by test/appliance/pair.test.ts. Needs root (namespaces, taps).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { boot, clusterKey, configDisk, TEST_CONSOLE, type Vm, type VmOptions } from "./vm.ts";

export const NODES = ["alpha", "bravo"] as const;
export type Node = (typeof NODES)[number];
export const LAN = "198.18.7.";
/** vip: the NAT virtual service's address; vipDr: the direct-routing one's, also on each real server's loopback. */
export const ADDR = { alpha: `${LAN}11`, bravo: `${LAN}12`, vip: `${LAN}50`, vipDr: `${LAN}51`, client: `${LAN}100`, rs1: `${LAN}101`, rs2: `${LAN}102` } as const;
/** The routing table a real server answers from the direct-routing address with: straight to the client, not via the director. */
const DR_TABLE = "51";
/** Heartbeat timers generous enough for two emulated VMs sharing two host cores. */
export const TIMERS = { interval: 200, warntime: 1000, deadtime: 2000, initdead: 10_000 };
/** The watchdog's timeout: pets every second; room for a VM on a shared core under emulation. */
export const WATCHDOG_TIMEOUT_MS = 5_000;
const SERVERS = ["rs1", "rs2"] as const;
/**
 * How long a real server keeps an idle keep-alive connection, in seconds (nginx's default is 75 s). Bun's own
 * default, 10 s, is shorter than a takeover here (deadtime 2 s + the watchdog fence's 10 s): a connection held
 * through it would be closed by its real server while no packet of it could pass.
 */
const SERVER_IDLE_S = 120;
export type RealServerName = (typeof SERVERS)[number];
/** Every command this runs to build or tear down the network is bounded by this. */
const SH_TIMEOUT_MS = 10_000;

/** Why the pair cannot run here, or undefined. */
export function pairMissing(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network namespaces, tap devices)";
  for (const t of ["ip", "curl"]) if (!Bun.which(t) && !Bun.which(t, { PATH: "/sbin:/usr/sbin:/bin:/usr/bin" })) return `needs ${t}`;
  return undefined;
}

/**
 * A pair's config up to its own sections: the cluster, alpha and bravo at `at`'s addresses, the heartbeat on the
 * lan by unicast (TIMERS), and the API on port 9480 with the token file, plain HTTP off loopback.
 */
export function pairHeader(cluster: string, at: { alpha: string; bravo: string }): string {
  const t = TIMERS;
  return `cluster = "${cluster}"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "${at.alpha}"

[[nodes]]
name = "bravo"
address = "${at.bravo}"

[heartbeat]
interval = "${t.interval}ms"
warntime = "${t.warntime}ms"
deadtime = "${t.deadtime}ms"
initdead = "${t.initdead}ms"

[[heartbeat.links]]
name = "lan"
kind = "ucast"

[api]
port = 9480
token_file = "api.token"
insecure_http = true
`;
}

/**
 * The pair's config. bravo's comes on the kernel command line in base64, which x86 cuts at 2,048 bytes: no
 * comments in it. The API takes plain HTTP off loopback (insecure_http): POSTs come from the client's namespace
 * over the pair's bridge.
 */
export function pairConfig(): string {
  return `${pairHeader("pair", ADDR)}
[watchdog]
timeout = "${WATCHDOG_TIMEOUT_MS / 1000}s"

[resources]

[[resources.fence_device]]
name = "watchdog"
agent = "watchdog"
timeout = "${(4 * WATCHDOG_TIMEOUT_MS) / 1000}s"

[[resources.group]]
name = "web"
members = ["vip", "vip-dr", "director"]
preferred = "alpha"

[[resources.resource]]
name = "vip"
agent = "address"
params = { address = "${ADDR.vip}/24", interface = "eth0" }
monitor_interval = "2s"

[[resources.resource]]
name = "vip-dr"
agent = "address"
params = { address = "${ADDR.vipDr}/24", interface = "eth0" }

[[resources.resource]]
name = "director"
agent = "director"
monitor_interval = "2s"

[[services]]
name = "web"
port = 80
servers = [{ address = "${ADDR.rs1}" }, { address = "${ADDR.rs2}" }]
check = { kind = "http", path = "/", interval = "1s", timeout = "1s", rise = 1, fall = 2 }

[director]
dataplane = "ipvs"
sync = { interface = "eth0" }

[[director.virtual_service]]
name = "web-vip"
address = "${ADDR.vip}"
port = 80
service = "web"
scheduler = "rr"
forwarding = "nat"

[[director.virtual_service]]
name = "web-dr"
address = "${ADDR.vipDr}"
port = 80
service = "web"
scheduler = "rr"
forwarding = "dr"
`;
}

/**
 * A private lan: the namespaces `ns` made (each pushed to `made`, for their removal; lo up), a bridge `br0` in
 * `ns.net`, a tap device on it for each VM (`tap-NAME`, for qemu run in that namespace), and each host joined to it
 * by a veth (`v-NAME` on the bridge, eth0 in the host's namespace at its address /24).
 */
export function bridgedLan(ns: { net: string } & Record<string, string>, made: string[], vms: readonly string[], hosts: ReadonlyArray<{ name: string; ns: string; address: string }>): void {
  for (const n of Object.values(ns)) {
    sh(["ip", "netns", "add", n]);
    made.push(n);
    sh(["ip", "-n", n, "link", "set", "lo", "up"]);
  }
  sh(["ip", "-n", ns.net, "link", "add", "br0", "type", "bridge"]);
  sh(["ip", "-n", ns.net, "link", "set", "br0", "up"]);
  for (const vm of vms) {
    sh(["ip", "-n", ns.net, "tuntap", "add", "dev", `tap-${vm}`, "mode", "tap"]);
    sh(["ip", "-n", ns.net, "link", "set", `tap-${vm}`, "master", "br0", "up"]);
  }
  for (const host of hosts) {
    sh(["ip", "-n", ns.net, "link", "add", `v-${host.name}`, "type", "veth", "peer", "name", "eth0", "netns", host.ns]);
    sh(["ip", "-n", ns.net, "link", "set", `v-${host.name}`, "master", "br0", "up"]);
    sh(["ip", "-n", host.ns, "addr", "add", `${host.address}/24`, "dev", "eth0"]);
    sh(["ip", "-n", host.ns, "link", "set", "eth0", "up"]);
  }
}

/** Runs a command (bounded); its stdout; throws with its stderr when it fails. */
export function sh(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: SH_TIMEOUT_MS });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: exit ${r.status ?? r.signal}: ${r.stderr}`);
  return r.stdout;
}

/** Runs `argv` inside namespace `ns`, bounded; its stdout, or undefined when it failed. */
async function inNs(ns: string, argv: string[], timeoutMs: number): Promise<string | undefined> {
  const p = Bun.spawn(["ip", "netns", "exec", ns, ...argv], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  clearTimeout(timer);
  return code === 0 ? out : undefined;
}

export interface Pair {
  dir: string;
  /** The bearer token of both nodes' APIs (their mutating endpoints). */
  token: string;
  /** The namespaces: the bridge's, the client's, the real servers'. */
  ns: { net: string; client: string; rs1: string; rs2: string };
  vms: Partial<Record<Node, Vm>>;
  /** A JSON answer of a node's API (GET), asked from the client's namespace; undefined when it does not answer. */
  api(node: Node, path: string): Promise<any>;
  /** `count` new HTTP connections from the client to a virtual address (the NAT one by default): the answers by real server ("none" for a failure). */
  client(count: number, address?: string): Promise<Record<string, number>>;
  /** A POST to a node's API with the pair's token, from the client's namespace: the HTTP status (0 when it does not answer within `timeoutMs`, default 3 s). */
  post(node: Node, path: string, timeoutMs?: number): Promise<number>;
  /** Stops a real server's HTTP server (SIGKILL), or starts it again. */
  stopServer(rs: RealServerName): Promise<void>;
  startServer(rs: RealServerName): void;
  /**
   * Opens a TCP connection from the client to the virtual address, waits `holdMs`, then sends one HTTP
   * request on it: the answer (the real server's name), or undefined when the connection was dropped.
   */
  held(holdMs: number): Promise<string | undefined>;
  /** Kills a VM's qemu with SIGKILL: a power cut. */
  powerCut(node: Node): Promise<void>;
  /** Boots the node's VM (again, after a power cut or a reset: the same disks, network and console file); it does not wait for it to run. */
  powerOn(node: Node): void;
  /** Stops the node's tandem with SIGSTOP at its console: a frozen control plane, still holding what it holds. */
  freeze(node: Node): Promise<void>;
  /** Stops everything this started and removes the namespaces and the directory. */
  stop(): Promise<void>;
}

export interface PairOptions {
  log?: (line: string) => void;
  /** Both nodes' config instead of pairConfig(); both read it from their config disk (the command line holds < 2 KiB). */
  config?: string;
  /** A data disk image (TANDEMDATA, see vm.ts dataDisk) per node. */
  dataDisks?: Partial<Record<Node, string>>;
  /** The VMs' names: `PREFIX-alpha`, `PREFIX-bravo` (default "tandem"). */
  name?: string;
}

/** Builds the network, starts the real servers and boots both VMs (it does not wait for them to run). */
export function startPair(o: PairOptions = {}): Pair {
  const log = o.log ?? (() => {});
  const config = o.config ?? pairConfig();
  const dir = mkdtempSync(join(tmpdir(), "tandem-pair-"));
  const tag = `tpair${process.pid}`;
  const ns = { net: `${tag}-net`, client: `${tag}-client`, rs1: `${tag}-rs1`, rs2: `${tag}-rs2` };
  const made: string[] = [];
  const servers: Partial<Record<RealServerName, ReturnType<typeof Bun.spawn>>> = {};
  const token = crypto.randomUUID();
  const vms: Partial<Record<Node, Vm>> = {};
  /** How each node's VM boots (its disks, network and console), for its first boot and any later one. */
  const booting: Partial<Record<Node, VmOptions>> = {};

  const pair: Pair = {
    dir,
    token,
    ns,
    vms,
    async api(node, path) {
      const out = await inNs(ns.client, ["curl", "-sf", "--max-time", "3", `http://${ADDR[node]}:9480${path}`], 5_000);
      return out ? JSON.parse(out) : undefined;
    },
    async client(count, address = ADDR.vip) {
      const script = `for i in $(seq ${count}); do curl -s --max-time 3 http://${address}/ || echo none; done`;
      const out = (await inNs(ns.client, ["sh", "-c", script], count * 3_500 + 5_000)) ?? "";
      const got: Record<string, number> = {};
      for (const line of out.split("\n").map((l) => l.trim()).filter(Boolean)) got[line] = (got[line] ?? 0) + 1;
      return got;
    },
    async post(node, path, timeoutMs = 3_000) {
      const out = await inNs(ns.client, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", String(timeoutMs / 1000), "-X", "POST", "-H", `authorization: Bearer ${token}`, `http://${ADDR[node]}:9480${path}`], timeoutMs + 2_000);
      return Number(out ?? 0);
    },
    async stopServer(rs) {
      const p = servers[rs];
      delete servers[rs];
      p?.kill("SIGKILL");
      await p?.exited;
    },
    startServer(rs) {
      servers[rs] = Bun.spawn(["ip", "netns", "exec", ns[rs], process.execPath, "-e", `Bun.serve({ hostname: "0.0.0.0", port: 80, idleTimeout: ${SERVER_IDLE_S}, fetch: () => new Response("${rs}\\n") })`], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    },
    async held(holdMs) {
      const script = `exec 3<>/dev/tcp/${ADDR.vip}/80 && sleep ${holdMs / 1000} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`;
      const out = await inNs(ns.client, ["bash", "-c", script], holdMs + 10_000);
      return out?.trim().split("\n").at(-1);
    },
    async freeze(node) {
      await vms[node]!.shell("kill -STOP $(pidof tandem)", 20_000);
    },
    powerOn(node) {
      if (vms[node]?.running()) throw new Error(`${node}'s VM is running`);
      vms[node] = boot(booting[node]!);
    },
    async powerCut(node) {
      const vm = vms[node];
      if (!vm) return;
      process.kill(vm.pid, "SIGKILL");
      await vm.exited;
    },
    async stop() {
      await Promise.all(Object.values(vms).map((vm) => vm.kill()));
      for (const rs of SERVERS) await pair.stopServer(rs);
      removeAll();
    },
  };
  /** The namespaces and the directory removed (what runs in them ended first). */
  const removeAll = () => {
    for (const n of made.reverse()) spawnSync("ip", ["netns", "del", n], { timeout: SH_TIMEOUT_MS });
    made.length = 0;
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    bridgedLan(ns, made, NODES, (["client", ...SERVERS] as const).map((host) => ({ name: host, ns: ns[host], address: ADDR[host] })));
    for (const rs of SERVERS) {
      // LVS-NAT: the answers go back through the director, which holds the virtual address.
      sh(["ip", "-n", ns[rs], "route", "add", `${ADDR.client}/32`, "via", ADDR.vip]);
      // LVS-DR: the direct-routing address on the loopback, never answered for in ARP (the director's is), and
      // the answers from it straight to the client.
      sh(["ip", "-n", ns[rs], "addr", "add", `${ADDR.vipDr}/32`, "dev", "lo"]);
      for (const [key, value] of [["arp_ignore", "1"], ["arp_announce", "2"]]) {
        for (const dev of ["all", "eth0"]) sh(["ip", "netns", "exec", ns[rs], "sysctl", "-qw", `net.ipv4.conf.${dev}.${key}=${value}`]);
      }
      sh(["ip", "-n", ns[rs], "rule", "add", "from", ADDR.vipDr, "lookup", DR_TABLE]);
      sh(["ip", "-n", ns[rs], "route", "add", `${LAN}0/24`, "dev", "eth0", "table", DR_TABLE]);
      pair.startServer(rs);
    }
    log(`pair: network ${LAN}0/24 on a bridge in namespace ${ns.net}; client ${ADDR.client}, real servers ${ADDR.rs1} and ${ADDR.rs2}`);

    const key = clusterKey(dir);
    // alpha reads its config and settings from its disk; bravo from the kernel command line, its secrets from its disk.
    const settings = (node: Node) => ({ node, ip: `eth0:${ADDR[node]}/24`, log: "console" });
    const secrets = { "cluster.key": key, "api.token": `${token}\n`, "appliance.conf": `password_hash=${TEST_CONSOLE.hash}\n` };
    for (const [i, node] of NODES.entries()) {
      const fromDisk = node === "alpha" || o.config !== undefined;
      const disk = join(dir, `${node}.img`);
      const conf = fromDisk ? Object.entries(settings(node)).map(([k, v]) => `${k}=${v}\n`).join("") : "";
      configDisk(disk, { ...secrets, ...(fromDisk ? { "tandem.toml": config } : {}), "appliance.conf": `${conf}${secrets["appliance.conf"]}` }, dir);
      const base64 = (text: string) => Buffer.from(text).toString("base64");
      const append = fromDisk ? undefined : Object.entries({ ...settings(node), config: base64(config) }).map(([k, v]) => `tandem.${k}=${v}`).join(" ");
      booting[node] = {
        name: `${o.name ?? "tandem"}-${node}`,
        smp: 1,
        netns: ns.net,
        configDisk: disk,
        ...(o.dataDisks?.[node] ? { dataDisk: o.dataDisks[node] } : {}),
        password: TEST_CONSOLE.password,
        ...(append ? { append } : {}),
        console: join(dir, `${node}.console`),
        net: ["-netdev", `tap,id=n0,ifname=tap-${node},script=no,downscript=no`, "-device", `virtio-net-pci,netdev=n0,mac=52:54:00:7a:00:1${i + 1}`],
      };
      pair.powerOn(node);
    }
  } catch (e) {
    // At once, not through stop(): a caller that throws on may end the process before an awaited stop ran,
    // leaving the namespaces and the real servers behind.
    for (const vm of Object.values(vms)) process.kill(vm.pid, "SIGKILL");
    for (const rs of SERVERS) servers[rs]?.kill("SIGKILL");
    removeAll();
    throw e;
  }
  return pair;
}

/** Waits (bounded) until every node's API answers `running`; the time from qemu's start for each. */
export async function waitRunning(pair: Pair, timeoutMs: number): Promise<Record<Node, number>> {
  const until = Date.now() + timeoutMs;
  const at: Partial<Record<Node, number>> = {};
  while (Date.now() < until) {
    for (const node of NODES) {
      if (at[node] !== undefined) continue;
      const vm = pair.vms[node]!;
      if ((await pair.api(node, "/v1/status"))?.phase === "running") at[node] = Date.now() - vm.startedAt;
    }
    if (NODES.every((n) => at[n] !== undefined)) return at as Record<Node, number>;
    await Bun.sleep(500);
  }
  const tails = NODES.map((n) => `--- ${n} console ---\n${pair.vms[n]?.console().slice(-3000)}`).join("\n");
  throw new Error(`the nodes did not answer running within ${timeoutMs} ms (${JSON.stringify(at)})\n${tails}`);
}

if (import.meta.main) {
  if (pairMissing()) {
    console.error(`appliance/pair: ${pairMissing()}`);
    process.exit(2);
  }
  const pair = startPair({ log: console.log });
  let stopping = false;
  const end = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await pair.stop();
    process.exit(code);
  };
  process.on("SIGINT", () => void end(0));
  process.on("SIGTERM", () => void end(0));
  try {
    const times = await waitRunning(pair, 180_000);
    console.log(`pair: running: alpha in ${(times.alpha / 1000).toFixed(1)} s, bravo in ${(times.bravo / 1000).toFixed(1)} s; consoles in ${pair.dir}`);
    console.log(`pair: try  ip netns exec ${pair.ns.client} curl http://${ADDR.vip}/   and   ip netns exec ${pair.ns.client} curl http://${ADDR.alpha}:9480/v1/director/`);
    console.log(`pair: the APIs' token (POST, e.g. /v1/resources/standby/alpha): ${pair.token}`);
    console.log("pair: Ctrl-C stops the VMs and removes the namespaces");
  } catch (e) {
    console.error((e as Error).message);
    await end(1);
  }
}
