import { existsSync, globSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { type Command, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, fail, parse, runCommand } from "./cli.ts";
import { importHeartbeat, type Source } from "../import/heartbeat/index.ts";
import { importKeepalived, type IncludeReader } from "../import/keepalived/index.ts";
import { importLdirectord } from "../import/ldirectord/index.ts";
import { importDrbd } from "../import/drbd/index.ts";
import { importHaproxy, type CertReader } from "../import/haproxy/index.ts";
import { LIMITS as HAPROXY_LIMITS } from "../import/haproxy/parse.ts";
import { LIMITS } from "../import/keepalived/parse.ts";
import { formatFinding, type Finding } from "../import/findings.ts";
import { OCF_SCRIPTS } from "../import/heartbeat/scripts.ts";

const DEFAULT_HOSTS = "/etc/hosts";

/** The file's text, or a finding saying why it cannot be read. */
function read(file: string, findings: Finding[]): Source | undefined {
  try {
    return { file, text: readFileSync(file, "utf8") };
  } catch (e) {
    findings.push({ level: "error", where: file, message: `cannot read it: ${(e as Error).message}` });
    return undefined;
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** Words joined into lines of at most `width` characters, each after `indent`. */
function wrap(words: readonly string[], width: number, indent: string): string {
  const lines: string[] = [];
  for (const w of words) {
    const last = lines[lines.length - 1];
    if (last !== undefined && last.length + 1 + w.length <= width) lines[lines.length - 1] = `${last} ${w}`;
    else lines.push(`${indent}${w}`);
  }
  return lines.join("\n");
}

/** What every importer gives back: the config (none after an error), its findings, what it counted. */
interface Outcome {
  toml?: string;
  findings: Finding[];
  summary: string;
}

const OUTPUT_OPTIONS = {
  output: { type: "string", short: "o" },
  force: { type: "boolean" },
} as const;

const OUTPUT_HELP = `  -o, --output OUT      write the config to OUT (default: stdout)
      --force           replace OUT if it exists`;

/** Why OUT may not be written (an existing file without --force), said on stderr; undefined when it may. */
function outputRefused(name: string, values: { output?: string; force?: boolean }): number | undefined {
  if (values.force && !values.output) fail("--force is for -o OUT");
  if (values.output === undefined || !existsSync(values.output) || values.force) return undefined;
  console.error(`tandem ${name}: ${values.output} exists; keeping it (use --force to replace it)`);
  return EXIT_FAILURE;
}

/** The findings on stderr, the config to OUT (or stdout), and a line that counts what was imported. */
function finish(name: string, r: Outcome, out: string | undefined): number {
  for (const f of r.findings) console.error(formatFinding(f));
  const count = (level: Finding["level"]) => r.findings.filter((f) => f.level === level).length;
  if (r.toml === undefined) {
    console.error(`tandem ${name}: nothing written: ${plural(count("error"), "error")}`);
    return EXIT_USAGE;
  }
  if (out === undefined) process.stdout.write(r.toml);
  else {
    try {
      writeFileSync(out, r.toml);
    } catch (e) {
      console.error(`tandem ${name}: cannot write ${out}: ${(e as Error).message}`);
      return EXIT_FAILURE;
    }
  }
  const todos = count("todo");
  console.error(
    `imported ${r.summary}${out ? ` to ${out}` : ""}; ` +
      `${plural(count("warning"), "warning")}, ${plural(count("note"), "note")}, ${plural(todos, "TODO")}` +
      (todos ? ": fill them in, then run tandem check" : ""),
  );
  return EXIT_OK;
}

const haresources: Command = {
  name: "import haresources",
  summary: "Heartbeat v1: haresources, ha.cf, authkeys",
  help: `Usage: tandem import haresources FILE [--ha-cf FILE] [--authkeys FILE] [--hosts FILE] [-o OUT [--force]]

Writes one Tandem config from a Heartbeat v1 setup: each haresources line
becomes a group (its node the preferred one, its resources the members, in
order); ha.cf gives the nodes, the timers, the links (ucast, bcast, mcast),
auto_failback and the ping nodes; authkeys is checked as Heartbeat checked it
(mode 0600), but its secret is not used: write a key with \`tandem keygen\`.

Resources: an address (IPaddr, IPaddr2) becomes an \`address\` resource;
Heartbeat's own scripts become the OCF agents they ran, with the same
parameters:
${wrap(OCF_SCRIPTS.map((s, i) => (i < OCF_SCRIPTS.length - 1 ? `${s},` : s)), 76, "  ")}
Any other SCRIPT::ARGS runs /etc/ha.d/resource.d/SCRIPT as an exec resource;
a bare name is an init script (lsb:NAME). drbddisk is not imported.

What has no Tandem counterpart is listed on stderr and in the output's
comments; what the files do not say (an interface, a node's address) is a
TODO with a placeholder that \`tandem check\` refuses until it is filled in.

Exit codes: 0 written (with its notes and TODOs on stderr); 2 bad usage, or
an input file with an error (unreadable, a malformed line, an unknown
directive: each named with FILE:LINE), and nothing is written; 1 the output
could not be written.

Options:
      --ha-cf FILE      Heartbeat's ha.cf
      --authkeys FILE   Heartbeat's authkeys (checked only)
      --hosts FILE      where node names are looked up, to tell which ucast
                        address is which node's (default: ${DEFAULT_HOSTS}, if present)
${OUTPUT_HELP}
  -h, --help            this help`,
  async main(argv) {
    const { values, positionals } = parse(argv, { "ha-cf": { type: "string" }, authkeys: { type: "string" }, hosts: { type: "string" }, ...OUTPUT_OPTIONS }, true);
    if (values.help) return void console.log(this.help), EXIT_OK;
    if (positionals.length !== 1) fail(positionals.length ? `one haresources file, found ${positionals.join(" ")}` : "missing the haresources FILE");
    const refused = outputRefused(this.name, values);
    if (refused !== undefined) return refused;
    const problems: Finding[] = [];
    const hr = read(positionals[0]!, problems);
    const haCf = values["ha-cf"] === undefined ? undefined : read(values["ha-cf"], problems);
    const authkeys = values.authkeys === undefined ? undefined : read(values.authkeys, problems);
    const hostsFile = values.hosts ?? (existsSync(DEFAULT_HOSTS) ? DEFAULT_HOSTS : undefined);
    const hosts = hostsFile === undefined ? undefined : read(hostsFile, problems);
    if (!hr || problems.length) {
      for (const p of problems) console.error(formatFinding(p));
      console.error("tandem import haresources: nothing written");
      return EXIT_USAGE;
    }
    const result = importHeartbeat({
      haresources: hr,
      ...(haCf ? { haCf } : {}),
      ...(authkeys ? { authkeys: { ...authkeys, mode: statSync(authkeys.file).mode } } : {}),
      ...(hosts ? { hosts } : {}),
    });
    const { nodes, groups, resources } = result.summary;
    return finish(this.name, { ...result, summary: `${plural(nodes, "node")}, ${plural(groups, "group")}, ${plural(resources, "resource")}` }, values.output);
  },
};

/** Files as keepalived reads them: regular files only, each bounded, includes by glob in sorted order. */
const FILES: IncludeReader = {
  expand: (pattern) => globSync(pattern).sort(),
  read(file) {
    try {
      const st = statSync(file);
      if (!st.isFile()) return { error: "not a regular file" };
      if (st.size > LIMITS.bytes) return { error: `over ${LIMITS.bytes} bytes` };
      return { text: readFileSync(file, "utf8"), id: realpathSync(file) };
    } catch (e) {
      return { error: (e as Error).message };
    }
  },
};

const keepalived: Command = {
  name: "import keepalived",
  summary: "keepalived: keepalived.conf (virtual servers, VRRP instances)",
  help: `Usage: tandem import keepalived FILE [--peer FILE]... [-o OUT [--force]]

Writes one Tandem config from keepalived.conf: each virtual_server becomes a
[[services]] entry (its real servers and one check: TCP_CHECK, HTTP_GET,
SSL_GET, MISC_CHECK or DNS_CHECK) and a [[director.virtual_service]] (one
per address of a virtual_server_group); each vrrp_instance becomes a group
of address resources, VRRP's work done by Tandem's heartbeat. include lines
are followed (relative to the including file, at most ${LIMITS.includeDepth} deep).

The nodes are what the files name: router_id and unicast_src_ip for this
one, unicast_peer for the others, or each config ID of conditional lines
(@lb1 priority 150). --peer gives another node's keepalived.conf, so that
its name and priorities are known: a group's preferred node is the one of
highest priority when every node is named.

The connection sync (lvs_sync_daemon IF INSTANCE [id N] [port N] [group
ADDR], or lvs_sync_daemon_interface) becomes [director] sync, and a director
resource joins the instance's group: the sync's master runs where its
addresses are, as keepalived's did.

What has no Tandem counterpart (notify scripts, email, SNMP, track_script,
...) is listed on stderr and in the output's comments; what
the files do not say is a TODO with a placeholder that \`tandem check\`
refuses until it is filled in.

Exit codes: 0 written (with its notes and TODOs on stderr); 2 bad usage, or
an input with an error (unreadable, bad syntax, an unknown keyword: each
named with FILE:LINE), and nothing is written; 1 the output could not be
written.

Options:
      --peer FILE       another node's keepalived.conf (repeatable)
${OUTPUT_HELP}
  -h, --help            this help`,
  async main(argv) {
    const { values, positionals } = parse(argv, { peer: { type: "string", multiple: true }, ...OUTPUT_OPTIONS }, true);
    if (values.help) return void console.log(this.help), EXIT_OK;
    if (positionals.length !== 1) fail(positionals.length ? `one keepalived.conf, found ${positionals.join(" ")}` : "missing the keepalived.conf FILE");
    const refused = outputRefused(this.name, values);
    if (refused !== undefined) return refused;
    return finish(this.name, importKeepalived({ file: positionals[0]!, peers: values.peer ?? [], reader: FILES }), values.output);
  },
};

/** The main of an importer that reads one file (FILE [-o OUT [--force]]). */
async function oneFile(cmd: Command, argv: string[], what: string, run: (file: string, text: string) => Outcome): Promise<number> {
  const { values, positionals } = parse(argv, { ...OUTPUT_OPTIONS }, true);
  if (values.help) return void console.log(cmd.help), EXIT_OK;
  if (positionals.length !== 1) fail(positionals.length ? `one ${what}, found ${positionals.join(" ")}` : `missing the ${what} FILE`);
  const refused = outputRefused(cmd.name, values);
  if (refused !== undefined) return refused;
  const file = positionals[0]!;
  const got = FILES.read(file);
  return finish(cmd.name, "error" in got ? { findings: [{ level: "error", where: file, message: `cannot read it: ${got.error}` }], summary: "" } : run(file, got.text), values.output);
}

const ldirectord: Command = {
  name: "import ldirectord",
  summary: "ldirectord: ldirectord.cf (virtual services)",
  help: `Usage: tandem import ldirectord FILE [-o OUT [--force]]

Writes the [[services]] and [director] sections of a Tandem config from
ldirectord.cf: each virtual= (virtual6=) section becomes a [[services]]
entry (its real= servers and one check: negotiate http or https with
request and receive, dns, connect, external) and a
[[director.virtual_service]] (scheduler, forwarding, persistent and
netmask, fallback, quiescent). ldirectord ran under Heartbeat, which held
the virtual addresses, so append the sections to the cluster's config
(\`tandem import haresources\` writes one from Heartbeat's files).

What has no Tandem counterpart (emailalert, logfile, supervised, autoreload,
...) is listed on stderr and in the output's comments; what the file does not
say (an address behind a host name) is a TODO with a placeholder.

Exit codes: 0 written; 2 bad usage, or a file with an error (unreadable, a
bad line, an unknown directive: each named with FILE:LINE), and nothing is
written; 1 the output could not be written.

Options:
${OUTPUT_HELP}
  -h, --help            this help`,
  main(argv) {
    return oneFile(this, argv, "ldirectord.cf", (file, text) => importLdirectord(file, text));
  },
};

/** What the haproxy import reads besides haproxy.cfg: certificate directories and crt-list files, each bounded. */
const CERTS: CertReader = {
  kind(path) {
    try {
      const st = statSync(path);
      return st.isDirectory() ? "dir" : st.isFile() ? "file" : undefined;
    } catch {
      return undefined;
    }
  },
  read(path) {
    const got = FILES.read(path);
    return "error" in got ? undefined : got.text;
  },
  list: (dir) => readdirSync(dir).slice(0, HAPROXY_LIMITS.certificates),
};

const haproxy: Command = {
  name: "import haproxy",
  summary: "HAProxy: haproxy.cfg (frontends, backends, listen sections)",
  help: `Usage: tandem import haproxy FILE [-o OUT [--force]]

Writes the [proxy] and [[services]] sections of a Tandem config from
haproxy.cfg: each frontend (and each listen section with a bind) becomes a
[[proxy.frontend]] with its binds, TLS certificates (crt, a directory of
them, crt-list), accept-proxy, timeouts and its use_backend rules (acl on
host, path, a header, method or source; an or becomes several rules); each
backend (and listen section) with servers becomes a [[proxy.backend]]
(balance, cookie insert, stick on src, observe and error-limit, retries,
redispatch, timeouts, send-proxy) and a [[services]] entry with the servers
(weight, maxconn, backup) and one check (option httpchk, http-check send and
expect, inter, rise, fall). Settings come from the defaults section before
each proxy, as HAProxy reads them; old spellings (contimeout, clitimeout,
srvtimeout, listen NAME ADDR:PORT) are read too.

What has no Tandem counterpart (http-request rules, redirects, negated or
TLS conditions, Lua, stats pages, ...) is listed on stderr and in the
output's comments with FILE:LINE; what the file does not say (an address
behind a host name) is a TODO with a placeholder that \`tandem check\`
refuses until it is filled in.

Exit codes: 0 written; 2 bad usage, or a file with an error (unreadable, an
open quote, a malformed value: each named with FILE:LINE), and nothing is
written; 1 the output could not be written.

Options:
${OUTPUT_HELP}
  -h, --help            this help`,
  main(argv) {
    return oneFile(this, argv, "haproxy.cfg", (file, text) => importHaproxy({ file, text, certs: CERTS }));
  },
};

const drbd: Command = {
  name: "import drbd",
  summary: "DRBD: drbd.conf or a .res file (resources as [[volumes]])",
  help: `Usage: tandem import drbd FILE [-o OUT [--force]]

Writes the [[volumes]] sections of a Tandem config from DRBD's drbd.conf (its
include lines followed: drbd.d/global_common.conf, drbd.d/*.res) or one .res
file, in DRBD 8.3, 8.4 or 9 syntax: each volume of a resource between two
nodes with a disk becomes a volume: the backing disk of each \`on\` section,
the protocol, the metadata (internal or not), the resync's bound (c-max-rate
under DRBD's dynamic controller, else resync-rate or syncer's rate) and the
split-brain policy (after-sb-0pri). common, resource-level and connection
options are inherited as drbdadm inherits them. Append the sections to the
cluster's config: the \`on\` hosts must be its member nodes.

What has no Tandem counterpart (handlers, shared-secret, node-id, tuning,
/dev/drbdN: the primary serves the volume over NBD) is listed with
FILE:LINE on stderr and in the output's comments; the size, which DRBD took
from the disks, is a TODO unless disk { size } gives it.

Exit codes: 0 written; 2 bad usage, or a file drbdadm would refuse (a bad
section, an unknown keyword, a bad value: each named with FILE:LINE), and
nothing is written; 1 the output could not be written.

Options:
${OUTPUT_HELP}
  -h, --help            this help`,
  main(argv) {
    return oneFile(this, argv, "drbd.conf", (file) => importDrbd({ file, reader: FILES }));
  },
};

const IMPORTERS = [haresources, keepalived, ldirectord, haproxy, drbd];
const kindOf = (c: Command) => c.name.slice("import ".length);
const KINDS = IMPORTERS.map(kindOf).join(", ");

export const importCommand: Command = {
  name: "import",
  summary: `write a Tandem config from another tool's: ${KINDS}`,
  help: `Usage: tandem import KIND FILE [OPTIONS]

Writes a Tandem config from another tool's configuration, so a cluster can
move over in one step. Kinds:

${IMPORTERS.map((i) => `  ${kindOf(i).padEnd(12)}  ${i.summary}`).join("\n")}

'tandem import KIND --help' tells what each one reads and writes.

Options:
  -h, --help   this help`,
  async main(argv) {
    const [kind, ...rest] = argv;
    if (kind === "-h" || kind === "--help") return void console.log(this.help), EXIT_OK;
    if (kind === undefined) fail(`missing KIND: ${KINDS}`);
    const importer = IMPORTERS.find((i) => kindOf(i) === kind);
    if (!importer) fail(`unknown kind "${kind}": ${KINDS}`);
    return runCommand(importer, rest);
  },
};
