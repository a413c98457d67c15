/**
 * Heartbeat v1 setups as operators wrote them (test/cmd/import/heartbeat-field/:
 * our own ha.cf and haresources, fifteen sets in the shapes of published
 * ones: DRBD under NFS, MySQL and PostgreSQL, an UltraMonkey director with
 * ldirectord, serial and bonded links, multicast, ping groups and ipfail,
 * active/active, RAID and LVM, portblock around a service, IPv6, continued
 * lines, labels; nodes named by FQDNs that share their first label, a
 * generator's millisecond and decimal timers, a VLAN interface, comments
 * after a directive in any script). Every set imports without an error; what it holds is
 * carried as the tests below say. Heartbeat is not packaged any more, so
 * there is no referee to run: its parser's rules are in import/heartbeat.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import { importHeartbeat } from "../../import/heartbeat/index.ts";
import { printed } from "./import-lvs.ts";

const FIELD = join(import.meta.dir, "import", "heartbeat-field");
const SETS = readdirSync(FIELD).sort();

function run(set: string) {
  const text = (f: string) => ({ file: `${set}/${f}`, text: readFileSync(join(FIELD, set, f), "utf8") });
  return printed(importHeartbeat({ haresources: text("haresources"), haCf: text("ha.cf") }));
}

type Doc = {
  heartbeat: { interval?: string; deadtime?: string; links: Array<{ name: string; kind: string; interface?: string; group?: string }>; ping?: { targets: string[] } };
  resources: { group: Array<{ name: string; members: string[]; preferred: string; auto_failback: boolean }>; resource: Array<{ name: string; agent: string; params?: Record<string, unknown> }> };
};

function doc(set: string): Doc & { findings: string[] } {
  const r = run(set);
  if (r.toml === undefined) throw new Error(`nothing imported:\n${r.findings.join("\n")}`);
  return { ...(parseToml(r.toml) as unknown as Doc), findings: r.findings };
}

describe("Heartbeat v1 setups as operators wrote them", () => {
  test("there are eighteen sets", () => expect(SETS).toHaveLength(18));

  test.each(SETS)("%s imports without an error", (set) => {
    expect(run(set).errors).toEqual([]);
  });

  test("DRBD under a file system: drbddisk is a warning, the rest of the group is carried in order", () => {
    const d = doc("drbd-nfs");
    expect(d.resources.group[0]).toMatchObject({ preferred: "nfs1", auto_failback: false, members: ["ip-198-18-70-100", "fs-srv-nfs", "nfs-kernel-server"] });
    expect(d.findings.some((f) => f.startsWith("warning: drbd-nfs/haresources:2: drbddisk::r0 is not imported"))).toBe(true);
  });

  test("an UltraMonkey director: ldirectord is Tandem's director, LVSSyncDaemonSwap a warning; keepalive in ms, multicast", () => {
    const d = doc("ldirectord-mcast");
    expect(d.resources.resource.find((r) => r.name === "director")).toEqual({ name: "director", agent: "director" });
    expect(d.resources.group[0]!.members).toEqual(["director", "ip-198-18-72-240"]);
    expect(d.findings).toContain(
      "warning: ldirectord-mcast/haresources:1: LVSSyncDaemonSwap::master is not imported: it started IPVS's connection sync daemon (master or backup) with the group; Tandem's director runs connection sync itself ([director.sync])",
    );
    expect(d.heartbeat).toMatchObject({ interval: "500ms", deadtime: "3s" });
    expect(d.heartbeat.links).toEqual([{ name: "mcast-eth0", kind: "mcast", interface: "eth0", group: "225.0.0.1" }]);
  });

  test("a line continued with backslashes is one group", () => {
    expect(doc("continued").resources.group[0]!.members).toEqual(["ip-198-18-84-25", "fs-var-spool-mail", "postfix", "dovecot"]);
  });

  test("active/active: one group a line, each preferring its own node", () => {
    expect(doc("active-active").resources.group.map((g) => [g.preferred, g.members])).toEqual([
      ["alpha", ["ip-198-18-77-10", "apache2"]],
      ["bravo", ["ip-198-18-77-11", "postfix"]],
    ]);
  });

  test("a ping group is the node's ping targets; nice_failback on does not fail back, auto_failback legacy does", () => {
    expect(doc("ping-group").heartbeat.ping?.targets).toEqual(["198.18.81.1", "198.18.81.2"]);
    expect(doc("squid-mailto").resources.group[0]!.auto_failback).toBe(false);
    expect(doc("samba-bond").resources.group[0]!.auto_failback).toBe(true);
  });

  test("IPv6addr written in full, SendArp, and a label on an address", () => {
    const v6 = doc("ipv6-sendarp").resources.resource.map((r) => r.agent);
    expect(v6).toEqual(["ocf:heartbeat:IPv6addr", "ocf:heartbeat:SendArp", "address"]);
    expect(doc("label-alarm").resources.resource[0]!.params).toEqual({ address: "198.18.85.10/24", interface: "eth0", label: "eth0:web" });
  });

  test("nodes named by FQDNs sharing their first label keep the labels that tell them apart; an alias interface is a label, a script with a dot an init script", () => {
    const d = doc("fqdn-nginx");
    expect(d.resources.group[0]).toMatchObject({ preferred: "www-nginx1", members: ["ip-198-18-86-100", "nginx-sh"] });
    expect(d.resources.resource).toEqual([
      { name: "ip-198-18-86-100", agent: "address", params: { address: "198.18.86.100/24", interface: "ens33", label: "ens33:0" } },
      { name: "nginx-sh", agent: "lsb:nginx.sh" },
    ]);
    expect(d.findings).toContain('note: fqdn-nginx/ha.cf: node "www.nginx2.example.com" is named "www-nginx2": Tandem names are lower case letters, digits and \'-\' (31 at most); where the host name differs, run tandem with --node www-nginx2');
  });

  test("a generator's timers (ms, decimal seconds), a ping group, and a line a node each naming a script", () => {
    const d = doc("generated-ms");
    expect(d.heartbeat).toMatchObject({ interval: "500ms", deadtime: "2500ms" });
    expect(d.heartbeat.ping?.targets).toEqual(["198.18.87.254", "198.18.88.254"]);
    expect(d.resources.group.map((g) => [g.preferred, g.members, g.auto_failback])).toEqual([
      ["node-a", ["node1"], false],
      ["node-b", ["node2"], false],
    ]);
  });

  test("a VLAN interface in mcast and IPaddr2 (with its broadcast), comments after directives", () => {
    const d = doc("vlan-mcast");
    expect(d.heartbeat.links).toEqual([{ name: "mcast-eth0-5", kind: "mcast", interface: "eth0.5", group: "225.0.0.1" }]);
    expect(d.heartbeat).toMatchObject({ interval: "2s", deadtime: "15s" });
    expect(d.resources.resource[0]).toEqual({ name: "ip-198-18-89-10", agent: "address", params: { address: "198.18.89.10/24", interface: "eth0.5" } });
    expect(d.resources.group[0]!.preferred).toBe("master");
  });
});
