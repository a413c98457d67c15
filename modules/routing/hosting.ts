/**
 * Active/active on IPVS: each director holds the announced virtual addresses
 * itself, as LVS-DR directors behind routers do.
 *
 * - IPVS takes a service's packets only when they are addressed to the node
 *   (its hook is LOCAL_IN), and the routers send each director the flows by
 *   its own address (BGP's next hop): the virtual address goes on the
 *   loopback, as a /32 (/128).
 * - The node answers no ARP for it: `arp_ignore = 1` (answer only for an
 *   address of the interface asked on) and `arp_announce = 2` (never a
 *   loopback address as an ARP source). With direct routing the real servers
 *   hold the same address on their loopback, so nobody on the lan may claim
 *   it; the routers reach it through BGP.
 * - `net.ipv4.vs.sloppy_tcp = 1`: a flow that the routers move from a
 *   director that failed arrives at another mid-connection. IPVS creates its
 *   connection only from a SYN otherwise, and the packet goes to the local
 *   stack, which holds the address, has no socket and answers RST. With it,
 *   the first packet of the moved flow is scheduled; `mh` with the same
 *   servers and weights on every director picks the real server the first
 *   director picked, and with DR or TUN its answers never passed the
 *   directors: the connection goes on. `conn_reuse_mode` stays at the
 *   kernel's 1 (a SYN on a port IPVS still holds is scheduled afresh, which
 *   `mh` sends to the same real server anyway), and `conntrack` at 0.
 *
 * Pure: what a director holds for a config. The shell (service.ts) holds it
 * through a `VipHost` (the real one below; tests give their own).
 */
import { writeFileSync } from "node:fs";
import type { RawConfig } from "../../core/config/schema.ts";
import { FOREVER, addAddress, deleteAddress } from "../../core/os/netlink.ts";
import { familyOf, parseCidr, parseIp } from "../../core/os/ip.ts";

/** Where the virtual addresses are held. */
export const LOOPBACK = "lo";

/** A kernel setting, by its sysctl name. */
export interface Sysctl {
  key: string;
  value: string;
}

/** The settings an active/active IPVS director needs (see above); `all`, so every interface takes them (the kernel uses the higher of `all` and the interface's). */
export const HOSTING_SYSCTLS: readonly Sysctl[] = [
  { key: "net.ipv4.conf.all.arp_ignore", value: "1" },
  { key: "net.ipv4.conf.all.arp_announce", value: "2" },
  { key: "net.ipv4.vs.sloppy_tcp", value: "1" },
];

export interface Hosting {
  device: string;
  /** The announced virtual addresses, each once, as /32 or /128. */
  addresses: string[];
  sysctls: readonly Sysctl[];
}

/**
 * What this director holds so that IPVS serves the announced addresses: only in active-active mode where the
 * director runs the IPVS dataplane (`dataplane`, as the director service says: it decides "auto"); null otherwise
 * (nftables takes its packets before routing and needs none of it, and a node without the director holds nothing),
 * and when nothing is announced.
 */
export function hostingOf(director: RawConfig["director"], dataplane: string | undefined): Hosting | null {
  if (director?.mode !== "active-active" || dataplane !== "ipvs") return null;
  const addresses = [
    ...new Set(
      director.virtual_service.flatMap((v) => (v.announce && v.address !== undefined ? [`${v.address}/${familyOf(parseIp(v.address)!) === 6 ? 128 : 32}`] : [])),
    ),
  ];
  return addresses.length ? { device: LOOPBACK, addresses, sysctls: HOSTING_SYSCTLS } : null;
}

/** The addresses `before` held that `after` does not (a reload that drops an announced service, a clean stop: after null). */
export function released(before: Hosting | null, after: Hosting | null): string[] {
  const kept = new Set(after?.device === before?.device ? after?.addresses : []);
  return (before?.addresses ?? []).filter((a) => !kept.has(a));
}

/** The sysctl's file under /proc/sys (`net.ipv4.vs.sloppy_tcp` is net/ipv4/vs/sloppy_tcp). */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key.replaceAll(".", "/")}`;
}

/** What the shell does to hold a Hosting. */
export interface VipHost {
  /** The address on the device, for ever (replaced when there already). */
  hold(device: string, cidr: string): void;
  /** The address off the device; nothing when it is not there. */
  release(device: string, cidr: string): void;
  sysctl(setting: Sysctl): void;
}

export const kernelVipHost: VipHost = {
  hold: (device, cidr) => addAddress({ interface: device, cidr: parseCidr(cidr), validLft: FOREVER, preferredLft: FOREVER }),
  release: (device, cidr) => void deleteAddress(device, parseCidr(cidr)),
  sysctl: ({ key, value }) => writeFileSync(sysctlPath(key), `${value}\n`),
};
