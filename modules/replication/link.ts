/**
 * The peer link's wire format: the volume's messages (engine.ts
 * PeerMessage) over one TCP connection between the pair, authenticated and
 * integrity-protected with the cluster key.
 *
 * A connection opens with a hello each way, sealed with the sender's active
 * cluster key (AES-256-GCM, a random 96-bit nonce; the key's id in clear):
 * the cluster's id, the sender's and the volume's names, whether the volume
 * encrypts its link, and 32 random bytes. From the two hellos each
 * direction derives its own session key (HKDF-SHA256 over the cluster key
 * that sealed the sender's hello, salted with both random values, the mode
 * in its label), and every frame after is authenticated with it, its nonce
 * the frame's count in that direction. So a frame altered, dropped,
 * replayed, reordered or carried over from another connection fails to
 * verify, and the connection is closed. Keys rotate as the heartbeat's do
 * (core/crypto/keyfile.ts): sent with the active one, received with any.
 *
 * By default a frame is integrity-only, as DRBD's link (with its
 * data-integrity-alg): the body in clear, authenticated by AES-GCM's tag
 * with the whole frame as additional data and nothing encrypted (GMAC:
 * about a tenth of encrypting, and no copy of the data). With the volume's
 * `encrypt = true` the body is sealed (AES-256-GCM) as well. Both sides
 * must agree (the hello says which; a difference is refused).
 *
 * Layout of a frame: length u32 (of what follows), kind u8 (1 hello, 2
 * message), then for a hello: version u8, key id u8, nonce (12), sealed
 * body and tag (16); for a message: the body (in clear or sealed) and the
 * tag, the body one message or several one after another (the shell puts
 * what one turn of its event loop queued in one frame: one tag for a
 * turn's acks). The header is the additional data. A large frame is read
 * as the socket's chunks, never joined: a write's data reaches the disk as
 * the pieces it came in. Messages are checked against the volume's geometry
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
import { cutPayload, joinPayload, payloadBytes, payloadParts, type Payload } from "./payload.ts";

/** The hello's version: a pair whose versions differ does not connect (3: `rs-start`, which a peer of 2 would take for a malformed message mid-resync). */
const VERSION = 3;
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
/** A frame at least this large is gathered as the socket's chunks (kept, not copied); a smaller one that spans chunks is put together in a buffer. */
const DIRECT_BYTES = 64 * 1024;
/** Chunks smaller than this, of a frame gathered, are joined (a peer that sends a byte at a time holds a buffer, not a million pieces). */
const SMALL_CHUNK_BYTES = 4096;
/** A sealed piece at least this large goes out as a buffer of its own; smaller ones are joined with their neighbours. */
const SEPARATE_BYTES = 16 * 1024;
const HELLO_HEADER_BYTES = HEADER_BYTES + 2 + NONCE_BYTES;
const NAME = new RegExp(NAME_PATTERN);
const TWO_32 = 2 ** 32;

export const LINK_ERRORS = ["oversized", "short", "kind", "version", "unknown-key", "auth", "cluster", "peer", "volume", "encryption", "malformed", "range", "order"] as const;
export type LinkError = (typeof LINK_ERRORS)[number];

/** What a message is checked against. */
export interface Geometry {
  size: number;
  regionBytes: number;
}

const CODES = ["handshake", "role", "data", "recv-ack", "write-ack", "rs-data", "rs-ack", "rs-done", "flush", "flush-ack", "ping", "ov-request", "ov-reply", "rs-start"] as const;
/** The longest digest a verify request carries (SHA-512's). */
const MAX_DIGEST = 64;

/** Big-endian fields into a growing buffer (byte by byte: no DataView, whose `.buffer` costs a small array an allocation). */
class Writer {
  private buf: Uint8Array;
  at = 0;
  constructor(size = 64) {
    this.buf = new Uint8Array(size);
  }
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    next.set(this.buf);
    this.buf = next;
  }
  u8(n: number): this {
    this.room(1);
    this.buf[this.at++] = n;
    return this;
  }
  u32(n: number): this {
    this.room(4);
    putU32(this.buf, this.at, n);
    this.at += 4;
    return this;
  }
  u53(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${n} is not a whole number below 2^53`);
    this.room(8);
    putU32(this.buf, this.at, Math.floor(n / TWO_32));
    putU32(this.buf, this.at + 4, n >>> 0);
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

/** Reads a body in pieces: the fields wherever they lie, a write's data as views of the pieces (not copied). */
class Reader {
  private readonly parts: readonly Uint8Array[];
  /** The piece being read, and where in it. */
  private i = 0;
  private pos = 0;
  private left: number;
  constructor(body: Payload) {
    this.parts = body instanceof Uint8Array ? [body] : body;
    this.left = payloadBytes(body);
  }
  /** The next n bytes as views, in order. */
  private take(n: number): Uint8Array[] {
    this.need(n);
    const out: Uint8Array[] = [];
    while (n > 0) {
      const part = this.parts[this.i]!;
      const k = Math.min(n, part.length - this.pos);
      if (k > 0) out.push(part.subarray(this.pos, this.pos + k));
      this.pos += k;
      n -= k;
      if (this.pos === part.length) {
        this.i++;
        this.pos = 0;
      }
    }
    return out;
  }
  /** The next byte (the caller checked that it is there). */
  private byte(): number {
    let part = this.parts[this.i]!;
    while (this.pos === part.length) {
      part = this.parts[++this.i]!;
      this.pos = 0;
    }
    return part[this.pos++]!;
  }
  private need(n: number): void {
    if (n > this.left) throw new Malformed("malformed");
    this.left -= n;
  }
  u8(): number {
    this.need(1);
    return this.byte();
  }
  u32(): number {
    this.need(4);
    return ((this.byte() << 24) | (this.byte() << 16) | (this.byte() << 8) | this.byte()) >>> 0;
  }
  u53(): number {
    const high = this.u32();
    if (high >= 2 ** 21) throw new Malformed("malformed");
    return high * TWO_32 + this.u32();
  }
  /** Data, as views of the body's pieces: one buffer when it lies in one. */
  payload(n: number): Payload {
    const parts = this.take(n);
    return parts.length === 1 ? parts[0]! : parts;
  }
  /** Bytes in one buffer (joined when they span pieces). */
  bytes(n: number): Uint8Array {
    return n === 0 ? new Uint8Array(0) : joinParts(this.take(n));
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
    return this.left === 0;
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
 * block's data as it is (not copied: the tag is computed where it lies).
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
      w.u53(m.seq).u53(m.offset).u32(payloadBytes(m.data));
      return [w.done(), ...payloadParts(m.data)];
    case "recv-ack":
    case "write-ack":
      w.u53(m.seq);
      break;
    case "rs-data":
      w.u32(m.region).u32(payloadBytes(m.data));
      return [w.done(), ...payloadParts(m.data)];
    case "rs-ack":
      w.u32(m.region).u32(m.count);
      break;
    case "rs-done":
      writeGen(w, m.gen);
      break;
    case "rs-start":
      w.u53(m.gen);
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
export function decodeMessage(body: Payload, g: Geometry): { ok: true; msg: PeerMessage } | { ok: false; reason: LinkError } {
  const d = decodeMessages(body, g);
  if (!d.ok) return d;
  return d.msgs.length === 1 ? { ok: true, msg: d.msgs[0]! } : { ok: false, reason: "malformed" };
}

/** A frame's body: one message or more, one after another (what the sender queued in one turn). */
export function decodeMessages(body: Payload, g: Geometry): { ok: true; msgs: PeerMessage[] } | { ok: false; reason: LinkError } {
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
      msg = { t, seq, offset, data: r.payload(n) };
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
      msg = { t, region, data: r.payload(n) };
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
    case "rs-start": {
      const gen = r.u53();
      if (gen === 0) throw new Malformed("range");
      msg = { t, gen };
      break;
    }
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
 * The whole frame in pieces, to be sent one after the other: the header,
 * the body's pieces (in clear, or each sealed in the buffer the cipher
 * wrote), the tag. Small pieces go out joined (so a frame without a large
 * piece is one buffer, the tag written into its end); a large one as it
 * is, in clear the very buffer given. In clear, what is authenticated is
 * the frame up to the tag; sealed, the header.
 */
function seal(key: Uint8Array, nonce: Uint8Array, head: Uint8Array, body: readonly Uint8Array[], encrypt: boolean): Uint8Array[] {
  const c = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
  if (encrypt) c.setAAD(head);
  const out: Uint8Array[] = [];
  let run: Uint8Array[] = [head];
  let runBytes = head.length;
  const join = (room: number): Uint8Array => {
    const joined = Buffer.allocUnsafe(runBytes + room);
    let at = 0;
    for (const p of run) {
      joined.set(p, at);
      at += p.length;
    }
    if (!encrypt) c.setAAD(joined.subarray(0, runBytes));
    run = [];
    runBytes = 0;
    return joined;
  };
  for (const part of body) {
    if (part.length === 0) continue;
    const piece = encrypt ? c.update(part) : part;
    if (piece.length < SEPARATE_BYTES) {
      run.push(piece);
      runBytes += piece.length;
      continue;
    }
    if (runBytes > 0) out.push(join(0));
    if (!encrypt) c.setAAD(piece);
    out.push(piece);
  }
  const last = join(TAG_BYTES);
  c.final();
  last.set(c.getAuthTag(), last.length - TAG_BYTES);
  out.push(last);
  return out;
}

/**
 * The body of a frame whose tag verifies, or undefined: sealed, `covered`
 * is the header and `body` decrypted (fresh buffers); in clear, `covered`
 * is the frame up to the tag, and the body its pieces as they are.
 */
function openFrame(key: Uint8Array, nonce: Uint8Array, covered: readonly Uint8Array[], body: readonly Uint8Array[], tag: Uint8Array, encrypt: boolean): Payload | undefined {
  try {
    const d = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG_BYTES });
    for (const part of covered) d.setAAD(part);
    d.setAuthTag(tag);
    const out: Uint8Array[] = [];
    if (encrypt)
      for (const part of body) {
        if (part.length === 0) continue;
        const plain = d.update(part);
        out.push(new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength));
      }
    d.final();
    return encrypt ? out : body;
  } catch {
    return undefined;
  }
}

function putU32(b: Uint8Array, at: number, n: number): void {
  b[at] = n >>> 24;
  b[at + 1] = n >>> 16;
  b[at + 2] = n >>> 8;
  b[at + 3] = n;
}

const counterNonce = (n: number): Uint8Array => {
  const b = new Uint8Array(NONCE_BYTES);
  putU32(b, 4, Math.floor(n / TWO_32));
  putU32(b, 8, n >>> 0);
  return b;
};

function header(kind: number, length: number): Uint8Array {
  const h = new Uint8Array(HEADER_BYTES);
  putU32(h, 0, length);
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
  /** Messages sealed (AES-256-GCM) as well as authenticated; both sides must say the same. */
  encrypt: boolean;
  /** 32 random bytes for this connection, and 12 for the hello's nonce (the shell's CSPRNG). */
  random: Uint8Array;
  helloNonce: Uint8Array;
}

export type Received = { kind: "message"; msg: PeerMessage } | { kind: "hello" } | { kind: "error"; reason: LinkError };

/** A large frame as it arrives: the socket's chunks kept as they are, small ones joined. */
class Gathering {
  readonly parts: Uint8Array[] = [];
  private small: Uint8Array[] = [];
  private smallBytes = 0;
  filled = 0;
  constructor(readonly total: number) {}
  add(chunk: Uint8Array): void {
    this.filled += chunk.length;
    if (chunk.length < SMALL_CHUNK_BYTES) {
      this.small.push(chunk.slice());
      this.smallBytes += chunk.length;
      if (this.smallBytes >= SMALL_CHUNK_BYTES) this.keepSmall();
      return;
    }
    this.keepSmall();
    this.parts.push(chunk);
  }
  /** The frame, once filled. */
  done(): Uint8Array[] {
    this.keepSmall();
    return this.parts;
  }
  private keepSmall(): void {
    if (this.small.length === 0) return;
    this.parts.push(joinParts(this.small));
    this.small = [];
    this.smallBytes = 0;
  }
}

/**
 * One connection's codec: `hello()` first, then `seal(msg)` for each
 * message once the peer's hello has come; `receive(bytes)` takes what the
 * socket read, in any pieces, and gives what it completes. A message's
 * data may be a view of a chunk given: a chunk is not to be reused after
 * (Bun's data events give each its own buffer). After an error the
 * connection is done: nothing more is read from it.
 */
export class PeerSession {
  /** The start of a small frame that spans chunks: partial[0, held). */
  private partial = new Uint8Array(DIRECT_BYTES);
  private held = 0;
  private gathering: Gathering | null = null;
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
    const body = new Writer().bytes(clusterId(this.p.cluster)).name(this.p.self).name(this.p.volume).u8(+this.p.encrypt).bytes(this.p.random).done();
    const length = 2 + NONCE_BYTES + body.length + TAG_BYTES + 1;
    const head = new Uint8Array(HELLO_HEADER_BYTES);
    head.set(header(KIND_HELLO, length));
    head[HEADER_BYTES] = VERSION;
    head[HEADER_BYTES + 1] = this.helloKeyId;
    head.set(this.p.helloNonce, HEADER_BYTES + 2);
    return joinParts(seal(key, this.p.helloNonce, head, [body], true));
  }

  /** A message, sealed, as one buffer; throws before the peer's hello came (the shell sends nothing until then). */
  seal(msg: PeerMessage): Uint8Array {
    return joinParts(this.sealParts([msg]));
  }

  /**
   * Messages (at least one, MAX_WRITE bytes of data at most together) in
   * one frame, in pieces to send in order (a write's large data in a
   * buffer of its own, not joined to the rest: in clear, the very buffers
   * the data came in): one tag for the acks or small writes of a turn.
   */
  sealParts(msgs: readonly PeerMessage[]): Uint8Array[] {
    if (!this.sendKey) throw new Error("the peer's hello has not come yet");
    const body = msgs.flatMap(encodeParts);
    const head = header(KIND_MESSAGE, body.reduce((n, b) => n + b.length, 0) + TAG_BYTES + 1);
    return seal(this.sendKey, counterNonce(this.sent++), head, body, this.p.encrypt);
  }

  receive(chunk: Uint8Array): Received[] {
    const out: Received[] = [];
    let rest = chunk;
    while (!this.failed && rest.length > 0) {
      if (this.gathering) {
        rest = this.gather(this.gathering, rest, out);
        continue;
      }
      // A frame's header: from the chunk, or put together with what is held.
      if (this.held < HEADER_BYTES && (this.held > 0 || rest.length < HEADER_BYTES)) {
        rest = this.hold(rest, HEADER_BYTES);
        continue;
      }
      const length = frameLength(this.held > 0 ? this.partial : rest);
      if (length > MAX_FRAME) return this.fail(out, "oversized");
      if (length < 1 + TAG_BYTES) return this.fail(out, "short");
      const total = 4 + length;
      if (this.held === 0 && rest.length >= total) {
        // Whole in the chunk: read where it lies.
        this.frame([rest.subarray(0, total)], out);
        rest = rest.subarray(total);
      } else if (total >= DIRECT_BYTES) {
        const g = (this.gathering = new Gathering(total));
        if (this.held > 0) g.add(this.partial.slice(0, this.held));
        this.held = 0;
      } else {
        rest = this.hold(rest, total);
        // Put together in the buffer, which the next frame reuses: a copy of its own.
        if (this.held === total) {
          this.held = 0;
          this.frame([this.partial.slice(0, total)], out);
        }
      }
    }
    return out;
  }

  /** Moves the chunk's bytes into the held ones, up to `upTo`; what is left of the chunk. */
  private hold(chunk: Uint8Array, upTo: number): Uint8Array {
    const n = Math.min(upTo - this.held, chunk.length);
    this.partial.set(chunk.subarray(0, n), this.held);
    this.held += n;
    return chunk.subarray(n);
  }

  private gather(g: Gathering, chunk: Uint8Array, out: Received[]): Uint8Array {
    const n = Math.min(g.total - g.filled, chunk.length);
    g.add(chunk.subarray(0, n));
    if (g.filled === g.total) {
      this.gathering = null;
      this.frame(g.done(), out);
    }
    return chunk.subarray(n);
  }

  private fail(out: Received[], reason: LinkError): Received[] {
    this.failed = true;
    this.partial = new Uint8Array(0);
    this.held = 0;
    this.gathering = null;
    out.push({ kind: "error", reason });
    return out;
  }

  /** A whole frame, in pieces: what it gives is pushed to `out`; an error ends the session. */
  private frame(frame: readonly Uint8Array[], out: Received[]): void {
    const got = this.unpack(frame);
    if (Array.isArray(got)) for (const msg of got) out.push({ kind: "message", msg });
    else if (got.kind === "error") this.fail(out, got.reason);
    else out.push(got);
  }

  private unpack(frame: readonly Uint8Array[]): Received | PeerMessage[] {
    const total = payloadBytes(frame);
    const head = joinPayload(cutPayload(frame, 0, HEADER_BYTES));
    const kind = head[4];
    if (kind === KIND_HELLO) return this.onHello(joinPayload(frame));
    if (kind !== KIND_MESSAGE) return { kind: "error", reason: "kind" };
    if (!this.receiveKey) return { kind: "error", reason: "order" };
    const tag = joinPayload(cutPayload(frame, total - TAG_BYTES, total));
    const body = payloadParts(cutPayload(frame, HEADER_BYTES, total - TAG_BYTES));
    const covered = this.p.encrypt ? [head] : payloadParts(cutPayload(frame, 0, total - TAG_BYTES));
    const opened = openFrame(this.receiveKey, counterNonce(this.received), covered, body, tag, this.p.encrypt);
    if (!opened) return { kind: "error", reason: "auth" };
    this.received++;
    const d = decodeMessages(opened, this.p.geometry);
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
    const body = openFrame(key, head.subarray(HEADER_BYTES + 2), [head], [frame.subarray(HELLO_HEADER_BYTES, frame.length - TAG_BYTES)], frame.subarray(frame.length - TAG_BYTES), true);
    if (!body) return { kind: "error", reason: "auth" };
    let peerRandom: Uint8Array;
    try {
      const r = new Reader(body);
      const cluster = r.bytes(CLUSTER_ID_BYTES);
      if (!equal(cluster, clusterId(this.p.cluster))) return { kind: "error", reason: "cluster" };
      if (r.name() !== this.p.peer) return { kind: "error", reason: "peer" };
      if (r.name() !== this.p.volume) return { kind: "error", reason: "volume" };
      const encrypt = r.u8();
      if (encrypt > 1) return { kind: "error", reason: "malformed" };
      if (encrypt !== +this.p.encrypt) return { kind: "error", reason: "encryption" };
      peerRandom = r.bytes(RANDOM_BYTES);
      r.end();
    } catch (err) {
      if (err instanceof Malformed) return { kind: "error", reason: err.reason };
      throw err;
    }
    const ownKey = this.p.keys.keys.get(this.helloKeyId)!;
    const mode = this.p.encrypt ? "sealed" : "authenticated";
    this.sendKey = sessionKey(ownKey, this.p.random, peerRandom, `tandem volume ${this.p.volume} from ${this.p.self}, ${mode}`);
    this.receiveKey = sessionKey(key, peerRandom, this.p.random, `tandem volume ${this.p.volume} from ${this.p.peer}, ${mode}`);
    return { kind: "hello" };
  }
}

const frameLength = (start: Uint8Array): number => ((start[0]! << 24) | (start[1]! << 16) | (start[2]! << 8) | start[3]!) >>> 0;

function sessionKey(clusterKey: Uint8Array, senderRandom: Uint8Array, receiverRandom: Uint8Array, label: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", clusterKey, joinParts([senderRandom, receiverRandom]), label, 32));
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
