import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { newKey, type ClusterKeys } from "../../../core/crypto/keyfile.ts";
import { NAME_PATTERN } from "../../../core/config/primitives.ts";
import { decodeFrame, encodeFrame, MAX_FRAME, MAX_PAYLOAD, MIN_FRAME, REJECTIONS, type Decoded, type Frame } from "../../../modules/heartbeat/envelope.ts";

const OLD = await newKey();
const NEW = await newKey();

function ring(active: number, ...entries: Array<[number, Uint8Array]>): ClusterKeys {
  return { active, keys: new Map(entries) };
}

const KEYS = ring(1, [1, OLD]);
const CLUSTER = "lab";

const FRAME: Frame = {
  cluster: CLUSTER,
  sender: "alpha",
  incarnation: 1_763_800_000_123,
  link: 1,
  seq: 42,
  payload: new TextEncoder().encode("membership: alpha bravo"),
};

/** Offsets of the README's table for a 5-byte sender name such as "alpha". */
const AT = { magic: 0, version: 4, flags: 5, key: 6, cluster: 7, nameLength: 15, name: 16, incarnation: 21, link: 29, seq: 30, nonce: 38, body: 62 };

function accepted(d: Decoded): Extract<Decoded, { ok: true }> {
  if (!d.ok) throw new Error(`rejected: ${d.reason}`);
  return d;
}

function reason(d: Decoded): string {
  return d.ok ? "accepted" : d.reason;
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).includes(Buffer.from(needle));
}

function withByte(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const copy = bytes.slice();
  copy[at] = value;
  return copy;
}

describe("round trip", () => {
  test("encrypted: the payload travels as ciphertext", () => {
    const bytes = encodeFrame(FRAME, KEYS, { encrypt: true });
    expect(contains(bytes, FRAME.payload)).toBe(false);
    const d = accepted(decodeFrame(bytes, KEYS, CLUSTER));
    expect(d.frame).toEqual(FRAME);
    expect(d.encrypted).toBe(true);
    expect(d.key).toBe(1);
  });

  test("clear: the payload travels readable, still authenticated", () => {
    const bytes = encodeFrame(FRAME, KEYS, { encrypt: false });
    expect(contains(bytes, FRAME.payload)).toBe(true);
    const d = accepted(decodeFrame(bytes, KEYS, CLUSTER));
    expect(d.frame).toEqual(FRAME);
    expect(d.encrypted).toBe(false);
  });

  test("the header is laid out as the README's table says", () => {
    const bytes = encodeFrame(FRAME, KEYS, { encrypt: true });
    expect(new TextDecoder().decode(bytes.subarray(AT.magic, AT.version))).toBe("TNDM");
    expect(bytes[AT.version]).toBe(1);
    expect(bytes[AT.flags]).toBe(1);
    expect(bytes[AT.key]).toBe(1);
    // printf lab | b2sum -l 256
    expect(Buffer.from(bytes.subarray(AT.cluster, AT.nameLength)).toString("hex")).toBe("5f771d5ac560f798");
    expect(bytes[AT.nameLength]).toBe(5);
    expect(new TextDecoder().decode(bytes.subarray(AT.name, AT.incarnation))).toBe("alpha");
    const view = new DataView(bytes.buffer);
    expect(Number(view.getBigUint64(AT.incarnation))).toBe(FRAME.incarnation);
    expect(bytes[AT.link]).toBe(FRAME.link);
    expect(Number(view.getBigUint64(AT.seq))).toBe(FRAME.seq);
    expect(bytes.length).toBe(AT.body + FRAME.payload.length + 16);
    expect(encodeFrame(FRAME, KEYS, { encrypt: false })[AT.flags]).toBe(0);
  });

  test("the largest numbers and the longest name survive", () => {
    const frame: Frame = { ...FRAME, sender: "n".repeat(31), incarnation: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER, link: 7 };
    expect(accepted(decodeFrame(encodeFrame(frame, KEYS, { encrypt: true }), KEYS, CLUSTER)).frame).toEqual(frame);
  });

  test("every frame gets a fresh nonce", () => {
    const a = encodeFrame(FRAME, KEYS, { encrypt: true });
    const b = encodeFrame(FRAME, KEYS, { encrypt: true });
    expect(Buffer.from(a.subarray(AT.nonce, AT.body)).equals(Buffer.from(b.subarray(AT.nonce, AT.body)))).toBe(false);
    expect(Buffer.from(a.subarray(AT.body)).equals(Buffer.from(b.subarray(AT.body)))).toBe(false);
  });

  test("a frame inside a larger buffer decodes (a view with an offset)", () => {
    const bytes = encodeFrame(FRAME, KEYS, { encrypt: true });
    const buffer = new Uint8Array(bytes.length + 20);
    buffer.set(bytes, 13);
    expect(accepted(decodeFrame(buffer.subarray(13, 13 + bytes.length), KEYS, CLUSTER)).frame).toEqual(FRAME);
  });

  test("a clear payload is the frame's own copy, not a view of the received bytes", () => {
    const bytes = encodeFrame(FRAME, KEYS, { encrypt: false });
    const d = accepted(decodeFrame(bytes, KEYS, CLUSTER));
    bytes.fill(0);
    expect(d.frame.payload).toEqual(FRAME.payload);
  });
});

describe("size", () => {
  test("MIN_FRAME is a one-letter sender with an empty payload; MAX_PAYLOAD fits the longest name in MAX_FRAME", () => {
    expect(encodeFrame({ ...FRAME, sender: "a", payload: new Uint8Array(0) }, KEYS, { encrypt: true }).length).toBe(MIN_FRAME);
    const largest = encodeFrame({ ...FRAME, sender: "n".repeat(31), payload: new Uint8Array(MAX_PAYLOAD) }, KEYS, { encrypt: true });
    expect(largest.length).toBe(MAX_FRAME);
    expect(accepted(decodeFrame(largest, KEYS, CLUSTER)).frame.payload.length).toBe(MAX_PAYLOAD);
  });

  test("a shorter name leaves room for a larger payload, up to MAX_FRAME", () => {
    const room = MAX_FRAME - (AT.body + 16);
    expect(encodeFrame({ ...FRAME, payload: new Uint8Array(room) }, KEYS, { encrypt: false }).length).toBe(MAX_FRAME);
    expect(() => encodeFrame({ ...FRAME, payload: new Uint8Array(room + 1) }, KEYS, { encrypt: false })).toThrow(RangeError);
  });

  test("a frame over MAX_FRAME is refused unread", () => {
    const bytes = encodeFrame({ ...FRAME, payload: new Uint8Array(MAX_FRAME - (AT.body + 16)) }, KEYS, { encrypt: true });
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(reason(decodeFrame(longer, KEYS, CLUSTER))).toBe("oversized");
    expect(reason(decodeFrame(new Uint8Array(1 << 20), KEYS, CLUSTER))).toBe("oversized");
  });

  test("truncated at every length: short while the header and tag are incomplete, then auth", () => {
    for (const sender of ["a", "alpha", "n".repeat(31)]) {
      const bytes = encodeFrame({ ...FRAME, sender }, KEYS, { encrypt: true });
      const whole = AT.name + sender.length + 41 + 16;
      for (let length = 0; length < bytes.length; length++) {
        expect([length, reason(decodeFrame(bytes.subarray(0, length), KEYS, CLUSTER))]).toEqual([length, length < whole ? "short" : "auth"]);
      }
    }
  });
});

describe("refusals", () => {
  test("any single byte changed, to any value, is refused", () => {
    for (const encrypt of [true, false]) {
      const bytes = encodeFrame(FRAME, KEYS, { encrypt });
      for (let at = 0; at < bytes.length; at++) {
        for (let x = 1; x < 256; x++) {
          const d = decodeFrame(withByte(bytes, at, bytes[at]! ^ x), KEYS, CLUSTER);
          if (d.ok) throw new Error(`byte ${at} ^ ${x} (encrypt ${encrypt}) was accepted`);
        }
      }
    }
  });

  test("the reason names the field", () => {
    const bytes = encodeFrame(FRAME, KEYS, { encrypt: true });
    const r = (at: number, value: number) => reason(decodeFrame(withByte(bytes, at, value), KEYS, CLUSTER));
    expect(r(AT.magic, 0x55)).toBe("magic");
    expect(r(AT.version, 2)).toBe("version");
    expect(r(AT.flags, 0x03)).toBe("malformed");
    expect(r(AT.cluster, bytes[AT.cluster]! ^ 1)).toBe("cluster");
    expect(r(AT.key, 9)).toBe("unknown-key");
    expect(r(AT.nameLength, 0)).toBe("malformed");
    expect(r(AT.nameLength, 32)).toBe("malformed");
    expect(r(AT.name, "A".charCodeAt(0))).toBe("malformed");
    expect(r(AT.name, "7".charCodeAt(0))).toBe("malformed");
    expect(r(AT.name + 1, 0xe9)).toBe("malformed");
    expect(r(AT.incarnation + 1, 0x20)).toBe("malformed");
    expect(r(AT.incarnation + 1, 0x1f)).toBe("auth");
    expect(r(AT.link, 8)).toBe("malformed");
    expect(r(AT.link, 7)).toBe("auth");
    expect(r(AT.seq + 1, 0x20)).toBe("malformed");
    expect(r(AT.nonce, bytes[AT.nonce]! ^ 1)).toBe("auth");
    expect(r(bytes.length - 1, bytes[bytes.length - 1]! ^ 1)).toBe("auth");
  });

  test("a frame from another cluster", () => {
    const bytes = encodeFrame({ ...FRAME, cluster: "staging" }, KEYS, { encrypt: true });
    expect(reason(decodeFrame(bytes, KEYS, CLUSTER))).toBe("cluster");
    expect(accepted(decodeFrame(bytes, KEYS, "staging")).frame.cluster).toBe("staging");
  });

  test("a key id the receiver does not hold", () => {
    const bytes = encodeFrame(FRAME, ring(2, [2, NEW]), { encrypt: true });
    expect(reason(decodeFrame(bytes, KEYS, CLUSTER))).toBe("unknown-key");
  });

  test("another secret under the same id", () => {
    for (const encrypt of [true, false]) {
      const bytes = encodeFrame(FRAME, ring(1, [1, NEW]), { encrypt });
      expect(reason(decodeFrame(bytes, KEYS, CLUSTER))).toBe("auth");
    }
  });

  test("a secret of the wrong length in the key ring is an auth failure, not a crash", () => {
    const bytes = encodeFrame(FRAME, KEYS, { encrypt: true });
    expect(reason(decodeFrame(bytes, ring(1, [1, new Uint8Array(5)]), CLUSTER))).toBe("auth");
  });

  test("encode refuses what the format cannot carry", () => {
    const bad: Array<Partial<Frame>> = [
      { sender: "" },
      { sender: "Alpha" },
      { sender: "1alpha" },
      { sender: "n".repeat(32) },
      { sender: "alphä" },
      { incarnation: 2 ** 53 },
      { incarnation: -1 },
      { incarnation: 1.5 },
      { seq: Number.NaN },
      { seq: 2 ** 53 },
      { link: 8 },
      { link: -1 },
    ];
    for (const change of bad) expect(() => encodeFrame({ ...FRAME, ...change }, KEYS, { encrypt: true })).toThrow(RangeError);
    expect(() => encodeFrame(FRAME, ring(3, [1, OLD]), { encrypt: true })).toThrow(RangeError);
    expect(() => encodeFrame(FRAME, ring(256, [256, OLD]), { encrypt: true })).toThrow(RangeError);
  });
});

describe("key rotation", () => {
  const steps: ClusterKeys[] = [
    ring(1, [1, OLD]),
    ring(1, [1, OLD], [2, NEW]), // (1) the new key added everywhere, the old one still active
    ring(2, [1, OLD], [2, NEW]), // (2) the new key made active everywhere
    ring(2, [2, NEW]), // (3) the old key removed
  ];

  test("nodes at the same or neighbouring steps accept each other's frames", () => {
    for (let from = 0; from < steps.length; from++) {
      for (let to = Math.max(0, from - 1); to <= Math.min(steps.length - 1, from + 1); to++) {
        const d = accepted(decodeFrame(encodeFrame(FRAME, steps[from]!, { encrypt: true }), steps[to]!, CLUSTER));
        expect([from, to, d.key]).toEqual([from, to, steps[from]!.active]);
      }
    }
  });

  test("a step begun before every node finished the one before loses frames", () => {
    const send = (step: number) => encodeFrame(FRAME, steps[step]!, { encrypt: true });
    expect(reason(decodeFrame(send(2), steps[0]!, CLUSTER))).toBe("unknown-key");
    expect(reason(decodeFrame(send(1), steps[3]!, CLUSTER))).toBe("unknown-key");
  });
});

describe("properties", () => {
  const frameArb = fc.record({
    cluster: fc.stringMatching(new RegExp(NAME_PATTERN)),
    sender: fc.stringMatching(new RegExp(NAME_PATTERN)),
    incarnation: fc.maxSafeNat(),
    link: fc.integer({ min: 0, max: 7 }),
    seq: fc.maxSafeNat(),
    payload: fc.uint8Array({ maxLength: MAX_PAYLOAD }),
  });

  const mutationArb = fc.oneof(
    fc.constant({ kind: "none" as const }),
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant("truncate" as const), to: fc.nat() }),
    fc.record({ kind: fc.constant("extend" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
    fc.record({ kind: fc.constant("splice" as const), at: fc.nat(), remove: fc.nat({ max: 64 }), insert: fc.uint8Array({ maxLength: 64 }) }),
  );
  type Mutation = typeof mutationArb extends fc.Arbitrary<infer M> ? M : never;

  function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
    switch (m.kind) {
      case "none":
        return bytes;
      case "flip":
        return withByte(bytes, m.at % bytes.length, bytes[m.at % bytes.length]! ^ (1 << m.bit));
      case "truncate":
        return bytes.subarray(0, m.to % bytes.length);
      case "extend":
        return Buffer.concat([bytes, m.bytes]);
      case "splice": {
        const at = m.at % (bytes.length + 1);
        return Buffer.concat([bytes.subarray(0, at), m.insert, bytes.subarray(at + m.remove)]);
      }
    }
  }

  const isRejection = (d: Decoded) => !d.ok && (REJECTIONS as readonly string[]).includes(d.reason);

  test("decode(encode(frame)) is the frame", () => {
    fc.assert(
      fc.property(frameArb, fc.boolean(), (frame, encrypt) => {
        const bytes = encodeFrame(frame, KEYS, { encrypt });
        expect(bytes.length).toBeLessThanOrEqual(MAX_FRAME);
        const d = accepted(decodeFrame(bytes, KEYS, frame.cluster));
        expect(d.frame).toEqual(frame);
        expect(d.encrypted).toBe(encrypt);
      }),
      { numRuns: 1000 },
    );
  });

  test("a mutated frame is refused with a reason; an untouched one is itself", () => {
    fc.assert(
      fc.property(frameArb, fc.boolean(), mutationArb, (frame, encrypt, m) => {
        const bytes = encodeFrame(frame, KEYS, { encrypt });
        const changed = mutate(bytes, m);
        const d = decodeFrame(changed, KEYS, frame.cluster);
        if (Buffer.from(changed).equals(Buffer.from(bytes))) expect(accepted(d).frame).toEqual(frame);
        else expect(isRejection(d)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  test("random bytes are refused with a reason", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: MAX_FRAME + 64 }), (bytes) => {
        expect(isRejection(decodeFrame(bytes, KEYS, CLUSTER))).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });

  test("random bytes behind a valid preamble (magic to cluster id) are refused with a reason", () => {
    const preamble = encodeFrame(FRAME, KEYS, { encrypt: true }).subarray(0, AT.nameLength);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: MAX_FRAME }), (rest) => {
        expect(isRejection(decodeFrame(Buffer.concat([preamble, rest]), KEYS, CLUSTER))).toBe(true);
      }),
      { numRuns: 1500 },
    );
  });
});
