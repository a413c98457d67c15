/**
 * The watchdog's engine: when the node pets its watchdog and when it stops.
 *
 * Opened at start with the timeout, the watchdog is petted every
 * `timeoutMs / PETS_PER_TIMEOUT` while the node may go on holding what it
 * holds. That is true unless it has lost quorum while holding exclusive
 * resources: then it withholds the pets, and if those resources are not
 * stopped (the resource manager stops them on quorum loss) before the kernel's
 * timer runs out, the kernel resets the node, as SBD does without a disk. A
 * node whose control plane is frozen or starved never reaches its next pet and
 * is reset the same way: that is why a peer may count it as fenced after
 * twice the timeout (modules/resources/fencing/watchdog.ts).
 *
 * A clean stop closes the device with the magic close ('V'), which disarms
 * it; a stop while the pets are withheld closes it without, so the kernel
 * still resets the node.
 */

/** Pets in one timeout: the kernel's timer has this many chances to be reset before it fires. */
export const PETS_PER_TIMEOUT = 5;

export interface WatchdogParams {
  /** The device's path: /dev/watchdog. */
  device: string;
  /** The kernel's timer: a node not petted for this long is reset. Whole seconds (WDIOC_SETTIMEOUT). */
  timeoutMs: number;
}

/** What the node is, as the shell reads it at each tick from the heartbeat's cluster bus and the resource manager. */
export interface Holding {
  /** Whether this node has quorum; true for a node that runs no heartbeat (a single node). */
  quorate: boolean;
  /** Whether exclusive resources run here (or are starting, or failed to stop). */
  holdsExclusive: boolean;
}

export type Input =
  /** The shell opened the device and armed it with this timeout (the driver may round the one asked for); again after a reload changed it. */
  | { type: "armed"; now: number; timeoutMs: number }
  | ({ type: "tick"; now: number } & Holding)
  | { type: "stop"; now: number };

export type Effect =
  | { type: "pet" }
  /** Close the device; `magic`: write 'V' first, which disarms it. */
  | { type: "close"; magic: boolean }
  | { type: "event"; event: string; data: Record<string, unknown> };

export type Phase = "idle" | "armed" | "closed";

export interface State {
  p: WatchdogParams;
  phase: Phase;
  /** The timeout the device is armed with. */
  timeoutMs: number;
  lastPetAt: number | null;
  /** Why pets are withheld, or null while the node pets. */
  withheld: string | null;
  /** When the next tick is due. */
  nextTickAt: number | null;
}

export function initialState(p: WatchdogParams): State {
  return { p, phase: "idle", timeoutMs: p.timeoutMs, lastPetAt: null, withheld: null, nextTickAt: null };
}

export function petIntervalMs(timeoutMs: number): number {
  return timeoutMs / PETS_PER_TIMEOUT;
}

/** Why the node must not pet, or null when it may. */
export function withholdReason(h: Holding): string | null {
  if (!h.quorate && h.holdsExclusive) return "no quorum while holding exclusive resources";
  return null;
}

export function step(prev: State, input: Input): { state: State; effects: Effect[] } {
  const s: State = { ...prev };
  const fx: Effect[] = [];
  switch (input.type) {
    case "armed":
      if (s.phase === "closed") break;
      s.phase = "armed";
      s.timeoutMs = input.timeoutMs;
      pet(s, input.now, fx);
      fx.push({ type: "event", event: "watchdog.armed", data: { device: s.p.device, timeoutMs: s.timeoutMs } });
      break;
    case "tick": {
      if (s.phase !== "armed") break;
      const late = s.lastPetAt === null ? 0 : input.now - s.lastPetAt;
      const reason = withholdReason(input);
      if (reason !== s.withheld) {
        fx.push({ type: "event", event: "watchdog.pets", data: reason ? { result: "withheld", reason, resetInMs: Math.max(0, s.timeoutMs - late) } : { result: "resumed" } });
        s.withheld = reason;
      }
      if (reason === null) {
        if (late > s.timeoutMs) fx.push({ type: "event", event: "watchdog.late", data: { sinceLastPetMs: late, timeoutMs: s.timeoutMs } });
        pet(s, input.now, fx);
      } else s.nextTickAt = input.now + petIntervalMs(s.timeoutMs);
      break;
    }
    case "stop":
      if (s.phase === "armed") {
        fx.push({ type: "close", magic: s.withheld === null });
        fx.push({ type: "event", event: "watchdog.closed", data: s.withheld === null ? { disarmed: true } : { disarmed: false, reason: s.withheld } });
      }
      s.phase = "closed";
      s.nextTickAt = null;
      break;
  }
  return { state: s, effects: fx };
}

function pet(s: State, now: number, fx: Effect[]): void {
  fx.push({ type: "pet" });
  s.lastPetAt = now;
  s.nextTickAt = now + petIntervalMs(s.timeoutMs);
}

export function nextDeadline(s: State): number | null {
  return s.phase === "armed" ? s.nextTickAt : null;
}
