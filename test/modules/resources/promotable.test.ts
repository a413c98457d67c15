/**
 * Promotable clones in the coordinator engine (modules/resources/engine.ts),
 * driven by hand as engine.test.ts drives groups: the promote and demote
 * actions travel in transitions, monitors and probes read the role (OCF 8),
 * agents' promotion scores travel in reports, a failed promote is not tried
 * again on that node, and a promotion with the peer unknown waits for its
 * fence.
 */
import { describe, expect, test } from "bun:test";
import { holdsExclusive, type Report } from "../../../modules/resources/engine.ts";
import { decodeMessage, encodeMessage } from "../../../modules/resources/wire.ts";
import { MINUS_INFINITY, type ClusterConfig } from "../../../modules/resources/model.ts";
import { Harness, RESEND_MS, config, group, resource } from "./coord-harness.ts";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { DEFAULT_OCF_ROOT, OcfAgent } from "../../../modules/resources/agents/ocf.ts";
import { tempDir } from "../../helpers.ts";

/** ms: a promotable clone of vol (promoted_max 1); svc (fs, ip) with its promoted instance and after its promotion. */
function volumeConfig(fencing = false): ClusterConfig {
  return {
    ...config([resource("vol", { exclusive: false }), resource("fs"), resource("ip")], [group("ms", ["vol"], { clone: { max: null, interleave: false, promotable: { promotedMax: 1 } } }), group("svc", ["fs", "ip"])], fencing),
    colocations: [{ group: "svc", withGroup: "ms", score: 1_000_000, withRole: "promoted" }],
    orders: [{ first: "ms", then: "svc", firstAction: "promote" }],
  };
}

/** A pair running the volume: both instances started, alpha promoted, svc on alpha. */
function primaryOnAlpha(fencing = false) {
  const h = new Harness(["alpha", "bravo"], volumeConfig(fencing));
  h.start();
  const active = new Map<string, Set<string>>();
  const promoted = new Set<string>();
  h.settle(active, promoted);
  expect([...promoted]).toEqual(["alpha vol"]);
  expect([...active.get("alpha")!].sort()).toEqual(["fs", "ip", "vol"]);
  expect([...active.get("bravo")!]).toEqual(["vol"]);
  return { h, active, promoted };
}

const lastReport = (h: Harness, name: string): Report =>
  h.node(name).of("send").flatMap((e) => (e.message.type === "report" ? [e.message] : [])).at(-1)!;

describe("coordinator engine: promotable clones", () => {
  test("start: both instances start unpromoted, alpha's is promoted after its start, and svc starts there after the promote", () => {
    const { h } = primaryOnAlpha();
    expect(h.node("alpha").ran()).toEqual(["probe vol", "probe fs", "probe ip", "start vol", "promote vol", "start fs", "start ip"]);
    expect(h.node("bravo").ran()).toEqual(["probe vol", "probe fs", "probe ip", "start vol"]);
    expect(h.node("alpha").state.states).toEqual({ vol: "promoted", fs: "started", ip: "started" });
    expect(h.node("bravo").state.states.vol).toBe("started");
    expect(holdsExclusive(h.node("alpha").state)).toBe(true);
    expect(holdsExclusive(h.node("bravo").state)).toBe(false);
  });

  test("a monitor reads the role: promoted (OCF 8) stays promoted, ok is unpromoted, and the DC promotes it again", () => {
    const { h } = primaryOnAlpha();
    h.advance(10_000);
    h.complete("alpha", "vol", "promoted", "monitor");
    expect(h.node("alpha").state.states.vol).toBe("promoted");
    h.advance(10_000);
    h.complete("alpha", "vol", "ok", "monitor");
    expect(h.node("alpha").state.states.vol).toBe("started");
    h.deliver();
    expect(h.node("alpha").runningOf("vol", "promote")).toBeDefined();
  });

  test("a promotion score reported with a monitor travels in the report and on the wire; -INFINITY moves the primary (and svc with it) to bravo", () => {
    const { h } = primaryOnAlpha();
    h.advance(10_000);
    for (const r of ["fs", "ip"]) h.complete("alpha", r);
    h.complete("alpha", "vol", "promoted", "monitor", MINUS_INFINITY);
    const report = lastReport(h, "alpha");
    expect(report.promotion).toEqual({ vol: MINUS_INFINITY });
    expect(decodeMessage(encodeMessage(report))).toEqual(report);
    const active = new Map([["alpha", new Set(["vol", "fs", "ip"])], ["bravo", new Set(["vol"])]]);
    const promoted = new Set(["alpha vol"]);
    h.settle(active, promoted);
    expect([...promoted]).toEqual(["bravo vol"]);
    expect(h.node("alpha").ran().slice(-3)).toEqual(["stop ip", "stop fs", "demote vol"]);
    expect(h.node("bravo").ran().slice(-3)).toEqual(["promote vol", "start fs", "start ip"]);
  });

  test("a failed promote leaves the instance unpromoted and counted; that node is not promoted again, the other is", () => {
    const h = new Harness(["alpha", "bravo"], volumeConfig());
    h.start();
    h.deliver();
    for (const n of ["alpha", "bravo"]) for (const r of ["vol", "fs", "ip"]) h.complete(n, r, "not-running");
    h.deliver();
    // alpha's own start went first: bravo had reported again (its other probes) before the transition reached it.
    h.complete("alpha", "vol");
    h.deliver();
    h.complete("bravo", "vol");
    h.deliver();
    h.complete("alpha", "vol", "failed", "promote");
    expect(h.node("alpha").state.states.vol).toBe("started");
    expect(h.node("alpha").state.failures).toEqual([expect.objectContaining({ resource: "vol", op: "promote", promoteFailed: true, count: 1 })]);
    const active = new Map([["alpha", new Set(["vol"])], ["bravo", new Set(["vol"])]]);
    const promoted = new Set<string>();
    h.settle(active, promoted);
    expect([...promoted]).toEqual(["bravo vol"]);
    expect(h.node("bravo").ran().slice(-2)).toEqual(["start fs", "start ip"]);
  });

  test("two-node quorum with fencing: the primary lost, bravo fences it before it promotes (the peer's state is unknown)", () => {
    const { h } = primaryOnAlpha(true);
    h.setQuorum("bravo", true, true);
    h.see("bravo", "alpha", "down");
    expect(h.node("bravo").of("fence").map((f) => f.node)).toEqual(["alpha"]);
    expect(h.node("bravo").runningOf("vol", "promote")).toBeUndefined();
    h.feed("bravo", { type: "fenced", node: "alpha", ok: true, message: "" });
    expect(h.node("bravo").runningOf("vol", "promote")).toBeDefined();
  });

  test("a failed fence: no promotion, whatever the time; the retry's success lets it go on", () => {
    const { h } = primaryOnAlpha(true);
    h.setQuorum("bravo", true, true);
    h.see("bravo", "alpha", "down");
    h.feed("bravo", { type: "fenced", node: "alpha", ok: false, message: "" });
    h.advance(RESEND_MS);
    expect(h.node("bravo").runningOf("vol", "promote")).toBeUndefined();
  });

  test("without quorum the primary stops svc, then demotes, and keeps its instance running unpromoted", () => {
    const { h } = primaryOnAlpha();
    h.setQuorum("alpha", false);
    expect(h.node("alpha").runningOf("ip", "stop")).toBeDefined();
    h.complete("alpha", "ip", "ok", "stop");
    h.complete("alpha", "fs", "ok", "stop");
    h.complete("alpha", "vol", "ok", "demote");
    expect(h.node("alpha").state.states).toEqual({ vol: "started", fs: "stopped", ip: "stopped" });
    expect(h.node("alpha").running.size).toBe(0);
  });

  test("a resource that is not a promotable clone's answering promoted (OCF 8) is a failed monitor, as in Pacemaker", () => {
    const h = new Harness(["alpha", "bravo"], config([resource("db")], [group("db", ["db"], { preferredNode: "alpha" })]));
    h.start();
    h.settle(new Map());
    expect(h.node("alpha").state.states.db).toBe("started");
    h.advance(10_000);
    h.complete("alpha", "db", "promoted", "monitor");
    expect(h.node("alpha").state.states.db).toBe("failed-monitor");
  });

  test("a clean stop of the primary: svc stops, the volume is demoted before its stop, and bravo is promoted", () => {
    const { h, active, promoted } = primaryOnAlpha();
    h.feed("alpha", { type: "stop" });
    h.settle(active, promoted);
    expect(h.node("alpha").ran().slice(-4)).toEqual(["stop ip", "stop fs", "demote vol", "stop vol"]);
    expect(h.node("alpha").state.phase).toBe("stopped");
    expect([...promoted]).toEqual(["bravo vol"]);
  });
});

const STATEFUL = join(DEFAULT_OCF_ROOT, "resource.d", "heartbeat", "Stateful");

describe.skipIf(!existsSync(STATEFUL))("a real promotable agent: Debian's ocf:heartbeat:Stateful", () => {
  test("a pair of engines runs it: both instances start, one is promoted (its monitor exits 8), its scores reach the engines, svc follows; a demote and a promote move the role", async () => {
    const tmp = tempDir("stateful");
    try {
      const h = new Harness(["alpha", "bravo"], volumeConfig());
      // Each node's Stateful instance keeps its role in a state file of its own; fs and ip are taken as the harness's.
      const agents = new Map(["alpha", "bravo"].map((n) => [n, new OcfAgent({ provider: "heartbeat", type: "Stateful", instance: `vol-${n}`, params: { state: join(tmp.dir, `${n}.state`) } })] as const));
      const others = new Map<string, Set<string>>([["alpha", new Set()], ["bravo", new Set()]]);
      const exits: string[] = [];
      /** Deliver, and run every operation but recurring monitors until none is left: vol's by the real agent. */
      const settle = async () => {
        for (let i = 0; i < 200; i++) {
          h.deliver();
          const next = [...h.nodes.values()].flatMap((n) => [...n.running.values()].filter((r) => r.action !== "monitor").map((r) => [n.name, r] as const))[0];
          if (!next) return;
          const [name, run] = next;
          if (run.resource === "vol") {
            const r = await agents.get(name)!.run(run.action, { timeoutMs: 20_000 });
            exits.push(`${name} ${run.action} ${r.exitCode}`);
            h.complete(name, "vol", r.status, run.action, r.promotionScore);
            continue;
          }
          const here = others.get(name)!;
          if (run.action === "start") here.add(run.resource);
          if (run.action === "stop") here.delete(run.resource);
          h.complete(name, run.resource, run.action === "probe" && !here.has(run.resource) ? "not-running" : "ok", run.action);
        }
        throw new Error("never settles");
      };
      h.start();
      await settle();
      expect(exits).toEqual(expect.arrayContaining(["alpha probe 7", "bravo probe 7", "alpha start 0", "bravo start 0", "alpha promote 0"]));
      expect(exits.filter((e) => e.includes("promote"))).toEqual(["alpha promote 0"]);
      expect((await agents.get("alpha")!.run("monitor", { timeoutMs: 20_000, intervalMs: 10_000 })).exitCode).toBe(8);
      expect((await agents.get("bravo")!.run("monitor", { timeoutMs: 20_000, intervalMs: 10_000 })).exitCode).toBe(0);
      expect(h.node("alpha").state.states).toEqual({ vol: "promoted", fs: "started", ip: "started" });
      // Its promotion scores (ocf_promotion_score, through Tandem's crm_master): 10 promoted, 5 unpromoted.
      expect([h.node("alpha").state.promotion.vol, h.node("bravo").state.promotion.vol]).toEqual([10, 5]);

      // alpha to standby: svc stops there, alpha's instance is demoted and stopped, bravo's promoted, svc starts on bravo.
      h.feed("bravo", { type: "admin", command: { op: "standby", node: "alpha" } });
      await settle();
      expect(exits.slice(-3)).toEqual(["alpha demote 0", "alpha stop 0", "bravo promote 0"]);
      expect((await agents.get("bravo")!.run("monitor", { timeoutMs: 20_000, intervalMs: 10_000 })).exitCode).toBe(8);
      expect((await agents.get("alpha")!.run("probe", { timeoutMs: 20_000 })).exitCode).toBe(7);
      expect([...others.get("bravo")!].sort()).toEqual(["fs", "ip"]);
      // A stopped Stateful deletes its score: never promoted there until it runs again.
      expect([h.node("alpha").state.promotion.vol, h.node("bravo").state.promotion.vol]).toEqual([-1_000_000, 10]);
    } finally {
      tmp.cleanup();
    }
  }, 60_000);
});
