/**
 * The control thread's scheduling ([runtime] priority). Three settings:
 *   realtime  SCHED_RR at a modest priority, as Heartbeat's `realtime on`;
 *   high      the normal scheduler at nice -20, this thread only (and the
 *             session's autogroup, see raiseAutogroup);
 *   normal    nothing changed.
 * Both raise the calling thread only, with SCHED_RESET_ON_FORK: every thread
 * and process created after the call (the API and checks workers, Bun's
 * pools, resource agents and check commands) starts at normal priority.
 *
 * Why `high` is the default and not `realtime` (measured, see the isolation
 * bench): Bun and JavaScriptCore wait for some locks by spinning on
 * sched_yield, and the holder may be a normal thread of the same process
 * (the API worker, a GC helper). Under SCHED_RR a yield with no other
 * realtime thread ready returns at once, so the control thread spins while
 * the holder waits for a core: under an API flood a third of its samples
 * were in sched_yield and it stalled past deadtime several times in 8 s;
 * under the normal scheduler at nice -20 the yield lets the holder run.
 *
 * No mlockall: JavaScriptCore reserves tens of gigabytes of address space up
 * front and grows its heaps by mmap, so MCL_FUTURE would pin (or refuse) every
 * future allocation of every thread, and MCL_CURRENT alone would not cover the
 * heap as it grows. A node that must never page runs without swap.
 */
import { writeFileSync } from "node:fs";
import { lastErrno, OsError, sys } from "./libc.ts";

const SCHED_OTHER = 0;
const SCHED_RR = 2;
const SCHED_RESET_ON_FORK = 0x40000000;
const PRIO_PROCESS = 0;
/** Above every normal thread, below the kernel's interrupt threads (50) and watchdogs (99). */
export const REALTIME_PRIORITY = 10;
/** The highest nice value: about 88 times the CPU share of a nice-0 thread when both want it. */
export const HIGH_NICE = -20;
const AUTOGROUP = "/proc/self/autogroup";

export const PRIORITIES = ["realtime", "high", "normal"] as const;
export type Priority = (typeof PRIORITIES)[number];

export type Raised = { ok: true; tid: number; priority: Priority; detail: string } | { ok: false; tid: number; error: string };

/**
 * With autogroup scheduling (kernel.sched_autogroup_enabled), a thread's nice
 * counts only against the threads of its own session; sessions share the
 * CPU by their group's nice. Seen: the control thread at nice -20 waited 58 ms
 * for a core while two nice-0 processes of other sessions ran. So the group
 * is raised too (within it, the control thread still outweighs the workers),
 * only when this process leads its session (a service, a lab node): started
 * from a shell or a test runner, the group is theirs and is left alone.
 * False when not raised.
 */
function raiseAutogroup(): boolean {
  if (sys().getsid(0) !== process.pid) return false;
  try {
    writeFileSync(AUTOGROUP, String(HIGH_NICE));
    return true;
  } catch {
    return false;
  }
}

/** Raises the calling thread as `priority` says; what the kernel said. */
export function raiseThread(priority: Priority): Raised {
  const tid = sys().gettid();
  const fail = (what: string): Raised => ({ ok: false, tid, error: new OsError(`${what} on thread ${tid}`, lastErrno()).message });
  // pid 0: the calling thread, not the whole process.
  if (priority === "realtime") {
    if (sys().sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, new Int32Array([REALTIME_PRIORITY])) !== 0) return fail(`sched_setscheduler(SCHED_RR, ${REALTIME_PRIORITY})`);
    return { ok: true, tid, priority, detail: `SCHED_RR ${REALTIME_PRIORITY}` };
  }
  if (priority === "high") {
    if (sys().sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, new Int32Array([0])) !== 0) return fail("sched_setscheduler(SCHED_OTHER, reset on fork)");
    if (sys().setpriority(PRIO_PROCESS, tid, HIGH_NICE) !== 0) return fail(`setpriority(${HIGH_NICE})`);
    return { ok: true, tid, priority, detail: `nice ${HIGH_NICE}${raiseAutogroup() ? `, autogroup nice ${HIGH_NICE}` : ""}` };
  }
  return { ok: true, tid, priority, detail: "unchanged" };
}
