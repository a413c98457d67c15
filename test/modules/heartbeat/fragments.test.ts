import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { FRAGMENT_HEADER_BYTES, MAX_FRAGMENTS, MAX_OPEN, Reassembly, fragment } from "../../../modules/heartbeat/fragments.ts";
import { REPLAY_WINDOW } from "../../../modules/heartbeat/replay.ts";

const CHUNK = 100;
const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe("app message fragments", () => {
  test("a message of any size up to the bound comes back whole, from fragments shuffled and each sent on two links", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_FRAGMENTS * (CHUNK - FRAGMENT_HEADER_BYTES) }), fc.integer({ min: 0, max: 1000 }), (size, seed) => {
        const data = bytes(size, seed);
        const parts = fragment(7, data, CHUNK);
        const sent = [...parts, ...parts].map((p, i) => ({ p, k: (i * 7919 + seed) % 101 })).sort((a, b) => a.k - b.k);
        const r = new Reassembly();
        const delivered = sent.map(({ p }) => r.accept("alpha/1", 1, p)).filter((x) => x instanceof Uint8Array);
        expect(delivered).toEqual([data]);
      }),
      { numRuns: 300 },
    );
  });

  test("messages arriving out of order, each on two links, are each delivered once: one overtaken by a later one is not lost", () => {
    // Pair seed 271 of the resources sim (before this fix): the DC's transition (id 1) and report (id 2), sent together
    // on both links and resent together every second, arrived report first on each try, and the transition never did.
    const r = new Reassembly();
    const transition = fragment(1, bytes(40, 1), CHUNK)[0]!;
    const report = fragment(2, bytes(60, 2), CHUNK)[0]!;
    const arrived = [report, transition, report, transition].map((f) => r.accept("alpha/1", 1, f));
    expect(arrived).toEqual([bytes(60, 2), bytes(40, 1), undefined, undefined]);
  });

  test("fragments of messages in progress interleave; an id delivered, or REPLAY_WINDOW or more below the newest delivered, is dropped", () => {
    const r = new Reassembly();
    const old = fragment(1, bytes(250), CHUNK);
    const fresh = fragment(2, bytes(150, 9), CHUNK);
    expect(r.accept("k", 1, old[0]!)).toBeUndefined();
    expect(r.accept("k", 1, fresh[0]!)).toBeUndefined();
    expect(r.accept("k", 1, old[1]!)).toBeUndefined();
    expect(r.accept("k", 1, fresh[1]!)).toEqual(bytes(150, 9));
    expect(r.accept("k", 1, old[2]!)).toEqual(bytes(250));
    expect(r.accept("k", 1, fragment(2, bytes(10), CHUNK)[0]!)).toBeUndefined();
    expect(r.accept("k", 1, fragment(2 + REPLAY_WINDOW, bytes(10), CHUNK)[0]!)).toEqual(bytes(10));
    expect(r.accept("k", 1, fragment(2, bytes(20), CHUNK)[0]!)).toBeUndefined();
    expect(r.accept("k", 1, fragment(3, bytes(20), CHUNK)[0]!)).toEqual(bytes(20));
  });

  test("at most MAX_OPEN messages in progress per sender and channel: a newer one pushes out the oldest, an older one is dropped", () => {
    const r = new Reassembly();
    const messages = Array.from({ length: MAX_OPEN + 2 }, (_, i) => fragment(10 + i, bytes(150, i), CHUNK));
    for (const m of messages.slice(1)) expect(r.accept("k", 1, m[0]!)).toBeUndefined();
    expect(r.accept("k", 1, messages[0]![0]!)).toBeUndefined();
    expect(r.accept("k", 1, messages[0]![1]!)).toBeUndefined();
    expect(r.accept("k", 1, messages[1]![1]!)).toBeUndefined();
    for (const [i, m] of messages.entries()) if (i >= 2) expect(r.accept("k", 1, m[1]!)).toEqual(bytes(150, i));
  });

  test("a new process of the sender starts its ids again", () => {
    const r = new Reassembly();
    expect(r.accept("k", 1, fragment(5, bytes(10), CHUNK)[0]!)).toEqual(bytes(10));
    expect(r.accept("k", 2, fragment(1, bytes(20), CHUNK)[0]!)).toEqual(bytes(20));
    expect(r.accept("k", 2, fragment(1, bytes(20), CHUNK)[0]!)).toBeUndefined();
  });

  test("malformed fragments are bad, never a crash; a message over the bound is refused when sent", () => {
    const r = new Reassembly();
    expect(r.accept("k", 1, new Uint8Array(3))).toBe("bad");
    const f = fragment(1, bytes(10), CHUNK)[0]!;
    const indexOverCount = f.slice();
    indexOverCount[4] = 3;
    expect(r.accept("k", 1, indexOverCount)).toBe("bad");
    const countZero = f.slice();
    countZero[5] = 0;
    expect(r.accept("k", 1, countZero)).toBe("bad");
    const two = fragment(9, bytes(150), CHUNK);
    expect(r.accept("k", 1, two[0]!)).toBeUndefined();
    const otherCount = two[1]!.slice();
    otherCount[5] = 3;
    expect(r.accept("k", 1, otherCount)).toBe("bad");
    expect(() => fragment(1, bytes(MAX_FRAGMENTS * (CHUNK - FRAGMENT_HEADER_BYTES) + 1), CHUNK)).toThrow(RangeError);
  });
});
