/**
 * Heads as the proxy forwards them: a request toward a server, a response
 * toward the client. Each is one Buffer: the kept lines are copied from the
 * bytes as received (runs of them at once), the added lines written after.
 *
 * Dropped both ways (hop-by-hop, RFC 9110 §7.6.1): Connection and the fields
 * it names (except Host, Content-Length and Transfer-Encoding, which a client
 * cannot make the proxy drop), Keep-Alive, Proxy-Connection, TE (a request
 * keeps `TE: trailers`), Upgrade unless the message upgrades, and repeats of
 * a folded Content-Length. Toward the server the connection is kept alive
 * (HTTP/1.1's default; `Connection: keep-alive` for an HTTP/1.0 request, whose
 * version is kept so the server does not answer in chunks the client cannot
 * read).
 */
import { latin1Write, TOKEN } from "./chars.ts";
import { FIELD, type Header, type HttpVersion, type MessageHead, type RequestHead, type ResponseHead } from "./head.ts";

export interface ForwardEdits {
  /** The client's address (and port) as the proxy saw it, or as its PROXY protocol header said; an IPv4-mapped IPv6 address (::ffff:198.18.0.7, as a dual-stack socket reports an IPv4 client) is written as the IPv4 address. */
  client: { address: string; port: number };
  /** What the client spoke to the proxy. */
  proto: "http" | "https";
  /** Add X-Forwarded-For (appended to the client's own) and X-Forwarded-Proto (replacing the client's). */
  forwardedFor: boolean;
  /** Add an RFC 7239 Forwarded element (for, proto, host), appended to the client's. */
  forwarded: boolean;
  /** Forwarded's for= carries the client's port too. */
  forwardedPort?: boolean;
  /** More fields to send. */
  add?: Header[];
  /**
   * A cookie taken out of the Cookie fields (the stickiness cookie, HAProxy's
   * `indirect`): the other cookies are kept as sent, a field left with none is
   * dropped, and once one field held it the Cookie fields go after the others,
   * in their order.
   */
  dropCookie?: string;
}

export interface ReplyEdits {
  /** The client connection stays open after this response. */
  keepAlive: boolean;
  /** The client's HTTP version (an HTTP/1.0 client is told keep-alive in so many words). */
  clientVersion: HttpVersion;
  /** More fields to send (a stickiness cookie's Set-Cookie). */
  add?: Header[];
  /** Set-Cookie fields of this cookie are dropped (the server's own stickiness cookie, which the proxy inserts). */
  dropSetCookie?: string;
  /**
   * HAProxy's `nocache`: `Cache-Control: private` is added (after the other
   * fields, as HAProxy does) unless a Cache-Control field already keeps
   * shared caches from storing the answer (private, no-cache or no-store).
   */
  uncacheable?: boolean;
}

/** Fields a Connection option cannot drop: they frame or route the message. */
const PROTECTED = new Set<number>([FIELD.host, FIELD.contentLength, FIELD.transferEncoding]);
const CONNECTION_WORDS = new Set(["close", "keep-alive", "upgrade"]);

/** RFC 7239 §4: a value is a token or a quoted-string. */
export function forwardedValue(text: string): string {
  let token = text.length > 0;
  for (let i = 0; i < text.length && token; i++) token = TOKEN[text.charCodeAt(i)] === 1;
  return token ? text : `"${text.replace(/["\\]/g, "\\$&")}"`;
}

/** RFC 7239 §6: a node, an IPv6 address in brackets, a port after a colon (quoted, as ":" is not a token byte). */
export function forwardedNode(address: string, port?: number): string {
  const host = address.includes(":") ? `[${address}]` : address;
  return forwardedValue(port === undefined ? host : `${host}:${port}`);
}

const MAPPED_V4 = "::ffff:";
/** An IPv4-mapped IPv6 address in dotted form as its IPv4 address; any other as it is. */
export const unmapped = (address: string) => (address.startsWith(MAPPED_V4) && address.includes(".") ? address.slice(MAPPED_V4.length) : address);

/** Whether the header at `i` is hop-by-hop: by its id, or named by a Connection option. */
function hopByHop(head: MessageHead, i: number, id: number, keepUpgrade: boolean, listed: Set<string> | undefined): boolean {
  switch (id) {
    case FIELD.connection:
    case FIELD.keepAlive:
    case FIELD.proxyConnection:
    case FIELD.te:
      return true;
    case FIELD.upgrade:
      return !keepUpgrade;
  }
  return listed !== undefined && !PROTECTED.has(id) && listed.has(head.headers[i]![0].toLowerCase());
}

/** The Connection options that name fields, or undefined when there are none (the usual case). */
function listedFields(head: MessageHead): Set<string> | undefined {
  if (head.connection.length === 0) return undefined;
  let out: Set<string> | undefined;
  for (const option of head.connection) if (!CONNECTION_WORDS.has(option)) (out ??= new Set()).add(option);
  return out;
}

const line = (name: string, value: string) => `${name}: ${value}\r\n`;

/**
 * One Buffer: `startLine` (or the head's own when undefined), the head's
 * field lines where `keep` says (copied in runs), `added`, the final CRLF.
 */
function assemble(head: MessageHead, startLine: string | undefined, keep: boolean[], added: string): Buffer {
  const out = Buffer.allocUnsafe(assembledSize(head, startLine, keep, added));
  assembleInto(out, head, startLine, keep, added);
  return out;
}

/** The bytes assemble writes. */
function assembledSize(head: MessageHead, startLine: string | undefined, keep: boolean[], added: string): number {
  const starts = head.lineStarts;
  let size = (startLine === undefined ? starts[0]! - head.start : startLine.length) + added.length + 2;
  for (let i = 0; i < keep.length; i++) if (keep[i]) size += starts[i + 1]! - starts[i]!;
  return size;
}

/** assemble's bytes written at the start of `out` (large enough: assembledSize); their length. */
function assembleInto(out: Buffer, head: MessageHead, startLine: string | undefined, keep: boolean[], added: string): number {
  const raw = head.raw;
  const starts = head.lineStarts;
  let at = startLine === undefined ? raw.copy(out, 0, head.start, starts[0]!) : latin1Write(out, startLine, 0);
  let run = -1;
  for (let i = 0; i <= keep.length; i++) {
    if (i < keep.length && keep[i]) {
      if (run < 0) run = i;
      continue;
    }
    if (run >= 0) {
      at += raw.copy(out, at, starts[run]!, starts[i]!);
      run = -1;
    }
  }
  if (added !== "") at += latin1Write(out, added, at);
  out[at] = 13;
  out[at + 1] = 10;
  return at + 2;
}

/** The runs assembleInPlace moves: from, to, where, for each. */
const RUNS: number[] = [];

/**
 * assemble's bytes in `head.raw`, ending at headBytes (the final CRLF stays
 * where it is): where they begin, or -1 (raw untouched) when they are larger
 * than the head. Each run of kept lines (the start line the first, unless
 * it is rewritten) moves by what is dropped after it less what is added: the
 * runs that move back go first, from the first, then those that move on,
 * from the last, so none overwrites bytes not yet moved; `added` and a
 * rewritten start line are written last.
 */
function assembleInPlace(head: MessageHead, startLine: string | undefined, keep: boolean[], added: string): number {
  const raw = head.raw;
  const starts = head.lineStarts;
  RUNS.length = 0;
  let at = head.headBytes - 2 - added.length;
  let last = keep.length;
  for (let i = keep.length - 1; i >= -1; i--) {
    if (i >= 0 && keep[i]) continue;
    if (last > i + 1) {
      // Lines i+1 .. last-1: a run of kept ones.
      const from = starts[i + 1]!;
      at -= starts[last]! - from;
      RUNS.push(from, starts[last]!, at);
    }
    last = i;
  }
  if (startLine === undefined) {
    at -= starts[0]! - head.start;
    RUNS.push(head.start, starts[0]!, at);
  } else at -= startLine.length;
  if (at < head.start) return -1;
  // RUNS is from the last run to the first.
  for (let r = RUNS.length - 3; r >= 0; r -= 3) if (RUNS[r + 2]! < RUNS[r]!) raw.copy(raw, RUNS[r + 2]!, RUNS[r]!, RUNS[r + 1]!);
  for (let r = 0; r < RUNS.length; r += 3) if (RUNS[r + 2]! > RUNS[r]!) raw.copy(raw, RUNS[r + 2]!, RUNS[r]!, RUNS[r + 1]!);
  if (added !== "") latin1Write(raw, added, head.headBytes - 2 - added.length);
  if (startLine !== undefined) latin1Write(raw, startLine, at);
  return at;
}

const addedLines = (add: Header[] | undefined) => (add ? add.map(([n, v]) => line(n, v)).join("") : "");

/** The request head to send to a server, edited as ForwardEdits says. */
export function writeRequestHead(head: RequestHead, edits: ForwardEdits): Buffer {
  const [startLine, keep, added] = requestParts(head, edits);
  return assemble(head, startLine, keep, added);
}

/**
 * writeRequestHead's bytes written at the start of `out` (a buffer the
 * caller reuses, so a request allocates no head of its own): their length,
 * or -1 when they do not fit (out is then untouched).
 */
export function writeRequestHeadInto(out: Buffer, head: RequestHead, edits: ForwardEdits): number {
  const [startLine, keep, added] = requestParts(head, edits);
  if (assembledSize(head, startLine, keep, added) > out.length) return -1;
  return assembleInto(out, head, startLine, keep, added);
}

/** The X-Forwarded-For and X-Forwarded-Proto lines of the last client without an X-Forwarded-For of its own: a client's requests send the same. */
let forwardedForLast = { client: "", proto: "", lines: "" };

function forwardedForLines(client: string, proto: string): string {
  const last = forwardedForLast;
  if (last.client === client && last.proto === proto) return last.lines;
  forwardedForLast = { client, proto, lines: line("X-Forwarded-For", client) + line("X-Forwarded-Proto", proto) };
  return forwardedForLast.lines;
}

function requestParts(head: RequestHead, edits: ForwardEdits): [startLine: string | undefined, keep: boolean[], added: string] {
  const listed = listedFields(head);
  const fields = head.fieldIds.length;
  const keep: boolean[] = new Array(fields);
  const xff: string[] = [];
  const fwd: string[] = [];
  let trailers = false;
  let length = false;
  const cookies = edits.dropCookie !== undefined ? withoutCookie(head, edits.dropCookie) : null;
  for (let i = 0; i < fields; i++) {
    const id = head.fieldIds[i]!;
    let k = !hopByHop(head, i, id, head.upgrade !== undefined, listed) && !cookies?.fields.has(i);
    if (id === FIELD.te && head.headers[i]![1].toLowerCase().split(",").some((coding) => coding.trim() === "trailers")) trailers = true;
    else if (id === FIELD.contentLength) {
      k = !length;
      length = true;
    }
    else if (id === FIELD.host && head.absolute) k = false;
    else if (edits.forwardedFor && (id === FIELD.xForwardedFor || id === FIELD.xForwardedProto)) {
      if (id === FIELD.xForwardedFor) xff.push(head.headers[i]![1]);
      k = false;
    } else if (edits.forwarded && id === FIELD.forwarded) {
      fwd.push(head.headers[i]![1]);
      k = false;
    }
    keep[i] = k;
  }
  let added = head.absolute && head.host !== undefined ? line("Host", head.host) : "";
  if (trailers) added += "TE: trailers\r\n";
  if (head.upgrade !== undefined) added += "Connection: upgrade\r\n";
  else if (head.version === "1.0") added += "Connection: keep-alive\r\n";
  const client = unmapped(edits.client.address);
  if (edits.forwardedFor && xff.length === 0) added += forwardedForLines(client, edits.proto);
  else if (edits.forwardedFor) {
    xff.push(client);
    added += line("X-Forwarded-For", xff.join(", ")) + line("X-Forwarded-Proto", edits.proto);
  }
  if (edits.forwarded) {
    let element = `for=${forwardedNode(client, edits.forwardedPort ? edits.client.port : undefined)};proto=${edits.proto}`;
    if (head.host !== undefined && head.host !== "") element += `;host=${forwardedValue(head.host)}`;
    fwd.push(element);
    added += line("Forwarded", fwd.join(", "));
  }
  if (cookies) for (const v of cookies.values) added += line("Cookie", v);
  added += addedLines(edits.add);
  let startLine: string | undefined;
  if (head.absolute) startLine = `${head.method} ${head.path}${head.target.includes("?") ? `?${head.query}` : ""} HTTP/${head.version}\r\n`;
  return [startLine, keep, added];
}

/** The response head to send to the client, edited as ReplyEdits says; the status line says HTTP/1.1, the proxy's version. */
export function writeResponseHead(head: ResponseHead, edits: ReplyEdits): Buffer {
  const [startLine, keep, added] = replyParts(head, edits);
  return assemble(head, startLine, keep, added);
}

/**
 * writeResponseHead's bytes written over the head's own in `head.raw`,
 * ending where it ended (so body bytes after it follow on unmoved): where
 * they begin, or -1 when they are larger than the head (raw is then as it
 * was). The usual answer only loses its hop-by-hop fields, and is then sent
 * without a copy of its own.
 */
export function writeResponseHeadInPlace(head: ResponseHead, edits: ReplyEdits): number {
  const [startLine, keep, added] = replyParts(head, edits);
  return assembleInPlace(head, startLine, keep, added);
}

function replyParts(head: ResponseHead, edits: ReplyEdits): [startLine: string | undefined, keep: boolean[], added: string] {
  const listed = listedFields(head);
  const fields = head.fieldIds.length;
  const keep: boolean[] = new Array(fields);
  const switching = head.status === 101 && head.upgrade !== undefined;
  let length = false;
  /** Nothing to add for `uncacheable`: not asked, or a Cache-Control field already says so. */
  let shielded = !edits.uncacheable;
  for (let i = 0; i < fields; i++) {
    const id = head.fieldIds[i]!;
    let k = !hopByHop(head, i, id, switching, listed);
    if (id === FIELD.contentLength) {
      k = !length;
      length = true;
    } else if (edits.dropSetCookie !== undefined && isField(head, i, "set-cookie") && pairName(head.headers[i]![1]) === edits.dropSetCookie) k = false;
    else if (!shielded && isField(head, i, "cache-control")) shielded = keepsFromSharedCaches(head.headers[i]![1]);
    keep[i] = k;
  }
  let added = "";
  if (switching) added = "Connection: upgrade\r\n";
  else if (!edits.keepAlive) added = "Connection: close\r\n";
  else if (edits.clientVersion === "1.0") added = "Connection: keep-alive\r\n";
  added += addedLines(edits.add);
  if (!shielded) added += "Cache-Control: private\r\n";
  const startLine = head.version === "1.1" ? undefined : `HTTP/1.1 ${head.status} ${head.reason}\r\n`;
  return [startLine, keep, added];
}

const isField = (head: MessageHead, i: number, lower: string): boolean => {
  const name = head.headers[i]![0];
  return name.length === lower.length && name.toLowerCase() === lower;
};

/** The name of a `NAME=value` pair (a cookie, a Cache-Control directive), white space around it aside. */
const pairName = (pair: string): string => {
  const eq = pair.indexOf("=");
  return (eq < 0 ? pair : pair.slice(0, eq)).trim();
};

const SHARED_CACHE_DENIED = new Set(["private", "no-cache", "no-store"]);

/** Whether a Cache-Control value has a directive that keeps shared caches from storing the answer (RFC 9111 §5.2.2). */
function keepsFromSharedCaches(value: string): boolean {
  for (const d of value.split(",")) if (SHARED_CACHE_DENIED.has(pairName(d).toLowerCase())) return true;
  return false;
}

/**
 * The Cookie fields without cookie `name`: null when none holds it; else the
 * indexes of every Cookie field (dropped where they are) and the values to
 * send instead, in order, each cookie kept as sent (a field left empty goes).
 */
function withoutCookie(head: MessageHead, name: string): { fields: Set<number>; values: string[] } | null {
  let held = false;
  const fields = new Set<number>();
  const values: string[] = [];
  for (let i = 0; i < head.headers.length; i++) {
    if (!isField(head, i, "cookie")) continue;
    fields.add(i);
    const value = head.headers[i]![1];
    const pairs = value.split(";");
    const kept = pairs.filter((p) => pairName(p) !== name);
    if (kept.length === pairs.length) {
      values.push(value);
      continue;
    }
    held = true;
    const rest = kept.join(";").trimStart();
    if (rest !== "") values.push(rest);
  }
  return held ? { fields, values } : null;
}

/** A head of the proxy's own (an error page's, a 100 Continue): status line, fields, CRLF. */
export function writeHead(status: number, reason: string, headers: Header[]): Buffer {
  return Buffer.from(`HTTP/1.1 ${status} ${reason}\r\n${addedLines(headers)}\r\n`, "latin1");
}
