import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ReplayGuard, REPLAY_WINDOW, type Admission, type Stamp } from "../../../modules/heartbeat/replay.ts";

const INCARNATION = 1_763_800_000_000;

function stamp(seq: number, change: Partial<Stamp> = {}): Stamp {
  return { sender: "bravo", incarnation: INCARNATION, link: 0, seq, ...change };
}

function verdict(a: Admission): string {
  return a.ok ? (a.restart ? "restart" : "ok") : a.reason;
}

function run(guard: ReplayGuard, stamps: Stamp[]): string[] {
  return stamps.map((s) => verdict(guard.admit(s)));
}

const guard = () => new ReplayGuard(["alpha", "bravo"]);

describe("replay guard started from kept floors (the highest incarnations an earlier run heard)", () => {
  const floored = () => new ReplayGuard(["alpha", "bravo"], new Map([["bravo", INCARNATION], ["zulu", 5]]));

  test("an older process of the peer is stale from the first frame", () => {
    expect(run(floored(), [stamp(1, { incarnation: INCARNATION - 1 })])).toEqual(["stale-incarnation"]);
  });

  test("the kept process itself is admitted, as the first frame heard (not a restart), and its window works", () => {
    expect(run(floored(), [stamp(7), stamp(8), stamp(7)])).toEqual(["ok", "ok", "replay"]);
  });

  test("a newer process: admitted, and not a restart (this process heard none of the peer's before)", () => {
    const g = floored();
    expect(run(g, [stamp(1, { incarnation: INCARNATION + 1 }), stamp(1, { incarnation: INCARNATION + 2 })])).toEqual(["ok", "restart"]);
  });

  test("a floor for a node outside the node list is not kept", () => {
    expect(run(floored(), [stamp(1, { sender: "zulu" })])).toEqual(["unknown-node"]);
  });
});

describe("replay guard", () => {
  test("in order: every frame admitted once", () => {
    const g = guard();
    expect(run(g, [1, 2, 3, 4].map((n) => stamp(n)))).toEqual(["ok", "ok", "ok", "ok"]);
  });

  test("the first frame heard may carry any seq", () => {
    expect(verdict(guard().admit(stamp(9_000_000_000)))).toBe("ok");
  });

  test("reordered within the window: admitted", () => {
    const g = guard();
    expect(run(g, [10, 7, 9, 8, 11].map((n) => stamp(n)))).toEqual(["ok", "ok", "ok", "ok", "ok"]);
  });

  test("duplicates: a second copy is a replay, newest or older", () => {
    const g = guard();
    expect(run(g, [5, 5, 3, 3, 6, 5].map((n) => stamp(n)))).toEqual(["ok", "replay", "ok", "replay", "ok", "replay"]);
  });

  test("below the window: too old, even if never seen", () => {
    const g = guard();
    const top = 1000;
    expect(run(g, [stamp(top), stamp(top - REPLAY_WINDOW + 1), stamp(top - REPLAY_WINDOW), stamp(0)])).toEqual(["ok", "ok", "too-old", "too-old"]);
  });

  test("the window slides: what it leaves is too old, what it keeps is remembered", () => {
    const g = guard();
    expect(run(g, [100, 90, 150, 90, 160, 90, 100, 99].map((n) => stamp(n)))).toEqual(["ok", "ok", "ok", "replay", "ok", "too-old", "replay", "ok"]);
  });

  test("a jump of a whole window or more remembers only the new seq", () => {
    const g = guard();
    const jump = 11 + REPLAY_WINDOW;
    expect(run(g, [10, 11, jump, 12, 11].map((n) => stamp(n)))).toEqual(["ok", "ok", "ok", "ok", "too-old"]);
  });

  test("a jump to the top of the seq range costs nothing", () => {
    const g = guard();
    const top = Number.MAX_SAFE_INTEGER;
    expect(run(g, [0, top, top - 1, top].map((n) => stamp(n)))).toEqual(["ok", "ok", "ok", "replay"]);
  });

  test("a higher incarnation is a restart: windows start again", () => {
    const g = guard();
    const next = INCARNATION + 5000;
    expect(run(g, [stamp(500), stamp(1, { incarnation: next }), stamp(2, { incarnation: next }), stamp(1, { incarnation: next })])).toEqual(["ok", "restart", "ok", "replay"]);
  });

  test("a restart resets the sender's other links too", () => {
    const g = guard();
    const next = INCARNATION + 1;
    expect(run(g, [stamp(500, { link: 1 }), stamp(1, { incarnation: next }), stamp(1, { incarnation: next, link: 1 })])).toEqual(["ok", "restart", "ok"]);
  });

  test("a lower incarnation is stale, whatever its seq", () => {
    const g = guard();
    expect(run(g, [stamp(1), stamp(2, { incarnation: INCARNATION - 1 }), stamp(5000, { incarnation: 0 }), stamp(2)])).toEqual(["ok", "stale-incarnation", "stale-incarnation", "ok"]);
  });

  test("links are independent", () => {
    const g = guard();
    expect(run(g, [stamp(1000, { link: 0 }), stamp(1, { link: 1 }), stamp(1, { link: 0 }), stamp(1000, { link: 7 }), stamp(1, { link: 1 })])).toEqual([
      "ok",
      "ok",
      "too-old",
      "ok",
      "replay",
    ]);
  });

  test("senders are independent", () => {
    const g = guard();
    expect(run(g, [stamp(7), stamp(7, { sender: "alpha" }), stamp(7), stamp(8, { sender: "alpha" })])).toEqual(["ok", "ok", "replay", "ok"]);
  });

  test("a sender outside the node list is refused and not remembered", () => {
    const g = guard();
    expect(run(g, [stamp(1, { sender: "mallory" }), stamp(1, { sender: "mallory" })])).toEqual(["unknown-node", "unknown-node"]);
  });

  test("a link index beyond the limit is a programming error", () => {
    expect(() => guard().admit(stamp(1, { link: 8 }))).toThrow(RangeError);
  });

  const interleaving = fc
    .array(fc.record({ link: fc.integer({ min: 0, max: 2 }), seq: fc.integer({ min: 0, max: 150 }) }), { maxLength: 300 })
    .chain((unique) => fc.shuffledSubarray([...unique, ...unique, ...unique], { minLength: unique.length }));

  test("property: a shuffled sequence with duplicates admits each (link, seq) at most once", () => {
    fc.assert(
      fc.property(interleaving, (arrivals) => {
        const g = guard();
        const admitted = new Set<string>();
        for (const { link, seq } of arrivals) {
          if (!g.admit(stamp(seq, { link })).ok) continue;
          const key = `${link}/${seq}`;
          expect(admitted.has(key)).toBe(false);
          admitted.add(key);
        }
      }),
      { numRuns: 500 },
    );
  });

  test("property: the bitmap window agrees with a model that remembers every seq", () => {
    fc.assert(
      fc.property(interleaving, (arrivals) => {
        const g = guard();
        const highest = new Map<number, number>();
        const seen = new Set<string>();
        for (const { link, seq } of arrivals) {
          const top = highest.get(link);
          const key = `${link}/${seq}`;
          const expected = top === undefined || seq > top ? "ok" : top - seq >= REPLAY_WINDOW ? "too-old" : seen.has(key) ? "replay" : "ok";
          expect(verdict(g.admit(stamp(seq, { link })))).toBe(expected);
          if (expected === "ok") {
            seen.add(key);
            highest.set(link, Math.max(top ?? seq, seq));
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
