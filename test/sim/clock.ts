/**
 * Virtual time for the simulator. Timers sit in a binary heap ordered by
 * (due time, insertion sequence), so two timers due at the same instant fire
 * in the order they were set, on every run. Nothing here reads real time.
 */
import type { Cancel, Clock } from "../../core/time.ts";

/** A wall-clock origin for virtual time zero: 2024-01-01T00:00:00Z. */
const WALL_ORIGIN = Date.UTC(2024, 0, 1);

/**
 * How many timers may fire at one virtual instant before the clock calls it a
 * livelock (a timer that keeps setting zero-delay timers would otherwise hang
 * the test instead of failing it).
 */
export const MAX_FIRINGS_PER_INSTANT = 100_000;

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  owner: string | null;
  live: boolean;
}

export class SimClock implements Clock {
  private time = 0;
  private seq = 0;
  private heap: Timer[] = [];
  private live = 0;
  private byOwner = new Map<string, Set<Timer>>();

  now(): number {
    return this.time;
  }

  wall(): number {
    return WALL_ORIGIN + this.time;
  }

  after(ms: number, fn: () => void): Cancel {
    return this.schedule(ms, fn, null);
  }

  /** A view of this clock whose timers belong to `owner`, so that `cancelOwned(owner)` cancels them all. */
  owned(owner: string): Clock {
    return {
      now: () => this.now(),
      wall: () => this.wall(),
      after: (ms, fn) => this.schedule(ms, fn, owner),
    };
  }

  /** Cancel every pending timer of `owner`; returns how many there were. */
  cancelOwned(owner: string): number {
    const timers = this.byOwner.get(owner);
    if (!timers) return 0;
    this.byOwner.delete(owner);
    for (const t of timers) this.release(t);
    return timers.size;
  }

  /** Timers set and not yet fired or cancelled. */
  pending(): number {
    return this.live;
  }

  /** When the next live timer is due, or null if none is. */
  nextAt(): number | null {
    this.dropDead();
    return this.heap[0]?.at ?? null;
  }

  /** Fire, in order, every timer due at or before `time`, then leave the clock at `time`. */
  runUntil(time: number): void {
    if (!(time >= this.time)) throw new Error(`runUntil(${time}): time is ${this.time} and never goes back`);
    let instant = this.time;
    let firings = 0;
    for (;;) {
      this.dropDead();
      const t = this.heap[0];
      if (t === undefined || t.at > time) break;
      this.pop();
      this.release(t);
      if (t.at !== instant) {
        instant = t.at;
        firings = 0;
      }
      if (++firings > MAX_FIRINGS_PER_INSTANT) {
        throw new Error(`livelock: more than ${MAX_FIRINGS_PER_INSTANT} timers fired at t=${instant}`);
      }
      this.time = t.at;
      t.fn();
    }
    this.time = time;
  }

  /** Fire the next live timer if it is due at or before `limit`; false (time unchanged) if none is. */
  fireNext(limit: number): boolean {
    this.dropDead();
    const t = this.heap[0];
    if (t === undefined || t.at > limit) return false;
    this.pop();
    this.release(t);
    this.time = t.at;
    t.fn();
    return true;
  }

  advance(ms: number): void {
    this.runUntil(this.time + ms);
  }

  /** Run until no timer is left, but not past `limit` (a bound, so that a periodic timer cannot run forever). */
  runAll(limit: number): void {
    for (;;) {
      const at = this.nextAt();
      if (at === null || at > limit) return;
      this.runUntil(at);
    }
  }

  private schedule(ms: number, fn: () => void, owner: string | null): Cancel {
    if (!Number.isFinite(ms)) throw new Error(`timer delay must be a finite number, got ${ms}`);
    const t: Timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, owner, live: true };
    this.push(t);
    this.live++;
    if (owner !== null) {
      let set = this.byOwner.get(owner);
      if (!set) this.byOwner.set(owner, (set = new Set()));
      set.add(t);
    }
    return () => this.release(t);
  }

  /** A timer that fired or was cancelled is no longer live nor held against its owner. */
  private release(t: Timer): void {
    if (t.live) {
      t.live = false;
      this.live--;
    }
    if (t.owner !== null) this.byOwner.get(t.owner)?.delete(t);
  }

  private dropDead(): void {
    while (this.heap[0] !== undefined && !this.heap[0].live) this.pop();
  }

  private static before(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(t: Timer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!SimClock.before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && SimClock.before(h[l]!, h[m]!)) m = l;
      if (r < h.length && SimClock.before(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
