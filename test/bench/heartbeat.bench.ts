/**
 * Heartbeat: how fast a dead peer is noticed, how often a live one is wrongly
 * declared dead, and what an idle pair costs. Two namespaces joined by two
 * veth links; interval 20 ms, deadtime 80 ms; both cores loaded by stress-ng;
 * 20% loss (both ways, by nftables) on one of the two links. Fault = SIGKILL of the peer's daemon at a
 * random phase; detection = fault to the survivor's event.
 * Anchor: keepalived VRRPv3 with advert_int 0.02 s (the same interval) on the
 * clean link, the peer being master; detection = fault to "Entering MASTER STATE".
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchPairConfig, cpuSeconds, Lines, median, netnsPids, quantile, sh, type Table } from "./lib.ts";

const RUNS = Number(process.env.BENCH_HB_RUNS ?? 30);
const SOAK_S = Number(process.env.BENCH_HB_SOAK_S ?? 120);
/** Idle use is steady-state: measured after the JIT has warmed up, over a longer window. */
const IDLE_SETTLE_S = 5;
const IDLE_S = 20;
const LOSS_PCT = 20;
const SETTLE_MS = 400;
const NET = { lan: "198.18.251", hb: "198.18.252" };

type Proc = ReturnType<typeof Bun.spawn>;
interface Side {
  ns: string;
  node: "alpha" | "bravo";
  host: number;
}

/**
 * Random loss both ways on one interface. This kernel has no netem qdisc, so
 * nftables drops a share of the packets by a random number per packet.
 */
function lossyLink(ns: string, dev: string, pct: number): void {
  const rules = `table inet tandem_bench_loss {
  chain in { type filter hook input priority 0; iifname "${dev}" numgen random mod 100 < ${pct} drop; }
  chain out { type filter hook output priority 0; oifname "${dev}" numgen random mod 100 < ${pct} drop; }
}
`;
  const r = Bun.spawnSync(["ip", "netns", "exec", ns, "nft", "-f", "-"], { stdin: new TextEncoder().encode(rules), stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`nft: ${r.stderr.toString().trim()}`);
}

function topology(id: string): { a: Side; b: Side; down: () => void } {
  const a: Side = { ns: `tdhb-${id}-a`, node: "alpha", host: 1 };
  const b: Side = { ns: `tdhb-${id}-b`, node: "bravo", host: 2 };
  for (const s of [a, b]) sh(["ip", "netns", "add", s.ns]);
  const down = () => {
    for (const s of [a, b]) {
      for (const pid of netnsPids(s.ns)) process.kill(pid, "SIGKILL");
      Bun.spawnSync(["ip", "netns", "del", s.ns]);
    }
  };
  try {
    ["eth0", "eth1"].forEach((dev, i) => {
      sh(["ip", "-n", a.ns, "link", "add", dev, "type", "veth", "peer", "name", dev, "netns", b.ns]);
      const net = i === 0 ? NET.lan : NET.hb;
      for (const s of [a, b]) {
        sh(["ip", "-n", s.ns, "addr", "add", `${net}.${s.host}/24`, "dev", dev]);
        sh(["ip", "-n", s.ns, "link", "set", dev, "up"]);
      }
    });
    for (const s of [a, b]) sh(["ip", "-n", s.ns, "link", "set", "lo", "up"]);
    lossyLink(b.ns, "eth1", LOSS_PCT);
  } catch (e) {
    down();
    throw e;
  }
  return { a, b, down };
}

function tandemConfig(dir: string, bin: string): string {
  return benchPairConfig(dir, bin, "bench", NET);
}

function keepalivedConfig(dir: string, side: Side, priority: number): string {
  const file = join(dir, `${side.node}.conf`);
  writeFileSync(
    file,
    `global_defs {
  router_id ${side.node}
}
vrrp_instance VI_1 {
  version 3
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority ${priority}
  advert_int 0.02
  virtual_ipaddress {
    ${NET.lan}.100/24
  }
}
`,
  );
  return file;
}

const isDown = (peer: string) => (t: string) => t.includes('"event":"heartbeat.peer"') && t.includes(`"peer":"${peer}"`) && t.includes('"status":"down"');
const isUp = (peer: string) => (t: string) => t.includes('"event":"heartbeat.peer"') && t.includes(`"peer":"${peer}"`) && t.includes('"status":"up"');
const MASTER = (t: string) => t.includes("Entering MASTER STATE");

export async function bench(bin: string): Promise<Table> {
  const id = String(process.pid);
  const dir = mkdtempSync(join(tmpdir(), "tandem-bench-hb-"));
  const { a, b, down } = topology(id);
  let stress: Proc | undefined;
  try {
    const config = tandemConfig(dir, bin);
    const runTandem = (s: Side) => {
      const proc = Bun.spawn(["ip", "netns", "exec", s.ns, bin, "run", "-c", config, "--node", s.node], { stdout: "pipe", stderr: "ignore" });
      return { proc, log: new Lines(proc.stdout) };
    };
    const runKeepalived = (s: Side, priority: number) => {
      // After a SIGKILL its pid files remain, and keepalived refuses to start over them.
      for (const f of ["pid", "vrrp.pid", "chk.pid"]) rmSync(join(dir, `${s.node}.${f}`), { force: true });
      const args = ["-n", "-l", "-D", "-f", keepalivedConfig(dir, s, priority), "-p", join(dir, `${s.node}.pid`), "-r", join(dir, `${s.node}.vrrp.pid`), "-c", join(dir, `${s.node}.chk.pid`)];
      const proc = Bun.spawn(["ip", "netns", "exec", s.ns, "keepalived", ...args], { stdout: "ignore", stderr: "pipe" });
      return { proc, log: new Lines(proc.stderr) };
    };

    // Idle CPU, no load: each side's daemons once settled, over IDLE_S.
    const idleCpu = async (pids: () => number[]) => {
      await Bun.sleep(IDLE_SETTLE_S * 1000);
      const c0 = pids().reduce((t, p) => t + cpuSeconds(p), 0);
      await Bun.sleep(IDLE_S * 1000);
      return ((pids().reduce((t, p) => t + cpuSeconds(p), 0) - c0) / IDLE_S / 2) * 100;
    };

    // Tandem.
    const alpha = runTandem(a);
    let bravo = runTandem(b);
    await alpha.log.waitFor(isUp("bravo"), 0);
    const tIdle = await idleCpu(() => [alpha.proc.pid, bravo.proc.pid]);
    stress = Bun.spawn(["stress-ng", "--cpu", "2", "--timeout", String(RUNS * 3 + SOAK_S * 2 + 120)], { stdout: "ignore", stderr: "ignore" });
    const tDetect: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await Bun.sleep(SETTLE_MS + Math.random() * 20);
      const at = Date.now();
      bravo.proc.kill("SIGKILL");
      const seen = await alpha.log.waitFor(isDown("bravo"), at);
      tDetect.push(JSON.parse(seen.text).time - at);
      await bravo.proc.exited;
      bravo = runTandem(b);
      await alpha.log.waitFor(isUp("bravo"), at);
    }
    const soakFrom = Date.now();
    await Bun.sleep(SOAK_S * 1000);
    const downsSince = (log: Lines, peer: string) => log.lines.filter((l) => l.at >= soakFrom && isDown(peer)(l.text)).length;
    const tFalse = downsSince(alpha.log, "bravo") + downsSince(bravo.log, "alpha");
    for (const p of [alpha.proc, bravo.proc]) p.kill("SIGTERM");
    await Promise.all([alpha.proc.exited, bravo.proc.exited]);
    stress.kill("SIGKILL");
    await stress.exited;

    // keepalived: bravo is master (higher priority), alpha backup.
    const kAlpha = runKeepalived(a, 100);
    let kBravo = runKeepalived(b, 150);
    await kBravo.log.waitFor(MASTER, 0, 10_000);
    const kIdle = await idleCpu(() => [...netnsPids(a.ns), ...netnsPids(b.ns)]);
    stress = Bun.spawn(["stress-ng", "--cpu", "2", "--timeout", String(RUNS * 4 + SOAK_S + 120)], { stdout: "ignore", stderr: "ignore" });
    const kDetect: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await Bun.sleep(SETTLE_MS + Math.random() * 20);
      const at = Date.now();
      for (const pid of netnsPids(b.ns)) process.kill(pid, "SIGKILL");
      const seen = await kAlpha.log.waitFor(MASTER, at);
      kDetect.push(seen.at - at);
      await kBravo.proc.exited;
      while (netnsPids(b.ns).length) await Bun.sleep(5);
      kBravo = runKeepalived(b, 150);
      await kBravo.log.waitFor(MASTER, at, 10_000);
    }
    const kSoakFrom = Date.now();
    await Bun.sleep(SOAK_S * 1000);
    const kFalse = kAlpha.log.lines.filter((l) => l.at >= kSoakFrom && MASTER(l.text)).length;
    for (const p of [kAlpha.proc, kBravo.proc]) p.kill("SIGTERM");
    await Promise.all([kAlpha.proc.exited, kBravo.proc.exited]);

    return {
      title: "Heartbeat: detection of a dead peer, false deaths, idle cost",
      anchor: "keepalived 2.2.7 VRRPv3",
      method: `Two namespaces, two veth links, ${LOSS_PCT}% loss on one; interval 20 ms (Tandem deadtime 80 ms on both links; keepalived advert_int 0.02 s on the clean link). ${RUNS} SIGKILLs of the peer at a random phase under stress-ng --cpu 2; a ${SOAK_S} s soak without faults under the same load counts false deaths (Tandem: down events either way; keepalived: the backup becoming master). Idle CPU: no load, per node, over ${IDLE_S} s after ${IDLE_SETTLE_S} s of settling.`,
      rows: [
        { figure: "detection, median", unit: "ms", tandem: median(tDetect), anchor: median(kDetect), better: "lower" },
        { figure: "detection, p99", unit: "ms", tandem: quantile(tDetect, 0.99), anchor: quantile(kDetect, 0.99), better: "lower" },
        { figure: "detection, max", unit: "ms", tandem: Math.max(...tDetect), anchor: Math.max(...kDetect), better: "lower" },
        { figure: `false deaths in ${SOAK_S} s`, unit: "count", tandem: tFalse, anchor: kFalse, better: "lower" },
        { figure: "idle CPU per node", unit: "% of a core", tandem: tIdle, anchor: kIdle, better: "lower" },
      ],
    };
  } finally {
    stress?.kill("SIGKILL");
    down();
    rmSync(dir, { recursive: true, force: true });
  }
}
