/**
 * A Heartbeat v1 setup (haresources, and optionally ha.cf, authkeys and a
 * hosts file) as one Tandem config. Pure: texts in, TOML and findings out; the
 * CLI (cmd/import.ts) reads the files. Nothing is written when an input has an
 * error; what has no counterpart is a note or a warning, in the output's
 * header and on stderr; what the files do not say is a TODO with a
 * placeholder that `tandem check` refuses.
 */
import { formatDuration, parseDuration } from "../../core/duration.ts";
import { HEARTBEAT_PORT } from "../../modules/heartbeat/config.ts";
import { MAX_RESOURCES, ResourceSchema } from "../../modules/resources/config.ts";
import { formatIpv4, networkOf, overlaps, parseIpv4 } from "../../core/os/ip.ts";
import { TomlWriter, type TomlValue } from "../toml.ts";
import { checkAuthkeys } from "./authkeys.ts";
import { at, findingLines, type Finding } from "../findings.ts";
import { NAME_MAX, NAME_RE, Names, nameFrom } from "../names.ts";
import { HEARTBEAT_DEADTIME_MS, HEARTBEAT_KEEPALIVE_MS, parseHaCf, type HaCf, type Medium } from "./hacf.ts";
import { parseHaresources, resourceOf, type HaLine } from "./haresources.ts";
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

interface Hosts {
  file: string;
  names: Map<string, string[]>;
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
  /** Each member with its TODOs (with a hint where ha.cf gives one). */
  members: Array<{ name: string; mapped: Mapped; token: string; todos: string[] }>;
  skipped: string[];
}

/** Heartbeat's defaults for timers ha.cf leaves out (its config.c). */
function heartbeatTimers(cf: HaCf): Array<{ key: string; ms: number; source: string }> {
  const keepalive = cf.keepalive?.ms ?? HEARTBEAT_KEEPALIVE_MS;
  const deadtime = cf.deadtime?.ms ?? HEARTBEAT_DEADTIME_MS;
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

/** Heartbeat petted the watchdog without setting its timeout, so the kernel's default held: softdog's soft_margin, 60 s. */
const HEARTBEAT_WATCHDOG_TIMEOUT = "60s";

type Ucast = Map<string, Array<Extract<Medium, { kind: "ucast" }>>>;

/** ha.cf's nodes, else the ones haresources names, with valid Tandem names. */
function nodesOf(hrFile: string, cf: HaCf | undefined, lines: readonly HaLine[], findings: Finding[]): NodeOut[] {
  const joined = cf?.autojoin !== undefined && !cf.nodes.length;
  const heartbeat = cf && !joined ? cf.nodes.map((n) => n.name) : [...new Set(lines.map((l) => l.node.text.toLowerCase()))];
  const where = cf?.file ?? hrFile;
  if (cf && !heartbeat.length) findings.push({ level: "error", where, message: joined ? `no node line, and haresources names none: with autojoin ${cf.autojoin} Heartbeat took nodes as they joined; list them with node lines` : "no node line: Heartbeat needed every node listed" });
  if (joined && heartbeat.length) findings.push({ level: "note", where, message: `no node line (autojoin ${cf!.autojoin}): the nodes are the ones haresources names; add any other that joined` });
  if (!cf && !heartbeat.length) findings.push({ level: "error", where, message: "no node: haresources names none, and no ha.cf was given" });
  if (!cf && heartbeat.length) findings.push({ level: "note", where, message: "no ha.cf: the nodes are the ones haresources names; add any other, and the heartbeat links Heartbeat had" });
  // A host name's first label, or as many labels as keep the nodes apart (www.nginx1.com and www.nginx2.com
  // are www-nginx1 and www-nginx2); a clash left after that (names cut at NAME_MAX) gets a number.
  const labels = heartbeat.map((hb) => (NAME_RE.test(hb) ? [hb] : hb.split(".")));
  const namesWith = (k: number) => labels.map((l) => nameFrom(l.slice(0, k).join("-"), "node"));
  let k = 1;
  while (new Set(namesWith(k)).size < heartbeat.length && labels.some((l) => l.length > k)) k++;
  const taken = new Names();
  return namesWith(k).map((base, i) => {
    const hb = heartbeat[i]!;
    const name = taken.unique(base);
    if (name !== hb) findings.push({ level: "note", where, message: `node "${hb}" is named "${name}": Tandem names are lower case letters, digits and '-' (${NAME_MAX} at most); where the host name differs, run tandem with --node ${name}` });
    return { heartbeat: hb, name };
  });
}

/** One group a haresources line, its resources named uniquely (groups and resources share names). */
function groupsOf(hrFile: string, cf: HaCf | undefined, lines: readonly HaLine[], nodes: readonly NodeOut[], findings: Finding[]): GroupOut[] {
  const names = new Names();
  const groups: GroupOut[] = [];
  lines.forEach((l, i) => {
    const preferred = nodes.find((n) => n.heartbeat === l.node.text.toLowerCase());
    if (!preferred) {
      findings.push({ level: "error", where: at(hrFile, l.node.line), message: `node "${l.node.text}" is not a node of ${cf?.file ?? "the cluster"} (${nodes.map((n) => n.heartbeat).join(", ")})` });
      return;
    }
    const group: GroupOut = { name: "", line: l.line, text: [l.node.text, ...l.resources.map((r) => r.text)].join(" "), preferred: preferred.name, members: [], skipped: [] };
    for (const token of l.resources) {
      const outcome = resourceOf(token.text);
      if (outcome.kind === "error") findings.push({ level: "error", where: at(hrFile, token.line), message: outcome.message });
      else if (outcome.kind === "skipped") {
        findings.push({ level: "warning", where: at(hrFile, token.line), message: outcome.message });
        group.skipped.push(outcome.message);
      } else group.members.push({ name: names.unique(nameFrom(outcome.mapped.name, "r")), mapped: outcome.mapped, token: token.text, todos: [] });
    }
    if (!group.members.length) {
      if (group.skipped.length) findings.push({ level: "warning", where: at(hrFile, l.line), message: "no resource of this line is imported, so neither is the group" });
      return;
    }
    const derived = `${group.members[0]!.name}-group`;
    group.name = names.unique(derived.length <= NAME_MAX ? derived : `group-${i + 1}`);
    groups.push(group);
  });
  const count = groups.reduce((n, g) => n + g.members.length, 0);
  if (count > MAX_RESOURCES) findings.push({ level: "warning", where: hrFile, message: `${count} resources: a Tandem cluster holds at most ${MAX_RESOURCES}` });
  return groups;
}

/**
 * The nodes' addresses: from the ucast interface whose addresses are the
 * ones the hosts file gives the nodes (the first ucast interface when it gives
 * none of them), else the hosts file's; a TODO where neither says. Answers
 * that interface, whose link then needs no table of addresses.
 */
function addressNodes(nodes: NodeOut[], ucast: Ucast, resolved: Map<string, Map<string, string>>, hosts: Hosts, todo: (m: string) => void): string | undefined {
  const hostsAddress = (hb: string): string | undefined => {
    const all = hosts.names.get(hb) ?? [];
    return all.find((a) => [...ucast.values()].some((ms) => ms.some((m) => m.address === a))) ?? all[0];
  };
  const primary = [...ucast.keys()].find((iface) => nodes.every((n) => hostsAddress(n.heartbeat) === undefined || resolved.get(iface)!.get(n.heartbeat) === hostsAddress(n.heartbeat)));
  const taken = new Map<string, string>();
  for (const n of nodes) {
    const address = primary ? resolved.get(primary)!.get(n.heartbeat) : hostsAddress(n.heartbeat);
    const other = address === undefined ? undefined : taken.get(address);
    if (address && !other) {
      n.address = address;
      n.source = primary ? `ucast ${primary}${hostsAddress(n.heartbeat) ? `, ${hosts.file}` : ""}` : hosts.file;
      taken.set(address, n.name);
    } else {
      const candidates = primary ? ` (which of ${[...new Set(ucast.get(primary)!.map((m) => m.address))].join(", ")}, ucast ${primary})` : "";
      n.todo = other ? `set ${n.name}'s address: ${hosts.file} gives it ${other}'s, ${address}` : `set ${n.name}'s address: the files do not say it${candidates}`;
      todo(`nodes: ${n.todo}`);
    }
  }
  return primary;
}

/** ha.cf's media as links: one a ucast interface (with its addresses unless it is the nodes' own), one a bcast interface, one a mcast line. */
function linksOf(cf: HaCf, nodes: readonly NodeOut[], ucast: Ucast, resolved: Map<string, Map<string, string>>, primary: string | undefined, todo: (m: string) => void): LinkOut[] {
  const names = new Names();
  const links: LinkOut[] = [];
  for (const [iface, ms] of ucast) {
    const addresses: Record<string, string> = {};
    for (const n of iface === primary ? [] : nodes) {
      const a = resolved.get(iface)!.get(n.heartbeat);
      addresses[n.name] = a ?? `TODO: ${n.name}'s address on ${iface}`;
      if (!a) todo(`heartbeat.links: set ${n.name}'s address on ${iface} (one of ${[...new Set(ms.map((m) => m.address))].join(", ")})`);
    }
    links.push({ name: names.unique(nameFrom(`ucast-${iface}`, "link")), kind: "ucast", iface, ...(iface !== primary ? { addresses } : {}), source: `ha.cf: ${ms.map((m) => `ucast ${iface} ${m.address}`).join(", ")}` });
  }
  for (const m of cf.media) {
    if (m.kind === "bcast") links.push({ name: names.unique(nameFrom(`bcast-${m.iface}`, "link")), kind: "bcast", iface: m.iface, source: `ha.cf: bcast ${m.iface}` });
    if (m.kind === "mcast")
      links.push({ name: names.unique(nameFrom(`mcast-${m.iface}`, "link")), kind: "mcast", iface: m.iface, group: m.group, ttl: m.ttl, source: `ha.cf: mcast ${m.iface} ${m.group} ${m.port} ${m.ttl} ${m.loop}` });
  }
  return links;
}

/** Tandem's one heartbeat port: udpport, else Heartbeat's default when a bcast or ucast link used it, else mcast's. */
function portOf(cf: HaCf, findings: Finding[]): number {
  const mcastPorts = [...new Set(cf.media.flatMap((m) => (m.kind === "mcast" ? [m.port] : [])))];
  const port = cf.udpport?.port ?? (cf.media.some((m) => m.kind !== "mcast") ? HEARTBEAT_PORT : (mcastPorts[0] ?? HEARTBEAT_PORT));
  for (const p of mcastPorts.filter((p) => p !== port)) findings.push({ level: "note", where: cf.file, message: `mcast on port ${p}: Tandem uses one port on every link, ${port}` });
  return port;
}

/** For an address with no interface: the ucast interfaces with addresses in its subnet. */
function routeHint(route: Mapped["route"], ucast: Ucast): string {
  if (!route) return "";
  const near = [...ucast].filter(([, ms]) => ms.some((m) => overlaps({ address: m.address, prefixLength: 32 }, route))).map(([iface]) => iface);
  const network = `${formatIpv4(networkOf(parseIpv4(route.address)!, route.prefixLength))}/${route.prefixLength}`;
  return near.length ? ` (ha.cf's ucast ${near.join(", ")} ${near.length === 1 ? "is" : "are"} in ${network})` : "";
}

export function importHeartbeat(files: HeartbeatFiles): ImportResult {
  const findings: Finding[] = [];
  const failed = () => findings.some((f) => f.level === "error");
  const todo = (message: string) => findings.push({ level: "todo", message });
  const hr = files.haresources;
  const cf = files.haCf ? parseHaCf(files.haCf.file, files.haCf.text, findings) : undefined;
  const auth = files.authkeys ? checkAuthkeys(files.authkeys.file, files.authkeys.text, files.authkeys.mode, findings) : undefined;
  const lines = parseHaresources(hr.file, hr.text, findings);
  const nodes = nodesOf(hr.file, cf, lines, findings);
  const groups = groupsOf(hr.file, cf, lines, nodes, findings);
  if (cf && !cf.media.length) findings.push({ level: "error", where: cf.file, message: "no bcast, mcast or ucast line: Heartbeat needed at least one" });
  const summary = { nodes: nodes.length, groups: groups.length, resources: groups.reduce((n, g) => n + g.members.length, 0) };
  if (failed()) return { findings, summary };

  const hosts: Hosts = { file: files.hosts?.file ?? "the hosts file", names: files.hosts ? parseHosts(files.hosts.text) : new Map() };
  const ucast: Ucast = new Map();
  for (const m of cf?.media ?? []) if (m.kind === "ucast") ucast.set(m.iface, [...(ucast.get(m.iface) ?? []), m]);
  const resolved = new Map(
    [...ucast].map(([iface, ms]) => [iface, ucastAddresses(nodes.map((n) => n.heartbeat), [...new Set(ms.map((m) => m.address))], hosts.names)] as const),
  );
  const primary = addressNodes(nodes, ucast, resolved, hosts, todo);
  const links = cf ? linksOf(cf, nodes, ucast, resolved, primary, todo) : [];
  const port = cf ? portOf(cf, findings) : HEARTBEAT_PORT;
  for (const m of groups.flatMap((g) => g.members)) {
    m.todos = m.mapped.todos.map((t) => t + routeHint(m.mapped.route, ucast));
    for (const t of m.todos) todo(`resources: ${m.name}: ${t}`);
  }
  if (auth) {
    const where = files.authkeys!.file;
    findings.push({
      level: "note",
      where,
      message: `key ${auth.id} (${auth.method}) is not carried over: Tandem seals frames with a 256-bit key of its own (XChaCha20-Poly1305); write one with \`tandem keygen -o ${KEY_FILE}\` and copy it to every node`,
    });
    if (auth.method === "crc") findings.push({ level: "note", where, message: "crc authenticated nothing; Tandem authenticates and encrypts every frame" });
  }
  return { toml: write({ files, cf, nodes, links, port, groups, findings }), findings, summary };
}

function write(o: { files: HeartbeatFiles; cf: HaCf | undefined; nodes: readonly NodeOut[]; links: readonly LinkOut[]; port: number; groups: readonly GroupOut[]; findings: readonly Finding[] }): string {
  const { files, cf, findings } = o;
  const w = new TomlWriter();
  w.comment(
    "A Tandem config imported from Heartbeat by `tandem import haresources`, from:",
    ...[files.haresources, files.haCf, files.authkeys, files.hosts].flatMap((f) => (f ? [`  ${f.file}`] : [])),
    "",
    ...(findings.some((f) => f.level === "todo")
      ? [`Fill in every TODO below, write the cluster key (tandem keygen -o ${KEY_FILE}),`, "check the config (tandem check -c FILE) and copy both files to every node."]
      : [`Write the cluster key (tandem keygen -o ${KEY_FILE}), check the config`, "(tandem check -c FILE) and copy both files to every node."]),
  );
  w.comment(...findingLines(findings));
  w.blank();
  w.key("cluster", cf?.cluster ? nameFrom(cf.cluster, "cluster") : HEARTBEAT_CLUSTER, cf?.cluster ? `ha.cf: cluster ${cf.cluster}` : "Heartbeat's default name");
  w.key("key_file", KEY_FILE, `tandem keygen -o ${KEY_FILE}${files.authkeys ? "; authkeys' secret is not used" : ""}`);
  for (const n of o.nodes) {
    w.table("nodes", { array: true });
    w.key("name", n.name, n.name !== n.heartbeat ? `Heartbeat's ${n.heartbeat}` : undefined);
    if (n.todo) w.comment(`TODO: ${n.todo}`);
    w.key("address", n.address ?? `TODO: ${n.name}'s address`, n.source);
  }

  w.table("heartbeat", { comment: cf ? cf.file : `no ha.cf: Tandem's defaults` });
  if (cf) {
    for (const t of heartbeatTimers(cf)) w.key(t.key, formatDuration(t.ms), t.source);
    if (o.port !== HEARTBEAT_PORT || cf.udpport) w.key("port", o.port, cf.udpport ? `udpport ${cf.udpport.port}` : "mcast's port");
    for (const l of o.links) {
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

  if (cf?.watchdog) {
    w.table("watchdog", { comment: `${cf.file}:${cf.watchdog.line}: watchdog ${cf.watchdog.device}` });
    w.key("device", cf.watchdog.device);
    w.key("timeout", HEARTBEAT_WATCHDOG_TIMEOUT, "Heartbeat set none: softdog's default margin, the minute its sample ha.cf speaks of");
  }

  const failback = cf?.autoFailback ?? { value: true, source: `Heartbeat's default, auto_failback legacy` };
  for (const g of o.groups) {
    w.table("resources.group", { array: true, before: [`${files.haresources.file}:${g.line}: ${g.text}`, ...g.skipped.map((s) => `NOT IMPORTED: ${s}`)] });
    w.key("name", g.name);
    w.key("members", g.members.map((m) => m.name));
    w.key("preferred", g.preferred);
    w.key("auto_failback", failback.value, failback.source);
    w.key("all_or_nothing", true, "as haresources ran a line: whole or not at all");
    for (const m of g.members) {
      w.table("resources.resource", { array: true, before: [m.token, ...m.mapped.comments, ...m.todos.map((t) => `TODO: ${t}`)] });
      w.key("name", m.name);
      w.key("agent", m.mapped.agent);
      if (Object.keys(m.mapped.params).length) w.key("params", m.mapped.params as TomlValue);
      if (m.mapped.symmetrical === false) w.key("symmetrical", false, "every node keeps the director's dataplane: a move or a stop releases the address first");
      for (const op of ["start", "stop", "monitor"] as const) {
        const s = m.mapped.advised[op];
        if (s !== undefined && s * 1000 > TIMEOUT_DEFAULT[op]) w.key(`${op}_timeout`, formatDuration(s * 1000), "the agent's advice");
      }
    }
  }
  return w.text();
}
