/**
 * The http and https checkers: one GET on a connection of their own to the
 * server's address, with the Host header and the TLS server name (SNI) the
 * config gives, whatever address is dialled. The response is read as it
 * arrives, with bounds: its head up to HTTP_HEAD_LIMIT, its body (identity,
 * Content-Length or chunked) up to HTTP_BODY_LIMIT, and only when a body test
 * needs it. The digest, as keepalived's `digest`, is of the body alone:
 * MD5 (32 hex digits, what genhash prints) or SHA-256 (64).
 */
import { createHash } from "node:crypto";
import { parseDuration } from "../../core/duration.ts";
import type { CheckRaw } from "./config.ts";
import type { CheckOutcome, Target } from "./target.ts";
import { REGEX_DEADLINE_MS, RegexMatcher } from "./regex.ts";
import { converse, withTimeout } from "./socket.ts";

/** The most of a response's status line and headers that is read. */
export const HTTP_HEAD_LIMIT = 16 * 1024;
/** The most of a response's body that is kept for the body and digest tests. */
export const HTTP_BODY_LIMIT = 64 * 1024;
/** The longest chunk-size or trailer line of a chunked body. */
const CHUNK_LINE_LIMIT = 1024;
const USER_AGENT = "tandem-check";
const CRLFCRLF = [13, 10, 13, 10];

/** The statuses of a `status` setting ("200-299,302") as [low, high] pairs. */
export function parseStatusRanges(text: string): Array<[number, number]> {
  return text.split(",").map((part) => {
    const [lo, hi] = part.split("-").map(Number);
    return [lo!, hi ?? lo!];
  });
}

function indexOfCrlfCrlf(bytes: Uint8Array, from: number): number {
  outer: for (let i = Math.max(0, from); i + 4 <= bytes.length; i++) {
    for (let j = 0; j < 4; j++) if (bytes[i + j] !== CRLFCRLF[j]) continue outer;
    return i;
  }
  return -1;
}

/** A chunked body decoded as it arrives (RFC 9112 7.1); extensions and trailers are read and dropped. */
class ChunkedDecoder {
  private phase: "size" | "data" | "data-end" | "trailer" = "size";
  private line = "";
  private left = 0;
  done = false;
  error: string | null = null;

  /** Feeds bytes; `sink` gets the body's data. */
  push(bytes: Uint8Array, sink: (data: Uint8Array) => void): void {
    let i = 0;
    while (i < bytes.length && !this.done && !this.error) {
      if (this.phase === "data") {
        const n = Math.min(this.left, bytes.length - i);
        sink(bytes.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.phase = "data-end";
        continue;
      }
      const c = bytes[i++]!;
      if (c !== 10) {
        if (c !== 13) this.line += String.fromCharCode(c);
        if (this.line.length > CHUNK_LINE_LIMIT) this.error = "a chunked body's line is too long";
        continue;
      }
      const line = this.line;
      this.line = "";
      if (this.phase === "data-end") {
        if (line !== "") this.error = "a chunk does not end where its size says";
        this.phase = "size";
      } else if (this.phase === "size") {
        const m = /^([0-9a-fA-F]{1,8})[ \t]*(;.*)?$/.exec(line);
        if (!m) this.error = "a chunk size is not hexadecimal";
        else {
          this.left = parseInt(m[1]!, 16);
          this.phase = this.left === 0 ? "trailer" : "data";
        }
      } else if (line === "") this.done = true;
    }
  }
}

/** The first `limit` bytes of what it is given, and whether more came. */
class BodyBuffer {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  push(data: Uint8Array): void {
    const room = this.limit - this.length;
    if (data.length > room) this.truncated = true;
    const kept = data.slice(0, room);
    this.chunks.push(kept);
    this.length += kept.length;
  }

  get(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/**
 * One HTTP/1.1 response read as it arrives. `push` answers true once enough
 * came: the whole response, or its head when the body is not wanted, or the
 * first HTTP_BODY_LIMIT bytes of a longer body, or an error.
 */
export class ResponseReader {
  status: number | null = null;
  error: string | null = null;
  complete = false;
  readonly body = new BodyBuffer(HTTP_BODY_LIMIT);
  private readonly head = new Uint8Array(HTTP_HEAD_LIMIT);
  private headLength = 0;
  /** Body bytes still to come by Content-Length, or null (chunked or until close). */
  private left: number | null = null;
  private chunked: ChunkedDecoder | null = null;

  constructor(private readonly wantBody: boolean) {}

  push(chunk: Uint8Array): boolean {
    if (this.error !== null) return true;
    if (this.status !== null) return this.pushBody(chunk);
    const before = this.headLength;
    const take = Math.min(chunk.length, HTTP_HEAD_LIMIT - before);
    this.head.set(chunk.subarray(0, take), before);
    this.headLength += take;
    const end = indexOfCrlfCrlf(this.head.subarray(0, this.headLength), before - 3);
    if (end < 0) {
      if (this.headLength === HTTP_HEAD_LIMIT) this.error = `a response head over ${HTTP_HEAD_LIMIT} bytes`;
      return this.error !== null;
    }
    this.readHead(new TextDecoder("latin1").decode(this.head.subarray(0, end)));
    if (this.error || this.complete || !this.wantBody) return true;
    return this.pushBody(chunk.subarray(end + 4 - before));
  }

  /** The peer closed: a body delimited by the close is complete. */
  close(): void {
    if (this.status !== null && this.left === null && this.chunked === null) this.complete = true;
  }

  /** Whether what came is enough to judge. */
  get enough(): boolean {
    return this.error !== null || this.complete || this.body.truncated || (this.status !== null && !this.wantBody);
  }

  private readHead(text: string): void {
    const [statusLine = "", ...lines] = text.split("\r\n");
    const m = /^HTTP\/1\.[01] ([1-5][0-9][0-9])(?: .*)?$/.exec(statusLine);
    if (!m) {
      this.error = `not an HTTP response: ${JSON.stringify(statusLine.slice(0, 40))}`;
      return;
    }
    this.status = Number(m[1]);
    let length: number | null = null;
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "transfer-encoding" && /(^|,)\s*chunked\s*$/i.test(value)) this.chunked = new ChunkedDecoder();
      if (name === "content-length") {
        if (!/^[0-9]{1,15}$/.test(value) || (length !== null && Number(value) !== length)) {
          this.error = "a bad Content-Length";
          return;
        }
        length = Number(value);
      }
    }
    const bodiless = this.status < 200 || this.status === 204 || this.status === 304;
    if (bodiless || (this.chunked === null && length === 0)) this.complete = true;
    else if (this.chunked === null) this.left = length;
  }

  private pushBody(bytes: Uint8Array): boolean {
    if (this.chunked) {
      this.chunked.push(bytes, (d) => this.body.push(d));
      this.error = this.chunked.error;
      this.complete = this.chunked.done;
    } else if (this.left !== null) {
      const n = Math.min(this.left, bytes.length);
      this.body.push(bytes.subarray(0, n));
      this.left -= n;
      this.complete = this.left === 0;
    } else this.body.push(bytes);
    return this.enough;
  }
}

/** The Host header when the config names none: the address, and the port when not the scheme's. */
function defaultHost(target: Target, port: number, tls: boolean): string {
  const host = target.address.includes(":") ? `[${target.address}]` : target.address;
  return port === (tls ? 443 : 80) ? host : `${host}:${port}`;
}

function digestOf(body: Uint8Array, expected: string): string {
  return createHash(expected.length === 32 ? "md5" : "sha256").update(body).digest("hex");
}

/** Matches the bodies' regular expressions of every http and https check of this thread, each bounded (regex.ts). */
const bodyMatcher = new RegexMatcher();

/** The judgement on a complete response, as the check's settings say. */
async function judge(reader: ResponseReader, check: CheckRaw): Promise<CheckOutcome> {
  const status = reader.status!;
  if (!parseStatusRanges(check.status).some(([lo, hi]) => status >= lo && status <= hi)) return { ok: false, message: `HTTP ${status}, expected ${check.status}` };
  const body = reader.body.get();
  if (check.body !== undefined) {
    const answer = await bodyMatcher.match(check.body, new TextDecoder().decode(body));
    if ("error" in answer) return { ok: false, message: `body is not a regular expression: ${answer.error}` };
    if ("timeout" in answer)
      return { ok: false, message: `HTTP ${status}, but matching the body against /${check.body}/ took over ${REGEX_DEADLINE_MS} ms and was stopped (a pattern that backtracks, such as nested quantifiers like (a+)+)` };
    const within = reader.body.truncated ? ` (in its first ${HTTP_BODY_LIMIT} bytes)` : "";
    if (!answer.matched) return { ok: false, message: `HTTP ${status}, but the body does not match /${check.body}/${within}` };
  }
  if (check.digest !== undefined) {
    if (reader.body.truncated) return { ok: false, message: `HTTP ${status}, but the body is over ${HTTP_BODY_LIMIT} bytes: too long to digest` };
    const got = digestOf(body, check.digest);
    if (got !== check.digest) return { ok: false, message: `HTTP ${status}, but the body's digest is ${got}, expected ${check.digest}` };
  }
  return { ok: true, message: `HTTP ${status}` };
}

async function get(target: Target, check: CheckRaw, signal: AbortSignal, tls: boolean): Promise<CheckOutcome> {
  if (target.port === null) return { ok: false, message: "no port to check" };
  const host = check.host ?? defaultHost(target, target.port, tls);
  const request = new TextEncoder().encode(`GET ${check.path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: ${USER_AGENT}\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
  const reader = new ResponseReader(check.body !== undefined || check.digest !== undefined);
  const bound = withTimeout(signal, parseDuration(check.timeout)!);
  const error = await converse(
    {
      address: target.address,
      port: target.port,
      ...(tls ? { tls: { serverName: check.sni ?? check.host, verify: check.verify_tls } } : {}),
      request,
      receive: (chunk) => reader.push(chunk),
    },
    bound.signal,
  );
  bound.clear();
  if (bound.signal.aborted) return { ok: false, message: bound.why() };
  if (!reader.enough && error === null) reader.close();
  if (reader.error) return { ok: false, message: reader.error };
  if (!reader.enough) return { ok: false, message: error ?? (reader.status === null ? "the connection closed before a response" : "the connection closed in the middle of the body") };
  return judge(reader, check);
}

export const httpCheck = (target: Target, check: CheckRaw, signal: AbortSignal) => get(target, check, signal, false);
export const httpsCheck = (target: Target, check: CheckRaw, signal: AbortSignal) => get(target, check, signal, true);
