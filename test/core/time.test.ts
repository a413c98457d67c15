import { expect, test } from "bun:test";
import { DeadlineTimer, type Clock } from "../../core/time.ts";
import { EngineLoop } from "../../core/engine-loop.ts";

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

/** An engine that asks for a tick at 100 and records its inputs, as a loop with `readFirstWhenLateMs` (or none) runs it. */
function recordingLoop(c: ReturnType<typeof manualClock>, readFirstWhenLateMs?: number) {
  const inputs: string[] = [];
  const loop = new EngineLoop<number, string, never>(c.clock, 0, {
    step: (n, input) => {
      inputs.push(`${input}@${c.clock.now()}`);
      return { state: input === "tick" ? n + 1 : n, effects: [] };
    },
    nextDeadline: (n) => (n === 0 ? 100 : null),
    tick: () => "tick",
    perform: () => {},
    readFirstWhenLateMs,
  });
  loop.feed("start");
  return { loop, inputs };
}

test("a late tick waits one turn of the loop, so what arrived meanwhile is fed first; an early one and a loop without the limit do not", () => {
  const late = manualClock();
  const r = recordingLoop(late, 5);
  late.advance(130);
  expect(r.inputs).toEqual(["start@0"]);
  r.loop.feed("frame");
  late.advance(130);
  expect(r.inputs).toEqual(["start@0", "frame@130", "tick@130"]);

  const onTime = manualClock();
  const o = recordingLoop(onTime, 5);
  onTime.advance(104);
  expect(o.inputs).toEqual(["start@0", "tick@104"]);

  const without = manualClock();
  const w = recordingLoop(without);
  without.advance(130);
  expect(w.inputs).toEqual(["start@0", "tick@130"]);
});
