/**
 * Telling the link that an address has moved here, in-process: a gratuitous
 * ARP for IPv4 (an AF_PACKET datagram socket) and an unsolicited neighbour
 * advertisement for IPv6 (a raw ICMPv6 socket), each sent without blocking
 * (MSG_DONTWAIT: a full queue is an EAGAIN, not a wait). Needs CAP_NET_RAW.
 * The ARP socket is opened once and kept for the life of the process, with
 * protocol 0 so that it receives nothing: closing an AF_PACKET socket waits
 * in the kernel for an RCU grace period (packet_release), which under load
 * took up to about 150 ms of the control thread per announcement. The NA's
 * socket is bound to the address it announces, so it is opened per call.
 *
 * ARP: an ARP request from the address to itself (sender IP = target IP =
 * the address, sender MAC = the interface's, target MAC zero), broadcast: the
 * ARP Announcement of RFC 5227 §2.3, what Linux itself sends when an
 * interface comes up (arp_notify). Linux updates an existing entry from it
 * and, with arp_accept, creates one; other stacks treat a request at least as
 * well as a reply, so one form is sent, not both.
 *
 * NA (RFC 4861 §7.2.6): to all-nodes (ff02::1) with hop limit 255, from the
 * address itself, the Override flag set, Solicited clear, and the target
 * link-layer address option carrying the interface's MAC. The kernel fills
 * in the ICMPv6 checksum on raw ICMPv6 sockets.
 */
import { type Cidr, IPV4_BYTES, IPV6_BYTES, formatCidr } from "./ip.ts";
import { ERRNO, MSG_DONTWAIT, OsError, check, closeSocket, openSocket, setIntOption, sys } from "./libc.ts";
import { interfaceIndex, interfaceMac } from "./netlink.ts";

// <linux/if_ether.h>, <linux/if_arp.h>, <linux/if_packet.h>
const AF_PACKET = 17;
const SOCK_DGRAM = 2;
const ETH_P_ARP = 0x0806;
const ETH_P_IP = 0x0800;
const ARPHRD_ETHER = 1;
const ARPOP_REQUEST = 1;
const ETH_ALEN = 6;
/** Field offsets in an Ethernet/IPv4 ARP packet. */
const ARP = { htype: 0, ptype: 2, hlen: 4, plen: 5, op: 6, sha: 8, spa: 8 + ETH_ALEN, tha: 8 + ETH_ALEN + IPV4_BYTES, tpa: 8 + 2 * ETH_ALEN + IPV4_BYTES } as const;
const ARP_PACKET_BYTES = ARP.tpa + IPV4_BYTES;
const SOCKADDR_LL_BYTES = 20;
/** Field offsets in struct sockaddr_ll. */
const SLL = { family: 0, protocol: 2, ifindex: 4, hatype: 8, halen: 11, addr: 12 } as const;
const BROADCAST_MAC = new Uint8Array(ETH_ALEN).fill(0xff);

// <netinet/in.h>, <netinet/icmp6.h>
const AF_INET6 = 10;
const SOCK_RAW = 3;
const IPPROTO_IPV6 = 41;
const IPPROTO_ICMPV6 = 58;
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
const SOCKADDR_IN6_BYTES = 28;
/** Field offsets in struct sockaddr_in6. */
const SIN6 = { family: 0, addr: 8, scopeId: 24 } as const;
/** RFC 4861: a receiver drops neighbour discovery packets with any other hop limit. */
const ND_HOP_LIMIT = 255;
const ND_NEIGHBOR_ADVERT = 136;
const ND_NA_FLAG_OVERRIDE = 0x20000000;
const ND_OPT_TARGET_LINKADDR = 2;
/** Option lengths count 8-byte units: type, length and a 6-byte MAC fill one. */
const ND_OPT_UNITS = 1;
/** Field offsets in a neighbour advertisement, and in its option after the header. */
const NA = { type: 0, flags: 4, target: 8 } as const;
const ND_OPT = { type: 0, units: 1, addr: 2 } as const;
const ND_OPT_UNIT_BYTES = 8;
const NA_HEADER_BYTES = NA.target + IPV6_BYTES;
const NA_PACKET_BYTES = NA_HEADER_BYTES + ND_OPT_UNIT_BYTES * ND_OPT_UNITS;
const ALL_NODES = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/** The interface's Ethernet MAC; OsError EOPNOTSUPP when it has none (a tun, a loopback-like link). */
function ethernetMac(ifname: string, what: string): Uint8Array {
  const mac = interfaceMac(ifname, what);
  if (!mac || mac.length !== ETH_ALEN) throw new OsError(what, ERRNO.EOPNOTSUPP, `${ifname} has no Ethernet address`);
  return mac;
}

/** The ARP Announcement packet (without the Ethernet header, which the kernel adds). */
export function arpAnnouncement(mac: Uint8Array, address: Uint8Array): Uint8Array {
  const out = new Uint8Array(ARP_PACKET_BYTES);
  const view = new DataView(out.buffer);
  view.setUint16(ARP.htype, ARPHRD_ETHER);
  view.setUint16(ARP.ptype, ETH_P_IP);
  view.setUint8(ARP.hlen, ETH_ALEN);
  view.setUint8(ARP.plen, IPV4_BYTES);
  view.setUint16(ARP.op, ARPOP_REQUEST);
  out.set(mac, ARP.sha);
  out.set(address, ARP.spa);
  out.set(address, ARP.tpa);
  return out;
}

/** The unsolicited NA packet (ICMPv6, checksum left to the kernel). */
export function neighbourAdvertisement(mac: Uint8Array, address: Uint8Array): Uint8Array {
  const out = new Uint8Array(NA_PACKET_BYTES);
  const view = new DataView(out.buffer);
  view.setUint8(NA.type, ND_NEIGHBOR_ADVERT);
  view.setUint32(NA.flags, ND_NA_FLAG_OVERRIDE);
  out.set(address, NA.target);
  view.setUint8(NA_HEADER_BYTES + ND_OPT.type, ND_OPT_TARGET_LINKADDR);
  view.setUint8(NA_HEADER_BYTES + ND_OPT.units, ND_OPT_UNITS);
  out.set(mac, NA_HEADER_BYTES + ND_OPT.addr);
  return out;
}

/** The process's one ARP socket (see the header): opened at the first announcement, never closed. */
let arpSocket: number | null = null;

function sendArp(ifname: string, cidr: Cidr, what: string): void {
  const describe = () => what;
  const index = interfaceIndex(ifname, what);
  const packet = arpAnnouncement(ethernetMac(ifname, what), cidr.bytes);
  const to = new Uint8Array(SOCKADDR_LL_BYTES);
  const view = new DataView(to.buffer);
  view.setUint16(SLL.family, AF_PACKET, true);
  view.setUint16(SLL.protocol, ETH_P_ARP);
  view.setInt32(SLL.ifindex, index, true);
  view.setUint16(SLL.hatype, ARPHRD_ETHER, true);
  view.setUint8(SLL.halen, ETH_ALEN);
  to.set(BROADCAST_MAC, SLL.addr);
  arpSocket ??= openSocket(AF_PACKET, SOCK_DGRAM, 0, describe);
  check(sys().sendto(arpSocket, packet, packet, MSG_DONTWAIT, to, SOCKADDR_LL_BYTES), describe);
}


function sockaddrIn6(address: Uint8Array, scope: number): Uint8Array {
  const out = new Uint8Array(SOCKADDR_IN6_BYTES);
  const view = new DataView(out.buffer);
  view.setUint16(SIN6.family, AF_INET6, true);
  out.set(address, SIN6.addr);
  view.setUint32(SIN6.scopeId, scope, true);
  return out;
}

function sendNa(ifname: string, cidr: Cidr, what: string): void {
  const describe = () => what;
  const index = interfaceIndex(ifname, what);
  const packet = neighbourAdvertisement(ethernetMac(ifname, what), cidr.bytes);
  const fd = openSocket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, describe);
  try {
    setIntOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, index, describe);
    setIntOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ND_HOP_LIMIT, describe);
    setIntOption(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0, describe);
    check(sys().bind(fd, sockaddrIn6(cidr.bytes, 0), SOCKADDR_IN6_BYTES), describe);
    const to = sockaddrIn6(ALL_NODES, index);
    check(sys().sendto(fd, packet, packet, MSG_DONTWAIT, to, SOCKADDR_IN6_BYTES), describe);
  } finally {
    closeSocket(fd);
  }
}

/**
 * One announcement of `cidr`'s address on `ifname`: a gratuitous ARP or an
 * unsolicited NA. Throws OsError (the interface is gone, has no MAC, is down:
 * ENETDOWN; for IPv6 the address is not on it: EADDRNOTAVAIL).
 */
export function announce(ifname: string, cidr: Cidr): void {
  const what = `announce ${formatCidr(cidr)} on ${ifname}`;
  if (cidr.family === 4) sendArp(ifname, cidr, what);
  else sendNa(ifname, cidr, what);
}
