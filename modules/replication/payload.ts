/**
 * A write's data as it travels: one buffer, or the pieces it arrived in
 * (the NBD socket's chunks, the peer link's), in order, never joined on the
 * way: the link authenticates them where they lie, the disk takes them in
 * one pwritev.
 */
import { concat } from "./nbd/codec.ts";

export type Payload = Uint8Array | readonly Uint8Array[];

export function payloadBytes(p: Payload): number {
  if (p instanceof Uint8Array) return p.length;
  let n = 0;
  for (const part of p) n += part.length;
  return n;
}

export const payloadParts = (p: Payload): readonly Uint8Array[] => (p instanceof Uint8Array ? [p] : p);

/** The bytes [from, to) of the pieces, as views (no copy): one buffer when they lie in one piece. */
export function cutPayload(p: Payload, from: number, to: number): Payload {
  if (p instanceof Uint8Array) return p.subarray(from, to);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const part of p) {
    const end = at + part.length;
    if (end > from && at < to) out.push(part.subarray(Math.max(0, from - at), Math.min(part.length, to - at)));
    at = end;
    if (at >= to) break;
  }
  return out.length === 1 ? out[0]! : out;
}

/** The pieces in one buffer (a copy only when there are several). */
export const joinPayload = (p: Payload): Uint8Array => (p instanceof Uint8Array ? p : concat(p));
