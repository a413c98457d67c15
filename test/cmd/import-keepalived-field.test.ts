/**
 * keepalived.conf as operators write it (test/cmd/import/keepalived/field/:
 * our own files, in the shapes and spellings found in published configs:
 * kubeadm guides, the LVS HOWTO's NAT pair, ansible and salt templates,
 * one-file-for-both-nodes setups with parameters, a terraform template's TUN
 * tenants, what keepalived corrects and runs anyway; test/cmd/import/SOURCES.md
 * lists the published files). Every one imports
 * without an error, and keepalived itself is the referee: a file that
 * `keepalived -t` accepts must never be refused by the import.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { importKeepalived, type IncludeReader } from "../../import/keepalived/index.ts";
import { lvsProblems, printed, written } from "./import-lvs.ts";

const FIELD = join(import.meta.dir, "import", "keepalived", "field");
const FILES = readdirSync(FIELD).filter((f) => f.endsWith(".conf")).sort();

const disk: IncludeReader = {
  expand: (pattern) => [...new Bun.Glob(pattern.slice(FIELD.length + 1)).scanSync({ cwd: FIELD })].sort().map((f) => join(FIELD, f)),
  read: (f) => (existsSync(f) ? { text: readFileSync(f, "utf8"), id: f } : { error: "ENOENT" }),
};

const run = (file: string) => printed(importKeepalived({ file: join(FIELD, file), peers: [], reader: disk }), `${FIELD}/`);
const imported = (file: string) => written(importKeepalived({ file: join(FIELD, file), peers: [], reader: disk }), `${FIELD}/`);

describe("keepalived.conf as operators write it", () => {
  test.each(FILES)("%s imports without an error, and what it writes fits the director's and the services' schemas", (file) => {
    const { errors, toml } = imported(file);
    expect(errors).toEqual([]);
    expect(lvsProblems(toml, { rest: false })).toEqual([]);
  });

  test("an apiserver pair from a kubeadm guide: an unknown scheduler is keepalived's default, net_mask and persistence_timeout 0 are nothing, lb_kind dr is DR, lvs_id names the node, nb_get_retry is retry", () => {
    const { doc, findings } = imported("apiserver-dr.conf");
    expect(doc.director.virtual_service).toEqual([
      { name: "vs-198-18-40-10-6443", address: "198.18.40.10", port: 6443, service: "vs-198-18-40-10-6443", scheduler: "wlc", forwarding: "dr", sorry_server: "127.0.0.1:6443" },
    ]);
    expect(doc.services[0]!.check).toEqual({ kind: "https", interval: "6s", timeout: "3s", rise: 1, fall: 4, path: "/healthz", status: "200" });
    expect((doc.rest.nodes as Array<{ name: string }>)[0]!.name).toBe("lvs-devel");
    expect(findings).toContain("note: apiserver-dr.conf:39: persistence_timeout 0: no persistence, as keepalived read it");
    expect(findings).toContain("note: apiserver-dr.conf:37: lb_kind dr is read as DR: keepalived 2.2 read only DR and forwarded by NAT, later keepalived reads either case");
    expect(findings).toContain('warning: apiserver-dr.conf:38: unknown keyword "net_mask" in virtual_server 198.18.40.10 6443 (did you mean "nat_mask"?): keepalived skipped it, and so does the import');
  });

  test("the HOWTO's NAT pair: old aliases in global_defs and the instance are notes and warnings (the misspelt sync daemon interface is the director's sync), two instances in a sync group are two groups that move together", () => {
    const { doc, findings } = imported("nat-pair.conf");
    expect((doc.director as Record<string, unknown>).sync).toEqual({ interface: "eth1" });
    const resources = doc.rest.resources as { group: Array<{ name: string; members: string[] }>; colocation: unknown[]; resource: Array<{ params: Record<string, string> }> };
    expect(resources.group.map((g) => g.name)).toEqual(["vi-public", "vi-gateway"]);
    expect(resources.colocation).toEqual([{ group: "vi-gateway", with: "vi-public" }]);
    expect(resources.resource[0]!.params).toEqual({ address: "198.18.41.100/24", interface: "eth0", label: "eth0:vip" });
    expect(doc.services[0]!.check).toMatchObject({ kind: "tcp", port: 80, fall: 4 });
    expect(doc.director.virtual_service.map((v) => [v.forwarding, v.persistence])).toEqual([
      ["nat", "50s"],
      ["nat", "50s"],
    ]);
    expect(findings.filter((f) => /:(11|12|28|61):/.test(f))).toEqual([
      "note: nat-pair.conf:11: garp_master_delay 5 is not imported: gratuitous ARP timing: the address agent announces an address when it takes it (its announce_count and announce_interval)",
      "note: nat-pair.conf:12: the director's connection sync ([director.sync]): the active director sends, as keepalived's master daemon did, and the others keep what they receive",
      "note: nat-pair.conf:61: nat_mask 255.255.255.0 is not imported: keepalived 1's netmask of a NAT service, long without effect (also at nat-pair.conf:89)",
    ]);
  });

  test("written tight: braces glued to words, comments glued to values, words after a value skipped with a warning", () => {
    const { doc, findings } = imported("unicast-glued.conf");
    expect(doc.rest.nodes).toEqual([
      { name: "ka-1", address: "198.18.43.20" },
      { name: "TODO: node 2's name", address: "198.18.43.21" },
    ]);
    expect(doc.director.virtual_service[0]).toMatchObject({ scheduler: "rr", forwarding: "dr", persistence: "50s" });
    expect(findings).toContain('warning: unicast-glued.conf:39: persistence_timeout takes 0 to 1 value (persistence_timeout [SECONDS]): keepalived read the first and skipped "seconds per client", and so does the import');
  });

  test("one file for both nodes: parameters (one line, several, conditional), ${NAME} inside a word, ~SEQ with and without a step, includes by glob", () => {
    const { doc, findings } = imported("params.conf");
    expect(doc.rest.nodes).toEqual([
      { name: "lb1", address: "198.18.44.1" },
      { name: "lb2", address: "198.18.44.2" },
    ]);
    expect((doc.rest.resources as { group: Array<{ preferred: string }> }).group[0]!.preferred).toBe("lb1");
    expect(doc.director.virtual_service.map((v) => `${v.address}:${v.port}`)).toEqual(["198.18.44.10:80", "198.18.44.10:25", "198.18.44.10:53"]);
    expect(doc.services.map((s) => s.servers.map((x) => x.address))).toEqual([
      ["198.18.44.11", "198.18.44.12", "198.18.44.13", "198.18.44.14", "198.18.44.19"],
      ["198.18.44.21", "198.18.44.23", "198.18.44.25"],
      ["198.18.44.31", "198.18.44.32"],
    ]);
    expect(doc.services[0]!.check).toMatchObject({ kind: "tcp", timeout: "3s" });
    expect(doc.services[2]!.check).toMatchObject({ kind: "dns", query: "www.example.net", query_type: "A" });
    expect(findings.filter((f) => f.startsWith("todo:"))).toEqual([]);
  });

  test("each real server its own checker and inhibit_on_failure; a server with no port takes the service's", () => {
    const { doc } = imported("per-server.conf");
    const web = doc.services[0]!;
    expect(web.check).toMatchObject({ kind: "http", path: "/health", digest: "9b3a0c85a887a256d6939da88aabd8cd" });
    expect(web.servers).toEqual([
      { address: "198.18.45.101", weight: 5 },
      { address: "198.18.45.102", weight: 2, inhibit_on_failure: false, check: { digest: "0123456789abcdef0123456789abcdef" } },
      { address: "198.18.45.103", check: { kind: "tcp", timeout: "1s", port: 8080 } },
      { address: "198.18.45.104", check: { kind: "misc", timeout: "4s", fall: 1, command: ["/bin/sh", "-c", 'exec /usr/local/bin/check-web "$TANDEM_CHECK_ADDRESS"'], dynamic_weight: true } },
    ]);
    expect(doc.director.virtual_service.filter((v) => v.service === web.name)).toHaveLength(7);
    expect(doc.director.virtual_service[0]).toMatchObject({ forwarding: "dr", alpha: true, quorum: 2, hysteresis: 1, inhibit_on_failure: true });
  });

  test("TUN tenants from a template: fractional seconds, a checker's own delay_loop, two checkers a server, the sync daemon with its options is the director's sync", () => {
    const { doc, findings } = imported("tun-tenants.conf");
    expect(doc.services[0]!.check).toEqual({ kind: "http", interval: "500ms", timeout: "200ms", rise: 1, fall: 4, port: 80, path: "/healthz", status: "200" });
    expect(doc.services[0]!.servers).toEqual([{ address: "198.18.100.21" }, { address: "198.18.100.22" }]);
    expect(doc.director.virtual_service[0]).toMatchObject({ forwarding: "tun", sorry_server: "198.18.100.20:443", quorum: 1, alpha: true, inhibit_on_failure: true });
    expect(doc.rest.nodes).toEqual([
      { name: "lvs-t1", address: "198.18.100.1" },
      { name: "TODO: node 2's name", address: "198.18.100.2" },
    ]);
    expect(findings).toContain("warning: tun-tenants.conf:73: MISC_CHECK is not imported: Tandem runs one check a server, and HTTP_GET is the one (also at tun-tenants.conf:92)");
    expect((doc.director as Record<string, unknown>).sync).toEqual({ interface: "eth1", id: 61, port: 8848, group: "224.0.0.81" });
    expect(findings.filter((f) => f.includes("tun-tenants.conf:10:"))).toEqual([
      "note: tun-tenants.conf:10: maxlen 1472 is not imported: the kernel's default is kept",
      "note: tun-tenants.conf:10: ttl 2 is not imported: the kernel's default is kept",
      "note: tun-tenants.conf:10: the director's connection sync ([director.sync]): the active director sends, as keepalived's master daemon did, and the others keep what they receive",
    ]);
  });

  test("what keepalived corrects, the import corrects alike: nopreempt beside MASTER, quorum over the weight, hysteresis not below quorum, a DR sorry server's port, a repeated real server; a repeated virtual server is kept once; an instance has one family, and an address once", () => {
    const { doc, findings } = imported("corrected.conf");
    const groups = (doc.rest.resources as { group: Array<{ name: string; auto_failback: boolean }> }).group;
    expect(groups.map((g) => [g.name, g.auto_failback])).toEqual([
      ["vi-1", true],
      ["vi-2", false],
      ["vi-3", true],
    ]);
    expect(doc.director.virtual_service[0]).toMatchObject({ forwarding: "dr", sorry_server: "198.18.101.30:80", quorum: 3, hysteresis: 2 });
    expect(doc.director.virtual_service[1]).toMatchObject({ fwmark: 12, hysteresis: 0 });
    expect(doc.services[0]!.servers).toEqual([{ address: "198.18.101.21" }, { address: "198.18.101.22", weight: 2 }]);
    expect(findings.filter((f) => f.startsWith("warning:"))).toEqual([
      "warning: corrected.conf:13: nopreempt is not imported: keepalived clears it when the instance's state is MASTER (nopreempt needs state BACKUP), so the highest priority took the addresses back",
      'warning: corrected.conf:24: state "SLAVE" is not MASTER or BACKUP: keepalived skipped it, and so does the import',
      "warning: corrected.conf:39: quorum 5 is over the real servers' total weight, 3: keepalived lowered it to 3, and so does the import",
      "warning: corrected.conf:40: hysteresis 3 is not below quorum 3: keepalived set it to 2, and so does the import",
      "warning: corrected.conf:41: sorry_server 198.18.101.30 8080: DR cannot change a port, and keepalived reset the sorry server's port to 80, as the import does",
      "warning: corrected.conf:55: real_server 198.18.101.21 80 is not imported: it repeats real_server 198.18.101.21 80 (corrected.conf:43); keepalived kept the first, and so does the import",
      "warning: corrected.conf:69: hysteresis 1 is not below quorum 1: keepalived set it to 0, and so does the import",
      "warning: corrected.conf:79: virtual_server 198.18.101.10 80 is not imported: it is the virtual service of corrected.conf:34 again; the director holds one an address, port and protocol (or mark), and keeps the first",
      "warning: corrected.conf:100: the address family must match the instance's (IPv4; virtual_ipaddress_excluded takes either): keepalived skipped it, and so does the import",
      "warning: corrected.conf:101: 198.18.101.12 is not imported: it is the address of corrected.conf:99 again; an address is held once (keepalived 2.3 skips it too)",
    ]);
    expect(doc.director.virtual_service).toHaveLength(2);
    const vi3 = (doc.rest.resources as { group: Array<{ name: string; members: string[] }> }).group.find((g) => g.name === "vi-3");
    expect(vi3?.members).toEqual(["ip-198-18-101-12", "ip-2001-db8-101-13"]);
    expect(findings).toContain("note: corrected.conf:63: protocol TCP is not imported: a firewall mark's service takes what the mark marks, and keepalived ignored the protocol too");
  });
});

const ROOT = process.getuid?.() === 0;
const KEEPALIVED = spawnSync("keepalived", ["-v"]).status === 0;
const NS = "ka-dir-import";

/** The views keepalived is asked about: each file, and a file with conditional lines once per config ID (`-i ID`). */
const VIEWS: Array<{ file: string; id?: string }> = FILES.flatMap((file) => {
  const ids = [...new Set([...readFileSync(join(FIELD, file), "utf8").matchAll(/(?:^|\n|=)\s*@\^?([^\s@^]+)/g)].map((m) => m[1]!))];
  return ids.length ? ids.map((id) => ({ file, id })) : [{ file }];
});

describe.skipIf(!ROOT || !KEEPALIVED)("keepalived -t is the referee", () => {
  const ip = (...args: string[]) => spawnSync("ip", args, { encoding: "utf8" });
  beforeAll(() => {
    ip("netns", "del", NS);
    ip("netns", "add", NS);
    // The interfaces the files name, so that keepalived finds them.
    ip("-n", NS, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1");
    for (const dev of ["lo", "eth0", "eth1"]) ip("-n", NS, "link", "set", dev, "up");
  });
  afterAll(() => ip("netns", "del", NS));

  test("no file keepalived accepts is refused by the import; keepalived accepts most of them", () => {
    const verdicts = VIEWS.map(({ file, id }) => {
      const r = spawnSync("ip", ["netns", "exec", NS, "keepalived", "-t", ...(id ? ["-i", id] : []), "-f", join(FIELD, file)], { encoding: "utf8", timeout: 30_000 });
      return { view: id ? `${file} -i ${id}` : file, accepted: r.status === 0, errors: run(file).errors };
    });
    expect(verdicts.filter((v) => v.accepted && v.errors.length)).toEqual([]);
    expect(verdicts.filter((v) => v.accepted).map((v) => v.view)).toEqual(["manual.conf -i lb1", "params.conf -i lb1", "params.conf -i lb2", "per-server.conf", "sync-group-nat.conf", "tun-tenants.conf", "unicast-glued.conf"]);
  });
});
