import { describe, expect, test } from "bun:test";
import { EVENT_HISTORY, EventBus } from "../../core/events.ts";
import { Metrics } from "../../core/metrics.ts";
import { createLogger, humanLine } from "../../core/log.ts";

describe("event bus", () => {
  test("numbers events in order, stamps node and time, and keeps a bounded history", () => {
    let now = 1000;
    const bus = new EventBus("alpha", () => now++);
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(`${e.id}:${e.type}`));
    for (let i = 0; i < EVENT_HISTORY + 5; i++) bus.emit("test.tick", { i });
    expect(seen.length).toBe(EVENT_HISTORY + 5);
    expect(seen[0]).toBe("1:test.tick");
    const since = bus.since(EVENT_HISTORY);
    expect(since.map((e) => e.id)).toEqual([1001, 1002, 1003, 1004, 1005]);
    expect(since[0]).toMatchObject({ node: "alpha", type: "test.tick", data: { i: 1000 } });
    expect(bus.since(0).length).toBe(EVENT_HISTORY);
  });

  test("a throwing subscriber does not stop the others", () => {
    const bus = new EventBus("a", () => 0);
    let got = 0;
    bus.subscribe(() => {
      throw new Error("boom");
    });
    bus.subscribe(() => got++);
    bus.emit("x");
    expect(got).toBe(1);
  });

  test("unsubscribe stops delivery", () => {
    const bus = new EventBus("a", () => 0);
    let got = 0;
    const off = bus.subscribe(() => got++);
    bus.emit("x");
    off();
    bus.emit("x");
    expect(got).toBe(1);
  });
});

describe("metrics", () => {
  test("render Prometheus text with labels escaped", () => {
    const m = new Metrics();
    const c = m.counter("frames_total", "frames");
    c.inc({ reason: 'bad "mac"\n' });
    c.inc({ reason: 'bad "mac"\n' }, 2);
    m.gauge("peers", "peers up").set(2);
    m.collect("rss", "memory", () => [{ labels: { proc: "a" }, value: 5 }]);
    expect(m.render()).toBe(
      [
        "# HELP frames_total frames",
        "# TYPE frames_total counter",
        'frames_total{reason="bad \\"mac\\"\\n"} 3',
        "# HELP peers peers up",
        "# TYPE peers gauge",
        "peers 2",
        "# HELP rss memory",
        "# TYPE rss gauge",
        'rss{proc="a"} 5',
        "",
      ].join("\n"),
    );
    expect(c.get({ reason: 'bad "mac"\n' })).toBe(3);
  });

  test("a name registered twice with another type is refused", () => {
    const m = new Metrics();
    m.counter("x_total", "x");
    expect(() => m.gauge("x_total", "x")).toThrow("registered as counter");
    expect(() => m.counter("bad name", "x")).toThrow("bad metric name");
  });
});

describe("logs", () => {
  test("JSON lines, or one human line per record on a terminal", () => {
    const json: string[] = [];
    createLogger({ level: "info", node: "alpha", human: false, write: (l) => json.push(l) }).info({ peer: "bravo" }, "peer up");
    const rec = JSON.parse(json[0]!) as Record<string, unknown>;
    expect(rec).toMatchObject({ level: 30, node: "alpha", peer: "bravo", msg: "peer up" });
    const human: string[] = [];
    createLogger({ level: "info", node: "alpha", human: true, write: (l) => human.push(l) }).warn({ peer: "bravo", rtt: 1.5 }, "late heartbeat");
    expect(human[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN  late heartbeat {2}node=alpha peer=bravo rtt=1\.5\n$/);
    expect(humanLine("not json")).toBe("not json");
  });

  test("the level filters", () => {
    const out: string[] = [];
    const log = createLogger({ level: "warn", human: false, write: (l) => out.push(l) });
    log.info("hidden");
    log.error("shown");
    expect(out.length).toBe(1);
  });
});
