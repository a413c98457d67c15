/**
 * `tandem import drbd`: drbd.conf's syntax as drbdadm reads it, what it
 * refuses (each refusal also refused by drbdadm when it is installed: the
 * import errs only where drbdadm does), units, inheritance, and the CLI.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tandem, tempDir } from "../helpers.ts";
import { checkProblems, DRBD, one, volumesOf } from "./import-drbd.ts";

const tmp = tempDir("import-drbd");
afterAll(tmp.cleanup);

const host = (name: string, ip: string, extra = "") => `on ${name} { device /dev/drbd0; disk /dev/sdb1; address ${ip}:7789; meta-disk internal; ${extra}}`;
const PAIR = `${host("alpha", "198.18.60.1")}\n${host("bravo", "198.18.60.2")}`;
const res = (body: string) => `resource r0 {\n${body}\n${PAIR}\n}\n`;

const DRBDADM = spawnSync("drbdadm", ["--version"]).error === undefined;
/** drbdadm 9's parser, and the 8.4 and 8.3 ones Debian's drbd-utils ships beside it. */
const ALL_PARSERS = ["drbdadm", "/usr/lib/drbd/drbdadm-84", "/usr/lib/drbd/drbdadm-83"];
/**
 * drbdadm's verdict on a text. Taken: by any of its parsers (the 8.3
 * spellings only the old ones read). Refused: by drbdadm 9, which checks
 * values as it parses; the 8.4 parser left them to drbdsetup, at `up`.
 */
function drbdadmAccepts(text: string, parsers: readonly string[]): boolean {
  const f = join(tmp.dir, `t-${Math.random().toString(36).slice(2)}.res`);
  writeFileSync(f, text);
  return parsers.some((p) => spawnSync(p, ["-c", f, "dump", "all"], { timeout: 30_000 }).status === 0);
}

describe("what drbdadm refuses is an error, and nothing is written", () => {
  const cases: Array<[string, string, string]> = [
    ["a misspelt keyword, with a did-you-mean", res("protocl C;"), 'error: r.res:2: unknown keyword "protocl" in resource r0 (did you mean "protocol"?): drbdadm refuses it'],
    ["protocol D", res("protocol D;"), 'error: r.res:2: protocol "D" is not A, B or C (drbdadm refuses it)'],
    ["an after-sb-0pri policy DRBD does not have", res("net { after-sb-0pri discard-nothing; }"), 'error: r.res:2: after-sb-0pri "discard-nothing" is not one of disconnect, discard-younger-primary, discard-older-primary, discard-zero-changes, discard-least-changes, discard-local, discard-remote (drbdadm refuses it)'],
    ["a section not closed", "resource r0 {\n  on alpha {\n", "error: r.res:2: a section is not closed: a } is missing at the end"],
    ["a } that closes nothing", `${res("")}}\n`, "error: r.res:6: a } that closes no section"],
    ["a section with no name", `{ }\n${res("")}`, "error: r.res:1: a { with no section name before it (drbdadm refuses it)"],
    ["an empty statement", res("protocol C;;"), "error: r.res:2: a ; with nothing before it (drbdadm refuses it)"],
    ["a statement without its ;", "resource r0 {\n protocol C\n}\n", 'error: r.res:2: "protocol C" needs a ; before the }'],
    ["a resource defined twice", `${res("")}${res("")}`, "error: r.res:6: resource r0 is defined twice (first at r.res:1): drbdadm refuses it"],
    ["an on section with a meta-disk but no disk", `resource r0 {\n on alpha { device /dev/drbd0; address 198.18.60.1:7789; meta-disk internal; }\n ${host("bravo", "198.18.60.2")}\n}\n`, "error: r.res:2: resource r0: the alpha section has a meta-disk but no disk (drbdadm refuses it)"],
    ["an address that is not one", `resource r0 {\n ${host("alpha", "198.18.60.1")}\n on bravo { device /dev/drbd0; disk /dev/sdb1; address 198.18.60.x:7789; }\n}\n`, 'error: r.res:3: address "198.18.60.x:7789" is not [ipv4|ipv6] ADDRESS:PORT (an IPv6 address in brackets)'],
    ["an include of a file that is not there", `include "missing.res";\n${res("")}`, "error: r.res:1: cannot open the include file missing.res (drbdadm refuses a missing one)"],
    ["a rate of 0", res("disk { resync-rate 0; c-plan-ahead 0; }"), 'error: r.res:2: resync-rate "0" is not a rate above 0 (a number with an optional unit K, M, G)'],
  ];
  test.each(cases)("%s", (_, text, error) => {
    const r = one(text);
    expect(r.toml).toBeUndefined();
    expect(r.errors).toEqual([error]);
  });

  test.skipIf(!DRBDADM)("drbdadm refuses each of them too", () => {
    expect(cases.filter(([, text]) => drbdadmAccepts(text, ["drbdadm"])).map(([what]) => what)).toEqual([]);
  });

  test("a file that includes itself is an error, not a loop", () => {
    expect(one(`include "r.res";\n${res("")}`).errors).toEqual(["error: r.res:1: r.res includes itself"]);
  });
});

describe("what drbdadm takes, the import takes", () => {
  const cases: Array<[string, string]> = [
    ["an include pattern that names no file", `include "drbd.d/*.res";\n${res("")}`],
    ["a section commented out by skip", res("skip { anything goes; here { } }")],
    ["after-sb-0pri discard-older-primary (a warning)", res("net { after-sb-0pri discard-older-primary; }")],
    ["units in either case", res("disk { resync-rate 10m; c-max-rate 1g; }")],
    ["a quoted value and a value glued to its string", res('net { cram-hmac-alg "sha1"; } handlers { fence-peer"/usr/lib/drbd/crm-fence-peer.9.sh"; }')],
    ["a value on the next line, and a space before ;", res("disk {\n resync-rate\n 33M ;\n}")],
    ["a string not closed on its line (a warning)", res('net { shared-secret "abc\n; }')],
    ["8.4's discard-node-NAME (a warning)", res("net { after-sb-0pri discard-node-alpha; }")],
  ];
  test.each(cases)("%s", (_, text) => {
    expect(one(text).errors).toEqual([]);
    expect(checkProblems(one(text).toml!)).toEqual([]);
  });

  test.skipIf(!DRBDADM)("and drbdadm takes each of them", () => {
    expect(cases.filter(([, text]) => !drbdadmAccepts(text, ALL_PARSERS)).map(([what]) => what)).toEqual([]);
  });

  test("discard-older-primary has no counterpart: a warning, and the policy stays disconnect", () => {
    const r = one(res("net { after-sb-0pri discard-older-primary; }"));
    expect(volumesOf(r.toml!)[0]!.split_brain).toBeUndefined();
    expect(r.findings).toContain('warning: r.res:2: after-sb-0pri discard-older-primary has no counterpart: a split brain with no primary is left to the operator (split_brain = "disconnect")');
  });
});

describe("DRBD's units and defaults", () => {
  const rate = (body: string) => volumesOf(one(res(body)).toml!)[0]!.resync_rate;
  const size = (body: string) => volumesOf(one(res(body)).toml!)[0]!.size;

  test("a rate without a unit is KiB/s; K, M, G in either case are 1024-based", () => {
    expect(rate("disk { resync-rate 10240; c-plan-ahead 0; }")).toBe("10M");
    expect(rate("disk { resync-rate 500k; c-plan-ahead 0; }")).toBe("500K");
    expect(rate("disk { c-max-rate 1g; }")).toBe("1G");
    expect(rate("syncer { rate 33M; }")).toBe("33M");
  });

  test("no rate given: Tandem's default (no resync_rate key)", () => {
    expect(rate("")).toBeUndefined();
  });

  test("a size without a unit is in 512-byte sectors; s is sectors; one not a multiple of 4K is rounded down with a warning", () => {
    expect(size("disk { size 2048; }")).toBe("1M");
    expect(size("disk { size 16s; }")).toBe("8K");
    expect(size("disk { size 10G; }")).toBe("10G");
    const r = one(res("disk { size 9K; }"));
    expect(volumesOf(r.toml!)[0]!.size).toBe("8K");
    expect(r.findings).toContain("warning: r.res:2: size 9K is not a multiple of 4K: the volume is 8K, its last 1024 bytes are not carried");
  });

  test("no protocol: DRBD's default, C, said in a comment", () => {
    expect(one(res("")).toml).toContain('protocol = "C"  # DRBD\'s default');
  });

  test("the resource's options over common's, whichever comes first in the file", () => {
    const text = `common { net { protocol A; } disk { resync-rate 1M; c-plan-ahead 0; } }\n${res("net { protocol B; }")}resource r1 {\n${host("alpha", "198.18.60.1").replace("7789", "7790")}\n${host("bravo", "198.18.60.2").replace("7789", "7790")}\n}\n`;
    expect(volumesOf(one(text).toml!).map((v) => [v.name, v.protocol, v.resync_rate])).toEqual([
      ["r0", "B", "1M"],
      ["r1", "A", "1M"],
    ]);
  });

  test("two nodes on different ports: a warning, the first port", () => {
    const r = one(`resource r0 {\n${host("alpha", "198.18.60.1")}\n${host("bravo", "198.18.60.2").replace("7789", "7790")}\n}\n`);
    expect(volumesOf(r.toml!)[0]!.port).toBe(7789);
    expect(r.findings).toContain("warning: r.res:1: resource r0: the two nodes listen on ports 7789 and 7790; a Tandem volume has one port on both nodes: 7789");
  });

  test("a node name is the host's first label, lower case", () => {
    const r = one(`resource r0 {\n${host("Alpha.Example.NET", "198.18.60.1")}\n${host("bravo", "198.18.60.2")}\n}\n`);
    expect(volumesOf(r.toml!)[0]!.on[0]!.node).toBe("alpha");
  });

  test("a one-node resource is a warning and nothing for it", () => {
    const r = one(`resource r0 {\n${host("alpha", "198.18.60.1", "node-id 0; ")}\n}\n`);
    expect(volumesOf(r.toml!)).toEqual([]);
    expect(r.findings).toContain("warning: r.res:1: resource r0 has one node with a disk: not imported, a Tandem volume is a replica on each of two nodes");
  });
});

describe("tandem import drbd", () => {
  test("writes the volumes to OUT and counts them; refuses an existing OUT without --force", async () => {
    const out = join(tmp.dir, "volumes.toml");
    const r = await tandem(["import", "drbd", join(DRBD, "etc", "drbd.conf"), "-o", out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("imported 2 volumes to");
    const again = await tandem(["import", "drbd", join(DRBD, "etc", "drbd.conf"), "-o", out]);
    expect(again.code).toBe(1);
  });

  test("an error: exit 2, FILE:LINE on stderr, nothing on stdout", async () => {
    const dir = join(tmp.dir, "bad");
    mkdirSync(dir);
    writeFileSync(join(dir, "r0.res"), res("protocl C;"));
    const r = await tandem(["import", "drbd", join(dir, "r0.res")]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(`${join(dir, "r0.res")}:2: unknown keyword "protocl"`);
  });
});
