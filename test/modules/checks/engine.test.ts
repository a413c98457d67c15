import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Value } from "@sinclair/typebox/value";
import { ServiceSchema, type CheckRaw, type ServiceRaw } from "../../../modules/checks/config.ts";
import { initialState, nextDeadline, RESULT_GRACE_MS, step, type EngineParams, type Input, type ServerChange, type State } from "../../../modules/checks/engine.ts";

/** A service of `n` servers (198.18.0.1, .2, ...) on port 80 with the check's settings over the defaults. */
function service(name: string, n: number, check: Partial<CheckRaw> = {}, first = 1): ServiceRaw {
  const servers = Array.from({ length: n }, (_, i) => ({ address: `198.18.0.${first + i}` }));
  return Value.Default(ServiceSchema, { name, port: 80, servers, check: { ...check } }) as ServiceRaw;
}

type Answer = { ok: boolean; weight?: number; latencyMs: number } | "hang";

/**
 * The engine driven as the shell drives it: run-check effects are answered
 * by `respond` after its latency; a hung check is answered as the shell
 * answers one, with a timeout failure at its timeout. Time jumps from one
 * deadline or answer to the next.
 */
class Driver {
  state: State;
  now = 0;
  readonly events: Array<ServerChange & { at: number }> = [];
  readonly starts: Array<{ key: string; run: number; at: number; due: number }> = [];
  maxInFlight = 0;
  private readonly pending: Array<{ at: number; input: Extract<Input, { type: "result" }> }> = [];

  constructor(
    p: EngineParams,
    services: ServiceRaw[],
    private respond: (key: string, at: number) => Answer | null = () => ({ ok: true, latencyMs: 10 }),
  ) {
    this.state = initialState(p, services);
  }

  inFlight(): number {
    return Object.keys(this.state.flights).length;
  }

  feed(input: Input): void {
    const waiting = this.state.servers.filter((sv) => sv.run === null && sv.due !== null && sv.due <= input.now);
    const { state, effects } = step(this.state, input);
    this.state = state;
    const started = new Set<string>();
    for (const e of effects) {
      if (e.type === "event") {
        this.events.push({ ...e.data, at: this.now });
        continue;
      }
      started.add(e.key);
      this.starts.push({ key: e.key, run: e.run, at: this.now, due: e.due });
      const sv = this.state.servers.find((x) => x.key === e.key)!;
      const answer = this.respond(e.key, this.now);
      if (answer === null) continue;
      const result = (at: number, ok: boolean, message: string, weight?: number) =>
        this.pending.push({ at, input: { type: "result", now: at, key: e.key, run: e.run, ok, message, ...(weight !== undefined ? { weight } : {}) } });
      if (answer === "hang") result(this.now + sv.timeoutMs, false, `no answer within ${sv.timeoutMs} ms`);
      else result(this.now + answer.latencyMs, answer.ok, answer.ok ? "ok" : "refused", answer.weight);
    }
    // The longest-due go first: none left waiting was due before one that started.
    const chosen = effects.flatMap((e) => (e.type === "run-check" ? [e.due] : []));
    const left = waiting.filter((sv) => !started.has(sv.key)).map((sv) => sv.due!);
    if (chosen.length && left.length) expect(Math.max(...chosen)).toBeLessThanOrEqual(Math.min(...left));
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight());
    // A reload that lowers the concurrency leaves the flights over it running: none starts until they are under it.
    if (started.size) expect(this.inFlight()).toBeLessThanOrEqual(this.state.p.concurrency);
  }

  start(random = 0.5): this {
    this.feed({ type: "start", now: this.now, random });
    return this;
  }

  /** Runs until `until`, answering checks and ticking at deadlines. */
  runUntil(until: number): this {
    for (;;) {
      this.pending.sort((a, b) => a.at - b.at);
      const deadline = nextDeadline(this.state);
      const answerAt = this.pending[0]?.at ?? Infinity;
      const next = Math.min(deadline ?? Infinity, answerAt);
      if (next > until) break;
      this.now = Math.max(this.now, next);
      if (answerAt <= this.now) this.feed({ ...this.pending.shift()!.input, now: this.now });
      else this.feed({ type: "tick", now: this.now });
    }
    this.now = until;
    return this;
  }

  server(key: string) {
    return this.state.servers.find((sv) => sv.key === key)!;
  }

  startsOf(key: string): number[] {
    return this.starts.filter((s) => s.key === key).map((s) => s.at);
  }
}

/** One server, its results fed by hand (no scheduling): the state machine alone. */
class One {
  state: State;
  readonly events: ServerChange[] = [];
  now = 0;
  private run = 0;
  readonly key: string;

  constructor(check: Partial<CheckRaw>, initial: "up" | "down" = "up") {
    const svc = service("web", 1, { interval: "1s", ...check });
    this.state = initialState({ concurrency: 1, initial }, [svc]);
    this.key = this.state.servers[0]!.key;
    this.feed({ type: "start", now: 0, random: 0 });
  }

  private feed(input: Input): void {
    const { state, effects } = step(this.state, input);
    this.state = state;
    for (const e of effects) {
      if (e.type === "event") this.events.push(e.data);
      else this.run = e.run;
    }
  }

  /** The next check's result; returns the state after it. */
  result(ok: boolean, weight?: number): string {
    this.feed({ type: "result", now: this.now, key: this.key, run: this.run, ok, message: ok ? "fine" : "refused", ...(weight !== undefined ? { weight } : {}) });
    this.now += 1000;
    this.feed({ type: "tick", now: this.now });
    return this.state.servers[0]!.state;
  }

  results(pattern: string): string[] {
    return [...pattern].map((c) => this.result(c === "+"));
  }
}

describe("rise and fall", () => {
  test("from up: fall failures in a row take it down, rise successes bring it back", () => {
    const one = new One({ rise: 2, fall: 3 });
    expect(one.results("+")).toEqual(["up"]);
    expect(one.results("--")).toEqual(["up", "up"]);
    expect(one.results("-")).toEqual(["down"]);
    expect(one.results("-+")).toEqual(["down", "down"]);
    expect(one.results("+")).toEqual(["up"]);
    expect(one.events.map((e) => [e.previous, e.state, e.reason])).toEqual([
      ["unknown", "up", "1 check passed in a row: fine"],
      ["up", "down", "3 checks failed in a row: refused"],
      ["down", "up", "2 checks passed in a row: fine"],
    ]);
  });

  test("from down: rise successes in a row bring it up, fall failures take it down again", () => {
    const one = new One({ rise: 3, fall: 2 }, "down");
    expect(one.results("-")).toEqual(["down"]);
    expect(one.results("++-++")).toEqual(["down", "down", "down", "down", "down"]);
    expect(one.results("+")).toEqual(["up"]);
    expect(one.results("-+-")).toEqual(["up", "up", "up"]);
    expect(one.results("-")).toEqual(["down"]);
  });

  test("a new server is unknown and counts as up: one success confirms it, fall failures take it down", () => {
    const one = new One({ rise: 2, fall: 2 });
    expect(one.state.servers[0]!.state).toBe("unknown");
    expect(one.results("-")).toEqual(["unknown"]);
    expect(one.results("-")).toEqual(["down"]);
    const again = new One({ rise: 2, fall: 2 });
    expect(again.results("-+")).toEqual(["unknown", "up"]);
  });

  test("alpha (initial down): unknown counts as down; one failure confirms it, rise successes bring it up", () => {
    const one = new One({ rise: 2, fall: 3 }, "down");
    expect(one.results("+")).toEqual(["unknown"]);
    expect(one.results("+")).toEqual(["up"]);
    const failing = new One({ rise: 2, fall: 3 }, "down");
    expect(failing.results("+-")).toEqual(["unknown", "down"]);
    expect(failing.events.map((e) => [e.previous, e.state])).toEqual([["unknown", "down"]]);
  });

  test("flapping never changes the state before the thresholds", () => {
    const one = new One({ rise: 3, fall: 3 });
    one.results("+");
    expect(one.results("-+--+-+--+-+--++-").every((s) => s === "up")).toBe(true);
    one.results("---");
    expect(one.results("++-++-+-++-+").every((s) => s === "down")).toBe(true);
    expect(one.events.map((e) => e.state)).toEqual(["up", "down"]);
  });

  test("timeout results count as failures", () => {
    const d = new Driver({ concurrency: 4, initial: "up" }, [service("web", 1, { interval: "1s", timeout: "500ms", fall: 2 })], () => "hang").start();
    d.runUntil(3000);
    const key = d.state.servers[0]!.key;
    expect(d.server(key).state).toBe("down");
    expect(d.server(key).last?.message).toBe("no answer within 500 ms");
    expect(d.events).toEqual([expect.objectContaining({ state: "down", reason: "2 checks failed in a row: no answer within 500 ms" })]);
  });

  test("a check the shell never answers is a failure past its timeout and grace, and its late answer is ignored", () => {
    const d = new Driver({ concurrency: 1, initial: "up" }, [service("web", 1, { interval: "1s", timeout: "1s", fall: 1 })], () => null).start(0);
    const first = d.starts[0]!;
    expect(nextDeadline(d.state)).toBe(first.at + 1000 + RESULT_GRACE_MS);
    d.runUntil(first.at + 1000 + RESULT_GRACE_MS);
    expect(d.server(first.key).state).toBe("down");
    expect(d.server(first.key).last?.message).toBe(`no answer within ${1000 + RESULT_GRACE_MS} ms`);
    expect(d.starts).toHaveLength(2);
    d.feed({ type: "result", now: d.now, key: first.key, run: first.run, ok: true, message: "late" });
    expect(d.server(first.key).state).toBe("down");
    expect(d.server(first.key).run).toBe(d.starts[1]!.run);
  });
});

describe("dynamic weight", () => {
  test("a weight from the check changes the weight and never the state", () => {
    const one = new One({ kind: "misc", command: ["true"], dynamic_weight: true, rise: 2, fall: 3 });
    one.result(true);
    one.result(true, 5);
    one.result(true);
    expect(one.state.servers[0]!.dynamicWeight).toBe(5);
    one.results("--");
    one.result(true, 7);
    expect(one.state.servers[0]!.state).toBe("up");
    expect(one.events.map((e) => [e.state, e.weight, e.reason])).toEqual([
      ["up", 1, "1 check passed in a row: fine"],
      ["up", 5, "weight 5 from the check"],
      ["up", 7, "weight 7 from the check"],
    ]);
  });

  test("a down server takes its new weight while it stays down", () => {
    const one = new One({ kind: "misc", command: ["true"], dynamic_weight: true, rise: 2, fall: 1 });
    one.results("-");
    one.result(true, 3);
    expect(one.state.servers[0]).toMatchObject({ state: "down", dynamicWeight: 3 });
    expect(one.events.at(-1)).toMatchObject({ state: "down", previous: "down", weight: 3 });
  });
});

describe("scheduling", () => {
  test("first checks are spread over the interval from one random number", () => {
    for (const random of [0, 0.37, 0.999]) {
      const d = new Driver({ concurrency: 64, initial: "up" }, [service("a", 12, { interval: "10s" }), service("b", 8, { interval: "10s" }, 100)]).start(random);
      d.runUntil(9999);
      const firsts = d.starts.map((s) => s.at).sort((a, b) => a - b);
      expect(firsts).toHaveLength(20);
      expect(firsts[0]!).toBeGreaterThanOrEqual(0);
      expect(firsts.at(-1)!).toBeLessThan(10_000);
      const gaps = firsts.map((t, i) => (i === 0 ? t + 10_000 - firsts.at(-1)! : t - firsts[i - 1]!));
      expect(Math.max(...gaps)).toBeLessThan((3 * 10_000) / 20);
      expect(Math.min(...gaps)).toBeGreaterThan(10_000 / 20 / 3);
    }
  });

  test("a server's own check sets its interval, timeout, rise and fall; the others keep the service's", () => {
    const svc = service("web", 3, { interval: "2s" });
    svc.servers[1] = { ...svc.servers[1]!, check: { interval: "5s", timeout: "1s", fall: 1 } };
    const d = new Driver({ concurrency: 8, initial: "up" }, [svc]).start(0.2);
    expect(d.state.servers.map((sv) => [sv.intervalMs, sv.timeoutMs, sv.rise, sv.fall])).toEqual([
      [2000, 3000, 2, 3],
      [5000, 1000, 2, 1],
      [2000, 3000, 2, 3],
    ]);
    d.runUntil(20_000);
    const starts = d.startsOf(d.state.servers[1]!.key);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeCloseTo(5000, 6);
  });

  test("each server's next check is one interval after its last one started", () => {
    const d = new Driver({ concurrency: 8, initial: "up" }, [service("web", 3, { interval: "2s" })], () => ({ ok: true, latencyMs: 300 })).start(0.2);
    d.runUntil(20_000);
    for (const sv of d.state.servers) {
      const starts = d.startsOf(sv.key);
      expect(starts.length).toBeGreaterThanOrEqual(9);
      for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeCloseTo(2000, 6);
    }
  });

  test("never more than the concurrency in flight, with many servers and many hung; every server is still checked", () => {
    const hung = (key: string) => Number(key.split(".").pop()!.split(":")[0]) % 3 === 0;
    const d = new Driver({ concurrency: 5, initial: "up" }, [service("web", 60, { interval: "5s", timeout: "2s" })], (key) => (hung(key) ? "hang" : { ok: true, latencyMs: 50 })).start(0.1);
    d.runUntil(120_000);
    expect(d.maxInFlight).toBe(5);
    for (const sv of d.state.servers) {
      expect(d.startsOf(sv.key).length).toBeGreaterThanOrEqual(5);
      expect(sv.state).toBe(hung(sv.key) ? "down" : "up");
    }
  });

  test("a hung server's neighbours keep their schedule", () => {
    const svc = service("web", 4, { interval: "1s", timeout: "3s" });
    const d = new Driver({ concurrency: 4, initial: "up" }, [svc], (key) => (key.endsWith(".1:80") ? "hang" : { ok: true, latencyMs: 20 })).start(0.6);
    d.runUntil(30_000);
    const [stuck, ...others] = d.state.servers;
    expect(d.startsOf(stuck!.key).length).toBeLessThanOrEqual(11);
    for (const sv of others) {
      const starts = d.startsOf(sv.key);
      expect(starts.length).toBeGreaterThanOrEqual(29);
      for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeCloseTo(1000, 6);
    }
  });

  test("when more are due than slots, the longest due go first and nobody starves", () => {
    const d = new Driver({ concurrency: 1, initial: "up" }, [service("web", 3, { interval: "1s" })], () => ({ ok: true, latencyMs: 700 })).start(0.3);
    d.runUntil(21_000);
    const keys = d.starts.map((s) => s.key);
    expect(keys.length).toBeGreaterThanOrEqual(29);
    for (let i = 3; i < keys.length; i++) expect(keys[i]).toBe(keys[i - 3]!);
  });

  test("nextDeadline: the next due check, or only flights while every slot is taken; null once stopped", () => {
    const d = new Driver({ concurrency: 1, initial: "up" }, [service("web", 2, { interval: "1s", timeout: "1s" })], () => null);
    expect(nextDeadline(d.state)).toBeNull();
    d.start(0);
    const first = d.starts[0]!;
    expect(d.starts).toHaveLength(1);
    expect(nextDeadline(d.state)).toBe(first.at + 1000 + RESULT_GRACE_MS);
    // The other server was due at 618 ms, but the slot was taken: it starts when the answer frees it.
    d.feed({ type: "result", now: 700, key: first.key, run: first.run, ok: true, message: "ok" });
    expect(d.starts.map((s) => s.due)).toEqual([0, 0.5 * (Math.sqrt(5) - 1) * 1000]);
    d.feed({ type: "stop", now: 800 });
    expect(nextDeadline(d.state)).toBeNull();
    const after = step(d.state, { type: "tick", now: 5000 });
    expect(after.effects).toEqual([]);
    expect(after.state).toBe(d.state);
  });
});

describe("reconfigure", () => {
  const failing = new Set(["web/198.18.0.2:80"]);
  const responder = (key: string): Answer => ({ ok: !failing.has(key), latencyMs: 10 });

  test("servers that stay keep their state and counts; new ones start unknown; gone ones go", () => {
    const d = new Driver({ concurrency: 8, initial: "up" }, [service("web", 3, { interval: "1s", fall: 2, rise: 5 })], responder).start();
    d.runUntil(5000);
    expect(d.state.servers.map((sv) => sv.state)).toEqual(["up", "down", "up"]);
    const kept = d.server("web/198.18.0.2:80");
    d.feed({ type: "reconfigure", now: d.now, services: [service("web", 3, { interval: "1s", fall: 2, rise: 5 }, 2)], random: 0.5 });
    expect(d.state.servers.map((sv) => [sv.key, sv.state])).toEqual([
      ["web/198.18.0.2:80", "down"],
      ["web/198.18.0.3:80", "up"],
      ["web/198.18.0.4:80", "unknown"],
    ]);
    const after = d.server("web/198.18.0.2:80");
    expect([after.failures, after.due, after.lastChange]).toEqual([kept.failures, kept.due, kept.lastChange]);
    expect(d.server("web/198.18.0.4:80").due).toBeGreaterThanOrEqual(d.now);
    expect(d.server("web/198.18.0.4:80").due).toBeLessThan(d.now + 1000);
  });

  test("a changed check keeps the state but counts afresh, and the answer of its check in flight does not count", () => {
    const d = new Driver({ concurrency: 8, initial: "up" }, [service("web", 2, { interval: "1s", fall: 2 })], responder).start();
    d.runUntil(4000);
    d.feed({ type: "tick", now: (d.now = d.server("web/198.18.0.2:80").due!) });
    const inFlight = d.server("web/198.18.0.2:80").run!;
    expect(inFlight).not.toBeNull();
    d.feed({ type: "reconfigure", now: d.now, services: [service("web", 2, { interval: "1s", fall: 3, path: "/health" })], random: 0.5 });
    const sv = d.server("web/198.18.0.2:80");
    expect([sv.state, sv.failures, sv.run, sv.fall]).toEqual(["down", 0, null, 3]);
    expect(d.state.flights[inFlight]).toBeDefined();
    d.feed({ type: "result", now: d.now, key: sv.key, run: inFlight, ok: true, message: "old check" });
    expect(d.server(sv.key).successes).toBe(0);
    expect(d.state.flights[inFlight]).toBeUndefined();
  });

  test("a removed server's check in flight holds its slot until it answers", () => {
    const d = new Driver({ concurrency: 1, initial: "up" }, [service("web", 2, { interval: "1s" })], () => null).start(0);
    const first = d.starts[0]!;
    expect(first.key).toBe("web/198.18.0.1:80");
    d.feed({ type: "reconfigure", now: 1500, services: [service("web", 1, { interval: "1s" }, 2)], random: 0 });
    expect(d.starts).toHaveLength(1);
    d.feed({ type: "result", now: 1600, key: first.key, run: first.run, ok: true, message: "ok" });
    expect(d.starts.map((s) => s.key)).toEqual(["web/198.18.0.1:80", "web/198.18.0.2:80"]);
  });

  test("a new configured weight is an event while no dynamic weight is set", () => {
    const d = new Driver({ concurrency: 8, initial: "up" }, [service("web", 1)]).start();
    d.runUntil(6000);
    const heavier = service("web", 1);
    heavier.servers[0]!.weight = 4;
    d.feed({ type: "reconfigure", now: d.now, services: [heavier], random: 0 });
    expect(d.events.at(-1)).toMatchObject({ state: "up", previous: "up", weight: 4, reason: "reconfigured" });
  });
});

describe("reload of the params", () => {
  const slow = (): Answer => ({ ok: true, latencyMs: 900 });
  const six = () => [service("web", 6, { interval: "1s", timeout: "1s" })];

  test("a higher concurrency starts the waiting checks at once; a lower one starts none until the flights are under it", () => {
    const d = new Driver({ concurrency: 1, initial: "up" }, six(), slow).start(0);
    d.runUntil(3000);
    expect(d.maxInFlight).toBe(1);
    d.feed({ type: "reconfigure", now: d.now, services: six(), random: 0, p: { concurrency: 6, initial: "up" } });
    expect(d.inFlight()).toBe(6);
    d.runUntil(6000);
    d.feed({ type: "reconfigure", now: d.now, services: six(), random: 0, p: { concurrency: 2, initial: "up" } });
    expect(d.inFlight()).toBeGreaterThan(2);
    const lowered = d.starts.length;
    let most = 0;
    for (let t = d.now + 1000; t < 9000; t += 50) {
      d.runUntil(t);
      most = Math.max(most, d.inFlight());
    }
    expect(most).toBe(2);
    expect(d.starts.length).toBeGreaterThan(lowered);
  });

  const alpha = (reloadTo: "up" | "down" | null) => {
    const d = new Driver({ concurrency: 8, initial: "up" }, [service("web", 1, { interval: "1s", rise: 2, fall: 2 })]).start(0.5);
    if (reloadTo) d.feed({ type: "reconfigure", now: 0, services: [service("web", 1, { interval: "1s", rise: 2, fall: 2 })], random: 0, p: { concurrency: 8, initial: reloadTo } });
    return d.runUntil(2000);
  };

  test("alpha given on reload: an unknown server stops counting as up at once, then needs rise successes; without the reload one success confirms it", () => {
    const reloaded = alpha("down");
    expect(reloaded.events.map((e) => [e.state, e.healthy, e.reason])).toEqual([
      ["unknown", false, "unknown servers count as down until checked"],
      ["up", true, "2 checks passed in a row: ok"],
    ]);
    expect(alpha(null).events.map((e) => [e.state, e.healthy, e.reason])).toEqual([["up", true, "1 check passed in a row: ok"]]);
    expect(alpha("up").events.map((e) => e.reason)).toEqual(["1 check passed in a row: ok"]);
    const taken = new Driver({ concurrency: 8, initial: "down" }, [service("web", 1)], () => null).start(0.5);
    taken.feed({ type: "reconfigure", now: 0, services: [service("web", 1)], random: 0, p: { concurrency: 8, initial: "up" } });
    expect(taken.events.map((e) => [e.state, e.healthy, e.reason])).toEqual([["unknown", true, "unknown servers count as up until checked"]]);
  });
});

describe("properties", () => {
  const results = fc.array(fc.boolean(), { minLength: 1, maxLength: 60 });
  const thresholds = fc.record({ rise: fc.integer({ min: 1, max: 5 }), fall: fc.integer({ min: 1, max: 5 }), initial: fc.constantFrom("up" as const, "down" as const) });

  test("the state changes only after rise successes or fall failures in a row (one result confirms the initial state)", () => {
    fc.assert(
      fc.property(thresholds, results, ({ rise, fall, initial }, oks) => {
        const one = new One({ rise, fall }, initial);
        let previous = "unknown";
        const seen: boolean[] = [];
        for (const ok of oks) {
          seen.push(ok);
          const state = one.result(ok);
          if (state !== previous) {
            const needed = previous === "unknown" && state === initial ? 1 : state === "up" ? rise : fall;
            const run = seen.slice(-needed);
            expect(run).toHaveLength(needed);
            expect(run.every((r) => r === (state === "up"))).toBe(true);
          }
          if (seen.length >= Math.max(rise, fall) && seen.slice(-Math.max(rise, fall)).every((r) => r === ok)) expect(state).toBe(ok ? "up" : "down");
          previous = state;
        }
      }),
    );
  });

  test("in flight never exceeds the concurrency, whatever the latencies and hangs", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.oneof(fc.constant<"hang">("hang"), fc.integer({ min: 0, max: 4000 })), { minLength: 1, maxLength: 30 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (concurrency, servers, answers, random) => {
          let i = 0;
          const d = new Driver({ concurrency, initial: "up" }, [service("web", servers, { interval: "1s", timeout: "2s" })], () => {
            const a = answers[i++ % answers.length]!;
            return a === "hang" ? "hang" : { ok: a % 2 === 0, latencyMs: a };
          }).start(random);
          d.runUntil(20_000);
          expect(d.maxInFlight).toBeLessThanOrEqual(concurrency);
          expect(d.starts.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
