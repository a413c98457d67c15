/**
 * The nftables dataplane's pure half: which services it can hold (and how
 * IPVS-only settings map onto it), the table a desired state renders to, the
 * commands that turn one state's table into another's, and the reading of a
 * listed table back into the state it holds. Everything here is libnftables
 * JSON (libnftables-json(5)) in the exact shape `nft -j list` prints, so that
 * what is rendered and what is listed compare as they are.
 *
 * The table (family ip; IPv4):
 *
 *   map services          ip daddr . meta l4proto . th dport : jump vs-ID
 *   map services_anyport  ip daddr . meta l4proto : jump vs-ID   (port 0, persistent)
 *   map fwmarks           meta mark : jump vs-ID
 *   chain prerouting, output (nat, priority dstnat): look those up, fwmark first, as IPVS does
 *   chain vs-ID     the service: DNAT to the real server its scheduler picks;
 *                   its last rule's comment describes the service (descriptor)
 *   map reals-ID    every real server with its weight, drained ones too (a record:
 *                   weights and drained servers cannot be read back from the rules)
 *   with persistence, per active real server R:
 *   set persist-ID-R     the clients (saddr & netmask) that R has, with a timeout
 *   chain pick-ID-R      remember (or renew) the client in persist-ID-R, DNAT to R;
 *                        vs-ID sends a client found in persist-ID-R here, else schedules
 */
import { MAX_SERVICES, DataplaneError, familyOfAddress, modelProblems, realKey, samePersistence, serviceKey, type Protocol, type RealServer, type Scheduler, type VirtualService } from "./model.ts";
import { LOOKUP_SCHEDULERS, MH_TABLE_SIZE, select, type LookupScheduler, type Selection } from "./schedule.ts";
import { parseIp } from "../../../core/os/ip.ts";

export const TABLE = "tandem_lb";
export const FAMILY = "ip";
/** The table's layout version: a table whose base rules do not carry this marker is replaced whole. */
export const LAYOUT = 1;
const MARKER = `tandem-lb layout ${LAYOUT}`;
const DESCRIPTOR = `tandem-lb/${LAYOUT}`;
/** NAT's destination priority (NF_IP_PRI_NAT_DST). */
const PRIORITY_DSTNAT = -100;
/** A fixed seed keeps sh, dh and mh's client-to-server mapping across rewrites of a rule and restarts. */
export const JHASH_SEED = 0x7464_6d31;
/** Clients one real server's persistence set remembers at most; past it, new clients are scheduled without being remembered. */
export const PERSIST_SET_SIZE = 65_536;
/** IPVS schedulers a lookup cannot do (they count connections), and the nearest one it can. */
export const NEAREST: Record<Exclude<Scheduler, LookupScheduler>, LookupScheduler> = { lc: "rr", wlc: "wrr", sed: "wrr", nq: "wrr", lblc: "dh", lblcr: "dh", ovf: "fo" };

type Json = unknown;
export type Command = { add: Record<string, Json> } | { delete: Record<string, Json> } | { flush: Record<string, Json> };

export interface Effective {
  /** The services as this dataplane holds them (mapped schedulers, persistence in whole seconds), in key order, reals in address order. */
  services: VirtualService[];
  /** A line per service whose scheduler was mapped to the nearest one. */
  warnings: string[];
}

const isLookup = (s: Scheduler): s is LookupScheduler => (LOOKUP_SCHEDULERS as readonly string[]).includes(s);

function compareReals(a: RealServer, b: RealServer): number {
  const x = parseIp(a.address)!;
  const y = parseIp(b.address)!;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return a.port - b.port;
}

/** Real servers that take new connections, in the stable order the maps use. */
const active = (vs: VirtualService) => vs.reals.filter((r) => r.weight > 0);

/**
 * The services as this dataplane will hold them, or a DataplaneError naming
 * every service it cannot hold and why. Refused: IPv6, forwarding other than
 * nat, a service mixing real servers on port 0 (keep the client's port) with
 * servers on a port, mh with more active servers than its table has slots.
 * Mapped, with a warning: schedulers that count connections, to the nearest
 * lookup (lc to rr, wlc/sed/nq to wrr, lblc/lblcr to dh, ovf to fo).
 */
export function effective(services: VirtualService[]): Effective {
  const problems = modelProblems(services);
  if (problems.length) throw new DataplaneError(problems.join("; "));
  const refusals: string[] = [];
  const warnings: string[] = [];
  const out = services.map((vs): VirtualService => {
    const at = `virtual service ${vs.key}`;
    if (familyOfAddress(vs.address) === 6) refusals.push(`${at}: IPv6 services are not on the nftables dataplane yet (IPv4 only); the ipvs dataplane has them`);
    const direct = [vs.forwarding, ...vs.reals.map((r) => r.forwarding)].find((f) => f !== "nat");
    if (direct) refusals.push(`${at}: forwarding "${direct}" needs the ipvs dataplane; nftables forwards by NAT only (it rewrites the destination, and dr and tun send the packet on unchanged)`);
    if (vs.reals.some((r) => r.port === 0) && vs.reals.some((r) => r.port !== 0)) refusals.push(`${at}: real servers on port 0 (keep the client's port) and on a port cannot be mixed on the nftables dataplane`);
    let scheduler: LookupScheduler;
    if (isLookup(vs.scheduler)) scheduler = vs.scheduler;
    else {
      scheduler = NEAREST[vs.scheduler];
      warnings.push(`${at}: scheduler "${vs.scheduler}" counts active connections, which the nftables dataplane cannot; it uses "${scheduler}" (the same weights, without the counts). It has ${LOOKUP_SCHEDULERS.join(", ")}`);
    }
    if (scheduler === "mh" && active(vs).length > MH_TABLE_SIZE) refusals.push(`${at}: mh on nftables has ${MH_TABLE_SIZE} slots, fewer than its ${active(vs).length} active real servers`);
    const reals = [...vs.reals].sort(compareReals).map((r) => ({ ...r }));
    const { persistence: p, ...rest } = vs;
    const netmask = p?.netmask === "255.255.255.255" ? undefined : p?.netmask;
    const persistence = p && { timeoutMs: Math.ceil(p.timeoutMs / 1000) * 1000, ...(netmask === undefined ? {} : { netmask }) };
    return { ...rest, scheduler, reals, ...(persistence ? { persistence } : {}) };
  });
  if (refusals.length) throw new DataplaneError(refusals.join("; "));
  return { services: out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)), warnings };
}

/** The part of an object name that stands for a key: nft names take no colons. */
const nameOf = (key: string) => key.replaceAll(":", "-");
const chainOf = (vs: VirtualService) => `vs-${nameOf(vs.key)}`;
const recordOf = (vs: VirtualService) => `reals-${nameOf(vs.key)}`;
const persistSetOf = (vs: VirtualService, r: RealServer) => `persist-${nameOf(vs.key)}-${nameOf(realKey(r))}`;
const pickChainOf = (vs: VirtualService, r: RealServer) => `pick-${nameOf(vs.key)}-${nameOf(realKey(r))}`;

export interface SetDef {
  kind: "set" | "map";
  name: string;
  type: string | string[];
  map?: string;
  flags?: string[];
  timeout?: number;
  size?: number;
  /** Left out for sets the rules fill (persistence): their elements are the kernel's. */
  elem?: Json[];
}

export interface ChainDef {
  name: string;
  type?: "nat";
  hook?: string;
  prio?: number;
  policy?: "accept";
}

export interface RuleDef {
  chain: string;
  expr: Json[];
  comment?: string;
}

/** What one service, or the table's base, consists of. */
export interface Objects {
  sets: SetDef[];
  chains: ChainDef[];
  rules: RuleDef[];
  /** Elements of the base's lookup maps: [map, element]. */
  elements: Array<[string, Json]>;
}

const payload = (protocol: string, field: string) => ({ payload: { protocol, field } });
const meta = (key: string) => ({ meta: { key } });
const match = (left: Json, right: Json) => ({ match: { op: "==", left, right } });
const concat = (...items: Json[]) => ({ concat: items });
const jump = (target: string) => ({ jump: { target } });
const slotKey = (from: number, to: number) => (from === to ? from : { range: [from, to] });

const PROTOCOLS: Protocol[] = ["tcp", "udp"];
const l4match = (vs: VirtualService) => match(meta("l4proto"), vs.fwmark !== undefined ? { set: PROTOCOLS } : vs.protocol);
const client = (vs: VirtualService) => (vs.persistence?.netmask ? { "&": [payload("ip", "saddr"), vs.persistence.netmask] } : payload("ip", "saddr"));
const destination = (r: RealServer): Json => (r.port === 0 ? r.address : concat(r.address, r.port));
const dnatTo = (r: RealServer) => ({ dnat: r.port === 0 ? { addr: r.address } : { addr: r.address, port: r.port } });

function lookupKey(s: Extract<Selection, { kind: "map" }>): Json {
  if (s.by === "counter") return { numgen: { mode: "inc", mod: s.modulus, offset: 0 } };
  return { jhash: { mod: s.modulus, seed: JHASH_SEED, expr: payload("ip", s.by === "source-hash" ? "saddr" : "daddr") } };
}

function describe(vs: VirtualService): string {
  const p = vs.persistence;
  const persist = p ? ` persist=${p.timeoutMs / 1000}${p.netmask ? `/${p.netmask}` : ""}` : "";
  return `${DESCRIPTOR} ${vs.key} ${vs.protocol} ${vs.scheduler}${persist}`;
}

/** The objects of one service, as the table holds them. Its scheduler must be a lookup one (see effective). */
export function renderService(vs: VirtualService): Objects {
  const up = active(vs);
  const selection = select(
    vs.scheduler as LookupScheduler,
    up.map((r) => ({ id: realKey(r), weight: r.weight })),
  );
  const chain = chainOf(vs);
  const record: SetDef = { kind: "map", name: recordOf(vs), type: ["ipv4_addr", "inet_service"], map: "mark" };
  if (vs.reals.length) record.elem = vs.reals.map((r) => [concat(r.address, r.port), r.weight]);
  const sets: SetDef[] = [record];
  const chains: ChainDef[] = [];
  const rules: RuleDef[] = [];
  const p = vs.persistence;
  let last: Json[];
  if (selection.kind === "none") last = [{ drop: null }];
  else if (!p) {
    if (selection.kind === "one") last = [l4match(vs), dnatTo(up[selection.real]!)];
    else {
      const data = { set: selection.slots.map((s) => [slotKey(s.from, s.to), destination(up[s.real]!)]) };
      const concatenated = up.some((r) => r.port !== 0);
      last = [l4match(vs), { dnat: { ...(concatenated ? { family: FAMILY } : {}), addr: { map: { key: lookupKey(selection), data } } } }];
    }
  } else {
    for (const r of up) {
      sets.push({ kind: "set", name: persistSetOf(vs, r), type: "ipv4_addr", size: PERSIST_SET_SIZE, flags: ["timeout"], timeout: p.timeoutMs / 1000 });
      chains.push({ name: pickChainOf(vs, r) });
      rules.push({ chain: pickChainOf(vs, r), expr: [{ set: { op: "update", elem: client(vs), set: `@${persistSetOf(vs, r)}` } }, l4match(vs), dnatTo(r)] });
    }
    // A known client goes through its server's pick chain too, so every new connection renews its timeout.
    rules.push(...up.map((r) => ({ chain, expr: [match(client(vs), `@${persistSetOf(vs, r)}`), jump(pickChainOf(vs, r))] })));
    last =
      selection.kind === "one"
        ? [jump(pickChainOf(vs, up[selection.real]!))]
        : [{ vmap: { key: lookupKey(selection), data: { set: selection.slots.map((s) => [slotKey(s.from, s.to), jump(pickChainOf(vs, up[s.real]!))]) } } }];
  }
  chains.push({ name: chain });
  rules.push({ chain, expr: last, comment: describe(vs) });
  const dispatch: [string, Json] =
    vs.fwmark !== undefined
      ? ["fwmarks", [vs.fwmark, jump(chain)]]
      : vs.port === 0
        ? ["services_anyport", [concat(vs.address, vs.protocol), jump(chain)]]
        : ["services", [concat(vs.address, vs.protocol, vs.port), jump(chain)]];
  return { sets, chains, rules, elements: [dispatch] };
}

/** The table's base: the three lookup maps and the two NAT chains that consult them. */
export function renderBase(): Objects {
  const lookups = [
    { name: "fwmarks", type: "mark", key: meta("mark") },
    { name: "services", type: ["ipv4_addr", "inet_proto", "inet_service"], key: concat(payload("ip", "daddr"), meta("l4proto"), payload("th", "dport")) },
    { name: "services_anyport", type: ["ipv4_addr", "inet_proto"], key: concat(payload("ip", "daddr"), meta("l4proto")) },
  ];
  const hooks = ["prerouting", "output"];
  return {
    sets: lookups.map(({ name, type }) => ({ kind: "map", name, type, map: "verdict" })),
    chains: hooks.map((hook) => ({ name: hook, type: "nat", hook, prio: PRIORITY_DSTNAT, policy: "accept" })),
    rules: hooks.flatMap((chain) => lookups.map(({ name, key }) => ({ chain, expr: [{ vmap: { key, data: `@${name}` } }], comment: MARKER }))),
    elements: [],
  };
}

const at = { family: FAMILY, table: TABLE };

function setBody(s: SetDef): Record<string, Json> {
  const { kind: _, ...body } = s;
  return { ...at, ...body };
}

const addSet = (s: SetDef): Command => ({ add: { [s.kind]: setBody(s) } });
const addChain = (c: ChainDef): Command => ({ add: { chain: { ...at, ...c } } });
const addRule = (r: RuleDef): Command => ({ add: { rule: { ...at, ...r } } });
function elementCommand(op: "add" | "delete", map: string, elem: Json[]): Command {
  const element = { element: { ...at, name: map, elem } };
  return op === "add" ? { add: element } : { delete: element };
}

/** Items grouped by a key, in order. */
function groupBy<T, V>(items: T[], key: (t: T) => string, value: (t: T) => V): Map<string, V[]> {
  const out = new Map<string, V[]>();
  for (const t of items) {
    const k = key(t);
    const list = out.get(k);
    if (list) list.push(value(t));
    else out.set(k, [value(t)]);
  }
  return out;
}

function merge(parts: Objects[]): Objects {
  return { sets: parts.flatMap((p) => p.sets), chains: parts.flatMap((p) => p.chains), rules: parts.flatMap((p) => p.rules), elements: parts.flatMap((p) => p.elements) };
}

/** The whole table for `services` (as `effective` returns them), from nothing, as one batch. */
export function render(services: VirtualService[]): Command[] {
  const all = merge([renderBase(), ...services.map(renderService)]);
  const byMap = groupBy(all.elements, ([map]) => map, ([, elem]) => elem);
  return [
    { add: { table: { family: FAMILY, name: TABLE } } },
    ...all.sets.map(addSet),
    ...all.chains.map(addChain),
    ...all.rules.map(addRule),
    ...[...byMap].map(([map, elem]) => elementCommand("add", map, elem)),
  ];
}

/** Replace whatever table is there with the one for `services`, in one batch. */
export function renderReplace(services: VirtualService[], exists: boolean): Command[] {
  return [...(exists ? [{ delete: { table: { family: FAMILY, name: TABLE } } }] : []), ...render(services)];
}

/** JSON text with every object's keys in order, so that equal objects written in another key order compare equal. */
function canonical(x: Json): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(",")}]`;
  if (x === null || typeof x !== "object") return JSON.stringify(x) ?? "null";
  const keys = Object.keys(x).filter((k) => (x as Record<string, Json>)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((x as Record<string, Json>)[k])}`).join(",")}}`;
}

const isPersistSet = (s: SetDef) => s.kind === "set";

/**
 * The commands that turn the table of `before` into that of `after` for the
 * services named in `keys` (both maps by key, as `effective` returns them).
 * Only those services' objects are touched: a changed service's chains are
 * flushed and refilled (conntrack keeps every established connection's NAT,
 * so those connections continue); its persistence sets are kept, with their
 * clients, unless persistence itself changed or the server left.
 */
export function renderChanges(before: Map<string, VirtualService>, after: Map<string, VirtualService>, keys: Iterable<string>): Command[] {
  const unlink: Command[] = [];
  const flush: Command[] = [];
  const drop: Command[] = [];
  const dropSets: Command[] = [];
  const create: Command[] = [];
  const createChains: Command[] = [];
  const fill: Command[] = [];
  const link: Command[] = [];
  for (const key of keys) {
    const b = before.get(key);
    const a = after.get(key);
    const old = b ? renderService(b) : undefined;
    const now = a ? renderService(a) : undefined;
    const keepSets = b && a && samePersistence(b.persistence, a.persistence);
    const oldSets = new Map((old?.sets ?? []).map((s) => [s.name, s]));
    const newSets = new Map((now?.sets ?? []).map((s) => [s.name, s]));
    const newChains = new Set((now?.chains ?? []).map((c) => c.name));
    if (old && !now) unlink.push(...old.elements.map(([map, elem]) => elementCommand("delete", map, [(elem as Json[])[0]])));
    for (const c of old?.chains ?? []) {
      flush.push({ flush: { chain: { ...at, name: c.name } } });
      if (!newChains.has(c.name)) drop.push({ delete: { chain: { ...at, name: c.name } } });
    }
    for (const s of oldSets.values()) {
      const next = newSets.get(s.name);
      const kept = next && (isPersistSet(s) ? keepSets : true);
      if (!kept) dropSets.push({ delete: { [s.kind]: { ...at, name: s.name } } });
      else if (!isPersistSet(s) && canonical(s.elem ?? []) !== canonical(next.elem ?? [])) {
        flush.push({ flush: { map: { ...at, name: s.name } } });
        if (next.elem) fill.push(elementCommand("add", s.name, next.elem));
      }
    }
    for (const s of newSets.values()) {
      const old = oldSets.get(s.name);
      if (!old || (isPersistSet(s) && !keepSets)) create.push(addSet(s));
    }
    const oldChains = new Set((old?.chains ?? []).map((c) => c.name));
    for (const c of now?.chains ?? []) if (!oldChains.has(c.name)) createChains.push(addChain(c));
    fill.push(...(now?.rules ?? []).map(addRule));
    if (now && !old) link.push(...now.elements.map(([map, elem]) => elementCommand("add", map, [elem])));
  }
  return [...unlink, ...flush, ...drop, ...dropSets, ...create, ...createChains, ...fill, ...link];
}

/** What a table listing holds, by object, in a form that compares with a rendering. */
interface Image {
  sets: Map<string, string>;
  chains: Map<string, string>;
  rules: Map<string, string[]>;
}

/** The objects as text, by name; `text` is JSON.stringify (fast, key order counts) or canonical. */
function image(parts: Objects, text: (x: Json) => string): Image {
  const elements = groupBy(parts.elements, ([map]) => map, ([, elem]) => elem);
  const sets = new Map<string, string>();
  for (const s of parts.sets) {
    const elem = s.elem ?? elements.get(s.name);
    sets.set(s.name, text({ ...s, elem: isPersistSet(s) ? undefined : (elem ?? []).map(text).sort() }));
  }
  const rules = groupBy(parts.rules, (r) => r.chain, (r) => text({ expr: r.expr, comment: r.comment }));
  return { sets, chains: new Map(parts.chains.map((c) => [c.name, text(c)])), rules };
}

const sameMap = <V>(a: Map<string, V>, b: Map<string, V>, eq: (x: V, y: V) => boolean) => a.size === b.size && [...a].every(([k, v]) => b.has(k) && eq(v, b.get(k)!));

function sameImage(a: Image, b: Image): boolean {
  const str = (x: string, y: string) => x === y;
  return sameMap(a.sets, b.sets, str) && sameMap(a.chains, b.chains, str) && sameMap(a.rules, b.rules, (x, y) => x.length === y.length && x.every((r, i) => r === y[i]));
}

/** The objects of an `nft -j list table` answer. */
function listedObjects(listing: Json): { exists: boolean; parts: Objects } {
  const parts: Objects = { sets: [], chains: [], rules: [], elements: [] };
  let exists = false;
  const items = (listing as { nftables?: Json[] })?.nftables;
  for (const item of Array.isArray(items) ? items : []) {
    const [[kind, raw]] = Object.entries(item as Record<string, Record<string, Json>>) as [[string, Record<string, Json>]];
    const { family: _f, table: _t, handle: _h, ...body } = raw;
    if (kind === "table") exists = true;
    else if (kind === "set" || kind === "map") parts.sets.push({ kind, ...body } as unknown as SetDef);
    else if (kind === "chain") parts.chains.push(body as unknown as ChainDef);
    else if (kind === "rule") parts.rules.push(body as unknown as RuleDef);
  }
  return { exists, parts };
}

const DESCRIPTOR_RE = new RegExp(`^${DESCRIPTOR.replace("/", "\\/")} (\\S+) (tcp|udp) (${LOOKUP_SCHEDULERS.join("|")})(?: persist=(\\d+)(?:/(\\S+))?)?$`);
const KEY_RE = /^(?:fwmark:(\d+)|(tcp|udp):([0-9.]+):(\d+))$/;

/** One service back from its chain's descriptor and its record map; undefined when they do not read as Tandem wrote them. */
function parseService(record: SetDef, last: RuleDef | undefined): VirtualService | undefined {
  const d = DESCRIPTOR_RE.exec(last?.comment ?? "");
  const k = d && KEY_RE.exec(d[1]!);
  if (!d || !k) return undefined;
  const reals: RealServer[] = [];
  for (const e of record.elem ?? []) {
    const [key, weight] = e as [{ concat?: [string, number] }, number];
    if (!key.concat || typeof weight !== "number") return undefined;
    reals.push({ address: key.concat[0], port: key.concat[1], weight, forwarding: "nat" });
  }
  const fwmark = k[1] === undefined ? undefined : Number(k[1]);
  const vs: VirtualService = {
    key: d[1]!,
    protocol: d[2] as Protocol,
    address: k[3] ?? "0.0.0.0",
    port: Number(k[4] ?? 0),
    ...(fwmark === undefined ? {} : { fwmark }),
    scheduler: d[3] as LookupScheduler,
    forwarding: "nat",
    ...(d[4] === undefined ? {} : { persistence: { timeoutMs: Number(d[4]) * 1000, ...(d[5] === undefined ? {} : { netmask: d[5] }) } }),
    reals: reals.sort(compareReals),
  };
  return vs.key === serviceKey(vs) && !modelProblems([vs]).length ? vs : undefined;
}

export interface Listed {
  /** Whether the table is there at all. */
  exists: boolean;
  /** The services its records describe, in key order. */
  services: VirtualService[];
  /** Whether the table is exactly what those services render to: else it is replaced whole. */
  consistent: boolean;
}

/** Read a `nft -j list table ip tandem_lb` answer back into the services it holds. */
export function parseListing(listing: Json): Listed {
  const { exists, parts } = listedObjects(listing);
  const lastRule = new Map(parts.rules.map((r) => [r.chain, r]));
  const services: VirtualService[] = [];
  let readable = true;
  for (const s of parts.sets) {
    if (s.kind !== "map" || !s.name.startsWith("reals-")) continue;
    const vs = parseService(s, lastRule.get(`vs-${s.name.slice("reals-".length)}`));
    if (vs && nameOf(vs.key) === s.name.slice("reals-".length)) services.push(vs);
    else readable = false;
  }
  services.sort((a, b) => (a.key < b.key ? -1 : 1));
  const rendered = merge([renderBase(), ...services.map(renderService)]);
  // Objects are rendered in the key order nft lists them in, so plain JSON text mostly decides; key order alone never makes a difference.
  const same = () => sameImage(image(parts, JSON.stringify), image(rendered, JSON.stringify)) || sameImage(image(parts, canonical), image(rendered, canonical));
  const consistent = exists && readable && services.length <= MAX_SERVICES && same();
  return { exists, services, consistent };
}
