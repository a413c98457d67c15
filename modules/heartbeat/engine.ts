/**
 * The membership and quorum engine. Pure: `step(state, input)` returns the next
 * state and the effects (frames to send, events); it never reads a clock or a
 * socket. The shell feeds it decoded, authenticated frames, ticks at
 * `nextDeadline`, upstream (ping) results and whether this node holds resources.
 *
 * Membership, as in Heartbeat: a peer is `up` while heard on any link; `down`
 * when every link has been silent for deadtime (initdead before it was first
 * heard); `leaving` after a goodbye. Links are up or down per peer on the same
 * rule, with loss (from sequence gaps) and round-trip time (from echoes). A
 * heartbeat later than warntime is reported once per silence.
 *
 * Quorum rests on leases, so that two sides of a split never both hold it:
 * - a member counts a peer's vote only until (its own heartbeat's sentAt that
 *   the peer last echoed) + the smaller of its deadtime and the peer's (each
 *   heartbeat carries its sender's), less STOP_MARGIN of it. The peer declares
 *   it dead no earlier than the full lease, so nobody counts the vote of a
 *   node that thinks it dead, even while their deadtimes differ (nodes reading
 *   different configs, a rolling reload), and a holder that loses quorum has
 *   the margin to stop its exclusive resources before a peer takes over;
 * - a reload that shrinks the deadtime: peers may hold leases sized by the old
 *   one on heartbeats sent before, so the old one still decides deaths (and
 *   sizes the arbiter's grants) until an old deadtime after the reload, while
 *   heartbeats carry the new one at once;
 * - the arbiter gives its vote to one member at a time; the grant runs from the
 *   grantee's echoed sentAt for `leaseMs`, and the arbiter grants another member
 *   only after its own record of the previous grant has run out (it started
 *   later, so it ends later), and after its own start waits one lease, since it
 *   cannot know what it granted before. It grants to a member it hears when a
 *   split is seen or suspected, preferring the one holding resources (qnetd's
 *   ffsplit);
 * - without an arbiter: with ping targets, a member alone keeps quorum while it
 *   reaches its upstream; otherwise two-node rules: quorum once the peer has
 *   been seen since start (wait-for-all), kept alone after;
 * - a member that starts cannot know which votes its previous run lent, and
 *   those leases run at most a deadtime: until a deadtime after its start it
 *   is not quorate and lends no vote (its heartbeats echo nobody), as the
 *   arbiter waits a lease before it grants. The deadtime is the previous
 *   run's when that was larger (the shell keeps it in the state dir): peers
 *   leased that run's vote on it;
 * - a view entry (with its echo), and the arbiter's vote, name the
 *   incarnation of the process they answer, and count only for that one: a
 *   sentAt is a process's monotonic clock, which starts again near 0 in the
 *   next, so old heartbeats replayed to a restarted node (the replay guard
 *   admits the first frame of an incarnation it has not heard) lend nothing;
 * - a peer that said goodbye (a clean stop, its resources already stopped)
 *   leaves its vote to the other member of a pair without an arbiter; a
 *   goodbye counts only from a process that named this one in its view
 *   first (a replayed goodbye of an earlier run must not make a lone node
 *   quorate, nor take the peer as leaving). With
 *   one, the arbiter's leased vote goes to the member that stays: a vote
 *   inherited for good would let the leaver, restarted while cut off from its
 *   peer, win the arbiter's vote while the peer still counted its own.
 *
 * Self-stall guard: the shell ticks at least every interval, so a gap between
 * inputs longer than warntime means this process was not running (SIGSTOP, VM
 * pause, overload). The engine reports it before acting on anything else, does
 * not declare peers dead for time it did not watch, and (leases being time) has
 * lost quorum if a peer may have declared it dead meanwhile: at the earliest a
 * deadtime after the newest heartbeat of this node the peer echoed, which the
 * input that ends the stall may bring (a frame that waited in the socket); no
 * rule for a lone node (two-node, ping) gives it back before a peer's vote or
 * the arbiter's counts again. A stall shorter than that, with the peer alive,
 * costs no quorum to a node that a lone-node rule keeps quorate.
 */
import type { Heartbeat, Message, ViewEntry } from "./messages.ts";
import { STOP_MARGIN } from "../../core/cluster.ts";

export interface HbParams {
  self: string;
  role: "member" | "arbiter";
  /** Member names in config order (the order breaks ties). */
  members: readonly string[];
  arbiter: string | null;
  links: readonly string[];
  intervalMs: number;
  warntimeMs: number;
  deadtimeMs: number;
  initdeadMs: number;
  /** Whether upstream (ping) targets are configured. */
  ping: boolean;
  /** First 8 hex digits of this node's config hash. */
  config: string;
}

export type PeerStatus = "init" | "up" | "down" | "leaving";

export interface LinkState {
  up: boolean;
  /** Monotonic time of the last frame on this link, or null if never. */
  lastHeard: number | null;
  highestSeq: number | null;
  received: number;
  lost: number;
  rttMs: number | null;
}

export interface PeerState {
  name: string;
  role: "member" | "arbiter";
  status: PeerStatus;
  incarnation: number | null;
  lastHeard: number | null;
  late: boolean;
  links: LinkState[];
  /** Times this node declared the peer dead since it started. */
  downs: number;
  /** Times the peer says it declared this node dead. */
  downsByPeer: number;
  /** Whether this process of the peer has named this node's current process in its view: only then does its goodbye count. */
  heardMe: boolean;
  /** The newest heartbeat of this process (its sentAt) the peer echoed: it heard this node then, so declares it dead no earlier than a deadtime after. */
  echoed: number | null;
  /** The peer's last heartbeat: its sentAt and when it arrived (for echoes). */
  heard: { sentAt: number; at: number } | null;
  /** Until when this node counts the peer's vote: its lease, less the drift and the stop margin (see above). */
  voteUntil: number;
  /** The deadtime the peer's last heartbeat carried (null: not heard yet, or a sender without the field). */
  deadtimeMs: number | null;
  /** Whether the peer reports hearing this node, and whether late. */
  hearsMe: boolean;
  reportsMeLate: boolean;
  holdsResources: boolean;
  upstream: { reachable: number; total: number } | null;
  config: string | null;
  /** The peer's own view of the other nodes (for the arbiter's decision). */
  view: ViewEntry[];
}

export interface State {
  p: HbParams;
  phase: "idle" | "running" | "stopped";
  /** This process's incarnation (from the start input): echoes and votes that name another are not this process's. */
  incarnation: number;
  startedAt: number;
  lastInput: number | null;
  nextSend: number;
  peers: Record<string, PeerState>;
  holdsResources: boolean;
  upstream: { reachable: number; total: number } | null;
  /** A member's grant from the arbiter, valid until `until` on this node's clock. */
  grant: { until: number } | null;
  /** The arbiter's record of the grant it gives, on its own clock. */
  granted: { to: string; incarnation: number; until: number; echo: number } | null;
  /** A member of a pair without an arbiter whose peer said goodbye holds its vote until the peer returns. */
  inherited: string | null;
  /** Two-node rule: the peer has been seen since start. */
  waitedForAll: boolean;
  /** After a stall long enough to be declared dead: no quorum alone until a peer's vote or the arbiter's counts again. */
  suspect: boolean;
  quorate: boolean;
  /**
   * Quorum by a majority (of the members, or with the arbiter's vote): no
   * member this node does not count can be quorate too. False under a rule for
   * a lone node (two-node, ping): a lost peer may hold quorum on the same rule.
   */
  majority: boolean;
  yieldToPeer: boolean;
  stalls: number;
  /** A deadtime a reload shrank, which still decides deaths until `until` (see above). */
  shrunk: { deadtimeMs: number; until: number } | null;
}

export type Input =
  /** keptDeadtimeMs: the deadtime the previous run of this node kept (null: none kept); a larger one than the config's holds for itself after the start. */
  | { type: "start"; now: number; incarnation: number; keptDeadtimeMs: number | null }
  | { type: "tick"; now: number }
  | { type: "frame"; now: number; from: string; link: number; seq: number; incarnation: number; restart: boolean; message: Message }
  | { type: "upstream"; now: number; reachable: number; total: number }
  | { type: "resources"; now: number; holds: boolean }
  /** A reloaded config: new timers and links are applied in place; other nodes (members, arbiter, this node's role) are a new membership. */
  | { type: "reload"; now: number; p: HbParams }
  | { type: "stop"; now: number };

export type Effect =
  | { type: "send"; link: number; message: Message }
  | { type: "event"; event: string; data: Record<string, unknown> };

/** After this long without a heartbeat a peer is declared dead: the deadtime, or a larger one a reload shrank, while it holds. */
export function deadtimeOf(s: State): number {
  return s.shrunk ? Math.max(s.p.deadtimeMs, s.shrunk.deadtimeMs) : s.p.deadtimeMs;
}
/** A grant is renewed every interval; it lasts a deadtime, so a few lost heartbeats do not drop it. */
export const leaseMs = deadtimeOf;
/** Clocks of two machines may run at slightly different rates; a lease holder gives up this share early. */
export const CLOCK_DRIFT = 0.01;
/** The share of a lease a vote counts for: the lease less the clock drift and the stop margin. */
const COUNTED_SHARE = 1 - CLOCK_DRIFT - STOP_MARGIN;

function newLink(): LinkState {
  return { up: false, lastHeard: null, highestSeq: null, received: 0, lost: 0, rttMs: null };
}

function newPeer(p: HbParams, name: string): PeerState {
  return {
    name,
    role: name === p.arbiter ? "arbiter" : "member",
    status: "init",
    incarnation: null,
    lastHeard: null,
    late: false,
    links: p.links.map(newLink),
    downs: 0,
    downsByPeer: 0,
    heardMe: false,
    echoed: null,
    heard: null,
    voteUntil: 0,
    deadtimeMs: null,
    hearsMe: false,
    reportsMeLate: false,
    holdsResources: false,
    upstream: null,
    config: null,
    view: [],
  };
}

export function initialState(p: HbParams): State {
  const peers: Record<string, PeerState> = {};
  for (const n of [...p.members, ...(p.arbiter ? [p.arbiter] : [])]) if (n !== p.self) peers[n] = newPeer(p, n);
  return {
    p,
    phase: "idle",
    incarnation: 0,
    startedAt: 0,
    lastInput: null,
    nextSend: 0,
    peers,
    holdsResources: false,
    upstream: null,
    grant: null,
    granted: null,
    inherited: null,
    waitedForAll: false,
    suspect: false,
    quorate: p.role === "member" && p.members.length === 1,
    majority: p.role === "member" && p.members.length === 1,
    yieldToPeer: false,
    stalls: 0,
    shrunk: null,
  };
}

/** When the engine next needs a tick. (Called after every input: written without allocating.) */
export function nextDeadline(s: State): number | null {
  if (s.phase !== "running") return null;
  const p = s.p;
  const deadtime = deadtimeOf(s);
  let at = s.nextSend;
  if (s.shrunk) at = Math.min(at, s.shrunk.until);
  for (const name in s.peers) {
    const peer = s.peers[name]!;
    if (peer.status === "init") at = Math.min(at, s.startedAt + p.initdeadMs);
    if (peer.status === "up" && peer.lastHeard !== null) at = Math.min(at, peer.lastHeard + (peer.late ? deadtime : p.warntimeMs));
    for (const l of peer.links) if (l.up && l.lastHeard !== null) at = Math.min(at, l.lastHeard + deadtime);
    if (peer.voteUntil > 0) at = Math.min(at, peer.voteUntil);
  }
  if (p.role === "member" && s.lastInput !== null && s.lastInput < s.startedAt + deadtime) at = Math.min(at, s.startedAt + deadtime);
  if (s.grant) at = Math.min(at, s.grant.until);
  if (s.granted) at = Math.min(at, s.granted.until);
  return at;
}

/** Whether a member counts this peer's vote now. */
export function counts(s: State, peer: PeerState, now: number): boolean {
  return peer.role === "member" && (now < peer.voteUntil || s.inherited === peer.name);
}

/**
 * A copy that `step` may change freely: the engine replaces every nested
 * object it changes, except peers and their link records, which are copied.
 * (structuredClone did the same at several times the cost, on every input.)
 */
function copyState(state: State): State {
  const peers: Record<string, PeerState> = {};
  for (const [name, peer] of Object.entries(state.peers)) peers[name] = { ...peer, links: peer.links.map((l) => ({ ...l })) };
  return { ...state, peers };
}

export function step(state: State, input: Input): { state: State; effects: Effect[] } {
  const fx: Effect[] = [];
  const event = (e: string, data: Record<string, unknown>) => fx.push({ type: "event", event: e, data });
  const s = copyState(state);
  const p = s.p;
  const now = input.now;

  if (input.type === "reload") {
    if (s.phase !== "running") return { state: { ...initialState(input.p), phase: s.phase }, effects: [] };
    if (!sameNodes(s.p, input.p)) {
      // Another set of nodes is another membership: it starts afresh, as at a start.
      event("heartbeat.reloaded", { fresh: true });
      const fresh = step(initialState(input.p), { type: "start", now, incarnation: s.incarnation, keptDeadtimeMs: deadtimeOf(s) });
      return { state: fresh.state, effects: [...fx, ...fresh.effects] };
    }
    const before = deadtimeOf(s);
    reparam(s, input.p, now);
    if (before > input.p.deadtimeMs) s.shrunk = { deadtimeMs: before, until: now + before };
    event("heartbeat.reloaded", { fresh: false, intervalMs: input.p.intervalMs, deadtimeMs: input.p.deadtimeMs });
  }
  if (input.type === "start") {
    if (s.phase !== "idle") return { state, effects: [] };
    s.phase = "running";
    s.incarnation = input.incarnation;
    s.startedAt = now;
    if (input.keptDeadtimeMs !== null && input.keptDeadtimeMs > p.deadtimeMs) s.shrunk = { deadtimeMs: input.keptDeadtimeMs, until: now + input.keptDeadtimeMs };
    s.lastInput = now;
    s.nextSend = now;
    event("heartbeat.started", { role: p.role, links: p.links, peers: Object.keys(s.peers) });
  }
  if (s.phase !== "running") return { state, effects: [] };

  if (s.lastInput !== null && now - s.lastInput > p.warntimeMs) stalled(s, input, now - s.lastInput, event);
  s.lastInput = now;

  switch (input.type) {
    case "frame":
      receive(s, input, event);
      break;
    case "upstream":
      s.upstream = { reachable: input.reachable, total: input.total };
      break;
    case "resources":
      s.holdsResources = input.holds;
      break;
    case "stop":
      for (let link = 0; link < p.links.length; link++) fx.push({ type: "send", link, message: { kind: "goodbye" } });
      s.phase = "stopped";
      event("heartbeat.stopped", { goodbye: true });
      return { state: s, effects: fx };
    default:
      break;
  }

  expire(s, now, event);
  if (p.role === "arbiter") arbitrate(s, now, event);
  else {
    if (s.grant && now >= s.grant.until) s.grant = null;
    judge(s, now, event);
  }
  if (now >= s.nextSend) {
    const hb = heartbeat(s, now);
    for (let link = 0; link < p.links.length; link++) fx.push({ type: "send", link, message: hb });
    s.nextSend = now + p.intervalMs;
  }
  return { state: s, effects: fx };
}

/** Whether two params name the same nodes in the same roles (only timers, links, ping and config differ). */
function sameNodes(a: HbParams, b: HbParams): boolean {
  return a.self === b.self && a.role === b.role && a.arbiter === b.arbiter && a.members.join() === b.members.join();
}

/**
 * New timers and links in place. What a peer's links showed is kept per link
 * name; a new link starts unheard. The next heartbeat goes out one new
 * interval after the last one (at once if that is past). Deadlines are
 * computed from the params at each step, so a grown deadtime applies to the
 * silences under way; a shrunk one only once the old has run out (see the
 * header: peers may lease this node's vote on the old one).
 */
function reparam(s: State, p: HbParams, now: number): void {
  const old = s.p;
  s.p = p;
  if (old.links.join() !== p.links.join()) {
    for (const name in s.peers) {
      const peer = s.peers[name]!;
      peer.links = p.links.map((l) => {
        const i = old.links.indexOf(l);
        return i < 0 ? newLink() : peer.links[i]!;
      });
    }
  }
  s.nextSend = Math.max(now, s.nextSend - old.intervalMs + p.intervalMs);
}

/**
 * Whether `peer` may have declared this node dead by `now`, after a stall of
 * `gapMs`. A peer declares it dead a deadtime (its own, which may be shorter)
 * after the last frame it heard from it, at the earliest a deadtime after the
 * newest heartbeat it echoed: that bound holds whatever frames were lost.
 * The frame that ends the stall (sent while this node was not running, so
 * read before anything else: it waited in the socket) may echo a newer one.
 * A peer that echoed nothing yet: the gap, less the interval a heartbeat may
 * have been sent before the last input.
 */
function maybeDeclaredDeadBy(s: State, peer: PeerState, input: Input, gapMs: number): boolean {
  const p = s.p;
  const deadtime = Math.min(p.deadtimeMs, peer.deadtimeMs ?? p.deadtimeMs);
  let echoed = peer.echoed;
  if (input.type === "frame" && input.from === peer.name && input.message.kind === "heartbeat") {
    const sentAt = echoOf(s, input.message, input.now)?.sentAt;
    if (sentAt !== undefined && (echoed === null || sentAt > echoed)) echoed = sentAt;
  }
  if (echoed === null) return gapMs >= deadtime - p.intervalMs;
  return input.now >= echoed + deadtime * (1 - CLOCK_DRIFT);
}

function stalled(s: State, input: Input, gapMs: number, event: (e: string, d: Record<string, unknown>) => void) {
  const p = s.p;
  const now = input.now;
  s.stalls++;
  let maybeDeclaredDead = false;
  for (const name in s.peers) if (maybeDeclaredDeadBy(s, s.peers[name]!, input, gapMs)) maybeDeclaredDead = true;
  event("heartbeat.stall", { gapMs: Math.round(gapMs), maybeDeclaredDead });
  // Time this process did not watch is no evidence against the peers: give each a fresh interval.
  for (const peer of Object.values(s.peers)) {
    if (peer.lastHeard !== null) peer.lastHeard = Math.max(peer.lastHeard, now - p.intervalMs);
    for (const l of peer.links) if (l.lastHeard !== null) l.lastHeard = Math.max(l.lastHeard, now - p.intervalMs);
    if (maybeDeclaredDead) {
      peer.hearsMe = false;
      peer.voteUntil = 0;
    }
  }
  // The peer may have taken over meanwhile: no rule for a lone node (two-node, ping) holds until it is heard again.
  if (maybeDeclaredDead) s.suspect = true;
}

function receive(s: State, f: Extract<Input, { type: "frame" }>, event: (e: string, d: Record<string, unknown>) => void) {
  const p = s.p;
  let peer = s.peers[f.from];
  if (!peer || f.link < 0 || f.link >= p.links.length) return;
  // A process is known by its heartbeats (or its goodbye): another module's frame from one not yet heard is not taken
  // as a restart, and the shell does not hand its message on. The next heartbeat of that process is then the restart,
  // though the replay guard, which saw the new incarnation first in that frame, no longer says so.
  if (f.message.kind === "app" && f.incarnation !== peer.incarnation) return;
  const restarted = f.restart || peer.incarnation !== f.incarnation;
  if (restarted) {
    if (peer.incarnation !== null && peer.status === "up") {
      peer.status = "down";
      peer.downs++;
      event("heartbeat.peer", { peer: peer.name, status: "down", reason: "restarted", incarnation: f.incarnation });
    }
    const fresh = newPeer(p, peer.name);
    peer = s.peers[f.from] = { ...fresh, status: peer.status === "init" ? "init" : peer.status, downs: peer.downs, incarnation: f.incarnation };
  }
  // A stopped process does not come back with the same incarnation: what arrives after its goodbye was sent before it.
  // A new incarnation is a new process, heard as any other.
  if (peer.status === "leaving" && !restarted) return;
  if (s.inherited === peer.name) s.inherited = null;
  const link = peer.links[f.link]!;
  if (link.highestSeq !== null && f.seq > link.highestSeq + 1) link.lost += f.seq - link.highestSeq - 1;
  if (link.highestSeq === null || f.seq > link.highestSeq) link.highestSeq = f.seq;
  link.received++;
  link.lastHeard = f.now;
  if (!link.up) {
    link.up = true;
    event("heartbeat.link", { peer: peer.name, link: p.links[f.link], status: "up" });
  }
  const m = f.message;
  // Another module's message: proof of life for the link, nothing for membership.
  if (m.kind === "app") return;
  if (m.kind === "goodbye") {
    if (!peer.heardMe) {
      event("heartbeat.goodbye-ignored", { peer: peer.name, incarnation: peer.incarnation });
      return;
    }
    if (peer.status === "up" || peer.status === "init") {
      peer.status = "leaving";
      peer.voteUntil = 0;
      peer.hearsMe = false;
      for (const l of peer.links) l.up = false;
      if (p.role === "member" && p.members.length === 2 && !p.arbiter && peer.role === "member") s.inherited = peer.name;
      event("heartbeat.peer", { peer: peer.name, status: "leaving", reason: "goodbye" });
    }
    return;
  }
  peer.lastHeard = f.now;
  peer.late = false;
  if (peer.status !== "up") {
    const was = peer.status;
    peer.status = "up";
    event("heartbeat.peer", { peer: peer.name, status: "up", was, incarnation: peer.incarnation });
  }
  hearHeartbeat(s, peer, f.link, m, f.now, event);
}

/** What a heartbeat says of this process (not of another process of this node: an earlier run's, replayed). */
function entryOf(s: State, m: Heartbeat): ViewEntry | undefined {
  const named = m.view.find((e) => e.node === s.p.self);
  return named?.incarnation === s.incarnation ? named : undefined;
}

/** The heartbeat of this process the peer echoes in `m`, if it is one this process sent by `now`. */
function echoOf(s: State, m: Heartbeat, now: number): ViewEntry["echo"] {
  const echo = entryOf(s, m)?.echo;
  return echo && echo.sentAt <= now ? echo : undefined;
}

function hearHeartbeat(s: State, peer: PeerState, linkIndex: number, m: Heartbeat, now: number, event: (e: string, d: Record<string, unknown>) => void) {
  const p = s.p;
  const fresher = peer.heard === null || m.sentAt > peer.heard.sentAt;
  const mine = entryOf(s, m);
  const echo = echoOf(s, m, now);
  if (echo) {
    const rtt = now - echo.sentAt - echo.heldMs;
    if (rtt >= 0) peer.links[linkIndex]!.rttMs = rtt;
    if (peer.echoed === null || echo.sentAt > peer.echoed) peer.echoed = echo.sentAt;
  }
  // The same heartbeat arrives once per link: only the newest one speaks for the peer.
  if (!fresher) return;
  peer.heard = { sentAt: m.sentAt, at: now };
  peer.hearsMe = mine?.up ?? false;
  peer.reportsMeLate = mine?.late ?? false;
  if (mine && mine.downs > peer.downsByPeer) {
    event("heartbeat.declared-dead", { by: peer.name, times: mine.downs });
    peer.downsByPeer = mine.downs;
  }
  peer.deadtimeMs = m.deadtimeMs ?? null;
  // The peer declares this node dead after its own deadtime: the lease is no longer than that, nor than this node's.
  const lease = Math.min(p.deadtimeMs, m.deadtimeMs ?? p.deadtimeMs);
  if (mine) peer.heardMe = true;
  if (mine?.up && echo) peer.voteUntil = Math.max(peer.voteUntil, echo.sentAt + lease * COUNTED_SHARE);
  if (!mine?.up) peer.voteUntil = 0;
  peer.holdsResources = m.holdsResources;
  peer.upstream = m.upstream ?? null;
  peer.view = m.view;
  if (peer.config !== m.config) {
    peer.config = m.config;
    if (m.config !== p.config) event("heartbeat.config-differs", { peer: peer.name, ours: p.config, theirs: m.config });
  }
  if (peer.role === "arbiter" && p.role === "member") {
    const v = m.vote;
    if (v && v.for === p.self && v.incarnation === s.incarnation && v.echo <= now) {
      const until = v.echo + v.leaseMs * COUNTED_SHARE;
      if (!s.grant || until > s.grant.until) s.grant = { until };
    } else s.grant = null;
  }
}

/**
 * Deadlines are compared exactly as `nextDeadline` computes them (start + span),
 * never as `now - start >= span`: in floating point the two can disagree by an
 * ulp, and a tick at the deadline would then change nothing and ask for the same
 * deadline again, forever.
 */
function expire(s: State, now: number, event: (e: string, d: Record<string, unknown>) => void) {
  const p = s.p;
  if (s.shrunk && now >= s.shrunk.until) s.shrunk = null;
  const deadtime = deadtimeOf(s);
  for (const name in s.peers) {
    const peer = s.peers[name]!;
    // A lease that ran out counts for nothing, and must not stay a deadline.
    if (peer.voteUntil > 0 && now >= peer.voteUntil) peer.voteUntil = 0;
    for (let i = 0; i < peer.links.length; i++) {
      const l = peer.links[i]!;
      if (l.up && l.lastHeard !== null && now >= l.lastHeard + deadtime) {
        l.up = false;
        event("heartbeat.link", { peer: peer.name, link: p.links[i], status: "down" });
      }
    }
    if (peer.status === "up" && peer.lastHeard !== null) {
      const silent = now - peer.lastHeard;
      if (!peer.late && now >= peer.lastHeard + p.warntimeMs) {
        peer.late = true;
        event("heartbeat.late", { peer: peer.name, silentMs: Math.round(silent) });
      }
      if (now >= peer.lastHeard + deadtime) {
        peer.status = "down";
        peer.downs++;
        peer.voteUntil = 0;
        peer.hearsMe = false;
        event("heartbeat.peer", { peer: peer.name, status: "down", reason: "silent", silentMs: Math.round(silent) });
      }
    } else if (peer.status === "init" && now >= s.startedAt + p.initdeadMs) {
      peer.status = "down";
      peer.downs++;
      event("heartbeat.peer", { peer: peer.name, status: "down", reason: "never heard (initdead)" });
    }
  }
}

/** A member's quorum, and whether it should yield to a peer with better upstream reachability. */
function judge(s: State, now: number, event: (e: string, d: Record<string, unknown>) => void) {
  const p = s.p;
  // Counted in a loop: this runs on every input.
  let connected = 0;
  let better = false;
  for (const name in s.peers) {
    const x = s.peers[name]!;
    if (!counts(s, x, now)) continue;
    connected++;
    if (x.name !== s.inherited) s.waitedForAll = true;
    if (x.upstream && s.upstream && x.upstream.reachable > s.upstream.reachable) better = true;
  }
  const votes = 1 + connected + (s.grant ? 1 : 0);
  if (connected > 0 || s.grant) s.suspect = false;
  let quorate: boolean;
  let reason: string;
  let majority = false;
  if (p.members.length === 1) [quorate, reason, majority] = [true, "single member", true];
  else if (now < s.startedAt + deadtimeOf(s)) [quorate, reason] = [false, "just started: a peer may still count the vote of this node's previous run"];
  else if (p.arbiter) {
    const total = p.members.length + 1;
    [quorate, reason] = [votes * 2 > total, `${votes} of ${total} votes${s.grant ? " (with the arbiter's)" : ""}`];
    majority = quorate;
  } else if (votes * 2 > p.members.length) [quorate, reason, majority] = [true, `${votes} of ${p.members.length} votes`, true];
  else if (s.suspect) [quorate, reason] = [false, "stalled long enough to be declared dead: waiting to hear a peer again"];
  else if (p.ping && p.members.length === 2) {
    const reach = s.upstream?.reachable ?? 0;
    [quorate, reason] = [reach > 0, `alone; upstream ${reach}/${s.upstream?.total ?? 0} reachable`];
  } else if (p.members.length === 2) [quorate, reason] = [s.waitedForAll, s.waitedForAll ? "two-node: alone after the peer was seen" : "two-node: waiting for the peer (wait-for-all)"];
  else [quorate, reason] = [false, `${votes} of ${p.members.length} votes`];
  s.majority = majority;
  if (quorate !== s.quorate) {
    s.quorate = quorate;
    event("heartbeat.quorum", { quorate, reason });
  }
  if (better !== s.yieldToPeer) {
    s.yieldToPeer = better;
    event("heartbeat.upstream", { yield: better, reachable: s.upstream?.reachable ?? null });
  }
}

/**
 * The arbiter's vote. A split is seen or suspected when a member is not heard
 * (or late), or a member reports another member down or late. The vote then
 * goes to one member the arbiter hears: the current grantee while it is heard,
 * else (once the old grant has run out) the one holding resources, else the
 * first in config order.
 */
function arbitrate(s: State, now: number, event: (e: string, d: Record<string, unknown>) => void) {
  const p = s.p;
  if (s.granted && now >= s.granted.until) {
    event("heartbeat.vote", { to: null, expired: s.granted.to });
    s.granted = null;
  }
  // A restarted arbiter does not know what it granted before: it waits out any grant it may have given.
  if (now < s.startedAt + leaseMs(s)) return;
  const members = p.members.map((n) => s.peers[n]!);
  const heard = members.filter((m) => m.status === "up" && !m.late && m.hearsMe && m.heard);
  const split =
    heard.length < members.length ||
    heard.some((m) => p.members.some((o) => o !== m.name && !m.view.some((e) => e.node === o && e.up && !e.late)));
  if (!split) return;
  let to: PeerState | undefined;
  if (s.granted) to = heard.find((m) => m.name === s.granted!.to);
  else to = heard.find((m) => m.holdsResources) ?? heard[0];
  if (!to) return;
  const echo = to.heard!.sentAt;
  if (!s.granted) {
    event("heartbeat.vote", { to: to.name });
    // A new grant goes out at once: the member may be without quorum until it has it (a peer just left).
    s.nextSend = now;
  }
  s.granted = { to: to.name, incarnation: to.incarnation!, until: now + leaseMs(s), echo };
}

function heartbeat(s: State, now: number): Heartbeat {
  const p = s.p;
  // An echo lends this node's vote (see hearHeartbeat): a member just started lends none yet.
  const lends = p.role === "arbiter" || now >= s.startedAt + deadtimeOf(s);
  const view: ViewEntry[] = Object.values(s.peers).map((peer) => ({
    node: peer.name,
    up: peer.status === "up",
    late: peer.status === "up" && peer.late,
    downs: peer.downs,
    ...(peer.incarnation !== null ? { incarnation: peer.incarnation } : {}),
    ...(lends && peer.heard && peer.status === "up" ? { echo: { sentAt: peer.heard.sentAt, heldMs: now - peer.heard.at } } : {}),
  }));
  return {
    kind: "heartbeat",
    sentAt: now,
    config: p.config,
    holdsResources: s.holdsResources,
    ...(s.upstream ? { upstream: s.upstream } : {}),
    view,
    ...(s.granted ? { vote: { for: s.granted.to, incarnation: s.granted.incarnation, echo: s.granted.echo, leaseMs: leaseMs(s) } } : {}),
    deadtimeMs: p.deadtimeMs,
  };
}
