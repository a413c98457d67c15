/**
 * A node's incarnation: the number its frames carry for one run of the
 * process, which its peers admit only when it is not lower than the highest
 * they heard (replay.ts). It is the start time in milliseconds with a random
 * tail of three digits; with a state dir the last one is kept (section
 * "heartbeat"), so it still rises when the clock went back past the last start.
 *
 * The same section keeps what a restart must not forget of the run before:
 * the highest incarnation heard of each peer (the replay guard starts from
 * them, so no earlier process of a peer is heard again) and this node's
 * deadtime (peers may have leased the last run's vote on it: a start with a
 * smaller one holds it for itself, engine.ts).
 */

/** The state section all this is kept in: `{ incarnation, deadtimeMs, peers: { name: incarnation } }`. */
export const STATE_SECTION = "heartbeat";

/** What the section holds. */
export interface Kept {
  incarnation: number;
  /** The deadtime that decided this node's deaths and its peers' leases when it was written. */
  deadtimeMs: number;
  /** By peer name: the highest incarnation heard. */
  peers: Record<string, number>;
}

const fields = (kept: unknown): Record<string, unknown> => (typeof kept === "object" && kept !== null && !Array.isArray(kept) ? (kept as Record<string, unknown>) : {});

/**
 * Pure: the peers' highest incarnations the section keeps, for the names in
 * `peers` (the config's other nodes); an entry that is not a whole number from
 * 0 to MAX_INCARNATION, or of a node no longer in the config, is left out.
 */
export function keptPeers(kept: unknown, peers: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  const by = fields(fields(kept).peers);
  for (const name of peers) {
    const v = Object.hasOwn(by, name) ? by[name] : undefined;
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) out.set(name, v);
  }
  return out;
}

/** Pure: the deadtime the section keeps, or null when none is (or it is not a positive finite number of ms). */
export function keptDeadtime(kept: unknown): number | null {
  const v = fields(kept).deadtimeMs;
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : null;
}

/** The largest incarnation a frame carries (envelope.ts: a u64 field holding whole numbers below 2^53). */
export const MAX_INCARNATION = Number.MAX_SAFE_INTEGER;

/**
 * Pure: this start's incarnation from the time-based one and the section the
 * last start kept (undefined when none): the time-based one, or one more than
 * the kept one when the clock went back past it. A kept section that is not
 * `{ incarnation }` with a whole number from 1 to MAX_INCARNATION - 1 (its
 * successor must fit a frame) is ignored, and `problem` says why.
 */
export function nextIncarnation(timeBased: number, kept: unknown): { incarnation: number; problem: string | null } {
  if (kept === undefined) return { incarnation: timeBased, problem: null };
  if (typeof kept !== "object" || kept === null || Array.isArray(kept)) return { incarnation: timeBased, problem: `${JSON.stringify(kept)} is not { incarnation }` };
  const value = (kept as { incarnation?: unknown }).incarnation;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    return { incarnation: timeBased, problem: `incarnation ${JSON.stringify(value) ?? "missing"} is not a whole number from 1 to ${MAX_INCARNATION - 1}` };
  }
  if (value === MAX_INCARNATION) return { incarnation: timeBased, problem: `incarnation ${value} is the largest a frame carries: none is higher` };
  return { incarnation: Math.max(timeBased, value + 1), problem: null };
}
