import { describe, expect, test } from "bun:test";
import { SimClock } from "./clock.ts";
import { forEachSeed, replayCommand } from "./seeds.ts";
import { World, type NodeContext } from "./world.ts";

interface Received {
  from: string;
  payload: unknown;
  link: string;
  at: number;
}

/** A node that keeps what it receives and exposes its context to the test. */
function recorder(ctx: NodeContext) {
  const got: Received[] = [];
  return {
    ctx,
    got,
    onMessage(from: string, payload: unknown, link: string) {
      got.push({ from, payload, link, at: ctx.clock.now() });
    },
  };
}

function pair(seed = 1) {
  const world = new World({ seed });
  const a = world.addNode("a", recorder);
  const b = world.addNode("b", recorder);
  return { world, a, b };
}

/** Send `count` numbered messages from a to b, one per millisecond, then let them all land. */
function stream(world: World, from: NodeContext, count: number, link?: string) {
  for (let i = 0; i < count; i++) world.clock.after(i, () => from.send("b", i, link));
  world.clock.runAll(count + 10_000);
}

const inversions = (xs: number[]) => xs.filter((x, i) => i > 0 && x < xs[i - 1]!).length;

describe("SimClock", () => {
  test("fires timers by due time, ties in the order they were set", () => {
    const clock = new SimClock();
    const fired: string[] = [];
    for (const [ms, name] of [[5, "a"], [1, "b"], [5, "c"], [3, "d"], [1, "e"], [0, "f"]] as const) {
      clock.after(ms, () => fired.push(`${name}@${clock.now()}`));
    }
    clock.advance(4);
    expect(fired).toEqual(["f@0", "b@1", "e@1", "d@3"]);
    expect(clock.now()).toBe(4);
    clock.advance(10);
    expect(fired.slice(4)).toEqual(["a@5", "c@5"]);
    expect(clock.now()).toBe(14);
  });

  test("a timer set while firing for the same instant runs after the ones already due then", () => {
    const clock = new SimClock();
    const fired: string[] = [];
    clock.after(2, () => {
      fired.push("first");
      clock.after(0, () => fired.push("zero-delay"));
    });
    clock.after(2, () => fired.push("second"));
    clock.runUntil(2);
    expect(fired).toEqual(["first", "second", "zero-delay"]);
  });

  test("cancel, owned timers, pending count", () => {
    const clock = new SimClock();
    const fired: string[] = [];
    const cancel = clock.after(1, () => fired.push("cancelled"));
    const mine = clock.owned("n1");
    mine.after(2, () => fired.push("n1"));
    mine.after(3, () => fired.push("n1 later"));
    clock.owned("n2").after(2, () => fired.push("n2"));
    expect(clock.pending()).toBe(4);
    cancel();
    cancel();
    expect(clock.cancelOwned("n1")).toBe(2);
    expect(clock.pending()).toBe(1);
    expect(clock.nextAt()).toBe(2);
    clock.advance(10);
    expect(fired).toEqual(["n2"]);
    expect(clock.pending()).toBe(0);
    expect(clock.nextAt()).toBeNull();
  });

  test("refuses to go back in time, and calls a zero-delay loop a livelock", () => {
    const clock = new SimClock();
    clock.advance(5);
    expect(() => clock.runUntil(4)).toThrow(/never goes back/);
    const spin = () => void clock.after(0, spin);
    spin();
    expect(() => clock.advance(1)).toThrow(/livelock/);
  });

  test("runAll stops at its limit", () => {
    const clock = new SimClock();
    let ticks = 0;
    const tick = () => {
      ticks++;
      clock.after(10, tick);
    };
    clock.after(10, tick);
    clock.runAll(100);
    expect(ticks).toBe(10);
    expect(clock.now()).toBe(100);
  });
});

describe("determinism", () => {
  /** Three nodes gossip over a lossy, jittery, duplicating link with a crash and a freeze. */
  function gossip(seed: number): string[] {
    const world = new World({ seed });
    world.network.link().configure({ delayMs: 2, jitterMs: 5, loss: 0.1, duplicate: 0.05, reorder: 0.1 });
    const names = ["a", "b", "c"];
    for (const name of names) {
      world.addNode(name, (ctx) => {
        const tick = () => {
          const peer = names.filter((n) => n !== name)[ctx.random.int(2)]!;
          ctx.send(peer, `${name}${ctx.incarnation}`);
          ctx.clock.after(ctx.random.between(1, 10), tick);
        };
        ctx.clock.after(0, tick);
        return {};
      });
    }
    world.clock.after(50, () => world.crash("b"));
    world.clock.after(80, () => world.restart("b"));
    world.clock.after(100, () => world.freeze("c", 20));
    world.runUntil(200);
    return world.trace;
  }

  test("the same seed gives the same trace", () => {
    const first = gossip(7);
    expect(first.length).toBeGreaterThan(100);
    expect(gossip(7)).toEqual(first);
  });

  test("different seeds give different traces", () => {
    const traces = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((s) => gossip(s).join("\n")));
    expect(traces.size).toBe(8);
  });

  test("node streams differ by node and by incarnation, and replay", () => {
    const draws = (seed: number) => {
      const { world, a, b } = pair(seed);
      const out = [a.handler.ctx.random.next(), b.handler.ctx.random.next()];
      world.crash("a");
      world.restart("a");
      out.push(a.handler.ctx.random.next());
      return out;
    };
    const once = draws(3);
    expect(new Set(once).size).toBe(3);
    expect(draws(3)).toEqual(once);
  });
});

describe("network", () => {
  test("a clean link delivers everything, in order, after its delay", () => {
    const { world, a, b } = pair();
    world.network.link().configure({ delayMs: 4 });
    stream(world, a.handler.ctx, 100);
    const got = b.handler.got;
    expect(got.map((r) => r.payload)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(got.every((r, i) => r.at === i + 4 && r.from === "a" && r.link === "default")).toBe(true);
    expect(world.network.stats).toMatchObject({ sent: 100, delivered: 100, dropped: 0, duplicated: 0 });
  });

  test("loss drops about the configured share", () => {
    const { world, a, b } = pair();
    world.network.link().configure({ loss: 0.2 });
    stream(world, a.handler.ctx, 10_000);
    const share = b.handler.got.length / 10_000;
    // 0.8 expected; one standard deviation is 0.004. Ignored loss gives 1.0, loss applied twice 0.64.
    expect(share).toBeGreaterThan(0.77);
    expect(share).toBeLessThan(0.83);
    const s = world.network.stats;
    expect(s.drops.loss).toBe(s.dropped);
    expect(s.delivered + s.dropped).toBe(s.sent);
  });

  test("duplicates occur at about the configured rate, each copy delivered", () => {
    const { world, a, b } = pair();
    world.network.link().configure({ duplicate: 0.1 });
    stream(world, a.handler.ctx, 10_000);
    const s = world.network.stats;
    expect(s.duplicated).toBeGreaterThan(850);
    expect(s.duplicated).toBeLessThan(1150);
    expect(s.delivered).toBe(s.sent + s.duplicated);
    const seen = new Map<unknown, number>();
    for (const r of b.handler.got) seen.set(r.payload, (seen.get(r.payload) ?? 0) + 1);
    expect(seen.size).toBe(10_000);
    expect([...seen.values()].filter((n) => n === 2).length).toBe(s.duplicated);
  });

  test("a duplicated byte payload arrives as two separate copies", () => {
    const { world, a, b } = pair();
    world.network.link().configure({ duplicate: 1 });
    a.handler.ctx.send("b", new Uint8Array([1, 2, 3]));
    world.advance(10);
    const [first, second] = b.handler.got.map((r) => r.payload as Uint8Array);
    first![0] = 9;
    expect([...second!]).toEqual([1, 2, 3]);
  });

  test("jitter reorders; without jitter or reorder the order holds", () => {
    const orderWith = (params: { jitterMs?: number; reorder?: number }) => {
      const { world, a, b } = pair();
      world.network.link().configure({ delayMs: 2, ...params });
      stream(world, a.handler.ctx, 500);
      expect(b.handler.got.length).toBe(500);
      return b.handler.got.map((r) => r.payload as number);
    };
    expect(inversions(orderWith({}))).toBe(0);
    expect(inversions(orderWith({ jitterMs: 10 }))).toBeGreaterThan(50);
    const held = inversions(orderWith({ reorder: 0.1 }));
    expect(held).toBeGreaterThan(20);
    expect(held).toBeLessThan(100);
  });

  test("parameters can differ by direction", () => {
    const { world, a, b } = pair();
    world.network.link().configure({ delayMs: 3 }).configurePair("b", "a", { delayMs: 20 });
    a.handler.ctx.send("b", "ab");
    b.handler.ctx.send("a", "ba");
    world.advance(50);
    expect(b.handler.got[0]!.at).toBe(3);
    expect(a.handler.got[0]!.at).toBe(20);
  });

  test("bad link parameters are refused", () => {
    const { world } = pair();
    expect(() => world.network.link().configure({ loss: 1.5 })).toThrow(/loss/);
    expect(() => world.network.link().configure({ delayMs: -1 })).toThrow(/delayMs/);
  });

  test("a partition blocks both directions, including messages in flight, and heal restores", () => {
    const world = new World({ seed: 1 });
    const [a, b, c] = ["a", "b", "c"].map((n) => world.addNode(n, recorder));
    world.network.link().configure({ delayMs: 10 });
    a!.handler.ctx.send("b", "in flight");
    world.advance(5);
    world.network.partition(["a"], ["b", "c"]);
    b!.handler.ctx.send("a", "b to a");
    a!.handler.ctx.send("c", "a to c");
    b!.handler.ctx.send("c", "same side");
    world.advance(20);
    expect(a!.handler.got).toEqual([]);
    expect(b!.handler.got).toEqual([]);
    expect(c!.handler.got.map((r) => r.payload)).toEqual(["same side"]);
    expect(world.network.stats.drops.partition).toBe(3);
    world.network.heal();
    b!.handler.ctx.send("a", "healed");
    world.advance(20);
    expect(a!.handler.got.map((r) => r.payload)).toEqual(["healed"]);
    expect(() => world.network.partition(["a"], ["a"])).toThrow(/both sides/);
    expect(() => world.network.partition(["a"], ["zz"])).toThrow(/no node/);
  });

  test("two links: cutting one still delivers over the other", () => {
    const { world, a, b } = pair();
    const lan1 = world.network.link("lan1").configure({ delayMs: 1 });
    const lan2 = world.network.link("lan2").configure({ delayMs: 5 });
    lan1.cut("a", "b");
    a.handler.ctx.send("b", "x", "lan1");
    a.handler.ctx.send("b", "y", "lan2");
    world.advance(10);
    expect(b.handler.got.map((r) => [r.payload, r.link])).toEqual([["y", "lan2"]]);
    expect(lan1.stats.drops.cut).toBe(1);
    expect(lan2.stats.delivered).toBe(1);
    lan1.restore("a", "b");
    lan2.down();
    a.handler.ctx.send("b", "z", "lan1");
    a.handler.ctx.send("b", "w", "lan2");
    world.advance(10);
    expect(b.handler.got.map((r) => r.payload)).toEqual(["y", "z"]);
    lan2.up();
    a.handler.ctx.send("b", "v", "lan2");
    world.advance(10);
    expect(b.handler.got.map((r) => r.payload)).toEqual(["y", "z", "v"]);
  });

  test("a one-way cut passes the other direction", () => {
    const { world, a, b } = pair();
    world.network.link().cutOneWay("a", "b");
    a.handler.ctx.send("b", "lost");
    b.handler.ctx.send("a", "passes");
    world.advance(5);
    expect(b.handler.got).toEqual([]);
    expect(a.handler.got.map((r) => r.payload)).toEqual(["passes"]);
  });
});

describe("nodes", () => {
  test("crash cancels the node's timers and drops messages in flight to it", () => {
    const { world, a, b } = pair();
    world.network.link().configure({ delayMs: 10 });
    let fired = 0;
    b.handler.ctx.clock.after(5, () => fired++);
    a.handler.ctx.send("b", "in flight");
    world.advance(2);
    world.crash("b");
    expect(world.isUp("b")).toBe(false);
    expect(() => b.handler).toThrow(/down/);
    a.handler.ctx.send("b", "to a dead node");
    world.advance(20);
    expect(fired).toBe(0);
    expect(world.network.stats.drops).toMatchObject({ crash: 1, down: 1 });
    expect(world.clock.pending()).toBe(0);
    expect(() => world.crash("b")).toThrow(/already down/);
  });

  test("restart boots a new incarnation; the old one's context is dead", () => {
    const { world, b } = pair();
    const old = b.handler.ctx;
    expect(old.incarnation).toBe(1);
    world.crash("b");
    world.restart("b");
    expect(b.incarnation).toBe(2);
    expect(b.handler.ctx.incarnation).toBe(2);
    expect(() => old.send("a", "ghost")).toThrow(/not running/);
    expect(() => old.clock.after(1, () => {})).toThrow(/not running/);
    expect(() => world.restart("b")).toThrow(/is up/);
  });

  test("a message sent while the node is down arrives if it is back in time", () => {
    const { world, a, b } = pair();
    world.network.link().configure({ delayMs: 10 });
    world.crash("b");
    a.handler.ctx.send("b", "later");
    world.advance(5);
    world.restart("b");
    world.advance(10);
    expect(b.handler.got.map((r) => r.payload)).toEqual(["later"]);
  });

  test("exit ends the node like a crash and keeps the code", () => {
    const { world, a } = pair();
    let fired = 0;
    a.handler.ctx.clock.after(5, () => fired++);
    a.handler.ctx.exit(3);
    world.advance(10);
    expect(a.up).toBe(false);
    expect(a.exitCode).toBe(3);
    expect(fired).toBe(0);
    expect(world.trace).toContain("0 exit a code=3");
  });

  test("freeze holds timers and deliveries; thaw runs them late, in order, none lost", () => {
    const { world, a, b } = pair();
    world.network.link().configure({ delayMs: 3 });
    const log: string[] = [];
    b.handler.ctx.clock.after(2, () => log.push(`timer@${world.now()}`));
    a.handler.ctx.send("b", "m1");
    b.handler.ctx.clock.after(4, () => log.push(`timer2@${world.now()}`));
    world.freeze("b", 100);
    expect(b.frozen).toBe(true);
    world.advance(50);
    expect(log).toEqual([]);
    expect(b.handler.got).toEqual([]);
    world.advance(60);
    expect(b.frozen).toBe(false);
    expect(log).toEqual(["timer@100", "timer2@100"]);
    expect(b.handler.got.map((r) => [r.payload, r.at])).toEqual([["m1", 100]]);
    expect(world.trace.filter((l) => / (timer b|deliver a>b)/.test(l))).toEqual(["100 timer b", "100 deliver a>b default #1", "100 timer b"]);
  });

  test("a signal to a frozen node waits for thaw; to a down node it is lost", () => {
    const { world, b } = pair();
    const seen: number[] = [];
    world.freeze("b");
    expect(b.signal("hup", () => seen.push(world.now()))).toBe(true);
    world.advance(7);
    world.thaw("b");
    expect(seen).toEqual([7]);
    world.crash("b");
    expect(b.signal("hup", () => seen.push(world.now()))).toBe(false);
    expect(seen).toEqual([7]);
  });

  test("a crash while frozen loses what was held", () => {
    const { world, a, b } = pair();
    world.freeze("b");
    a.handler.ctx.send("b", "held");
    world.advance(5);
    world.crash("b");
    world.restart("b");
    world.advance(5);
    expect(b.handler.got).toEqual([]);
    expect(b.frozen).toBe(false);
    expect(world.network.stats.drops.crash).toBe(1);
  });
});

describe("forEachSeed", () => {
  const run = { test: "a scenario (x)", file: `${process.cwd()}/test/sim/x.test.ts`, seeds: 20 };

  test("runs seeds 1..n, or SIM_SEEDS of them (from SIM_FIRST), or only SIM_SEED", () => {
    expect(forEachSeed(run, () => {}, {})).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(forEachSeed(run, () => {}, { SIM_SEEDS: "3" })).toEqual([1, 2, 3]);
    expect(forEachSeed(run, () => {}, { SIM_FIRST: "301", SIM_SEEDS: "303" })).toEqual([301, 302, 303]);
    expect(forEachSeed(run, () => {}, { SIM_SEED: "17", SIM_SEEDS: "3" })).toEqual([17]);
    expect(() => forEachSeed(run, () => {}, { SIM_SEED: "x" })).toThrow(/SIM_SEED must be a positive integer/);
  });

  test("names the failing seed and the command that replays it", () => {
    const ran: number[] = [];
    let error: unknown;
    try {
      forEachSeed(run, (seed) => {
        ran.push(seed);
        if (seed === 5) throw new Error("invariant broken");
      }, {});
    } catch (e) {
      error = e;
    }
    expect(ran).toEqual([1, 2, 3, 4, 5]);
    expect((error as Error).message).toBe(
      "seed 5 failed: invariant broken\n  replay: SIM_SEED=5 node_modules/.bin/bun test test/sim/x.test.ts -t 'a scenario \\(x\\)'",
    );
    expect(replayCommand({ ...run, test: "it's" }, 1)).toEndWith(`-t 'it'\\''s'`);
  });
});
