/**
 * IP addresses as the kernel takes them (network-order bytes) and as people
 * write them: IPv4 dotted quads, IPv6 in RFC 5952's canonical text, and
 * CIDR ("198.18.4.10/24", "fd00::10/64").
 */

export type IpFamily = 4 | 6;

export const IPV4_BYTES = 4;
export const IPV6_BYTES = 16;
const IPV6_GROUPS = 8;
const BYTE_MAX = 0xff;
const GROUP_MAX = 0xffff;
const MAX_PREFIX: Record<IpFamily, number> = { 4: 32, 6: 128 };
/** /31 (RFC 3021) and /32 have no broadcast address. */
const IPV4_NO_BROADCAST_FROM = 31;

export interface Cidr {
  family: IpFamily;
  /** The address in canonical text. */
  address: string;
  /** Network-order bytes: 4 or 16. */
  bytes: Uint8Array;
  prefixLength: number;
}

function ipv4Bytes(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== IPV4_BYTES) return undefined;
  const out = new Uint8Array(IPV4_BYTES);
  for (let i = 0; i < IPV4_BYTES; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > BYTE_MAX) return undefined;
    out[i] = Number(p);
  }
  return out;
}

function parseGroups(text: string): number[] | undefined {
  if (text === "") return [];
  const groups: number[] = [];
  const parts = text.split(":");
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (i === parts.length - 1 && p.includes(".")) {
      const v4 = ipv4Bytes(p);
      if (!v4) return undefined;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
      groups.push(parseInt(p, 16));
    }
  }
  return groups;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = IPV6_GROUPS - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = new Uint8Array(IPV6_BYTES);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & BYTE_MAX;
  });
  return out;
}

/** Network-order bytes of an IPv4 or IPv6 address; undefined when `text` is neither. */
export function parseIp(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIpv6(text) : ipv4Bytes(text);
}

/** Text of 4 or 16 network-order bytes; IPv6 in RFC 5952 form (lower case, the longest run of zero groups as "::"). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === IPV4_BYTES) return Array.from(bytes).join(".");
  if (bytes.length !== IPV6_BYTES) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  const groups = Array.from({ length: IPV6_GROUPS }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!) & GROUP_MAX);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < IPV6_GROUPS; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < IPV6_GROUPS && groups[j] === 0) j++;
    if (j - i > bestLen) [bestAt, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

/** The family of 4 or 16 bytes. */
export function familyOf(bytes: Uint8Array): IpFamily {
  return bytes.length === IPV4_BYTES ? 4 : 6;
}

/**
 * "198.18.4.10/24" or "fd00::10/64"; throws RangeError saying what is wrong.
 * The prefix length is required and at least 1.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  if (slash < 0) throw new RangeError(`"${text}" has no prefix length: write it as ADDRESS/PREFIX, e.g. 198.18.4.10/24 or fd00::10/64`);
  const addressText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const bytes = parseIp(addressText);
  if (!bytes) throw new RangeError(`"${addressText}" is not an IPv4 or IPv6 address`);
  const family = familyOf(bytes);
  const max = MAX_PREFIX[family];
  if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) < 1 || Number(prefixText) > max) {
    throw new RangeError(`"${prefixText}" is not a prefix length for IPv${family}: expected 1 to ${max}`);
  }
  return { family, address: formatIp(bytes), bytes, prefixLength: Number(prefixText) };
}

/** "198.18.4.10/24", canonical. */
export function formatCidr(cidr: Pick<Cidr, "address" | "prefixLength">): string {
  return `${cidr.address}/${cidr.prefixLength}`;
}

/** The IPv4 broadcast address of a CIDR (host bits set), for prefixes that have one (up to /30). */
export function ipv4Broadcast(cidr: Cidr): Uint8Array | undefined {
  if (cidr.family !== 4 || cidr.prefixLength >= IPV4_NO_BROADCAST_FROM) return undefined;
  const out = new Uint8Array(cidr.bytes);
  for (let bit = cidr.prefixLength; bit < MAX_PREFIX[4]; bit++) out[bit >> 3]! |= 0x80 >> (bit & 7);
  return out;
}

/** "ADDRESS:PORT" or "[V6]:PORT" → parts; undefined when it is not one. */
export function parseHostPort(text: string): { address: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([0-9.]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  return m && parseIp(m[1]!) && port >= 1 && port <= 65535 ? { address: m[1]!, port } : undefined;
}

/** A dotted-quad IPv4 address as a number from 0 to 2^32 - 1; undefined when `text` is not one. */
export function parseIpv4(text: string): number | undefined {
  const bytes = ipv4Bytes(text);
  return bytes && bytes.reduce((acc, b) => acc * 256 + b, 0);
}

/** The dotted quad of an IPv4 address held as a number. */
export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/** The first address of the /prefixLength that holds `address` (IPv4, as numbers). */
export function networkOf(address: number, prefixLength: number): number {
  const size = 2 ** (32 - prefixLength);
  return Math.floor(address / size) * size;
}

/** Do two prefixes share any address? */
export function overlaps(a: { address: string; prefixLength: number }, b: { address: string; prefixLength: number }): boolean {
  const x = parseIpv4(a.address);
  const y = parseIpv4(b.address);
  if (x === undefined || y === undefined) return false;
  const shorter = Math.min(a.prefixLength, b.prefixLength);
  return networkOf(x, shorter) === networkOf(y, shorter);
}
