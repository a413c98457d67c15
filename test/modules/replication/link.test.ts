import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { newKey, type ClusterKeys } from "../../../core/crypto/keyfile.ts";
import { decodeMessage, encodeMessage, PeerSession, type Geometry, type Received } from "../../../modules/replication/link.ts";
import type { PeerMessage } from "../../../modules/replication/engine.ts";

const K1 = await newKey();
const K2 = await newKey();
const GEOMETRY: Geometry = { size: 40_960, regionBytes: 4096 };
const REGIONS = 10;

function session(self: string, peer: string, keys: ClusterKeys, more: { cluster?: string; volume?: string; random?: number } = {}): PeerSession {
  return new PeerSession({
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
function pair(ka: ClusterKeys = { active: 1, keys: new Map([[1, K1]]) }, kb: ClusterKeys = ka): [PeerSession, PeerSession] {
  const a = session("alpha", "bravo", ka);
  const b = session("bravo", "alpha", kb);
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
  test("a write past the end, a resync block of the wrong length or region, an empty write are range errors", () => {
    const past = encodeMessage({ t: "data", seq: 1, offset: GEOMETRY.size - 10, data: new Uint8Array(11) });
    expect(decodeMessage(past, GEOMETRY)).toEqual({ ok: false, reason: "range" });
    expect(decodeMessage(encodeMessage({ t: "data", seq: 1, offset: 0, data: new Uint8Array(0) }), GEOMETRY)).toEqual({ ok: false, reason: "range" });
    expect(decodeMessage(encodeMessage({ t: "rs-data", region: 2, data: new Uint8Array(100) }), GEOMETRY)).toEqual({ ok: false, reason: "range" });
    expect(decodeMessage(encodeMessage({ t: "rs-ack", region: REGIONS - 1, count: 2 }), GEOMETRY)).toEqual({ ok: false, reason: "range" });
    expect(decodeMessage(encodeMessage({ t: "rs-data", region: REGIONS - 1, data: new Uint8Array(2 * GEOMETRY.regionBytes) }), GEOMETRY)).toEqual({ ok: false, reason: "range" });
  });
  test("property: any bytes as a body decode to a message within the volume or an error, never a throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(13), (bytes, code) => {
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

describe("peer link sessions", () => {
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
    expect(got).toEqual(msgs.map((msg) => ({ kind: "message", msg })));
  });
  test("several messages sealed in one frame arrive as those messages, in order, and the frames after it still open", () => {
    const [a, b] = pair();
    const msgs: PeerMessage[] = [
      { t: "data", seq: 1, offset: 0, data: new Uint8Array(4096).fill(1) },
      { t: "write-ack", seq: 7 },
      { t: "data", seq: 2, offset: 8192, data: new Uint8Array(32 * 1024).fill(2) },
      { t: "flush", ref: 3 },
    ];
    const frame = Uint8Array.from(a.sealParts(msgs).flatMap((p) => [...p]));
    const got: Received[] = [];
    for (let i = 0; i < frame.length; i += 4000) got.push(...b.receive(frame.subarray(i, i + 4000)));
    expect(got).toEqual(msgs.map((msg) => ({ kind: "message", msg })));
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
});
