/**
 * Stick entries between the nodes of a pair, two proxies in this process on
 * a joined cluster bus: what a worker of the active node learns reaches the
 * standby (held while its listeners do not run) and the workers it starts
 * when the resource moves there, so a client keeps its server across the
 * failover; and the replica's rules (newest wins, bounds, expiry, what is
 * passed on) and its bus messages, pure.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Services } from "../../../../core/cluster.ts";
import type { StickEntry } from "../../../../modules/proxy/messages.ts";
import { STICK_FLUSH_MS } from "../../../../modules/proxy/service.ts";
import { decodeStick, encodeStick, mergeStick, pruneStick, stickEntries, type StickLimits, type StickReplica } from "../../../../modules/proxy/peers.ts";
import { freePort, waitFor } from "../../../helpers.ts";
import { Doubles } from "./double.ts";
import { busPair, Node, proxyConfig, sections } from "./harness.ts";

const doubles = new Doubles();
afterAll(() => doubles.close());

const MANAGED = `[resources]
[[resources.resource]]
name = "lb"
agent = "proxy"
`;

describe("stick entries over the cluster bus", () => {
  test("the active node's entries reach the standby, split into messages that fit the bus; the workers the standby starts at failover get them, newest first-hand entries winning", async () => {
    const cfg = proxyConfig(sections({ apiPort: await freePort(), extra: MANAGED }), ["alpha", "bravo"]);
    const [alphaBus, bravoBus] = busPair(["alpha", "bravo"], 600);
    const nodes = (["alpha", "bravo"] as const).map((name, i) => {
      const services = new Services();
      services.provide("cluster", i === 0 ? alphaBus : bravoBus);
      return new Node(name, cfg, { services });
    });
    const [alpha, bravo] = nodes as [Node, Node];
    const before = new Set(doubles.received.keys());
    await alpha.start(cfg);
    await bravo.start(cfg);
    try {
      expect((await alpha.services.agent("proxy")!.run("start", { timeoutMs: 5000 })).status).toBe("ok");
      const alphaThreads = doubles.threads("configure").filter((t) => !before.has(t));
      expect(alphaThreads.length).toBe(2);
      const now = Date.now();
      const entries: StickEntry[] = Array.from({ length: 40 }, (_, i) => ({ backend: "web", key: `198.18.9.${i}`, server: i % 2 ? "web/127.0.0.1:8080" : "web/[::1]:8081", seenAt: now - i }));
      doubles.order({ thread: alphaThreads[0]!, type: "say", message: { type: "stick", entries } });
      await waitFor("the standby holds them", () => ((bravo.proxy.status().backends as Array<{ stick: number }>)[0]!.stick === 40 ? true : undefined), 10 * STICK_FLUSH_MS);
      expect((alphaBus as unknown as { sent: number }).sent).toBeGreaterThan(1);

      // The failover: alpha's listeners stop, bravo's start with what it learned.
      expect((await alpha.services.agent("proxy")!.run("stop", { timeoutMs: 5000 })).status).toBe("ok");
      const seen = new Set(doubles.received.keys());
      expect((await bravo.services.agent("proxy")!.run("start", { timeoutMs: 5000 })).status).toBe("ok");
      const bravoThreads = doubles.threads("configure").filter((t) => !seen.has(t));
      expect(bravoThreads.length).toBe(2);
      await waitFor("bravo's workers have the entries", () => (bravoThreads.every((t) => doubles.of(t, "stick").flatMap((m) => m.entries).length === 40) ? true : undefined), 2000);
      const got = doubles.of(bravoThreads[1]!, "stick").flatMap((m) => m.entries);
      expect(new Map(got.map((e) => [e.key, e.server]))).toEqual(new Map(entries.map((e) => [e.key, e.server])));

      // An older entry from the peer does not replace a newer one; a newer one does, and reaches the workers.
      const relayed = () => bravoThreads.map((t) => doubles.of(t, "stick").flatMap((m) => m.entries).filter((e) => e.key === "198.18.9.1"));
      alphaBus.send(2, encodeStick([{ ...entries[1]!, server: "web/[::1]:8081", seenAt: now - 1000 }], 600, 1).messages[0]!);
      alphaBus.send(2, encodeStick([{ ...entries[1]!, server: "web/[::1]:8081", seenAt: now + 5 }], 600, 1).messages[0]!);
      await waitFor("the newer one relayed", () => (relayed().every((l) => l.length === 2) ? true : undefined), 2000);
      expect(relayed().map((l) => l.map((e) => e.server))).toEqual([0, 1].map(() => ["web/127.0.0.1:8080", "web/[::1]:8081"]));
      // Not JSON, or not stick entries: dropped.
      alphaBus.send(2, new TextEncoder().encode("{nope"));
      alphaBus.send(2, new TextEncoder().encode('{"stick":[["web",1,2,3]]}'));
      await Bun.sleep(50);
      expect((bravo.proxy.status().backends as Array<{ stick: number }>)[0]!.stick).toBe(40);
    } finally {
      await alpha.stop();
      await bravo.stop();
    }
  });
});

describe("the stick replica", () => {
  const limits = new Map<string, StickLimits>([["web", { size: 3, expireMs: 1000 }]]);
  const e = (key: string, server: string, seenAt: number): StickEntry => ({ backend: "web", key, server, seenAt });

  test("newest wins; an unknown backend or an expired entry is dropped; the least recently merged goes past the size", () => {
    const r: StickReplica = new Map();
    expect(mergeStick(r, limits, [e("a", "s1", 5000), e("b", "s1", 5000), { ...e("x", "s1", 5000), backend: "gone" }, e("old", "s1", 3999)], 5000, false)).toEqual([e("a", "s1", 5000), e("b", "s1", 5000)]);
    expect(mergeStick(r, limits, [e("a", "s2", 4990)], 5000, false)).toEqual([]);
    expect(mergeStick(r, limits, [e("c", "s1", 5001), e("d", "s1", 5002)], 5002, false).length).toBe(2);
    expect(stickEntries(r).map((x) => x.key)).toEqual(["b", "c", "d"]);
    pruneStick(r, limits, 6000.5);
    expect(stickEntries(r).map((x) => x.key)).toEqual(["c", "d"]);
    pruneStick(r, new Map(), 6000);
    expect(stickEntries(r)).toEqual([]);
  });

  test("passed on when new, moved to another server, or used again a quarter of its expiry after it was last passed on; a peer's entry counts as passed on", () => {
    const r: StickReplica = new Map();
    expect(mergeStick(r, limits, [e("a", "s1", 1000)], 1000, false).length).toBe(1);
    expect(mergeStick(r, limits, [e("a", "s1", 1100)], 1100, false)).toEqual([]);
    expect(mergeStick(r, limits, [e("a", "s1", 1250)], 1250, false)).toEqual([e("a", "s1", 1250)]);
    expect(mergeStick(r, limits, [e("a", "s2", 1251)], 1251, false)).toEqual([e("a", "s2", 1251)]);
    expect(mergeStick(r, limits, [e("a", "s2", 1600)], 1600, true)).toEqual([e("a", "s2", 1600)]);
    expect(mergeStick(r, limits, [e("a", "s2", 1700)], 1700, false)).toEqual([]);
  });

  test("bus messages: each at most the bus's bytes, at most as many as asked (the rest wait), and read back; junk is refused", () => {
    const entries = Array.from({ length: 100 }, (_, i) => e(`198.18.0.${i}`, "web/127.0.0.1:8080", 1_700_000_000_000 + i));
    const { messages, taken } = encodeStick(entries, 500, 3);
    expect(messages.length).toBe(3);
    for (const m of messages) expect(m.length).toBeLessThanOrEqual(500);
    const back = messages.flatMap((m) => decodeStick(m)!);
    expect(back).toEqual(entries.slice(0, taken));
    expect(taken).toBeLessThan(100);
    const all = encodeStick(entries, 500, 100);
    expect(all.taken).toBe(100);
    expect(all.messages.flatMap((m) => decodeStick(m)!)).toEqual(entries);
    // One entry too large for any message is dropped, the others go.
    const huge = encodeStick([e("k".repeat(600), "s", 1), e("small", "s", 2)], 500, 5);
    expect(huge.taken).toBe(2);
    expect(huge.messages.flatMap((m) => decodeStick(m)!)).toEqual([e("small", "s", 2)]);
    for (const junk of ["", "[]", '{"stick":{}}', '{"stick":[["bad name!","k","s",1]]}', '{"stick":[["web","k","s",-1]]}', '{"stick":[],"more":1}']) expect(decodeStick(new TextEncoder().encode(junk))).toBeNull();
  });
});
