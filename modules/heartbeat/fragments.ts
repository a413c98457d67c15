/**
 * Other modules' messages may be longer than a frame: they travel as
 * fragments, each with the message's id, its index and the count. The
 * receiver keeps one message in progress per sender process and channel
 * (the newest); an older or malformed fragment is dropped, and a message is
 * delivered once, when its last fragment arrives (the same fragments come on
 * every link). A lost fragment loses its message: what rides here is resent
 * as state, so the next one repairs it.
 */

/** id (u32), index (u8), count (u8). */
export const FRAGMENT_HEADER_BYTES = 6;
/** Fragments a message may have: the bound on a message's size and on what a receiver holds. */
export const MAX_FRAGMENTS = 16;

export function fragment(id: number, data: Uint8Array, chunkBytes: number): Uint8Array[] {
  const room = chunkBytes - FRAGMENT_HEADER_BYTES;
  const count = Math.max(1, Math.ceil(data.length / room));
  if (count > MAX_FRAGMENTS) throw new RangeError(`a message of ${data.length} bytes needs ${count} fragments, over ${MAX_FRAGMENTS}`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const part = data.subarray(i * room, (i + 1) * room);
    const f = new Uint8Array(FRAGMENT_HEADER_BYTES + part.length);
    const v = new DataView(f.buffer);
    v.setUint32(0, id);
    v.setUint8(4, i);
    v.setUint8(5, count);
    f.set(part, FRAGMENT_HEADER_BYTES);
    out.push(f);
  }
  return out;
}

interface InProgress {
  incarnation: number;
  id: number;
  parts: Array<Uint8Array | undefined>;
  have: number;
}

export class Reassembly {
  private readonly open = new Map<string, InProgress>();
  /** Per sender and channel, its process and the newest id delivered: fragments of it or older are dropped. */
  private readonly done = new Map<string, { incarnation: number; id: number }>();

  /**
   * The whole message when this fragment completes one; undefined otherwise, or "bad" for a malformed
   * fragment. `key` names the sender and channel; a new `incarnation` (a new process) starts its ids again.
   */
  accept(key: string, incarnation: number, bytes: Uint8Array): Uint8Array | undefined | "bad" {
    if (bytes.length < FRAGMENT_HEADER_BYTES) return "bad";
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const id = v.getUint32(0);
    const index = v.getUint8(4);
    const count = v.getUint8(5);
    if (count < 1 || count > MAX_FRAGMENTS || index >= count) return "bad";
    const done = this.done.get(key);
    if (done?.incarnation === incarnation && id <= done.id) return undefined;
    let m = this.open.get(key);
    if (m?.incarnation === incarnation && id < m.id) return undefined;
    if (!m || m.incarnation !== incarnation || id > m.id) {
      m = { incarnation, id, parts: new Array<Uint8Array | undefined>(count), have: 0 };
      this.open.set(key, m);
    }
    if (m.parts.length !== count) return "bad";
    if (m.parts[index]) return undefined;
    m.parts[index] = bytes.slice(FRAGMENT_HEADER_BYTES);
    m.have++;
    if (m.have < count) return undefined;
    this.open.delete(key);
    this.done.set(key, { incarnation, id });
    const total = m.parts.reduce((n, p) => n + p!.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of m.parts) {
      out.set(p!, at);
      at += p!.length;
    }
    return out;
  }
}
