/**
 * Real NBD clients against the server in its own thread (NbdThread, as the
 * node runs it): nbdinfo lists the export with its size and constraints,
 * nbdcopy round-trips a file over the unix socket and over TCP loopback,
 * qemu-img converts into the export and compares, fio's qd1 writes verify
 * while the server's thread keeps answering, and (root, with FUSE and
 * loop devices) nbdfuse + losetup + mkfs.ext4 + mount hold files across an
 * unmount and a new mount. A client missing is a failure: scripts/setup.mjs
 * installs them (DEBIAN_TOOLS).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { realClock } from "../../../../core/time.ts";
import { NbdThread } from "../../../../modules/replication/nbd/thread.ts";
import { tempDir } from "../../../helpers.ts";

const tmp = tempDir("nbd-clients");
const SIZE = 64 << 20;
const disk = join(tmp.dir, "disk.img");
const sock = join(tmp.dir, "nbd.sock");
let thread: NbdThread;
const url = `nbd+unix:///vol?socket=${sock}`;

function run(argv: string[], timeoutMs = 30_000): { code: number; out: string; err: string } {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
  return { code: p.exitCode ?? -1, out: p.stdout.toString(), err: p.stderr.toString() };
}

function ok(argv: string[], timeoutMs?: number): string {
  const r = run(argv, timeoutMs);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: exit ${r.code}: ${r.err}`);
  return r.out;
}

function random(bytes: number): Uint8Array {
  const b = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += 65536) crypto.getRandomValues(b.subarray(at, Math.min(bytes, at + 65536)));
  return b;
}

beforeAll(async () => {
  ok(["truncate", "-s", String(SIZE), disk]);
  thread = await NbdThread.start([{ name: "vol", description: "the clients' volume", path: disk }], { unix: sock, tcp: { hostname: "127.0.0.1", port: 0 } }, realClock);
});

afterAll(async () => {
  await thread.stop();
  tmp.cleanup();
});

describe("real NBD clients", () => {
  test("nbdinfo lists the export with its size, description and block sizes", () => {
    const list = ok(["nbdinfo", "--list", "--json", `nbd+unix:///?socket=${sock}`]);
    const info = JSON.parse(list) as { protocol: string; exports: Record<string, unknown>[] };
    expect(info.protocol).toBe("newstyle-fixed");
    expect(info.exports.length).toBe(1);
    expect(info.exports[0]).toMatchObject({
      "export-name": "vol",
      description: "the clients' volume",
      "export-size": SIZE,
      is_read_only: false,
      can_flush: true,
      can_fua: true,
      can_trim: true,
      can_zero: true,
      can_multi_conn: true,
      block_size_minimum: 1,
      block_size_preferred: 4096,
      block_size_maximum: 2 ** 25,
    });
    expect(ok(["nbdinfo", "--size", url]).trim()).toBe(String(SIZE));
  });

  test("nbdcopy round-trips a file, over the unix socket and over TCP loopback", async () => {
    const src = join(tmp.dir, "src.img");
    const data = random(SIZE);
    writeFileSync(src, data);
    ok(["nbdcopy", "--requests=32", src, url]);
    expect(readFileSync(disk).equals(data)).toBe(true);
    const back = join(tmp.dir, "back.img");
    ok(["nbdcopy", `nbd://127.0.0.1:${thread.port}/vol`, back]);
    expect(readFileSync(back).equals(data)).toBe(true);
    const stats = await thread.stats();
    expect(stats?.sessions).toBeGreaterThanOrEqual(2);
    expect(stats?.refused).toBe(0);
  });

  test("fio waiting for each reply (qd1, verified) is served, and the server's thread still answers other work meanwhile", async () => {
    // The server polls for a qd1 client's next request and serves what it finds at once: its event loop must still get turns.
    const fio = Bun.spawn(
      ["fio", "--name=qd1", "--ioengine=nbd", `--uri=${url}`, "--rw=randwrite", "--bs=4k", "--iodepth=1", `--size=${SIZE}`, "--verify=crc32c", "--verify_state_save=0", "--output-format=terse", "--terse-version=3"],
      { stdout: "pipe", stderr: "pipe" },
    );
    let slowest = 0;
    let asked = 0;
    while (fio.exitCode === null && asked < 2000) {
      const began = performance.now();
      expect(await thread.stats()).toBeDefined();
      slowest = Math.max(slowest, performance.now() - began);
      asked++;
      await Bun.sleep(10);
    }
    expect(await fio.exited).toBe(0);
    // fio's terse v3 field 49: write IOPS.
    const iops = Number((await new Response(fio.stdout).text()).trim().split(";")[48]);
    expect(iops).toBeGreaterThan(0);
    expect(asked).toBeGreaterThan(10);
    expect(slowest).toBeLessThan(250);
  }, 60_000);

  test("qemu-img writes into the export, compares it, and reads it back out", () => {
    const src = join(tmp.dir, "qemu-src.img");
    const data = random(SIZE);
    data.fill(0, 8 << 20, 24 << 20); // a zero run: qemu-img sends it as WRITE_ZEROES or trims
    writeFileSync(src, data);
    ok(["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src, url]);
    expect(ok(["qemu-img", "compare", "-f", "raw", "-F", "raw", src, url])).toContain("Images are identical");
    const copy = join(tmp.dir, "qemu-copy.qcow2");
    ok(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", url, copy]);
    expect(ok(["qemu-img", "compare", "-F", "raw", copy, src])).toContain("Images are identical");
    expect(readFileSync(disk).equals(data)).toBe(true);
  });

  const canMount = process.getuid?.() === 0 && existsSync("/dev/fuse") && existsSync("/dev/loop-control");
  test.skipIf(!canMount)("nbdfuse + losetup + mkfs.ext4 + mount: files survive an unmount and a new mount", async () => {
    const fuseDir = join(tmp.dir, "fuse");
    const mnt = join(tmp.dir, "mnt");
    mkdirSync(fuseDir);
    mkdirSync(mnt);
    const file = join(fuseDir, "vol");

    async function attach(): Promise<{ loop: string; fuse: ReturnType<typeof Bun.spawn> }> {
      const fuse = Bun.spawn(["nbdfuse", `${fuseDir}/vol`, "--unix", sock], { stdout: "ignore", stderr: "pipe" });
      for (let i = 0; i < 100 && !existsSync(file); i++) await Bun.sleep(50);
      expect(existsSync(file)).toBe(true);
      return { loop: ok(["losetup", "-f", "--show", file]).trim(), fuse };
    }
    async function detach(a: { loop: string; fuse: ReturnType<typeof Bun.spawn> }): Promise<void> {
      run(["umount", mnt]);
      run(["losetup", "-d", a.loop]);
      ok(["fusermount3", "-u", fuseDir]);
      await a.fuse.exited;
    }

    const first = await attach();
    try {
      ok(["mkfs.ext4", "-q", "-F", first.loop], 60_000);
      ok(["mount", first.loop, mnt]);
      const files = new Map(Array.from({ length: 20 }, (_, i) => [`file-${i}`, random(1000 + i * 7919)] as const));
      for (const [name, body] of files) writeFileSync(join(mnt, name), body);
      ok(["sync"]);
      await detach(first);

      const second = await attach();
      try {
        expect(run(["fsck.ext4", "-n", second.loop]).code).toBe(0);
        ok(["mount", second.loop, mnt]);
        for (const [name, body] of files) expect(readFileSync(join(mnt, name)).equals(body)).toBe(true);
      } finally {
        await detach(second);
      }
    } catch (e) {
      await detach(first).catch(() => undefined);
      throw e;
    }
  }, 90_000);
});
