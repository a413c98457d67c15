/**
 * The peer link's wire format: the volume's messages (engine.ts
 * PeerMessage) over one TCP connection between the pair, authenticated and
 * integrity-protected with the cluster key.
 *
 * A connection opens with a hello each way, sealed with the sender's active
 * cluster key (AES-256-GCM, a random 96-bit nonce; the key's id in clear):
 * the cluster's id, the sender's and the volume's names, and 32 random
 * bytes. From the two hellos each direction derives its own session key
 * (HKDF-SHA256 over the cluster key that sealed the sender's hello, salted
 * with both random values), and every message after is sealed with it, its
 * nonce the frame's count in that direction. So a frame dropped, replayed,
 * reordered or carried over from another connection fails to open, and the
 * connection is closed. Keys rotate as the heartbeat's do (core/crypto/keyfile.ts):
 * sent with the active one, received with any.
 *
 * Layout of a frame: length u32 (of what follows), kind u8 (1 hello, 2
 * message), then for a hello: version u8, key id u8, nonce (12), sealed
 * body and tag (16); for a message: the sealed body and tag, the body one
 * message or several one after another (the shell seals what one turn of
 * its event loop queued in one frame: one cipher for a turn's acks). The
 * header is the additional data. Messages are checked against the volume's geometry
 * as they are decoded: a write or resync block past the end, a region out
 * of range, a number past 2^53 is a protocol error, never an effect.
 * Decoding never throws; any input gives a frame or a typed error.
 */
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import type { ClusterKeys } from "../../core/crypto/keyfile.ts";
import { NAME_PATTERN } from "../../core/config/primitives.ts";
import type { Generations, SideView } from "./generations.ts";
import type { PeerMessage } from "./engine.ts";
import { bitmapBytes } from "./bitmap.ts";
import { concat as joinParts } from "./nbd/codec.ts";

const VERSION = 1;
const KIND_HELLO = 1;
const KIND_MESSAGE = 2;
const TAG_BYTES = 16;
const NONCE_BYTES = 12;
const RANDOM_BYTES = 32;
const CLUSTER_ID_BYTES = 8;
const MAX_NAME_BYTES = 31;
const HISTORY_MAX = 8;
/** The largest write one message carries (NBD clients split larger ones). */
export const MAX_WRITE = 32 * 2 ** 20;
/** The largest frame: a write and its header, or a handshake with the largest bitmap (2^26 regions). */
export const MAX_FRAME = MAX_WRITE + 4096;
const HEADER_BYTES = 5;
/** Bytes of a frame's start moved to the front of the receive buffer at most. */
const COMPACT_BYTES = 64 * 1024;
/** A sealed piece at least this large goes out as a buffer of its own; smaller ones are joined with their neighbours. */
const SEPARATE_BYTES = 16 * 1024;
const HELLO_HEADER_BYTES = HEADER_BYTES + 2 + NONCE_BYTES;
const NAME = new RegExp(NAME_PATTERN);
const TWO_32 = 2 ** 32;

export const LINK_ERRORS = ["oversized", "short", "kind", "version", "unknown-key", "auth", "cluster", "peer", "volume", "malformed", "range", "order"] as const;
export type LinkError = (typeof LINK_ERRORS)[number];

/** What a message is checked against. */
export interface Geometry {
  size: number;
  regionBytes: number;
}

const CODES = ["handshake", "role", "data", "recv-ack", "write-ack", "rs-data", "rs-ack", "rs-done", "flush", "flush-ack", "ping", "ov-request", "ov-reply"] as const;
/** The longest digest a verify request carries (SHA-512's). */
const MAX_DIGEST = 64;

class Writer {
  private buf: Uint8Array;
  private view: DataView;
  at = 0;
  constructor(size = 64) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    next.set(this.buf);
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(n: number): this {
    this.room(1);
    this.buf[this.at++] = n;
    return this;
  }
  u32(n: number): this {
    this.room(4);
    this.view.setUint32(this.at, n);
    this.at += 4;
    return this;
  }
  u53(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${n} is not a whole number below 2^53`);
    this.room(8);
    this.view.setUint32(this.at, Math.floor(n / TWO_32));
    this.view.setUint32(this.at + 4, n >>> 0);
    this.at += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }
  name(s: string): this {
    if (!NAME.test(s)) throw new RangeError(`"${s}" is not a name`);
    this.u8(s.length);
    for (let i = 0; i < s.length; i++) this.u8(s.charCodeAt(i));
    return this;
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }
}

class Malformed extends Error {
  constructor(readonly reason: LinkError) {
    super(reason);
  }
}

class Reader {
  private readonly view: DataView;
  at = 0;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new Malformed("malformed");
  }
  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }
  u32(): number {
    this.need(4);
    const n = this.view.getUint32(this.at);
    this.at += 4;
    return n;
  }
  u53(): number {
    this.need(8);
    const high = this.view.getUint32(this.at);
    if (high >= 2 ** 21) throw new Malformed("malformed");
    const n = high * TWO_32 + this.view.getUint32(this.at + 4);
    this.at += 8;
    return n;
  }
  /** A view, not a copy: the bodies read are fresh buffers of their own (a frame's plaintext). */
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
  name(): string {
    const n = this.u8();
    if (n < 1 || n > MAX_NAME_BYTES) throw new Malformed("malformed");
    const s = String.fromCharCode(...this.bytes(n));
    if (!NAME.test(s)) throw new Malformed("malformed");
    return s;
  }
  end(): void {
    if (!this.done) throw new Malformed("malformed");
  }
  get done(): boolean {
    return this.at === this.buf.length;
  }
}

function writeGen(w: Writer, g: Generations): void {
  w.u53(g.current).u53(g.bitmap).u8(g.history.length);
  for (const h of g.history) w.u53(h);
}

function readGen(r: Reader): Generations {
  const current = r.u53();
  const bitmap = r.u53();
  const n = r.u8();
  if (n > HISTORY_MAX) throw new Malformed("malformed");
  const history: number[] = [];
  for (let i = 0; i < n; i++) history.push(r.u53());
  return { current, bitmap, history };
}

const bool = (r: Reader): boolean => {
  const b = r.u8();
  if (b > 1) throw new Malformed("malformed");
  return b === 1;
};

/** A message's body. Throws a RangeError for one that breaks the format (a bad name or number). */
export function encodeMessage(m: PeerMessage): Uint8Array {
  return joinParts(encodeParts(m));
}

/**
 * A message's body in pieces: the fields, then a write's or a resync
 * block's data as it is (not copied: the cipher reads it where it lies).
 */
function encodeParts(m: PeerMessage): Uint8Array[] {
  const w = new Writer(m.t === "handshake" ? m.bitmap.length + 160 : 32);
  w.u8(CODES.indexOf(m.t));
  switch (m.t) {
    case "handshake": {
      const v = m.view;
      w.name(v.name);
      writeGen(w, v.gen);
      w.u8(+v.primary).u8(+v.crashedPrimary).u8(+v.consistent).u53(v.dirty).u53(v.promotedAt).u8(+v.discardMyData);
      w.u53(m.size).u53(m.regionBytes).u32(m.bitmap.length).bytes(m.bitmap);
      break;
    }
    case "role":
      w.u8(+m.primary);
      break;
    case "data":
      w.u53(m.seq).u53(m.offset).u32(m.data.length);
      return [w.done(), m.data];
    case "recv-ack":
    case "write-ack":
      w.u53(m.seq);
      break;
    case "rs-data":
      w.u32(m.region).u32(m.data.length);
      return [w.done(), m.data];
    case "rs-ack":
      w.u32(m.region).u32(m.count);
      break;
    case "rs-done":
      writeGen(w, m.gen);
      break;
    case "flush":
    case "flush-ack":
      w.u53(m.ref);
      break;
    case "ping":
      break;
    case "ov-request":
      if (m.digest.length > MAX_DIGEST) throw new RangeError(`a digest of ${m.digest.length} bytes is over ${MAX_DIGEST}`);
      w.u32(m.region).u8(m.digest.length).bytes(m.digest);
      break;
    case "ov-reply":
      w.u32(m.region).u8(+m.same);
      break;
  }
  return [w.done()];
}

/** A message's body back, checked against the volume's geometry. */
export function decodeMessage(body: Uint8Array, g: Geometry): { ok: true; msg: PeerMessage } | { ok: false; reason: LinkError } {
  const d = decodeMessages(body, g);
  if (!d.ok) return d;
  return d.msgs.length === 1 ? { ok: true, msg: d.msgs[0]! } : { ok: false, reason: "malformed" };
}

/** A frame's body: one message or more, one after another (what the sender queued in one turn). */
export function decodeMessages(body: Uint8Array, g: Geometry): { ok: true; msgs: PeerMessage[] } | { ok: false; reason: LinkError } {
  try {
    const r = new Reader(body);
    const msgs = [readMessage(r, g)];
    while (!r.done) msgs.push(readMessage(r, g));
    return { ok: true, msgs };
  } catch (err) {
    if (err instanceof Malformed) return { ok: false, reason: err.reason };
    throw err;
  }
}

function readMessage(r: Reader, g: Geometry): PeerMessage {
  const t = CODES[r.u8()];
  if (t === undefined) throw new Malformed("malformed");
  const regions = Math.ceil(g.size / g.regionBytes);
  let msg: PeerMessage;
  switch (t) {
    case "handshake": {
      const name = r.name();
      const gen = readGen(r);
      const view: SideView = { name, gen, primary: bool(r), crashedPrimary: bool(r), consistent: bool(r), dirty: r.u53(), promotedAt: r.u53(), discardMyData: bool(r) };
      const size = r.u53();
      const regionBytes = r.u53();
      const n = r.u32();
      if (n > bitmapBytes(2 ** 26)) throw new Malformed("range");
      msg = { t, view, size, regionBytes, bitmap: r.bytes(n) };
      break;
    }
    case "role":
      msg = { t, primary: bool(r) };
      break;
    case "data": {
      const seq = r.u53();
      const offset = r.u53();
      const n = r.u32();
      if (n === 0 || n > MAX_WRITE || offset + n > g.size) throw new Malformed("range");
      msg = { t, seq, offset, data: r.bytes(n) };
      break;
    }
    case "recv-ack":
    case "write-ack":
      msg = { t, seq: r.u53() };
      break;
    case "rs-data": {
      // Whole regions from `region` on, the last one short only at the volume's end.
      const region = r.u32();
      const n = r.u32();
      const end = region * g.regionBytes + n;
      if (region >= regions || n === 0 || n > MAX_WRITE || end > g.size || (n % g.regionBytes !== 0 && end !== g.size)) throw new Malformed("range");
      msg = { t, region, data: r.bytes(n) };
      break;
    }
    case "rs-ack": {
      const region = r.u32();
      const count = r.u32();
      if (region >= regions || count === 0 || region + count > regions) throw new Malformed("range");
      msg = { t, region, count };
      break;
    }
    case "rs-done":
      msg = { t, gen: readGen(r) };
      break;
    case "flush":
    case "flush-ack":
      msg = { t, ref: r.u53() };
      break;
    case "ping":
      msg = { t };
      break;
    case "ov-request":
    case "ov-reply": {
      const region = r.u32();
      if (region >= regions) throw new Malformed("range");
      if (t === "ov-reply") msg = { t, region, same: bool(r) };
      else {
        const n = r.u8();
        if (n > MAX_DIGEST) throw new Malformed("range");
        msg = { t, region, digest: r.bytes(n) };
      }
      break;
    }
  }
  return msg;
}

let lastCluster: { name: string; id: Uint8Array } | undefined;
function clusterId(name: string): Uint8Array {
  if (lastCluster?.name !== name) lastCluster = { name, id: new Uint8Array(hkdfSync("sha256", name, "", "tandem cluster id", CLUSTER_ID_BYTES)) };
  return lastCluster.id;
}

/**
 * The whole frame in pieces, to be sent one after the other: the header
 * (the additional data), the body's pieces sealed (each in the buffer the
 * cipher wrote), the tag; the small pieces joined, so a frame without a
 * large piece is one buffer.
 */
function seal(key: Uint8Array, nonce: Uint8Array, head: Uint8Array, body: readonly Uint8Array[]): Uint8Array[] {
  const c = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(head);
  const out: Uint8Array[] = [];
  let small: Uint8Array[] = [head];
  for (const part of body) {
    if (part.length === 0) continue;
    const sealed = c.update(part);
    if (sealed.length < SEPARATE_BYTES) {
      small.push(sealed);
      continue;
    }
    out.push(joinParts(small), sealed);
    small = [];
  }
  c.final();
  small.push(c.getAuthTag());
  out.push(joinParts(small));
  return out;
}

function open(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < TAG_BYTES) return undefined;
  try {
    const d = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
    d.setAAD(ad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const plain = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    d.final();
    return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
  } catch {
    return undefined;
  }
}

const counterNonce = (n: number): Uint8Array => {
  const b = new Uint8Array(NONCE_BYTES);
  const v = new DataView(b.buffer);
  v.setUint32(4, Math.floor(n / TWO_32));
  v.setUint32(8, n >>> 0);
  return b;
};

function header(kind: number, length: number): Uint8Array {
  const h = new Uint8Array(HEADER_BYTES);
  new DataView(h.buffer).setUint32(0, length);
  h[4] = kind;
  return h;
}

export interface SessionParams {
  cluster: string;
  keys: ClusterKeys;
  volume: string;
  self: string;
  peer: string;
  geometry: Geometry;
  /** 32 random bytes for this connection, and 12 for the hello's nonce (the shell's CSPRNG). */
  random: Uint8Array;
  helloNonce: Uint8Array;
}

export type Received = { kind: "message"; msg: PeerMessage } | { kind: "hello" } | { kind: "error"; reason: LinkError };

/**
 * One connection's codec: `hello()` first, then `seal(msg)` for each
 * message once the peer's hello has come; `receive(bytes)` takes what the
 * socket read, in any pieces, and gives what it completes. After an error
 * the connection is done: nothing more is read from it.
 */
export class PeerSession {
  /** What the socket gave and no frame took yet: buffer[start, end). */
  private buffer = new Uint8Array(64 * 1024);
  private start = 0;
  private end = 0;
  private sendKey?: Uint8Array;
  private receiveKey?: Uint8Array;
  private sent = 0;
  private received = 0;
  private failed = false;
  private readonly helloKeyId: number;

  constructor(private readonly p: SessionParams) {
    if (p.random.length !== RANDOM_BYTES || p.helloNonce.length !== NONCE_BYTES) throw new RangeError("a session needs 32 random bytes and a 12-byte nonce");
    this.helloKeyId = p.keys.active;
  }

  get open(): boolean {
    return this.sendKey !== undefined && !this.failed;
  }

  hello(): Uint8Array {
    const key = this.p.keys.keys.get(this.helloKeyId);
    if (!key) throw new RangeError(`the active key ${this.helloKeyId} is not among the keys`);
    const body = new Writer().bytes(clusterId(this.p.cluster)).name(this.p.self).name(this.p.volume).bytes(this.p.random).done();
    const length = 2 + NONCE_BYTES + body.length + TAG_BYTES + 1;
    const head = new Uint8Array(HELLO_HEADER_BYTES);
    head.set(header(KIND_HELLO, length));
    head[HEADER_BYTES] = VERSION;
    head[HEADER_BYTES + 1] = this.helloKeyId;
    head.set(this.p.helloNonce, HEADER_BYTES + 2);
    return joinParts(seal(key, this.p.helloNonce, head, [body]));
  }

  /** A message, sealed, as one buffer; throws before the peer's hello came (the shell sends nothing until then). */
  seal(msg: PeerMessage): Uint8Array {
    return joinParts(this.sealParts([msg]));
  }

  /**
   * Messages (at least one, MAX_WRITE bytes of data at most together) in
   * one frame, in pieces to send in order (a write's large data sealed in
   * a buffer of its own, not joined to the rest): one seal for the acks
   * or small writes of a turn.
   */
  sealParts(msgs: readonly PeerMessage[]): Uint8Array[] {
    if (!this.sendKey) throw new Error("the peer's hello has not come yet");
    const body = msgs.flatMap(encodeParts);
    const head = header(KIND_MESSAGE, body.reduce((n, b) => n + b.length, 0) + TAG_BYTES + 1);
    return seal(this.sendKey, counterNonce(this.sent++), head, body);
  }

  receive(chunk: Uint8Array): Received[] {
    const out: Received[] = [];
    if (this.failed) return out;
    this.append(chunk);
    while (this.end - this.start >= HEADER_BYTES) {
      const length = new DataView(this.buffer.buffer, this.buffer.byteOffset + this.start).getUint32(0);
      if (length > MAX_FRAME) return this.fail(out, "oversized");
      if (length < 1 + TAG_BYTES) return this.fail(out, "short");
      if (this.end - this.start < 4 + length) break;
      const frame = this.buffer.subarray(this.start, this.start + 4 + length);
      this.start += 4 + length;
      const got = this.frame(frame);
      if (!Array.isArray(got)) {
        out.push(got);
        if (got.kind === "error") return this.fail(out, got.reason, true);
      } else for (const msg of got) out.push({ kind: "message", msg });
    }
    // What is left is the start of the next frame: moved to the front while it is small, so a large frame arrives in place (not moved when the buffer's end is reached).
    if (this.start > 0 && this.end - this.start <= COMPACT_BYTES) {
      this.buffer.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    return out;
  }

  /** Adds a chunk after what is held, moving that to the front or into a larger buffer when the chunk does not fit (a frame at most, MAX_FRAME). */
  private append(chunk: Uint8Array): void {
    if (this.end + chunk.length > this.buffer.length) {
      const held = this.end - this.start;
      if (held + chunk.length > this.buffer.length) {
        const bigger = new Uint8Array(Math.max(2 * this.buffer.length, held + chunk.length));
        bigger.set(this.buffer.subarray(this.start, this.end));
        this.buffer = bigger;
      } else this.buffer.copyWithin(0, this.start, this.end);
      this.start = 0;
      this.end = held;
    }
    this.buffer.set(chunk, this.end);
    this.end += chunk.length;
  }

  private fail(out: Received[], reason: LinkError, pushed = false): Received[] {
    this.failed = true;
    this.buffer = new Uint8Array(0);
    this.start = this.end = 0;
    if (!pushed) out.push({ kind: "error", reason });
    return out;
  }

  private frame(frame: Uint8Array): Received | PeerMessage[] {
    const kind = frame[4];
    if (kind === KIND_HELLO) return this.onHello(frame);
    if (kind !== KIND_MESSAGE) return { kind: "error", reason: "kind" };
    if (!this.receiveKey) return { kind: "error", reason: "order" };
    const body = open(this.receiveKey, counterNonce(this.received), frame.subarray(0, HEADER_BYTES), frame.subarray(HEADER_BYTES));
    if (!body) return { kind: "error", reason: "auth" };
    this.received++;
    const d = decodeMessages(body, this.p.geometry);
    return d.ok ? d.msgs : { kind: "error", reason: d.reason };
  }

  private onHello(frame: Uint8Array): Received {
    if (this.receiveKey) return { kind: "error", reason: "order" };
    if (frame.length < HELLO_HEADER_BYTES + TAG_BYTES) return { kind: "error", reason: "short" };
    if (frame[HEADER_BYTES] !== VERSION) return { kind: "error", reason: "version" };
    const keyId = frame[HEADER_BYTES + 1]!;
    const key = this.p.keys.keys.get(keyId);
    if (!key) return { kind: "error", reason: "unknown-key" };
    const head = frame.subarray(0, HELLO_HEADER_BYTES);
    const body = open(key, head.subarray(HEADER_BYTES + 2), head, frame.subarray(HELLO_HEADER_BYTES));
    if (!body) return { kind: "error", reason: "auth" };
    let peerRandom: Uint8Array;
    try {
      const r = new Reader(body);
      const cluster = r.bytes(CLUSTER_ID_BYTES);
      if (!equal(cluster, clusterId(this.p.cluster))) return { kind: "error", reason: "cluster" };
      if (r.name() !== this.p.peer) return { kind: "error", reason: "peer" };
      if (r.name() !== this.p.volume) return { kind: "error", reason: "volume" };
      peerRandom = r.bytes(RANDOM_BYTES);
      r.end();
    } catch (err) {
      if (err instanceof Malformed) return { kind: "error", reason: err.reason };
      throw err;
    }
    const ownKey = this.p.keys.keys.get(this.helloKeyId)!;
    this.sendKey = sessionKey(ownKey, this.p.random, peerRandom, this.p.volume, this.p.self);
    this.receiveKey = sessionKey(key, peerRandom, this.p.random, this.p.volume, this.p.peer);
    return { kind: "hello" };
  }
}

function sessionKey(clusterKey: Uint8Array, senderRandom: Uint8Array, receiverRandom: Uint8Array, volume: string, sender: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", clusterKey, joinParts([senderRandom, receiverRandom]), `tandem volume ${volume} from ${sender}`, 32));
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
