/**
 * HAProxy's `balance` algorithms over a pool of usable servers. Each keeps
 * what it needs to pick in O(1) or O(log n) (first: O(n)) without allocating:
 * the balancer rebuilds it when the pool changes (a server up or down, a
 * weight changed) and tells it when a server's load changes.
 */
import type { Random } from "../../../core/random.ts";
import type { BackendRaw } from "../config.ts";
import { hash32 } from "./hash.ts";
import { Heap } from "./heap.ts";
import type { Server, Srv } from "./server.ts";

/** What a pick reads of a request. The caller may reuse one object for every request. */
export interface PickRequest<H> {
  /** The caller's handle for this request: what a queue gives back. */
  handle: H;
  /** The client's address: source hash and stick on source. */
  source: string;
  /** Wall-clock ms: stick-table use and queue entry time. */
  now: number;
  /** http: the request target as on the request line (path and query): uri and url_param. */
  uri?: string;
  /** http: a request header's value by lower-case name: hdr. */
  header?: (name: string) => string | undefined;
  /** http: the value of the backend's stickiness cookie, when the request has one. */
  cookie?: string;
  /** Servers already tried (retries, redispatch): the pick takes another. */
  exclude?: readonly Server[];
}

export interface Algorithm {
  /** A hash names one server for a key, full or not: the request then waits for that server. */
  readonly binds: boolean;
  rebuild(pool: readonly Srv[]): void;
  /** A server of the pool with a free slot that is not excluded (a binding algorithm: any of the pool), or none. */
  pick(req: PickRequest<unknown>): Srv | undefined;
  /** A pool server's in-flight count went up by one. */
  taken(s: Srv): void;
  /** A pool server's in-flight count went down by one. */
  released(s: Srv): void;
}

/** random: draws of two before the pick falls back to a scan (the pool is then nearly full or excluded). */
export const RANDOM_DRAWS = 4;
/** Hash ring points of a server of average config weight; a server's points are proportional to its weight. */
export const RING_POINTS = 200;
/** Points of one server at most, whatever its runtime weight. */
export const MAX_RING_POINTS = 16_384;
/** static-rr's cycle at most; longer weight cycles are scaled down to it. */
export const STATIC_RR_MAX_CYCLE = 1 << 16;

const excluded = (s: Srv, ex: readonly Server[] | undefined): boolean => ex !== undefined && ex.length > 0 && ex.includes(s);

/** The heap's top that is not excluded (the excluded ones are set aside and put back). */
function top(heap: Heap<Srv>, ex: readonly Server[] | undefined): Srv | undefined {
  let s = heap.peek();
  if (s === undefined || !excluded(s, ex)) return s;
  const aside: Srv[] = [];
  while (s !== undefined && excluded(s, ex)) {
    heap.remove(s);
    aside.push(s);
    s = heap.peek();
  }
  for (const a of aside) heap.push(a);
  return s;
}

/**
 * Smooth weighted turns (stride scheduling): a server's k-th turn of a cycle
 * stands at (2k+1)/(2·weight), the earliest turn goes next, equal turns in
 * config order. Over any cycle of sum(weights) picks each server gets exactly
 * its weight, spread out: 5:1:1 gives a a a b c a a.
 */
interface Turns {
  turns: number;
  weight: number;
  order: number;
}

const turnBefore = (a: Turns, b: Turns): boolean => {
  const x = (2 * a.turns + 1) * b.weight;
  const y = (2 * b.turns + 1) * a.weight;
  return x < y || (x === y && a.order < b.order);
};

/** roundrobin: smooth weighted round robin, weights changeable at runtime; a full server sits out until a slot frees. */
export class RoundRobin implements Algorithm {
  readonly binds: boolean = false;
  private readonly heap = new Heap<Srv>(turnBefore);
  /** Where the last pick stood in the cycle, so a server back from full resumes there (no burst). */
  private position = 0;

  rebuild(pool: readonly Srv[]): void {
    this.heap.clear();
    this.position = 0;
    for (const s of pool) {
      s.turns = 0;
      if (s.free) this.heap.push(s);
    }
  }

  pick(req: PickRequest<unknown>): Srv | undefined {
    const s = top(this.heap, req.exclude);
    if (s === undefined) return undefined;
    this.position = (2 * s.turns + 1) / (2 * s.weight);
    s.turns++;
    this.heap.update(s);
    return s;
  }

  taken(s: Srv): void {
    if (!s.free) this.heap.remove(s);
  }

  released(s: Srv): void {
    if (s.heapIndex >= 0 || !s.free) return;
    s.turns = Math.max(s.turns, Math.floor(this.position * s.weight - 0.5) + 1);
    this.heap.push(s);
  }
}

/** leastconn: fewest (in flight + 1) / weight; equal loads go to the one picked longest ago, so they take turns. */
const loadBefore = (a: Srv, b: Srv): boolean => {
  const x = (a.inflight + 1) * b.weight;
  const y = (b.inflight + 1) * a.weight;
  return x < y || (x === y && (a.lastPick < b.lastPick || (a.lastPick === b.lastPick && a.order < b.order)));
};

export class LeastConn implements Algorithm {
  readonly binds = false;
  private readonly heap = new Heap<Srv>(loadBefore);
  private picks = 0;

  rebuild(pool: readonly Srv[]): void {
    this.heap.clear();
    for (const s of pool) if (s.free) this.heap.push(s);
  }

  pick(req: PickRequest<unknown>): Srv | undefined {
    const s = top(this.heap, req.exclude);
    if (s !== undefined) s.lastPick = ++this.picks;
    return s;
  }

  taken(s: Srv): void {
    if (s.free) this.heap.update(s);
    else this.heap.remove(s);
  }

  released(s: Srv): void {
    if (s.heapIndex >= 0) this.heap.update(s);
    else if (s.free) this.heap.push(s);
  }
}

/** static-rr: HAProxy's static round robin: the config weights' smooth cycle, computed once per pool; runtime weights only count as zero or not. */
export class StaticRoundRobin implements Algorithm {
  readonly binds = false;
  private cycle: Srv[] = [];
  private cursor = 0;

  rebuild(pool: readonly Srv[]): void {
    const total = pool.reduce((a, s) => a + s.configWeight, 0);
    const scale = total > STATIC_RR_MAX_CYCLE ? STATIC_RR_MAX_CYCLE / total : 1;
    const turns = pool.map((s) => ({ s, weight: Math.max(1, Math.round(s.configWeight * scale)), order: s.order, turns: 0, heapIndex: -1 }));
    const heap = new Heap<(typeof turns)[number]>(turnBefore);
    for (const t of turns) heap.push(t);
    const length = turns.reduce((a, t) => a + t.weight, 0);
    this.cycle = [];
    for (let i = 0; i < length; i++) {
      const t = heap.peek()!;
      this.cycle.push(t.s);
      t.turns++;
      heap.update(t);
    }
    this.cursor = 0;
  }

  pick(req: PickRequest<unknown>): Srv | undefined {
    const cycle = this.cycle;
    for (let n = 0; n < cycle.length; n++) {
      const s = cycle[this.cursor]!;
      this.cursor = this.cursor + 1 === cycle.length ? 0 : this.cursor + 1;
      if (s.free && !excluded(s, req.exclude)) return s;
    }
    return undefined;
  }

  taken(): void {}
  released(): void {}
}

/** first: the first server in config order with a free slot (fill one server to maxconn, then the next). */
export class First implements Algorithm {
  readonly binds = false;
  private pool: readonly Srv[] = [];

  rebuild(pool: readonly Srv[]): void {
    this.pool = pool;
  }

  pick(req: PickRequest<unknown>): Srv | undefined {
    for (const s of this.pool) if (s.free && !excluded(s, req.exclude)) return s;
    return undefined;
  }

  taken(): void {}
  released(): void {}
}

/** random: two servers drawn with probability proportional to weight, the less loaded (in flight / weight) taken, the first drawn on a tie (HAProxy's random(2)): idle servers get requests in proportion to weight. */
export class RandomTwo implements Algorithm {
  readonly binds = false;
  private pool: readonly Srv[] = [];
  /** Cumulative weights: a draw is a binary search. */
  private cumulative = new Float64Array(0);

  constructor(private readonly random: Random) {}

  rebuild(pool: readonly Srv[]): void {
    this.pool = pool;
    this.cumulative = new Float64Array(pool.length);
    let sum = 0;
    pool.forEach((s, i) => (this.cumulative[i] = sum += s.weight));
  }

  pick(req: PickRequest<unknown>): Srv | undefined {
    const ex = req.exclude;
    for (let n = 0; n < RANDOM_DRAWS; n++) {
      const a = this.draw();
      const b = this.draw();
      const aOk = a.free && !excluded(a, ex);
      const bOk = b.free && !excluded(b, ex);
      if (aOk && bOk) return a.inflight * b.weight <= b.inflight * a.weight ? a : b;
      if (aOk) return a;
      if (bOk) return b;
    }
    const pool = this.pool;
    const start = this.random.int(pool.length);
    for (let n = 0; n < pool.length; n++) {
      const s = pool[(start + n) % pool.length]!;
      if (s.free && !excluded(s, ex)) return s;
    }
    return undefined;
  }

  private draw(): Srv {
    const c = this.cumulative;
    return this.pool[firstAbove(c, this.random.next() * c[c.length - 1]!)]!;
  }

  taken(): void {}
  released(): void {}
}

/**
 * A consistent hash ring: each server holds points proportional to its
 * weight (hashes of its key and the point's number), a key goes to the
 * owner of the first point at or after its hash. A server that leaves takes
 * only its own keys with it (they spread over the others), and one that
 * comes back gets exactly those keys back.
 */
export class Ring {
  private hashes = new Uint32Array(0);
  private owners: Srv[] = [];

  /** `scale`: points per unit of weight. */
  build(pool: readonly Srv[], scale: number): void {
    const points = pool.map((s) => Math.min(MAX_RING_POINTS, Math.max(1, Math.round(s.weight * scale))));
    const keyed = new Float64Array(points.reduce((a, b) => a + b, 0));
    let k = 0;
    pool.forEach((s, i) => {
      for (let p = 0; p < points[i]!; p++) keyed[k++] = hash32(`${s.key}#${p}`) * POOL_SLOTS + i;
    });
    keyed.sort();
    this.hashes = new Uint32Array(keyed.length);
    this.owners = new Array<Srv>(keyed.length);
    keyed.forEach((v, j) => {
      this.hashes[j] = Math.floor(v / POOL_SLOTS);
      this.owners[j] = pool[v % POOL_SLOTS]!;
    });
  }

  /** The owner of hash h, skipping excluded servers; undefined when the ring is empty or all are excluded. */
  lookup(h: number, ex: readonly Server[] | undefined): Srv | undefined {
    const hashes = this.hashes;
    const n = hashes.length;
    if (n === 0) return undefined;
    const lo = firstAbove(hashes, h - 1);
    for (let step = 0; step < n; step++) {
      const s = this.owners[(lo + step) % n]!;
      if (!excluded(s, ex)) return s;
    }
    return undefined;
  }
}

/** The first index whose value is above x in ascending values (values.length when none is). */
function firstAbove(values: Float64Array | Uint32Array, x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Servers of a pool a ring can tell apart (the low bits of a point's sort key). */
const POOL_SLOTS = 1 << 20;
const EQUALS = 61;

/** The hash of what `balance` names in the request, or -1 when it is missing (HAProxy then balances round robin). */
function keyHash(balance: string, name: string, req: PickRequest<unknown>): number {
  if (balance === "source") return hash32(req.source);
  if (balance === "hdr") {
    const v = req.header?.(name);
    return v ? hash32(v) : -1;
  }
  const uri = req.uri;
  if (uri === undefined) return -1;
  const q = uri.indexOf("?");
  if (balance === "uri") return hash32(uri, 0, q < 0 ? uri.length : q);
  if (q < 0) return -1;
  for (let i = q + 1; i < uri.length; ) {
    let end = uri.indexOf("&", i);
    if (end < 0) end = uri.length;
    const v = i + name.length;
    if (v < end && uri.charCodeAt(v) === EQUALS && uri.startsWith(name, i)) return v + 1 < end ? hash32(uri, v + 1, end) : -1;
    i = end + 1;
  }
  return -1;
}

/** source, uri, url_param, hdr: a consistent hash of the key; a request without the key goes round robin. */
export class ConsistentHash implements Algorithm {
  readonly binds = true;
  private readonly ring = new Ring();
  private readonly fallback = new RoundRobin();
  private readonly name: string;

  /** `scale`: ring points per unit of weight, fixed by the config weights so a runtime change moves only that server's keys. */
  constructor(
    private readonly balance: "source" | "uri" | "url_param" | "hdr",
    hashKey: string | undefined,
    private readonly scale: number,
  ) {
    this.name = balance === "hdr" ? (hashKey ?? "").toLowerCase() : (hashKey ?? "");
  }

  rebuild(pool: readonly Srv[]): void {
    this.fallback.rebuild(pool);
    this.ring.build(pool, this.scale);
  }

  pick(req: PickRequest<unknown>): Srv | undefined {
    const h = keyHash(this.balance, this.name, req);
    return h < 0 ? this.fallback.pick(req) : this.ring.lookup(h, req.exclude);
  }

  taken(s: Srv): void {
    this.fallback.taken(s);
  }

  released(s: Srv): void {
    this.fallback.released(s);
  }
}

/** Ring points per unit of weight for servers of these config weights: RING_POINTS for a server of average weight. */
export function ringScale(weights: readonly number[]): number {
  const positive = weights.filter((w) => w > 0);
  const mean = positive.length ? positive.reduce((a, b) => a + b, 0) / positive.length : 1;
  return RING_POINTS / mean;
}

export function makeAlgorithm(config: Pick<BackendRaw, "balance" | "hash_key">, weights: readonly number[], random: Random): Algorithm {
  switch (config.balance) {
    case "roundrobin":
      return new RoundRobin();
    case "static-rr":
      return new StaticRoundRobin();
    case "leastconn":
      return new LeastConn();
    case "first":
      return new First();
    case "random":
      return new RandomTwo(random);
    case "source":
    case "uri":
    case "url_param":
    case "hdr":
      return new ConsistentHash(config.balance, config.hash_key, ringScale(weights));
  }
}
