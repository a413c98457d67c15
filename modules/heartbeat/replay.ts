/**
 * The replay guard: admits each authenticated frame at most once. Per sender
 * it keeps the highest incarnation heard; per link of that incarnation, a
 * sliding window of REPLAY_WINDOW sequence numbers, as IPsec's anti-replay
 * bitmap (RFC 4303 §3.4.3). No clock; memory is bounded by the node list it
 * is given, so a sender outside it cannot grow it even with the key.
 */
import { MAX_LINKS } from "./config.ts";

export const REPLAY_WINDOW = 64;

export type ReplayRejection = "unknown-node" | "stale-incarnation" | "replay" | "too-old";

export type Admission =
  /** restart: the sender's incarnation is higher than the one heard before (it restarted); false for the first frame ever heard from it. */
  | { ok: true; restart: boolean }
  | { ok: false; reason: ReplayRejection };

/** What the guard reads of a frame. */
export interface Stamp {
  sender: string;
  incarnation: number;
  link: number;
  seq: number;
}

/** A link's window: the highest seq admitted, and bit i set when seq (highest - i) was admitted. */
interface Window {
  highest: number;
  seen: bigint;
}

interface Sender {
  incarnation: number;
  /** By link index. */
  windows: Map<number, Window>;
}

const FULL = (1n << BigInt(REPLAY_WINDOW)) - 1n;

export class ReplayGuard {
  private readonly nodes: ReadonlySet<string>;
  private readonly senders = new Map<string, Sender>();

  /**
   * `nodes`: the names frames may come from (the config's node list).
   * `floors`: by name, the lowest incarnation admitted (the highest heard by
   * an earlier run of this node, kept in its state dir): frames of an older
   * process of that node are refused as stale from the first.
   */
  constructor(nodes: Iterable<string>, floors: ReadonlyMap<string, number> = new Map()) {
    this.nodes = new Set(nodes);
    for (const [name, incarnation] of floors) if (this.nodes.has(name)) this.senders.set(name, { incarnation, windows: new Map() });
  }

  /**
   * Admit a frame (after its tag verified) or say why not. An admitted
   * frame is remembered. Throws a RangeError for a link index of MAX_LINKS
   * or more, which the decoder never lets through.
   */
  admit(stamp: Stamp): Admission {
    if (!Number.isInteger(stamp.link) || stamp.link < 0 || stamp.link >= MAX_LINKS) throw new RangeError(`link ${stamp.link} is not an index below ${MAX_LINKS}`);
    if (!this.nodes.has(stamp.sender)) return { ok: false, reason: "unknown-node" };
    const known = this.senders.get(stamp.sender);
    if (known && stamp.incarnation < known.incarnation) return { ok: false, reason: "stale-incarnation" };
    if (!known || stamp.incarnation > known.incarnation) {
      this.senders.set(stamp.sender, { incarnation: stamp.incarnation, windows: new Map([[stamp.link, { highest: stamp.seq, seen: 1n }]]) });
      // A floor alone (no window yet) is not a frame heard by this process.
      return { ok: true, restart: known !== undefined && known.windows.size > 0 };
    }
    const window = known.windows.get(stamp.link);
    if (!window) {
      known.windows.set(stamp.link, { highest: stamp.seq, seen: 1n });
      return { ok: true, restart: false };
    }
    if (stamp.seq > window.highest) {
      const ahead = stamp.seq - window.highest;
      window.seen = ahead >= REPLAY_WINDOW ? 1n : ((window.seen << BigInt(ahead)) | 1n) & FULL;
      window.highest = stamp.seq;
      return { ok: true, restart: false };
    }
    const behind = window.highest - stamp.seq;
    if (behind >= REPLAY_WINDOW) return { ok: false, reason: "too-old" };
    const bit = 1n << BigInt(behind);
    if (window.seen & bit) return { ok: false, reason: "replay" };
    window.seen |= bit;
    return { ok: true, restart: false };
  }
}
