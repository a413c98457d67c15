/**
 * keepalived's LVS part: virtual_server_group and virtual_server blocks,
 * their real servers and checkers, as Tandem services (the real servers and
 * one check) and the virtual services that use them.
 */
import { formatDuration } from "../../core/duration.ts";
import { CheckSchema } from "../../modules/checks/config.ts";
import { MIN_CHECK_INTERVAL_MS, SCHEDULERS } from "../../modules/director/config.ts";
import { formatIpv4, parseIpv4 } from "../../core/os/ip.ts";
import { MAX_WEIGHT } from "../../core/config/primitives.ts";
import { MAX_RANGE, MAX_REALS, MAX_VIRTUALS, serverChecks, withoutRepeats, fits, hostPort, type Entry, type RealOut, type ServiceOut, type VirtualOut } from "../lvs.ts";
import { Names, nameFrom } from "../names.ts";
import { CHECKER, HTTP_GET, OTHER_CHECKERS, REAL_SERVER, URL, VIRTUAL_SERVER } from "./keywords.ts";
import { statementText, type Statement } from "./parse.ts";
import { keyword, Reader, where } from "./read.ts";
import { table } from "../table.ts";

/** keepalived's defaults where a block leaves a value out. */
const DEFAULT_DELAY_LOOP_MS = 60_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_PERSISTENCE_S = 360;
/** keepalived's quorum when a virtual server names none. */
const KEEPALIVED_QUORUM = 1;
const DEFAULT_SCHEDULER = "wlc";
const DEFAULT_STATUS = "200-299";
const DEFAULT_RETRY: Readonly<Record<string, number>> = table({ TCP_CHECK: 1, HTTP_GET: 1, SSL_GET: 1, SMTP_CHECK: 1, MISC_CHECK: 0, DNS_CHECK: 3 });
/** IPVS's longest persistence (LVS_MAX_TIMEOUT): 31 days. */
const MAX_PERSISTENCE_S = 31 * 86_400;
const FORWARDING: Readonly<Record<string, string>> = table({ NAT: "nat", DR: "dr", TUN: "tun" });
const DNS_TYPES = ["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"];
/** Characters only a shell gives a meaning: a misc_path with one runs under /bin/sh -c. */
const SHELL = /[|&;<>()$`*?~]/;
const MAPPED_CHECKERS = ["TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "DNS_CHECK"];
/** The checker keywords of a connection, which MISC_CHECK has not. */
const CONNECTION = ["connect_ip", "bindto", "bind_port", "bind_if", "fwmark"];

interface Sourced<T> {
  value: T;
  source: string;
}

/** What a virtual server passes to its real servers, and a real server to its checkers. */
interface Inherited {
  delayLoop?: Sourced<number>;
  connectTimeout?: Sourced<number>;
  retry?: Sourced<number>;
  virtualhost?: string;
  alpha?: boolean;
}

export interface GroupEntry {
  s: Statement;
  address?: string;
  port?: number;
  fwmark?: number;
}

/** What the virtual servers share: group definitions, names taken, virtual services so far, whether any https check was written. */
export interface LvsContext {
  groups: Map<string, GroupEntry[]>;
  services: Names;
  virtuals: Names;
  count: number;
  https: boolean;
  /** Each virtual service imported (address, port and protocol, or mark), and where. */
  seen: Map<string, string>;
}

/** IPv4 addresses of a group entry's range (192.168.200.3-10, 10.0.0.250-10.0.1.5, 192.168.202.8/29). */
function ipv4Range(text: string): number[] | string {
  const cidr = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  const dash = /^([\d.]+)-([\d.]+)$/.exec(text);
  const m = cidr ?? dash;
  if (!m) return `"${text}" is not an IPv4 range`;
  const first = parseIpv4(m[1]!);
  if (first === undefined) return `"${text}" is not an IPv4 range`;
  let from = first;
  let to: number;
  if (cidr) {
    const len = Number(cidr[2]);
    if (len > 32) return `"${text}" has a prefix over 32`;
    const size = 2 ** (32 - len);
    from = first - (first % size);
    to = from + size - 1;
  } else {
    const end = dash![2]!;
    const last = end.includes(".") ? parseIpv4(end) : /^\d{1,3}$/.test(end) && Number(end) <= 255 ? first - (first % 256) + Number(end) : undefined;
    if (last === undefined || last < first) return `"${text}" is not a range: its end must be an address or a last byte at or after its start`;
    to = last;
  }
  if (to - from + 1 > MAX_RANGE) return `over ${MAX_RANGE} addresses`;
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** A virtual_server_group's entries: addresses (ranges expanded), ports, fwmarks. */
export function virtualServerGroup(r: Reader, s: Statement, ctx: LvsContext): void {
  const name = s.words[1]?.text;
  const block = r.block(s, "virtual_server_group NAME { ADDRESS [PORT] ... fwmark N ... }");
  if (!name || s.words.length !== 2) return r.error(s, "virtual_server_group takes one name");
  if (!block) return;
  const entries: GroupEntry[] = [];
  for (const e of block) {
    const [first, second, third] = e.words.map((w) => w.text);
    if (e.block || e.words.length > 3 || (first !== "fwmark" && e.words.length > 2)) {
      r.skipped(e, "a virtual_server_group entry is ADDRESS [PORT], a range (10.0.0.1-10, 10.0.0.8/29) [PORT], or fwmark N [inet|inet6]");
      continue;
    }
    if (first === "fwmark") {
      const mark = second === undefined ? undefined : r.uint(e, second, "fwmark", 1, 0xffffffff);
      if (second === undefined) r.skipped(e, "fwmark takes a mark (fwmark 1)");
      else if (third !== undefined && third !== "inet" && third !== "inet6") r.skipped(e, `fwmark's family "${third}" is not inet or inet6`);
      else if (mark !== undefined) entries.push({ s: e, fwmark: mark });
      continue;
    }
    const port = second === undefined ? undefined : r.uint(e, second, "port", 0, 65_535);
    if (second !== undefined && port === undefined) continue;
    if (/^[\d.]+(-[\d.]+|\/\d+)$/.test(first!)) {
      const range = ipv4Range(first!);
      if (typeof range === "string") r.warning(e, `${statementText(e)} is not imported: ${range}; list its addresses as entries of their own`);
      else for (const a of range) entries.push({ s: e, address: formatIpv4(a), ...(port ? { port } : {}) });
    } else if (first!.includes(":") && /[-/]/.test(first!)) r.warning(e, `${statementText(e)} is not imported: an IPv6 range is not expanded; list its addresses as entries of their own`);
    else {
      const address = r.address(e, first!, "address");
      if (address) entries.push({ s: e, address, ...(port ? { port } : {}) });
    }
  }
  if (ctx.groups.has(name)) r.error(s, `virtual_server_group ${name} is defined twice`);
  ctx.groups.set(name, entries);
}

/** "NAT", "DR", "TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]" as Tandem's forwarding. */
function forwardingOf(r: Reader, s: Statement): string | undefined {
  const [written, ...rest] = s.words.slice(1).map((w) => w.text);
  const method = written?.toUpperCase();
  const value = method === undefined ? undefined : FORWARDING[method];
  if (value === undefined || s.block || (method !== "TUN" && rest.length)) {
    r.warning(s, `${statementText(s)} is not imported: ${keyword(s)} takes NAT, DR or TUN [type ipip|gue|gre ...], and keepalived forwarded by NAT`);
    return undefined;
  }
  if (written !== method) r.note(s, `${statementText(s)} is read as ${method}: keepalived 2.2 read only ${method} and forwarded by NAT, later keepalived reads either case`);
  if (rest.length && !(rest[0] === "type" && rest[1] === "ipip" && rest.length === 2)) r.warning(s, `${statementText(s)}: Tandem's tun is IP-in-IP (ipip); the rest is not imported`);
  return value;
}

/** A misc_path's command line as argv, split as keepalived splits a script (quotes group, backslash escapes). */
function splitArgv(line: string): string[] | undefined {
  const argv: string[] = [];
  let cur: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) cur += line[++i]!;
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      cur ??= "";
    } else if (c === "\\" && i + 1 < line.length) cur = (cur ?? "") + line[++i]!;
    else if (/\s/.test(c)) {
      if (cur !== undefined) argv.push(cur);
      cur = undefined;
    } else cur = (cur ?? "") + c;
  }
  if (quote) return undefined;
  if (cur !== undefined) argv.push(cur);
  return argv;
}

interface Timers {
  interval: Entry;
  timeout: Entry;
  fall: Entry;
}

/** interval, timeout and fall of a checker from what it, its real server and its virtual server set. */
function timers(type: string, own: Inherited): Timers {
  const delay = own.delayLoop ?? { value: DEFAULT_DELAY_LOOP_MS, source: `keepalived's default delay_loop (${formatDuration(DEFAULT_DELAY_LOOP_MS)})` };
  const connect = own.connectTimeout ?? { value: DEFAULT_CONNECT_TIMEOUT_MS, source: `keepalived's default connect_timeout (${formatDuration(DEFAULT_CONNECT_TIMEOUT_MS)})` };
  const retry = own.retry?.value ?? DEFAULT_RETRY[type]!;
  return {
    interval: ["interval", formatDuration(delay.value), delay.source],
    timeout: ["timeout", formatDuration(connect.value), connect.source],
    fall: ["fall", retry + 1, `${own.retry ? own.retry.source : `keepalived's default retry for ${type}, ${retry}`}: down after retry + 1 failures in a row`],
  };
}

const RISE: Entry = ["rise", 1, "keepalived took a server up at its first success"];

/** What every checker sets (retry, delay_loop, alpha), and with `connection` connect_timeout and connect_port, which MISC_CHECK has not. */
function timerHandlers(r: Reader, own: Inherited, connection: boolean, port: { value?: number }): Record<string, (s: Statement) => void> {
  /** delay_loop and connect_timeout: keepalived refuses 0 ("invalid - ignoring") and keeps what it had. */
  const seconds = (s: Statement): Sourced<number> | undefined => {
    const a = r.args(s, 1, 1, `${keyword(s)} SECONDS`);
    const ms = a && r.seconds(s, a[0]!);
    if (ms === 0) return r.skipped(s, `${keyword(s)} ${a![0]} is not above zero`), undefined;
    return ms === undefined ? undefined : { value: ms, source: statementText(s) };
  };
  const retry = (s: Statement) => {
    const a = r.args(s, 1, 1, `${keyword(s)} N`);
    const n = a && r.uint(s, a[0]!, keyword(s), 0, 99);
    if (n !== undefined) own.retry = { value: n, source: statementText(s) };
  };
  const handlers: Record<string, (s: Statement) => void> = {
    retry,
    nb_get_retry: retry,
    delay_loop: (s) => {
      const v = seconds(s);
      if (v && v.value < MIN_CHECK_INTERVAL_MS) r.warning(s, `${statementText(s)}: Tandem checks a server at most every ${MIN_CHECK_INTERVAL_MS} ms, and that is written`);
      if (v) own.delayLoop = v.value < MIN_CHECK_INTERVAL_MS ? { value: MIN_CHECK_INTERVAL_MS, source: `${v.source}, raised to Tandem's shortest interval` } : v;
    },
    alpha: (s) => {
      const v = r.bool(s);
      if (v !== undefined) own.alpha = v;
    },
  };
  if (!connection) return handlers;
  return {
    ...handlers,
    connect_timeout: (s) => {
      const v = seconds(s);
      if (v) own.connectTimeout = v;
    },
    connect_port: (s) => {
      const a = r.args(s, 1, 1, "connect_port PORT");
      const p = a && r.uint(s, a[0]!, "connect_port", 1, 65_535);
      if (p !== undefined) port.value = p;
    },
  };
}

/** A value the check takes, or a warning saying what Tandem needs (the value is not imported). */
function checkValue(r: Reader, s: Statement, key: "path" | "host" | "sni" | "digest", value: string, need: string): string | undefined {
  if (fits(CheckSchema.properties[key], value)) return value;
  return r.warning(s, `${keyword(s)} "${value}" is not imported: ${need}`), undefined;
}

/** An HTTP_GET's or SSL_GET's own entries: path, status, body, digest, host, sni (first url only). */
function httpEntries(r: Reader, c: Statement, type: string, own: Inherited, port: { value?: number }, block: readonly Statement[]): Entry[] | undefined {
  const urls: Statement[] = [];
  let host = own.virtualhost;
  let sni: string | undefined;
  let enableSni = false;
  r.walk(
    block,
    type,
    {
      ...timerHandlers(r, own, true, port),
      virtualhost: (s) => {
        const a = r.args(s, 1, 1, "virtualhost NAME");
        if (a) host = a[0];
      },
      enable_sni: (s) => {
        enableSni = r.bool(s) ?? enableSni;
      },
      sni_name: (s) => {
        const a = r.args(s, 1, 1, "sni_name NAME");
        if (a) sni = checkValue(r, s, "sni", a[0]!, "a TLS server name is letters, digits, '.', '_' and '-'");
      },
      url: (s) => urls.push(s),
    },
    new Map([...CHECKER, ...HTTP_GET]),
  );
  const url = urls[0];
  if (!url) return r.skipped(c, `${type} has no url { path ... }: the server is written with no check (kind none, always healthy), as keepalived kept it up`), undefined;
  for (const extra of urls.slice(1)) r.warning(extra, `${type}: only the first url is imported: Tandem checks one path a service`);
  const out: { path?: string; status?: string; digest?: string; body?: string; noMatch?: boolean } = {};
  r.walk(
    r.block(url, "url { path /; status_code 200 }") ?? [],
    "url",
    {
      path: (s) => {
        const a = r.args(s, 1, 1, "path /health");
        if (a) out.path = checkValue(r, s, "path", a[0]!, "Tandem sends a path as it is: printable ASCII without spaces, starting with /");
      },
      digest: (s) => {
        const a = r.args(s, 1, 1, "digest MD5");
        if (a) out.digest = checkValue(r, s, "digest", a[0]!.toLowerCase(), "a digest is the body's MD5, 32 hex digits (keepalived's genhash)");
      },
      status_code: (s) => {
        const a = r.args(s, 1, 32, "status_code 200 200-299 ...");
        const bad = a?.find((v) => !/^[1-5]\d\d(-[1-5]\d\d)?$/.test(v) || Number(v.split("-")[0]) > Number(v.split("-")[1] ?? v));
        if (bad) r.skipped(s, `status_code "${bad}" is not a status or a range of them from 100 to 599`);
        else if (a) out.status = a.join(",");
      },
      virtualhost: (s) => {
        const a = r.args(s, 1, 1, "virtualhost NAME");
        if (a) host = a[0];
      },
      regex: (s) => {
        const a = r.args(s, 1, 1, 'regex "PATTERN"');
        if (!a) return;
        try {
          new RegExp(a[0]!);
          out.body = a[0];
        } catch (e) {
          r.warning(s, `regex "${a[0]}" is not imported: it is not a regular expression Tandem reads (JavaScript's syntax): ${(e as Error).message}`);
        }
      },
      regex_no_match: (s) => {
        if (r.args(s, 0, 0, "regex_no_match")) out.noMatch = true;
      },
    },
    URL,
  );
  if (out.path === undefined) {
    if (!url.block?.some((s) => keyword(s) === "path")) r.skipped(url, "url has no path: the server is written with no check (kind none, always healthy)");
    else r.warning(url, "the url's path is not imported: the server is written with no check (kind none, always healthy)");
    return undefined;
  }
  if (out.noMatch && out.body !== undefined) {
    r.warning(url, `regex_no_match is not imported, nor its regex "${out.body}": Tandem's body must match`);
    delete out.body;
  }
  if (host !== undefined) host = checkValue(r, c, "host", host, "a Host header is printable ASCII without spaces");
  if (type === "SSL_GET" && host !== undefined && sni === undefined && !enableSni) {
    r.note(c, "SSL_GET without enable_sni: keepalived sent no TLS server name; Tandem sends the virtual host as one");
  }
  const { path, status, digest, body } = out;
  return [
    ["path", path],
    ["status", status ?? DEFAULT_STATUS, status ? undefined : "keepalived's default status_code"],
    ...(body !== undefined ? [["body", body] as Entry] : []),
    ...(digest !== undefined ? [["digest", digest] as Entry] : []),
    ...(host !== undefined ? [["host", host] as Entry] : []),
    ...(sni !== undefined ? [["sni", sni] as Entry] : []),
  ];
}

/** A MISC_CHECK's command and dynamic weight, and its timeout when misc_timeout gives one. */
function miscEntries(r: Reader, c: Statement, own: Inherited, block: readonly Statement[]): { entries: Entry[]; timeout?: Entry } | undefined {
  let command: Entry | undefined;
  let timeout: Entry | undefined;
  let dynamic = false;
  r.walk(
    block,
    "MISC_CHECK",
    {
      ...timerHandlers(r, own, false, {}),
      misc_path: (s) => {
        if (s.words.length < 2 || s.block) return r.skipped(s, 'misc_path takes a command ("/usr/local/bin/check arg")');
        const line = s.words[1]!.quoted ? s.words[1]!.text : s.words.slice(1).map((w) => w.text).join(" ");
        const argv = splitArgv(line);
        if (!argv?.length) return r.skipped(s, `misc_path "${line}": a quote is not closed, or there is no command`);
        if (SHELL.test(line)) {
          r.note(s, `misc_path "${line}" needs a shell (${line.match(SHELL)![0]}): it is written as /bin/sh -c, since Tandem runs a command without one`);
          command = ["command", ["/bin/sh", "-c", line], "misc_path"];
        } else command = ["command", argv, "misc_path"];
      },
      misc_timeout: (s) => {
        const a = r.args(s, 1, 1, "misc_timeout SECONDS");
        const n = a && r.uint(s, a[0]!, "misc_timeout", 1, 86_399);
        if (n !== undefined) timeout = ["timeout", formatDuration(n * 1000), statementText(s)];
      },
      misc_dynamic: (s) => {
        if (r.args(s, 0, 0, "misc_dynamic")) dynamic = true;
      },
      user: (s) => r.notImported(s, ["note", "Tandem runs a check as its own user"]),
    },
    new Map([...CHECKER].filter(([k]) => !CONNECTION.includes(k))),
  );
  if (!command) return r.skipped(c, "MISC_CHECK has no misc_path: the server is written with no check (kind none, always healthy)"), undefined;
  return { entries: [command, ...(dynamic ? [["dynamic_weight", true, "misc_dynamic"] as Entry] : [])], ...(timeout ? { timeout } : {}) };
}

/** A DNS_CHECK's query and type. */
function dnsEntries(r: Reader, own: Inherited, port: { value?: number }, block: readonly Statement[]): Entry[] {
  let query: Entry = ["query", ".", "keepalived's default name, the root"];
  let type: Entry = ["query_type", "SOA", "keepalived's default type"];
  r.walk(
    block,
    "DNS_CHECK",
    {
      ...timerHandlers(r, own, true, port),
      type: (s) => {
        const a = r.args(s, 1, 1, "type A|NS|CNAME|SOA|MX|TXT|AAAA");
        const t = a?.[0]!.toUpperCase();
        if (t === undefined) return;
        if (!DNS_TYPES.includes(t)) r.skipped(s, `type "${a![0]}" is not one of ${DNS_TYPES.join(", ")}`);
        else if (t === "CNAME") {
          r.warning(s, "type CNAME: Tandem asks for A, AAAA, SOA, NS, MX or TXT records; A is written, which passes on the A records a CNAME leads to");
          type = ["query_type", "A", "type CNAME"];
        } else type = ["query_type", t, statementText(s)];
      },
      name: (s) => {
        const a = r.args(s, 1, 1, "name NAME");
        if (a) query = ["query", a[0]!, statementText(s)];
      },
    },
    CHECKER,
  );
  return [query, type];
}

/** One checker as Tandem's check entries (kind first), or undefined after an error; `own` takes what the checker sets. */
function checkerEntries(r: Reader, c: Statement, own: Inherited): Entry[] | undefined {
  const type = keyword(c);
  const block = r.block(c, `${type} { ... }`);
  if (!block) return undefined;
  const port: { value?: number } = {};
  let kind = "tcp";
  let specific: Entry[] | undefined = [];
  let miscTimeout: Entry | undefined;
  if (type === "HTTP_GET" || type === "SSL_GET") {
    kind = type === "HTTP_GET" ? "http" : "https";
    specific = httpEntries(r, c, type, own, port, block);
  } else if (type === "MISC_CHECK") {
    kind = "misc";
    const m = miscEntries(r, c, own, block);
    specific = m?.entries;
    miscTimeout = m?.timeout;
  } else if (type === "DNS_CHECK") {
    kind = "dns";
    specific = dnsEntries(r, own, port, block);
  } else {
    const helo = (s: Statement) => r.notImported(s, ["note", "Tandem's tcp check sends nothing"]);
    const handlers = timerHandlers(r, own, true, port);
    let hosts = 0;
    // SMTP_CHECK's host blocks (deprecated, still read by keepalived 2.2): each a checker of its own there.
    const host = (s: Statement) => {
      const inner = r.block(s, "host { connect_ip ADDRESS; connect_port PORT }");
      if (!inner) return;
      if (hosts++) return r.warning(s, "a second host block is not imported: keepalived ran a checker a host, Tandem runs one check a server, the first host's");
      r.note(s, "host: keepalived's deprecated form of a checker's own settings; the first host's are the check's");
      r.walk(inner, "host", handlers, CHECKER);
    };
    r.walk(block, type, { ...handlers, ...(type === "SMTP_CHECK" ? { helo_name: helo, host } : {}) }, CHECKER);
  }
  if (!specific) return undefined;
  const t = timers(type, own);
  return [
    ["kind", kind, type],
    t.interval,
    kind === "misc" ? (miscTimeout ?? ["timeout", t.interval[1], "keepalived's default misc_timeout, the delay_loop"]) : t.timeout,
    RISE,
    t.fall,
    ...(port.value !== undefined ? [["port", port.value, "connect_port"] as Entry] : []),
    ...specific,
  ];
}

/** A word as /bin/sh reads it back unchanged. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_\/.,:=+@%-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/**
 * A misc command that names its real server's address, as the same command
 * for every server: keepalived passed no address, so a misc_path named it;
 * Tandem sets TANDEM_CHECK_ADDRESS, which a /bin/sh -c wrapper passes on.
 */
function withServerAddress(r: Reader, c: Statement, check: Entry[], address: string): Entry[] {
  const i = check.findIndex(([k]) => k === "command");
  const argv = check[i]?.[1] as string[] | undefined;
  if (!argv || argv[0] === "/bin/sh" || !argv.includes(address)) return check;
  const script = `exec ${argv.map((a) => (a === address ? '"$TANDEM_CHECK_ADDRESS"' : shellWord(a))).join(" ")}`;
  r.note(c, `misc_path names its real server's address: the command is written as /bin/sh -c '${script}', the same for every server, since Tandem sets TANDEM_CHECK_ADDRESS for each`);
  return check.map((e, j) => (j === i ? (["command", ["/bin/sh", "-c", script], "misc_path, with the server's address from TANDEM_CHECK_ADDRESS"] as Entry) : e));
}

interface RealParsed {
  s: Statement;
  real: RealOut;
  forwarding?: { value: string; s: Statement };
  inhibit?: boolean;
  /** Whether its check starts it down (its own alpha, or its real server's, or the virtual server's). */
  alpha?: boolean;
}

/** A real_server: its address, port, weight and check. */
function realServer(r: Reader, s: Statement, vs: { inherited: Inherited; weight: number }): RealParsed | undefined {
  const a = s.words.slice(1).map((w) => w.text);
  const block = r.block(s, "real_server ADDRESS [PORT] { weight N; TCP_CHECK { ... } }");
  if (a.length < 1) return r.skipped(s, "real_server takes an address and a port (real_server 10.0.0.11 80)"), undefined;
  if (a.length > 2) r.warning(s, `real_server takes an address and a port: keepalived read the first two and skipped "${a.slice(2).join(" ")}", and so does the import`);
  const address = r.address(s, a[0]!, "real_server");
  const port = a[1] === undefined ? undefined : r.uint(s, a[1], "port", 0, 65_535);
  if (!block || address === undefined || (a[1] !== undefined && port === undefined)) return undefined;
  const label = statementText(s);
  const out: RealParsed = { s, real: { label, where: where(s), address, ...(port ? { port } : {}), weight: vs.weight, comment: label, check: [] } };
  const inherited: Inherited = { ...vs.inherited };
  const checkers: Statement[] = [];
  const checker = (c: Statement) => checkers.push(c);
  r.walk(
    block,
    `real_server ${a.join(" ")}`,
    {
      ...timerHandlers(r, inherited, true, {}),
      connect_port: (c) => r.skipped(c, "connect_port belongs in a checker"),
      weight: (c) => {
        const w = r.args(c, 1, 1, "weight N");
        const n = w && r.uint(c, w[0]!, "weight", 0, MAX_WEIGHT);
        if (n !== undefined) out.real.weight = n;
      },
      lvs_method: (c) => {
        const f = forwardingOf(r, c);
        if (f) out.forwarding = { value: f, s: c };
      },
      inhibit_on_failure: (c) => {
        out.inhibit = r.bool(c);
      },
      virtualhost: (c) => {
        const v = r.args(c, 1, 1, "virtualhost NAME");
        if (v) inherited.virtualhost = v[0];
      },
      ...Object.fromEntries([...MAPPED_CHECKERS, ...OTHER_CHECKERS.keys()].map((k) => [k, checker])),
    },
    REAL_SERVER,
  );
  const chosen = checkers.find((c) => MAPPED_CHECKERS.includes(keyword(c))) ?? checkers.find((c) => keyword(c) === "SMTP_CHECK") ?? checkers[0];
  for (const c of checkers.filter((c) => c !== chosen)) {
    r.warning(c, `${keyword(c)} is not imported: Tandem runs one check a server${chosen ? `, and ${keyword(chosen)} is the one` : ""}`);
    if (MAPPED_CHECKERS.includes(keyword(c))) checkerEntries(new Reader(r.findings, true), c, { ...inherited });
  }
  const own: Inherited = { ...inherited };
  if (!chosen) out.real.check = [["kind", "none", "no checker: keepalived kept the server up"]];
  else if (OTHER_CHECKERS.has(keyword(chosen))) r.warning(chosen, `${keyword(chosen)}: ${OTHER_CHECKERS.get(keyword(chosen))}`);
  if (chosen && keyword(chosen) !== "SMTP_CHECK" && OTHER_CHECKERS.has(keyword(chosen))) out.real.check = [["kind", "none", keyword(chosen)]];
  else if (chosen) {
    const entries = checkerEntries(r, chosen, own);
    out.real.check = entries ? withServerAddress(r, chosen, entries, address) : [["kind", "none", `${keyword(chosen)}, not imported`]];
  }
  out.alpha = own.alpha;
  return out;
}

/** A count a statement gave (quorum, hysteresis). */
interface Counted {
  n: number;
  s: Statement;
}

interface VirtualHead {
  address?: string;
  port?: number;
  fwmark?: number;
  s: Statement;
}

/** A virtual_server: one service with its virtual services (one, or one per group entry); undefined when not imported. */
export function virtualServer(r: Reader, s: Statement, ctx: LvsContext): ServiceOut | undefined {
  const [kind, value, ...extra] = s.words.slice(1).map((w) => w.text);
  const block = r.block(s, "virtual_server ADDRESS PORT { ... }, virtual_server fwmark N { ... } or virtual_server group NAME { ... }");
  const dev = extra[0] === "dev" && extra.length === 2 && kind !== "fwmark" && kind !== "group";
  if (kind === undefined || (extra.length && !dev)) return r.skipped(s, "virtual_server takes ADDRESS [PORT] [dev IF], fwmark N or group NAME"), undefined;
  if (dev) r.note(s, `dev ${extra[1]} is not imported: it names the interface of a link-local address; the director takes the virtual address's traffic on any interface`);
  let heads: VirtualHead[];
  let base: string;
  if (kind === "fwmark") {
    const mark = value === undefined ? undefined : r.uint(s, value, "fwmark", 1, 0xffffffff);
    if (mark === undefined) return value === undefined ? (r.skipped(s, "virtual_server fwmark takes a mark"), undefined) : undefined;
    heads = [{ fwmark: mark, s }];
    base = `fwmark-${mark}`;
  } else if (kind === "group") {
    const entries = value === undefined ? undefined : ctx.groups.get(value);
    if (!entries) return r.skipped(s, `no virtual_server_group named "${value ?? ""}"${ctx.groups.size ? ` (${[...ctx.groups.keys()].join(", ")})` : ""}`), undefined;
    heads = entries.map((e) => ({ ...e }));
    base = nameFrom(value!, "group");
  } else {
    const address = r.address(s, kind, "virtual_server");
    const port = value === undefined ? 0 : r.uint(s, value, "port", 0, 65_535);
    if (address === undefined || port === undefined) return undefined;
    heads = [{ address, port, s }];
    base = "";
  }
  if (!block) return undefined;
  ctx.count += heads.length;
  if (ctx.count > MAX_VIRTUALS) return r.error(s, `more than ${MAX_VIRTUALS} virtual services: the director holds no more`), undefined;

  const inherited: Inherited = {};
  const reals: Statement[] = [];
  const settings: { scheduler?: Entry; forwarding?: { value: string; s: Statement }; persistence?: Entry; netmask?: { value: string; s: Statement }; protocol?: string; sorry?: { address: string; port?: number; s: Statement }; sorryForwarding?: { value: string; s: Statement }; quorum?: Counted; hysteresis?: Counted; inhibit?: boolean; alpha?: boolean; weight: number } = { weight: 1 };
  const count = (t: Statement, min: number): Counted | undefined => {
    const a = r.args(t, 1, 1, `${keyword(t)} N`);
    const n = a && r.uint(t, a[0]!, keyword(t), min, 0xffffffff);
    return n === undefined ? undefined : { n, s: t };
  };
  const scheduler = (t: Statement) => {
    const a = r.args(t, 1, 1, `${keyword(t)} ${SCHEDULERS.join("|")}`);
    if (!a) return;
    if (a[0] === "twos") {
      r.warning(t, `${statementText(t)}: Tandem has no twos scheduler; ${DEFAULT_SCHEDULER} is written`);
      settings.scheduler = ["scheduler", DEFAULT_SCHEDULER, `${statementText(t)} has no counterpart`];
    } else if ((SCHEDULERS as readonly string[]).includes(a[0]!)) settings.scheduler = ["scheduler", a[0]!, statementText(t)];
    else r.warning(t, `${statementText(t)} is not imported: not one of ${[...SCHEDULERS, "twos"].join(", ")}; keepalived took its default, ${DEFAULT_SCHEDULER}, and so does the import`);
  };
  const forwarding = (t: Statement) => {
    const f = forwardingOf(r, t);
    if (f) settings.forwarding = { value: f, s: t };
  };
  r.walk(
    block,
    `virtual_server ${statementText(s).slice("virtual_server ".length)}`,
    {
      ...timerHandlers(r, inherited, true, {}),
      connect_port: (t) => r.skipped(t, "connect_port belongs in a checker"),
      alpha: (t) => {
        settings.alpha = r.bool(t);
      },
      lvs_sched: scheduler,
      lb_algo: scheduler,
      lvs_method: forwarding,
      lb_kind: forwarding,
      persistence_timeout: (t) => {
        const a = r.args(t, 0, 1, "persistence_timeout [SECONDS]");
        if (a?.[0] === "0") return r.note(t, `${statementText(t)}: no persistence, as keepalived read it`);
        const n = a?.length ? r.uint(t, a[0]!, "persistence_timeout", 1, MAX_PERSISTENCE_S) : DEFAULT_PERSISTENCE_S;
        if (a && n !== undefined) settings.persistence = ["persistence", formatDuration(n * 1000), a.length ? statementText(t) : `persistence_timeout: keepalived's default, ${DEFAULT_PERSISTENCE_S} s`];
      },
      persistence_granularity: (t) => {
        const a = r.args(t, 1, 1, "persistence_granularity NETMASK");
        if (!a) return;
        if (parseIpv4(a[0]!) !== undefined) settings.netmask = { value: a[0]!, s: t };
        else if (/^\d{1,3}$/.test(a[0]!)) r.warning(t, `${statementText(t)} is not imported: Tandem's persistence netmask is an IPv4 one; an IPv6 client keeps its own server`);
        else r.skipped(t, `persistence_granularity "${a[0]}" is not a netmask (255.255.255.0) or an IPv6 prefix length`);
      },
      protocol: (t) => {
        const a = r.args(t, 1, 1, "protocol TCP|UDP|SCTP");
        const p = a?.[0]!.toLowerCase();
        if (p === "tcp" || p === "udp" || p === "sctp") settings.protocol = p;
        else if (a) r.skipped(t, `protocol "${a[0]}" is not TCP, UDP or SCTP`);
      },
      virtualhost: (t) => {
        const a = r.args(t, 1, 1, "virtualhost NAME");
        if (a) inherited.virtualhost = a[0];
      },
      quorum: (t) => {
        settings.quorum = count(t, 1);
      },
      hysteresis: (t) => {
        settings.hysteresis = count(t, 0);
      },
      inhibit_on_failure: (t) => {
        settings.inhibit = r.bool(t);
      },
      weight: (t) => {
        const a = r.args(t, 1, 1, "weight N");
        const n = a && r.uint(t, a[0]!, "weight", 1, MAX_WEIGHT);
        if (n !== undefined) settings.weight = n;
      },
      sorry_server: (t) => {
        const a = r.args(t, 1, 2, "sorry_server ADDRESS [PORT]");
        const address = a && r.address(t, a[0]!, "sorry_server");
        const port = a?.[1] === undefined ? 0 : r.uint(t, a[1], "port", 0, 65_535);
        if (address !== undefined && port !== undefined) settings.sorry = { address, ...(port ? { port } : {}), s: t };
      },
      sorry_server_lvs_method: (t) => {
        const f = forwardingOf(r, t);
        if (f) settings.sorryForwarding = { value: f, s: t };
      },
      real_server: (t) => reals.push(t),
    },
    VIRTUAL_SERVER,
  );
  if (settings.protocol === "sctp") return r.warning(s, `${statementText(s)} is not imported: Tandem's virtual services are TCP or UDP, not SCTP`), undefined;
  if (!reals.length) return r.warning(s, `${statementText(s)} is not imported: it has no real_server (keepalived ignored it too)`), undefined;
  if (reals.length > MAX_REALS) return r.error(s, `${reals.length} real servers: a virtual service holds at most ${MAX_REALS}`), undefined;
  inherited.alpha = settings.alpha;
  const parsed = reals.flatMap((t) => realServer(r, t, { inherited, weight: settings.weight }) ?? []);
  if (!parsed.length || r.failed) return undefined;

  const fwd = settings.forwarding?.value ?? "nat";
  for (const p of parsed) if (p.forwarding && p.forwarding.value !== fwd) r.warning(p.forwarding.s, `${statementText(p.forwarding.s)} differs from the virtual server's ${fwd.toUpperCase()}: Tandem forwards to every server of a virtual service alike`);
  if (settings.sorryForwarding && settings.sorryForwarding.value !== fwd) r.warning(settings.sorryForwarding.s, `${statementText(settings.sorryForwarding.s)} differs from the virtual server's ${fwd.toUpperCase()}: Tandem forwards to the sorry server alike`);
  const inhibit = settings.inhibit ?? false;
  const alpha = settings.alpha ?? false;
  for (const p of parsed) {
    if (p.inhibit !== undefined && p.inhibit !== inhibit) p.real.inhibit = p.inhibit;
    if ((p.alpha ?? false) !== alpha) r.warning(p.s, `${p.real.label}: alpha ${p.alpha ? "on" : "off"} differs from the virtual server's; in Tandem it is the virtual service's, ${alpha}`);
  }
  const protocol = settings.protocol ?? "tcp";
  const serviceKey = (h: VirtualHead) => (h.fwmark !== undefined ? `fwmark ${h.fwmark}` : `${h.address} ${h.port ?? 0} ${protocol}`);
  const fresh = heads.filter((h) => {
    const earlier = ctx.seen.get(serviceKey(h));
    if (earlier) r.warning(h.s, `${statementText(h.s)} is not imported: it is the virtual service of ${earlier} again; the director holds one an address, port and protocol (or mark), and keeps the first`);
    else ctx.seen.set(serviceKey(h), where(h.s));
    return earlier === undefined;
  });
  if (!fresh.length) return undefined;
  heads = fresh;
  if (!settings.protocol && heads.some((h) => h.fwmark === undefined))
    r.note(s, `${statementText(s)} names no protocol: TCP is written; keepalived 2.2.7 took UDP here (it logs "no protocol set - defaulting to UDP"), so write protocol UDP where UDP is meant`);
  if (!settings.persistence && heads.some((h) => h.fwmark === undefined && !h.port)) {
    r.note(s, `port 0 (every port) needs persistence: keepalived set its default, ${DEFAULT_PERSISTENCE_S} s, and so does the import`);
    settings.persistence = ["persistence", formatDuration(DEFAULT_PERSISTENCE_S * 1000), "keepalived's default for a service on every port"];
  }
  const ports = [...new Set(heads.map((h) => h.port ?? 0))];
  const servicePort = heads.every((h) => h.fwmark === undefined) && ports.length === 1 && ports[0]! > 0 ? ports[0]! : undefined;

  const virtuals: VirtualOut[] = heads.map((h) => {
    const id = h.fwmark !== undefined ? `fwmark-${h.fwmark}` : `vs-${h.address}-${h.port ?? 0}${protocol === "udp" ? "-udp" : ""}`;
    const head: Entry[] =
      h.fwmark !== undefined
        ? [["fwmark", h.fwmark]]
        : [["address", h.address!], ["port", h.port ?? 0, h.port ? undefined : "every port"], ...(protocol !== "tcp" ? [["protocol", protocol] as Entry] : [])];
    return { name: ctx.virtuals.unique(nameFrom(id, "vs")), head, ...(h.s !== s ? { comment: `${where(h.s)}: ${statementText(h.s)}` } : {}) };
  });
  const realsOut = withoutRepeats(
    parsed.map(({ real, s: rs }) => {
      const { port, ...rest } = real;
      if (port === undefined || port === servicePort) return rest;
      if (fwd !== "nat" && servicePort !== undefined) {
        r.warning(rs, `${real.label}: port ${port} is not the virtual port ${servicePort}: ${fwd.toUpperCase()} cannot change a port, and keepalived reset it to ${servicePort}, as the import does`);
        return rest;
      }
      return { ...rest, port };
    }),
    servicePort,
    r.findings,
    "keepalived",
  );
  const name = ctx.services.unique(base || virtuals[0]!.name);
  const sorry = settings.sorry;
  const sorryForwarding = settings.sorryForwarding?.value ?? fwd;
  const sorryReset = sorry?.port !== undefined && servicePort !== undefined && sorry.port !== servicePort && sorryForwarding !== "nat";
  if (sorryReset) r.warning(sorry.s, `${statementText(sorry.s)}: ${sorryForwarding.toUpperCase()} cannot change a port, and keepalived reset the sorry server's port to ${servicePort}, as the import does`);
  const sorryPort = sorryReset ? servicePort : (sorry?.port ?? servicePort);
  if (settings.protocol && heads.every((h) => h.fwmark !== undefined)) r.note(s, `protocol ${settings.protocol.toUpperCase()} is not imported: a firewall mark's service takes what the mark marks, and keepalived ignored the protocol too`);
  const weightSum = realsOut.reduce((sum, p) => sum + p.weight, 0);
  const quorum = settings.quorum && settings.quorum.n > weightSum ? { ...settings.quorum, n: weightSum } : settings.quorum;
  if (quorum && quorum !== settings.quorum) r.warning(quorum.s, `${statementText(quorum.s)} is over the real servers' total weight, ${weightSum}: keepalived lowered it to ${weightSum}, and so does the import`);
  const quorumN = quorum?.n ?? KEEPALIVED_QUORUM;
  const hysteresis = settings.hysteresis && settings.hysteresis.n >= quorumN ? { ...settings.hysteresis, n: Math.max(0, quorumN - 1) } : settings.hysteresis;
  if (hysteresis && hysteresis !== settings.hysteresis) r.warning(hysteresis.s, `${statementText(hysteresis.s)} is not below quorum ${quorumN}: keepalived set it to ${hysteresis.n}, and so does the import`);
  if (settings.netmask && !settings.persistence) r.note(settings.netmask.s, `${statementText(settings.netmask.s)} is not imported: without persistence_timeout there is no persistence for it to widen, and keepalived's netmask did nothing`);
  const counted = (key: string, c: Counted | undefined, original: Counted | undefined): Entry[] =>
    c ? [[key, c.n, c === original ? statementText(c.s) : `${statementText(c.s)}: ${c.n} as keepalived took it`]] : [];
  const out: Entry[] = [
    settings.scheduler ?? ["scheduler", DEFAULT_SCHEDULER, "keepalived's default lvs_sched"],
    ["forwarding", fwd, settings.forwarding ? statementText(settings.forwarding.s) : "keepalived's default lvs_method, NAT"],
    ...(settings.persistence ? [settings.persistence, ...(settings.netmask ? [["persistence_netmask", settings.netmask.value, statementText(settings.netmask.s)] as Entry] : [])] : []),
    ...(sorry
      ? [["sorry_server", sorryPort === undefined ? `TODO: ${sorry.address}'s port` : hostPort(sorry.address, sorryPort), statementText(sorry.s) + (sorry.port ? "" : ": keepalived kept the virtual port")] as Entry]
      : []),
    ...counted("quorum", quorum, settings.quorum),
    ...counted("hysteresis", hysteresis, settings.hysteresis),
    ...(inhibit ? [["inhibit_on_failure", true, "inhibit_on_failure"] as Entry] : []),
    ...(alpha ? [["alpha", true, "alpha"] as Entry] : []),
  ];
  if (sorry && sorryPort === undefined) r.todo(`director: ${name}: set the sorry server's port (${statementText(sorry.s)} gives none, and the virtual services have no one port)`);
  if (realsOut.some((p) => p.check.some(([k, v]) => k === "kind" && v === "https"))) ctx.https = true;
  return {
    before: [`${where(s)}: ${statementText(s)}`],
    name,
    ...(servicePort !== undefined ? { port: { value: servicePort } } : {}),
    reals: realsOut,
    check: serverChecks(realsOut, r.findings),
    virtuals,
    settings: out,
  };
}
