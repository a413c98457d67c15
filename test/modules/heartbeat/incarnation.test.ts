/** This start's incarnation from the clock and the one kept by the last start (pure). */
import { describe, expect, test } from "bun:test";
import { newKey } from "../../../core/crypto/keyfile.ts";
import { decodeFrame, encodeFrame } from "../../../modules/heartbeat/envelope.ts";
import { MAX_INCARNATION, keptDeadtime, keptPeers, nextIncarnation } from "../../../modules/heartbeat/incarnation.ts";

/** 2025-11-22 08:26:40.123 UTC with the random tail 456. */
const NOW = 1_763_800_000_123_456;
const HOUR = 3_600_000 * 1000;

describe("nextIncarnation", () => {
  test("nothing kept (no state dir, or a first start): the time-based one, as without a state dir", () => {
    expect(nextIncarnation(NOW, undefined)).toEqual({ incarnation: NOW, problem: null });
  });

  test("kept older than the clock: the time-based one", () => {
    expect(nextIncarnation(NOW, { incarnation: NOW - HOUR })).toEqual({ incarnation: NOW, problem: null });
    expect(nextIncarnation(NOW, { incarnation: NOW - 1 })).toEqual({ incarnation: NOW, problem: null });
  });

  test("kept not older than the clock (it went back past the last start): one more than the kept one", () => {
    expect(nextIncarnation(NOW - HOUR, { incarnation: NOW })).toEqual({ incarnation: NOW + 1, problem: null });
    expect(nextIncarnation(NOW, { incarnation: NOW })).toEqual({ incarnation: NOW + 1, problem: null });
    expect(nextIncarnation(0, { incarnation: 1 })).toEqual({ incarnation: 2, problem: null });
  });

  test("restarts with the clock stuck or going back still rise, one at a time", () => {
    let kept: unknown;
    const seen: number[] = [];
    for (const timeBased of [NOW, NOW - HOUR, NOW - HOUR, NOW - 2 * HOUR]) {
      const { incarnation } = nextIncarnation(timeBased, kept);
      seen.push(incarnation);
      kept = { incarnation };
    }
    expect(seen).toEqual([NOW, NOW + 1, NOW + 2, NOW + 3]);
  });

  test("a kept value that is not a whole number from 1 to MAX_INCARNATION - 1 is ignored with the reason: the time-based one", () => {
    const cases: Array<[unknown, string]> = [
      [null, "null is not { incarnation }"],
      [42, "42 is not { incarnation }"],
      [[NOW], `[${NOW}] is not { incarnation }`],
      [{}, "incarnation missing is not a whole number from 1 to 9007199254740990"],
      [{ incarnation: String(NOW) }, `incarnation "${NOW}" is not a whole number from 1 to 9007199254740990`],
      [{ incarnation: 0 }, "incarnation 0 is not a whole number from 1 to 9007199254740990"],
      [{ incarnation: -5 }, "incarnation -5 is not a whole number from 1 to 9007199254740990"],
      [{ incarnation: 1.5 }, "incarnation 1.5 is not a whole number from 1 to 9007199254740990"],
      [{ incarnation: 2 ** 53 }, "incarnation 9007199254740992 is not a whole number from 1 to 9007199254740990"],
      [{ incarnation: 1e300 }, "incarnation 1e+300 is not a whole number from 1 to 9007199254740990"],
      [{ incarnation: null }, "incarnation null is not a whole number from 1 to 9007199254740990"],
      [{ incarnation: MAX_INCARNATION }, "incarnation 9007199254740991 is the largest a frame carries: none is higher"],
    ];
    for (const [kept, problem] of cases) expect(nextIncarnation(NOW, kept)).toEqual({ incarnation: NOW, problem });
  });

  test("at the bound: a kept MAX_INCARNATION - 1 gives MAX_INCARNATION, which a frame carries; one more it does not", async () => {
    expect(MAX_INCARNATION).toBe(2 ** 53 - 1);
    const { incarnation } = nextIncarnation(NOW, { incarnation: MAX_INCARNATION - 1 });
    expect(incarnation).toBe(MAX_INCARNATION);
    const keys = { active: 1, keys: new Map([[1, await newKey()]]) };
    const frame = { cluster: "pair", sender: "alpha", incarnation, link: 0, seq: 1, payload: new Uint8Array(1) };
    const decoded = decodeFrame(encodeFrame(frame, keys, { encrypt: true }), keys, "pair");
    expect(decoded.ok && decoded.frame.incarnation).toBe(MAX_INCARNATION);
    expect(() => encodeFrame({ ...frame, incarnation: incarnation + 1 }, keys, { encrypt: true })).toThrow(RangeError);
  });
});

describe("what else the section keeps", () => {
  test("the peers' highest incarnations: valid entries of nodes still configured", () => {
    const kept = { incarnation: NOW, peers: { bravo: NOW - 1, charlie: "soon", delta: -1, echo: 1.5, gone: NOW, toString: 3 } };
    expect(keptPeers(kept, ["bravo", "charlie", "delta", "echo"])).toEqual(new Map([["bravo", NOW - 1]]));
    expect(keptPeers(kept, ["toString", "constructor"])).toEqual(new Map([["toString", 3]]));
    for (const bad of [undefined, null, 42, [], { peers: [NOW] }, { peers: null }]) expect(keptPeers(bad, ["bravo"])).toEqual(new Map());
  });

  test("the deadtime: a positive finite number of ms, else none", () => {
    expect(keptDeadtime({ incarnation: NOW, deadtimeMs: 3000 })).toBe(3000);
    for (const bad of [undefined, null, { incarnation: NOW }, { deadtimeMs: 0 }, { deadtimeMs: -1 }, { deadtimeMs: "3s" }, { deadtimeMs: Infinity }]) expect(keptDeadtime(bad)).toBeNull();
  });
});
