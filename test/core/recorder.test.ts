/**
 * The flight recorder as scenarios: a node's event stream as the modules emit
 * it (heartbeat, resources, director), and the takeovers cut from it.
 */
import { describe, expect, test } from "bun:test";
import { ABANDON_MS, failovers, initialRecorder, MAX_FAILOVERS, MAX_STEPS, type RecorderState, SETTLE_MS, step } from "../../core/recorder.ts";
import type { TandemEvent } from "../../core/events.ts";

const T0 = Date.UTC(2026, 11, 5, 3, 0, 0);

/** Feeds `events` ([ms after T0, type, data]) as bravo's bus would emit them; ids count from `firstId`. */
function feed(events: Array<[number, string, Record<string, unknown>]>, s: RecorderState = initialRecorder(), firstId = 1): RecorderState {
  let id = firstId;
  for (const [ms, type, data] of events) {
    const event: TandemEvent = { id: id++, at: T0 + ms, type, node: "bravo", data };
    s = step(s, { type: "event", event });
  }
  return s;
}

const tick = (s: RecorderState, ms: number) => step(s, { type: "tick", at: T0 + ms });

/** alpha killed at T0 (its last heartbeat): bravo's stream, from a quorum reported long before to the director active. */
const TAKEOVER: Array<[number, string, Record<string, unknown>]> = [
  [-60_000, "heartbeat.quorum", { quorate: true, reason: "2 of 2 votes" }],
  [-50_000, "resources.action", { resource: "vip", action: "monitor", status: "ok", ms: 1 }],
  [260, "heartbeat.late", { peer: "alpha", silentMs: 260 }],
  [400, "heartbeat.link", { peer: "alpha", link: "lan", status: "down" }],
  [510, "heartbeat.peer", { peer: "alpha", status: "down", reason: "silent", silentMs: 510 }],
  [511, "heartbeat.quorum", { quorate: true, reason: "two-node: alone after the peer was seen" }],
  [512, "resources.dc", { dc: "bravo", was: "alpha" }],
  [530, "resources.action", { resource: "vip", action: "start", status: "ok", ms: 4, message: "added 198.18.7.50/24 on eth0, lifetime 3s; announced (1 of 5)" }],
  [531, "resources.state", { resource: "vip", state: "started", was: "stopped" }],
  [540, "resources.action", { resource: "director", action: "start", status: "ok", ms: 9, message: "active on the nftables dataplane" }],
  [545, "director.reconcile", { changes: 0, ms: 3, active: true }],
  [560, "resources.action", { resource: "vip", action: "monitor", status: "ok", ms: 1 }],
];

describe("a takeover after the peer was killed", () => {
  test("is the chain from the last heartbeat to the director active, each step timed", () => {
    const s = feed(TAKEOVER);
    const [f, ...rest] = failovers(s);
    expect(rest).toEqual([]);
    expect(f!.node).toBe("bravo");
    expect(f!.id).toBe("bravo-5");
    expect(f!.ended).toBeNull();
    expect(f!.started).toBe(T0);
    expect(f!.steps.map((x) => [x.at - T0, x.kind])).toEqual([
      [0, "peer-silent"],
      [260, "heartbeat-late"],
      [510, "peer-dead"],
      [510, "quorum"],
      [511, "quorum"],
      [512, "dc"],
      [530, "resource-start"],
      [530, "address"],
      [540, "resource-start"],
      [545, "director"],
    ]);
    const by = (kind: string) => f!.steps.filter((x) => x.kind === kind);
    expect(by("peer-dead")[0]).toMatchObject({ text: "alpha is dead: silent past deadtime", duration_ms: 510 });
    expect(by("heartbeat-late")[0]).toMatchObject({ text: "heartbeat from alpha late: silent for 260 ms", duration_ms: 260 });
    expect(by("quorum")[0]!.text).toBe(`quorate (2 of 2 votes), as since ${new Date(T0 - 60_000).toISOString()}`);
    expect(by("quorum")[1]!.text).toBe("quorate: two-node: alone after the peer was seen");
    expect(by("dc")[0]!.text).toBe("this node is the DC (was alpha)");
    expect(by("resource-start").map((x) => [x.text, x.duration_ms])).toEqual([
      ["started vip: added 198.18.7.50/24 on eth0, lifetime 3s; announced (1 of 5)", 4],
      ["started director: active on the nftables dataplane", 9],
    ]);
    expect(by("address")[0]!.text).toBe("vip announced on the link");
    expect(by("director")[0]).toMatchObject({ text: "the director is active: 0 dataplane changes", duration_ms: 3 });
  });

  test("link-down steps come after the peer is lost, not before it", () => {
    // The link went down at 400, before the loss: it is not kept (only late heartbeats are); one after the loss is.
    const s = feed([...TAKEOVER.slice(0, 7), [700, "heartbeat.link", { peer: "alpha", link: "hb", status: "down" }]]);
    expect(failovers(s)).toEqual([]);
    const started = feed([[800, "resources.action", { resource: "vip", action: "start", status: "ok", ms: 2 }]], s, 100);
    const kinds = failovers(started)[0]!.steps.map((x) => x.kind);
    expect(kinds).toEqual(["peer-silent", "heartbeat-late", "peer-dead", "quorum", "quorum", "dc", "link-down", "resource-start"]);
  });

  test("closes SETTLE_MS after its last resource action, ended at its last step, and stays the newest", () => {
    let s = feed(TAKEOVER);
    s = tick(s, 540 + SETTLE_MS - 1);
    expect(failovers(s)[0]!.ended).toBeNull();
    s = tick(s, 540 + SETTLE_MS);
    expect(s.open).toBeNull();
    const [f] = failovers(s);
    expect(f!.ended).toBe(T0 + 545);
    // A resource started later, with no peer lost, is no takeover.
    s = feed([[20_000, "resources.action", { resource: "vip", action: "start", status: "ok", ms: 2 }]], s, 50);
    expect(failovers(s).length).toBe(1);
  });

  test("a failed start is a step that says so", () => {
    const s = feed([...TAKEOVER.slice(0, 7), [530, "resources.action", { resource: "vip", action: "start", status: "failed", ms: 1000, message: "no such device" }]]);
    // A failed start is no takeover yet: nothing started here.
    expect(failovers(s)).toEqual([]);
    const then = feed([[600, "resources.action", { resource: "vip", action: "stop", status: "ok", ms: 2 }], [700, "resources.action", { resource: "vip", action: "start", status: "ok", ms: 3 }]], s, 20);
    expect(failovers(then)[0]!.steps.slice(-3).map((x) => x.text)).toEqual(["start failed (failed) vip: no such device", "stopped vip", "started vip"]);
  });
});

describe("the first client served (the proxy's proxy.served)", () => {
  const served = (client: string, servedAt: number): Record<string, unknown> => ({ frontend: "www", backend: "web", server: "web/198.18.7.101:80", client, status: 200, servedAt });
  const PROXY_START: [number, string, Record<string, unknown>] = [550, "resources.action", { resource: "proxy", action: "start", status: "ok", ms: 20, message: "1 workers listen" }];

  test("is the takeover's last step, at the worker's time, timed from the peer declared dead; once a takeover", () => {
    const s = feed([...TAKEOVER, PROXY_START, [702, "proxy.served", served("198.18.7.100:40000", T0 + 700)], [900, "proxy.served", served("198.18.7.100:40001", T0 + 900)]]);
    const f = failovers(s)[0]!;
    const last = f.steps.at(-1)!;
    expect(f.steps.filter((x) => x.kind === "client-served")).toEqual([last]);
    expect(last).toEqual({
      at: T0 + 700,
      kind: "client-served",
      text: "first client served: 198.18.7.100:40000 answered 200 by web/198.18.7.101:80 through the proxy's frontend www, 190 ms after alpha was declared dead",
      duration_ms: 190,
    });
    // Not an action: the takeover still settles SETTLE_MS after the proxy's start.
    expect(failovers(tick(s, 550 + SETTLE_MS))[0]!.ended).toBe(T0 + 700);
  });

  test("is no step before this node took anything over, nor without a takeover, nor after it settled", () => {
    const before = feed([...TAKEOVER.slice(0, 7), [520, "proxy.served", served("198.18.7.100:40000", T0 + 520)], ...TAKEOVER.slice(7)]);
    expect(failovers(before)[0]!.steps.map((x) => x.kind)).not.toContain("client-served");
    expect(failovers(feed([[100, "proxy.served", served("198.18.7.100:40000", T0 + 100)]]))).toEqual([]);
    const settled = tick(feed([...TAKEOVER, PROXY_START]), 550 + SETTLE_MS);
    const late = feed([[600 + SETTLE_MS, "proxy.served", served("198.18.7.100:40000", T0 + 600 + SETTLE_MS)]], settled, 50);
    expect(failovers(late)[0]!.steps.map((x) => x.kind)).not.toContain("client-served");
  });
});

describe("what is no takeover", () => {
  test("a peer lost while this node starts nothing is forgotten after ABANDON_MS", () => {
    let s = feed([[510, "heartbeat.peer", { peer: "alpha", status: "down", reason: "silent", silentMs: 510 }]]);
    expect(failovers(s)).toEqual([]);
    expect(s.open).not.toBeNull();
    s = tick(s, 510 + ABANDON_MS);
    expect(s.open).toBeNull();
    s = feed([[ABANDON_MS + 1000, "resources.action", { resource: "vip", action: "start", status: "ok", ms: 2 }]], s, 10);
    expect(failovers(s)).toEqual([]);
  });

  test("a peer never heard since this node started (initdead) was not lost: the start alone is no takeover", () => {
    const s = feed([
      [1000, "heartbeat.peer", { peer: "alpha", status: "down", reason: "never heard (initdead)" }],
      [1010, "resources.action", { resource: "vip", action: "start", status: "ok", ms: 2 }],
    ]);
    expect(failovers(s)).toEqual([]);
    expect(s.open).toBeNull();
  });

  test("late heartbeats of a peer heard again are not part of a later takeover", () => {
    const s = feed([
      [100, "heartbeat.late", { peer: "alpha", silentMs: 260 }],
      [200, "heartbeat.peer", { peer: "alpha", status: "up", was: "up" }],
      [5000, "heartbeat.peer", { peer: "alpha", status: "leaving", reason: "goodbye" }],
      [5010, "resources.action", { resource: "vip", action: "start", status: "ok", ms: 2 }],
    ]);
    const f = failovers(s)[0]!;
    expect(f.steps.map((x) => x.kind)).toEqual(["peer-dead", "resource-start"]);
    expect(f.steps[0]!.text).toBe("alpha said goodbye (it is stopping)");
  });
});

describe("bounds", () => {
  test(`at most ${MAX_FAILOVERS} takeovers, newest first`, () => {
    let s = initialRecorder();
    for (let i = 0; i < MAX_FAILOVERS + 5; i++) {
      const at = i * 100_000;
      s = feed(
        [
          [at, "heartbeat.peer", { peer: "alpha", status: "down", reason: "silent", silentMs: 500 }],
          [at + 10, "resources.action", { resource: "vip", action: "start", status: "ok", ms: 2 }],
        ],
        s,
        i * 10 + 1,
      );
    }
    s = tick(s, 10_000_000);
    const all = failovers(s);
    expect(all.length).toBe(MAX_FAILOVERS);
    expect(all[0]!.started).toBeGreaterThan(all[1]!.started);
    expect(all[0]!.id).toBe(`bravo-${(MAX_FAILOVERS + 4) * 10 + 1}`);
  });

  test(`at most ${MAX_STEPS} steps in one takeover, the others counted`, () => {
    const flaps = Array.from({ length: MAX_STEPS + 10 }, (_, i): [number, string, Record<string, unknown>] => [600 + i, "resources.action", { resource: "dummy", action: i % 2 ? "stop" : "start", status: "ok", ms: 1 }]);
    const f = failovers(feed([...TAKEOVER, ...flaps]))[0]!;
    expect(f.steps.length).toBe(MAX_STEPS);
    // The takeover's own 10 steps and MAX_STEPS + 10 flaps: 20 past the bound.
    expect(f.dropped).toBe(20);
  });
});
