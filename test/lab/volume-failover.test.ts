/**
 * A replicated volume as a promotable clone in the lab: the pair runs the
 * volume `data` as the clone `vol` (agent `volume`), and a group `svc` (the
 * address) with its promoted instance, after the promotion; the lab's power
 * device fences. The volumes are new, so neither side may be promoted (the
 * manager notes it, and svc waits) until an operator forces the first
 * promotion on alpha (`promote-force`, as `drbdadm primary --force`): then
 * the manager keeps alpha promoted and starts svc there. Writes go through
 * alpha's NBD socket: an ext4 file system on its first FS_BYTES (nbdfuse, a
 * loop device, mkfs, mount, where the machine can mount) and raw patterns
 * after it (qemu-io); alpha is powered off: bravo fences it, promotes its
 * volume (up to date: protocol C), starts svc, serves every byte written, and
 * the file system mounts clean there with every file. alpha comes back as
 * bravo's secondary; bravo in standby hands the promoted instance and svc to
 * alpha (each side's promotion score stays -INFINITY while its peer is
 * primary, so neither is promoted before the other demotes). Needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { metadataBytes } from "../../modules/replication/metadata.ts";
import { haveDebianPackage, tandem, tempDir, waitFor } from "../helpers.ts";
import { attach, canMount, detach, ok, run } from "../nbd-mount.ts";
import { freeSubnets } from "./net.ts";
import { labHosts, labPowerDevice, pairConfig, pairSecrets, promotedVolume, vipGroup } from "./config.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.log("test/lab/volume-failover.test.ts: skipped: the lab needs root (network namespaces, veth, bridges)");

const LAB = `prom${process.pid % 10000}`;
const [LAN] = ROOT ? (freeSubnets(1, 181) as [string]) : [""];
const TOKEN = "promote-lab-token-0123456789";
const tmp = tempDir("promlab");
const SIZE = 32 << 20;
/** The file system's part of the volume; the raw patterns are written after it. */
const FS_BYTES = 24 << 20;
const WRITES = 256;
const WRITE = 4096;
const VIP = ROOT ? `${LAN}50` : "";
/** The raw patterns: write i is WRITE bytes of pattern(i) at at(i). */
const pattern = (i: number) => 1 + (i % 250);
const at = (i: number) => FS_BYTES + i * WRITE;

let hosts: Awaited<ReturnType<typeof labHosts>> = {};

function config(dir: string): string {
  return pairConfig({
    cluster: "promlab",
    lan: LAN,
    more: `
[[volumes]]
name = "data"
size = "32M"
port = 7789
socket = "${dir}/data.nbd"
on = [{ node = "alpha", device = "${dir}/alpha.img" }, { node = "bravo", device = "${dir}/bravo.img" }]

${vipGroup("svc", VIP)}${promotedVolume("svc")}${labPowerDevice(LAB)}`,
  });
}

async function api(node: string, path: string, method = "GET"): Promise<any> {
  const r = await fetch(`${hosts[node]!.api}v1/${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(5000) });
  return r.json();
}

const states = async (node: string, r: string): Promise<Record<string, string> | undefined> => (await api(node, "resources/").catch(() => undefined))?.resources?.[r]?.states;
const volume = async (node: string): Promise<Record<string, any> | undefined> => (await api(node, "replication/volumes").catch(() => undefined))?.volumes?.[0];

describe.skipIf(!ROOT)("a replicated volume as a promotable clone in the lab", () => {
  const dir = join(tmp.dir, "lab");
  beforeAll(async () => {
    mkdirSync(dir);
    await pairSecrets(dir, TOKEN);
    for (const n of ["alpha", "bravo"]) writeFileSync(join(dir, `${n}.img`), new Uint8Array(SIZE + metadataBytes({ size: SIZE, regionBytes: 4096 })));
    writeFileSync(join(dir, "tandem.toml"), config(dir));
    // --no-promote: the first promotion is this test's, after it has seen the unpromoted start.
    const up = await tandem(["lab", "up", "-c", join(dir, "tandem.toml"), "--name", LAB, "--no-promote"], { timeoutMs: 60_000 });
    if (up.code !== 0) throw new Error(`lab up: ${up.stderr}${up.stdout}`);
    hosts = await labHosts(LAB);
  }, 90_000);

  afterAll(async () => {
    await tandem(["lab", "down", "--name", LAB], { timeoutMs: 60_000 });
    tmp.cleanup();
  }, 90_000);

  test("new volumes: the instances run unpromoted, nothing may be promoted, and svc waits", async () => {
    await waitFor("both instances started", async () => {
      const st = await states("alpha", "vol");
      return st?.alpha === "started" && st?.bravo === "started" ? true : undefined;
    }, 30_000, 200);
    await waitFor("the volumes connected", async () => ((await volume("alpha"))?.connection === "connected" ? true : undefined), 30_000, 200);
    const r = await api("alpha", "resources/");
    expect(r.notes.join("\n")).toContain("vol is promoted nowhere");
    expect(Object.values(r.resources.vip.states)).not.toContain("started");
  }, 60_000);

  test("the first promotion forced on alpha: the manager keeps it there and starts svc after it; bravo resyncs", async () => {
    const forced = await api("alpha", "replication/volumes/data/promote-force", "POST");
    expect(forced.refused).toBeUndefined();
    await waitFor("svc on alpha", async () => ((await states("bravo", "vip"))?.alpha === "started" ? true : undefined), 30_000, 200);
    expect((await states("bravo", "vol"))).toEqual({ alpha: "promoted", bravo: "started" });
    await waitFor("bravo up to date", async () => ((await volume("bravo"))?.disk === "up-to-date" && (await volume("bravo"))?.connection === "connected" ? true : undefined), 60_000, 200);
  }, 120_000);

  // A lab power-off takes the links down first (no reset reaches bravo): bravo's volume shows alpha primary until
  // its link's silence bound, and scores -INFINITY until then, so the manager promotes it once the link is lost.
  test("writes on alpha, alpha powered off: bravo fences it, promotes, starts svc, serves every byte written, and mounts the file system clean", async () => {
    if (!haveDebianPackage("qemu-utils", "/usr/bin/qemu-io", "qemu-io")) return;
    const mounting = canMount() && haveDebianPackage("nbdfuse", "/usr/bin/nbdfuse", "nbdfuse");
    const socket = join(dir, "data.nbd");
    const fuseDir = join(dir, "fuse");
    const mnt = join(dir, "mnt");
    mkdirSync(fuseDir);
    mkdirSync(mnt);
    const files = new Map(Array.from({ length: 20 }, (_, i) => [`file-${i}`, randomBytes(1000 + i * 7919)] as const));
    if (mounting) {
      const first = await attach(socket, fuseDir, FS_BYTES);
      try {
        ok(["mkfs.ext4", "-q", "-F", first.loop], 60_000);
        ok(["mount", first.loop, mnt]);
        for (const [name, body] of files) writeFileSync(join(mnt, name), body);
        ok(["umount", mnt]);
      } finally {
        await detach(first, fuseDir, mnt);
      }
    }
    const writes = Array.from({ length: WRITES }, (_, i) => ["-c", `write -P ${pattern(i)} ${at(i)} ${WRITE}`]).flat();
    const io = Bun.spawnSync(["qemu-io", "-f", "raw", ...writes, `nbd+unix:///data?socket=${socket}`], { stdout: "pipe", stderr: "pipe" });
    expect(io.exitCode).toBe(0);
    expect(io.stdout.toString().match(/^wrote /gm)?.length).toBe(WRITES);

    await tandem(["lab", "fault", "alpha", "power", "--name", LAB], { timeoutMs: 30_000 });
    await waitFor("svc on bravo", async () => ((await states("bravo", "vip"))?.bravo === "started" ? true : undefined), 60_000, 200);
    const r = await api("bravo", "resources/");
    expect(r.resources.vol.states.bravo).toBe("promoted");
    expect(r.nodes.find((n: { name: string }) => n.name === "alpha").fence).toBe("fenced");
    expect((await volume("bravo"))?.role).toBe("primary");

    const reads = Array.from({ length: WRITES }, (_, i) => ["-c", `read -P ${pattern(i)} ${at(i)} ${WRITE}`]).flat();
    const check = Bun.spawnSync(["qemu-io", "-f", "raw", ...reads, `nbd+unix:///data?socket=${socket}`], { stdout: "pipe", stderr: "pipe" });
    expect(check.stdout.toString()).not.toContain("Pattern verification failed");
    expect(check.stdout.toString().match(/^read /gm)?.length).toBe(WRITES);
    if (!mounting) return;
    const second = await attach(socket, fuseDir, FS_BYTES);
    try {
      expect(run(["fsck.ext4", "-n", second.loop]).code).toBe(0);
      ok(["mount", second.loop, mnt]);
      for (const [name, body] of files) expect(readFileSync(join(mnt, name)).equals(body)).toBe(true);
      ok(["umount", mnt]);
    } finally {
      await detach(second, fuseDir, mnt);
    }
  }, 180_000);

  test("alpha back: it resyncs from bravo and stays secondary; bravo in standby: the promoted instance and svc go to alpha, with every byte", async () => {
    if (!haveDebianPackage("qemu-utils", "/usr/bin/qemu-io", "qemu-io")) return;
    const healed = await tandem(["lab", "heal", "alpha", "--name", LAB], { timeoutMs: 60_000 });
    expect(healed.code).toBe(0);
    await waitFor("alpha up to date", async () => {
      const v = await volume("alpha");
      return v?.disk === "up-to-date" && v?.connection === "connected" ? true : undefined;
    }, 60_000, 200);
    expect(await states("alpha", "vol")).toEqual({ alpha: "started", bravo: "promoted" });
    expect(await api("bravo", "resources/standby/bravo", "POST")).toMatchObject({ accepted: { op: "standby", node: "bravo" } });
    await waitFor("svc on alpha", async () => ((await states("alpha", "vip"))?.alpha === "started" ? true : undefined), 60_000, 200);
    expect((await states("alpha", "vol"))?.alpha).toBe("promoted");
    const reads = Array.from({ length: WRITES }, (_, i) => ["-c", `read -P ${pattern(i)} ${at(i)} ${WRITE}`]).flat();
    const check = Bun.spawnSync(["qemu-io", "-f", "raw", ...reads, `nbd+unix:///data?socket=${join(dir, "data.nbd")}`], { stdout: "pipe", stderr: "pipe" });
    expect(check.stdout.toString()).not.toContain("Pattern verification failed");
    expect(check.stdout.toString().match(/^read /gm)?.length).toBe(WRITES);
  }, 150_000);
});
