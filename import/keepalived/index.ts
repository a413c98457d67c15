/**
 * keepalived.conf as one Tandem config: each virtual_server becomes a service
 * and its virtual services (import/lvs.ts), each vrrp_instance a group of
 * `address` resources, and the nodes come from what the files say (router_id,
 * unicast_src_ip, unicast_peer, conditional config IDs, --peer files); the
 * heartbeat replaces VRRP. Pure but for the IncludeReader: nothing is written
 * when an input has an error.
 */
import { parseIp } from "../../core/os/ip.ts";
import { HeartbeatSchema } from "../../modules/heartbeat/config.ts";
import { MAX_RESOURCES } from "../../modules/resources/config.ts";
import { interfaceProblem } from "../../modules/resources/agents/address.ts";
import { findingLines, tidy, type Finding } from "../findings.ts";
import { writeServices, type ServiceOut } from "../lvs.ts";
import { Names, nameFrom } from "../names.ts";
import { TomlWriter } from "../toml.ts";
import { GLOBAL_DEFS_KEYWORDS, ROOT, SYNC_GROUP, VRRP_INSTANCE, globalDefsReason } from "./keywords.ts";
import { parseKeepalived, statementText, type IncludeReader, type Statement } from "./parse.ts";
import { keyword, Reader, where } from "./read.ts";
import { virtualServer, virtualServerGroup, type LvsContext } from "./virtual.ts";

export type { IncludeReader } from "./parse.ts";

export interface KeepalivedFiles {
  /** The keepalived.conf to import. */
  file: string;
  /** The other nodes' keepalived.conf: their names, priorities and addresses. */
  peers: readonly string[];
  reader: IncludeReader;
}

export interface ImportResult {
  /** The config; undefined when an input had an error. */
  toml?: string;
  findings: Finding[];
  /** What was imported, counted: "2 nodes, 3 virtual services, ...". */
  summary: string;
}

const CLUSTER = "keepalived";
/** The director resource's name, after the addresses of the group it follows. */
const DIRECTOR = "director";
const KEY_FILE = "cluster.key";
const VIP_FLAGS = ["home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track", "use_vmac"];
const VIP_OPTIONS = ["brd", "broadcast", "dev", "scope", "label", "peer", "preferred_lft", "track_group"];
/** VRRP's priority where an instance gives none. */
const DEFAULT_PRIORITY = 100;
/** The longest address label the kernel takes. */
const LABEL_MAX = 15;

interface Vip {
  s: Statement;
  cidr: string;
  address: string;
  iface?: string;
  label?: string;
  excluded: boolean;
}

/** The IPVS connection sync keepalived ran: global_defs' lvs_sync_daemon, or a vrrp_instance's lvs_sync_daemon_interface. */
interface SyncOut {
  s: Statement;
  iface: string;
  /** The vrrp_instance whose MASTER ran the master daemon (the others a backup one). */
  instance?: string;
  id?: number;
  port?: number;
  group?: string;
}

const OLD_SPELLING = "lvs_sync_daemon_inteface, keepalived 1's spelling, is read as lvs_sync_daemon_interface (keepalived 2.2 skips it as unknown)";

/** lvs_sync_daemon's options after the interface and instance, as keepalived reads them. */
const SYNC_OPTIONS = ["id", "maxlen", "port", "ttl", "group"];

/** `lvs_sync_daemon IF INSTANCE [id N] [maxlen N] [port N] [ttl N] [group ADDRESS]` (global_defs). */
function lvsSyncDaemon(r: Reader, s: Statement): SyncOut | undefined {
  const words = s.words.slice(1).map((w) => w.text);
  const usage = "lvs_sync_daemon IF VRRP_INSTANCE [id N] [maxlen N] [port N] [ttl N] [group ADDRESS]";
  const iface = words[0];
  if (iface === undefined) return r.skipped(s, `lvs_sync_daemon takes an interface (${usage})`), undefined;
  const problem = interfaceProblem(iface);
  if (problem) return r.error(s, `interface ${problem}`), undefined;
  const out: SyncOut = { s, iface };
  let i = 1;
  if (words[i] !== undefined && !SYNC_OPTIONS.includes(words[i]!)) out.instance = words[i++];
  for (; i < words.length; i += 2) {
    const [k, v] = [words[i]!, words[i + 1]];
    if (!SYNC_OPTIONS.includes(k) || v === undefined) {
      r.warning(s, `"${k}"${v === undefined ? " without a value" : ""} is not an option of lvs_sync_daemon (${usage}): keepalived skipped it, and so does the import`);
      continue;
    }
    if (k === "id") out.id = r.uint(s, v, "lvs_sync_daemon's id", 0, 255);
    else if (k === "port") out.port = r.uint(s, v, "lvs_sync_daemon's port", 1, 65535);
    else if (k === "group") out.group = r.address(s, v, "lvs_sync_daemon's group");
    else r.note(s, `${k} ${v} is not imported: the kernel's default (sync messages up to the interface's MTU, TTL 1)`);
  }
  return out;
}

interface Instance {
  s: Statement;
  name: string;
  sync?: SyncOut;
  iface?: string;
  priority?: number;
  state?: string;
  nopreempt?: Statement;
  /** This node's address, and the keyword that gave it. */
  src?: { address: string; keyword: string };
  peers: string[];
  vips: Vip[];
}

/** One node's reading of the configuration: the main file, a config ID of it, or a --peer file. */
interface View {
  /** How messages name it: "keepalived.conf", "config ID lb1", "peer lb2.conf". */
  label: string;
  /** The node's name, from the config ID or router_id. */
  node?: { name: string; source: string };
  instances: Instance[];
  /** The text of its LVS statements, to tell whether the nodes agree. */
  lvs: string;
}

/** A virtual_ipaddress line: ADDRESS[/PREFIX] [dev IF] [label L] [brd B] [scope S] ... */
function vip(r: Reader, s: Statement, inst: { iface?: string }, excluded: boolean): Vip | undefined {
  const words = s.words.map((w) => w.text);
  const [addr, prefixText] = words[0]!.split("/");
  const bytes = parseIp(addr!);
  if (!bytes || s.block) return r.skipped(s, `"${words[0]}" is not an address (ADDRESS[/PREFIX] [dev IF] [label LABEL] ...)`), undefined;
  const max = bytes.length === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) && Number(prefixText) >= 1 && Number(prefixText) <= max ? Number(prefixText) : undefined;
  if (prefix === undefined) return r.skipped(s, `"${prefixText}" is not a prefix length from 1 to ${max}`), undefined;
  const out: Vip = { s, address: addr!, cidr: `${addr}/${prefix}`, excluded };
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (VIP_FLAGS.includes(w)) {
      if (w === "use_vmac") r.warning(s, `${w}: Tandem puts an address on the interface itself, with the interface's MAC address`);
      else r.note(s, `${w} is not imported: the address agent adds an address with the kernel's defaults`);
    } else if (VIP_OPTIONS.includes(w)) {
      const v = words[++i];
      if (v === undefined) return r.skipped(s, `${w} takes a value`), undefined;
      if (w === "dev") out.iface = v;
      else if (w === "label") out.label = v;
      else if (w === "brd" || w === "broadcast") r.note(s, `${w} ${v} is not imported: the address agent gives an IPv4 address its subnet's broadcast`);
      else if (w === "peer") r.warning(s, `peer ${v} is not imported: the address agent adds an address with no peer`);
      else r.note(s, `${w} ${v} is not imported: the address agent adds an address with the kernel's defaults`);
    } else r.warning(s, `unknown option "${w}" of a virtual address (dev, label, brd, scope, peer, ...): keepalived skipped the option, and so does the import`);
  }
  const iface = out.iface ?? inst.iface;
  const problem = iface === undefined ? undefined : interfaceProblem(iface);
  if (problem) return r.error(s, `interface ${problem}`), undefined;
  if (out.label !== undefined && (bytes.length !== 4 || out.label.length > LABEL_MAX)) {
    r.note(s, `label ${out.label} is not imported: ${bytes.length !== 4 ? "an IPv6 address has no label" : `a label is at most ${LABEL_MAX} bytes`}`);
    delete out.label;
  }
  return out;
}

/** A vrrp_instance: its addresses, and what tells its node and preferred holder. */
function vrrpInstance(r: Reader, s: Statement): Instance | undefined {
  const block = r.block(s, "vrrp_instance NAME { interface eth0; virtual_ipaddress { ... } }");
  if (s.words.length !== 2) return r.error(s, "vrrp_instance takes one name"), undefined;
  if (!block) return undefined;
  const inst: Instance = { s, name: s.words[1]!.text, peers: [], vips: [] };
  const addressLists: Array<[Statement, boolean]> = [];
  const source = (t: Statement) => {
    const a = r.args(t, 1, 1, `${keyword(t)} ADDRESS`);
    const address = a && r.address(t, a[0]!, keyword(t));
    if (address !== undefined) inst.src ??= { address, keyword: keyword(t) };
  };
  r.walk(
    block,
    `vrrp_instance ${inst.name}`,
    {
      interface: (t) => {
        const a = r.args(t, 1, 1, "interface IF");
        const problem = a && interfaceProblem(a[0]!);
        if (problem) r.error(t, `interface ${problem}`);
        else if (a) inst.iface = a[0];
      },
      priority: (t) => {
        const a = r.args(t, 1, 1, "priority 1-255");
        inst.priority = a && r.uint(t, a[0]!, "priority", 1, 255);
      },
      state: (t) => {
        const a = r.args(t, 1, 1, "state MASTER|BACKUP");
        if (a && a[0] !== "MASTER" && a[0] !== "BACKUP") r.skipped(t, `state "${a[0]}" is not MASTER or BACKUP`);
        else if (a) {
          inst.state = a[0];
          r.notImported(t, ["note", "no node starts as the holder; the group goes to its preferred node"]);
        }
      },
      nopreempt: (t) => {
        if (r.args(t, 0, 0, "nopreempt")) inst.nopreempt = t;
      },
      preempt: (t) => {
        if (r.args(t, 0, 0, "preempt")) delete inst.nopreempt;
      },
      preempt_delay: (t) => r.notImported(t, ["note", "Tandem moves a group back to its preferred node as soon as it can (auto_failback)"]),
      advert_int: (t) =>
        r.notImported(t, ["note", "VRRP's adverts are replaced by the heartbeat: [heartbeat] interval and deadtime say how soon a dead node's groups move (VRRP took about three adverts)"]),
      virtual_router_id: (t) => r.notImported(t, ["note", "Tandem's frames carry the cluster's name instead"]),
      authentication: (t) => r.notImported(t, ["note", "VRRP's password is not carried over: Tandem seals its frames with the cluster key (tandem keygen)"]),
      auth_hmac: (t) => r.notImported(t, ["note", "VRRP's key is not carried over: Tandem seals its frames with the cluster key (tandem keygen)"]),
      unicast_src_ip: source,
      mcast_src_ip: source,
      unicast_peer: (t) => {
        for (const p of r.block(t, "unicast_peer { ADDRESS ... }") ?? []) {
          if (p.block || (p.words.length !== 1 && !["min_ttl", "max_ttl"].includes(p.words[1]?.text ?? ""))) {
            r.skipped(p, "a unicast_peer entry is ADDRESS [min_ttl N] [max_ttl N]");
            continue;
          }
          const address = r.address(p, p.words[0]!.text, "unicast_peer");
          if (address !== undefined) inst.peers.push(address);
        }
      },
      virtual_ipaddress: (t) => addressLists.push([t, false]),
      virtual_ipaddress_excluded: (t) => addressLists.push([t, true]),
      lvs_sync_daemon_interface: (t) => {
        const a = r.args(t, 1, 1, "lvs_sync_daemon_interface IF");
        if (a) inst.sync = { s: t, iface: a[0]!, instance: inst.name };
      },
      lvs_sync_daemon_inteface: (t) => {
        const a = r.args(t, 1, 1, "lvs_sync_daemon_inteface IF");
        if (!a) return;
        r.note(t, OLD_SPELLING);
        inst.sync = { s: t, iface: a[0]!, instance: inst.name };
      },
    },
    VRRP_INSTANCE,
  );
  for (const [t, excluded] of addressLists) {
    for (const line of r.block(t, `${keyword(t)} { ADDRESS/PREFIX dev IF ... }`) ?? []) {
      const v = vip(r, line, inst, excluded);
      if (v) inst.vips.push(v);
    }
  }
  if (!inst.vips.length) r.warning(s, `vrrp_instance ${inst.name} has no virtual address, so it is not imported`);
  return inst;
}

/** global_defs: router_id names the node, lvs_sync_daemon is the connection sync; everything else is a note. */
function globalDefs(r: Reader, s: Statement, view: { routerId?: { name: string; source: string }; sync?: SyncOut }): void {
  for (const t of r.block(s, "global_defs { router_id NAME }") ?? []) {
    const k = keyword(t);
    if (k === "router_id" || k === "lvs_id") {
      const a = r.args(t, 1, 1, `${k} NAME`);
      if (a) view.routerId = { name: a[0]!, source: statementText(t) };
      continue;
    }
    if (k === "lvs_sync_daemon") {
      view.sync = lvsSyncDaemon(r, t);
      continue;
    }
    if (k === "lvs_sync_daemon_interface" || k === "lvs_sync_daemon_inteface") {
      const a = r.args(t, 1, 1, `${k} IF`);
      if (!a) continue;
      if (k === "lvs_sync_daemon_inteface") r.note(t, OLD_SPELLING);
      view.sync = { s: t, iface: a[0]! };
      continue;
    }
    const reason = globalDefsReason(k);
    if (reason) r.notImported(t, reason);
    else r.unknown(t, "global_defs", ["router_id", ...GLOBAL_DEFS_KEYWORDS]);
  }
}

/** vrrp_sync_group: instances that move together. */
function syncGroup(r: Reader, s: Statement): { s: Statement; members: string[] } | undefined {
  const out = { s, members: [] as string[] };
  if (s.words.length !== 2) r.error(s, "vrrp_sync_group takes one name");
  r.walk(
    r.block(s, "vrrp_sync_group NAME { group { VI_1 VI_2 } }") ?? [],
    `vrrp_sync_group ${s.words[1]?.text ?? ""}`,
    {
      group: (t) => {
        for (const m of r.block(t, "group { VI_1 VI_2 }") ?? []) out.members.push(...m.words.map((w) => w.text));
      },
    },
    SYNC_GROUP,
  );
  return out;
}

/** The SSL block: what SSL_GET presented and trusted. */
function sslBlock(r: Reader, s: Statement, https: () => boolean): void {
  const given = new Set<string>();
  r.walk(r.block(s, "SSL { ca FILE; certificate FILE; key FILE }") ?? [], "SSL", Object.fromEntries(["password", "ca", "certificate", "key"].map((k) => [k, () => given.add(k)])));
  if (!https()) r.note(s, "SSL is not imported: no SSL_GET check uses it");
  else if (given.has("certificate") || given.has("key")) r.warning(s, "SSL's certificate and key are not imported: Tandem's https check presents no client certificate");
  else r.note(s, "SSL is not imported: Tandem's https check verifies no certificate (verify_tls = false), as keepalived's SSL_GET did not");
}

interface Interpreted {
  view: View;
  routerId?: { name: string; source: string };
  sync?: SyncOut;
  services: ServiceOut[];
  syncGroups: Array<{ s: Statement; members: string[] }>;
}

const LVS_KEYWORDS = ["virtual_server", "virtual_server_group"];

function lvsText(statements: readonly Statement[]): string {
  const text = (s: Statement): string => `${statementText(s)}${s.block ? ` { ${s.block.map(text).join("; ")} }` : ""}`;
  return statements.filter((s) => LVS_KEYWORDS.includes(keyword(s))).map(text).join("\n");
}

/** One view's statements; the LVS part only when `lvs` (the main view's). */
function interpret(r: Reader, label: string, id: string | undefined, statements: readonly Statement[], lvs: LvsContext | undefined): Interpreted {
  const out: Interpreted = { view: { label, instances: [], lvs: lvsText(statements) }, services: [], syncGroups: [] };
  for (const s of statements.filter((s) => keyword(s) === "virtual_server_group")) if (lvs) virtualServerGroup(r, s, lvs);
  const ssl: Statement[] = [];
  r.walk(
    statements,
    "the top level",
    {
      global_defs: (s) => globalDefs(r, s, out),
      vrrp_instance: (s) => {
        const inst = vrrpInstance(r, s);
        if (inst) out.view.instances.push(inst);
      },
      vrrp_sync_group: (s) => {
        const g = syncGroup(r, s);
        if (g) out.syncGroups.push(g);
      },
      virtual_server_group: () => {},
      virtual_server: (s) => {
        const svc = lvs && virtualServer(r, s, lvs);
        if (svc) out.services.push(svc);
      },
      SSL: (s) => ssl.push(s),
    },
    ROOT,
  );
  for (const s of ssl) sslBlock(r, s, () => lvs?.https ?? false);
  const name = id ?? out.routerId?.name;
  if (name !== undefined) out.view.node = { name, source: id !== undefined ? `config ID ${id}` : out.routerId!.source };
  return out;
}

interface NodeOut {
  name?: string;
  source?: string;
  /** Why the name is not known. */
  unnamed?: string;
  address?: string;
  addressSource?: string;
}

/** The nodes: one a view, then each unicast peer no view is, then a placeholder peer when VRRP had one. */
function nodesOf(r: Reader, views: readonly View[]): NodeOut[] {
  const nodes: NodeOut[] = [];
  const names = new Set<string>();
  for (const v of views) {
    const src = v.instances.find((i) => i.src)?.src;
    const address = src?.address;
    const name = v.node ? nameFrom(v.node.name, "node") : undefined;
    if (name !== undefined && names.has(name)) {
      r.error(undefined, `${v.label} names node "${name}" again`);
      continue;
    }
    if (name !== undefined) names.add(name);
    if (v.node && name !== v.node.name) r.note(undefined, `node "${v.node.name}" (${v.node.source}) is named "${name}": Tandem names are lower case letters, digits and '-' (31 at most); where the host name differs, run tandem with --node ${name}`);
    const ipv4 = address !== undefined && !address.includes(":");
    if (src && !ipv4) r.note(undefined, `${v.label}: ${src.keyword} ${address} is not a node address: Tandem's nodes have IPv4 addresses`);
    nodes.push({
      ...(name !== undefined ? { name, source: v.node!.source } : { unnamed: `${v.label} has no router_id (keepalived took the host name)` }),
      ...(ipv4 ? { address, addressSource: `${v.label}: ${src!.keyword}` } : {}),
    });
  }
  const known = new Set(nodes.flatMap((n) => (n.address ? [n.address] : [])));
  for (const p of [...new Set(views.flatMap((v) => v.instances.flatMap((i) => i.peers)))]) {
    if (known.has(p) || p.includes(":")) continue;
    known.add(p);
    nodes.push({ address: p, addressSource: "unicast_peer", unnamed: "the files do not say it" });
  }
  if (nodes.length === 1 && views.some((v) => v.instances.length)) nodes.push({ unnamed: "keepalived's file names no peer (VRRP multicast); add every other node" });
  return nodes;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

export function importKeepalived(files: KeepalivedFiles): ImportResult {
  const findings: Finding[] = [];
  const r = new Reader(findings);
  const quiet = new Reader(findings, true);
  const main = parseKeepalived(files.file, files.reader, findings);
  const lvs: LvsContext = { groups: new Map(), services: new Names(), virtuals: new Names(), count: 0, https: false };
  const read: Interpreted[] = main.views.map((v, i) => interpret(i ? quiet : r, v.id === undefined ? files.file : `config ID ${v.id}`, v.id, v.statements, i ? undefined : lvs));
  for (const peer of files.peers) {
    const parsed = parseKeepalived(peer, files.reader, findings);
    if (parsed.views.length > 1) findings.push({ level: "error", where: peer, message: "a --peer file with conditional lines (@ID): give the file with them as the main one, alone" });
    else read.push(interpret(quiet, `peer ${peer}`, undefined, parsed.views[0]!.statements, undefined));
  }
  const first = read[0]!;
  const summary = (nodes: number, groups: number, resources: number) =>
    `${plural(nodes, "node")}, ${plural(first.services.reduce((n, s) => n + s.virtuals.length, 0), "virtual service")}, ${plural(first.services.length, "service")}, ${plural(groups, "group")}, ${plural(resources, "resource")}`;
  if (!first.services.length && !first.view.instances.length && !r.failed) findings.push({ level: "error", where: files.file, message: "no virtual_server and no vrrp_instance: nothing to import" });
  if (r.failed) return { findings: tidy(findings, main.files), summary: summary(0, 0, 0) };
  for (const other of read.slice(1)) {
    if (other.view.lvs !== first.view.lvs) r.warning(undefined, `the virtual servers of ${other.view.label} differ from ${first.view.label}'s: the import takes ${first.view.label}'s`);
  }
  const views = read.map((x) => x.view);
  const nodes = nodesOf(r, views);
  const groups = r.failed ? [] : groupsOf(r, views, first.syncGroups);
  if (r.failed) return { findings: tidy(findings, main.files), summary: summary(0, 0, 0) };
  const sync = connectionSync(r, first, groups);
  nodes.forEach((n, i) => {
    if (n.name === undefined) r.todo(`nodes: set the name of node ${i + 1}${n.address ? ` (${n.address})` : ""}: ${n.unnamed}`);
    if (n.address === undefined) r.todo(`nodes: set the address of ${n.name ?? `node ${i + 1}`}: the files do not say it`);
  });
  if (groups.length) r.note(undefined, "VRRP is replaced by Tandem's heartbeat between the nodes ([heartbeat]), and each vrrp_instance by a group of address resources that runs on one node at a time");
  const resources = groups.reduce((n, g) => n + g.members.length + (g.director ? 1 : 0), 0);
  if (resources > MAX_RESOURCES) r.warning(undefined, `${resources} virtual addresses: a Tandem cluster holds at most ${MAX_RESOURCES} resources`);
  const ordered = tidy(findings, main.files);
  return { toml: write(files, main.files, nodes, first.services, groups, sync, ordered), findings: ordered, summary: summary(nodes.length, groups.length, resources) };
}

/**
 * The connection sync, as [director] sync: the interface, sync id, group and port keepalived gave its daemons.
 * keepalived ran the master daemon where the named vrrp_instance was MASTER: a director resource joins that
 * instance's group, so the director is active (the sync's primary) where its addresses are.
 */
function connectionSync(r: Reader, first: Interpreted, groups: GroupOut[]): SyncOut | undefined {
  const all = [...(first.sync ? [first.sync] : []), ...first.view.instances.flatMap((i) => (i.sync ? [i.sync] : []))];
  // The one that names a vrrp_instance, which the director then follows; else the first.
  const sync = all.find((x) => x.instance !== undefined) ?? all[0];
  if (!sync) return undefined;
  for (const other of all.filter((x) => x !== sync)) {
    if (other.iface === sync.iface) r.note(other.s, `${statementText(other.s)}: the same connection sync as ${where(sync.s)}'s (IPVS runs one master and one backup daemon); the director follows ${sync.instance ? `vrrp_instance ${sync.instance}` : "no group"}`);
    else r.warning(other.s, `a second connection sync (${statementText(other.s)}): IPVS runs one master and one backup daemon, and the import takes ${where(sync.s)}'s, on ${sync.iface}`);
  }
  const group = sync.instance === undefined ? undefined : groups.find((g) => g.inst.name === sync.instance);
  if (group) group.director = true;
  else {
    const why = sync.instance === undefined ? "it names no vrrp_instance" : `no vrrp_instance "${sync.instance}" with addresses is imported`;
    r.warning(sync.s, `the connection sync's primary follows no group (${why}): without a director resource the director is active, and sends its connections, on every node; add a resource of agent director to the group of the virtual addresses`);
  }
  if (sync.port !== undefined && sync.group === undefined) r.note(sync.s, "port without group: the kernel's group 224.0.0.81 is written with it, as keepalived sent there");
  return sync;
}

interface GroupOut {
  inst: Instance;
  name: string;
  members: Array<{ name: string; vip: Vip; iface?: string }>;
  preferred: { value: string; comment?: string };
  autoFailback: { value: boolean; comment: string };
  with?: string;
  /** The director resource follows this group (the connection sync's master ran with its vrrp_instance). */
  director?: boolean;
}

/** A group a vrrp_instance of the main view, its preferred node the view of highest priority when every view is named. */
function groupsOf(r: Reader, views: readonly View[], syncGroups: ReadonlyArray<{ s: Statement; members: string[] }>): GroupOut[] {
  const names = new Names();
  const out: GroupOut[] = [];
  for (const inst of views[0]!.instances.filter((i) => i.vips.length)) {
    const name = names.unique(nameFrom(inst.name, "vrrp"));
    const members = inst.vips.map((v) => ({ name: names.unique(nameFrom(`ip-${v.address}`, "ip")), vip: v, ...(v.iface ?? inst.iface ? { iface: v.iface ?? inst.iface } : {}) }));
    for (const m of members.filter((m) => m.iface === undefined)) r.todo(`resources: ${m.name}: set interface: keepalived names none for ${m.vip.address}`);
    for (const v of views.slice(1)) {
      const theirs = v.instances.find((i) => i.name === inst.name);
      if (theirs && theirs.vips.map((x) => `${x.cidr} ${x.iface ?? theirs.iface}`).join() !== inst.vips.map((x) => `${x.cidr} ${x.iface ?? inst.iface}`).join()) {
        r.warning(inst.s, `vrrp_instance ${inst.name}: the addresses or interfaces of ${v.label} differ; Tandem gives one address the same interface on every node, and takes ${views[0]!.label}'s`);
      }
    }
    const ranked = views.flatMap((v) => v.instances.filter((i) => i.name === inst.name).map((i) => ({ v, p: i.priority ?? DEFAULT_PRIORITY })));
    const top = ranked.filter((x) => x.p === Math.max(...ranked.map((y) => y.p)));
    const all = ranked.map((x) => `${x.v.node ? nameFrom(x.v.node.name, "node") : x.v.label} ${x.p}`).join(", ");
    const named = ranked.length > 1 && ranked.every((x) => x.v.node);
    let preferred: GroupOut["preferred"];
    if (named && top.length === 1) preferred = { value: nameFrom(top[0]!.v.node!.name, "node"), comment: `the highest priority (${all})` };
    else {
      const why = named
        ? `two nodes share the highest priority (${all})`
        : `the node of highest priority held its addresses, and the files give only ${all}${inst.state ? ` (state ${inst.state})` : ""}; --peer FILE reads another node's keepalived.conf`;
      r.todo(`resources: group ${name}: set preferred: ${why}`);
      preferred = { value: `TODO: the node that holds ${name}` };
    }
    const autoFailback = inst.nopreempt ? { value: false, comment: "nopreempt" } : { value: true, comment: "keepalived preempts: the highest priority takes the addresses back" };
    out.push({ inst, name, members, preferred, autoFailback });
  }
  for (const g of syncGroups) {
    const inGroup = g.members.map((m) => out.find((o) => o.inst.name === m));
    g.members.forEach((m, i) => {
      if (!inGroup[i] && !views[0]!.instances.some((x) => x.name === m)) r.skipped(g.s, `vrrp_sync_group ${g.s.words[1]?.text ?? ""}: no vrrp_instance named "${m}"`);
    });
    const present = inGroup.filter((x): x is GroupOut => x !== undefined);
    for (const o of present.slice(1)) o.with = present[0]!.name;
  }
  return out;
}

/** IPVS's own multicast group for sync messages, where keepalived gave a port alone. */
const IPVS_SYNC_GROUP = "224.0.0.81";

function write(files: KeepalivedFiles, read: readonly string[], nodes: readonly NodeOut[], services: readonly ServiceOut[], groups: readonly GroupOut[], sync: SyncOut | undefined, findings: readonly Finding[]): string {
  const w = new TomlWriter();
  const todos = findings.some((f) => f.level === "todo");
  w.comment(
    "A Tandem config imported from keepalived by `tandem import keepalived`, from:",
    ...read.map((f) => `  ${f}`),
    ...files.peers.map((f) => `  ${f} (a peer's)`),
    "",
    ...(todos ? [`Fill in every TODO below, write the cluster key (tandem keygen -o ${KEY_FILE}),`, "check the config (tandem check -c FILE) and copy both files to every node."] : [`Write the cluster key (tandem keygen -o ${KEY_FILE}), check the config`, "(tandem check -c FILE) and copy both files to every node."]),
  );
  w.comment(...findingLines(findings));
  w.blank();
  w.key("cluster", CLUSTER, "keepalived names no cluster: any name, the same on every node");
  w.key("key_file", KEY_FILE, `tandem keygen -o ${KEY_FILE}`);
  nodes.forEach((n, i) => {
    w.table("nodes", { array: true });
    w.key("name", n.name ?? `TODO: node ${i + 1}'s name`, n.source);
    w.key("address", n.address ?? `TODO: ${n.name ?? `node ${i + 1}`}'s address`, n.addressSource);
  });
  if (nodes.length > 1) {
    w.table("heartbeat", { comment: `in place of VRRP; interval ${HeartbeatSchema.properties.interval.default} and deadtime ${HeartbeatSchema.properties.deadtime.default} by default` });
    w.table("heartbeat.links", { array: true, comment: "unicast to each node's address" });
    w.key("name", "lan");
    w.key("kind", "ucast");
  }
  if (sync) {
    w.table("director", { before: [`${where(sync.s)}: ${statementText(sync.s)}`] });
    const group = sync.group ?? (sync.port !== undefined ? IPVS_SYNC_GROUP : undefined);
    w.key("sync", { interface: sync.iface, ...(sync.id !== undefined ? { id: sync.id } : {}), ...(group !== undefined ? { group } : {}), ...(sync.port !== undefined ? { port: sync.port } : {}) }, "IPVS's sync daemons: master where the director is active, backup on the others");
  }
  writeServices(w, services);
  for (const g of groups) {
    w.table("resources.group", { array: true, before: [`${where(g.inst.s)}: vrrp_instance ${g.inst.name}`] });
    w.key("name", g.name);
    w.key("members", [...g.members.map((m) => m.name), ...(g.director ? [DIRECTOR] : [])]);
    w.key("preferred", g.preferred.value, g.preferred.comment);
    w.key("auto_failback", g.autoFailback.value, g.autoFailback.comment);
    for (const m of g.members) {
      w.table("resources.resource", { array: true, before: [`${where(m.vip.s)}: ${m.vip.excluded ? "virtual_ipaddress_excluded: " : ""}${statementText(m.vip.s)}`] });
      w.key("name", m.name);
      w.key("agent", "address");
      w.key("params", { address: m.vip.cidr, interface: m.iface ?? `TODO: the interface for ${m.vip.address}`, ...(m.vip.label !== undefined ? { label: m.vip.label } : {}) });
    }
    if (g.director) {
      w.table("resources.resource", { array: true, before: [`${where(sync!.s)}: the connection sync's master ran where vrrp_instance ${g.inst.name} was MASTER`] });
      w.key("name", DIRECTOR);
      w.key("agent", "director");
    }
  }
  for (const g of groups.filter((g) => g.with)) {
    w.table("resources.colocation", { array: true, comment: "vrrp_sync_group: they move together" });
    w.key("group", g.name);
    w.key("with", g.with!);
  }
  return w.text();
}

