/**
 * Heartbeat v1 setups as operators wrote them (test/cmd/import/heartbeat-field/:
 * our own ha.cf and haresources, twenty-three sets in the shapes of published
 * ones: DRBD under NFS, MySQL and PostgreSQL, an UltraMonkey director with
 * ldirectord, serial and bonded links, multicast, ping groups and ipfail,
 * active/active, RAID and LVM, portblock around a service, IPv6, continued
 * lines, labels, a site's own script, FreeBSD with FQDN node names, a
 * watchdog, autojoin without node lines, comments after values, a
 * haresources with every line commented out). Every set imports without an error; what it holds is
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
  resources: { group: Array<{ name: string; members: string[]; preferred: string; auto_failback: boolean }>; resource: Array<{ name: string; agent: string; params?: Record<string, unknown>; symmetrical?: boolean }> };
};

function doc(set: string): Doc & { findings: string[] } {
  const r = run(set);
  if (r.toml === undefined) throw new Error(`nothing imported:\n${r.findings.join("\n")}`);
  return { ...(parseToml(r.toml) as unknown as Doc), findings: r.findings };
}

describe("Heartbeat v1 setups as operators wrote them", () => {
  test("there are twenty-three sets", () => expect(SETS).toHaveLength(23));

  test.each(SETS)("%s imports without an error", (set) => {
    expect(run(set).errors).toEqual([]);
  });

  test("DRBD under a file system: drbddisk is a warning, the rest of the group is carried in order", () => {
    const d = doc("drbd-nfs");
    expect(d.resources.group[0]).toMatchObject({ preferred: "nfs1", auto_failback: false, members: ["ip-198-18-70-100", "fs-srv-nfs", "nfs-kernel-server"] });
    expect(d.findings.some((f) => f.startsWith("warning: drbd-nfs/haresources:2: drbddisk::r0 is not imported"))).toBe(true);
  });

  test("an UltraMonkey director: ldirectord is Tandem's director (one-way order: a move releases the address first), LVSSyncDaemonSwap a warning; keepalive in ms, multicast", () => {
    const d = doc("ldirectord-mcast");
    expect(d.resources.resource.find((r) => r.name === "director")).toEqual({ name: "director", agent: "director", symmetrical: false });
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

  test("Heartbeat's watchdog is Tandem's [watchdog], with the minute Heartbeat left to the kernel; comments after values are comments", () => {
    const r = run("bare-ip-watchdog");
    const d = parseToml(r.toml!) as { watchdog?: unknown; heartbeat: { interval: string; deadtime: string; ping?: { targets: string[] } } };
    expect(d.watchdog).toEqual({ device: "/dev/watchdog", timeout: "60s" });
    expect(d.heartbeat).toMatchObject({ interval: "2s", deadtime: "5s", ping: { targets: ["198.18.124.1"] } });
    expect(r.findings).toContain("todo: resources: ip-198-18-124-20: set interface: haresources names none for 198.18.124.20, and Heartbeat used the interface of the route to it");
  });

  test("autojoin without node lines: the nodes are the ones haresources names", () => {
    const d = doc("autojoin-other");
    expect(d.resources.group[0]).toMatchObject({ preferred: "mx-a", members: ["ip-198-18-125-25", "postfix"] });
    expect(d.findings).toContain("note: autojoin-other/ha.cf: no node line (autojoin other): the nodes are the ones haresources names; add any other that joined");
  });

  test("FQDN node names keep their first label; two lines for one node are two groups; a site's own script is an init script; underscores become hyphens", () => {
    expect(doc("freebsd-fqdn").resources.group.map((g) => [g.preferred, g.members])).toEqual([
      ["gw1", ["ip-198-18-122-17"]],
      ["gw1", ["ip-198-18-123-4"]],
    ]);
    const drbd = doc("drbd-script");
    expect(drbd.resources.group[0]).toMatchObject({ preferred: "db-master-1", auto_failback: false, members: ["ip-198-18-120-60", "ip-198-18-121-60", "drbd-promote"] });
    expect(drbd.resources.resource.map((r) => r.agent)).toEqual(["address", "address", "lsb:drbd_promote"]);
    expect(doc("commented-out").resources?.group ?? []).toEqual([]);
  });

  test("IPv6addr written in full, SendArp, and a label on an address", () => {
    const v6 = doc("ipv6-sendarp").resources.resource.map((r) => r.agent);
    expect(v6).toEqual(["ocf:heartbeat:IPv6addr", "ocf:heartbeat:SendArp", "address"]);
    expect(doc("label-alarm").resources.resource[0]!.params).toEqual({ address: "198.18.85.10/24", interface: "eth0", label: "eth0:web" });
  });
});
