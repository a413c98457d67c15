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

const FULL = (1n << BigInt(REPLAY_WINDOW)) - 1n;

/** A sliding window of numbers seen: the highest, and bit i set when (highest - i) was seen. */
export interface Window {
  highest: number;
  seen: bigint;
}

/** A window that has seen `first` alone. */
export function windowFrom(first: number): Window {
  return { highest: first, seen: 1n };
}

/** What the window says of `n`: "new" (not seen), "replay" (seen) or "too-old" (REPLAY_WINDOW or more below the highest). */
export function seenAs(window: Window, n: number): "new" | "replay" | "too-old" {
  if (n > window.highest) return "new";
  const behind = window.highest - n;
  if (behind >= REPLAY_WINDOW) return "too-old";
  return window.seen & (1n << BigInt(behind)) ? "replay" : "new";
}

/** Mark `n` seen when it is new; what the window said of it before (seenAs). */
export function markSeen(window: Window, n: number): "new" | "replay" | "too-old" {
  const seen = seenAs(window, n);
  if (seen !== "new") return seen;
  if (n > window.highest) {
    const ahead = n - window.highest;
    window.seen = ahead >= REPLAY_WINDOW ? 1n : ((window.seen << BigInt(ahead)) | 1n) & FULL;
    window.highest = n;
  } else window.seen |= 1n << BigInt(window.highest - n);
  return "new";
}

interface Sender {
  incarnation: number;
  /** By link index. */
  windows: Map<number, Window>;
}

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
      this.senders.set(stamp.sender, { incarnation: stamp.incarnation, windows: new Map([[stamp.link, windowFrom(stamp.seq)]]) });
      // A floor alone (no window yet) is not a frame heard by this process.
      return { ok: true, restart: known !== undefined && known.windows.size > 0 };
    }
    const window = known.windows.get(stamp.link);
    if (!window) {
      known.windows.set(stamp.link, windowFrom(stamp.seq));
      return { ok: true, restart: false };
    }
    const seen = markSeen(window, stamp.seq);
    return seen === "new" ? { ok: true, restart: false } : { ok: false, reason: seen };
  }
}
