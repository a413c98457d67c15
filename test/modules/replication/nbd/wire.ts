/**
 * The client's side of the NBD wire, for the tests: options and requests
 * to send, and a reader of what the server answers (option replies, simple
 * replies, structured chunks). Written from proto.md, apart from the
 * server's codec, so a test compares two readings of the document; and
 * what the codec's tests and its fuzzing (test/fuzz/nbd.test.ts) share.
 */
import { expect } from "bun:test";
import {
  CMD,
  concat,
  IHAVEOPT,
  initialHandshake,
  OPT,
  REQUEST_HEADER_BYTES,
  REQUEST_MAGIC,
  stepHandshake,
  type Export,
  type HandshakeState,
  type HandshakeStep,
  type ReadResult,
} from "../../../../modules/replication/nbd/codec.ts";
import { NBD_ERR } from "../../../../modules/replication/nbd/store.ts";

export { concat };

const utf8 = new TextEncoder();

export function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function clientFlags(flags: number): Uint8Array {
  const b = new Uint8Array(4);
  dv(b).setUint32(0, flags);
  return b;
}

export function option(opt: number, data: Uint8Array = new Uint8Array(0), length = data.length): Uint8Array {
  const b = new Uint8Array(16 + data.length);
  const v = dv(b);
  v.setBigUint64(0, IHAVEOPT);
  v.setUint32(8, opt);
  v.setUint32(12, length);
  b.set(data, 16);
  return b;
}

/** NBD_OPT_GO or NBD_OPT_INFO for `name`, asking for `infos`. */
export function goData(name: string, infos: number[] = []): Uint8Array {
  const n = utf8.encode(name);
  const b = new Uint8Array(6 + n.length + 2 * infos.length);
  const v = dv(b);
  v.setUint32(0, n.length);
  b.set(n, 4);
  v.setUint16(4 + n.length, infos.length);
  infos.forEach((t, i) => v.setUint16(6 + n.length + 2 * i, t));
  return b;
}

export const go = (name: string, infos: number[] = []) => option(OPT.GO, goData(name, infos));

export type OptionReply = { option: number; type: number; data: Uint8Array };

/** Splits option replies off the front of `b`; what is left is returned as `rest`. */
export function optionReplies(b: Uint8Array): { replies: OptionReply[]; rest: Uint8Array } {
  const replies: OptionReply[] = [];
  let at = 0;
  while (b.length - at >= 20) {
    const v = dv(b.subarray(at));
    if (v.getBigUint64(0) !== 0x3e889045565a9n) throw new Error("bad option reply magic");
    const length = v.getUint32(16);
    if (b.length - at < 20 + length) break;
    replies.push({ option: v.getUint32(8), type: v.getUint32(12), data: b.slice(at + 20, at + 20 + length) });
    at += 20 + length;
  }
  return { replies, rest: b.subarray(at) };
}

export function request(type: number, cookie: bigint, offset: number | bigint, length: number, flags = 0, payload?: Uint8Array): Uint8Array {
  const b = new Uint8Array(28 + (payload?.length ?? 0));
  const v = dv(b);
  v.setUint32(0, 0x25609513);
  v.setUint16(4, flags);
  v.setUint16(6, type);
  v.setBigUint64(8, cookie);
  v.setBigUint64(16, BigInt(offset));
  v.setUint32(24, length);
  if (payload) b.set(payload, 28);
  return b;
}

export const write = (cookie: bigint, offset: number, data: Uint8Array, flags = 0) => request(CMD.WRITE, cookie, offset, data.length, flags, data);

/** A reply as the client reads it: the error, and a READ's data (structured: OFFSET_DATA chunks put together). */
export type Reply = { cookie: bigint; error: number; data?: Uint8Array; done: boolean };

/**
 * Reads the replies at the front of `b`. `readLength(cookie)` says how many
 * bytes a simple reply to a READ carries (undefined: not a READ), as a
 * client knows from its own requests.
 */
export function replies(b: Uint8Array, readLength: (cookie: bigint) => number | undefined): { replies: Reply[]; rest: Uint8Array } {
  const out: Reply[] = [];
  let at = 0;
  for (;;) {
    const left = b.subarray(at);
    if (left.length < 4) break;
    const v = dv(left);
    const magic = v.getUint32(0);
    if (magic === 0x67446698) {
      if (left.length < 16) break;
      const error = v.getUint32(4);
      const cookie = v.getBigUint64(8);
      const n = error === 0 ? (readLength(cookie) ?? 0) : 0;
      if (left.length < 16 + n) break;
      out.push({ cookie, error, data: n ? left.slice(16, 16 + n) : undefined, done: true });
      at += 16 + n;
    } else if (magic === 0x668e33ef) {
      if (left.length < 20) break;
      const flags = v.getUint16(4);
      const type = v.getUint16(6);
      const cookie = v.getBigUint64(8);
      const length = v.getUint32(16);
      if (left.length < 20 + length) break;
      const payload = left.subarray(20, 20 + length);
      const done = (flags & 1) !== 0;
      if (type === 1) out.push({ cookie, error: 0, data: payload.slice(8), done });
      else if (type & 0x8000) out.push({ cookie, error: dv(payload).getUint32(0), done });
      else out.push({ cookie, error: 0, done });
      at += 20 + length;
    } else {
      throw new Error(`bad reply magic 0x${magic.toString(16)}`);
    }
  }
  return { replies: out, rest: b.subarray(at) };
}

export type Catalog = { find(name: string): Export | undefined; list(): readonly Export[] };
export type Run = { sent: Uint8Array; end?: HandshakeStep["end"]; state: HandshakeState; held: number };

/** Feeds `chunks` to the handshake one after another, as a socket would, stepping while steps use bytes; `held` is the most bytes kept. */
export function handshake(chunks: readonly Uint8Array[], catalog: Catalog): Run {
  let state = initialHandshake();
  let buf: Uint8Array = new Uint8Array(0);
  const sent: Uint8Array[] = [];
  let held = 0;
  for (const c of chunks) {
    buf = concat([buf, c]);
    for (;;) {
      const s = stepHandshake(state, buf, catalog);
      expect(s.consumed).toBeGreaterThanOrEqual(0);
      expect(s.consumed).toBeLessThanOrEqual(buf.length);
      buf = buf.subarray(s.consumed);
      state = s.state;
      sent.push(...s.send);
      if (s.end) return { sent: concat(sent), end: s.end, state, held };
      if (s.consumed === 0) break;
    }
    held = Math.max(held, buf.length);
  }
  return { sent: concat(sent), state, held };
}

/**
 * What `readRequest(input)` may answer, read from the input as a client
 * wrote it: a request carried out only when it is a known command within
 * the export, aligned, within the payload bound, a change only where
 * writable; a refusal with one of NBD's errors that drops the request to
 * the byte (its header, and a WRITE's payload now or as it comes); a wait
 * only for a WRITE's payload; a hang-up only for a bad magic.
 */
export function expectSound(r: ReadResult, e: Export, input: Uint8Array): void {
  if (input.length < REQUEST_HEADER_BYTES) {
    expect(r.kind).toBe("need");
    return;
  }
  const v = dv(input);
  if (v.getUint32(0) !== REQUEST_MAGIC) {
    expect(r.kind).toBe("disconnect");
    return;
  }
  const type = v.getUint16(6);
  const length = v.getUint32(24);
  if (r.kind === "request") {
    const q = r.request;
    expect([CMD.READ, CMD.WRITE, CMD.DISC, CMD.FLUSH, CMD.TRIM, CMD.WRITE_ZEROES] as number[]).toContain(q.type);
    if (q.type === CMD.READ || q.type === CMD.WRITE || q.type === CMD.TRIM || q.type === CMD.WRITE_ZEROES) {
      expect(v.getBigUint64(16) + BigInt(q.length)).toBeLessThanOrEqual(BigInt(e.size));
      expect(q.offset % e.minBlock).toBe(0);
      expect(q.length % e.minBlock).toBe(0);
      if (q.type !== CMD.READ) expect(e.readOnly).toBe(false);
    }
    if (q.type === CMD.READ || q.type === CMD.WRITE) expect(q.length).toBeLessThanOrEqual(e.maxPayload);
    if (q.type === CMD.WRITE) {
      expect(r.payload?.length).toBe(q.length);
      expect(r.consumed).toBe(REQUEST_HEADER_BYTES + q.length);
    } else {
      expect(r.payload).toBeUndefined();
      expect(r.consumed).toBe(REQUEST_HEADER_BYTES);
    }
  } else if (r.kind === "refuse") {
    expect([NBD_ERR.EINVAL, NBD_ERR.EPERM, NBD_ERR.ENOSPC, NBD_ERR.EOVERFLOW] as number[]).toContain(r.errno);
    expect(r.consumed + r.skip).toBe(REQUEST_HEADER_BYTES + (type === CMD.WRITE ? length : 0));
    expect(r.consumed).toBeLessThanOrEqual(input.length);
  } else if (r.kind === "need") {
    expect(type).toBe(CMD.WRITE);
    expect(r.bytes).toBe(REQUEST_HEADER_BYTES + length);
    expect(length).toBeLessThanOrEqual(e.maxPayload);
    expect(input.length).toBeLessThan(r.bytes);
  } else {
    throw new Error(`a well-framed request hung up: ${r.reason}`);
  }
}
