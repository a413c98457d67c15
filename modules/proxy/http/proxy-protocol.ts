/**
 * The PROXY protocol (HAProxy's doc/proxy-protocol.txt), versions 1 (one
 * text line) and 2 (binary): written by the proxy before its bytes to a
 * server (send_proxy), read from clients before theirs (accept_proxy).
 *
 * The decoder is incremental like the head parser: `incomplete` until the
 * whole header is there, then the header and its length, or an error (the
 * connection is closed). It is strict: v1 exactly as specified (one space
 * between fields, canonical addresses without leading zeros, ports 0-65535,
 * CRLF within 107 bytes); v2 with its signature, version 2, a known command,
 * family and transport, a bounded length, and TLVs that fit (skipped).
 */
import { formatIp, IPV4_BYTES, IPV6_BYTES, parseIp } from "../../../core/os/ip.ts";
import { CR, LF } from "./chars.ts";

export interface ProxyAddress {
  address: string;
  port: number;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** LOCAL (v2): the sender's own connection (a health check); PROXY: relayed. */
  command: "LOCAL" | "PROXY";
  /** The original client and the address it connected to; absent (UNKNOWN, LOCAL, UNSPEC, UNIX, UDP): use the connection's own. */
  source?: ProxyAddress;
  destination?: ProxyAddress;
}

export type ProxyDecode = { kind: "incomplete" } | { kind: "header"; header: ProxyHeader; bytes: number } | { kind: "error"; reason: string };

/** A v1 line's bytes at most, CRLF included. */
export const V1_MAX_LINE = 107;
/** A v2 header's bytes after its 16 fixed ones at most (addresses and TLVs). */
export const V2_MAX_LENGTH = 4096;
const V1_PREFIX = Buffer.from("PROXY ", "latin1");
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED = 16;
const V2_VERSION = 0x20;
const COMMAND_LOCAL = 0x0;
const COMMAND_PROXY = 0x1;
const FAMILY_TCP4 = 0x11;
const FAMILY_TCP6 = 0x21;
/** Address block lengths by address family (high nibble): UNSPEC, INET, INET6, UNIX. */
const ADDRESS_BYTES = [0, 12, 36, 216];
const MAX_PORT = 65535;
const TLV_HEADER = 3;

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d): its 4 bytes; any other as it is. */
function unmapped(b: Uint8Array): Uint8Array {
  if (b.length !== IPV6_BYTES || b[10] !== 0xff || b[11] !== 0xff) return b;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return b;
  return b.subarray(12);
}

/**
 * Both addresses in one family. IPv4-mapped ones (as a dual-stack socket
 * reports IPv4 peers) go as IPv4; an IPv4 beside an IPv6 goes IPv4-mapped.
 */
function sameFamily(source: ProxyAddress, destination: ProxyAddress): [Uint8Array, Uint8Array] {
  const bytes = (a: ProxyAddress) => {
    const b = parseIp(a.address);
    if (!b) throw new RangeError(`not an IP address: ${a.address}`);
    if (!Number.isInteger(a.port) || a.port < 0 || a.port > MAX_PORT) throw new RangeError(`not a port: ${a.port}`);
    return unmapped(b);
  };
  const mapped = (b: Uint8Array) => {
    const out = new Uint8Array(IPV6_BYTES);
    out[10] = out[11] = 0xff;
    out.set(b, 12);
    return out;
  };
  let s = bytes(source);
  let d = bytes(destination);
  if (s.length !== d.length) [s, d] = [s.length === IPV4_BYTES ? mapped(s) : s, d.length === IPV4_BYTES ? mapped(d) : d];
  return [s, d];
}

/** A v1 line: TCP4 or TCP6 with both addresses, UNKNOWN without them. */
export function encodeProxyV1(source?: ProxyAddress, destination?: ProxyAddress): Buffer {
  if (!source || !destination) return Buffer.from("PROXY UNKNOWN\r\n", "latin1");
  const [s, d] = sameFamily(source, destination);
  return Buffer.from(`PROXY TCP${s.length === IPV4_BYTES ? 4 : 6} ${formatIp(s)} ${formatIp(d)} ${source.port} ${destination.port}\r\n`, "latin1");
}

/** A v2 header: PROXY over TCP4 or TCP6 with both addresses, LOCAL (family UNSPEC) without them. */
export function encodeProxyV2(source?: ProxyAddress, destination?: ProxyAddress): Buffer {
  if (!source || !destination) {
    const out = Buffer.alloc(V2_FIXED);
    V2_SIGNATURE.copy(out);
    out[12] = V2_VERSION | COMMAND_LOCAL;
    return out;
  }
  const [s, d] = sameFamily(source, destination);
  const length = 2 * s.length + 4;
  const out = Buffer.alloc(V2_FIXED + length);
  V2_SIGNATURE.copy(out);
  out[12] = V2_VERSION | COMMAND_PROXY;
  out[13] = s.length === IPV4_BYTES ? FAMILY_TCP4 : FAMILY_TCP6;
  out.writeUInt16BE(length, 14);
  out.set(s, V2_FIXED);
  out.set(d, V2_FIXED + s.length);
  out.writeUInt16BE(source.port, V2_FIXED + 2 * s.length);
  out.writeUInt16BE(destination.port, V2_FIXED + 2 * s.length + 2);
  return out;
}

const INCOMPLETE = { kind: "incomplete" } as const;
const error = (reason: string): ProxyDecode => ({ kind: "error", reason });

/** `bytes` so far agree with `prefix` (as far as either goes). */
function agrees(bytes: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** A PROXY header (v1 or v2, told by its first bytes) at the start of `bytes`. */
export function decodeProxy(bytes: Uint8Array): ProxyDecode {
  if (bytes.length === 0) return INCOMPLETE;
  if (bytes[0] === V1_PREFIX[0]) return agrees(bytes, V1_PREFIX) ? decodeV1(bytes) : error("not a PROXY protocol header");
  if (bytes[0] === V2_SIGNATURE[0]) return agrees(bytes, V2_SIGNATURE) ? decodeV2(bytes) : error("not a PROXY protocol header");
  return error("not a PROXY protocol header");
}

/** A port as v1 writes it: decimal, no leading zero, 0-65535. */
function v1Port(text: string): number | undefined {
  if (text.length === 0 || text.length > 5 || (text.length > 1 && text[0] === "0")) return undefined;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
  }
  return n <= MAX_PORT ? n : undefined;
}

/** A v1 address of the family the line names: canonical text back. */
function v1Address(text: string, family: "TCP4" | "TCP6"): string | undefined {
  if (family === "TCP4" ? text.includes(":") : !text.includes(":")) return undefined;
  const b = parseIp(text);
  return b ? formatIp(b) : undefined;
}

function decodeV1(bytes: Uint8Array): ProxyDecode {
  const lf = bytes.indexOf(LF);
  if (lf < 0 || lf >= V1_MAX_LINE) return bytes.length >= V1_MAX_LINE || lf >= V1_MAX_LINE ? error(`no CRLF within ${V1_MAX_LINE} bytes`) : INCOMPLETE;
  if (bytes[lf - 1] !== CR) return error("the PROXY line does not end in CRLF");
  const line = Buffer.from(bytes.buffer, bytes.byteOffset, lf - 1).toString("latin1");
  if (line.includes("\r")) return error("a bare CR in the PROXY line");
  const fields = line.split(" ");
  const done = (header: ProxyHeader): ProxyDecode => ({ kind: "header", header, bytes: lf + 1 });
  if (fields[1] === "UNKNOWN") return done({ version: 1, command: "PROXY" });
  if (fields[1] !== "TCP4" && fields[1] !== "TCP6") return error(`an unknown PROXY protocol family: ${fields[1]}`);
  if (fields.length !== 6) return error("a PROXY line without exactly two addresses and two ports, one space apart");
  const family = fields[1];
  const src = v1Address(fields[2]!, family);
  const dst = v1Address(fields[3]!, family);
  const sport = v1Port(fields[4]!);
  const dport = v1Port(fields[5]!);
  if (src === undefined || dst === undefined) return error(`a PROXY line address that is not ${family === "TCP4" ? "IPv4" : "IPv6"}`);
  if (sport === undefined || dport === undefined) return error("a PROXY line port that is not 0-65535 without leading zeros");
  return done({ version: 1, command: "PROXY", source: { address: src, port: sport }, destination: { address: dst, port: dport } });
}

function decodeV2(bytes: Uint8Array): ProxyDecode {
  if (bytes.length < V2_FIXED) return INCOMPLETE;
  const verCmd = bytes[12]!;
  if ((verCmd & 0xf0) !== V2_VERSION) return error("a PROXY v2 header of another version");
  const command = verCmd & 0x0f;
  if (command !== COMMAND_LOCAL && command !== COMMAND_PROXY) return error("a PROXY v2 header with an unknown command");
  const fam = bytes[13]!;
  const family = fam >> 4;
  const transport = fam & 0x0f;
  if (family >= ADDRESS_BYTES.length || transport > 2) return error("a PROXY v2 header with an unknown address family or transport");
  const length = (bytes[14]! << 8) | bytes[15]!;
  if (length > V2_MAX_LENGTH) return error(`a PROXY v2 header longer than ${V2_MAX_LENGTH} bytes`);
  const total = V2_FIXED + length;
  if (bytes.length < total) return INCOMPLETE;
  const done = (header: ProxyHeader): ProxyDecode => ({ kind: "header", header, bytes: total });
  if (command === COMMAND_LOCAL || family === 0) return done({ version: 2, command: command === COMMAND_LOCAL ? "LOCAL" : "PROXY" });
  const addressBytes = ADDRESS_BYTES[family]!;
  if (length < addressBytes) return error("a PROXY v2 address block shorter than its family's");
  for (let at = V2_FIXED + addressBytes; at < total; ) {
    if (total - at < TLV_HEADER) return error("a PROXY v2 TLV cut short");
    at += TLV_HEADER + ((bytes[at + 1]! << 8) | bytes[at + 2]!);
    if (at > total) return error("a PROXY v2 TLV longer than the header");
  }
  if (fam !== FAMILY_TCP4 && fam !== FAMILY_TCP6) return done({ version: 2, command: "PROXY" });
  const n = fam === FAMILY_TCP4 ? IPV4_BYTES : IPV6_BYTES;
  const view = new DataView(bytes.buffer, bytes.byteOffset + V2_FIXED, addressBytes);
  const address = (at: number) => formatIp(bytes.slice(V2_FIXED + at, V2_FIXED + at + n));
  return done({
    version: 2,
    command: "PROXY",
    source: { address: address(0), port: view.getUint16(2 * n) },
    destination: { address: address(n), port: view.getUint16(2 * n + 2) },
  });
}
