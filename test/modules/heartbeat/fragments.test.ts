import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { FRAGMENT_HEADER_BYTES, MAX_FRAGMENTS, Reassembly, fragment } from "../../../modules/heartbeat/fragments.ts";

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

  test("a fragment of an older message than one done or in progress is dropped; a newer one replaces the one in progress", () => {
    const r = new Reassembly();
    const old = fragment(1, bytes(250), CHUNK);
    const fresh = fragment(2, bytes(150, 9), CHUNK);
    expect(r.accept("k", 1, old[0]!)).toBeUndefined();
    expect(r.accept("k", 1, fresh[0]!)).toBeUndefined();
    expect(r.accept("k", 1, old[1]!)).toBeUndefined();
    expect(r.accept("k", 1, old[2]!)).toBeUndefined();
    expect(r.accept("k", 1, fresh[1]!)).toEqual(bytes(150, 9));
    expect(r.accept("k", 1, fragment(2, bytes(10), CHUNK)[0]!)).toBeUndefined();
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
