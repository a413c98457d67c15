/**
 * The NBD protocol, pure: the fixed newstyle handshake as a step function
 * over the bytes received so far, the transmission phase's request reader,
 * and the encoders of simple and structured replies. No sockets, no clock,
 * no store: server.ts feeds bytes in and writes out what this returns.
 * The wire is NetworkBlockDevice's doc/proto.md (big-endian throughout).
 *
 * Hostile input never makes this throw or allocate beyond its bounds: an
 * option's data is kept only up to MAX_OPTION_DATA (longer ones are skipped
 * as they arrive and refused with NBD_REP_ERR_TOO_BIG), a WRITE's payload
 * only up to the export's maximum payload (a longer one is skipped and
 * refused), and what cannot be answered (a bad magic, unknown client
 * flags, an unknown export by NBD_OPT_EXPORT_NAME) ends the session.
 */
import { NBD_ERR, type NbdErrno } from "./store.ts";

export const NBDMAGIC = 0x4e42444d41474943n; // "NBDMAGIC"
export const IHAVEOPT = 0x49484156454f5054n; // "IHAVEOPT"
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

export const HANDSHAKE_FLAG = { FIXED_NEWSTYLE: 1 << 0, NO_ZEROES: 1 << 1 } as const;
export const CLIENT_FLAG = { FIXED_NEWSTYLE: 1 << 0, NO_ZEROES: 1 << 1 } as const;

export const TRANSMISSION_FLAG = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
} as const;

export const OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
} as const;

const REP_ERR = 2 ** 31;
export const REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  ERR_UNSUP: REP_ERR + 1,
  ERR_POLICY: REP_ERR + 2,
  ERR_INVALID: REP_ERR + 3,
  ERR_PLATFORM: REP_ERR + 4,
  ERR_TLS_REQD: REP_ERR + 5,
  ERR_UNKNOWN: REP_ERR + 6,
  ERR_SHUTDOWN: REP_ERR + 7,
  ERR_BLOCK_SIZE_REQD: REP_ERR + 8,
  ERR_TOO_BIG: REP_ERR + 9,
} as const;

export const INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

export const CMD = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, CACHE: 5, WRITE_ZEROES: 6, BLOCK_STATUS: 7 } as const;
export const CMD_FLAG = { FUA: 1 << 0, NO_HOLE: 1 << 1, DF: 1 << 2, REQ_ONE: 1 << 3, FAST_ZERO: 1 << 4 } as const;

export const REPLY_FLAG_DONE = 1 << 0;
export const REPLY_TYPE = { NONE: 0, OFFSET_DATA: 1, OFFSET_HOLE: 2, ERROR: 2 ** 15 + 1 } as const;

/** Greeting: NBDMAGIC, IHAVEOPT, 16-bit handshake flags. */
export const GREETING_BYTES = 18;
const OPTION_HEADER_BYTES = 16;
const OPTION_REPLY_HEADER_BYTES = 20;
export const REQUEST_HEADER_BYTES = 28;
export const SIMPLE_REPLY_BYTES = 16;
export const CHUNK_HEADER_BYTES = 20;
/** OFFSET_DATA's payload starts with the 64-bit offset. */
export const OFFSET_DATA_PREFIX = 8;
/** NBD_OPT_EXPORT_NAME's reply: size, flags, then 124 reserved zeroes unless NO_ZEROES was agreed. */
const EXPORT_NAME_ZEROES = 124;
/** A string of the protocol (an export name, a message) is at most 4096 bytes. */
export const MAX_STRING = 4096;
/** An option's data kept to parse: GO's name, its info requests and its header, with room. */
export const MAX_OPTION_DATA = MAX_STRING + 1024;
/** Options a session may send before the server ends it (each costs a reply; a client loops only to hurt). */
export const MAX_OPTIONS = 256;
/** The default and largest maximum payload this server announces (proto.md: at least 2^25 is never a DoS). */
export const DEFAULT_MAX_PAYLOAD = 2 ** 25;
const MAX_BLOCK = 2 ** 16;

export type Export = {
  name: string;
  description: string;
  size: number;
  readOnly: boolean;
  /** The backing is shared by every connection (FLUSH on one covers the writes of all): NBD_FLAG_CAN_MULTI_CONN. */
  multiConn: boolean;
  /** NBD_INFO_BLOCK_SIZE: minimum (1: any alignment), preferred, maximum payload. */
  minBlock: number;
  preferredBlock: number;
  maxPayload: number;
};

/** What the transmission phase needs to know of the session: the export chosen and what was agreed. */
export type Session = { export: Export; structured: boolean; flags: number };

export type HandshakeState =
  | { phase: "client-flags" }
  | { phase: "options"; noZeroes: boolean; structured: boolean; options: number }
  /** Dropping the rest of an option too long to keep, then refusing it. */
  | { phase: "skip-option"; noZeroes: boolean; structured: boolean; options: number; option: number; left: number };

export type HandshakeStep = {
  state: HandshakeState;
  /** Bytes of the input used; the caller drops them and calls again while this is not zero and there is no end. */
  consumed: number;
  send: Uint8Array[];
  end?: { kind: "transmission"; session: Session } | { kind: "close"; reason: string };
};

export function greeting(): Uint8Array {
  const b = new Uint8Array(GREETING_BYTES);
  const v = view(b);
  v.setBigUint64(0, NBDMAGIC);
  v.setBigUint64(8, IHAVEOPT);
  v.setUint16(16, HANDSHAKE_FLAG.FIXED_NEWSTYLE | HANDSHAKE_FLAG.NO_ZEROES);
  return b;
}

export const initialHandshake = (): HandshakeState => ({ phase: "client-flags" });

/** The parts one after another (the part itself when there is one). */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const length = parts.reduce((n, p) => n + p.length, 0);
  // Not zeroed first (every byte is written below): a MiB joined is a copy, not a fill and a copy.
  const raw = Buffer.allocUnsafe(length);
  const out = new Uint8Array(raw.buffer, raw.byteOffset, length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: false });

/** The transmission flags an export is announced with; DF only where structured replies were agreed. */
export function transmissionFlags(e: Export, structured: boolean): number {
  const F = TRANSMISSION_FLAG;
  let flags = F.HAS_FLAGS | F.SEND_FLUSH | F.SEND_FUA | F.SEND_TRIM | F.SEND_WRITE_ZEROES;
  if (e.readOnly) flags |= F.READ_ONLY;
  if (e.multiConn) flags |= F.CAN_MULTI_CONN;
  if (structured) flags |= F.SEND_DF;
  return flags;
}

/** An export's size constraints, checked: what proto.md's "Size constraints" allows. */
export function validExport(e: Export): boolean {
  const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  return (
    Number.isSafeInteger(e.size) &&
    e.size >= 0 &&
    pow2(e.minBlock) &&
    e.minBlock <= MAX_BLOCK &&
    pow2(e.preferredBlock) &&
    e.preferredBlock >= Math.max(e.minBlock, 512) &&
    Number.isInteger(e.maxPayload) &&
    e.maxPayload >= e.preferredBlock &&
    e.maxPayload <= DEFAULT_MAX_PAYLOAD &&
    utf8.encode(e.name).length <= MAX_STRING &&
    utf8.encode(e.description).length <= MAX_STRING
  );
}

export function optionReply(option: number, type: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(OPTION_REPLY_HEADER_BYTES + data.length);
  const v = view(b);
  v.setBigUint64(0, OPTION_REPLY_MAGIC);
  v.setUint32(8, option);
  v.setUint32(12, type);
  v.setUint32(16, data.length);
  b.set(data, OPTION_REPLY_HEADER_BYTES);
  return b;
}

function errorReply(option: number, type: number, message: string): Uint8Array {
  return optionReply(option, type, utf8.encode(message).subarray(0, MAX_STRING));
}

function info(type: number, body: Uint8Array): Uint8Array {
  const b = new Uint8Array(2 + body.length);
  view(b).setUint16(0, type);
  b.set(body, 2);
  return b;
}

function exportInfo(e: Export, flags: number): Uint8Array {
  const body = new Uint8Array(10);
  view(body).setBigUint64(0, BigInt(e.size));
  view(body).setUint16(8, flags);
  return info(INFO.EXPORT, body);
}

function blockSizeInfo(e: Export): Uint8Array {
  const body = new Uint8Array(12);
  const v = view(body);
  v.setUint32(0, e.minBlock);
  v.setUint32(4, e.preferredBlock);
  v.setUint32(8, e.maxPayload);
  return info(INFO.BLOCK_SIZE, body);
}

function serverReply(e: Export): Uint8Array {
  const name = utf8.encode(e.name);
  const description = utf8.encode(e.description);
  const b = new Uint8Array(4 + name.length + description.length);
  view(b).setUint32(0, name.length);
  b.set(name, 4);
  b.set(description, 4 + name.length);
  return optionReply(OPT.LIST, REP.SERVER, b);
}

/** NBD_OPT_INFO/GO's data: name, then the info requests; undefined when the lengths disagree. */
export function parseInfoRequest(data: Uint8Array): { name: string; requests: number[] } | undefined {
  if (data.length < 6) return undefined;
  const v = view(data);
  const nameLength = v.getUint32(0);
  if (nameLength > data.length - 6) return undefined;
  const count = v.getUint16(4 + nameLength);
  if (data.length !== 6 + nameLength + 2 * count) return undefined;
  const requests: number[] = [];
  for (let i = 0; i < count; i++) requests.push(v.getUint16(6 + nameLength + 2 * i));
  return { name: fromUtf8.decode(data.subarray(4, 4 + nameLength)), requests };
}

/**
 * One step of the handshake: given the bytes received and not yet used,
 * what to send, how many bytes were used, and whether the handshake ended
 * (into transmission, or by closing). `exports` finds an export by name
 * ("" is the default export); `list` is what NBD_OPT_LIST shows.
 */
export function stepHandshake(
  state: HandshakeState,
  input: Uint8Array,
  exports: { find(name: string): Export | undefined; list(): readonly Export[] },
): HandshakeStep {
  const none = (): HandshakeStep => ({ state, consumed: 0, send: [] });
  const close = (reason: string, consumed = 0, send: Uint8Array[] = []): HandshakeStep => ({ state, consumed, send, end: { kind: "close", reason } });

  if (state.phase === "client-flags") {
    if (input.length < 4) return none();
    const flags = view(input).getUint32(0);
    const known = CLIENT_FLAG.FIXED_NEWSTYLE | CLIENT_FLAG.NO_ZEROES;
    if ((flags & ~known) !== 0) return close(`unknown client flags 0x${(flags >>> 0).toString(16)}`, 4);
    return { state: { phase: "options", noZeroes: (flags & CLIENT_FLAG.NO_ZEROES) !== 0, structured: false, options: 0 }, consumed: 4, send: [] };
  }

  if (state.phase === "skip-option") {
    const used = Math.min(state.left, input.length);
    const left = state.left - used;
    if (left > 0) return { state: { ...state, left }, consumed: used, send: [] };
    const { option, ...rest } = state;
    return {
      state: { ...rest, phase: "options" },
      consumed: used,
      send: [errorReply(option, REP.ERR_TOO_BIG, `option data longer than ${MAX_OPTION_DATA} bytes`)],
    };
  }

  if (input.length < OPTION_HEADER_BYTES) return none();
  const v = view(input);
  if (v.getBigUint64(0) !== IHAVEOPT) return close("bad option magic", OPTION_HEADER_BYTES);
  const option = v.getUint32(8);
  const length = v.getUint32(12);
  const options = state.options + 1;
  if (options > MAX_OPTIONS) return close(`more than ${MAX_OPTIONS} options`, OPTION_HEADER_BYTES);
  if (length > MAX_OPTION_DATA) {
    // NBD_OPT_EXPORT_NAME has no error reply: its name cannot be this long, the session ends.
    if (option === OPT.EXPORT_NAME) return close("export name too long", OPTION_HEADER_BYTES);
    return { state: { ...state, phase: "skip-option", options, option, left: length }, consumed: OPTION_HEADER_BYTES, send: [] };
  }
  if (input.length < OPTION_HEADER_BYTES + length) return none();
  const data = input.subarray(OPTION_HEADER_BYTES, OPTION_HEADER_BYTES + length);
  const consumed = OPTION_HEADER_BYTES + length;
  const next = { ...state, options };
  const reply = (...send: Uint8Array[]): HandshakeStep => ({ state: next, consumed, send });

  switch (option) {
    case OPT.EXPORT_NAME: {
      const e = exports.find(fromUtf8.decode(data));
      if (!e) return close("no such export", consumed);
      const flags = transmissionFlags(e, state.structured);
      const b = new Uint8Array(10 + (state.noZeroes ? 0 : EXPORT_NAME_ZEROES));
      view(b).setBigUint64(0, BigInt(e.size));
      view(b).setUint16(8, flags);
      return { state: next, consumed, send: [b], end: { kind: "transmission", session: { export: e, structured: state.structured, flags } } };
    }
    case OPT.ABORT:
      return close("client aborted", consumed, [optionReply(option, REP.ACK)]);
    case OPT.LIST:
      if (length !== 0) return reply(errorReply(option, REP.ERR_INVALID, "NBD_OPT_LIST takes no data"));
      return reply(...exports.list().map(serverReply), optionReply(option, REP.ACK));
    case OPT.STRUCTURED_REPLY:
      if (length !== 0) return reply(errorReply(option, REP.ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data"));
      return { state: { ...next, structured: true }, consumed, send: [optionReply(option, REP.ACK)] };
    case OPT.INFO:
    case OPT.GO: {
      const request = parseInfoRequest(data);
      if (!request) return reply(errorReply(option, REP.ERR_INVALID, "malformed NBD_OPT_INFO/GO data"));
      const e = exports.find(request.name);
      if (!e) return reply(errorReply(option, REP.ERR_UNKNOWN, `no export named ${JSON.stringify(request.name.slice(0, 64))}`));
      const flags = transmissionFlags(e, state.structured);
      const send = [optionReply(option, REP.INFO, exportInfo(e, flags)), optionReply(option, REP.INFO, blockSizeInfo(e))];
      if (request.requests.includes(INFO.NAME)) send.push(optionReply(option, REP.INFO, info(INFO.NAME, utf8.encode(e.name))));
      if (request.requests.includes(INFO.DESCRIPTION) && e.description) {
        send.push(optionReply(option, REP.INFO, info(INFO.DESCRIPTION, utf8.encode(e.description))));
      }
      send.push(optionReply(option, REP.ACK));
      if (option === OPT.INFO) return { state: next, consumed, send };
      return { state: next, consumed, send, end: { kind: "transmission", session: { export: e, structured: state.structured, flags } } };
    }
    default:
      return reply(errorReply(option, REP.ERR_UNSUP, `option ${option} is not supported`));
  }
}

export type Request = { flags: number; type: number; cookie: bigint; offset: number; length: number };

/** What the reader found at the front of the bytes received in transmission. */
export type ReadResult =
  /** More bytes wanted; `request`: a valid WRITE whose payload is still coming. */
  | { kind: "need"; bytes: number; request?: Request }
  /** A request to carry out; `payload` (a WRITE's data) is a view of the input. */
  | { kind: "request"; request: Request; payload?: Uint8Array; consumed: number }
  /** A request to answer with `errno` and not carry out; `skip` more bytes of its payload still to drop as they come. */
  | { kind: "refuse"; request: Request; errno: NbdErrno; message: string; consumed: number; skip: number }
  | { kind: "disconnect"; reason: string };

const KNOWN_FLAGS: Record<number, number> = {
  [CMD.READ]: CMD_FLAG.FUA | CMD_FLAG.DF,
  [CMD.WRITE]: CMD_FLAG.FUA,
  [CMD.DISC]: CMD_FLAG.FUA,
  [CMD.FLUSH]: CMD_FLAG.FUA,
  [CMD.TRIM]: CMD_FLAG.FUA,
  [CMD.WRITE_ZEROES]: CMD_FLAG.FUA | CMD_FLAG.NO_HOLE,
};

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Reads the request at the front of `input` and checks it against the
 * session: known command and flags, range within the export, alignment to
 * the minimum block, payload within the maximum, writes on a writable
 * export. A bad magic cannot be skipped (the stream has lost its frame):
 * the session ends.
 */
export function readRequest(input: Uint8Array, session: Session): ReadResult {
  if (input.length < REQUEST_HEADER_BYTES) return { kind: "need", bytes: REQUEST_HEADER_BYTES };
  const v = view(input);
  if (v.getUint32(0) !== REQUEST_MAGIC) return { kind: "disconnect", reason: "bad request magic" };
  const flags = v.getUint16(4);
  const type = v.getUint16(6);
  const cookie = v.getBigUint64(8);
  const offset64 = v.getBigUint64(16);
  const length = v.getUint32(24);
  const offset = offset64 > MAX_SAFE ? Number.MAX_SAFE_INTEGER : Number(offset64);
  const request: Request = { flags, type, cookie, offset, length };
  const e = session.export;
  const isWrite = type === CMD.WRITE;
  const refuse = (errno: NbdErrno, message: string): ReadResult => {
    // A WRITE's payload follows its header whatever we think of it: drop what has come, skip the rest.
    const have = isWrite ? Math.min(length, input.length - REQUEST_HEADER_BYTES) : 0;
    return { kind: "refuse", request, errno, message, consumed: REQUEST_HEADER_BYTES + have, skip: isWrite ? length - have : 0 };
  };

  const known = KNOWN_FLAGS[type];
  if (known === undefined) return refuse(NBD_ERR.EINVAL, `unknown command ${type}`);
  if ((flags & ~known) !== 0) return refuse(NBD_ERR.EINVAL, `flags 0x${flags.toString(16)} not valid for command ${type}`);
  if ((flags & CMD_FLAG.DF) !== 0 && !session.structured) return refuse(NBD_ERR.EINVAL, "DF without structured replies");
  if (isWrite && length > e.maxPayload) return refuse(NBD_ERR.EOVERFLOW, `payload of ${length} bytes over the maximum ${e.maxPayload}`);
  if (type === CMD.READ && length > e.maxPayload) return refuse(NBD_ERR.EOVERFLOW, `read of ${length} bytes over the maximum ${e.maxPayload}`);
  const ranged = type === CMD.READ || isWrite || type === CMD.TRIM || type === CMD.WRITE_ZEROES;
  if (ranged) {
    const mutates = type !== CMD.READ;
    if (mutates && e.readOnly) return refuse(NBD_ERR.EPERM, "the export is read-only");
    if (offset64 > MAX_SAFE || offset + length > e.size) {
      return refuse(isWrite || type === CMD.WRITE_ZEROES ? NBD_ERR.ENOSPC : NBD_ERR.EINVAL, `range ${offset64}+${length} past the end (${e.size})`);
    }
    if (offset % e.minBlock !== 0 || length % e.minBlock !== 0) return refuse(NBD_ERR.EINVAL, `range not aligned to ${e.minBlock}`);
  }
  if (!isWrite) return { kind: "request", request, consumed: REQUEST_HEADER_BYTES };
  const end = REQUEST_HEADER_BYTES + length;
  if (input.length < end) return { kind: "need", bytes: end, request };
  return { kind: "request", request, payload: input.subarray(REQUEST_HEADER_BYTES, end), consumed: end };
}

export function encodeRequest(r: Request, payload?: Uint8Array): Uint8Array {
  const b = new Uint8Array(REQUEST_HEADER_BYTES + (payload?.length ?? 0));
  const v = view(b);
  v.setUint32(0, REQUEST_MAGIC);
  v.setUint16(4, r.flags);
  v.setUint16(6, r.type);
  v.setBigUint64(8, r.cookie);
  v.setBigUint64(16, BigInt(r.offset));
  v.setUint32(24, r.length);
  if (payload) b.set(payload, REQUEST_HEADER_BYTES);
  return b;
}

/** A simple reply; a successful READ's data follows it. */
export function simpleReply(errno: number, cookie: bigint): Uint8Array {
  const b = new Uint8Array(SIMPLE_REPLY_BYTES);
  const v = view(b);
  v.setUint32(0, SIMPLE_REPLY_MAGIC);
  v.setUint32(4, errno);
  v.setBigUint64(8, cookie);
  return b;
}

/** A structured reply chunk's header, with `room` bytes after it for the payload. */
export function chunk(flags: number, type: number, cookie: bigint, length: number, room = 0): Uint8Array {
  const b = new Uint8Array(CHUNK_HEADER_BYTES + room);
  const v = view(b);
  v.setUint32(0, STRUCTURED_REPLY_MAGIC);
  v.setUint16(4, flags);
  v.setUint16(6, type);
  v.setBigUint64(8, cookie);
  v.setUint32(16, length);
  return b;
}

/** The header of a final OFFSET_DATA chunk carrying `length` bytes read at `offset`, the data to follow. */
export function offsetDataHeader(cookie: bigint, offset: number, length: number): Uint8Array {
  const b = chunk(REPLY_FLAG_DONE, REPLY_TYPE.OFFSET_DATA, cookie, OFFSET_DATA_PREFIX + length, OFFSET_DATA_PREFIX);
  view(b).setBigUint64(CHUNK_HEADER_BYTES, BigInt(offset));
  return b;
}

/** A final ERROR chunk: the error value and a message for a human. */
export function errorChunk(cookie: bigint, errno: number, message: string): Uint8Array {
  const text = utf8.encode(message).subarray(0, MAX_STRING);
  const b = chunk(REPLY_FLAG_DONE, REPLY_TYPE.ERROR, cookie, 6 + text.length, 6 + text.length);
  const v = view(b);
  v.setUint32(CHUNK_HEADER_BYTES, errno);
  v.setUint16(CHUNK_HEADER_BYTES + 4, text.length);
  b.set(text, CHUNK_HEADER_BYTES + 6);
  return b;
}

/**
 * The reply to a request that failed or was refused: a structured ERROR
 * chunk where structured replies were agreed (READ needs one then), else
 * a simple reply with the error.
 */
export function failure(session: Session, cookie: bigint, errno: number, message: string): Uint8Array {
  return session.structured ? errorChunk(cookie, errno, message) : simpleReply(errno, cookie);
}

/** The reply to a request that succeeded with no data: a simple reply (allowed either way for all but READ). */
export function success(cookie: bigint): Uint8Array {
  return simpleReply(0, cookie);
}

/** The reply to a READ that succeeded: header (and the 8-byte offset when structured), then `data`. */
export function readReplyHeader(session: Session, request: Request): Uint8Array {
  return session.structured ? offsetDataHeader(request.cookie, request.offset, request.length) : simpleReply(0, request.cookie);
}
