/**
 * Which real server a new connection gets, as a table a stateless kernel
 * lookup can hold: pure. The nftables dataplane turns a Selection into a map
 * keyed by a counter (`numgen inc`) or a hash of the client's address
 * (`jhash`), whose slots name real servers.
 */

/** wrr follows IPVS's order (see wrrSequence) while its cycle is at most this long; beyond, each server's slots are one run. */
export const WRR_SEQUENCE_MAX = 256;
/** mh's lookup table: a prime, IPVS's smallest choice (CONFIG_IP_VS_MH_TAB_INDEX=8). */
export const MH_TABLE_SIZE = 251;

/** The schedulers a stateless lookup can do exactly. */
export const LOOKUP_SCHEDULERS = ["rr", "wrr", "sh", "mh", "dh", "fo"] as const;
export type LookupScheduler = (typeof LOOKUP_SCHEDULERS)[number];

/** What a slot range of the map holds: real server `real` (an index into the active servers) for keys `from`..`to`. */
export interface Slot {
  from: number;
  to: number;
  real: number;
}

export type Selection =
  | { kind: "none" }
  | { kind: "one"; real: number }
  | { kind: "map"; by: "counter" | "source-hash" | "destination-hash"; modulus: number; slots: Slot[] };

export interface Weighted {
  /** Stable identity (address:port): mh's permutations are derived from it. */
  id: string;
  /** Greater than 0: drained servers are not passed in. */
  weight: number;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** Consecutive equal entries of a table as slot ranges. */
export function runs(table: number[]): Slot[] {
  const out: Slot[] = [];
  table.forEach((real, i) => {
    const last = out.at(-1);
    if (last && last.real === real && last.to === i - 1) last.to = i;
    else out.push({ from: i, to: i, real });
  });
  return out;
}

/** Each server `weight / gcd` slots in one run, in order (as runs: the cycle can be millions of slots long). */
function contiguous(weights: number[]): { modulus: number; slots: Slot[] } {
  const g = weights.reduce(gcd);
  const slots: Slot[] = [];
  let from = 0;
  weights.forEach((w, real) => {
    slots.push({ from, to: from + w / g - 1, real });
    from += w / g;
  });
  return { modulus: from, slots };
}

/**
 * IPVS's weighted round robin cycle (ip_vs_wrr.c): the current weight steps
 * down from the largest by the weights' gcd, and at each step every server
 * whose weight reaches it, in order, gets the next connection. 3:1 gives
 * a a a b; 2:2:1 gives a b a b c.
 */
export function wrrSequence(weights: number[]): number[] {
  const g = weights.reduce(gcd);
  const out: number[] = [];
  for (let cw = Math.max(...weights); cw > 0; cw -= g) weights.forEach((w, i) => w >= cw && out.push(i));
  return out;
}

function fnv1a(text: string, basis: number): number {
  let h = basis >>> 0;
  for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x0100_0193) >>> 0;
  return h;
}

/** Each server's share of `size` slots, proportional to weight (largest remainder), at least one each. */
function quotas(weights: number[], size: number): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (size * w) / total);
  const q = exact.map(Math.floor);
  const order = exact.map((e, i) => ({ i, frac: e - Math.floor(e) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0, left = size - q.reduce((a, b) => a + b, 0); k < left; k++) q[order[k]!.i]!++;
  for (let i = 0; i < q.length; i++) {
    if (q[i] !== 0) continue;
    const richest = q.indexOf(Math.max(...q));
    q[richest]!--;
    q[i] = 1;
  }
  return q;
}

/**
 * Maglev hashing's lookup table (Eisenbud et al., NSDI 2016), weighted: each
 * server walks its own permutation of the slots (offset and skip from two
 * hashes of its id) and takes the next free one, in turns, until it holds its
 * quota. A server added or removed moves few clients of the others. `size`
 * is prime and at least the number of servers.
 */
export function maglev(servers: Weighted[], size = MH_TABLE_SIZE): number[] {
  const q = quotas(
    servers.map((s) => s.weight),
    size,
  );
  const offset = servers.map((s) => fnv1a(s.id, 0x811c_9dc5) % size);
  const skip = servers.map((s) => (fnv1a(s.id, 0x050c_5d1f) % (size - 1)) + 1);
  const next = servers.map(() => 0);
  const held = servers.map(() => 0);
  const table = new Array<number>(size).fill(-1);
  // Every pass gives a slot to each server below its quota; quotas sum to size, so at most `size` passes.
  for (let filled = 0, pass = 0; filled < size && pass < size; pass++) {
    for (let i = 0; i < servers.length; i++) {
      if (held[i]! >= q[i]!) continue;
      // A permutation of a prime-sized table visits every slot within `size` steps.
      let slot = (offset[i]! + next[i]! * skip[i]!) % size;
      while (table[slot] !== -1 && next[i]! < size) slot = (offset[i]! + ++next[i]! * skip[i]!) % size;
      next[i]!++;
      table[slot] = i;
      held[i]!++;
      filled++;
    }
  }
  return table;
}

/** How a scheduler picks among the active servers (all of weight > 0, in a stable order). */
export function select(scheduler: LookupScheduler, servers: Weighted[]): Selection {
  if (!servers.length) return { kind: "none" };
  const weights = servers.map((s) => s.weight);
  const map = (by: "counter" | "source-hash" | "destination-hash", table: number[]): Selection => ({ kind: "map", by, modulus: table.length, slots: runs(table) });
  switch (scheduler) {
    case "rr":
      return map("counter", servers.map((_, i) => i));
    case "wrr": {
      const cycle = contiguous(weights);
      return cycle.modulus <= WRR_SEQUENCE_MAX ? map("counter", wrrSequence(weights)) : { kind: "map", by: "counter", ...cycle };
    }
    case "sh":
      return { kind: "map", by: "source-hash", ...contiguous(weights) };
    case "dh":
      return map("destination-hash", servers.map((_, i) => i));
    case "mh":
      return map("source-hash", maglev(servers));
    case "fo":
      return { kind: "one", real: weights.indexOf(Math.max(...weights)) };
  }
}
