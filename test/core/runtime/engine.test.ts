import { describe, expect, test } from "bun:test";
import {
  initialState,
  nextDeadline,
  orderModules,
  step,
  type Effect,
  type Input,
  type ModulePlan,
  type Plan,
  type State,
} from "../../../core/runtime/engine.ts";

const mod = (name: string, after: string[] = [], hash = `${name}1`): ModulePlan => ({ name, after, hash });

const plan = (modules: ModulePlan[], hash = "p1"): Plan => ({ hash, modules, moduleTimeoutMs: 1_000, stopTimeoutMs: 5_000 });

type OpEffect = Extract<Effect, { op: number }>;
type Event = Extract<Effect, { type: "event" }>;
/** An input without its time: the shell stamps it. */
type Untimed<I = Input> = I extends unknown ? Omit<I, "now"> : never;

/**
 * A hand-driven shell: feeds inputs at a time the test sets, keeps a log of
 * the operations the engine asks for ("start a", "exit 1") and of its events,
 * and remembers the operation it is waiting on.
 */
class Shell {
  s: State = initialState;
  now = 0;
  log: string[] = [];
  events: Event[] = [];
  effects: Effect[] = [];
  pending: OpEffect | null = null;

  feed(input: Untimed): Effect[] {
    const { state, effects } = step(this.s, { ...input, now: this.now } as Input);
    this.s = state;
    this.effects = effects;
    for (const e of effects) {
      if (e.type === "event") this.events.push(e);
      else if (e.type === "exit") this.log.push(`exit ${e.code}`);
      else {
        expect(this.pending === null || this.pending.op !== e.op).toBe(true);
        this.pending = e;
        this.log.push(`${e.type} ${e.name}`);
      }
    }
    return effects;
  }

  /** Complete the operation the engine waits on. */
  done(ok = true, error?: string): Effect[] {
    const op = this.pending;
    if (!op) throw new Error("no operation pending");
    this.pending = null;
    return this.feed({ type: "done", op: op.op, ok, error });
  }

  /** Complete every operation successfully until the engine waits on none (at most 100: an engine that never settles fails the test). */
  settle(): void {
    for (let n = 0; this.pending; n++) {
      if (n === 100) throw new Error(`the engine did not settle after 100 operations: ${this.log.slice(-5).join(", ")}`);
      this.done();
    }
  }

  /** The log since the last call. */
  take(): string[] {
    const out = this.log;
    this.log = [];
    return out;
  }

  state(name: string) {
    return this.s.modules[name];
  }
}

function running(modules: ModulePlan[]): Shell {
  const sh = new Shell();
  sh.feed({ type: "start", plan: plan(modules) });
  sh.settle();
  sh.take();
  return sh;
}

describe("boot and shutdown", () => {
  test("start order follows dependencies, whatever the order in the plan", () => {
    const sh = new Shell();
    sh.feed({ type: "start", plan: plan([mod("c", ["b"]), mod("a"), mod("d", ["a"]), mod("b", ["a"])]) });
    sh.settle();
    expect(sh.take()).toEqual(["start a", "start d", "start b", "start c"]);
    expect(sh.s.phase).toBe("running");
    expect(sh.events.at(-1)).toEqual({ type: "event", event: "runtime.running", data: { config: "p1" } });
    expect(Object.values(sh.s.modules).every((m) => m.state === "running")).toBe(true);
  });

  test("stop is the reverse of start, then exit 0", () => {
    const sh = running([mod("c", ["b"]), mod("a"), mod("d", ["a"]), mod("b", ["a"])]);
    sh.feed({ type: "stop" });
    sh.settle();
    expect(sh.take()).toEqual(["stop c", "stop b", "stop d", "stop a", "exit 0"]);
    expect(sh.s.phase).toBe("stopped");
    expect(nextDeadline(sh.s)).toBeNull();
  });

  test("a stop during boot waits for the start under way, then stops what runs", () => {
    const sh = new Shell();
    sh.feed({ type: "start", plan: plan([mod("a"), mod("b", ["a"])]) });
    expect(sh.feed({ type: "stop" }).filter((e) => e.type !== "event")).toEqual([]);
    sh.settle();
    expect(sh.take()).toEqual(["start a", "stop a", "exit 0"]);
  });

  test("a stop before any start exits 0 at once", () => {
    const sh = new Shell();
    sh.feed({ type: "stop" });
    expect(sh.take()).toEqual(["exit 0"]);
  });

  test("start failure at boot: cleanup stop of it, then everything in reverse, exit 1", () => {
    const sh = new Shell();
    sh.feed({ type: "start", plan: plan([mod("a"), mod("b", ["a"]), mod("c", ["b"]), mod("x")]) });
    sh.done();
    sh.done(false, "port in use");
    expect(sh.state("b")).toMatchObject({ state: "stopping", error: "port in use" });
    sh.settle();
    expect(sh.take()).toEqual(["start a", "start b", "stop b", "stop a", "exit 1"]);
    expect(sh.state("b")!.state).toBe("failed");
    expect(sh.state("c")).toBeUndefined();
  });

  test("a start that times out at boot fails the boot; its late done is ignored", () => {
    const sh = new Shell();
    sh.feed({ type: "start", plan: plan([mod("a"), mod("b", ["a"])]) });
    const start = sh.pending!;
    expect(nextDeadline(sh.s)).toBe(1_000);
    sh.now = 1_000;
    sh.feed({ type: "tick" });
    expect(sh.take()).toEqual(["start a", "stop a"]);
    expect(sh.events.some((e) => e.data.timeout === "start")).toBe(true);
    const before = sh.s;
    const late = step(before, { type: "done", op: start.op, ok: true, now: 1_001 });
    expect(late.state).toBe(before);
    expect(late.effects).toEqual([]);
    sh.settle();
    expect(sh.take()).toEqual(["exit 1"]);
  });

  test("stop timeout abandons what is left and exits 1", () => {
    const sh = running([mod("a"), mod("b", ["a"])]);
    sh.now = 100;
    sh.feed({ type: "stop" });
    expect(sh.take()).toEqual(["stop b"]);
    expect(nextDeadline(sh.s)).toBe(5_100);
    sh.now = 5_100;
    sh.feed({ type: "tick" });
    expect(sh.take()).toEqual(["exit 1"]);
    expect(sh.events.find((e) => e.event === "runtime.stop-timeout")!.data).toEqual({ abandoned: ["a", "b"] });
    expect(nextDeadline(sh.s)).toBeNull();
  });

  test("a stop that meets a hung start is bounded by the stop timeout, not the module timeout", () => {
    const sh = new Shell();
    sh.feed({ type: "start", plan: { ...plan([mod("a"), mod("b", ["a"])]), moduleTimeoutMs: 10_000, stopTimeoutMs: 300 } });
    sh.now = 50;
    sh.feed({ type: "stop" });
    expect(nextDeadline(sh.s)).toBe(350);
    sh.now = 350;
    sh.feed({ type: "tick" });
    expect(sh.take()).toEqual(["start a", "exit 1"]);
    expect(sh.events.find((e) => e.event === "runtime.stop-timeout")!.data).toEqual({ abandoned: ["a"] });
  });

  test("a failed stop during shutdown goes on with the others and exits 1", () => {
    const sh = running([mod("a"), mod("b", ["a"])]);
    sh.feed({ type: "stop" });
    sh.done(false, "stuck");
    sh.settle();
    expect(sh.take()).toEqual(["stop b", "stop a", "exit 1"]);
  });

  test("the stop timeout bounds each stop: a later stop gets only the time that is left", () => {
    const sh = running([mod("a"), mod("b", ["a"])]);
    sh.feed({ type: "stop" });
    sh.now = 4_000;
    sh.done();
    expect(sh.s.op!.deadline).toBe(5_000);
  });
});

describe("reload", () => {
  const base = [mod("a"), mod("b", ["a"]), mod("c", ["b"])];

  test("a changed section gives exactly one reload, for that module", () => {
    const sh = running(base);
    sh.feed({ type: "reload", plan: plan([mod("a"), mod("b", ["a"], "b2"), mod("c", ["b"])], "p2") });
    expect(sh.effects.filter((e) => e.type !== "event")).toEqual([{ type: "reload", op: sh.pending!.op, name: "b", hash: "b2" }]);
    sh.settle();
    expect(sh.take()).toEqual(["reload b"]);
    expect(sh.state("b")).toEqual({ name: "b", state: "running", hash: "b2", after: ["a"] });
  });

  test("runtime.reloaded once every module took the reloaded plan, a failed reload included; not for a reload adopted during start", () => {
    const sh = running(base);
    sh.events = [];
    sh.feed({ type: "reload", plan: plan([mod("a"), mod("b", ["a"], "b2"), mod("c", ["b"], "c2")], "p2") });
    sh.done();
    expect(sh.events.map((e) => e.event)).not.toContain("runtime.reloaded");
    sh.done(false, "bad section");
    expect(sh.events.filter((e) => e.event === "runtime.reloaded")).toEqual([{ type: "event", event: "runtime.reloaded", data: { config: "p2" } }]);
    const starting = new Shell();
    starting.feed({ type: "start", plan: plan(base) });
    starting.feed({ type: "reload", plan: plan(base, "p2") });
    starting.settle();
    expect(starting.events.map((e) => e.event).filter((e) => e.startsWith("runtime.r"))).toEqual(["runtime.running"]);
    starting.feed({ type: "reload", plan: plan(base, "p3") });
    expect(starting.events.at(-1)).toEqual({ type: "event", event: "runtime.reloaded", data: { config: "p3" } });
  });

  test("a reload that changes no section touches no module", () => {
    const sh = running(base);
    sh.feed({ type: "reload", plan: plan(base, "p2") });
    expect(sh.take()).toEqual([]);
    expect(sh.s.plan!.hash).toBe("p2");
  });

  test("removed modules stop, dependents first; added ones start after their dependencies", () => {
    const sh = running(base);
    sh.feed({ type: "reload", plan: plan([mod("a"), mod("y", ["x"]), mod("x", ["a"])], "p2") });
    sh.settle();
    expect(sh.take()).toEqual(["stop c", "stop b", "start x", "start y"]);
    expect(sh.s.phase).toBe("running");
    expect(sh.state("b")!.state).toBe("stopped");
  });

  test("a failed reload keeps the old section and is not retried until the section changes again", () => {
    const sh = running(base);
    sh.feed({ type: "reload", plan: plan([mod("a"), mod("b", ["a"], "b2"), mod("c", ["b"])], "p2") });
    sh.done(false, "bad address");
    expect(sh.state("b")).toMatchObject({ state: "running", hash: "b1", rejected: "b2", error: "bad address" });
    sh.feed({ type: "reload", plan: plan([mod("a", [], "a2"), mod("b", ["a"], "b2"), mod("c", ["b"])], "p3") });
    sh.settle();
    expect(sh.take()).toEqual(["reload b", "reload a"]);
    sh.feed({ type: "reload", plan: plan([mod("a", [], "a2"), mod("b", ["a"], "b3"), mod("c", ["b"])], "p4") });
    sh.settle();
    expect(sh.take()).toEqual(["reload b"]);
    expect(sh.state("b")).toEqual({ name: "b", state: "running", hash: "b3", after: ["a"] });
  });

  test("a failed section is tried again after a plan went back to the old one and then asks for it anew", () => {
    const sh = running(base);
    const withB = (hash: string, planHash: string) => plan([mod("a"), mod("b", ["a"], hash), mod("c", ["b"])], planHash);
    sh.feed({ type: "reload", plan: withB("b2", "p2") });
    sh.done(false, "bad address");
    sh.feed({ type: "reload", plan: withB("b1", "p3") });
    expect(sh.take()).toEqual(["reload b"]);
    expect(sh.state("b")).toEqual({ name: "b", state: "running", hash: "b1", after: ["a"] });
    sh.feed({ type: "reload", plan: withB("b2", "p4") });
    sh.settle();
    expect(sh.take()).toEqual(["reload b"]);
    expect(sh.state("b")!.hash).toBe("b2");
  });

  test("a module that failed to start is started again when a plan drops it and a later one adds it back", () => {
    const sh = running([mod("a")]);
    sh.feed({ type: "reload", plan: plan([mod("a"), mod("x", ["a"])], "p2") });
    sh.done(false, "no such device");
    sh.settle();
    sh.feed({ type: "reload", plan: plan([mod("a"), mod("x", ["a"])], "p3") });
    sh.feed({ type: "reload", plan: plan([mod("a")], "p4") });
    sh.feed({ type: "reload", plan: plan([mod("a"), mod("x", ["a"])], "p5") });
    sh.settle();
    expect(sh.take()).toEqual(["start x", "stop x", "start x"]);
    expect(sh.state("x")).toEqual({ name: "x", state: "running", hash: "x1", after: ["a"] });
  });

  test("a start failure on reload fails that module and its dependents; the others keep running", () => {
    const sh = running([mod("a"), mod("b", ["a"])]);
    sh.feed({ type: "reload", plan: plan([mod("a"), mod("b", ["a"]), mod("x", ["a"]), mod("y", ["x"]), mod("z", ["a"])], "p2") });
    sh.done(false, "no such device");
    sh.settle();
    expect(sh.take()).toEqual(["start x", "stop x", "start z"]);
    expect(sh.s.phase).toBe("running");
    expect(sh.state("x")).toMatchObject({ state: "failed", error: "no such device" });
    expect(sh.state("y")).toMatchObject({ state: "failed", error: "a module it depends on failed" });
    expect(["a", "b", "z"].map((n) => sh.state(n)!.state)).toEqual(["running", "running", "running"]);
    sh.feed({ type: "reload", plan: plan([mod("a"), mod("b", ["a"]), mod("x", ["a"]), mod("y", ["x"]), mod("z", ["a"])], "p3") });
    expect(sh.take()).toEqual([]);
    sh.feed({ type: "reload", plan: plan([mod("a"), mod("b", ["a"]), mod("x", ["a"], "x2"), mod("y", ["x"]), mod("z", ["a"])], "p4") });
    sh.settle();
    expect(sh.take()).toEqual(["start x", "start y"]);
  });

  test("a rejected reload changes nothing", () => {
    const sh = running(base);
    const before = sh.s;
    const out = step(before, { type: "reload-rejected", reason: "line 3: expected a duration", now: 10 });
    expect(out.state).toEqual(before);
    expect(out.effects).toEqual([{ type: "event", event: "config.reload", data: { result: "rejected", reason: "line 3: expected a duration" } }]);
  });

  test("a reload during boot is queued; the newest one wins", () => {
    const sh = new Shell();
    sh.feed({ type: "start", plan: plan([mod("a"), mod("b", ["a"])]) });
    sh.feed({ type: "reload", plan: plan([mod("a", [], "a2"), mod("b", ["a"])], "p2") });
    sh.feed({ type: "reload", plan: plan([mod("a", [], "a3"), mod("b", ["a"]), mod("c", ["b"])], "p3") });
    expect(sh.s.queued!.hash).toBe("p3");
    const hashes: string[] = [];
    while (sh.pending && hashes.length < 10) {
      hashes.push(`${sh.pending.type} ${sh.pending.name} ${sh.pending.hash}`);
      sh.done();
    }
    expect(hashes).toEqual(["start a a1", "reload a a3", "start b b1", "start c c1"]);
    expect(sh.s.phase).toBe("running");
    expect(sh.s.plan!.hash).toBe("p3");
  });

  test("a reload while stopping is ignored", () => {
    const sh = running(base);
    sh.feed({ type: "stop" });
    sh.feed({ type: "reload", plan: plan([mod("a", [], "a2")], "p2") });
    expect(sh.events.at(-1)!.data).toEqual({ result: "ignored", reason: "node is stopping" });
    sh.settle();
    expect(sh.take()).toEqual(["stop c", "stop b", "stop a", "exit 0"]);
  });
});

describe("orderModules", () => {
  test("ignores dependencies outside the list and keeps the given order among equals", () => {
    expect(orderModules([mod("b", ["zz"]), mod("a"), mod("c", ["a"])]).map((m) => m.name)).toEqual(["b", "a", "c"]);
  });

  test("throws on a cycle, naming its members", () => {
    expect(() => orderModules([mod("a"), mod("b", ["c"]), mod("c", ["b"])])).toThrow("module dependency cycle among b, c");
  });
});
