/**
 * Addresses and links through rtnetlink, in-process (bun:ffi): no `ip`
 * process on the failover path; and the exchange under it, which generic
 * netlink (genetlink.ts) shares. Each call opens its own netlink
 * socket, sends one request with NLM_F_ACK and a fresh sequence number,
 * reads the answer with a bounded wait (SO_RCVTIMEO, then the
 * request's deadline) into a bounded buffer, and closes it again.
 * Failures are OsError with the kernel's errno and, where the kernel gave
 * one, its extended-ack message. Linux ≥ 4.20 (strict checking of dumps),
 * little-endian (x86_64, arm64).
 *
 * The calls act on the network namespace of the calling process.
 */
import { type Cidr, type IpFamily, IPV4_BYTES, IPV6_BYTES, familyOf, formatCidr, formatIp, ipv4Broadcast } from "./ip.ts";
import { ERRNO, OsError, SOL_SOCKET, SO_RCVTIMEO, check, closeSocket, cString, lastErrno, openSocket, setIntOption, setTimeoutOption, sys } from "./libc.ts";
import { decodeNlas, encodeNlas, nlaBytes, nlaMap, nlaU32, readString, readU32, type Nla } from "./nlattr.ts";

/** How long one request may wait for the kernel's whole answer. */
export const NETLINK_TIMEOUT_MS = 1000;
/** The lifetime that never runs out (INFINITY_LIFE_TIME). */
export const FOREVER = 0xffffffff;

/** One datagram: the kernel sizes a dump's batches to what the reader offers, up to 32 KiB. */
const RECV_BUFFER_BYTES = 32 * 1024;
/** The largest request built here (an IPVS destination with IPv6 addresses, the largest, needs about 150 bytes). */
const REQUEST_MAX_BYTES = 512;
/** The most reply messages one request may bring (a dump of one interface's addresses). */
const MAX_REPLY_MESSAGES = 16_384;

// <sys/socket.h>, <linux/netlink.h>
const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const SOCK_RAW = 3;
export const NETLINK_ROUTE = 0;
export const NETLINK_GENERIC = 16;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const NETLINK_GET_STRICT_CHK = 12;
const MSG_TRUNC = 0x20;
const SOCKADDR_NL_BYTES = 12;

const NLMSG_HDR_BYTES = 16;
/** Field offsets in struct nlmsghdr. */
const NLMSG = { len: 0, type: 4, flags: 6, seq: 8 } as const;
const NLMSG_ALIGNTO = 4;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_CREATE = 0x400;
export const NLM_F_DUMP = 0x300;
/** On an NLMSG_ERROR: only the request's header is echoed (NETLINK_CAP_ACK), not all of it. */
const NLM_F_CAPPED = 0x100;
/** On an NLMSG_ERROR: extended-ack attributes follow what is echoed. */
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;
/** nlmsgerr: the error number, then the request's header echoed. */
const NLMSGERR_ERROR_BYTES = 4;

// <linux/rtnetlink.h>, <linux/if_addr.h>, <linux/if_link.h>
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_DELADDR = 21;
const RTM_GETADDR = 22;
const IFADDRMSG_BYTES = 8;
/** Field offsets in struct ifaddrmsg. */
const IFADDRMSG = { family: 0, prefixlen: 1, flags: 2, scope: 3, index: 4 } as const;
const IFINFOMSG_BYTES = 16;
/** Field offsets in struct ifinfomsg. */
const IFINFOMSG = { family: 0, index: 4 } as const;
const IFA_CACHEINFO_BYTES = 16;
/** Field offsets in struct ifa_cacheinfo. */
const CACHEINFO = { preferred: 0, valid: 4 } as const;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_LABEL = 3;
const IFA_BROADCAST = 4;
const IFA_CACHEINFO = 6;
const IFA_FLAGS = 8;
const IFLA_ADDRESS = 1;
const RT_SCOPE_UNIVERSE = 0;
/** An interface name or label is at most IFNAMSIZ - 1 bytes. */
export const IFNAMSIZ = 16;

export const IFA_F_NODAD = 0x02;
export const IFA_F_TENTATIVE = 0x40;

const FAMILY: Record<IpFamily, number> = { 4: AF_INET, 6: AF_INET6 };

export interface AddressLifetimes {
  /** Seconds the address stays, or FOREVER. */
  validLft: number;
  /** Seconds it stays preferred as a source (≤ validLft), or FOREVER. */
  preferredLft: number;
}

export interface AddressSpec extends AddressLifetimes {
  interface: string;
  cidr: Cidr;
  /** IPv4 only: the label (`eth0:vip`), at most 15 bytes. */
  label?: string;
}

/** An address as the kernel lists it. */
export interface InterfaceAddress {
  family: IpFamily;
  index: number;
  /** The local address, canonical text. */
  address: string;
  prefixLength: number;
  /** A point-to-point peer, when it differs from the local address. */
  peer?: string;
  label?: string;
  /** IFA_F_* bits. */
  flags: number;
  scope: number;
  /** What is left of the lifetimes, in whole seconds as the kernel counts them, or FOREVER. */
  validLft: number;
  preferredLft: number;
}

let lastSeq = 0;

const align = (n: number) => (n + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1);

/** One request: a header, then the payload (the family's fixed header and its attributes); at most REQUEST_MAX_BYTES. */
function buildRequest(type: number, flags: number, seq: number, payload: Uint8Array): Uint8Array {
  const end = NLMSG_HDR_BYTES + align(payload.length);
  if (end > REQUEST_MAX_BYTES) throw new RangeError(`a netlink request of ${end} bytes, over ${REQUEST_MAX_BYTES}`);
  const out = new Uint8Array(end);
  const view = new DataView(out.buffer);
  out.set(payload, NLMSG_HDR_BYTES);
  view.setUint32(NLMSG.len, end, true);
  view.setUint16(NLMSG.type, type, true);
  view.setUint16(NLMSG.flags, flags | NLM_F_REQUEST | NLM_F_ACK, true);
  view.setUint32(NLMSG.seq, seq, true);
  return out;
}

/** The attributes in `msg` from `start` on (aligned); a malformed one ends the list. */
function attributes(msg: Uint8Array, start: number): Map<number, Uint8Array> {
  return nlaMap(decodeNlas(msg.subarray(Math.min(align(start), msg.length))).attrs);
}

const sockaddrKernel = (() => {
  const sa = new Uint8Array(SOCKADDR_NL_BYTES);
  new DataView(sa.buffer).setUint16(0, AF_NETLINK, true);
  return sa;
})();

/** Why the kernel refused, from an NLMSG_ERROR's extended ack; undefined when it said nothing more. */
function extackMessage(msg: Uint8Array): string | undefined {
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const flags = view.getUint16(NLMSG.flags, true);
  if (!(flags & NLM_F_ACK_TLVS)) return undefined;
  const echoedAt = NLMSG_HDR_BYTES + NLMSGERR_ERROR_BYTES;
  if (msg.length < echoedAt + NLMSG_HDR_BYTES) return undefined;
  const echoed = flags & NLM_F_CAPPED ? NLMSG_HDR_BYTES : view.getUint32(echoedAt + NLMSG.len, true);
  return readString(attributes(msg, echoedAt + echoed).get(NLMSGERR_ATTR_MSG));
}

const timedOut = (what: string) => new OsError(what, ERRNO.ETIMEDOUT, `no answer from the kernel within ${NETLINK_TIMEOUT_MS} ms`);

/** An rtnetlink request: the family's fixed struct, then attributes. */
function exchange(what: string, type: number, flags: number, body: Uint8Array, attrs: Nla[], onReply?: (msg: Uint8Array) => void): void {
  const encoded = encodeNlas(attrs);
  const payload = new Uint8Array(body.length + encoded.length);
  payload.set(body);
  payload.set(encoded, body.length);
  netlinkExchange(NETLINK_ROUTE, what, type, flags, payload, onReply);
}

/**
 * A netlink socket of `protocol` kept open for a run of requests: one per
 * request costs a socket, four options and a close each, which a dataplane
 * of thousands of commands feels. Not shared across an await: one request
 * at a time, each answer matched by its sequence number (a late answer to a
 * request that timed out is skipped).
 */
export class NetlinkSocket {
  private readonly fd: number;
  private readonly buf = new Uint8Array(RECV_BUFFER_BYTES);

  constructor(protocol: number, what: string) {
    const describe = () => what;
    const fd = openSocket(AF_NETLINK, SOCK_RAW, protocol, describe);
    try {
      setTimeoutOption(fd, SOL_SOCKET, SO_RCVTIMEO, NETLINK_TIMEOUT_MS, describe);
      setIntOption(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1, describe);
      setIntOption(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1, describe);
      setIntOption(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1, describe);
    } catch (err) {
      closeSocket(fd);
      throw err;
    }
    this.fd = fd;
  }

  /**
   * Sends one request (`payload` after the netlink header, NLM_F_REQUEST and
   * NLM_F_ACK added to `flags`) and reads its answer: each reply message of
   * its sequence goes to `onReply`, whole, header included, as a copy the
   * callback may keep (the receive buffer is reused for the next datagram of
   * a dump), until the ack, the end of a dump, an error (thrown as OsError
   * with the kernel's errno and extended ack) or the deadline (ETIMEDOUT).
   * `what` names the request in errors.
   */
  exchange(what: string, type: number, flags: number, payload: Uint8Array, onReply: (msg: Uint8Array) => void = () => {}): void {
    const describe = () => what;
    lastSeq = (lastSeq + 1) >>> 0;
    const seq = lastSeq;
    const request = buildRequest(type, flags, seq, payload);
    check(sys().sendto(this.fd, request, request, 0, sockaddrKernel, SOCKADDR_NL_BYTES), describe);

    const buf = this.buf;
    const view = new DataView(buf.buffer);
    const deadline = performance.now() + NETLINK_TIMEOUT_MS;
    let replies = 0;
    // The answer is read at least once before the deadline counts: a thread stalled since the request (a starved
    // VM, a pause) finds it waiting. Past the deadline, messages of other requests no longer keep it reading.
    for (let first = true; ; first = false) {
      if (!first && performance.now() > deadline) throw timedOut(what);
      const n = Number(sys().recv(this.fd, buf, buf, MSG_TRUNC));
      if (n < 0) {
        const errno = lastErrno();
        if (errno === ERRNO.EINTR) continue;
        if (errno === ERRNO.EAGAIN) throw timedOut(what);
        throw new OsError(what, errno);
      }
      if (n > buf.length) throw new OsError(what, ERRNO.EMSGSIZE, `a ${n}-byte answer does not fit the ${buf.length}-byte buffer`);
      for (let at = 0; at + NLMSG_HDR_BYTES <= n; ) {
        const len = view.getUint32(at + NLMSG.len, true);
        if (len < NLMSG_HDR_BYTES || at + len > n) throw new OsError(what, ERRNO.EPROTO, `a malformed netlink message (length ${len} at ${at} of ${n})`);
        const msg = buf.subarray(at, at + len);
        at += align(len);
        if (view.getUint32(msg.byteOffset + NLMSG.seq, true) !== seq) continue;
        const msgType = view.getUint16(msg.byteOffset + NLMSG.type, true);
        if (msgType === NLMSG_ERROR || msgType === NLMSG_DONE) {
          const error = len >= NLMSG_HDR_BYTES + NLMSGERR_ERROR_BYTES ? view.getInt32(msg.byteOffset + NLMSG_HDR_BYTES, true) : 0;
          if (error < 0) throw new OsError(what, -error, extackMessage(msg));
          return;
        }
        if (++replies > MAX_REPLY_MESSAGES) throw new OsError(what, ERRNO.EMSGSIZE, `more than ${MAX_REPLY_MESSAGES} messages in the answer`);
        onReply(msg.slice());
      }
    }
  }

  close(): void {
    closeSocket(this.fd);
  }
}

/** One request on a socket of its own (NetlinkSocket.exchange), opened and closed around it. */
export function netlinkExchange(protocol: number, what: string, type: number, flags: number, payload: Uint8Array, onReply?: (msg: Uint8Array) => void): void {
  const socket = new NetlinkSocket(protocol, what);
  try {
    socket.exchange(what, type, flags, payload, onReply);
  } finally {
    socket.close();
  }
}

/** The index of interface `name`; OsError ENODEV, saying `what` was being done, when there is none. */
export function interfaceIndex(name: string, what = `find interface ${name}`): number {
  if (name.length === 0 || name.length >= IFNAMSIZ) throw new OsError(what, ERRNO.ENODEV, `"${name}" is not an interface name`);
  const index = sys().if_nametoindex(cString(name));
  if (index === 0) throw new OsError(what, lastErrno() || ERRNO.ENODEV);
  return index;
}

/** The interface's hardware address (IFLA_ADDRESS), or null when its kind has none. */
export function interfaceMac(name: string, what = `read the link address of ${name}`): Uint8Array | null {
  const index = interfaceIndex(name, what);
  const body = new Uint8Array(IFINFOMSG_BYTES);
  const view = new DataView(body.buffer);
  view.setUint8(IFINFOMSG.family, AF_UNSPEC);
  view.setInt32(IFINFOMSG.index, index, true);
  let mac: Uint8Array | null = null;
  exchange(what, RTM_GETLINK, 0, body, [], (msg) => {
    if (new DataView(msg.buffer, msg.byteOffset).getUint16(NLMSG.type, true) !== RTM_NEWLINK) return;
    const found = attributes(msg, NLMSG_HDR_BYTES + IFINFOMSG_BYTES).get(IFLA_ADDRESS);
    mac = found && found.length > 0 ? found.slice() : null;
  });
  return mac;
}

/** "02:00:5e:10:00:01". */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join(":");
}

function ifaddrmsg(family: number, prefixLength: number, index: number): Uint8Array {
  const body = new Uint8Array(IFADDRMSG_BYTES);
  const view = new DataView(body.buffer);
  view.setUint8(IFADDRMSG.family, family);
  view.setUint8(IFADDRMSG.prefixlen, prefixLength);
  view.setUint8(IFADDRMSG.scope, RT_SCOPE_UNIVERSE);
  view.setUint32(IFADDRMSG.index, index, true);
  return body;
}

function checkLifetimes(spec: AddressSpec): void {
  const whole = (n: number) => Number.isInteger(n) && n >= 1 && n <= FOREVER;
  if (!whole(spec.validLft) || !whole(spec.preferredLft) || spec.preferredLft > spec.validLft) {
    throw new RangeError(`lifetimes must be whole seconds from 1, or FOREVER, with preferred ≤ valid: valid ${spec.validLft}, preferred ${spec.preferredLft}`);
  }
  const problem = spec.label === undefined ? undefined : labelProblem(spec.label, spec.cidr.family);
  if (problem) throw new RangeError(`${formatCidr(spec.cidr)}: ${problem}`);
}

/** What is wrong with an address label, or undefined: IPv4 only, 1 to IFNAMSIZ - 1 bytes. */
export function labelProblem(label: string, family: IpFamily): string | undefined {
  if (family === 4 && label.length > 0 && new TextEncoder().encode(label).length < IFNAMSIZ) return undefined;
  return `label "${label}": a label is for IPv4 addresses only, 1 to ${IFNAMSIZ - 1} bytes`;
}

/** RTM_NEWADDR with the address, its lifetimes and (IPv6) IFA_F_NODAD, so it is usable at once. */
function newAddress(what: string, index: number, spec: AddressSpec, flags: number): void {
  const { cidr } = spec;
  const cacheinfo = new Uint8Array(IFA_CACHEINFO_BYTES);
  const view = new DataView(cacheinfo.buffer);
  view.setUint32(CACHEINFO.preferred, spec.preferredLft, true);
  view.setUint32(CACHEINFO.valid, spec.validLft, true);
  const attrs = [nlaBytes(IFA_ADDRESS, cidr.bytes), nlaBytes(IFA_CACHEINFO, cacheinfo)];
  if (cidr.family === 4) {
    attrs.push(nlaBytes(IFA_LOCAL, cidr.bytes));
    const broadcast = ipv4Broadcast(cidr);
    if (broadcast) attrs.push(nlaBytes(IFA_BROADCAST, broadcast));
    if (spec.label !== undefined) attrs.push(nlaBytes(IFA_LABEL, cString(spec.label)));
  } else {
    attrs.push(nlaU32(IFA_FLAGS, IFA_F_NODAD));
  }
  exchange(what, RTM_NEWADDR, flags, ifaddrmsg(FAMILY[cidr.family], cidr.prefixLength, index), attrs);
}

/**
 * Adds the address, or refreshes its lifetimes (and label, flags) when the
 * interface has it already: `ip address replace`.
 */
export function addAddress(spec: AddressSpec): void {
  checkLifetimes(spec);
  const what = `add ${formatCidr(spec.cidr)} on ${spec.interface}`;
  newAddress(what, interfaceIndex(spec.interface, what), spec, NLM_F_CREATE | NLM_F_REPLACE);
}

export type RenewOutcome = "renewed" | "absent" | "expired";

/**
 * Sets new lifetimes on the address only if the interface still has it:
 * "absent" when it is gone, "expired" when the kernel lists it with no valid
 * lifetime left (it has run out and awaits the kernel's next sweep), and
 * neither is re-added.
 *
 * The kernel re-creates an address on RTM_NEWADDR with NLM_F_REPLACE even
 * without NLM_F_CREATE (both families, for compatibility with old userspace),
 * so the request alone cannot say "change only": the address is looked up
 * first, and only a live one is replaced (without NLM_F_CREATE, which a kernel
 * that honours it answers with ENOENT, taken as "absent" too).
 */
export function renewAddress(spec: AddressSpec): RenewOutcome {
  checkLifetimes(spec);
  const what = `renew ${formatCidr(spec.cidr)} on ${spec.interface}`;
  const index = interfaceIndex(spec.interface, what);
  const found = findIn(dump(what, index, spec.cidr.family), spec.cidr);
  if (!found) return "absent";
  if (found.validLft === 0) return "expired";
  try {
    newAddress(what, index, spec, NLM_F_REPLACE);
  } catch (err) {
    if (err instanceof OsError && (err.errno === ERRNO.ENOENT || err.errno === ERRNO.EADDRNOTAVAIL)) return "absent";
    throw err;
  }
  return "renewed";
}

export type DeleteOutcome = "deleted" | "absent";

/** Deletes the address; "absent" when the interface does not have it (not an error). */
export function deleteAddress(ifname: string, cidr: Cidr): DeleteOutcome {
  const what = `delete ${formatCidr(cidr)} on ${ifname}`;
  const index = interfaceIndex(ifname, what);
  const attrs = [nlaBytes(IFA_ADDRESS, cidr.bytes)];
  if (cidr.family === 4) attrs.push(nlaBytes(IFA_LOCAL, cidr.bytes));
  try {
    exchange(what, RTM_DELADDR, 0, ifaddrmsg(FAMILY[cidr.family], cidr.prefixLength, index), attrs);
  } catch (err) {
    if (err instanceof OsError && err.errno === ERRNO.EADDRNOTAVAIL) return "absent";
    throw err;
  }
  return "deleted";
}

function parseAddress(msg: Uint8Array): InterfaceAddress | undefined {
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  if (view.getUint16(NLMSG.type, true) !== RTM_NEWADDR || msg.length < NLMSG_HDR_BYTES + IFADDRMSG_BYTES) return undefined;
  const field = (offset: number) => NLMSG_HDR_BYTES + offset;
  const family = view.getUint8(field(IFADDRMSG.family));
  if (family !== AF_INET && family !== AF_INET6) return undefined;
  const a = attributes(msg, NLMSG_HDR_BYTES + IFADDRMSG_BYTES);
  const size = family === AF_INET ? IPV4_BYTES : IPV6_BYTES;
  const ok = (d: Uint8Array | undefined) => (d && d.length === size ? d : undefined);
  const local = ok(a.get(IFA_LOCAL)) ?? ok(a.get(IFA_ADDRESS));
  if (!local) return undefined;
  const remote = ok(a.get(IFA_ADDRESS));
  const flags = a.get(IFA_FLAGS);
  const cache = a.get(IFA_CACHEINFO);
  const cacheView = cache && cache.length >= IFA_CACHEINFO_BYTES ? new DataView(cache.buffer, cache.byteOffset, cache.byteLength) : undefined;
  const label = a.get(IFA_LABEL);
  const address = formatIp(local);
  const peer = remote ? formatIp(remote) : address;
  return {
    family: familyOf(local),
    index: view.getUint32(field(IFADDRMSG.index), true),
    address,
    prefixLength: view.getUint8(field(IFADDRMSG.prefixlen)),
    ...(peer !== address ? { peer } : {}),
    ...(label ? { label: readString(label) } : {}),
    flags: readU32(flags) ?? view.getUint8(field(IFADDRMSG.flags)),
    scope: view.getUint8(field(IFADDRMSG.scope)),
    validLft: cacheView ? cacheView.getUint32(CACHEINFO.valid, true) : FOREVER,
    preferredLft: cacheView ? cacheView.getUint32(CACHEINFO.preferred, true) : FOREVER,
  };
}

function dump(what: string, index: number, family?: IpFamily): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  exchange(what, RTM_GETADDR, NLM_F_DUMP, ifaddrmsg(family ? FAMILY[family] : AF_UNSPEC, 0, index), [], (msg) => {
    const a = parseAddress(msg);
    if (a && a.index === index) out.push(a);
  });
  return out;
}

function findIn(list: InterfaceAddress[], cidr: Cidr): InterfaceAddress | undefined {
  return list.find((a) => a.family === cidr.family && a.address === cidr.address && a.prefixLength === cidr.prefixLength);
}

/** The addresses of one interface (both families, or one), as the kernel lists them. */
export function listAddresses(ifname: string, family?: IpFamily): InterfaceAddress[] {
  const what = `list the addresses of ${ifname}`;
  return dump(what, interfaceIndex(ifname, what), family);
}

/** The interface's entry for this address and prefix length, if it has one; `what` names the call in errors. */
export function findAddress(ifname: string, cidr: Cidr, what = `find ${formatCidr(cidr)} on ${ifname}`): InterfaceAddress | undefined {
  return findIn(dump(what, interfaceIndex(ifname, what), cidr.family), cidr);
}
