/**
 * What the LVS importers (keepalived, ldirectord) share: a virtual server as
 * Tandem holds it, a [[services]] entry (the real servers and one check) with
 * the [[director.virtual_service]] entries that use it; one check for a
 * service out of its real servers' own; and the writer of both sections.
 */
import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { CheckSchema } from "../modules/checks/config.ts";
import type { Finding } from "./findings.ts";
import { tomlValue, type TomlTable, type TomlValue, type TomlWriter } from "./toml.ts";


/** The director's bounds: virtual services in a config, real servers in a service. */
export const MAX_VIRTUALS = 10_000;
export const MAX_REALS = 1_000;

/** Addresses one range in a config (a group entry, a real= range) may stand for; a longer one is a warning, not expanded. */
export const MAX_RANGE = 256;

/** A key, its value and the comment that says where the value came from. */
export type Entry = readonly [key: string, value: TomlValue, comment?: string];

export interface RealOut {
  /** How the source names it (`real_server 10.0.0.11 80`), for messages. */
  label: string;
  where: string;
  address: string;
  port?: number;
  weight: number;
  comment?: string;
  /** This server's check as Tandem would run it, `kind` first. */
  check: Entry[];
  /** Where it differs from the service's check (serverChecks): the server's own `check` table. */
  own?: Entry[];
  /** Its own inhibit_on_failure, where it differs from its virtual service's. */
  inhibit?: boolean;
}

export interface VirtualOut {
  name: string;
  /** address, port and protocol, or fwmark. */
  head: Entry[];
  comment?: string;
}

export interface ServiceOut {
  /** Comment lines above its entries: where it came from, what was left out. */
  before: string[];
  name: string;
  port?: { value: number; comment?: string };
  reals: RealOut[];
  /** The one check of the service (commonCheck). */
  check: Entry[];
  virtuals: VirtualOut[];
  /** scheduler, forwarding, persistence, ...: the same for each of its virtual services. */
  settings: Entry[];
}

/** Whether a value is one the schema takes (a check's path, a server's weight, ...). */
export function fits(schema: TSchema, value: unknown): boolean {
  return Value.Check(schema, value);
}

/** ADDRESS:PORT, IPv6 in brackets. */
export function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

const shape = (check: readonly Entry[]) => JSON.stringify(check.map(([k, v]) => [k, v]));

/** The check most real servers of a service have (the first one's on a tie), and how many have it. `reals` is not empty. */
function mostCommon(reals: readonly RealOut[]): { best: RealOut; count: number } {
  const count = new Map<string, number>();
  for (const r of reals) count.set(shape(r.check), (count.get(shape(r.check)) ?? 0) + 1);
  const best = reals.reduce((b, r) => (count.get(shape(b.check))! >= count.get(shape(r.check))! ? b : r), reals[0]!);
  return { best, count: count.get(shape(best.check))! };
}

/** The keys on which two checks differ, as a message says it. */
function difference(theirs: ReadonlyMap<string, TomlValue>, mine: ReadonlyMap<string, TomlValue>, keys: readonly string[]): string {
  return keys.map((k) => `${k} ${tomlOrNone(theirs.get(k))} where the others have ${tomlOrNone(mine.get(k))}`).join(", ");
}

/**
 * The check most real servers of a service have (the first one's on a tie):
 * for a consumer that checks every server of a service alike (the proxy),
 * each server whose own check differs is a warning saying how. `reals` is not empty.
 */
export function commonCheck(reals: readonly RealOut[], findings: Finding[]): Entry[] {
  const { best, count } = mostCommon(reals);
  const mine = new Map(best.check.map(([k, v]) => [k, v]));
  for (const r of reals) {
    if (shape(r.check) === shape(best.check)) continue;
    const theirs = new Map(r.check.map(([k, v]) => [k, v]));
    const keys = [...new Set([...mine.keys(), ...theirs.keys()])].filter((k) => tomlOrNone(theirs.get(k)) !== tomlOrNone(mine.get(k)));
    findings.push({
      level: "warning",
      where: r.where,
      message: `${r.label}: its check differs (${difference(theirs, mine, keys)}); Tandem checks every server of a service alike, with the check ${count} of its ${reals.length} servers have`,
    });
  }
  return [...best.check];
}

/** The check keys each kind reads, beyond kind, interval, timeout, rise and fall. */
const KIND_KEYS: Readonly<Record<string, readonly string[]>> = {
  tcp: ["port"],
  http: ["port", "path", "status", "body", "digest", "host"],
  https: ["port", "path", "status", "body", "digest", "host", "sni", "verify_tls"],
  misc: ["command", "dynamic_weight"],
  dns: ["port", "query", "query_type"],
  none: [],
};
const TIMING = ["interval", "timeout", "rise", "fall"];

/**
 * The service's check, the one most real servers have; each server whose
 * check differs gets its own (`own`: the keys that differ, a server's
 * `check` table over the service's). A key the service's check sets and a
 * server's would leave out is set to its default; one without a default that
 * the server's kind reads cannot be cleared for one server: a warning.
 */
/**
 * The real servers with each address and port once, the first kept: a
 * service holds a destination once (keepalived removed a repeated
 * real_server, "is duplicated - removing second rs"; ldirectord's repeated
 * real= failed in ipvsadm), so each repeat is a warning where it stands.
 */
export function withoutRepeats(reals: readonly RealOut[], servicePort: number | undefined, findings: Finding[], tool: string): RealOut[] {
  const first = new Map<string, RealOut>();
  return reals.filter((r) => {
    const id = `${r.address} ${r.port ?? servicePort ?? ""}`;
    const earlier = first.get(id);
    if (!earlier) return first.set(id, r), true;
    findings.push({ level: "warning", where: r.where, message: `${r.label} is not imported: it repeats ${earlier.label} (${earlier.where}); ${tool} kept the first, and so does the import` });
    return false;
  });
}

export function serverChecks(reals: RealOut[], findings: Finding[]): Entry[] {
  const { best } = mostCommon(reals);
  const mine = new Map(best.check.map(([k, v]) => [k, v]));
  for (const r of reals) {
    if (shape(r.check) === shape(best.check)) continue;
    const theirs = new Map(r.check.map(([k, v]) => [k, v]));
    const kind = String(theirs.get("kind") ?? "tcp");
    const reads = kind === "none" ? [] : [...TIMING, ...(KIND_KEYS[kind] ?? [])];
    const own: Entry[] = r.check.filter(([k, v]) => k === "kind" ? v !== mine.get("kind") : tomlOrNone(v) !== tomlOrNone(mine.get(k)));
    const stuck: string[] = [];
    for (const k of mine.keys()) {
      if (theirs.has(k) || !reads.includes(k)) continue;
      const fallback = (CheckSchema.properties as Record<string, { default?: TomlValue }>)[k]?.default;
      if (fallback === undefined) stuck.push(k);
      else own.push([k, fallback]);
    }
    if (own.length) r.own = own;
    if (stuck.length) findings.push({ level: "warning", where: r.where, message: `${r.label}: its own check has no ${stuck.join(", ")}, which the service's check has (${difference(theirs, mine, stuck)}); a server's check takes the service's keys it leaves out, so it checks with them` });
  }
  return [...best.check];
}

const tomlOrNone = (v: TomlValue | undefined) => (v === undefined ? "none" : tomlValue(v));

/** The sections: each service, its check, then the virtual services that use it. */
export function writeServices(w: TomlWriter, services: readonly ServiceOut[]): void {
  for (const s of services) {
    w.table("services", { array: true, before: s.before });
    w.key("name", s.name);
    if (s.port) w.key("port", s.port.value, s.port.comment);
    w.tables(
      "servers",
      s.reals.map((r) => {
        const value: TomlTable = {
          address: r.address,
          ...(r.port !== undefined ? { port: r.port } : {}),
          ...(r.weight !== 1 ? { weight: r.weight } : {}),
          ...(r.inhibit !== undefined ? { inhibit_on_failure: r.inhibit } : {}),
          ...(r.own ? { check: Object.fromEntries(r.own.map(([k, v]) => [k, v])) } : {}),
        };
        return { value, ...(r.comment ? { comment: r.comment } : {}) };
      }),
    );
    w.table("services.check");
    for (const [k, v, c] of s.check) w.key(k, v, c);
    for (const v of s.virtuals) {
      w.table("director.virtual_service", { array: true, ...(v.comment ? { comment: v.comment } : {}) });
      w.key("name", v.name);
      for (const [k, value, c] of v.head) w.key(k, value, c);
      w.key("service", s.name);
      for (const [k, value, c] of s.settings) w.key(k, value, c);
    }
  }
}
