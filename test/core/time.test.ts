import { expect, test } from "bun:test";
import { DeadlineTimer, type Clock } from "../../core/time.ts";

/** A clock whose timers the test fires by hand; it counts how often one was armed. */
function manualClock() {
  let now = 0;
  let armed = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let id = 0;
  const clock: Clock = {
    now: () => now,
    wall: () => now,
    after(ms, fn) {
      armed++;
      const k = ++id;
      timers.set(k, { at: now + ms, fn });
      return () => timers.delete(k);
    },
  };
  const advance = (to: number) => {
    now = to;
    for (const [k, t] of [...timers]) if (t.at <= now) (timers.delete(k), t.fn());
  };
  return { clock, advance, armed: () => armed, pending: () => timers.size };
}

test("a deadline timer is re-armed only when the deadline moves, and fires once", () => {
  const c = manualClock();
  const fired: number[] = [];
  const t = new DeadlineTimer(c.clock, () => fired.push(c.clock.now()));
  t.set(100);
  t.set(100);
  t.set(100);
  expect(c.armed()).toBe(1);
  t.set(50);
  expect(c.armed()).toBe(2);
  expect(c.pending()).toBe(1);
  c.advance(60);
  expect(fired).toEqual([60]);
  t.set(50);
  expect(c.armed()).toBe(3);
  t.set(null);
  expect(c.pending()).toBe(0);
  c.advance(200);
  expect(fired).toEqual([60]);
});
