/**
 * Watchdog fencing, as Pacemaker's fence_watchdog with SBD's
 * stonith-watchdog-timeout: where every member runs an armed watchdog
 * (modules/watchdog), a peer that has gone silent has been reset by its own
 * kernel within one watchdog timeout of its last pet, whether it froze,
 * starved or lost quorum while holding exclusive resources. The device
 * therefore "fences" by waiting twice that timeout from when it is asked,
 * then answers "fenced". It is asked once the peer was declared dead (a
 * deadtime after its last word) and this node holds quorum: a peer lost while
 * this node had none is asked about only when quorum returns, so the wait may
 * start later than the death, never earlier. It fences nothing itself: it needs this node's own
 * watchdog armed (the same [watchdog] section is every member's).
 */
import type { Clock } from "../../../core/time.ts";
import { describeValue } from "../../../core/config/problems.ts";
import type { FenceDevice, FenceOptions, FenceResult } from "./device.ts";

/** A silent peer counts as reset after this many of its watchdog timeouts. */
export const WATCHDOG_TIMEOUTS_TO_FENCED = 2;

export interface WatchdogFenceSetup {
  name: string;
  timeoutMs: number;
  /** The nodes it may count as fenced; empty: every node but this one. */
  nodes: readonly string[];
  self: string | undefined;
  clock: Clock;
  /** The armed watchdog's timeout on this node, or undefined when it runs none. */
  watchdogTimeoutMs(): number | undefined;
  /** Whether a node name is well formed. */
  isName(node: string): boolean;
}

/** How long after being asked a silent peer counts as fenced. */
export function watchdogFenceWaitMs(watchdogTimeoutMs: number): number {
  return WATCHDOG_TIMEOUTS_TO_FENCED * watchdogTimeoutMs;
}

export class WatchdogFenceDevice implements FenceDevice {
  readonly kind = "watchdog";
  /** What the peer's watchdog does to it. */
  readonly action = "reboot";
  readonly name: string;
  readonly timeoutMs: number;

  constructor(private readonly s: WatchdogFenceSetup) {
    this.name = s.name;
    this.timeoutMs = s.timeoutMs;
  }

  canFence(node: string): boolean {
    return this.s.isName(node) && node !== this.s.self && (!this.s.nodes.length || this.s.nodes.includes(node));
  }

  async fence(node: string, options: FenceOptions): Promise<FenceResult> {
    const result = (status: FenceResult["status"], durationMs: number, message: string): FenceResult => ({ node, device: this.name, status, exitCode: null, durationMs, output: "", message });
    if (!this.canFence(node)) return result("error", 0, `${this.name} cannot fence ${describeValue(node)}`);
    const watchdog = this.s.watchdogTimeoutMs();
    if (watchdog === undefined) return result("error", 0, "this node runs no armed watchdog: nothing says its peers run theirs");
    const waitMs = watchdogFenceWaitMs(watchdog);
    if (waitMs >= options.timeoutMs) return result("error", 0, `the wait for ${node}'s watchdog (${waitMs} ms) is not shorter than the device's timeout (${options.timeoutMs} ms)`);
    if (options.signal?.aborted) return result("cancelled", 0, "cancelled before the wait");
    const started = this.s.clock.now();
    const outcome = await new Promise<"waited" | "cancelled">((resolve) => {
      const onAbort = () => {
        cancel();
        resolve("cancelled");
      };
      const cancel = this.s.clock.after(waitMs, () => {
        options.signal?.removeEventListener("abort", onAbort);
        resolve("waited");
      });
      options.signal?.addEventListener("abort", onAbort, { once: true });
    });
    const took = Math.round(this.s.clock.now() - started);
    if (outcome === "cancelled") return result("cancelled", took, `cancelled after ${took} ms of the ${waitMs} ms wait`);
    return result("fenced", took, `${node} has been silent for ${WATCHDOG_TIMEOUTS_TO_FENCED}x its watchdog timeout (${watchdog} ms) since it was declared dead: its watchdog has reset it`);
  }
}
