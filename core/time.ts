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
