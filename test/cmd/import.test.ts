import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { haveDebianPackage, tandem, tempDir } from "../helpers.ts";
import { parseConfig } from "../../core/config/load.ts";
import { formatPath } from "../../core/config/problems.ts";
import { importHeartbeat, type HeartbeatFiles } from "../../import/heartbeat/index.ts";
import { formatFinding } from "../../import/findings.ts";
import { resourceOf } from "../../import/heartbeat/haresources.ts";
import { OCF_SCRIPTS } from "../../import/heartbeat/scripts.ts";
import { DEFAULT_OCF_ROOT, OcfAgent } from "../../modules/resources/agents/ocf.ts";
import { checkParameters } from "../../modules/resources/agents/metadata.ts";
import { TomlWriter, tomlString } from "../../import/toml.ts";
import { MODULES } from "../../modules/index.ts";

const FIXTURES = join(import.meta.dir, "import");
const HAVE_AGENTS = haveDebianPackage("resource-agents", join(DEFAULT_OCF_ROOT, "resource.d", "heartbeat", "Filesystem"), "the import's agents");
const tmp = tempDir("import");
afterAll(tmp.cleanup);

const fixture = (dir: string, file: string) => ({ file: `${dir}/${file}`, text: readFileSync(join(FIXTURES, dir, file), "utf8") });

/** The paths of the problems `tandem check` finds in the text (the schema's first, then the rules across keys). */
function problems(toml: string): string[] {
  const r = parseConfig(toml, "imported.toml", MODULES);
  return r.ok ? [] : r.problems.map((p) => `${formatPath(p.path)}: ${p.message}`);
}

type Doc = {
  nodes: Array<{ name: string; address: string }>;
  heartbeat: Record<string, unknown> & { links: Array<Record<string, unknown>>; ping?: { targets: string[] } };
  resources: { group: Array<{ name: string; members: string[]; preferred: string; auto_failback: boolean; all_or_nothing?: boolean }>; resource: Array<Record<string, unknown> & { name: string; params?: Record<string, unknown> }> };
};

function imported(files: HeartbeatFiles): { toml: string; doc: Doc; findings: string[] } {
  const r = importHeartbeat(files);
  const findings = r.findings.map(formatFinding);
  if (r.toml === undefined) throw new Error(`nothing imported:\n${findings.join("\n")}`);
  return { toml: r.toml, doc: parseToml(r.toml) as unknown as Doc, findings };
}

const resource = (doc: Doc, name: string) => doc.resources.resource.find((r) => r.name === name)!;

describe("tandem import haresources: the config", () => {
  test("a small pair, exactly", () => {
    const { toml, findings } = imported({
      haresources: { file: "haresources", text: "alpha IPaddr2::198.18.5.10/24/eth0 apache\n" },
      haCf: { file: "ha.cf", text: "keepalive 200ms\ndeadtime 2\nucast eth0 198.18.5.1\nucast eth0 198.18.5.2\nnode alpha bravo\nauto_failback off\n" },
      hosts: { file: "hosts", text: "198.18.5.1 alpha\n" },
    });
    expect(findings).toEqual([]);
    expect(toml).toBe(`# A Tandem config imported from Heartbeat by \`tandem import haresources\`, from:
#   haresources
#   ha.cf
#   hosts
#
# Write the cluster key (tandem keygen -o cluster.key), check the config
# (tandem check -c FILE) and copy both files to every node.

cluster = "linux-ha"  # Heartbeat's default name
key_file = "cluster.key"  # tandem keygen -o cluster.key

[[nodes]]
name = "alpha"
address = "198.18.5.1"  # ucast eth0, hosts

[[nodes]]
name = "bravo"
address = "198.18.5.2"  # ucast eth0

[heartbeat]  # ha.cf
interval = "200ms"  # keepalive 200ms
warntime = "1s"  # Heartbeat's default warntime (deadtime / 2)
deadtime = "2s"  # deadtime 2
initdead = "12s"  # Heartbeat's default initdead

[[heartbeat.links]]  # ha.cf: ucast eth0 198.18.5.1, ucast eth0 198.18.5.2
name = "ucast-eth0"
kind = "ucast"
interface = "eth0"

# haresources:1: alpha IPaddr2::198.18.5.10/24/eth0 apache
[[resources.group]]
name = "ip-198-18-5-10-group"
members = ["ip-198-18-5-10", "apache"]
preferred = "alpha"
auto_failback = false  # auto_failback off
all_or_nothing = true  # as haresources ran a line: whole or not at all

# IPaddr2::198.18.5.10/24/eth0
[[resources.resource]]
name = "ip-198-18-5-10"
agent = "address"
params = { address = "198.18.5.10/24", interface = "eth0" }

# apache
# Heartbeat's /etc/ha.d/resource.d/apache ran this agent with these parameters
[[resources.resource]]
name = "apache"
agent = "ocf:heartbeat:apache"
start_timeout = "40s"  # the agent's advice
stop_timeout = "1m"  # the agent's advice
`);
    expect(problems(toml)).toEqual([]);
  });

  test("the classic web pair (IPaddr2, Filesystem, apache; bcast, mcast and ucast; sha1 authkeys) passes the config checks", () => {
    const { toml, doc, findings } = imported({
      haresources: fixture("web", "haresources"),
      haCf: fixture("web", "ha.cf"),
      authkeys: { ...fixture("web", "authkeys"), mode: 0o100600 },
      hosts: fixture("web", "hosts"),
    });
    expect(problems(toml)).toEqual([]);
    expect(toml).not.toContain("TODO");
    expect(doc.nodes).toEqual([
      { name: "www1", address: "192.168.10.11" },
      { name: "www2", address: "192.168.10.12" },
    ]);
    expect(doc.heartbeat).toMatchObject({ interval: "1s", warntime: "5s", deadtime: "10s", initdead: "1m", port: 694, ping: { targets: ["192.168.10.1"] } });
    expect(doc.heartbeat.links).toEqual([
      { name: "ucast-eth0", kind: "ucast", interface: "eth0" },
      { name: "bcast-eth1", kind: "bcast", interface: "eth1" },
      { name: "mcast-eth2", kind: "mcast", interface: "eth2", group: "239.0.0.43" },
    ]);
    expect(doc.resources.group).toEqual([
      { name: "ip-192-168-10-50-group", members: ["ip-192-168-10-50", "fs-srv-www", "apache"], preferred: "www1", auto_failback: false, all_or_nothing: true },
      { name: "ip-192-168-10-51-group", members: ["ip-192-168-10-51", "mailto", "postfix"], preferred: "www2", auto_failback: false, all_or_nothing: true },
    ]);
    expect(resource(doc, "fs-srv-www")).toMatchObject({
      agent: "ocf:heartbeat:Filesystem",
      params: { device: "/dev/sdb1", directory: "/srv/www", fstype: "ext4", options: "noatime" },
      start_timeout: "1m",
      stop_timeout: "1m",
      monitor_timeout: "40s",
    });
    expect(resource(doc, "apache")).toMatchObject({ agent: "ocf:heartbeat:apache", params: { configfile: "/etc/apache2/apache2.conf" } });
    expect(resource(doc, "mailto")).toMatchObject({ agent: "ocf:heartbeat:MailTo", params: { email: "ops@example.com", subject: "www_failover" } });
    expect(resource(doc, "postfix")).toEqual({ name: "postfix", agent: "lsb:postfix" });
    expect(findings).toEqual([
      "note: web/ha.cf:2: logfacility is not imported: Tandem logs JSON lines on stdout (or to a terminal), for the service manager to pass on",
      "note: web/ha.cf:20: respawn /usr/lib/heartbeat/ipfail is not imported: Tandem does what ipfail did with its ping targets ([heartbeat.ping])",
      "note: web/ha.cf:21: apiauth is not imported: Tandem has no Heartbeat client API; its HTTP API takes a bearer token ([api] token_file)",
      "note: web/authkeys: key 1 (sha1) is not carried over: Tandem seals frames with a 256-bit key of its own (XChaCha20-Poly1305); write one with `tandem keygen -o cluster.key` and copy it to every node",
    ]);
    for (const f of findings.filter((f) => !f.startsWith("todo:"))) expect(toml).toContain(`#   ${f}`);
    expect(toml).not.toContain("fe8a7d1c2b3e4f506172839405a6b7c8");
  });

  test("links of every kind: ucast addresses told apart by the hosts file, bcast on two interfaces, mcast with its TTL", () => {
    const { toml, doc, findings } = imported({ haresources: fixture("links", "haresources"), haCf: fixture("links", "ha.cf"), hosts: fixture("links", "hosts") });
    expect(problems(toml)).toEqual([]);
    // alpha is in the hosts file; bravo has the one address left on each interface.
    expect(doc.nodes).toEqual([
      { name: "alpha", address: "10.1.0.1" },
      { name: "bravo", address: "10.1.0.2" },
    ]);
    expect(doc.heartbeat.links).toEqual([
      { name: "ucast-eth0", kind: "ucast", interface: "eth0" },
      { name: "ucast-eth3", kind: "ucast", interface: "eth3", addresses: { alpha: "172.16.0.1", bravo: "172.16.0.2" } },
      { name: "bcast-eth1", kind: "bcast", interface: "eth1" },
      { name: "bcast-eth2", kind: "bcast", interface: "eth2" },
      { name: "mcast-eth4", kind: "mcast", interface: "eth4", group: "239.192.0.7", ttl: 2 },
    ]);
    expect(doc.heartbeat).toMatchObject({ interval: "500ms", warntime: "2500ms", deadtime: "5s", initdead: "20s", port: 694, ping: { targets: ["10.1.0.254", "10.1.0.253"] } });
    expect(doc.resources.group.map((g) => [g.preferred, g.auto_failback])).toEqual([
      ["alpha", true],
      ["bravo", true],
    ]);
    expect(resource(doc, "ip-10-1-0-11").params).toEqual({ address: "10.1.0.11/24", interface: "eth0" });
    expect(resource(doc, "xinetd-tftp")).toMatchObject({ agent: "ocf:heartbeat:Xinetd", params: { service: "tftp" } });
    expect(findings).toContain("note: links/ha.cf: mcast on port 695: Tandem uses one port on every link, 694");
    expect(findings).toContain('note: links/ha.cf: node "alpha.example.com" is named "alpha": Tandem names are lower case letters, digits and \'-\' (31 at most); where the host name differs, run tandem with --node alpha');
    expect(findings.some((f) => f.startsWith("note: links/ha.cf:19: ping_group routers: its addresses are separate ping targets"))).toBe(true);
    expect(findings.some((f) => f.startsWith("note: links/ha.cf:20: deadping is not imported"))).toBe(true);
    expect(findings.some((f) => f.startsWith("note: links/ha.cf: ping nodes without ipfail"))).toBe(true);
    expect(findings.some((f) => f.includes("crm"))).toBe(false);
    const crm = imported({ haresources: { file: "hr", text: "alpha httpd\n" }, haCf: { file: "cf", text: "node alpha\nbcast eth0\ncrm respawn\n" } });
    expect(crm.findings).toContain("warning: cf:3: crm respawn: Heartbeat ran Pacemaker and did not read haresources; Pacemaker's CIB is not imported, only haresources is");
  });

  test("incomplete input: only the placeholders fail the checks, each with its TODO, and filling them in passes", () => {
    const { toml, findings } = imported({ haresources: { file: "haresources", text: "alpha 198.18.5.10 httpd\n" } });
    expect(findings).toEqual([
      "note: haresources: no ha.cf: the nodes are the ones haresources names; add any other, and the heartbeat links Heartbeat had",
      "todo: nodes: set alpha's address: the files do not say it",
      "todo: resources: ip-198-18-5-10: set interface: haresources names none for 198.18.5.10, and Heartbeat used the interface of the route to it",
    ]);
    expect(toml).toContain("# TODO: set alpha's address: the files do not say it\naddress = \"TODO: alpha's address\"");
    expect(toml).toContain("# CHECK the prefix: haresources gives none for 198.18.5.10, and Heartbeat took the netmask of the route to it; /24 is assumed");
    expect(toml).toContain('params = { address = "198.18.5.10/24", interface = "TODO: the interface for 198.18.5.10" }');
    expect(toml).toContain('[[heartbeat.links]]  # unicast to each node\'s address\nname = "lan"\nkind = "ucast"');
    expect(problems(toml)).toEqual(["nodes[0].address: invalid value"]);
    const addressed = toml.replace("TODO: alpha's address", "198.18.5.1");
    expect(problems(addressed)).toEqual(['resources.resource[0].params: resource ip-198-18-5-10 (address): interface "TODO: the interface for 198.18.5.10" is not an interface name: 1 to 15 bytes without "/", ":" or spaces']);
    expect(problems(addressed.replace("TODO: the interface for 198.18.5.10", "eth0"))).toEqual([]);
  });

  test("an address without interface names the ucast link in its subnet; unresolved ucast addresses are TODOs", () => {
    const { toml, findings } = imported({
      haresources: { file: "haresources", text: "alpha 10.2.0.50/24\n" },
      // Heartbeat took commas between values too.
      haCf: { file: "ha.cf", text: "node alpha, bravo\nucast eth1 10.2.0.1\nucast eth1 10.2.0.2\nucast eth2 10.9.0.1\nucast eth2 10.9.0.2\n" },
    });
    expect(findings).toEqual([
      "todo: nodes: set alpha's address: the files do not say it (which of 10.2.0.1, 10.2.0.2, ucast eth1)",
      "todo: nodes: set bravo's address: the files do not say it (which of 10.2.0.1, 10.2.0.2, ucast eth1)",
      "todo: heartbeat.links: set alpha's address on eth2 (one of 10.9.0.1, 10.9.0.2)",
      "todo: heartbeat.links: set bravo's address on eth2 (one of 10.9.0.1, 10.9.0.2)",
      "todo: resources: ip-10-2-0-50: set interface: haresources names none for 10.2.0.50, and Heartbeat used the interface of the route to it (ha.cf's ucast eth1 is in 10.2.0.0/24)",
    ]);
    expect(toml).toContain(`addresses = { alpha = "TODO: alpha's address on eth2", bravo = "TODO: bravo's address on eth2" }`);
    // Heartbeat's defaults for the timers ha.cf leaves out.
    expect(toml).toContain('interval = "1s"  # Heartbeat\'s default keepalive\nwarntime = "15s"');
    expect(toml).toContain('initdead = "30s"  # Heartbeat\'s default initdead');
    expect(toml).toContain("auto_failback = true  # Heartbeat's default, auto_failback legacy");
  });

  test("continuations, comments, tabs, CRLF and odd spacing are read as Heartbeat read them", () => {
    const text = [
      "# groups of the pair",
      "   alpha\t 198.18.5.10/24/eth0  \\   ",
      "\t\tFilesystem::/dev/sdb1::/srv   # mount it \\",
      "",
      "BRAVO   httpd \\",
      "  # a comment line ends a continued line, as in Heartbeat",
      "   \t",
      "bravo\tDelay::60   Delay::5::2\r",
    ].join("\n");
    const { toml, doc } = imported({ haresources: { file: "hr", text }, haCf: { file: "cf", text: "node alpha bravo\nbcast eth0\n" } });
    expect(doc.resources.group.map((g) => [g.preferred, g.members])).toEqual([
      ["alpha", ["ip-198-18-5-10", "fs-srv"]],
      ["bravo", ["httpd"]],
      ["bravo", ["delay", "delay-2"]],
    ]);
    expect(toml).toContain("# hr:2: alpha 198.18.5.10/24/eth0 Filesystem::/dev/sdb1::/srv\n");
    expect(toml).toContain("# hr:5: BRAVO httpd\n");
    expect(resource(doc, "fs-srv").params).toEqual({ device: "/dev/sdb1", directory: "/srv" });
    // Delay sleeps in start, stop and monitor: its timeouts cover the delay.
    expect(resource(doc, "delay")).toMatchObject({ params: { startdelay: "60" }, start_timeout: "70s", stop_timeout: "70s", monitor_timeout: "70s" });
    expect(resource(doc, "delay-2")).toMatchObject({ params: { startdelay: "5", stopdelay: "2" }, start_timeout: "30s", stop_timeout: "30s", monitor_timeout: "30s" });
  });

  test("each kind of resource: Heartbeat's scripts as their agents, other scripts as exec, bare names as init scripts, drbddisk left out", () => {
    const text = [
      "alpha IPaddr::198.18.5.20/255.255.255.0/eth0:web/198.18.5.200 IPaddr2::198.18.5.21/25/198.18.5.127 IPaddr2::198.18.5.30/24/eth0:a-long-label",
      "alpha IPsrcaddr::198.18.5.20 IPv6addr::2001:db8:0:0:0:0:0:10/64/eth0 SendArp::198.18.5.22/eth1 portblock::tcp::80::block",
      "alpha drbddisk::r0 Filesystem::/dev/drbd0::/ WAS::9080 WAS::/etc/was.conf myapp::--fast::eu apache apache",
      "bravo drbddisk",
    ].join("\n");
    const { toml, doc, findings } = imported({ haresources: { file: "hr", text }, haCf: { file: "cf", text: "node alpha bravo\nbcast eth0\n" }, hosts: { file: "hosts", text: "198.18.5.1 alpha\n198.18.5.2 bravo\n" } });
    // No ucast line: the nodes' addresses are the hosts file's.
    expect(toml).toContain('address = "198.18.5.2"  # hosts');
    expect(resource(doc, "ip-198-18-5-20")).toMatchObject({ agent: "address", params: { address: "198.18.5.20/24", interface: "eth0", label: "eth0:web" } });
    expect(toml).toContain("# the broadcast address 198.18.5.200 is not imported: the address agent gives an address its subnet's, 198.18.5.255");
    expect(resource(doc, "ip-198-18-5-30").params).toEqual({ address: "198.18.5.30/24", interface: "eth0" });
    expect(toml).toContain('# the label "eth0:a-long-label" is not imported: a label is at most 15 bytes');
    // A broadcast that is the subnet's own is no loss; no interface is a TODO.
    expect(toml).not.toContain("the broadcast address 198.18.5.127");
    expect(resource(doc, "ip-198-18-5-21").params).toEqual({ address: "198.18.5.21/25", interface: "TODO: the interface for 198.18.5.21" });
    expect(resource(doc, "ipsrcaddr")).toMatchObject({ agent: "ocf:heartbeat:IPsrcaddr", params: { ipaddress: "198.18.5.20" } });
    expect(resource(doc, "ip6-2001-db8-0-0-0-0-0-10")).toMatchObject({ agent: "ocf:heartbeat:IPv6addr", params: { ipv6addr: "2001:db8:0:0:0:0:0:10", cidr_netmask: "64", nic: "eth0" } });
    expect(resource(doc, "sendarp-198-18-5-22")).toMatchObject({ agent: "ocf:heartbeat:SendArp", params: { ip: "198.18.5.22", nic: "eth1" } });
    expect(resource(doc, "portblock-80")).toMatchObject({ agent: "ocf:heartbeat:portblock", params: { protocol: "tcp", portno: "80", action: "block" } });
    expect(resource(doc, "fs-root").params).toEqual({ device: "/dev/drbd0", directory: "/" });
    expect(resource(doc, "was")).toMatchObject({ params: { port: "9080" }, start_timeout: "5m", stop_timeout: "5m", monitor_timeout: "30s" });
    expect(resource(doc, "was-2").params).toEqual({ config: "/etc/was.conf" });
    expect(resource(doc, "myapp")).toMatchObject({
      agent: "exec",
      params: {
        start: ["/etc/ha.d/resource.d/myapp", "--fast", "eu", "start"],
        stop: ["/etc/ha.d/resource.d/myapp", "--fast", "eu", "stop"],
        monitor: ["/etc/ha.d/resource.d/myapp", "--fast", "eu", "status"],
      },
    });
    expect(toml).toContain(`# Tandem's exec monitor reads its exit code: 0 running, 7 stopped, anything else failed`);
    expect(doc.resources.group[2]!.members).toEqual(["fs-root", "was", "was-2", "myapp", "apache", "apache-2"]);
    // drbddisk: a warning, a comment where it stood, and a group of nothing else is left out.
    const drbd = findings.filter((f) => f.includes("drbddisk"));
    expect(drbd).toEqual([
      "warning: hr:3: drbddisk::r0 is not imported: replication is a separate Tandem module, not available yet, and resource-agents has no agent for what drbddisk did; until then, DRBD resource r0 must be made primary by other means before the resources after it start",
      "warning: hr:4: drbddisk is not imported: replication is a separate Tandem module, not available yet, and resource-agents has no agent for what drbddisk did; until then, DRBD resource all must be made primary by other means before the resources after it start",
    ]);
    expect(findings).toContain("warning: hr:4: no resource of this line is imported, so neither is the group");
    expect(toml).toContain("# hr:3: alpha drbddisk::r0 Filesystem::/dev/drbd0::/ WAS::9080 WAS::/etc/was.conf myapp::--fast::eu apache apache\n# NOT IMPORTED: drbddisk::r0 is not imported");
    expect(doc.resources.group).toHaveLength(3);
    expect(problems(toml)).toEqual(['resources.resource[1].params: resource ip-198-18-5-21 (address): interface "TODO: the interface for 198.18.5.21" is not an interface name: 1 to 15 bytes without "/", ":" or spaces']);
  });

  test("bad input is refused, every error with its FILE:LINE, and nothing is written", () => {
    const r = importHeartbeat({
      haresources: {
        file: "hr",
        text: ["alpha IPaddr::198.18.5.300", "gamma httpd", "198.18.5.10 httpd", "alpha Filesystem::/dev/sda1", "alpha foo::::bar", "alpha", "alpha ../x", "alpha IPv6addr::2001:db8::11"].join("\n"),
      },
      haCf: {
        file: "cf",
        text: ["node alpha bravo", "keepalve 2", "deadtime 3s", "ucast eth0", "mcast eth0 198.18.0.1 694 1 0", "auto_failback maybe", "bcast eth0:1", "Node gamma", "crm maybe"].join("\n"),
      },
    });
    expect(r.toml).toBeUndefined();
    expect(r.findings.map(formatFinding)).toEqual([
      'error: cf:2: unknown directive "keepalve" (did you mean "keepalive"?)',
      'error: cf:3: deadtime "3s" is not a time (Heartbeat\'s syntax: 2, 1.5, 1500ms)',
      "error: cf:4: ucast takes an interface and the peer's address (ucast eth1 10.0.0.2), found 1 values",
      "error: cf:5: mcast group 198.18.0.1 is not a multicast address (224.0.0.0/4)",
      'error: cf:6: auto_failback "maybe" is not on, off or legacy',
      'error: cf:7: bcast: "eth0:1" is not an interface name: 1 to 15 bytes without "/", ":" or spaces',
      'error: cf:8: unknown directive "Node" (did you mean "node"?)',
      'error: cf:9: crm "maybe" is not on, off or respawn',
      'error: hr:3: the line starts with the resource "198.18.5.10"; it must start with the preferred node\'s name',
      'error: hr:6: node "alpha" with no resources: a line names a node and the resources it runs',
      'error: hr:1: "198.18.5.300" is not an IPv4 address (IPaddr::ADDRESS[/PREFIX[/INTERFACE[/BROADCAST]]])',
      'error: hr:2: node "gamma" is not a node of cf (alpha, bravo)',
      "error: hr:4: Filesystem takes 2 to 4 arguments (Filesystem::DEVICE::DIRECTORY::[FSTYPE]::[OPTIONS]), found 1",
      'error: hr:5: "foo::::bar" has an empty argument',
      `error: hr:7: "../x" is not a resource script's name (letters, digits, '_', '.', '@', '-')`,
      'error: hr:8: IPv6addr takes one argument (IPv6addr::ADDRESS[/PREFIX[/INTERFACE]]), found 2: haresources splits at every "::", so write the address in full',
    ]);
  });

  test("authkeys is checked as Heartbeat checked it, and its secret goes nowhere", () => {
    const base: HeartbeatFiles = { haresources: { file: "hr", text: "alpha httpd\n" }, haCf: { file: "cf", text: "node alpha\nbcast eth0\n" } };
    const withKeys = (text: string, mode = 0o600) => importHeartbeat({ ...base, authkeys: { file: "ak", text, mode } });
    const errors = (text: string, mode?: number) => withKeys(text, mode).findings.filter((f) => f.level === "error").map(formatFinding);
    expect(errors("auth 1\n1 sha1 s3cret-words\n", 0o644)).toEqual(["error: ak: mode 0644: Heartbeat refused an authkeys file that others may read or write, and so does this import (chmod 600 ak)"]);
    expect(errors("auth 1\n1 sha1 s3cret-words\n", 0o640)).toHaveLength(1);
    expect(errors("1 sha1 s3cret-words\n")).toEqual(["error: ak: no auth line: Heartbeat needed one to know its active key"]);
    expect(errors("auth 2\n1 md5 s3cret-words\n")).toEqual(["error: ak:1: auth 2 names no key defined in the file"]);
    expect(errors("auth 1\n1 sha256 s3cret-words\n16 sha1 s3cret-words\n1 md5\n")).toEqual([
      "error: ak:2: key 1: expected a method, crc, md5 or sha1",
      "error: ak:3: expected `auth N` or a key line `N crc|md5|sha1 SECRET` with N from 1 to 15",
      "error: ak:4: key 1: md5 needs a secret",
      "error: ak:1: auth 1 names no key defined in the file",
    ]);
    const ok = withKeys("# keys\nauth 3\n3 sha1 s3cret-words\n2 md5 0ld-s3cret\n");
    expect(ok.toml).toContain('key_file = "cluster.key"  # tandem keygen -o cluster.key; authkeys\' secret is not used');
    expect(ok.findings.map(formatFinding)).toContain(
      "note: ak: key 3 (sha1) is not carried over: Tandem seals frames with a 256-bit key of its own (XChaCha20-Poly1305); write one with `tandem keygen -o cluster.key` and copy it to every node",
    );
    const crc = withKeys("auth 1\n1 crc\n");
    expect(crc.findings.map(formatFinding)).toContain("note: ak: crc authenticated nothing; Tandem authenticates and encrypts every frame");
    for (const r of [ok, withKeys("auth 1\n1 sha256 s3cret-words\n", 0o644)]) {
      expect(r.toml ?? "").not.toContain("s3cret");
      expect(JSON.stringify(r.findings)).not.toContain("s3cret");
    }
  });

  test("node names: Heartbeat's (any case, FQDN) become valid Tandem names; two that share a first label keep as many labels as tell them apart, and two still alike get a number", () => {
    const { doc, findings } = imported({ haresources: { file: "hr", text: "Web_1.Example.COM httpd\n" }, haCf: { file: "cf", text: "node web_1.example.com db-1\nbcast eth0\n" } });
    expect(doc.nodes.map((n) => n.name)).toEqual(["web-1", "db-1"]);
    expect(doc.resources.group[0]!.preferred).toBe("web-1");
    expect(findings[0]).toBe('note: cf: node "web_1.example.com" is named "web-1": Tandem names are lower case letters, digits and \'-\' (31 at most); where the host name differs, run tandem with --node web-1');
    const fqdn = imported({ haresources: { file: "hr", text: "www.nginx1.com nginx.sh\n" }, haCf: { file: "cf", text: "node  www.nginx1.com\nnode  www.nginx2.com\nbcast eth0\n" } });
    expect(fqdn.doc.nodes.map((n) => n.name)).toEqual(["www-nginx1", "www-nginx2"]);
    expect(fqdn.doc.resources.group[0]!.preferred).toBe("www-nginx1");
    const alike = imported({ haresources: { file: "hr", text: "web_1 httpd\n" }, haCf: { file: "cf", text: "node web_1 web-1\nbcast eth0\n" } });
    expect(alike.doc.nodes.map((n) => n.name)).toEqual(["web-1", "web-1-2"]);
  });

  test.skipIf(!HAVE_AGENTS)("every agent the import names is in resource-agents, and takes the parameters it is given", async () => {
    const samples = [
      "Filesystem::/dev/sdb1::/srv::ext4::noatime",
      "MailTo::ops@example.com::failover",
      "IPsrcaddr::198.18.5.1",
      "apache::/etc/apache2/apache2.conf",
      "ICP::c0d0::/dev/ida/c0d0",
      "LVM::vg0",
      "LinuxSCSI::0:0:1",
      "Raid1::/etc/raidtab::/dev/md0",
      "ServeRAID::1::1",
      "WinPopup::/etc/ha.d/winpopup",
      "Xinetd::tftp",
      "db2::db2inst1",
      "portblock::tcp::80::block",
      "IPv6addr::2001:db8:0:0:0:0:0:1/64/eth0",
      "SendArp::198.18.5.1/eth0",
      "Delay::5::2",
      "WAS::9080",
      "WAS::/etc/was.conf",
      "AudibleAlarm::alpha::bravo",
    ];
    expect(OCF_SCRIPTS.filter((s) => !samples.some((t) => t.startsWith(`${s}::`)))).toEqual([]);
    for (const token of samples) {
      const outcome = resourceOf(token);
      if (outcome.kind !== "resource") throw new Error(`${token}: ${outcome.kind}`);
      const [, provider, type] = outcome.mapped.agent.split(":") as [string, string, string];
      const { meta } = await new OcfAgent({ provider, type, instance: "import-test" }).metaData({ timeoutMs: 20_000 });
      expect(meta, token).not.toBeNull();
      expect(checkParameters(meta!, outcome.mapped.params as Record<string, string>), token).toEqual([]);
    }
  });

  test("strings are written as TOML reads them back, and a comment stays one comment", () => {
    for (const s of ['quote " and \\ backslash', "tab\tnew\nline", "del \x7f and nul \0", "ünïcödé ✓"]) {
      expect((parseToml(`k = ${tomlString(s)}`) as { k: string }).k).toBe(s);
    }
    const text = new TomlWriter().comment("a file\nk = 1").table("t", { comment: "x\r\n[u]" }).key("k", "v", "y\nz = 2").text();
    expect(parseToml(text)).toEqual({ t: { k: "v" } });
  });

  test("what Heartbeat itself refused: a zero keepalive, no node at all", () => {
    const zero = importHeartbeat({ haresources: { file: "hr", text: "alpha httpd\n" }, haCf: { file: "cf", text: "node alpha\nbcast eth0\nkeepalive 0\n" } });
    expect(zero.findings.map(formatFinding)).toEqual(["error: cf:3: keepalive must be above 0"]);
    const none = importHeartbeat({ haresources: { file: "hr", text: "# nothing yet\n" } });
    expect(none.findings.map(formatFinding)).toEqual(["error: hr: no node: haresources names none, and no ha.cf was given"]);
    expect(none.toml).toBeUndefined();
  });
});

describe("tandem import (the command)", () => {
  const setup = (dir: string) => {
    const d = join(tmp.dir, dir);
    Bun.spawnSync(["mkdir", "-p", d]);
    for (const f of ["haresources", "ha.cf", "authkeys", "hosts"]) copyFileSync(join(FIXTURES, "web", f), join(d, f));
    chmodSync(join(d, "authkeys"), 0o600);
    return d;
  };
  const args = (d: string) => ["import", "haresources", join(d, "haresources"), "--ha-cf", join(d, "ha.cf"), "--authkeys", join(d, "authkeys"), "--hosts", join(d, "hosts")];

  test("the web pair end to end: the written config, with a key from keygen, passes tandem check", async () => {
    const d = setup("e2e");
    const out = join(d, "tandem.toml");
    const r = await tandem([...args(d), "-o", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`note: ${join(d, "ha.cf")}:2: logfacility is not imported`);
    expect(r.stderr).toContain(`imported 2 nodes, 2 groups, 6 resources to ${out}; 0 warnings, 4 notes, 0 TODOs\n`);
    const text = readFileSync(out, "utf8");
    expect(text).not.toContain("fe8a7d1c2b3e4f506172839405a6b7c8");
    expect(r.stderr).not.toContain("fe8a7d1c2b3e4f506172839405a6b7c8");
    expect((await tandem(["keygen", "-o", join(d, "cluster.key")])).code).toBe(0);
    const check = await tandem(["check", "-c", out, "--node", "www1"]);
    expect(check.stderr).not.toContain("error:");
    expect(check.stdout).toContain("valid (cluster linux-ha, 2 nodes");
    expect(check.code).toBe(0);
  });

  test("stdout without -o; an existing output is kept unless --force", async () => {
    const d = setup("out");
    const r = await tandem(args(d));
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("# A Tandem config imported from Heartbeat");
    const out = join(d, "tandem.toml");
    writeFileSync(out, "mine\n");
    const kept = await tandem([...args(d), "-o", out]);
    expect(kept.code).toBe(1);
    expect(kept.stderr).toContain("exists; keeping it (use --force to replace it)");
    expect(readFileSync(out, "utf8")).toBe("mine\n");
    expect((await tandem([...args(d), "-o", out, "--force"])).code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(r.stdout);
  });

  test("a world-readable authkeys, an unreadable file, a bad line: exit 2, the reason with FILE:LINE, nothing written", async () => {
    const d = setup("bad");
    const out = join(d, "tandem.toml");
    chmodSync(join(d, "authkeys"), 0o644);
    const open = await tandem([...args(d), "-o", out]);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain(`error: ${join(d, "authkeys")}: mode 0644: Heartbeat refused an authkeys file that others may read or write`);
    expect(open.stderr).toContain("nothing written: 1 error");
    chmodSync(join(d, "authkeys"), 0o600);
    const missing = await tandem(["import", "haresources", join(d, "haresources"), "--ha-cf", join(d, "nope.cf"), "-o", out]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`error: ${join(d, "nope.cf")}: cannot read it: `);
    writeFileSync(join(d, "ha.cf"), `${readFileSync(join(d, "ha.cf"), "utf8")}keepalive two\n`);
    const bad = await tandem([...args(d), "-o", out]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`error: ${join(d, "ha.cf")}:22: keepalive "two" is not a time`);
    expect(existsSync(out)).toBe(false);
  });

  test("help, and usage errors", async () => {
    const help = await tandem(["import", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("  haresources   Heartbeat v1: haresources, ha.cf, authkeys\n  keepalived    keepalived: keepalived.conf (virtual servers, VRRP instances)\n  ldirectord    ldirectord: ldirectord.cf (virtual services)\n");
    const sub = await tandem(["import", "haresources", "--help"]);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toStartWith("Usage: tandem import haresources FILE");
    for (const [argv, message] of [
      [["import"], "tandem import: missing KIND: haresources, keepalived, ldirectord"],
      [["import", "pacemaker"], 'tandem import: unknown kind "pacemaker": haresources, keepalived, ldirectord'],
      [["import", "haresources"], "tandem import haresources: missing the haresources FILE\nSee 'tandem import haresources --help'."],
      [["import", "haresources", "a", "--force"], "tandem import haresources: --force is for -o OUT"],
    ] as const) {
      const r = await tandem([...argv]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });
});
