import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { HIGH_NICE, REALTIME_PRIORITY, type Priority } from "../../../core/os/sched.ts";

const root = process.getuid?.() === 0;

/** In a process of its own (the test runner's thread must stay as it is): what raiseThread said, then the policy, RT priority and nice of the calling thread, a Worker made after, and a child process. */
const probe = (priority: Priority) => `
import { readFileSync } from "node:fs";
import { raiseThread } from "${resolve(import.meta.dir, "../../../core/os/sched.ts")}";
const sched = (stat) => { const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); return { nice: Number(f[16]), rt: Number(f[37]), policy: Number(f[38]) }; };
const raised = raiseThread("${priority}");
const main = sched(readFileSync("/proc/thread-self/stat", "utf8"));
const worker = new Worker(URL.createObjectURL(new Blob(["postMessage(require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8'))"])));
const workerStat = await new Promise((r) => (worker.onmessage = (e) => r(e.data)));
worker.terminate();
const child = Bun.spawnSync(["cat", "/proc/self/stat"]).stdout.toString();
const autogroup = (() => { try { return readFileSync("/proc/self/autogroup", "utf8").trim(); } catch { return null; } })();
console.log(JSON.stringify({ raised, main, worker: sched(workerStat), child: sched(child), autogroup }));
`;

function run(priority: Priority, asNobody = false): Record<string, any> {
  const nobody = asNobody ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"] : [];
  // The leader of a session of its own (setsid forks when it is not): its autogroup is raised, not the test runner's.
  const r = Bun.spawnSync([...nobody, "setsid", "-w", process.execPath, "-e", probe(priority)], { stdout: "pipe", stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  return JSON.parse(r.stdout.toString());
}

const NORMAL = { nice: 0, rt: 0, policy: 0 };

const autogroups = existsSync("/proc/sys/kernel/sched_autogroup_enabled") && readFileSync("/proc/sys/kernel/sched_autogroup_enabled", "utf8").trim() === "1";

test.skipIf(!root)("high: the calling thread at nice -20 under the normal scheduler, and its session's autogroup when the kernel has them; a Worker and a child made after at nice 0", () => {
  const out = run("high");
  expect(out.raised).toMatchObject({ ok: true, priority: "high", detail: autogroups ? `nice ${HIGH_NICE}, autogroup nice ${HIGH_NICE}` : `nice ${HIGH_NICE}` });
  if (autogroups) expect(out.autogroup).toMatch(new RegExp(`nice ${HIGH_NICE}$`));
  expect(out.main).toEqual({ nice: HIGH_NICE, rt: 0, policy: 0 });
  expect(out.worker).toEqual(NORMAL);
  expect(out.child).toEqual(NORMAL);
});

test.skipIf(!root)("realtime: the calling thread under SCHED_RR at its priority; a Worker and a child made after at normal priority", () => {
  const out = run("realtime");
  expect(out.raised).toMatchObject({ ok: true, priority: "realtime", detail: `SCHED_RR ${REALTIME_PRIORITY}` });
  expect(out.main).toEqual({ nice: 0, rt: REALTIME_PRIORITY, policy: 2 });
  expect(out.worker).toEqual(NORMAL);
  expect(out.child).toEqual(NORMAL);
});

test.skipIf(!root)("high, in a session it does not lead: the thread is raised, the session's autogroup left alone", () => {
  const r = Bun.spawnSync([process.execPath, "-e", probe("high")], { stdout: "pipe", stderr: "pipe" });
  const out = JSON.parse(r.stdout.toString()) as Record<string, any>;
  expect(out.raised).toMatchObject({ ok: true, detail: `nice ${HIGH_NICE}` });
  expect(out.main.nice).toBe(HIGH_NICE);
  if (autogroups) expect(out.autogroup).toBe(readFileSync("/proc/self/autogroup", "utf8").trim());
});

test.skipIf(!root)("without CAP_SYS_NICE both are refused with the kernel's reason, and the thread is unchanged; normal changes nothing", () => {
  for (const priority of ["high", "realtime"] as const) {
    const out = run(priority, true);
    expect(out.raised.ok).toBe(false);
    expect(out.raised.error).toMatch(/\((EPERM|EACCES)\)/);
    expect(out.main).toEqual(NORMAL);
  }
  expect(run("normal", true)).toMatchObject({ raised: { ok: true, detail: "unchanged" }, main: NORMAL });
});
