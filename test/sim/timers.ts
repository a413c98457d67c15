/**
 * The heartbeat timers and links the simulations draw from: timers at the
 * scale of the defaults, and a fast set; two links.
 */
export interface Timers {
  intervalMs: number;
  warntimeMs: number;
  deadtimeMs: number;
  initdeadMs: number;
}

export const NORMAL: Timers = { intervalMs: 100, warntimeMs: 250, deadtimeMs: 500, initdeadMs: 1000 };
export const FAST: Timers = { intervalMs: 20, warntimeMs: 50, deadtimeMs: 80, initdeadMs: 160 };
export const LINKS = ["lan", "hb"] as const;
