import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { newKey, type ClusterKeys } from "../../../core/crypto/keyfile.ts";
import { decodeMessage, encodeMessage, PeerSession, type Geometry, type Received } from "../../../modules/replication/link.ts";
import type { PeerMessage } from "../../../modules/replication/engine.ts";
import { joinPayload } from "../../../modules/replication/payload.ts";

const K1 = await newKey();
const K2 = await newKey();
const GEOMETRY: Geometry = { size: 40_960, regionBytes: 4096 };
const REGIONS = 10;

function sessionOf(self: string, peer: string, keys: ClusterKeys, more: { cluster?: string; volume?: string; random?: number; encrypt?: boolean } = {}): PeerSession {
  return new PeerSession({
    encrypt: more.encrypt ?? false,
    cluster: more.cluster ?? "lab",
    keys,
    volume: more.volume ?? "data",
    self,
    peer,
    geometry: GEOMETRY,
    random: new Uint8Array(32).fill(more.random ?? (self === "alpha" ? 1 : 2)),
    helloNonce: new Uint8Array(12).fill(self === "alpha" ? 3 : 4),
  });
}

/** Two ends whose hellos have been exchanged. */
function pairOf(ka: ClusterKeys = { active: 1, keys: new Map([[1, K1]]) }, kb: ClusterKeys = ka, encrypt = false): [PeerSession, PeerSession] {
  const a = sessionOf("alpha", "bravo", ka, { encrypt });
  const b = sessionOf("bravo", "alpha", kb, { encrypt });
  expect(b.receive(a.hello())).toEqual([{ kind: "hello" }]);
  expect(a.receive(b.hello())).toEqual([{ kind: "hello" }]);
  return [a, b];
}

const u53 = fc.maxSafeNat();
const gen = fc.record({ current: u53, bitmap: u53, history: fc.array(u53, { maxLength: 2 }) });
const name = fc.constantFrom("alpha", "bravo", "n-1");
const message: fc.Arbitrary<PeerMessage> = fc.oneof(
  fc.record({
    t: fc.constant("handshake" as const),
    view: fc.record({ name, gen, primary: fc.boolean(), crashedPrimary: fc.boolean(), consistent: fc.boolean(), dirty: u53, promotedAt: u53, discardMyData: fc.boolean() }),
    size: u53,
    regionBytes: u53,
    bitmap: fc.uint8Array({ maxLength: 64 }),
  }),
  fc.record({ t: fc.constant("role" as const), primary: fc.boolean() }),
  fc.integer({ min: 1, max: GEOMETRY.size }).chain((n) =>
    fc.record({ t: fc.constant("data" as const), seq: u53, offset: fc.integer({ min: 0, max: GEOMETRY.size - n }), data: fc.uint8Array({ minLength: n, maxLength: n }) }),
  ),
  fc.record({ t: fc.constantFrom("recv-ack" as const, "write-ack" as const), seq: u53 }),
  fc.integer({ min: 0, max: REGIONS - 1 }).chain((region) =>
    fc.integer({ min: 1, max: REGIONS - region }).map((count) => ({ t: "rs-data" as const, region, data: new Uint8Array(count * GEOMETRY.regionBytes).fill(region) })),
  ),
  fc.integer({ min: 0, max: REGIONS - 1 }).chain((region) => fc.record({ t: fc.constant("rs-ack" as const), region: fc.constant(region), count: fc.integer({ min: 1, max: REGIONS - region }) })),
  fc.record({ t: fc.constant("rs-done" as const), gen }),
  fc.record({ t: fc.constant("rs-start" as const), gen: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) }),
  fc.record({ t: fc.constantFrom("flush" as const, "flush-ack" as const), ref: u53 }),
  fc.constant({ t: "ping" as const }),
  fc.record({ t: fc.constant("ov-request" as const), region: fc.integer({ min: 0, max: REGIONS - 1 }), digest: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ t: fc.constant("ov-reply" as const), region: fc.integer({ min: 0, max: REGIONS - 1 }), same: fc.boolean() }),
);

/** What any decoded message may ask of the disk: nothing past the volume's end. */
function withinVolume(m: PeerMessage): boolean {
  if (m.t === "data") return m.data.length > 0 && m.offset >= 0 && m.offset + m.data.length <= GEOMETRY.size;
  if (m.t === "rs-data") return m.region < REGIONS && m.data.length > 0 && m.region * GEOMETRY.regionBytes + m.data.length <= GEOMETRY.size;
  if (m.t === "rs-ack") return m.count > 0 && m.region + m.count <= REGIONS;
  if (m.t === "ov-request" || m.t === "ov-reply") return m.region < REGIONS;
  return true;
}

describe("peer link messages", () => {
  test("property: every message survives encoding and decoding", () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(decodeMessage(encodeMessage(m), GEOMETRY)).toEqual({ ok: true, msg: m });
      }),
      { numRuns: 500 },
    );
  });
  test("a write past the end, a resync block of the wrong length or region, an empty write, a resync named by generation 0 are range errors", () => {
    const past = encodeMessage({ t: "data", seq: 1, offset: GEOMETRY.size - 10, data: new Uint8Array(11) });
    expect(decodeMessage(past, GEOMETRY)).toEqual({ ok: false, reason: "range" });
    expect(decodeMessage(encodeMessage({ t: "data", seq: 1, offset: 0, data: new Uint8Array(0) }), GEOMETRY)).toEqual({ ok: false, reason: "range" });
    expect(decodeMessage(encodeMessage({ t: "rs-data", region: 2, data: new Uint8Array(100) }), GEOMETRY)).toEqual({ ok: false, reason: "range" });
    expect(decodeMessage(encodeMessage({ t: "rs-ack", region: REGIONS - 1, count: 2 }), GEOMETRY)).toEqual({ ok: false, reason: "range" });
    expect(decodeMessage(encodeMessage({ t: "rs-data", region: REGIONS - 1, data: new Uint8Array(2 * GEOMETRY.regionBytes) }), GEOMETRY)).toEqual({ ok: false, reason: "range" });
    expect(decodeMessage(encodeMessage({ t: "rs-start", gen: 0 }), GEOMETRY)).toEqual({ ok: false, reason: "range" });
  });
  test("property: any bytes as a body decode to a message within the volume or an error, never a throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(14), (bytes, code) => {
        const body = new Uint8Array(bytes.length + 1);
        body[0] = code;
        body.set(bytes, 1);
        const d = decodeMessage(body, GEOMETRY);
        if (d.ok) expect(withinVolume(d.msg)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
  test("property: a valid message with bytes changed decodes within the volume or is refused", () => {
    fc.assert(
      fc.property(message, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), (m, changes) => {
        const body = encodeMessage(m).slice();
        for (const [at, v] of changes) body[at % body.length] = v;
        const d = decodeMessage(body, GEOMETRY);
        if (d.ok) expect(withinVolume(d.msg)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

/** What was received, a message's data joined (it arrives in the pieces the socket gave). */
const joined = (got: Received[]): Received[] =>
  got.map((r) => (r.kind === "message" && (r.msg.t === "data" || r.msg.t === "rs-data") ? { ...r, msg: { ...r.msg, data: joinPayload(r.msg.data) } } : r));
const bytesOf = (pieces: Uint8Array[]): Uint8Array => Uint8Array.from(pieces.flatMap((p) => [...p]));

describe.each([
  ["integrity-only (the default)", false],
  ["encrypted", true],
])("peer link sessions, %s", (_, encrypt) => {
  const pair = (ka: ClusterKeys = { active: 1, keys: new Map([[1, K1]]) }, kb: ClusterKeys = ka) => pairOf(ka, kb, encrypt);
  const session = (self: string, peer: string, keys: ClusterKeys, more: { cluster?: string; volume?: string; random?: number } = {}) => sessionOf(self, peer, keys, { ...more, encrypt });
  test("messages pass after the hellos, in any pieces", () => {
    const [a, b] = pair();
    const msgs: PeerMessage[] = [
      { t: "role", primary: true },
      { t: "data", seq: 1, offset: 4096, data: new Uint8Array(512).fill(7) },
      { t: "flush", ref: 9 },
    ];
    const stream = Uint8Array.from(msgs.flatMap((m) => [...a.seal(m)]));
    const got: Received[] = [];
    for (let i = 0; i < stream.length; i += 13) got.push(...b.receive(stream.subarray(i, i + 13)));
    expect(joined(got)).toEqual(msgs.map((msg) => ({ kind: "message", msg })));
  });
  test("several messages sealed in one frame arrive as those messages, in order, and the frames after it still open", () => {
    const [a, b] = pair();
    const msgs: PeerMessage[] = [
      { t: "data", seq: 1, offset: 0, data: new Uint8Array(4096).fill(1) },
      { t: "write-ack", seq: 7 },
      { t: "data", seq: 2, offset: 8192, data: new Uint8Array(32 * 1024).fill(2) },
      { t: "flush", ref: 3 },
    ];
    const frame = bytesOf(a.sealParts(msgs));
    const got: Received[] = [];
    for (let i = 0; i < frame.length; i += 4000) got.push(...b.receive(frame.subarray(i, i + 4000)));
    expect(joined(got)).toEqual(msgs.map((msg) => ({ kind: "message", msg })));
    expect(b.receive(a.seal({ t: "ping" }))).toEqual([{ kind: "message", msg: { t: "ping" } }]);
  });
  test("a rotated key: each side sends with its active key and receives with any", () => {
    const [a, b] = pair({ active: 2, keys: new Map([[1, K1], [2, K2]]) }, { active: 1, keys: new Map([[1, K1], [2, K2]]) });
    expect(b.receive(a.seal({ t: "role", primary: false }))).toEqual([{ kind: "message", msg: { t: "role", primary: false } }]);
    expect(a.receive(b.seal({ t: "rs-ack", region: 3, count: 2 }))).toEqual([{ kind: "message", msg: { t: "rs-ack", region: 3, count: 2 } }]);
  });
  test("a hello from another cluster, volume or node, or under an unknown key, is refused", () => {
    const keys = { active: 1, keys: new Map([[1, K1]]) };
    const b = () => session("bravo", "alpha", keys);
    expect(b().receive(session("alpha", "bravo", keys, { cluster: "other" }).hello())).toEqual([{ kind: "error", reason: "cluster" }]);
    expect(b().receive(session("alpha", "bravo", keys, { volume: "logs" }).hello())).toEqual([{ kind: "error", reason: "volume" }]);
    expect(b().receive(session("charlie", "bravo", keys).hello())).toEqual([{ kind: "error", reason: "peer" }]);
    expect(b().receive(session("alpha", "bravo", { active: 2, keys: new Map([[2, K2]]) }).hello())).toEqual([{ kind: "error", reason: "unknown-key" }]);
    expect(b().receive(session("alpha", "bravo", { active: 1, keys: new Map([[1, K2]]) }).hello())).toEqual([{ kind: "error", reason: "auth" }]);
  });
  test("a frame replayed, dropped or carried over from another connection fails to open, and the connection is done", () => {
    const [a, b] = pair();
    const first = a.seal({ t: "role", primary: true });
    expect(b.receive(first)).toHaveLength(1);
    expect(b.receive(first)).toEqual([{ kind: "error", reason: "auth" }]);
    expect(b.receive(a.seal({ t: "role", primary: true }))).toEqual([]);
    const [c, d] = pair();
    c.seal({ t: "role", primary: true });
    expect(d.receive(c.seal({ t: "role", primary: false }))).toEqual([{ kind: "error", reason: "auth" }]);
    const [g] = pair();
    const other = session("alpha", "bravo", { active: 1, keys: new Map([[1, K1]]) }, { random: 9 });
    const h = session("bravo", "alpha", { active: 1, keys: new Map([[1, K1]]) });
    h.receive(other.hello());
    expect(h.receive(g.seal({ t: "role", primary: true }))).toEqual([{ kind: "error", reason: "auth" }]);
  });
  test("a message before the hello, or a length past the bound, is refused", () => {
    const [a] = pair();
    const b = session("bravo", "alpha", { active: 1, keys: new Map([[1, K1]]) });
    expect(b.receive(a.seal({ t: "role", primary: true }))).toEqual([{ kind: "error", reason: "order" }]);
    expect(session("bravo", "alpha", { active: 1, keys: new Map([[1, K1]]) }).receive(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 2))).toEqual([{ kind: "error", reason: "oversized" }]);
  });
  test("property: hostile bytes after the hellos give errors, never a throw, and nothing that opens", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 80 }), { minLength: 1, maxLength: 6 }), (chunks) => {
        const [, b] = pair();
        for (const c of chunks) for (const r of b.receive(c)) expect(r.kind).toBe("error");
      }),
      { numRuns: 300 },
    );
  });
  test("property: a sealed frame with any byte changed never opens", () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, flip) => {
        const [a, b] = pair();
        const frame = a.seal(m).slice();
        frame[at % frame.length]! ^= flip;
        for (const r of b.receive(frame)) expect(r.kind).toBe("error");
      }),
      { numRuns: 300 },
    );
  });
  test("a large write's frame, read as the socket's chunks (some of a byte), arrives whole; its data flipped, its tag flipped, or the frame replayed, is refused and ends the session, nothing given", () => {
    const size = 200 * 1024;
    const geometry = { size: 1 << 20, regionBytes: 4096 };
    const big = (self: string, peer: string) => new PeerSession({ encrypt, cluster: "lab", keys: { active: 1, keys: new Map([[1, K1]]) }, volume: "data", self, peer, geometry, random: new Uint8Array(32).fill(self.length), helloNonce: new Uint8Array(12) });
    const ends = () => {
      const [a, b] = [big("alpha", "bravo"), big("bravo", "alpha")];
      b.receive(a.hello());
      a.receive(b.hello());
      return [a, b] as const;
    };
    const msg: PeerMessage = { t: "data", seq: 1, offset: 4096, data: Uint8Array.from({ length: size }, (_, i) => i * 7) };
    const next: PeerMessage = { t: "write-ack", seq: 9 };
    // In pieces of 1, 3000 and 70000 bytes, repeated.
    const cuts = (frame: Uint8Array): Uint8Array[] => {
      const out: Uint8Array[] = [];
      const sizes = [1, 3000, 70_000];
      for (let at = 0, i = 0; at < frame.length; i++) {
        const n = sizes[i % sizes.length]!;
        out.push(frame.subarray(at, at + n));
        at += n;
      }
      return out;
    };
    const [a, b] = ends();
    const frame = bytesOf(a.sealParts([msg]));
    expect(joined(cuts(frame).flatMap((c) => b.receive(c)))).toEqual([{ kind: "message", msg }]);
    expect(b.receive(frame.slice())).toEqual([{ kind: "error", reason: "auth" }]);
    expect(b.receive(a.seal(next))).toEqual([]);
    for (const at of [5 + 100, frame.length - 1 - 100 * 1024, frame.length - 3]) {
      const [c, d] = ends();
      const bad = bytesOf(c.sealParts([msg]));
      bad[at]! ^= 0x10;
      expect(cuts(bad).flatMap((x) => d.receive(x))).toEqual([{ kind: "error", reason: "auth" }]);
      expect(d.receive(c.seal(next))).toEqual([]);
    }
  });
});

describe("the link's confidentiality", () => {
  const keys = { active: 1, keys: new Map([[1, K1]]) };
  const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;
  test("integrity-only, a write's data travels as it is (in the very buffer given); encrypted, it does not appear", () => {
    const data = Uint8Array.from({ length: 64 * 1024 }, (_, i) => (i * 31) & 0xff);
    const [a] = pairOf(keys, keys, false);
    const pieces = a.sealParts([{ t: "data", seq: 1, offset: 0, data }]);
    expect(pieces.some((p) => p === data)).toBe(true);
    const [e] = pairOf(keys, keys, true);
    expect(contains(bytesOf(e.sealParts([{ t: "data", seq: 1, offset: 0, data }])), data.subarray(0, 64))).toBe(false);
  });
  test("a pair whose sides differ on encryption does not connect", () => {
    const plain = sessionOf("bravo", "alpha", keys, { encrypt: false });
    expect(plain.receive(sessionOf("alpha", "bravo", keys, { encrypt: true }).hello())).toEqual([{ kind: "error", reason: "encryption" }]);
    const sealed = sessionOf("bravo", "alpha", keys, { encrypt: true });
    expect(sealed.receive(sessionOf("alpha", "bravo", keys, { encrypt: false }).hello())).toEqual([{ kind: "error", reason: "encryption" }]);
  });
});
