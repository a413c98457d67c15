import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { Balancer, Server } from "../../../../modules/proxy/balance/balancer.ts";
import { hash32 } from "../../../../modules/proxy/balance/hash.ts";
import { backend, balancer, counts, index, request, sequence, state } from "./helpers.ts";

const KEYS = Array.from({ length: 4000 }, (_, i) => `198.19.${i >> 8}.${i & 255}`);

/** Where each client address goes (source hash), each request released at once. */
function mapping(b: Balancer<number>, keys = KEYS): number[] {
  return sequence(b, keys.length, (i) => request({ source: keys[i]! }));
}

describe("hash32", () => {
  test("hashes a range of a string as the slice", () => {
    expect(hash32("/a/b?x=1", 0, 4)).toBe(hash32("/a/b"));
    expect(hash32("a")).not.toBe(hash32("b"));
  });
});

describe("the keys", () => {
  test("source: one client, one server", () => {
    const { b } = balancer(backend([{}, {}, {}, {}], { balance: "source" }));
    const first = mapping(b);
    expect(mapping(b)).toEqual(first);
    expect(new Set(first).size).toBe(4);
  });

  test("uri: the path without its query", () => {
    const { b } = balancer(backend([{}, {}, {}, {}, {}], { balance: "uri" }));
    const paths = Array.from({ length: 200 }, (_, i) => `/static/${i}.png`);
    const plain = sequence(b, 200, (i) => request({ uri: paths[i] }));
    expect(sequence(b, 200, (i) => request({ uri: `${paths[i]}?v=${i * 7}` }))).toEqual(plain);
    expect(new Set(plain).size).toBe(5);
  });

  test("url_param: the parameter's value wherever it stands; missing or empty: round robin", () => {
    const { b } = balancer(backend([{}, {}, {}], { balance: "url_param", hash_key: "user" }));
    const users = Array.from({ length: 100 }, (_, i) => `u${i}`);
    const alone = sequence(b, 100, (i) => request({ uri: `/cart?user=${users[i]}` }));
    expect(sequence(b, 100, (i) => request({ uri: `/cart?a=1&user=${users[i]}&b=2` }))).toEqual(alone);
    expect(sequence(b, 100, (i) => request({ uri: `/cart?username=x&user=${users[i]}` }))).toEqual(alone);
    expect(sequence(b, 6, () => request({ uri: "/cart?other=1" }))).toEqual([0, 1, 2, 0, 1, 2]);
    expect(sequence(b, 3, () => request({ uri: "/cart?user=" }))).toEqual([0, 1, 2]);
    expect(sequence(b, 3, () => request({ uri: "/cart" }))).toEqual([0, 1, 2]);
  });

  test("hdr: the header's value (the name in any case); absent: round robin", () => {
    const { b } = balancer(backend([{}, {}, {}], { balance: "hdr", hash_key: "X-Tenant" }));
    const headers = (v: string | undefined) => (name: string) => (name === "x-tenant" ? v : undefined);
    const tenants = sequence(b, 100, (i) => request({ header: headers(`t${i}`) }));
    expect(sequence(b, 100, (i) => request({ header: headers(`t${i}`) }))).toEqual(tenants);
    expect(new Set(tenants).size).toBe(3);
    expect(sequence(b, 3, () => request({ header: headers(undefined) }))).toEqual([0, 1, 2]);
  });
});

describe("consistent hashing", () => {
  test("keys spread in proportion to weight", () => {
    const keys = Array.from({ length: 40_000 }, (_, i) => `c${i}`);
    const { b } = balancer(backend([{ weight: 1 }, { weight: 2 }, { weight: 1 }, { weight: 4 }], { balance: "source" }));
    const share = counts(mapping(b, keys), 4).map((c) => c / keys.length);
    [1 / 8, 2 / 8, 1 / 8, 4 / 8].forEach((want, i) => expect(Math.abs(share[i]! - want) / want).toBeLessThan(0.2));
  });

  test("a server down moves only its own keys, about 1/N of them; back up, every key returns (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.nat(), (n, pick) => {
        const gone = pick % n;
        const { b } = balancer(backend(Array.from({ length: n }, () => ({})), { balance: "source" }));
        const before = mapping(b);
        b.setStates([state(gone, { up: false })]);
        const during = mapping(b);
        const moved = before.filter((s, i) => s !== during[i]);
        expect(moved.every((s) => s === gone)).toBe(true);
        expect(during.includes(gone)).toBe(false);
        // the share of each of n servers with 200 points lies within about 25% of 1/n
        expect(Math.abs(moved.length / KEYS.length - 1 / n)).toBeLessThan(0.3 / n);
        b.setStates([state(gone)]);
        expect(mapping(b)).toEqual(before);
      }),
      { numRuns: 30, seed: 5 },
    );
  });

  test("a server added to the config takes about 1/(N+1) of the keys, all from the others; removed, they return", () => {
    const specs = Array.from({ length: 5 }, () => ({}));
    const { b } = balancer(backend(specs, { balance: "source" }));
    const before = mapping(b);
    b.configure(backend([...specs, {}], { balance: "source" }));
    const after = mapping(b);
    const moved = before.filter((s, i) => s !== after[i]).length;
    expect(before.every((s, i) => after[i] === s || after[i] === 5)).toBe(true);
    expect(Math.abs(moved / KEYS.length - 1 / 6)).toBeLessThan(0.3 / 6);
    b.configure(backend(specs, { balance: "source" }));
    expect(mapping(b)).toEqual(before);
  });

  test("a weight changed at runtime moves keys only to or from that server", () => {
    const { b } = balancer(backend([{}, {}, {}, {}], { balance: "source" }));
    const before = mapping(b);
    b.setStates([state(1, { weight: 3 })]);
    const after = mapping(b);
    expect(before.every((s, i) => after[i] === s || after[i] === 1)).toBe(true);
    expect(counts(after, 4)[1]! / KEYS.length).toBeGreaterThan(0.4);
  });

  test("a full server keeps its keys: the request waits for it; excluded, the next on the ring takes it", () => {
    const { b } = balancer(backend([{ maxconn: 1 }, {}, {}], { balance: "source" }));
    const key = KEYS[mapping(b).indexOf(0)]!;
    const held = b.pick(request({ source: key })) as Server;
    expect(index(held)).toBe(0);
    expect(b.pick(request({ handle: 7, source: key }))).toBe("queued");
    const other = b.pick(request({ source: key, exclude: [held] })) as Server;
    expect(index(other)).not.toBe(0);
  });
});
