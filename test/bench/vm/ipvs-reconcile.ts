/**
 * Runs inside the appliance VM, on its stock kernel's IPVS: bundled by
 * director-ipvs.bench.ts and run there as `BUN_BE_BUN=1 tandem FILE RUNS`
 * (the tandem executable is Bun). The IPVS dataplane's reconcile beside
 * ipvsadm on the same state, in the same kernel. Prints one line,
 * `IPVS-BENCH {json}`, the times in ms of each run.
 */
import { spawnSync } from "node:child_process";
import { IpvsDataplane } from "../../../modules/director/dataplane/ipvs.ts";
import { SERVICES, state } from "../director-state.ts";
import type { VirtualService } from "../../../modules/director/dataplane/model.ts";

const RUNS = Number(process.argv[2] ?? 3);
/**
 * One-server changes timed per run, back and forth between the two states: the first of them follows a first
 * apply of 11,000 entries, whose garbage the runtime may still be collecting (its own figure); the others are
 * the steady one.
 */
const CHANGES = 5;

function ipvsadm(args: string[], input?: string): string {
  const r = spawnSync("/usr/sbin/ipvsadm", args, { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ipvsadm ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function timed(f: () => unknown): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/** The longest the event loop went without a turn while `f` ran: the largest gap of a 1 ms timer. */
async function stalled(f: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  await f();
  clearInterval(timer);
  return Math.max(worst, performance.now() - last);
}

/** What `ipvsadm -S` would print for the state: what a script restores with `ipvsadm -R`. */
function rules(services: VirtualService[]): string {
  return services
    .flatMap((vs) => [`-A -t ${vs.address}:${vs.port} -s ${vs.scheduler}`, ...vs.reals.map((r) => `-a -t ${vs.address}:${vs.port} -r ${r.address}:${r.port} -m -w ${r.weight}`)])
    .join("\n") + "\n";
}

/** The one server that differs between the two states, as the ipvsadm edit that sets its weight in `s`. */
function edit(s: VirtualService[]): string[] {
  const vs = s[SERVICES / 2]!;
  const r = vs.reals[0]!;
  return ["-e", "-t", `${vs.address}:${vs.port}`, "-r", `${r.address}:${r.port}`, "-m", "-w", String(r.weight)];
}

const a = state(false);
const b = state(true);
const t = { stall: [] as number[], first: [] as number[], change: [] as number[], changeAfterFirst: [] as number[], same: [] as number[], read: [] as number[], anchorFirst: [] as number[], anchorChange: [] as number[] };
for (let i = 0; i < RUNS; i++) {
  ipvsadm(["-C"]);
  const dataplane = new IpvsDataplane();
  t.first.push(await timed(() => dataplane.reconcile(a)));
  for (let k = 0; k < CHANGES; k++) (k ? t.change : t.changeAfterFirst).push(await timed(() => dataplane.reconcile(k % 2 ? a : b)));
  await dataplane.reconcile(a);
  t.same.push(await timed(() => dataplane.reconcile(a)));
  t.read.push(await timed(() => dataplane.read()));
  const again = await new IpvsDataplane().reconcile(a);
  if (again.diff.length) throw new Error(`IPVS read back differs from what was programmed: ${again.diff.length} changes`);
}
ipvsadm(["-C"]);
t.stall.push(await stalled(() => new IpvsDataplane().reconcile(a)));
const text = rules(a);
for (let i = 0; i < RUNS; i++) {
  ipvsadm(["-C"]);
  t.anchorFirst.push(await timed(() => ipvsadm(["-R"], text)));
  for (let k = 0; k < CHANGES; k++) t.anchorChange.push(await timed(() => ipvsadm(edit(k % 2 ? a : b))));
  ipvsadm(edit(a));
  const same = await new IpvsDataplane().reconcile(a);
  if (same.diff.length) throw new Error(`ipvsadm -R did not program the same state: ${same.diff.length} changes`);
}
ipvsadm(["-C"]);
console.log(`IPVS-BENCH ${JSON.stringify(t)}`);
