/**
 * drbd.conf (and drbd.d/*.res) as Tandem's [[volumes]]: each volume of a
 * resource between two nodes with a disk becomes a volume: the backing disk
 * on each node (`on`), the protocol, where the metadata lives, the resync's
 * bound and the split-brain policy. What the resources inherit is resolved
 * as drbdadm does: `common` under each resource, resource-level device, disk
 * and meta-disk and `volume` sections under each `on` section, the
 * connections' net options over the resource's. Pure but for the
 * IncludeReader: nothing is written when an input has an error.
 */
import { didYouMean } from "../../core/config/problems.ts";
import { formatIp, parseIp } from "../../core/os/ip.ts";
import { VOLUME_ALIGN } from "../../modules/replication/config.ts";
import { at, findingLines, tidy, type Finding, type Level } from "../findings.ts";
import { Names, nameFrom } from "../names.ts";
import { TomlWriter, type TomlTable } from "../toml.ts";
import {
  AFTER_SB,
  COMMON_KEYWORDS,
  FAMILIES,
  GLOBAL_KEYWORDS,
  HOST_KEYWORDS,
  NOT_CARRIED,
  PROTOCOLS,
  RESOURCE_KEYWORDS,
  SPLIT_BRAIN_SAME,
  VOLUME_KEYWORDS,
} from "./keywords.ts";
import { parseDrbd, type IncludeReader, type Statement } from "./parse.ts";

export type { IncludeReader } from "./parse.ts";

export interface DrbdFiles {
  /** drbd.conf, or one .res file. */
  file: string;
  reader: IncludeReader;
}

export interface ImportResult {
  toml?: string;
  findings: Finding[];
  summary: string;
}

/** DRBD's units: K, M, G (either case) and s (512-byte sectors); a number without one is in the option's default unit. */
const UNIT: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, s: 512 };
const KIB = 2 ** 10;
const SECTOR = 512;

interface Disks {
  device?: Statement;
  disk?: Statement;
  meta?: Statement;
  options: Statement[];
}

interface Host {
  s: Statement;
  /** The host name of `on NAME`; none for `floating ADDRESS`. */
  name?: string;
  address?: { ip: string; port: number; s: Statement };
  volumes: Map<number, Disks>;
}

interface Resource {
  s: Statement;
  name: string;
  hosts: Host[];
  volumes: Map<number, Disks>;
  /** net options (and `protocol`), the weakest first: common's, the resource's, its connections'. */
  net: Statement[];
  /** disk and syncer options, the weakest first. */
  disk: Statement[];
  stacked: boolean;
}

class Import {
  readonly findings: Finding[] = [];
  readonly names = new Names();
  readonly ports = new Set<number>();
  readonly nodes = new Map<string, string>();

  push(level: Level, s: Statement | undefined, message: string): void {
    this.findings.push({ level, ...(s ? { where: at(s.file, s.line) } : {}), message });
  }

  get failed(): boolean {
    return this.findings.some((f) => f.level === "error");
  }

  /** A keyword that drbdadm refuses where it stands. */
  unknown(s: Statement, context: string, candidates: readonly string[]): void {
    const near = didYouMean(s.words[0]!, candidates);
    this.push("error", s, `unknown keyword "${s.words[0]}" in ${context}${near ? ` (did you mean "${near}"?)` : ""}: drbdadm refuses it`);
  }

  /** The one value of `KEY VALUE;`, or an error. */
  value(s: Statement, usage: string): string | undefined {
    if (s.block || s.words.length !== 2) return this.push("error", s, `${s.words[0]} takes one value: ${usage}`), undefined;
    return s.words[1]!;
  }

  /** A section's option statements (net, disk, syncer, startup, options, handlers): each a plain `KEY [VALUE...];`. */
  options(s: Statement, into?: Statement[]): void {
    for (const o of s.block ?? []) {
      if (o.block) {
        this.push("error", o, `${o.words[0]} takes no section inside ${s.words[0]}`);
        continue;
      }
      into?.push(o);
    }
  }

  /** A note for each option statement of a section the import does not carry. */
  notCarried(statements: readonly Statement[], carried: readonly string[]): void {
    for (const o of statements) {
      const k = o.words[0]!;
      if (carried.includes(k)) continue;
      const [level, reason] = NOT_CARRIED[k] ?? ["note", "no Tandem counterpart"];
      this.push(level, o, `${k} is not carried: ${reason}`);
    }
  }
}

const NET_CARRIED = ["protocol", "after-sb-0pri", "after-sb-1pri", "after-sb-2pri"];
const DISK_CARRIED = ["resync-rate", "rate", "c-max-rate", "c-plan-ahead", "size"];

/** `address [FAMILY] IP:PORT` (an IPv6 address in brackets). */
function address(imp: Import, s: Statement, words: readonly string[]): { ip: string; port: number; s: Statement } | undefined {
  const w = FAMILIES.includes(words[0]!) ? words.slice(1) : words;
  const m = w.length === 1 ? /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(w[0]!) : null;
  const bytes = m ? parseIp(m[1] ?? m[2]!) : undefined;
  if (!m || !bytes || Number(m[3]) < 1 || Number(m[3]) > 65535) return imp.push("error", s, `address "${words.join(" ")}" is not [ipv4|ipv6] ADDRESS:PORT (an IPv6 address in brackets)`), undefined;
  return { ip: formatIp(bytes), port: Number(m[3]), s };
}

function disksOf(map: Map<number, Disks>, vnr: number): Disks {
  let d = map.get(vnr);
  if (!d) map.set(vnr, (d = { options: [] }));
  return d;
}

/** device, disk, meta-disk (and a volume's disk options) into `d`; true when the keyword was one of these. */
function diskStatement(imp: Import, s: Statement, d: Disks): boolean {
  const k = s.words[0]!;
  if (k === "disk" && s.block) imp.options(s, d.options);
  else if (k === "device") d.device = s;
  else if (k === "disk") imp.value(s, "disk /dev/sdb1; (or none)") !== undefined && (d.disk = s);
  else if (k === "meta-disk" || k === "flexible-meta-disk") d.meta = s;
  else return false;
  return true;
}

/** `volume N { ... }` into `volumes`. */
function volumeSection(imp: Import, s: Statement, volumes: Map<number, Disks>): void {
  const n = s.words[1];
  if (!s.block || s.words.length !== 2 || !/^\d{1,5}$/.test(n!) || Number(n) > 65534) return imp.push("error", s, "volume takes a number and a section: volume 0 { device minor 0; disk /dev/sdb1; meta-disk internal; }");
  const d = disksOf(volumes, Number(n));
  for (const v of s.block) if (!diskStatement(imp, v, d)) imp.unknown(v, `volume ${n}`, VOLUME_KEYWORDS);
}

function hostSection(imp: Import, s: Statement, r: Resource): void {
  if (!s.block) return imp.push("error", s, `${s.words[0]} needs a section: ${s.words[0]} NAME { ... }`);
  const floating = s.words[0] === "floating";
  const h: Host = { s, volumes: new Map() };
  if (floating) {
    const a = address(imp, s, s.words.slice(1));
    if (a) h.address = a;
  } else if (s.words.length !== 2) return imp.push("error", s, "on takes one host name: on alpha { ... }");
  else h.name = s.words[1]!;
  for (const o of s.block) {
    const k = o.words[0]!;
    if (diskStatement(imp, o, disksOf(h.volumes, 0))) continue;
    if (k === "volume") volumeSection(imp, o, h.volumes);
    else if (k === "address" && !floating) {
      const a = address(imp, o, o.words.slice(1));
      if (a) h.address = a;
    } else if (k === "node-id" || k === "proxy") imp.notCarried([o], []);
    else imp.unknown(o, `${s.words[0]} ${s.words.slice(1).join(" ")}`, HOST_KEYWORDS);
  }
  r.hosts.push(h);
}

/** `connection { host A [address ADDR:PORT] [port N]; path { ... }; net { ... } }` and `connection-mesh { hosts ...; net { ... } }`. */
function connectionSection(imp: Import, s: Statement, r: Resource): void {
  if (!s.block) return imp.push("error", s, `${s.words[0]} needs a section`);
  const hostLine = (o: Statement) => {
    const name = o.words[1];
    const h = r.hosts.find((x) => x.name === name);
    const i = o.words.indexOf("address");
    if (i > 0) {
      const a = address(imp, o, o.words.slice(i + 1, o.words.length));
      if (a && h && !h.address) h.address = a;
    }
    const p = o.words.indexOf("port");
    if (p > 0 && h?.address && /^\d+$/.test(o.words[p + 1] ?? "")) h.address = { ...h.address, port: Number(o.words[p + 1]) };
  };
  for (const o of s.block) {
    const k = o.words[0]!;
    if (k === "net") imp.options(o, r.net);
    else if (k === "disk" && o.block) imp.options(o, r.disk);
    else if (k === "host" && !o.block) hostLine(o);
    else if (k === "hosts" && !o.block) continue;
    else if (k === "path" && o.block) for (const p of o.block) p.words[0] === "host" ? hostLine(p) : imp.unknown(p, "path", ["host"]);
    else if (k === "volume" && o.block) for (const v of o.block) v.words[0] === "disk" && v.block ? imp.options(v, r.disk) : imp.unknown(v, "a connection's volume", ["disk"]);
    else imp.unknown(o, s.words[0]!, ["host", "hosts", "path", "net", "disk", "volume"]);
  }
}

function resourceSection(imp: Import, s: Statement, common: { net: Statement[]; disk: Statement[] }): Resource | undefined {
  if (!s.block || s.words.length !== 2) return imp.push("error", s, "resource takes a name and a section: resource r0 { ... }"), undefined;
  const r: Resource = { s, name: s.words[1]!, hosts: [], volumes: new Map(), net: [...common.net], disk: [...common.disk], stacked: false };
  const own = { net: [] as Statement[], disk: [] as Statement[], other: [] as Statement[] };
  for (const o of s.block) {
    const k = o.words[0]!;
    if (diskStatement(imp, o, disksOf(r.volumes, 0))) {
      if (k === "disk" && o.block) own.disk.push(...(r.volumes.get(0)!.options.splice(0)));
      continue;
    }
    if (k === "protocol") imp.value(o, "protocol C;") !== undefined && own.net.push(o);
    else if (k === "net") imp.options(o, own.net);
    else if (k === "syncer") imp.options(o, own.disk);
    else if (k === "startup" || k === "handlers" || k === "options" || k === "proxy") imp.options(o, own.other);
    else if (k === "on" || k === "floating") hostSection(imp, o, r);
    else if (k === "volume") volumeSection(imp, o, r.volumes);
    else if (k === "connection" || k === "connection-mesh") connectionSection(imp, o, r);
    else if (k === "stacked-on-top-of") r.stacked = true;
    else if (k === "ignore-on" || k === "template-file") imp.notCarried([o], []);
    else imp.unknown(o, `resource ${r.name}`, RESOURCE_KEYWORDS);
  }
  // The connections' net options were read into r.net after common's; the resource's own go between.
  r.net.splice(common.net.length, 0, ...own.net);
  r.disk.splice(common.disk.length, 0, ...own.disk);
  imp.notCarried([...own.net, ...r.net.slice(common.net.length + own.net.length)], NET_CARRIED);
  imp.notCarried([...own.disk, ...r.disk.slice(common.disk.length + own.disk.length)], DISK_CARRIED);
  imp.notCarried(own.other, []);
  for (const d of r.volumes.values()) imp.notCarried(d.options, DISK_CARRIED);
  for (const h of r.hosts) for (const d of h.volumes.values()) imp.notCarried(d.options, DISK_CARRIED);
  return r;
}

/** The last option of that name, the strongest. */
const last = (options: readonly Statement[], key: string): Statement | undefined => options.findLast((o) => o.words[0] === key);

/** A DRBD number in bytes: `unit` is the option's default unit (resync-rate KiB/s, size sectors). */
function drbdBytes(text: string, unit: number): number | undefined {
  const m = /^(\d+)([kKmMgGs]?)$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]) * (m[2] ? UNIT[m[2].toLowerCase()]! : unit);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Bytes as Tandem writes a size: the largest binary unit that divides them. */
function tandemBytes(n: number): string {
  for (const [u, f] of [["T", 2 ** 40], ["G", 2 ** 30], ["M", 2 ** 20], ["K", 2 ** 10]] as const) if (n % f === 0) return `${n / f}${u}`;
  return String(n);
}

/** The first label of a host name, as a Tandem node name. */
function nodeName(imp: Import, h: Host): string {
  if (h.name === undefined) {
    const placeholder = `TODO: the node at ${h.address?.ip ?? "?"}`;
    imp.push("todo", h.s, `a floating section names no host: write the name of the node at ${h.address?.ip} in place of "${placeholder}"`);
    return placeholder;
  }
  const label = h.name.split(".")[0]!;
  const name = nameFrom(label, "node");
  if (name !== h.name) imp.push("note", h.s, `the host ${h.name} is the node ${name}`);
  if (h.address) imp.nodes.set(name, h.address.ip);
  return name;
}

function volumes(imp: Import, r: Resource, w: TomlWriter): number {
  if (r.stacked) return imp.push("warning", r.s, `resource ${r.name} is stacked on another one (a third node): not imported, a Tandem volume is between two nodes`), 0;
  const numbers = [...new Set([...r.volumes.keys(), ...r.hosts.flatMap((h) => [...h.volumes.keys()])])].sort((a, b) => a - b);
  const explicit = numbers.filter((n) => n !== 0 || r.volumes.get(0)?.disk || r.hosts.some((h) => h.volumes.get(0)?.disk));
  let written = 0;
  for (const vnr of explicit.length ? explicit : [0]) {
    const field = (h: Host, k: "device" | "disk" | "meta") => h.volumes.get(vnr)?.[k] ?? r.volumes.get(vnr)?.[k];
    const what = `resource ${r.name}${explicit.length > 1 ? ` volume ${vnr}` : ""}`;
    let missing = false;
    for (const h of r.hosts) {
      // No disk is a diskless node (DRBD 9), but not with a meta-disk.
      if (!field(h, "disk") && field(h, "meta")) (missing = true), imp.push("error", h.s, `${what}: the ${h.name ?? "floating"} section has a meta-disk but no disk (drbdadm refuses it)`);
      if (!field(h, "device")) (missing = true), imp.push("error", h.s, `${what}: the ${h.name ?? "floating"} section has no device (drbdadm refuses it)`);
    }
    if (missing) continue;
    const diskless = (h: Host) => (field(h, "disk")?.words[1] ?? "none") === "none";
    const diskful = r.hosts.filter((h) => !diskless(h));
    if (diskful.length < 2) {
      imp.push("warning", r.s, `${what} has ${diskful.length === 1 ? "one node" : "no node"} with a disk: not imported, a Tandem volume is a replica on each of two nodes`);
      continue;
    }
    if (diskful.length > 2) imp.push("warning", r.s, `${what} has ${diskful.length} nodes with a disk: a Tandem volume is between two, so only ${diskful.slice(0, 2).map((h) => h.name).join(" and ")} are carried, not ${diskful.slice(2).map((h) => h.name ?? h.address?.ip).join(", ")}`);
    const pair = diskful.slice(0, 2);
    for (const h of r.hosts.filter((x) => !pair.includes(x))) if (diskless(h)) imp.push("note", h.s, `${h.name} has no disk (a diskless DRBD client): reach the volume over NBD from the primary instead`);
    const name = imp.names.unique(nameFrom(explicit.length > 1 ? `${r.name}-${vnr}` : r.name, "volume"));
    const comments: string[] = [];

    // The peer link's port: each host's own in DRBD, one for the volume in Tandem, and one a volume.
    const ports = pair.map((h) => h.address?.port);
    let port: number | string;
    if (ports[0] === undefined || ports[1] === undefined) {
      port = `TODO: the peer link's port of ${name}`;
      imp.push("todo", r.s, `${what}: no address names the port of its peer link: write it in place of "${port}"`);
    } else {
      if (ports[0] !== ports[1]) imp.push("warning", r.s, `${what}: the two nodes listen on ports ${ports[0]} and ${ports[1]}; a Tandem volume has one port on both nodes: ${ports[0]}`);
      let p = ports[0];
      while (imp.ports.has(p) && p < 65535) p++;
      if (p !== ports[0]) comments.push(`port ${ports[0]} is another volume's: DRBD runs a resource's volumes over one connection, Tandem each over its own`);
      imp.ports.add(p);
      port = p;
    }

    // The size: DRBD takes the backing device's unless disk { size } says it.
    const diskOptions = [...r.disk, ...(r.volumes.get(vnr)?.options ?? [])];
    const sizeS = last(diskOptions, "size");
    const sizeBytes = sizeS && drbdBytes(sizeS.words[1] ?? "", SECTOR);
    let size: string;
    if (sizeS && !sizeBytes) return imp.push("error", sizeS, `size "${sizeS.words.slice(1).join(" ")}" is not a number with an optional unit (s, K, M, G)`), written;
    if (sizeBytes) {
      const aligned = sizeBytes - (sizeBytes % VOLUME_ALIGN);
      if (aligned !== sizeBytes) imp.push("warning", sizeS, `size ${sizeS!.words[1]} is not a multiple of 4K: the volume is ${tandemBytes(aligned)}, its last ${sizeBytes - aligned} bytes are not carried`);
      size = tandemBytes(aligned);
    } else {
      size = `TODO: the size of ${field(pair[0]!, "disk")!.words[1]}`;
      imp.push("todo", r.s, `${what}: DRBD took the size of the backing devices; write it (blockdev --getsize64 ${field(pair[0]!, "disk")!.words[1]}, less DRBD's internal metadata, rounded down to 4K) in place of "${size}"`);
    }

    const protocolS = last(r.net, "protocol");
    const protocol = protocolS?.words[1]?.toUpperCase();
    if (protocolS && !PROTOCOLS.includes(protocol as (typeof PROTOCOLS)[number])) return imp.push("error", protocolS, `protocol "${protocolS.words[1]}" is not A, B or C (drbdadm refuses it)`), written;

    let splitBrain: string | undefined;
    for (const key of ["after-sb-0pri", "after-sb-1pri", "after-sb-2pri"]) {
      const s = last(r.net, key);
      if (!s) continue;
      const v = s.words[1] ?? "";
      if (!AFTER_SB[key]!.includes(v) && !(key === "after-sb-0pri" && /^discard-node-./.test(v))) return imp.push("error", s, `${key} "${v}" is not one of ${AFTER_SB[key]!.join(", ")} (drbdadm refuses it)`), written;
      if (key === "after-sb-0pri") {
        if (SPLIT_BRAIN_SAME.includes(v)) splitBrain = v;
        else imp.push("warning", s, `${key} ${v} has no counterpart: a split brain with no primary is left to the operator (split_brain = "disconnect")`);
      } else if (v !== "disconnect") imp.push("warning", s, `${key} ${v} is not carried: with a primary standing, a split brain is always left to the operator (tandem volume discard-my-data on the loser)`);
    }

    // The resync's bound: c-max-rate under DRBD's dynamic controller (c-plan-ahead > 0, its default since 8.4), else the fixed rate.
    const planAhead = last(diskOptions, "c-plan-ahead");
    const maxRate = last(diskOptions, "c-max-rate");
    const fixed = last(diskOptions, "resync-rate") ?? last(diskOptions, "rate");
    const rateS = planAhead?.words[1] === "0" ? fixed : (maxRate ?? fixed);
    let rate: string | undefined;
    if (rateS) {
      const b = drbdBytes(rateS.words[1] ?? "", KIB);
      if (b === undefined || b === 0) return imp.push("error", rateS, `${rateS.words[0]} "${rateS.words.slice(1).join(" ")}" is not a rate above 0 (a number with an optional unit K, M, G)`), written;
      rate = tandemBytes(b);
      if (rateS !== fixed && fixed) imp.push("note", fixed, `${fixed.words[0]} ${fixed.words[1]} is DRBD's first rate under its dynamic controller; Tandem's resync_rate is the bound, c-max-rate ${rateS.words[1]}`);
    }

    const metas = pair.map((h) => field(h, "meta")?.words.slice(1).join(" ") ?? "internal");
    const internal = metas.every((m) => m === "internal");
    if (!internal) {
      const s = pair.map((h) => field(h, "meta")).find((m) => m && m.words[1] !== "internal")!;
      imp.push("note", s, `meta-disk ${s.words.slice(1).join(" ")} is not carried: Tandem's external metadata is a file beside the backing device (DEVICE.tandem-meta), and its format is not DRBD's: create the volume anew`);
    }
    for (const h of pair) {
      const d = field(h, "device")!;
      imp.push("note", d, `device ${d.words.slice(1).join(" ")} is not carried: the primary serves the volume over NBD on its socket; for a block device to mount, add device = "/dev/nbdN" (the kernel's nbd module) and point the Filesystem resource at it`);
    }

    const on: TomlTable[] = pair.map((h) => ({ node: nodeName(imp, h), device: field(h, "disk")!.words[1]! }));
    w.table("volumes", { array: true, before: [`${what} (${at(r.s.file, r.s.line)})`, ...comments] });
    w.key("name", name);
    w.key("size", size);
    w.key("port", port);
    w.tables("on", on.map((value) => ({ value })));
    w.key("protocol", protocol ?? "C", protocolS ? undefined : "DRBD's default");
    w.key("metadata", internal ? "internal" : "external");
    if (rate) w.key("resync_rate", rate);
    if (splitBrain) w.key("split_brain", splitBrain);
    written++;
  }
  return written;
}

/** The config's [[volumes]] from drbd.conf, its includes, and what was not carried. */
export function importDrbd(files: DrbdFiles): ImportResult {
  const { parsed, findings: parseFindings } = parseDrbd(files.file, files.reader);
  const imp = new Import();
  imp.findings.push(...parseFindings);
  if (!parsed) return { findings: tidy(imp.findings, []), summary: "" };
  const common = { net: [] as Statement[], disk: [] as Statement[] };
  const resources: Resource[] = [];
  const seen = new Map<string, Statement>();
  for (const s of parsed.statements) {
    const k = s.words[0]!;
    if (k === "global" && s.block) {
      for (const o of s.block) GLOBAL_KEYWORDS.includes(o.words[0]!) ? imp.notCarried([o], []) : imp.unknown(o, "global", GLOBAL_KEYWORDS);
    } else if (k === "common" && s.block) {
      const other: Statement[] = [];
      for (const o of s.block) {
        const ok = o.words[0]!;
        if (ok === "protocol") imp.value(o, "protocol C;") !== undefined && common.net.push(o);
        else if (ok === "net") imp.options(o, common.net);
        else if (ok === "disk" || ok === "syncer") imp.options(o, common.disk);
        else if (COMMON_KEYWORDS.includes(ok)) imp.options(o, other);
        else imp.unknown(o, "common", COMMON_KEYWORDS);
      }
      imp.notCarried(common.net, NET_CARRIED);
      imp.notCarried(common.disk, DISK_CARRIED);
      imp.notCarried(other, []);
    } else if (k === "resource") {
      const r = resourceSection(imp, s, common);
      if (!r) continue;
      const first = seen.get(r.name);
      if (first) imp.push("error", s, `resource ${r.name} is defined twice (first at ${at(first.file, first.line)}): drbdadm refuses it`);
      else seen.set(r.name, s);
      resources.push(r);
    } else if (k.startsWith("require-drbd-module-version")) imp.notCarried([s], []);
    else imp.unknown(s, "drbd.conf", ["global", "common", "resource", "skip", "include"]);
  }
  if (imp.failed) return { findings: tidy(imp.findings, parsed.files), summary: "" };

  const body = new TomlWriter();
  let count = 0;
  for (const r of resources) count += volumes(imp, r, body);
  const found = tidy(imp.findings, parsed.files);
  if (imp.failed) return { findings: found, summary: "" };
  const head = new TomlWriter().comment(
    `Imported from ${files.file} by tandem import drbd: the [[volumes]] of the pair.`,
    "Add them to the cluster's config; the nodes named here must be member nodes in [[nodes]].",
  );
  if (imp.nodes.size) head.comment("The nodes' DRBD addresses (a Tandem volume's peer link runs on each node's cluster address):", ...[...imp.nodes].map(([n, ip]) => `  ${n}: ${ip}`));
  head.comment(...findingLines(found));
  return { toml: `${head.text()}\n${body.text()}`, findings: found, summary: `${count} volume${count === 1 ? "" : "s"}` };
}
