/**
 * ldirectord.cf as the [[services]] and [director] sections of a Tandem
 * config: each virtual= (virtual6=) block becomes a service (its real= lines
 * and one check) and its virtual service. ldirectord ran under Heartbeat,
 * which held the virtual addresses, so the output is to be appended to the
 * cluster's config (`tandem import haresources` writes one). The file is read
 * as ldirectord read it: a virtual section is the lines after virtual=
 * indented by four spaces or a tab (a blank line ends it), `#` starts a
 * comment. Pure: text in, TOML and findings out.
 */
import { formatDuration } from "../../core/duration.ts";
import { didYouMean } from "../../core/config/problems.ts";
import { formatIp, parseIp } from "../../core/os/ip.ts";
import { CheckSchema } from "../../modules/checks/config.ts";
import { SCHEDULERS } from "../../modules/director/config.ts";
import { formatIpv4, parseIpv4 } from "../../core/os/ip.ts";
import { at, findingLines, tidy, type Finding, type Level } from "../findings.ts";
import { MAX_WEIGHT } from "../../core/config/primitives.ts";
import { MAX_RANGE, MAX_REALS, MAX_VIRTUALS, serverChecks, fits, hostPort, writeServices, type Entry, type RealOut, type ServiceOut } from "../lvs.ts";
import { Names, nameFrom } from "../names.ts";
import { TomlWriter } from "../toml.ts";
import { table } from "../table.ts";

export interface ImportResult {
  /** The sections; undefined when the file had an error. */
  toml?: string;
  findings: Finding[];
  summary: string;
}

/** ldirectord's defaults (its set_defaults and virtual defaults). */
const DEFAULT_CHECK_INTERVAL_S = 10;
const DEFAULT_CHECK_TIMEOUT_S = 5;
const DEFAULT_NEGOTIATE_TIMEOUT_S = 30;
const DEFAULT_SCHEDULER = "wrr";
const MAX_SECONDS = 86_399;
/** The check's fall bound (modules/checks/config.ts). */
const MAX_FALL = CheckSchema.properties.fall.maximum!;
const FORWARDING: Readonly<Record<string, string>> = table({ gate: "dr", masq: "nat", ipip: "tun" });
const FORWARD_NAME: Readonly<Record<string, string>> = table({ dr: "gate", nat: "masq", tun: "ipip" });

/** The /etc/services names ldirectord.cf files use for ports, as getservbyname answers them. */
const SERVICE_PORTS: Readonly<Record<string, number>> = table({
  ftp: 21, ssh: 22, smtp: 25, domain: 53, http: 80, www: 80, pop3: 110, nntp: 119, imap: 143, imap2: 143, ldap: 389,
  https: 443, submission: 587, ldaps: 636, imaps: 993, pop3s: 995, "ms-sql-s": 1433, radius: 1812, mysql: 3306,
  postgresql: 5432, sip: 5060, "http-alt": 8080,
});

/** The service ldirectord checks by a virtual port, when service= is not given. */
const SERVICE_BY_PORT: Record<number, string> = {
  21: "ftp", 25: "smtp", 53: "dns", 80: "http", 110: "pop", 119: "nntp", 143: "imap", 389: "ldap", 443: "https", 587: "submission",
  636: "ldaps", 993: "imaps", 995: "pops", 1521: "oracle", 1812: "radius", 3128: "http_proxy", 3306: "mysql", 5432: "pgsql", 5060: "sip",
};

const SERVICES = ["dns", "ftp", "http", "https", "http_proxy", "imap", "imaps", "ldap", "ldaps", "mysql", "nntp", "none", "oracle", "pop", "pops", "radius", "pgsql", "simpletcp", "sip", "smtp", "submission"];
const CHECKTYPES = ["connect", "negotiate", "ping", "off", "on", "external", "external-perl"];

const EMAIL = "Tandem sends no email; its events stream from /v1/events and are logged";
const LOGGING = "Tandem logs JSON lines on stdout (or to a terminal), for the service manager to pass on";
const DAEMON = "how ldirectord ran as a daemon; Tandem is one process its service manager runs";

/** Directives with no Tandem counterpart, anywhere they may stand, and why. */
const NOT_IMPORTED: Readonly<Record<string, readonly [Level, string]>> = table({
  emailalert: ["note", EMAIL],
  emailalertfreq: ["note", EMAIL],
  emailalertstatus: ["note", EMAIL],
  emailalertfrom: ["note", EMAIL],
  smtp: ["note", EMAIL],
  logfile: ["note", LOGGING],
  monitorfile: ["note", "Tandem logs every change of a real server's state, with the check's reason, and counts them at /metrics"],
  supervised: ["note", DAEMON],
  fork: ["note", "Tandem checks every service concurrently, bounded by [director] check_concurrency"],
  autoreload: ["note", "Tandem reads its config again on `tandem reload` (SIGHUP), not by itself"],
  callback: ["note", "Tandem reads its config again on `tandem reload` (SIGHUP), not by itself"],
  execute: ["warning", "it started ldirectord for another configuration: import that one too"],
  cleanstop: ["note", "the director decides what the kernel's IPVS table holds when it stops"],
  readdquiescent: ["note", "the director decides what the kernel's IPVS table holds"],
  maintenancedir: ["warning", "servers are not put down by files in a directory: `tandem` admin commands drain a server"],
  fallbackcommand: ["warning", "a script run when every real server is down or the first is up again: Tandem runs none; its events say it"],
  checkcount: ["note", "it applied to ping checks only, which Tandem has not; fall counts failures"],
  login: ["note", "it served service checks Tandem has no counterpart for"],
  passwd: ["note", "it served service checks Tandem has no counterpart for"],
  database: ["note", "it served service checks Tandem has no counterpart for"],
  secret: ["note", "it served service checks Tandem has no counterpart for"],
  load: ["note", "Tandem has no load check"],
  schedflags: ["warning", "IPVS scheduler flags are not imported: the director sets none"],
});

/** Directives whose value is a secret: a message names the directive only. */
const SECRET = ["passwd", "secret"];

const GLOBAL_READ = ["checktimeout", "negotiatetimeout", "checkinterval", "failurecount", "fallback", "fallback6", "quiescent"];
const GLOBAL_ONLY_NOTES = ["autoreload", "callback", "logfile", "execute", "fork", "supervised", "readdquiescent", "emailalertfrom", "maintenancedir"];
const VIRTUAL_READ = [
  "real", "real6", "request", "receive", "checktype", "checkcommand", "checktimeout", "negotiatetimeout", "failurecount", "checkinterval",
  "checkport", "scheduler", "persistent", "netmask", "protocol", "ops", "service", "httpmethod", "virtualhost", "fallback", "fallback6",
  "quiescent", "servicename", "comment",
];
const VIRTUAL_NOTES = ["login", "passwd", "database", "secret", "load", "schedflags", "fallbackcommand", "emailalert", "emailalertfreq", "emailalertstatus", "monitorfile", "cleanstop", "smtp", "checkcount"];
const DEPRECATED: Readonly<Record<string, string>> = table({
  connecttimeout: "connecttimeout was replaced by negotiatetimeout (ldirectord refused it too)",
  timeout: "timeout was replaced by checktimeout and negotiatetimeout (ldirectord refused it too)",
});

interface Directive {
  line: number;
  key: string;
  value: string;
}

interface Virtual {
  line: number;
  ipv6: boolean;
  head: string;
  directives: Directive[];
}

class Ld {
  readonly findings: Finding[] = [];

  constructor(readonly file: string) {}

  /** A finding at a line of the file, or (no line) about the whole. */
  push(level: Level, line: number | undefined, message: string): void {
    this.findings.push({ level, ...(line !== undefined ? { where: at(this.file, line) } : {}), message });
  }

  error(line: number, message: string): undefined {
    this.push("error", line, message);
    return undefined;
  }

  notImported(d: Directive): void {
    const [level, why] = NOT_IMPORTED[d.key]!;
    this.push(level, d.line, `${SECRET.includes(d.key) ? d.key : `${d.key}=${d.value}`} is not imported: ${why}`);
  }

  unknown(d: Directive, where: string, known: readonly string[]): void {
    if (DEPRECATED[d.key]) return void this.error(d.line, DEPRECATED[d.key]!);
    const near = didYouMean(d.key, known);
    this.error(d.line, `unknown directive "${d.key}" ${where}${near ? ` (did you mean "${near}"?)` : ""}`);
  }

  get failed(): boolean {
    return this.findings.some((f) => f.level === "error");
  }

  seconds(d: Directive): number | undefined {
    return this.whole(d, MAX_SECONDS, " of seconds");
  }

  /** A whole number from 1 to max. */
  whole(d: Directive, max: number, unit = ""): number | undefined {
    if (/^\d+$/.test(d.value) && Number(d.value) >= 1 && Number(d.value) <= max) return Number(d.value);
    return this.error(d.line, `${d.key} "${d.value}" is not a whole number${unit} from 1 to ${max}`);
  }

  yesNo(d: Directive): boolean | undefined {
    if (d.value === "yes" || d.value === "no") return d.value === "yes";
    return this.error(d.line, `${d.key} must be yes or no, not "${d.value}"`);
  }

  /** A value ldirectord took only in double quotes (request="/"). */
  quoted(d: Directive): string | undefined {
    const m = /^"(.*)"/.exec(d.value);
    if (m) return m[1];
    return this.error(d.line, `${d.key} takes a value in double quotes (${d.key}="...")`);
  }
}

/** A port as ldirectord took one: a number, or a name from /etc/services. */
function portOf(ld: Ld, line: number, text: string): number | undefined {
  if (/^\d+$/.test(text) && Number(text) <= 65_535) return Number(text);
  if (Object.hasOwn(SERVICE_PORTS, text)) return SERVICE_PORTS[text];
  return ld.error(line, `port "${text}" is not a number, nor a service name the import knows (${Object.keys(SERVICE_PORTS).join(", ")}): write the number`);
}

/** The file's global directives and virtual sections, as ldirectord split them. */
function split(ld: Ld, text: string): { globals: Directive[]; virtuals: Virtual[] } {
  const lines = text.split(/\r?\n/);
  const globals: Directive[] = [];
  const virtuals: Virtual[] = [];
  const directive = (line: number, body: string): Directive | undefined => {
    const m = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(body);
    if (m) return { line, key: m[1]!, value: m[2]!.trim() };
    if (body.trim() === "supervised") return { line, key: "supervised", value: "yes" };
    return ld.error(line, `expected DIRECTIVE = VALUE, found "${body.trim()}"`);
  };
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const head = /^virtual(6)?\s*=\s*(.*)$/.exec(raw.replace(/#.*/, "").trimEnd());
    if (head) {
      const v: Virtual = { line: i + 1, ipv6: head[1] === "6", head: head[2]!, directives: [] };
      virtuals.push(v);
      for (; i + 1 < lines.length; i++) {
        const next = lines[i + 1]!;
        if (/^\s*#/.test(next)) continue;
        const body = /^ {4,}(.*\S)/.exec(next.replace(/#.*/, "").replace(/\t/g, "    "));
        if (!body) break;
        const d = directive(i + 2, body[1]!);
        if (d) v.directives.push(d);
      }
      continue;
    }
    const line = raw.replace(/#.*/, "");
    if (!line.trim()) continue;
    if (/^\s/.test(line)) {
      ld.error(i + 1, "an indented line outside a virtual section: ldirectord ends a section at the first line that is not indented by four spaces or a tab, a blank one too");
      continue;
    }
    const d = directive(i + 1, line);
    if (d) globals.push(d);
  }
  return { globals, virtuals };
}

interface Globals {
  checktimeout?: number;
  negotiatetimeout?: number;
  checkinterval?: number;
  failurecount?: Directive;
  fallback?: { d: Directive; server: Fallback };
  fallback6?: { d: Directive; server: Fallback };
  quiescent?: Directive;
}

function readGlobals(ld: Ld, globals: readonly Directive[]): Globals {
  const g: Globals = {};
  for (const d of globals) {
    if (d.key === "checktimeout" || d.key === "negotiatetimeout" || d.key === "checkinterval") g[d.key] = ld.seconds(d);
    else if (d.key === "failurecount") g.failurecount = ld.whole(d, MAX_FALL) === undefined ? undefined : d;
    else if (d.key === "quiescent") g.quiescent = ld.yesNo(d) === undefined ? undefined : d;
    else if (d.key === "fallback" || d.key === "fallback6") {
      const server = fallbackOf(ld, d, d.key === "fallback6");
      if (server) g[d.key] = { d, server };
    }
    else if (Object.hasOwn(NOT_IMPORTED, d.key) && (GLOBAL_ONLY_NOTES.includes(d.key) || VIRTUAL_NOTES.includes(d.key))) ld.notImported(d);
    else ld.unknown(d, "at the top of the file", [...GLOBAL_READ, ...GLOBAL_ONLY_NOTES, ...VIRTUAL_NOTES, "virtual", "virtual6"]);
  }
  return g;
}

interface Fallback {
  address: string;
  port?: number;
  forwarding?: string;
}

/** fallback=ADDRESS[:PORT] [gate|masq|ipip] (fallback6=[ADDRESS]:PORT ...); a host name is a TODO. */
function fallbackOf(ld: Ld, d: Directive, ipv6: boolean): Fallback | undefined {
  const m = ipv6 ? /^\[([0-9A-Fa-f:]+)\](?::([A-Za-z0-9_-]+))?(?:\s+(\S+))?$/.exec(d.value) : /^([A-Za-z0-9.-]+)(?::([A-Za-z0-9_-]+))?(?:\s+(\S+))?$/.exec(d.value);
  if (!m) return ld.error(d.line, `${d.key} takes ${ipv6 ? "[ADDRESS]" : "ADDRESS"}[:PORT] [gate|masq|ipip], found "${d.value}"`);
  if (m[3] !== undefined && !FORWARDING[m[3]]) return ld.error(d.line, `${d.key}: the forwarding method must be gate, masq or ipip, not "${m[3]}"`);
  const port = m[2] === undefined ? undefined : portOf(ld, d.line, m[2]);
  if (m[2] !== undefined && port === undefined) return undefined;
  const address = addressOf(ld, d.line, m[1]!, ipv6, `the fallback server ${m[1]}`);
  return address === undefined ? undefined : { address, ...(port ? { port } : {}), ...(m[3] ? { forwarding: FORWARDING[m[3]] } : {}) };
}

/** An address of the section's family in canonical text; a host name is a TODO placeholder, as ldirectord looked it up. */
function addressOf(ld: Ld, line: number, text: string, ipv6: boolean, what: string): string | undefined {
  const bytes = parseIp(text);
  if (bytes && (bytes.length === 16) === ipv6) return formatIp(bytes);
  if (bytes || ipv6 || !/^[A-Za-z0-9.-]+$/.test(text) || /^[\d.]+$/.test(text)) return ld.error(line, `"${text}" is not an ${ipv6 ? "IPv6" : "IPv4"} address`);
  ld.push("todo", undefined, `the address of ${what} (${at(ld.file, line)}): ldirectord looked the name up; the import does not`);
  return `TODO: ${text}'s address`;
}

interface Real {
  d: Directive;
  addresses: string[];
  port?: number;
  forwarding: string;
  weight: number;
  request?: string;
  receive?: string;
}

/**
 * What follows a real server's forwarding method, read as ldirectord's add_real_server reads it: each of the
 * weight, the request and receive strings, and the thresholds is searched for (unanchored) in what is left
 * after the one before, and text it passes over is dropped (`gate -w 5` is weight 5); anything left over is
 * an error. The fields found and the text passed over; or, for the error, what was left.
 */
function realFlags(text: string): { weight?: string; request?: string; receive?: string; lower?: string; upper?: string; skipped: string[] } | string {
  const out: ReturnType<typeof realFlags> & object = { skipped: [] };
  let rest = text;
  const take = (re: RegExp): RegExpExecArray | null => {
    const m = re.exec(rest);
    if (!m) return null;
    const before = rest.slice(0, m.index).trim();
    if (before) out.skipped.push(before);
    rest = m[m.length - 1]!;
    return m;
  };
  const weight = take(/\s+(\d+)(.*)/);
  if (weight) out.weight = weight[1];
  const strings = take(/\s+"(.*)"[, ]\s*"(.*)"(.*)/);
  if (strings) [out.request, out.receive] = [strings[1], strings[2]];
  const lower = take(/\s+l:(\d+)(.*)/);
  if (lower) out.lower = lower[1];
  const upper = take(/\s+u:(\d+)(.*)/);
  if (upper) out.upper = upper[1];
  return /\S/.test(rest) ? rest.trim() : out;
}

/** real=ADDRESS[->LAST][:PORT] gate|masq|ipip [WEIGHT] ["REQUEST", "RECEIVE"] [l:N] [u:N]. */
function realOf(ld: Ld, d: Directive, ipv6: boolean): Real | undefined {
  const host = ipv6 ? "\\[[0-9A-Fa-f:]+\\]" : "[A-Za-z0-9.-]+";
  const m = new RegExp(`^(${host})(?:->(${host}))?(?::([A-Za-z0-9_-]+))?\\s+(\\w+)(.*)$`).exec(d.value);
  if (!m) return ld.error(d.line, `${d.key} takes ${ipv6 ? "[ADDRESS]" : "ADDRESS"}[:PORT] gate|masq|ipip [WEIGHT] ["REQUEST", "RECEIVE"], found "${d.value}"`);
  const [, first, last, portText, method, rest] = m;
  if (!FORWARDING[method!]) return ld.error(d.line, `the forwarding method must be gate, masq or ipip, not "${method}"`);
  const port = portText === undefined ? undefined : portOf(ld, d.line, portText);
  if (portText !== undefined && port === undefined) return undefined;
  const flags = realFlags(rest!);
  if (typeof flags === "string") return ld.error(d.line, `a real server's line ends "${flags}": expected [WEIGHT] ["REQUEST", "RECEIVE"] [l:N] [u:N]`);
  if (flags.skipped.length) ld.push("note", d.line, `${flags.skipped.map((t) => `"${t}"`).join(", ")} skipped: ldirectord looks for each of [WEIGHT] ["REQUEST", "RECEIVE"] [l:N] [u:N] anywhere in the rest of the line, passing over what is before it, and so does the import`);
  const weight = flags.weight === undefined ? 1 : Number(flags.weight);
  if (weight > MAX_WEIGHT) return ld.error(d.line, `weight ${weight} is over ${MAX_WEIGHT}`);
  if (flags.lower !== undefined || flags.upper !== undefined) ld.push("warning", d.line, "connection thresholds (l:, u:) are not imported: the director sets none");
  const strip = (t: string) => (ipv6 ? t.slice(1, -1) : t);
  let addresses: string[];
  if (last !== undefined) {
    const from = ipv6 ? undefined : parseIpv4(first!);
    const to = ipv6 ? undefined : parseIpv4(last);
    if (from === undefined || to === undefined || to < from) return ld.error(d.line, `${first}->${last} is not a range of IPv4 addresses (ldirectord expanded none else)`);
    if (to - from + 1 > MAX_RANGE) {
      ld.push("warning", d.line, `${d.key}=${d.value} is not imported: over ${MAX_RANGE} addresses; list them on lines of their own`);
      return undefined;
    }
    addresses = Array.from({ length: to - from + 1 }, (_, i) => formatIpv4(from + i));
  } else {
    const address = addressOf(ld, d.line, strip(first!), ipv6, `real server ${first}`);
    if (address === undefined) return undefined;
    addresses = [address];
  }
  return {
    d,
    addresses,
    ...(port ? { port } : {}),
    forwarding: FORWARDING[method!]!,
    weight,
    ...(flags.request !== undefined ? { request: flags.request, receive: flags.receive! } : {}),
  };
}

interface Settings {
  checktype: string;
  combined?: number;
  service?: string;
  request: string;
  receive: string;
  /** The lines of request= and receive=, for what is said about them. */
  requestLine?: number;
  receiveLine?: number;
  checkcommand?: string;
  checkport?: number;
  virtualhost?: string;
  checktimeout?: number;
  negotiatetimeout?: number;
  checkinterval?: Directive;
  failurecount?: Directive;
  httpmethod?: Directive;
}

/** The check of one real server, from the virtual's settings and the server's own request and receive. */
function checkOf(ld: Ld, v: { line: number; protocol: string; address?: string; port: number; fwmark?: number }, s: Settings, g: Globals, fork: boolean, real: Real): Entry[] | undefined {
  const own = fork ? s.checkinterval : undefined;
  const interval: Entry = own
    ? ["interval", formatDuration(Number(own.value) * 1000), "checkinterval (fork = yes)"]
    : ["interval", formatDuration((g.checkinterval ?? DEFAULT_CHECK_INTERVAL_S) * 1000), g.checkinterval ? "checkinterval" : "ldirectord's default checkinterval"];
  const negotiate = s.negotiatetimeout ?? s.checktimeout ?? g.negotiatetimeout ?? g.checktimeout ?? DEFAULT_NEGOTIATE_TIMEOUT_S;
  const connect = s.checktimeout ?? s.negotiatetimeout ?? g.checktimeout ?? g.negotiatetimeout ?? DEFAULT_CHECK_TIMEOUT_S;
  const fall = s.failurecount ?? g.failurecount;
  const common = (kind: string, timeout: number, timeoutSource: string): Entry[] => [
    ["kind", kind],
    interval,
    ["timeout", formatDuration(timeout * 1000), timeoutSource],
    ["rise", 1, "ldirectord took a server up at its first success"],
    ["fall", fall ? Number(fall.value) : 1, fall ? "failurecount" : "ldirectord's default failurecount"],
    ...(s.checkport !== undefined ? [["port", s.checkport, "checkport"] as Entry] : []),
  ];
  const negotiateTimeout = "negotiatetimeout (or checktimeout), else ldirectord's default";
  const connectTimeout = "checktimeout (or negotiatetimeout), else ldirectord's default";
  const none = (why: string): Entry[] => [["kind", "none", why]];
  const udp = v.protocol === "udp";
  switch (s.checktype) {
    case "on":
      return none("checktype=on: no check, the server is up");
    case "ping":
      ld.push("warning", v.line, "checktype=ping: Tandem has no ping check; the servers are written with no check (kind none, always healthy)");
      return none("checktype=ping has no counterpart");
    case "connect":
      if (!udp) return common("tcp", connect, connectTimeout);
      ld.push("warning", v.line, "checktype=connect on UDP: ldirectord pinged; Tandem has no ping check, so the servers are written with no check (kind none, always healthy)");
      return none("checktype=connect on UDP has no counterpart");
    case "external":
    case "external-perl": {
      if (s.checktype === "external-perl") ld.push("note", v.line, "checktype=external-perl runs the script as a command (ldirectord said an external-perl script works as external too)");
      const target = v.fwmark ?? v.address!;
      const command = s.checkcommand ?? "/bin/true";
      const script = `exec "$0" ${target} ${v.port} "$TANDEM_CHECK_ADDRESS" "$TANDEM_CHECK_PORT"`;
      return [...common("misc", connect, connectTimeout), ["command", ["/bin/sh", "-c", script, command], "checkcommand, with ldirectord's four arguments: the virtual service's, then the real server's"]];
    }
  }
  const service = s.service ?? (v.fwmark !== undefined ? "none" : (SERVICE_BY_PORT[v.port] ?? "none"));
  const serviceSource = s.service ? "service" : "ldirectord's service for the port";
  if (s.combined !== undefined) ld.push("note", v.line, `checktype=${s.combined}: the connect checks between negotiate checks are not kept; the negotiate check runs every interval`);
  if (service === "none") return none(`service=none (${serviceSource})`);
  const request = real.request ?? s.request;
  const receive = real.receive ?? s.receive;
  const requestLine = real.request !== undefined ? real.d.line : (s.requestLine ?? v.line);
  const receiveLine = real.receive !== undefined ? real.d.line : (s.receiveLine ?? v.line);
  if (service === "http" || service === "https") {
    const entries = common(service, negotiate, negotiateTimeout);
    const url = /^https?:\/\/([^/:]+)(?::\d+)?(\/.*)?$/.exec(request);
    let path = url ? (url[2] ?? "/") : request.startsWith("/") ? request : `/${request}`;
    if (url) ld.push("warning", requestLine, `request "${request}" is a whole URL: ldirectord asked ${url[1]}; Tandem asks each real server for ${path} with Host: ${url[1]}`);
    if (!fits(CheckSchema.properties.path, path)) return ld.error(requestLine, `request "${request}": Tandem sends a path as it is: printable ASCII without spaces`);
    const host = s.virtualhost ?? url?.[1];
    if (host !== undefined && !fits(CheckSchema.properties.host, host)) return ld.error(v.line, `virtualhost "${host}" is not a Host header: printable ASCII without spaces`);
    if (receive) {
      try {
        new RegExp(receive);
      } catch (e) {
        return ld.error(receiveLine, `receive "${receive}" is not a regular expression Tandem reads (JavaScript's syntax): ${(e as Error).message}`);
      }
    }
    if (s.httpmethod?.value.toUpperCase() === "HEAD") ld.push("note", s.httpmethod.line, "httpmethod=HEAD is not imported: Tandem sends GET, and reads the body only when it checks it");
    return [...entries, ["path", path, "request"], ...(receive ? [["body", receive, "receive"] as Entry] : []), ...(host !== undefined ? [["host", host, s.virtualhost ? "virtualhost" : "the request's host"] as Entry] : [])];
  }
  if (service === "dns") {
    const name = request.replace(/^\//, "");
    if (parseIp(name)) {
      ld.push("warning", requestLine, `request "${name}" asks for a PTR record: Tandem's dns check has no PTR, so the servers are written with no check (kind none, always healthy)`);
      return none("a PTR query has no counterpart");
    }
    if (receive) ld.push("note", receiveLine, `receive "${receive}" is not imported: Tandem's dns check passes on any A record`);
    if (!name) ld.push("todo", undefined, `services: the name the dns check of ${at(ld.file, v.line)} asks for: no request= gives one`);
    return [...common("dns", negotiate, negotiateTimeout), ["query", name || "TODO: the name to ask for", "request"], ["query_type", "A", "ldirectord asked for A records"]];
  }
  if (udp) {
    ld.push("warning", v.line, `service=${service} on UDP: Tandem has no ${service} check; the servers are written with no check (kind none, always healthy)`);
    return none(`service=${service} has no counterpart`);
  }
  ld.push("warning", v.line, `service=${service}: Tandem has no ${service} check; a tcp check is written, which connects only`);
  return common("tcp", negotiate, `${negotiateTimeout}; service=${service} has no counterpart`);
}

/** One virtual= section as a service and its virtual service; undefined when not imported. */
function virtualOf(ld: Ld, v: Virtual, g: Globals, fork: boolean, names: { services: Names; virtuals: Names }): ServiceOut | undefined {
  const key = v.ipv6 ? "virtual6" : "virtual";
  let address: string | undefined;
  let port = 0;
  let fwmark: number | undefined;
  const m4 = /^([0-9A-Za-z._+-]+):([0-9A-Za-z_-]+)$/.exec(v.head);
  const m6 = /^\[([0-9A-Fa-f:]+)\]:([0-9A-Za-z_-]+)$/.exec(v.head);
  const m = v.ipv6 ? m6 : m4;
  if (!v.ipv6 && /^\d+$/.test(v.head)) {
    fwmark = Number(v.head);
    if (fwmark < 1 || fwmark > 0xffffffff) ld.error(v.line, `fwmark ${v.head} is not from 1 to ${0xffffffff}`);
  } else if (m) {
    port = portOf(ld, v.line, m[2]!) ?? 0;
    address = addressOf(ld, v.line, m[1]!, v.ipv6, `virtual service ${m[1]}`);
  } else if (!v.ipv6 && m6) ld.error(v.line, "an IPv6 virtual service is virtual6=[ADDRESS]:PORT");
  else ld.error(v.line, `${key} takes ${v.ipv6 ? "[ADDRESS]:PORT" : "ADDRESS:PORT or a firewall mark"}, found "${v.head}"`);

  const s: Settings = { checktype: "negotiate", request: "/", receive: "" };
  const reals: Real[] = [];
  let scheduler: Entry = ["scheduler", DEFAULT_SCHEDULER, "ldirectord's default scheduler"];
  let protocol = fwmark !== undefined ? "fwm" : port === 53 ? "udp" : "tcp";
  let persistent: Entry | undefined;
  let netmask: Directive | undefined;
  let fallback: Directive | undefined;
  let quiescent = g.quiescent;
  let name: string | undefined;
  const comments: string[] = [];
  for (const d of v.directives) {
    switch (d.key) {
      case "real":
      case "real6": {
        if ((d.key === "real6") !== v.ipv6) {
          ld.error(d.line, `${d.key} in a ${key} section: use ${v.ipv6 ? "real6" : "real"}`);
          break;
        }
        const r = realOf(ld, d, v.ipv6);
        if (r) reals.push(r);
        break;
      }
      case "request": {
        const q = ld.quoted(d);
        if (q !== undefined) [s.request, s.requestLine] = [q.startsWith("/") || /^https?:\/\//.test(q) ? q : `/${q}`, d.line];
        break;
      }
      case "receive": {
        const q = ld.quoted(d);
        if (q !== undefined) [s.receive, s.receiveLine] = [q, d.line];
        break;
      }
      case "checktype":
        if (/^\d+$/.test(d.value)) {
          s.checktype = "negotiate";
          s.combined = Number(d.value);
        } else if (CHECKTYPES.includes(d.value)) s.checktype = d.value;
        else ld.error(d.line, `checktype must be ${CHECKTYPES.join(", ")} or a number, not "${d.value}"`);
        break;
      case "checkcommand":
        s.checkcommand = /^"(.*)"/.exec(d.value)?.[1] ?? d.value;
        break;
      case "checktimeout":
      case "negotiatetimeout":
        s[d.key] = ld.seconds(d);
        break;
      case "failurecount":
        if (ld.whole(d, MAX_FALL) !== undefined) s.failurecount = d;
        break;
      case "checkinterval":
        if (ld.seconds(d) !== undefined) s.checkinterval = d;
        break;
      case "checkport": {
        const p = /^\d+$/.test(d.value) && Number(d.value) >= 1 && Number(d.value) <= 65_535 ? Number(d.value) : undefined;
        if (p === undefined) ld.error(d.line, `checkport "${d.value}" is not a port from 1 to 65535`);
        else s.checkport = p;
        break;
      }
      case "scheduler":
        if ((SCHEDULERS as readonly string[]).includes(d.value)) scheduler = ["scheduler", d.value, "scheduler"];
        else ld.error(d.line, `scheduler "${d.value}" is not one Tandem has: ${SCHEDULERS.join(", ")}`);
        break;
      case "persistent":
        if (/^\d+$/.test(d.value)) persistent = Number(d.value) > 0 ? ["persistence", formatDuration(Number(d.value) * 1000), `persistent=${d.value}`] : undefined;
        else ld.error(d.line, `persistent "${d.value}" is not a whole number of seconds`);
        break;
      case "netmask":
        netmask = d;
        break;
      case "protocol":
        if (fwmark !== undefined ? d.value !== "fwm" : d.value !== "tcp" && d.value !== "udp") ld.error(d.line, fwmark !== undefined ? "protocol must be fwm for a firewall mark" : "protocol must be tcp or udp");
        else protocol = d.value;
        break;
      case "ops":
        if (ld.yesNo(d)) ld.push("warning", d.line, "ops=yes (one-packet scheduling) is not imported: the director schedules by connection");
        break;
      case "service":
        if (SERVICES.includes(d.value)) s.service = d.value;
        else ld.error(d.line, `service must be one of ${SERVICES.join(", ")}, not "${d.value}"`);
        break;
      case "httpmethod":
        if (!/^(get|head)$/i.test(d.value)) ld.error(d.line, `httpmethod must be GET or HEAD, not "${d.value}"`);
        else s.httpmethod = d;
        break;
      case "virtualhost":
        s.virtualhost = /^"?([^"]*)"?$/.exec(d.value)?.[1] ?? d.value;
        break;
      case "fallback":
      case "fallback6":
        if ((d.key === "fallback6") !== v.ipv6) ld.error(d.line, `${d.key} in a ${key} section: use ${v.ipv6 ? "fallback6" : "fallback"}`);
        else fallback = d;
        break;
      case "quiescent":
        if (ld.yesNo(d) !== undefined) quiescent = d;
        break;
      case "servicename":
        name = d.value;
        break;
      case "comment":
        comments.push(d.value);
        break;
      default:
        if (VIRTUAL_NOTES.includes(d.key)) ld.notImported(d);
        else ld.unknown(d, `in the ${key} section of line ${v.line}`, [...VIRTUAL_READ, ...VIRTUAL_NOTES]);
    }
  }
  const head = `${key}=${v.head}`;
  if (ld.failed) return undefined;
  if (s.checktype === "off") {
    ld.push("warning", v.line, `${head} is not imported: checktype=off kept every server out; Tandem has no such check`);
    return undefined;
  }
  if (!reals.length) {
    ld.push("warning", v.line, `${head} is not imported: it has no real server`);
    return undefined;
  }
  const realCount = reals.reduce((n, r) => n + r.addresses.length, 0);
  if (realCount > MAX_REALS) return ld.error(v.line, `${realCount} real servers: a virtual service holds at most ${MAX_REALS}`);
  if (s.checkinterval && !fork) {
    const global = g.checkinterval ?? DEFAULT_CHECK_INTERVAL_S;
    ld.push("note", s.checkinterval.line, `checkinterval in a virtual section is not imported: ldirectord used it only with fork = yes; the global checkinterval, ${global} s, is the interval`);
  }

  const count = new Map<string, number>();
  for (const r of reals) count.set(r.forwarding, (count.get(r.forwarding) ?? 0) + r.addresses.length);
  const forwarding = [...count].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  for (const r of reals.filter((r) => r.forwarding !== forwarding)) {
    ld.push("warning", r.d.line, `${FORWARD_NAME[r.forwarding]} differs from the others' ${FORWARD_NAME[forwarding]}: Tandem forwards to every server of a virtual service alike`);
  }
  const target = { line: v.line, protocol, ...(address !== undefined ? { address } : {}), port, ...(fwmark !== undefined ? { fwmark } : {}) };
  const realsOut: RealOut[] = [];
  for (const r of reals) {
    const check = checkOf(ld, target, s, g, fork, r);
    if (!check) return undefined;
    const keepPort = r.port !== undefined && r.port !== port && (forwarding === "nat" || fwmark !== undefined);
    if (r.port !== undefined && r.port !== port && !keepPort) ld.push("note", r.d.line, `port ${r.port} is not imported: ldirectord gave a ${FORWARD_NAME[forwarding]} server the virtual port, ${port}`);
    for (const a of r.addresses) {
      realsOut.push({ label: `${r.d.key}=${r.d.value}`, where: at(ld.file, r.d.line), address: a, ...(keepPort ? { port: r.port } : {}), weight: r.weight, comment: `${r.d.key}=${r.d.value}`, check });
    }
  }
  const settings: Entry[] = [scheduler, ["forwarding", forwarding, `${FORWARD_NAME[forwarding]} (the real servers')`]];
  if (persistent) settings.push(persistent);
  if (netmask && persistent) {
    if (parseIpv4(netmask.value) !== undefined) settings.push(["persistence_netmask", netmask.value, "netmask"]);
    else ld.push("warning", netmask.line, `netmask=${netmask.value} is not imported: Tandem's persistence netmask is an IPv4 one; an IPv6 client keeps its own server`);
  }
  const global = v.ipv6 ? g.fallback6 : g.fallback;
  const fb = fallback ?? global?.d;
  const sorry = fallback ? fallbackOf(ld, fallback, v.ipv6) : global?.server;
  if (sorry) {
    const sorryPort = sorry.port ?? (port || undefined);
    if (sorryPort === undefined) {
      ld.push("todo", undefined, `director: the port of the fallback server ${sorry.address} (${at(ld.file, fb!.line)}): a firewall mark has no port to take`);
      settings.push(["sorry_server", `TODO: ${sorry.address}'s port`, `${fb!.key}=${fb!.value}`]);
    } else settings.push(["sorry_server", hostPort(sorry.address, sorryPort), `${fb!.key}=${fb!.value}${fallback ? "" : " (the global one)"}`]);
    const sorryForwarding = sorry.forwarding ?? "dr";
    if (sorryForwarding !== forwarding) {
      ld.push("warning", fallback ? fb!.line : v.line, `${fallback ? "" : `${head}: the global `}${fb!.key}'s ${FORWARD_NAME[sorryForwarding]} differs from the real servers' ${FORWARD_NAME[forwarding]}: Tandem forwards to the sorry server as to them`);
    }
  }
  if (quiescent && quiescent.value === "yes") settings.push(["inhibit_on_failure", true, `quiescent=yes${quiescent === g.quiescent ? " (the global one)" : ""}`]);
  if (ld.failed) return undefined;

  const id = fwmark !== undefined ? `fwmark-${fwmark}` : `vs-${address}-${port}${protocol === "udp" ? "-udp" : ""}`;
  const base = nameFrom(name ?? id, "vs");
  const serviceName = names.services.unique(base);
  return {
    before: [`${at(ld.file, v.line)}: ${head}`, ...comments],
    name: serviceName,
    ...(fwmark === undefined && port ? { port: { value: port } } : {}),
    reals: realsOut,
    check: serverChecks(realsOut, ld.findings),
    virtuals: [
      {
        name: names.virtuals.unique(base),
        head: fwmark !== undefined ? [["fwmark", fwmark]] : [["address", address!], ["port", port], ...(protocol === "udp" ? [["protocol", "udp"] as Entry] : [])],
        ...(name ? { comment: `servicename=${name}` } : {}),
      },
    ],
    settings,
  };
}

export function importLdirectord(file: string, text: string): ImportResult {
  const ld = new Ld(file);
  const { globals, virtuals } = split(ld, text);
  const g = readGlobals(ld, globals);
  const fork = globals.some((d) => d.key === "fork" && d.value === "yes");
  const names = { services: new Names(), virtuals: new Names() };
  if (virtuals.length > MAX_VIRTUALS) ld.error(virtuals[MAX_VIRTUALS]!.line, `more than ${MAX_VIRTUALS} virtual services: the director holds no more`);
  const services = virtuals.length > MAX_VIRTUALS ? [] : virtuals.flatMap((v) => virtualOf(ld, v, g, fork, names) ?? []);
  if (!virtuals.length) ld.findings.push({ level: "error", where: file, message: "no virtual= or virtual6= line: nothing to import" });
  const reals = services.reduce((n, sv) => n + sv.reals.length, 0);
  const summary = `${services.length} virtual service${services.length === 1 ? "" : "s"}, ${reals} real server${reals === 1 ? "" : "s"}`;
  const findings = tidy(ld.findings, [file]);
  if (ld.failed) return { findings, summary };
  const w = new TomlWriter();
  const todos = findings.some((f) => f.level === "todo");
  w.comment(
    "The [[services]] and [director] sections of a Tandem config, imported from",
    `ldirectord by \`tandem import ldirectord\`, from ${file}.`,
    "",
    "ldirectord ran under Heartbeat, which held the virtual addresses: append these",
    "sections to the cluster's config (tandem import haresources writes one from",
    `Heartbeat's files), ${todos ? "fill in every TODO, " : ""}and check it (tandem check -c FILE).`,
  );
  w.comment(...findingLines(findings));
  writeServices(w, services);
  return { toml: w.text(), findings, summary };
}
