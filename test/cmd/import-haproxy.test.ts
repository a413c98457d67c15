import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import fc from "fast-check";
import { tandem, tempDir } from "../helpers.ts";
import { formatFinding } from "../../import/findings.ts";
import { importHaproxy, statusCodes, type CertReader } from "../../import/haproxy/index.ts";
import { conditionOf, aclOf, caseBlind } from "../../import/haproxy/acl.ts";
import { words } from "../../import/haproxy/parse.ts";
import { proxyDoc, proxyImportProblems } from "./import-proxy.ts";

const FIXTURES = join(import.meta.dir, "import", "haproxy");
const CONFIGS = readdirSync(FIXTURES).filter((f) => f.endsWith(".cfg")).sort();
/** HAProxy 2.1 and later refuse this one's old spellings; the import reads them. */
const LEGACY = "legacy.cfg";
const HAPROXY = Bun.which("haproxy");
const NO_HAPROXY = "skipped: haproxy is not installed (apt-get install haproxy), so it cannot referee the test configs";

const tmp = tempDir("import-haproxy");
afterAll(tmp.cleanup);

/** The certificates tls.cfg names (crt-base certs), made here as HAProxy loads them: one PEM with the certificate and its key. */
beforeAll(() => {
  const certs = join(tmp.dir, "certs");
  mkdirSync(certs);
  for (const name of ["www", "api", "extra"]) {
    const key = join(tmp.dir, `${name}.key`);
    const crt = join(tmp.dir, `${name}.crt`);
    const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name}.example.com`, "-keyout", key, "-out", crt], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl: ${r.stderr.toString()}`);
    writeFileSync(join(certs, `${name}.pem`), readFileSync(crt, "utf8") + readFileSync(key, "utf8"));
  }
  writeFileSync(join(certs, "list.txt"), "# SNI names per certificate\nextra.pem extra.example.com *.extra.example.com\nwww.pem [alpn h2] www.example.com\n");
});

/** The files as seen from the directory HAProxy ran in (the temporary one, with certs/). */
const certs: CertReader = {
  kind(p) {
    const full = isAbsolute(p) ? p : join(tmp.dir, p);
    return existsSync(full) ? (statSync(full).isDirectory() ? "dir" : "file") : undefined;
  },
  read: (p) => (existsSync(join(tmp.dir, p)) ? readFileSync(join(tmp.dir, p), "utf8") : undefined),
  list: (d) => readdirSync(join(tmp.dir, d)),
};

function imported(file: string) {
  const r = importHaproxy({ file, text: readFileSync(join(FIXTURES, file), "utf8"), certs });
  const findings = r.findings.map(formatFinding);
  if (r.toml === undefined) throw new Error(`nothing imported:\n${findings.join("\n")}`);
  return { toml: r.toml, doc: proxyDoc(r.toml), findings, summary: r.summary };
}

const fromText = (text: string) => importHaproxy({ file: "t.cfg", text });

describe("the test configs, refereed by haproxy -c", () => {
  for (const file of CONFIGS.filter((f) => f !== LEGACY)) {
    test.skipIf(!HAPROXY)(`haproxy -c accepts ${file}${HAPROXY ? "" : ` (${NO_HAPROXY})`}`, () => {
      const r = Bun.spawnSync([HAPROXY!, "-c", "-f", join(FIXTURES, file)], { cwd: tmp.dir, stdout: "pipe", stderr: "pipe" });
      expect(`${r.exitCode} ${r.stdout}${r.stderr}`).toContain("Configuration file is valid");
      expect(r.exitCode).toBe(0);
    });
  }

  test.skipIf(!HAPROXY)(`haproxy -c refuses ${LEGACY} exactly at its old spellings, which the import reads${HAPROXY ? "" : ` (${NO_HAPROXY})`}`, () => {
    const r = Bun.spawnSync([HAPROXY!, "-c", "-f", join(FIXTURES, LEGACY)], { cwd: tmp.dir, stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).not.toBe(0);
    const alerts = `${r.stdout}${r.stderr}`;
    for (const [line, word] of [[13, "contimeout"], [14, "clitimeout"], [15, "srvtimeout"]] as const) expect(alerts).toContain(`${LEGACY}:${line}] : the '${word}' directive is not supported anymore since HAProxy 2.1`);
    expect(alerts).toContain(`${LEGACY}:17] : please use the 'bind' keyword for listening addresses`);
  });

  for (const file of CONFIGS) {
    test(`${file}: the import passes Tandem's validation, with no error`, () => {
      const { toml, findings } = imported(file);
      expect(findings.filter((f) => f.startsWith("error"))).toEqual([]);
      const problems = proxyImportProblems(toml);
      // quoted.cfg names a server by host name: its TODO placeholder is the one thing validation refuses.
      expect(problems).toEqual(file === "quoted.cfg" ? ["services[0].servers[1].address: \"TODO: localhost's address\" is not an IPv4 or IPv6 address"] : []);
      for (const f of findings.filter((x) => !x.startsWith("todo"))) expect(f).toMatch(new RegExp(`^(note|warning): ${file.replace(".", "\\.")}:\\d+: `));
    });
  }
});

describe("what maps", () => {
  test("web-classic.cfg: defaults carried into the frontend and backends; path_beg -i and path_end as case-blind regexes", () => {
    const { doc, summary } = imported("web-classic.cfg");
    expect(summary).toBe("1 frontend, 2 backends, 5 servers");
    expect(doc.proxy.access_log).toBe(1);
    const [fe] = doc.proxy.frontend;
    expect(fe).toMatchObject({ name: "main", bind: ["0.0.0.0:5000"], mode: "http", default_backend: "app", forwarded_for: true, maxconn: 3000, client_timeout: "1m", request_timeout: "10s", keepalive_timeout: "10s" });
    expect(fe!.rule.map((r) => r.backend)).toEqual(["static", "static"]);
    const [beg, end] = fe!.rule.map((r) => new RegExp(r.path_regex!));
    expect(["/Static/a.css", "/images/x", "/JavaScript/"].every((p) => beg!.test(p))).toBe(true);
    expect(beg!.test("/app/static")).toBe(false);
    expect(["/a.JPG", "/b.css?v=2"].every((p) => end!.test(p))).toBe(true);
    expect(end!.test("/a.css.map")).toBe(false);
    expect(doc.proxy.backend[1]).toMatchObject({ name: "app", service: "app", balance: "roundrobin", observe: "none", retries: 3, redispatch: true, connect_timeout: "10s", server_timeout: "1m", queue_timeout: "1m" });
    expect(doc.services[1]!.servers.map((s) => `${s.address}:${s.port}`)).toEqual(["198.18.10.21:5001", "198.18.10.22:5002", "198.18.10.23:5003", "198.18.10.24:5004"]);
    expect(doc.services[1]!.check).toMatchObject({ kind: "tcp", interval: "2s", timeout: "10s", rise: 2, fall: 3 });
  });

  test("vhosts.cfg: host, header, path, method, source; an or becomes several rules, an and one; every balance with a key", () => {
    const { doc, findings } = imported("vhosts.cfg");
    expect(doc.proxy).toMatchObject({ workers: 2, max_headers: 128 });
    const rules = doc.proxy.frontend[0]!.rule.map(({ backend, ...r }) => ({ backend, ...r }));
    expect(rules).toEqual([
      { backend: "static", header: { name: "Host", value_regex: "^[sS][tT][aA][tT][iI][cC]" } },
      { backend: "static", path_prefix: ["/static/"] },
      { backend: "api", host: ["www.example.com", "example.com"], path_prefix: ["/api/", "/v2/"], method: ["POST", "PUT"] },
      { backend: "api", host: ["www.example.org"], path_prefix: ["/api/", "/v2/"], method: ["POST", "PUT"] },
      { backend: "api", host: ["www.example.com", "example.com"], path_prefix: ["/api/", "/v2/"] },
      { backend: "api", host: ["www.example.org"], path_prefix: ["/api/", "/v2/"] },
      { backend: "api", host: ["*.example.net"], path_prefix: ["/api/", "/v2/"] },
      { backend: "images", path_regex: "^/img/[0-9]+\\.(png|jpg)(?:\\?|$)" },
      { backend: "beta", header: { name: "X-Beta", value: "yes" }, source: ["198.18.0.0/16", "198.19.1.7/32"] },
      { backend: "beta", host: ["example.info", "*.example.info"] },
      { backend: "static", path_regex: "^/healthz(?:\\?|$)" },
      { backend: "www", host: ["www.example.com", "example.com"] },
      { backend: "www", host: ["www.example.org"] },
      { backend: "api", header: { name: "X-Api-Key" } },
    ]);
    expect(findings).toContain('warning: vhosts.cfg:40: use_backend static if !office: !office: a rule cannot say "not"; the line is not imported');
    expect(findings).toContain("warning: vhosts.cfg:41: use_backend api if { ssl_fc }: { ssl_fc }: ssl_fc has no counterpart in Tandem's rules (host, path, one header, method, source); the line is not imported");
    expect(doc.proxy.backend.map((b) => [b.name, b.balance, b.hash_key])).toEqual([["www", "roundrobin", undefined], ["api", "url_param", "userid"], ["images", "uri", undefined], ["static", "hdr", "User-Agent"], ["beta", "random", undefined]]);
    expect(doc.services[0]!.servers).toEqual([
      { address: "198.18.21.1", port: 80, weight: 10, maxconn: 200 },
      { address: "198.18.21.2", port: 80, weight: 20, maxconn: 200 },
      { address: "198.18.21.3", port: 80, weight: 1, backup: true },
    ]);
    expect(doc.services[0]!.check.kind).toBe("none");
  });

  test("tls.cfg: plain and TLS binds become two frontends; crt, crt-base and crt-list become certificates with their names; accept-proxy, send-proxy-v2", () => {
    const { doc, findings } = imported("tls.cfg");
    expect(doc.proxy.frontend.map((f) => [f.name, f.bind])).toEqual([["www", ["0.0.0.0:80"]], ["www-tls", ["0.0.0.0:443", "[::]:8443"]], ["from-lb", ["198.18.30.10:8080"]]]);
    expect(doc.proxy.frontend[1]!.certificate).toEqual([
      { cert_file: "certs/www.pem", key_file: "certs/www.pem" },
      { cert_file: "certs/api.pem", key_file: "certs/api.pem" },
      { cert_file: "certs/extra.pem", key_file: "certs/extra.pem", server_names: ["extra.example.com", "*.extra.example.com"] },
      { cert_file: "certs/www.pem", key_file: "certs/www.pem", server_names: ["www.example.com"] },
    ]);
    expect(doc.proxy.frontend[0]!.certificate).toEqual([]);
    expect(doc.proxy.frontend[0]!.rule).toEqual(doc.proxy.frontend[1]!.rule);
    expect(doc.proxy.frontend[2]).toMatchObject({ accept_proxy: true, forwarded_for: false });
    expect(doc.proxy.backend.find((b) => b.name === "api")).toMatchObject({ send_proxy: "v2", tunnel_timeout: "1h" });
    expect(doc.services.find((s) => s.name === "web")!.check).toMatchObject({ kind: "http", path: "/status.php", status: "200-399", interval: "2s", timeout: "2s" });
    for (const line of [32, 33, 37]) expect(findings.some((f) => f.startsWith(`warning: tls.cfg:${line}: `))).toBe(true);
    expect(findings).toContain("note: tls.cfg:28: frontend www listens with and without TLS: it becomes two frontends, www and www-tls, with the same rules");
  });

  test("listen-stats.cfg: a listen section is a frontend and a backend; the stats listen is a note; cookie insert, stick on src, inter/rise/fall", () => {
    const { doc, findings } = imported("listen-stats.cfg");
    expect(doc.proxy.frontend.map((f) => [f.name, f.default_backend])).toEqual([["web-backend", "web-backend"], ["app", "app"]]);
    expect(findings).toContain("note: listen-stats.cfg:28: listen stats is not imported: it serves HAProxy's statistics page; Tandem serves its metrics at /metrics and its dashboard");
    expect(doc.proxy.backend[0]).toMatchObject({ cookie: "SERVERID", redispatch: true });
    expect(doc.proxy.backend[1]).toMatchObject({ balance: "source", stick_on_source: true, stick_expire: "30m", stick_size: 200 * 1024 });
    expect(doc.services[0]!.check).toMatchObject({ kind: "http", interval: "5s", rise: 3, fall: 3, path: "/" });
    expect(findings).toContain("note: listen-stats.cfg:43: the check's method OPTIONS is not imported: Tandem's check sends GET");
    expect(findings).toContain("note: listen-stats.cfg:45: server option fastinter 2s is not imported: Tandem checks at one interval (also at listen-stats.cfg:46, listen-stats.cfg:47)");
  });

  test("tcp-db.cfg: tcp mode; protocol checks become tcp ones with a warning; a tcp frontend routes by source only", () => {
    const { doc, findings } = imported("tcp-db.cfg");
    expect(doc.proxy.frontend.map((f) => f.mode)).toEqual(["tcp", "tcp", "tcp"]);
    expect(doc.proxy.frontend[2]!.rule).toEqual([{ backend: "redis-primary", source: ["198.18.0.0/15"] }]);
    expect(findings).toContain("warning: tcp-db.cfg:38: use_backend redis-primary if cli_path: cli_path: a tcp frontend routes on the source only; the line is not imported");
    expect(findings).toContain("warning: tcp-db.cfg:22: option mysql-check: Tandem has no check that sends a MySQL handshake; a tcp check is written, which connects only");
    expect(findings).toContain("warning: tcp-db.cfg:44: tcp-check send PING\\r\\n is not imported: tcp-check scripts have no counterpart: a tcp check connects only");
    expect(doc.services[0]!.servers.map((s) => s.backup ?? false)).toEqual([false, true, true]);
    expect(doc.services[1]!.servers[0]).toEqual({ address: "198.18.51.1", port: 6432, weight: 1, maxconn: 300 });
    expect(doc.services[1]!.check).toMatchObject({ kind: "tcp", port: 8008, interval: "2s", timeout: "3s", rise: 1, fall: 2 });
    expect(doc.proxy.backend[3]).toMatchObject({ balance: "first", stick_on_source: true, stick_expire: "1h", stick_size: 1024 * 1024 });
    expect(doc.proxy.access_log).toBe(1);
  });

  test("checks.cfg: httpchk with a Host, http-check send and expect, default-server, observe and error-limit, disabled, send-proxy, check-ssl", () => {
    const { doc, findings } = imported("checks.cfg");
    const check = (name: string) => doc.services.find((s) => s.name === name)!;
    expect(check("be-v1").check).toMatchObject({ kind: "http", path: "/health", host: "www.example.com", status: "200-299", interval: "3s", rise: 2, fall: 3 });
    expect(check("be-v1").servers.map((s) => [s.weight, s.maxconn])).toEqual([[50, 100], [50, 100], [0, 100]]);
    expect(findings).toContain("warning: checks.cfg:30: server v1c is disabled (maintenance): written with weight 0, which takes no new connections; set its weight when it may serve");
    expect(doc.proxy.backend[0]).toMatchObject({ observe: "layer7", error_limit: 5 });
    expect(check("be-v2").check).toMatchObject({ kind: "http", path: "/ping", host: "api.example.com", status: "200-399" });
    expect(doc.proxy.backend[1]).toMatchObject({ send_proxy: "v1", observe: "none" });
    expect(findings.some((f) => f.startsWith("warning: checks.cfg:38: server v2c: its check differs (kind \"none\" where the others have \"http\""))).toBe(true);
    expect(check("be-legacy").check).toMatchObject({ body: "ok", port: 8081, interval: "10s", rise: 5, fall: 1 });
    expect(check("be-tls").check).toMatchObject({ kind: "https", body: "^(ready|ok)$" });
    expect(doc.proxy.frontend[0]).toMatchObject({ request_timeout: "5s", keepalive_timeout: "5s" });
    expect(doc.proxy.backend[0]!.queue_timeout).toBe("20s");
  });

  test("quoted.cfg: quotes, escapes and trailing comments; named defaults with from; sections without counterpart; a host name is a TODO", () => {
    const { doc, findings } = imported("quoted.cfg");
    expect(doc.proxy.frontend[0]).toMatchObject({ name: "registry", client_timeout: "30s", forwarded_for: true });
    expect(doc.proxy.frontend[0]!.rule).toEqual([{ backend: "registry", header: { name: "User-Agent", value_regex: "[dD][oO][cC][kK][eE][rR]/ 1" } }]);
    expect(doc.services[0]!.check).toMatchObject({ kind: "http", path: "/v2/_catalog?n=1", body: "repositories" });
    expect(doc.proxy.backend[0]).toMatchObject({ server_timeout: "30s", balance: "first" });
    expect(findings).toContain("note: quoted.cfg:6: resolvers dns (2 lines) is not imported: Tandem takes addresses, not names to resolve");
    expect(findings).toContain("warning: quoted.cfg:14: userlist admins (1 line) is not imported: HTTP authentication has no counterpart");
    expect(findings).toContain("todo: services: the address of server reg2 localhost (quoted.cfg:40): HAProxy looked the name up; the import does not");
  });

  test("legacy.cfg: contimeout, clitimeout, srvtimeout and listen NAME ADDR:PORT carried with notes; reqadd named", () => {
    const { doc, findings } = imported(LEGACY);
    expect(doc.proxy.frontend[0]).toMatchObject({ bind: ["0.0.0.0:80"], client_timeout: "50s" });
    expect(doc.proxy.backend[0]).toMatchObject({ connect_timeout: "5s", server_timeout: "50s", redispatch: true });
    expect(doc.services[0]!.check).toMatchObject({ kind: "http", path: "/LatdA6", host: "www", interval: "20s" });
    expect(findings).toContain("note: legacy.cfg:13: contimeout is carried as timeout connect: HAProxy 2.1 and later refuse this old spelling");
    expect(findings).toContain("warning: legacy.cfg:20: reqadd X-Forwarded-Proto: http is not imported: HAProxy 2.1 removed it (it refuses the file); its work has no counterpart in Tandem");
  });
});

describe("the pieces", () => {
  test("words as HAProxy's parser splits them", () => {
    expect(words(`stats realm Haproxy\\ Statistics  # a comment`)).toEqual(["stats", "realm", "Haproxy Statistics"]);
    expect(words(`option httpchk GET / HTTP/1.1\\r\\nHost:\\ www`)).toEqual(["option", "httpchk", "GET", "/", "HTTP/1.1\r\nHost: www"]);
    expect(words(`acl a hdr(x) "two words" 'no \\escape' \\#hash "a\\"b" ""`)).toEqual(["acl", "a", "hdr(x)", "two words", "no \\escape", "#hash", 'a"b', ""]);
    expect(words(`bind "\${ADDR}:80"`)).toEqual(["bind", "${ADDR}:80"]);
    expect(words(`server a "open`)).toBe("a double quote is not closed");
  });

  test("status lists from status and rstatus", () => {
    expect(statusCodes({ regex: "^[23]" }, false)).toBe("200-399");
    expect(statusCodes({ regex: "^(200|301|302)$" }, false)).toBe("200,301-302");
    expect(statusCodes({ list: "200-299,404" }, false)).toBe("200-299,404");
    expect(statusCodes({ list: "500" }, true)).toBe("100-499,501-599");
    expect(statusCodes({ regex: "(" }, false)).toBeUndefined();
  });

  test("conditions: or, and, negation, unless, anonymous ACLs, predefined ones", () => {
    const acls = new Map([["a", aclOf(["path_beg", "/a"])], ["h", aclOf(["hdr(host)", "-i", "x.example"])], ["m", aclOf(["method", "GET"])]]);
    expect(conditionOf(["if", "a", "h", "or", "m"], acls, "http").rules).toEqual([{ path_prefix: ["/a"], host: ["x.example"] }, { method: ["GET"] }]);
    expect(conditionOf(["unless", "!a"], acls, "http").rules).toEqual([{ path_prefix: ["/a"] }]);
    expect(conditionOf(["if", "TRUE"], acls, "http").rules).toEqual([{}]);
    expect(conditionOf(["if", "METH_GET", "LOCALHOST"], acls, "http").rules).toEqual([{ method: ["GET", "HEAD"], source: ["127.0.0.0/8", "::1/128"] }]);
    expect(conditionOf(["if", "{", "path_beg", "/b", "}", "||", "!a"], acls, "http")).toEqual({ rules: [{ path_prefix: ["/b"] }], dropped: ['!a: a rule cannot say "not"'] });
    expect(conditionOf(["if", "a", "{", "path_end", ".js", "}", "{", "path_beg", "/c", "}"], acls, "http").dropped).toEqual(["a { path_end .js } { path_beg /c }: a rule holds each kind of condition once"]);
    expect(conditionOf(["if", "nope"], acls, "http").dropped).toEqual(["nope: no acl named nope"]);
    expect(aclOf(["path_beg", "-f", "/etc/haproxy/paths.lst"])).toEqual({ why: "its patterns are read from the file /etc/haproxy/paths.lst, which the import does not read" });
    expect(new RegExp(caseBlind("^/a[b-c]\\.x$")).test("/AC.X")).toBe(true);
  });

  test("a bad line is an error with FILE:LINE and nothing is written; an empty file has nothing to import", () => {
    const r = fromText("global\n  daemon\nbackend b\n  server s1 198.18.1.1:80 weight many\n  timeout server soon\n");
    expect(r.toml).toBeUndefined();
    expect(r.findings.filter((f) => f.level === "error").map(formatFinding)).toEqual(['error: t.cfg:4: weight "many": expected a weight from 0 to 65535', 'error: t.cfg:5: timeout: expected a time (10s, 5000 for ms), found "server soon"']);
    expect(fromText("frontend f\n  bind :80\n  default_backend b\n").findings.map(formatFinding)).toContain("error: t.cfg: no backend or listen section with servers: nothing to import");
    expect(fromText('  daemon\nbackend b\n server s "x\n').findings.filter((f) => f.level === "error").map(formatFinding)).toEqual(['error: t.cfg:1: "daemon" before any section (global, defaults, frontend, backend, listen, ...)', "error: t.cfg:3: a double quote is not closed"]);
  });

  test("a server without a port takes the port its frontend binds, else a TODO; no timeouts are warnings with Tandem's defaults", () => {
    const one = fromText("frontend f\n  mode http\n  bind 198.18.1.1:8080\n  default_backend b\nbackend b\n  server s1 198.18.2.1\n");
    expect(proxyDoc(one.toml!).services[0]!.servers[0]).toMatchObject({ address: "198.18.2.1", port: 8080 });
    expect(one.findings.map(formatFinding)).toContain("warning: t.cfg:1: frontend f: no timeout client (HAProxy waited without end): Tandem's 30s is written");
    const two = fromText("frontend f\n  bind :80\n  bind :81\n  default_backend b\nbackend b\n  server s1 198.18.2.1\n");
    expect(two.findings.map(formatFinding)).toContain("todo: services: the port of server s1 (t.cfg:6): it has none, so HAProxy used the port the client connected to (80, 81)");
    expect(proxyImportProblems(two.toml!)).toEqual(["services/0/servers/0/port: Expected integer"]);
  });
});

describe("what Tandem takes once", () => {
  test("an address two frontends bind, and a server listed twice, are imported once with a warning", () => {
    const r = fromText("defaults\n timeout client 5s\n timeout connect 1s\n timeout server 5s\nfrontend f\n bind :80\n default_backend b\nlisten g\n bind :80\n bind :81\n server s 198.18.1.1:80\n server t 198.18.1.1:80\nbackend b\n server u 198.18.1.2:80\n");
    expect(r.findings.map(formatFinding)).toEqual([
      "warning: t.cfg:8: bind 0.0.0.0:80 of g is not imported: f binds it too (HAProxy shared it by SO_REUSEPORT; Tandem binds an address once)",
      "warning: t.cfg:12: server t is not imported: another server of the backend has the same address and port, 198.18.1.1:80; Tandem lists a server once",
    ]);
    const doc = proxyDoc(r.toml!);
    expect(doc.proxy.frontend.map((f) => f.bind)).toEqual([["0.0.0.0:80"], ["0.0.0.0:81"]]);
    expect(proxyImportProblems(r.toml!)).toEqual([]);
    const twice = fromText("listen l\n server s 198.18.1.1:80\n bind :80\n bind :80\n");
    expect(twice.findings.map(formatFinding)).toContain("warning: t.cfg:1: bind 0.0.0.0:80 of l is not imported: it binds it twice (HAProxy shared it by SO_REUSEPORT; Tandem binds an address once)");
    expect(proxyImportProblems(twice.toml!)).toEqual([]);
  });
});

describe("garbage", () => {
  /** Whole lines, mostly ones HAProxy takes, some that it does not, so that many inputs import and some fail. */
  const LINES = [
    "frontend f", "frontend g", "backend b", "backend c", "listen l", "defaults", "defaults d", "global", "",
    "  bind :80", "  bind 198.18.1.1:81,[::]:82", "  bind *:443 ssl crt x.pem", "  bind unix@/run/x.sock", "  bind :8000-8002 accept-proxy",
    "  server s1 198.18.1.1:8080 check weight 3", "  server s2 198.18.1.2 backup maxconn 10", "  server s3 localhost:80 check inter 1s rise 1 fall 9", "  server s4 198.18.1.4:80 send-proxy observe layer4",
    "  acl a path_beg /x", "  acl a hdr(host) -i h.example", "  acl m method GET", "  acl n src 198.18.0.0/15", "  acl r path_reg ^/(a|b", "  acl q url_param(x) y",
    "  use_backend b if a", "  use_backend c if a m or n", "  use_backend b unless !n", "  use_backend b if !a", "  use_backend c if { path_end .js } || missing", "  use_backend nowhere if a",
    "  default_backend b", "  default_backend c", "  mode tcp", "  mode http", "  mode health", "  balance url_param id", "  balance hdr(X-User)", "  balance rdp-cookie", "  balance leastconn",
    "  timeout client 5s", "  timeout server 1m", "  timeout connect 500", "  timeout tunnel 1d", "  timeout client soon", "  contimeout 5000", "  retries 30",
    "  option httpchk GET /health", "  option httpchk", "  http-check expect rstatus ^[23]", "  http-check expect status 999", "  http-check expect rstring (", "  http-check send meth GET uri /x hdr Host h",
    "  stick on src", "  stick-table type ip size 1k expire 1m", "  cookie C insert indirect nocache", "  default-server inter 1s maxconn 5", "  option forwardfor", "  option redispatch", "  disabled",
    "  http-request deny", '  description "x', "  nbthread 4", "  frobnicate 3", "peers p", "  peer a 198.18.9.9:1000",
  ];
  test("any text gives errors or sections that pass validation but for TODOs, never an exception", () => {
    const BASE = "frontend f0\n  bind :9\n  default_backend b\nbackend b\n  server s0 198.18.1.9:80";
    let valid = 0;
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.constantFrom(...LINES), { maxLength: 40 }), (base, lines) => {
        const r = fromText([...(base ? [BASE] : []), ...lines].join("\n"));
        expect(r.toml === undefined).toBe(r.findings.some((f) => f.level === "error"));
        if (r.toml !== undefined && !r.findings.some((f) => f.level === "todo")) {
          expect(proxyImportProblems(r.toml)).toEqual([]);
          valid++;
        }
      }),
      { numRuns: 400 },
    );
    expect(valid).toBeGreaterThan(40);
  });
});

describe("tandem import haproxy", () => {
  test("writes the sections to OUT; a missing file is exit 2", async () => {
    const out = join(tmp.dir, "proxy.toml");
    const r = await tandem(["import", "haproxy", join(FIXTURES, "web-classic.cfg"), "-o", out]);
    expect(r.stderr).toEndWith(`imported 1 frontend, 2 backends, 5 servers to ${out}; 0 warnings, 12 notes, 0 TODOs\n`);
    expect(r.code).toBe(0);
    expect(proxyImportProblems(readFileSync(out, "utf8"))).toEqual([]);
    const missing = await tandem(["import", "haproxy", join(tmp.dir, "nope.cfg")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`error: ${join(tmp.dir, "nope.cfg")}: cannot read it: `);
    const help = await tandem(["import", "haproxy", "--help"]);
    expect(help.stdout).toStartWith("Usage: tandem import haproxy FILE [-o OUT [--force]]");
  });
});
