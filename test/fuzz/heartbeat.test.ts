/**
 * Fuzzing the heartbeat's wire: the frame envelope, the membership messages
 * and the fragments' reassembly. Any bytes give a frame or a typed rejection,
 * a message or undefined, never a throw, within a time bound; a changed
 * authenticated frame is never accepted; reassembly holds a bounded number of
 * bytes whatever arrives.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { newKey, type ClusterKeys } from "../../core/crypto/keyfile.ts";
import { NAME_PATTERN } from "../../core/config/primitives.ts";
import { decodeFrame, encodeFrame, MAX_FRAME, MAX_PAYLOAD, REJECTIONS, type Frame } from "../../modules/heartbeat/envelope.ts";
import { encodeFragment, FRAGMENT_HEADER_BYTES, MAX_FRAGMENTS, MAX_OPEN, Reassembly } from "../../modules/heartbeat/fragments.ts";
import { decodeMessage, encodeMessage, MAX_VIEW, type Message } from "../../modules/heartbeat/messages.ts";
import { MAX_LINKS } from "../../modules/heartbeat/config.ts";
import { bounded, byteMutations, mutateBytes, parameters, sameBytes, TEST_TIMEOUT_MS } from "./fuzz.ts";

const CLUSTER = "lab";
const KEY = await newKey();
const OTHER = await newKey();
const KEYS: ClusterKeys = { active: 1, keys: new Map([[1, KEY]]) };
/** The same key id holding another key, and a ring without the id. */
const WRONG_KEY: ClusterKeys = { active: 1, keys: new Map([[1, OTHER]]) };
const NO_KEY: ClusterKeys = { active: 2, keys: new Map([[2, OTHER]]) };
const RINGS = [KEYS, WRONG_KEY, NO_KEY];
/** A decoder's call is micro-seconds; this catches a loop, not a slow moment. */
const BOUND_MS = 250;

const name = fc.stringMatching(new RegExp(NAME_PATTERN));
const u53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const frame: fc.Arbitrary<Frame> = fc.record({
  cluster: fc.constant(CLUSTER),
  sender: name,
  incarnation: u53,
  link: fc.integer({ min: 0, max: MAX_LINKS - 1 }),
  seq: u53,
  payload: fc.uint8Array({ maxLength: MAX_PAYLOAD }),
});

function decodesWithin(bytes: Uint8Array, keys: ClusterKeys) {
  const d = bounded(BOUND_MS, () => decodeFrame(bytes, keys, CLUSTER));
  if (!d.ok) expect(REJECTIONS).toContain(d.reason);
  return d;
}

/**
 * The frame's fixed start (magic, version, flags, key id, cluster id, name
 * length) cut anywhere, perhaps a valid sender name, then any bytes up to
 * past MAX_FRAME: reaches every check, not just the cheap first ones.
 */
function withPrefix(prefix: Uint8Array): fc.Arbitrary<Uint8Array> {
  const keep = fc.oneof(fc.constant(prefix.length), fc.integer({ min: 0, max: prefix.length }));
  const rest = fc.uint8Array({ maxLength: MAX_FRAME + 16, size: "max" });
  return fc.tuple(keep, fc.option(name), rest).map(([k, sender, tail]) => {
    const head = prefix.slice(0, k);
    const named = sender !== null && k === prefix.length;
    if (named) {
      head[k - 1] = sender.length;
      // The incarnation and the seq below 2^53, the link below MAX_LINKS: on to the tag.
      if (tail.length > 10) [tail[0], tail[1], tail[8], tail[9], tail[10]] = [0, 0, tail[8]! % MAX_LINKS, 0, 0];
    }
    const nameBytes = named ? new TextEncoder().encode(sender) : new Uint8Array(0);
    const out = new Uint8Array(head.length + nameBytes.length + tail.length);
    out.set(head);
    out.set(nameBytes, head.length);
    out.set(tail, head.length + nameBytes.length);
    return out;
  });
}

const SAMPLE = encodeFrame({ cluster: CLUSTER, sender: "alpha", incarnation: 1, link: 0, seq: 1, payload: new Uint8Array(8) }, KEYS, { encrypt: true });
/** Magic, version, flags, key id, cluster id, name length: the 16 bytes before the sender's name. */
const PREFIX = SAMPLE.slice(0, 16);

describe("fuzz: heartbeat frames (decodeFrame)", () => {
  test(
    "any bytes, with the right key, another key under the same id, or no such key: a frame or a typed rejection",
    () => {
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: MAX_FRAME + 64 }), withPrefix(PREFIX)), fc.constantFrom(...RINGS), (bytes, keys) => {
          const d = decodesWithin(bytes, keys);
          // Forging a tag by chance is not something 10^6 tries do.
          expect(d.ok).toBe(false);
        }),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a valid frame changed in any way (bit flips, set bytes, truncation, extension) is rejected; unchanged, it is accepted as sent",
    () => {
      fc.assert(
        fc.property(frame, fc.boolean(), byteMutations, (f, encrypt, ms) => {
          const sealed = encodeFrame(f, KEYS, { encrypt });
          const changed = mutateBytes(sealed, ms);
          const d = decodesWithin(changed, KEYS);
          if (sameBytes(changed, sealed)) {
            expect(d.ok && d.frame).toEqual(f);
          } else expect(d.ok).toBe(false);
        }),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a valid frame opened without its key: unknown-key when the id is not in the ring, auth when the id holds another key",
    () => {
      fc.assert(
        fc.property(frame, fc.boolean(), (f, encrypt) => {
          const sealed = encodeFrame(f, KEYS, { encrypt });
          const none = decodesWithin(sealed, NO_KEY);
          const wrong = decodesWithin(sealed, WRONG_KEY);
          expect(none.ok ? "accepted" : none.reason).toBe("unknown-key");
          expect(wrong.ok ? "accepted" : wrong.reason).toBe("auth");
        }),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );
});

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const message: fc.Arbitrary<Message> = fc.oneof(
  fc.constant<Message>({ kind: "goodbye" }),
  fc.record({ kind: fc.constant("app" as const), channel: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 300 }) }),
  fc
    .record(
      {
        kind: fc.constant("heartbeat" as const),
        sentAt: finite,
        config: fc.stringMatching(/^[0-9a-f]{8}$/),
        holdsResources: fc.boolean(),
        upstream: fc.integer({ min: 0, max: 255 }).chain((total) => fc.record({ reachable: fc.integer({ min: 0, max: total }), total: fc.constant(total) })),
        view: fc.array(
          fc.record(
            {
              node: name,
              up: fc.boolean(),
              late: fc.boolean(),
              downs: fc.integer({ min: 0, max: 0xffff }),
              incarnation: u53,
              echo: fc.record({ sentAt: finite, heldMs: fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }) }),
            },
            { requiredKeys: ["node", "up", "late", "downs"] },
          ),
          { maxLength: MAX_VIEW },
        ),
        vote: fc.record({ for: name, incarnation: u53, echo: finite, leaseMs: fc.integer({ min: 0, max: 0xffffffff }) }),
        deadtimeMs: fc.integer({ min: 1, max: 0xffffffff }),
      },
      { requiredKeys: ["kind", "sentAt", "config", "holdsResources", "view"] },
    )
    .map((m) => m as Message),
);

describe("fuzz: membership messages (decodeMessage)", () => {
  test(
    "any bytes, and valid messages changed: a message or undefined, and a message decoded is the one those exact bytes encode",
    () => {
      const bytes = fc.oneof(
        fc.uint8Array({ maxLength: MAX_PAYLOAD }),
        fc.tuple(message, byteMutations).map(([m, ms]) => mutateBytes(encodeMessage(m), ms)),
      );
      fc.assert(
        fc.property(bytes, (b) => {
          const m = bounded(BOUND_MS, () => decodeMessage(b));
          if (m) expect(encodeMessage(m)).toEqual(b);
        }),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a valid message comes back as it was sent",
    () => {
      fc.assert(
        fc.property(message, (m) => {
          const back = bounded(BOUND_MS, () => decodeMessage(encodeMessage(m)));
          // -0 travels as -0; toEqual tells them apart, as it should.
          expect(back).toEqual(m);
        }),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );
});

/** What a Reassembly holds: the parts of the messages in progress. */
function heldBytes(r: Reassembly): number {
  let n = 0;
  for (const s of r["streams"].values()) for (const m of s.open) for (const p of m.parts) n += p?.length ?? 0;
  return n;
}

const SENDERS = ["alpha/1", "bravo/1", "bravo/2"];
/** The largest fragment a frame carries: its payload less the app message's header (kind, channel, length). */
const MAX_FRAGMENT = MAX_PAYLOAD - 4;

/** Fragments with ids, indexes and counts near the edges, and any bytes. */
const fragmentBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc
    .record({
      id: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom(0xffffffff, 0xfffffffe)),
      index: fc.integer({ min: 0, max: MAX_FRAGMENTS + 1 }),
      count: fc.integer({ min: 0, max: MAX_FRAGMENTS + 1 }),
      data: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: MAX_FRAGMENT - FRAGMENT_HEADER_BYTES, size: "max" })),
    })
    .map(({ id, index, count, data }) => encodeFragment(id, index, count, data)),
);

describe("fuzz: fragment reassembly", () => {
  test(
    "any stream of fragments from a few senders and processes: never a throw, and what is held stays within MAX_OPEN messages of MAX_FRAGMENTS fragments a sender",
    () => {
      const stream = fc.array(fc.record({ key: fc.constantFrom(...SENDERS), incarnation: fc.integer({ min: 1, max: 3 }), bytes: fragmentBytes }), { maxLength: 40 });
      const bound = SENDERS.length * MAX_OPEN * MAX_FRAGMENTS * (MAX_FRAGMENT - FRAGMENT_HEADER_BYTES);
      fc.assert(
        fc.property(stream, (fragments) => {
          const r = new Reassembly();
          for (const f of fragments) {
            const out = bounded(BOUND_MS, () => r.accept(f.key, f.incarnation, f.bytes));
            if (out instanceof Uint8Array) expect(out.length).toBeLessThanOrEqual(MAX_FRAGMENTS * (MAX_FRAGMENT - FRAGMENT_HEADER_BYTES));
            expect(heldBytes(r)).toBeLessThanOrEqual(bound);
            expect(r["streams"].size).toBeLessThanOrEqual(SENDERS.length);
            for (const s of r["streams"].values()) expect(s.open.length).toBeLessThanOrEqual(MAX_OPEN);
          }
        }),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );
});
