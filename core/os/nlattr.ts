/**
 * Netlink attributes (struct nlattr, <linux/netlink.h>): a 4-byte header
 * (length including the header, then type), the payload, padding to 4 bytes.
 * Nested attributes carry a list of attributes as their payload. Pure:
 * encoding builds bytes from typed values; decoding never throws, whatever
 * the bytes, and says where a list stopped making sense. Little-endian hosts
 * (x86_64, arm64): host order is little-endian; ports and IPv4 netmasks are
 * in network order where the kernel says so.
 */

export const NLA_HDR_BYTES = 4;
export const NLA_ALIGNTO = 4;
/** Set on the type of an attribute whose payload is a list of attributes. */
export const NLA_F_NESTED = 0x8000;
/** Set on the type of an attribute in network byte order (informational; the kernel rarely sets it). */
const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;
/** An attribute's length is a u16: header and payload together. */
const NLA_MAX_BYTES = 0xffff;
/** The most attributes one list may hold when decoded (an IPVS service has 13). */
export const MAX_ATTRS = 4096;
/** The deepest nesting an encoder accepts (IPVS nests two levels). */
const MAX_DEPTH = 8;

const U8_BYTES = 1;
const U16_BYTES = 2;
const U32_BYTES = 4;
const U64_BYTES = 8;

export const nlaAlign = (n: number) => (n + NLA_ALIGNTO - 1) & ~(NLA_ALIGNTO - 1);

/** An attribute: its type (without flags) and a payload of bytes, or of attributes (nested). */
export type Nla = { type: number; value: Uint8Array } | { type: number; nested: Nla[] };

/** A decoded attribute: its type without flags, whether NLA_F_NESTED was set, its payload (a view into the input). */
export interface RawNla {
  type: number;
  nested: boolean;
  value: Uint8Array;
}

/** A decoded list: every well-formed attribute up to the first that is not, and why decoding stopped there. */
export interface DecodedNlas {
  attrs: RawNla[];
  /** Absent when the whole input was a well-formed list. */
  error?: string;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function scalar(bytes: number, set: (v: DataView) => void): Uint8Array {
  const out = new Uint8Array(bytes);
  set(view(out));
  return out;
}

function checkRange(n: number, max: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new RangeError(`${what} ${n} is not a whole number from 0 to ${max}`);
}

export const nlaU8 = (type: number, n: number): Nla => (checkRange(n, 0xff, "u8"), { type, value: scalar(U8_BYTES, (v) => v.setUint8(0, n)) });
export const nlaU16 = (type: number, n: number): Nla => (checkRange(n, 0xffff, "u16"), { type, value: scalar(U16_BYTES, (v) => v.setUint16(0, n, true)) });
export const nlaU32 = (type: number, n: number): Nla => (checkRange(n, 0xffff_ffff, "u32"), { type, value: scalar(U32_BYTES, (v) => v.setUint32(0, n, true)) });
export function nlaU64(type: number, n: bigint): Nla {
  if (n < 0n || n > 0xffff_ffff_ffff_ffffn) throw new RangeError(`u64 ${n} is out of range`);
  return { type, value: scalar(U64_BYTES, (v) => v.setBigUint64(0, n, true)) };
}
/** A u16 in network byte order (a port). */
export const nlaBe16 = (type: number, n: number): Nla => (checkRange(n, 0xffff, "be16"), { type, value: scalar(U16_BYTES, (v) => v.setUint16(0, n, false)) });
/** A NUL-terminated string. */
export const nlaString = (type: number, text: string): Nla => ({ type, value: new TextEncoder().encode(`${text}\0`) });
export const nlaBytes = (type: number, value: Uint8Array): Nla => ({ type, value });
export const nlaNested = (type: number, nested: Nla[]): Nla => ({ type, nested });

function encodedLength(a: Nla, depth: number): number {
  if (depth > MAX_DEPTH) throw new RangeError(`attributes nested deeper than ${MAX_DEPTH}`);
  const payload = "nested" in a ? a.nested.reduce((n, c) => n + nlaAlign(encodedLength(c, depth + 1)), 0) : a.value.length;
  const len = NLA_HDR_BYTES + payload;
  if (len > NLA_MAX_BYTES) throw new RangeError(`attribute ${a.type}: ${len} bytes, over ${NLA_MAX_BYTES}`);
  return len;
}

function write(out: Uint8Array, at: number, a: Nla, depth: number): number {
  const len = encodedLength(a, depth);
  checkRange(a.type, NLA_TYPE_MASK, "attribute type");
  const v = view(out);
  v.setUint16(at, len, true);
  if ("nested" in a) {
    v.setUint16(at + 2, a.type | NLA_F_NESTED, true);
    let child = at + NLA_HDR_BYTES;
    for (const c of a.nested) child = write(out, child, c, depth + 1);
  } else {
    v.setUint16(at + 2, a.type, true);
    out.set(a.value, at + NLA_HDR_BYTES);
  }
  return at + nlaAlign(len);
}

/** The bytes of a list of attributes, each padded to 4 bytes; RangeError on an attribute over 64 KiB or a type over 14 bits. */
export function encodeNlas(attrs: Nla[]): Uint8Array {
  const out = new Uint8Array(attrs.reduce((n, a) => n + nlaAlign(encodedLength(a, 0)), 0));
  let at = 0;
  for (const a of attrs) at = write(out, at, a, 0);
  return out;
}

/** The attributes in `bytes`; never throws: a malformed attribute, or more than `max`, ends the list with an error. */
export function decodeNlas(bytes: Uint8Array, max = MAX_ATTRS): DecodedNlas {
  const v = view(bytes);
  const attrs: RawNla[] = [];
  for (let at = 0; at < bytes.length; ) {
    if (at + NLA_HDR_BYTES > bytes.length) return { attrs, error: `${bytes.length - at} stray bytes at ${at}` };
    const len = v.getUint16(at, true);
    const type = v.getUint16(at + 2, true);
    if (len < NLA_HDR_BYTES || at + len > bytes.length) return { attrs, error: `attribute ${type & NLA_TYPE_MASK} at ${at}: length ${len} does not fit ${bytes.length - at} bytes` };
    if (attrs.length === max) return { attrs, error: `more than ${max} attributes` };
    attrs.push({ type: type & NLA_TYPE_MASK, nested: (type & NLA_F_NESTED) !== 0, value: bytes.subarray(at + NLA_HDR_BYTES, at + len) });
    at += Math.min(nlaAlign(len), bytes.length - at);
  }
  return { attrs };
}

/** The attributes by type (the last one of a type wins). */
export function nlaMap(attrs: RawNla[]): Map<number, Uint8Array> {
  return new Map(attrs.map((a) => [a.type, a.value]));
}

const fixed = <T>(bytes: number, get: (v: DataView) => T) => (data: Uint8Array | undefined): T | undefined => (data && data.length === bytes ? get(view(data)) : undefined);

/** Readers of a payload: undefined when it is absent or not of the type's size. */
export const readU8 = fixed(U8_BYTES, (v) => v.getUint8(0));
export const readU16 = fixed(U16_BYTES, (v) => v.getUint16(0, true));
export const readU32 = fixed(U32_BYTES, (v) => v.getUint32(0, true));
export const readU64 = fixed(U64_BYTES, (v) => v.getBigUint64(0, true));
export const readBe16 = fixed(U16_BYTES, (v) => v.getUint16(0, false));

/** A NUL-terminated (or unterminated) string payload, up to its first NUL. */
export function readString(data: Uint8Array | undefined): string | undefined {
  if (!data) return undefined;
  const nul = data.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? data : data.subarray(0, nul));
}
