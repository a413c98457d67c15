/**
 * A node's start and idle footprint: time from exec to ready, resident memory
 * and CPU once idle. Anchor: keepalived (one VRRP instance), the daemon an
 * operator would otherwise run on each node; ready = its "Startup complete".
 */
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuSeconds, median, netnsPids, quantile, rssBytes, sh, type Table } from "./lib.ts";

const RUNS = 10;
const IDLE_SETTLE_MS = 2000;
const IDLE_MEASURE_MS = 5000;
const READY_TIMEOUT_MS = 10_000;

interface Sample {
  readyMs: number;
  rss?: number;
  cpuPct?: number;
}

async function pollUntil(fn: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (await fn()) return;
    await Bun.sleep(1);
  }
  throw new Error("not ready in time");
}

async function idle(pids: () => number[]): Promise<{ rss: number; cpuPct: number }> {
  await Bun.sleep(IDLE_SETTLE_MS);
  const cpu0 = pids().reduce((s, p) => s + cpuSeconds(p), 0);
  const t0 = performance.now();
  await Bun.sleep(IDLE_MEASURE_MS);
  const cpu1 = pids().reduce((s, p) => s + cpuSeconds(p), 0);
  const secs = (performance.now() - t0) / 1000;
  return { rss: pids().reduce((s, p) => s + rssBytes(p), 0), cpuPct: ((cpu1 - cpu0) / secs) * 100 };
}

async function tandemRun(bin: string, dir: string, port: number, measureIdle: boolean): Promise<Sample> {
  const t0 = performance.now();
  const p = Bun.spawn([bin, "run", "-c", join(dir, "t.toml"), "--node", "solo"], { stdout: "ignore", stderr: "ignore" });
  try {
    await pollUntil(async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
      } catch {
        return false;
      }
    }, READY_TIMEOUT_MS);
    const readyMs = performance.now() - t0;
    return measureIdle ? { readyMs, ...(await idle(() => [p.pid])) } : { readyMs };
  } finally {
    p.kill("SIGTERM");
    await p.exited;
  }
}

async function keepalivedRun(dir: string, ns: string, measureIdle: boolean): Promise<Sample> {
  const out = join(dir, "k.out");
  writeFileSync(out, "");
  const t0 = performance.now();
  const p = Bun.spawn(
    ["ip", "netns", "exec", ns, "keepalived", "-n", "-l", "-D", "-f", join(dir, "k.conf"), "-p", join(dir, "k.pid"), "-r", join(dir, "v.pid"), "-c", join(dir, "c.pid")],
    { stdout: "ignore", stderr: Bun.file(out) },
  );
  try {
    await pollUntil(async () => (await Bun.file(out).text()).includes("Startup complete"), READY_TIMEOUT_MS);
    const readyMs = performance.now() - t0;
    return measureIdle ? { readyMs, ...(await idle(() => netnsPids(ns))) } : { readyMs };
  } finally {
    p.kill("SIGTERM");
    await p.exited;
    for (const pid of netnsPids(ns)) process.kill(pid, "SIGKILL");
  }
}

export async function bench(bin: string): Promise<Table> {
  const dir = mkdtempSync(join(tmpdir(), "tandem-bench-start-"));
  const ns = `tdbench-${process.pid}`;
  const port = 20000 + (process.pid % 20000);
  try {
    sh([bin, "keygen", "-o", join(dir, "k")]);
    chmodSync(join(dir, "k"), 0o600);
    writeFileSync(join(dir, "t.toml"), `cluster = "bench"\nkey_file = "k"\n[[nodes]]\nname = "solo"\naddress = "127.0.0.1"\n[api]\nport = ${port}\n`);
    writeFileSync(
      join(dir, "k.conf"),
      "global_defs {\n  router_id bench\n}\nvrrp_instance VI_1 {\n  state BACKUP\n  interface v0\n  virtual_router_id 51\n  priority 100\n  advert_int 1\n  virtual_ipaddress {\n    198.18.250.10/24\n  }\n}\n",
    );
    sh(["ip", "netns", "add", ns]);
    sh(["ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    for (const l of ["lo", "v0", "v1"]) sh(["ip", "-n", ns, "link", "set", l, "up"]);
    sh(["ip", "-n", ns, "addr", "add", "198.18.250.2/24", "dev", "v0"]);

    const t: Sample[] = [];
    const k: Sample[] = [];
    // Interleaved, so drift on the machine touches both alike; the last run of each also measures idle use.
    for (let i = 0; i < RUNS; i++) {
      t.push(await tandemRun(bin, dir, port, i === RUNS - 1));
      k.push(await keepalivedRun(dir, ns, i === RUNS - 1));
    }
    const tIdle = t[t.length - 1]!;
    const kIdle = k[k.length - 1]!;
    return {
      title: "Node start and idle footprint",
      anchor: "keepalived 2.2.7",
      method: `${RUNS} interleaved starts each; ready = Tandem's /healthz answers, keepalived logs "Startup complete" (one VRRP instance in a namespace). Idle figures after ${IDLE_SETTLE_MS / 1000} s, over ${IDLE_MEASURE_MS / 1000} s, summed over each one's processes.`,
      rows: [
        { figure: "start to ready, median", unit: "ms", tandem: median(t.map((s) => s.readyMs)), anchor: median(k.map((s) => s.readyMs)), better: "lower" },
        { figure: "start to ready, p90", unit: "ms", tandem: quantile(t.map((s) => s.readyMs), 0.9), anchor: quantile(k.map((s) => s.readyMs), 0.9), better: "lower" },
        { figure: "idle resident memory", unit: "MiB", tandem: tIdle.rss! / 2 ** 20, anchor: kIdle.rss! / 2 ** 20, better: "lower" },
        { figure: "idle CPU", unit: "% of a core", tandem: tIdle.cpuPct!, anchor: kIdle.cpuPct!, better: "lower" },
      ],
    };
  } finally {
    Bun.spawnSync(["ip", "netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}
