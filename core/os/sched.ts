/**
 * The control thread's scheduling, as Heartbeat's `realtime on` did: SCHED_RR
 * at a modest priority for the calling thread only, so that a busy machine
 * (a CPU hog, a flood of API clients on another thread) cannot delay a
 * heartbeat. SCHED_RESET_ON_FORK makes every thread and process created after
 * the call (the API and checks workers, Bun's pools, resource agents and
 * check commands) start at normal priority.
 *
 * No mlockall: JavaScriptCore reserves tens of gigabytes of address space up
 * front and grows its heaps by mmap, so MCL_FUTURE would pin (or refuse) every
 * future allocation of every thread, and MCL_CURRENT alone would not cover the
 * heap as it grows. A node that must never page runs without swap.
 */
import { lastErrno, OsError, sys } from "./libc.ts";

const SCHED_RR = 2;
const SCHED_RESET_ON_FORK = 0x40000000;
/** Above every normal thread, below the kernel's interrupt threads (50) and watchdogs (99). */
export const CONTROL_PRIORITY = 10;

export type Realtime = { ok: true; tid: number; policy: "SCHED_RR"; priority: number } | { ok: false; tid: number; error: string };

/** Puts the calling thread under SCHED_RR at `priority` (reset on fork); what the kernel said. */
export function makeRealtime(priority = CONTROL_PRIORITY): Realtime {
  const tid = sys().gettid();
  // pid 0: the calling thread, not the whole process.
  if (sys().sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, new Int32Array([priority])) === 0) return { ok: true, tid, policy: "SCHED_RR", priority };
  return { ok: false, tid, error: new OsError(`sched_setscheduler(SCHED_RR, ${priority}) on thread ${tid}`, lastErrno()).message };
}
