/**
 * The volume engine: one replicated volume on one node of the pair, as a
 * pure state machine `step(state, input) -> { state, effects }` (the step
 * takes ownership of the state it is given and returns it changed). The
 * shell performs the effects in order (a `meta` effect is durable before the
 * disk effects after it; disk operations complete in the order issued) and
 * feeds outcomes back as inputs: disk
 * completions, frames from the peer, the link's ups and downs, the
 * operator's commands, the NBD server's writes and flushes. Fresh
 * generation identifiers and the wall clock arrive in the inputs that need them.
 *
 * - Roles: the primary serves the volume; a secondary refuses writes
 *   (EPERM). A volume that is not up to date refuses promotion (but to the
 *   operator's force, which starts a new volume's first generation); so does
 *   one whose connected peer is primary.
 * - Writes: the primary writes locally and, while connected, sends the write
 *   to the peer in order; the client's acknowledgement waits by protocol: A,
 *   the local write; B, the local write and the peer's receipt; C, the local
 *   write and the peer's write to its disk. Writes the peer has not confirmed
 *   when the link drops are acknowledged on the local write alone and stay in
 *   the bitmap.
 * - The dirty bitmap: a region is out of sync from a write made apart (kept
 *   until a resync sends it) or while a write to it is on its way to the
 *   peer. What is persisted covers more: the out-of-sync regions and every
 *   region of the "hot" extents, the activity log as DRBD keeps it: the
 *   last `hotExtents` extents of `extentRegions` regions written to. A
 *   write into an extent that is not hot persists the bitmap first (the
 *   only metadata write on the write path); the coldest extent without a
 *   write under way leaves the set, its bits cleared at the next metadata
 *   write. A crash so resends the hot extents and nothing outside them was
 *   written unacknowledged.
 * - Generations and the handshake: on every connection both sides send
 *   their generations, roles and bitmap; each runs the same decision table
 *   (generations.ts) on the two views and reaches the mirror verdict:
 *   in sync, a resync (which way, by bitmap or full), split brain
 *   (resolved by policy or left to the operator), or unrelated data.
 * - Resync: the source reads each region in the union of both bitmaps and
 *   sends it; the target is inconsistent until the source says it is done and
 *   then takes the source's generations. As it starts, the source names it by
 *   its bitmap generation (a fresh one when it tracks none) and the target
 *   takes that as its current (`rs-start`, DRBD's sync UUID); both persist
 *   their bitmaps as the resync goes (every 1/CHECKPOINTS of the volume, and
 *   at a link's drop), the source's without the regions the target wrote.
 *   A resync cut off (a link drop, a restart, a crash) so resumes at the next
 *   connection by the source's bitmap: what was not yet sent and what was
 *   written since, not the whole volume. A region with a write under way is
 *   read only after it completes, and read again if a write began during
 *   the read, so the peer never receives stale data after a newer write.
 *   Flushes reach both disks before they are acknowledged.
 * - Online verify (connected): the verifying side digests each region, the
 *   peer digests its own and answers whether they match; a region that
 *   differs is marked out of sync (resent at the next connection: the
 *   operator disconnects and connects, as with DRBD) and counted.
 */
import { payloadBytes, type Payload } from "./payload.ts";
import { Bitmap } from "./bitmap.ts";
import {
  afterResyncSource,
  afterResyncTarget,
  decide,
  newGeneration,
  NO_GENERATION,
  resolveSplitBrain,
  startResyncSource,
  startResyncTarget,
  type Decision,
  type Generation,
  type Generations,
  type SideView,
  type SplitBrainPolicy,
} from "./generations.ts";

export const PROTOCOLS = ["A", "B", "C"] as const;
export type Protocol = (typeof PROTOCOLS)[number];


export interface VolumeParams {
  volume: string;
  self: string;
  peer: string;
  /** Bytes. */
  size: number;
  /** Bytes a bit of the bitmap covers. */
  regionBytes: number;
  protocol: Protocol;
  splitBrain: SplitBrainPolicy;
  /** Regions in one extent of the activity log. */
  extentRegions: number;
  /** Extents the activity log keeps hot. */
  hotExtents: number;
  /** Regions a resync or a verify has under way at most (the shell's rate limit paces the reads). */
  window: number;
  /** Contiguous regions a resync reads and sends as one, at most. */
  batchRegions: number;
}

/** What the shell keeps on disk for the volume (metadata.ts writes it). */
export interface Meta {
  gen: Generations;
  /** The persisted bitmap, bitmapBytes(regions) long. */
  bitmap: Uint8Array;
  /** The data is a whole generation (false: a new volume, or a resync target that has not finished). */
  consistent: boolean;
  /** Set while primary: found set at start, the node stopped without demoting. */
  primary: boolean;
  promotedAt: number;
}

export type Role = "primary" | "secondary";
export type ConnState = "standalone" | "connecting" | "handshake" | "connected" | "sync-source" | "sync-target";
export type DiskState = "up-to-date" | "inconsistent";
export type StandaloneReason = "operator" | "split-brain" | "unrelated" | "refused";
export type NbdError = "EPERM" | "EIO" | "EINVAL";

/** The peer protocol's messages (link.ts frames them). */
export type PeerMessage =
  | { t: "handshake"; view: SideView; size: number; regionBytes: number; bitmap: Uint8Array }
  | { t: "role"; primary: boolean }
  | { t: "data"; seq: number; offset: number; data: Payload }
  | { t: "recv-ack"; seq: number }
  | { t: "write-ack"; seq: number }
  | { t: "rs-data"; region: number; data: Payload }
  /** Regions `region` .. `region + count - 1` written by the target. */
  | { t: "rs-ack"; region: number; count: number }
  | { t: "rs-done"; gen: Generations }
  /** The resync's generation (the source's bitmap generation), sent before its first region: the target's current until it is done. */
  | { t: "rs-start"; gen: Generation }
  | { t: "flush"; ref: number }
  | { t: "flush-ack"; ref: number }
  /** The link's keepalive: the shell sends it and counts the peer silent without it; the engine ignores it. */
  | { t: "ping" }
  | { t: "ov-request"; region: number; digest: Uint8Array }
  | { t: "ov-reply"; region: number; same: boolean };

export type Origin = "app" | "peer" | "resync";

export type Input =
  /** A new link to the peer; the shell reports the previous link down first. `fresh`: a new generation, taken if this side starts a resync as its source with no bitmap generation. */
  | { type: "link-up"; fresh: Generation }
  /** The link dropped; `fresh` is a new generation, taken if a primary starts one. */
  | { type: "link-down"; fresh: Generation }
  | { type: "frame"; msg: PeerMessage }
  | { type: "write"; id: number; offset: number; data: Payload }
  | { type: "flush"; id: number }
  /** A disk write completed: the app's write `ref`, the peer's write `ref` (its seq), or resync region `ref`. */
  | { type: "disk-written"; origin: Origin; ref: number }
  | { type: "disk-flushed"; origin: "app" | "peer"; ref: number }
  | { type: "resync-read"; region: number; data: Uint8Array }
  /** A region's digest for online verify: of ours to send (`verify`), or of ours to compare with the peer's (`peer`). */
  | { type: "digest"; origin: "verify" | "peer"; region: number; digest: Uint8Array }
  | { type: "verify" }
  | { type: "promote"; fresh: Generation; at: number; force?: boolean }
  | { type: "demote" }
  | { type: "connect" }
  | { type: "disconnect" }
  | { type: "discard-my-data" };

export type VolumeEvent =
  | { type: "role"; role: Role }
  | { type: "connection"; conn: ConnState; reason?: StandaloneReason }
  | { type: "decision"; decision: Decision; dirty: number }
  | { type: "split-brain"; resolution: "source" | "target" | "disconnect"; selfDirty: number; peerDirty: number }
  | { type: "resync-done"; role: "source" | "target" }
  | { type: "verify-done"; checked: number; differing: number; aborted: boolean }
  | { type: "refused"; what: Refusable; reason: string };

type Refusable = "promote" | "demote" | "discard-my-data" | "verify";

export type Effect =
  | { kind: "meta"; meta: Meta }
  /** `durable`: on stable storage before `disk-written` (a resync's write: its rs-ack lets the source clear its bits, which a resumed resync trusts). */
  | { kind: "disk-write"; origin: Origin; ref: number; offset: number; data: Payload; durable: boolean }
  | { kind: "disk-flush"; origin: "app" | "peer"; ref: number }
  | { kind: "disk-read"; region: number; offset: number; length: number }
  | { kind: "disk-digest"; origin: "verify" | "peer"; region: number; offset: number; length: number }
  | { kind: "send"; msg: PeerMessage }
  /** Close the link; the shell reconnects while `wantsLink(state)`. */
  | { kind: "drop-link" }
  /** `replicated`: a write the peer had written to its disk when it was acknowledged (protocol C's promise kept, not degraded). */
  | { kind: "reply"; id: number; error?: NbdError; replicated?: boolean }
  | { kind: "event"; event: VolumeEvent };

interface PendingWrite {
  offset: number;
  length: number;
  local: boolean;
  /** "none": not sent to the peer (apart, or the link dropped since). */
  peer: "none" | "sent" | "received" | "written";
  replied: boolean;
}

interface PendingFlush {
  local: boolean;
  peer: boolean;
}

export interface State {
  readonly p: VolumeParams;
  readonly regions: number;
  role: Role;
  conn: ConnState;
  reason?: StandaloneReason;
  disk: DiskState;
  gen: Generations;
  /** Regions known to differ from the peer (written apart, or to resync). */
  oos: Bitmap;
  /** Writes on their way to the peer, per region. */
  inflight: Map<number, number>;
  /** The activity log: extents written to lately, coldest first; their regions are persisted as dirty. */
  hot: Map<number, true>;
  /** The persisted metadata's primary flag as found at start. */
  crashedPrimary: boolean;
  promotedAt: number;
  discardMyData: boolean;
  /** A generation began since the peer was last connected. */
  apart: boolean;
  peerPrimary: boolean;
  /** The view sent at this connection's handshake (the decision is taken on it). */
  sentView?: SideView;
  /** The link-up's fresh generation: a resync's, if this side starts one as source on this link. */
  linkFresh: Generation;
  /** Regions resynced (sent and acknowledged, or written as the target) since the bitmap was last persisted. */
  resyncedSincePersist: number;
  writes: Map<number, PendingWrite>;
  /** Our data frame's seq -> the app's write id. */
  seqToId: Map<number, number>;
  nextSeq: number;
  flushes: Map<number, PendingFlush>;
  resync: Resync;
  /** The target's resync writes under way, in the order issued (the disk completes them in that order): first region and regions. */
  resyncWrites: Array<{ region: number; count: number }>;
  /** Online verify under way from this side. */
  verify: { next: number; pending: Set<number>; checked: number; differing: number } | null;
  /** The peer's digests waiting for ours. */
  peerDigests: Map<number, Uint8Array>;
}

export function regionsOf(size: number, regionBytes: number): number {
  return Math.ceil(size / regionBytes);
}

/** A new volume's metadata: no generation, nothing consistent yet. */
export function freshMeta(size: number, regionBytes: number): Meta {
  return { gen: { current: NO_GENERATION, bitmap: NO_GENERATION, history: [] }, bitmap: new Bitmap(regionsOf(size, regionBytes)).bits, consistent: false, primary: false, promotedAt: 0 };
}

/** The state at start, from the metadata on disk: secondary, waiting for the peer. */
export function initialState(p: VolumeParams, meta: Meta): State {
  const regions = regionsOf(p.size, p.regionBytes);
  return {
    p,
    regions,
    role: "secondary",
    conn: "connecting",
    disk: meta.consistent ? "up-to-date" : "inconsistent",
    gen: { ...meta.gen, history: [...meta.gen.history] },
    oos: new Bitmap(regions, meta.bitmap),
    inflight: new Map(),
    hot: new Map(),
    crashedPrimary: meta.primary,
    promotedAt: meta.promotedAt,
    discardMyData: false,
    apart: false,
    peerPrimary: false,
    linkFresh: NO_GENERATION,
    resyncedSincePersist: 0,
    writes: new Map(),
    seqToId: new Map(),
    nextSeq: 1,
    flushes: new Map(),
    resync: newResync(),
    resyncWrites: [],
    verify: null,
    peerDigests: new Map(),
  };
}

/** Whether the shell should keep (re)connecting the link. */
export const wantsLink = (s: State): boolean => s.conn !== "standalone";

/** Whether the peer receives the primary's writes now. */
const replicating = (s: State): boolean => s.conn === "connected" || s.conn === "sync-source" || s.conn === "sync-target";

/** Whether this node may serve reads and writes. */
export const serves = (s: State): boolean => s.role === "primary" && s.disk === "up-to-date";

export function persistedBitmap(s: State): Bitmap {
  const b = s.oos.copy();
  for (const e of s.hot.keys()) for (let r = e * s.p.extentRegions; r < Math.min(s.regions, (e + 1) * s.p.extentRegions); r++) b.set(r);
  return b;
}

export function metaOf(s: State): Meta {
  return { gen: s.gen, bitmap: persistedBitmap(s).bits, consistent: s.disk === "up-to-date", primary: s.role === "primary", promotedAt: s.promotedAt };
}

export function viewOf(s: State): SideView {
  return { name: s.p.self, gen: s.gen, primary: s.role === "primary", crashedPrimary: s.crashedPrimary, consistent: s.disk === "up-to-date", dirty: s.oos.count, promotedAt: s.promotedAt, discardMyData: s.discardMyData };
}

export function step(s: State, input: Input): { state: State; effects: Effect[] } {
  const fx: Effect[] = [];
  switch (input.type) {
    case "link-up":
      s.linkFresh = input.fresh;
      if (s.conn === "connecting") sendHandshake(s, fx);
      break;
    case "link-down":
      linkDown(s, input.fresh, fx);
      break;
    case "frame":
      onFrame(s, input.msg, fx);
      break;
    case "write":
      onWrite(s, input, fx);
      break;
    case "flush":
      onFlush(s, input.id, fx);
      break;
    case "disk-written":
      onWritten(s, input.origin, input.ref, fx);
      break;
    case "disk-flushed":
      onFlushed(s, input.origin, input.ref, fx);
      break;
    case "resync-read":
      onResyncRead(s, input.region, input.data, fx);
      break;
    case "verify":
      if (s.conn !== "connected") refuse("verify", "verify runs between connected, up-to-date sides", fx);
      else s.verify ??= { next: 0, pending: new Set(), checked: 0, differing: 0 };
      break;
    case "digest":
      onDigest(s, input.origin, input.region, input.digest, fx);
      break;
    case "promote":
      promote(s, input, fx);
      break;
    case "demote":
      demote(s, fx);
      break;
    case "connect":
      if (s.conn === "standalone") setConn(s, "connecting", fx);
      break;
    case "disconnect":
      standalone(s, "operator", fx);
      break;
    case "discard-my-data":
      if (s.role === "primary") refuse("discard-my-data", "a primary keeps its data: demote it first", fx);
      else {
        s.discardMyData = true;
        if (s.conn === "standalone") setConn(s, "connecting", fx);
      }
      break;
  }
  if (s.conn === "sync-source") pumpResync(s, fx);
  if (s.verify) pumpVerify(s, fx);
  return { state: s, effects: fx };
}

function setConn(s: State, conn: ConnState, fx: Effect[], reason?: StandaloneReason): void {
  if (s.conn === conn) return;
  s.conn = conn;
  s.reason = conn === "standalone" ? reason : undefined;
  fx.push({ kind: "event", event: { type: "connection", conn, ...(reason ? { reason } : {}) } });
}

function refuse(what: Refusable, reason: string, fx: Effect[]): void {
  fx.push({ kind: "event", event: { type: "refused", what, reason } });
}

const persist = (s: State, fx: Effect[]) => {
  s.resyncedSincePersist = 0;
  fx.push({ kind: "meta", meta: metaOf(s) });
};

/** A resync persists its progress this many times over a whole volume (DRBD writes its bitmap lazily as it goes): a crash resends at most this share again. */
const CHECKPOINTS = 64;

/** `count` regions more resynced: the bitmap persisted once they make 1/CHECKPOINTS of the volume. */
function resynced(s: State, count: number, fx: Effect[]): void {
  s.resyncedSincePersist += count;
  if (s.resyncedSincePersist * CHECKPOINTS >= s.regions) persist(s, fx);
}

function standalone(s: State, reason: StandaloneReason, fx: Effect[]): void {
  const wasLinked = s.conn !== "standalone" && s.conn !== "connecting";
  setConn(s, "standalone", fx, reason);
  if (wasLinked) fx.push({ kind: "drop-link" });
}

function sendHandshake(s: State, fx: Effect[]): void {
  s.sentView = viewOf(s);
  setConn(s, "handshake", fx);
  fx.push({ kind: "send", msg: { t: "handshake", view: s.sentView, size: s.p.size, regionBytes: s.p.regionBytes, bitmap: s.oos.copy().bits } });
}

function linkDown(s: State, fresh: Generation, fx: Effect[]): void {
  s.peerPrimary = false;
  s.sentView = undefined;
  s.resync = newResync();
  endVerify(s, true, fx);
  s.peerDigests.clear();
  // What the peer did not confirm is out of sync; the client's wait for the peer ends.
  s.inflight.clear();
  for (const [id, w] of s.writes) {
    forRegions(s, w.offset, w.length, (r) => s.oos.set(r));
    w.peer = "none";
    settleWrite(s, id, w, fx);
  }
  s.seqToId.clear();
  for (const [ref, f] of s.flushes) {
    f.peer = true;
    settleFlush(s, ref, f, fx);
  }
  // Not apart: connected since its last generation began (the link may have been dropped by a verdict or the operator just before).
  if (s.role === "primary" && !s.apart) {
    s.gen = newGeneration(s.gen, fresh);
    s.apart = true;
  }
  if (s.conn !== "standalone") setConn(s, "connecting", fx);
  persist(s, fx);
}

function forRegions(s: State, offset: number, length: number, fn: (r: number) => void): void {
  if (length === 0) return;
  const first = Math.floor(offset / s.p.regionBytes);
  const last = Math.floor((offset + length - 1) / s.p.regionBytes);
  for (let r = first; r <= last; r++) fn(r);
}

function onWrite(s: State, input: { id: number; offset: number; data: Payload }, fx: Effect[]): void {
  const { id, offset, data } = input;
  const length = payloadBytes(data);
  if (s.role !== "primary" || s.disk !== "up-to-date") return void fx.push({ kind: "reply", id, error: "EPERM" });
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > s.p.size || s.writes.has(id)) return void fx.push({ kind: "reply", id, error: "EINVAL" });
  const toPeer = replicating(s);
  let newBits = false;
  let touched = -1;
  forRegions(s, offset, length, (r) => {
    const extent = Math.floor(r / s.p.extentRegions);
    // An extent made the most recent once for the write (its regions are consecutive).
    if (extent !== touched) {
      touched = extent;
      if (s.hot.delete(extent)) s.hot.set(extent, true);
      else if (toPeer) {
        s.hot.set(extent, true);
        newBits = true;
      }
    }
    if (toPeer) s.inflight.set(r, (s.inflight.get(r) ?? 0) + 1);
    else if (s.oos.set(r) && !s.hot.has(extent)) newBits = true;
    if (s.resync.reading.has(r)) s.resync.touched.add(r);
  });
  coolDown(s);
  if (newBits) persist(s, fx);
  const w: PendingWrite = { offset, length, local: false, peer: toPeer ? "sent" : "none", replied: false };
  s.writes.set(id, w);
  fx.push({ kind: "disk-write", origin: "app", ref: id, offset, data, durable: false });
  if (toPeer) {
    const seq = s.nextSeq++;
    s.seqToId.set(seq, id);
    fx.push({ kind: "send", msg: { t: "data", seq, offset, data } });
  }
}

/** The coldest extents leave the activity log past its size, but none with a write under way. */
function coolDown(s: State): void {
  if (s.hot.size <= s.p.hotExtents) return;
  const busy = new Set<number>();
  for (const r of s.inflight.keys()) busy.add(Math.floor(r / s.p.extentRegions));
  for (const e of s.hot.keys()) {
    if (s.hot.size <= s.p.hotExtents) return;
    if (!busy.has(e)) s.hot.delete(e);
  }
}

/** Replies once the protocol's condition holds; forgets the write once the peer's part is settled too. */
function settleWrite(s: State, id: number, w: PendingWrite, fx: Effect[]): void {
  if (!w.local) return;
  if (!w.replied) {
    const peerOk = w.peer === "none" || s.p.protocol === "A" || w.peer === "written" || (s.p.protocol === "B" && w.peer === "received");
    if (peerOk) {
      w.replied = true;
      fx.push({ kind: "reply", id, replicated: w.peer === "written" });
    }
  }
  if (w.replied && (w.peer === "none" || w.peer === "written")) {
    s.writes.delete(id);
    if (w.peer === "written")
      forRegions(s, w.offset, w.length, (r) => {
        const n = (s.inflight.get(r) ?? 1) - 1;
        if (n > 0) s.inflight.set(r, n);
        else s.inflight.delete(r);
      });
  }
}

function onWritten(s: State, origin: Origin, ref: number, fx: Effect[]): void {
  if (origin === "app") {
    const w = s.writes.get(ref);
    if (!w) return;
    w.local = true;
    settleWrite(s, ref, w, fx);
  } else if (origin === "peer") {
    if (replicating(s)) fx.push({ kind: "send", msg: { t: "write-ack", seq: ref } });
  } else {
    const head = s.resyncWrites[0];
    if (head?.region !== ref) return;
    s.resyncWrites.shift();
    const count = head.count;
    for (let r = ref; r < ref + count; r++) s.oos.clear(r);
    resynced(s, count, fx);
    if (replicating(s)) fx.push({ kind: "send", msg: { t: "rs-ack", region: ref, count } });
  }
}

function onFlush(s: State, id: number, fx: Effect[]): void {
  if (s.role !== "primary") return void fx.push({ kind: "reply", id, error: "EPERM" });
  if (s.flushes.has(id)) return void fx.push({ kind: "reply", id, error: "EINVAL" });
  const toPeer = replicating(s);
  s.flushes.set(id, { local: false, peer: !toPeer });
  fx.push({ kind: "disk-flush", origin: "app", ref: id });
  if (toPeer) fx.push({ kind: "send", msg: { t: "flush", ref: id } });
}

function onFlushed(s: State, origin: "app" | "peer", ref: number, fx: Effect[]): void {
  if (origin === "peer") {
    if (replicating(s)) fx.push({ kind: "send", msg: { t: "flush-ack", ref } });
    return;
  }
  const f = s.flushes.get(ref);
  if (!f) return;
  f.local = true;
  settleFlush(s, ref, f, fx);
}

function settleFlush(s: State, ref: number, f: PendingFlush, fx: Effect[]): void {
  if (!f.local || !f.peer) return;
  s.flushes.delete(ref);
  fx.push({ kind: "reply", id: ref });
}

function onFrame(s: State, msg: PeerMessage, fx: Effect[]): void {
  if (msg.t === "handshake") return onHandshake(s, msg, fx);
  if (msg.t === "ping") return;
  if (!replicating(s)) return; // a frame of a connection not yet decided, or one the peer sent before it heard our verdict
  switch (msg.t) {
    case "role":
      s.peerPrimary = msg.primary;
      if (msg.primary && s.role === "primary") standalone(s, "refused", fx);
      return;
    case "data":
      if (s.role === "primary") return standalone(s, "refused", fx);
      fx.push({ kind: "disk-write", origin: "peer", ref: msg.seq, offset: msg.offset, data: msg.data, durable: false });
      if (s.p.protocol === "B") fx.push({ kind: "send", msg: { t: "recv-ack", seq: msg.seq } });
      return;
    case "recv-ack":
    case "write-ack": {
      const id = s.seqToId.get(msg.seq);
      const w = id === undefined ? undefined : s.writes.get(id);
      if (id === undefined || !w) return;
      if (msg.t === "write-ack") {
        w.peer = "written";
        s.seqToId.delete(msg.seq);
      } else if (w.peer === "sent") w.peer = "received";
      settleWrite(s, id, w, fx);
      return;
    }
    case "rs-data":
      if (s.role === "primary") return standalone(s, "refused", fx);
      s.resyncWrites.push({ region: msg.region, count: Math.ceil(payloadBytes(msg.data) / s.p.regionBytes) });
      fx.push({ kind: "disk-write", origin: "resync", ref: msg.region, offset: msg.region * s.p.regionBytes, data: msg.data, durable: true });
      return;
    case "rs-ack": {
      const rs = s.resync;
      const count = rs.sentRuns.get(msg.region);
      if (count === undefined || count !== msg.count) return;
      rs.sentRuns.delete(msg.region);
      rs.out -= count;
      for (let r = msg.region; r < msg.region + count; r++) {
        rs.sent.delete(r);
        s.oos.clear(r);
      }
      resynced(s, count, fx);
      return;
    }
    case "rs-start":
      if (s.conn !== "sync-target") return;
      s.gen = startResyncTarget(s.gen, msg.gen);
      persist(s, fx);
      return;
    case "rs-done":
      if (s.conn === "sync-target") {
        s.gen = afterResyncTarget(msg.gen);
        s.disk = "up-to-date";
        s.oos.clearAll();
        s.crashedPrimary = false;
        s.discardMyData = false;
        setConn(s, "connected", fx);
        fx.push({ kind: "event", event: { type: "resync-done", role: "target" } });
        persist(s, fx);
      } else if (s.conn === "connected") s.oos.clearAll();
      return;
    case "flush":
      fx.push({ kind: "disk-flush", origin: "peer", ref: msg.ref });
      return;
    case "flush-ack": {
      const f = s.flushes.get(msg.ref);
      if (!f) return;
      f.peer = true;
      settleFlush(s, msg.ref, f, fx);
      return;
    }
    case "ov-request":
      s.peerDigests.set(msg.region, msg.digest);
      fx.push({ kind: "disk-digest", origin: "peer", region: msg.region, offset: msg.region * s.p.regionBytes, length: regionLength(s, msg.region) });
      return;
    case "ov-reply": {
      const v = s.verify;
      if (!v?.pending.delete(msg.region)) return;
      v.checked++;
      if (!msg.same) {
        v.differing++;
        if (s.oos.set(msg.region)) persist(s, fx);
      }
      if (v.next >= s.regions && v.pending.size === 0) endVerify(s, false, fx);
      return;
    }
  }
}

const regionLength = (s: State, region: number) => Math.min(s.p.regionBytes, s.p.size - region * s.p.regionBytes);

function pumpVerify(s: State, fx: Effect[]): void {
  const v = s.verify!;
  while (v.pending.size < s.p.window && v.next < s.regions) {
    const r = v.next++;
    v.pending.add(r);
    fx.push({ kind: "disk-digest", origin: "verify", region: r, offset: r * s.p.regionBytes, length: regionLength(s, r) });
  }
}

function onDigest(s: State, origin: "verify" | "peer", region: number, digest: Uint8Array, fx: Effect[]): void {
  if (!replicating(s)) return;
  if (origin === "verify") {
    if (s.verify?.pending.has(region)) fx.push({ kind: "send", msg: { t: "ov-request", region, digest } });
    return;
  }
  const theirs = s.peerDigests.get(region);
  if (!theirs) return;
  s.peerDigests.delete(region);
  const same = theirs.length === digest.length && theirs.every((b, i) => b === digest[i]);
  fx.push({ kind: "send", msg: { t: "ov-reply", region, same } });
}

function endVerify(s: State, aborted: boolean, fx: Effect[]): void {
  const v = s.verify;
  if (!v) return;
  s.verify = null;
  fx.push({ kind: "event", event: { type: "verify-done", checked: v.checked, differing: v.differing, aborted } });
}

function onHandshake(s: State, msg: Extract<PeerMessage, { t: "handshake" }>, fx: Effect[]): void {
  if (s.conn === "standalone" || s.conn === "connecting") return;
  if (msg.size !== s.p.size || msg.regionBytes !== s.p.regionBytes || msg.bitmap.length !== s.oos.bits.length) return standalone(s, "refused", fx);
  if (s.conn !== "handshake") sendHandshake(s, fx);
  const mine = s.sentView!;
  const peer = msg.view;
  s.peerPrimary = peer.primary;
  let decision = decide(mine, peer);
  if (decision.kind === "split-brain") {
    const resolution = resolveSplitBrain(mine, peer, s.p.splitBrain);
    fx.push({ kind: "event", event: { type: "split-brain", resolution, selfDirty: mine.dirty, peerDirty: peer.dirty } });
    if (resolution === "disconnect") return standalone(s, "split-brain", fx);
    decision = { kind: "resync", role: resolution, full: !decision.related, rule: `split-brain-${decision.rule}` };
  }
  fx.push({ kind: "event", event: { type: "decision", decision, dirty: s.oos.count } });
  switch (decision.kind) {
    case "unrelated":
      return standalone(s, "unrelated", fx);
    case "no-data":
      setConn(s, "connected", fx);
      return;
    case "in-sync":
      s.apart = false;
      s.crashedPrimary = false;
      s.discardMyData = false;
      setConn(s, s.oos.count > 0 ? "sync-source" : "connected", fx);
      persist(s, fx);
      return;
    case "resync":
      if (decision.role === "target" && s.role === "primary") return standalone(s, "refused", fx);
      s.apart = false;
      if (decision.full) s.oos.setAll();
      else s.oos.merge(msg.bitmap);
      if (decision.role === "target") {
        s.disk = "inconsistent";
        setConn(s, "sync-target", fx);
      } else {
        s.gen = startResyncSource(s.gen, s.linkFresh);
        setConn(s, "sync-source", fx);
      }
      persist(s, fx);
      // Once the source's bitmap generation is durable: a target never records one its source could lose in a crash.
      if (decision.role === "source") fx.push({ kind: "send", msg: { t: "rs-start", gen: s.gen.bitmap } });
      return;
  }
}

/** A resync source's regions under way: read (runs by first region), sent and not yet acknowledged, written to during their read. */
interface Resync {
  reading: Set<number>;
  readRuns: Map<number, number>;
  sent: Set<number>;
  sentRuns: Map<number, number>;
  touched: Set<number>;
  /** Regions read or sent. */
  out: number;
}

const newResync = (): Resync => ({ reading: new Set(), readRuns: new Map(), sent: new Set(), sentRuns: new Map(), touched: new Set(), out: 0 });

function pumpResync(s: State, fx: Effect[]): void {
  const rs = s.resync;
  const free = (r: number) => s.oos.has(r) && !rs.reading.has(r) && !rs.sent.has(r) && !s.inflight.has(r);
  let r = s.oos.next(0);
  while (r >= 0 && rs.out < s.p.window) {
    if (!free(r)) {
      r = s.oos.next(r + 1);
      continue;
    }
    let count = 1;
    while (count < s.p.batchRegions && rs.out + count < s.p.window && r + count < s.regions && free(r + count)) count++;
    for (let i = r; i < r + count; i++) rs.reading.add(i);
    rs.readRuns.set(r, count);
    rs.out += count;
    const offset = r * s.p.regionBytes;
    fx.push({ kind: "disk-read", region: r, offset, length: Math.min(count * s.p.regionBytes, s.p.size - offset) });
    r = s.oos.next(r + count);
  }
  if (s.oos.count === 0 && rs.out === 0) {
    s.gen = afterResyncSource(s.gen);
    s.crashedPrimary = false;
    s.discardMyData = false;
    setConn(s, "connected", fx);
    fx.push({ kind: "send", msg: { t: "rs-done", gen: s.gen } });
    fx.push({ kind: "event", event: { type: "resync-done", role: "source" } });
    persist(s, fx);
  }
}

function onResyncRead(s: State, region: number, data: Uint8Array, fx: Effect[]): void {
  const rs = s.resync;
  const count = rs.readRuns.get(region);
  if (count === undefined || s.conn !== "sync-source") return;
  rs.readRuns.delete(region);
  let touched = false;
  for (let r = region; r < region + count; r++) {
    rs.reading.delete(r);
    if (rs.touched.delete(r)) touched = true;
  }
  if (touched) {
    rs.out -= count; // a write began during the read: read it again once it is done
    return;
  }
  for (let r = region; r < region + count; r++) rs.sent.add(r);
  rs.sentRuns.set(region, count);
  fx.push({ kind: "send", msg: { t: "rs-data", region, data } });
}

function promote(s: State, input: { fresh: Generation; at: number; force?: boolean }, fx: Effect[]): void {
  if (s.role === "primary") return;
  if (s.conn === "handshake") return refuse("promote", "the handshake with the peer is under way", fx);
  if (s.peerPrimary) return refuse("promote", "the peer is primary", fx);
  if (s.conn === "sync-target") return refuse("promote", "a resync target is not up to date", fx);
  const firstGeneration = s.disk !== "up-to-date";
  if (firstGeneration && !input.force) return refuse("promote", "the volume is not up to date", fx);
  if (firstGeneration) {
    s.gen = newGeneration(s.gen, input.fresh);
    s.disk = "up-to-date";
  } else if (!replicating(s) && !s.apart) {
    s.gen = newGeneration(s.gen, input.fresh);
    s.apart = true;
  }
  s.role = "primary";
  s.promotedAt = input.at;
  fx.push({ kind: "event", event: { type: "role", role: "primary" } });
  persist(s, fx);
  if (firstGeneration && replicating(s)) sendHandshake(s, fx);
  else if (replicating(s)) fx.push({ kind: "send", msg: { t: "role", primary: true } });
}

function demote(s: State, fx: Effect[]): void {
  if (s.role === "secondary") return;
  if (s.writes.size > 0 || s.flushes.size > 0) return refuse("demote", "writes are under way", fx);
  s.role = "secondary";
  s.hot.clear();
  fx.push({ kind: "event", event: { type: "role", role: "secondary" } });
  persist(s, fx);
  if (replicating(s)) fx.push({ kind: "send", msg: { t: "role", primary: false } });
}
