/**
 * The volume's metadata on disk: generations, flags and the dirty bitmap,
 * in two slots written in turn, each with its sequence number and
 * checksums, so a write torn by a crash leaves the other slot (one change
 * older) to read. With `metadata = "internal"` the slots lie after the
 * data on the backing device; with "external", at the start of a file
 * beside it.
 *
 * A slot: a 4 KiB header, then the bitmap padded to 4 KiB.
 * Header: magic "TNDMETA1", seq u64, size u64, region u32, current u64,
 * bitmap generation u64, history count u8 and 8 bytes each, consistent u8,
 * primary u8, promotedAt u64, SHA-256 of the bitmap, then SHA-256 of all of
 * the header before it.
 */
import { createHash } from "node:crypto";
import { closeSync, fdatasyncSync, fstatSync, openSync, readSync, writeSync, constants as fsc } from "node:fs";
import { bitmapBytes } from "./bitmap.ts";
import { regionsOf, type Meta } from "./engine.ts";
import { HISTORY_LENGTH } from "./generations.ts";

const MAGIC = "TNDMETA1";
const HEADER_BYTES = 4096;
const PAGE = 4096;
const HASH_BYTES = 32;
const TWO_32 = 2 ** 32;

export interface MetaGeometry {
  size: number;
  regionBytes: number;
}

const roundUp = (n: number) => Math.ceil(n / PAGE) * PAGE;

/** One slot's bytes. */
export function slotBytes(g: MetaGeometry): number {
  return HEADER_BYTES + roundUp(bitmapBytes(regionsOf(g.size, g.regionBytes)));
}

/** Both slots: what internal metadata takes after the data. */
export function metadataBytes(g: MetaGeometry): number {
  return 2 * slotBytes(g);
}

const sha256 = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());

export function encodeSlot(meta: Meta, seq: number, g: MetaGeometry): Uint8Array {
  const out = new Uint8Array(slotBytes(g));
  const v = new DataView(out.buffer);
  let at = 0;
  for (const c of MAGIC) out[at++] = c.charCodeAt(0);
  const u53 = (n: number) => {
    v.setUint32(at, Math.floor(n / TWO_32));
    v.setUint32(at + 4, n >>> 0);
    at += 8;
  };
  u53(seq);
  u53(g.size);
  v.setUint32(at, g.regionBytes);
  at += 4;
  u53(meta.gen.current);
  u53(meta.gen.bitmap);
  out[at++] = meta.gen.history.length;
  for (const h of meta.gen.history) u53(h);
  out[at++] = +meta.consistent;
  out[at++] = +meta.primary;
  u53(meta.promotedAt);
  out.set(sha256(meta.bitmap), at);
  at += HASH_BYTES;
  out.set(sha256(out.subarray(0, at)), at);
  out.set(meta.bitmap, HEADER_BYTES);
  return out;
}

/** A slot's metadata and seq, or why it is not one (blank, torn, of another geometry). */
export function decodeSlot(slot: Uint8Array, g: MetaGeometry): { meta: Meta; seq: number } | { problem: string } {
  if (slot.length !== slotBytes(g)) return { problem: "short" };
  const v = new DataView(slot.buffer, slot.byteOffset, slot.byteLength);
  let at = 0;
  for (const c of MAGIC) if (slot[at++] !== c.charCodeAt(0)) return { problem: "no metadata" };
  const u53 = () => {
    const n = v.getUint32(at) * TWO_32 + v.getUint32(at + 4);
    at += 8;
    return n;
  };
  const seq = u53();
  const size = u53();
  const regionBytes = v.getUint32(at);
  at += 4;
  const current = u53();
  const bitmapGen = u53();
  const n = slot[at++]!;
  if (n > HISTORY_LENGTH) return { problem: "torn" };
  const history: number[] = [];
  for (let i = 0; i < n; i++) history.push(u53());
  const consistent = slot[at++] === 1;
  const primary = slot[at++] === 1;
  const promotedAt = u53();
  const bitmapHash = slot.subarray(at, at + HASH_BYTES);
  at += HASH_BYTES;
  if (!equal(sha256(slot.subarray(0, at)), slot.subarray(at, at + HASH_BYTES))) return { problem: "torn" };
  if (size !== g.size || regionBytes !== g.regionBytes) return { problem: `made for ${size} bytes in regions of ${regionBytes}` };
  const bitmap = slot.slice(HEADER_BYTES, HEADER_BYTES + bitmapBytes(regionsOf(g.size, g.regionBytes)));
  if (!equal(sha256(bitmap), bitmapHash)) return { problem: "torn" };
  return { seq, meta: { gen: { current, bitmap: bitmapGen, history }, bitmap, consistent, primary, promotedAt } };
}

/** The newer of two slots that read whole. */
export function newestSlot(a: Uint8Array, b: Uint8Array, g: MetaGeometry): { meta: Meta; seq: number } | { problem: string } {
  const da = decodeSlot(a, g);
  const db = decodeSlot(b, g);
  if ("meta" in da && "meta" in db) return da.seq >= db.seq ? da : db;
  if ("meta" in da) return da;
  if ("meta" in db) return db;
  return da.problem === db.problem ? da : { problem: `${da.problem}; ${db.problem}` };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The slots in a file or device at `offset`: read once at start, then written in turn, each durable before `write` returns. */
export class MetaStore {
  private seq = 0;
  private constructor(
    private readonly fd: number,
    private readonly offset: number,
    private readonly g: MetaGeometry,
  ) {}

  /** Open the metadata (creating the external file); `found` is undefined on a blank area (a new volume). */
  static open(path: string, internal: boolean, g: MetaGeometry): { store: MetaStore; found?: Meta; problem?: string } {
    const fd = openSync(path, internal ? fsc.O_RDWR : fsc.O_RDWR | fsc.O_CREAT, 0o600);
    const offset = internal ? g.size : 0;
    const store = new MetaStore(fd, offset, g);
    const st = fstatSync(fd);
    if (internal && st.isFile() && st.size < g.size + metadataBytes(g)) {
      closeSync(fd);
      throw new Error(`${path} holds ${st.size} bytes; the volume and its internal metadata need ${g.size + metadataBytes(g)}`);
    }
    const slot = slotBytes(g);
    const a = new Uint8Array(slot);
    const b = new Uint8Array(slot);
    readSync(fd, a, 0, slot, offset);
    readSync(fd, b, 0, slot, offset + slot);
    const got = newestSlot(a, b, g);
    if ("meta" in got) {
      store.seq = got.seq;
      return { store, found: got.meta };
    }
    return got.problem === "no metadata" ? { store } : { store, problem: got.problem };
  }

  write(meta: Meta): void {
    this.seq++;
    const bytes = encodeSlot(meta, this.seq, this.g);
    writeSync(this.fd, bytes, 0, bytes.length, this.offset + (this.seq % 2) * bytes.length);
    fdatasyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}
