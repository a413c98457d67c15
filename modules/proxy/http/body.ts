/**
 * Where a message body ends in the bytes that pass through the proxy: the
 * framer reads them without copying or re-encoding (a chunked body goes on
 * as it came), and tells how many of the bytes fed belong to the body and
 * whether it has ended. Chunked bodies are checked on the way (RFC 9112
 * §7.1): chunk sizes in hex, extensions, trailer fields, the final CRLF; a
 * bad size, a bare LF or CR, a size line or trailer over its bound is an
 * error, after which the connection is closed.
 */
import { CR, HTAB, hexValue, isValueByte, LF, SEMICOLON, SP, TOKEN, COLON } from "./chars.ts";
import type { BodyFraming } from "./head.ts";

/** A chunk-size line (size and extensions, CRLF excluded) longer than this is refused. */
export const MAX_CHUNK_LINE = 4096;
/** The trailer section's bytes at most, unless the caller says (it passes max_header_bytes). */
export const MAX_TRAILER_BYTES = 16_384;
/** A chunk size of more hex digits than this (leading zeros included) is refused, as parsers that truncate read it otherwise. */
const MAX_SIZE_DIGITS = 16;
/** Chunk sizes up to 2^53 - 1, the bytes a Number counts exactly. */
const MAX_SIZE_BEFORE_DIGIT = Math.floor((Number.MAX_SAFE_INTEGER - 15) / 16);

const enum S {
  SizeStart,
  Size,
  SizeSpace,
  Extension,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerName,
  TrailerValue,
  TrailerLf,
  FinalLf,
}

export class BodyFramer {
  /** The body has ended: bytes after it belong to the next message (or, for an upgrade, to the tunnel). */
  done = false;
  /** Why the body is malformed; the connection must be closed. */
  error: string | undefined = undefined;
  private remaining = 0;
  private state: S = S.SizeStart;
  private lineBytes = 0;
  private trailerBytes = 0;
  private readonly chunked: boolean;
  private readonly untilClose: boolean;

  constructor(
    framing: BodyFraming,
    private readonly maxTrailerBytes = MAX_TRAILER_BYTES,
  ) {
    this.chunked = framing.kind === "chunked";
    this.untilClose = framing.kind === "close";
    if (framing.kind === "length") this.remaining = framing.length;
    this.done = framing.kind === "none" || (framing.kind === "length" && framing.length === 0);
  }

  /**
   * Reads `bytes` from `from`: returns how many of them belong to the body
   * (all of them for a body that runs until the connection closes). Check
   * `done` and `error` after each call.
   */
  feed(bytes: Uint8Array, from = 0): number {
    if (this.done || this.error !== undefined) return 0;
    const n = bytes.length - from;
    if (this.untilClose) return n;
    if (!this.chunked) {
      const take = n < this.remaining ? n : this.remaining;
      this.remaining -= take;
      if (this.remaining === 0) this.done = true;
      return take;
    }
    return this.chunks(bytes, from) - from;
  }

  private fail(reason: string, at: number): number {
    this.error = reason;
    return at;
  }

  /** Walks the chunked framing from `i`; returns the offset where the body ended, or where the bytes did. */
  private chunks(b: Uint8Array, i: number): number {
    const end = b.length;
    while (i < end) {
      const c = b[i]!;
      switch (this.state) {
        case S.Data: {
          const take = end - i < this.remaining ? end - i : this.remaining;
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = S.DataCr;
          continue;
        }
        case S.DataCr:
          if (c !== CR) return this.fail("chunk data not followed by CRLF", i);
          this.state = S.DataLf;
          break;
        case S.DataLf:
          if (c !== LF) return this.fail("chunk data not followed by CRLF", i);
          this.lineBytes = -1;
          this.state = S.SizeStart;
          break;
        case S.SizeStart:
        case S.Size: {
          const h = hexValue(c);
          if (h >= 0) {
            if (this.remaining > MAX_SIZE_BEFORE_DIGIT || this.lineBytes >= MAX_SIZE_DIGITS) return this.fail("a chunk size too large", i);
            this.remaining = this.remaining * 16 + h;
            this.state = S.Size;
          } else if (this.state === S.SizeStart) return this.fail("a chunk size that is not hexadecimal", i);
          else if (c === CR) this.state = S.SizeLf;
          else if (c === SEMICOLON) this.state = S.Extension;
          else if (c === SP || c === HTAB) this.state = S.SizeSpace;
          else return this.fail("a chunk size that is not hexadecimal", i);
          break;
        }
        case S.SizeSpace:
          if (c === SEMICOLON) this.state = S.Extension;
          else if (c !== SP && c !== HTAB) return this.fail("white space after a chunk size not followed by an extension", i);
          break;
        case S.Extension:
          if (c === CR) this.state = S.SizeLf;
          else if (!isValueByte(c)) return this.fail("a control byte in a chunk extension", i);
          break;
        case S.SizeLf:
          if (c !== LF) return this.fail("a bare CR in a chunk-size line", i);
          this.lineBytes = 0;
          this.state = this.remaining === 0 ? S.TrailerStart : S.Data;
          break;
        case S.TrailerStart:
          if (c === CR) this.state = S.FinalLf;
          else if (c === SP || c === HTAB) return this.fail("obsolete line folding in the trailer", i);
          else if (TOKEN[c] !== 1) return this.fail("a trailer field name with a byte not allowed in a token", i);
          else this.state = S.TrailerName;
          break;
        case S.TrailerName:
          if (c === COLON) this.state = S.TrailerValue;
          else if (TOKEN[c] !== 1) return this.fail(c === SP || c === HTAB ? "white space between a trailer field name and its colon" : "a trailer field name with a byte not allowed in a token", i);
          break;
        case S.TrailerValue:
          if (c === CR) this.state = S.TrailerLf;
          else if (!isValueByte(c)) return this.fail("a control byte in a trailer field value", i);
          break;
        case S.TrailerLf:
          if (c !== LF) return this.fail("a bare CR in the trailer", i);
          this.state = S.TrailerStart;
          break;
        case S.FinalLf:
          if (c !== LF) return this.fail("a bare CR after the trailer", i);
          this.done = true;
          return i + 1;
      }
      if (this.state >= S.TrailerStart && ++this.trailerBytes > this.maxTrailerBytes) return this.fail(`a trailer larger than ${this.maxTrailerBytes} bytes`, i);
      if (this.state <= S.SizeLf && ++this.lineBytes > MAX_CHUNK_LINE) return this.fail(`a chunk-size line longer than ${MAX_CHUNK_LINE} bytes`, i);
      i++;
    }
    return i;
  }
}
