/** The watchdog's engine: pets at a fifth of the timeout, withholds without quorum while holding exclusive resources, magic close only when petting. */
import { describe, expect, test } from "bun:test";
import { initialState, nextDeadline, PETS_PER_TIMEOUT, step, type Effect, type Input, type State } from "../../../modules/watchdog/engine.ts";

const T = 10_000;
const P = T / PETS_PER_TIMEOUT;

function run(inputs: Input[], s: State = initialState({ device: "/dev/watchdog", timeoutMs: T })): { s: State; fx: Effect[][] } {
  const fx: Effect[][] = [];
  for (const i of inputs) {
    const r = step(s, i);
    s = r.state;
    fx.push(r.effects);
  }
  return { s, fx };
}
const kinds = (fx: Effect[]) => fx.map((e) => (e.type === "event" ? e.event : e.type === "close" ? `close${e.magic ? " magic" : ""}` : e.type));
const tick = (now: number, quorate: boolean, holdsExclusive: boolean): Input => ({ type: "tick", now, quorate, holdsExclusive });

describe("watchdog engine", () => {
  test("armed: pets at once and then every timeout / PETS_PER_TIMEOUT while quorate", () => {
    const { s, fx } = run([{ type: "armed", now: 0, timeoutMs: T }, tick(P, true, true), tick(2 * P, true, false)]);
    expect(kinds(fx[0]!)).toEqual(["pet", "watchdog.armed"]);
    expect(kinds(fx[1]!)).toEqual(["pet"]);
    expect(kinds(fx[2]!)).toEqual(["pet"]);
    expect(nextDeadline(s)).toBe(3 * P);
  });

  test("the driver's timeout is the one kept (it may round the one asked)", () => {
    const { s } = run([{ type: "armed", now: 0, timeoutMs: 15_000 }]);
    expect(s.timeoutMs).toBe(15_000);
    expect(nextDeadline(s)).toBe(15_000 / PETS_PER_TIMEOUT);
  });

  test("without quorum but holding nothing exclusive it keeps petting", () => {
    const { fx } = run([{ type: "armed", now: 0, timeoutMs: T }, tick(P, false, false)]);
    expect(kinds(fx[1]!)).toEqual(["pet"]);
  });

  test("without quorum while holding exclusive resources it withholds, still ticking; it resumes once they are stopped", () => {
    const { s, fx } = run([{ type: "armed", now: 0, timeoutMs: T }, tick(P, false, true), tick(2 * P, false, true), tick(3 * P, false, false)]);
    expect(fx[1]).toEqual([{ type: "event", event: "watchdog.pets", data: { result: "withheld", reason: "no quorum while holding exclusive resources", resetInMs: T - P } }]);
    expect(fx[2]).toEqual([]);
    expect(kinds(fx[3]!)).toEqual(["watchdog.pets", "pet"]);
    expect(s.withheld).toBeNull();
    expect(s.lastPetAt).toBe(3 * P);
  });

  test("a tick later than the timeout (the loop was starved) is reported", () => {
    const { fx } = run([{ type: "armed", now: 0, timeoutMs: T }, tick(T + 1, true, false)]);
    expect(fx[1]).toContainEqual({ type: "event", event: "watchdog.late", data: { sinceLastPetMs: T + 1, timeoutMs: T } });
  });

  test("a clean stop closes with the magic 'V'; a stop while withholding leaves the timer running", () => {
    const clean = run([{ type: "armed", now: 0, timeoutMs: T }, { type: "stop", now: 1 }]);
    expect(kinds(clean.fx[1]!)).toEqual(["close magic", "watchdog.closed"]);
    expect(nextDeadline(clean.s)).toBeNull();
    const held = run([{ type: "armed", now: 0, timeoutMs: T }, tick(P, false, true), { type: "stop", now: P + 1 }]);
    expect(kinds(held.fx[2]!)).toEqual(["close", "watchdog.closed"]);
  });

  test("nothing happens before it is armed or after it is closed", () => {
    const { fx, s } = run([tick(0, true, false), { type: "stop", now: 1 }, { type: "armed", now: 2, timeoutMs: T }, tick(3, true, false)]);
    expect(fx.flat()).toEqual([]);
    expect(s.phase).toBe("closed");
  });

  test("a reload's new timeout re-arms it with a pet and the new pace", () => {
    const { s, fx } = run([{ type: "armed", now: 0, timeoutMs: T }, { type: "armed", now: 100, timeoutMs: 2 * T }]);
    expect(kinds(fx[1]!)).toEqual(["pet", "watchdog.armed"]);
    expect(nextDeadline(s)).toBe(100 + (2 * T) / PETS_PER_TIMEOUT);
  });
});
