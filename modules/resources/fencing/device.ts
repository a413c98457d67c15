/**
 * The fencing contract. A fence device cuts a node off (powers it off, or
 * resets it) so that what the node ran can be started elsewhere without
 * running twice. The resource manager calls it for a peer lost uncleanly and
 * takes over that peer's exclusive resources only on "fenced": any other
 * answer means no takeover.
 */

export type FenceStatus =
  /** The device said the node is off (or was reset). */
  | "fenced"
  /** The device answered that it did not fence the node. */
  | "failed"
  /** No answer within the timeout: the device's process group was killed. */
  | "timeout"
  /** The caller's signal aborted it: the device's process group was killed. */
  | "cancelled"
  /** No answer at all: the device could not be run, or a signal killed it. */
  | "error";

/** What a fence does to the node: `off` (the default) or `reboot` (off, then on again). */
export type FenceAction = "off" | "reboot";

export interface FenceResult {
  node: string;
  /** The device that answered; empty when no device could fence the node. */
  device: string;
  status: FenceStatus;
  /** The device's exit code; null when it did not exit by itself. */
  exitCode: number | null;
  durationMs: number;
  /** The last bytes of the device's stdout and stderr, as they came. */
  output: string;
  /** Tandem's own words on the outcome; empty when there is nothing to add. */
  message: string;
}

export interface FenceOptions {
  /** Then the device's process group gets SIGTERM, and SIGKILL after a grace. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** A device check: "ok" when the device answers and works. */
export interface CheckResult extends Omit<FenceResult, "node" | "status"> {
  status: "ok" | Exclude<FenceStatus, "fenced">;
}

export interface FenceDevice {
  readonly name: string;
  /** The config's `agent`: "exec", "lab", or a fence-agents agent such as "fence_ipmilan". */
  readonly kind: string;
  readonly action: FenceAction;
  /** The device's own timeout (config `timeout`): what `fenceNode` gives each of its attempts. */
  readonly timeoutMs: number;
  /** Whether this device may fence `node`: a node is never fenced by itself. */
  canFence(node: string): boolean;
  /** Never throws for anything the device does: every outcome is a result. */
  fence(node: string, options: FenceOptions): Promise<FenceResult>;
  /** Whether the device answers, without fencing anything; only kinds that have such an action. */
  check?(options: FenceOptions): Promise<CheckResult>;
}

/** One device's try, bounded by its own timeout; a device of another implementation that throws is an error, not a crash. */
async function attempt(device: FenceDevice, node: string, signal: AbortSignal | undefined): Promise<FenceResult> {
  try {
    return await device.fence(node, { timeoutMs: device.timeoutMs, signal });
  } catch (err) {
    const message = `the device threw: ${err instanceof Error ? err.message : String(err)}`;
    return { node, device: device.name, status: "error", exitCode: null, durationMs: 0, output: "", message };
  }
}

function describeAttempt(r: FenceResult): string {
  return `${r.device}: ${r.status}${r.message ? ` (${r.message})` : ""}`;
}

/**
 * Fences `node` with the devices that can, in the order given (the config's:
 * Pacemaker's fencing levels, one device a level), each bounded by its own
 * timeout. Answers the first "fenced", or the last failure; either way its
 * message names every attempt and its duration is the whole. A cancel stops
 * at once: no further device is tried.
 */
export async function fenceNode(devices: readonly FenceDevice[], node: string, options: { signal?: AbortSignal } = {}): Promise<FenceResult> {
  const started = performance.now();
  const candidates = devices.filter((d) => d.canFence(node));
  if (!candidates.length) {
    return { node, device: "", status: "error", exitCode: null, durationMs: 0, output: "", message: `no fence device can fence ${node}` };
  }
  const attempts: FenceResult[] = [];
  for (const device of candidates) {
    const result = await attempt(device, node, options.signal);
    attempts.push(result);
    if (result.status === "fenced" || result.status === "cancelled") break;
  }
  const last = attempts[attempts.length - 1]!;
  return { ...last, durationMs: Math.round(performance.now() - started), message: attempts.map(describeAttempt).join("; ") };
}
