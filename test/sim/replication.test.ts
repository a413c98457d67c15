/**
 * The replicated volume in the world: two nodes run the volume engine
 * (modules/replication/engine.ts) over simulated disks (torn writes at a
 * crash) and a peer link that faults cut; a cluster manager in the scenario
 * promotes a node when none is primary (now and then, a second one while the
 * pair is cut apart: a split brain), resolves a split brain left standing by
 * discard-my-data on one side, and a client per primary writes stamped blocks.
 *
 * Per seed: protocol A, B or C, a split-brain policy, a link delay, 1–5
 * faults (crashes of either node with a restart, cuts of the link) in the
 * first 3 s, then every fault undone and the clients stopped. Checked:
 * - no lost write (protocol C): at each crash, a survivor connected to the
 *   crashed node and up to date holds, in every block, the newest write that
 *   was acknowledged as written on both disks, or a later one; so does the
 *   final content;
 * - split brain always detected, and only then: a handshake's verdict is
 *   split brain exactly when both nodes went on as primary apart (promoted
 *   while cut off, or told of the lost link while primary) since they last
 *   held the same generation (a target's resync done, or a verdict "in sync");
 * - convergence: 4 s after the faults end, both nodes connected, up to date,
 *   no dirty region, the same generation, identical content;
 * - an interrupted resync resumes: in a fifth of the seeds b starts as a new
 *   volume and a's data (a pattern) reaches it by a full resync that an early
 *   fault (a crash of either node, a cut) interrupts; the verdict after a
 *   resync cut off is a resync again (unless both went on apart), by the
 *   bitmap where it resumes; over the seeds, full resyncs are resumed, and
 *   the content converges as above;
 * - online verify then finds no region differing, or exactly the one the
 *   scenario changed on the secondary's disk (half the seeds), which a
 *   disconnect and connect resync from the primary.
 */
import { describe, expect, test } from "bun:test";
import { World, type SimNode } from "./world.ts";
import { deriveSeed, forEachSeed } from "./seeds.ts";
import { seededRandom } from "../../core/random.ts";
import { VolumeNode, type Machine } from "./replication-node.ts";
import { freshMeta, PROTOCOLS, type Protocol, type VolumeEvent } from "../../modules/replication/engine.ts";
import { SPLIT_BRAIN_POLICIES } from "../../modules/replication/generations.ts";

const BLOCK = 8;
const BLOCKS = 512;
/** Most writes land in a window of this many blocks, which moves now and then: most regions stay clean, so a bitmap that misses one shows. */
const HOT_WINDOW = 24;
const SIZE = BLOCK * BLOCKS;
const REGION = 32;
const FAULTS_END_MS = 3000;
const SETTLE_MS = 4000;
const TICK_MS = 20;
const DETECT_MS = 30;
const CONNECT_MS = 10;
const NAMES = ["a", "b"] as const;
type Name = (typeof NAMES)[number];
const other = (n: Name): Name => (n === "a" ? "b" : "a");

const stampAt = (data: Uint8Array, block: number) => new DataView(data.buffer, data.byteOffset).getUint32(block * BLOCK);

export interface Outcome {
  protocol: Protocol;
  splitBrains: number;
  crashes: number;
  torn: number;
  replicatedAcks: number;
  resyncs: number;
  verifyRepairs: number;
  /** Resyncs that resumed one cut off (the target's verdict "self-resumes"), and of those, the resumes of a full resync. */
  resumes: number;
  fullResumes: number;
}

export function runSeed(seed: number): Outcome {
  const world = new World({ seed });
  const r = world.random;
  const protocol: Protocol = r.chance(0.6) ? "C" : PROTOCOLS[r.int(PROTOCOLS.length)]!;
  const policy = SPLIT_BRAIN_POLICIES[r.int(SPLIT_BRAIN_POLICIES.length)]!;
  const allowSplit = r.chance(0.5);
  const extentRegions = 1 + r.int(4);
  const hotExtents = 1 + r.int(4);
  const window = 1 + r.int(16);
  const batchRegions = 1 + r.int(4);
  world.network.link().configure({ delayMs: r.between(0.2, 3) });
  const diskMs: [number, number] = [0.05, r.between(0.2, 3)];
  const outcome: Outcome = { protocol, splitBrains: 0, crashes: 0, torn: 0, replicatedAcks: 0, resyncs: 0, verifyRepairs: 0, resumes: 0, fullResumes: 0 };
  // Drawn from a stream of its own, so the other seeds' scenarios stay as they were.
  const fresh = seededRandom(deriveSeed(seed, "new-volume"));
  const newVolume = fresh.chance(0.2);

  const machines: Record<Name, Machine> = {
    a: { name: "a", data: new Uint8Array(SIZE), meta: { ...freshMeta(SIZE, REGION), gen: { current: 1, bitmap: 0, history: [] }, consistent: true } },
    b: { name: "b", data: new Uint8Array(SIZE), meta: newVolume ? freshMeta(SIZE, REGION) : { ...freshMeta(SIZE, REGION), gen: { current: 1, bitmap: 0, history: [] }, consistent: true } },
  };
  // A new b: a holds data of its own (beside each block's stamp, 0), which a full resync brings to b.
  if (newVolume) for (let b = 0; b < BLOCKS; b++) machines.a.data.set([b & 0xff, b >> 8, 0x5a, 0xa5], b * BLOCK + 4);
  /** The target's resync under way (full or by the bitmap), from its verdict until it is done; and one cut off before it was. */
  let syncing: { full: boolean } | null = null;
  let cutOff: { full: boolean } | null = null;
  const maxReplicated = new Array<number>(BLOCKS).fill(0);
  const diverged: Record<Name, boolean> = { a: false, b: false };
  const clients: Record<Name, { enabled: boolean; outstanding: Map<number, { start: number; count: number; session: number }> }> = {
    a: { enabled: true, outstanding: new Map() },
    b: { enabled: true, outstanding: new Map() },
  };
  const verified: Extract<VolumeEvent, { type: "verify-done" }>[] = [];
  let nextStamp = 1;
  let hotStart = 0;
  let session = 0;
  let linked = false;
  let linking = false;
  /** Whether both had gone on apart when this link came up: what its handshake must find. */
  let splitAtLink = false;
  /** A link is down and its ends have not both been told yet: no new one before (as TCP's old connection times out first). */
  let detecting = false;
  let partitioned = false;
  let loser: Name | null = null;
  const fail = (what: string): never => {
    const pattern = new RegExp(process.env.SIM_TRACE ?? "event|crash|boot|cut|heal");
    throw new Error(`${what}\n${world.trace.filter((l) => pattern.test(l)).slice(-60).join("\n")}`);
  };

  const observer = {
    reply(node: string, e: { id: number; error?: string; replicated?: boolean }) {
      const c = clients[node as Name];
      const w = c.outstanding.get(e.id);
      if (!w) return;
      c.outstanding.delete(e.id);
      // Issued and acknowledged within one session of the link, while the engine replicated: the peer must have written it.
      const viaPeer = w.session !== 0 && linked && w.session === session;
      if (!e.error && viaPeer && protocol === "C") {
        if (!e.replicated) fail(`${node}: write ${e.id} acknowledged under protocol C over a live link, not as written by the peer`);
        outcome.replicatedAcks++;
        for (let b = w.start; b < w.start + w.count; b++) maxReplicated[b] = Math.max(maxReplicated[b]!, e.id);
      }
    },
    event(node: string, e: VolumeEvent) {
      if (e.type === "verify-done") verified.push(e);
      const expected = splitAtLink;
      if (e.type === "split-brain") {
        outcome.splitBrains++;
        if (!expected) fail(`${node}: split brain declared, but the nodes were not both primary apart`);
      } else if (e.type === "decision") {
        if (e.decision.kind === "unrelated") fail(`${node}: unrelated data`);
        if (!e.decision.rule.startsWith("split-brain") && expected) fail(`${node}: both were primary apart, yet the verdict is ${JSON.stringify(e.decision)}`);
        if (e.decision.kind === "resync") outcome.resyncs++;
        if (e.decision.rule === "self-resumes") {
          outcome.resumes++;
          if (cutOff?.full) outcome.fullResumes++;
        }
        // After a resync cut off, the pair resumes it (or, where the source's bitmap no longer covers it, resyncs in full): never anything else.
        if (cutOff && !expected && e.decision.kind !== "resync") fail(`${node}: a resync was cut off, yet the verdict is ${JSON.stringify(e.decision)}`);
      } else if (e.type === "connection" && e.reason && e.reason !== "split-brain" && e.reason !== "operator") fail(`${node}: stands alone: ${e.reason}`);
      // The two hold the same generation again: what either did apart is no longer apart.
      if ((e.type === "resync-done" && e.role === "target") || (e.type === "decision" && e.decision.kind === "in-sync")) diverged.a = diverged.b = false;
      // A resync target gives its changes up from the start: it is inconsistent, never a source, until it has the source's.
      if (e.type === "connection" && e.conn === "sync-target") diverged[node as Name] = false;
      if (e.type === "decision" && e.decision.kind === "resync" && e.decision.role === "target") syncing = { full: e.decision.full };
      if (e.type === "resync-done" && e.role === "target") syncing = cutOff = null;
    },
    dropLink() {
      unlink(1);
    },
  };

  const nodes = {} as Record<Name, SimNode<VolumeNode>>;
  for (const n of NAMES)
    nodes[n] = world.addNode(n, (ctx) => new VolumeNode(ctx, machines[n], { volume: "data", self: n, peer: other(n), size: SIZE, regionBytes: REGION, protocol, splitBrain: policy, extentRegions, hotExtents, window, batchRegions }, observer, diskMs, BLOCK));
  const up = (n: Name) => world.isUp(n);
  const engine = (n: Name) => nodes[n].handler.engine;

  function maybeLink(): void {
    if (linked || linking || detecting) return;
    linking = true;
    world.clock.after(CONNECT_MS, () => {
      linking = false;
      if (linked || partitioned || !up("a") || !up("b") || engine("a").conn === "standalone" || engine("b").conn === "standalone") return;
      linked = true;
      splitAtLink = diverged.a && diverged.b;
      session++;
      for (const n of NAMES) nodes[n].handler.linkUp(session);
    });
  }

  function unlink(detectMs: number): void {
    if (!linked) return;
    linked = false;
    detecting = true;
    if (syncing) cutOff = syncing;
    const old = session;
    world.clock.after(detectMs, () => {
      detecting = false;
      for (const n of NAMES)
        if (up(n) && nodes[n].handler.session === old) {
          // A primary that learns it lost its peer goes on alone (one that crashes first never did).
          if (engine(n).role === "primary") diverged[n] = true;
          nodes[n].handler.linkDown();
        }
      maybeLink();
    });
  }

  function promote(n: Name): void {
    const e = engine(n);
    nodes[n].handler.input({ type: "promote", fresh: nodes[n].handler.fresh(), at: world.now() });
    if (e.role !== "primary") return;
    if (!linked) diverged[n] = true;
    clients[n].enabled = world.now() < FAULTS_END_MS;
  }

  function crash(n: Name): void {
    if (!up(n)) return;
    outcome.crashes++;
    outcome.torn += nodes[n].handler.tear((p) => r.chance(p));
    const s = other(n);
    if (protocol === "C" && linked && up(s) && engine(s).conn === "connected" && engine(n).conn === "connected")
      for (let b = 0; b < BLOCKS; b++)
        if (stampAt(machines[s].data, b) < maxReplicated[b]!) fail(`lost write: ${n} crashed and ${s} holds stamp ${stampAt(machines[s].data, b)} in block ${b}, below the acknowledged ${maxReplicated[b]}`);
    world.crash(n);
    clients[n].outstanding.clear();
    unlink(DETECT_MS);
  }

  function restart(n: Name): void {
    if (up(n)) return;
    world.restart(n);
    maybeLink();
  }

  function clientStep(n: Name): void {
    world.clock.after(r.between(0.5, 4), () => clientStep(n));
    const c = clients[n];
    if (!up(n) || !c.enabled || engine(n).role !== "primary" || c.outstanding.size >= 3) return;
    const count = 1 + r.int(3);
    if (r.chance(0.01)) hotStart = r.int(BLOCKS - HOT_WINDOW);
    const start = r.chance(0.8) ? hotStart + r.int(HOT_WINDOW - count + 1) : r.int(BLOCKS - count + 1);
    for (const w of c.outstanding.values()) if (start < w.start + w.count && w.start < start + count) return;
    const stamp = nextStamp++;
    const data = new Uint8Array(count * BLOCK);
    const view = new DataView(data.buffer);
    for (let b = 0; b < count; b++) {
      view.setUint32(b * BLOCK, stamp);
      view.setUint32(b * BLOCK + 4, stamp ^ 0xa5a5a5a5);
    }
    const conn = engine(n).conn;
    c.outstanding.set(stamp, { start, count, session: linked && (conn === "connected" || conn === "sync-source") ? session : 0 });
    nodes[n].handler.input({ type: "write", id: stamp, offset: start * BLOCK, data });
  }

  function tick(): void {
    world.clock.after(TICK_MS, tick);
    const ending = world.now() >= FAULTS_END_MS;
    if (ending) for (const n of NAMES) clients[n].enabled = false;
    // A split brain left standing: the operator discards one side's changes (a secondary's, if one is).
    const standing = NAMES.filter((n) => up(n) && engine(n).conn === "standalone");
    if (standing.length > 0 && up("a") && up("b")) {
      loser ??= engine("a").role === "secondary" ? "a" : engine("b").role === "secondary" ? "b" : "b";
      const l = engine(loser);
      if (l.role === "primary") {
        clients[loser].enabled = false;
        if (clients[loser].outstanding.size === 0) nodes[loser].handler.input({ type: "demote" });
      } else if (!l.discardMyData && l.conn === "standalone") nodes[loser].handler.input({ type: "discard-my-data" });
      const w = other(loser);
      if (engine(w).conn === "standalone") nodes[w].handler.input({ type: "connect" });
      maybeLink();
    }
    if (loser && up(loser) && engine(loser).conn === "connected") loser = null;
    const primaries = NAMES.filter((n) => up(n) && engine(n).role === "primary");
    const candidates = NAMES.filter((n) => up(n) && n !== loser && engine(n).disk === "up-to-date" && engine(n).conn !== "handshake" && engine(n).conn !== "sync-target" && !engine(n).peerPrimary);
    if (primaries.length === 0 && candidates.length > 0) promote(candidates[r.int(candidates.length)]!);
    else if (allowSplit && !ending && !linked && primaries.length === 1 && candidates.includes(other(primaries[0]!)) && r.chance(0.1)) promote(other(primaries[0]!));
  }

  world.clock.after(0, () => {
    maybeLink();
    tick();
    for (const n of NAMES) clientStep(n);
  });
  /** A crash of n and its restart, or a cut of the link (unless one stands) and its healing; `lasts` is drawn once it is needed. */
  function fault(cut: boolean, n: Name, lasts: () => number): void {
    if (!cut) {
      crash(n);
      world.clock.after(lasts(), () => restart(n));
    } else if (!partitioned) {
      partitioned = true;
      world.note("cut");
      world.network.partition(["a"], ["b"]);
      unlink(DETECT_MS);
      world.clock.after(lasts(), () => {
        partitioned = false;
        world.note("heal");
        world.network.heal();
        maybeLink();
      });
    }
  }
  // A new b: one fault more, early, while the first (full) resync is under way.
  if (newVolume)
    world.clock.after(fresh.between(5, 80), () => {
      const kind = fresh.int(3);
      fault(kind === 2, kind === 0 ? "a" : "b", () => fresh.between(20, 200));
    });
  const faults = 1 + r.int(5);
  for (let i = 0; i < faults; i++) {
    const at = r.between(200, FAULTS_END_MS - 300);
    const n: Name = r.chance(0.5) ? "a" : "b";
    const kind = r.int(3);
    world.clock.after(at, () => fault(kind === 2, n, () => (kind < 2 ? r.between(50, 600) : r.between(50, 800))));
  }
  world.clock.after(FAULTS_END_MS, () => {
    partitioned = false;
    world.network.heal();
    for (const n of NAMES) restart(n);
    maybeLink();
  });
  world.runUntil(FAULTS_END_MS + SETTLE_MS);

  for (const n of NAMES) {
    if (!up(n)) fail(`${n} is down at the end`);
    const e = engine(n);
    if (e.conn !== "connected" || e.disk !== "up-to-date" || e.oos.count !== 0 || e.inflight.size !== 0)
      fail(`${n} has not converged: ${e.conn}, ${e.disk}, ${e.oos.count} dirty, ${e.inflight.size} in flight`);
  }
  if (engine("a").gen.current !== engine("b").gen.current) fail("the generations differ at the end");
  for (let b = 0; b < BLOCKS; b++) {
    const sa = stampAt(machines.a.data, b);
    if (sa !== stampAt(machines.b.data, b)) fail(`block ${b} differs at the end: ${sa} and ${stampAt(machines.b.data, b)}`);
    if (sa < maxReplicated[b]!) fail(`lost write: block ${b} ends with stamp ${sa}, below the acknowledged ${maxReplicated[b]}`);
  }

  // Online verify from either side finds nothing on identical replicas, and finds a block the scenario changed on the secondary's disk;
  // a disconnect and connect then resyncs it from the primary.
  const secondary = NAMES.find((n) => engine(n).role === "secondary")!;
  const corrupt = r.chance(0.5);
  if (corrupt) machines[secondary].data[r.int(SIZE)]! ^= 0xff;
  nodes[r.chance(0.5) ? "a" : "b"].handler.input({ type: "verify" });
  world.runUntil(world.now() + 5000);
  if (verified.length !== 1 || verified[0]!.aborted || verified[0]!.checked !== SIZE / REGION || verified[0]!.differing !== +corrupt)
    fail(`verify found ${JSON.stringify(verified)}, expected ${+corrupt} region differing`);
  if (corrupt) {
    nodes[secondary].handler.input({ type: "disconnect" });
    world.runUntil(world.now() + 100);
    nodes[secondary].handler.input({ type: "connect" });
    world.runUntil(world.now() + 500);
    outcome.verifyRepairs++;
  }
  if (!machines.a.data.every((x, i) => x === machines.b.data[i])) fail("the replicas differ after verify");
  return outcome;
}

describe("replication sim", () => {
  test("no lost write, split brain always detected, convergence, over many seeds", () => {
    const totals = { splitBrains: 0, crashes: 0, torn: 0, replicatedAcks: 0, resyncs: 0, verifyRepairs: 0, resumes: 0, fullResumes: 0, C: 0 };
    forEachSeed({ test: "replication sim no lost write, split brain always detected, convergence, over many seeds", file: import.meta.path, seeds: 300 }, (seed) => {
      const o = runSeed(seed);
      totals.splitBrains += o.splitBrains;
      totals.crashes += o.crashes;
      totals.torn += o.torn;
      totals.replicatedAcks += o.replicatedAcks;
      totals.resyncs += o.resyncs;
      totals.verifyRepairs += o.verifyRepairs;
      totals.resumes += o.resumes;
      totals.fullResumes += o.fullResumes;
      if (o.protocol === "C") totals.C++;
    });
    if (!process.env.SIM_SEED) for (const [k, v] of Object.entries(totals)) expect([k, v > 0]).toEqual([k, true]);
  }, Math.max(120_000, Number(process.env.SIM_SEEDS ?? 0) * 150));
});

describe("replication sim regressions", () => {
  test("seed 3792: a resync target cut off mid-resync, then a second split brain: it was taken as the source and spread its half-written data", () => {
    runSeed(3792);
  });
});
