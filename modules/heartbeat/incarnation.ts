/**
 * A node's incarnation: the number its frames carry for one run of the
 * process, which its peers admit only when it is not lower than the highest
 * they heard (replay.ts). It is the start time in milliseconds with a random
 * tail of three digits; with a state dir the last one is kept (section
 * "heartbeat"), so it still rises when the clock went back past the last start.
 */

/** The state section the incarnation is kept in: `{ incarnation }`. */
export const STATE_SECTION = "heartbeat";

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
