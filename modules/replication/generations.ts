/**
 * Generation identifiers, as DRBD's UUIDs: a volume's data carries a current
 * generation, the bitmap generation (the current one of the last moment the
 * peer was known to hold the same data, since when the bitmap tracks changes;
 * 0 when nothing is tracked) and two older ones. A node starts a new
 * generation when it becomes primary without its peer, or loses its peer while
 * primary. At a reconnect both sides compare them, and the comparison alone
 * decides whether a resync is needed, which way, whether the bitmap suffices,
 * and whether both sides changed apart (split brain): never a guess.
 *
 * `decide(self, peer)` is a pure function whose answer seen from the peer is
 * the mirror image (a property test checks it), so both sides reach the same
 * verdict without another round trip.
 */

/** A generation identifier: a random number from the shell, nonzero; 0 stands for none. */
export type Generation = number;
export const NO_GENERATION = 0;
export const HISTORY_LENGTH = 2;

export interface Generations {
  current: Generation;
  bitmap: Generation;
  history: Generation[];
}

export const SPLIT_BRAIN_POLICIES = ["disconnect", "discard-zero-changes", "discard-younger-primary", "discard-least-changes"] as const;
export type SplitBrainPolicy = (typeof SPLIT_BRAIN_POLICIES)[number];

/** What each side tells the other at a handshake, besides its bitmap. */
export interface SideView {
  name: string;
  gen: Generations;
  /** Primary now. */
  primary: boolean;
  /** Was primary when it last stopped without a clean demote (its persisted flag): its last writes may not have reached the peer. */
  crashedPrimary: boolean;
  /** Its data is a whole generation; false for a new volume or a resync target that has not finished. */
  consistent: boolean;
  /** Dirty regions in its bitmap. */
  dirty: number;
  /** When it last became primary, in the shell's wall clock (ms); 0 when never. */
  promotedAt: number;
  /** The operator asked this side to give up its changes (`tandem volume discard-my-data`). */
  discardMyData: boolean;
}

export type Decision =
  /** Neither side has data yet (a new pair): nothing to do until one is promoted with force. */
  | { kind: "no-data"; rule: string }
  | { kind: "in-sync"; rule: string }
  | { kind: "resync"; role: "source" | "target"; full: boolean; rule: string }
  /** Both sides started generations apart. `related`: they share the bitmap generation, so a bitmap resync can resolve it. */
  | { kind: "split-brain"; related: boolean; rule: string }
  | { kind: "unrelated"; rule: string };

/** A new data generation: the old current becomes the bitmap generation, or history if one is already tracked. */
export function newGeneration(g: Generations, fresh: Generation): Generations {
  if (fresh === NO_GENERATION) throw new RangeError("a new generation must be nonzero");
  if (g.bitmap === NO_GENERATION) return { current: fresh, bitmap: g.current, history: g.history };
  return { current: fresh, bitmap: g.bitmap, history: pushHistory(g.history, g.current) };
}

/**
 * The source as a resync starts (DRBD's sync UUID): its bitmap generation
 * names what the target becomes. It keeps the one it tracks; with none it
 * takes `fresh`, its bitmap (every region to send) tracking since then.
 */
export function startResyncSource(g: Generations, fresh: Generation): Generations {
  if (g.bitmap !== NO_GENERATION) return g;
  if (fresh === NO_GENERATION) throw new RangeError("a resync's generation must be nonzero");
  return { current: g.current, bitmap: fresh, history: g.history };
}

/**
 * The target as a resync starts: it records whose data it is becoming, the
 * source's bitmap generation, as its current, until the resync is done; cut
 * off before, it resumes by the source's bitmap (decide: "self-resumes").
 */
export function startResyncTarget(g: Generations, sync: Generation): Generations {
  return { current: sync, bitmap: NO_GENERATION, history: g.history };
}

/** The source once a resync completed: the peer holds its current data, nothing is tracked. */
export function afterResyncSource(g: Generations): Generations {
  if (g.bitmap === NO_GENERATION) return g;
  return { current: g.current, bitmap: NO_GENERATION, history: pushHistory(g.history, g.bitmap) };
}

/** The target once a resync completed: it holds the source's data, so it takes its generations. */
export function afterResyncTarget(source: Generations): Generations {
  return { current: source.current, bitmap: NO_GENERATION, history: [...source.history] };
}

function pushHistory(history: Generation[], g: Generation): Generation[] {
  return [g, ...history].slice(0, HISTORY_LENGTH);
}

/** The same verdict seen from the other side. */
export const mirrorDecision = (d: Decision): Decision => (d.kind === "resync" ? { ...d, role: d.role === "source" ? "target" : "source" } : d);

/**
 * The verdict at a handshake. An inconsistent side (a resync target cut off
 * before it finished) is never a source: it resumes as the target by the
 * bitmap when its current is the peer's bitmap generation (the resync's:
 * the peer's bitmap holds every region not yet resynced and every one
 * written since, whatever the peer did apart), or heads the peer's history
 * (the resync finished and its `rs-done` was lost), else by the bitmap where
 * the table says so, else by a full resync; two inconsistent sides wait for
 * the operator. Otherwise the generations decide.
 */
export function decide(self: SideView, peer: SideView): Decision {
  if (self.consistent && peer.consistent) return compareGenerations(self, peer);
  if (!self.consistent && !peer.consistent) return { kind: "no-data", rule: "both-inconsistent" };
  if (!self.consistent && resumes(self, peer)) return { kind: "resync", role: "target", full: false, rule: "self-resumes" };
  if (!peer.consistent && resumes(peer, self)) return { kind: "resync", role: "source", full: false, rule: "peer-resumes" };
  if (!self.consistent && missedDone(self, peer)) return { kind: "resync", role: "target", full: false, rule: "self-missed-resync-done" };
  if (!peer.consistent && missedDone(peer, self)) return { kind: "resync", role: "source", full: false, rule: "peer-missed-resync-done" };
  const d = compareGenerations(self, peer);
  if (!self.consistent) return d.kind === "resync" && d.role === "target" ? d : { kind: "resync", role: "target", full: true, rule: "self-inconsistent" };
  return d.kind === "resync" && d.role === "source" ? d : { kind: "resync", role: "source", full: true, rule: "peer-inconsistent" };
}

/** An inconsistent target whose resync from `source` was cut off: it still records the source's bitmap generation. */
const resumes = (target: SideView, source: SideView): boolean => target.gen.current !== NO_GENERATION && target.gen.current === source.gen.bitmap;

/**
 * An inconsistent target whose resync finished without it hearing so (the
 * link lost `rs-done`): the source put the resync's generation first in its
 * history as it finished, and tracks in its bitmap every write since that
 * the target may lack (a generation later would have pushed it down), so
 * the bitmap brings the target level (DRBD's "missed the resync finished
 * event").
 */
const missedDone = (target: SideView, source: SideView): boolean => target.gen.current !== NO_GENERATION && source.gen.history[0] === target.gen.current;

/** The resync decision table (DRBD's uuid_compare, in its order). */
function compareGenerations(self: SideView, peer: SideView): Decision {
  const a = self.gen;
  const b = peer.gen;
  if (a.current === NO_GENERATION && b.current === NO_GENERATION) return { kind: "no-data", rule: "both-empty" };
  if (a.current === NO_GENERATION) return { kind: "resync", role: "target", full: true, rule: "self-empty" };
  if (b.current === NO_GENERATION) return { kind: "resync", role: "source", full: true, rule: "peer-empty" };
  if (a.current === b.current) {
    if (self.dirty === 0 && peer.dirty === 0) return { kind: "in-sync", rule: "equal" };
    return { kind: "resync", role: equalSource(self, peer) ? "source" : "target", full: false, rule: "equal-dirty" };
  }
  // The peer went on from our current generation (tracked in its bitmap, or older: in its history), or we from its.
  const behindByBitmap = b.bitmap === a.current;
  const behind = behindByBitmap || b.history.includes(a.current);
  const aheadByBitmap = a.bitmap === b.current;
  const ahead = aheadByBitmap || a.history.includes(b.current);
  if (behind && ahead) return { kind: "split-brain", related: false, rule: "each-descends-from-the-other" };
  if (behind) return { kind: "resync", role: "target", full: !behindByBitmap, rule: behindByBitmap ? "peer-bitmap-is-self-current" : "self-current-in-peer-history" };
  if (ahead) return { kind: "resync", role: "source", full: !aheadByBitmap, rule: aheadByBitmap ? "self-bitmap-is-peer-current" : "peer-current-in-self-history" };
  if (a.bitmap !== NO_GENERATION && a.bitmap === b.bitmap) return { kind: "split-brain", related: true, rule: "equal-bitmaps" };
  const older = (g: Generations) => [g.bitmap, ...g.history].filter((x) => x !== NO_GENERATION);
  const theirs = new Set(older(b));
  if (older(a).some((x) => theirs.has(x))) return { kind: "split-brain", related: false, rule: "common-ancestor" };
  return { kind: "unrelated", rule: "no-common-generation" };
}

/**
 * Equal current generations with dirty regions (a crash while connected):
 * the side whose writes may not have reached the other is the source: the
 * primary now, else the one that crashed as primary, else the one with dirty
 * regions, else the lower name (both sides must choose the same).
 */
function equalSource(self: SideView, peer: SideView): boolean {
  if (self.primary !== peer.primary) return self.primary;
  if (self.crashedPrimary !== peer.crashedPrimary) return self.crashedPrimary;
  if ((self.dirty > 0) !== (peer.dirty > 0)) return self.dirty > 0;
  return self.name < peer.name;
}

/**
 * A split brain's resolution: which side gives up its changes, or
 * "disconnect" (each side stays standalone until the operator runs
 * discard-my-data on one). The operator's word comes first; the automatic
 * policies apply only when neither side is primary now (as DRBD's
 * after-sb-0pri), never throwing away what a primary serves.
 */
export function resolveSplitBrain(self: SideView, peer: SideView, policy: SplitBrainPolicy): "source" | "target" | "disconnect" {
  if (self.discardMyData !== peer.discardMyData) return self.discardMyData ? (self.primary ? "disconnect" : "target") : peer.primary ? "disconnect" : "source";
  if (self.discardMyData || self.primary || peer.primary) return "disconnect";
  const loser = (selfLoses: boolean | undefined): "source" | "target" | "disconnect" => (selfLoses === undefined ? "disconnect" : selfLoses ? "target" : "source");
  switch (policy) {
    case "disconnect":
      return "disconnect";
    case "discard-zero-changes":
      if (self.dirty === 0 && peer.dirty === 0) return loser(self.name > peer.name);
      return loser(self.dirty === 0 ? true : peer.dirty === 0 ? false : undefined);
    case "discard-younger-primary":
      return loser(self.promotedAt === peer.promotedAt ? undefined : self.promotedAt > peer.promotedAt);
    case "discard-least-changes":
      if (self.dirty !== peer.dirty) return loser(self.dirty < peer.dirty);
      return loser(self.promotedAt === peer.promotedAt ? undefined : self.promotedAt > peer.promotedAt);
  }
}
