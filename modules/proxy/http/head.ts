/**
 * Strict HTTP/1.1 request and response heads (RFC 9112), parsed from the
 * bytes as they come off a socket. Stateless and incremental: the caller
 * keeps the bytes not yet consumed and calls again with more; the answer is
 * `incomplete`, the head (with `headBytes`, where the body or the next
 * message starts), or an error with the status to answer (a request) or 502
 * (a response), after which the connection is closed.
 *
 * Choices (see README.md): lines end in CRLF only (a bare LF or a bare CR is
 * refused, unlike HAProxy, which takes a bare LF); empty lines before a
 * request line are skipped (RFC 9112 §2.2); repeated Content-Length fields
 * with the same value are folded into one, a comma list in one field is
 * refused; a request's Transfer-Encoding must be exactly `chunked` (501 for
 * another coding before it, 400 when it is not last or appears twice, or on
 * HTTP/1.0).
 */
import { asBuffer, COLON, COMMA, CR, equalsLower, HTAB, isDigit, latin1, LF, SP, TOKEN } from "./chars.ts";

export interface HeadLimits {
  /** The head's bytes at most (request line or status line, fields, final CRLF): [proxy] max_header_bytes. */
  maxHeaderBytes: number;
  /** Header fields at most: [proxy] max_headers. */
  maxHeaders: number;
}

export type Header = [name: string, value: string];
export type HttpVersion = "1.0" | "1.1";

/**
 * How the body after a head is delimited (RFC 9112 §6.3): none, a length,
 * chunked, or until the connection closes (responses only).
 */
export type BodyFraming = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" } | { kind: "close" };
export const NO_BODY: BodyFraming = { kind: "none" };
export const CHUNKED: BodyFraming = { kind: "chunked" };
export const UNTIL_CLOSE: BodyFraming = { kind: "close" };

/** The fields the proxy reads or rewrites, by id (`MessageHead.fieldIds`); 0 for any other. */
export const FIELD = {
  other: 0,
  host: 1,
  contentLength: 2,
  transferEncoding: 3,
  connection: 4,
  keepAlive: 5,
  proxyConnection: 6,
  te: 7,
  upgrade: 8,
  expect: 9,
  xForwardedFor: 10,
  xForwardedProto: 11,
  forwarded: 12,
} as const;

/** What requests and responses share. */
export interface MessageHead {
  version: HttpVersion;
  /** Every field as sent, in order (latin1-decoded), repeats included: made on first use (the proxy's own path reads only the fields it knows by id). */
  readonly headers: Header[];
  /** Whether the connection stays open after this message (the version's default and Connection). */
  keepAlive: boolean;
  body: BodyFraming;
  /** The Connection field's options, lower case (the hop-by-hop fields the rewrite drops). */
  connection: string[];
  /** Bytes of the head, from the first byte given (empty lines before a request line included) to the end of the final CRLF. */
  headBytes: number;
  /** The bytes given (not a copy: rewrite before they are reused); the head is raw[start, headBytes). */
  raw: Buffer;
  /** Where the start line begins in `raw` (after the empty lines skipped before a request line). */
  start: number;
  /** Offsets in `raw` where each field line starts, and last where the final CRLF starts (the start line is raw[start, lineStarts[0])). */
  lineStarts: number[];
  /** FIELD id of each header. */
  fieldIds: number[];
}

export interface RequestHead extends MessageHead {
  method: string;
  /** The request-target as sent. */
  target: string;
  /** The path ("/..."; "*" for OPTIONS *; "" for a CONNECT's authority-form); from an absolute-form target, its path. */
  path: string;
  /** What follows "?" in the target, "" when nothing does. */
  query: string;
  /** The Host field, or an absolute-form target's authority (which wins, RFC 9112 §3.2.2), lower case; undefined when neither (HTTP/1.0). */
  host: string | undefined;
  /** The target was absolute-form (http://host/path): the rewrite sends its path and its host. */
  absolute: boolean;
  /** The protocol asked for by Upgrade with Connection: upgrade (e.g. "websocket"), HTTP/1.1 only. */
  upgrade: string | undefined;
  /** Expect: 100-continue (HTTP/1.1 only: RFC 9110 §10.1.1 has an HTTP/1.0 one ignored). */
  expectContinue: boolean;
}

export interface ResponseHead extends MessageHead {
  status: number;
  reason: string;
  /** 101 Switching Protocols: the protocol switched to (the Upgrade field); a 2xx to CONNECT: "tunnel". */
  upgrade: string | undefined;
}

export type RequestStatus = 400 | 414 | 431 | 501 | 505;
export type ParseError<S extends number> = { kind: "error"; status: S; reason: string };
export type RequestParse = { kind: "incomplete" } | { kind: "head"; head: RequestHead } | ParseError<RequestStatus>;
export type ResponseParse = { kind: "incomplete" } | { kind: "head"; head: ResponseHead } | ParseError<502>;

const INCOMPLETE = { kind: "incomplete" } as const;

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** `headers` of a parsed head, made from its text on first use. */
class Fieldset {
  #text: string;
  #base: number;
  #lineStarts: number[];
  #spans: number[];
  #headers: Header[] | undefined = undefined;

  constructor(text: string, base: number, lineStarts: number[], spans: number[]) {
    this.#text = text;
    this.#base = base;
    this.#lineStarts = lineStarts;
    this.#spans = spans;
  }

  get headers(): Header[] {
    if (this.#headers) return this.#headers;
    const t = this.#text;
    const b = this.#base;
    const sp = this.#spans;
    const out: Header[] = [];
    for (let i = 0; i < sp.length; i += 3) out.push([t.slice(this.#lineStarts[i / 3]! - b, sp[i]! - b), t.slice(sp[i + 1]! - b, sp[i + 2]! - b)]);
    return (this.#headers = out);
  }
}
/** Transfer-Encoding seen; chunked seen; a coding after chunked (or chunked again); a coding other than chunked. */
const TE_PRESENT = 1;
const TE_CHUNKED = 2;
const TE_AFTER_CHUNKED = 4;
const TE_OTHER = 8;

/** A Content-Length of more digits than this is refused (2^53 has 16). */
const MAX_LENGTH_DIGITS = 15;

class Refusal {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {}
}

const refuse = (status: number, reason: string): never => {
  throw new Refusal(status, reason);
};

/** The LF of each line of the head headEnd last found (the final empty line's aside), for readFields: one scan finds both. */
const LINE_ENDS: number[] = [];
/** The head headEnd last found holds a control byte (but HTAB, and CR before LF) or DEL: only then are field values looked at byte by byte (notValue). */
let controls = false;

/**
 * The end of the head that starts at `start`: the offset after its final
 * CRLF, or -1 when it has not all arrived. Refuses a bare LF, a head over the
 * byte limit (`tooLong`) and more lines than the header limit allows, as soon
 * as the bytes show it, so a slow client cannot grow a head past them.
 */
function headEnd(b: Uint8Array, start: number, limits: HeadLimits, tooLong: number, firstTooLong: number): number {
  const max = start + limits.maxHeaderBytes;
  const end = b.length < max ? b.length : max;
  let lines = 0;
  LINE_ENDS.length = 0;
  controls = false;
  // A byte loop, not indexOf: a head's lines are short, and a native call a line cost more than the loop; the
  // same loop sees control bytes, so the usual head's values are not scanned again.
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c >= SP && c !== 0x7f) continue;
    if (c !== LF) {
      if (c !== HTAB && (c !== CR || b[i + 1] !== LF)) controls = true;
      continue;
    }
    if (b[i - 1] !== CR) refuse(400, "a line ends in a bare LF, not CRLF");
    if (i - 2 > start && b[i - 2] === LF) return i + 1;
    if (++lines > limits.maxHeaders + 1) refuse(tooLong, `more than ${limits.maxHeaders} header fields`);
    LINE_ENDS.push(i);
  }
  if (b.length - start > limits.maxHeaderBytes) {
    refuse(lines === 0 ? firstTooLong : tooLong, lines === 0 ? `the first line is longer than ${limits.maxHeaderBytes} bytes` : `the head is larger than ${limits.maxHeaderBytes} bytes`);
  }
  return -1;
}

interface Fields {
  /** Per field: where its name ends, where its value starts and ends, in the bytes. */
  spans: number[];
  lineStarts: number[];
  fieldIds: number[];
  host: string | undefined;
  hosts: number;
  contentLength: number;
  /** Transfer-Encoding's codings over all its fields: TE_* bits. */
  transferEncoding: number;
  connection: string[];
  upgrade: string | undefined;
  expectContinue: boolean;
}

/** The FIELD names by their length, lower case: a name is compared only with those of its length (names and ids side by side: no tuple to take apart a field). */
const FIELD_NAMES: string[][] = [];
const FIELD_NAME_IDS: number[][] = [];
for (const [name, id] of [
  ["te", FIELD.te],
  ["host", FIELD.host],
  ["expect", FIELD.expect],
  ["upgrade", FIELD.upgrade],
  ["forwarded", FIELD.forwarded],
  ["connection", FIELD.connection],
  ["keep-alive", FIELD.keepAlive],
  ["content-length", FIELD.contentLength],
  ["x-forwarded-for", FIELD.xForwardedFor],
  ["proxy-connection", FIELD.proxyConnection],
  ["transfer-encoding", FIELD.transferEncoding],
  ["x-forwarded-proto", FIELD.xForwardedProto],
] as const) {
  (FIELD_NAMES[name.length] ??= []).push(name);
  (FIELD_NAME_IDS[name.length] ??= []).push(id);
}

function fieldId(b: Uint8Array, s: number, e: number): number {
  const names = FIELD_NAMES[e - s];
  if (names === undefined) return FIELD.other;
  for (let i = 0; i < names.length; i++) if (equalsLower(b, s, e, names[i]!)) return FIELD_NAME_IDS[e - s]![i]!;
  return FIELD.other;
}

/** The decimal digits of s..e, or a refusal: no sign, no space, no list, at most 15 digits. */
function contentLength(b: Uint8Array, s: number, e: number, status: number): number {
  if (s === e) refuse(status, "an empty Content-Length");
  if (e - s > MAX_LENGTH_DIGITS) refuse(status, "a Content-Length too large");
  let n = 0;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (!isDigit(c)) refuse(status, "a Content-Length that is not a decimal number");
    n = n * 10 + (c - 48);
  }
  return n;
}

/**
 * Each element of a comma list s..e (optional white space around elements,
 * empty elements skipped, RFC 9110 §5.6.1), lower case, given to `each`.
 */
function listElements(value: string, each: (element: string) => void): void {
  const e = value.length;
  let i = 0;
  while (i < e) {
    let c = value.charCodeAt(i);
    while (i < e && (c === SP || c === HTAB || c === COMMA)) c = value.charCodeAt(++i);
    let j = i;
    while (j < e && value.charCodeAt(j) !== COMMA) j++;
    let k = j;
    while (k > i && ((c = value.charCodeAt(k - 1)) === SP || c === HTAB)) k--;
    if (k > i) each(value.slice(i, k).toLowerCase());
    i = j;
  }
}

/** The bytes s..e hold a control byte but HTAB, or DEL: why a field value (or a reason phrase) cannot be that; undefined when it can. */
function notValue(b: Uint8Array, s: number, e: number): string | undefined {
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if ((c < SP && c !== HTAB) || c === 0x7f) return c === CR ? "a bare CR" : "a control byte in a field value";
  }
  return undefined;
}

/**
 * Reads the field lines (LINE_ENDS after the start line) of the head whose
 * latin1 text `text` starts at `base` in `buf`, and what they say; the final
 * CRLF starts at `last`. Refusals with `status`. Strings are made only of
 * the values the parse reads (Host, Content-Length, Transfer-Encoding,
 * Connection, Upgrade, Expect); `headers` makes the rest when asked.
 */
function readFields(buf: Buffer, text: string, base: number, last: number, status: number): Fields {
  const f: Fields = { spans: [], lineStarts: [], fieldIds: [], host: undefined, hosts: 0, contentLength: -1, transferEncoding: 0, connection: [], upgrade: undefined, expectContinue: false };
  for (let line = 1; line < LINE_ENDS.length; line++) {
    const ls = LINE_ENDS[line - 1]! + 1;
    const le = LINE_ENDS[line]! - 1;
    const first = buf[ls]!;
    if (first === SP || first === HTAB) refuse(status, "obsolete line folding");
    let n = ls;
    while (TOKEN[buf[n]!] === 1) n++;
    if (buf[n] !== COLON) {
      const c = buf[n]!;
      refuse(status, n === le ? "a field line without a colon" : c === SP || c === HTAB ? "white space between a field name and its colon" : "a field name with a byte not allowed in a token");
    }
    if (n === ls) refuse(status, "an empty field name");
    let vs = n + 1;
    while (vs < le && (buf[vs] === SP || buf[vs] === HTAB)) vs++;
    let ve = le;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
    const id = fieldId(buf, ls, n);
    const bad = controls ? notValue(buf, vs, ve) : undefined;
    if (bad !== undefined) refuse(status, bad);
    f.spans.push(n, vs, ve);
    f.lineStarts.push(ls);
    f.fieldIds.push(id);
    if (id === FIELD.other || id > FIELD.expect) continue;
    // The usual Connection values, without a string of their own (the bytes are field-value bytes: checked above).
    if (id === FIELD.connection && equalsLower(buf, vs, ve, "keep-alive")) {
      f.connection.push("keep-alive");
      continue;
    }
    if (id === FIELD.connection && equalsLower(buf, vs, ve, "close")) {
      f.connection.push("close");
      continue;
    }
    const value = text.slice(vs - base, ve - base);
    switch (id) {
      case FIELD.host:
        f.hosts++;
        f.host = value.toLowerCase();
        break;
      case FIELD.contentLength: {
        const len = contentLength(buf, vs, ve, status);
        if (f.contentLength >= 0 && f.contentLength !== len) refuse(status, "two different Content-Length values");
        f.contentLength = len;
        break;
      }
      case FIELD.transferEncoding:
        f.transferEncoding |= TE_PRESENT;
        listElements(value, (coding) => {
          if (f.transferEncoding & TE_CHUNKED) f.transferEncoding |= TE_AFTER_CHUNKED;
          f.transferEncoding |= coding === "chunked" ? TE_CHUNKED : TE_OTHER;
        });
        break;
      case FIELD.connection:
        listElements(value, (option) => f.connection.push(option));
        break;
      case FIELD.upgrade:
        f.upgrade = value;
        break;
      case FIELD.expect:
        if (value.toLowerCase() === "100-continue") f.expectContinue = true;
        break;
    }
  }
  f.lineStarts.push(last);
  return f;
}

/**
 * The body framing Transfer-Encoding gives, or a refusal: `chunked` last and
 * once is chunked; another coding before it is `other` (501 in a request,
 * fine in a response); chunked missing is `close` (400 in a request).
 */
function transferCoding(te: number, status: number): "chunked" | "other" | "close" {
  if (te & TE_AFTER_CHUNKED) refuse(status, "chunked is not the last transfer coding, or is there twice");
  if (!(te & TE_CHUNKED)) return "close";
  return te & TE_OTHER ? "other" : "chunked";
}

function keepAliveOf(version: HttpVersion, connection: string[]): boolean {
  let keep = version === "1.1";
  for (let i = 0; i < connection.length; i++) {
    const option = connection[i];
    if (option === "close") return false;
    if (option === "keep-alive") keep = true;
  }
  return keep;
}

/** "HTTP/1.1" or "HTTP/1.0" at s (8 bytes): the version; another HTTP/d.d: "bad"; anything else: undefined. */
function versionAt(b: Uint8Array, s: number): HttpVersion | "bad" | undefined {
  if (b[s] !== 72 || b[s + 1] !== 84 || b[s + 2] !== 84 || b[s + 3] !== 80 || b[s + 4] !== 47 || !isDigit(b[s + 5]!) || b[s + 6] !== 46 || !isDigit(b[s + 7]!)) return undefined;
  if (b[s + 5] !== 49) return "bad";
  return b[s + 7] === 49 ? "1.1" : b[s + 7] === 48 ? "1.0" : "bad";
}

/** Host's bytes: reg-name, IP-literal in brackets, an optional port (RFC 3986 §3.2.2), no userinfo. */
function validHost(host: string): boolean {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 48 && c <= 58) || c === 45 || c === 46 || c === 95 || c === 126 || c === 91 || c === 93 || c === 37 || c === 33 || c === 36 || (c >= 38 && c <= 44) || c === 59 || c === 61;
    if (!ok) return false;
  }
  return true;
}

/**
 * The request head at the start of `bytes`. Refusals: 400 (malformed, or a
 * smuggling vector: Content-Length with Transfer-Encoding, differing
 * Content-Lengths, a bad Content-Length, chunked not last or twice, obsolete
 * folding, white space before a colon, bare CR or LF, control bytes, a bad
 * token, Host missing on HTTP/1.1 or repeated), 414 (a request line longer
 * than the head limit), 431 (a head over max_header_bytes or over
 * max_headers fields), 501 (a transfer coding other than chunked), 505 (an
 * HTTP version other than 1.0 and 1.1).
 */
export function parseRequestHead(bytes: Uint8Array, limits: HeadLimits): RequestParse {
  try {
    return requestHead(asBuffer(bytes), limits);
  } catch (e) {
    if (e instanceof Refusal) return { kind: "error", status: e.status as RequestStatus, reason: e.reason };
    throw e;
  }
}

function requestHead(b: Buffer, limits: HeadLimits): RequestParse {
  let start = 0;
  while (b[start] === CR && b[start + 1] === LF && start < limits.maxHeaderBytes) start += 2;
  if (start >= b.length || (b[start] === CR && start + 1 >= b.length)) return INCOMPLETE;
  const end = headEnd(b, start, limits, 431, 414);
  if (end < 0) return INCOMPLETE;
  // Request line: method SP request-target SP HTTP-version CRLF.
  let i = start;
  while (TOKEN[b[i]!] === 1) i++;
  if (i === start || b[i] !== SP) refuse(400, i === start ? "no method" : "a method with a byte not allowed in a token");
  const text = latin1(b, start, end);
  const method = text.slice(0, i - start);
  const ts = i + 1;
  let te = ts;
  const lineEnd = LINE_ENDS[0]! - 1;
  // A request-target holds visible ASCII only (0x21-0x7e).
  let visible = true;
  for (let c = b[te]!; c !== SP && te < lineEnd; c = b[++te]!) if (c < 0x21 || c > 0x7e) visible = false;
  if (te === ts || te === lineEnd) refuse(400, te === ts ? "no request-target" : "a malformed request line");
  const vs = te + 1;
  const version = versionAt(b, vs);
  if (version === undefined || b[vs + 8] !== CR || b[vs + 9] !== LF) refuse(400, "a malformed request line");
  if (version === "bad") refuse(505, "an HTTP version other than 1.0 and 1.1");
  const v = version as HttpVersion;
  const target = text.slice(ts - start, te - start);
  if (!visible) refuse(400, "a request-target with a byte not allowed");
  const f = readFields(b, text, start, end - 2, 400);
  // Target forms (RFC 9112 §3.2).
  let path: string;
  let query = "";
  let host = f.host;
  let absolute = false;
  const c0 = b[ts];
  if (c0 === 47) {
    const q = target.indexOf("?");
    if (target.includes("#")) refuse(400, "a fragment in the request-target");
    path = q < 0 ? target : target.slice(0, q);
    query = q < 0 ? "" : target.slice(q + 1);
  } else if (c0 === 42 && te - ts === 1) {
    if (method !== "OPTIONS") refuse(400, "the asterisk-form is for OPTIONS only");
    path = "*";
  } else if (method === "CONNECT") {
    if (!validHost(target.toLowerCase()) || target.includes("/")) refuse(400, "a CONNECT target that is not host:port");
    path = "";
    host = target.toLowerCase();
  } else {
    const lower = target.slice(0, 8).toLowerCase();
    const schemeEnd = lower.startsWith("http://") ? 7 : lower.startsWith("https://") ? 8 : -1;
    if (schemeEnd < 0) refuse(400, "a request-target that is neither a path nor an http(s) URI");
    if (target.includes("#")) refuse(400, "a fragment in the request-target");
    let a = schemeEnd;
    while (a < target.length && target[a] !== "/" && target[a] !== "?") a++;
    const authority = target.slice(schemeEnd, a).toLowerCase();
    if (authority === "" || authority.includes("@")) refuse(400, authority === "" ? "an absolute URI without a host" : "userinfo in the request-target");
    const rest = target.slice(a);
    const q = rest.indexOf("?");
    path = q < 0 ? rest || "/" : rest.slice(0, q) || "/";
    query = q < 0 ? "" : rest.slice(q + 1);
    host = authority;
    absolute = true;
  }
  if (f.hosts > 1) refuse(400, "more than one Host field");
  if (v === "1.1" && f.hosts === 0) refuse(400, "no Host field in an HTTP/1.1 request");
  if (host !== undefined && !validHost(host)) refuse(400, "a Host that is not a host name or address");
  let body: BodyFraming = NO_BODY;
  if (f.transferEncoding !== 0) {
    if (f.contentLength >= 0) refuse(400, "both Content-Length and Transfer-Encoding");
    if (v === "1.0") refuse(400, "Transfer-Encoding in an HTTP/1.0 request");
    const coding = transferCoding(f.transferEncoding, 400);
    if (coding === "close") refuse(400, "the last transfer coding is not chunked");
    if (coding === "other") refuse(501, "a transfer coding other than chunked");
    body = CHUNKED;
  } else if (f.contentLength > 0) body = { kind: "length", length: f.contentLength };
  const upgrade = v === "1.1" && f.upgrade !== undefined && f.connection.includes("upgrade") ? f.upgrade : undefined;
  const head = new Fieldset(text, start, f.lineStarts, f.spans) as Fieldset & Writable<RequestHead>;
  head.method = method;
  head.target = target;
  head.path = path;
  head.query = query;
  head.version = v;
  head.host = host;
  head.absolute = absolute;
  head.keepAlive = keepAliveOf(v, f.connection);
  head.body = body;
  head.upgrade = upgrade;
  head.expectContinue = v === "1.1" && f.expectContinue;
  head.connection = f.connection;
  head.headBytes = end;
  head.raw = b;
  head.start = start;
  head.lineStarts = f.lineStarts;
  head.fieldIds = f.fieldIds;
  return { kind: "head", head };
}

/**
 * The response head at the start of `bytes`, answering a request with
 * `method` (HEAD and CONNECT change the framing, RFC 9112 §6.3). Any fault is
 * a 502 error: a malformed status line or field, a head over the limits,
 * Content-Length with Transfer-Encoding, differing Content-Lengths, chunked
 * not last or twice, Transfer-Encoding in HTTP/1.0.
 */
export function parseResponseHead(bytes: Uint8Array, limits: HeadLimits, method: string): ResponseParse {
  try {
    return responseHead(asBuffer(bytes), limits, method);
  } catch (e) {
    if (e instanceof Refusal) return { kind: "error", status: 502, reason: e.reason };
    throw e;
  }
}

function responseHead(b: Buffer, limits: HeadLimits, method: string): ResponseParse {
  if (b.length === 0) return INCOMPLETE;
  const end = headEnd(b, 0, limits, 502, 502);
  if (end < 0) return INCOMPLETE;
  // Status line: HTTP-version SP status-code SP [reason-phrase] CRLF (a missing SP before an empty reason is taken).
  const version = versionAt(b, 0);
  if (version === undefined || b[8] !== SP || !isDigit(b[9]!) || !isDigit(b[10]!) || !isDigit(b[11]!)) refuse(502, "a malformed status line");
  if (version === "bad") refuse(502, "an HTTP version other than 1.0 and 1.1");
  const v = version as HttpVersion;
  const status = (b[9]! - 48) * 100 + (b[10]! - 48) * 10 + (b[11]! - 48);
  if (status < 100) refuse(502, "a status code below 100");
  const lf = LINE_ENDS[0]!;
  if (lf > 13 && b[12] !== SP) refuse(502, "a malformed status line");
  const text = latin1(b, 0, end);
  const reason = lf > 13 ? text.slice(13, lf - 1) : "";
  if (lf > 13 && controls && notValue(b, 13, lf - 1) !== undefined) refuse(502, "a control byte in the reason phrase");
  const f = readFields(b, text, 0, end - 2, 502);
  const bodiless = method === "HEAD" || status < 200 || status === 204 || status === 304;
  const tunnel = method === "CONNECT" && status >= 200 && status < 300;
  let body: BodyFraming = UNTIL_CLOSE;
  if (f.transferEncoding !== 0) {
    if (f.contentLength >= 0) refuse(502, "both Content-Length and Transfer-Encoding");
    if (v === "1.0") refuse(502, "Transfer-Encoding in an HTTP/1.0 response");
    if (transferCoding(f.transferEncoding, 502) !== "close") body = CHUNKED;
  } else if (f.contentLength >= 0) body = f.contentLength === 0 ? NO_BODY : { kind: "length", length: f.contentLength };
  if (bodiless || tunnel) body = NO_BODY;
  if (status === 101 && f.upgrade === undefined) refuse(502, "101 Switching Protocols without Upgrade");
  const upgrade = tunnel ? "tunnel" : status === 101 ? f.upgrade : undefined;
  const head = new Fieldset(text, 0, f.lineStarts, f.spans) as Fieldset & Writable<ResponseHead>;
  head.version = v;
  head.status = status;
  head.reason = reason;
  head.keepAlive = body.kind !== "close" && !tunnel && status !== 101 && keepAliveOf(v, f.connection);
  head.body = body;
  head.upgrade = upgrade;
  head.connection = f.connection;
  head.headBytes = end;
  head.raw = b;
  head.start = 0;
  head.lineStarts = f.lineStarts;
  head.fieldIds = f.fieldIds;
  return { kind: "head", head };
}
