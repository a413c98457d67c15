/**
 * A Heartbeat v1 setup (haresources, and optionally ha.cf, authkeys and a
 * hosts file) as one Tandem config. Pure: texts in, TOML and findings out; the
 * CLI (cmd/import.ts) reads the files. Nothing is written when an input has an
 * error; what has no counterpart is a note or a warning, in the output's
 * header and on stderr; what the files do not say is a TODO with a
 * placeholder that `tandem check` refuses.
 */
import { formatDuration } from "../../core/duration.ts";
import { NAME_PATTERN } from "../../core/config/primitives.ts";
import { HEARTBEAT_PORT } from "../../modules/heartbeat/config.ts";
import { MAX_RESOURCES, ResourceSchema } from "../../modules/resources/config.ts";
import { parseDuration } from "../../core/duration.ts";
import { formatIpv4, networkOf, overlaps, parseIpv4 } from "../../lab/topology.ts";
import { TomlWriter, type TomlValue } from "../toml.ts";
import { checkAuthkeys } from "./authkeys.ts";
import { at, formatFinding, type Finding } from "./findings.ts";
import { parseHaCf, type HaCf, type Medium } from "./hacf.ts";
import { parseHaresources, resourceOf } from "./haresources.ts";
import type { Mapped } from "./scripts.ts";

export interface Source {
  file: string;
  text: string;
}

export interface HeartbeatFiles {
  haresources: Source;
  haCf?: Source;
  /** With the file's mode: Heartbeat refused an authkeys others may read. */
  authkeys?: Source & { mode: number };
  /** /etc/hosts or the like: which ucast address is which node's. */
  hosts?: Source;
}

export interface ImportResult {
  /** The config; undefined when an input had an error. */
  toml?: string;
  findings: Finding[];
  summary: { nodes: number; groups: number; resources: number };
}

/** Heartbeat's name for a cluster that names none. */
const HEARTBEAT_CLUSTER = "linux-ha";
const KEY_FILE = "cluster.key";
const NAME_RE = new RegExp(NAME_PATTERN);
const NAME_MAX = 31;

/** A valid Tandem name from any text: lower case, '-' for the rest, starting with a letter. */
function nameFrom(text: string, prefix: string): string {
  let s = text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  if (!/^[a-z]/.test(s)) s = s ? `${prefix}-${s}` : prefix;
  return s.slice(0, NAME_MAX).replace(/-+$/, "");
}

/** Names that must be unique among themselves (resources and groups share one set). */
class Names {
  private readonly taken = new Set<string>();

  unique(base: string): string {
    let name = base;
    for (let k = 2; this.taken.has(name); k++) name = `${base.slice(0, NAME_MAX - String(k).length - 1).replace(/-+$/, "")}-${k}`;
    this.taken.add(name);
    return name;
  }
}

/** Host names to IPv4 addresses, in file order, names in lower case. */
function parseHosts(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split(/\r?\n/)) {
    const [address, ...names] = raw.replace(/#.*/, "").trim().split(/\s+/);
    if (!address || parseIpv4(address) === undefined) continue;
    for (const n of names) out.set(n.toLowerCase(), [...(out.get(n.toLowerCase()) ?? []), address]);
  }
  return out;
}

interface NodeOut {
  /** Heartbeat's name (lower case) and Tandem's. */
  heartbeat: string;
  name: string;
  address?: string;
  source?: string;
  todo?: string;
}

interface LinkOut {
  name: string;
  kind: Medium["kind"];
  iface: string;
  group?: string;
  ttl?: number;
  addresses?: Record<string, string>;
  source: string;
}

interface GroupOut {
  name: string;
  line: number;
  text: string;
  preferred: string;
  members: Array<{ name: string; mapped: Mapped; token: string }>;
  skipped: string[];
}

/** Heartbeat's defaults for timers ha.cf leaves out (its config.c). */
function heartbeatTimers(cf: HaCf): Array<{ key: string; ms: number; source: string }> {
  const keepalive = cf.keepalive?.ms ?? 1000;
  const deadtime = cf.deadtime?.ms ?? 30_000;
  const warntime = cf.warntime?.ms ?? Math.floor(deadtime / 2);
  const initdead = cf.initdead?.ms ?? (deadtime > 10_000 ? deadtime : deadtime < 6000 ? 12_000 : 2 * deadtime);
  const src = (t: { source: string } | undefined, what: string) => t?.source ?? `Heartbeat's default ${what}`;
  return [
    { key: "interval", ms: keepalive, source: src(cf.keepalive, "keepalive") },
    { key: "warntime", ms: warntime, source: src(cf.warntime, "warntime (deadtime / 2)") },
    { key: "deadtime", ms: deadtime, source: src(cf.deadtime, "deadtime") },
    { key: "initdead", ms: initdead, source: src(cf.initdead, "initdead") },
  ];
}

/**
 * Which ucast address is which node's: a hosts entry of the node among the
 * addresses of that interface, or the one address left when every other node
 * has its own and there are as many addresses as nodes.
 */
function ucastAddresses(nodes: readonly string[], addresses: readonly string[], hosts: Map<string, string[]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of nodes) {
    const mine = (hosts.get(n) ?? []).filter((a) => addresses.includes(a));
    if (mine.length === 1 && ![...out.values()].includes(mine[0]!)) out.set(n, mine[0]!);
  }
  const left = nodes.filter((n) => !out.has(n));
  const free = addresses.filter((a) => ![...out.values()].includes(a));
  if (addresses.length === nodes.length && left.length === 1 && free.length === 1) out.set(left[0]!, free[0]!);
  return out;
}

const TIMEOUT_DEFAULT = {
  start: parseDuration(ResourceSchema.properties.start_timeout.default as string)!,
  stop: parseDuration(ResourceSchema.properties.stop_timeout.default as string)!,
  monitor: parseDuration(ResourceSchema.properties.monitor_timeout.default as string)!,
};

export function importHeartbeat(files: HeartbeatFiles): ImportResult {
  const findings: Finding[] = [];
  const hr = files.haresources;
  const cf = files.haCf ? parseHaCf(files.haCf.file, files.haCf.text, findings) : undefined;
  const auth = files.authkeys ? checkAuthkeys(files.authkeys.file, files.authkeys.text, files.authkeys.mode, findings) : undefined;
  const lines = parseHaresources(hr.file, hr.text, findings);
  const hosts = files.hosts ? parseHosts(files.hosts.text) : new Map<string, string[]>();
  const todo = (message: string) => findings.push({ level: "todo", message });

  // Nodes: ha.cf's, else the ones haresources names.
  const heartbeatNodes = cf ? cf.nodes.map((n) => n.name) : [...new Set(lines.map((l) => l.node.text.toLowerCase()))];
  if (cf && !cf.nodes.length) findings.push({ level: "error", where: cf.file, message: "no node line: Heartbeat needed every node listed" });
  if (!cf && !heartbeatNodes.length) findings.push({ level: "error", where: hr.file, message: "no node: haresources names none, and no ha.cf was given" });
  if (!cf && heartbeatNodes.length) findings.push({ level: "note", where: hr.file, message: "no ha.cf: the nodes are the ones haresources names; add any other, and the heartbeat links Heartbeat had" });
  const nodes: NodeOut[] = [];
  for (const hb of heartbeatNodes) {
    const name = nameFrom(NAME_RE.test(hb) ? hb : hb.split(".")[0]!, "node");
    const clash = nodes.find((n) => n.name === name);
    if (clash) findings.push({ level: "error", where: cf?.file ?? hr.file, message: `nodes "${clash.heartbeat}" and "${hb}" would both be named "${name}" in Tandem` });
    else {
      if (name !== hb) findings.push({ level: "note", where: cf?.file ?? hr.file, message: `node "${hb}" is named "${name}": Tandem names are lower case letters, digits and '-' (${NAME_MAX} at most); where the host name differs, run tandem with --node ${name}` });
      nodes.push({ heartbeat: hb, name });
    }
  }
  const nodeNamed = (hb: string) => nodes.find((n) => n.heartbeat === hb);

  // Groups: one a haresources line.
  const names = new Names();
  const groups: GroupOut[] = [];
  lines.forEach((l, i) => {
    const preferred = nodeNamed(l.node.text.toLowerCase());
    if (!preferred) {
      findings.push({ level: "error", where: at(hr.file, l.node.line), message: `node "${l.node.text}" is not a node of ${cf?.file ?? "the cluster"} (${heartbeatNodes.join(", ")})` });
      return;
    }
    const group: GroupOut = { name: "", line: l.line, text: [l.node.text, ...l.resources.map((r) => r.text)].join(" "), preferred: preferred.name, members: [], skipped: [] };
    for (const token of l.resources) {
      const outcome = resourceOf(token.text);
      if (outcome.kind === "error") findings.push({ level: "error", where: at(hr.file, token.line), message: outcome.message });
      else if (outcome.kind === "skipped") {
        findings.push({ level: "warning", where: at(hr.file, token.line), message: outcome.message });
        group.skipped.push(outcome.message);
      } else group.members.push({ name: names.unique(nameFrom(outcome.mapped.name, "r")), mapped: outcome.mapped, token: token.text });
    }
    if (!group.members.length) {
      if (group.skipped.length) findings.push({ level: "warning", where: at(hr.file, l.line), message: "no resource of this line is imported, so neither is the group" });
      return;
    }
    const derived = `${group.members[0]!.name}-group`;
    group.name = names.unique(derived.length <= NAME_MAX ? derived : `group-${i + 1}`);
    groups.push(group);
  });
  const resourceCount = groups.reduce((n, g) => n + g.members.length, 0);
  if (resourceCount > MAX_RESOURCES) findings.push({ level: "warning", where: hr.file, message: `${resourceCount} resources: a Tandem cluster holds at most ${MAX_RESOURCES}` });
  const summary = { nodes: nodes.length, groups: groups.length, resources: resourceCount };
  if (findings.some((f) => f.level === "error")) return { findings, summary };

  // Addresses: the nodes' and each ucast link's.
    const ucast = new Map<string, Array<Extract<Medium, { kind: "ucast" }>>>();
  for (const m of cf?.media ?? []) if (m.kind === "ucast") ucast.set(m.iface, [...(ucast.get(m.iface) ?? []), m]);
  const resolved = new Map([...ucast].map(([iface, ms]) => [iface, ucastAddresses(heartbeatNodes, [...new Set(ms.map((m) => m.address))], hosts)]));
  const hostsAddress = (hb: string): string | undefined => {
    const all = hosts.get(hb) ?? [];
    return all.find((a) => [...ucast.values()].some((ms) => ms.some((m) => m.address === a))) ?? all[0];
  };
  const primary = [...ucast.keys()].find((iface) => heartbeatNodes.every((hb) => hostsAddress(hb) === undefined || resolved.get(iface)!.get(hb) === hostsAddress(hb)));
  const hostsFile = files.hosts?.file ?? "the hosts file";
  for (const n of nodes) {
    const address = primary ? resolved.get(primary)!.get(n.heartbeat) : hostsAddress(n.heartbeat);
    if (address) {
      n.address = address;
      n.source = primary ? `ucast ${primary}${hostsAddress(n.heartbeat) ? `, ${hostsFile}` : ""}` : hostsFile;
    } else {
      const candidates = primary ? ` (which of ${[...new Set(ucast.get(primary)!.map((m) => m.address))].join(", ")}, ucast ${primary})` : "";
      n.todo = `set ${n.name}'s address: the files do not say it${candidates}`;
      todo(`nodes: ${n.todo}`);
    }
  }

  // Links.
  const linkNames = new Names();
  const links: LinkOut[] = [];
  if (cf) {
    for (const [iface, ms] of ucast) {
      const addresses: Record<string, string> = {};
      if (iface !== primary) {
        for (const n of nodes) {
          const a = resolved.get(iface)!.get(n.heartbeat);
          if (a) addresses[n.name] = a;
          else {
            addresses[n.name] = `TODO: ${n.name}'s address on ${iface}`;
            todo(`heartbeat.links: set ${n.name}'s address on ${iface} (one of ${[...new Set(ms.map((m) => m.address))].join(", ")})`);
          }
        }
      }
      links.push({ name: linkNames.unique(nameFrom(`ucast-${iface}`, "link")), kind: "ucast", iface, ...(iface !== primary ? { addresses } : {}), source: `ha.cf: ${ms.map((m) => `ucast ${iface} ${m.address}`).join(", ")}` });
    }
    for (const m of cf.media) {
      if (m.kind === "bcast") links.push({ name: linkNames.unique(nameFrom(`bcast-${m.iface}`, "link")), kind: "bcast", iface: m.iface, source: `ha.cf: bcast ${m.iface}` });
      if (m.kind === "mcast")
        links.push({ name: linkNames.unique(nameFrom(`mcast-${m.iface}`, "link")), kind: "mcast", iface: m.iface, group: m.group, ttl: m.ttl, source: `ha.cf: mcast ${m.iface} ${m.group} ${m.port} ${m.ttl} ${m.loop}` });
    }
    if (!cf.media.length) findings.push({ level: "error", where: cf.file, message: "no bcast, mcast or ucast line: Heartbeat needed at least one" });
  }
  const ucastOrBcast = cf?.media.some((m) => m.kind !== "mcast");
  const mcastPorts = [...new Set((cf?.media ?? []).flatMap((m) => (m.kind === "mcast" ? [m.port] : [])))];
  const port = cf?.udpport?.port ?? (ucastOrBcast ? HEARTBEAT_PORT : mcastPorts[0] ?? HEARTBEAT_PORT);
  for (const p of mcastPorts.filter((p) => p !== port))
    findings.push({ level: "note", where: cf!.file, message: `mcast on port ${p}: Tandem uses one port on every link, ${port}` });
  if (findings.some((f) => f.level === "error")) return { findings, summary };

  // authkeys: nothing of it is carried over.
  if (files.authkeys && auth)
    findings.push({
      level: "note",
      where: files.authkeys.file,
      message: `key ${auth.id} (${auth.method}) is not carried over: Tandem seals frames with a 256-bit key of its own (XChaCha20-Poly1305); write one with \`tandem keygen -o ${KEY_FILE}\` and copy it to every node`,
    });
  if (auth?.method === "crc") findings.push({ level: "note", where: files.authkeys!.file, message: "crc authenticated nothing; Tandem authenticates and encrypts every frame" });

  /** For an address with no interface: the ucast links whose addresses are in its subnet. */
  const routeHint = (route: Mapped["route"]): string => {
    if (!route) return "";
    const near = [...ucast].filter(([, ms]) => ms.some((m) => overlaps({ address: m.address, prefixLength: 32 }, route))).map(([iface]) => iface);
    const network = `${formatIpv4(networkOf(parseIpv4(route.address)!, route.prefixLength))}/${route.prefixLength}`;
    return near.length ? ` (ha.cf's ucast ${near.join(", ")} ${near.length === 1 ? "is" : "are"} in ${network})` : "";
  };
  const todos = new Map(groups.flatMap((g) => g.members.map((m) => [m, m.mapped.todos.map((t) => t + routeHint(m.mapped.route))] as const)));
  for (const [m, ts] of todos) for (const t of ts) todo(`resources: ${m.name}: ${t}`);
  const failback = cf?.autoFailback ?? { value: true, source: `Heartbeat's default, auto_failback legacy` };
  const w = new TomlWriter();
  w.comment(
    "A Tandem config imported from Heartbeat by `tandem import haresources`, from:",
    `  ${hr.file}`,
    ...[files.haCf, files.authkeys, files.hosts].flatMap((f) => (f ? [`  ${f.file}`] : [])),
    "",
    ...(findings.some((f) => f.level === "todo")
      ? [`Fill in every TODO below, write the cluster key (tandem keygen -o ${KEY_FILE}),`, "check the config (tandem check -c FILE) and copy both files to every node."]
      : [`Write the cluster key (tandem keygen -o ${KEY_FILE}), check the config`, "(tandem check -c FILE) and copy both files to every node."]),
  );
  const notes = findings.filter((f) => f.level !== "todo");
  if (notes.length) w.comment("", "What was not imported, or changed meaning:", ...notes.map((f) => `  ${formatFinding(f)}`));
  w.blank();
  w.key("cluster", cf?.cluster ? nameFrom(cf.cluster, "cluster") : HEARTBEAT_CLUSTER, cf?.cluster ? `ha.cf: cluster ${cf.cluster}` : "Heartbeat's default name");
  w.key("key_file", KEY_FILE, `tandem keygen -o ${KEY_FILE}${files.authkeys ? "; authkeys' secret is not used" : ""}`);
  for (const n of nodes) {
    w.table("nodes", { array: true });
    w.key("name", n.name, n.name !== n.heartbeat ? `Heartbeat's ${n.heartbeat}` : undefined);
    if (n.todo) w.comment(`TODO: ${n.todo}`);
    w.key("address", n.address ?? `TODO: ${n.name}'s address`, n.source);
  }

  w.table("heartbeat", { comment: cf ? cf.file : `no ha.cf: Tandem's defaults` });
  if (cf) {
    for (const t of heartbeatTimers(cf)) w.key(t.key, formatDuration(t.ms), t.source);
    if (port !== HEARTBEAT_PORT || cf.udpport) w.key("port", port, cf.udpport ? `udpport ${cf.udpport.port}` : "mcast's port");
    for (const l of links) {
      w.table("heartbeat.links", { array: true, comment: l.source });
      w.key("name", l.name);
      w.key("kind", l.kind);
      w.key("interface", l.iface);
      if (l.group) w.key("group", l.group);
      if (l.ttl !== undefined && l.ttl !== 1) w.key("ttl", l.ttl);
      if (l.addresses) w.key("addresses", l.addresses);
    }
    const targets = [...new Set(cf.ping.map((p) => p.address))];
    if (targets.length) {
      w.table("heartbeat.ping", { comment: "ha.cf's ping nodes" });
      w.key("targets", targets);
    }
  } else {
    w.table("heartbeat.links", { array: true, comment: "unicast to each node's address" });
    w.key("name", "lan");
    w.key("kind", "ucast");
  }

  for (const g of groups) {
    w.table("resources.group", { array: true, before: [`${hr.file}:${g.line}: ${g.text}`, ...g.skipped.map((s) => `NOT IMPORTED: ${s}`)] });
    w.key("name", g.name);
    w.key("members", g.members.map((m) => m.name));
    w.key("preferred", g.preferred);
    w.key("auto_failback", failback.value, failback.source);
    for (const m of g.members) {
      w.table("resources.resource", { array: true, before: [m.token, ...m.mapped.comments, ...todos.get(m)!.map((t) => `TODO: ${t}`)] });
      w.key("name", m.name);
      w.key("agent", m.mapped.agent);
      if (Object.keys(m.mapped.params).length) w.key("params", m.mapped.params as TomlValue);
      for (const op of ["start", "stop", "monitor"] as const) {
        const s = m.mapped.advised[op];
        if (s !== undefined && s * 1000 > TIMEOUT_DEFAULT[op]) w.key(`${op}_timeout`, formatDuration(s * 1000), "the agent's advice");
      }
    }
  }
  return { toml: w.text(), findings, summary };
}
