/**
 * keepalived.conf as operators write it (test/cmd/import/keepalived/field/:
 * our own files, in the shapes and spellings found in published configs:
 * kubeadm guides, the LVS HOWTO's NAT pair, ansible and salt templates,
 * one-file-for-both-nodes setups with parameters). Every one imports
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

  test("the HOWTO's NAT pair: old aliases in global_defs and the instance are notes and warnings, two instances in a sync group are two groups that move together, the connection sync is carried and the director follows its instance", () => {
    const { doc, findings } = imported("nat-pair.conf");
    const resources = doc.rest.resources as { group: Array<{ name: string; members: string[] }>; colocation: unknown[]; resource: Array<{ params: Record<string, string> }> };
    expect(resources.group.map((g) => g.name)).toEqual(["vi-public", "vi-gateway"]);
    expect(resources.colocation).toEqual([{ group: "vi-gateway", with: "vi-public" }]);
    expect(resources.group[0]!.members).toEqual(["ip-198-18-41-100", "director"]);
    expect(doc.director.sync).toEqual({ interface: "eth1" });
    expect(resources.resource[0]!.params).toEqual({ address: "198.18.41.100/24", interface: "eth0", label: "eth0:vip" });
    expect(doc.services[0]!.check).toMatchObject({ kind: "tcp", port: 80, fall: 4 });
    expect(doc.director.virtual_service.map((v) => [v.forwarding, v.persistence])).toEqual([
      ["nat", "50s"],
      ["nat", "50s"],
    ]);
    expect(findings.filter((f) => /:(11|12|28|61):/.test(f))).toEqual([
      "note: nat-pair.conf:11: garp_master_delay 5 is not imported: gratuitous ARP timing: the address agent announces an address when it takes it (its announce_count and announce_interval)",
      "note: nat-pair.conf:12: lvs_sync_daemon_inteface, keepalived 1's spelling, is read as lvs_sync_daemon_interface (keepalived 2.2 skips it as unknown) (also at nat-pair.conf:28)",
      "note: nat-pair.conf:12: lvs_sync_daemon_inteface eth1: the same connection sync as nat-pair.conf:28's (IPVS runs one master and one backup daemon); the director follows vrrp_instance VI_PUBLIC",
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

  test("keepalived 2's lvs_sync_daemon: its interface, id and port carried (with the kernel's group), the director in its instance's group; a sync group of two instances on one router id", () => {
    const { doc, findings } = imported("sync-group-nat.conf");
    expect(doc.director.sync).toEqual({ interface: "eth1", id: 7, group: "224.0.0.81", port: 8850 });
    const resources = doc.rest.resources as { group: Array<{ name: string; members: string[] }>; colocation: unknown[]; resource: Array<{ name: string; agent: string }> };
    expect(resources.group.map((g) => [g.name, g.members])).toEqual([
      ["vi-1", ["ip-198-18-95-80", "director"]],
      ["vi-2", ["ip-198-18-96-254"]],
    ]);
    expect(resources.resource.find((r) => r.name === "director")).toEqual({ name: "director", agent: "director" });
    expect(resources.colocation).toEqual([{ group: "vi-2", with: "vi-1" }]);
    expect(doc.director.virtual_service[0]).toMatchObject({ scheduler: "wlc", forwarding: "nat", persistence: "10m" });
    expect(findings).toContain("note: sync-group-nat.conf:4: port without group: the kernel's group 224.0.0.81 is written with it, as keepalived sent there");
  });

  test("a salt pillar's config: the sync daemon's old misspelling carried with a note, lower-case dr, quorum, an address with its device", () => {
    const { doc, findings } = imported("salt-dr-quorum.conf");
    expect(doc.director.sync).toEqual({ interface: "eth1" });
    expect(doc.director.virtual_service[0]).toMatchObject({ scheduler: "sh", forwarding: "dr", quorum: 1 });
    expect(findings).toContain("note: salt-dr-quorum.conf:8: lvs_sync_daemon_inteface, keepalived 1's spelling, is read as lvs_sync_daemon_interface (keepalived 2.2 skips it as unknown)");
  });

  test("the Augeas lens's shapes: SMTP_CHECK's host block read as the check's own settings, MISC_CHECK with misc_dynamic, HTTP_GET and SSL_GET on one server, a group of virtual servers with a range and a prefix, VMAC and tracking as warnings", () => {
    const { doc, findings } = imported("augeas-shapes.conf");
    const smtp = doc.services.find((s) => s.port === 25)!;
    expect(smtp.check).toMatchObject({ kind: "tcp", interval: "10s", timeout: "3s", fall: 6, port: 587 });
    expect(smtp.servers[1]).toEqual({ address: "198.18.93.12", check: { kind: "misc", fall: 1, command: ["/usr/local/bin/server_test"], dynamic_weight: true } });
    expect(doc.services.find((s) => s.port === 80)!.check).toMatchObject({ kind: "http", path: "/mrtg2/", digest: "9b3a0c85a887a256d6939da88aabd8cd", port: 8080 });
    expect(doc.director.virtual_service.filter((v) => v.port === 53).map((v) => v.address)).toEqual(["198.18.94.1", "198.18.94.22", "198.18.94.23", "198.18.94.24", "198.18.94.25", "198.18.94.59"]);
    expect(doc.director.sync).toEqual({ interface: "eth0" });
    expect(findings).toContain("note: augeas-shapes.conf:108: host: keepalived's deprecated form of a checker's own settings; the first host's are the check's");
    expect(findings).toContain("warning: augeas-shapes.conf:61: use_vmac is not imported: Tandem puts an address on the interface itself, with the interface's MAC address: there is no VRRP virtual MAC");
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
    expect(verdicts.filter((v) => v.accepted).map((v) => v.view)).toEqual(["manual.conf -i lb1", "params.conf -i lb1", "params.conf -i lb2", "per-server.conf", "sync-group-nat.conf", "unicast-glued.conf"]);
  });
});
