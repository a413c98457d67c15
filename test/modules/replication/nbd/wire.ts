/**
 * The client's side of the NBD wire, for the tests: options and requests
 * to send, and a reader of what the server answers (option replies, simple
 * replies, structured chunks). Written from proto.md, apart from the
 * server's codec, so a test compares two readings of the document.
 */
import { CMD, IHAVEOPT, OPT } from "../../../../modules/replication/nbd/codec.ts";

const utf8 = new TextEncoder();

export function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
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
