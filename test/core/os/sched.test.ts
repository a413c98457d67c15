import { expect, test } from "bun:test";
import { resolve } from "node:path";

const root = process.getuid?.() === 0;

/** In a process of its own (the test runner's thread must stay as it is): the policy and priority of the calling thread, a Worker created after, and a child process. */
const PROBE = `
import { readFileSync } from "node:fs";
import { makeRealtime } from "${resolve(import.meta.dir, "../../../core/os/sched.ts")}";
const sched = (path) => { const st = readFileSync(path, "utf8"); const f = st.slice(st.lastIndexOf(")") + 2).split(" "); return { priority: Number(f[37]), policy: Number(f[38]) }; };
const rt = makeRealtime();
const main = sched("/proc/thread-self/stat");
const worker = new Worker(URL.createObjectURL(new Blob(["postMessage(require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8'))"])));
const workerStat = await new Promise((r) => (worker.onmessage = (e) => r(e.data)));
worker.terminate();
const f = workerStat.slice(workerStat.lastIndexOf(")") + 2).split(" ");
const child = Bun.spawnSync(["cat", "/proc/self/stat"]).stdout.toString();
const c = child.slice(child.lastIndexOf(")") + 2).split(" ");
console.log(JSON.stringify({ rt, main, worker: { priority: Number(f[37]), policy: Number(f[38]) }, child: { priority: Number(c[37]), policy: Number(c[38]) } }));
`;

test.skipIf(!root)("makeRealtime puts the calling thread under SCHED_RR at its priority; a Worker and a child made after run at normal priority", () => {
  const r = Bun.spawnSync([process.execPath, "-e", PROBE], { stdout: "pipe", stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  const out = JSON.parse(r.stdout.toString()) as Record<string, any>;
  expect(out.rt).toMatchObject({ ok: true, policy: "SCHED_RR", priority: 10 });
  expect(out.main).toEqual({ policy: 2, priority: 10 });
  expect(out.worker).toEqual({ policy: 0, priority: 0 });
  expect(out.child).toEqual({ policy: 0, priority: 0 });
});

test.skipIf(!root)("without CAP_SYS_NICE the call is refused with the kernel's reason, and the thread is unchanged", () => {
  const r = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", process.execPath, "-e", PROBE], { stdout: "pipe", stderr: "pipe" });
  const out = JSON.parse(r.stdout.toString()) as Record<string, any>;
  expect(out.rt.ok).toBe(false);
  expect(out.rt.error).toContain("(EPERM)");
  expect(out.main).toEqual({ policy: 0, priority: 0 });
});
