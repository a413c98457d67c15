/**
 * The dataplane-neutral desired state of the director: virtual services and
 * their real servers as LVS knows them, the changes between two such states,
 * and the contract every dataplane (ipvs, nftables) keeps. Plain data and
 * pure checks; no dataplane's words.
 */
import { FORWARDING, SCHEDULERS } from "../config.ts";
import { familyOf, parseIp, type IpFamily } from "../../../core/os/ip.ts";
import { hostPort } from "../../../core/net/address.ts";
import { MAX_WEIGHT } from "../../../core/config/primitives.ts";

export type Scheduler = (typeof SCHEDULERS)[number];
export type Forwarding = (typeof FORWARDING)[number];
export type Protocol = "tcp" | "udp";

/** The most virtual services one dataplane holds. */
export const MAX_SERVICES = 10_000;
/** The most real servers one virtual service holds. */
export const MAX_REALS = 1_000;
export const MAX_PORT = 65_535;
export const MAX_FWMARK = 0xffff_ffff;

export interface RealServer {
  address: string;
  /** 0: keep the port the client asked for (fwmark and port-0 services). */
  port: number;
  /** 0: drained: no new connections, established ones continue. */
  weight: number;
  forwarding: Forwarding;
}

export interface Persistence {
  /** A client keeps its real server this long after its last new connection. */
  timeoutMs: number;
  /** Clients within one such IPv4 network share a real server (e.g. 255.255.255.0); absent: each address alone. */
  netmask?: string;
}

export interface VirtualService {
  /** `proto:address:port` (`tcp:[fd00::1]:80` for IPv6), or `fwmark:N`: see serviceKey. */
  key: string;
  protocol: Protocol;
  /** The virtual address; for a fwmark service, the unspecified address of its family (0.0.0.0 or ::). */
  address: string;
  /** The virtual port; 0 for a fwmark service, and for a persistent service on every port. */
  port: number;
  fwmark?: number;
  scheduler: Scheduler;
  forwarding: Forwarding;
  persistence?: Persistence;
  /** A real server absent from this list is removed. */
  reals: RealServer[];
}

/** A virtual service without its real servers: what an `update-service` change carries. */
export type ServiceSettings = Omit<VirtualService, "reals">;

export type Change =
  | { kind: "add-service"; service: VirtualService }
  | { kind: "remove-service"; key: string }
  | { kind: "update-service"; service: ServiceSettings }
  | { kind: "add-real"; key: string; real: RealServer }
  | { kind: "update-real"; key: string; real: RealServer }
  | { kind: "remove-real"; key: string; address: string; port: number };

export interface Reconciled {
  /** The changes between what the kernel held and what was desired (empty: nothing was touched). */
  diff: Change[];
  /** Wall time of the whole reconcile: read, compare, apply. */
  ms: number;
}

/**
 * One way of programming the kernel. `reconcile` is the normal entry: it reads
 * what the kernel holds, compares it with `desired` and applies only the
 * difference, so a restart or a reload never flushes live services and never
 * drops established connections to healthy servers. `apply` applies a diff to
 * the state this instance last read or applied.
 */
export interface Dataplane {
  readonly name: string;
  read(): Promise<VirtualService[]>;
  apply(diff: Change[]): Promise<void>;
  reconcile(desired: VirtualService[], options?: ReconcileOptions): Promise<Reconciled>;
}

export interface ReconcileOptions {
  /**
   * Read the whole table before the diff: the periodic repair of drift made by others, and a reload. Without
   * it a dataplane may read back only what differs from what it last read or applied (a change then costs a few
   * kernel calls whatever the table's size).
   */
  full?: boolean;
}

/** primary: the active director, whose connections the others keep; backup: one that keeps them, ready to take over. */
export type SyncRole = "primary" | "backup";

/**
 * Connection synchronisation between the directors (conntrackd on nftables,
 * the kernel's sync daemon on IPVS). `start` runs it in a role; `become`
 * changes the role: primary first puts the connections it received into the
 * kernel, so they continue through this node.
 */
export interface ConnectionSync {
  readonly name: string;
  start(role: SyncRole): Promise<void>;
  become(role: SyncRole): Promise<void>;
  stop(): Promise<void>;
  status(): Record<string, unknown>;
}

/** A refusal or a failure of a dataplane, with the words an operator needs. */
export class DataplaneError extends Error {}

export function serviceKey(vs: Pick<VirtualService, "protocol" | "address" | "port" | "fwmark">): string {
  return vs.fwmark !== undefined ? `fwmark:${vs.fwmark}` : `${vs.protocol}:${hostPort(vs.address, vs.port)}`;
}

export function realKey(r: Pick<RealServer, "address" | "port">): string {
  return hostPort(r.address, r.port);
}

export function settingsOf(vs: VirtualService): ServiceSettings {
  const { reals: _, ...settings } = vs;
  return settings;
}

export function samePersistence(a: Persistence | undefined, b: Persistence | undefined): boolean {
  if (!a || !b) return a === b;
  return a.timeoutMs === b.timeoutMs && a.netmask === b.netmask;
}

export function sameSettings(a: ServiceSettings, b: ServiceSettings): boolean {
  return (
    a.key === b.key &&
    a.protocol === b.protocol &&
    a.address === b.address &&
    a.port === b.port &&
    a.fwmark === b.fwmark &&
    a.scheduler === b.scheduler &&
    a.forwarding === b.forwarding &&
    samePersistence(a.persistence, b.persistence)
  );
}

export function sameReal(a: RealServer, b: RealServer): boolean {
  return a.address === b.address && a.port === b.port && a.weight === b.weight && a.forwarding === b.forwarding;
}

/** The address family of a parseable address. */
export function familyOfAddress(address: string): IpFamily | undefined {
  const bytes = parseIp(address);
  return bytes && familyOf(bytes);
}

const isUnspecified = (address: string) => parseIp(address)?.every((b) => b === 0) ?? false;

function isIpv4Netmask(mask: string): boolean {
  const bytes = parseIp(mask);
  if (!bytes || bytes.length !== 4) return false;
  const n = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  const inverted = ~n >>> 0;
  return (inverted & (inverted + 1)) === 0;
}

const inRange = (n: number, min: number, max: number) => Number.isInteger(n) && n >= min && n <= max;

/** What is wrong with a desired state, one line per problem, each naming the service (empty: nothing). */
export function modelProblems(services: VirtualService[]): string[] {
  const out: string[] = [];
  if (services.length > MAX_SERVICES) out.push(`${services.length} virtual services: at most ${MAX_SERVICES}`);
  const keys = new Set<string>();
  for (const vs of services) {
    const at = `virtual service ${vs.key}`;
    if (keys.has(vs.key)) out.push(`${at}: defined twice`);
    keys.add(vs.key);
    if (vs.key !== serviceKey(vs)) out.push(`${at}: its key should be ${serviceKey(vs)}`);
    if (!(SCHEDULERS as readonly string[]).includes(vs.scheduler)) out.push(`${at}: scheduler "${vs.scheduler}" is not one of ${SCHEDULERS.join(", ")}`);
    if (!(FORWARDING as readonly string[]).includes(vs.forwarding)) out.push(`${at}: forwarding "${vs.forwarding}" is not one of ${FORWARDING.join(", ")}`);
    const family = familyOfAddress(vs.address);
    if (family === undefined) out.push(`${at}: address "${vs.address}" is not an IPv4 or IPv6 address`);
    if (vs.fwmark !== undefined) {
      if (!inRange(vs.fwmark, 1, MAX_FWMARK)) out.push(`${at}: fwmark ${vs.fwmark} is not from 1 to ${MAX_FWMARK}`);
      if (vs.port !== 0 || !isUnspecified(vs.address)) out.push(`${at}: a fwmark service has port 0 and the unspecified address (0.0.0.0 or ::)`);
    } else if (!inRange(vs.port, 0, MAX_PORT)) out.push(`${at}: port ${vs.port} is not from 0 to ${MAX_PORT}`);
    if (vs.persistence) {
      if (!inRange(vs.persistence.timeoutMs, 1, Number.MAX_SAFE_INTEGER)) out.push(`${at}: persistence timeout ${vs.persistence.timeoutMs} ms is not a positive whole number`);
      if (vs.persistence.netmask !== undefined && !isIpv4Netmask(vs.persistence.netmask)) out.push(`${at}: persistence netmask "${vs.persistence.netmask}" is not an IPv4 netmask such as 255.255.255.0`);
    }
    if (vs.reals.length > MAX_REALS) out.push(`${at}: ${vs.reals.length} real servers: at most ${MAX_REALS}`);
    const reals = new Set<string>();
    for (const r of vs.reals) {
      const real = `${at}, real server ${realKey(r)}`;
      if (reals.has(realKey(r))) out.push(`${real}: listed twice`);
      reals.add(realKey(r));
      const rf = familyOfAddress(r.address);
      if (rf === undefined) out.push(`${real}: "${r.address}" is not an IPv4 or IPv6 address`);
      else if (family !== undefined && rf !== family) out.push(`${real}: an IPv${rf} server in an IPv${family} service`);
      if (!inRange(r.port, 0, MAX_PORT)) out.push(`${real}: port ${r.port} is not from 0 to ${MAX_PORT}`);
      if (!inRange(r.weight, 0, MAX_WEIGHT)) out.push(`${real}: weight ${r.weight} is not from 0 to ${MAX_WEIGHT}`);
      if (!(FORWARDING as readonly string[]).includes(r.forwarding)) out.push(`${real}: forwarding "${r.forwarding}" is not one of ${FORWARDING.join(", ")}`);
    }
  }
  return out;
}
