/**
 * Scale-out: active/active directors behind a router (ECMP), announced over
 * BGP by BIRD. `tandem lab` builds it from the config (test/lab/routing-config.ts):
 * alpha and bravo, active directors (nftables, NAT, mh) of the lab's two real
 * servers, each announcing the virtual address to the lab's router (BIRD,
 * merge paths, the L4 multipath hash); the client behind the router.
 *
 * - New connections per second (a new TCP connection, GET /, close; 32 at a
 *   time, RATE_SECONDS): through both directors (Tandem's column) and through
 *   one (the anchor column: bravo powered off and withdrawn).
 * - From a director's power-off (every process of its namespace, BIRD too,
 *   SIGKILLed, its links down) to the last connection that failed (a new
 *   connection every 10 ms, each given 1 s), with BFD (100 ms × 3: Tandem's
 *   column) and without (the BGP hold time, 3 s, BGP's least: the anchor
 *   column); RUNS power-offs each, the median.
 *
 * The client, the real servers and both directors share this machine's
 * cores, so the rate says what the pair does here, not what it would on
 * machines of their own.
 */
import { join, resolve } from "node:path";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { median, type Row, type Table } from "./lib.ts";
import { freeSubnets } from "../lab/net.ts";
import { labCommand, labStatus, pairConfig, pairSecrets, type LabHost } from "../lab/config.ts";
import { activeActiveSections, nextHops } from "../lab/routing-config.ts";
import { waitFor } from "../helpers.ts";

const RUNS = Number(process.env.BENCH_SCALE_RUNS ?? 5);
const RATE_SECONDS = Number(process.env.BENCH_SCALE_SECONDS ?? 5);
const CONCURRENCY = 32;
const PROBE_SECONDS = 8;
/** When the power-off comes in a probe run. */
const POWER_AT_MS = 1500;
const BUN = resolve(import.meta.dir, "../../node_modules/.bin/bun");
const CLIENT = join(import.meta.dir, "scale-out-client.ts");
const TOKEN = "scale-out-bench-token-0123456789ab";

interface Lab {
  name: string;
  lan: string;
  vip: string;
  hosts: Record<string, LabHost>;
  dir: string;
}

async function labUp(name: string, bfd: boolean): Promise<Lab> {
  const [lan] = freeSubnets(1, 300) as [string];
  const dir = mkdtempSync(join(tmpdir(), `tandem-scale-${name}-`));
  await pairSecrets(dir, TOKEN);
  const vip = `${lan}50`;
  const config = join(dir, "tandem.toml");
  writeFileSync(config, pairConfig({ cluster: "scale", lan, more: activeActiveSections({ lan, vip, router: `${lan}254`, dir, bfd }) }));
  await labCommand(name, "up", "-c", config);
  const lab = { name, lan, vip, hosts: (await labStatus(name)).hosts, dir };
  await bothPaths(lab);
  return lab;
}

async function labDown(lab: Lab): Promise<void> {
  await labCommand(lab.name, "down").catch(() => "");
  rmSync(lab.dir, { recursive: true, force: true });
}

const bothPaths = (lab: Lab) => waitFor("the router's path through each director", () => (nextHops(lab.hosts.router!.namespace, lab.vip).length === 2 ? true : undefined), 30_000, 100);
const onePath = (lab: Lab, via: string) => waitFor(`the router's one path, through ${via}`, () => (nextHops(lab.hosts.router!.namespace, lab.vip).join() === via ? true : undefined), 15_000, 20);

async function client(lab: Lab, ...args: string[]): Promise<Bun.Subprocess<"ignore", "pipe", "ignore">> {
  return Bun.spawn(["ip", "netns", "exec", lab.hosts.client!.namespace, BUN, CLIENT, ...args], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
}

/** New connections per second through what the router has now. */
async function rate(lab: Lab): Promise<number> {
  const p = await client(lab, "rate", lab.vip, "80", String(RATE_SECONDS), String(CONCURRENCY));
  const out = JSON.parse(await new Response(p.stdout).text()) as { ok: number; failed: number; seconds: number };
  if (out.failed) throw new Error(`${out.failed} of ${out.ok + out.failed} connections failed`);
  return out.ok / out.seconds;
}

/** Power alpha off during a probe: ms from the power-off to the start of the last connection that failed (0: none failed). */
async function failover(lab: Lab): Promise<number> {
  const p = await client(lab, "probe", lab.vip, "80", String(PROBE_SECONDS));
  const output = new Response(p.stdout).text();
  await Bun.sleep(POWER_AT_MS);
  const powered = Date.now();
  await labCommand(lab.name, "fault", "alpha", "power");
  const attempts = (await output)
    .trim()
    .split("\n")
    .map((l) => l.split(" "))
    .map(([at, r]) => ({ at: Number(at), ok: r === "ok" }));
  if (!attempts.some((a) => a.ok && a.at > powered)) throw new Error("no connection was served after the power-off");
  const last = attempts.filter((a) => !a.ok && a.at >= powered - 1000).at(-1);
  await labCommand(lab.name, "heal", "alpha");
  await bothPaths(lab);
  return last ? Math.max(0, last.at - powered) : 0;
}

export async function bench(bin: string): Promise<Table> {
  // The lab runs the binary under test.
  process.env.TANDEM_BIN = bin;
  const tag = process.pid % 1000;
  const rows: Row[] = [];
  const withBfd = await labUp(`so${tag}b`, true);
  const times: { bfd: number[]; hold: number[] } = { bfd: [], hold: [] };
  try {
    const two = await rate(withBfd);
    await labCommand(withBfd.name, "fault", "bravo", "power");
    await onePath(withBfd, `${withBfd.lan}11`);
    const one = await rate(withBfd);
    await labCommand(withBfd.name, "heal", "bravo");
    await bothPaths(withBfd);
    rows.push({ figure: "new connections per second: two directors, vs one", unit: "conn/s", tandem: Math.round(two), anchor: Math.round(one), better: "higher" });
    for (let i = 0; i < RUNS; i++) times.bfd.push(await failover(withBfd));
  } finally {
    await labDown(withBfd);
  }
  const withoutBfd = await labUp(`so${tag}h`, false);
  try {
    for (let i = 0; i < RUNS; i++) times.hold.push(await failover(withoutBfd));
  } finally {
    await labDown(withoutBfd);
  }
  rows.push({ figure: `power-off to the last failed connection, median of ${RUNS}: BFD, vs hold time 3 s`, unit: "ms", tandem: median(times.bfd), anchor: median(times.hold), better: "lower" });
  return {
    title: "Scale-out: active/active directors behind ECMP, announced over BGP by BIRD",
    anchor: "one director; without BFD",
    method: `tandem lab with a router (BIRD, merge paths, L4 hash) and two active/active directors (nftables, NAT, mh); ${CONCURRENCY} clients at a time for ${RATE_SECONDS} s; power-offs of alpha with a new connection every 10 ms. BFD runs: ${times.bfd.join(", ")} ms; hold-time runs: ${times.hold.join(", ")} ms.`,
    rows,
  };
}
