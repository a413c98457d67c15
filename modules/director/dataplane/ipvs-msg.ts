/**
 * The pure half of the IPVS dataplane: the generic netlink messages of the
 * kernel's "IPVS" family (<linux/ip_vs.h>) for virtual services and their
 * destinations (real servers), the mapping of each Change to those
 * commands, and the reading of a dump back into the model. No kernel call.
 */
import { formatIp, parseIp, type IpFamily } from "../../../core/os/ip.ts";
import { decodeNlas, nlaBe16, nlaBytes, nlaMap, nlaNested, nlaString, nlaU16, nlaU32, readBe16, readString, readU16, readU32, type Nla, type RawNla } from "../../../core/os/nlattr.ts";
import { DataplaneError, familyOfAddress, realKey, serviceKey, type Change, type Forwarding, type Protocol, type RealServer, type Scheduler, type ServiceSettings, type VirtualService } from "./model.ts";

export const IPVS_GENL_NAME = "IPVS";
export const IPVS_GENL_VERSION = 1;

/** Commands (enum in ip_vs.h, from IPVS_CMD_UNSPEC = 0). */
export const IPVS_CMD = {
  NEW_SERVICE: 1,
  SET_SERVICE: 2,
  DEL_SERVICE: 3,
  GET_SERVICE: 4,
  NEW_DEST: 5,
  SET_DEST: 6,
  DEL_DEST: 7,
  GET_DEST: 8,
} as const;

/** First-level attributes: the nested service and destination. */
export const IPVS_CMD_ATTR = { SERVICE: 1, DEST: 2 } as const;

/** Attributes inside IPVS_CMD_ATTR_SERVICE. */
export const IPVS_SVC_ATTR = { AF: 1, PROTOCOL: 2, ADDR: 3, PORT: 4, FWMARK: 5, SCHED_NAME: 6, FLAGS: 7, TIMEOUT: 8, NETMASK: 9 } as const;

/** Attributes inside IPVS_CMD_ATTR_DEST. */
export const IPVS_DEST_ATTR = { ADDR: 1, PORT: 2, FWD_METHOD: 3, WEIGHT: 4, U_THRESH: 5, L_THRESH: 6, ADDR_FAMILY: 11 } as const;

export const AF_INET = 2;
export const AF_INET6 = 10;
const AF: Record<IpFamily, number> = { 4: AF_INET, 6: AF_INET6 };
export const IPPROTO = { tcp: 6, udp: 17 } as const satisfies Record<Protocol, number>;

/** IP_VS_SVC_F_PERSISTENT; FLAGS is struct ip_vs_flags { u32 flags; u32 mask }. */
export const IP_VS_SVC_F_PERSISTENT = 0x0001;
/** The mask sent with every service's flags: Tandem sets them all (persistent or not; nothing else). */
const FLAGS_MASK_ALL = 0xffff_ffff;
const IP_VS_FLAGS_BYTES = 8;
/** The connection flags' forwarding method (IP_VS_CONN_F_FWD_MASK) and its values. */
const IP_VS_CONN_F_FWD_MASK = 0x0007;
export const FWD_METHOD = { nat: 0x0000, tun: 0x0002, dr: 0x0003 } as const satisfies Record<Forwarding, number>;
/** The scheduler name is at most IP_VS_SCHEDNAME_MAXLEN - 1 bytes. */
const IP_VS_SCHEDNAME_MAXLEN = 16;
/** union nf_inet_addr: the kernel's address attributes are 16 bytes, IPv4 in the first 4. */
export const INET_ADDR_UNION_BYTES = 16;
/** IPv4: the persistence netmask that groups nothing (each client alone). */
const IPV4_HOST_MASK = "255.255.255.255";
/** IPv6: the persistence netmask is a prefix length; Tandem groups no IPv6 clients. */
const IPV6_HOST_PREFIX = 128;
const MS_PER_S = 1000;

/** One IPVS command with its attributes. */
export interface IpvsCommand {
  cmd: number;
  attrs: Nla[];
}

function inetAddr(address: string): Uint8Array {
  const bytes = parseIp(address);
  if (!bytes) throw new DataplaneError(`"${address}" is not an IP address`);
  const out = new Uint8Array(INET_ADDR_UNION_BYTES);
  out.set(bytes);
  return out;
}

function familyOf(address: string): IpFamily {
  const family = familyOfAddress(address);
  if (family === undefined) throw new DataplaneError(`"${address}" is not an IP address`);
  return family;
}

/** Persistence in whole seconds, as IPVS holds it (rounded up: never shorter than asked). */
export const persistenceSeconds = (ms: number) => Math.ceil(ms / MS_PER_S);

/** The attributes that name a service: family, and mark or protocol, address and port. */
export function serviceId(vs: Pick<VirtualService, "protocol" | "address" | "port" | "fwmark">): Nla[] {
  const af = nlaU16(IPVS_SVC_ATTR.AF, AF[familyOf(vs.address)]);
  if (vs.fwmark !== undefined) return [af, nlaU32(IPVS_SVC_ATTR.FWMARK, vs.fwmark)];
  return [af, nlaU16(IPVS_SVC_ATTR.PROTOCOL, IPPROTO[vs.protocol]), nlaBytes(IPVS_SVC_ATTR.ADDR, inetAddr(vs.address)), nlaBe16(IPVS_SVC_ATTR.PORT, vs.port)];
}

/** The netmask attribute's payload: IPv4 the mask in network order; IPv6 a prefix length in host order. */
function netmask(vs: ServiceSettings): Uint8Array {
  const out = new Uint8Array(4);
  if (familyOf(vs.address) === 6) new DataView(out.buffer).setUint32(0, IPV6_HOST_PREFIX, true);
  else out.set(parseIp(vs.persistence?.netmask ?? IPV4_HOST_MASK)!);
  return out;
}

/** A whole service: its name, then scheduler, flags, persistence timeout and netmask (all four required by NEW and SET). */
export function serviceFull(vs: ServiceSettings): Nla[] {
  if (new TextEncoder().encode(vs.scheduler).length >= IP_VS_SCHEDNAME_MAXLEN) throw new DataplaneError(`virtual service ${vs.key}: scheduler "${vs.scheduler}" is longer than IPVS takes`);
  const flags = new Uint8Array(IP_VS_FLAGS_BYTES);
  const view = new DataView(flags.buffer);
  view.setUint32(0, vs.persistence ? IP_VS_SVC_F_PERSISTENT : 0, true);
  view.setUint32(4, FLAGS_MASK_ALL, true);
  return [
    ...serviceId(vs),
    nlaString(IPVS_SVC_ATTR.SCHED_NAME, vs.scheduler),
    nlaBytes(IPVS_SVC_ATTR.FLAGS, flags),
    nlaU32(IPVS_SVC_ATTR.TIMEOUT, vs.persistence ? persistenceSeconds(vs.persistence.timeoutMs) : 0),
    nlaBytes(IPVS_SVC_ATTR.NETMASK, netmask(vs)),
  ];
}

/** The attributes that name a destination: address, port, and its family. */
function destId(r: Pick<RealServer, "address" | "port">): Nla[] {
  return [nlaBytes(IPVS_DEST_ATTR.ADDR, inetAddr(r.address)), nlaBe16(IPVS_DEST_ATTR.PORT, r.port), nlaU16(IPVS_DEST_ATTR.ADDR_FAMILY, AF[familyOf(r.address)])];
}

/** A whole destination: forwarding method, weight, and no connection thresholds (all required by NEW and SET). */
function destFull(r: RealServer): Nla[] {
  return [
    ...destId(r),
    nlaU32(IPVS_DEST_ATTR.FWD_METHOD, FWD_METHOD[r.forwarding]),
    nlaU32(IPVS_DEST_ATTR.WEIGHT, r.weight),
    nlaU32(IPVS_DEST_ATTR.U_THRESH, 0),
    nlaU32(IPVS_DEST_ATTR.L_THRESH, 0),
  ];
}

const withService = (service: Nla[], dest?: Nla[]): Nla[] => [nlaNested(IPVS_CMD_ATTR.SERVICE, service), ...(dest ? [nlaNested(IPVS_CMD_ATTR.DEST, dest)] : [])];

export const newService = (vs: ServiceSettings): IpvsCommand => ({ cmd: IPVS_CMD.NEW_SERVICE, attrs: withService(serviceFull(vs)) });
export const newDest = (vs: ServiceSettings, r: RealServer): IpvsCommand => ({ cmd: IPVS_CMD.NEW_DEST, attrs: withService(serviceId(vs), destFull(r)) });
/** The request for a dump of one service's destinations. */
export const getDests = (vs: ServiceSettings): IpvsCommand => ({ cmd: IPVS_CMD.GET_DEST, attrs: withService(serviceId(vs)) });
/** A get of the one service `vs` names (the kernel answers ESRCH when it has none). */
export const getService = (vs: ServiceSettings): IpvsCommand => ({ cmd: IPVS_CMD.GET_SERVICE, attrs: withService(serviceId(vs)) });

/**
 * The commands of one change, in order. `held` is the state the change was
 * diffed against: a removal names only a key, and the service's family (a
 * fwmark's key does not say it) comes from there.
 */
export function commandsFor(change: Change, held: ReadonlyMap<string, ServiceSettings>): IpvsCommand[] {
  const service = (key: string): ServiceSettings => {
    const s = held.get(key);
    if (!s) throw new DataplaneError(`the diff names virtual service ${key}, which IPVS does not hold`);
    return s;
  };
  switch (change.kind) {
    case "add-service":
      return [newService(change.service), ...change.service.reals.map((r) => newDest(change.service, r))];
    case "update-service":
      return [{ cmd: IPVS_CMD.SET_SERVICE, attrs: withService(serviceFull(change.service)) }];
    case "remove-service":
      return [{ cmd: IPVS_CMD.DEL_SERVICE, attrs: withService(serviceId(service(change.key))) }];
    case "add-real":
      return [newDest(service(change.key), change.real)];
    case "update-real":
      return [{ cmd: IPVS_CMD.SET_DEST, attrs: withService(serviceId(service(change.key)), destFull(change.real)) }];
    case "remove-real":
      return [{ cmd: IPVS_CMD.DEL_DEST, attrs: withService(serviceId(service(change.key)), destId(change)) }];
  }
}

const FAMILY_OF_AF = new Map<number, IpFamily>([
  [AF_INET, 4],
  [AF_INET6, 6],
]);
const PROTOCOL_OF = new Map<number, Protocol>(Object.entries(IPPROTO).map(([name, n]) => [n, name as Protocol]));
const FORWARDING_OF = new Map<number, Forwarding>(Object.entries(FWD_METHOD).map(([name, n]) => [n, name as Forwarding]));
const ADDRESS_BYTES: Record<IpFamily, number> = { 4: 4, 6: 16 };

function readAddress(data: Uint8Array | undefined, family: IpFamily): string | undefined {
  const size = ADDRESS_BYTES[family];
  return data && data.length >= size ? formatIp(data.subarray(0, size)) : undefined;
}

const unspecified: Record<IpFamily, string> = { 4: "0.0.0.0", 6: "::" };

/** What IPVS does not hold of a service, supplied by the reader: a fwmark service's protocol, the service's default forwarding. */
export interface Unheld {
  protocol: Protocol;
  forwarding: Forwarding;
}

/**
 * A service from a GET_SERVICE dump message's attributes, without its
 * destinations; a string saying why when it is not one Tandem can hold
 * (another protocol such as SCTP, a family other than IPv4 and IPv6).
 * Never throws. The scheduler is the kernel's name as is.
 */
export function parseService(attrs: RawNla[], unheld: (key: string) => Unheld): ServiceSettings | string {
  const nested = attrs.find((a) => a.type === IPVS_CMD_ATTR.SERVICE);
  if (!nested) return "a service message without a service";
  const a = nlaMap(decodeNlas(nested.value).attrs);
  const family = FAMILY_OF_AF.get(readU16(a.get(IPVS_SVC_ATTR.AF)) ?? 0);
  if (family === undefined) return "a service of another address family";
  const fwmark = readU32(a.get(IPVS_SVC_ATTR.FWMARK));
  const flags = a.get(IPVS_SVC_ATTR.FLAGS);
  const persistent = flags !== undefined && flags.length >= 4 && (new DataView(flags.buffer, flags.byteOffset, 4).getUint32(0, true) & IP_VS_SVC_F_PERSISTENT) !== 0;
  const timeout = readU32(a.get(IPVS_SVC_ATTR.TIMEOUT)) ?? 0;
  const mask = a.get(IPVS_SVC_ATTR.NETMASK);
  const netmask = family === 4 && mask?.length === 4 ? formatIp(mask) : undefined;
  const persistence = persistent ? { timeoutMs: timeout * MS_PER_S, ...(netmask && netmask !== IPV4_HOST_MASK ? { netmask } : {}) } : undefined;
  const scheduler = readString(a.get(IPVS_SVC_ATTR.SCHED_NAME)) ?? "";
  let identity: Pick<VirtualService, "protocol" | "address" | "port" | "fwmark">;
  if (fwmark !== undefined && fwmark !== 0) {
    identity = { protocol: "tcp", address: unspecified[family], port: 0, fwmark };
  } else {
    const protocol = PROTOCOL_OF.get(readU16(a.get(IPVS_SVC_ATTR.PROTOCOL)) ?? 0);
    const address = readAddress(a.get(IPVS_SVC_ATTR.ADDR), family);
    const port = readBe16(a.get(IPVS_SVC_ATTR.PORT));
    if (!protocol) return "a service of a protocol other than TCP and UDP";
    if (address === undefined || port === undefined) return "a service without its address or port";
    identity = { protocol, address, port };
  }
  const key = serviceKey(identity);
  const rest = unheld(key);
  return {
    key,
    ...identity,
    protocol: identity.fwmark !== undefined ? rest.protocol : identity.protocol,
    // The kernel may have schedulers Tandem's config does not name: kept as they are, so a diff replaces them.
    scheduler: scheduler as Scheduler,
    forwarding: rest.forwarding,
    ...(persistence ? { persistence } : {}),
  };
}

/** A destination from a GET_DEST dump message's attributes; a string saying why when it is not one. Never throws. */
export function parseDest(attrs: RawNla[], family: IpFamily): RealServer | string {
  const nested = attrs.find((a) => a.type === IPVS_CMD_ATTR.DEST);
  if (!nested) return "a destination message without a destination";
  const a = nlaMap(decodeNlas(nested.value).attrs);
  const destFamily = FAMILY_OF_AF.get(readU16(a.get(IPVS_DEST_ATTR.ADDR_FAMILY)) ?? AF[family]);
  if (destFamily === undefined) return "a destination of another address family";
  const address = readAddress(a.get(IPVS_DEST_ATTR.ADDR), destFamily);
  const port = readBe16(a.get(IPVS_DEST_ATTR.PORT));
  const weight = readU32(a.get(IPVS_DEST_ATTR.WEIGHT));
  const method = readU32(a.get(IPVS_DEST_ATTR.FWD_METHOD));
  const forwarding = method === undefined ? undefined : FORWARDING_OF.get(method & IP_VS_CONN_F_FWD_MASK);
  if (address === undefined || port === undefined || weight === undefined) return "a destination without its address, port or weight";
  if (!forwarding) return `destination ${realKey({ address, port })}: a forwarding method other than masquerading, tunnel and direct routing`;
  return { address, port, weight, forwarding };
}

/** The sync daemon's commands (after GET_DEST in ip_vs.h's enum). */
export const IPVS_DAEMON_CMD = { NEW_DAEMON: 9, DEL_DAEMON: 10, GET_DAEMON: 11 } as const;
/** The first-level attribute of a daemon command. */
export const IPVS_CMD_ATTR_DAEMON = 3;
/** Attributes inside IPVS_CMD_ATTR_DAEMON. */
export const IPVS_DAEMON_ATTR = { STATE: 1, MCAST_IFN: 2, SYNC_ID: 3, SYNC_MAXLEN: 4, MCAST_GROUP: 5, MCAST_GROUP6: 6, MCAST_PORT: 7, MCAST_TTL: 8 } as const;
/** IP_VS_STATE_MASTER and IP_VS_STATE_BACKUP. */
export const IP_VS_STATE = { master: 1, backup: 2 } as const;
/** The interface name is at most IP_VS_IFNAME_MAXLEN - 1 bytes. */
const IP_VS_IFNAME_MAXLEN = 16;

export interface SyncDaemon {
  state: keyof typeof IP_VS_STATE;
  interface: string;
  syncId: number;
  /** IPv4 multicast group and its UDP port; absent: the kernel's (224.0.0.81, 8848). */
  group?: { address: string; port: number };
}

/** Start a master or backup sync daemon: its state, interface and sync id, and the group with its port when given (IPv4 group in network order; the port in host order, as the kernel reads it). */
export function newDaemon(d: SyncDaemon): IpvsCommand {
  if (new TextEncoder().encode(d.interface).length >= IP_VS_IFNAME_MAXLEN) throw new DataplaneError(`sync interface "${d.interface}" is longer than IPVS takes`);
  const group = d.group ? parseIp(d.group.address) : undefined;
  if (d.group && group?.length !== 4) throw new DataplaneError(`sync group "${d.group.address}" is not an IPv4 address`);
  return {
    cmd: IPVS_DAEMON_CMD.NEW_DAEMON,
    attrs: [
      nlaNested(IPVS_CMD_ATTR_DAEMON, [
        nlaU32(IPVS_DAEMON_ATTR.STATE, IP_VS_STATE[d.state]),
        nlaString(IPVS_DAEMON_ATTR.MCAST_IFN, d.interface),
        nlaU32(IPVS_DAEMON_ATTR.SYNC_ID, d.syncId),
        ...(group ? [nlaBytes(IPVS_DAEMON_ATTR.MCAST_GROUP, group), nlaU16(IPVS_DAEMON_ATTR.MCAST_PORT, d.group!.port)] : []),
      ]),
    ],
  };
}

/** Stop the daemon of that state. */
export const delDaemon = (state: SyncDaemon["state"]): IpvsCommand => ({
  cmd: IPVS_DAEMON_CMD.DEL_DAEMON,
  attrs: [nlaNested(IPVS_CMD_ATTR_DAEMON, [nlaU32(IPVS_DAEMON_ATTR.STATE, IP_VS_STATE[state])])],
});

/** A GET_DAEMON dump message: the running daemon's state, interface and sync id. */
export function parseDaemon(attrs: RawNla[]): { state: number; interface: string; syncId: number } | undefined {
  const top = nlaMap(attrs).get(IPVS_CMD_ATTR_DAEMON);
  if (!top) return undefined;
  const d = nlaMap(decodeNlas(top).attrs);
  const state = readU32(d.get(IPVS_DAEMON_ATTR.STATE));
  const ifn = readString(d.get(IPVS_DAEMON_ATTR.MCAST_IFN));
  const syncId = readU32(d.get(IPVS_DAEMON_ATTR.SYNC_ID));
  return state === undefined || ifn === undefined || syncId === undefined ? undefined : { state, interface: ifn, syncId };
}
