/**
 * ha.cf as Heartbeat 3.0 read it: one directive a line, `#` to the end of a
 * line is a comment, directive names are case-sensitive, times are seconds
 * (`2`, `1.5`) or carry `ms` or `us`. Everything Tandem has a counterpart for
 * is kept; every other directive Heartbeat knew is a note saying why it is
 * not imported; anything else is an error, as Heartbeat refused it. Values
 * are split at white space, and at commas but in the directives Heartbeat
 * read as a whole line (ucast, mcast, respawn, ...).
 */
import { didYouMean } from "../../core/config/problems.ts";
import { parseIpv4 } from "../../core/os/ip.ts";
import { interfaceProblem } from "../../modules/resources/agents/address.ts";
import { WatchdogSchema } from "../../modules/watchdog/config.ts";
import { at, type Finding } from "../findings.ts";
import { readLines, type Line } from "./lines.ts";
import { table } from "../table.ts";

export interface Timer {
  ms: number;
  /** The directive as written, for comments. */
  source: string;
  line: number;
}

export type Medium =
  | { kind: "ucast"; iface: string; address: string; line: number }
  | { kind: "bcast"; iface: string; line: number }
  | { kind: "mcast"; iface: string; group: string; port: number; ttl: number; loop: number; line: number };

export interface HaCf {
  file: string;
  cluster?: string;
  /** Node names as Heartbeat kept them (lower case), in order. */
  nodes: Array<{ name: string; line: number }>;
  keepalive?: Timer;
  deadtime?: Timer;
  warntime?: Timer;
  initdead?: Timer;
  udpport?: { port: number; line: number };
  media: Medium[];
  /** Ping targets, with the ping_group they came from. */
  ping: Array<{ address: string; group?: string }>;
  autoFailback?: { value: boolean; source: string };
  ipfail: boolean;
  /** autojoin any or other: nodes joined without a node line. */
  autojoin?: string;
  /** The watchdog device Heartbeat petted at every heartbeat. */
  watchdog?: { device: string; line: number };
}

/** Heartbeat's keepalive and deadtime when ha.cf gives none. */
export const HEARTBEAT_KEEPALIVE_MS = 1000;
export const HEARTBEAT_DEADTIME_MS = 30_000;

/** Heartbeat's time syntax (cl_get_msec): seconds, or `ms`, or `us`, rounded to milliseconds. */
export function heartbeatMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d*)?|\.\d+)\s*(ms|us)?$/i.exec(text);
  if (!m) return undefined;
  const n = parseFloat(m[1]!);
  const unit = m[2]?.toLowerCase();
  return Math.round(unit === "ms" ? n : unit === "us" ? n / 1000 : n * 1000);
}

const TRUE = ["true", "on", "yes", "y", "1"];
const FALSE = ["false", "off", "no", "n", "0"];

/** Heartbeat's booleans (cl_str_to_boolean), any case. */
function heartbeatBoolean(text: string): boolean | undefined {
  const t = text.toLowerCase();
  return TRUE.includes(t) ? true : FALSE.includes(t) ? false : undefined;
}

const LOGGING = "Tandem logs JSON lines on stdout (or to a terminal), for the service manager to pass on";
const PACEMAKER = "a Pacemaker (crm) setting; Tandem is its own resource manager";

/** Directives Heartbeat knew that have no Tandem counterpart, and why. */
const NOT_IMPORTED: Readonly<Record<string, string>> = table({
  logfacility: LOGGING,
  logfile: LOGGING,
  debugfile: LOGGING,
  use_logd: LOGGING,
  conn_logd_time: LOGGING,
  syslogmsgfmt: LOGGING,
  log_badpack: "Tandem counts refused frames in a metric (tandem_heartbeat_frames_dropped_total)",
  debug: "Tandem's log level is [log] level",
  apiauth: "Tandem has no Heartbeat client API; its HTTP API takes a bearer token ([api] token_file)",
  stonith: "Heartbeat's STONITH plugins are not Tandem's: define a [[resources.fence_device]] (fence-agents drive the same devices)",
  stonith_host: "Heartbeat's STONITH plugins are not Tandem's: define a [[resources.fence_device]] (fence-agents drive the same devices)",
  serial: "Tandem's heartbeat links are UDP; a serial link has no counterpart",
  baud: "Tandem's heartbeat links are UDP; a serial link has no counterpart",
  hopfudge: "it applied to serial links only",
  mcast6: "Tandem's heartbeat links are IPv4",
  ucast6: "Tandem's heartbeat links are IPv4",
  hbaping: "Tandem's ping targets are IPv4 addresses",
  deadping: "a Tandem ping target has an interval and a timeout ([heartbeat.ping]), no dead time of its own",
  realtime: "Tandem does not change its scheduling priority",
  rtprio: "Tandem does not change its scheduling priority",
  hbgenmethod: "a Tandem node takes its incarnation from the clock at every start",
  uuidfrom: "Tandem knows nodes by their names",
  msgfmt: "Tandem's frames have one format",
  compression: "Tandem's frames are not compressed",
  compression_threshold: "Tandem's frames are not compressed",
  traditional_compression: "Tandem's frames are not compressed",
  coredumps: "core dumps are the service manager's to set",
  coreroot: "core dumps are the service manager's to set",
  memreserve: "Tandem does not preallocate memory",
  max_rexmit_delay: "Tandem does not retransmit lost heartbeats",
  env: "programs Heartbeat respawned are not imported",
  failfast: "programs Heartbeat respawned are not imported",
  use_apphbd: "Tandem does not register with apphbd",
  quorum_server: "Tandem's third vote is a node with roles = [\"arbiter\"]",
  record_config_changes: PACEMAKER,
  record_pengine_inputs: PACEMAKER,
  enable_config_writes: PACEMAKER,
  crm_daemon_dir: PACEMAKER,
  crmd_spawns_pengine: PACEMAKER,
});

/** Directives whose line is read whole; Heartbeat split the others' values at commas too. */
const WHOLE_LINE = ["ucast", "mcast", "ping_group", "respawn", "apiauth", "stonith", "stonith_host", "failfast"];

const IMPORTED = [
  "cluster", "node", "keepalive", "deadtime", "warntime", "initdead", "udpport", "ucast", "bcast", "udp", "mcast",
  "ping", "ping_group", "auto_failback", "nice_failback", "respawn", "crm", "pacemaker", "watchdog", "autojoin",
];
const KNOWN = [...IMPORTED, ...Object.keys(NOT_IMPORTED)];

/** ha.cf's text into what Tandem takes from it; problems and notes go to `findings`. */
export function parseHaCf(file: string, text: string, findings: Finding[]): HaCf {
  const cf: HaCf = { file, nodes: [], media: [], ping: [], ipfail: false };
  const error = (l: Line, message: string) => findings.push({ level: "error", where: at(file, l.line), message });
  const note = (l: Line, message: string) => findings.push({ level: "note", where: at(file, l.line), message });
  let afterMedia = false;
  for (const l of readLines(text)) {
    const [directive, ...words] = l.words as [string, ...string[]];
    const args = WHOLE_LINE.includes(directive) ? words : words.flatMap((w) => w.split(",")).filter(Boolean);
    const one = (what: string): string | undefined => {
      if (args.length === 1) return args[0];
      error(l, `${directive} takes one value (${what}), found ${args.length}`);
      return undefined;
    };
    const timer = (): Timer | undefined => {
      const v = one("a time: seconds, or with ms");
      if (v === undefined) return undefined;
      const ms = heartbeatMs(v);
      if (ms === undefined) error(l, `${directive} "${v}" is not a time (Heartbeat's syntax: 2, 1.5, 1500ms)`);
      else if (ms === 0 && (directive === "keepalive" || directive === "warntime")) error(l, `${directive} must be above 0`);
      return ms === undefined ? undefined : { ms, source: `${directive} ${v}`, line: l.line };
    };
    const ipv4 = (v: string, what: string): string | undefined => {
      if (parseIpv4(v) !== undefined) return v;
      error(l, `${directive}: "${v}" is not an IPv4 address (${what})`);
      return undefined;
    };
    const iface = (v: string): boolean => {
      const problem = interfaceProblem(v);
      if (problem) error(l, `${directive}: ${problem}`);
      return problem === undefined;
    };
    switch (directive) {
      case "cluster": {
        const v = one("the cluster's name");
        if (v !== undefined) cf.cluster = v;
        break;
      }
      case "node":
        if (!args.length) error(l, "node names no node");
        for (const a of args) {
          const name = a.toLowerCase();
          if (cf.nodes.some((n) => n.name === name)) error(l, `node "${a}" is listed twice`);
          else cf.nodes.push({ name, line: l.line });
        }
        break;
      case "keepalive":
      case "deadtime":
      case "warntime":
      case "initdead": {
        const t = timer();
        if (t) cf[directive] = t;
        break;
      }
      case "udpport": {
        const v = one("a UDP port");
        const port = v !== undefined && /^\d+$/.test(v) ? Number(v) : 0;
        if (v !== undefined && (port < 1 || port > 65535)) error(l, `udpport "${v}" is not a UDP port (1 to 65535)`);
        if (port >= 1 && port <= 65535) {
          cf.udpport = { port, line: l.line };
          if (afterMedia) note(l, `udpport comes after a bcast or ucast line, which Heartbeat then ran on its default port; Tandem uses one port on every link: ${port}`);
        }
        break;
      }
      case "ucast": {
        if (args.length !== 2) {
          error(l, `ucast takes an interface and the peer's address (ucast eth1 10.0.0.2), found ${args.length} values`);
          break;
        }
        const address = ipv4(args[1]!, "the peer's address");
        if (iface(args[0]!) && address !== undefined) cf.media.push({ kind: "ucast", iface: args[0]!, address, line: l.line });
        afterMedia = true;
        break;
      }
      case "udp":
      case "bcast":
        if (!args.length) error(l, `${directive} names no interface`);
        for (const a of args) {
          const again = cf.media.find((m) => m.kind === "bcast" && m.iface === a);
          if (again) note(l, `${directive} ${a} is given again (line ${again.line}): one broadcast link an interface`);
          else if (iface(a)) cf.media.push({ kind: "bcast", iface: a, line: l.line });
        }
        afterMedia = true;
        break;
      case "mcast": {
        if (args.length !== 5) {
          error(l, `mcast takes an interface, a group, a port, a TTL and loop (mcast eth0 239.0.0.1 694 1 0), found ${args.length} values`);
          break;
        }
        const [nic, group, port, ttl, loop] = args as [string, string, string, string, string];
        iface(nic);
        const groupOk = ipv4(group, "the multicast group") !== undefined;
        if (groupOk && !/^(22[4-9]|23\d)\./.test(group)) error(l, `mcast group ${group} is not a multicast address (224.0.0.0/4)`);
        if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) error(l, `mcast port "${port}" is not a UDP port (1 to 65535)`);
        if (!/^\d+$/.test(ttl) || Number(ttl) < 1 || Number(ttl) > 255) error(l, `mcast TTL "${ttl}" is not from 1 to 255`);
        if (loop !== "0" && loop !== "1") error(l, `mcast loop "${loop}" is not 0 or 1`);
        else if (loop === "1") note(l, "mcast loop 1 is not imported: Tandem turns multicast loopback off");
        const again = cf.media.find((m) => m.kind === "mcast" && m.iface === nic && m.group === group);
        if (again) note(l, `mcast ${nic} ${group} is given again (line ${again.line}): one link an interface and group`);
        else cf.media.push({ kind: "mcast", iface: nic, group, port: Number(port), ttl: Number(ttl), loop: Number(loop), line: l.line });
        break;
      }
      case "ping":
        if (!args.length) error(l, "ping names no address");
        for (const a of args) {
          const address = ipv4(a, "a ping node");
          if (address !== undefined) cf.ping.push({ address });
        }
        break;
      case "ping_group": {
        const [group, ...addresses] = args;
        if (!addresses.length) {
          error(l, "ping_group takes a name and its addresses (ping_group routers 10.0.0.1 10.0.0.2)");
          break;
        }
        for (const a of addresses) {
          const address = ipv4(a, "a ping node");
          if (address !== undefined) cf.ping.push({ address, group: group! });
        }
        note(l, `ping_group ${group}: its addresses are separate ping targets; Heartbeat counted the group as one node, up while any of them answered, Tandem counts each target reached`);
        break;
      }
      case "auto_failback": {
        const v = one("on, off or legacy");
        if (v === undefined) break;
        const b = v.toLowerCase() === "legacy" ? true : heartbeatBoolean(v);
        if (b === undefined) error(l, `auto_failback "${v}" is not on, off or legacy`);
        else cf.autoFailback = { value: b, source: `auto_failback ${v}` };
        break;
      }
      case "nice_failback": {
        const v = one("on or off");
        const b = v === undefined ? undefined : heartbeatBoolean(v);
        if (v !== undefined && b === undefined) error(l, `nice_failback "${v}" is not on or off`);
        if (b !== undefined) cf.autoFailback = { value: !b, source: `nice_failback ${v}, Heartbeat's auto_failback ${b ? "off" : "legacy"}` };
        break;
      }
      case "respawn": {
        const program = args[1];
        if (program === undefined) error(l, "respawn takes a user and a program (respawn hacluster /usr/lib/heartbeat/ipfail)");
        else if (program.endsWith("/ipfail") || program === "ipfail") {
          cf.ipfail = true;
          note(l, `respawn ${program} is not imported: Tandem does what ipfail did with its ping targets ([heartbeat.ping])`);
        }
        else note(l, `respawn ${program} is not imported: run it as a resource, or as a service of its own`);
        break;
      }
      case "watchdog": {
        const v = one("a watchdog device");
        if (v === undefined) break;
        if (WatchdogSchema.properties.device.pattern && new RegExp(WatchdogSchema.properties.device.pattern).test(v)) cf.watchdog = { device: v, line: l.line };
        else findings.push({ level: "warning", where: at(file, l.line), message: `watchdog ${v} is not imported: Tandem's watchdog is a device under /dev` });
        break;
      }
      case "autojoin": {
        const v = one("none, other or any");
        const mode = v?.toLowerCase();
        if (v !== undefined && mode !== "none" && mode !== "other" && mode !== "any") error(l, `autojoin "${v}" is not none, other or any`);
        else if (mode === "other" || mode === "any") {
          cf.autojoin = mode;
          note(l, `autojoin ${v} is not imported: every Tandem node is listed in the config`);
        }
        break;
      }
      case "crm":
      case "pacemaker": {
        const v = one("on, off or respawn");
        if (v !== undefined && v.toLowerCase() !== "respawn" && heartbeatBoolean(v) === undefined) error(l, `${directive} "${v}" is not on, off or respawn`);
        else if (v !== undefined && (v.toLowerCase() === "respawn" || heartbeatBoolean(v)))
          findings.push({ level: "warning", where: at(file, l.line), message: `${directive} ${v}: Heartbeat ran Pacemaker and did not read haresources; Pacemaker's CIB is not imported, only haresources is` });
        break;
      }
      default: {
        const why = NOT_IMPORTED[directive];
        if (why !== undefined) note(l, `${directive} is not imported: ${why}`);
        else {
          const guess = didYouMean(directive, KNOWN);
          error(l, `unknown directive "${directive}"${guess ? ` (did you mean "${guess}"?)` : ""}`);
        }
      }
    }
  }
  // Heartbeat's own checks of its timers (config.c), each of which made it refuse to start.
  const keepalive = cf.keepalive?.ms ?? HEARTBEAT_KEEPALIVE_MS;
  const deadtime = cf.deadtime?.ms ?? HEARTBEAT_DEADTIME_MS;
  if (deadtime <= 2 * keepalive) {
    const t = cf.deadtime ?? cf.keepalive!;
    findings.push({ level: "error", where: at(file, t.line), message: `deadtime ${deadtime} ms is not over twice keepalive ${keepalive} ms: Heartbeat refused it ("Dead time is too small compared to keepalive")` });
  }
  if (cf.warntime && (cf.warntime.ms <= keepalive || cf.warntime.ms >= deadtime)) {
    findings.push({ level: "note", where: at(file, cf.warntime.line), message: `${cf.warntime.source} is not imported: Heartbeat only logged late heartbeats by it, and Tandem's warntime lies between the interval and deadtime, so half of deadtime (Heartbeat's default) is written` });
    delete cf.warntime;
  }
  if (cf.initdead && cf.initdead.ms < deadtime)
    findings.push({ level: "error", where: at(file, cf.initdead.line), message: `initdead ${cf.initdead.ms} ms is under deadtime ${deadtime} ms: Heartbeat refused it ("Initial dead time is smaller than deadtime")` });
  if (cf.ping.length && !cf.ipfail)
    findings.push({ level: "note", where: file, message: "ping nodes without ipfail: Heartbeat only watched them; Tandem acts on its ping targets as ipfail did (a node that reaches fewer of them than its peer yields)" });
  if (cf.ipfail && !cf.ping.length) findings.push({ level: "note", where: file, message: "ipfail without ping nodes did nothing; Tandem's counterpart is [heartbeat.ping], which needs targets" });
  return cf;
}
