/**
 * A witness of the machine itself: a process of its own at the control
 * thread's priority (high) that sleeps 1 ms in a loop for SECONDS and
 * prints, as JSON, every span (wall-clock ms) it woke more than GAP_MS late.
 * Nothing of Tandem runs in it, so a span it reports is the machine stopping
 * every process (the hypervisor, the kernel), not a node's own work.
 * Usage: bun witness.ts SECONDS GAP_MS
 */
import { raiseThread } from "../../core/os/sched.ts";

const [seconds, gapMs] = process.argv.slice(2).map(Number) as [number, number];
const raised = raiseThread("high");
const until = Date.now() + seconds * 1000;
const spans: Array<[number, number]> = [];
let last = Date.now();
while (last < until) {
  Bun.sleepSync(1);
  const now = Date.now();
  if (now - last > gapMs) spans.push([last, now]);
  last = now;
}
console.log(JSON.stringify({ raised: raised.ok, spans }));
