import { describe, expect, test } from "bun:test";
import type { Server } from "../../../../modules/proxy/balance/balancer.ts";
import { STICK_REFRESH_SHARE, StickTable } from "../../../../modules/proxy/balance/stick.ts";
import { backend, balancer, index, request, sequence, state } from "./helpers.ts";

const MIN = 60_000;
const entry = (key: string, server: string, seenAt: number) => ({ backend: "web", key, server, seenAt });

describe("StickTable", () => {
  test("an entry unused for the expiry is gone, from lookup and from expire", () => {
    const t = new StickTable(10 * MIN, 100);
    t.touch("a", "s1", 0);
    t.touch("b", "s2", 5 * MIN);
    expect(t.lookup("a", 10 * MIN - 1)).toBe("s1");
    expect(t.lookup("a", 10 * MIN)).toBeUndefined();
    expect(t.expire(14 * MIN)).toBe(0);
    expect(t.expire(15 * MIN)).toBe(1);
    expect(t.length).toBe(0);
  });

  test("at size the least recently used goes; a use makes an entry the most recent", () => {
    const t = new StickTable(10 * MIN, 3);
    t.touch("a", "s1", 1);
    t.touch("b", "s1", 2);
    t.touch("c", "s1", 3);
    t.touch("a", "s1", 4);
    t.touch("d", "s1", 5);
    expect(["a", "b", "c", "d"].map((k) => t.lookup(k, 6))).toEqual(["s1", undefined, "s1", "s1"]);
    expect(t.length).toBe(3);
  });

  test("merge: the newer use wins, an expired one is ignored, and merged entries are not sent on", () => {
    const t = new StickTable(10 * MIN, 100);
    t.touch("a", "s1", 100);
    t.changes("web", 10);
    t.merge([entry("a", "s2", 50), entry("b", "s2", 200), entry("c", "s3", 0)], 10 * MIN + 1);
    expect(t.lookup("a", 300)).toBe("s1");
    expect(t.lookup("b", 300)).toBe("s2");
    expect(t.lookup("c", 300)).toBeUndefined();
    t.merge([entry("a", "s3", 150)], 300);
    expect(t.lookup("a", 300)).toBe("s3");
    expect(t.changes("web", 10)).toEqual([]);
  });

  test("a merged newer entry replaces a local change not yet sent", () => {
    const t = new StickTable(10 * MIN, 100);
    t.touch("a", "s1", 100);
    t.merge([entry("a", "s2", 200)], 300);
    expect(t.changes("web", 10)).toEqual([]);
    expect(t.lookup("a", 300)).toBe("s2");
  });

  test("changes: bounded, one per key with its latest state, new and moved entries at once, refreshes only once the others' copy is old", () => {
    const t = new StickTable(8 * MIN, 100);
    for (let i = 0; i < 5; i++) t.touch(`k${i}`, "s1", 1000);
    t.touch("k0", "s2", 1001);
    expect(t.changes("web", 3)).toEqual([entry("k0", "s2", 1001), entry("k1", "s1", 1000), entry("k2", "s1", 1000)]);
    expect(t.changes("web", 3)).toEqual([entry("k3", "s1", 1000), entry("k4", "s1", 1000)]);
    const refresh = (8 * MIN) / STICK_REFRESH_SHARE;
    t.touch("k0", "s2", 1001 + refresh - 1);
    expect(t.changes("web", 3)).toEqual([]);
    t.touch("k0", "s2", 1001 + refresh);
    expect(t.changes("web", 3)).toEqual([entry("k0", "s2", 1001 + refresh)]);
    t.touch("k1", "s3", 2000);
    expect(t.changes("web", 3)).toEqual([entry("k1", "s3", 2000)]);
  });
});

describe("stick on source", () => {
  test("a client keeps its server across requests while roundrobin turns for the others", () => {
    const { b } = balancer(backend([{}, {}, {}], { stick_on_source: true }));
    const clients = ["198.19.0.1", "198.19.0.2", "198.19.0.3", "198.19.0.4"];
    const first = sequence(b, 4, (i) => request({ source: clients[i] }));
    expect(first).toEqual([0, 1, 2, 0]);
    expect(sequence(b, 8, (i) => request({ source: clients[i % 4] }))).toEqual([0, 1, 2, 0, 0, 1, 2, 0]);
    expect(b.stuck).toBe(4);
  });

  test("drain keeps stuck clients; down or maint moves them, and the entry follows", () => {
    const { b } = balancer(backend([{}, {}], { stick_on_source: true }));
    const c = request({ source: "198.19.0.9" });
    expect(sequence(b, 1, () => c)).toEqual([0]);
    b.setStates([state(0, { admin: "drain" })]);
    expect(sequence(b, 2, () => c)).toEqual([0, 0]);
    b.setStates([state(0, { up: false })]);
    expect(sequence(b, 1, () => c)).toEqual([1]);
    b.setStates([state(0)]);
    expect(sequence(b, 2, () => c)).toEqual([1, 1]);
    b.setStates([state(1, { admin: "maint" })]);
    expect(sequence(b, 1, () => c)).toEqual([0]);
  });

  test("entries from another worker or the peer send the client to their server; a retry leaves it", () => {
    const { b } = balancer(backend([{}, {}, {}], { stick_on_source: true }));
    b.mergeStick([entry("198.19.0.7", "198.18.0.3:80", 1000), { ...entry("198.19.0.8", "198.18.0.3:80", 1000), backend: "other" }], 2000);
    expect(b.stuck).toBe(1);
    const s = b.pick(request({ source: "198.19.0.7", now: 2000 })) as Server;
    expect(index(s)).toBe(2);
    const retry = b.pick(request({ source: "198.19.0.7", now: 2001, exclude: [s] })) as Server;
    expect(index(retry)).not.toBe(2);
    expect(b.stickChanges()).toEqual([entry("198.19.0.7", retry.key, 2001)]);
  });

  test("the stick table is bounded by stick_size and expires with stick_expire", () => {
    const { b } = balancer(backend([{}, {}], { stick_on_source: true, stick_size: 10, stick_expire: "1m" }));
    sequence(b, 25, (i) => request({ source: `198.19.1.${i}`, now: i }));
    expect(b.stuck).toBe(10);
    b.expire(MIN + 20);
    expect(b.stuck).toBe(4);
  });
});
