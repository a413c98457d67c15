/**
 * Time as an input. Engines never read the clock: shells read it from a Clock
 * and pass `now` in. The real clock is monotonic (performance.now based) for
 * timers and durations; wall time is only for logs and event stamps.
 */
export type Cancel = () => void;

export interface Clock {
  /** Monotonic milliseconds; never goes backwards. */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for humans only. */
  wall(): number;
  /** Run `fn` once after `ms`; the returned function cancels it. */
  after(ms: number, fn: () => void): Cancel;
}

export const realClock: Clock = {
  now: () => performance.now(),
  wall: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    return () => clearTimeout(t);
  },
};

/**
 * One timer at an engine's next deadline, as every shell keeps one: `set` it
 * after each step; it is re-armed only when the deadline moved (most inputs
 * leave it where it was), and `fire` runs once at the deadline.
 */
export class DeadlineTimer {
  private cancel: Cancel | null = null;
  private armedAt: number | null = null;

  constructor(
    private readonly clock: Clock,
    /** Called with the deadline it was armed for. */
    private readonly fire: (at: number) => void,
  ) {}

  set(at: number | null): void {
    if (at === this.armedAt) return;
    this.clear();
    if (at === null) return;
    this.armedAt = at;
    this.cancel = this.clock.after(at - this.clock.now(), () => {
      this.cancel = null;
      this.armedAt = null;
      this.fire(at);
    });
  }

  clear(): void {
    this.cancel?.();
    this.cancel = null;
    this.armedAt = null;
  }
}
