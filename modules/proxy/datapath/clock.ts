/**
 * The data path's one timer: a tick every TICK_MS reads the clock once and
 * expires whatever passed its deadline. A connection never owns a timer of
 * its own (a request would otherwise create and clear several): it sets a
 * number, `deadline`, and the tick looks. Deadlines are on the monotonic
 * clock; a timeout fires between its value and its value plus one tick.
 */

/** How often deadlines are looked at: the resolution of every data-path timeout. */
export const TICK_MS = 25;

export interface Timed {
  /** Monotonic ms when this expires; 0: no deadline now. */
  deadline: number;
  expire(): void;
}

export class Deadlines {
  private readonly live = new Set<Timed>();
  private timer: ReturnType<typeof setInterval> | null = null;

  add(t: Timed): void {
    this.live.add(t);
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
  }

  delete(t: Timed): void {
    this.live.delete(t);
    if (!this.live.size && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** A deadline `ms` from now (0 when ms is not positive: none). */
  after(ms: number): number {
    return ms > 0 ? performance.now() + ms : 0;
  }

  /** A deadline `ms` after `now`, a reading of `performance.now()` taken in the same event (one reading serves every deadline an event sets: each costs ~0.1 µs). */
  at(now: number, ms: number): number {
    return ms > 0 ? now + ms : 0;
  }

  get size(): number {
    return this.live.size;
  }

  private tick(): void {
    const now = performance.now();
    for (const t of this.live) if (t.deadline !== 0 && t.deadline <= now) t.expire();
  }
}
