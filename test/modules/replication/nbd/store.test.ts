/**
 * The file-backed BlockStore: what is written reads back, ranges past the
 * end get NBD's errors and touch nothing, a trim and a zeroing read back as
 * zeroes (punched where the file system can), a large read (the thread
 * pool's) returns the file's bytes, a read-only store refuses writes with
 * EPERM.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FileStore, NBD_ERR, StoreError } from "../../../../modules/replication/nbd/store.ts";
import { tempDir } from "../../../helpers.ts";

const tmp = tempDir("nbd-store");
afterAll(tmp.cleanup);
const MIB = 1 << 20;

function backing(name: string, size: number): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, new Uint8Array(size).fill(0xab));
  return path;
}

async function errnoOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(StoreError);
    return (e as StoreError).errno;
  }
  throw new Error("resolved, expected a StoreError");
}

describe("FileStore", () => {
  test("reads what was written, at any offset, and flushes", async () => {
    const path = backing("rw", 4 * MIB);
    const s = FileStore.open(path);
    expect(s.size).toBe(4 * MIB);
    expect(s.blockSize).toBe(4096);
    const data = new Uint8Array(10_000).map((_, i) => i % 251);
    await s.write(12_345, data, false);
    await s.write(4 * MIB - 3, new Uint8Array([1, 2, 3]), true);
    await s.flush();
    expect(await s.read(12_345, data.length)).toEqual(data);
    expect(await s.read(4 * MIB - 4, 4)).toEqual(new Uint8Array([0xab, 1, 2, 3]));
    s.close();
    const f = readFileSync(path);
    expect(f.length).toBe(4 * MIB);
    expect(new Uint8Array(f.subarray(12_345, 22_345))).toEqual(data);
  });

  test("writev: the parts one after another from the offset, as one write of them joined; past the end, ENOSPC and nothing written", async () => {
    const path = backing("writev", 4 * MIB);
    const s = FileStore.open(path);
    const parts = [new Uint8Array(70_000).fill(1), new Uint8Array(3).fill(2), new Uint8Array(200_001).fill(3)];
    await s.writev(8191, parts, true);
    expect(await s.read(8191, 270_004)).toEqual(new Uint8Array(Buffer.concat(parts)));
    // The bytes around are as the file had them (0xab).
    expect([...(await s.read(8190, 1)), ...(await s.read(8191 + 270_004, 1))]).toEqual([0xab, 0xab]);
    expect(await errnoOf(s.writev(4 * MIB - 100, [new Uint8Array(50), new Uint8Array(51)], false))).toBe(NBD_ERR.ENOSPC);
    expect((await s.read(4 * MIB - 100, 100)).every((b) => b === 0xab)).toBe(true);
    s.close();
  });

  test("a large read (copied in the thread pool) returns the file's bytes; a file cut short under it reads as zeroes past its end", async () => {
    const path = join(tmp.dir, "large-read");
    const content = new Uint8Array(3 * MIB).map((_, i) => (i * 7 + (i >> 12)) % 253);
    writeFileSync(path, content);
    const s = FileStore.open(path);
    const reads = await Promise.all([s.read(1, 2 * MIB), s.read(MIB - 5, 65_536), s.read(0, 65_535)]);
    expect(reads[0]).toEqual(content.subarray(1, 1 + 2 * MIB));
    expect(reads[1]).toEqual(content.subarray(MIB - 5, MIB - 5 + 65_536));
    expect(reads[2]).toEqual(content.subarray(0, 65_535));
    truncateSync(path, 2 * MIB);
    const cut = await s.read(MIB, 2 * MIB);
    expect(cut.subarray(0, MIB)).toEqual(content.subarray(MIB, 2 * MIB));
    expect(cut.subarray(MIB).every((b) => b === 0)).toBe(true);
    s.close();
  });

  test("a range past the end: EINVAL to read or trim, ENOSPC to write or zero, and the file is untouched", async () => {
    const path = backing("range", MIB);
    const s = FileStore.open(path);
    expect(await errnoOf(s.read(MIB - 1, 2))).toBe(NBD_ERR.EINVAL);
    expect(await errnoOf(s.read(-1, 1))).toBe(NBD_ERR.EINVAL);
    expect(await errnoOf(s.trim(MIB, 1))).toBe(NBD_ERR.EINVAL);
    expect(await errnoOf(s.write(MIB - 1, new Uint8Array(2), false))).toBe(NBD_ERR.ENOSPC);
    expect(await errnoOf(s.write(2 ** 53, new Uint8Array(1), false))).toBe(NBD_ERR.EINVAL);
    expect(await errnoOf(s.writeZeroes(MIB - 4096, 8192))).toBe(NBD_ERR.ENOSPC);
    expect(await s.read(MIB, 0)).toEqual(new Uint8Array(0));
    s.close();
    expect(statSync(path).size).toBe(MIB);
    expect(readFileSync(path).every((b) => b === 0xab)).toBe(true);
  });

  test("trim and write-zeroes read back as zeroes, and a trim punches a hole", async () => {
    const path = backing("trim", 8 * MIB);
    const before = statSync(path).blocks;
    const s = FileStore.open(path);
    await s.trim(MIB, 4 * MIB);
    await s.writeZeroes(100, 5000);
    await s.flush();
    expect((await s.read(MIB, 4 * MIB)).every((b) => b === 0)).toBe(true);
    expect((await s.read(100, 5000)).every((b) => b === 0)).toBe(true);
    expect(await s.read(99, 1)).toEqual(new Uint8Array([0xab]));
    expect(await s.read(5100, 1)).toEqual(new Uint8Array([0xab]));
    expect(statSync(path).blocks).toBeLessThan(before);
    s.close();
  });

  test("a read-only store refuses writes, trims and zeroing with EPERM", async () => {
    const path = backing("ro", MIB);
    const s = FileStore.open(path, { readOnly: true });
    expect(await errnoOf(s.write(0, new Uint8Array(1), false))).toBe(NBD_ERR.EPERM);
    expect(await errnoOf(s.trim(0, 4096))).toBe(NBD_ERR.EPERM);
    expect(await errnoOf(s.writeZeroes(0, 4096))).toBe(NBD_ERR.EPERM);
    expect((await s.read(0, 16)).every((b) => b === 0xab)).toBe(true);
    s.close();
  });
});
