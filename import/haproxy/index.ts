/**
 * haproxy.cfg as a Tandem config: frontends (and listen sections with a
 * bind) become [[proxy.frontend]] with their use_backend rules, backends
 * (and listen sections) [[proxy.backend]] and a [[services]] entry with the
 * servers and their check. Settings come from the last defaults section
 * before a proxy (or the one it names with `from`), then its own lines, as
 * HAProxy reads them. Every line not carried is a finding with FILE:LINE.
 * Pure: texts in (a small reader for certificate directories and crt-lists),
 * TOML and findings out.
 */
import { formatDuration, MAX_DURATION_MS } from "../../core/duration.ts";
import { formatIp, parseIp } from "../../core/os/ip.ts";
import { MAX_WEIGHT } from "../../core/config/primitives.ts";
import { CheckSchema } from "../../modules/checks/config.ts";
import { BackendSchema, CertificateSchema, ProxySchema } from "../../modules/proxy/config.ts";
import { at, findingLines, tidy, type Finding, type Level } from "../findings.ts";
import { commonCheck, fits, hostPort, type Entry, type RealOut } from "../lvs.ts";
import { Names, nameFrom } from "../names.ts";
import { TomlWriter, type TomlTable } from "../toml.ts";
import { aclOf, conditionOf, escapeRegex, type Acl, type Rule } from "./acl.ts";
import { BIND_WITH_VALUE, GLOBAL, OPTION, PROXY, SERVER, SERVER_WITH_VALUE } from "./keywords.ts";
import { parse, type Line, type Section } from "./parse.ts";
import { table } from "../table.ts";

export interface ImportResult {
  toml?: string;
  findings: Finding[];
  summary: string;
}

/** What the import may read besides haproxy.cfg: certificate directories and crt-list files. */
export interface CertReader {
  kind(path: string): "file" | "dir" | undefined;
  read(path: string): string | undefined;
  list(dir: string): string[];
}

export interface HaproxyInput {
  file: string;
  text: string;
  certs?: CertReader;
}

/** HAProxy's defaults where Tandem's differ or a value is needed. */
const DEFAULT_INTER_MS = 2000;
const DEFAULT_RISE = 2;
const DEFAULT_FALL = 3;
const DEFAULT_RETRIES = 3;
const DEFAULT_ERROR_LIMIT = 10;
/** A bind port range stands for at most this many ports. */
const MAX_PORT_RANGE = 64;
/** Files of a certificate directory HAProxy does not load as certificates. */
const CERT_COMPANIONS = /\.(key|ocsp|issuer|sctl|crt-list)$/;

interface At<T> {
  v: T;
  line: number;
}

interface HttpChk {
  method: string;
  path: string;
  host?: string;
}

interface Settings {
  mode?: At<string>;
  maxconn?: At<number>;
  timeout: Record<string, At<number>>;
  retries?: At<number>;
  redispatch?: At<boolean>;
  forwardfor?: At<boolean>;
  httplog?: At<string | undefined>;
  balance?: At<{ algo: string; key?: string }>;
  cookie?: At<string>;
  httpchk?: At<HttpChk>;
  checkOption?: At<string>;
  expect?: At<{ status?: string; body?: string }>;
  defaultServer: Line[];
  stickSize?: At<{ size: number; expire?: number }>;
  stickSrc?: At<true>;
  defaultBackend?: At<string>;
}

interface Bind {
  line: number;
  addrs: string[];
  tls: boolean;
  certs: Array<{ value: TomlTable; comment: string }>;
  acceptProxy: boolean;
}

interface Proxy {
  section: Section;
  s: Settings;
  binds: Bind[];
  acls: Map<string, Acl>;
  uses: Array<{ backend: string; cond: string[]; line: number }>;
  servers: Line[];
  stats: boolean;
  disabled?: number;
}

const newSettings = (): Settings => ({ timeout: {}, defaultServer: [] });

class Ctx {
  readonly findings: Finding[] = [];
  crtBase = "";
  workers?: At<number>;
  maxHeaders?: At<number>;

  constructor(
    readonly file: string,
    readonly certs: CertReader | undefined,
  ) {}

  push(level: Level, line: number | undefined, message: string): void {
    this.findings.push({ level, ...(line !== undefined ? { where: at(this.file, line) } : {}), message });
  }

  where(line: number): string {
    return at(this.file, line);
  }
}

/** HAProxy's time: a number with us, ms (the default), s, m, h or d. */
export function timeMs(text: string | undefined): number | undefined {
  const m = /^(\d+)(us|ms|s|m|h|d)?$/.exec(text ?? "");
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? "ms"]!;
  return Math.ceil(n * unit);
}

/** A size with k, m, g (powers of 1024), as stick-table size takes it. */
function size(text: string | undefined): number | undefined {
  const m = /^(\d+)([kmg])?$/i.exec(text ?? "");
  if (!m) return undefined;
  return Number(m[1]) * ({ k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? "").toLowerCase()] ?? 1);
}

const whole = (text: string | undefined, min: number, max: number) => (/^\d+$/.test(text ?? "") && Number(text) >= min && Number(text) <= max ? Number(text) : undefined);

const BALANCE_DIRECT = ["roundrobin", "static-rr", "leastconn", "first", "source", "uri"];
const TIMEOUTS = ["connect", "client", "server", "queue", "tunnel", "http-request", "http-keep-alive", "check"];
const OLD_TIMEOUTS: Readonly<Record<string, string>> = table({ contimeout: "connect", clitimeout: "client", srvtimeout: "server" });
const CHECK_OPTIONS: Readonly<Record<string, string>> = table({
  "ssl-hello-chk": "an SSL hello", "mysql-check": "a MySQL handshake", "pgsql-check": "a PostgreSQL startup", "redis-check": "a Redis PING", "smtpchk": "an SMTP HELO",
  "ldap-check": "an LDAP bind", "tcp-check": "a tcp-check script", "spop-check": "an SPOP hello",
});

/** A line's words for a message: control characters spelled as HAProxy's escapes, so a message stays on one line. */
export const shown = (words: readonly string[]) => words.join(" ").replace(/\r/g, "\\r").replace(/\n/g, "\\n").replace(/\t/g, "\\t").replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);

/** One line of a defaults, frontend, backend or listen section, into `p` (or its settings). */
function readLine(ctx: Ctx, p: Proxy, l: Line): void {
  const w = l.words;
  const s = p.s;
  const kw = w[0]!;
  const rest = w.slice(1);
  const notCarried = (level: Level, why: string) => ctx.push(level, l.line, `${shown(w)} is not imported: ${why}`);
  const bad = (expected: string) => ctx.push("error", l.line, `${kw}: expected ${expected}, found "${shown(rest)}"`);
  switch (kw) {
    case "mode":
      if (rest[0] === "http" || rest[0] === "tcp" || rest[0] === "health") s.mode = { v: rest[0], line: l.line };
      else bad("http, tcp or health");
      return;
    case "maxconn": {
      const n = whole(rest[0], 1, ProxySchema.properties.frontend.items.properties.maxconn.maximum!);
      if (n === undefined) bad("a whole number of connections");
      else s.maxconn = { v: n, line: l.line };
      return;
    }
    case "timeout": {
      const ms = timeMs(rest[1]);
      if (!TIMEOUTS.includes(rest[0] ?? "")) return notCarried("note", rest[0] === "client-fin" || rest[0] === "server-fin" ? "Tandem closes a half-closed connection by its client or server timeout" : "this timeout has no counterpart");
      if (ms === undefined) return bad("a time (10s, 5000 for ms)");
      s.timeout[rest[0]!] = { v: ms, line: l.line };
      return;
    }
    case "contimeout":
    case "clitimeout":
    case "srvtimeout": {
      const ms = timeMs(rest[0]);
      if (ms === undefined) return bad("a time");
      s.timeout[OLD_TIMEOUTS[kw]!] = { v: ms, line: l.line };
      ctx.push("note", l.line, `${kw} is carried as timeout ${OLD_TIMEOUTS[kw]}: HAProxy 2.1 and later refuse this old spelling`);
      return;
    }
    case "retries": {
      const n = whole(rest[0], 0, 1_000_000);
      if (n === undefined) return bad("a whole number");
      s.retries = { v: n, line: l.line };
      return;
    }
    case "no":
      if (rest[0] === "option") return readOption(ctx, p, l, rest[1] ?? "", rest.slice(2), false);
      return notCarried("warning", "the import does not know this keyword");
    case "option":
      return readOption(ctx, p, l, rest[0] ?? "", rest.slice(1), true);
    case "balance":
      return readBalance(ctx, s, l);
    case "cookie": {
      const name = rest[0] ?? "";
      const opts = rest.slice(1);
      if (!opts.includes("insert")) return notCarried("warning", `only an inserted cookie (cookie ${name} insert) has a counterpart: ${opts.includes("prefix") ? "prefix" : opts.includes("rewrite") ? "rewrite" : "a cookie the server sets"} does not`);
      if (!fits(BackendSchema.properties.cookie, name)) return bad("a cookie name");
      s.cookie = { v: name, line: l.line };
      const other = opts.filter((o, i) => !["insert", "indirect", "nocache", "httponly", "secure"].includes(o) && !["domain", "maxidle", "maxlife", "attr"].includes(opts[i - 1] ?? ""));
      const withValue = opts.filter((o) => ["domain", "maxidle", "maxlife", "attr", "dynamic", "preserve", "postonly"].includes(o));
      if (other.length || withValue.length) ctx.push("note", l.line, `cookie ${name}: ${[...new Set([...withValue, ...other])].join(", ")} not imported: Tandem inserts the cookie as insert indirect nocache does`);
      return;
    }
    case "http-check":
      return readHttpCheck(ctx, s, l);
    case "default-server":
      s.defaultServer.push(l);
      return;
    case "stick-table": {
      const type = rest[rest.indexOf("type") + 1];
      const n = size(rest[rest.indexOf("size") + 1]);
      const expire = rest.includes("expire") ? timeMs(rest[rest.indexOf("expire") + 1]) : undefined;
      if (type !== "ip" && type !== "ipv6") return notCarried("warning", `a stick-table of type ${type} has no counterpart: only one of client addresses (type ip) does`);
      if (rest.includes("store")) return notCarried("warning", "a stick-table that stores counters (rate limiting) has no counterpart");
      if (n === undefined) return bad("size N");
      s.stickSize = { v: { size: n, ...(expire !== undefined ? { expire } : {}) }, line: l.line };
      if (rest.includes("peers")) ctx.push("note", l.line, "peers: Tandem replicates the stick table to its peer over the cluster bus");
      return;
    }
    case "stick": {
      const [how, what, ...cond] = rest;
      if ((how === "on" || how === "match" || how === "store-request") && what === "src" && !cond.length) {
        s.stickSrc = { v: true, line: l.line };
        return;
      }
      return notCarried("warning", PROXY.stick![1]);
    }
    case "default_backend":
      if (!rest[0]) return bad("a backend's name");
      s.defaultBackend = { v: rest[0], line: l.line };
      return;
    case "use_backend":
      if (!rest[0]) return bad("a backend's name");
      p.uses.push({ backend: rest[0], cond: rest.slice(1), line: l.line });
      return;
    case "acl": {
      const name = rest[0];
      if (!name) return bad("acl NAME CRITERION [VALUES]");
      const acl = aclOf(rest.slice(1));
      const before = p.acls.get(name);
      if (!before) p.acls.set(name, acl);
      else if ("why" in before) return;
      else p.acls.set(name, "why" in acl ? acl : { atoms: [...before.atoms, ...acl.atoms] });
      return;
    }
    case "bind":
      return readBind(ctx, p, l, rest);
    case "server":
      p.servers.push(l);
      return;
    case "disabled":
      p.disabled = l.line;
      return;
    case "stats":
      if (rest[0] === "enable" || rest[0] === "uri") p.stats = true;
      return notCarried(...PROXY.stats!);
  }
  const known = PROXY[kw];
  if (known) return notCarried(known[0], known[1]);
  notCarried("warning", "the import does not know this keyword");
}

function readOption(ctx: Ctx, p: Proxy, l: Line, name: string, args: string[], on: boolean): void {
  const s = p.s;
  const text = shown(l.words);
  if (name === "redispatch") s.redispatch = { v: on, line: l.line };
  else if (name === "forwardfor") {
    s.forwardfor = { v: on, line: l.line };
    if (args.length) ctx.push("note", l.line, `${text}: ${args.join(" ")} not imported: Tandem adds X-Forwarded-For for every client`);
  } else if (name === "httplog" || name === "tcplog" || name === "httpslog") s.httplog = { v: on ? name : undefined, line: l.line };
  else if (name === "httpchk") {
    if (!on) return void (s.httpchk = undefined);
    s.httpchk = { v: httpchk(ctx, l, args), line: l.line };
    s.checkOption = undefined;
  } else if (CHECK_OPTIONS[name]) {
    s.checkOption = on ? { v: name, line: l.line } : undefined;
    if (on) s.httpchk = undefined;
  } else {
    const known = OPTION[name];
    ctx.push(known?.[0] ?? "warning", l.line, `${text} is not imported: ${known?.[1] ?? "the import does not know this option"}`);
  }
}

/** option httpchk [METHOD] [URI] [VERSION (with \r\nHost: NAME after it)]; one argument is the URI. */
function httpchk(ctx: Ctx, l: Line, args: string[]): HttpChk {
  const [method, path, version] = args.length === 1 ? ["OPTIONS", args[0]!, undefined] : [args[0] ?? "OPTIONS", args[1] ?? "/", args[2]];
  const out: HttpChk = { method: method.toUpperCase(), path };
  if (version) {
    const [, ...headers] = version.split("\r\n");
    for (const h of headers) {
      const m = /^([^:]+):\s*(.*)$/.exec(h);
      if (m && m[1]!.toLowerCase() === "host") out.host = m[2]!.trim();
      else if (h) ctx.push("note", l.line, `the check's header "${h}" is not imported: Tandem's check sends Host only`);
    }
  }
  return out;
}

function readHttpCheck(ctx: Ctx, s: Settings, l: Line): void {
  const [, step, ...rest] = l.words;
  const text = shown(l.words);
  if (step === "send") {
    const chk: HttpChk = { ...(s.httpchk?.v ?? { method: "OPTIONS", path: "/" }) };
    for (let i = 0; i < rest.length; i++) {
      const k = rest[i]!;
      if (k === "meth") chk.method = (rest[++i] ?? "").toUpperCase();
      else if (k === "uri") chk.path = rest[++i] ?? "/";
      else if (k === "ver") i++;
      else if (k === "hdr") {
        const [name, value] = [rest[++i] ?? "", rest[++i] ?? ""];
        if (name.toLowerCase() === "host") chk.host = value;
        else ctx.push("note", l.line, `the check's header ${name} is not imported: Tandem's check sends Host only`);
      } else {
        ctx.push("note", l.line, `${text}: ${shown(rest.slice(i))} not imported: Tandem's check sends a GET with no body`);
        break;
      }
    }
    s.httpchk = { v: chk, line: s.httpchk?.line ?? l.line };
    return;
  }
  if (step === "expect") {
    if (s.expect && s.expect.line !== l.line) ctx.push("warning", l.line, `${text} is not imported: Tandem's check has one expectation; the first, at line ${s.expect.line}, is kept`);
    if (s.expect) return;
    const neg = rest[0] === "!";
    const [how, ...vals] = neg ? rest.slice(1) : rest;
    const value = vals.join(" ");
    const notCarried = (why: string) => ctx.push("warning", l.line, `${text} is not imported: ${why}; the check passes on 200-399`);
    if (how === "status" || how === "rstatus") {
      const codes = statusCodes(how === "status" ? { list: value } : { regex: value }, neg);
      if (codes === undefined) return notCarried(how === "rstatus" ? "not a regular expression Tandem reads" : "not a list of statuses");
      if (!codes) return notCarried("no status from 100 to 599 passes");
      s.expect = { v: { status: codes }, line: l.line };
    } else if ((how === "string" || how === "rstring") && !neg) {
      const body = how === "string" ? escapeRegex(value) : value;
      try {
        new RegExp(body);
      } catch (e) {
        return notCarried(`not a regular expression Tandem reads (JavaScript's syntax): ${(e as Error).message}`);
      }
      s.expect = { v: { body }, line: l.line };
    } else notCarried(neg ? "a negated body match has no counterpart" : `expect ${how} has no counterpart (status, rstatus, string, rstring have)`);
    return;
  }
  if (step === "disable-on-404") return ctx.push("note", l.line, `${text} is not imported: a 404 fails the check like any status outside the list`);
  ctx.push("warning", l.line, `${text} is not imported: ${PROXY["http-check"]![1]}`);
}

/**
 * The statuses from 100 to 599 that pass, as the check's status list
 * ("200-299,302"): from HAProxy's list (`status 200`, `status 200-399,404`)
 * or by trying each against its regular expression (`rstatus ^[23]`).
 * Undefined when the text is neither; "" when none passes.
 */
export function statusCodes(spec: { list: string } | { regex: string }, negate: boolean): string | undefined {
  let pass: (code: number) => boolean;
  if ("list" in spec) {
    const ranges = spec.list.split(",").map((r) => /^(\d{3})(?:-(\d{3}))?$/.exec(r.trim()));
    if (ranges.some((r) => !r)) return undefined;
    pass = (c) => ranges.some((r) => c >= Number(r![1]) && c <= Number(r![2] ?? r![1]));
  } else {
    let re: RegExp;
    try {
      re = new RegExp(spec.regex);
    } catch {
      return undefined;
    }
    pass = (c) => re.test(String(c));
  }
  const out: string[] = [];
  for (let c = 100; c <= 599; c++) {
    if (pass(c) === negate) continue;
    let end = c;
    while (end + 1 <= 599 && pass(end + 1) !== negate) end++;
    out.push(end === c ? String(c) : `${c}-${end}`);
    c = end;
  }
  return out.join(",");
}

function readBalance(ctx: Ctx, s: Settings, l: Line): void {
  const [, algo = "", ...args] = l.words;
  const set = (v: { algo: string; key?: string }) => (s.balance = { v, line: l.line });
  const extra = (n: number, why: string) => args.length > n && ctx.push("note", l.line, `balance ${algo}: ${args.slice(n).join(" ")} not imported: ${why}`);
  if (BALANCE_DIRECT.includes(algo)) {
    set({ algo });
    extra(0, algo === "uri" ? "Tandem hashes the whole path with its query" : "no counterpart");
  } else if (/^random(\(\d+\))?$/.test(algo)) {
    set({ algo: "random" });
    if (algo !== "random" && algo !== "random(2)") ctx.push("note", l.line, `balance ${algo}: Tandem draws two servers and takes the less loaded`);
  } else if (algo === "url_param" && args[0]) {
    set({ algo: "url_param", key: args[0] });
    extra(1, "Tandem hashes the parameter of the query string only");
  } else if (/^hdr\(([^)]+)\)$/.test(algo)) {
    set({ algo: "hdr", key: /^hdr\(([^)]+)\)$/.exec(algo)![1]! });
    extra(0, "Tandem hashes the whole header value");
  } else ctx.push("warning", l.line, `${shown(l.words)} is not imported: ${PROXY.balance![1]}`);
}

/** The certificate entries of a `crt PATH` (a file, or a directory of them). */
function certsOf(ctx: Ctx, line: number, path: string): Array<{ value: TomlTable; comment: string }> {
  const full = path.startsWith("/") || !ctx.crtBase ? path : `${ctx.crtBase.replace(/\/$/, "")}/${path}`;
  const kind = ctx.certs?.kind(full);
  if (kind === "dir") {
    const files = ctx.certs!.list(full).filter((f) => !CERT_COMPANIONS.test(f)).sort();
    if (!files.length) ctx.push("warning", line, `crt ${path}: the directory holds no certificate`);
    return files.flatMap((f) => certsOf(ctx, line, `${full.replace(/\/$/, "")}/${f}`));
  }
  if (kind === undefined) ctx.push("note", line, `crt ${full}: not readable here, so taken as one PEM file holding the certificate and its key, as HAProxy's usually is`);
  const text = kind === "file" ? ctx.certs!.read(full) : undefined;
  const keyFile = text !== undefined && !text.includes("PRIVATE KEY") && ctx.certs!.kind(`${full}.key`) === "file" ? `${full}.key` : full;
  return [{ value: { cert_file: full, key_file: keyFile }, comment: `crt ${path}` }];
}

/** A crt-list file (its own path as written; crt-base applies to the certificates it names): each line `CERT [[SSL OPTIONS]] [SNI FILTERS]`. */
function crtList(ctx: Ctx, line: number, full: string): Array<{ value: TomlTable; comment: string }> {
  const path = full;
  const text = ctx.certs?.read(full);
  if (text === undefined) {
    ctx.push("todo", undefined, `proxy: the certificates of crt-list ${full} (${ctx.where(line)}): the file could not be read here`);
    return [{ value: { cert_file: `TODO: the certificates of ${full}`, key_file: "TODO" }, comment: `crt-list ${path}` }];
  }
  const out: Array<{ value: TomlTable; comment: string }> = [];
  for (const raw of text.split("\n")) {
    const w = raw.replace(/#.*/, "").replace(/\[[^\]]*\]/, "").trim().split(/\s+/).filter(Boolean);
    if (!w.length) continue;
    const names = w.slice(1).filter((n) => !n.startsWith("!"));
    if (w.slice(1).some((n) => n.startsWith("!"))) ctx.push("note", line, `crt-list ${path}: excluded names (!NAME) are not imported: a certificate serves the names it lists`);
    for (const c of certsOf(ctx, line, w[0]!)) {
      const ok = names.length && names.every((n) => fits(CertificateSchema.properties.server_names.items, n));
      if (names.length && !ok) ctx.push("warning", line, `crt-list ${path}: the names ${names.join(" ")} are not host names Tandem takes; the certificate's own names are served`);
      out.push({ value: { ...c.value, ...(ok ? { server_names: names } : {}) }, comment: `crt-list ${path}: ${raw.trim()}` });
    }
  }
  return out;
}

/** ADDRESS:PORT[,...] of a bind line, in Tandem's spelling; or why not. */
export function bindAddresses(text: string): { addrs: string[] } | { why: string } {
  const addrs: string[] = [];
  for (const part of text.split(",")) {
    const pre = /^(ipv4|ipv6|tcp|tcp4|tcp6)@(.*)$/.exec(part);
    const body = pre ? pre[2]! : part;
    if (/^(unix|abns|fd|sockpair|udp|udp4|udp6|quic4|quic6|uxst|uxdg)@/.test(part) || part.startsWith("/")) return { why: `${part} is not an address and port: Tandem listens on TCP addresses` };
    const m = /^(.*):(\d+)(?:-(\d+))?$/.exec(body);
    if (!m) return { why: `${part} has no port` };
    const first = Number(m[2]);
    const last = m[3] === undefined ? first : Number(m[3]);
    if (first < 1 || last > 65535 || last < first) return { why: `${part}: not a port from 1 to 65535` };
    if (last - first >= MAX_PORT_RANGE) return { why: `${part}: a range of more than ${MAX_PORT_RANGE} ports` };
    const host = m[1]!.replace(/^\[(.*)\]$/, "$1");
    const v6 = pre?.[1] === "ipv6" || pre?.[1] === "tcp6";
    let address: string;
    if (host === "" || host === "*") address = v6 ? "[::]" : "0.0.0.0";
    else {
      const bytes = parseIp(host);
      if (!bytes) return { why: `${host} is not an address (the import does not look names up)` };
      address = bytes.length === 16 ? `[${formatIp(bytes)}]` : formatIp(bytes);
    }
    for (let port = first; port <= last; port++) addrs.push(`${address}:${port}`);
  }
  return { addrs };
}

function readBind(ctx: Ctx, p: Proxy, l: Line, rest: string[]): void {
  const text = shown(l.words);
  const got = bindAddresses(rest[0] ?? "");
  if ("why" in got) return ctx.push("warning", l.line, `${text} is not imported: ${got.why}`);
  const bind: Bind = { line: l.line, addrs: got.addrs, tls: false, certs: [], acceptProxy: false };
  const others: string[] = [];
  for (let i = 1; i < rest.length; i++) {
    const o = rest[i]!;
    if (o === "ssl") bind.tls = true;
    else if (o === "crt" && rest[i + 1]) bind.certs.push(...certsOf(ctx, l.line, rest[++i]!));
    else if (o === "crt-list" && rest[i + 1]) bind.certs.push(...crtList(ctx, l.line, rest[++i]!));
    else if (o === "accept-proxy") bind.acceptProxy = true;
    else if (BIND_WITH_VALUE.has(o)) others.push(`${o} ${rest[++i] ?? ""}`.trim());
    else others.push(o);
  }
  if (others.length) ctx.push("note", l.line, `bind ${rest[0]}: ${others.join(", ")} not imported: ${others.some((o) => /^(alpn|ciphers|ciphersuites|curves|ssl-min-ver|ssl-max-ver|no-|force-|prefer-client-ciphers|strict-sni|ca-file|verify)/.test(o)) ? "Tandem's TLS takes Bun's defaults (TLS 1.2 and up, HTTP/1.1)" : "no counterpart"}`);
  if (bind.tls && !bind.certs.length) return ctx.push("warning", l.line, `${text} is not imported: ssl with no crt`);
  if (!bind.tls && bind.certs.length) bind.certs = [];
  p.binds.push(bind);
}

/** The global section: workers, header limits, crt-base; the rest are notes. */
function readGlobal(ctx: Ctx, sec: Section): void {
  for (const l of sec.lines) {
    const [kw = "", a] = l.words;
    if (kw === "nbthread" && whole(a, 1, ProxySchema.properties.workers.maximum!) !== undefined) ctx.workers = { v: Number(a), line: l.line };
    else if (kw === "tune.http.maxhdr" && whole(a, 8, 1000) !== undefined) ctx.maxHeaders = { v: Number(a), line: l.line };
    else if (kw === "crt-base" && a) ctx.crtBase = a;
    else if (kw === "maxconn") ctx.push("note", l.line, `${shown(l.words)} is not imported: Tandem bounds each frontend by its own maxconn`);
    else if (kw.startsWith("tune.ssl.")) ctx.push("note", l.line, `${shown(l.words)} is not imported: ${GLOBAL["ssl-default-bind-options"]![1]}`);
    else if (kw.startsWith("tune.")) ctx.push("note", l.line, `${shown(l.words)} is not imported: Tandem's buffers are its own; [proxy] max_header_bytes bounds a head`);
    else {
      const known = GLOBAL[kw];
      ctx.push(known?.[0] ?? "warning", l.line, `${shown(l.words)} is not imported: ${known?.[1] ?? "the import does not know this keyword"}`);
    }
  }
}

interface ServerOpts {
  weight?: number;
  maxconn?: number;
  backup?: boolean;
  check?: boolean;
  inter?: number;
  rise?: number;
  fall?: number;
  port?: number;
  checkSsl?: boolean;
  disabled?: boolean;
  sendProxy?: "v1" | "v2";
  observe?: "layer4" | "layer7";
  errorLimit?: number;
}

/** A server's (or default-server's) options after its address, into `o`. */
function serverOpts(ctx: Ctx, l: Line, words: string[], o: ServerOpts): void {
  for (let i = 0; i < words.length; i++) {
    const k = words[i]!;
    const v = SERVER_WITH_VALUE.has(k) ? words[++i] : undefined;
    const bad = (expected: string) => ctx.push("error", l.line, `${k} "${v ?? ""}": expected ${expected}`);
    switch (k) {
      case "weight":
        if (whole(v, 0, MAX_WEIGHT) === undefined) bad(`a weight from 0 to ${MAX_WEIGHT}`);
        else o.weight = Number(v);
        break;
      case "maxconn":
        if (whole(v, 0, 1_000_000) === undefined) bad("a whole number");
        else if (Number(v) > 0) o.maxconn = Number(v);
        break;
      case "backup":
      case "no-backup":
        o.backup = k === "backup";
        break;
      case "check":
      case "no-check":
        o.check = k === "check";
        break;
      case "check-ssl":
        o.checkSsl = true;
        break;
      case "inter":
        if (timeMs(v) === undefined) bad("a time");
        else o.inter = timeMs(v);
        break;
      case "rise":
      case "fall":
        if (whole(v, 1, CheckSchema.properties.rise.maximum!) === undefined) bad(`a count from 1 to ${CheckSchema.properties.rise.maximum}`);
        else o[k] = Number(v);
        break;
      case "port":
        if (whole(v, 1, 65535) === undefined) bad("a port");
        else o.port = Number(v);
        break;
      case "disabled":
      case "enabled":
        o.disabled = k === "disabled";
        break;
      case "send-proxy":
        o.sendProxy = "v1";
        break;
      case "send-proxy-v2":
      case "send-proxy-v2-ssl":
      case "send-proxy-v2-ssl-cn":
        o.sendProxy = "v2";
        if (k !== "send-proxy-v2") ctx.push("note", l.line, `${k} is carried as send-proxy-v2: its TLS details have no counterpart`);
        break;
      case "no-send-proxy":
      case "no-send-proxy-v2":
        o.sendProxy = undefined;
        break;
      case "observe":
        if (v === "layer4" || v === "layer7") o.observe = v;
        else bad("layer4 or layer7");
        break;
      case "error-limit":
        if (whole(v, 1, BackendSchema.properties.error_limit.maximum!) === undefined) bad(`a count from 1 to ${BackendSchema.properties.error_limit.maximum}`);
        else o.errorLimit = Number(v);
        break;
      default: {
        const known = SERVER[k];
        ctx.push(known?.[0] ?? "note", l.line, `server option ${v !== undefined ? `${k} ${v}` : k} is not imported: ${known?.[1] ?? (k.startsWith("no-") || /^(ssl|tls|force-|allow-0rtt|verifyhost|check-via-socks4|non-stick|no-tls-tickets|send-proxy)/.test(k) ? "server TLS and its options are not spoken" : "no counterpart")}`);
      }
    }
  }
}

interface ServerOut extends RealOut {
  /** No port in the file, and none to take from the frontends: written as a TODO. */
  portTodo?: boolean;
  maxconn?: number;
  backup?: boolean;
  opts: ServerOpts;
}

/** A server's address and port: an IP address, or a TODO placeholder for a name or an environment variable. */
function serverAddress(ctx: Ctx, l: Line, text: string): { address: string; port?: number; noPort?: true } | undefined {
  const t = text.replace(/^(ipv4|ipv6)@/, "");
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(t) ?? (parseIp(t) ? [t, t, undefined] : /^(.*?)(?::([+-]?\d+))?$/.exec(t));
  if (!m) return undefined;
  const host = m[1]!;
  const portText = m[2];
  if (portText !== undefined && /^[+-]/.test(portText)) {
    ctx.push("warning", l.line, `server ${l.words[1]} ${text}: a port relative to the client's (${portText}) has no counterpart; the TODO asks for one`);
  }
  const port = portText !== undefined && /^\d+$/.test(portText) && Number(portText) >= 1 && Number(portText) <= 65535 ? Number(portText) : undefined;
  const bytes = parseIp(host);
  const address = bytes ? formatIp(bytes) : `TODO: ${host}'s address`;
  if (!bytes) ctx.push("todo", undefined, `services: the address of server ${l.words[1]} ${host} (${ctx.where(l.line)}): HAProxy looked the name up; the import does not`);
  return port !== undefined ? { address, port } : { address, noPort: true };
}

interface BackendOut {
  name: string;
  p: Proxy;
  entries: Entry[];
  servers: ServerOut[];
  check: Entry[];
  mode: string;
}

const dur = (ms: number) => formatDuration(Math.min(ms, MAX_DURATION_MS));

/** One server line as a Tandem server and its check. */
function serverOf(ctx: Ctx, p: Proxy, l: Line, kind: string): ServerOut | undefined {
  const [, name, addr] = l.words;
  if (!name || !addr) return void ctx.push("error", l.line, "server: expected server NAME ADDRESS[:PORT] [OPTIONS]");
  if (/^(unix@|abns@|\/)/.test(addr)) return void ctx.push("warning", l.line, `server ${name} ${addr} is not imported: Tandem connects to servers over TCP`);
  const o: ServerOpts = {};
  for (const d of p.s.defaultServer) serverOpts(ctx, d, d.words.slice(1), o);
  serverOpts(ctx, l, l.words.slice(3), o);
  const a = serverAddress(ctx, l, addr);
  if (!a) return void ctx.push("error", l.line, `server ${name}: "${addr}" is not ADDRESS[:PORT]`);
  const s = p.s;
  let check: Entry[];
  if (!o.check) check = [["kind", "none", "HAProxy did not check this server"]];
  else {
    const inter = o.inter ?? DEFAULT_INTER_MS;
    const timeout = s.timeout.check?.v ?? inter;
    const k = kind === "http" && o.checkSsl ? "https" : kind;
    check = [
      ["kind", k, s.httpchk ? `option httpchk (line ${s.httpchk.line})` : s.checkOption ? `option ${s.checkOption.v} (line ${s.checkOption.line}) connects only` : "check"],
      ["interval", dur(inter), o.inter !== undefined ? "inter" : "HAProxy's default inter"],
      ["timeout", dur(timeout), s.timeout.check ? "timeout check" : "inter: HAProxy bounds a check by it with no timeout check"],
      ["rise", o.rise ?? DEFAULT_RISE, o.rise !== undefined ? "rise" : "HAProxy's default rise"],
      ["fall", o.fall ?? DEFAULT_FALL, o.fall !== undefined ? "fall" : "HAProxy's default fall"],
      ...(o.port !== undefined ? [["port", o.port, "port"] as Entry] : []),
    ];
    if (k === "http" || k === "https") {
      const c = s.httpchk!.v;
      check.push(["path", c.path, "the check's URI"]);
      check.push(["status", s.expect?.v.status ?? "200-399", s.expect?.v.status ? "http-check expect" : "HAProxy passes 2xx and 3xx"]);
      if (s.expect?.v.body !== undefined) check.push(["body", s.expect.v.body, "http-check expect"]);
      if (c.host !== undefined) check.push(["host", c.host, "the check's Host header"]);
    }
  }
  if (o.disabled) ctx.push("warning", l.line, `server ${name} is disabled (maintenance): written with weight 0, which takes no new connections; set its weight when it may serve`);
  return {
    label: `server ${name}`,
    where: ctx.where(l.line),
    address: a.address,
    ...(a.port !== undefined ? { port: a.port } : {}),
    weight: o.disabled ? 0 : (o.weight ?? 1),
    comment: `server ${name} ${addr}${a.noPort ? " (no port: the port the client connected to)" : ""}`,
    check,
    ...(o.maxconn !== undefined ? { maxconn: o.maxconn } : {}),
    ...(o.backup ? { backup: true } : {}),
    opts: o,
  };
}

/** The value most servers share (a per-backend setting in Tandem, per server in HAProxy), with a warning for each other. */
function common<T>(ctx: Ctx, servers: readonly ServerOut[], what: string, get: (s: ServerOut) => T | undefined): T | undefined {
  const count = new Map<T | undefined, number>();
  for (const s of servers) count.set(get(s), (count.get(get(s)) ?? 0) + 1);
  const [best] = [...count].reduce((a, b) => (b[1] > a[1] ? b : a));
  for (const s of servers.filter((x) => get(x) !== best)) {
    const line = Number(/:(\d+)$/.exec(s.where)![1]);
    ctx.push("warning", line, `${s.label}: its ${what} ${get(s) ?? "none"} differs from the others' ${best ?? "none"}: Tandem sets it for the whole backend`);
  }
  return best;
}

function backendOf(ctx: Ctx, p: Proxy, name: string): BackendOut | undefined {
  const s = p.s;
  const mode = s.mode?.v ?? "tcp";
  const kind = s.httpchk ? "http" : "tcp";
  if (s.checkOption) ctx.push("warning", s.checkOption.line, `option ${s.checkOption.v}: Tandem has no check that sends ${CHECK_OPTIONS[s.checkOption.v]}; a tcp check is written, which connects only`);
  if (s.httpchk && s.httpchk.v.method !== "GET") ctx.push("note", s.httpchk.line, `the check's method ${s.httpchk.v.method} is not imported: Tandem's check sends GET`);
  const servers = p.servers.flatMap((l) => serverOf(ctx, p, l, kind) ?? []);
  if (!servers.length) return undefined;
  const entries: Entry[] = [["service", name]];
  const balance = s.balance?.v ?? { algo: "roundrobin" };
  entries.push(["balance", balance.algo, s.balance ? "balance" : "HAProxy's default balance"]);
  if (balance.key !== undefined) {
    if (fits(BackendSchema.properties.hash_key, balance.key)) entries.push(["hash_key", balance.key]);
    else ctx.push("error", s.balance!.line, `balance ${balance.algo}: "${balance.key}" is not a name to hash on`);
  }
  if (s.cookie && mode === "http") entries.push(["cookie", s.cookie.v, `cookie ${s.cookie.v} insert (line ${s.cookie.line})`]);
  if (s.stickSrc && s.stickSize) {
    entries.push(["stick_on_source", true, `stick on src (line ${s.stickSrc.line})`]);
    if (s.stickSize.v.expire !== undefined) entries.push(["stick_expire", dur(s.stickSize.v.expire), "the stick-table's expire"]);
    entries.push(["stick_size", Math.min(s.stickSize.v.size, BackendSchema.properties.stick_size.maximum!), "the stick-table's size"]);
  } else if (s.stickSrc) ctx.push("warning", s.stickSrc.line, "stick on src is not imported: the backend has no stick-table of type ip");
  else if (s.stickSize) ctx.push("warning", s.stickSize.line, "stick-table is not imported: no stick on src uses it");
  const observe = common(ctx, servers, "observe", (x) => x.opts.observe);
  entries.push(["observe", observe ?? "none", observe ? "observe" : "HAProxy watched no live traffic without observe"]);
  const limit = common(ctx, servers, "error-limit", (x) => x.opts.errorLimit);
  if (observe) entries.push(["error_limit", limit ?? DEFAULT_ERROR_LIMIT, limit !== undefined ? "error-limit" : "HAProxy's default error-limit"]);
  const retries = s.retries?.v ?? DEFAULT_RETRIES;
  const maxRetries = BackendSchema.properties.retries.maximum!;
  if (retries > maxRetries) ctx.push("warning", s.retries!.line, `retries ${retries}: Tandem retries at most ${maxRetries} times`);
  entries.push(["retries", Math.min(retries, maxRetries), s.retries ? "retries" : "HAProxy's default retries"]);
  entries.push(["redispatch", s.redispatch?.v ?? false, s.redispatch ? `${s.redispatch.v ? "" : "no "}option redispatch` : "HAProxy redispatches only with option redispatch"]);
  const t = s.timeout;
  const need = (key: string, haproxy: string, def: string) => {
    const v = t[haproxy];
    if (v) return entries.push([key, dur(v.v), `timeout ${haproxy}`]);
    ctx.push("warning", p.section.line, `${p.section.kind} ${p.section.name}: no timeout ${haproxy} (HAProxy waited without end): Tandem's ${def} is written`);
    entries.push([key, def, `no timeout ${haproxy}: Tandem's default`]);
  };
  need("connect_timeout", "connect", BackendSchema.properties.connect_timeout.default);
  need("server_timeout", "server", BackendSchema.properties.server_timeout.default);
  const queue = t.queue ?? t.connect;
  if (queue) entries.push(["queue_timeout", dur(queue.v), t.queue ? "timeout queue" : "timeout connect: HAProxy bounds the queue by it with no timeout queue"]);
  const tunnel = t.tunnel ?? (t.client && t.server ? (t.client.v >= t.server.v ? t.client : t.server) : (t.server ?? t.client));
  if (tunnel) entries.push(["tunnel_timeout", dur(tunnel.v), t.tunnel ? "timeout tunnel" : "timeout client and server: HAProxy bounds a tunnel by them with no timeout tunnel"]);
  const sendProxy = common(ctx, servers, "send-proxy", (x) => x.opts.sendProxy);
  if (sendProxy) entries.push(["send_proxy", sendProxy, sendProxy === "v1" ? "send-proxy" : "send-proxy-v2"]);
  return { name, p, entries, servers, check: commonCheck(servers, ctx.findings), mode };
}

interface FrontendOut {
  name: string;
  line: number;
  sectionName: string;
  entries: Entry[];
  certs: Array<{ value: TomlTable; comment: string }>;
  rules: Array<{ rule: Rule; backend: string; comment: string }>;
  ports: number[];
  backends: Set<string>;
}

function frontendsOf(ctx: Ctx, p: Proxy, names: Names, backendName: (h: string) => string | undefined): FrontendOut[] {
  const s = p.s;
  const sec = p.section;
  const mode = s.mode?.v ?? "tcp";
  const head = `${sec.kind} ${sec.name}`;
  if (mode === "health") return void ctx.push("warning", sec.line, `${head} is not imported: mode health answered every connection; Tandem's health is at /v1/health on its API`), [];
  const defaultHa = sec.kind === "listen" && p.servers.length ? sec.name : s.defaultBackend?.v;
  const rules: FrontendOut["rules"] = [];
  for (const u of p.uses) {
    const text = `use_backend ${u.backend} ${shown(u.cond)}`.trim();
    if (u.backend.includes("%[")) {
      ctx.push("warning", u.line, `${text} is not imported: a backend named by a sample expression has no counterpart`);
      continue;
    }
    const target = backendName(u.backend);
    if (!target) {
      ctx.push("warning", u.line, `${text} is not imported: backend ${u.backend} is not imported`);
      continue;
    }
    const cond = u.cond.length ? conditionOf(u.cond, p.acls, mode === "http" ? "http" : "tcp") : { rules: [{}], dropped: [] };
    for (const why of cond.dropped) ctx.push("warning", u.line, `${text}: ${cond.rules.length ? "the alternative " : ""}${why}; ${cond.rules.length ? "it is" : "the line is"} not imported`);
    cond.rules.forEach((rule, i) => rules.push({ rule, backend: target, comment: `${ctx.where(u.line)}: ${text}${cond.rules.length > 1 ? ` (${i + 1} of ${cond.rules.length})` : ""}` }));
  }
  let defaultBackend = defaultHa === undefined ? undefined : backendName(defaultHa);
  if (defaultHa !== undefined && defaultBackend === undefined) ctx.push("warning", s.defaultBackend?.line ?? sec.line, `${head}: its default backend ${defaultHa} is not imported`);
  if (defaultBackend === undefined) {
    if (!rules.length) return void ctx.push("warning", sec.line, `${head} is not imported: no backend it routes to is imported`), [];
    ctx.push("todo", undefined, `proxy: the default backend of ${head} (${ctx.where(sec.line)}): HAProxy answered 503 when no use_backend matched; Tandem needs one`);
    defaultBackend = `TODO: the default backend of ${sec.name}`;
  }
  const t = s.timeout;
  const entries: Entry[] = [["mode", mode, s.mode ? "mode" : "HAProxy's default mode"], ["default_backend", defaultBackend, sec.kind === "listen" && p.servers.length ? "the listen section's own servers" : "default_backend"]];
  if (mode === "http") {
    const ff = s.forwardfor?.v ?? false;
    entries.push(["forwarded_for", ff, s.forwardfor ? `${ff ? "" : "no "}option forwardfor` : "HAProxy adds X-Forwarded-For only with option forwardfor"]);
  }
  if (s.maxconn) entries.push(["maxconn", s.maxconn.v, "maxconn"]);
  if (t.client) entries.push(["client_timeout", dur(t.client.v), "timeout client"]);
  else {
    ctx.push("warning", sec.line, `${head}: no timeout client (HAProxy waited without end): Tandem's ${ProxySchema.properties.frontend.items.properties.client_timeout.default} is written`);
    entries.push(["client_timeout", ProxySchema.properties.frontend.items.properties.client_timeout.default, "no timeout client: Tandem's default"]);
  }
  if (mode === "http") {
    const req = t["http-request"] ?? t.client;
    if (req) entries.push(["request_timeout", dur(req.v), t["http-request"] ? "timeout http-request" : "timeout client: HAProxy bounds the request head by it with no timeout http-request"]);
    const ka = t["http-keep-alive"] ?? t["http-request"] ?? t.client;
    if (ka) entries.push(["keepalive_timeout", dur(ka.v), t["http-keep-alive"] ? "timeout http-keep-alive" : "HAProxy's fallback for timeout http-keep-alive"]);
  }
  const groups = [p.binds.filter((b) => !b.tls), p.binds.filter((b) => b.tls)].filter((g) => g.length);
  const base = nameFrom(sec.name, "frontend");
  if (groups.length > 1) ctx.push("note", sec.line, `${head} listens with and without TLS: it becomes two frontends, ${base} and ${base}-tls, with the same rules`);
  return groups.map((g, i) => {
    const accept = g.map((b) => b.acceptProxy);
    if (accept.some((x) => x !== accept[0])) ctx.push("warning", g.find((b) => b.acceptProxy !== accept[0])!.line, `${head}: accept-proxy on some of its binds only: Tandem sets it per frontend, taken from the first`);
    return {
      name: names.unique(i === 1 ? `${base}-tls` : base),
      line: sec.line,
      sectionName: sec.name,
      entries: [["bind", g.flatMap((b) => b.addrs)] as Entry, ...entries, ...(accept[0] ? [["accept_proxy", true, "accept-proxy"] as Entry] : [])],
      certs: g.flatMap((b) => b.certs),
      rules,
      ports: [...new Set(g.flatMap((b) => b.addrs.map((a) => Number(/:(\d+)$/.exec(a)![1]))))],
      backends: new Set([defaultBackend!, ...rules.map((r) => r.backend)]),
    };
  });
}

/** The sections HAProxy reads besides the proxies, and what the import says of each. */
const OTHER_SECTIONS: Readonly<Record<string, readonly [Level, string]>> = table({
  peers: ["note", "Tandem replicates stick tables to its peer over the cluster bus"],
  resolvers: ["note", "Tandem takes addresses, not names to resolve"],
  userlist: ["warning", "HTTP authentication has no counterpart"],
  mailers: ["note", "Tandem sends no email; its events stream from /v1/events"],
  cache: ["note", "Tandem does not cache answers"],
  program: ["note", "Tandem runs programs as resources ([[resources]])"],
  "http-errors": ["note", "Tandem answers errors with its own short bodies"],
  ring: ["note", "Tandem logs JSON lines on stdout"],
  "log-forward": ["note", "Tandem logs JSON lines on stdout"],
  "fcgi-app": ["warning", "FastCGI has no counterpart"],
  "crt-store": ["warning", "certificate stores have no counterpart: name the files in crt"],
  traces: ["note", "no counterpart"],
});

export function importHaproxy(input: HaproxyInput): ImportResult {
  const ctx = new Ctx(input.file, input.certs);
  const parsed = parse(input.text);
  for (const e of parsed.errors) ctx.push("error", e.line, e.message);
  const defaults = new Map<string, Settings>();
  let current = newSettings();
  const proxies: Proxy[] = [];
  for (const sec of parsed.sections) {
    if (sec.kind === "global") {
      readGlobal(ctx, sec);
      continue;
    }
    const from = sec.args[0] === "from" ? sec.args[1] : sec.kind === "defaults" && sec.name === "from" ? sec.args[0] : undefined;
    const named = sec.kind === "defaults" && sec.name !== "from" ? sec.name : "";
    if (!(sec.kind === "defaults" || sec.kind === "frontend" || sec.kind === "backend" || sec.kind === "listen")) {
      const [level, why] = OTHER_SECTIONS[sec.kind]!;
      ctx.push(level, sec.line, `${sec.kind} ${sec.name} (${sec.lines.length} line${sec.lines.length === 1 ? "" : "s"}) is not imported: ${why}`);
      continue;
    }
    let start = current;
    if (from !== undefined) {
      const base = defaults.get(from);
      if (!base) ctx.push("error", sec.line, `no defaults section named ${from}`);
      else start = base;
    }
    const p: Proxy = { section: sec, s: structuredClone(start), binds: [], acls: new Map(), uses: [], servers: [], stats: false };
    if (sec.kind === "listen" && sec.args.length && sec.args[0] !== "from") {
      ctx.push("note", sec.line, `listen ${sec.name} ${sec.args[0]}: the address on the listen line is carried as a bind; HAProxy 2.x refuses it there`);
      readBind(ctx, p, { line: sec.line, words: ["bind", ...sec.args] }, sec.args);
    }
    for (const l of sec.lines) readLine(ctx, p, l);
    if (sec.kind === "defaults") {
      for (const kw of ["bind", "server", "use_backend", "acl"] as const) if ((kw === "bind" ? p.binds : kw === "server" ? p.servers : kw === "use_backend" ? p.uses : [...p.acls.keys()]).length) ctx.push("warning", sec.line, `defaults: ${kw} lines in a defaults section are not imported`);
      current = p.s;
      if (named) defaults.set(named, p.s);
      continue;
    }
    if (p.disabled !== undefined) {
      ctx.push("warning", p.disabled, `${sec.kind} ${sec.name} is disabled: not imported`);
      continue;
    }
    proxies.push(p);
  }

  const backendNames = new Names();
  const backends = new Map<string, BackendOut>();
  for (const p of proxies.filter((x) => x.section.kind !== "frontend")) {
    const sec = p.section;
    if (!p.servers.length) {
      if (p.stats) ctx.push("note", sec.line, `${sec.kind} ${sec.name} is not imported: it serves HAProxy's statistics page; Tandem serves its metrics at /metrics and its dashboard`);
      else if (sec.kind === "backend" || !p.binds.length) ctx.push("warning", sec.line, `${sec.kind} ${sec.name} is not imported: it has no server line`);
      continue;
    }
    const b = backendOf(ctx, p, backendNames.unique(nameFrom(sec.name, "backend")));
    if (b) backends.set(sec.name, b);
  }
  const frontendNames = new Names();
  const frontends = proxies
    .filter((p) => p.section.kind === "frontend" || (p.section.kind === "listen" && p.binds.length && !(p.stats && !p.servers.length)))
    .flatMap((p) => frontendsOf(ctx, p, frontendNames, (h) => backends.get(h)?.name));
  const backendsUsed = new Set(frontends.flatMap((f) => [...f.backends]));
  for (const [haName, b] of backends) if (!backendsUsed.has(b.name)) ctx.push("note", b.p.section.line, `backend ${haName} is imported, but no frontend routes to it`);

  const bound = new Map<string, string>();
  for (const f of frontends) {
    const free: string[] = [];
    for (const a of f.entries[0]![1] as string[]) {
      const other = bound.get(a);
      if (other === undefined) free.push(a), bound.set(a, f.sectionName);
      else ctx.push("warning", f.line, `bind ${a} of ${f.sectionName} is not imported: ${other === f.sectionName ? "it binds it twice" : `${other} binds it too`} (HAProxy shared it by SO_REUSEPORT; Tandem binds an address once)`);
    }
    f.entries[0] = ["bind", free];
  }
  const listening = frontends.filter((f) => (f.entries[0]![1] as string[]).length);
  for (const b of backends.values()) {
    const ports = [...new Set(listening.filter((f) => f.backends.has(b.name)).flatMap((f) => f.ports))];
    for (const sv of b.servers.filter((x) => x.port === undefined)) {
      if (ports.length === 1) sv.port = ports[0];
      else {
        ctx.push("todo", undefined, `services: the port of ${sv.label} (${sv.where}): it has none, so HAProxy used the port the client connected to${ports.length ? ` (${ports.join(", ")})` : ""}`);
        sv.portTodo = true;
      }
    }
    const seen = new Set<string>();
    b.servers = b.servers.filter((sv) => {
      const id = sv.portTodo ? `${sv.where}` : `${sv.address}:${sv.port}`;
      if (!seen.has(id)) return seen.add(id), true;
      ctx.push("warning", Number(/:(\d+)$/.exec(sv.where)![1]), `${sv.label} is not imported: another server of the backend has the same address and port, ${hostPort(sv.address, sv.port!)}; Tandem lists a server once`);
      return false;
    });
  }

  const httplog = proxies.find((p) => p.s.httplog?.v && p.section.kind !== "backend");
  const findings = tidy(ctx.findings, [input.file]);
  const failed = findings.some((f) => f.level === "error");
  const nServers = [...backends.values()].reduce((n, b) => n + b.servers.length, 0);
  const summary = `${listening.length} frontend${listening.length === 1 ? "" : "s"}, ${backends.size} backend${backends.size === 1 ? "" : "s"}, ${nServers} server${nServers === 1 ? "" : "s"}`;
  if (failed) return { findings, summary };
  if (!backends.size) return { findings: [...findings, { level: "error", where: input.file, message: "no backend or listen section with servers: nothing to import" }], summary };

  const w = new TomlWriter();
  const todos = findings.some((f) => f.level === "todo");
  w.comment(
    "The [proxy] and [[services]] sections of a Tandem config, imported from HAProxy",
    `by \`tandem import haproxy\`, from ${input.file}.`,
    "",
    "Append them to the cluster's config (the proxy runs where its resource is placed),",
    `${todos ? "fill in every TODO, " : ""}and check it (tandem check -c FILE).`,
  );
  w.comment(...findingLines(findings));
  w.table("proxy");
  if (ctx.workers) w.key("workers", ctx.workers.v, `nbthread (line ${ctx.workers.line})`);
  if (ctx.maxHeaders) w.key("max_headers", ctx.maxHeaders.v, `tune.http.maxhdr (line ${ctx.maxHeaders.line})`);
  w.key("access_log", httplog ? 1 : 0, httplog ? `option ${httplog.s.httplog!.v} (line ${httplog.s.httplog!.line}): a line per request` : "no option httplog or tcplog");
  for (const f of listening) {
    w.table("proxy.frontend", { array: true, before: [`${ctx.where(f.line)}: ${f.sectionName}`] });
    w.key("name", f.name);
    for (const [k, v, c] of f.entries) w.key(k, v, c);
    if (f.certs.length) w.tables("certificate", f.certs);
    for (const r of f.rules) {
      w.table("proxy.frontend.rule", { array: true, before: [r.comment] });
      w.key("backend", r.backend);
      for (const [k, v] of Object.entries(r.rule)) w.key(k, v as string | string[] | TomlTable);
    }
  }
  for (const b of backends.values()) {
    w.table("proxy.backend", { array: true, before: [`${ctx.where(b.p.section.line)}: ${b.p.section.kind} ${b.p.section.name}`] });
    w.key("name", b.name);
    for (const [k, v, c] of b.entries) w.key(k, v, c);
  }
  for (const b of backends.values()) {
    w.table("services", { array: true, before: [`the servers of ${b.p.section.kind} ${b.p.section.name}`] });
    w.key("name", b.name);
    w.tables(
      "servers",
      b.servers.map((sv) => ({
        value: {
          address: sv.address,
          ...(sv.port !== undefined ? { port: sv.port } : sv.portTodo ? { port: "TODO: a port" } : {}),
          ...(sv.weight !== 1 ? { weight: sv.weight } : {}),
          ...(sv.maxconn !== undefined ? { maxconn: sv.maxconn } : {}),
          ...(sv.backup ? { backup: true } : {}),
        },
        ...(sv.comment ? { comment: sv.comment } : {}),
      })),
    );
    w.table("services.check");
    for (const [k, v, c] of b.check) w.key(k, v, c);
  }
  return { toml: w.text(), findings, summary };
}
