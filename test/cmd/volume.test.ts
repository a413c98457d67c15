/**
 * `tandem run` with a replicated volume on two nodes (alpha on 127.0.0.1,
 * bravo on 127.0.0.2), driven by `tandem volume`: alpha promoted with force
 * resyncs bravo; qemu-io writes a stream through alpha's NBD socket, and
 * alpha is killed (SIGKILL) in the middle of it; bravo is promoted and holds
 * every write that qemu-io saw acknowledged (protocol C).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { metadataBytes } from "../../modules/replication/metadata.ts";
import { NodeProcess, freePort, haveDebianPackage, tandem, tempDir, waitFor, writeSecret } from "../helpers.ts";
import { attach, canMount, detach, ok, run } from "../nbd-mount.ts";

const tmp = tempDir("volume");
const nodes: NodeProcess[] = [];
afterAll(() => {
  for (const n of nodes) n.kill();
  tmp.cleanup();
});

const SIZE = 8 << 20;
const WRITE = 4096;

async function volumeOf(file: string, node: string): Promise<Record<string, unknown> | undefined> {
  const r = await tandem(["volume", "-c", file, "-n", node, "--json"]);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as { volumes: Array<Record<string, unknown>> }).volumes[0];
}

/** Alpha and bravo running with a volume of `size` bytes, alpha promoted with force and bravo resynced; the config file. */
async function pair(name: string, size: number, sizeText: string): Promise<{ file: string; dir: string; alpha: NodeProcess; bravo: NodeProcess }> {
  const dir = join(tmp.dir, name);
  mkdirSync(dir);
  const [apiPort, linkPort] = [await freePort(), await freePort()];
  await tandem(["keygen", "-o", join(dir, "cluster.key"), "--force"]);
  writeSecret(join(dir, "api.token"), "volume-test-token-0123456789\n");
  for (const n of ["alpha", "bravo"]) writeFileSync(join(dir, `${n}.img`), new Uint8Array(size + metadataBytes({ size, regionBytes: 4096 })));
  const file = join(dir, "tandem.toml");
  writeFileSync(
    file,
    `cluster = "voltest"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "127.0.0.1"

[[nodes]]
name = "bravo"
address = "127.0.0.2"

[api]
port = ${apiPort}
token_file = "api.token"

[[volumes]]
name = "data"
size = "${sizeText}"
port = ${linkPort}
socket = "${dir}/data.nbd"
on = [{ node = "alpha", device = "${dir}/alpha.img" }, { node = "bravo", device = "${dir}/bravo.img" }]
`,
  );
  const start = async (node: string) => {
    const n = new NodeProcess(["-c", file, "--node", node], dir);
    nodes.push(n);
    await n.waitLog(`${node} to run`, (l) => l.event === "runtime.running", 20_000);
    return n;
  };
  const alpha = await start("alpha");
  const bravo = await start("bravo");
  await waitFor("the pair connected", async () => ((await volumeOf(file, "alpha"))?.connection === "connected" && (await volumeOf(file, "bravo"))?.connection === "connected") || undefined, 20_000, 200);
  const refused = await tandem(["volume", "-c", file, "-n", "alpha", "promote", "data"]);
  expect(refused.stderr).toContain("promote refused: the volume is not up to date");
  expect(refused.code).not.toBe(0);
  expect((await volumeOf(file, "alpha"))?.role).toBe("secondary");
  const forced = await tandem(["volume", "-c", file, "-n", "alpha", "promote", "data", "--force"]);
  expect(forced.stdout).toContain("data: promote-force done");
  await waitFor("the first resync", async () => ((await volumeOf(file, "bravo"))?.disk === "up-to-date" && (await volumeOf(file, "bravo"))?.connection === "connected" && (await volumeOf(file, "alpha"))?.role === "primary") || undefined, 60_000, 200);
  return { file, dir, alpha, bravo };
}

/** After the primary's death, bravo notices and is promoted. */
async function failover(file: string): Promise<void> {
  await waitFor("bravo to notice", async () => ((await volumeOf(file, "bravo"))?.connection === "connecting") || undefined, 20_000, 200);
  expect((await tandem(["volume", "-c", file, "-n", "bravo", "promote", "data"])).stdout).toContain("data: promote done");
  await waitFor("bravo primary", async () => ((await volumeOf(file, "bravo"))?.role === "primary") || undefined, 10_000, 200);
}

describe("tandem volume on a running pair", () => {
  test("a forced first promotion, a write stream cut by SIGKILL of the primary, and every acknowledged write on the promoted peer", async () => {
    if (!haveDebianPackage("qemu-utils", "/usr/bin/qemu-io", "qemu-io")) return;
    const { file, dir, alpha } = await pair("stream", SIZE, "8M");
    const status = await tandem(["volume", "-c", file, "-n", "alpha"]);
    expect(status.stdout).toMatch(/^data: primary, connected, disk up-to-date, 0 B out of sync/);

    // Writes of 4 KiB at fresh offsets, each its own pattern; qemu-io prints a line as each is acknowledged.
    const writes = SIZE / WRITE;
    const pattern = (i: number) => 1 + (i % 250);
    const commands = Array.from({ length: writes }, (_, i) => ["-c", `write -P ${pattern(i)} ${i * WRITE} ${WRITE}`]).flat();
    const io = Bun.spawn(["qemu-io", "-f", "raw", ...commands, `nbd+unix:///data?socket=${dir}/data.nbd`], { stdout: "pipe", stderr: "pipe" });
    let out = "";
    const reading = (async () => {
      for await (const chunk of io.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(chunk);
    })();
    await waitFor("a few hundred acknowledged writes", () => ((out.match(/^wrote /gm)?.length ?? 0) >= 300 ? true : undefined), 30_000, 5);
    alpha.kill("SIGKILL");
    await io.exited;
    await reading;
    const acked = [...out.matchAll(/^wrote 4096\/4096 bytes at offset (\d+)$/gm)].map((m) => Number(m[1]));
    expect(acked.length).toBeGreaterThanOrEqual(300);
    expect(acked.length).toBeLessThan(writes);

    await failover(file);
    const survivor = readFileSync(join(dir, "bravo.img"));
    const lost = acked.filter((offset) => !survivor.subarray(offset, offset + WRITE).every((b) => b === pattern(offset / WRITE)));
    expect(lost).toEqual([]);
  }, 120_000);

  test.skipIf(!canMount())("ext4 through nbdfuse and a loop device on alpha; alpha killed while mounted; bravo promoted mounts it with every file synced before", async () => {
    if (!haveDebianPackage("nbdfuse", "/usr/bin/nbdfuse", "nbdfuse")) return;
    const { file, dir, alpha } = await pair("fs", 64 << 20, "64M");
    const fuseDir = join(dir, "fuse");
    const mnt = join(dir, "mnt");
    mkdirSync(fuseDir);
    mkdirSync(mnt);
    const socket = join(dir, "data.nbd");

    const files = new Map(Array.from({ length: 20 }, (_, i) => [`file-${i}`, randomBytes(1000 + i * 7919)] as const));
    const first = await attach(socket, fuseDir);
    try {
      ok(["mkfs.ext4", "-q", "-F", first.loop], 60_000);
      ok(["mount", first.loop, mnt]);
      for (const [name, body] of files) writeFileSync(join(mnt, name), body);
      ok(["sync"]);
      writeFileSync(join(mnt, "late"), randomBytes(5000));
      alpha.kill("SIGKILL");
      await alpha.exited();
    } finally {
      await detach(first, fuseDir, mnt);
    }

    await failover(file);
    const second = await attach(socket, fuseDir);
    try {
      ok(["mount", second.loop, mnt]);
      for (const [name, body] of files) expect(readFileSync(join(mnt, name)).equals(body)).toBe(true);
      ok(["umount", mnt]);
      expect(run(["fsck.ext4", "-n", second.loop]).code).toBe(0);
    } finally {
      await detach(second, fuseDir, mnt);
    }
  }, 180_000);
});
