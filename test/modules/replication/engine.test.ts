import { describe, expect, test } from "bun:test";
import { freshMeta, initialState, metaOf, step, type Effect, type Input, type Meta, type PeerMessage, type Protocol, type State } from "../../../modules/replication/engine.ts";
import { Bitmap } from "../../../modules/replication/bitmap.ts";

const SIZE = 64 * 1024;
const REGION = 4096;

function volume(self: string, protocol: Protocol = "C", meta?: Meta): State {
  const m = meta ?? { ...freshMeta(SIZE, REGION), gen: { current: 100, bitmap: 0, history: [] }, consistent: true };
  return initialState({ volume: "data", self, peer: self === "a" ? "b" : "a", size: SIZE, regionBytes: REGION, protocol, splitBrain: "disconnect", extentRegions: 2, hotExtents: 2, window: 16, batchRegions: 1 }, m);
}

function run(s: State, input: Input): Effect[] {
  return step(s, input).effects;
}

const sent = (fx: Effect[]): PeerMessage[] => fx.flatMap((e) => (e.kind === "send" ? [e.msg] : []));
const replies = (fx: Effect[]) => fx.filter((e) => e.kind === "reply");
const events = (fx: Effect[]) => fx.flatMap((e) => (e.kind === "event" ? [e.event] : []));

/** Two volumes whose handshake has been exchanged; returns each side's effects of the handshake. */
function connect(a: State, b: State): { a: Effect[]; b: Effect[] } {
  const ha = sent(run(a, { type: "link-up", fresh: 500 }));
  const hb = sent(run(b, { type: "link-up", fresh: 600 }));
  const fa = run(a, { type: "frame", msg: hb[0]! });
  const fb = run(b, { type: "frame", msg: ha[0]! });
  return { a: fa, b: fb };
}

describe("roles", () => {
  test("a secondary refuses writes and flushes with EPERM", () => {
    const b = volume("b");
    expect(replies(run(b, { type: "write", id: 1, offset: 0, data: new Uint8Array(512) }))).toEqual([{ kind: "reply", id: 1, error: "EPERM" }]);
    expect(replies(run(b, { type: "flush", id: 2 }))).toEqual([{ kind: "reply", id: 2, error: "EPERM" }]);
  });
  test("a volume that is not up to date refuses promotion; the operator's force starts its first generation", () => {
    const v = volume("a", "C", freshMeta(SIZE, REGION));
    expect(events(run(v, { type: "promote", fresh: 5, at: 1 }))).toEqual([{ type: "refused", what: "promote", reason: "the volume is not up to date" }]);
    expect(v.role).toBe("secondary");
    const fx = run(v, { type: "promote", fresh: 5, at: 1, force: true });
    expect(v.role).toBe("primary");
    expect(v.gen.current).toBe(5);
    expect(fx.find((e) => e.kind === "meta")).toMatchObject({ meta: { primary: true, consistent: true } });
  });
  test("a resync target refuses promotion, and so does a node whose peer is primary", () => {
    const a = volume("a");
    const b = volume("b", "C", { ...freshMeta(SIZE, REGION), gen: { current: 99, bitmap: 0, history: [] }, consistent: true });
    a.gen = { current: 100, bitmap: 99, history: [] };
    connect(a, b);
    expect(b.conn).toBe("sync-target");
    expect(events(run(b, { type: "promote", fresh: 7, at: 1 }))[0]).toMatchObject({ type: "refused" });
    const c = volume("a");
    const d = volume("b");
    run(c, { type: "promote", fresh: 7, at: 1 });
    connect(c, d);
    expect(events(run(d, { type: "promote", fresh: 8, at: 2 }))).toEqual([{ type: "refused", what: "promote", reason: "the peer is primary" }]);
  });
  test("promotion without the peer starts a new generation once; the old one becomes the bitmap generation", () => {
    const a = volume("a");
    run(a, { type: "promote", fresh: 7, at: 1 });
    expect(a.gen).toEqual({ current: 7, bitmap: 100, history: [] });
    run(a, { type: "demote" });
    run(a, { type: "promote", fresh: 8, at: 2 });
    expect(a.gen.current).toBe(7);
  });
});

describe("writes and acknowledgement by protocol", () => {
  function pair(protocol: Protocol) {
    const a = volume("a", protocol);
    const b = volume("b", protocol);
    connect(a, b);
    run(a, { type: "promote", fresh: 7, at: 1 });
    expect(a.conn).toBe("connected");
    const fx = run(a, { type: "write", id: 1, offset: 4096, data: new Uint8Array(512).fill(9) });
    const data = sent(fx).find((m) => m.t === "data")!;
    expect(fx.map((e) => e.kind)).toEqual(["meta", "disk-write", "send"]);
    return { a, b, data };
  }
  test("A: acknowledged when the local write is done", () => {
    const { a } = pair("A");
    expect(replies(run(a, { type: "disk-written", origin: "app", ref: 1 }))).toEqual([{ kind: "reply", id: 1, replicated: false }]);
  });
  test("B: acknowledged when the peer has received it and the local write is done", () => {
    const { a, b, data } = pair("B");
    expect(replies(run(a, { type: "disk-written", origin: "app", ref: 1 }))).toEqual([]);
    const recv = sent(run(b, { type: "frame", msg: data }));
    expect(recv).toEqual([{ t: "recv-ack", seq: 1 }]);
    expect(replies(run(a, { type: "frame", msg: recv[0]! }))).toEqual([{ kind: "reply", id: 1, replicated: false }]);
  });
  test("C: acknowledged only when the peer wrote it to its disk; then the region is no longer in flight", () => {
    const { a, b, data } = pair("C");
    const fb = run(b, { type: "frame", msg: data });
    expect(fb).toEqual([{ kind: "disk-write", origin: "peer", ref: 1, offset: 4096, data: data.t === "data" ? data.data : new Uint8Array(), durable: false }]);
    expect(replies(run(a, { type: "disk-written", origin: "app", ref: 1 }))).toEqual([]);
    const ack = sent(run(b, { type: "disk-written", origin: "peer", ref: 1 }));
    expect(ack).toEqual([{ t: "write-ack", seq: 1 }]);
    expect(a.inflight.size).toBe(1);
    expect(replies(run(a, { type: "frame", msg: ack[0]! }))).toEqual([{ kind: "reply", id: 1, replicated: true }]);
    expect(a.inflight.size).toBe(0);
    expect(a.oos.count).toBe(0);
  });
  test("C: the link dropping releases the wait; the write stays in the bitmap and the primary starts a generation", () => {
    const { a } = pair("C");
    run(a, { type: "disk-written", origin: "app", ref: 1 });
    const fx = run(a, { type: "link-down", fresh: 8 });
    expect(replies(fx)).toEqual([{ kind: "reply", id: 1, replicated: false }]);
    expect(a.oos.has(1)).toBe(true);
    expect(a.gen).toEqual({ current: 8, bitmap: 100, history: [] });
    const meta = fx.find((e) => e.kind === "meta");
    expect(meta?.kind === "meta" && new Bitmap(16, meta.meta.bitmap).has(1)).toBe(true);
  });
  test("a flush is acknowledged once both disks flushed", () => {
    const { a, b } = pair("C");
    const fx = run(a, { type: "flush", id: 2 });
    const flush = sent(fx)[0]!;
    expect(flush).toEqual({ t: "flush", ref: 2 });
    expect(replies(run(a, { type: "disk-flushed", origin: "app", ref: 2 }))).toEqual([]);
    run(b, { type: "frame", msg: flush });
    const ack = sent(run(b, { type: "disk-flushed", origin: "peer", ref: 2 }))[0]!;
    expect(replies(run(a, { type: "frame", msg: ack }))).toEqual([{ kind: "reply", id: 2 }]);
  });
  test("writes apart set the bitmap; a write out of the volume is refused", () => {
    const a = volume("a");
    run(a, { type: "promote", fresh: 7, at: 1 });
    run(a, { type: "write", id: 1, offset: 4000, data: new Uint8Array(200) });
    expect([a.oos.has(0), a.oos.has(1), a.oos.count]).toEqual([true, true, 2]);
    expect(replies(run(a, { type: "write", id: 2, offset: SIZE - 100, data: new Uint8Array(200) }))).toEqual([{ kind: "reply", id: 2, error: "EINVAL" }]);
  });
});

describe("resync", () => {
  test("a primary's changes apart reach the returning secondary by the bitmap, and both end with the same generations", () => {
    const a = volume("a");
    const b = volume("b");
    run(a, { type: "promote", fresh: 7, at: 1 });
    run(a, { type: "write", id: 1, offset: 8192, data: new Uint8Array(100).fill(3) });
    run(a, { type: "disk-written", origin: "app", ref: 1 });
    const { a: fa } = connect(a, b);
    expect(a.conn).toBe("sync-source");
    expect(b.conn).toBe("sync-target");
    expect(b.disk).toBe("inconsistent");
    const reads = fa.filter((e) => e.kind === "disk-read");
    expect(reads).toEqual([{ kind: "disk-read", region: 2, offset: 8192, length: 4096 }]);
    const rs = sent(run(a, { type: "resync-read", region: 2, data: new Uint8Array(4096).fill(3) }));
    expect(rs[0]).toMatchObject({ t: "rs-data", region: 2 });
    // Durable before acknowledged: the source clears its bits on the ack.
    expect(run(b, { type: "frame", msg: rs[0]! })[0]).toMatchObject({ kind: "disk-write", origin: "resync", ref: 2, offset: 8192, durable: true });
    const ack = sent(run(b, { type: "disk-written", origin: "resync", ref: 2 }));
    const done = sent(run(a, { type: "frame", msg: ack[0]! }));
    expect(done).toEqual([{ t: "rs-done", gen: { current: 7, bitmap: 0, history: [100] } }]);
    run(b, { type: "frame", msg: done[0]! });
    expect([a.conn, b.conn, b.disk]).toEqual(["connected", "connected", "up-to-date"]);
    expect(b.gen).toEqual(a.gen);
  });
  test("a region written during its resync read is read again after the write", () => {
    const a = volume("a");
    const b = volume("b");
    run(a, { type: "promote", fresh: 7, at: 1 });
    run(a, { type: "write", id: 1, offset: 0, data: new Uint8Array(10) });
    run(a, { type: "disk-written", origin: "app", ref: 1 });
    connect(a, b);
    run(a, { type: "write", id: 2, offset: 0, data: new Uint8Array(10).fill(1) });
    expect(sent(run(a, { type: "resync-read", region: 0, data: new Uint8Array(4096) }))).toEqual([]);
    run(a, { type: "disk-written", origin: "app", ref: 2 });
    const fx = run(a, { type: "frame", msg: { t: "write-ack", seq: 1 } });
    expect(fx.filter((e) => e.kind === "disk-read")).toEqual([{ kind: "disk-read", region: 0, offset: 0, length: 4096 }]);
  });
});

describe("split brain", () => {
  test("both promoted apart: detected at reconnect, both stand alone under `disconnect`; discard-my-data on one resolves it", () => {
    const a = volume("a");
    const b = volume("b");
    run(a, { type: "promote", fresh: 7, at: 1 });
    run(b, { type: "promote", fresh: 8, at: 2 });
    run(b, { type: "write", id: 1, offset: 0, data: new Uint8Array(1) });
    run(b, { type: "disk-written", origin: "app", ref: 1 });
    run(a, { type: "demote" });
    run(b, { type: "demote" });
    const { a: fa } = connect(a, b);
    expect(events(fa)).toContainEqual({ type: "split-brain", resolution: "disconnect", selfDirty: 0, peerDirty: 1 });
    expect([a.conn, a.reason, b.conn, b.reason]).toEqual(["standalone", "split-brain", "standalone", "split-brain"]);
    run(b, { type: "discard-my-data" });
    run(a, { type: "connect" });
    connect(a, b);
    expect([a.conn, b.conn]).toEqual(["sync-source", "sync-target"]);
    expect(b.oos.has(0)).toBe(true);
  });
  test("a primary refuses discard-my-data", () => {
    const a = volume("a");
    run(a, { type: "promote", fresh: 7, at: 1 });
    expect(events(run(a, { type: "discard-my-data" }))[0]).toMatchObject({ type: "refused", what: "discard-my-data" });
  });
});

describe("the activity log", () => {
  test("only a write into an extent that is not hot writes the metadata first; the coldest idle extent leaves past the log's size", () => {
    const a = volume("a");
    const b = volume("b");
    connect(a, b);
    run(a, { type: "promote", fresh: 7, at: 1 });
    const write = (id: number, region: number) => run(a, { type: "write", id, offset: region * REGION, data: new Uint8Array(8) });
    const settle = (id: number, seq: number) => {
      run(a, { type: "disk-written", origin: "app", ref: id });
      run(a, { type: "frame", msg: { t: "write-ack", seq } });
    };
    expect(write(1, 0).map((e) => e.kind)).toEqual(["meta", "disk-write", "send"]);
    settle(1, 1);
    expect(write(2, 1).map((e) => e.kind)).toEqual(["disk-write", "send"]);
    settle(2, 2);
    expect(write(3, 2)[0]?.kind).toBe("meta");
    settle(3, 3);
    const third = write(4, 4);
    expect(third[0]?.kind).toBe("meta");
    expect([...a.hot.keys()]).toEqual([1, 2]);
    const first = third[0]!;
    const meta = first.kind === "meta" ? new Bitmap(16, first.meta.bitmap) : undefined;
    expect([0, 1, 2, 3, 4, 5].map((r) => meta!.has(r))).toEqual([false, false, true, true, true, true]);
  });
  test("a clean demote empties the log; a crash leaves its extents to resync", () => {
    const a = volume("a");
    run(a, { type: "promote", fresh: 7, at: 1 });
    const b = volume("b");
    connect(a, b);
    expect(a.conn).toBe("connected");
    run(a, { type: "write", id: 1, offset: 0, data: new Uint8Array(8) });
    run(a, { type: "disk-written", origin: "app", ref: 1 });
    run(a, { type: "frame", msg: { t: "write-ack", seq: 1 } });
    const crashed = initialState(a.p, { ...metaOf(a) });
    expect([crashed.oos.count, crashed.crashedPrimary]).toEqual([2, true]);
    const fx = run(a, { type: "demote" });
    const meta = fx.find((e) => e.kind === "meta");
    expect(meta?.kind === "meta" && new Bitmap(16, meta.meta.bitmap).count).toBe(0);
  });
});

describe("online verify", () => {
  test("each region's digest goes to the peer, which compares its own; a region that differs is marked out of sync and counted", () => {
    const a = volume("a");
    const b = volume("b");
    connect(a, b);
    const fx = run(a, { type: "verify" });
    const digests = fx.filter((e) => e.kind === "disk-digest");
    expect(digests).toHaveLength(16);
    expect(digests[3]).toEqual({ kind: "disk-digest", origin: "verify", region: 3, offset: 3 * REGION, length: REGION });
    let replies: PeerMessage[] = [];
    for (let r = 0; r < 16; r++) {
      const [request] = sent(run(a, { type: "digest", origin: "verify", region: r, digest: Uint8Array.of(r) }));
      expect(run(b, { type: "frame", msg: request! })).toEqual([{ kind: "disk-digest", origin: "peer", region: r, offset: r * REGION, length: REGION }]);
      replies = [...replies, ...sent(run(b, { type: "digest", origin: "peer", region: r, digest: Uint8Array.of(r === 5 ? 99 : r) }))];
    }
    expect(replies[5]).toEqual({ t: "ov-reply", region: 5, same: false });
    const done = replies.flatMap((m) => events(run(a, { type: "frame", msg: m })));
    expect(done).toEqual([{ type: "verify-done", checked: 16, differing: 1, aborted: false }]);
    expect([a.oos.has(5), a.oos.count]).toEqual([true, 1]);
  });
  test("verify needs a connected peer; a lost link ends it as aborted", () => {
    const a = volume("a");
    expect(events(run(a, { type: "verify" }))[0]).toMatchObject({ type: "refused", what: "verify" });
    connect(a, volume("b"));
    run(a, { type: "verify" });
    expect(events(run(a, { type: "link-down", fresh: 9 }))).toContainEqual({ type: "verify-done", checked: 0, differing: 0, aborted: true });
  });
});

describe("an interrupted resync resumes where it stopped", () => {
  const REGIONS = 256;
  const BIG = REGIONS * REGION;
  const params = (self: string) => ({ volume: "data", self, peer: self === "a" ? "b" : "a", size: BIG, regionBytes: REGION, protocol: "C" as const, splitBrain: "disconnect" as const, extentRegions: 8, hotExtents: 2, window: 8, batchRegions: 2 });
  const copyMeta = (m: Meta): Meta => ({ ...m, gen: { ...m.gen, history: [...m.gen.history] }, bitmap: m.bitmap.slice() });

  /** A node: the engine, its disk, its last persisted metadata, the frames on their way to it, its disk operations queued. */
  interface Node {
    s: State;
    disk: Uint8Array;
    meta: Meta;
    inbox: PeerMessage[];
    ops: Effect[];
    decisions: string[];
    events: ReturnType<typeof events>;
  }
  const node = (self: string, meta: Meta, disk: Uint8Array): Node => ({ s: initialState(params(self), copyMeta(meta)), disk, meta: copyMeta(meta), inbox: [], ops: [], decisions: [], events: [] });
  /** Resync bytes each side sent (rs-data), counted from the engine's effects. */
  const rsBytes = new Map<Node, number>();
  let linked = false;

  function feed(n: Node, peer: Node, input: Input): void {
    for (const e of run(n.s, input)) {
      if (e.kind === "meta") n.meta = copyMeta(e.meta);
      else if (e.kind === "send") {
        if (e.msg.t === "rs-data") rsBytes.set(n, (rsBytes.get(n) ?? 0) + (e.msg.data as Uint8Array).length);
        if (linked) peer.inbox.push(e.msg);
      } else if (e.kind === "event") {
        n.events.push(e.event);
        if (e.event.type === "decision") n.decisions.push(e.event.decision.rule);
      } else if (e.kind.startsWith("disk-")) n.ops.push(e);
    }
  }
  /** One disk operation of n, done. */
  function diskOp(n: Node, peer: Node): void {
    const e = n.ops.shift()!;
    if (e.kind === "disk-write") {
      n.disk.set(e.data as Uint8Array, e.offset);
      feed(n, peer, { type: "disk-written", origin: e.origin, ref: e.ref });
    } else if (e.kind === "disk-read") feed(n, peer, { type: "resync-read", region: e.region, data: n.disk.slice(e.offset, e.offset + e.length) });
    else if (e.kind === "disk-flush") feed(n, peer, { type: "disk-flushed", origin: e.origin, ref: e.ref });
  }
  /** Frames and disk operations in turn until nothing is left, or `stop` holds. */
  function pump(a: Node, b: Node, stop = () => false): void {
    while (!stop() && (a.inbox.length + b.inbox.length + a.ops.length + b.ops.length > 0))
      for (const [n, peer] of [[a, b], [b, a]] as const) {
        if (n.inbox.length > 0) feed(n, peer, { type: "frame", msg: n.inbox.shift()! });
        if (n.ops.length > 0) diskOp(n, peer);
      }
  }
  /** A new link, its handshakes exchanged: each side has its verdict. */
  function linkUp(a: Node, b: Node, fresh = 900): void {
    linked = true;
    feed(a, b, { type: "link-up", fresh });
    feed(b, a, { type: "link-up", fresh: fresh + 1 });
    feed(a, b, { type: "frame", msg: a.inbox.shift()! });
    feed(b, a, { type: "frame", msg: b.inbox.shift()! });
  }
  /** The link drops: frames in flight are lost, both sides told; the disks finish what they were given. */
  function cut(a: Node, b: Node, fresh = 800): void {
    linked = false;
    a.inbox = [];
    b.inbox = [];
    feed(a, b, { type: "link-down", fresh });
    feed(b, a, { type: "link-down", fresh: fresh + 1 });
    pump(a, b);
  }
  const patterned = () => Uint8Array.from({ length: BIG }, (_, i) => (i * 7 + (i >> 12)) & 0xff);
  /** A new pair: `a` promoted by force over its data, `b` new (current generation 0), connected: a full resync from a starts. */
  function newPair(): { a: Node; b: Node } {
    rsBytes.clear();
    const a = node("a", freshMeta(BIG, REGION), patterned());
    const b = node("b", freshMeta(BIG, REGION), new Uint8Array(BIG));
    feed(a, b, { type: "promote", fresh: 100, at: 1, force: true });
    linkUp(a, b);
    return { a, b };
  }
  const sentBy = (n: Node) => rsBytes.get(n) ?? 0;
  const inSync = (a: Node, b: Node) => {
    expect([a.s.conn, b.s.conn, a.s.disk, b.s.disk, a.s.oos.count, b.s.oos.count]).toEqual(["connected", "connected", "up-to-date", "up-to-date", 0, 0]);
    expect(b.s.gen).toEqual(a.s.gen);
    expect(Buffer.compare(a.disk, b.disk)).toBe(0);
  };

  test("a new volume's full resync cut at half: the reconnect sends only the regions not yet done", () => {
    const { a, b } = newPair();
    expect(a.decisions).toEqual(["peer-empty"]);
    expect([a.s.conn, b.s.conn]).toEqual(["sync-source", "sync-target"]);
    pump(a, b, () => sentBy(a) >= BIG / 2);
    cut(a, b);
    const first = sentBy(a);
    const left = a.s.oos.count * REGION;
    expect(left).toBeGreaterThan(BIG / 2 - 2 * 8 * REGION);
    expect(left).toBeLessThanOrEqual(BIG / 2 + 8 * REGION);
    // The target records whose data it is becoming: the source's bitmap generation (fresh at this resync), persisted.
    expect(a.s.gen.bitmap).toBe(900);
    expect([b.meta.gen.current, b.meta.consistent]).toEqual([900, false]);
    linkUp(a, b, 950);
    expect([a.decisions.at(-1), b.decisions.at(-1)]).toEqual(["peer-resumes", "self-resumes"]);
    pump(a, b);
    expect(sentBy(a) - first).toBe(left);
    expect(sentBy(a)).toBeLessThan(1.1 * BIG);
    inSync(a, b);
  });

  test("a resync whose rs-done the link lost: the reconnect sends only what the source wrote since, not the whole volume again", () => {
    const { a, b } = newPair();
    // One frame or disk operation at a time, until the source is done: its rs-done is then on its way.
    const one = () => ([[a, b], [b, a]] as const).some(([n, peer]) => (n.inbox.length > 0 ? (feed(n, peer, { type: "frame", msg: n.inbox.shift()! }), true) : n.ops.length > 0 && (diskOp(n, peer), true)));
    while (a.s.conn !== "connected" && one());
    expect(b.inbox.map((m) => m.t)).toContain("rs-done");
    cut(a, b);
    expect([b.s.conn, b.s.disk]).toEqual(["connecting", "inconsistent"]);
    for (const [id, region] of [[1, 5], [2, 200]] as const) feed(a, b, { type: "write", id, offset: region * REGION, data: new Uint8Array(REGION).fill(0xdd) });
    pump(a, b);
    const first = sentBy(a);
    linkUp(a, b, 950);
    expect([a.decisions.at(-1), b.decisions.at(-1)]).toEqual(["peer-missed-resync-done", "self-missed-resync-done"]);
    pump(a, b);
    expect(sentBy(a) - first).toBe(2 * REGION);
    inSync(a, b);
    expect(b.disk[200 * REGION]).toBe(0xdd);
  });

  test("regions the source writes while cut off are resent with those not yet done", () => {
    const { a, b } = newPair();
    pump(a, b, () => sentBy(a) >= BIG / 2);
    cut(a, b);
    // The primary went on alone: a new current generation, its bitmap generation (the resync's) kept.
    expect(a.s.gen).toMatchObject({ bitmap: 900, history: [100] });
    const left = a.s.oos.count;
    for (const [id, region] of [[1, 1], [2, 3]] as const) {
      expect(a.s.oos.has(region)).toBe(false);
      feed(a, b, { type: "write", id, offset: region * REGION, data: new Uint8Array(REGION).fill(0xee) });
    }
    pump(a, b);
    const first = sentBy(a);
    linkUp(a, b, 950);
    expect(b.decisions.at(-1)).toBe("self-resumes");
    pump(a, b);
    expect(sentBy(a) - first).toBe((left + 2) * REGION);
    inSync(a, b);
    expect(b.disk[3 * REGION]).toBe(0xee);
  });

  test("a target that crashes mid-resync resumes from its last checkpoint, not from the start", () => {
    const { a, b } = newPair();
    pump(a, b, () => sentBy(a) >= BIG / 2);
    // b's process dies: its engine, frames and queued disk operations are gone; its disk and persisted metadata stay.
    linked = false;
    a.inbox = [];
    b.inbox = [];
    b.ops = [];
    feed(a, b, { type: "link-down", fresh: 800 });
    pump(a, b);
    const restarted = node("b", b.meta, b.disk);
    expect(restarted.s.disk).toBe("inconsistent");
    const first = sentBy(a);
    linkUp(a, restarted, 950);
    expect(restarted.decisions.at(-1)).toBe("self-resumes");
    pump(a, restarted);
    // The target's bitmap lags by a checkpoint (1/64 of the volume) at most, plus what was under way.
    expect(sentBy(a) - first).toBeLessThanOrEqual(BIG / 2 + BIG / 64 + 2 * 8 * REGION);
    inSync(a, restarted);
  });

  test("a target promoted by force while cut off: split brain, as without a resume; discarding its data brings the source's back whole", () => {
    const { a, b } = newPair();
    pump(a, b, () => sentBy(a) >= BIG / 2);
    cut(a, b);
    feed(b, a, { type: "promote", fresh: 300, at: 2, force: true });
    expect(b.s.gen).toEqual({ current: 300, bitmap: 900, history: [] });
    feed(b, a, { type: "write", id: 1, offset: 5 * REGION, data: new Uint8Array(REGION).fill(0x11) });
    pump(a, b);
    feed(b, a, { type: "demote" });
    linkUp(a, b, 950);
    pump(a, b);
    expect(b.events).toContainEqual({ type: "split-brain", resolution: "disconnect", selfDirty: b.s.oos.count, peerDirty: a.s.oos.count });
    expect([a.s.conn, b.s.conn]).toEqual(["standalone", "standalone"]);
    feed(b, a, { type: "discard-my-data" });
    feed(a, b, { type: "connect" });
    linkUp(a, b, 970);
    expect(b.decisions.at(-1)).toBe("split-brain-equal-bitmaps");
    pump(a, b);
    inSync(a, b);
  });
});
