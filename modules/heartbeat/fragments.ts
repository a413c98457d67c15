/**
 * Other modules' messages may be longer than a frame: they travel as
 * fragments, each with the message's id, its index and the count. The
 * receiver delivers each message once, when its last fragment arrives (the
 * same fragments come on every link), whatever order the messages arrive in:
 * a sender's messages on one channel are not all of one kind (the
 * coordinator's transition and report go out together, and are resent
 * together), so a later one does not stand for an earlier one, and an
 * earlier one overtaken on the network is still delivered. Per sender
 * process and channel the receiver keeps which of the last REPLAY_WINDOW ids
 * (replay.ts) it delivered (older ones are dropped) and at most MAX_OPEN messages in
 * progress (a new one pushes out the oldest); a malformed fragment is
 * dropped. A lost fragment loses its message: what rides here is resent as
 * state, so the next one repairs it.
 */
import { markSeen, seenAs, windowFrom, type Window } from "./replay.ts";

/** id (u32), index (u8), count (u8). */
export const FRAGMENT_HEADER_BYTES = 6;
/** Fragments a message may have: the bound on a message's size and on what a receiver holds. */
export const MAX_FRAGMENTS = 96;
/** Messages in progress a receiver keeps per sender process and channel: the bound on what it holds is MAX_OPEN × MAX_FRAGMENTS fragments. */
export const MAX_OPEN = 4;

/** One fragment on the wire: the message id, this fragment's index, the count of fragments, then its part. */
export function encodeFragment(id: number, index: number, count: number, part: Uint8Array): Uint8Array {
  const f = new Uint8Array(FRAGMENT_HEADER_BYTES + part.length);
  const v = new DataView(f.buffer);
  v.setUint32(0, id);
  v.setUint8(4, index);
  v.setUint8(5, count);
  f.set(part, FRAGMENT_HEADER_BYTES);
  return f;
}

export function fragment(id: number, data: Uint8Array, chunkBytes: number): Uint8Array[] {
  const room = chunkBytes - FRAGMENT_HEADER_BYTES;
  const count = Math.max(1, Math.ceil(data.length / room));
  if (count > MAX_FRAGMENTS) throw new RangeError(`a message of ${data.length} bytes needs ${count} fragments, over ${MAX_FRAGMENTS}`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(encodeFragment(id, i, count, data.subarray(i * room, (i + 1) * room)));
  return out;
}

interface InProgress {
  id: number;
  parts: Array<Uint8Array | undefined>;
  have: number;
}

/** One sender process's messages on one channel. */
interface Stream {
  incarnation: number;
  /** The ids delivered: null before the first. */
  delivered: Window | null;
  /** At most MAX_OPEN, oldest first. */
  open: InProgress[];
}

export class Reassembly {
  /** Per sender and channel, its newest process's messages: a new process starts its ids again. */
  private readonly streams = new Map<string, Stream>();

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
    let s = this.streams.get(key);
    if (s?.incarnation !== incarnation) this.streams.set(key, (s = { incarnation, delivered: null, open: [] }));
    if (s.delivered && seenAs(s.delivered, id) !== "new") return undefined;
    let m = s.open.find((o) => o.id === id);
    if (!m) {
      m = { id, parts: new Array<Uint8Array | undefined>(count), have: 0 };
      s.open.push(m);
      s.open.sort((a, b) => a.id - b.id);
      if (s.open.length > MAX_OPEN) s.open.shift();
      if (!s.open.includes(m)) return undefined;
    }
    if (m.parts.length !== count) return "bad";
    if (m.parts[index]) return undefined;
    m.parts[index] = bytes.slice(FRAGMENT_HEADER_BYTES);
    m.have++;
    if (m.have < count) return undefined;
    if (s.delivered) markSeen(s.delivered, id);
    else s.delivered = windowFrom(id);
    // What is done and what fell out of the window are no longer in progress.
    s.open = s.open.filter((o) => o !== m && seenAs(s.delivered!, o.id) === "new");
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
