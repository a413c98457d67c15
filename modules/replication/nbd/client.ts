/**
 * The client side of the NBD handshake, as the kernel's NBD device needs it
 * done before it takes a socket (it speaks only the transmission phase):
 * fixed newstyle, NO_ZEROES when the server offers it, then NBD_OPT_GO for
 * the export, reading the server's NBD_REP_INFO replies for its size and
 * transmission flags up to NBD_REP_ACK. The encoders and decoders are pure;
 * `negotiate` drives them over any blocking byte stream (the attach thread's
 * unix socket; a test's in-memory server). Never structured replies: the
 * kernel reads simple ones only.
 */
import { CLIENT_FLAG, GREETING_BYTES, HANDSHAKE_FLAG, IHAVEOPT, INFO, MAX_STRING, NBDMAGIC, OPT, OPTION_REPLY_MAGIC, REP } from "./codec.ts";

/** An option reply's header: magic, option, reply type, length. */
export const OPTION_REPLY_HEADER_BYTES = 20;
/** The most option replies one NBD_OPT_GO may bring before its ACK (a server sends a few INFOs). */
export const MAX_GO_REPLIES = 16;
/** The most bytes of one option reply's data a client reads (an INFO is a few bytes; an error's message up to 4096). */
const MAX_REPLY_DATA = MAX_STRING + 64;

/** What the client learns of the export. */
export interface Negotiated {
  size: number;
  /** The transmission flags (NBD_FLAG_*), as the kernel takes them in NBD_ATTR_SERVER_FLAGS. */
  flags: number;
}

/** A blocking byte stream: read exactly n bytes, write all of them; either throws on a timeout or a close. */
export interface ByteStream {
  read(n: number): Uint8Array;
  write(bytes: Uint8Array): void;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

export class HandshakeError extends Error {
  override readonly name = "HandshakeError";
}

/** The server's greeting: fixed newstyle is required (the oldstyle and plain newstyle have no NBD_OPT_GO). */
export function readGreeting(b: Uint8Array): { noZeroes: boolean } {
  if (b.length !== GREETING_BYTES) throw new HandshakeError(`a greeting of ${b.length} bytes, not ${GREETING_BYTES}`);
  const v = view(b);
  if (v.getBigUint64(0) !== NBDMAGIC) throw new HandshakeError("the server's greeting does not start with NBDMAGIC");
  if (v.getBigUint64(8) !== IHAVEOPT) throw new HandshakeError("the server does not speak newstyle negotiation (no IHAVEOPT)");
  const flags = v.getUint16(16);
  if (!(flags & HANDSHAKE_FLAG.FIXED_NEWSTYLE)) throw new HandshakeError("the server does not speak fixed newstyle negotiation");
  return { noZeroes: (flags & HANDSHAKE_FLAG.NO_ZEROES) !== 0 };
}

export function clientFlags(noZeroes: boolean): Uint8Array {
  const b = new Uint8Array(4);
  view(b).setUint32(0, CLIENT_FLAG.FIXED_NEWSTYLE | (noZeroes ? CLIENT_FLAG.NO_ZEROES : 0));
  return b;
}

/** NBD_OPT_GO for `name`, with no information requests (the server sends NBD_INFO_EXPORT regardless). */
export function optGo(name: string): Uint8Array {
  const n = new TextEncoder().encode(name);
  if (n.length > MAX_STRING) throw new HandshakeError(`an export name of ${n.length} bytes, over ${MAX_STRING}`);
  const data = 4 + n.length + 2;
  const b = new Uint8Array(16 + data);
  const v = view(b);
  v.setBigUint64(0, IHAVEOPT);
  v.setUint32(8, OPT.GO);
  v.setUint32(12, data);
  v.setUint32(16, n.length);
  b.set(n, 20);
  v.setUint16(20 + n.length, 0);
  return b;
}

export function readReplyHeader(b: Uint8Array): { option: number; type: number; length: number } {
  const v = view(b);
  if (v.getBigUint64(0) !== OPTION_REPLY_MAGIC) throw new HandshakeError("an option reply without its magic");
  const length = v.getUint32(16);
  if (length > MAX_REPLY_DATA) throw new HandshakeError(`an option reply of ${length} bytes, over ${MAX_REPLY_DATA}`);
  return { option: v.getUint32(8), type: v.getUint32(12), length };
}

/** Runs the handshake for `name` on a fresh connection; after it the stream is in the transmission phase. */
export function negotiate(io: ByteStream, name: string): Negotiated {
  const { noZeroes } = readGreeting(io.read(GREETING_BYTES));
  io.write(clientFlags(noZeroes));
  io.write(optGo(name));
  let found: Negotiated | undefined;
  for (let i = 0; i < MAX_GO_REPLIES; i++) {
    const h = readReplyHeader(io.read(OPTION_REPLY_HEADER_BYTES));
    const data = h.length ? io.read(h.length) : new Uint8Array(0);
    if (h.option !== OPT.GO) throw new HandshakeError(`a reply to option ${h.option}, not to NBD_OPT_GO`);
    if (h.type === REP.ACK) {
      if (!found) throw new HandshakeError("the server acknowledged NBD_OPT_GO without the export's size (NBD_INFO_EXPORT)");
      return found;
    }
    if (h.type === REP.INFO) {
      const dv = view(data);
      if (data.length >= 2 && dv.getUint16(0) === INFO.EXPORT) {
        if (data.length !== 12) throw new HandshakeError(`NBD_INFO_EXPORT of ${data.length} bytes, not 12`);
        const size = dv.getBigUint64(2);
        if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new HandshakeError(`an export of ${size} bytes`);
        found = { size: Number(size), flags: dv.getUint16(10) };
      }
      continue;
    }
    if (h.type >= 2 ** 31) throw new HandshakeError(`the server refused export "${name}": ${new TextDecoder().decode(data) || `error ${h.type - 2 ** 31}`}`);
    throw new HandshakeError(`an unexpected reply ${h.type} to NBD_OPT_GO`);
  }
  throw new HandshakeError(`more than ${MAX_GO_REPLIES} replies to NBD_OPT_GO`);
}
