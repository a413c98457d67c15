/**
 * The heartbeat engine (modules/heartbeat/engine.ts) in the simulated world,
 * through the shell of heartbeat-node.ts. Per seed: two or three members (or a
 * pair and an arbiter), two links "lan" and "hb", one of them impaired (delay,
 * jitter, duplicates, reordering, up to 30% loss), the other healthy or lightly
 * lossy; timers of 100/250/500/1000 ms or 20/50/80/160 ms; each machine with
 * its own monotonic clock; and, but for the noise family, faults at random
 * times: crashes (restarted later or not), clean stops, freezes shorter and
 * longer than deadtime, partitions, one or both links cut between two nodes.
 * Everything is undone at the end (but for crashes meant to last).
 *
 * Checked while the world runs (each names the seed through forEachSeed):
 * 1. detection: a peer silent toward an observer (crashed, stopped, frozen, or
 *    every link from it cut) is not `up` in the observer's view
 *    `detectionBound` after the silence began (or after the observer thawed or
 *    started, if later), unless the silence ended before;
 * 2. no false death: a peer declared dead as "silent" had no frame reach the
 *    observer's engine within deadtime - interval before; with one link
 *    lossless and no faults, no peer is ever declared down, and that link is
 *    never reported down;
 * 3. safety, after every step of any node: with an arbiter, the two members
 *    are never both quorate unless each sees the other up, and the arbiter's
 *    grant never names a member while another holds a grant still valid on
 *    its own clock; with three members, two quorate members count a common
 *    vote (the same node and incarnation) whose giver sees both up, or is
 *    gone (down or restarted: a lease outlives its giver, by design);
 * 4. convergence: `convergenceBound` after the last change, with nothing cut
 *    or frozen, every running node sees every running node up and every node
 *    that is down not up, and, when most voters run, every running member is
 *    quorate;
 * 5. replay: a seed gives the same trace twice;
 * 6. self-stall: a node frozen past deadtime reports the stall, as possibly
 *    declared dead, as the first event of its first step after thaw, and
 *    learns (declared-dead) from each peer that declared it dead, once a
 *    heartbeat that peer sent after the declaration reached it; a node reports
 *    no stall unless it was frozen for long enough.
 *
 * Rules as stated in the brief that are refined here, and why:
 * - "No down while the other link delivers" (2) holds when that link loses
 *   nothing. When it loses up to 5% too, both links may drop every heartbeat
 *   of a deadtime (at 30% and 5%, (0.015)^3 per window with 20/80 ms timers),
 *   and then the engine is right to declare the peer dead: there, the
 *   precise rule (no frame reached it within deadtime - interval) is checked.
 * - The pairwise rule of (3) does not hold for three members: with the link
 *   between two cut and the third reaching both, both are quorate on its
 *   vote, by design; what must hold is that their quorums share a voter that
 *   vouches for both.
 * - A frozen process is not counted as quorate in (3): its quorum flag is the
 *   one it had when it stopped running, and it acts on nothing until its first
 *   step after thaw, where the stall guard judges quorum again; that step is
 *   checked. A stopped engine (said goodbye) is not counted either.
 * - "Considers the peer down" in (3) is any status but `up` (down, leaving, or
 *   never heard since start); a late peer is still up: both members are
 *   quorate while their vote leases run, which is before either declares the
 *   other dead.
 */
import { describe, expect, test } from "bun:test";
import type { Random } from "../../core/random.ts";
import { counts, type Effect } from "../../modules/heartbeat/engine.ts";
import { simConfig } from "./config.ts";
import { heartbeatNode, type HbProcess, type StepInfo } from "./heartbeat-node.ts";
import { forEachSeedAsync } from "./seeds.ts";
import { FAST, LINKS, NORMAL, type Timers } from "./timers.ts";
import { World, type LinkParams, type SimNode } from "./world.ts";

type Family = "noise" | "faults" | "arbiter";

const SEEDS: Record<Family, number> = { noise: 100, faults: 200, arbiter: 200 };
/** A family's time limit: a seed takes well under 100 ms, so long runs (SIM_SEEDS) get time in proportion. */
const timeLimitMs = (family: Family) => 60_000 + 100 * (Number(process.env.SIM_SEEDS) || SEEDS[family]);

/** (1) A silent peer is no longer up in an observer's view this long after the silence began. */
const detectionBound = (t: Timers, maxDelayMs: number) => t.deadtimeMs + t.intervalMs + maxDelayMs;
/** (4) Once the last fault is undone, the cluster has settled within this. */
const convergenceBound = (t: Timers) => t.initdeadMs + 2 * t.deadtimeMs;

type Fault =
  | { kind: "crash" | "stop"; node: string; restartAfterMs: number | null }
  | { kind: "freeze"; node: string; ms: number }
  | { kind: "partition"; side: string[]; ms: number }
  | { kind: "cut"; a: string; b: string; links: string[]; ms: number }
  /** a and b cut apart; later the bridge between them restarts quickly, and comes back cut from b. */
  | { kind: "bridge"; a: string; b: string; bridge: string; crashAfterMs: number; downMs: number; ms: number };

interface Recorded {
  at: number;
  node: string;
  incarnation: number;
  /** The node's own clock. */
  local: number;
  event: string;
  data: Record<string, unknown>;
}

type EventEffect = Extract<Effect, { type: "event" }>;
const isEvent = (e: Effect): e is EventEffect => e.type === "event";

interface Silence {
  since: number;
  /** When the observer must no longer see the peer up, if it runs. */
  due: number | null;
}

class Scenario {
  readonly world: World;
  /** Paths this seed went down (for the coverage check of a full run). */
  readonly taken = new Set<string>();
  private readonly r: Random;
  private readonly timers: Timers;
  private readonly members: string[];
  private readonly arbiter: string | null;
  private readonly names: string[];
  private readonly nodes = new Map<string, SimNode<HbProcess>>();
  private readonly startDelay = new Map<string, number>();
  private readonly maxDelayMs: number;
  /** A link that loses nothing, in a seed without faults: nobody may die then. */
  private readonly clean: string | null;
  private readonly events: Recorded[] = [];
  private readonly bootAt = new Map<string, number>();
  private readonly thawAt = new Map<string, number>();
  private readonly frozenAt = new Map<string, number>();
  private readonly firstAfterThaw = new Map<string, { frozenMs: number; incarnation: number }>();
  private readonly permanent = new Set<string>();
  private readonly cuts = new Set<string>();
  private readonly silence = new Map<string, Silence>();
  private changes = 0;
  /** Everything was undone at the end: the faults' own undo timers have nothing left to do. */
  private healed = false;
  private converged = -1;
  private readonly end: number;

  constructor(seed: number, family: Family) {
    this.world = new World({ seed });
    const r = (this.r = this.world.random);
    this.timers = r.chance(0.25) ? FAST : NORMAL;
    this.taken.add(this.timers === FAST ? "fast timers" : "normal timers");
    this.members = family === "arbiter" || r.chance(0.5) ? ["alpha", "bravo"] : ["alpha", "bravo", "charlie"];
    this.arbiter = family === "arbiter" ? "witness" : null;
    this.names = [...this.members, ...(this.arbiter ? [this.arbiter] : [])];

    const bad = LINKS[r.int(2)]!;
    const good = LINKS.find((l) => l !== bad)!;
    const lossless = r.chance(0.5);
    const impaired: LinkParams = {
      delayMs: r.between(0.1, 5),
      jitterMs: r.between(0, 3),
      loss: r.between(0, 0.3),
      duplicate: r.between(0, 0.1),
      reorder: r.between(0, 0.2),
      reorderMs: r.between(0, 5),
    };
    const healthy: LinkParams = {
      delayMs: r.between(0.1, 5),
      jitterMs: r.between(0, 1),
      loss: lossless ? 0 : r.between(0, 0.05),
      duplicate: r.between(0, 0.02),
      reorder: r.between(0, 0.05),
      reorderMs: r.between(0, 5),
    };
    this.world.network.link(bad).configure(impaired);
    this.world.network.link(good).configure(healthy);
    this.maxDelayMs = Math.max(...[impaired, healthy].map((l) => l.delayMs + l.jitterMs + l.reorderMs));
    this.clean = family === "noise" && lossless ? good : null;
    this.taken.add(lossless ? "other link lossless" : "other link lossy");

    const t = this.timers;
    const holder = this.arbiter ? [null, ...this.members][r.int(this.members.length + 1)]! : null;
    const config = simConfig({ members: this.members, arbiter: this.arbiter, links: LINKS, timers: t });
    for (const name of this.names) {
      const clockOffsetMs = r.chance(0.2) ? 0 : r.int(10_000_000);
      const firstStartDelayMs = r.between(0, t.initdeadMs / 4);
      this.startDelay.set(name, firstStartDelayMs);
      this.bootAt.set(name, 0);
      const onStep = (info: StepInfo) => this.onStep(info);
      this.nodes.set(name, this.world.addNode(name, (ctx) => heartbeatNode(ctx, { config, clockOffsetMs, firstStartDelayMs, holdsResources: holder === name, onStep })));
    }

    const warm = t.initdeadMs + 2 * t.deadtimeMs;
    const span = r.between(15, 30) * t.deadtimeMs;
    const healAt = warm + span;
    if (family !== "noise") {
      const count = 1 + r.int(4);
      for (let i = 0; i < count; i++) {
        const fault = this.drawFault();
        this.world.clock.after(warm + r.next() * span, () => this.apply(fault));
      }
    }
    this.world.clock.after(healAt, () => this.healAll());
    this.end = healAt + convergenceBound(t) + 1;
    this.changed();
  }

  async run(): Promise<void> {
    await this.world.runUntilSettled(this.end);
    if (this.converged !== this.changes) this.fail(`no convergence check ran after the last change (${this.changes})`);
  }

  // ---- faults ----

  private drawFault(): Fault {
    const r = this.r;
    const dt = this.timers.deadtimeMs;
    const node = () => this.names[r.int(this.names.length)]!;
    const lasting = () => r.between(0.1, 5) * dt;
    const roll = r.next();
    if (this.names.length === 3 && r.chance(0.1)) {
      const bridge = node();
      const ends = this.names.filter((n) => n !== bridge);
      const [a, b] = (r.chance(0.5) ? ends : ends.reverse()) as [string, string];
      return { kind: "bridge", a, b, bridge, crashAfterMs: r.between(0.5, 2) * dt, downMs: r.between(0, 0.5) * dt, ms: r.between(3, 5) * dt };
    }
    // A crash is often followed by a quick restart, inside the peers' deadtime (a process manager's restart).
    if (roll < 0.2) return { kind: "crash", node: node(), restartAfterMs: r.chance(0.2) ? null : r.chance(0.5) ? r.between(0, 0.9) * dt : lasting() };
    if (roll < 0.3) return { kind: "stop", node: node(), restartAfterMs: r.chance(0.2) ? null : lasting() };
    if (roll < 0.55) return { kind: "freeze", node: node(), ms: r.chance(0.4) ? r.between(0.1, 0.9) * dt : r.between(1.1, 5) * dt };
    if (roll < 0.75) {
      const one = r.chance(0.7);
      const side = one ? [node()] : this.names.filter(() => r.chance(0.5));
      if (side.length === 0 || side.length === this.names.length) side.splice(0, side.length, node());
      return { kind: "partition", side, ms: lasting() };
    }
    const a = node();
    const others = this.names.filter((n) => n !== a);
    const b = others[r.int(others.length)]!;
    return { kind: "cut", a, b, links: r.chance(0.5) ? [LINKS[r.int(2)]!] : [...LINKS], ms: lasting() };
  }

  private apply(f: Fault): void {
    const w = this.world;
    const after = (ms: number, fn: () => void) => w.clock.after(ms, fn);
    if (f.kind === "partition") {
      const rest = this.names.filter((n) => !f.side.includes(n));
      w.network.partition(f.side, rest);
      this.tallyPartition(f.side);
      this.changed();
      after(f.ms, () => {
        if (this.healed) return;
        w.network.heal();
        this.changed();
      });
      return;
    }
    if (f.kind === "cut") {
      this.cut(f.a, f.b, f.links, f.ms);
      this.taken.add(f.links.length === 1 ? "one link cut" : "both links cut");
      if (this.arbiter && f.links.length === 2 && this.members.includes(f.a) && this.members.includes(f.b)) this.taken.add("member-member links cut");
      return;
    }
    if (f.kind === "bridge") {
      this.cut(f.a, f.b, LINKS, f.ms);
      after(f.crashAfterMs, () => {
        if (this.healed || !this.running(f.bridge)) return;
        w.crash(f.bridge);
        this.changed();
        after(f.downMs, () => {
          if (this.healed) return;
          this.restart(f.bridge);
          this.cut(f.bridge, f.b, LINKS, f.ms);
          this.taken.add("bridge restarted");
        });
      });
      return;
    }
    if (!this.running(f.node)) return w.note(`fault ${f.kind} ${f.node} skipped: not running`);
    const role = f.node === this.arbiter ? "arbiter" : "member";
    if (f.kind === "freeze") {
      const inc = this.nodes.get(f.node)!.incarnation;
      w.freeze(f.node);
      this.frozenAt.set(f.node, w.now());
      this.taken.add(`${role} frozen ${f.ms > this.timers.deadtimeMs ? "past" : "within"} deadtime`);
      this.changed();
      after(f.ms, () => this.thaw(f.node, inc));
      return;
    }
    if (f.kind === "crash") w.crash(f.node);
    else this.nodes.get(f.node)!.signal("term", (h) => h.stop());
    this.taken.add(`${role} ${f.kind === "crash" ? "crashed" : "stopped"}${f.restartAfterMs === null ? " for good" : ""}`);
    if (f.restartAfterMs === null) this.permanent.add(f.node);
    this.changed();
    if (f.restartAfterMs !== null) after(f.restartAfterMs, () => this.restart(f.node));
  }

  /** Cut `links` between a and b, and restore them `ms` later (unless everything was healed by then). */
  private cut(a: string, b: string, links: readonly string[], ms: number): void {
    const net = this.world.network;
    for (const l of links) {
      net.link(l).cut(a, b);
      this.cuts.add(`${a} ${b} ${l}`);
    }
    this.changed();
    this.world.clock.after(ms, () => {
      if (this.healed) return;
      for (const l of links) {
        net.link(l).restore(a, b);
        this.cuts.delete(`${a} ${b} ${l}`);
      }
      this.changed();
    });
  }

  private tallyPartition(side: string[]): void {
    if (!this.arbiter) return void this.taken.add("partition");
    const alone = side.length === 1 ? side[0] : side.length === 2 ? this.names.find((n) => !side.includes(n)) : undefined;
    this.taken.add(alone === this.arbiter ? "arbiter isolated" : "member isolated");
  }

  private restart(name: string): void {
    if (this.world.isUp(name) || this.permanent.has(name)) return;
    this.world.restart(name);
    this.bootAt.set(name, this.world.now());
    this.startDelay.set(name, 0);
    if (name === this.arbiter) this.taken.add("arbiter restarted");
    this.changed();
  }

  private thaw(name: string, incarnation: number): void {
    const node = this.nodes.get(name)!;
    if (!node.frozen || node.incarnation !== incarnation) return;
    const now = this.world.now();
    const frozenAt = this.frozenAt.get(name)!;
    const frozenMs = now - frozenAt;
    this.firstAfterThaw.set(name, { frozenMs, incarnation });
    this.thawAt.set(name, now);
    this.world.thaw(name);
    if (frozenMs > this.timers.deadtimeMs) this.oweDeclaredDead(name, incarnation, frozenAt, now);
    this.changed();
  }

  /** Undo every fault but the crashes meant to last. */
  private healAll(): void {
    const w = this.world;
    for (const name of this.names) {
      const node = this.nodes.get(name)!;
      if (node.frozen) this.thaw(name, node.incarnation);
      else if (!node.up) this.restart(name);
    }
    w.network.heal();
    for (const c of this.cuts) {
      const [a, b, l] = c.split(" ") as [string, string, string];
      w.network.link(l).restore(a, b);
    }
    this.cuts.clear();
    this.healed = true;
    this.changed();
  }

  /** Something in the world changed: follow silences, and look for convergence one bound from now. */
  private changed(): void {
    const n = ++this.changes;
    this.followSilences();
    this.world.clock.after(convergenceBound(this.timers), () => this.checkConverged(n));
  }

  // ---- what the world lets through ----

  private proc(name: string): HbProcess | null {
    const node = this.nodes.get(name)!;
    return node.up ? node.handler : null;
  }

  /** Up, not frozen, engine running. */
  private running(name: string): HbProcess | null {
    const p = this.proc(name);
    return p && !this.nodes.get(name)!.frozen && p.state.phase === "running" ? p : null;
  }

  /** Nothing from `from` can reach `to`. */
  private silent(from: string, to: string): boolean {
    const node = this.nodes.get(from)!;
    return !node.up || node.frozen || LINKS.every((l) => this.world.network.blocked(from, to, this.world.network.link(l)) !== null);
  }

  private fail(message: string): never {
    const only = process.env.SIM_TRACE ? new RegExp(process.env.SIM_TRACE) : null;
    const lines = only ? this.world.trace.filter((l) => only.test(l)) : this.world.trace.slice(-40);
    throw new Error(`t=${this.world.now()}: ${message}\n  ${only ? `trace lines matching ${only}` : "last trace lines"}:\n    ${lines.join("\n    ")}`);
  }

  // ---- (1) detection ----

  private followSilences(): void {
    const now = this.world.now();
    const t = this.timers;
    for (const o of this.names) {
      for (const p of this.names) {
        if (o === p) continue;
        const key = `${o}<${p}`;
        if (!this.silent(p, o)) {
          this.silence.delete(key);
          continue;
        }
        let s = this.silence.get(key);
        if (!s) this.silence.set(key, (s = { since: now, due: null }));
        let due: number | null = null;
        if (this.running(o)) {
          const watching = Math.max(s.since, this.thawAt.get(o) ?? -Infinity);
          const started = this.bootAt.get(o)! + this.startDelay.get(o)!;
          // Before a peer is first heard, initdead stands in for deadtime.
          due = Math.max(watching, started + t.initdeadMs - t.deadtimeMs) + detectionBound(t, this.maxDelayMs);
        }
        if (due === s.due) continue;
        s.due = due;
        if (due !== null) {
          const episode = s;
          this.world.clock.after(due - now, () => this.checkDetected(o, p, episode, due));
        }
      }
    }
  }

  private checkDetected(o: string, p: string, s: Silence, due: number): void {
    if (this.silence.get(`${o}<${p}`) !== s || s.due !== due) return;
    const status = this.running(o)!.state.peers[p]!.status;
    if (status === "up") this.fail(`(1) ${p} has been silent toward ${o} since ${s.since}, yet at ${due} ${o} still sees it up`);
    this.taken.add("detection checked");
  }

  // ---- (4) convergence ----

  private checkConverged(n: number): void {
    if (n !== this.changes) return;
    const net = this.world.network;
    for (const name of this.names) if (this.nodes.get(name)!.frozen) return;
    for (const a of this.names)
      for (const b of this.names) for (const l of LINKS) if (a !== b && net.blocked(a, b, net.link(l)) !== null) return;
    this.converged = n;
    const up = this.names.filter((x) => this.proc(x) !== null);
    for (const o of up) {
      const view = this.proc(o)!.state.peers;
      for (const p of this.names) {
        if (p === o) continue;
        const want = up.includes(p);
        if ((view[p]!.status === "up") !== want) {
          this.fail(`(4) ${convergenceBound(this.timers)} ms after the last change, ${o} sees ${p} ${view[p]!.status}, and ${p} is ${want ? "up" : "down"}`);
        }
      }
    }
    if (up.length * 2 <= this.names.length) return;
    for (const m of this.members) {
      const proc = this.proc(m);
      if (proc && !proc.state.quorate) this.fail(`(4) ${convergenceBound(this.timers)} ms after the last change, ${m} is not quorate with ${up.join(", ")} up`);
    }
    this.taken.add(up.length === this.names.length ? "converged, all up" : "converged, some down");
  }

  // ---- checks on every step ----

  private onStep(info: StepInfo): void {
    const { proc, at, input, effects } = info;
    const events = effects.filter(isEvent);
    for (const e of events) this.events.push({ at, node: proc.name, incarnation: proc.incarnation, local: input.now, event: e.event, data: e.data });
    this.checkStall(proc, events);
    const t = this.timers;
    for (const { event, data } of events) {
      if (event === "heartbeat.link" && data.link === this.clean && data.status === "down") this.fail(`(2) ${proc.name} reports the lossless link ${this.clean} to ${data.peer} down`);
      if (event === "heartbeat.peer" && data.status === "leaving") this.taken.add("goodbye heard");
      if (event === "heartbeat.peer" && data.reason === "restarted") this.taken.add("restart noticed");
      if (event !== "heartbeat.peer" || data.status !== "down") continue;
      const peer = String(data.peer);
      if (this.clean) this.fail(`(2) ${proc.name} declared ${peer} down (${data.reason}), with no fault and the ${this.clean} link losing nothing`);
      if (data.reason !== "silent") continue;
      const heard = proc.heard.get(peer);
      const quiet = t.deadtimeMs - t.intervalMs;
      if (!heard) this.fail(`(2) ${proc.name} declared ${peer} dead as silent, but never heard it`);
      if (at - heard.at < quiet) this.fail(`(2) ${proc.name} declared ${peer} dead as silent, but a frame from it arrived ${at - heard.at} ms before (none may within ${quiet} ms)`);
      this.taken.add("silent death checked");
    }
    if (this.arbiter) this.checkArbiter();
    else if (this.members.length > 2) this.checkMajority();
  }

  /** (6) The stall is reported exactly when the node was frozen, first in its first step after thaw. */
  private checkStall(proc: HbProcess, events: EventEffect[]): void {
    const t = this.timers;
    const stalls = events.filter((e) => e.event === "heartbeat.stall");
    const thawed = this.firstAfterThaw.get(proc.name);
    if (!thawed || thawed.incarnation !== proc.incarnation) {
      if (stalls.length > 0) this.fail(`(6) ${proc.name} reports a stall (${JSON.stringify(stalls[0]!.data)}) but was not frozen`);
      return;
    }
    this.firstAfterThaw.delete(proc.name);
    if (thawed.frozenMs > t.deadtimeMs) {
      const first = events[0];
      if (first?.event !== "heartbeat.stall" || first.data.maybeDeclaredDead !== true) {
        this.fail(`(6) ${proc.name} was frozen ${thawed.frozenMs} ms (deadtime ${t.deadtimeMs}); its first step after thaw began with ${first ? `${first.event} ${JSON.stringify(first.data)}` : "no event"}`);
      }
      this.taken.add("stall checked");
    } else if (thawed.frozenMs + t.intervalMs <= t.warntimeMs && stalls.length > 0) {
      this.fail(`(6) ${proc.name} was frozen only ${thawed.frozenMs} ms, yet reports a stall`);
    }
  }

  /** (6) After a freeze past deadtime, the node learns from each peer that declared it dead then. */
  private oweDeclaredDead(name: string, incarnation: number, frozenAt: number, thawAt: number): void {
    for (const x of this.names) {
      if (x === name) continue;
      const xInc = this.nodes.get(x)!.incarnation;
      const down = this.events.findLast(
        (e) => e.node === x && e.incarnation === xInc && e.event === "heartbeat.peer" && e.data.peer === name && e.data.status === "down" && e.at >= frozenAt && e.at <= thawAt,
      );
      if (!down) continue;
      this.world.clock.after(convergenceBound(this.timers), () => {
        const f = this.proc(name);
        if (!f || f.incarnation !== incarnation || this.proc(x)?.incarnation !== xInc) return;
        const heard = f.heard.get(x);
        // Only once a heartbeat that x sent after declaring it dead has reached it.
        if (!heard || heard.incarnation !== this.proc(x)!.wireIncarnation || heard.sentAt === null || heard.sentAt < down.local) return;
        const told = this.events.some((e) => e.node === name && e.incarnation === incarnation && e.event === "heartbeat.declared-dead" && e.data.by === x && e.at >= thawAt);
        if (!told) this.fail(`(6) ${x} declared ${name} dead at ${down.at} while it was frozen; ${name} got a later heartbeat from ${x} but never reported heartbeat.declared-dead`);
        this.taken.add("declared-dead checked");
      });
    }
  }

  /** (3) No two quorate members that do not see each other; one valid grant at a time. */
  private checkArbiter(): void {
    const [a, b] = this.members as [string, string];
    const pa = this.running(a);
    const pb = this.running(b);
    if (pa?.state.quorate && pb?.state.quorate) {
      const ab = pa.state.peers[b]!.status;
      const ba = pb.state.peers[a]!.status;
      if (ab !== "up" || ba !== "up") this.fail(`(3) split brain: ${a} and ${b} both quorate while ${a} sees ${b} ${ab} and ${b} sees ${a} ${ba}`);
    }
    const w = this.proc(this.arbiter!);
    const granted = w?.state.phase === "running" ? w.state.granted : null;
    if (!granted) return;
    this.taken.add("grant checked");
    for (const m of this.members) {
      if (m === granted.to) continue;
      const pm = this.proc(m);
      const grant = pm?.state.phase === "running" ? pm.state.grant : null;
      if (grant && grant.until > pm!.now()) this.fail(`(3) the arbiter grants ${granted.to} while ${m} holds a grant until ${grant.until} (its clock reads ${pm!.now()})`);
    }
  }

  /**
   * (3, majority) Two quorate members count a common vote: the same process's
   * (name and incarnation). Its giver sees both up, unless it is gone (down or
   * restarted): a lease outlives its giver, by design.
   */
  private checkMajority(): void {
    const quorate = this.members.map((m) => this.running(m)).filter((p) => p !== null && p.state.quorate) as HbProcess[];
    const counted = (x: HbProcess) => [
      `${x.name}#${x.wireIncarnation}`,
      ...Object.values(x.state.peers)
        .filter((peer) => counts(x.state, peer, x.now()))
        .map((peer) => `${peer.name}#${peer.incarnation}`),
    ];
    const sees = (a: string, b: string) => this.proc(a)!.state.peers[b]!.status === "up";
    for (const x of quorate) {
      for (const y of quorate) {
        if (x.name >= y.name) continue;
        const fromY = counted(y);
        const common = counted(x).filter((z) => fromY.includes(z));
        const vouched = common.some((vote) => {
          const [z, inc] = vote.split("#") as [string, string];
          if (z === x.name) return sees(x.name, y.name);
          if (z === y.name) return sees(y.name, x.name);
          const giver = this.proc(z);
          return giver?.wireIncarnation !== Number(inc) || (sees(z, x.name) && sees(z, y.name));
        });
        if (!vouched) {
          const views = (z: string) => (this.proc(z) ? this.names.filter((n) => n !== z).map((n) => `${n} ${this.proc(z)!.state.peers[n]!.status}`).join(", ") : "down");
          this.fail(`(3) ${x.name} and ${y.name} both quorate, counting ${counted(x).join(" ")} and ${fromY.join(" ")}; no common vote whose giver sees both (${common.map((v) => `${v}: ${views(v.split("#")[0]!)}`).join("; ") || "none in common"})`);
        }
        this.taken.add("majority checked");
      }
    }
  }

  /** Whether the arbiter ever moved its vote from one member to another. */
  voteMoved(): boolean {
    const votes = this.events.filter((e) => e.event === "heartbeat.vote" && typeof e.data.to === "string").map((e) => e.data.to);
    return votes.some((v, i) => i > 0 && v !== votes[i - 1]);
  }
}

async function scenario(seed: number, family: Family): Promise<Scenario> {
  const s = new Scenario(seed, family);
  await s.run();
  return s;
}

/** The paths a full run of each family must take (so that no check is vacuous). */
const PATHS: Record<Family, string[]> = {
  noise: ["fast timers", "normal timers", "other link lossless", "other link lossy", "converged, all up"],
  faults: [
    "fast timers", "normal timers", "member crashed", "member crashed for good", "member stopped", "member stopped for good",
    "member frozen within deadtime", "member frozen past deadtime", "partition", "one link cut", "both links cut",
    "detection checked", "silent death checked", "stall checked", "declared-dead checked", "converged, all up", "converged, some down",
    "goodbye heard", "restart noticed", "majority checked", "bridge restarted",
  ],
  arbiter: [
    "fast timers", "normal timers", "member crashed", "arbiter crashed", "arbiter restarted", "member stopped", "arbiter frozen past deadtime",
    "member frozen past deadtime", "arbiter isolated", "member isolated", "member-member links cut", "one link cut", "detection checked",
    "silent death checked", "stall checked", "declared-dead checked", "grant checked", "vote moved", "converged, all up", "converged, some down",
    "goodbye heard", "restart noticed", "bridge restarted",
  ],
};

describe("heartbeat engine in the simulator", () => {
  for (const family of ["noise", "faults", "arbiter"] as const) {
    const name = `${family}: invariants hold over many seeds`;
    test(name, async () => {
      const seen = new Set<string>();
      const ran = await forEachSeedAsync({ test: name, file: import.meta.path, seeds: SEEDS[family] }, async (seed) => {
        const s = await scenario(seed, family);
        for (const p of s.taken) seen.add(p);
        if (s.voteMoved()) seen.add("vote moved");
      });
      if (ran.length >= SEEDS[family]) expect(PATHS[family].filter((p) => !seen.has(p))).toEqual([]);
    }, timeLimitMs(family));
  }

  test("a seed replays to the same trace; other seeds do not", async () => {
    const trace = async (seed: number, family: Family) => (await scenario(seed, family)).world.trace.join("\n");
    for (const family of ["noise", "faults", "arbiter"] as const) {
      const traces = [await trace(1, family), await trace(2, family), await trace(3, family)];
      for (const [i, t] of traces.entries()) expect(await trace(i + 1, family)).toBe(t);
      expect(new Set(traces).size).toBe(3);
    }
  });
});
