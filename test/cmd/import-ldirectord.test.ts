import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { tandem, tempDir } from "../helpers.ts";
import { formatFinding } from "../../import/findings.ts";
import { importLdirectord } from "../../import/ldirectord/index.ts";
import { MAX_REALS } from "../../import/lvs.ts";
import { lvsDoc, lvsProblems } from "./import-lvs.ts";

const FIXTURES = join(import.meta.dir, "import");
const WEB = join(FIXTURES, "ldirectord", "web.cf");
const tmp = tempDir("import-ldirectord");
afterAll(tmp.cleanup);

function imported(text: string, file = "ld.cf") {
  const r = importLdirectord(file, text);
  const findings = r.findings.map(formatFinding);
  if (r.toml === undefined) throw new Error(`nothing imported:\n${findings.join("\n")}`);
  return { toml: r.toml, doc: lvsDoc(r.toml), findings, summary: r.summary };
}

const errors = (text: string) => importLdirectord("ld.cf", text).findings.filter((f) => f.level === "error").map(formatFinding);

/** A virtual section around the given lines, indented with a tab as ldirectord's sample is. */
const virtual = (head: string, ...lines: string[]) => [head, ...lines.map((l) => `\t${l}`)].join("\n");

describe("tandem import ldirectord: the sections", () => {
  test("a small web service, exactly", () => {
    const { toml, findings, summary } = imported(
      ["checkinterval=3", virtual("virtual=198.18.5.10:80", "real=198.18.5.21:80 gate", "real=198.18.5.22:80 gate 3", 'request="health"', 'receive="ok"', "scheduler=rr")].join("\n"),
      "ldirectord.cf",
    );
    expect(findings).toEqual([]);
    expect(summary).toBe("1 virtual service, 2 real servers");
    expect(toml).toBe(`# The [[services]] and [director] sections of a Tandem config, imported from
# ldirectord by \`tandem import ldirectord\`, from ldirectord.cf.
#
# ldirectord ran under Heartbeat, which held the virtual addresses: append these
# sections to the cluster's config (tandem import haresources writes one from
# Heartbeat's files), and check it (tandem check -c FILE).

# ldirectord.cf:2: virtual=198.18.5.10:80
[[services]]
name = "vs-198-18-5-10-80"
port = 80
servers = [
  { address = "198.18.5.21" },  # real=198.18.5.21:80 gate
  { address = "198.18.5.22", weight = 3 },  # real=198.18.5.22:80 gate 3
]

[services.check]
kind = "http"
interval = "3s"  # checkinterval
timeout = "30s"  # negotiatetimeout (or checktimeout), else ldirectord's default
rise = 1  # ldirectord took a server up at its first success
fall = 1  # ldirectord's default failurecount
path = "/health"  # request
body = "ok"  # receive

[[director.virtual_service]]
name = "vs-198-18-5-10-80"
address = "198.18.5.10"
port = 80
service = "vs-198-18-5-10-80"
scheduler = "rr"  # scheduler
forwarding = "dr"  # gate (the real servers')
`);
    expect(lvsProblems(toml, { rest: false })).toEqual([]);
  });

  test("a farm of several virtual sections: negotiate http and https, connect, dns, external, a fwmark, IPv6, quiescent, fallback, persistence", () => {
    const { toml, doc, findings, summary } = imported(readFileSync(WEB, "utf8"), "web.cf");
    expect(summary).toBe("7 virtual services, 17 real servers");
    expect(lvsProblems(toml, { rest: false })).toEqual([]);
    expect(doc.rest).toEqual({});
    const by = (name: string) => doc.services.find((s) => s.name === name)!;
    expect(by("web-site")).toEqual({
      name: "web-site",
      port: 80,
      servers: [
        { address: "192.168.6.2", weight: 2 },
        { address: "192.168.6.3", weight: 2 },
        { address: "192.168.6.4" },
        { address: "192.168.6.5" },
        { address: "192.168.6.6" },
      ],
      check: { kind: "http", interval: "5s", timeout: "10s", rise: 1, fall: 3, path: "/health.html", body: "Still (alive|here)", host: "www.example.com" },
    });
    expect(by("vs-192-168-6-240-443")).toMatchObject({ port: 443, servers: [{ address: "192.168.6.2", port: 8443 }, { address: "192.168.6.3", port: 8443 }], check: { kind: "https", path: "/index.html", body: "Welcome", host: "www.example.com" } });
    expect(by("fwmark-1").check).toEqual({ kind: "tcp", interval: "5s", timeout: "10s", rise: 1, fall: 3, port: 21 });
    expect(by("vs-192-168-6-241-3306").check).toEqual({ kind: "tcp", interval: "5s", timeout: "2s", rise: 1, fall: 3 });
    expect(by("vs-192-168-6-242-53-udp").check).toMatchObject({ kind: "dns", query: "www.example.com", query_type: "A" });
    expect(by("vs-192-168-6-243-8080").check.command).toEqual(["/bin/sh", "-c", 'exec "$0" 192.168.6.243 8080 "$TANDEM_CHECK_ADDRESS" "$TANDEM_CHECK_PORT"', "/usr/local/lib/ldirectord/check-app"]);
    expect(doc.director.virtual_service.map((v) => [v.name, v.address ?? v.fwmark, v.port, v.protocol, v.scheduler, v.forwarding, v.persistence, v.persistence_netmask, v.sorry_server, v.inhibit_on_failure])).toEqual([
      ["web-site", "192.168.6.240", 80, undefined, "wlc", "dr", undefined, undefined, "127.0.0.1:80", true],
      ["vs-192-168-6-240-443", "192.168.6.240", 443, undefined, "sh", "nat", "5m", "255.255.255.0", "192.168.6.250:8443", undefined],
      ["fwmark-1", 1, undefined, undefined, "wrr", "dr", "10m", undefined, "192.168.6.250:21", true],
      ["vs-192-168-6-241-3306", "192.168.6.241", 3306, undefined, "lc", "dr", undefined, undefined, "127.0.0.1:3306", true],
      ["vs-192-168-6-242-53-udp", "192.168.6.242", 53, "udp", "wrr", "dr", undefined, undefined, "127.0.0.1:53", true],
      ["vs-192-168-6-243-8080", "192.168.6.243", 8080, undefined, "wrr", "nat", undefined, undefined, "127.0.0.1:8080", true],
      ["vs-2001-db8-6-240-80", "2001:db8:6::240", 80, undefined, "wrr", "dr", undefined, undefined, "[::1]:80", true],
    ]);
    expect(toml).toContain("# web.cf:16: virtual=192.168.6.240:80\n# the public site\n[[services]]\n");
    expect(findings).toEqual([
      "note: web.cf:8: autoreload=yes is not imported: Tandem reads its config again on `tandem reload` (SIGHUP), not by itself",
      'note: web.cf:9: logfile="local0" is not imported: Tandem logs JSON lines on stdout (or to a terminal), for the service manager to pass on',
      'note: web.cf:10: emailalert="ops@example.com" is not imported: Tandem sends no email; its events stream from /v1/events and are logged',
      "note: web.cf:11: emailalertfreq=3600 is not imported: Tandem sends no email; its events stream from /v1/events and are logged",
      "warning: web.cf:44: service=ftp: Tandem has no ftp check; a tcp check is written, which connects only",
      'note: web.cf:49: login="anonymous" is not imported: it served service checks Tandem has no counterpart for',
      "note: web.cf:50: passwd is not imported: it served service checks Tandem has no counterpart for",
      'note: web.cf:66: receive "192.168.6.240" is not imported: Tandem\'s dns check passes on any A record',
      "warning: web.cf:68: virtual=192.168.6.243:8080: the global fallback's gate differs from the real servers' masq: Tandem forwards to the sorry server as to them",
      'note: web.cf:73: emailalert="app-team@example.com" is not imported: Tandem sends no email; its events stream from /v1/events and are logged',
    ]);
    for (const f of findings) expect(toml).toContain(`#   ${f}`);
    expect(toml).not.toContain("lb@example.com");
  });

  test("check types: on, off, ping, connect on UDP, a number (combined), external-perl; negotiate for a service Tandem has no check for", () => {
    const text = [
      virtual("virtual=198.18.5.10:80", "real=198.18.5.21 gate", "checktype=on"),
      virtual("virtual=198.18.5.11:80", "real=198.18.5.21 gate", "checktype=off"),
      virtual("virtual=198.18.5.12:80", "real=198.18.5.21 gate", "checktype=ping"),
      virtual("virtual=198.18.5.13:1812", "real=198.18.5.21 gate", "protocol=udp", "checktype=connect"),
      virtual("virtual=198.18.5.14:80", "real=198.18.5.21 gate", "checktype=5"),
      virtual("virtual=198.18.5.15:25", "real=198.18.5.21 gate", "checktype=external-perl", "checkcommand=/usr/local/lib/check.pl"),
      virtual("virtual=198.18.5.16:1812", "real=198.18.5.21 gate", "protocol=udp"),
      virtual("virtual=198.18.5.17:25", "real=198.18.5.21 gate"),
    ].join("\n");
    const { doc, findings } = imported(text);
    expect(doc.services.map((s) => [s.name, s.check.kind])).toEqual([
      ["vs-198-18-5-10-80", "none"],
      ["vs-198-18-5-12-80", "none"],
      ["vs-198-18-5-13-1812-udp", "none"],
      ["vs-198-18-5-14-80", "http"],
      ["vs-198-18-5-15-25", "misc"],
      ["vs-198-18-5-16-1812-udp", "none"],
      ["vs-198-18-5-17-25", "tcp"],
    ]);
    expect(findings).toEqual([
      "warning: ld.cf:4: virtual=198.18.5.11:80 is not imported: checktype=off kept every server out; Tandem has no such check",
      "warning: ld.cf:7: checktype=ping: Tandem has no ping check; the servers are written with no check (kind none, always healthy)",
      "warning: ld.cf:10: checktype=connect on UDP: ldirectord pinged; Tandem has no ping check, so the servers are written with no check (kind none, always healthy)",
      "note: ld.cf:14: checktype=5: the connect checks between negotiate checks are not kept; the negotiate check runs every interval",
      "note: ld.cf:17: checktype=external-perl runs the script as a command (ldirectord said an external-perl script works as external too)",
      "warning: ld.cf:21: service=radius on UDP: Tandem has no radius check; the servers are written with no check (kind none, always healthy)",
      "warning: ld.cf:24: service=smtp: Tandem has no smtp check; a tcp check is written, which connects only",
    ]);
  });

  test("servers that differ: a request of their own, another forwarding method, a port gate ignores; host names are TODOs", () => {
    const text = [
      "fork=yes",
      virtual(
        "virtual=www.example.com:http",
        "real=198.18.5.21:8080 gate",
        'real=198.18.5.22:80 gate 1 "/other" "fine"',
        "real=web3.example.com:80 masq",
        'request="http://www.example.com/up"',
        'receive="up"',
        "checkinterval=7",
        "netmask=255.255.255.0",
      ),
    ].join("\n");
    const { doc, findings } = imported(text);
    expect(doc.services[0]).toMatchObject({
      servers: [{ address: "198.18.5.21" }, { address: "198.18.5.22", check: { path: "/other", body: "fine" } }, { address: "TODO: web3.example.com's address" }],
      check: { kind: "http", interval: "7s", path: "/up", body: "up", host: "www.example.com" },
    });
    expect(doc.director.virtual_service[0]).toMatchObject({ address: "TODO: www.example.com's address", port: 80, forwarding: "dr" });
    expect(doc.director.virtual_service[0]!.persistence_netmask).toBeUndefined();
    expect(findings).toEqual([
      "note: ld.cf:1: fork=yes is not imported: Tandem checks every service concurrently, bounded by [director] check_concurrency",
      "note: ld.cf:3: port 8080 is not imported: ldirectord gave a gate server the virtual port, 80",
      `warning: ld.cf:4: real=198.18.5.22:80 gate 1 "/other" "fine": its own check has no host, which the service's check has (host none where the others have "www.example.com"); a server's check takes the service's keys it leaves out, so it checks with them`,
      "warning: ld.cf:5: masq differs from the others' gate: Tandem forwards to every server of a virtual service alike",
      'warning: ld.cf:6: request "http://www.example.com/up" is a whole URL: ldirectord asked www.example.com; Tandem asks each real server for /up with Host: www.example.com',
      "todo: the address of virtual service www.example.com (ld.cf:2): ldirectord looked the name up; the import does not",
      "todo: the address of real server web3.example.com (ld.cf:5): ldirectord looked the name up; the import does not",
    ]);
  });

  test("ldirectord's layout: a tab or four spaces indent a section, a blank line ends it, # comments anywhere, CRLF", () => {
    const text = ["# head", "checktimeout=4   # seconds", "virtual=198.18.5.10:80", "    real=198.18.5.21:80 gate   # the first", "  # an indented comment stays in the section", "\treal=198.18.5.22:80 gate", "", "quiescent=yes"].join("\r\n");
    const { doc } = imported(text);
    expect(doc.services[0]!.servers).toEqual([{ address: "198.18.5.21" }, { address: "198.18.5.22" }]);
    expect(doc.director.virtual_service[0]!.inhibit_on_failure).toBe(true);
    expect(errors("virtual=198.18.5.10:80\n\treal=198.18.5.21:80 gate\n\n\treal=198.18.5.22:80 gate\n")).toEqual([
      "error: ld.cf:4: an indented line outside a virtual section: ldirectord ends a section at the first line that is not indented by four spaces or a tab, a blank one too",
    ]);
  });

  test("bad lines and unknown directives are errors with FILE:LINE, and nothing is written", () => {
    const text = [
      "checktimout=3",
      "connecttimeout=3",
      "quiescent=maybe",
      "fallback=127.0.0.1:80 tunnel",
      "what is this",
      virtual("virtual=198.18.5.300:80", "real=198.18.5.21:80 gate"),
      virtual(
        "virtual=198.18.5.10:gopher",
        "real=198.18.5.21:80 bridge",
        "real=198.18.5.22:80 gate heavy",
        "real6=[2001:db8::1]:80 gate",
        "request=/health",
        "scheduler=fastest",
        "checktype=sometimes",
        "servce=http",
        "checkport=0",
      ),
      virtual("virtual=[2001:db8::10]:80", "real=198.18.5.21:80 gate"),
      virtual("virtual6=[2001:db8::10]:80", "real6=[2001:db8::1]->[2001:db8::5]:80 gate", "netmask=64"),
    ].join("\n");
    const r = importLdirectord("ld.cf", text);
    expect(r.toml).toBeUndefined();
    expect(r.findings.map(formatFinding)).toEqual([
      'error: ld.cf:1: unknown directive "checktimout" at the top of the file (did you mean "checktimeout"?)',
      "error: ld.cf:2: connecttimeout was replaced by negotiatetimeout (ldirectord refused it too)",
      'error: ld.cf:3: quiescent must be yes or no, not "maybe"',
      'error: ld.cf:4: fallback: the forwarding method must be gate, masq or ipip, not "tunnel"',
      'error: ld.cf:5: expected DIRECTIVE = VALUE, found "what is this"',
      'error: ld.cf:6: "198.18.5.300" is not an IPv4 address',
      'error: ld.cf:8: port "gopher" is not a number, nor a service name the import knows (ftp, ssh, smtp, domain, http, www, pop3, nntp, imap, imap2, ldap, https, submission, ldaps, imaps, pop3s, ms-sql-s, radius, mysql, postgresql, sip, http-alt): write the number',
      'error: ld.cf:9: the forwarding method must be gate, masq or ipip, not "bridge"',
      'error: ld.cf:10: a real server\'s line ends "heavy": expected [WEIGHT] ["REQUEST", "RECEIVE"] [l:N] [u:N]',
      "error: ld.cf:11: real6 in a virtual section: use real",
      'error: ld.cf:12: request takes a value in double quotes (request="...")',
      'error: ld.cf:13: scheduler "fastest" is not one Tandem has: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh',
      'error: ld.cf:14: checktype must be connect, negotiate, ping, off, on, external, external-perl or a number, not "sometimes"',
      'error: ld.cf:15: unknown directive "servce" in the virtual section of line 8 (did you mean "service"?)',
      'error: ld.cf:16: checkport "0" is not a port from 1 to 65535',
      "error: ld.cf:17: an IPv6 virtual service is virtual6=[ADDRESS]:PORT",
      "error: ld.cf:20: [2001:db8::1]->[2001:db8::5] is not a range of IPv4 addresses (ldirectord expanded none else)",
    ]);
    expect(errors("# nothing here\nchecktimeout=3\n")).toEqual(["error: ld.cf: no virtual= or virtual6= line: nothing to import"]);
    const farm = virtual("virtual=10.0.0.1:80", ...[0, 1, 2, 3].map((b) => `real=10.1.${b}.0->10.1.${b}.255:80 gate`));
    expect(errors(farm)).toEqual([`error: ld.cf:1: 1024 real servers: a virtual service holds at most ${MAX_REALS}`]);
  });

  test("any text gives errors or sections, never an exception", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom("virtual=", "virtual6=", "real=", "\t", "    ", "\n", "1.2.3.4", ":80", " gate", '"', "#", "->", "[::1]", "fallback=", "checktype=", "request=", "=", " 3"), { maxLength: 50 }), (parts) => {
        const r = importLdirectord("ld.cf", parts.join(""));
        expect(r.toml === undefined).toBe(r.findings.some((f) => f.level === "error"));
      }),
      { numRuns: 300 },
    );
  });
});

describe("tandem import ldirectord (the command)", () => {
  test("appended to the config `tandem import haresources` writes, the whole passes the checks", async () => {
    const base = await tandem(["import", "haresources", join(FIXTURES, "web", "haresources"), "--ha-cf", join(FIXTURES, "web", "ha.cf"), "--hosts", join(FIXTURES, "web", "hosts")]);
    expect(base.code).toBe(0);
    const out = join(tmp.dir, "ldirectord.toml");
    const r = await tandem(["import", "ldirectord", WEB, "-o", out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toEndWith(`imported 7 virtual services, 17 real servers to ${out}; 2 warnings, 8 notes, 0 TODOs\n`);
    expect(lvsProblems(`${base.stdout}\n${readFileSync(out, "utf8")}`, { rest: true })).toEqual([]);
  });

  test("a bad file: exit 2, FILE:LINE, nothing written; help and usage", async () => {
    const bad = join(tmp.dir, "bad.cf");
    writeFileSync(bad, "virtual=10.0.0.1:80\n\treal=10.0.0.2:80 bridge\n");
    const out = join(tmp.dir, "bad.toml");
    const r = await tandem(["import", "ldirectord", bad, "-o", out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: ${bad}:2: the forwarding method must be gate, masq or ipip, not "bridge"`);
    expect(r.stderr).toContain("tandem import ldirectord: nothing written: 1 error");
    expect(existsSync(out)).toBe(false);
    const missing = await tandem(["import", "ldirectord", join(tmp.dir, "nope.cf")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`error: ${join(tmp.dir, "nope.cf")}: cannot read it: `);
    const help = await tandem(["import", "ldirectord", "--help"]);
    expect(help.stdout).toStartWith("Usage: tandem import ldirectord FILE [-o OUT [--force]]");
    const usage = await tandem(["import", "ldirectord", "a.cf", "b.cf"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("tandem import ldirectord: one ldirectord.cf, found a.cf b.cf");
  });
});
