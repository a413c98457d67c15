/**
 * drbd.conf as operators write it (test/cmd/import/drbd/: our own files, in
 * the shapes and spellings of published ones: the 8.3 HOWTO shape with
 * syncer, resource-level device/disk inherited by `on` sections, CRLF line
 * ends, tuned 8.4 disk and net sections, DRBD 9 connection-mesh, volumes,
 * connection paths, floating IPv6 peers, stacked resources, and a
 * drbd.conf whose includes read drbd.d/). Every one imports without an
 * error, what it writes passes `tandem check` once its TODOs are filled,
 * and drbdadm is the referee: a file that drbdadm (9, or its 8.4 or 8.3
 * parser) accepts must never be refused by the import. drbdadm parses and
 * dumps without the kernel module.
 */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { importDrbd } from "../../import/drbd/index.ts";
import { printed } from "./import-lvs.ts";
import { checkProblems, disk, DRBD, volumesOf } from "./import-drbd.ts";

const FIELD = join(DRBD, "field");
const FILES = [...readdirSync(FIELD).filter((f) => f.endsWith(".res")).sort().map((f) => join("field", f)), join("etc", "drbd.conf")];

const run = (file: string) => printed(importDrbd({ file: join(DRBD, file), reader: disk }), `${DRBD}/`);
function imported(file: string) {
  const r = run(file);
  if (r.toml === undefined) throw new Error(r.findings.join("\n"));
  return { ...r, toml: r.toml, volumes: volumesOf(r.toml) };
}

describe("drbd.conf as operators write it", () => {
  test.each(FILES)("%s imports without an error, and tandem check takes what it writes once its TODOs are filled", (file) => {
    const { errors, toml } = imported(file);
    expect(errors).toEqual([]);
    expect(checkProblems(toml)).toEqual([]);
  });

  test("8.3: common's syncer rate under the resource's, protocol at the resource level, after-sb-0pri carried, the secret never repeated, FQDN hosts are their first label", () => {
    const { volumes, findings } = imported("field/r0-83.res");
    expect(volumes).toEqual([
      {
        name: "r0",
        size: "TODO: the size of /dev/sdc",
        port: 7789,
        on: [
          { node: "nfs-a", device: "/dev/sdc" },
          { node: "nfs-b", device: "/dev/sdc" },
        ],
        protocol: "C",
        metadata: "internal",
        resync_rate: "10M",
        split_brain: "discard-zero-changes",
      },
    ]);
    expect(findings.join("\n")).not.toContain("FooFunFactory");
    expect(findings).toContain("note: field/r0-83.res:26: al-extents is not carried: Tandem's activity log keeps 1024 hot extents of 4 MiB");
    expect(findings).toContain("note: field/r0-83.res:28: the host nfs-a.example.net is the node nfs-a");
  });

  test("8.4: device, disk and meta-disk at the resource level are each host's", () => {
    const { volumes } = imported("field/inherit-84.res");
    expect(volumes[0]!.on).toEqual([
      { node: "virt-0", device: "/dev/mapper/vg_drbd-lv_images" },
      { node: "virt-1", device: "/dev/mapper/vg_drbd-lv_images" },
    ]);
    expect(volumes[0]!.resync_rate).toBe("6M");
  });

  test("CRLF line ends read as LF; after-sb-1pri consensus is a warning (a primary standing is the operator's)", () => {
    const { volumes, findings } = imported("field/crlf.res");
    expect(volumes[0]).toMatchObject({ name: "webdata", protocol: "B", split_brain: "discard-least-changes", port: 7789 });
    expect(findings).toContain("warning: field/crlf.res:12: after-sb-1pri consensus is not carried: with a primary standing, a split brain is always left to the operator (tandem volume discard-my-data on the loser)");
  });

  test("8.4 tuned: the dynamic controller's c-max-rate is the bound, resync-rate spelled across two lines, a handler glued to its string", () => {
    const { volumes, findings } = imported("field/tuned-84.res");
    expect(volumes[0]!.resync_rate).toBe("110M");
    expect(findings).toContain("note: field/tuned-84.res:19: resync-rate 33M is DRBD's first rate under its dynamic controller; Tandem's resync_rate is the bound, c-max-rate 110M");
    expect(findings).toContain("note: field/tuned-84.res:38: fence-peer is not carried: fencing is the resource manager's: a promotion while the peer's state is unknown waits for fencing or quorum");
  });

  test("9: a three-node mesh with a diskless third is a volume of the two with disks, the third a note", () => {
    const { volumes, findings } = imported("field/mesh-9.res");
    expect(volumes.map((v) => v.on.map((o) => o.node))).toEqual([["ubu01", "ubu02"]]);
    expect(findings).toContain("note: field/mesh-9.res:26: ubu03 has no disk (a diskless DRBD client): reach the volume over NBD from the primary instead");
  });

  test("9: two volumes of a resource are two Tandem volumes, the second on the next port (DRBD shares one connection)", () => {
    const { volumes } = imported("field/volumes-9.res");
    expect(volumes.map((v) => [v.name, v.port, v.on[0]!.device])).toEqual([
      ["r0-0", 6999, "/dev/drbdpool/data_0"],
      ["r0-1", 7000, "/dev/drbdpool/data_1"],
    ]);
  });

  test("9: a volume in the on sections and one at the resource level", () => {
    const { volumes } = imported("field/volumes-on-9.res");
    expect(volumes.map((v) => [v.name, v.on.map((o) => o.device)])).toEqual([
      ["r0-0", ["/dev/vg/wurzel-0", "/dev/vg/sepp-0"]],
      ["r0-1", ["/dev/sdb1", "/dev/sdb1"]],
    ]);
  });

  test("9: addresses from a connection's path, its net options over the resource's; c-plan-ahead 0 makes resync-rate the bound", () => {
    const { volumes } = imported("field/path-9.res");
    expect(volumes[0]).toMatchObject({ port: 7789, protocol: "A", split_brain: "discard-younger-primary", resync_rate: "40M", on: [{ node: "lb-a" }, { node: "lb-b" }] });
  });

  test("external meta-disk (flexible and indexed) is external metadata with a note; disk { size } is the size; a rate in KiB/s", () => {
    const { volumes, findings } = imported("field/external-meta.res");
    expect(volumes[0]).toMatchObject({ size: "20G", metadata: "external", resync_rate: "4G" });
    expect(findings.some((f) => f.startsWith("note: field/external-meta.res:3: meta-disk /dev/mqmvg/MD-qm is not carried"))).toBe(true);
  });

  test("a stacked resource is a warning and not imported; its lower resource is", () => {
    const { volumes, findings } = imported("field/stacked.res");
    expect(volumes.map((v) => v.name)).toEqual(["r0"]);
    expect(findings).toContain("warning: field/stacked.res:23: resource r0-U is stacked on another one (a third node): not imported, a Tandem volume is between two nodes");
  });

  test("floating IPv6 peers: the node names are TODOs that tandem check refuses", () => {
    const { volumes, findings } = imported("field/ipv6-floating.res");
    expect(volumes[0]!.on.map((o) => o.node)).toEqual(["TODO: the node at fd00:198:18::1", "TODO: the node at fd00:198:18::2"]);
    expect(volumes[0]).toMatchObject({ port: 7790, resync_rate: "200M" });
    expect(findings.filter((f) => f.startsWith("todo:"))).toHaveLength(3);
  });

  test("drbd.conf: includes read drbd.d/ (global_common.conf, then *.res sorted); common's net and disk under each resource's", () => {
    const { volumes } = imported("etc/drbd.conf");
    expect(volumes.map((v) => [v.name, v.protocol, v.resync_rate, v.split_brain, v.port])).toEqual([
      ["mysql", "C", "50M", "discard-zero-changes", 7788],
      ["www", "B", "20M", "discard-zero-changes", 7789],
    ]);
  });
});

/** drbdadm 9's parser, and the 8.4 and 8.3 ones Debian's drbd-utils ships beside it. */
const PARSERS = ["drbdadm", "/usr/lib/drbd/drbdadm-84", "/usr/lib/drbd/drbdadm-83"];
const DRBDADM = spawnSync("drbdadm", ["--version"]).error === undefined;

describe.skipIf(!DRBDADM)("drbdadm is the referee", () => {
  const accepted = (file: string) => PARSERS.filter((p) => spawnSync(p, ["-c", join(DRBD, file), "dump", "all"], { encoding: "utf8", timeout: 30_000 }).status === 0);

  test("every field file is accepted by one of drbdadm's parsers, and the import refuses none of them", () => {
    const verdicts = FILES.map((file) => ({ file, accepted: accepted(file).length > 0, errors: run(file).errors }));
    expect(verdicts.filter((v) => !v.accepted).map((v) => v.file)).toEqual([]);
    expect(verdicts.filter((v) => v.errors.length)).toEqual([]);
  });
});
