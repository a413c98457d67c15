/**
 * Scale-out on the appliance: active/active directors on IPVS (direct
 * routing, `mh`) behind a router that spreads flows over them by ECMP, each
 * announcing the virtual address over BGP with BFD, and an established
 * connection that the router moves from a director powered off to the other
 * keeps going.
 *
 * The network (all in namespaces this makes, named aadrPID-*): a bridge
 * with alpha's and bravo's VMs on taps, two real servers and the router on
 * veths; the router (BIRD, lab/router.ts's config: `merge paths`, BFD
 * 200 ms × 5; `fib_multipath_hash_policy = 1`) between that lan and the
 * client's edge network. The real servers hold the virtual address on their
 * loopback (arp_ignore 1, arp_announce 2) and answer the client through the
 * router, never through a director. Both VMs run the same config
 * (`mode = "active-active"`, dataplane ipvs, no director resource: each is
 * active by itself) and BIRD from the image, their BIRD main config (router
 * id, the include) on their config disk; the routing module holds the
 * virtual address on each VM's loopback with arp_ignore, arp_announce and
 * `net.ipv4.vs.sloppy_tcp = 1` (modules/routing/hosting.ts).
 *
 * Checked: both sessions established and the router with two paths; on
 * each VM the address on lo, the settings, and IPVS's service (mh, Route);
 * the client holds N connections from eight addresses (mh hashes the source address) (a request each every
 * 100 ms), spread over both directors (their SYNs counted on each VM's
 * tap, in the bridge) and both real servers; alpha's qemu killed (a power
 * cut), BFD takes its path off the router, and every held connection
 * answers again from the real server of its first answer: survivors and the
 * longest pause printed, all must survive; bravo's IPVS table (at its
 * console) then holds all N in ESTABLISHED, the moved ones taken mid-flow.
 * The control: alpha booted again, `sloppy_tcp` set to 0 at its console,
 * bravo powered off: the connections moved from bravo reach a director
 * whose IPVS schedules only SYNs, its own stack answers RST, and exactly the
 * connections that were on alpha survive (what the setting buys).
 *
 * About 2 minutes (107-137 s) under emulation on two loaded cores: it runs only when
 * asked, TANDEM_APPLIANCE_SCALEOUT=1, and says why otherwise. Needs root,
 * qemu and bird2 on the host.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { boot, buildMissing, clusterKey, configDisk, ensureImage, imageStale, qemuMissing, TEST_CONSOLE, type Vm, type VmOptions } from "../../appliance/vm.ts";
import { bridgedLan, pairHeader, pairMissing, sh } from "../../appliance/pair.ts";
import { memberConfig, routerConfig, ROUTER_SYSCTLS, type RoutingLabConfig } from "../../lab/router.ts";
import { Helper } from "../core/os/netns.ts";
import { waitFor } from "../helpers.ts";
import { activeActiveSections, nextHops } from "../lab/routing-config.ts";

const ASKED = process.env.TANDEM_APPLIANCE_SCALEOUT === "1";
const BIRD = spawnSync("sh", ["-c", "command -v bird && command -v birdc"]).status === 0;
const why = !ASKED
  ? "about 2 minutes (two VMs under emulation): set TANDEM_APPLIANCE_SCALEOUT=1 to run it"
  : (qemuMissing() ?? pairMissing() ?? (BIRD ? undefined : "needs bird2 on the host (the router)") ?? (imageStale() ? buildMissing() : undefined));
if (why) console.log(`skip: appliance scale-out: ${why}`);

const NODES = ["alpha", "bravo"] as const;
type Node = (typeof NODES)[number];
const LAN = "198.18.70.";
const EDGE = "198.18.71.";
const ADDR = { router: `${LAN}1`, alpha: `${LAN}11`, bravo: `${LAN}12`, vip: `${LAN}50`, rs1: `${LAN}101`, rs2: `${LAN}102`, routerEdge: `${EDGE}1`, client: Array.from({ length: 8 }, (_, i) => `${EDGE}${100 + i}`) } as const;
const SERVERS = ["rs1", "rs2"] as const;
/** Connections held through the power cut, a request each every 100 ms. */
const N = 100;
/** Both VMs booting at once on two host cores under emulation. */
const BOOT_TIMEOUT_MS = 120_000;
/** After BFD's withdrawal, the wait for every held connection's next resend (TCP's back-off) and a second of answers. */
const SETTLE_MS = 6_000;
/** How long the router must keep both paths before the connections are opened. */
const STEADY_MS = 5_000;
/** Bound on a client helper's answer (N connections opened through an emulated director). */
const HELPER_ANSWER_MS = 60_000;
/** A held connection's answer may take this long (TCP's resends while the router still sends to the dead director). */
const HOLD_ANSWER_MS = 15_000;
/** How long a real server keeps an idle keep-alive connection (Bun's default, 10 s, would not matter here, but keep it off the path). */
const SERVER_IDLE_S = 120;

/**
 * BFD's timers: detection in 1 s. 100 ms × 3 (the lab's) flaps here: an emulated VM on one vCPU, sharing two host
 * cores with another, misses 300 ms now and then, and the router drops its path while its flows are opened.
 */
const BFD = { interval: "200ms", multiplier: 5 };

const ROUTING: RoutingLabConfig = {
  bird_config: "/run/tandem/config/bird.conf",
  include: "/run/tandem/bird/tandem.conf",
  socket: "/run/tandem/bird/bird.ctl",
  session: [{ name: "edge", peer: ADDR.router, asn: 65000, local_asn: 65001, bfd: BFD }],
};

/** Both directors' config: active/active on IPVS, DR, mh, announced over BGP with BFD; no resources (each director active by itself). */
const CONFIG = `${pairHeader("aadr", ADDR)}${activeActiveSections({ lan: LAN, vip: ADDR.vip, router: ADDR.router, bfd: BFD, dataplane: "ipvs", forwarding: "dr", check: { interval: "1s", timeout: "1s" }, files: ROUTING })}`;

/** A JSON answer of a node's API, asked from the router's namespace (on the lan); undefined when it does not answer. */
function api(routerNs: string, node: Node, path: string): any {
  const r = spawnSync("ip", ["netns", "exec", routerNs, "curl", "-sf", "--max-time", "3", `http://${ADDR[node]}:9480${path}`], { encoding: "utf8", timeout: 5_000 });
  return r.status === 0 ? JSON.parse(r.stdout) : undefined;
}

describe.skipIf(why !== undefined)("appliance scale-out: active/active IPVS directors (DR, mh) behind ECMP over BGP with BFD", () => {
  const tag = `aadr${process.pid}`;
  const ns = { net: `${tag}-net`, router: `${tag}-router`, client: `${tag}-client`, rs1: `${tag}-rs1`, rs2: `${tag}-rs2` };
  /** The VMs' disks, consoles and the router's files; made in beforeAll (a skipped describe still runs its body). */
  let dir = "";
  const made: string[] = [];
  const procs: Array<ReturnType<typeof Bun.spawn>> = [];
  const vms: Partial<Record<Node, Vm>> = {};
  /** How each node's VM boots (its disks, network and console), for its first boot and the next. */
  const booting: Partial<Record<Node, VmOptions>> = {};
  let client: Helper | undefined;

  const ask = async (command: object): Promise<any> => {
    client!.proc.stdin.write(`${JSON.stringify(command)}\n`);
    await client!.proc.stdin.flush();
    return client!.next(HELPER_ANSWER_MS);
  };
  /** New connections to the virtual address that the bridge passed to a director's VM (SYNs on its tap), counted by a table of the test's own. */
  const syns = (node: Node): number => {
    const out = JSON.parse(sh(["ip", "netns", "exec", ns.net, "nft", "-j", "list", "table", "bridge", "aadr_count"])) as { nftables: Array<{ rule?: { expr: any[] } }> };
    const rule = out.nftables.find((e) => e.rule?.expr.some((x) => x.match?.right === `tap-${node}`))!.rule!;
    return rule.expr.find((x) => x.counter).counter.packets;
  };
  /** IPVS's connections in ESTABLISHED, read at a node's console. */
  const established = async (node: Node): Promise<number> => {
    const out = await vms[node]!.shell(`echo established=$(grep -c ' ESTABLISHED ' /proc/net/ip_vs_conn)`, 20_000);
    return Number(/established=(\d+)/.exec(out)?.[1] ?? NaN);
  };
  const routes = () => nextHops(ns.router, ADDR.vip);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tandem-aadr-"));
    ensureImage();
    const lanHosts = (["router", ...SERVERS] as const).map((host) => ({ name: host, ns: ns[host], address: ADDR[host] }));
    bridgedLan(ns, made, NODES, lanHosts);
    sh(["ip", "netns", "exec", ns.net, "nft", "add", "table", "bridge", "aadr_count"]);
    sh(["ip", "netns", "exec", ns.net, "nft", "add", "chain", "bridge", "aadr_count", "pass", "{ type filter hook forward priority 0 ; }"]);
    for (const node of NODES)
      sh(["ip", "netns", "exec", ns.net, "nft", "add", "rule", "bridge", "aadr_count", "pass", "oifname", `tap-${node}`, "ip", "daddr", ADDR.vip, "tcp", "dport", "80", "tcp", "flags", "&", "(syn|ack)", "==", "syn", "counter"]);
    // The router: the lan on eth0, the client's edge on eth1; ECMP hashed on layer 4.
    sh(["ip", "-n", ns.router, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", ns.client]);
    sh(["ip", "-n", ns.router, "addr", "add", `${ADDR.routerEdge}/24`, "dev", "eth1"]);
    sh(["ip", "-n", ns.router, "link", "set", "eth1", "up"]);
    for (const s of ROUTER_SYSCTLS) sh(["ip", "netns", "exec", ns.router, "sysctl", "-qw", s]);
    for (const a of ADDR.client) sh(["ip", "-n", ns.client, "addr", "add", `${a}/24`, "dev", "eth0"]);
    sh(["ip", "-n", ns.client, "link", "set", "eth0", "up"]);
    sh(["ip", "-n", ns.client, "route", "add", "default", "via", ADDR.routerEdge]);
    // LVS-DR real servers: the virtual address on lo, never answered for in ARP; answers to the client via the router.
    for (const rs of SERVERS) {
      sh(["ip", "-n", ns[rs], "addr", "add", `${ADDR.vip}/32`, "dev", "lo"]);
      for (const [key, value] of [["arp_ignore", "1"], ["arp_announce", "2"]]) for (const dev of ["all", "eth0"]) sh(["ip", "netns", "exec", ns[rs], "sysctl", "-qw", `net.ipv4.conf.${dev}.${key}=${value}`]);
      sh(["ip", "-n", ns[rs], "route", "add", "default", "via", ADDR.router]);
      procs.push(Bun.spawn(["ip", "netns", "exec", ns[rs], process.execPath, "-e", `Bun.serve({ hostname: "0.0.0.0", port: 80, idleTimeout: ${SERVER_IDLE_S}, fetch: () => new Response("${rs}\\n") })`], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }));
    }
    const members = NODES.map((name) => ({ name, address: ADDR[name] }));
    const routerDir = join(dir, "router");
    mkdirSync(routerDir);
    writeFileSync(join(routerDir, "bird.conf"), routerConfig(ROUTING, members, ADDR.router));
    procs.push(Bun.spawn(["ip", "netns", "exec", ns.router, "bird", "-f", "-c", join(routerDir, "bird.conf"), "-s", join(routerDir, "bird.ctl")], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }));

    const key = clusterKey(dir);
    const token = crypto.randomUUID();
    for (const [i, node] of NODES.entries()) {
      const disk = join(dir, `${node}.img`);
      configDisk(disk, {
        "tandem.toml": CONFIG,
        "cluster.key": key,
        "api.token": `${token}\n`,
        "bird.conf": memberConfig(ROUTING, members[i]!),
        "appliance.conf": `node=${node}\nip=eth0:${ADDR[node]}/24\ngw=${ADDR.router}\nlog=console\npassword_hash=${TEST_CONSOLE.hash}\n`,
      }, dir);
      booting[node] = {
        name: `aadr-${node}`,
        smp: 1,
        netns: ns.net,
        configDisk: disk,
        password: TEST_CONSOLE.password,
        console: join(dir, `${node}.console`),
        net: ["-netdev", `tap,id=n0,ifname=tap-${node},script=no,downscript=no`, "-device", `virtio-net-pci,netdev=n0,mac=52:54:00:aa:d0:1${i + 1}`],
      };
      vms[node] = boot(booting[node]!);
    }
    client = new Helper(ns.client, resolve(import.meta.dir, "../lab/director-client.ts"), []);
    const t0 = Date.now();
    await waitFor("both directors announcing, the router with a path through each", () => (routes().length === 2 ? true : undefined), BOOT_TIMEOUT_MS, 500).catch((e: Error) => {
      throw new Error(`${e.message}\n${NODES.map((n) => `--- ${n} console ---\n${vms[n]?.console().slice(-3000)}`).join("\n")}`);
    });
    console.log(`scale-out: both directors announced to the router ${((Date.now() - t0) / 1000).toFixed(1)} s after qemu started`);
  }, BOOT_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    await client?.end();
    await Promise.all(Object.values(vms).map((vm) => vm.kill()));
    for (const p of procs) p.kill("SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    for (const n of made.reverse()) spawnSync("ip", ["netns", "del", n], { timeout: 10_000 });
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  test("each director: session established, the address announced and on lo, ARP and sloppy TCP set, IPVS by mh and DR", async () => {
    expect(routes()).toEqual([ADDR.alpha, ADDR.bravo]);
    for (const node of NODES) {
      const r = await waitFor(`${node}'s session established`, async () => {
        const s = api(ns.router, node, "/v1/status")?.modules?.routing;
        return s?.sessions?.[0]?.session === "Established" ? s : undefined;
      }, 10_000, 250);
      expect(r.announced).toEqual([`${ADDR.vip}/32`]);
      expect(r.hosting).toMatchObject({ device: "lo", addresses: [`${ADDR.vip}/32`], error: null });
      const out = await vms[node]!.shell(
        `ip addr show dev lo | grep -c 'inet ${ADDR.vip}/32 '; cat /proc/sys/net/ipv4/conf/all/arp_ignore /proc/sys/net/ipv4/conf/all/arp_announce /proc/sys/net/ipv4/vs/sloppy_tcp; grep -c 'mh' /proc/net/ip_vs; grep -c ' Route ' /proc/net/ip_vs`,
        20_000,
      );
      expect(out.trim().split(/\s+/)).toEqual(["1", "1", "2", "1", "1", "2"]);
    }
  }, 90_000);

  /**
   * N connections held over both directors (SYNs counted on each tap), then `victim`'s qemu killed: the time until
   * the router's one path is through `survivor`, and after SETTLE_MS the survivor's IPVS table (ESTABLISHED) and the
   * held connections released and counted. Printed.
   */
  const cut = async (victim: Node, survivor: Node) => {
    // Steady first: a VM just booted keeps its one vCPU busy for a while, and BFD may drop its path then.
    let since = Date.now();
    await waitFor(`the router with a path through each director for ${STEADY_MS / 1000} s`, () => {
      if (routes().length < 2) since = Date.now();
      return Date.now() - since >= STEADY_MS ? true : undefined;
    }, 90_000, 100);
    // The router's paths sampled until the power cut: a BFD flap would send a director's flows to the other.
    let sampling = true;
    let lost = 0;
    const sampler = (async () => {
      while (sampling) {
        if (routes().length < 2) lost++;
        await Bun.sleep(100);
      }
    })();
    const before = { alpha: syns("alpha"), bravo: syns("bravo") };
    const holding = await ask({ op: "hold", host: ADDR.vip, port: 80, n: N, every: 100, timeoutMs: HOLD_ANSWER_MS, from: ADDR.client });
    expect(holding.opened).toBe(N);
    const flows = { alpha: syns("alpha") - before.alpha, bravo: syns("bravo") - before.bravo };
    await Bun.sleep(500);
    sampling = false;
    await sampler;
    console.log(`scale-out: ${N} connections held: alpha ${flows.alpha}, bravo ${flows.bravo}; real servers ${JSON.stringify(holding.servers)}; samples with a path missing meanwhile: ${lost}`);
    const powered = performance.now();
    process.kill(vms[victim]!.pid, "SIGKILL");
    await vms[victim]!.exited;
    await waitFor(`the router's one path, through ${survivor}`, () => (routes().join() === ADDR[survivor] ? true : undefined), 15_000, 20);
    const withdrawnMs = Math.round(performance.now() - powered);
    await Bun.sleep(SETTLE_MS);
    // Before the release: the client's close would take them out of ESTABLISHED.
    const onSurvivor = await waitFor(`all ${N} in ${survivor}'s table`, async () => {
      const n = await established(survivor);
      return n >= N ? n : undefined;
    }, 10_000, 1_000).catch(() => established(survivor));
    const kept = await ask({ op: "release" });
    console.log(
      `scale-out: ${victim} powered off: its path gone from the router after ${withdrawnMs} ms (BFD ${BFD.interval} × ${BFD.multiplier}); held connections: ${kept.survivors}/${N} survived (${flows[victim]} moved from ${victim}), ${kept.moved} changed real server, longest pause ${kept.longestPauseMs} ms; ${survivor}'s table holds ${onSurvivor} established${kept.errors.length ? `; errors ${JSON.stringify(kept.errors)}` : ""}`,
    );
    expect(lost).toBe(0);
    expect(flows.alpha + flows.bravo).toBe(N);
    expect(flows.alpha).toBeGreaterThan(N / 5);
    expect(flows.bravo).toBeGreaterThan(N / 5);
    expect(Object.keys(holding.servers).sort()).toEqual(["rs1", "rs2"]);
    expect(withdrawnMs).toBeLessThan(3_000);
    return { flows, kept, onSurvivor };
  };

  test(`${N} held connections over both directors: alpha powered off, BFD withdraws it, and every connection goes on through bravo`, async () => {
    const { kept, onSurvivor } = await cut("alpha", "bravo");
    expect(kept.moved).toBe(0);
    expect(kept.survivors).toBe(N);
    expect(onSurvivor).toBeGreaterThanOrEqual(N);
  }, 120_000);

  test("the control: alpha booted again with sloppy_tcp off at its console, bravo powered off: exactly the connections that were on alpha survive", async () => {
    vms.alpha = boot(booting.alpha!);
    await waitFor("alpha announcing again", () => (routes().length === 2 ? true : undefined), BOOT_TIMEOUT_MS, 500);
    expect(await vms.alpha!.shell("echo 0 > /proc/sys/net/ipv4/vs/sloppy_tcp; echo sloppy=$(cat /proc/sys/net/ipv4/vs/sloppy_tcp)", 20_000)).toContain("sloppy=0");
    const { flows, kept } = await cut("bravo", "alpha");
    expect(kept.survivors).toBe(flows.alpha);
  }, BOOT_TIMEOUT_MS + 120_000);
});
