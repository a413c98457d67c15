/**
 * The lifecycle engine in the simulated world. Per seed: a random dependency
 * graph of modules, a shell that performs the engine's operations with random
 * delays, failures and hangs, random reloads (some rejected), a crash and
 * restart now and then, and a stop. A model kept by the shell, apart from the
 * engine, checks every step against the rules the engine promises.
 */
import { describe, expect, test } from "bun:test";
import type { Random } from "../../core/random.ts";
import { initialState, nextDeadline, step, type Effect, type Input, type OpKind, type Plan, type State } from "../../core/runtime/engine.ts";
import type { Cancel } from "../../core/time.ts";
import { forEachSeed } from "./seeds.ts";
import { World, type NodeContext } from "./world.ts";

const SEEDS = 300;

type OpEffect = Extract<Effect, { op: number }>;

interface Universe {
  names: string[];
  /** Fixed per module, as it is in Tandem: a module kind needs the same others whatever the config says. */
  after: ReadonlyMap<string, readonly string[]>;
}

interface Faults {
  fail: number;
  hang: number;
  /** Probability that an operation completes, but only after its timeout. */
  late: number;
  maxDelayMs: number;
  /** A module whose starts and reloads fail half the time once the node has booted (so that its dependents fail and recover). */
  flaky: string | null;
}

interface Setup {
  universe: Universe;
  faults: Faults;
  moduleTimeoutMs: number;
  stopTimeoutMs: number;
  violation: (message: string) => never;
  /** Called when an operation is made to hang. */
  onHang: () => void;
}

/**
 * What the shell knows from the operations it was asked for and the outcomes
 * it produced, and the rules every step of the engine must keep.
 */
class Model {
  /** Module -> the section hash it runs with. */
  readonly up = new Map<string, string>();
  op: { id: number; kind: OpKind; name: string; hash: string; deadline: number } | null = null;
  booting = true;
  stopAt: number | null = null;
  stopDeadline = Infinity;
  /** Why the exit code must be 1, if it must. */
  mustFail: string | null = null;
  /**
   * Module -> a section that failed to apply (start or reload). It is not to
   * be tried again while the plan keeps asking for it, and is forgotten as
   * soon as a plan asks for another section or drops the module.
   */
  private readonly failed = new Map<string, string>();
  private failedStart: string | null = null;
  /** The plan the engine was last given (start or reload) and the one it holds. */
  private requested: Plan | null = null;
  private held: string | null = null;

  constructor(private readonly setup: Setup) {}

  private fail(message: string): never {
    return this.setup.violation(message);
  }

  /** What an input means, before the engine sees it. */
  before(input: Input): void {
    this.failedStart = null;
    if ((input.type === "start" || input.type === "reload") && this.stopAt === null) this.requested = input.plan;
    if (input.type === "stop") this.beginStop(input.now);
    if (input.type === "done" && this.op?.id === input.op) this.finish(input.ok, input.now);
    if (input.type === "tick") {
      if (this.stopAt !== null && input.now >= this.stopDeadline) {
        if (!this.op) this.fail("the stop deadline passed with no operation under way, yet no exit");
        this.op = null;
        this.up.clear();
        this.mustFail ??= "abandoned at the stop timeout";
      } else if (this.op && input.now >= this.op.deadline) {
        this.finish(false, input.now);
      }
    }
  }

  /** Check what the engine did with `input`. */
  after(input: Input, prev: State, next: State, effects: Effect[]): void {
    if (input.type === "reload-rejected") {
      if (!Bun.deepEquals(next, prev)) this.fail("a rejected reload changed the state");
      if (effects.some((e) => e.type !== "event")) this.fail("a rejected reload produced operations");
    }
    const plan = next.plan!;
    const wanted = new Map(plan.modules.map((m) => [m.name, m.hash]));
    if (plan.hash !== this.held) {
      this.held = plan.hash;
      for (const [name, hash] of this.failed) if (wanted.get(name) !== hash) this.failed.delete(name);
    }
    let cleanedUp = false;
    for (const e of effects) {
      if (e.type === "event") {
        if (e.event === "runtime.running") this.bootDone(wanted);
      } else if (e.type === "exit") {
        this.exit(e.code, input.now);
      } else {
        cleanedUp ||= e.type === "stop" && e.name === this.failedStart;
        this.issue(e, wanted, input.now);
      }
    }
    if (this.failedStart !== null && !cleanedUp) this.fail(`the failed start of ${this.failedStart} was not followed by a stop`);
    if ((next.op?.id ?? null) !== (this.op?.id ?? null)) this.fail(`the engine waits on op ${next.op?.id}, the shell on ${this.op?.id}`);
    if (next.op && next.op.deadline !== this.op!.deadline) this.fail(`op ${next.op.id} deadline ${next.op.deadline}, expected ${this.op!.deadline}`);
    const engineUp = Object.values(next.modules).filter((m) => m.state === "running" || m.state === "reloading").map((m) => m.name);
    if (engineUp.sort().join() !== [...this.up.keys()].sort().join()) {
      this.fail(`the engine thinks ${engineUp.join() || "nothing"} runs, the shell ${[...this.up.keys()].join() || "nothing"}`);
    }
    if (this.op === null && this.stopAt === null) {
      if (this.booting) this.fail("boot stalled: nothing under way, yet not running");
      this.atRest(plan);
    }
  }

  /**
   * With nothing under way, the engine holds the newest plan and every
   * difference between it and what runs is explained by a remembered failure.
   */
  private atRest(plan: Plan): void {
    if (plan.hash !== this.requested!.hash) this.fail(`at rest with plan ${plan.hash}, the newest is ${this.requested!.hash}`);
    const wanted = new Map(plan.modules.map((m) => [m.name, m.hash]));
    for (const name of this.up.keys()) if (!wanted.has(name)) this.fail(`at rest, ${name} runs but is not in the plan`);
    for (const [name, hash] of wanted) {
      const running = this.up.get(name);
      const explained =
        running === hash ||
        this.failed.get(name) === hash ||
        (running === undefined && this.setup.universe.after.get(name)!.some((d) => wanted.has(d) && !this.up.has(d)));
      if (!explained) this.fail(`at rest, ${name} runs ${running ?? "nothing"}, the plan asks for ${hash}, and no failure explains it`);
    }
  }

  private beginStop(now: number): void {
    if (this.stopAt !== null) return;
    this.stopAt = now;
    this.stopDeadline = now + this.setup.stopTimeoutMs;
  }

  private finish(ok: boolean, now: number): void {
    const op = this.op!;
    this.op = null;
    if (op.kind === "stop") {
      if (!ok && this.stopAt !== null) this.mustFail ??= `the stop of ${op.name} failed during shutdown`;
      return;
    }
    if (ok) {
      this.up.set(op.name, op.hash);
      return;
    }
    this.failed.set(op.name, op.hash);
    if (op.kind === "start") {
      this.failedStart = op.name;
      if (this.booting && this.stopAt === null) {
        this.mustFail ??= `${op.name} failed to start at boot`;
        this.beginStop(now);
      }
    }
  }

  private issue(e: OpEffect, wanted: ReadonlyMap<string, string>, now: number): void {
    const what = `${e.type} ${e.name}`;
    if (this.op) this.fail(`${what} while op ${this.op.id} (${this.op.kind} ${this.op.name}) is under way`);
    if (e.type !== "stop") {
      if (this.stopAt !== null) this.fail(`${what} during shutdown`);
      if (wanted.get(e.name) !== e.hash) this.fail(`${what} with section ${e.hash}, the plan has ${wanted.get(e.name)}`);
      if (this.failed.get(e.name) === e.hash) this.fail(`${what} ${e.hash} retried while the plan still asks for it after it failed`);
    }
    const running = this.up.get(e.name);
    if (e.type === "start") {
      if (running !== undefined) this.fail(`${what}, which runs already`);
      for (const d of this.setup.universe.after.get(e.name)!) {
        if (wanted.has(d) && !this.up.has(d)) this.fail(`${what} before ${d}, which it depends on, runs`);
      }
    } else if (e.type === "reload") {
      if (running === undefined) this.fail(`${what}, which does not run`);
      if (running === e.hash) this.fail(`${what}, whose section did not change`);
    } else if (running !== undefined) {
      for (const y of this.up.keys()) {
        const dependsOnIt = this.setup.universe.after.get(y)!.includes(e.name);
        const droppedByPlan = !wanted.has(e.name) && wanted.has(y);
        if (dependsOnIt && !droppedByPlan) this.fail(`${what} while ${y}, which depends on it, runs`);
      }
      if (this.stopAt === null && wanted.has(e.name)) this.fail(`${what}, which is in the plan, outside shutdown`);
      this.up.delete(e.name);
    } else if (e.name !== this.failedStart) {
      this.fail(`${what}, which neither runs nor just failed to start`);
    }
    const deadline = e.type === "stop" && this.stopAt !== null ? this.stopDeadline : now + this.setup.moduleTimeoutMs;
    this.op = { id: e.op, kind: e.type, name: e.name, hash: e.hash, deadline };
  }

  private bootDone(wanted: ReadonlyMap<string, string>): void {
    if (!this.booting) this.fail("runtime.running twice");
    this.booting = false;
    if ([...this.up.keys()].sort().join() !== [...wanted.keys()].sort().join()) {
      this.fail(`boot finished with ${[...this.up.keys()].join()} running, the plan has ${[...wanted.keys()].join()}`);
    }
  }

  private exit(code: number, now: number): void {
    if (this.stopAt === null) this.fail(`exit ${code} with no stop`);
    if (now > this.stopDeadline) this.fail(`exit ${now - this.stopAt} ms after the stop began, the bound is ${this.setup.stopTimeoutMs} ms`);
    if (this.op) this.fail(`exit while op ${this.op.id} is under way`);
    if (this.up.size > 0) this.fail(`exit while ${[...this.up.keys()].join()} run`);
    const want = this.mustFail ? 1 : 0;
    if (code !== want) this.fail(`exit code ${code}, expected ${want} (${this.mustFail ?? "nothing failed"})`);
  }
}

interface LifecycleNode {
  readonly model: Model;
  reload(plan: Plan): void;
  reject(reason: string): void;
  stop(): void;
}

function describeInput(input: Input): string {
  if (input.type === "done") return `done #${input.op} ${input.ok ? "ok" : "failed"}`;
  if (input.type === "start" || input.type === "reload") {
    return `${input.type} ${input.plan.hash} ${input.plan.modules.map((m) => m.hash).join(" ")}`;
  }
  return input.type;
}

/** The runtime shell as a sim node: it feeds the engine, performs its operations, keeps its tick. */
function lifecycleNode(ctx: NodeContext, setup: Setup, config: Plan): LifecycleNode {
  const model = new Model(setup);
  const { faults } = setup;
  let state = initialState;
  let tick: Cancel | null = null;

  const perform = (e: OpEffect) => {
    const r = ctx.random;
    if (r.chance(faults.hang)) {
      ctx.trace(`${e.type} ${e.name} #${e.op} hangs`);
      return setup.onHang();
    }
    const late = r.chance(faults.late);
    const delay = late ? setup.moduleTimeoutMs + 1 + r.int(500) : 1 + r.int(faults.maxDelayMs);
    const ok = !r.chance(e.name === faults.flaky && !model.booting && e.type !== "stop" ? 0.5 : faults.fail);
    if (late) ctx.trace(`${e.type} ${e.name} #${e.op} late`);
    ctx.clock.after(delay, () => feed({ type: "done", op: e.op, ok, error: ok ? undefined : "injected failure", now: ctx.clock.now() }));
  };

  const feed = (input: Input) => {
    ctx.trace(describeInput(input));
    model.before(input);
    const out = step(state, input);
    model.after(input, state, out.state, out.effects);
    state = out.state;
    let exit: number | null = null;
    for (const e of out.effects) {
      if (e.type === "event") ctx.trace(`${e.event} ${JSON.stringify(e.data)}`);
      else if (e.type === "exit") exit = e.code;
      else {
        ctx.trace(`${e.type} ${e.name} ${e.hash} #${e.op}`);
        perform(e);
      }
    }
    if (exit !== null) return ctx.exit(exit);
    tick?.();
    tick = null;
    const at = nextDeadline(state);
    if (at !== null) tick = ctx.clock.after(at - ctx.clock.now(), () => feed({ type: "tick", now: ctx.clock.now() }));
  };

  feed({ type: "start", plan: config, now: ctx.clock.now() });
  return {
    model,
    reload: (plan) => feed({ type: "reload", plan, now: ctx.clock.now() }),
    reject: (reason) => feed({ type: "reload-rejected", reason, now: ctx.clock.now() }),
    stop: () => feed({ type: "stop", now: ctx.clock.now() }),
  };
}

function shuffle<T>(xs: T[], r: Random): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

function makeUniverse(r: Random): Universe {
  const names = Array.from({ length: 3 + r.int(5) }, (_, i) => `m${i}`);
  const after = new Map(names.map((n, i) => [n, names.slice(0, i).filter(() => r.chance(0.4))]));
  return { names, after };
}

/** A module's section is one of a few variants, so that a reload may also go back to one tried before. */
const section = (name: string, r: Random) => `${name}.${r.int(3)}`;

/**
 * The next config: modules come and go (one that comes brings what it needs,
 * as a role would), sections change; the module list in a random order.
 */
function nextPlan(cur: Plan, u: Universe, r: Random, version: number): Plan {
  const mods = new Map(cur.modules.map((m) => [m.name, m.hash]));
  const add = (name: string) => {
    if (mods.has(name)) return;
    for (const d of u.after.get(name)!) add(d);
    mods.set(name, section(name, r));
  };
  for (const name of u.names) {
    const present = mods.has(name);
    if (r.chance(0.25)) {
      if (!present) add(name);
      else if (mods.size > 1) mods.delete(name);
    } else if (present && r.chance(0.3)) {
      mods.set(name, section(name, r));
    }
  }
  const modules = shuffle([...mods], r).map(([name, hash]) => ({ name, hash, after: u.after.get(name)! }));
  return { ...cur, hash: `p${version}`, modules };
}

interface Outcome {
  trace: string[];
  calm: boolean;
}

function scenario(seed: number): Outcome {
  const world = new World({ seed });
  const r = world.random;
  const universe = makeUniverse(r);
  const n = universe.names.length;
  const roll = r.next();
  const calm = roll < 0.3;
  const rough = roll >= 0.8;
  const maxDelayMs = 5 + r.int(150);
  const needed = universe.names.filter((m) => universe.names.some((x) => universe.after.get(x)!.includes(m)));
  const flaky = !calm && needed.length > 0 && r.chance(0.5) ? needed[r.int(needed.length)]! : null;
  const faults: Faults = calm
    ? { fail: 0, hang: 0, late: 0, maxDelayMs, flaky }
    : rough
      ? { fail: 0.15, hang: 0.05, late: 0.05, maxDelayMs, flaky }
      : { fail: 0.02, hang: 0.01, late: 0.01, maxDelayMs, flaky };
  const moduleTimeoutMs = 300 + r.int(500);
  const stopTimeoutMs = calm ? (n + 1) * maxDelayMs + r.int(1000) : 100 + r.int(2900);
  const violation = (message: string): never => {
    throw new Error(`t=${world.now()}: ${message}\n  last trace lines:\n    ${world.trace.slice(-30).join("\n    ")}`);
  };
  // An impatient operator stops the node soon after an operation hangs (so that a stop meets a hung operation).
  const impatient = !calm && r.chance(0.3);
  const onHang = () => {
    if (impatient) world.clock.after(r.int(100), stop);
  };
  const setup: Setup = { universe, faults, moduleTimeoutMs, stopTimeoutMs, violation, onHang };

  let version = 1;
  const first = universe.names.filter((_, i) => i === 0 || r.chance(0.6));
  let config: Plan = {
    hash: "p1",
    modules: shuffle(first.map((name) => ({ name, hash: section(name, r), after: universe.after.get(name)! })), r),
    moduleTimeoutMs,
    stopTimeoutMs,
  };
  const node = world.addNode("n1", (ctx) => lifecycleNode(ctx, setup, config));

  const reloads = Array.from({ length: r.int(16) }, () => r.int(6000)).sort((a, b) => a - b);
  for (const at of reloads) {
    world.clock.after(at, () => {
      if (r.chance(0.15)) {
        node.signal("hup (bad config)", (h) => h.reject("injected bad config"));
        return;
      }
      config = nextPlan(config, universe, r, ++version);
      node.signal("hup", (h) => h.reload(config));
    });
  }
  const crashAt = r.chance(0.3) ? r.int(6000) : null;
  const restartAt = crashAt === null ? null : crashAt + 10 + r.int(500);
  const lastInput = Math.max(0, ...reloads, restartAt ?? 0);
  const settledBy = lastInput + (n + 1) * maxDelayMs + 1;
  const stopAt = calm ? settledBy + 1 + r.int(1000) : r.int(8000);

  let stopSent = false;
  function stop() {
    if (stopSent) return;
    stopSent = true;
    const delivered = node.signal("term", (h) => h.stop());
    world.clock.after(stopTimeoutMs + 1, () => {
      if (delivered && (node.up || node.exitCode === null)) violation(`no exit within ${stopTimeoutMs} ms of the stop`);
    });
  }
  world.clock.after(stopAt, stop);
  if (crashAt !== null) {
    let crashed = false;
    world.clock.after(crashAt, () => {
      crashed = node.up && !stopSent;
      if (crashed) world.crash("n1");
    });
    world.clock.after(restartAt!, () => {
      if (crashed && !stopSent) world.restart("n1");
    });
  }
  if (calm) {
    world.clock.after(settledBy, () => {
      const { model } = node.handler;
      const want = config.modules.map((m) => `${m.name}=${m.hash}`).sort().join();
      const have = [...model.up].map(([name, hash]) => `${name}=${hash}`).sort().join();
      if (model.op || have !== want) violation(`not settled ${settledBy - lastInput} ms after the last input: runs ${have}, the plan has ${want}`);
    });
  }
  world.clock.runAll(stopAt + stopTimeoutMs + 10_000);
  if (world.clock.pending() > 0) violation(`${world.clock.pending()} timers left at the end`);
  if (calm && node.exitCode !== 0) violation(`a run without faults exited ${node.exitCode}`);
  return { trace: world.trace, calm };
}

/** Whether some module, failed because a module it depends on failed, runs again later in the same boot. */
function dependentRecovered(trace: string[]): boolean {
  const waiting = new Set<string>();
  for (const line of trace) {
    if (line.includes("boot n1")) waiting.clear();
    const failed = /"module":"(\w+)","state":"failed","error":"a module it depends on failed"/.exec(line);
    if (failed) waiting.add(failed[1]!);
    const up = /"module":"(\w+)","state":"running"/.exec(line);
    if (up && waiting.has(up[1]!)) return true;
  }
  return false;
}

describe("lifecycle engine in the simulator", () => {
  test("invariants hold over many seeds", () => {
    // How many seeds went down each path: a full run must exercise every one of them.
    const seen = new Map<string, number>();
    const tally = (what: string, hit: boolean) => hit && seen.set(what, (seen.get(what) ?? 0) + 1);
    const ran = forEachSeed({ test: "invariants hold over many seeds", file: import.meta.path, seeds: SEEDS }, (seed) => {
      const { trace, calm } = scenario(seed);
      const has = (pattern: RegExp) => trace.some((l) => pattern.test(l));
      tally("calm", calm);
      tally("boot failed", has(/runtime\.stopping \{"exitCode":1\}/));
      tally("stop timeout", has(/runtime\.stop-timeout/));
      tally("reload failed", has(/reloadFailed/));
      tally("dependency failed on reload", has(/a module it depends on failed/));
      tally("dependent recovered", dependentRecovered(trace));
      tally("rejected reload", has(/"result":"rejected"/));
      tally("hang", has(/ hangs$/));
      tally("late completion", has(/ late$/));
      tally("crash", has(/crash n1/));
      tally("exit 0", has(/exit n1 code=0/));
      tally("exit 1", has(/exit n1 code=1/));
    });
    if (ran.length >= SEEDS) {
      const paths = [
        "calm", "boot failed", "stop timeout", "reload failed", "dependency failed on reload", "dependent recovered",
        "rejected reload", "hang", "late completion", "crash", "exit 0", "exit 1",
      ];
      expect(paths.filter((p) => !seen.has(p))).toEqual([]);
    }
  });

  test("a seed replays to the same trace; other seeds do not", () => {
    const traces = [1, 2, 3, 4, 5].map((seed) => scenario(seed).trace);
    traces.forEach((trace, i) => expect(scenario(i + 1).trace).toEqual(trace));
    expect(new Set(traces.map((t) => t.join("\n"))).size).toBe(5);
  });
});
