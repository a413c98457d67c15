import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeSlot, encodeSlot, metadataBytes, MetaStore, newestSlot, slotBytes } from "../../../modules/replication/metadata.ts";
import { freshMeta, type Meta } from "../../../modules/replication/engine.ts";

const G = { size: 1 << 20, regionBytes: 4096 };
const meta = (current: number): Meta => {
  const m = freshMeta(G.size, G.regionBytes);
  m.bitmap[3] = 0x81;
  return { ...m, gen: { current, bitmap: 5, history: [4, 3] }, consistent: true, primary: true, promotedAt: 1_763_800_000_000 };
};

describe("volume metadata", () => {
  test("a slot reads back what was written", () => {
    expect(decodeSlot(encodeSlot(meta(9), 7, G), G)).toEqual({ seq: 7, meta: meta(9) });
  });
  test("the newer whole slot wins; a torn header or bitmap falls back to the other", () => {
    const older = encodeSlot(meta(8), 1, G);
    const newer = encodeSlot(meta(9), 2, G);
    expect(newestSlot(older, newer, G)).toMatchObject({ seq: 2 });
    const tornHeader = newer.slice();
    tornHeader[40]! ^= 1;
    expect(newestSlot(older, tornHeader, G)).toMatchObject({ seq: 1, meta: { gen: { current: 8 } } });
    const tornBitmap = newer.slice();
    tornBitmap[4096 + 3] = 0;
    expect(newestSlot(tornBitmap, older, G)).toMatchObject({ seq: 1 });
  });
  test("metadata of another geometry is refused, named", () => {
    expect(decodeSlot(encodeSlot(meta(9), 1, G), { size: G.size * 2, regionBytes: 4096 })).toEqual({ problem: "made for 1048576 bytes in regions of 4096" });
    expect(decodeSlot(new Uint8Array(100), G)).toEqual({ problem: "short" });
    const other = { size: G.size, regionBytes: 8192 };
    const g2 = encodeSlot({ ...meta(9), bitmap: freshMeta(other.size, other.regionBytes).bitmap }, 1, other);
    expect(slotBytes(other)).toBe(slotBytes(G));
    expect(decodeSlot(g2, G)).toEqual({ problem: "made for 1048576 bytes in regions of 8192" });
  });
  test("internal metadata after the data: a blank device is a new volume, then writes alternate and the last one is read", () => {
    const dir = mkdtempSync(join(tmpdir(), "tandem-meta-"));
    try {
      const dev = join(dir, "data.img");
      writeFileSync(dev, new Uint8Array(G.size + metadataBytes(G)));
      const first = MetaStore.open(dev, true, G);
      expect(first.found).toBeUndefined();
      expect(first.problem).toBeUndefined();
      first.store.write(meta(8));
      first.store.write(meta(9));
      first.store.close();
      const again = MetaStore.open(dev, true, G);
      expect(again.found).toEqual(meta(9));
      again.store.close();
      expect(readFileSync(dev).subarray(0, G.size).every((b) => b === 0)).toBe(true);
      writeFileSync(dev, new Uint8Array(G.size));
      expect(() => MetaStore.open(dev, true, G)).toThrow("the volume and its internal metadata need");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
