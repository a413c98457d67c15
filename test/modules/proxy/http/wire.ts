/** What the proxy http tests share: bytes from text, the default limits, a parse fed in pieces. */
import { parseRequestHead, type HeadLimits, type RequestParse } from "../../../../modules/proxy/http/head.ts";

export const LIMITS: HeadLimits = { maxHeaderBytes: 16_384, maxHeaders: 100 };

export const bytes = (text: string) => Buffer.from(text, "latin1");

/** A parse result with the head's bytes as text (`raw` holds all the bytes given, which differ between pieces) and its fields (made on first use, so not an own property), for comparison. */
export function comparable<T extends { kind: string }>(r: T): unknown {
  if (r.kind !== "head") return r;
  const parsed = (r as unknown as { head: { raw: Buffer; start: number; headBytes: number; headers: unknown } }).head;
  const { raw, ...head } = parsed;
  return { kind: "head", head: { ...head, headers: parsed.headers, raw: raw.toString("latin1", head.start, head.headBytes) } };
}

/**
 * The first answer that is not `incomplete` when `input` arrives in pieces
 * cut at `cuts` (each call gets all the bytes so far, as the caller keeps
 * them), or incomplete if none is.
 */
export function parseInPieces<T extends { kind: string }>(input: Uint8Array, cuts: number[], parse: (b: Uint8Array) => T): T | { kind: "incomplete" } {
  for (const cut of [...cuts, input.length]) {
    const r = parse(input.subarray(0, cut));
    if (r.kind !== "incomplete") return r;
  }
  return { kind: "incomplete" };
}

export const parseRequest = (b: Uint8Array, limits = LIMITS): RequestParse => parseRequestHead(b, limits);
